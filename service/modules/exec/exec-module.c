/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exec module: org.anyd1.Exec at /org/anyd1/exec.
 *
 * Run and RunPty start a command as a transient systemd unit
 * (StartTransientUnit through service/systemd.c): anyd never forks it.
 * Three locks, all always checked:
 *   1. [exec] allow= (canonical paths or patterns), before polkit, so
 *      nobody is asked for a password for a command that is refused anyway;
 *   2. polkit, action org.anyd1.exec.run with details command,
 *      command_line, user, cwd, pty, sandbox;
 *   3. per-uid max_processes; each caller's commands run in its own slice
 *      (anyd-exec-u<uid>.slice) with the [exec] slice limits.
 * The call is answered when the start job is done, so a missing binary, a
 * bad cwd or user is an error of the call, not a process object.
 * The start itself is exec-start.c's; this file keeps the books it uses. */
#include "exec-private.h"
#include "error.h"
#include "metrics.h"
#include "anyd-limits.h"
#include "names.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const AnydConfigKey exec_config_keys[] = {
  { "exec", "allow", ANYD_CONFIG_STRING_LIST, NULL,
    "programs callers may run: canonical absolute paths or fnmatch patterns (checked before "
    "polkit); empty: any program polkit allows. An allowed shell or interpreter allows everything" },
  { "exec", "path", ANYD_CONFIG_STRING_LIST, "/usr/local/sbin;/usr/local/bin;/usr/sbin;/usr/bin;/sbin;/bin",
    "directories (root-owned, not writable by others) where a bare argv[0] is looked up" },
  { "exec", "max_processes", ANYD_CONFIG_UINT, "16",
    "running commands one non-root uid may have at once", 100000 },
  { "exec", "default_sandbox", ANYD_CONFIG_STRING, "strict",
    "sandbox of a command that names none: strict (read-only system, private /tmp and /dev, "
    "no new privileges) or none" },
  { "exec", "keep_exited_s", ANYD_CONFIG_UINT, "60",
    "seconds an exited process object stays on the bus", 86400 },
  { "exec", "slice_memory_max", ANYD_CONFIG_STRING, NULL,
    "MemoryMax of each uid's slice anyd-exec-u<uid>.slice (bytes, or with K, M, G, T); empty: none" },
  { "exec", "slice_tasks_max", ANYD_CONFIG_UINT, "1024",
    "TasksMax of each uid's slice; 0: none", 4194304 },
  { NULL }
};

static const AnydAuthRule exec_auth_rules[] = {
  { EXEC_IFACE,         "Run",    ANYD_ACTION_EXEC_RUN, NULL, -1, NULL },
  { EXEC_IFACE,         "RunPty", ANYD_ACTION_EXEC_RUN, NULL, -1, NULL },
  /* on a process another uid started, also exec.manage (process_owner) */
  { EXEC_PROCESS_IFACE, "Kill",   ANYD_ACTION_EXEC_RUN, NULL, -1, NULL, ANYD_AUTH_OWNER_MANAGE, ANYD_ACTION_EXEC_MANAGE },
  { EXEC_PROCESS_IFACE, "Stop",   ANYD_ACTION_EXEC_RUN, NULL, -1, NULL, ANYD_AUTH_OWNER_MANAGE, ANYD_ACTION_EXEC_MANAGE },
  { EXEC_PROCESS_IFACE, "Wait",   ANYD_ACTION_EXEC_RUN, NULL, -1, NULL, ANYD_AUTH_OWNER_MANAGE, ANYD_ACTION_EXEC_MANAGE },
  ANYD_AUTH_RULES_END
};

static void
rules_clear (ExecRules *r)
{
  g_strfreev (r->policy.path_dirs);
  g_strfreev (r->policy.allow);
  g_free (r->policy.default_sandbox);
  g_free (r->allow_origin);
}

void
exec_rules_unref (ExecRules *r)
{
  g_atomic_rc_box_release_full (r, (GDestroyNotify) rules_clear);
}

typedef struct {
  AnydDaemon             *daemon;
  AnydSystemd            *systemd;
  AnydDBusObjectSkeleton *object;
  AnydDBusExec           *skeleton;
  ExecRules              *rules;        /* replaced on reload; threads take a reference */
  GMutex                  rules_lock;   /* guards the m->rules pointer, for threads */
  guint                   max_processes;
  guint                   keep_exited_s;
  guint64                 slice_memory_max;
  guint64                 slice_tasks_max;
  GHashTable             *processes;    /* unit name -> ExecProcess* (a reference): track() */
  GHashTable             *slices_set;   /* uid -> TRUE: slice limits applied */
  guint64                 next_id;
  guint                   metrics_id;   /* the live-process gauge's collector */
  gint64                  tty_gid;      /* group of pty slaves, -1: the user's own */
  gboolean                stopped;
} ExecModule;

static ExecModule *
exec_module_ref (ExecModule *m)
{
  return g_rc_box_acquire (m);
}

/* The current rules, from any thread. */
static ExecRules *
rules_get (ExecModule *m)
{
  ExecRules *r;

  g_mutex_lock (&m->rules_lock);
  r = g_atomic_rc_box_acquire (m->rules);
  g_mutex_unlock (&m->rules_lock);
  return r;
}

static void
module_clear (ExecModule *m)
{
  exec_rules_unref (m->rules);
  g_mutex_clear (&m->rules_lock);
  g_hash_table_unref (m->processes);
  g_hash_table_unref (m->slices_set);
}

static void
exec_module_unref (ExecModule *m)
{
  g_rc_box_release_full (m, (GDestroyNotify) module_clear);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExecModule, exec_module_unref)

/* ------------------------------------------------------------------ config */

static gboolean
parse_size (const char *text, guint64 *out)
{
  static const char units[] = "KMGT";
  char *end = NULL;
  guint64 v;

  *out = 0;
  if (text == NULL || *text == '\0')
    return TRUE;
  if (!g_ascii_isdigit (*text))
    return FALSE;
  errno = 0;
  v = g_ascii_strtoull (text, &end, 10);
  if (errno != 0)
    return FALSE;
  if (*end != '\0')
    {
      const char *u = strchr (units, g_ascii_toupper (*end));
      if (u == NULL || end[1] != '\0')
        return FALSE;
      for (const char *p = units; p <= u; p++)
        {
          if (v > G_MAXUINT64 / 1024)
            return FALSE;
          v *= 1024;
        }
    }
  *out = v;
  return TRUE;
}

static gboolean
exec_check_config (AnydConfig *config, GError **error)
{
  g_auto(GStrv) allow = anyd_config_get_string_list (config, "exec", "allow");
  g_auto(GStrv) path = anyd_config_get_string_list (config, "exec", "path");
  g_autofree char *sandbox = anyd_config_get_string (config, "exec", "default_sandbox");
  g_autofree char *memory = anyd_config_get_string (config, "exec", "slice_memory_max");
  guint64 bytes;

  for (guint i = 0; allow != NULL && allow[i] != NULL; i++)
    if (!exec_allow_entry_is_valid (allow[i], error))
      return FALSE;
  for (guint i = 0; path != NULL && path[i] != NULL; i++)
    if (path[i][0] != '/')
      {
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "[exec] path: '%s' is not an absolute directory", path[i]);
        return FALSE;
      }
  if (sandbox == NULL || (!g_str_equal (sandbox, "strict") && !g_str_equal (sandbox, "none")))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "[exec] default_sandbox: must be strict or none");
      return FALSE;
    }
  if (!parse_size (memory, &bytes) || (bytes != 0 && bytes < EXEC_MEMORY_MIN))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "[exec] slice_memory_max: '%s' is not a size of at least 1M", memory);
      return FALSE;
    }
  return TRUE;
}

/* Only root-owned directories nobody else may write: otherwise anyone could
 * plant a program that a bare name resolves to. */
static char **
safe_path_dirs (char **dirs)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  struct stat st;

  for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++)
    {
      if (stat (dirs[i], &st) != 0)
        continue;
      if (!S_ISDIR (st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        {
          g_warning ("exec: [exec] path: ignoring %s (not a root-owned directory only root may write)",
                     dirs[i]);
          continue;
        }
      g_strv_builder_add (b, dirs[i]);
    }
  return g_strv_builder_end (b);
}

/* Literal entries are canonicalised (/bin/true is /usr/bin/true), as
 * commands are before they are compared. */
static char **
canonical_allow (char **allow)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new ();
  char canonical[PATH_MAX];

  for (guint i = 0; allow != NULL && allow[i] != NULL; i++)
    {
      if (strpbrk (allow[i], "*?[") == NULL && realpath (allow[i], canonical) != NULL)
        g_strv_builder_add (b, canonical);
      else
        g_strv_builder_add (b, allow[i]);
    }
  return g_strv_builder_end (b);
}

static void
apply_config (ExecModule *m, AnydConfig *config)
{
  g_auto(GStrv) allow = anyd_config_get_string_list (config, "exec", "allow");
  g_auto(GStrv) path = anyd_config_get_string_list (config, "exec", "path");
  g_autofree char *memory = anyd_config_get_string (config, "exec", "slice_memory_max");
  guint64 memory_max = 0;
  guint64 tasks_max = anyd_config_get_uint (config, "exec", "slice_tasks_max");
  GHashTableIter it;
  gpointer value;

  ExecRules *rules = g_atomic_rc_box_new0 (ExecRules), *old;

  rules->policy.allow = canonical_allow (allow);
  rules->policy.path_dirs = safe_path_dirs (path);
  rules->policy.default_sandbox = anyd_config_get_string (config, "exec", "default_sandbox");
  rules->allow_origin = g_strdup (anyd_config_get_origin (config, "exec", "allow"));
  g_mutex_lock (&m->rules_lock);
  old = m->rules;
  m->rules = rules;
  g_mutex_unlock (&m->rules_lock);
  if (old != NULL)
    exec_rules_unref (old);
  m->max_processes = anyd_config_get_uint (config, "exec", "max_processes");
  m->keep_exited_s = anyd_config_get_uint (config, "exec", "keep_exited_s");
  /* read at the exit: also for the processes running now */
  g_hash_table_iter_init (&it, m->processes);
  while (g_hash_table_iter_next (&it, NULL, &value))
    ((ExecProcess *) value)->keep_exited_s = m->keep_exited_s;
  parse_size (memory, &memory_max);
  if (memory_max != m->slice_memory_max || tasks_max != m->slice_tasks_max)
    g_hash_table_remove_all (m->slices_set);   /* apply the new limits on the next run */
  m->slice_memory_max = memory_max;
  m->slice_tasks_max = tasks_max;
}

/* ------------------------------------------------------------------ gate */

static gboolean
is_pty_method (const char *method)
{
  return g_str_equal (method, "RunPty");
}

/* polkit details of Run/RunPty. Bad input still gets details (the gate
 * audits the refusal with them), escaped, never raw control characters.
 * In a worker thread (anyd_auth_guard_set_threaded): it resolves argv[0]. */
static void
exec_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
              GHashTable *details, gpointer user_data)
{
  g_autoptr(ExecRules) rules = rules_get (user_data);
  gboolean pty = is_pty_method (method);
  g_autoptr(ExecRequest) req = exec_request_parse (parameters, pty, &rules->policy, TRUE, NULL);
  g_autofree const char **argv = NULL;
  g_autoptr(GVariant) options = NULL;
  const char *user = "", *cwd = "", *sandbox = rules->policy.default_sandbox;

  if (req != NULL)
    {
      g_hash_table_replace (details, g_strdup ("command"), g_strdup (req->command));
      g_hash_table_replace (details, g_strdup ("command_line"), g_strdup (req->command_line));
      user = req->user ? req->user : "";
      cwd = req->cwd ? req->cwd : "";
      sandbox = req->sandbox;
    }
  else if (g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(asa{sv})")))
    {
      g_autofree char *joined = NULL;
      g_variant_get (parameters, "(^a&s@a{sv})", &argv, &options);
      joined = g_strjoinv (" ", (char **) argv);
      g_hash_table_replace (details, g_strdup ("command"), exec_escape_controls (argv[0] ? argv[0] : ""));
      g_hash_table_replace (details, g_strdup ("command_line"), exec_escape_controls (joined));
      g_variant_lookup (options, "user", "&s", &user);
      g_variant_lookup (options, "cwd", "&s", &cwd);
      g_variant_lookup (options, "sandbox", "&s", &sandbox);
    }
  g_hash_table_replace (details, g_strdup ("user"), exec_escape_controls (user));
  g_hash_table_replace (details, g_strdup ("cwd"), exec_escape_controls (cwd));
  g_hash_table_replace (details, g_strdup ("pty"), g_strdup (pty ? "true" : "false"));
  g_hash_table_replace (details, g_strdup ("sandbox"), exec_escape_controls (sandbox ? sandbox : ""));
}

/* Before polkit: malformed input and commands off the allowlist, which no
 * password could make acceptable. Nothing here says whether a file exists
 * (anyd looks as root; the caller is not authorized yet): a command that
 * does not resolve is just not on the allowlist, and a missing one with no
 * allowlist is for the handler to report. The handler checks all again.
 * In a worker thread, like exec_details. */
static gboolean
exec_precheck (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
               gpointer user_data, GError **error)
{
  g_autoptr(ExecRules) rules = rules_get (user_data);
  g_autoptr(ExecRequest) req = exec_request_parse (parameters, is_pty_method (method), &rules->policy,
                                                   FALSE, error);

  if (req == NULL)
    return FALSE;
  if (rules->policy.allow == NULL || rules->policy.allow[0] == NULL)
    return TRUE;
  req->command = exec_resolve_command (req->argv[0], &rules->policy, NULL);
  if (req->command == NULL)
    req->command = exec_escape_controls (req->argv[0]);
  return exec_request_allowed (req, &rules->policy, rules->allow_origin, error);
}

/* ------------------------------------------------------------------ books */

/* A process holds one of its creator's [limits] resources while it runs. */
static void
release_quota (ExecModule *m, ExecProcess *p)
{
  anyd_limits_release (anyd_daemon_get_limits (m->daemon), p->info.creator_uid, "exec");
}

static void
process_exited_cb (ExecProcess *p, gpointer user_data)
{
  release_quota (user_data, p);
}

/* Undo track(): out of the books (it is off the bus already). */
static void
process_removed_cb (ExecProcess *p, gpointer user_data)
{
  ExecModule *m = user_data;

  g_signal_handlers_disconnect_by_data (p, m);
  if (!p->exited)
    release_quota (m, p);
  g_hash_table_remove (m->processes, p->unit);
  anyd_daemon_release (m->daemon);
}

/* Registry, [limits] quota (the caller was checked: anyd_limits_check) and
 * a hold on the daemon, until the process is removed. */
static ExecProcess *
track (ExecModule *m, ExecProcess *p)
{
  g_hash_table_insert (m->processes, g_strdup (p->unit), g_object_ref (p));
  anyd_limits_charge (anyd_daemon_get_limits (m->daemon), p->info.creator_uid, "exec");
  anyd_daemon_hold (m->daemon);
  g_signal_connect (p, "exited", G_CALLBACK (process_exited_cb), m);
  g_signal_connect (p, "removed", G_CALLBACK (process_removed_cb), m);
  return p;
}

/* Running (or starting) processes created by uid. */
static guint
count_running (ExecModule *m, guint32 uid)
{
  GHashTableIter it;
  gpointer value;
  guint n = 0;

  g_hash_table_iter_init (&it, m->processes);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      ExecProcess *p = value;
      n += !p->exited && !p->removed && p->info.creator_uid == uid;
    }
  return n;
}

/* ------------------------------------------------------------------ Run */

/* The start path (exec-start.c) books through these. */
static gboolean
start_stopped (gpointer data)
{
  ExecModule *m = data;

  return m->stopped;
}

static gboolean
start_admit (guint32 uid, gpointer data, GError **error)
{
  ExecModule *m = data;

  if (uid != 0 && m->max_processes != 0 && count_running (m, uid) >= m->max_processes)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_BUSY,
                   "max_processes: uid %u already runs %u commands, the most [exec] max_processes allows",
                   uid, m->max_processes);
      return FALSE;
    }
  /* [limits] max_resources_per_uid: counted once the process object exists */
  return anyd_limits_check (anyd_daemon_get_limits (m->daemon), uid, "exec", error);
}

static ExecProcess *
start_new_process (ExecInfo *info, AnydCaller *creator, gpointer data)
{
  ExecModule *m = data;
  guint64 id = m->next_id++;
  g_autofree char *unit = g_strdup_printf (EXEC_UNIT_PREFIX "%" G_GUINT64_FORMAT ".service", id);

  return track (m, exec_process_new (m->daemon, m->systemd, m->keep_exited_s, id, unit, info, creator));
}

static gboolean
start_slice_limits (guint32 uid, guint64 *memory_max, guint64 *tasks_max, gpointer data)
{
  ExecModule *m = data;

  /* (also with no limits configured: a Reload may just have removed them) */
  if (g_hash_table_contains (m->slices_set, GUINT_TO_POINTER (uid)))
    return FALSE;
  *memory_max = m->slice_memory_max;
  *tasks_max = m->slice_tasks_max;
  return TRUE;
}

static void
start_slice_set (guint32 uid, gpointer data)
{
  ExecModule *m = data;

  g_hash_table_add (m->slices_set, GUINT_TO_POINTER (uid));
}

static void
start_run (ExecModule *m, GDBusMethodInvocation *invocation, GUnixFDList *fd_list, gboolean pty)
{
  static const ExecStartHooks hooks = {
    .ref = (GBoxedCopyFunc) exec_module_ref,
    .unref = (GDestroyNotify) exec_module_unref,
    .stopped = start_stopped,
    .admit = start_admit,
    .new_process = start_new_process,
    .slice_limits = start_slice_limits,
    .slice_set = start_slice_set,
  };
  const ExecStartEnv env = { &hooks, m, m->systemd, m->tty_gid };

  exec_start_run (&env, rules_get (m), invocation, fd_list, pty);
}

static gboolean
handle_run (AnydDBusExec *skeleton, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
            const char *const *argv, GVariant *options, gpointer user_data)
{
  start_run (user_data, invocation, fd_list, FALSE);
  return TRUE;
}

static gboolean
handle_run_pty (AnydDBusExec *skeleton, GDBusMethodInvocation *invocation, const char *const *argv,
                GVariant *options, gpointer user_data)
{
  start_run (user_data, invocation, NULL, TRUE);
  return TRUE;
}

/* ------------------------------------------------------------------ adoption */

/* After a restart of anyd: the anyd-exec-* units still running become
 * process objects again (same path, since the id is in the unit name);
 * exited ones lost our reference with the old connection and systemd
 * collects them. */
typedef struct {
  ExecModule *m;
  char       *unit;
} Adopt;

static void
adopt_free (Adopt *a)
{
  exec_module_unref (a->m);
  g_free (a->unit);
  g_free (a);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Adopt, adopt_free)

/* KEY's value in LogExtraFields (aay of "KEY=value", no NUL), or def. */
static char *
extra_field (GVariant *fields, const char *key, const char *def)
{
  gsize klen = strlen (key);

  for (gsize i = 0; fields != NULL && i < g_variant_n_children (fields); i++)
    {
      g_autoptr(GVariant) child = g_variant_get_child_value (fields, i);
      gsize len;
      const char *s = g_variant_get_fixed_array (child, &len, 1);
      if (len > klen && strncmp (s, key, klen) == 0 && s[klen] == '=')
        return g_strndup (s + klen + 1, len - klen - 1);
    }
  return g_strdup (def);
}

static void
adopt_ref_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  if (!anyd_systemd_call_finish (NULL, res, &error))
    g_warning ("exec: RefUnit after adoption: %s", error->message);
}

static void
adopt_props_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Adopt) a = user_data;
  ExecModule *m = a->m;
  g_autoptr(GVariant) props = anyd_systemd_get_properties_finish (NULL, res, NULL);
  g_autoptr(GVariant) fields = NULL, exec = NULL;
  g_autoptr(AnydCaller) creator = NULL;
  g_autofree char *command = NULL, *user = NULL;
  g_autofree const char **argv = NULL;
  g_autofree char *id_s = NULL, *uid_s = NULL, *pty = NULL, *keep = NULL;
  guint64 id, uid, started = 0;
  ExecInfo info = { 0 };
  ExecProcess *p;

  if (props == NULL || m->stopped || g_hash_table_contains (m->processes, a->unit))
    return;
  fields = g_variant_lookup_value (props, "LogExtraFields", G_VARIANT_TYPE ("aay"));
  exec = g_variant_lookup_value (props, "ExecStartEx", G_VARIANT_TYPE ("a(sasasttttuii)"));
  id_s = extra_field (fields, "ANYD_EXEC_ID", NULL);
  uid_s = extra_field (fields, "ANYD_EXEC_CREATOR_UID", NULL);
  if (id_s == NULL || uid_s == NULL || exec == NULL || g_variant_n_children (exec) != 1 ||
      !g_ascii_string_to_unsigned (id_s, 10, 0, G_MAXUINT64 - 1, &id, NULL) ||
      !g_ascii_string_to_unsigned (uid_s, 10, 0, G_MAXUINT32 - 1, &uid, NULL))
    {
      g_warning ("exec: %s is not one of anyd's processes; leaving it alone", a->unit);
      return;
    }
  g_variant_get_child (exec, 0, "(s^a&s@as@t@t@t@t@u@i@i)", &command, &argv, NULL, NULL, NULL,
                       NULL, NULL, NULL, NULL, NULL);
  g_variant_lookup (props, "User", "s", &user);
  g_variant_lookup (props, "ExecMainStartTimestamp", "t", &started);
  info.argv = g_strdupv ((char **) argv);
  info.command = g_strdup (command);
  info.command_line = g_strjoinv (" ", info.argv);
  info.user = g_strdup (user ? user : "");
  info.cwd = extra_field (fields, "ANYD_EXEC_CWD", "");
  info.sandbox = extra_field (fields, "ANYD_EXEC_SANDBOX", "");
  pty = extra_field (fields, "ANYD_EXEC_PTY", "0");
  keep = extra_field (fields, "ANYD_EXEC_KEEP_RUNNING", "0");
  info.pty = g_str_equal (pty, "1");
  info.keep_running = g_str_equal (keep, "1");
  info.creator_uid = (guint32) uid;
  info.creator_sender = extra_field (fields, "ANYD_EXEC_SENDER", "");
  creator = anyd_caller_new (info.creator_sender, info.creator_uid, 0);
  m->next_id = MAX (m->next_id, id + 1);
  p = track (m, exec_process_new (m->daemon, m->systemd, m->keep_exited_s, id, a->unit, &info, creator));
  anyd_systemd_ref_unit_async (m->systemd, a->unit, TRUE, adopt_ref_cb, NULL);
  exec_process_started (p, started, TRUE);
  g_message ("exec: adopted %s (%s, uid %u)", a->unit, p->info.command, p->info.creator_uid);
  g_object_unref (p);
}

static void
adopt_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Adopt) a = user_data;
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (NULL, res, NULL);
  static const char *const names[] = {
    "LogExtraFields", "ExecStartEx", "User", "ExecMainStartTimestamp", NULL
  };
  const char *active = NULL;
  AnydSystemd *sd = a->m->systemd;
  const char *unit = a->unit;

  if (status == NULL || a->m->stopped || !g_variant_lookup (status, "ActiveState", "&s", &active) ||
      g_str_equal (active, "inactive") || g_str_equal (active, "failed"))
    return;

  anyd_systemd_get_properties_async (sd, unit, NULL, names, adopt_props_cb, g_steal_pointer (&a));
}

static void
adopt_list_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(ExecModule) m = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) units = anyd_systemd_list_units_finish (NULL, res, &error);

  if (units == NULL || m->stopped)
    {
      if (units == NULL && !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_DISABLED))
        g_warning ("exec: cannot list anyd-exec-* units: %s", error->message);
      return;
    }
  for (guint i = 0; units[i] != NULL; i++)
    {
      Adopt *a;

      if (g_hash_table_contains (m->processes, units[i]))
        continue;
      a = g_new0 (Adopt, 1);
      a->m = exec_module_ref (m);
      a->unit = g_strdup (units[i]);
      anyd_systemd_get_status_async (m->systemd, units[i], adopt_status_cb, a);
    }
}

static void
on_systemd_appeared (gpointer user_data)
{
  ExecModule *m = user_data;
  static const char *const patterns[] = { EXEC_UNIT_PREFIX "*.service", NULL };

  anyd_systemd_list_units_async (m->systemd, patterns, adopt_list_cb, exec_module_ref (m));
}

/* ------------------------------------------------------------------ lifetime */

/* anyd_resources{module="exec"}: the processes still running. */
static void
collect_metrics (AnydMetricsWriter *writer, gpointer user_data)
{
  ExecModule *m = user_data;
  GHashTableIter it;
  gpointer value;
  guint64 running = 0;

  g_hash_table_iter_init (&it, m->processes);
  while (g_hash_table_iter_next (&it, NULL, &value))
    if (!((ExecProcess *) value)->exited)
      running++;
  anyd_metrics_sample (writer, "anyd_resources", running, "module", "exec", NULL);
}

/* The group of pty slaves. Looked up once at start, before the main loop
 * runs (the tty group is a local one; user lookups go to a thread). */
static gint64
lookup_tty_gid (void)
{
  struct group gr, *res = NULL;
  char buf[16384];

  return getgrnam_r ("tty", &gr, buf, sizeof buf, &res) == 0 && res != NULL ? (gint64) res->gr_gid : -1;
}

static gpointer
exec_start (AnydDaemon *daemon, GError **error)
{
  static const AnydSystemdCallbacks callbacks = { .appeared = on_systemd_appeared };
  ExecModule *m = g_rc_box_new0 (ExecModule);

  g_mutex_init (&m->rules_lock);
  m->daemon = daemon;
  m->processes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        g_object_unref);
  m->slices_set = g_hash_table_new (NULL, NULL);
  /* Unit names stay unique across restarts of anyd. */
  m->next_id = (guint64) g_get_real_time () / 1000;
  m->tty_gid = lookup_tty_gid ();
  apply_config (m, anyd_daemon_get_config (daemon));
  m->systemd = anyd_systemd_new (anyd_daemon_get_connection (daemon), &callbacks, m);

  m->skeleton = anyd_dbus_exec_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (m->skeleton),
                   exec_details, m);
  anyd_auth_guard_set_precheck (G_DBUS_INTERFACE_SKELETON (m->skeleton), exec_precheck, m);
  anyd_auth_guard_set_threaded (G_DBUS_INTERFACE_SKELETON (m->skeleton), (GBoxedCopyFunc) exec_module_ref,
                                (GDestroyNotify) exec_module_unref);
  g_signal_connect (m->skeleton, "handle-run", G_CALLBACK (handle_run), m);
  g_signal_connect (m->skeleton, "handle-run-pty", G_CALLBACK (handle_run_pty), m);
  m->object = anyd_dbus_object_skeleton_new (EXEC_PATH);
  anyd_dbus_object_skeleton_set_exec (m->object, m->skeleton);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (m->object));
  m->metrics_id = anyd_metrics_add_collector (collect_metrics, m);
  return m;
}

static void
exec_reload (gpointer module, AnydConfig *config)
{
  apply_config (module, config);
}

/* The commands go on running in systemd; a restarted anyd adopts them. */
static void
exec_stop (gpointer module)
{
  ExecModule *m = module;
  g_autoptr(GList) all = g_hash_table_get_values (m->processes);

  m->stopped = TRUE;
  g_clear_handle_id (&m->metrics_id, anyd_metrics_remove_collector);
  for (GList *l = all; l != NULL; l = l->next)
    exec_process_remove (l->data, "anyd is stopping; the command goes on running");
  g_clear_pointer (&m->systemd, anyd_systemd_free);
  g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (m->daemon), EXEC_PATH);
  g_clear_object (&m->object);
  g_clear_object (&m->skeleton);
  exec_module_unref (m);
}

const AnydModule anyd_module_exec = {
  .name = "exec",
  .config_keys = exec_config_keys,
  .auth_rules = exec_auth_rules,
  .check_config = exec_check_config,
  .start = exec_start,
  .reload = exec_reload,
  .stop = exec_stop,
};
