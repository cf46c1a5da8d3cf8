/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-uapi: WireGuard's cross-platform userspace API (the text protocol on
 * /run/wireguard/<if>.sock): requests built from a VpnConfig, replies parsed.
 * Pure code, fuzzed with the config parser.  Requests and "get" replies hold
 * key material: free them with vpn_uapi_buffer_free(), which wipes. */
#pragma once

#include <glib.h>
#include "vpn-config.h"

G_BEGIN_DECLS

/* A reply is at most this long; more is a protocol error. */
#define VPN_UAPI_MAX_REPLY (1024 * 1024)

typedef struct {
  guint64 rx_bytes;           /* summed over peers */
  guint64 tx_bytes;
  guint64 latest_handshake;   /* µs since the epoch, newest of all peers, 0 = never */
  guint   n_peers;
} VpnUapiStats;

/* The whole configuration in one "set=1" transaction (replace_peers).
 * endpoints[i]: peer i's endpoint as resolved text ("1.2.3.4:51820",
 * "[fd00::1]:51820"), or NULL for none.  Peers without PersistentKeepalive
 * get kick_keepalive seconds instead when it is not 0: turning keepalive on
 * makes wireguard-go send a handshake as soon as the link is up, which is
 * how anyd learns that the peer answers. */
GString  *vpn_uapi_build_set (const VpnConfig *config, guint32 fwmark,
                              const char *const *endpoints, guint16 kick_keepalive);
/* Put the peers that were kicked back to their configured keepalive (off). */
GString  *vpn_uapi_build_unkick (const VpnConfig *config);
void      vpn_uapi_buffer_free (GString *buffer);

/* Is buf a complete reply (ends with an empty line)? */
gboolean  vpn_uapi_reply_complete (const char *buf, gsize len);
/* "errno=N" of a set reply; a non-zero errno -> FAILED naming it. */
gboolean  vpn_uapi_parse_set_reply (const char *buf, gsize len, GError **error);
/* A get reply -> counters.  Malformed -> FAILED (never quoting a key). */
gboolean  vpn_uapi_parse_get_reply (const char *buf, gsize len, VpnUapiStats *out, GError **error);

G_END_DECLS
