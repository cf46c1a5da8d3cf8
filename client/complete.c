/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client __complete WORD… CURRENT: the binary completes its own
 * command line (as nmcli --complete-args and udisksctl complete do), so the
 * bash, zsh and fish scripts stay a few lines and follow every group this
 * build has.  One candidate per line; special lines ask the shell for its
 * own completion: ":files", ":hosts", ":users" and ":groups".
 *
 * Candidates come from the command table (groups, commands, their options),
 * from the hints in it (an argument or option value written "tun|tap" offers
 * those words; FILE and G_OPTION_ARG_FILENAME offer files) and, for names,
 * from the daemon: devices, profiles, secrets, keys, units, modules.  Those
 * lookups never ask for a password and give up after two seconds. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <anyd.h>

#include "common.h"

extern const AnydClientGroup *const anyd_client_groups[];

static const char *const global_options[] = {
  "--json", "--quiet", "--fields", "--no-legend", "--terse", "--color=auto", "--color=always",
  "--color=never", "--no-ask-password", "--timeout", "--host", "--verbose", "--help", NULL
};

static gboolean
global_takes_value (const char *word)
{
  return g_str_equal (word, "--timeout") || g_str_equal (word, "--host") ||
         g_str_equal (word, "-H") || g_str_equal (word, "--fields");
}

static void
offer (const char *cur, const char *word)
{
  if (g_str_has_prefix (word, cur))
    g_print ("%s\n", word);
}

/* An upper-case hint word names what goes there (FILE, LINK), it is no
 * literal choice. */
static gboolean
is_placeholder (const char *word)
{
  if (*word == '\0')
    return FALSE;
  for (const char *p = word; *p != '\0'; p++)
    if (!g_ascii_isupper (*p) && *p != '_')
      return FALSE;
  return TRUE;
}

/* "tun|tap" -> tun, tap; "FILE|LINK" -> files (a link is typed) */
static gboolean
offer_choices (const char *cur, const char *hint)
{
  g_autofree char *copy = NULL;
  g_auto(GStrv) words = NULL;

  if (hint == NULL || strchr (hint, '|') == NULL)
    return FALSE;
  copy = g_strdup (hint);
  g_strdelimit (copy, "[]", ' ');
  g_strstrip (copy);
  words = g_strsplit (copy, "|", -1);
  for (guint i = 0; words[i] != NULL; i++)
    {
      const char *word = g_strstrip (words[i]);

      if (g_str_equal (word, "FILE"))
        g_print (":files\n");
      else if (!is_placeholder (word))
        offer (cur, word);
    }
  return TRUE;
}

static const GOptionEntry *
find_option (const AnydClientCommand *cmd, const char *word)
{
  for (const GOptionEntry *e = cmd && cmd->options ? cmd->options : NULL; e && e->long_name; e++)
    {
      if (g_str_has_prefix (word, "--") && g_str_equal (word + 2, e->long_name))
        return e;
      if (word[0] == '-' && word[1] == e->short_name && word[2] == '\0' && e->short_name != 0)
        return e;
    }
  return NULL;
}

static gboolean
takes_value (const GOptionEntry *e)
{
  return e != NULL && e->arg != G_OPTION_ARG_NONE;
}

/* ---- names from the daemon -------------------------------------------- */

static void
offer_objects (AnydClientContext *ctx, const char *cur, const char *interface)
{
  g_autoptr(AnydClient) client = anyd_client_snapshot (ctx, NULL, NULL);
  GList *proxies = client ? anyd_client_snapshot_list (client, interface) : NULL;

  for (GList *l = proxies; l != NULL; l = l->next)
    {
      g_autoptr(GVariant) name = g_dbus_proxy_get_cached_property (l->data, "Name");

      if (name != NULL && g_variant_is_of_type (name, G_VARIANT_TYPE_STRING))
        offer (cur, g_variant_get_string (name, NULL));
    }
  g_list_free_full (proxies, g_object_unref);
}

/* Secret names (keys FALSE) or key names from the vault. */
static void
offer_vault (AnydClientContext *ctx, const char *cur, gboolean keys)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVault) vault = anyd_client_proxy_new (ctx, ANYD_TYPE_VAULT_PROXY, anyd_vault_interface_info (),
                                                      ANYD_CLIENT_PATH "/vault", &error);
  g_autoptr(GVariant) list = NULL;
  const char *format = keys ? "(&ssu)" : "(&su@a{sv})";
  GVariantIter iter;
  const char *name;
  gboolean ok;

  if (vault == NULL)
    return;
  if (keys)
    ok = ANYD_CLIENT_TYPED_CALL (ctx, vault, &error,
                                 anyd_vault_call_list_keys_sync (vault, ANYD_CLIENT_CALL_ARGS (ctx), &list,
                                                                 NULL, &error));
  else
    ok = ANYD_CLIENT_TYPED_CALL (ctx, vault, &error,
                                 anyd_vault_call_list_sync (vault, ANYD_CLIENT_CALL_ARGS (ctx), &list,
                                                            NULL, &error));
  if (!ok)
    return;
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, format, &name, NULL, NULL))
    if (strpbrk (name, "*?[") == NULL)   /* allowlist patterns are not names */
      offer (cur, name);
}

static void
offer_strings (AnydClientContext *ctx, const char *cur, const char *path, const char *interface,
               const char *property)
{
  g_autoptr(GVariant) v = anyd_client_get_property (ctx, path, interface, property, NULL);
  g_autofree const char **names = v ? g_variant_get_strv (v, NULL) : NULL;

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    offer (cur, names[i]);
}

static void
offer_services (AnydClientContext *ctx, const char *cur)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydServices) services = anyd_client_proxy_new (ctx, ANYD_TYPE_SERVICES_PROXY,
                                                            anyd_services_interface_info (),
                                                            ANYD_CLIENT_PATH "/services", &error);
  g_auto(GStrv) units = NULL;

  if (services == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, services, &error,
                               anyd_services_call_list_allowed_sync (services, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                     &units, NULL, &error)))
    return;
  for (guint i = 0; units[i] != NULL; i++)
    if (strpbrk (units[i], "*?[") == NULL)
      offer (cur, units[i]);
}

/* An argument hint word (NAME, PROFILE, KEY, UNIT, MODULE, FILE, a|b) */
static void
offer_argument (AnydClientContext *ctx, const AnydClientGroup *group, const char *hint, const char *cur)
{
  g_autofree char *word = g_strdup (hint);

  if (offer_choices (cur, hint))
    return;
  g_strdelimit (word, "[]", ' ');
  g_strstrip (word);
  if (g_str_has_suffix (word, "…"))
    word[strlen (word) - strlen ("…")] = '\0';

  if (g_str_equal (word, "FILE"))
    g_print (":files\n");
  else if (g_str_equal (word, "MODULE"))
    offer_strings (ctx, cur, ANYD_CLIENT_PATH, ANYD_CLIENT_IFACE_MANAGER, "Modules");
  else if (g_str_equal (word, "PROFILE"))
    offer_objects (ctx, cur, "org.anyd1.VpnProfile");
  else if (g_str_equal (word, "UNIT"))
    offer_services (ctx, cur);
  else if (g_str_equal (word, "KEY"))
    offer_vault (ctx, cur, TRUE);
  else if (g_str_equal (word, "NAME") && g_str_equal (group->name, "tun"))
    offer_objects (ctx, cur, "org.anyd1.TunDevice");
  else if (g_str_equal (word, "NAME") && g_str_equal (group->name, "vault"))
    offer_vault (ctx, cur, FALSE);
}

/* The hint of positional argument k ("NAME [aead|sign]", k = 1 -> "[aead|sign]"),
 * the last one again if it repeats ("[MODULE…]"). */
static char *
argument_hint (const AnydClientCommand *cmd, int k)
{
  g_auto(GStrv) words = NULL;
  guint n;

  if (cmd->args == NULL)
    return NULL;
  words = g_strsplit (cmd->args, " ", -1);   /* untranslated: the hint words are keys */
  n = g_strv_length (words);
  if (n == 0)
    return NULL;
  if ((guint) k < n && !g_str_has_prefix (words[k], "--"))
    return g_strdup (words[k]);
  if (strstr (words[n - 1], "…") != NULL && !g_str_has_prefix (words[n - 1], "--"))
    return g_strdup (words[n - 1]);
  return NULL;
}

int
anyd_client_complete (AnydClientContext *ctx, int argc, char **argv)
{
  const char *cur = argc > 0 ? argv[argc - 1] : "";
  const char *prev = argc > 1 ? argv[argc - 2] : NULL;
  const AnydClientGroup *group = NULL;
  const AnydClientCommand *cmd = NULL;
  int n_args = 0;

  /* names are looked up quietly and quickly */
  ctx->ask_password = FALSE;
  if (ctx->timeout_ms < 0)
    ctx->timeout_ms = 2000;

  for (int i = 0; i < argc - 1; i++)
    {
      const char *w = argv[i];

      if (g_str_equal (w, "--"))
        return ANYD_CLIENT_EXIT_OK;   /* a command line of its own: the shell's job */
      if (w[0] == '-')
        {
          if (global_takes_value (w) || (!strchr (w, '=') && takes_value (find_option (cmd, w))))
            i++;
          continue;
        }
      if (group == NULL)
        {
          for (guint g = 0; anyd_client_groups[g] != NULL && group == NULL; g++)
            if (g_str_equal (anyd_client_groups[g]->name, w))
              group = anyd_client_groups[g];
            else if (anyd_client_groups[g]->toplevel)
              for (const AnydClientCommand *c = anyd_client_groups[g]->commands; c->name; c++)
                if (g_str_equal (c->name, w))
                  {
                    group = anyd_client_groups[g];
                    cmd = c;
                  }
          if (group == NULL)
            return ANYD_CLIENT_EXIT_OK;
        }
      else if (cmd == NULL)
        {
          for (const AnydClientCommand *c = group->commands; c->name && cmd == NULL; c++)
            if (g_str_equal (c->name, w))
              cmd = c;
          if (cmd == NULL)
            return ANYD_CLIENT_EXIT_OK;
        }
      else
        n_args++;
    }

  /* the value of an option */
  if (prev != NULL && prev[0] == '-' && !strchr (prev, '='))
    {
      const GOptionEntry *e = find_option (cmd, prev);

      if (g_str_equal (prev, "--host") || g_str_equal (prev, "-H"))
        {
          g_print (":hosts\n");
          return ANYD_CLIENT_EXIT_OK;
        }
      if (global_takes_value (prev))
        return ANYD_CLIENT_EXIT_OK;
      if (takes_value (e))
        {
          if (e->arg == G_OPTION_ARG_FILENAME)
            g_print (":files\n");
          else if (g_strcmp0 (e->arg_description, "USER") == 0)
            g_print (":users\n");
          else if (g_strcmp0 (e->arg_description, "GROUP") == 0)
            g_print (":groups\n");
          else
            offer_choices (cur, e->arg_description);
          return ANYD_CLIENT_EXIT_OK;
        }
    }

  if (cur[0] == '-')
    {
      for (guint i = 0; global_options[i] != NULL; i++)
        offer (cur, global_options[i]);
      for (const GOptionEntry *e = cmd && cmd->options ? cmd->options : NULL; e && e->long_name; e++)
        {
          g_autofree char *opt = g_strconcat ("--", e->long_name, NULL);
          offer (cur, opt);
        }
      return ANYD_CLIENT_EXIT_OK;
    }

  if (group == NULL)
    {
      for (guint g = 0; anyd_client_groups[g] != NULL; g++)
        {
          offer (cur, anyd_client_groups[g]->name);
          if (anyd_client_groups[g]->toplevel)
            for (const AnydClientCommand *c = anyd_client_groups[g]->commands; c->name; c++)
              offer (cur, c->name);
        }
      offer (cur, "help");
      return ANYD_CLIENT_EXIT_OK;
    }
  if (cmd == NULL)
    {
      for (const AnydClientCommand *c = group->commands; c->name; c++)
        offer (cur, c->name);
      return ANYD_CLIENT_EXIT_OK;
    }
  {
    g_autofree char *hint = argument_hint (cmd, n_args);
    if (hint != NULL)
      offer_argument (ctx, group, hint, cur);
  }
  return ANYD_CLIENT_EXIT_OK;
}
