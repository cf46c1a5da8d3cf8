#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# anyd-client vault … in the sandbox (anydtest.py) as the test uids:
# values from stdin or --file (never argv), binary-safe output, --json with
# base64, exit codes (0 ok, 2 invalid, 3 not authorized, 4 not found,
# 5 exists).

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, case  # noqa: E402


def vc(sb, uid, *args, input=None):
    return sb.client(uid, *(['--no-ask-password'] + list(args)), input=input)


def vcb(sb, uid, *args, input=b''):
    """As vc, but stdout as bytes (binary output)."""
    import subprocess
    r = subprocess.run(anydtest.setpriv_prefix(uid) + [sb.client_binary(), '--no-ask-password'] + list(args),
                       input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=anydtest.base_env(), timeout=60, cwd='/')
    return r.returncode, r.stdout, r.stderr.decode(errors='replace')


def ok(r):
    rc, out, err = r
    assert rc == 0, (rc, out, err)
    return out


@case('vault put reads stdin, get writes the exact bytes (binary, NUL, no newline added)')
def _(sb):
    value = b'\x00\xffbinary\nvalue\x00' + os.urandom(200)
    rc, out, err = vcb(sb, ALLOWED, 'vault', 'put', 'cli/bin', input=value)
    assert rc == 0 and out == b'cli/bin: version 1\n', (rc, out, err)
    rc, out, err = vcb(sb, ALLOWED, 'vault', 'get', 'cli/bin')
    assert rc == 0 and out == value, (rc, len(out), err)
    # rotate and read an old version
    ok(vcb(sb, ALLOWED, 'vault', 'rotate', 'cli/bin', input=b'second'))
    assert ok(vcb(sb, ALLOWED, 'vault', 'get', 'cli/bin')) == b'second'
    assert ok(vcb(sb, ALLOWED, 'vault', 'get', '--version', '1', 'cli/bin')) == value


@case('vault put --file and --content-type; list shows metadata, not values')
def _(sb):
    path = os.path.join(anydtest.WORK, 'value.txt')
    with open(path, 'wb') as f:
        f.write(b'from-a-file-secret')
    os.chmod(path, 0o644)
    out = ok(vc(sb, ALLOWED, 'vault', 'put', '--file', path, '--content-type', 'text/plain', 'cli/file'))
    assert 'version 1' in out
    assert ok(vcb(sb, ALLOWED, 'vault', 'get', 'cli/file')) == b'from-a-file-secret'
    out = ok(vc(sb, ALLOWED, 'vault', 'list'))
    assert 'cli/file' in out and 'text/plain' in out and 'NAME' in out, out
    assert 'from-a-file-secret' not in out
    js = json.loads(ok(vc(sb, ALLOWED, '--json', 'vault', 'list')))
    ent = [e for e in js if e['name'] == 'cli/file'][0]
    assert ent['version'] == 1 and ent['content_type'] == 'text/plain', ent
    assert ent['created_by'] == ALLOWED, ent
    # the default command of the group is list
    assert 'cli/file' in ok(vc(sb, ALLOWED, 'vault'))
    # show: one secret's metadata, never its value
    out = ok(vc(sb, ALLOWED, 'vault', 'show', 'cli/file'))
    assert 'Name:' in out and 'cli/file' in out and 'text/plain' in out, out
    assert 'from-a-file-secret' not in out
    js = json.loads(ok(vc(sb, ALLOWED, '--json', 'vault', 'show', 'cli/file')))
    assert js['name'] == 'cli/file' and js['version'] == 1 and js['content_type'] == 'text/plain', js
    assert 'value' not in js
    # completion offers secret names (and key types), asking for no password
    rc, out, err = vc(sb, ALLOWED, '__complete', 'vault', 'show', 'cli/f')
    assert rc == 0 and out == 'cli/file\n', (rc, out, err)
    rc, out, err = vc(sb, ALLOWED, '__complete', 'vault', 'create-key', 'k', '')
    assert out == 'aead\nsign\n', out
    rc, out, err = vc(sb, DENIED, '__complete', 'vault', 'show', '')
    assert rc == 0 and out == '' and err == '', (rc, out, err)
    rc, out, err = vc(sb, ALLOWED, 'vault', 'show', 'cli/nosuch')
    assert rc == 4 and err == "anyd-client: no secret 'cli/nosuch'\n", (rc, out, err)


@case('vault --json get/put: base64 value, version')
def _(sb):
    v = b'\x01\x02json\x00'
    js = json.loads(ok(vcb(sb, ALLOWED, '--json', 'vault', 'put', 'cli/json', input=v)))
    assert js == {'name': 'cli/json', 'version': 1}, js
    js = json.loads(ok(vcb(sb, ALLOWED, '--json', 'vault', 'get', 'cli/json')))
    assert base64.b64decode(js['value']) == v and js['name'] == 'cli/json', js


@case('vault exit codes: exists 5, not found 4, invalid 2, not authorized 3')
def _(sb):
    rc, out, err = vc(sb, ALLOWED, 'vault', 'put', 'cli/json', input='x')
    assert rc == 5 and 'already exists' in err, (rc, err)
    rc, out, err = vc(sb, ALLOWED, 'vault', 'get', 'cli/none')
    assert rc == 4 and "no secret 'cli/none'" in err, (rc, err)
    rc, out, err = vc(sb, ALLOWED, 'vault', 'put', 'bad//name', input='x')
    assert rc == 2 and 'name:' in err, (rc, err)
    rc, out, err = vc(sb, DENIED, 'vault', 'get', 'cli/json')
    assert rc == 3, (rc, err)
    rc, out, err = vc(sb, CHALLENGE, 'vault', 'get', 'cli/json')
    assert rc == 3, (rc, err)
    rc, out, err = vc(sb, ALLOWED, 'vault', 'get', '--version', '9', 'cli/json')
    assert rc == 4, (rc, err)
    rc, out, err = vc(sb, ALLOWED, 'vault', 'put')
    assert rc == 2, (rc, err)
    js = json.loads(vc(sb, DENIED, '--json', 'vault', 'get', 'cli/json')[1])
    assert js['error'].startswith('org.anyd1.Error.NotAuthorized'), js


@case('vault keys: create-key, encrypt | decrypt with --aad, sign, public-key, rotate-key, list-keys')
def _(sb):
    ok(vc(sb, ALLOWED, 'vault', 'create-key', 'cli/k'))
    ok(vc(sb, ALLOWED, 'vault', 'create-key', 'cli/s', 'sign'))
    # completion offers key names where a KEY goes
    rc, out, err = vc(sb, ALLOWED, '__complete', 'vault', 'encrypt', 'cli/')
    assert rc == 0 and sorted(out.splitlines()) == ['cli/k', 'cli/s'], (rc, out, err)
    pt = b'plain\x00text' + os.urandom(100)
    ct = ok(vcb(sb, ALLOWED, 'vault', 'encrypt', '--aad', 'ctx', 'cli/k', input=pt))
    assert len(ct) == len(pt) + 45
    assert ok(vcb(sb, ALLOWED, 'vault', 'decrypt', '--aad', 'ctx', 'cli/k', input=ct)) == pt
    rc, out, err = vcb(sb, ALLOWED, 'vault', 'decrypt', '--aad', 'other', 'cli/k', input=ct)
    assert rc == 2 and b'' == out and 'ciphertext:' in err, (rc, err)
    js = json.loads(ok(vcb(sb, ALLOWED, '--json', 'vault', 'encrypt', 'cli/k', input=b'j')))
    assert len(base64.b64decode(js['ciphertext'])) == 46, js
    sig = ok(vcb(sb, ALLOWED, 'vault', 'sign', 'cli/s', input=b'msg'))
    assert len(sig) == 64
    pk = ok(vcb(sb, DENIED, 'vault', 'public-key', 'cli/s'))
    assert len(pk) == 32
    import ctypes
    import ctypes.util
    so = ctypes.CDLL(ctypes.util.find_library('sodium') or 'libsodium.so.23')
    assert so.crypto_sign_ed25519_verify_detached(sig, b'msg', ctypes.c_ulonglong(3), pk) == 0
    ok(vc(sb, ALLOWED, 'vault', 'rotate-key', 'cli/k'))
    assert ok(vcb(sb, ALLOWED, 'vault', 'decrypt', '--aad', 'ctx', 'cli/k', input=ct)) == pt
    out = ok(vc(sb, ALLOWED, 'vault', 'list-keys'))
    assert 'cli/k' in out and 'aead' in out and 'cli/s' in out and 'sign' in out, out
    js = json.loads(ok(vc(sb, ALLOWED, '--json', 'vault', 'list-keys')))
    assert {'name': 'cli/k', 'type': 'aead', 'version': 2} in js, js
    ok(vc(sb, ALLOWED, 'vault', 'delete-key', 'cli/k'))
    rc, out, err = vcb(sb, ALLOWED, 'vault', 'decrypt', 'cli/k', input=ct)
    assert rc == 4, (rc, err)
    rc, out, err = vc(sb, ALLOWED, 'vault', 'create-key', 'cli/x', 'rsa')
    assert rc == 2 and 'type:' in err, (rc, err)


@case('vault put at a terminal prompts and does not echo the value')
def _(sb):
    import pty
    import select
    import subprocess
    import time
    master, slave = pty.openpty()
    os.fchown(slave, ALLOWED, -1)
    p = subprocess.Popen(anydtest.setpriv_prefix(ALLOWED) +
                         [sb.client_binary(), '--no-ask-password', 'vault', 'put', 'cli/tty'],
                         stdin=slave, stdout=slave, stderr=slave, env=anydtest.base_env(),
                         cwd='/', start_new_session=True)
    os.close(slave)
    seen = b''

    def read_for(t):
        nonlocal seen
        end = time.monotonic() + t
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    return
    deadline = time.monotonic() + 20
    while b'not shown' not in seen and time.monotonic() < deadline:
        read_for(0.2)
    assert b'Value for' in seen, seen
    os.write(master, b'typed-at-tty\n')
    p.wait(20)
    read_for(0.5)
    os.close(master)
    assert p.returncode == 0, (p.returncode, seen)
    assert b'typed-at-tty' not in seen, seen
    assert b'version 1' in seen, seen
    assert ok(vcb(sb, ALLOWED, 'vault', 'get', 'cli/tty')) == b'typed-at-tty'


@case('vault delete; the value never appears on the command line or in anyd output')
def _(sb):
    ok(vc(sb, ALLOWED, 'vault', 'delete', 'cli/bin'))
    rc, out, err = vc(sb, ALLOWED, 'vault', 'get', 'cli/bin')
    assert rc == 4, (rc, err)
    with sb.lock:
        text = '\n'.join(sb.anyd_lines)
    assert 'from-a-file-secret' not in text


@case('vault commands as root work and a missing vault name is a usage error')
def _(sb):
    rc, out, err = vc(sb, ROOT, 'vault', 'list-keys')
    assert rc == 0, (rc, err)
    rc, out, err = vc(sb, ROOT, 'vault', 'get')
    assert rc == 2, (rc, err)
    rc, out, err = vc(sb, ROOT, 'vault', 'frobnicate')
    assert rc == 2, (rc, err)


anydtest.main()
