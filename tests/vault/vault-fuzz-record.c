/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target: the vault's on-disk record parser (-Dfuzzing=true).
 *   build-fuzz/tests/vault/vault-fuzz-record tests/vault/corpus/record */
#include "vault-fuzz.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return vault_fuzz_record (data, size);
}
