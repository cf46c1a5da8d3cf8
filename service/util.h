/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

/* a{sv} options validation: unknown keys and wrong types are InvalidArgument
 * naming the key. spec is {NULL}-terminated. */
typedef struct {
  const char *key;
  const char *type;   /* GVariant type string, e.g. "u", "as" */
} AnydOptionSpec;
gboolean  anyd_options_check (GVariant *options, const AnydOptionSpec *spec,
                              const char *what, GError **error);

/* Durable replace (g_file_set_contents_full): write "<path>.XXXXXX", fsync,
 * rename over path, fsync the directory. Acknowledge a write only after this
 * returned TRUE. */
gboolean  anyd_file_write_atomic (const char *path, const void *data, gsize len,
                                  mode_t mode, GError **error);
/* If name (a directory entry) has the shape of the temp file of an
 * unfinished anyd_file_write_atomic ("<target>.XXXXXX": the process died
 * before its rename), target; else NULL. By shape only: a caller removes the
 * file only if target is a name it writes. Such a file was never acknowledged. */
char     *anyd_file_unfinished_target (const char *name);
/* Durable remove: unlink (a missing file is fine), then fsync the directory,
 * so an acknowledged delete stays deleted after a crash. */
gboolean  anyd_file_remove_durable (const char *path, GError **error);
/* mkdir -p with mode (0700 for anything under the state directory). */
gboolean  anyd_mkdir_private (const char *path, GError **error);

/* Caller-supplied text for an error message: its first max bytes, escaped
 * as C does (control characters, bytes above 0x7e, \\ " and '), in single
 * quotes, with … inside them when cut. */
char     *anyd_quote_text (const char *text, gsize max);

G_END_DECLS
