#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Integration tests of the vault module (org.anyd1.Vault at /org/anyd1/vault)
# in the sandbox (anydtest.py): real polkitd, uids 65534 allowed, 2 denied,
# 1 needs a password, root.  One sandbox for the file; cases run in order.
# The vault lives in the sandbox's state directory (<WORK>/state/vault).

import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import (ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, case,  # noqa: E402
                      expect_error, wait_until)
from gi.repository import GLib  # noqa: E402

PATH = '/org/anyd1/vault'
IFACE = 'org.anyd1.Vault'
E = anydtest.ERROR_PREFIX
NOT_AUTHORIZED = E + 'NotAuthorized'
CAN_OBTAIN = E + 'NotAuthorizedCanObtain'
INVALID = E + 'InvalidArgument'

# Values that must never show up in logs, audit records or files.
SECRETS = set()


def secret(tag):
    """A unique value, remembered so the leak checks look for it."""
    v = ('s3cr3t-%s-%s' % (tag, os.urandom(6).hex())).encode()
    SECRETS.add(v)
    return v


def diag(text):
    for l in str(text).splitlines():
        print('# ' + l)


def u(v):
    return GLib.Variant('u', v)


def s(v):
    return GLib.Variant('s', v)


def call(sb, uid, method, sig='()', args=(), **kw):
    r = sb.call(uid, PATH, IFACE, method, sig, args, **kw)
    if isinstance(r, list) and method in ('Get', 'Encrypt', 'Decrypt', 'Sign', 'GetPublicKey'):
        return bytes(r)
    return r


def put(sb, name, value, opts=None, uid=ALLOWED, **kw):
    return call(sb, uid, 'Put', '(saya{sv})', (name, value, opts or {}), **kw)


def get(sb, name, version=None, uid=ALLOWED, **kw):
    return call(sb, uid, 'Get', '(sa{sv})', (name, {'version': u(version)} if version else {}), **kw)


def rotate(sb, name, value, uid=ALLOWED):
    return call(sb, uid, 'Rotate', '(say)', (name, value))


def delete(sb, name, uid=ALLOWED):
    return call(sb, uid, 'Delete', '(s)', (name,))


def listing(sb, uid=ALLOWED):
    return {n: (v, meta) for n, v, meta in call(sb, uid, 'List')}


def create_key(sb, name, typ='aead', uid=ALLOWED):
    return call(sb, uid, 'CreateKey', '(ss)', (name, typ))


def encrypt(sb, key, pt, aad=b'', uid=ALLOWED):
    return call(sb, uid, 'Encrypt', '(sayay)', (key, pt, aad))


def decrypt(sb, key, ct, aad=b'', uid=ALLOWED):
    return call(sb, uid, 'Decrypt', '(sayay)', (key, ct, aad))


def vault_dir(sb):
    return os.path.join(sb.statedir, 'vault')


def is_temp_file(name):
    """A write's temp file (a crash before its rename): "<name>.XXXXXX", as
    g_file_set_contents_full names it, or ".<name>..." (older anyd)."""
    return name.startswith('.') or re.search(r'\.[A-Za-z0-9]{6}$', name) is not None


def record_files(sb, kind='secrets'):
    return sorted(f for f in glob.glob(os.path.join(vault_dir(sb), kind, '*'))
                  if not is_temp_file(os.path.basename(f)))


def slow(sb):
    return 3.0 if sb.sanitized() else 1.0


_sodium = None


def sodium():
    global _sodium
    if _sodium is None:
        name = ctypes.util.find_library('sodium') or 'libsodium.so.23'
        _sodium = ctypes.CDLL(name)
        assert _sodium.sodium_init() >= 0
    return _sodium


def ed25519_verify(sig, msg, pk):
    return sodium().crypto_sign_ed25519_verify_detached(sig, msg, ctypes.c_ulonglong(len(msg)), pk) == 0


# ---- basics -----------------------------------------------------------------

@case('vault is exported at /org/anyd1/vault and listed in Manager.Modules')
def _(sb):
    mods = sb.conn(ALLOWED).get_property('/org/anyd1', 'org.anyd1.Manager', 'Modules')
    assert 'vault' in mods, mods
    assert call(sb, ALLOWED, 'List') is not None
    vd = vault_dir(sb)
    assert os.path.isfile(os.path.join(vd, 'master.key')), os.listdir(vd)
    assert os.path.isfile(os.path.join(vd, 'meta')), os.listdir(vd)


@case('Put/Get round trip is binary-safe (NUL, 0xff, empty, 64 KiB)')
def _(sb):
    values = {
        'rt/nul': b'a\x00b\x00' + secret('nul'),
        'rt/high': bytes(range(256)) + secret('high'),
        'rt/empty': b'',
        'rt/big': secret('big') + os.urandom(65536 - 64),
    }
    for name, v in values.items():
        assert put(sb, name, v) == 1, name
    for name, v in values.items():
        got = get(sb, name)
        assert got == v, (name, len(got), len(v))
        assert get(sb, name, version=1) == v


@case('Put of a taken name: Exists, and the value is unchanged')
def _(sb):
    v = secret('exists')
    put(sb, 'dup/one', v)
    e = expect_error(E + 'Exists', put, sb, 'dup/one', secret('other'))
    assert e.message == "secret 'dup/one' already exists; rotate it to add a version", e.message
    assert get(sb, 'dup/one') == v


@case('names are flat keys: "db" and "db/password" both exist')
def _(sb):
    a, b = secret('db'), secret('db-password')
    put(sb, 'flat', a)
    put(sb, 'flat/password', b)
    assert get(sb, 'flat') == a and get(sb, 'flat/password') == b


@case('Rotate adds versions; Get takes a version; versions_kept drops the oldest')
def _(sb):
    sb.write_config('[vault]\nversions_kept=3\n', name='50-vault.conf')
    sb.manager(ROOT, 'Reload')
    try:
        vals = [secret('rot%d' % i) for i in range(5)]
        assert put(sb, 'rot/x', vals[0]) == 1
        for i in range(1, 5):
            assert rotate(sb, 'rot/x', vals[i]) == i + 1
        assert get(sb, 'rot/x') == vals[4]
        for ver in (3, 4, 5):
            assert get(sb, 'rot/x', version=ver) == vals[ver - 1]
        for ver in (1, 2, 6):
            e = expect_error(E + 'NotFound', get, sb, 'rot/x', version=ver)
            assert 'version %d' % ver in e.message, e.message
        ver, meta = listing(sb)['rot/x']
        assert ver == 5 and list(meta['versions']) == [3, 4, 5], (ver, meta)
        expect_error(E + 'NotFound', rotate, sb, 'rot/missing', secret('m'))
    finally:
        sb.remove_config('50-vault.conf')
        sb.manager(ROOT, 'Reload')


@case('List: name, newest version, created/created_by/content_type; never values')
def _(sb):
    t0 = int(time.time() * 1e6)
    v = secret('list')
    put(sb, 'list/a', v, {'content_type': s('text/plain; charset=utf-8')})
    rotate(sb, 'list/a', secret('list2'), uid=ROOT)
    t1 = int(time.time() * 1e6)
    lst = listing(sb)
    ver, meta = lst['list/a']
    assert ver == 2, ver
    assert t0 - 2e6 <= meta['created'] <= t1 + 2e6, (t0, meta, t1)
    assert meta['created_by'] == ALLOWED and meta['updated_by'] == 0, meta
    assert meta['content_type'] == 'text/plain; charset=utf-8', meta
    put(sb, 'list/b', secret('listb'))
    assert listing(sb)['list/b'][1]['content_type'] == 'application/octet-stream'
    names = list(lst)
    assert names == sorted(names), names
    flat = repr(call(sb, ALLOWED, 'List')).encode()
    for x in SECRETS:
        assert x not in flat


@case('Delete removes every version; the name can be used again')
def _(sb):
    put(sb, 'del/x', secret('del1'))
    rotate(sb, 'del/x', secret('del2'))
    n = len(record_files(sb))
    assert delete(sb, 'del/x') is None
    assert len(record_files(sb)) == n - 1
    expect_error(E + 'NotFound', get, sb, 'del/x')
    expect_error(E + 'NotFound', delete, sb, 'del/x')
    assert 'del/x' not in listing(sb)
    v = secret('del3')
    assert put(sb, 'del/x', v) == 1 and get(sb, 'del/x') == v


# ---- bad input ----------------------------------------------------------------

BAD_NAMES = ['', '/a', 'a/', 'a//b', '.', '..', 'a/./b', 'a/../b', '../etc/passwd',
             'a b', 'a\nb', 'a\tb', 'tab\x7f', 'x' * 256, 'ümlaut', 'a:b', 'a\\b', '*']


@case('bad names: InvalidArgument naming the field, nothing stored')
def _(sb):
    before = record_files(sb)
    for name in BAD_NAMES:
        v = secret('bad')
        e = expect_error(INVALID, put, sb, name, v)
        assert e.message.startswith('name:'), (name, e.message)
        assert v.decode() not in e.message
        expect_error(INVALID, get, sb, name)
        expect_error(INVALID, rotate, sb, name, v)
        expect_error(INVALID, delete, sb, name)
        expect_error(INVALID, create_key, sb, name)
        for m, sig, args in (('Encrypt', '(sayay)', (name, b'x', b'')),
                             ('Decrypt', '(sayay)', (name, b'x' * 64, b'')),
                             ('Sign', '(say)', (name, b'x')),
                             ('GetPublicKey', '(s)', (name,)),
                             ('RotateKey', '(s)', (name,)),
                             ('DeleteKey', '(s)', (name,))):
            e = expect_error(INVALID, call, sb, ALLOWED, m, sig, args)
            assert e.message.startswith('key:'), (m, name, e.message)
    assert record_files(sb) == before
    # the longest legal name and every legal character
    good = 'a' * 200 + '/Z-9_.x/' + 'b' * 47
    assert len(good) == 255
    put(sb, good, b'ok')
    assert get(sb, good) == b'ok'


@case('bad options: unknown key, wrong type, version 0, bad content_type')
def _(sb):
    put(sb, 'opt/x', secret('opt'))
    e = expect_error(INVALID, call, sb, ALLOWED, 'Get', '(sa{sv})', ('opt/x', {'verison': u(1)}))
    assert 'verison' in e.message, e.message
    e = expect_error(INVALID, call, sb, ALLOWED, 'Get', '(sa{sv})', ('opt/x', {'version': s('1')}))
    assert 'version' in e.message, e.message
    e = expect_error(INVALID, call, sb, ALLOWED, 'Get', '(sa{sv})', ('opt/x', {'version': u(0)}))
    assert 'version' in e.message, e.message
    for opts in ({'content_type': s('')}, {'content_type': s('a\nb')}, {'content_type': u(1)},
                 {'content_type': s('x' * 256)}, {'ttl': u(5)}):
        e = expect_error(INVALID, put, sb, 'opt/new', b'v', opts)
        assert e.message.startswith('options.content_type:' if 'content_type' in opts else 'options:') or \
            e.message.startswith("options: option 'content_type'"), e.message
    expect_error(E + 'NotFound', get, sb, 'opt/new')


@case('values over [vault] max_value_size: InvalidArgument; the limit follows Reload')
def _(sb):
    sb.write_config('[vault]\nmax_value_size=100\n', name='50-vault.conf')
    sb.manager(ROOT, 'Reload')
    try:
        put(sb, 'size/ok', b'x' * 100)
        e = expect_error(INVALID, put, sb, 'size/big', b'x' * 101)
        assert e.message.startswith('value:') and 'max_value_size' in e.message, e.message
        e = expect_error(INVALID, rotate, sb, 'size/ok', b'y' * 101)
        assert get(sb, 'size/ok') == b'x' * 100
        expect_error(E + 'NotFound', get, sb, 'size/big')
    finally:
        sb.remove_config('50-vault.conf')
        sb.manager(ROOT, 'Reload')
    put(sb, 'size/big', b'x' * 101)


@case('concurrent Puts of one name: exactly one wins, the others get Exists')
def _(sb):
    conns = [sb.connect(ALLOWED) for _ in range(4)]
    try:
        pend = []
        for i, c in enumerate(conns):
            for j in range(5):
                pend.append(c.call_async(PATH, IFACE, 'Put', '(saya{sv})',
                                         ('race/x', b'v%d-%d' % (i, j), {})))
        ok, exists = 0, 0
        winner = None
        for i, p in enumerate(pend):
            try:
                assert p.wait() == 1
                ok += 1
                winner = i
            except DBusError as e:
                assert e.name == E + 'Exists', e
                exists += 1
        assert ok == 1 and exists == len(pend) - 1, (ok, exists)
        assert get(sb, 'race/x') == b'v%d-%d' % (winner // 5, winner % 5)
    finally:
        for c in conns:
            c.close()


# ---- keys ---------------------------------------------------------------------

@case('CreateKey aead/sign; unknown type and taken names are refused')
def _(sb):
    assert create_key(sb, 'k/aead', 'aead') is None
    assert create_key(sb, 'k/sign', 'sign') is None
    for t in ('', 'AEAD', 'rsa', 'ed25519'):
        e = expect_error(INVALID, create_key, sb, 'k/bad', t)
        assert e.message.startswith('type:'), e.message
    expect_error(E + 'Exists', create_key, sb, 'k/aead', 'sign')
    keys = {n: (t, v) for n, t, v in call(sb, ALLOWED, 'ListKeys')}
    assert keys['k/aead'] == ('aead', 1) and keys['k/sign'] == ('sign', 1), keys
    assert 'k/bad' not in keys
    # key and secret names are separate namespaces
    put(sb, 'k/aead', b'a secret with a key name')


@case('Encrypt/Decrypt round trip with associated data (binary, empty, 1 MiB)')
def _(sb):
    for pt, aad in ((b'hello', b'ctx'), (b'', b''), (b'\x00' * 10, b'\x00'),
                    (os.urandom(1024 * 1024), b'big')):
        ct = encrypt(sb, 'k/aead', pt, aad)
        assert len(ct) == len(pt) + 45, (len(ct), len(pt))
        assert pt == b'' or pt not in ct
        assert decrypt(sb, 'k/aead', ct, aad) == pt
    # two encryptions of the same plaintext differ (random nonce)
    assert encrypt(sb, 'k/aead', b'same') != encrypt(sb, 'k/aead', b'same')


@case('Decrypt of garbage, truncated or tampered input, or with the wrong aad: InvalidArgument')
def _(sb):
    pt = secret('aead')
    ct = encrypt(sb, 'k/aead', pt, b'right')
    bad = [b'', b'x', ct[:44], ct[:-1], ct + b'x', os.urandom(len(ct)),
           bytes([2]) + ct[1:],                       # unknown format
           ct[:1] + b'\x00\x00\x00\x09' + ct[5:],     # unknown key version
           ct[:1] + b'\x00\x00\x00\x00' + ct[5:]]     # version 0
    for i in range(0, len(ct), 7):
        bad.append(ct[:i] + bytes([ct[i] ^ 0x01]) + ct[i + 1:])
    for b in bad:
        e = expect_error(INVALID, decrypt, sb, 'k/aead', b, b'right')
        assert e.message.startswith('ciphertext:'), e.message
        assert pt.decode() not in e.message
    e = expect_error(INVALID, decrypt, sb, 'k/aead', ct, b'wrong')
    assert e.message.startswith('ciphertext:'), e.message
    create_key(sb, 'k/aead2')
    expect_error(INVALID, decrypt, sb, 'k/aead2', ct, b'right')
    expect_error(E + 'NotFound', decrypt, sb, 'k/none', ct, b'right')
    assert decrypt(sb, 'k/aead', ct, b'right') == pt


@case('Sign verifies against GetPublicKey (Ed25519); GetPublicKey is public')
def _(sb):
    msg = b'message \x00 to sign'
    sig = call(sb, ALLOWED, 'Sign', '(say)', ('k/sign', msg))
    assert len(sig) == 64
    for uid in (ALLOWED, DENIED, CHALLENGE, ROOT):
        pk = call(sb, uid, 'GetPublicKey', '(s)', ('k/sign',))
        assert len(pk) == 32
    assert ed25519_verify(sig, msg, pk)
    assert not ed25519_verify(sig, msg + b'x', pk)


@case('a key of the wrong type: InvalidArgument naming the key')
def _(sb):
    for fn in (lambda: encrypt(sb, 'k/sign', b'x'),
               lambda: decrypt(sb, 'k/sign', b'x' * 64),
               lambda: call(sb, ALLOWED, 'Sign', '(say)', ('k/aead', b'x')),
               lambda: call(sb, ALLOWED, 'GetPublicKey', '(s)', ('k/aead',))):
        e = expect_error(INVALID, fn)
        assert e.message.startswith('key:'), e.message
        # said for a user: the key quoted, the operation in words, no method names
        assert "'k/" in e.message and not re.search(r'Encrypt|Decrypt|Sign|GetPublicKey', e.message), e.message
        assert ' a aead' not in e.message and ('an aead key' in e.message or 'a sign key' in e.message), e.message
    e = expect_error(E + 'NotFound', call, sb, DENIED, 'GetPublicKey', '(s)', ('k/none',))
    assert e.message == "no key 'k/none'", e.message


@case('RotateKey: new ciphertexts use the new version, old ones still decrypt')
def _(sb):
    create_key(sb, 'k/rot')
    old = encrypt(sb, 'k/rot', b'before', b'a')
    assert old[1:5] == b'\x00\x00\x00\x01'
    assert call(sb, ALLOWED, 'RotateKey', '(s)', ('k/rot',)) is None
    new = encrypt(sb, 'k/rot', b'after', b'a')
    assert new[1:5] == b'\x00\x00\x00\x02'
    assert decrypt(sb, 'k/rot', old, b'a') == b'before'
    assert decrypt(sb, 'k/rot', new, b'a') == b'after'
    keys = {n: (t, v) for n, t, v in call(sb, ALLOWED, 'ListKeys')}
    assert keys['k/rot'] == ('aead', 2), keys
    # sign keys: the newest signs, GetPublicKey follows
    pk1 = call(sb, ALLOWED, 'GetPublicKey', '(s)', ('k/sign',))
    call(sb, ALLOWED, 'RotateKey', '(s)', ('k/sign',))
    pk2 = call(sb, ALLOWED, 'GetPublicKey', '(s)', ('k/sign',))
    sig = call(sb, ALLOWED, 'Sign', '(say)', ('k/sign', b'm'))
    assert pk1 != pk2 and ed25519_verify(sig, b'm', pk2) and not ed25519_verify(sig, b'm', pk1)
    expect_error(E + 'NotFound', call, sb, ALLOWED, 'RotateKey', '(s)', ('k/none',))


@case('DeleteKey: the key is gone, its ciphertexts no longer decrypt')
def _(sb):
    create_key(sb, 'k/del')
    ct = encrypt(sb, 'k/del', b'x')
    assert call(sb, ALLOWED, 'DeleteKey', '(s)', ('k/del',)) is None
    expect_error(E + 'NotFound', decrypt, sb, 'k/del', ct)
    expect_error(E + 'NotFound', call, sb, ALLOWED, 'DeleteKey', '(s)', ('k/del',))
    assert 'k/del' not in [n for n, _t, _v in call(sb, ALLOWED, 'ListKeys')]
    create_key(sb, 'k/del')   # a new key under the old name cannot read the old data
    expect_error(INVALID, decrypt, sb, 'k/del', ct)


@case('Encrypt/Decrypt/Sign over [vault] max_data_size: InvalidArgument')
def _(sb):
    sb.write_config('[vault]\nmax_data_size=10\n', name='50-vault.conf')
    sb.manager(ROOT, 'Reload')
    try:
        encrypt(sb, 'k/aead', b'x' * 10, b'y' * 10)
        for fn, field in ((lambda: encrypt(sb, 'k/aead', b'x' * 11), 'plaintext:'),
                          (lambda: encrypt(sb, 'k/aead', b'x', b'y' * 11), 'aad:'),
                          (lambda: decrypt(sb, 'k/aead', b'x' * 56), 'ciphertext:'),
                          (lambda: call(sb, ALLOWED, 'Sign', '(say)', ('k/sign', b'x' * 11)), 'data:')):
            e = expect_error(INVALID, fn)
            assert e.message.startswith(field) and 'max_data_size' in e.message, e.message
    finally:
        sb.remove_config('50-vault.conf')
        sb.manager(ROOT, 'Reload')


# ---- authorization --------------------------------------------------------------

# method, signature, args (valid, on existing objects), action or None (public)
def matrix_calls():
    return [
        ('Put', '(saya{sv})', ('auth/new', b'v', {}), 'write'),
        ('Get', '(sa{sv})', ('auth/x', {}), 'read'),
        ('Rotate', '(say)', ('auth/x', b'v2'), 'write'),
        ('Delete', '(s)', ('auth/x',), 'write'),
        ('List', '()', (), 'read'),
        ('CreateKey', '(ss)', ('auth/k2', 'aead'), 'manage-keys'),
        ('Encrypt', '(sayay)', ('auth/k', b'p', b''), 'use-key'),
        ('Decrypt', '(sayay)', ('auth/k', b'c' * 45, b''), 'use-key'),
        ('Sign', '(say)', ('auth/s', b'd'), 'use-key'),
        ('GetPublicKey', '(s)', ('auth/s',), None),
        ('RotateKey', '(s)', ('auth/k',), 'manage-keys'),
        ('DeleteKey', '(s)', ('auth/k',), 'manage-keys'),
        ('ListKeys', '()', (), 'use-key'),
    ]


@case('every method: denied uid NotAuthorized, needs-password uid NotAuthorizedCanObtain, nothing done')
def _(sb):
    put(sb, 'auth/x', b'orig')
    create_key(sb, 'auth/k')
    create_key(sb, 'auth/s', 'sign')
    files = record_files(sb) + record_files(sb, 'keys')
    stamps = {f: os.stat(f).st_mtime_ns for f in files}
    for method, sig, args, action in matrix_calls():
        for uid, err in ((DENIED, NOT_AUTHORIZED), (CHALLENGE, CAN_OBTAIN)):
            if action is None:
                call(sb, uid, method, sig, args)
                continue
            m = sb.mark()
            e = expect_error(err, call, sb, uid, method, sig, args)
            assert 'org.anyd1.vault.' + action in e.message, (method, e.message)
            sb.wait_audit(m, ANYD_ACTION='org.anyd1.vault.' + action, ANYD_CALLER_UID=uid,
                          ANYD_RESULT='denied' if uid == DENIED else 'challenge')
    assert record_files(sb) + record_files(sb, 'keys') == files
    assert {f: os.stat(f).st_mtime_ns for f in files} == stamps
    assert get(sb, 'auth/x') == b'orig'


@case('every method as the allowed uid and as root succeeds (or fails only on input)')
def _(sb):
    for uid in (ALLOWED, ROOT):
        for method, sig, args, action in matrix_calls():
            try:
                call(sb, uid, method, sig, args)
            except DBusError as e:
                # Decrypt of b'c'*45 is garbage: a domain error, not authorization
                assert method == 'Decrypt' and e.name == INVALID, (uid, method, e)
        # undo what the round did so the next uid finds the same state
        delete(sb, 'auth/new')
        call(sb, ALLOWED, 'DeleteKey', '(s)', ('auth/k2',))
        put(sb, 'auth/x', b'orig')
        create_key(sb, 'auth/k')


@case('polkit details: a rules.d rule lets uid 3 read db/password only')
def _(sb):
    sb.write_rules('05-vault-details', '''
polkit.addRule(function(action, subject) {
    if (subject.user != "%s")
        return polkit.Result.NOT_HANDLED;
    if (action.id == "org.anyd1.vault.read")
        return action.lookup("secret") == "db/password" ? polkit.Result.YES : polkit.Result.NO;
    if (action.id == "org.anyd1.vault.use-key")
        return action.lookup("key") == "app" ? polkit.Result.YES : polkit.Result.NO;
    return polkit.Result.NO;
});
''' % anydtest.user_name(3))
    try:
        pw, other = secret('dbpw'), secret('dbother')
        put(sb, 'db/password', pw)
        put(sb, 'db/other', other)
        create_key(sb, 'app')
        create_key(sb, 'other-key')
        assert get(sb, 'db/password', uid=3) == pw
        for name in ('db/other', 'db', 'db/password/x', 'DB/password'):
            expect_error((NOT_AUTHORIZED, E + 'NotFound'), get, sb, name, uid=3)
        e = expect_error(NOT_AUTHORIZED, get, sb, 'db/other', uid=3)
        assert other.decode() not in e.message
        expect_error(NOT_AUTHORIZED, call, sb, 3, 'List')            # secret = ""
        expect_error(NOT_AUTHORIZED, put, sb, 'db/password', b'x', uid=3)
        expect_error(NOT_AUTHORIZED, rotate, sb, 'db/password', b'x', uid=3)
        ct = encrypt(sb, 'app', b'p', uid=3)
        assert decrypt(sb, 'app', ct, uid=3) == b'p'
        expect_error(NOT_AUTHORIZED, encrypt, sb, 'other-key', b'p', uid=3)
        expect_error(NOT_AUTHORIZED, call, sb, 3, 'ListKeys')        # key = ""
        expect_error(NOT_AUTHORIZED, create_key, sb, 'app2', uid=3)
        assert get(sb, 'db/password') == pw
    finally:
        sb.remove_rules('05-vault-details')


# ---- audit and leaks ----------------------------------------------------------------

@case('every read, write and key use is audited with the name, never the value')
def _(sb):
    v1, v2 = secret('audit1'), secret('audit2')
    m = sb.mark()
    put(sb, 'audit/x', v1)
    get(sb, 'audit/x')
    rotate(sb, 'audit/x', v2)
    call(sb, ALLOWED, 'List')
    delete(sb, 'audit/x')
    create_key(sb, 'audit/k')
    ct = encrypt(sb, 'audit/k', v1, b'aad')
    decrypt(sb, 'audit/k', ct, b'aad')
    expect_error(INVALID, decrypt, sb, 'audit/k', ct, b'bad')
    call(sb, ALLOWED, 'RotateKey', '(s)', ('audit/k',))
    call(sb, ALLOWED, 'ListKeys')
    call(sb, ALLOWED, 'DeleteKey', '(s)', ('audit/k',))
    expect_error(E + 'NotFound', get, sb, 'audit/x')
    want = [('vault.put', 'secret:audit/x', 'ok'), ('vault.get', 'secret:audit/x', 'ok'),
            ('vault.rotate', 'secret:audit/x', 'ok'), ('vault.list', None, 'ok'),
            ('vault.delete', 'secret:audit/x', 'ok'), ('vault.create-key', 'key:audit/k', 'ok'),
            ('vault.encrypt', 'key:audit/k', 'ok'), ('vault.decrypt', 'key:audit/k', 'ok'),
            ('vault.decrypt', 'key:audit/k', 'error'), ('vault.rotate-key', 'key:audit/k', 'ok'),
            ('vault.list-keys', None, 'ok'), ('vault.delete-key', 'key:audit/k', 'ok'),
            ('vault.get', 'secret:audit/x', 'error')]
    for action, obj, result in want:
        f = {'ANYD_ACTION': action, 'ANYD_RESULT': result, 'ANYD_CALLER_UID': ALLOWED}
        if obj:
            f['ANYD_OBJECT'] = obj
        sb.wait_audit(m, **f)
    # the gate's decision record carries the name as a polkit detail
    sb.wait_audit(m, ANYD_ACTION='org.anyd1.vault.read', ANYD_DETAILS='secret=audit/x')
    text = '\n'.join(sb.anyd_output()[m:]).encode()
    for x in (v1, v2):
        assert x not in text


@case('restart: secrets, versions, metadata and keys persist; old ciphertexts decrypt')
def _(sb):
    v = secret('persist')
    put(sb, 'persist/x', v, {'content_type': s('text/x-test')})
    rotate(sb, 'persist/x', secret('persist2'))
    create_key(sb, 'persist/k')
    ct = encrypt(sb, 'persist/k', b'pt', b'ad')
    pk = call(sb, ALLOWED, 'GetPublicKey', '(s)', ('k/sign',))
    before = listing(sb)
    keys_before = call(sb, ALLOWED, 'ListKeys')
    sb.restart_anyd()
    assert listing(sb) == before
    assert call(sb, ALLOWED, 'ListKeys') == keys_before
    assert get(sb, 'persist/x', version=1) == v
    assert decrypt(sb, 'persist/k', ct, b'ad') == b'pt'
    assert call(sb, ALLOWED, 'GetPublicKey', '(s)', ('k/sign',)) == pk
    assert any('vault:' in l and 'master key from' in l for l in sb.anyd_output())


@case('the state directory: root-only modes, no plaintext, no names in file names')
def _(sb):
    vd = vault_dir(sb)
    for root, dirs, files in os.walk(vd):
        st = os.stat(root)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0, (root, oct(st.st_mode))
        for f in files:
            p = os.path.join(root, f)
            st = os.lstat(p)
            assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, (p, oct(st.st_mode))
            assert not is_temp_file(f), 'leftover temp file %s' % p
            data = open(p, 'rb').read()
            for x in SECRETS:
                assert x not in data, 'plaintext of a secret in %s' % p
            for name in (b'rt/nul', b'persist/x', b'db/password', b'k/aead', b'application/octet-stream'):
                assert name not in data, '%r in %s' % (name, p)
    for f in record_files(sb) + record_files(sb, 'keys'):
        b = os.path.basename(f)
        assert len(b) == 64 and all(c in '0123456789abcdef' for c in b), b
        assert open(f, 'rb').read(6) in (b'AVLT\x01S', b'AVLT\x01K')


@case('a tampered file: Get fails with "entry is corrupt", other entries work, Delete clears it')
def _(sb):
    v, w = secret('tamper'), secret('tamper-other')
    before = set(record_files(sb))
    put(sb, 'tamper/x', v)
    put(sb, 'tamper/y', w)
    new = sorted(set(record_files(sb)) - before)
    assert len(new) == 2
    files = {f: open(f, 'rb').read() for f in new}
    # which file is tamper/x: flip a byte in each in turn, while anyd runs
    for f, data in files.items():
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x40
        tmp = f + '.t'
        open(tmp, 'wb').write(bytes(flipped))
        os.chmod(tmp, 0o600)
        os.rename(tmp, f)
    for name in ('tamper/x', 'tamper/y'):
        e = expect_error(E + 'Failed', get, sb, name)
        assert 'is corrupt' in e.message, e.message
        expect_error(E + 'Failed', rotate, sb, name, b'z')
        expect_error(E + 'Failed', put, sb, name, b'z')
    assert get(sb, 'persist/x', version=1)        # others unaffected
    # the same after a restart (anyd starts, and says which file)
    sb.restart_anyd()
    e = expect_error(E + 'Failed', get, sb, 'tamper/x')
    assert 'is corrupt' in e.message
    assert any('entry is corrupt' in l for l in sb.anyd_output()), sb.anyd_output()[-10:]
    assert 'tamper/x' not in listing(sb)
    # restoring the good bytes makes the entry readable again
    first = new[0]
    open(first + '.t', 'wb').write(files[first])
    os.chmod(first + '.t', 0o600)
    os.rename(first + '.t', first)
    got = []
    for name in ('tamper/x', 'tamper/y'):
        try:
            got.append(get(sb, name))
        except DBusError as e:
            assert 'is corrupt' in e.message
    assert len(got) == 1 and got[0] in (v, w), got
    delete(sb, 'tamper/x')
    delete(sb, 'tamper/y')
    assert set(record_files(sb)) == before


@case('a file swapped for another name\'s, truncated or garbage: "entry is corrupt", never a crash')
def _(sb):
    before = set(record_files(sb))
    put(sb, 'swap/a', secret('swapa'))
    fa = (set(record_files(sb)) - before).pop()
    put(sb, 'swap/b', secret('swapb'))
    fb = (set(record_files(sb)) - before - {fa}).pop()
    shutil.copy(fa, fb)       # b's file now holds a's (valid, sealed) record
    e = expect_error(E + 'Failed', get, sb, 'swap/b')
    assert 'is corrupt' in e.message, e.message
    # a key record in the secrets directory, truncation, garbage, empty
    kf = record_files(sb, 'keys')[0]
    for data in (open(kf, 'rb').read(), open(fa, 'rb').read()[:40], os.urandom(300), b'',
                 b'AVLT\x02S\x00\x00' + os.urandom(100)):
        open(fb, 'wb').write(data)
        e = expect_error(E + 'Failed', get, sb, 'swap/b')
        assert 'is corrupt' in e.message, e.message
    sb.kill_anyd()
    sb.start_anyd()
    expect_error(E + 'Failed', get, sb, 'swap/b')
    assert get(sb, 'swap/a')
    # a directory and a symlink where a record should be
    os.unlink(fb)
    os.symlink(fa, fb)
    sb.restart_anyd()
    expect_error(E + 'Failed', get, sb, 'swap/b')
    delete(sb, 'swap/b')
    assert not os.path.lexists(fb)
    delete(sb, 'swap/a')


@case('a write that fails (disk full): Failed, nothing changed, the next write works')
def _(sb):
    put(sb, 'full/x', b'old')
    d = os.path.join(vault_dir(sb), 'secrets')
    files = record_files(sb)
    size = sum((os.path.getsize(f) + 4095) // 4096 * 4096 for f in files) + 256 * 1024
    saved = {f: open(f, 'rb').read() for f in files}
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'mode=0700,size=%d' % size, 'vault-full', d], check=True)
    try:
        for f, data in saved.items():
            with open(f, 'wb') as out:
                out.write(data)
            os.chmod(f, 0o600)
        try:
            with open(os.path.join(d, 'zz-filler'), 'wb') as out:
                while True:
                    out.write(b'\0' * 65536)
                    out.flush()
        except OSError:
            pass
        e = expect_error(E + 'Failed', put, sb, 'full/new', b'n' * 60000)
        assert 'No space' in e.message, e.message
        e = expect_error(E + 'Failed', rotate, sb, 'full/x', b'n' * 60000)
        assert get(sb, 'full/x') == b'old'
        assert listing(sb)['full/x'][0] == 1
        expect_error(E + 'NotFound', get, sb, 'full/new')
        assert not [f for f in os.listdir(d) if f.startswith('.')], os.listdir(d)
        os.unlink(os.path.join(d, 'zz-filler'))
        assert rotate(sb, 'full/x', b'new') == 2
    finally:
        subprocess.run(['umount', d], check=True)
    # the tmpfs' rotation is gone with it: anyd sees the original file again
    assert get(sb, 'full/x') == b'old'
    delete(sb, 'full/x')


@case('[vault] versions_kept=0 is refused with a message naming the key')
def _(sb):
    sb.write_config('[vault]\nversions_kept=0\n', name='50-vault.conf')
    try:
        e = expect_error(E + 'InvalidArgument', sb.manager, ROOT, 'Reload')
        assert 'versions_kept' in e.message, e.message
    finally:
        sb.remove_config('50-vault.conf')
    rc, out = sb.run_anyd(['--config', sb.confdir, '--print-config'])
    assert rc == 0 and 'versions_kept' in out and 'max_value_size' in out, out


@case('temp files of writes a crash cut short are removed at start; records are kept')
def _(sb):
    put(sb, 'leftover/keep', b'kept')
    before = listing(sb)
    vd = vault_dir(sb)
    rec = os.path.basename(record_files(sb)[0])
    planted = [os.path.join(vd, 'secrets', rec + '.Ab3xZ9'),     # g_file_set_contents_full's naming
               os.path.join(vd, 'secrets', '.' + rec + '.q1W2e3'),
               os.path.join(vd, 'meta.Zz9yY8'), os.path.join(vd, 'master.key.k3Y5aa')]
    for f in planted:
        open(f, 'wb').write(b'half a write')
        os.chmod(f, 0o600)
    sb.restart_anyd()
    assert [f for f in planted if os.path.exists(f)] == []
    assert listing(sb) == before
    assert get(sb, 'leftover/keep') == b'kept'


@case('kill -9 during a stream of Puts: after a restart every acknowledged Put is readable')
def _(sb):
    # a flood on purpose: the per-uid call rate ([limits], test_limits.py)
    # would turn part of it into Busy; durability is what this case measures
    sb.write_config('[limits]\ncalls_per_second_per_uid=0\n', name='90-flood.conf')
    sb.restart_anyd()
    try:
        crash_during_puts(sb)
    finally:
        sb.remove_config('90-flood.conf')
        sb.restart_anyd()


def crash_during_puts(sb):
    c = sb.connect(ALLOWED)
    values = {}
    acked, pending = [], {}
    n, window = 0, 48
    killed = False
    deadline = time.monotonic() + 60 * slow(sb)
    try:
        while time.monotonic() < deadline:
            while not killed and len(pending) < window and n < 5000:
                name = 'crash/%05d' % n
                values[name] = secret('crash%d' % n)
                pending[name] = c.call_async(PATH, IFACE, 'Put', '(saya{sv})',
                                             (name, values[name], {}), timeout=30)
                n += 1
            for name, p in list(pending.items()):
                if p.done():
                    try:
                        p.wait(1)
                        acked.append(name)
                    except DBusError:
                        pass
                    del pending[name]
            if not killed and len(acked) >= 300:
                sb.kill_anyd()
                killed = True
            if killed and not pending:
                break
            time.sleep(0.001)
        assert killed and not pending, (killed, len(pending))
        diag('%d Puts sent, %d acknowledged before kill -9' % (n, len(acked)))
    finally:
        c.close()
    sb.start_anyd()
    for name in acked:
        assert get(sb, name) == values[name], name
    lst = listing(sb)
    for name in values:
        if name in lst:         # unacknowledged ones may or may not be there, but whole
            assert get(sb, name) == values[name], name
    leftovers = [f for f in os.listdir(os.path.join(vault_dir(sb), 'secrets')) if is_temp_file(f)]
    assert not leftovers, leftovers


# ---- the master key --------------------------------------------------------------------

def with_fresh_vault(sb, fn):
    """Run fn with an empty state directory for the vault; restore afterwards."""
    vd = vault_dir(sb)
    keep = vd + '.keep'
    sb.stop_anyd()
    os.rename(vd, keep)
    try:
        fn()
    finally:
        if sb.anyd and sb.anyd.poll() is None:
            sb.stop_anyd()
        shutil.rmtree(vd, ignore_errors=True)
        os.rename(keep, vd)
        sb.start_anyd()


@case('master key from the systemd credential anyd-vault.key (no key file is written)')
def _(sb):
    creds = os.path.join(anydtest.WORK, 'creds')
    os.makedirs(creds, exist_ok=True)
    os.chmod(creds, 0o700)
    cred = os.path.join(creds, 'anyd-vault.key')
    key = os.urandom(32)

    def run():
        open(cred, 'w').write(key.hex() + '\n')
        env = {'CREDENTIALS_DIRECTORY': creds}
        sb.start_anyd(env=env)
        v = secret('cred')
        put(sb, 'cred/x', v)
        assert not os.path.exists(os.path.join(vault_dir(sb), 'master.key'))
        assert any('credential anyd-vault.key' in l for l in sb.anyd_output())
        # the same key as 32 raw bytes opens it too
        sb.stop_anyd()
        open(cred, 'wb').write(key)
        sb.start_anyd(env=env)
        assert get(sb, 'cred/x') == v
        # another key: the vault is locked (Disabled), the rest of anyd works
        sb.stop_anyd()
        open(cred, 'wb').write(os.urandom(32))
        sb.start_anyd(env=env)
        e = expect_error(E + 'Disabled', get, sb, 'cred/x')
        assert 'locked' in e.message and 'does not open' in e.message, e.message
        for m, sig, args in (('List', '()', ()), ('ListKeys', '()', ()),
                             ('Put', '(saya{sv})', ('a', b'b', {})), ('GetPublicKey', '(s)', ('k',))):
            expect_error(E + 'Disabled', call, sb, ALLOWED, m, sig, args)
        sb.manager(ALLOWED, 'GetCallerInfo')
        # a malformed credential
        sb.stop_anyd()
        open(cred, 'wb').write(b'too short\n')
        sb.start_anyd(env=env)
        e = expect_error(E + 'Disabled', get, sb, 'cred/x')
        assert 'anyd-vault.key' in e.message and '32' in e.message, e.message
        # no credential and no key file, but entries: locked, nothing generated
        sb.stop_anyd()
        sb.start_anyd()
        e = expect_error(E + 'Disabled', get, sb, 'cred/x')
        assert 'no master key' in e.message, e.message
        assert not os.path.exists(os.path.join(vault_dir(sb), 'master.key'))
        # back to the right key
        sb.stop_anyd()
        open(cred, 'wb').write(key)
        sb.start_anyd(env=env)
        assert get(sb, 'cred/x') == v
    with_fresh_vault(sb, run)


@case('a master.key readable by others is refused (vault locked)')
def _(sb):
    path = os.path.join(vault_dir(sb), 'master.key')
    sb.stop_anyd()
    os.chmod(path, 0o644)
    try:
        sb.start_anyd()
        e = expect_error(E + 'Disabled', get, sb, 'persist/x')
        assert 'master.key' in e.message and '0644' in e.message, e.message
    finally:
        sb.stop_anyd()
        os.chmod(path, 0o600)
        sb.start_anyd()
    assert get(sb, 'persist/x')


@case('no core dumps: anyd runs with RLIMIT_CORE 0')
def _(sb):
    limits = open('/proc/%d/limits' % sb.anyd.pid).read()
    line = [l for l in limits.splitlines() if l.startswith('Max core file size')][0]
    assert line.split()[4:6] == ['0', '0'], line


@case('no secret value ever appeared in anyd\'s output (log and audit)')
def _(sb):
    with sb.lock:
        text = '\n'.join(sb.anyd_lines).encode()
    found = [x for x in SECRETS if x in text]
    assert not found, found[:3]
    diag('%d secret values checked against %d lines' % (len(SECRETS), len(sb.anyd_lines)))


anydtest.main()
