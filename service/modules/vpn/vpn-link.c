/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-link: share links and subscriptions (see vpn-link.h).
 *
 * What Debian's v2ray 4.34 can carry, and nothing else: transports tcp, ws
 * and h2, security none or tls (no XTLS, no REALITY, no gRPC), VLESS with
 * encryption none and no flow, Shadowsocks with the AEAD ciphers and no
 * plugin.  Unknown query parameters that only tune the client (alpn, fp)
 * are ignored; ones that change what is spoken are refused by name. */
#include "anyd-build-config.h"
#include "vpn-link.h"

#include <string.h>
#include <sodium.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "util.h"
#include "vpn-config.h"

#define MAX_FIELD 1024

static const char *const protocol_names[] = { "vmess", "vless", "trojan", "shadowsocks" };

const char *
vpn_protocol_name (VpnProtocol protocol)
{
  return protocol_names[protocol];
}

const char *
vpn_ipv6_mode_name (VpnIpv6Mode mode)
{
  return mode == VPN_IPV6_BLOCK ? "block" : "proxy";
}

gboolean
vpn_ipv6_mode_parse (const char *text, VpnIpv6Mode *out)
{
  if (g_strcmp0 (text, "proxy") == 0)
    *out = VPN_IPV6_PROXY;
  else if (g_strcmp0 (text, "block") == 0)
    *out = VPN_IPV6_BLOCK;
  else
    return FALSE;
  return TRUE;
}

VpnLink *
vpn_link_new (void)
{
  VpnLink *link = g_new0 (VpnLink, 1);
  return link;
}

void
vpn_link_free (VpnLink *link)
{
  if (link == NULL)
    return;
  vpn_secret_free (link->secret);
  g_free (link->label);
  g_free (link->host);
  g_free (link->cipher);
  g_free (link->network);
  g_free (link->sni);
  g_free (link->http_host);
  g_free (link->path);
  g_free (link);
}

VpnLink *
vpn_link_copy (const VpnLink *l)
{
  VpnLink *c = g_memdup2 (l, sizeof *l);

  c->label = g_strdup (l->label);
  c->host = g_strdup (l->host);
  c->secret = g_strdup (l->secret);
  c->cipher = g_strdup (l->cipher);
  c->network = g_strdup (l->network);
  c->sni = g_strdup (l->sni);
  c->http_host = g_strdup (l->http_host);
  c->path = g_strdup (l->path);
  return c;
}

char *
vpn_link_server (const VpnLink *link)
{
  if (strchr (link->host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", link->host, link->port);
  return g_strdup_printf ("%s:%u", link->host, link->port);
}

/* ---- errors ------------------------------------------------------------- */

static gboolean G_GNUC_PRINTF (3, 4)
fail (GError **error, const char *proto, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  if (proto != NULL)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "link: %s: %s", proto, msg);
  else
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "link: %s", msg);
  return FALSE;
}

/* ---- value checks ------------------------------------------------------- */

static gboolean
is_hostname (const char *s)
{
  gsize len = strlen (s), label = 0;

  if (len == 0 || len > 253 || s[0] == '.' || s[0] == '-')
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (s[i] == '.')
        {
          if (label == 0)
            return FALSE;
          label = 0;
          continue;
        }
      if (!(g_ascii_isalnum (s[i]) || s[i] == '-' || s[i] == '_') || ++label > 63)
        return FALSE;
    }
  return TRUE;
}

/* "1.2.3.999" is no IP address, and no host name either (no numeric TLD). */
static gboolean
last_label_numeric (const char *s)
{
  const char *last = strrchr (s, '.');

  last = last ? last + 1 : s;
  for (const char *p = last; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

static gboolean
check_host (const char *value, const char *proto, const char *field, char **out, GError **error)
{
  g_autoptr(GInetAddress) addr = NULL;

  if (value == NULL || *value == '\0')
    return fail (error, proto, "%s: missing", field);
  addr = g_inet_address_new_from_string (value);
  if (addr != NULL)
    {
      *out = g_inet_address_to_string (addr);
      return TRUE;
    }
  if (!is_hostname (value) || last_label_numeric (value))
    {
      g_autofree char *s = anyd_quote_text (value, 48);
      return fail (error, proto, "%s: %s is not a host name or IP address", field, s);
    }
  *out = g_ascii_strdown (value, -1);
  return TRUE;
}

static gboolean
check_port (const char *value, const char *proto, guint16 *out, GError **error)
{
  guint64 n = 0;

  if (value == NULL || *value == '\0')
    return fail (error, proto, "port: missing");
  if (strlen (value) > 5 || !g_ascii_string_to_unsigned (value, 10, 1, 65535, &n, NULL))
    {
      g_autofree char *s = anyd_quote_text (value, 48);
      return fail (error, proto, "port: %s is not 1-65535", s);
    }
  *out = (guint16) n;
  return TRUE;
}

static gboolean
is_uuid (const char *s)
{
  if (strlen (s) != 36)
    return FALSE;
  for (int i = 0; i < 36; i++)
    if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* Secrets: checked without ever being quoted. */
static gboolean
check_secret (VpnLink *link, const char *value, const char *proto, GError **error)
{
  gboolean uuid = link->protocol == VPN_PROTOCOL_VMESS || link->protocol == VPN_PROTOCOL_VLESS;
  const char *field = uuid ? "id" : "password";

  if (value == NULL || *value == '\0')
    return fail (error, proto, "%s: missing", field);
  if (uuid && !is_uuid (value))
    return fail (error, proto, "%s: not a UUID (8-4-4-4-12 hex digits)", field);
  if (strlen (value) > 256)
    return fail (error, proto, "%s: longer than 256 bytes", field);
  for (const char *p = value; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return fail (error, proto, "%s: contains a control character", field);
  if (!g_utf8_validate (value, -1, NULL))
    return fail (error, proto, "%s: not UTF-8", field);
  link->secret = uuid ? g_ascii_strdown (value, -1) : g_strdup (value);
  return TRUE;
}

static gboolean
check_path (const char *value, const char *proto, char **out, GError **error)
{
  if (value == NULL || *value == '\0')
    return TRUE;
  if (value[0] != '/' || strlen (value) > MAX_FIELD)
    return fail (error, proto, "path: must start with / and be at most %d bytes", MAX_FIELD);
  for (const char *p = value; *p; p++)
    if ((guchar) *p <= 0x20 || (guchar) *p >= 0x7f)
      {
        g_autofree char *s = anyd_quote_text (value, 48);
        return fail (error, proto, "path: %s has a character outside printable ASCII", s);
      }
  *out = g_strdup (value);
  return TRUE;
}

/* Optional host names (sni, Host header): empty means none. */
static gboolean
check_opt_host (const char *value, const char *proto, const char *field, char **out, GError **error)
{
  if (value == NULL || *value == '\0')
    return TRUE;
  return check_host (value, proto, field, out, error);
}

static gboolean
check_network (VpnLink *link, const char *value, const char *proto, GError **error)
{
  if (value == NULL || *value == '\0' || g_str_equal (value, "tcp"))
    link->network = g_strdup ("tcp");
  else if (g_str_equal (value, "ws"))
    link->network = g_strdup ("ws");
  else if (g_str_equal (value, "h2") || g_str_equal (value, "http"))
    link->network = g_strdup ("h2");
  else
    {
      g_autofree char *s = anyd_quote_text (value, 48);
      return fail (error, proto, "network: %s is not supported (tcp, ws or h2)", s);
    }
  if (link->protocol == VPN_PROTOCOL_SHADOWSOCKS && !g_str_equal (link->network, "tcp"))
    return fail (error, proto, "network: shadowsocks runs over tcp only");
  return TRUE;
}

static gboolean
check_security (VpnLink *link, const char *value, const char *proto, GError **error)
{
  if (value == NULL || *value == '\0' || g_str_equal (value, "none"))
    link->tls = FALSE;
  else if (g_str_equal (value, "tls"))
    link->tls = TRUE;
  else
    {
      g_autofree char *s = anyd_quote_text (value, 48);
      return fail (error, proto, "security: %s is not supported (none or tls)", s);
    }
  if (link->protocol == VPN_PROTOCOL_SHADOWSOCKS && link->tls)
    return fail (error, proto, "security: shadowsocks has no tls");
  return TRUE;
}

static gboolean
check_header_type (const char *value, const char *proto, GError **error)
{
  if (value != NULL && *value != '\0' && !g_str_equal (value, "none"))
    {
      g_autofree char *s = anyd_quote_text (value, 48);
      return fail (error, proto, "headerType: %s is not supported (none)", s);
    }
  return TRUE;
}

static gboolean
check_cipher (VpnLink *link, const char *value, const char *proto, GError **error)
{
  static const char *const vmess[] = { "auto", "aes-128-gcm", "chacha20-poly1305", "none", NULL };
  g_autofree char *s = NULL;

  if (link->protocol == VPN_PROTOCOL_VMESS)
    {
      if (value == NULL || *value == '\0')
        value = "auto";
      if (g_strv_contains (vmess, value))
        {
          link->cipher = g_strdup (value);
          return TRUE;
        }
      s = anyd_quote_text (value, 48);
      return fail (error, proto, "scy: %s is not supported (auto, aes-128-gcm, chacha20-poly1305, none)", s);
    }
  if (link->protocol != VPN_PROTOCOL_SHADOWSOCKS)
    return TRUE;
  if (value == NULL || *value == '\0')
    return fail (error, proto, "method: missing");
  if (g_ascii_strcasecmp (value, "aes-128-gcm") == 0)
    link->cipher = g_strdup ("aes-128-gcm");
  else if (g_ascii_strcasecmp (value, "aes-256-gcm") == 0)
    link->cipher = g_strdup ("aes-256-gcm");
  else if (g_ascii_strcasecmp (value, "chacha20-poly1305") == 0 ||
           g_ascii_strcasecmp (value, "chacha20-ietf-poly1305") == 0)
    link->cipher = g_strdup ("chacha20-poly1305");
  else
    {
      s = anyd_quote_text (value, 48);
      return fail (error, proto, "method: %s is not supported (aes-128-gcm, aes-256-gcm, "
                   "chacha20-ietf-poly1305)", s);
    }
  return TRUE;
}

/* Every parser ends here: defaults that depend on the protocol. */
static gboolean
finish (VpnLink *link, const char *proto, GError **error)
{
  if (link->network == NULL)
    link->network = g_strdup ("tcp");
  if (link->protocol == VPN_PROTOCOL_VMESS && link->cipher == NULL)
    link->cipher = g_strdup ("auto");
  if (link->protocol == VPN_PROTOCOL_SHADOWSOCKS && link->cipher == NULL)
    return fail (error, proto, "method: missing");
  if (g_str_equal (link->network, "tcp") && (link->path != NULL || link->http_host != NULL))
    {
      /* providers often fill these for tcp links too; they mean nothing there */
      g_clear_pointer (&link->path, g_free);
      g_clear_pointer (&link->http_host, g_free);
    }
  if (!link->tls)
    g_clear_pointer (&link->sni, g_free);
  return TRUE;
}

/* ---- base64 and URL pieces ---------------------------------------------- */

/* Standard or URL-safe alphabet, padding optional, blanks ignored; the
 * result is NUL-terminated (and wiped by the caller: it may hold a secret).
 * NULL when it is not base64. */
static char *
base64_decode (const char *text, gsize len, gsize *out_len)
{
  g_autofree char *clean = g_malloc (len + 1);
  gsize n = 0, bin_len = 0;
  char *bin;

  for (gsize i = 0; i < len; i++)
    {
      char ch = text[i];
      if (g_ascii_isspace (ch))
        continue;
      if (ch == '=')
        {
          /* padding only at the end */
          for (gsize j = i; j < len; j++)
            if (text[j] != '=' && !g_ascii_isspace (text[j]))
              {
                sodium_memzero (clean, len + 1);
                return NULL;
              }
          break;
        }
      clean[n++] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
    }
  if (n == 0 || n % 4 == 1)
    {
      sodium_memzero (clean, len + 1);
      return NULL;
    }
  bin = g_malloc (n * 3 / 4 + 1);
  /* spare bits may be non-zero in the wild: libsodium refuses those, so
   * clear them by decoding through the padded form only when needed */
  if (sodium_base642bin ((guchar *) bin, n * 3 / 4 + 1, clean, n, NULL, &bin_len, NULL,
                         sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
    {
      sodium_memzero (clean, len + 1);
      sodium_memzero (bin, n * 3 / 4 + 1);
      g_free (bin);
      return NULL;
    }
  sodium_memzero (clean, len + 1);
  bin[bin_len] = '\0';
  *out_len = bin_len;
  return bin;
}

static void
wipe_free (char *buf, gsize len)
{
  if (buf != NULL)
    {
      sodium_memzero (buf, len);
      g_free (buf);
    }
}

/* Percent-decoding; NULL for a bad escape or an escaped NUL. */
static char *
unescape (const char *s, gsize len)
{
  g_autofree char *part = g_strndup (s, len);
  return g_uri_unescape_segment (part, part + strlen (part), NULL);
}

typedef struct {
  char *user;      /* percent-decoded userinfo (secret), NULL: none */
  char *host;      /* without brackets */
  char *port;
  char *label;
  GHashTable *query;  /* name -> decoded value */
} UrlParts;

static void
url_parts_clear (UrlParts *u)
{
  vpn_secret_free (u->user);
  g_free (u->host);
  g_free (u->port);
  g_free (u->label);
  g_clear_pointer (&u->query, g_hash_table_unref);
}

static const char *
query (UrlParts *u, const char *name)
{
  return g_hash_table_lookup (u->query, name);
}

/* scheme://userinfo@host:port[/][?query][#fragment], the part after "://". */
static gboolean
split_url (const char *rest, gsize len, const char *proto, gboolean need_user, UrlParts *u, GError **error)
{
  const char *end = rest + len, *hash, *q, *auth_end, *at, *hp, *colon;

  u->query = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hash = memchr (rest, '#', len);
  if (hash != NULL)
    {
      u->label = unescape (hash + 1, (gsize) (end - hash - 1));
      end = hash;
    }
  q = memchr (rest, '?', (gsize) (end - rest));
  auth_end = q ? q : end;
  /* an empty path ("/") may sit between authority and query */
  for (const char *p = rest; p < auth_end; p++)
    if (*p == '/')
      {
        if (p + 1 != auth_end)
          return fail (error, proto, "path: unexpected after the port");
        auth_end = p;
        break;
      }
  at = g_strrstr_len (rest, auth_end - rest, "@");
  if (at != NULL)
    {
      u->user = unescape (rest, (gsize) (at - rest));
      if (u->user == NULL || *u->user == '\0')
        return fail (error, proto, "%s: missing or badly escaped", need_user ? "user" : "userinfo");
      hp = at + 1;
    }
  else if (need_user)
    return fail (error, proto, "user: missing (expected user@host:port)");
  else
    hp = rest;
  if (hp < auth_end && *hp == '[')
    {
      const char *close = memchr (hp, ']', (gsize) (auth_end - hp));
      if (close == NULL || close + 1 >= auth_end || close[1] != ':')
        return fail (error, proto, "host: bad [IPv6]:port");
      u->host = g_strndup (hp + 1, (gsize) (close - hp - 1));
      colon = close + 1;
    }
  else
    {
      colon = g_strrstr_len (hp, auth_end - hp, ":");
      if (colon == NULL)
        return fail (error, proto, "port: missing (expected host:port)");
      u->host = unescape (hp, (gsize) (colon - hp));
      if (u->host == NULL)
        return fail (error, proto, "host: badly escaped");
    }
  u->port = g_strndup (colon + 1, (gsize) (auth_end - colon - 1));
  if (q != NULL)
    {
      g_auto(GStrv) pairs = NULL;
      g_autofree char *qs = g_strndup (q + 1, (gsize) (end - q - 1));

      pairs = g_strsplit (qs, "&", 64);
      for (guint i = 0; pairs[i]; i++)
        {
          char *eq = strchr (pairs[i], '=');
          char *name, *value;

          if (*pairs[i] == '\0')
            continue;
          name = unescape (pairs[i], eq ? (gsize) (eq - pairs[i]) : strlen (pairs[i]));
          value = eq ? unescape (eq + 1, strlen (eq + 1)) : g_strdup ("");
          if (name == NULL || value == NULL)
            {
              g_free (name);
              g_free (value);
              return fail (error, proto, "query: badly escaped");
            }
          g_hash_table_replace (u->query, name, value);
        }
    }
  return TRUE;
}

static gboolean
refuse_params (UrlParts *u, const char *proto, const char *const *names, const char *why, GError **error)
{
  for (guint i = 0; names[i]; i++)
    {
      const char *v = query (u, names[i]);
      if (v != NULL && *v != '\0')
        return fail (error, proto, "%s: %s", names[i], why);
    }
  return TRUE;
}

static gboolean
check_insecure (UrlParts *u, const char *proto, GError **error)
{
  const char *v = query (u, "allowInsecure");

  if (v == NULL)
    v = query (u, "insecure");
  if (v != NULL && (g_str_equal (v, "1") || g_ascii_strcasecmp (v, "true") == 0))
    return fail (error, proto, "allowInsecure: certificate checks are never turned off");
  return TRUE;
}

/* ---- the four schemes ----------------------------------------------------- */

/* vless:// and trojan:// share their shape. */
static VpnLink *
parse_vless_trojan (VpnProtocol protocol, const char *rest, gsize len, GError **error)
{
  static const char *const reality[] = { "pbk", "sid", "spx", NULL };
  static const char *const grpc[] = { "serviceName", "mode", NULL };
  const char *proto = protocol == VPN_PROTOCOL_VLESS ? "vless" : "trojan";
  g_autoptr(VpnLink) link = vpn_link_new ();
  UrlParts u = { 0 };
  const char *security, *v;
  gboolean ok;

  link->protocol = protocol;
  ok = split_url (rest, len, proto, TRUE, &u, error);
  if (ok)
    {
      security = query (&u, "security");
      if (protocol == VPN_PROTOCOL_TROJAN && security == NULL)
        security = "tls";   /* trojan is TLS unless told otherwise */
      ok = check_host (u.host, proto, "host", &link->host, error) &&
           check_port (u.port, proto, &link->port, error) &&
           check_secret (link, u.user, proto, error) &&
           check_security (link, security, proto, error) &&
           check_network (link, query (&u, "type"), proto, error) &&
           check_header_type (query (&u, "headerType"), proto, error) &&
           check_opt_host (query (&u, "sni") ? query (&u, "sni") : query (&u, "peer"), proto, "sni",
                           &link->sni, error) &&
           check_opt_host (query (&u, "host"), proto, "host", &link->http_host, error) &&
           check_path (query (&u, "path"), proto, &link->path, error) &&
           refuse_params (&u, proto, reality, "REALITY is not supported by v2ray 4.34", error) &&
           refuse_params (&u, proto, grpc, "gRPC is not supported by v2ray 4.34", error) &&
           check_insecure (&u, proto, error);
    }
  if (ok && (v = query (&u, "flow")) != NULL && *v != '\0')
    ok = fail (error, proto, "flow: XTLS flows are not supported by v2ray 4.34");
  if (ok && protocol == VPN_PROTOCOL_VLESS && (v = query (&u, "encryption")) != NULL && *v != '\0' &&
      !g_str_equal (v, "none"))
    ok = fail (error, proto, "encryption: only none exists for vless");
  if (ok && u.label != NULL && *u.label != '\0')
    link->label = g_steal_pointer (&u.label);
  url_parts_clear (&u);
  if (!ok || !finish (link, proto, error))
    return NULL;
  return g_steal_pointer (&link);
}

static VpnLink *
parse_ss (const char *rest, gsize len, GError **error)
{
  const char *proto = "shadowsocks";
  g_autoptr(VpnLink) link = vpn_link_new ();
  UrlParts u = { 0 };
  char *decoded = NULL, *colon;
  gsize decoded_len = 0;
  const char *hash = memchr (rest, '#', len);
  gsize body = hash ? (gsize) (hash - rest) : len;
  gboolean ok = TRUE;
  const char *v;

  link->protocol = VPN_PROTOCOL_SHADOWSOCKS;
  if (memchr (rest, '@', body) == NULL)
    {
      /* the legacy form: ss://base64(method:password@host:port)#tag */
      g_autofree char *inner = NULL;
      decoded = base64_decode (rest, body, &decoded_len);
      if (decoded == NULL || strlen (decoded) != decoded_len || strchr (decoded, '@') == NULL)
        {
          wipe_free (decoded, decoded_len);
          return fail (error, proto, "userinfo: neither user@host:port nor base64 of it"), NULL;
        }
      inner = g_strconcat (decoded, hash ? hash : "", NULL);
      ok = split_url (inner, strlen (inner), proto, TRUE, &u, error);
      sodium_memzero (inner, strlen (inner));
      wipe_free (decoded, decoded_len);
      decoded = NULL;
      /* the user part was plain text there */
    }
  else
    {
      ok = split_url (rest, len, proto, TRUE, &u, error);
      if (ok && strchr (u.user, ':') == NULL)
        {
          /* SIP002: base64url(method:password) */
          decoded = base64_decode (u.user, strlen (u.user), &decoded_len);
          if (decoded == NULL || strlen (decoded) != decoded_len || strchr (decoded, ':') == NULL)
            {
              wipe_free (decoded, decoded_len);
              decoded = NULL;
              ok = fail (error, proto, "userinfo: not base64 of method:password");
            }
          else
            {
              vpn_secret_free (u.user);
              u.user = decoded;
              decoded = NULL;
            }
        }
    }
  if (ok)
    {
      colon = strchr (u.user, ':');
      if (colon == NULL)
        ok = fail (error, proto, "userinfo: expected method:password");
      else
        {
          g_autofree char *method = g_strndup (u.user, (gsize) (colon - u.user));
          ok = check_cipher (link, method, proto, error) &&
               check_secret (link, colon + 1, proto, error) &&
               check_host (u.host, proto, "host", &link->host, error) &&
               check_port (u.port, proto, &link->port, error);
        }
    }
  if (ok && (v = query (&u, "plugin")) != NULL && *v != '\0')
    ok = fail (error, proto, "plugin: shadowsocks plugins are not supported");
  if (ok && u.label != NULL && *u.label != '\0')
    link->label = g_steal_pointer (&u.label);
  url_parts_clear (&u);
  if (!ok || !finish (link, proto, error))
    return NULL;
  return g_steal_pointer (&link);
}

/* A JSON member as text: strings as they are, integers printed. */
static gboolean
json_text (JsonObject *o, const char *name, char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);

  *out = NULL;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    *out = g_strdup (json_node_get_string (n));
  else if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
    *out = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (n));
  else
    return fail (error, "vmess", "%s: not a string or integer", name);
  return TRUE;
}

static VpnLink *
parse_vmess (const char *rest, gsize len, GError **error)
{
  const char *proto = "vmess";
  g_autoptr(VpnLink) link = vpn_link_new ();
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  gsize json_len = 0;
  char *json = base64_decode (rest, len, &json_len);
  JsonObject *o;
  g_autofree char *add = NULL, *port = NULL, *id = NULL, *aid = NULL, *scy = NULL, *net = NULL,
                  *type = NULL, *host = NULL, *path = NULL, *tls = NULL, *sni = NULL, *ps = NULL;
  gboolean ok;
  guint64 n = 0;

  link->protocol = VPN_PROTOCOL_VMESS;
  if (json == NULL || strlen (json) != json_len || !g_utf8_validate (json, json_len, NULL))
    {
      wipe_free (json, json_len);
      return fail (error, proto, "not base64 of a JSON object"), NULL;
    }
  /* json-glib's messages quote the input: keep them out of ours */
  ok = json_parser_load_from_data (parser, json, (gssize) json_len, NULL) &&
       json_parser_get_root (parser) != NULL && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser));
  wipe_free (json, json_len);
  if (!ok)
    return fail (error, proto, "not base64 of a JSON object"), NULL;
  o = json_node_get_object (json_parser_get_root (parser));
  ok = json_text (o, "add", &add, error) && json_text (o, "port", &port, error) &&
       json_text (o, "id", &id, error) && json_text (o, "aid", &aid, error) &&
       json_text (o, "scy", &scy, error) && json_text (o, "net", &net, error) &&
       json_text (o, "type", &type, error) && json_text (o, "host", &host, error) &&
       json_text (o, "path", &path, error) && json_text (o, "tls", &tls, error) &&
       json_text (o, "sni", &sni, error) && json_text (o, "ps", &ps, error);
  /* the parser's copy of the id goes with it; ours is wiped below */
  if (ok)
    ok = check_host (add, proto, "add", &link->host, error) &&
         check_port (port, proto, &link->port, error) &&
         check_secret (link, id, proto, error);
  if (ok && aid != NULL && *aid != '\0')
    {
      if (!g_ascii_string_to_unsigned (aid, 10, 0, 65535, &n, NULL))
        ok = fail (error, proto, "aid: not 0-65535");
      link->alter_id = (guint) n;
    }
  if (ok)
    ok = check_cipher (link, scy, proto, error) && check_network (link, net, proto, error) &&
         check_header_type (type, proto, error) && check_security (link, tls, proto, error) &&
         check_opt_host (sni, proto, "sni", &link->sni, error) &&
         check_opt_host (host, proto, "host", &link->http_host, error) &&
         check_path (path, proto, &link->path, error);
  if (id != NULL)
    sodium_memzero (id, strlen (id));
  if (ok && ps != NULL && *ps != '\0')
    link->label = g_steal_pointer (&ps);
  if (!ok || !finish (link, proto, error))
    return NULL;
  return g_steal_pointer (&link);
}

/* ---- entry points --------------------------------------------------------- */

static gsize
skip_blanks (const char *text, gsize len, gsize *end)
{
  gsize start = 0;

  *end = len;
  while (start < len && g_ascii_isspace (text[start]))
    start++;
  while (*end > start && g_ascii_isspace (text[*end - 1]))
    (*end)--;
  return start;
}

static const struct {
  const char *scheme;
  VpnProtocol protocol;
} schemes[] = {
  { "vmess://", VPN_PROTOCOL_VMESS },
  { "vless://", VPN_PROTOCOL_VLESS },
  { "trojan://", VPN_PROTOCOL_TROJAN },
  { "ss://", VPN_PROTOCOL_SHADOWSOCKS },
};

gboolean
vpn_link_looks_like (const char *text, gsize len)
{
  gsize end, start = skip_blanks (text, len, &end);

  for (guint i = 0; i < G_N_ELEMENTS (schemes); i++)
    if (end - start >= strlen (schemes[i].scheme) &&
        g_ascii_strncasecmp (text + start, schemes[i].scheme, strlen (schemes[i].scheme)) == 0)
      return TRUE;
  return FALSE;
}

VpnLink *
vpn_link_parse (const char *text, gsize len, GError **error)
{
  gsize end, start = skip_blanks (text, len, &end);
  const char *s = text + start;
  gsize n = end - start;

  if (len > VPN_LINK_MAX_SIZE)
    return fail (error, NULL, "longer than %d bytes", VPN_LINK_MAX_SIZE), NULL;
  if (memchr (s, '\0', n) != NULL)
    return fail (error, NULL, "contains a NUL byte"), NULL;
  for (gsize i = 0; i < n; i++)
    if (g_ascii_isspace (s[i]))
      return fail (error, NULL, "contains blanks (one link per line)"), NULL;
  for (guint i = 0; i < G_N_ELEMENTS (schemes); i++)
    {
      gsize sl = strlen (schemes[i].scheme);
      /* the parsers get a NUL-terminated copy (a subscription's line is not) */
      char *copy;
      VpnLink *link;

      if (n < sl || g_ascii_strncasecmp (s, schemes[i].scheme, sl) != 0)
        continue;
      copy = g_strndup (s + sl, n - sl);
      switch (schemes[i].protocol)
        {
        case VPN_PROTOCOL_VMESS:
          link = parse_vmess (copy, n - sl, error);
          break;
        case VPN_PROTOCOL_SHADOWSOCKS:
          link = parse_ss (copy, n - sl, error);
          break;
        default:
          link = parse_vless_trojan (schemes[i].protocol, copy, n - sl, error);
          break;
        }
      wipe_free (copy, n - sl);
      return link;
    }
  return fail (error, NULL, "scheme: not one of vmess://, vless://, trojan://, ss://"), NULL;
}

GPtrArray *
vpn_subscription_parse (const char *text, gsize len, GPtrArray **skipped_out, GError **error)
{
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func ((GDestroyNotify) vpn_link_free);
  g_autoptr(GPtrArray) skipped = g_ptr_array_new_with_free_func (g_free);
  char *decoded = NULL;
  gsize decoded_len = 0, pos = 0;
  const char *body = text;
  gsize body_len = len;
  guint line = 0;

  if (len > VPN_SUBSCRIPTION_MAX_SIZE)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "subscription: larger than %d bytes",
                   VPN_SUBSCRIPTION_MAX_SIZE);
      return NULL;
    }
  /* a provider's subscription is usually base64 of the lines */
  if (!vpn_link_looks_like (text, len))
    {
      decoded = base64_decode (text, len, &decoded_len);
      if (decoded != NULL && strlen (decoded) == decoded_len && vpn_link_looks_like (decoded, decoded_len))
        {
          body = decoded;
          body_len = decoded_len;
        }
    }
  while (pos < body_len)
    {
      const char *l = body + pos;
      const char *nl = memchr (l, '\n', body_len - pos);
      gsize ll = nl ? (gsize) (nl - l) : body_len - pos;
      gsize end, start = skip_blanks (l, ll, &end);
      g_autoptr(GError) local = NULL;
      VpnLink *link;

      pos += ll + 1;
      line++;
      if (start == end || l[start] == '#')
        continue;
      if (links->len + skipped->len >= VPN_SUBSCRIPTION_MAX_LINKS)
        {
          wipe_free (decoded, decoded_len);
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "subscription: more than %d links",
                       VPN_SUBSCRIPTION_MAX_LINKS);
          return NULL;
        }
      link = vpn_link_parse (l + start, end - start, &local);
      if (link != NULL)
        g_ptr_array_add (links, link);
      else
        g_ptr_array_add (skipped, g_strdup_printf ("line %u: %s", line, local->message));
    }
  wipe_free (decoded, decoded_len);
  if (links->len == 0 && skipped->len == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "subscription: no links in it");
      return NULL;
    }
  if (skipped_out != NULL)
    *skipped_out = g_steal_pointer (&skipped);
  return g_steal_pointer (&links);
}

/* ---- stored form ---------------------------------------------------------- */

#define GROUP "V2Ray"

char *
vpn_link_to_keyfile (const VpnLink *l)
{
  /* sized up front: no reallocation leaves a copy of the secret behind */
  GString *s = g_string_sized_new (4096 + 4 * MAX_FIELD);

  g_string_append_printf (s, "[" GROUP "]\nProtocol=%s\nHost=%s\nPort=%u\nSecret=",
                          vpn_protocol_name (l->protocol), l->host, l->port);
  /* GKeyFile's own escapes (g_key_file_get_string undoes them); secrets
   * hold no control characters */
  for (const char *p = l->secret; *p; p++)
    {
      if (*p == '\\')
        g_string_append (s, "\\\\");
      else if (*p == ' ')
        g_string_append (s, "\\s");
      else
        g_string_append_c (s, *p);
    }
  g_string_append_c (s, '\n');
  if (l->protocol == VPN_PROTOCOL_VMESS)
    g_string_append_printf (s, "AlterId=%u\n", l->alter_id);
  if (l->cipher)
    g_string_append_printf (s, "Cipher=%s\n", l->cipher);
  g_string_append_printf (s, "Network=%s\nTLS=%s\n", l->network, l->tls ? "true" : "false");
  if (l->sni)
    g_string_append_printf (s, "SNI=%s\n", l->sni);
  if (l->http_host)
    g_string_append_printf (s, "HostHeader=%s\n", l->http_host);
  if (l->path)
    g_string_append_printf (s, "Path=%s\n", l->path);
  g_string_append_printf (s, "BlockQuic=%s\nIPv6=%s\n", l->block_quic ? "true" : "false",
                          vpn_ipv6_mode_name (l->ipv6));
  return g_string_free (s, FALSE);
}

static char *
kf_get (GKeyFile *kf, const char *key)
{
  return g_key_file_get_value (kf, GROUP, key, NULL);
}

VpnLink *
vpn_link_from_keyfile (const char *data, gsize len, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(VpnLink) link = vpn_link_new ();
  g_autofree char *protocol = NULL, *host = NULL, *port = NULL, *cipher = NULL, *network = NULL,
                  *tls = NULL, *sni = NULL, *http_host = NULL, *path = NULL, *aid = NULL,
                  *quic = NULL, *ipv6 = NULL;
  char *secret = NULL;
  g_auto(GStrv) keys = NULL;
  static const char *const known[] = { "Protocol", "Host", "Port", "Secret", "AlterId", "Cipher", "Network",
                                       "TLS", "SNI", "HostHeader", "Path", "BlockQuic", "IPv6", NULL };
  const char *proto;
  gboolean ok = TRUE;
  guint64 n = 0;

  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, NULL) ||
      !g_key_file_has_group (kf, GROUP))
    return fail (error, NULL, "record: not a [" GROUP "] key file"), NULL;
  keys = g_key_file_get_keys (kf, GROUP, NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (!g_strv_contains (known, keys[i]))
      return fail (error, NULL, "record: unknown key %.32s", keys[i]), NULL;
  protocol = kf_get (kf, "Protocol");
  for (n = 0; n < G_N_ELEMENTS (protocol_names); n++)
    if (g_strcmp0 (protocol, protocol_names[n]) == 0)
      break;
  if (n == G_N_ELEMENTS (protocol_names))
    return fail (error, NULL, "record: Protocol: not vmess, vless, trojan or shadowsocks"), NULL;
  link->protocol = (VpnProtocol) n;
  proto = protocol_names[n];
  host = kf_get (kf, "Host");
  port = kf_get (kf, "Port");
  secret = g_key_file_get_string (kf, GROUP, "Secret", NULL);
  cipher = kf_get (kf, "Cipher");
  network = kf_get (kf, "Network");
  tls = kf_get (kf, "TLS");
  sni = kf_get (kf, "SNI");
  http_host = kf_get (kf, "HostHeader");
  path = kf_get (kf, "Path");
  aid = kf_get (kf, "AlterId");
  quic = kf_get (kf, "BlockQuic");
  ipv6 = kf_get (kf, "IPv6");
  ok = check_host (host, proto, "Host", &link->host, error) && check_port (port, proto, &link->port, error) &&
       check_secret (link, secret, proto, error) && check_cipher (link, cipher, proto, error) &&
       check_network (link, network, proto, error) &&
       check_security (link, g_strcmp0 (tls, "true") == 0 ? "tls" : "none", proto, error) &&
       check_opt_host (sni, proto, "SNI", &link->sni, error) &&
       check_opt_host (http_host, proto, "HostHeader", &link->http_host, error) &&
       check_path (path, proto, &link->path, error);
  vpn_secret_free (secret);
  if (ok && (tls == NULL || !(g_str_equal (tls, "true") || g_str_equal (tls, "false"))))
    ok = fail (error, proto, "record: TLS: not true or false");
  if (ok && (network == NULL || (link->protocol == VPN_PROTOCOL_VMESS && aid == NULL)))
    ok = fail (error, proto, "record: Network or AlterId missing");
  if (ok && link->protocol != VPN_PROTOCOL_VMESS && link->protocol != VPN_PROTOCOL_SHADOWSOCKS && cipher)
    ok = fail (error, proto, "record: Cipher: not used by %s", proto);
  if (ok && aid != NULL)
    {
      if (link->protocol != VPN_PROTOCOL_VMESS || !g_ascii_string_to_unsigned (aid, 10, 0, 65535, &n, NULL))
        ok = fail (error, proto, "record: AlterId: not 0-65535");
      link->alter_id = (guint) n;
    }
  if (ok && (quic == NULL || !(g_str_equal (quic, "true") || g_str_equal (quic, "false"))))
    ok = fail (error, proto, "record: BlockQuic: not true or false");
  if (ok && !vpn_ipv6_mode_parse (ipv6, &link->ipv6))
    ok = fail (error, proto, "record: IPv6: not proxy or block");
  if (!ok || !finish (link, proto, error))
    return NULL;
  link->block_quic = g_str_equal (quic, "true");
  return g_steal_pointer (&link);
}

char *
vpn_link_name_from_label (const char *label, const char *fallback)
{
  GString *s = g_string_new (NULL);

  for (const char *p = label; p && *p && s->len < VPN_PROFILE_NAME_MAX - 8; p++)
    {
      if (g_ascii_isalnum (*p) || strchr ("_=+.", *p) != NULL)
        g_string_append_c (s, *p);
      else if (s->len > 0 && s->str[s->len - 1] != '-')
        g_string_append_c (s, '-');   /* blanks, emoji, '/': one dash */
    }
  while (s->len > 0 && (s->str[s->len - 1] == '-' || s->str[s->len - 1] == '.'))
    g_string_truncate (s, s->len - 1);
  while (s->len > 0 && (s->str[0] == '.' || s->str[0] == '-'))
    g_string_erase (s, 0, 1);
  if (s->len == 0)
    g_string_append (s, fallback);
  return g_string_free (s, FALSE);
}
