/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  ANYD_CONFIG_STRING,
  ANYD_CONFIG_STRING_LIST,
  ANYD_CONFIG_BOOLEAN,
  ANYD_CONFIG_UINT,       /* unsigned 32-bit */
} AnydConfigType;

/* One documented key. Modules declare theirs in their vtable; the loader
 * refuses unknown groups/keys and values of the wrong type, with file:line. */
typedef struct {
  const char     *group;
  const char     *key;
  AnydConfigType  type;
  const char     *default_value;  /* as written in the file; NULL = empty */
  const char     *description;    /* one line, for anyd.conf(5) / --dump-config */
  guint64         max;            /* for UINT: inclusive upper bound, 0 = G_MAXUINT32 */
} AnydConfigKey;

typedef struct _AnydConfig AnydConfig;

/* schema: NULL-terminated array of NULL-terminated key arrays. */
AnydConfig  *anyd_config_new_defaults (const AnydConfigKey *const *schema);
/* Load dir/anyd.conf then dir/anyd.conf.d/\*.conf (sorted; later files win).
 * Missing files are fine; any bad file is an error naming file:line. */
AnydConfig  *anyd_config_load (const char *dir, const AnydConfigKey *const *schema, GError **error);
/* Parse one file's text (for tests and fuzzing); merges into config. */
gboolean     anyd_config_merge_data (AnydConfig *config, const char *filename, const char *data,
                                     gsize len, GError **error);
AnydConfig  *anyd_config_ref (AnydConfig *config);
void         anyd_config_unref (AnydConfig *config);

/* Typed getters: the file value if set, else the schema default.
 * Asking for a key not in the schema is a programming error (g_critical). */
char        *anyd_config_get_string (AnydConfig *config, const char *group, const char *key);
char       **anyd_config_get_string_list (AnydConfig *config, const char *group, const char *key);
gboolean     anyd_config_get_boolean (AnydConfig *config, const char *group, const char *key);
guint        anyd_config_get_uint (AnydConfig *config, const char *group, const char *key);
/* Where a key's value came from ("/etc/anyd/anyd.conf:12"), NULL = default. */
const char  *anyd_config_get_origin (AnydConfig *config, const char *group, const char *key);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydConfig, anyd_config_unref)

G_END_DECLS
