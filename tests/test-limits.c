/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* [limits] quotas (service/limits.c): acquire/release per uid, the shared
 * resources quota against the vault's, root exempt, new values on reload. */
#include "anyd-build-config.h"
#include "anyd-limits.h"
#include "error.h"

#include <string.h>

static AnydConfig *
config_with (const char *text)
{
  static const AnydConfigKey *const schema[] = { anyd_limits_config_keys, NULL };   /* kept by the config */
  g_autoptr(AnydConfig) config = anyd_config_new_defaults (schema);
  g_autoptr(GError) error = NULL;

  g_assert_true (anyd_config_merge_data (config, "test.conf", text, strlen (text), &error));
  g_assert_no_error (error);
  return g_steal_pointer (&config);
}

static void
test_quota (void)
{
  g_autoptr(AnydConfig) config = config_with ("[limits]\nmax_resources_per_uid=2\nmax_vault_entries_per_uid=1\n");
  AnydLimits *limits = anyd_limits_new (config);
  g_autoptr(GError) error = NULL;

  /* tun and vpn share one quota */
  g_assert_true (anyd_limits_acquire (limits, 1000, "tun", &error));
  g_assert_true (anyd_limits_acquire (limits, 1000, "vpn", &error));
  g_assert_false (anyd_limits_check (limits, 1000, "tun", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "max_resources_per_uid"));
  g_clear_error (&error);
  g_assert_false (anyd_limits_acquire (limits, 1000, "exec", &error));
  g_clear_error (&error);
  g_assert_cmpuint (anyd_limits_count (limits, 1000, "tun"), ==, 2);
  /* the vault's is separate */
  g_assert_true (anyd_limits_acquire (limits, 1000, "vault", &error));
  g_assert_false (anyd_limits_acquire (limits, 1000, "vault", &error));
  g_assert_nonnull (strstr (error->message, "max_vault_entries_per_uid"));
  g_clear_error (&error);
  /* another uid is not affected, root never refused nor counted */
  g_assert_true (anyd_limits_acquire (limits, 1001, "tun", &error));
  for (guint i = 0; i < 10; i++)
    g_assert_true (anyd_limits_acquire (limits, 0, "tun", &error));
  g_assert_cmpuint (anyd_limits_count (limits, 0, "tun"), ==, 0);
  anyd_limits_release (limits, 0, "tun");
  /* one fewer: room again */
  anyd_limits_release (limits, 1000, "vpn");
  g_assert_true (anyd_limits_acquire (limits, 1000, "tun", &error));
  /* found at start: counted even over the quota */
  anyd_limits_charge (limits, 1000, "tun");
  g_assert_cmpuint (anyd_limits_count (limits, 1000, "tun"), ==, 3);
  g_assert_no_error (error);
  anyd_limits_free (limits);
}

static void
test_reload (void)
{
  g_autoptr(AnydConfig) one = config_with ("[limits]\nmax_resources_per_uid=1\n");
  g_autoptr(AnydConfig) three = config_with ("[limits]\nmax_resources_per_uid=3\n");
  g_autoptr(AnydConfig) zero = config_with ("[limits]\nmax_resources_per_uid=0\n");
  AnydLimits *limits = anyd_limits_new (one);
  g_autoptr(GError) error = NULL;

  g_assert_true (anyd_limits_acquire (limits, 7, "tun", &error));
  g_assert_false (anyd_limits_check (limits, 7, "tun", NULL));
  anyd_limits_set_config (limits, three);
  g_assert_true (anyd_limits_acquire (limits, 7, "tun", &error));
  g_assert_true (anyd_limits_acquire (limits, 7, "tun", &error));
  g_assert_false (anyd_limits_check (limits, 7, "tun", NULL));
  /* lowered below what the uid holds: it keeps them, gets no more */
  anyd_limits_set_config (limits, zero);
  g_assert_cmpuint (anyd_limits_count (limits, 7, "tun"), ==, 3);
  g_assert_false (anyd_limits_check (limits, 8, "tun", NULL));
  g_assert_true (anyd_limits_check (limits, 0, "tun", NULL));
  g_assert_no_error (error);
  anyd_limits_free (limits);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/limits/quota", test_quota);
  g_test_add_func ("/limits/reload", test_reload);
  return g_test_run ();
}
