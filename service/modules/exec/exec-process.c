/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.anyd1.ExecProcess: one command running as a transient unit.
 *
 * The unit is referenced by anyd (AddRef at start, RefUnit on adoption)
 * and collected by systemd once inactive and unreferenced
 * (CollectMode=inactive-or-failed), so its ExecMainCode/ExecMainStatus
 * can still be read after the command ended: that, not Result, is the
 * exit status (a SIGHUP kill reads Result=success).
 *
 * It knows nothing of the module: it is given the daemon, the systemd
 * client and keep_exited_s, and signals "exited" and "removed" for the
 * module's books (exec-private.h). */
#include "exec-private.h"
#include "audit.h"
#include "metrics.h"
#include "error.h"

#include <signal.h>
#include <string.h>

#define SYSTEMD_UNIT_IFACE    "org.freedesktop.systemd1.Unit"
#define SYSTEMD_SERVICE_IFACE "org.freedesktop.systemd1.Service"

/* ExecMainCode: the si_code of the main process' end. */
#define CODE_EXITED 1   /* CLD_EXITED */
#define CODE_KILLED 2   /* CLD_KILLED */
#define CODE_DUMPED 3   /* CLD_DUMPED */

void
exec_info_clear (ExecInfo *info)
{
  g_clear_pointer (&info->argv, g_strfreev);
  g_clear_pointer (&info->command, g_free);
  g_clear_pointer (&info->command_line, g_free);
  g_clear_pointer (&info->user, g_free);
  g_clear_pointer (&info->cwd, g_free);
  g_clear_pointer (&info->sandbox, g_free);
  g_clear_pointer (&info->creator_sender, g_free);
}

enum { SIGNAL_EXITED, SIGNAL_REMOVED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ------------------------------------------------------------------ exit */

static void
reply_waiters (ExecProcess *p, GError *error)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&p->waiters);

  p->waiters = g_ptr_array_new ();
  for (guint i = 0; i < waiters->len; i++)
    {
      GDBusMethodInvocation *inv = waiters->pdata[i];

      if (error != NULL)
        g_dbus_method_invocation_return_gerror (inv, error);
      else if (g_str_equal (g_dbus_method_invocation_get_method_name (inv), "Wait"))
        g_dbus_method_invocation_return_value (
          inv, g_variant_new ("(sii)", anyd_dbus_exec_process_get_reason (p->iface),
                              anyd_dbus_exec_process_get_exit_code (p->iface),
                              anyd_dbus_exec_process_get_term_signal (p->iface)));
      else
        g_dbus_method_invocation_return_value (inv, NULL);
    }
}

static gboolean
expire_cb (gpointer user_data)
{
  ExecProcess *p = user_data;

  p->expire_source = 0;
  exec_process_remove (p, NULL);
  return G_SOURCE_REMOVE;
}

static void
unref_unit_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree char *unit = user_data;
  g_autoptr(GError) error = NULL;

  if (!anyd_systemd_call_finish (NULL, res, &error))
    g_debug ("exec: UnrefUnit %s: %s", unit, error->message);
}

static void
finish_exit (ExecProcess *p, const char *reason, gint code, gint sig, guint64 exited_at)
{
  gint64 runtime_ms = p->started_mono ? (g_get_monotonic_time () - p->started_mono) / 1000 : -1;

  p->exited = TRUE;
  /* First, so the module's books (the creator's [limits] resource) are
   * settled before anyone hears of the exit and runs the next command. */
  g_signal_emit (p, signals[SIGNAL_EXITED], 0);
  /* systemd's own start time: the job's end may come after a quick exit. */
  if (p->main_start_ts != 0)
    anyd_dbus_exec_process_set_started_at (p->iface, p->main_start_ts);
  if (p->main_start_ts != 0 && exited_at >= p->main_start_ts)
    runtime_ms = (gint64) (exited_at - p->main_start_ts) / 1000;
  anyd_dbus_exec_process_set_state (p->iface, "exited");
  anyd_dbus_exec_process_set_reason (p->iface, reason);
  anyd_dbus_exec_process_set_exit_code (p->iface, code);
  anyd_dbus_exec_process_set_term_signal (p->iface, sig);
  anyd_dbus_exec_process_set_exited_at (p->iface, exited_at ? exited_at : (guint64) g_get_real_time ());
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (p->iface));
  anyd_dbus_exec_process_emit_exited (p->iface, reason, code, sig);
  anyd_metrics_exec_process (reason);
  reply_waiters (p, NULL);
  anyd_audit_action (p->creator, "exec.exit", p->path, NULL,
                     "unit=%s reason=%s exit_code=%d signal=%d runtime_ms=%" G_GINT64_FORMAT,
                     p->unit, reason, code, sig, runtime_ms);

  anyd_systemd_unwatch_properties (p->systemd, p->props_watch);
  p->props_watch = 0;
  if (p->name_watch != 0)
    anyd_daemon_unwatch_name (p->daemon, p->name_watch);
  p->name_watch = 0;
  /* Our reference was the last: systemd collects the unit. */
  anyd_systemd_ref_unit_async (p->systemd, p->unit, FALSE, unref_unit_cb, g_strdup (p->unit));
  p->expire_source = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, p->keep_exited_s,
                                                 expire_cb, g_object_ref (p), g_object_unref);
}

static const char *
exit_reason (ExecProcess *p, gint32 code, gint32 status, const char *result)
{
  if (p->stop_requested)
    return "stopped";
  if (g_strcmp0 (result, "timeout") == 0)
    return "timeout";
  if (g_strcmp0 (result, "oom-kill") == 0)
    return "oom";
  if (code == CODE_EXITED)
    return "exited";
  if (status == SIGHUP && !p->kill_requested)
    return "hangup";
  return "killed";
}

static void
cache_main_status (ExecProcess *p, GVariant *props)
{
  const char *result;

  g_variant_lookup (props, "ExecMainCode", "i", &p->main_code);
  g_variant_lookup (props, "ExecMainStatus", "i", &p->main_status);
  g_variant_lookup (props, "ExecMainStartTimestamp", "t", &p->main_start_ts);
  g_variant_lookup (props, "ExecMainExitTimestamp", "t", &p->main_exit_ts);
  if (g_variant_lookup (props, "Result", "&s", &result))
    {
      g_free (p->result);
      p->result = g_strdup (result);
    }
}

static void
finish_from_status (ExecProcess *p)
{
  gint32 code = p->main_code, status = p->main_status;

  finish_exit (p, exit_reason (p, code, status, p->result), code == CODE_EXITED ? status : -1,
               code == CODE_KILLED || code == CODE_DUMPED ? status : 0, p->main_exit_ts);
}

static void
exit_props_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ExecProcess) p = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) props = anyd_systemd_get_properties_finish (NULL, res, &error);

  p->reading_exit = FALSE;
  if (p->exited || p->removed)
    return;
  if (props == NULL)
    {
      /* Only if someone else unloaded the unit: the status is gone with it. */
      g_warning ("exec: %s ended but its status cannot be read: %s", p->unit, error->message);
      finish_exit (p, p->stop_requested ? "stopped" : "killed", -1, 0, 0);
      return;
    }
  cache_main_status (p, props);
  finish_from_status (p);
}

static void
read_exit (ExecProcess *p)
{
  static const char *const names[] = {
    "ExecMainCode", "ExecMainStatus", "ExecMainStartTimestamp", "ExecMainExitTimestamp",
    "Result", NULL
  };

  if (p->reading_exit || p->exited || p->removed)
    return;
  /* PropertiesChanged of the Service interface came first and said it all. */
  if (p->main_exit_ts != 0 && p->main_code != 0 && p->result != NULL)
    {
      finish_from_status (p);
      return;
    }
  p->reading_exit = TRUE;
  anyd_systemd_get_properties_async (p->systemd, p->unit, SYSTEMD_SERVICE_IFACE, names,
                                     exit_props_cb, g_object_ref (p));
}

static gboolean
is_down (const char *active_state)
{
  return g_strcmp0 (active_state, "inactive") == 0 || g_strcmp0 (active_state, "failed") == 0;
}

static void
on_properties (const char *unit, const char *iface, GVariant *changed, const char *const *invalidated,
               gpointer user_data)
{
  ExecProcess *p = user_data;
  const char *active = NULL;

  if (p->exited)
    return;
  if (g_strcmp0 (iface, SYSTEMD_SERVICE_IFACE) == 0)
    {
      cache_main_status (p, changed);
      /* in case this came after the Unit interface's "inactive" */
      if (p->started && is_down (p->active_state) && p->main_exit_ts != 0)
        read_exit (p);
      return;
    }
  if (g_strcmp0 (iface, SYSTEMD_UNIT_IFACE) != 0 ||
      !g_variant_lookup (changed, "ActiveState", "&s", &active))
    return;
  g_free (p->active_state);
  p->active_state = g_strdup (active);
  /* Before the start job is done, "inactive" is the unit being loaded,
   * not an exit; exec_process_started() looks at the last state. */
  if (p->started && is_down (active))
    read_exit (p);
}

static void
first_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ExecProcess) p = user_data;
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (NULL, res, NULL);
  const char *active = NULL;

  if (status != NULL && g_variant_lookup (status, "ActiveState", "&s", &active) && is_down (active))
    read_exit (p);
}

/* ------------------------------------------------------------------ creator */

static void
stop_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ExecProcess) p = user_data;
  g_autoptr(GError) error = NULL;

  if (!anyd_systemd_run_job_finish (NULL, res, &error))
    g_warning ("exec: stopping %s: %s", p->unit, error->message);
  else if (!p->exited)
    read_exit (p);   /* the job is done: the unit is down */
}

static void
creator_vanished_cb (const char *name, gpointer user_data)
{
  ExecProcess *p = user_data;

  if (p->exited || p->removed || p->stop_requested)
    return;
  g_debug ("exec: %s: its creator %s left the bus; stopping it", p->unit, name);
  p->stop_requested = TRUE;
  anyd_systemd_run_job_async (p->systemd, p->unit, "stop", stop_done_cb, g_object_ref (p));
}

/* ------------------------------------------------------------------ methods */

typedef void (*ProcessOp) (ExecProcess *p, GDBusMethodInvocation *invocation);

static void
fill_details (ExecProcess *p, GHashTable *details)
{
  g_hash_table_replace (details, g_strdup ("command"), exec_escape_controls (p->info.command));
  g_hash_table_replace (details, g_strdup ("command_line"), g_strdup (p->info.command_line));
  g_hash_table_replace (details, g_strdup ("user"), g_strdup (p->info.user));
  g_hash_table_replace (details, g_strdup ("cwd"), g_strdup (p->info.cwd));
  g_hash_table_replace (details, g_strdup ("pty"), g_strdup (p->info.pty ? "true" : "false"));
  g_hash_table_replace (details, g_strdup ("sandbox"), g_strdup (p->info.sandbox));
}

/* Every method passed the gate: exec.run, and exec.manage on a process
 * another uid started (the owner rule of the table's rows, process_owner). */
static gboolean
run_checked (ExecProcess *p, AnydDBusExecProcess *iface, GDBusMethodInvocation *invocation,
             ProcessOp op)
{
  if (p->removed || p->iface != iface)
    g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                                           "process: no longer exists");
  else
    op (p, invocation);
  return TRUE;
}

typedef struct {
  ExecProcess           *p;
  GDBusMethodInvocation *invocation;
  gint                   sig;
} KillCall;

static void
kill_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  KillCall *k = user_data;
  GError *error = NULL;

  anyd_systemd_call_finish (NULL, res, &error);
  anyd_audit_action (anyd_caller_from_invocation (k->invocation), "exec.kill", k->p->path, error,
                     "unit=%s signal=%d", k->p->unit, k->sig);
  if (error != NULL)
    anyd_invocation_return_error (k->invocation, error);
  else
    g_dbus_method_invocation_return_value (k->invocation, NULL);
  g_object_unref (k->p);
  g_free (k);
}

static void
op_kill (ExecProcess *p, GDBusMethodInvocation *invocation)
{
  KillCall *k;
  gint sig;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(i)", &sig);
  if (sig < 1 || sig > SIGRTMAX)
    {
      g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                                             "signal: %d is not a signal number (1–%d)", sig, SIGRTMAX);
      return;
    }
  if (p->exited)
    {
      g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                                             "process: has already exited");
      return;
    }
  p->kill_requested = TRUE;
  k = g_new0 (KillCall, 1);
  k->p = g_object_ref (p);
  k->invocation = invocation;
  k->sig = sig;
  anyd_systemd_kill_unit_async (p->systemd, p->unit, sig, kill_done_cb, k);
}

static void
op_stop (ExecProcess *p, GDBusMethodInvocation *invocation)
{
  anyd_audit_action (anyd_caller_from_invocation (invocation), "exec.stop", p->path, NULL,
                     "unit=%s", p->unit);
  if (p->exited)
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }
  /* Answered with the exit, which the stop job brings. */
  g_ptr_array_add (p->waiters, invocation);
  if (p->stop_requested)
    return;
  p->stop_requested = TRUE;
  anyd_systemd_run_job_async (p->systemd, p->unit, "stop", stop_done_cb, g_object_ref (p));
}

static void
op_wait (ExecProcess *p, GDBusMethodInvocation *invocation)
{
  g_ptr_array_add (p->waiters, invocation);
  if (p->exited)
    reply_waiters (p, NULL);
}

static gboolean
handle_kill (AnydDBusExecProcess *iface, GDBusMethodInvocation *invocation, gint sig,
             gpointer user_data)
{
  return run_checked (user_data, iface, invocation, op_kill);
}

static gboolean
handle_stop (AnydDBusExecProcess *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  return run_checked (user_data, iface, invocation, op_stop);
}

static gboolean
handle_wait (AnydDBusExecProcess *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  return run_checked (user_data, iface, invocation, op_wait);
}

/* polkit details of a process' methods: those of the run that started it. */
static void
process_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                 GHashTable *details, gpointer user_data)
{
  ExecProcess *p = user_data;   /* the skeleton's handlers hold it */

  if (!p->removed && (gpointer) p->iface == (gpointer) skeleton)
    fill_details (p, details);
}

static guint32
process_owner (GDBusInterfaceSkeleton *skeleton, gpointer user_data)
{
  ExecProcess *p = user_data;

  return !p->removed && (gpointer) p->iface == (gpointer) skeleton ? p->info.creator_uid
                                                                   : ANYD_AUTH_NO_OWNER;
}

/* ------------------------------------------------------------------ lifetime */

G_DEFINE_FINAL_TYPE (ExecProcess, exec_process, G_TYPE_OBJECT)

static void
exec_process_finalize (GObject *object)
{
  ExecProcess *p = EXEC_PROCESS (object);

  g_warn_if_fail (p->iface == NULL);
  g_free (p->unit);
  g_free (p->path);
  g_free (p->result);
  g_free (p->active_state);
  exec_info_clear (&p->info);
  anyd_caller_unref (p->creator);
  g_clear_object (&p->object);
  g_clear_object (&p->iface);
  g_ptr_array_unref (p->waiters);
  G_OBJECT_CLASS (exec_process_parent_class)->finalize (object);
}

static void
exec_process_class_init (ExecProcessClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = exec_process_finalize;
  signals[SIGNAL_EXITED] = g_signal_new ("exited", EXEC_TYPE_PROCESS, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_REMOVED] = g_signal_new ("removed", EXEC_TYPE_PROCESS, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                          NULL, G_TYPE_NONE, 0);
}

static void
exec_process_init (ExecProcess *p)
{
}

/* The skeleton's handlers hold the process, so a call still in the gate
 * after exec_process_remove() finds it (and answers NotFound). */
ExecProcess *
exec_process_new (AnydDaemon *daemon, AnydSystemd *systemd, guint keep_exited_s, guint64 id,
                  const char *unit, ExecInfo *info, AnydCaller *creator)
{
  ExecProcess *p = g_object_new (EXEC_TYPE_PROCESS, NULL);
  static const struct { const char *signal; GCallback cb; } handlers[] = {
    { "handle-kill", G_CALLBACK (handle_kill) },
    { "handle-stop", G_CALLBACK (handle_stop) },
    { "handle-wait", G_CALLBACK (handle_wait) },
  };

  p->daemon = daemon;
  p->systemd = systemd;
  p->keep_exited_s = keep_exited_s;
  p->id = id;
  p->unit = g_strdup (unit);
  p->path = g_strdup_printf (EXEC_PROCESSES_PATH "/%" G_GUINT64_FORMAT, id);
  p->info = *info;
  memset (info, 0, sizeof *info);
  p->creator = anyd_caller_ref (creator);
  p->waiters = g_ptr_array_new ();

  p->iface = anyd_dbus_exec_process_skeleton_new ();
  anyd_dbus_exec_process_set_argv (p->iface, (const char *const *) p->info.argv);
  anyd_dbus_exec_process_set_user (p->iface, p->info.user);
  anyd_dbus_exec_process_set_unit (p->iface, unit);
  anyd_dbus_exec_process_set_pty (p->iface, p->info.pty);
  anyd_dbus_exec_process_set_created_by (p->iface, p->info.creator_uid);
  anyd_dbus_exec_process_set_state (p->iface, "running");
  anyd_dbus_exec_process_set_reason (p->iface, "");
  anyd_dbus_exec_process_set_exit_code (p->iface, -1);
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (p->iface),
                   process_details, p);
  anyd_auth_guard_set_owner_func (G_DBUS_INTERFACE_SKELETON (p->iface), process_owner, p);
  for (guint i = 0; i < G_N_ELEMENTS (handlers); i++)
    g_signal_connect_data (p->iface, handlers[i].signal, handlers[i].cb, g_object_ref (p),
                           (GClosureNotify) (void (*) (void)) g_object_unref, 0);
  p->object = anyd_dbus_object_skeleton_new (p->path);
  anyd_dbus_object_skeleton_set_exec_process (p->object, p->iface);

  /* Before the unit exists, so no change of it can be missed. */
  p->props_watch = anyd_systemd_watch_properties (systemd, unit, on_properties, g_object_ref (p),
                                                  g_object_unref);
  return p;
}

void
exec_process_started (ExecProcess *p, guint64 started_at_us, gboolean check_state)
{
  g_return_if_fail (!p->removed);
  p->started = TRUE;
  p->started_mono = g_get_monotonic_time ();
  anyd_dbus_exec_process_set_started_at (p->iface, started_at_us);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (p->daemon),
                                       G_DBUS_OBJECT_SKELETON (p->object));
  p->exported = TRUE;
  if (!p->info.keep_running && p->info.creator_sender != NULL && p->info.creator_sender[0] != '\0')
    p->name_watch = anyd_daemon_watch_name (p->daemon, p->info.creator_sender, creator_vanished_cb,
                                            g_object_ref (p), g_object_unref);
  /* Ended while the start job's answer was on its way: the signals said
   * so (down, with an exit time: not the unit merely being loaded). */
  if (is_down (p->active_state) && p->main_exit_ts != 0)
    read_exit (p);
  else if (check_state)
    anyd_systemd_get_status_async (p->systemd, p->unit, first_status_cb, g_object_ref (p));
}

void
exec_process_remove (ExecProcess *p, const char *why)
{
  g_autoptr(ExecProcess) hold = g_object_ref (p);

  if (p->removed)
    return;
  p->removed = TRUE;
  if (why != NULL)
    {
      g_autoptr(GError) error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s", why);
      reply_waiters (p, error);
    }
  anyd_systemd_unwatch_properties (p->systemd, p->props_watch);
  p->props_watch = 0;
  if (p->name_watch != 0)
    anyd_daemon_unwatch_name (p->daemon, p->name_watch);
  p->name_watch = 0;
  g_clear_handle_id (&p->expire_source, g_source_remove);
  if (p->exported)
    g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (p->daemon), p->path);
  p->exported = FALSE;
  /* Handlers stay connected and answer NotFound; they drop their
   * references to p when the last call is done with the skeleton. */
  g_clear_object (&p->object);
  g_clear_object (&p->iface);
  g_signal_emit (p, signals[SIGNAL_REMOVED], 0);
}
