/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client vpn: WireGuard profiles and connections (org.anyd1.Vpn,
 * org.anyd1.VpnProfile, org.anyd1.VpnConnection).
 *
 * `vpn import FILE [NAME]` opens FILE itself and passes the open fd
 * (ImportProfileFd): the daemon never opens a path a caller names, and the
 * file is read with the caller's own rights.  "-" reads standard input, and
 * so does --host (no fd passing over ssh): the content goes as a string.
 * NAME defaults to the file name without ".conf", as with wg-quick.
 * A share link (vmess://, vless://, trojan://, ss://) in place of FILE is
 * sent as it is (NAME defaults to its #fragment); --subscription reads a
 * provider's subscription (FILE or -) and imports every link in it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <anyd.h>

#include "common.h"

#define VPN_PATH         ANYD_CLIENT_PATH "/vpn"
#define PROFILE_IFACE    "org.anyd1.VpnProfile"
#define CONN_IFACE       "org.anyd1.VpnConnection"
#define PROFILES_PREFIX  VPN_PATH "/profiles/"
#define MAX_CONFIG       (64 * 1024)

static gboolean opt_ignore_scripts, opt_autoconnect, opt_no_wait, opt_subscription, opt_strict, opt_block_quic;
static char *opt_ipv6, *opt_set_autoconnect;

static const GOptionEntry import_entries[] = {
  { "ignore-scripts", 0, 0, G_OPTION_ARG_NONE, &opt_ignore_scripts,
    N_("drop PreUp/PostUp/PreDown/PostDown/SaveConfig instead of refusing the file (they never run)"), NULL },
  { "autoconnect", 0, 0, G_OPTION_ARG_NONE, &opt_autoconnect, N_("connect whenever anyd starts"), NULL },
  { "subscription", 0, 0, G_OPTION_ARG_NONE, &opt_subscription,
    N_("FILE is a subscription (base64 or plain lines of share links): import every link"), NULL },
  { "strict", 0, 0, G_OPTION_ARG_NONE, &opt_strict, N_("with --subscription: all links or none"), NULL },
  { "block-quic", 0, 0, G_OPTION_ARG_NONE, &opt_block_quic,
    N_("v2ray profiles: reject UDP 443 while connected (browsers fall back to TCP)"), NULL },
  { "ipv6", 0, 0, G_OPTION_ARG_STRING, &opt_ipv6, N_("v2ray profiles: IPv6 through the proxy or blocked"),
    "proxy|block" },
  { NULL }
};

static const char *const link_schemes[] = { "vmess://", "vless://", "trojan://", "ss://", NULL };

static gboolean
is_link (const char *text)
{
  for (guint i = 0; link_schemes[i]; i++)
    if (g_ascii_strncasecmp (text, link_schemes[i], strlen (link_schemes[i])) == 0)
      return TRUE;
  return FALSE;
}

static const GOptionEntry connect_entries[] = {
  { "no-wait", 0, 0, G_OPTION_ARG_NONE, &opt_no_wait,
    N_("return once the tunnel is configured, before the first handshake"), NULL },
  { NULL }
};

static const GOptionEntry modify_entries[] = {
  { "autoconnect", 0, 0, G_OPTION_ARG_STRING, &opt_set_autoconnect,
    N_("connect whenever anyd starts, or not"), "yes|no" },
  { NULL }
};

static char *
profile_path (const char *name)
{
  g_autofree char *elem = g_dbus_escape_object_path (name);
  return g_strconcat (PROFILES_PREFIX, elem, NULL);
}

/* ------------------------------------------------------------- objects */

typedef struct {
  GVariant *profiles;     /* a{oa{sv}}: path -> VpnProfile properties */
  GVariant *connections;  /* a{oa{sv}}: path -> VpnConnection properties */
} Objects;

static void
objects_clear (Objects *o)
{
  g_clear_pointer (&o->profiles, g_variant_unref);
  g_clear_pointer (&o->connections, g_variant_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Objects, objects_clear)

static void
add_objects (GVariantBuilder *b, AnydClient *client, const char *interface)
{
  GList *proxies = anyd_client_snapshot_list (client, interface);

  for (GList *l = proxies; l != NULL; l = l->next)
    {
      g_autoptr(GVariant) props = anyd_client_proxy_properties (l->data);
      g_variant_builder_add (b, "{o@a{sv}}", g_dbus_proxy_get_object_path (l->data), props);
    }
  g_list_free_full (proxies, g_object_unref);
}

static gboolean
get_objects (AnydClientContext *ctx, Objects *out, GError **error)
{
  g_autoptr(AnydClient) client = anyd_client_snapshot (ctx, "vpn", error);
  GVariantBuilder p, c;

  if (client == NULL)
    return FALSE;
  g_variant_builder_init (&p, G_VARIANT_TYPE ("a{oa{sv}}"));
  g_variant_builder_init (&c, G_VARIANT_TYPE ("a{oa{sv}}"));
  add_objects (&p, client, PROFILE_IFACE);
  add_objects (&c, client, CONN_IFACE);
  out->profiles = g_variant_ref_sink (g_variant_builder_end (&p));
  out->connections = g_variant_ref_sink (g_variant_builder_end (&c));
  return TRUE;
}

/* The connection of a profile path (borrowed path + new props), or NULL. */
static const char *
connection_of (Objects *o, const char *profile, GVariant **props_out)
{
  GVariantIter iter;
  const char *path;
  GVariant *props;

  g_variant_iter_init (&iter, o->connections);
  while (g_variant_iter_next (&iter, "{&o@a{sv}}", &path, &props))
    {
      const char *p = NULL;
      if (g_variant_lookup (props, "Profile", "&o", &p) && g_str_equal (p, profile))
        {
          *props_out = props;
          return path;
        }
      g_variant_unref (props);
    }
  return NULL;
}

static const char *
lookup_str (GVariant *props, const char *key)
{
  const char *v = NULL;

  if (props == NULL || !g_variant_lookup (props, key, "&s", &v))
    return "";
  return v;
}

static char *
format_prop (GVariant *props, const char *key)
{
  g_autoptr(GVariant) v = props ? g_variant_lookup_value (props, key, NULL) : NULL;

  return v ? anyd_client_format_value (v) : g_strdup ("");
}

static char *
peers_summary (GVariant *props)
{
  g_autoptr(GVariant) peers = g_variant_lookup_value (props, "Peers", G_VARIANT_TYPE ("aa{sv}"));
  GString *s = g_string_new (NULL);

  for (gsize i = 0; peers && i < g_variant_n_children (peers); i++)
    {
      g_autoptr(GVariant) peer = g_variant_get_child_value (peers, i);
      const char *endpoint = lookup_str (peer, "Endpoint");
      g_string_append_printf (s, "%s%s", s->len ? ", " : "", *endpoint ? endpoint : anyd_client_value_word (N_("(no endpoint)")));
    }
  return g_string_free (s, FALSE);
}

/* ----------------------------------------------------------- commands */

static int
import_reply (AnydClientContext *ctx, const char *name)
{
  /* the name may come from the file name: say which (unless --quiet) */
  if (ctx->json)
    anyd_client_print_json (g_variant_new_parsed ("{'imported': <%s>}", name));
  else if (!ctx->quiet)
    g_print (_("Imported profile %s\n"), name);
  return ANYD_CLIENT_EXIT_OK;
}

static AnydVpn *
vpn_proxy (AnydClientContext *ctx, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_VPN_PROXY, anyd_vpn_interface_info (), VPN_PATH, error);
}

/* One typed call on the Vpn proxy vpn (NULL: fails with error set). */
#define VPN_CALL(method, ...)                                          \
  (vpn != NULL &&                                                     \
   ANYD_CLIENT_TYPED_CALL (ctx, vpn, &error,                          \
                           anyd_vpn_call_##method##_sync (vpn, __VA_ARGS__)))

/* By content: standard input, or a file when the bus is remote. */
static int
import_content (AnydClientContext *ctx, const char *name, int fd, GVariant *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = anyd_client_read_fd (fd, MAX_CONFIG, &error);
  g_autoptr(AnydVpn) vpn = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  gboolean ok;
  gsize len = 0;

  if (data == NULL)
    return anyd_client_fail (ctx, error);
  text = g_strndup (g_bytes_get_data (data, &len), g_bytes_get_size (data));
  if (strlen (text) != len || !g_utf8_validate (text, -1, NULL))
    return anyd_client_usage_error (ctx, _("the profile is not a text file"));
  vpn = vpn_proxy (ctx, &error);
  ok = VPN_CALL (import_profile, name, text, options, ANYD_CLIENT_CALL_ARGS (ctx), &path, NULL, &error);
  /* the text holds a private key */
  memset (text, 0, len);
  if (!ok)
    return anyd_client_fail (ctx, error);
  return import_reply (ctx, name);
}

/* --subscription FILE|-: the text goes to ImportProfiles (a subscription
 * holds many links, so no single fd import fits). */
static int
import_subscription (AnydClientContext *ctx, const char *file, GVariant *options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autoptr(AnydVpn) vpn = NULL;
  g_autofree char *text = NULL;
  g_auto(GStrv) paths = NULL;
  gboolean ok;
  int fd = g_str_equal (file, "-") ? 0 : open (file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  gsize len = 0;

  if (fd < 0)
    {
      int e = errno;
      g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", file, g_strerror (e));
      return anyd_client_fail (ctx, error);
    }
  data = anyd_client_read_fd (fd, 1024 * 1024, &error);
  if (fd > 0)
    close (fd);
  if (data == NULL)
    return anyd_client_fail (ctx, error);
  text = g_strndup (g_bytes_get_data (data, &len), g_bytes_get_size (data));
  if (strlen (text) != len || !g_utf8_validate (text, -1, NULL))
    return anyd_client_usage_error (ctx, _("the subscription is not a text file"));
  vpn = vpn_proxy (ctx, &error);
  ok = VPN_CALL (import_profiles, text, options, ANYD_CLIENT_CALL_ARGS (ctx), &paths, NULL, &error);
  memset (text, 0, len);
  if (!ok)
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    {
      anyd_client_print_json (g_variant_new ("{sv}", "profiles", g_variant_new_objv ((const char *const *) paths, -1)));
      return ANYD_CLIENT_EXIT_OK;
    }
  for (guint i = 0; paths[i]; i++)
    {
      /* the path element is escaped (_XX): show the name */
      const char *e = paths[i] + strlen (PROFILES_PREFIX);
      GString *name = g_string_new (NULL);
      for (; *e; e++)
        {
          if (e[0] == '_' && g_ascii_isxdigit (e[1]) && g_ascii_isxdigit (e[2]))
            {
              g_string_append_c (name, (char) (g_ascii_xdigit_value (e[1]) * 16 + g_ascii_xdigit_value (e[2])));
              e += 2;
            }
          else
            g_string_append_c (name, *e);
        }
      g_print (_("Imported profile %s\n"), name->str);
      g_string_free (name, TRUE);
    }
  return ANYD_CLIENT_EXIT_OK;
}

/* The #fragment of a link as a profile name (the daemon checks it). */
static char *
name_from_link (const char *link)
{
  const char *hash = strchr (link, '#');
  return hash && hash[1] ? g_uri_unescape_string (hash + 1, NULL) : NULL;
}

static char *
name_from_file (const char *file)
{
  g_autofree char *base = g_path_get_basename (file);

  if (g_str_has_suffix (base, ".conf"))
    base[strlen (base) - strlen (".conf")] = '\0';
  return g_steal_pointer (&base);
}

static int
cmd_import (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVpn) vpn = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  const char *file = argv[1];
  g_autofree char *name = argc > 2 ? g_strdup (argv[2]) : NULL;
  GVariantBuilder b;
  int fd, ret;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (opt_ignore_scripts)
    g_variant_builder_add (&b, "{sv}", "ignore_scripts", g_variant_new_boolean (TRUE));
  if (opt_autoconnect)
    g_variant_builder_add (&b, "{sv}", "autoconnect", g_variant_new_boolean (TRUE));
  if (opt_block_quic)
    g_variant_builder_add (&b, "{sv}", "block_quic", g_variant_new_boolean (TRUE));
  if (opt_ipv6)
    g_variant_builder_add (&b, "{sv}", "ipv6", g_variant_new_string (opt_ipv6));
  if (opt_subscription)
    {
      if (opt_strict)
        g_variant_builder_add (&b, "{sv}", "strict", g_variant_new_boolean (TRUE));
      options = g_variant_ref_sink (g_variant_builder_end (&b));
      return import_subscription (ctx, file, options);
    }
  options = g_variant_ref_sink (g_variant_builder_end (&b));
  if (is_link (file))
    {
      if (name == NULL)
        name = name_from_link (file);
      if (name == NULL)
        return anyd_client_usage_error (ctx, _("a link without a #name needs a PROFILE"));
      vpn = vpn_proxy (ctx, &error);
      if (!VPN_CALL (import_profile, name, file, options, ANYD_CLIENT_CALL_ARGS (ctx), &path, NULL, &error))
        return anyd_client_fail (ctx, error);
      return import_reply (ctx, name);
    }
  if (name == NULL && g_str_equal (file, "-"))
    return anyd_client_usage_error (ctx, _("a profile read from standard input needs a NAME"));
  if (name == NULL)
    name = name_from_file (file);
  if (g_str_equal (file, "-"))
    return import_content (ctx, name, 0, options);
  fd = open (file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", file, g_strerror (e));
      return anyd_client_fail (ctx, error);
    }
  if (ctx->host != NULL)
    {
      ret = import_content (ctx, name, fd, options);
      close (fd);
      return ret;
    }
  fds = g_unix_fd_list_new_from_array (&fd, 1);   /* takes fd */
  vpn = vpn_proxy (ctx, &error);
  if (!VPN_CALL (import_profile_fd, name, g_variant_new_handle (0), options, ANYD_CLIENT_CALL_ARGS (ctx),
                 fds, &path, NULL, NULL, &error))
    return anyd_client_fail (ctx, error);
  return import_reply (ctx, name);
}

/* Every entry of an a{sv} into an open a{sv} builder. */
static void
add_entries (GVariantBuilder *b, GVariant *dict)
{
  GVariantIter iter;
  const char *k;
  GVariant *v;

  g_variant_iter_init (&iter, dict);
  while (g_variant_iter_next (&iter, "{&sv}", &k, &v))
    {
      g_variant_builder_add (b, "{sv}", k, v);
      g_variant_unref (v);
    }
}

/* A listing's end: the JSON array, or the table (or a line saying it is empty). */
static int
print_listing (AnydClientContext *ctx, GVariantBuilder *json, AnydClientTable *table, const char *empty)
{
  if (ctx->json)
    anyd_client_print_json (g_variant_builder_end (json));
  else
    {
      g_variant_builder_clear (json);
      if (anyd_client_table_get_n_rows (table) == 0)
        g_print ("%s\n", empty);
      else
        anyd_client_table_print (table);
    }
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_list (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_auto(Objects) o = { 0 };
  g_autoptr(AnydClientTable) table = NULL;
  GVariantBuilder out;
  GVariantIter iter;
  const char *path;
  GVariant *props;

  if (!get_objects (ctx, &o, &error))
    return anyd_client_fail (ctx, error);
  g_variant_builder_init (&out, G_VARIANT_TYPE ("aa{sv}"));
  table = anyd_client_table_new (NC_("column", "NAME"), NC_("column", "ADDRESSES"),
                                 NC_("column", "ENDPOINTS"), NC_("column", "AUTOCONNECT"),
                                 NC_("column", "STATE"), NULL);
  g_variant_iter_init (&iter, o.profiles);
  while (g_variant_iter_next (&iter, "{&o@a{sv}}", &path, &props))
    {
      g_autoptr(GVariant) owned = props;
      g_autoptr(GVariant) conn = NULL;
      const char *state = connection_of (&o, path, &conn) ? lookup_str (conn, "State") : "disconnected";

      if (ctx->json)
        {
          g_variant_builder_open (&out, G_VARIANT_TYPE_VARDICT);
          add_entries (&out, props);
          g_variant_builder_add (&out, "{sv}", "State", g_variant_new_string (state));
          g_variant_builder_close (&out);
        }
      else
        {
          g_autofree char *addrs = format_prop (props, "Addresses");
          g_autofree char *endpoints = peers_summary (props);
          g_autofree char *autoc = format_prop (props, "AutoConnect");
          anyd_client_table_add_row (table, lookup_str (props, "Name"), addrs, endpoints, autoc, state);
        }
    }
  return print_listing (ctx, &out, table, _("No VPN profiles."));
}

static void
add_connection_rows (AnydClientTable *table, GVariant *conn)
{
  guint64 rx = 0, tx = 0, hs = 0, since = 0;
  g_autofree char *rx_text = NULL, *tx_text = NULL, *hs_text = NULL, *since_text = NULL, *addrs = NULL;

  g_variant_lookup (conn, "RxBytes", "t", &rx);
  g_variant_lookup (conn, "TxBytes", "t", &tx);
  g_variant_lookup (conn, "LatestHandshake", "t", &hs);
  g_variant_lookup (conn, "Since", "t", &since);
  rx_text = anyd_client_format_bytes (rx);
  tx_text = anyd_client_format_bytes (tx);
  hs_text = anyd_client_format_timestamp (hs);
  since_text = anyd_client_format_timestamp (since);
  addrs = format_prop (conn, "Addresses");
  anyd_client_table_add_row (table, N_("State:"), lookup_str (conn, "State"));
  anyd_client_table_add_row (table, N_("Since:"), since_text);
  anyd_client_table_add_row (table, N_("Interface:"), lookup_str (conn, "Interface"));
  anyd_client_table_add_row (table, N_("Addresses:"), addrs);
  anyd_client_table_add_row (table, N_("Received:"), rx_text);
  anyd_client_table_add_row (table, N_("Sent:"), tx_text);
  anyd_client_table_add_row (table, N_("Latest handshake:"), hs_text);
  if (*lookup_str (conn, "LastError"))
    anyd_client_table_add_row (table, N_("Last error:"), lookup_str (conn, "LastError"));
}

static int
cmd_show (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = profile_path (argv[1]);
  g_autoptr(GVariant) props = NULL;
  g_autoptr(GVariant) conn = NULL;
  g_autoptr(GVariant) peers = NULL;
  g_autoptr(AnydClientTable) table = NULL;
  g_auto(Objects) o = { 0 };
  g_autofree char *addrs = NULL, *autoc = NULL;

  props = anyd_client_get_properties (ctx, path, PROFILE_IFACE, &error);
  if (props == NULL || !get_objects (ctx, &o, &error))
    return anyd_client_fail (ctx, error);
  connection_of (&o, path, &conn);
  if (ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "profile", props);
      if (conn)
        g_variant_builder_add (&b, "{sv}", "connection", conn);
      anyd_client_print_json (g_variant_builder_end (&b));
      return ANYD_CLIENT_EXIT_OK;
    }
  addrs = format_prop (props, "Addresses");
  autoc = format_prop (props, "AutoConnect");
  table = anyd_client_table_new_plain (2);
  anyd_client_table_add_row (table, N_("Profile:"), lookup_str (props, "Name"));
  anyd_client_table_add_row (table, N_("Type:"), lookup_str (props, "Type"));
  anyd_client_table_add_row (table, N_("Addresses:"), addrs);
  anyd_client_table_add_row (table, N_("Autoconnect:"), autoc);
  peers = g_variant_lookup_value (props, "Peers", G_VARIANT_TYPE ("aa{sv}"));
  for (gsize i = 0; peers && i < g_variant_n_children (peers); i++)
    {
      g_autoptr(GVariant) peer = g_variant_get_child_value (peers, i);
      g_autofree char *allowed = format_prop (peer, "AllowedIPs");
      guint32 keepalive = 0;
      g_autofree char *ka = NULL;

      g_variant_lookup (peer, "PersistentKeepalive", "u", &keepalive);
      ka = keepalive ? g_strdup_printf (anyd_client_value_word (N_("every %u s")), keepalive)
                     : g_strdup (anyd_client_value_word (N_("off")));
      anyd_client_table_add_row (table, N_("Peer:"), lookup_str (peer, "PublicKey"));
      anyd_client_table_add_row (table, N_("  Endpoint:"), lookup_str (peer, "Endpoint"));
      anyd_client_table_add_row (table, N_("  Allowed IPs:"), allowed);
      anyd_client_table_add_row (table, N_("  Keepalive:"), ka);
    }
  if (conn)
    add_connection_rows (table, conn);
  else
    anyd_client_table_add_row (table, N_("State:"), "disconnected");
  anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_status (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_auto(Objects) o = { 0 };
  g_autoptr(AnydClientTable) table = NULL;
  GVariantBuilder out;
  GVariantIter iter;
  const char *path;
  GVariant *props;
  g_autofree char *only = argc > 1 ? profile_path (argv[1]) : NULL;

  /* the counters are sampled when read: read once so the second read is fresh */
  if (!get_objects (ctx, &o, &error))
    return anyd_client_fail (ctx, error);
  if (only != NULL)
    {
      /* an unknown profile is NotFound (exit 4), not an empty listing */
      g_autoptr(GVariant) name = anyd_client_get_property (ctx, only, PROFILE_IFACE, "Name", &error);
      if (name == NULL)
        return anyd_client_fail (ctx, error);
    }
  g_variant_builder_init (&out, G_VARIANT_TYPE ("aa{sv}"));
  table = anyd_client_table_new (NC_("column", "PROFILE"), NC_("column", "STATE"), NC_("column", "SINCE"),
                                 NC_("column", "INTERFACE"), NC_("column", "RECEIVED"), NC_("column", "SENT"),
                                 NC_("column", "HANDSHAKE"), NC_("column", "NOTE"), NULL);
  g_variant_iter_init (&iter, o.connections);
  while (g_variant_iter_next (&iter, "{&o@a{sv}}", &path, &props))
    {
      g_autoptr(GVariant) owned = props;
      g_autoptr(GVariant) fresh = NULL;
      const char *profile = NULL;
      g_autofree char *name = NULL;
      guint64 rx = 0, tx = 0, hs = 0, since = 0;
      g_autofree char *rx_text = NULL, *tx_text = NULL, *hs_text = NULL, *since_text = NULL;

      g_variant_lookup (props, "Profile", "&o", &profile);
      if (only && g_strcmp0 (profile, only) != 0)
        continue;
      fresh = anyd_client_get_properties (ctx, path, CONN_IFACE, NULL);
      if (fresh)
        props = fresh;
      name = profile && g_str_has_prefix (profile, PROFILES_PREFIX)
             ? g_strdup (profile + strlen (PROFILES_PREFIX)) : g_strdup ("?");
      {
        /* path elements are escaped: show the profile's own name */
        g_autoptr(GVariant) pp = profile ? anyd_client_get_property (ctx, profile, PROFILE_IFACE, "Name", NULL)
                                         : NULL;
        if (pp)
          {
            g_free (name);
            name = g_variant_dup_string (pp, NULL);
          }
      }
      if (ctx->json)
        {
          g_variant_builder_open (&out, G_VARIANT_TYPE_VARDICT);
          g_variant_builder_add (&out, "{sv}", "Name", g_variant_new_string (name));
          g_variant_builder_add (&out, "{sv}", "Path", g_variant_new_object_path (path));
          add_entries (&out, props);
          g_variant_builder_close (&out);
          continue;
        }
      g_variant_lookup (props, "RxBytes", "t", &rx);
      g_variant_lookup (props, "TxBytes", "t", &tx);
      g_variant_lookup (props, "LatestHandshake", "t", &hs);
      rx_text = anyd_client_format_bytes (rx);
      tx_text = anyd_client_format_bytes (tx);
      hs_text = anyd_client_format_timestamp (hs);
      /* since the connection entered its state; an anyd restart does not reset it */
      g_variant_lookup (props, "Since", "t", &since);
      since_text = anyd_client_format_timestamp (since);
      anyd_client_table_add_row (table, name, lookup_str (props, "State"), since_text,
                                 lookup_str (props, "Interface"), rx_text, tx_text, hs_text,
                                 lookup_str (props, "LastError"));
    }
  return print_listing (ctx, &out, table, _("No VPN connections."));
}

/* ---- connect: wait for connected or failed */

typedef struct {
  GMainLoop  *loop;
  const char *path;
  char       *state;
  char       *reason;
  const char *name;
  gboolean    progress;   /* on a terminal: say what happens while we wait */
} Wait;

static void
state_changed_cb (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                  const char *signal, GVariant *params, gpointer user_data)
{
  Wait *w = user_data;
  const char *state, *reason;

  if (g_strcmp0 (path, w->path) != 0)
    return;
  g_variant_get (params, "(&s&s)", &state, &reason);
  if (g_str_equal (state, "connecting") || g_str_equal (state, "disconnecting"))
    {
      if (w->progress)
        {
          if (*reason)
            g_printerr (_("%s: %s… (%s)\n"), w->name, state, reason);
          else
            g_printerr (_("%s: %s…\n"), w->name, state);
        }
      return;
    }
  g_free (w->state);
  g_free (w->reason);
  w->state = g_strdup (state);
  w->reason = g_strdup (reason);
  g_main_loop_quit (w->loop);
}

static int
print_connection_result (AnydClientContext *ctx, const char *name, const char *path, const char *state,
                         const char *reason)
{
  if (ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "profile", g_variant_new_string (name));
      g_variant_builder_add (&b, "{sv}", "state", g_variant_new_string (state));
      if (reason && *reason)
        g_variant_builder_add (&b, "{sv}", g_str_equal (state, "connected") ? "warning" : "reason",
                               g_variant_new_string (reason));
      anyd_client_print_json (g_variant_builder_end (&b));
    }
  if (g_str_equal (state, "failed"))
    {
      if (!ctx->json)
        g_printerr ("anyd-client: %s: %s\n", name, reason && *reason ? reason : _("failed"));
      return ANYD_CLIENT_EXIT_FAILURE;
    }
  if (!ctx->json && !ctx->quiet)
    g_print (_("%s: %s\n"), name, state);
  /* connected, with something to say (e.g. DNS could not be set): a warning */
  if (!ctx->json && g_str_equal (state, "connected") && reason && *reason)
    g_printerr (_("anyd-client: warning: %s: %s\n"), name, reason);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_connect (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVpn) vpn = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GVariant) state_v = NULL;
  g_autoptr(GVariant) err_v = NULL;
  GDBusConnection *bus = anyd_client_get_bus (ctx, &error);
  Wait w = { 0 };
  guint sub = 0;
  int ret;

  if (bus == NULL)
    return anyd_client_fail (ctx, error);
  /* subscribe first: the state can change before the reply arrives */
  w.loop = g_main_loop_new (NULL, FALSE);
  if (!opt_no_wait)
    sub = g_dbus_connection_signal_subscribe (bus, ANYD_CLIENT_BUS_NAME, CONN_IFACE, "StateChanged", NULL, NULL,
                                              G_DBUS_SIGNAL_FLAGS_NONE, state_changed_cb, &w, NULL);
  vpn = vpn_proxy (ctx, &error);
  if (!VPN_CALL (connect, argv[1], ANYD_CLIENT_CALL_ARGS (ctx), &path, NULL, &error))
    {
      if (sub)
        g_dbus_connection_signal_unsubscribe (bus, sub);
      g_main_loop_unref (w.loop);
      return anyd_client_fail (ctx, error);
    }
  w.path = path;
  w.name = argv[1];
  w.progress = !ctx->json && !ctx->quiet && isatty (STDERR_FILENO);
  state_v = anyd_client_get_property (ctx, path, CONN_IFACE, "State", NULL);
  if (!opt_no_wait && w.state == NULL && state_v && g_str_equal (g_variant_get_string (state_v, NULL), "connecting"))
    {
      /* drain what already arrived, then wait (the daemon's handshake timeout bounds this) */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      if (w.state == NULL && w.progress)
        g_printerr (_("%s: tunnel configured, waiting for the first handshake…\n"), argv[1]);
      if (w.state == NULL && anyd_client_run_loop (ctx, w.loop))
        {
          /* Ctrl-C: the connection belongs to the system, not to us; say so */
          g_dbus_connection_signal_unsubscribe (bus, sub);
          g_main_loop_unref (w.loop);
          g_printerr (_("anyd-client: interrupted; %s goes on connecting in the background "
                        "('anyd-client vpn disconnect %s' stops it)\n"), argv[1], argv[1]);
          return 130;
        }
    }
  if (sub)
    g_dbus_connection_signal_unsubscribe (bus, sub);
  if (w.state == NULL || (g_str_equal (w.state, "connected") && (w.reason == NULL || *w.reason == '\0')))
    {
      /* the state as it is now; LastError of a connected tunnel is a warning */
      if (w.state == NULL)
        w.state = state_v ? g_variant_dup_string (state_v, NULL) : g_strdup ("connecting");
      err_v = anyd_client_get_property (ctx, path, CONN_IFACE, "LastError", NULL);
      g_free (w.reason);
      w.reason = err_v ? g_variant_dup_string (err_v, NULL) : NULL;
    }
  ret = print_connection_result (ctx, argv[1], path, w.state, w.reason);
  g_main_loop_unref (w.loop);
  g_free (w.state);
  g_free (w.reason);
  return ret;
}

static int
cmd_disconnect (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVpn) vpn = vpn_proxy (ctx, &error);

  if (!VPN_CALL (disconnect, argv[1], ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (g_variant_new_parsed ("{'profile': <%s>, 'state': <'disconnected'>}", argv[1]));
  else if (!ctx->quiet)
    g_print (_("%s: disconnected\n"), argv[1]);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_delete (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = profile_path (argv[1]);
  g_autoptr(AnydVpnProfile) profile = anyd_client_proxy_new (ctx, ANYD_TYPE_VPN_PROFILE_PROXY,
                                                            anyd_vpn_profile_interface_info (), path, &error);

  if (profile == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, profile, &error,
                               anyd_vpn_profile_call_delete_sync (profile, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                  NULL, &error)))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (g_variant_new_parsed ("{'deleted': <%s>}", argv[1]));
  return ANYD_CLIENT_EXIT_OK;
}

/* The settings a profile has beside its configuration (which Update
 * replaces whole, private key included). */
static int
cmd_modify (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = profile_path (argv[1]);
  g_autoptr(AnydVpnProfile) profile = NULL;
  gboolean enabled;

  if (opt_set_autoconnect == NULL)
    return anyd_client_usage_error (ctx, "%s", _("nothing to change: give --autoconnect yes|no"));
  if (g_str_equal (opt_set_autoconnect, "yes"))
    enabled = TRUE;
  else if (g_str_equal (opt_set_autoconnect, "no"))
    enabled = FALSE;
  else
    return anyd_client_usage_error (ctx, "%s", _("--autoconnect takes yes or no"));
  profile = anyd_client_proxy_new (ctx, ANYD_TYPE_VPN_PROFILE_PROXY, anyd_vpn_profile_interface_info (),
                                   path, &error);
  if (profile == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, profile, &error,
                               anyd_vpn_profile_call_set_auto_connect_sync (profile, enabled,
                                                                            ANYD_CLIENT_CALL_ARGS (ctx),
                                                                            NULL, &error)))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (g_variant_new_parsed ("{'modified': <%s>, 'autoconnect': <%b>}", argv[1], enabled));
  return ANYD_CLIENT_EXIT_OK;
}

/* ---- monitor */

typedef struct {
  AnydClientContext *ctx;
  char              *only;   /* profile path or NULL */
  GHashTable        *profile_of;   /* connection path -> profile name */
} Monitor;

static const char *
monitor_name (Monitor *m, const char *path)
{
  const char *name = g_hash_table_lookup (m->profile_of, path);

  if (name == NULL)
    {
      g_autoptr(GVariant) profile = anyd_client_get_property (m->ctx, path, CONN_IFACE, "Profile", NULL);
      g_autoptr(GVariant) pname = profile ? anyd_client_get_property (m->ctx, g_variant_get_string (profile, NULL),
                                                                     PROFILE_IFACE, "Name", NULL) : NULL;
      if (profile && m->only && !g_str_equal (g_variant_get_string (profile, NULL), m->only))
        name = "";   /* someone else's: remembered as filtered out */
      else
        name = pname ? g_variant_get_string (pname, NULL) : "?";
      g_hash_table_insert (m->profile_of, g_strdup (path), g_strdup (name));
      name = g_hash_table_lookup (m->profile_of, path);
    }
  return name;
}

static void
monitor_signal_cb (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                   const char *signal, GVariant *params, gpointer user_data)
{
  Monitor *m = user_data;
  const char *state, *reason;
  const char *name;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *ts = g_date_time_format (now, "%H:%M:%S");

  if (!g_str_equal (signal, "StateChanged"))
    return;
  g_variant_get (params, "(&s&s)", &state, &reason);
  name = monitor_name (m, path);
  if (*name == '\0')
    return;
  if (m->ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      /* µs since the epoch, as every timestamp of anyd */
      g_variant_builder_add (&b, "{sv}", "time", g_variant_new_int64 (g_date_time_to_unix (now) * G_USEC_PER_SEC +
                                                                   g_date_time_get_microsecond (now)));
      g_variant_builder_add (&b, "{sv}", "profile", g_variant_new_string (name));
      g_variant_builder_add (&b, "{sv}", "connection", g_variant_new_object_path (path));
      g_variant_builder_add (&b, "{sv}", "state", g_variant_new_string (state));
      g_variant_builder_add (&b, "{sv}", "reason", g_variant_new_string (reason));
      anyd_client_print_json_line (g_variant_builder_end (&b));
    }
  else if (*reason)
    g_print ("%s  %s  %s  (%s)\n", ts, name, state, reason);
  else
    g_print ("%s  %s  %s\n", ts, name, state);
  if (g_str_equal (state, "disconnected"))
    g_hash_table_remove (m->profile_of, path);
}

static int
cmd_monitor (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *bus = anyd_client_get_bus (ctx, &error);
  g_autoptr(GMainLoop) loop = NULL;
  Monitor m = { ctx, argc > 1 ? profile_path (argv[1]) : NULL, NULL };
  g_autoptr(GVariant) check = NULL;
  guint sub;

  if (bus == NULL)
    return anyd_client_fail (ctx, error);
  if (m.only)
    {
      /* an unknown profile is an error up front, not silence forever */
      check = anyd_client_get_property (ctx, m.only, PROFILE_IFACE, "Name", &error);
      if (check == NULL)
        {
          g_free (m.only);
          return anyd_client_fail (ctx, error);
        }
    }
  m.profile_of = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  loop = g_main_loop_new (NULL, FALSE);
  sub = g_dbus_connection_signal_subscribe (bus, ANYD_CLIENT_BUS_NAME, CONN_IFACE, "StateChanged", NULL, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, monitor_signal_cb, &m, NULL);
  if (!ctx->json)
    {
      g_print (_("Watching VPN connections (Ctrl-C to stop)…\n"));
      fflush (stdout);
    }
  anyd_client_run_loop (ctx, loop);
  g_dbus_connection_signal_unsubscribe (bus, sub);
  g_hash_table_unref (m.profile_of);
  g_free (m.only);
  return ANYD_CLIENT_EXIT_OK;
}

static const AnydClientCommand vpn_commands[] = {
  { "list", NULL, N_("List VPN profiles and their state"), cmd_list, 0, 0 },
  { "status", "[PROFILE]", N_("Show connections: state and since when, interface, traffic, latest handshake"),
    cmd_status, 0, 1 },
  { "show", "PROFILE", N_("Show a profile's public settings and its connection"), cmd_show, 1, 1 },
  { "import", "FILE|LINK [PROFILE]", N_("Import a wg-quick configuration, read as you (- for stdin), or a "
                                        "v2ray share link (vmess:// vless:// trojan:// ss://); PROFILE defaults "
                                        "to the file name without .conf or the link's #name; --subscription "
                                        "imports every link of a subscription file"),
    cmd_import, 1, 2, import_entries },
  { "connect", "PROFILE", N_("Connect and wait for the first handshake"), cmd_connect, 1, 1, connect_entries },
  { "disconnect", "PROFILE", N_("Disconnect (device, routes and DNS settings go)"), cmd_disconnect, 1, 1 },
  { "modify", "PROFILE", N_("Change a profile's settings (--autoconnect yes|no)"), cmd_modify, 1, 1,
    modify_entries },
  { "delete", "PROFILE", N_("Delete a profile (disconnecting it first)"), cmd_delete, 1, 1 },
  { "monitor", "[PROFILE]", N_("Print connection state changes as they happen"), cmd_monitor, 0, 1 },
  { NULL }
};

const AnydClientGroup anyd_client_group_vpn = {
  .name = "vpn",
  .summary = N_("WireGuard VPN profiles and connections"),
  .commands = vpn_commands,
  .default_command = "status",
  .toplevel = FALSE,
};
