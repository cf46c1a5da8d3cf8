/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Strict text parsers for addresses, routes and interface names (fuzzed:
 * tests/tun/tun-fuzz-cidr.c); see cidr.h. */
#include "cidr.h"
#include "error.h"
#include "util.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <string.h>
#include <linux/rtnetlink.h>

/* Kernel default metric of IPv6 routes added without one (IP6_RT_PRIO_USER). */
#define IP6_DEFAULT_METRIC 1024

static gboolean
invalid (GError **error, const char *field, const char *text, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
invalid (GError **error, const char *field, const char *text, const char *fmt, ...)
{
  g_autofree char *reason = NULL;
  g_autofree char *quoted = text ? anyd_quote_text (text, 64) : NULL;
  va_list ap;

  va_start (ap, fmt);
  reason = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (quoted)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: %s: %s",
                 field ? field : "value", quoted, reason);
  else
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: %s",
                 field ? field : "value", reason);
  return FALSE;
}

/* Decimal, no sign, no leading zeros, at most max. */
static gboolean
parse_decimal (const char *s, guint64 max, guint64 *out)
{
  guint64 v = 0;

  if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
    return FALSE;
  for (const char *p = s; *p; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
      if (v > max)
        return FALSE;
    }
  *out = v;
  return TRUE;
}

/* A bare address, no prefix. */
static gboolean
parse_address (const char *text, AnydCidr *out)
{
  memset (out, 0, sizeof *out);
  if (strchr (text, ':'))
    {
      if (strlen (text) >= INET6_ADDRSTRLEN || inet_pton (AF_INET6, text, out->addr) != 1)
        return FALSE;
      out->family = AF_INET6;
      out->prefix = 128;
    }
  else
    {
      if (strlen (text) >= INET_ADDRSTRLEN || inet_pton (AF_INET, text, out->addr) != 1)
        return FALSE;
      out->family = AF_INET;
      out->prefix = 32;
    }
  return TRUE;
}

static guint
family_bits (int family)
{
  return family == AF_INET ? 32 : 128;
}

gboolean
anyd_cidr_parse (const char *text, const char *field, AnydCidr *out, GError **error)
{
  g_autofree char *addr = NULL;
  const char *slash;
  AnydCidr c;

  if (text == NULL || *text == '\0')
    return invalid (error, field, NULL, "empty, expected an address like 10.0.0.1/24 or fd00::1/64");
  slash = strchr (text, '/');
  addr = slash ? g_strndup (text, (gsize) (slash - text)) : g_strdup (text);
  if (!parse_address (addr, &c))
    return invalid (error, field, text, "not an IPv4 or IPv6 address%s",
                    slash ? "/prefix" : "");
  if (slash)
    {
      guint64 prefix;
      if (!parse_decimal (slash + 1, G_MAXUINT8, &prefix) || prefix > family_bits (c.family))
        return invalid (error, field, text, "prefix length must be 0-%u for %s",
                        family_bits (c.family), c.family == AF_INET ? "IPv4" : "IPv6");
      c.prefix = (guint8) prefix;
    }
  *out = c;
  return TRUE;
}

char *
anyd_cidr_to_string (const AnydCidr *cidr)
{
  char buf[INET6_ADDRSTRLEN];

  if (!inet_ntop (cidr->family, cidr->addr, buf, sizeof buf))
    return g_strdup ("?");
  return g_strdup_printf ("%s/%u", buf, cidr->prefix);
}

gboolean
anyd_cidr_is_network (const AnydCidr *cidr)
{
  guint bytes = family_bits (cidr->family) / 8;

  for (guint i = 0; i < bytes; i++)
    {
      guint bit0 = i * 8;
      guint8 mask;
      if (bit0 + 8 <= cidr->prefix)
        continue;
      mask = bit0 >= cidr->prefix ? 0xff : (guint8) (0xff >> (cidr->prefix - bit0));
      if (cidr->addr[i] & mask)
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_unspecified (const AnydCidr *c)
{
  for (guint i = 0; i < family_bits (c->family) / 8; i++)
    if (c->addr[i])
      return FALSE;
  return TRUE;
}

gboolean
anyd_route_parse (const char *text, const char *field, AnydRoute *out, GError **error)
{
  g_auto(GStrv) words = NULL;
  AnydRoute r = { 0 };
  gboolean have_metric = FALSE, have_table = FALSE;
  guint n;

  if (text == NULL || *text == '\0')
    return invalid (error, field, NULL, "empty, expected a route like 10.1.0.0/16 or 10.1.0.0/16 via 10.0.0.1");
  words = g_strsplit (text, " ", -1);
  n = g_strv_length (words);
  for (guint i = 0; i < n; i++)
    if (*words[i] == '\0')
      return invalid (error, field, text, "words must be separated by single spaces, with none around them");

  if (!anyd_cidr_parse (words[0], field, &r.dst, error))
    return FALSE;
  if (!anyd_cidr_is_network (&r.dst))
    {
      AnydCidr net = r.dst;
      g_autofree char *want = NULL;
      for (guint b = net.prefix; b < family_bits (net.family); b++)
        net.addr[b / 8] &= (guint8) ~(0x80 >> (b % 8));
      want = anyd_cidr_to_string (&net);
      return invalid (error, field, text, "destination has host bits set (did you mean %s?)", want);
    }

  for (guint i = 1; i < n; i += 2)
    {
      const char *kw = words[i], *val = words[i + 1];
      guint64 v;

      if (val == NULL)
        return invalid (error, field, text, "'%s' needs a value",
                        strlen (kw) <= 16 ? kw : "word");
      if (g_str_equal (kw, "via") && !r.has_gateway)
        {
          if (strchr (val, '/') || !parse_address (val, &r.gateway))
            return invalid (error, field, text, "gateway must be a plain IPv4 or IPv6 address");
          if (r.gateway.family != r.dst.family)
            return invalid (error, field, text, "gateway and destination are of different address families");
          if (is_unspecified (&r.gateway))
            return invalid (error, field, text, "gateway must not be the unspecified address");
          r.has_gateway = TRUE;
        }
      else if (g_str_equal (kw, "metric") && !have_metric)
        {
          if (!parse_decimal (val, G_MAXUINT32, &v))
            return invalid (error, field, text, "metric must be a number 0-4294967295");
          r.metric = (guint32) v;
          have_metric = TRUE;
        }
      else if (g_str_equal (kw, "table") && !have_table)
        {
          if (g_str_equal (val, "main"))
            v = RT_TABLE_MAIN;
          else if (!parse_decimal (val, G_MAXUINT32, &v) || v == 0 || v == RT_TABLE_LOCAL)
            return invalid (error, field, text, "table must be 'main' or a number 1-4294967295 other than 255 (local)");
          r.table = (guint32) v;
          have_table = TRUE;
        }
      else
        return invalid (error, field, text, "unexpected word at position %u (expected via, metric or table, each at most once)", i + 1);
    }
  if (r.table == RT_TABLE_MAIN)
    r.table = 0;
  *out = r;
  return TRUE;
}

char *
anyd_route_to_string (const AnydRoute *route)
{
  GString *s = g_string_new (NULL);
  g_autofree char *dst = anyd_cidr_to_string (&route->dst);

  g_string_append (s, dst);
  if (route->has_gateway)
    {
      char buf[INET6_ADDRSTRLEN];
      if (inet_ntop (route->gateway.family, route->gateway.addr, buf, sizeof buf))
        g_string_append_printf (s, " via %s", buf);
    }
  if (route->metric && !(route->dst.family == AF_INET6 && route->metric == IP6_DEFAULT_METRIC))
    g_string_append_printf (s, " metric %u", route->metric);
  if (route->table && route->table != RT_TABLE_MAIN)
    g_string_append_printf (s, " table %u", route->table);
  return g_string_free (s, FALSE);
}

gboolean
anyd_ifname_check (const char *name, const char *field, GError **error)
{
  const char *pct;

  if (name == NULL || *name == '\0')
    return TRUE;
  if (strlen (name) >= IFNAMSIZ)
    return invalid (error, field, name, "longer than %d bytes", IFNAMSIZ - 1);
  if (g_str_equal (name, ".") || g_str_equal (name, ".."))
    return invalid (error, field, name, "not a usable interface name");
  for (const char *p = name; *p; p++)
    {
      guchar c = (guchar) *p;
      if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':')
        return invalid (error, field, name, "must be printable ASCII without whitespace, '/' or ':'");
    }
  /* The kernel's template rule: at most one '%', and it must be "%d". */
  pct = strchr (name, '%');
  if (pct && (pct[1] != 'd' || strchr (pct + 2, '%')))
    return invalid (error, field, name, "'%%' may only appear once, as '%%d' (the kernel fills in a number)");
  return TRUE;
}
