#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs bench/tun/tun-setup (argv[1], default build/bench/tun/tun-setup) as root
# inside the sandbox of tests/anydtest.py (private network namespace, bus,
# polkitd, anyd from the build tree) and prints its report as TAP comments.
# Extra arguments after the binary go to it (e.g. --count 100 --bulk 50).

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import case  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    anydtest.builddir(), 'bench', 'tun', 'tun-setup')
ARGS = sys.argv[2:]
# [limits]' defaults (64 devices per uid, 200 calls/s) would refuse the
# benchmark's caller before its 100 + 50 devices; it measures anyd, not them.
CONFIG = '''[limits]
max_resources_per_uid=6000
calls_per_second_per_uid=0
'''


@case('tun-setup benchmark')
def _(sb):
    r = subprocess.run([BIN] + ARGS, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=550)
    out = r.stdout.decode(errors='replace')
    for line in out.splitlines():
        print('# ' + line)
    assert r.returncode == 0, 'tun-setup exited with %d' % r.returncode


if __name__ == '__main__':
    anydtest.main(config=CONFIG)
