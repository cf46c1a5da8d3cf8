#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# systemd_sandbox.py: a REAL systemd manager inside the anydtest sandbox,
# owning org.freedesktop.systemd1 on the sandbox's system bus (tests/README.md,
# "The sandbox"):
#
#   * `/lib/systemd/systemd --user` runs as root with XDG_RUNTIME_DIR=/run/user/0
#     (on the sandbox's tmpfs /run); its "user bus" /run/user/0/bus is a
#     symlink to the sandbox's system bus socket, so the manager takes its
#     well-known name there, where anyd looks for it;
#   * it requests the name only once it believes D-Bus is up, so a dummy
#     dbus.socket/dbus.service pair is written and started first;
#   * test units live in /run/user/0/systemd/user.control (a unit search path
#     of the user manager); write_unit() adds one and reloads the manager.
#
# systemctl --user reaches this manager over its private socket
# (/run/user/0/systemd/private), which the bench uses as the baseline.
#
#     from systemd_sandbox import SystemdManager
#     sd = SystemdManager(sb); sd.start()
#     sd.write_unit('demo.service', '[Service]\nExecStart=/bin/sleep infinity\n')
#     sd.main_pid('demo.service')

import os
import shutil
import subprocess
import time
import uuid

import anydtest
from anydtest import wait_until
from gi.repository import Gio, GLib

SYSTEMD = '/lib/systemd/systemd'
NAME = 'org.freedesktop.systemd1'
PATH = '/org/freedesktop/systemd1'
MANAGER = 'org.freedesktop.systemd1.Manager'
UNIT = 'org.freedesktop.systemd1.Unit'
SERVICE = 'org.freedesktop.systemd1.Service'
RUNTIME = '/run/user/0'
UNIT_DIR = RUNTIME + '/systemd/user.control'

CGROUP_ROOTS = ('/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified')
# On the v1 hierarchies a manager limits memory, tasks and CPU only below
# its own cgroup of each controller: join these too to have limits enforced.
CONTROLLER_ROOTS = ('/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/cpu,cpuacct',
                    '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpuacct')

# Test units restart many times in a row: no start rate limit.
UNIT_HEADER = '[Unit]\nStartLimitIntervalSec=0\n'


def unit_path(unit):
    """systemd's object path of a unit (bus_label_escape: a leading digit
    is escaped too)."""
    out = []
    for i, b in enumerate(unit.encode()):
        c = chr(b)
        if ('a' <= c <= 'z') or ('A' <= c <= 'Z') or (i > 0 and '0' <= c <= '9'):
            out.append(c)
        else:
            out.append('_%02x' % b)
    return PATH + '/unit/' + (''.join(out) or '_')


class SystemdManager:
    def __init__(self, sb, clean_env=False, controllers=False):
        self.sb = sb
        self.proc = None
        self.roots = CGROUP_ROOTS + (CONTROLLER_ROOTS if controllers else ())
        self.env = anydtest.base_env({'XDG_RUNTIME_DIR': RUNTIME})
        if clean_env:
            # Transient units inherit the manager's environment: with the
            # harness's, every command would see it (env -i, then the few
            # variables the manager needs).
            self.env = {'XDG_RUNTIME_DIR': RUNTIME, 'LANG': 'C.UTF-8',
                        'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'}

    # -- lifetime --

    def available(self):
        return os.access(SYSTEMD, os.X_OK) and shutil.which('systemctl') is not None

    def start(self, timeout=20):
        if not self.available():
            raise anydtest.Skip('no %s / systemctl' % SYSTEMD)
        os.makedirs('/run/systemd/system', exist_ok=True)
        os.makedirs(UNIT_DIR, exist_ok=True)
        os.chmod(RUNTIME, 0o700)
        bus_link = os.path.join(RUNTIME, 'bus')
        if not os.path.lexists(bus_link):
            os.symlink('/run/dbus/system_bus_socket', bus_link)
        self._write(UNIT_DIR + '/dbus.socket', '[Socket]\nListenStream=%s/dummybus\n' % RUNTIME)
        self._write(UNIT_DIR + '/dbus.service', '[Service]\nExecStart=/bin/sleep infinity\n')
        private = RUNTIME + '/systemd/private'
        if os.path.exists(private):
            os.unlink(private)
        # The manager puts units below its own cgroup. The host's cgroup
        # trees are shared by every sandbox, so give each manager a cgroup
        # of its own: another test run's demo.service must not be ours.
        # The directory is made by the shell that enters it: an empty cgroup
        # may be pruned by whatever manages the host's cgroups.
        self.cgroups = []
        enter = ''
        tag = 'anyd-test-%s' % uuid.uuid4().hex[:12]
        for root in self.roots:
            if os.path.isdir(root) and os.access(root, os.W_OK) and \
                    os.path.realpath(root) == root:
                d = os.path.join(root, tag)
                self.cgroups.append(d)
                enter += ('for i in 1 2 3 4 5; do mkdir -p %(d)s; '
                          'echo $$ 2>/dev/null > %(d)s/cgroup.procs && break; done; '
                          'grep -q %(tag)s /proc/self/cgroup || exit 97; ' % {'d': d, 'tag': tag})
        self.proc = subprocess.Popen(['/bin/sh', '-c', enter + 'exec "$@"', 'sh',
                                      SYSTEMD, '--user', '--log-target=console'],
                                     env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.sb.log('systemd.log'), stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd='/')
        self.sb.procs.append(self.proc)

        def private_up():
            if self.proc.poll() is not None:
                raise RuntimeError('systemd --user exited with %s; see %s/systemd.log'
                                   % (self.proc.returncode, self.sb.logdir))
            return os.path.exists(private)
        wait_until(private_up, timeout, what='systemd --user private socket')
        self.systemctl('start', 'dbus.socket', 'dbus.service', check=True)
        wait_until(lambda: self.sb.has_owner(NAME), timeout, what='systemd to own ' + NAME)
        return self

    def stop(self, timeout=10):
        """Stop the manager (its units' processes die with it)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        wait_until(lambda: not self.sb.has_owner(NAME), timeout, what=NAME + ' to vanish')
        self.remove_cgroups()

    def kill(self, timeout=10):
        """SIGKILL the manager, as a crash would; then end what it left
        running in its cgroups (nobody else will)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.kill()
        self.proc.wait()
        for d in getattr(self, 'cgroups', []):
            for dirpath, _dirs, files in os.walk(d):
                if 'cgroup.procs' in files:
                    with open(os.path.join(dirpath, 'cgroup.procs')) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), 9)
                            except (ProcessLookupError, ValueError):
                                pass
        wait_until(lambda: not self.sb.has_owner(NAME), timeout, what=NAME + ' to vanish')
        # our pid-1 process inherits the orphans: reap them before rmdir
        wait_until(self._reap_and_empty, timeout, what='the manager\'s cgroups to empty')
        self.remove_cgroups()

    def _reap_and_empty(self):
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        for d in getattr(self, 'cgroups', []):
            for dirpath, _dirs, files in os.walk(d):
                if 'cgroup.procs' in files:
                    with open(os.path.join(dirpath, 'cgroup.procs')) as f:
                        if f.read().strip():
                            return False
        return True

    def remove_cgroups(self):
        for d in getattr(self, 'cgroups', []):
            for dirpath, _dirs, _files in sorted(os.walk(d), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    # -- units --

    def _write(self, path, text):
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, path)

    def write_unit(self, name, text, reload=True, header=True):
        """Add or replace a unit file; reloads the manager unless reload=False."""
        self._write(os.path.join(UNIT_DIR, name), (UNIT_HEADER if header else '') + text)
        if reload:
            self.daemon_reload()

    def remove_unit(self, name, reload=True):
        try:
            os.unlink(os.path.join(UNIT_DIR, name))
        except FileNotFoundError:
            pass
        if reload:
            self.daemon_reload()

    def daemon_reload(self):
        # Manager.Reload answers once the reload is done.
        self.call(PATH, MANAGER, 'Reload', timeout=30)

    # -- D-Bus, as root from the test process --

    def call(self, path, iface, method, signature='()', args=(), timeout=15):
        v = self.sb.bus.call_sync(NAME, path, iface, method,
                                  anydtest._variant_args(signature, args), None,
                                  Gio.DBusCallFlags.NO_AUTO_START, int(timeout * 1000), None)
        r = v.unpack()
        return r[0] if len(r) == 1 else (r if r else None)

    def prop(self, unit, name, iface=UNIT):
        return self.call(unit_path(unit), 'org.freedesktop.DBus.Properties', 'Get', '(ss)',
                         (iface, name))

    def active_state(self, unit):
        return self.prop(unit, 'ActiveState')

    def state(self, unit):
        return (self.prop(unit, 'ActiveState'), self.prop(unit, 'SubState'))

    def main_pid(self, unit):
        return self.prop(unit, 'MainPID', SERVICE)

    def wait_state(self, unit, active, timeout=10):
        return wait_until(lambda: self.active_state(unit) == active, timeout,
                          what='%s to be %s' % (unit, active))

    def reset(self, unit):
        """Stop the unit and clear a failed state, directly through systemd."""
        try:
            self.systemctl('stop', unit)
            self.systemctl('reset-failed', unit)
        except Exception:
            pass

    def systemctl(self, *args, check=False, timeout=60):
        r = subprocess.run(['systemctl', '--user', '--no-pager'] + list(args), env=self.env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, cwd='/')
        out = r.stdout.decode(errors='replace')
        if check and r.returncode != 0:
            raise RuntimeError('systemctl --user %s -> %d: %s' % (' '.join(args), r.returncode, out))
        return r.returncode, out


class SignalCollector:
    """Collects a D-Bus signal on the test process's own (root) connection
    to the sandbox bus; wait() iterates the default main context."""

    def __init__(self, bus, sender, iface, member, path=None):
        self.bus = bus
        self.items = []
        self.sub = bus.signal_subscribe(sender, iface, member, path, None,
                                        Gio.DBusSignalFlags.NONE, self._on, None)

    def _on(self, conn, sender, path, iface, member, params, _data):
        self.items.append(params.unpack())

    def pump(self, seconds=0.0):
        ctx = GLib.MainContext.default()
        end = time.monotonic() + seconds
        while True:
            while ctx.iteration(False):
                pass
            if time.monotonic() >= end:
                return
            time.sleep(0.01)

    def wait(self, pred, timeout=10.0, what='signal', since=0):
        """The first signal (args tuple) from index `since` on for which
        pred(args) is true."""
        end = time.monotonic() + timeout
        while True:
            self.pump()
            for it in self.items[since:]:
                if pred(it):
                    return it
            if time.monotonic() > end:
                raise TimeoutError('no %s within %.1fs; got %r' % (what, timeout, self.items))
            time.sleep(0.01)

    def close(self):
        if self.sub:
            self.bus.signal_unsubscribe(self.sub)
            self.sub = 0
