/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GKeyFile loading: defaults, drop-in order, file:line errors, typed keys. */
#include "anyd-build-config.h"
#include "config.h"
#include "daemon.h"
#include "error.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

static const AnydConfigKey test_keys[] = {
  { "t", "name", ANYD_CONFIG_STRING, "dflt", "a string" },
  { "t", "list", ANYD_CONFIG_STRING_LIST, "a;b;", "a list" },
  { "t", "flag", ANYD_CONFIG_BOOLEAN, "false", "a flag" },
  { "t", "count", ANYD_CONFIG_UINT, "7", "a number", 100 },
  { NULL }
};
static const AnydConfigKey *const test_schema[] = { test_keys, NULL };

static void
write_file (const char *dir, const char *rel, const char *text)
{
  g_autofree char *path = g_build_filename (dir, rel, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0700), ==, 0);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static char *
make_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("anyd-config-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static void
rm_rf (const char *dir)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  g_assert_cmpint (system (cmd), ==, 0);
}

static void
test_defaults (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydConfig) c = anyd_config_load (dir, test_schema, &error);
  g_autofree char *name = NULL;
  g_auto(GStrv) list = NULL;

  g_assert_no_error (error);
  name = anyd_config_get_string (c, "t", "name");
  list = anyd_config_get_string_list (c, "t", "list");
  g_assert_cmpstr (name, ==, "dflt");
  g_assert_cmpuint (g_strv_length (list), ==, 2);
  g_assert_false (anyd_config_get_boolean (c, "t", "flag"));
  g_assert_cmpuint (anyd_config_get_uint (c, "t", "count"), ==, 7);
  g_assert_null (anyd_config_get_origin (c, "t", "count"));
  rm_rf (dir);
}

static void
test_dropins_later_wins (void)
{
  g_autofree char *dir = make_dir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydConfig) c = NULL;
  g_autofree char *name = NULL;

  write_file (dir, "anyd.conf", "# main\n[t]\nname=main\ncount=1\n");
  write_file (dir, "anyd.conf.d/20-b.conf", "[t]\nname=b\n");
  write_file (dir, "anyd.conf.d/10-a.conf", "[t]\nname=a\nflag=true\n");
  write_file (dir, "anyd.conf.d/ignored.txt", "garbage");
  c = anyd_config_load (dir, test_schema, &error);
  g_assert_no_error (error);
  name = anyd_config_get_string (c, "t", "name");
  g_assert_cmpstr (name, ==, "b");
  g_assert_true (anyd_config_get_boolean (c, "t", "flag"));
  g_assert_cmpuint (anyd_config_get_uint (c, "t", "count"), ==, 1);
  g_assert_true (g_str_has_suffix (anyd_config_get_origin (c, "t", "name"), "20-b.conf:2"));
  rm_rf (dir);
}

static void
expect_error (const char *text, const char *fragment)
{
  g_autofree char *dir = make_dir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydConfig) c = NULL;

  write_file (dir, "anyd.conf.d/50-bad.conf", text);
  c = anyd_config_load (dir, test_schema, &error);
  g_assert_null (c);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, fragment) == NULL)
    g_error ("message '%s' lacks '%s'", error->message, fragment);
  g_assert_nonnull (strstr (error->message, "50-bad.conf:"));
  rm_rf (dir);
}

static void
test_errors_name_file_and_line (void)
{
  expect_error ("[t]\nname=x\nnot a key value\n", "50-bad.conf:3: expected");
  expect_error ("\n[nope]\n", "50-bad.conf:2: unknown group [nope]");
  expect_error ("[t]\ntypo=1\n", "50-bad.conf:2: unknown key 'typo'");
  expect_error ("[t]\nflag=maybe\n", "50-bad.conf:2: [t] 'flag' must be true or false");
  expect_error ("[t]\ncount=-1\n", "50-bad.conf:2");
  expect_error ("[t]\ncount=101\n", "between 0 and 100");
  expect_error ("[t]\ncount=12abc\n", "50-bad.conf:2");
  expect_error ("name=x\n", "outside of any [group]");
  expect_error ("[t\n", "malformed group header");
  expect_error ("[t]\nname=\xff\xfe\n", "not UTF-8");
}

static void
test_bad_file_merges_nothing (void)
{
  g_autoptr(AnydConfig) c = anyd_config_new_defaults (test_schema);
  g_autoptr(GError) error = NULL;
  const char *bad = "[t]\nname=half\ncount=oops\n";
  g_autofree char *name = NULL;

  g_assert_false (anyd_config_merge_data (c, "x.conf", bad, strlen (bad), &error));
  name = anyd_config_get_string (c, "t", "name");
  g_assert_cmpstr (name, ==, "dflt");
}

/* The daemon's whole schema: --print-config output parses back unchanged,
 * and every key in it has a description. */
static void
test_daemon_schema_roundtrip (void)
{
  g_autofree char *text = anyd_daemon_print_config ();
  g_autofree char *dir = make_dir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydConfig) c = NULL;
  const AnydConfigKey *const *schema = anyd_daemon_config_schema ();

  write_file (dir, "anyd.conf", text);
  c = anyd_daemon_load_config (dir, &error);
  g_assert_no_error (error);
  for (guint i = 0; schema[i] != NULL; i++)
    for (const AnydConfigKey *k = schema[i]; k->group != NULL; k++)
      {
        g_autofree char *line = g_strdup_printf ("#%s=", k->key);
        g_assert_nonnull (k->description);
        g_assert_nonnull (strstr (text, line));
      }
  rm_rf (dir);
}

/* Every key is documented in anyd.conf(5). */
static void
test_every_key_in_man_page (void)
{
  const char *srcdir = g_getenv ("ANYD_SRCDIR");
  g_autofree char *man = srcdir ? g_build_filename (srcdir, "data", "man", "anyd.conf.5", NULL) : NULL;
  g_autofree char *text = NULL;
  const AnydConfigKey *const *schema = anyd_daemon_config_schema ();

  if (man == NULL || !g_file_get_contents (man, &text, NULL, NULL))
    {
      g_test_skip ("anyd.conf.5 not found");
      return;
    }
  for (guint i = 0; schema[i] != NULL; i++)
    for (const AnydConfigKey *k = schema[i]; k->group != NULL; k++)
      {
        if (strstr (text, k->key) == NULL)
          g_printerr ("# [%s] %s is not documented in anyd.conf(5)\n", k->group, k->key);
        g_assert_nonnull (strstr (text, k->key));
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/config/defaults", test_defaults);
  g_test_add_func ("/config/dropins-later-wins", test_dropins_later_wins);
  g_test_add_func ("/config/errors-name-file-and-line", test_errors_name_file_and_line);
  g_test_add_func ("/config/bad-file-merges-nothing", test_bad_file_merges_nothing);
  g_test_add_func ("/config/daemon-schema-roundtrip", test_daemon_schema_roundtrip);
  g_test_add_func ("/config/every-key-in-man-page", test_every_key_in_man_page);
  return g_test_run ();
}
