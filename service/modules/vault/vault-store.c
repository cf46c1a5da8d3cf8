/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vault's store (see vault-store.h).
 *
 * Layout under <state>/vault/ (directories 0700, files 0600):
 *   master.key      32 random bytes, only when no credential is given
 *   meta            a record that proves the master key is the right one
 *   secrets/<id>    one record per secret, all kept versions
 *   keys/<id>       one record per key, all versions
 * <id> is the hex keyed hash of the name, so file names reveal no names
 * and a file moved to another name fails to authenticate.
 *
 * Records are sealed with a subkey of the master key.  Memory holds the
 * sealed bytes of secrets (opened per Get) and the opened key records, in
 * guarded memory that is locked (no access) between uses.
 *
 * Changes run one at a time: prepare (check, build, seal) on the main
 * thread, write in a worker, then commit to the index and answer.  Checks
 * like "exists" run when the change's turn comes, against committed state,
 * so nothing needs rolling back when a write fails. */
#include "anyd-build-config.h"
#include "vault-store.h"
#include "error.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define KDF_CONTEXT          "anydvlt1"
#define SUBKEY_RECORDS       1
#define SUBKEY_NAMES         2
#define DEFAULT_CONTENT_TYPE "application/octet-stream"
#define KEY_FILE_MAX         256

typedef struct {
  VaultKind     kind;
  char         *id;           /* hex; the file name and the table key */
  char         *path;
  char         *corrupt;      /* why the file does not open, or NULL */
  dev_t         dev;          /* the file as loaded, to notice changes */
  ino_t         ino;
  gint64        mtime_ns;
  goffset       size;
  GBytes       *sealed;       /* the file's bytes */
  char         *name;         /* metadata, from the record (not secret) */
  char         *content_type;
  VaultKeyType  key_type;
  guint64       created;
  guint32       created_by;
  guint64       updated;
  guint32       updated_by;
  GArray       *versions;     /* guint32, ascending */
  VaultRecord  *keys;         /* key entries: the opened record, locked */
} Entry;

typedef enum {
  OP_PUT, OP_ROTATE, OP_DELETE, OP_CREATE_KEY, OP_ROTATE_KEY, OP_DELETE_KEY,
} OpType;

typedef struct {
  VaultStore     *store;      /* NULL once the store is gone */
  OpType          type;
  VaultKind       kind;
  char           *name;
  VaultBuf       *value;      /* put/rotate: the new value; keys: new material */
  char           *content_type;
  VaultKeyType    key_type;
  guint32         uid;
  VaultStoreDone  done;
  gpointer        user_data;
  char           *id;         /* prepared */
  char           *path;
  GBytes         *sealed;     /* NULL: remove the file */
  VaultRecord    *record;     /* what the file holds once written */
  guint32         version;
  GError         *error;      /* from the worker */
  gboolean        finished;   /* the worker is done (under write_lock) */
} Op;

struct _VaultStore {
  char       *dir;
  char       *kind_dir[2];    /* secrets/, keys/ */
  VaultBuf   *record_key;     /* locked between uses */
  VaultBuf   *name_key;
  char       *locked;
  char       *key_source;
  GHashTable *tables[2];      /* id -> Entry */
  guint       versions_kept;
  GQueue      queue;          /* Op waiting for its turn */
  Op         *running;
  guint       relock_id;      /* closes opened keys once unused for RELOCK_MS */
  gint64      last_key_use;
};

static GMutex write_lock;
static GCond  write_cond;

/* Keys (master subkeys, key material) are PROT_NONE while the vault is
 * idle.  A use opens one read-only; it is closed again once no key was
 * used for RELOCK_MS.  Closing after every call would cost two mprotects
 * per key per call, which is tens of µs each on some VMs. */
#define RELOCK_MS 100

static guint
kind_index (VaultKind kind)
{
  return kind == VAULT_KIND_SECRET ? 0 : 1;
}

static const char *
kind_word (VaultKind kind)
{
  return kind == VAULT_KIND_SECRET ? "secret" : "key";
}

/* ------------------------------------------------------------------ entries */

static void
entry_free (Entry *e)
{
  g_free (e->id);
  g_free (e->path);
  g_free (e->corrupt);
  g_clear_pointer (&e->sealed, g_bytes_unref);
  g_free (e->name);
  g_free (e->content_type);
  g_clear_pointer (&e->versions, g_array_unref);
  vault_record_free (e->keys);
  g_free (e);
}

static void
close_key (gpointer key, gpointer value, gpointer user_data)
{
  Entry *e = value;

  if (e->keys != NULL && e->keys->buf->open)
    vault_buf_lock (e->keys->buf);
}

static void
close_keys (VaultStore *s)
{
  if (s->record_key != NULL && s->record_key->open)
    vault_buf_lock (s->record_key);
  if (s->name_key != NULL && s->name_key->open)
    vault_buf_lock (s->name_key);
  g_hash_table_foreach (s->tables[1], close_key, NULL);
}

static gboolean
relock_cb (gpointer user_data)
{
  VaultStore *s = user_data;

  if (g_get_monotonic_time () - s->last_key_use < RELOCK_MS * 1000)
    return G_SOURCE_CONTINUE;
  close_keys (s);
  s->relock_id = 0;
  return G_SOURCE_REMOVE;
}

/* The key's bytes, readable until the vault has been idle for RELOCK_MS. */
static const guint8 *
open_key (VaultStore *s, VaultBuf *key)
{
  if (!key->open)
    vault_buf_unlock (key);
  s->last_key_use = g_get_monotonic_time ();
  if (s->relock_id == 0)
    s->relock_id = g_timeout_add (RELOCK_MS, relock_cb, s);
  return key->data;
}

static void
name_id (VaultStore *s, VaultKind kind, const char *name, char *hex)
{
  guint8 id[VAULT_ID_LEN];

  vault_name_id (open_key (s, s->name_key), kind, name, id);
  sodium_bin2hex (hex, VAULT_ID_LEN * 2 + 1, id, VAULT_ID_LEN);
}

static gboolean
id_from_hex (const char *hex, guint8 *id)
{
  size_t n = 0;

  return strlen (hex) == VAULT_ID_LEN * 2 &&
         sodium_hex2bin (id, VAULT_ID_LEN, hex, VAULT_ID_LEN * 2, NULL, &n, NULL) == 0 &&
         n == VAULT_ID_LEN;
}

static GBytes *
seal (VaultStore *s, VaultKind kind, const char *hex, const VaultBuf *plain)
{
  guint8 id[VAULT_ID_LEN];
  GBytes *sealed;

  gboolean ok = id_from_hex (hex, id);

  g_assert (ok);
  sealed = vault_envelope_seal (kind, id, open_key (s, s->record_key), plain);
  return sealed;
}

static VaultBuf *
unseal (VaultStore *s, VaultKind kind, const char *hex, GBytes *sealed, GError **error)
{
  guint8 id[VAULT_ID_LEN] = { 0 };
  gsize len;
  const guint8 *data = g_bytes_get_data (sealed, &len);
  VaultBuf *plain;

  if (hex != NULL && !id_from_hex (hex, id))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "entry is corrupt: bad file name");
      return NULL;
    }
  plain = vault_envelope_open (kind, id, open_key (s, s->record_key), data, len, error);
  return plain;
}

/* Open a sealed record and check it belongs under this id.  The id is
 * authenticated with the record, so once a file was checked at load, the
 * name inside is compared with the one looked up (expect_name) instead of
 * hashing it again. */
static VaultRecord *
open_record (VaultStore *s, VaultKind kind, const char *hex, GBytes *sealed,
             const char *expect_name, GError **error)
{
  VaultBuf *plain = unseal (s, kind, hex, sealed, error);
  g_autoptr(VaultRecord) r = NULL;
  char expect[VAULT_ID_LEN * 2 + 1];

  if (plain == NULL)
    return NULL;
  r = vault_record_decode (kind, plain, error);
  if (r == NULL)
    return NULL;
  if (expect_name != NULL)
    g_strlcpy (expect, g_str_equal (expect_name, r->name) ? hex : "", sizeof expect);
  else
    name_id (s, kind, r->name, expect);
  if (!g_str_equal (expect, hex))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "entry is corrupt: name does not match");
      return NULL;
    }
  return g_steal_pointer (&r);
}

/* Copy the record's metadata into e; key records are kept (locked). */
static void
entry_fill (Entry *e, VaultRecord *record)
{
  const VaultVersion *newest = vault_record_newest (record);

  e->name = g_strdup (record->name);
  e->content_type = g_strdup (record->content_type);
  e->key_type = record->key_type;
  e->created = record->created;
  e->created_by = record->created_by;
  e->updated = newest->created;
  e->updated_by = newest->created_by;
  e->versions = g_array_new (FALSE, FALSE, sizeof (guint32));
  for (guint i = 0; i < record->versions->len; i++)
    g_array_append_val (e->versions, g_array_index (record->versions, VaultVersion, i).version);
  if (e->kind == VAULT_KIND_KEY)
    {
      vault_buf_lock (record->buf);
      e->keys = record;
    }
  else
    vault_record_free (record);
}

static void
entry_set_identity (Entry *e, const struct stat *st)
{
  e->dev = st->st_dev;
  e->ino = st->st_ino;
  e->size = st->st_size;
  e->mtime_ns = (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
}

static gboolean
entry_same_file (const Entry *e, const struct stat *st)
{
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtime_ns == (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
}

static GBytes *
read_fd (int fd, gsize max, GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  guint8 chunk[8192];

  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "read: %s", g_strerror (errno));
          return NULL;
        }
      if (n == 0)
        break;
      if (data->len + (gsize) n > max)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "larger than %" G_GSIZE_FORMAT " bytes", max);
          return NULL;
        }
      g_byte_array_append (data, chunk, (guint) n);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

/* Load one file; NULL if it does not exist.  A file that does not open is
 * an entry too (marked corrupt), so its name answers "entry is corrupt". */
static Entry *
entry_load (VaultStore *s, VaultKind kind, const char *hex)
{
  g_autoptr(GError) error = NULL;
  Entry *e = g_new0 (Entry, 1);
  VaultRecord *record;
  struct stat st;
  int fd;

  e->kind = kind;
  e->id = g_strdup (hex);
  e->path = g_build_filename (s->kind_dir[kind_index (kind)], hex, NULL);

  fd = open (e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    {
      entry_free (e);
      return NULL;
    }
  if (fd < 0 || fstat (fd, &st) < 0)
    g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "entry is corrupt: %s", g_strerror (errno));
  else if (!S_ISREG (st.st_mode))
    g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "entry is corrupt: not a regular file");
  else
    {
      entry_set_identity (e, &st);
      e->sealed = read_fd (fd, VAULT_RECORD_MAX, &error);
      if (e->sealed != NULL && (record = open_record (s, kind, hex, e->sealed, NULL, &error)) != NULL)
        entry_fill (e, record);
    }
  if (fd >= 0)
    close (fd);
  if (error != NULL)
    {
      e->corrupt = g_strdup (error->message);
      g_warning ("vault: %s: %s", e->path, error->message);
    }
  return e;
}

/* The entry, re-read if its file changed behind anyd's back (restored,
 * tampered with, removed), except while a queued change writes it. */
static Entry *
entry_refresh (VaultStore *s, Entry *e)
{
  GHashTable *table = s->tables[kind_index (e->kind)];
  Entry *fresh;
  struct stat st;

  if (s->running != NULL && s->running->kind == e->kind && g_strcmp0 (s->running->id, e->id) == 0)
    return e;
  if (lstat (e->path, &st) < 0)
    {
      if (errno != ENOENT)
        return e;
      g_hash_table_remove (table, e->id);
      return NULL;
    }
  if (entry_same_file (e, &st))
    return e;
  fresh = entry_load (s, e->kind, e->id);
  if (fresh == NULL)
    {
      g_hash_table_remove (table, e->id);
      return NULL;
    }
  g_hash_table_replace (table, fresh->id, fresh);  /* frees e */
  return fresh;
}

static Entry *
lookup (VaultStore *s, VaultKind kind, const char *name)
{
  char hex[VAULT_ID_LEN * 2 + 1];
  Entry *e;

  name_id (s, kind, name, hex);
  e = g_hash_table_lookup (s->tables[kind_index (kind)], hex);
  return e ? entry_refresh (s, e) : NULL;
}

/* lookup + "does not exist" / "entry is corrupt". */
static Entry *
lookup_usable (VaultStore *s, VaultKind kind, const char *name, GError **error)
{
  Entry *e = lookup (s, kind, name);

  if (e == NULL)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no %s '%s'", kind_word (kind), name);
  else if (e->corrupt != NULL)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                 "%s '%s' is corrupt (see the daemon log; delete it to reuse the name)",
                 kind_word (kind), name);
  else
    return e;
  return NULL;
}

static gboolean
check_unlocked (VaultStore *s, GError **error)
{
  if (s->locked == NULL)
    return TRUE;
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_DISABLED, "the vault is locked: %s", s->locked);
  return FALSE;
}

/* ------------------------------------------------------------------ master key */

/* 32 raw bytes, or 64 hex digits (and a newline), into guarded memory. */
static VaultBuf *
read_key_file (const char *path, gboolean must_be_private, GError **error)
{
  g_autoptr(VaultBuf) raw = vault_buf_new (KEY_FILE_MAX + 1);
  g_autoptr(VaultBuf) key = vault_buf_new (VAULT_KEY_LEN);
  struct stat st;
  gsize len = 0;
  size_t bin_len = 0;
  int fd;

  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "%s: %s", path, g_strerror (errsv));
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: not a regular file", path);
      return NULL;
    }
  if (must_be_private && (st.st_uid != geteuid () || (st.st_mode & 077) != 0))
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s: must belong to uid %u and be readable by it alone (it is uid %u, mode %04o)",
                   path, geteuid (), st.st_uid, st.st_mode & 07777);
      return NULL;
    }
  while (len <= KEY_FILE_MAX)
    {
      ssize_t n = read (fd, raw->data + len, KEY_FILE_MAX + 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      len += (gsize) n;
    }
  close (fd);

  if (len == VAULT_KEY_LEN)
    memcpy (key->data, raw->data, VAULT_KEY_LEN);
  else if ((len == 2 * VAULT_KEY_LEN ||
            (len == 2 * VAULT_KEY_LEN + 1 && raw->data[len - 1] == '\n')) &&
           sodium_hex2bin (key->data, VAULT_KEY_LEN, (const char *) raw->data, 2 * VAULT_KEY_LEN,
                           NULL, &bin_len, NULL) == 0 && bin_len == VAULT_KEY_LEN)
    ;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: must hold a 32-byte key: 32 raw bytes or 64 hex digits (it has %" G_GSIZE_FORMAT " bytes)",
                   path, len);
      return NULL;
    }
  return g_steal_pointer (&key);
}

static gboolean
dir_has_records (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *target = anyd_file_unfinished_target (name);
      if (name[0] != '.' && target == NULL)
        return TRUE;
    }
  return FALSE;
}

/* Sets s->locked instead of failing: the rest of anyd keeps working and
 * every vault call says why the vault is unusable. */
static void
load_master_key (VaultStore *s, const char *credentials_dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VaultBuf) master = NULL;
  g_autofree char *key_path = g_build_filename (s->dir, VAULT_MASTER_KEY_FILE, NULL);
  g_autofree char *meta_path = g_build_filename (s->dir, "meta", NULL);
  gboolean fresh = !g_file_test (meta_path, G_FILE_TEST_EXISTS) &&
                   !dir_has_records (s->kind_dir[0]) && !dir_has_records (s->kind_dir[1]);
  g_autoptr(GBytes) meta = NULL;
  g_autoptr(VaultBuf) meta_plain = NULL;

  if (credentials_dir != NULL && *credentials_dir != '\0')
    {
      g_autofree char *cred = g_build_filename (credentials_dir, VAULT_CREDENTIAL_NAME, NULL);
      master = read_key_file (cred, FALSE, &error);
      if (master == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          s->locked = g_strdup_printf ("credential %s: %s", VAULT_CREDENTIAL_NAME, error->message);
          return;
        }
      if (master != NULL)
        s->key_source = g_strdup_printf ("credential %s", VAULT_CREDENTIAL_NAME);
      g_clear_error (&error);
    }
  if (master == NULL)
    {
      master = read_key_file (key_path, TRUE, &error);
      if (master != NULL)
        s->key_source = g_strdup (key_path);
      else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          s->locked = g_strdup (error->message);
          return;
        }
      else if (!fresh)
        {
          s->locked = g_strdup_printf ("no master key (no credential %s, no %s), but %s holds entries",
                                       VAULT_CREDENTIAL_NAME, key_path, s->dir);
          return;
        }
      else
        {
          /* First start without a credential: a root-only key file. */
          g_clear_error (&error);
          master = vault_buf_new (VAULT_KEY_LEN);
          randombytes_buf (master->data, VAULT_KEY_LEN);
          if (!anyd_file_write_atomic (key_path, master->data, VAULT_KEY_LEN, 0600, &error))
            {
              s->locked = g_strdup_printf ("cannot create the master key: %s", error->message);
              return;
            }
          s->key_source = g_strdup_printf ("%s (created)", key_path);
          g_message ("vault: created a new master key in %s", key_path);
        }
    }

  s->record_key = vault_buf_new (VAULT_KEY_LEN);
  s->name_key = vault_buf_new (VAULT_KEY_LEN);
  crypto_kdf_derive_from_key (s->record_key->data, VAULT_KEY_LEN, SUBKEY_RECORDS, KDF_CONTEXT, master->data);
  crypto_kdf_derive_from_key (s->name_key->data, VAULT_KEY_LEN, SUBKEY_NAMES, KDF_CONTEXT, master->data);
  vault_buf_lock (s->record_key);
  vault_buf_lock (s->name_key);

  /* The meta record tells a wrong key apart from corrupt entries. */
  {
    g_autofree char *data = NULL;
    gsize len = 0;
    guint64 created;

    if (g_file_get_contents (meta_path, &data, &len, &error))
      {
        meta = g_bytes_new (data, len);
        meta_plain = unseal (s, VAULT_KIND_META, NULL, meta, &error);
        if (meta_plain == NULL || !vault_meta_decode (meta_plain, &created, &error))
          s->locked = g_strdup_printf ("the master key from %s does not open this vault; "
                                       "was the key changed? %s: %s", s->key_source, meta_path, error->message);
        return;
      }
    if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      {
        s->locked = g_strdup (error->message);
        return;
      }
    g_clear_error (&error);
  }
  meta_plain = vault_meta_encode ((guint64) g_get_real_time ());
  meta = seal (s, VAULT_KIND_META, "0000000000000000000000000000000000000000000000000000000000000000",
               meta_plain);
  if (!anyd_file_write_atomic (meta_path, g_bytes_get_data (meta, NULL), g_bytes_get_size (meta),
                               0600, &error))
    s->locked = g_strdup_printf ("cannot write %s: %s", meta_path, error->message);
}

/* ------------------------------------------------------------------ open / close */

static void
load_kind (VaultStore *s, VaultKind kind)
{
  const char *dirpath = s->kind_dir[kind_index (kind)];
  g_autoptr(GDir) dir = g_dir_open (dirpath, 0, NULL);
  guint8 id[VAULT_ID_LEN];
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (dirpath, name, NULL);
      g_autofree char *target = anyd_file_unfinished_target (name);
      Entry *e;

      if (name[0] == '.' || (target != NULL && id_from_hex (target, id)))
        {
          /* A temp file a crash left before its rename: never acknowledged. */
          g_debug ("vault: removing unfinished write %s", path);
          g_unlink (path);
          continue;
        }
      if (!id_from_hex (name, id))
        {
          g_warning ("vault: ignoring unexpected file %s", path);
          continue;
        }
      e = entry_load (s, kind, name);
      if (e != NULL)
        g_hash_table_replace (s->tables[kind_index (kind)], e->id, e);
    }
}

VaultStore *
vault_store_new (const char *dir, const char *credentials_dir, GError **error)
{
  VaultStore *s = g_new0 (VaultStore, 1);

  s->dir = g_strdup (dir);
  s->kind_dir[0] = g_build_filename (dir, "secrets", NULL);
  s->kind_dir[1] = g_build_filename (dir, "keys", NULL);
  s->versions_kept = 10;
  for (guint i = 0; i < 2; i++)
    s->tables[i] = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) entry_free);
  g_queue_init (&s->queue);

  if (!anyd_mkdir_private (s->dir, error) || !anyd_mkdir_private (s->kind_dir[0], error) ||
      !anyd_mkdir_private (s->kind_dir[1], error))
    {
      vault_store_free (s);
      return NULL;
    }

  /* Leftover temp files of the key and meta writes. */
  {
    g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *target = anyd_file_unfinished_target (name);
        if (name[0] == '.' || g_strcmp0 (target, "meta") == 0 ||
            g_strcmp0 (target, VAULT_MASTER_KEY_FILE) == 0)
          {
            g_autofree char *path = g_build_filename (dir, name, NULL);
            g_unlink (path);
          }
      }
  }

  load_master_key (s, credentials_dir);
  if (s->locked != NULL)
    {
      g_warning ("vault: locked, every vault call fails until this is fixed: %s", s->locked);
      return s;
    }
  load_kind (s, VAULT_KIND_SECRET);
  load_kind (s, VAULT_KIND_KEY);
  g_message ("vault: %u secrets, %u keys; master key from %s",
             g_hash_table_size (s->tables[0]), g_hash_table_size (s->tables[1]), s->key_source);
  return s;
}

static void op_free (Op *op);

void
vault_store_free (VaultStore *s)
{
  g_autoptr(GError) stopping = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "the vault is stopping");
  Op *op;

  if (s == NULL)
    return;
  if (s->running != NULL)
    {
      /* Let the write in progress finish: it may already be acknowledged
       * on disk, and nothing may touch the files after this returns. */
      op = s->running;
      g_mutex_lock (&write_lock);
      while (!op->finished)
        g_cond_wait (&write_cond, &write_lock);
      g_mutex_unlock (&write_lock);
      op->store = NULL;  /* the worker's completion finds the store gone */
      s->running = NULL;
      if (op->done != NULL)
        op->done (op->error ? 0 : op->version, op->error, op->user_data);
      op->done = NULL;
    }
  while ((op = g_queue_pop_head (&s->queue)) != NULL)
    {
      op->done (0, stopping, op->user_data);
      op_free (op);
    }
  g_clear_handle_id (&s->relock_id, g_source_remove);
  for (guint i = 0; i < 2; i++)
    {
      g_clear_pointer (&s->tables[i], g_hash_table_unref);
      g_free (s->kind_dir[i]);
    }
  vault_buf_free (s->record_key);
  vault_buf_free (s->name_key);
  g_free (s->locked);
  g_free (s->key_source);
  g_free (s->dir);
  g_free (s);
}

const char *
vault_store_get_locked_reason (VaultStore *s)
{
  return s->locked;
}

const char *
vault_store_get_key_source (VaultStore *s)
{
  return s->key_source;
}

void
vault_store_set_versions_kept (VaultStore *s, guint versions_kept)
{
  s->versions_kept = MAX (versions_kept, 1);
}

/* ------------------------------------------------------------------ reads */

VaultBuf *
vault_store_get (VaultStore *s, const char *name, guint32 version, guint32 *out_version, GError **error)
{
  g_autoptr(VaultRecord) r = NULL;
  const VaultVersion *v;
  Entry *e;

  if (!check_unlocked (s, error) || (e = lookup_usable (s, VAULT_KIND_SECRET, name, error)) == NULL)
    return NULL;
  r = open_record (s, VAULT_KIND_SECRET, e->id, e->sealed, name, error);
  if (r == NULL)
    return NULL;
  v = version == 0 ? vault_record_newest (r) : vault_record_find (r, version);
  if (v == NULL)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                   "secret '%s' has no version %u (kept: %u to %u)", name, version,
                   g_array_index (r->versions, VaultVersion, 0).version, vault_record_newest (r)->version);
      return NULL;
    }
  if (out_version != NULL)
    *out_version = v->version;
  return vault_buf_new_from (v->value, v->len);
}

static int
compare_entries (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(Entry *const *) a)->name, (*(Entry *const *) b)->name);
}

static GPtrArray *
sorted_entries (VaultStore *s, VaultKind kind)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, s->tables[kind_index (kind)]);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((Entry *) v)->corrupt == NULL)
      g_ptr_array_add (out, v);
  g_ptr_array_sort (out, compare_entries);
  return out;
}

/* For [limits] max_vault_entries_per_uid: who created an entry. */
gboolean
vault_store_get_creator (VaultStore *s, VaultKind kind, const char *name, guint32 *uid)
{
  Entry *e = s->locked == NULL ? lookup (s, kind, name) : NULL;

  if (e != NULL && uid != NULL)
    *uid = e->created_by;
  return e != NULL;
}

void
vault_store_foreach_creator (VaultStore *s, void (*func) (guint32 uid, gpointer data), gpointer data)
{
  static const VaultKind kinds[] = { VAULT_KIND_SECRET, VAULT_KIND_KEY };
  GHashTableIter it;
  gpointer v;

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_hash_table_iter_init (&it, s->tables[kind_index (kinds[k])]);
      while (g_hash_table_iter_next (&it, NULL, &v))
        func (((Entry *) v)->created_by, data);
    }
}

GVariant *
vault_store_list (VaultStore *s, GError **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  GVariantBuilder b;

  if (!check_unlocked (s, error))
    return NULL;
  entries = sorted_entries (s, VAULT_KIND_SECRET);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sua{sv})"));
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *e = entries->pdata[i];
      GVariantDict meta;

      g_variant_dict_init (&meta, NULL);
      g_variant_dict_insert (&meta, "created", "t", e->created);
      g_variant_dict_insert (&meta, "created_by", "u", e->created_by);
      g_variant_dict_insert (&meta, "content_type", "s", e->content_type);
      g_variant_dict_insert (&meta, "updated", "t", e->updated);
      g_variant_dict_insert (&meta, "updated_by", "u", e->updated_by);
      g_variant_dict_insert_value (&meta, "versions",
                                   g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, e->versions->data,
                                                              e->versions->len, sizeof (guint32)));
      g_variant_builder_add (&b, "(su@a{sv})", e->name,
                             g_array_index (e->versions, guint32, e->versions->len - 1),
                             g_variant_dict_end (&meta));
    }
  return g_variant_builder_end (&b);
}

GVariant *
vault_store_list_keys (VaultStore *s, GError **error)
{
  g_autoptr(GPtrArray) entries = NULL;
  GVariantBuilder b;

  if (!check_unlocked (s, error))
    return NULL;
  entries = sorted_entries (s, VAULT_KIND_KEY);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ssu)"));
  for (guint i = 0; i < entries->len; i++)
    {
      Entry *e = entries->pdata[i];
      g_variant_builder_add (&b, "(ssu)", e->name, vault_key_type_to_string (e->key_type),
                             g_array_index (e->versions, guint32, e->versions->len - 1));
    }
  return g_variant_builder_end (&b);
}

/* A usable key of the wanted type. */
static Entry *
lookup_key (VaultStore *s, const char *name, VaultKeyType want, const char *why, GError **error)
{
  Entry *e;

  if (!check_unlocked (s, error) || (e = lookup_usable (s, VAULT_KIND_KEY, name, error)) == NULL)
    return NULL;
  if (e->key_type != want)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "key: '%s' is a%s %s key; %s", name,
                   e->key_type == VAULT_KEY_AEAD ? "n" : "", vault_key_type_to_string (e->key_type), why);
      return NULL;
    }
  return e;
}

GBytes *
vault_store_encrypt (VaultStore *s, const char *key, const guint8 *plaintext, gsize len,
                     const guint8 *aad, gsize aad_len, guint32 *out_version, GError **error)
{
  Entry *e = lookup_key (s, key, VAULT_KEY_AEAD, "encrypting needs an aead key", error);
  const VaultVersion *v;
  GBytes *ct;

  if (e == NULL)
    return NULL;
  open_key (s, e->keys->buf);
  v = vault_record_newest (e->keys);
  ct = vault_aead_encrypt (v->value, v->version, plaintext, len, aad, aad_len);
  if (out_version != NULL)
    *out_version = v->version;
  return ct;
}

VaultBuf *
vault_store_decrypt (VaultStore *s, const char *key, const guint8 *ct, gsize len,
                     const guint8 *aad, gsize aad_len, guint32 *out_version, GError **error)
{
  Entry *e = lookup_key (s, key, VAULT_KEY_AEAD, "decrypting needs an aead key", error);
  const VaultVersion *v;
  VaultBuf *plain;
  guint32 version;

  if (e == NULL || !vault_aead_peek_version (ct, len, &version, error))
    return NULL;
  v = vault_record_find (e->keys, version);
  if (v == NULL)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "ciphertext: cannot be decrypted (made with version %u of key '%s', which does not exist)",
                   version, key);
      return NULL;
    }
  open_key (s, e->keys->buf);
  plain = vault_aead_decrypt (v->value, ct, len, aad, aad_len, error);
  if (out_version != NULL)
    *out_version = version;
  return plain;
}

GBytes *
vault_store_sign (VaultStore *s, const char *key, const guint8 *data, gsize len,
                  guint32 *out_version, GError **error)
{
  Entry *e = lookup_key (s, key, VAULT_KEY_SIGN, "signing needs a sign key", error);
  guint8 *sig;
  const VaultVersion *v;

  if (e == NULL)
    return NULL;
  v = vault_record_newest (e->keys);
  sig = g_malloc (crypto_sign_ed25519_BYTES);
  open_key (s, e->keys->buf);
  crypto_sign_ed25519_detached (sig, NULL, data, len, v->value);
  if (out_version != NULL)
    *out_version = v->version;
  return g_bytes_new_take (sig, crypto_sign_ed25519_BYTES);
}

GBytes *
vault_store_get_public_key (VaultStore *s, const char *key, GError **error)
{
  Entry *e = lookup_key (s, key, VAULT_KEY_SIGN, "only sign keys have a public key", error);
  guint8 *pk;

  if (e == NULL)
    return NULL;
  pk = g_malloc (crypto_sign_ed25519_PUBLICKEYBYTES);
  open_key (s, e->keys->buf);
  crypto_sign_ed25519_sk_to_pk (pk, vault_record_newest (e->keys)->value);
  return g_bytes_new_take (pk, crypto_sign_ed25519_PUBLICKEYBYTES);
}

/* ------------------------------------------------------------------ writes */

static void run_next (VaultStore *s);

static void
op_free (Op *op)
{
  g_free (op->name);
  vault_buf_free (op->value);
  g_free (op->content_type);
  g_free (op->id);
  g_free (op->path);
  g_clear_pointer (&op->sealed, g_bytes_unref);
  vault_record_free (op->record);
  g_clear_error (&op->error);
  g_free (op);
}

static void
queue_op (VaultStore *s, OpType type, VaultKind kind, const char *name, VaultBuf *value,
          guint32 uid, VaultStoreDone done, gpointer user_data, Op **out)
{
  Op *op = g_new0 (Op, 1);

  op->store = s;
  op->type = type;
  op->kind = kind;
  op->name = g_strdup (name);
  op->value = value;
  op->uid = uid;
  op->done = done;
  op->user_data = user_data;
  if (out != NULL)
    *out = op;
  g_queue_push_tail (&s->queue, op);
}

/* A new version: value (secret) or fresh key material of the record's type. */
static void
add_version (Op *op, VaultRecord *r, guint64 now)
{
  VaultVersion v = { 0 };
  const VaultVersion *newest = vault_record_newest (r);

  if (op->kind == VAULT_KIND_KEY)
    {
      g_assert (op->value == NULL);
      op->value = vault_buf_new (vault_key_type_material_len (r->key_type));
      if (r->key_type == VAULT_KEY_AEAD)
        crypto_aead_xchacha20poly1305_ietf_keygen (op->value->data);
      else
        {
          guint8 pk[crypto_sign_ed25519_PUBLICKEYBYTES];
          crypto_sign_ed25519_keypair (pk, op->value->data);
        }
    }
  v.version = newest ? newest->version + 1 : 1;
  v.created = now;
  v.created_by = op->uid;
  v.value = op->value->data;
  v.len = op->value->len;
  g_array_append_val (r->versions, v);
  op->version = v.version;
}

/* Check the change against committed state and build the new file. */
static gboolean
op_prepare (VaultStore *s, Op *op, GError **error)
{
  g_autoptr(VaultRecord) r = NULL;
  g_autoptr(VaultBuf) plain = NULL;
  guint64 now = (guint64) g_get_real_time ();
  char hex[VAULT_ID_LEN * 2 + 1];
  Entry *e;

  if (!check_unlocked (s, error))
    return FALSE;
  name_id (s, op->kind, op->name, hex);
  op->id = g_strdup (hex);
  op->path = g_build_filename (s->kind_dir[kind_index (op->kind)], hex, NULL);

  switch (op->type)
    {
    case OP_PUT:
    case OP_CREATE_KEY:
      e = lookup (s, op->kind, op->name);
      if (e != NULL && e->corrupt != NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED,
                       "%s '%s' is corrupt (see the daemon log; delete it to reuse the name)",
                       kind_word (op->kind), op->name);
          return FALSE;
        }
      if (e != NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_EXISTS, "%s '%s' already exists; rotate it to add a version",
                       kind_word (op->kind), op->name);
          return FALSE;
        }
      r = vault_record_new (op->kind, op->name);
      r->content_type = g_strdup (op->content_type ? op->content_type : DEFAULT_CONTENT_TYPE);
      r->key_type = op->key_type;
      r->created = now;
      r->created_by = op->uid;
      add_version (op, r, now);
      break;

    case OP_ROTATE:
    case OP_ROTATE_KEY:
      e = lookup_usable (s, op->kind, op->name, error);
      if (e == NULL)
        return FALSE;
      r = open_record (s, op->kind, e->id, e->sealed, op->name, error);
      if (r == NULL)
        return FALSE;
      if (vault_record_newest (r)->version == G_MAXUINT32)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "%s '%s' has no version numbers left",
                       kind_word (op->kind), op->name);
          return FALSE;
        }
      add_version (op, r, now);
      /* Secrets keep the newest versions_kept; keys keep every version, so
       * old ciphertexts stay readable. */
      if (op->kind == VAULT_KIND_SECRET)
        while (r->versions->len > s->versions_kept)
          g_array_remove_index (r->versions, 0);
      break;

    case OP_DELETE:
    case OP_DELETE_KEY:
      e = lookup (s, op->kind, op->name);
      if (e == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no %s '%s'",
                       kind_word (op->kind), op->name);
          return FALSE;
        }
      return TRUE;  /* sealed NULL: remove the file */
    }

  plain = vault_record_encode (r);
  op->sealed = seal (s, op->kind, op->id, plain);
  /* The committed record is the encoded one, parsed back: keys then point
   * into their own guarded buffer, and the encoder is checked each time. */
  op->record = vault_record_decode (op->kind, g_steal_pointer (&plain), error);
  return op->record != NULL;
}

static void
write_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Op *op = task_data;
  GError *error = NULL;

  if (op->sealed != NULL)
    anyd_file_write_atomic (op->path, g_bytes_get_data (op->sealed, NULL), g_bytes_get_size (op->sealed),
                            0600, &error);
  else
    anyd_file_remove_durable (op->path, &error);

  g_mutex_lock (&write_lock);
  op->error = error;
  op->finished = TRUE;
  g_cond_broadcast (&write_cond);
  g_mutex_unlock (&write_lock);
  g_task_return_boolean (task, TRUE);
}

static void
op_commit (VaultStore *s, Op *op)
{
  GHashTable *table = s->tables[kind_index (op->kind)];
  Entry *e;
  struct stat st;

  if (op->sealed == NULL)
    {
      g_hash_table_remove (table, op->id);
      return;
    }
  e = g_new0 (Entry, 1);
  e->kind = op->kind;
  e->id = g_strdup (op->id);
  e->path = g_strdup (op->path);
  e->sealed = g_bytes_ref (op->sealed);
  if (lstat (e->path, &st) == 0)
    entry_set_identity (e, &st);
  entry_fill (e, g_steal_pointer (&op->record));
  g_hash_table_replace (table, e->id, e);
}

static void
write_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Op *op = g_task_get_task_data (G_TASK (res));
  VaultStore *s = op->store;

  if (s == NULL)
    return;  /* the store was freed and already answered */
  s->running = NULL;
  if (op->error == NULL)
    op_commit (s, op);
  op->done (op->error ? 0 : op->version, op->error, op->user_data);
  op->done = NULL;
  run_next (s);
}

static void
run_next (VaultStore *s)
{
  Op *op;

  while (s->running == NULL && (op = g_queue_pop_head (&s->queue)) != NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GTask) task = NULL;

      if (!op_prepare (s, op, &error))
        {
          op->done (0, error, op->user_data);
          op_free (op);
          continue;
        }
      s->running = op;
      task = g_task_new (NULL, NULL, write_done_cb, NULL);
      g_task_set_source_tag (task, run_next);
      g_task_set_task_data (task, op, (GDestroyNotify) op_free);
      g_task_run_in_thread (task, write_thread);
    }
}

void
vault_store_put (VaultStore *s, const char *name, VaultBuf *value, const char *content_type,
                 guint32 uid, VaultStoreDone done, gpointer user_data)
{
  Op *op;

  queue_op (s, OP_PUT, VAULT_KIND_SECRET, name, value, uid, done, user_data, &op);
  op->content_type = g_strdup (content_type);
  run_next (s);
}

void
vault_store_rotate (VaultStore *s, const char *name, VaultBuf *value, guint32 uid,
                    VaultStoreDone done, gpointer user_data)
{
  queue_op (s, OP_ROTATE, VAULT_KIND_SECRET, name, value, uid, done, user_data, NULL);
  run_next (s);
}

void
vault_store_delete (VaultStore *s, const char *name, VaultStoreDone done, gpointer user_data)
{
  queue_op (s, OP_DELETE, VAULT_KIND_SECRET, name, NULL, 0, done, user_data, NULL);
  run_next (s);
}

void
vault_store_create_key (VaultStore *s, const char *name, VaultKeyType type, guint32 uid,
                        VaultStoreDone done, gpointer user_data)
{
  Op *op;

  queue_op (s, OP_CREATE_KEY, VAULT_KIND_KEY, name, NULL, uid, done, user_data, &op);
  op->key_type = type;
  run_next (s);
}

void
vault_store_rotate_key (VaultStore *s, const char *name, guint32 uid, VaultStoreDone done,
                        gpointer user_data)
{
  queue_op (s, OP_ROTATE_KEY, VAULT_KIND_KEY, name, NULL, uid, done, user_data, NULL);
  run_next (s);
}

void
vault_store_delete_key (VaultStore *s, const char *name, VaultStoreDone done, gpointer user_data)
{
  queue_op (s, OP_DELETE_KEY, VAULT_KIND_KEY, name, NULL, 0, done, user_data, NULL);
  run_next (s);
}
