/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-wggo: the wireguard-go data plane.
 *
 * anyd creates the TUN device itself (so the name is exclusive and the
 * device carries anyd's mark from the first moment) and binds the UAPI
 * listening socket at /var/run/wireguard/<if>.sock, then starts
 *     wireguard-go -f <if>   with WG_TUN_FD=3 WG_UAPI_FD=4
 * wireguard-go insists on that exact socket path (it watches it with
 * inotify and exits when it goes away), which also lets `wg show` work.
 * The device is not persistent: wireguard-go holds its only fd, so when the
 * process dies the kernel removes the device with its addresses and routes.
 * The child gets PR_SET_PDEATHSIG, so a killed anyd takes it along.
 *
 * Configuration and counters go over the UAPI text protocol (vpn-uapi.c),
 * asynchronously; the main loop never waits on wireguard-go. */
#include "anyd-build-config.h"
#include "vpn-backend.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <sodium.h>

#include "error.h"

#define UAPI_DIR "/var/run/wireguard"   /* wireguard-go's compiled-in socketDirectory */
#define UAPI_TIMEOUT_MS 5000

typedef struct {
  VpnTunnel            base;
  gint                 ref_count;
  gboolean             destroyed;
  char                *socket_path;
  GSubprocess         *process;
  GCancellable        *cancellable;   /* cancelled by destroy */
  char                *last_output;   /* wireguard-go's last log line, for the exit reason */
  VpnTunnelExitedFunc  exited;
  gpointer             exited_data;
} WgGoTunnel;

static WgGoTunnel *
tunnel_ref (WgGoTunnel *t)
{
  g_atomic_int_inc (&t->ref_count);
  return t;
}

static void
tunnel_unref (WgGoTunnel *t)
{
  if (t == NULL || !g_atomic_int_dec_and_test (&t->ref_count))
    return;
  g_free (t->base.ifname);
  g_free (t->socket_path);
  g_free (t->last_output);
  g_clear_object (&t->process);
  g_clear_object (&t->cancellable);
  g_free (t);
}

/* ---------------------------------------------------------------- check */

static gboolean
wggo_check (AnydConfig *config, GError **error)
{
  g_autofree char *path = anyd_config_get_string (config, "vpn", VPN_CONFIG_WIREGUARD_GO);

  if (path == NULL || !g_path_is_absolute (path) ||
      !g_file_test (path, G_FILE_TEST_IS_REGULAR) || access (path, X_OK) != 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_DISABLED,
                   "the WireGuard data plane is not installed (no executable wireguard-go at %s; "
                   "install it or set [vpn] wireguard_go)", path ? path : "(unset)");
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------- start */

static void
child_setup (gpointer data)
{
  pid_t parent = (pid_t) GPOINTER_TO_INT (data);

  /* async-signal-safe only: we are between fork and exec */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () != parent)
    _exit (127);
}

/* Bind the UAPI socket; a live wireguard-go of another namespace may own
 * the path (names are per namespace, the directory is not). */
static int
uapi_listen (const char *path, GError **error)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sa.sun_path)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "UAPI socket path too long: %s", path);
      return -1;
    }
  g_strlcpy (sa.sun_path, path, sizeof sa.sun_path);
  if (g_mkdir_with_parents (UAPI_DIR, 0700) < 0)
    {
      int e = errno;
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "creating %s: %s", UAPI_DIR, g_strerror (e));
      return -1;
    }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail;
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0)
    {
      close (fd);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_EXISTS,
                   "another wireguard-go serves %s (an interface of that name in another namespace?)", path);
      return -1;
    }
  close (fd);
  if (unlink (path) < 0 && errno != ENOENT)
    goto fail_nofd;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    goto fail_nofd;
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || chmod (path, 0600) < 0 || listen (fd, 16) < 0)
    goto fail;
  return fd;

fail:
  {
    int e = errno;
    if (fd >= 0)
      close (fd);
    errno = e;
  }
fail_nofd:
  {
    int e = errno;
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "UAPI socket %s: %s", path, g_strerror (e));
  }
  return -1;
}

static void read_output (WgGoTunnel *t, GDataInputStream *in);

static void
output_line_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WgGoTunnel *t = user_data;
  GDataInputStream *in = G_DATA_INPUT_STREAM (source);
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (in, res, NULL, NULL);

  if (line == NULL || t->destroyed)
    {
      g_object_unref (in);
      tunnel_unref (t);
      return;
    }
  g_strchomp (line);
  if (*line)
    {
      /* wireguard-go logs errors only (LOG_LEVEL=error); never keys */
      g_message ("vpn: wireguard-go[%s]: %s", t->base.ifname, line);
      g_free (t->last_output);
      t->last_output = g_steal_pointer (&line);
    }
  read_output (t, in);
  tunnel_unref (t);
}

static void
read_output (WgGoTunnel *t, GDataInputStream *in)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, t->cancellable, output_line_cb,
                                       tunnel_ref (t));
}

static void
wait_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  WgGoTunnel *t = user_data;
  GSubprocess *proc = G_SUBPROCESS (source);
  g_autofree char *reason = NULL;

  if (!g_subprocess_wait_finish (proc, res, NULL) || t->destroyed)
    {
      tunnel_unref (t);
      return;
    }
  if (g_subprocess_get_if_signaled (proc))
    reason = g_strdup_printf ("wireguard-go was killed by signal %d (%s)",
                              g_subprocess_get_term_sig (proc), g_strsignal (g_subprocess_get_term_sig (proc)));
  else
    reason = g_strdup_printf ("wireguard-go exited with status %d%s%s",
                              g_subprocess_get_exit_status (proc),
                              t->last_output ? ": " : "", t->last_output ? t->last_output : "");
  g_message ("vpn: %s: %s", t->base.ifname, reason);
  if (t->exited)
    t->exited (&t->base, reason, t->exited_data);
  tunnel_unref (t);
}

static VpnTunnel *
wggo_create (AnydConfig *config, const char *ifname, const char *mark,
             VpnTunnelExitedFunc exited, gpointer user_data, GError **error)
{
  g_autoptr(AnydNetlink) nl = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *binary = anyd_config_get_string (config, "vpn", VPN_CONFIG_WIREGUARD_GO);
  AnydTunParams tp = ANYD_TUN_PARAMS_INIT;
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;
  WgGoTunnel *t;
  int tun_fd, sock_fd;
  const char *argv[4];
  const char *env[] = { "WG_TUN_FD=3", "WG_UAPI_FD=4", "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error", NULL };

  if (!wggo_check (config, error))
    return NULL;
  nl = anyd_netlink_get (error);
  if (nl == NULL)
    return NULL;

  t = g_new0 (WgGoTunnel, 1);
  t->ref_count = 1;
  t->base.backend = &vpn_backend_wireguard_go;
  t->cancellable = g_cancellable_new ();
  t->exited = exited;
  t->exited_data = user_data;

  tp.name = ifname;
  tp.packet_info = TRUE;
  tun_fd = anyd_tun_open (&tp, &t->base.ifname, error);
  if (tun_fd < 0)
    goto fail;
  /* Until wireguard-go holds the fd, closing it (on any error) removes the device. */
  t->base.ifindex = anyd_netlink_link_index (nl, t->base.ifname, error);
  ch.alias = mark;
  if (t->base.ifindex <= 0 || !anyd_netlink_link_change (nl, t->base.ifindex, &ch, error))
    {
      close (tun_fd);
      goto fail;
    }
  t->socket_path = g_strdup_printf (UAPI_DIR "/%s.sock", t->base.ifname);
  sock_fd = uapi_listen (t->socket_path, error);
  if (sock_fd < 0)
    {
      close (tun_fd);
      g_clear_pointer (&t->socket_path, g_free);
      goto fail;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_environ (launcher, (char **) env);
  g_subprocess_launcher_set_cwd (launcher, "/");
  g_subprocess_launcher_take_fd (launcher, tun_fd, 3);
  g_subprocess_launcher_take_fd (launcher, sock_fd, 4);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, GINT_TO_POINTER ((int) getpid ()), NULL);
  argv[0] = binary;
  argv[1] = "-f";
  argv[2] = t->base.ifname;
  argv[3] = NULL;
  t->process = g_subprocess_launcher_spawnv (launcher, argv, error);
  /* the launcher's copies of both fds close with it, below */
  if (t->process == NULL)
    {
      g_prefix_error (error, "starting %s: ", binary);
      unlink (t->socket_path);
      goto fail;
    }
  g_debug ("vpn: %s: wireguard-go pid %s", t->base.ifname, g_subprocess_get_identifier (t->process));
  read_output (t, g_data_input_stream_new (g_subprocess_get_stdout_pipe (t->process)));
  g_subprocess_wait_async (t->process, t->cancellable, wait_cb, tunnel_ref (t));
  return &t->base;

fail:
  t->destroyed = TRUE;
  tunnel_unref (t);
  return NULL;
}

/* After the device is gone: the process (GSubprocess reaps it) and the socket. */
static void
stop_process (WgGoTunnel *t)
{
  if (t->process)
    g_subprocess_send_signal (t->process, SIGTERM);
  if (t->socket_path)
    unlink (t->socket_path);
}

/* The device first: it is what users see; wireguard-go then loses its TUN. */
static void
wggo_destroy (VpnTunnel *tunnel)
{
  WgGoTunnel *t = (WgGoTunnel *) tunnel;
  g_autoptr(AnydNetlink) nl = NULL;
  g_autoptr(GError) error = NULL;

  t->destroyed = TRUE;
  g_cancellable_cancel (t->cancellable);
  nl = anyd_netlink_get (&error);
  if (nl && !anyd_netlink_link_delete (nl, t->base.ifindex, &error) &&
      !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    g_warning ("vpn: deleting %s: %s", t->base.ifname, error->message);
  stop_process (t);
  tunnel_unref (t);
}

typedef struct {
  WgGoTunnel  *tunnel;
  AnydNetlink *nl;
} Destroy;

static void
destroy_free (Destroy *d)
{
  tunnel_unref (d->tunnel);
  anyd_netlink_unref (d->nl);
  g_free (d);
}

static void
deleted_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Destroy *d = g_task_get_task_data (task);
  GError *error = NULL;

  stop_process (d->tunnel);
  if (!anyd_netlink_links_delete_finish (d->nl, res, &error) &&
      !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_prefix_error (&error, "deleting %s: ", d->tunnel->base.ifname);
      g_task_return_error (task, error);
    }
  else
    {
      g_clear_error (&error);
      g_task_return_boolean (task, TRUE);
    }
  g_object_unref (task);
}

static void
wggo_destroy_async (VpnTunnel *tunnel, GAsyncReadyCallback callback, gpointer user_data)
{
  WgGoTunnel *t = (WgGoTunnel *) tunnel;
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  GError *error = NULL;
  Destroy *d;

  g_task_set_source_tag (task, wggo_destroy_async);
  t->destroyed = TRUE;
  g_cancellable_cancel (t->cancellable);
  d = g_new0 (Destroy, 1);
  d->tunnel = t;   /* the caller's reference */
  d->nl = anyd_netlink_get (&error);
  if (d->nl == NULL)
    {
      stop_process (t);
      tunnel_unref (t);
      g_free (d);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_task_set_task_data (task, d, (GDestroyNotify) destroy_free);
  anyd_netlink_links_delete_async (d->nl, &t->base.ifindex, 1, 0, NULL, deleted_cb, task);
}

static gboolean
wggo_destroy_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ----------------------------------------------------------------- UAPI */

typedef struct {
  WgGoTunnel        *tunnel;
  GString           *request;     /* may hold keys: wiped */
  GByteArray        *reply;       /* a get reply holds the private key: wiped */
  GSocketConnection *conn;
  GCancellable      *cancellable; /* ours: the caller's, the tunnel's, the timeout */
  gulong             caller_handler, tunnel_handler;
  GCancellable      *caller_cancellable;
  guint              timeout_id;
  gboolean           timed_out;
  guint8             buf[4096];
} Transaction;

static void
transaction_free (Transaction *tx)
{
  g_clear_handle_id (&tx->timeout_id, g_source_remove);
  if (tx->caller_cancellable)
    g_cancellable_disconnect (tx->caller_cancellable, tx->caller_handler);
  g_clear_object (&tx->caller_cancellable);
  g_cancellable_disconnect (tx->tunnel->cancellable, tx->tunnel_handler);
  vpn_uapi_buffer_free (tx->request);
  if (tx->reply)
    {
      sodium_memzero (tx->reply->data, tx->reply->len);
      g_byte_array_unref (tx->reply);
    }
  sodium_memzero (tx->buf, sizeof tx->buf);
  g_clear_object (&tx->conn);
  g_clear_object (&tx->cancellable);
  tunnel_unref (tx->tunnel);
  g_free (tx);
}

static void
cancel_cb (GCancellable *source, gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

static gboolean
timeout_cb (gpointer data)
{
  Transaction *tx = data;

  tx->timeout_id = 0;
  tx->timed_out = TRUE;
  g_cancellable_cancel (tx->cancellable);
  return G_SOURCE_REMOVE;
}

static void
tx_return_error (GTask *task, GError *error)
{
  Transaction *tx = g_task_get_task_data (task);

  if (tx->timed_out)
    {
      g_clear_error (&error);
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_TIMEOUT,
                           "wireguard-go did not answer on its UAPI socket within %d s", UAPI_TIMEOUT_MS / 1000);
    }
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_prefix_error (&error, "wireguard-go UAPI: ");
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void read_cb (GObject *source, GAsyncResult *res, gpointer user_data);

static void
read_more (GTask *task)
{
  Transaction *tx = g_task_get_task_data (task);

  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (tx->conn)), tx->buf, sizeof tx->buf,
                             G_PRIORITY_DEFAULT, tx->cancellable, read_cb, task);
}

static void
read_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Transaction *tx = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

  if (n < 0)
    {
      tx_return_error (task, error);
      return;
    }
  if (n == 0)
    {
      tx_return_error (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "connection closed mid-reply"));
      return;
    }
  g_byte_array_append (tx->reply, tx->buf, (guint) n);
  if (tx->reply->len > VPN_UAPI_MAX_REPLY)
    {
      tx_return_error (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "reply too long"));
      return;
    }
  if (vpn_uapi_reply_complete ((const char *) tx->reply->data, tx->reply->len))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  read_more (task);
}

static void
write_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error))
    {
      tx_return_error (task, error);
      return;
    }
  read_more (task);
}

static void
connect_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Transaction *tx = g_task_get_task_data (task);
  GError *error = NULL;

  tx->conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), res, &error);
  if (tx->conn == NULL)
    {
      tx_return_error (task, error);
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (tx->conn)),
                                   tx->request->str, tx->request->len, G_PRIORITY_DEFAULT,
                                   tx->cancellable, write_cb, task);
}

/* One request/reply on a fresh connection (wireguard-go serves each
 * connection in its own goroutine, so requests never queue behind a stuck one). */
static void
uapi_transact (WgGoTunnel *t, GString *request, GCancellable *cancellable,
               GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Transaction *tx = g_new0 (Transaction, 1);
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (t->socket_path);

  g_task_set_source_tag (task, source_tag);
  tx->tunnel = tunnel_ref (t);
  tx->request = request;
  tx->reply = g_byte_array_new ();
  tx->cancellable = g_cancellable_new ();
  tx->tunnel_handler = g_cancellable_connect (t->cancellable, G_CALLBACK (cancel_cb), tx->cancellable, NULL);
  if (cancellable)
    {
      tx->caller_cancellable = g_object_ref (cancellable);
      tx->caller_handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_cb), tx->cancellable, NULL);
    }
  tx->timeout_id = g_timeout_add (UAPI_TIMEOUT_MS, timeout_cb, tx);
  g_task_set_task_data (task, tx, (GDestroyNotify) transaction_free);
  g_socket_client_connect_async (client, G_SOCKET_CONNECTABLE (addr), tx->cancellable, connect_cb, task);
}

static void
configure_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *outer = user_data;
  GTask *inner = G_TASK (res);
  Transaction *tx = g_task_get_task_data (inner);
  GError *error = NULL;

  if (!g_task_propagate_boolean (inner, &error) ||
      !vpn_uapi_parse_set_reply ((const char *) tx->reply->data, tx->reply->len, &error))
    g_task_return_error (outer, error);
  else
    g_task_return_boolean (outer, TRUE);
  g_object_unref (outer);
}

static void
start_set (VpnTunnel *tunnel, GString *request, GCancellable *cancellable,
           GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *outer = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (outer, start_set);
  uapi_transact ((WgGoTunnel *) tunnel, request, cancellable, configure_done_cb, outer, start_set);
}

static void
wggo_configure_async (VpnTunnel *tunnel, const VpnConfig *config, guint32 fwmark,
                      const char *const *endpoints, guint16 kick_keepalive, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  start_set (tunnel, vpn_uapi_build_set (config, fwmark, endpoints, kick_keepalive),
             cancellable, callback, user_data);
}

static void
wggo_unkick_async (VpnTunnel *tunnel, const VpnConfig *config, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
  start_set (tunnel, vpn_uapi_build_unkick (config), cancellable, callback, user_data);
}

static gboolean
wggo_configure_finish (VpnTunnel *tunnel, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
stats_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *outer = user_data;
  GTask *inner = G_TASK (res);
  Transaction *tx = g_task_get_task_data (inner);
  GError *error = NULL;
  VpnUapiStats *stats = g_new0 (VpnUapiStats, 1);

  if (!g_task_propagate_boolean (inner, &error) ||
      !vpn_uapi_parse_get_reply ((const char *) tx->reply->data, tx->reply->len, stats, &error))
    {
      g_free (stats);
      g_task_return_error (outer, error);
    }
  else
    g_task_return_pointer (outer, stats, g_free);
  g_object_unref (outer);
}

static void
wggo_stats_async (VpnTunnel *tunnel, GCancellable *cancellable, GAsyncReadyCallback callback,
                  gpointer user_data)
{
  GTask *outer = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (outer, wggo_stats_async);
  uapi_transact ((WgGoTunnel *) tunnel, g_string_new ("get=1\n\n"), cancellable, stats_done_cb, outer,
                 wggo_stats_async);
}

static gboolean
wggo_stats_finish (VpnTunnel *tunnel, GAsyncResult *result, VpnUapiStats *out, GError **error)
{
  g_autofree VpnUapiStats *stats = g_task_propagate_pointer (G_TASK (result), error);

  if (stats == NULL)
    return FALSE;
  *out = *stats;
  return TRUE;
}

const VpnBackend vpn_backend_wireguard_go = {
  .name = "wireguard-go",
  .check = wggo_check,
  .create = wggo_create,
  .configure_async = wggo_configure_async,
  .unkick_async = wggo_unkick_async,
  .configure_finish = wggo_configure_finish,
  .stats_async = wggo_stats_async,
  .stats_finish = wggo_stats_finish,
  .destroy = wggo_destroy,
  .destroy_async = wggo_destroy_async,
  .destroy_finish = wggo_destroy_finish,
};
