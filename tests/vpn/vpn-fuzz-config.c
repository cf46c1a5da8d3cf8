/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the vpn module's parsers: the wg-quick config (with and
 * without ignore_scripts), wireguard-go's UAPI replies, the stored
 * profile record and a connection's runtime record.  The first input byte
 * picks the parser.  Beyond "no
 * crash, no leak", every configuration that parses must survive a round
 * trip through the canonical writer unchanged, and so must every record.
 *
 * Built two ways: linked into test-vpn-config (which replays
 * tests/vpn/corpus/config/ and mutations of it in every build), and with
 * -Dfuzzing=true as the libFuzzer binary fuzz-vpn-config. */
#include "anyd-build-config.h"

#include <string.h>
#include <glib.h>

#include "vpn-config.h"
#include "vpn-record.h"
#include "vpn-runtime.h"
#include "vpn-uapi.h"

int vpn_fuzz_one (const guint8 *data, gsize size);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_config (const char *text, gsize len, VpnConfigParseFlags flags)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnConfig) config = vpn_config_parse (text, len, flags, &error);
  g_autoptr(VpnConfig) again = NULL;
  g_autoptr(GVariant) peers = NULL;
  g_auto(GStrv) addrs = NULL;
  char *canonical, *canonical2;
  GString *set;

  if (config == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (g_str_has_prefix (error->message, "config"));
      return;
    }
  canonical = vpn_config_to_text (config);
  again = vpn_config_parse (canonical, strlen (canonical), VPN_CONFIG_PARSE_NONE, &error);
  if (again == NULL)
    g_error ("canonical text does not parse: %s\n%s", error->message, canonical);
  canonical2 = vpn_config_to_text (again);
  g_assert_cmpstr (canonical, ==, canonical2);
  vpn_secret_free (canonical);
  vpn_secret_free (canonical2);

  peers = g_variant_ref_sink (vpn_config_peers_variant (config));
  g_assert_cmpuint (g_variant_n_children (peers), ==, config->peers->len);
  addrs = vpn_config_addresses_strv (config);
  g_assert_cmpuint (g_strv_length (addrs), ==, config->addresses->len);
  (void) vpn_config_is_full_tunnel (config, AF_INET);
  set = vpn_uapi_build_set (config, 51820, NULL, 25);
  g_assert_true (g_str_has_prefix (set->str, "set=1\nprivate_key="));
  g_assert_true (vpn_uapi_reply_complete (set->str, set->len));
  vpn_uapi_buffer_free (set);
  vpn_uapi_buffer_free (vpn_uapi_build_unkick (config));
}

static void
check_uapi (const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  VpnUapiStats stats;

  if (!vpn_uapi_parse_get_reply (text, len, &stats, &error))
    g_assert_nonnull (error);
  g_clear_error (&error);
  if (!vpn_uapi_parse_set_reply (text, len, &error))
    g_assert_nonnull (error);
}

static void
check_record (const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL, *name2 = NULL;
  gboolean autoconnect = FALSE, ignore = FALSE, autoconnect2 = FALSE, ignore2 = FALSE;
  g_autoptr(VpnConfig) config = vpn_record_parse (text, len, &name, &autoconnect, &ignore, &error);
  g_autoptr(VpnConfig) again = NULL;
  char *record, *record2;

  if (config == NULL)
    {
      g_assert_nonnull (error);
      return;
    }
  record = vpn_record_format (name, autoconnect, ignore, config);
  again = vpn_record_parse (record, strlen (record), &name2, &autoconnect2, &ignore2, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, name2);
  g_assert_true (autoconnect == autoconnect2 && ignore == ignore2);
  record2 = vpn_record_format (name2, autoconnect2, ignore2, again);
  g_assert_cmpstr (record, ==, record2);
  vpn_secret_free (record);
  vpn_secret_free (record2);
}

/* A runtime record that parses formats to a record that parses to the same text. */
static void
check_runtime (const char *text, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VpnRuntime) rt = vpn_runtime_parse (text, len, &error);
  g_autoptr(VpnRuntime) again = NULL;
  g_autofree char *out = NULL, *out2 = NULL;
  gsize n = 0, n2 = 0;

  if (rt == NULL)
    {
      g_assert_true (g_str_has_prefix (error->message, "runtime record"));
      return;
    }
  out = vpn_runtime_format (rt, &n);
  again = vpn_runtime_parse (out, n, &error);
  if (again == NULL)
    g_error ("formatted runtime record does not parse: %s\n%s", error->message, out);
  out2 = vpn_runtime_format (again, &n2);
  g_assert_cmpstr (out, ==, out2);
}

int
vpn_fuzz_one (const guint8 *data, gsize size)
{
  const char *text;

  if (size == 0)
    return 0;
  text = (const char *) data + 1;
  switch (data[0] % 5)
    {
    case 0:
      check_config (text, size - 1, VPN_CONFIG_PARSE_NONE);
      break;
    case 1:
      check_config (text, size - 1, VPN_CONFIG_PARSE_IGNORE_SCRIPTS);
      break;
    case 2:
      check_uapi (text, size - 1);
      break;
    case 3:
      check_record (text, size - 1);
      break;
    default:
      check_runtime (text, size - 1);
      break;
    }
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  return vpn_fuzz_one (data, size);
}
