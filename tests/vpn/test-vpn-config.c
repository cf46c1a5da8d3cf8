/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the vpn module's pure parts: keys, the wg-quick parser and
 * writer, UAPI requests and replies, profile records.  Also replays the
 * fuzz corpus (tests/vpn/corpus/config/) and deterministic mutations of it through
 * the fuzz target's checks, so every build exercises the parsers. */
#include "anyd-build-config.h"

#include <string.h>
#include <sodium.h>
#include <glib.h>

#include "error.h"
#include "vpn-config.h"
#include "vpn-record.h"
#include "vpn-runtime.h"
#include "vpn-uapi.h"

int vpn_fuzz_one (const guint8 *data, gsize size);

#define PRIV "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define PUB  "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define PSK  "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="

static const char example[] =
  "# a comment\n"
  "[Interface]\n"
  "PrivateKey = " PRIV "\n"
  "Address = 10.0.0.2/24, fd00::2/64   # trailing comment\n"
  "Address = 10.0.1.2\n"
  "DNS = 10.0.0.1, fd00:0::1, corp.example\n"
  "MTU = 1380\n"
  "ListenPort = 51000\n"
  "FwMark = 0x1234\n"
  "\n"
  "[peer]\n"
  "publickey = " PUB "\n"
  "PresharedKey = " PSK "\n"
  "Endpoint = [fd00::1]:51820\n"
  "AllowedIPs = 0.0.0.0/0, ::/0, 10.0.0.7/24\n"
  "PersistentKeepalive = 25\n"
  "[Peer]\r\n"
  "PublicKey = " PRIV "\r\n"
  "Endpoint = vpn.example.com:4500\r\n";

static const char canonical[] =
  "[Interface]\n"
  "PrivateKey = " PRIV "\n"
  "Address = 10.0.0.2/24, fd00::2/64, 10.0.1.2/32\n"
  "DNS = 10.0.0.1, fd00::1, corp.example\n"
  "MTU = 1380\n"
  "ListenPort = 51000\n"
  "FwMark = 0x1234\n"
  "\n"
  "[Peer]\n"
  "PublicKey = " PUB "\n"
  "PresharedKey = " PSK "\n"
  "Endpoint = [fd00::1]:51820\n"
  "AllowedIPs = 0.0.0.0/0, ::/0, 10.0.0.0/24\n"
  "PersistentKeepalive = 25\n"
  "\n"
  "[Peer]\n"
  "PublicKey = " PRIV "\n"
  "Endpoint = vpn.example.com:4500\n";

static VpnConfig *
parse (const char *text, GError **error)
{
  return vpn_config_parse (text, strlen (text), VPN_CONFIG_PARSE_NONE, error);
}

static void
test_keys (void)
{
  guint8 key[VPN_KEY_LEN], back[VPN_KEY_LEN];

  for (int i = 0; i < 200; i++)
    {
      g_autofree char *b64 = NULL;
      randombytes_buf (key, sizeof key);
      b64 = vpn_key_to_base64 (key);
      g_assert_cmpuint (strlen (b64), ==, 44);
      g_assert_true (vpn_key_from_base64 (b64, back));
      g_assert_cmpmem (key, sizeof key, back, sizeof back);
      /* it is standard base64 */
      {
        gsize n;
        g_autofree guchar *std = g_base64_decode (b64, &n);
        g_assert_cmpmem (std, n, key, sizeof key);
      }
    }
  g_assert_true (vpn_key_from_base64 (PUB, key));
  /* the spare bits of the last symbol must be zero: one spelling per key */
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=", key));
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg", key));
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D==", key));
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg==", key));
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZq-8Dg=", key));
  g_assert_false (vpn_key_from_base64 ("", key));
  /* the URL-safe alphabet, whitespace and NUL are not wg's spelling */
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZq_8Dg=", key));
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZ p8Dg=", key));
  g_assert_false (vpn_key_from_base64 ("xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n", key));
  g_assert_false (vpn_key_from_base64 ("=TIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", key));
  {
    char hex[2 * VPN_KEY_LEN + 1];
    memset (key, 0xab, sizeof key);
    key[0] = 0x01;
    key[VPN_KEY_LEN - 1] = 0xf0;
    vpn_key_to_hex (key, hex);
    g_assert_true (g_str_has_prefix (hex, "01abab"));
    g_assert_true (g_str_has_suffix (hex, "abf0"));
    g_assert_cmpuint (strlen (hex), ==, 64);
  }
}

/* wg-quick brings up an interface with no peer (they are added later):
 * such a profile imports, is stored and reads back. */
static void
test_peerless (void)
{
  static const char text[] = "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.2/24\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) c = vpn_config_parse (text, strlen (text), VPN_CONFIG_PARSE_NONE, &error);
  g_autoptr(VpnConfig) back = NULL;
  g_autoptr(GVariant) peers = NULL;
  g_autofree char *name = NULL;
  gboolean autoconnect, ignore;
  char *rec;

  g_assert_no_error (error);
  g_assert_cmpuint (c->peers->len, ==, 0);
  g_assert_false (vpn_config_is_full_tunnel (c, AF_INET));
  peers = g_variant_ref_sink (vpn_config_peers_variant (c));
  g_assert_cmpuint (g_variant_n_children (peers), ==, 0);
  rec = vpn_record_format ("lonely", FALSE, FALSE, c);
  g_assert_null (strstr (rec, "[Peer]"));
  back = vpn_record_parse (rec, strlen (rec), &name, &autoconnect, &ignore, &error);
  vpn_secret_free (rec);
  g_assert_no_error (error);
  g_assert_cmpuint (back->peers->len, ==, 0);
  g_assert_cmpuint (back->addresses->len, ==, 1);
}

static void
test_example (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) c = parse (example, &error);
  g_autofree char *text = NULL;
  g_autoptr(GVariant) peers = NULL;
  g_autofree char *peers_text = NULL;
  VpnPeer *p;

  g_assert_no_error (error);
  g_assert_cmpuint (c->addresses->len, ==, 3);
  g_assert_cmpuint (c->dns_servers->len, ==, 2);
  g_assert_cmpstr (c->dns_servers->pdata[1], ==, "fd00::1");
  g_assert_cmpuint (c->dns_search->len, ==, 1);
  g_assert_cmpuint (c->mtu, ==, 1380);
  g_assert_cmpuint (c->listen_port, ==, 51000);
  g_assert_cmpuint (c->fwmark, ==, 0x1234);
  g_assert_cmpuint (c->peers->len, ==, 2);
  p = c->peers->pdata[0];
  g_assert_true (p->has_preshared_key);
  g_assert_cmpstr (p->endpoint_host, ==, "fd00::1");
  g_assert_cmpuint (p->endpoint_port, ==, 51820);
  g_assert_cmpuint (p->persistent_keepalive, ==, 25);
  g_assert_true (vpn_config_is_full_tunnel (c, AF_INET));
  g_assert_true (vpn_config_is_full_tunnel (c, AF_INET6));
  text = vpn_config_to_text (c);
  g_assert_cmpstr (text, ==, canonical);

  /* public fields only */
  peers = g_variant_ref_sink (vpn_config_peers_variant (c));
  peers_text = g_variant_print (peers, FALSE);
  g_assert_null (strstr (peers_text, PSK));
  g_assert_nonnull (strstr (peers_text, PUB));
  g_assert_nonnull (strstr (peers_text, "'Endpoint': <'[fd00::1]:51820'>"));
}

typedef struct {
  const char *text;
  const char *needles[3];
} Bad;

static void
test_bad (void)
{
  static const Bad bad[] = {
    { "", { "[Interface] section is missing" } },
    { "[Interface]\n[Peer]\nPublicKey = " PUB "\n", { "line 1", "PrivateKey is missing" } },
    { "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nEndpoint = 1.2.3.4:5\n", { "line 3", "PublicKey is missing" } },
    { "[Interface]\nPrivateKey = abc\n", { "line 2", "PrivateKey", "not a WireGuard key" } },
    { "[Interface]\nPrivateKey\n", { "line 2", "Key = Value" } },
    { "[Interface]\n = x\n", { "line 2", "key is missing" } },
    { "[Interface\n", { "line 1", "section header" } },
    { "[Interface] x\n", { "line 1", "section header" } },
    { "[Peers]\n", { "line 1", "unknown section" } },
    { "[Interface]\nPrivateKey = " PRIV "\nListenPort = 1 2\n", { "line 3", "ListenPort" } },
    { "[Interface]\nPrivateKey = " PRIV "\nFwMark = 0x\n", { "line 3", "FwMark" } },
    { "[Interface]\nPrivateKey = " PRIV "\nFwMark = 0x100000000\n", { "FwMark" } },
    { "[Interface]\nPrivateKey = " PRIV "\nMTU = 575\n", { "MTU" } },
    { "[Interface]\nPrivateKey = " PRIV "\nMTU = 1000\nAddress = fd00::1/64\n[Peer]\nPublicKey = " PUB "\n",
      { "MTU", "1280" } },
    { "[Interface]\nPrivateKey = " PRIV "\nTable = 0\n", { "Table" } },
    { "[Interface]\nPrivateKey = " PRIV "\nTable = main2\n", { "Table" } },
    { "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.1/24,\n", { "Address", "empty item" } },
    { "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.1/024\n", { "Address" } },
    { "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.1%eth0\n", { "Address" } },
    { "[Interface]\nPrivateKey = " PRIV "\nDNS = -bad-.example..com\n", { "DNS" } },
    { "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB "\nEndpoint = [fd00::1]\n", { "Endpoint" } },
    { "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB "\nEndpoint = [10.0.0.1]:5\n", { "Endpoint", "IPv6" } },
    { "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB "\nEndpoint = host:+5\n", { "Endpoint", "port" } },
    { "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB "\nPersistentKeepalive = 65536\n", { "PersistentKeepalive" } },
    { "[Interface]\nPrivateKey = " PRIV "\n[Peer]\nPublicKey = " PUB "\nPublicKey = " PUB "\n", { "line 5", "duplicate" } },
    { "[Interface]\nPrivateKey = " PRIV "\nPostUp = iptables -A\n", { "line 3", "PostUp", "ignore_scripts" } },
    { "[Interface]\nPrivateKey = " PRIV "\nsaveconfig = true\n", { "SaveConfig" } },
    { "[Interface]\nPrivateKey = " PRIV "\nAddress = 10.0.0.1\xff\n", { "line 3", "UTF-8" } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VpnConfig) c = parse (bad[i].text, &error);

      if (c != NULL)
        g_error ("case %u parsed: %s", i, bad[i].text);
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      for (guint j = 0; j < G_N_ELEMENTS (bad[i].needles) && bad[i].needles[j]; j++)
        if (strstr (error->message, bad[i].needles[j]) == NULL)
          g_error ("case %u: \"%s\" lacks \"%s\"", i, error->message, bad[i].needles[j]);
      g_assert_null (strstr (error->message, PRIV));
      g_assert_null (strstr (error->message, "yAnz5TF"));
    }
  {
    g_autoptr(GError) error = NULL;
    const char nul[] = "[Interface]\nPrivateKey = " PRIV "\0\n";
    g_autoptr(VpnConfig) c = vpn_config_parse (nul, sizeof nul - 1, VPN_CONFIG_PARSE_NONE, &error);
    g_assert_null (c);
    g_assert_nonnull (strstr (error->message, "NUL"));
  }
  {
    g_autoptr(GError) error = NULL;
    g_autofree char *huge = g_strnfill (VPN_CONFIG_MAX_SIZE + 1, '#');
    g_autoptr(VpnConfig) c = parse (huge, &error);
    g_assert_null (c);
    g_assert_nonnull (strstr (error->message, "larger than"));
  }
}

static void
test_scripts (void)
{
  static const char text[] =
    "[Interface]\nPrivateKey = " PRIV "\nPreUp = a\nPostUp = b\nPreDown = c\nPostDown = d\nSaveConfig = true\n"
    "[Peer]\nPublicKey = " PUB "\n";
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) c = vpn_config_parse (text, strlen (text), VPN_CONFIG_PARSE_IGNORE_SCRIPTS, &error);
  g_autofree char *out = NULL;

  g_assert_no_error (error);
  g_assert_true (c->had_scripts);
  out = vpn_config_to_text (c);
  g_assert_null (strstr (out, "Up"));
  g_assert_null (strstr (out, "Save"));
}

static void
test_names (void)
{
  g_assert_true (vpn_profile_name_is_valid ("wg0"));
  g_assert_true (vpn_profile_name_is_valid ("home_vpn+2=a.b-c"));
  g_assert_false (vpn_profile_name_is_valid (""));
  g_assert_false (vpn_profile_name_is_valid ("."));
  g_assert_false (vpn_profile_name_is_valid (".."));
  g_assert_false (vpn_profile_name_is_valid ("a/b"));
  g_assert_false (vpn_profile_name_is_valid ("-f"));
  g_assert_false (vpn_profile_name_is_valid ("a b"));
  g_assert_false (vpn_profile_name_is_valid ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void
test_uapi (void)
{
  static const char text[] =
    "[Interface]\nPrivateKey = " PRIV "\nListenPort = 7\n"
    "[Peer]\nPublicKey = " PUB "\nPresharedKey = " PSK "\nAllowedIPs = 10.0.0.0/24\n"
    "[Peer]\nPublicKey = " PRIV "\nPersistentKeepalive = 9\n";
  const char *endpoints[] = { "1.2.3.4:5", NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) c = parse (text, &error);
  GString *set;
  VpnUapiStats stats;
  static const char get[] =
    "private_key=c809f3e5317e9575c9b5ed78b638b7ce530dabe85ddab614220241801ddf0669\n"
    "listen_port=7\n"
    "public_key=c5320103...\n"
    "endpoint=1.2.3.4:5\n"
    "last_handshake_time_sec=1700000000\n"
    "last_handshake_time_nsec=500000000\n"
    "tx_bytes=100\n"
    "rx_bytes=200\n"
    "allowed_ip=10.0.0.0/24\n"
    "public_key=abcd\n"
    "last_handshake_time_sec=1600000000\n"
    "last_handshake_time_nsec=0\n"
    "tx_bytes=1\n"
    "rx_bytes=2\n"
    "errno=0\n"
    "\n";

  g_assert_no_error (error);
  set = vpn_uapi_build_set (c, 51820, endpoints, 25);
  g_assert_true (g_str_has_prefix (set->str, "set=1\nprivate_key=c809f3e5317e9575c9b5ed78b638b7ce530dabe85ddab614220241801ddf0669\n"
                                             "listen_port=7\nfwmark=51820\nreplace_peers=true\npublic_key=c5320103"));
  g_assert_nonnull (strstr (set->str, "endpoint=1.2.3.4:5\npersistent_keepalive_interval=25\n"
                                       "replace_allowed_ips=true\nallowed_ip=10.0.0.0/24\n"));
  g_assert_nonnull (strstr (set->str, "persistent_keepalive_interval=9\n"));
  g_assert_true (g_str_has_suffix (set->str, "\n\n"));
  vpn_uapi_buffer_free (set);
  set = vpn_uapi_build_unkick (c);
  g_assert_nonnull (strstr (set->str, "update_only=true\npersistent_keepalive_interval=0\n"));
  g_assert_null (strstr (set->str, "c809f3e5"));   /* the kept-keepalive peer is not touched */
  vpn_uapi_buffer_free (set);

  g_assert_true (vpn_uapi_parse_get_reply (get, strlen (get), &stats, &error));
  g_assert_cmpuint (stats.n_peers, ==, 2);
  g_assert_cmpuint (stats.rx_bytes, ==, 202);
  g_assert_cmpuint (stats.tx_bytes, ==, 101);
  g_assert_cmpuint (stats.latest_handshake, ==, G_GUINT64_CONSTANT (1700000000500000));
  g_assert_true (vpn_uapi_parse_set_reply ("errno=0\n\n", 9, &error));
  g_assert_false (vpn_uapi_parse_set_reply ("errno=22\n\n", 10, &error));
  g_assert_nonnull (strstr (error->message, "errno 22"));
  g_clear_error (&error);
  g_assert_false (vpn_uapi_parse_get_reply ("rx_bytes=1\nerrno=0\n\n", 20, &stats, &error));
  g_clear_error (&error);
  g_assert_false (vpn_uapi_parse_get_reply ("errno=0\n", 8, &stats, &error));
  g_clear_error (&error);
  g_assert_false (vpn_uapi_parse_get_reply ("public_key=a\nrx_bytes=99999999999999999999999\nerrno=0\n\n", 55,
                                            &stats, &error));
  g_clear_error (&error);
  g_assert_false (vpn_uapi_parse_get_reply ("errno=0\n\nx\n\n", 12, &stats, &error));
}

static void
test_record (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) c = parse (example, &error);
  g_autoptr(VpnConfig) back = NULL;
  g_autofree char *name = NULL;
  gboolean autoconnect = FALSE, ignore = TRUE;
  char *rec;

  rec = vpn_record_format ("wg-home", TRUE, FALSE, c);
  g_assert_true (g_str_has_prefix (rec, "# anyd VPN profile"));
  g_assert_nonnull (strstr (rec, "\nFormat=1\nName=wg-home\nAutoConnect=true\nIgnoreScripts=false\n\n[Interface]\n"));
  back = vpn_record_parse (rec, strlen (rec), &name, &autoconnect, &ignore, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "wg-home");
  g_assert_true (autoconnect && !ignore);
  vpn_secret_free (rec);

  static const char *const bad[] = {
    "Format=2\nName=a\nAutoConnect=false\nIgnoreScripts=false\n\n",
    "Format=1\nName=../a\nAutoConnect=false\nIgnoreScripts=false\n\n",
    "Format=1\nName=a\nAutoConnect=maybe\nIgnoreScripts=false\n\n",
    "Format=1\nName=a\nName=b\nAutoConnect=false\nIgnoreScripts=false\n\n",
    "Format=1\nName=a\nAutoConnect=false\n\n",
    "Format=1\nName=a\nAutoConnect=false\nIgnoreScripts=false\n",
    "Format=1\nName=a\nAutoConnect=false\nIgnoreScripts=false\n\n[Interface]\n",
    "Format=1\nName=a\nAutoConnect=false\nIgnoreScripts=false\nExtra=1\n\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(VpnConfig) r = NULL;
      g_autofree char *n = NULL;
      g_clear_error (&error);
      r = vpn_record_parse (bad[i], strlen (bad[i]), &n, &autoconnect, &ignore, &error);
      if (r != NULL)
        g_error ("bad record %u parsed", i);
      g_assert_nonnull (error);
    }
}

/* The corpus and deterministic mutations of it: bit flips, truncations,
 * duplicated and deleted spans. */
static VpnRuntime *
sample_runtime (void)
{
  VpnRuntime *rt = vpn_runtime_new ();
  AnydRule r = ANYD_RULE_INIT;

  rt->profile = g_strdup ("wg-home");
  rt->profile_hash = g_strnfill (64, 'a');
  rt->object = 3;
  rt->ifname = g_strdup ("wg-home");
  rt->ifindex = 12;
  rt->unit = vpn_unit_name ("wg-home");
  rt->invocation_id = g_strnfill (32, '0');
  rt->uapi_path = g_strdup ("/var/run/wireguard/wg-home.sock");
  rt->fwmark = rt->policy_table = 51820;
  r.table = 51820;
  r.fwmark = 51820;
  r.invert = TRUE;
  g_array_append_val (rt->rules, r);
  r = (AnydRule) ANYD_RULE_INIT;
  r.family = AF_INET6;
  r.table = 254;
  r.suppress_prefixlen = 0;
  g_array_append_val (rt->rules, r);
  g_ptr_array_add (rt->routes, g_strdup ("0.0.0.0/0 table 51820"));
  g_ptr_array_add (rt->routes, g_strdup ("10.66.0.0/24"));
  g_ptr_array_add (rt->dns_servers, g_strdup ("10.66.0.1"));
  g_ptr_array_add (rt->dns_search, g_strdup ("corp.example"));
  rt->dns_applied = TRUE;
  rt->has_endpoint = TRUE;
  rt->max_keepalive = 25;
  rt->since = 1765000000000000;
  rt->uid = 65534;
  return rt;
}

static void
test_runtime (void)
{
  g_autoptr(VpnRuntime) rt = sample_runtime ();
  g_autoptr(VpnRuntime) back = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL, *text2 = NULL, *unit = vpn_unit_name ("a-b+c=d.e_f");
  gsize len;
  AnydRule *r;

  /* systemd-escape's spelling */
  g_assert_cmpstr (unit, ==, "anyd-vpn-a\\x2db\\x2bc\\x3dd.e_f.service");
  text = vpn_runtime_format (rt, &len);
  g_assert_nonnull (strstr (text, "Version=1\n"));
  back = vpn_runtime_parse (text, len, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->profile, ==, "wg-home");
  g_assert_cmpstr (back->unit, ==, "anyd-vpn-wg\\x2dhome.service");
  g_assert_cmpint (back->ifindex, ==, 12);
  g_assert_cmpuint (back->rules->len, ==, 2);
  r = &g_array_index (back->rules, AnydRule, 0);
  g_assert_true (r->family == AF_INET && r->table == 51820 && r->fwmark == 51820 && r->invert &&
                 r->suppress_prefixlen == -1);
  r = &g_array_index (back->rules, AnydRule, 1);
  g_assert_true (r->family == AF_INET6 && r->table == 254 && !r->invert && r->suppress_prefixlen == 0);
  g_assert_cmpuint (back->routes->len, ==, 2);
  g_assert_cmpstr (back->dns_search->pdata[0], ==, "corp.example");
  g_assert_true (back->dns_applied && !back->kicked && back->has_endpoint);
  g_assert_cmpuint (back->since, ==, 1765000000000000);
  g_assert_cmpint (back->uid, ==, 65534);
  text2 = vpn_runtime_format (back, &len);
  g_assert_cmpstr (text, ==, text2);

  /* truncated anywhere, a bad version, a foreign unit, bad values: refused */
  for (gsize cut = 0; cut < strlen (text); cut += 7)
    {
      g_autoptr(VpnRuntime) t = vpn_runtime_parse (text, cut, NULL);
      /* only a cut after the last line's value can still be whole */
      if (t != NULL)
        g_assert_cmpuint (cut, >, strlen (text) - 12);
    }
  {
    static const char *const edits[][2] = {
      { "Version=1", "Version=2" },
      { "Version=1", "Version=x" },
      { "Unit=anyd-vpn-wg\\\\x2dhome.service", "Unit=sshd.service" },
      { "Profile=wg-home", "Profile=../x" },
      { "IfIndex=12", "IfIndex=0" },
      { "IfIndex=12", "IfIndex=-3" },
      { "Interface=wg-home", "Interface=a/b" },
      { "InvocationID=00000000000000000000000000000000", "InvocationID=xyz" },
      { "Rules=4 51820 51820 1 -1;", "Rules=4 51820 51820 7 -1;" },
      { "Routes=0.0.0.0/0 table 51820;", "Routes=0.0.0.0/99;" },
      { "DNS=10.66.0.1;", "DNS=not-an-ip;" },
      { "DNSApplied=true", "DNSApplied=perhaps" },
      { "UapiPath=/var/run", "UapiPath=var/run" },
      { "[Connection]", "[Other]" },
    };
    for (guint i = 0; i < G_N_ELEMENTS (edits); i++)
      {
        g_autoptr(GError) e = NULL;
        g_autoptr(GString) s = g_string_new (text);
        g_autoptr(VpnRuntime) t = NULL;

        g_assert_cmpint (g_string_replace (s, edits[i][0], edits[i][1], 1), ==, 1);
        t = vpn_runtime_parse (s->str, s->len, &e);
        if (t != NULL)
          g_error ("edit %u (%s) was accepted", i, edits[i][1]);
        g_assert_true (g_str_has_prefix (e->message, "runtime record"));
      }
  }
}

static void
test_corpus (void)
{
  g_autofree char *dir = g_test_build_filename (G_TEST_DIST, "corpus", "config", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261123);
  const char *f;
  guint files = 0, runs = 0;

  g_assert_nonnull (d);
  while ((f = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, f, NULL);
      g_autofree char *data = NULL;
      gsize len;

      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      vpn_fuzz_one ((const guint8 *) data, len);
      files++;
      runs++;
      for (int m = 0; m < 300 && len > 1; m++)
        {
          g_autoptr(GByteArray) buf = g_byte_array_new ();
          guint at = g_rand_int_range (rand, 1, (gint32) len);
          guint span = g_rand_int_range (rand, 1, 16);

          g_byte_array_append (buf, (const guint8 *) data, (guint) len);
          switch (m % 4)
            {
            case 0:
              buf->data[at] ^= (guint8) (1u << g_rand_int_range (rand, 0, 8));
              break;
            case 1:
              g_byte_array_set_size (buf, at);
              break;
            case 2:
              g_byte_array_remove_range (buf, at, MIN (span, buf->len - at));
              break;
            default:
              /* from the original: appending buf to itself may move it */
              g_byte_array_append (buf, (const guint8 *) data + at, MIN (span, (guint) len - at));
              break;
            }
          vpn_fuzz_one (buf->data, buf->len);
          runs++;
        }
    }
  g_assert_cmpuint (files, >=, 5);
  g_test_message ("%u corpus files, %u runs", files, runs);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (sodium_init (), >=, 0);
  g_test_add_func ("/vpn/keys", test_keys);
  g_test_add_func ("/vpn/config/example", test_example);
  g_test_add_func ("/vpn/config/bad", test_bad);
  g_test_add_func ("/vpn/config/peerless", test_peerless);
  g_test_add_func ("/vpn/config/scripts", test_scripts);
  g_test_add_func ("/vpn/names", test_names);
  g_test_add_func ("/vpn/uapi", test_uapi);
  g_test_add_func ("/vpn/record", test_record);
  g_test_add_func ("/vpn/runtime", test_runtime);
  g_test_add_func ("/vpn/corpus", test_corpus);
  return g_test_run ();
}
