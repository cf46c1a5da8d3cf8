/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the exec module's request checks (exec-request.c): argv,
 * options, command resolution, the allowlist, the environment; then a fuzz
 * loop over random requests (from a vocabulary of good and bad pieces, and
 * from random bytes read as (asa{sv})) checking that every answer is either
 * a well-formed request or an error naming a field. */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "exec-request.h"

static ExecPolicy policy;

static ExecRequest *
parse (const char *text, gboolean pty, GError **error)
{
  g_autoptr(GVariant) v = g_variant_ref_sink (g_variant_parse (G_VARIANT_TYPE ("(asa{sv})"), text,
                                                               NULL, NULL, NULL));
  g_assert_nonnull (v);
  return exec_request_parse (v, pty, &policy, TRUE, error);
}

static ExecRequest *
parse_nofiles (const char *text, GError **error)
{
  g_autoptr(GVariant) v = g_variant_ref_sink (g_variant_parse (G_VARIANT_TYPE ("(asa{sv})"), text,
                                                               NULL, NULL, NULL));
  return exec_request_parse (v, FALSE, &policy, FALSE, error);
}

static void
test_good (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExecRequest) r = parse ("(['true'], {'timeout_ms': <uint32 1500>, 'memory_max': "
                                    "<uint64 67108864>, 'env': <['A=1', 'B=x y']>, 'cwd': <'/'>, "
                                    "'network': <false>, 'stdout': <handle 0>})", FALSE, &error);
  g_autoptr(ExecRequest) q = NULL;

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (r->command, "/"));
  g_assert_true (g_str_has_suffix (r->command, "/true"));
  g_assert_cmpstr (r->argv[0], ==, "true");
  g_assert_cmpuint (r->timeout_ms, ==, 1500);
  g_assert_cmpuint (r->memory_max, ==, 64 * 1024 * 1024);
  g_assert_false (r->network);
  g_assert_cmpstr (r->sandbox, ==, "strict");
  g_assert_cmpint (r->fd_index[0], ==, -1);
  g_assert_cmpint (r->fd_index[1], ==, 0);
  g_assert_cmpstr (r->env[1], ==, "B=x y");

  q = parse ("(['/bin/echo', '$HOME', 'a b', ''], {'sandbox': <'none'>, 'rows': <uint32 40>})",
             TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (q->sandbox, ==, "none");
  g_assert_cmpuint (q->rows, ==, 40);
  /* quoted for people where needed; $ stays literal */
  g_assert_cmpstr (q->command_line, ==, "/bin/echo '$HOME' 'a b' ''");
}

static void
test_bad (void)
{
  static const struct { const char *text; gboolean pty; int code; const char *field; } cases[] = {
    { "(@as [], @a{sv} {})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "argv: " },
    { "([''], @a{sv} {})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "argv: " },
    { "(['no-such-program-zz'], @a{sv} {})", FALSE, ANYD_ERROR_NOT_FOUND, "argv[0]: " },
    { "(['/no/such'], @a{sv} {})", FALSE, ANYD_ERROR_NOT_FOUND, "argv[0]: " },
    { "(['./x'], @a{sv} {})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "argv[0]: " },
    { "(['/etc/passwd'], @a{sv} {})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "argv[0]: " },
    { "(['/bin/true', 'a\\nb'], @a{sv} {})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "argv[1]: " },
    { "(['/bin/true'], {'env': <['X']>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "env[0]: " },
    { "(['/bin/true'], {'env': <['=1']>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "env[0]: " },
    { "(['/bin/true'], {'env': <['A-B=1']>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "env[0]: " },
    { "(['/bin/true'], {'env': <['A=\\u0001']>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "env[0]: " },
    { "(['/bin/true'], {'cwd': <'tmp'>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "cwd: " },
    { "(['/bin/true'], {'user': <''>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "user: " },
    { "(['/bin/true'], {'user': <'a:b'>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "user: " },
    { "(['/bin/true'], {'timeout_ms': <uint32 0>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "timeout_ms: " },
    { "(['/bin/true'], {'timeout_ms': <uint32 4000000000>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "timeout_ms: " },
    { "(['/bin/true'], {'memory_max': <uint64 1>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "memory_max: " },
    { "(['/bin/true'], {'cpu_quota': <uint32 0>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "cpu_quota: " },
    { "(['/bin/true'], {'tasks_max': <uint64 0>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "tasks_max: " },
    { "(['/bin/true'], {'sandbox': <'x'>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "sandbox: " },
    { "(['/bin/true'], {'stdin': <handle -1>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "stdin: " },
    { "(['/bin/true'], {'stdin': <handle 0>})", TRUE, ANYD_ERROR_INVALID_ARGUMENT, "options: " },
    { "(['/bin/true'], {'rows': <uint32 5>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "options: " },
    { "(['/bin/true'], {'rows': <uint32 0>})", TRUE, ANYD_ERROR_INVALID_ARGUMENT, "rows: " },
    { "(['/bin/true'], {'term': <'a b'>})", TRUE, ANYD_ERROR_INVALID_ARGUMENT, "term: " },
    { "(['/bin/true'], {'user': <uint32 0>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "options: " },
    { "(['/bin/true'], {'typo': <1>})", FALSE, ANYD_ERROR_INVALID_ARGUMENT, "options: " },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(ExecRequest) r = parse (cases[i].text, cases[i].pty, &error);

      if (r != NULL || !g_error_matches (error, ANYD_ERROR, cases[i].code) ||
          !g_str_has_prefix (error->message, cases[i].field))
        g_error ("%s: got %s", cases[i].text, error ? error->message : "success");
    }
}

/* Without check_files: syntax only; nothing about the file system. */
static void
test_no_files (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExecRequest) r = parse_nofiles ("(['/no/such'], {'cwd': <'/no/such/dir'>})", &error);

  g_assert_no_error (error);
  g_assert_null (r->command);
  g_clear_pointer (&r, exec_request_free);
  r = parse_nofiles ("(['/no/such'], {'cwd': <'relative'>})", &error);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
}

/* The daemon parses without check_files on the main loop and resolves
 * argv[0] in a thread: the two steps answer exactly as the one does (same
 * error, same message; a syntax error first), and find the same command. */
static void
test_split (void)
{
  static const char *const cases[] = {
    "(['true'], @a{sv} {})",
    "(['/bin/echo', 'x'], {'cwd': <'/no/such/dir'>})",
    "(['no-such-program-zz'], @a{sv} {})",
    "(['/no/such'], @a{sv} {})",
    "(['./x'], @a{sv} {})",
    "(['x/y'], @a{sv} {})",
    "(['/etc/passwd'], @a{sv} {})",
    "(['/etc'], @a{sv} {})",
    "(['/no/such'], {'cwd': <'relative'>})",
    "(['no-such-program-zz'], {'env': <['A-B=1']>})",
    "(['/bin/true', 'a\\nb'], @a{sv} {})",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) one_error = NULL;
      g_autoptr(GError) two_error = NULL;
      g_autoptr(ExecRequest) one = parse (cases[i], FALSE, &one_error);
      g_autoptr(ExecRequest) two = parse_nofiles (cases[i], &two_error);
      g_autofree char *command = NULL;

      if (two != NULL)
        {
          g_assert_null (two->command);
          command = exec_resolve_command (two->argv[0], &policy, &two_error);
        }
      if (one != NULL)
        {
          g_assert_no_error (two_error);
          g_assert_cmpstr (one->command, ==, command);
          continue;
        }
      g_assert_nonnull (two_error);
      g_assert_cmpuint (one_error->domain, ==, two_error->domain);
      g_assert_cmpint (one_error->code, ==, two_error->code);
      g_assert_cmpstr (one_error->message, ==, two_error->message);
    }
}

static void
test_allow (void)
{
  char *allow[] = { (char *) "/usr/bin/e*", (char *) "/usr/local/sbin/backup", NULL };
  ExecPolicy p = policy;
  ExecRequest r = { 0 };
  g_autoptr(GError) error = NULL;

  p.allow = allow;
  r.command = (char *) "/usr/bin/echo";
  g_assert_true (exec_request_allowed (&r, &p, NULL, NULL));
  r.command = (char *) "/usr/local/sbin/backup";
  g_assert_true (exec_request_allowed (&r, &p, NULL, NULL));
  r.command = (char *) "/usr/bin/sub/echo";     /* * does not cross / */
  g_assert_false (exec_request_allowed (&r, &p, NULL, NULL));
  r.command = (char *) "/usr/bin/id";
  g_assert_false (exec_request_allowed (&r, &p, "/etc/anyd/anyd.conf:3", &error));
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED);
  g_assert_nonnull (strstr (error->message, "/etc/anyd/anyd.conf:3"));
  p.allow = NULL;
  g_assert_true (exec_request_allowed (&r, &p, NULL, NULL));

  g_assert_true (exec_allow_entry_is_valid ("/usr/bin/*", NULL));
  g_assert_false (exec_allow_entry_is_valid ("usr/bin/x", NULL));
  g_assert_false (exec_allow_entry_is_valid ("/usr/../bin/x", NULL));
  g_assert_false (exec_allow_entry_is_valid ("/usr/bin/", NULL));
}

static void
test_env_names (void)
{
  const char *dangerous[] = { "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV", "ENV", "PYTHONPATH",
                              "PYTHONSTARTUP", "PERL5LIB", "PERL5OPT", "NODE_OPTIONS", "GCONV_PATH",
                              "PATH", "IFS", "GLIBC_TUNABLES", "BASH_FUNC_x%%" };
  const char *fine[] = { "LANG", "TERM", "FOO", "MY_PATH", "XLD_PRELOAD" };

  for (guint i = 0; i < G_N_ELEMENTS (dangerous); i++)
    g_assert_true (exec_env_name_is_dangerous (dangerous[i]));
  for (guint i = 0; i < G_N_ELEMENTS (fine); i++)
    g_assert_false (exec_env_name_is_dangerous (fine[i]));
}

static void
test_escape (void)
{
  g_autofree char *e = exec_escape_controls ("a\nb\x1b[2J\x7f" "é");

  g_assert_cmpstr (e, ==, "a\\x0ab\\x1b[2J\\x7fé");
}

/* ---- fuzz ------------------------------------------------------------- */

static const char *const words[] = {
  "", "true", "/bin/true", "/usr/bin/env", "sh", "./x", "a/b", "/no/such", "/etc/passwd", "/",
  "$HOME", "a\nb", "\t", "\x1b[31m", "é", "A=1", "=x", "LD_PRELOAD=/x", "PATH=/tmp", "B C=d",
  "root", "nobody", "0", "/tmp", "/root", "strict", "none", "xterm", "a b",
};

static GVariant *
random_value (const char *key)
{
  switch (g_test_rand_int_range (0, 9))
    {
    case 0: return g_variant_new_string (words[g_test_rand_int_range (0, G_N_ELEMENTS (words))]);
    case 1: return g_variant_new_uint32 ((guint32) g_test_rand_int ());
    case 2: return g_variant_new_uint64 (((guint64) (guint32) g_test_rand_int () << 32) | (guint32) g_test_rand_int ());
    case 3: return g_variant_new_boolean (g_test_rand_bit ());
    case 4: return g_variant_new_handle (g_test_rand_int_range (-3, 20));
    case 5:
      {
        GVariantBuilder b;
        g_variant_builder_init (&b, G_VARIANT_TYPE ("as"));
        for (int i = g_test_rand_int_range (0, 4); i > 0; i--)
          g_variant_builder_add (&b, "s", words[g_test_rand_int_range (0, G_N_ELEMENTS (words))]);
        return g_variant_builder_end (&b);
      }
    case 6: return g_variant_new_uint32 ((guint32) g_test_rand_int_range (0, 100));
    case 7: return g_variant_new_int32 (g_test_rand_int ());
    default: return g_variant_new_uint64 ((guint64) g_test_rand_int_range (0, 1 << 30));
    }
}

static GVariant *
random_request (void)
{
  static const char *const keys[] = {
    "cwd", "env", "user", "timeout_ms", "memory_max", "cpu_quota", "tasks_max", "network",
    "sandbox", "keep_running", "stdin", "stdout", "stderr", "rows", "columns", "term", "bogus",
  };
  GVariantBuilder argv, opts;

  g_variant_builder_init (&argv, G_VARIANT_TYPE ("as"));
  for (int i = g_test_rand_int_range (0, 5); i > 0; i--)
    g_variant_builder_add (&argv, "s", words[g_test_rand_int_range (0, G_N_ELEMENTS (words))]);
  g_variant_builder_init (&opts, G_VARIANT_TYPE ("a{sv}"));
  for (int i = g_test_rand_int_range (0, 4); i > 0; i--)
    {
      const char *k = keys[g_test_rand_int_range (0, G_N_ELEMENTS (keys))];
      g_variant_builder_add (&opts, "{sv}", k, random_value (k));
    }
  return g_variant_ref_sink (g_variant_new ("(@as@a{sv})", g_variant_builder_end (&argv),
                                            g_variant_builder_end (&opts)));
}

static void
check_answer (GVariant *params, gboolean pty)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ExecRequest) r = exec_request_parse (params, pty, &policy, TRUE, &error);
  static const char *const fields[] = {
    "argv", "options", "cwd", "env", "user", "timeout_ms", "memory_max", "cpu_quota",
    "tasks_max", "sandbox", "term", "stdin", "stdout", "stderr", "rows", "columns", "expected",
  };
  gboolean named = FALSE;

  if (r != NULL)
    {
      g_assert_no_error (error);
      g_assert_true (r->command[0] == '/');
      g_assert_true (access (r->command, X_OK) == 0);
      g_assert_nonnull (r->argv[0]);
      g_assert_cmpstr (r->argv[0], !=, "");
      for (const char *p = r->command_line; *p; p++)
        g_assert_true ((guchar) *p >= 0x20 && *p != 0x7f);
      g_assert_true (r->timeout_ms <= EXEC_TIMEOUT_MAX_MS);
      g_assert_true (r->memory_max == 0 || r->memory_max >= EXEC_MEMORY_MIN);
      g_assert_true (g_str_equal (r->sandbox, "strict") || g_str_equal (r->sandbox, "none"));
      for (guint i = 0; r->env != NULL && r->env[i] != NULL; i++)
        g_assert_nonnull (strchr (r->env[i], '='));
      return;
    }
  g_assert_nonnull (error);
  g_assert_true (error->domain == ANYD_ERROR);
  g_assert_true (error->code == ANYD_ERROR_INVALID_ARGUMENT || error->code == ANYD_ERROR_NOT_FOUND);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    named |= g_str_has_prefix (error->message, fields[i]);
  if (!named)
    g_error ("error names no field: %s", error->message);
}

static void
test_fuzz (void)
{
  for (int i = 0; i < 20000; i++)
    {
      g_autoptr(GVariant) v = random_request ();
      check_answer (v, g_test_rand_bit ());
    }
  /* random bytes read as (asa{sv}), in normal form as GDBus delivers them */
  for (int i = 0; i < 20000; i++)
    {
      gsize n = (gsize) g_test_rand_int_range (0, 96);
      g_autofree guint8 *data = g_malloc (n + 1);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GVariant) raw = NULL, normal = NULL;

      for (gsize j = 0; j < n; j++)
        data[j] = (guint8) g_test_rand_int_range (0, 256);
      bytes = g_bytes_new (data, n);
      raw = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(asa{sv})"), bytes, FALSE));
      normal = g_variant_get_normal_form (raw);
      check_answer (normal, g_test_rand_bit ());
    }
}

int
main (int argc, char **argv)
{
  char *path[] = { (char *) "/usr/bin", (char *) "/bin", NULL };

  g_test_init (&argc, &argv, NULL);
  policy.path_dirs = path;
  policy.default_sandbox = (char *) "strict";
  g_test_add_func ("/exec-request/good", test_good);
  g_test_add_func ("/exec-request/bad", test_bad);
  g_test_add_func ("/exec-request/no-files", test_no_files);
  g_test_add_func ("/exec-request/split", test_split);
  g_test_add_func ("/exec-request/allow", test_allow);
  g_test_add_func ("/exec-request/env-names", test_env_names);
  g_test_add_func ("/exec-request/escape", test_escape);
  g_test_add_func ("/exec-request/fuzz", test_fuzz);
  return g_test_run ();
}
