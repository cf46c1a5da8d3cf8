#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# libanyd through GObject Introspection, as a desktop program uses it:
# PyGObject (and GJS when installed) load the built Anyd-1.0 typelib and run
# as the test uids against the real daemon and polkitd of the sandbox.  The
# example examples/vpn-watch.py follows a real WireGuard connection.

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anydtest  # noqa: E402
from anydtest import (ALLOWED, CHALLENGE, DENIED, PYTHON, ROOT, Skip, case,  # noqa: E402
                      setpriv_prefix, base_env)
import vpnpeer  # noqa: E402

BUILT_LIBDIR = os.path.join(anydtest.builddir(), 'lib')
# The test uids load the library, typelib and example from a copy in /run:
# they may not enter the checkout (e.g. one under /root).
LIBDIR = '/run/anyd-test/lib'
EXAMPLE = os.path.join(LIBDIR, 'vpn-watch.py')
PEER = vpnpeer.Peer()

# Every script starts with this: the typelib and a client on the system bus.
PRELUDE = '''
import json, sys
import gi
gi.require_version('Anyd', '1.0')
from gi.repository import Anyd, Gio, GLib
client = Anyd.Client.new_sync(None)
def out(v):
    print(json.dumps(v), flush=True)
def err_name(e):
    for n in dir(Anyd.Error):
        if n.isupper() and e.matches(Anyd.error_quark(), getattr(Anyd.Error, n)):
            return n
    return '%s:%d' % (e.domain, e.code)
'''


def stage_lib():
    if not os.path.exists(os.path.join(BUILT_LIBDIR, 'Anyd-1.0.typelib')):
        raise Skip('the typelib is not built')
    os.makedirs(LIBDIR, mode=0o755, exist_ok=True)
    for name in os.listdir(BUILT_LIBDIR):
        if name == 'Anyd-1.0.typelib' or (name.startswith('libanyd.so') and not name.endswith('.p')):
            src, dst = os.path.join(BUILT_LIBDIR, name), os.path.join(LIBDIR, name)
            if os.path.lexists(dst):
                os.unlink(dst)
            shutil.copy2(src, dst, follow_symlinks=False)
    shutil.copy2(os.path.join(anydtest.srcdir(), 'examples', 'vpn-watch.py'), EXAMPLE)


def lib_env():
    if not os.path.exists(os.path.join(LIBDIR, 'Anyd-1.0.typelib')):
        stage_lib()
    env = {'GI_TYPELIB_PATH': LIBDIR, 'LD_LIBRARY_PATH': LIBDIR}
    # A sanitizer build of the library needs its runtime loaded first.
    ldd = subprocess.run(['ldd', os.path.join(LIBDIR, 'libanyd.so')],
                         stdout=subprocess.PIPE, text=True).stdout
    preload = [l.split()[2] for l in ldd.splitlines()
               if ('libasan' in l or 'libubsan' in l) and '=>' in l]
    if preload:
        env['LD_PRELOAD'] = ' '.join(preload)
        env['ASAN_OPTIONS'] = 'detect_leaks=0'
    return env


def py(sb, uid, body, timeout=60):
    """Run PRELUDE + body as uid; returns the JSON lines it printed."""
    rc, out, err = sb.run_as(uid, [PYTHON, '-c', PRELUDE + body], env=lib_env(), timeout=timeout)
    assert rc == 0, (rc, out, err)
    return [json.loads(l) for l in out.splitlines() if l.strip()]


@case('the typelib loads as an unprivileged uid; Manager and modules are typed')
def _(sb):
    (got,) = py(sb, ALLOWED, '''
m = client.get_manager()
out({'version': m.props.version, 'modules': list(m.props.modules),
     'tun': client.has_module('tun'), 'interactive': client.props.allow_interactive_authorization,
     'tun_proxy': type(client.get_tun()).__name__})
''')
    assert got['version'] == os.environ.get('ANYD_VERSION', got['version']), got
    assert 'tun' in got['modules'] and got['tun'] is True, got
    assert got['interactive'] is True, got
    assert got['tun_proxy'] == 'TunProxy', got


@case('list TUN devices through the object manager')
def _(sb):
    sb.call(ROOT, '/org/anyd1/tun', 'org.anyd1.Tun', 'Create', '(sa{sv})',
            ('lib-list0', {'persist': GLib_bool(True)}))
    try:
        (got,) = py(sb, ALLOWED, '''
devs = []
for obj in client.props.object_manager.get_objects():
    d = obj.get_tun_device()
    if d is not None:
        devs.append({'name': d.props.name, 'mode': d.props.mode, 'persistent': d.props.persistent,
                     'same': client.get_tun_device(d.props.name).props.index == d.props.index})
out(devs)
''')
        assert {'name': 'lib-list0', 'mode': 'tun', 'persistent': True, 'same': True} in got, got
    finally:
        sb.call(ROOT, '/org/anyd1/tun/lib_2dlist0', 'org.anyd1.TunDevice', 'Delete')


def GLib_bool(b):
    from gi.repository import GLib
    return GLib.Variant('b', b)


@case('create, change and delete a device through the typelib as the allowed uid')
def _(sb):
    got = py(sb, ALLOWED, '''
tun = client.get_tun()
opts = Anyd.Options.new_tun('tun', 1400, ['10.77.0.1/24'], True, True)
opts.set_uint32('owner', 65534)
path = tun.call_create_sync('lib-dev0', opts.end(), Gio.DBusCallFlags.NONE, -1, None)
out(path)
ctx = GLib.MainContext.default()
dev = None
for _ in range(200):            # the object manager learns of it (and its addresses) by signal
    dev = dev or client.get_tun_device('lib-dev0')
    if dev is not None and list(dev.props.addresses):
        break
    ctx.iteration(True)
out({'mtu': dev.props.mtu, 'addresses': list(dev.props.addresses), 'up': dev.props.up})
dev.call_set_mtu_sync(1300, Gio.DBusCallFlags.NONE, -1, None)
out('mtu set')
dev.call_delete_sync(Gio.DBusCallFlags.NONE, -1, None)
try:
    dev.call_delete_sync(Gio.DBusCallFlags.NONE, -1, None)
    out('deleted twice')
except GLib.Error as e:
    out(err_name(e))
''')
    assert got[0] == '/org/anyd1/tun/lib_2ddev0', got
    assert got[1] == {'mtu': 1400, 'addresses': ['10.77.0.1/24'], 'up': True}, got
    # gone for real: the kernel has no such link
    r = subprocess.run(['ip', 'link', 'show', 'lib-dev0'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode != 0, r.stdout
    assert got[3] in ('NOT_FOUND', 'NOT_SUPPORTED'), got


@case('the denied uid gets Anyd.Error.NOT_AUTHORIZED, the message without a D-Bus prefix once stripped')
def _(sb):
    got = py(sb, DENIED, '''
try:
    client.get_tun().call_create_sync('lib-no', Anyd.Options.new().end(),
                                      Gio.DBusCallFlags.NONE, -1, None)
    out('created')
except GLib.Error as e:
    out(err_name(e))
    out(e.domain)
    out(e.message)
    out(Anyd.error_get_message(e))
''')
    assert got[0] == 'NOT_AUTHORIZED', got
    assert got[1] == 'anyd-error-quark', got
    assert got[2].startswith('GDBus.Error:org.anyd1.Error.NotAuthorized: '), got
    assert got[3] == got[2].split(': ', 1)[1] and 'org.anyd1.tun.manage' in got[3], got
    r = subprocess.run(['ip', 'link', 'show', 'lib-no'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert r.returncode != 0


@case('with allow-interactive-authorization off, the password uid gets NOT_AUTHORIZED_CAN_OBTAIN')
def _(sb):
    got = py(sb, CHALLENGE, '''
client.props.allow_interactive_authorization = False
try:
    client.get_tun().call_create_sync('lib-pw', Anyd.Options.new().end(),
                                      Gio.DBusCallFlags.NONE, -1, None)
    out('created')
except GLib.Error as e:
    out(err_name(e))
''')
    assert got == ['NOT_AUTHORIZED_CAN_OBTAIN'], got


@case('Exec.Run through the typed proxy: a pipe as stdout and stderr in a Gio.UnixFDList')
def _(sb):
    got = py(sb, ALLOWED, '''
import os, select, time
exe = client.get_exec()
r, w = os.pipe()
fds = Gio.UnixFDList.new()
opts = Anyd.Options.new_exec('/', None, 20000)
opts.set_fd('stdout', fds, w)
opts.set_handle('stderr', fds.append(w))    # the same pipe, by index
os.close(w)                                 # the list holds its own copies
path, _ = exe.call_run_sync(['/bin/sh', '-c', 'echo "$0 $1"; echo to-stderr >&2; id -un', 'hello', 'lib'],
                            opts.end(), Gio.DBusCallFlags.NONE, -1, fds, None)
del fds                                     # only the command holds the write end now
data, chunk, deadline = b'', None, time.monotonic() + 20
while time.monotonic() < deadline:
    if select.select([r], [], [], 1)[0]:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
proc = Anyd.ExecProcessProxy.new_sync(client.get_connection(), Gio.DBusProxyFlags.NONE,
                                      'org.anyd1', path, None)
out({'path': path, 'output': data.decode(), 'eof': chunk == b'',
     'status': list(proc.call_wait_sync(Gio.DBusCallFlags.NONE, -1, None))})
''')
    assert got[0]['path'].startswith('/org/anyd1/exec/processes/'), got
    assert got[0]['output'] == 'hello lib\nto-stderr\nnobody\n' and got[0]['eof'], got
    assert got[0]['status'] == ['exited', 0, 0], got


@case('GJS loads the typelib too', needs_anyd=True)
def _(sb):
    gjs = shutil.which('gjs')
    if gjs is None:
        raise Skip('gjs is not installed')
    rc, out, err = sb.run_as(ALLOWED, [gjs, '-c', '''
imports.gi.versions.Anyd = '1.0';
const Anyd = imports.gi.Anyd;
const c = Anyd.Client.new_sync(null);
print(c.get_manager().version + ' ' + c.has_module('tun') + ' ' +
      Anyd.vpn_state_to_string(Anyd.VpnState.CONNECTED));
'''], env=lib_env())
    if rc != 0 and 'LD_PRELOAD' in lib_env():
        raise Skip('gjs under a sanitizer build: %s' % err.strip().splitlines()[-1:])
    assert rc == 0, (rc, out, err)
    assert out.split() == [os.environ.get('ANYD_VERSION', out.split()[0]), 'true', 'connected'], out


@case("README's Python snippet runs as written (allowed uid), and as the denied uid says so")
def _(sb):
    import re
    with open(os.path.join(anydtest.srcdir(), 'README.md')) as f:
        snippet = re.search(r'```python\n(.*?)```', f.read(), re.S).group(1)
    sb.call(ROOT, '/org/anyd1/vault', 'org.anyd1.Vault', 'Put', '(saya{sv})',
            ('db/password', b'x', {}))
    try:
        rc, out, err = sb.run_as(ALLOWED, [PYTHON, '-c', snippet], env=lib_env())
        assert rc == 0 and out == '', (rc, out, err)
        assert subprocess.run(['ip', 'link', 'show', 'mytun'], capture_output=True).returncode == 0
        sb.call(ROOT, '/org/anyd1/tun/mytun', 'org.anyd1.TunDevice', 'Delete')
        # the denied uid cannot even create the device: the snippet's first call raises
        rc, out, err = sb.run_as(DENIED, [PYTHON, '-c', snippet], env=lib_env())
        assert rc != 0 and 'anyd-error-quark' in err and 'Not authorized' in err, (rc, out, err)
    finally:
        sb.call(ROOT, '/org/anyd1/vault', 'org.anyd1.Vault', 'Delete', '(s)', ('db/password',))


@case('examples/vpn-watch.py follows a real WireGuard connection up and down')
def _(sb):
    if shutil.which('wireguard-go') is None:
        raise Skip('wireguard-go is not installed')
    sb.write_config('[vpn]\nhandshake_timeout_s=5\n')
    sb.restart_anyd()
    PEER.start()
    priv, pub = vpnpeer.genkey()
    PEER.allow(pub)
    sb.call(ROOT, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'ImportProfile', '(ssa{sv})',
            ('wg-lib', vpnpeer.profile(priv, PEER.pub), {}))
    watcher = subprocess.Popen(setpriv_prefix(ALLOWED) + [PYTHON, EXAMPLE],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=base_env(lib_env()), cwd='/')
    lines = []
    buf = [b'']

    def saw(text):
        """Wait for a line; reads the pipe unbuffered, so no line hides in a buffer."""
        import select
        deadline = time.monotonic() + 20
        while text not in lines and time.monotonic() < deadline:
            r, _, _ = select.select([watcher.stdout], [], [], 0.2)
            if r:
                data = os.read(watcher.stdout.fileno(), 4096)
                if not data:
                    break
                buf[0] += data
                *done, buf[0] = buf[0].split(b'\n')
                lines.extend(l.decode().strip() for l in done)
        assert text in lines, (text, lines, stop_watcher())

    def stop_watcher():
        if watcher.poll() is None:
            watcher.terminate()
        return watcher.communicate(timeout=10)[1].decode(errors='replace')

    try:
        saw('watching')
        sb.call(ALLOWED, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'Connect', '(s)', ('wg-lib',))
        saw('wg-lib connected')
        assert lines.index('wg-lib connected') > min(i for i, l in enumerate(lines)
                                                     if l.startswith('wg-lib connecting')), lines
        sb.call(ALLOWED, '/org/anyd1/vpn', 'org.anyd1.Vpn', 'Disconnect', '(s)', ('wg-lib',))
        saw('wg-lib removed')
        assert any(l.startswith('wg-lib disconnect') for l in lines), lines
    finally:
        err = stop_watcher()
        PEER.stop()
    assert 'Traceback' not in err or 'KeyboardInterrupt' in err, err


anydtest.main(systemd=True)   # VPN data planes are systemd units
