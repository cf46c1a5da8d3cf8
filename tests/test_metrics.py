#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Metrics: Manager.GetMetrics and [daemon] metrics_textfile, against the
# real polkitd of the sandbox. The text parses with the Prometheus client's
# own parser; every family has HELP and TYPE; counters move as calls are
# answered, denied and refused by a quota; the textfile is replaced
# atomically and readable by anyone; every uid may read the metrics, and no
# secret's or key's name appears in them.

import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import anydtest  # noqa: E402
from anydtest import ALLOWED, CHALLENGE, DENIED, ROOT, DBusError, case  # noqa: E402
from gi.repository import GLib  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

E = anydtest.ERROR_PREFIX
MANAGER = 'org.anyd1.Manager'
TUN, TUN_IFACE = '/org/anyd1/tun', 'org.anyd1.Tun'
VAULT, VAULT_IFACE = '/org/anyd1/vault', 'org.anyd1.Vault'
PROM_DIR = '/run/anyd-test/prom'
PROM = PROM_DIR + '/anyd.prom'

FAMILIES = {
    'anyd_build_info': 'gauge',
    'anyd_calls': 'counter',
    'anyd_auth_checks': 'counter',
    'anyd_auth_cache_hits': 'counter',
    'anyd_resources': 'gauge',
    'anyd_vpn_connection_up': 'gauge',
    'anyd_vpn_rx_bytes': 'counter',
    'anyd_vpn_tx_bytes': 'counter',
    'anyd_exec_processes': 'counter',
    'anyd_quota_refusals': 'counter',
}


def parse(text):
    """{family name: (type, documentation, [(sample name, labels, value)])}"""
    out = {}
    for fam in text_string_to_metric_families(text):
        out[fam.name] = (fam.type, fam.documentation,
                         [(s.name, dict(s.labels), s.value) for s in fam.samples])
    return out


def metrics(sb, uid=ROOT):
    return sb.manager(uid, 'GetMetrics')


def value(text, name, **labels):
    """The one sample called name with exactly these labels (0 if absent)."""
    found = [s for f in parse(text).values() for s in f[2]
             if s[0] == name and s[1] == labels]
    assert len(found) <= 1, found
    return found[0][2] if found else 0


def calls(text, iface, method, result):
    return value(text, 'anyd_calls_total', interface=iface, method=method, result=result)


def refused(fn, *a, name=None, **kw):
    try:
        fn(*a, **kw)
    except DBusError as e:
        if name:
            assert e.name == E + name, '%s: %s' % (e.name, e.message)
        return e
    raise AssertionError('call succeeded')


@case('GetMetrics parses as the Prometheus text format, every family with HELP and TYPE')
def _(sb):
    text = metrics(sb)
    fams = parse(text)
    for name, typ in FAMILIES.items():
        assert name in fams, 'no family %s in:\n%s' % (name, text)
        assert fams[name][0] == typ, (name, fams[name][0])
        assert fams[name][1], 'no HELP for ' + name
    for line in text.splitlines():
        assert line.strip(), 'empty line in the exposition'
    # the parser is lenient about comments: check HELP/TYPE lines ourselves
    for name in FAMILIES:
        full = name + ('_total' if FAMILIES[name] == 'counter' else '')
        if name == 'anyd_auth_cache_hits':
            full = 'anyd_auth_cache_hits_total'
        assert '# HELP %s ' % full in text, full
        assert '# TYPE %s %s\n' % (full, FAMILIES[name]) in text, full
    assert value(text, 'anyd_build_info', version=os.environ.get('ANYD_VERSION', '')) == 1, text
    results = {s[1]['result'] for s in fams['anyd_calls'][2]}
    assert results == {'ok', 'error', 'denied'}, results
    checks = {s[1]['result'] for s in fams['anyd_auth_checks'][2]}
    assert checks == {'allowed', 'denied', 'challenge', 'dismissed', 'error'}, checks
    # one series per row of the gate's tables: every method of the Manager
    methods = {(s[1]['interface'], s[1]['method']) for s in fams['anyd_calls'][2]}
    for m in ('GetCallerInfo', 'GetMetrics', 'Reload'):
        assert (MANAGER, m) in methods, methods
    assert (TUN_IFACE, 'Create') in methods, methods
    assert {s[1]['module'] for s in fams['anyd_quota_refusals'][2]} >= {'tun', 'vault', 'vpn'}


@case('calls are counted as ok, error and denied per method; checks and cache hits move')
def _(sb):
    before = metrics(sb)
    for _ in range(3):
        sb.manager(ALLOWED, 'GetCallerInfo')
    sb.manager(ALLOWED, 'Reload')
    sb.manager(ALLOWED, 'Reload')          # the second from the decision cache
    refused(sb.manager, DENIED, 'Reload', name='NotAuthorized')
    refused(sb.manager, CHALLENGE, 'Reload', name='NotAuthorizedCanObtain')
    refused(sb.call, ALLOWED, TUN, TUN_IFACE, 'Create', '(sa{sv})',
            ('bad/name', {}), name='InvalidArgument')
    after = metrics(sb)
    assert calls(after, MANAGER, 'GetCallerInfo', 'ok') - calls(before, MANAGER, 'GetCallerInfo', 'ok') == 3
    assert calls(after, MANAGER, 'Reload', 'ok') - calls(before, MANAGER, 'Reload', 'ok') == 2
    assert calls(after, MANAGER, 'Reload', 'denied') - calls(before, MANAGER, 'Reload', 'denied') == 2
    assert calls(after, MANAGER, 'Reload', 'error') == calls(before, MANAGER, 'Reload', 'error')
    assert calls(after, TUN_IFACE, 'Create', 'error') - calls(before, TUN_IFACE, 'Create', 'error') == 1
    assert calls(after, TUN_IFACE, 'Create', 'ok') == calls(before, TUN_IFACE, 'Create', 'ok')
    # the GetMetrics call that produced `before` is counted in `after`
    assert calls(after, MANAGER, 'GetMetrics', 'ok') - calls(before, MANAGER, 'GetMetrics', 'ok') == 1

    def d(res):
        return (value(after, 'anyd_auth_checks_total', result=res)
                - value(before, 'anyd_auth_checks_total', result=res))
    assert d('allowed') >= 3, after      # Reload twice, Create once
    assert d('denied') >= 1 and d('challenge') >= 1, after
    assert (value(after, 'anyd_auth_cache_hits_total')
            > value(before, 'anyd_auth_cache_hits_total')), after


@case('every uid may call GetMetrics; a denied caller sees no secret name or value')
def _(sb):
    name, key = 'metrics-hidden-secret-7f3a', 'metrics-hidden-key-9c1d'
    payload = b'metrics-hidden-value-55aa'
    sb.call(ALLOWED, VAULT, VAULT_IFACE, 'Put', '(saya{sv})', (name, payload, {}))
    try:
        sb.call(ALLOWED, VAULT, VAULT_IFACE, 'CreateKey', '(ssa{sv})', (key, 'ed25519', {}))
    except DBusError:
        pass   # the name must not appear either way
    sb.call(ALLOWED, VAULT, VAULT_IFACE, 'Get', '(sa{sv})', (name, {}))
    for uid in (DENIED, CHALLENGE, ALLOWED, ROOT):
        text = metrics(sb, uid)
        parse(text)
        for word in (name, key, payload.decode(), 'metrics-hidden'):
            assert word not in text, '%s in the metrics of uid %d' % (word, uid)


@case('quota refusals are counted per module; anyd_resources counts live TUN devices')
def _(sb):
    sb.write_config('[limits]\nmax_resources_per_uid=1\n')
    sb.restart_anyd()
    try:
        before = metrics(sb)
        assert value(before, 'anyd_resources', module='tun') == 0, before
        c = sb.connect(ALLOWED)
        c.call(TUN, TUN_IFACE, 'Create', '(sa{sv})', ('mq0', {}))
        e = refused(c.call, TUN, TUN_IFACE, 'Create', '(sa{sv})', ('mq1', {}), name='Busy')
        assert 'max_resources_per_uid' in e.message, e.message
        after = metrics(sb)
        assert value(after, 'anyd_resources', module='tun') == 1, after
        assert (value(after, 'anyd_quota_refusals_total', module='tun')
                - value(before, 'anyd_quota_refusals_total', module='tun')) == 1, after
        assert calls(after, TUN_IFACE, 'Create', 'error') - calls(before, TUN_IFACE, 'Create', 'error') == 1
        assert calls(after, TUN_IFACE, 'Create', 'ok') - calls(before, TUN_IFACE, 'Create', 'ok') == 1
        c.close()     # the device was not persistent: it goes with its caller
        anyd_wait(lambda: value(metrics(sb), 'anyd_resources', module='tun') == 0, 'device removal')
    finally:
        sb.clear_config()
        sb.restart_anyd()


@case('the per-uid call rate counts its refusals for the module of the action')
def _(sb):
    sb.write_config('[limits]\ncalls_per_second_per_uid=1\n')
    sb.restart_anyd()
    try:
        before = value(metrics(sb), 'anyd_quota_refusals_total', module='daemon')
        n = 0
        for _ in range(10):
            try:
                sb.manager(ALLOWED, 'Reload')
            except DBusError as e:
                assert e.name == E + 'Busy', e
                n += 1
        assert n > 0, 'no call was refused'
        after = value(metrics(sb), 'anyd_quota_refusals_total', module='daemon')
        assert after - before == n, (before, after, n)
    finally:
        sb.clear_config()
        sb.restart_anyd()


def anyd_wait(pred, what, timeout=10):
    anydtest.wait_until(pred, timeout, interval=0.05, what=what)


@case('metrics_textfile: replaced atomically every interval, mode 0644, parses, no temp files left')
def _(sb):
    os.makedirs(PROM_DIR, exist_ok=True)
    sb.write_config('[daemon]\nmetrics_textfile=%s\nmetrics_interval_s=1\n' % PROM)
    sb.restart_anyd()
    try:
        anyd_wait(lambda: os.path.exists(PROM), 'the textfile')
        st = os.stat(PROM)
        assert stat.S_IMODE(st.st_mode) == 0o644, oct(st.st_mode)
        inodes = set()
        deadline = time.monotonic() + 3.5
        reads = 0
        while time.monotonic() < deadline:
            with open(PROM) as f:
                inodes.add(os.fstat(f.fileno()).st_ino)
                text = f.read()
            # never a half-written file: complete, parseable, ends with a newline
            assert text.endswith('\n') and 'anyd_build_info{' in text, text[-200:]
            parse(text)
            reads += 1
            time.sleep(0.002)
        assert len(inodes) >= 2, 'the file was not replaced (one inode over 3.5 s)'
        assert reads > 100, reads
        left = [n for n in os.listdir(PROM_DIR) if n != 'anyd.prom']
        assert not left, left
        # anyone may read it (node_exporter runs as its own user)
        rc, out, err = sb.run_as(DENIED, ['cat', PROM])
        assert rc == 0 and 'anyd_calls_total' in out, err
        # what it holds moves with the calls
        sb.manager(ALLOWED, 'GetCallerInfo')
        n = calls(metrics(sb), MANAGER, 'GetCallerInfo', 'ok')
        anyd_wait(lambda: calls(open(PROM).read(), MANAGER, 'GetCallerInfo', 'ok') >= n, 'a newer file')
    finally:
        sb.clear_config()
        sb.restart_anyd()


@case('metrics_textfile in a missing directory: a warning, anyd runs, the file comes with the directory')
def _(sb):
    missing = '/run/anyd-test/prom-later'
    if os.path.isdir(missing):
        os.rmdir(missing)
    sb.write_config('[daemon]\nmetrics_textfile=%s/anyd.prom\nmetrics_interval_s=1\n' % missing)
    sb.restart_anyd()
    try:
        anyd_wait(lambda: any('metrics_textfile' in l for l in sb.anyd_output()), 'the warning')
        warnings = [line for line in sb.anyd_output() if 'metrics_textfile' in line]
        assert 'No such file' in warnings[0] or 'prom-later' in warnings[0], warnings
        time.sleep(2.2)
        assert len([line for line in sb.anyd_output() if 'metrics_textfile' in line]) == 1, \
            'warned again for the same failure'
        assert sb.anyd.poll() is None
        metrics(sb)
        os.makedirs(missing)
        anyd_wait(lambda: os.path.exists(missing + '/anyd.prom'), 'the textfile', timeout=5)
    finally:
        sb.clear_config()
        sb.restart_anyd()


@case('Reload turns the textfile on and changes it; bad values are refused with the key named')
def _(sb):
    os.makedirs(PROM_DIR, exist_ok=True)
    other = PROM_DIR + '/reloaded.prom'
    sb.write_config('[daemon]\nmetrics_textfile=%s\nmetrics_interval_s=1\n' % other)
    sb.manager(ROOT, 'Reload')
    try:
        anyd_wait(lambda: os.path.exists(other), 'the textfile after Reload')
        sb.write_config('[daemon]\nmetrics_interval_s=many\n')
        e = refused(sb.manager, ROOT, 'Reload')
        assert 'metrics_interval_s' in e.message, e.message
    finally:
        sb.clear_config()
        sb.restart_anyd()


def has(text, name, **labels):
    return any(s[0] == name and s[1] == labels for f in parse(text).values() for s in f[2])


@case('VPN: anyd_vpn_connection_up for every profile; a connection counts in anyd_resources, its bytes grow')
def _(sb):
    import vpnpeer
    VPN, VPN_IFACE, NAME = '/org/anyd1/vpn', 'org.anyd1.Vpn', 'wg-metrics'
    peer = vpnpeer.Peer()
    peer.start()
    priv, pub = vpnpeer.genkey()
    peer.allow(pub)
    path = sb.call(ALLOWED, VPN, VPN_IFACE, 'ImportProfile', '(ssa{sv})',
                   (NAME, vpnpeer.profile(priv, peer.pub), {}))
    try:
        text = metrics(sb)
        assert has(text, 'anyd_vpn_connection_up', profile=NAME, type='wireguard'), text
        assert value(text, 'anyd_vpn_connection_up', profile=NAME, type='wireguard') == 0
        assert not has(text, 'anyd_vpn_rx_bytes_total', profile=NAME)
        assert value(text, 'anyd_resources', module='vpn') == 0
        sb.call(ALLOWED, VPN, VPN_IFACE, 'Connect', '(s)', (NAME,))
        assert vpnpeer.ping(vpnpeer.TUN_PEER4, timeout=3), 'no ping through the tunnel'
        anyd_wait(lambda: value(metrics(sb), 'anyd_vpn_connection_up', profile=NAME, type='wireguard') == 1,
                  'connection_up 1')
        for _ in range(3):
            vpnpeer.ping(vpnpeer.TUN_PEER4)

        def grew():
            t = metrics(sb)
            return (value(t, 'anyd_vpn_rx_bytes_total', profile=NAME) > 0 and
                    value(t, 'anyd_vpn_tx_bytes_total', profile=NAME) > 0) and t
        text = anydtest.wait_until(grew, 10, interval=0.3, what='rx/tx bytes in the metrics')
        assert value(text, 'anyd_resources', module='vpn') == 1, text
        assert priv not in text and pub not in text and peer.pub not in text
        sb.call(ALLOWED, VPN, VPN_IFACE, 'Disconnect', '(s)', (NAME,))
        anyd_wait(lambda: value(metrics(sb), 'anyd_resources', module='vpn') == 0, 'the connection gone')
        text = metrics(sb)
        assert value(text, 'anyd_vpn_connection_up', profile=NAME, type='wireguard') == 0, text
        assert not has(text, 'anyd_vpn_rx_bytes_total', profile=NAME), text
    finally:
        try:
            sb.call(ALLOWED, VPN, VPN_IFACE, 'Disconnect', '(s)', (NAME,))
        except DBusError:
            pass
        sb.call(ALLOWED, path, 'org.anyd1.VpnProfile', 'Delete')
        peer.stop()
    assert not has(metrics(sb), 'anyd_vpn_connection_up', profile=NAME, type='wireguard')


@case('anyd-client metrics prints the text; --json gives the samples')
def _(sb):
    import json
    rc, out, err = sb.client(DENIED, 'metrics')
    assert rc == 0, err
    assert 'anyd_build_info' in parse(out), out[:300]
    rc, out, err = sb.client(DENIED, '--json', 'metrics')
    assert rc == 0, err
    data = json.loads(out)
    names = {f['name'] for f in data}
    assert 'anyd_calls_total' in names and 'anyd_build_info' in names, names
    fam = [f for f in data if f['name'] == 'anyd_calls_total'][0]
    assert fam['type'] == 'counter' and fam['help'], fam
    s = fam['samples'][0]
    assert set(s['labels']) == {'interface', 'method', 'result'}, s
    assert isinstance(s['value'], (int, float)), s


if __name__ == '__main__':
    anydtest.main(systemd=True)   # VPN data planes are systemd units
