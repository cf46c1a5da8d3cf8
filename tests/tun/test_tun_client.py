#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# `anyd-client tun ...` as users run it, in the sandbox of anydtest.py (its
# private network namespace): table and --json output, exit codes, one-line
# errors, and `tun open NAME -- CMD` handing the TUN fd to an unprivileged
# command.

import json
import os
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, Skip, case, wait_until  # noqa: E402

EXIT_OK, EXIT_USAGE, EXIT_NOT_AUTHORIZED, EXIT_NOT_FOUND, EXIT_EXISTS = 0, 2, 3, 4, 5


def client(sb, uid, *args, **kw):
    if not os.access(sb.client_path, os.X_OK):
        raise Skip('anyd-client is not built')
    return sb.client(uid, '--no-ask-password', *args, **kw)


def link(name):
    r = subprocess.run(['ip', '-j', '-d', 'link', 'show', 'dev', name],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return json.loads(r.stdout)[0] if r.returncode == 0 else None


def one_error_line(err, *words):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith('anyd-client: '), err
    for w in words:
        assert w in lines[0], (w, err)


@case('tun create / list / show / set / delete, table and --json')
def _(sb):
    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-dev', '--mtu', '1400', '--up',
                          '-a', '10.100.0.1/24', '--address', 'fd00:100::1/64',
                          '-r', '10.101.0.0/16 via 10.100.0.2')
    assert rc == EXIT_OK, (rc, out, err)
    assert 'c-dev' in out and '1400' in out and '10.100.0.1/24' in out, out
    # persistent: it outlives the client
    l = link('c-dev')
    assert l and l['mtu'] == 1400 and 'UP' in l['flags'], l

    rc, out, err = client(sb, ALLOWED, 'tun', 'list')
    assert rc == EXIT_OK and out.splitlines()[0].split()[:3] == ['NAME', 'INDEX', 'MODE'], out
    assert any(line.split()[0] == 'c-dev' for line in out.splitlines()[1:]), out
    rc, out, err = client(sb, ALLOWED, '--json', 'tun', 'list')
    devs = json.loads(out)
    assert rc == EXIT_OK and [d['name'] for d in devs] == ['c-dev'], out
    assert devs[0]['persistent'] is True and devs[0]['owner'] == ALLOWED, devs
    # snake_case keys in a stable (sorted) order; no group is null, not 4294967295
    assert list(devs[0]) == sorted(devs[0]) and devs[0]['group'] is None, devs

    # columns for scripts: --fields picks and orders them, --terse as nmcli -t
    rc, out, err = client(sb, ALLOWED, '--fields', 'mtu,name', 'tun', 'list')
    assert rc == EXIT_OK and out.splitlines() == ['MTU   NAME', '1400  c-dev'], out
    rc, out, err = client(sb, ALLOWED, 'tun', 'list', '--no-legend', '--fields', 'name,addresses')
    assert rc == EXIT_OK and out.split() == ['c-dev', '10.100.0.1/24,', 'fd00:100::1/64'], out
    rc, out, err = client(sb, ALLOWED, '-t', '--fields', 'name,up,routes', 'tun', 'list')
    assert rc == EXIT_OK and out == 'c-dev:yes:10.101.0.0/16 via 10.100.0.2\n', out
    rc, out, err = client(sb, ALLOWED, '-t', '--fields', 'mtu,mode', 'tun', 'show', 'c-dev')
    assert rc == EXIT_OK and out == 'mode:tun\nmtu:1400\n', out
    rc, out, err = client(sb, ALLOWED, '--fields', 'nosuch', 'tun', 'list')
    assert rc == EXIT_USAGE and "unknown field 'nosuch'" in err and 'name,index' in err, (rc, out, err)
    rc, out, err = client(sb, ALLOWED, '--color=always', 'tun', 'list')
    assert rc == EXIT_OK and '\x1b[1mNAME' in out and '\x1b[32myes\x1b[0m' in out, out
    rc, out, err = client(sb, ALLOWED, 'tun', 'list')
    assert '\x1b' not in out, out           # auto: not a terminal, no colour
    rc, out, err = client(sb, ALLOWED, '--color=sometimes', 'tun', 'list')
    assert rc == EXIT_USAGE, (rc, out, err)

    rc, out, err = client(sb, DENIED, 'tun', 'show', 'c-dev')   # properties are public
    assert rc == EXIT_OK and 'Name:' in out and 'c-dev' in out, (rc, out, err)
    rc, out, err = client(sb, ALLOWED, 'tun', 'show', 'c-dev', '--json')
    assert rc == EXIT_OK and json.loads(out)['routes'] == ['10.101.0.0/16 via 10.100.0.2'], out

    rc, out, err = client(sb, ALLOWED, 'tun', 'set', 'c-dev', '--mtu', '1300',
                          '--add-address', '10.102.0.1/24', '--remove-route', '10.101.0.0/16 via 10.100.0.2',
                          '--add-route', '10.103.0.0/16', '--down')
    assert rc == EXIT_OK, (rc, out, err)
    l = link('c-dev')
    assert l['mtu'] == 1300 and 'UP' not in l['flags'], l
    rc, out, err = client(sb, ALLOWED, '--json', 'tun', 'show', 'c-dev')
    p = json.loads(out)
    # down flushed the IPv4 routes; the kernel drops IPv6 addresses of a
    # link that goes down (keep_addr_on_down=0), and the properties follow
    wait_until(lambda: json.loads(client(sb, ALLOWED, '--json', 'tun', 'show', 'c-dev')[1])['addresses']
               == ['10.100.0.1/24', '10.102.0.1/24'], 5, what='Addresses after down')
    assert p['up'] is False and p['routes'] == [], p

    rc, out, err = client(sb, ALLOWED, '--json', 'tun', 'delete', 'c-dev')
    assert rc == EXIT_OK and json.loads(out) == {'deleted': 'c-dev'}, (rc, out, err)
    assert link('c-dev') is None


@case('tun exit codes and one-line errors')
def _(sb):
    rc, out, err = client(sb, DENIED, 'tun', 'create', 'c-denied')
    assert rc == EXIT_NOT_AUTHORIZED, (rc, out, err)
    one_error_line(err)
    rc, out, err = client(sb, CHALLENGE, 'tun', 'create', 'c-denied')
    assert rc == EXIT_NOT_AUTHORIZED, (rc, out, err)
    assert link('c-denied') is None

    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-bad', '-a', '10.0.0.1/33')
    assert rc == EXIT_USAGE, (rc, out, err)
    one_error_line(err, 'addresses[0]', '10.0.0.1/33')
    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-bad', '--mode', 'tunnel')
    assert rc == EXIT_USAGE, (rc, out, err)
    one_error_line(err, 'mode')
    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-bad', '--owner', 'no-such-user-here')
    assert rc == EXIT_USAGE, (rc, out, err)
    assert err.splitlines()[0].startswith('anyd-client: --owner: '), err
    assert link('c-bad') is None

    rc, out, err = client(sb, ALLOWED, 'tun', 'show', 'c-missing')
    assert rc == EXIT_NOT_FOUND, (rc, out, err)
    one_error_line(err, 'c-missing')
    assert '/org/anyd1' not in err, err       # no object paths in messages
    rc, out, err = client(sb, ALLOWED, 'tun', 'delete', 'lo')
    assert rc == EXIT_NOT_FOUND and link('lo') is not None, (rc, out, err)
    one_error_line(err, 'lo')
    rc, out, err = client(sb, ALLOWED, '--json', 'tun', 'delete', 'c-missing')
    assert rc == EXIT_NOT_FOUND and json.loads(out)['error'] == 'org.anyd1.Error.NotFound', (rc, out)

    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-twice')
    assert rc == EXIT_OK, (rc, out, err)
    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-twice')
    assert rc == EXIT_EXISTS, (rc, out, err)
    one_error_line(err, 'c-twice')
    rc, out, err = client(sb, ALLOWED, 'tun', 'set', 'c-twice')
    assert rc == EXIT_USAGE, (rc, out, err)
    rc, out, err = client(sb, ALLOWED, 'tun', 'delete', 'c-twice')
    assert rc == EXIT_OK and link('c-twice') is None, (rc, out, err)


@case('tun open NAME -- CMD: the unprivileged command uses the fd; the device goes afterwards')
def _(sb):
    script = r'''
import json, os, socket, struct, subprocess, time
fd = int(os.environ["ANYD_TUN_FD"]); name = os.environ["ANYD_TUN_NAME"]
udp = struct.pack("!HHHH", 40000, 9, 12, 0) + b"anyd"
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                  socket.inet_aton("10.110.0.2"), socket.inet_aton("10.110.0.1"))
s = sum(struct.unpack("!10H", hdr)); s = (s & 0xffff) + (s >> 16); s = (s & 0xffff) + (s >> 16)
pkt = hdr[:10] + struct.pack("!H", ~s & 0xffff) + hdr[12:] + udp
for _ in range(4):
    os.write(fd, pkt)
time.sleep(0.2)
st = json.loads(subprocess.run(["ip", "-j", "-s", "link", "show", "dev", name],
                               stdout=subprocess.PIPE).stdout)[0]["stats64"]
print("uid", os.getuid(), "name", name, "rx", st["rx"]["packets"])
'''
    rc, out, err = client(sb, ALLOWED, 'tun', 'open', 'c-open', '--up', '-a', '10.110.0.1/24',
                          '--', '/usr/bin/python3', '-c', script)
    assert rc == EXIT_OK, (rc, out, err)
    words = out.split()
    assert words[:4] == ['uid', str(ALLOWED), 'name', 'c-open'] and int(words[5]) >= 4, out
    wait_until(lambda: link('c-open') is None, 10, what='c-open to go')
    # the command's exit status is the client's
    rc, out, err = client(sb, ALLOWED, 'tun', 'open', '--', '/bin/sh', '-c', 'exit 7')
    assert rc == 7, (rc, out, err)


@case('tun open without a command holds the device until interrupted')
def _(sb):
    if not os.access(sb.client_path, os.X_OK):
        raise Skip('anyd-client is not built')
    p = subprocess.Popen(anydtest.setpriv_prefix(ALLOWED) +
                         [sb.client_binary(), '--no-ask-password', 'tun', 'open', 'c-hold'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=anydtest.base_env(), cwd='/')
    try:
        wait_until(lambda: link('c-hold') is not None, 10, what='c-hold')
        line = p.stdout.readline().decode()
        assert 'c-hold' in line, line
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    wait_until(lambda: link('c-hold') is None, 10, what='c-hold to go')


@case('tun create/open warn, with the fix, when /dev/net/tun would not let the owner attach')
def _(sb):
    # the sandbox's own node (anydtest bind-mounts it): 0666 as shipped; the
    # chmods below must never reach the host's node
    with open('/proc/self/mountinfo') as f:
        assert any(l.split()[4] == '/dev/net/tun' for l in f), 'no private /dev/net/tun'
    st = os.stat('/dev/net/tun')
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 10 and os.minor(st.st_rdev) == 200, st
    assert stat.S_IMODE(st.st_mode) == 0o666, oct(st.st_mode)
    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-node')
    assert rc == EXIT_OK and 'warning' not in err, (rc, out, err)
    os.chmod('/dev/net/tun', 0o600)
    try:
        rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-node2')
        assert rc == EXIT_OK and 'c-node2' in out, (rc, out, err)
        one_error_line(err, 'warning', '/dev/net/tun', '0600', 'uid %d' % ALLOWED,
                       'c-node2', 'chmod 0666 /dev/net/tun', 'udev')
        # as root for another owner: the same warning names that owner
        rc, out, err = sb.client(0, '--no-ask-password', 'tun', 'create', 'c-node3',
                                 '--owner', str(ALLOWED))
        assert rc == EXIT_OK and 'uid %d cannot' % ALLOWED in err, (rc, out, err)
        # open: the handed fd works, the warning says so
        rc, out, err = client(sb, ALLOWED, 'tun', 'open', 'c-node4', '--', '/bin/true')
        assert rc == EXIT_OK and 'descriptor handed over here works' in err, (rc, out, err)
        # root-owned devices: nothing to warn about
        rc, out, err = sb.client(0, '--no-ask-password', 'tun', 'create', 'c-node5')
        assert rc == EXIT_OK and 'warning' not in err, (rc, out, err)
    finally:
        os.chmod('/dev/net/tun', 0o666)
    for n in ('c-node', 'c-node2', 'c-node3', 'c-node5'):
        rc, out, err = sb.client(0, '--no-ask-password', 'tun', 'delete', n)
        assert rc == EXIT_OK, (n, rc, out, err)


@case('tun monitor and monitor tun: devices added, changed, removed (JSON with µs times)')
def _(sb):
    if not os.access(sb.client_path, os.X_OK):
        raise Skip('anyd-client is not built')
    mons = [subprocess.Popen(anydtest.setpriv_prefix(DENIED) + [sb.client_binary()] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=anydtest.base_env(),
                             cwd='/', text=True)
            for args in (['tun', 'monitor'], ['--json', 'monitor', 'tun'])]
    try:
        wait_until(lambda: mons[0].stdout.readline().startswith('Watching'), 10, what='monitor up')
        time.sleep(0.3)      # the JSON one prints no banner
        rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-mon', '--mtu', '1300')
        assert rc == EXIT_OK, (rc, out, err)
        rc, out, err = client(sb, ALLOWED, 'tun', 'set', 'c-mon', '--mtu', '1280')
        assert rc == EXIT_OK, (rc, out, err)
        rc, out, err = client(sb, ALLOWED, 'tun', 'delete', 'c-mon')
        assert rc == EXIT_OK, (rc, out, err)
        time.sleep(0.5)
    finally:
        for m in mons:
            m.send_signal(signal.SIGINT)
    outs = [m.communicate(timeout=10) for m in mons]
    assert all(m.returncode == 0 for m in mons), outs
    text = outs[0][0].splitlines()
    assert any(l.split()[1:] == ['tun', 'c-mon', 'added'] for l in text), text
    assert any(l.split()[1:3] == ['tun', 'c-mon'] and 'Mtu=1280' in l for l in text), text
    assert any(l.split()[1:] == ['tun', 'c-mon', 'removed'] for l in text), text
    events = [json.loads(l) for l in outs[1][0].splitlines()]
    mine = [e for e in events if e['name'] == 'c-mon']
    assert [e['event'] for e in mine][0] == 'added' and mine[-1]['event'] == 'removed', events
    assert any(e['event'] == 'changed' and e['details'].get('mtu') == 1280 for e in mine), events
    assert all(e['module'] == 'tun' and abs(e['time'] / 1e6 - time.time()) < 60 for e in events), events


@case('--quiet: a change that succeeds prints nothing, an error still does')
def _(sb):
    rc, out, err = client(sb, ALLOWED, '--quiet', 'tun', 'create', 'c-quiet', '--mtu', '1300')
    assert rc == EXIT_OK and out == '' and err == '', (rc, out, err)
    assert link('c-quiet') is not None
    rc, out, err = client(sb, ALLOWED, '-q', 'tun', 'create', 'c-quiet')
    assert rc == EXIT_EXISTS and out == '', (rc, out, err)
    one_error_line(err)
    rc, out, err = client(sb, ALLOWED, '-q', 'tun', 'delete', 'c-quiet')
    assert rc == EXIT_OK and out == '' and err == '', (rc, out, err)


@case('anyd-client __complete: groups, commands, options, values and device names')
def _(sb):
    def comp(*words):
        rc, out, err = client(sb, ALLOWED, '__complete', *words)
        assert rc == EXIT_OK and err == '', (words, rc, out, err)
        return out.split('\n')[:-1]
    assert 'tun' in comp('') and 'monitor' in comp('') and 'tu' not in comp('')
    assert comp('t') == ['tun'], comp('t')
    assert comp('tun', 'cr') == ['create'], comp('tun', 'cr')
    assert comp('tun', 'create', '--mode', '') == ['tun', 'tap']
    assert comp('tun', 'create', '--m') == ['--mode', '--mtu', '--multi-queue']
    assert '--fields' in comp('tun', 'list', '--')
    assert comp('-H', '') == [':hosts'] and comp('vpn', 'import', '') == [':files']
    assert comp('tun', 'create', '--owner', '') == [':users']
    assert comp('tun', 'open', '--group', '') == [':groups']
    rc, out, err = client(sb, ALLOWED, 'tun', 'create', 'c-comp1')
    assert rc == EXIT_OK, (rc, out, err)
    try:
        assert 'c-comp1' in comp('tun', 'show', '')
        assert comp('--json', 'tun', 'delete', 'c-c') == ['c-comp1']
        assert comp('tun', 'show', 'c-comp1', '') == []          # one NAME only
        assert 'tun' in comp('monitor', '') and 'tun' in comp('monitor', 'vpn', '')
    finally:
        client(sb, ALLOWED, 'tun', 'delete', 'c-comp1')


if __name__ == '__main__':
    anydtest.main()
