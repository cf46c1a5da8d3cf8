/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ANYD_ERROR <-> org.anyd1.Error.* and conversion of foreign domains. */
#include "anyd-build-config.h"
#include "error.h"


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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/error/every-code-round-trips", test_every_code_round_trips);
  g_test_add_func ("/error/convert", test_convert);
  g_test_add_func ("/error/remote-prefix-stripped", test_remote_prefix_stripped);
  return g_test_run ();
}
