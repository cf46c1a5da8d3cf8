/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vault's store: master key, one encrypted file per secret or key under
 * <state>/vault/, an in-memory index, and a queue that writes one change at
 * a time in a worker thread (temp file, fsync, rename, fsync dir) and
 * acknowledges it only when it is on disk. */
#pragma once

#include "vault-record.h"

G_BEGIN_DECLS

typedef struct _VaultStore VaultStore;

#define VAULT_CREDENTIAL_NAME "anyd-vault.key"
#define VAULT_MASTER_KEY_FILE "master.key"

/* Opens (and on first start creates) the vault in dir.  credentials_dir is
 * $CREDENTIALS_DIRECTORY or NULL.  Fails only when dir is unusable; a
 * master key problem leaves the store "locked" (see get_locked_reason). */
VaultStore *vault_store_new (const char *dir, const char *credentials_dir, GError **error);
/* Waits for a write in progress; queued writes fail with "stopping". */
void        vault_store_free (VaultStore *store);

/* Non-NULL when the master key is missing, malformed or does not open this
 * vault: every operation then fails with Disabled and this text. */
const char *vault_store_get_locked_reason (VaultStore *store);
const char *vault_store_get_key_source (VaultStore *store);
void        vault_store_set_versions_kept (VaultStore *store, guint versions_kept);

/* ---- reads (synchronous: memory and crypto only) ----------------------------- */

/* version 0 = newest.  The value in guarded memory. */
VaultBuf   *vault_store_get (VaultStore *store, const char *name, guint32 version,
                             guint32 *out_version, GError **error);
/* a(sua{sv}) sorted by name. */
GVariant   *vault_store_list (VaultStore *store, GError **error);
/* a(ssu) sorted by name. */
GVariant   *vault_store_list_keys (VaultStore *store, GError **error);

GBytes     *vault_store_encrypt (VaultStore *store, const char *key, const guint8 *plaintext,
                                 gsize len, const guint8 *aad, gsize aad_len,
                                 guint32 *out_version, GError **error);
VaultBuf   *vault_store_decrypt (VaultStore *store, const char *key, const guint8 *ct, gsize len,
                                 const guint8 *aad, gsize aad_len, guint32 *out_version,
                                 GError **error);
GBytes     *vault_store_sign (VaultStore *store, const char *key, const guint8 *data, gsize len,
                              guint32 *out_version, GError **error);
GBytes     *vault_store_get_public_key (VaultStore *store, const char *key, GError **error);

/* Whether an entry exists, and who created it ([limits] counting). */
gboolean    vault_store_get_creator (VaultStore *store, VaultKind kind, const char *name, guint32 *uid);
void        vault_store_foreach_creator (VaultStore *store, void (*func) (guint32 uid, gpointer data),
                                         gpointer data);

/* ---- writes (queued; done runs on the main thread once the change is on
 * disk, or failed and changed nothing) ------------------------------------------- */

typedef void (*VaultStoreDone) (guint32 version, const GError *error, gpointer user_data);

/* value: taken (guarded). content_type NULL = application/octet-stream. */
void        vault_store_put (VaultStore *store, const char *name, VaultBuf *value,
                             const char *content_type, guint32 uid,
                             VaultStoreDone done, gpointer user_data);
void        vault_store_rotate (VaultStore *store, const char *name, VaultBuf *value,
                                guint32 uid, VaultStoreDone done, gpointer user_data);
void        vault_store_delete (VaultStore *store, const char *name,
                                VaultStoreDone done, gpointer user_data);
void        vault_store_create_key (VaultStore *store, const char *name, VaultKeyType type,
                                    guint32 uid, VaultStoreDone done, gpointer user_data);
void        vault_store_rotate_key (VaultStore *store, const char *name, guint32 uid,
                                    VaultStoreDone done, gpointer user_data);
void        vault_store_delete_key (VaultStore *store, const char *name,
                                    VaultStoreDone done, gpointer user_data);

G_END_DECLS
