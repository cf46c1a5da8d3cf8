/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "util.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <glib/gstdio.h>

gboolean
anyd_options_check (GVariant *options, const AnydOptionSpec *spec, const char *what, GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (!g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: expected a{sv}", what);
      return FALSE;
    }

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      const AnydOptionSpec *s;

      for (s = spec; s->key != NULL; s++)
        if (g_str_equal (s->key, key))
          break;
      if (s->key == NULL)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s: unknown option '%s'", what, key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (s->type)))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s: option '%s' must be of type %s, not %s",
                       what, key, s->type, g_variant_get_type_string (value));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
fsync_dir (const char *dir, GError **error)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0 || fsync (fd) < 0)
    {
      int errsv = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "sync %s: %s", dir, g_strerror (errsv));
      return FALSE;
    }
  close (fd);
  return TRUE;
}

gboolean
anyd_file_write_atomic (const char *path, const void *data, gsize len, mode_t mode, GError **error)
{
  g_autoptr(GError) local = NULL;

  /* Temp file, fsync, rename, fsync of the directory: GLib does all four
   * (the directory too, since 2.74), and unlinks the temp file on failure. */
  if (g_file_set_contents_full (path, data, (gssize) len,
                                G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                (int) mode, &local))
    return TRUE;
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "write %s: %s", path, local->message);
  return FALSE;
}

char *
anyd_file_unfinished_target (const char *name)
{
  gsize n = strlen (name);

  if (n < 8 || name[n - 7] != '.')
    return NULL;
  for (gsize i = n - 6; i < n; i++)
    if (!g_ascii_isalnum (name[i]))
      return NULL;
  /* Older anyd wrote ".<target>.XXXXXX". */
  if (name[0] == '.')
    return n > 8 ? g_strndup (name + 1, n - 8) : NULL;
  return g_strndup (name, n - 7);
}

gboolean
anyd_file_remove_durable (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (unlink (path) < 0 && errno != ENOENT)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "remove %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return fsync_dir (dir, error);
}

gboolean
anyd_mkdir_private (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0700) < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "create %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* So a hostile string can neither forge log lines nor make a huge error,
 * and a ' in it cannot end the quoting early. */
char *
anyd_quote_text (const char *text, gsize max)
{
  gsize len = strlen (text);
  g_autofree char *cut = g_strndup (text, MIN (len, max));
  g_autofree char *escaped = g_strescape (cut, NULL);
  GString *out = g_string_sized_new (strlen (escaped) + 8);

  g_string_append_c (out, '\'');
  for (const char *p = escaped; *p; p++)
    {
      if (*p == '\'')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
  if (len > max)
    g_string_append (out, "…");
  g_string_append_c (out, '\'');
  return g_string_free (out, FALSE);
}
