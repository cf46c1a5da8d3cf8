/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Run and RunPty of org.anyd1.Exec, from the parsed call to its answer:
 * argv[0] and the user looked up in a thread, the caller's stdio fds or a
 * new pty, the transient unit's properties, the uid's slice, then
 * StartTransientUnit through service/systemd.c. What it books (registry,
 * [limits], ids, slice limits) it asks of the module through its
 * ExecStartHooks (exec-private.h). */
#include "exec-private.h"
#include "audit.h"
#include "error.h"
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_TERM "xterm-256color"

typedef struct {
  ExecStartEnv           env;          /* env.data: a reference */
  GDBusMethodInvocation *invocation;
  AnydCaller            *caller;
  ExecRequest           *req;
  ExecRules             *rules;        /* what req is checked against */
  ExecProcess           *p;            /* a reference */
  GVariant              *props;        /* a(sv), sunk */
  GUnixFDList           *caller_fds;   /* Run: the fds sent with the call */
  GUnixFDList           *fds;          /* what the unit gets, until sent */
  int                    master;       /* RunPty: the pty master, -1 */
  guint32                uid;          /* the user it runs as */
  char                  *job_result;   /* of a failed start */
  gboolean               check_state;  /* it ran but failed the start job */
} StartCall;

static void
start_call_free (StartCall *c)
{
  c->env.hooks->unref (c->env.data);
  anyd_caller_unref (c->caller);
  exec_request_free (c->req);
  g_clear_pointer (&c->rules, exec_rules_unref);
  g_clear_object (&c->p);
  g_clear_pointer (&c->props, g_variant_unref);
  g_clear_object (&c->caller_fds);
  g_clear_object (&c->fds);
  if (c->master >= 0)
    close (c->master);
  g_free (c->job_result);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StartCall, start_call_free)

static gboolean
stopped (StartCall *c)
{
  return c->env.hooks->stopped (c->env.data);
}

static void
audit_run (StartCall *c, const GError *error)
{
  const ExecRequest *r = c->req;
  const char *user = c->p ? c->p->info.user : (r && r->user ? r->user : "");

  anyd_audit_action (c->caller, "exec.run", c->p ? c->p->path : EXEC_PATH, error,
                     "command=%s user=%s unit=%s pty=%s sandbox=%s timeout_ms=%u memory_max=%"
                     G_GUINT64_FORMAT " cpu_quota=%u tasks_max=%" G_GUINT64_FORMAT " network=%s",
                     r ? r->command : "", user, c->p ? c->p->unit : "", r && r->pty ? "true" : "false",
                     r ? r->sandbox : "", r ? r->timeout_ms : 0, r ? r->memory_max : 0,
                     r ? r->cpu_quota : 0, r ? r->tasks_max : 0,
                     r && !r->network ? "false" : "true");
}

/* Answer the call with an error; the process (if any) never existed. */
static void
fail_start (StartCall *c, GError *error)
{
  audit_run (c, error);
  if (c->p != NULL)
    exec_process_remove (c->p, NULL);
  anyd_invocation_return_error (c->invocation, error);
  start_call_free (c);
}

/* Take the caller's fds out of the call's list (so none stays open in
 * anyd longer than the unit start needs) and put the ones named by the
 * options into the list for systemd. */
static gboolean
take_stdio_fds (StartCall *c, gint index_out[3], GError **error)
{
  static const char *const names[] = { "stdin", "stdout", "stderr" };
  gint n = 0;
  g_autofree gint *fds = c->caller_fds != NULL ? g_unix_fd_list_steal_fds (c->caller_fds, &n) : NULL;
  gboolean ok = TRUE;

  c->fds = g_unix_fd_list_new ();
  for (guint i = 0; i < 3 && ok; i++)
    {
      gint idx = c->req->fd_index[i];

      index_out[i] = -1;
      if (idx < 0)
        continue;
      if (idx >= n)
        ok = FALSE, g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                                 "%s: no fd at index %d (%d passed)", names[i], idx, n);
      else if (isatty (fds[idx]))
        ok = FALSE, g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                                 "%s: is a terminal; run the command on a pseudo-terminal instead", names[i]);
      else
        index_out[i] = g_unix_fd_list_append (c->fds, fds[idx], NULL);
    }
  for (gint i = 0; i < n; i++)
    close (fds[i]);
  return ok;
}

/* RunPty: a new pty; the slave, owned by the target user, goes to the unit. */
static gboolean
open_pty (StartCall *c, const AnydUser *user, char **tty_path, GError **error)
{
  struct winsize ws = { .ws_row = c->req->rows ? c->req->rows : 24,
                        .ws_col = c->req->columns ? c->req->columns : 80 };
  char name[64];
  int slave;

  c->master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (c->master < 0 || grantpt (c->master) < 0 || unlockpt (c->master) < 0 ||
      ptsname_r (c->master, name, sizeof name) != 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "cannot open a pty: %s", g_strerror (errno));
      return FALSE;
    }
  slave = open (name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "cannot open %s: %s", name, g_strerror (errno));
      return FALSE;
    }
  /* systemd does not chown passed fds: the user must own its terminal.
   * fchmod first: once the user owns it, anyd (no CAP_FOWNER) may not. */
  if (fchmod (slave, 0620) < 0 ||
      fchown (slave, user->uid, c->env.tty_gid >= 0 ? (gid_t) c->env.tty_gid : user->gid) < 0 ||
      ioctl (c->master, TIOCSWINSZ, &ws) < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "cannot set up %s: %s", name, g_strerror (errno));
      close (slave);
      return FALSE;
    }
  c->fds = g_unix_fd_list_new_from_array (&slave, 1);   /* takes slave */
  *tty_path = g_strdup (name);
  return TRUE;
}

static void
add_prop (GVariantBuilder *b, const char *name, GVariant *value)
{
  g_variant_builder_add (b, "(sv)", name, value);
}

static char *
slice_name (guint32 uid)
{
  return g_strdup_printf ("anyd-exec-u%u.slice", uid);
}

static GVariant *
build_properties (StartCall *c, const AnydUser *user, guint64 id, const gint fd_index[3],
                  const char *tty_path)
{
  static const char *const std_names[] = { "StandardInput", "StandardOutput", "StandardError" };
  const ExecRequest *r = c->req;
  const ExecInfo *info = &c->p->info;
  GVariantBuilder b, exec, extra, env;
  const char *const no_env_expand[] = { "no-env-expand", NULL };
  g_autofree char *slice = slice_name (c->caller->uid);
  g_autofree char *description = g_strdup_printf ("anyd exec %" G_GUINT64_FORMAT ": %.200s", id,
                                                  r->command_line);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sv)"));
  add_prop (&b, "Description", g_variant_new_string (description));
  add_prop (&b, "Type", g_variant_new_string ("exec"));
  add_prop (&b, "AddRef", g_variant_new_boolean (TRUE));
  add_prop (&b, "CollectMode", g_variant_new_string ("inactive-or-failed"));
  g_variant_builder_init (&exec, G_VARIANT_TYPE ("a(sasas)"));
  g_variant_builder_add (&exec, "(s^as^as)", r->command, r->argv, no_env_expand);
  add_prop (&b, "ExecStartEx", g_variant_builder_end (&exec));
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *fd_name = g_strconcat (std_names[i], "FileDescriptor", NULL);
      if (fd_index[i] >= 0)
        add_prop (&b, fd_name, g_variant_new_handle (fd_index[i]));
      else
        add_prop (&b, std_names[i], g_variant_new_string ("null"));
    }
  /* The manager runs as root: User=root would only cost a lookup. */
  if (user->uid != 0)
    add_prop (&b, "User", g_variant_new_string (user->name));
  /* "-~": the user's home, or / when it has none. */
  add_prop (&b, "WorkingDirectory", g_variant_new_string (r->cwd ? r->cwd : "-~"));
  g_variant_builder_init (&env, G_VARIANT_TYPE ("as"));
  for (guint i = 0; r->env != NULL && r->env[i] != NULL; i++)
    g_variant_builder_add (&env, "s", r->env[i]);
  if (tty_path != NULL)
    {
      g_autofree char *term = g_strconcat ("TERM=", r->term ? r->term : DEFAULT_TERM, NULL);
      g_variant_builder_add (&env, "s", term);
      add_prop (&b, "TTYPath", g_variant_new_string (tty_path));
      add_prop (&b, "TTYReset", g_variant_new_boolean (TRUE));
      add_prop (&b, "SendSIGHUP", g_variant_new_boolean (TRUE));
    }
  add_prop (&b, "Environment", g_variant_builder_end (&env));
  if (r->timeout_ms != 0)
    add_prop (&b, "RuntimeMaxUSec", g_variant_new_uint64 ((guint64) r->timeout_ms * 1000));
  add_prop (&b, "TimeoutStopUSec", g_variant_new_uint64 (EXEC_STOP_TIMEOUT_US));
  if (r->memory_max != 0)
    add_prop (&b, "MemoryMax", g_variant_new_uint64 (r->memory_max));
  if (r->tasks_max != 0)
    add_prop (&b, "TasksMax", g_variant_new_uint64 (r->tasks_max));
  if (r->cpu_quota != 0)
    add_prop (&b, "CPUQuotaPerSecUSec", g_variant_new_uint64 ((guint64) r->cpu_quota * 10000));
  if (!r->network)
    add_prop (&b, "PrivateNetwork", g_variant_new_boolean (TRUE));
  if (g_str_equal (r->sandbox, "strict"))
    {
      add_prop (&b, "ProtectSystem", g_variant_new_string ("strict"));
      add_prop (&b, "ProtectHome", g_variant_new_string ("read-only"));
      add_prop (&b, "PrivateTmp", g_variant_new_boolean (TRUE));
      add_prop (&b, "PrivateDevices", g_variant_new_boolean (TRUE));
      add_prop (&b, "NoNewPrivileges", g_variant_new_boolean (TRUE));
    }
  add_prop (&b, "OOMPolicy", g_variant_new_string ("kill"));
  add_prop (&b, "Slice", g_variant_new_string (slice));
  /* Ties the journal to the process object, and lets a restarted anyd
   * adopt the unit with what it needs to know. */
  g_variant_builder_init (&extra, G_VARIANT_TYPE ("aay"));
#define EXTRA(...) G_STMT_START {                                                        \
    g_autofree char *f_ = g_strdup_printf (__VA_ARGS__);                                  \
    g_variant_builder_add_value (&extra, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,   \
                                                                    f_, strlen (f_), 1)); \
  } G_STMT_END
  EXTRA ("ANYD_EXEC_ID=%" G_GUINT64_FORMAT, id);
  EXTRA ("ANYD_EXEC_CREATOR_UID=%u", info->creator_uid);
  EXTRA ("ANYD_EXEC_SENDER=%s", info->creator_sender);
  EXTRA ("ANYD_EXEC_KEEP_RUNNING=%d", info->keep_running ? 1 : 0);
  EXTRA ("ANYD_EXEC_PTY=%d", info->pty ? 1 : 0);
  EXTRA ("ANYD_EXEC_SANDBOX=%s", info->sandbox);
  EXTRA ("ANYD_EXEC_CWD=%s", info->cwd);
#undef EXTRA
  add_prop (&b, "LogExtraFields", g_variant_builder_end (&extra));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/* ExecMainStatus of a failed start: systemd's EXIT_* codes of the child
 * before execve. */
static GError *
start_error (StartCall *c, GVariant *props, const char *job_result)
{
  gint32 status = 0;
  const char *result = "";

  if (props != NULL)
    {
      g_variant_lookup (props, "ExecMainStatus", "i", &status);
      g_variant_lookup (props, "Result", "&s", &result);
    }
  switch (status)
    {
    case 200:   /* EXIT_CHDIR */
      return g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                          "cwd: '%s' cannot be entered by user '%s'", c->req->cwd ? c->req->cwd : "~",
                          c->p->info.user);
    case 203:   /* EXIT_EXEC */
      return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                          "argv[0]: '%s' cannot be executed by user '%s'", c->req->command, c->p->info.user);
    case 216:   /* EXIT_GROUP */
    case 217:   /* EXIT_USER */
      return g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                          "user: systemd cannot run commands as '%s'", c->p->info.user);
    default:
      return g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                          "the command did not start: job %s, result %s, status %d",
                          job_result ? job_result : "?", *result ? result : "-", status);
    }
}

static void
failed_unit_unref_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  anyd_systemd_call_finish (NULL, res, NULL);
}

/* The unit started: answer with the process (and the pty master). */
static void
start_succeeded (StartCall *c, guint64 started_at)
{
  exec_process_started (c->p, started_at, c->check_state);
  audit_run (c, NULL);
  if (c->master >= 0)
    {
      g_autoptr(GUnixFDList) out = g_unix_fd_list_new_from_array (&c->master, 1);  /* takes it */
      c->master = -1;
      g_dbus_method_invocation_return_value_with_unix_fd_list (
        c->invocation, g_variant_new ("(oh)", c->p->path, 0), out);
    }
  else
    g_dbus_method_invocation_return_value (c->invocation, g_variant_new ("(o)", c->p->path));
  start_call_free (c);
}

/* systemd's EXIT_CHDIR … EXIT_* codes: the child failed before execve. */
#define EXIT_SYSTEMD_FIRST 200
#define EXIT_SYSTEMD_LAST  243

static void
failed_props_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StartCall *c = user_data;
  g_autoptr(GVariant) props = anyd_systemd_get_properties_finish (NULL, res, NULL);
  gint32 code = 0, status = 0;
  guint64 started_at = 0;

  if (props != NULL)
    {
      g_variant_lookup (props, "ExecMainCode", "i", &code);
      g_variant_lookup (props, "ExecMainStatus", "i", &status);
      g_variant_lookup (props, "ExecMainStartTimestamp", "t", &started_at);
    }
  /* A command that ends at once can fail the start job of a Type=exec
   * unit: it ran, so it is a process that exited, not a failed call. */
  if (!stopped (c) && !c->p->removed && code != 0 &&
      !(code == 1 && status >= EXIT_SYSTEMD_FIRST && status <= EXIT_SYSTEMD_LAST))
    {
      c->check_state = TRUE;
      start_succeeded (c, started_at ? started_at : (guint64) g_get_real_time ());
      return;
    }
  /* Drop our reference: the failed unit is collected, none is left. */
  if (!stopped (c))
    anyd_systemd_ref_unit_async (c->env.systemd, c->p->unit, FALSE, failed_unit_unref_cb, NULL);
  fail_start (c, start_error (c, props, c->job_result));
}

static void
started_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StartCall *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *job_result = NULL;
  static const char *const names[] = {
    "ExecMainCode", "ExecMainStatus", "ExecMainStartTimestamp", "Result", NULL
  };

  if (!anyd_systemd_start_transient_finish (NULL, res, &job_result, &error))
    {
      if (job_result == NULL || stopped (c))
        {
          /* systemd refused the unit: nothing was created. */
          fail_start (c, g_steal_pointer (&error));
          return;
        }
      c->job_result = g_steal_pointer (&job_result);
      anyd_systemd_get_properties_async (c->env.systemd, c->p->unit, NULL, names, failed_props_cb, c);
      return;
    }
  if (c->p->removed)
    {
      fail_start (c, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping"));
      return;
    }
  start_succeeded (c, (guint64) g_get_real_time ());
}

static void
start_unit (StartCall *c)
{
  anyd_systemd_start_transient_async (c->env.systemd, c->p->unit, c->props, c->fds, started_cb, c);
  /* systemd has its own copies once the message is written: readers see
   * EOF when the command ends, not when anyd lets go. */
  g_clear_object (&c->fds);
}

static void
slice_set_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StartCall *c = user_data;
  g_autoptr(GError) error = NULL;

  if (stopped (c))
    {
      fail_start (c, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping"));
      return;
    }
  if (!anyd_systemd_call_finish (NULL, res, &error))
    g_warning ("exec: cannot set the limits of uid %u's slice: %s", c->caller->uid, error->message);
  else
    c->env.hooks->slice_set (c->caller->uid, c->env.data);
  start_unit (c);
}

/* Each caller's commands share a slice whose limits bound that caller as a
 * whole; set them once per uid (and again after a Reload changed them). */
static void
ensure_slice_then_start (StartCall *c)
{
  g_autofree char *slice = NULL;
  GVariantBuilder b;
  guint64 memory_max, tasks_max;

  if (!c->env.hooks->slice_limits (c->caller->uid, &memory_max, &tasks_max, c->env.data))
    {
      start_unit (c);
      return;
    }
  slice = slice_name (c->caller->uid);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sv)"));
  add_prop (&b, "MemoryMax", g_variant_new_uint64 (memory_max ? memory_max : G_MAXUINT64));
  add_prop (&b, "TasksMax", g_variant_new_uint64 (tasks_max ? tasks_max : G_MAXUINT64));
  anyd_systemd_set_unit_properties_async (c->env.systemd, slice, g_variant_builder_end (&b), slice_set_cb, c);
}

/* What a start needs from the file system and NSS, found in a thread: a
 * hung NFS or autofs path in argv[0] or [exec] path, an LDAP server that
 * does not answer, must not stall the main loop. */
typedef struct {
  ExecRules *rules;
  char      *argv0;
  char      *user_name;
  guint32    uid;
  char      *command;     /* argv[0] resolved, or NULL and error */
  GError    *error;
  AnydUser  *user;        /* NULL: no such user */
  int        errnum;      /* the user lookup's error */
} StartLookup;

static void
start_lookup_free (StartLookup *l)
{
  exec_rules_unref (l->rules);
  g_free (l->argv0);
  g_free (l->user_name);
  g_free (l->command);
  g_clear_error (&l->error);
  anyd_user_free (l->user);
  g_free (l);
}

static void
start_lookup_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  StartLookup *l = task_data;

  l->command = exec_resolve_command (l->argv0, &l->rules->policy, &l->error);
  if (l->command != NULL)
    l->user = anyd_user_lookup (l->user_name, l->uid, &l->errnum);
  g_task_return_boolean (task, TRUE);
}

/* argv[0] and the user are known: the remaining checks, the fds or pty,
 * then the unit. */
static void
start_looked_up_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(StartCall) c = user_data;
  StartLookup *l = g_task_get_task_data (G_TASK (res));
  g_autoptr(AnydUser) user = g_steal_pointer (&l->user);
  g_autofree char *tty_path = NULL;
  GError *error = NULL;
  gint fd_index[3] = { -1, -1, -1 };
  ExecInfo info = { 0 };
  gboolean pty = c->req->pty;

  if (l->command == NULL)
    {
      /* refused like a request that does not parse: nothing of it audited */
      g_clear_pointer (&c->req, exec_request_free);
      fail_start (g_steal_pointer (&c), g_steal_pointer (&l->error));
      return;
    }
  c->req->command = g_steal_pointer (&l->command);
  if (!exec_request_allowed (c->req, &c->rules->policy, c->rules->allow_origin, &error))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (user == NULL)
    {
      fail_start (g_steal_pointer (&c), anyd_user_missing_error (c->req->user, c->caller->uid, l->errnum));
      return;
    }
  if (stopped (c))
    {
      fail_start (g_steal_pointer (&c), g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping"));
      return;
    }
  if (user->uid != c->caller->uid && !exec_request_check_env_for_other_user (c->req, &error))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (!c->env.hooks->admit (c->caller->uid, c->env.data, &error))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (!(pty ? open_pty (c, user, &tty_path, &error) : take_stdio_fds (c, fd_index, &error)))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (pty)
    fd_index[0] = fd_index[1] = fd_index[2] = 0;

  info.argv = g_strdupv (c->req->argv);
  info.command = g_strdup (c->req->command);
  info.command_line = g_strdup (c->req->command_line);
  info.user = g_strdup (user->name);
  info.cwd = g_strdup (c->req->cwd ? c->req->cwd : "");
  info.sandbox = g_strdup (c->req->sandbox);
  info.pty = pty;
  info.keep_running = c->req->keep_running;
  info.creator_uid = c->caller->uid;
  info.creator_sender = g_strdup (c->caller->sender);
  c->p = c->env.hooks->new_process (&info, c->caller, c->env.data);
  if (c->p->props_watch == 0)
    {
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_BUSY, "too many processes are watched; try later");
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  c->uid = user->uid;
  c->props = build_properties (c, user, c->p->id, fd_index, tty_path);
  ensure_slice_then_start (g_steal_pointer (&c));
}

void
exec_start_run (const ExecStartEnv *env, ExecRules *rules, GDBusMethodInvocation *invocation,
                GUnixFDList *fd_list, gboolean pty)
{
  g_autoptr(StartCall) c = g_new0 (StartCall, 1);
  g_autoptr(GTask) task = NULL;
  StartLookup *l;
  GError *error = NULL;

  c->env = *env;
  c->env.data = env->hooks->ref (env->data);
  c->invocation = invocation;
  c->caller = anyd_caller_ref (anyd_caller_from_invocation (invocation));
  c->master = -1;
  c->caller_fds = fd_list != NULL ? g_object_ref (fd_list) : NULL;
  c->rules = rules;
  /* the pure checks now; argv[0] is resolved in the thread */
  c->req = exec_request_parse (g_dbus_method_invocation_get_parameters (invocation), pty,
                               &c->rules->policy, FALSE, &error);
  if (c->req == NULL)
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  l = g_new0 (StartLookup, 1);
  l->rules = g_atomic_rc_box_acquire (c->rules);
  l->argv0 = g_strdup (c->req->argv[0]);
  l->user_name = g_strdup (c->req->user);
  l->uid = c->caller->uid;
  task = g_task_new (NULL, NULL, start_looked_up_cb, g_steal_pointer (&c));
  g_task_set_source_tag (task, exec_start_run);
  g_task_set_task_data (task, l, (GDestroyNotify) start_lookup_free);
  g_task_run_in_thread (task, start_lookup_thread);
}
