#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark of the exec module against systemd itself, all ratios measured
# in one run on the same real systemd manager (the sandbox of
# tests/anydtest.py with `systemd --user` on its system bus):
#
#   1. command line: `anyd-client exec run -- /bin/true` (sandbox none and
#      the default strict) vs `systemd-run --user --wait --pipe -q /bin/true`
#      (target <= 1.0x: anyd keeps its bus connection, systemd-run opens one);
#   2. D-Bus: Run -> Exited of /bin/true from an open connection vs the floor:
#      StartTransientUnit + JobRemoved + the unit's exit (PropertiesChanged)
#      from the benchmark's own connection (target <= 1.2x);
#   3. 100 MiB through stdout: a passed fd (anyd is not in the data path) vs
#      the same command writing to a plain pipe (target >= 0.9x);
#   4. 8 callers x 50 runs at once: throughput, p50/p99, none lost.
#
#   /usr/bin/python3 bench/exec/exec-bench.py [--rounds N]
#   meson test -C build --benchmark --suite exec -v

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import ALLOWED, ROOT  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402
from systemd_sandbox import MANAGER, NAME, PATH, SystemdManager, unit_path  # noqa: E402

EXEC = '/org/anyd1/exec'
IFACE = 'org.anyd1.Exec'
PROC = 'org.anyd1.ExecProcess'
MIB = 1024 * 1024


def ms(s):
    return s * 1000.0


def pct(ts, p):
    s = sorted(ts)
    return s[min(len(s) - 1, int(len(s) * p))]


def measure(pairs, rounds):
    times = {name: [] for name, _ in pairs}
    for i in range(rounds):
        for name, fn in (pairs if i % 2 == 0 else list(reversed(pairs))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def report(title, base_name, times):
    base = statistics.median(times[base_name])
    print('\n%s' % title)
    for name, ts in times.items():
        med = statistics.median(ts)
        tag = '' if name == base_name else '  ratio %.2fx' % (med / base)
        print('  %-50s %7.2f ms median (p90 %.2f, n=%d)%s'
              % (name, ms(med), ms(pct(ts, 0.9)), len(ts), tag))


def run_cmd(argv, env):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, cwd='/')
    if r.returncode != 0:
        raise RuntimeError('%s -> %d: %s' % (' '.join(argv), r.returncode, r.stdout.decode()))


class Floor:
    """StartTransientUnit + JobRemoved + exit, as systemd-run --wait does,
    from one open connection."""

    def __init__(self, bus, like_anyd=False):
        self.bus = bus
        self.like_anyd = like_anyd
        self.jobs = {}
        self.down = set()
        self.sub = bus.signal_subscribe(NAME, MANAGER, 'JobRemoved', PATH, None,
                                        Gio.DBusSignalFlags.NONE, self._job, None)

    def _job(self, conn, sender, path, iface, member, params, _d):
        _id, job, _unit, result = params.unpack()
        self.jobs[job] = result

    def _props(self, conn, sender, path, iface, member, params, unit):
        changed = params.unpack()[1]
        if changed.get('ActiveState') in ('inactive', 'failed'):
            self.down.add(unit)

    def __call__(self, argv=('/bin/true',)):
        unit = 'bench-floor-%s.service' % uuid.uuid4().hex[:12]
        sub = self.bus.signal_subscribe(NAME, 'org.freedesktop.DBus.Properties',
                                        'PropertiesChanged', unit_path(unit),
                                        'org.freedesktop.systemd1.Unit',
                                        Gio.DBusSignalFlags.NONE, self._props, unit)
        props = [('Type', GLib.Variant('s', 'exec')),
                 ('ExecStartEx', GLib.Variant('a(sasas)', [(argv[0], list(argv), ['no-env-expand'])])),
                 ('StandardOutput', GLib.Variant('s', 'null'))]
        if self.like_anyd:
            # what anyd adds to every unit (sandbox none, as root)
            props += [('AddRef', GLib.Variant('b', True)),
                      ('CollectMode', GLib.Variant('s', 'inactive-or-failed')),
                      ('StandardInput', GLib.Variant('s', 'null')),
                      ('StandardError', GLib.Variant('s', 'null')),
                      ('WorkingDirectory', GLib.Variant('s', '-~')),
                      ('Environment', GLib.Variant('as', [])),
                      ('TimeoutStopUSec', GLib.Variant('t', 5000000)),
                      ('OOMPolicy', GLib.Variant('s', 'kill')),
                      ('Slice', GLib.Variant('s', 'anyd-exec-u0.slice')),
                      ('LogExtraFields', GLib.Variant('aay', [b'ANYD_EXEC_ID=0']))]
        job = self.bus.call_sync(NAME, PATH, MANAGER, 'StartTransientUnit',
                                 GLib.Variant('(ssa(sv)a(sa(sv)))', (unit, 'fail', props, [])),
                                 GLib.VariantType('(o)'), Gio.DBusCallFlags.NO_AUTO_START,
                                 30000, None).unpack()[0]
        ctx = GLib.MainContext.default()
        while job not in self.jobs or unit not in self.down:
            ctx.iteration(True)
        self.jobs.pop(job)
        self.down.discard(unit)
        self.bus.signal_unsubscribe(sub)
        if self.like_anyd:
            self.bus.call_sync(NAME, PATH, MANAGER, 'UnrefUnit', GLib.Variant('(s)', (unit,)),
                               None, Gio.DBusCallFlags.NO_AUTO_START, 30000, None)


def read_timed(rd):
    """Bytes read to EOF and the seconds from the first byte to EOF (the
    data path only, not the start of the command)."""
    n, t0 = 0, None
    while True:
        b = os.read(rd, 1 << 20)
        if not b:
            break
        if t0 is None:
            t0 = time.perf_counter()
        n += len(b)
    return n, time.perf_counter() - t0


def data_through(sb, conn, size):
    """Seconds from start to EOF for `size` bytes written by dd to a passed fd."""
    rd, wr = os.pipe()
    argv = ['/usr/bin/dd', 'if=/dev/zero', 'bs=1M', 'count=%d' % (size // MIB), 'status=none']
    conn.call(EXEC, IFACE, 'Run', '(asa{sv})',
              (argv, {'stdout': GLib.Variant('h', 0), 'sandbox': GLib.Variant('s', 'none')}),
              fds=[wr])
    os.close(wr)
    n, dt = read_timed(rd)
    os.close(rd)
    conn.call(path, PROC, 'Wait')
    assert n == size, n
    return dt


def data_systemd(bus, size):
    """The same through a unit started by systemd directly (no anyd): the
    control for the sandbox's cgroup placement of the writer."""
    rd, wr = os.pipe()
    unit = 'bench-data-%s.service' % uuid.uuid4().hex[:12]
    argv = ['/usr/bin/dd', 'if=/dev/zero', 'bs=1M', 'count=%d' % (size // MIB), 'status=none']
    fds = Gio.UnixFDList.new_from_array([wr])   # takes wr
    props = [('Type', GLib.Variant('s', 'exec')),
             ('ExecStartEx', GLib.Variant('a(sasas)', [(argv[0], argv, ['no-env-expand'])])),
             ('StandardOutputFileDescriptor', GLib.Variant('h', 0)),
             ('Slice', GLib.Variant('s', 'anyd-exec-u0.slice'))]
    bus.call_with_unix_fd_list_sync(NAME, PATH, MANAGER, 'StartTransientUnit',
                                    GLib.Variant('(ssa(sv)a(sa(sv)))', (unit, 'fail', props, [])),
                                    GLib.VariantType('(o)'), Gio.DBusCallFlags.NO_AUTO_START,
                                    30000, fds, None)
    del fds
    n, dt = read_timed(rd)
    os.close(rd)
    assert n == size, n
    return dt


def data_plain(size):
    rd, wr = os.pipe()
    p = subprocess.Popen(['/usr/bin/dd', 'if=/dev/zero', 'bs=1M', 'count=%d' % (size // MIB),
                          'status=none'], stdout=wr, stdin=subprocess.DEVNULL)
    os.close(wr)
    n, dt = read_timed(rd)
    os.close(rd)
    p.wait()
    assert n == size, n
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--rounds', type=int, default=int(os.environ.get('ANYD_BENCH_ROUNDS', '40')))
    opts = ap.parse_args()
    if not anydtest.enter_namespaces_or_skip('exec-bench'):
        return 0
    sb = anydtest.Sandbox(start_anyd=False, name='bench-exec',
                          config='[exec]\nmax_processes=0\nkeep_exited_s=1\n')
    with sb:
        sd = SystemdManager(sb, clean_env=True, controllers=True)
        if not sd.available():
            print('exec-bench: skipped: systemd is not installed')
            return 0
        sd.start()
        sb.start_anyd(args=[])       # no --verbose: no debug logging on the path
        env = anydtest.base_env({'XDG_RUNTIME_DIR': '/run/user/0'})
        client = sb.client_binary()
        root = sb.connect(ROOT)
        floor = Floor(sb.bus)
        floor_props = Floor(sb.bus, like_anyd=True)

        exited = {}

        def on_exited(conn, sender, path, iface, member, params, _d):
            exited[path] = params.unpack()
        sb.bus.signal_subscribe('org.anyd1', PROC, 'Exited', None, None,
                                Gio.DBusSignalFlags.NONE, on_exited, None)

        def anyd_run(sandbox):
            """Run, then the Exited signal, from the benchmark's own (root)
            connection, as the floor waits for systemd's signals."""
            def fn():
                p = sb.bus.call_sync('org.anyd1', EXEC, IFACE, 'Run',
                                     GLib.Variant('(asa{sv})', (['/bin/true'],
                                                                {'sandbox': GLib.Variant('s', sandbox)})),
                                     GLib.VariantType('(o)'), Gio.DBusCallFlags.NONE, 30000,
                                     None).unpack()[0]
                ctx = GLib.MainContext.default()
                while p not in exited:
                    ctx.iteration(True)
                assert exited.pop(p) == ('exited', 0, 0)
            return fn

        cli = [
            ('systemd-run --user --wait --pipe -q /bin/true',
             lambda: run_cmd(['systemd-run', '--user', '--wait', '--pipe', '-q', '/bin/true'], env)),
            ('anyd-client exec run --sandbox none -- /bin/true',
             lambda: run_cmd([client, '--no-ask-password', 'exec', 'run', '--sandbox', 'none',
                              '--', '/bin/true'], env)),
            ('anyd-client exec run -- /bin/true (strict)',
             lambda: run_cmd([client, '--no-ask-password', 'exec', 'run', '--', '/bin/true'], env)),
        ]
        bus = [
            ('floor: StartTransientUnit + JobRemoved + exit', floor),
            ('floor with anyd\'s unit properties (AddRef, Slice…)', floor_props),
            ('Run -> Exited, sandbox none (root)', anyd_run('none')),
            ('Run -> Exited, sandbox strict (root)', anyd_run('strict')),
        ]
        measure(cli + bus, 3)      # warm up
        print('exec benchmark: /bin/true, %d rounds interleaved; %s build'
              % (opts.rounds, 'sanitizer' if sb.sanitized() else 'normal'))
        t_cli = measure(cli, opts.rounds)
        t_bus = measure(bus, opts.rounds)
        report('command line (what a user runs):', cli[0][0], t_cli)
        report('D-Bus (from an open connection):', bus[0][0], t_bus)
        r1 = statistics.median(t_cli[cli[1][0]]) / statistics.median(t_cli[cli[0][0]])
        r2 = statistics.median(t_bus[bus[2][0]]) / statistics.median(t_bus[bus[0][0]])
        r2p = statistics.median(t_bus[bus[2][0]]) / statistics.median(t_bus[bus[1][0]])

        size = 100 * MIB
        through, plain, direct = [], [], []
        for i in range(7):
            plain.append(data_plain(size))
            through.append(data_through(sb, root, size))
            direct.append(data_systemd(sb.bus, size))
        tp_plain = size / MIB / statistics.median(plain)
        tp_through = size / MIB / statistics.median(through)
        tp_direct = size / MIB / statistics.median(direct)
        print('\n100 MiB through stdout (dd bs=1M, median of 7, first byte to EOF):')
        print('  unit started by systemd directly (no anyd): %7.0f MiB/s' % tp_direct)
        print('  plain pipe (dd | reader):                   %7.0f MiB/s' % tp_plain)
        print('  passed fd (Run, anyd not in the path):      %7.0f MiB/s' % tp_through)
        r3 = tp_through / tp_plain
        r3d = tp_through / tp_direct

        conns = [sb.connect(ALLOWED) if i % 2 else anydtest.Connection(sb, ROOT) for i in range(8)]
        lat, lost = [], []
        lock = threading.Lock()

        def worker(c, k):
            for j in range(50):
                t0 = time.perf_counter()
                try:
                    p = c.call(EXEC, IFACE, 'Run', '(asa{sv})',
                               (['sh', '-c', 'exit %d' % ((k + j) % 5)],
                                {'sandbox': GLib.Variant('s', 'none')}))
                    r = tuple(c.call(p, PROC, 'Wait', timeout=60))
                    ok = r == ('exited', (k + j) % 5, 0)
                except Exception as e:  # noqa: BLE001
                    ok, r = False, e
                with lock:
                    lat.append(time.perf_counter() - t0)
                    if not ok:
                        lost.append(r)
        threads = [threading.Thread(target=worker, args=(c, k)) for k, c in enumerate(conns)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        print('\n8 callers x 50 runs (sh -c "exit N", Run + Wait each):')
        print('  %d runs in %.2f s: %.1f runs/s; latency p50 %.1f ms, p99 %.1f ms; wrong or lost: %d'
              % (len(lat), wall, len(lat) / wall, ms(pct(lat, 0.5)), ms(pct(lat, 0.99)), len(lost)))
        for r in lost[:5]:
            print('  wrong or lost: %r' % (r,))

        print('\nratios (one run):')
        print('  anyd-client exec run vs systemd-run --wait --pipe: %.2fx (target <= 1.0x): %s'
              % (r1, 'met' if r1 <= 1.0 else 'NOT met'))
        print('  Run->Exited vs StartTransientUnit+JobRemoved+exit floor: %.2fx (target <= 1.2x): %s'
              % (r2, 'met' if r2 <= 1.2 else 'NOT met'))
        print('  Run->Exited vs the floor with the same unit properties: %.2fx (anyd\'s own share)'
              % r2p)
        print('  100 MiB via passed fd vs plain pipe: %.2fx (target >= 0.9x): %s'
              % (r3, 'met' if r3 >= 0.9 else 'NOT met'))
        print('  100 MiB via anyd vs the same unit started by systemd directly: %.2fx' % r3d)
        for c in conns:
            c.close()
        sb.stop_anyd()
        sd.stop()
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
