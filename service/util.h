/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

/* Object path element escaping as systemd does: bytes outside [A-Za-z0-9]
 * become _XX (lower-case hex); "" becomes "_". */
char     *anyd_path_escape (const char *name);
char     *anyd_path_unescape (const char *element);

/* a{sv} options validation: unknown keys and wrong types are InvalidArgument
 * naming the key. spec is {NULL}-terminated. */
typedef struct {
  const char *key;
  const char *type;   /* GVariant type string, e.g. "u", "as" */
} AnydOptionSpec;
gboolean  anyd_options_check (GVariant *options, const AnydOptionSpec *spec,
                              const char *what, GError **error);

/* Durable replace: write dir/.name.tmp, fsync, rename over dir/name, fsync dir.
 * Acknowledge a write only after this returned TRUE. */
gboolean  anyd_file_write_atomic (const char *path, const void *data, gsize len,
                                  mode_t mode, GError **error);
/* Durable remove: unlink (a missing file is fine), then fsync the directory,
 * so an acknowledged delete stays deleted after a crash. */
gboolean  anyd_file_remove_durable (const char *path, GError **error);
/* mkdir -p with mode (0700 for anything under the state directory). */
gboolean  anyd_mkdir_private (const char *path, GError **error);

G_END_DECLS
