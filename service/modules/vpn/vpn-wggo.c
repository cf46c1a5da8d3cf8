/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-wggo: the wireguard-go data plane, one transient systemd unit per
 * connection (anyd-vpn-<profile>.service), so it lives outside anyd's
 * cgroup and keeps carrying traffic while anyd restarts or is upgraded.
 *
 * anyd creates the TUN device itself (so the name is exclusive and the
 * device carries anyd's mark from the first moment) and hands its only fd
 * to the unit as standard input:
 *     wireguard-go -f <if>   with WG_TUN_FD=0
 * systemd 252 passes a transient unit no fds but stdin/stdout/stderr
 * (ExtraFileDescriptors= came later), and stdout/stderr carry wireguard-go's
 * log, so the TUN fd takes stdin and wireguard-go binds its UAPI socket
 * itself at /var/run/wireguard/<if>.sock (its compiled-in path; `wg` finds
 * it there).  Passing the device rather than letting wireguard-go create one
 * keeps the name race-free and the unit free of /dev/net/tun
 * (PrivateDevices=yes).  The device is not persistent: the unit's process
 * holds its only fd, so when the unit stops the kernel removes the device
 * with its addresses and routes.
 *
 * The unit's end is seen through its properties (ActiveState, and
 * ExecMainCode/ExecMainStatus for the reason), not SIGCHLD: wireguard-go is
 * systemd's child, never anyd's.  Configuration and counters go over the
 * UAPI text protocol (vpn-uapi.c), asynchronously; the main loop never waits
 * on wireguard-go. */
#include "anyd-build-config.h"
#include "vpn-backend.h"
#include "vpn-unit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/capability.h>
#include <gio/gunixfdlist.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <sodium.h>

#include "error.h"

#define UAPI_DIR "/var/run/wireguard"   /* wireguard-go's compiled-in socketDirectory */
#define UAPI_REAL_DIR "/run/wireguard"  /* the same, without the /var/run symlink (for ReadWritePaths=) */
#define UAPI_TIMEOUT_MS 5000
#define SOCKET_WAIT_MS  5000            /* from the unit's start to its UAPI socket */
#define SYSTEMD_UNIT_IFACE "org.freedesktop.systemd1.Unit"

typedef struct {
  VpnUnitPlane         plane;
  GCancellable        *cancellable;   /* cancelled by destroy */
} WgGoTunnel;

static WgGoTunnel *
tunnel_ref (WgGoTunnel *t)
{
  return (WgGoTunnel *) vpn_unit_plane_ref (&t->plane);
}

static void
tunnel_unref (WgGoTunnel *t)
{
  vpn_unit_plane_unref ((VpnUnitPlane *) t);
}

static void
tunnel_free_fields (VpnUnitPlane *plane)
{
  g_clear_object (&((WgGoTunnel *) plane)->cancellable);
}

static const VpnUnitPlaneKind wggo_kind = {
  .program = "wireguard-go",
  .reason_has_result = TRUE,
  .log_by_ifname = TRUE,
  .wait_after_failed_stop = FALSE,
  .free_fields = tunnel_free_fields,
};

static WgGoTunnel *
tunnel_new (const VpnBackendEnv *env, const char *ifname, const char *unit,
            VpnTunnelExitedFunc exited, gpointer exited_data)
{
  WgGoTunnel *t = g_new0 (WgGoTunnel, 1);

  vpn_unit_plane_init (&t->plane, &wggo_kind, &vpn_backend_wireguard_go, env, unit, exited, exited_data);
  t->plane.base.ifname = g_strdup (ifname);
  t->plane.base.uapi_path = g_strdup_printf (UAPI_DIR "/%s.sock", ifname);
  t->cancellable = g_cancellable_new ();
  return t;
}

/* ---------------------------------------------------------------- check */

static gboolean
wggo_check (AnydConfig *config, GError **error)
{
  g_autofree char *path = anyd_config_get_string (config, "vpn", VPN_CONFIG_WIREGUARD_GO);

  if (path == NULL || !g_path_is_absolute (path) ||
      !g_file_test (path, G_FILE_TEST_IS_REGULAR) || access (path, X_OK) != 0)
    {
      if (path == NULL)
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_DISABLED,
                     "the WireGuard data plane is not installed: [vpn] wireguard_go is not set");
      else
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_DISABLED,
                     "the WireGuard data plane is not installed: no executable wireguard-go at '%s'; "
                     "install it or set [vpn] wireguard_go", path);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------ the unit */

/* The unit: wireguard-go on the TUN fd (stdin), root with CAP_NET_ADMIN
 * only (MTU, SO_MARK for FwMark=), no home, no devices, a read-only system
 * but its UAPI directory. */
static GVariant *
unit_properties (const char *binary, const char *ifname)
{
  GVariantBuilder b, exec, argv;
  const char *env[] = { "WG_TUN_FD=0", "WG_PROCESS_FOREGROUND=1", "LOG_LEVEL=error", NULL };
  const char *rw[] = { UAPI_REAL_DIR, NULL };

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sv)"));
  vpn_unit_add_prop (&b, "Description",
                     g_variant_new_take_string (g_strdup_printf ("anyd VPN data plane of %s", ifname)));
  g_variant_builder_init (&argv, G_VARIANT_TYPE ("as"));
  g_variant_builder_add (&argv, "s", binary);
  g_variant_builder_add (&argv, "s", "-f");
  g_variant_builder_add (&argv, "s", ifname);
  g_variant_builder_init (&exec, G_VARIANT_TYPE ("a(sasb)"));
  g_variant_builder_add (&exec, "(sasb)", binary, &argv, FALSE);
  vpn_unit_add_prop (&b, "ExecStart", g_variant_builder_end (&exec));
  vpn_unit_add_prop (&b, "Environment", g_variant_new_strv (env, -1));
  vpn_unit_add_prop (&b, "StandardInputFileDescriptor", g_variant_new_handle (0));
  vpn_unit_add_prop (&b, "StandardOutput", g_variant_new_string ("journal"));
  vpn_unit_add_prop (&b, "StandardError", g_variant_new_string ("inherit"));
  /* gone from systemd once stopped, failed or not */
  vpn_unit_add_prop (&b, "CollectMode", g_variant_new_string ("inactive-or-failed"));
  vpn_unit_add_prop (&b, "WorkingDirectory", g_variant_new_string ("/"));
  vpn_unit_add_prop (&b, "CapabilityBoundingSet", g_variant_new_uint64 ((guint64) 1 << CAP_NET_ADMIN));
  vpn_unit_add_prop (&b, "AmbientCapabilities", g_variant_new_uint64 (0));
  vpn_unit_add_sandbox (&b);
  vpn_unit_add_prop (&b, "ReadWritePaths", g_variant_new_strv (rw, -1));
  /* Not ProtectKernelModules/ProtectKernelLogs/ProtectHostname: without
   * CAP_SYS_MODULE, CAP_SYSLOG, CAP_SYS_ADMIN (and with PrivateDevices) they
   * add nothing but mounts, and every mount is start-up time of a tunnel. */
  vpn_unit_add_prop (&b, "MemoryDenyWriteExecute", g_variant_new_boolean (TRUE));
  return g_variant_builder_end (&b);
}

/* ---------------------------------------------------------------- create */

typedef struct {
  WgGoTunnel *tunnel;
  int         tun_fd;      /* ours until the unit runs: a copy goes with each start */
  char       *binary;
  guint       poll_id;
  guint       attempts;
  gint64      deadline;
  gint64      started;     /* monotonic µs of the StartTransientUnit call */
  GError     *error;
} Create;

/* systemd unloads a stopped transient unit a moment after its stop job:
 * a Connect right after a Disconnect may find the name still taken. */
#define START_ATTEMPTS    100
#define START_RETRY_MS    50

static void
create_free (Create *cr)
{
  g_clear_handle_id (&cr->poll_id, g_source_remove);
  if (cr->tun_fd >= 0)
    close (cr->tun_fd);
  g_free (cr->binary);
  g_clear_error (&cr->error);
  tunnel_unref (cr->tunnel);
  g_free (cr);
}

/* After a failure: the unit may run (its fd keeps the device); stop it. */
static void
create_fail (GTask *task, GError *error)
{
  Create *cr = g_task_get_task_data (task);
  WgGoTunnel *t = cr->tunnel;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  anyd_systemd_run_job_async (t->plane.systemd, t->plane.base.unit, "stop", NULL, NULL);
  unlink (t->plane.base.uapi_path);
  g_task_return_error (task, error);
  g_object_unref (task);
}

static gboolean socket_in_use (const char *path);

/* wireguard-go binds its UAPI socket a moment after it starts (and listens
 * a moment after binding): ready once a connection is accepted. */
static gboolean
socket_poll_cb (gpointer data)
{
  GTask *task = data;
  Create *cr = g_task_get_task_data (task);
  WgGoTunnel *t = cr->tunnel;

  if (t->plane.exit_reason != NULL)
    {
      cr->poll_id = 0;
      create_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s", t->plane.exit_reason));
      return G_SOURCE_REMOVE;
    }
  if (socket_in_use (t->plane.base.uapi_path))
    {
      cr->poll_id = 0;
      t->plane.ready = TRUE;
      g_debug ("vpn: %s: UAPI socket ready %.1f ms after the unit's start", t->plane.base.ifname,
               (g_get_monotonic_time () - cr->started) / 1000.0);
      g_task_return_pointer (task, tunnel_ref (t), NULL);
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () > cr->deadline)
    {
      cr->poll_id = 0;
      create_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_TIMEOUT,
                                      "wireguard-go did not open its UAPI socket %s within %d s",
                                      t->plane.base.uapi_path, SOCKET_WAIT_MS / 1000));
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
invocation_hex (GVariant *props, char **out)
{
  g_autoptr(GVariant) id = g_variant_lookup_value (props, "InvocationID", G_VARIANT_TYPE_BYTESTRING);
  gsize n = 0;
  const guint8 *bytes;

  if (id == NULL)
    return FALSE;
  bytes = g_variant_get_fixed_array (id, &n, 1);
  if (n != 16)
    return FALSE;
  *out = g_malloc (33);
  sodium_bin2hex (*out, 33, bytes, n);
  return TRUE;
}

static const char *const unit_names[] = { "ActiveState", "InvocationID", NULL };

static void
created_props_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Create *cr = g_task_get_task_data (task);
  WgGoTunnel *t = cr->tunnel;
  GError *error = NULL;
  g_autoptr(GVariant) props = anyd_systemd_get_properties_finish (t->plane.systemd, res, &error);

  if (props == NULL || !invocation_hex (props, &t->plane.base.invocation_id))
    {
      if (error == NULL)
        error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "unit %s has no InvocationID", t->plane.base.unit);
      g_prefix_error (&error, "starting the data plane: ");
      create_fail (task, error);
      return;
    }
  cr->deadline = g_get_monotonic_time () + SOCKET_WAIT_MS * G_TIME_SPAN_MILLISECOND;
  if (socket_poll_cb (task) == G_SOURCE_CONTINUE)
    cr->poll_id = g_timeout_add (2, socket_poll_cb, task);
}

static void started_cb (GObject *source, GAsyncResult *res, gpointer user_data);

static void
start_unit (GTask *task)
{
  Create *cr = g_task_get_task_data (task);
  WgGoTunnel *t = cr->tunnel;
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  GError *error = NULL;

  if (g_unix_fd_list_append (fds, cr->tun_fd, &error) < 0)
    {
      create_fail (task, error);
      return;
    }
  anyd_systemd_start_transient_async (t->plane.systemd, t->plane.base.unit,
                                      unit_properties (cr->binary, t->plane.base.ifname), fds, started_cb, task);
}


static void
exists_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Create *cr = g_task_get_task_data (task);
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (NULL, res, NULL);
  const char *active = "?", *sub = "?";
  GError *error = g_steal_pointer (&cr->error);

  if (status != NULL)
    {
      g_variant_lookup (status, "ActiveState", "&s", &active);
      g_variant_lookup (status, "SubState", "&s", &sub);
      g_prefix_error (&error, "(%s/%s) ", active, sub);
    }
  create_fail (task, error);
}

static gboolean
start_retry_cb (gpointer data)
{
  GTask *task = data;
  Create *cr = g_task_get_task_data (task);

  cr->poll_id = 0;
  start_unit (task);
  return G_SOURCE_REMOVE;
}

static void
started_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Create *cr = g_task_get_task_data (task);
  WgGoTunnel *t = cr->tunnel;
  GError *error = NULL;
  g_autofree char *job_result = NULL;

  if (!anyd_systemd_start_transient_finish (t->plane.systemd, res, &job_result, &error) &&
      g_error_matches (error, ANYD_ERROR, ANYD_ERROR_EXISTS) && ++cr->attempts < START_ATTEMPTS)
    {
      g_clear_error (&error);
      vpn_unit_plane_nudge_collection (&t->plane);
      cr->poll_id = g_timeout_add (START_RETRY_MS, start_retry_cb, task);
      return;
    }
  if (g_error_matches (error, ANYD_ERROR, ANYD_ERROR_EXISTS))
    {
      /* say in which state systemd still has it */
      g_prefix_error (&error, "starting the data plane unit: ");
      anyd_systemd_get_status_async (t->plane.systemd, t->plane.base.unit, exists_status_cb, task);
      cr->error = error;
      return;
    }
  if (error != NULL)
    {
      if (t->plane.exit_reason)
        g_prefix_error (&error, "%s; ", t->plane.exit_reason);
      g_prefix_error (&error, "starting the data plane unit: ");
      create_fail (task, error);
      return;
    }
  /* the unit holds the device now: it goes when the unit's process ends */
  close (cr->tun_fd);
  cr->tun_fd = -1;
  t->plane.started = TRUE;
  g_debug ("vpn: %s: unit %s started in %.1f ms", t->plane.base.ifname, t->plane.base.unit,
           (g_get_monotonic_time () - cr->started) / 1000.0);
  anyd_systemd_get_properties_async (t->plane.systemd, t->plane.base.unit, SYSTEMD_UNIT_IFACE, unit_names,
                                     created_props_cb, task);
}

/* Is a live wireguard-go (of another namespace, say) serving path? */
static gboolean
socket_in_use (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;
  gboolean used;

  if (strlen (path) >= sizeof sa.sun_path)
    return FALSE;
  g_strlcpy (sa.sun_path, path, sizeof sa.sun_path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return FALSE;
  used = connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  close (fd);
  return used;
}

static void
wggo_create_async (const VpnBackendEnv *env, const char *ifname, const char *mark, const char *unit,
                   VpnTunnelExitedFunc exited, gpointer exited_data,
                   GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  g_autoptr(AnydNetlink) nl = NULL;
  g_autofree char *binary = anyd_config_get_string (env->config, "vpn", VPN_CONFIG_WIREGUARD_GO);
  g_autofree char *name = NULL;
  AnydTunParams tp = ANYD_TUN_PARAMS_INIT;
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;
  GError *error = NULL;
  Create *cr;
  WgGoTunnel *t;
  int tun_fd, ifindex;

  g_task_set_source_tag (task, wggo_create_async);
  if (!wggo_check (env->config, &error) || (nl = anyd_netlink_get (&error)) == NULL)
    goto fail;
  if (g_mkdir_with_parents (UAPI_DIR, 0700) < 0)
    {
      int e = errno;
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "creating %s: %s", UAPI_DIR, g_strerror (e));
      goto fail;
    }
  tp.name = ifname;
  tp.packet_info = TRUE;
  tun_fd = anyd_tun_open (&tp, &name, &error);
  if (tun_fd < 0)
    goto fail;
  /* Until the unit holds the fd, closing it (on any error) removes the device. */
  ifindex = anyd_netlink_link_index (nl, name, &error);
  ch.alias = mark;
  if (ifindex <= 0 || !anyd_netlink_link_change (nl, ifindex, &ch, &error))
    {
      close (tun_fd);
      goto fail;
    }
  t = tunnel_new (env, name, unit, exited, exited_data);
  t->plane.base.ifindex = ifindex;
  cr = g_new0 (Create, 1);
  cr->tunnel = t;
  cr->tun_fd = tun_fd;
  cr->binary = g_steal_pointer (&binary);
  g_task_set_task_data (task, cr, (GDestroyNotify) create_free);
  if (socket_in_use (t->plane.base.uapi_path))
    {
      t->plane.destroyed = TRUE;
      g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_EXISTS,
                               "another wireguard-go serves %s (an interface of that name in another "
                               "namespace?)", t->plane.base.uapi_path);
      g_object_unref (task);
      return;
    }
  unlink (t->plane.base.uapi_path);
  vpn_unit_plane_watch (&t->plane);
  cr->started = g_get_monotonic_time ();
  start_unit (task);
  return;

fail:
  g_task_return_error (task, error);
  g_object_unref (task);
}

static VpnTunnel *
wggo_create_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ----------------------------------------------------------------- adopt */

static void wggo_stats_async (VpnTunnel *tunnel, GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
static gboolean wggo_stats_finish (VpnTunnel *tunnel, GAsyncResult *result, VpnUapiStats *out, GError **error);

typedef struct {
  WgGoTunnel  *tunnel;
  char        *invocation_id;
  VpnUapiStats stats;
} Adopt;

static void
adopt_free (Adopt *a)
{
  tunnel_unref (a->tunnel);
  g_free (a->invocation_id);
  g_free (a);
}

static void
adopt_fail (GTask *task, GError *error)
{
  Adopt *a = g_task_get_task_data (task);

  a->tunnel->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&a->tunnel->plane);
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
adopt_stats_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Adopt *a = g_task_get_task_data (task);
  GError *error = NULL;

  if (!wggo_stats_finish (&a->tunnel->plane.base, res, &a->stats, &error))
    {
      g_prefix_error (&error, "the data plane does not answer: ");
      adopt_fail (task, error);
      return;
    }
  if (a->tunnel->plane.exit_reason != NULL)
    {
      adopt_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s", a->tunnel->plane.exit_reason));
      return;
    }
  a->tunnel->plane.ready = TRUE;
  g_task_return_pointer (task, tunnel_ref (a->tunnel), NULL);
  g_object_unref (task);
}

static void
adopt_props_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Adopt *a = g_task_get_task_data (task);
  WgGoTunnel *t = a->tunnel;
  GError *error = NULL;
  g_autoptr(GVariant) props = anyd_systemd_get_properties_finish (t->plane.systemd, res, &error);
  const char *state = NULL;

  if (props == NULL)
    {
      g_prefix_error (&error, "the data plane's unit: ");
      adopt_fail (task, error);
      return;
    }
  if (!g_variant_lookup (props, "ActiveState", "&s", &state) || !g_str_equal (state, "active"))
    {
      adopt_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "the data plane's unit %s is %s",
                                     t->plane.base.unit, state ? state : "unknown"));
      return;
    }
  if (!invocation_hex (props, &t->plane.base.invocation_id) ||
      !g_str_equal (t->plane.base.invocation_id, a->invocation_id))
    {
      adopt_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                     "the data plane's unit %s was restarted since (another InvocationID)",
                                     t->plane.base.unit));
      return;
    }
  wggo_stats_async (&t->plane.base, NULL, adopt_stats_cb, task);
}

static void
wggo_adopt_async (const VpnBackendEnv *env, const char *ifname, int ifindex, const char *mark,
                  const char *unit, const char *invocation_id,
                  VpnTunnelExitedFunc exited, gpointer exited_data,
                  GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  Adopt *a = g_new0 (Adopt, 1);
  g_autoptr(AnydNetlink) nl = NULL;
  g_autoptr(AnydLinkInfo) link = NULL;
  GError *error = NULL;

  g_task_set_source_tag (task, wggo_adopt_async);
  a->tunnel = tunnel_new (env, ifname, unit, exited, exited_data);
  a->tunnel->plane.base.ifindex = ifindex;
  a->invocation_id = g_strdup (invocation_id);
  g_task_set_task_data (task, a, (GDestroyNotify) adopt_free);

  nl = anyd_netlink_get (&error);
  if (nl != NULL)
    link = anyd_netlink_link_get (nl, ifindex, &error);
  if (link == NULL)
    {
      g_clear_error (&error);
      adopt_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "interface %s (index %d) is gone",
                                     ifname, ifindex));
      return;
    }
  if (!g_str_equal (link->name, ifname) || g_strcmp0 (link->alias, mark) != 0)
    {
      adopt_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                     "interface index %d is %s now, not anyd's %s", ifindex, link->name, ifname));
      return;
    }
  a->tunnel->plane.started = TRUE;
  vpn_unit_plane_watch (&a->tunnel->plane);
  anyd_systemd_get_properties_async (env->systemd, unit, SYSTEMD_UNIT_IFACE, unit_names, adopt_props_cb, task);
}

static VpnTunnel *
wggo_adopt_finish (GAsyncResult *result, VpnUapiStats *stats, GError **error)
{
  Adopt *a;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  a = g_task_get_task_data (G_TASK (result));
  if (stats != NULL)
    *stats = a->stats;
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --------------------------------------------------------------- the end */

static void
wggo_release (VpnTunnel *tunnel)
{
  WgGoTunnel *t = (WgGoTunnel *) tunnel;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  g_cancellable_cancel (t->cancellable);
  tunnel_unref (t);
}

/* The device first: it is what users see; wireguard-go then loses its TUN
 * and exits, and the unit is told to stop as well.  Daemon stop: nothing is
 * waited for but the kernel. */
static void
wggo_destroy (VpnTunnel *tunnel)
{
  WgGoTunnel *t = (WgGoTunnel *) tunnel;
  g_autoptr(AnydNetlink) nl = NULL;
  g_autoptr(GError) error = NULL;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  g_cancellable_cancel (t->cancellable);
  nl = anyd_netlink_get (&error);
  if (nl && !anyd_netlink_link_delete (nl, t->plane.base.ifindex, &error) &&
      !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    g_warning ("vpn: deleting %s: %s", t->plane.base.ifname, error->message);
  /* sent before anyd exits, though not waited for */
  anyd_systemd_run_job_async (t->plane.systemd, t->plane.base.unit, "stop", NULL, NULL);
  g_dbus_connection_flush_sync (t->plane.bus, NULL, NULL);
  unlink (t->plane.base.uapi_path);
  tunnel_unref (t);
}

typedef struct {
  WgGoTunnel  *tunnel;
  AnydNetlink *nl;
  GError      *error;
  guint        pending;   /* the device's deletion and the unit's stop, run side by side */
} Destroy;

static void
destroy_free (Destroy *d)
{
  tunnel_unref (d->tunnel);
  g_clear_pointer (&d->nl, anyd_netlink_unref);
  g_clear_error (&d->error);
  g_free (d);
}

static void
destroy_step_done (GTask *task)
{
  Destroy *d = g_task_get_task_data (task);

  if (--d->pending > 0)
    return;
  if (d->error != NULL)
    g_task_return_error (task, g_steal_pointer (&d->error));
  else
    g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

/* Stopped, and unloaded by systemd (or after a while). */
static void
stopped_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  vpn_unit_plane_stop_finish (res, NULL);
  destroy_step_done (user_data);
}

static void
deleted_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Destroy *d = g_task_get_task_data (task);
  GError *error = NULL;

  if (!anyd_netlink_links_delete_finish (d->nl, res, &error) &&
      !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_prefix_error (&error, "deleting %s: ", d->tunnel->plane.base.ifname);
      d->error = error;
    }
  else
    g_clear_error (&error);
  destroy_step_done (task);
}

/* The device and the unit at once: whichever goes first, the other follows
 * (wireguard-go exits without its TUN; the device goes with its fd), and
 * the profile's unit name is free again when this completes. */
static void
wggo_destroy_async (VpnTunnel *tunnel, GAsyncReadyCallback callback, gpointer user_data)
{
  WgGoTunnel *t = (WgGoTunnel *) tunnel;
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  Destroy *d = g_new0 (Destroy, 1);

  g_task_set_source_tag (task, wggo_destroy_async);
  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  g_cancellable_cancel (t->cancellable);
  /* at once: a dead data plane leaves it, and a live one exits when it goes */
  unlink (t->plane.base.uapi_path);
  d->tunnel = t;   /* the caller's reference */
  g_task_set_task_data (task, d, (GDestroyNotify) destroy_free);
  d->pending = 1;
  d->nl = anyd_netlink_get (&d->error);
  if (d->nl != NULL)
    {
      d->pending++;
      anyd_netlink_links_delete_async (d->nl, &t->plane.base.ifindex, 1, 0, NULL, deleted_cb, task);
    }
  vpn_unit_plane_stop_async (&t->plane, stopped_cb, task);
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
  g_autoptr(GSocketAddress) addr = g_unix_socket_address_new (t->plane.base.uapi_path);

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
  .create_async = wggo_create_async,
  .create_finish = wggo_create_finish,
  .adopt_async = wggo_adopt_async,
  .adopt_finish = wggo_adopt_finish,
  .configure_async = wggo_configure_async,
  .unkick_async = wggo_unkick_async,
  .configure_finish = wggo_configure_finish,
  .stats_async = wggo_stats_async,
  .stats_finish = wggo_stats_finish,
  .destroy = wggo_destroy,
  .destroy_async = wggo_destroy_async,
  .destroy_finish = wggo_destroy_finish,
  .release = wggo_release,
};
