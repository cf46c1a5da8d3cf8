#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `meson install` into a DESTDIR produces the tree a distribution packages:
# compare the installed file list with tests/installed-files.txt and each
# module's tests/<module>/installed-files.txt (globs, one per line; every
# pattern must match at least one file and every file must be matched), and
# check modes of what must not be world-writable.

import fnmatch
import os
import subprocess
import sys
import tempfile

build = os.environ.get('ANYD_BUILDDIR') or sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
results = []


def case(name, ok, why=''):
    results.append((name, ok, why))


with tempfile.TemporaryDirectory(prefix='anyd-destdir-') as dest:
    p = subprocess.run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet',
                        '--destdir', dest], capture_output=True, text=True)
    case('meson install into a DESTDIR succeeds', p.returncode == 0, p.stderr[-2000:])
    files = []
    for root, dirs, names in os.walk(dest):
        for n in names + [d for d in dirs if not os.listdir(os.path.join(root, d))]:
            files.append('/' + os.path.relpath(os.path.join(root, n), dest))
    files.sort()
    with open(os.path.join(here, 'installed-files.txt')) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith('#')]
    # Derived from the module list (tests/meson.build passes it).
    patterns += ['*/share/dbus-1/interfaces/' + x
                 for x in os.environ.get('ANYD_INTERFACE_FILES', '').split(':') if x]
    modules = [m for m in os.environ.get('ANYD_MODULES', '').split(':') if m]
    patterns += ['*/share/polkit-1/actions/org.anyd1.%s.policy' % m for m in modules]
    # What a module installs besides: tests/<module>/installed-files.txt.
    for m in modules:
        extra = os.path.join(here, m, 'installed-files.txt')
        if os.path.exists(extra):
            with open(extra) as f:
                patterns += [l.strip() for l in f if l.strip() and not l.startswith('#')]
    unmatched_files = [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)]
    unused = [p for p in patterns if not any(fnmatch.fnmatch(f, p) for f in files)]
    case('every installed file is expected', not unmatched_files,
         'unexpected: %s' % unmatched_files)
    case('every expected file is installed', not unused, 'missing: %s' % unused)
    writable = [f for f in files
                if os.stat(dest + f).st_mode & 0o002 and not os.path.islink(dest + f)]
    case('nothing installed is world-writable', not writable, str(writable))
    daemon = [f for f in files if f.endswith('/libexec/anyd')]
    case('the daemon goes to libexecdir, not a bin directory', len(daemon) == 1, str(daemon))
    if p.returncode == 0 and '-v' in sys.argv:
        print('\n'.join('# ' + f for f in files))

print('1..%d' % len(results))
for i, (name, ok, why) in enumerate(results, 1):
    print('%sok %d - %s' % ('' if ok else 'not ', i, name))
    if not ok:
        for line in str(why).splitlines():
            print('# ' + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
