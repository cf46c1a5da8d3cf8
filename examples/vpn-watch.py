#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vpn-watch.py: print the state of every VPN connection of anyd as it
# changes, the way a tray icon would follow it.  Uses libanyd through
# GObject Introspection:
#
#     GI_TYPELIB_PATH=build/lib LD_LIBRARY_PATH=build/lib ./examples/vpn-watch.py
#
# One line per change: "<profile> <state> [<reason>]", flushed at once.

import gi

gi.require_version('Anyd', '1.0')
from gi.repository import Anyd, GLib  # noqa: E402


def profile_name(conn):
    # /org/anyd1/vpn/profiles/<escaped name> -> the name
    return Anyd.unescape_path_element(conn.props.profile.rsplit('/', 1)[-1])


def show(conn, state, reason=''):
    # the enum round-trip keeps unknown future states visible, not fatal
    word = Anyd.vpn_state_to_string(Anyd.vpn_state_from_string(state))
    print(profile_name(conn), word, reason, flush=True)


names = {}  # object path -> profile name: a removed object has no interfaces left


def watch(obj):
    conn = obj.get_vpn_connection()
    if conn is None:
        return
    names[obj.get_object_path()] = profile_name(conn)
    show(conn, conn.props.state)
    conn.connect('state-changed', lambda c, state, reason: show(c, state, reason))


def gone(obj):
    name = names.pop(obj.get_object_path(), None)
    if name is not None:
        print(name, 'removed', flush=True)


def main():
    client = Anyd.Client.new_sync(None)
    if not client.has_module('vpn'):
        raise SystemExit('vpn-watch: the vpn module is not enabled in anyd')
    manager = client.props.object_manager
    for obj in manager.get_objects():
        watch(obj)
    manager.connect('object-added', lambda m, obj: watch(obj))
    manager.connect('object-removed', lambda m, obj: gone(obj))
    print('watching', flush=True)
    GLib.MainLoop().run()


if __name__ == '__main__':
    main()
