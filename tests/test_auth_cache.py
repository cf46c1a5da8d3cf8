#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The authorization gate's decision cache, coalescing and denial throttling
# (call-path issue), against the real polkitd of the sandbox (anydtest.py).
#
# Every caching rule has a case here that fails if a cached decision
# outlives what polkit would answer now (beyond the TTL).  To see whether
# polkit was asked, a rules file placed before the harness's test rules
# counts its own evaluations for uid 65534 and takes its verdict from a
# file (polkit.spawn), so a test can change polkit's answer with or
# without polkitd signalling Changed.  Manager.Reload (org.anyd1.manage)
# is the gated method, Manager.GetCallerInfo the public one.

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import (ALLOWED, CHALLENGE, DENIED, MANAGER_IFACE, MANAGER_PATH,  # noqa: E402
                      ROOT, WORK, DBusError, case, expect_error, slow, user_name, wait_until)
from gi.repository import Gio, GLib  # noqa: E402

MANAGE = 'org.anyd1.manage'
E = anydtest.ERROR_PREFIX
MSGID_THROTTLE = '6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a62'

COUNT = WORK + '/pk-count'        # one line per evaluation of the counting rule
VERDICT = WORK + '/pk-verdict'    # yes | no | auth_admin | auth_admin_keep | (empty: not handled)
DELAY = WORK + '/pk-delay'        # seconds the rule sleeps first (slow polkitd)
COUNTING_RULES = '05-anyd-cache-count'
COUNTING_JS = '''// counts its evaluations for %(user)s, verdict from a file
polkit.addRule(function(action, subject) {
    if (action.id != "%(action)s" || subject.user != "%(user)s")
        return polkit.Result.NOT_HANDLED;
    var v = polkit.spawn(["/bin/sh", "-c",
        "d=$(cat %(delay)s 2>/dev/null); if [ -n \\"$d\\" ]; then sleep $d; fi; " +
        "echo x >> %(count)s; cat %(verdict)s 2>/dev/null; exit 0"]).trim();
    if (v == "yes") return polkit.Result.YES;
    if (v == "no") return polkit.Result.NO;
    if (v == "auth_admin") return polkit.Result.AUTH_ADMIN;
    if (v == "auth_admin_keep") return polkit.Result.AUTH_ADMIN_KEEP;
    return polkit.Result.NOT_HANDLED;
});
'''
AGENT_PATH = '/org/anyd1/test/ApprovingAgent'
AGENT_XML = '''
<node>
  <interface name="org.freedesktop.PolicyKit1.AuthenticationAgent">
    <method name="BeginAuthentication">
      <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="s" direction="in"/>
      <arg type="a{ss}" direction="in"/><arg type="s" direction="in"/>
      <arg type="a(sa{sv})" direction="in"/>
    </method>
    <method name="CancelAuthentication"><arg type="s" direction="in"/></method>
  </interface>
</node>
'''


def diag(text):
    for line in str(text).splitlines():
        print('# ' + line)


def reload(c, **kw):
    return c.call(MANAGER_PATH, MANAGER_IFACE, 'Reload', **kw)


def write_file(path, text):
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, 0o666)


def evaluations():
    try:
        with open(COUNT) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


def anyd_log_since(sb, mark, text, timeout=5.0):
    """Wait until anyd printed a line containing text after mark."""
    return wait_until(lambda: any(text in line for line in sb.anyd_output()[mark:]),
                      timeout * slow(sb), what='anyd to log %r' % text)


def write_rules_seen(sb, name, text):
    """Write a rules file and wait until anyd dropped its cache for it
    (polkitd logs the reload before it emits Changed)."""
    m = sb.mark()
    sb.write_rules(name, text)
    anyd_log_since(sb, m, 'polkit rules, actions or sessions changed')


def remove_rules_seen(sb, name):
    m = sb.mark()
    sb.remove_rules(name)
    anyd_log_since(sb, m, 'polkit rules, actions or sessions changed')


def start(sb, **auth):
    """(Re)start anyd with [auth] settings; clear the counter and verdict."""
    keys = dict({'cache_ttl_ms': 60000}, **auth)
    sb.write_config('[auth]\n' + ''.join('%s=%s\n' % kv for kv in keys.items()))
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    sb.start_anyd()
    for path, text in ((COUNT, ''), (VERDICT, ''), (DELAY, '')):
        write_file(path, text)


def counting(sb, verdict):
    write_file(VERDICT, verdict + '\n')
    write_file(COUNT, '')
    if not os.path.exists(os.path.join(sb.rulesdir, COUNTING_RULES + '.rules')):
        write_rules_seen(sb, COUNTING_RULES, COUNTING_JS % {
            'user': user_name(ALLOWED), 'action': MANAGE, 'count': COUNT,
            'verdict': VERDICT, 'delay': DELAY})


def records(sb, mark, conn, result=None, count=None):
    """Decision records of conn since mark; with count, wait (briefly) for
    that many: anyd writes a record before it replies, but this process
    reads anyd's output in another thread."""
    def get():
        out = [r for r in sb.audit(mark) if r.get('ANYD_SENDER') == conn.unique_name and
               r.get('MESSAGE_ID') != MSGID_THROTTLE]
        return [r for r in out if result is None or r.get('ANYD_RESULT') == result]
    if count is not None:
        try:
            wait_until(lambda: len(get()) >= count, 5 * slow(sb), what='%d audit records' % count)
        except TimeoutError:
            pass
    return get()


def process_start_time(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


class ApprovingAgent:
    """A polkit authentication agent for one caller's process that approves
    every request, as a user typing the right password would: registered
    by root (this process) for the caller's unix-process subject, it answers
    each BeginAuthentication with AuthenticationAgentResponse2 (root only)
    for the first identity polkit offered."""

    def __init__(self, conn):
        self.pid = conn.pid
        self.uid = conn.uid
        self.begun = []
        self.ready = threading.Event()
        self.error = None
        self.ctx = GLib.MainContext.new()
        self.loop = GLib.MainLoop.new(self.ctx, False)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(20)
        if self.error:
            raise self.error

    def subject(self):
        return ('unix-process', {'pid': GLib.Variant('u', self.pid),
                                 'start-time': GLib.Variant('t', process_start_time(self.pid)),
                                 'uid': GLib.Variant('i', self.uid)})

    def _authority(self, method, args):
        return self.bus.call_sync('org.freedesktop.PolicyKit1',
                                  '/org/freedesktop/PolicyKit1/Authority',
                                  'org.freedesktop.PolicyKit1.Authority', method, args,
                                  None, Gio.DBusCallFlags.NONE, 10000, None)

    def _on_call(self, conn, sender, path, iface, method, params, invocation):
        if method == 'BeginAuthentication':
            action_id, _msg, _icon, _details, cookie, identities = params.unpack()
            self.begun.append(action_id)
            try:
                ident = params.get_child_value(5).get_child_value(0)
                self._authority('AuthenticationAgentResponse2',
                                GLib.Variant.new_tuple(GLib.Variant('u', 0), GLib.Variant('s', cookie),
                                                       ident))
                invocation.return_value(None)
            except GLib.Error as e:
                invocation.return_dbus_error('org.freedesktop.PolicyKit1.Error.Failed', e.message)
        else:
            invocation.return_value(None)

    def _run(self):
        self.ctx.push_thread_default()
        try:
            self.bus = Gio.DBusConnection.new_for_address_sync(
                anydtest.BUS_ADDRESS, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
                Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
            info = Gio.DBusNodeInfo.new_for_xml(AGENT_XML)
            self.bus.register_object(AGENT_PATH, info.interfaces[0], self._on_call, None, None)
            self._authority('RegisterAuthenticationAgent',
                            GLib.Variant('((sa{sv})ss)', (self.subject(), 'C', AGENT_PATH)))
        except GLib.Error as e:
            self.error = e
            self.ready.set()
            return
        self.ready.set()
        self.loop.run()
        self.bus.close_sync(None)

    def close(self):
        def quit_():
            try:
                self._authority('UnregisterAuthenticationAgent',
                                GLib.Variant('((sa{sv})s)', (self.subject(), AGENT_PATH)))
            except GLib.Error:
                pass
            self.loop.quit()
            return False
        src = GLib.idle_source_new()
        src.set_callback(quit_)
        src.attach(self.ctx)
        self.thread.join(10)


# ---- caching rules ---------------------------------------------------------------

@case('allowed (non-interactive check): polkit is asked once, later calls use the cache')
def _(sb):
    start(sb)
    counting(sb, 'yes')
    c = sb.connect(ALLOWED)
    m = sb.mark()
    for _ in range(5):
        reload(c)
    assert evaluations() == 1, 'polkit evaluated the rule %d times' % evaluations()
    recs = records(sb, m, c, 'allowed', count=5)
    assert len(recs) == 5, recs          # still one audit record per decision
    cached = [r for r in recs if 'cached' in r.get('MESSAGE', '')]
    assert len(cached) == 4, recs
    c.close()


def refused_calls(sb, verdict, error, calls):
    """calls refused Reloads of one caller; returns polkit's evaluations."""
    start(sb)
    counting(sb, verdict)
    c = sb.connect(ALLOWED)
    for _ in range(calls):
        expect_error(E + error, reload, c)
    c.close()
    return evaluations()


@case('not authorized (cannot obtain) is cached')
def _(sb):
    n = refused_calls(sb, 'no', 'NotAuthorized', 5)
    assert n == 1, n


@case('needs a password is never cached')
def _(sb):
    n = refused_calls(sb, 'auth_admin', 'NotAuthorizedCanObtain', 4)
    assert n == 4, n


@case('interactive one-shot password grant (auth_admin) is not cached')
def _(sb):
    start(sb)
    c = sb.connect(CHALLENGE)           # the harness's rules: AUTH_ADMIN
    agent = ApprovingAgent(c)
    try:
        m = sb.mark()
        reload(c, interactive=True)
        assert agent.begun == [MANAGE], agent.begun
        # the grant was for that one call: polkit asks again
        expect_error(E + 'NotAuthorizedCanObtain', reload, c)
        reload(c, interactive=True)
        assert agent.begun == [MANAGE, MANAGE], agent.begun
        allowed = records(sb, m, c, 'allowed', count=2)
        assert len(allowed) == 2 and not any('cached' in r.get('MESSAGE', '') for r in allowed), allowed
    finally:
        agent.close()
        c.close()


@case('interactive grant polkit keeps (auth_admin_keep, temporary authorization) is cached')
def _(sb):
    start(sb)
    keep = '04-anyd-cache-keep'
    write_rules_seen(sb, keep, '''polkit.addRule(function(action, subject) {
    if (action.id == "%s" && subject.user == "%s") return polkit.Result.AUTH_ADMIN_KEEP;
});''' % (MANAGE, user_name(CHALLENGE)))
    c = sb.connect(CHALLENGE)
    agent = ApprovingAgent(c)
    try:
        m = sb.mark()
        reload(c, interactive=True)
        assert agent.begun == [MANAGE], agent.begun
        reload(c)                       # no interaction needed now
        reload(c, interactive=True)
        assert agent.begun == [MANAGE], agent.begun
        recs = records(sb, m, c, 'allowed', count=3)
        assert len(recs) == 3 and all('cached' in r.get('MESSAGE', '') for r in recs[1:]), recs
    finally:
        agent.close()
        c.close()
        remove_rules_seen(sb, keep)


# ---- invalidation ----------------------------------------------------------------

@case('a rules.d change (polkit Changed) drops the cache: the next call is checked again')
def _(sb):
    start(sb)
    c = sb.connect(ALLOWED)
    reload(c)
    reload(c)                           # cached, TTL 60 s
    deny = '04-anyd-cache-deny'
    write_rules_seen(sb, deny, '''polkit.addRule(function(action, subject) {
    if (action.id == "%s" && subject.user == "%s") return polkit.Result.NO;
});''' % (MANAGE, user_name(ALLOWED)))
    try:
        expect_error(E + 'NotAuthorized', reload, c)
    finally:
        remove_rules_seen(sb, deny)
    reload(c)                           # and the cached denial went too
    c.close()


@case('polkitd restart drops the cache; while it is gone every gated call fails closed')
def _(sb):
    start(sb)
    c = sb.connect(ALLOWED)
    reload(c)
    m = sb.mark()
    sb.polkitd.terminate()
    sb.polkitd.wait(10)
    anyd_log_since(sb, m, 'polkitd (re)started or stopped')
    e = expect_error(E + 'NotAuthorized', reload, c)
    diag('with polkitd gone: ' + e.message)
    sb.manager(ALLOWED, 'GetCallerInfo')   # public calls still work
    sb.start_polkitd()
    wait_until(lambda: _ok(reload, c), 10 * slow(sb), what='Reload to work again')
    c.close()


def _ok(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return True
    except DBusError:
        return False


@case('the caller leaving the bus drops its entries')
def _(sb):
    start(sb)
    counting(sb, 'yes')
    c = sb.connect(ALLOWED)
    name = c.unique_name
    reload(c)
    sb.call(ALLOWED, MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo')
    m = sb.mark()
    c.close()
    anyd_log_since(sb, m, '%s left: dropped 1 cached decisions' % name)


@case('TTL: an entry expires after cache_ttl_ms even without any signal')
def _(sb):
    start(sb, cache_ttl_ms=1000)
    counting(sb, 'yes')
    c = sb.connect(ALLOWED)
    reload(c)
    write_file(VERDICT, 'no\n')         # polkit's answer changes, no Changed signal
    t0 = time.monotonic()
    try:
        reload(c)
        stale = True
    except DBusError:
        stale = False
    if time.monotonic() - t0 < 0.8:
        assert stale, 'the cached grant was not used within its TTL'
    time.sleep(1.2)
    expect_error(E + 'NotAuthorized', reload, c)
    assert evaluations() == 2, evaluations()
    c.close()


@case('cache_ttl_ms=0 disables the cache')
def _(sb):
    start(sb, cache_ttl_ms=0)
    counting(sb, 'yes')
    c = sb.connect(ALLOWED)
    for _ in range(3):
        reload(c)
    assert evaluations() == 3, evaluations()
    c.close()


@case('cache_size bounds the cache: the least recently used entry is evicted')
def _(sb):
    start(sb, cache_size=2)
    counting(sb, 'yes')
    c1, c2, c3 = (sb.connect(ALLOWED) for _ in range(3))
    for c in (c1, c2, c3):
        reload(c)
    assert evaluations() == 3, evaluations()
    reload(c3)                          # still cached
    assert evaluations() == 3, evaluations()
    reload(c1)                          # evicted by c3: asked again (evicts c2)
    assert evaluations() == 4, evaluations()
    reload(c3)
    assert evaluations() == 4, evaluations()
    reload(c2)
    assert evaluations() == 5, evaluations()
    for c in (c1, c2, c3):
        c.close()


# ---- concurrency -----------------------------------------------------------------

@case('identical checks in flight are coalesced into one polkit call')
def _(sb):
    start(sb)
    counting(sb, 'yes')
    write_file(DELAY, '0.5')            # each evaluation takes 0.5 s
    c = sb.connect(ALLOWED)
    try:
        pend = [c.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload') for _ in range(10)]
        for p in pend:
            p.wait(20)
        assert evaluations() == 1, evaluations()
        # another sender is another subject: checked on its own
        reload(sb.connect(ALLOWED))
        assert evaluations() == 2, evaluations()
    finally:
        write_file(DELAY, '')
    c.close()


@case('interactive checks are never coalesced: one password prompt per call')
def _(sb):
    start(sb)
    c = sb.connect(CHALLENGE)
    agent = ApprovingAgent(c)
    try:
        pend = [c.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload', interactive=True)
                for _ in range(3)]
        for p in pend:
            p.wait(20)
        assert agent.begun == [MANAGE] * 3, agent.begun
    finally:
        agent.close()
        c.close()


# ---- throttled denials -------------------------------------------------------------

def _latencies(fn, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        fn()
        out.append(time.monotonic() - t0)
    return out


@case('a denied caller flooding with 32 calls in flight is throttled; allowed callers are not '
      'delayed; one audit record for the burst')
def _(sb):
    burst, rate = 5, 20
    start(sb, deny_burst=burst, deny_rate=rate)
    ok = sb.connect(ALLOWED)
    flooder = sb.connect(DENIED)
    reload(ok)
    base = statistics.median(_latencies(lambda: reload(ok), 40))
    m = sb.mark()

    stop = threading.Event()
    replies = []
    errors = []

    def flood():
        pend = [flooder.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload') for _ in range(32)]
        while pend:
            p = pend.pop(0)
            try:
                p.wait(30)
                errors.append('succeeded')
            except DBusError as e:
                replies.append(time.monotonic())
                if e.name != E + 'NotAuthorized':
                    errors.append(e.name)
            if not stop.is_set():
                pend.append(flooder.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload'))

    t0 = time.monotonic()
    th = threading.Thread(target=flood)
    th.start()
    time.sleep(0.3)
    during = _latencies(lambda: reload(ok), 40)
    public = _latencies(lambda: flooder.call(MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo'), 5)
    while time.monotonic() - t0 < 2.0:
        time.sleep(0.05)
    stop.set()
    t_stop = time.monotonic()
    th.join(30)
    assert not errors, errors[:5]
    in_window = sum(1 for t in replies if t <= t_stop)
    limit = burst + rate * (t_stop - t0) + 5
    diag('flood: %d refusals in %.1f s (limit %.0f); allowed Reload median %.1f ms before, '
         '%.1f ms during; flooder\'s public call max %.1f ms'
         % (in_window, t_stop - t0, limit, base * 1e3, statistics.median(during) * 1e3,
            max(public) * 1e3))
    assert in_window <= limit, 'the flooder got %d refusals, more than %d' % (in_window, limit)
    assert statistics.median(during) <= max(3 * base, base + 0.02) * slow(sb), (base, during)
    assert max(public) < 1.0 * slow(sb), public   # throttling delays refusals only

    # one summary record once the burst is over, not one per refusal
    rec = sb.wait_audit(m, timeout=10 * slow(sb), MESSAGE_ID=MSGID_THROTTLE,
                        ANYD_CALLER_UID=str(DENIED))
    diag('summary: ' + rec.get('MESSAGE', ''))
    single = [r for r in sb.audit(m) if r.get('ANYD_CALLER_UID') == str(DENIED) and
              r.get('ANYD_RESULT') == 'denied' and r.get('MESSAGE_ID') != MSGID_THROTTLE]
    assert len(single) <= burst + 2, '%d single denial records' % len(single)
    assert len(replies) >= 32, len(replies)
    ok.close()
    flooder.close()


@case('a flooder that disconnects: its held-back replies are dropped and the burst summarised')
def _(sb):
    start(sb, deny_burst=1, deny_rate=2)
    flooder = sb.connect(DENIED)
    m = sb.mark()
    for _ in range(20):
        flooder.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload')
    time.sleep(0.5)
    flooder.kill()
    sb.wait_audit(m, timeout=10 * slow(sb), MESSAGE_ID=MSGID_THROTTLE, ANYD_CALLER_UID=str(DENIED))
    sb.manager(ALLOWED, 'Reload', timeout=5)
    # the uid's debt went with its caller: a new denial is answered promptly
    t0 = time.monotonic()
    expect_error(E + 'NotAuthorized', sb.manager, DENIED, 'Reload', timeout=10)
    assert time.monotonic() - t0 < 1.0 * slow(sb), time.monotonic() - t0


@case('deny_rate=0 turns throttling off')
def _(sb):
    start(sb, deny_burst=0, deny_rate=0)
    c = sb.connect(DENIED)
    t0 = time.monotonic()
    pend = [c.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload') for _ in range(30)]
    for p in pend:
        expect_error(E + 'NotAuthorized', p.wait, 10)
    assert time.monotonic() - t0 < 3 * slow(sb), time.monotonic() - t0
    c.close()


@case('GetCallerInfo answers from the same cache and stays right after a rules change')
def _(sb):
    start(sb)
    c = sb.connect(ALLOWED)
    assert c.call(MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo')['actions'][MANAGE] == 'yes'
    reload(c)
    deny = '04-anyd-cache-deny'
    write_rules_seen(sb, deny, '''polkit.addRule(function(action, subject) {
    if (action.id == "%s" && subject.user == "%s") return polkit.Result.AUTH_ADMIN;
});''' % (MANAGE, user_name(ALLOWED)))
    try:
        info = c.call(MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo')
        assert info['actions'][MANAGE] == 'challenge', info
        expect_error(E + 'NotAuthorizedCanObtain', reload, c)
    finally:
        remove_rules_seen(sb, deny)
    c.close()


@case('root is always allowed and cached as such')
def _(sb):
    start(sb)
    c = sb.connect(ROOT)
    m = sb.mark()
    for _ in range(3):
        reload(c)
    recs = records(sb, m, c, 'allowed', count=3)
    assert len(recs) == 3 and all('cached' in r.get('MESSAGE', '') for r in recs[1:]), recs
    c.close()


@case('clean up: counting rules removed', needs_anyd=False)
def _(sb):
    if os.path.exists(os.path.join(sb.rulesdir, COUNTING_RULES + '.rules')):
        sb.remove_rules(COUNTING_RULES)
    sb.clear_config()


anydtest.main()
