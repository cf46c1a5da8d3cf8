#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/metrics-bench: what counting for GetMetrics costs on the call path.
#
#   metrics-bench.py CALL_PATH [--off-builddir DIR] [--rounds N]
#
# Two anyd builds in one run, in alternating rounds inside the test sandbox
# (tests/anydtest.py: real dbus-daemon and polkitd): this build tree's
# (counting on) and one configured with -Dmetrics=false (counting compiled
# out; DIR, or $ANYD_METRICS_OFF_BUILDDIR, e.g.
#   meson setup build-nometrics -Dmetrics=false && ninja -C build-nometrics service/anyd).
# For each: the warm latency of a gated call (by default Vault.ListKeys as
# uid 65534: a handler that does almost nothing, so the gate's own cost is
# what is measured; decision cached, one connection, sequential), the
# throughput of 8 callers making synchronous gated calls at once, and
# anyd's CPU time per call (all its threads, from schedstat: what the
# counting costs, whatever else runs on the machine). Then, on the counting
# build, GetMetrics' latency against GetCallerInfo's. The clients are
# bench/call-path's (--client), GDBus like a real client. Targets: both
# ratios within 3 %, GetMetrics at most 2x GetCallerInfo.

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))

import anydtest  # noqa: E402

NOBODY = 65534
CONFIG = '''[limits]
# the benchmark's callers would otherwise be refused past 200 calls/s
calls_per_second_per_uid=0
'''


def clients(prog, kind, target, n, a, b, c, uid=NOBODY):
    """Start n call-path clients, wait until all are warm, release them at
    once, return their output lines."""
    ps = [subprocess.Popen([prog, '--client', kind, str(uid), target, str(a), str(b), str(c)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
          for _ in range(n)]
    for p in ps:
        line = p.stdout.readline().strip()
        if line != 'ready':
            raise RuntimeError('client not ready: %r' % line)
    for p in ps:
        p.stdin.write('go\n')
        p.stdin.flush()
    out = []
    for p in ps:
        o, _ = p.communicate(timeout=120)
        out.append(o.strip())
    return out


def latency(prog, target, n, maxsec):
    line = clients(prog, 'lat', target, 1, n, maxsec, '-')[0]
    return [float(x) for x in line.split()[1:]]


def cpu_ns(pid):
    """CPU time of all of anyd's threads (the main loop and GDBus's worker,
    where the counting filter runs): independent of other load."""
    total = 0
    for t in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/schedstat' % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def throughput(prog, target, secs, pid):
    """(calls/s of 8 callers together, anyd's CPU µs per call)"""
    total, calls = 0.0, 0
    cpu0 = cpu_ns(pid)
    for line in clients(prog, 'tput', target, 8, secs, 1, 0):
        kv = dict(w.split('=') for w in line.split()[1:])
        if int(kv['err']):
            raise RuntimeError('%s calls failed' % kv['err'])
        total += int(kv['ok']) / float(kv['secs'])
        calls += int(kv['ok'])
    # the clients' 20 warm-up calls each are in the CPU time too
    return total, (cpu_ns(pid) - cpu0) / 1000 / (calls + 8 * 20)


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(('summary: ', 'totals: ')):
                return float(line.split()[1])
    raise RuntimeError('no totals in ' + path)


def instructions(sb, anyd, prog, target, k=50, n=500):
    """anyd's instructions (all threads) per call under callgrind: two runs
    that differ only in n more calls, so start, warm-up and exit cancel out.
    Exact and independent of the machine's load."""
    ir = []
    for count in (k, k + n):
        # kept in the log directory for callgrind_annotate
        out = os.path.join(sb.logdir, 'callgrind.%s.%d.out' % (os.path.basename(os.path.dirname(
            os.path.dirname(anyd))), count))
        wrapper = os.path.join(anydtest.WORK, 'anyd-callgrind')
        with open(wrapper, 'w') as f:
            f.write('#!/bin/sh\nexec valgrind --tool=callgrind --quiet --callgrind-out-file=%s %s "$@"\n'
                    % (out, anyd))
        os.chmod(wrapper, 0o755)
        if os.path.exists(out):
            os.unlink(out)
        sb.anyd_path = wrapper
        sb.start_anyd(timeout=120)
        r = subprocess.run([prog, '--client', 'calls', str(NOBODY), target, str(count), '-', '-'],
                           stdout=subprocess.PIPE, text=True, timeout=600).stdout
        if 'failed=0' not in r:
            raise RuntimeError('callgrind run: ' + r)
        sb.stop_anyd(timeout=120)
        ir.append(callgrind_total(out))
    return (ir[1] - ir[0]) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('call_path')
    ap.add_argument('--off-builddir', default=os.environ.get('ANYD_METRICS_OFF_BUILDDIR'))
    ap.add_argument('--rounds', type=int, default=6)
    ap.add_argument('--calls', type=int, default=3000)
    ap.add_argument('--seconds', type=float, default=3)
    ap.add_argument('--no-callgrind', action='store_true')
    ap.add_argument('--target', default='vault-list', help="call-path's target: vault-list, gated (Reload), ...")
    a = ap.parse_args()
    if not a.off_builddir:
        print('1..0 # SKIP no -Dmetrics=false build: set ANYD_METRICS_OFF_BUILDDIR or --off-builddir')
        return 77
    off = os.path.join(os.path.abspath(a.off_builddir), 'service', 'anyd')
    if not os.access(off, os.X_OK):
        print('1..0 # SKIP %s is not built' % off)
        return 77
    if os.getuid() != 0:
        print('1..0 # SKIP needs root')
        return 77

    anydtest.enter_namespaces(net=True)
    sb = anydtest.Sandbox(start_anyd=False, name='bench-metrics')
    on = sb.anyd_path
    res = {v: {'lat': [], 'tput': [], 'cpu': []} for v in ('on', 'off')}
    metrics_lat, info_lat = [], []
    with sb:
        sb.write_config(CONFIG)
        for r in range(a.rounds):
            order = ('on', 'off') if r % 2 == 0 else ('off', 'on')
            for variant in order:
                sb.anyd_path = on if variant == 'on' else off
                sb.start_anyd()
                time.sleep(0.2)
                lat = latency(a.call_path, a.target, a.calls, a.seconds * 2)
                res[variant]['lat'].append(statistics.median(lat))
                tput, cpu = throughput(a.call_path, a.target, a.seconds, sb.anyd.pid)
                res[variant]['tput'].append(tput)
                res[variant]['cpu'].append(cpu)
                if variant == 'on':
                    metrics_lat.append(statistics.median(latency(a.call_path, 'metrics', 500, a.seconds)))
                    info_lat.append(statistics.median(latency(a.call_path, 'public', 500, a.seconds)))
                sb.stop_anyd()
                print('# round %d %-3s  gated warm median %.1f us  8-caller %.0f calls/s  anyd CPU %.1f us/call'
                      % (r + 1, variant, res[variant]['lat'][-1], res[variant]['tput'][-1],
                         res[variant]['cpu'][-1]))
                sys.stdout.flush()
        ir = {}
        if not a.no_callgrind and shutil.which('valgrind'):
            for variant in ('on', 'off'):
                ir[variant] = instructions(sb, on if variant == 'on' else off, a.call_path, a.target)
                print('# callgrind %-3s %.0f instructions per call' % (variant, ir[variant]))
                sys.stdout.flush()

    def med(x):
        return statistics.median(x)
    lat_ratio = med(res['on']['lat']) / med(res['off']['lat'])
    tput_ratio = med(res['on']['tput']) / med(res['off']['tput'])
    m_ratio = med(metrics_lat) / med(info_lat)
    print()
    print('gated call, warm latency (median of round medians):  on %.1f us   off %.1f us   on/off %.3f'
          % (med(res['on']['lat']), med(res['off']['lat']), lat_ratio))
    print('gated calls, 8 callers (median of rounds):            on %.0f/s   off %.0f/s   on/off %.3f'
          % (med(res['on']['tput']), med(res['off']['tput']), tput_ratio))
    print('anyd CPU time per gated call (8 callers; load-independent):  on %.2f us   off %.2f us   on/off %.3f'
          % (med(res['on']['cpu']), med(res['off']['cpu']), med(res['on']['cpu']) / med(res['off']['cpu'])))
    if ir:
        print('anyd instructions per gated call (callgrind, exact):  on %.0f   off %.0f   on/off %.4f'
              % (ir['on'], ir['off'], ir['on'] / ir['off']))
    print('GetMetrics %.1f us vs GetCallerInfo %.1f us: ratio %.2f' % (med(metrics_lat), med(info_lat), m_ratio))
    # Between rounds of one and the same build, wall-clock numbers move by
    # what else runs on the machine; differences below that say nothing.
    noise = max(statistics.pstdev(res[v][k]) / statistics.mean(res[v][k])
                for v in ('on', 'off') for k in ('lat', 'tput'))
    print('best rounds: latency on %.1f us off %.1f us (%.3f); throughput on %.0f/s off %.0f/s (%.3f)'
          % (min(res['on']['lat']), min(res['off']['lat']), min(res['on']['lat']) / min(res['off']['lat']),
             max(res['on']['tput']), max(res['off']['tput']), max(res['on']['tput']) / max(res['off']['tput'])))
    print('wall-clock spread between rounds of one build: %.1f %%' % (noise * 100))
    wall_ok = lat_ratio <= 1.03 and tput_ratio >= 0.97
    exact_ok = (not ir or ir['on'] / ir['off'] <= 1.03)
    if not wall_ok and noise > 0.03:
        print('wall-clock targets (latency <= 1.03, throughput >= 0.97): not resolved on this machine '
              '(spread above 3 %); instructions per call decide')
        wall_ok = exact_ok and bool(ir)
    ok = wall_ok and exact_ok and m_ratio <= 2.0
    print('targets (latency <= 1.03, throughput >= 0.97, instructions <= 1.03, GetMetrics <= 2x GetCallerInfo): %s'
          % ('met' if ok else 'MISSED'))
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == '__main__':
    rc = main()
    sys.stdout.flush()
    os._exit(rc)
