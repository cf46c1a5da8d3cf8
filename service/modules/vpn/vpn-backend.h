/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-backend: the data plane behind a connection, kept small so a kernel
 * WireGuard backend (generic netlink) can be added next to wireguard-go.
 * Only wireguard-go exists now: these machines have no kernel module to test
 * another one against. */
#pragma once

#include <gio/gio.h>
#include "config.h"
#include "netlink.h"
#include "vpn-config.h"
#include "vpn-uapi.h"

G_BEGIN_DECLS

typedef struct _VpnTunnel VpnTunnel;
typedef struct _VpnBackend VpnBackend;

/* The data plane ended by itself (not through destroy): reason is one line. */
typedef void (*VpnTunnelExitedFunc) (VpnTunnel *tunnel, const char *reason, gpointer user_data);

struct _VpnBackend {
  const char *name;
  /* ANYD_ERROR_DISABLED when this data plane can't run here (binary missing). */
  gboolean   (*check) (AnydConfig *config, GError **error);
  /* Create the device ifname (exclusive: an existing name -> EXISTS) with
   * IFLA_IFALIAS mark, and start the data plane.  The link is down and has
   * no addresses. */
  VpnTunnel *(*create) (AnydConfig *config, const char *ifname, const char *mark,
                        VpnTunnelExitedFunc exited, gpointer user_data, GError **error);
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
   * the kernel has deleted the device (an RCU grace period, ~20 ms, spent
   * off the main loop); destroy blocks for it (daemon stop only). */
  void       (*destroy) (VpnTunnel *tunnel);
  void       (*destroy_async) (VpnTunnel *tunnel, GAsyncReadyCallback callback, gpointer user_data);
  gboolean   (*destroy_finish) (GAsyncResult *result, GError **error);
};

/* The part every backend's tunnel starts with. */
struct _VpnTunnel {
  const VpnBackend *backend;
  char             *ifname;
  int               ifindex;
};

extern const VpnBackend vpn_backend_wireguard_go;

/* [vpn] config keys the backend reads. */
#define VPN_CONFIG_WIREGUARD_GO "wireguard_go"

G_END_DECLS
