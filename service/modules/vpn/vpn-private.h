/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vpn module's shared types.
 *   vpn-module.c      org.anyd1.Vpn, lifecycle, reconciliation, autoconnect
 *   vpn-profile.c     profile records on disk + org.anyd1.VpnProfile objects
 *   vpn-connection.c  org.anyd1.VpnConnection: state machine, routing, DNS, counters
 *   vpn-resolved.c    systemd-resolved's per-link DNS over D-Bus
 *   vpn-runtime.c     the runtime record a live connection keeps for the next anyd
 *   vpn-config.c      wg-quick parser; vpn-uapi.c UAPI protocol; vpn-wggo.c data plane (units)
 *   vpn-link.c        v2ray profiles: share links and subscriptions
 *   vpn-v2ray-config.c  the v2ray config and the nftables table of a proxy connection
 *   vpn-v2ray.c       the proxy data plane: v2ray as a unit, TPROXY rules (service/nft.c) */
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

typedef struct _VpnModule VpnModule;
typedef struct _VpnProfile VpnProfile;
typedef struct _VpnConnection VpnConnection;

struct _VpnModule {
  AnydDaemon             *daemon;
  AnydNetlink            *nl;
  const VpnBackend       *backend;
  char                   *store_dir;
  gboolean                stopping;
  AnydDBusObjectSkeleton *object;
  AnydDBusVpn            *iface;
  GHashTable             *profiles;      /* name -> VpnProfile* (owned) */
  GHashTable             *connections;   /* profile name -> VpnConnection* (owned) */
  guint                   next_connection;
  AnydSystemd            *systemd;       /* the data planes' units */
  VpnBackendEnv           env;
  char                   *runtime_dir;   /* <runtime dir>/vpn: records of live connections */
  gboolean                keep_on_exit;  /* [vpn] keep_on_exit */
  guint                   adopting;      /* start-up checks (re-adoptions, unit sweep) in flight */
  GHashTable             *claimed;       /* profile name -> TRUE: being re-adopted */
  guint                   metrics_id;    /* vpn-metrics.c's collector */
};

struct _VpnProfile {
  VpnModule              *module;
  char                   *name;
  char                   *path;
  VpnConfig              *config;        /* refcounted: a connection keeps the one it started with */
  gboolean                autoconnect;
  gboolean                ignore_scripts;
  guint32                 quota_uid;     /* counted for this uid in [limits] (0: nobody) */
  AnydDBusObjectSkeleton *object;
  AnydDBusVpnProfile     *iface;
};

/* ---- vpn-profile.c */
/* A validated record, not yet on disk or on the bus. */
VpnProfile *vpn_profile_new (VpnModule *module, const char *name, VpnConfig *config,
                             gboolean autoconnect, gboolean ignore_scripts);
void        vpn_profile_free (VpnProfile *profile);
/* Write the record atomically (0600). */
gboolean    vpn_profile_save (VpnProfile *profile, GError **error);
gboolean    vpn_profile_remove_file (VpnModule *module, const char *name, GError **error);
/* Every readable record of the store; broken ones are logged and skipped. */
GPtrArray  *vpn_profile_load_all (VpnModule *module);
void        vpn_profile_export (VpnProfile *profile);
/* The profile of that name, or NULL + NOT_FOUND. */
VpnProfile *vpn_module_lookup_profile (VpnModule *module, const char *name, GError **error);

/* ---- vpn-metrics.c: GetMetrics' vpn gauges; returns the collector's id */
guint       vpn_metrics_register (VpnModule *module);

/* ---- vpn-module.c */
void        vpn_module_delete_profile (VpnModule *module, VpnProfile *profile);
/* polkit "profile" detail for calls on profile and connection objects. */
void        vpn_details_from_object (GDBusInterfaceSkeleton *skeleton, const char *method,
                                     GVariant *parameters, GHashTable *details, gpointer user_data);

/* ---- vpn-connection.c */
typedef void (*VpnConnectReply) (VpnConnection *connection, const GError *error, gpointer user_data);

/* The profile's live connection, or a new one that starts coming up.  reply
 * runs once the data plane is configured (state connecting or later), or
 * with the error that failed it. */
VpnConnection *vpn_connection_start (VpnModule *module, VpnProfile *profile, const AnydCaller *caller,
                                     VpnConnectReply reply, gpointer user_data);
/* A VpnConnectReply answering a Connect method call (user_data = the invocation). */
void           vpn_connect_reply_invocation (VpnConnection *connection, const GError *error, gpointer invocation);
/* The profile's connection, or NULL. */
VpnConnection *vpn_module_lookup_connection (VpnModule *module, const char *profile);
const char    *vpn_connection_get_path (VpnConnection *connection);
gboolean       vpn_connection_is_active (VpnConnection *connection);
/* Tear down (DNS reverted, rules and device gone), emit disconnected,
 * unexport and free.  done may be NULL; it runs when everything is gone. */
void           vpn_connection_disconnect (VpnConnection *connection, const AnydCaller *caller,
                                          const char *reason, GFunc done, gpointer user_data);
/* Daemon stop (module->stopping): with keep, a connection that is up is
 * left running with its record for the next anyd; otherwise torn down
 * like Disconnect, synchronously. */
void           vpn_connection_shutdown (VpnConnection *connection, gboolean keep);
/* Take over the connection rt describes, left by an earlier anyd: the data
 * plane, device, rules and routes must check out and (when some peer has an
 * endpoint) the last handshake be recent.  reply gets the exported
 * connection, or the error saying what did not check out (nothing was
 * touched then).  rt must stay valid until reply runs. */
typedef void (*VpnAdoptReply) (VpnConnection *connection, const GError *error, gpointer user_data);
void           vpn_connection_adopt (VpnModule *module, VpnProfile *profile, const VpnRuntime *rt,
                                     VpnAdoptReply reply, gpointer user_data);
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
