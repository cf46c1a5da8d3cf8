/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GTest: the vault's formats (service/modules/vault/vault-record.c) —
 * names, record encode/decode, sealing, Encrypt/Decrypt — and the fuzz
 * corpus (tests/vault/corpus/) run through the fuzz entry points, so every
 * build exercises the parsers the libFuzzer targets fuzz.
 *
 *   vault-record-test --write-corpus DIR   writes the seed files */
#include "anyd-build-config.h"
#include "error.h"
#include "vault-fuzz.h"
#include "vault-record.h"

#include <string.h>
#include <glib/gstdio.h>

/* ------------------------------------------------------------------ helpers */

static VaultRecord *
sample_record (VaultKind kind, guint n_versions)
{
  VaultRecord *r = vault_record_new (kind, "db/password");
  static const guint8 material[64] = { 1, 2, 3 };

  r->content_type = g_strdup ("text/plain");
  r->key_type = VAULT_KEY_SIGN;
  r->created = G_GUINT64_CONSTANT (1700000000000000);
  r->created_by = 1000;
  for (guint i = 0; i < n_versions; i++)
    {
      VaultVersion v = { i * 3 + 1, r->created + i, 1000 + i, NULL, 0 };
      if (kind == VAULT_KIND_SECRET)
        {
          v.value = (const guint8 *) "value\0with\0nul" + (i % 3);
          v.len = 14 - (i % 3);
        }
      else
        {
          v.value = material;
          v.len = sizeof material;
        }
      g_array_append_val (r->versions, v);
    }
  return r;
}

static GBytes *
encode_bytes (const VaultRecord *r)
{
  g_autoptr(VaultBuf) b = vault_record_encode (r);
  return g_bytes_new (b->data, b->len);
}

static VaultRecord *
decode_bytes (VaultKind kind, const void *data, gsize len, GError **error)
{
  return vault_record_decode (kind, vault_buf_new_from (data, len), error);
}

/* ------------------------------------------------------------------ names */

static void
test_names (void)
{
  const char *good[] = { "a", "db/password", "A-Z_0.9", "a/b/c", "..a", "a..", ".x/y.", "...", NULL };
  const char *bad[] = { "", "/", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", "a b", "a\tb",
                        "a\nb", "é", "a:b", "a\\b", "*", "a/.", NULL };
  g_autofree char *longest = g_strnfill (255, 'x');
  g_autofree char *too_long = g_strnfill (256, 'x');

  for (guint i = 0; good[i]; i++)
    g_assert_true (vault_name_check (good[i], "name", NULL));
  g_assert_true (vault_name_check (longest, "name", NULL));
  for (guint i = 0; bad[i]; i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (vault_name_check (bad[i], "key", &error));
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "key: "));
    }
  g_assert_false (vault_name_check (too_long, "name", NULL));
  g_assert_false (vault_name_check (NULL, "name", NULL));

  g_assert_true (vault_content_type_check ("text/plain; charset=utf-8", NULL));
  g_assert_false (vault_content_type_check ("", NULL));
  g_assert_false (vault_content_type_check ("a\nb", NULL));
  g_assert_false (vault_content_type_check ("\xc3\xa9", NULL));
}

static void
test_name_id (void)
{
  guint8 key[VAULT_KEY_LEN] = { 7 }, key2[VAULT_KEY_LEN] = { 8 };
  guint8 a[VAULT_ID_LEN], b[VAULT_ID_LEN], c[VAULT_ID_LEN], d[VAULT_ID_LEN];

  vault_name_id (key, VAULT_KIND_SECRET, "db/password", a);
  vault_name_id (key, VAULT_KIND_KEY, "db/password", b);
  vault_name_id (key2, VAULT_KIND_SECRET, "db/password", c);
  vault_name_id (key, VAULT_KIND_SECRET, "db/password", d);
  g_assert_true (memcmp (a, b, VAULT_ID_LEN) != 0);
  g_assert_true (memcmp (a, c, VAULT_ID_LEN) != 0);
  g_assert_true (memcmp (a, d, VAULT_ID_LEN) == 0);
}

/* ------------------------------------------------------------------ records */

static void
test_record_round_trip (void)
{
  for (VaultKind kind = VAULT_KIND_SECRET; kind != 0; kind = kind == VAULT_KIND_SECRET ? VAULT_KIND_KEY : 0)
    for (guint n = 1; n <= 4; n++)
      {
        g_autoptr(VaultRecord) r = sample_record (kind, n);
        g_autoptr(GBytes) enc = encode_bytes (r);
        g_autoptr(GError) error = NULL;
        gsize len;
        const guint8 *data = g_bytes_get_data (enc, &len);
        g_autoptr(VaultRecord) back = decode_bytes (kind, data, len, &error);
        g_autoptr(GBytes) again = NULL;

        g_assert_no_error (error);
        g_assert_cmpstr (back->name, ==, r->name);
        g_assert_cmpuint (back->created, ==, r->created);
        g_assert_cmpuint (back->created_by, ==, r->created_by);
        g_assert_cmpuint (back->versions->len, ==, n);
        if (kind == VAULT_KIND_SECRET)
          g_assert_cmpstr (back->content_type, ==, "text/plain");
        else
          g_assert_cmpint (back->key_type, ==, VAULT_KEY_SIGN);
        for (guint i = 0; i < n; i++)
          {
            VaultVersion *x = &g_array_index (r->versions, VaultVersion, i);
            VaultVersion *y = &g_array_index (back->versions, VaultVersion, i);
            g_assert_cmpuint (x->version, ==, y->version);
            g_assert_cmpmem (x->value, x->len, y->value, y->len);
          }
        g_assert_cmpuint (vault_record_newest (back)->version, ==, (n - 1) * 3 + 1);
        g_assert_nonnull (vault_record_find (back, 1));
        g_assert_null (vault_record_find (back, 2));
        again = encode_bytes (back);
        g_assert_true (g_bytes_equal (enc, again));
      }
}

static void
assert_corrupt (VaultKind kind, const guint8 *data, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VaultRecord) r = decode_bytes (kind, data, len, &error);

  g_assert_null (r);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, "entry is corrupt"));
}

static void
test_record_malformed (void)
{
  g_autoptr(VaultRecord) r = sample_record (VAULT_KIND_SECRET, 2);
  g_autoptr(GBytes) enc = encode_bytes (r);
  gsize len;
  const guint8 *data = g_bytes_get_data (enc, &len);
  g_autofree guint8 *copy = g_malloc (len + 1);

  memcpy (copy, data, len);
  /* every truncation, and one trailing byte */
  for (gsize i = 0; i < len; i++)
    assert_corrupt (VAULT_KIND_SECRET, data, i);
  copy[len] = 0;
  assert_corrupt (VAULT_KIND_SECRET, copy, len + 1);
  /* a secret record is not a key record */
  assert_corrupt (VAULT_KIND_KEY, data, len);
  assert_corrupt (VAULT_KIND_META, data, len);

  /* versions out of order, version 0, no versions */
  {
    g_autoptr(VaultRecord) bad = sample_record (VAULT_KIND_SECRET, 2);
    g_autoptr(GBytes) b = NULL;
    g_array_index (bad->versions, VaultVersion, 1).version = 1;
    b = encode_bytes (bad);
    assert_corrupt (VAULT_KIND_SECRET, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  }
  {
    g_autoptr(VaultRecord) bad = sample_record (VAULT_KIND_SECRET, 1);
    g_autoptr(GBytes) b = NULL;
    g_array_index (bad->versions, VaultVersion, 0).version = 0;
    b = encode_bytes (bad);
    assert_corrupt (VAULT_KIND_SECRET, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  }
  {
    g_autoptr(VaultRecord) bad = sample_record (VAULT_KIND_SECRET, 0);
    g_autoptr(GBytes) b = encode_bytes (bad);
    assert_corrupt (VAULT_KIND_SECRET, g_bytes_get_data (b, NULL), g_bytes_get_size (b));
  }
  /* a bad name, a NUL in the name, an unknown key type */
  memcpy (copy, data, len);
  copy[2] = '/';
  assert_corrupt (VAULT_KIND_SECRET, copy, len);
  copy[2] = '\0';
  assert_corrupt (VAULT_KIND_SECRET, copy, len);
  {
    g_autoptr(VaultRecord) k = sample_record (VAULT_KIND_KEY, 1);
    g_autoptr(GBytes) b = encode_bytes (k);
    g_autofree guint8 *kc = g_memdup2 (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
    kc[2 + strlen ("db/password")] = 9;
    assert_corrupt (VAULT_KIND_KEY, kc, g_bytes_get_size (b));
  }
  /* a length field pointing far past the end */
  memcpy (copy, data, len);
  copy[len - 13 - 4 + 3] = 0x7f;   /* the last value length (13) gets a high byte */
  assert_corrupt (VAULT_KIND_SECRET, copy, len);
}

/* ------------------------------------------------------------------ envelope */

static void
test_envelope (void)
{
  guint8 key[VAULT_KEY_LEN], other[VAULT_KEY_LEN], id[VAULT_ID_LEN], id2[VAULT_ID_LEN];
  g_autoptr(VaultBuf) plain = vault_buf_new_from ("some record bytes", 17);
  g_autoptr(GBytes) sealed = NULL;
  gsize len;
  const guint8 *data;
  g_autofree guint8 *copy = NULL;

  randombytes_buf (key, sizeof key);
  randombytes_buf (other, sizeof other);
  randombytes_buf (id, sizeof id);
  memcpy (id2, id, sizeof id);
  id2[0] ^= 1;
  sealed = vault_envelope_seal (VAULT_KIND_SECRET, id, key, plain);
  data = g_bytes_get_data (sealed, &len);
  g_assert_cmpuint (len, ==, 17 + VAULT_RECORD_OVERHEAD);
  g_assert_cmpmem (data, 6, "AVLT\x01S", 6);
  g_assert_null (memmem (data, len, "some record", 11));

  {
    g_autoptr(VaultBuf) back = vault_envelope_open (VAULT_KIND_SECRET, id, key, data, len, NULL);
    g_assert_nonnull (back);
    g_assert_cmpmem (back->data, back->len, plain->data, plain->len);
  }

  /* wrong id (a file under another name), kind, key; each flipped bit; truncated */
  {
    g_autoptr(GError) error = NULL;
    g_assert_null (vault_envelope_open (VAULT_KIND_SECRET, id2, key, data, len, &error));
    g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
    g_assert_true (g_str_has_prefix (error->message, "entry is corrupt"));
  }
  g_assert_null (vault_envelope_open (VAULT_KIND_KEY, id, key, data, len, NULL));
  g_assert_null (vault_envelope_open (VAULT_KIND_SECRET, id, other, data, len, NULL));
  copy = g_memdup2 (data, len);
  for (gsize i = 0; i < len; i++)
    for (guint bit = 0; bit < 8; bit += 3)
      {
        g_autoptr(GError) error = NULL;
        copy[i] ^= (guint8) (1 << bit);
        g_assert_null (vault_envelope_open (VAULT_KIND_SECRET, id, key, copy, len, &error));
        g_assert_true (g_str_has_prefix (error->message, "entry is corrupt"));
        copy[i] ^= (guint8) (1 << bit);
      }
  for (gsize i = 0; i < len; i++)
    g_assert_null (vault_envelope_open (VAULT_KIND_SECRET, id, key, data, i, NULL));
}

static void
test_meta (void)
{
  g_autoptr(VaultBuf) m = vault_meta_encode (42);
  guint64 created = 0;
  g_autoptr(VaultBuf) short_buf = vault_buf_new_from (m->data, 7);

  g_assert_true (vault_meta_decode (m, &created, NULL));
  g_assert_cmpuint (created, ==, 42);
  g_assert_false (vault_meta_decode (short_buf, &created, NULL));
}

/* ------------------------------------------------------------------ Encrypt/Decrypt */

static void
test_aead (void)
{
  guint8 key[VAULT_KEY_LEN], other[VAULT_KEY_LEN];
  const char *pt = "plain\0text";
  g_autoptr(GBytes) ct = NULL;
  gsize len;
  const guint8 *data;
  guint32 version = 0;
  g_autofree guint8 *copy = NULL;

  randombytes_buf (key, sizeof key);
  randombytes_buf (other, sizeof other);
  ct = vault_aead_encrypt (key, 0x01020304, (const guint8 *) pt, 10, (const guint8 *) "aad", 3);
  data = g_bytes_get_data (ct, &len);
  g_assert_cmpuint (len, ==, 10 + VAULT_CT_OVERHEAD);
  g_assert_true (vault_aead_peek_version (data, len, &version, NULL));
  g_assert_cmpuint (version, ==, 0x01020304);
  {
    g_autoptr(VaultBuf) back = vault_aead_decrypt (key, data, len, (const guint8 *) "aad", 3, NULL);
    g_assert_nonnull (back);
    g_assert_cmpmem (back->data, back->len, pt, 10);
  }
  /* wrong aad, no aad, another key */
  g_assert_null (vault_aead_decrypt (key, data, len, (const guint8 *) "aaD", 3, NULL));
  g_assert_null (vault_aead_decrypt (key, data, len, NULL, 0, NULL));
  g_assert_null (vault_aead_decrypt (other, data, len, (const guint8 *) "aad", 3, NULL));
  /* every byte flipped, every truncation: InvalidArgument "ciphertext: …" */
  copy = g_memdup2 (data, len);
  for (gsize i = 0; i < len; i++)
    {
      g_autoptr(GError) error = NULL;
      copy[i] ^= 0x80;
      g_assert_null (vault_aead_decrypt (key, copy, len, (const guint8 *) "aad", 3, &error));
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "ciphertext: "));
      g_assert_null (strstr (error->message, "plain"));
      copy[i] ^= 0x80;
    }
  for (gsize i = 0; i < len; i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_null (vault_aead_decrypt (key, data, i, (const guint8 *) "aad", 3, &error));
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
    }
  /* empty plaintext */
  {
    g_autoptr(GBytes) e = vault_aead_encrypt (key, 1, NULL, 0, NULL, 0);
    g_autoptr(VaultBuf) back = vault_aead_decrypt (key, g_bytes_get_data (e, NULL), g_bytes_get_size (e),
                                                   NULL, 0, NULL);
    g_assert_nonnull (back);
    g_assert_cmpuint (back->len, ==, 0);
  }
}

static void
test_buf_variant (void)
{
  VaultBuf *b = vault_buf_new_from ("a\0b", 3);
  g_autoptr(GVariant) v = g_variant_ref_sink (vault_buf_to_variant (b));
  gsize n;
  const guint8 *p = g_variant_get_fixed_array (v, &n, 1);
  g_autoptr(GVariant) incoming = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                                                "xyz", 3, 1));

  g_assert_cmpmem (p, n, "a\0b", 3);
  vault_variant_wipe (incoming);
  p = g_variant_get_fixed_array (incoming, &n, 1);
  g_assert_cmpmem (p, n, "\0\0\0", 3);
}

/* ------------------------------------------------------------------ corpus */

static void
run_corpus (const char *sub, int (*fn) (const uint8_t *, size_t))
{
  g_autofree char *dir = g_test_build_filename (G_TEST_DIST, "corpus", sub, NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *data = NULL;
      gsize len;

      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      fn ((const uint8_t *) data, len);
      n++;
    }
  g_assert_cmpuint (n, >, 0);
  g_test_message ("%u %s inputs", n, sub);
}

static void
test_corpus_record (void)
{
  run_corpus ("record", vault_fuzz_record);
}

static void
test_corpus_decrypt (void)
{
  run_corpus ("decrypt", vault_fuzz_decrypt);
}

static void
test_random_inputs (void)
{
  /* A small built-in fuzz loop for builds without libFuzzer. */
  GRand *rand = g_rand_new_with_seed (1);
  guint8 buf[512];

  for (guint i = 0; i < 20000; i++)
    {
      gsize len = g_rand_int_range (rand, 0, sizeof buf);
      for (gsize j = 0; j < len; j++)
        buf[j] = (guint8) g_rand_int (rand);
      vault_fuzz_record (buf, len);
      vault_fuzz_decrypt (buf, len);
    }
  g_rand_free (rand);
}

/* ------------------------------------------------------------------ seeds */

static void
write_file (const char *dir, const char *name, const void *data, gsize len)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (path, data, len, &error))
    g_error ("%s", error->message);
}

static int
write_corpus (const char *dir)
{
  g_autofree char *rdir = g_build_filename (dir, "record", NULL);
  g_autofree char *ddir = g_build_filename (dir, "decrypt", NULL);

  g_mkdir_with_parents (rdir, 0755);
  g_mkdir_with_parents (ddir, 0755);
  for (guint n = 1; n <= 3; n++)
    for (guint k = 0; k < 2; k++)
      {
        VaultKind kind = k == 0 ? VAULT_KIND_SECRET : VAULT_KIND_KEY;
        g_autoptr(VaultRecord) r = sample_record (kind, n);
        g_autoptr(VaultBuf) enc = vault_record_encode (r);
        g_autoptr(GByteArray) input = g_byte_array_new ();
        g_autoptr(GBytes) sealed = vault_envelope_seal (kind, vault_fuzz_id (), vault_fuzz_key (1), enc);
        g_autofree char *plain_name = g_strdup_printf ("plain-%c%u", kind, n);
        g_autofree char *sealed_name = g_strdup_printf ("sealed-%c%u", kind, n);
        guint8 sel = kind == VAULT_KIND_SECRET ? 0 : 1;

        g_byte_array_append (input, &sel, 1);
        g_byte_array_append (input, enc->data, enc->len);
        write_file (rdir, plain_name, input->data, input->len);
        write_file (rdir, sealed_name, g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed));
      }
  for (guint v = 1; v <= 2; v++)
    for (guint aad = 0; aad <= 8; aad += 8)
      {
        g_autoptr(GBytes) ct = vault_aead_encrypt (vault_fuzz_key (v), v, (const guint8 *) "hello fuzz", 10,
                                                   (const guint8 *) "aad-data", aad);
        g_autoptr(GByteArray) input = g_byte_array_new ();
        g_autofree char *name = g_strdup_printf ("v%u-aad%u", v, aad);
        guint8 al = (guint8) aad;

        g_byte_array_append (input, &al, 1);
        g_byte_array_append (input, (const guint8 *) "aad-data", aad);
        g_byte_array_append (input, g_bytes_get_data (ct, NULL), g_bytes_get_size (ct));
        write_file (ddir, name, input->data, input->len);
      }
  return 0;
}

int
main (int argc, char **argv)
{
  if (sodium_init () < 0)
    return 1;
  if (argc == 3 && g_str_equal (argv[1], "--write-corpus"))
    return write_corpus (argv[2]);

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vault/names", test_names);
  g_test_add_func ("/vault/name-id", test_name_id);
  g_test_add_func ("/vault/record/round-trip", test_record_round_trip);
  g_test_add_func ("/vault/record/malformed", test_record_malformed);
  g_test_add_func ("/vault/envelope", test_envelope);
  g_test_add_func ("/vault/meta", test_meta);
  g_test_add_func ("/vault/aead", test_aead);
  g_test_add_func ("/vault/buf-variant", test_buf_variant);
  g_test_add_func ("/vault/corpus/record", test_corpus_record);
  g_test_add_func ("/vault/corpus/decrypt", test_corpus_decrypt);
  g_test_add_func ("/vault/random-inputs", test_random_inputs);
  return g_test_run ();
}
