/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vault's formats: names, guarded buffers, the encrypted on-disk record
 * and the ciphertext Encrypt returns.  Pure functions over GLib and
 * libsodium, so the fuzz targets and unit tests compile this file alone. */
#pragma once

#include <glib.h>
#include <sodium.h>

G_BEGIN_DECLS

#define VAULT_NAME_MAX        255
#define VAULT_CONTENT_TYPE_MAX 255
#define VAULT_FORMAT          1     /* version byte of every record and ciphertext */
#define VAULT_ID_LEN          crypto_generichash_BYTES         /* 32 */
#define VAULT_KEY_LEN         crypto_aead_xchacha20poly1305_ietf_KEYBYTES  /* 32 */
#define VAULT_NONCE_LEN       crypto_aead_xchacha20poly1305_ietf_NPUBBYTES /* 24 */
#define VAULT_TAG_LEN         crypto_aead_xchacha20poly1305_ietf_ABYTES    /* 16 */

/* On disk: header (8) || nonce (24) || XChaCha20-Poly1305(record), with
 * header || id as associated data.  id is the keyed hash of kind and name,
 * so a file renamed or moved to another name no longer opens. */
#define VAULT_RECORD_HEADER   8
#define VAULT_RECORD_OVERHEAD (VAULT_RECORD_HEADER + VAULT_NONCE_LEN + VAULT_TAG_LEN)
#define VAULT_RECORD_MAX      (256u * 1024 * 1024)

/* Encrypt's output: format (1) || key version (4, big endian) || nonce (24)
 * || ciphertext || tag (16); format and key version are authenticated too. */
#define VAULT_CT_HEADER       5
#define VAULT_CT_OVERHEAD     (VAULT_CT_HEADER + VAULT_NONCE_LEN + VAULT_TAG_LEN)

typedef enum {
  VAULT_KIND_SECRET = 'S',
  VAULT_KIND_KEY    = 'K',
  VAULT_KIND_META   = 'M',
} VaultKind;

typedef enum {
  VAULT_KEY_AEAD = 1,   /* XChaCha20-Poly1305, 32 bytes */
  VAULT_KEY_SIGN = 2,   /* Ed25519 secret key (seed || public), 64 bytes */
} VaultKeyType;

/* ---- guarded memory ------------------------------------------------------ */

/* Secret bytes live here: sodium_malloc (guard pages, mlocked, not in core
 * dumps); freeing wipes them.  Small transient buffers are recycled (wiped,
 * still guarded and mlocked), because sodium_malloc costs an mmap, several
 * mprotects and an mlock per call.  Thread-safe: a reply's buffer may be
 * released by GDBus' worker thread. */
typedef struct {
  guint8  *data;
  gsize    len;
  gsize    capacity;  /* of the guarded allocation (>= len) */
  gboolean guarded;   /* under mprotect control: never recycled */
  gboolean open;      /* guarded and currently readable */
} VaultBuf;

VaultBuf *vault_buf_new (gsize len);
VaultBuf *vault_buf_new_from (const void *data, gsize len);
void      vault_buf_free (VaultBuf *buf);
/* An "ay" GVariant over buf's memory; buf is freed (wiped) with the variant. */
GVariant *vault_buf_to_variant (VaultBuf *buf);
/* Guard a long-lived buffer: no access (lock) or read-only (unlock). */
void      vault_buf_lock (VaultBuf *buf);
void      vault_buf_unlock (VaultBuf *buf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VaultBuf, vault_buf_free)

/* Zero the bytes of an "ay" variant this process received (best effort:
 * GDBus' own message buffers are out of reach). */
void      vault_variant_wipe (GVariant *bytes);

/* ---- names ---------------------------------------------------------------- */

/* 1-255 bytes of [A-Za-z0-9._-] components joined by '/'; no empty, "." or
 * ".." component.  field names the argument in the error ("name", "key"). */
gboolean  vault_name_check (const char *name, const char *field, GError **error);
gboolean  vault_content_type_check (const char *type, GError **error);
const char *vault_key_type_to_string (VaultKeyType type);
gboolean  vault_key_type_from_string (const char *s, VaultKeyType *type);
gsize     vault_key_type_material_len (VaultKeyType type);

/* id = BLAKE2b-256 keyed with name_key over kind || name. */
void      vault_name_id (const guint8 *name_key, VaultKind kind, const char *name, guint8 *id);

/* ---- records ---------------------------------------------------------------- */

typedef struct {
  guint32       version;
  guint64       created;      /* µs since the epoch */
  guint32       created_by;   /* uid */
  const guint8 *value;        /* into the decrypted buffer (secrets) */
  gsize         len;          /* value length, or key material length */
} VaultVersion;

/* A decrypted secret or key record.  Strings are plain heap memory (names
 * are not secret); every value points into the guarded plaintext `buf`. */
typedef struct {
  VaultKind     kind;
  char         *name;
  char         *content_type; /* secrets */
  VaultKeyType  key_type;     /* keys */
  guint64       created;
  guint32       created_by;
  GArray       *versions;     /* VaultVersion, strictly ascending */
  VaultBuf     *buf;          /* owned: the plaintext the values point into */
} VaultRecord;

VaultRecord *vault_record_new (VaultKind kind, const char *name);
void         vault_record_free (VaultRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VaultRecord, vault_record_free)
const VaultVersion *vault_record_newest (const VaultRecord *record);
const VaultVersion *vault_record_find (const VaultRecord *record, guint32 version);

/* Serialise into a new guarded buffer (values are copied from wherever the
 * versions point). */
VaultBuf    *vault_record_encode (const VaultRecord *record);
/* Parse a decrypted record; NULL + ANYD_ERROR_FAILED "entry is corrupt: …"
 * on anything malformed.  Takes ownership of plain. */
VaultRecord *vault_record_decode (VaultKind kind, VaultBuf *plain, GError **error);

/* Meta record: the vault's own check that the master key is the right one. */
VaultBuf    *vault_meta_encode (guint64 created);
gboolean     vault_meta_decode (const VaultBuf *plain, guint64 *created, GError **error);

/* Seal plaintext into file bytes / open file bytes (checks header, format,
 * kind, length, then authenticates with id). */
GBytes      *vault_envelope_seal (VaultKind kind, const guint8 *id, const guint8 *key,
                                  const VaultBuf *plain);
VaultBuf    *vault_envelope_open (VaultKind kind, const guint8 *id, const guint8 *key,
                                  const guint8 *data, gsize len, GError **error);

/* ---- Encrypt / Decrypt ------------------------------------------------------- */

GBytes      *vault_aead_encrypt (const guint8 *key, guint32 key_version,
                                 const guint8 *plaintext, gsize len,
                                 const guint8 *aad, gsize aad_len);
/* Header only: the key version a ciphertext needs.  InvalidArgument
 * "ciphertext: …" when it is too short or of an unknown format. */
gboolean     vault_aead_peek_version (const guint8 *ct, gsize len, guint32 *key_version,
                                      GError **error);
/* Authenticate and decrypt; InvalidArgument "ciphertext: …" on any failure
 * (nothing about why beyond "cannot be decrypted"). */
VaultBuf    *vault_aead_decrypt (const guint8 *key, const guint8 *ct, gsize len,
                                 const guint8 *aad, gsize aad_len, GError **error);

G_END_DECLS
