/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-v2ray: the data plane of a proxy (v2ray) connection.
 *
 * Coming up, in this order, so traffic never goes to a proxy that is not
 * listening yet:
 *   1. the v2ray config (vpn-v2ray-config.c) written root-only (0600 in a
 *      0700 directory) under <runtime>/vpn/v2ray/, and checked by
 *      `v2ray -test` (the binary itself, asynchronously);
 *   2. v2ray as the transient unit anyd-vpn-<profile>.service, as the
 *      system user [vpn] v2ray_user with only CAP_NET_ADMIN (TPROXY's
 *      IP_TRANSPARENT, SO_MARK) and CAP_NET_BIND_SERVICE (replies to UDP
 *      sent from port 53), LimitNOFILE raised; the config reaches it as
 *      standard input (`-config stdin:`), so its user never reads the file;
 *      ready when its inbound accepts a TCP connection;
 *   3. the nftables table (vpn_v2ray_nft_ruleset), then for IPv4 and IPv6
 *      `fwmark M lookup T` and `local default dev lo table T`, through
 *      libnftables and libnl, tagged as anyd's.
 * Going down is the reverse.  When v2ray dies by itself the connection
 * fails, and vpn_v2ray_block() leaves table, rules and routes in place:
 * marked packets find no inbound and are dropped, so nothing leaks until
 * Disconnect.  Counters are the table's tx/rx counter objects. */
#include "anyd-build-config.h"
#include "vpn-v2ray.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/capability.h>
#include <gio/gunixfdlist.h>
#include <glib/gstdio.h>
#include <sodium.h>

#include "error.h"
#include "nft.h"
#include "util.h"
#include "vpn-unit.h"
#include "vpn-v2ray-config.h"

#define READY_WAIT_MS 10000
#define SYSTEMD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define NOFILE_LIMIT 65536

typedef struct {
  VpnUnitPlane     plane;
  gboolean         blocked;
  char            *table;        /* nft table, NULL until applied */
  gboolean         rules_added;
  char            *config_path;
  guint16          port;
  char            *secret;       /* scrubbed from v2ray's messages */
} V2rayTunnel;

static V2rayTunnel *
tunnel_ref (V2rayTunnel *t)
{
  return (V2rayTunnel *) vpn_unit_plane_ref (&t->plane);
}

static void
tunnel_unref (V2rayTunnel *t)
{
  vpn_unit_plane_unref ((VpnUnitPlane *) t);
}

static void
tunnel_free_fields (VpnUnitPlane *plane)
{
  V2rayTunnel *t = (V2rayTunnel *) plane;

  g_free (t->table);
  g_free (t->config_path);
  vpn_secret_free (t->secret);
}

static const VpnUnitPlaneKind v2ray_kind = {
  .program = "v2ray",
  .reason_has_result = FALSE,
  .log_by_ifname = FALSE,
  .wait_after_failed_stop = TRUE,
  .free_fields = tunnel_free_fields,
};

char *
vpn_v2ray_table_name (const char *profile)
{
  g_autofree char *escaped = g_dbus_escape_object_path (profile);
  return g_strconcat (VPN_V2RAY_TABLE_PREFIX, escaped, NULL);
}

/* ---------------------------------------------------------------- check */

static gboolean
v2ray_check (AnydConfig *config, GError **error)
{
  g_autofree char *path = anyd_config_get_string (config, "vpn", VPN_CONFIG_V2RAY);

  if (path == NULL || !g_path_is_absolute (path) || !g_file_test (path, G_FILE_TEST_IS_REGULAR) ||
      access (path, X_OK) != 0)
    {
      if (path == NULL)
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_DISABLED,
                     "the proxy data plane is not installed: [vpn] v2ray is not set");
      else
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_DISABLED,
                     "the proxy data plane is not installed: no executable v2ray at '%s'; install the v2ray "
                     "package or set [vpn] v2ray", path);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------- rules, routes, table */

static void
rules_for (int family, AnydRule *rule, AnydRoute *route)
{
  AnydRule r = ANYD_RULE_INIT;
  AnydRoute rt = { 0 };

  r.family = family;
  r.table = VPN_V2RAY_TABLE;
  r.fwmark = VPN_V2RAY_ROUTE_MARK;
  *rule = r;
  rt.dst.family = family;
  rt.dst.prefix = 0;
  rt.table = VPN_V2RAY_TABLE;
  rt.local = TRUE;
  *route = rt;
}

/* Rules and routes of both families, and the table: whatever is there.
 * Also the start-up sweep's cleanup (a killed anyd's leftovers). */
void
vpn_v2ray_remove_network (AnydNetlink *nl, const char *table)
{
  static const int families[] = { AF_INET, AF_INET6 };
  g_autoptr(AnydNft) nft = anyd_nft_new (NULL);
  g_autoptr(GError) error = NULL;
  int lo = anyd_netlink_link_index (nl, "lo", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      AnydRule rule;
      AnydRoute route;
      g_autoptr(GError) e1 = NULL;
      g_autoptr(GError) e2 = NULL;

      rules_for (families[i], &rule, &route);
      if (!anyd_netlink_rule_del (nl, &rule, "rule", &e1) && !g_error_matches (e1, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        g_warning ("vpn: removing the proxy routing rule: %s", e1->message);
      if (lo > 0 && !anyd_netlink_route_del (nl, lo, &route, "route", &e2) &&
          !g_error_matches (e2, ANYD_ERROR, ANYD_ERROR_NOT_FOUND) &&
          !g_error_matches (e2, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT))
        g_warning ("vpn: removing the proxy's local route: %s", e2->message);
    }
  if (table != NULL && nft != NULL && !anyd_nft_delete_table (nft, "inet", table, &error))
    g_warning ("vpn: removing nft table %s: %s", table, error->message);
}

static gboolean
apply_network (V2rayTunnel *t, const VpnV2rayRules *spec, GError **error)
{
  static const int families[] = { AF_INET, AF_INET6 };
  g_autoptr(AnydNft) nft = anyd_nft_new (error);
  g_autoptr(AnydNetlink) nl = NULL;
  g_autofree char *ruleset = NULL;
  int lo;

  if (nft == NULL || (nl = anyd_netlink_get (error)) == NULL)
    return FALSE;
  ruleset = vpn_v2ray_nft_ruleset (spec, error);
  if (ruleset == NULL)
    return FALSE;
  /* a leftover of the same name would merge with ours */
  if (!anyd_nft_delete_table (nft, "inet", spec->table, error) || !anyd_nft_run (nft, ruleset, "nft table", error))
    return FALSE;
  t->table = g_strdup (spec->table);
  lo = anyd_netlink_link_index (nl, "lo", error);
  if (lo <= 0)
    return FALSE;
  t->rules_added = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      AnydRule rule;
      AnydRoute route;

      rules_for (families[i], &rule, &route);
      if (!anyd_netlink_route_add (nl, lo, &route, "local route", error) ||
          !anyd_netlink_rule_add (nl, &rule, "rule", error))
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------- the unit */

static GVariant *
unit_properties (const char *binary, const char *profile, const char *user)
{
  GVariantBuilder b, exec, argv;
  const char *env[] = { "V2RAY_LOCATION_ASSET=/usr/share/v2ray", NULL };
  guint64 caps = ((guint64) 1 << CAP_NET_ADMIN) | ((guint64) 1 << CAP_NET_BIND_SERVICE);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sv)"));
  vpn_unit_add_prop (&b, "Description", g_variant_new_take_string (g_strdup_printf ("anyd proxy VPN of %s (v2ray)",
                                                                           profile)));
  g_variant_builder_init (&argv, G_VARIANT_TYPE ("as"));
  g_variant_builder_add (&argv, "s", binary);
  g_variant_builder_add (&argv, "s", "-config");
  g_variant_builder_add (&argv, "s", "stdin:");
  g_variant_builder_init (&exec, G_VARIANT_TYPE ("a(sasb)"));
  g_variant_builder_add (&exec, "(sasb)", binary, &argv, FALSE);
  vpn_unit_add_prop (&b, "ExecStart", g_variant_builder_end (&exec));
  vpn_unit_add_prop (&b, "Environment", g_variant_new_strv (env, -1));
  vpn_unit_add_prop (&b, "User", g_variant_new_string (user));
  vpn_unit_add_prop (&b, "Group", g_variant_new_string (user));
  vpn_unit_add_prop (&b, "StandardInputFileDescriptor", g_variant_new_handle (0));
  vpn_unit_add_prop (&b, "StandardOutput", g_variant_new_string ("journal"));
  vpn_unit_add_prop (&b, "StandardError", g_variant_new_string ("inherit"));
  vpn_unit_add_prop (&b, "CollectMode", g_variant_new_string ("inactive-or-failed"));
  vpn_unit_add_prop (&b, "WorkingDirectory", g_variant_new_string ("/"));
  vpn_unit_add_prop (&b, "CapabilityBoundingSet", g_variant_new_uint64 (caps));
  vpn_unit_add_prop (&b, "AmbientCapabilities", g_variant_new_uint64 (caps));
  vpn_unit_add_sandbox (&b);
  vpn_unit_add_prop (&b, "ProtectKernelModules", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (&b, "ProtectKernelLogs", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (&b, "ProtectHostname", g_variant_new_boolean (TRUE));
  /* a proxy for the whole host holds two sockets per connection */
  vpn_unit_add_prop (&b, "LimitNOFILE", g_variant_new_uint64 (NOFILE_LIMIT));
  vpn_unit_add_prop (&b, "LimitNOFILESoft", g_variant_new_uint64 (NOFILE_LIMIT));
  return g_variant_builder_end (&b);
}

/* ---------------------------------------------------------------- create */

typedef struct {
  V2rayTunnel   *tunnel;
  VpnV2rayRules  spec;
  char          *binary;
  char          *user;
  char          *profile;
  char         **bypass;
  guint          poll_id;
  gint64         deadline;
  GUnixFDList   *fds;
  gint64         t0;             /* for the timing in debug */
} Create;

static void
create_free (Create *cr)
{
  g_clear_handle_id (&cr->poll_id, g_source_remove);
  tunnel_unref (cr->tunnel);
  g_free ((char *) cr->spec.table);
  g_free (cr->binary);
  g_free (cr->user);
  g_free (cr->profile);
  g_strfreev (cr->bypass);
  g_clear_object (&cr->fds);
  g_free (cr);
}

static void
undo (V2rayTunnel *t)
{
  g_autoptr(AnydNetlink) nl = anyd_netlink_get (NULL);

  if (nl != NULL && (t->table != NULL || t->rules_added))
    vpn_v2ray_remove_network (nl, t->table);
  g_clear_pointer (&t->table, g_free);
  t->rules_added = FALSE;
  if (t->config_path)
    g_unlink (t->config_path);
}

static void
create_fail (GTask *task, GError *error)
{
  Create *cr = g_task_get_task_data (task);
  V2rayTunnel *t = cr->tunnel;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  undo (t);
  if (t->plane.started)
    anyd_systemd_run_job_async (t->plane.systemd, t->plane.base.unit, "stop", NULL, NULL);
  g_task_return_error (task, error);
  g_object_unref (task);
}

static gboolean
port_accepts (guint16 port)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  /* loopback connects complete or are refused at once: no wait */
  ok = connect (fd, (struct sockaddr *) &sa, sizeof sa) == 0;
  close (fd);
  return ok;
}

static gboolean
ready_poll_cb (gpointer data)
{
  GTask *task = data;
  Create *cr = g_task_get_task_data (task);
  V2rayTunnel *t = cr->tunnel;
  g_autoptr(GError) error = NULL;

  if (t->plane.exit_reason != NULL)
    {
      cr->poll_id = 0;
      create_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s", t->plane.exit_reason));
      return G_SOURCE_REMOVE;
    }
  if (port_accepts (t->port))
    {
      cr->poll_id = 0;
      g_debug ("vpn: %s: v2ray listening after %.1f ms", t->plane.base.unit, (g_get_monotonic_time () - cr->t0) / 1e3);
      if (!apply_network (t, &cr->spec, &error))
        {
          g_prefix_error (&error, "setting up the proxy's traffic rules: ");
          create_fail (task, g_steal_pointer (&error));
          return G_SOURCE_REMOVE;
        }
      t->plane.ready = TRUE;
      g_debug ("vpn: %s: rules in after %.1f ms", t->plane.base.unit, (g_get_monotonic_time () - cr->t0) / 1e3);
      g_task_return_pointer (task, tunnel_ref (t), NULL);
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () > cr->deadline)
    {
      cr->poll_id = 0;
      create_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_TIMEOUT, "v2ray did not listen on port %u within %d s",
                                      t->port, READY_WAIT_MS / 1000));
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
started_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Create *cr = g_task_get_task_data (task);
  V2rayTunnel *t = cr->tunnel;
  GError *error = NULL;
  g_autofree char *job_result = NULL;

  if (!anyd_systemd_start_transient_finish (t->plane.systemd, res, &job_result, &error))
    {
      if (t->plane.exit_reason)
        g_prefix_error (&error, "%s; ", t->plane.exit_reason);
      g_prefix_error (&error, "starting the proxy unit: ");
      create_fail (task, error);
      return;
    }
  t->plane.started = TRUE;
  g_debug ("vpn: %s: unit started after %.1f ms", t->plane.base.unit, (g_get_monotonic_time () - cr->t0) / 1e3);
  cr->deadline = g_get_monotonic_time () + READY_WAIT_MS * G_TIME_SPAN_MILLISECOND;
  if (ready_poll_cb (task) == G_SOURCE_CONTINUE)
    cr->poll_id = g_timeout_add (5, ready_poll_cb, task);
}

/* v2ray's own words, with the secret cut out should it ever echo it. */
static char *
scrub (const char *text, const char *secret)
{
  g_auto(GStrv) lines = g_strsplit (text ? text : "", "\n", -1);
  const char *last = "";
  GString *s;
  const char *p;

  for (guint i = 0; lines[i]; i++)
    if (*g_strstrip (lines[i]) != '\0' && !g_str_has_prefix (lines[i], "V2Ray ") &&
        !g_str_has_prefix (lines[i], "A unified platform"))
      last = lines[i];
  s = g_string_new (NULL);
  p = last;
  while (secret && *secret && (strstr (p, secret)) != NULL)
    {
      const char *hit = strstr (p, secret);
      g_string_append_len (s, p, hit - p);
      g_string_append (s, "(secret)");
      p = hit + strlen (secret);
    }
  g_string_append (s, p);
  if (s->len > 300)
    g_string_truncate (s, 300);
  return g_string_free (s, FALSE);
}

static void
tested_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Create *cr = g_task_get_task_data (task);
  V2rayTunnel *t = cr->tunnel;
  GSubprocess *proc = G_SUBPROCESS (source);
  g_autofree char *out = NULL;
  GError *error = NULL;

  if (!g_subprocess_communicate_utf8_finish (proc, res, &out, NULL, &error))
    {
      create_fail (task, error);
      return;
    }
  if (!g_subprocess_get_successful (proc))
    {
      g_autofree char *why = scrub (out, t->secret);
      create_fail (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "v2ray -test refused the configuration: %s",
                                      why));
      return;
    }
  g_debug ("vpn: %s: v2ray -test passed after %.1f ms", t->plane.base.unit, (g_get_monotonic_time () - cr->t0) / 1e3);
  t->plane.started = FALSE;
  vpn_unit_plane_watch (&t->plane);
  anyd_systemd_start_transient_async (t->plane.systemd, t->plane.base.unit,
                                      unit_properties (cr->binary, cr->profile, cr->user), cr->fds, started_cb, task);
  g_clear_object (&cr->fds);
}

/* A free TCP and UDP port on loopback for the inbound. */
static guint16
pick_port (GError **error)
{
  for (int attempt = 0; attempt < 16; attempt++)
    {
      struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
      socklen_t len = sizeof sa;
      int tcp = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), udp = -1;
      guint16 port = 0;

      if (tcp >= 0 && bind (tcp, (struct sockaddr *) &sa, sizeof sa) == 0 &&
          getsockname (tcp, (struct sockaddr *) &sa, &len) == 0)
        {
          udp = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          if (udp >= 0 && bind (udp, (struct sockaddr *) &sa, sizeof sa) == 0)
            port = ntohs (sa.sin_port);
        }
      if (tcp >= 0)
        close (tcp);
      if (udp >= 0)
        close (udp);
      if (port != 0)
        return port;
    }
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "no free loopback port for the proxy's inbound");
  return 0;
}

void
vpn_v2ray_create_async (const VpnBackendEnv *env, const char *config_dir, const char *profile, const VpnLink *link,
                        const char *server_ip, const char *unit, VpnTunnelExitedFunc exited, gpointer exited_data,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  Create *cr = g_new0 (Create, 1);
  V2rayTunnel *t = g_new0 (V2rayTunnel, 1);
  g_autofree char *proxy_dns = anyd_config_get_string (env->config, "vpn", VPN_CONFIG_PROXY_DNS);
  g_autofree char *file = NULL;
  g_autofree char *server_cidr = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  char *json = NULL;
  GError *error = NULL;
  struct passwd *pw;
  VpnV2rayParams params;
  GPtrArray *bypass;
  char **extra;
  int fd;

  g_task_set_source_tag (task, vpn_v2ray_create_async);
  cr->t0 = g_get_monotonic_time ();
  vpn_unit_plane_init (&t->plane, &v2ray_kind, &vpn_backend_v2ray, env, unit, exited, exited_data);
  t->plane.base.ifname = g_strdup ("");
  t->secret = g_strdup (link->secret);
  cr->tunnel = t;
  cr->profile = g_strdup (profile);
  cr->binary = anyd_config_get_string (env->config, "vpn", VPN_CONFIG_V2RAY);
  cr->user = anyd_config_get_string (env->config, "vpn", VPN_CONFIG_V2RAY_USER);
  g_task_set_task_data (task, cr, (GDestroyNotify) create_free);

  if (!v2ray_check (env->config, &error))
    goto fail;
  /* files only: the daemon's NSS is local in practice, and this runs once per Connect */
  pw = getpwnam (cr->user);
  if (pw == NULL || pw->pw_uid == 0)
    {
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_DISABLED, "[vpn] v2ray_user: no system user '%s' to run v2ray as "
                           "(the package's sysusers.d file creates anyd-v2ray)", cr->user);
      goto fail;
    }
  t->port = pick_port (&error);
  if (t->port == 0)
    goto fail;

  params.server_address = server_ip;
  params.inbound_port = t->port;
  params.mark = VPN_V2RAY_OUT_MARK;
  params.proxy_dns = proxy_dns;
  json = vpn_v2ray_config_generate (link, &params, &error);
  if (json == NULL)
    goto fail;
  if (!anyd_mkdir_private (config_dir, &error))
    goto fail;
  file = g_strconcat (profile, ".json", NULL);
  t->config_path = g_build_filename (config_dir, file, NULL);
  if (!anyd_file_write_atomic (t->config_path, json, strlen (json), 0600, &error))
    goto fail;
  fd = open (t->config_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "opening %s: %s", t->config_path, g_strerror (e));
      goto fail;
    }
  cr->fds = g_unix_fd_list_new_from_array (&fd, 1);

  /* what the rules send direct: the server (so nothing loops), the configured LAN */
  bypass = g_ptr_array_new ();
  server_cidr = g_strdup (server_ip);
  g_ptr_array_add (bypass, g_strdup (server_cidr));
  extra = anyd_config_get_string_list (env->config, "vpn", VPN_CONFIG_PROXY_BYPASS);
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add (bypass, g_strdup (extra[i]));
  g_strfreev (extra);
  g_ptr_array_add (bypass, NULL);
  cr->bypass = (char **) g_ptr_array_free (bypass, FALSE);
  cr->spec.table = vpn_v2ray_table_name (profile);
  cr->spec.route_mark = VPN_V2RAY_ROUTE_MARK;
  cr->spec.v2ray_mark = VPN_V2RAY_OUT_MARK;
  cr->spec.v2ray_uid = pw->pw_uid;
  cr->spec.port = t->port;
  cr->spec.bypass = (const char *const *) cr->bypass;
  cr->spec.block_quic = link->block_quic;
  cr->spec.ipv6 = link->ipv6;

  proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error, cr->binary,
                           "-test", "-config", t->config_path, NULL);
  if (proc == NULL)
    goto fail;
  vpn_secret_free (json);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, tested_cb, task);
  return;

fail:
  vpn_secret_free (json);
  create_fail (task, error);
}

VpnTunnel *
vpn_v2ray_create_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ----------------------------------------------------------- going down */

void
vpn_v2ray_block (VpnTunnel *tunnel)
{
  V2rayTunnel *t = (V2rayTunnel *) tunnel;

  /* the table stays: marked traffic finds no inbound and is dropped */
  t->blocked = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  anyd_systemd_run_job_async (t->plane.systemd, t->plane.base.unit, "stop", NULL, NULL);
}

static void
v2ray_release (VpnTunnel *tunnel)
{
  V2rayTunnel *t = (V2rayTunnel *) tunnel;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  tunnel_unref (t);
}

static void
v2ray_destroy (VpnTunnel *tunnel)
{
  V2rayTunnel *t = (V2rayTunnel *) tunnel;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  undo (t);
  anyd_systemd_run_job_async (t->plane.systemd, t->plane.base.unit, "stop", NULL, NULL);
  g_dbus_connection_flush_sync (t->plane.bus, NULL, NULL);
  tunnel_unref (t);
}

/* Rules first (traffic goes direct again at once), then the unit. */
static void
v2ray_destroy_async (VpnTunnel *tunnel, GAsyncReadyCallback callback, gpointer user_data)
{
  V2rayTunnel *t = (V2rayTunnel *) tunnel;

  t->plane.destroyed = TRUE;
  vpn_unit_plane_unwatch (&t->plane);
  undo (t);
  vpn_unit_plane_stop_async (&t->plane, callback, user_data);
  tunnel_unref (t);   /* the caller's reference; the stop holds its own */
}

static gboolean
v2ray_destroy_finish (GAsyncResult *result, GError **error)
{
  return vpn_unit_plane_stop_finish (result, error);
}

/* -------------------------------------------------------------- counters */

static void
v2ray_stats_async (VpnTunnel *tunnel, GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  V2rayTunnel *t = (V2rayTunnel *) tunnel;
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr(AnydNft) nft = anyd_nft_new (NULL);
  VpnUapiStats *stats = g_new0 (VpnUapiStats, 1);
  GError *error = NULL;

  g_task_set_source_tag (task, v2ray_stats_async);
  if (t->table == NULL || nft == NULL ||
      !anyd_nft_counter_bytes (nft, "inet", t->table, "rx", &stats->rx_bytes, &error) ||
      !anyd_nft_counter_bytes (nft, "inet", t->table, "tx", &stats->tx_bytes, &error))
    {
      g_free (stats);
      if (error == NULL)
        error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "no nftables table");
      g_task_return_error (task, error);
    }
  else
    g_task_return_pointer (task, stats, g_free);
  g_object_unref (task);
}

static gboolean
v2ray_stats_finish (VpnTunnel *tunnel, GAsyncResult *result, VpnUapiStats *out, GError **error)
{
  g_autofree VpnUapiStats *stats = g_task_propagate_pointer (G_TASK (result), error);

  if (stats == NULL)
    return FALSE;
  *out = *stats;
  return TRUE;
}

/* The wireguard-only operations are never called for a proxy tunnel. */
const VpnBackend vpn_backend_v2ray = {
  .name = "v2ray",
  .check = v2ray_check,
  .create_finish = vpn_v2ray_create_finish,
  .stats_async = v2ray_stats_async,
  .stats_finish = v2ray_stats_finish,
  .destroy = v2ray_destroy,
  .destroy_async = v2ray_destroy_async,
  .destroy_finish = v2ray_destroy_finish,
  .release = v2ray_release,
};
