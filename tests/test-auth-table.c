/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The every-method-has-an-action test (docs/api.md, Authorization): each
 * method in the API XML has exactly one row in the gate's table, no row
 * names a method that does not exist, every action a row names is in the
 * built .policy, and no action in the .policy is unused. */
#include "anyd-build-config.h"
#include "daemon.h"
#include "names.h"

#include <string.h>

static GPtrArray *
load_interfaces (void)
{
  const char *dir = g_getenv ("ANYD_INTERFACES_DIR");
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) g_dbus_node_info_unref);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *xml = NULL;
      g_autoptr(GError) error = NULL;
      GDBusNodeInfo *node;

      if (!g_str_has_suffix (name, ".xml"))
        continue;
      g_assert_true (g_file_get_contents (path, &xml, NULL, &error));
      node = g_dbus_node_info_new_for_xml (xml, &error);
      g_assert_no_error (error);
      g_ptr_array_add (out, node);
    }
  g_assert_cmpuint (out->len, >, 0);
  return out;
}

static guint
count_rows (const char *iface, const char *method)
{
  const AnydAuthRule *const *tables = anyd_daemon_auth_tables ();
  guint n = 0;

  for (guint t = 0; tables[t] != NULL; t++)
    for (const AnydAuthRule *r = tables[t]; r->interface != NULL; r++)
      if (g_str_equal (r->interface, iface) && g_str_equal (r->method, method))
        n++;
  return n;
}

static void
test_every_method_has_one_row (void)
{
  g_autoptr(GPtrArray) nodes = load_interfaces ();
  guint missing = 0;

  for (guint i = 0; i < nodes->len; i++)
    {
      GDBusNodeInfo *node = nodes->pdata[i];
      for (guint j = 0; node->interfaces[j] != NULL; j++)
        {
          GDBusInterfaceInfo *iface = node->interfaces[j];
          for (guint k = 0; iface->methods != NULL && iface->methods[k] != NULL; k++)
            {
              guint n = count_rows (iface->name, iface->methods[k]->name);
              if (n != 1)
                {
                  g_printerr ("# %s.%s has %u authorization rows (want 1)%s\n", iface->name,
                              iface->methods[k]->name, n,
                              n == 0 ? ": add it to its module's auth_rules (or the module is not built)" : "");
                  missing++;
                }
            }
        }
    }
  g_assert_cmpuint (missing, ==, 0);
}

static void
test_no_stale_rows (void)
{
  g_autoptr(GPtrArray) nodes = load_interfaces ();
  const AnydAuthRule *const *tables = anyd_daemon_auth_tables ();

  for (guint t = 0; tables[t] != NULL; t++)
    for (const AnydAuthRule *r = tables[t]; r->interface != NULL; r++)
      {
        gboolean found = FALSE;
        for (guint i = 0; i < nodes->len && !found; i++)
          {
            GDBusInterfaceInfo *iface =
              g_dbus_node_info_lookup_interface (nodes->pdata[i], r->interface);
            if (iface != NULL && g_dbus_interface_info_lookup_method (iface, r->method) != NULL)
              found = TRUE;
          }
        if (!found)
          g_printerr ("# row %s.%s names no method in the API XML\n", r->interface, r->method);
        g_assert_true (found);
        g_assert_true (r->action == NULL || g_str_has_prefix (r->action, "org.anyd1."));
      }
}

/* Action ids declared in the built .policy files, the daemon's and every
 * module's (a small scan is enough: ids are attributes of <action>). */
static GHashTable *
policy_actions (void)
{
  const char *paths = g_getenv ("ANYD_POLICIES");
  g_auto(GStrv) files = NULL;
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_assert_nonnull (paths);
  files = g_strsplit (paths, ":", -1);
  g_assert_cmpuint (g_strv_length (files), >=, 2);
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *xml = NULL;
      const char *p;

      g_assert_true (g_file_get_contents (files[i], &xml, NULL, NULL));
      for (p = xml; (p = strstr (p, "<action id=\"")) != NULL;)
        {
          const char *start = p + strlen ("<action id=\"");
          const char *end = strchr (start, '"');
          g_assert_nonnull (end);
          /* one action, one file */
          if (!g_hash_table_add (set, g_strndup (start, (gsize) (end - start))))
            g_error ("action declared twice (again in %s)", files[i]);
          p = end;
        }
    }
  return set;
}

static void
test_policy_matches_table (void)
{
  g_autoptr(GHashTable) declared = policy_actions ();
  g_autoptr(GHashTable) used = g_hash_table_new (g_str_hash, g_str_equal);
  const AnydAuthRule *const *tables = anyd_daemon_auth_tables ();
  GHashTableIter it;
  gpointer k;

  g_hash_table_add (used, (gpointer) ANYD_ACTION_MANAGE);
  for (guint t = 0; tables[t] != NULL; t++)
    for (const AnydAuthRule *r = tables[t]; r->interface != NULL; r++)
      if (r->action != NULL)
        {
          if (!g_hash_table_contains (declared, r->action))
            g_printerr ("# %s.%s uses %s, which the .policy does not declare\n",
                        r->interface, r->method, r->action);
          g_assert_true (g_hash_table_contains (declared, r->action));
          g_hash_table_add (used, (gpointer) r->action);
          if (r->flags & ANYD_AUTH_OWNER_MANAGE)
            {
              g_assert_true (g_hash_table_contains (declared, anyd_auth_rule_owner_action (r)));
              g_hash_table_add (used, (gpointer) anyd_auth_rule_owner_action (r));
            }
        }
  g_hash_table_iter_init (&it, declared);
  while (g_hash_table_iter_next (&it, &k, NULL))
    {
      if (!g_hash_table_contains (used, k))
        g_printerr ("# action %s is declared but no method uses it\n", (char *) k);
      g_assert_true (g_hash_table_contains (used, k));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/auth-table/every-method-has-one-row", test_every_method_has_one_row);
  g_test_add_func ("/auth-table/no-stale-rows", test_no_stale_rows);
  g_test_add_func ("/auth-table/policy-matches-table", test_policy_matches_table);
  return g_test_run ();
}
