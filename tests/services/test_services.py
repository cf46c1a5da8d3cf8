#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration tests of the services module (org.anyd1.Services) against a
# REAL systemd manager: `systemd --user` owning org.freedesktop.systemd1 on
# the sandbox's system bus (tests/systemd_sandbox.py), anyd from the build
# tree, the real polkitd with the test uids (65534 allowed, 2 denied,
# 1 needs a password, root). Units are written by the tests into the
# manager's runtime unit directory.

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import (ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case,  # noqa: E402
                      expect_error, slow)
from systemd_sandbox import SignalCollector, SystemdManager  # noqa: E402

PATH = '/org/anyd1/services'
IFACE = 'org.anyd1.Services'
ACTION = 'org.anyd1.services.manage'
E = anydtest.ERROR_PREFIX
NOT_AUTHORIZED = (E + 'NotAuthorized', E + 'NotAuthorizedCanObtain')
VERBS = ('Start', 'Stop', 'Restart', 'Reload')
ALL_UIDS = (ROOT, ALLOWED, DENIED, CHALLENGE)

ALLOW = ['demo', 'slow1.service', 'slow2.service', 'failing.service', 'needsfailing.service',
         'reloadable.service', 'missing.service', 'app@*.service', 'oneshot.service']
CONFIG = '[services]\nallow=%s;\n' % ';'.join(ALLOW)
NORMALISED = ['demo.service', 'slow1.service', 'slow2.service', 'failing.service',
              'needsfailing.service', 'reloadable.service', 'missing.service', 'app@*.service',
              'oneshot.service']

SLEEP = '/bin/sleep infinity'
UNITS = {
    'demo.service': '[Service]\nExecStart=%s\n' % SLEEP,
    'slow1.service': '[Service]\nExecStartPre=/bin/sleep 1\nExecStart=%s\n' % SLEEP,
    'slow2.service': '[Service]\nExecStartPre=/bin/sleep 1\nExecStart=%s\n' % SLEEP,
    'failing.service': '[Service]\nType=oneshot\nExecStart=/bin/false\n',
    'needsfailing.service': ('[Unit]\nRequires=failing.service\nAfter=failing.service\n'
                             '[Service]\nExecStart=%s\n' % SLEEP),
    'reloadable.service': '[Service]\nExecStart=%s\nExecReload=/bin/true\n' % SLEEP,
    'app@.service': '[Service]\nExecStart=%s\n' % SLEEP,
    'notallowed.service': '[Service]\nExecStart=%s\n' % SLEEP,
    'oneshot.service': '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n',
}

SYSTEMD = None


def diag(text):
    for line in str(text).splitlines():
        print('# ' + line)


def svc(sb, uid, method, *args, **kw):
    sig = '(%s)' % ('s' * len(args))
    return sb.call(uid, PATH, IFACE, method, sig, tuple(args), **kw)


def sd():
    if SYSTEMD is None or not SYSTEMD.running():
        raise Skip('no systemd manager in the sandbox')
    return SYSTEMD


def fresh(unit):
    """Put a unit back to inactive (and not failed), directly via systemd."""
    sd().reset(unit)
    sd().wait_state(unit, 'inactive')


# ---- setup ------------------------------------------------------------------

@case('a real systemd manager owns org.freedesktop.systemd1 on the sandbox bus',
      needs_anyd=False)
def _(sb):
    global SYSTEMD
    m = SystemdManager(sb)
    if not m.available():
        raise Skip('systemd is not installed')
    m.start()
    SYSTEMD = m
    for name, text in UNITS.items():
        m.write_unit(name, text, reload=False)
    m.daemon_reload()
    assert m.active_state('demo.service') == 'inactive'
    rc, out = m.systemctl('start', 'demo.service')
    assert rc == 0, out
    assert m.main_pid('demo.service') > 0
    m.systemctl('stop', 'demo.service', check=True)
    sb.write_config(CONFIG)


@case('Services is exported at /org/anyd1/services and listed in Modules')
def _(sb):
    mods = sb.conn(ROOT).get_property('/org/anyd1', 'org.anyd1.Manager', 'Modules')
    assert 'services' in mods, mods
    objs = sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
    assert IFACE in objs.get(PATH, {}), objs


@case('ListAllowed: the normalised allowlist, public for every uid')
def _(sb):
    for uid in ALL_UIDS:
        assert svc(sb, uid, 'ListAllowed') == NORMALISED, uid


@case('GetStatus: ActiveState, SubState, MainPID, Result, Since; public for every uid')
def _(sb):
    fresh('demo.service')
    for uid in ALL_UIDS:
        st = svc(sb, uid, 'GetStatus', 'demo')
        assert {'ActiveState', 'SubState', 'MainPID', 'Result', 'Since'} <= set(st), st
        assert st['ActiveState'] == 'inactive' and st['SubState'] == 'dead', st
        assert st['MainPID'] == 0, st
    sd().systemctl('start', 'demo.service', check=True)
    st = svc(sb, DENIED, 'GetStatus', 'demo.service')
    assert st['ActiveState'] == 'active' and st['SubState'] == 'running', st
    assert st['MainPID'] == sd().main_pid('demo.service'), st
    assert st['Result'] == 'success', st
    assert abs(st['Since'] / 1e6 - time.time()) < 60, st
    expect_error(E + 'NotFound', svc, sb, ROOT, 'GetStatus', 'missing')
    expect_error(E + 'NotAuthorized', svc, sb, ROOT, 'GetStatus', 'notallowed')
    expect_error(E + 'InvalidArgument', svc, sb, ROOT, 'GetStatus', 'a/b')


# ---- the verbs ----------------------------------------------------------------

@case('Start as the allowed uid: the unit runs, with a main PID')
def _(sb):
    fresh('demo.service')
    assert svc(sb, ALLOWED, 'Start', 'demo') is None
    # The call answers after the job is done: no waiting needed.
    assert sd().state('demo.service') == ('active', 'running')
    assert sd().main_pid('demo.service') > 0


@case('Restart changes MainPID')
def _(sb):
    sd().systemctl('start', 'demo.service', check=True)
    before = sd().main_pid('demo.service')
    assert before > 0
    svc(sb, ALLOWED, 'Restart', 'demo.service')
    after = sd().main_pid('demo.service')
    assert after > 0 and after != before, (before, after)
    assert sd().state('demo.service') == ('active', 'running')
    assert svc(sb, ALLOWED, 'GetStatus', 'demo')['MainPID'] == after


@case('Stop then Start')
def _(sb):
    sd().systemctl('start', 'demo.service', check=True)
    svc(sb, ALLOWED, 'Stop', 'demo')
    assert sd().state('demo.service') == ('inactive', 'dead')
    svc(sb, ALLOWED, 'Stop', 'demo')          # stopping a stopped unit is fine
    svc(sb, ROOT, 'Start', 'demo')
    assert sd().active_state('demo.service') == 'active'
    svc(sb, ROOT, 'Start', 'demo')            # and so is starting a running one
    assert sd().active_state('demo.service') == 'active'


@case('Reload: a unit with ExecReload reloads; one without -> NotSupported')
def _(sb):
    sd().systemctl('start', 'reloadable.service', 'demo.service', check=True)
    pid = sd().main_pid('reloadable.service')
    svc(sb, ALLOWED, 'Reload', 'reloadable')
    assert sd().main_pid('reloadable.service') == pid
    assert sd().prop('demo.service', 'CanReload') is False
    pid = sd().main_pid('demo.service')
    e = expect_error(E + 'NotSupported', svc, sb, ALLOWED, 'Reload', 'demo')
    assert 'demo.service' in e.message and 'reload' in e.message.lower(), e.message
    assert sd().main_pid('demo.service') == pid and sd().active_state('demo.service') == 'active'


@case('a unit whose ExecStart fails -> Failed with systemd\'s result and the unit state')
def _(sb):
    fresh('failing.service')
    e = expect_error(E + 'Failed', svc, sb, ALLOWED, 'Start', 'failing')
    diag(e.message)
    assert "'failed'" in e.message, e.message
    assert 'failing.service' in e.message, e.message
    assert 'ActiveState=failed' in e.message and 'Result=exit-code' in e.message, e.message
    st = svc(sb, ALLOWED, 'GetStatus', 'failing')
    assert st['ActiveState'] == 'failed' and st['Result'] == 'exit-code', st
    fresh('failing.service')


@case('a unit whose dependency fails -> Failed with result dependency')
def _(sb):
    fresh('failing.service')
    fresh('needsfailing.service')
    e = expect_error(E + 'Failed', svc, sb, ALLOWED, 'Start', 'needsfailing')
    assert "'dependency'" in e.message, e.message
    assert sd().active_state('needsfailing.service') != 'active'
    fresh('failing.service')
    fresh('needsfailing.service')


@case('an allowed unit that does not exist -> NotFound, nothing started')
def _(sb):
    for verb in ('Start', 'Restart', 'Stop'):
        e = expect_error(E + 'NotFound', svc, sb, ALLOWED, verb, 'missing')
        assert 'missing.service' in e.message, e.message


@case('pattern app@*.service: instances allowed, the template and other templates not')
def _(sb):
    svc(sb, ALLOWED, 'Start', 'app@one')
    assert sd().active_state('app@one.service') == 'active'
    svc(sb, ALLOWED, 'Restart', 'app@two.service')
    assert sd().active_state('app@two.service') == 'active'
    svc(sb, ALLOWED, 'Stop', 'app@one.service')
    svc(sb, ALLOWED, 'Stop', 'app@two.service')
    expect_error(E + 'InvalidArgument', svc, sb, ROOT, 'Start', 'app@.service')
    expect_error(E + 'InvalidArgument', svc, sb, ROOT, 'Start', 'app@*.service')
    for name in ('apps@one.service', 'app@one.socket', 'xapp@one.service', 'app.service'):
        e = expect_error(E + 'NotAuthorized', svc, sb, ROOT, 'Start', name)
        assert 'allowlist' in e.message, e.message


# ---- who may: polkit and the allowlist ----------------------------------------

@case('matrix: every verb as allowed / denied / needs-password / root')
def _(sb):
    sd().systemctl('start', 'reloadable.service', check=True)
    for verb in VERBS:
        for uid in (DENIED, CHALLENGE):
            pid = sd().main_pid('reloadable.service')
            want = E + 'NotAuthorized' if uid == DENIED else E + 'NotAuthorizedCanObtain'
            expect_error(want, svc, sb, uid, verb, 'reloadable')
            assert sd().main_pid('reloadable.service') == pid, (verb, uid)
            assert sd().active_state('reloadable.service') == 'active', (verb, uid)
        for uid in (ALLOWED, ROOT):
            svc(sb, uid, verb, 'reloadable')
            if verb == 'Stop':
                assert sd().active_state('reloadable.service') == 'inactive'
                sd().systemctl('start', 'reloadable.service', check=True)
            else:
                assert sd().active_state('reloadable.service') == 'active', (verb, uid)


@case('polkit gets details unit (normalised) and verb; decisions and actions audited')
def _(sb):
    m = sb.mark()
    sd().systemctl('start', 'demo.service', check=True)
    svc(sb, ALLOWED, 'Restart', 'demo')
    rec = sb.wait_audit(m, ANYD_ACTION=ACTION, ANYD_CALLER_UID=ALLOWED, ANYD_RESULT='allowed')
    assert 'unit=demo.service' in rec.get('ANYD_DETAILS', ''), rec
    assert 'verb=restart' in rec.get('ANYD_DETAILS', ''), rec
    sb.wait_audit(m, ANYD_ACTION='services.restart', ANYD_CALLER_UID=ALLOWED, ANYD_RESULT='ok',
                  ANYD_OBJECT='demo.service')
    expect_error(E + 'NotAuthorized', svc, sb, DENIED, 'Stop', 'demo')
    rec = sb.wait_audit(m, ANYD_ACTION=ACTION, ANYD_CALLER_UID=DENIED, ANYD_RESULT='denied')
    assert 'verb=stop' in rec.get('ANYD_DETAILS', ''), rec
    expect_error(E + 'Failed', svc, sb, ALLOWED, 'Start', 'failing')
    sb.wait_audit(m, ANYD_ACTION='services.start', ANYD_RESULT='error', ANYD_OBJECT='failing.service')
    fresh('failing.service')


@case('a unit not on the allowlist is refused before polkit: no password prompt for it')
def _(sb):
    c = sb.connect(CHALLENGE)
    try:
        c.register_hanging_agent()
        m = sb.mark()
        t0 = time.monotonic()
        e = expect_error(E + 'NotAuthorized', c.call, PATH, IFACE, 'Restart', '(s)',
                         ('notallowed',), interactive=True, timeout=10)
        dt = time.monotonic() - t0
        assert 'allowlist' in e.message, e.message
        assert dt < 5 * slow(sb), 'refusal took %.2f s' % dt
        assert not c.agent_state()['begun'], 'polkit asked for a password: %r' % c.agent_state()
        rec = sb.wait_audit(m, timeout=10 * slow(sb), ANYD_ACTION=ACTION)
        assert rec.get('ANYD_RESULT') == 'denied', rec
        # an allowed unit still goes to polkit and asks
        c.call_async(PATH, IFACE, 'Restart', '(s)', ('demo',), interactive=True, timeout=120)
        c.wait_agent_begun(1, timeout=10 * slow(sb))
    finally:
        c.kill()


@case('a unit not on the allowlist is refused for every caller, root included')
def _(sb):
    fresh('notallowed.service')
    for verb in VERBS:
        for uid in ALL_UIDS:
            e = expect_error(NOT_AUTHORIZED, svc, sb, uid, verb, 'notallowed')
            # the allowlist says no before polkit is asked, and says so
            assert e.name == E + 'NotAuthorized', (uid, e.name)
            assert 'allowlist' in e.message and '[services] allow=' in e.message, e.message
            assert 'notallowed.service' in e.message, e.message
    assert sd().active_state('notallowed.service') == 'inactive'
    # the same with interaction allowed: still no (root never needs a password)
    e = expect_error(E + 'NotAuthorized', svc, sb, ROOT, 'Start', 'notallowed', interactive=True)
    assert 'allowlist' in e.message
    assert sd().active_state('notallowed.service') == 'inactive'


@case('bad unit names -> InvalidArgument naming the field, nothing started')
def _(sb):
    bad = ['', '/', '../../etc/passwd', 'a/b.service', '/run/user/0/systemd/demo.service',
           'foo bar.service', 'x' * 300, 'x' * 248 + '.service', 'demo\n.service', 'dém.service',
           '.service', '@x.service', 'app@.service', '*', 'demo*', 'demo.service\x01',
           '-', '\\']
    for name in bad:
        for uid in (ROOT, ALLOWED):
            try:
                svc(sb, uid, 'Start', name)
            except DBusError as e:
                e.message = anydtest.error_message(e)
                if name in ('-', '\\'):
                    # valid systemd names ("-.service", "\.service"), just not allowed
                    assert e.name == E + 'NotAuthorized', (name, e)
                    continue
                assert e.name == E + 'InvalidArgument', (repr(name), e.name, e.message)
                assert e.message.startswith('unit'), (repr(name), e.message)
                continue
            raise AssertionError('%r was accepted' % name)
    # longest valid name: 255 bytes, refused only by the allowlist
    expect_error(E + 'NotAuthorized', svc, sb, ROOT, 'Start', 'x' * 247 + '.service')
    assert sb.anyd.poll() is None


@case('a verb-specific rules.d rule: nobody\'s group may restart demo.service but not stop it')
def _(sb):
    sb.write_rules('05-services-verbs', '''
polkit.addRule(function(action, subject) {
    if (action.id == "org.anyd1.services.manage" &&
        action.lookup("unit") == "demo.service" &&
        subject.isInGroup("nogroup")) {
        if (action.lookup("verb") == "restart")
            return polkit.Result.YES;
        return polkit.Result.NO;
    }
    return polkit.Result.NOT_HANDLED;
});
''')
    try:
        sd().systemctl('start', 'demo.service', check=True)
        before = sd().main_pid('demo.service')
        svc(sb, ALLOWED, 'Restart', 'demo')
        after = sd().main_pid('demo.service')
        assert after != before
        for verb in ('Stop', 'Start', 'Reload'):
            expect_error(E + 'NotAuthorized', svc, sb, ALLOWED, verb, 'demo')
        assert sd().main_pid('demo.service') == after
        # the rule names one unit: others keep the test rules' answer
        svc(sb, ALLOWED, 'Start', 'reloadable')
        svc(sb, ALLOWED, 'Stop', 'reloadable')
        # root is not in the group: unaffected
        svc(sb, ROOT, 'Stop', 'demo')
    finally:
        sb.remove_rules('05-services-verbs')
    svc(sb, ALLOWED, 'Start', 'demo')


# ---- concurrency ---------------------------------------------------------------

@case('concurrent restarts of two slow units run in parallel (about 1x, not 2x)')
def _(sb):
    for u in ('slow1.service', 'slow2.service'):
        fresh(u)
    c1, c2 = sb.connect(ALLOWED), sb.connect(ROOT)
    try:
        t0 = time.monotonic()
        p1 = c1.call_async(PATH, IFACE, 'Restart', '(s)', ('slow1',))
        p2 = c2.call_async(PATH, IFACE, 'Restart', '(s)', ('slow2',))
        # while both jobs run, other calls are answered at once
        t1 = time.monotonic()
        svc(sb, DENIED, 'GetStatus', 'demo')
        svc(sb, ALLOWED, 'ListAllowed')
        quick = time.monotonic() - t1
        p1.wait(30)
        p2.wait(30)
        both = time.monotonic() - t0
    finally:
        c1.close()
        c2.close()
    diag('two 1 s restarts together: %.2f s; other calls meanwhile: %.3f s' % (both, quick))
    assert sd().active_state('slow1.service') == 'active'
    assert sd().active_state('slow2.service') == 'active'
    assert 0.9 <= both < 1.7 * slow(sb), both
    assert quick < 0.5 * slow(sb), quick


@case('the same unit restarted by two callers at once: both answered (merged job)')
def _(sb):
    sd().systemctl('start', 'slow1.service', check=True)
    conns = [sb.connect(uid) for uid in (ALLOWED, ROOT, ALLOWED)]
    try:
        ps = [c.call_async(PATH, IFACE, 'Restart', '(s)', ('slow1',)) for c in conns]
        for p in ps:
            p.wait(30)
    finally:
        for c in conns:
            c.close()
    assert sd().active_state('slow1.service') == 'active'


@case('a caller that leaves while its job runs: the job finishes, anyd is fine')
def _(sb):
    fresh('slow2.service')
    c = sb.connect(ALLOWED)
    c.call_async(PATH, IFACE, 'Start', '(s)', ('slow2',))
    time.sleep(0.2)
    c.kill()
    sd().wait_state('slow2.service', 'active', timeout=10)
    assert svc(sb, ALLOWED, 'GetStatus', 'slow2')['ActiveState'] == 'active'


@case('many calls in flight: jobs of 20 restarts all answered')
def _(sb):
    sd().systemctl('start', 'demo.service', check=True)
    c = sb.connect(ALLOWED)
    try:
        ps = [c.call_async(PATH, IFACE, 'Restart', '(s)', ('demo',)) for _ in range(20)]
        for p in ps:
            p.wait(30)
    finally:
        c.close()
    assert sd().state('demo.service') == ('active', 'running')


# ---- UnitChanged -----------------------------------------------------------------

@case('UnitChanged for allowed units (by name and by pattern), none for others')
def _(sb):
    col = SignalCollector(sb.bus, anydtest.BUS_NAME, IFACE, 'UnitChanged', PATH)
    try:
        fresh('demo.service')
        col.pump(0.3)
        svc(sb, ALLOWED, 'Start', 'demo')
        col.wait(lambda s: s == ('demo.service', 'active', 'running'), 10, 'UnitChanged active')
        svc(sb, ALLOWED, 'Stop', 'demo')
        col.wait(lambda s: s[0] == 'demo.service' and s[1] == 'inactive', 10, 'UnitChanged inactive')
        # changes made behind anyd's back are reported too
        sd().systemctl('start', 'demo.service', check=True)
        n = len(col.items)
        col.wait(lambda s: s == ('demo.service', 'active', 'running'), 10,
                 'UnitChanged from systemctl', since=n)
        # an instance of an allowed pattern
        svc(sb, ALLOWED, 'Start', 'app@sig')
        col.wait(lambda s: s == ('app@sig.service', 'active', 'running'), 10, 'UnitChanged app@sig')
        svc(sb, ALLOWED, 'Stop', 'app@sig')
        # not allowed: no signal
        sd().systemctl('start', 'notallowed.service', check=True)
        sd().systemctl('stop', 'notallowed.service', check=True)
        col.pump(0.5)
        assert not [s for s in col.items if s[0] == 'notallowed.service'], col.items
        # deduplicated: every signal differs from the previous one of its unit
        last = {}
        for u, a, s in col.items:
            assert last.get(u) != (a, s), col.items
            last[u] = (a, s)
    finally:
        col.close()


# ---- anyd-client services ----------------------------------------------------------

def client(sb, uid, *args):
    if not os.access(sb.client_path, os.X_OK):
        raise Skip('anyd-client is not built')
    return sb.client(uid, '--no-ask-password', *args)


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    return len(lines) == 1 and lines[0].startswith('anyd-client: ')


@case('anyd-client services list: table and --json, for any uid')
def _(sb):
    sd().systemctl('start', 'demo.service', check=True)
    rc, out, err = client(sb, DENIED, 'services', 'list')
    assert rc == 0, (rc, out, err)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:] if line.strip()}
    assert out.splitlines()[0].split()[:3] == ['UNIT', 'ACTIVE', 'SUB'], out
    assert set(rows) == set(NORMALISED), out
    assert rows['demo.service'][:2] == ['active', 'running'], out
    assert rows['missing.service'][0] == 'not-found', out
    assert rows['app@*.service'][0] == '(pattern)', out
    rc, out, err = client(sb, DENIED, '--json', 'services', 'list')
    assert rc == 0, (rc, out, err)
    doc = json.loads(out)
    byunit = {o['unit']: o for o in doc}
    assert byunit['demo.service']['active_state'] == 'active', doc
    assert byunit['demo.service']['main_pid'] == sd().main_pid('demo.service'), doc
    assert byunit['missing.service']['error'] == E + 'NotFound', doc
    assert byunit['app@*.service']['pattern'] is True, doc
    rc, out, err = client(sb, DENIED, 'services')      # list is the default command
    assert rc == 0 and 'demo.service' in out, (rc, out, err)
    # completion offers the allowed units (not the patterns) where a UNIT goes
    rc, out, err = client(sb, DENIED, '__complete', 'services', 'status', '')
    assert rc == 0 and sorted(out.splitlines()) == sorted(u for u in NORMALISED if '*' not in u), (rc, out, err)


@case('anyd-client services status: human and --json')
def _(sb):
    sd().systemctl('start', 'demo.service', check=True)
    pid = sd().main_pid('demo.service')
    rc, out, err = client(sb, CHALLENGE, 'services', 'status', 'demo')
    assert rc == 0, (rc, out, err)
    assert 'active (running)' in out and str(pid) in out, out
    rc, out, err = client(sb, CHALLENGE, '--json', 'services', 'status', 'demo')
    doc = json.loads(out)
    assert doc['active_state'] == 'active' and doc['main_pid'] == pid and doc['unit'] == 'demo', doc
    rc, out, err = client(sb, ROOT, 'services', 'status', 'missing')
    assert rc == 4 and one_error_line(err), (rc, out, err)


@case('anyd-client services restart/stop/start: exit 0, the unit changes; --json says done')
def _(sb):
    sd().systemctl('start', 'demo.service', check=True)
    before = sd().main_pid('demo.service')
    rc, out, err = client(sb, ALLOWED, 'services', 'restart', 'demo')
    assert rc == 0 and out == '' and err == '', (rc, out, err)
    assert sd().main_pid('demo.service') not in (0, before)
    rc, out, err = client(sb, ALLOWED, '--json', 'services', 'stop', 'demo.service')
    assert rc == 0, (rc, out, err)
    assert json.loads(out) == {'unit': 'demo.service', 'verb': 'stop', 'result': 'done'}, out
    assert sd().active_state('demo.service') == 'inactive'
    rc, out, err = client(sb, ROOT, 'services', 'start', 'demo')
    assert rc == 0 and sd().active_state('demo.service') == 'active', (rc, out, err)
    # --timeout bounds the wait for the job (which goes on without us)
    sd().systemctl('stop', 'slow1.service', check=True)
    rc, out, err = client(sb, ALLOWED, '--timeout', '0.2', 'services', 'start', 'slow1')
    assert rc == 1 and err.startswith('anyd-client: anyd did not answer in time'), (rc, out, err)
    anydtest.wait_until(lambda: sd().active_state('slow1.service') == 'active', 10, what='slow1 active')


@case('anyd-client services monitor: UnitChanged of allowed units, one line each (and --json)')
def _(sb):
    import signal as _signal
    import subprocess
    sd().systemctl('start', 'demo.service', check=True)
    mons = [subprocess.Popen(anydtest.setpriv_prefix(DENIED) + [sb.client_binary()] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=anydtest.base_env(), cwd='/')
            for args in (['services', 'monitor'], ['--json', 'services', 'monitor'])]
    try:
        anydtest.wait_until(lambda: mons[0].stdout.readline().startswith('Watching'), 10,
                            what='monitor up')
        time.sleep(0.3)
        rc, out, err = client(sb, ALLOWED, 'services', 'stop', 'demo')
        assert rc == 0, (rc, out, err)
        time.sleep(0.5)
    finally:
        for m in mons:
            m.send_signal(_signal.SIGINT)
    outs = [m.communicate(timeout=10) for m in mons]
    assert all(m.returncode == 0 for m in mons), outs
    lines = [l for l in outs[0][0].splitlines() if 'UnitChanged' in l]
    assert any('unit=demo.service' in l and 'active_state=inactive' in l for l in lines), outs[0]
    events = [json.loads(l) for l in outs[1][0].splitlines()]
    assert any(e['event'] == 'signal' and e['module'] == 'services' and
               e['details'] == {'signal': 'UnitChanged', 'unit': 'demo.service',
                                'active_state': 'inactive', 'sub_state': 'dead'}
               for e in events), events
    sd().systemctl('start', 'demo.service', check=True)


@case('anyd-client services: exit codes 3 (not allowed, denied), 4, 2, 1, one error line')
def _(sb):
    want = [
        (ROOT, ('restart', 'notallowed'), 3, 'allowlist'),
        (DENIED, ('restart', 'demo'), 3, ''),
        (CHALLENGE, ('restart', 'demo'), 3, ''),
        (ALLOWED, ('start', 'missing'), 4, 'missing.service'),
        (ALLOWED, ('start', 'a/b'), 2, 'unit'),
        (ALLOWED, ('start', 'failing'), 1, "job result 'failed'"),
        (ALLOWED, ('reload', 'demo'), 1, 'reload'),
    ]
    for uid, args, code, text in want:
        rc, out, err = client(sb, uid, 'services', *args)
        assert rc == code and one_error_line(err) and text in err, (uid, args, rc, out, err)
        rc, out, err = client(sb, uid, '--json', 'services', *args)
        assert rc == code and json.loads(out)['error'].startswith(E), (uid, args, rc, out, err)
    rc, out, err = client(sb, ALLOWED, 'services', 'restart')
    assert rc == 2, (rc, out, err)
    fresh('failing.service')


# ---- configuration -----------------------------------------------------------------

@case('Reload of the configuration applies a new allowlist; a bad one is refused')
def _(sb):
    try:
        sb.write_config('[services]\nallow=notallowed\n')
        sb.manager(ROOT, 'Reload')
        assert svc(sb, ALLOWED, 'ListAllowed') == ['notallowed.service']
        col = SignalCollector(sb.bus, anydtest.BUS_NAME, IFACE, 'UnitChanged', PATH)
        try:
            svc(sb, ALLOWED, 'Start', 'notallowed')
            svc(sb, ALLOWED, 'Stop', 'notallowed')
            # the newly allowed unit is watched; the dropped ones are not
            col.wait(lambda s: s[0] == 'notallowed.service' and s[1] == 'inactive', 10,
                     'UnitChanged for the newly allowed unit')
            sd().systemctl('restart', 'demo.service', check=True)
            col.pump(0.5)
            assert not [s for s in col.items if s[0] == 'demo.service'], col.items
        finally:
            col.close()
        e = expect_error(E + 'NotAuthorized', svc, sb, ALLOWED, 'Start', 'demo')
        assert 'notallowed.service' in e.message, e.message
        for bad in ('a/b.service', 'foo bar', '*.service', 'app*.service', 'app@.service',
                    'x' * 300):
            sb.write_config('[services]\nallow=demo;%s;\n' % bad)
            e = expect_error(E + 'InvalidArgument', sb.manager, ROOT, 'Reload')
            assert '[services] allow' in e.message and 'anyd.conf' in e.message, e.message
            assert svc(sb, ALLOWED, 'ListAllowed') == ['notallowed.service']
    finally:
        sb.write_config(CONFIG)
        sb.manager(ROOT, 'Reload')
    assert svc(sb, ALLOWED, 'ListAllowed') == NORMALISED


@case('anyd refuses to start with a bad allowlist, naming file and entry', needs_anyd=False)
def _(sb):
    sb.stop_anyd()
    try:
        sb.write_config('[services]\nallow=nginx;../etc/shadow;\n')
        rc, out = sb.run_anyd(['--config', sb.confdir])
        assert rc != 0, out
        assert 'anyd.conf' in out and '[services] allow' in out and 'etc/shadow' in out, out
    finally:
        sb.write_config(CONFIG)
    sb.start_anyd()


@case('empty allowlist (the default): every unit refused, ListAllowed empty', needs_anyd=False)
def _(sb):
    sb.stop_anyd()
    sb.remove_config()
    try:
        sb.start_anyd()
        assert svc(sb, ROOT, 'ListAllowed') == []
        e = expect_error(E + 'NotAuthorized', svc, sb, ROOT, 'Start', 'demo')
        assert 'empty' in e.message, e.message
    finally:
        sb.stop_anyd()
        sb.write_config(CONFIG)
    sb.start_anyd()


# ---- systemd going away and coming back -----------------------------------------------

def start_stop_signalled(sb, m, verb):
    """verb demo.service through anyd, then Stop it: UnitChanged must follow."""
    svc(sb, ALLOWED, verb, 'demo')
    assert m.active_state('demo.service') == 'active'
    col = SignalCollector(sb.bus, anydtest.BUS_NAME, IFACE, 'UnitChanged', PATH)
    try:
        svc(sb, ALLOWED, 'Stop', 'demo')
        col.wait(lambda s: s[0] == 'demo.service' and s[1] == 'inactive', 10, 'UnitChanged')
    finally:
        col.close()


@case('anyd started before systemd: verbs work once it appears; Disabled while it is gone',
      needs_anyd=False)
def _(sb):
    m = sd()
    sb.stop_anyd()
    m.stop()
    sb.start_anyd()
    e = expect_error(E + 'Disabled', svc, sb, ALLOWED, 'Start', 'demo')
    assert 'systemd' in e.message, e.message
    expect_error(E + 'Disabled', svc, sb, ALLOWED, 'GetStatus', 'demo')
    m.start()
    # UnitChanged works too: anyd subscribed when the manager appeared
    start_stop_signalled(sb, m, 'Start')


@case('systemd restarts under a running anyd: jobs and signals work again')
def _(sb):
    m = sd()
    pid = sb.anyd.pid
    m.stop()
    expect_error(E + 'Disabled', svc, sb, ALLOWED, 'Restart', 'demo')
    m.start()
    start_stop_signalled(sb, m, 'Restart')
    assert sb.anyd.pid == pid and sb.anyd.poll() is None


def job_while_systemd_goes(sb, end):
    """Start slow1 as the allowed uid, end the manager with end() while the
    job runs; returns (the caller's error, seconds it waited after end())."""
    m = sd()
    fresh('slow1.service')
    c = sb.connect(ALLOWED)
    try:
        p = c.call_async(PATH, IFACE, 'Start', '(s)', ('slow1',))
        time.sleep(0.3)
        t0 = time.monotonic()
        end()
        e = expect_error(E + 'Failed', p.wait, 30)
        waited = time.monotonic() - t0
        diag('%s (after %.1f s)' % (e.message, waited))
        assert 'slow1.service' in e.message, e.message
        # meanwhile anyd answers others
        expect_error(E + 'Disabled', svc, sb, ROOT, 'GetStatus', 'demo')
        return e, waited
    finally:
        c.close()
        if not m.running():
            m.start()


@case('systemd stopped while a job runs: the caller gets Failed (job canceled)')
def _(sb):
    e, _ = job_while_systemd_goes(sb, sd().stop)
    assert "'canceled'" in e.message, e.message


@case('systemd killed while a job runs: the caller gets Failed once it is clearly gone')
def _(sb):
    e, waited = job_while_systemd_goes(sb, sd().kill)
    assert 'went away' in e.message, e.message
    assert waited < 15 * slow(sb), waited
    svc(sb, ALLOWED, 'Start', 'demo')


@case('anyd stopping while a job runs answers the caller, then exits cleanly', needs_anyd=True)
def _(sb):
    fresh('slow1.service')
    c = sb.connect(ALLOWED)
    try:
        p = c.call_async(PATH, IFACE, 'Start', '(s)', ('slow1',))
        time.sleep(0.3)
        assert sb.stop_anyd(timeout=20) == 0
        try:
            p.wait(10)
        except DBusError as e:
            assert e.name in (E + 'Failed', 'org.freedesktop.DBus.Error.NoReply'), e
    finally:
        c.close()
    sd().wait_state('slow1.service', 'active')


@case('teardown: stop the systemd manager', needs_anyd=False)
def _(sb):
    if SYSTEMD is not None:
        SYSTEMD.stop()


anydtest.main(config=CONFIG)
