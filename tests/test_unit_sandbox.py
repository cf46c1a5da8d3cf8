#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# anyd under its own unit's hardening: the BUILT data/anyd.service, started
# by a real systemd manager (systemd_sandbox.py) in the anydtest sandbox, so
# the capability bounding set, seccomp filter, read-only file system,
# address-family and /proc restrictions are the ones users get.  Only
# ExecStart= is rewritten (the build tree's binary, the sandbox's config
# directory), and a drop-in sends the output to a file (the sandbox has no
# journald).  Every module's basic call must work there: tun Create/Delete,
# vault Put/Get, services GetStatus/Restart, vpn ImportProfile + Connect of
# a full tunnel against a real wireguard-go peer (which sets
# net.ipv4.conf.all.src_valid_mark, the write ProtectKernelTunables=yes and
# ProcSubset=pid used to break).  A last case puts those two settings back
# and shows the write failing, so this test can tell.
#
# The manager is a `systemd --user` running as root: StateDirectory= lives
# under its $XDG_CONFIG_HOME (pointed into the sandbox's tmpfs); the
# RuntimeDirectory= it would make under /run/user/0 is hidden by
# ProtectHome=yes, so the drop-in gives anyd /run/anyd as the system manager
# does; and the manager needs the /run/systemd/inaccessible nodes that
# systemd as pid 1 makes at boot.

import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, ROOT, DBusError, Skip, case, wait_until  # noqa: E402
from gi.repository import GLib  # noqa: E402
from systemd_sandbox import SystemdManager  # noqa: E402
import systemd_sandbox  # noqa: E402
import vpnpeer  # noqa: E402

UNIT = 'anyd.service'
LOG = '/run/anyd-test/unit-anyd.log'
XDG_STATE = '/run/anyd-test/xdg-state'
RUNTIME_DIR = '/run/anyd'
XDG_CONFIG = '/run/anyd-test/xdg-config'
SRC_VALID_MARK = '/proc/sys/net/ipv4/conf/all/src_valid_mark'
CAP_NET_ADMIN = 12
CAP_CHOWN = 0
CONFIG = '[services]\nallow=demo.service;\n[vpn]\nhandshake_timeout_s=5\n'

SD = None
PEER = vpnpeer.Peer()
KEY = vpnpeer.genkey()


def sd():
    if SD is None or not SD.running():
        raise Skip('no systemd manager in the sandbox')
    return SD


def built_unit(sb):
    with open(os.path.join(sb.builddir, 'data', UNIT)) as f:
        return f.read()


UNIT_BIN = '/run/anyd-test/unit-bin/anyd'


def unit_for_sandbox(sb):
    """The built unit with ExecStart= running the build tree's anyd.

    The binary is copied to /run first: the unit's own PrivateTmp= and
    ProtectHome= hide a build tree under /tmp, /home or /root (where a CI
    checkout may well be), which would fail the start with 203/EXEC."""
    os.makedirs(os.path.dirname(UNIT_BIN), mode=0o755, exist_ok=True)
    shutil.copy2(sb.anyd_path, UNIT_BIN)
    text, n = re.subn(r'^ExecStart=.*$', 'ExecStart=%s --config %s --verbose' % (UNIT_BIN, sb.confdir),
                      built_unit(sb), flags=re.M)
    assert n == 1, 'one ExecStart= in the built unit'
    return text


def dropin(extra=''):
    text = '[Service]\nStandardOutput=append:%s\nStandardError=append:%s\n' % (LOG, LOG)
    # LeakSanitizer needs ptrace, which SystemCallFilter= (rightly) refuses;
    # leaks are checked by every other integration test.
    # A user manager's RuntimeDirectory= is under $XDG_RUNTIME_DIR=/run/user/0,
    # which ProtectHome=yes hides (mode 0000, and the unit has no
    # CAP_DAC_OVERRIDE to pass it); the system manager makes /run/anyd,
    # outside. Give anyd that directory as the system manager would.
    text += ('RuntimeDirectory=\nEnvironment=RUNTIME_DIRECTORY=%s\nReadWritePaths=%s\n'
             % (RUNTIME_DIR, RUNTIME_DIR))
    if os.environ.get('ASAN_OPTIONS') is not None or 'asan' in os.path.basename(anydtest.builddir()):
        text += 'Environment=ASAN_OPTIONS=detect_leaks=0\n'
    return text + extra


def install(sb, extra=''):
    """The unit from the build tree plus the test drop-in (extra: more [Service] lines)."""
    sd().write_unit(UNIT, unit_for_sandbox(sb), reload=False, header=False)
    d = os.path.join(systemd_sandbox.UNIT_DIR, UNIT + '.d')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'test.conf'), 'w') as f:
        f.write(dropin(extra))
    sd().daemon_reload()


def main_pid():
    return sd().main_pid(UNIT)


def start(sb):
    rc, out = sd().systemctl('start', UNIT)
    assert rc == 0, (out, sd().systemctl('status', UNIT)[1], log_tail())
    wait_until(lambda: sb.has_owner('org.anyd1'), 10, what='org.anyd1')


def stop():
    sd().systemctl('stop', UNIT)
    sd().wait_state(UNIT, 'inactive')


def log_text():
    try:
        with open(LOG, errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def log_tail(n=30):
    return '\n'.join(log_text().splitlines()[-n:])


def status(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.strip()
    return out


def mounts(pid):
    """mount point -> options of the process's mount namespace."""
    out = {}
    with open('/proc/%d/mountinfo' % pid) as f:
        for line in f:
            w = line.split()
            out[w[4]] = w[5]
    return out


def read_mark():
    with open(SRC_VALID_MARK) as f:
        return f.read().strip()


def write_mark(v):
    with open(SRC_VALID_MARK, 'w') as f:
        f.write(v)


def connect_full_tunnel(sb, name):
    """Import a full-tunnel profile as the allowed uid and connect it."""
    profile = vpnpeer.profile(KEY[0], PEER.pub, allowed='0.0.0.0/0, ::/0')
    try:
        sb.call(ALLOWED, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'ImportProfile', '(ssa{sv})', (name, profile, {}))
    except DBusError as e:
        if not e.name.endswith('.Exists'):
            raise
    PEER.allow(KEY[1], addrs=('0.0.0.0/0', '::/0'))
    return sb.call(ALLOWED, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'Connect', '(s)', (name,))


def conn_state(sb, path):
    try:
        return sb.call(ROOT, path, 'org.freedesktop.DBus.Properties', 'Get', '(ss)',
                       ('org.anyd1.VpnConnection', 'State'))
    except DBusError:
        return None


def inaccessible_nodes():
    """What systemd as pid 1 makes at boot (/run/systemd/inaccessible/*) and
    every manager bind-mounts over what ProtectHome=, InaccessiblePaths=,
    ProtectKernelLogs= hide; the sandbox's fresh /run lacks them."""
    d = '/run/systemd/inaccessible'
    os.makedirs(d, exist_ok=True)
    for name, mode, dev in (('reg', stat.S_IFREG, 0), ('fifo', stat.S_IFIFO, 0), ('sock', stat.S_IFSOCK, 0),
                            ('chr', stat.S_IFCHR, os.makedev(0, 0)), ('blk', stat.S_IFBLK, os.makedev(0, 0))):
        path = os.path.join(d, name)
        if not os.path.lexists(path):
            os.mknod(path, mode, dev)
        os.chmod(path, 0)
    os.makedirs(os.path.join(d, 'dir'), exist_ok=True)
    os.chmod(os.path.join(d, 'dir'), 0)
    os.chmod(d, 0o755)


# ---------------------------------------------------------------- cases

@case('the built anyd.service starts under a real systemd manager', needs_anyd=False)
def _(sb):
    global SD
    m = SystemdManager(sb)
    if not m.available():
        raise Skip('systemd is not installed')
    # StateDirectory=/ConfigurationDirectory= of a user manager: keep them in the sandbox
    m.env.update({'XDG_STATE_HOME': XDG_STATE, 'XDG_CONFIG_HOME': XDG_CONFIG,
                  'XDG_CACHE_HOME': '/run/anyd-test/xdg-cache'})
    inaccessible_nodes()
    os.makedirs(RUNTIME_DIR, mode=0o700, exist_ok=True)
    m.start()
    SD = m
    m.write_unit('demo.service', '[Service]\nExecStart=/bin/sleep infinity\n', reload=False)
    sb.write_config(CONFIG)
    PEER.start()
    install(sb)
    start(sb)
    pid = main_pid()
    assert pid > 0
    env = open('/proc/%d/environ' % pid, 'rb').read().split(b'\0')
    # a user manager's StateDirectory= is under $XDG_CONFIG_HOME (systemd 252)
    assert b'STATE_DIRECTORY=' + XDG_CONFIG.encode() + b'/anyd' in env, env
    assert b'RUNTIME_DIRECTORY=' + RUNTIME_DIR.encode() in env, env


@case('the unit\'s sandbox is in force (capabilities, seccomp, read-only system, /proc/sys)', needs_anyd=False)
def _(sb):
    pid = main_pid()
    st = status(pid)
    # CAP_NET_ADMIN for tun and vpn, CAP_CHOWN for exec's pty slaves
    caps = 1 << CAP_NET_ADMIN | 1 << CAP_CHOWN
    assert int(st['CapBnd'], 16) == caps, st['CapBnd']
    assert int(st['CapEff'], 16) == caps, st['CapEff']
    assert st['NoNewPrivs'] == '1' and st['Seccomp'] == '2', st
    m = mounts(pid)
    for ro in ('/', '/proc/sys', '/sys'):
        assert m.get(ro, '').startswith('ro'), (ro, m.get(ro))
    assert m.get(SRC_VALID_MARK, '').startswith('rw'), m.get(SRC_VALID_MARK)
    assert m.get('/run/wireguard', '').startswith('rw'), m.get('/run/wireguard')
    # ProtectHome=yes / PrivateTmp=yes: new mounts there
    assert '/tmp' in m and ('/root' in m or '/home' in m), sorted(m)


@case('tun: Create and Delete as the allowed uid; the record lands in the runtime directory', needs_anyd=False)
def _(sb):
    c = sb.connect(ALLOWED)
    path = c.call('/org/anyd1/tun', 'org.anyd1.Tun', 'Create', '(sa{sv})',
                  ('u-tun', {'persist': GLib.Variant('b', True), 'up': GLib.Variant('b', True),
                             'addresses': GLib.Variant('as', ['10.77.0.1/24'])}))
    out = subprocess.run(['ip', '-j', 'addr', 'show', 'dev', 'u-tun'], capture_output=True, text=True).stdout
    assert '10.77.0.1' in out, out
    assert 'u-tun' in open(RUNTIME_DIR + '/tun-devices').read(), log_tail()
    c.call(path, 'org.anyd1.TunDevice', 'Delete')
    assert subprocess.run(['ip', 'link', 'show', 'u-tun'], capture_output=True).returncode != 0
    c.close()


@case('vault: Put and Get as the allowed uid (state under StateDirectory=)', needs_anyd=False)
def _(sb):
    sb.call(ALLOWED, '/org/anyd1/vault', 'org.anyd1.Vault', 'Put', '(saya{sv})',
            ('unit/secret', b's3cret-value', {}))
    got = sb.call(ALLOWED, '/org/anyd1/vault', 'org.anyd1.Vault', 'Get', '(sa{sv})', ('unit/secret', {}))
    assert bytes(got) == b's3cret-value', got
    assert os.path.isdir(os.path.join(XDG_CONFIG, 'anyd', 'vault'))


@case('services: GetStatus and Restart of an allowed unit through systemd', needs_anyd=False)
def _(sb):
    st = sb.call(ALLOWED, '/org/anyd1/services', 'org.anyd1.Services', 'GetStatus', '(s)', ('demo.service',))
    assert st['ActiveState'] == 'inactive', st
    sb.call(ALLOWED, '/org/anyd1/services', 'org.anyd1.Services', 'Restart', '(s)', ('demo.service',))
    sd().wait_state('demo.service', 'active')
    sb.call(ALLOWED, '/org/anyd1/services', 'org.anyd1.Services', 'Stop', '(s)', ('demo.service',))
    sd().wait_state('demo.service', 'inactive')


@case('vpn: ImportProfile and a full tunnel set src_valid_mark through the unit\'s one writable file',
      needs_anyd=False)
def _(sb):
    write_mark('0')
    before = len(log_text())
    path = connect_full_tunnel(sb, 'wg-unit')
    wait_until(lambda: conn_state(sb, path) == 'connected', 15, what='wg-unit connected')
    assert vpnpeer.ping(vpnpeer.TUN_PEER4, timeout=3)
    assert read_mark() == '1', 'anyd did not set src_valid_mark: ' + log_text()[before:][-2000:]
    assert 'src_valid_mark' not in log_text()[before:], log_text()[before:][-2000:]
    sb.call(ALLOWED, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'Disconnect', '(s)', ('wg-unit',))


@case('control: with ProtectKernelTunables=yes and ProcSubset=pid back, the same write fails', needs_anyd=False)
def _(sb):
    stop()
    install(sb, 'ProtectKernelTunables=yes\nProcSubset=pid\nReadOnlyPaths=\nInaccessiblePaths=\n'
                'ReadWritePaths=\nReadWritePaths=/run/wireguard\n')
    start(sb)
    try:
        write_mark('0')
        before = len(log_text())
        path = connect_full_tunnel(sb, 'wg-unit')
        wait_until(lambda: conn_state(sb, path) == 'connected', 15, what='wg-unit connected')
        assert read_mark() == '0'
        wait_until(lambda: 'could not set net.ipv4.conf.all.src_valid_mark' in log_text()[before:], 5,
                   what='the failure message')
        sb.call(ALLOWED, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'Disconnect', '(s)', ('wg-unit',))
    finally:
        stop()
        install(sb)


@case('anyd under the unit printed no sanitizer report, CRITICAL or WARNING and stopped cleanly', needs_anyd=False)
def _(sb):
    start(sb)
    stop()
    assert sd().active_state(UNIT) == 'inactive', sd().active_state(UNIT)
    bad = [l for l in log_text().splitlines() if anydtest.SANITIZER_RE.search(l) or '-WARNING **' in l]
    assert not bad, '\n'.join(bad[:30])
    PEER.stop()


if __name__ == '__main__':
    anydtest.main(start_anyd=False)
