/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ANYD_ERROR <-> org.anyd1.Error.* and conversion of foreign domains. */
#include "anyd-build-config.h"
#include "error.h"
#include "util.h"

#include <string.h>
#include <glib/gstdio.h>

static void
test_every_code_round_trips (void)
{
  for (int code = 0; code < ANYD_ERROR_N_ERRORS; code++)
    {
      const char *name = anyd_error_dbus_name (code);
      g_autoptr(GError) e = g_error_new (ANYD_ERROR, code, "msg %d", code);
      g_autofree char *remote = g_dbus_error_encode_gerror (e);
      g_autoptr(GError) back = g_dbus_error_new_for_dbus_error (name, "text");

      g_assert_nonnull (name);
      g_assert_true (g_str_has_prefix (name, "org.anyd1.Error."));
      g_assert_cmpstr (remote, ==, name);
      g_assert_error (back, ANYD_ERROR, code);
    }
  g_assert_null (anyd_error_dbus_name (ANYD_ERROR_N_ERRORS));
}

static void
check_convert (GQuark domain, int code, int want)
{
  g_autoptr(GError) e = g_error_new (domain, code, "x");
  anyd_error_convert (&e);
  g_assert_error (e, ANYD_ERROR, want);
}

static void
test_convert (void)
{
  check_convert (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, ANYD_ERROR_NOT_FOUND);
  check_convert (G_IO_ERROR, G_IO_ERROR_EXISTS, ANYD_ERROR_EXISTS);
  check_convert (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, ANYD_ERROR_TIMEOUT);
  check_convert (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, ANYD_ERROR_INVALID_ARGUMENT);
  check_convert (G_IO_ERROR, G_IO_ERROR_FAILED, ANYD_ERROR_FAILED);
  check_convert (G_FILE_ERROR, G_FILE_ERROR_NOENT, ANYD_ERROR_NOT_FOUND);
  check_convert (G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_PARSE, ANYD_ERROR_INVALID_ARGUMENT);
  check_convert (G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, ANYD_ERROR_NOT_AUTHORIZED);
  check_convert (G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY, ANYD_ERROR_TIMEOUT);
  check_convert (ANYD_ERROR, ANYD_ERROR_BUSY, ANYD_ERROR_BUSY);
}

static void
test_remote_prefix_stripped (void)
{
  g_autoptr(GError) e = g_dbus_error_new_for_dbus_error ("org.freedesktop.systemd1.NoSuchUnit", "Unit x not found.");
  anyd_error_convert (&e);
  g_assert_error (e, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_assert_cmpstr (e->message, ==, "Unit x not found.");
}

static void
test_path_escape (void)
{
  const char *cases[][2] = {
    { "wg-home", "wg_2dhome" }, { "db/password", "db_2fpassword" }, { "", "_" },
    { "abc123", "abc123" }, { "_", "_5f" }, { "a.b", "a_2eb" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *esc = anyd_path_escape (cases[i][0]);
      g_autofree char *back = anyd_path_unescape (esc);
      g_autofree char *path = g_strconcat ("/x/", esc, NULL);
      g_assert_cmpstr (esc, ==, cases[i][1]);
      g_assert_cmpstr (back, ==, cases[i][0]);
      g_assert_true (g_variant_is_object_path (path));
    }
}

static void
test_options_check (void)
{
  static const AnydOptionSpec spec[] = { { "mtu", "u" }, { "addresses", "as" }, { NULL } };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) good = g_variant_ref_sink (g_variant_new_parsed ("{'mtu': <uint32 1400>, 'addresses': <['10.0.0.1/24']>}"));
  g_autoptr(GVariant) unknown = g_variant_ref_sink (g_variant_new_parsed ("{'mtuu': <uint32 1400>}"));
  g_autoptr(GVariant) wrong = g_variant_ref_sink (g_variant_new_parsed ("{'mtu': <'1400'>}"));

  g_assert_true (anyd_options_check (good, spec, "options", &error));
  g_assert_no_error (error);
  g_assert_false (anyd_options_check (unknown, spec, "options", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "mtuu"));
  g_clear_error (&error);
  g_assert_false (anyd_options_check (wrong, spec, "options", &error));
  g_assert_nonnull (strstr (error->message, "“mtu” must be of type u"));
}

static void
test_write_atomic (void)
{
  g_autofree char *dir = g_dir_make_tmp ("anyd-atomic-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autofree char *back = NULL;
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  g_assert_true (anyd_file_write_atomic (path, "one", 3, 0600, &error));
  g_assert_true (anyd_file_write_atomic (path, "two!", 4, 0600, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &back, NULL, NULL));
  g_assert_cmpstr (back, ==, "two!");
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_false (anyd_file_write_atomic ("/nonexistent-dir/x", "a", 1, 0600, &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_clear_error (&error);
  g_assert_true (anyd_file_remove_durable (path, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (anyd_file_remove_durable (path, &error));   /* already gone: fine */
  g_assert_no_error (error);
  g_assert_false (anyd_file_remove_durable ("/nonexistent-dir/x", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/every-code-round-trips", test_every_code_round_trips);
  g_test_add_func ("/error/convert", test_convert);
  g_test_add_func ("/error/remote-prefix-stripped", test_remote_prefix_stripped);
  g_test_add_func ("/util/path-escape", test_path_escape);
  g_test_add_func ("/util/options-check", test_options_check);
  g_test_add_func ("/util/write-atomic", test_write_atomic);
  return g_test_run ();
}
