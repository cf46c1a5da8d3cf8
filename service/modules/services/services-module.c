/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The services module: org.anyd1.Services at /org/anyd1/services.
 *
 * Start/Stop/Restart/Reload of systemd units named in [services] allow=,
 * through systemd's own D-Bus API. Two locks, both always checked:
 *   1. the gate asks polkit (org.anyd1.services.manage) with details
 *      unit = the normalised unit name and verb = start|stop|restart|reload,
 *      so rules.d can decide per unit and verb;
 *   2. the handler refuses every unit not on the allowlist, whatever polkit
 *      said and whoever asks (root included): the list is the boundary the
 *      administrator drew, and it must stay visible as one.
 * A call answers when systemd's job is finished (JobRemoved). */
#include "module.h"
#include "audit.h"
#include "daemon.h"
#include "error.h"
#include "names.h"
#include "anyd-dbus.h"

#include "systemd.h"
#include "services-unit.h"

#include <string.h>

#define SERVICES_PATH   ANYD_DBUS_PATH "/services"
#define SERVICES_IFACE  "org.anyd1.Services"
#define ANYD_ACTION_SERVICES_MANAGE "org.anyd1.services.manage"

static const AnydConfigKey services_config_keys[] = {
  { "services", "allow", ANYD_CONFIG_STRING_LIST, NULL,
    "systemd units callers may start, stop, restart and reload (polkit decides who); "
    "'nginx' means nginx.service, 'app@*.service' any instance of app@.service; empty: none" },
  { NULL }
};

/* Verbs get their polkit details (unit, verb) from services_details(). */
static const AnydAuthRule services_auth_rules[] = {
  { SERVICES_IFACE, "Start",       ANYD_ACTION_SERVICES_MANAGE,  NULL, -1, NULL },
  { SERVICES_IFACE, "Stop",        ANYD_ACTION_SERVICES_MANAGE,  NULL, -1, NULL },
  { SERVICES_IFACE, "Restart",     ANYD_ACTION_SERVICES_MANAGE,  NULL, -1, NULL },
  { SERVICES_IFACE, "Reload",      ANYD_ACTION_SERVICES_MANAGE,  NULL, -1, NULL },
  { SERVICES_IFACE, "GetStatus",   ANYD_AUTH_PUBLIC, NULL, -1, NULL },
  { SERVICES_IFACE, "ListAllowed", ANYD_AUTH_PUBLIC, NULL, -1, NULL },
  ANYD_AUTH_RULES_END
};

typedef struct {
  AnydDaemon             *daemon;
  AnydDBusObjectSkeleton *object;
  AnydDBusServices       *skeleton;
  AnydServicesAllowlist  *allow;
  AnydSystemd            *systemd;
  gboolean                stopped;
} ServicesModule;

/* One method call waiting on systemd. Holds no pointer to the module, so
 * it can outlive it (anyd stopping while a job runs). */
typedef struct {
  AnydDBusServices      *skeleton;
  GDBusMethodInvocation *invocation;
  AnydCaller            *caller;
  char                  *unit;
  char                  *verb;
} Call;

static void
call_free (Call *c)
{
  g_object_unref (c->skeleton);
  anyd_caller_unref (c->caller);
  g_free (c->unit);
  g_free (c->verb);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static ServicesModule *
module_ref (ServicesModule *m)
{
  return g_rc_box_acquire (m);
}

static void
module_unref (ServicesModule *m)
{
  g_rc_box_release (m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ServicesModule, module_unref)

/* ------------------------------------------------------------------ config */

static AnydServicesAllowlist *
allowlist_from_config (AnydConfig *config, GError **error)
{
  g_auto(GStrv) entries = anyd_config_get_string_list (config, "services", "allow");

  return anyd_services_allowlist_new ((const char *const *) entries,
                                      anyd_config_get_origin (config, "services", "allow"), error);
}

static gboolean
services_check_config (AnydConfig *config, GError **error)
{
  g_autoptr(AnydServicesAllowlist) list = allowlist_from_config (config, error);
  return list != NULL;
}

/* ------------------------------------------------------------------ UnitChanged */

static gboolean
keep_watch (const char *unit, gpointer data)
{
  return anyd_services_allowlist_contains (data, unit);
}

static void
watch_or_warn (ServicesModule *m, const char *unit, gboolean announce)
{
  if (!anyd_systemd_watch_unit (m->systemd, unit, announce))
    g_warning ("too many allowed units to watch; no UnitChanged for %s", unit);
}

static void
scan_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ServicesModule) m = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) units = anyd_systemd_list_units_finish (NULL, res, &error);

  if (m->stopped)
    return;
  if (units == NULL)
    {
      if (!g_error_matches (error, ANYD_ERROR, ANYD_ERROR_DISABLED))
        g_warning ("cannot list loaded instances of allowed units: %s", error->message);
      return;
    }
  /* The allowlist may have changed meanwhile: check against the current one. */
  for (guint i = 0; units[i] != NULL; i++)
    if (anyd_services_allowlist_contains (m->allow, units[i]))
      watch_or_warn (m, units[i], FALSE);
}

/* Watch exactly the allowed units: literal names by path, instances of
 * patterns as systemd loads them (already loaded ones listed here, later
 * ones from UnitNew). */
static void
rescan (ServicesModule *m)
{
  const char *const *entries = anyd_services_allowlist_entries (m->allow);
  g_autoptr(GPtrArray) patterns = g_ptr_array_new ();

  anyd_systemd_unwatch_except (m->systemd, keep_watch, m->allow);
  for (guint i = 0; entries[i] != NULL; i++)
    {
      if (anyd_services_entry_is_pattern (entries[i]))
        g_ptr_array_add (patterns, (gpointer) entries[i]);
      else
        watch_or_warn (m, entries[i], FALSE);
    }
  if (patterns->len == 0)
    return;
  g_ptr_array_add (patterns, NULL);
  anyd_systemd_list_units_async (m->systemd, (const char *const *) patterns->pdata, scan_cb,
                                 module_ref (m));
}

static void
on_systemd_appeared (gpointer user_data)
{
  rescan (user_data);
}

static void
on_unit_new (const char *unit, gboolean removed, gpointer user_data)
{
  ServicesModule *m = user_data;

  if (!anyd_services_allowlist_has_patterns (m->allow))
    return;
  if (!removed && anyd_services_allowlist_contains (m->allow, unit))
    watch_or_warn (m, unit, TRUE);
  else if (removed && !g_strv_contains (anyd_services_allowlist_entries (m->allow), unit))
    anyd_systemd_unwatch_unit (m->systemd, unit);   /* an instance systemd dropped */
}

static void
on_unit_changed (const char *unit, const char *active_state, const char *sub_state, gpointer user_data)
{
  ServicesModule *m = user_data;

  if (anyd_services_allowlist_contains (m->allow, unit))
    anyd_dbus_services_emit_unit_changed (m->skeleton, unit, active_state, sub_state);
}

/* ------------------------------------------------------------------ methods */

/* polkit details: unit = what systemd would be asked for, verb = the method.
 * An invalid name never reaches systemd (the handler refuses it), so polkit
 * and the audit get "" instead of the caller's raw text. */
static void
services_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                  GHashTable *details, gpointer user_data)
{
  static const char *const verbs[] = { "Start", "Stop", "Restart", "Reload", NULL };
  const char *arg;
  char *unit;

  if (!g_strv_contains (verbs, method) || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(s)")))
    return;
  g_variant_get (parameters, "(&s)", &arg);
  unit = anyd_services_unit_normalise (arg, NULL, NULL);
  g_hash_table_replace (details, g_strdup ("unit"), unit ? unit : g_strdup (""));
  g_hash_table_replace (details, g_strdup ("verb"), g_ascii_strdown (method, -1));
}

/* The normalised name if it is valid and allowed, else NULL + error. */
static char *
allowed_unit (ServicesModule *m, const char *arg, GError **error)
{
  g_autofree char *unit = anyd_services_unit_normalise (arg, "unit", error);
  g_autofree char *list = NULL;

  if (unit == NULL)
    return NULL;
  if (anyd_services_allowlist_contains (m->allow, unit))
    return g_steal_pointer (&unit);
  list = anyd_services_allowlist_describe (m->allow);
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
               "Not authorized: '%s' is not in the services allowlist ([services] allow= in anyd.conf: %s); "
               "anyd touches no other unit", unit, list);
  return NULL;
}

/* Before polkit: a unit that isn't valid and allowed is refused without
 * asking anyone for a password (the handler checks again). */
static gboolean
services_precheck (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                   gpointer user_data, GError **error)
{
  g_autofree char *unit = NULL;
  const char *arg;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(s)")))
    return TRUE;
  g_variant_get (parameters, "(&s)", &arg);
  unit = allowed_unit (user_data, arg, error);
  return unit != NULL;
}

static void
job_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Call) c = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *action = g_strconcat ("services.", c->verb, NULL);

  if (!anyd_systemd_run_job_finish (NULL, res, &error))
    {
      anyd_audit_action (c->caller, action, c->unit, error, NULL);
      anyd_invocation_return_error (c->invocation, g_steal_pointer (&error));
      return;
    }
  anyd_audit_action (c->caller, action, c->unit, NULL, "%s %s", c->verb, c->unit);
  g_dbus_method_invocation_return_value (c->invocation, NULL);
}

/* Start, Stop, Restart and Reload: the verb is the method's name. */
static gboolean
handle_verb (AnydDBusServices *s, GDBusMethodInvocation *invocation, const char *arg, gpointer user_data)
{
  ServicesModule *m = user_data;
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  g_autofree char *verb = g_ascii_strdown (g_dbus_method_invocation_get_method_name (invocation), -1);
  g_autoptr(GError) error = NULL;
  g_autofree char *unit = allowed_unit (m, arg, &error);
  Call *c;

  if (unit == NULL)
    {
      g_autofree char *action = g_strconcat ("services.", verb, NULL);
      anyd_audit_action (caller, action, NULL, error, NULL);
      anyd_invocation_return_error (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  c = g_new0 (Call, 1);
  c->skeleton = g_object_ref (m->skeleton);
  c->invocation = invocation;
  c->caller = anyd_caller_ref (caller);
  c->unit = g_steal_pointer (&unit);
  c->verb = g_steal_pointer (&verb);
  anyd_systemd_run_job_async (m->systemd, c->unit, c->verb, job_done_cb, c);
  return TRUE;
}

static void
status_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Call) c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (NULL, res, &error);

  if (status == NULL)
    anyd_invocation_return_error (c->invocation, g_steal_pointer (&error));
  else
    anyd_dbus_services_complete_get_status (c->skeleton, c->invocation, status);
}

static gboolean
handle_get_status (AnydDBusServices *s, GDBusMethodInvocation *invocation, const char *arg,
                   gpointer user_data)
{
  ServicesModule *m = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *unit = allowed_unit (m, arg, &error);
  Call *c;

  if (unit == NULL)
    {
      anyd_invocation_return_error (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  c = g_new0 (Call, 1);
  c->skeleton = g_object_ref (m->skeleton);
  c->invocation = invocation;
  c->caller = anyd_caller_ref (anyd_caller_from_invocation (invocation));
  c->unit = g_steal_pointer (&unit);
  c->verb = g_strdup ("status");
  anyd_systemd_get_status_async (m->systemd, c->unit, status_done_cb, c);
  return TRUE;
}

static gboolean
handle_list_allowed (AnydDBusServices *s, GDBusMethodInvocation *invocation, gpointer user_data)
{
  ServicesModule *m = user_data;

  anyd_dbus_services_complete_list_allowed (s, invocation, anyd_services_allowlist_entries (m->allow));
  return TRUE;
}

/* ------------------------------------------------------------------ lifetime */

static gpointer
services_start (AnydDaemon *daemon, GError **error)
{
  static const AnydSystemdCallbacks callbacks = {
    .appeared = on_systemd_appeared,
    .unit_changed = on_unit_changed,
    .unit_new = on_unit_new,
  };
  g_autoptr(AnydServicesAllowlist) allow = allowlist_from_config (anyd_daemon_get_config (daemon), error);
  ServicesModule *m;

  if (allow == NULL)
    return NULL;
  m = g_rc_box_new0 (ServicesModule);
  m->daemon = daemon;
  m->allow = g_steal_pointer (&allow);
  m->systemd = anyd_systemd_new (anyd_daemon_get_connection (daemon), &callbacks, m);

  m->skeleton = anyd_dbus_services_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (m->skeleton),
                   services_details, m);
  anyd_auth_guard_set_precheck (G_DBUS_INTERFACE_SKELETON (m->skeleton), services_precheck, m);
  g_signal_connect (m->skeleton, "handle-start", G_CALLBACK (handle_verb), m);
  g_signal_connect (m->skeleton, "handle-stop", G_CALLBACK (handle_verb), m);
  g_signal_connect (m->skeleton, "handle-restart", G_CALLBACK (handle_verb), m);
  g_signal_connect (m->skeleton, "handle-reload", G_CALLBACK (handle_verb), m);
  g_signal_connect (m->skeleton, "handle-get-status", G_CALLBACK (handle_get_status), m);
  g_signal_connect (m->skeleton, "handle-list-allowed", G_CALLBACK (handle_list_allowed), m);

  m->object = anyd_dbus_object_skeleton_new (SERVICES_PATH);
  anyd_dbus_object_skeleton_set_services (m->object, m->skeleton);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (m->object));
  rescan (m);
  return m;
}

static void
services_reload (gpointer module, AnydConfig *config)
{
  ServicesModule *m = module;
  g_autoptr(GError) error = NULL;
  AnydServicesAllowlist *allow = allowlist_from_config (config, &error);

  /* check_config already accepted this configuration. */
  if (allow == NULL)
    {
      g_warning ("services: keeping the previous allowlist: %s", error->message);
      return;
    }
  anyd_services_allowlist_free (m->allow);
  m->allow = allow;
  rescan (m);
}

static void
services_stop (gpointer module)
{
  ServicesModule *m = module;

  m->stopped = TRUE;
  /* First: callers still waiting on a job get their answer. */
  g_clear_pointer (&m->systemd, anyd_systemd_free);
  g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (m->daemon), SERVICES_PATH);
  g_clear_object (&m->object);
  g_clear_object (&m->skeleton);
  g_clear_pointer (&m->allow, anyd_services_allowlist_free);
  module_unref (m);
}

const AnydModule anyd_module_services = {
  .name = "services",
  .config_keys = services_config_keys,
  .auth_rules = services_auth_rules,
  .check_config = services_check_config,
  .start = services_start,
  .reload = services_reload,
  .stop = services_stop,
};
