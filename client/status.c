/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client: the daemon itself — `status` and `reload` (also reachable
 * as `anyd-client daemon status|reload`). */
#include "config.h"

#include <pwd.h>
#include <string.h>
#include <polkit/polkit.h>

#include <anyd.h>

#include "common.h"

/* Action id -> description, as the installed .policy files word it (in the
 * user's language): polkitd is asked, so no module's actions are copied
 * here. Empty when polkit can't be reached (or --host: its actions are not
 * ours to list); the table then shows ids only. */
static GHashTable *
action_descriptions (AnydClientContext *ctx)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(PolkitAuthority) authority = NULL;
  g_autoptr(GError) error = NULL;
  GList *actions;

  if (ctx->host != NULL)
    return out;
  authority = polkit_authority_get_sync (NULL, &error);
  actions = authority ? polkit_authority_enumerate_actions_sync (authority, NULL, &error) : NULL;
  if (error != NULL)
    g_debug ("polkit action descriptions: %s", error->message);
  for (GList *l = actions; l != NULL; l = l->next)
    {
      const char *id = polkit_action_description_get_action_id (l->data);
      if (g_str_has_prefix (id, "org.anyd1."))
        g_hash_table_insert (out, g_strdup (id),
                             g_strdup (polkit_action_description_get_description (l->data)));
    }
  g_list_free_full (actions, g_object_unref);
  return out;
}

static const char *
describe_answer (const char *answer)
{
  if (g_str_equal (answer, "yes"))
    return anyd_client_value_word (N_("yes"));
  if (g_str_equal (answer, "challenge"))
    return anyd_client_value_word (N_("after authentication"));
  if (g_str_equal (answer, "no"))
    return anyd_client_value_word (N_("no"));
  return answer;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static int
cmd_status (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) props = NULL;
  g_autoptr(AnydManager) manager = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GVariant) actions = NULL;
  g_autoptr(GVariant) modules = NULL;
  g_autoptr(AnydClientTable) table = NULL;
  g_autoptr(GPtrArray) ids = NULL;
  g_autoptr(GHashTable) descriptions = NULL;
  g_autofree char *modules_text = NULL;
  g_autofree char *caller_text = NULL;
  const char *version = "?";
  const char *sender = "?";
  guint32 uid = 0, pid = 0;
  gboolean have_uid;
  GVariantIter iter;
  const char *id, *answer;

  props = anyd_client_get_properties (ctx, ANYD_CLIENT_PATH, ANYD_CLIENT_IFACE_MANAGER, &error);
  if (props == NULL)
    return anyd_client_fail (ctx, error);

  /* Public; the actions map is computed without interaction. */
  manager = anyd_client_proxy_new (ctx, ANYD_TYPE_MANAGER_PROXY, anyd_manager_interface_info (),
                                   ANYD_CLIENT_PATH, &error);
  if (manager == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, manager, &error,
                               anyd_manager_call_get_caller_info_sync (manager, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                       &info, NULL, &error)))
    return anyd_client_fail (ctx, error);

  if (ctx->json)
    {
      GVariantBuilder b;
      g_autoptr(GVariant) v = g_variant_lookup_value (props, "Version", G_VARIANT_TYPE_STRING);
      g_autoptr(GVariant) m = g_variant_lookup_value (props, "Modules", G_VARIANT_TYPE_STRING_ARRAY);

      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "version", v ? v : g_variant_new_string (""));
      g_variant_builder_add (&b, "{sv}", "modules",
                             m ? m : g_variant_new_strv (NULL, 0));
      g_variant_builder_add (&b, "{sv}", "caller", info);
      anyd_client_print_json (g_variant_builder_end (&b));
      return ANYD_CLIENT_EXIT_OK;
    }

  g_variant_lookup (props, "Version", "&s", &version);
  modules = g_variant_lookup_value (props, "Modules", G_VARIANT_TYPE_STRING_ARRAY);
  modules_text = modules && g_variant_n_children (modules) > 0
                 ? anyd_client_format_value (modules) : g_strdup (anyd_client_value_word (N_("none")));

  have_uid = g_variant_lookup (info, "uid", "u", &uid);
  g_variant_lookup (info, "pid", "u", &pid);
  g_variant_lookup (info, "sender", "&s", &sender);
  {
    /* A user name only makes sense on the local machine. */
    struct passwd *pw = have_uid && ctx->host == NULL ? getpwuid (uid) : NULL;
    g_autofree char *who = pw ? g_strdup_printf ("uid %u (%s)", uid, pw->pw_name)
                              : g_strdup_printf ("uid %u", uid);
    caller_text = g_strdup_printf (_("%s, pid %u, %s"), who, pid, sender);
  }

  table = anyd_client_table_new_plain (2);
  anyd_client_table_add_row (table, N_("Version:"), version);
  anyd_client_table_add_row (table, N_("Modules:"), modules_text);
  anyd_client_table_add_row (table, N_("Caller:"), caller_text);
  anyd_client_table_print (table);
  g_clear_pointer (&table, anyd_client_table_free);

  actions = g_variant_lookup_value (info, "actions", G_VARIANT_TYPE ("a{ss}"));
  if (actions == NULL || g_variant_n_children (actions) == 0)
    return ANYD_CLIENT_EXIT_OK;

  ids = g_ptr_array_new ();
  g_variant_iter_init (&iter, actions);
  while (g_variant_iter_next (&iter, "{&s&s}", &id, &answer))
    g_ptr_array_add (ids, (gpointer) id);
  g_ptr_array_sort (ids, compare_strings);

  descriptions = action_descriptions (ctx);
  table = anyd_client_table_new (NC_("column", "ACTION"), NC_("column", "ALLOWED"), NC_("column", "FOR"),
                                 NULL);
  for (guint i = 0; i < ids->len; i++)
    {
      const char *what = g_hash_table_lookup (descriptions, ids->pdata[i]);
      g_variant_lookup (actions, ids->pdata[i], "&s", &answer);
      anyd_client_table_add_row (table, ids->pdata[i], describe_answer (answer), what ? what : "");
    }
  anyd_client_table_print_next (table);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_reload (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydManager) manager = NULL;

  manager = anyd_client_proxy_new (ctx, ANYD_TYPE_MANAGER_PROXY, anyd_manager_interface_info (),
                                   ANYD_CLIENT_PATH, &error);
  if (manager == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, manager, &error,
                               anyd_manager_call_reload_sync (manager, ANYD_CLIENT_CALL_ARGS (ctx),
                                                              NULL, &error)))
    return anyd_client_fail (ctx, error);
  return ANYD_CLIENT_EXIT_OK;
}

static const AnydClientCommand daemon_commands[] = {
  { "status", NULL, N_("Show the daemon's version, modules and what you may do"),
    cmd_status, 0, 0 },
  { "reload", NULL, N_("Make the daemon re-read its configuration (org.anyd1.manage)"),
    cmd_reload, 0, 0 },
  { NULL }
};

const AnydClientGroup anyd_client_group_status = {
  .name = "daemon",
  .summary = N_("The anyd daemon itself (status and reload are also top-level commands)"),
  .commands = daemon_commands,
  .default_command = "status",
  .toplevel = TRUE,
};
