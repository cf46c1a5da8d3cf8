/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the proxy links: each scheme parsed to its expected stored
 * form, refusals naming their field and never the secret, subscriptions
 * (base64 and plain, bad lines, caps), names from labels, the generated
 * v2ray config (checked by Debian's v2ray -test when it is installed), and
 * the corpus tests/vpn-link-corpus/ replayed with mutations through the
 * fuzz target's checks. */
#include "anyd-build-config.h"

#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "vpn-config.h"
#include "vpn-link.h"
#include "vpn-record.h"
#include "vpn-v2ray-config.h"

int vpn_link_fuzz_one (const guint8 *data, gsize size);

#define UUID "b831381d-6324-4d53-ad4f-8cda48b30811"

/* {"v": "2", "ps": "DE Frankfurt 1", "add": "proxy.example.com", "port": "443",
 *  "id": UUID in capitals, "aid": "0", "scy": "auto", "net": "ws", "type": "none",
 *  "host": "cdn.example.com", "path": "/ray", "tls": "tls", "sni": "sni.example.com"} */
#define VMESS_WS "vmess://eyJ2IjogIjIiLCAicHMiOiAiREUgRnJhbmtmdXJ0IDEiLCAiYWRkIjogInByb3h5LmV4YW1wbGUuY29tIiwgInBvcnQiOiAiNDQzIiwgImlkIjogIkI4MzEzODFELTYzMjQtNEQ1My1BRDRGLThDREE0OEIzMDgxMSIsICJhaWQiOiAiMCIsICJzY3kiOiAiYXV0byIsICJuZXQiOiAid3MiLCAidHlwZSI6ICJub25lIiwgImhvc3QiOiAiY2RuLmV4YW1wbGUuY29tIiwgInBhdGgiOiAiL3JheSIsICJ0bHMiOiAidGxzIiwgInNuaSI6ICJzbmkuZXhhbXBsZS5jb20ifQ=="
/* URL-safe, unpadded: {"add": "10.0.0.1", "port": 10086, "id": UUID, "aid": 4, "net": "tcp",
 *  "host": "ignored.example", "path": "/x"} */
#define VMESS_TCP "vmess://eyJhZGQiOiAiMTAuMC4wLjEiLCAicG9ydCI6IDEwMDg2LCAiaWQiOiAiYjgzMTM4MWQtNjMyNC00ZDUzLWFkNGYtOGNkYTQ4YjMwODExIiwgImFpZCI6IDQsICJuZXQiOiAidGNwIiwgImhvc3QiOiAiaWdub3JlZC5leGFtcGxlIiwgInBhdGgiOiAiL3gifQ"

typedef struct {
  const char *link;
  const char *label;
  const char *stored;
} Good;

static const Good good[] = {
  { VMESS_WS, "DE Frankfurt 1",
    "[V2Ray]\nProtocol=vmess\nHost=proxy.example.com\nPort=443\nSecret=" UUID "\nAlterId=0\nCipher=auto\n"
    "Network=ws\nTLS=true\nSNI=sni.example.com\nHostHeader=cdn.example.com\nPath=/ray\nBlockQuic=false\nIPv6=proxy\n" },
  { VMESS_TCP, NULL,
    "[V2Ray]\nProtocol=vmess\nHost=10.0.0.1\nPort=10086\nSecret=" UUID "\nAlterId=4\nCipher=auto\n"
    "Network=tcp\nTLS=false\nBlockQuic=false\nIPv6=proxy\n" },
  { "vless://" UUID "@[2001:DB8::1]:443?encryption=none&security=tls&sni=a.example&type=ws&host=b.example&path=%2Fws%3Fed%3D2048#my%20vless",
    "my vless",
    "[V2Ray]\nProtocol=vless\nHost=2001:db8::1\nPort=443\nSecret=" UUID "\nNetwork=ws\nTLS=true\n"
    "SNI=a.example\nHostHeader=b.example\nPath=/ws?ed=2048\nBlockQuic=false\nIPv6=proxy\n" },
  { "VLESS://" UUID "@Host.Example:8443?type=h2&path=/h2&alpn=h2,http/1.1&fp=chrome", NULL,
    "[V2Ray]\nProtocol=vless\nHost=host.example\nPort=8443\nSecret=" UUID "\nNetwork=h2\nTLS=false\n"
    "Path=/h2\nBlockQuic=false\nIPv6=proxy\n" },
  { "trojan://p%40ss%3Aw0rd@trojan.example:443?sni=front.example#Trojan%20%F0%9F%87%AF%F0%9F%87%B5", "Trojan 🇯🇵",
    "[V2Ray]\nProtocol=trojan\nHost=trojan.example\nPort=443\nSecret=p@ss:w0rd\nNetwork=tcp\nTLS=true\n"
    "SNI=front.example\nBlockQuic=false\nIPv6=proxy\n" },
  { "trojan://pw@192.0.2.7:80?security=none&type=ws&path=/t", NULL,
    "[V2Ray]\nProtocol=trojan\nHost=192.0.2.7\nPort=80\nSecret=pw\nNetwork=ws\nTLS=false\nPath=/t\n"
    "BlockQuic=false\nIPv6=proxy\n" },
  /* SIP002, userinfo base64url("aes-256-gcm:pa:ss@word") */
  { "ss://YWVzLTI1Ni1nY206cGE6c3NAd29yZA@ss.example:8388/?#SS%201", "SS 1",
    "[V2Ray]\nProtocol=shadowsocks\nHost=ss.example\nPort=8388\nSecret=pa:ss@word\nCipher=aes-256-gcm\n"
    "Network=tcp\nTLS=false\nBlockQuic=false\nIPv6=proxy\n" },
  /* SIP002 with a plain, percent-encoded userinfo */
  { "ss://aes-128-gcm:secret%20pw@192.0.2.1:8388", NULL,
    "[V2Ray]\nProtocol=shadowsocks\nHost=192.0.2.1\nPort=8388\nSecret=secret\\spw\nCipher=aes-128-gcm\n"
    "Network=tcp\nTLS=false\nBlockQuic=false\nIPv6=proxy\n" },
  /* legacy: base64("chacha20-ietf-poly1305:secretpw@[fd00::1]:8388") */
  { "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXRwd0BbZmQwMDo6MV06ODM4OA==#old", "old",
    "[V2Ray]\nProtocol=shadowsocks\nHost=fd00::1\nPort=8388\nSecret=secretpw\nCipher=chacha20-poly1305\n"
    "Network=tcp\nTLS=false\nBlockQuic=false\nIPv6=proxy\n" },
};

static void
test_good (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VpnLink) link = vpn_link_parse (good[i].link, strlen (good[i].link), &error);
      g_autofree char *stored = NULL;

      g_test_message ("link %u", i);
      g_assert_no_error (error);
      g_assert_cmpstr (link->label, ==, good[i].label);
      stored = vpn_link_to_keyfile (link);
      g_assert_cmpstr (stored, ==, good[i].stored);
      g_assert_true (vpn_link_looks_like (good[i].link, strlen (good[i].link)));
    }
}

typedef struct {
  const char *link;
  const char *message;   /* the error starts with this */
  const char *secret;    /* must not appear in the message */
} Bad;

static const Bad bad[] = {
  { "vmess://not*base64", "link: vmess: not base64 of a JSON object", NULL },
  { "vmess://W10=", "link: vmess: not base64 of a JSON object", NULL },   /* [] */
  { "vmess://eyJhZGQiOiJhLmIiLCJwb3J0Ijo0NDN9", "link: vmess: id: missing", NULL },
  { "vmess://eyJhZGQiOiJhLmIiLCJwb3J0Ijo3MDAwMCwiaWQiOiJ4In0=", "link: vmess: port: '70000' is not 1-65535", NULL },
  { "vless://" UUID "@h.example:443?type=grpc&serviceName=x", "link: vless: network: 'grpc' is not supported", UUID },
  { "vless://" UUID "@h.example:443?security=reality&pbk=k", "link: vless: security: 'reality' is not supported", UUID },
  { "vless://" UUID "@h.example:443?security=tls&flow=xtls-rprx-vision", "link: vless: flow: XTLS", UUID },
  { "vless://" UUID "@h.example:443?security=xtls", "link: vless: security: 'xtls'", UUID },
  { "vless://not-a-uuid-secret@h.example:443", "link: vless: id: not a UUID", "not-a-uuid-secret" },
  { "vless://" UUID "@h.example:0", "link: vless: port: '0' is not 1-65535", UUID },
  { "vless://" UUID "@h.example", "link: vless: port: missing", UUID },
  { "vless://h.example:443", "link: vless: user: missing", NULL },
  { "trojan://topsecret@h.example:443?allowInsecure=1", "link: trojan: allowInsecure", "topsecret" },
  { "trojan://topsecret@bad..host:443", "link: trojan: host: 'bad..host' is not a host name", "topsecret" },
  { "trojan://topsecret@1.2.3.999:443", "link: trojan: host: '1.2.3.999'", "topsecret" },
  { "trojan://topsecret@h.example:443/path", "link: trojan: path: unexpected", "topsecret" },
  { "ss://YWVzLTI1Ni1jZmI6dG9wc2VjcmV0@h.example:8388", "link: shadowsocks: method: 'aes-256-cfb' is not supported", "topsecret" },
  { "ss://2022-blake3-aes-128-gcm:topsecret@h.example:8388", "link: shadowsocks: method: '2022-blake3", "topsecret" },
  { "ss://aes-128-gcm:topsecret@h.example:8388/?plugin=obfs-local%3Bobfs%3Dhttp", "link: shadowsocks: plugin", "topsecret" },
  { "ss://dG9wc2VjcmV0@h.example:8388", "link: shadowsocks: userinfo: not base64 of method:password", "topsecret" },
  { "ss://!!!", "link: shadowsocks: userinfo", NULL },
  { "socks5://u:p@h.example:1080", "link: scheme: not one of", NULL },
  { "vless://" UUID "@h.example:443 extra", "link: contains blanks", UUID },
};

static void
test_bad (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VpnLink) link = vpn_link_parse (bad[i].link, strlen (bad[i].link), &error);

      g_test_message ("bad link %u: %s", i, error ? error->message : "(parsed)");
      g_assert_null (link);
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, bad[i].message));
      if (bad[i].secret)
        g_assert_null (strstr (error->message, bad[i].secret));
    }
}

static void
test_subscription (void)
{
  g_autofree char *plain = g_strdup_printf ("%s\r\n\n# a comment\nvless://nope@h:1\n%s\n   \n",
                                            good[2].link, good[6].link);
  g_autofree char *b64 = g_base64_encode ((const guchar *) plain, strlen (plain));
  const char *inputs[] = { plain, b64 };
  g_autoptr(GError) error = NULL;
  GString *many;
  GPtrArray *links;

  for (guint k = 0; k < G_N_ELEMENTS (inputs); k++)
    {
      g_autoptr(GPtrArray) skipped = NULL;
      g_autoptr(GPtrArray) got = vpn_subscription_parse (inputs[k], strlen (inputs[k]), &skipped, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (got->len, ==, 2);
      g_assert_cmpuint (skipped->len, ==, 1);
      g_assert_cmpstr (skipped->pdata[0], ==, "line 4: link: vless: id: not a UUID (8-4-4-4-12 hex digits)");
      g_assert_cmpstr (((VpnLink *) got->pdata[0])->label, ==, "my vless");
      g_assert_cmpint (((VpnLink *) got->pdata[1])->protocol, ==, VPN_PROTOCOL_SHADOWSOCKS);
    }

  links = vpn_subscription_parse ("\n \n# nothing\n", 13, NULL, &error);
  g_assert_null (links);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "subscription: no links in it");
  g_clear_error (&error);

  many = g_string_new (NULL);
  for (guint i = 0; i <= VPN_SUBSCRIPTION_MAX_LINKS; i++)
    g_string_append_printf (many, "trojan://pw@h%u.example:443\n", i);
  links = vpn_subscription_parse (many->str, many->len, NULL, &error);
  g_assert_null (links);
  g_assert_cmpstr (error->message, ==, "subscription: more than 512 links");
  g_clear_error (&error);
  g_string_set_size (many, VPN_SUBSCRIPTION_MAX_SIZE + 1);
  links = vpn_subscription_parse (many->str, many->len, NULL, &error);
  g_assert_null (links);
  g_assert_true (g_str_has_prefix (error->message, "subscription: larger than"));
  g_string_free (many, TRUE);
}

static void
test_names (void)
{
  static const char *const cases[][2] = {
    { "DE Frankfurt 1", "DE-Frankfurt-1" },
    { "🇯🇵 Tokyo | 02", "Tokyo-02" },
    { "../../etc/passwd", "etc-passwd" },
    { "...", "vmess" },
    { NULL, "vmess" },
    { "a.b_c+d=e", "a.b_c+d=e" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = vpn_link_name_from_label (cases[i][0], "vmess");
      g_assert_cmpstr (name, ==, cases[i][1]);
      g_assert_true (vpn_profile_name_is_valid (name));
    }
}

/* A v2ray profile survives the profile record, and its properties read right. */
static void
test_record (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) config = vpn_config_parse_any (good[0].link, strlen (good[0].link), 0, &error);
  g_autoptr(VpnConfig) again = NULL;
  g_autofree char *name = NULL, *server = NULL;
  gboolean autoconnect = FALSE, ignore = TRUE;
  char *record, *record2;

  g_assert_no_error (error);
  config->link->block_quic = TRUE;
  config->link->ipv6 = VPN_IPV6_BLOCK;
  g_assert_cmpstr (vpn_config_type (config), ==, "v2ray");
  g_assert_cmpstr (vpn_config_protocol (config), ==, "vmess");
  server = vpn_config_server (config);
  g_assert_cmpstr (server, ==, "proxy.example.com:443");
  record = vpn_record_format ("de1", TRUE, FALSE, config);
  g_assert_nonnull (strstr (record, "\nType=v2ray\n"));
  g_assert_nonnull (strstr (record, "\nBlockQuic=true\nIPv6=block\n"));
  again = vpn_record_parse (record, strlen (record), &name, &autoconnect, &ignore, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, "de1");
  g_assert_true (autoconnect && !ignore && again->link && again->link->block_quic);
  record2 = vpn_record_format (name, autoconnect, ignore, again);
  g_assert_cmpstr (record, ==, record2);
  vpn_secret_free (record);
  vpn_secret_free (record2);
}

static void
test_proxy_dns (void)
{
  static const char *const ok[] = { "https://1.1.1.1/dns-query", "https://[2606:4700::1111]:8443/q", "udp://10.0.0.53",
                                    "udp://10.0.0.53:5353", "udp://[fd00::53]:53" };
  static const char *const no[] = { "https://dns.example/dns-query", "https://1.1.1.1", "tcp://1.1.1.1",
                                    "udp://1.1.1.1:0", "udp://a.b", "", "https+local://1.1.1.1/dns-query" };

  for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
    g_assert_true (vpn_v2ray_proxy_dns_check (ok[i], "proxy_dns", NULL));
  for (guint i = 0; i < G_N_ELEMENTS (no); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (vpn_v2ray_proxy_dns_check (no[i], "proxy_dns", &error));
      g_assert_true (g_str_has_prefix (error->message, "proxy_dns: "));
    }
}

/* The generated config: the expected structure, and v2ray itself agrees. */
static void
test_generate (void)
{
  VpnV2rayParams params = { .server_address = "192.0.2.10", .inbound_port = 52345, .mark = 0x2a,
                            .proxy_dns = "udp://198.51.100.53:53" };
  const char *v2ray = g_getenv ("ANYD_TEST_V2RAY") ? g_getenv ("ANYD_TEST_V2RAY") : "/usr/bin/v2ray";

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(VpnLink) link = vpn_link_parse (good[i].link, strlen (good[i].link), &error);
      g_autoptr(JsonParser) parser = json_parser_new ();
      char *json = vpn_v2ray_config_generate (link, &params, &error);
      JsonObject *root, *out;
      JsonArray *rules;

      g_assert_no_error (error);
      g_assert_true (json_parser_load_from_data (parser, json, -1, &error));
      root = json_node_get_object (json_parser_get_root (parser));
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (root, "inbounds")), ==, 2);
      out = json_array_get_object_element (json_object_get_array_member (root, "outbounds"), 0);
      g_assert_cmpstr (json_object_get_string_member (out, "tag"), ==, "proxy");
      g_assert_cmpstr (json_object_get_string_member (out, "protocol"), ==, vpn_protocol_name (link->protocol));
      g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (
                         json_object_get_object_member (out, "streamSettings"), "sockopt"), "mark"), ==, 0x2a);
      rules = json_object_get_array_member (json_object_get_object_member (root, "routing"), "rules");
      g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (rules, 0), "port"), ==, "53");
      g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (rules, 0), "outboundTag"), ==,
                       "dns-out");
      if (!link->tls && g_str_equal (link->network, "tcp"))
        g_assert_null (json_object_get_member (json_object_get_object_member (out, "streamSettings"), "tlsSettings"));

      if (g_file_test (v2ray, G_FILE_TEST_IS_EXECUTABLE))
        {
          g_autofree char *path = NULL;
          g_autofree char *out_text = NULL, *err_text = NULL;
          int fd = g_file_open_tmp ("anyd-v2ray-XXXXXX.json", &path, &error);
          int status = 0;
          const char *argv[] = { v2ray, "-test", "-config", path, NULL };

          g_assert_cmpint (fd, >=, 0);
          g_assert_true (g_file_set_contents (path, json, -1, &error));
          close (fd);
          g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out_text, &err_text,
                                       &status, &error));
          if (!g_spawn_check_wait_status (status, NULL))
            g_error ("v2ray -test refused link %u:\n%s%s\n%s", i, out_text, err_text, json);
          g_unlink (path);
        }
      else
        g_test_message ("no %s: v2ray -test skipped", v2ray);
      vpn_secret_free (json);
    }
}

/* Every corpus file, then deterministic mutations of each, through the
 * fuzz target's checks. */
static void
test_corpus (void)
{
  g_autofree char *dir = g_test_build_filename (G_TEST_DIST, "vpn-link-corpus", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *file;
  guint n = 0;
  GRand *rand = g_rand_new_with_seed (15);

  g_assert_nonnull (d);
  while ((file = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, file, NULL);
      g_autofree char *data = NULL;
      gsize len = 0;

      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      vpn_link_fuzz_one ((const guint8 *) data, len);
      for (guint m = 0; m < 64 && len > 1; m++)
        {
          g_autofree guint8 *copy = g_memdup2 (data, len);
          guint pos = 1 + g_rand_int_range (rand, 0, (gint32) len - 1);
          copy[pos] = (guint8) g_rand_int_range (rand, 0, 256);
          vpn_link_fuzz_one (copy, len - (m % 3 == 0 ? (len - pos) / 2 : 0));
        }
      n++;
    }
  g_rand_free (rand);
  g_assert_cmpuint (n, >=, 10);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vpn/link/good", test_good);
  g_test_add_func ("/vpn/link/bad", test_bad);
  g_test_add_func ("/vpn/link/subscription", test_subscription);
  g_test_add_func ("/vpn/link/names", test_names);
  g_test_add_func ("/vpn/link/record", test_record);
  g_test_add_func ("/vpn/link/proxy-dns", test_proxy_dns);
  g_test_add_func ("/vpn/link/generate", test_generate);
  g_test_add_func ("/vpn/link/corpus", test_corpus);
  return g_test_run ();
}
