/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the proxy link parsers: one share link, a subscription,
 * the stored [V2Ray] key file, and the v2ray config generated from a link.
 * The first input byte picks the parser.  Beyond "no crash, no leak":
 * every link that parses survives a round trip through its stored form
 * unchanged, every refusal is InvalidArgument starting with its field's
 * context, and a generated config is JSON that names the link's server.
 *
 * Built two ways: linked into test-vpn-link (which replays
 * tests/vpn/corpus/link/ and mutations of it in every build), and with
 * -Dfuzzing=true as the libFuzzer binary fuzz-vpn-link. */
#include "anyd-build-config.h"

#include <string.h>
#include <glib.h>

#include "error.h"
#include "vpn-config.h"
#include "vpn-link.h"
#include "vpn-v2ray-config.h"

int vpn_link_fuzz_one (const guint8 *data, gsize size);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_roundtrip (const VpnLink *link)
{
  g_autoptr(GError) error = NULL;
  char *text = vpn_link_to_keyfile (link), *text2;
  g_autoptr(VpnLink) again = vpn_link_from_keyfile (text, strlen (text), &error);
  g_autofree char *server = vpn_link_server (link);

  if (again == NULL)
    g_error ("stored form does not parse: %s\n%s", error->message, text);
  text2 = vpn_link_to_keyfile (again);
  g_assert_cmpstr (text, ==, text2);
  vpn_secret_free (text);
  vpn_secret_free (text2);
  g_assert_true (server[0] != '\0');
}

static void
check_generate (const VpnLink *link)
{
  VpnV2rayParams params = {
    .server_address = "192.0.2.1",
    .inbound_port = 12345,
    .mark = 0x2a,
    .proxy_dns = "https://1.1.1.1/dns-query",
  };
  g_autoptr(GError) error = NULL;
  char *json = vpn_v2ray_config_generate (link, &params, &error);

  g_assert_nonnull (json);
  g_assert_nonnull (strstr (json, "\"192.0.2.1\""));
  vpn_secret_free (json);
}

static void
check_link (const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnLink) link = vpn_link_parse (text, len, &error);

  if (link == NULL)
    {
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "link: "));
      return;
    }
  check_roundtrip (link);
  check_generate (link);
}

static void
check_subscription (const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) skipped = NULL;
  g_autoptr(GPtrArray) links = vpn_subscription_parse (text, len, &skipped, &error);

  if (links == NULL)
    {
      g_assert_true (g_str_has_prefix (error->message, "subscription: "));
      return;
    }
  g_assert_cmpuint (links->len + skipped->len, >, 0);
  g_assert_cmpuint (links->len + skipped->len, <=, VPN_SUBSCRIPTION_MAX_LINKS);
  for (guint i = 0; i < links->len; i++)
    {
      VpnLink *link = links->pdata[i];
      g_autofree char *name = vpn_link_name_from_label (link->label, "v2ray");
      g_assert_true (vpn_profile_name_is_valid (name));
      check_roundtrip (link);
    }
  for (guint i = 0; i < skipped->len; i++)
    g_assert_true (g_str_has_prefix (skipped->pdata[i], "line "));
}

static void
check_keyfile (const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnLink) link = vpn_link_from_keyfile (text, len, &error);

  if (link == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  check_roundtrip (link);
}

int
vpn_link_fuzz_one (const guint8 *data, gsize size)
{
  const char *text;

  if (size == 0)
    return 0;
  text = (const char *) data + 1;
  switch (data[0] % 3)
    {
    case 0:
      check_link (text, size - 1);
      break;
    case 1:
      check_subscription (text, size - 1);
      break;
    default:
      check_keyfile (text, size - 1);
      break;
    }
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  return vpn_link_fuzz_one (data, size);
}
