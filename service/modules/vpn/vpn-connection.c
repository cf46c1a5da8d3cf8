/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-connection: one tunnel, /org/anyd1/vpn/connections/<n>.
 *
 *   connecting ──(first handshake)──> connected
 *       │  (timeout, data plane died, setup error)      │
 *       └──────────────> failed <───────────────────────┘
 *   connecting/connected/failed ──Disconnect──> disconnecting ──> disconnected (object removed)
 *
 * Every change of state goes through transition(): it publishes State and
 * Since, emits StateChanged and does what entering the state implies
 * (answering callers, audit, the daemon hold, tearing down).  Nothing else
 * sets c->state.
 *
 * Coming up: resolve endpoint host names (GResolver), create the device and
 * start the data plane (vpn-backend.h), configure keys and peers, then MTU,
 * addresses, link up, routes and rules over netlink, then DNS (resolved).
 * Connect is answered at that point, while the state is still connecting:
 * traffic can flow and triggers the first handshake.  Peers without
 * PersistentKeepalive get one (25 s) until the first handshake, because
 * turning keepalive on is the one way to make wireguard-go initiate a
 * handshake by itself; then it is switched off again.
 *
 * Routing, as wg-quick does it: AllowedIPs become routes on the device in
 * the main table (or Table=N; none with Table=off).  A /0 (full tunnel)
 * instead goes into a table of its own, T (FwMark= if set, else the first
 * free number from 51820), with the rules
 *     not fwmark T lookup T            (everything but the tunnel's own packets)
 *     lookup main suppress_prefixlength 0   (local routes still win)
 * and wireguard-go marks its UDP socket with T, so the packets to the
 * endpoint take the main table and never loop into the tunnel, whatever the
 * endpoint's address and even when it roams.  Rules carry protocol
 * ANYD_RTPROT so leftovers of a killed anyd are found (vpn-module.c).
 *
 * Counters (RxBytes, TxBytes, LatestHandshake) are refreshed when someone
 * reads them: a read returns the last sample and, if it is over a second
 * old, asks the data plane for a new one (PropertiesChanged follows); while
 * reads keep coming (within 10 s), a 1 s timer keeps sampling.  Nobody
 * reading, nothing polled. */
#include "anyd-build-config.h"
#include "vpn-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/rtnetlink.h>

#include "audit.h"
#include "error.h"
#include "vpn-v2ray.h"

#define KICK_KEEPALIVE_S      25
#define DEFAULT_MTU           1420
#define STATS_MIN_AGE_US      (1 * G_USEC_PER_SEC)
#define STATS_WATCH_US        (10 * G_USEC_PER_SEC)
#define STATS_INTERVAL_MS     1000
#define POLL_FIRST_MS         10
#define POLL_MAX_MS           250
/* A re-adopted tunnel must have had a handshake this recently (plus the
 * longest PersistentKeepalive): WireGuard rekeys every 2 minutes while
 * traffic flows. */
#define ADOPT_HANDSHAKE_S     180

typedef enum {
  STATE_CONNECTING,
  STATE_CONNECTED,
  STATE_DISCONNECTING,
  STATE_FAILED,
  STATE_DISCONNECTED,
} State;

static const char *const state_names[] = {
  "connecting", "connected", "disconnecting", "failed", "disconnected",
};

/* A caller waiting for the connection: Connect (connect set) or Disconnect (done set). */
typedef struct {
  VpnConnectReply connect;
  GFunc           done;
  gpointer        data;
} Waiter;

/* ---- the skeleton: notices reads of the counters */

#define VPN_TYPE_CONNECTION_SKELETON (vpn_connection_skeleton_get_type ())
G_DECLARE_FINAL_TYPE (VpnConnectionSkeleton, vpn_connection_skeleton, VPN, CONNECTION_SKELETON,
                      AnydDBusVpnConnectionSkeleton)

struct _VpnConnectionSkeleton {
  AnydDBusVpnConnectionSkeleton parent;
  VpnConnection                *connection;   /* NULL once the connection is gone */
};

G_DEFINE_TYPE (VpnConnectionSkeleton, vpn_connection_skeleton, ANYD_DBUS_TYPE_VPN_CONNECTION_SKELETON)

struct _VpnConnection {
  gint                   ref_count;
  VpnContext            *ctx;         /* valid while !gone */
  const VpnBackend      *backend;
  gboolean               gone;        /* vpn_connection_free ran (the module dropped it): callbacks do nothing */
  char                  *path;
  char                  *profile_name;
  char                  *profile_path;
  VpnConfig             *config;
  State                  state;
  gboolean               held;
  AnydCaller            *caller;      /* who connected, for the audit record */
  gint64                 uid;         /* the same uid, -1: the daemon (kept across re-adoption) */
  VpnConnectionSkeleton *iface;
  AnydDBusObjectSkeleton *object;
  GCancellable          *cancellable; /* every operation of the coming-up phase */
  GList                 *connecting;  /* Waiter*: Connect calls to answer */
  GList                 *disconnecting;/* Waiter*: Disconnect calls to answer */
  char                  *reason;      /* of the disconnect */
  gboolean               tearing_down;/* teardown() runs: DNS, rules, device */
  gboolean               creating;    /* the backend is starting the data plane */
  gboolean               recorded;    /* the runtime record is on disk */
  gboolean               adopted;     /* taken over from an earlier anyd */

  char                 **endpoints;   /* resolved "ip:port" per peer, NULL entries = none */
  guint                  resolving;
  VpnTunnel             *tunnel;
  guint32                fwmark;      /* given to the data plane; 0 = none */
  guint32                policy_table;/* full tunnel: the table of the /0 routes, 0 = none */
  GArray                *rules;       /* AnydRule added */
  gboolean               dns_applied; /* resolved took every setting */
  gboolean               kicked;
  char                  *warning;     /* kept in LastError while up (DNS not applied …) */

  guint                  timeout_source;
  guint                  poll_source;
  guint                  poll_ms;
  gboolean               stats_busy;
  gint64                 last_sample;   /* monotonic µs */
  gint64                 last_read;
  guint                  watch_source;
};

static void transition (VpnConnection *c, State to, AnydError code, const char *reason);
static void refresh_stats (VpnConnection *c);
static void stats_wanted (VpnConnection *c);
static void tunnel_exited_cb (VpnTunnel *tunnel, const char *reason, gpointer user_data);

static VpnConnection *
connection_ref (VpnConnection *c)
{
  g_atomic_int_inc (&c->ref_count);
  return c;
}

static void
connection_unref (VpnConnection *c)
{
  if (c == NULL || !g_atomic_int_dec_and_test (&c->ref_count))
    return;
  g_free (c->path);
  g_free (c->profile_name);
  g_free (c->profile_path);
  vpn_config_unref (c->config);
  g_clear_pointer (&c->caller, anyd_caller_unref);
  g_clear_object (&c->cancellable);
  g_strfreev (c->endpoints);
  g_clear_pointer (&c->rules, g_array_unref);
  g_free (c->warning);
  g_free (c->reason);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpnConnection, connection_unref)

/* Reads arrive through the D-Bus vtable (Get, GetAll) and get_properties
 * (GetManagedObjects); GObject's get_property is the parent class's own. */
static GDBusInterfaceVTable connection_vtable;
static GDBusInterfaceGetPropertyFunc parent_get_property;

static GVariant *
connection_get_property (GDBusConnection *bus, const char *sender, const char *path, const char *interface,
                         const char *property, GError **error, gpointer user_data)
{
  VpnConnectionSkeleton *self = VPN_CONNECTION_SKELETON (user_data);

  if (self->connection != NULL &&
      (g_str_equal (property, "RxBytes") || g_str_equal (property, "TxBytes") ||
       g_str_equal (property, "LatestHandshake")))
    stats_wanted (self->connection);
  return parent_get_property (bus, sender, path, interface, property, error, user_data);
}

static GDBusInterfaceVTable *
connection_get_vtable (GDBusInterfaceSkeleton *skeleton)
{
  GDBusInterfaceVTable *parent =
    G_DBUS_INTERFACE_SKELETON_CLASS (vpn_connection_skeleton_parent_class)->get_vtable (skeleton);

  if (parent_get_property == NULL)
    {
      connection_vtable = *parent;
      parent_get_property = parent->get_property;
      connection_vtable.get_property = connection_get_property;
    }
  return &connection_vtable;
}

static GVariant *
connection_get_properties (GDBusInterfaceSkeleton *skeleton)
{
  VpnConnectionSkeleton *self = VPN_CONNECTION_SKELETON (skeleton);

  if (self->connection != NULL)
    stats_wanted (self->connection);
  return G_DBUS_INTERFACE_SKELETON_CLASS (vpn_connection_skeleton_parent_class)->get_properties (skeleton);
}

static void
vpn_connection_skeleton_class_init (VpnConnectionSkeletonClass *klass)
{
  GDBusInterfaceSkeletonClass *skeleton_class = G_DBUS_INTERFACE_SKELETON_CLASS (klass);

  skeleton_class->get_vtable = connection_get_vtable;
  skeleton_class->get_properties = connection_get_properties;
}

static void
vpn_connection_skeleton_init (VpnConnectionSkeleton *self)
{
}

/* ------------------------------------------------------------ helpers */

const char *
vpn_connection_get_path (VpnConnection *c)
{
  return c->path;
}

gboolean
vpn_connection_is_active (VpnConnection *c)
{
  return c->state == STATE_CONNECTING || c->state == STATE_CONNECTED;
}

const char *
vpn_connection_get_profile_name (VpnConnection *c)
{
  return c->profile_name;
}

gboolean
vpn_connection_is_failed (VpnConnection *c)
{
  return c->state == STATE_FAILED;
}

gboolean
vpn_connection_is_proxy (VpnConnection *c)
{
  return c->config->link != NULL;
}

gboolean
vpn_connection_uses_table (VpnConnection *c, guint32 t)
{
  return c->policy_table == t || c->fwmark == t;
}

static AnydDBusVpnConnection *
iface (VpnConnection *c)
{
  return ANYD_DBUS_VPN_CONNECTION (c->iface);
}

static void
stop_timers (VpnConnection *c)
{
  g_clear_handle_id (&c->timeout_source, g_source_remove);
  g_clear_handle_id (&c->poll_source, g_source_remove);
  g_clear_handle_id (&c->watch_source, g_source_remove);
}

static void
hold (VpnConnection *c, gboolean on)
{
  if (c->held == on)
    return;
  c->held = on;
  if (on)
    anyd_daemon_hold (c->ctx->daemon);
  else
    anyd_daemon_release (c->ctx->daemon);
}

/* Answer the Connect (error set) or Disconnect (error NULL) waiters of list. */
static void
answer (VpnConnection *c, GList **list, const GError *error)
{
  GList *waiters = g_steal_pointer (list);

  for (GList *l = waiters; l; l = l->next)
    {
      Waiter *w = l->data;
      if (w->connect)
        w->connect (c, error, w->data);
      else
        w->done (c, w->data);
      g_free (w);
    }
  g_list_free (waiters);
}

static GList *
add_waiter (GList *list, VpnConnectReply connect, GFunc done, gpointer data)
{
  Waiter *w = g_new0 (Waiter, 1);

  w->connect = connect;
  w->done = done;
  w->data = data;
  return g_list_append (list, w);
}

/* ------------------------------------------------------------- teardown */

static void
delete_rules (VpnConnection *c)
{
  for (guint i = 0; i < c->rules->len; i++)
    {
      g_autoptr(GError) error = NULL;
      AnydRule *r = &g_array_index (c->rules, AnydRule, i);
      if (!anyd_netlink_rule_del (c->ctx->nl, r, "rule", &error) &&
          !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        g_warning ("vpn: %s: removing a routing rule: %s", c->profile_name, error->message);
    }
  g_array_set_size (c->rules, 0);
}

static void
teardown_done (VpnConnection *c)
{
  c->tearing_down = FALSE;
  if (!c->gone && c->state == STATE_DISCONNECTING)
    transition (c, STATE_DISCONNECTED, 0, c->reason);
}

static void
destroyed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;

  if (!c->backend->destroy_finish (res, &error))
    g_warning ("vpn: %s", error->message);
  teardown_done (c);
}

/* After DNS: rules now, the device (with its addresses and routes) and the
 * data plane off the main loop. */
/* The data plane leaves the connection: Interface names it no longer (a
 * failed connection stays exported until Disconnect and must not show the
 * device of the attempt). */
static VpnTunnel *
steal_tunnel (VpnConnection *c)
{
  if (!c->gone)
    anyd_dbus_vpn_connection_set_interface (iface (c), "");
  return g_steal_pointer (&c->tunnel);
}

static void
teardown_network (VpnConnection *c)
{
  delete_rules (c);
  if (c->tunnel)
    {
      VpnTunnel *t = steal_tunnel (c);
      t->backend->destroy_async (t, destroyed_cb, connection_ref (c));
    }
  else
    teardown_done (c);
}

static void
dns_reverted_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;

  if (!vpn_resolved_revert_finish (res, &error) && !vpn_resolved_is_absent (error))
    g_message ("vpn: %s: reverting DNS: %s", c->profile_name, error->message);
  teardown_network (c);
}

/* Undo everything coming up did, in reverse: DNS, rules, device.  FALSE
 * when there is nothing (left) to undo. */
static void teardown_sync (VpnConnection *c);

static gboolean
teardown (VpnConnection *c)
{
  stop_timers (c);
  g_cancellable_cancel (c->cancellable);
  if (c->ctx->stopping)
    {
      teardown_sync (c);
      return FALSE;
    }
  if (c->tearing_down)
    return TRUE;
  if (c->creating)
    {
      /* created_cb goes on from here */
      c->tearing_down = TRUE;
      return TRUE;
    }
  if (c->tunnel == NULL && c->rules->len == 0)
    return FALSE;
  c->tearing_down = TRUE;
  if (c->dns_applied && c->tunnel)
    {
      c->dns_applied = FALSE;
      vpn_resolved_revert_async (anyd_daemon_get_connection (c->ctx->daemon), c->tunnel->ifindex, NULL,
                                 dns_reverted_cb, connection_ref (c));
    }
  else
    teardown_network (c);
  return TRUE;
}

/* Daemon stop and the table dropping a connection: the same, now. */
static void
teardown_sync (VpnConnection *c)
{
  c->tearing_down = FALSE;
  stop_timers (c);
  g_cancellable_cancel (c->cancellable);
  if (c->dns_applied && c->tunnel)
    vpn_resolved_revert_sync (anyd_daemon_get_connection (c->ctx->daemon), c->tunnel->ifindex);
  c->dns_applied = FALSE;
  delete_rules (c);
  if (c->tunnel)
    {
      VpnTunnel *t = steal_tunnel (c);
      t->backend->destroy (t);
    }
}

/* ------------------------------------------------------- runtime record */

static gboolean has_endpoint (const VpnConfig *config);

static guint32
max_keepalive (const VpnConfig *config)
{
  guint32 m = 0;

  for (guint i = 0; i < config->peers->len; i++)
    m = MAX (m, ((VpnPeer *) config->peers->pdata[i])->persistent_keepalive);
  return m;
}

/* What the next anyd needs to check and take over (or remove) this tunnel. */
static void
record_save (VpnConnection *c)
{
  g_autoptr(VpnRuntime) rt = vpn_runtime_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) routes = NULL;

  /* a proxy connection is not taken over by the next anyd: its start-up
   * sweep removes the unit, table, rules and routes instead */
  if (c->tunnel == NULL || c->gone || c->config->link != NULL)
    return;
  rt->profile = g_strdup (c->profile_name);
  rt->profile_hash = vpn_config_hash (c->config);
  rt->object = (guint) g_ascii_strtoull (strrchr (c->path, '/') + 1, NULL, 10);
  rt->ifname = g_strdup (c->tunnel->ifname);
  rt->ifindex = c->tunnel->ifindex;
  rt->unit = g_strdup (c->tunnel->unit);
  rt->invocation_id = g_strdup (c->tunnel->invocation_id);
  rt->uapi_path = g_strdup (c->tunnel->uapi_path);
  rt->fwmark = c->fwmark;
  rt->policy_table = c->policy_table;
  g_array_append_vals (rt->rules, c->rules->data, c->rules->len);
  routes = anyd_netlink_route_list (c->ctx->nl, c->tunnel->ifindex, &error);
  for (guint i = 0; routes && routes[i]; i++)
    g_ptr_array_add (rt->routes, g_strdup (routes[i]));
  for (guint i = 0; i < c->config->dns_servers->len; i++)
    g_ptr_array_add (rt->dns_servers, g_strdup (c->config->dns_servers->pdata[i]));
  for (guint i = 0; i < c->config->dns_search->len; i++)
    g_ptr_array_add (rt->dns_search, g_strdup (c->config->dns_search->pdata[i]));
  rt->dns_applied = c->dns_applied;
  rt->kicked = c->kicked;
  rt->has_endpoint = has_endpoint (c->config);
  rt->max_keepalive = max_keepalive (c->config);
  rt->since = anyd_dbus_vpn_connection_get_since (iface (c));
  rt->uid = c->uid;
  if (routes == NULL || !vpn_runtime_save (c->ctx->runtime_dir, rt, &error))
    g_warning ("vpn: %s: runtime record: %s (the connection will not survive an anyd restart)",
               c->profile_name, error->message);
  else
    c->recorded = TRUE;
}

static void
record_remove (VpnConnection *c)
{
  g_autoptr(GError) error = NULL;

  if (!c->recorded)
    return;
  c->recorded = FALSE;
  if (!vpn_runtime_remove (c->ctx->runtime_dir, c->profile_name, &error))
    g_warning ("vpn: %s: %s", c->profile_name, error->message);
}

/* ----------------------------------------------------------- transitions */

/* The one place a connection changes state: publish it, then do what
 * entering it means.  code and reason: why (failed: the error). */
static void
transition (VpnConnection *c, State to, AnydError code, const char *reason)
{
  g_autoptr(VpnConnection) self = connection_ref (c);   /* DISCONNECTED may drop the table's */
  g_autoptr(GError) error = NULL;

  if (c->gone || c->state == to)
    return;
  c->state = to;
  anyd_dbus_vpn_connection_set_state (iface (c), state_names[to]);
  anyd_dbus_vpn_connection_set_since (iface (c), (guint64) g_get_real_time ());
  if (to == STATE_FAILED)
    anyd_dbus_vpn_connection_set_last_error (iface (c), reason);
  g_debug ("vpn: %s: %s%s%s", c->profile_name, state_names[to], reason && *reason ? ": " : "",
           reason ? reason : "");
  anyd_dbus_vpn_connection_emit_state_changed (iface (c), state_names[to], reason ? reason : "");

  switch (to)
    {
    case STATE_CONNECTING:
      hold (c, TRUE);
      break;

    case STATE_CONNECTED:
      g_clear_handle_id (&c->timeout_source, g_source_remove);
      g_clear_handle_id (&c->poll_source, g_source_remove);
      /* a taken-over connection is audited as vpn.adopt by the module */
      if (!c->adopted)
        anyd_audit_action (c->caller, "vpn.connect", c->path, NULL, "profile=%s state=connected", c->profile_name);
      if (c->kicked)
        {
          c->kicked = FALSE;
          c->backend->unkick_async (c->tunnel, c->config, c->cancellable, NULL, NULL);
        }
      record_save (c);
      /* the data plane no longer needs anyd: it may exit when idle and re-adopt
       * (a proxy is not re-adopted: anyd stays) */
      hold (c, !c->ctx->keep_on_exit || c->config->link != NULL);
      break;

    case STATE_FAILED:
      error = g_error_new_literal (ANYD_ERROR, code, reason);
      g_message ("vpn: %s failed: %s", c->profile_name, reason);
      anyd_audit_action (c->caller, "vpn.connect", c->path, error, "profile=%s", c->profile_name);
      answer (c, &c->connecting, error);
      record_remove (c);
      if (c->config->link != NULL && c->tunnel != NULL && !c->tearing_down)
        {
          /* a proxy that died keeps its rules: traffic is blocked, not
           * leaked, until Disconnect (or a new Connect) takes them away */
          stop_timers (c);
          g_cancellable_cancel (c->cancellable);
          vpn_v2ray_block (c->tunnel);
        }
      else
        teardown (c);
      hold (c, FALSE);
      break;

    case STATE_DISCONNECTING:
      hold (c, TRUE);
      if (c->connecting)
        {
          error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "VPN profile '%s' was disconnected while coming up",
                               c->profile_name);
          answer (c, &c->connecting, error);
        }
      if (!teardown (c))
        transition (c, STATE_DISCONNECTED, 0, reason);
      break;

    case STATE_DISCONNECTED:
      hold (c, FALSE);
      record_remove (c);
      anyd_audit_action (c->caller, "vpn.disconnect", c->path, NULL, "profile=%s reason=%s", c->profile_name,
                         reason && *reason ? reason : "request");
      answer (c, &c->disconnecting, NULL);
      /* the module drops it from its table (unexported, freed) unless it is
       * stopping (it frees the table next) */
      c->ctx->hooks->connection_gone (c, c->ctx->hooks_data);
      break;
    }
}

void
vpn_connection_disconnect (VpnConnection *c, const AnydCaller *caller, const char *reason,
                           GFunc done, gpointer user_data)
{
  if (done)
    c->disconnecting = add_waiter (c->disconnecting, NULL, done, user_data);
  if (c->state == STATE_DISCONNECTING)
    return;
  if (caller)
    {
      g_clear_pointer (&c->caller, anyd_caller_unref);
      c->caller = anyd_caller_ref ((AnydCaller *) caller);
    }
  g_free (c->reason);
  c->reason = g_strdup (reason ? reason : "");
  transition (c, STATE_DISCONNECTING, 0, c->reason);
}

/* Daemon stop (ctx->stopping): kept, or the same transitions done at once. */
void
vpn_connection_shutdown (VpnConnection *c, gboolean keep)
{
  if (c->gone)
    return;
  if (keep && c->recorded && c->config->link == NULL && c->tunnel != NULL && !c->tearing_down && vpn_connection_is_active (c))
    {
      /* device, rules, DNS, unit and record stay for the next anyd */
      stop_timers (c);
      g_cancellable_cancel (c->cancellable);
      c->backend->release (g_steal_pointer (&c->tunnel));
      g_array_set_size (c->rules, 0);
      c->dns_applied = FALSE;
      hold (c, FALSE);
      g_message ("vpn: %s stays up while anyd is away (%s)", c->profile_name, state_names[c->state]);
      return;
    }
  if (c->state != STATE_DISCONNECTING)
    vpn_connection_disconnect (c, NULL, "anyd is stopping", NULL, NULL);
  else
    {
      /* a teardown in flight: finish it here */
      teardown_sync (c);
      transition (c, STATE_DISCONNECTED, 0, c->reason);
    }
}

/* Called by the module's table when the connection is removed. */
void
vpn_connection_free (VpnConnection *c)
{
  if (c == NULL)
    return;
  if (!c->gone)
    {
      teardown_sync (c);
      hold (c, FALSE);
      c->gone = TRUE;
      c->iface->connection = NULL;
      g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (c->ctx->daemon), c->path);
      g_signal_handlers_disconnect_by_data (c->iface, c);
      g_clear_object (&c->object);
      g_clear_object (&c->iface);
    }
  connection_unref (c);
}

/* ------------------------------------------------------------- counters */

static void
stats_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;
  VpnUapiStats stats;
  gboolean ok;

  c->stats_busy = FALSE;
  if (c->gone || c->tunnel == NULL)
    return;
  ok = c->tunnel->backend->stats_finish (c->tunnel, res, &stats, &error);
  if (!ok)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("vpn: %s: reading counters: %s", c->profile_name, error->message);
      return;
    }
  c->last_sample = g_get_monotonic_time ();
  anyd_dbus_vpn_connection_set_rx_bytes (iface (c), stats.rx_bytes);
  anyd_dbus_vpn_connection_set_tx_bytes (iface (c), stats.tx_bytes);
  anyd_dbus_vpn_connection_set_latest_handshake (iface (c), stats.latest_handshake);
  if (c->state == STATE_CONNECTING && stats.latest_handshake > 0 && c->connecting == NULL)
    transition (c, STATE_CONNECTED, 0, "");
}

static void
refresh_stats (VpnConnection *c)
{
  if (c->gone || c->tunnel == NULL || c->stats_busy)
    return;
  c->stats_busy = TRUE;
  c->tunnel->backend->stats_async (c->tunnel, c->cancellable, stats_cb, connection_ref (c));
}

static gboolean
watch_tick_cb (gpointer data)
{
  VpnConnection *c = data;

  if (g_get_monotonic_time () - c->last_read > STATS_WATCH_US)
    {
      c->watch_source = 0;
      return G_SOURCE_REMOVE;
    }
  refresh_stats (c);
  return G_SOURCE_CONTINUE;
}

static void
stats_wanted (VpnConnection *c)
{
  if (c->gone || c->tunnel == NULL || c->state != STATE_CONNECTED)
    return;
  c->last_read = g_get_monotonic_time ();
  if (c->last_read - c->last_sample > STATS_MIN_AGE_US)
    refresh_stats (c);
  if (c->watch_source == 0)
    c->watch_source = g_timeout_add (STATS_INTERVAL_MS, watch_tick_cb, c);
}

/* While connecting: look for the first handshake, quickly at first. */
static gboolean
poll_cb (gpointer data)
{
  VpnConnection *c = data;

  refresh_stats (c);
  c->poll_ms = MIN (c->poll_ms * 2, POLL_MAX_MS);
  c->poll_source = g_timeout_add (c->poll_ms, poll_cb, c);
  return G_SOURCE_REMOVE;
}

static gboolean
timeout_cb (gpointer data)
{
  VpnConnection *c = data;
  g_autofree char *reason = NULL;
  guint timeout = anyd_config_get_uint (anyd_daemon_get_config (c->ctx->daemon), "vpn", "handshake_timeout_s");

  c->timeout_source = 0;
  reason = g_strdup_printf ("no handshake with the peer within %u s (is the endpoint reachable, "
                            "and are the keys right?)", timeout);
  transition (c, STATE_FAILED, ANYD_ERROR_TIMEOUT, reason);
  return G_SOURCE_REMOVE;
}

/* --------------------------------------------------------------- coming up */

static void
tunnel_exited_cb (VpnTunnel *tunnel, const char *reason, gpointer user_data)
{
  VpnConnection *c = user_data;

  /* the tunnel holds no reference: destroy or release (in every end) comes first */
  if (c != NULL)
    transition (c, STATE_FAILED, ANYD_ERROR_FAILED, reason);
}

static gboolean
has_endpoint (const VpnConfig *config)
{
  for (guint i = 0; i < config->peers->len; i++)
    if (((VpnPeer *) config->peers->pdata[i])->endpoint_host != NULL)
      return TRUE;
  return FALSE;
}

static void
up_done (VpnConnection *c)
{
  guint timeout = anyd_config_get_uint (anyd_daemon_get_config (c->ctx->daemon), "vpn", "handshake_timeout_s");

  anyd_dbus_vpn_connection_set_last_error (iface (c), c->warning ? c->warning : "");
  anyd_audit_action (c->caller, "vpn.connect", c->path, NULL, "profile=%s interface=%s", c->profile_name,
                     c->tunnel->ifname);
  answer (c, &c->connecting, NULL);
  record_save (c);
  if (!has_endpoint (c->config))
    {
      /* nothing to call: the peers call us */
      transition (c, STATE_CONNECTED, 0, "");
      return;
    }
  c->poll_ms = POLL_FIRST_MS;
  c->poll_source = g_timeout_add (c->poll_ms, poll_cb, c);
  c->timeout_source = g_timeout_add_seconds (timeout ? timeout : 1, timeout_cb, c);
}

static void
dns_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;

  if (c->gone || c->state != STATE_CONNECTING || g_cancellable_is_cancelled (c->cancellable))
    return;
  if (!vpn_resolved_apply_finish (res, &error))
    {
      if (vpn_resolved_is_absent (error))
        c->warning = g_strdup ("DNS not applied: systemd-resolved (org.freedesktop.resolve1) is not running; "
                               "the tunnel is up without its DNS settings");
      else
        c->warning = g_strdup_printf ("DNS not applied: %s", error->message);
      /* what resolved did take (SetLinkDNS before a failed SetLinkDomains)
       * goes with the link: nothing to revert */
      g_warning ("vpn: %s: %s", c->profile_name, c->warning);
    }
  else
    c->dns_applied = TRUE;
  up_done (c);
}

static void
start_dns (VpnConnection *c)
{
  VpnDnsSettings dns = {
    .servers = c->config->dns_servers,
    .search = c->config->dns_search,
    .route_all = c->config->table_mode == VPN_TABLE_AUTO &&
                 (vpn_config_is_full_tunnel (c->config, AF_INET) ||
                  vpn_config_is_full_tunnel (c->config, AF_INET6)),
  };

  if (dns.servers->len == 0 && dns.search->len == 0)
    {
      up_done (c);
      return;
    }
  dns.route_all = dns.route_all && dns.servers->len > 0;
  vpn_resolved_apply_async (anyd_daemon_get_connection (c->ctx->daemon), c->tunnel->ifindex, &dns,
                            c->cancellable, dns_done_cb, connection_ref (c));
}

/* wg-quick sets this for its fwmark rule to pass reverse-path filtering. */
static void
enable_src_valid_mark (VpnConnection *c)
{
  const char *path = "/proc/sys/net/ipv4/conf/all/src_valid_mark";
  char v = 0;
  int fd = open (path, O_RDWR | O_CLOEXEC);

  if (fd >= 0 && read (fd, &v, 1) == 1 && v == '1')
    {
      close (fd);
      return;
    }
  if (fd < 0 || pwrite (fd, "1", 1, 0) != 1)
    g_message ("vpn: %s: could not set net.ipv4.conf.all.src_valid_mark=1 (%s); with strict "
               "reverse-path filtering the full tunnel may drop replies", c->profile_name, g_strerror (errno));
  if (fd >= 0)
    close (fd);
}

static gboolean
route_is_prefix_route (VpnConnection *c, const AnydCidr *dst)
{
  for (guint i = 0; i < c->config->addresses->len; i++)
    {
      AnydCidr net = g_array_index (c->config->addresses, AnydCidr, i);
      vpn_cidr_mask (&net);
      if (vpn_cidr_equal (&net, dst))
        return TRUE;
    }
  return FALSE;
}

static gboolean
add_rule (VpnConnection *c, int family, guint32 table, guint32 fwmark, gboolean invert, gint suppress,
          GError **error)
{
  AnydRule r = ANYD_RULE_INIT;

  r.family = family;
  r.table = table;
  r.fwmark = fwmark;
  r.invert = invert;
  r.suppress_prefixlen = suppress;
  if (!anyd_netlink_rule_add (c->ctx->nl, &r, "routing rule", error))
    return FALSE;
  g_array_append_val (c->rules, r);
  return TRUE;
}

/* Everything netlink: quick synchronous requests on the shared socket. */
static gboolean
setup_network (VpnConnection *c, GError **error)
{
  VpnConfig *cfg = c->config;
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;
  int ifindex = c->tunnel->ifindex;
  gboolean policy[2] = { FALSE, FALSE };

  /* wireguard-go set its own MTU when it started; ours comes after */
  ch.mtu = cfg->mtu ? cfg->mtu : DEFAULT_MTU;
  if (!anyd_netlink_link_change (c->ctx->nl, ifindex, &ch, error))
    return FALSE;
  for (guint i = 0; i < cfg->addresses->len; i++)
    {
      g_autofree char *field = g_strdup_printf ("Address[%u]", i);
      if (!anyd_netlink_addr_add (c->ctx->nl, ifindex, &g_array_index (cfg->addresses, AnydCidr, i),
                                  field, error))
        return FALSE;
    }
  if (!anyd_netlink_link_set_up (c->ctx->nl, ifindex, TRUE, error))
    return FALSE;

  for (guint p = 0; cfg->table_mode != VPN_TABLE_OFF && p < cfg->peers->len; p++)
    {
      VpnPeer *peer = cfg->peers->pdata[p];
      for (guint i = 0; i < peer->allowed_ips->len; i++)
        {
          AnydRoute route = { 0 };
          g_autoptr(GError) local = NULL;
          g_autofree char *text = NULL;

          route.dst = g_array_index (peer->allowed_ips, AnydCidr, i);
          if (cfg->table_mode == VPN_TABLE_ID)
            route.table = cfg->table;
          else if (route.dst.prefix == 0)
            {
              route.table = c->policy_table;
              policy[route.dst.family == AF_INET6] = TRUE;
            }
          text = anyd_cidr_to_string (&route.dst);
          if (anyd_netlink_route_add (c->ctx->nl, ifindex, &route, "AllowedIPs", &local))
            continue;
          /* the kernel's prefix route of an Address is the same route */
          if (g_error_matches (local, ANYD_ERROR, ANYD_ERROR_EXISTS) && route.table == 0 &&
              route_is_prefix_route (c, &route.dst))
            continue;
          if (g_error_matches (local, ANYD_ERROR, ANYD_ERROR_EXISTS))
            g_set_error (error, ANYD_ERROR, ANYD_ERROR_EXISTS,
                         "AllowedIPs: a route to %s already exists; another interface routes it", text);
          else
            g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }

  for (int f = 0; f < 2; f++)
    {
      int family = f ? AF_INET6 : AF_INET;
      if (!policy[f])
        continue;
      if (!add_rule (c, family, c->policy_table, c->fwmark, TRUE, -1, error) ||
          !add_rule (c, family, RT_TABLE_MAIN, 0, FALSE, 0, error))
        return FALSE;
      if (family == AF_INET)
        enable_src_valid_mark (c);
    }
  return TRUE;
}

static void
configure_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;

  if (c->gone || c->state != STATE_CONNECTING || c->tunnel == NULL)
    return;
  if (!c->tunnel->backend->configure_finish (c->tunnel, res, &error) ||
      !setup_network (c, &error))
    {
      transition (c, STATE_FAILED, error->domain == ANYD_ERROR ? (AnydError) error->code : ANYD_ERROR_FAILED,
                  error->message);
      return;
    }
  start_dns (c);
}

/* A free table/mark for a full tunnel: not used by any rule, ours or not. */
static guint32
pick_table (VpnConnection *c, GError **error)
{
  g_autoptr(GArray) rules = anyd_netlink_rule_list (c->ctx->nl, FALSE, error);

  if (rules == NULL)
    return 0;
  for (guint32 t = VPN_TABLE_BASE; t < VPN_TABLE_BASE + 1000; t++)
    {
      gboolean used = FALSE;
      for (guint i = 0; i < rules->len && !used; i++)
        {
          AnydRule *r = &g_array_index (rules, AnydRule, i);
          used = r->table == t || r->fwmark == t;
        }
      used = used || c->ctx->hooks->table_in_use (t, c->ctx->hooks_data);
      if (!used)
        return t;
    }
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_BUSY, "no free routing table from %d on", VPN_TABLE_BASE);
  return 0;
}

static char *
choose_ifname (const char *profile)
{
  if (strlen (profile) < IFNAMSIZ && anyd_ifname_check (profile, NULL, NULL))
    return g_strdup (profile);
  return g_strdup ("vpn%d");
}

static void
created_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;
  VpnTunnel *t = c->backend->create_finish (res, &error);

  c->creating = FALSE;
  if (t != NULL && c->gone)
    {
      t->backend->destroy_async (t, NULL, NULL);
      return;
    }
  if (t != NULL)
    {
      c->tunnel = t;
      anyd_dbus_vpn_connection_set_interface (iface (c), t->ifname);
    }
  if (c->gone)
    return;
  if (c->tearing_down)
    {
      /* Disconnect or a failure came while the unit was starting */
      c->tearing_down = FALSE;
      if (!teardown (c))
        teardown_done (c);
      return;
    }
  if (t == NULL)
    {
      transition (c, STATE_FAILED, error->domain == ANYD_ERROR ? (AnydError) error->code : ANYD_ERROR_FAILED,
                  error->message);
      return;
    }
  if (c->config->link != NULL)
    {
      /* the proxy is up and its rules are in: nothing more to configure */
      up_done (c);
      return;
    }
  c->kicked = TRUE;
  c->backend->configure_async (c->tunnel, c->config, c->fwmark, (const char *const *) c->endpoints,
                               KICK_KEEPALIVE_S, c->cancellable, configure_cb, connection_ref (c));
}

static void
start_data_plane (VpnConnection *c)
{
  VpnContext *ctx = c->ctx;
  g_autoptr(GError) error = NULL;
  g_autofree char *ifname = choose_ifname (c->profile_name);
  g_autofree char *unit = vpn_unit_name (c->profile_name);

  if (c->config->link != NULL)
    {
      g_autofree char *dir = g_build_filename (ctx->runtime_dir, "v2ray", NULL);
      c->creating = TRUE;
      vpn_v2ray_create_async (&ctx->env, dir, c->profile_name, c->config->link, c->endpoints[0], unit,
                              tunnel_exited_cb, c, created_cb, connection_ref (c));
      return;
    }
  {
  g_autofree char *mark = g_strdup_printf (VPN_MARK " %s", c->profile_name);
  gboolean full = c->config->table_mode == VPN_TABLE_AUTO &&
                  (vpn_config_is_full_tunnel (c->config, AF_INET) ||
                   vpn_config_is_full_tunnel (c->config, AF_INET6));

  c->fwmark = c->config->fwmark;
  if (full)
    {
      c->policy_table = c->fwmark ? c->fwmark : pick_table (c, &error);
      if (c->policy_table == 0)
        {
          transition (c, STATE_FAILED, ANYD_ERROR_FAILED, error->message);
          return;
        }
      c->fwmark = c->policy_table;
    }
  c->creating = TRUE;
  ctx->backend->create_async (&ctx->env, ifname, mark, unit, tunnel_exited_cb, c, created_cb,
                                 connection_ref (c));
  }
}

static char *
endpoint_text (GInetAddress *addr, guint16 port)
{
  g_autofree char *ip = g_inet_address_to_string (addr);

  if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
    return g_strdup_printf ("[%s]:%u", ip, port);
  return g_strdup_printf ("%s:%u", ip, port);
}

typedef struct {
  VpnConnection *c;
  guint          peer;
} Resolve;

static void
resolve_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Resolve *r = user_data;
  g_autoptr(VpnConnection) c = r->c;
  guint peer = r->peer;
  g_autoptr(GError) error = NULL;
  GList *addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);
  VpnPeer *p = c->config->peers->pdata[peer];

  g_free (r);
  c->resolving--;
  if (c->gone || c->state != STATE_CONNECTING)
    {
      g_resolver_free_addresses (addrs);
      return;
    }
  if (addrs == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("Endpoint %s of peer %u: %s", p->endpoint_host, peer + 1,
                                                 error->message);
      transition (c, STATE_FAILED, ANYD_ERROR_FAILED, reason);
      return;
    }
  c->endpoints[peer] = endpoint_text (addrs->data, p->endpoint_port);
  g_resolver_free_addresses (addrs);
  if (c->resolving == 0)
    start_data_plane (c);
}

/* The proxy server's name, resolved once before any rule goes in: v2ray
 * then dials that address (the name stays for TLS and the Host header),
 * and the rules send it direct. */
static void
server_resolved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(VpnConnection) c = user_data;
  g_autoptr(GError) error = NULL;
  GList *addrs = g_resolver_lookup_by_name_finish (G_RESOLVER (source), res, &error);

  c->resolving--;
  if (c->gone || c->state != STATE_CONNECTING)
    {
      g_resolver_free_addresses (addrs);
      return;
    }
  if (addrs == NULL)
    {
      g_autofree char *reason = g_strdup_printf ("proxy server %s: %s", c->config->link->host, error->message);
      transition (c, STATE_FAILED, ANYD_ERROR_FAILED, reason);
      return;
    }
  c->endpoints[0] = g_inet_address_to_string (addrs->data);
  g_resolver_free_addresses (addrs);
  start_data_plane (c);
}

static void
resolve_server (VpnConnection *c)
{
  g_autoptr(GInetAddress) literal = g_inet_address_new_from_string (c->config->link->host);
  g_autoptr(GResolver) resolver = NULL;

  c->endpoints = g_new0 (char *, 2);
  if (literal != NULL)
    {
      c->endpoints[0] = g_inet_address_to_string (literal);
      start_data_plane (c);
      return;
    }
  resolver = g_resolver_get_default ();
  c->resolving++;
  g_resolver_lookup_by_name_async (resolver, c->config->link->host, c->cancellable, server_resolved_cb,
                                   connection_ref (c));
}

static void
resolve_endpoints (VpnConnection *c)
{
  g_autoptr(GResolver) resolver = NULL;
  guint n = c->config->peers->len;

  if (c->config->link != NULL)
    {
      resolve_server (c);
      return;
    }

  c->endpoints = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    {
      VpnPeer *p = c->config->peers->pdata[i];
      g_autoptr(GInetAddress) literal = NULL;
      Resolve *r;

      if (p->endpoint_host == NULL)
        continue;
      literal = g_inet_address_new_from_string (p->endpoint_host);
      if (literal != NULL)
        {
          c->endpoints[i] = endpoint_text (literal, p->endpoint_port);
          continue;
        }
      if (resolver == NULL)
        resolver = g_resolver_get_default ();
      r = g_new0 (Resolve, 1);
      r->c = connection_ref (c);
      r->peer = i;
      c->resolving++;
      g_resolver_lookup_by_name_async (resolver, p->endpoint_host, c->cancellable, resolve_cb, r);
    }
  if (c->resolving == 0)
    start_data_plane (c);
}

void
vpn_connect_reply_invocation (VpnConnection *connection, const GError *error, gpointer invocation)
{
  if (error != NULL)
    anyd_invocation_return_error (invocation, g_error_copy (error));
  else   /* Vpn.Connect and VpnProfile.Connect both answer (o) */
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", vpn_connection_get_path (connection)));
}

static void
disconnect_done_cb (gpointer connection, gpointer user_data)
{
  anyd_dbus_vpn_connection_complete_disconnect (NULL, user_data);
}

static gboolean
handle_disconnect (AnydDBusVpnConnection *object, GDBusMethodInvocation *invocation, gpointer user_data)
{
  vpn_connection_disconnect (user_data, anyd_caller_from_invocation (invocation), "", disconnect_done_cb,
                             invocation);
  return TRUE;
}

VpnConnection *
vpn_connection_new (VpnContext *ctx, const char *profile_name, const char *profile_path, VpnConfig *config,
                    const AnydCaller *caller, guint number)
{
  VpnConnection *c = g_new0 (VpnConnection, 1);
  g_auto(GStrv) addrs = NULL;

  c->ref_count = 1;
  c->ctx = ctx;
  c->backend = config->link ? &vpn_backend_v2ray : ctx->backend;
  c->path = g_strdup_printf (VPN_CONNECTIONS_PATH "/%u", number);
  c->profile_name = g_strdup (profile_name);
  c->profile_path = g_strdup (profile_path);
  c->config = vpn_config_ref (config);
  c->caller = caller ? anyd_caller_ref ((AnydCaller *) caller) : NULL;
  c->uid = caller ? (gint64) caller->uid : -1;
  c->cancellable = g_cancellable_new ();
  c->rules = g_array_new (FALSE, FALSE, sizeof (AnydRule));
  c->state = STATE_DISCONNECTED;   /* until the first transition */

  c->iface = g_object_new (VPN_TYPE_CONNECTION_SKELETON, NULL);
  c->iface->connection = c;
  g_object_set_data_full (G_OBJECT (c->iface), "vpn-profile", g_strdup (profile_name), g_free);
  addrs = vpn_config_addresses_strv (c->config);
  anyd_dbus_vpn_connection_set_profile (iface (c), profile_path);
  anyd_dbus_vpn_connection_set_interface (iface (c), "");
  anyd_dbus_vpn_connection_set_addresses (iface (c), (const char *const *) addrs);
  anyd_dbus_vpn_connection_set_last_error (iface (c), "");
  anyd_auth_guard (anyd_daemon_get_auth (ctx->daemon), G_DBUS_INTERFACE_SKELETON (c->iface),
                   vpn_details_from_object, NULL);
  g_signal_connect (c->iface, "handle-disconnect", G_CALLBACK (handle_disconnect), c);
  c->object = anyd_dbus_object_skeleton_new (c->path);
  anyd_dbus_object_skeleton_set_vpn_connection (c->object, iface (c));
  return c;
}

/* Onto the bus (the module put it in its table). */
static void
connection_export (VpnConnection *c)
{
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (c->ctx->daemon),
                                       G_DBUS_OBJECT_SKELETON (c->object));
}

void
vpn_connection_start (VpnConnection *c, VpnConnectReply reply, gpointer user_data)
{
  c->connecting = add_waiter (NULL, reply, NULL, user_data);
  connection_export (c);
  transition (c, STATE_CONNECTING, 0, "");
  resolve_endpoints (c);
}


/* ------------------------------------------------------------ re-adoption */

typedef struct {
  VpnContext    *ctx;
  VpnRuntime    *rt;       /* the caller's, valid until reply */
  VpnAdoptReply  reply;
  gpointer       data;
} Adopt;

/* Rules and routes the record names are still there; priorities from the kernel. */
static gboolean
network_checks_out (VpnContext *ctx, VpnRuntime *rt, GError **error)
{
  g_autoptr(GArray) rules = anyd_netlink_rule_list (ctx->nl, TRUE, error);
  g_auto(GStrv) routes = NULL;

  if (rules == NULL)
    return FALSE;
  for (guint i = 0; i < rt->rules->len; i++)
    {
      AnydRule *want = &g_array_index (rt->rules, AnydRule, i);
      gboolean found = FALSE;
      for (guint j = 0; j < rules->len && !found; j++)
        {
          AnydRule *r = &g_array_index (rules, AnydRule, j);
          /* listed rules lack invert and suppress_prefixlength (libnl) */
          found = r->family == want->family && r->table == want->table && r->fwmark == want->fwmark;
          if (found)
            want->priority = r->priority;
        }
      if (!found)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "a routing rule to table %u is gone", want->table);
          return FALSE;
        }
    }
  routes = anyd_netlink_route_list (ctx->nl, rt->ifindex, error);
  if (routes == NULL)
    return FALSE;
  for (guint i = 0; i < rt->routes->len; i++)
    if (!g_strv_contains ((const char *const *) routes, rt->routes->pdata[i]))
      {
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "the route %s is gone", (char *) rt->routes->pdata[i]);
        return FALSE;
      }
  return TRUE;
}

static void
adopted_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree Adopt *a = user_data;
  VpnContext *ctx = a->ctx;
  VpnRuntime *rt = a->rt;
  g_autoptr(GError) error = NULL;
  VpnUapiStats stats = { 0 };
  VpnTunnel *t = ctx->backend->adopt_finish (res, &stats, &error);
  gint64 now = g_get_real_time ();

  if (ctx->stopping)
    {
      /* the daemon stops while checking: everything stays as it was */
      if (t)
        t->backend->release (t);
      g_clear_error (&error);
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping");
      a->reply (NULL, NULL, error, a->data);
      return;
    }
  if (t != NULL && rt->has_endpoint &&
      (stats.latest_handshake == 0 ||
       now - (gint64) stats.latest_handshake > (ADOPT_HANDSHAKE_S + (gint64) rt->max_keepalive) * G_USEC_PER_SEC))
    g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "no handshake with the peer for %s",
                 stats.latest_handshake ? "over 3 minutes" : "ever");
  if (error == NULL && !network_checks_out (ctx, rt, &error))
    g_prefix_error (&error, "%s: ", rt->ifname);
  if (error != NULL)
    {
      if (t)
        t->backend->release (t);
      a->reply (NULL, NULL, error, a->data);
      return;
    }
  a->reply (t, &stats, NULL, a->data);
}

void
vpn_connection_resume (VpnConnection *c, const VpnRuntime *rt, VpnTunnel *t, const VpnUapiStats *stats)
{
  c->uid = rt->uid;
  c->tunnel = t;
  c->fwmark = rt->fwmark;
  c->policy_table = rt->policy_table;
  g_array_append_vals (c->rules, rt->rules->data, rt->rules->len);
  c->dns_applied = rt->dns_applied;
  c->kicked = rt->kicked;
  c->recorded = TRUE;
  c->adopted = TRUE;
  /* the data plane's end is this connection's from now on */
  t->exited_data = c;
  anyd_dbus_vpn_connection_set_interface (iface (c), t->ifname);
  anyd_dbus_vpn_connection_set_rx_bytes (iface (c), stats->rx_bytes);
  anyd_dbus_vpn_connection_set_tx_bytes (iface (c), stats->tx_bytes);
  anyd_dbus_vpn_connection_set_latest_handshake (iface (c), stats->latest_handshake);
  c->last_sample = g_get_monotonic_time ();
  connection_export (c);
  transition (c, STATE_CONNECTED, 0, "re-adopted after anyd restarted");
  /* connected since it first was, not since this anyd took it over */
  anyd_dbus_vpn_connection_set_since (iface (c), rt->since);
  record_save (c);
}

void
vpn_connection_adopt (VpnContext *ctx, VpnRuntime *rt, VpnAdoptReply reply, gpointer user_data)
{
  Adopt *a = g_new0 (Adopt, 1);
  g_autofree char *mark = g_strdup_printf (VPN_MARK " %s", rt->profile);

  a->ctx = ctx;
  a->rt = rt;
  a->reply = reply;
  a->data = user_data;
  ctx->backend->adopt_async (&ctx->env, rt->ifname, rt->ifindex, mark, rt->unit, rt->invocation_id,
                             tunnel_exited_cb, NULL, adopted_cb, a);
}
