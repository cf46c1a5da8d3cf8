/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CIDR/route/name parsers of service/netlink/cidr.c: expected answers, and
 * every input of the fuzz corpus (tests/tun/corpus/cidr/) run through the
 * fuzz target's checks, so the normal build exercises what fuzzing found. */
#include "netlink.h"
#include "error.h"
#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
test_cidr_good (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "10.0.0.1/24", "10.0.0.1/24" }, { "10.0.0.1", "10.0.0.1/32" }, { "0.0.0.0/0", "0.0.0.0/0" },
    { "fd00::1/64", "fd00::1/64" }, { "FD00:0::1/64", "fd00::1/64" }, { "::1", "::1/128" },
    { "::/0", "::/0" }, { "::ffff:1.2.3.4/96", "::ffff:1.2.3.4/96" }, { "10.0.0.1/32", "10.0.0.1/32" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *s = NULL;
      AnydCidr c;
      g_assert_true (anyd_cidr_parse (cases[i].in, "f", &c, &error));
      g_assert_no_error (error);
      s = anyd_cidr_to_string (&c);
      g_assert_cmpstr (s, ==, cases[i].out);
    }
}

static void
test_cidr_bad (void)
{
  static const char *bad[] = {
    "10.0.0.1/33", "::1/200", "abc", "", "10.0.0.1/24 ", " 10.0.0.1/24", "10.0.0.1/", "10.0.0.1/-1",
    "10.0.0.1/+8", "10.0.0.1/08", "10.0.0.256/24", "10.0.0/24", "fe80::1%eth0/64", "1.2.3.4/24/1",
    "10.0.0.1/24x", "10.0.0.1/1000000000000000000000", "0x0a.0.0.1/8", "010.0.0.1/8", "::1/129",
    "1.2.3.4\n", ":::/0",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      AnydCidr c;
      g_assert_false (anyd_cidr_parse (bad[i], "addresses[3]", &c, &error));
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "addresses[3]: "));
    }
  g_assert_false (anyd_cidr_parse (NULL, "x", &(AnydCidr){ 0 }, NULL));
}

static void
test_route (void)
{
  static const struct { const char *in, *out; } good[] = {
    { "10.1.0.0/16", "10.1.0.0/16" },
    { "10.1.0.0/16 via 10.0.0.1", "10.1.0.0/16 via 10.0.0.1" },
    { "10.1.0.0/16 table main", "10.1.0.0/16" },
    { "fd00:1::/48 metric 1024", "fd00:1::/48" },
    { "fd00:1::/48 table 51820 metric 7 via fd00::1", "fd00:1::/48 via fd00::1 metric 7 table 51820" },
    { "0.0.0.0/0 via 10.0.0.1", "0.0.0.0/0 via 10.0.0.1" },
    { "10.2.3.4", "10.2.3.4/32" },
  };
  static const char *bad[] = {
    "10.1.0.0/16 via fd00::1", "10.1.0.1/16", "10.1.0.0/16 via", "10.1.0.0/16 via 10.0.0.1 via 10.0.0.2",
    "10.1.0.0/16  via 10.0.0.1", "10.1.0.0/16 dev eth0", "10.1.0.0/16 via 10.0.0.1/24",
    "10.1.0.0/16 metric x", "10.1.0.0/16 metric 4294967296", "10.1.0.0/16 table 255", "10.1.0.0/16 table 0",
    "10.1.0.0/16 via 0.0.0.0", "abc", "", " 10.1.0.0/16", "10.1.0.0/16 ", "::/0 via ::",
  };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *s = NULL;
      AnydRoute r;
      g_assert_true (anyd_route_parse (good[i].in, "routes[0]", &r, &error));
      g_assert_no_error (error);
      s = anyd_route_to_string (&r);
      g_assert_cmpstr (s, ==, good[i].out);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      AnydRoute r;
      g_assert_false (anyd_route_parse (bad[i], "routes[1]", &r, &error));
      g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
      g_assert_true (g_str_has_prefix (error->message, "routes[1]: "));
    }
}

static void
test_ifname (void)
{
  static const char *good[] = { "", "tun0", "anyd%d", "a-b_c.d", "123456789012345" };
  static const char *bad[] = { "1234567890123456", "a/b", "a b", "a\tb", "x%s", "x%d%d", "x%", ".", "..",
                               "a:b", "caf\xc3\xa9", "\x7f" };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (anyd_ifname_check (good[i], "name", NULL));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (anyd_ifname_check (bad[i], "name", &error));
      g_assert_true (g_str_has_prefix (error->message, "name: "));
    }
}

/* Error text quotes user input escaped and cut short. */
static void
test_error_quoting (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *junk = g_strnfill (500, 'x');
  g_autofree char *in = g_strconcat ("10.0.0.1/24\n", junk, NULL);

  g_assert_false (anyd_cidr_parse (in, "a", &(AnydCidr){ 0 }, &error));
  g_assert_null (strchr (error->message, '\n'));
  g_assert_cmpuint (strlen (error->message), <, 200);
}

static void
test_corpus (void)
{
  g_autofree char *dir = g_test_build_filename (G_TEST_DIST, "corpus", "cidr", NULL);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *data = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      LLVMFuzzerTestOneInput ((const guint8 *) data, len);
      n++;
    }
  g_test_message ("%u corpus inputs", n);
  g_assert_cmpuint (n, >, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tun/cidr/good", test_cidr_good);
  g_test_add_func ("/tun/cidr/bad", test_cidr_bad);
  g_test_add_func ("/tun/route", test_route);
  g_test_add_func ("/tun/ifname", test_ifname);
  g_test_add_func ("/tun/error-quoting", test_error_quoting);
  g_test_add_func ("/tun/corpus", test_corpus);
  return g_test_run ();
}
