/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vpn module's shared types.
 *   vpn-module.c      org.anyd1.Vpn, lifecycle, reconciliation, autoconnect; the
 *                     books (profiles, connections, quotas, claims): its struct is its own
 *   vpn-profile.c     profile records on disk + org.anyd1.VpnProfile objects
 *   vpn-connection.c  org.anyd1.VpnConnection: state machine, routing, DNS, counters
 *   vpn-resolved.c    systemd-resolved's per-link DNS over D-Bus
 *   vpn-runtime.c     the runtime record a live connection keeps for the next anyd
 *   vpn-config.c      wg-quick parser; vpn-uapi.c UAPI protocol; vpn-wggo.c data plane (units)
 *   vpn-link.c        v2ray profiles: share links and subscriptions
 *   vpn-v2ray-config.c  the v2ray config and the nftables table of a proxy connection
 *   vpn-v2ray.c       the proxy data plane: v2ray as a unit, TPROXY rules (service/nft.c)
 * Profiles and connections get a VpnContext (shared services) and tell the
 * module what it must book through its VpnHooks: they never call into it. */
#pragma once

#include "daemon.h"
#include "names.h"
#include "netlink.h"
#include "anyd-dbus.h"
#include "vpn-backend.h"
#include "vpn-config.h"
#include "vpn-runtime.h"
#include "systemd.h"

G_BEGIN_DECLS

#define VPN_PATH             ANYD_DBUS_PATH "/vpn"
#define VPN_PROFILES_PATH    VPN_PATH "/profiles"
#define VPN_CONNECTIONS_PATH VPN_PATH "/connections"
#define ANYD_ACTION_VPN_CONNECT "org.anyd1.vpn.connect"
#define ANYD_ACTION_VPN_MANAGE  "org.anyd1.vpn.manage"
/* IFLA_IFALIAS of every device the module created: "anyd:vpn:1 <profile>". */
#define VPN_MARK             "anyd:vpn:1"
/* wg-quick's first policy routing table / fwmark for full tunnels. */
#define VPN_TABLE_BASE       51820

typedef struct _VpnProfile VpnProfile;
typedef struct _VpnConnection VpnConnection;
typedef struct _VpnContext VpnContext;

typedef void (*VpnConnectReply) (VpnConnection *connection, const GError *error, gpointer user_data);

/* What profiles and connections tell the module, which keeps the books
 * (its tables, quotas, re-adoption claims); they know nothing else of it. */
typedef struct {
  /* VpnProfile.Connect passed the gate: connect the profile, answer the call */
  void     (*connect_requested) (VpnProfile *profile, GDBusMethodInvocation *invocation, gpointer data);
  /* VpnProfile.Delete removed the record: drop the profile (it is freed) */
  void     (*profile_deleted) (VpnProfile *profile, gpointer data);
  /* The connection reached disconnected: drop it from the table (which
   * unexports and frees it) and start what waited for it */
  void     (*connection_gone) (VpnConnection *connection, gpointer data);
  /* Some connection uses t as its routing table or fwmark */
  gboolean (*table_in_use) (guint32 t, gpointer data);
} VpnHooks;

/* The shared services a profile or connection is made with: not the
 * module, which owns it and sets stopping when the daemon stops. */
struct _VpnContext {
  AnydDaemon       *daemon;
  AnydNetlink      *nl;
  const VpnBackend *backend;       /* of WireGuard profiles */
  VpnBackendEnv     env;
  char             *store_dir;     /* profile records */
  char             *runtime_dir;   /* <runtime dir>/vpn: records of live connections */
  gboolean          keep_on_exit;  /* [vpn] keep_on_exit */
  gboolean          stopping;
  const VpnHooks   *hooks;
  gpointer          hooks_data;
};

struct _VpnProfile {
  VpnContext             *ctx;
  char                   *name;
  char                   *path;
  VpnConfig              *config;        /* refcounted: a connection keeps the one it started with */
  gboolean                autoconnect;
  gboolean                ignore_scripts;
  guint32                 quota_uid;     /* the module counted it for this uid in [limits] (0: nobody) */
  AnydDBusObjectSkeleton *object;
  AnydDBusVpnProfile     *iface;
};

/* ---- vpn-profile.c */
/* A validated record, not yet on disk or on the bus. */
VpnProfile *vpn_profile_new (VpnContext *ctx, const char *name, VpnConfig *config,
                             gboolean autoconnect, gboolean ignore_scripts);
void        vpn_profile_free (VpnProfile *profile);
/* Write the record atomically (0600). */
gboolean    vpn_profile_save (VpnProfile *profile, GError **error);
gboolean    vpn_profile_remove_file (VpnContext *ctx, const char *name, GError **error);
/* Every readable record of the store; broken ones are logged and skipped. */
GPtrArray  *vpn_profile_load_all (VpnContext *ctx);
void        vpn_profile_export (VpnProfile *profile);
/* polkit "profile" detail for calls on profile and connection objects. */
void        vpn_details_from_object (GDBusInterfaceSkeleton *skeleton, const char *method,
                                     GVariant *parameters, GHashTable *details, gpointer user_data);

/* ---- vpn-metrics.c: GetMetrics' vpn gauges; returns the collector's id */
typedef struct {
  AnydDaemon *daemon;
  GHashTable *profiles;      /* name -> VpnProfile* */
  GHashTable *connections;   /* profile name -> VpnConnection* */
} VpnMetricsSource;
/* source must stay valid until the collector is removed */
guint       vpn_metrics_register (const VpnMetricsSource *source);

/* ---- vpn-connection.c */
/* A connection of a profile, not yet on the bus; number: of its object path. */
VpnConnection *vpn_connection_new (VpnContext *ctx, const char *profile_name, const char *profile_path,
                                   VpnConfig *config, const AnydCaller *caller, guint number);
/* Onto the bus and coming up.  reply runs once the data plane is configured
 * (state connecting or later), or with the error that failed it. */
void           vpn_connection_start (VpnConnection *connection, VpnConnectReply reply, gpointer user_data);
/* A VpnConnectReply answering a Connect method call (user_data = the invocation). */
void           vpn_connect_reply_invocation (VpnConnection *connection, const GError *error, gpointer invocation);
const char    *vpn_connection_get_path (VpnConnection *connection);
const char    *vpn_connection_get_profile_name (VpnConnection *connection);
gboolean       vpn_connection_is_active (VpnConnection *connection);
gboolean       vpn_connection_is_failed (VpnConnection *connection);
gboolean       vpn_connection_is_proxy (VpnConnection *connection);
/* t is its routing table or fwmark */
gboolean       vpn_connection_uses_table (VpnConnection *connection, guint32 t);
/* Tear down (DNS reverted, rules and device gone), emit disconnected, then
 * hooks->connection_gone.  done may be NULL; it runs when everything is gone. */
void           vpn_connection_disconnect (VpnConnection *connection, const AnydCaller *caller,
                                          const char *reason, GFunc done, gpointer user_data);
/* Daemon stop (ctx->stopping): with keep, a connection that is up is
 * left running with its record for the next anyd; otherwise torn down
 * like Disconnect, synchronously. */
void           vpn_connection_shutdown (VpnConnection *connection, gboolean keep);
/* Check the data plane rt describes, left by an earlier anyd: it, the
 * device, rules and routes must check out and (when some peer has an
 * endpoint) the last handshake be recent.  reply gets the tunnel and its
 * counters (the caller owns the tunnel: vpn_connection_resume or release),
 * or the error saying what did not check out (nothing was touched then).
 * rt must stay valid until reply runs. */
typedef void (*VpnAdoptReply) (VpnTunnel *tunnel, const VpnUapiStats *stats, const GError *error,
                               gpointer user_data);
void           vpn_connection_adopt (VpnContext *ctx, VpnRuntime *rt, VpnAdoptReply reply, gpointer user_data);
/* A new connection (vpn_connection_new, no caller) takes over the tunnel
 * checked by vpn_connection_adopt: onto the bus, connected. */
void           vpn_connection_resume (VpnConnection *connection, const VpnRuntime *rt, VpnTunnel *tunnel,
                                      const VpnUapiStats *stats);
/* The table's destroy function: teardown (sync), unexport, unref. */
void           vpn_connection_free (VpnConnection *connection);

/* ---- vpn-resolved.c: org.freedesktop.resolve1, per link */
typedef struct {
  GPtrArray *servers;        /* char * IP text */
  GPtrArray *search;         /* char * search domains */
  gboolean   route_all;      /* full tunnel: "~." routing domain + DefaultRoute */
} VpnDnsSettings;
/* SetLinkDNS, SetLinkDomains, SetLinkDefaultRoute (when route_all) in order;
 * finishes with the first error.  A missing resolved is
 * G_DBUS_ERROR_SERVICE_UNKNOWN / NAME_HAS_NO_OWNER (see vpn_resolved_is_absent). */
void           vpn_resolved_apply_async (GDBusConnection *bus, int ifindex, const VpnDnsSettings *dns,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean       vpn_resolved_apply_finish (GAsyncResult *result, GError **error);
void           vpn_resolved_revert_async (GDBusConnection *bus, int ifindex, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gboolean       vpn_resolved_revert_finish (GAsyncResult *result, GError **error);
void           vpn_resolved_revert_sync (GDBusConnection *bus, int ifindex);
gboolean       vpn_resolved_is_absent (const GError *error);

G_END_DECLS
