#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: restarting a trivial unit through anyd vs through systemd
# directly, measured in the same run, interleaved, on the same unit of the
# same real systemd manager (the sandbox of tests/anydtest.py with
# `systemd --user` on its system bus, tests/systemd_sandbox.py).
#
#   1. command line: `anyd-client services restart bench` vs
#      `systemctl --user restart bench.service` (the manager's private
#      socket), both as root — what a user types; anyd-client also as
#      uid 65534 (polkit allows it by rule, one more exec: setpriv);
#   2. D-Bus: org.anyd1.Services.Restart from a connected caller vs
#      org.freedesktop.systemd1.Manager.RestartUnit + waiting for its
#      JobRemoved from the benchmark's own connection — what anyd adds.
#
# Target (issue 7): anyd <= 1.1x systemctl's own time.
#
#   /usr/bin/python3 bench/services/services-bench.py [--rounds N] [--builddir DIR]
#   meson test -C build --benchmark --suite services -v

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import ALLOWED, ROOT  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402
from systemd_sandbox import MANAGER, NAME, PATH, SystemdManager  # noqa: E402

UNIT = 'bench.service'
TARGET = 1.10


def ms(seconds):
    return seconds * 1000.0


class DirectRestart:
    """RestartUnit + JobRemoved, as systemctl does it, over the bus."""

    def __init__(self, bus):
        self.bus = bus
        self.done = {}
        self.sub = bus.signal_subscribe(NAME, MANAGER, 'JobRemoved', PATH, None,
                                        Gio.DBusSignalFlags.NONE, self._on_removed, None)

    def _on_removed(self, conn, sender, path, iface, member, params, _data):
        _id, job, _unit, result = params.unpack()
        self.done[job] = result

    def __call__(self):
        job = self.bus.call_sync(NAME, PATH, MANAGER, 'RestartUnit',
                                 GLib.Variant('(ss)', (UNIT, 'replace')), GLib.VariantType('(o)'),
                                 Gio.DBusCallFlags.NO_AUTO_START, 30000, None).unpack()[0]
        ctx = GLib.MainContext.default()
        while job not in self.done:
            ctx.iteration(True)
        result = self.done.pop(job)
        if result != 'done':
            raise RuntimeError('RestartUnit: job result %s' % result)

    def close(self):
        self.bus.signal_unsubscribe(self.sub)


def run_cmd(argv):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=anydtest.base_env({'XDG_RUNTIME_DIR': '/run/user/0'}),
                       cwd='/')
    if r.returncode != 0:
        raise RuntimeError('%s -> %d: %s' % (' '.join(argv), r.returncode, r.stdout.decode()))


def measure(pairs, rounds):
    """pairs: [(name, fn)]; runs them interleaved `rounds` times (order
    alternating per round) and returns {name: [seconds]}."""
    times = {name: [] for name, _ in pairs}
    for i in range(rounds):
        order = pairs if i % 2 == 0 else list(reversed(pairs))
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def report(title, base_name, times, note=''):
    base = statistics.median(times[base_name])
    print('\n%s' % title)
    for name, ts in times.items():
        med = statistics.median(ts)
        p90 = sorted(ts)[int(len(ts) * 0.9) - 1]
        ratio = med / base
        tag = '' if name == base_name else '  ratio %.2fx' % ratio
        print('  %-44s %7.2f ms/op median  (mean %.2f, p90 %.2f, n=%d)%s'
              % (name, ms(med), ms(statistics.mean(ts)), ms(p90), len(ts), tag))
    if note:
        print('  ' + note)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--rounds', type=int, default=int(os.environ.get('ANYD_BENCH_ROUNDS', '100')))
    ap.add_argument('--builddir', default=None)
    opts = ap.parse_args()
    if opts.builddir:
        os.environ['ANYD_BUILDDIR'] = os.path.abspath(opts.builddir)
    if not anydtest.enter_namespaces_or_skip('services-bench'):
        return 0

    sb = anydtest.Sandbox(start_anyd=False, name='bench-services',
                          config='[services]\nallow=bench;\n')
    with sb:
        sd = SystemdManager(sb)
        if not sd.available():
            print('services-bench: skipped: systemd is not installed')
            return 0
        sd.start()
        sd.write_unit(UNIT, '[Service]\nExecStart=/bin/sleep infinity\n')
        sd.systemctl('start', UNIT, check=True)
        sb.start_anyd(args=[])          # without --verbose: no debug logging on the path
        client = sb.client_binary()
        caller = sb.connect(ALLOWED)
        root_caller = sb.connect(ROOT)
        direct = DirectRestart(sb.bus)

        def anyd_call(conn):
            return lambda: conn.call('/org/anyd1/services', 'org.anyd1.Services', 'Restart',
                                     '(s)', ('bench',))

        anyd_client = [client, '--no-ask-password', 'services', 'restart', 'bench']
        cli = [
            ('systemctl --user restart bench.service', lambda: run_cmd(
                ['systemctl', '--user', 'restart', UNIT])),
            # as root like systemctl: the same exec chain, no setpriv in between
            ('anyd-client services restart bench', lambda: run_cmd(anyd_client)),
            ('  the same as uid 65534 (via setpriv)', lambda: run_cmd(
                anydtest.setpriv_prefix(ALLOWED) + anyd_client)),
        ]
        bus = [
            ('systemd RestartUnit + JobRemoved (root)', direct),
            ('org.anyd1.Services.Restart (uid 65534)', anyd_call(caller)),
            ('org.anyd1.Services.Restart (root)', anyd_call(root_caller)),
        ]
        # warm up every path (page cache, polkitd's JS engine, first loads)
        measure(cli + bus, 5)
        before = sd.main_pid(UNIT)

        print('services restart benchmark: unit %s (Type=simple, /bin/sleep), %d rounds, '
              'interleaved; %s build' % (UNIT, opts.rounds,
                                         'sanitizer' if sb.sanitized() else 'normal'))
        t_cli = measure(cli, opts.rounds)
        t_bus = measure(bus, opts.rounds)
        assert sd.main_pid(UNIT) != before and sd.active_state(UNIT) == 'active'

        report('command line (what a user runs):', cli[0][0], t_cli)
        report('D-Bus (from an open connection):', bus[0][0], t_bus,
               'anyd adds per restart: %.2f ms (uid 65534: polkit rule check), %.2f ms (root)'
               % (ms(statistics.median(t_bus[bus[1][0]]) - statistics.median(t_bus[bus[0][0]])),
                  ms(statistics.median(t_bus[bus[2][0]]) - statistics.median(t_bus[bus[0][0]]))))
        ratio = statistics.median(t_cli[cli[1][0]]) / statistics.median(t_cli[cli[0][0]])
        print('\nanyd-client vs systemctl: %.2fx (target <= %.2fx): %s'
              % (ratio, TARGET, 'met' if ratio <= TARGET else 'NOT met'))
        direct.close()
        caller.close()
        root_caller.close()
        sb.stop_anyd()
        sd.stop()
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
