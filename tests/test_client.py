#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# anyd-client as users run it: as root, the allowed, the denied and the
# needs-password uid, in the sandbox of anydtest.py.  stdin is never a
# terminal here, so the client never registers its text agent.

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, Skip, case  # noqa: E402

MANAGE = 'org.anyd1.manage'
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_AUTHORIZED, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
EXPECTED_ANSWER = {ROOT: 'yes', ALLOWED: 'yes', DENIED: 'no', CHALLENGE: 'challenge'}
WHO = {ROOT: 'root', ALLOWED: 'allowed', DENIED: 'denied', CHALLENGE: 'needs-password'}


def client(sb, uid, *args, **kw):
    if not os.access(sb.client_path, os.X_OK):
        raise Skip('anyd-client is not built')
    return sb.client(uid, *args, **kw)


def find_key(obj, key):
    """Values of `key` anywhere in a JSON document."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(obj, list):
        for v in obj:
            yield from find_key(v, key)


def one_error_line(err):
    lines = [l for l in err.splitlines() if l.strip()]
    return len(lines) == 1 and lines[0].startswith('anyd-client: ')


@case('anyd-client --version and --help', needs_anyd=False)
def _(sb):
    rc, out, err = client(sb, ALLOWED, '--version')
    assert rc == EXIT_OK and os.environ.get('ANYD_VERSION', '') in out, (rc, out, err)
    rc, out, err = client(sb, ALLOWED, '--help')
    assert rc == EXIT_OK and 'status' in out, (rc, out, err)


@case('anyd-client status works for every uid')
def _(sb):
    version = sb.conn(ROOT).get_property('/org/anyd1', 'org.anyd1.Manager', 'Version')
    for uid in (ROOT, ALLOWED, DENIED, CHALLENGE):
        rc, out, err = client(sb, uid, '--no-ask-password', 'status')
        assert rc == EXIT_OK, (WHO[uid], rc, out, err)
        assert version in out, (WHO[uid], out)
    # Each action is described as the installed .policy files say (polkitd
    # is asked), not from a copy in the client.
    policies = sb.polkit_policies
    if not policies:
        raise Skip('the built .policy files are needed')
    rc, out, err = client(sb, ALLOWED, '--no-ask-password', 'status')
    import xml.etree.ElementTree as ET
    for p in policies:
        for a in ET.parse(p).getroot().iter('action'):
            line = [l for l in out.splitlines() if l.split()[:1] == [a.get('id')]]
            want = a.find('description').text
            assert line and want in line[0], (a.get('id'), want, out)


@case('anyd-client --json status: version, modules, and what each uid may do')
def _(sb):
    for uid in (ROOT, ALLOWED, DENIED, CHALLENGE):
        rc, out, err = client(sb, uid, '--json', '--no-ask-password', 'status')
        assert rc == EXIT_OK, (WHO[uid], rc, out, err)
        doc = json.loads(out)
        assert list(find_key(doc, 'version')) or list(find_key(doc, 'Version')), doc
        answers = list(find_key(doc, MANAGE))
        if answers:
            assert answers[0] == EXPECTED_ANSWER[uid], (WHO[uid], answers, doc)
        else:
            assert EXPECTED_ANSWER[uid] in out and MANAGE in out, (WHO[uid], out)


@case('anyd-client reload: root and the allowed uid succeed, audited')
def _(sb):
    for uid in (ROOT, ALLOWED):
        m = sb.mark()
        rc, out, err = client(sb, uid, 'reload')
        assert rc == EXIT_OK, (WHO[uid], rc, out, err)
        sb.wait_audit(m, ANYD_CALLER_UID=str(uid), ANYD_RESULT='allowed')


@case('anyd-client reload as the denied uid: exit 3, one line on stderr')
def _(sb):
    rc, out, err = client(sb, DENIED, 'reload')
    assert rc == EXIT_NOT_AUTHORIZED, (rc, out, err)
    assert one_error_line(err), err
    assert 'org.anyd1.Error' not in err, 'remote error prefix not stripped: %r' % err


@case('anyd-client reload as the needs-password uid, no agent, no terminal: exit 3')
def _(sb):
    for args in (['--no-ask-password', 'reload'], ['reload']):
        t0 = time.monotonic()
        rc, out, err = client(sb, CHALLENGE, *args, timeout=30)
        dt = time.monotonic() - t0
        assert rc == EXIT_NOT_AUTHORIZED, (args, rc, out, err)
        assert one_error_line(err), (args, err)
        assert dt < 10, (args, dt)


@case('anyd-client --verbose traces the call and its reply on stderr, the interactive flag as asked')
def _(sb):
    rc, out, err = client(sb, ALLOWED, '--verbose', 'reload')
    assert rc == EXIT_OK, (rc, out, err)
    assert 'anyd-client: call org.anyd1.Manager.Reload on /org/anyd1 () [interactive]\n' in err, err
    assert 'anyd-client: reply ()\n' in err, err
    rc, out, err = client(sb, ALLOWED, '--verbose', '--no-ask-password', 'reload')
    assert rc == EXIT_OK, (rc, out, err)
    assert 'anyd-client: call org.anyd1.Manager.Reload on /org/anyd1 ()\n' in err, err


@case('anyd-client --json reload as the denied uid: a JSON error, exit 3')
def _(sb):
    rc, out, err = client(sb, DENIED, '--json', 'reload')
    assert rc == EXIT_NOT_AUTHORIZED, (rc, out, err)
    doc = json.loads(out)
    assert 'NotAuthorized' in json.dumps(doc) or 'error' in doc, doc


@case('anyd-client usage errors: exit 2')
def _(sb):
    for args in (['no-such-command'], ['--no-such-option', 'status'], ['status', 'extra']):
        rc, out, err = client(sb, ALLOWED, *args)
        assert rc == EXIT_USAGE, (args, rc, out, err)


@case('anyd-client when anyd is not running: exit 1 and a clear message')
def _(sb):
    sb.stop_anyd()
    rc, out, err = client(sb, ALLOWED, 'status', timeout=30)
    assert rc == EXIT_FAILURE, (rc, out, err)
    assert one_error_line(err), err
    sb.start_anyd()


@case('anyd-client when anyd cannot be started: the activation\'s failure, not "not running"')
def _(sb):
    sb.stop_anyd()
    assert not sb.has_owner('org.anyd1')
    try:
        # nothing activatable: "not running"
        rc, out, err = client(sb, ALLOWED, 'status', timeout=30)
        assert rc == EXIT_FAILURE and one_error_line(err) and 'anyd is not running' in err, (rc, out, err)
        # activatable, but its Exec= fails: the bus's reason, for reads
        # (status, listings, properties: the object manager and proxies
        # drop it) and calls alike; the bus runs Exec= once per command
        runs = os.path.join(anydtest.WORK, 'activation-runs')
        if os.path.exists(runs):
            os.unlink(runs)
        sb.install_activation(cmd='echo run >> %s; exit 3' % shlex.quote(runs))
        for n, args in enumerate((['status'], ['tun', 'list'], ['tun', 'show', 'x'],
                                  ['--json', 'status'], ['reload']), 1):
            rc, out, err = client(sb, ROOT, *args, timeout=30)
            with open(runs) as f:
                assert f.read() == 'run\n' * n, (args, n, 'activation attempts')
            assert rc == EXIT_FAILURE, (args, rc, out, err)
            if args[0] == '--json':
                assert json.loads(out)['error'] == 'org.freedesktop.DBus.Error.Spawn.ChildExited', out
                continue
            assert one_error_line(err), (args, err)
            assert 'not running' not in err and 'anyd could not be started' in err and '3' in err, (args, err)
    finally:
        sb.remove_activation()
        sb.start_anyd()


@case('anyd-client activates a stopped anyd for reads and calls alike')
def _(sb):
    sb.stop_anyd()
    # a short idle timeout: each command below finds anyd gone again
    sb.install_activation(('--idle-timeout', '1'))
    try:
        for args, want in ((['status'], EXIT_OK), (['tun', 'list'], EXIT_OK),
                           (['tun', 'show', 'x'], EXIT_NOT_FOUND), (['--json', 'status'], EXIT_OK),
                           (['reload'], EXIT_OK)):
            anydtest.wait_until(lambda: not sb.has_owner('org.anyd1'), 10 * anydtest.slow(sb),
                                what='the activated anyd to exit when idle')
            rc, out, err = client(sb, ROOT, *args, timeout=30 * anydtest.slow(sb))
            assert rc == want, (args, rc, out, err)
            assert 'anyd is not running' not in err and 'could not be started' not in err, (args, err)
    finally:
        sb.remove_activation()
        anydtest.wait_until(lambda: not sb.has_owner('org.anyd1'), 10 * anydtest.slow(sb),
                            what='the activated anyd to exit when idle')
        sb.start_anyd()


SD_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%(dir)s/socket</listen>
  <auth>EXTERNAL</auth>
  <servicedir>%(dir)s/services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow send_requested_reply="false" send_type="method_return"/>
    <allow receive_requested_reply="false" receive_type="method_return"/>
    <allow receive_requested_reply="false" receive_type="error"/>
    <allow send_requested_reply="false" send_type="error"/>
  </policy>
</busconfig>
"""

# A stand-in for systemd on that bus: answers every ActivationRequest
# with ActivationFailure (the unit is masked: an error GDBus's own
# auto-start ignores and carries on from) and counts the requests.
FAKE_SYSTEMD = r"""
import sys
from gi.repository import Gio, GLib
address, runs = sys.argv[1:]
bus = Gio.DBusConnection.new_for_address_sync(
    address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
    Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
def request(conn, sender, path, iface, member, params):
    with open(runs, 'a') as f:
        f.write(params.unpack()[0] + '\n')
    conn.emit_signal('org.freedesktop.DBus', '/org/freedesktop/systemd1',
                     'org.freedesktop.systemd1.Activator', 'ActivationFailure',
                     GLib.Variant('(sss)', (params.unpack()[0], 'org.freedesktop.systemd1.Masked',
                                            'Unit %s is masked.' % params.unpack()[0])))
bus.signal_subscribe('org.freedesktop.DBus', 'org.freedesktop.systemd1.Activator',
                     'ActivationRequest', None, None,
                     Gio.DBusSignalFlags.NONE, request)
bus.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
              'RequestName', GLib.Variant('(su)', ('org.freedesktop.systemd1', 4)),
              None, Gio.DBusCallFlags.NONE, -1, None)
print('ready', flush=True)
GLib.MainLoop().run()
"""


@case('anyd-client asks the bus to start anyd once per command: a masked anyd.service, one request each')
def _(sb):
    # a bus of its own, with systemd activation (SystemdService=) and a
    # stand-in systemd that refuses every start
    d = os.path.join(anydtest.WORK, 'sd-bus')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, 'services'))
    runs = os.path.join(d, 'activation-requests')
    with open(os.path.join(d, 'bus.conf'), 'w') as f:
        f.write(SD_BUS_CONFIG % {'dir': d})
    with open(os.path.join(d, 'services', 'org.anyd1.service'), 'w') as f:
        f.write('[D-BUS Service]\nName=org.anyd1\nExec=/bin/false\nUser=root\n'
                'SystemdService=anyd.service\n')
    address = 'unix:path=%s/socket' % d
    procs = []
    try:
        bus = subprocess.Popen(['dbus-daemon', '--config-file=' + os.path.join(d, 'bus.conf'),
                                '--nofork', '--nopidfile', '--systemd-activation', '--print-address=1'],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=sb.log('sd-bus.log'), start_new_session=True)
        procs.append(bus)
        assert bus.stdout.readline(), 'dbus-daemon with --systemd-activation did not start'
        fake = subprocess.Popen([sys.executable, '-c', FAKE_SYSTEMD, address, runs],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=sb.log('fake-systemd.log'), start_new_session=True)
        procs.append(fake)
        assert fake.stdout.readline() == b'ready\n', 'the stand-in systemd did not start'
        for n, args in enumerate((['status'], ['tun', 'list'], ['tun', 'show', 'x'],
                                  ['--json', 'status'], ['reload']), 1):
            rc, out, err = sb.run_as(ROOT, [sb.client_binary()] + args, timeout=30,
                                     env={'DBUS_SYSTEM_BUS_ADDRESS': address})
            with open(runs) as f:
                assert f.read() == 'anyd.service\n' * n, (args, n, 'activation requests')
            assert rc == EXIT_FAILURE, (args, rc, out, err)
            if args[0] == '--json':
                assert json.loads(out)['error'] == 'org.freedesktop.systemd1.Masked', out
                continue
            assert one_error_line(err), (args, err)
            assert 'anyd could not be started: Unit anyd.service is masked.' in err, (args, err)
    finally:
        for p in reversed(procs):
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


@case('--fields with status: the labelled rows and the ACTION table both take it')
def _(sb):
    rc, out, err = client(sb, ALLOWED, 'status')
    assert rc == EXIT_OK and re.search(r'^ACTION +ALLOWED', out, re.M), (rc, out, err)
    version = re.search(r'^Version: +(\S+)$', out, re.M).group(1)
    # a field of the labelled rows only: the ACTION table is left out
    rc, out, err = client(sb, ALLOWED, '--fields', 'version', 'status')
    assert (rc, err) == (EXIT_OK, '') and out.split() == ['Version:', version], (rc, out, err)
    # a field of each: both, one blank line between
    rc, out, err = client(sb, ALLOWED, '--fields', 'version,action', 'status')
    assert (rc, err) == (EXIT_OK, ''), (rc, out, err)
    lines = out.splitlines()
    assert lines[0].split() == ['Version:', version] and lines[1] == '' and lines[2] == 'ACTION', lines
    assert all(l.startswith('org.anyd1.') for l in lines[3:]) and len(lines) > 3, lines
    # a column only; --terse: no blank line, no header
    rc, out, err = client(sb, ALLOWED, '-t', '--fields', 'action,allowed', 'status')
    assert (rc, err) == (EXIT_OK, '') and out, (rc, out, err)
    assert all(re.match(r'^org\.anyd1\.[^:]+:(yes|no|after authentication)$', l) for l in out.splitlines()), out
    # a field no table has: a usage error naming the fields of both
    rc, out, err = client(sb, ALLOWED, '--fields', 'nosuch', 'status')
    assert rc == EXIT_USAGE and "unknown field 'nosuch'" in err, (rc, out, err)
    assert 'version,modules,caller,action,allowed,for' in err, err


@case('vpn status NAME of an unknown profile: exit 4, one line without a D-Bus path')
def _(sb):
    rc, out, err = client(sb, ALLOWED, '--no-ask-password', 'status')
    if 'vpn' not in out:
        raise Skip('the vpn module is not enabled here')
    rc, out, err = client(sb, ALLOWED, 'vpn', 'status', 'no-such-profile')
    assert rc == 4, (rc, out, err)
    assert err == "anyd-client: no VPN profile 'no-such-profile'\n", err


@case('a disabled module: listings say so and exit non-zero (not an empty list)')
def _(sb):
    sb.write_config('[tun]\nenabled=false\n[vpn]\nenabled=false\n')
    sb.restart_anyd()
    try:
        for args, module in ((['tun', 'list'], 'tun'), (['vpn', 'list'], 'vpn'),
                             (['vpn', 'status'], 'vpn'), (['tun', 'show', 'x'], 'tun')):
            rc, out, err = client(sb, ALLOWED, *args)
            assert rc == 1 and out == '', (args, rc, out, err)
            assert err == 'anyd-client: the %s module is not enabled in anyd\n' % module, (args, err)
            rc, out, err = client(sb, ALLOWED, '--json', *args)
            assert rc == 1 and json.loads(out)['error'] == 'org.anyd1.Error.NotSupported', (args, out)
    finally:
        sb.remove_config()
        sb.restart_anyd()


@case('Ctrl-D at the password prompt cancels the authentication: exit 3, no abort')
def _(sb):
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir('/')
        argv = anydtest.setpriv_prefix(CHALLENGE) + [sb.client_binary(), 'reload']
        os.execve('/usr/bin/' + argv[0], argv, anydtest.base_env())
    out = b''

    def read_until(pred, timeout=20):
        nonlocal out
        deadline = time.monotonic() + timeout
        while not pred() and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return False
                if not data:
                    return False
                out += data
        return pred()
    status = None
    try:
        assert read_until(lambda: b'assword' in out), out
        assert b'Ctrl-D cancels' in out, out
        os.write(fd, b'\x04')
        read_until(lambda: False, timeout=15)      # until the client closes the terminal
        deadline = time.monotonic() + 10
        while status is None and time.monotonic() < deadline:
            done, st = os.waitpid(pid, os.WNOHANG)
            status = st if done else None
            time.sleep(0.05)
    finally:
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)
    assert status is not None, ('the client did not exit', out)
    rc = os.waitstatus_to_exitcode(status)
    assert rc == EXIT_NOT_AUTHORIZED, (rc, out)
    text = out.decode(errors='replace')
    assert 'anyd-client: ' in text and 'Got unexpected EOF' not in text, text


def mount_german_catalogue(sb):
    """Puts the built German catalogue where anyd-client looks for it
    (LOCALEDIR) through an overlay in the sandbox's own mount namespace, so
    nothing outside changes.  Returns the overlay's mount point."""
    with open(os.path.join(sb.builddir, 'config.h')) as f:
        m = re.search(r'#define LOCALEDIR "([^"]+)"', f.read())
    mo = os.path.join(sb.builddir, 'po', 'de', 'LC_MESSAGES', 'anyd.mo')
    if m is None or not os.path.exists(mo):
        raise Skip('no built German catalogue')
    target = os.path.join(m.group(1), 'de', 'LC_MESSAGES')
    base = target
    while not os.path.isdir(base):
        base = os.path.dirname(base)
    if base.count('/') < 2:
        raise Skip('LOCALEDIR %s is too close to /' % m.group(1))
    work = os.path.join(anydtest.WORK, 'locale-overlay')
    for d in ('upper', 'work'):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    r = subprocess.run(['mount', '-t', 'overlay', 'anyd-test-locale', '-o',
                        'lowerdir=%s,upperdir=%s/upper,workdir=%s/work' % (base, work, work), base],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip('cannot overlay %s: %s' % (base, r.stderr.strip()))
    os.makedirs(target, exist_ok=True)
    shutil.copy(mo, os.path.join(target, 'anyd.mo'))
    return base


@case('--fields takes the untranslated column names under a German locale')
def _(sb):
    base = mount_german_catalogue(sb)
    # C.UTF-8 is always there; LANGUAGE picks the catalogue (de_DE need not be generated)
    german = {'LANG': 'C.UTF-8', 'LANGUAGE': 'de'}
    try:
        # COMMAND (exec ps) and TYPE are also usage words, which German
        # translates: the column headers show "BEFEHL" and "TYP"
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), 'vault', 'create-key', 'c-de', 'sign'])
        assert rc == 0, (rc, out, err)
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), 'vault', 'list-keys'], env=german)
        assert rc == EXIT_OK, (rc, out, err)
        header = out.splitlines()[0].split()
        if 'TYPE' in header:
            raise Skip('the German catalogue is not used: %r' % out)
        assert header == ['NAME', 'TYP', 'VERSION'], out
        for fields in ('TYPE,name', 'type,NAME', 'Typ,name'):
            rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '--fields', fields, 'vault', 'list-keys'],
                                     env=german)
            assert rc == EXIT_OK and err == '', (fields, rc, out, err)
            lines = out.splitlines()
            assert lines[0].split() == ['TYP', 'NAME'] and lines[1].split() == ['sign', 'c-de'], (fields, out)
        # an unknown name lists the names that work in every language
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '--fields', 'nosuch', 'vault', 'list-keys'],
                                 env=german)
        assert rc == EXIT_USAGE and 'name,type,version' in err, (rc, out, err)
        sb.run_as(ALLOWED, [sb.client_binary(), 'vault', 'delete-key', 'c-de'])
        # "Label:" rows too: German shows "Aktiv:" for "Up:"; -t prints the
        # name that works in every language
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), 'tun', 'create', 'c-de', '--mtu', '1400'])
        assert rc == 0, (rc, out, err)
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), 'tun', 'show', 'c-de'], env=german)
        assert rc == EXIT_OK and '\nAktiv:' in out, (rc, out, err)
        assert re.search(r'^Aktiv: +nein$', out, re.M), out   # the detail view stays translated
        # -t: keys and values for scripts, the same in every locale (as nmcli -t)
        for fields in ('mtu,up', 'MTU,Aktiv'):
            rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '-t', '--fields', fields, 'tun', 'show', 'c-de'],
                                     env=german)
            assert (rc, out, err) == (EXIT_OK, 'mtu:1400\nup:no\n', ''), (fields, rc, out, err)
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), 'tun', 'list'], env=german)
        assert rc == EXIT_OK and re.search(r'^c-de .* nein ', out, re.M), out
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '-t', '--fields', 'name,up,persistent', 'tun', 'list'],
                                 env=german)
        assert (rc, err) == (EXIT_OK, '') and 'c-de:no:yes' in out.splitlines(), (rc, out, err)
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '--json', 'tun', 'show', 'c-de'], env=german)
        assert rc == EXIT_OK and json.loads(out)['up'] is False, (rc, out, err)
        # status: the ALLOWED column says yes/no/… as is
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), 'status'], env=german)
        assert rc == EXIT_OK and re.search(r'^org\.anyd1\.\S+ +ja ', out, re.M), out
        rc, out, err = sb.run_as(ALLOWED, [sb.client_binary(), '-t', '--fields', 'action,allowed', 'status'],
                                 env=german)
        assert rc == EXIT_OK and re.search(r'^org\.anyd1\.[^:]+:yes$', out, re.M), (rc, out, err)
        assert not re.search(r':(ja|nein)$', out, re.M), out
        sb.run_as(ALLOWED, [sb.client_binary(), 'tun', 'delete', 'c-de'])
    finally:
        subprocess.run(['umount', base], check=False)


if __name__ == '__main__':
    anydtest.main()
