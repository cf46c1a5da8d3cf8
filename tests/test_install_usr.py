#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The README's install steps, checked: a build configured on its own with
# `meson setup BUILD --prefix=/usr`, installed into a DESTDIR, must put each
# file where Debian's dbus, polkit, systemd, man and bash-completion read it.
# The expected places come from the real system, not from our meson files:
# pkg-config (dbus-1, polkit-gobject-1, systemd, bash-completion), the bus's
# own system.conf, and the rules directories compiled into polkitd.
# No sandbox; nothing is installed outside the temporary DESTDIR.

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

src = os.environ.get('ANYD_SRCDIR') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = []


def case(name, ok, why=''):
    results.append((name, ok, why))


def pkgvar(pkg, var):
    p = subprocess.run(['pkg-config', '--variable=' + var, pkg], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def bus_policy_dirs():
    """The <includedir>s of the system bus's own configuration."""
    conf = '/usr/share/dbus-1/system.conf'
    dirs = []
    for el in ET.parse(conf).getroot().iter('includedir'):
        d = el.text.strip()
        dirs.append(os.path.normpath(d if d.startswith('/') else os.path.join(os.path.dirname(conf), d)))
    return dirs


def polkit_rules_dirs():
    """The rules directories polkitd has compiled in."""
    for exe in ('/usr/lib/polkit-1/polkitd', '/usr/libexec/polkitd', '/usr/lib/polkit-1/polkitd-mozjs'):
        if os.path.exists(exe):
            with open(exe, 'rb') as f:
                found = set(re.findall(rb'/[A-Za-z0-9/_.-]*/polkit-1/rules\.d', f.read()))
            if found:
                return sorted(x.decode() for x in found)
    return []


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def ini_value(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + '='):
                return line.split('=', 1)[1].strip()
    return None


with tempfile.TemporaryDirectory(prefix='anyd-usr-') as tmp:
    build, dest = os.path.join(tmp, 'build-release'), os.path.join(tmp, 'dest')
    # as in the README, but without tests and optimisation (faster here)
    p = run(['meson', 'setup', build, src, '--prefix=/usr', '-Dadmin_group=sudo',
             '-Dtests=false', '-Dbuildtype=plain'])
    ok = p.returncode == 0
    if ok:
        p = run(['ninja', '-C', build])
        ok = p.returncode == 0
    if ok:
        p = run(['meson', 'install', '-C', build, '--no-rebuild', '--quiet', '--destdir', dest])
        ok = p.returncode == 0
    case('meson setup --prefix=/usr, ninja, meson install into a DESTDIR', ok,
         (p.stdout + p.stderr)[-3000:])
    if not ok:
        dest = None

    def installed(path):
        return dest is not None and os.path.isfile(dest + path)

    def check(name, expected_dir, filename, why_dir):
        if expected_dir is None:
            case(name, False, 'no expected directory: ' + why_dir)
            return
        path = os.path.join(expected_dir, filename)
        case('%s: %s (%s)' % (name, path, why_dir), installed(path),
             'not installed there; installed: %s' % sorted(all_files))

    all_files = []
    if dest:
        for root, dirs, names in os.walk(dest):
            for n in names:
                all_files.append('/' + os.path.relpath(os.path.join(root, n), dest))

    dbus_datadir = pkgvar('dbus-1', 'datadir')
    policy_dir = os.path.join(dbus_datadir, 'dbus-1', 'system.d') if dbus_datadir else None
    check('bus policy', policy_dir, 'org.anyd1.conf', 'pkg-config dbus-1 datadir + dbus-1/system.d')
    case('the bus policy directory is one the system bus includes (%s)' % policy_dir,
         policy_dir in bus_policy_dirs(), 'system.conf includes %s' % bus_policy_dirs())
    services_dir = pkgvar('dbus-1', 'system_bus_services_dir')
    check('activation file', services_dir, 'org.anyd1.service', 'pkg-config dbus-1 system_bus_services_dir')
    check('interface XML', pkgvar('dbus-1', 'interfaces_dir'), 'org.anyd1.Manager.xml',
          'pkg-config dbus-1 interfaces_dir')
    actions_dir = pkgvar('polkit-gobject-1', 'policydir')
    check('polkit actions', actions_dir, 'org.anyd1.policy', 'pkg-config polkit-gobject-1 policydir')
    case('polkit-gobject-1 actiondir is the same directory',
         pkgvar('polkit-gobject-1', 'actiondir') in (None, actions_dir), pkgvar('polkit-gobject-1', 'actiondir'))
    rules_dirs = [d for d in polkit_rules_dirs() if not d.startswith('/etc/')]
    check('polkit rules', rules_dirs[0] if rules_dirs else None, '50-org.anyd1.rules',
          'the packaged rules directory polkitd reads')
    unit_dir = pkgvar('systemd', 'systemdsystemunitdir')
    check('systemd unit', unit_dir, 'anyd.service', 'pkg-config systemd systemdsystemunitdir')
    for sec, page in (('1', 'anyd-client.1'), ('5', 'anyd.conf.5'), ('8', 'anyd.8')):
        check('man page', '/usr/share/man/man' + sec, page, "man-db's /usr/share/man")
    comp_dir = pkgvar('bash-completion', 'completionsdir')
    check('bash completion', comp_dir, 'anyd-client', 'pkg-config bash-completion completionsdir')
    check('configuration', '/etc/anyd', 'anyd.conf', 'sysconfdir is /etc for prefix /usr')
    case('anyd.conf.d exists', dest is not None and os.path.isdir(dest + '/etc/anyd/anyd.conf.d'))
    check('daemon', '/usr/libexec', 'anyd', 'libexecdir')
    check('client', '/usr/bin', 'anyd-client', 'bindir')
    for tool, pc in (('tmpfiles.d', 'tmpfilesdir'), ('sysusers.d', 'sysusersdir')):
        extra = [f for f in all_files if '/%s/' % tool in f]
        d = pkgvar('systemd', pc)
        case('%s files (if any) are in %s' % (tool, d), all(os.path.dirname(f) == d for f in extra), str(extra))

    stray = [f for f in all_files if f.startswith('/usr/local/') or
             not f.startswith(('/usr/', '/etc/', '/lib/'))]
    case('nothing under /usr/local or outside /usr, /etc, /lib', not stray, str(stray))

    # the installed files point at each other's installed places
    if dest and installed(os.path.join(services_dir or '', 'org.anyd1.service')):
        act = dest + os.path.join(services_dir, 'org.anyd1.service')
        case('activation file: Exec=/usr/libexec/anyd, SystemdService=anyd.service',
             ini_value(act, 'Exec') == '/usr/libexec/anyd' and ini_value(act, 'SystemdService') == 'anyd.service',
             open(act).read())
    if dest and unit_dir and installed(os.path.join(unit_dir, 'anyd.service')):
        unit = dest + os.path.join(unit_dir, 'anyd.service')
        case('unit: ExecStart=/usr/libexec/anyd', ini_value(unit, 'ExecStart') == '/usr/libexec/anyd',
             ini_value(unit, 'ExecStart'))
    if dest and installed('/usr/libexec/anyd'):
        p = run([dest + '/usr/libexec/anyd', '--help'])
        case('the daemon reads /etc/anyd by default', 'default /etc/anyd' in p.stdout, p.stdout + p.stderr)

print('1..%d' % len(results))
for i, (name, ok, why) in enumerate(results, 1):
    print('%sok %d - %s' % ('' if ok else 'not ', i, name))
    if not ok:
        for line in str(why).splitlines():
            print('# ' + line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
