#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The repository stands on its own: a LICENSE with the license meson.build
# names, the SPDX line at the top of every C file, no file pointing at
# documents outside the repository, and the README's polkit rules example
# the same as the one shipped in 50-org.anyd1.rules.  No sandbox.

import os
import re
import subprocess
import sys

src = os.environ.get('ANYD_SRCDIR') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = []
SPDX = '/* SPDX-License-Identifier: LGPL-2.1-or-later */'


def case(name, ok, why=''):
    results.append((name, ok, why))


def files():
    p = subprocess.run(['git', '-C', src, 'ls-files', '--cached', '--others', '--exclude-standard'],
                       capture_output=True, text=True)
    if p.returncode == 0 and p.stdout.strip():
        return sorted(set(p.stdout.split('\n')) - {''})
    out = []
    for root, dirs, names in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(('.', 'build'))]
        out += [os.path.relpath(os.path.join(root, n), src) for n in names]
    return sorted(out)


def read(rel):
    try:
        with open(os.path.join(src, rel), encoding='utf-8', errors='replace') as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError):
        return ''


all_files = [f for f in files() if os.path.isfile(os.path.join(src, f))]

with open(os.path.join(src, 'meson.build')) as f:
    license = re.search(r"license:\s*'([^']+)'", f.read()).group(1)
lic = read('LICENSE')
case('LICENSE holds the license meson.build names (%s)' % license,
     license == 'LGPL-2.1-or-later' and 'GNU LESSER GENERAL PUBLIC LICENSE' in lic and 'Version 2.1' in lic,
     'LICENSE starts: %r' % lic[:120])

c_files = [f for f in all_files if f.endswith(('.c', '.h', '.c.in', '.h.in'))]
missing = [f for f in c_files if not read(f).startswith(SPDX + '\n')]
case('every C file (%d) starts with the SPDX line' % len(c_files), not missing, '\n'.join(missing))
twice = [f for f in c_files if read(f).count('SPDX-License-Identifier') != 1]
case('the SPDX line appears once per C file', not twice, '\n'.join(twice))

outside = re.compile(r'\.\./shared|\bDESIGN\.md|\bTESTBED\.md|\bSTYLE\.md')
pointing = []
for f in all_files:
    if f == 'tests/test_repo.py' or '/corpus/' in f:   # fuzz inputs: tests/<module>/corpus/
        continue
    for n, line in enumerate(read(f).splitlines(), 1):
        if outside.search(line):
            pointing.append('%s:%d: %s' % (f, n, line.strip()))
case('no file points at documents outside the repository', not pointing, '\n'.join(pointing))


def shipped_example():
    text = read('data/polkit-1/rules.d/50-org.anyd1.rules.in')
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith('// polkit.addRule('))
    body = []
    for l in lines[start:]:
        body.append(l[3:] if l.startswith('// ') else l[2:])
        if l.startswith('// });'):
            break
    return body


def readme_example():
    text = read('README.md')
    block = re.search(r'```js\n(.*?)```', text, re.S).group(1).splitlines()
    return [l for l in block if not l.startswith('//')]


ship, readme = shipped_example(), readme_example()
case('the README rules example is the one in 50-org.anyd1.rules', ship == readme,
     'shipped:\n%s\nREADME:\n%s' % ('\n'.join(ship), '\n'.join(readme)))
m = re.search(r'rules\.d/(\d+)-[\w-]+\.rules', read('README.md'))
case('the README\'s rules file sorts before 50-org.anyd1.rules', m is not None and int(m.group(1)) < 50,
     m.group(0) if m else 'no rules file name')

print('1..%d' % len(results))
for i, (name, ok, why) in enumerate(results, 1):
    print('%sok %d - %s' % ('' if ok else 'not ', i, name))
    if not ok:
        for line in str(why).splitlines()[:40]:
            print('# ' + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
