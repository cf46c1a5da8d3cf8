#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The original Python anyd's transport, measured for bench/call-path: a
# minimal stand-in written for this benchmark (not the original's code) --
# a multiprocessing.connection Listener with an authkey and a listen backlog
# of 16, one echo endpoint, no authorization per call, and clients doing
# sequential calls over one connection each.  Pickle over a socket, as the
# original did.
#
#   python-anyd-baseline.py [--seconds S] [--calls N] [--clients K]
#
# prints a short report and, last, one line "RESULTS key=value ..." for
# bench/call-path.  Internal modes: --serve, --client.

import argparse
import multiprocessing.connection as mpc
import os
import statistics
import subprocess
import sys
import threading
import time

BACKLOG = 16


def serve(authkey, ready_fd):
    listener = mpc.Listener(('127.0.0.1', 0), backlog=BACKLOG, authkey=authkey)
    os.write(ready_fd, ('%d\n' % listener.address[1]).encode())
    os.close(ready_fd)

    def handle(conn):
        try:
            while True:
                request = conn.recv()
                conn.send(('ok', request))     # the echo endpoint
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    while True:
        try:
            conn = listener.accept()           # the authkey handshake runs here
        except (OSError, EOFError, mpc.AuthenticationError):
            continue
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def client(port, authkey, mode, amount):
    t0 = time.perf_counter()
    try:
        conn = mpc.Client(('127.0.0.1', port), authkey=authkey)
    except OSError as e:
        print('refused %s' % e, flush=True)
        return
    connect_s = time.perf_counter() - t0
    for _ in range(50):                         # warm up
        conn.send(('echo', 'x'))
        conn.recv()
    print('ready %.6f' % connect_s, flush=True)
    sys.stdin.readline()                        # start together
    if mode == 'latency':
        lat = []
        for _ in range(amount):
            t = time.perf_counter()
            conn.send(('echo', 'x'))
            conn.recv()
            lat.append(time.perf_counter() - t)
        print('lat ' + ' '.join('%.1f' % (x * 1e6) for x in lat), flush=True)
    else:
        n = 0
        t = time.perf_counter()
        end = t + amount
        while time.perf_counter() < end:
            conn.send(('echo', 'x'))
            conn.recv()
            n += 1
        print('count %d %.6f' % (n, time.perf_counter() - t), flush=True)
    conn.close()


def spawn_clients(port, authkey, mode, amount, k):
    env = dict(os.environ, ANYD_BENCH_AUTHKEY=authkey.hex())
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), '--client', str(port),
                               mode, str(amount)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                              universal_newlines=True) for _ in range(k)]
    refused = 0
    ok = []
    connect_times = []
    for p in procs:
        line = p.stdout.readline().split()
        if not line or line[0] != 'ready':
            refused += 1
            continue
        connect_times.append(float(line[1]))
        ok.append(p)
    for p in ok:
        p.stdin.write('go\n')
        p.stdin.flush()
    out = [p.stdout.readline().split() for p in ok]
    for p in procs:
        p.wait()
    return out, refused, connect_times


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seconds', type=float, default=2.0)
    ap.add_argument('--calls', type=int, default=5000)
    ap.add_argument('--clients', type=int, default=8)
    ap.add_argument('--storm', type=int, default=0,
                    help='also connect this many clients at once (e.g. 64: backlog overflow)')
    ap.add_argument('--serve', action='store_true')
    ap.add_argument('--client', nargs=3)
    a = ap.parse_args()

    if a.serve:
        serve(bytes.fromhex(os.environ['ANYD_BENCH_AUTHKEY']), 1)
        return
    if a.client:
        client(int(a.client[0]), bytes.fromhex(os.environ['ANYD_BENCH_AUTHKEY']), a.client[1],
               float(a.client[2]) if a.client[1] == 'throughput' else int(a.client[2]))
        return

    authkey = os.urandom(32)
    r, w = os.pipe()
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--serve'],
                              stdout=w, env=dict(os.environ, ANYD_BENCH_AUTHKEY=authkey.hex()),
                              pass_fds=(w,))
    os.close(w)
    port = int(os.fdopen(r).readline())
    try:
        out, _, _ = spawn_clients(port, authkey, 'latency', a.calls, 1)
        lat = [float(x) for x in out[0][1:]]
        out, refused, _ = spawn_clients(port, authkey, 'throughput', a.seconds, a.clients)
        rate = sum(int(o[1]) / float(o[2]) for o in out if o and o[0] == 'count')
        storm_refused, storm_max_connect = 0, 0.0
        if a.storm:
            # many clients arriving at once, as at boot or from a script loop
            out, storm_refused, ct = spawn_clients(port, authkey, 'throughput', 0.1, a.storm)
            storm_max_connect = max(ct) if ct else 0.0
    finally:
        server.kill()
        server.wait()

    print('python anyd baseline (multiprocessing.connection, authkey, backlog %d, %s)'
          % (BACKLOG, sys.version.split()[0]))
    print('  round trip us: min %.1f  median %.1f  p99 %.1f  (%d sequential calls)'
          % (min(lat), statistics.median(lat), pct(lat, 0.99), len(lat)))
    print('  %d clients, sequential calls: %.0f calls/s%s'
          % (a.clients, rate, ', %d refused' % refused if refused else ''))
    if a.storm:
        print('  %d clients connecting at once: %d failed, slowest connect %.0f ms'
              % (a.storm, storm_refused, storm_max_connect * 1e3))
    print('RESULTS py_rtt_min_us=%.1f py_rtt_med_us=%.1f py_rtt_p99_us=%.1f py_tput_%d=%.0f '
          'py_refused=%d'
          % (min(lat), statistics.median(lat), pct(lat, 0.99), a.clients, rate, refused))


if __name__ == '__main__':
    main()
