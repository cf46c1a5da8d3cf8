/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nft: nftables through libnftables (no `nft` spawned), in its native
 * syntax: JSON input silently drops table flags in nftables 1.0.6.
 * Calls are synchronous netlink round trips of a few milliseconds, like the
 * libnl calls in netlink.c.  Errors are ANYD_ERROR_FAILED starting with the
 * caller's field; nftables' own message follows. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _AnydNft AnydNft;

AnydNft   *anyd_nft_new (GError **error);
void       anyd_nft_free (AnydNft *nft);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydNft, anyd_nft_free)

/* One batch of commands, applied atomically (all or nothing). */
gboolean   anyd_nft_run (AnydNft *nft, const char *commands, const char *field, GError **error);
/* Names of the tables of family ("inet", "ip", …) starting with prefix. */
char     **anyd_nft_list_tables (AnydNft *nft, const char *family, const char *prefix, GError **error);
gboolean   anyd_nft_table_exists (AnydNft *nft, const char *family, const char *table);
/* Bytes of the named counter object; NOT_FOUND when the table or counter is missing. */
gboolean   anyd_nft_counter_bytes (AnydNft *nft, const char *family, const char *table, const char *counter,
                                   guint64 *bytes, GError **error);
/* "delete table family name"; a missing table is no error. */
gboolean   anyd_nft_delete_table (AnydNft *nft, const char *family, const char *table, GError **error);

G_END_DECLS
