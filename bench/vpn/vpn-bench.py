#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vpn-bench: how fast a VPN comes up and goes away through anyd, against
# the baselines measured in the same run, on the same profile and peer.
#
#   connect: Connect (D-Bus call as the allowed uid, through polkit) until
#            the first ping reply through the tunnel
#     vs     `wg-quick up FILE` with WG_QUICK_USERSPACE_IMPLEMENTATION=
#            wireguard-go until the first ping reply
#   disconnect: Disconnect until it returns (device gone, DNS reverted)
#     vs     the kernel deleting the same kind of device: one RTM_DELLINK
#            round trip on a wireguard-go device that wg-quick made
#   re-adoption: exec of anyd until a connection left running by the
#            previous anyd (SIGTERM, [vpn] keep_on_exit) is exported again
#     vs     exec of anyd until it owns org.anyd1 with no connection
#
# Runs inside tests/anydtest.py's sandbox (private namespaces, bus,
# polkitd) with the real peer of tests/vpnpeer.py.  Pings are ICMP echo
# requests sent every 2 ms from a raw socket, the same code for both sides.
# Prints medians and ratios; the targets are connect <= 0.5x wg-quick,
# disconnect <= 1.5x the kernel's delete and re-adoption <= 2x a plain start.
#
#   sudo /usr/bin/python3 bench/vpn/vpn-bench.py [ROUNDS]       (default 15)

import os
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest
import anydtest  # noqa: E402
import vpnpeer  # noqa: E402

IFNAME = 'wgbench'
VPN = '/org/anyd1/vpn'


class QuietSandbox(anydtest.Sandbox):
    """anyd without --verbose: debug logging would be part of the timing."""

    def anyd_argv(self, args=None, verbose=True):
        return super().anyd_argv(args, verbose=False)


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def ping_until_reply(addr, timeout=10.0):
    """Echo requests every 2 ms until one is answered; returns when it is."""
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.setblocking(False)
    ident = os.getpid() & 0xffff
    deadline = time.monotonic() + timeout
    seq = 0
    try:
        while time.monotonic() < deadline:
            seq += 1
            hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
            pkt = struct.pack('!BBHHH', 8, 0, checksum(hdr + b'anyd'), ident, seq) + b'anyd'
            try:
                s.sendto(pkt, (addr, 0))
            except OSError:
                pass      # no route yet
            end = time.monotonic() + 0.002
            while time.monotonic() < end:
                try:
                    data, src = s.recvfrom(1500)
                except BlockingIOError:
                    time.sleep(0.0002)
                    continue
                ihl = (data[0] & 0xf) * 4
                typ, _, _, rid, _ = struct.unpack('!BBHHH', data[ihl:ihl + 8])
                if typ == 0 and rid == ident and src[0] == addr:
                    return
        raise TimeoutError('no ping reply from %s' % addr)
    finally:
        s.close()


def rtm_dellink(ifindex):
    """One RTM_DELLINK request and its ack: the kernel's own delete time."""
    RTM_DELLINK, NLM_F_REQUEST, NLM_F_ACK = 17, 1, 4
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)   # NETLINK_ROUTE
    try:
        s.bind((0, 0))
        ifi = struct.pack('BxHiII', socket.AF_UNSPEC, 0, ifindex, 0, 0)
        msg = struct.pack('=IHHII', 16 + len(ifi), RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + ifi
        t0 = time.perf_counter()
        s.send(msg)
        reply = s.recv(4096)
        took = time.perf_counter() - t0
        err = struct.unpack('=i', reply[16:20])[0]
        if err:
            raise OSError(-err, os.strerror(-err))
        return took
    finally:
        s.close()


def reap_orphans():
    """wg-quick's wireguard-go daemonizes; as pid 1 of the namespace we reap it."""
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                stat = f.read()
        except OSError:
            continue
        if '(wireguard-go) Z' in stat:
            try:
                os.waitpid(int(pid), os.WNOHANG)
            except ChildProcessError:
                pass


def wait_gone(name, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.if_nametoindex(name)
        except OSError:
            if not os.path.exists('/var/run/wireguard/%s.sock' % name):
                return
        time.sleep(0.005)
    raise TimeoutError('%s still there' % name)


def wait_for(pred, timeout=5.0):
    """pred() every millisecond until true."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError('benchmark condition not reached')
        time.sleep(0.001)


def state(sb, path):
    """The connection's State through root's own bus connection, or None."""
    from gi.repository import GLib
    try:
        v = sb.bus.call_sync('org.anyd1', path, 'org.freedesktop.DBus.Properties', 'Get',
                             GLib.Variant('(ss)', ('org.anyd1.VpnConnection', 'State')),
                             None, 0, 2000, None)
    except GLib.Error:
        return None
    return v.unpack()[0]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    if not anydtest.enter_namespaces_or_skip('vpn-bench'):
        return 0
    if not os.access('/usr/bin/wireguard-go', os.X_OK) or not os.access('/usr/bin/wg-quick', os.X_OK):
        print('vpn-bench: skipped: needs wireguard-go and wg-quick (wireguard-tools)')
        return 0
    sb = QuietSandbox(name='vpn-bench', start_anyd=False, systemd=True)
    with sb:
        sb.write_config('[vpn]\nhandshake_timeout_s=10\n')
        sb.start_anyd()
        peer = vpnpeer.Peer()
        peer.start()
        priv, pub = vpnpeer.genkey()
        peer.allow(pub)
        text = vpnpeer.profile(priv, peer.pub)
        conf = '/run/anyd-test/%s.conf' % IFNAME
        with open(os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
            f.write(text)
        caller = sb.connect(anydtest.ALLOWED)
        caller.call(VPN, 'org.anyd1.Vpn', 'ImportProfile', '(ssa{sv})', (IFNAME, text, {}))
        env = anydtest.base_env({'WG_QUICK_USERSPACE_IMPLEMENTATION': 'wireguard-go'})

        anyd_up, anyd_down, wgq_up, kernel_del, gate = [], [], [], [], []
        for i in range(rounds + 1):       # round 0 warms caches up and is not counted
            # anyd
            t0 = time.perf_counter()
            caller.call(VPN, 'org.anyd1.Vpn', 'Connect', '(s)', (IFNAME,))
            ping_until_reply(vpnpeer.TUN_PEER4)
            t_up = time.perf_counter() - t0
            time.sleep(0.05)
            t0 = time.perf_counter()
            caller.call(VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', (IFNAME,))
            t_down = time.perf_counter() - t0
            wait_gone(IFNAME)

            # wg-quick, same profile and peer
            t0 = time.perf_counter()
            r = subprocess.run(['wg-quick', 'up', conf], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                raise RuntimeError('wg-quick up: %s' % r.stderr)
            ping_until_reply(vpnpeer.TUN_PEER4)
            t_wgq = time.perf_counter() - t0
            time.sleep(0.05)
            t_del = rtm_dellink(socket.if_nametoindex(IFNAME))
            wait_gone(IFNAME)
            reap_orphans()
            # the same call on a profile that is not connected: D-Bus + polkit + lookup
            t0 = time.perf_counter()
            try:
                caller.call(VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', (IFNAME,))
            except anydtest.DBusError:
                pass
            t_gate = time.perf_counter() - t0
            if i > 0:
                gate.append(t_gate)
                anyd_up.append(t_up)
                anyd_down.append(t_down)
                wgq_up.append(t_wgq)
                kernel_del.append(t_del)

        # re-adoption vs a plain start, alternating, in the same sandbox
        plain, adopt = [], []
        for i in range(rounds + 1):
            sb.stop_anyd()
            t0 = time.perf_counter()
            p = sb.start_anyd(wait=False)
            wait_for(lambda: sb.name_owner_pid(anydtest.BUS_NAME) == p.pid)
            t_plain = time.perf_counter() - t0
            path = caller.call(VPN, 'org.anyd1.Vpn', 'Connect', '(s)', (IFNAME,))
            wait_for(lambda: state(sb, path) == 'connected', timeout=10)
            sb.stop_anyd()
            t0 = time.perf_counter()
            p = sb.start_anyd(wait=False)
            wait_for(lambda: sb.name_owner_pid(anydtest.BUS_NAME) == p.pid and state(sb, path) == 'connected')
            t_adopt = time.perf_counter() - t0
            caller.call(VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', (IFNAME,))
            wait_gone(IFNAME)
            if i > 0:
                plain.append(t_plain)
                adopt.append(t_adopt)
        caller.close()

    def ms(xs):
        return '%7.1f ms (min %.1f, max %.1f)' % (statistics.median(xs) * 1e3, min(xs) * 1e3, max(xs) * 1e3)
    up_ratio = statistics.median(anyd_up) / statistics.median(wgq_up)
    down_ratio = statistics.median(anyd_down) / statistics.median(kernel_del)
    print('vpn-bench: %d rounds, medians' % rounds)
    print('  connect to first ping reply    anyd      %s' % ms(anyd_up))
    print('                                 wg-quick  %s' % ms(wgq_up))
    print('  disconnect until gone          anyd      %s' % ms(anyd_down))
    print('  kernel RTM_DELLINK of the same kind of device  %s' % ms(kernel_del))
    print('  a call answered right after the gate (D-Bus + polkit)  %s' % ms(gate))
    adopt_ratio = statistics.median(adopt) / statistics.median(plain)
    print('  start, no connection: exec to owning org.anyd1     %s' % ms(plain))
    print('  start, re-adoption: exec to the connection exported %s' % ms(adopt))
    print('  ratio connect    anyd / wg-quick      = %.2f  (target <= 0.50) %s'
          % (up_ratio, 'ok' if up_ratio <= 0.5 else 'MISSED'))
    print('  ratio re-adoption / plain start       = %.2f  (target <= 2.00) %s'
          % (adopt_ratio, 'ok' if adopt_ratio <= 2.0 else 'MISSED'))
    print('  ratio disconnect anyd / kernel delete = %.2f  (target <= 1.50) %s'
          % (down_ratio, 'ok' if down_ratio <= 1.5 else 'MISSED'))
    return 0


if __name__ == '__main__':
    sys.stdout.flush()
    rc = main()
    sys.stdout.flush()
    os._exit(rc)
