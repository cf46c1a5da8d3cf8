/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "util.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

char *
anyd_path_escape (const char *name)
{
  GString *s;

  if (name == NULL || *name == '\0')
    return g_strdup ("_");
  s = g_string_new (NULL);
  for (const guchar *p = (const guchar *) name; *p; p++)
    {
      if (g_ascii_isalnum (*p))
        g_string_append_c (s, *p);
      else
        g_string_append_printf (s, "_%02x", *p);
    }
  return g_string_free (s, FALSE);
}

char *
anyd_path_unescape (const char *element)
{
  GString *s = g_string_new (NULL);

  if (g_strcmp0 (element, "_") == 0)
    return g_string_free (s, FALSE);
  for (const char *p = element; *p; p++)
    {
      if (*p == '_' && g_ascii_isxdigit (p[1]) && g_ascii_isxdigit (p[2]))
        {
          g_string_append_c (s, (char) (g_ascii_xdigit_value (p[1]) << 4 | g_ascii_xdigit_value (p[2])));
          p += 2;
        }
      else
        g_string_append_c (s, *p);
    }
  return g_string_free (s, FALSE);
}

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
                       "%s: unknown option “%s”", what, key);
          return FALSE;
        }
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (s->type)))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s: option “%s” must be of type %s, not %s",
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
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  const guint8 *p = data;
  gsize left = len;
  int fd;

  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "create %s: %s", tmp, g_strerror (errno));
      return FALSE;
    }
  while (left > 0)
    {
      ssize_t n = write (fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        goto fail;
      p += n;
      left -= (gsize) n;
    }
  if (fchmod (fd, mode) < 0 || fsync (fd) < 0)
    goto fail;
  if (close (fd) < 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;
  if (rename (tmp, path) < 0)
    goto fail;
  return fsync_dir (dir, error);

fail:
  {
    int errsv = errno;
    if (fd >= 0)
      close (fd);
    g_unlink (tmp);
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "write %s: %s", path, g_strerror (errsv));
    return FALSE;
  }
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
