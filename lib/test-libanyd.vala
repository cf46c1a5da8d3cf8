/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vapi is usable: enums with their strings, the options builder, path
 * escaping and the error domain, from Vala (TAP). */

/* Not run (no daemon here): compiles only if argv is a string array. */
string run_true (Anyd.Exec exec, GLib.UnixFDList fds) throws GLib.Error {
    string path;
    GLib.UnixFDList out_fds;
    exec.call_run_sync ({ "/bin/true" }, new Anyd.Options ().end (), GLib.DBusCallFlags.NONE, -1,
                        fds, out path, out out_fds);
    return path;
}

int main () {
    int n = 0;
    bool ok;

    ok = Anyd.VpnState.from_string ("failed") == Anyd.VpnState.FAILED &&
         Anyd.VpnState.CONNECTED.to_string () == "connected";
    print ("%sok %d - VpnState round-trip\n", ok ? "" : "not ", ++n);

    var opts = new Anyd.Options.tun ("tap", 1400, { "10.0.0.1/24" }, true, false);
    opts.set_uint32 ("owner", 7);
    var v = opts.end ();
    ok = v.lookup_value ("mode", VariantType.STRING).get_string () == "tap" &&
         v.lookup_value ("owner", VariantType.UINT32).get_uint32 () == 7;
    print ("%sok %d - Options builds a{sv}\n", ok ? "" : "not ", ++n);

    ok = Anyd.escape_path_element ("wg-home") == "wg_2dhome";
    print ("%sok %d - path escaping\n", ok ? "" : "not ", ++n);

    var fds = new GLib.UnixFDList ();
    try {
        ok = opts.set_fd ("stdout", fds, 1) && fds.get_length () == 1 &&
             opts.end ().lookup_value ("stdout", VariantType.HANDLE).get_handle () == 0;
    } catch (GLib.Error err) {
        ok = false;
    }
    print ("%sok %d - Options.set_fd puts the fd in the list, its index in the options\n",
           ok ? "" : "not ", ++n);
    Anyd.Exec? no_exec = null;
    try {
        if (no_exec != null)
            run_true (no_exec, fds);
    } catch (GLib.Error err) {
    }

    var e = new GLib.Error (Anyd.Error.quark (), Anyd.Error.NOT_FOUND, "x");
    ok = e is Anyd.Error.NOT_FOUND;
    print ("%sok %d - Anyd.Error domain\n", ok ? "" : "not ", ++n);
    print ("1..%d\n", n);
    return 0;
}
