/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client vault: secrets and keys that never leave the daemon.
 *
 * Values never come from the command line (ps would show them): they are
 * read from stdin or --file, byte for byte.  Binary results (get, encrypt,
 * decrypt, sign, public-key) go to stdout unchanged; with --json they are
 * base64 in a JSON object.  Buffers that held a value are wiped. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <anyd.h>

#include "common.h"

#define VAULT_PATH  "/org/anyd1/vault"

/* Command options (static storage, as GOption wants). */
static char *opt_file;
static char *opt_content_type;
static char *opt_aad;
static char *opt_aad_file;
static int opt_version;

static const GOptionEntry put_entries[] = {
  { "file", 'f', 0, G_OPTION_ARG_FILENAME, &opt_file, N_("Read the value from FILE instead of stdin"), N_("FILE") },
  { "content-type", 0, 0, G_OPTION_ARG_STRING, &opt_content_type,
    N_("Content type to record (default application/octet-stream)"), N_("TYPE") },
  { NULL }
};

static const GOptionEntry rotate_entries[] = {
  { "file", 'f', 0, G_OPTION_ARG_FILENAME, &opt_file, N_("Read the value from FILE instead of stdin"), N_("FILE") },
  { NULL }
};

static const GOptionEntry get_entries[] = {
  { "version", 0, 0, G_OPTION_ARG_INT, &opt_version, N_("Read this version (default: the newest)"), N_("N") },
  { NULL }
};

static const GOptionEntry crypt_entries[] = {
  { "file", 'f', 0, G_OPTION_ARG_FILENAME, &opt_file, N_("Read the input from FILE instead of stdin"), N_("FILE") },
  { "aad", 0, 0, G_OPTION_ARG_STRING, &opt_aad, N_("Associated data (authenticated, not secret)"), N_("TEXT") },
  { "aad-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_aad_file, N_("Read the associated data from FILE"), N_("FILE") },
  { NULL }
};

static const GOptionEntry sign_entries[] = {
  { "file", 'f', 0, G_OPTION_ARG_FILENAME, &opt_file, N_("Read the data from FILE instead of stdin"), N_("FILE") },
  { NULL }
};

/* ------------------------------------------------------------------ input */

static void
wipe_bytes (GBytes *bytes)
{
  gsize len = 0;
  const void *data = bytes ? g_bytes_get_data (bytes, &len) : NULL;

  if (data != NULL && len > 0)
    explicit_bzero ((void *) data, len);
}

static void
wipe_variant (GVariant *v)
{
  gsize len = 0;
  const void *data;

  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE_BYTESTRING))
    return;
  data = g_variant_get_fixed_array (v, &len, 1);
  if (len > 0)
    explicit_bzero ((void *) data, len);
}

/* A secret typed at a terminal: one line, not echoed, newline dropped. */
static GBytes *
read_hidden_line (const char *prompt, GError **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_new ();
  struct termios old, quiet;
  GBytes *line;
  guint8 c;

  if (tcgetattr (STDIN_FILENO, &old) < 0)
    return anyd_client_read_fd (STDIN_FILENO, 0, error);
  quiet = old;
  quiet.c_lflag &= ~(tcflag_t) ECHO;
  g_printerr ("%s", prompt);
  tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
  for (;;)
    {
      ssize_t n = read (STDIN_FILENO, &c, 1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0 || c == '\n')
        break;
      g_byte_array_append (buf, &c, 1);
    }
  tcsetattr (STDIN_FILENO, TCSAFLUSH, &old);
  g_printerr ("\n");
  line = g_bytes_new (buf->data, buf->len);
  explicit_bzero (buf->data, buf->len);
  c = 0;
  return line;
}

/* The value: --file, a hidden prompt on a terminal, or all of stdin. */
static GBytes *
read_input (const char *what, const char *name, GError **error)
{
  if (opt_file != NULL)
    {
      int fd = open (opt_file, O_RDONLY | O_CLOEXEC);
      GBytes *b;

      if (fd < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), _("cannot open %s: %s"),
                       opt_file, g_strerror (errsv));
          return NULL;
        }
      b = anyd_client_read_fd (fd, 0, error);
      close (fd);
      return b;
    }
  if (g_str_equal (what, "value") && isatty (STDIN_FILENO))
    {
      g_autofree char *prompt = g_strdup_printf (_("Value for “%s” (not shown): "), name);
      return read_hidden_line (prompt, error);
    }
  return anyd_client_read_fd (STDIN_FILENO, 0, error);
}

static GBytes *
read_aad (GError **error)
{
  if (opt_aad != NULL && opt_aad_file != NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, _("give --aad or --aad-file, not both"));
      return NULL;
    }
  if (opt_aad_file != NULL)
    {
      g_autofree char *data = NULL;
      gsize len;
      if (!g_file_get_contents (opt_aad_file, &data, &len, error))
        return NULL;
      return g_bytes_new_take (g_steal_pointer (&data), len);
    }
  return g_bytes_new (opt_aad ? opt_aad : "", opt_aad ? strlen (opt_aad) : 0);
}

static GVariant *
bytes_variant (GBytes *b)
{
  return g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, b, TRUE);
}

/* ------------------------------------------------------------------ output */

static gboolean
write_all (const guint8 *data, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n = write (STDOUT_FILENO, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), _("cannot write output: %s"),
                       g_strerror (errsv));
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* A binary result: raw bytes on stdout, or {"<field>": base64, …}. */
static int
print_binary (AnydClientContext *ctx, GVariant *value, const char *field, const char *key_field,
              const char *name)
{
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *data = g_variant_get_fixed_array (value, &len, 1);
  int rc = ANYD_CLIENT_EXIT_OK;

  if (ctx->json)
    {
      GVariantDict d;
      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, key_field, "s", name);
      g_variant_dict_insert_value (&d, field, value);
      {
        g_autoptr(GVariant) out = g_variant_ref_sink (g_variant_dict_end (&d));
        anyd_client_print_json (out);
      }
    }
  else if (!write_all (data, len, &error))
    rc = anyd_client_fail (ctx, error);
  wipe_variant (value);
  return rc;
}

static char *
describe_uid (AnydClientContext *ctx, guint32 uid)
{
  struct passwd *pw = ctx->host == NULL ? getpwuid (uid) : NULL;

  return pw ? g_strdup_printf ("%s (%u)", pw->pw_name, uid) : g_strdup_printf ("%u", uid);
}

/* ------------------------------------------------------------------ secrets */

static AnydVault *
vault_proxy (AnydClientContext *ctx, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_VAULT_PROXY, anyd_vault_interface_info (), VAULT_PATH, error);
}

/* One typed call on the Vault proxy vault (NULL: fails with error set). */
#define VAULT_CALL(method, ...)                                         \
  (vault != NULL &&                                                    \
   ANYD_CLIENT_TYPED_CALL (ctx, vault, &error,                         \
                           anyd_vault_call_##method##_sync (vault, __VA_ARGS__)))

static int
store_value (AnydClientContext *ctx, const char *name, gboolean with_options)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) value = read_input ("value", name, &error);
  g_autoptr(AnydVault) vault = NULL;
  g_autoptr(GVariant) data = NULL;
  g_autoptr(GVariant) options = NULL;
  GVariantBuilder opts;
  guint version = 0;
  gboolean ok;

  if (value == NULL)
    return anyd_client_fail (ctx, error);
  g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
  if (opt_content_type != NULL)
    g_variant_builder_add (&opts, "{sv}", "content_type", g_variant_new_string (opt_content_type));
  options = g_variant_ref_sink (g_variant_builder_end (&opts));
  data = g_variant_ref_sink (bytes_variant (value)); /* kept for a retry */
  vault = vault_proxy (ctx, &error);
  if (with_options)
    ok = VAULT_CALL (put, name, data, options, ANYD_CLIENT_CALL_ARGS (ctx), &version, NULL, &error);
  else
    ok = VAULT_CALL (rotate, name, data, ANYD_CLIENT_CALL_ARGS (ctx), &version, NULL, &error);
  wipe_bytes (value);
  if (!ok)
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (g_variant_new_parsed ("{'name': <%s>, 'version': <%u>}", name, version));
  else if (!ctx->quiet)
    g_print (_("%s: version %u\n"), name, version);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_put (AnydClientContext *ctx, int argc, char **argv)
{
  return store_value (ctx, argv[1], TRUE);
}

static int
cmd_rotate (AnydClientContext *ctx, int argc, char **argv)
{
  return store_value (ctx, argv[1], FALSE);
}

static int
cmd_get (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVault) vault = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autoptr(GVariant) value = NULL;
  GVariantBuilder opts;

  g_variant_builder_init (&opts, G_VARIANT_TYPE_VARDICT);
  if (opt_version < 0)
    {
      g_variant_builder_clear (&opts);
      return anyd_client_usage_error (ctx, _("--version must be 1 or more"));
    }
  if (opt_version > 0)
    g_variant_builder_add (&opts, "{sv}", "version", g_variant_new_uint32 ((guint32) opt_version));
  options = g_variant_ref_sink (g_variant_builder_end (&opts));
  vault = vault_proxy (ctx, &error);
  if (!VAULT_CALL (get, argv[1], options, ANYD_CLIENT_CALL_ARGS (ctx), &value, NULL, &error))
    return anyd_client_fail (ctx, error);
  return print_binary (ctx, value, "value", "name", argv[1]);
}

/* Calls without a result: Delete, CreateKey, RotateKey, DeleteKey. */
static int
simple_call (AnydClientContext *ctx, const char *method, const char *name, const char *type,
             const char *what)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVault) vault = vault_proxy (ctx, &error);
  gboolean ok;

  if (g_str_equal (method, "Delete"))
    ok = VAULT_CALL (delete, name, ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error);
  else if (g_str_equal (method, "CreateKey"))
    ok = VAULT_CALL (create_key, name, type, ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error);
  else if (g_str_equal (method, "RotateKey"))
    ok = VAULT_CALL (rotate_key, name, ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error);
  else if (g_str_equal (method, "DeleteKey"))
    ok = VAULT_CALL (delete_key, name, ANYD_CLIENT_CALL_ARGS (ctx), NULL, &error);
  else
    g_assert_not_reached ();
  if (!ok)
    return anyd_client_fail (ctx, error);
  /* a change: silent on success, JSON says what was done */
  if (ctx->json)
    {
      GVariantDict d;
      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, what, "s", name);
      anyd_client_print_json (g_variant_dict_end (&d));
    }
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_delete (AnydClientContext *ctx, int argc, char **argv)
{
  return simple_call (ctx, "Delete", argv[1], NULL, "deleted");
}

/* List's entries, (name, version, metadata), or NULL with @error set */
static GVariant *
list_secrets (AnydClientContext *ctx, GError **out_error)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVault) vault = vault_proxy (ctx, &error);
  GVariant *list = NULL;

  if (!VAULT_CALL (list, ANYD_CLIENT_CALL_ARGS (ctx), &list, NULL, &error))
    {
      g_propagate_error (out_error, g_steal_pointer (&error));
      return NULL;
    }
  return list;
}

/* A secret's JSON object: its metadata plus its name and version */
static GVariant *
secret_json (const char *name, guint32 version, GVariant *meta)
{
  GVariantDict d;

  g_variant_dict_init (&d, meta);
  g_variant_dict_insert (&d, "name", "s", name);
  g_variant_dict_insert (&d, "version", "u", version);
  return g_variant_dict_end (&d);
}

static int
cmd_list (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) list = NULL;
  g_autoptr(AnydClientTable) table = NULL;
  GVariantIter iter;
  const char *name;
  guint32 version;
  GVariant *meta;

  list = list_secrets (ctx, &error);
  if (list == NULL)
    return anyd_client_fail (ctx, error);

  if (ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
      g_variant_iter_init (&iter, list);
      while (g_variant_iter_next (&iter, "(&su@a{sv})", &name, &version, &meta))
        {
          g_variant_builder_add_value (&b, secret_json (name, version, meta));
          g_variant_unref (meta);
        }
      anyd_client_print_json (g_variant_builder_end (&b));
      return ANYD_CLIENT_EXIT_OK;
    }

  table = anyd_client_table_new (NC_("column", "NAME"), NC_("column", "VERSION"), NC_("column", "UPDATED"),
                                 NC_("column", "BY"), NC_("column", "CREATED"), NC_("column", "CONTENT TYPE"),
                                 NULL);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(&su@a{sv})", &name, &version, &meta))
    {
      guint64 created = 0, updated = 0;
      guint32 updated_by = 0;
      const char *ctype = "";
      g_autofree char *ver = g_strdup_printf ("%u", version);
      g_autofree char *upd = NULL, *cre = NULL, *by = NULL;

      g_variant_lookup (meta, "created", "t", &created);
      g_variant_lookup (meta, "updated", "t", &updated);
      g_variant_lookup (meta, "updated_by", "u", &updated_by);
      g_variant_lookup (meta, "content_type", "&s", &ctype);
      upd = anyd_client_format_timestamp (updated);
      cre = anyd_client_format_timestamp (created);
      by = describe_uid (ctx, updated_by);
      anyd_client_table_add_row (table, name, ver, upd, by, cre, ctype);
      g_variant_unref (meta);
    }
  if (anyd_client_table_get_n_rows (table) == 0)
    g_print ("%s\n", _("No secrets."));
  else
    anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

/* One secret's metadata (never its value), from List. */
static int
cmd_show (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) list = NULL;
  GVariantIter iter;
  const char *name;
  guint32 version;
  GVariant *meta;

  list = list_secrets (ctx, &error);
  if (list == NULL)
    return anyd_client_fail (ctx, error);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(&su@a{sv})", &name, &version, &meta))
    {
      g_autoptr(GVariant) owned = meta;
      g_autoptr(AnydClientTable) table = NULL;
      guint64 created = 0, updated = 0;
      guint32 created_by = G_MAXUINT32, updated_by = G_MAXUINT32;
      const char *ctype = NULL;
      g_autofree char *ver = NULL, *cre = NULL, *upd = NULL, *cby = NULL, *uby = NULL;

      if (!g_str_equal (name, argv[1]))
        continue;
      if (ctx->json)
        {
          anyd_client_print_json (secret_json (name, version, meta));
          return ANYD_CLIENT_EXIT_OK;
        }
      g_variant_lookup (meta, "created", "t", &created);
      g_variant_lookup (meta, "updated", "t", &updated);
      g_variant_lookup (meta, "created_by", "u", &created_by);
      g_variant_lookup (meta, "updated_by", "u", &updated_by);
      g_variant_lookup (meta, "content_type", "&s", &ctype);
      ver = g_strdup_printf ("%u", version);
      cre = anyd_client_format_timestamp (created);
      upd = anyd_client_format_timestamp (updated);
      cby = created_by != G_MAXUINT32 ? describe_uid (ctx, created_by) : NULL;
      uby = updated_by != G_MAXUINT32 ? describe_uid (ctx, updated_by) : NULL;
      table = anyd_client_table_new_plain (2);
      anyd_client_table_add_row (table, N_("Name:"), name);
      anyd_client_table_add_row (table, N_("Version:"), ver);
      anyd_client_table_add_row (table, N_("Created:"), cre);
      anyd_client_table_add_row (table, N_("Created by:"), cby);
      anyd_client_table_add_row (table, N_("Updated:"), upd);
      anyd_client_table_add_row (table, N_("Updated by:"), uby);
      anyd_client_table_add_row (table, N_("Content type:"), ctype && *ctype ? ctype : NULL);
      anyd_client_table_print (table);
      return ANYD_CLIENT_EXIT_OK;
    }
  g_set_error (&error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, _("no secret '%s'"), argv[1]);
  return anyd_client_fail (ctx, error);
}

/* ------------------------------------------------------------------ keys */

static int
cmd_create_key (AnydClientContext *ctx, int argc, char **argv)
{
  return simple_call (ctx, "CreateKey", argv[1], argc > 2 ? argv[2] : "aead", "created");
}

static int
cmd_rotate_key (AnydClientContext *ctx, int argc, char **argv)
{
  return simple_call (ctx, "RotateKey", argv[1], NULL, "rotated");
}

static int
cmd_delete_key (AnydClientContext *ctx, int argc, char **argv)
{
  return simple_call (ctx, "DeleteKey", argv[1], NULL, "deleted");
}

static int
crypt_call (AnydClientContext *ctx, const char *method, const char *key, const char *field)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) aad = read_aad (&error);
  g_autoptr(GBytes) input = NULL;
  g_autoptr(AnydVault) vault = NULL;
  g_autoptr(GVariant) data = NULL;
  g_autoptr(GVariant) aad_data = NULL;
  g_autoptr(GVariant) result = NULL;
  gboolean ok;

  if (aad == NULL)
    return anyd_client_fail (ctx, error);
  input = read_input ("data", key, &error);
  if (input == NULL)
    return anyd_client_fail (ctx, error);
  data = g_variant_ref_sink (bytes_variant (input)); /* kept for a retry */
  aad_data = g_variant_ref_sink (bytes_variant (aad));
  vault = vault_proxy (ctx, &error);
  if (g_str_equal (method, "Encrypt"))
    ok = VAULT_CALL (encrypt, key, data, aad_data, ANYD_CLIENT_CALL_ARGS (ctx), &result, NULL, &error);
  else
    ok = VAULT_CALL (decrypt, key, data, aad_data, ANYD_CLIENT_CALL_ARGS (ctx), &result, NULL, &error);
  wipe_bytes (input);
  if (!ok)
    return anyd_client_fail (ctx, error);
  return print_binary (ctx, result, field, "key", key);
}

static int
cmd_encrypt (AnydClientContext *ctx, int argc, char **argv)
{
  return crypt_call (ctx, "Encrypt", argv[1], "ciphertext");
}

static int
cmd_decrypt (AnydClientContext *ctx, int argc, char **argv)
{
  return crypt_call (ctx, "Decrypt", argv[1], "plaintext");
}

static int
cmd_sign (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) input = read_input ("data", argv[1], &error);
  g_autoptr(AnydVault) vault = NULL;
  g_autoptr(GVariant) data = NULL;
  g_autoptr(GVariant) signature = NULL;

  if (input == NULL)
    return anyd_client_fail (ctx, error);
  data = g_variant_ref_sink (bytes_variant (input)); /* kept for a retry */
  vault = vault_proxy (ctx, &error);
  if (!VAULT_CALL (sign, argv[1], data, ANYD_CLIENT_CALL_ARGS (ctx), &signature, NULL, &error))
    return anyd_client_fail (ctx, error);
  return print_binary (ctx, signature, "signature", "key", argv[1]);
}

static int
cmd_public_key (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVault) vault = vault_proxy (ctx, &error);
  g_autoptr(GVariant) public_key = NULL;

  if (!VAULT_CALL (get_public_key, argv[1], ANYD_CLIENT_CALL_ARGS (ctx), &public_key, NULL, &error))
    return anyd_client_fail (ctx, error);
  return print_binary (ctx, public_key, "public_key", "key", argv[1]);
}

static int
cmd_list_keys (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydVault) vault = NULL;
  g_autoptr(GVariant) list = NULL;
  g_autoptr(AnydClientTable) table = NULL;
  GVariantIter iter;
  const char *name, *type;
  guint32 version;

  vault = vault_proxy (ctx, &error);
  if (!VAULT_CALL (list_keys, ANYD_CLIENT_CALL_ARGS (ctx), &list, NULL, &error))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
      g_variant_iter_init (&iter, list);
      while (g_variant_iter_next (&iter, "(&s&su)", &name, &type, &version))
        g_variant_builder_add_parsed (&b, "{'name': <%s>, 'type': <%s>, 'version': <%u>}",
                                      name, type, version);
      anyd_client_print_json (g_variant_builder_end (&b));
      return ANYD_CLIENT_EXIT_OK;
    }
  table = anyd_client_table_new (NC_("column", "NAME"), NC_("column", "TYPE"), NC_("column", "VERSION"), NULL);
  g_variant_iter_init (&iter, list);
  while (g_variant_iter_next (&iter, "(&s&su)", &name, &type, &version))
    {
      g_autofree char *ver = g_strdup_printf ("%u", version);
      anyd_client_table_add_row (table, name, type, ver);
    }
  if (anyd_client_table_get_n_rows (table) == 0)
    g_print ("%s\n", _("No keys."));
  else
    anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

static const AnydClientCommand vault_commands[] = {
  { "put", N_("NAME"), N_("Store a new secret; the value is read from stdin or --file"),
    cmd_put, 1, 1, put_entries },
  { "get", N_("NAME"), N_("Write a secret's value to stdout (binary as is)"),
    cmd_get, 1, 1, get_entries },
  { "rotate", N_("NAME"), N_("Store a new version of a secret (value from stdin or --file)"),
    cmd_rotate, 1, 1, rotate_entries },
  { "delete", N_("NAME"), N_("Delete a secret and all its versions"), cmd_delete, 1, 1 },
  { "list", NULL, N_("List secrets: names, versions, metadata (never values)"), cmd_list, 0, 0 },
  { "show", N_("NAME"), N_("Show a secret's metadata: version, who and when, content type (never the value)"),
    cmd_show, 1, 1 },
  { "create-key", N_("NAME [aead|sign]"),
    N_("Create a key that never leaves the daemon: aead (XChaCha20-Poly1305, default) or sign (Ed25519)"),
    cmd_create_key, 1, 2 },
  { "encrypt", N_("KEY"), N_("Encrypt stdin or --file with an aead key; ciphertext to stdout"),
    cmd_encrypt, 1, 1, crypt_entries },
  { "decrypt", N_("KEY"), N_("Decrypt stdin or --file with an aead key; plaintext to stdout"),
    cmd_decrypt, 1, 1, crypt_entries },
  { "sign", N_("KEY"), N_("Sign stdin or --file with a sign key; 64-byte signature to stdout"),
    cmd_sign, 1, 1, sign_entries },
  { "public-key", N_("KEY"), N_("Write a sign key's 32-byte Ed25519 public key to stdout"),
    cmd_public_key, 1, 1 },
  { "rotate-key", N_("KEY"), N_("Add a new key version (old ciphertexts still decrypt)"),
    cmd_rotate_key, 1, 1 },
  { "delete-key", N_("KEY"), N_("Delete a key: what it encrypted can no longer be decrypted"),
    cmd_delete_key, 1, 1 },
  { "list-keys", NULL, N_("List keys: name, type, newest version"), cmd_list_keys, 0, 0 },
  { NULL }
};

const AnydClientGroup anyd_client_group_vault = {
  .name = "vault",
  .summary = N_("Secrets and keys kept by the daemon (values from stdin, never the command line)"),
  .commands = vault_commands,
  .default_command = "list",
};
