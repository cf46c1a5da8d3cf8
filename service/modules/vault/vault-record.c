/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vault's formats (see vault-record.h).
 *
 * Record plaintext, little endian, no padding, nothing after the end:
 *   u16 name length, name
 *   secrets: u16 content type length, content type
 *   keys:    u8 key type (1 aead, 2 sign)
 *   u64 created, u32 created_by, u32 number of versions (>= 1), then each
 *   version: u32 version (strictly ascending, >= 1), u64 created,
 *            u32 created_by, then
 *     secrets: u32 value length, value
 *     keys:    key material (32 bytes aead, 64 bytes sign)
 * Meta record: u64 created.
 *
 * The format byte in the (authenticated) header versions all of it. */
#include "anyd-build-config.h"
#include "vault-record.h"
#include "error.h"

#include <string.h>

#define CORRUPT "entry is corrupt"

/* ------------------------------------------------------------------ buffers */

/* Recycled capacities: 1 KiB to 64 KiB; POOL_DEPTH buffers each at most,
 * so the pool holds well under 1 MiB of locked memory. */
#define POOL_MIN_SHIFT 10
#define POOL_CLASSES   7
#define POOL_DEPTH     4

static GMutex    pool_lock;
static guint8   *pool[POOL_CLASSES][POOL_DEPTH];
static guint     pool_n[POOL_CLASSES];

static gint
pool_class (gsize capacity)
{
  for (gint c = 0; c < POOL_CLASSES; c++)
    if (capacity == (gsize) 1 << (POOL_MIN_SHIFT + c))
      return c;
  return -1;
}

VaultBuf *
vault_buf_new (gsize len)
{
  VaultBuf *buf = g_new0 (VaultBuf, 1);
  gint c;

  buf->len = len;
  /* One spare byte: a 0-byte buffer still has a pointer memcpy accepts. */
  buf->capacity = len + 1;
  for (c = 0; c < POOL_CLASSES; c++)
    if (len + 1 <= (gsize) 1 << (POOL_MIN_SHIFT + c))
      {
        buf->capacity = (gsize) 1 << (POOL_MIN_SHIFT + c);
        break;
      }
  if (c < POOL_CLASSES)
    {
      g_mutex_lock (&pool_lock);
      if (pool_n[c] > 0)
        buf->data = pool[c][--pool_n[c]];
      g_mutex_unlock (&pool_lock);
    }
  if (buf->data == NULL)
    buf->data = sodium_malloc (buf->capacity);
  if (buf->data == NULL)
    g_error ("vault: out of guarded memory (%" G_GSIZE_FORMAT " bytes)", len);
  return buf;
}

VaultBuf *
vault_buf_new_from (const void *data, gsize len)
{
  VaultBuf *buf = vault_buf_new (len);

  if (len > 0)
    memcpy (buf->data, data, len);
  return buf;
}

void
vault_buf_free (VaultBuf *buf)
{
  gint c;

  if (buf == NULL)
    return;
  c = buf->guarded ? -1 : pool_class (buf->capacity);
  if (c >= 0)
    {
      sodium_memzero (buf->data, buf->capacity);
      g_mutex_lock (&pool_lock);
      if (pool_n[c] < POOL_DEPTH)
        {
          pool[c][pool_n[c]++] = buf->data;
          buf->data = NULL;
        }
      g_mutex_unlock (&pool_lock);
    }
  if (buf->data != NULL)
    sodium_free (buf->data);  /* wipes, even when locked */
  g_free (buf);
}

GVariant *
vault_buf_to_variant (VaultBuf *buf)
{
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, buf->data, buf->len, TRUE,
                                  (GDestroyNotify) vault_buf_free, buf);
}

void
vault_buf_lock (VaultBuf *buf)
{
  buf->guarded = TRUE;
  buf->open = FALSE;
  sodium_mprotect_noaccess (buf->data);
}

void
vault_buf_unlock (VaultBuf *buf)
{
  buf->guarded = TRUE;
  buf->open = TRUE;
  sodium_mprotect_readonly (buf->data);
}

void
vault_variant_wipe (GVariant *bytes)
{
  gsize n = 0;
  const guint8 *p;

  if (bytes == NULL || !g_variant_is_of_type (bytes, G_VARIANT_TYPE_BYTESTRING))
    return;
  p = g_variant_get_fixed_array (bytes, &n, 1);
  if (n > 0)
    sodium_memzero ((void *) p, n);
}

/* ------------------------------------------------------------------ names */

static gboolean
name_char_ok (guchar c)
{
  return g_ascii_isalnum (c) || c == '.' || c == '_' || c == '-';
}

gboolean
vault_name_check (const char *name, const char *field, GError **error)
{
  gsize len = name ? strlen (name) : 0;
  const char *component;

  if (len == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: must not be empty", field);
      return FALSE;
    }
  if (len > VAULT_NAME_MAX)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: %" G_GSIZE_FORMAT " bytes is longer than %d", field, len, VAULT_NAME_MAX);
      return FALSE;
    }
  if (name[0] == '/' || name[len - 1] == '/')
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: must not start or end with '/'", field);
      return FALSE;
    }
  component = name;
  for (const char *p = name;; p++)
    {
      if (*p == '/' || *p == '\0')
        {
          gsize clen = (gsize) (p - component);
          if (clen == 0)
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                           "%s: empty component ('//')", field);
              return FALSE;
            }
          if ((clen == 1 && component[0] == '.') ||
              (clen == 2 && component[0] == '.' && component[1] == '.'))
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                           "%s: component '%.*s' is not allowed", field, (int) clen, component);
              return FALSE;
            }
          if (*p == '\0')
            break;
          component = p + 1;
          continue;
        }
      if (!name_char_ok ((guchar) *p))
        {
          if (g_ascii_isgraph (*p))
            g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                         "%s: character '%c' is not allowed (use A-Z a-z 0-9 . _ - and '/' between components)",
                         field, *p);
          else
            g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                         "%s: byte 0x%02x is not allowed (use A-Z a-z 0-9 . _ - and '/' between components)",
                         field, (guchar) *p);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
vault_content_type_check (const char *type, GError **error)
{
  gsize len = type ? strlen (type) : 0;

  if (len == 0 || len > VAULT_CONTENT_TYPE_MAX)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "options.content_type: must be 1-%d bytes", VAULT_CONTENT_TYPE_MAX);
      return FALSE;
    }
  for (const char *p = type; *p; p++)
    if ((guchar) *p < 0x20 || (guchar) *p > 0x7e)
      {
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "options.content_type: may hold printable ASCII only (byte 0x%02x)", (guchar) *p);
        return FALSE;
      }
  return TRUE;
}

const char *
vault_key_type_to_string (VaultKeyType type)
{
  switch (type)
    {
    case VAULT_KEY_AEAD: return "aead";
    case VAULT_KEY_SIGN: return "sign";
    default: return "unknown";
    }
}

gboolean
vault_key_type_from_string (const char *s, VaultKeyType *type)
{
  if (g_strcmp0 (s, "aead") == 0)
    *type = VAULT_KEY_AEAD;
  else if (g_strcmp0 (s, "sign") == 0)
    *type = VAULT_KEY_SIGN;
  else
    return FALSE;
  return TRUE;
}

gsize
vault_key_type_material_len (VaultKeyType type)
{
  switch (type)
    {
    case VAULT_KEY_AEAD: return crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
    case VAULT_KEY_SIGN: return crypto_sign_ed25519_SECRETKEYBYTES;
    default: return 0;
    }
}

void
vault_name_id (const guint8 *name_key, VaultKind kind, const char *name, guint8 *id)
{
  crypto_generichash_state st;
  guint8 k = (guint8) kind;

  crypto_generichash_init (&st, name_key, VAULT_KEY_LEN, VAULT_ID_LEN);
  crypto_generichash_update (&st, &k, 1);
  crypto_generichash_update (&st, (const guint8 *) name, strlen (name));
  crypto_generichash_final (&st, id, VAULT_ID_LEN);
  sodium_memzero (&st, sizeof st);
}

/* ------------------------------------------------------------------ wire helpers */

typedef struct {
  guint8 *p;
  guint8 *end;
} Writer;

static void
put_bytes (Writer *w, const void *data, gsize n)
{
  g_assert ((gsize) (w->end - w->p) >= n);
  if (n > 0)
    memcpy (w->p, data, n);
  w->p += n;
}

static void
put_u8 (Writer *w, guint8 v)
{
  put_bytes (w, &v, 1);
}

static void
put_u16 (Writer *w, guint16 v)
{
  v = GUINT16_TO_LE (v);
  put_bytes (w, &v, 2);
}

static void
put_u32 (Writer *w, guint32 v)
{
  v = GUINT32_TO_LE (v);
  put_bytes (w, &v, 4);
}

static void
put_u64 (Writer *w, guint64 v)
{
  v = GUINT64_TO_LE (v);
  put_bytes (w, &v, 8);
}

typedef struct {
  const guint8 *p;
  gsize         left;
  gboolean      ok;
} Reader;

static const guint8 *
get_bytes (Reader *r, gsize n)
{
  const guint8 *p = r->p;

  if (!r->ok || r->left < n)
    {
      r->ok = FALSE;
      return NULL;
    }
  r->p += n;
  r->left -= n;
  return p;
}

static guint64
get_uint (Reader *r, gsize n)
{
  const guint8 *p = get_bytes (r, n);
  guint64 v = 0;

  if (p == NULL)
    return 0;
  for (gsize i = n; i > 0; i--)
    v = v << 8 | p[i - 1];
  return v;
}

/* A length-prefixed string: no NUL inside; copied to the heap. */
static char *
get_string (Reader *r, gsize max)
{
  gsize len = (gsize) get_uint (r, 2);
  const guint8 *p;

  if (len > max)
    {
      r->ok = FALSE;
      return NULL;
    }
  p = get_bytes (r, len);
  if (p == NULL || memchr (p, '\0', len) != NULL)
    {
      r->ok = FALSE;
      return NULL;
    }
  return g_strndup ((const char *) p, len);
}

/* ------------------------------------------------------------------ records */

VaultRecord *
vault_record_new (VaultKind kind, const char *name)
{
  VaultRecord *r = g_new0 (VaultRecord, 1);

  r->kind = kind;
  r->name = g_strdup (name);
  r->versions = g_array_new (FALSE, TRUE, sizeof (VaultVersion));
  return r;
}

void
vault_record_free (VaultRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->name);
  g_free (record->content_type);
  g_array_unref (record->versions);
  vault_buf_free (record->buf);
  g_free (record);
}

const VaultVersion *
vault_record_newest (const VaultRecord *record)
{
  if (record->versions->len == 0)
    return NULL;
  return &g_array_index (record->versions, VaultVersion, record->versions->len - 1);
}

const VaultVersion *
vault_record_find (const VaultRecord *record, guint32 version)
{
  for (guint i = 0; i < record->versions->len; i++)
    if (g_array_index (record->versions, VaultVersion, i).version == version)
      return &g_array_index (record->versions, VaultVersion, i);
  return NULL;
}

VaultBuf *
vault_record_encode (const VaultRecord *r)
{
  gsize size = 2 + strlen (r->name) + 8 + 4 + 4;
  VaultBuf *buf;
  Writer w;

  g_return_val_if_fail (r->kind == VAULT_KIND_SECRET || r->kind == VAULT_KIND_KEY, NULL);
  size += r->kind == VAULT_KIND_SECRET ? 2 + strlen (r->content_type) : 1;
  for (guint i = 0; i < r->versions->len; i++)
    {
      const VaultVersion *v = &g_array_index (r->versions, VaultVersion, i);
      size += 4 + 8 + 4 + v->len + (r->kind == VAULT_KIND_SECRET ? 4 : 0);
    }

  buf = vault_buf_new (size);
  w.p = buf->data;
  w.end = buf->data + size;
  put_u16 (&w, (guint16) strlen (r->name));
  put_bytes (&w, r->name, strlen (r->name));
  if (r->kind == VAULT_KIND_SECRET)
    {
      put_u16 (&w, (guint16) strlen (r->content_type));
      put_bytes (&w, r->content_type, strlen (r->content_type));
    }
  else
    put_u8 (&w, (guint8) r->key_type);
  put_u64 (&w, r->created);
  put_u32 (&w, r->created_by);
  put_u32 (&w, r->versions->len);
  for (guint i = 0; i < r->versions->len; i++)
    {
      const VaultVersion *v = &g_array_index (r->versions, VaultVersion, i);
      put_u32 (&w, v->version);
      put_u64 (&w, v->created);
      put_u32 (&w, v->created_by);
      if (r->kind == VAULT_KIND_SECRET)
        put_u32 (&w, (guint32) v->len);
      put_bytes (&w, v->value, v->len);
    }
  g_assert (w.p == w.end);
  return buf;
}

static VaultRecord *
corrupt (GError **error, const char *why)
{
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, CORRUPT ": %s", why);
  return NULL;
}

VaultRecord *
vault_record_decode (VaultKind kind, VaultBuf *plain, GError **error)
{
  g_autoptr(VaultRecord) r = vault_record_new (kind, NULL);
  Reader rd = { plain->data, plain->len, TRUE };
  guint32 n;

  r->buf = plain;  /* owned from here on, whatever happens */
  if (kind != VAULT_KIND_SECRET && kind != VAULT_KIND_KEY)
    return corrupt (error, "unknown kind");

  r->name = get_string (&rd, VAULT_NAME_MAX);
  if (!rd.ok || !vault_name_check (r->name, "name", NULL))
    return corrupt (error, "bad name");
  if (kind == VAULT_KIND_SECRET)
    {
      r->content_type = get_string (&rd, VAULT_CONTENT_TYPE_MAX);
      if (!rd.ok || !vault_content_type_check (r->content_type, NULL))
        return corrupt (error, "bad content type");
    }
  else
    {
      r->key_type = (VaultKeyType) get_uint (&rd, 1);
      if (vault_key_type_material_len (r->key_type) == 0)
        return corrupt (error, "unknown key type");
    }
  r->created = get_uint (&rd, 8);
  r->created_by = (guint32) get_uint (&rd, 4);
  n = (guint32) get_uint (&rd, 4);
  if (!rd.ok || n == 0)
    return corrupt (error, "no versions");

  for (guint32 i = 0; i < n; i++)
    {
      VaultVersion v = { 0 };

      v.version = (guint32) get_uint (&rd, 4);
      v.created = get_uint (&rd, 8);
      v.created_by = (guint32) get_uint (&rd, 4);
      v.len = kind == VAULT_KIND_SECRET ? (gsize) get_uint (&rd, 4)
                                        : vault_key_type_material_len (r->key_type);
      v.value = get_bytes (&rd, v.len);
      if (!rd.ok)
        return corrupt (error, "truncated");
      if (v.version == 0 ||
          (r->versions->len > 0 && v.version <= vault_record_newest (r)->version))
        return corrupt (error, "versions out of order");
      g_array_append_val (r->versions, v);
    }
  if (rd.left != 0)
    return corrupt (error, "trailing data");
  return g_steal_pointer (&r);
}

VaultBuf *
vault_meta_encode (guint64 created)
{
  VaultBuf *buf = vault_buf_new (8);
  Writer w = { buf->data, buf->data + 8 };

  put_u64 (&w, created);
  return buf;
}

gboolean
vault_meta_decode (const VaultBuf *plain, guint64 *created, GError **error)
{
  Reader rd = { plain->data, plain->len, TRUE };

  *created = get_uint (&rd, 8);
  if (!rd.ok || rd.left != 0)
    {
      corrupt (error, "bad meta record");
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ envelope */

static void
record_header (VaultKind kind, guint8 *header)
{
  memcpy (header, "AVLT", 4);
  header[4] = VAULT_FORMAT;
  header[5] = (guint8) kind;
  header[6] = 0;
  header[7] = 0;
}

static void
record_aad (const guint8 *header, const guint8 *id, guint8 *aad)
{
  memcpy (aad, header, VAULT_RECORD_HEADER);
  memcpy (aad + VAULT_RECORD_HEADER, id, VAULT_ID_LEN);
}

GBytes *
vault_envelope_seal (VaultKind kind, const guint8 *id, const guint8 *key, const VaultBuf *plain)
{
  gsize len = VAULT_RECORD_OVERHEAD + plain->len;
  guint8 *out = g_malloc (len);
  guint8 aad[VAULT_RECORD_HEADER + VAULT_ID_LEN];
  guint8 *nonce = out + VAULT_RECORD_HEADER;

  record_header (kind, out);
  record_aad (out, id, aad);
  randombytes_buf (nonce, VAULT_NONCE_LEN);
  crypto_aead_xchacha20poly1305_ietf_encrypt (nonce + VAULT_NONCE_LEN, NULL, plain->data, plain->len,
                                              aad, sizeof aad, NULL, nonce, key);
  return g_bytes_new_take (out, len);
}

VaultBuf *
vault_envelope_open (VaultKind kind, const guint8 *id, const guint8 *key,
                     const guint8 *data, gsize len, GError **error)
{
  guint8 expect[VAULT_RECORD_HEADER];
  guint8 aad[VAULT_RECORD_HEADER + VAULT_ID_LEN];
  g_autoptr(VaultBuf) plain = NULL;

  if (len < VAULT_RECORD_OVERHEAD || len > VAULT_RECORD_MAX)
    return (VaultBuf *) corrupt (error, "bad size");
  if (memcmp (data, "AVLT", 4) != 0)
    return (VaultBuf *) corrupt (error, "not a vault record");
  if (data[4] != VAULT_FORMAT)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                   CORRUPT ": format version %u, this anyd reads %u", data[4], VAULT_FORMAT);
      return NULL;
    }
  record_header (kind, expect);
  if (memcmp (data, expect, VAULT_RECORD_HEADER) != 0)
    return (VaultBuf *) corrupt (error, "wrong kind");

  record_aad (data, id, aad);
  plain = vault_buf_new (len - VAULT_RECORD_OVERHEAD);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain->data, NULL, NULL,
                                                  data + VAULT_RECORD_HEADER + VAULT_NONCE_LEN,
                                                  len - VAULT_RECORD_HEADER - VAULT_NONCE_LEN,
                                                  aad, sizeof aad, data + VAULT_RECORD_HEADER, key) != 0)
    return (VaultBuf *) corrupt (error, "authentication failed");
  return g_steal_pointer (&plain);
}

/* ------------------------------------------------------------------ Encrypt / Decrypt */

/* AEAD associated data: the ciphertext header, then the caller's aad. */
static guint8 *
aead_aad (const guint8 *header, const guint8 *aad, gsize aad_len, gsize *out_len)
{
  guint8 *full = g_malloc (VAULT_CT_HEADER + aad_len);

  memcpy (full, header, VAULT_CT_HEADER);
  if (aad_len > 0)
    memcpy (full + VAULT_CT_HEADER, aad, aad_len);
  *out_len = VAULT_CT_HEADER + aad_len;
  return full;
}

GBytes *
vault_aead_encrypt (const guint8 *key, guint32 key_version, const guint8 *plaintext, gsize len,
                    const guint8 *aad, gsize aad_len)
{
  gsize out_len = VAULT_CT_OVERHEAD + len, full_len;
  guint8 *out = g_malloc (out_len);
  guint8 *nonce = out + VAULT_CT_HEADER;
  g_autofree guint8 *full = NULL;

  out[0] = VAULT_FORMAT;
  out[1] = (guint8) (key_version >> 24);
  out[2] = (guint8) (key_version >> 16);
  out[3] = (guint8) (key_version >> 8);
  out[4] = (guint8) key_version;
  randombytes_buf (nonce, VAULT_NONCE_LEN);
  full = aead_aad (out, aad, aad_len, &full_len);
  crypto_aead_xchacha20poly1305_ietf_encrypt (nonce + VAULT_NONCE_LEN, NULL, plaintext, len,
                                              full, full_len, NULL, nonce, key);
  return g_bytes_new_take (out, out_len);
}

gboolean
vault_aead_peek_version (const guint8 *ct, gsize len, guint32 *key_version, GError **error)
{
  if (len < VAULT_CT_OVERHEAD)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "ciphertext: %" G_GSIZE_FORMAT " bytes is too short to be an anyd ciphertext "
                   "(at least %d)", len, VAULT_CT_OVERHEAD);
      return FALSE;
    }
  if (ct[0] != VAULT_FORMAT)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "ciphertext: unknown format %u (not made by anyd's vault?)", ct[0]);
      return FALSE;
    }
  *key_version = (guint32) ct[1] << 24 | (guint32) ct[2] << 16 | (guint32) ct[3] << 8 | ct[4];
  if (*key_version == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "ciphertext: cannot be decrypted (bad key version)");
      return FALSE;
    }
  return TRUE;
}

VaultBuf *
vault_aead_decrypt (const guint8 *key, const guint8 *ct, gsize len, const guint8 *aad,
                    gsize aad_len, GError **error)
{
  guint32 version;
  gsize full_len;
  g_autofree guint8 *full = NULL;
  g_autoptr(VaultBuf) plain = NULL;

  if (!vault_aead_peek_version (ct, len, &version, error))
    return NULL;
  full = aead_aad (ct, aad, aad_len, &full_len);
  plain = vault_buf_new (len - VAULT_CT_OVERHEAD);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain->data, NULL, NULL,
                                                  ct + VAULT_CT_HEADER + VAULT_NONCE_LEN,
                                                  len - VAULT_CT_HEADER - VAULT_NONCE_LEN,
                                                  full, full_len, ct + VAULT_CT_HEADER, key) != 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "ciphertext: cannot be decrypted (tampered, truncated, another key, or wrong aad)");
      return NULL;
    }
  return g_steal_pointer (&plain);
}
