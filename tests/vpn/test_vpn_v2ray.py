#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The proxy VPN (v2ray profiles) against a real v2ray server, with real
# traffic, in three network namespaces inside the sandbox's own:
#
#   sandbox (the host)  veth-v2h 198.18.0.1/24, fd18::1/64   default routes via the server
#        |
#   v2peer  198.18.0.2 (v2ray server: VMess :10086, Shadowsocks :8388)
#           198.18.0.53 "LAN resolver" (must never see a query)
#           198.18.0.7  a LAN echo (for proxy_bypass)
#           203.0.113.1, 2001:db8:113::1   no forwarding: the internet is
#        |                                 reachable only through v2ray
#   v2net   203.0.113.2, 2001:db8:113::2   TCP echo :7000, UDP echo :7001
#           and :443, DNS :53 (answers 10.20.30.40); each echo answers with
#           the address it saw the client come from
#
# DNS upstream: proxy_dns=udp://203.0.113.2:53 (no DoH server here); what is
# tested is that every port-53 query of the host reaches it through the
# proxy and none reaches the LAN resolver.

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: anydtest
import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case, wait_until  # noqa: E402
from anydtest import expect_anyd_error as expect_error  # noqa: E402

VPN = '/org/anyd1/vpn'
VPN_IFACE = 'org.anyd1.Vpn'
PROFILE_IFACE = 'org.anyd1.VpnProfile'
CONN_IFACE = 'org.anyd1.VpnConnection'
WORK = '/run/anyd-test'
RUNTIME = '/run/anyd-test/runtime/vpn'
V2RAY = '/usr/bin/v2ray'
TABLE = 52100

UUID = '6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b'
SS_PASSWORD = 'ss-Secret-Pw-4711'
SERVER = '198.18.0.2'
LAN_DNS = '198.18.0.53'
LAN_ECHO = '198.18.0.7'
NET4 = '203.0.113.2'
NET6 = '2001:db8:113::2'
PEER_NET4 = '203.0.113.1'
PEER_NET6 = '2001:db8:113::1'

CONFIG = ('[vpn]\nproxy_dns=udp://%s:53\nproxy_bypass=198.18.0.0/24;\n' % NET4)

STATE = {}


def run(*argv, check=True):
    r = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError('%s -> %d: %s' % (' '.join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def vmess_link(name='vm-test'):
    j = {'v': '2', 'ps': name, 'add': SERVER, 'port': '10086', 'id': UUID, 'aid': '0', 'net': 'tcp',
         'type': 'none', 'tls': ''}
    return 'vmess://' + base64.b64encode(json.dumps(j).encode()).decode()


def ss_link(name='ss-test'):
    user = base64.urlsafe_b64encode(('aes-128-gcm:' + SS_PASSWORD).encode()).decode().rstrip('=')
    return 'ss://%s@%s:8388#%s' % (user, SERVER, name)


# ------------------------------------------------------------- the network

def serve(kind, addr, port, extra=None):
    """In a namespace: echo servers answering with the client's address."""
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    if kind == 'tcp':
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)
        while True:
            c, src = s.accept()
            try:
                c.recv(4096)
                c.sendall(src[0].encode())
            except OSError:
                pass
            c.close()
    elif kind == 'bulk':
        # sends `extra` MiB to every client, for throughput
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(16)
        chunk = b'\0' * 65536
        while True:
            c, src = s.accept()
            try:
                for _ in range(int(extra) * 16):
                    c.sendall(chunk)
            except OSError:
                pass
            c.close()
    else:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((addr, port))
        while True:
            data, src = s.recvfrom(4096)
            s.sendto(src[0].encode(), src)


def spawn(netns, *args):
    p = subprocess.Popen(['ip', 'netns', 'exec', netns, sys.executable, os.path.abspath(__file__)] + list(args),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    return p


def setup_net():
    run('ip', 'netns', 'add', 'v2peer')
    run('ip', 'netns', 'add', 'v2net')
    run('ip', 'link', 'add', 'veth-v2h', 'type', 'veth', 'peer', 'name', 'veth-v2p', 'netns', 'v2peer')
    run('ip', 'link', 'add', 'veth-v2n', 'netns', 'v2net', 'type', 'veth', 'peer', 'name', 'veth-v2i',
        'netns', 'v2peer')
    run('ip', 'link', 'set', 'lo', 'up')
    run('ip', 'addr', 'add', '198.18.0.1/24', 'dev', 'veth-v2h')
    run('ip', 'addr', 'add', 'fd18::1/64', 'dev', 'veth-v2h', 'nodad')
    run('ip', 'link', 'set', 'veth-v2h', 'up')
    for a in (SERVER + '/24', LAN_DNS + '/24', LAN_ECHO + '/24'):
        run('ip', '-n', 'v2peer', 'addr', 'add', a, 'dev', 'veth-v2p')
    run('ip', '-n', 'v2peer', 'addr', 'add', 'fd18::2/64', 'dev', 'veth-v2p', 'nodad')
    run('ip', '-n', 'v2peer', 'addr', 'add', PEER_NET4 + '/24', 'dev', 'veth-v2i')
    run('ip', '-n', 'v2peer', 'addr', 'add', PEER_NET6 + '/64', 'dev', 'veth-v2i', 'nodad')
    for dev in ('lo', 'veth-v2p', 'veth-v2i'):
        run('ip', '-n', 'v2peer', 'link', 'set', dev, 'up')
    run('ip', '-n', 'v2net', 'addr', 'add', NET4 + '/24', 'dev', 'veth-v2n')
    run('ip', '-n', 'v2net', 'addr', 'add', NET6 + '/64', 'dev', 'veth-v2n', 'nodad')
    run('ip', '-n', 'v2net', 'link', 'set', 'lo', 'up')
    run('ip', '-n', 'v2net', 'link', 'set', 'veth-v2n', 'up')
    # the server does not forward: the internet is reachable only through v2ray
    run('ip', 'netns', 'exec', 'v2peer', 'sysctl', '-qw', 'net.ipv4.ip_forward=0', 'net.ipv6.conf.all.forwarding=0')
    run('ip', 'route', 'add', 'default', 'via', SERVER)
    run('ip', '-6', 'route', 'add', 'default', 'via', 'fd18::2')


def dns_query(server, name, timeout=2.0):
    """One A query over UDP; the answer's first address, or None."""
    qid = 0x4242
    q = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    q += b'\x00' + struct.pack('!HH', 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (server, 53))
        data = s.recv(4096)
    except OSError:
        return None
    finally:
        s.close()
    an = struct.unpack('!H', data[6:8])[0]
    if an == 0:
        return 'NOANSWER'
    return socket.inet_ntoa(data[-4:])


def tcp_echo(addr, port=7000, timeout=3.0):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.sendall(b'x' * 2000)
        return s.recv(4096).decode()
    finally:
        s.close()


def udp_echo(addr, port=7001, timeout=2.0):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.send(b'ping')
        return s.recv(4096).decode()
    finally:
        s.close()


def lan_queries():
    try:
        with open(WORK + '/dns-lan.log') as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def nft_ruleset():
    return run('nft', 'list', 'ruleset')


def proxy_rules():
    out = run('ip', 'rule') + run('ip', '-6', 'rule')
    return [l for l in out.splitlines() if str(TABLE) in l]


def proxy_routes():
    return (run('ip', 'route', 'show', 'table', str(TABLE), check=False) +
            run('ip', '-6', 'route', 'show', 'table', str(TABLE), check=False)).strip()


def units(sb):
    _, out = sb.systemctl('list-units', '--all', '--plain', '--no-legend', 'anyd-vpn-*', check=False)
    return [l.split()[0] for l in out.splitlines() if l.strip().startswith('anyd-vpn-')]


def nothing_left(sb):
    wait_until(lambda: not units(sb), 10, what='no proxy unit left')
    assert 'anyd_vpn_' not in nft_ruleset(), nft_ruleset()
    assert proxy_rules() == [], proxy_rules()
    assert proxy_routes() == '', proxy_routes()
    left = [f for f in os.listdir(RUNTIME) if f.endswith('.conn')] if os.path.isdir(RUNTIME) else []
    assert left == [], left
    v2dir = os.path.join(RUNTIME, 'v2ray')
    assert not os.path.isdir(v2dir) or os.listdir(v2dir) == [], os.listdir(v2dir)


def import_profile(sb, name, link, options=None, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})', (name, link, options or {}))


def props(sb, path, iface=CONN_IFACE):
    return sb.call(ROOT, path, 'org.freedesktop.DBus.Properties', 'GetAll', '(s)', (iface,))


def wait_state(sb, path, want, timeout=15):
    def get():
        try:
            return props(sb, path)['State'] == want
        except DBusError:
            return False
    wait_until(get, timeout, what='state %s of %s' % (want, path))


def connect(sb, name, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'Connect', '(s)', (name,))


def disconnect(sb, name, uid=ALLOWED):
    return sb.call(uid, VPN, VPN_IFACE, 'Disconnect', '(s)', (name,))


def cleanup(sb):
    if sb.anyd is not None and sb.anyd.poll() is None:
        objs = sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
        for path, ifaces in objs.items():
            if CONN_IFACE in ifaces:
                try:
                    sb.call(ROOT, path, CONN_IFACE, 'Disconnect')
                except DBusError:
                    pass


def vcase(name, needs_anyd=True):
    def deco(fn):
        def wrapped(sb):
            if not STATE.get('net'):
                raise Skip('no test network (see the first case)')
            try:
                fn(sb)
            finally:
                cleanup(sb)
        return case(name, needs_anyd)(wrapped)
    return deco


# ----------------------------------------------------------------- cases

def start_world(sb, extra_servers=()):
    """The user anyd-v2ray, the three namespaces, the v2ray server, the echo
    and DNS servers (also used by bench/vpn/v2ray-bench.py)."""
    # the user v2ray runs as, known only inside this mount namespace
    for f, line in (('passwd', 'anyd-v2ray:x:991:991::/nonexistent:/usr/sbin/nologin\n'),
                    ('group', 'anyd-v2ray:x:991:\n')):
        copy = os.path.join(WORK, f)
        shutil.copy('/etc/' + f, copy)
        with open(copy, 'a') as out:
            out.write(line)
        run('mount', '--bind', copy, '/etc/' + f)
    setup_net()
    server = {
        'log': {'loglevel': 'warning'},
        'inbounds': [
            {'listen': SERVER, 'port': 10086, 'protocol': 'vmess',
             'settings': {'clients': [{'id': UUID, 'alterId': 0}]}},
            {'listen': SERVER, 'port': 8388, 'protocol': 'shadowsocks',
             'settings': {'method': 'aes-128-gcm', 'password': SS_PASSWORD, 'network': 'tcp,udp'}},
            # without TLS (no CA the client unit would trust): the protocols and the ws transport
            {'listen': SERVER, 'port': 10087, 'protocol': 'vless',
             'settings': {'clients': [{'id': UUID}], 'decryption': 'none'}},
            {'listen': SERVER, 'port': 10088, 'protocol': 'trojan',
             'settings': {'clients': [{'password': SS_PASSWORD}]}},
            {'listen': SERVER, 'port': 10089, 'protocol': 'vmess',
             'settings': {'clients': [{'id': UUID, 'alterId': 0}]},
             'streamSettings': {'network': 'ws', 'wsSettings': {'path': '/ray'}}},
        ],
        'outbounds': [{'protocol': 'freedom'}],
    }
    path = os.path.join(WORK, 'v2ray-server.json')
    with open(path, 'w') as f:
        json.dump(server, f)
    log = sb.log('v2ray-server.log')
    p = subprocess.Popen(['ip', 'netns', 'exec', 'v2peer', V2RAY, '-config', path], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True)
    sb.procs.append(p)
    dns = os.path.join(anydtest.HERE, 'vpnpeer.py')   # tests/
    for netns, argv in (('v2net', [dns, 'dns', NET4, WORK + '/dns-net.log', '10.20.30.40']),
                        ('v2peer', [dns, 'dns', LAN_DNS, WORK + '/dns-lan.log', '192.0.2.99'])):
        sb.procs.append(subprocess.Popen(['ip', 'netns', 'exec', netns, sys.executable] + argv,
                                         stdin=subprocess.DEVNULL, start_new_session=True))
    for netns, args in (('v2net', ('serve', 'tcp', NET4, '7000')), ('v2net', ('serve', 'tcp', NET6, '7000')),
                        ('v2net', ('serve', 'udp', NET4, '7001')), ('v2net', ('serve', 'udp', NET4, '443')),
                        ('v2peer', ('serve', 'tcp', LAN_ECHO, '7000'))) + tuple(extra_servers):
        sb.procs.append(spawn(netns, *args))
    def listening():
        try:
            socket.create_connection((SERVER, 10086), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(listening, 10, what='the v2ray server')
    time.sleep(0.3)
    # the internet is not reachable without the proxy, the LAN resolver is
    try:
        tcp_echo(NET4, timeout=1)
        raise AssertionError('the internet namespace is reachable without the proxy')
    except OSError:
        pass
    assert dns_query(LAN_DNS, 'lan.example') == '192.0.2.99'
    os.unlink(WORK + '/dns-lan.log')


@case('a v2ray server, an internet only it reaches, and a LAN resolver', needs_anyd=False)
def _(sb):
    if not os.access(V2RAY, os.X_OK) or shutil.which('nft') is None:
        raise Skip('needs Debian packages v2ray and nftables')
    start_world(sb)
    sb.write_config(CONFIG)
    STATE['net'] = True


@vcase('share links import as v2ray profiles with Server and Protocol; secrets are not shown')
def _(sb):
    path = import_profile(sb, 'vm-test', vmess_link())
    p = props(sb, path, PROFILE_IFACE)
    assert p['Type'] == 'v2ray' and p['Protocol'] == 'vmess' and p['Server'] == SERVER + ':10086', p
    path = import_profile(sb, 'ss-test', ss_link(), {'block_quic': GLib_bool(True), 'ipv6': GLib_str('block')})
    p = props(sb, path, PROFILE_IFACE)
    assert p['Protocol'] == 'shadowsocks' and p['Server'] == SERVER + ':8388', p
    everything = str(sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects'))
    assert UUID not in everything and SS_PASSWORD not in everything
    st = os.stat(os.path.join(WORK, 'state', 'vpn', 'vm-test.profile'))
    assert st.st_mode & 0o077 == 0, oct(st.st_mode)


def GLib_bool(v):
    from gi.repository import GLib
    return GLib.Variant('b', v)


def GLib_str(v):
    from gi.repository import GLib
    return GLib.Variant('s', v)


@vcase('bad links and options: InvalidArgument naming the field, nothing stored, no secret echoed')
def _(sb):
    bad = [
        ('vless://%s@h.example:443?type=grpc' % UUID, 'network'),
        ('vless://%s@h.example:443?security=tls&flow=xtls-rprx-vision' % UUID, 'flow'),
        ('vmess://%%%%', 'vmess'),
        ('ss://%s@h.example:8388' % base64.b64encode(b'aes-256-cfb:' + SS_PASSWORD.encode()).decode(), 'method'),
        ('trojan://%s@h.example:99999' % SS_PASSWORD, 'port'),
    ]
    for link, field in bad:
        e = expect_error('InvalidArgument', import_profile, sb, 'bad', link, contains=field)
        assert UUID not in e.message and SS_PASSWORD not in e.message, e.message
    expect_error('InvalidArgument', import_profile, sb, '../evil', vmess_link(), contains='name')
    expect_error('InvalidArgument', import_profile, sb, 'bad', vmess_link(), {'ipv6': GLib_str('leak')},
                 contains='options.ipv6')
    expect_error('InvalidArgument', import_profile, sb, 'bad', vmess_link(), {'nope': GLib_bool(True)})
    assert not os.path.exists(os.path.join(WORK, 'state', 'vpn', 'bad.profile'))


@vcase('ImportProfiles: a base64 subscription, names from fragments made unique, bad lines skipped; strict')
def _(sb):
    lines = [vmess_link('Sub One'), ss_link('Sub%20One'), 'vless://broken', ss_link('../x')]
    sub = base64.b64encode('\n'.join(lines).encode()).decode()
    paths = sb.call(ALLOWED, VPN, VPN_IFACE, 'ImportProfiles', '(sa{sv})', (sub, {}))
    names = sorted(props(sb, p, PROFILE_IFACE)['Name'] for p in paths)
    assert names == ['Sub-One', 'Sub-One-2', 'x'], names
    expect_error('InvalidArgument', sb.call, ALLOWED, VPN, VPN_IFACE, 'ImportProfiles', '(sa{sv})',
                 (sub, {'strict': GLib_bool(True)}), contains=['line 3', 'strict'])
    expect_error('InvalidArgument', sb.call, ALLOWED, VPN, VPN_IFACE, 'ImportProfiles', '(sa{sv})',
                 ('vless://broken\n', {}), contains='line 1')
    for p in paths:
        sb.call(ALLOWED, p, PROFILE_IFACE, 'Delete')


@vcase('anyd-client vpn import takes a link (name from its #fragment) and --subscription from stdin')
def _(sb):
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', '--block-quic', ss_link('cli-link'))
    assert rc == 0, (rc, out, err)
    p = props(sb, '/org/anyd1/vpn/profiles/cli_2dlink', PROFILE_IFACE)
    assert p['Protocol'] == 'shadowsocks', p
    sub = base64.b64encode((vmess_link('cli-sub') + '\n').encode()).decode()
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', '--subscription', '--strict', '-', input=sub)
    assert rc == 0 and 'cli-sub' in out, (rc, out, err)
    rc, out, err = sb.client(ALLOWED, 'vpn', 'import', 'vless://nope@h:1')
    assert rc == 2 and UUID not in err, (rc, out, err)
    for name in ('cli-link', 'cli-sub'):
        sb.call(ALLOWED, '/org/anyd1/vpn/profiles/' + name.replace('-', '_2d'), PROFILE_IFACE, 'Delete')


@vcase('the caller matrix: import, subscriptions, connect and disconnect')
def _(sb):
    for uid, err in ((DENIED, 'NotAuthorized'), (CHALLENGE, 'NotAuthorizedCanObtain')):
        expect_error(err, import_profile, sb, 'denied', vmess_link(), uid=uid)
        expect_error(err, sb.call, uid, VPN, VPN_IFACE, 'ImportProfiles', '(sa{sv})', (vmess_link(), {}))
        expect_error(err, connect, sb, 'vm-test', uid=uid)
        expect_error(err, disconnect, sb, 'vm-test', uid=uid)
    assert not os.path.exists(os.path.join(WORK, 'state', 'vpn', 'denied.profile'))


def diagnose(sb):
    out = []
    for argv in (['nft', 'list', 'ruleset'], ['ip', 'rule'], ['ip', 'route', 'show', 'table', 'all'],
                 ['ss', '-tulpen'], ['sh', '-c', 'ls -la %s %s/v2ray' % (RUNTIME, RUNTIME)]):
        out.append('$ ' + ' '.join(argv) + '\n' + subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                                  text=True).stdout)
    out.append(sb.systemctl('status', '--no-pager', '-n', '30', 'anyd-vpn-*', check=False)[1])
    return '\n'.join(out)


@vcase('VMess: TCP, UDP and DNS go through the proxy; no query reaches the LAN resolver; counters grow')
def _(sb):
    path = connect(sb, 'vm-test')
    wait_state(sb, path, 'connected')
    try:
        tcp_echo(NET4)
    except OSError as e:
        raise AssertionError('%s\n%s' % (e, diagnose(sb)))
    assert tcp_echo(NET4) == PEER_NET4
    assert udp_echo(NET4) == PEER_NET4
    assert udp_echo(NET4, 443) == PEER_NET4     # no block_quic on this profile
    assert dns_query(LAN_DNS, 'proxied.example') == '10.20.30.40'
    assert dns_query('192.0.2.200', 'anywhere.example') == '10.20.30.40'
    assert lan_queries() == [], lan_queries()
    # proxy_bypass: the LAN is reached directly, from the host's own address
    assert tcp_echo(LAN_ECHO) == '198.18.0.1'
    # IPv6 goes through the proxy too (ipv6=proxy, the default)
    assert tcp_echo(NET6) == PEER_NET6

    # v2ray runs as its own user with exactly CAP_NET_ADMIN and CAP_NET_BIND_SERVICE
    pid = sb.systemctl('show', '-p', 'MainPID', '--value', 'anyd-vpn-vm\\x2dtest.service')[1].strip()
    with open('/proc/%s/status' % pid) as f:
        status = dict(l.split(':', 1) for l in f.read().splitlines() if ':' in l)
    assert status['Uid'].split()[0] == '991', status['Uid']
    assert int(status['CapEff'], 16) == (1 << 12) | (1 << 10), status['CapEff']
    assert int(status['CapBnd'], 16) == (1 << 12) | (1 << 10), status['CapBnd']

    def grown():
        p = props(sb, path)
        return p['TxBytes'] > 2000 and p['RxBytes'] > 0
    wait_until(grown, 10, what='RxBytes/TxBytes to grow')
    assert 'anyd_vpn_vm_2dtest' in nft_ruleset()
    assert len(proxy_rules()) == 2, proxy_rules()
    disconnect(sb, 'vm-test')
    nothing_left(sb)
    assert lan_queries() == []


@vcase('Shadowsocks with block_quic and ipv6=block: TCP/UDP/DNS proxied, UDP 443 and IPv6 refused')
def _(sb):
    path = connect(sb, 'ss-test')
    wait_state(sb, path, 'connected')
    assert tcp_echo(NET4) == PEER_NET4
    assert udp_echo(NET4) == PEER_NET4
    assert dns_query(LAN_DNS, 'ss.example') == '10.20.30.40'
    try:
        udp_echo(NET4, 443, timeout=1)
        raise AssertionError('UDP 443 got through with block_quic')
    except OSError:
        pass
    try:
        tcp_echo(NET6, timeout=1)
        raise AssertionError('IPv6 got through with ipv6=block')
    except OSError:
        pass
    assert lan_queries() == []
    disconnect(sb, 'ss-test')
    nothing_left(sb)


@vcase('VLESS, Trojan and VMess over WebSocket (no TLS): TCP and DNS through the proxy')
def _(sb):
    ws = {'v': '2', 'ps': 'ws', 'add': SERVER, 'port': 10089, 'id': UUID, 'aid': 0, 'net': 'ws', 'path': '/ray',
          'host': 'proxy.example', 'tls': ''}
    links = {
        'vl-test': 'vless://%s@%s:10087?encryption=none&security=none&type=tcp#vl' % (UUID, SERVER),
        'tj-test': 'trojan://%s@%s:10088?security=none&type=tcp#tj' % (SS_PASSWORD, SERVER),
        'ws-test': 'vmess://' + base64.b64encode(json.dumps(ws).encode()).decode(),
    }
    for name, link in links.items():
        import_profile(sb, name, link)
        path = connect(sb, name)
        wait_state(sb, path, 'connected')
        try:
            got = tcp_echo(NET4)
        except OSError as e:
            raise AssertionError('%s: %s\n%s' % (name, e, diagnose(sb)))
        assert got == PEER_NET4, (name, got)
        assert dns_query(LAN_DNS, name + '.example') == '10.20.30.40', name
        disconnect(sb, name)
        nothing_left(sb)
    assert lan_queries() == []


@vcase('v2ray killed: the connection fails and traffic is blocked, not leaked; Disconnect clears it')
def _(sb):
    path = connect(sb, 'vm-test')
    wait_state(sb, path, 'connected')
    assert tcp_echo(NET4) == PEER_NET4
    sb.systemctl('kill', '--signal=SIGKILL', 'anyd-vpn-vm\\x2dtest.service', check=False)
    wait_state(sb, path, 'failed')
    assert 'v2ray' in props(sb, path)['LastError']
    # the table stays: nothing goes out direct, DNS included
    assert 'anyd_vpn_vm_2dtest' in nft_ruleset()
    assert dns_query(LAN_DNS, 'leak.example', timeout=1) is None
    assert lan_queries() == [], lan_queries()
    try:
        tcp_echo(NET4, timeout=1)
        raise AssertionError('TCP got through with v2ray dead')
    except OSError:
        pass
    disconnect(sb, 'vm-test')
    nothing_left(sb)
    assert dns_query(LAN_DNS, 'after.example') == '192.0.2.99'    # direct again
    os.unlink(WORK + '/dns-lan.log')


@vcase('a proxy host name that does not resolve: Connect fails saying so, no rule goes in')
def _(sb):
    j = {'add': 'proxy.invalid', 'port': 443, 'id': UUID, 'net': 'tcp'}
    import_profile(sb, 'unresolvable', 'vmess://' + base64.b64encode(json.dumps(j).encode()).decode())
    try:
        path = connect(sb, 'unresolvable')
        wait_state(sb, path, 'failed')
    except DBusError as e:
        assert 'proxy.invalid' in e.message, e.message
    assert 'anyd_vpn_' not in nft_ruleset()
    assert proxy_rules() == []


@vcase('a second proxy profile cannot connect while one is up; a reconnect right after Disconnect works')
def _(sb):
    path = connect(sb, 'vm-test')
    wait_state(sb, path, 'connected')
    expect_error('Busy', connect, sb, 'ss-test', contains='vm-test')
    disconnect(sb, 'vm-test')
    # at once again: Disconnect returned once the unit's name was free
    path = connect(sb, 'vm-test')
    wait_state(sb, path, 'connected')
    assert tcp_echo(NET4) == PEER_NET4
    disconnect(sb, 'vm-test')
    nothing_left(sb)


@vcase('kill -9 of anyd: its next start removes the unit, table, rules and routes')
def _(sb):
    path = connect(sb, 'vm-test')
    wait_state(sb, path, 'connected')
    sb.anyd.kill()
    sb.anyd.wait()
    sb.ensure_anyd()
    wait_until(lambda: 'anyd_vpn_' not in nft_ruleset() and proxy_rules() == [], 10,
               what='leftover proxy rules to go')
    nothing_left(sb)
    assert dns_query(LAN_DNS, 'direct.example') == '192.0.2.99'
    os.unlink(WORK + '/dns-lan.log')


@vcase('no UUID or password in the log, the audit records or the runtime directory')
def _(sb):
    text = '\n'.join(sb.anyd_lines)
    assert UUID not in text and SS_PASSWORD not in text
    for root, dirs, files in os.walk(RUNTIME):
        for f in files:
            with open(os.path.join(root, f), errors='replace') as fh:
                data = fh.read()
            assert UUID not in data and SS_PASSWORD not in data, f


if __name__ == '__main__':
    if len(sys.argv) in (5, 6) and sys.argv[1] == 'serve':
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) == 6 else None)
        sys.exit(0)
    anydtest.main(config=CONFIG, systemd=True)
