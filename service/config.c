/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "config.h"
#include "error.h"

#include <errno.h>
#include <string.h>

struct _AnydConfig {
  gint                        ref_count;
  const AnydConfigKey *const *schema;
  GKeyFile                   *values;   /* merged: later files win */
  GHashTable                 *origins;  /* "group\x1fkey" -> "file:line" */
};

static const AnydConfigKey *
schema_find (const AnydConfigKey *const *schema, const char *group, const char *key)
{
  for (guint i = 0; schema[i] != NULL; i++)
    for (const AnydConfigKey *k = schema[i]; k->group != NULL; k++)
      if (g_str_equal (k->group, group) && (key == NULL || g_str_equal (k->key, key)))
        return k;
  return NULL;
}

AnydConfig *
anyd_config_new_defaults (const AnydConfigKey *const *schema)
{
  AnydConfig *config = g_new0 (AnydConfig, 1);

  config->ref_count = 1;
  config->schema = schema;
  config->values = g_key_file_new ();
  config->origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return config;
}

AnydConfig *
anyd_config_ref (AnydConfig *config)
{
  g_atomic_int_inc (&config->ref_count);
  return config;
}

void
anyd_config_unref (AnydConfig *config)
{
  if (config == NULL || !g_atomic_int_dec_and_test (&config->ref_count))
    return;
  g_key_file_unref (config->values);
  g_hash_table_unref (config->origins);
  g_free (config);
}

/* Parse a raw value as GKeyFile would, so that defaults and files agree. */
static gboolean
check_value (const AnydConfigKey *k, const char *raw, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;

  g_key_file_set_value (kf, "g", "k", raw);
  switch (k->type)
    {
    case ANYD_CONFIG_STRING:
      {
        g_autofree char *s = g_key_file_get_string (kf, "g", "k", &local);
        if (s == NULL)
          break;
        return TRUE;
      }
    case ANYD_CONFIG_STRING_LIST:
      {
        g_auto(GStrv) l = g_key_file_get_string_list (kf, "g", "k", NULL, &local);
        if (l == NULL && *raw != '\0')
          break;
        return TRUE;
      }
    case ANYD_CONFIG_BOOLEAN:
      g_key_file_get_boolean (kf, "g", "k", &local);
      if (local != NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "'%s' must be true or false, not '%s'", k->key, raw);
          return FALSE;
        }
      return TRUE;
    case ANYD_CONFIG_UINT:
      {
        guint64 max = k->max ? k->max : G_MAXUINT32;
        guint64 v;
        g_autofree char *s = g_strstrip (g_strdup (raw));
        if (!g_ascii_string_to_unsigned (s, 10, 0, max, &v, &local))
          {
            g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                         "'%s' must be a whole number between 0 and %" G_GUINT64_FORMAT ", not '%s'",
                         k->key, max, raw);
            return FALSE;
          }
        return TRUE;
      }
    }
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "'%s': %s", k->key,
               local ? local->message : "invalid value");
  return FALSE;
}

gboolean
anyd_config_merge_data (AnydConfig *config, const char *filename, const char *data, gsize len,
                        GError **error)
{
  g_autofree char *text = g_strndup (data, len);
  g_auto(GStrv) lines = NULL;
  g_autofree char *group = NULL;
  g_autoptr(GKeyFile) staged = g_key_file_new ();
  g_autoptr(GHashTable) staged_origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter it;
  gpointer hk, hv;

  if (strlen (text) != len || !g_utf8_validate (text, -1, NULL))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: not UTF-8 text", filename);
      return FALSE;
    }

  /* Our own line pass: GKeyFile reports neither line numbers nor unknown keys. */
  lines = g_strsplit (text, "\n", -1);
  for (guint n = 0; lines[n] != NULL; n++)
    {
      char *line = g_strstrip (lines[n]);
      g_autoptr(GError) local = NULL;
      const AnydConfigKey *k;
      char *eq;

      if (*line == '\0' || *line == '#')
        continue;
      if (*line == '[')
        {
          size_t l = strlen (line);
          if (l < 3 || line[l - 1] != ']')
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                           "%s:%u: malformed group header '%s'", filename, n + 1, line);
              return FALSE;
            }
          g_free (group);
          group = g_strndup (line + 1, l - 2);
          if (schema_find (config->schema, group, NULL) == NULL)
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                           "%s:%u: unknown group [%s]", filename, n + 1, group);
              return FALSE;
            }
          continue;
        }
      eq = strchr (line, '=');
      if (eq == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s:%u: expected 'key=value', '[group]' or '# comment'", filename, n + 1);
          return FALSE;
        }
      if (group == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s:%u: key outside of any [group]", filename, n + 1);
          return FALSE;
        }
      *eq = '\0';
      g_strchomp (line);
      k = schema_find (config->schema, group, line);
      if (k == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s:%u: unknown key '%s' in [%s]", filename, n + 1, line, group);
          return FALSE;
        }
      if (!check_value (k, g_strchug (eq + 1), &local))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s:%u: [%s] %s", filename, n + 1, group, local->message);
          return FALSE;
        }
      g_key_file_set_value (staged, group, k->key, g_strchug (eq + 1));
      g_hash_table_replace (staged_origins, g_strdup_printf ("%s\x1f%s", group, k->key),
                            g_strdup_printf ("%s:%u", filename, n + 1));
    }

  /* Only a whole valid file is merged. */
  g_hash_table_iter_init (&it, staged_origins);
  while (g_hash_table_iter_next (&it, &hk, &hv))
    {
      g_auto(GStrv) gk = g_strsplit (hk, "\x1f", 2);
      g_autofree char *raw = g_key_file_get_value (staged, gk[0], gk[1], NULL);
      g_key_file_set_value (config->values, gk[0], gk[1], raw);
      g_hash_table_replace (config->origins, g_strdup (hk), g_strdup (hv));
    }
  return TRUE;
}

static gboolean
merge_file (AnydConfig *config, const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr(GError) local = NULL;

  if (!g_file_get_contents (path, &data, &len, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s", local->message);
      return FALSE;
    }
  return anyd_config_merge_data (config, path, data, len, error);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char **) a, *(char **) b);
}

AnydConfig *
anyd_config_load (const char *dir, const AnydConfigKey *const *schema, GError **error)
{
  g_autoptr(AnydConfig) config = anyd_config_new_defaults (schema);
  g_autofree char *main_path = g_build_filename (dir, "anyd.conf", NULL);
  g_autofree char *dropin_dir = g_build_filename (dir, "anyd.conf.d", NULL);
  g_autoptr(GDir) d = NULL;
  g_autoptr(GPtrArray) dropins = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) local = NULL;
  const char *name;

  if (!merge_file (config, main_path, error))
    return NULL;

  d = g_dir_open (dropin_dir, 0, &local);
  if (d == NULL && !g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s", local->message);
      return NULL;
    }
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".conf") && name[0] != '.')
      g_ptr_array_add (dropins, g_build_filename (dropin_dir, name, NULL));
  g_ptr_array_sort (dropins, compare_strings);
  for (guint i = 0; i < dropins->len; i++)
    if (!merge_file (config, dropins->pdata[i], error))
      return NULL;

  return g_steal_pointer (&config);
}

static const AnydConfigKey *
lookup (AnydConfig *config, const char *group, const char *key, AnydConfigType type)
{
  const AnydConfigKey *k = schema_find (config->schema, group, key);

  if (k == NULL || k->type != type)
    g_critical ("config key [%s] %s is not in the schema with that type", group, key);
  return k;
}

/* The effective raw value in a throw-away key file, for GKeyFile parsing. */
static GKeyFile *
effective (AnydConfig *config, const AnydConfigKey *k)
{
  GKeyFile *kf = g_key_file_new ();
  g_autofree char *raw = g_key_file_get_value (config->values, k->group, k->key, NULL);

  g_key_file_set_value (kf, "g", "k", raw ? raw : (k->default_value ? k->default_value : ""));
  return kf;
}

char *
anyd_config_get_string (AnydConfig *config, const char *group, const char *key)
{
  const AnydConfigKey *k = lookup (config, group, key, ANYD_CONFIG_STRING);
  g_autoptr(GKeyFile) kf = NULL;

  if (k == NULL)
    return g_strdup ("");
  kf = effective (config, k);
  return g_key_file_get_string (kf, "g", "k", NULL);
}

char **
anyd_config_get_string_list (AnydConfig *config, const char *group, const char *key)
{
  const AnydConfigKey *k = lookup (config, group, key, ANYD_CONFIG_STRING_LIST);
  g_autoptr(GKeyFile) kf = NULL;
  char **l;

  if (k == NULL)
    return g_new0 (char *, 1);
  kf = effective (config, k);
  l = g_key_file_get_string_list (kf, "g", "k", NULL, NULL);
  return l ? l : g_new0 (char *, 1);
}

gboolean
anyd_config_get_boolean (AnydConfig *config, const char *group, const char *key)
{
  const AnydConfigKey *k = lookup (config, group, key, ANYD_CONFIG_BOOLEAN);
  g_autoptr(GKeyFile) kf = NULL;

  if (k == NULL)
    return FALSE;
  kf = effective (config, k);
  return g_key_file_get_boolean (kf, "g", "k", NULL);
}

guint
anyd_config_get_uint (AnydConfig *config, const char *group, const char *key)
{
  const AnydConfigKey *k = lookup (config, group, key, ANYD_CONFIG_UINT);
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *raw = NULL;
  guint64 v = 0;

  if (k == NULL)
    return 0;
  kf = effective (config, k);
  raw = g_strstrip (g_key_file_get_value (kf, "g", "k", NULL));
  g_ascii_string_to_unsigned (raw, 10, 0, G_MAXUINT32, &v, NULL);
  return (guint) v;
}

const char *
anyd_config_get_origin (AnydConfig *config, const char *group, const char *key)
{
  g_autofree char *hk = g_strdup_printf ("%s\x1f%s", group, key);
  return g_hash_table_lookup (config->origins, hk);
}
