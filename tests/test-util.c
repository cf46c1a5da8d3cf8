/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* service/util.c: options checking, durable file writes and their crash
 * leftovers, private directories; and the object path escaping anyd uses
 * (GLib's), held to the documented systemd-style form. */
#include "anyd-build-config.h"
#include "error.h"
#include "util.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

/* Path elements: bytes outside [A-Za-z0-9] become _XX in lower-case hex,
 * "" becomes "_". Any change here changes object paths on the bus. */
static void
test_path_escape (void)
{
  const char *cases[][2] = {
    { "wg-home", "wg_2dhome" }, { "db/password", "db_2fpassword" }, { "", "_" },
    { "abc123", "abc123" }, { "_", "_5f" }, { "a.b", "a_2eb" }, { "0lead", "0lead" },
    { "\xc3\xa9 x", "_c3_a9_20x" }, { "\x01\xff", "_01_ff" }, { "AZ", "AZ" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *esc = g_dbus_escape_object_path (cases[i][0]);
      g_autofree char *back = (char *) g_dbus_unescape_object_path (esc);
      g_autofree char *path = g_strconcat ("/x/", esc, NULL);
      g_assert_cmpstr (esc, ==, cases[i][1]);
      g_assert_cmpstr (back, ==, cases[i][0]);
      g_assert_true (g_variant_is_object_path (path));
    }
  /* Not anything anyd produces: callers must handle NULL. */
  g_assert_null (g_dbus_unescape_object_path ("a_zz"));
  g_assert_null (g_dbus_unescape_object_path ("a_2D_41"));   /* an escaped alnum */
  g_assert_null (g_dbus_unescape_object_path ("a_00"));
}

static void
test_options_check (void)
{
  static const AnydOptionSpec spec[] = { { "mtu", "u" }, { "addresses", "as" }, { NULL } };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) good = g_variant_ref_sink (g_variant_new_parsed ("{'mtu': <uint32 1400>, 'addresses': <['10.0.0.1/24']>}"));
  g_autoptr(GVariant) empty = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
  g_autoptr(GVariant) unknown = g_variant_ref_sink (g_variant_new_parsed ("{'mtuu': <uint32 1400>}"));
  g_autoptr(GVariant) wrong = g_variant_ref_sink (g_variant_new_parsed ("{'mtu': <'1400'>}"));
  g_autoptr(GVariant) not_dict = g_variant_ref_sink (g_variant_new_parsed ("['mtu']"));

  g_assert_true (anyd_options_check (good, spec, "options", &error));
  g_assert_true (anyd_options_check (empty, spec, "options", &error));
  g_assert_no_error (error);
  g_assert_false (anyd_options_check (unknown, spec, "options", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "options: unknown option 'mtuu'");
  g_clear_error (&error);
  g_assert_false (anyd_options_check (wrong, spec, "options", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (error->message, ==, "options: option 'mtu' must be of type u, not s");
  g_clear_error (&error);
  g_assert_false (anyd_options_check (not_dict, spec, "peer", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (error->message, "peer: "));
}

static guint
count_entries (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_write_atomic (void)
{
  g_autofree char *dir = g_dir_make_tmp ("anyd-atomic-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "f", NULL);
  g_autofree char *back = NULL;
  g_autoptr(GError) error = NULL;
  gsize len = 0;
  GStatBuf st;

  g_assert_true (anyd_file_write_atomic (path, "one", 3, 0600, &error));
  g_assert_true (anyd_file_write_atomic (path, "t\0o!", 4, 0600, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &back, &len, NULL));
  g_assert_cmpmem (back, len, "t\0o!", 4);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpuint (count_entries (dir), ==, 1);   /* no temp file left behind */
  g_assert_true (anyd_file_write_atomic (path, "", 0, 0600, &error));
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 0);

  g_assert_false (anyd_file_write_atomic ("/nonexistent-dir/x", "a", 1, 0600, &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_assert_true (g_str_has_prefix (error->message, "write /nonexistent-dir/x: "));
  g_clear_error (&error);

  g_assert_true (anyd_file_remove_durable (path, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (anyd_file_remove_durable (path, &error));   /* already gone: fine */
  g_assert_no_error (error);
  g_assert_false (anyd_file_remove_durable ("/nonexistent-dir/x", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* The temp file a write leaves when the process dies before its rename is
 * named as GLib's g_file_set_contents_full names it. The test is by shape
 * only ("p.record" could be p's temp file), so callers check the target is
 * a name they write. */
static void
test_unfinished_target (void)
{
  g_autofree char *dir = g_dir_make_tmp ("anyd-unfinished-XXXXXX", NULL);
  g_autofree char *tmpl = g_build_filename (dir, "0123abcd.XXXXXX", NULL);
  g_autofree char *base = NULL;
  g_autofree char *target = NULL;
  const char *cases[][2] = {
    { "meta.Ab3xZ9", "meta" }, { "0123abcd.aaaaaa", "0123abcd" }, { "p.record.Q1w2E3", "p.record" },
    { ".meta.Ab3xZ9", "meta" },           /* older anyd's ".<name>.XXXXXX" */
    { "meta", NULL }, { "p.record", "p" }, { "master.key", NULL }, { "meta.Ab3x-9", NULL }, { ".Ab3xZ9", NULL },
    { "x.Ab3xZ", NULL }, { "", NULL }, { ".x.Ab3xZ9", "x" },
  };
  int fd;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = anyd_file_unfinished_target (cases[i][0]);
      g_assert_cmpstr (got, ==, cases[i][1]);
    }
  /* The naming really is GLib's: make one the way it does. */
  fd = g_mkstemp_full (tmpl, O_RDWR, 0600);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  base = g_path_get_basename (tmpl);
  target = anyd_file_unfinished_target (base);
  g_assert_cmpstr (target, ==, "0123abcd");
  g_assert_cmpint (g_unlink (tmpl), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_mkdir_private (void)
{
  g_autofree char *dir = g_dir_make_tmp ("anyd-mkdir-XXXXXX", NULL);
  g_autofree char *deep = g_build_filename (dir, "a", "b", NULL);
  g_autofree char *file = g_build_filename (dir, "file", NULL);
  g_autofree char *under_file = g_build_filename (file, "x", NULL);
  g_autofree char *a = g_build_filename (dir, "a", NULL);
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  g_assert_true (anyd_mkdir_private (deep, &error));
  g_assert_true (anyd_mkdir_private (deep, &error));   /* existing: fine */
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (deep, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpint (g_stat (a, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_assert_false (anyd_mkdir_private (under_file, &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_FAILED);
  g_unlink (file);
  g_rmdir (deep);
  g_rmdir (a);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* Caller text in messages: quoted, escaped, cut; a ' cannot end the quotes. */
static void
test_quote_text (void)
{
  static const struct { const char *in; gsize max; const char *out; } cases[] = {
    { "wg0", 64, "'wg0'" },
    { "", 64, "''" },
    { "it's", 64, "'it\\'s'" },
    { "a\nb\tc", 64, "'a\\nb\\tc'" },
    { "back\\slash \"dq\"", 64, "'back\\\\slash \\\"dq\\\"'" },
    { "\x01\x7f\xc3\xa9", 64, "'\\001\\177\\303\\251'" },
    { "abcdef", 3, "'abc…'" },
    { "abc", 3, "'abc'" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *q = anyd_quote_text (cases[i].in, cases[i].max);
      g_assert_cmpstr (q, ==, cases[i].out);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/util/path-escape", test_path_escape);
  g_test_add_func ("/util/options-check", test_options_check);
  g_test_add_func ("/util/write-atomic", test_write_atomic);
  g_test_add_func ("/util/unfinished-target", test_unfinished_target);
  g_test_add_func ("/util/mkdir-private", test_mkdir_private);
  g_test_add_func ("/util/quote-text", test_quote_text);
  return g_test_run ();
}
