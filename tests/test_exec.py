#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration tests of the exec module (org.anyd1.Exec, org.anyd1.ExecProcess)
# against a REAL systemd manager: `systemd --user` started under a clean
# environment, owning org.freedesktop.systemd1 on the sandbox's system bus
# (tests/systemd_sandbox.py); anyd from the build tree; the real polkitd with
# the test uids (65534 allowed, 2 denied, 1 needs a password, root) plus the
# rules below. Commands run as transient units anyd-exec-N.service.

import array
import fcntl
import os
import select
import signal
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import (ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case,  # noqa: E402
                      expect_error, wait_until)
from gi.repository import GLib  # noqa: E402
from systemd_sandbox import SystemdManager  # noqa: E402

EXEC = '/org/anyd1/exec'
IFACE = 'org.anyd1.Exec'
PROC = 'org.anyd1.ExecProcess'
E = anydtest.ERROR_PREFIX
NOT_AUTHORIZED = E + 'NotAuthorized'
CAN_OBTAIN = E + 'NotAuthorizedCanObtain'
INVALID = E + 'InvalidArgument'

# The allowed uid may not run commands as root, nor manage others' commands;
# /usr/bin/false is refused by a rule on the command detail.
EXEC_RULES = '''polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.anyd1.exec.") != 0)
        return polkit.Result.NOT_HANDLED;
    if (action.id == "org.anyd1.exec.run" && action.lookup("command") == "/usr/bin/false")
        return polkit.Result.NO;
    if (subject.user == "nobody" && action.id == "org.anyd1.exec.run" &&
        action.lookup("user") == "root")
        return polkit.Result.NO;
    if (subject.user == "nobody" && action.id == "org.anyd1.exec.manage")
        return polkit.Result.NO;
    return polkit.Result.NOT_HANDLED;
});
'''

CONFIG = '[exec]\nkeep_exited_s=3\nmax_processes=6\n'
SYSTEMD = None


def sd():
    if SYSTEMD is None or not SYSTEMD.running():
        raise Skip('no systemd manager in the sandbox')
    return SYSTEMD


def opts(**kw):
    """a{sv} from Python values with the option's D-Bus type."""
    types = {'cwd': 's', 'env': 'as', 'user': 's', 'timeout_ms': 'u', 'memory_max': 't',
             'cpu_quota': 'u', 'tasks_max': 't', 'network': 'b', 'sandbox': 's',
             'keep_running': 'b', 'stdin': 'h', 'stdout': 'h', 'stderr': 'h', 'rows': 'u',
             'columns': 'u', 'term': 's'}
    return {k: GLib.Variant(types.get(k, 's'), v) for k, v in kw.items()}


def run(sb, uid, argv, fds=None, timeout=30, **kw):
    return sb.call(uid, EXEC, IFACE, 'Run', '(asa{sv})', (argv, opts(**kw)), fds=fds,
                   timeout=timeout)


def run_pty(sb, uid, argv, **kw):
    r = sb.conn(uid).call_full(EXEC, IFACE, 'RunPty', '(asa{sv})', (argv, opts(**kw)))
    path, _idx = r.value
    assert len(r.fds) == 1, r.fds
    return path, r.fds[0]


def wait(sb, uid, path, timeout=30):
    return tuple(sb.call(uid, path, PROC, 'Wait', timeout=timeout))


def prop(sb, path, name, uid=ROOT):
    return sb.conn(uid).get_property(path, PROC, name)


def exec_units():
    """anyd-exec-* units systemd has loaded: (name, active state)."""
    units = sd().call('/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager',
                      'ListUnitsByPatterns', '(asas)', ([], ['anyd-exec-*']))
    return [(u[0], u[3]) for u in units]


def no_units_left(timeout=10):
    wait_until(lambda: not [u for u in exec_units() if u[0].endswith('.service')], timeout,
               what='every anyd-exec-* unit to be collected (%r)' % (exec_units(),))


def read_all(fd, timeout=20):
    """Read until EOF; fails if EOF does not come in time."""
    out = b''
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError('no EOF within %ds; read %r' % (timeout, out))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            data = os.read(fd, 65536)
            if not data:
                return out
            out += data


def run_output(sb, uid, argv, **kw):
    """Run with a pipe as stdout+stderr; (reason, code, signal), output."""
    rd, wr = os.pipe()
    try:
        path = run(sb, uid, argv, fds=[wr], stdout=0, stderr=0, **kw)
        os.close(wr)
        wr = -1
        out = read_all(rd)
        return wait(sb, uid, path), out.decode(errors='replace'), path
    finally:
        os.close(rd)
        if wr >= 0:
            os.close(wr)


# ---- setup ------------------------------------------------------------------

@case('a real systemd manager (clean environment) owns org.freedesktop.systemd1', needs_anyd=False)
def _(sb):
    global SYSTEMD
    m = SystemdManager(sb, clean_env=True, controllers=True)
    if not m.available():
        raise Skip('systemd is not installed')
    m.start()
    SYSTEMD = m
    sb.write_rules('05-anyd-exec-test.rules', EXEC_RULES)
    sb.write_config(CONFIG)


@case('Exec is exported at /org/anyd1/exec and listed in Modules')
def _(sb):
    mods = sb.conn(ROOT).get_property('/org/anyd1', 'org.anyd1.Manager', 'Modules')
    assert 'exec' in mods, mods
    objs = sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
    assert IFACE in objs.get(EXEC, {}), objs


# ---- exit statuses ----------------------------------------------------------

@case('Run: exit 0 and exit 3 read as exited with that code; ExitCode, State, times')
def _(sb):
    sd()
    path = run(sb, ALLOWED, ['/bin/true'])
    assert path.startswith(EXEC + '/processes/'), path
    assert wait(sb, ALLOWED, path) == ('exited', 0, 0)
    assert prop(sb, path, 'State') == 'exited'
    assert prop(sb, path, 'ExitCode') == 0
    assert prop(sb, path, 'CreatedBy') == ALLOWED
    assert prop(sb, path, 'User') == 'nobody'
    assert prop(sb, path, 'Unit').startswith('anyd-exec-')
    assert prop(sb, path, 'ExitedAt') >= prop(sb, path, 'StartedAt') > 0
    path = run(sb, ALLOWED, ['sh', '-c', 'exit 3'])
    assert wait(sb, ALLOWED, path) == ('exited', 3, 0)
    assert prop(sb, path, 'Argv') == ['sh', '-c', 'exit 3']


@case('Run: killed by SIGKILL, and killed by SIGHUP, never read as success')
def _(sb):
    sd()
    path = run(sb, ALLOWED, ['sh', '-c', 'kill -KILL $$'])
    assert wait(sb, ALLOWED, path) == ('killed', -1, 9)
    path = run(sb, ALLOWED, ['sh', '-c', 'kill -HUP $$'])
    assert wait(sb, ALLOWED, path) == ('hangup', -1, 1)
    path = run(sb, ALLOWED, ['/bin/sleep', '100'])
    assert prop(sb, path, 'State') == 'running'
    sb.call(ALLOWED, path, PROC, 'Kill', '(i)', (signal.SIGKILL,))
    assert wait(sb, ALLOWED, path) == ('killed', -1, 9)
    assert prop(sb, path, 'TermSignal') == 9


@case('Run: output through a passed fd, EOF seen when the command ends; stdin too')
def _(sb):
    sd()
    status, out, _ = run_output(sb, ALLOWED, ['/bin/echo', 'hello', 'world'])
    assert status == ('exited', 0, 0) and out == 'hello world\n', (status, out)
    rd_in, wr_in = os.pipe()
    rd, wr = os.pipe()
    path = run(sb, ALLOWED, ['/usr/bin/tr', 'a-z', 'A-Z'], fds=[rd_in, wr], stdin=0, stdout=1)
    os.close(rd_in)
    os.close(wr)
    os.write(wr_in, b'piped through\n')
    os.close(wr_in)
    assert read_all(rd) == b'PIPED THROUGH\n'
    os.close(rd)
    assert wait(sb, ALLOWED, path) == ('exited', 0, 0)


@case('Run: $HOME and $$ in argv stay literal (no-env-expand)')
def _(sb):
    sd()
    status, out, _ = run_output(sb, ALLOWED, ['/bin/echo', '$HOME', '$$', '${PATH}'])
    assert out == '$HOME $$ ${PATH}\n', out


@case('Run: the manager\'s environment does not leak into commands; env as self')
def _(sb):
    sd()
    status, out, _ = run_output(sb, ALLOWED, ['/usr/bin/env'], env=['FOO=bar baz', 'LD_X=1'])
    assert status == ('exited', 0, 0)
    names = {l.split('=', 1)[0] for l in out.splitlines()}
    assert 'FOO=bar baz' in out.splitlines() and 'LD_X=1' in out.splitlines(), out
    assert 'ANYD_TEST_SANDBOX' not in names and 'G_DEBUG' not in names, out


# ---- timeout, limits, sandbox -----------------------------------------------

@case('timeout_ms: the whole unit is killed, a forked grandchild included')
def _(sb):
    sd()
    t0 = time.monotonic()
    path = run(sb, ALLOWED, ['sh', '-c', '(sleep 1234 &) ; sleep 1235'], timeout_ms=700)
    assert wait(sb, ALLOWED, path) == ('timeout', -1, signal.SIGTERM)
    assert time.monotonic() - t0 < 8
    # the grandchild died with the unit
    wait_until(lambda: not [p for p in os.listdir('/proc') if p.isdigit() and
                            _cmdline(p) in ('sleep 1234', 'sleep 1235')], 5,
               what='the sleeps to be gone')


def _cmdline(pid):
    try:
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode().strip()
    except OSError:
        return ''


@case('memory_max: a command over its memory is killed (what the sandbox shows is printed)')
def _(sb):
    sd()
    prog = 'b = bytearray(256 * 1024 * 1024); print(len(b))'
    status, out, path = run_output(sb, ALLOWED, ['/usr/bin/python3', '-c', prog],
                                   memory_max=48 * 1024 * 1024)
    print('# memory_max=48M, allocating 256M: Wait -> %r' % (status,))
    assert status[0] in ('oom', 'killed') and status[2] == 9 or \
        status[0] == 'exited' and status[1] != 0, (status, out)
    assert '268435456' not in out


@case('tasks_max: forks beyond the limit fail')
def _(sb):
    sd()
    status, out, _ = run_output(sb, ALLOWED, ['sh', '-c',
                                              'for i in 1 2 3 4 5 6; do sleep 2 & done; wait; echo done'],
                                tasks_max=3)
    assert 'fork' in out.lower() or status[1] != 0, (status, out)


@case('network=false: the command sees only its own loopback')
def _(sb):
    sd()
    anydtest.subprocess.run(['ip', 'link', 'add', 'exectest0', 'type', 'veth', 'peer', 'name', 'exectest1'], check=False)
    try:
        _, out, _ = run_output(sb, ALLOWED, ['/bin/cat', '/proc/net/dev'])
        assert 'exectest0' in out, out
        _, out, _ = run_output(sb, ALLOWED, ['/bin/cat', '/proc/net/dev'], network=False)
        assert 'exectest0' not in out and 'lo:' in out, out
    finally:
        anydtest.subprocess.run(['ip', 'link', 'del', 'exectest0'], check=False)


@case('sandbox strict (default): /usr is read-only, /tmp private; none writes as root')
def _(sb):
    sd()
    target = '/usr/anyd-exec-test-%d' % os.getpid()
    status, out, _ = run_output(sb, ROOT, ['/usr/bin/touch', target])
    assert status[0] == 'exited' and status[1] != 0 and not os.path.exists(target), (status, out)
    status, out, _ = run_output(sb, ROOT, ['/usr/bin/touch', target], sandbox='none')
    try:
        assert status == ('exited', 0, 0) and os.path.exists(target), (status, out)
    finally:
        if os.path.exists(target):
            os.unlink(target)
    marker = '/tmp/anyd-exec-private-%d' % os.getpid()
    status, out, _ = run_output(sb, ROOT, ['/usr/bin/touch', marker])
    assert status == ('exited', 0, 0) and not os.path.exists(marker), (status, out)


@case('cpu_quota: accepted and set on the unit (CPUQuotaPerSecUSec)')
def _(sb):
    sd()
    path = run(sb, ALLOWED, ['/bin/sleep', '30'], cpu_quota=25)
    unit = prop(sb, path, 'Unit')
    from systemd_sandbox import SERVICE
    assert sd().prop(unit, 'CPUQuotaPerSecUSec', SERVICE) == 250000
    slice_ = 'anyd-exec-u%d.slice' % ALLOWED
    assert sd().prop(unit, 'Slice', 'org.freedesktop.systemd1.Service') == slice_
    # [exec] slice_tasks_max (default 1024) bounds the uid's commands together
    assert sd().prop(slice_, 'TasksMax', 'org.freedesktop.systemd1.Slice') == 1024
    sb.call(ALLOWED, path, PROC, 'Stop')
    assert wait(sb, ALLOWED, path) == ('stopped', -1, signal.SIGTERM)


@case('[exec] slice_memory_max, slice_tasks_max: set on the uid\'s slice, and again after Reload')
def _(sb):
    sd()
    slice_ = 'anyd-exec-u%d.slice' % ALLOWED
    sb.write_config(CONFIG + 'slice_memory_max=256M\nslice_tasks_max=50\n')
    sb.manager(ROOT, 'Reload')
    try:
        wait(sb, ALLOWED, run(sb, ALLOWED, ['/bin/true']))
        assert sd().prop(slice_, 'MemoryMax', 'org.freedesktop.systemd1.Slice') == 256 << 20
        assert sd().prop(slice_, 'TasksMax', 'org.freedesktop.systemd1.Slice') == 50
    finally:
        sb.write_config(CONFIG)
        sb.manager(ROOT, 'Reload')
    wait(sb, ALLOWED, run(sb, ALLOWED, ['/bin/true']))
    assert sd().prop(slice_, 'MemoryMax', 'org.freedesktop.systemd1.Slice') == 2 ** 64 - 1
    assert sd().prop(slice_, 'TasksMax', 'org.freedesktop.systemd1.Slice') == 1024


# ---- users ------------------------------------------------------------------

@case('user: root runs as nobody; nobody runs as itself by default; nobody may not be root')
def _(sb):
    sd()
    _, out, path = run_output(sb, ROOT, ['/usr/bin/id', '-u'], user='nobody')
    assert out.strip() == str(ALLOWED), out
    assert prop(sb, path, 'User') == 'nobody'
    _, out, _ = run_output(sb, ALLOWED, ['/usr/bin/id', '-u'])
    assert out.strip() == str(ALLOWED), out
    _, out, _ = run_output(sb, ROOT, ['/usr/bin/id', '-u'])
    assert out.strip() == '0', out
    expect_error(NOT_AUTHORIZED, run, sb, ALLOWED, ['/usr/bin/id'], user='root')
    expect_error(INVALID, run, sb, ROOT, ['/usr/bin/id'], user='no-such-user-x')


@case('env: loader and interpreter variables refused when running as another user')
def _(sb):
    sd()
    for var in ('LD_PRELOAD=/tmp/x.so', 'PYTHONPATH=/tmp', 'BASH_ENV=/tmp/x', 'PATH=/tmp',
                'NODE_OPTIONS=--require=/tmp/x', 'GCONV_PATH=/tmp'):
        e = expect_error(INVALID, run, sb, ROOT, ['/usr/bin/id'], user='nobody', env=[var])
        assert var.split('=')[0] in e.message, e.message
    status, out, _ = run_output(sb, ROOT, ['/usr/bin/env'], user='nobody', env=['SAFE=1'])
    assert 'SAFE=1' in out.splitlines(), out
    no_units_left()


# ---- allowlist, quotas, slice -----------------------------------------------

@case('[exec] allow: off-list commands refused before polkit (no password asked)')
def _(sb):
    sd()
    sb.write_config(CONFIG + 'allow=/bin/true;/usr/bin/e*;\n')
    sb.manager(ROOT, 'Reload')
    try:
        assert wait(sb, ALLOWED, run(sb, ALLOWED, ['true'])) == ('exited', 0, 0)
        assert wait(sb, ALLOWED, run(sb, ALLOWED, ['/usr/bin/echo', 'x'])) == ('exited', 0, 0)
        for uid in (ALLOWED, ROOT, CHALLENGE):
            e = expect_error(NOT_AUTHORIZED, run, sb, uid, ['/usr/bin/id'], timeout=10)
            assert 'allow' in e.message and '/usr/bin/id' in e.message, e.message
        # The password-needing caller is refused outright, not asked.
        e = expect_error(NOT_AUTHORIZED, sb.call, CHALLENGE, EXEC, IFACE, 'Run', '(asa{sv})',
                         (['/usr/bin/id'], {}), interactive=True, timeout=10)
    finally:
        sb.write_config(CONFIG)
        sb.manager(ROOT, 'Reload')


@case('[limits] max_resources_per_uid: running commands count against it; an exited one frees its slot')
def _(sb):
    sd()
    sb.write_config(CONFIG + '[limits]\nmax_resources_per_uid=1\n')
    sb.manager(ROOT, 'Reload')
    try:
        first = run(sb, ALLOWED, ['/bin/sleep', '60'])
        e = expect_error(E + 'Busy', run, sb, ALLOWED, ['/bin/true'], timeout=10)
        assert 'max_resources_per_uid' in e.message, e.message
        # another uid and root are not affected
        assert wait(sb, ROOT, run(sb, ROOT, ['/bin/true'])) == ('exited', 0, 0)
        sb.call(ALLOWED, first, PROC, 'Kill', '(i)', (9,))
        assert wait(sb, ALLOWED, first)[0] == 'killed'
        assert wait(sb, ALLOWED, run(sb, ALLOWED, ['/bin/true'])) == ('exited', 0, 0)
    finally:
        sb.write_config(CONFIG)
        sb.manager(ROOT, 'Reload')


@case('max_processes: a uid over its count is Busy, another uid and root are not')
def _(sb):
    sd()
    paths = [run(sb, ALLOWED, ['/bin/sleep', '60']) for _ in range(6)]
    try:
        e = expect_error(E + 'Busy', run, sb, ALLOWED, ['/bin/sleep', '60'])
        assert 'max_processes' in e.message, e.message
        other = run(sb, ROOT, ['/bin/sleep', '60'])
        sb.call(ROOT, other, PROC, 'Kill', '(i)', (9,))
    finally:
        for p in paths:
            sb.call(ALLOWED, p, PROC, 'Kill', '(i)', (9,))
    for p in paths:
        assert wait(sb, ALLOWED, p)[0] == 'killed'
    path = run(sb, ALLOWED, ['/bin/true'])   # room again
    wait(sb, ALLOWED, path)


# ---- process methods, authorization -----------------------------------------

@case('authorization: Run as allowed / denied / needs-password / root')
def _(sb):
    sd()
    for uid in (ROOT, ALLOWED):
        assert wait(sb, uid, run(sb, uid, ['/bin/true'])) == ('exited', 0, 0)
    expect_error(NOT_AUTHORIZED, run, sb, DENIED, ['/bin/true'])
    expect_error(CAN_OBTAIN, run, sb, CHALLENGE, ['/bin/true'])
    expect_error(NOT_AUTHORIZED, sb.call, DENIED, EXEC, IFACE, 'RunPty', '(asa{sv})',
                 (['/bin/true'], {}))
    expect_error(CAN_OBTAIN, sb.call, CHALLENGE, EXEC, IFACE, 'RunPty', '(asa{sv})',
                 (['/bin/true'], {}))
    expect_error(NOT_AUTHORIZED, run, sb, ALLOWED, ['/usr/bin/false'])   # a rule on `command`
    # Before authorization nothing tells whether a file exists (anyd looks as root).
    expect_error(NOT_AUTHORIZED, run, sb, DENIED, ['/root/no-such-x'])
    expect_error(NOT_AUTHORIZED, run, sb, DENIED, ['/bin/true'], cwd='/root/no-such-dir')
    expect_error(INVALID, run, sb, DENIED, ['/bin/true'], timeout_ms=0)   # syntax: before polkit


@case('authorization: Kill/Stop/Wait on own and on another uid\'s process (exec.manage)')
def _(sb):
    sd()
    mine = run(sb, ALLOWED, ['/bin/sleep', '60'])
    roots = run(sb, ROOT, ['/bin/sleep', '60'])
    try:
        for method, sig, args in (('Kill', '(i)', (0 + signal.SIGCONT,)), ('Wait', '()', ())):
            if method == 'Wait':
                continue
            sb.call(ALLOWED, mine, PROC, method, sig, args)
            expect_error(NOT_AUTHORIZED, sb.call, DENIED, mine, PROC, method, sig, args)
            expect_error(CAN_OBTAIN, sb.call, CHALLENGE, mine, PROC, method, sig, args)
            # nobody has exec.run but not exec.manage: root's process is not theirs
            expect_error(NOT_AUTHORIZED, sb.call, ALLOWED, roots, PROC, method, sig, args)
            sb.call(ROOT, mine, PROC, method, sig, args)
        for uid, err in ((DENIED, NOT_AUTHORIZED), (CHALLENGE, CAN_OBTAIN)):
            expect_error(err, sb.call, uid, mine, PROC, 'Wait')
            expect_error(err, sb.call, uid, mine, PROC, 'Stop')
        expect_error(NOT_AUTHORIZED, sb.call, ALLOWED, roots, PROC, 'Wait')
        expect_error(NOT_AUTHORIZED, sb.call, ALLOWED, roots, PROC, 'Stop')
        expect_error(INVALID, sb.call, ALLOWED, mine, PROC, 'Kill', '(i)', (0,))
        expect_error(INVALID, sb.call, ALLOWED, mine, PROC, 'Kill', '(i)', (99,))
        assert prop(sb, mine, 'State') == 'running'
        sb.call(ALLOWED, mine, PROC, 'Stop')
        assert wait(sb, ALLOWED, mine) == ('stopped', -1, signal.SIGTERM)
        sb.call(ROOT, roots, PROC, 'Stop')
        assert wait(sb, ROOT, roots) == ('stopped', -1, signal.SIGTERM)
        # Wait on an exited process answers at once; Stop is a no-op; Kill: NotFound
        assert wait(sb, ALLOWED, mine) == ('stopped', -1, signal.SIGTERM)
        sb.call(ALLOWED, mine, PROC, 'Stop')
        expect_error(E + 'NotFound', sb.call, ALLOWED, mine, PROC, 'Kill', '(i)', (9,))
    finally:
        for p in (mine, roots):
            try:
                sb.call(ROOT, p, PROC, 'Kill', '(i)', (9,))
            except DBusError:
                pass


@case('Exited signal and the object goes away after keep_exited_s')
def _(sb):
    sd()
    from systemd_sandbox import SignalCollector
    sig = SignalCollector(sb.bus, 'org.anyd1', PROC, 'Exited')
    try:
        path = run(sb, ALLOWED, ['sh', '-c', 'exit 5'])
        sig.wait(lambda a: a == ('exited', 5, 0), what='Exited(exited, 5, 0)')
    finally:
        sig.close()
    wait_until(lambda: path not in sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager',
                                           'GetManagedObjects'), 10, what='the object to go')


@case('audit: one record per run and one per exit')
def _(sb):
    sd()
    mark = sb.mark()
    path = run(sb, ALLOWED, ['sh', '-c', 'exit 4'])
    wait(sb, ALLOWED, path)
    sb.wait_audit(mark, ANYD_ACTION='exec.exit', ANYD_OBJECT=path)
    runs = [r for r in sb.audit(mark) if r.get('ANYD_ACTION') == 'exec.run' and r.get('ANYD_OBJECT') == path]
    exits = [r for r in sb.audit(mark) if r.get('ANYD_ACTION') == 'exec.exit' and r.get('ANYD_OBJECT') == path]
    assert len(runs) == 1 and len(exits) == 1, (runs, exits)
    assert 'command=/usr/bin/dash' in runs[0].get('ANYD_DETAILS', '') + runs[0].get('MESSAGE', ''), runs
    assert 'exit_code=4' in str(exits[0]), exits


# ---- bad input ----------------------------------------------------------------

BAD = [
    ([], {}, INVALID, 'argv'),
    ([''], {}, INVALID, 'argv'),
    (['no-such-command-xyz'], {}, E + 'NotFound', 'argv[0]'),
    (['/no/such/file'], {}, E + 'NotFound', 'argv[0]'),
    (['./true'], {}, INVALID, 'argv[0]'),
    (['bin/true'], {}, INVALID, 'argv[0]'),
    (['/etc/passwd'], {}, INVALID, 'argv[0]'),
    (['/bin/echo', 'a\nb'], {}, INVALID, 'argv[1]'),
    (['/bin/echo', 'a\x1b[2J'], {}, INVALID, 'argv[1]'),
    (['/bin/true'], {'env': GLib.Variant('as', ['NOEQUALS'])}, INVALID, 'env'),
    (['/bin/true'], {'env': GLib.Variant('as', ['1X=y'])}, INVALID, 'env'),
    (['/bin/true'], {'env': GLib.Variant('as', ['X=a\tb'])}, INVALID, 'env'),
    (['/bin/true'], {'cwd': GLib.Variant('s', 'relative')}, INVALID, 'cwd'),
    (['/bin/true'], {'cwd': GLib.Variant('s', '/no/such/dir')}, INVALID, 'cwd'),
    (['/bin/true'], {'cwd': GLib.Variant('s', '/root')}, INVALID, 'cwd'),
    (['/bin/true'], {'user': GLib.Variant('s', 'no-such-user-q')}, INVALID, 'user'),
    (['/bin/true'], {'timeout_ms': GLib.Variant('u', 0)}, INVALID, 'timeout_ms'),
    (['/bin/true'], {'timeout_ms': GLib.Variant('u', 4000000000)}, INVALID, 'timeout_ms'),
    (['/bin/true'], {'memory_max': GLib.Variant('t', 10)}, INVALID, 'memory_max'),
    (['/bin/true'], {'memory_max': GLib.Variant('t', 1 << 60)}, INVALID, 'memory_max'),
    (['/bin/true'], {'cpu_quota': GLib.Variant('u', 0)}, INVALID, 'cpu_quota'),
    (['/bin/true'], {'tasks_max': GLib.Variant('t', 0)}, INVALID, 'tasks_max'),
    (['/bin/true'], {'sandbox': GLib.Variant('s', 'loose')}, INVALID, 'sandbox'),
    (['/bin/true'], {'timeout': GLib.Variant('u', 5)}, INVALID, 'timeout'),
    (['/bin/true'], {'user': GLib.Variant('u', 0)}, INVALID, 'user'),
    (['/bin/true'], {'rows': GLib.Variant('u', 5)}, INVALID, 'rows'),
    (['/bin/true'], {'stdin': GLib.Variant('h', 3)}, INVALID, 'stdin'),
]


@case('bad input: InvalidArgument / NotFound naming the field; nothing started')
def _(sb):
    sd()
    for argv, options, err, field in BAD:
        e = expect_error(err, sb.call, ALLOWED, EXEC, IFACE, 'Run', '(asa{sv})', (argv, options))
        assert field in e.message, (argv, options, e.message)
    # as the user: cwd it can't enter is refused by systemd's start (status 200)
    no_units_left()


@case('bad input: a terminal as stdio of Run is refused (use RunPty)')
def _(sb):
    sd()
    master, slave = os.openpty()
    try:
        e = expect_error(INVALID, run, sb, ALLOWED, ['/bin/true'], fds=[slave], stdout=0)
        assert 'stdout' in e.message and 'pseudo-terminal' in e.message and 'RunPty' not in e.message, e.message
    finally:
        os.close(master)
        os.close(slave)
    no_units_left()


@case('bad input: more fds than the bus allows in one message are refused')
def _(sb):
    sd()
    fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(20)]
    c = anydtest.Connection(sb, ALLOWED)   # the bus may drop this connection
    try:
        try:
            c.call(EXEC, IFACE, 'Run', '(asa{sv})', (['/bin/true'], opts(stdin=19)), fds=fds)
            raise AssertionError('20 fds in one call were accepted')
        except (DBusError, RuntimeError) as e:
            print('# 20 fds: %s' % e)
    finally:
        c.close()
        for fd in fds:
            os.close(fd)
    no_units_left()


# ---- pty ----------------------------------------------------------------------

class Pty:
    def __init__(self, fd):
        self.fd = fd
        self.buf = b''

    def write(self, text):
        os.write(self.fd, text.encode())

    def expect(self, text, timeout=15):
        end = time.monotonic() + timeout
        while text.encode() not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError('no %r on the terminal; got %r' % (text, self.buf[-400:]))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    data = b''
                if not data:
                    raise EOFError('terminal closed; got %r' % self.buf[-400:])
                self.buf += data
        i = self.buf.index(text.encode()) + len(text)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors='replace')

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))


@case('RunPty: a shell driven by a script: command, size, resize, job control, exit code')
def _(sb):
    sd()
    path, fd = run_pty(sb, ALLOWED, ['/bin/bash', '--norc', '--noprofile', '-i'], rows=30,
                       columns=100, term='vt100')
    t = Pty(fd)
    try:
        assert prop(sb, path, 'Pty') is True
        t.write('PS1="$ "; echo hi$((40+2))\n')
        t.expect('hi42')
        t.write('stty size; echo $TERM\n')
        t.expect('30 100')
        t.expect('vt100')
        t.resize(40, 120)
        t.write('stty size\n')
        t.expect('40 120')
        t.write('sleep 77 &\n')
        t.write('jobs\n')
        t.expect('sleep 77')
        t.write('kill %1; exit 7\n')
        assert wait(sb, ALLOWED, path) == ('exited', 7, 0)
    finally:
        os.close(fd)


@case('RunPty: closing the master hangs the shell up')
def _(sb):
    sd()
    # (not an interactive shell: it may see EOF before the SIGHUP and exit 0)
    path, fd = run_pty(sb, ALLOWED, ['/bin/sh', '-c', 'echo ready$((1+1)); exec sleep 100'])
    t = Pty(fd)
    t.expect('ready2')
    os.close(fd)
    status = wait(sb, ALLOWED, path)
    assert status[0] == 'hangup' and status[2] == signal.SIGHUP, status


# ---- lifetime -------------------------------------------------------------------

@case('keep_running: false stops the command when its caller leaves; true keeps it')
def _(sb):
    sd()
    c = anydtest.Connection(sb, ALLOWED)
    try:
        gone = c.call(EXEC, IFACE, 'Run', '(asa{sv})', (['/bin/sleep', '60'], {}))
        kept = c.call(EXEC, IFACE, 'Run', '(asa{sv})',
                      (['/bin/sleep', '60'], opts(keep_running=True)))
    finally:
        c.close()
    assert wait(sb, ROOT, gone) == ('stopped', -1, signal.SIGTERM)
    time.sleep(0.5)
    assert prop(sb, kept, 'State') == 'running'
    sb.call(ROOT, kept, PROC, 'Kill', '(i)', (9,))
    assert wait(sb, ROOT, kept) == ('killed', -1, 9)


@case('re-adoption: after kill -9 of anyd, running commands reappear and can be waited on')
def _(sb):
    sd()
    path = run(sb, ALLOWED, ['/bin/sleep', '60'], keep_running=True)
    short = run(sb, ALLOWED, ['/bin/sleep', '1'], keep_running=True)
    unit = prop(sb, path, 'Unit')
    sb.kill_anyd()
    time.sleep(1.5)    # `short` ends while no anyd watches it
    sb.start_anyd()
    wait_until(lambda: path in sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager',
                                       'GetManagedObjects'), 10, what='the process to be adopted')
    assert prop(sb, path, 'Unit') == unit
    assert prop(sb, path, 'State') == 'running'
    assert prop(sb, path, 'CreatedBy') == ALLOWED
    assert prop(sb, path, 'Argv') == ['/bin/sleep', '60']
    sb.call(ALLOWED, path, PROC, 'Kill', '(i)', (signal.SIGKILL,))
    assert wait(sb, ALLOWED, path) == ('killed', -1, 9)
    assert short not in sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager',
                                'GetManagedObjects')
    no_units_left()


@case('50 runs from 8 callers at once: every status right, no unit left')
def _(sb):
    sd()
    # (exited objects must outlast the slowest Wait of a sanitizer build)
    sb.write_config(CONFIG.replace('max_processes=6', 'max_processes=50')
                    .replace('keep_exited_s=3', 'keep_exited_s=120'))
    sb.manager(ROOT, 'Reload')
    conns = [anydtest.Connection(sb, ALLOWED if i % 2 else ROOT) for i in range(8)]
    try:
        pend = []
        for i in range(50):
            c = conns[i % 8]
            pend.append((c, i, c.call_async(EXEC, IFACE, 'Run', '(asa{sv})',
                                            (['sh', '-c', 'exit %d' % (i % 7)], opts(keep_running=True)))))
        waits = []
        for c, i, p in pend:
            path = p.wait(60)
            waits.append((i, c.call_async(path, PROC, 'Wait', timeout=60)))
        for i, w in waits:
            assert tuple(w.wait(70)) == ('exited', i % 7, 0), (i, w)
    finally:
        for c in conns:
            c.close()
        sb.write_config(CONFIG)
        sb.manager(ROOT, 'Reload')
    no_units_left(20)


# ---- anyd-client exec ---------------------------------------------------------

@case('anyd-client exec run: the command on the client\'s stdio, its exit status, 128+N')
def _(sb):
    sd()
    rc, out, err = sb.client(ALLOWED, 'exec', 'run', '--', '/bin/echo', 'via', '$HOME')
    assert rc == 0 and out == 'via $HOME\n', (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'exec', 'run', '--', 'sh', '-c', 'cat; echo err >&2; exit 7',
                             input='from stdin\n')
    assert rc == 7 and out == 'from stdin\n' and err == 'err\n', (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'exec', 'run', '--', 'sh', '-c', 'kill -TERM $$')
    assert rc == 128 + signal.SIGTERM, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, '--timeout', '0.5', 'exec', 'run', '--', '/bin/sleep', '30')
    assert rc == 128 + signal.SIGTERM, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'exec', 'run', '--env', 'A=1', '--env', 'B=two', '--no-network',
                             '--memory', '64M', '--cpu', '50', '--', '/usr/bin/env')
    assert rc == 0 and 'A=1' in out.splitlines() and 'B=two' in out.splitlines(), (rc, out, err)
    rc, out, err = sb.client(ROOT, 'exec', 'run', '--user', 'nobody', '--', '/usr/bin/id', '-u')
    assert rc == 0 and out.strip() == str(ALLOWED), (rc, out, err)
    rc, out, err = sb.client(DENIED, '--no-ask-password', 'exec', 'run', '--', '/bin/true')
    assert rc == 3, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'exec', 'run', '--', 'no-such-cmd-q')
    assert rc == 4 and 'argv[0]' in err, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, '--json', 'exec', 'run', '--', 'sh', '-c', 'exit 2')
    import json
    assert rc == 2 and json.loads(out)['reason'] == 'exited', (rc, out, err)


@case('anyd-client exec run: Ctrl+C goes to the command, which decides (here: exit 42)')
def _(sb):
    import subprocess
    sd()
    argv = anydtest.setpriv_prefix(ALLOWED) + [
        sb.client_binary(), 'exec', 'run', '--',
        'sh', '-c', 'trap "exit 42" INT; echo ready; sleep 30 & wait']
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=anydtest.base_env(), cwd='/')
    try:
        assert p.stdout.readline() == b'ready\n'
        time.sleep(1)   # the command may print before the client watches SIGINT
        p.send_signal(signal.SIGINT)
        rc = p.wait(20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 42, (rc, p.stderr.read())


@case('anyd-client exec ps, kill, wait, stop')
def _(sb):
    sd()
    path = run(sb, ALLOWED, ['/bin/sleep', '60'])
    pid = path.rsplit('/', 1)[1]
    rc, out, err = sb.client(ALLOWED, 'exec', 'ps')
    assert rc == 0 and pid in out and '/bin/sleep 60' in out and 'running' in out, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, '--json', 'exec', 'ps')
    import json
    assert any(p['path'] == path and p['state'] == 'running' for p in json.loads(out)), out
    rc, out, err = sb.client(ALLOWED, 'exec', 'kill', '-s', 'KILL', pid)
    assert rc == 0, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'exec', 'wait', pid)
    assert rc == 128 + 9 and out.split() == ['killed', '-1', '9'], (rc, out, err)
    path = run(sb, ALLOWED, ['/bin/sleep', '60'])
    rc, out, err = sb.client(ALLOWED, 'exec', 'stop', path)
    assert rc == 0 and prop(sb, path, 'Reason') == 'stopped', (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'exec', 'kill', '-s', 'NOPE', '1')
    assert rc == 2, (rc, out, err)


@case('anyd-client --host: fds cannot cross ssh, so the remote anyd-client runs the command')
def _(sb):
    sd()
    fake = os.path.join(anydtest.WORK, 'fake-ssh')
    os.makedirs(fake, exist_ok=True)
    os.chmod(fake, 0o777)   # the fake ssh runs as the caller and writes here
    sb.client_binary()      # puts anyd-client into WORK/bin, the "remote" PATH
    with open(os.path.join(fake, 'ssh'), 'w') as f:
        f.write('#!/bin/sh\n# records its arguments, runs the remote command here\n'
                'printf "%%s\\n" "$@" > %s/ssh-args\n'
                'for last; do :; done\n'
                'PATH=%s/bin:$PATH exec sh -c "$last"\n' % (fake, anydtest.WORK))
    os.chmod(os.path.join(fake, 'ssh'), 0o755)
    env = {'PATH': fake + ':' + anydtest.base_env()['PATH']}
    rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '--host', 'bob@example:2222', 'exec', 'run',
                                       '--env', 'X=a b', '--', 'sh', '-c', 'echo "$X"; exit 6'],
                             env=env)
    assert os.path.exists(os.path.join(fake, 'ssh-args')), (rc, out, err)
    with open(os.path.join(fake, 'ssh-args')) as f:
        args = f.read().splitlines()
    assert rc == 6 and out == 'a b\n', (rc, out, err, args)
    assert args[:4] == ['-T', '-p', '2222', '--'] and args[4] == 'bob@example', args
    assert args[5].startswith("anyd-client exec run --env 'X=a b' -- sh -c"), args


@case('anyd-client exec run --pty / shell: a terminal session, exit status returned')
def _(sb):
    sd()
    import pty as ptymod
    argv = [sb.client_binary(), 'exec', 'run', '--pty', '--', '/bin/bash', '--norc', '--noprofile', '-i']
    pid, fd = ptymod.fork()
    if pid == 0:
        os.execvpe(anydtest.setpriv_prefix(ALLOWED)[0] if anydtest.setpriv_prefix(ALLOWED) else argv[0],
                   anydtest.setpriv_prefix(ALLOWED) + argv, anydtest.base_env({'TERM': 'xterm'}))
    t = Pty(fd)
    try:
        t.resize(33, 99)
        t.expect('$ ')          # bash is reading its terminal
        t.write('stty size; echo T=$TERM\n')
        t.expect('33 99')
        t.expect('T=xterm')
        t.resize(41, 101)       # SIGWINCH to the client, which passes it on
        for attempt in range(10):
            time.sleep(0.3)
            t.write('stty size\n')
            try:
                t.expect('41 101', timeout=2)
                break
            except TimeoutError:
                if attempt == 9:
                    raise
        t.write('exit 9\n')
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 9, status
    finally:
        os.close(fd)


@case('anyd-client exec shell: the user\'s login shell on a terminal')
def _(sb):
    sd()
    import pty as ptymod
    pid, fd = ptymod.fork()
    if pid == 0:
        os.execve(sb.client_binary(), [sb.client_binary(), 'exec', 'shell', '--sandbox', 'none'],
                  anydtest.base_env({'TERM': 'xterm'}))
    t = Pty(fd)
    try:
        t.expect('# ')          # root's prompt: bash reads its terminal now
        t.write('echo in$((2+3))shell; shopt -q login_shell && echo LOGIN\n')
        t.expect('in5shell')
        t.expect('LOGIN')
        t.write('exit 4\n')
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 4, status
    finally:
        os.close(fd)


@case('metrics: anyd_exec_processes_total counts exits by reason, anyd_resources the running ones')
def _(sb):
    sd()

    def sample(text, family, **labels):
        want = ','.join('%s="%s"' % kv for kv in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith('%s{%s} ' % (family, want)):
                return float(line.rsplit(' ', 1)[1])
        return 0.0

    def metrics():
        r = sb.call(DENIED, '/org/anyd1', 'org.anyd1.Manager', 'GetMetrics')
        return r[0] if isinstance(r, (tuple, list)) else r

    before = metrics()
    path = run(sb, ALLOWED, ['/bin/sh', '-c', 'exit 3'])
    assert wait(sb, ALLOWED, path)[0] == 'exited'
    sleeper = run(sb, ALLOWED, ['/bin/sleep', '60'])
    text = metrics()
    assert sample(text, 'anyd_exec_processes_total', reason='exited') == \
        sample(before, 'anyd_exec_processes_total', reason='exited') + 1, text
    assert sample(text, 'anyd_resources', module='exec') >= 1, text
    sb.call(ALLOWED, sleeper, 'org.anyd1.ExecProcess', 'Kill', '(i)', (9,))
    assert wait(sb, ALLOWED, sleeper)[0] == 'killed'
    text = metrics()
    assert sample(text, 'anyd_exec_processes_total', reason='killed') >= 1, text


@case('no anyd-exec-* unit is left at the end')
def _(sb):
    sd()
    no_units_left(20)


if __name__ == '__main__':
    anydtest.main()
