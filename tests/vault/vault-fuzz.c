/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* See vault-fuzz.h. */
#include "anyd-build-config.h"
#include "vault-fuzz.h"
#include "vault-record.h"

#include <stdlib.h>
#include <string.h>

static uint8_t keys[2][VAULT_KEY_LEN];
static uint8_t id[VAULT_ID_LEN];

static void
init (void)
{
  static gboolean done;

  if (done)
    return;
  if (sodium_init () < 0)
    abort ();
  for (unsigned i = 0; i < VAULT_KEY_LEN; i++)
    {
      keys[0][i] = (uint8_t) (i + 1);
      keys[1][i] = (uint8_t) (0xa0 ^ i);
      id[i] = (uint8_t) (0x5a + i);
    }
  done = TRUE;
}

const uint8_t *
vault_fuzz_key (unsigned version)
{
  init ();
  return version == 2 ? keys[1] : keys[0];
}

const uint8_t *
vault_fuzz_id (void)
{
  init ();
  return id;
}

static void
parse_record (VaultKind kind, const uint8_t *data, size_t size)
{
  g_autoptr(VaultRecord) r = vault_record_decode (kind, vault_buf_new_from (data, size), NULL);
  g_autoptr(VaultBuf) again = NULL;

  if (r == NULL)
    return;
  /* Whatever parses must encode back to the same bytes. */
  again = vault_record_encode (r);
  if (again->len != size || memcmp (again->data, data, size) != 0)
    abort ();
}

int
vault_fuzz_record (const uint8_t *data, size_t size)
{
  VaultKind kind;
  g_autoptr(VaultBuf) plain = NULL;

  init ();
  if (size == 0)
    return 0;
  kind = data[0] % 2 == 0 ? VAULT_KIND_SECRET : VAULT_KIND_KEY;
  parse_record (kind, data + 1, size - 1);

  /* The whole input as a file: header checks, then authentication. */
  kind = size > 5 && data[5] == VAULT_KIND_SECRET ? VAULT_KIND_SECRET : VAULT_KIND_KEY;
  plain = vault_envelope_open (kind, id, keys[0], data, size, NULL);
  if (plain != NULL)
    parse_record (kind, plain->data, plain->len);
  return 0;
}

int
vault_fuzz_decrypt (const uint8_t *data, size_t size)
{
  g_autoptr(VaultBuf) plain = NULL;
  guint32 version;
  size_t aad_len;

  init ();
  if (size == 0)
    return 0;
  aad_len = MIN ((size_t) data[0], size - 1);
  data++, size--;
  if (!vault_aead_peek_version (data + aad_len, size - aad_len, &version, NULL) || version > 2)
    return 0;
  plain = vault_aead_decrypt (keys[version - 1], data + aad_len, size - aad_len, data, aad_len, NULL);
  return 0;
}
