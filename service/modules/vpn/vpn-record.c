/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-record: a stored profile is a short header and the canonical
 * wg-quick text:
 *
 *   # anyd VPN profile (root only: it holds a private key)
 *   Format=1
 *   Name=wg-home
 *   AutoConnect=false
 *   IgnoreScripts=false
 *
 * A v2ray profile has the header line Type=v2ray and a [V2Ray] key file
 * (vpn_link_to_keyfile) where wireguard has its wg-quick text.
 *
 *   [Interface]
 *   PrivateKey = …
 *
 * The text is re-generated from the parsed configuration, so a record never
 * carries hook commands, comments or anything anyd did not validate.  Pure
 * code, fuzzed with the config parser. */
#include "anyd-build-config.h"
#include "vpn-record.h"

#include <string.h>

#include "error.h"

char *
vpn_record_format (const char *name, gboolean autoconnect, gboolean ignore_scripts,
                           const VpnConfig *config)
{
  char *text = vpn_config_to_text (config);
  /* header + text in one buffer sized up front (no reallocation copies a key) */
  GString *s = g_string_sized_new (strlen (text) + 256 + strlen (name));

  g_string_append_printf (s, "# anyd VPN profile (root only: it holds a private key)\n"
                             "Format=%d\nName=%s\n%sAutoConnect=%s\nIgnoreScripts=%s\n\n",
                          VPN_PROFILE_FORMAT, name, config->link ? "Type=v2ray\n" : "",
                          autoconnect ? "true" : "false", ignore_scripts ? "true" : "false");
  g_string_append (s, text);
  vpn_secret_free (text);
  return g_string_free (s, FALSE);
}

static gboolean
parse_bool (const char *v, gboolean *out)
{
  if (g_str_equal (v, "true"))
    *out = TRUE;
  else if (g_str_equal (v, "false"))
    *out = FALSE;
  else
    return FALSE;
  return TRUE;
}

VpnConfig *
vpn_record_parse (const char *data, gsize len, char **name_out, gboolean *autoconnect,
                          gboolean *ignore_scripts, GError **error)
{
  g_autofree char *name = NULL;
  gboolean have_format = FALSE, have_auto = FALSE, have_ignore = FALSE, v2ray = FALSE, have_type = FALSE;
  gsize pos = 0;
  guint line = 0;
  VpnConfig *config;

  /* header: Key=Value lines up to the first empty line */
  for (;;)
    {
      const char *l = data + pos;
      const char *nl = pos < len ? memchr (l, '\n', len - pos) : NULL;
      g_autofree char *text = NULL;
      char *eq;

      line++;
      if (nl == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "record: header not terminated");
          return NULL;
        }
      pos += (gsize) (nl - l) + 1;
      if (nl == l)
        break;
      if (*l == '#')
        continue;
      text = g_strndup (l, (gsize) (nl - l));
      eq = strchr (text, '=');
      if (eq == NULL || strlen (text) != (gsize) (nl - l))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "record line %u: expected Key=Value", line);
          return NULL;
        }
      *eq++ = '\0';
      if (g_str_equal (text, "Format"))
        {
          if (!g_str_equal (eq, G_STRINGIFY (VPN_PROFILE_FORMAT)))
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                           "record: format %.16s is not %d (written by another anyd version?)",
                           eq, VPN_PROFILE_FORMAT);
              return NULL;
            }
          have_format = TRUE;
        }
      else if (g_str_equal (text, "Name") && name == NULL && vpn_profile_name_is_valid (eq))
        name = g_strdup (eq);
      else if (g_str_equal (text, "Type") && !have_type && g_str_equal (eq, "v2ray"))
        have_type = v2ray = TRUE;
      else if (g_str_equal (text, "AutoConnect") && !have_auto && parse_bool (eq, autoconnect))
        have_auto = TRUE;
      else if (g_str_equal (text, "IgnoreScripts") && !have_ignore && parse_bool (eq, ignore_scripts))
        have_ignore = TRUE;
      else
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "record line %u: bad or repeated %.32s", line, text);
          return NULL;
        }
    }
  if (!have_format || name == NULL || !have_auto || !have_ignore)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "record: header lacks Format, Name, AutoConnect or IgnoreScripts");
      return NULL;
    }
  if (v2ray)
    {
      VpnLink *link = vpn_link_from_keyfile (data + pos, len - pos, error);
      config = link ? vpn_config_new_v2ray (link) : NULL;
    }
  else
    config = vpn_config_parse (data + pos, len - pos, VPN_CONFIG_PARSE_NONE, error);
  if (config == NULL)
    return NULL;
  *name_out = g_steal_pointer (&name);
  return config;
}

