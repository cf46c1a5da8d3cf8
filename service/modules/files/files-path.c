/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "files-path.h"
#include "error.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

char *
anyd_files_path_normalise (const char *path, const char *field, GError **error)
{
  g_auto(GStrv) parts = NULL;
  g_autoptr(GString) out = g_string_new ("");
  gsize len = strlen (path);

  if (path[0] != '/')
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: '%s' is not an absolute path", field, path);
      return NULL;
    }
  if (len >= PATH_MAX)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: too long", field);
      return NULL;
    }
  for (const char *p = path; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      {
        g_autofree char *shown = anyd_quote_text (path, 256);
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "%s: %s contains a control character", field, shown);
        return NULL;
      }
  if (len > 1 && path[len - 1] == '/')
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: '%s' names a directory (trailing '/')", field, path);
      return NULL;
    }

  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0' || g_str_equal (parts[i], "."))
        continue;
      /* ".." is refused, not folded: what polkit and the audit see must
       * be the file that is opened, and "a/.." through a symbolic link is
       * not "." */
      if (g_str_equal (parts[i], ".."))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "%s: '%s' contains '..'", field, path);
          return NULL;
        }
      g_string_append_c (out, '/');
      g_string_append (out, parts[i]);
    }
  if (out->len == 0)
    g_string_append_c (out, '/');
  return g_string_free (g_steal_pointer (&out), FALSE);
}

gboolean
anyd_files_path_split (const char *path, const char *const *roots, char **root,
                       char **relative, GError **error)
{
  const char *best = NULL;
  gsize best_len = 0;

  for (guint i = 0; roots != NULL && roots[i] != NULL; i++)
    {
      const char *r = roots[i];
      gsize rl = strlen (r);

      if (g_str_equal (r, "/"))
        rl = 0;   /* every absolute path is under "/" */
      else if (strncmp (path, r, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
        continue;
      if (best == NULL || rl > best_len)
        {
          best = r;
          best_len = rl;
        }
    }

  if (best == NULL)
    {
      g_autofree char *list = roots && roots[0] ? g_strjoinv (", ", (char **) roots) : NULL;
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                   "Not authorized: '%s' is not under any of the roots in [files] roots= (%s)",
                   path, list ? list : "none configured");
      return FALSE;
    }
  if (path[best_len] == '\0' || g_str_equal (path, "/"))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "path: '%s' is a root directory, not a file", path);
      return FALSE;
    }
  *root = g_strdup (best);
  *relative = g_strdup (path + best_len + 1);
  return TRUE;
}

gboolean
anyd_files_parse_size (const char *text, guint64 *bytes)
{
  guint64 v, mult = 1;
  char *end;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    return FALSE;
  errno = 0;
  v = g_ascii_strtoull (text, &end, 10);
  if (errno != 0)
    return FALSE;
  switch (g_ascii_toupper (*end))
    {
    case '\0': break;
    case 'K': mult = G_GUINT64_CONSTANT (1) << 10; end++; break;
    case 'M': mult = G_GUINT64_CONSTANT (1) << 20; end++; break;
    case 'G': mult = G_GUINT64_CONSTANT (1) << 30; end++; break;
    case 'T': mult = G_GUINT64_CONSTANT (1) << 40; end++; break;
    default: return FALSE;
    }
  if (*end != '\0' || (v != 0 && G_MAXUINT64 / v < mult))
    return FALSE;
  *bytes = v * mult;
  return TRUE;
}
