/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vapi is usable: enums with their strings, the options builder, path
 * escaping and the error domain, from Vala (TAP). */
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

    var e = new GLib.Error (Anyd.Error.quark (), Anyd.Error.NOT_FOUND, "x");
    ok = e is Anyd.Error.NOT_FOUND;
    print ("%sok %d - Anyd.Error domain\n", ok ? "" : "not ", ++n);
    print ("1..%d\n", n);
    return 0;
}
