/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests for the client's pure helpers: GVariant -> JSON, path escaping,
 * error -> exit code mapping, tables. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void
check_json (const char *gvariant_text, const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v = g_variant_parse (NULL, gvariant_text, NULL, NULL, &error);
  g_autofree char *json = NULL;

  g_assert_no_error (error);
  json = anyd_client_variant_to_json (v, FALSE);
  g_assert_cmpstr (json, ==, expected);
}

static void
test_json_scalars (void)
{
  check_json ("true", "true");
  check_json ("false", "false");
  check_json ("byte 0xff", "255");
  check_json ("int16 -3", "-3");
  check_json ("uint16 65535", "65535");
  check_json ("int32 -2147483648", "-2147483648");
  check_json ("uint32 4294967294", "4294967294");
  check_json ("uint32 4294967295", "null"); /* (uid_t) -1: "none", not a number */
  check_json ("{'Group': <uint32 4294967295>}", "{\"group\":null}");
  check_json ("int64 -9223372036854775808", "-9223372036854775808");
  check_json ("uint64 9223372036854775807", "9223372036854775807");
  check_json ("uint64 18446744073709551615", "null");
  check_json ("handle 3", "3");
  check_json ("1.5", "1.5");
  check_json ("objectpath '/org/anyd1/tun/wg_2dhome'", "\"/org/anyd1/tun/wg_2dhome\"");
  check_json ("signature 'a{sv}'", "\"a{sv}\"");
}

static void
test_json_strings (void)
{
  check_json ("'plain'", "\"plain\"");
  check_json ("'q\"b\\\\s/'", "\"q\\\"b\\\\s/\"");
  check_json ("'\\n\\r\\t\\b\\f'", "\"\\n\\r\\t\\b\\f\"");
  check_json ("'\\u0001\\u001f\\u007f'", "\"\\u0001\\u001f\\u007f\"");
  check_json ("'grüß ✓'", "\"grüß ✓\"");
}

static void
test_json_doubles (void)
{
  g_autoptr(GVariant) nan = g_variant_ref_sink (g_variant_new_double (NAN));
  g_autoptr(GVariant) inf = g_variant_ref_sink (g_variant_new_double (INFINITY));
  g_autofree char *a = anyd_client_variant_to_json (nan, FALSE);
  g_autofree char *b = anyd_client_variant_to_json (inf, FALSE);

  g_assert_cmpstr (a, ==, "null");
  g_assert_cmpstr (b, ==, "null");
}

static void
test_json_containers (void)
{
  check_json ("@ay []", "\"\"");
  check_json ("b'hello'", "\"aGVsbG8A\""); /* bytestring literal includes the NUL */
  check_json ("[byte 1, 2, 3]", "\"AQID\"");
  check_json ("@as []", "[]");
  check_json ("['a', 'b']", "[\"a\",\"b\"]");
  check_json ("@a{sv} {}", "{}");
  check_json ("{'k': <'v'>, 'n': <uint32 1>, 'b': <true>}", "{\"b\":true,\"k\":\"v\",\"n\":1}");
  check_json ("{'Name': <'x'>, 'RxBytes': <uint64 1>}", "{\"name\":\"x\",\"rx_bytes\":1}");
  check_json ("{'demo.service': <'active'>, 'org.anyd1.manage': <'yes'>}",
              "{\"demo.service\":\"active\",\"org.anyd1.manage\":\"yes\"}");
  check_json ("{'state', <'up'>}", "{\"state\":\"up\"}"); /* a lone dict entry */
  check_json ("{uint32 1: 'one'}", "{\"1\":\"one\"}");
  check_json ("{objectpath '/a': {'org.x': {'P': <@as []>}}}", "{\"/a\":{\"org.x\":{\"p\":[]}}}");
  check_json ("('a', uint32 2, [true])", "[\"a\",2,[true]]");
  check_json ("()", "[]");
  check_json ("@ms nothing", "null");
  check_json ("@ms 'x'", "\"x\"");
  check_json ("<<'nested'>>", "\"nested\"");
  check_json ("[{'PublicKey': <'abc='>, 'AllowedIPs': <['0.0.0.0/0']>}]",
              "[{\"allowed_ips\":[\"0.0.0.0/0\"],\"public_key\":\"abc=\"}]");
  check_json ("[('db/password', uint32 3, {'created': <uint64 1700000000000000>})]",
              "[[\"db/password\",3,{\"created\":1700000000000000}]]");
}

static void
test_json_keys (void)
{
  struct { const char *in, *out; } cases[] = {
    { "Name", "name" }, { "RxBytes", "rx_bytes" }, { "LatestHandshake", "latest_handshake" },
    { "AllowedIPs", "allowed_ips" }, { "MainPID", "main_pid" }, { "DNSServer", "dns_server" },
    { "AutoConnect", "auto_connect" }, { "CreatedBy", "created_by" }, { "Ipv6", "ipv6" },
    { "created_by", "created_by" }, { "unit", "unit" }, { "demo.service", "demo.service" },
    { "A", "a" }, { "Foo-Bar", "Foo-Bar" }, { "", "" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *k = anyd_client_json_key (cases[i].in);
      g_assert_cmpstr (k, ==, cases[i].out);
    }
}

static void
test_json_pretty (void)
{
  g_autoptr(GVariant) v = g_variant_ref_sink (g_variant_new_parsed ("{'a': <[1, 2]>, 'e': <@as []>}"));
  g_autofree char *json = anyd_client_variant_to_json (v, TRUE);

  g_assert_cmpstr (json, ==, "{\n  \"a\" : [\n    1,\n    2\n  ],\n  \"e\" : []\n}");
}

/* Object path elements: the client builds them with GLib's escaping, the one
 * the daemon uses; it must stay systemd's ("wg-home" -> "wg_2dhome"). */
static void
test_escape (void)
{
  struct { const char *in, *out; } cases[] = {
    { "wg-home", "wg_2dhome" },
    { "anyd0", "anyd0" },
    { "", "_" },
    { "a_b", "a_5fb" },
    { "db/password", "db_2fpassword" },
    { "\xc3\xa9", "_c3_a9" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *e = g_dbus_escape_object_path (cases[i].in);
      g_autofree char *path = g_strconcat ("/", e, NULL);
      g_assert_cmpstr (e, ==, cases[i].out);
      g_assert_true (g_variant_is_object_path (path));
    }
}

static void
test_exit_codes (void)
{
  struct { const char *name; int code; } cases[] = {
    { "org.anyd1.Error.InvalidArgument", 2 },
    { "org.freedesktop.DBus.Error.InvalidArgs", 2 },
    { "org.anyd1.Error.NotAuthorized", 3 },
    { "org.anyd1.Error.NotAuthorizedCanObtain", 3 },
    { "org.anyd1.Error.AuthorizationDismissed", 3 },
    { "org.freedesktop.DBus.Error.AccessDenied", 3 },
    { "org.anyd1.Error.NotFound", 4 },
    { "org.freedesktop.DBus.Error.UnknownObject", 4 },
    { "org.anyd1.Error.Exists", 5 },
    { "org.anyd1.Error.Busy", 5 },
    { "org.anyd1.Error.Failed", 1 },
    { "org.anyd1.Error.Timeout", 1 },
    { "org.anyd1.Error.Disabled", 1 },
    { "org.freedesktop.DBus.Error.ServiceUnknown", 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = g_dbus_error_new_for_dbus_error (cases[i].name, "message");
      g_autofree char *name = anyd_client_error_name (error);

      g_assert_cmpint (anyd_client_exit_code_for_error (error), ==, cases[i].code);
      g_assert_cmpstr (name, ==, cases[i].name);
    }

  {
    g_autoptr(GError) error = g_error_new_literal (G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "x");
    g_autofree char *name = anyd_client_error_name (error);
    g_assert_cmpint (anyd_client_exit_code_for_error (error), ==, 2);
    g_assert_cmpstr (name, ==, "org.anyd1.Error.InvalidArgument");
  }
  {
    g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "x");
    g_autofree char *name = anyd_client_error_name (error);
    g_assert_cmpint (anyd_client_exit_code_for_error (error), ==, 1);
    g_assert_cmpstr (name, ==, "org.anyd1.Error.Failed");
  }
}

static void
test_table (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(AnydClientTable) t = anyd_client_table_new ("NAME", "MODE", "ADDRESSES", NULL);
      g_autoptr(AnydClientTable) p = anyd_client_table_new_plain (2);

      anyd_client_table_add_row (t, "anyd0", "tun", "10.0.0.1/24");
      anyd_client_table_add_row (t, "wg-häme", NULL, "");
      g_assert_cmpuint (anyd_client_table_get_n_rows (t), ==, 2);
      anyd_client_table_print (t);
      anyd_client_table_add_row (p, "Version:", "1");
      anyd_client_table_add_row (p, "Modules:", "tun, vpn");
      anyd_client_table_print (p);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("NAME     MODE  ADDRESSES\n"
                             "anyd0    tun   10.0.0.1/24\n"
                             "wg-häme  -     \n"
                             "Version:  1\n"
                             "Modules:  tun, vpn\n");
}

static void
test_read_fd (void)
{
  int fds[2];
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *data = g_malloc (10000);

  for (guint i = 0; i < 10000; i++)
    data[i] = (guint8) (i * 7);
  g_assert_cmpint (pipe (fds), ==, 0);
  g_assert_cmpint (write (fds[1], data, 10000), ==, 10000);
  close (fds[1]);
  bytes = anyd_client_read_fd (fds[0], 0, &error);
  close (fds[0]);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), data, 10000);

  g_assert_cmpint (pipe (fds), ==, 0);
  g_assert_cmpint (write (fds[1], data, 100), ==, 100);
  close (fds[1]);
  g_clear_pointer (&bytes, g_bytes_unref);
  bytes = anyd_client_read_fd (fds[0], 99, &error);
  close (fds[0]);
  g_assert_null (bytes);
  g_assert_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE);
  g_clear_error (&error);

  g_assert_cmpint (pipe (fds), ==, 0);
  close (fds[1]);
  bytes = anyd_client_read_fd (fds[0], 0, &error);
  close (fds[0]);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/client/json/scalars", test_json_scalars);
  g_test_add_func ("/client/json/strings", test_json_strings);
  g_test_add_func ("/client/json/doubles", test_json_doubles);
  g_test_add_func ("/client/json/containers", test_json_containers);
  g_test_add_func ("/client/json/pretty", test_json_pretty);
  g_test_add_func ("/client/json/keys", test_json_keys);
  g_test_add_func ("/client/escape", test_escape);
  g_test_add_func ("/client/exit-codes", test_exit_codes);
  g_test_add_func ("/client/table", test_table);
  g_test_add_func ("/client/read-fd", test_read_fd);
  return g_test_run ();
}
