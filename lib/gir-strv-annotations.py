#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# gir-strv-annotations.py IN OUT: a copy of gdbus-codegen's C output for
# g-ir-scanner only.  The codegen documents an `as` argument (a
# `const gchar *const *` parameter, e.g. Exec.Run's argv) without
# (array zero-terminated=1), and the scanner then reads it as ONE string, so
# bindings (PyGObject, Vala) could not pass an argv.  The library itself is
# built from the unchanged file.

import re
import sys

src = open(sys.argv[1], encoding='utf-8').read()
# a doc block naming a function, then that function's definition
block = re.compile(r'/\*\*\n \* (\w+):\n(.*?)\*/\n([^{;]*?)\b\1 \(([^)]*)\)', re.S)


def annotate(m):
    doc = m.group(2)
    for name in re.findall(r'const gchar \*const \*(\w+)', m.group(4)):
        doc = re.sub(r'^( \* @%s:)(?! \(array)' % re.escape(name),
                     r'\1 (array zero-terminated=1):', doc, flags=re.M)
    return m.group(0).replace(m.group(2), doc, 1)


with open(sys.argv[2], 'w', encoding='utf-8') as f:
    f.write(block.sub(annotate, src))
