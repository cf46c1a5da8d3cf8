/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-v2ray: the proxy data plane (see vpn-v2ray.c). */
#pragma once

#include "vpn-backend.h"
#include "vpn-link.h"

G_BEGIN_DECLS

/* One proxy connection at a time: it takes all of the host's traffic, so
 * its marks and routing table are fixed numbers. */
#define VPN_V2RAY_TABLE        52100        /* policy routing table: local default dev lo */
#define VPN_V2RAY_ROUTE_MARK   0x616e0001   /* packets for the proxy */
#define VPN_V2RAY_OUT_MARK     0x616e0002   /* v2ray's own sockets (sockopt.mark) */
/* nftables tables of proxy connections: prefix + g_dbus_escape_object_path (profile) */
#define VPN_V2RAY_TABLE_PREFIX "anyd_vpn_"

#define VPN_CONFIG_V2RAY        "v2ray"
#define VPN_CONFIG_V2RAY_USER   "v2ray_user"
#define VPN_CONFIG_PROXY_DNS    "proxy_dns"
#define VPN_CONFIG_PROXY_BYPASS "proxy_bypass"

extern const VpnBackend vpn_backend_v2ray;

char      *vpn_v2ray_table_name (const char *profile);
/* Config file under config_dir, v2ray -test, the unit, then the rules. */
void       vpn_v2ray_create_async (const VpnBackendEnv *env, const char *config_dir, const char *profile,
                                   const VpnLink *link, const char *server_ip, const char *unit,
                                   VpnTunnelExitedFunc exited, gpointer exited_data,
                                   GAsyncReadyCallback callback, gpointer user_data);
VpnTunnel *vpn_v2ray_create_finish (GAsyncResult *result, GError **error);
/* The connection failed: stop v2ray, keep the rules (traffic blocked, not leaked). */
void       vpn_v2ray_block (VpnTunnel *tunnel);
/* Rules and routes of the proxy and the table (if not NULL), whatever of them exists. */
void       vpn_v2ray_remove_network (AnydNetlink *nl, const char *table);

G_END_DECLS
