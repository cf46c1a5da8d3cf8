#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# caller.py: a D-Bus caller that runs as some uid (started by anydtest.py
# through setpriv) and keeps ONE connection to the system bus open while it
# serves requests from the test over a unix socket on fd 0.
#
# Protocol: one JSON object per line each way.  File descriptors travel as
# SCM_RIGHTS ancillary data attached to the line that needs them, in order.
#
#   -> {"id": 1, "op": "call", "dest": "org.anyd1", "path": "/org/anyd1",
#       "iface": "org.anyd1.Manager", "method": "Reload", "sig": "()",
#       "args": "()", "interactive": false, "timeout_ms": 25000, "nfds": 0}
#   <- {"id": 1, "ok": true, "result": "<GVariant text>", "sig": "()", "nfds": 0}
#   <- {"id": 1, "ok": false, "name": "org.anyd1.Error.NotAuthorized", "message": "..."}
#
# Other ops: "hello" (uid, pid, unique name), "register_agent" (a polkit
# authentication agent for this process whose BeginAuthentication never
# completes, or with "mode": "dismiss" is answered as dismissed), "agent_state" (how many authentications began/were
# cancelled), "close".  Calls are asynchronous: several may be in flight at
# once on the one connection, answered in completion order.

import array
import json
import os
import socket

import gi

gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_ADDRESS = 'unix:path=/run/dbus/system_bus_socket'
AGENT_PATH = '/org/anyd1/test/AuthenticationAgent'
AGENT_XML = '''
<node>
  <interface name="org.freedesktop.PolicyKit1.AuthenticationAgent">
    <method name="BeginAuthentication">
      <arg type="s" name="action_id" direction="in"/>
      <arg type="s" name="message" direction="in"/>
      <arg type="s" name="icon_name" direction="in"/>
      <arg type="a{ss}" name="details" direction="in"/>
      <arg type="s" name="cookie" direction="in"/>
      <arg type="a(sa{sv})" name="identities" direction="in"/>
    </method>
    <method name="CancelAuthentication">
      <arg type="s" name="cookie" direction="in"/>
    </method>
  </interface>
</node>
'''


class Caller:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b''
        self.fd_queue = []
        self.loop = GLib.MainLoop()
        self.conn = Gio.DBusConnection.new_for_address_sync(
            BUS_ADDRESS,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)
        self.conn.set_exit_on_close(False)
        self.agent_reg_id = 0
        self.agent_begun = []      # action ids of BeginAuthentication calls
        self.agent_cancelled = 0
        self.agent_mode = 'hang'   # or 'dismiss': answer BeginAuthentication with Cancelled
        self.pending_auth = []     # invocations we never answer (on purpose)
        GLib.io_add_watch(sock.fileno(), GLib.PRIORITY_DEFAULT,
                          GLib.IOCondition.IN | GLib.IOCondition.HUP |
                          GLib.IOCondition.ERR, self.on_input)

    # ---- transport -------------------------------------------------------

    def send(self, obj, fds=()):
        data = (json.dumps(obj) + '\n').encode()
        if fds:
            self.sock.sendmsg([data[:1]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                            array.array('i', fds))])
            self.sock.sendall(data[1:])
        else:
            self.sock.sendall(data)

    def on_input(self, fd, cond):
        try:
            msg, ancdata, _flags, _addr = self.sock.recvmsg(
                65536, socket.CMSG_SPACE(64 * 4))
        except OSError:
            msg = b''
            ancdata = []
        for level, typ, data in ancdata:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds = array.array('i')
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                self.fd_queue.extend(fds)
        if not msg:
            self.loop.quit()
            return False
        self.buf += msg
        while b'\n' in self.buf:
            line, self.buf = self.buf.split(b'\n', 1)
            if line.strip():
                self.handle(json.loads(line))
        return True

    def reply_error(self, rid, err):
        name = Gio.DBusError.get_remote_error(err)
        if name is None:
            if err.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT):
                name = 'org.freedesktop.DBus.Error.Timeout'
            else:
                name = Gio.DBusError.encode_gerror(err)
        message = err.message
        prefix = 'GDBus.Error:%s: ' % name
        if message.startswith(prefix):       # what strip_remote_error does
            message = message[len(prefix):]
        self.send({'id': rid, 'ok': False, 'name': name, 'message': message})

    # ---- requests --------------------------------------------------------

    def handle(self, req):
        rid = req.get('id')
        op = req.get('op')
        try:
            if op == 'hello':
                self.send({'id': rid, 'ok': True, 'uid': os.getuid(),
                           'gid': os.getgid(), 'pid': os.getpid(),
                           'unique_name': self.conn.get_unique_name()})
            elif op == 'call':
                self.do_call(rid, req)
            elif op == 'register_agent':
                self.do_register_agent(rid, req)
            elif op == 'unregister_agent':
                self.do_unregister_agent(rid)
            elif op == 'agent_state':
                self.send({'id': rid, 'ok': True, 'begun': self.agent_begun,
                           'cancelled': self.agent_cancelled})
            elif op == 'close':
                self.send({'id': rid, 'ok': True})
                self.loop.quit()
            else:
                self.send({'id': rid, 'ok': False, 'name': 'caller.Error',
                           'message': 'unknown op %r' % op})
        except GLib.Error as e:
            self.reply_error(rid, e)
        except Exception as e:  # report, keep serving
            self.send({'id': rid, 'ok': False, 'name': 'caller.Error',
                       'message': '%s: %s' % (type(e).__name__, e)})

    def do_call(self, rid, req):
        nfds = req.get('nfds', 0)
        fds, self.fd_queue = self.fd_queue[:nfds], self.fd_queue[nfds:]
        fdlist = None
        if fds:
            # append() dups: the list owns its copies, we close ours below
            fdlist = Gio.UnixFDList.new()
            for fd in fds:
                fdlist.append(fd)
        args = GLib.Variant.parse(GLib.VariantType.new(req['sig']), req['args'], None, None)
        flags = Gio.DBusCallFlags.NONE
        if req.get('interactive'):
            flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
        if req.get('no_auto_start'):
            flags |= Gio.DBusCallFlags.NO_AUTO_START
        timeout = req.get('timeout_ms', -1)
        reply_type = GLib.VariantType.new(req['reply_sig']) if req.get('reply_sig') else None

        def done(conn, res, _data):
            try:
                result, out_fds = conn.call_with_unix_fd_list_finish(res)
            except GLib.Error as e:
                self.reply_error(rid, e)
                return
            fdl = out_fds.steal_fds() if out_fds is not None else []
            self.send({'id': rid, 'ok': True, 'result': result.print_(True),
                       'sig': result.get_type_string(), 'nfds': len(fdl)}, fdl)
            for fd in fdl:
                os.close(fd)

        self.conn.call_with_unix_fd_list(
            req.get('dest') or None, req['path'], req['iface'], req['method'], args,
            reply_type, flags, timeout, fdlist, None, done, None)
        for fd in fds:
            os.close(fd)

    # ---- a polkit authentication agent that never answers ------------------

    def on_agent_call(self, conn, sender, path, iface, method, params, invocation):
        if method == 'BeginAuthentication':
            self.agent_begun.append(params.unpack()[0])
            if self.agent_mode == 'dismiss':
                # the user closed the dialog
                invocation.return_dbus_error('org.freedesktop.PolicyKit1.Error.Cancelled',
                                             'dismissed by the test agent')
                return
            # Keep the invocation: polkitd waits for the reply forever,
            # which is exactly a user who never types the password.
            self.pending_auth.append(invocation)
        elif method == 'CancelAuthentication':
            self.agent_cancelled += 1
            for inv in self.pending_auth:
                inv.return_dbus_error('org.freedesktop.PolicyKit1.Error.Cancelled',
                                      'cancelled')
            self.pending_auth = []
            invocation.return_value(None)
        else:
            invocation.return_dbus_error('org.freedesktop.DBus.Error.UnknownMethod', method)

    def do_register_agent(self, rid, req):
        self.agent_mode = req.get('mode', 'hang')
        if not self.agent_reg_id:
            info = Gio.DBusNodeInfo.new_for_xml(AGENT_XML)
            self.agent_reg_id = self.conn.register_object(
                AGENT_PATH, info.interfaces[0], self.on_agent_call, None, None)
        with open('/proc/self/stat') as f:
            # field 22 (starttime); the command may hold spaces, so split after ')'
            start_time = int(f.read().rsplit(')', 1)[1].split()[19])
        subject = ('unix-process', {'pid': GLib.Variant('u', os.getpid()),
                                    'start-time': GLib.Variant('t', start_time)})
        args = GLib.Variant('((sa{sv})ss)', (subject, req.get('locale', 'C'), AGENT_PATH))

        def done(conn, res, _data):
            try:
                conn.call_finish(res)
            except GLib.Error as e:
                self.reply_error(rid, e)
                return
            self.send({'id': rid, 'ok': True, 'pid': os.getpid(),
                       'start_time': start_time, 'path': AGENT_PATH})

        self.conn.call('org.freedesktop.PolicyKit1', '/org/freedesktop/PolicyKit1/Authority',
                       'org.freedesktop.PolicyKit1.Authority',
                       'RegisterAuthenticationAgent', args, None,
                       Gio.DBusCallFlags.NONE, 10000, None, done, None)

    def do_unregister_agent(self, rid):
        with open('/proc/self/stat') as f:
            start_time = int(f.read().rsplit(')', 1)[1].split()[19])
        subject = ('unix-process', {'pid': GLib.Variant('u', os.getpid()),
                                    'start-time': GLib.Variant('t', start_time)})
        self.conn.call_sync('org.freedesktop.PolicyKit1', '/org/freedesktop/PolicyKit1/Authority',
                            'org.freedesktop.PolicyKit1.Authority',
                            'UnregisterAuthenticationAgent',
                            GLib.Variant('((sa{sv})s)', (subject, AGENT_PATH)),
                            None, Gio.DBusCallFlags.NONE, 10000, None)
        self.send({'id': rid, 'ok': True})


def main():
    sock = socket.socket(fileno=os.dup(0))
    os.close(0)
    os.open('/dev/null', os.O_RDONLY)  # fd 0 again, harmless
    caller = Caller(sock)
    caller.loop.run()
    caller.conn.close_sync(None)


if __name__ == '__main__':
    main()
