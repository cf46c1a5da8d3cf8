/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz entry points for the vault's parsers, shared by the libFuzzer
 * targets (vault-fuzz-record.c, vault-fuzz-decrypt.c, -Dfuzzing=true) and
 * the corpus regression in vault-record-test.c (every build). */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* byte 0 even: secret record, odd: key record; the rest is parsed as a
 * decrypted record (and re-encoded: a parse that succeeds must round-trip)
 * and, whole, as a sealed file under a fixed key. */
int vault_fuzz_record (const uint8_t *data, size_t size);
/* byte 0: aad length; then aad, then the ciphertext for Decrypt, with keys
 * for versions 1 and 2 fixed. */
int vault_fuzz_decrypt (const uint8_t *data, size_t size);

/* The fixed keys, for writing seeds. */
const uint8_t *vault_fuzz_key (unsigned version);
const uint8_t *vault_fuzz_id (void);
