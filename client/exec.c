/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client exec: commands run by anyd as sandboxed systemd units
 * (org.anyd1.Exec).
 *
 *   anyd-client exec run [OPTIONS] -- COMMAND [ARG…]
 *   anyd-client exec run --pty [OPTIONS] -- COMMAND [ARG…]
 *   anyd-client exec shell [-u USER]
 *   anyd-client exec ps | kill [-s SIGNAL] ID | stop ID | wait ID
 *
 * run gives the command this client's own stdin, stdout and stderr (the
 * bytes do not pass through anyd); a terminal cannot be handed over in
 * pipe mode, so a terminal among them is relayed through a pipe. The exit
 * status is the command's, or 128+N when signal N ended it, as a shell
 * reports it. --pty and shell run on a pseudo-terminal in raw mode, with
 * the window size kept in step, like ssh -t. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>

#include <anyd.h>

#include "common.h"

#define EXEC_PATH      ANYD_CLIENT_PATH "/exec"
#define PROCESS_IFACE  "org.anyd1.ExecProcess"
#define PROCESSES_PATH EXEC_PATH "/processes/"

static char *opt_memory, *opt_user, *opt_cwd, *opt_sandbox, *opt_signal;
static char **opt_env;
static int opt_cpu;
static gboolean opt_no_network, opt_keep_running, opt_pty;

static const GOptionEntry run_entries[] = {
  { "memory", 'm', 0, G_OPTION_ARG_STRING, &opt_memory, N_("memory limit (bytes, or with K, M, G)"), "SIZE" },
  { "cpu", 0, 0, G_OPTION_ARG_INT, &opt_cpu, N_("CPU limit in percent of one CPU"), "PERCENT" },
  { "no-network", 0, 0, G_OPTION_ARG_NONE, &opt_no_network, N_("no network but loopback"), NULL },
  { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user, N_("run as USER (default: yourself)"), "USER" },
  { "cwd", 0, 0, G_OPTION_ARG_STRING, &opt_cwd, N_("working directory (default: the user's home)"), "DIR" },
  { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &opt_env, N_("set a variable (repeatable)"), "KEY=VALUE" },
  { "sandbox", 0, 0, G_OPTION_ARG_STRING, &opt_sandbox, N_("strict (default) or none"), "MODE" },
  { "keep-running", 0, 0, G_OPTION_ARG_NONE, &opt_keep_running,
    N_("keep the command running when this client exits"), NULL },
  { "pty", 't', 0, G_OPTION_ARG_NONE, &opt_pty, N_("run on a pseudo-terminal (interactive)"), NULL },
  { NULL }
};

static const GOptionEntry shell_entries[] = {
  { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user, N_("run as USER (default: yourself)"), "USER" },
  { "cwd", 0, 0, G_OPTION_ARG_STRING, &opt_cwd, N_("working directory (default: the user's home)"), "DIR" },
  { "sandbox", 0, 0, G_OPTION_ARG_STRING, &opt_sandbox, N_("strict (default) or none"), "MODE" },
  { NULL }
};

static const GOptionEntry kill_entries[] = {
  { "signal", 's', 0, G_OPTION_ARG_STRING, &opt_signal, N_("signal name or number (default TERM)"), "SIGNAL" },
  { NULL }
};

/* ------------------------------------------------------------------ helpers */

static gboolean
parse_size (const char *text, guint64 *out)
{
  char *end = NULL;
  guint64 v;

  if (text == NULL || !g_ascii_isdigit (*text))
    return FALSE;
  v = g_ascii_strtoull (text, &end, 10);
  switch (g_ascii_toupper (*end))
    {
    case 'G': v *= 1024; G_GNUC_FALLTHROUGH;
    case 'M': v *= 1024; G_GNUC_FALLTHROUGH;
    case 'K': v *= 1024; end++; break;
    case '\0': break;
    default: return FALSE;
    }
  *out = v;
  return *end == '\0' || (g_ascii_toupper (*end) == 'B' && end[1] == '\0');
}

static const struct { const char *name; int number; } signals[] = {
  { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
  { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "CONT", SIGCONT },
  { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "WINCH", SIGWINCH }, { "ALRM", SIGALRM },
};

static int
parse_signal (const char *text)
{
  guint64 n;

  if (text == NULL)
    return SIGTERM;
  if (g_ascii_string_to_unsigned (text, 10, 1, 64, &n, NULL))
    return (int) n;
  if (g_ascii_strncasecmp (text, "SIG", 3) == 0)
    text += 3;
  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    if (g_ascii_strcasecmp (text, signals[i].name) == 0)
      return signals[i].number;
  return -1;
}

/* "12" or a full object path. */
static char *
process_path (const char *id)
{
  if (g_str_has_prefix (id, "/"))
    return g_strdup (id);
  return g_strconcat (PROCESSES_PATH, id, NULL);
}

/* A shell's exit status for (reason, code, signal). */
static int
exit_status (const char *reason, int code, int sig)
{
  if (g_str_equal (reason, "exited") && code >= 0)
    return code & 0xff;
  if (sig > 0)
    return 128 + sig;
  return ANYD_CLIENT_EXIT_FAILURE;
}

static GVariant *
run_options (AnydClientContext *ctx, GError **error)
{
  GVariantDict d;
  guint64 bytes;

  g_variant_dict_init (&d, NULL);
  if (ctx->timeout_ms > 0 && ctx->timeout_ms != G_MAXINT)
    g_variant_dict_insert (&d, "timeout_ms", "u", (guint32) ctx->timeout_ms);
  if (opt_memory != NULL)
    {
      if (!parse_size (opt_memory, &bytes))
        {
          g_variant_dict_clear (&d);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("--memory: “%s” is not a size"), opt_memory);
          return NULL;
        }
      g_variant_dict_insert (&d, "memory_max", "t", bytes);
    }
  if (opt_cpu > 0)
    g_variant_dict_insert (&d, "cpu_quota", "u", (guint32) opt_cpu);
  if (opt_no_network)
    g_variant_dict_insert (&d, "network", "b", FALSE);
  if (opt_user != NULL)
    g_variant_dict_insert (&d, "user", "s", opt_user);
  if (opt_cwd != NULL)
    g_variant_dict_insert (&d, "cwd", "s", opt_cwd);
  if (opt_env != NULL)
    g_variant_dict_insert (&d, "env", "^as", opt_env);
  if (opt_sandbox != NULL)
    g_variant_dict_insert (&d, "sandbox", "s", opt_sandbox);
  if (opt_keep_running)
    g_variant_dict_insert (&d, "keep_running", "b", TRUE);
  return g_variant_dict_end (&d);
}

/* ------------------------------------------------------------------ a running command */

typedef struct {
  AnydClientContext *ctx;
  GMainLoop         *loop;
  char              *path;
  guint              pending;       /* the exit + relays still running */
  gboolean           exited;
  guint              exit_sub;
  GHashTable        *early;         /* path -> (sii) of Exited before Run answered */
  char              *reason;
  int                code, sig;
  GError            *error;
  int                master;        /* pty: -1 otherwise */
  GIOChannel        *master_ch;
  GIOChannel        *stdin_ch;
  guint              master_watch, stdin_watch;
  GPtrArray         *relays;        /* GCancellable per splice */
  AnydExecProcess   *process;       /* for forwarding signals, once Run answered */
} Session;

static void
session_done_one (Session *s)
{
  if (--s->pending == 0)
    g_main_loop_quit (s->loop);
}

/* The command's end comes as the process' Exited signal (public, so no
 * second authorization as a Wait call would need), subscribed to before
 * Run so it cannot be missed; signals for other paths that arrive before
 * Run's answer are kept until the path is known. */
static void
take_exit (Session *s, GVariant *params)
{
  g_free (s->reason);
  g_variant_get (params, "(sii)", &s->reason, &s->code, &s->sig);
  s->exited = TRUE;
  session_done_one (s);
}

static void
exited_cb (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
           const char *signal, GVariant *params, gpointer user_data)
{
  Session *s = user_data;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sii)")) || s->exited)
    return;
  if (s->path == NULL)
    g_hash_table_insert (s->early, g_strdup (path), g_variant_ref (params));
  else if (g_str_equal (path, s->path))
    take_exit (s, params);
}

static void
watch_exit (Session *s)
{
  GDBusConnection *bus = anyd_client_get_bus (s->ctx, NULL);

  s->early = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
  if (bus != NULL)
    s->exit_sub = g_dbus_connection_signal_subscribe (bus, ANYD_CLIENT_BUS_NAME, PROCESS_IFACE,
                                                      "Exited", NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                      exited_cb, s, NULL);
}

/* Run answered with path: the exit may already have been signalled. */
static void
start_wait (Session *s, const char *path)
{
  GVariant *early = g_hash_table_lookup (s->early, path);

  s->path = g_strdup (path);
  /* if this fails, Ctrl+C cannot be forwarded; the session still runs */
  s->process = anyd_client_proxy_new (s->ctx, ANYD_TYPE_EXEC_PROCESS_PROXY,
                                      anyd_exec_process_interface_info (), path, NULL);
  s->pending++;
  if (early != NULL)
    take_exit (s, early);
  g_hash_table_remove_all (s->early);
}

static void
unwatch_exit (Session *s)
{
  GDBusConnection *bus = anyd_client_get_bus (s->ctx, NULL);

  if (bus != NULL && s->exit_sub != 0)
    g_dbus_connection_signal_unsubscribe (bus, s->exit_sub);
  g_clear_pointer (&s->early, g_hash_table_unref);
  g_clear_object (&s->process);
}

static void
kill_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  anyd_exec_process_call_kill_finish (ANYD_EXEC_PROCESS (source), res, NULL);
}

/* Ctrl+C and SIGTERM go to the command, which decides. */
static void
forward_signal (Session *s, int sig)
{
  if (s->process != NULL)
    anyd_exec_process_call_kill (s->process, sig, G_DBUS_CALL_FLAGS_NONE, -1, NULL, kill_done_cb, NULL);
}

static gboolean
forward_int_cb (gpointer user_data)
{
  forward_signal (user_data, SIGINT);
  return G_SOURCE_CONTINUE;
}

static gboolean
forward_term_cb (gpointer user_data)
{
  forward_signal (user_data, SIGTERM);
  return G_SOURCE_CONTINUE;
}

static void
splice_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Session *s = user_data;

  g_output_stream_splice_finish (G_OUTPUT_STREAM (source), res, NULL);
  if (s != NULL)
    session_done_one (s);
}

/* Copy from in_fd to out_fd until EOF (both closed at the end, except
 * 0/1/2); with s, the session waits for it. */
static void
relay (Session *s, int in_fd, int out_fd)
{
  g_autoptr(GInputStream) in = g_unix_input_stream_new (in_fd, in_fd > 2);
  g_autoptr(GOutputStream) out = g_unix_output_stream_new (out_fd, out_fd > 2);

  if (s != NULL)
    s->pending++;
  g_output_stream_splice_async (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, NULL, splice_done_cb, s);
}

static int
finish_session (Session *s, int status)
{
  if (s->error != NULL)
    {
      int r = anyd_client_fail (s->ctx, s->error);
      g_clear_error (&s->error);
      return r;
    }
  if (s->ctx->json)
    {
      GVariantDict d;
      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, "process", "s", s->path);
      g_variant_dict_insert (&d, "reason", "s", s->reason);
      g_variant_dict_insert (&d, "exit_code", "i", s->code);
      g_variant_dict_insert (&d, "signal", "i", s->sig);
      anyd_client_print_json (g_variant_dict_end (&d));
    }
  (void) status;
  return exit_status (s->reason, s->code, s->sig);
}

/* ------------------------------------------------------------------ run (pipes) */

static AnydExec *
exec_proxy (AnydClientContext *ctx, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_EXEC_PROXY, anyd_exec_interface_info (), EXEC_PATH, error);
}

static int
run_pipes (AnydClientContext *ctx, char **cmd, GVariant *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(AnydExec) exec = NULL;
  g_autoptr(GVariant) call_options = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Session s = { .ctx = ctx, .loop = loop, .master = -1 };
  GVariantDict d;
  int relay_from[3] = { -1, -1, -1 };   /* our end of a relay pipe, by stdio index */
  guint sigint, sigterm;
  gboolean ok;
  int status;

  g_variant_dict_init (&d, options);
  for (int i = 0; i < 3; i++)
    {
      static const char *const keys[] = { "stdin", "stdout", "stderr" };
      int p[2], give = i;

      /* A terminal would become the command's controlling tty: relay it. */
      if (isatty (i))
        {
          if (!g_unix_open_pipe (p, FD_CLOEXEC, &error))
            return anyd_client_fail (ctx, error);
          give = i == 0 ? p[0] : p[1];
          relay_from[i] = i == 0 ? p[1] : p[0];
        }
      g_variant_dict_insert (&d, keys[i], "h", g_unix_fd_list_append (fds, give, &error));
      if (give != i)
        close (give);
    }
  watch_exit (&s);
  call_options = g_variant_ref_sink (g_variant_dict_end (&d)); /* kept for a retry */
  exec = exec_proxy (ctx, &error);
  /* the fds travel as handles inside the options (Run's UnixFD annotation) */
  ok = exec != NULL &&
       ANYD_CLIENT_TYPED_CALL (ctx, exec, &error,
                               anyd_exec_call_run_sync (exec, (const char *const *) cmd, call_options,
                                                        ANYD_CLIENT_CALL_ARGS (ctx), fds, &path,
                                                        NULL, NULL, &error));
  g_clear_object (&fds);
  if (!ok)
    {
      unwatch_exit (&s);
      for (int i = 0; i < 3; i++)
        if (relay_from[i] >= 0)
          close (relay_from[i]);
      return anyd_client_fail (ctx, error);
    }
  start_wait (&s, path);
  if (relay_from[1] >= 0)
    relay (&s, relay_from[1], 1);
  if (relay_from[2] >= 0)
    relay (&s, relay_from[2], 2);
  /* Not waited for: the command may end without reading its input. */
  if (relay_from[0] >= 0)
    relay (NULL, 0, relay_from[0]);
  sigint = g_unix_signal_add (SIGINT, forward_int_cb, &s);
  sigterm = g_unix_signal_add (SIGTERM, forward_term_cb, &s);
  if (s.pending > 0)
    g_main_loop_run (loop);
  unwatch_exit (&s);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  status = finish_session (&s, 0);
  g_free (s.path);
  g_free (s.reason);
  return status;
}

/* ------------------------------------------------------------------ run --pty */

static struct termios saved_tio;
static gboolean tio_saved;

static void
restore_terminal (void)
{
  if (tio_saved)
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved_tio);
  tio_saved = FALSE;
}

static gboolean
copy_fd (int from, int to)
{
  char buf[8192];
  ssize_t n = read (from, buf, sizeof buf);

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return TRUE;
  if (n <= 0)
    return FALSE;
  for (ssize_t off = 0; off < n;)
    {
      ssize_t w = write (to, buf + off, (size_t) (n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return FALSE;
      off += w;
    }
  return TRUE;
}

static gboolean
master_readable_cb (GIOChannel *ch, GIOCondition cond, gpointer user_data)
{
  Session *s = user_data;

  if (copy_fd (s->master, STDOUT_FILENO))
    return G_SOURCE_CONTINUE;
  /* EIO: the last process holding the terminal has gone. */
  s->master_watch = 0;
  session_done_one (s);
  return G_SOURCE_REMOVE;
}

static gboolean
stdin_readable_cb (GIOChannel *ch, GIOCondition cond, gpointer user_data)
{
  Session *s = user_data;

  if (copy_fd (STDIN_FILENO, s->master))
    return G_SOURCE_CONTINUE;
  s->stdin_watch = 0;
  /* End of our input: send the terminal's EOF character. */
  if (write (s->master, "\004", 1) < 0)
    g_debug ("cannot send EOF to the terminal: %s", g_strerror (errno));
  return G_SOURCE_REMOVE;
}

static gboolean
winch_cb (gpointer user_data)
{
  Session *s = user_data;
  struct winsize ws;

  if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
    ioctl (s->master, TIOCSWINSZ, &ws);
  return G_SOURCE_CONTINUE;
}

static int
run_pty (AnydClientContext *ctx, char **cmd, GVariant *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) out = NULL;
  g_autoptr(AnydExec) exec = NULL;
  g_autoptr(GVariant) pty_options = NULL;
  g_autoptr(GVariant) master = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Session s = { .ctx = ctx, .loop = loop, .master = -1 };
  GVariantDict d;
  struct winsize ws;
  const char *term = g_getenv ("TERM");
  guint winch, sigterm;
  gint32 handle;
  gboolean ok;
  int status;

  g_variant_dict_init (&d, options);
  if (ioctl (STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
    {
      g_variant_dict_insert (&d, "rows", "u", (guint32) ws.ws_row);
      g_variant_dict_insert (&d, "columns", "u", (guint32) ws.ws_col);
    }
  if (term != NULL && *term != '\0')
    g_variant_dict_insert (&d, "term", "s", term);
  watch_exit (&s);
  pty_options = g_variant_ref_sink (g_variant_dict_end (&d)); /* kept for a retry */
  exec = exec_proxy (ctx, &error);
  ok = exec != NULL &&
       ANYD_CLIENT_TYPED_CALL (ctx, exec, &error,
                               anyd_exec_call_run_pty_sync (exec, (const char *const *) cmd, pty_options,
                                                            ANYD_CLIENT_CALL_ARGS (ctx), NULL, &path,
                                                            &master, &out, NULL, &error));
  if (!ok)
    {
      unwatch_exit (&s);
      return anyd_client_fail (ctx, error);
    }
  handle = g_variant_get_handle (master);
  s.master = out ? g_unix_fd_list_get (out, handle, &error) : -1;
  if (s.master < 0)
    {
      unwatch_exit (&s);
      if (error == NULL)
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, _("anyd sent no terminal"));
      return anyd_client_fail (ctx, error);
    }

  if (isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved_tio) == 0)
    {
      struct termios raw = saved_tio;
      cfmakeraw (&raw);
      tio_saved = tcsetattr (STDIN_FILENO, TCSAFLUSH, &raw) == 0;
    }
  s.master_ch = g_io_channel_unix_new (s.master);
  s.stdin_ch = g_io_channel_unix_new (STDIN_FILENO);
  s.pending++;
  s.master_watch = g_io_add_watch (s.master_ch, G_IO_IN | G_IO_HUP | G_IO_ERR, master_readable_cb, &s);
  s.stdin_watch = g_io_add_watch (s.stdin_ch, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_readable_cb, &s);
  /* ahead of input that arrived at the same time: keystrokes typed after a
   * resize must find the new size */
  winch = g_unix_signal_add_full (G_PRIORITY_HIGH, SIGWINCH, winch_cb, &s, NULL);
  sigterm = g_unix_signal_add (SIGTERM, forward_term_cb, &s);
  start_wait (&s, path);
  if (s.pending > 0)
    g_main_loop_run (loop);
  unwatch_exit (&s);
  restore_terminal ();
  g_source_remove (winch);
  g_source_remove (sigterm);
  if (s.stdin_watch)
    g_source_remove (s.stdin_watch);
  if (s.master_watch)
    g_source_remove (s.master_watch);
  g_io_channel_unref (s.master_ch);
  g_io_channel_unref (s.stdin_ch);
  close (s.master);
  status = finish_session (&s, 0);
  g_free (s.path);
  g_free (s.reason);
  return status;
}

/* ------------------------------------------------------------------ commands */

/* --host: fds cannot cross ssh, so the remote anyd-client runs the command,
 * under `ssh -t` when a terminal is involved; its exit status is ours. */
static int
run_remote (AnydClientContext *ctx, const char *command, char **cmd, gboolean pty)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = anyd_client_ssh_argv (ctx, pty || isatty (STDIN_FILENO) ? "-t" : "-T",
                                                    &error);
  g_autoptr(GPtrArray) remote = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *line = NULL;
  int status;

  if (argv == NULL)
    return anyd_client_usage_error (ctx, "%s", error->message);
  g_ptr_array_add (remote, g_strdup ("anyd-client"));
  if (ctx->json)
    g_ptr_array_add (remote, g_strdup ("--json"));
  if (!ctx->ask_password)
    g_ptr_array_add (remote, g_strdup ("--no-ask-password"));
  if (ctx->timeout_ms > 0 && ctx->timeout_ms != G_MAXINT)
    g_ptr_array_add (remote, g_strdup_printf ("--timeout=%g", ctx->timeout_ms / 1000.0));
  g_ptr_array_add (remote, g_strdup ("exec"));
  g_ptr_array_add (remote, g_strdup (command));
#define OPT(flag, value) G_STMT_START { if (value) { \
    g_ptr_array_add (remote, g_strdup (flag)); g_ptr_array_add (remote, g_strdup (value)); } } G_STMT_END
  OPT ("--memory", opt_memory);
  OPT ("--user", opt_user);
  OPT ("--cwd", opt_cwd);
  OPT ("--sandbox", opt_sandbox);
#undef OPT
  for (guint i = 0; opt_env != NULL && opt_env[i] != NULL; i++)
    {
      g_ptr_array_add (remote, g_strdup ("--env"));
      g_ptr_array_add (remote, g_strdup (opt_env[i]));
    }
  if (opt_cpu > 0)
    g_ptr_array_add (remote, g_strdup_printf ("--cpu=%d", opt_cpu));
  if (opt_no_network)
    g_ptr_array_add (remote, g_strdup ("--no-network"));
  if (opt_keep_running)
    g_ptr_array_add (remote, g_strdup ("--keep-running"));
  if (pty && g_str_equal (command, "run"))
    g_ptr_array_add (remote, g_strdup ("--pty"));
  if (cmd != NULL)
    {
      g_ptr_array_add (remote, g_strdup ("--"));
      for (guint i = 0; cmd[i] != NULL; i++)
        g_ptr_array_add (remote, g_strdup (cmd[i]));
    }
  /* ssh hands the remote side one string for its shell: quote the words
   * that need it. */
  for (guint i = 0; i < remote->len; i++)
    {
      const char *w = remote->pdata[i];
      if (*w != '\0' && strspn (w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789_@%+=:,./-") == strlen (w))
        continue;
      remote->pdata[i] = g_shell_quote (w);
      g_free ((char *) w);
    }
  g_ptr_array_add (remote, NULL);
  line = g_strjoinv (" ", (char **) remote->pdata);
  g_ptr_array_add (argv, g_steal_pointer (&line));
  g_ptr_array_add (argv, NULL);
  if (ctx->verbose)
    {
      g_autofree char *shown = g_strjoinv (" ", (char **) argv->pdata);
      g_printerr ("anyd-client: %s\n", shown);
    }
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL, NULL,
                     &status, &error))
    return anyd_client_fail (ctx, error);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return WIFSIGNALED (status) ? 128 + WTERMSIG (status) : ANYD_CLIENT_EXIT_FAILURE;
}

static int
start_command (AnydClientContext *ctx, const char *command, char **cmd, gboolean pty)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) options = NULL;

  if (ctx->host != NULL)
    return run_remote (ctx, command, cmd, pty);
  options = run_options (ctx, &error);
  if (options == NULL)
    return anyd_client_usage_error (ctx, "%s", error->message);
  g_variant_ref_sink (options);
  /* --timeout is the command's limit; the calls themselves then wait. */
  ctx->timeout_ms = -1;
  return pty ? run_pty (ctx, cmd, options) : run_pipes (ctx, cmd, options);
}

static int
cmd_run (AnydClientContext *ctx, int argc, char **argv)
{
  char **cmd = ctx->dashdash >= 0 ? argv + ctx->dashdash : argv + 1;

  if (cmd[0] == NULL)
    return anyd_client_usage_error (ctx, _("no command given (put it after \"--\")"));
  return start_command (ctx, "run", cmd, opt_pty);
}

static int
cmd_shell (AnydClientContext *ctx, int argc, char **argv)
{
  struct passwd *pw = opt_user ? getpwnam (opt_user) : getpwuid (getuid ());
  const char *shell = pw && pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh";
  char *cmd[] = { (char *) shell, (char *) "-l", NULL };

  /* remotely, the remote user's shell */
  return start_command (ctx, "shell", ctx->host ? NULL : cmd, TRUE);
}

static const char *
prop_str (GVariant *props, const char *key)
{
  const char *v = NULL;

  g_variant_lookup (props, key, "&s", &v);
  return v;
}

static int
cmd_ps (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydClient) client = anyd_client_snapshot (ctx, NULL, &error);
  g_autoptr(AnydClientTable) table = NULL;
  GVariantBuilder json;
  GList *proxies;

  if (client == NULL)
    return anyd_client_fail (ctx, error);
  g_variant_builder_init (&json, G_VARIANT_TYPE ("aa{sv}"));
  table = anyd_client_table_new (NC_("column", "ID"), NC_("column", "STATE"), NC_("column", "REASON"),
                                 NC_("column", "STATUS"), NC_("column", "USER"), NC_("column", "BY"),
                                 NC_("column", "COMMAND"), NULL);
  proxies = anyd_client_snapshot_list (client, PROCESS_IFACE);
  for (GList *l = proxies; l != NULL; l = l->next)
    {
      const char *path = g_dbus_proxy_get_object_path (l->data);
      g_autoptr(GVariant) props = anyd_client_proxy_properties (l->data);
      g_autofree const char **pargv = NULL;
      g_autofree char *cmdline = NULL, *status = NULL, *by = NULL;
      gint32 code = -1, sig = 0;
      guint32 uid = 0;

      if (ctx->json)
        {
          GVariantDict d;
          g_variant_dict_init (&d, props);
          g_variant_dict_insert (&d, "path", "s", path);
          g_variant_builder_add_value (&json, g_variant_dict_end (&d));
          continue;
        }
      g_variant_lookup (props, "Argv", "^a&s", &pargv);
      g_variant_lookup (props, "ExitCode", "i", &code);
      g_variant_lookup (props, "TermSignal", "i", &sig);
      g_variant_lookup (props, "CreatedBy", "u", &uid);
      cmdline = pargv ? g_strjoinv (" ", (char **) pargv) : NULL;
      status = g_str_equal (prop_str (props, "State") ?: "", "exited")
               ? (sig > 0 ? g_strdup_printf ("SIG%d", sig) : g_strdup_printf ("%d", code)) : NULL;
      by = g_strdup_printf ("%u", uid);
      anyd_client_table_add_row (table, path + strlen (PROCESSES_PATH), prop_str (props, "State"),
                                 prop_str (props, "Reason"), status, prop_str (props, "User"), by,
                                 cmdline);
    }
  g_list_free_full (proxies, g_object_unref);
  if (ctx->json)
    {
      anyd_client_print_json (g_variant_builder_end (&json));
      return ANYD_CLIENT_EXIT_OK;
    }
  g_variant_builder_clear (&json);
  if (anyd_client_table_get_n_rows (table) == 0)
    g_print ("%s\n", _("No processes."));
  else
    anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

static AnydExecProcess *
process_proxy (AnydClientContext *ctx, const char *path, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_EXEC_PROCESS_PROXY, anyd_exec_process_interface_info (),
                                path, error);
}

/* One typed call on the ExecProcess proxy process (NULL: fails with error set). */
#define PROCESS_CALL(method, ...)                                      \
  (process != NULL &&                                                 \
   ANYD_CLIENT_TYPED_CALL (ctx, process, &error,                      \
                           anyd_exec_process_call_##method##_sync (process, __VA_ARGS__)))

static int
cmd_kill (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydExecProcess) process = NULL;
  g_autofree char *path = process_path (argv[1]);
  int sig = parse_signal (opt_signal);

  if (sig < 0)
    return anyd_client_usage_error (ctx, _("--signal: unknown signal “%s”"), opt_signal);
  process = process_proxy (ctx, path, &error);
  if (!PROCESS_CALL (kill, sig, ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error))
    return anyd_client_fail (ctx, error);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_stop (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = process_path (argv[1]);
  g_autoptr(AnydExecProcess) process = process_proxy (ctx, path, &error);

  if (!PROCESS_CALL (stop, ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error))
    return anyd_client_fail (ctx, error);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_wait (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = process_path (argv[1]);
  g_autoptr(AnydExecProcess) process = process_proxy (ctx, path, &error);
  g_autofree char *reason = NULL;
  gint32 code = 0, sig = 0;

  if (!PROCESS_CALL (wait, ANYD_CLIENT_CALL_ARGS (ctx), &reason, &code, &sig, NULL, &error))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    {
      GVariantDict d;
      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, "reason", "s", reason);
      g_variant_dict_insert (&d, "exit_code", "i", code);
      g_variant_dict_insert (&d, "signal", "i", sig);
      anyd_client_print_json (g_variant_dict_end (&d));
    }
  else
    g_print ("%s %d %d\n", reason, code, sig);
  return exit_status (reason, code, sig);
}

static int
cmd_monitor (AnydClientContext *ctx, int argc, char **argv)
{
  return anyd_client_monitor_module (ctx, "exec");
}

static const AnydClientCommand exec_commands[] = {
  { "run", N_("[OPTIONS] -- COMMAND [ARG…]"),
    N_("Run a command as a sandboxed unit on this terminal's stdio; exits with its status"),
    cmd_run, 1, -1, run_entries },
  { "shell", NULL, N_("An interactive login shell on a pseudo-terminal"), cmd_shell, 0, 0, shell_entries },
  { "ps", NULL, N_("List the commands anyd runs (and those that ended lately)"), cmd_ps, 0, 0 },
  { "kill", N_("ID"), N_("Send a signal to every process of a command"), cmd_kill, 1, 1, kill_entries },
  { "stop", N_("ID"), N_("Stop a command (TERM, then KILL after 5 s) and wait for it"), cmd_stop, 1, 1 },
  { "wait", N_("ID"), N_("Wait for a command to end; exits with its status"), cmd_wait, 1, 1 },
  { "monitor", NULL, N_("Print commands started, changed and removed as it happens"), cmd_monitor, 0, 0 },
  { NULL }
};

const AnydClientGroup anyd_client_group_exec = {
  .name = "exec",
  .summary = N_("Run commands and shells as sandboxed systemd units"),
  .commands = exec_commands,
  .default_command = "ps",
};
