/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-config: strict wg-quick parser and canonical writer (see vpn-config.h). */
#include "anyd-build-config.h"
#include "vpn-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "error.h"

/* Values quoted in messages are cut to this many bytes (keys never are quoted). */
#define QUOTE_MAX 64

typedef enum {
  SECTION_NONE,
  SECTION_INTERFACE,
  SECTION_PEER,
} Section;

/* Keys that may appear once per section; bit positions in a "seen" mask. */
enum {
  SEEN_PRIVATE_KEY = 1 << 0,
  SEEN_LISTEN_PORT = 1 << 1,
  SEEN_FWMARK      = 1 << 2,
  SEEN_MTU         = 1 << 3,
  SEEN_TABLE       = 1 << 4,
  SEEN_SAVE_CONFIG = 1 << 5,
  SEEN_PUBLIC_KEY  = 1 << 8,
  SEEN_PSK         = 1 << 9,
  SEEN_ENDPOINT    = 1 << 10,
  SEEN_KEEPALIVE   = 1 << 11,
};

typedef struct {
  VpnConfig  *config;
  VpnPeer    *peer;          /* the [Peer] being filled */
  Section     section;
  guint       line;
  guint       seen;          /* SEEN_* of the current section */
  guint       interface_line;
  VpnConfigParseFlags flags;
} Parser;

static void
peer_free (gpointer data)
{
  VpnPeer *peer = data;

  if (peer == NULL)
    return;
  sodium_memzero (peer->preshared_key, sizeof peer->preshared_key);
  g_free (peer->endpoint_host);
  g_clear_pointer (&peer->allowed_ips, g_array_unref);
  g_free (peer);
}

static void
config_clear (gpointer data)
{
  VpnConfig *config = data;

  sodium_memzero (config->private_key, sizeof config->private_key);
  g_clear_pointer (&config->addresses, g_array_unref);
  g_clear_pointer (&config->dns_servers, g_ptr_array_unref);
  g_clear_pointer (&config->dns_search, g_ptr_array_unref);
  g_clear_pointer (&config->peers, g_ptr_array_unref);
  g_clear_pointer (&config->link, vpn_link_free);
}

VpnConfig *
vpn_config_ref (VpnConfig *config)
{
  return g_atomic_rc_box_acquire (config);
}

void
vpn_config_unref (VpnConfig *config)
{
  if (config != NULL)
    g_atomic_rc_box_release_full (config, config_clear);
}

void
vpn_secret_free (char *text)
{
  if (text == NULL)
    return;
  sodium_memzero (text, strlen (text));
  g_free (text);
}

/* ---- small value parsers ------------------------------------------------ */

/* Keys go through libsodium: its base64 and hex code is constant-time, so
 * decoding a private key leaks nothing through timing.  wg(8)'s rule holds:
 * exactly 44 characters with one '=' of padding, and libsodium refuses
 * non-zero spare bits, so every key has exactly one spelling. */
gboolean
vpn_key_from_base64 (const char *text, guint8 key[VPN_KEY_LEN])
{
  guint8 out[VPN_KEY_LEN];
  size_t n = 0;
  gboolean ok;

  if (text == NULL || strlen (text) != 44 || text[43] != '=')
    return FALSE;
  ok = sodium_base642bin (out, sizeof out, text, 44, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
       n == VPN_KEY_LEN;
  if (ok)
    memcpy (key, out, VPN_KEY_LEN);
  sodium_memzero (out, sizeof out);
  return ok;
}

char *
vpn_key_to_base64 (const guint8 key[VPN_KEY_LEN])
{
  char *out = g_malloc (sodium_base64_ENCODED_LEN (VPN_KEY_LEN, sodium_base64_VARIANT_ORIGINAL));

  sodium_bin2base64 (out, sodium_base64_ENCODED_LEN (VPN_KEY_LEN, sodium_base64_VARIANT_ORIGINAL), key,
                     VPN_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
  return out;
}

void
vpn_key_to_hex (const guint8 key[VPN_KEY_LEN], char out[2 * VPN_KEY_LEN + 1])
{
  sodium_bin2hex (out, 2 * VPN_KEY_LEN + 1, key, VPN_KEY_LEN);
}

/* Decimal (or 0x hex when allow_hex) without sign, spaces or overflow. */
static gboolean
parse_uint (const char *text, guint64 max, gboolean allow_hex, guint64 *out)
{
  guint64 v = 0;
  guint base = 10;
  const char *p = text;

  if (allow_hex && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    {
      base = 16;
      p += 2;
    }
  if (*p == '\0')
    return FALSE;
  for (; *p; p++)
    {
      int d = base == 16 ? g_ascii_xdigit_value (*p) : g_ascii_digit_value (*p);
      if (d < 0)
        return FALSE;
      if (v > (max - (guint64) d) / base)
        return FALSE;
      v = v * base + (guint64) d;
    }
  *out = v;
  return TRUE;
}

void
vpn_cidr_mask (AnydCidr *cidr)
{
  guint len = cidr->family == AF_INET ? 4 : 16;

  for (guint i = 0; i < len; i++)
    {
      guint bit0 = i * 8;
      if (bit0 >= cidr->prefix)
        cidr->addr[i] = 0;
      else if (cidr->prefix - bit0 < 8)
        cidr->addr[i] &= (guint8) (0xff << (8 - (cidr->prefix - bit0)));
    }
}

gboolean
vpn_cidr_equal (const AnydCidr *a, const AnydCidr *b)
{
  return a->family == b->family && a->prefix == b->prefix &&
         memcmp (a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* A DNS name: labels of [A-Za-z0-9_-], 1–63 bytes, 253 in all, one optional
 * trailing dot.  (Hostnames in Endpoint= and search domains in DNS=.) */
static gboolean
dns_name_is_valid (const char *name)
{
  gsize len = strlen (name);
  gsize label = 0;

  if (len > 0 && name[len - 1] == '.')
    len--;
  if (len == 0 || len > 253)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = name[i];
      if (c == '.')
        {
          if (label == 0)
            return FALSE;
          label = 0;
          continue;
        }
      if (!(g_ascii_isalnum (c) || c == '-' || c == '_') || ++label > 63)
        return FALSE;
    }
  return label > 0;
}

static gboolean
ip_literal (const char *text, int *family_out, char **canonical)
{
  guint8 buf[16];
  char out[INET6_ADDRSTRLEN];
  int family = strchr (text, ':') ? AF_INET6 : AF_INET;

  if (inet_pton (family, text, buf) != 1)
    return FALSE;
  if (family_out)
    *family_out = family;
  if (canonical)
    {
      inet_ntop (family, buf, out, sizeof out);
      *canonical = g_strdup (out);
    }
  return TRUE;
}

gboolean
vpn_profile_name_is_valid (const char *name)
{
  gsize len = name ? strlen (name) : 0;

  if (len == 0 || len > VPN_PROFILE_NAME_MAX || name[0] == '.' || name[0] == '-')
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!(g_ascii_isalnum (name[i]) || strchr ("_=+.-", name[i]) != NULL))
      return FALSE;
  return TRUE;
}

/* ---- the parser --------------------------------------------------------- */

static gboolean G_GNUC_PRINTF (3, 4)
fail (Parser *p, GError **error, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "config line %u: %s", p->line, msg);
  return FALSE;
}

/* A value for a message: printable ASCII only, cut to QUOTE_MAX bytes. */
static char *
quote (const char *value)
{
  GString *s = g_string_new (NULL);

  for (const char *c = value; *c && s->len < QUOTE_MAX; c++)
    g_string_append_c (s, g_ascii_isprint (*c) ? *c : '?');
  if (strlen (value) > QUOTE_MAX)
    g_string_append (s, "…");
  return g_string_free (s, FALSE);
}

static gboolean
once (Parser *p, guint bit, const char *key, GError **error)
{
  if (p->seen & bit)
    return fail (p, error, "%s: duplicate key in this section", key);
  p->seen |= bit;
  return TRUE;
}

static gboolean
parse_key_value (Parser *p, const char *key, const char *value, guint8 out[VPN_KEY_LEN], GError **error)
{
  if (!vpn_key_from_base64 (value, out))
    return fail (p, error, "%s: not a WireGuard key (44 characters of base64 encoding 32 bytes)", key);
  return TRUE;
}

/* Comma-separated lists: "a, b,c"; empty items are errors. */
static gchar **
split_list (const char *value)
{
  gchar **items = g_strsplit (value, ",", -1);

  for (gchar **i = items; *i; i++)
    g_strstrip (*i);
  return items;
}

static gboolean
parse_cidr_list (Parser *p, const char *key, const char *value, gboolean clear_host_bits,
                 GArray *out, GError **error)
{
  g_auto(GStrv) items = split_list (value);

  for (gchar **i = items; *i; i++)
    {
      AnydCidr c;
      gboolean dup = FALSE;

      if (**i == '\0')
        return fail (p, error, "%s: empty item in list", key);
      if (!anyd_cidr_parse (*i, key, &c, error))
        {
          g_prefix_error (error, "config line %u: ", p->line);
          return FALSE;
        }
      if (clear_host_bits)
        vpn_cidr_mask (&c);
      for (guint j = 0; j < out->len && !dup; j++)
        dup = vpn_cidr_equal (&g_array_index (out, AnydCidr, j), &c);
      if (!dup)
        g_array_append_val (out, c);
    }
  return TRUE;
}

static gboolean
parse_dns (Parser *p, const char *value, GError **error)
{
  g_auto(GStrv) items = split_list (value);

  for (gchar **i = items; *i; i++)
    {
      char *canonical = NULL;
      g_autofree char *q = NULL;

      if (**i == '\0')
        return fail (p, error, "DNS: empty item in list");
      if (ip_literal (*i, NULL, &canonical))
        {
          g_ptr_array_add (p->config->dns_servers, canonical);
          continue;
        }
      if (dns_name_is_valid (*i))
        {
          g_ptr_array_add (p->config->dns_search, g_strdup (*i));
          continue;
        }
      q = quote (*i);
      return fail (p, error, "DNS: '%s' is neither an IP address nor a search domain", q);
    }
  return TRUE;
}

static gboolean
parse_endpoint (Parser *p, const char *value, GError **error)
{
  g_autofree char *q = quote (value);
  g_autofree char *host = NULL;
  const char *port_text;
  guint64 port;

  if (value[0] == '[')
    {
      const char *close = strchr (value, ']');
      int family = 0;
      if (close == NULL || close[1] != ':')
        return fail (p, error, "Endpoint: '%s' must be [IPv6]:port", q);
      host = g_strndup (value + 1, (gsize) (close - value - 1));
      if (!ip_literal (host, &family, NULL) || family != AF_INET6)
        return fail (p, error, "Endpoint: '%s': not an IPv6 address in brackets", q);
      port_text = close + 2;
    }
  else
    {
      const char *colon = strrchr (value, ':');
      if (colon == NULL)
        return fail (p, error, "Endpoint: '%s' has no port (host:port)", q);
      if (strchr (value, ':') != colon)
        return fail (p, error, "Endpoint: '%s': write IPv6 endpoints as [address]:port", q);
      host = g_strndup (value, (gsize) (colon - value));
      if (!ip_literal (host, NULL, NULL) && !dns_name_is_valid (host))
        return fail (p, error, "Endpoint: '%s': not an IP address or host name", q);
      port_text = colon + 1;
    }
  if (!parse_uint (port_text, 65535, FALSE, &port) || port == 0)
    return fail (p, error, "Endpoint: '%s': port must be 1–65535", q);
  p->peer->endpoint_host = g_steal_pointer (&host);
  p->peer->endpoint_port = (guint16) port;
  return TRUE;
}

static gboolean
refuse_script (Parser *p, const char *key, GError **error)
{
  if (p->flags & VPN_CONFIG_PARSE_IGNORE_SCRIPTS)
    {
      p->config->had_scripts = TRUE;
      return TRUE;
    }
  return fail (p, error, "%s: anyd never runs a profile's commands or rewrites it; "
               "remove the key or import with the ignore_scripts option", key);
}

static gboolean
interface_key (Parser *p, const char *key, const char *value, GError **error)
{
  VpnConfig *c = p->config;
  guint64 n;

  if (g_ascii_strcasecmp (key, "PrivateKey") == 0)
    return once (p, SEEN_PRIVATE_KEY, "PrivateKey", error) &&
           parse_key_value (p, "PrivateKey", value, c->private_key, error);
  if (g_ascii_strcasecmp (key, "Address") == 0)
    return parse_cidr_list (p, "Address", value, FALSE, c->addresses, error);
  if (g_ascii_strcasecmp (key, "DNS") == 0)
    return parse_dns (p, value, error);
  if (g_ascii_strcasecmp (key, "ListenPort") == 0)
    {
      if (!once (p, SEEN_LISTEN_PORT, "ListenPort", error))
        return FALSE;
      if (!parse_uint (value, 65535, FALSE, &n))
        return fail (p, error, "ListenPort: must be a number 0–65535");
      c->has_listen_port = TRUE;
      c->listen_port = (guint16) n;
      return TRUE;
    }
  if (g_ascii_strcasecmp (key, "FwMark") == 0)
    {
      if (!once (p, SEEN_FWMARK, "FwMark", error))
        return FALSE;
      if (g_ascii_strcasecmp (value, "off") == 0)
        n = 0;
      else if (!parse_uint (value, G_MAXUINT32, TRUE, &n))
        return fail (p, error, "FwMark: must be 'off' or a 32-bit number (decimal or 0x hex)");
      c->fwmark = (guint32) n;
      return TRUE;
    }
  if (g_ascii_strcasecmp (key, "MTU") == 0)
    {
      if (!once (p, SEEN_MTU, "MTU", error))
        return FALSE;
      if (!parse_uint (value, 65535, FALSE, &n) || n < 576)
        return fail (p, error, "MTU: must be a number 576–65535");
      c->mtu = (guint32) n;
      return TRUE;
    }
  if (g_ascii_strcasecmp (key, "Table") == 0)
    {
      if (!once (p, SEEN_TABLE, "Table", error))
        return FALSE;
      if (g_ascii_strcasecmp (value, "auto") == 0)
        c->table_mode = VPN_TABLE_AUTO;
      else if (g_ascii_strcasecmp (value, "off") == 0)
        c->table_mode = VPN_TABLE_OFF;
      else if (g_ascii_strcasecmp (value, "main") == 0)
        {
          c->table_mode = VPN_TABLE_ID;
          c->table = 254;
        }
      else if (parse_uint (value, G_MAXUINT32, FALSE, &n) && n != 0 && n != 255)
        {
          c->table_mode = VPN_TABLE_ID;
          c->table = (guint32) n;
        }
      else
        return fail (p, error, "Table: must be auto, off, main or a routing table number (not 0 or 255)");
      return TRUE;
    }
  if (g_ascii_strcasecmp (key, "SaveConfig") == 0)
    return once (p, SEEN_SAVE_CONFIG, "SaveConfig", error) && refuse_script (p, "SaveConfig", error);
  if (g_ascii_strcasecmp (key, "PreUp") == 0)
    return refuse_script (p, "PreUp", error);
  if (g_ascii_strcasecmp (key, "PostUp") == 0)
    return refuse_script (p, "PostUp", error);
  if (g_ascii_strcasecmp (key, "PreDown") == 0)
    return refuse_script (p, "PreDown", error);
  if (g_ascii_strcasecmp (key, "PostDown") == 0)
    return refuse_script (p, "PostDown", error);
  {
    g_autofree char *q = quote (key);
    return fail (p, error, "unknown key '%s' in [Interface]", q);
  }
}

static gboolean
peer_key (Parser *p, const char *key, const char *value, GError **error)
{
  VpnPeer *peer = p->peer;
  guint64 n;

  if (g_ascii_strcasecmp (key, "PublicKey") == 0)
    {
      if (!once (p, SEEN_PUBLIC_KEY, "PublicKey", error) ||
          !parse_key_value (p, "PublicKey", value, peer->public_key, error))
        return FALSE;
      /* wg would silently merge two peers with one key; say so instead */
      for (guint i = 0; i + 1 < p->config->peers->len; i++)
        {
          VpnPeer *other = g_ptr_array_index (p->config->peers, i);
          if (sodium_memcmp (other->public_key, peer->public_key, VPN_KEY_LEN) == 0)
            return fail (p, error, "PublicKey: the same peer as at line %u", other->line);
        }
      return TRUE;
    }
  if (g_ascii_strcasecmp (key, "PresharedKey") == 0)
    {
      if (!once (p, SEEN_PSK, "PresharedKey", error) ||
          !parse_key_value (p, "PresharedKey", value, peer->preshared_key, error))
        return FALSE;
      peer->has_preshared_key = TRUE;
      return TRUE;
    }
  if (g_ascii_strcasecmp (key, "Endpoint") == 0)
    return once (p, SEEN_ENDPOINT, "Endpoint", error) && parse_endpoint (p, value, error);
  if (g_ascii_strcasecmp (key, "AllowedIPs") == 0)
    return parse_cidr_list (p, "AllowedIPs", value, TRUE, peer->allowed_ips, error);
  if (g_ascii_strcasecmp (key, "PersistentKeepalive") == 0)
    {
      if (!once (p, SEEN_KEEPALIVE, "PersistentKeepalive", error))
        return FALSE;
      if (g_ascii_strcasecmp (value, "off") == 0)
        n = 0;
      else if (!parse_uint (value, 65535, FALSE, &n))
        return fail (p, error, "PersistentKeepalive: must be 'off' or seconds 0–65535");
      peer->persistent_keepalive = (guint16) n;
      return TRUE;
    }
  {
    g_autofree char *q = quote (key);
    return fail (p, error, "unknown key '%s' in [Peer]", q);
  }
}

/* Called when a section ends: the fields it must have. */
static gboolean
finish_section (Parser *p, GError **error)
{
  if (p->section == SECTION_INTERFACE && !(p->seen & SEEN_PRIVATE_KEY))
    {
      p->line = p->interface_line;
      return fail (p, error, "[Interface]: PrivateKey is missing");
    }
  if (p->section == SECTION_PEER && !(p->seen & SEEN_PUBLIC_KEY))
    {
      p->line = p->peer->line;
      return fail (p, error, "[Peer]: PublicKey is missing");
    }
  return TRUE;
}

static gboolean
parse_line (Parser *p, char *line, GError **error)
{
  char *hash, *eq, *key, *value;

  /* wg-quick strips comments anywhere on a line; no value needs a '#' */
  hash = strchr (line, '#');
  if (hash != NULL)
    *hash = '\0';
  g_strstrip (line);
  if (*line == '\0')
    return TRUE;

  if (*line == '[')
    {
      gsize len = strlen (line);
      g_autofree char *q = NULL;

      if (line[len - 1] != ']')
        return fail (p, error, "section header must be [Interface] or [Peer]");
      line[len - 1] = '\0';
      q = quote (line + 1);
      if (!finish_section (p, error))
        return FALSE;
      p->seen = 0;
      if (g_ascii_strcasecmp (line + 1, "Interface") == 0)
        {
          if (p->interface_line != 0)
            return fail (p, error, "duplicate [Interface] section (first at line %u)", p->interface_line);
          p->section = SECTION_INTERFACE;
          p->interface_line = p->line;
          p->peer = NULL;
          return TRUE;
        }
      if (g_ascii_strcasecmp (line + 1, "Peer") == 0)
        {
          p->section = SECTION_PEER;
          p->peer = g_new0 (VpnPeer, 1);
          p->peer->allowed_ips = g_array_new (FALSE, FALSE, sizeof (AnydCidr));
          p->peer->line = p->line;
          g_ptr_array_add (p->config->peers, p->peer);
          return TRUE;
        }
      return fail (p, error, "unknown section [%s] (expected [Interface] or [Peer])", q);
    }

  eq = strchr (line, '=');
  if (eq == NULL)
    return fail (p, error, "expected 'Key = Value'");
  *eq = '\0';
  key = g_strstrip (line);
  value = g_strstrip (eq + 1);
  if (*key == '\0')
    return fail (p, error, "expected 'Key = Value', the key is missing");
  if (*value == '\0')
    {
      g_autofree char *q = quote (key);
      return fail (p, error, "%s: empty value", q);
    }

  switch (p->section)
    {
    case SECTION_INTERFACE:
      return interface_key (p, key, value, error);
    case SECTION_PEER:
      return peer_key (p, key, value, error);
    case SECTION_NONE:
    default:
      {
        g_autofree char *q = quote (key);
        return fail (p, error, "%s: key outside a section ([Interface] comes first)", q);
      }
    }
}

static VpnConfig *
config_new_empty (void)
{
  VpnConfig *config = g_atomic_rc_box_new0 (VpnConfig);

  config->addresses = g_array_new (FALSE, FALSE, sizeof (AnydCidr));
  config->dns_servers = g_ptr_array_new_with_free_func (g_free);
  config->dns_search = g_ptr_array_new_with_free_func (g_free);
  config->peers = g_ptr_array_new_with_free_func (peer_free);
  return config;
}

VpnConfig *
vpn_config_new_v2ray (VpnLink *link)
{
  VpnConfig *config = config_new_empty ();

  config->link = link;
  return config;
}

VpnConfig *
vpn_config_parse_any (const char *text, gsize len, VpnConfigParseFlags flags, GError **error)
{
  VpnLink *link;

  if (!vpn_link_looks_like (text, len))
    return vpn_config_parse (text, len, flags, error);
  link = vpn_link_parse (text, len, error);
  return link ? vpn_config_new_v2ray (link) : NULL;
}

const char *
vpn_config_type (const VpnConfig *config)
{
  return config->link ? "v2ray" : "wireguard";
}

char *
vpn_config_server (const VpnConfig *config)
{
  if (config->link)
    return vpn_link_server (config->link);
  for (guint i = 0; i < config->peers->len; i++)
    {
      const VpnPeer *peer = g_ptr_array_index (config->peers, i);
      if (peer->endpoint_host != NULL)
        return vpn_peer_endpoint_string (peer);
    }
  return g_strdup ("");
}

const char *
vpn_config_protocol (const VpnConfig *config)
{
  return config->link ? vpn_protocol_name (config->link->protocol) : "wireguard";
}

VpnConfig *
vpn_config_parse (const char *text, gsize len, VpnConfigParseFlags flags, GError **error)
{
  g_autoptr(VpnConfig) config = config_new_empty ();
  Parser p = { .config = config, .flags = flags };
  gsize start = 0;
  gboolean ok = TRUE;

  if (len > VPN_CONFIG_MAX_SIZE)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "config: larger than %u bytes", VPN_CONFIG_MAX_SIZE);
      return NULL;
    }

  while (ok && start < len)
    {
      const char *nl = memchr (text + start, '\n', len - start);
      gsize end = nl ? (gsize) (nl - text) : len;
      char *line;

      p.line++;
      if (memchr (text + start, '\0', end - start) != NULL)
        ok = fail (&p, error, "contains a NUL byte (not a text file?)");
      else if (!g_utf8_validate_len (text + start, end - start, NULL))
        ok = fail (&p, error, "not valid UTF-8");
      else
        {
          line = g_strndup (text + start, end - start);
          ok = parse_line (&p, line, error);
          /* the line may have held a key */
          sodium_memzero (line, end - start);
          g_free (line);
        }
      start = end + 1;
    }
  if (!ok)
    return NULL;
  if (!finish_section (&p, error))
    return NULL;

  if (p.interface_line == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "config: the [Interface] section is missing");
      return NULL;
    }
  if (config->mtu != 0 && config->mtu < 1280)
    for (guint i = 0; i < config->addresses->len; i++)
      if (g_array_index (config->addresses, AnydCidr, i).family == AF_INET6)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "config: MTU must be at least 1280 with an IPv6 Address");
          return NULL;
        }
  return g_steal_pointer (&config);
}

/* ---- writing ------------------------------------------------------------ */

static void
append_cidr_list (GString *s, const char *key, GArray *list)
{
  if (list->len == 0)
    return;
  g_string_append_printf (s, "%s = ", key);
  for (guint i = 0; i < list->len; i++)
    {
      g_autofree char *c = anyd_cidr_to_string (&g_array_index (list, AnydCidr, i));
      g_string_append_printf (s, "%s%s", i ? ", " : "", c);
    }
  g_string_append_c (s, '\n');
}

char *
vpn_peer_endpoint_string (const VpnPeer *peer)
{
  if (peer->endpoint_host == NULL)
    return NULL;
  if (strchr (peer->endpoint_host, ':') != NULL)
    return g_strdup_printf ("[%s]:%u", peer->endpoint_host, peer->endpoint_port);
  return g_strdup_printf ("%s:%u", peer->endpoint_host, peer->endpoint_port);
}

char *
vpn_config_to_text (const VpnConfig *c)
{
  /* Sized up front so no reallocation leaves a copy of a key behind. */
  GString *s;
  char *key;

  if (c->link != NULL)
    return vpn_link_to_keyfile (c->link);
  s = g_string_sized_new (VPN_CONFIG_MAX_SIZE + 4096);

  g_string_append (s, "[Interface]\n");
  key = vpn_key_to_base64 (c->private_key);
  g_string_append_printf (s, "PrivateKey = %s\n", key);
  vpn_secret_free (key);
  append_cidr_list (s, "Address", c->addresses);
  if (c->dns_servers->len + c->dns_search->len > 0)
    {
      g_string_append (s, "DNS = ");
      for (guint i = 0; i < c->dns_servers->len; i++)
        g_string_append_printf (s, "%s%s", i ? ", " : "", (char *) c->dns_servers->pdata[i]);
      for (guint i = 0; i < c->dns_search->len; i++)
        g_string_append_printf (s, "%s%s", i + c->dns_servers->len ? ", " : "",
                                (char *) c->dns_search->pdata[i]);
      g_string_append_c (s, '\n');
    }
  if (c->mtu)
    g_string_append_printf (s, "MTU = %u\n", c->mtu);
  if (c->has_listen_port)
    g_string_append_printf (s, "ListenPort = %u\n", c->listen_port);
  if (c->fwmark)
    g_string_append_printf (s, "FwMark = 0x%x\n", c->fwmark);
  if (c->table_mode == VPN_TABLE_OFF)
    g_string_append (s, "Table = off\n");
  else if (c->table_mode == VPN_TABLE_ID)
    g_string_append_printf (s, "Table = %u\n", c->table);

  for (guint i = 0; i < c->peers->len; i++)
    {
      const VpnPeer *peer = g_ptr_array_index (c->peers, i);
      g_autofree char *pub = vpn_key_to_base64 (peer->public_key);
      g_autofree char *endpoint = vpn_peer_endpoint_string (peer);

      g_string_append_printf (s, "\n[Peer]\nPublicKey = %s\n", pub);
      if (peer->has_preshared_key)
        {
          key = vpn_key_to_base64 (peer->preshared_key);
          g_string_append_printf (s, "PresharedKey = %s\n", key);
          vpn_secret_free (key);
        }
      if (endpoint)
        g_string_append_printf (s, "Endpoint = %s\n", endpoint);
      append_cidr_list (s, "AllowedIPs", peer->allowed_ips);
      if (peer->persistent_keepalive)
        g_string_append_printf (s, "PersistentKeepalive = %u\n", peer->persistent_keepalive);
    }
  if (s->allocated_len <= s->len + 1)
    g_warning ("profile text outgrew its buffer");
  return g_string_free (s, FALSE);
}

char *
vpn_config_hash (const VpnConfig *config)
{
  char *text = vpn_config_to_text (config);
  guint8 hash[crypto_generichash_BYTES];
  char *hex = g_malloc (2 * sizeof hash + 1);

  crypto_generichash (hash, sizeof hash, (const guint8 *) text, strlen (text), NULL, 0);
  vpn_secret_free (text);
  sodium_bin2hex (hex, 2 * sizeof hash + 1, hash, sizeof hash);
  return hex;
}

gboolean
vpn_config_is_full_tunnel (const VpnConfig *c, int family)
{
  for (guint i = 0; i < c->peers->len; i++)
    {
      const VpnPeer *peer = g_ptr_array_index (c->peers, i);
      for (guint j = 0; j < peer->allowed_ips->len; j++)
        {
          const AnydCidr *a = &g_array_index (peer->allowed_ips, AnydCidr, j);
          if (a->family == family && a->prefix == 0)
            return TRUE;
        }
    }
  return FALSE;
}

GVariant *
vpn_config_peers_variant (const VpnConfig *c)
{
  GVariantBuilder peers;

  g_variant_builder_init (&peers, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < c->peers->len; i++)
    {
      const VpnPeer *peer = g_ptr_array_index (c->peers, i);
      g_autofree char *pub = vpn_key_to_base64 (peer->public_key);
      g_autofree char *endpoint = vpn_peer_endpoint_string (peer);
      GVariantBuilder allowed;

      g_variant_builder_init (&allowed, G_VARIANT_TYPE_STRING_ARRAY);
      for (guint j = 0; j < peer->allowed_ips->len; j++)
        {
          g_autofree char *a = anyd_cidr_to_string (&g_array_index (peer->allowed_ips, AnydCidr, j));
          g_variant_builder_add (&allowed, "s", a);
        }
      g_variant_builder_open (&peers, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&peers, "{sv}", "PublicKey", g_variant_new_string (pub));
      g_variant_builder_add (&peers, "{sv}", "Endpoint", g_variant_new_string (endpoint ? endpoint : ""));
      g_variant_builder_add (&peers, "{sv}", "AllowedIPs", g_variant_builder_end (&allowed));
      g_variant_builder_add (&peers, "{sv}", "PersistentKeepalive",
                             g_variant_new_uint32 (peer->persistent_keepalive));
      g_variant_builder_close (&peers);
    }
  return g_variant_builder_end (&peers);
}

char **
vpn_config_addresses_strv (const VpnConfig *c)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < c->addresses->len; i++)
    g_ptr_array_add (out, anyd_cidr_to_string (&g_array_index (c->addresses, AnydCidr, i)));
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}
