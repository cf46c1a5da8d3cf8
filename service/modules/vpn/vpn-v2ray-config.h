/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-v2ray-config: the configuration anyd writes for the local v2ray of a
 * proxy connection (see vpn-v2ray-config.c).  Pure code, fuzzed with the
 * link parser. */
#pragma once

#include <glib.h>
#include "vpn-link.h"

G_BEGIN_DECLS

/* [vpn] proxy_dns default: DNS over HTTPS, reached through the proxy. */
#define VPN_PROXY_DNS_DEFAULT "https://1.1.1.1/dns-query"

typedef struct {
  const char *server_address;  /* the proxy server's IP, resolved once before the rules go in */
  guint16     inbound_port;    /* the dokodemo-door tproxy inbound, on 127.0.0.1 and ::1 */
  guint32     mark;            /* SO_MARK of every socket v2ray opens */
  const char *proxy_dns;       /* [vpn] proxy_dns, checked by vpn_v2ray_proxy_dns_check */
} VpnV2rayParams;

/* The JSON text (it holds the link's secret: free with vpn_secret_free). */
char     *vpn_v2ray_config_generate (const VpnLink *link, const VpnV2rayParams *params, GError **error);

/* https://IP[:port]/path or udp://IP[:port]: an IP literal, since a name
 * would have to be resolved outside the proxy.  field names the setting. */
gboolean  vpn_v2ray_proxy_dns_check (const char *text, const char *field, GError **error);

/* The nftables table of a proxy connection (see vpn-v2ray-config.c). */
typedef struct {
  const char        *table;       /* "anyd_vpn_<escaped profile>", family inet */
  guint32            route_mark;  /* packets for the proxy: routed to lo, then TPROXY */
  guint32            v2ray_mark;  /* v2ray's outbound sockets */
  guint32            v2ray_uid;   /* v2ray's user: its DoH and reply sockets carry no mark */
  guint16            port;        /* the inbound */
  const char *const *bypass;      /* CIDRs sent direct: the server's address, [vpn] proxy_bypass */
  gboolean           block_quic;
  VpnIpv6Mode        ipv6;
} VpnV2rayRules;

/* "add table …" text for anyd_nft_run(): the table with counters tx and rx,
 * chains output (route) and prerouting (TPROXY).  NULL + InvalidArgument
 * naming the field when a bypass entry is not a CIDR. */
char     *vpn_v2ray_nft_ruleset (const VpnV2rayRules *rules, GError **error);

G_END_DECLS
