/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-uapi: see vpn-uapi.h.  Protocol: https://www.wireguard.com/xplatform/ */
#include "anyd-build-config.h"
#include "vpn-uapi.h"

#include <string.h>
#include <sodium.h>

#include "error.h"

/* Sized so appending never reallocates (a reallocation would leave a copy of
 * a key in freed memory): one peer line set is well under 512 bytes. */
static GString *
secret_buffer (const VpnConfig *config)
{
  gsize size = 1024;

  for (guint i = 0; i < config->peers->len; i++)
    size += 512 + 64 * ((VpnPeer *) config->peers->pdata[i])->allowed_ips->len;
  return g_string_sized_new (size);
}

void
vpn_uapi_buffer_free (GString *buffer)
{
  if (buffer == NULL)
    return;
  sodium_memzero (buffer->str, buffer->allocated_len);
  g_string_free (buffer, TRUE);
}

GString *
vpn_uapi_build_set (const VpnConfig *config, guint32 fwmark, const char *const *endpoints,
                    guint16 kick_keepalive)
{
  GString *s = secret_buffer (config);
  char hex[2 * VPN_KEY_LEN + 1];

  g_string_append (s, "set=1\n");
  vpn_key_to_hex (config->private_key, hex);
  g_string_append_printf (s, "private_key=%s\n", hex);
  if (config->has_listen_port)
    g_string_append_printf (s, "listen_port=%u\n", config->listen_port);
  g_string_append_printf (s, "fwmark=%u\n", fwmark);
  g_string_append (s, "replace_peers=true\n");
  for (guint i = 0; i < config->peers->len; i++)
    {
      const VpnPeer *peer = g_ptr_array_index (config->peers, i);
      guint keepalive = peer->persistent_keepalive ? peer->persistent_keepalive : kick_keepalive;

      vpn_key_to_hex (peer->public_key, hex);
      g_string_append_printf (s, "public_key=%s\n", hex);
      if (peer->has_preshared_key)
        {
          vpn_key_to_hex (peer->preshared_key, hex);
          g_string_append_printf (s, "preshared_key=%s\n", hex);
        }
      if (endpoints != NULL && endpoints[i] != NULL)
        g_string_append_printf (s, "endpoint=%s\n", endpoints[i]);
      g_string_append_printf (s, "persistent_keepalive_interval=%u\n", keepalive);
      g_string_append (s, "replace_allowed_ips=true\n");
      for (guint j = 0; j < peer->allowed_ips->len; j++)
        {
          g_autofree char *a = anyd_cidr_to_string (&g_array_index (peer->allowed_ips, AnydCidr, j));
          g_string_append_printf (s, "allowed_ip=%s\n", a);
        }
    }
  g_string_append_c (s, '\n');
  sodium_memzero (hex, sizeof hex);
  return s;
}

GString *
vpn_uapi_build_unkick (const VpnConfig *config)
{
  GString *s = g_string_new ("set=1\n");
  char hex[2 * VPN_KEY_LEN + 1];

  for (guint i = 0; i < config->peers->len; i++)
    {
      const VpnPeer *peer = g_ptr_array_index (config->peers, i);
      if (peer->persistent_keepalive)
        continue;
      vpn_key_to_hex (peer->public_key, hex);
      g_string_append_printf (s, "public_key=%s\nupdate_only=true\npersistent_keepalive_interval=0\n", hex);
    }
  g_string_append_c (s, '\n');
  return s;
}

gboolean
vpn_uapi_reply_complete (const char *buf, gsize len)
{
  return len >= 2 && buf[len - 1] == '\n' && buf[len - 2] == '\n';
}

/* Decimal without sign; FALSE on junk or overflow. */
static gboolean
parse_u64 (const char *s, gsize len, guint64 *out)
{
  guint64 v = 0;

  if (len == 0 || len > 20)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (s[i]))
        return FALSE;
      if (v > (G_MAXUINT64 - (guint64) (s[i] - '0')) / 10)
        return FALSE;
      v = v * 10 + (guint64) (s[i] - '0');
    }
  *out = v;
  return TRUE;
}

typedef struct {
  gboolean     have_errno;
  guint64      err;
  VpnUapiStats stats;
  gboolean     in_peer;
  guint64      hs_sec, hs_nsec;
} Reply;

static void
close_peer (Reply *r)
{
  if (r->in_peer && (r->hs_sec || r->hs_nsec))
    {
      guint64 us = r->hs_sec * G_USEC_PER_SEC + r->hs_nsec / 1000;
      r->stats.latest_handshake = MAX (r->stats.latest_handshake, us);
    }
  r->hs_sec = r->hs_nsec = 0;
}

static gboolean
protocol_error (GError **error, guint line, const char *what)
{
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
               "wireguard-go sent a malformed reply (line %u: %s)", line, what);
  return FALSE;
}

static gboolean
parse_reply (const char *buf, gsize len, Reply *r, GError **error)
{
  gsize pos = 0;
  guint line = 0;

  memset (r, 0, sizeof *r);
  if (len > VPN_UAPI_MAX_REPLY)
    return protocol_error (error, 0, "too long");
  if (!vpn_uapi_reply_complete (buf, len))
    return protocol_error (error, 0, "truncated");
  while (pos < len)
    {
      const char *l = buf + pos;
      const char *nl = memchr (l, '\n', len - pos);
      gsize n = (gsize) (nl - l);   /* nl exists: the reply ends with "\n\n" */
      const char *eq;
      gsize klen;
      const char *v;
      gsize vlen;
      guint64 num;

      pos += n + 1;
      line++;
      if (n == 0)
        {
          if (pos != len)
            return protocol_error (error, line, "data after the end");
          break;
        }
      if (r->have_errno)
        return protocol_error (error, line, "data after errno");
      eq = memchr (l, '=', n);
      if (eq == NULL)
        return protocol_error (error, line, "no '='");
      klen = (gsize) (eq - l);
      v = eq + 1;
      vlen = n - klen - 1;
#define KEY_IS(k) (klen == strlen (k) && memcmp (l, k, klen) == 0)
      if (KEY_IS ("errno"))
        {
          if (!parse_u64 (v, vlen, &r->err))
            return protocol_error (error, line, "bad errno");
          r->have_errno = TRUE;
        }
      else if (KEY_IS ("public_key"))
        {
          close_peer (r);
          r->in_peer = TRUE;
          r->stats.n_peers++;
        }
      else if (KEY_IS ("rx_bytes") || KEY_IS ("tx_bytes") ||
               KEY_IS ("last_handshake_time_sec") || KEY_IS ("last_handshake_time_nsec"))
        {
          if (!r->in_peer)
            return protocol_error (error, line, "peer field before public_key");
          if (!parse_u64 (v, vlen, &num))
            return protocol_error (error, line, "bad number");
          if (KEY_IS ("rx_bytes"))
            r->stats.rx_bytes += num;
          else if (KEY_IS ("tx_bytes"))
            r->stats.tx_bytes += num;
          else if (KEY_IS ("last_handshake_time_sec"))
            r->hs_sec = MIN (num, G_MAXUINT64 / G_USEC_PER_SEC / 2);
          else
            r->hs_nsec = MIN (num, 999999999);
        }
      /* anything else (private_key, listen_port, endpoint, allowed_ip, …) is not needed */
#undef KEY_IS
    }
  close_peer (r);
  if (!r->have_errno)
    return protocol_error (error, line, "no errno");
  return TRUE;
}

gboolean
vpn_uapi_parse_set_reply (const char *buf, gsize len, GError **error)
{
  Reply r;

  if (!parse_reply (buf, len, &r, error))
    return FALSE;
  if (r.err != 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                   "wireguard-go refused the configuration (errno %" G_GUINT64_FORMAT ")", r.err);
      return FALSE;
    }
  return TRUE;
}

gboolean
vpn_uapi_parse_get_reply (const char *buf, gsize len, VpnUapiStats *out, GError **error)
{
  Reply r;

  if (!parse_reply (buf, len, &r, error))
    return FALSE;
  if (r.err != 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                   "wireguard-go refused to report its state (errno %" G_GUINT64_FORMAT ")", r.err);
      return FALSE;
    }
  *out = r.stats;
  return TRUE;
}
