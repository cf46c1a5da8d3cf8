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


if __name__ == '__main__':
    anydtest.main(start_anyd=False)
