#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark of the files module, baselines measured in the same run,
# interleaved, in the sandbox of tests/anydtest.py with a real systemd
# manager (`systemd --user` on the sandbox's system bus):
#
#   1. ReadFile of a 256 MiB file (reply, then the pipe read to EOF) vs
#      `cat FILE` into a pipe read by the same loop;
#   2. WriteFile of 256 MiB fed through a pipe vs `cat > FILE` fed the same
#      way (WriteFile also fsyncs the file and its directory);
#   3. per-call cost of a 1-byte file (ReadFile + read to EOF) vs the floor
#      of any transient-unit runner: StartTransientUnit of /bin/true
#      (Type=exec, stdout a pipe) from the benchmark's own connection, read
#      to EOF — what an exec Run of /bin/true costs at best — bare and with
#      the strict sandbox an exec Run applies by default.
#
# Targets (issue 16): 1 and 2 >= 0.8x cat; 3 <= 1.2x a run of /bin/true.
#
#   /usr/bin/python3 bench/files/files-bench.py [--rounds N] [--builddir DIR]
#   meson test -C build --benchmark --suite files -v

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import ROOT  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

SRV = '/srv/anyd-files-bench'
BIG = 256 * 1024 * 1024
SD_NAME = 'org.freedesktop.systemd1'
SD_PATH = '/org/freedesktop/systemd1'
SD_MANAGER = 'org.freedesktop.systemd1.Manager'


def helper():
    return os.path.join(anydtest.builddir(), 'service', 'modules', 'files', 'anyd-files-helper')


def drain(fd):
    n = 0
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        n += len(b)
    os.close(fd)
    return n


def feed(fd, n):
    chunk = bytes(1 << 20)
    try:
        while n > 0:
            n -= os.write(fd, chunk[:min(n, len(chunk))])
    finally:
        os.close(fd)


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--rounds', type=int, default=int(os.environ.get('ANYD_BENCH_ROUNDS', '3')))
    ap.add_argument('--calls', type=int, default=30)
    ap.add_argument('--builddir', default=None)
    opts = ap.parse_args()
    if opts.builddir:
        os.environ['ANYD_BUILDDIR'] = os.path.abspath(opts.builddir)
    if not anydtest.enter_namespaces_or_skip('files-bench'):
        return 0

    os.makedirs(SRV, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', 'none', SRV], check=True)
    config = '[files]\nroots=%s;\nmax_size=0\nhelper=%s\n' % (SRV, helper())
    sb = anydtest.Sandbox(start_anyd=False, name='bench-files', config=config, systemd=True)
    with sb:
        sb.start_anyd(args=[])      # no --verbose: no debug logging on the path
        c = sb.connect(ROOT)
        with open(SRV + '/big', 'wb') as f:
            f.truncate(BIG)
            f.write(os.urandom(1 << 20))
        with open(SRV + '/one', 'wb') as f:
            f.write(b'1')

        def anyd_read():
            r = c.call_full('/org/anyd1/files', 'org.anyd1.Files', 'ReadFile', '(sa{sv})',
                            (SRV + '/big', {}))
            assert drain(r.fds[0]) == BIG

        def cat_read():
            p = subprocess.Popen(['cat', SRV + '/big'], stdout=subprocess.PIPE)
            assert drain(os.dup(p.stdout.fileno())) == BIG
            p.stdout.close()
            p.wait()

        def anyd_write():
            rfd, wfd = os.pipe()
            th = threading.Thread(target=feed, args=(wfd, BIG))
            th.start()
            n = c.call('/org/anyd1/files', 'org.anyd1.Files', 'WriteFile', '(sha{sv})',
                       (SRV + '/w-anyd', 0, {}), fds=[rfd], timeout=300)
            os.close(rfd)
            th.join()
            assert n == BIG

        def cat_write():
            rfd, wfd = os.pipe()
            with open(SRV + '/w-cat', 'wb') as out:
                p = subprocess.Popen(['cat'], stdin=rfd, stdout=out)
            os.close(rfd)
            feed(wfd, BIG)
            p.wait()

        t = {k: [] for k in ('anyd_read', 'cat_read', 'anyd_write', 'cat_write')}
        for _ in range(opts.rounds):
            t['cat_read'].append(timed(cat_read))
            t['anyd_read'].append(timed(anyd_read))
            t['cat_write'].append(timed(cat_write))
            t['anyd_write'].append(timed(anyd_write))

        # per-call: a 1-byte ReadFile vs a bare transient unit of /bin/true
        bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        serial = [0]

        def one_read():
            r = c.call_full('/org/anyd1/files', 'org.anyd1.Files', 'ReadFile', '(sa{sv})',
                            (SRV + '/one', {}))
            assert drain(r.fds[0]) == 1

        # the sandbox an exec Run applies by default (strict), as the
        # files helper gets it
        strict = [('ProtectSystem', GLib.Variant('s', 'strict')),
                  ('ProtectHome', GLib.Variant('s', 'read-only')),
                  ('PrivateDevices', GLib.Variant('b', True)),
                  ('PrivateNetwork', GLib.Variant('b', True)),
                  ('NoNewPrivileges', GLib.Variant('b', True)),
                  ('PrivateTmp', GLib.Variant('b', True))]

        # the very unit anyd starts for a 1-byte read, started directly: what
        # the sandbox costs, apart from anyd
        caps = (1 << 1) | (1 << 2) | (1 << 3)
        helper_unit = [('User', GLib.Variant('s', 'root')),
                       ('ExecStart', GLib.Variant('a(sasb)', [(helper(), [
                           helper(), 'read', '--', SRV, 'one'], False)])),
                       ('CapabilityBoundingSet', GLib.Variant('t', caps))]

        def true_unit(extra=()):
            serial[0] += 1
            rfd, wfd = os.pipe()
            fds = Gio.UnixFDList.new_from_array([wfd])   # owns wfd now
            props = [('Type', GLib.Variant('s', 'exec'))]
            if not any(k == 'ExecStart' for k, _ in extra):
                props.append(('ExecStart', GLib.Variant('a(sasb)', [('/bin/true', ['/bin/true'],
                                                                     False)])))
            props += [
                     ('StandardOutputFileDescriptor', GLib.Variant('h', 0)),
                     ('CollectMode', GLib.Variant('s', 'inactive-or-failed'))] + list(extra)
            bus.call_with_unix_fd_list_sync(
                SD_NAME, SD_PATH, SD_MANAGER, 'StartTransientUnit',
                GLib.Variant('(ssa(sv)a(sa(sv)))', ('bench-true-%d.service' % serial[0], 'fail',
                                                    props, [])),
                GLib.VariantType('(o)'), Gio.DBusCallFlags.NONE, 30000, fds, None)
            del fds       # our copy of the write end, or EOF never comes
            drain(rfd)   # EOF: /bin/true ran and systemd let go of the unit

        one_read()
        true_unit()
        calls = {'one_read': [], 'true_unit': [], 'true_strict': [], 'helper_direct': []}
        for _ in range(opts.calls):
            calls['true_unit'].append(timed(true_unit))
            calls['true_strict'].append(timed(lambda: true_unit(strict)))
            calls['helper_direct'].append(timed(lambda: true_unit(strict + helper_unit)))
            calls['one_read'].append(timed(one_read))

        pid = sb.name_owner_pid('org.anyd1')
        with open('/proc/%d/status' % pid) as f:
            rss = [l.split()[1] for l in f if l.startswith(('VmRSS', 'VmHWM'))]
        sb.stop_anyd()

    med = {k: statistics.median(v) for k, v in list(t.items()) + list(calls.items())}
    mib = BIG / (1 << 20)
    print('files-bench (%s build, %d rounds of %d MiB, %d calls; medians)'
          % ('sanitizer' if sb.sanitized() else 'normal', opts.rounds, mib, opts.calls))
    print('  read : anyd %.3f s (%.0f MiB/s)  cat %.3f s (%.0f MiB/s)  ratio %.2fx cat (target >= 0.8)'
          % (med['anyd_read'], mib / med['anyd_read'], med['cat_read'], mib / med['cat_read'],
             med['cat_read'] / med['anyd_read']))
    print('  write: anyd %.3f s (%.0f MiB/s)  cat %.3f s (%.0f MiB/s)  ratio %.2fx cat (target >= 0.8)'
          % (med['anyd_write'], mib / med['anyd_write'], med['cat_write'], mib / med['cat_write'],
             med['cat_write'] / med['anyd_write']))
    print('  1-byte ReadFile %.1f ms vs bare transient /bin/true %.1f ms: %.2fx (target <= 1.2)'
          % (med['one_read'] * 1000, med['true_unit'] * 1000, med['one_read'] / med['true_unit']))
    print('  1-byte ReadFile vs transient /bin/true in a strict sandbox %.1f ms: %.2fx'
          % (med['true_strict'] * 1000, med['one_read'] / med['true_strict']))
    print('  the helper\'s own unit started directly %.1f ms: anyd adds %.1f ms'
          % (med['helper_direct'] * 1000, (med['one_read'] - med['helper_direct']) * 1000))
    print('  anyd VmRSS %s KiB, VmHWM %s KiB after the run' % tuple(rss))
    return 0


if __name__ == '__main__':
    sys.exit(main())
