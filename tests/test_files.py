#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration tests of the files module (org.anyd1.Files) against a REAL
# systemd manager in the sandbox (anydtest's systemd=True: `systemd --user`
# as root owning org.freedesktop.systemd1 on the sandbox bus, started with a
# clean environment), the real polkitd with the test uids (65534 allowed,
# 2 denied, 1 needs a password, root) and anyd-files-helper from the build
# tree run as transient units.  Roots live on a tmpfs under /srv.

import hashlib
import os
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case  # noqa: E402

PATH = '/org/anyd1/files'
IFACE = 'org.anyd1.Files'
E = anydtest.ERROR_PREFIX
SRV = '/srv/anyd-files-test'
R = SRV + '/root'            # the configured root
R2 = SRV + '/other-root'     # a second root
OUT = SRV + '/outside'       # not a root
NOBODY = ALLOWED             # 65534
MAX = 64 * 1024 * 1024


def helper():
    return os.path.join(anydtest.builddir(), 'service', 'modules', 'files', 'anyd-files-helper')


CONFIG = ('[files]\nroots=%s;%s;%s/missing-root;\nmax_size=%d\nhelper=%s\n'
          % (R, R2, SRV, MAX, helper()))


def err_name(e):
    return e.name[len(E):] if e.name.startswith(E) else e.name


def expect_error(name, fn, *args, fragment=None, **kw):
    try:
        fn(*args, **kw)
    except DBusError as e:
        assert err_name(e) == name, (name, e.name, e.message)
        assert fragment is None or fragment in e.message, (fragment, e.message)
        return e
    raise AssertionError('no %s error' % name)


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b''.join(chunks)


def read_file(sb, uid, path, interactive=False, **opts):
    """ReadFile as uid; returns the bytes."""
    r = sb.connect_cached(uid).call_full(PATH, IFACE, 'ReadFile', '(sa{sv})',
                                         (path, variants(opts)), interactive=interactive)
    (fd,) = r.fds
    return read_all(fd)


def variants(opts):
    from gi.repository import GLib
    types = {'user': 's', 'max_size': 't', 'mode': 'u', 'create': 'b', 'replace': 'b',
             'size': 't'}
    return {k: GLib.Variant(types.get(k, 's'), v) for k, v in opts.items()}


def write_file(sb, uid, path, data, interactive=False, **opts):
    """WriteFile as uid with data through a pipe; returns the byte count."""
    rfd, wfd = os.pipe()
    t = threading.Thread(target=_feed, args=(wfd, data))
    t.start()
    try:
        return sb.connect_cached(uid).call(PATH, IFACE, 'WriteFile', '(sha{sv})',
                                           (path, 0, variants(opts)), fds=[rfd],
                                           interactive=interactive, timeout=120)
    finally:
        os.close(rfd)
        t.join()


def _feed(fd, data):
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view[:1 << 20])
            view = view[n:]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def listing(top=SRV):
    names = set()
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            names.add(os.path.relpath(os.path.join(d, n), top))
    return names


def put(path, data, mode=0o644, uid=0):
    with open(path, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, uid, anydtest.user_gid(uid) if uid else 0)


_CONNS = {}


def _connect_cached(self, uid):
    c = _CONNS.get(uid)
    if c is None or c.proc.poll() is not None:
        c = _CONNS[uid] = self.connect(uid)
    return c


anydtest.Sandbox.connect_cached = _connect_cached


@case('setup: roots, files, the helper in place', needs_anyd=False)
def _(sb):
    os.makedirs(SRV, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'none', SRV], check=True)
    for d in (R, R2, OUT, R + '/sub', R + '/dir', R + '/mnt', R + '/udir'):
        os.makedirs(d)
    os.chown(R + '/udir', NOBODY, anydtest.user_gid(NOBODY))
    put(OUT + '/secret', b'outside\n')
    put(R + '/sub/b.txt', b'inside\n')
    put(R + '/private', b'root only\n', 0o600)
    put(R + '/public', b'anyone\n')
    put(R + '/udir/roots', b'root\'s\n', 0o644)
    put(R2 + '/two', b'second root\n')
    os.symlink('sub/b.txt', R + '/link-in')
    os.symlink(OUT + '/secret', R + '/abs-out')
    os.symlink('../outside/secret', R + '/rel-out')
    os.symlink('/proc/self/fd/0', R + '/procfd')
    os.symlink('/proc/self/root' + OUT + '/secret', R + '/proc-root')
    os.symlink(OUT, R + '/dirlink-out')
    os.symlink('loop2', R + '/loop1')
    os.symlink('loop1', R + '/loop2')
    os.mkfifo(R + '/fifo')
    os.mknod(R + '/null', 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(R + '/sock')
    s.close()
    subprocess.run(['mount', '-t', 'tmpfs', 'none', R + '/mnt'], check=True)
    put(R + '/mnt/x', b'other fs\n')
    sb.write_config(CONFIG)
    sb.restart_anyd()
    assert os.access(helper(), os.X_OK), helper()


@case('introspection: org.anyd1.Files at /org/anyd1/files, module listed')
def _(sb):
    props = sb.connect_cached(ROOT).get_all_properties('/org/anyd1', 'org.anyd1.Manager')
    assert 'files' in props['Modules'], props
    rc, out = sb.busctl(ROOT, 'introspect', 'org.anyd1', PATH, IFACE)
    assert '.ReadFile' in out and '.WriteFile' in out, out


@case('round trip of a binary file as the caller (root and nobody)')
def _(sb):
    data = os.urandom(5 * 1024 * 1024 + 11)
    n = write_file(sb, ROOT, R + '/bin', data)
    assert n == len(data), n
    assert read_file(sb, ROOT, R + '/bin') == data
    small = bytes(range(256)) * 3
    assert write_file(sb, NOBODY, R + '/udir/mine', small, mode=0o600) == len(small)
    st = os.stat(R + '/udir/mine')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o600), st
    assert read_file(sb, NOBODY, R + '/udir/mine') == small


if __name__ == '__main__':
    anydtest.main(systemd=True, config=CONFIG)
