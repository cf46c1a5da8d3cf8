/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The files module's path rules: normalisation, root matching, sizes. */
#include "error.h"
#include "modules/files/files-path.h"

static void
test_normalise (void)
{
  static const struct { const char *in, *out; } ok[] = {
    { "/", "/" }, { "/srv/a", "/srv/a" }, { "//srv///a", "/srv/a" }, { "/srv/./a/.", "/srv/a" },
    { "/srv/a b/ü", "/srv/a b/ü" }, { "/srv/...", "/srv/..." }, { "/srv/..a", "/srv/..a" },
  };
  static const char *const bad[] = {
    "", "srv/a", "./a", "/srv/../etc", "/srv/a/..", "/..", "/srv/a/", "/srv/a\n", "/srv/\x01",
    "/srv/\x7f", "/srv/a/./",
  };

  for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *got = anyd_files_path_normalise (ok[i].in, "path", &error);
      g_assert_no_error (error);
      g_assert_cmpstr (got, ==, ok[i].out);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *got = anyd_files_path_normalise (bad[i], "path", &error);
      g_assert_null (got);
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "path: "));
    }
}

static void
check_split (const char *const *roots, const char *path, const char *root, const char *rel,
             int code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *r = NULL, *p = NULL;
  gboolean ok = anyd_files_path_split (path, roots, &r, &p, &error);

  if (root == NULL)
    {
      g_assert_false (ok);
      g_assert_error (error, ANYD_ERROR, code);
      g_assert_nonnull (strstr (error->message, path));
      return;
    }
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpstr (r, ==, root);
  g_assert_cmpstr (p, ==, rel);
}

static void
test_split (void)
{
  const char *roots[] = { "/srv", "/srv/www", "/etc/nginx/conf.d", NULL };
  const char *slash[] = { "/", NULL };
  const char *none[] = { NULL };

  check_split (roots, "/srv/a", "/srv", "a", 0);
  check_split (roots, "/srv/www/x/y", "/srv/www", "x/y", 0);       /* the longest root */
  check_split (roots, "/srv/wwwx", "/srv", "wwwx", 0);
  check_split (roots, "/etc/nginx/conf.d/site", "/etc/nginx/conf.d", "site", 0);
  check_split (roots, "/etc/nginx/conf.dx", NULL, NULL, ANYD_ERROR_NOT_AUTHORIZED);
  check_split (roots, "/etc/passwd", NULL, NULL, ANYD_ERROR_NOT_AUTHORIZED);
  check_split (roots, "/sr", NULL, NULL, ANYD_ERROR_NOT_AUTHORIZED);
  check_split (roots, "/srv", NULL, NULL, ANYD_ERROR_INVALID_ARGUMENT);  /* a root is a directory */
  check_split (roots, "/srv/www", NULL, NULL, ANYD_ERROR_INVALID_ARGUMENT); /* the longer root wins */
  check_split (slash, "/etc/passwd", "/", "etc/passwd", 0);
  check_split (slash, "/", NULL, NULL, ANYD_ERROR_INVALID_ARGUMENT);
  check_split (none, "/srv/a", NULL, NULL, ANYD_ERROR_NOT_AUTHORIZED);
  check_split (NULL, "/srv/a", NULL, NULL, ANYD_ERROR_NOT_AUTHORIZED);
}

static void
test_size (void)
{
  static const struct { const char *in; guint64 out; } ok[] = {
    { "0", 0 }, { "1", 1 }, { "1K", 1024 }, { "64M", 64 << 20 }, { "1g", G_GUINT64_CONSTANT (1) << 30 },
    { "2T", G_GUINT64_CONSTANT (2) << 40 }, { "18446744073709551615", G_MAXUINT64 },
  };
  static const char *const bad[] = { "", "-1", "1.5G", "G", "1KB", " 1", "1 ", "99999999999T",
                                     "18446744073709551616" };
  guint64 v;

  for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
    {
      g_assert_true (anyd_files_parse_size (ok[i].in, &v));
      g_assert_cmpuint (v, ==, ok[i].out);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (anyd_files_parse_size (bad[i], &v));
  g_assert_false (anyd_files_parse_size (NULL, &v));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/files/path/normalise", test_normalise);
  g_test_add_func ("/files/path/split", test_split);
  g_test_add_func ("/files/size", test_size);
  return g_test_run ();
}
