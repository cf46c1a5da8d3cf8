# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vpnpeer.py: a real WireGuard peer for the VPN tests and the benchmark.
#
# Inside the sandbox's network namespace (anydtest.py), Peer() makes a
# second namespace joined by a veth pair and runs wireguard-go there,
# configured with `wg` -- the test's side only; anyd itself never spawns
# wg or ip.  Keys are made with `wg genkey`.
#
#   sandbox netns  veth-anyd 192.0.2.1/24  <->  192.0.2.2/24 veth-peer  (netns vpnpeer)
#   tunnel:        10.66.0.2 (anyd)        <->  10.66.0.1 / fd66::1      wgpeer, UDP 51820

import os
import re
import signal
import subprocess
import time

NETNS = 'vpnpeer'
PEER_IF = 'wgpeer'
PEER_PORT = 51820
VETH_HOST = '192.0.2.1'
VETH_PEER = '192.0.2.2'
TUN_PEER4 = '10.66.0.1'
TUN_PEER6 = 'fd66::1'
TUN_ANYD4 = '10.66.0.2'
TUN_ANYD6 = 'fd66::2'


def run(*argv, check=True, input=None):
    r = subprocess.run(list(argv), input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=False, text=True)
    if check and r.returncode != 0:
        raise RuntimeError('%s -> %d: %s' % (' '.join(argv), r.returncode, r.stderr.strip()))
    return r.stdout


def genkey():
    priv = run('wg', 'genkey').strip()
    pub = run('wg', 'pubkey', input=priv + '\n').strip()
    return priv, pub


def in_peer(*argv, check=True, input=None):
    return run('ip', 'netns', 'exec', NETNS, *argv, check=check, input=input)


class Peer:
    """The far end.  peer.start() once; peer.allow(pubkey) for anyd's key."""

    def __init__(self):
        self.priv, self.pub = genkey()
        self.proc = None

    def setup_net(self):
        if NETNS not in run('ip', 'netns', 'list'):
            run('ip', 'netns', 'add', NETNS)
            run('ip', 'link', 'add', 'veth-anyd', 'type', 'veth', 'peer', 'name', 'veth-peer',
                'netns', NETNS)
            run('ip', 'addr', 'add', VETH_HOST + '/24', 'dev', 'veth-anyd')
            run('ip', 'link', 'set', 'veth-anyd', 'up')
            run('ip', '-n', NETNS, 'addr', 'add', VETH_PEER + '/24', 'dev', 'veth-peer')
            run('ip', '-n', NETNS, 'link', 'set', 'veth-peer', 'up')
            run('ip', '-n', NETNS, 'link', 'set', 'lo', 'up')

    def start(self):
        self.setup_net()
        if self.proc and self.proc.poll() is None:
            return
        env = dict(os.environ, WG_PROCESS_FOREGROUND='1', LOG_LEVEL='error')
        self.proc = subprocess.Popen(['ip', 'netns', 'exec', NETNS, 'wireguard-go', '-f', PEER_IF],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=env, start_new_session=True)
        deadline = time.monotonic() + 10
        while not os.path.exists('/var/run/wireguard/%s.sock' % PEER_IF):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError('peer wireguard-go did not start')
            time.sleep(0.01)
        keyfile = '/run/anyd-test/peer.key'
        with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
            f.write(self.priv + '\n')
        in_peer('wg', 'set', PEER_IF, 'private-key', keyfile, 'listen-port', str(PEER_PORT))
        in_peer('ip', 'addr', 'add', TUN_PEER4 + '/24', 'dev', PEER_IF)
        in_peer('ip', 'addr', 'add', TUN_PEER6 + '/64', 'dev', PEER_IF)
        in_peer('ip', 'link', 'set', PEER_IF, 'up')

    def allow(self, pubkey, addrs=(TUN_ANYD4 + '/32', TUN_ANYD6 + '/128')):
        """(Re)place the one peer entry: anyd's public key."""
        for old in self.peers():
            if old != pubkey:
                in_peer('wg', 'set', PEER_IF, 'peer', old, 'remove')
        in_peer('wg', 'set', PEER_IF, 'peer', pubkey, 'allowed-ips', ','.join(addrs))

    def peers(self):
        out = in_peer('wg', 'show', PEER_IF, 'peers', check=False)
        return [l.strip() for l in out.splitlines() if l.strip()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(5)


def profile(anyd_priv, peer_pub, allowed='10.66.0.0/24, fd66::/64', extra_iface='', extra_peer='',
            endpoint='%s:%d' % (VETH_PEER, PEER_PORT)):
    return ('[Interface]\n'
            'PrivateKey = %s\n'
            'Address = %s/24, %s/64\n%s'
            '\n[Peer]\n'
            'PublicKey = %s\n'
            'Endpoint = %s\n'
            'AllowedIPs = %s\n%s') % (anyd_priv, TUN_ANYD4, TUN_ANYD6, extra_iface,
                                      peer_pub, endpoint, allowed, extra_peer)


def ping(addr, count=1, timeout=2):
    """True if addr answered (one echo request, waits up to timeout s)."""
    r = subprocess.run(['ping', '-n', '-q', '-c', str(count), '-W', str(timeout), addr],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def links():
    """{name: alias} of the sandbox namespace's links."""
    out = run('ip', '-o', 'link', 'show')
    res = {}
    for l in out.splitlines():
        m = re.match(r'\d+: ([^:@]+)[@:]', l)
        if m:
            a = re.search(r'alias (.*?)(\\|$)', l)
            res[m.group(1)] = a.group(1).strip() if a else None
    return res


def rules():
    """Routing rules lines of both families with anyd's protocol (173)."""
    out = run('ip', '-4', 'rule', 'show') + run('ip', '-6', 'rule', 'show')
    return [l for l in out.splitlines() if 'proto 173' in l]


def routes(dev):
    out = run('ip', '-4', 'route', 'show', 'table', 'all', check=False) + \
        run('ip', '-6', 'route', 'show', 'table', 'all', check=False)
    return [l for l in out.splitlines() if (' dev %s ' % dev) in (l + ' ')]


def dns_responder(addr, logfile, answer):
    """A one-record DNS server: every A query gets `answer`; each queried
    name is appended to logfile (so a test sees where queries went)."""
    import socket
    import struct
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        data, src = s.recvfrom(4096)
        if len(data) < 12:
            continue
        qid, flags, qd = struct.unpack('!HHH', data[:6])
        pos, labels = 12, []
        while pos < len(data) and data[pos]:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode(errors='replace'))
            pos += 1 + n
        qend = pos + 5
        qtype = struct.unpack('!H', data[pos + 1:pos + 3])[0] if qend <= len(data) else 0
        name = '.'.join(labels)
        with open(logfile, 'a') as f:
            f.write(name + '\n')
        question = data[12:qend]
        if qtype == 1:
            rr = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) + socket.inet_aton(answer)
            reply = struct.pack('!HHHHHH', qid, 0x8180, 1, 1, 0, 0) + question + rr
        else:   # no AAAA etc.: NOERROR, no answer
            reply = struct.pack('!HHHHHH', qid, 0x8180, 1, 0, 0, 0) + question
        s.sendto(reply, src)


if __name__ == '__main__':
    import sys
    if len(sys.argv) == 5 and sys.argv[1] == 'dns':
        dns_responder(sys.argv[2], sys.argv[3], sys.argv[4])
