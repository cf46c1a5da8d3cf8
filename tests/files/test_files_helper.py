#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# anyd-files-helper on its own (no bus, no daemon): every way out of a root
# that a path can try, non-regular files, size limits, files changing under
# a reader, atomic writes, and the target user's permissions.  Runs as root
# in a private mount namespace (tmpfs work area, a second mount inside the
# root for the file-system-crossing case); the "user" cases use setpriv.

import hashlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: anydtest
import anydtest  # noqa: E402
from anydtest import Skip, Tap  # noqa: E402

WORK = '/run/files-helper-test'
ROOT = WORK + '/root'
OUTSIDE = WORK + '/outside'
NOBODY = 65534

STATUS = {'ok': 0, 'Failed': 1, 'InvalidArgument': 2, 'NotAuthorized': 3,
          'NotFound': 4, 'Exists': 5, 'TooBig': 6, 'Changed': 7}

CASES = []


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


def helper_path():
    return os.path.join(anydtest.builddir(), 'service', 'modules', 'files',
                        'anyd-files-helper')


def helper_argv(verb, path, *opts, root=ROOT, uid=0):
    return anydtest.setpriv_prefix(uid) + [helper_path(), verb] + list(opts) + [root, path]


def run(verb, path, *opts, root=ROOT, uid=0, stdin=b'', timeout=20):
    """Runs the helper to completion; returns (status, stdout, stderr)."""
    p = subprocess.run(helper_argv(verb, path, *opts, root=root, uid=uid),
                       input=stdin, capture_output=True, timeout=timeout,
                       env=anydtest.base_env())
    return p.returncode, p.stdout, p.stderr.decode(errors='replace')


def shown(path):
    """How the helper names a path: control characters as \\xNN."""
    return ''.join('\\x%02x' % ord(c) if ord(c) < 0x20 or c == '\x7f' else c for c in path)


def expect(result, name, fragment=None):
    rc, out, err = result
    want = STATUS[name]
    assert rc == want, 'exit %d (want %d %s): %r' % (rc, want, name, err)
    lines = err.splitlines()
    assert lines, 'no status line on stderr'
    assert lines[-1].startswith(name + ':'), lines
    if name != 'ok':
        # the message names the file asked for
        assert len(lines) == 1 or lines[0] == 'streaming', lines
        assert fragment is None or shown(fragment) in lines[-1], (fragment, lines[-1])
    return out


def listing():
    """Every name under the work area (a leftover temp file shows here)."""
    return anydtest.tree_names(WORK)


def setup():
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'none', WORK], check=True)
    os.makedirs(ROOT + '/sub')
    os.makedirs(ROOT + '/dir')
    os.makedirs(ROOT + '/mnt')
    os.makedirs(OUTSIDE)
    anydtest.write_owned(OUTSIDE + '/secret', b'outside the root\n')
    anydtest.write_owned(ROOT + '/sub/b.txt', b'inside\n')
    anydtest.write_owned(ROOT + '/small', b'x' * 100)
    os.symlink('sub/b.txt', ROOT + '/link-in')
    os.symlink('../sub/b.txt', ROOT + '/dir/link-up-in')
    os.symlink(OUTSIDE + '/secret', ROOT + '/abs-out')
    os.symlink(ROOT + '/sub/b.txt', ROOT + '/abs-in')
    os.symlink('../outside/secret', ROOT + '/rel-out')
    os.symlink('/proc/self/fd/0', ROOT + '/procfd')
    os.symlink('/proc/self/root' + OUTSIDE + '/secret', ROOT + '/proc-root')
    os.symlink('/proc/self/cwd', ROOT + '/proc-cwd')
    os.symlink('loop2', ROOT + '/loop1')
    os.symlink('loop1', ROOT + '/loop2')
    os.symlink(OUTSIDE, ROOT + '/dirlink-out')
    os.mkfifo(ROOT + '/fifo')
    os.mknod(ROOT + '/null', 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(ROOT + '/zero', 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    s = socket.socket(socket.AF_UNIX)
    s.bind(ROOT + '/sock')
    s.close()
    # another file system inside the root: RESOLVE_NO_XDEV keeps out of it
    subprocess.run(['mount', '-t', 'tmpfs', 'none', ROOT + '/mnt'], check=True)
    anydtest.write_owned(ROOT + '/mnt/x', b'other fs\n')
    # the user's corner: nobody owns udir; root-only files for the user cases
    os.makedirs(ROOT + '/udir')
    os.chown(ROOT + '/udir', NOBODY, anydtest.user_gid(NOBODY))
    anydtest.write_owned(ROOT + '/udir/mine', b'nobody\'s\n', 0o644, NOBODY)
    anydtest.write_owned(ROOT + '/udir/roots', b'root\'s\n', 0o644, 0)
    anydtest.write_owned(ROOT + '/private', b'root only\n', 0o600, 0)
    anydtest.write_owned(ROOT + '/public', b'anyone\n', 0o644, 0)


# ---- reads -------------------------------------------------------------------

@case('read: a binary file arrives byte for byte (pipe, file and /dev/null stdout)')
def _():
    data = os.urandom(3 * 1024 * 1024 + 17)
    anydtest.write_owned(ROOT + '/a.bin', data)
    out = expect(run('read', 'a.bin'), 'ok')
    assert hashlib.sha256(out).digest() == hashlib.sha256(data).digest()
    with open(WORK + '/copy', 'wb') as f:
        rc = subprocess.run(helper_argv('read', 'a.bin'), stdout=f,
                            stderr=subprocess.PIPE).returncode
    assert rc == 0
    with open(WORK + '/copy', 'rb') as f:
        assert f.read() == data
    os.unlink(WORK + '/copy')
    err = run('read', 'a.bin')[2]
    assert err.splitlines()[-1] == 'ok: %d' % len(data), err


@case('read: symbolic links that stay inside the root work')
def _():
    assert expect(run('read', 'link-in'), 'ok') == b'inside\n'
    assert expect(run('read', 'dir/link-up-in'), 'ok') == b'inside\n'
    assert expect(run('read', 'sub/../sub/b.txt'), 'ok') == b'inside\n'


ESCAPES = [
    ('../outside/secret', 'InvalidArgument', '".." above the root'),
    ('sub/../../outside/secret', 'InvalidArgument', '".." after a descent'),
    ('/etc/passwd', 'InvalidArgument', 'an absolute path'),
    ('abs-out', 'InvalidArgument', 'an absolute symbolic link out'),
    ('abs-in', 'InvalidArgument', 'an absolute symbolic link, even one pointing in'),
    ('rel-out', 'InvalidArgument', 'a relative symbolic link out'),
    ('dirlink-out/secret', 'InvalidArgument', 'a directory symlink out, mid-path'),
    ('procfd', 'InvalidArgument', 'a symlink to /proc/self/fd/0'),
    ('proc-root', 'InvalidArgument', 'a symlink through /proc/self/root'),
    ('proc-cwd/sub/b.txt', 'InvalidArgument', 'a symlink through /proc/self/cwd'),
    ('loop1', 'InvalidArgument', 'a symlink loop'),
    ('mnt/x', 'InvalidArgument', 'another file system mounted inside the root'),
    ('fifo', 'InvalidArgument', 'a FIFO (must not block)'),
    ('null', 'InvalidArgument', 'a character device'),
    ('zero', 'InvalidArgument', 'an endless character device'),
    ('sock', 'InvalidArgument', 'a socket'),
    ('dir', 'InvalidArgument', 'a directory'),
    ('sub/', 'InvalidArgument', 'a directory with a trailing slash'),
    ('.', 'InvalidArgument', 'the root itself'),
    ('', 'InvalidArgument', 'an empty path'),
    ('a\nb', 'InvalidArgument', 'a newline in the path'),
    ('a\x01b', 'InvalidArgument', 'a control character in the path'),
    ('missing', 'NotFound', 'a file that does not exist'),
    ('small/x', 'NotFound', 'a file used as a directory'),
]


@case('read: every escape and non-regular file is refused, naming the path')
def _():
    for path, name, what in ESCAPES:
        try:
            out = expect(run('read', path, timeout=5), name, ROOT + '/' + path)
        except subprocess.TimeoutExpired:
            raise AssertionError('%s (%r): the helper hung' % (what, path))
        except AssertionError as e:
            raise AssertionError('%s (%r): %s' % (what, path, e))
        assert out == b'', (what, out)


@case('NUL in a path cannot even reach the helper (argv is a C string)')
def _():
    try:
        run('read', 'a\0b')
    except ValueError:
        return
    raise AssertionError('a NUL byte went into argv')


@case('read: max_size is inclusive; one byte over is TooBig with nothing sent')
def _():
    assert expect(run('read', 'small', '--max-size', '100'), 'ok') == b'x' * 100
    assert expect(run('read', 'small', '--max-size', '99'), 'TooBig', ROOT + '/small') == b''


def start_streaming_read(path):
    """Starts a read into a pipe that nobody drains; returns once the helper
    has opened the file and filled the pipe ("streaming")."""
    p = subprocess.Popen(helper_argv('read', path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stderr.readline().decode()
    assert line == 'streaming\n', line
    return p


def drain(p):
    out = p.stdout.read()
    err = p.stderr.read().decode()
    return p.wait(), out, err


@case('read: a file growing while it is read is refused (Changed)')
def _():
    anydtest.write_owned(ROOT + '/grow', os.urandom(4 * 1024 * 1024))
    p = start_streaming_read('grow')
    with open(ROOT + '/grow', 'ab') as f:
        f.write(b'more')
    rc, out, err = drain(p)
    assert rc == STATUS['Changed'] and 'grew' in err, (rc, err)


@case('read: a file shrinking while it is read is refused (Changed)')
def _():
    anydtest.write_owned(ROOT + '/shrink', os.urandom(4 * 1024 * 1024))
    p = start_streaming_read('shrink')
    os.truncate(ROOT + '/shrink', 1024 * 1024)
    rc, out, err = drain(p)
    assert rc == STATUS['Changed'] and 'shrank' in err, (rc, err)
    assert len(out) < 4 * 1024 * 1024


@case('read: small files never announce streaming (the whole file fits the pipe)')
def _():
    rc, out, err = run('read', 'small')
    assert rc == 0 and 'streaming' not in err, err


@case('read: a reader that goes away ends the helper with Failed')
def _():
    anydtest.write_owned(ROOT + '/big', os.urandom(8 * 1024 * 1024))
    p = start_streaming_read('big')
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait() == STATUS['Failed'] and 'closed' in err, err


@case('read: a root that does not exist is NotFound')
def _():
    expect(run('read', 'x', root=WORK + '/no-such-root'), 'NotFound', 'no-such-root')
    expect(run('read', 'x', root=ROOT + '/small'), 'NotFound', 'small')


# ---- writes ------------------------------------------------------------------

@case('write: a new file gets the bytes, the mode asked for and the default mode')
def _():
    data = os.urandom(2 * 1024 * 1024 + 3)
    err = run('write', 'new.bin', '--mode', '0640', stdin=data)[2]
    assert err.splitlines()[-1] == 'ok: %d' % len(data), err
    with open(ROOT + '/new.bin', 'rb') as f:
        assert f.read() == data
    assert stat.S_IMODE(os.stat(ROOT + '/new.bin').st_mode) == 0o640
    expect(run('write', 'default-mode', stdin=b'x'), 'ok')
    # 0644 & ~umask, and the test runs the helper with umask 022
    assert stat.S_IMODE(os.stat(ROOT + '/default-mode').st_mode) == 0o644


@case('write: stdin may be a regular file, not only a pipe')
def _():
    data = os.urandom(300000)
    anydtest.write_owned(WORK + '/src', data)
    with open(WORK + '/src', 'rb') as f:
        rc = subprocess.run(helper_argv('write', 'from-file'), stdin=f,
                            capture_output=True).returncode
    os.unlink(WORK + '/src')
    assert rc == 0
    with open(ROOT + '/from-file', 'rb') as f:
        assert f.read() == data


@case('write: replaces an existing file atomically; replace=false is Exists, content kept')
def _():
    anydtest.write_owned(ROOT + '/cfg', b'old\n')
    before = listing()
    expect(run('write', 'cfg', stdin=b'new\n'), 'ok')
    assert open(ROOT + '/cfg', 'rb').read() == b'new\n'
    expect(run('write', 'cfg', '--no-replace', stdin=b'newer\n'), 'Exists', ROOT + '/cfg')
    assert open(ROOT + '/cfg', 'rb').read() == b'new\n'
    assert listing() == before, listing() ^ before


@case('write: create=false on a missing file is NotFound; a missing directory is NotFound')
def _():
    before = listing()
    expect(run('write', 'absent', '--no-create', stdin=b'x'), 'NotFound', ROOT + '/absent')
    expect(run('write', 'nodir/x', stdin=b'x'), 'NotFound', ROOT + '/nodir/x')
    assert listing() == before


@case('write: over max_size is TooBig, the old file is intact and no temp file is left')
def _():
    anydtest.write_owned(ROOT + '/limited', b'original\n')
    before = listing()
    expect(run('write', 'limited', '--max-size', '1000', stdin=b'y' * 1001),
           'TooBig', ROOT + '/limited')
    assert open(ROOT + '/limited', 'rb').read() == b'original\n'
    assert listing() == before, listing() ^ before
    expect(run('write', 'limited', '--max-size', '1000', stdin=b'y' * 1000), 'ok')
    assert open(ROOT + '/limited', 'rb').read() == b'y' * 1000


@case('write: --size refuses a different byte count (a writer that died early)')
def _():
    anydtest.write_owned(ROOT + '/announced', b'old\n')
    before = listing()
    rc, out, err = run('write', 'announced', '--size', '10', stdin=b'12345')
    expect((rc, out, err), 'Failed', ROOT + '/announced')
    assert 'size: the data ended after 5 of 10 bytes' in err, err
    expect(run('write', 'announced', '--size', '3', stdin=b'12345'), 'InvalidArgument')
    # more than announced is refused at the first extra byte, not at EOF:
    # the writer here keeps its end open
    p = subprocess.Popen(helper_argv('write', 'announced', '--size', '3'), stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        p.stdin.write(b'1234')
        p.stdin.flush()
        rc = p.wait(10)
        err = p.stderr.read().decode()
        expect((rc, b'', err), 'InvalidArgument', ROOT + '/announced')
        assert 'size: more than the 3 bytes announced arrived' in err, err
    finally:
        p.kill()
        p.stdin.close()
        p.wait()
    assert open(ROOT + '/announced', 'rb').read() == b'old\n'
    assert listing() == before, listing() ^ before
    expect(run('write', 'announced', '--size', '5', stdin=b'12345'), 'ok')
    assert open(ROOT + '/announced', 'rb').read() == b'12345'


@case('write: --idle-timeout: a writer that stops sending (fd kept open) fails, old file kept')
def _():
    anydtest.write_owned(ROOT + '/idle', b'old\n')
    before = listing()
    p = subprocess.Popen(helper_argv('write', 'idle', '--idle-timeout', '1'),
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b'x' * 1000)
        p.stdin.flush()
        t0 = time.monotonic()
        rc = p.wait(20)
        took = time.monotonic() - t0
        err = p.stderr.read().decode()
    finally:
        p.kill()
        p.stdin.close()
        p.wait()
    expect((rc, b'', err), 'Failed', ROOT + '/idle')
    assert 'idle_timeout_s: no data arrived for 1 s after 1000 bytes' in err, err
    assert 0.5 < took < 15, took
    assert open(ROOT + '/idle', 'rb').read() == b'old\n'
    assert listing() == before, listing() ^ before
    # the limit is on silence, not on the whole: 4 s of data at 0.5 s
    # intervals passes a 2 s limit
    p = subprocess.Popen(helper_argv('write', 'idle', '--idle-timeout', '2'),
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    for _i in range(8):
        p.stdin.write(b'y')
        p.stdin.flush()
        time.sleep(0.5)
    p.stdin.close()
    expect((p.wait(20), b'', p.stderr.read().decode()), 'ok')
    assert open(ROOT + '/idle', 'rb').read() == b'y' * 8


@case('read: --idle-timeout: a reader that never reads a full pipe fails the helper')
def _():
    anydtest.write_owned(ROOT + '/unread', b'u' * (4 * 1024 * 1024))
    rfd, wfd = os.pipe()
    try:
        p = subprocess.Popen(helper_argv('read', 'unread', '--idle-timeout', '1'),
                             stdout=wfd, stderr=subprocess.PIPE)
        os.close(wfd)
        wfd = -1
        rc = p.wait(20)
        err = p.stderr.read().decode()
    finally:
        if wfd >= 0:
            os.close(wfd)
        os.close(rfd)
    lines = err.splitlines()
    assert lines[0] == 'streaming', lines
    expect((rc, b'', err), 'Failed', ROOT + '/unread')
    assert 'idle_timeout_s: the reader took nothing for 1 s' in err, err


@case('write: a writer killed midway leaves the old content and no temp file')
def _():
    anydtest.write_owned(ROOT + '/victim', b'keep me\n')
    before = listing()
    p = subprocess.Popen(helper_argv('write', 'victim'), stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(os.urandom(1024 * 1024))
    p.stdin.flush()
    time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdin.close()
    assert open(ROOT + '/victim', 'rb').read() == b'keep me\n'
    assert listing() == before, listing() ^ before


WRITE_ESCAPES = [
    ('../outside/new', 'InvalidArgument', '".." above the root'),
    ('/tmp/new', 'InvalidArgument', 'an absolute path'),
    ('dirlink-out/new', 'InvalidArgument', 'a directory symlink out'),
    ('proc-cwd/new', 'InvalidArgument', 'a /proc magic link directory'),
    ('mnt/new', 'InvalidArgument', 'another file system'),
    ('abs-out', 'InvalidArgument', 'a symbolic link as the file itself'),
    ('link-in', 'InvalidArgument', 'a symbolic link inside as the file itself'),
    ('fifo', 'InvalidArgument', 'a FIFO'),
    ('null', 'InvalidArgument', 'a device'),
    ('sock', 'InvalidArgument', 'a socket'),
    ('dir', 'InvalidArgument', 'a directory'),
    ('sub/', 'InvalidArgument', 'a trailing slash'),
    ('sub/..', 'InvalidArgument', 'a ".." last component'),
    ('', 'InvalidArgument', 'an empty path'),
]


@case('write: every escape is refused and nothing is written anywhere')
def _():
    before = listing()
    secret = open(OUTSIDE + '/secret', 'rb').read()
    for path, name, what in WRITE_ESCAPES:
        try:
            expect(run('write', path, stdin=b'payload', timeout=5), name, ROOT + '/' + path)
        except AssertionError as e:
            raise AssertionError('%s (%r): %s' % (what, path, e))
    assert listing() == before, listing() ^ before
    assert open(OUTSIDE + '/secret', 'rb').read() == secret
    assert os.readlink(ROOT + '/abs-out') == OUTSIDE + '/secret'


# ---- as another user -----------------------------------------------------------

@case('as nobody: the user\'s own permissions apply, not root\'s')
def _():
    before = listing()
    assert expect(run('read', 'public', uid=NOBODY), 'ok') == b'anyone\n'
    expect(run('read', 'private', uid=NOBODY), 'NotAuthorized', ROOT + '/private')
    # a root-owned directory: no new file there
    expect(run('write', 'sub/new', uid=NOBODY, stdin=b'x'), 'NotAuthorized', ROOT + '/sub/new')
    # the user's directory, but a file the user may not write: not replaced
    expect(run('write', 'udir/roots', uid=NOBODY, stdin=b'x'), 'NotAuthorized',
           ROOT + '/udir/roots')
    assert open(ROOT + '/udir/roots', 'rb').read() == b'root\'s\n'
    assert listing() == before, listing() ^ before
    # the user's own file and directory: fine, and the new file is theirs
    expect(run('write', 'udir/mine', uid=NOBODY, stdin=b'changed\n'), 'ok')
    expect(run('write', 'udir/made', '--mode', '0600', uid=NOBODY, stdin=b'made\n'), 'ok')
    st = os.stat(ROOT + '/udir/made')
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (NOBODY, 0o600), st
    assert open(ROOT + '/udir/mine', 'rb').read() == b'changed\n'


@case('bad arguments are InvalidArgument')
def _():
    for argv in (['read'], ['copy', ROOT, 'x'], ['read', '--mode', '0999', ROOT, 'x'],
                 ['read', '--idle-timeout', 'x', ROOT, 'x'],
                 ['write', '--mode', '04755', ROOT, 'x'], ['read', '--max-size', '-1', ROOT, 'x'],
                 ['read', '--bogus', ROOT, 'x'], ['read', 'relative-root', 'x']):
        p = subprocess.run([helper_path()] + argv, capture_output=True)
        assert p.returncode == STATUS['InvalidArgument'], (argv, p)


def main():
    try:
        anydtest.enter_namespaces(net=False)
    except anydtest.NotRoot as e:
        print('1..0 # SKIP %s' % e)
        return 0
    os.umask(0o022)
    tap = Tap()
    try:
        setup()
    except Exception:
        tap.not_ok('setup', traceback.format_exc())
        tap.plan()
        return 1
    for name, fn in CASES:
        try:
            fn()
            tap.ok(name)
        except Skip as e:
            tap.ok(name, ' # SKIP %s' % e)
        except Exception:
            tap.not_ok(name, traceback.format_exc())
    tap.plan()
    return 1 if tap.failed else 0


if __name__ == '__main__':
    sys.exit(main())
