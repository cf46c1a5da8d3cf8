/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the input of Vault.Decrypt (-Dfuzzing=true).
 *   build-fuzz/tests/vault/vault-fuzz-decrypt tests/vault/corpus/decrypt */
#include "vault-fuzz.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return vault_fuzz_decrypt (data, size);
}
