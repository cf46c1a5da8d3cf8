#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Self-test of the sandbox the integration tests stand on (tests/anydtest.py):
# private system bus, real polkitd with the test rules, callers as other
# uids, runtime rule changes, and the authentication agent that never
# answers.  Needs no anyd, so a broken daemon cannot hide a broken harness.

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, case  # noqa: E402

ACTION = 'org.anyd1.manage'


@case('private system bus answers at the standard address', needs_anyd=False)
def _(sb):
    assert os.path.exists('/run/dbus/system_bus_socket')
    bus_id = sb.bus_call('GetId')
    assert len(bus_id) == 32, bus_id
    # the host's bus (if any) is not visible: /run is our tmpfs
    assert os.path.isdir(anydtest.WORK)
    assert os.getpid() == 1


@case('polkitd owns org.freedesktop.PolicyKit1 and runs as polkitd', needs_anyd=False)
def _(sb):
    assert sb.has_owner(anydtest.POLKIT_NAME)
    pid = sb.name_owner_pid(anydtest.POLKIT_NAME)
    with open('/proc/%d/status' % pid) as f:
        uids = [l for l in f if l.startswith('Uid:')][0].split()[1:]
    assert int(uids[0]) != 0, 'polkitd still runs as root: %r' % uids


@case('our org.anyd1.policy is what polkitd reads', needs_anyd=False)
def _(sb):
    if not sb.polkit_policy:
        raise anydtest.Skip('org.anyd1.policy not built yet')
    assert os.path.exists('/usr/share/polkit-1/actions/org.anyd1.policy')
    rc, out, err = sb.run_as(ROOT, ['pkaction', '--action-id', ACTION])
    assert rc == 0 and ACTION in out, (rc, out, err)
    # and every module's own file: polkitd knows each action in each of them
    assert len(sb.polkit_policies) >= 2, sb.polkit_policies
    for p in sb.polkit_policies:
        assert os.path.exists('/usr/share/polkit-1/actions/' + os.path.basename(p)), p
        for a in anydtest.policy_actions(p):
            rc, out, err = sb.run_as(ROOT, ['pkaction', '--action-id', a])
            assert rc == 0 and a in out, (p, a, rc, out, err)


@case('pkcheck: root, allowed, denied and needs-password uids', needs_anyd=False)
def _(sb):
    want = {ROOT: 0, ALLOWED: 0, DENIED: 1, CHALLENGE: 2}
    got = {uid: sb.pkcheck(uid, ACTION) for uid in want}
    bad = {u: g for u, g in got.items() if g[0] != want[u]}
    assert not bad, 'unexpected pkcheck results: %r' % bad
    assert 'requires authentication' in got[CHALLENGE][1], got[CHALLENGE]


@case('pkcheck: actions outside org.anyd1 are not touched by the test rules',
      needs_anyd=False)
def _(sb):
    rc, out = sb.pkcheck(ALLOWED, 'org.freedesktop.policykit.exec')
    assert rc != 0, (rc, out)


@case('rules added and removed at runtime take effect', needs_anyd=False)
def _(sb):
    rules = ('polkit.addRule(function(action, subject) {\n'
             '  if (action.id == "%s" && subject.user == "%s") return polkit.Result.YES;\n'
             '});\n' % (ACTION, anydtest.user_name(DENIED)))
    sb.write_rules('05-override', rules)
    try:
        anydtest.wait_until(lambda: sb.pkcheck(DENIED, ACTION)[0] == 0, 10,
                            what='the new rule to allow uid %d' % DENIED)
    finally:
        sb.remove_rules('05-override')
    anydtest.wait_until(lambda: sb.pkcheck(DENIED, ACTION)[0] == 1, 10,
                        what='uid %d to be denied again' % DENIED)


@case('callers run as their uid, with one connection each', needs_anyd=False)
def _(sb):
    for uid in (ROOT, ALLOWED, DENIED, CHALLENGE):
        c = sb.conn(uid)
        got_uid = sb.bus_call('GetConnectionUnixUser', '(s)', (c.unique_name,))
        got_pid = sb.bus_call('GetConnectionUnixProcessID', '(s)', (c.unique_name,))
        assert got_uid == uid, (uid, got_uid)
        assert got_pid == c.pid, (c.pid, got_pid)
        # and the caller sees the same from its side
        assert c.bus_call('GetNameOwner', '(s)', (c.unique_name,)) == c.unique_name


@case('caller errors carry the D-Bus error name', needs_anyd=False)
def _(sb):
    try:
        sb.call(ALLOWED, '/', 'org.example.Nope', 'Nope', dest='org.example.NoSuchName')
    except DBusError as e:
        assert e.name == 'org.freedesktop.DBus.Error.ServiceUnknown', e.name
        assert e.message, e
    else:
        raise AssertionError('call to a missing name succeeded')


@case('a non-root caller may not own org.anyd1', needs_anyd=False)
def _(sb):
    c = sb.connect(ALLOWED)
    try:
        c.bus_call('RequestName', '(su)', ('org.anyd1', 4))
    except DBusError as e:
        assert e.name == 'org.freedesktop.DBus.Error.AccessDenied', e
    else:
        raise AssertionError('uid %d could own org.anyd1' % ALLOWED)
    finally:
        c.close()


@case('several calls in flight on one caller connection', needs_anyd=False)
def _(sb):
    c = sb.conn(ALLOWED)
    pend = [c.call_async('/org/freedesktop/DBus', 'org.freedesktop.DBus', 'GetId',
                         dest='org.freedesktop.DBus') for _ in range(20)]
    ids = {p.wait(10) for p in pend}
    assert len(ids) == 1, ids


@case('hanging agent: polkit asks it, it never answers, closing ends the check',
      needs_anyd=False)
def _(sb):
    c = sb.connect(CHALLENGE)
    try:
        c.register_hanging_agent()
        # root asks polkit about the caller's bus name, allowing interaction:
        # polkitd finds the caller's agent and calls BeginAuthentication
        p = subprocess.Popen(['pkcheck', '--action-id', ACTION, '--allow-user-interaction',
                              '--system-bus-name', c.unique_name],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            c.wait_agent_begun(1, timeout=10)
            assert c.agent_state()['begun'] == [ACTION], c.agent_state()
            time.sleep(0.5)
            assert p.poll() is None, 'pkcheck returned although the agent never answered'
            # the check of another caller is not delayed meanwhile
            t0 = time.monotonic()
            assert sb.pkcheck(ALLOWED, ACTION)[0] == 0
            assert time.monotonic() - t0 < 2.0
        finally:
            c.close()
        out = p.communicate(timeout=15)[0].decode()
        assert p.returncode != 0, (p.returncode, out)
    finally:
        if p.poll() is None:
            p.kill()


ECHO_XML = """
<node>
  <interface name="org.anyd1.test.Echo">
    <method name="EchoFd">
      <arg type="h" name="fd" direction="in"/>
      <arg type="s" name="text" direction="in"/>
      <arg type="h" name="copy" direction="out"/>
      <arg type="s" name="read" direction="out"/>
    </method>
  </interface>
</node>
"""


def serve_echo(ready, stop):
    """A root service on the test bus, in its own thread and main context:
    EchoFd(h fd, s text) reads the caller's fd and sends a new pipe back."""
    from gi.repository import Gio, GLib
    ctx = GLib.MainContext()
    ctx.push_thread_default()
    conn = Gio.DBusConnection.new_for_address_sync(
        anydtest.BUS_ADDRESS, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
        Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def on_call(c, sender, path, iface, method, params, inv):
        fdl = inv.get_message().get_unix_fd_list()
        fd = fdl.get(params.unpack()[0])
        data = os.read(fd, 100).decode()
        os.close(fd)
        r, w = os.pipe()
        os.write(w, (params.unpack()[1] + '|' + data).encode())
        os.close(w)
        out = Gio.UnixFDList.new_from_array([r])
        inv.return_value_with_unix_fd_list(GLib.Variant('(hs)', (0, data)), out)

    info = Gio.DBusNodeInfo.new_for_xml(ECHO_XML)
    conn.register_object('/echo', info.interfaces[0], on_call, None, None)
    ready.append(conn.get_unique_name())
    while not stop:
        ctx.iteration(False) or time.sleep(0.01)
    conn.close_sync(None)
    ctx.pop_thread_default()


@case('file descriptors travel both ways through a caller', needs_anyd=False)
def _(sb):
    import threading
    ready, stop = [], []
    th = threading.Thread(target=serve_echo, args=(ready, stop), daemon=True)
    th.start()
    anydtest.wait_until(lambda: ready, 10, what='the echo service')
    r, w = os.pipe()
    os.write(w, b'hello')
    os.close(w)
    try:
        # the bus denies method calls by default: the echo is not in any policy
        expect = 'org.freedesktop.DBus.Error.AccessDenied'
        try:
            sb.call(ALLOWED, '/echo', 'org.anyd1.test.Echo', 'EchoFd', '(hs)', (0, 'x'),
                    fds=[r], dest=ready[0])
        except DBusError as e:
            assert e.name == expect and not e.message.startswith('GDBus.Error'), e
        else:
            raise AssertionError('the bus let an unlisted call through')
        sb.add_bus_policy('echo.conf', '<busconfig><policy context="default">'
                          '<allow send_interface="org.anyd1.test.Echo"/>'
                          '</policy></busconfig>')
        reply = sb.conn(ALLOWED).call_full('/echo', 'org.anyd1.test.Echo', 'EchoFd', '(hs)',
                                        (0, 'back'), fds=[r], dest=ready[0])
        idx, text = reply.value
        assert text == 'hello', text
        assert len(reply.fds) == 1, reply.fds
        got = os.read(reply.fds[idx], 100)
        os.close(reply.fds[idx])
        assert got == b'back|hello', got
    finally:
        os.close(r)
        if os.path.exists(os.path.join(anydtest.WORK, 'dbus.d', 'echo.conf')):
            sb.remove_bus_policy('echo.conf')
        stop.append(1)
        th.join(5)


@case('a systemd manager owns org.freedesktop.systemd1 and runs units', needs_anyd=False)
def _(sb):
    assert sb.has_owner('org.freedesktop.systemd1')
    sb.write_unit('anydtest-demo.service', '[Service]\nExecStart=/bin/sleep 1000\n')
    sb.systemctl('start', 'anydtest-demo.service')
    out = sb.systemctl('show', '-p', 'ActiveState,MainPID', 'anydtest-demo.service')[1]
    assert 'ActiveState=active' in out, out
    path = sb.call(ROOT, '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager',
                   'GetUnit', '(s)', ('anydtest-demo.service',),
                   dest='org.freedesktop.systemd1')
    assert path == '/org/freedesktop/systemd1/unit/anydtest_2ddemo_2eservice', path
    sb.systemctl('stop', 'anydtest-demo.service')


if __name__ == '__main__':
    anydtest.main(start_anyd=False, systemd=True)
