#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# VPN DNS with a real systemd-resolved.  resolved must never be installed on
# the host (it takes over /etc/resolv.conf), so the package is
# downloaded (apt-get download) and unpacked into the build directory, and
# its binary runs inside the sandbox on the private bus, as the user
# systemd-resolve that only the sandbox's /etc/passwd knows.
#
# A DNS responder on each side of the peer namespace logs the queries it
# gets: one on the tunnel (10.66.0.1), one on the LAN (192.0.2.2, set as
# the LAN link's DNS server the way DHCP would).  A full-tunnel profile must
# get every query, none may reach the LAN server; after Disconnect the
# tunnel's settings are gone from resolved.

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: anydtest
import anydtest  # noqa: E402
from anydtest import ALLOWED, ROOT, Skip, case, wait_until  # noqa: E402
import vpnpeer  # noqa: E402

from gi.repository import Gio, GLib  # noqa: E402

VPN = '/org/anyd1/vpn'
RESOLVED = 'org.freedesktop.resolve1'
RPATH = '/org/freedesktop/resolve1'
WORK = '/run/anyd-test'
CONFIG = '[vpn]\nhandshake_timeout_s=5\n'
PEER = vpnpeer.Peer()
KEY = vpnpeer.genkey()
STATE = {}


def resolved_root():
    return os.path.join(anydtest.builddir(), 'vpn-resolved', 'root')


def fetch_resolved():
    """Outside the sandbox (it has no network): download and unpack once."""
    root = resolved_root()
    if os.path.exists(os.path.join(root, 'lib/systemd/systemd-resolved')):
        return
    top = os.path.dirname(root)
    os.makedirs(top, exist_ok=True)
    try:
        subprocess.run(['apt-get', 'download', 'systemd-resolved'], cwd=top, check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        debs = [f for f in os.listdir(top) if f.startswith('systemd-resolved_') and f.endswith('.deb')]
        subprocess.run(['dpkg-deb', '-x', os.path.join(top, sorted(debs)[-1]), root], check=True)
    except (subprocess.SubprocessError, OSError, IndexError):
        pass


def rcall(sb, method, sig, args, path=RPATH, iface=RESOLVED + '.Manager'):
    v = sb.bus.call_sync(RESOLVED, path, iface, method, GLib.Variant(sig, args) if sig else None,
                         None, Gio.DBusCallFlags.NONE, 5000, None)
    return v.unpack()


def link_props(sb, ifindex):
    path = rcall(sb, 'GetLink', '(i)', (ifindex,))[0]
    return rcall(sb, 'GetAll', '(s)', (RESOLVED + '.Link',), path=path,
                 iface='org.freedesktop.DBus.Properties')[0]


def ifindex(name):
    import socket
    return socket.if_nametoindex(name)


def resolve(sb, name):
    """ResolveHostname through resolved (any link), first address as text."""
    r = rcall(sb, 'ResolveHostname', '(isit)', (0, name, 2, 0))   # AF_INET
    import socket
    return socket.inet_ntoa(bytes(r[0][0][2]))


def queries(which):
    try:
        with open('%s/dns-%s.log' % (WORK, which)) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def start_responder(addr, which, answer):
    p = subprocess.Popen(['ip', 'netns', 'exec', vpnpeer.NETNS, sys.executable,
                          os.path.join(anydtest.HERE, 'vpnpeer.py'),
                          'dns', addr, '%s/dns-%s.log' % (WORK, which), answer],
                         stdin=subprocess.DEVNULL, start_new_session=True)
    time.sleep(0.2)
    return p


@case('a real systemd-resolved runs on the sandbox bus', needs_anyd=False)
def _(sb):
    root = resolved_root()
    binary = os.path.join(root, 'lib/systemd/systemd-resolved')
    if not os.path.exists(binary):
        raise Skip('systemd-resolved could not be downloaded (apt-get download systemd-resolved)')
    # the user resolved drops to, known only inside this mount namespace
    for f, line in (('passwd', 'systemd-resolve:x:990:990::/:/usr/sbin/nologin\n'),
                    ('group', 'systemd-resolve:x:990:\n')):
        copy = os.path.join(WORK, f)
        shutil.copy('/etc/' + f, copy)
        with open(copy, 'a') as out:
            out.write(line)
        subprocess.run(['mount', '--bind', copy, '/etc/' + f], check=True)
    shutil.copy(os.path.join(root, 'usr/share/dbus-1/system.d/org.freedesktop.resolve1.conf'),
                os.path.join(WORK, 'dbus.d'))
    sb.bus_call('ReloadConfig')
    os.makedirs('/run/systemd', exist_ok=True)
    log = sb.log('resolved.log')
    p = subprocess.Popen([binary], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         env=anydtest.base_env({'SYSTEMD_LOG_LEVEL': 'debug'}), start_new_session=True)
    sb.procs.append(p)
    wait_until(lambda: sb.has_owner(RESOLVED) or p.poll() is not None, 15, what='resolved')
    assert p.poll() is None, 'systemd-resolved exited with %s; see resolved.log' % p.returncode
    STATE['resolved'] = True

    sb.write_config(CONFIG)
    PEER.start()
    PEER.allow(KEY[1], addrs=('0.0.0.0/0', '::/0'))
    STATE['tunnel'] = start_responder(vpnpeer.TUN_PEER4, 'tunnel', '10.66.0.53')
    STATE['lan'] = start_responder(vpnpeer.VETH_PEER, 'lan', '192.0.2.53')
    sb.procs += [STATE['tunnel'], STATE['lan']]
    # the LAN link's DNS server, as DHCP would set it
    rcall(sb, 'SetLinkDNS', '(ia(iay))', (ifindex('veth-anyd'), [(2, list(bytes([192, 0, 2, 2])))]))
    assert resolve(sb, 'before.example') == '192.0.2.53'
    assert 'before.example' in queries('lan')


@case('a full tunnel gets its DNS servers, "~." and DefaultRoute on its link; no query leaks')
def _(sb):
    if not STATE.get('resolved'):
        raise Skip('no resolved')
    text = vpnpeer.profile(KEY[0], PEER.pub, allowed='0.0.0.0/0, ::/0',
                           extra_iface='DNS = 10.66.0.1, fd66::1, corp.example\n')
    sb.call(ALLOWED, VPN, 'org.anyd1.Vpn', 'ImportProfile', '(ssa{sv})', ('wg-dns', text, {}))
    path = sb.call(ALLOWED, VPN, 'org.anyd1.Vpn', 'Connect', '(s)', ('wg-dns',))
    props = sb.call(ROOT, path, 'org.freedesktop.DBus.Properties', 'GetAll', '(s)',
                    ('org.anyd1.VpnConnection',))
    assert props['LastError'] == '', props
    lp = link_props(sb, ifindex('wg-dns'))
    servers = sorted((f, bytes(a)) for f, a in lp['DNS'])
    assert servers == sorted([(2, bytes([10, 66, 0, 1])),
                              (10, bytes.fromhex('fd660000000000000000000000000001'))]), servers
    assert sorted(lp['Domains']) == sorted([('corp.example', False), ('.', True)]), lp['Domains']
    assert lp['DefaultRoute'] is True, lp
    before = len(queries('lan'))
    for name in ('www.example', 'leak-check.example', 'host.corp.example'):
        assert resolve(sb, name) == '10.66.0.53', name
        assert name in queries('tunnel')
    assert len(queries('lan')) == before, queries('lan')
    STATE['path'] = path


@case('Disconnect reverts the link in resolved; queries go back to the LAN')
def _(sb):
    if not STATE.get('path'):
        raise Skip('no connection')
    idx = ifindex('wg-dns')
    sb.call(ALLOWED, VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', ('wg-dns',))
    assert 'wg-dns' not in vpnpeer.links()
    try:
        lp = link_props(sb, idx)
        assert lp['DNS'] == [] and lp['Domains'] == [], lp
    except GLib.Error as e:
        assert 'Link' in e.message, e.message     # resolved forgot the link: fine too
    assert resolve(sb, 'after.example') == '192.0.2.53'


@case('kill -9 and restart: the connection is taken over with its DNS; Disconnect then reverts it')
def _(sb):
    if not STATE.get('resolved'):
        raise Skip('no resolved')
    path = sb.call(ALLOWED, VPN, 'org.anyd1.Vpn', 'Connect', '(s)', ('wg-dns',))

    def state():
        return sb.call(ROOT, path, 'org.freedesktop.DBus.Properties', 'Get', '(ss)',
                       ('org.anyd1.VpnConnection', 'State'))
    wait_until(lambda: state() == 'connected', 10, what='connected')
    idx = ifindex('wg-dns')
    assert link_props(sb, idx)['DefaultRoute'] is True
    sb.kill_anyd()
    sb.start_anyd()
    wait_until(lambda: path in sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager',
                                       'GetManagedObjects'), 10, what='the connection taken over')
    assert state() == 'connected' and ifindex('wg-dns') == idx
    assert link_props(sb, idx)['DefaultRoute'] is True
    assert resolve(sb, 'after-restart.example') == '10.66.0.53'
    sb.call(ALLOWED, VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', ('wg-dns',))
    wait_until(lambda: 'wg-dns' not in vpnpeer.links(), 5, what='wg-dns to go')
    assert vpnpeer.rules() == []
    try:
        lp = link_props(sb, idx)
        assert lp['DNS'] == [], lp
    except GLib.Error:
        pass
    assert resolve(sb, 'after-disconnect.example') == '192.0.2.53'


if __name__ == '__main__':
    if not anydtest.in_sandbox() and os.geteuid() == 0:
        fetch_resolved()
    anydtest.main(config=CONFIG, systemd=True)
