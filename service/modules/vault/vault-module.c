/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.anyd1.Vault at /org/anyd1/vault: secrets and keys that never leave
 * the daemon (docs/api.md, org.anyd1.Vault).
 *
 * This file is the D-Bus side: the gate's table, argument checks, audit,
 * and the guarded handling of values in and out.  vault-store.c keeps the
 * encrypted files, vault-record.c the formats.  Every value that arrives is
 * copied into guarded memory and the message's copy is wiped at once;
 * every value that leaves goes out of guarded memory that is wiped when
 * GDBus has sent it. */
#include "anyd-build-config.h"
#include "anyd-dbus.h"
#include "audit.h"
#include "daemon.h"
#include "error.h"
#include "module.h"
#include "util.h"
#include "vault-store.h"

#define VAULT_PATH   "/org/anyd1/vault"
#define VAULT_IFACE  "org.anyd1.Vault"
#define ANYD_ACTION_VAULT_READ        "org.anyd1.vault.read"
#define ANYD_ACTION_VAULT_WRITE       "org.anyd1.vault.write"
#define ANYD_ACTION_VAULT_USE_KEY     "org.anyd1.vault.use-key"
#define ANYD_ACTION_VAULT_MANAGE_KEYS "org.anyd1.vault.manage-keys"

static const AnydConfigKey vault_config_keys[] = {
  { "vault", "max_value_size", ANYD_CONFIG_UINT, "65536",
    "largest secret value Put and Rotate accept, in bytes", 16 * 1024 * 1024 },
  { "vault", "max_data_size", ANYD_CONFIG_UINT, "1048576",
    "largest plaintext, ciphertext, associated data or data Encrypt, Decrypt and Sign accept, in bytes",
    64 * 1024 * 1024 },
  { "vault", "versions_kept", ANYD_CONFIG_UINT, "10",
    "versions of each secret kept; Rotate drops older ones (key versions are all kept)", 1000 },
  { NULL }
};

/* Details: the secret's or key's name (never a value), "" for the lists. */
static const AnydAuthRule vault_auth_rules[] = {
  { VAULT_IFACE, "Put",          ANYD_ACTION_VAULT_WRITE,     "secret", 0,  NULL },
  { VAULT_IFACE, "Get",          ANYD_ACTION_VAULT_READ,      "secret", 0,  NULL },
  { VAULT_IFACE, "Rotate",       ANYD_ACTION_VAULT_WRITE,     "secret", 0,  NULL },
  { VAULT_IFACE, "Delete",       ANYD_ACTION_VAULT_WRITE,     "secret", 0,  NULL },
  { VAULT_IFACE, "List",         ANYD_ACTION_VAULT_READ,      NULL,     -1, "secret=" },
  { VAULT_IFACE, "CreateKey",    ANYD_ACTION_VAULT_MANAGE_KEYS,      "key",    0,  NULL },
  { VAULT_IFACE, "Encrypt",      ANYD_ACTION_VAULT_USE_KEY,       "key",    0,  NULL },
  { VAULT_IFACE, "Decrypt",      ANYD_ACTION_VAULT_USE_KEY,       "key",    0,  NULL },
  { VAULT_IFACE, "Sign",         ANYD_ACTION_VAULT_USE_KEY,       "key",    0,  NULL },
  { VAULT_IFACE, "GetPublicKey", ANYD_AUTH_PUBLIC, NULL,     -1, NULL },
  { VAULT_IFACE, "RotateKey",    ANYD_ACTION_VAULT_MANAGE_KEYS,      "key",    0,  NULL },
  { VAULT_IFACE, "DeleteKey",    ANYD_ACTION_VAULT_MANAGE_KEYS,      "key",    0,  NULL },
  { VAULT_IFACE, "ListKeys",     ANYD_ACTION_VAULT_USE_KEY,       NULL,     -1, "key=" },
  ANYD_AUTH_RULES_END
};

static const AnydOptionSpec put_options[] = {
  { "content_type", "s" },
  { NULL }
};

static const AnydOptionSpec get_options[] = {
  { "version", "u" },
  { NULL }
};

typedef struct {
  AnydDaemon             *daemon;
  VaultStore             *store;
  AnydDBusVault          *vault;
  AnydDBusObjectSkeleton *object;
  guint                   max_value_size;
  guint                   max_data_size;
  GHashTable             *creating;      /* "S:name" / "K:name" being created ([limits]) */
} VaultModule;

/* ------------------------------------------------------------------ helpers */

/* The audit's object: "secret:db/password"; a bad name is not repeated. */
static char *
audit_object (const char *kind, const char *name)
{
  if (!vault_name_check (name, "name", NULL))
    return g_strdup_printf ("%s:(invalid name)", kind);
  return g_strdup_printf ("%s:%s", kind, name);
}

/* Audit the outcome (never a value), then answer with error. */
static gboolean
fail (GDBusMethodInvocation *invocation, const char *action, const char *object, GError *error)
{
  anyd_audit_action (anyd_caller_from_invocation (invocation), action, object, error, NULL);
  anyd_invocation_return_error (invocation, error);
  return TRUE;
}

static gboolean
check_size (GVariant *bytes, guint max, const char *field, const char *key, GError **error)
{
  gsize len = g_variant_get_size (bytes);

  if (len <= max)
    return TRUE;
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
               "%s: %" G_GSIZE_FORMAT " bytes is over the limit of %u ([vault] %s)", field, len, max, key);
  return FALSE;
}

static const guint8 *
bytes_of (GVariant *bytes, gsize *len)
{
  return g_variant_get_fixed_array (bytes, len, 1);
}

/* The message's copy of a secret value into guarded memory; the message's
 * copy is wiped. */
static VaultBuf *
take_value (GVariant *bytes)
{
  gsize len;
  const guint8 *data = bytes_of (bytes, &len);
  VaultBuf *buf = vault_buf_new_from (data, len);

  vault_variant_wipe (bytes);
  return buf;
}

/* ------------------------------------------------------------------ writes */

typedef struct {
  VaultModule           *m;
  GDBusMethodInvocation *invocation;
  const char            *action;
  char                  *object;
  gboolean               returns_version;
  char                  *creating;      /* key in m->creating: a new entry counted for quota_uid */
  guint32                quota_uid;
  gboolean               releases;      /* a delete: on success, quota_uid holds one fewer */
} WriteCall;

static WriteCall *
write_call_new (VaultModule *m, GDBusMethodInvocation *invocation, const char *action,
                const char *object, gboolean returns_version)
{
  WriteCall *c = g_new0 (WriteCall, 1);

  c->m = m;
  c->invocation = invocation;
  c->action = action;
  c->object = g_strdup (object);
  c->returns_version = returns_version;
  /* A queued write keeps the daemon from idle exit until it is answered. */
  anyd_daemon_hold (m->daemon);
  return c;
}

static void
write_done (guint32 version, const GError *error, gpointer user_data)
{
  WriteCall *c = user_data;
  AnydCaller *caller = anyd_caller_from_invocation (c->invocation);

  if (error != NULL)
    {
      anyd_audit_action (caller, c->action, c->object, error, NULL);
      anyd_invocation_return_error (c->invocation, g_error_copy (error));
    }
  else if (c->returns_version)
    {
      anyd_audit_action (caller, c->action, c->object, NULL, "version %u", version);
      g_dbus_method_invocation_return_value (c->invocation, g_variant_new ("(u)", version));
    }
  else
    {
      anyd_audit_action (caller, c->action, c->object, NULL, NULL);
      g_dbus_method_invocation_return_value (c->invocation, NULL);
    }
  if (c->creating != NULL)
    {
      g_hash_table_remove (c->m->creating, c->creating);
      if (error != NULL)
        anyd_limits_release (anyd_daemon_get_limits (c->m->daemon), c->quota_uid, "vault");
    }
  if (c->releases && error == NULL)
    anyd_limits_release (anyd_daemon_get_limits (c->m->daemon), c->quota_uid, "vault");
  anyd_daemon_release (c->m->daemon);
  g_free (c->creating);
  g_free (c->object);
  g_free (c);
}

/* [limits] max_vault_entries_per_uid: a write that creates an entry counts
 * for its caller until the entry is deleted (or the write fails). */
static gboolean
quota_create (VaultModule *m, VaultKind kind, const char *name, guint32 uid, char **creating, GError **error)
{
  g_autofree char *key = g_strdup_printf ("%c:%s", kind, name);

  if (vault_store_get_creator (m->store, kind, name, NULL) || g_hash_table_contains (m->creating, key))
    return TRUE;   /* a new version, or a create that will fail with Exists */
  if (!anyd_limits_acquire (anyd_daemon_get_limits (m->daemon), uid, "vault", error))
    return FALSE;
  g_hash_table_add (m->creating, g_strdup (key));
  *creating = g_steal_pointer (&key);
  return TRUE;
}

static WriteCall *
quota_delete (VaultModule *m, VaultKind kind, const char *name, WriteCall *c)
{
  c->releases = vault_store_get_creator (m->store, kind, name, &c->quota_uid);
  return c;
}

static void
charge_entry (guint32 uid, gpointer data)
{
  anyd_limits_charge (data, uid, "vault");
}

static gboolean
handle_put (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
            GVariant *value, GVariant *options, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("secret", name);
  g_autofree char *creating = NULL;
  const char *content_type = NULL;
  guint32 uid = anyd_caller_from_invocation (invocation)->uid;
  WriteCall *c;

  if (!vault_name_check (name, "name", &error) ||
      !anyd_options_check (options, put_options, "options", &error) ||
      (g_variant_lookup (options, "content_type", "&s", &content_type) &&
       !vault_content_type_check (content_type, &error)) ||
      !check_size (value, m->max_value_size, "value", "max_value_size", &error))
    {
      vault_variant_wipe (value);
      return fail (invocation, "vault.put", object, g_steal_pointer (&error));
    }
  if (!quota_create (m, VAULT_KIND_SECRET, name, uid, &creating, &error))
    {
      vault_variant_wipe (value);
      return fail (invocation, "vault.put", object, g_steal_pointer (&error));
    }
  c = write_call_new (m, invocation, "vault.put", object, TRUE);
  c->creating = g_steal_pointer (&creating);
  c->quota_uid = uid;
  vault_store_put (m->store, name, take_value (value), content_type, uid, write_done, c);
  return TRUE;
}

static gboolean
handle_rotate (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
               GVariant *value, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("secret", name);

  if (!vault_name_check (name, "name", &error) ||
      !check_size (value, m->max_value_size, "value", "max_value_size", &error))
    {
      vault_variant_wipe (value);
      return fail (invocation, "vault.rotate", object, g_steal_pointer (&error));
    }
  vault_store_rotate (m->store, name, take_value (value), anyd_caller_from_invocation (invocation)->uid,
                      write_done, write_call_new (m, invocation, "vault.rotate", object, TRUE));
  return TRUE;
}

static gboolean
handle_delete (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
               VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("secret", name);

  if (!vault_name_check (name, "name", &error))
    return fail (invocation, "vault.delete", object, g_steal_pointer (&error));
  vault_store_delete (m->store, name, write_done,
                      quota_delete (m, VAULT_KIND_SECRET, name,
                                    write_call_new (m, invocation, "vault.delete", object, FALSE)));
  return TRUE;
}

static gboolean
handle_create_key (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
                   const char *type, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("key", name);
  g_autofree char *creating = NULL;
  guint32 uid = anyd_caller_from_invocation (invocation)->uid;
  VaultKeyType key_type;
  WriteCall *c;

  if (!vault_name_check (name, "name", &error))
    return fail (invocation, "vault.create-key", object, g_steal_pointer (&error));
  if (!vault_key_type_from_string (type, &key_type))
    {
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "type: must be 'aead' (XChaCha20-Poly1305) or 'sign' (Ed25519)");
      return fail (invocation, "vault.create-key", object, g_steal_pointer (&error));
    }
  if (!quota_create (m, VAULT_KIND_KEY, name, uid, &creating, &error))
    return fail (invocation, "vault.create-key", object, g_steal_pointer (&error));
  c = write_call_new (m, invocation, "vault.create-key", object, FALSE);
  c->creating = g_steal_pointer (&creating);
  c->quota_uid = uid;
  vault_store_create_key (m->store, name, key_type, uid, write_done, c);
  return TRUE;
}

static gboolean
handle_rotate_key (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
                   VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("key", name);

  if (!vault_name_check (name, "key", &error))
    return fail (invocation, "vault.rotate-key", object, g_steal_pointer (&error));
  vault_store_rotate_key (m->store, name, anyd_caller_from_invocation (invocation)->uid, write_done,
                          write_call_new (m, invocation, "vault.rotate-key", object, FALSE));
  return TRUE;
}

static gboolean
handle_delete_key (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
                   VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("key", name);

  if (!vault_name_check (name, "key", &error))
    return fail (invocation, "vault.delete-key", object, g_steal_pointer (&error));
  vault_store_delete_key (m->store, name, write_done,
                          quota_delete (m, VAULT_KIND_KEY, name,
                                        write_call_new (m, invocation, "vault.delete-key", object, FALSE)));
  return TRUE;
}

/* ------------------------------------------------------------------ reads */

static gboolean
handle_get (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *name,
            GVariant *options, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("secret", name);
  guint32 version = 0, got = 0;
  VaultBuf *value;

  if (!vault_name_check (name, "name", &error) ||
      !anyd_options_check (options, get_options, "options", &error))
    return fail (invocation, "vault.get", object, g_steal_pointer (&error));
  if (g_variant_lookup (options, "version", "u", &version) && version == 0)
    {
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "options.version: must be 1 or more");
      return fail (invocation, "vault.get", object, g_steal_pointer (&error));
    }
  value = vault_store_get (m->store, name, version, &got, &error);
  if (value == NULL)
    return fail (invocation, "vault.get", object, g_steal_pointer (&error));
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vault.get", object, NULL, "version %u", got);
  anyd_dbus_vault_complete_get (vault, invocation, vault_buf_to_variant (value));
  return TRUE;
}

static gboolean
handle_list (AnydDBusVault *vault, GDBusMethodInvocation *invocation, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  GVariant *list = vault_store_list (m->store, &error);

  if (list == NULL)
    return fail (invocation, "vault.list", NULL, g_steal_pointer (&error));
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vault.list", NULL, NULL,
                     "%" G_GSIZE_FORMAT " secrets", g_variant_n_children (list));
  anyd_dbus_vault_complete_list (vault, invocation, list);
  return TRUE;
}

static gboolean
handle_list_keys (AnydDBusVault *vault, GDBusMethodInvocation *invocation, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  GVariant *list = vault_store_list_keys (m->store, &error);

  if (list == NULL)
    return fail (invocation, "vault.list-keys", NULL, g_steal_pointer (&error));
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vault.list-keys", NULL, NULL,
                     "%" G_GSIZE_FORMAT " keys", g_variant_n_children (list));
  anyd_dbus_vault_complete_list_keys (vault, invocation, list);
  return TRUE;
}

static gboolean
handle_encrypt (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *key,
                GVariant *plaintext, GVariant *aad, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("key", key);
  g_autoptr(GBytes) ct = NULL;
  const guint8 *pt, *ad;
  gsize pt_len, ad_len;
  guint32 version = 0;

  if (vault_name_check (key, "key", &error) &&
      check_size (plaintext, m->max_data_size, "plaintext", "max_data_size", &error) &&
      check_size (aad, m->max_data_size, "aad", "max_data_size", &error))
    {
      pt = bytes_of (plaintext, &pt_len);
      ad = bytes_of (aad, &ad_len);
      ct = vault_store_encrypt (m->store, key, pt, pt_len, ad, ad_len, &version, &error);
    }
  vault_variant_wipe (plaintext);
  if (ct == NULL)
    return fail (invocation, "vault.encrypt", object, g_steal_pointer (&error));
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vault.encrypt", object, NULL,
                     "key version %u", version);
  anyd_dbus_vault_complete_encrypt (vault, invocation,
                                    g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, ct, TRUE));
  return TRUE;
}

static gboolean
handle_decrypt (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *key,
                GVariant *ciphertext, GVariant *aad, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("key", key);
  VaultBuf *plain = NULL;
  const guint8 *ct, *ad;
  gsize ct_len, ad_len;
  guint32 version = 0;

  if (vault_name_check (key, "key", &error) &&
      check_size (ciphertext, m->max_data_size + VAULT_CT_OVERHEAD, "ciphertext", "max_data_size", &error) &&
      check_size (aad, m->max_data_size, "aad", "max_data_size", &error))
    {
      ct = bytes_of (ciphertext, &ct_len);
      ad = bytes_of (aad, &ad_len);
      plain = vault_store_decrypt (m->store, key, ct, ct_len, ad, ad_len, &version, &error);
    }
  if (plain == NULL)
    return fail (invocation, "vault.decrypt", object, g_steal_pointer (&error));
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vault.decrypt", object, NULL,
                     "key version %u", version);
  anyd_dbus_vault_complete_decrypt (vault, invocation, vault_buf_to_variant (plain));
  return TRUE;
}

static gboolean
handle_sign (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *key,
             GVariant *data, VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *object = audit_object ("key", key);
  g_autoptr(GBytes) sig = NULL;
  const guint8 *d;
  gsize len;
  guint32 version = 0;

  if (vault_name_check (key, "key", &error) &&
      check_size (data, m->max_data_size, "data", "max_data_size", &error))
    {
      d = bytes_of (data, &len);
      sig = vault_store_sign (m->store, key, d, len, &version, &error);
    }
  if (sig == NULL)
    return fail (invocation, "vault.sign", object, g_steal_pointer (&error));
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vault.sign", object, NULL,
                     "key version %u", version);
  anyd_dbus_vault_complete_sign (vault, invocation,
                                 g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, sig, TRUE));
  return TRUE;
}

/* Public and reveals nothing secret: not audited (anyone may call it). */
static gboolean
handle_get_public_key (AnydDBusVault *vault, GDBusMethodInvocation *invocation, const char *key,
                       VaultModule *m)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) pk = NULL;

  if (vault_name_check (key, "key", &error))
    pk = vault_store_get_public_key (m->store, key, &error);
  if (pk == NULL)
    {
      anyd_invocation_return_error (invocation, g_steal_pointer (&error));
      return TRUE;
    }
  anyd_dbus_vault_complete_get_public_key (vault, invocation,
                                           g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, pk, TRUE));
  return TRUE;
}

/* ------------------------------------------------------------------ lifetime */

static gboolean
vault_check_config (AnydConfig *config, GError **error)
{
  if (anyd_config_get_uint (config, "vault", "versions_kept") == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "[vault] versions_kept must be 1 or more");
      return FALSE;
    }
  return TRUE;
}

static void
vault_reload (gpointer instance, AnydConfig *config)
{
  VaultModule *m = instance;

  m->max_value_size = anyd_config_get_uint (config, "vault", "max_value_size");
  m->max_data_size = anyd_config_get_uint (config, "vault", "max_data_size");
  vault_store_set_versions_kept (m->store, anyd_config_get_uint (config, "vault", "versions_kept"));
}

static gpointer
vault_start (AnydDaemon *daemon, GError **error)
{
  VaultModule *m;
  g_autofree char *dir = NULL;

  if (sodium_init () < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "libsodium failed to initialise");
      return NULL;
    }
  dir = anyd_daemon_get_state_subdir (daemon, "vault", error);
  if (dir == NULL)
    return NULL;

  m = g_new0 (VaultModule, 1);
  m->daemon = daemon;
  m->store = vault_store_new (dir, g_getenv ("CREDENTIALS_DIRECTORY"), error);
  if (m->store == NULL)
    {
      g_free (m);
      return NULL;
    }
  vault_reload (m, anyd_daemon_get_config (daemon));
  m->creating = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  vault_store_foreach_creator (m->store, charge_entry, anyd_daemon_get_limits (daemon));

  m->vault = anyd_dbus_vault_skeleton_new ();
  /* The gate first, then the handlers. */
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (m->vault), NULL, NULL);
  g_signal_connect (m->vault, "handle-put", G_CALLBACK (handle_put), m);
  g_signal_connect (m->vault, "handle-get", G_CALLBACK (handle_get), m);
  g_signal_connect (m->vault, "handle-rotate", G_CALLBACK (handle_rotate), m);
  g_signal_connect (m->vault, "handle-delete", G_CALLBACK (handle_delete), m);
  g_signal_connect (m->vault, "handle-list", G_CALLBACK (handle_list), m);
  g_signal_connect (m->vault, "handle-create-key", G_CALLBACK (handle_create_key), m);
  g_signal_connect (m->vault, "handle-encrypt", G_CALLBACK (handle_encrypt), m);
  g_signal_connect (m->vault, "handle-decrypt", G_CALLBACK (handle_decrypt), m);
  g_signal_connect (m->vault, "handle-sign", G_CALLBACK (handle_sign), m);
  g_signal_connect (m->vault, "handle-get-public-key", G_CALLBACK (handle_get_public_key), m);
  g_signal_connect (m->vault, "handle-rotate-key", G_CALLBACK (handle_rotate_key), m);
  g_signal_connect (m->vault, "handle-delete-key", G_CALLBACK (handle_delete_key), m);
  g_signal_connect (m->vault, "handle-list-keys", G_CALLBACK (handle_list_keys), m);

  m->object = anyd_dbus_object_skeleton_new (VAULT_PATH);
  anyd_dbus_object_skeleton_set_vault (m->object, m->vault);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (m->object));
  return m;
}

static void
vault_stop (gpointer instance)
{
  VaultModule *m = instance;

  /* Finish (and answer) the write in progress before the object goes. */
  vault_store_free (m->store);
  g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (m->daemon), VAULT_PATH);
  g_clear_object (&m->object);
  g_clear_object (&m->vault);
  g_hash_table_unref (m->creating);
  g_free (m);
}

const AnydModule anyd_module_vault = {
  .name = "vault",
  .config_keys = vault_config_keys,
  .auth_rules = vault_auth_rules,
  .check_config = vault_check_config,
  .start = vault_start,
  .reload = vault_reload,
  .stop = vault_stop,
};
