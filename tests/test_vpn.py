#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The vpn module against a real WireGuard peer: wireguard-go in a second
# network namespace over veth (tests/vpnpeer.py), real packets through the
# tunnel, the real polkitd deciding.  DNS cases without resolved here; with a
# real systemd-resolved in test_vpn_dns.py.

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

from gi.repository import GLib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case, wait_until  # noqa: E402
from anydtest import expect_anyd_error as expect_error  # noqa: E402
import vpnpeer  # noqa: E402
from vpnpeer import TUN_PEER4, TUN_PEER6  # noqa: E402

VPN = '/org/anyd1/vpn'
VPN_IFACE = 'org.anyd1.Vpn'
PROFILE_IFACE = 'org.anyd1.VpnProfile'
CONN_IFACE = 'org.anyd1.VpnConnection'
STATE = '/run/anyd-test/state/vpn'
RUNTIME = '/run/anyd-test/runtime/vpn'

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
        sb.bus_call('GetId')    # the bus has the match rule once this returns

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


def nothing_left(ifname, rules=True):
    """No device, route, UAPI socket, data plane process (and rule) of ifname."""
    wait_until(lambda: ifname not in vpnpeer.links(), 5, what='%s to go away' % ifname)
    if rules:
        assert vpnpeer.rules() == [], vpnpeer.rules()
    assert vpnpeer.routes(ifname) == [], vpnpeer.routes(ifname)
    wait_until(lambda: not os.path.exists('/var/run/wireguard/%s.sock' % ifname), 5,
               what='the UAPI socket of %s to go' % ifname)
    wait_until(lambda: not wggo_pids(ifname), 5, what='no wireguard-go of %s left' % ifname)
    try:
        # systemd may keep a stopped unit loaded a while on a loaded machine
        wait_until(lambda: not units(ifname), 15 if anydtest_sb().sanitized() else 5, what='no unit of %s left' % ifname)
    except TimeoutError:
        _, out = anydtest_sb().systemctl('list-units', '--all', '--plain', '--no-legend', 'anyd-vpn-*',
                                         check=False)
        raise AssertionError('unit of %s left: %s' % (ifname, out))
    # (Delete returns before its disconnect has finished)
    wait_until(lambda: not os.path.exists(record_path(ifname)), 5, what='the runtime record of %s to go' % ifname)


def unit_name(profile):
    return 'anyd-vpn-%s.service' % ''.join(
        c if c.isalnum() or c in ':_.' else '\\x%02x' % ord(c) for c in profile)


def units(profile=None):
    """Data plane units the sandbox's systemd has loaded (of profile, or all)."""
    _, out = anydtest_sb().systemctl('list-units', '--all', '--plain', '--no-legend', 'anyd-vpn-*', check=False)
    names = [l.split()[0] for l in out.splitlines() if l.strip().startswith('anyd-vpn-')]
    return [n for n in names if profile is None or n == unit_name(profile)]


def record_path(profile):
    return os.path.join(RUNTIME, profile + '.conn')


SB = []


def anydtest_sb():
    return SB[0]


def wggo_pids(ifname=None):
    """wireguard-go processes of anyd (not the peer's), of ifname or all."""
    out = subprocess.run(['pgrep', '-a', 'wireguard-go'], stdout=subprocess.PIPE, text=True).stdout
    return [l.split()[0] for l in out.splitlines()
            if vpnpeer.PEER_IF not in l and (ifname is None or l.endswith(' ' + ifname))]


def cleanup(sb):
    """After every case: no connection, the peer knows wg-test's key again."""
    if sb.anyd is not None and sb.anyd.poll() is None:
        for path, ifaces in managed(sb).items():
            if CONN_IFACE in ifaces:
                try:
                    sb.call(ROOT, path, CONN_IFACE, 'Disconnect')
                except DBusError:
                    pass
    vpnpeer.run('ip', 'route', 'del', 'default', check=False)
    if 'wg-test' in KEYS and PEER.proc:
        PEER.allow(keypair('wg-test')[1])


def vcase(name, needs_anyd=True):
    def deco(fn):
        def wrapped(sb):
            try:
                fn(sb)
            finally:
                cleanup(sb)
        return case(name, needs_anyd)(wrapped)
    return deco


# --------------------------------------------------------------- cases

@case('the peer comes up in its own namespace', needs_anyd=False)
def _(sb):
    SB.append(sb)
    sb.write_config(CONFIG)
    PEER.start()
    _, pub = keypair('wg-test')
    PEER.allow(pub)


@vcase('Vpn object is exported with its interface')
def _(sb):
    objs = managed(sb)
    assert VPN_IFACE in objs[VPN], objs.get(VPN)


@vcase('ImportProfile as the allowed uid stores a root-only record and a public object')
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


@vcase('no private key in properties, introspection or the log')
def _(sb):
    priv = keypair('wg-test')[0]
    everything = repr(managed(sb))
    rc, out, err = sb.busctl(ROOT, 'introspect', 'org.anyd1', profile_path('wg-test'))
    assert priv not in everything and priv not in out
    assert not any(priv in l for l in sb.anyd_lines)


@vcase('a duplicate profile name is Exists, and the stored profile is unchanged')
def _(sb):
    before = open(os.path.join(STATE, 'wg-test.profile')).read()
    expect_error('Exists', import_profile, sb, 'wg-test', good_profile('other'))
    assert open(os.path.join(STATE, 'wg-test.profile')).read() == before


@vcase('Connect as the allowed uid: handshake, ping through the tunnel, counters grow')
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


@vcase('the data plane runs in a sandboxed unit of its own: no home, no devices, CAP_NET_ADMIN only')
def _(sb):
    path = connect(sb, 'wg-test')
    wait_state(sb, path, 'connected')
    unit = unit_name('wg-test')
    assert unit == 'anyd-vpn-wg\\x2dtest.service' and units('wg-test') == [unit], units()
    _, out = sb.systemctl('show', unit, '-p', 'ActiveState,NoNewPrivileges,ProtectHome,PrivateDevices,'
                          'ProtectSystem,CapabilityBoundingSet,AmbientCapabilities,MainPID,ControlGroup')
    show = dict(l.split('=', 1) for l in out.splitlines() if '=' in l)
    assert show['ActiveState'] == 'active' and show['NoNewPrivileges'] == 'yes', show
    assert show['ProtectHome'] == 'yes' and show['PrivateDevices'] == 'yes' and show['ProtectSystem'] == 'strict', show
    assert show['CapabilityBoundingSet'] == 'cap_net_admin' and show['AmbientCapabilities'] == '', show
    pid = int(show['MainPID'])
    assert str(pid) in wggo_pids('wg-test'), (pid, wggo_pids())
    status = open('/proc/%d/status' % pid).read()
    caps = {l.split(':')[0]: int(l.split()[1], 16) for l in status.splitlines() if l.startswith('Cap')}
    assert caps['CapBnd'] == 1 << 12 and caps['CapEff'] & ~(1 << 12) == 0, caps
    # not anyd's child: systemd's
    ppid = int([l for l in status.splitlines() if l.startswith('PPid:')][0].split()[1])
    assert ppid != sb.anyd.pid, ppid
    # the TUN device is its standard input, the only holder of the device
    assert os.readlink('/proc/%d/fd/0' % pid) == '/dev/net/tun'


@vcase('Connect of a connected profile returns the same connection')
def _(sb):
    path = connect(sb, 'wg-test')
    assert connect(sb, 'wg-test') == path
    assert sb.call(ALLOWED, profile_path('wg-test'), PROFILE_IFACE, 'Connect') == path
    conns = [p for p in managed(sb) if p.startswith('/org/anyd1/vpn/connections/')]
    assert conns == [path], conns


@vcase('Disconnect: the object goes, nothing is left behind')
def _(sb):
    sig = Signals(sb)
    try:
        path = connect(sb, 'wg-test')
        disconnect(sb, 'wg-test')
        assert path not in managed(sb)
        assert sig.states(path)[-2:] == ['disconnecting', 'disconnected'], sig.states(path)
        nothing_left('wg-test')
        assert not vpnpeer.ping(TUN_PEER4, timeout=1)
        expect_error('NotFound', disconnect, sb, 'wg-test', contains="VPN profile 'wg-test' is not connected")
    finally:
        sig.close()



# ------------------------------------------------------------ bad input

def bad_configs():
    priv, pub = keypair('bad')
    ok_if = '[Interface]\nPrivateKey = %s\nAddress = 10.9.0.2/24\n' % priv
    ok_peer = '[Peer]\nPublicKey = %s\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 10.9.0.0/24\n' % pub
    short_key = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=='      # 31 bytes
    bad_b64 = '!' * 43 + '='
    return [
        ('empty', '', ['[Interface] section is missing']),
        ('no private key', '[Interface]\nAddress = 10.9.0.2/24\n' + ok_peer, ['line 1', 'PrivateKey is missing']),
        ('truncated peer', ok_if + '[Peer]\nPublicKey = ', ['line 5', 'PublicKey', 'empty value']),
        ('truncated key', ok_if + '[Peer]\nPublicKey = ' + pub[:20], ['line 5', 'PublicKey', 'not a WireGuard key']),
        ('bad base64', ok_if.replace(priv, bad_b64) + ok_peer, ['line 2', 'PrivateKey', 'not a WireGuard key']),
        ('key of 31 bytes', ok_if + ok_peer.replace(pub, short_key), ['line 5', 'PublicKey']),
        ('preshared key too long', ok_if + ok_peer + 'PresharedKey = %sAAAA\n' % pub,
         ['line 8', 'PresharedKey']),
        ('unknown section', ok_if + '[Route]\nFoo = 1\n' + ok_peer, ['line 4', 'unknown section']),
        ('unknown key', ok_if + 'Foo = bar\n' + ok_peer, ['line 4', 'unknown key', 'Foo', '[Interface]']),
        ('unknown peer key', ok_if + ok_peer + 'Gateway = 1\n', ['line 8', 'unknown key', '[Peer]']),
        ('key outside a section', 'PrivateKey = %s\n' % priv + ok_if + ok_peer, ['line 1', 'outside a section']),
        ('no equals sign', ok_if + 'garbage\n' + ok_peer, ['line 4', 'Key = Value']),
        ('duplicate key', ok_if + 'PrivateKey = %s\n' % priv + ok_peer, ['line 4', 'PrivateKey', 'duplicate']),
        ('duplicate interface', ok_if + ok_if + ok_peer, ['line 4', 'duplicate [Interface]']),
        ('invalid address', ok_if + 'Address = 10.9.0.300/24\n' + ok_peer, ['line 4', 'Address']),
        ('prefix too long', ok_if + ok_peer + 'AllowedIPs = 10.0.0.0/33\n', ['line 8', 'AllowedIPs']),
        ('v6 prefix too long', ok_if + ok_peer + 'AllowedIPs = fd00::/129\n', ['line 8', 'AllowedIPs']),
        ('endpoint without port', ok_if + ok_peer.replace('192.0.2.2:51820', '192.0.2.2'),
         ['line 6', 'Endpoint', 'port']),
        ('endpoint port 0', ok_if + ok_peer.replace(':51820', ':0'), ['Endpoint', 'port']),
        ('endpoint port too big', ok_if + ok_peer.replace(':51820', ':70000'), ['Endpoint', 'port']),
        ('bare IPv6 endpoint', ok_if + ok_peer.replace('192.0.2.2:51820', 'fd00::1:51820'), ['Endpoint', '[']),
        ('bad host name', ok_if + ok_peer.replace('192.0.2.2', 'bad host'), ['Endpoint']),
        ('MTU too small', ok_if + 'MTU = 10\n' + ok_peer, ['line 4', 'MTU']),
        ('ListenPort too big', ok_if + 'ListenPort = 99999\n' + ok_peer, ['ListenPort']),
        ('negative keepalive', ok_if + ok_peer + 'PersistentKeepalive = -1\n', ['PersistentKeepalive']),
        ('local table', ok_if + 'Table = 255\n' + ok_peer, ['Table']),
        ('bad DNS', ok_if + 'DNS = 10.0.0.1, bad..name\n' + ok_peer, ['line 4', 'DNS']),
        ('same peer twice', ok_if + ok_peer + ok_peer, ['line 9', 'PublicKey', 'same peer as at line 4']),
        ('PostUp', ok_if + 'PostUp = touch /tmp/pwned\n' + ok_peer, ['line 4', 'PostUp', 'ignore_scripts']),
        ('PreUp', ok_if + 'PreUp = true\n' + ok_peer, ['PreUp']),
        ('PreDown', ok_if + 'PreDown = true\n' + ok_peer, ['PreDown']),
        ('PostDown', ok_if + 'PostDown = true\n' + ok_peer, ['PostDown']),
        ('SaveConfig', ok_if + 'SaveConfig = true\n' + ok_peer, ['SaveConfig']),
        ('huge', ok_if + ok_peer + '#' * (70 * 1024) + '\n', ['larger than 65536']),
    ]


@vcase('malformed configurations are InvalidArgument naming line and key; nothing is stored')
def _(sb):
    before = sorted(os.listdir(STATE))
    objs_before = sorted(managed(sb))
    for what, text, needles in bad_configs():
        try:
            e = expect_error('InvalidArgument', import_profile, sb, 'bad', text, contains=needles)
        except AssertionError as ex:
            raise AssertionError('%s: %s' % (what, ex))
        assert keypair('bad')[0] not in e.message, what
    assert sorted(os.listdir(STATE)) == before, os.listdir(STATE)
    assert sorted(managed(sb)) == objs_before
    assert not any(keypair('bad')[0] in l for l in sb.anyd_lines)


@vcase('a profile without [Peer] imports (as wg-quick allows); Connect says why it cannot, creating nothing')
def _(sb):
    priv, _ = keypair('lonely')
    path = import_profile(sb, 'lonely', '[Interface]\nPrivateKey = %s\nAddress = 10.67.0.2/24\n' % priv)
    p = props(sb, path, PROFILE_IFACE)
    assert p['Peers'] == [] and p['Addresses'] == ['10.67.0.2/24'], p
    links = vpnpeer.links()
    for call in (lambda: connect(sb, 'lonely'),
                 lambda: sb.call(ALLOWED, path, PROFILE_IFACE, 'Connect')):
        e = expect_error('Failed', call, contains=["VPN profile 'lonely'", 'no [Peer]'])
        assert 'VpnProfile' not in e.message and 'Update' not in e.message, e.message
    assert vpnpeer.links() == links, vpnpeer.links()
    assert not [o for o in managed(sb) if o.startswith('/org/anyd1/vpn/connections/')]
    assert not wggo_pids()
    sb.call(ALLOWED, path, PROFILE_IFACE, 'Delete')


@vcase('bad names and options are InvalidArgument naming the field')
def _(sb):
    text = good_profile('x')
    for name in ['', '../etc', 'a/b', '.hidden', '-x', 'wg 0', 'x' * 65, 'ünï', 'a:b']:
        expect_error('InvalidArgument', import_profile, sb, name, text, contains='name')
    expect_error('InvalidArgument', import_profile, sb, 'opt', text, {'foo': GLib.Variant('b', True)},
                 contains=['options', 'foo'])
    expect_error('InvalidArgument', import_profile, sb, 'opt', text,
                 {'ignore_scripts': GLib.Variant('s', 'yes')}, contains=['ignore_scripts'])
    assert not os.path.exists(os.path.join(STATE, 'opt.profile'))


@vcase('hook commands are dropped with ignore_scripts, and never run')
def _(sb):
    marker = '/run/anyd-test/hook-ran'
    text = good_profile('hooks', extra_iface='PostUp = touch %s\nSaveConfig = true\n' % marker)
    import_profile(sb, 'hooks', text, {'ignore_scripts': GLib.Variant('b', True)})
    data = open(os.path.join(STATE, 'hooks.profile')).read()
    assert 'PostUp' not in data and 'SaveConfig' not in data and 'IgnoreScripts=true' in data, data
    sb.call(ALLOWED, profile_path('hooks'), PROFILE_IFACE, 'Delete')
    assert not os.path.exists(marker)


def import_fd(sb, name, fd, options=None, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'ImportProfileFd', '(sha{sv})', (name, 0, options or {}),
                   fds=[fd] if fd is not None else [])


@vcase('ImportProfileFd reads a regular file the caller opened')
def _(sb):
    with tempfile.TemporaryFile('w+') as f:
        f.write(good_profile('fd-ok'))
        f.flush()
        f.seek(17)    # the daemon reads the whole file, whatever the offset
        path = import_fd(sb, 'fd-ok', f.fileno())
    assert path == profile_path('fd-ok')
    assert props(sb, path, PROFILE_IFACE)['Peers'][0]['PublicKey'] == PEER.pub
    sb.call(ALLOWED, path, PROFILE_IFACE, 'Delete')
    assert not os.path.exists(os.path.join(STATE, 'fd-ok.profile'))


@vcase('ImportProfileFd refuses pipes, sockets, devices, directories, huge and binary files')
def _(sb):
    import socket
    r, w = os.pipe()
    os.write(w, good_profile('x').encode())
    os.close(w)
    try:
        expect_error('InvalidArgument', import_fd, sb, 'fd-bad', r, contains=['fd', 'regular file'])
    finally:
        os.close(r)
    s1, s2 = socket.socketpair()
    try:
        expect_error('InvalidArgument', import_fd, sb, 'fd-bad', s1.fileno(), contains='regular file')
    finally:
        s1.close()
        s2.close()
    for path in ['/dev/null', '/']:
        fd = os.open(path, os.O_RDONLY)
        try:
            expect_error('InvalidArgument', import_fd, sb, 'fd-bad', fd, contains='regular file')
        finally:
            os.close(fd)
    for content, needle in [(b'#' * (65 * 1024), 'larger than'),
                            (good_profile('x').encode().replace(b'Address', b'Addr\0ss'), 'NUL'),
                            (good_profile('x').encode().replace(b'Address', b'Addr\xffss'), 'UTF-8')]:
        with tempfile.TemporaryFile() as f:
            f.write(content)
            f.flush()
            expect_error('InvalidArgument', import_fd, sb, 'fd-bad', f.fileno(), contains=needle)
    expect_error('InvalidArgument', import_fd, sb, 'fd-bad', None, contains='fd')
    assert not os.path.exists(os.path.join(STATE, 'fd-bad.profile'))


# -------------------------------------------------------- authorization

@vcase('every method refuses the denied uid and asks the needs-password uid')
def _(sb):
    import_profile(sb, 'auth', good_profile('auth'))
    conn = connect(sb, 'auth')      # its peer does not know the key: stays connecting
    pp = profile_path('auth')
    text = good_profile('auth')
    calls = [
        (VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})', ('auth2', text, {})),
        (VPN, VPN_IFACE, 'Connect', '(s)', ('auth',)),
        (VPN, VPN_IFACE, 'Disconnect', '(s)', ('auth',)),
        (pp, PROFILE_IFACE, 'Connect', '()', ()),
        (pp, PROFILE_IFACE, 'Update', '(s)', (text,)),
        (pp, PROFILE_IFACE, 'SetAutoConnect', '(b)', (True,)),
        (pp, PROFILE_IFACE, 'Delete', '()', ()),
        (conn, CONN_IFACE, 'Disconnect', '()', ()),
    ]
    for uid, err in [(DENIED, 'NotAuthorized'), (CHALLENGE, 'NotAuthorizedCanObtain')]:
        for path, iface, method, sig, args in calls:
            mark = sb.mark()
            try:
                expect_error(err, sb.call, uid, path, iface, method, sig, args)
            except AssertionError as e:
                raise AssertionError('%s.%s as uid %d: %s' % (iface, method, uid, e))
            sb.wait_audit(mark, ANYD_CALLER_UID=uid, ANYD_ACTION='org.anyd1.vpn.%s' % (
                'manage' if method in ('ImportProfile', 'Update', 'SetAutoConnect', 'Delete') else 'connect'),
                ANYD_DETAILS='profile=auth' if method != 'ImportProfile' else 'profile=auth2')
        with tempfile.TemporaryFile('w+') as f:
            f.write(text)
            f.flush()
            expect_error(err, import_fd, sb, 'auth2', f.fileno(), uid=uid)
    # nothing happened
    assert props(sb, conn)['State'] in ('connecting', 'failed')
    assert not os.path.exists(os.path.join(STATE, 'auth2.profile'))
    assert os.path.exists(os.path.join(STATE, 'auth.profile'))
    sb.call(ALLOWED, conn, CONN_IFACE, 'Disconnect')
    sb.call(ALLOWED, pp, PROFILE_IFACE, 'Delete')
    nothing_left('auth')


@vcase('root may do everything without polkit rules')
def _(sb):
    import_profile(sb, 'rooted', good_profile('rooted'), uid=ROOT)
    sb.call(ROOT, profile_path('rooted'), PROFILE_IFACE, 'Delete')


# -------------------------------------------------------------- failures

@vcase('an unreachable peer fails after the handshake timeout, with a reason, and is cleaned up')
def _(sb):
    sig = Signals(sb)
    try:
        import_profile(sb, 'wg-dead', good_profile('wg-dead', endpoint='192.0.2.99:51820'))
        t0 = time.monotonic()
        path = connect(sb, 'wg-dead')
        reason = sig.wait(path, 'failed', timeout=15)
        took = time.monotonic() - t0
        assert 2.5 < took < 8, took
        assert 'no handshake' in reason and '3 s' in reason, reason
        p = props(sb, path)
        assert p['State'] == 'failed' and p['LastError'] == reason, p
        nothing_left('wg-dead')
        # a failed connection is removed by Disconnect ...
        disconnect(sb, 'wg-dead')
        assert path not in managed(sb)
        assert sig.states(path)[-1] == 'disconnected'
    finally:
        sig.close()


@vcase('a failed connection is replaced by the next Connect')
def _(sb):
    path = connect(sb, 'wg-dead')
    wait_state(sb, path, 'failed', timeout=15)
    path2 = connect(sb, 'wg-dead')
    assert path2 != path and path not in managed(sb)
    disconnect(sb, 'wg-dead')
    sb.call(ALLOWED, profile_path('wg-dead'), PROFILE_IFACE, 'Delete')
    nothing_left('wg-dead')


@vcase('the data plane dying fails the connection with a reason and cleans up')
def _(sb):
    sig = Signals(sb)
    try:
        path = connect(sb, 'wg-test')
        wait_state(sb, path, 'connected')
        pids = wggo_pids()
        assert len(pids) == 1, pids
        os.kill(int(pids[0]), signal.SIGKILL)
        reason = sig.wait(path, 'failed')
        assert 'wireguard-go' in reason and 'signal 9' in reason, reason
        nothing_left('wg-test')
        disconnect(sb, 'wg-test')
    finally:
        sig.close()


@vcase('a failed connection names no interface: Interface is cleared (PropertiesChanged), vpn status shows none')
def _(sb):
    changed = []
    sid = sb.bus.signal_subscribe('org.anyd1', 'org.freedesktop.DBus.Properties', 'PropertiesChanged', None,
                                  CONN_IFACE, 0, lambda *a: changed.append((a[2], a[5].unpack()[1])))
    sb.bus_call('GetId')    # the bus has the match rule once this returns
    sig = Signals(sb)
    try:
        import_profile(sb, 'wg-stale', good_profile('wg-stale', endpoint='192.0.2.99:51820'))
        path = connect(sb, 'wg-stale')
        # answered while connecting: the device of this attempt is up
        assert props(sb, path)['Interface'] == 'wg-stale', props(sb, path)
        sig.wait(path, 'failed', timeout=15)
        nothing_left('wg-stale')
        p = props(sb, path)
        assert p['State'] == 'failed' and p['Interface'] == '', p
        wait_until(lambda: (sig.pump(), any(cp == path and ch.get('Interface') == '' for cp, ch in changed))[1],
                   5, what='PropertiesChanged clearing Interface of %s' % path)
        rc, out, err = sb.client(ALLOWED, '--json', 'vpn', 'status', 'wg-stale')
        st = json.loads(out)
        assert rc == 0 and len(st) == 1 and st[0]['state'] == 'failed', (rc, out, err)
        assert st[0]['interface'] in ('', None), st
        rc, out, err = sb.client(ALLOWED, '--terse', '--fields=profile,state,interface', 'vpn', 'status',
                                 'wg-stale')
        assert rc == 0 and out == 'wg-stale:failed:\n', (rc, out, err)
    finally:
        sb.bus.signal_unsubscribe(sid)
        sig.close()
    disconnect(sb, 'wg-stale')
    sb.call(ALLOWED, profile_path('wg-stale'), PROFILE_IFACE, 'Delete')
    nothing_left('wg-stale')


@vcase('a missing wireguard-go makes Connect answer Disabled')
def _(sb):
    sb.write_config(CONFIG + 'wireguard_go=/nonexistent/wireguard-go\n')
    sb.restart_anyd()
    try:
        expect_error('Disabled', connect, sb, 'wg-test', contains='wireguard-go')
        assert not [p for p in managed(sb) if '/connections/' in p]
    finally:
        sb.write_config(CONFIG)
        sb.restart_anyd()


# -------------------------------------------------------------- routing

@vcase('a full tunnel routes everything but its own endpoint traffic through the tunnel')
def _(sb):
    import_profile(sb, 'wg-full', good_profile('wg-full', allowed='0.0.0.0/0, ::/0',
                                               extra_iface='MTU = 1380\n'))
    PEER.allow(keypair('wg-full')[1], addrs=('0.0.0.0/0', '::/0'))
    path = connect(sb, 'wg-full')
    assert vpnpeer.ping(TUN_PEER4, timeout=3)
    wait_state(sb, path, 'connected')
    r = vpnpeer.rules()
    assert len(r) == 4, r
    assert any('not from all fwmark 0xca6c lookup 51820' in l for l in r), r
    assert any('lookup main suppress_prefixlength 0' in l for l in r), r
    # as on a real machine: a default route in the main table
    vpnpeer.run('ip', 'route', 'add', 'default', 'via', '192.0.2.2')
    try:
        got = vpnpeer.run('ip', 'route', 'get', '198.51.100.7')
        assert 'dev wg-full' in got and 'table 51820' in got, got
        # wireguard-go's own packets (marked) take the main table: no loop
        got = vpnpeer.run('ip', 'route', 'get', '198.51.100.7', 'mark', '51820')
        assert 'dev veth-anyd' in got, got
        # local routes still win over the tunnel's default
        got = vpnpeer.run('ip', 'route', 'get', '192.0.2.2')
        assert 'dev veth-anyd' in got, got
        assert 'mtu 1380' in vpnpeer.run('ip', 'link', 'show', 'wg-full')
        assert vpnpeer.ping(TUN_PEER4)
    finally:
        vpnpeer.run('ip', 'route', 'del', 'default', 'via', '192.0.2.2')
        disconnect(sb, 'wg-full')
        PEER.allow(keypair('wg-test')[1])
    nothing_left('wg-full')


@vcase('Table = off adds no routes; Table = N puts them there')
def _(sb):
    import_profile(sb, 'wg-off', good_profile('wg-off', extra_iface='Table = off\n'))
    path = connect(sb, 'wg-off')
    r = vpnpeer.routes('wg-off')
    assert not any(l.startswith('fd66::/64 ') and 'proto static' in l for l in r), r
    assert not any('proto static' in l for l in r), r
    disconnect(sb, 'wg-off')
    sb.call(ALLOWED, profile_path('wg-off'), PROFILE_IFACE, 'Update', '(s)',
            (good_profile('wg-off', extra_iface='Table = 1234\n'),))
    path = connect(sb, 'wg-off')
    r = vpnpeer.routes('wg-off')
    assert any('table 1234' in l and l.startswith('10.66.0.0/24') for l in r), r
    disconnect(sb, 'wg-off')
    nothing_left('wg-off')
    assert path


# -------------------------------------------------------------- DNS

@vcase('without systemd-resolved the tunnel comes up and LastError says DNS was not applied')
def _(sb):
    if sb.has_owner('org.freedesktop.resolve1'):
        raise Skip('resolved runs here')
    import_profile(sb, 'wg-dns', good_profile('wg-dns', extra_iface='DNS = 10.66.0.1, corp.example\n'))
    PEER.allow(keypair('wg-dns')[1])
    path = connect(sb, 'wg-dns')
    wait_state(sb, path, 'connected')
    p = props(sb, path)
    assert 'DNS not applied' in p['LastError'] and 'systemd-resolved' in p['LastError'], p
    assert vpnpeer.ping(TUN_PEER4)
    with open('/etc/resolv.conf') as f:
        assert '10.66.0.1' not in f.read()
    disconnect(sb, 'wg-dns')
    nothing_left('wg-dns')
    PEER.allow(keypair('wg-test')[1])


# ----------------------------------------------------- profile lifetime

@vcase('Update changes the stored profile; a bad Update changes nothing')
def _(sb):
    pp = profile_path('wg-test')
    before = open(os.path.join(STATE, 'wg-test.profile')).read()
    expect_error('InvalidArgument', sb.call, ALLOWED, pp, PROFILE_IFACE, 'Update', '(s)',
                 (good_profile('wg-test') + 'Bogus = 1\n',), contains='Bogus')
    assert open(os.path.join(STATE, 'wg-test.profile')).read() == before
    sb.call(ALLOWED, pp, PROFILE_IFACE, 'Update', '(s)',
            (good_profile('wg-test', extra_peer='PersistentKeepalive = 25\n'),))
    assert props(sb, pp, PROFILE_IFACE)['Peers'][0]['PersistentKeepalive'] == 25
    assert 'PersistentKeepalive = 25' in open(os.path.join(STATE, 'wg-test.profile')).read()


@vcase('a connection outlives the caller that made it')
def _(sb):
    c = sb.connect(ALLOWED)
    path = c.call(VPN, VPN_IFACE, 'Connect', '(s)', ('wg-test',))
    c.kill()
    time.sleep(0.3)
    assert props(sb, path)['State'] in ('connecting', 'connected')
    assert vpnpeer.ping(TUN_PEER4, timeout=3)


@vcase('Disconnect through the connection object')
def _(sb):
    path = connect(sb, 'wg-test')
    sb.call(ALLOWED, path, CONN_IFACE, 'Disconnect')
    assert path not in managed(sb)
    nothing_left('wg-test')


@vcase('deleting a connected profile disconnects it and removes its record')
def _(sb):
    import_profile(sb, 'wg-gone', good_profile('wg-gone'))
    path = connect(sb, 'wg-gone')
    sb.call(ALLOWED, profile_path('wg-gone'), PROFILE_IFACE, 'Delete')
    wait_until(lambda: path not in managed(sb), 5, what='connection object to go')
    assert profile_path('wg-gone') not in managed(sb)
    assert not os.path.exists(os.path.join(STATE, 'wg-gone.profile'))
    nothing_left('wg-gone')
    expect_error('NotFound', connect, sb, 'wg-gone', contains="no VPN profile 'wg-gone'")


# ---------------------------------------------- stop, crash, restart

class Ping:
    """ping at 100/s through the tunnel in the background; lost() once done."""

    def __init__(self, seconds):
        self.count = int(seconds * 100)
        self.proc = subprocess.Popen(['ping', '-n', '-q', '-i', '0.01', '-W', '1', '-c', str(self.count),
                                      TUN_PEER4], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def lost(self):
        out = self.proc.communicate(timeout=60)[0]
        import re
        m = re.search(r'(\d+) packets transmitted, (\d+) received', out)
        assert m, out
        return int(m.group(1)) - int(m.group(2)), int(m.group(1))


def conn_path(sb, profile):
    for p, ifaces in managed(sb).items():
        if CONN_IFACE in ifaces and ifaces[CONN_IFACE]['Profile'] == profile_path(profile):
            return p


def across(sb, kind, restart, seconds=3):
    """Connect wg-test, ping at 100/s while restart() runs, then check the
    connection came back as it was and Disconnect cleans everything."""
    path = connect(sb, 'wg-test')
    wait_state(sb, path, 'connected')
    before = props(sb, path)
    rec = open(record_path('wg-test')).read()
    assert 'Version=1' in rec and stat.S_IMODE(os.stat(record_path('wg-test')).st_mode) == 0o600
    assert units('wg-test'), units()
    ping = Ping(seconds)
    time.sleep(0.5)
    t0 = time.monotonic()
    restart()
    wait_until(lambda: conn_path(sb, 'wg-test'), 10, interval=0.01, what='the connection object back')
    took = time.monotonic() - t0
    assert conn_path(sb, 'wg-test') == path, (conn_path(sb, 'wg-test'), path)
    after = props(sb, path)
    assert after['State'] == 'connected' and after['Interface'] == 'wg-test', after
    assert after['Since'] == before['Since'], (before['Since'], after['Since'])
    assert after['RxBytes'] >= before['RxBytes'] and after['TxBytes'] >= before['TxBytes'], (before, after)
    assert abs(after['LatestHandshake'] / 1e6 - time.time()) < 180, after['LatestHandshake']
    lost, sent = ping.lost()
    assert sent >= seconds * 97 and lost <= 1, 'lost %d of %d replies across %s' % (lost, sent, kind)

    def grown():
        # (after an idle exit, the next call may find a new anyd still taking over)
        try:
            p = props(sb, path)
        except DBusError:
            return None
        return p['RxBytes'] > after['RxBytes'] and p
    p2 = wait_until(grown, 10, what='counters to keep growing')
    assert p2['State'] == 'connected'
    print('# %s: %d of %d ping replies lost, connection object back %.3f s after the restart began'
          % (kind, lost, sent, took), flush=True)

    def disconnected():
        try:
            disconnect(sb, 'wg-test')
        except DBusError:
            return False
        return True
    wait_until(disconnected, 10, what='Disconnect after the take-over')
    assert path not in managed(sb)
    nothing_left('wg-test')


@vcase('SIGTERM + start: the tunnel keeps carrying traffic; the connection is taken over as it was')
def _(sb):
    def restart():
        assert sb.stop_anyd() == 0
        assert 'wg-test' in vpnpeer.links() and wggo_pids('wg-test')
        sb.start_anyd()
    across(sb, 'SIGTERM+start', restart)


@vcase('kill -9 + start: the tunnel keeps carrying traffic; the connection is taken over as it was')
def _(sb):
    def restart():
        sb.kill_anyd()
        sb.start_anyd()
    across(sb, 'kill -9+start', restart)


@vcase('idle exit + bus activation: the tunnel keeps carrying traffic; the connection is taken over')
def _(sb):
    if sb.anyd and sb.anyd.poll() is None:
        sb.stop_anyd()
    sb.install_activation(('--idle-timeout', '1'))
    try:
        def restart():
            # a connected tunnel does not keep anyd from exiting when idle
            wait_until(lambda: not sb.has_owner('org.anyd1'), 10, what='anyd to exit when idle')
            assert 'wg-test' in vpnpeer.links() and wggo_pids('wg-test')
        # Connect activates anyd; GetManagedObjects after the idle exit does again
        across(sb, 'idle exit+activation', restart, seconds=5)
    finally:
        wait_until(lambda: not sb.has_owner('org.anyd1'), 15, what='the activated anyd to exit')
        sb.remove_activation()


@vcase('keep_on_exit=false: stopping anyd disconnects and leaves nothing (device, rules, unit, record)')
def _(sb):
    sb.write_config(CONFIG + 'keep_on_exit=false\n')
    sb.restart_anyd()
    try:
        import_profile(sb, 'wg-full2', good_profile('wg-full2', allowed='0.0.0.0/0'))
        connect(sb, 'wg-test')
        connect(sb, 'wg-full2')
        assert len(vpnpeer.rules()) == 2
        assert len(units()) == 2, units()
        assert sb.stop_anyd() == 0
        nothing_left('wg-test', rules=False)
        nothing_left('wg-full2')
        assert units() == [] and os.listdir(RUNTIME) == [], (units(), os.listdir(RUNTIME))
    finally:
        sb.write_config(CONFIG)
        sb.restart_anyd()


@vcase('kill -9: the next start takes over the connection and removes a marked device no record claims')
def _(sb):
    PEER.allow(keypair('wg-full2')[1])
    path = connect(sb, 'wg-full2')
    wait_state(sb, path, 'connected')
    assert path and len(vpnpeer.rules()) == 2
    # a device whose anyd died before writing its record: nothing claims it
    vpnpeer.run('ip', 'tuntap', 'add', 'mode', 'tun', 'name', 'wg-stale')
    vpnpeer.run('ip', 'link', 'set', 'wg-stale', 'alias', 'anyd:vpn:1 wg-stale')
    vpnpeer.run('ip', 'link', 'set', 'wg-stale', 'up')
    vpnpeer.run('ip', 'route', 'add', '10.77.0.0/24', 'dev', 'wg-stale')
    sb.kill_anyd()
    sb.start_anyd()
    nothing_left('wg-stale', rules=False)
    assert vpnpeer.routes('wg-stale') == []
    sb.wait_audit(0, ANYD_ACTION='vpn.cleanup')
    wait_until(lambda: conn_path(sb, 'wg-full2') == path, 5, what='wg-full2 taken over')
    assert len(vpnpeer.rules()) == 2 and props(sb, path)['State'] == 'connected'
    sb.call(ALLOWED, profile_path('wg-full2'), PROFILE_IFACE, 'Delete')
    nothing_left('wg-full2')


# ----------------------------------------- what does not check out at start

def fault(sb, what, damage, reason, profile='wg-test'):
    """Connect, stop anyd (the tunnel stays), damage(), start: the
    connection is not taken over, everything of it is gone, and the audit
    record says why."""
    path = connect(sb, profile)
    wait_state(sb, path, 'connected')
    assert sb.stop_anyd() == 0
    damage()
    sb.start_anyd()
    action, result, needle = reason
    rec = sb.wait_audit(0, ANYD_ACTION=action, ANYD_RESULT=result)
    assert needle in rec.get('MESSAGE', ''), rec
    time.sleep(0.3)
    assert conn_path(sb, profile) is None, what
    nothing_left(profile)
    assert units() == [], units()
    return rec


def edit_record(profile, fn):
    with open(record_path(profile)) as f:
        text = f.read()
    with open(record_path(profile), 'w') as f:
        f.write(fn(text))


@vcase('at start: a record whose interface is gone is removed with its unit and rules')
def _(sb):
    fault(sb, 'interface gone', lambda: vpnpeer.run('ip', 'link', 'del', 'wg-test'),
          ('vpn.adopt', 'error', 'is gone'))


@vcase('at start: an interface whose unit died is removed')
def _(sb):
    def damage():
        sb.systemctl('stop', unit_name('wg-test'))
        vpnpeer.run('ip', 'tuntap', 'add', 'mode', 'tun', 'name', 'wg-test')
        vpnpeer.run('ip', 'link', 'set', 'wg-test', 'alias', 'anyd:vpn:1 wg-test')
        import re
        idx = vpnpeer.run('ip', '-o', 'link', 'show', 'wg-test').split(':')[0].strip()
        edit_record('wg-test', lambda t: re.sub(r'IfIndex=\d+', 'IfIndex=' + idx, t))
    fault(sb, 'unit died', damage, ('vpn.adopt', 'error', 'unit'))


@vcase('at start: a unit running with no record is stopped, its device removed')
def _(sb):
    fault(sb, 'no record', lambda: os.unlink(record_path('wg-test')), ('vpn.cleanup', 'ok', 'devices=1'))


@vcase('at start: a profile changed while anyd was down: its connection is removed, not taken over')
def _(sb):
    stored = os.path.join(STATE, 'wg-test.profile')
    original = open(stored).read()

    def damage():
        # the stored profile gets another address
        with open(stored, 'w') as f:
            f.write(original.replace('10.66.0.2/24', '10.66.0.3/24'))
    try:
        fault(sb, 'profile changed', damage, ('vpn.adopt', 'error', 'changed'))
    finally:
        sb.stop_anyd()
        with open(stored, 'w') as f:
            f.write(original)
        sb.start_anyd()


@vcase('at start: a profile deleted while anyd was down: its connection is removed')
def _(sb):
    import_profile(sb, 'wg-del', good_profile('wg-test'))
    fault(sb, 'profile deleted', lambda: os.unlink(os.path.join(STATE, 'wg-del.profile')),
          ('vpn.adopt', 'error', 'deleted'), profile='wg-del')


@vcase('at start: two records claiming one interface are both removed')
def _(sb):
    import_profile(sb, 'wg-twin', good_profile('wg-test'))

    def damage():
        t = open(record_path('wg-test')).read()
        t = t.replace('Profile=wg-test', 'Profile=wg-twin').replace(
            'Unit=' + unit_name('wg-test').replace('\\', '\\\\'), 'Unit=' + unit_name('wg-twin').replace('\\', '\\\\'))
        with open(record_path('wg-twin'), 'w') as f:
            f.write(t)
    try:
        fault(sb, 'two records', damage, ('vpn.adopt', 'error', 'both claim'))
        assert not os.path.exists(record_path('wg-twin'))
    finally:
        sb.call(ALLOWED, profile_path('wg-twin'), PROFILE_IFACE, 'Delete')


@vcase('at start: a truncated record is removed, and what it named is swept')
def _(sb):
    fault(sb, 'truncated', lambda: edit_record('wg-test', lambda t: t[:len(t) // 2]), ('vpn.adopt', 'error', 'record'))


@vcase('at start: a record of another version is removed, and what it named is swept')
def _(sb):
    fault(sb, 'bad version', lambda: edit_record('wg-test', lambda t: t.replace('Version=1', 'Version=9')),
          ('vpn.adopt', 'error', 'version 9'))


@vcase('SetAutoConnect changes only AutoConnect, durably; bad types refused')
def _(sb):
    import_profile(sb, 'wg-ac', good_profile('wg-test'))
    pp = profile_path('wg-ac')
    record = os.path.join(STATE, 'wg-ac.profile')
    before = open(record).read()
    assert props(sb, pp, PROFILE_IFACE)['AutoConnect'] is False
    sb.call(ALLOWED, pp, PROFILE_IFACE, 'SetAutoConnect', '(b)', (True,))
    assert props(sb, pp, PROFILE_IFACE)['AutoConnect'] is True
    after = open(record).read()
    assert 'AutoConnect=true' in after and after.replace('AutoConnect=true', 'AutoConnect=false') == before
    sb.call(ALLOWED, pp, PROFILE_IFACE, 'SetAutoConnect', '(b)', (False,))
    # anyd-client vpn modify: the same through the client
    rc, out, err = sb.client(ALLOWED, '--no-ask-password', 'vpn', 'modify', 'wg-ac', '--autoconnect', 'yes')
    assert rc == 0 and out == '' and props(sb, pp, PROFILE_IFACE)['AutoConnect'] is True, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, '--json', 'vpn', 'modify', 'wg-ac', '--autoconnect', 'no')
    assert rc == 0 and props(sb, pp, PROFILE_IFACE)['AutoConnect'] is False, (rc, out, err)
    assert json.loads(out) == {'modified': 'wg-ac', 'autoconnect': False}, out
    rc, out, err = sb.client(ALLOWED, 'vpn', 'modify', 'wg-ac', '--autoconnect', 'maybe')
    assert rc == 2 and 'yes or no' in err, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'modify', 'wg-ac')
    assert rc == 2 and '--autoconnect' in err, (rc, out, err)
    rc, out, err = sb.client(DENIED, '--no-ask-password', 'vpn', 'modify', 'wg-ac', '--autoconnect', 'yes')
    assert rc == 3 and props(sb, pp, PROFILE_IFACE)['AutoConnect'] is False, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'modify', 'no-such', '--autoconnect', 'yes')
    assert rc == 4, (rc, out, err)
    try:        # a wrong type never reaches anyd's handler
        sb.call(ALLOWED, pp, PROFILE_IFACE, 'SetAutoConnect', '(s)', ('yes',))
    except anydtest.DBusError as e:
        assert e.name == 'org.freedesktop.DBus.Error.InvalidArgs', e
    else:
        raise AssertionError('SetAutoConnect took a string')
    sb.restart_anyd()
    assert props(sb, pp, PROFILE_IFACE)['AutoConnect'] is False
    assert open(record).read() == before
    sb.call(ALLOWED, pp, PROFILE_IFACE, 'Delete')


@vcase('profiles survive a restart; autoconnect profiles connect at start')
def _(sb):
    import_profile(sb, 'wg-auto', good_profile('wg-test'), {'autoconnect': GLib.Variant('b', True)})
    sb.restart_anyd()
    objs = managed(sb)
    assert profile_path('wg-test') in objs and profile_path('wg-auto') in objs
    assert objs[profile_path('wg-auto')][PROFILE_IFACE]['AutoConnect'] is True

    def conn():
        for p, ifaces in managed(sb).items():
            if CONN_IFACE in ifaces and ifaces[CONN_IFACE]['Profile'] == profile_path('wg-auto'):
                return p
    path = wait_until(conn, 5, what='autoconnect')
    wait_state(sb, path, 'connected')
    assert vpnpeer.ping(TUN_PEER4)
    disconnect(sb, 'wg-auto')
    sb.call(ALLOWED, profile_path('wg-auto'), PROFILE_IFACE, 'Delete')
    nothing_left('wg-auto')


@vcase('a corrupt record is skipped at start, the others load', needs_anyd=False)
def _(sb):
    sb.stop_anyd()
    with open(os.path.join(STATE, 'broken.profile'), 'w') as f:
        f.write('Format=1\nName=broken\n\n[Interface]\nPrivateKey = nope\n')
    os.chmod(os.path.join(STATE, 'broken.profile'), 0o600)
    sb.start_anyd()
    objs = managed(sb)
    assert profile_path('wg-test') in objs and profile_path('broken') not in objs
    assert any('skipping' in l and 'broken.profile' in l for l in sb.anyd_output())
    os.unlink(os.path.join(STATE, 'broken.profile'))



# ------------------------------------------------------------ anyd-client

def client_file(name, text, mode=0o644):
    path = '/run/anyd-test/%s.conf' % name
    with open(path, 'w') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


@vcase('anyd-client vpn import reads the file as the caller, never as root')
def _(sb):
    secret = client_file('root-only', good_profile('cli-secret'), mode=0o600)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', secret, 'cli-secret')
    assert rc == 1 and 'Permission denied' in err, (rc, out, err)
    assert not os.path.exists(os.path.join(STATE, 'cli-secret.profile'))
    path = client_file('cli', good_profile('wg-test'))
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', path)     # named after the file
    assert rc == 0 and 'Imported profile cli' in out, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', path, 'cli')
    assert rc == 5 and err.startswith('anyd-client: ') and err.count('\n') == 1, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', client_file('bad', 'garbage\n'), 'cli-bad')
    assert rc == 2 and 'line 1' in err, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', '-', 'cli-stdin', input=good_profile('wg-test'))
    assert rc == 0, (rc, out, err)
    rc, out, err = sb.client(DENIED, 'vpn', 'import', path, 'cli-denied')
    assert rc == 3, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'delete', 'cli-stdin')
    assert rc == 0, (rc, out, err)


@vcase('anyd-client vpn connect, status, show, list, monitor, disconnect')
def _(sb):
    import json
    mon = subprocess.Popen(anydtest.setpriv_prefix(ALLOWED) + [sb.client_binary(), 'vpn', 'monitor'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=anydtest.base_env(), cwd='/')
    monj = subprocess.Popen(anydtest.setpriv_prefix(ALLOWED) + [sb.client_binary(), '--json', 'vpn', 'monitor',
                                                                'cli'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=anydtest.base_env(), cwd='/')
    time.sleep(0.5)
    try:
        rc, out, err = sb.client(ALLOWED, 'vpn', 'connect', 'cli')
        assert rc == 0 and out == 'cli: connected\n', (rc, out, err)
        assert vpnpeer.ping(TUN_PEER4)
        rc, out, err = sb.client(ALLOWED, 'vpn', 'status')
        assert rc == 0 and 'cli ' in out and 'connected' in out and 'cli ' in out.splitlines()[1], out
        rc, out, err = sb.client(ALLOWED, '--json', 'vpn', 'status')
        st = json.loads(out)
        assert st[0]['name'] == 'cli' and st[0]['state'] == 'connected' and st[0]['interface'] == 'cli', st
        assert st[0]['rx_bytes'] > 0 and st[0]['latest_handshake'] > 0, st
        rc, out, err = sb.client(ALLOWED, 'vpn', 'show', 'cli')
        assert rc == 0 and PEER.pub in out and '192.0.2.2:51820' in out and 'connected' in out, out
        assert keypair('wg-test')[0] not in out
        rc, out, err = sb.client(ALLOWED, '--json', 'vpn', 'list')
        lst = {p['name']: p for p in json.loads(out)}
        assert lst['cli']['state'] == 'connected' and lst['wg-test']['state'] == 'disconnected', lst
        rc, out, err = sb.client(ALLOWED, 'vpn', 'list')
        assert rc == 0 and 'NAME' in out.splitlines()[0], out
        rc, out, err = sb.client(DENIED, 'vpn', 'disconnect', 'cli')
        assert rc == 3, (rc, out, err)
        rc, out, err = sb.client(ALLOWED, 'vpn', 'connect', 'nosuch')
        assert rc == 4, (rc, out, err)
        rc, out, err = sb.client(ALLOWED, 'vpn', 'disconnect', 'cli')
        assert rc == 0 and 'disconnected' in out, (rc, out, err)
        nothing_left('cli')
        time.sleep(0.3)
    finally:
        for m in (mon, monj):
            m.terminate()
    text = mon.communicate(timeout=5)[0]
    lines = [l.split()[1:3] for l in text.splitlines()[1:]]
    assert lines == [['cli', 'connecting'], ['cli', 'connected'], ['cli', 'disconnecting'],
                     ['cli', 'disconnected']], text
    events = [json.loads(l) for l in monj.communicate(timeout=5)[0].splitlines()]
    assert [e['state'] for e in events] == ['connecting', 'connected', 'disconnecting', 'disconnected'], events
    assert all(abs(e['time'] / 1e6 - time.time()) < 120 for e in events), events   # µs, as everywhere


@vcase('anyd-client vpn connect reports a failed connection with its reason')
def _(sb):
    import_profile(sb, 'cli-dead', good_profile('cli-dead', endpoint='192.0.2.99:51820'))
    rc, out, err = sb.client(ALLOWED, 'vpn', 'connect', 'cli-dead')
    assert rc == 1 and 'no handshake' in err, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'delete', 'cli-dead')
    assert rc == 0, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'delete', 'cli')
    assert rc == 0, (rc, out, err)


if __name__ == '__main__':
    anydtest.main(config=CONFIG, systemd=True)
