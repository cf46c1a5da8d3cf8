/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure helpers of the files module: path normalisation and root matching,
 * size strings. No I/O: the daemon never looks at the files themselves. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* "/srv//www/./a" -> "/srv/www/a". Refuses (InvalidArgument naming field)
 * relative paths, "..", control characters, a trailing "/" (unless the
 * whole path is "/") and over-long paths. */
char     *anyd_files_path_normalise (const char *path, const char *field, GError **error);

/* The longest root (normalised, as from anyd_files_path_normalise) that
 * contains the normalised path, and the path relative to it. The root
 * itself is InvalidArgument (a directory); outside every root is
 * NotAuthorized naming the configured roots. */
gboolean  anyd_files_path_split (const char *path, const char *const *roots,
                                 char **root, char **relative, GError **error);

/* "1G", "512M", "65536", "0" (no limit): bytes, with K/M/G/T as powers of
 * 1024. FALSE for anything else. */
gboolean  anyd_files_parse_size (const char *text, guint64 *bytes);

G_END_DECLS
