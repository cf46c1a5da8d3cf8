#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# [limits]: per-uid quotas on live resources (TUN devices, VPN profiles and
# vault entries) and the per-uid rate of gated calls, against the real
# polkitd of the sandbox. A uid at its quota gets Busy naming the quota;
# another uid is not affected; root is exempt; a burst of refusals is
# audited once; Reload applies new limits.

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, DENIED, ROOT, DBusError, case  # noqa: E402
from gi.repository import GLib  # noqa: E402

E = anydtest.ERROR_PREFIX
MSGID_QUOTA = '6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a64'
TUN, TUN_IFACE = '/org/anyd1/tun', 'org.anyd1.Tun'
DEV_IFACE = 'org.anyd1.TunDevice'
VAULT, VAULT_IFACE = '/org/anyd1/vault', 'org.anyd1.Vault'
VPN, VPN_IFACE = '/org/anyd1/vpn', 'org.anyd1.Vpn'
OTHER = DENIED   # uid 2, allowed by an extra rule below: a second tenant

# uid 2 ("bin") gets every anyd action, ahead of the harness's rules
OTHER_RULES = '''
polkit.addRule(function(action, subject) {
    if (subject.user == "bin" && action.id.indexOf("org.anyd1.") == 0)
        return polkit.Result.YES;
});
'''

PROFILE = '''[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
Address = 10.9.0.2/32

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
Endpoint = 192.0.2.1:51820
AllowedIPs = 10.9.0.0/24
'''


def busy(fn, *a, contains=None, **kw):
    try:
        fn(*a, **kw)
    except DBusError as e:
        assert e.name == E + 'Busy', '%s: %s' % (e.name, e.message)
        if contains:
            assert contains in e.message, e.message
        return e
    raise AssertionError('call succeeded, wanted Busy')


def create(sb, uid, name):
    return sb.call(uid, TUN, TUN_IFACE, 'Create', '(sa{sv})', (name, {'persist': GLib.Variant('b', True)}))


def quota_records(sb, mark):
    return [r for r in sb.audit(mark) if r.get('MESSAGE_ID') == MSGID_QUOTA]


def configure(sb, limits):
    sb.write_config('[limits]\n' + limits + '\n')


@case('setup: a second allowed uid', needs_anyd=False)
def _(sb):
    sb.write_rules('01-limits-other', OTHER_RULES)


@case('TUN: a uid at max_resources_per_uid gets Busy naming it; another uid and root are not refused')
def _(sb):
    configure(sb, 'max_resources_per_uid=2')
    sb.restart_anyd()
    c = sb.connect(ALLOWED)
    a = c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-a1', {'persist': GLib.Variant('b', True)}))
    c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-a2', {'persist': GLib.Variant('b', True)}))
    m = sb.mark()
    busy(c.call, TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-a3', {}), contains='max_resources_per_uid')
    busy(c.call, TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-a3', {}), contains='max_resources_per_uid')
    assert not os.path.exists('/sys/class/net/q-a3')
    recs = quota_records(sb, m)
    assert len(recs) == 1 and recs[0].get('ANYD_CALLER_UID') == str(ALLOWED), recs   # once per burst
    # another tenant and root still create
    b = create(sb, OTHER, 'q-b1')
    r = create(sb, ROOT, 'q-r1')
    # one fewer: the uid may create again
    c.call(a, DEV_IFACE, 'Delete')
    c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-a3', {'persist': GLib.Variant('b', True)}))
    busy(c.call, TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-a4', {}))
    for path in ('/org/anyd1/tun/q_2da2', '/org/anyd1/tun/q_2da3', b, r):
        sb.call(ROOT, path, DEV_IFACE, 'Delete')
    c.close()


@case('Reload applies a new max_resources_per_uid; persistent devices count again after a restart')
def _(sb):
    configure(sb, 'max_resources_per_uid=1')
    sb.restart_anyd()
    c = sb.connect(ALLOWED)
    c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-p1', {'persist': GLib.Variant('b', True)}))
    busy(c.call, TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-p2', {}))
    configure(sb, 'max_resources_per_uid=2')
    sb.manager(ROOT, 'Reload')
    c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-p2', {'persist': GLib.Variant('b', True)}))
    c.close()
    # re-adopted at start, so still counted
    sb.restart_anyd()
    c = sb.connect(ALLOWED)
    busy(c.call, TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-p3', {}), contains='max_resources_per_uid')
    for n in ('q_2dp1', 'q_2dp2'):
        sb.call(ROOT, '/org/anyd1/tun/' + n, DEV_IFACE, 'Delete')
    c.close()


@case('VPN profiles share max_resources_per_uid with TUN devices')
def _(sb):
    configure(sb, 'max_resources_per_uid=2')
    sb.restart_anyd()
    c = sb.connect(ALLOWED)
    dev = c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-v1', {}))
    c.call(VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})', ('q-prof1', PROFILE, {}))
    busy(c.call, VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})', ('q-prof2', PROFILE, {}),
         contains='max_resources_per_uid')
    c.call(dev, DEV_IFACE, 'Delete')
    prof2 = c.call(VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})', ('q-prof2', PROFILE, {}))
    # deleting a profile gives its place back
    c.call(prof2, 'org.anyd1.VpnProfile', 'Delete')
    c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('q-v2', {}))
    c.close()
    sb.call(ROOT, '/org/anyd1/vpn/profiles/q_2dprof1', 'org.anyd1.VpnProfile', 'Delete')


@case('Vault: max_vault_entries_per_uid counts new secrets and keys, not new versions; kept across restarts')
def _(sb):
    configure(sb, 'max_vault_entries_per_uid=2')
    sb.restart_anyd()
    put = lambda uid, name: sb.call(uid, VAULT, VAULT_IFACE, 'Put', '(saya{sv})', (name, b'v' * 16, {}))  # noqa: E731
    put(ALLOWED, 'q/one')
    sb.call(ALLOWED, VAULT, VAULT_IFACE, 'CreateKey', '(ss)', ('q-key', 'aead'))
    busy(put, ALLOWED, 'q/two', contains='max_vault_entries_per_uid')
    sb.call(ALLOWED, VAULT, VAULT_IFACE, 'Rotate', '(say)', ('q/one', b'w' * 16))   # a new version
    put(OTHER, 'q/other')                  # another tenant
    put(ROOT, 'q/root')                    # root is exempt
    sb.restart_anyd()                      # counted again from the store
    busy(put, ALLOWED, 'q/two', contains='max_vault_entries_per_uid')
    sb.call(ALLOWED, VAULT, VAULT_IFACE, 'Delete', '(s)', ('q/one',))
    put(ALLOWED, 'q/two')
    busy(sb.call, ALLOWED, VAULT, VAULT_IFACE, 'CreateKey', '(ss)', ('q-key2', 'aead'),
         contains='max_vault_entries_per_uid')


@case('calls_per_second_per_uid: a flooding uid gets Busy at once, audited once; others are not slowed')
def _(sb):
    configure(sb, 'calls_per_second_per_uid=5')      # burst 10
    sb.restart_anyd()
    flood = sb.connect(ALLOWED)
    m = sb.mark()
    ok = refused = bursts = 0
    t0 = time.monotonic()
    last_refused = False
    for _ in range(40):
        try:
            flood.call('/org/anyd1', 'org.anyd1.Manager', 'Reload')
            ok += 1
            last_refused = False
        except DBusError as e:
            assert e.name == E + 'Busy' and 'calls_per_second_per_uid' in e.message, e
            refused += 1
            bursts += not last_refused      # a refusal after a pass starts a burst
            last_refused = True
    elapsed = time.monotonic() - t0
    assert refused > 0 and ok >= 10, (ok, refused)
    assert ok <= 10 + 5 * elapsed + 1, (ok, refused, elapsed)   # burst + what refilled meanwhile
    # one record per burst of refusals (a slow build lets tokens refill
    # between calls, so one flood may make several bursts)
    recs = anydtest.wait_until(lambda: len(quota_records(sb, m)) >= bursts and quota_records(sb, m), 5,
                      what='%d quota records' % bursts)
    assert len(recs) == bursts and all(r.get('ANYD_CALLER_UID') == str(ALLOWED) for r in recs), \
        (bursts, recs)
    # another uid and root, right now: every call passes
    other = sb.connect(OTHER)
    for _ in range(8):
        other.call('/org/anyd1', 'org.anyd1.Manager', 'Reload')
    for _ in range(15):
        sb.manager(ROOT, 'Reload')
    # public calls are never counted
    for _ in range(20):
        flood.call('/org/anyd1', 'org.anyd1.Manager', 'GetCallerInfo')
    # the bucket refills
    time.sleep(0.5)
    flood.call('/org/anyd1', 'org.anyd1.Manager', 'Reload')
    other.close()
    flood.close()


@case('calls_per_second_per_uid: Reload applies a new rate; 0 turns it off')
def _(sb):
    configure(sb, 'calls_per_second_per_uid=2')
    sb.restart_anyd()
    c = sb.connect(ALLOWED)
    busy(lambda: [c.call('/org/anyd1', 'org.anyd1.Manager', 'Reload') for _ in range(10)])
    configure(sb, 'calls_per_second_per_uid=0')
    sb.manager(ROOT, 'Reload')
    for _ in range(30):
        c.call('/org/anyd1', 'org.anyd1.Manager', 'Reload')
    c.close()


if __name__ == '__main__':
    anydtest.main()
