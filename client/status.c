/* anyd-client: the daemon itself — `status` and `reload` (also reachable
 * as `anyd-client daemon status|reload`). */
#include "config.h"

#include <pwd.h>
#include <string.h>

#include "common.h"

/* What each action lets the caller do, in the client's words. */
static const struct {
  const char *action;
  const char *what;
} action_descriptions[] = {
  { "org.anyd1.manage", N_("reload; act on others' devices and processes") },
  { "org.anyd1.tun.manage", N_("tun create, open, set, delete") },
  { "org.anyd1.vpn.connect", N_("vpn connect, disconnect") },
  { "org.anyd1.vpn.manage", N_("vpn import, delete; others' connections") },
  { "org.anyd1.vault.read", N_("vault get, list") },
  { "org.anyd1.vault.write", N_("vault put, rotate, delete") },
  { "org.anyd1.vault.use-key", N_("vault encrypt, decrypt, sign, list-keys") },
  { "org.anyd1.vault.manage-keys", N_("vault create-key, rotate-key, delete-key") },
  { "org.anyd1.services.manage", N_("services start, stop, restart, reload") },
  { "org.anyd1.exec.run", N_("exec run") },
  { "org.anyd1.exec.manage", N_("signal or inspect others' processes") },
  { "org.anyd1.files.read", N_("files get") },
  { "org.anyd1.files.write", N_("files put") },
};

static const char *
describe_action (const char *action)
{
  for (guint i = 0; i < G_N_ELEMENTS (action_descriptions); i++)
    if (g_str_equal (action_descriptions[i].action, action))
      return _(action_descriptions[i].what);
  return "";
}

static const char *
describe_answer (const char *answer)
{
  if (g_str_equal (answer, "yes"))
    return _("yes");
  if (g_str_equal (answer, "challenge"))
    return _("after authentication");
  if (g_str_equal (answer, "no"))
    return _("no");
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
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) info = NULL;
  g_autoptr(GVariant) actions = NULL;
  g_autoptr(GVariant) modules = NULL;
  g_autoptr(AnydClientTable) table = NULL;
  g_autoptr(GPtrArray) ids = NULL;
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
  reply = anyd_client_call (ctx, ANYD_CLIENT_PATH, ANYD_CLIENT_IFACE_MANAGER, "GetCallerInfo",
                            NULL, G_VARIANT_TYPE ("(a{sv})"), NULL, NULL, &error);
  if (reply == NULL)
    return anyd_client_fail (ctx, error);
  info = g_variant_get_child_value (reply, 0);

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
                 ? anyd_client_format_value (modules) : g_strdup (_("none"));

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
  anyd_client_table_add_row (table, _("Version:"), version);
  anyd_client_table_add_row (table, _("Modules:"), modules_text);
  anyd_client_table_add_row (table, _("Caller:"), caller_text);
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

  g_print ("\n");
  table = anyd_client_table_new (_("ACTION"), _("ALLOWED"), _("FOR"), NULL);
  for (guint i = 0; i < ids->len; i++)
    {
      g_variant_lookup (actions, ids->pdata[i], "&s", &answer);
      anyd_client_table_add_row (table, ids->pdata[i], describe_answer (answer),
                                 describe_action (ids->pdata[i]));
    }
  anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_reload (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = anyd_client_call (ctx, ANYD_CLIENT_PATH, ANYD_CLIENT_IFACE_MANAGER, "Reload",
                            NULL, G_VARIANT_TYPE_UNIT, NULL, NULL, &error);
  if (reply == NULL)
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
