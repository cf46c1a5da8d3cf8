/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-runtime: what a live connection is made of, kept under
 * <runtime dir>/vpn/<profile>.conn (root only, written atomically) so that
 * the next anyd can check it against the kernel, systemd and the data plane
 * and take the connection over, or remove exactly what it names:
 *
 *   [Connection]
 *   Version=1
 *   Profile=wg-home
 *   ProfileHash=<BLAKE2b-256 of the configuration, hex>
 *   Object=3
 *   Interface=wg-home
 *   IfIndex=12
 *   Unit=anyd-vpn-wg\x2dhome.service
 *   InvocationID=<32 hex digits>
 *   UapiPath=/var/run/wireguard/wg-home.sock
 *   FwMark=51820
 *   PolicyTable=51820
 *   Rules=4 51820 51820 1 -1;4 254 0 0 0;       family table fwmark invert suppress_prefixlength
 *   Routes=10.66.0.0/24;0.0.0.0/0 table 51820;
 *   DNS=10.66.0.1;
 *   DNSSearch=corp.example;
 *   DNSApplied=true
 *   Kicked=false
 *   HasEndpoint=true
 *   MaxKeepalive=25
 *   Since=<µs since the epoch>
 *   Uid=1000
 *
 * Pure code but for the two file helpers; fuzzed with the config parser. */
#include "anyd-build-config.h"
#include "vpn-runtime.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "error.h"
#include "util.h"
#include "vpn-config.h"

#define GROUP "Connection"

VpnRuntime *
vpn_runtime_new (void)
{
  VpnRuntime *rt = g_new0 (VpnRuntime, 1);

  rt->rules = g_array_new (FALSE, FALSE, sizeof (AnydRule));
  rt->routes = g_ptr_array_new_with_free_func (g_free);
  rt->dns_servers = g_ptr_array_new_with_free_func (g_free);
  rt->dns_search = g_ptr_array_new_with_free_func (g_free);
  rt->uid = -1;
  return rt;
}

void
vpn_runtime_free (VpnRuntime *rt)
{
  if (rt == NULL)
    return;
  g_free (rt->profile);
  g_free (rt->profile_hash);
  g_free (rt->ifname);
  g_free (rt->unit);
  g_free (rt->invocation_id);
  g_free (rt->uapi_path);
  g_array_unref (rt->rules);
  g_ptr_array_unref (rt->routes);
  g_ptr_array_unref (rt->dns_servers);
  g_ptr_array_unref (rt->dns_search);
  g_free (rt);
}

char *
vpn_unit_name (const char *profile)
{
  GString *s = g_string_new ("anyd-vpn-");

  /* systemd-escape: [A-Za-z0-9:_.] stay (a leading '.' does not), the rest \xNN */
  for (const guchar *p = (const guchar *) profile; *p; p++)
    {
      if (g_ascii_isalnum (*p) || *p == ':' || *p == '_' || (*p == '.' && p != (const guchar *) profile))
        g_string_append_c (s, (char) *p);
      else
        g_string_append_printf (s, "\\x%02x", *p);
    }
  g_string_append (s, ".service");
  return g_string_free (s, FALSE);
}

/* ---------------------------------------------------------------- write */

static void
set_list (GKeyFile *kf, const char *key, GPtrArray *items)
{
  g_key_file_set_string_list (kf, GROUP, key, (const char *const *) items->pdata, items->len);
}

char *
vpn_runtime_format (const VpnRuntime *rt, gsize *len)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GPtrArray) rules = g_ptr_array_new_with_free_func (g_free);

  g_key_file_set_integer (kf, GROUP, "Version", VPN_RUNTIME_VERSION);
  g_key_file_set_string (kf, GROUP, "Profile", rt->profile);
  g_key_file_set_string (kf, GROUP, "ProfileHash", rt->profile_hash);
  g_key_file_set_uint64 (kf, GROUP, "Object", rt->object);
  g_key_file_set_string (kf, GROUP, "Interface", rt->ifname);
  g_key_file_set_integer (kf, GROUP, "IfIndex", rt->ifindex);
  g_key_file_set_string (kf, GROUP, "Unit", rt->unit);
  g_key_file_set_string (kf, GROUP, "InvocationID", rt->invocation_id);
  g_key_file_set_string (kf, GROUP, "UapiPath", rt->uapi_path);
  g_key_file_set_uint64 (kf, GROUP, "FwMark", rt->fwmark);
  g_key_file_set_uint64 (kf, GROUP, "PolicyTable", rt->policy_table);
  for (guint i = 0; i < rt->rules->len; i++)
    {
      AnydRule *r = &g_array_index (rt->rules, AnydRule, i);
      g_ptr_array_add (rules, g_strdup_printf ("%d %u %u %d %d", r->family == AF_INET6 ? 6 : 4, r->table,
                                               r->fwmark, r->invert ? 1 : 0, r->suppress_prefixlen));
    }
  set_list (kf, "Rules", rules);
  set_list (kf, "Routes", rt->routes);
  set_list (kf, "DNS", rt->dns_servers);
  set_list (kf, "DNSSearch", rt->dns_search);
  g_key_file_set_boolean (kf, GROUP, "DNSApplied", rt->dns_applied);
  g_key_file_set_boolean (kf, GROUP, "Kicked", rt->kicked);
  g_key_file_set_boolean (kf, GROUP, "HasEndpoint", rt->has_endpoint);
  g_key_file_set_uint64 (kf, GROUP, "MaxKeepalive", rt->max_keepalive);
  g_key_file_set_uint64 (kf, GROUP, "Since", rt->since);
  g_key_file_set_int64 (kf, GROUP, "Uid", rt->uid);
  return g_key_file_to_data (kf, len, NULL);
}

/* ----------------------------------------------------------------- read */

static gboolean
bad (GError **error, const char *key, const char *why)
{
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "runtime record: %s: %s", key, why);
  return FALSE;
}

static gboolean
get_string (GKeyFile *kf, const char *key, char **out, GError **error)
{
  *out = g_key_file_get_string (kf, GROUP, key, NULL);
  return *out != NULL || bad (error, key, "missing");
}

static gboolean
get_uint (GKeyFile *kf, const char *key, guint64 max, guint64 *out, GError **error)
{
  g_autofree char *v = g_key_file_get_value (kf, GROUP, key, NULL);

  if (v == NULL)
    return bad (error, key, "missing");
  if (!g_ascii_string_to_unsigned (v, 10, 0, max, out, NULL))
    return bad (error, key, "not a number in range");
  return TRUE;
}

static gboolean
get_bool (GKeyFile *kf, const char *key, gboolean *out, GError **error)
{
  g_autoptr(GError) local = NULL;

  *out = g_key_file_get_boolean (kf, GROUP, key, &local);
  return local == NULL || bad (error, key, "not true or false");
}

static gboolean
is_hex (const char *s, gsize len)
{
  if (strlen (s) != len)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* Each item through check (NULL: any non-empty text). */
static gboolean
get_list (GKeyFile *kf, const char *key, GPtrArray *out, gboolean (*check) (const char *), GError **error)
{
  gsize n = 0;
  g_auto(GStrv) items = NULL;

  if (!g_key_file_has_key (kf, GROUP, key, NULL))
    return bad (error, key, "missing");
  items = g_key_file_get_string_list (kf, GROUP, key, &n, NULL);
  for (gsize i = 0; items && i < n; i++)
    {
      if (*items[i] == '\0' || (check && !check (items[i])))
        return bad (error, key, "a malformed item");
      g_ptr_array_add (out, g_strdup (items[i]));
    }
  return TRUE;
}

static gboolean
is_route (const char *text)
{
  AnydRoute r;
  return anyd_route_parse (text, "route", &r, NULL);
}

static gboolean
is_ip (const char *text)
{
  AnydCidr c;
  return strchr (text, '/') == NULL && anyd_cidr_parse (text, "dns", &c, NULL);
}

static gboolean
is_domain (const char *text)
{
  for (const char *p = text; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-' && *p != '_' && *p != '~')
      return FALSE;
  return strlen (text) <= 253;
}

static gboolean
parse_rule (const char *text, AnydRule *r)
{
  g_auto(GStrv) f = g_strsplit (text, " ", -1);
  guint64 family, table, mark, invert;
  gint64 suppress;

  if (g_strv_length (f) != 5 ||
      !g_ascii_string_to_unsigned (f[0], 10, 4, 6, &family, NULL) || (family != 4 && family != 6) ||
      !g_ascii_string_to_unsigned (f[1], 10, 1, G_MAXUINT32, &table, NULL) ||
      !g_ascii_string_to_unsigned (f[2], 10, 0, G_MAXUINT32, &mark, NULL) ||
      !g_ascii_string_to_unsigned (f[3], 10, 0, 1, &invert, NULL) ||
      !g_ascii_string_to_signed (f[4], 10, -1, 128, &suppress, NULL))
    return FALSE;
  *r = (AnydRule) ANYD_RULE_INIT;
  r->family = family == 6 ? AF_INET6 : AF_INET;
  r->table = (guint32) table;
  r->fwmark = (guint32) mark;
  r->invert = invert == 1;
  r->suppress_prefixlen = (gint) suppress;
  return TRUE;
}

VpnRuntime *
vpn_runtime_parse (const char *data, gsize len, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(VpnRuntime) rt = vpn_runtime_new ();
  g_autoptr(GError) local = NULL;
  g_autofree char *expected_unit = NULL;
  g_autoptr(GPtrArray) rules = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) groups = NULL;
  guint64 v;

  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "runtime record: %s", local->message);
      return NULL;
    }
  groups = g_key_file_get_groups (kf, NULL);
  if (g_strv_length (groups) != 1 || !g_str_equal (groups[0], GROUP))
    {
      bad (error, "[" GROUP "]", "expected as the one group");
      return NULL;
    }
  if (!get_uint (kf, "Version", G_MAXUINT32, &v, error))
    return NULL;
  if (v != VPN_RUNTIME_VERSION)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                   "runtime record: version %u is not %d (written by another anyd version?)",
                   (guint) v, VPN_RUNTIME_VERSION);
      return NULL;
    }
  if (!get_string (kf, "Profile", &rt->profile, error) ||
      !get_string (kf, "ProfileHash", &rt->profile_hash, error) ||
      !get_string (kf, "Interface", &rt->ifname, error) ||
      !get_string (kf, "Unit", &rt->unit, error) ||
      !get_string (kf, "InvocationID", &rt->invocation_id, error) ||
      !get_string (kf, "UapiPath", &rt->uapi_path, error))
    return NULL;
  if (!vpn_profile_name_is_valid (rt->profile))
    return bad (error, "Profile", "not a profile name"), NULL;
  if (!is_hex (rt->profile_hash, 64))
    return bad (error, "ProfileHash", "not 64 hex digits"), NULL;
  if (!anyd_ifname_check (rt->ifname, "Interface", NULL))
    return bad (error, "Interface", "not an interface name"), NULL;
  /* a record never names another unit than its profile's: nothing else is ever stopped */
  expected_unit = vpn_unit_name (rt->profile);
  if (!g_str_equal (rt->unit, expected_unit))
    return bad (error, "Unit", "not the profile's unit"), NULL;
  if (!is_hex (rt->invocation_id, 32))
    return bad (error, "InvocationID", "not 32 hex digits"), NULL;
  if (!g_path_is_absolute (rt->uapi_path) || strstr (rt->uapi_path, "/../") != NULL)
    return bad (error, "UapiPath", "not an absolute path"), NULL;

  if (!get_uint (kf, "Object", G_MAXUINT32, &v, error))
    return NULL;
  rt->object = (guint) v;
  if (!get_uint (kf, "IfIndex", G_MAXINT32, &v, error))
    return NULL;
  if (v == 0)
    return bad (error, "IfIndex", "zero"), NULL;
  rt->ifindex = (int) v;
  if (!get_uint (kf, "FwMark", G_MAXUINT32, &v, error))
    return NULL;
  rt->fwmark = (guint32) v;
  if (!get_uint (kf, "PolicyTable", G_MAXUINT32, &v, error))
    return NULL;
  rt->policy_table = (guint32) v;
  if (!get_uint (kf, "MaxKeepalive", G_MAXUINT16, &v, error))
    return NULL;
  rt->max_keepalive = (guint32) v;
  if (!get_uint (kf, "Since", G_MAXUINT64, &rt->since, error))
    return NULL;
  {
    g_autofree char *uid = g_key_file_get_value (kf, GROUP, "Uid", NULL);
    gint64 u;
    if (uid == NULL || !g_ascii_string_to_signed (uid, 10, -1, G_MAXUINT32, &u, NULL))
      return bad (error, "Uid", "missing or out of range"), NULL;
    rt->uid = u;
  }
  if (!get_bool (kf, "DNSApplied", &rt->dns_applied, error) ||
      !get_bool (kf, "Kicked", &rt->kicked, error) ||
      !get_bool (kf, "HasEndpoint", &rt->has_endpoint, error))
    return NULL;
  if (!get_list (kf, "Rules", rules, NULL, error) ||
      !get_list (kf, "Routes", rt->routes, is_route, error) ||
      !get_list (kf, "DNS", rt->dns_servers, is_ip, error) ||
      !get_list (kf, "DNSSearch", rt->dns_search, is_domain, error))
    return NULL;
  for (guint i = 0; i < rules->len; i++)
    {
      AnydRule r;
      if (!parse_rule (rules->pdata[i], &r))
        return bad (error, "Rules", "a malformed rule"), NULL;
      g_array_append_val (rt->rules, r);
    }
  return g_steal_pointer (&rt);
}

/* ---------------------------------------------------------------- files */

static char *
record_path (const char *dir, const char *profile)
{
  g_autofree char *base = g_strconcat (profile, VPN_RUNTIME_SUFFIX, NULL);
  return g_build_filename (dir, base, NULL);
}

gboolean
vpn_runtime_save (const char *dir, const VpnRuntime *rt, GError **error)
{
  g_autofree char *path = record_path (dir, rt->profile);
  gsize len = 0;
  g_autofree char *data = vpn_runtime_format (rt, &len);

  if (!anyd_mkdir_private (dir, error))
    return FALSE;
  return anyd_file_write_atomic (path, data, len, 0600, error);
}

gboolean
vpn_runtime_remove (const char *dir, const char *profile, GError **error)
{
  g_autofree char *path = record_path (dir, profile);
  return anyd_file_remove_durable (path, error);
}
