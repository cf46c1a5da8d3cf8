#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration tests of the daemon core: org.anyd1.Manager on a private system
# bus with a real polkitd (see anydtest.py for the sandbox and the test uids:
# 65534 allowed, 2 denied, 1 needs a password, root).  One sandbox for the
# whole file; cases run in order, and a case that stops anyd leaves the next
# one to start it again.

import configparser
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import (ALLOWED, BUS_NAME, CHALLENGE, DENIED, MANAGER_IFACE,  # noqa: E402
                      MANAGER_PATH, ROOT, DBusError, case, expect_error, slow, wait_until)
from gi.repository import Gio, GLib  # noqa: E402

MANAGE = 'org.anyd1.manage'
E = anydtest.ERROR_PREFIX
NOT_AUTHORIZED = (E + 'NotAuthorized', E + 'NotAuthorizedCanObtain',
                  E + 'AuthorizationDismissed')
WHO = {ROOT: 'root', ALLOWED: 'allowed', DENIED: 'denied', CHALLENGE: 'needs-password'}
EXPECTED_ANSWER = {ROOT: 'yes', ALLOWED: 'yes', DENIED: 'no', CHALLENGE: 'challenge'}
KNOWN_MODULES = set(anydtest.module_names())


def reload_as(sb, uid, **kw):
    return sb.manager(uid, 'Reload', **kw)


def diag(text):
    for l in str(text).splitlines():
        print('# ' + l)


# ---- the name, activation, bus policy --------------------------------------

@case('anyd owns org.anyd1 on the system bus')
def _(sb):
    assert sb.has_owner(BUS_NAME)
    assert sb.name_owner_pid(BUS_NAME) == sb.anyd.pid
    assert sb.bus_call('GetConnectionUnixUser', '(s)', (BUS_NAME,)) == 0
    diag('exec to name owned: %.3f s' % sb.anyd_ready_seconds)
    sb.manager(ALLOWED, 'GetCallerInfo')
    with open('/proc/%d/status' % sb.anyd.pid) as f:
        rss = [l.split(':', 1)[1].strip() for l in f if l.startswith('VmRSS:')]
    diag('idle RSS after one call: %s%s' % (rss[0] if rss else '?',
                                           ' (sanitizer build)' if sb.sanitized() else ''))


@case('activation file: Name=org.anyd1, SystemdService=anyd.service, User=root',
      needs_anyd=False)
def _(sb):
    built = os.path.join(sb.builddir, 'data', 'org.anyd1.service')
    src = os.path.join(sb.srcdir, 'data', 'dbus-1', 'system-services', 'org.anyd1.service.in')
    path = built if os.path.exists(built) else src
    kf = configparser.ConfigParser(interpolation=None)
    kf.optionxform = str
    kf.read(path)
    s = kf['D-BUS Service']
    assert s.get('Name') == BUS_NAME, dict(s)
    assert s.get('SystemdService') == 'anyd.service', dict(s)
    assert s.get('User') == 'root', dict(s)
    exe = s.get('Exec', '')
    assert exe.split()[0].endswith('/anyd'), exe
    if path == built:
        assert '@' not in exe and exe.startswith('/'), exe


@case('bus policy: no uid but root may own org.anyd1')
def _(sb):
    for uid in (ALLOWED, DENIED, CHALLENGE):
        c = sb.conn(uid)
        expect_error('org.freedesktop.DBus.Error.AccessDenied',
                     c.bus_call, 'RequestName', '(su)', (BUS_NAME, 4))
    # root may (anyd holds it, so the answer is "exists", not "access denied")
    r = sb.conn(ROOT).bus_call('RequestName', '(su)', (BUS_NAME, 4))
    assert r in (3, 2), r   # DBUS_REQUEST_NAME_REPLY_EXISTS / IN_QUEUE
    assert sb.name_owner_pid(BUS_NAME) == sb.anyd.pid


@case('bus policy: every uid may call org.anyd1')
def _(sb):
    for uid in (ROOT, ALLOWED, DENIED, CHALLENGE):
        sb.manager(uid, 'GetCallerInfo')
        sb.conn(uid).get_property(MANAGER_PATH, MANAGER_IFACE, 'Version')


# ---- the API as seen on the bus ---------------------------------------------

@case('Manager properties Version and Modules')
def _(sb):
    props = sb.conn(ALLOWED).get_all_properties(MANAGER_PATH, MANAGER_IFACE)
    assert set(props) == {'Version', 'Modules'}, props
    want = os.environ.get('ANYD_VERSION')
    if want:
        assert props['Version'] == want, (props['Version'], want)
    assert re.fullmatch(r'\d+\.\d+(\.\d+)?.*', props['Version']), props
    mods = props['Modules']
    assert isinstance(mods, list) and len(set(mods)) == len(mods), mods
    assert set(mods) <= KNOWN_MODULES, mods
    rc, out = sb.run_anyd(['--version'])
    assert rc == 0 and props['Version'] in out, (rc, out)


def introspect(sb, path):
    xml = sb.bus.call_sync(BUS_NAME, path, 'org.freedesktop.DBus.Introspectable',
                           'Introspect', None, GLib.VariantType('(s)'),
                           Gio.DBusCallFlags.NONE, 10000, None).unpack()[0]
    return Gio.DBusNodeInfo.new_for_xml(xml)


def xml_interfaces():
    ifaces = {}
    for f in anydtest.interface_files():
        for i in anydtest.node_info_from_file(f).interfaces:
            ifaces[i.name] = i
    return ifaces


def compare(name, got, want):
    g, w = anydtest.describe_interface(got), anydtest.describe_interface(want)
    problems = []
    for kind in ('methods', 'properties', 'signals'):
        for n in sorted(set(g[kind]) | set(w[kind])):
            if n not in g[kind]:
                problems.append('%s: %s %s missing on the bus' % (name, kind[:-1], n))
            elif n not in w[kind]:
                problems.append('%s: %s %s not in the XML' % (name, kind[:-1], n))
            elif g[kind][n] != w[kind][n]:
                problems.append('%s: %s %s is %r on the bus, %r in the XML'
                                % (name, kind[:-1], n, g[kind][n], w[kind][n]))
    return problems


@case('introspection of /org/anyd1 Manager equals the installed XML')
def _(sb):
    node = introspect(sb, MANAGER_PATH)
    names = [i.name for i in node.interfaces]
    assert MANAGER_IFACE in names, names
    assert 'org.freedesktop.DBus.ObjectManager' in names, names
    want = xml_interfaces()[MANAGER_IFACE]
    problems = compare(MANAGER_IFACE, node.lookup_interface(MANAGER_IFACE), want)
    assert not problems, '\n'.join(problems)


@case('every org.anyd1 interface exported under /org/anyd1 equals its XML')
def _(sb):
    want = xml_interfaces()
    seen, problems, todo = {}, [], [MANAGER_PATH]
    while todo:
        path = todo.pop()
        node = introspect(sb, path)
        for i in node.interfaces:
            if i.name.startswith('org.anyd1.'):
                seen.setdefault(i.name, path)
                if i.name not in want:
                    problems.append('%s at %s has no XML file' % (i.name, path))
                else:
                    problems += compare('%s at %s' % (i.name, path), i, want[i.name])
        for child in node.nodes:
            todo.append(path.rstrip('/') + '/' + child.path)
    assert not problems, '\n'.join(problems)
    diag('exported: ' + ', '.join('%s (%s)' % kv for kv in sorted(seen.items())))


@case('ObjectManager.GetManagedObjects answers an unprivileged caller')
def _(sb):
    objs = sb.call(DENIED, MANAGER_PATH, 'org.freedesktop.DBus.ObjectManager',
                   'GetManagedObjects')
    assert isinstance(objs, dict), objs
    for path in objs:
        assert path.startswith('/org/anyd1'), path


# ---- the gate: Reload ---------------------------------------------------------

@case('Reload as root succeeds, audited as allowed')
def _(sb):
    m = sb.mark()
    reload_as(sb, ROOT)
    sb.wait_audit(m, ANYD_CALLER_UID='0', ANYD_RESULT='allowed')


@case('Reload as the allowed uid 65534 succeeds, audited as allowed')
def _(sb):
    m = sb.mark()
    reload_as(sb, ALLOWED)
    r = sb.wait_audit(m, ANYD_CALLER_UID=str(ALLOWED), ANYD_RESULT='allowed')
    assert MANAGE in r.get('ANYD_ACTION', '') + r.get('MESSAGE', ''), r
    assert r.get('ANYD_CALLER_PID') == str(sb.conn(ALLOWED).pid), r
    assert r.get('ANYD_SENDER') == sb.conn(ALLOWED).unique_name, r


@case('Reload as the denied uid 2 fails with NotAuthorized, audited as denied')
def _(sb):
    m = sb.mark()
    e = expect_error(E + 'NotAuthorized', reload_as, sb, DENIED)
    assert e.message, e
    r = sb.wait_audit(m, ANYD_CALLER_UID=str(DENIED), ANYD_RESULT='denied')
    assert MANAGE in r.get('ANYD_ACTION', '') + r.get('MESSAGE', ''), r


@case('Reload as the needs-password uid 1 without the interactive flag: '
      'NotAuthorizedCanObtain')
def _(sb):
    m = sb.mark()
    expect_error(E + 'NotAuthorizedCanObtain', reload_as, sb, CHALLENGE, interactive=False)
    sb.wait_audit(m, ANYD_CALLER_UID=str(CHALLENGE), ANYD_RESULT='challenge')


@case('Reload as uid 1 with the interactive flag and no agent: not authorized, promptly')
def _(sb):
    # polkitd finds no authentication agent for the caller; what it answers
    # is polkit's business (122: a challenge result, i.e. "could obtain").
    t0 = time.monotonic()
    e = expect_error(NOT_AUTHORIZED, reload_as, sb, CHALLENGE, interactive=True, timeout=20)
    dt = time.monotonic() - t0
    diag('polkit with interaction and no agent -> %s (%.2f s)' % (e.name, dt))
    assert dt < 5 * slow(sb), dt


@case('Reload as uid 1, interactive, and the user dismisses the dialog: AuthorizationDismissed')
def _(sb):
    c = sb.connect(CHALLENGE)
    try:
        c.register_dismissing_agent()
        m = sb.mark()
        t0 = time.monotonic()
        expect_error(E + 'AuthorizationDismissed', c.call, MANAGER_PATH, MANAGER_IFACE,
                     'Reload', interactive=True, timeout=20)
        assert time.monotonic() - t0 < 5 * slow(sb)
        assert MANAGE in c.agent_state()['begun'], c.agent_state()
        sb.wait_audit(m, ANYD_CALLER_UID=str(CHALLENGE), ANYD_RESULT='dismissed')
        # without the interactive flag the agent is not asked
        expect_error(E + 'NotAuthorizedCanObtain', c.call, MANAGER_PATH, MANAGER_IFACE,
                     'Reload', interactive=False)
        assert len(c.agent_state()['begun']) == 1, c.agent_state()
    finally:
        c.close()


@case('Reload through busctl: allowed uid ok, denied uid fails')
def _(sb):
    call = ['call', BUS_NAME, MANAGER_PATH, MANAGER_IFACE, 'Reload']
    rc, out, err = sb.busctl(ALLOWED, *call)
    assert rc == 0, (rc, out, err)
    rc, out, err = sb.busctl(DENIED, *call)
    assert rc != 0, (rc, out, err)
    rc, out, err = sb.busctl(CHALLENGE, '--allow-interactive-authorization=no', *call)
    assert rc != 0, (rc, out, err)


@case('GetCallerInfo as each uid: uid, pid, sender and the actions map')
def _(sb):
    policy_actions = set()
    for p in sb.polkit_policies:
        policy_actions |= set(anydtest.policy_actions(p))
    for uid in (ROOT, ALLOWED, DENIED, CHALLENGE):
        c = sb.conn(uid)
        info = c.call(MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo')
        assert info.get('uid') == uid, (WHO[uid], info)
        assert info.get('pid') == c.pid, (WHO[uid], c.pid, info)
        assert info.get('sender') == c.unique_name, (WHO[uid], c.unique_name, info)
        actions = info.get('actions')
        assert isinstance(actions, dict) and MANAGE in actions, (WHO[uid], info)
        wrong = {a: v for a, v in actions.items() if v != EXPECTED_ANSWER[uid]}
        assert not wrong, '%s (uid %d): expected %r for all, got %r' % (
            WHO[uid], uid, EXPECTED_ANSWER[uid], wrong)
        if policy_actions:
            unknown = set(actions) - policy_actions
            assert not unknown, 'actions in no anyd .policy file: %r' % unknown
    diag('actions reported: ' + ', '.join(sorted(actions)))


@case('a caller blocked in an authentication that never completes does not '
      'delay other callers')
def _(sb):
    limit = 1.0 * slow(sb)
    c1 = sb.connect(CHALLENGE)
    try:
        c1.register_hanging_agent()
        pending = c1.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload', interactive=True,
                                timeout=120)
        # polkitd has asked the agent: anyd's check for c1 is now waiting on
        # a password that never comes
        c1.wait_agent_begun(1, timeout=10 * slow(sb))
        assert MANAGE in c1.agent_state()['begun'], c1.agent_state()
        for uid, method in ((ALLOWED, 'GetCallerInfo'), (ALLOWED, 'Reload'),
                            (ROOT, 'GetCallerInfo'), (DENIED, 'GetCallerInfo')):
            t0 = time.monotonic()
            sb.manager(uid, method, timeout=10)
            dt = time.monotonic() - t0
            assert dt < limit, '%s as %s took %.2f s while uid 1 authenticates' % (
                method, WHO[uid], dt)
        t0 = time.monotonic()
        expect_error(E + 'NotAuthorized', reload_as, sb, DENIED, timeout=10)
        assert time.monotonic() - t0 < limit
        assert not pending.done(), 'the blocked Reload returned: %r' % (pending.wait_raw(1),)
    finally:
        c1.close()
    # the agent went away with its caller: anyd stays healthy
    sb.manager(ALLOWED, 'GetCallerInfo', timeout=10)
    assert sb.anyd.poll() is None


@case('a caller that disconnects while its authentication is pending is cleaned up')
def _(sb):
    c1 = sb.connect(CHALLENGE)
    m = sb.mark()
    try:
        c1.register_hanging_agent()
        c1.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload', interactive=True, timeout=120)
        c1.wait_agent_begun(1, timeout=10 * slow(sb))
    finally:
        c1.kill()
    # polkitd cancels the authentication when the agent vanishes; anyd's
    # check completes and its reply goes nowhere, without harm
    rec = sb.wait_audit(m, timeout=10 * slow(sb), ANYD_CALLER_UID=str(CHALLENGE))
    diag('decision for the vanished caller: ANYD_RESULT=%s' % rec.get('ANYD_RESULT'))
    assert rec.get('ANYD_RESULT') != 'allowed', rec
    sb.manager(ALLOWED, 'Reload', timeout=10)


# ---- configuration ------------------------------------------------------------

BAD_CONFIGS = [
    # (file name in anyd.conf.d or 'anyd.conf', text, bad line)
    ('anyd.conf', '# ok\n[daemon]\nthis line is not a key\n', 3),
    ('50-unknown.conf', '[daemon]\n\n\nno_such_key=1\n', 4),
    ('60-group.conf', '# comment\n[daemon\nidle_timeout_s=0\n', 2),
    ('70-value.conf', '[daemon]\nidle_timeout_s=soon\n', 2),
]


@case('anyd refuses to start with a bad config file and names file:line',
      needs_anyd=False)
def _(sb):
    problems = []
    for i, (name, text, line) in enumerate(BAD_CONFIGS):
        d = os.path.join(anydtest.WORK, 'badconf%d' % i)
        os.makedirs(os.path.join(d, 'anyd.conf.d'), exist_ok=True)
        path = os.path.join(d, name if name == 'anyd.conf' else 'anyd.conf.d/' + name)
        with open(path, 'w') as f:
            f.write(text)
        rc, out = sb.run_anyd(['--config', d, '--idle-timeout', '1'])
        if rc == 0:
            problems.append('%s: anyd exited 0:\n%s' % (name, out))
        elif not re.search(re.escape(name) + r':%d\b' % line, out):
            problems.append('%s: exit %d but output does not name %s:%d:\n%s'
                            % (name, rc, name, line, out))
    assert not problems, '\n'.join(problems)


@case('Reload with a bad file fails, names it, and keeps the old configuration')
def _(sb):
    sb.clear_config()
    sb.write_config('[daemon]\nidle_timeout_s=0\n')
    sb.restart_anyd([])                      # idle timeout from the config only
    pid = sb.anyd.pid
    # a valid change (exit after 1 s idle) together with a broken file
    sb.write_config('[daemon]\nidle_timeout_s=1\n')
    bad = sb.write_config('[daemon]\nidle_timeout_s=0\nbroken\n', '90-broken.conf')
    try:
        e = expect_error((E + 'InvalidArgument', E + 'Failed'), reload_as, sb, ROOT)
        assert '90-broken.conf:3' in e.message, e.message
        # had anyd taken the new idle_timeout_s=1 it would exit now
        time.sleep(2.5)
        assert sb.anyd.poll() is None and sb.anyd.pid == pid, 'anyd applied half a config'
        assert sb.name_owner_pid(BUS_NAME) == pid
    finally:
        os.unlink(bad)
        sb.write_config('[daemon]\nidle_timeout_s=0\n')
    reload_as(sb, ROOT)
    assert sb.anyd.poll() is None


@case('--print-config prints a configuration anyd itself accepts', needs_anyd=False)
def _(sb):
    rc, out = sb.run_anyd(['--print-config'])
    assert rc == 0, (rc, out)
    d = os.path.join(anydtest.WORK, 'printed')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'anyd.conf'), 'w') as f:
        f.write(out)
    kf = GLib.KeyFile()
    kf.load_from_data(out, len(out.encode()), GLib.KeyFileFlags.NONE)
    assert 'daemon' in kf.get_groups()[0], kf.get_groups()
    # uncomment every "#key=value" default and load that too
    active = re.sub(r'(?m)^#\s*([a-z_]+\s*=)', r'\1', out)
    with open(os.path.join(d, 'anyd.conf'), 'w') as f:
        f.write(active)
    # run a throw-away instance on the printed defaults (it needs the name)
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    rc, out2 = sb.run_anyd(['--config', d, '--idle-timeout', '1'], timeout=20 * slow(sb))
    assert rc == 0, 'anyd rejected its own --print-config output (%d):\n%s' % (rc, out2)


# ---- lifecycle ----------------------------------------------------------------

@case('SIGTERM: anyd exits 0 promptly and releases the name')
def _(sb):
    sb.manager(ALLOWED, 'GetCallerInfo')
    t0 = time.monotonic()
    rc = sb.stop_anyd(signal.SIGTERM, timeout=10 * slow(sb))
    dt = time.monotonic() - t0
    assert rc == 0, 'exit status %s' % rc
    assert dt < 2 * slow(sb), 'took %.2f s' % dt
    assert not sb.has_owner(BUS_NAME)
    diag('SIGTERM to exit: %.3f s' % dt)


@case('SIGINT: anyd exits 0 too')
def _(sb):
    rc = sb.stop_anyd(signal.SIGINT, timeout=10 * slow(sb))
    assert rc == 0, 'exit status %s' % rc


@case('kill -9 and start again: the new anyd owns the name and answers')
def _(sb):
    rc = sb.kill_anyd()
    assert rc == -signal.SIGKILL, rc
    sb.start_anyd()
    sb.manager(ALLOWED, 'Reload')


@case('--replace: a second anyd takes the name over and the first exits 0')
def _(sb):
    old = sb.anyd
    sb.anyd = None
    try:
        new = sb.start_anyd(['--replace'])
    except Exception:
        sb.anyd = old
        raise
    rc = old.wait(10 * slow(sb))
    assert rc == 0, 'the replaced anyd exited with %s' % rc
    assert sb.name_owner_pid(BUS_NAME) == new.pid
    sb.manager(ALLOWED, 'GetCallerInfo')


@case('each module logs under its own domain; the core as anyd')
def _(sb):
    sb.restart_anyd()

    def vault_lines():
        return [l for l in sb.anyd_output() if 'vault:' in l and 'master key from' in l]
    # the start record comes after every start-up line (read by a thread)
    wait_until(lambda: any('ANYD_ACTION=start ' in l for l in sb.anyd_output()), 10 * slow(sb),
               what='the start record')
    # the core's first line ("owning org.anyd1") may come just after the name is seen owned
    wait_until(lambda: any(l.startswith('anyd-Message:') or ': anyd-DEBUG: ' in l
                           for l in sb.anyd_output()), 5 * slow(sb), what='a line of the core')
    out = sb.anyd_output()
    assert vault_lines() and all(l.startswith('anyd-vault-Message:') for l in vault_lines()), out


@case('without --verbose, G_MESSAGES_DEBUG=anyd-vault shows the vault\'s debug messages only')
def _(sb):
    sb.stop_anyd()
    # an unfinished write the vault removes at start, saying so at debug level
    leftover = os.path.join(sb.statedir, 'vault', 'secrets', '0' * 64 + '.Ab3xZ9')
    os.makedirs(os.path.dirname(leftover), exist_ok=True)
    open(leftover, 'wb').write(b'x')
    try:
        sb.start_anyd(verbose=False, env={'G_MESSAGES_DEBUG': 'anyd-vault'})
        # the start record comes after every start-up line (read by a thread)
        wait_until(lambda: any('ANYD_ACTION=start ' in l for l in sb.anyd_output()), 10 * slow(sb),
                   what='the start record')
        out = sb.anyd_output()
        assert any('anyd-vault-DEBUG' in l and 'removing unfinished write' in l for l in out), out
        assert not [l for l in out if '-DEBUG' in l and 'anyd-vault-DEBUG' not in l], out
        assert not os.path.exists(leftover)
    finally:
        sb.restart_anyd()


@case('idle exit: --idle-timeout 1 exits after about 1 s without callers')
def _(sb):
    sb.stop_anyd()
    sb.start_anyd(['--idle-timeout', '1'])
    t0 = time.monotonic()
    sb.anyd.wait(10 * slow(sb))
    dt = time.monotonic() - t0
    assert sb.anyd.returncode == 0, sb.anyd.returncode
    assert 0.25 <= dt <= 3.5 * slow(sb), 'exited after %.2f s' % dt
    assert not sb.has_owner(BUS_NAME)
    diag('idle exit after %.2f s' % dt)


@case('idle exit: a call in flight keeps anyd alive; it exits once the call ends')
def _(sb):
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    sb.start_anyd(['--idle-timeout', '1'])
    c1 = sb.connect(CHALLENGE)
    try:
        c1.register_hanging_agent()
        pend = c1.call_async(MANAGER_PATH, MANAGER_IFACE, 'Reload', interactive=True,
                             timeout=120)
        c1.wait_agent_begun(1, timeout=10 * slow(sb))
        time.sleep(3)
        assert sb.anyd.poll() is None, 'anyd exited (%s) with a call in flight' % (
            sb.anyd.returncode,)
        assert not pend.done()
    finally:
        c1.close()        # polkitd cancels the authentication; the call ends
    t0 = time.monotonic()
    sb.anyd.wait(15 * slow(sb))
    assert sb.anyd.returncode == 0, sb.anyd.returncode
    diag('exit %.2f s after the last call ended' % (time.monotonic() - t0))


@case('idle exit: calls that keep coming keep anyd alive')
def _(sb):
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    sb.start_anyd(['--idle-timeout', '1'])
    end = time.monotonic() + 3
    while time.monotonic() < end:
        sb.manager(ALLOWED, 'GetCallerInfo', timeout=10)
        time.sleep(0.3)
    assert sb.anyd.poll() is None, 'anyd exited although called every 0.3 s'
    sb.anyd.wait(10 * slow(sb))
    assert sb.anyd.returncode == 0, sb.anyd.returncode


# ---- bus activation -------------------------------------------------------------

def check_activated_log(path):
    try:
        with open(path) as f:
            bad = [l for l in f if anydtest.SANITIZER_RE.search(l)]
    except FileNotFoundError:
        return
    assert not bad, 'activated anyd reported:\n' + ''.join(bad[:30])


@case('bus activation: a call to org.anyd1 starts anyd from the activation file')
def _(sb):
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    assert not sb.has_owner(BUS_NAME)
    log = sb.install_activation(('--idle-timeout', '1'))
    try:
        info = sb.manager(ALLOWED, 'GetCallerInfo', timeout=20 * slow(sb))
        assert info['uid'] == ALLOWED, info
        pid = sb.name_owner_pid(BUS_NAME)
        assert pid and pid != sb.anyd.pid, pid
        # and it goes away again when idle
        wait_until(lambda: not sb.has_owner(BUS_NAME), 10 * slow(sb),
                   what='the activated anyd to exit when idle')
    finally:
        sb.remove_activation()
    check_activated_log(log)


@case('idle exit races incoming calls: every call is answered (by a new anyd if need be)')
def _(sb):
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    log = sb.install_activation(('--idle-timeout', '1'))
    c = sb.connect(ALLOWED)
    owners, failures = set(), []
    try:
        c.call(MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo', timeout=20 * slow(sb))
        # sleep around the idle timeout so that calls land in the exit window
        for i in range(10):
            time.sleep(0.8 + 0.05 * i)
            try:
                c.call(MANAGER_PATH, MANAGER_IFACE, 'GetCallerInfo', timeout=20 * slow(sb))
                owners.add(sb.name_owner_pid(BUS_NAME))
            except DBusError as e:
                failures.append('after %.2f s idle: %s' % (0.8 + 0.05 * i, e))
    finally:
        c.close()
        sb.remove_activation()
    owners.discard(None)
    diag('%d anyd instances answered' % len(owners))
    assert not failures, '\n'.join(failures)
    check_activated_log(log)


if __name__ == '__main__':
    anydtest.main()
