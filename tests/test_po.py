#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The German catalogue covers every string of anyd-client: extract the
# client's messages from the sources POTFILES.in lists (as `ninja anyd-pot`
# does, with glib's keywords), merge po/de.po against them, and require no
# untranslated or fuzzy entry and a clean `msgfmt -c`.  Runs without the
# sandbox; TAP.

import os
import shutil
import subprocess
import sys
import tempfile

src = os.environ.get('ANYD_SRCDIR') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = []


def case(name, ok, why=''):
    results.append((name, ok, why))


if not all(shutil.which(t) for t in ('xgettext', 'msgmerge', 'msgattrib', 'msgfmt')):
    print('1..0 # SKIP gettext tools are not installed')
    sys.exit(0)

with open(os.path.join(src, 'po', 'POTFILES.in')) as f:
    sources = [l.strip() for l in f if l.strip() and not l.startswith('#') and l.strip().startswith('client/')]
case('POTFILES.in lists client sources', len(sources) >= 5, sources)
missing = [s for s in sources if not os.path.exists(os.path.join(src, s))]
case('every listed client source exists', not missing, missing)
unlisted = sorted('client/' + n for n in os.listdir(os.path.join(src, 'client'))
                  if n.endswith('.c') and not n.startswith('test-') and 'client/' + n not in sources
                  and '_(' in open(os.path.join(src, 'client', n)).read())
case('every client source with _() is in POTFILES.in', not unlisted, unlisted)

with tempfile.TemporaryDirectory() as tmp:
    pot = os.path.join(tmp, 'client.pot')
    merged = os.path.join(tmp, 'de.po')
    p = subprocess.run(['xgettext', '--from-code=UTF-8', '--language=C', '--keyword=_', '--keyword=N_',
                        '--keyword=C_:1c,2', '--keyword=NC_:1c,2', '--keyword=g_dngettext:2,3',
                        '--add-comments', '-o', pot] + sources,
                       cwd=src, capture_output=True, text=True)
    case('xgettext extracts the client strings', p.returncode == 0 and os.path.exists(pot), p.stderr)
    p = subprocess.run(['msgmerge', '--quiet', '--no-fuzzy-matching', '-o', merged,
                        os.path.join(src, 'po', 'de.po'), pot], capture_output=True, text=True)
    case('po/de.po merges', p.returncode == 0, p.stderr)
    if p.returncode == 0:
        # only the client's messages (the policy strings come from elsewhere)
        client_only = os.path.join(tmp, 'client-de.po')
        subprocess.run(['msgcomm', '--more-than=1', '-o', client_only, merged, pot],
                       capture_output=True, text=True)
        todo = subprocess.run(['msgattrib', '--untranslated', '--no-obsolete', client_only],
                              capture_output=True, text=True).stdout
        fuzzy = subprocess.run(['msgattrib', '--only-fuzzy', '--no-obsolete', client_only],
                               capture_output=True, text=True).stdout
        n_todo = max(0, todo.count('\nmsgid ') - 1) if todo else 0
        case('no client string is untranslated in de.po', n_todo == 0, todo[-3000:])
        case('no client string is fuzzy in de.po', 'msgid' not in fuzzy.split('msgstr', 1)[-1], fuzzy[-2000:])
        stats = subprocess.run(['msgfmt', '-c', '--statistics', '-o', os.devnull, client_only],
                               capture_output=True, text=True)
        case('msgfmt -c accepts the client catalogue: ' + stats.stderr.strip(),
             stats.returncode == 0 and 'untranslated' not in stats.stderr, stats.stderr)
    p = subprocess.run(['msgfmt', '-c', '-o', os.devnull, os.path.join(src, 'po', 'de.po')],
                       capture_output=True, text=True)
    case('msgfmt -c accepts po/de.po', p.returncode == 0, p.stderr)

print('1..%d' % len(results))
for i, (name, ok, why) in enumerate(results, 1):
    print('%sok %d - %s' % ('' if ok else 'not ', i, name))
    if not ok:
        for line in str(why).splitlines()[:40]:
            print('# ' + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
