/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client files: get and put files under the daemon's configured roots,
 * as a given user (org.anyd1.Files).  The daemon hands over a pipe (get) or
 * takes our file descriptor (put); the bytes never pass through it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>

#include <anyd.h>

#include "common.h"

#define FILES_PATH  "/org/anyd1/files"

/* A progress line appears on a terminal once this much has moved. */
#define PROGRESS_FROM (4 * 1024 * 1024)

static char *opt_user;
static char *opt_mode;
static gboolean opt_no_replace;
static gboolean opt_no_create;
static gint64 opt_size = -1;

static const GOptionEntry get_entries[] = {
  { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user, N_("Read as USER (default: yourself)"), N_("USER") },
  { NULL }
};

static const GOptionEntry put_entries[] = {
  { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user, N_("Write as USER (default: yourself)"), N_("USER") },
  { "mode", 'm', 0, G_OPTION_ARG_STRING, &opt_mode, N_("Mode of the file, octal (default 0644 & ~umask)"), N_("MODE") },
  { "no-replace", 0, 0, G_OPTION_ARG_NONE, &opt_no_replace, N_("Fail if the file exists"), NULL },
  { "no-create", 0, 0, G_OPTION_ARG_NONE, &opt_no_create, N_("Fail if the file does not exist"), NULL },
  { "size", 0, 0, G_OPTION_ARG_INT64, &opt_size,
    N_("Expect exactly BYTES (a regular LOCAL file sets it itself); anything else changes nothing"), N_("BYTES") },
  { NULL }
};

/* ---- progress ----------------------------------------------------------- */

typedef struct {
  gboolean shown;
  gint64   start;
  gint64   last;
} Progress;

static void
progress_update (Progress *p, guint64 done, gboolean final)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *amount = NULL, *rate = NULL;
  double secs;

  if (!isatty (STDERR_FILENO) || (done < PROGRESS_FROM && !p->shown))
    return;
  if (!final && now - p->last < G_USEC_PER_SEC / 5)
    return;
  p->last = now;
  p->shown = TRUE;
  secs = MAX ((now - p->start) / (double) G_USEC_PER_SEC, 0.001);
  /* for people on a terminal, also with --json */
  amount = g_format_size_full (done, G_FORMAT_SIZE_IEC_UNITS);
  rate = g_format_size_full ((guint64) (done / secs), G_FORMAT_SIZE_IEC_UNITS);
  g_printerr ("\r%s  %s/s  %.1f s\033[K%s", amount, rate, secs, final ? "\n" : "");
}

/* Copies in to out until EOF; returns the byte count or -1 (errno). */
static gint64
copy_fd (int in, int out, Progress *progress)
{
  static char buf[1 << 16];
  guint64 total = 0;

  for (;;)
    {
      ssize_t n = splice (in, NULL, out, NULL, 1 << 20, SPLICE_F_MOVE);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EINVAL || errno == ENOSYS))
        {
          /* no pipe on either side: plain copy */
          n = read (in, buf, sizeof buf);
          if (n < 0 && errno == EINTR)
            continue;
          for (ssize_t off = 0; n > 0 && off < n;)
            {
              ssize_t w = write (out, buf + off, (size_t) (n - off));
              if (w < 0 && errno == EINTR)
                continue;
              if (w < 0)
                return -1;
              off += w;
            }
        }
      if (n < 0)
        return -1;
      if (n == 0)
        break;
      total += (guint64) n;
      if (progress)
        progress_update (progress, total, FALSE);
    }
  if (progress && progress->shown)
    progress_update (progress, total, TRUE);
  return (gint64) total;
}

static void
user_option (GVariantBuilder *b)
{
  if (opt_user != NULL)
    g_variant_builder_add (b, "{sv}", "user", g_variant_new_string (opt_user));
}

/* --host: fds cannot cross ssh, so the remote anyd-client does the call
 * and streams the file over ssh's stdin/stdout:
 *   ssh -xT [-p PORT] -- [USER@]HOST anyd-client [--json] files get REMOTE -
 * ssh hands the remote side one command line, so every word is quoted.
 * The remote side has no terminal: a password prompt cannot be answered
 * there (polkit then says NotAuthorizedCanObtain, exit status 3). */
static int
run_remote (AnydClientContext *ctx, const char *const *words, int in_fd, int out_fd)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) cmd = g_string_new ("anyd-client");
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GSubprocess) ssh = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *host = g_strdup (ctx->host);
  const char *at = strrchr (host, '@');
  char *colon = strrchr (at ? at : host, ':');

  /* [USER@]HOST[:PORT], as for the bus connection (no IPv6 literals here) */
  if (colon != NULL && colon[1] != '\0' && strspn (colon + 1, "0123456789") == strlen (colon + 1) &&
      strchr (at ? at + 1 : host, ':') == colon)
    *colon++ = '\0';
  else
    colon = NULL;
  if (host[0] == '\0' || host[0] == '-' || (at && (at == host || at[1] == '\0')))
    return anyd_client_usage_error (ctx, _("invalid --host \"%s\": expected [USER@]HOST[:PORT]"), ctx->host);

  g_ptr_array_add (argv, g_strdup ("ssh"));
  g_ptr_array_add (argv, g_strdup ("-xT"));
  if (colon != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("-p"));
      g_ptr_array_add (argv, g_strdup (colon));
    }
  g_ptr_array_add (argv, g_strdup ("--"));
  g_ptr_array_add (argv, g_strdup (host));
  if (ctx->json)
    g_string_append (cmd, " --json");
  if (!ctx->ask_password)
    g_string_append (cmd, " --no-ask-password");
  for (guint i = 0; words[i] != NULL; i++)
    {
      g_autofree char *q = g_shell_quote (words[i]);
      g_string_append_printf (cmd, " %s", q);
    }
  g_ptr_array_add (argv, g_strdup (cmd->str));
  g_ptr_array_add (argv, NULL);
  if (ctx->verbose)
    {
      g_autofree char *line = g_strjoinv (" ", (char **) argv->pdata);
      g_printerr ("anyd-client: %s\n", line);
    }

  g_subprocess_launcher_take_stdin_fd (launcher, in_fd);
  g_subprocess_launcher_take_stdout_fd (launcher, out_fd);
  ssh = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  if (ssh == NULL || !g_subprocess_wait (ssh, NULL, &error))
    return anyd_client_fail (ctx, error);
  /* the remote anyd-client printed its own error; its status is ours
   * (ssh's 255: the link failed) */
  if (g_subprocess_get_if_exited (ssh))
    return g_subprocess_get_exit_status (ssh) == 255 ? ANYD_CLIENT_EXIT_FAILURE
                                                      : g_subprocess_get_exit_status (ssh);
  return ANYD_CLIENT_EXIT_FAILURE;
}

static void
print_result (AnydClientContext *ctx, const char *path, guint64 bytes, gboolean data_on_stdout)
{
  if (ctx->json)
    {
      g_autoptr(GVariant) v = g_variant_ref_sink (g_variant_new_parsed ("{'path': <%s>, 'bytes': <%t>}",
                                                                        path, bytes));
      g_autofree char *json = anyd_client_variant_to_json (v, FALSE);
      /* with the file on stdout, the summary goes to stderr */
      if (data_on_stdout)
        g_printerr ("%s\n", json);
      else
        g_print ("%s\n", json);
    }
}

/* ---- get ------------------------------------------------------------------ */

static AnydFiles *
files_proxy (AnydClientContext *ctx, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_FILES_PROXY, anyd_files_interface_info (), FILES_PATH, error);
}

static int
cmd_get (AnydClientContext *ctx, int argc, char **argv)
{
  const char *remote = argv[1];
  const char *local = argc > 2 ? argv[2] : "-";
  gboolean to_stdout = g_str_equal (local, "-");
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(AnydFiles) files = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) fd_handle = NULL;
  g_autofree char *tmp = NULL;
  GVariantBuilder opts;
  Progress progress = { .start = g_get_monotonic_time () };
  int in, out;
  gint64 n;

  if (ctx->host)
    {
      const char *words[] = { "files", "get", remote, "-", opt_user ? "--user" : NULL, opt_user, NULL };
      int out_fd, rc;

      if (to_stdout)
        out_fd = dup (STDOUT_FILENO);
      else
        {
          tmp = g_strdup_printf ("%s.anyd-part", local);
          out_fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        }
      if (out_fd < 0)
        {
          int e = errno;
          error = g_error_new (G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", tmp ? tmp : "stdout",
                               g_strerror (e));
          return anyd_client_fail (ctx, error);
        }
      rc = run_remote (ctx, words, open ("/dev/null", O_RDONLY | O_CLOEXEC), out_fd);
      if (tmp != NULL && (rc != ANYD_CLIENT_EXIT_OK || rename (tmp, local) < 0))
        unlink (tmp);
      return rc;
    }
  g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
  user_option (&opts);
  options = g_variant_ref_sink (g_variant_builder_end (&opts)); /* kept for a retry */
  files = files_proxy (ctx, &error);
  if (files == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, files, &error,
                               anyd_files_call_read_file_sync (files, remote, options, ANYD_CLIENT_CALL_ARGS (ctx),
                                                               NULL, &fd_handle, &fds, NULL, &error)))
    return anyd_client_fail (ctx, error);
  in = fds ? g_unix_fd_list_get (fds, 0, &error) : -1;
  if (in < 0)
    {
      if (error == NULL)
        error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, _("no file descriptor in the reply"));
      return anyd_client_fail (ctx, error);
    }

  if (to_stdout)
    out = STDOUT_FILENO;
  else
    {
      /* a partial download never takes the name of the file */
      tmp = g_strdup_printf ("%s.anyd-part", local);
      out = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
      if (out < 0)
        {
          int e = errno;
          close (in);
          error = g_error_new (G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", tmp, g_strerror (e));
          return anyd_client_fail (ctx, error);
        }
    }
  n = copy_fd (in, out, &progress);
  close (in);
  if (n < 0 || (!to_stdout && (fsync (out) < 0 || close (out) < 0 || rename (tmp, local) < 0)))
    {
      int e = errno;
      if (tmp)
        unlink (tmp);
      error = g_error_new (G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", local, g_strerror (e));
      return anyd_client_fail (ctx, error);
    }
  print_result (ctx, remote, (guint64) n, to_stdout);
  return ANYD_CLIENT_EXIT_OK;
}

/* ---- put ------------------------------------------------------------------ */

typedef struct {
  int in, out;
  Progress progress;
} Feeder;

static gpointer
feed_thread (gpointer data)
{
  Feeder *f = data;

  copy_fd (f->in, f->out, &f->progress);
  close (f->out);
  return NULL;
}

static int
cmd_put (AnydClientContext *ctx, int argc, char **argv)
{
  const char *local = argv[1];
  const char *remote = argv[2];
  gboolean from_stdin = g_str_equal (local, "-");
  g_autoptr(GError) error = NULL;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(AnydFiles) files = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GThread) thread = NULL;
  GVariantBuilder opts;
  Feeder feeder = { .in = -1, .out = -1 };
  struct stat st;
  guint64 bytes = 0;
  gboolean ok;
  int fd;

  if (ctx->host)
    {
      g_autoptr(GPtrArray) words = g_ptr_array_new ();
      g_autofree char *size_text = NULL;
      int in_fd = from_stdin ? dup (STDIN_FILENO) : open (local, O_RDONLY | O_CLOEXEC | O_NOCTTY);

      if (in_fd < 0)
        {
          int e = errno;
          error = g_error_new (G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", local, g_strerror (e));
          return anyd_client_fail (ctx, error);
        }
      g_ptr_array_add (words, "files");
      g_ptr_array_add (words, "put");
      if (opt_user)
        {
          g_ptr_array_add (words, "--user");
          g_ptr_array_add (words, opt_user);
        }
      if (opt_mode)
        {
          g_ptr_array_add (words, "--mode");
          g_ptr_array_add (words, opt_mode);
        }
      if (opt_no_replace)
        g_ptr_array_add (words, "--no-replace");
      if (opt_no_create)
        g_ptr_array_add (words, "--no-create");
      /* a dropped link must not leave a truncated file over there */
      if (opt_size < 0 && fstat (in_fd, &st) == 0 && S_ISREG (st.st_mode))
        opt_size = st.st_size;
      if (opt_size >= 0)
        {
          g_ptr_array_add (words, "--size");
          g_ptr_array_add (words, size_text = g_strdup_printf ("%" G_GINT64_FORMAT, opt_size));
        }
      g_ptr_array_add (words, "-");
      g_ptr_array_add (words, (gpointer) remote);
      g_ptr_array_add (words, NULL);
      return run_remote (ctx, (const char *const *) words->pdata, in_fd, dup (STDOUT_FILENO));
    }
  /* a helper that gives up closes the pipe: EPIPE, not death by SIGPIPE */
  signal (SIGPIPE, SIG_IGN);
  g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
  user_option (&opts);
  if (opt_mode != NULL)
    {
      char *end;
      guint64 mode = g_ascii_strtoull (opt_mode, &end, 8);
      if (*opt_mode == '\0' || *end != '\0' || mode > 0777)
        return anyd_client_usage_error (ctx, _("--mode: \"%s\" is not an octal mode up to 0777"), opt_mode);
      g_variant_builder_add (&opts, "{sv}", "mode", g_variant_new_uint32 ((guint32) mode));
    }
  if (opt_no_replace)
    g_variant_builder_add (&opts, "{sv}", "replace", g_variant_new_boolean (FALSE));
  if (opt_no_create)
    g_variant_builder_add (&opts, "{sv}", "create", g_variant_new_boolean (FALSE));

  fd = from_stdin ? dup (STDIN_FILENO) : open (local, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 || fstat (fd, &st) < 0)
    {
      int e = errno;
      error = g_error_new (G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", local, g_strerror (e));
      return anyd_client_fail (ctx, error);
    }
  /* the announced length makes a short read an error, not a short file */
  if (opt_size < 0 && S_ISREG (st.st_mode))
    opt_size = st.st_size;
  if (opt_size >= 0)
    g_variant_builder_add (&opts, "{sv}", "size", g_variant_new_uint64 ((guint64) opt_size));

  /* A terminal cannot be passed (the daemon refuses it), and a progress
   * line needs to see the bytes: then copy through a pipe ourselves. */
  if (isatty (fd) || (isatty (STDERR_FILENO) && !ctx->json &&
                      (!S_ISREG (st.st_mode) || st.st_size >= PROGRESS_FROM)))
    {
      int p[2];
      if (!g_unix_open_pipe (p, FD_CLOEXEC, &error))
        return anyd_client_fail (ctx, error);
      feeder.in = fd;
      feeder.out = p[1];
      feeder.progress.start = g_get_monotonic_time ();
      fd = p[0];
      thread = g_thread_new ("feed", feed_thread, &feeder);
    }
  g_unix_fd_list_append (fds, fd, NULL);
  close (fd);

  options = g_variant_ref_sink (g_variant_builder_end (&opts)); /* kept for a retry */
  files = files_proxy (ctx, &error);
  ok = files != NULL &&
       ANYD_CLIENT_TYPED_CALL (ctx, files, &error,
                               anyd_files_call_write_file_sync (files, remote, g_variant_new_handle (0), options,
                                                                ANYD_CLIENT_CALL_ARGS (ctx), fds, &bytes,
                                                                NULL, NULL, &error));
  g_clear_object (&fds);
  /* on success the helper read the pipe to EOF, so the feeder is done; on
   * failure it may wait on a terminal: exiting ends it */
  if (thread != NULL && ok)
    {
      g_thread_join (g_steal_pointer (&thread));
      close (feeder.in);
    }
  if (!ok)
    return anyd_client_fail (ctx, error);
  print_result (ctx, remote, bytes, FALSE);
  return ANYD_CLIENT_EXIT_OK;
}

static const AnydClientCommand files_commands[] = {
  { "get", N_("REMOTE [LOCAL|-]"),
    N_("Copy a file under the daemon's roots to LOCAL (default -: stdout)"),
    cmd_get, 1, 2, get_entries },
  { "put", N_("LOCAL|- REMOTE"),
    N_("Write LOCAL (or stdin) into a file under the daemon's roots, atomically"),
    cmd_put, 2, 2, put_entries },
  { NULL }
};

const AnydClientGroup anyd_client_group_files = {
  .name = "files",
  .summary = N_("Read and write files under the configured roots, as a given user"),
  .commands = files_commands,
  .default_command = NULL,
};
