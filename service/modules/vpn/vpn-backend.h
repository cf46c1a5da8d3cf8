/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-backend: the data plane behind a connection, kept small so a kernel
 * WireGuard backend (generic netlink) can be added next to wireguard-go.
 * Only wireguard-go exists now: these machines have no kernel module to test
 * another one against. */
#pragma once

#include <gio/gio.h>
#include "config.h"
#include "netlink.h"
#include "systemd.h"
#include "vpn-config.h"
#include "vpn-uapi.h"

G_BEGIN_DECLS

typedef struct _VpnTunnel VpnTunnel;
typedef struct _VpnBackend VpnBackend;

/* What a backend works with; owned by the module. */
typedef struct {
  AnydConfig      *config;
  AnydSystemd     *systemd;   /* data planes run as transient units */
  GDBusConnection *bus;
} VpnBackendEnv;

/* The data plane ended by itself (not through destroy): reason is one line. */
typedef void (*VpnTunnelExitedFunc) (VpnTunnel *tunnel, const char *reason, gpointer user_data);

struct _VpnBackend {
  const char *name;
  /* ANYD_ERROR_DISABLED when this data plane can't run here (binary missing). */
  gboolean   (*check) (AnydConfig *config, GError **error);
  /* Create the device ifname (exclusive: an existing name -> EXISTS) with
   * IFLA_IFALIAS mark, and start the data plane as the transient unit
   * `unit`, outside anyd's own cgroup: it outlives anyd.  The link is down
   * and has no addresses. */
  void       (*create_async) (const VpnBackendEnv *env, const char *ifname, const char *mark, const char *unit,
                              VpnTunnelExitedFunc exited, gpointer exited_data,
                              GAsyncReadyCallback callback, gpointer user_data);
  VpnTunnel *(*create_finish) (GAsyncResult *result, GError **error);
  /* Take over a data plane an earlier anyd started: the unit must be
   * active in the same invocation, the device ifindex named ifname with
   * IFLA_IFALIAS mark, and the data plane must answer (its counters in
   * *stats).  Any mismatch is ANYD_ERROR_FAILED saying which; nothing is
   * touched then. */
  void       (*adopt_async) (const VpnBackendEnv *env, const char *ifname, int ifindex, const char *mark,
                             const char *unit, const char *invocation_id,
                             VpnTunnelExitedFunc exited, gpointer exited_data,
                             GAsyncReadyCallback callback, gpointer user_data);
  VpnTunnel *(*adopt_finish) (GAsyncResult *result, VpnUapiStats *stats, GError **error);
  /* Keys and peers in one transaction (see vpn_uapi_build_set for endpoints
   * and kick_keepalive). */
  void       (*configure_async) (VpnTunnel *tunnel, const VpnConfig *config, guint32 fwmark,
                                 const char *const *endpoints, guint16 kick_keepalive,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
  /* Peers that got kick_keepalive go back to keepalive off. */
  void       (*unkick_async) (VpnTunnel *tunnel, const VpnConfig *config, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
  gboolean   (*configure_finish) (VpnTunnel *tunnel, GAsyncResult *result, GError **error);
  void       (*stats_async) (VpnTunnel *tunnel, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data);
  gboolean   (*stats_finish) (VpnTunnel *tunnel, GAsyncResult *result, VpnUapiStats *out,
                              GError **error);
  /* Delete the device and stop the data plane; the tunnel is gone for the
   * caller at once (no exited callback follows).  destroy_async reports when
   * the device is deleted and the unit stopped; destroy does what it can
   * without waiting (daemon stop only). */
  void       (*destroy) (VpnTunnel *tunnel);
  void       (*destroy_async) (VpnTunnel *tunnel, GAsyncReadyCallback callback, gpointer user_data);
  gboolean   (*destroy_finish) (GAsyncResult *result, GError **error);
  /* Forget the tunnel and leave the data plane running (anyd stops with
   * [vpn] keep_on_exit): the next anyd adopts it. */
  void       (*release) (VpnTunnel *tunnel);
};

/* The part every backend's tunnel starts with. */
struct _VpnTunnel {
  const VpnBackend *backend;
  char             *ifname;
  int               ifindex;
  char             *unit;            /* the data plane's unit */
  char             *invocation_id;   /* its InvocationID, 32 hex digits */
  char             *uapi_path;
  VpnTunnelExitedFunc exited;        /* the data plane ended by itself */
  gpointer          exited_data;
};

extern const VpnBackend vpn_backend_wireguard_go;

/* [vpn] config keys the backend reads. */
#define VPN_CONFIG_WIREGUARD_GO "wireguard_go"

G_END_DECLS
