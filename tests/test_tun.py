#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The tun module (org.anyd1.Tun, org.anyd1.TunDevice) in the sandbox of
# anydtest.py, inside its private network namespace: real TUN/TAP devices,
# checked against the kernel with `ip -j` (the test may spawn ip; anyd never
# does).  Each case makes its devices over its own caller connection and
# closes it, so non-persistent devices go away between cases.

import json
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, case, wait_until  # noqa: E402
from anydtest import expect_anyd_error as expect_error  # noqa: E402
from gi.repository import GLib  # noqa: E402

TUN = '/org/anyd1/tun'
TUN_IFACE = 'org.anyd1.Tun'
DEV_IFACE = 'org.anyd1.TunDevice'
MARK = 'anyd:tun:1 '
LINK_GROUP = 1634629988

TUNSETIFF = 0x400454ca
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


# ---- helpers ----------------------------------------------------------------

def opts(**kw):
    """Python values -> a{sv} (bool b, int u, str s, list as; or a GLib.Variant)."""
    out = {}
    for k, v in kw.items():
        if isinstance(v, GLib.Variant):
            out[k] = v
        elif isinstance(v, bool):
            out[k] = GLib.Variant('b', v)
        elif isinstance(v, int):
            out[k] = GLib.Variant('u', v)
        elif isinstance(v, str):
            out[k] = GLib.Variant('s', v)
        else:
            out[k] = GLib.Variant('as', list(v))
    return out


def escape(name):
    return ''.join(c if c.isascii() and c.isalnum() else '_%02x' % b
                   for c, b in zip(name, name.encode()))


def dev_path(name):
    return TUN + '/' + escape(name)


def ip(*args, check=True):
    r = subprocess.run(['ip'] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise AssertionError('ip %s: %s' % (' '.join(args), r.stderr.decode()))
    return r.stdout.decode()


def ip_json(*args):
    out = ip('-j', *args)
    return json.loads(out) if out.strip() else []


def link(name):
    r = subprocess.run(['ip', '-j', '-d', '-s', 'link', 'show', 'dev', name],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)[0]


def link_names():
    return {l['ifname'] for l in ip_json('link', 'show')}


def kernel_addrs(name):
    out = []
    for l in ip_json('addr', 'show', 'dev', name):
        for a in l.get('addr_info', []):
            if a.get('scope') != 'link':
                out.append('%s/%d' % (a['local'], a['prefixlen']))
    return sorted(out)


def kernel_routes(name):
    out = []
    for fam in ('-4', '-6'):
        for r in ip_json(fam, 'route', 'show', 'dev', name, 'table', 'all'):
            if r.get('protocol') == 'kernel' or r.get('table') == 'local':
                continue
            dst = r['dst']
            if dst == 'default':
                dst = '0.0.0.0/0' if fam == '-4' else '::/0'
            elif '/' not in dst:
                dst += '/32' if fam == '-4' else '/128'
            s = dst + (' via ' + r['gateway'] if 'gateway' in r else '')
            out.append(s)
    return sorted(out)


def create(c, name='', method='Create', **kw):
    if method == 'Open':
        rep = c.call_full(TUN, TUN_IFACE, 'Open', '(sa{sv})', (name, opts(**kw)))
        path, idx = rep.value
        return path, rep.fds[idx]
    return c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', (name, opts(**kw)))


def props(c, path):
    return c.get_all_properties(path, DEV_IFACE)


def dev_call(c, path, method, sig='()', args=(), **kw):
    return c.call(path, DEV_IFACE, method, sig, args, **kw)


def object_paths(sb):
    objs = sb.call(ROOT, '/org/anyd1', 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
    return set(objs)


def wait_gone(name, timeout=10):
    wait_until(lambda: link(name) is None, timeout, what='%s to be removed' % name)


def ipv4_udp(src, dst, payload=b'anyd'):
    """An IPv4/UDP packet (UDP checksum 0 = none)."""
    udp = struct.pack('!HHHH', 40000, 9, 8 + len(payload), 0) + payload
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    s = sum(struct.unpack('!10H', hdr))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return hdr[:10] + struct.pack('!H', ~s & 0xffff) + hdr[12:] + udp


def counters(name):
    st = link(name)['stats64']
    return st['rx']['packets'], st['tx']['packets']


# ---- the API and the gate ---------------------------------------------------

@case('Tun object and TunDevice interface are exported')
def _(sb):
    assert TUN in object_paths(sb)
    rc, out, err = sb.busctl(ALLOWED, 'introspect', 'org.anyd1', TUN)
    assert rc == 0 and '.Create' in out and '.Open' in out, (rc, out, err)
    mods = sb.conn(ROOT).get_property('/org/anyd1', 'org.anyd1.Manager', 'Modules')
    assert 'tun' in mods, mods


@case('Create as the allowed uid: properties match the kernel')
def _(sb):
    c = sb.connect(ALLOWED)
    path = create(c, 't-allowed', mtu=1400, up=True,
                  addresses=['10.20.0.1/24', 'fd00:20::1/64'],
                  routes=['10.21.0.0/16 via 10.20.0.2', 'fd00:21::/48', '10.22.0.0/16 metric 50'])
    assert path == dev_path('t-allowed'), path
    p = props(c, path)
    l = link('t-allowed')
    assert p['Name'] == 't-allowed' and p['Index'] == l['ifindex'], (p, l)
    assert p['Mode'] == 'tun' and p['Mtu'] == 1400 == l['mtu'], (p, l)
    assert p['Owner'] == ALLOWED and p['Group'] == 0xffffffff and p['CreatedBy'] == ALLOWED, p
    assert p['Up'] is True and 'UP' in l['flags'], (p, l)
    assert p['Persistent'] is False, p
    assert sorted(p['Addresses']) == kernel_addrs('t-allowed') == ['10.20.0.1/24', 'fd00:20::1/64'], p
    assert sorted(p['Routes']) == sorted(['10.21.0.0/16 via 10.20.0.2', 'fd00:21::/48',
                                          '10.22.0.0/16 metric 50']), p
    assert kernel_routes('t-allowed') == sorted(['10.21.0.0/16 via 10.20.0.2', 'fd00:21::/48',
                                                 '10.22.0.0/16']), kernel_routes('t-allowed')
    # marked as anyd's, in anyd's link group; TUN owner is the caller
    assert l.get('ifalias', '').startswith(MARK), l
    assert l['group'] in (str(LINK_GROUP), LINK_GROUP), l
    info = l['linkinfo']['info_data']
    assert info['type'] == 'tun' and info['user'] in ('nobody', ALLOWED, '65534'), info
    c.close()
    wait_gone('t-allowed')


@case('Create and Open as the denied uid: NotAuthorized, nothing created')
def _(sb):
    before = link_names()
    c = sb.connect(DENIED)
    expect_error('NotAuthorized', create, c, 't-denied')
    expect_error('NotAuthorized', create, c, 't-denied', method='Open')
    assert link_names() == before
    c.close()


@case('Create as the needs-password uid: NotAuthorizedCanObtain without interaction')
def _(sb):
    before = link_names()
    c = sb.connect(CHALLENGE)
    expect_error('NotAuthorizedCanObtain', create, c, 't-challenge')
    expect_error('NotAuthorizedCanObtain', create, c, 't-challenge', method='Open')
    assert link_names() == before
    c.close()


@case('Create as root works; polkit detail "device" is the name')
def _(sb):
    c = sb.connect(ROOT)
    m = sb.mark()
    path = create(c, 't-root')
    assert props(c, path)['CreatedBy'] == 0
    rec = sb.wait_audit(m, ANYD_ACTION='org.anyd1.tun.manage')
    assert 'device=t-root' in rec.get('ANYD_DETAILS', ''), rec
    sb.wait_audit(m, ANYD_ACTION='tun.create', ANYD_RESULT='ok')
    c.close()
    wait_gone('t-root')


@case('Name "" picks a free anyd%d; a "%d" template is filled in')
def _(sb):
    c = sb.connect(ALLOWED)
    p1 = create(c, '')
    p2 = create(c, '')
    p3 = create(c, 'tpl%d')
    n1, n2, n3 = (props(c, p)['Name'] for p in (p1, p2, p3))
    assert n1.startswith('anyd') and n2.startswith('anyd') and n1 != n2, (n1, n2)
    assert n3.startswith('tpl') and n3[3:].isdigit(), n3
    assert p3 == dev_path(n3)
    c.close()
    for n in (n1, n2, n3):
        wait_gone(n)


@case('TunDevice methods as the allowed uid follow into the kernel')
def _(sb):
    c = sb.connect(ALLOWED)
    path = create(c, 't-methods', addresses=['10.30.0.1/24'])
    dev_call(c, path, 'SetMtu', '(u)', (1300,))
    assert link('t-methods')['mtu'] == 1300 and props(c, path)['Mtu'] == 1300
    dev_call(c, path, 'SetUp', '(b)', (True,))
    assert 'UP' in link('t-methods')['flags'] and props(c, path)['Up'] is True
    dev_call(c, path, 'AddAddress', '(s)', ('10.31.0.1/16',))
    dev_call(c, path, 'AddAddress', '(s)', ('fd00:31::1/64',))
    assert kernel_addrs('t-methods') == ['10.30.0.1/24', '10.31.0.1/16', 'fd00:31::1/64']
    assert sorted(props(c, path)['Addresses']) == kernel_addrs('t-methods')
    dev_call(c, path, 'RemoveAddress', '(s)', ('10.31.0.1/16',))
    assert kernel_addrs('t-methods') == ['10.30.0.1/24', 'fd00:31::1/64']
    dev_call(c, path, 'AddRoute', '(s)', ('10.32.0.0/16 via 10.30.0.9',))
    dev_call(c, path, 'AddRoute', '(s)', ('fd00:32::/64',))
    assert kernel_routes('t-methods') == ['10.32.0.0/16 via 10.30.0.9', 'fd00:32::/64']
    assert sorted(props(c, path)['Routes']) == kernel_routes('t-methods')
    dev_call(c, path, 'RemoveRoute', '(s)', ('10.32.0.0/16 via 10.30.0.9',))
    assert kernel_routes('t-methods') == ['fd00:32::/64']
    assert props(c, path)['Routes'] == ['fd00:32::/64']
    dev_call(c, path, 'SetUp', '(b)', (False,))
    assert 'UP' not in link('t-methods')['flags'] and props(c, path)['Up'] is False
    m = sb.mark()
    dev_call(c, path, 'Delete')
    assert link('t-methods') is None and path not in object_paths(sb)
    sb.wait_audit(m, ANYD_ACTION='tun.delete', ANYD_RESULT='ok')
    c.close()


@case('TunDevice methods as the denied and needs-password uids are refused')
def _(sb):
    owner = sb.connect(ALLOWED)
    path = create(owner, 't-refuse', addresses=['10.40.0.1/24'])
    for uid, err in ((DENIED, 'NotAuthorized'), (CHALLENGE, 'NotAuthorizedCanObtain')):
        c = sb.connect(uid)
        for method, sig, args in (('SetMtu', '(u)', (1280,)), ('SetUp', '(b)', (True,)),
                                  ('AddAddress', '(s)', ('10.41.0.1/24',)),
                                  ('RemoveAddress', '(s)', ('10.40.0.1/24',)),
                                  ('AddRoute', '(s)', ('10.42.0.0/16',)),
                                  ('RemoveRoute', '(s)', ('10.42.0.0/16',)),
                                  ('Delete', '()', ())):
            expect_error(err, dev_call, c, path, method, sig, args)
        # properties stay public
        assert props(c, path)['Name'] == 't-refuse'
        c.close()
    l = link('t-refuse')
    assert l['mtu'] == 1500 and 'UP' not in l['flags'] and kernel_addrs('t-refuse') == ['10.40.0.1/24']
    owner.close()
    wait_gone('t-refuse')


@case('A device another uid created also needs org.anyd1.manage')
def _(sb):
    # nobody keeps tun.manage but loses org.anyd1.manage
    sb.write_rules('05-tun-nomanage', '''
polkit.addRule(function(action, subject) {
    if (subject.user == "nobody" && action.id == "org.anyd1.manage")
        return polkit.Result.NO;
});''')
    try:
        rootc = sb.connect(ROOT)
        theirs = create(rootc, 't-theirs')
        c = sb.connect(ALLOWED)
        mine = create(c, 't-mine')
        expect_error('NotAuthorized', dev_call, c, theirs, 'SetMtu', '(u)', (1400,))
        expect_error('NotAuthorized', dev_call, c, theirs, 'Delete')
        assert link('t-theirs')['mtu'] == 1500
        dev_call(c, mine, 'SetMtu', '(u)', (1400,))
        assert link('t-mine')['mtu'] == 1400
    finally:
        sb.remove_rules('05-tun-nomanage')
    # with org.anyd1.manage back, the same call passes
    dev_call(c, theirs, 'SetMtu', '(u)', (1400,))
    assert link('t-theirs')['mtu'] == 1400
    dev_call(c, theirs, 'Delete')
    assert link('t-theirs') is None
    c.close()
    rootc.close()
    wait_gone('t-mine')


# ---- fd passing -------------------------------------------------------------

@case('Open hands out the TUN fd: a packet written into it is received by the link')
def _(sb):
    c = sb.connect(ALLOWED)
    path, fd = create(c, 't-open', method='Open', up=True, addresses=['10.50.0.1/24'])
    try:
        assert props(c, path)['Name'] == 't-open'
        rx0, _tx0 = counters('t-open')
        pkt = ipv4_udp('10.50.0.2', '10.50.0.1')
        for _ in range(3):
            assert os.write(fd, pkt) == len(pkt)
        wait_until(lambda: counters('t-open')[0] >= rx0 + 3, 5, what='rx counter')
    finally:
        os.close(fd)
    c.close()
    wait_gone('t-open')


@case('Open hands out the TUN fd: a packet the kernel routes to the link can be read')
def _(sb):
    c = sb.connect(ALLOWED)
    path, fd = create(c, 't-read', method='Open', up=True, addresses=['10.51.0.1/24'])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        _rx0, tx0 = counters('t-read')
        s.sendto(b'hello-tun', ('10.51.0.77', 9))
        deadline = time.monotonic() + 5
        while True:   # skip what the kernel sends on its own (IPv6 solicitations)
            r, _, _ = select.select([fd], [], [], max(0, deadline - time.monotonic()))
            assert r, 'no IPv4 packet to read from the TUN fd'
            pkt = os.read(fd, 2048)
            if pkt[0] >> 4 == 4:
                break
        assert socket.inet_ntoa(pkt[16:20]) == '10.51.0.77', pkt[:20]
        assert pkt.endswith(b'hello-tun')
        assert counters('t-read')[1] > tx0
    finally:
        s.close()
        os.close(fd)
    c.close()
    wait_gone('t-read')


@case('The owner (the caller by default) can attach to a created device without privilege')
def _(sb):
    c = sb.connect(ALLOWED)
    create(c, 't-attach')
    code = ('import fcntl,struct,os\n'
            'fd=os.open("/dev/net/tun",os.O_RDWR)\n'
            'fcntl.ioctl(fd,%d,struct.pack("16sH",b"t-attach",%d))\n'
            'print("attached")\n') % (TUNSETIFF, IFF_TUN | IFF_NO_PI)
    rc, out, err = sb.run_as(ALLOWED, ['/usr/bin/python3', '-c', code])
    assert rc == 0 and 'attached' in out, (rc, out, err)
    rc, out, err = sb.run_as(DENIED, ['/usr/bin/python3', '-c', code])
    assert rc != 0 and 'Operation not permitted' in err, (rc, out, err)
    c.close()
    wait_gone('t-attach')


# ---- lifetime ---------------------------------------------------------------

@case('Caller disconnect removes its non-persistent devices (all at once), not the persistent one')
def _(sb):
    c = sb.connect(ALLOWED)
    other = sb.connect(ALLOWED)
    for i in range(5):
        create(c, 't-gone%d' % i, up=True, addresses=['10.60.%d.1/24' % i])
    keep = create(c, 't-keep', persist=True)
    theirs = create(other, 't-other')
    m = sb.mark()
    c.close()
    for i in range(5):
        wait_gone('t-gone%d' % i)
    rec = sb.wait_audit(m, ANYD_ACTION='tun.cleanup')
    assert rec.get('ANYD_RESULT') == 'ok', rec
    assert link('t-keep') is not None and link('t-other') is not None
    paths = object_paths(sb)
    assert keep in paths and theirs in paths and dev_path('t-gone0') not in paths
    # killed, not closed: same
    other.kill()
    wait_gone('t-other')
    root = sb.connect(ROOT)
    dev_call(root, keep, 'Delete')
    root.close()


@case('Restart re-adopts persistent devices; crash leftovers are removed; foreign devices untouched')
def _(sb):
    ip('tuntap', 'add', 'mode', 'tun', 'name', 'foreign0')
    c = sb.connect(ALLOWED)
    keep = create(c, 't-persist', persist=True, mtu=1420, up=True, group=100,
                  addresses=['10.70.0.1/24', 'fd00:70::1/64'], routes=['10.71.0.0/16 via 10.70.0.2'])
    before = props(c, keep)
    create(c, 't-leftover')
    # SIGKILL: no cleanup by anyd; the leftover stays in the kernel
    sb.kill_anyd()
    assert link('t-leftover') is not None
    sb.start_anyd()
    wait_gone('t-leftover')
    c2 = sb.connect(ALLOWED)
    after = props(c2, keep)
    for k in ('Name', 'Index', 'Mode', 'Mtu', 'Owner', 'Group', 'Up', 'Persistent', 'CreatedBy'):
        assert before[k] == after[k], (k, before[k], after[k])
    assert sorted(before['Addresses']) == sorted(after['Addresses'])
    assert sorted(before['Routes']) == sorted(after['Routes'])
    assert after['Group'] == 100 and after['Persistent'] is True
    # the foreign device is not exported and can't be touched through anyd
    assert link('foreign0') is not None and dev_path('foreign0') not in object_paths(sb)
    expect_error('NotFound', dev_call, c2, dev_path('foreign0'), 'Delete', contains='foreign0')
    expect_error('Exists', create, c2, 'foreign0', contains=['name', 'foreign0'])
    # a clean stop keeps persistent devices too, and removes non-persistent ones
    create(c2, 't-nonpersist')
    assert sb.stop_anyd() == 0
    assert link('t-nonpersist') is None and link('t-persist') is not None
    sb.start_anyd()
    dev_call(sb.connect(ROOT), keep, 'Delete')
    assert link('t-persist') is None and link('foreign0') is not None
    ip('link', 'del', 'foreign0')
    c.kill()
    c2.close()


@case('An admin editing the alias orphans nothing: anyd\'s root-only record keeps the device across restarts')
def _(sb):
    c = sb.connect(ALLOWED)
    path = create(c, 't-alias', persist=True, group=100)
    other = create(c, 't-alias-np')            # not persistent
    idx = props(c, path)['Index']
    record = os.path.join(sb.runtimedir, 'tun-devices')
    st = os.stat(record)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    text = open(record).read()
    assert '[anyd-tun]\nVersion=1' in text and '[device %d]' % idx in text, text
    for line in ('Name=t-alias', 'Index=%d' % idx, 'LinkGroup=%d' % LINK_GROUP,
                 'CreatedBy=%d' % ALLOWED, 'Owner=%d' % ALLOWED, 'Group=100', 'Persist=true'):
        assert line in text, (line, text)
    # exactly what an admin would do, then a restart
    ip('link', 'set', 't-alias', 'alias', 'uplink to the lab')
    ip('link', 'set', 't-alias-np', 'alias', 'mine now')
    time.sleep(0.3)
    assert path in object_paths(sb), 'dropped on the alias change'
    sb.restart_anyd()
    c2 = sb.connect(ALLOWED)
    assert link('t-alias')['ifalias'] == 'uplink to the lab'   # anyd leaves the admin's alias alone
    assert path in object_paths(sb) and other not in object_paths(sb)
    p = props(c2, path)
    assert p['Owner'] == ALLOWED and p['Group'] == 100 and p['Persistent'] is True, p
    assert p['CreatedBy'] == ALLOWED, p
    # a clean stop removed the non-persistent one although its alias was foreign
    assert link('t-alias-np') is None
    rc, out, err = sb.client(ALLOWED, '--no-ask-password', 'tun', 'list')
    assert rc == 0 and 't-alias' in out, (rc, out, err)
    # also after a crash (SIGKILL: no cleanup, no rewrite)
    sb.kill_anyd()
    sb.start_anyd()
    c3 = sb.connect(ALLOWED)
    assert path in object_paths(sb)
    dev_call(c3, path, 'Delete')
    assert link('t-alias') is None
    assert '[device %d]' % idx not in open(record).read()
    # record lost, mark intact: the mark still brings the device back
    path = create(c3, 't-mark', persist=True)
    os.unlink(record)
    sb.restart_anyd()
    c4 = sb.connect(ALLOWED)
    assert path in object_paths(sb)
    # a record of another version is ignored with a warning, not trusted
    with open(record, 'w') as f:
        f.write('[anyd-tun]\nVersion=99\n')
    sb.restart_anyd()
    assert any('version 99' in l for l in sb.anyd_output()), sb.anyd_output()
    c5 = sb.connect(ROOT)
    assert path in object_paths(sb)
    dev_call(c5, path, 'Delete')
    for x in (c, c2, c3, c4, c5):
        x.close()


@case('Changes behind anyd\'s back show up in the properties')
def _(sb):
    c = sb.connect(ALLOWED)
    path = create(c, 't-behind', up=True, addresses=['10.80.0.1/24'])
    ip('link', 'set', 'dev', 't-behind', 'mtu', '1380')
    wait_until(lambda: props(c, path)['Mtu'] == 1380, 5, what='Mtu to follow')
    ip('addr', 'add', '10.81.0.1/24', 'dev', 't-behind')
    wait_until(lambda: '10.81.0.1/24' in props(c, path)['Addresses'], 5, what='Addresses')
    ip('route', 'add', '10.82.0.0/16', 'dev', 't-behind')
    wait_until(lambda: '10.82.0.0/16' in props(c, path)['Routes'], 5, what='Routes')
    ip('route', 'add', '10.83.0.0/16', 'via', '10.81.0.2', 'dev', 't-behind')
    wait_until(lambda: '10.83.0.0/16 via 10.81.0.2' in props(c, path)['Routes'], 5, what='Routes')
    # removing an address may take routes along without route notifications:
    # whatever the kernel did, the properties match it
    ip('addr', 'del', '10.81.0.1/24', 'dev', 't-behind')
    wait_until(lambda: '10.81.0.1/24' not in props(c, path)['Addresses'], 5, what='address removal')
    wait_until(lambda: sorted(props(c, path)['Routes']) == kernel_routes('t-behind'), 5,
               what='Routes to match the kernel')
    ip('link', 'set', 'dev', 't-behind', 'down')
    # taking an IPv4 link down flushes its routes without route notifications
    wait_until(lambda: props(c, path)['Up'] is False and props(c, path)['Routes'] == [], 5,
               what='Up and Routes after link down')
    ip('link', 'set', 'dev', 't-behind', 'name', 't-renamed')
    newp = dev_path('t-renamed')
    wait_until(lambda: newp in object_paths(sb) and path not in object_paths(sb), 5, what='rename')
    assert props(c, newp)['Name'] == 't-renamed'
    ip('link', 'del', 't-renamed')
    wait_until(lambda: newp not in object_paths(sb), 5, what='object removal')
    expect_error('NotFound', dev_call, c, newp, 'SetUp', '(b)', (True,))
    c.close()


# ---- bad input --------------------------------------------------------------

def no_new_state(fn):
    """Run fn; afterwards no new link, address or route exists."""
    links0 = link_names()
    addrs0 = ip('addr', 'show')
    routes0 = ip('route', 'show', 'table', 'all')
    fn()
    assert link_names() == links0, link_names() ^ links0
    assert ip('addr', 'show') == addrs0
    assert ip('route', 'show', 'table', 'all') == routes0


@case('Bad names: InvalidArgument naming "name"')
def _(sb):
    c = sb.connect(ALLOWED)

    def run():
        for bad in ('a' * 16, 'a/b', 'a b', 'tab\tx', 'x%s', 'x%d%d', 'x%', '%', '.', '..', 'a:b',
                    'caf\u00e9'):
            expect_error('InvalidArgument', create, c, bad, contains='name')
    no_new_state(run)
    path = create(c, 'a' * 15)
    assert props(c, path)['Name'] == 'a' * 15
    c.close()
    wait_gone('a' * 15)


@case('Existing names: Exists, for anyd\'s own and other devices')
def _(sb):
    c = sb.connect(ALLOWED)
    create(c, 't-exists', persist=True)
    no_new_state(lambda: expect_error('Exists', create, c, 't-exists', contains='t-exists'))
    no_new_state(lambda: expect_error('Exists', create, c, 't-exists', method='Open'))
    no_new_state(lambda: expect_error('Exists', create, c, 'lo', contains='lo'))
    dev_call(c, dev_path('t-exists'), 'Delete')
    c.close()


@case('Bad CIDRs and routes: InvalidArgument naming the field, nothing left behind')
def _(sb):
    c = sb.connect(ALLOWED)
    bad_addrs = ['10.0.0.1/33', '::1/200', 'abc', '10.0.0.1/24 ', ' 10.0.0.1/24', '10.0.0.1/', '10.0.0.1/-1',
                 '10.0.0.1/+8', '10.0.0.1/08', '10.0.0.256/24', '10.0.0/24', 'fe80::1%eth0/64', '',
                 '1.2.3.4/24/1', '10.0.0.1/24x']
    bad_routes = ['10.1.0.0/16 via fd00::1', '10.1.0.1/16', '10.1.0.0/16 via', '10.1.0.0/16 via 10.0.0.1 via 10.0.0.2',
                  '10.1.0.0/16  via 10.0.0.1', '10.1.0.0/16 dev eth0', '10.1.0.0/16 via 10.0.0.1/24',
                  '10.1.0.0/16 metric x', '10.1.0.0/16 table 255', '10.1.0.0/16 via 0.0.0.0', 'abc',
                  '10.1.0.0/33']

    def run():
        for a in bad_addrs:
            expect_error('InvalidArgument', create, c, 't-badcidr', up=True,
                         addresses=['10.9.0.1/24', a], contains='addresses[1]')
        for r in bad_routes:
            expect_error('InvalidArgument', create, c, 't-badcidr', up=True,
                         addresses=['10.9.0.1/24'], routes=['10.8.0.0/16', r], contains='routes[1]')
        expect_error('InvalidArgument', create, c, 't-badcidr', addresses=['10.9.0.1/24', '10.9.0.1/24'],
                     contains=['addresses[1]', 'twice'])
    no_new_state(run)
    # the same on an existing device
    path = create(c, 't-badcidr2', up=True, addresses=['10.9.0.1/24'])
    for a in bad_addrs:
        expect_error('InvalidArgument', dev_call, c, path, 'AddAddress', '(s)', (a,), contains='address')
    for r in bad_routes:
        expect_error('InvalidArgument', dev_call, c, path, 'AddRoute', '(s)', (r,), contains='route')
    assert kernel_addrs('t-badcidr2') == ['10.9.0.1/24'] and kernel_routes('t-badcidr2') == []
    expect_error('NotFound', dev_call, c, path, 'RemoveAddress', '(s)', ('10.9.9.9/24',), contains='address')
    expect_error('NotFound', dev_call, c, path, 'RemoveRoute', '(s)', ('10.7.0.0/16',), contains='route')
    expect_error('Exists', dev_call, c, path, 'AddAddress', '(s)', ('10.9.0.1/24',))
    c.close()
    wait_gone('t-badcidr2')


@case('Routes via unreachable gateways: InvalidArgument, the whole Create rolled back')
def _(sb):
    c = sb.connect(ALLOWED)

    def run():
        e = expect_error('InvalidArgument', create, c, 't-rollback', up=True, mtu=1400,
                         addresses=['10.90.0.1/24', 'fd00:90::1/64'],
                         routes=['10.91.0.0/16 via 10.90.0.2', '10.92.0.0/16 via 192.168.250.1'],
                         contains='routes[1]')
        assert 'unreachable' in e.message.lower() or 'gateway' in e.message.lower(), e.message
        expect_error('InvalidArgument', create, c, 't-rollback', up=True,
                     addresses=['fd00:90::1/64'], routes=['fd00:93::/64 via fd00:99::1'],
                     contains='routes[0]')
        e = expect_error('InvalidArgument', create, c, 't-rollback', method='Open', up=True,
                         addresses=['10.90.0.1/24'], routes=['10.92.0.0/16 via 192.168.250.1'])
    no_new_state(run)
    assert dev_path('t-rollback') not in object_paths(sb)
    # the name is free again
    create(c, 't-rollback')
    c.close()
    wait_gone('t-rollback')


@case('MTU out of range for the type: InvalidArgument naming "mtu"')
def _(sb):
    c = sb.connect(ALLOWED)

    def run():
        for mode, mtu in (('tun', 67), ('tun', 65536), ('tap', 65522), ('tap', 0), ('tun', 0xffffffff)):
            expect_error('InvalidArgument', create, c, 't-mtu', mode=mode, mtu=mtu, contains='mtu')
        expect_error('InvalidArgument', create, c, 't-mtu', mtu=1000, addresses=['fd00::1/64'],
                     contains=['mtu', '1280'])
    no_new_state(run)
    tun = create(c, 't-mtu', mtu=65535)
    tap = create(c, 't-mtu-tap', mode='tap', mtu=65521)
    assert props(c, tap)['Mode'] == 'tap' and link('t-mtu-tap')['mtu'] == 65521
    expect_error('InvalidArgument', dev_call, c, tap, 'SetMtu', '(u)', (65522,), contains='mtu')
    expect_error('InvalidArgument', dev_call, c, tun, 'SetMtu', '(u)', (10,), contains='mtu')
    dev_call(c, tun, 'AddAddress', '(s)', ('fd00:1::1/64',))
    expect_error('InvalidArgument', dev_call, c, tun, 'SetMtu', '(u)', (1279,), contains='1280')
    assert link('t-mtu')['mtu'] == 65535
    c.close()
    wait_gone('t-mtu')


@case('Unknown option keys and wrong variant types: InvalidArgument naming the option')
def _(sb):
    c = sb.connect(ALLOWED)

    def run():
        expect_error('InvalidArgument', create, c, 't-opts', colour='red', contains='colour')
        expect_error('InvalidArgument', create, c, 't-opts', persistent=True, contains='persistent')
        for k, v in (('mtu', GLib.Variant('s', '1400')), ('mtu', GLib.Variant('i', 1400)),
                     ('up', GLib.Variant('s', 'yes')), ('addresses', GLib.Variant('s', '10.0.0.1/24')),
                     ('owner', GLib.Variant('s', 'root')), ('mode', GLib.Variant('u', 1))):
            expect_error('InvalidArgument', create, c, 't-opts', contains=k, **{k: v})
        expect_error('InvalidArgument', create, c, 't-opts', mode='tunnel', contains='mode')
        expect_error('InvalidArgument', create, c, 't-opts', owner=0xffffffff, contains='owner')
        expect_error('InvalidArgument', create, c, 't-opts', group=0xffffffff, contains='group')
    no_new_state(run)
    c.close()


@case('Deleting a device anyd does not own: NotFound; a deleted device: NotFound')
def _(sb):
    ip('tuntap', 'add', 'mode', 'tap', 'name', 'foreign1')
    c = sb.connect(ALLOWED)
    for m, sig, args in (('Delete', '()', ()), ('SetMtu', '(u)', (1400,)), ('SetUp', '(b)', (True,))):
        expect_error('NotFound', dev_call, c, dev_path('foreign1'), m, sig, args, contains="no TUN device 'foreign1'")
    assert link('foreign1') is not None
    path = create(c, 't-twice')
    dev_call(c, path, 'Delete')
    e = expect_error('NotFound', dev_call, c, path, 'Delete')
    assert "'t-twice'" in e.message and '/org/' not in e.message, e.message
    ip('link', 'del', 'foreign1')
    c.close()


if __name__ == '__main__':
    anydtest.main()
