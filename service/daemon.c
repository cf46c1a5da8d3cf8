/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AnydDaemon: the bus connection, Manager object, modules, idle exit. */
#include "anyd-build-config.h"
#include "daemon.h"
#include "audit.h"
#include "error.h"
#include "anyd-limits.h"
#include "metrics.h"
#include "names.h"
#include "util.h"
#include "anyd-dbus.h"

#include <glib-unix.h>
#include <systemd/sd-daemon.h>
#include <stdio.h>
#include <string.h>

static const AnydConfigKey daemon_config_keys[] = {
  { "daemon", "idle_timeout_s", ANYD_CONFIG_UINT, "0",
    "exit after this many seconds without calls or live resources (0 = never); bus activation restarts anyd on demand", 86400 },
  { "daemon", "log_level", ANYD_CONFIG_STRING, "message",
    "lowest log level written: error, warning, message, info or debug (audit records are always written)" },
  { NULL }
};

static const AnydAuthRule manager_auth_rules[] = {
  { "org.anyd1.Manager", "GetCallerInfo", ANYD_AUTH_PUBLIC, NULL, -1, NULL },
  { "org.anyd1.Manager", "GetMetrics", ANYD_AUTH_PUBLIC, NULL, -1, NULL },
  { "org.anyd1.Manager", "Reload", ANYD_ACTION_MANAGE, NULL, -1, NULL },
  ANYD_AUTH_RULES_END
};

typedef struct {
  guint                 id;
  char                 *name;
  AnydNameVanishedFunc  func;
  gpointer              user_data;
  GDestroyNotify        notify;
} NameWatch;

typedef enum {
  STATE_STARTING,
  STATE_RUNNING,
  STATE_RELEASING,   /* name released, draining calls already queued for us */
  STATE_STOPPING,
} DaemonState;

typedef struct {
  const AnydModule *module;
  gpointer          instance;
} RunningModule;

struct _AnydDaemon {
  AnydDaemonOptions         options;
  GMainLoop                *loop;
  GDBusConnection          *bus;
  GDBusObjectManagerServer *object_manager;
  AnydDBusManager          *manager;
  AnydConfig               *config;
  AnydAuth                 *auth;
  AnydLimits               *limits;
  GArray                   *modules;       /* RunningModule */
  guint                     owner_id;
  DaemonState               state;
  int                       exit_code;
  guint                     busy;          /* calls in flight + holds */
  guint                     idle_source;
  guint                     idle_timeout_s;
  GHashTable               *watches;       /* id -> NameWatch* (owned) */
  GHashTable               *watch_names;   /* name -> GPtrArray of NameWatch* */
  guint                     next_watch_id;
  guint                     name_owner_sub;
};

const AnydAuthRule *const *
anyd_daemon_auth_tables (void)
{
  static gsize once = 0;
  static const AnydAuthRule **tables;

  if (g_once_init_enter (&once))
    {
      GPtrArray *a = g_ptr_array_new ();
      g_ptr_array_add (a, (gpointer) manager_auth_rules);
      for (guint m = 0; anyd_module_registry[m] != NULL; m++)
        g_ptr_array_add (a, (gpointer) anyd_module_registry[m]->auth_rules);
      g_ptr_array_add (a, NULL);
      tables = (const AnydAuthRule **) g_ptr_array_free (a, FALSE);
      g_once_init_leave (&once, 1);
    }
  return tables;
}

/* ------------------------------------------------------------------ schema */

static const AnydConfigKey *const *
build_schema (void)
{
  static gsize once = 0;
  static const AnydConfigKey **schema;

  if (g_once_init_enter (&once))
    {
      guint n_modules = 0, i = 0;
      AnydConfigKey *enabled;
      GPtrArray *arrays = g_ptr_array_new ();

      while (anyd_module_registry[n_modules] != NULL)
        n_modules++;
      enabled = g_new0 (AnydConfigKey, n_modules * 2 + 1);
      g_ptr_array_add (arrays, (gpointer) daemon_config_keys);
      g_ptr_array_add (arrays, (gpointer) anyd_auth_config_keys);
      g_ptr_array_add (arrays, (gpointer) anyd_limits_config_keys);
      g_ptr_array_add (arrays, (gpointer) anyd_metrics_config_keys);
      for (guint m = 0; m < n_modules; m++)
        {
          const AnydModule *mod = anyd_module_registry[m];
          enabled[i].group = mod->name;
          enabled[i].key = "enabled";
          enabled[i].type = ANYD_CONFIG_BOOLEAN;
          enabled[i].default_value = "true";
          enabled[i].description = "export this module (takes effect at restart, not on Reload)";
          i++;
        }
      g_ptr_array_add (arrays, enabled);
      for (guint m = 0; m < n_modules; m++)
        if (anyd_module_registry[m]->config_keys != NULL)
          g_ptr_array_add (arrays, (gpointer) anyd_module_registry[m]->config_keys);
      g_ptr_array_add (arrays, NULL);
      schema = (const AnydConfigKey **) g_ptr_array_free (arrays, FALSE);
      g_once_init_leave (&once, 1);
    }
  return schema;
}

const AnydConfigKey *const *
anyd_daemon_config_schema (void)
{
  return build_schema ();
}

char *
anyd_daemon_print_config (void)
{
  const AnydConfigKey *const *schema = build_schema ();
  g_autoptr(GString) out = g_string_new (
    "# anyd configuration. See anyd.conf(5).\n"
    "#\n"
    "# Every key has a built-in default; the commented lines show it.\n"
    "# Files in anyd.conf.d/*.conf are read after this one, in name order;\n"
    "# later files win. A bad file makes anyd refuse to start (and Reload\n"
    "# keep the running configuration).\n");
  g_autoptr(GPtrArray) groups = g_ptr_array_new ();

  for (guint i = 0; schema[i] != NULL; i++)
    for (const AnydConfigKey *k = schema[i]; k->group != NULL; k++)
      if (!g_ptr_array_find_with_equal_func (groups, k->group, g_str_equal, NULL))
        g_ptr_array_add (groups, (gpointer) k->group);

  for (guint g = 0; g < groups->len; g++)
    {
      g_string_append_printf (out, "\n[%s]\n", (char *) groups->pdata[g]);
      for (guint i = 0; schema[i] != NULL; i++)
        for (const AnydConfigKey *k = schema[i]; k->group != NULL; k++)
          if (g_str_equal (k->group, groups->pdata[g]))
            g_string_append_printf (out, "# %s\n#%s=%s\n", k->description, k->key,
                                    k->default_value ? k->default_value : "");
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
check_config (AnydConfig *config, GError **error)
{
  static const char *const levels[] = { "error", "critical", "warning", "message", "info", "debug", NULL };
  g_autofree char *level = anyd_config_get_string (config, "daemon", "log_level");

  if (!g_strv_contains (levels, level))
    {
      const char *origin = anyd_config_get_origin (config, "daemon", "log_level");
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: [daemon] log_level must be one of error, warning, message, info, debug",
                   origin ? origin : "default");
      return FALSE;
    }
  for (guint m = 0; anyd_module_registry[m] != NULL; m++)
    if (anyd_module_registry[m]->check_config != NULL &&
        !anyd_module_registry[m]->check_config (config, error))
      return FALSE;
  return TRUE;
}

AnydConfig *
anyd_daemon_load_config (const char *dir, GError **error)
{
  g_autoptr(AnydConfig) config = anyd_config_load (dir, build_schema (), error);

  if (config == NULL || !check_config (config, error))
    return NULL;
  return g_steal_pointer (&config);
}

/* ------------------------------------------------------------------ logging */

static GLogLevelFlags max_log_level = G_LOG_LEVEL_MESSAGE;

/* G_MESSAGES_DEBUG names log domains whose debug and info messages pass
 * below the configured level: each module logs as anyd-<module>, the core
 * as anyd. Matched exactly (GLib's own check is a substring search, so
 * "anyd-tun" would let the core's "anyd" through too). */
static gboolean
debug_domain_requested (const GLogField *fields, gsize n_fields)
{
  static GStrv domains;
  const char *domain = NULL;

  if (g_once_init_enter (&domains))
    {
      const char *env = g_getenv ("G_MESSAGES_DEBUG");
      g_once_init_leave (&domains, g_strsplit_set (env ? env : "", " ,:", -1));
    }
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0)
      domain = fields[i].value;
  for (guint i = 0; domains[i] != NULL; i++)
    if (g_str_equal (domains[i], "all") || g_strcmp0 (domains[i], domain) == 0)
      return TRUE;
  return FALSE;
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  GLogLevelFlags lvl = level & G_LOG_LEVEL_MASK;

  /* GLib levels grow numerically as they get less severe. */
  if (lvl > max_log_level && !g_log_get_debug_enabled () &&
      !((lvl == G_LOG_LEVEL_DEBUG || lvl == G_LOG_LEVEL_INFO) &&
        debug_domain_requested (fields, n_fields)))
    return G_LOG_WRITER_HANDLED;
  if (lvl == G_LOG_LEVEL_DEBUG || lvl == G_LOG_LEVEL_INFO)
    {
      /* g_log_writer_default drops these unless G_MESSAGES_DEBUG says otherwise. */
      if (g_log_writer_is_journald (fileno (stderr)))
        return g_log_writer_journald (level, fields, n_fields, user_data);
      return g_log_writer_standard_streams (level, fields, n_fields, user_data);
    }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
apply_log_level (AnydConfig *config)
{
  g_autofree char *level = anyd_config_get_string (config, "daemon", "log_level");

  if (g_str_equal (level, "error"))         max_log_level = G_LOG_LEVEL_CRITICAL;
  else if (g_str_equal (level, "critical")) max_log_level = G_LOG_LEVEL_CRITICAL;
  else if (g_str_equal (level, "warning"))  max_log_level = G_LOG_LEVEL_WARNING;
  else if (g_str_equal (level, "info"))     max_log_level = G_LOG_LEVEL_INFO;
  else if (g_str_equal (level, "debug"))    max_log_level = G_LOG_LEVEL_DEBUG;
  else                                      max_log_level = G_LOG_LEVEL_MESSAGE;
}

static void
audit_lifecycle (const char *what, const GError *error, const char *message)
{
  AnydAuditRecord r = {
    .message_id = ANYD_MSGID_LIFECYCLE,
    .action = what,
    .result = error ? "error" : "ok",
    .message = error ? error->message : message,
  };
  anyd_audit (&r);
}

/* ------------------------------------------------------------------ idle */

/* --idle-timeout wins over [daemon] idle_timeout_s, at start and on Reload. */
static guint
effective_idle_timeout (AnydDaemon *daemon)
{
  if (daemon->options.idle_timeout_s >= 0)
    return (guint) daemon->options.idle_timeout_s;
  return anyd_config_get_uint (daemon->config, "daemon", "idle_timeout_s");
}

static void maybe_quit_draining (AnydDaemon *daemon);

static gboolean
idle_timeout_cb (gpointer user_data)
{
  AnydDaemon *daemon = user_data;

  daemon->idle_source = 0;
  if (daemon->busy > 0 || daemon->state != STATE_RUNNING)
    return G_SOURCE_REMOVE;
  g_message ("idle for %u s, exiting", daemon->idle_timeout_s);
  daemon->state = STATE_RELEASING;
  sd_notify (0, "STOPPING=1\nSTATUS=Idle, exiting");
  /* Release the name first: from now on new callers activate a fresh
   * instance, while calls already routed to us are still served. */
  g_bus_unown_name (daemon->owner_id);
  daemon->owner_id = 0;
  maybe_quit_draining (daemon);
  return G_SOURCE_REMOVE;
}

static void
reschedule_idle (AnydDaemon *daemon)
{
  g_clear_handle_id (&daemon->idle_source, g_source_remove);
  if (daemon->idle_timeout_s > 0 && daemon->busy == 0 && daemon->state == STATE_RUNNING)
    daemon->idle_source = g_timeout_add_seconds (daemon->idle_timeout_s, idle_timeout_cb, daemon);
}

static void
drain_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  AnydDaemon *daemon = user_data;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);

  /* The bus answered after ReleaseName, so every call it routed to us
   * before that has been dispatched by now (one connection, in order). */
  if (daemon->state == STATE_RELEASING && daemon->busy == 0)
    g_main_loop_quit (daemon->loop);
}

static void
maybe_quit_draining (AnydDaemon *daemon)
{
  if (daemon->state != STATE_RELEASING || daemon->busy > 0)
    return;
  g_dbus_connection_call (daemon->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetId", NULL, G_VARIANT_TYPE ("(s)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, drain_cb, daemon);
}

static void
busy_inc (AnydDaemon *daemon)
{
  daemon->busy++;
  g_clear_handle_id (&daemon->idle_source, g_source_remove);
}

static void
busy_dec (AnydDaemon *daemon)
{
  g_return_if_fail (daemon->busy > 0);
  daemon->busy--;
  if (daemon->busy == 0)
    {
      reschedule_idle (daemon);
      maybe_quit_draining (daemon);
    }
}

static void
invocation_done (gpointer data, GObject *where_the_object_was)
{
  busy_dec (data);
}

static void
on_call_activity (GDBusMethodInvocation *invocation, gpointer user_data)
{
  AnydDaemon *daemon = user_data;

  busy_inc (daemon);
  /* The invocation is finalized once its reply is sent. */
  g_object_weak_ref (G_OBJECT (invocation), invocation_done, daemon);
}

void
anyd_daemon_hold (AnydDaemon *daemon)
{
  busy_inc (daemon);
}

void
anyd_daemon_release (AnydDaemon *daemon)
{
  busy_dec (daemon);
}

/* ------------------------------------------------------------------ name watches */

static void
name_watch_free (NameWatch *w)
{
  if (w->notify != NULL)
    w->notify (w->user_data);
  g_free (w->name);
  g_free (w);
}

/* The one NameOwnerChanged subscription: the gate forgets callers that
 * left, and the watches on that name fire (a hash lookup by name). */
static void
name_vanished (AnydDaemon *daemon, const char *name)
{
  g_autoptr(GPtrArray) list = NULL;
  g_autofree char *key = NULL;
  g_autofree guint *ids = NULL;
  guint n;

  if (daemon->auth != NULL)
    anyd_auth_name_vanished (daemon->auth, name);
  if (!g_hash_table_steal_extended (daemon->watch_names, name, (gpointer *) &key, (gpointer *) &list))
    return;
  /* By id: a callback may unwatch another watch of the same name. */
  n = list->len;
  ids = g_new (guint, n);
  for (guint i = 0; i < n; i++)
    ids[i] = ((NameWatch *) list->pdata[i])->id;
  for (guint i = 0; i < n; i++)
    {
      NameWatch *w = g_hash_table_lookup (daemon->watches, GUINT_TO_POINTER (ids[i]));
      if (w == NULL)
        continue;
      g_hash_table_steal (daemon->watches, GUINT_TO_POINTER (ids[i]));
      w->func (w->name, w->user_data);
      name_watch_free (w);
    }
}

static void
on_name_owner_changed (GDBusConnection *bus, const char *sender_name, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  const char *name, *old_owner, *new_owner;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (*new_owner == '\0')
    name_vanished (user_data, name);
}

static void
name_has_owner_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree char *name = user_data;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);
  AnydDaemon *daemon = g_object_get_data (source, "anyd-daemon");
  gboolean has_owner = FALSE;

  if (reply != NULL)
    g_variant_get (reply, "(b)", &has_owner);
  /* Gone before our watch was in place: fire as if we had seen it. */
  if (!has_owner && daemon != NULL && g_hash_table_contains (daemon->watch_names, name))
    name_vanished (daemon, name);
}

guint
anyd_daemon_watch_name (AnydDaemon *daemon, const char *name, AnydNameVanishedFunc func,
                        gpointer user_data, GDestroyNotify notify)
{
  NameWatch *w = g_new0 (NameWatch, 1);
  GPtrArray *list = g_hash_table_lookup (daemon->watch_names, name);

  w->id = ++daemon->next_watch_id;
  w->name = g_strdup (name);
  w->func = func;
  w->user_data = user_data;
  w->notify = notify;
  g_hash_table_insert (daemon->watches, GUINT_TO_POINTER (w->id), w);
  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (daemon->watch_names, g_strdup (name), list);
    }
  g_ptr_array_add (list, w);
  g_dbus_connection_call (daemon->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "NameHasOwner", g_variant_new ("(s)", name),
                          G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          name_has_owner_cb, g_strdup (name));
  return w->id;
}

void
anyd_daemon_unwatch_name (AnydDaemon *daemon, guint watch_id)
{
  NameWatch *w = g_hash_table_lookup (daemon->watches, GUINT_TO_POINTER (watch_id));
  GPtrArray *list;

  if (w == NULL)
    return;
  list = g_hash_table_lookup (daemon->watch_names, w->name);
  if (list != NULL)
    {
      g_ptr_array_remove_fast (list, w);
      if (list->len == 0)
        g_hash_table_remove (daemon->watch_names, w->name);
    }
  g_hash_table_remove (daemon->watches, GUINT_TO_POINTER (watch_id));
}

/* ------------------------------------------------------------------ Manager */

typedef struct {
  GDBusMethodInvocation *invocation;
  GVariantBuilder        actions;
  guint                  pending;
} CallerInfoData;

typedef struct {
  CallerInfoData *info;
  char           *action;
} QueryData;

static void
query_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  QueryData *q = user_data;
  CallerInfoData *d = q->info;
  AnydDaemon *daemon = g_object_get_data (G_OBJECT (d->invocation), "anyd-daemon");
  const char *answer = anyd_auth_query_finish (daemon->auth, res, NULL);

  g_variant_builder_add (&d->actions, "{ss}", q->action, answer ? answer : "no");
  g_free (q->action);
  g_free (q);
  if (--d->pending == 0)
    {
      AnydCaller *caller = anyd_caller_from_invocation (d->invocation);
      GVariantDict info;

      g_variant_dict_init (&info, NULL);
      g_variant_dict_insert (&info, "uid", "u", caller->uid);
      g_variant_dict_insert (&info, "pid", "u", caller->pid);
      g_variant_dict_insert (&info, "sender", "s", caller->sender);
      g_variant_dict_insert_value (&info, "actions", g_variant_builder_end (&d->actions));
      anyd_dbus_manager_complete_get_caller_info (daemon->manager, d->invocation,
                                                  g_variant_dict_end (&info));
      g_free (d);
    }
}

static gboolean
handle_get_caller_info (AnydDBusManager *manager, GDBusMethodInvocation *invocation, gpointer user_data)
{
  AnydDaemon *daemon = user_data;
  g_auto(GStrv) actions = anyd_auth_list_actions (daemon->auth);
  CallerInfoData *d = g_new0 (CallerInfoData, 1);

  d->invocation = invocation;
  g_variant_builder_init (&d->actions, G_VARIANT_TYPE ("a{ss}"));
  d->pending = g_strv_length (actions);
  g_object_set_data (G_OBJECT (invocation), "anyd-daemon", daemon);
  for (guint i = 0; actions[i] != NULL; i++)
    {
      QueryData *q = g_new0 (QueryData, 1);
      q->info = d;
      q->action = g_strdup (actions[i]);
      anyd_auth_query_async (daemon->auth, anyd_caller_from_invocation (invocation), actions[i],
                             NULL, query_done_cb, q);
    }
  return TRUE;
}

/* Public: counts and module gauges only, nothing the public properties hide. */
static gboolean
handle_get_metrics (AnydDBusManager *manager, GDBusMethodInvocation *invocation, gpointer user_data)
{
  g_autofree char *text = anyd_metrics_render ();

  anyd_dbus_manager_complete_get_metrics (manager, invocation, text);
  return TRUE;
}

static gboolean
reload_config (AnydDaemon *daemon, GError **error)
{
  g_autoptr(AnydConfig) config = NULL;

  sd_notify (0, "RELOADING=1");
  config = anyd_daemon_load_config (daemon->options.config_dir, error);
  if (config == NULL)
    {
      sd_notify (0, "READY=1\nSTATUS=Reload failed, running with the previous configuration");
      audit_lifecycle ("reload", *error, NULL);
      return FALSE;
    }
  g_clear_pointer (&daemon->config, anyd_config_unref);
  daemon->config = anyd_config_ref (config);
  apply_log_level (config);
  anyd_auth_set_config (daemon->auth, config);
  anyd_limits_set_config (daemon->limits, config);
  anyd_metrics_set_config (config);
  daemon->idle_timeout_s = effective_idle_timeout (daemon);
  for (guint i = 0; i < daemon->modules->len; i++)
    {
      RunningModule *rm = &g_array_index (daemon->modules, RunningModule, i);
      if (rm->module->reload != NULL)
        rm->module->reload (rm->instance, config);
    }
  reschedule_idle (daemon);
  sd_notify (0, "READY=1\nSTATUS=Running");
  audit_lifecycle ("reload", NULL, daemon->options.config_dir);
  return TRUE;
}

static gboolean
handle_reload (AnydDBusManager *manager, GDBusMethodInvocation *invocation, gpointer user_data)
{
  AnydDaemon *daemon = user_data;
  g_autoptr(GError) error = NULL;

  if (!reload_config (daemon, &error))
    {
      anyd_invocation_return_error (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  anyd_audit_action (anyd_caller_from_invocation (invocation), "reload", ANYD_DBUS_PATH, NULL, NULL);
  anyd_dbus_manager_complete_reload (manager, invocation);
  return TRUE;
}

/* ------------------------------------------------------------------ lifecycle */

AnydDaemon *
anyd_daemon_new (const AnydDaemonOptions *options, GError **error)
{
  g_autoptr(AnydConfig) config = NULL;
  AnydDaemon *daemon;
  const char *env;

  config = anyd_daemon_load_config (options->config_dir ? options->config_dir : ANYD_SYSCONFDIR, error);
  if (config == NULL)
    return NULL;

  daemon = g_new0 (AnydDaemon, 1);
  daemon->options = *options;
  daemon->options.config_dir = g_strdup (options->config_dir ? options->config_dir : ANYD_SYSCONFDIR);
  env = g_getenv ("STATE_DIRECTORY");
  daemon->options.state_dir = g_strdup (options->state_dir ? options->state_dir : env ? env : ANYD_STATEDIR);
  env = g_getenv ("RUNTIME_DIRECTORY");
  daemon->options.runtime_dir = g_strdup (options->runtime_dir ? options->runtime_dir : env ? env : ANYD_RUNTIMEDIR);
  daemon->config = g_steal_pointer (&config);
  daemon->idle_timeout_s = effective_idle_timeout (daemon);
  daemon->limits = anyd_limits_new (daemon->config);
  daemon->modules = g_array_new (FALSE, TRUE, sizeof (RunningModule));
  daemon->watches = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) name_watch_free);
  daemon->watch_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) g_ptr_array_unref);
  daemon->loop = g_main_loop_new (NULL, FALSE);
  apply_log_level (daemon->config);
  g_log_set_writer_func (log_writer, NULL, NULL);
  return daemon;
}

static void
on_name_acquired (GDBusConnection *bus, const char *name, gpointer user_data)
{
  AnydDaemon *daemon = user_data;

  g_debug ("owning %s", name);
  daemon->state = STATE_RUNNING;
  sd_notify (0, "READY=1\nSTATUS=Running");
  audit_lifecycle ("start", NULL, PACKAGE_VERSION);
  reschedule_idle (daemon);
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer user_data)
{
  AnydDaemon *daemon = user_data;

  if (daemon->state == STATE_RELEASING || daemon->state == STATE_STOPPING)
    return;
  if (daemon->state == STATE_RUNNING)
    {
      /* We owned it: another instance started with --replace took over. */
      g_message ("replaced by another instance, exiting");
      daemon->owner_id = 0;
      daemon->state = STATE_RELEASING;
      g_main_loop_quit (daemon->loop);
      return;
    }
  g_printerr ("anyd: cannot own %s on the system bus (another instance running, or not allowed by the bus policy)\n", name);
  daemon->exit_code = 1;
  g_main_loop_quit (daemon->loop);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  AnydDaemon *daemon = user_data;

  g_message ("stopping on signal");
  g_main_loop_quit (daemon->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sighup (gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!reload_config (user_data, &error))
    g_warning ("reload failed, keeping the previous configuration: %s", error->message);
  return G_SOURCE_CONTINUE;
}

static gboolean
start_modules (AnydDaemon *daemon, GError **error)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  for (guint m = 0; anyd_module_registry[m] != NULL; m++)
    {
      const AnydModule *mod = anyd_module_registry[m];
      RunningModule rm = { mod, NULL };

      anyd_auth_add_rules (daemon->auth, mod->auth_rules);
      if (!anyd_config_get_boolean (daemon->config, mod->name, "enabled"))
        {
          g_message ("module %s disabled in configuration", mod->name);
          continue;
        }
      rm.instance = mod->start (daemon, error);
      if (rm.instance == NULL)
        {
          g_prefix_error (error, "module %s: ", mod->name);
          return FALSE;
        }
      g_array_append_val (daemon->modules, rm);
      g_ptr_array_add (names, (gpointer) mod->name);
    }
  g_ptr_array_add (names, NULL);
  anyd_dbus_manager_set_modules (daemon->manager, (const char *const *) names->pdata);
  return TRUE;
}

static void
stop_modules (AnydDaemon *daemon)
{
  for (guint i = daemon->modules->len; i > 0; i--)
    {
      RunningModule *rm = &g_array_index (daemon->modules, RunningModule, i - 1);
      rm->module->stop (rm->instance);
    }
  g_array_set_size (daemon->modules, 0);
}

int
anyd_daemon_run (AnydDaemon *daemon)
{
  g_autoptr(GError) error = NULL;
  GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE;
  guint sigterm, sigint, sighup;

  daemon->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (daemon->bus == NULL)
    {
      g_printerr ("anyd: cannot connect to the system bus: %s\n", error->message);
      return 1;
    }
  g_dbus_connection_set_exit_on_close (daemon->bus, FALSE);
  g_object_set_data (G_OBJECT (daemon->bus), "anyd-daemon", daemon);
  daemon->name_owner_sub =
    g_dbus_connection_signal_subscribe (daemon->bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                        "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, daemon, NULL);

  daemon->auth = anyd_auth_new (daemon->bus, daemon->config);
  anyd_auth_set_activity_func (daemon->auth, on_call_activity, daemon);
  anyd_auth_add_rules (daemon->auth, manager_auth_rules);

  daemon->manager = anyd_dbus_manager_skeleton_new ();
  anyd_dbus_manager_set_version (daemon->manager, PACKAGE_VERSION);
  anyd_auth_guard (daemon->auth, G_DBUS_INTERFACE_SKELETON (daemon->manager), NULL, NULL);
  g_signal_connect (daemon->manager, "handle-get-caller-info", G_CALLBACK (handle_get_caller_info), daemon);
  g_signal_connect (daemon->manager, "handle-reload", G_CALLBACK (handle_reload), daemon);
  g_signal_connect (daemon->manager, "handle-get-metrics", G_CALLBACK (handle_get_metrics), daemon);
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (daemon->manager), daemon->bus,
                                         ANYD_DBUS_PATH, &error))
    {
      g_printerr ("anyd: cannot export %s: %s\n", ANYD_DBUS_PATH, error->message);
      return 1;
    }
  daemon->object_manager = g_dbus_object_manager_server_new (ANYD_DBUS_PATH);
  g_dbus_object_manager_server_set_connection (daemon->object_manager, daemon->bus);

  if (!start_modules (daemon, &error))
    {
      g_printerr ("anyd: %s\n", error->message);
      audit_lifecycle ("start", error, NULL);
      stop_modules (daemon);
      return 1;
    }

  anyd_metrics_start (daemon->bus, anyd_daemon_auth_tables ());
  anyd_metrics_set_config (daemon->config);

  sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, daemon);
  sigint = g_unix_signal_add (SIGINT, on_quit_signal, daemon);
  sighup = g_unix_signal_add (SIGHUP, on_sighup, daemon);

  if (daemon->options.replace)
    flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  daemon->owner_id = g_bus_own_name_on_connection (daemon->bus, ANYD_DBUS_NAME,
                                                   flags | G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT,
                                                   on_name_acquired, on_name_lost, daemon, NULL);
  g_main_loop_run (daemon->loop);

  if (daemon->state != STATE_RELEASING)
    sd_notify (0, "STOPPING=1\nSTATUS=Stopping");
  daemon->state = STATE_STOPPING;
  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_source_remove (sighup);
  if (daemon->owner_id != 0)
    g_bus_unown_name (daemon->owner_id);
  daemon->owner_id = 0;
  stop_modules (daemon);
  anyd_metrics_stop ();
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (daemon->manager));
  g_dbus_connection_flush_sync (daemon->bus, NULL, NULL);
  audit_lifecycle ("stop", NULL, NULL);
  return daemon->exit_code;
}

void
anyd_daemon_free (AnydDaemon *daemon)
{
  if (daemon == NULL)
    return;
  g_clear_handle_id (&daemon->idle_source, g_source_remove);
  g_hash_table_unref (daemon->watch_names);
  g_hash_table_unref (daemon->watches);
  if (daemon->bus != NULL)
    {
      g_dbus_connection_signal_unsubscribe (daemon->bus, daemon->name_owner_sub);
      g_object_set_data (G_OBJECT (daemon->bus), "anyd-daemon", NULL);
    }
  g_clear_pointer (&daemon->auth, anyd_auth_free);
  g_clear_pointer (&daemon->limits, anyd_limits_free);
  g_clear_object (&daemon->object_manager);
  g_clear_object (&daemon->manager);
  g_clear_object (&daemon->bus);
  g_clear_pointer (&daemon->config, anyd_config_unref);
  g_array_unref (daemon->modules);
  g_main_loop_unref (daemon->loop);
  g_free (daemon->options.config_dir);
  g_free (daemon->options.state_dir);
  g_free (daemon->options.runtime_dir);
  g_free (daemon);
}

GDBusConnection *
anyd_daemon_get_connection (AnydDaemon *daemon)
{
  return daemon->bus;
}

GDBusObjectManagerServer *
anyd_daemon_get_object_manager (AnydDaemon *daemon)
{
  return daemon->object_manager;
}

AnydConfig *
anyd_daemon_get_config (AnydDaemon *daemon)
{
  return daemon->config;
}

AnydAuth *
anyd_daemon_get_auth (AnydDaemon *daemon)
{
  return daemon->auth;
}

AnydLimits *
anyd_daemon_get_limits (AnydDaemon *daemon)
{
  return daemon->limits;
}

const char *
anyd_daemon_get_runtime_dir (AnydDaemon *daemon)
{
  return daemon->options.runtime_dir;
}

char *
anyd_daemon_get_state_subdir (AnydDaemon *daemon, const char *sub, GError **error)
{
  g_autofree char *path = g_build_filename (daemon->options.state_dir, sub, NULL);

  if (!anyd_mkdir_private (path, error))
    return NULL;
  return g_steal_pointer (&path);
}
