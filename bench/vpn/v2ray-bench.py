#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# v2ray-bench: the proxy VPN through anyd against baselines measured in the
# same run, with the same v2ray, server and namespaces as
# tests/vpn/test_vpn_v2ray.py (VMess profile):
#
#   connect: Connect (D-Bus, as the allowed uid, through polkit) until the
#            first byte from the internet namespace's TCP echo
#     vs     a shell script doing the same by hand: start v2ray (same
#            config, same user and capabilities), `nft -f` (the same
#            table), `ip rule`/`ip route` (v4 and v6), wait for the port
#   throughput: 64 MiB from the internet namespace over the TPROXY path
#     vs     the same through a SOCKS5 inbound of the same v2ray config
#            (the same Python reader for both)
#   DNS: A queries (fresh names, no cache hit) to the LAN resolver's
#            address, captured and answered through the proxy
#     vs     the same queries sent to a dokodemo-door inbound of v2ray's
#            own DNS (the same DNS module and upstream, no capture)
#
# Targets: connect <= 0.5x the script, throughput >= 0.8x SOCKS, DNS
# latency <= 1.2x direct.
#
#   sudo /usr/bin/python3 bench/vpn/v2ray-bench.py [ROUNDS]     (default 10)

import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests'))  # tests/: anydtest
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), 'tests', 'vpn'))  # test_vpn_v2ray
import anydtest  # noqa: E402
import test_vpn_v2ray as w  # noqa: E402

VPN = '/org/anyd1/vpn'
NAME = 'vm-bench'
BULK_PORT = 7100
BULK_MIB = 64
SOCKS_PORT = 41080
DNS_PORT = 41053


class QuietSandbox(anydtest.Sandbox):
    def anyd_argv(self, args=None, verbose=True):
        return super().anyd_argv(args, verbose=False)


def first_byte(timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return w.tcp_echo(w.NET4, timeout=0.5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def drain(sock):
    n = 0
    t0 = time.perf_counter()
    while True:
        b = sock.recv(1 << 20)
        if not b:
            break
        n += len(b)
    dt = time.perf_counter() - t0
    sock.close()
    assert n == BULK_MIB << 20, n
    return n / dt / 1e6


def bulk_direct():
    s = socket.create_connection((w.NET4, BULK_PORT), timeout=30)
    return drain(s)


def bulk_socks():
    s = socket.create_connection(('127.0.0.1', SOCKS_PORT), timeout=30)
    s.sendall(b'\x05\x01\x00')
    assert s.recv(2) == b'\x05\x00'
    s.sendall(b'\x05\x01\x00\x01' + socket.inet_aton(w.NET4) + struct.pack('!H', BULK_PORT))
    rep = s.recv(10)
    assert rep[1] == 0, rep
    return drain(s)


def dns_time(server, port, name):
    qid = 0x1234
    q = struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    q += b'\x00' + struct.pack('!HH', 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    t0 = time.perf_counter()
    s.sendto(q, (server, port))
    data = s.recv(4096)
    dt = time.perf_counter() - t0
    s.close()
    assert socket.inet_ntoa(data[-4:]) == '10.20.30.40'
    return dt


SCRIPT = r'''
set -e
setpriv --reuid=991 --regid=991 --clear-groups --inh-caps=+net_admin,+net_bind_service \
  --ambient-caps=+net_admin,+net_bind_service "$(dirname "$1")/v2ray" -config "$1" >"$4.log" 2>&1 &
echo $! > "$4"
nft -f "$2"
ip rule add fwmark 0x616e0001 lookup 52100
ip -6 rule add fwmark 0x616e0001 lookup 52100
ip route add local default dev lo table 52100
ip -6 route add local default dev lo table 52100
while ! (exec 3<>/dev/tcp/127.0.0.1/$3) 2>/dev/null; do sleep 0.005; done
'''

UNDO = r'''
kill -9 $(cat "$2") 2>/dev/null || true
nft delete table inet "$1" 2>/dev/null || true
ip rule del fwmark 0x616e0001 lookup 52100 2>/dev/null || true
ip -6 rule del fwmark 0x616e0001 lookup 52100 2>/dev/null || true
ip route del local default dev lo table 52100 2>/dev/null || true
ip -6 route del local default dev lo table 52100 2>/dev/null || true
'''


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    if not anydtest.enter_namespaces_or_skip('v2ray-bench'):
        return 0
    if not os.access(w.V2RAY, os.X_OK) or not os.access('/usr/sbin/nft', os.X_OK):
        print('v2ray-bench: skipped: needs v2ray and nftables')
        return 0
    sb = QuietSandbox(name='v2ray-bench', start_anyd=False, systemd=True)
    with sb:
        w.start_world(sb, extra_servers=[('v2net', ('serve', 'bulk', w.NET4, str(BULK_PORT), str(BULK_MIB)))])
        sb.write_config(w.CONFIG)
        sb.start_anyd()
        caller = sb.connect(anydtest.ALLOWED)
        caller.call(VPN, 'org.anyd1.Vpn', 'ImportProfile', '(ssa{sv})', (NAME, w.vmess_link(NAME), {}))

        # the config and table anyd makes, for the hand-made baselines
        caller.call(VPN, 'org.anyd1.Vpn', 'Connect', '(s)', (NAME,))
        first_byte()
        cfg_path = os.path.join(w.RUNTIME, 'v2ray', NAME + '.json')
        with open(cfg_path) as f:
            cfg = json.load(f)
        table = 'anyd_vpn_vm_2dbench'
        rules = w.run('nft', 'list', 'table', 'inet', table)
        port = cfg['inbounds'][0]['port']
        tproxy_mbs, dns_tunnel = [], []
        for i in range(3):
            tproxy_mbs.append(bulk_direct())
        for i in range(rounds * 10):
            dns_tunnel.append(dns_time(w.LAN_DNS, 53, 't%d-%d.example' % (i, time.monotonic_ns())))
        caller.call(VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', (NAME,))
        w.wait_until(lambda: not w.units(sb), 10, what='unit gone')

        work = '/run/anyd-test/bench'
        os.makedirs(work, exist_ok=True)
        own = os.path.join(work, 'v2ray.json')
        with open(own, 'w') as f:
            json.dump(cfg, f)
        os.chown(own, 991, 991)
        # Debian's binary carries the file capability cap_net_bind_service,
        # and executing it would drop the ambient CAP_NET_ADMIN: a plain copy
        import shutil
        shutil.copy(w.V2RAY, os.path.join(work, 'v2ray'))
        rules_file = os.path.join(work, 'rules.nft')
        with open(rules_file, 'w') as f:
            f.write('table inet %s\ndelete table inet %s\n' % (table, table) + rules)
        script = os.path.join(work, 'up.sh')
        with open(script, 'w') as f:
            f.write(SCRIPT)
        undo = os.path.join(work, 'down.sh')
        with open(undo, 'w') as f:
            f.write(UNDO)
        pidfile = os.path.join(work, 'pid')

        anyd_up, script_up = [], []
        for i in range(rounds + 1):
            t0 = time.perf_counter()
            caller.call(VPN, 'org.anyd1.Vpn', 'Connect', '(s)', (NAME,))
            first_byte()
            t_anyd = time.perf_counter() - t0
            caller.call(VPN, 'org.anyd1.Vpn', 'Disconnect', '(s)', (NAME,))
            w.wait_until(lambda: not w.units(sb), 10, what='unit gone')

            t0 = time.perf_counter()
            subprocess.run(['bash', script, own, rules_file, str(port), pidfile], check=True)
            try:
                first_byte()
            except OSError:
                print(w.diagnose(sb))
                print(open(pidfile + '.log').read())
                raise
            t_script = time.perf_counter() - t0
            subprocess.run(['bash', undo, table, pidfile], check=True)
            time.sleep(0.05)
            if i > 0:
                anyd_up.append(t_anyd)
                script_up.append(t_script)

        # the same v2ray config with a SOCKS inbound and a DNS inbound, no capture
        socks = dict(cfg)
        socks['inbounds'] = [
            {'tag': 'socks', 'listen': '127.0.0.1', 'port': SOCKS_PORT, 'protocol': 'socks',
             'settings': {'udp': False}},
            {'tag': 'dnsin', 'listen': '127.0.0.1', 'port': DNS_PORT, 'protocol': 'dokodemo-door',
             'settings': {'address': w.NET4, 'port': 53, 'network': 'udp'}},
        ]
        socks['routing'] = {'rules': [
            {'type': 'field', 'inboundTag': ['dnsin'], 'outboundTag': 'dns-out'},
            {'type': 'field', 'inboundTag': ['dns-internal'], 'outboundTag': 'proxy'},
            {'type': 'field', 'inboundTag': ['socks'], 'outboundTag': 'proxy'}]}
        with open(own, 'w') as f:
            json.dump(socks, f)
        p = subprocess.Popen([w.V2RAY, '-config', own], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        w.wait_until(lambda: subprocess.run(['bash', '-c', '(exec 3<>/dev/tcp/127.0.0.1/%d)' % SOCKS_PORT],
                                            stderr=subprocess.DEVNULL).returncode == 0, 10, what='socks')
        socks_mbs, dns_direct = [], []
        for i in range(3):
            socks_mbs.append(bulk_socks())
        for i in range(rounds * 10):
            dns_direct.append(dns_time('127.0.0.1', DNS_PORT, 'd%d-%d.example' % (i, time.monotonic_ns())))
        p.kill()
        p.wait()
        caller.close()

    def ms(xs):
        return '%7.1f ms (min %.1f, max %.1f)' % (statistics.median(xs) * 1e3, min(xs) * 1e3, max(xs) * 1e3)
    up = statistics.median(anyd_up) / statistics.median(script_up)
    tp = statistics.median(tproxy_mbs) / statistics.median(socks_mbs)
    dns = statistics.median(dns_tunnel) / statistics.median(dns_direct)
    print('v2ray-bench: %d rounds, medians' % rounds)
    print('  connect to first TCP byte      anyd    %s' % ms(anyd_up))
    print('                                 script  %s' % ms(script_up))
    print('  throughput %d MiB  TPROXY %.0f MB/s   SOCKS %.0f MB/s' % (BULK_MIB, statistics.median(tproxy_mbs),
                                                                    statistics.median(socks_mbs)))
    print('  DNS query   through the tunnel %s' % ms(dns_tunnel))
    print('              v2ray DNS directly %s' % ms(dns_direct))
    print('  ratio connect anyd / script      = %.2f  (target <= 0.50) %s' % (up, 'ok' if up <= 0.5 else 'MISSED'))
    print('  ratio throughput TPROXY / SOCKS  = %.2f  (target >= 0.80) %s' % (tp, 'ok' if tp >= 0.8 else 'MISSED'))
    print('  ratio DNS tunnel / direct        = %.2f  (target <= 1.20) %s' % (dns, 'ok' if dns <= 1.2 else 'MISSED'))
    return 0


if __name__ == '__main__':
    sys.stdout.flush()
    rc = main()
    sys.stdout.flush()
    os._exit(rc)
