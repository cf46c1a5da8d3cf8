/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the services module's pure logic: unit-name rules and
 * normalisation, the allowlist and its patterns; then the fuzz target
 * (services-fuzz-unit.c) over tests/services/corpus/unit/ and over inputs
 * derived from it, so the normal build exercises the fuzzed code. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "systemd.h"
#include "services-unit.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
test_normalise (void)
{
  static const struct { const char *in, *out; } good[] = {
    { "nginx", "nginx.service" },
    { "nginx.service", "nginx.service" },
    { "redis-server", "redis-server.service" },
    { "app@one", "app@one.service" },
    { "app@one.service", "app@one.service" },
    { "app@a@b.service", "app@a@b.service" },
    { "backup.timer", "backup.timer" },
    { "web.socket", "web.socket" },
    { "foo.bar", "foo.bar.service" },               /* no known type: .service added */
    { "dev-sda.device", "dev-sda.device" },
    { "-.mount", "-.mount" },
    { "x\\x2dy.service", "x\\x2dy.service" },
    { "a:b_c.d", "a:b_c.d.service" },
  };
  static const char *const bad[] = {
    "", "/", "a/b", "../etc/passwd", "/etc/systemd/system/x.service", "foo bar",
    "tab\there", "new\nline", "dém", ".service", "@x.service", "app@.service", "app@",
    "*", "nginx*", "app@*.service", "a?b", "[ab].service", "\x01", "x.service\x7f",
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *n = anyd_services_unit_normalise (good[i].in, "unit", &error);
      g_assert_no_error (error);
      g_assert_cmpstr (n, ==, good[i].out);
      g_assert_true (anyd_services_unit_name_is_valid (n));
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *n = anyd_services_unit_normalise (bad[i], "unit", &error);
      g_assert_null (n);
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "unit: "));
      g_assert_null (strchr (error->message, '\n'));
    }
}

static void
test_length (void)
{
  g_autofree char *name247 = g_strnfill (247, 'x');
  g_autofree char *name248 = g_strnfill (248, 'x');
  g_autofree char *full = g_strconcat (name247, ".service", NULL);
  g_autofree char *n = anyd_services_unit_normalise (name247, "unit", NULL);
  g_autoptr(GError) error = NULL;

  g_assert_cmpstr (n, ==, full);
  g_assert_cmpuint (strlen (n), ==, 255);
  g_assert_null (anyd_services_unit_normalise (name248, "unit", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "255"));
}

static void
test_messages (void)
{
  static const struct { const char *in, *part; } cases[] = {
    { "a/b", "contains '/'" },
    { "app@.service", "template" },
    { "foo bar", "character ' '" },
    { "nginx*", "patterns are not accepted" },
    { "", "empty" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_null (anyd_services_unit_normalise (cases[i].in, "unit", &error));
      g_assert_nonnull (strstr (error->message, cases[i].part));
    }
}

static void
test_type_interface (void)
{
  g_assert_cmpstr (anyd_systemd_unit_type_interface ("a.service"), ==, "org.freedesktop.systemd1.Service");
  g_assert_cmpstr (anyd_systemd_unit_type_interface ("a.timer"), ==, "org.freedesktop.systemd1.Timer");
  g_assert_null (anyd_systemd_unit_type_interface ("a.target"));
}

static void
test_unit_path (void)
{
  g_autofree char *a = anyd_systemd_unit_path ("nginx.service");
  g_autofree char *b = anyd_systemd_unit_path ("app@x-1.service");
  g_autofree char *c = anyd_systemd_unit_path ("0day.service");

  /* systemd's bus_label_escape(): a leading digit is escaped too. */
  g_assert_cmpstr (a, ==, "/org/freedesktop/systemd1/unit/nginx_2eservice");
  g_assert_cmpstr (b, ==, "/org/freedesktop/systemd1/unit/app_40x_2d1_2eservice");
  g_assert_cmpstr (c, ==, "/org/freedesktop/systemd1/unit/_30day_2eservice");
}

static AnydServicesAllowlist *
list_of (const char *text, GError **error)
{
  g_auto(GStrv) entries = g_strsplit (text, ";", -1);
  return anyd_services_allowlist_new ((const char *const *) entries, "anyd.conf:3", error);
}

static void
test_allowlist (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydServicesAllowlist) list = list_of ("nginx; redis-server.service;app@*;nginx.service;"
                                                   "web@[ab]?.socket;", &error);
  const char *const want[] = { "nginx.service", "redis-server.service", "app@*.service",
                               "web@[ab]?.socket", NULL };
  static const char *const yes[] = {
    "nginx.service", "redis-server.service", "app@one.service", "app@x.y.service",
    "app@a@b.service", "web@a1.socket", "web@bz.socket",
  };
  static const char *const no[] = {
    "nginx", "nginx.socket", "redis.service", "app@.service", "app.service", "apps@one.service",
    "xapp@one.service", "app@one.socket", "app@one.service.service.x", "web@c1.socket",
    "web@a12.socket", "web@a1.service", "app@*.service", "app@on/e.service", "",
    "app@one\n.service",
  };
  g_autofree char *desc = NULL;

  g_assert_no_error (error);
  g_assert_cmpstrv (anyd_services_allowlist_entries (list), want);
  g_assert_true (anyd_services_allowlist_has_patterns (list));
  for (guint i = 0; i < G_N_ELEMENTS (yes); i++)
    g_assert_true (anyd_services_allowlist_contains (list, yes[i]));
  for (guint i = 0; i < G_N_ELEMENTS (no); i++)
    g_assert_false (anyd_services_allowlist_contains (list, no[i]));
  desc = anyd_services_allowlist_describe (list);
  g_assert_cmpstr (desc, ==, "nginx.service, redis-server.service, app@*.service, web@[ab]?.socket");
}

static void
test_allowlist_empty (void)
{
  g_autoptr(AnydServicesAllowlist) a = anyd_services_allowlist_new (NULL, NULL, NULL);
  g_autoptr(AnydServicesAllowlist) b = list_of (" ; ;", NULL);
  g_autofree char *desc = anyd_services_allowlist_describe (a);

  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpstr (desc, ==, "empty");
  g_assert_null (anyd_services_allowlist_entries (b)[0]);
  g_assert_false (anyd_services_allowlist_contains (a, "nginx.service"));
  g_assert_false (anyd_services_allowlist_has_patterns (b));
}

static void
test_allowlist_bad (void)
{
  static const struct { const char *text, *part; } cases[] = {
    { "nginx;a/b", "contains '/'" },
    { "*", "only in the instance part" },
    { "*.service", "only in the instance part" },
    { "app*.service", "only in the instance part" },
    { "app@.service", "app@*.service" },
    { "foo bar", "not a valid unit name" },
    { "@*.service", "not a valid unit name" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_null (list_of (cases[i].text, &error));
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "anyd.conf:3: [services] allow: "));
      g_assert_nonnull (strstr (error->message, cases[i].part));
    }
}

/* ------------------------------------------------------------------ corpus */

static guint64 executions;

static void
run_input (const guint8 *data, gsize len)
{
  LLVMFuzzerTestOneInput (data, len);
  executions++;
}

static void
test_corpus (void)
{
  const char *dir = g_test_get_filename (G_TEST_DIST, "corpus", "unit", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261123);
  g_autoptr(GPtrArray) inputs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *data = NULL;
      gsize len;

      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      run_input ((const guint8 *) data, len);
      g_ptr_array_add (inputs, g_bytes_new (data, len));
    }
  g_assert_cmpuint (inputs->len, >=, 10);

  /* Cheap mutations of the corpus: flips, inserts of interesting bytes,
   * truncations, for both parsers. */
  for (guint round = 0; round < 20000; round++)
    {
      GBytes *seed = inputs->pdata[g_rand_int_range (rand, 0, (gint32) inputs->len)];
      gsize len;
      const guint8 *src = g_bytes_get_data (seed, &len);
      g_autoptr(GByteArray) m = g_byte_array_sized_new ((guint) len + 8);
      static const guint8 interesting[] = { '/', '@', '.', '*', '?', '[', ']', '\\', '\n', '\t',
                                            ' ', 0xc3, 0xff, '-', ':', '_', 's', 0 };

      g_byte_array_append (m, src, (guint) len);
      for (guint k = 0, n = (guint) g_rand_int_range (rand, 1, 4); k < n; k++)
        {
          guint8 b = interesting[g_rand_int_range (rand, 0, G_N_ELEMENTS (interesting))];
          guint pos = m->len ? (guint) g_rand_int_range (rand, 0, (gint32) m->len) : 0;
          switch (g_rand_int_range (rand, 0, 3))
            {
            case 0: if (m->len) m->data[pos] = b; break;
            case 1: g_byte_array_append (m, &b, 1);
                    memmove (m->data + pos + 1, m->data + pos, m->len - 1 - pos);
                    m->data[pos] = b;
                    break;
            default: g_byte_array_set_size (m, pos); break;
            }
        }
      if (m->len > 0 && g_rand_boolean (rand))
        m->data[0] ^= 1;   /* the other parser */
      run_input (m->data, m->len);
    }
  g_test_message ("%" G_GUINT64_FORMAT " executions", executions);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/services/unit/normalise", test_normalise);
  g_test_add_func ("/services/unit/length", test_length);
  g_test_add_func ("/services/unit/messages", test_messages);
  g_test_add_func ("/services/unit/type-interface", test_type_interface);
  g_test_add_func ("/services/unit/object-path", test_unit_path);
  g_test_add_func ("/services/allowlist/entries", test_allowlist);
  g_test_add_func ("/services/allowlist/empty", test_allowlist_empty);
  g_test_add_func ("/services/allowlist/bad", test_allowlist_bad);
  g_test_add_func ("/services/fuzz-corpus", test_corpus);
  return g_test_run ();
}
