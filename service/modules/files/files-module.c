/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The files module: org.anyd1.Files at /org/anyd1/files.
 *
 * ReadFile and WriteFile move one file's bytes between a caller's fd and a
 * file under one of [files] roots=, as a given user. anyd does no file I/O
 * itself: as root it would bypass that user's permissions, and its own unit
 * cannot see /home anyway. It starts anyd-files-helper as a transient unit
 * (User= the target user, a strict sandbox, the root made writable for
 * writes) with the data pipe or the caller's fd as stdio, and follows the
 * helper's one-line status reports on a second pipe (its stderr):
 *   "streaming"  the file does not fit the pipe: give the reader its end now
 *   "ok: N"      done, N bytes
 *   "Name: msg"  failed (NotFound, NotAuthorized, InvalidArgument, Exists,
 *                TooBig, Changed, Failed)
 * So a read whose file fits the pipe (1 MiB) is answered only once it is
 * complete and checked, and any failure of it is an error of the call.
 * The helper gives up after [files] idle_timeout_s without progress; a
 * write without size whose caller leaves the bus is stopped by anyd. */
#include "module.h"
#include "anyd-build-config.h"
#include "audit.h"
#include "daemon.h"
#include "error.h"
#include "names.h"
#include "systemd.h"
#include "users.h"
#include "util.h"
#include "anyd-dbus.h"

#include "files-path.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <linux/capability.h>

#define FILES_PATH              ANYD_DBUS_PATH "/files"
#define FILES_IFACE             "org.anyd1.Files"
#define ANYD_ACTION_FILES_READ  "org.anyd1.files.read"
#define ANYD_ACTION_FILES_WRITE "org.anyd1.files.write"

/* Pipe capacity asked for the data pipe of a read: files up to this size
 * are read completely (and checked) before the reply. */
#define READ_PIPE_SIZE (1024 * 1024)

static const AnydConfigKey files_config_keys[] = {
  { "files", "roots", ANYD_CONFIG_STRING_LIST, NULL,
    "absolute directories under which ReadFile/WriteFile may work (polkit decides who); "
    "empty: every path is refused" },
  { "files", "max_size", ANYD_CONFIG_STRING, "1G",
    "largest file ReadFile delivers and WriteFile accepts: bytes, or with K, M, G, T "
    "(powers of 1024); 0: no limit" },
  { "files", "max_transfers", ANYD_CONFIG_UINT, "8",
    "transfers one non-root uid may have running at once (more: Busy)" },
  { "files", "idle_timeout_s", ANYD_CONFIG_UINT, "300",
    "seconds a transfer may go without moving a byte before it is stopped "
    "(a write keeps the old file); 0: no limit" },
  { "files", "helper", ANYD_CONFIG_STRING, ANYD_LIBEXECDIR "/anyd-files-helper",
    "the helper program that moves the bytes as the target user" },
  { NULL }
};

/* Details (path, user) come from files_details(). */
static const AnydAuthRule files_auth_rules[] = {
  { FILES_IFACE, "ReadFile",  ANYD_ACTION_FILES_READ,  NULL, -1, NULL },
  { FILES_IFACE, "WriteFile", ANYD_ACTION_FILES_WRITE, NULL, -1, NULL },
  ANYD_AUTH_RULES_END
};

static const AnydOptionSpec read_options[] = {
  { "user", "s" }, { "max_size", "t" }, { NULL, NULL }
};
static const AnydOptionSpec write_options[] = {
  { "user", "s" }, { "max_size", "t" }, { "mode", "u" }, { "create", "b" },
  { "replace", "b" }, { "size", "t" }, { NULL, NULL }
};

typedef struct {
  AnydDaemon             *daemon;
  AnydDBusObjectSkeleton *object;
  AnydDBusFiles          *skeleton;
  AnydSystemd            *systemd;
  char                  **roots;
  guint64                 max_size;
  guint                   max_transfers;
  guint                   idle_timeout_s;
  char                   *helper;
  GHashTable             *per_uid;   /* uid -> running transfers */
  guint64                 serial;
  gboolean                stopped;
} FilesModule;

/* One ReadFile/WriteFile, from the handler to the helper's last word. */
typedef struct {
  FilesModule           *m;
  AnydDBusFiles         *skeleton;
  GDBusMethodInvocation *invocation;   /* NULL once answered */
  AnydCaller            *caller;
  gboolean               write;
  char                  *path;         /* normalised */
  char                  *root;
  char                  *relative;
  char                  *user;         /* option as given; NULL = the caller */
  char                  *user_name;    /* resolved */
  guint64                max_size;     /* 0 = no limit */
  gint64                 mode;         /* -1 = default */
  gboolean               create, replace;
  gint64                 size;         /* -1 = not announced */
  guint                  idle_timeout_s;  /* 0 = none; as configured at the call */
  guint                  name_watch;   /* write: the caller leaving the bus */
  gboolean               vanished;     /* ... it left: the unit is stopped */
  int                    data_fd;      /* read: our read end; write: the caller's fd */
  char                  *unit;
  GDataInputStream      *status;
  gboolean               counted;
  gboolean               done;
  gboolean               started;      /* systemd's start job is over */
  gboolean               eof;          /* the helper's stderr is closed */
} Transfer;

static FilesModule *
module_ref (FilesModule *m)
{
  return g_rc_box_acquire (m);
}

static void
module_clear (FilesModule *m)
{
  g_strfreev (m->roots);
  g_free (m->helper);
  g_clear_pointer (&m->per_uid, g_hash_table_unref);
}

static void
module_unref (FilesModule *m)
{
  g_rc_box_release_full (m, (GDestroyNotify) module_clear);
}

static void
transfer_clear (Transfer *t)
{
  /* after files_stop the daemon may be gone, and its watches with it */
  if (t->name_watch != 0 && !t->m->stopped)
    anyd_daemon_unwatch_name (t->m->daemon, t->name_watch);
  if (t->counted)
    {
      gpointer key = GUINT_TO_POINTER (t->caller->uid);
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (t->m->per_uid, key));
      if (n <= 1)
        g_hash_table_remove (t->m->per_uid, key);
      else
        g_hash_table_insert (t->m->per_uid, key, GUINT_TO_POINTER (n - 1));
      if (!t->m->stopped)
        anyd_daemon_release (t->m->daemon);
    }
  if (t->invocation != NULL)
    g_dbus_method_invocation_return_error (t->invocation, ANYD_ERROR, ANYD_ERROR_FAILED,
                                           "the transfer ended without a result");
  if (t->data_fd >= 0)
    close (t->data_fd);
  g_clear_object (&t->status);
  g_free (t->unit);
  g_free (t->user_name);
  g_free (t->user);
  g_free (t->relative);
  g_free (t->root);
  g_free (t->path);
  anyd_caller_unref (t->caller);
  g_object_unref (t->skeleton);
  module_unref (t->m);
}

static Transfer *
transfer_ref (Transfer *t)
{
  return g_rc_box_acquire (t);
}

static void
transfer_unref (Transfer *t)
{
  g_rc_box_release_full (t, (GDestroyNotify) transfer_clear);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Transfer, transfer_unref)

/* ------------------------------------------------------------------ config */

static char **
roots_from_config (AnydConfig *config, GError **error)
{
  g_auto(GStrv) list = anyd_config_get_string_list (config, "files", "roots");
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  const char *origin = anyd_config_get_origin (config, "files", "roots");

  for (guint i = 0; list != NULL && list[i] != NULL; i++)
    {
      g_autoptr(GError) local = NULL;
      char *root;

      if (list[i][0] == '\0')
        continue;
      root = anyd_files_path_normalise (list[i], "roots", &local);
      if (root == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: [files] %s",
                       origin ? origin : "anyd.conf", local->message);
          return NULL;
        }
      g_ptr_array_add (out, root);
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

static gboolean
max_size_from_config (AnydConfig *config, guint64 *bytes, GError **error)
{
  g_autofree char *text = anyd_config_get_string (config, "files", "max_size");

  if (anyd_files_parse_size (text, bytes))
    return TRUE;
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
               "%s: [files] max_size: '%s' is not a size (bytes, or a number with K, M, G or T)",
               anyd_config_get_origin (config, "files", "max_size") ?: "anyd.conf", text);
  return FALSE;
}

static gboolean
files_check_config (AnydConfig *config, GError **error)
{
  g_auto(GStrv) roots = roots_from_config (config, error);
  guint64 size;

  return roots != NULL && max_size_from_config (config, &size, error);
}

static void
apply_config (FilesModule *m, AnydConfig *config)
{
  g_auto(GStrv) roots = roots_from_config (config, NULL);
  guint64 size;

  if (roots != NULL)
    {
      g_strfreev (m->roots);
      m->roots = g_steal_pointer (&roots);
    }
  if (max_size_from_config (config, &size, NULL))
    m->max_size = size;
  m->max_transfers = anyd_config_get_uint (config, "files", "max_transfers");
  m->idle_timeout_s = anyd_config_get_uint (config, "files", "idle_timeout_s");
  g_free (m->helper);
  m->helper = anyd_config_get_string (config, "files", "helper");
}

/* ------------------------------------------------------------------ gate */

static const char *
path_argument (const char *method, GVariant *parameters, GVariant **options)
{
  const char *path = NULL;

  *options = NULL;
  if (g_str_equal (method, "ReadFile") && g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv})")))
    g_variant_get (parameters, "(&s@a{sv})", &path, options);
  else if (g_str_equal (method, "WriteFile") &&
           g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sha{sv})")))
    g_variant_get (parameters, "(&sh@a{sv})", &path, NULL, options);
  return path;
}

/* polkit details: path = the normalised path ("" if invalid: the handler
 * refuses it), user = the user option as given ("" = the caller). */
static void
files_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
               GHashTable *details, gpointer user_data)
{
  g_autoptr(GVariant) options = NULL;
  const char *path = path_argument (method, parameters, &options);
  const char *user = "";
  char *norm;

  if (path == NULL)
    return;
  norm = anyd_files_path_normalise (path, "path", NULL);
  g_hash_table_replace (details, g_strdup ("path"), norm ? norm : g_strdup (""));
  if (options != NULL)
    g_variant_lookup (options, "user", "&s", &user);
  g_hash_table_replace (details, g_strdup ("user"), g_strdup (user));
}

/* Before polkit: a bad path or one outside every root is refused without
 * asking anyone for a password (the handler checks again). */
static gboolean
files_precheck (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                gpointer user_data, GError **error)
{
  FilesModule *m = user_data;
  g_autoptr(GVariant) options = NULL;
  const char *path = path_argument (method, parameters, &options);
  g_autofree char *norm = NULL, *root = NULL, *rel = NULL;

  if (path == NULL)
    return TRUE;
  norm = anyd_files_path_normalise (path, "path", error);
  return norm != NULL &&
         anyd_files_path_split (norm, (const char *const *) m->roots, &root, &rel, error);
}

/* ------------------------------------------------------------------ results */

static const char *
audit_action (Transfer *t)
{
  return t->write ? "files.write" : "files.read";
}

static void
finish_error (Transfer *t, GError *error)
{
  t->done = TRUE;
  anyd_audit_action (t->caller, audit_action (t), t->path, error, NULL);
  if (t->invocation != NULL)
    anyd_invocation_return_error (g_steal_pointer (&t->invocation), error);
  else
    g_error_free (error);
}

static void
reply_read (Transfer *t)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;

  if (t->invocation == NULL)
    return;
  if (g_unix_fd_list_append (fds, t->data_fd, &error) < 0)
    {
      finish_error (t, g_steal_pointer (&error));
      return;
    }
  /* our copy goes: the reader sees EOF once the helper is gone */
  close (t->data_fd);
  t->data_fd = -1;
  g_dbus_method_invocation_return_value_with_unix_fd_list (g_steal_pointer (&t->invocation),
                                                           g_variant_new ("(h)", 0), fds);
}

static const struct {
  const char *name;
  AnydError   code;
} helper_errors[] = {
  { "NotFound",        ANYD_ERROR_NOT_FOUND },
  { "NotAuthorized",   ANYD_ERROR_NOT_AUTHORIZED },
  { "InvalidArgument", ANYD_ERROR_INVALID_ARGUMENT },
  { "Exists",          ANYD_ERROR_EXISTS },
  { "TooBig",          ANYD_ERROR_INVALID_ARGUMENT },
  { "Changed",         ANYD_ERROR_FAILED },
  { "Failed",          ANYD_ERROR_FAILED },
};

/* One status line of the helper. */
static void
status_line (Transfer *t, const char *line)
{
  const char *colon;

  if (g_str_equal (line, "streaming"))
    {
      if (!t->write)
        reply_read (t);
      return;
    }
  if (g_str_has_prefix (line, "ok: "))
    {
      guint64 bytes = g_ascii_strtoull (line + 4, NULL, 10);
      t->done = TRUE;
      anyd_audit_action (t->caller, audit_action (t), t->path, NULL, "%s %s as %s: %" G_GUINT64_FORMAT " bytes",
                         t->write ? "wrote" : "read", t->path, t->user_name, bytes);
      if (t->write && t->invocation != NULL)
        g_dbus_method_invocation_return_value (g_steal_pointer (&t->invocation),
                                               g_variant_new ("(t)", bytes));
      else
        reply_read (t);
      return;
    }
  colon = strchr (line, ':');
  for (guint i = 0; colon != NULL && i < G_N_ELEMENTS (helper_errors); i++)
    if (strlen (helper_errors[i].name) == (gsize) (colon - line) &&
        strncmp (line, helper_errors[i].name, colon - line) == 0)
      {
        const char *msg = colon + 1 + (colon[1] == ' ');
        GError *error;

        if (helper_errors[i].code == ANYD_ERROR_NOT_AUTHORIZED)
          error = g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                               "Not authorized: %s (as user '%s')", msg, t->user_name);
        else if (g_str_equal (helper_errors[i].name, "TooBig"))
          error = g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "max_size: %s", msg);
        else
          error = g_error_new_literal (ANYD_ERROR, helper_errors[i].code, msg);
        finish_error (t, error);
        return;
      }
  g_warning ("files: unexpected line from the helper of %s: %s", t->unit, line);
}

static GError *
vanished_error (Transfer *t)
{
  return g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                      "%s: the caller left the bus during the write: it was stopped, the file left as it was",
                      t->path);
}

static void
status_read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Transfer) t = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), res,
                                                                      NULL, &error);

  if (line != NULL)
    {
      GDataInputStream *status = t->status;

      status_line (t, line);
      g_data_input_stream_read_line_async (status, G_PRIORITY_DEFAULT, NULL, status_read_cb,
                                           g_steal_pointer (&t));
      return;
    }
  /* EOF: the helper and systemd's copy of its stderr are gone. If the
   * start job has not reported yet, its answer says more (start_cb). */
  t->eof = TRUE;
  if (!t->done && t->started && t->vanished)
    finish_error (t, vanished_error (t));
  else if (!t->done && t->started)
    finish_error (t, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                  "%s: the transfer was interrupted: the helper ended without a result%s%s",
                                  t->path, error ? ": " : "", error ? error->message : ""));
}

static void
start_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Transfer) t = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *job_result = NULL;

  t->started = TRUE;
  if (anyd_systemd_start_transient_finish (NULL, res, &job_result, &error))
    {
      if (t->eof && !t->done && t->vanished)
        finish_error (t, vanished_error (t));
      else if (t->eof && !t->done)
        finish_error (t, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                      "%s: the transfer was interrupted: the helper ended without a result",
                                      t->path));
      return;
    }
  if (!t->done && t->vanished)
    finish_error (t, vanished_error (t));   /* our stop job cancelled the start */
  else if (!t->done)
    {
      g_prefix_error (&error, "%s: cannot start the file helper: ", t->path);
      finish_error (t, g_steal_pointer (&error));
    }
}

/* ------------------------------------------------------------------ the unit */

static void
add_prop (GVariantBuilder *b, const char *name, GVariant *value)
{
  g_variant_builder_add (b, "(sv)", name, value);
}

/* The helper's sandbox: it needs no network, devices, privileges or
 * writable system, only its root (writable for a write), and all it can
 * reach is confined by openat2 and the target user's permissions.
 *
 * Left out on purpose:
 * - PrivateTmp: a root may lie under /tmp, which it would hide;
 * - RestrictSUIDSGID: its seccomp filter cannot look into openat2's flags
 *   and so fails openat2 with ENOSYS (the helper never sets mode bits
 *   beyond 0777 itself);
 * - the seccomp and namespace extras (MemoryDenyWriteExecute,
 *   SystemCallArchitectures, RestrictAddressFamilies, LockPersonality,
 *   ProtectClock, ProtectKernel*, ProtectControlGroups): each costs
 *   ~10 ms per call in systemd 252 (a 1-byte read went from ~40 to ~80 ms)
 *   and guards nothing this helper could reach: it opens no socket (and
 *   PrivateNetwork leaves it none), execs nothing (NoNewPrivileges) and
 *   holds no capability unless the target user is root. */
static void
add_sandbox (GVariantBuilder *b, Transfer *t)
{
  /* uid 0 as the target keeps what root needs to reach any file; any
   * other user has no capabilities whatever this says */
  guint64 caps = (G_GUINT64_CONSTANT (1) << CAP_DAC_OVERRIDE) |
                 (G_GUINT64_CONSTANT (1) << CAP_DAC_READ_SEARCH) |
                 (G_GUINT64_CONSTANT (1) << CAP_FOWNER);

  add_prop (b, "ProtectSystem", g_variant_new_string ("strict"));
  add_prop (b, "ProtectHome", g_variant_new_string ("read-only"));
  add_prop (b, "PrivateDevices", g_variant_new_boolean (TRUE));
  add_prop (b, "PrivateNetwork", g_variant_new_boolean (TRUE));
  add_prop (b, "NoNewPrivileges", g_variant_new_boolean (TRUE));
  add_prop (b, "CapabilityBoundingSet", g_variant_new_uint64 (caps));
  if (t->write)
    {
      /* "-": a missing root is the helper's NotFound, not a unit
       * that fails to set up its namespace */
      g_autofree char *rw_root = g_strconcat ("-", t->root, NULL);
      const char *rw[] = { rw_root, NULL };
      add_prop (b, "ReadWritePaths", g_variant_new_strv (rw, -1));
    }
}

static GVariant *
unit_properties (Transfer *t, int in_idx, int out_idx, int err_idx)
{
  GVariantBuilder b, argv, cmd;
  const char *flags[] = { "no-env-expand", NULL };
  g_autofree char *desc = g_strdup_printf ("anyd files: %s %s as %s",
                                           t->write ? "write" : "read", t->path, t->user_name);

  g_variant_builder_init (&argv, G_VARIANT_TYPE ("as"));
  g_variant_builder_add (&argv, "s", t->m->helper);
  g_variant_builder_add (&argv, "s", t->write ? "write" : "read");
  if (t->max_size > 0)
    {
      g_variant_builder_add (&argv, "s", "--max-size");
      g_variant_builder_add_value (&argv, g_variant_new_take_string (
                                     g_strdup_printf ("%" G_GUINT64_FORMAT, t->max_size)));
    }
  if (t->idle_timeout_s > 0)
    {
      g_variant_builder_add (&argv, "s", "--idle-timeout");
      g_variant_builder_add_value (&argv, g_variant_new_take_string (
                                     g_strdup_printf ("%u", t->idle_timeout_s)));
    }
  if (t->write && t->mode >= 0)
    {
      g_variant_builder_add (&argv, "s", "--mode");
      g_variant_builder_add_value (&argv, g_variant_new_take_string (
                                     g_strdup_printf ("%04o", (guint) t->mode)));
    }
  if (t->write && t->size >= 0)
    {
      g_variant_builder_add (&argv, "s", "--size");
      g_variant_builder_add_value (&argv, g_variant_new_take_string (
                                     g_strdup_printf ("%" G_GINT64_FORMAT, t->size)));
    }
  if (t->write && !t->create)
    g_variant_builder_add (&argv, "s", "--no-create");
  if (t->write && !t->replace)
    g_variant_builder_add (&argv, "s", "--no-replace");
  g_variant_builder_add (&argv, "s", "--");
  g_variant_builder_add (&argv, "s", t->root);
  g_variant_builder_add (&argv, "s", t->relative);

  g_variant_builder_init (&cmd, G_VARIANT_TYPE ("a(sasas)"));
  g_variant_builder_add (&cmd, "(s@as^as)", t->m->helper, g_variant_builder_end (&argv), flags);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sv)"));
  add_prop (&b, "Description", g_variant_new_string (desc));
  add_prop (&b, "Type", g_variant_new_string ("exec"));
  /* written literally: no $VAR expansion of a caller's path */
  add_prop (&b, "ExecStartEx", g_variant_builder_end (&cmd));
  add_prop (&b, "User", g_variant_new_string (t->user_name));
  add_prop (&b, "UMask", g_variant_new_uint32 (0022));
  add_prop (&b, "CollectMode", g_variant_new_string ("inactive-or-failed"));
  add_prop (&b, "TimeoutStopUSec", g_variant_new_uint64 (5 * G_USEC_PER_SEC));
  if (in_idx >= 0)
    add_prop (&b, "StandardInputFileDescriptor", g_variant_new_handle (in_idx));
  add_prop (&b, "StandardOutputFileDescriptor", g_variant_new_handle (out_idx));
  add_prop (&b, "StandardErrorFileDescriptor", g_variant_new_handle (err_idx));
  add_sandbox (&b, t);
  return g_variant_builder_end (&b);
}

static void
start_helper (Transfer *t)
{
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) raw = NULL;
  int data[2] = { -1, -1 }, status[2] = { -1, -1 }, devnull = -1;
  int in_idx = -1, out_idx, err_idx;
  GVariant *props;

  if (!g_unix_open_pipe (status, FD_CLOEXEC, &error))
    goto fail;
  if (t->write)
    {
      in_idx = g_unix_fd_list_append (fds, t->data_fd, &error);
      close (t->data_fd);
      t->data_fd = -1;
      /* the helper reports on stderr; stdout goes nowhere */
      devnull = open ("/dev/null", O_WRONLY | O_CLOEXEC);
      out_idx = devnull >= 0 ? g_unix_fd_list_append (fds, devnull, &error) : -1;
    }
  else
    {
      if (!g_unix_open_pipe (data, FD_CLOEXEC, &error))
        goto fail;
      /* best effort: a bigger pipe lets more files finish before the reply */
      (void) fcntl (data[1], F_SETPIPE_SZ, READ_PIPE_SIZE);
      t->data_fd = data[0];
      data[0] = -1;
      out_idx = g_unix_fd_list_append (fds, data[1], &error);
    }
  err_idx = out_idx >= 0 ? g_unix_fd_list_append (fds, status[1], &error) : -1;
  if (out_idx < 0 || err_idx < 0 || (t->write && in_idx < 0))
    {
      if (error == NULL)
        error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "cannot open /dev/null: %s",
                             g_strerror (errno));
      goto fail;
    }

  if (t->m->stopped)
    {
      error = g_error_new_literal (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping");
      goto fail;
    }
  t->m->serial++;
  t->unit = g_strdup_printf ("anyd-files-%08x-%" G_GUINT64_FORMAT ".service",
                             g_random_int (), t->m->serial);
  props = unit_properties (t, in_idx, out_idx, err_idx);
  anyd_systemd_start_transient_async (t->m->systemd, t->unit, props, fds, start_cb, transfer_ref (t));
  /* systemd holds the write ends now; ours must go, or no EOF ever comes */
  g_clear_object (&fds);
  close (status[1]);
  if (data[1] >= 0)
    close (data[1]);
  if (devnull >= 0)
    close (devnull);

  raw = g_unix_input_stream_new (status[0], TRUE);
  t->status = g_data_input_stream_new (raw);
  g_data_input_stream_set_newline_type (t->status, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_data_input_stream_read_line_async (t->status, G_PRIORITY_DEFAULT, NULL, status_read_cb,
                                       transfer_ref (t));
  return;

fail:
  for (guint i = 0; i < 2; i++)
    {
      if (status[i] >= 0)
        close (status[i]);
      if (data[i] >= 0)
        close (data[i]);
    }
  if (devnull >= 0)
    close (devnull);
  g_prefix_error (&error, "%s: ", t->path);
  finish_error (t, g_steal_pointer (&error));
}

/* ------------------------------------------------------------------ callers */

static void
stop_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Transfer) t = user_data;
  g_autoptr(GError) error = NULL;

  if (!anyd_systemd_run_job_finish (NULL, res, &error) && !t->eof)
    g_warning ("files: stopping %s: %s", t->unit, error->message);
}

/* The writer (no size announced) left the bus: its end of the fd is
 * closing, and the helper would take that EOF for the end of the data and
 * commit a truncated file. Stop the unit first (best effort: the EOF may
 * win the race; the size option is what makes it exact). The transfer
 * ends, and is audited, when the helper is gone (status_read_cb). */
static void
caller_vanished_cb (const char *name, gpointer user_data)
{
  Transfer *t = user_data;

  t->name_watch = 0;   /* the daemon drops a watch once it fired */
  if (t->done || t->eof || t->m->stopped)
    return;
  g_debug ("files: %s: its caller %s left the bus; stopping %s", t->path, name,
           t->unit ? t->unit : "(not started yet)");
  t->vanished = TRUE;
  if (t->unit != NULL)
    anyd_systemd_run_job_async (t->m->systemd, t->unit, "stop", stop_done_cb, transfer_ref (t));
}

/* ------------------------------------------------------------------ users */

static void
lookup_user_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(Transfer) t = user_data;
  int r = 0;
  g_autoptr(AnydUser) user = anyd_user_lookup_finish (res, &r);

  if (user == NULL)
    {
      finish_error (t, anyd_user_missing_error (t->user, t->caller->uid, r));
      return;
    }
  t->user_name = g_steal_pointer (&user->name);
  if (t->m->stopped)
    {
      finish_error (t, g_error_new_literal (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping"));
      return;
    }
  /* nobody is left to send the rest: no unit at all */
  if (t->vanished)
    {
      finish_error (t, vanished_error (t));
      return;
    }
  start_helper (t);
}

/* ------------------------------------------------------------------ methods */

static gboolean
valid_user_option (const char *user)
{
  /* what useradd and systemd accept, so nothing odd reaches User= */
  if (user[0] == '\0' || strlen (user) > 256 || user[0] == '-')
    return FALSE;
  for (const char *p = user; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.' && *p != '$')
      return FALSE;
  return TRUE;
}

static void
begin (FilesModule *m, AnydDBusFiles *skeleton, GDBusMethodInvocation *invocation,
       gboolean write, const char *path, int fd, GVariant *options)
{
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  g_autoptr(GError) error = NULL;
  Transfer *t;
  guint64 u64;
  guint32 u32;
  const char *s;
  guint n;

  t = g_rc_box_new0 (Transfer);
  t->m = module_ref (m);
  t->skeleton = g_object_ref (skeleton);
  t->invocation = invocation;
  t->caller = anyd_caller_ref (caller);
  t->write = write;
  t->data_fd = fd;
  t->mode = -1;
  t->size = -1;
  t->create = TRUE;
  t->replace = TRUE;
  t->max_size = m->max_size;
  t->idle_timeout_s = m->idle_timeout_s;

  if (!anyd_options_check (options, write ? write_options : read_options, "options", &error))
    goto fail;
  t->path = anyd_files_path_normalise (path, "path", &error);
  if (t->path == NULL)
    goto fail;
  if (!anyd_files_path_split (t->path, (const char *const *) m->roots, &t->root, &t->relative, &error))
    goto fail;
  if (g_variant_lookup (options, "user", "&s", &s))
    {
      if (!valid_user_option (s))
        {
          g_autofree char *shown = anyd_quote_text (s, 64);
          error = g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                               "user: %s is not a user name", shown);
          goto fail;
        }
      t->user = g_strdup (s);
    }
  if (g_variant_lookup (options, "max_size", "t", &u64) && u64 > 0 &&
      (t->max_size == 0 || u64 < t->max_size))
    t->max_size = u64;
  if (g_variant_lookup (options, "mode", "u", &u32))
    {
      if (u32 > 0777)
        {
          error = g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                               "mode: %04o has bits beyond 0777 (setuid, setgid, sticky are not set by anyd)", u32);
          goto fail;
        }
      t->mode = u32;
    }
  if (g_variant_lookup (options, "size", "t", &u64))
    {
      if (u64 > G_MAXINT64 || (t->max_size > 0 && u64 > t->max_size))
        {
          error = g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                               "size: %" G_GUINT64_FORMAT " bytes is more than max_size %" G_GUINT64_FORMAT,
                               u64, t->max_size);
          goto fail;
        }
      t->size = (gint64) u64;
    }
  g_variant_lookup (options, "create", "b", &t->create);
  g_variant_lookup (options, "replace", "b", &t->replace);

  if (write)
    {
      struct stat st;
      int fl = fcntl (fd, F_GETFL);

      if (fl < 0 || (fl & O_ACCMODE) == O_WRONLY || fstat (fd, &st) < 0 || S_ISDIR (st.st_mode))
        {
          error = g_error_new_literal (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                                       "fd: not open for reading");
          goto fail;
        }
      /* systemd would make a terminal the helper's controlling tty */
      if (isatty (fd))
        {
          error = g_error_new_literal (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                                       "fd: a terminal; pass a pipe or a file");
          goto fail;
        }
    }

  /* root is exempt, as from every per-uid quota */
  n = GPOINTER_TO_UINT (g_hash_table_lookup (m->per_uid, GUINT_TO_POINTER (caller->uid)));
  if (caller->uid != 0 && n >= m->max_transfers)
    {
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_BUSY,
                           "max_transfers: uid %u already has %u transfers running, the most [files] max_transfers allows",
                           caller->uid, n);
      goto fail;
    }
  g_hash_table_insert (m->per_uid, GUINT_TO_POINTER (caller->uid), GUINT_TO_POINTER (n + 1));
  t->counted = TRUE;
  anyd_daemon_hold (m->daemon);
  /* Only a write without size: with it, the helper alone tells a complete
   * transfer from a cut one, and a caller that leaves once everything is
   * in the pipe keeps its file. The watch lives as long as t (removed in
   * transfer_clear): no reference of its own. */
  if (write && t->size < 0 && caller->sender != NULL && caller->sender[0] != '\0')
    t->name_watch = anyd_daemon_watch_name (m->daemon, caller->sender, caller_vanished_cb, t, NULL);

  /* NSS may ask the network: in a thread */
  anyd_user_lookup_async (t->user, caller->uid, lookup_user_cb, t);
  return;

fail:
  if (t->path == NULL)
    t->path = g_strdup (path);
  finish_error (t, g_steal_pointer (&error));
  transfer_unref (t);
}

static gboolean
handle_read_file (AnydDBusFiles *skeleton, GDBusMethodInvocation *invocation, const char *path, GVariant *options, gpointer user_data)
{
  begin (user_data, skeleton, invocation, FALSE, path, -1, options);
  return TRUE;
}

static gboolean
handle_write_file (AnydDBusFiles *skeleton, GDBusMethodInvocation *invocation, const char *path,
                   GVariant *handle, GVariant *options, gpointer user_data)
{
  GUnixFDList *fd_list = g_dbus_message_get_unix_fd_list (g_dbus_method_invocation_get_message (invocation));
  g_autoptr(GError) error = NULL;
  gint32 idx = g_variant_get_handle (handle);
  int fd = -1;

  if (fd_list == NULL || idx < 0 || idx >= g_unix_fd_list_get_length (fd_list))
    error = g_error_new_literal (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "fd: no file descriptor was passed");
  else
    fd = g_unix_fd_list_get (fd_list, idx, &error);
  if (fd < 0)
    {
      anyd_audit_action (anyd_caller_from_invocation (invocation), "files.write", path, error, NULL);
      anyd_invocation_return_error (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  begin (user_data, skeleton, invocation, TRUE, path, fd, options);
  return TRUE;
}

/* ------------------------------------------------------------------ lifetime */

static gpointer
files_start (AnydDaemon *daemon, GError **error)
{
  FilesModule *m;

  if (!files_check_config (anyd_daemon_get_config (daemon), error))
    return NULL;
  m = g_rc_box_new0 (FilesModule);
  m->daemon = daemon;
  m->per_uid = g_hash_table_new (NULL, NULL);
  apply_config (m, anyd_daemon_get_config (daemon));
  m->systemd = anyd_systemd_new (anyd_daemon_get_connection (daemon), NULL, NULL);

  m->skeleton = anyd_dbus_files_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (m->skeleton),
                   files_details, m);
  anyd_auth_guard_set_precheck (G_DBUS_INTERFACE_SKELETON (m->skeleton), files_precheck, m);
  g_signal_connect (m->skeleton, "handle-read-file", G_CALLBACK (handle_read_file), m);
  g_signal_connect (m->skeleton, "handle-write-file", G_CALLBACK (handle_write_file), m);

  m->object = anyd_dbus_object_skeleton_new (FILES_PATH);
  anyd_dbus_object_skeleton_set_files (m->object, m->skeleton);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (m->object));
  return m;
}

static void
files_reload (gpointer module, AnydConfig *config)
{
  apply_config (module, config);
}

static void
files_stop (gpointer module)
{
  FilesModule *m = module;

  m->stopped = TRUE;
  /* transfers in flight keep their helpers: systemd runs them to the end */
  g_clear_pointer (&m->systemd, anyd_systemd_free);
  g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (m->daemon), FILES_PATH);
  g_clear_object (&m->object);
  g_clear_object (&m->skeleton);
  module_unref (m);
}

const AnydModule anyd_module_files = {
  .name = "files",
  .config_keys = files_config_keys,
  .auth_rules = files_auth_rules,
  .check_config = files_check_config,
  .start = files_start,
  .reload = files_reload,
  .stop = files_stop,
};
