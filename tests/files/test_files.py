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
import shutil
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: anydtest

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, Skip, case  # noqa: E402

PATH = '/org/anyd1/files'
IFACE = 'org.anyd1.Files'
E = anydtest.ERROR_PREFIX
SRV = '/srv/anyd-files-test'
R = SRV + '/root'            # the configured root
R2 = SRV + '/other-root'     # a second root
OUT = SRV + '/outside'       # not a root
HOME = '/home/anyd-files-test'  # a root under ProtectHome=read-only (tmpfs /home here)
NOBODY = ALLOWED             # 65534
MAX = 64 * 1024 * 1024


def built_helper():
    return os.path.join(anydtest.builddir(), 'service', 'modules', 'files', 'anyd-files-helper')


def helper():
    """Where the sandbox runs the helper from: a copy in /run, since it runs
    as the target user, who may not enter the checkout (e.g. under /root)."""
    return '/run/anyd-test/files-helper/anyd-files-helper'


CONFIG = ('[files]\nroots=%s;%s;%s/missing-root;%s;\nmax_size=%d\nhelper=%s\n'
          % (R, R2, SRV, HOME, MAX, helper()))


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
    return {k: v if isinstance(v, GLib.Variant) else GLib.Variant(types.get(k, 's'), v)
            for k, v in opts.items()}


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
    return anydtest.tree_names(top)


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
    anydtest.write_owned(OUT + '/secret', b'outside\n')
    anydtest.write_owned(R + '/sub/b.txt', b'inside\n')
    anydtest.write_owned(R + '/private', b'root only\n', 0o600)
    anydtest.write_owned(R + '/public', b'anyone\n')
    anydtest.write_owned(R + '/udir/roots', b'root\'s\n', 0o644)
    anydtest.write_owned(R2 + '/two', b'second root\n')
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
    # the sandbox's own /home (a private mount namespace: the host's is untouched)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'none', '/home'], check=True)
    os.makedirs(HOME)
    os.chown(HOME, NOBODY, anydtest.user_gid(NOBODY))
    anydtest.write_owned(R + '/mnt/x', b'other fs\n')
    os.makedirs(os.path.dirname(helper()), mode=0o755, exist_ok=True)
    shutil.copy2(built_helper(), helper())
    sb.write_config(CONFIG)
    sb.restart_anyd()
    assert os.access(helper(), os.X_OK), helper()


@case('introspection: org.anyd1.Files at /org/anyd1/files, module listed')
def _(sb):
    props = sb.connect_cached(ROOT).get_all_properties('/org/anyd1', 'org.anyd1.Manager')
    assert 'files' in props['Modules'], props
    rc, out, _ = sb.busctl(ROOT, 'introspect', 'org.anyd1', PATH, IFACE)
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



@case('as another user: that user\'s permissions apply, not anyd\'s (root\'s)')
def _(sb):
    # root asks to read as nobody: a 0600 root file stays closed
    e = expect_error('NotAuthorized', read_file, sb, ROOT, R + '/private', user='nobody')
    assert R + '/private' in e.message and 'nobody' in e.message, e.message
    assert read_file(sb, ROOT, R + '/public', user='nobody') == b'anyone\n'
    # nobody (polkit allows it anything here) reads as root
    assert read_file(sb, NOBODY, R + '/private', user='root') == b'root only\n'
    assert read_file(sb, NOBODY, R + '/private', user='0') == b'root only\n'   # by uid
    expect_error('NotAuthorized', read_file, sb, ROOT, R + '/private', user='65534')
    for user in ('no-such-user-q', '3999999'):
        e = expect_error('InvalidArgument', read_file, sb, ROOT, R + '/public', user=user)
        assert e.message == "user: no user '%s'" % user, e.message
    # a file nobody may not replace, in a directory nobody may write
    expect_error('NotAuthorized', write_file, sb, ROOT, R + '/udir/roots', b'x', user='nobody')
    assert open(R + '/udir/roots', 'rb').read() == b'root\'s\n'
    expect_error('NotAuthorized', write_file, sb, ROOT, R + '/sub/new', b'x', user='nobody')
    assert not os.path.exists(R + '/sub/new')
    # a new file as nobody is nobody's, with the mode asked for
    assert write_file(sb, ROOT, R + '/udir/made', b'made\n', user='nobody', mode=0o640) == 5
    st = os.stat(R + '/udir/made')
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == \
        (NOBODY, anydtest.user_gid(NOBODY), 0o640), st


@case('a root under /home is writable for the helper despite ProtectHome=read-only')
def _(sb):
    assert write_file(sb, NOBODY, HOME + '/notes', b'home\n') == 5
    assert os.stat(HOME + '/notes').st_uid == NOBODY
    assert read_file(sb, NOBODY, HOME + '/notes') == b'home\n'


@case('mode defaults to 0644 & ~umask; a new file belongs to the target user')
def _(sb):
    write_file(sb, ROOT, R + '/defmode', b'd')
    st = os.stat(R + '/defmode')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (0, 0o644), st
    write_file(sb, ROOT, R + '/defmode', b'e', mode=0o600)
    assert stat.S_IMODE(os.stat(R + '/defmode').st_mode) == 0o600
    expect_error('InvalidArgument', write_file, sb, ROOT, R + '/suid', b'x', mode=0o4755,
                 fragment='mode')
    assert not os.path.exists(R + '/suid')


@case('replace=false on an existing file is Exists; create=false on a missing one NotFound')
def _(sb):
    anydtest.write_owned(R + '/keep', b'old\n')
    before = listing()
    expect_error('Exists', write_file, sb, ROOT, R + '/keep', b'new\n', replace=False,
                 fragment=R + '/keep')
    assert open(R + '/keep', 'rb').read() == b'old\n'
    expect_error('NotFound', write_file, sb, ROOT, R + '/absent', b'x', create=False,
                 fragment=R + '/absent')
    expect_error('NotFound', write_file, sb, ROOT, R + '/nodir/x', b'x', fragment=R + '/nodir')
    expect_error('NotFound', read_file, sb, ROOT, R + '/absent', fragment=R + '/absent')
    assert listing() == before, listing() ^ before
    assert write_file(sb, ROOT, R + '/keep', b'new\n', replace=True) == 4
    assert write_file(sb, ROOT, R + '/fresh', b'f', replace=False) == 1


# (path, error, what); every one must leave the tree as it was
ESCAPES = [
    (R + '/../outside/secret', 'InvalidArgument', '".." out of the root'),
    (R + '/sub/../sub/b.txt', 'InvalidArgument', '".." even when it stays inside'),
    (R + '/abs-out', 'InvalidArgument', 'an absolute symbolic link out'),
    (R + '/rel-out', 'InvalidArgument', 'a relative symbolic link out'),
    (R + '/dirlink-out/secret', 'InvalidArgument', 'a directory symlink out'),
    (R + '/procfd', 'InvalidArgument', 'a symlink to /proc/self/fd/0'),
    (R + '/proc-root', 'InvalidArgument', 'a symlink through /proc/self/root'),
    (R + '/loop1', 'InvalidArgument', 'a symlink loop'),
    (R + '/mnt/x', 'InvalidArgument', 'another file system inside the root'),
    (R + '/fifo', 'InvalidArgument', 'a FIFO'),
    (R + '/null', 'InvalidArgument', 'a device'),
    (R + '/sock', 'InvalidArgument', 'a socket'),
    (R + '/dir', 'InvalidArgument', 'a directory'),
    (R + '/sub/', 'InvalidArgument', 'a trailing slash'),
    (R, 'InvalidArgument', 'the root itself'),
    ('relative/path', 'InvalidArgument', 'a relative path'),
    ('', 'InvalidArgument', 'an empty path'),
    (R + '/a\nb', 'InvalidArgument', 'a control character'),
    (OUT + '/secret', 'NotAuthorized', 'a path outside every root'),
    ('/etc/passwd', 'NotAuthorized', 'a system file'),
    (R + 'x/secret', 'NotAuthorized', 'a sibling that shares the root\'s prefix'),
    (SRV + '/missing-root/x', 'NotFound', 'a configured root that does not exist'),
]


@case('every escape is refused by ReadFile, naming the path')
def _(sb):
    for path, name, what in ESCAPES:
        try:
            e = expect_error(name, read_file, sb, ROOT, path)
        except AssertionError as ex:
            raise AssertionError('%s (%r): %s' % (what, path, ex))
        shown = path.replace('\n', '\\n')
        assert path == '' or shown in e.message or path.rstrip('/') in e.message, (what, e.message)


@case('every escape is refused by WriteFile and nothing is written anywhere')
def _(sb):
    before = listing()
    for path, name, what in ESCAPES:
        try:
            expect_error(name, write_file, sb, ROOT, path, b'payload')
        except AssertionError as ex:
            raise AssertionError('%s (%r): %s' % (what, path, ex))
    assert listing() == before, listing() ^ before
    assert open(OUT + '/secret', 'rb').read() == b'outside\n'


@case('symbolic links that stay inside the root work; a second root works')
def _(sb):
    assert read_file(sb, ROOT, R + '/link-in') == b'inside\n'
    assert read_file(sb, ROOT, R + '//sub/./b.txt') == b'inside\n'
    assert read_file(sb, ROOT, R2 + '/two') == b'second root\n'


@case('bad options and fds: InvalidArgument naming the field, nothing written')
def _(sb):
    from gi.repository import GLib
    before = listing()
    for opts, field in (({'user': 'no-such-user-x'}, 'user'), ({'user': 'a b'}, 'user'),
                        ({'user': ''}, 'user'), ({'mode': 0o1000}, 'mode'),
                        ({'max_size': GLib.Variant('s', 'x')}, 'max_size'),
                        ({'bogus': 'x'}, 'bogus')):
        expect_error('InvalidArgument', write_file, sb, ROOT, R + '/opt', b'x', fragment=field,
                     **opts)
    from gi.repository import GLib
    c = sb.connect_cached(ROOT)
    e = expect_error('InvalidArgument', c.call, PATH, IFACE, 'ReadFile', '(sa{sv})',
                     (R + '/public', {'create': GLib.Variant('b', True)}))
    assert 'create' in e.message
    # a write-only fd, and no fd at all
    rfd, wfd = os.pipe()
    try:
        expect_error('InvalidArgument', c.call, PATH, IFACE, 'WriteFile', '(sha{sv})',
                     (R + '/opt', 0, {}), fds=[wfd], fragment='fd')
        expect_error('InvalidArgument', c.call, PATH, IFACE, 'WriteFile', '(sha{sv})',
                     (R + '/opt', 0, {}), fragment='fd')
    finally:
        os.close(rfd)
        os.close(wfd)
    assert listing() == before, listing() ^ before


@case('max_size: the option and [files] max_size cap reads and writes; size must match')
def _(sb):
    anydtest.write_owned(R + '/hundred', b'h' * 100)
    assert read_file(sb, ROOT, R + '/hundred', max_size=100) == b'h' * 100
    expect_error('InvalidArgument', read_file, sb, ROOT, R + '/hundred', max_size=99,
                 fragment='max_size')
    anydtest.write_owned(R + '/limited', b'original\n')
    before = listing()
    expect_error('InvalidArgument', write_file, sb, ROOT, R + '/limited', b'y' * 101,
                 max_size=100, fragment='max_size')
    # the configured cap (64 MiB) wins over a bigger option
    expect_error('InvalidArgument', write_file, sb, ROOT, R + '/limited',
                 b'z' * (MAX + 1), max_size=2 * MAX, fragment='max_size')
    # size: fewer bytes than announced is Failed, more is InvalidArgument,
    # more than max_size (the option's or the configured one) is refused up front
    expect_error('Failed', write_file, sb, ROOT, R + '/limited', b'short',
                 size=10, fragment=R + "/limited: size: the data ended after 5 of 10 bytes")
    expect_error('InvalidArgument', write_file, sb, ROOT, R + '/limited', b'too long',
                 size=3, fragment='size: more than the 3 bytes announced arrived')
    e = expect_error('InvalidArgument', write_file, sb, ROOT, R + '/limited', b'x',
                     size=101, max_size=100, fragment='size')
    assert e.message.startswith('size: '), e.message
    e = expect_error('InvalidArgument', write_file, sb, ROOT, R + '/limited', b'x',
                     size=MAX + 1, fragment='size')
    assert e.message.startswith('size: '), e.message
    assert open(R + '/limited', 'rb').read() == b'original\n'
    assert listing() == before, listing() ^ before
    assert write_file(sb, ROOT, R + '/limited', b'exact', size=5) == 5


def units():
    rc, out = sb_global.systemctl('list-units', '--all', '--plain', '--no-legend',
                                  'anyd-files-*', check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


sb_global = None


@case('a write whose helper is killed midway leaves the old content, no temp file')
def _(sb):
    global sb_global
    sb_global = sb
    anydtest.write_owned(R + '/victim', b'keep me\n')
    before = listing()
    rfd, wfd = os.pipe()
    c = sb.connect_cached(ROOT)
    p = c.call_async(PATH, IFACE, 'WriteFile', '(sha{sv})', (R + '/victim', 0, {}), fds=[rfd])
    os.close(rfd)
    os.write(wfd, os.urandom(256 * 1024))
    running = anydtest.wait_until(units, what='the helper unit')
    sb.systemctl('kill', '--signal=KILL', running[0])
    try:
        e = None
        try:
            p.wait(30)
        except DBusError as ex:
            e = ex
        assert e is not None and err_name(e) == 'Failed', e
        assert R + '/victim' in e.message, e.message
    finally:
        os.close(wfd)
    assert open(R + '/victim', 'rb').read() == b'keep me\n'
    assert listing() == before, listing() ^ before
    anydtest.wait_until(lambda: not units(), what='the unit to go away')


@case('a caller that leaves the bus mid-write (no size): its unit is stopped, old file kept')
def _(sb):
    # The caller is the connection's process; the pipe's write end is held
    # by this test process, so the helper sees no EOF when the caller dies:
    # only anyd noticing the caller's name vanish can end the transfer.
    # (Without that, the unit runs on and the EOF below commits 4 KiB.)
    anydtest.write_owned(R + '/victim2', b'keep me too\n')
    before = listing()
    c = sb.connect(ROOT)
    rfd, wfd = os.pipe()
    try:
        c.call_async(PATH, IFACE, 'WriteFile', '(sha{sv})', (R + '/victim2', 0, {}), fds=[rfd])
        os.close(rfd)
        os.write(wfd, b'x' * 4096)
        anydtest.wait_until(units, what='the helper unit')
        m = sb.mark()
        c.kill()
        anydtest.wait_until(lambda: not units(), timeout=10 * anydtest.slow(sb),
                            what='anyd to stop the unit of a caller that left')
    finally:
        os.close(wfd)
    rec = sb.wait_audit(m, ANYD_ACTION='files.write', ANYD_RESULT='error')
    assert 'left the bus' in rec.get('MESSAGE', ''), rec
    assert rec['ANYD_OBJECT'] == R + '/victim2', rec
    assert open(R + '/victim2', 'rb').read() == b'keep me too\n'
    assert listing() == before, listing() ^ before


@case('a caller killed midway with size announced: short data is refused, exactly; complete data kept')
def _(sb):
    # the caller's death as the helper sees it: EOF after 4 KiB of 1 MiB
    anydtest.write_owned(R + '/victim3', b'keep me three\n')
    before = listing()
    c = sb.connect(ROOT)
    rfd, wfd = os.pipe()
    m = sb.mark()
    try:
        c.call_async(PATH, IFACE, 'WriteFile', '(sha{sv})',
                     (R + '/victim3', 0, variants({'size': 1 << 20})), fds=[rfd])
        os.close(rfd)
        os.write(wfd, b'x' * 4096)
        anydtest.wait_until(units, what='the helper unit')
    finally:
        os.close(wfd)
    rec = sb.wait_audit(m, ANYD_ACTION='files.write', ANYD_RESULT='error')
    assert 'size: the data ended after 4096 of 1048576 bytes' in rec.get('MESSAGE', ''), rec
    c.kill()
    anydtest.wait_until(lambda: not units(), what='the unit to go away')
    assert open(R + '/victim3', 'rb').read() == b'keep me three\n'
    assert listing() == before, listing() ^ before
    # with size, a caller that leaves once its data is on the way keeps its
    # write: the helper's count decides, not the caller's vanish
    c = sb.connect(ROOT)
    rfd, wfd = os.pipe()
    try:
        c.call_async(PATH, IFACE, 'WriteFile', '(sha{sv})',
                     (R + '/victim3', 0, variants({'size': 5})), fds=[rfd])
        os.close(rfd)
        os.write(wfd, b'whole')
        anydtest.wait_until(units, what='the helper unit')
        m = sb.mark()
        c.kill()
        time.sleep(1)   # a stop would have come by now (the case above: milliseconds)
    finally:
        os.close(wfd)
    sb.wait_audit(m, ANYD_ACTION='files.write', ANYD_RESULT='ok')
    assert open(R + '/victim3', 'rb').read() == b'whole'


@case('[files] idle_timeout_s: a write whose fd stays open and a read never read are stopped')
def _(sb):
    sb.write_config('[files]\nidle_timeout_s=1\n', '50-idle.conf')
    sb.manager(ROOT, 'Reload')
    try:
        # a write: some bytes, then nothing, the fd still open
        anydtest.write_owned(R + '/idle', b'old idle\n')
        before = listing()
        c = sb.connect_cached(ROOT)
        rfd, wfd = os.pipe()
        try:
            p = c.call_async(PATH, IFACE, 'WriteFile', '(sha{sv})', (R + '/idle', 0, {}),
                             fds=[rfd])
            os.close(rfd)
            os.write(wfd, b'y' * 100)
            e = None
            try:
                p.wait(30 * anydtest.slow(sb))
            except DBusError as ex:
                e = ex
            assert e is not None and err_name(e) == 'Failed', e
            assert R + '/idle: idle_timeout_s: no data arrived for 1 s after 100 bytes' in e.message, \
                e.message
        finally:
            os.close(wfd)
        assert open(R + '/idle', 'rb').read() == b'old idle\n'
        assert listing() == before, listing() ^ before
        anydtest.wait_until(lambda: not units(), what='the write unit to go away')

        # a read bigger than the pipe whose reader never reads
        anydtest.write_owned(R + '/unread', b'u' * (4 * 1024 * 1024))
        m = sb.mark()
        r = c.call_full(PATH, IFACE, 'ReadFile', '(sa{sv})', (R + '/unread', {}))
        (fd,) = r.fds
        try:
            rec = sb.wait_audit(m, timeout=30 * anydtest.slow(sb), ANYD_ACTION='files.read',
                                ANYD_RESULT='error')
            assert 'idle_timeout_s: the reader took nothing for 1 s' in rec.get('MESSAGE', ''), rec
            anydtest.wait_until(lambda: not units(), what='the read unit to go away')
        finally:
            os.close(fd)
    finally:
        sb.remove_config('50-idle.conf')
        sb.manager(ROOT, 'Reload')
    # the default (300 s) again for new transfers: a 2 s pause is no timeout
    rfd, wfd = os.pipe()
    p = sb.connect_cached(ROOT).call_async(PATH, IFACE, 'WriteFile', '(sha{sv})',
                                           (R + '/idle', 0, {}), fds=[rfd])
    os.close(rfd)
    os.write(wfd, b'a')
    time.sleep(2)
    os.write(wfd, b'b')
    os.close(wfd)
    assert p.wait(30) == 2


@case('a file growing while it is read: the stream stops at the size at open, audited')
def _(sb):
    data = os.urandom(8 * 1024 * 1024)
    anydtest.write_owned(R + '/grow', data)
    m = sb.mark()
    r = sb.connect_cached(ROOT).call_full(PATH, IFACE, 'ReadFile', '(sa{sv})', (R + '/grow', {}))
    (fd,) = r.fds
    with open(R + '/grow', 'ab') as f:
        f.write(b'appended')
    got = read_all(fd)
    assert got == data, (len(got), len(data))
    rec = sb.wait_audit(m, ANYD_ACTION='files.read', ANYD_RESULT='error')
    assert 'grew' in rec.get('MESSAGE', ''), rec


@case('per-uid transfers are capped ([files] max_transfers): Busy, root exempt')
def _(sb):
    sb.write_config('[files]\nmax_transfers=1\n', '50-quota.conf')
    sb.manager(ROOT, 'Reload')
    try:
        held = []
        for uid in (NOBODY, ROOT, ROOT):
            rfd, wfd = os.pipe()
            c = sb.connect(uid)
            held.append((c, c.call_async(PATH, IFACE, 'WriteFile', '(sha{sv})',
                                         (R + '/udir/q%d-%d' % (uid, len(held)), 0, {}),
                                         fds=[rfd]), wfd))
            os.close(rfd)
        anydtest.wait_until(lambda: len(units()) == 3, what='three helper units')
        expect_error('Busy', write_file, sb, NOBODY, R + '/udir/q-extra', b'x',
                     fragment='max_transfers')
        for c, p, wfd in held:
            os.close(wfd)
            p.wait(30)
            c.close()
    finally:
        sb.remove_config('50-quota.conf')
        sb.manager(ROOT, 'Reload')


def call_as(uid, method, interactive=False):
    if method == 'ReadFile':
        return read_file(sb_global, uid, R + '/public', interactive=interactive)
    return write_file(sb_global, uid, R + '/udir/matrix', b'm', interactive=interactive)


@case('allowed / denied / needs-password matrix for ReadFile and WriteFile')
def _(sb):
    for method in ('ReadFile', 'WriteFile'):
        call_as(ALLOWED, method)
        call_as(ROOT, method)
        expect_error('NotAuthorized', call_as, DENIED, method)
        expect_error('NotAuthorizedCanObtain', call_as, CHALLENGE, method)
        # outside the roots: refused before polkit, so no password is asked for
        e = expect_error('NotAuthorized', read_file, sb, CHALLENGE, OUT + '/secret')
        assert '[files] roots' in e.message, e.message


@case('a password prompt that never completes holds only its own call')
def _(sb):
    c = sb.connect(CHALLENGE)
    try:
        c.register_hanging_agent()
        p = c.call_async(PATH, IFACE, 'ReadFile', '(sa{sv})', (R + '/public', {}),
                         interactive=True)
        c.wait_agent_begun()
        assert not p.done()
        assert read_file(sb, ALLOWED, R + '/public') == b'anyone\n'
    finally:
        c.kill()


@case('polkit sees the normalised path and the user; rules can narrow on them')
def _(sb):
    sb.write_rules('05-files', """
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.anyd1.files.") === 0 && subject.user === "bin") {
        if (action.lookup("path") === "%s/two" && action.lookup("user") === "")
            return polkit.Result.YES;
    }
    return polkit.Result.NOT_HANDLED;
});
""" % R2)
    try:
        # bin is the denied uid: only the one path, written oddly, as itself
        assert read_file(sb, DENIED, R2 + '//./two') == b'second root\n'
        expect_error('NotAuthorized', read_file, sb, DENIED, R2 + '/two', user='bin')
        expect_error('NotAuthorized', read_file, sb, DENIED, R + '/public')
    finally:
        sb.remove_rules('05-files')


def rss_kib(pid, field='VmRSS'):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


@case('1 GiB through ReadFile and WriteFile: anyd\'s memory does not grow with it')
def _(sb):
    sb.write_config('[files]\nmax_size=0\n', '50-big.conf')
    sb.manager(ROOT, 'Reload')
    try:
        big = 1 << 30
        pid = sb.name_owner_pid('org.anyd1')
        read_file(sb, ROOT, R + '/public')   # warm up
        rss0 = rss_kib(pid)
        peak = [rss0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(pid))
                time.sleep(0.05)
        th = threading.Thread(target=sample)
        th.start()
        try:
            # write: 1 GiB of zeros through a pipe, never held in memory here
            rfd, wfd = os.pipe()
            feeder = threading.Thread(target=_feed_zeros, args=(wfd, big))
            feeder.start()
            n = sb.connect_cached(ROOT).call(PATH, IFACE, 'WriteFile', '(sha{sv})',
                                             (R + '/big', 0, {}), fds=[rfd], timeout=300)
            os.close(rfd)
            feeder.join()
            assert n == big, n
            r = sb.connect_cached(ROOT).call_full(PATH, IFACE, 'ReadFile', '(sa{sv})',
                                                  (R + '/big', {}))
            (fd,) = r.fds
            total = 0
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                total += len(b)
            os.close(fd)
            assert total == big, total
        finally:
            stop.set()
            th.join()
            os.unlink(R + '/big')
        growth = peak[0] - rss0
        print('# anyd RSS before %d KiB, peak during 2 x 1 GiB %d KiB (growth %d KiB)'
              % (rss0, peak[0], growth))
        assert growth < 8 * 1024, growth
    finally:
        sb.remove_config('50-big.conf')
        sb.manager(ROOT, 'Reload')


def _feed_zeros(fd, n):
    chunk = bytes(1 << 20)
    try:
        while n > 0:
            k = os.write(fd, chunk[:min(n, len(chunk))])
            n -= k
    finally:
        os.close(fd)


@case('every transfer is audited with the path and the user')
def _(sb):
    m = sb.mark()
    write_file(sb, NOBODY, R + '/udir/audited', b'a')
    rec = sb.wait_audit(m, ANYD_ACTION='files.write', ANYD_RESULT='ok', ANYD_CALLER_UID=NOBODY)
    assert rec['ANYD_OBJECT'] == R + '/udir/audited' and 'as nobody' in rec['MESSAGE'], rec


@case('anyd-client files put / get: files, stdin/stdout, --mode, --no-replace, --json')
def _(sb):
    import json
    local = SRV + '/local'
    os.makedirs(local, exist_ok=True)
    os.chmod(local, 0o777)
    data = os.urandom(300000)
    anydtest.write_owned(local + '/src', data, 0o644)
    rc, out, err = sb.client(NOBODY, 'files', 'put', local + '/src', R + '/udir/c1', '--mode', '0600')
    assert rc == 0, (rc, err)
    st = os.stat(R + '/udir/c1')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o600), st
    rc, out, err = sb.client(NOBODY, 'files', 'get', R + '/udir/c1', local + '/back')
    assert rc == 0, (rc, err)
    assert open(local + '/back', 'rb').read() == data
    assert not os.path.exists(local + '/back.anyd-part')
    # stdin and stdout (run_as returns text: compare a text payload)
    rc, out, err = sb.client(NOBODY, 'files', 'put', '-', R + '/udir/c2', input='from stdin\n')
    assert rc == 0, (rc, err)
    rc, out, err = sb.client(NOBODY, 'files', 'get', R + '/udir/c2')
    assert (rc, out) == (0, 'from stdin\n'), (rc, out, err)
    rc, out, err = sb.client(NOBODY, '--json', 'files', 'put', '-', R + '/udir/c3', input='abc')
    assert rc == 0 and json.loads(out) == {'path': R + '/udir/c3', 'bytes': 3}, (out, err)
    # exit codes: Exists 5, NotAuthorized 3, NotFound 4, InvalidArgument 2
    rc, out, err = sb.client(NOBODY, 'files', 'put', '--no-replace', '-', R + '/udir/c3', input='x')
    assert rc == 5 and R + '/udir/c3' in err, (rc, err)
    assert open(R + '/udir/c3').read() == 'abc'
    rc, out, err = sb.client(NOBODY, 'files', 'get', R + '/private')
    assert rc == 3 and R + '/private' in err and out == '', (rc, out, err)
    rc, out, err = sb.client(NOBODY, 'files', 'get', R + '/absent')
    assert rc == 4, (rc, err)
    rc, out, err = sb.client(NOBODY, 'files', 'get', R + '/../outside/secret')
    assert rc == 2 and out == '', (rc, err)
    rc, out, err = sb.client(DENIED, 'files', 'get', R + '/public')
    assert rc == 3, (rc, err)
@case('anyd-client --host: the remote anyd-client streams over ssh (a stand-in ssh)')
def _(sb):
    # the stand-in runs the remote command line locally, as sshd would
    # through the user's shell: it checks the quoting and the plumbing
    fake = SRV + '/fakessh'
    os.makedirs(fake, exist_ok=True)
    client_dir = os.path.dirname(sb.client_binary())
    with open(fake + '/ssh', 'w') as f:
        f.write('#!/bin/sh\n# ssh -xT [-p PORT] -- HOST COMMAND\n'
                'while [ "$1" != "--" ]; do shift; done\nshift 2\n'
                'echo "$*" > %s/last-command\n'
                'PATH=%s:$PATH exec /bin/sh -c "$*"\n' % (fake, client_dir))
    os.chmod(fake + '/ssh', 0o755)
    os.chmod(fake, 0o777)
    env = {'PATH': fake + ':/usr/bin:/bin'}
    odd = HOME + "/it's a file"
    local = SRV + '/local'
    os.makedirs(local, exist_ok=True)
    os.chmod(local, 0o777)
    anydtest.write_owned(local + '/src2', b'over ssh\n', 0o644)
    client = sb.client_binary()
    rc, out, err = sb.run_as(NOBODY, [client, '--host', 'nobody@example:2222', 'files', 'put',
                                      '--mode', '0640', local + '/src2', odd], env=env)
    assert rc == 0, (rc, out, err)
    assert open(odd, 'rb').read() == b'over ssh\n'
    assert stat.S_IMODE(os.stat(odd).st_mode) == 0o640
    assert "'--size' '9'" in open(fake + '/last-command').read()
    rc, out, err = sb.run_as(NOBODY, [client, '-H', 'example', 'files', 'get', odd], env=env)
    assert (rc, out) == (0, 'over ssh\n'), (rc, out, err)
    rc, out, err = sb.run_as(NOBODY, [client, '-H', 'example', 'files', 'get', odd,
                                      local + '/back2'], env=env)
    assert rc == 0 and open(local + '/back2', 'rb').read() == b'over ssh\n', (rc, err)
    # the remote error and exit status come through
    rc, out, err = sb.run_as(NOBODY, [client, '-H', 'example', 'files', 'get', R + '/private'],
                             env=env)
    assert rc == 3 and R + '/private' in err, (rc, err)


@case('anyd-client files: a progress line on a terminal for big files, none for small ones')
def _(sb):
    import shlex
    local = SRV + '/local'
    os.makedirs(local, exist_ok=True)
    os.chmod(local, 0o777)
    data = os.urandom(8 * 1024 * 1024)
    anydtest.write_owned(local + '/big', data, 0o644)
    client = sb.client_binary()

    def on_tty(*args):
        # script(1) gives the client a terminal on stdin, stdout and stderr
        cmd = ' '.join(shlex.quote(a) for a in (client,) + args)
        return sb.run_as(NOBODY, ['script', '-qec', cmd, '/dev/null'], timeout=60)
    rc, out, err = on_tty('files', 'put', local + '/big', R + '/udir/tty-big')
    assert rc == 0 and 'MiB/s' in out, (rc, out, err)
    assert open(R + '/udir/tty-big', 'rb').read() == data
    rc, out, err = on_tty('files', 'get', R + '/udir/tty-big', local + '/tty-back')
    assert rc == 0 and 'MiB/s' in out, (rc, out, err)
    assert open(local + '/tty-back', 'rb').read() == data
    rc, out, err = on_tty('files', 'get', R + '/public', local + '/tty-small')
    assert rc == 0 and 'MiB/s' not in out and 'B/s' not in out, (rc, out, err)


if __name__ == '__main__':
    anydtest.main(systemd=True, config=CONFIG)
