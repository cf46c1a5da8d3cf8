/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-v2ray-config: the v2ray 4.34 configuration of a proxy connection.
 *
 *   inbounds   "tproxy": dokodemo-door, tcp+udp, followRedirect, sockopt
 *              tproxy, listening on 127.0.0.1 and ::1 only (nftables'
 *              tproxy statement delivers to a loopback socket, and nothing
 *              on the LAN can reach the port)
 *   outbounds  "proxy": the link's server (by the address resolved once,
 *              the host name kept for TLS SNI and the Host header);
 *              "dns-out": answers A/AAAA queries from the DNS module and
 *              relays the rest through "proxy"; every socket carries the
 *              connection's mark so the nftables rules let it out
 *   dns        one server, [vpn] proxy_dns, tagged "dns-internal"; its
 *              queries are routed to "proxy", so DNS never leaves the host
 *              in clear
 *   routing    port 53 from the inbound -> "dns-out"; the DNS module's own
 *              queries -> "proxy"; everything else -> "proxy"
 *
 * No access log: it would record every destination the host talks to. */
#include "anyd-build-config.h"
#include "vpn-v2ray-config.h"

#include <string.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "netlink.h"

typedef struct {
  gboolean https;
  char    *ip;
  guint16  port;
  char    *path;   /* https only */
} ProxyDns;

static void
proxy_dns_clear (ProxyDns *d)
{
  g_free (d->ip);
  g_free (d->path);
}

static gboolean
parse_proxy_dns (const char *text, const char *field, ProxyDns *out, GError **error)
{
  const char *rest, *end, *host_end, *port_start = NULL;
  g_autoptr(GInetAddress) addr = NULL;
  g_autofree char *host = NULL;
  guint64 port;

  memset (out, 0, sizeof *out);
  if (g_str_has_prefix (text, "https://"))
    out->https = TRUE, rest = text + 8;
  else if (g_str_has_prefix (text, "udp://"))
    rest = text + 6;
  else
    goto bad;
  end = out->https ? strchr (rest, '/') : rest + strlen (rest);
  if (end == NULL)
    goto bad;
  if (*rest == '[')
    {
      host_end = memchr (rest, ']', (gsize) (end - rest));
      if (host_end == NULL)
        goto bad;
      host = g_strndup (rest + 1, (gsize) (host_end - rest - 1));
      if (host_end + 1 < end)
        {
          if (host_end[1] != ':')
            goto bad;
          port_start = host_end + 2;
        }
    }
  else
    {
      host_end = memchr (rest, ':', (gsize) (end - rest));
      if (host_end == NULL)
        host_end = end;
      else
        port_start = host_end + 1;
      host = g_strndup (rest, (gsize) (host_end - rest));
    }
  addr = g_inet_address_new_from_string (host);
  if (addr == NULL)
    goto bad;
  port = out->https ? 443 : 53;
  if (port_start != NULL)
    {
      g_autofree char *p = g_strndup (port_start, (gsize) (end - port_start));
      if (!g_ascii_string_to_unsigned (p, 10, 1, 65535, &port, NULL))
        goto bad;
    }
  if (out->https)
    {
      for (const char *c = end; *c; c++)
        if ((guchar) *c <= 0x20 || (guchar) *c >= 0x7f)
          goto bad;
      out->path = g_strdup (end);
    }
  out->ip = g_inet_address_to_string (addr);
  out->port = (guint16) port;
  return TRUE;

bad:
  proxy_dns_clear (out);
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
               "%s: expected https://IP[:port]/path or udp://IP[:port] (an IP address, not a name)", field);
  return FALSE;
}

gboolean
vpn_v2ray_proxy_dns_check (const char *text, const char *field, GError **error)
{
  ProxyDns d;

  if (!parse_proxy_dns (text, field, &d, error))
    return FALSE;
  proxy_dns_clear (&d);
  return TRUE;
}

static void
add_sockopt_mark (JsonBuilder *b, guint32 mark)
{
  json_builder_set_member_name (b, "sockopt");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mark");
  json_builder_add_int_value (b, mark);
  json_builder_end_object (b);
}

static void
member_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
member_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_inbound (JsonBuilder *b, const char *tag, const char *listen, guint16 port)
{
  json_builder_begin_object (b);
  member_string (b, "tag", tag);
  member_string (b, "listen", listen);
  member_int (b, "port", port);
  member_string (b, "protocol", "dokodemo-door");
  json_builder_set_member_name (b, "settings");
  json_builder_begin_object (b);
  member_string (b, "network", "tcp,udp");
  json_builder_set_member_name (b, "followRedirect");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "streamSettings");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "sockopt");
  json_builder_begin_object (b);
  member_string (b, "tproxy", "tproxy");
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
}

static gboolean
is_ip (const char *host)
{
  g_autoptr(GInetAddress) a = g_inet_address_new_from_string (host);
  return a != NULL;
}

static void
add_proxy_settings (JsonBuilder *b, const VpnLink *l, const char *address)
{
  json_builder_set_member_name (b, "settings");
  json_builder_begin_object (b);
  if (l->protocol == VPN_PROTOCOL_VMESS || l->protocol == VPN_PROTOCOL_VLESS)
    {
      json_builder_set_member_name (b, "vnext");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      member_string (b, "address", address);
      member_int (b, "port", l->port);
      json_builder_set_member_name (b, "users");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      member_string (b, "id", l->secret);
      if (l->protocol == VPN_PROTOCOL_VMESS)
        {
          member_int (b, "alterId", l->alter_id);
          member_string (b, "security", l->cipher);
        }
      else
        member_string (b, "encryption", "none");
      json_builder_end_object (b);
      json_builder_end_array (b);
      json_builder_end_object (b);
      json_builder_end_array (b);
    }
  else
    {
      json_builder_set_member_name (b, "servers");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      member_string (b, "address", address);
      member_int (b, "port", l->port);
      if (l->protocol == VPN_PROTOCOL_SHADOWSOCKS)
        member_string (b, "method", l->cipher);
      member_string (b, "password", l->secret);
      json_builder_end_object (b);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
}

static void
add_stream_settings (JsonBuilder *b, const VpnLink *l, guint32 mark)
{
  /* the outbound dials an IP: the link's host name must still reach TLS and HTTP */
  const char *name = is_ip (l->host) ? NULL : l->host;
  const char *sni = l->sni ? l->sni : l->http_host ? l->http_host : name;
  const char *http_host = l->http_host ? l->http_host : name;

  json_builder_set_member_name (b, "streamSettings");
  json_builder_begin_object (b);
  member_string (b, "network", g_str_equal (l->network, "h2") ? "http" : l->network);
  member_string (b, "security", l->tls ? "tls" : "none");
  if (l->tls)
    {
      json_builder_set_member_name (b, "tlsSettings");
      json_builder_begin_object (b);
      if (sni != NULL)
        member_string (b, "serverName", sni);
      json_builder_end_object (b);
    }
  if (g_str_equal (l->network, "ws"))
    {
      json_builder_set_member_name (b, "wsSettings");
      json_builder_begin_object (b);
      member_string (b, "path", l->path ? l->path : "/");
      if (http_host != NULL)
        {
          json_builder_set_member_name (b, "headers");
          json_builder_begin_object (b);
          member_string (b, "Host", http_host);
          json_builder_end_object (b);
        }
      json_builder_end_object (b);
    }
  else if (g_str_equal (l->network, "h2"))
    {
      json_builder_set_member_name (b, "httpSettings");
      json_builder_begin_object (b);
      member_string (b, "path", l->path ? l->path : "/");
      if (http_host != NULL)
        {
          json_builder_set_member_name (b, "host");
          json_builder_begin_array (b);
          json_builder_add_string_value (b, http_host);
          json_builder_end_array (b);
        }
      json_builder_end_object (b);
    }
  add_sockopt_mark (b, mark);
  json_builder_end_object (b);
}

static void
add_rule (JsonBuilder *b, const char *inbound, const char *port, const char *outbound)
{
  json_builder_begin_object (b);
  member_string (b, "type", "field");
  json_builder_set_member_name (b, "inboundTag");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, inbound);
  if (g_str_equal (inbound, "tproxy"))
    json_builder_add_string_value (b, "tproxy6");
  json_builder_end_array (b);
  if (port != NULL)
    member_string (b, "port", port);
  member_string (b, "outboundTag", outbound);
  json_builder_end_object (b);
}

char *
vpn_v2ray_config_generate (const VpnLink *l, const VpnV2rayParams *p, GError **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  ProxyDns dns;

  if (!parse_proxy_dns (p->proxy_dns, "[vpn] proxy_dns", &dns, error))
    return NULL;
  json_builder_begin_object (b);

  json_builder_set_member_name (b, "log");
  json_builder_begin_object (b);
  member_string (b, "loglevel", "warning");
  member_string (b, "access", "none");
  json_builder_end_object (b);

  json_builder_set_member_name (b, "inbounds");
  json_builder_begin_array (b);
  /* tags must differ: v2ray keeps one inbound per tag */
  add_inbound (b, "tproxy", "127.0.0.1", p->inbound_port);
  add_inbound (b, "tproxy6", "::1", p->inbound_port);
  json_builder_end_array (b);

  json_builder_set_member_name (b, "outbounds");
  json_builder_begin_array (b);
  json_builder_begin_object (b);   /* the first outbound is the default */
  member_string (b, "tag", "proxy");
  member_string (b, "protocol", vpn_protocol_name (l->protocol));
  add_proxy_settings (b, l, p->server_address);
  add_stream_settings (b, l, p->mark);
  json_builder_end_object (b);
  json_builder_begin_object (b);
  member_string (b, "tag", "dns-out");
  member_string (b, "protocol", "dns");
  /* queries the DNS module does not answer (MX, TXT, …) go to the same
   * upstream, through the proxy, never to the address the host asked */
  json_builder_set_member_name (b, "settings");
  json_builder_begin_object (b);
  member_string (b, "address", dns.ip);
  member_int (b, "port", dns.https ? 53 : dns.port);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "proxySettings");
  json_builder_begin_object (b);
  member_string (b, "tag", "proxy");
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_array (b);

  json_builder_set_member_name (b, "dns");
  json_builder_begin_object (b);
  member_string (b, "tag", "dns-internal");
  json_builder_set_member_name (b, "servers");
  json_builder_begin_array (b);
  if (dns.https)
    {
      g_autofree char *url = strchr (dns.ip, ':') ? g_strdup_printf ("https://[%s]:%u%s", dns.ip, dns.port, dns.path)
                                                  : g_strdup_printf ("https://%s:%u%s", dns.ip, dns.port, dns.path);
      json_builder_add_string_value (b, url);
    }
  else
    {
      json_builder_begin_object (b);
      member_string (b, "address", dns.ip);
      member_int (b, "port", dns.port);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "routing");
  json_builder_begin_object (b);
  member_string (b, "domainStrategy", "AsIs");
  json_builder_set_member_name (b, "rules");
  json_builder_begin_array (b);
  add_rule (b, "tproxy", "53", "dns-out");
  add_rule (b, "dns-internal", NULL, "proxy");
  add_rule (b, "tproxy", NULL, "proxy");
  json_builder_end_array (b);
  json_builder_end_object (b);

  json_builder_end_object (b);
  proxy_dns_clear (&dns);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

/* ---- the nftables table ----------------------------------------------------
 *
 * output (type route, so a new mark re-routes the packet):
 *   v2ray's own sockets (its mark, its uid) leave untouched; what it sends
 *   to local programs over lo is counted as rx
 *   loopback destinations stay local
 *   port 53, TCP and UDP: to the proxy, before any other exclusion, so no
 *   query reaches the LAN resolver whatever its address
 *   link-local, multicast, the server, [vpn] proxy_bypass: direct
 *   NTP (UDP 123): direct, or a wrong clock would break TLS to the proxy
 *   block_quic: UDP 443 rejected; ipv6=block: all other IPv6 rejected
 *   the rest of TCP and UDP: marked (counted as tx); the fwmark rule sends
 *   it to a table whose only route is `local default dev lo`
 * prerouting: marked packets looping in over lo are handed to the inbound
 *   with TPROXY; one that finds no inbound socket (v2ray died) is dropped,
 *   so a dead proxy blocks traffic instead of leaking it. */
char *
vpn_v2ray_nft_ruleset (const VpnV2rayRules *r, GError **error)
{
  GString *s = g_string_new (NULL);
  GString *v4 = g_string_new ("127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 255.255.255.255/32");
  GString *v6 = g_string_new ("::1/128, fe80::/10, ff00::/8");

  for (guint i = 0; r->bypass && r->bypass[i]; i++)
    {
      AnydCidr cidr;
      g_autofree char *text = NULL;

      if (!anyd_cidr_parse (r->bypass[i], "proxy_bypass", &cidr, error))
        {
          g_string_free (s, TRUE);
          g_string_free (v4, TRUE);
          g_string_free (v6, TRUE);
          return NULL;
        }
      /* sets want networks: clear the host bits */
      if (!anyd_cidr_is_network (&cidr))
        {
          guint8 *b = (guint8 *) &cidr.addr;
          guint len = cidr.family == AF_INET ? 4 : 16;
          for (guint bit = cidr.prefix; bit < len * 8; bit++)
            b[bit / 8] &= (guint8) ~(0x80u >> (bit % 8));
        }
      text = anyd_cidr_to_string (&cidr);
      g_string_append_printf (cidr.family == AF_INET ? v4 : v6, ", %s", text);
    }
  g_string_append_printf (s,
    "add table inet %1$s\n"
    "table inet %1$s {\n"
    "  counter tx { }\n"
    "  counter rx { }\n"
    "  set direct4 { type ipv4_addr; flags interval; auto-merge; elements = { %2$s } }\n"
    "  set direct6 { type ipv6_addr; flags interval; auto-merge; elements = { %3$s } }\n"
    "  chain output {\n"
    "    type route hook output priority mangle; policy accept;\n"
    "    meta skuid %4$u oifname \"lo\" counter name rx return\n"
    "    meta skuid %4$u return\n"
    "    meta mark 0x%5$x return\n"
    "    ip daddr 127.0.0.0/8 return\n"
    "    ip6 daddr ::1 return\n"
    "    meta l4proto { tcp, udp } th dport 53 meta mark set 0x%6$x counter name tx return\n"
    "    ip daddr @direct4 return\n"
    "    ip6 daddr @direct6 return\n"
    "    udp dport 123 return\n",
    r->table, v4->str, v6->str, r->v2ray_uid, r->v2ray_mark, r->route_mark);
  if (r->block_quic)
    g_string_append (s, "    udp dport 443 reject\n");
  if (r->ipv6 == VPN_IPV6_BLOCK)
    g_string_append (s, "    meta nfproto ipv6 reject\n");
  g_string_append_printf (s,
    "    meta l4proto { tcp, udp } meta mark set 0x%1$x counter name tx\n"
    "  }\n"
    "  chain prerouting {\n"
    "    type filter hook prerouting priority mangle; policy accept;\n"
    "    meta mark 0x%1$x meta nfproto ipv4 meta l4proto { tcp, udp } tproxy ip to 127.0.0.1:%2$u accept\n"
    "    meta mark 0x%1$x meta nfproto ipv6 meta l4proto { tcp, udp } tproxy ip6 to [::1]:%2$u accept\n"
    "    meta mark 0x%1$x drop\n"
    "  }\n"
    "}\n",
    r->route_mark, (guint) r->port);
  g_string_free (v4, TRUE);
  g_string_free (v6, TRUE);
  return g_string_free (s, FALSE);
}
