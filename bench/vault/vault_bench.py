#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Vault benchmark: Vault.Get of a 1 KiB secret and Vault.Encrypt of 1 KiB,
# from 1 and 8 concurrent callers (uid 65534, each its own bus connection),
# against two baselines measured in the same sandbox in the same run:
#   * Manager.GetCallerInfo (public; the "bare" Manager call of the issue),
#   * org.freedesktop.DBus.Peer.Ping on org.anyd1 (GDBus answers it in its
#     worker thread, without the gate: the bus round trip alone),
#   * Properties.Get of Manager.Version (answered on anyd's main loop, no
#     gate: the round trip plus the hop to the main thread).
# Vault.GetPublicKey is public (no polkit check): it shows the vault's own
# cost (gate, lookup, guarded memory) apart from polkit's.
# The target: vault latency <= 1.5 x the bare call's.
#
#   meson test -C build --benchmark --suite vault      (or run this file as root)
#   VAULT_BENCH_SECONDS=3 bench/vault/vault_bench.py --builddir build

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import ALLOWED  # noqa: E402

SECONDS = float(os.environ.get('VAULT_BENCH_SECONDS', '2'))
RUNS = [('ping', 'Peer.Ping'), ('property', 'Properties.Get Version'),
        ('callerinfo', 'Manager.GetCallerInfo'),
        ('pubkey', 'Vault.GetPublicKey'),
        ('get', 'Vault.Get 1 KiB'), ('encrypt', 'Vault.Encrypt 1 KiB')]


def main():
    if '--builddir' in sys.argv:
        os.environ['ANYD_BUILDDIR'] = os.path.abspath(sys.argv[sys.argv.index('--builddir') + 1])
    if not anydtest.enter_namespaces_or_skip('vault_bench'):
        sys.exit(0)
    # the callers would otherwise be refused past [limits]' 200 calls/s
    sb = anydtest.Sandbox(name='bench-vault', config='[limits]\ncalls_per_second_per_uid=0\n')
    with sb:
        src = os.path.join(sb.builddir, 'bench', 'vault', 'vault-bench')
        exe = os.path.join(anydtest.WORK, 'bin', 'vault-bench')
        shutil.copy(src, exe)
        os.chmod(exe, 0o755)
        sb.call(ALLOWED, '/org/anyd1/vault', 'org.anyd1.Vault', 'Put', '(saya{sv})',
                ('bench/secret', os.urandom(1024), {}))
        sb.call(ALLOWED, '/org/anyd1/vault', 'org.anyd1.Vault', 'CreateKey', '(ss)',
                ('bench/key', 'aead'))
        sb.call(ALLOWED, '/org/anyd1/vault', 'org.anyd1.Vault', 'CreateKey', '(ss)',
                ('bench/sign', 'sign'))
        results = {}
        for callers in (1, 8):
            for method, _label in RUNS:
                name = {'encrypt': 'bench/key', 'pubkey': 'bench/sign'}.get(method, 'bench/secret')
                rc, out, err = sb.run_as(ALLOWED, [exe, method, str(callers), str(SECONDS), name],
                                         timeout=SECONDS * 10 + 60)
                if rc != 0:
                    print('vault-bench %s %d failed (%d): %s%s' % (method, callers, rc, out, err))
                    sys.exit(1)
                r = json.loads(out)
                if r['errors']:
                    print('# %s x%d: %d errors, first: %s' % (method, callers, r['errors'], r['first_error']))
                results[(method, callers)] = r

        print('anyd %s, %s build, %.1f s per measurement, caller uid %d'
              % (os.environ.get('ANYD_VERSION', ''), 'sanitized' if sb.sanitized() else 'normal',
                 SECONDS, ALLOWED))
        print('%-24s %7s %10s %9s %9s %9s %13s %9s %9s' % ('call', 'callers', 'calls/s', 'mean µs',
                                                              'p50 µs', 'p99 µs', 'x CallerInfo',
                                                              'x Ping', 'x Prop'))
        for callers in (1, 8):
            base = results[('callerinfo', callers)]['mean_us']
            ping = results[('ping', callers)]['mean_us']
            prop = results[('property', callers)]['mean_us']
            for method, label in RUNS:
                r = results[(method, callers)]
                print('%-24s %7d %10.0f %9.0f %9.0f %9.0f %13.2f %9.2f %9.2f'
                      % (label, callers, r['calls_per_s'], r['mean_us'], r['p50_us'], r['p99_us'],
                         r['mean_us'] / base, r['mean_us'] / ping, r['mean_us'] / prop))
        print('(ratios: mean latency divided by the baseline\'s at the same number of callers; '
              'target for vault calls: <= 1.5 x the bare call)')
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main()
