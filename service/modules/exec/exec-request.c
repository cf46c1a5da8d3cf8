/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing and checking of Run/RunPty requests (see exec-request.h). */
#include "exec-request.h"
#include "error.h"
#include "util.h"

#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COMMAND_LINE_MAX 2048

static const AnydOptionSpec run_options[] = {
  { "cwd", "s" }, { "env", "as" }, { "user", "s" }, { "timeout_ms", "u" },
  { "memory_max", "t" }, { "cpu_quota", "u" }, { "tasks_max", "t" }, { "network", "b" },
  { "sandbox", "s" }, { "keep_running", "b" },
  { "stdin", "h" }, { "stdout", "h" }, { "stderr", "h" },
  { NULL, NULL }
};

static const AnydOptionSpec pty_options[] = {
  { "cwd", "s" }, { "env", "as" }, { "user", "s" }, { "timeout_ms", "u" },
  { "memory_max", "t" }, { "cpu_quota", "u" }, { "tasks_max", "t" }, { "network", "b" },
  { "sandbox", "s" }, { "keep_running", "b" },
  { "rows", "u" }, { "columns", "u" }, { "term", "s" },
  { NULL, NULL }
};

void
exec_request_free (ExecRequest *req)
{
  if (req == NULL)
    return;
  g_strfreev (req->argv);
  g_free (req->command);
  g_free (req->command_line);
  g_strfreev (req->env);
  g_free (req->user);
  g_free (req->cwd);
  g_free (req->sandbox);
  g_free (req->term);
  g_free (req);
}

static gboolean
has_controls (const char *s)
{
  for (const guchar *p = (const guchar *) s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return TRUE;
  return FALSE;
}

char *
exec_escape_controls (const char *text)
{
  GString *out = g_string_sized_new (strlen (text));

  for (const guchar *p = (const guchar *) text; *p; p++)
    {
      if (*p < 0x20 || *p == 0x7f)
        g_string_append_printf (out, "\\x%02x", *p);
      else
        g_string_append_c (out, (char) *p);
    }
  return g_string_free (out, FALSE);
}

static gboolean
is_plain_word (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s; s++)
    if (!g_ascii_isalnum (*s) && strchr ("_@%+=:,./-", *s) == NULL)
      return FALSE;
  return TRUE;
}

static char *
make_command_line (char **argv)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; argv[i] != NULL && s->len < COMMAND_LINE_MAX; i++)
    {
      g_autofree char *quoted = is_plain_word (argv[i]) ? NULL : g_shell_quote (argv[i]);
      g_autofree char *escaped = exec_escape_controls (quoted ? quoted : argv[i]);

      if (i > 0)
        g_string_append_c (s, ' ');
      g_string_append (s, escaped);
    }
  if (s->len > COMMAND_LINE_MAX)
    {
      g_string_truncate (s, COMMAND_LINE_MAX);
      /* don't end inside a UTF-8 sequence */
      while (s->len > 0 && ((guchar) s->str[s->len - 1] & 0xc0) == 0x80)
        g_string_truncate (s, s->len - 1);
      if (s->len > 0 && (guchar) s->str[s->len - 1] >= 0xc0)
        g_string_truncate (s, s->len - 1);
      g_string_append (s, "…");
    }
  return g_string_free (s, FALSE);
}

static gboolean
invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  g_propagate_error (error, g_error_new_valist (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, fmt, ap));
  va_end (ap);
  return FALSE;
}

static gboolean
is_executable_file (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 0111) != 0;
}

/* argv[0] -> the canonical path of the program. */
char *
exec_resolve_command (const char *name, const ExecPolicy *policy, GError **error)
{
  g_autofree char *found = NULL;
  char canonical[PATH_MAX];
  struct stat st;

  if (strlen (name) >= PATH_MAX)
    {
      invalid (error, "argv[0]: too long");
      return NULL;
    }
  if (name[0] == '/')
    found = g_strdup (name);
  else if (strchr (name, '/') != NULL)
    {
      invalid (error, "argv[0]: '%s' is a relative path; give an absolute path or a name "
               "found in [exec] path", name);
      return NULL;
    }
  else
    for (guint i = 0; policy->path_dirs != NULL && policy->path_dirs[i] != NULL && found == NULL; i++)
      {
        g_autofree char *p = g_build_filename (policy->path_dirs[i], name, NULL);
        if (is_executable_file (p))
          found = g_steal_pointer (&p);
      }
  if (found == NULL || realpath (found, canonical) == NULL)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "argv[0]: '%s' not found%s", name,
                   name[0] == '/' ? "" : " in [exec] path");
      return NULL;
    }
  if (stat (canonical, &st) != 0 || !S_ISREG (st.st_mode) || (st.st_mode & 0111) == 0)
    {
      invalid (error, "argv[0]: '%s' is not an executable file", canonical);
      return NULL;
    }
  return g_strdup (canonical);
}

static gboolean
env_name_ok (const char *entry, gsize len)
{
  if (len == 0 || !(g_ascii_isalpha (entry[0]) || entry[0] == '_'))
    return FALSE;
  for (gsize i = 1; i < len; i++)
    if (!(g_ascii_isalnum (entry[i]) || entry[i] == '_'))
      return FALSE;
  return TRUE;
}

gboolean
exec_env_name_is_dangerous (const char *name)
{
  /* What makes a program load or run other code, or changes how a shell
   * or the C library parses: harmless for yourself, an escalation when
   * the command runs as someone else (root). */
  static const char *const prefixes[] = {
    "LD_", "PYTHON", "PERL5", "PERLIO", "RUBY", "GEM_", "NODE_", "MALLOC_", "GCONV_", "LUA_",
    "GIT_", "GST_PLUGIN", "GTK_", "GIO_", "JAVA_", "_JAVA_", "JDK_", "BASH_FUNC_",
  };
  static const char *const names[] = {
    "BASH_ENV", "ENV", "PERLLIB", "PATH", "IFS", "SHELLOPTS", "BASHOPTS", "PS4",
    "PROMPT_COMMAND", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "HOSTALIASES",
    "RESOLV_HOST_CONF", "LOCALDOMAIN", "RES_OPTIONS", "TCLLIBPATH", "SSH_ASKPASS",
    "CDPATH", "GLOBIGNORE", "HOME", "SHELL", "USER", "LOGNAME", "TMPDIR", "SYSTEMD_EXEC_PID",
    "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "CREDENTIALS_DIRECTORY",
  };

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    if (g_str_has_prefix (name, prefixes[i]))
      return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_str_equal (name, names[i]))
      return TRUE;
  return FALSE;
}

gboolean
exec_request_check_env_for_other_user (const ExecRequest *req, GError **error)
{
  for (guint i = 0; req->env != NULL && req->env[i] != NULL; i++)
    {
      g_autofree char *name = g_strndup (req->env[i], strcspn (req->env[i], "="));
      if (exec_env_name_is_dangerous (name))
        return invalid (error, "env: '%s' is refused when the command runs as another user", name);
    }
  return TRUE;
}

static gboolean
check_strv (char **v, const char *field, gsize *bytes, GError **error)
{
  for (guint i = 0; v[i] != NULL; i++)
    {
      if (has_controls (v[i]))
        return invalid (error, "%s[%u]: contains a control character", field, i);
      *bytes += strlen (v[i]) + 1;
      if (*bytes > EXEC_ARGS_BYTES_MAX)
        return invalid (error, "%s: argv and env together exceed %u bytes", field,
                        (guint) EXEC_ARGS_BYTES_MAX);
    }
  return TRUE;
}

static gboolean
check_range_u64 (GVariantDict *d, const char *key, guint64 min, guint64 max, guint64 *out,
                 GError **error)
{
  guint64 v;

  if (!g_variant_dict_lookup (d, key, "t", &v))
    return TRUE;
  if (v < min || v > max)
    return invalid (error, "%s: %" G_GUINT64_FORMAT " is out of range (%" G_GUINT64_FORMAT
                    "–%" G_GUINT64_FORMAT ")", key, v, min, max);
  *out = v;
  return TRUE;
}

static gboolean
check_range_u32 (GVariantDict *d, const char *key, guint32 min, guint32 max, guint32 *out,
                 GError **error)
{
  guint32 v;

  if (!g_variant_dict_lookup (d, key, "u", &v))
    return TRUE;
  if (v < min || v > max)
    return invalid (error, "%s: %u is out of range (%u–%u)", key, v, min, max);
  *out = v;
  return TRUE;
}

static gboolean
parse_options (ExecRequest *req, GVariant *options, const ExecPolicy *policy, gsize *bytes,
               GError **error)
{
  static const char *const fd_keys[] = { "stdin", "stdout", "stderr" };
  g_auto(GVariantDict) d = G_VARIANT_DICT_INIT (options);
  const char *s;

  if (!anyd_options_check (options, req->pty ? pty_options : run_options, "options", error))
    return FALSE;

  /* Whether the user can enter it is for systemd to find out, with the
   * user's own permissions (a failed start, status 200). */
  if (g_variant_dict_lookup (&d, "cwd", "&s", &s))
    {
      if (s[0] != '/' || strlen (s) >= PATH_MAX || has_controls (s))
        return invalid (error, "cwd: must be an absolute path without control characters");
      req->cwd = g_strdup (s);
    }
  if (g_variant_dict_lookup (&d, "env", "^as", &req->env))
    {
      if (g_strv_length (req->env) > EXEC_ENV_MAX)
        return invalid (error, "env: more than %u entries", EXEC_ENV_MAX);
      for (guint i = 0; req->env[i] != NULL; i++)
        {
          const char *eq = strchr (req->env[i], '=');
          if (eq == NULL || !env_name_ok (req->env[i], (gsize) (eq - req->env[i])))
            return invalid (error, "env[%u]: must be KEY=value with KEY of letters, digits and _", i);
        }
      if (!check_strv (req->env, "env", bytes, error))
        return FALSE;
    }
  if (g_variant_dict_lookup (&d, "user", "&s", &s))
    {
      if (*s == '\0' || strlen (s) > 256 || has_controls (s) || strchr (s, '/') || strchr (s, ':'))
        return invalid (error, "user: not a valid user name");
      req->user = g_strdup (s);
    }
  if (!check_range_u32 (&d, "timeout_ms", 1, EXEC_TIMEOUT_MAX_MS, &req->timeout_ms, error) ||
      !check_range_u64 (&d, "memory_max", EXEC_MEMORY_MIN, EXEC_MEMORY_MAX, &req->memory_max, error) ||
      !check_range_u32 (&d, "cpu_quota", 1, EXEC_CPU_QUOTA_MAX, &req->cpu_quota, error) ||
      !check_range_u64 (&d, "tasks_max", 1, EXEC_TASKS_MAX, &req->tasks_max, error) ||
      !check_range_u32 (&d, "rows", 1, 65535, &req->rows, error) ||
      !check_range_u32 (&d, "columns", 1, 65535, &req->columns, error))
    return FALSE;
  req->network = TRUE;
  g_variant_dict_lookup (&d, "network", "b", &req->network);
  g_variant_dict_lookup (&d, "keep_running", "b", &req->keep_running);
  if (g_variant_dict_lookup (&d, "sandbox", "&s", &s))
    {
      if (!g_str_equal (s, "strict") && !g_str_equal (s, "none"))
        return invalid (error, "sandbox: must be 'strict' or 'none'");
      req->sandbox = g_strdup (s);
    }
  else
    req->sandbox = g_strdup (policy->default_sandbox ? policy->default_sandbox : "strict");
  if (g_variant_dict_lookup (&d, "term", "&s", &s))
    {
      if (*s == '\0' || strlen (s) > 64)
        return invalid (error, "term: must be 1–64 characters");
      for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum (*p) && strchr ("._+-", *p) == NULL)
          return invalid (error, "term: '%s' is not a terminal type name", s);
      req->term = g_strdup (s);
    }
  for (guint i = 0; i < G_N_ELEMENTS (fd_keys); i++)
    {
      gint32 h;
      req->fd_index[i] = -1;
      if (g_variant_dict_lookup (&d, fd_keys[i], "h", &h))
        {
          if (h < 0)
            return invalid (error, "%s: negative fd index", fd_keys[i]);
          req->fd_index[i] = h;
        }
    }
  return TRUE;
}

ExecRequest *
exec_request_parse (GVariant *parameters, gboolean pty, const ExecPolicy *policy,
                    gboolean check_files, GError **error)
{
  g_autoptr(ExecRequest) req = g_new0 (ExecRequest, 1);
  g_autoptr(GVariant) options = NULL;
  gsize bytes = 0;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(asa{sv})")))
    {
      invalid (error, "expected (as argv, a{sv} options)");
      return NULL;
    }
  g_variant_get (parameters, "(^as@a{sv})", &req->argv, &options);
  req->pty = pty;
  req->fd_index[0] = req->fd_index[1] = req->fd_index[2] = -1;
  if (req->argv[0] == NULL || req->argv[0][0] == '\0')
    {
      invalid (error, "argv: empty; argv[0] names the program");
      return NULL;
    }
  if (g_strv_length (req->argv) > EXEC_ARGV_MAX)
    {
      invalid (error, "argv: more than %u arguments", EXEC_ARGV_MAX);
      return NULL;
    }
  if (!check_strv (req->argv, "argv", &bytes, error) ||
      !parse_options (req, options, policy, &bytes, error))
    return NULL;
  if (check_files && (req->command = exec_resolve_command (req->argv[0], policy, error)) == NULL)
    return NULL;
  req->command_line = make_command_line (req->argv);
  return g_steal_pointer (&req);
}

gboolean
exec_request_allowed (const ExecRequest *req, const ExecPolicy *policy, const char *origin,
                      GError **error)
{
  if (policy->allow == NULL || policy->allow[0] == NULL)
    return TRUE;
  for (guint i = 0; policy->allow[i] != NULL; i++)
    if (g_str_equal (policy->allow[i], req->command) ||
        fnmatch (policy->allow[i], req->command, FNM_PATHNAME) == 0)
      return TRUE;
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
               "argv[0]: '%s' is not in the allowlist ([exec] allow= of %s)", req->command,
               origin ? origin : "anyd.conf");
  return FALSE;
}

gboolean
exec_allow_entry_is_valid (const char *entry, GError **error)
{
  if (entry[0] != '/' || has_controls (entry) || strstr (entry, "//") || strstr (entry, "/./") ||
      strstr (entry, "/../") || g_str_has_suffix (entry, "/") || g_str_has_suffix (entry, "/.") ||
      g_str_has_suffix (entry, "/.."))
    return invalid (error, "[exec] allow: '%s' is not a canonical absolute path or pattern", entry);
  return TRUE;
}
