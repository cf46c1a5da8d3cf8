/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client monitor [MODULE…], tun/services/exec monitor: what happens
 * in anyd as it happens, as `nmcli monitor` does.  Built on libanyd's object
 * manager client: objects that come and go, property changes and signals
 * (UnitChanged, StateChanged, and those of modules added later) all arrive
 * through it.  One line per event; with --json one object per line, "time"
 * in µs since the epoch as every timestamp of anyd. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <anyd.h>

#include "common.h"

typedef struct {
  AnydClientContext *ctx;
  char **modules;        /* only these (NULL: all) */
} Monitor;

/* "tun" for /org/anyd1/tun/anyd0 */
static char *
module_of (const char *path)
{
  const char *rest;

  if (!g_str_has_prefix (path, ANYD_CLIENT_PATH "/"))
    return g_strdup ("daemon");
  rest = path + strlen (ANYD_CLIENT_PATH "/");
  return g_strndup (rest, strcspn (rest, "/"));
}

/* A name people know: the Name property, a connection's profile, or the
 * module for its root object. */
static char *
name_of (GDBusObject *object)
{
  const char *path = g_dbus_object_get_object_path (object);
  GList *interfaces = g_dbus_object_get_interfaces (object);
  char *name = NULL;

  for (GList *l = interfaces; l != NULL && name == NULL; l = l->next)
    {
      g_autoptr(GVariant) v = NULL;

      if (!G_IS_DBUS_PROXY (l->data))
        continue;
      if ((v = g_dbus_proxy_get_cached_property (l->data, "Name")) != NULL &&
          g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
        name = g_variant_dup_string (v, NULL);
      else if ((v = g_dbus_proxy_get_cached_property (l->data, "Profile")) != NULL &&
               g_variant_is_of_type (v, G_VARIANT_TYPE_OBJECT_PATH))
        name = anyd_unescape_path_element (strrchr (g_variant_get_string (v, NULL), '/') + 1);
    }
  g_list_free_full (interfaces, g_object_unref);
  if (name == NULL)
    {
      const char *last = strrchr (path, '/') + 1;
      name = anyd_unescape_path_element (last);
      if (name == NULL)
        name = g_strdup (last);
    }
  return name;
}

static gboolean
wanted (Monitor *m, const char *module)
{
  return m->modules == NULL || g_strv_contains ((const char *const *) m->modules, module);
}

static gint64
now_usec (void)
{
  return g_get_real_time ();
}

static void
emit (Monitor *m, GDBusObject *object, const char *event, const char *text, GVariant *details)
{
  const char *path = g_dbus_object_get_object_path (object);
  g_autofree char *module = module_of (path);
  g_autofree char *name = name_of (object);
  g_autoptr(GVariant) owned = details ? g_variant_ref_sink (details) : NULL;

  if (!wanted (m, module))
    return;
  if (m->ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "time", g_variant_new_int64 (now_usec ()));
      g_variant_builder_add (&b, "{sv}", "module", g_variant_new_string (module));
      g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (name));
      g_variant_builder_add (&b, "{sv}", "event", g_variant_new_string (event));
      if (owned != NULL)
        g_variant_builder_add (&b, "{sv}", "details", owned);
      anyd_client_print_json_line (g_variant_builder_end (&b));
    }
  else
    {
      g_autoptr(GDateTime) dt = g_date_time_new_now_local ();
      g_autofree char *ts = g_date_time_format (dt, "%H:%M:%S");
      g_print ("%s  %-8s  %-16s  %s\n", ts, module, name, text);
      fflush (stdout);
    }
}

static void
on_object_added (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  emit (user_data, object, "added", _("added"), NULL);
}

static void
on_object_removed (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  emit (user_data, object, "removed", _("removed"), NULL);
}

static void
on_properties_changed (GDBusObjectManagerClient *manager, GDBusObjectProxy *object,
                       GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
                       gpointer user_data)
{
  g_autoptr(GString) text = g_string_new (NULL);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autofree char *v = anyd_client_format_value (value);
      g_string_append_printf (text, "%s%s=%s", text->len ? " " : "", key, v);
      g_variant_unref (value);
    }
  if (text->len == 0)
    return;
  emit (user_data, G_DBUS_OBJECT (object), "changed", text->str, g_variant_ref (changed));
}

static void
on_signal (GDBusObjectManagerClient *manager, GDBusObjectProxy *object, GDBusProxy *proxy,
           const char *sender, const char *signal, GVariant *params, gpointer user_data)
{
  g_autoptr(GString) text = g_string_new (signal);
  GVariantBuilder args;
  GDBusSignalInfo *info = NULL;
  GDBusInterfaceInfo *iface = g_dbus_proxy_get_interface_info (proxy);
  gsize n = g_variant_n_children (params);

  if (iface != NULL)
    info = g_dbus_interface_info_lookup_signal (iface, signal);
  g_variant_builder_init (&args, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&args, "{sv}", "signal", g_variant_new_string (signal));
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) arg = g_variant_get_child_value (params, i);
      g_autofree char *v = anyd_client_format_value (arg);
      const char *name = info && info->args && info->args[i] ? info->args[i]->name : NULL;
      g_autofree char *fallback = g_strdup_printf ("arg%" G_GSIZE_FORMAT, i);

      g_string_append_printf (text, " %s=%s", name ? name : fallback, *v ? v : "''");
      g_variant_builder_add (&args, "{sv}", name ? name : fallback, arg);
    }
  emit (user_data, G_DBUS_OBJECT (object), "signal", text->str, g_variant_builder_end (&args));
}

/* Watches until Ctrl-C; modules NULL-terminated or NULL for all. */
static int
run_monitor (AnydClientContext *ctx, char **modules)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  AnydClient *client;
  GDBusObjectManager *om;
  Monitor m = { ctx, modules };

  client = anyd_client_get_lib (ctx, &error);
  if (client == NULL)
    return anyd_client_fail (ctx, error);
  for (guint i = 0; modules != NULL && modules[i] != NULL; i++)
    if (!anyd_client_require_module (ctx, modules[i], &error))
      return anyd_client_fail (ctx, error);

  om = anyd_client_get_object_manager (client);
  g_signal_connect (om, "object-added", G_CALLBACK (on_object_added), &m);
  g_signal_connect (om, "object-removed", G_CALLBACK (on_object_removed), &m);
  g_signal_connect (om, "interface-proxy-properties-changed", G_CALLBACK (on_properties_changed), &m);
  g_signal_connect (om, "interface-proxy-signal", G_CALLBACK (on_signal), &m);
  if (!ctx->json && !ctx->quiet)
    {
      g_print (_("Watching anyd (Ctrl-C to stop)…\n"));
      fflush (stdout);
    }
  loop = g_main_loop_new (NULL, FALSE);
  anyd_client_run_loop (ctx, loop);
  g_signal_handlers_disconnect_by_data (om, &m);
  return ANYD_CLIENT_EXIT_OK;
}

int
anyd_client_monitor_module (AnydClientContext *ctx, const char *module)
{
  char *modules[] = { (char *) module, NULL };
  return run_monitor (ctx, modules);
}

static int
cmd_monitor (AnydClientContext *ctx, int argc, char **argv)
{
  return run_monitor (ctx, argc > 1 ? argv + 1 : NULL);
}

static const AnydClientCommand monitor_commands[] = {
  { "monitor", N_("[MODULE…]"),
    N_("Print what happens in anyd: objects added and removed, changes, signals"),
    cmd_monitor, 0, -1 },
  { NULL }
};

const AnydClientGroup anyd_client_group_monitor = {
  .name = "events",
  .summary = N_("Events of every module (also the top-level command 'monitor')"),
  .commands = monitor_commands,
  .default_command = "monitor",
  .toplevel = TRUE,
};
