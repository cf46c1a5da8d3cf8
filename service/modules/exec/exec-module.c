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
 * bad cwd or user is an error of the call, not a process object. */
#include "exec-private.h"
#include "audit.h"
#include "error.h"
#include "metrics.h"
#include "anyd-limits.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_TERM "xterm-256color"

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
  { EXEC_IFACE,         "Run",    EXEC_ACTION_RUN, NULL, -1, NULL },
  { EXEC_IFACE,         "RunPty", EXEC_ACTION_RUN, NULL, -1, NULL },
  /* on a process another uid started, also exec.manage (process_owner) */
  { EXEC_PROCESS_IFACE, "Kill",   EXEC_ACTION_RUN, NULL, -1, NULL, ANYD_AUTH_OWNER_MANAGE, EXEC_ACTION_MANAGE },
  { EXEC_PROCESS_IFACE, "Stop",   EXEC_ACTION_RUN, NULL, -1, NULL, ANYD_AUTH_OWNER_MANAGE, EXEC_ACTION_MANAGE },
  { EXEC_PROCESS_IFACE, "Wait",   EXEC_ACTION_RUN, NULL, -1, NULL, ANYD_AUTH_OWNER_MANAGE, EXEC_ACTION_MANAGE },
  ANYD_AUTH_RULES_END
};

ExecModule *
exec_module_ref (ExecModule *m)
{
  return g_rc_box_acquire (m);
}

static void
policy_clear (ExecPolicy *policy)
{
  g_clear_pointer (&policy->path_dirs, g_strfreev);
  g_clear_pointer (&policy->allow, g_strfreev);
  g_clear_pointer (&policy->default_sandbox, g_free);
}

static void
module_clear (ExecModule *m)
{
  policy_clear (&m->policy);
  g_free (m->allow_origin);
  g_hash_table_unref (m->processes);
  g_hash_table_unref (m->slices_set);
}

void
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

  policy_clear (&m->policy);
  m->policy.allow = canonical_allow (allow);
  m->policy.path_dirs = safe_path_dirs (path);
  m->policy.default_sandbox = anyd_config_get_string (config, "exec", "default_sandbox");
  g_free (m->allow_origin);
  m->allow_origin = g_strdup (anyd_config_get_origin (config, "exec", "allow"));
  m->max_processes = anyd_config_get_uint (config, "exec", "max_processes");
  m->keep_exited_s = anyd_config_get_uint (config, "exec", "keep_exited_s");
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
 * audits the refusal with them), escaped, never raw control characters. */
static void
exec_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
              GHashTable *details, gpointer user_data)
{
  ExecModule *m = user_data;
  gboolean pty = is_pty_method (method);
  g_autoptr(ExecRequest) req = exec_request_parse (parameters, pty, &m->policy, TRUE, NULL);
  g_autofree const char **argv = NULL;
  g_autoptr(GVariant) options = NULL;
  const char *user = "", *cwd = "", *sandbox = m->policy.default_sandbox;

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
 * allowlist is for the handler to report. The handler checks all again. */
static gboolean
exec_precheck (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
               gpointer user_data, GError **error)
{
  ExecModule *m = user_data;
  g_autoptr(ExecRequest) req = exec_request_parse (parameters, is_pty_method (method), &m->policy,
                                                   FALSE, error);

  if (req == NULL)
    return FALSE;
  if (m->policy.allow == NULL || m->policy.allow[0] == NULL)
    return TRUE;
  req->command = exec_resolve_command (req->argv[0], &m->policy, NULL);
  if (req->command == NULL)
    req->command = exec_escape_controls (req->argv[0]);
  return exec_request_allowed (req, &m->policy, m->allow_origin, error);
}

/* ------------------------------------------------------------------ Run */

typedef struct {
  ExecModule            *m;            /* a reference */
  GDBusMethodInvocation *invocation;
  AnydCaller            *caller;
  ExecRequest           *req;
  ExecProcess           *p;            /* a reference */
  GVariant              *props;        /* a(sv), sunk */
  GUnixFDList           *fds;          /* what the unit gets, until sent */
  int                    master;       /* RunPty: the pty master, -1 */
  guint32                uid;          /* the user it runs as */
  char                  *job_result;   /* of a failed start */
  gboolean               check_state;  /* it ran but failed the start job */
} StartCall;

static void
start_call_free (StartCall *c)
{
  exec_module_unref (c->m);
  anyd_caller_unref (c->caller);
  exec_request_free (c->req);
  g_clear_pointer (&c->p, exec_process_unref);
  g_clear_pointer (&c->props, g_variant_unref);
  g_clear_object (&c->fds);
  if (c->master >= 0)
    close (c->master);
  g_free (c->job_result);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (StartCall, start_call_free)

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

static gboolean
lookup_user (const char *name, guint32 uid, struct passwd *pw, char **buf, GError **error)
{
  long size = sysconf (_SC_GETPW_R_SIZE_MAX);
  struct passwd *res = NULL;
  guint64 number;
  int r;

  *buf = g_malloc (size > 0 ? (gsize) size : 16384);
  if (name != NULL && g_ascii_string_to_unsigned (name, 10, 0, G_MAXUINT32 - 1, &number, NULL))
    r = getpwuid_r ((uid_t) number, pw, *buf, size > 0 ? (gsize) size : 16384, &res);
  else if (name != NULL)
    r = getpwnam_r (name, pw, *buf, size > 0 ? (gsize) size : 16384, &res);
  else
    r = getpwuid_r (uid, pw, *buf, size > 0 ? (gsize) size : 16384, &res);
  if (r != 0 || res == NULL)
    {
      if (name != NULL)
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "user: no user '%s'", name);
      else
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "user: uid %u has no user account to run the command as", uid);
      return FALSE;
    }
  return TRUE;
}

/* Take the caller's fds out of the message (so none stays open in anyd
 * longer than the unit start needs) and put the ones named by the
 * options into the list for systemd. */
static gboolean
take_stdio_fds (StartCall *c, gint index_out[3], GError **error)
{
  static const char *const names[] = { "stdin", "stdout", "stderr" };
  GDBusMessage *msg = g_dbus_method_invocation_get_message (c->invocation);
  GUnixFDList *in = g_dbus_message_get_unix_fd_list (msg);
  gint n = 0;
  g_autofree gint *fds = in != NULL ? g_unix_fd_list_steal_fds (in, &n) : NULL;
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
open_pty (StartCall *c, const struct passwd *pw, char **tty_path, GError **error)
{
  struct winsize ws = { .ws_row = c->req->rows ? c->req->rows : 24,
                        .ws_col = c->req->columns ? c->req->columns : 80 };
  char name[64];
  struct group *tty_group;
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
  /* systemd does not chown passed fds: the user must own its terminal. */
  tty_group = getgrnam ("tty");
  /* fchmod first: once the user owns it, anyd (no CAP_FOWNER) may not. */
  if (fchmod (slave, 0620) < 0 ||
      fchown (slave, pw->pw_uid, tty_group ? tty_group->gr_gid : pw->pw_gid) < 0 ||
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
build_properties (StartCall *c, const struct passwd *pw, guint64 id, const gint fd_index[3],
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
  if (pw->pw_uid != 0)
    add_prop (&b, "User", g_variant_new_string (pw->pw_name));
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
  if (!c->m->stopped && !c->p->removed && code != 0 &&
      !(code == 1 && status >= EXIT_SYSTEMD_FIRST && status <= EXIT_SYSTEMD_LAST))
    {
      c->check_state = TRUE;
      start_succeeded (c, started_at ? started_at : (guint64) g_get_real_time ());
      return;
    }
  /* Drop our reference: the failed unit is collected, none is left. */
  if (!c->m->stopped)
    anyd_systemd_ref_unit_async (c->m->systemd, c->p->unit, FALSE, failed_unit_unref_cb, NULL);
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
      if (job_result == NULL || c->m->stopped)
        {
          /* systemd refused the unit: nothing was created. */
          fail_start (c, g_steal_pointer (&error));
          return;
        }
      c->job_result = g_steal_pointer (&job_result);
      anyd_systemd_get_properties_async (c->m->systemd, c->p->unit, NULL, names, failed_props_cb, c);
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
  anyd_systemd_start_transient_async (c->m->systemd, c->p->unit, c->props, c->fds, started_cb, c);
  /* systemd has its own copies once the message is written: readers see
   * EOF when the command ends, not when anyd lets go. */
  g_clear_object (&c->fds);
}

static void
slice_set_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  StartCall *c = user_data;
  g_autoptr(GError) error = NULL;

  if (c->m->stopped)
    {
      fail_start (c, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping"));
      return;
    }
  if (!anyd_systemd_call_finish (NULL, res, &error))
    g_warning ("exec: cannot set the limits of uid %u's slice: %s", c->caller->uid, error->message);
  else
    g_hash_table_add (c->m->slices_set, GUINT_TO_POINTER (c->caller->uid));
  start_unit (c);
}

/* Each caller's commands share a slice whose limits bound that caller as a
 * whole; set them once per uid (and again after a Reload changed them). */
static void
ensure_slice_then_start (StartCall *c)
{
  ExecModule *m = c->m;
  g_autofree char *slice = NULL;
  GVariantBuilder b;

  /* (also with no limits configured: a Reload may just have removed them) */
  if (g_hash_table_contains (m->slices_set, GUINT_TO_POINTER (c->caller->uid)))
    {
      start_unit (c);
      return;
    }
  slice = slice_name (c->caller->uid);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sv)"));
  add_prop (&b, "MemoryMax", g_variant_new_uint64 (m->slice_memory_max ? m->slice_memory_max : G_MAXUINT64));
  add_prop (&b, "TasksMax", g_variant_new_uint64 (m->slice_tasks_max ? m->slice_tasks_max : G_MAXUINT64));
  anyd_systemd_set_unit_properties_async (m->systemd, slice, g_variant_builder_end (&b), slice_set_cb, c);
}

static void
start_run (ExecModule *m, GDBusMethodInvocation *invocation, gboolean pty)
{
  g_autoptr(StartCall) c = g_new0 (StartCall, 1);
  g_autofree char *pwbuf = NULL;
  g_autofree char *tty_path = NULL;
  g_autofree char *unit = NULL;
  GError *error = NULL;
  struct passwd pw;
  gint fd_index[3] = { -1, -1, -1 };
  ExecInfo info = { 0 };
  guint64 id;

  c->m = exec_module_ref (m);
  c->invocation = invocation;
  c->caller = anyd_caller_ref (anyd_caller_from_invocation (invocation));
  c->master = -1;
  c->req = exec_request_parse (g_dbus_method_invocation_get_parameters (invocation), pty,
                               &m->policy, TRUE, &error);
  if (c->req == NULL || !exec_request_allowed (c->req, &m->policy, m->allow_origin, &error) ||
      !lookup_user (c->req->user, c->caller->uid, &pw, &pwbuf, &error) ||
      (pw.pw_uid != c->caller->uid && !exec_request_check_env_for_other_user (c->req, &error)))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (c->caller->uid != 0 && m->max_processes != 0 &&
      exec_module_count_running (m, c->caller->uid) >= m->max_processes)
    {
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_BUSY,
                           "max_processes: uid %u already runs %u commands, the most [exec] max_processes allows",
                           c->caller->uid, m->max_processes);
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  /* [limits] max_resources_per_uid: counted once the process object exists */
  if (!anyd_limits_check (anyd_daemon_get_limits (m->daemon), c->caller->uid, "exec", &error))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (!(pty ? open_pty (c, &pw, &tty_path, &error) : take_stdio_fds (c, fd_index, &error)))
    {
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  if (pty)
    fd_index[0] = fd_index[1] = fd_index[2] = 0;

  id = m->next_id++;
  unit = g_strdup_printf (EXEC_UNIT_PREFIX "%" G_GUINT64_FORMAT ".service", id);
  info.argv = g_strdupv (c->req->argv);
  info.command = g_strdup (c->req->command);
  info.command_line = g_strdup (c->req->command_line);
  info.user = g_strdup (pw.pw_name);
  info.cwd = g_strdup (c->req->cwd ? c->req->cwd : "");
  info.sandbox = g_strdup (c->req->sandbox);
  info.pty = pty;
  info.keep_running = c->req->keep_running;
  info.creator_uid = c->caller->uid;
  info.creator_sender = g_strdup (c->caller->sender);
  c->p = exec_process_new (m, id, unit, &info, c->caller);
  if (c->p->props_watch == 0)
    {
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_BUSY, "too many processes are watched; try later");
      fail_start (g_steal_pointer (&c), error);
      return;
    }
  c->uid = pw.pw_uid;
  c->props = build_properties (c, &pw, id, fd_index, tty_path);
  ensure_slice_then_start (g_steal_pointer (&c));
}

static gboolean
handle_run (AnydDBusExec *skeleton, GDBusMethodInvocation *invocation, const char *const *argv,
            GVariant *options, gpointer user_data)
{
  start_run (user_data, invocation, FALSE);
  return TRUE;
}

static gboolean
handle_run_pty (AnydDBusExec *skeleton, GDBusMethodInvocation *invocation, const char *const *argv,
                GVariant *options, gpointer user_data)
{
  start_run (user_data, invocation, TRUE);
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
  p = exec_process_new (m, id, a->unit, &info, creator);
  anyd_systemd_ref_unit_async (m->systemd, a->unit, TRUE, adopt_ref_cb, NULL);
  exec_process_started (p, started, TRUE);
  g_message ("exec: adopted %s (%s, uid %u)", a->unit, p->info.command, p->info.creator_uid);
  exec_process_unref (p);
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

static gpointer
exec_start (AnydDaemon *daemon, GError **error)
{
  static const AnydSystemdCallbacks callbacks = { .appeared = on_systemd_appeared };
  ExecModule *m = g_rc_box_new0 (ExecModule);

  m->daemon = daemon;
  m->processes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) exec_process_unref);
  m->slices_set = g_hash_table_new (NULL, NULL);
  /* Unit names stay unique across restarts of anyd. */
  m->next_id = (guint64) g_get_real_time () / 1000;
  apply_config (m, anyd_daemon_get_config (daemon));
  m->systemd = anyd_systemd_new (anyd_daemon_get_connection (daemon), &callbacks, m);

  m->skeleton = anyd_dbus_exec_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (m->skeleton),
                   exec_details, m);
  anyd_auth_guard_set_precheck (G_DBUS_INTERFACE_SKELETON (m->skeleton), exec_precheck, m);
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
