/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-config: the wg-quick configuration format, parsed strictly.
 *
 * Pure code (no daemon, no I/O) so the fuzz target and the unit test run
 * exactly what the daemon runs.  Key material lives in the structs only and
 * is wiped when they are freed; nothing here ever puts a key into a GError. */
#pragma once

#include <glib.h>
#include <sys/socket.h>

#include "netlink.h"
#include "vpn-link.h"

G_BEGIN_DECLS

/* Profiles larger than this are refused before parsing (import and fd). */
#define VPN_CONFIG_MAX_SIZE (64 * 1024)
#define VPN_KEY_LEN 32
/* Profile names: also the interface name when short enough (wg-quick does the same). */
#define VPN_PROFILE_NAME_MAX 64

typedef struct {
  guint8    public_key[VPN_KEY_LEN];
  gboolean  has_preshared_key;
  guint8    preshared_key[VPN_KEY_LEN];  /* secret */
  char     *endpoint_host;   /* NULL: no endpoint; an IP literal or a host name */
  guint16   endpoint_port;
  GArray   *allowed_ips;     /* AnydCidr, host bits cleared */
  guint16   persistent_keepalive;  /* seconds, 0 = off */
  guint     line;            /* of its [Peer] header, for messages */
} VpnPeer;

typedef enum {
  VPN_TABLE_AUTO,   /* main table; a /0 route gets wg-quick's policy routing */
  VPN_TABLE_OFF,    /* no routes at all */
  VPN_TABLE_ID,     /* every route into table `table` */
} VpnTableMode;

typedef struct {
  guint8       private_key[VPN_KEY_LEN];  /* secret */
  GArray      *addresses;    /* AnydCidr, host bits kept (10.0.0.2/24) */
  GPtrArray   *dns_servers;  /* char *, canonical IP text */
  GPtrArray   *dns_search;   /* char *, search domains (DNS= entries that are not IPs) */
  guint32      mtu;          /* 0: default */
  gboolean     has_listen_port;
  guint16      listen_port;
  guint32      fwmark;       /* 0: off */
  VpnTableMode table_mode;
  guint32      table;
  GPtrArray   *peers;        /* VpnPeer * */
  gboolean     had_scripts;  /* hook keys were present and ignored */
  VpnLink     *link;         /* v2ray profiles: the proxy (the fields above stay empty); NULL: wireguard */
} VpnConfig;

typedef enum {
  VPN_CONFIG_PARSE_NONE           = 0,
  /* Skip PreUp/PostUp/PreDown/PostDown/SaveConfig instead of refusing them. */
  VPN_CONFIG_PARSE_IGNORE_SCRIPTS = 1 << 0,
} VpnConfigParseFlags;

/* Parse len bytes (not NUL-terminated necessarily).  Every refusal is
 * ANYD_ERROR_INVALID_ARGUMENT naming the line and the key; key values are
 * never quoted in messages. */
VpnConfig *vpn_config_parse (const char *text, gsize len, VpnConfigParseFlags flags, GError **error);
/* A v2ray profile around link (taken over). */
VpnConfig *vpn_config_new_v2ray (VpnLink *link);
/* A share link (vmess://, vless://, trojan://, ss://) makes a v2ray
 * profile, anything else is parsed as wg-quick text. */
VpnConfig *vpn_config_parse_any (const char *text, gsize len, VpnConfigParseFlags flags, GError **error);
/* "wireguard" or "v2ray" */
const char *vpn_config_type (const VpnConfig *config);
/* VpnProfile.Server and .Protocol */
char      *vpn_config_server (const VpnConfig *config);
const char *vpn_config_protocol (const VpnConfig *config);

/* Configurations are immutable once parsed and shared by reference. */
VpnConfig *vpn_config_ref (VpnConfig *config);
void       vpn_config_unref (VpnConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpnConfig, vpn_config_unref)

/* Canonical wg-quick text (v2ray: vpn_link_to_keyfile), secrets included: for the profile store only.
 * Free with vpn_secret_free(). */
char      *vpn_config_to_text (const VpnConfig *config);

/* BLAKE2b-256 of the canonical text, 64 hex digits: tells whether a
 * profile changed since a connection came up with it. */
char      *vpn_config_hash (const VpnConfig *config);

/* Does some peer route all of family's traffic (0.0.0.0/0 or ::/0)? */
gboolean   vpn_config_is_full_tunnel (const VpnConfig *config, int family);

/* Public fields only, for the VpnProfile.Peers property: aa{sv}. */
GVariant  *vpn_config_peers_variant (const VpnConfig *config);
/* "10.0.0.2/24", … (NULL-terminated). */
char     **vpn_config_addresses_strv (const VpnConfig *config);

/* Helpers shared with the backend and the module. */
gboolean   vpn_cidr_equal (const AnydCidr *a, const AnydCidr *b);
/* Clear the host bits (AllowedIPs = 10.0.0.1/24 means 10.0.0.0/24, as in wg). */
void       vpn_cidr_mask (AnydCidr *cidr);
gboolean   vpn_key_from_base64 (const char *text, guint8 key[VPN_KEY_LEN]);
char      *vpn_key_to_base64 (const guint8 key[VPN_KEY_LEN]);
/* 64 hex digits + NUL, as the UAPI protocol wants. */
void       vpn_key_to_hex (const guint8 key[VPN_KEY_LEN], char out[2 * VPN_KEY_LEN + 1]);
/* "host:port", "[v6]:port" */
char      *vpn_peer_endpoint_string (const VpnPeer *peer);
/* Profile names: 1–64 of [A-Za-z0-9_=+.-], not starting with '.' or '-'. */
gboolean   vpn_profile_name_is_valid (const char *name);
/* Wipe and free a string that held key material. */
void       vpn_secret_free (char *text);

G_END_DECLS
