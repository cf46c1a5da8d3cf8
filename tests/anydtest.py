#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# anydtest.py: the sandbox every anyd integration test runs in.
#
# A test file does
#
#     import anydtest
#     from anydtest import case, ALLOWED, DENIED, CHALLENGE, ROOT
#
#     @case('Reload as the allowed uid')
#     def _(sb):
#         sb.call(ALLOWED, '/org/anyd1', 'org.anyd1.Manager', 'Reload')
#
#     anydtest.main()
#
# main() re-executes the file (as root) under
#     unshare -m -p -f --mount-proc [-n] --kill-child /usr/bin/python3 FILE
# so it runs as pid 1 of private mount + pid (+ net) namespaces, then builds
# the sandbox in-process (see tests/README.md):
#   * a tmpfs on /run;
#   * a private dbus-daemon as THE system bus (unix:path=/run/dbus/system_bus_socket)
#     with a test config that includes our data/dbus-1/system.d/org.anyd1.conf
#     and the stock /usr/share/dbus-1/system.d (polkit's policy);
#   * the real /usr/lib/polkit-1/polkitd, reading our built org.anyd1.policy
#     and every module's org.anyd1.<module>.policy (a directory
#     bind-mounted over /usr/share/polkit-1/actions) and test
#     rules from a tmpfs over /etc/polkit-1/rules.d:
#         uid 65534 (nobody) ALLOWED   -> polkit.Result.YES for org.anyd1.*
#         uid 2     (bin)    DENIED    -> polkit.Result.NO
#         uid 1     (daemon) CHALLENGE -> polkit.Result.AUTH_ADMIN (password)
#         uid 0     (root)   always authorized by polkit itself;
#   * anyd from the build tree, with a config directory the test can write.
# Each case runs in order in that one sandbox and prints one TAP line.  When
# pid 1 exits, the kernel kills everything left in the namespace.
#
# Callers as other uids run tests/caller.py under setpriv; each keeps one bus
# connection open (sb.connect(uid)) so a test can hold it, make calls in
# parallel, pass fds, register a polkit agent that never answers, and close.
#
# Environment: ANYD_BUILDDIR (default: <src>/build), ANYD_SRCDIR, ANYD_POLICY
# (built .policy), ANYD_BUS_POLICY, ANYD_TEST_ONLY (substring: run only
# matching cases), ANYD_TEST_KEEP_LOGS.  Logs of dbus-daemon, polkitd and
# anyd go to <builddir>/meson-logs/anydtest/<test-file>/.
#
# Run as a program it gives the sandbox to people:
#     /usr/bin/python3 tests/anydtest.py [--builddir DIR] [shell|demo]

import array
import glob
import json
import os
import stat
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback

import gi

gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

# ---- fixed names ------------------------------------------------------------

ROOT = 0
ALLOWED = 65534     # nobody: polkit.Result.YES for every org.anyd1.* action
DENIED = 2          # bin:    polkit.Result.NO
CHALLENGE = 1       # daemon: polkit.Result.AUTH_ADMIN (would need a password)
TEST_UIDS = (ROOT, ALLOWED, DENIED, CHALLENGE)

BUS_NAME = 'org.anyd1'
MANAGER_PATH = '/org/anyd1'
MANAGER_IFACE = 'org.anyd1.Manager'
ERROR_PREFIX = 'org.anyd1.Error.'
POLKIT_NAME = 'org.freedesktop.PolicyKit1'
BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket'

SANDBOX_ENV = 'ANYD_TEST_SANDBOX'
WORK = '/run/anyd-test'             # on the sandbox's tmpfs /run
TEST_RULES_NAME = '10-anyd-test.rules'
PYTHON = '/usr/bin/python3'         # not the pyenv one on PATH: it has no gi
HERE = os.path.dirname(os.path.abspath(__file__))   # tests/ (also for tests in tests/<module>/)

SANITIZER_RE = re.compile(r'(ERROR: AddressSanitizer|ERROR: LeakSanitizer|'
                          r'runtime error:|SUMMARY: UndefinedBehaviorSanitizer|'
                          r'-CRITICAL \*\*|-ERROR \*\*)')


def srcdir():
    return os.environ.get('ANYD_SRCDIR') or os.path.dirname(HERE)


def builddir():
    return os.environ.get('ANYD_BUILDDIR') or os.path.join(srcdir(), 'build')


def user_name(uid):
    return pwd.getpwuid(uid).pw_name


def user_gid(uid):
    return pwd.getpwuid(uid).pw_gid


def setpriv_prefix(uid):
    """argv prefix that runs the rest as uid with its primary gid, no groups."""
    if uid == 0:
        return []
    return ['setpriv', '--reuid=%d' % uid, '--regid=%d' % user_gid(uid),
            '--clear-groups']


def base_env(extra=None):
    env = {
        'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'LANG': 'C.UTF-8',
        'HOME': '/',
        'SYSTEMD_PAGER': 'cat',
        'SYSTEMD_COLORS': '0',
        'PYTHONDONTWRITEBYTECODE': '1',
    }
    for k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'G_DEBUG',
              'G_MESSAGES_DEBUG', 'TERM'):
        if k in os.environ:
            env[k] = os.environ[k]
    if extra:
        env.update(extra)
    return env


def tree_names(top):
    """Every name below `top` (directories too), relative to it."""
    names = set()
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            names.add(os.path.relpath(os.path.join(d, n), top))
    return names


def write_owned(path, data, mode=0o644, uid=0):
    """Write `data` to `path` with `mode`, owned by `uid` and its group."""
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, uid, user_gid(uid) if uid else 0)


def wait_until(pred, timeout=10.0, interval=0.02, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError('timed out after %.1fs waiting for %s' % (timeout, what))
        time.sleep(interval)


def slow(sb):
    """Time factor for waits and time limits: sanitizer builds run slower."""
    return 3.0 if sb.sanitized() else 1.0


# ---- namespaces -------------------------------------------------------------

class NotRoot(Exception):
    pass


def in_sandbox():
    return os.environ.get(SANDBOX_ENV) == '1' and os.getpid() == 1


def enter_namespaces(net=True, argv=None):
    """Re-exec this program as pid 1 of new mount+pid(+net) namespaces.

    Returns only when already inside.  Nothing must have been printed to
    stdout before (it would be printed twice)."""
    if in_sandbox():
        return
    if os.geteuid() != 0:
        raise NotRoot('the anyd sandbox needs root (unshare, mount, setpriv)')
    argv = list(argv if argv is not None else sys.argv)
    argv[0] = os.path.abspath(argv[0])
    cmd = ['/usr/bin/unshare', '--mount', '--pid', '--fork', '--kill-child',
           '--mount-proc']
    if net:
        cmd.append('--net')
    cmd += [PYTHON, '-u'] + argv
    env = dict(os.environ)
    env[SANDBOX_ENV] = '1'
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)


def enter_namespaces_or_skip(what, net=True):
    """enter_namespaces() for a benchmark: False, after printing that `what`
    is skipped, when not root."""
    try:
        enter_namespaces(net=net)
    except NotRoot as e:
        print('%s: skipped: %s' % (what, e))
        return False
    return True


# ---- errors and replies -----------------------------------------------------

class DBusError(Exception):
    """A D-Bus error reply: .name is the error name, .message the text."""

    def __init__(self, name, message):
        super().__init__('%s: %s' % (name, message))
        self.name = name
        self.message = message


def error_message(e):
    """The error's text without GDBus' "GDBus.Error:<name>: " prefix (the
    caller strips it already; this keeps a test independent of that)."""
    m = e.message or ''
    prefix = 'GDBus.Error:%s: ' % e.name
    return m[len(prefix):] if m.startswith(prefix) else m


def expect_error(names, fn, *a, **kw):
    """fn(*a, **kw) must fail with the D-Bus error `names` (one name or a
    tuple of them); returns the DBusError, its .message without the prefix."""
    if isinstance(names, str):
        names = (names,)
    try:
        fn(*a, **kw)
    except DBusError as e:
        e.message = error_message(e)
        assert e.name in names, 'expected %s, got %s: %s' % (' or '.join(names), e.name, e.message)
        return e
    raise AssertionError('expected %s, but the call succeeded' % ' or '.join(names))


def expect_anyd_error(name, fn, *a, contains=None, **kw):
    """fn(*a, **kw) must fail with org.anyd1.Error.<name>, its message holding
    `contains` (a string, or each of a list); returns the DBusError."""
    try:
        fn(*a, **kw)
    except DBusError as e:
        assert e.name == ERROR_PREFIX + name, '%s: expected %s, got %s: %s' % (a, name, e.name, e.message)
        for c in ([contains] if isinstance(contains, str) else (contains or [])):
            assert c in e.message, 'message %r lacks %r' % (e.message, c)
        return e
    raise AssertionError('call succeeded, expected %s' % name)


class Reply:
    def __init__(self, variant, fds):
        self.variant = variant        # GLib.Variant, a tuple
        self.fds = fds                # list of fds received (caller closes)

    @property
    def value(self):
        """None for no out args, the value for one, a tuple for several."""
        v = self.variant.unpack()
        if len(v) == 0:
            return None
        if len(v) == 1:
            return v[0]
        return v


def _variant_args(signature, args):
    if isinstance(args, GLib.Variant):
        return args
    sig = signature or '()'
    if not sig.startswith('('):
        sig = '(' + sig + ')'
    if args is None:
        args = ()
    if not isinstance(args, tuple):
        args = (args,)       # a single argument (a list is one 'a...' value)
    return GLib.Variant(sig, args)


# ---- a caller process running as some uid -----------------------------------

class Pending:
    def __init__(self, conn, rid):
        self.conn = conn
        self.id = rid

    def done(self):
        with self.conn.cond:
            return self.id in self.conn.replies

    def wait_raw(self, timeout=30.0):
        return self.conn._wait(self.id, timeout)

    def wait_full(self, timeout=30.0):
        msg, fds = self.wait_raw(timeout)
        if not msg.get('ok'):
            raise DBusError(msg.get('name'), msg.get('message'))
        v = GLib.Variant.parse(GLib.VariantType.new(msg['sig']), msg['result'], None, None)
        return Reply(v, fds)

    def wait(self, timeout=30.0):
        return self.wait_full(timeout).value


class Connection:
    """One process running as `uid` holding one system-bus connection."""

    def __init__(self, sb, uid):
        self.sb = sb
        self.uid = uid
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.proc = subprocess.Popen(
            setpriv_prefix(uid) + [PYTHON, '-u', sb.caller_py],
            stdin=child, stdout=subprocess.DEVNULL, stderr=None,
            env=base_env(), cwd='/', start_new_session=True)
        child.close()
        self.cond = threading.Condition()
        self.replies = {}
        self.fd_queue = []
        self.next_id = 1
        self.closed = False
        self.eof = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        hello = self._request({'op': 'hello'}).wait_raw(20)[0]
        if not hello.get('ok'):
            raise DBusError(hello.get('name'), hello.get('message'))
        self.pid = hello['pid']
        self.unique_name = hello['unique_name']

    def _read(self):
        buf = b''
        while True:
            try:
                data, anc, _f, _a = self.sock.recvmsg(65536, socket.CMSG_SPACE(64 * 4))
            except OSError:
                data, anc = b'', []
            for level, typ, raw in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array('i')
                    a.frombytes(raw[:len(raw) - len(raw) % a.itemsize])
                    self.fd_queue.extend(a)
            if not data:
                with self.cond:
                    self.eof = True
                    self.cond.notify_all()
                return
            buf += data
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                msg = json.loads(line)
                n = msg.get('nfds', 0) if msg.get('ok') else 0
                fds, self.fd_queue = self.fd_queue[:n], self.fd_queue[n:]
                with self.cond:
                    self.replies[msg['id']] = (msg, fds)
                    self.cond.notify_all()

    def _request(self, req, fds=()):
        if self.closed:
            raise RuntimeError('connection of uid %d is closed' % self.uid)
        with self.cond:
            rid = self.next_id
            self.next_id += 1
        req = dict(req, id=rid)
        data = (json.dumps(req) + '\n').encode()
        if fds:
            self.sock.sendmsg([data[:1]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                            array.array('i', fds))])
            self.sock.sendall(data[1:])
        else:
            self.sock.sendall(data)
        return Pending(self, rid)

    def _wait(self, rid, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while rid not in self.replies:
                if self.eof:
                    raise RuntimeError('caller process (uid %d) went away' % self.uid)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError('no reply from caller (uid %d) within %.1fs'
                                       % (self.uid, timeout))
                self.cond.wait(left)
            return self.replies.pop(rid)

    # -- public API --

    def call_async(self, path, iface, method, signature='()', args=(),
                   interactive=False, timeout=25.0, fds=None, dest=BUS_NAME,
                   reply_signature=None, no_auto_start=False):
        """Start a call; returns a Pending (.wait(), .wait_full(), .done())."""
        v = _variant_args(signature, args)
        fds = list(fds or [])
        req = {'op': 'call', 'dest': dest, 'path': path, 'iface': iface,
               'method': method, 'sig': v.get_type_string(), 'args': v.print_(True),
               'interactive': bool(interactive), 'nfds': len(fds),
               'timeout_ms': -1 if timeout is None else int(timeout * 1000),
               'reply_sig': reply_signature, 'no_auto_start': no_auto_start}
        return self._request(req, fds)

    def call_full(self, *a, **kw):
        t = kw.get('timeout', 25.0)
        return self.call_async(*a, **kw).wait_full((t or 3600) + 10)

    def call(self, *a, **kw):
        """Call and wait; returns None / the value / a tuple; raises DBusError."""
        return self.call_full(*a, **kw).value

    def get_property(self, path, iface, name, dest=BUS_NAME):
        return self.call(path, 'org.freedesktop.DBus.Properties', 'Get', '(ss)',
                         (iface, name), dest=dest)

    def get_all_properties(self, path, iface, dest=BUS_NAME):
        return self.call(path, 'org.freedesktop.DBus.Properties', 'GetAll', '(s)',
                         (iface,), dest=dest)

    def bus_call(self, method, signature='()', args=()):
        """A call to the bus driver (org.freedesktop.DBus)."""
        return self.call('/org/freedesktop/DBus', 'org.freedesktop.DBus', method,
                         signature, args, dest='org.freedesktop.DBus')

    def register_hanging_agent(self, locale='C'):
        """Register a polkit authentication agent for this caller's own process
        (unix-process subject: pid + start-time) whose BeginAuthentication
        never completes."""
        msg, _ = self._request({'op': 'register_agent', 'locale': locale}).wait_raw(20)
        if not msg.get('ok'):
            raise DBusError(msg.get('name'), msg.get('message'))
        return msg

    def register_dismissing_agent(self, locale='C'):
        """Like register_hanging_agent, but the agent answers every
        BeginAuthentication at once as dismissed (the user closed the dialog)."""
        msg, _ = self._request({'op': 'register_agent', 'locale': locale,
                                'mode': 'dismiss'}).wait_raw(20)
        if not msg.get('ok'):
            raise DBusError(msg.get('name'), msg.get('message'))
        return msg

    def unregister_agent(self):
        msg, _ = self._request({'op': 'unregister_agent'}).wait_raw(20)
        if not msg.get('ok'):
            raise DBusError(msg.get('name'), msg.get('message'))

    def agent_state(self):
        """{'begun': [action ids of BeginAuthentication calls], 'cancelled': n}"""
        msg, _ = self._request({'op': 'agent_state'}).wait_raw(20)
        return msg

    def wait_agent_begun(self, count=1, timeout=10.0):
        return wait_until(lambda: len(self.agent_state()['begun']) >= count, timeout,
                          what='polkit to call BeginAuthentication on the agent')

    def close(self):
        """Close the bus connection and end the process."""
        if self.closed:
            return
        try:
            self._request({'op': 'close'}).wait_raw(5)
        except Exception:
            pass
        self.closed = True
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()

    def kill(self):
        """Kill the caller process (SIGKILL): the bus sees the name vanish."""
        self.closed = True
        self.proc.kill()
        self.proc.wait()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the sandbox ------------------------------------------------------------

TEST_RULES = '''// anyd test rules, written by tests/anydtest.py
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.anyd1.") != 0)
        return polkit.Result.NOT_HANDLED;
    if (subject.user == "%(allowed)s")
        return polkit.Result.YES;
    if (subject.user == "%(denied)s")
        return polkit.Result.NO;
    if (subject.user == "%(challenge)s")
        return polkit.Result.AUTH_ADMIN;
    return polkit.Result.NOT_HANDLED;
});
'''

BUS_CONFIG = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- the sandbox's system bus, written by tests/anydtest.py -->
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  %(listen_extra)s
  <auth>EXTERNAL</auth>
  %(servicedirs)s
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <includedir>%(ours)s</includedir>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  %(extra)s
</busconfig>
'''


def find_built(env, candidates, globs=()):
    """First existing file: $env, then candidates, then glob matches."""
    v = os.environ.get(env)
    if v and os.path.isfile(v):
        return v
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    for g in globs:
        m = sorted(glob.glob(g, recursive=True))
        if m:
            return m[0]
    return None


def make_inaccessible_nodes():
    """What PID 1 makes at boot and the manager mounts over what a unit must
    not see (ProtectHome=yes, ProtectKernelTunables=, ProtectKernelLogs=...):
    without these, such units fail with status 226/NAMESPACE."""
    d = '/run/systemd/inaccessible'
    if os.path.isdir(d):
        return
    os.makedirs(d)
    os.mkdir(d + '/dir', 0)
    open(d + '/reg', 'w').close()
    os.mknod(d + '/chr', stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(d + '/blk', stat.S_IFBLK, os.makedev(0, 0))
    os.mkfifo(d + '/fifo')
    s = socket.socket(socket.AF_UNIX)
    s.bind(d + '/sock')
    s.close()
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0)


class Sandbox:
    """The sandbox: bus + polkitd (+ anyd).  Use as a context manager, inside
    the namespaces (see enter_namespaces / main)."""

    def __init__(self, build=None, start_anyd=True, anyd_args=(), name=None,
                 net=True, config=None, bus_extra='', systemd=False):
        self.systemd = systemd
        self.builddir = os.path.abspath(build or builddir())
        self.srcdir = srcdir()
        self.start_anyd_on_enter = start_anyd
        self.default_anyd_args = list(anyd_args)
        self.name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
        self.net = net
        self.initial_config = config
        self.bus_extra = bus_extra
        self.procs = []
        self.polkit_policy = None
        self.polkit_policies = []    # every built anyd .policy, bind-mounted for polkitd
        self.anyd = None
        self.anyd_lines = []          # every line any anyd instance printed
        self.anyd_instances = []      # (Popen, [lines]) per start
        self.anyd_ready_seconds = None
        self.conns = {}
        self.all_conns = []
        self.lock = threading.Lock()
        self.logdir = os.path.join(self.builddir, 'meson-logs', 'anydtest', self.name)
        self.anyd_path = os.path.join(self.builddir, 'service', 'anyd')
        self.client_path = os.path.join(self.builddir, 'client', 'anyd-client')
        self.confdir = os.path.join(WORK, 'etc', 'anyd')
        self.statedir = os.path.join(WORK, 'state')
        self.runtimedir = os.path.join(WORK, 'runtime')
        self.rulesdir = '/etc/polkit-1/rules.d'
        self.bus = None

    # -- setup / teardown --

    def __enter__(self):
        if not in_sandbox():
            raise RuntimeError('Sandbox must be used inside enter_namespaces()')
        try:
            self.setup()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()

    def _run(self, argv, **kw):
        return subprocess.run(argv, check=True, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)

    def log(self, name):
        return open(os.path.join(self.logdir, name), 'ab', buffering=0)

    def setup(self):
        shutil.rmtree(self.logdir, ignore_errors=True)
        os.makedirs(self.logdir, exist_ok=True)
        self._run(['mount', '--make-rprivate', '/'])
        self._run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'anyd-test-run', '/run'])
        for d in ('/run/dbus', WORK, WORK + '/dbus.d', WORK + '/actions',
                  WORK + '/bin', WORK + '/services', self.confdir,
                  self.confdir + '/anyd.conf.d', self.statedir, self.runtimedir):
            os.makedirs(d, exist_ok=True)
        os.chmod(WORK, 0o755)
        if self.net and shutil.which('ip'):
            subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=False)
        self.private_tun_node()

        # helpers the callers run must be readable by every uid
        self.caller_py = os.path.join(WORK, 'caller.py')
        shutil.copy(os.path.join(HERE, 'caller.py'), self.caller_py)
        os.chmod(self.caller_py, 0o644)

        self.start_bus()
        self.setup_polkit()
        self.start_polkitd()
        if self.systemd:
            self.start_systemd()
        if self.initial_config is not None:
            self.write_config(self.initial_config)
        if self.start_anyd_on_enter:
            self.start_anyd()

    def private_tun_node(self):
        """Our own /dev/net/tun (char 10:200, mode 0666 as distributions ship
        it), bind-mounted over the host's inside this mount namespace, so
        that what an unprivileged owner may do never depends on how the
        host happens to have its node (0600 on some machines)."""
        if os.path.exists('/dev/net/tun'):
            node = os.path.join(WORK, 'dev-net-tun')
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
            os.chmod(node, 0o666)       # mknod honours the umask
            self._run(['mount', '--bind', node, '/dev/net/tun'])
        elif os.path.isdir('/dev/net'):
            # no node on the host (yet): a private /dev/net holding ours
            self._run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'anyd-test-devnet', '/dev/net'])
            os.mknod('/dev/net/tun', 0o666 | stat.S_IFCHR, os.makedev(10, 200))
            os.chmod('/dev/net/tun', 0o666)

    def teardown(self):
        for c in list(self.all_conns):
            try:
                c.close()
            except Exception:
                pass
        if self.anyd and self.anyd.poll() is None:
            try:
                self.stop_anyd(timeout=10)
            except Exception:
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.bus is not None:
            try:
                self.bus.close_sync(None)
            except GLib.Error:
                pass
            self.bus = None

    # -- the bus --

    def find_bus_policy(self):
        return find_built('ANYD_BUS_POLICY', [
            os.path.join(self.builddir, 'data', 'dbus-1', 'system.d', 'org.anyd1.conf'),
            os.path.join(self.builddir, 'data', 'org.anyd1.conf'),
            os.path.join(self.srcdir, 'data', 'dbus-1', 'system.d', 'org.anyd1.conf'),
        ], [os.path.join(self.builddir, 'data', '**', 'org.anyd1.conf')])

    def start_bus(self):
        pol = self.find_bus_policy()
        if pol is None:
            raise FileNotFoundError('no bus policy org.anyd1.conf in build or source tree')
        self.bus_policy = pol
        shutil.copy(pol, os.path.join(WORK, 'dbus.d', 'org.anyd1.conf'))
        conf = os.path.join(WORK, 'system-bus.conf')
        with open(conf, 'w') as f:
            listen_extra = ''
            if self.systemd:
                # systemd --user (our stand-in for PID 1) finds "its" bus here
                os.makedirs('/run/user/0', mode=0o700, exist_ok=True)
                listen_extra = '<listen>unix:path=/run/user/0/bus</listen>'
            f.write(BUS_CONFIG % {'ours': WORK + '/dbus.d', 'extra': self.bus_extra,
                                  'listen_extra': listen_extra,
                                  'servicedirs': '<servicedir>%s/services</servicedir>' % WORK})
        p = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork',
                              '--nopidfile', '--print-address=1'],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=self.log('dbus-daemon.log'), start_new_session=True)
        self.procs.append(p)
        r, _, _ = select.select([p.stdout], [], [], 10)
        line = p.stdout.readline() if r else b''
        if not line:
            raise RuntimeError('dbus-daemon did not start; see %s/dbus-daemon.log' % self.logdir)
        self.bus = Gio.DBusConnection.new_for_address_sync(
            BUS_ADDRESS, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.bus.set_exit_on_close(False)

    def bus_call(self, method, signature='()', args=(), timeout=10):
        """Call the bus driver as root from this (pid 1) process."""
        v = self.bus.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus',
                               'org.freedesktop.DBus', method,
                               _variant_args(signature, args), None,
                               Gio.DBusCallFlags.NONE, int(timeout * 1000), None)
        r = v.unpack()
        return r[0] if len(r) == 1 else r

    def name_owner_pid(self, name):
        try:
            return self.bus_call('GetConnectionUnixProcessID', '(s)', (name,))
        except GLib.Error:
            return None

    def has_owner(self, name):
        return self.bus_call('NameHasOwner', '(s)', (name,))

    def add_bus_policy(self, name, xml):
        """Add a <busconfig> file next to org.anyd1.conf and reload the bus."""
        with open(os.path.join(WORK, 'dbus.d', name), 'w') as f:
            f.write(xml)
        self.bus_call('ReloadConfig')

    def remove_bus_policy(self, name):
        os.unlink(os.path.join(WORK, 'dbus.d', name))
        self.bus_call('ReloadConfig')

    def install_activation(self, args=('--idle-timeout', '1'), log='activated-anyd.log', cmd=None):
        """Let the bus start anyd on demand: our built org.anyd1.service with
        Exec= pointing at the build tree (env and stderr redirected into the
        sandbox).  With no <servicehelper> in the test bus config, dbus-daemon
        starts it itself, as root.  cmd, if given, is the shell command
        of Exec= instead (e.g. 'exit 3': an activation that fails).
        Returns the log path of activated anyd."""
        src = find_built('ANYD_DBUS_SERVICE', [
            os.path.join(self.builddir, 'data', 'org.anyd1.service')])
        if src is None:
            raise FileNotFoundError('org.anyd1.service not built')
        logpath = os.path.join(self.logdir, log)
        env = ' '.join(shlex.quote('%s=%s' % kv) for kv in sorted(self.anyd_env().items()))
        if cmd is None:
            cmd = 'exec env -i %s %s 2>>%s' % (
                env, ' '.join(shlex.quote(a) for a in self.anyd_argv(list(args))), logpath)
        lines = []
        with open(src) as f:
            for line in f:
                if line.startswith('Exec='):
                    line = 'Exec=/bin/sh -c %s\n' % shlex.quote(cmd)
                lines.append(line)
        dst = os.path.join(WORK, 'services', 'org.anyd1.service')
        with open(dst, 'w') as f:
            f.writelines(lines)
        self.bus_call('ReloadConfig')
        return logpath

    def remove_activation(self):
        try:
            os.unlink(os.path.join(WORK, 'services', 'org.anyd1.service'))
        except FileNotFoundError:
            pass
        self.bus_call('ReloadConfig')

    # -- a systemd manager --

    SYSTEMD_UNIT_DIR = '/run/user/0/systemd/user.control'

    def systemctl(self, *args, check=True, timeout=30):
        """systemctl --user against the sandbox's manager; returns (rc, out)."""
        r = subprocess.run(['systemctl', '--user', '--no-pager'] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           env=base_env({'XDG_RUNTIME_DIR': '/run/user/0'}))
        out = r.stdout.decode(errors='replace')
        if check and r.returncode != 0:
            raise RuntimeError('systemctl --user %s: %d: %s' % (' '.join(args), r.returncode, out))
        return r.returncode, out

    def write_unit(self, name, text, reload=True):
        """Install a unit for the sandbox's systemd manager (then daemon-reload)."""
        with open(os.path.join(self.SYSTEMD_UNIT_DIR, name), 'w') as f:
            f.write(text)
        if reload:
            self.systemctl('daemon-reload')

    def start_systemd(self, timeout=20):
        """Run `systemd --user` as root so that it owns org.freedesktop.systemd1
        on the sandbox's system bus (needs Sandbox(systemd=True) for the
        second listen address).  Units go to SYSTEMD_UNIT_DIR (write_unit)."""
        if not self.systemd:
            raise RuntimeError('Sandbox(systemd=True) is needed for start_systemd()')
        os.makedirs('/run/systemd/system', exist_ok=True)
        os.makedirs(self.SYSTEMD_UNIT_DIR, exist_ok=True)
        make_inaccessible_nodes()
        # the manager only asks for its name once it believes D-Bus is up
        with open(os.path.join(self.SYSTEMD_UNIT_DIR, 'dbus.socket'), 'w') as f:
            f.write('[Socket]\nListenStream=/run/user/0/dummybus\n')
        with open(os.path.join(self.SYSTEMD_UNIT_DIR, 'dbus.service'), 'w') as f:
            f.write('[Service]\nExecStart=/bin/sleep infinity\n')
        p = subprocess.Popen(['/lib/systemd/systemd', '--user'], stdin=subprocess.DEVNULL,
                             stdout=self.log('systemd.log'), stderr=subprocess.STDOUT,
                             env=base_env({'XDG_RUNTIME_DIR': '/run/user/0'}),
                             start_new_session=True, cwd='/')
        self.procs.append(p)
        self.systemd_proc = p
        wait_until(lambda: os.path.exists('/run/user/0/systemd/private') or p.poll() is not None,
                   timeout, what='systemd --user to start')
        if p.poll() is not None:
            raise RuntimeError('systemd --user exited with %d; see %s/systemd.log'
                               % (p.returncode, self.logdir))
        self.systemctl('start', 'dbus.socket', 'dbus.service')
        wait_until(lambda: self.has_owner('org.freedesktop.systemd1'), timeout,
                   what='systemd to own org.freedesktop.systemd1')
        return p

    # -- polkit --

    def find_policy(self):
        return find_built('ANYD_POLICY', [
            os.path.join(self.builddir, 'data', 'polkit-1', 'actions', 'org.anyd1.policy'),
            os.path.join(self.builddir, 'data', 'org.anyd1.policy'),
        ], [os.path.join(self.builddir, 'data', '**', 'org.anyd1.policy'),
            os.path.join(self.srcdir, 'data', 'polkit-1', 'actions', 'org.anyd1.policy.in')])

    def find_policies(self):
        """Every built anyd .policy: the daemon's and each module's."""
        env = os.environ.get('ANYD_POLICIES')
        if env:
            return [p for p in env.split(':') if os.path.exists(p)]
        return sorted(glob.glob(os.path.join(self.builddir, 'data', 'org.anyd1*.policy')))

    def setup_polkit(self):
        actions = os.path.join(WORK, 'actions')
        for f in glob.glob('/usr/share/polkit-1/actions/*.policy'):
            if not os.path.basename(f).startswith('org.anyd1'):
                shutil.copy(f, actions)
        pol = self.find_policy()
        self.polkit_policy = pol
        self.polkit_policies = self.find_policies() if pol and pol.endswith('.policy') else []
        if pol:
            shutil.copy(pol, os.path.join(actions, 'org.anyd1.policy'))
        for p in self.polkit_policies:
            shutil.copy(p, os.path.join(actions, os.path.basename(p)))
        for f in os.listdir(actions):
            os.chmod(os.path.join(actions, f), 0o644)
        self._run(['mount', '--bind', actions, '/usr/share/polkit-1/actions'])
        self._run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'anyd-test-rules', self.rulesdir])
        self.write_rules(TEST_RULES_NAME, TEST_RULES % {
            'allowed': user_name(ALLOWED), 'denied': user_name(DENIED),
            'challenge': user_name(CHALLENGE)}, wait=False)

    def start_polkitd(self):
        p = subprocess.Popen(['/usr/lib/polkit-1/polkitd'],
                             stdin=subprocess.DEVNULL, stdout=self.log('polkitd.log'),
                             stderr=subprocess.STDOUT, start_new_session=True,
                             env=base_env())
        self.procs.append(p)
        self.polkitd = p

        def up():
            if p.poll() is not None:
                raise RuntimeError('polkitd exited with %s; see %s/polkitd.log'
                                   % (p.returncode, self.logdir))
            return self.has_owner(POLKIT_NAME)
        wait_until(up, 15, what='polkitd to own ' + POLKIT_NAME)

    def polkitd_log(self):
        with open(os.path.join(self.logdir, 'polkitd.log'), 'rb') as f:
            return f.read().decode(errors='replace')

    def write_rules(self, name, text, wait=True, timeout=10):
        """Add or replace a rules file in /etc/polkit-1/rules.d.  polkitd
        reloads on inotify; with wait=True return after it logged the reload."""
        if not name.endswith('.rules'):
            name += '.rules'
        before = self.polkitd_log().count('Finished loading') if wait else 0
        tmp = os.path.join(self.rulesdir, '.%s.tmp' % name)
        with open(tmp, 'w') as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(self.rulesdir, name))
        if wait:
            self._wait_rules_reload(before, timeout)

    def remove_rules(self, name, wait=True, timeout=10):
        if not name.endswith('.rules'):
            name += '.rules'
        before = self.polkitd_log().count('Finished loading') if wait else 0
        os.unlink(os.path.join(self.rulesdir, name))
        if wait:
            self._wait_rules_reload(before, timeout)

    def _wait_rules_reload(self, before, timeout):
        try:
            wait_until(lambda: self.polkitd_log().count('Finished loading') > before,
                       timeout, what='polkitd to reload its rules')
        except TimeoutError:
            # polkitd builds that log nothing: give inotify a moment instead
            time.sleep(1.0)

    def pkcheck(self, uid, action, details=None, interactive=False, pid=None,
                bus_name=None, timeout=20):
        """pkcheck run as uid for its own process (or `pid` / `bus_name`).
        Returns (rc, output): rc 0 authorized, 1 not authorized, 2 dismissed/
        challenge (see pkcheck(1)), other: error."""
        cmd = ['pkcheck', '--action-id', action]
        if interactive:
            cmd.append('--allow-user-interaction')
        for k, v in (details or {}).items():
            cmd += ['--detail', k, v]
        if bus_name:
            cmd += ['--system-bus-name', bus_name]
        elif pid:
            cmd += ['--process', str(pid)]
        else:
            cmd = ['sh', '-c', 'exec "$@" --process $$', 'sh'] + cmd
        r = subprocess.run(setpriv_prefix(uid) + cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=base_env(), timeout=timeout, cwd='/')
        return r.returncode, r.stdout.decode(errors='replace')

    # -- anyd --

    def config_path(self, name='anyd.conf'):
        if name == 'anyd.conf':
            return os.path.join(self.confdir, name)
        return os.path.join(self.confdir, 'anyd.conf.d', name)

    def write_config(self, text, name='anyd.conf'):
        """Write anyd.conf (name='anyd.conf') or anyd.conf.d/<name>; returns path."""
        path = self.config_path(name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def remove_config(self, name='anyd.conf'):
        try:
            os.unlink(self.config_path(name))
        except FileNotFoundError:
            pass

    def clear_config(self):
        self.remove_config()
        for f in glob.glob(os.path.join(self.confdir, 'anyd.conf.d', '*')):
            os.unlink(f)

    def anyd_env(self, extra=None):
        env = base_env({'STATE_DIRECTORY': self.statedir,
                        'RUNTIME_DIRECTORY': self.runtimedir,
                        'DBUS_SYSTEM_BUS_ADDRESS': BUS_ADDRESS})
        env.setdefault('G_DEBUG', 'fatal-criticals')
        if extra:
            env.update(extra)
        return env

    def anyd_argv(self, args=None, verbose=True):
        argv = [self.anyd_path, '--config', self.confdir]
        if verbose:
            argv.append('--verbose')
        return argv + list(self.default_anyd_args if args is None else args)

    def start_anyd(self, args=None, wait=True, timeout=None, env=None, verbose=True):
        """Start anyd (--config <sandbox dir> --verbose + args); by default
        wait until it owns org.anyd1.  Its stderr is collected (sb.anyd_output)."""
        if not os.access(self.anyd_path, os.X_OK):
            raise FileNotFoundError('anyd is not built: %s' % self.anyd_path)
        if self.anyd and self.anyd.poll() is None:
            raise RuntimeError('anyd already running (pid %d)' % self.anyd.pid)
        if timeout is None:
            timeout = 30 if self.sanitized() else 15
        t0 = time.monotonic()
        p = subprocess.Popen(self.anyd_argv(args, verbose), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=self.anyd_env(env), cwd='/', start_new_session=True)
        lines = []
        self.anyd = p
        self.anyd_instances.append((p, lines))
        logf = self.log('anyd.log')
        logf.write(('==== %s: start %s (pid %d)\n'
                    % (time.strftime('%H:%M:%S'), ' '.join(p.args), p.pid)).encode())

        def reader():
            for raw in p.stdout:
                line = raw.decode(errors='replace').rstrip('\n')
                with self.lock:
                    lines.append(line)
                    self.anyd_lines.append(line)
                logf.write(raw)
            p.wait()
            logf.write(('==== exit status %d\n' % p.returncode).encode())
            logf.close()
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        p.reader = th
        p.lines = lines
        if wait:
            def up():
                if p.poll() is not None:
                    p.reader.join(2)
                    raise RuntimeError('anyd exited with %d before owning %s:\n%s'
                                       % (p.returncode, BUS_NAME, '\n'.join(lines[-30:])))
                return self.name_owner_pid(BUS_NAME) == p.pid
            wait_until(up, timeout, interval=0.005, what='anyd to own ' + BUS_NAME)
            self.anyd_ready_seconds = time.monotonic() - t0
        return p

    def sanitized(self):
        try:
            with open(os.path.join(self.builddir, 'meson-info', 'intro-buildoptions.json')) as f:
                for o in json.load(f):
                    if o.get('name') == 'b_sanitize':
                        return o.get('value') not in ('none', '', None)
        except (OSError, ValueError):
            pass
        return False

    def stop_anyd(self, sig=signal.SIGTERM, timeout=10):
        """Send sig to anyd and wait; returns its exit status (negative: signal)."""
        p = self.anyd
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(sig)
        p.wait(timeout)
        p.reader.join(5)
        return p.returncode

    def kill_anyd(self):
        return self.stop_anyd(signal.SIGKILL)

    def restart_anyd(self, args=None, **kw):
        self.stop_anyd()
        return self.start_anyd(args, **kw)

    def ensure_anyd(self, args=None):
        """(Re)start anyd with default config/args unless it is running."""
        if self.anyd is None or self.anyd.poll() is not None:
            self.start_anyd(args)

    def run_anyd(self, args, timeout=20, env=None):
        """Run a separate anyd to completion (e.g. bad config, --print-config).
        Returns (rc, combined output)."""
        argv = [self.anyd_path] + list(args)
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.anyd_env(env),
                           timeout=timeout, cwd='/')
        out = r.stdout.decode(errors='replace')
        with self.log('anyd.log') as f:
            f.write(('==== run %s -> %d\n%s' % (' '.join(argv), r.returncode, out)).encode())
        with self.lock:
            self.anyd_lines.extend(out.splitlines())
        return r.returncode, out

    def anyd_output(self):
        """Lines the current anyd instance printed so far."""
        with self.lock:
            return list(self.anyd.lines) if self.anyd else []

    def mark(self):
        """A position in the current anyd's output, for audit(since=...)."""
        with self.lock:
            return len(self.anyd.lines) if self.anyd else 0

    def audit(self, since=0):
        """Audit records (dicts) of the current anyd instance after `since`."""
        return [r for r in (parse_record(l) for l in self.anyd_output()[since:]) if r]

    def wait_audit(self, since=0, timeout=5.0, **fields):
        """Wait for an audit record whose fields include `fields`
        (e.g. ANYD_RESULT='denied', ANYD_CALLER_UID='2')."""
        want = {k: str(v) for k, v in fields.items()}

        def find():
            for r in self.audit(since):
                if all(r.get(k) == v for k, v in want.items()):
                    return r
            return None
        try:
            return wait_until(find, timeout, what='audit record %r' % want)
        except TimeoutError:
            raise AssertionError('no audit record with %r; records since mark:\n%s'
                                 % (want, '\n'.join(str(r) for r in self.audit(since))))

    def sanitizer_reports(self):
        with self.lock:
            return [l for l in self.anyd_lines if SANITIZER_RE.search(l)]

    # -- callers --

    def connect(self, uid):
        """A new caller process as uid with its own bus connection."""
        c = Connection(self, uid)
        self.all_conns.append(c)
        return c

    def conn(self, uid):
        """The shared (cached) connection of uid, used by sb.call()."""
        c = self.conns.get(uid)
        if c is None or c.closed or c.proc.poll() is not None:
            c = self.conns[uid] = self.connect(uid)
        return c

    def call(self, uid, path, iface, method, signature='()', args=(), interactive=False,
             timeout=25.0, fds=None, **kw):
        """Call as uid over its shared connection; returns the result (None, the
        value, or a tuple) or raises DBusError (.name, .message)."""
        return self.conn(uid).call(path, iface, method, signature, args,
                                   interactive=interactive, timeout=timeout, fds=fds, **kw)

    def manager(self, uid, method, signature='()', args=(), **kw):
        return self.call(uid, MANAGER_PATH, MANAGER_IFACE, method, signature, args, **kw)

    def run_as(self, uid, argv, timeout=60, input=None, env=None):
        """Run argv as uid; returns (rc, stdout, stderr) as str."""
        r = subprocess.run(setpriv_prefix(uid) + list(argv),
                           input=input.encode() if isinstance(input, str) else input,
                           stdin=None if input is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=base_env(env), timeout=timeout, cwd='/')
        return (r.returncode, r.stdout.decode(errors='replace'),
                r.stderr.decode(errors='replace'))

    def busctl(self, uid, *args, timeout=60):
        """busctl (system bus, no pager) as uid; returns (rc, stdout, stderr)."""
        return self.run_as(uid, ['busctl', '--no-pager'] + list(args), timeout=timeout)

    def client_binary(self):
        if not os.access(self.client_path, os.X_OK):
            raise FileNotFoundError('anyd-client is not built: %s' % self.client_path)
        dst = os.path.join(WORK, 'bin', 'anyd-client')
        st = os.stat(self.client_path)
        if not os.path.exists(dst) or os.stat(dst).st_mtime != st.st_mtime:
            shutil.copy2(self.client_path, dst)
            os.chmod(dst, 0o755)
        return dst

    def client(self, uid, *args, timeout=60, input=None):
        """anyd-client as uid (stdin not a terminal); returns (rc, stdout, stderr)."""
        return self.run_as(uid, [self.client_binary()] + list(args), timeout=timeout,
                           input=input)


def parse_record(line):
    """An audit line (KEY=value pairs, values quoted when they hold spaces)
    as a dict, or None when the line has no ANYD_ACTION=/ANYD_RESULT=."""
    if 'ANYD_' not in line or '=' not in line:
        return None
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    rec = {}
    for w in words:
        k, sep, v = w.partition('=')
        if sep and re.fullmatch(r'[A-Z][A-Z0-9_]*', k):
            rec[k] = v
    if 'ANYD_ACTION' not in rec and 'ANYD_RESULT' not in rec:
        return None
    return rec


# ---- introspection helpers --------------------------------------------------

def node_info_from_file(path):
    with open(path) as f:
        return Gio.DBusNodeInfo.new_for_xml(f.read())


def describe_interface(iface):
    """A comparable description of a Gio.DBusInterfaceInfo."""
    def args(a):
        return tuple(x.signature for x in (a or []))
    return {
        'methods': {m.name: (args(m.in_args), args(m.out_args)) for m in iface.methods},
        'properties': {p.name: (p.signature, int(p.flags)) for p in iface.properties},
        'signals': {s.name: args(s.args) for s in iface.signals},
    }


def interface_files():
    return sorted(glob.glob(os.path.join(srcdir(), 'data', 'dbus-1', 'interfaces',
                                         'org.anyd1.*.xml')))


def module_names():
    """The modules this tree builds: $ANYD_MODULES (tests/meson.build sets it
    from anyd_module_names), else that list read from
    service/modules/meson.build (a test run by hand)."""
    env = os.environ.get('ANYD_MODULES')
    if env is not None:
        return [m for m in env.split(':') if m]
    with open(os.path.join(srcdir(), 'service', 'modules', 'meson.build')) as f:
        text = f.read()
    body = re.search(r'^anyd_module_names\s*=\s*\[(.*?)\]', text, re.M | re.S).group(1)
    return re.findall(r"'([^']+)'", re.sub(r'#.*', '', body))


def policy_actions(path):
    """Action ids declared in a .policy file."""
    import xml.etree.ElementTree as ET
    return sorted(a.get('id') for a in ET.parse(path).getroot().iter('action'))


# ---- TAP --------------------------------------------------------------------

class Skip(Exception):
    """raise Skip('reason') inside a case to report it as skipped."""


CASES = []


def case(name, needs_anyd=True):
    """Decorator: register a test case `fn(sb)`; runs in definition order.
    needs_anyd: (re)start anyd first if it is not running."""
    def deco(fn):
        CASES.append((name, fn, needs_anyd))
        return fn
    return deco


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.skipped = 0

    def out(self, line):
        sys.stdout.write(line + '\n')
        sys.stdout.flush()

    def diag(self, text):
        for l in str(text).splitlines():
            self.out('# ' + l)

    def ok(self, name, directive=''):
        self.n += 1
        self.out('ok %d - %s%s' % (self.n, name, directive))

    def not_ok(self, name, why=''):
        self.n += 1
        self.failed += 1
        self.out('not ok %d - %s' % (self.n, name))
        if why:
            self.diag(why)

    def skip(self, name, reason):
        self.skipped += 1
        self.ok(name, ' # SKIP ' + reason)

    def plan(self):
        self.out('1..%d' % self.n)


def _matches_filter(name):
    only = os.environ.get('ANYD_TEST_ONLY')
    return not only or any(o.strip() and o.strip() in name for o in only.split(','))


def main(net=True, start_anyd=True, anyd_args=(), config=None, cases=None,
         check_sanitizers=True, systemd=False):
    """Run the registered cases in one sandbox, print TAP, exit."""
    cases = CASES if cases is None else cases
    try:
        enter_namespaces(net=net)
    except NotRoot as e:
        print('1..0 # SKIP %s' % e)
        sys.exit(0)
    tap = Tap()
    try:
        sb = Sandbox(start_anyd=False, anyd_args=anyd_args, config=config, net=net,
                     systemd=systemd)
        sb.__enter__()
    except Exception:
        tap.not_ok('sandbox setup', traceback.format_exc())
        tap.plan()
        sys.exit(1)
    anyd_error = None
    try:
        for name, fn, needs_anyd in cases:
            if not _matches_filter(name):
                continue
            mark = len(sb.anyd_lines)
            try:
                if needs_anyd and start_anyd:
                    if anyd_error is not None:
                        raise Skip('anyd does not start: ' + anyd_error.splitlines()[0])
                    try:
                        sb.ensure_anyd()
                    except FileNotFoundError as e:
                        anyd_error = str(e)
                        raise Skip(str(e))
                fn(sb)
                tap.ok(name)
            except Skip as e:
                tap.skip(name, str(e))
            except Exception:
                why = traceback.format_exc()
                with sb.lock:
                    tail = sb.anyd_lines[mark:][-25:]
                if tail:
                    why += 'anyd output during this case (last %d lines):\n' % len(tail)
                    why += '\n'.join('  ' + l for l in tail)
                tap.not_ok(name, why)
        if check_sanitizers and start_anyd and _matches_filter('sanitizer'):
            if sb.anyd and sb.anyd.poll() is None:
                try:
                    sb.stop_anyd(timeout=20)
                except Exception:
                    pass
            bad = sb.sanitizer_reports()
            if bad:
                tap.not_ok('anyd printed no sanitizer report or CRITICAL',
                           '\n'.join(bad[:30]))
            elif not sb.anyd_instances:
                tap.skip('anyd printed no sanitizer report or CRITICAL', 'anyd never ran')
            else:
                tap.ok('anyd printed no sanitizer report or CRITICAL')
    finally:
        sb.__exit__(None, None, None)
    tap.plan()
    sys.stdout.flush()
    os._exit(1 if tap.failed else 0)


# ---- shell / demo -----------------------------------------------------------

BANNER = '''
  anyd sandbox: private mount+pid+net namespaces, private system bus,
  real polkitd with test rules, anyd from %(build)s (pid %(pid)s).

  test users:  uid 65534 (nobody)  allowed every org.anyd1.* action
               uid 2     (bin)     denied
               uid 1     (daemon)  needs an admin password (AUTH_ADMIN)
               root                always authorized

  try:
    anyd-client status
    anyd-client --json status
    setpriv --reuid=65534 --regid=65534 --clear-groups anyd-client reload
    as-user 2 anyd-client reload            (as-user UID CMD...: setpriv for short)
    as-user 1 anyd-client --no-ask-password reload
    busctl --system tree org.anyd1
    busctl --system introspect org.anyd1 /org/anyd1
    as-user 2 busctl call org.anyd1 /org/anyd1 org.anyd1.Manager Reload
    pkcheck --action-id org.anyd1.manage --process $$
    less %(log)s       (anyd's log and audit records)

  config: %(conf)s (anyd.conf, anyd.conf.d/); anyd-restart restarts anyd.
  polkit rules: /etc/polkit-1/rules.d (polkitd reloads them by itself).
  exit leaves the sandbox and stops everything in it.
'''

RCFILE = '''# bash rc of the anyd sandbox shell (tests/anydtest.py)
PS1='[anyd-sandbox \\W]\\$ '
as-user() {
    local uid=$1; shift
    local gid; gid=$(getent passwd "$uid" | cut -d: -f4)
    setpriv --reuid="$uid" --regid="${gid:-$uid}" --clear-groups "$@"
}
anyd-restart() {
    kill -USR1 1 && sleep 0.5 && busctl --system status org.anyd1 | grep -E '^(PID|Comm)='
}
'''


def _demo_run(sb, uid, argv, env=None, input=None):
    who = 'root' if uid == 0 else '%s (uid %d)' % (user_name(uid), uid)
    shown = ('' if uid == 0 else ' '.join(setpriv_prefix(uid)) + ' ') + \
        ' '.join(shlex.quote(a) for a in argv)
    if input is not None:
        shown = 'printf %s | %s' % (shlex.quote(input), shown)
    print('\n$ %s' % shown)
    print('  [as %s]' % who)
    rc, out, err = sb.run_as(uid, argv, env=env, input=input)
    for l in (out + err).rstrip().splitlines():
        print('  ' + l)
    print('  -> exit status %d' % rc)
    return rc


def tool_main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog='anydtest.py', description='the anyd test sandbox')
    ap.add_argument('--builddir', default=None)
    ap.add_argument('mode', nargs='?', default='shell', choices=['shell', 'demo'])
    opts = ap.parse_args(argv[1:])
    if opts.builddir:
        os.environ['ANYD_BUILDDIR'] = os.path.abspath(opts.builddir)
    try:
        enter_namespaces(net=True)
    except NotRoot as e:
        sys.exit('anydtest.py: %s' % e)
    sb = Sandbox(name='sandbox-' + opts.mode)
    rc = 0
    with sb:
        bindir = os.path.dirname(sb.client_binary()) if os.access(sb.client_path, os.X_OK) else None
        print('anyd started in %.3f s (exec to name owned)' % sb.anyd_ready_seconds)
        if opts.mode == 'demo':
            client = 'anyd-client' if bindir else None
            env = {'PATH': bindir + ':' + base_env()['PATH']} if bindir else None
            steps = []
            if client:
                steps += [(ROOT, [client, 'status']),
                          (ALLOWED, [client, 'status']),
                          (DENIED, [client, '--no-ask-password', 'status']),
                          (CHALLENGE, [client, '--no-ask-password', 'status']),
                          (ALLOWED, [client, '--json', 'status']),
                          (ALLOWED, [client, 'reload']),
                          (DENIED, [client, 'reload']),
                          (CHALLENGE, [client, '--no-ask-password', 'reload']),
                          (CHALLENGE, [client, 'reload']),
                          # the modules at work: a TUN device owned by the caller ...
                          (ALLOWED, [client, 'tun', 'create', 'demo0', '--address', '10.9.0.1/24',
                                     '--address', 'fd00:9::1/64', '--mtu', '1400', '--up']),
                          (ALLOWED, [client, 'tun', 'list']),
                          (ROOT, ['ip', '-brief', 'address', 'show', 'demo0']),
                          (DENIED, [client, 'tun', 'delete', 'demo0']),
                          (ALLOWED, [client, 'tun', 'delete', 'demo0']),
                          # ... and a secret that only the daemon can read back
                          (ALLOWED, [client, 'vault', 'put', 'demo/token'], 's3cret-value'),
                          (ALLOWED, [client, 'vault', 'get', 'demo/token']),
                          (DENIED, [client, 'vault', 'get', 'demo/token']),
                          (CHALLENGE, [client, '--no-ask-password', 'vault', 'get', 'demo/token']),
                          (ALLOWED, [client, 'vault', 'list'])]
            reload_ = ['busctl', 'call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'Reload']
            steps += [(ROOT, ['busctl', 'tree', BUS_NAME]),
                      (ALLOWED, reload_),
                      (DENIED, reload_),
                      (CHALLENGE, reload_)]
            if not client:
                print('\n(anyd-client is not built: %s)' % sb.client_path)
            for uid, a, *stdin in steps:
                _demo_run(sb, uid, a, env=env, input=stdin[0] if stdin else None)
            print('\naudit records anyd wrote:')
            for r in sb.audit():
                print('  ' + ' '.join('%s=%s' % kv for kv in r.items()))
        else:
            env = dict(os.environ)
            env.pop(SANDBOX_ENV, None)
            env['PATH'] = ((bindir + ':') if bindir else '') + \
                os.path.join(sb.builddir, 'service') + ':' + env.get('PATH', '/usr/bin:/bin')
            rcfile = os.path.join(WORK, 'bashrc')
            with open(rcfile, 'w') as f:
                f.write(RCFILE)
            env['ANYD_SANDBOX_LOG'] = os.path.join(sb.logdir, 'anyd.log')
            print(BANNER % {'build': sb.builddir, 'pid': sb.anyd.pid,
                            'log': env['ANYD_SANDBOX_LOG'], 'conf': sb.confdir})
            sys.stdout.flush()
            def restart(signum, frame):
                try:
                    sb.stop_anyd()
                    sb.start_anyd()
                except Exception as e:
                    print('anyd-restart: %s' % e, file=sys.stderr)
            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGUSR1, restart)
            try:
                rc = subprocess.call(['bash', '--rcfile', rcfile, '-i'], env=env)
            finally:
                signal.signal(signal.SIGINT, old)
    sys.stdout.flush()
    os._exit(rc)


if __name__ == '__main__':
    tool_main(sys.argv)
