/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-link: proxy share links (vmess://, vless://, trojan://, ss://) and
 * subscriptions, parsed into one normalized proxy description that Debian's
 * v2ray 4.34 can carry.
 *
 * Pure code (no daemon, no I/O) so the fuzz target and the unit test run
 * exactly what the daemon runs.  The UUID or password lives only in
 * `secret`, is wiped when the link is freed and never appears in a GError:
 * messages name the field ("link: vless: port: …"), never its value when
 * the value could be secret. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One link is short; a subscription is a list of them. */
#define VPN_LINK_MAX_SIZE          (16 * 1024)
#define VPN_SUBSCRIPTION_MAX_SIZE  (1024 * 1024)
#define VPN_SUBSCRIPTION_MAX_LINKS 512

typedef enum {
  VPN_PROTOCOL_VMESS,
  VPN_PROTOCOL_VLESS,
  VPN_PROTOCOL_TROJAN,
  VPN_PROTOCOL_SHADOWSOCKS,
} VpnProtocol;

typedef enum {
  VPN_IPV6_PROXY,   /* IPv6 goes through the proxy like IPv4 */
  VPN_IPV6_BLOCK,   /* IPv6 is rejected while connected */
} VpnIpv6Mode;

typedef struct {
  VpnProtocol protocol;
  char       *label;       /* the link's #fragment (vmess: "ps"), NULL: none; not stored */
  char       *host;        /* IP literal (v6 without brackets) or host name */
  guint16     port;
  char       *secret;      /* vmess/vless: UUID; trojan/shadowsocks: password */
  guint       alter_id;    /* vmess */
  char       *cipher;      /* vmess: auto|aes-128-gcm|chacha20-poly1305|none; ss: AEAD cipher; else NULL */
  char       *network;     /* tcp | ws | h2 (shadowsocks: tcp) */
  gboolean    tls;
  char       *sni;         /* TLS server name, NULL: the host */
  char       *http_host;   /* ws/h2 Host header, NULL: none */
  char       *path;        /* ws/h2 path, NULL: "/" */
  /* profile options (not part of a link; set on import) */
  gboolean    block_quic;
  VpnIpv6Mode ipv6;
} VpnLink;

VpnLink    *vpn_link_new (void);
void        vpn_link_free (VpnLink *link);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpnLink, vpn_link_free)
VpnLink    *vpn_link_copy (const VpnLink *link);

/* Does text (leading blanks skipped) start with a scheme this parser knows? */
gboolean    vpn_link_looks_like (const char *text, gsize len);
/* One link.  Refusals are ANYD_ERROR_INVALID_ARGUMENT "link: <proto>: <field>: …". */
VpnLink    *vpn_link_parse (const char *text, gsize len, GError **error);

/* A subscription: base64 of newline-separated links, or the plain lines.
 * Returns the links that parsed (VpnLink *); each bad line adds one message
 * ("line N: …") to *skipped.  Whole-input problems (size, no link at all,
 * too many) are an error and NULL. */
GPtrArray  *vpn_subscription_parse (const char *text, gsize len, GPtrArray **skipped, GError **error);

/* The stored form: GKeyFile text of group [V2Ray], secret included (free
 * with vpn_secret_free).  Parsing re-checks every field as a link would be. */
char       *vpn_link_to_keyfile (const VpnLink *link);
VpnLink    *vpn_link_from_keyfile (const char *data, gsize len, GError **error);

const char *vpn_protocol_name (VpnProtocol protocol);
const char *vpn_ipv6_mode_name (VpnIpv6Mode mode);
gboolean    vpn_ipv6_mode_parse (const char *text, VpnIpv6Mode *out);
/* "host:port", "[v6]:port" */
char       *vpn_link_server (const VpnLink *link);
/* A valid profile name made from a label ("🇩🇪 Frankfurt 1" -> "Frankfurt-1"), or fallback. */
char       *vpn_link_name_from_label (const char *label, const char *fallback);

G_END_DECLS
