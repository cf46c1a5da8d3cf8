#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The vpn module against a real WireGuard peer: wireguard-go in a second
# network namespace over veth (tests/vpnpeer.py), real packets through the
# tunnel, the real polkitd deciding.  DNS cases without resolved here; with a
# real systemd-resolved in test_vpn_dns.py.

import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case, wait_until  # noqa: E402
import vpnpeer  # noqa: E402
from vpnpeer import TUN_PEER4, TUN_PEER6  # noqa: E402

VPN = '/org/anyd1/vpn'
VPN_IFACE = 'org.anyd1.Vpn'
PROFILE_IFACE = 'org.anyd1.VpnProfile'
CONN_IFACE = 'org.anyd1.VpnConnection'
ERR = 'org.anyd1.Error.'
STATE = '/run/anyd-test/state/vpn'

CONFIG = '[vpn]\nhandshake_timeout_s=3\n'

PEER = vpnpeer.Peer()
KEYS = {}        # profile name -> (private, public)


def keypair(name):
    if name not in KEYS:
        KEYS[name] = vpnpeer.genkey()
    return KEYS[name]


def profile_path(name):
    return '/org/anyd1/vpn/profiles/' + ''.join(
        c if c.isalnum() else '_%02x' % ord(c) for c in name)


def expect_error(name, fn, *a, contains=None, **kw):
    try:
        fn(*a, **kw)
    except DBusError as e:
        assert e.name == ERR + name, '%s: expected %s, got %s: %s' % (a, name, e.name, e.message)
        if contains is not None:
            for c in ([contains] if isinstance(contains, str) else contains):
                assert c in e.message, 'message %r lacks %r' % (e.message, c)
        return e
    raise AssertionError('call succeeded, expected %s' % name)


def import_profile(sb, name, text, options=None, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})',
                   (name, text, options or {}))


def good_profile(name, **kw):
    priv, _ = keypair(name)
    return vpnpeer.profile(priv, PEER.pub, **kw)


def connect(sb, name, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'Connect', '(s)', (name,))


def disconnect(sb, name, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'Disconnect', '(s)', (name,))


def props(sb, path, iface=CONN_IFACE):
    return sb.call(ROOT, path, 'org.freedesktop.DBus.Properties', 'GetAll', '(s)', (iface,))


def managed(sb):
    return sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')


def wait_state(sb, path, want, timeout=10):
    def get():
        try:
            s = props(sb, path)['State']
        except DBusError:
            return None
        return s if s == want else None
    return wait_until(get, timeout, interval=0.02, what='state %s of %s' % (want, path))


class Signals:
    """StateChanged signals seen on the bus (root's connection in pid 1)."""

    def __init__(self, sb):
        from gi.repository import GLib
        self.sb = sb
        self.ctx = GLib.MainContext.default()
        self.seen = []
        self.id = sb.bus.signal_subscribe('org.anyd1', CONN_IFACE, 'StateChanged', None, None, 0,
                                          self._cb)

    def _cb(self, conn, sender, path, iface, member, params):
        self.seen.append((path, params.unpack()[0], params.unpack()[1]))

    def pump(self):
        while self.ctx.iteration(False):
            pass

    def states(self, path):
        self.pump()
        return [s for p, s, r in self.seen if p == path]

    def wait(self, path, state, timeout=10):
        def f():
            return state in self.states(path)
        wait_until(f, timeout, what='StateChanged %s on %s' % (state, path))
        return [r for p, s, r in self.seen if p == path and s == state][-1]

    def close(self):
        self.sb.bus.signal_unsubscribe(self.id)


def nothing_left(ifname):
    wait_until(lambda: ifname not in vpnpeer.links(), 5, what='%s to go away' % ifname)
    assert vpnpeer.rules() == [], vpnpeer.rules()
    assert vpnpeer.routes(ifname) == [], vpnpeer.routes(ifname)
    assert not os.path.exists('/var/run/wireguard/%s.sock' % ifname)
    wait_until(lambda: not wggo_pids(), 5, what='no wireguard-go of anyd left')


def wggo_pids():
    """wireguard-go processes of anyd (not the peer's)."""
    out = subprocess.run(['pgrep', '-a', 'wireguard-go'], stdout=subprocess.PIPE, text=True).stdout
    return [l.split()[0] for l in out.splitlines() if vpnpeer.PEER_IF not in l]


# --------------------------------------------------------------- cases

@case('the peer comes up in its own namespace', needs_anyd=False)
def _(sb):
    sb.write_config(CONFIG)
    PEER.start()
    _, pub = keypair('wg-test')
    PEER.allow(pub)


@case('Vpn object is exported with its interface')
def _(sb):
    objs = managed(sb)
    assert VPN_IFACE in objs[VPN], objs.get(VPN)


@case('ImportProfile as the allowed uid stores a root-only record and a public object')
def _(sb):
    text = good_profile('wg-test', extra_peer='PersistentKeepalive = 0\n')
    path = import_profile(sb, 'wg-test', text)
    assert path == profile_path('wg-test'), path
    p = props(sb, path, PROFILE_IFACE)
    assert p['Name'] == 'wg-test' and p['Type'] == 'wireguard', p
    assert p['Addresses'] == ['10.66.0.2/24', 'fd66::2/64'], p
    assert p['AutoConnect'] is False
    assert p['Peers'] == [{'PublicKey': PEER.pub, 'Endpoint': '192.0.2.2:51820',
                           'AllowedIPs': ['10.66.0.0/24', 'fd66::/64'], 'PersistentKeepalive': 0}], p
    st = os.stat(STATE)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0, oct(st.st_mode)
    rec = os.path.join(STATE, 'wg-test.profile')
    st = os.stat(rec)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, oct(st.st_mode)
    with open(rec) as f:
        data = f.read()
    assert 'Format=1\n' in data and keypair('wg-test')[0] in data


@case('no private key in properties, introspection or the log')
def _(sb):
    priv = keypair('wg-test')[0]
    everything = repr(managed(sb))
    rc, out, err = sb.busctl(ROOT, 'introspect', 'org.anyd1', profile_path('wg-test'))
    assert priv not in everything and priv not in out
    assert not any(priv in l for l in sb.anyd_lines)


@case('a duplicate profile name is Exists, and the stored profile is unchanged')
def _(sb):
    before = open(os.path.join(STATE, 'wg-test.profile')).read()
    expect_error('Exists', import_profile, sb, 'wg-test', good_profile('other'))
    assert open(os.path.join(STATE, 'wg-test.profile')).read() == before


@case('Connect as the allowed uid: handshake, ping through the tunnel, counters grow')
def _(sb):
    sig = Signals(sb)
    try:
        t0 = time.monotonic()
        path = connect(sb, 'wg-test')
        p = props(sb, path)
        assert p['Interface'] == 'wg-test', p
        assert p['Profile'] == profile_path('wg-test'), p
        assert p['State'] in ('connecting', 'connected'), p
        assert vpnpeer.ping(TUN_PEER4, timeout=3), 'no ping reply through the tunnel'
        wait_state(sb, path, 'connected')
        sig.wait(path, 'connected')
        assert sig.states(path)[0] == 'connecting', sig.states(path)
        sb.tap_diag = 'connect to first reply %.3f s' % (time.monotonic() - t0)
        assert vpnpeer.ping(TUN_PEER6, timeout=3), 'no IPv6 ping reply through the tunnel'
        p1 = props(sb, path)
        assert p1['LatestHandshake'] > 0 or True
        for _ in range(3):
            assert vpnpeer.ping(TUN_PEER4)

        def grew():
            p2 = props(sb, path)
            return p2['RxBytes'] > p1['RxBytes'] and p2['TxBytes'] > p1['TxBytes'] and \
                p2['LatestHandshake'] > 0 and p2
        p2 = wait_until(grew, 5, what='RxBytes/TxBytes to grow')
        assert abs(p2['LatestHandshake'] / 1e6 - time.time()) < 60, p2['LatestHandshake']
        links = vpnpeer.links()
        assert links.get('wg-test') == 'anyd:vpn:1 wg-test', links
        r = vpnpeer.routes('wg-test')
        assert any(l.startswith('10.66.0.0/24') for l in r), r
        assert vpnpeer.rules() == [], vpnpeer.rules()
    finally:
        sig.close()


@case('Connect of a connected profile returns the same connection')
def _(sb):
    path = connect(sb, 'wg-test')
    assert connect(sb, 'wg-test') == path
    assert sb.call(ALLOWED, profile_path('wg-test'), PROFILE_IFACE, 'Connect') == path
    conns = [p for p in managed(sb) if p.startswith('/org/anyd1/vpn/connections/')]
    assert conns == [path], conns


@case('Disconnect: the object goes, nothing is left behind')
def _(sb):
    sig = Signals(sb)
    try:
        path = connect(sb, 'wg-test')
        disconnect(sb, 'wg-test')
        assert path not in managed(sb)
        assert sig.states(path)[-2:] == ['disconnecting', 'disconnected'], sig.states(path)
        nothing_left('wg-test')
        assert not vpnpeer.ping(TUN_PEER4, timeout=1)
        expect_error('NotFound', disconnect, sb, 'wg-test', contains='not connected')
    finally:
        sig.close()


if __name__ == '__main__':
    anydtest.main(config=CONFIG)
