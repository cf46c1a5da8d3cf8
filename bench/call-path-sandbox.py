#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The sandbox bench/call-path runs in: the one the integration tests use
# (tests/anydtest.py: private mount+pid+net namespaces, a private system
# bus with the project's bus policy, the real polkitd with the test rules),
# without anyd (the benchmark starts it, with its audit records going to a
# file rather than through a pipe), on dbus-daemon or on dbus-broker.
#
#   call-path-sandbox.py --bus dbus-daemon|dbus-broker --builddir DIR
#                        --results FILE -- PROGRAM ARGS...
#
# dbus-broker without systemd: dbus-broker-launch only needs its listening
# socket passed the systemd way (systemd-socket-activate does that) and a
# journal socket to log to (a datagram socket this script binds and
# drains); it then runs dbus-broker --controller itself.

import argparse
import collections
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests'))

import anydtest  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

ECHO_POLICY = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- bench/call-path's echo server: the same policy as org.anyd1.conf -->
<busconfig>
  <policy user="root">
    <allow own="org.anyd1.bench.Echo"/>
    <allow send_destination="org.anyd1.bench.Echo"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.anyd1.bench.Echo"/>
  </policy>
</busconfig>
'''


class BrokerSandbox(anydtest.Sandbox):
    """The test sandbox with dbus-broker as the system bus."""

    def start_bus(self):
        pol = self.find_bus_policy()
        if pol is None:
            raise FileNotFoundError('no bus policy org.anyd1.conf in build or source tree')
        self.bus_policy = pol
        shutil.copy(pol, os.path.join(anydtest.WORK, 'dbus.d', 'org.anyd1.conf'))
        conf = os.path.join(anydtest.WORK, 'system-bus.conf')
        with open(conf, 'w') as f:
            # the harness's own bus config; no <servicedir> (activation would
            # need systemd), and placeholders added later stay empty
            f.write(anydtest.BUS_CONFIG % collections.defaultdict(str, {
                'ours': anydtest.WORK + '/dbus.d', 'extra': self.bus_extra}))
        os.makedirs('/run/systemd/journal', exist_ok=True)
        journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        journal.bind('/run/systemd/journal/socket')
        log = self.log('dbus-broker.log')

        def drain():
            while True:
                data = journal.recv(65536)
                for field in data.split(b'\n'):
                    if field.startswith(b'MESSAGE='):
                        log.write(field[8:] + b'\n')
        threading.Thread(target=drain, daemon=True).start()
        p = subprocess.Popen(['systemd-socket-activate', '-l', '/run/dbus/system_bus_socket',
                              'dbus-broker-launch', '--scope', 'system', '--config-file', conf],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append(p)
        deadline = time.monotonic() + 15
        # the socket systemd-socket-activate made follows the umask; a system
        # bus socket must let every uid connect (polkitd drops to its user)
        while not os.path.exists('/run/dbus/system_bus_socket'):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('systemd-socket-activate did not listen')
            time.sleep(0.01)
        os.chmod('/run/dbus/system_bus_socket', 0o666)
        while True:
            try:
                self.bus = Gio.DBusConnection.new_for_address_sync(
                    anydtest.BUS_ADDRESS, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
                break
            except GLib.Error:
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('dbus-broker did not start; see %s/dbus-broker.log'
                                       % self.logdir)
                time.sleep(0.05)
        self.bus.set_exit_on_close(False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bus', choices=('dbus-daemon', 'dbus-broker'), default='dbus-daemon')
    ap.add_argument('--builddir', default=None)
    ap.add_argument('--results', default=None)
    ap.add_argument('program', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    prog = a.program[1:] if a.program[:1] == ['--'] else a.program
    if not prog:
        ap.error('no program to run')

    anydtest.enter_namespaces(net=True)       # re-runs this script as pid 1 inside
    cls = BrokerSandbox if a.bus == 'dbus-broker' else anydtest.Sandbox
    sb = cls(build=a.builddir, start_anyd=False, name='bench-call-path-' + a.bus)
    rc = 1
    with sb:
        sb.add_bus_policy('anyd-bench-echo.conf', ECHO_POLICY)
        # $ANYD_BENCH_ANYD: another anyd binary (e.g. one built from an older
        # commit, for before/after) with this tree's policies and config
        env = sb.anyd_env({'ANYD_BENCH_ANYD': os.environ.get('ANYD_BENCH_ANYD') or sb.anyd_path,
                           'ANYD_BENCH_CONFDIR': sb.confdir,
                           'ANYD_BENCH_LOGDIR': sb.logdir,
                           'ANYD_BENCH_BUS': '%s (%s)' % (a.bus, bus_version(a.bus)),
                           'ANYD_BENCH_RESULTS': a.results or ''})
        if os.environ.get('ANYD_BENCH_NO_LIMITS'):    # a baseline anyd without [limits]
            env['ANYD_BENCH_NO_LIMITS'] = '1'
        if os.environ.get('ANYD_BENCH_PERF_DIR'):     # call-path: perf profiles of anyd
            env['ANYD_BENCH_PERF_DIR'] = os.environ['ANYD_BENCH_PERF_DIR']
        sys.stdout.flush()
        rc = subprocess.call(prog, env=env)
    sys.stdout.flush()
    os._exit(rc)


def bus_version(bus):
    try:
        out = subprocess.run([bus, '--version'], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=5).stdout.decode()
        return out.split('\n')[0].split()[-1]
    except Exception:
        return '?'


if __name__ == '__main__':
    main()
