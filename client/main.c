/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client: command-line client of the anyd system service.
 *
 *   anyd-client [GLOBAL OPTION…] GROUP COMMAND [OPTION…] [ARG…]
 *   anyd-client [GLOBAL OPTION…] COMMAND [OPTION…] [ARG…]   (top-level commands)
 *
 * This file only dispatches: global options, group and command lookup,
 * per-command options (GOptionContext), argument counts.  Groups live in
 * one file each and are listed in client/meson.build, which generates
 * anyd_client_groups[] (client-groups.c).
 */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

extern const AnydClientGroup *const anyd_client_groups[];

/* Options only meaningful before the group name. */
typedef struct {
  gboolean show_version;
  gboolean list_commands;
} GlobalFlags;

static const AnydClientCommand *
find_command (const AnydClientGroup *group, const char *name)
{
  for (const AnydClientCommand *c = group->commands; c->name != NULL; c++)
    if (g_str_equal (c->name, name))
      return c;
  return NULL;
}

static const AnydClientGroup *
find_group (const char *name)
{
  for (guint i = 0; anyd_client_groups[i] != NULL; i++)
    if (g_str_equal (anyd_client_groups[i]->name, name))
      return anyd_client_groups[i];
  return NULL;
}

/* A command reachable as "anyd-client COMMAND". */
static const AnydClientCommand *
find_toplevel_command (const char *name, const AnydClientGroup **group_out)
{
  for (guint i = 0; anyd_client_groups[i] != NULL; i++)
    {
      const AnydClientCommand *c;

      if (!anyd_client_groups[i]->toplevel)
        continue;
      c = find_command (anyd_client_groups[i], name);
      if (c != NULL)
        {
          *group_out = anyd_client_groups[i];
          return c;
        }
    }
  return NULL;
}

static void
print_command_line (GString *out, const char *name, const char *args, const char *description)
{
  g_autofree char *left = g_strdup_printf ("%s%s%s", name, args ? " " : "", args ? args : "");
  glong len = g_utf8_strlen (left, -1);

  g_string_append_printf (out, "  %s", left);
  if (len >= 32)
    g_string_append_printf (out, "\n  %32s", "");
  else
    g_string_append_printf (out, "%*s", (int) (32 - len), "");
  g_string_append_printf (out, "%s\n", _(description));
}

static void
append_global_options (GString *out)
{
  g_string_append_printf (out, "\n%s\n", _("Global options (before or after the command):"));
  g_string_append_printf (out, "  %-32s%s\n", "--json", _("Print JSON on standard output, errors included"));
  g_string_append_printf (out, "  %-32s%s\n", "-q, --quiet", _("Print nothing when a change succeeds"));
  g_string_append_printf (out, "  %-32s%s\n", _("--fields LIST"), _("Show only these table columns (or rows of a details view)"));
  g_string_append_printf (out, "  %-32s%s\n", "--no-legend", _("Tables without their header line"));
  g_string_append_printf (out, "  %-32s%s\n", "-t, --terse", _("Tables for scripts: no header, no padding, fields split by ':'"));
  g_string_append_printf (out, "  %-32s%s\n", "--color[=WHEN]", _("Colour tables: auto (on a terminal), always or never"));
  g_string_append_printf (out, "  %-32s%s\n", "--no-ask-password", _("Do not ask for a password (no interactive authorization)"));
  g_string_append_printf (out, "  %-32s%s\n", _("--timeout SECONDS"), _("Give up waiting for the daemon after SECONDS (default: wait)"));
  g_string_append_printf (out, "  %-32s%s\n", _("-H, --host [USER@]HOST[:PORT]"), _("Use the system bus of a remote host over ssh"));
  g_string_append_printf (out, "  %-32s%s\n", "--verbose", _("Show the D-Bus calls on standard error"));
  g_string_append_printf (out, "  %-32s%s\n", "-h, --help", _("Show help (also after a group or command)"));
  g_string_append_printf (out, "  %-32s%s\n", "--version", _("Show the version"));
}

static void
print_main_help (FILE *stream)
{
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append_printf (out, "%s\n", _("Usage:"));
  g_string_append_printf (out, "  anyd-client [%s] %s [%s] [%s]\n",
                          _("OPTION…"), _("GROUP COMMAND"), _("OPTION…"), _("ARG…"));
  g_string_append_printf (out, "  anyd-client [%s] %s [%s] [%s]\n\n",
                          _("OPTION…"), _("COMMAND"), _("OPTION…"), _("ARG…"));
  g_string_append_printf (out, "%s\n",
                          _("Ask the anyd system service to do privileged things; polkit decides who may."));

  g_string_append_printf (out, "\n%s\n", _("Commands:"));
  for (guint i = 0; anyd_client_groups[i] != NULL; i++)
    if (anyd_client_groups[i]->toplevel)
      for (const AnydClientCommand *c = anyd_client_groups[i]->commands; c->name; c++)
        print_command_line (out, c->name, c->args, c->description);

  g_string_append_printf (out, "\n%s\n", _("Groups:"));
  for (guint i = 0; anyd_client_groups[i] != NULL; i++)
    print_command_line (out, anyd_client_groups[i]->name, NULL, anyd_client_groups[i]->summary);

  append_global_options (out);
  g_string_append_printf (out, "\n%s\n",
                          _("Run 'anyd-client GROUP --help' to see a group's commands,\n"
                            "'anyd-client GROUP COMMAND --help' for a command's options."));
  fputs (out->str, stream);
}

static void
print_group_help (const AnydClientGroup *group, FILE *stream)
{
  g_autoptr(GString) out = g_string_new (NULL);

  g_string_append_printf (out, "%s\n", _("Usage:"));
  g_string_append_printf (out, "  anyd-client [%s] %s %s [%s] [%s]\n\n",
                          _("OPTION…"), group->name, _("COMMAND"), _("OPTION…"), _("ARG…"));
  g_string_append_printf (out, "%s\n", _(group->summary));
  g_string_append_printf (out, "\n%s\n", _("Commands:"));
  for (const AnydClientCommand *c = group->commands; c->name; c++)
    print_command_line (out, c->name, c->args, c->description);
  if (group->default_command != NULL)
    {
      g_string_append_c (out, '\n');
      g_string_append_printf (out, _("Without a command, '%s' runs."), group->default_command);
      g_string_append_c (out, '\n');
    }
  append_global_options (out);
  fputs (out->str, stream);
}

/* Lines "COMMAND" (top level), "GROUP" and "GROUP COMMAND", for the bash
 * completion (hidden option --list-commands). */
static void
list_commands (void)
{
  for (guint i = 0; anyd_client_groups[i] != NULL; i++)
    if (anyd_client_groups[i]->toplevel)
      for (const AnydClientCommand *c = anyd_client_groups[i]->commands; c->name; c++)
        g_print ("%s\n", c->name);
  for (guint i = 0; anyd_client_groups[i] != NULL; i++)
    {
      g_print ("%s\n", anyd_client_groups[i]->name);
      for (const AnydClientCommand *c = anyd_client_groups[i]->commands; c->name; c++)
        g_print ("%s %s\n", anyd_client_groups[i]->name, c->name);
    }
}

static gboolean
parse_timeout (const char *text, int *timeout_ms)
{
  char *end = NULL;
  double seconds;

  if (text == NULL || *text == '\0')
    return FALSE;
  seconds = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || !isfinite (seconds) || seconds < 0)
    return FALSE;
  if (seconds == 0 || seconds * 1000.0 >= (double) G_MAXINT)
    *timeout_ms = G_MAXINT; /* 0: no timeout */
  else
    *timeout_ms = MAX (1, (int) ceil (seconds * 1000.0));
  return TRUE;
}

/* Takes the global options out of argv (anywhere before "--"), except
 * --help and --version, which mean something else after a group name
 * (a command may have its own --version, e.g. vault get).  Returns the
 * remaining arguments, or sets *exit_code on a usage error. */
static GPtrArray *
take_global_options (AnydClientContext *ctx, int argc, char **argv, int *exit_code)
{
  GPtrArray *rest = g_ptr_array_new ();
  gboolean done = FALSE;

  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      const char *value = NULL;

      if (done || a[0] != '-')
        {
          g_ptr_array_add (rest, argv[i]);
          continue;
        }
      if (g_str_equal (a, "--"))
        {
          done = TRUE;
          g_ptr_array_add (rest, argv[i]);
          continue;
        }

      if (g_str_equal (a, "--json"))
        ctx->json = TRUE;
      else if (g_str_equal (a, "--quiet") || g_str_equal (a, "-q"))
        ctx->quiet = TRUE;
      else if (g_str_equal (a, "--no-legend"))
        ctx->no_legend = TRUE;
      else if (g_str_equal (a, "--terse") || g_str_equal (a, "-t"))
        ctx->terse = TRUE;
      else if (g_str_equal (a, "--color") || g_str_has_prefix (a, "--color="))
        {
          value = a[7] == '=' ? a + 8 : "always";
          if (g_str_equal (value, "auto"))
            ctx->color = ANYD_CLIENT_COLOR_AUTO;
          else if (g_str_equal (value, "always"))
            ctx->color = ANYD_CLIENT_COLOR_ALWAYS;
          else if (g_str_equal (value, "never"))
            ctx->color = ANYD_CLIENT_COLOR_NEVER;
          else
            {
              *exit_code = anyd_client_usage_error (ctx, _("--color takes auto, always or never"));
              g_ptr_array_unref (rest);
              return NULL;
            }
        }
      else if (g_str_equal (a, "--fields") || g_str_has_prefix (a, "--fields="))
        {
          value = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
          if (value == NULL || *value == '\0')
            {
              *exit_code = anyd_client_usage_error (ctx, _("--fields needs a list of column names"));
              g_ptr_array_unref (rest);
              return NULL;
            }
          g_free (ctx->fields);
          ctx->fields = g_strdup (value);
        }
      else if (g_str_equal (a, "--no-ask-password"))
        ctx->ask_password = FALSE;
      else if (g_str_equal (a, "--verbose"))
        ctx->verbose = TRUE;
      else if (g_str_equal (a, "--timeout") || g_str_has_prefix (a, "--timeout="))
        {
          value = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
          if (!parse_timeout (value, &ctx->timeout_ms))
            {
              *exit_code = anyd_client_usage_error (ctx, _("--timeout needs a number of seconds (0: no timeout)"));
              g_ptr_array_unref (rest);
              return NULL;
            }
        }
      else if (g_str_equal (a, "--host") || g_str_has_prefix (a, "--host=") ||
               g_str_has_prefix (a, "-H"))
        {
          if (g_str_has_prefix (a, "--host="))
            value = a + 7;
          else if (a[1] == 'H' && a[2] != '\0')
            value = a + 2;
          else
            value = i + 1 < argc ? argv[++i] : NULL;
          if (value == NULL || *value == '\0')
            {
              *exit_code = anyd_client_usage_error (ctx, _("--host needs [USER@]HOST[:PORT]"));
              g_ptr_array_unref (rest);
              return NULL;
            }
          g_free (ctx->host);
          ctx->host = g_strdup (value);
        }
      else
        g_ptr_array_add (rest, argv[i]);
    }
  return rest;
}

static int
run_command (AnydClientContext *ctx, const AnydClientGroup *group,
             const AnydClientCommand *cmd, const char *command_line,
             int argc, char **argv)
{
  g_autoptr(GOptionContext) octx = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_auto(GStrv) argv_copy = NULL;
  char **pargv;
  int pargc;
  int n_positional;
  int n_options;

  ctx->command_line = command_line;
  /* GOptionContext prints "Usage: <prgname> [OPTION…] ARGS". */
  g_set_prgname (command_line);

  octx = g_option_context_new (cmd->args ? cmd->args : "");
  g_option_context_set_translation_domain (octx, GETTEXT_PACKAGE);
  g_option_context_set_summary (octx, _(cmd->description));
  g_option_context_set_description (octx,
      _("Global options (--json, --quiet, --fields, --terse, --no-ask-password, --timeout, "
        "--host…) are accepted too; see 'anyd-client --help'."));
  if (cmd->options != NULL)
    g_option_context_add_main_entries (octx, cmd->options, GETTEXT_PACKAGE);

  /* Options are parsed only before the first "--" (GOption itself keeps
   * or drops a "--" depending on what follows it); everything after it is
   * positional, verbatim. */
  for (n_options = 0; n_options < argc; n_options++)
    if (g_str_equal (argv[n_options], "--"))
      break;

  /* argv for GOption: [command_line, args before "--"]; keep our own copy
   * of the pointers since GOption rearranges the array. */
  argv_copy = g_new0 (char *, n_options + 2);
  argv_copy[0] = g_strdup (command_line);
  for (int i = 0; i < n_options; i++)
    argv_copy[i + 1] = g_strdup (argv[i]);
  pargc = n_options + 1;
  pargv = g_memdup2 (argv_copy, sizeof (char *) * (n_options + 2));

  if (!g_option_context_parse (octx, &pargc, &pargv, &error))
    {
      g_free (pargv);
      return anyd_client_usage_error (ctx, "%s", error->message);
    }

  /* argv[0] = command name, then the positional arguments. */
  g_ptr_array_add (args, (gpointer) cmd->name);
  for (int i = 1; i < pargc; i++)
    g_ptr_array_add (args, pargv[i]);
  if (n_options < argc)
    {
      ctx->dashdash = (int) args->len;
      for (int i = n_options + 1; i < argc; i++)
        g_ptr_array_add (args, argv[i]);
    }
  g_free (pargv);
  n_positional = (int) args->len - 1;
  g_ptr_array_add (args, NULL);

  if (n_positional < cmd->min_args)
    return anyd_client_usage_error (ctx, _("missing argument (%s)"),
                                    cmd->args ? cmd->args : "");
  if (cmd->max_args >= 0 && n_positional > cmd->max_args)
    return anyd_client_usage_error (ctx, _("too many arguments"));

  return cmd->handler (ctx, n_positional + 1, (char **) args->pdata);
}

int
main (int argc, char **argv)
{
  AnydClientContext ctx = { .ask_password = TRUE, .timeout_ms = -1, .dashdash = -1 };
  g_autoptr(GPtrArray) rest = NULL;
  g_autofree char *command_line = NULL;
  GlobalFlags flags = { FALSE, FALSE };
  const AnydClientGroup *group = NULL;
  const AnydClientCommand *cmd = NULL;
  const char *cmd_name;
  guint i = 0;
  int code = ANYD_CLIENT_EXIT_OK;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* anyd-client __complete WORD…: the words as the shell has them */
  for (int j = 1; j < argc; j++)
    {
      if (g_str_equal (argv[j], "__complete"))
        {
          code = anyd_client_complete (&ctx, argc - j - 1, argv + j + 1);
          goto out;
        }
      if (argv[j][0] != '-')
        break;
    }

  rest = take_global_options (&ctx, argc, argv, &code);
  if (rest == NULL)
    goto out;
  anyd_client_output_init (&ctx);

  /* Options before the group: --help, --version, --list-commands. */
  for (; i < rest->len; i++)
    {
      const char *a = rest->pdata[i];

      if (a[0] != '-')
        break;
      if (g_str_equal (a, "--"))
        {
          i++;
          break;
        }
      if (g_str_equal (a, "-h") || g_str_equal (a, "--help") || g_str_equal (a, "-?"))
        {
          print_main_help (stdout);
          goto out;
        }
      else if (g_str_equal (a, "--version"))
        flags.show_version = TRUE;
      else if (g_str_equal (a, "--list-commands"))
        flags.list_commands = TRUE;
      else
        {
          code = anyd_client_usage_error (&ctx, _("unknown option %s"), a);
          goto out;
        }
    }

  if (flags.show_version)
    {
      if (ctx.json)
        anyd_client_print_json (g_variant_new_parsed ("{'version': <%s>}", PACKAGE_VERSION));
      else
        g_print ("anyd-client %s\n", PACKAGE_VERSION);
      goto out;
    }
  if (flags.list_commands)
    {
      list_commands ();
      goto out;
    }

  if (i >= rest->len)
    {
      print_main_help (stderr);
      code = ANYD_CLIENT_EXIT_USAGE;
      goto out;
    }

  /* GROUP [COMMAND] or top-level COMMAND */
  cmd_name = rest->pdata[i++];

  group = find_group (cmd_name);
  if (group != NULL)
    {
      const char *word = i < rest->len ? rest->pdata[i] : NULL;

      if (word != NULL && (g_str_equal (word, "-h") || g_str_equal (word, "--help") ||
                           g_str_equal (word, "-?") || g_str_equal (word, "help")))
        {
          print_group_help (group, stdout);
          goto out;
        }
      if (word == NULL || word[0] == '-')
        {
          if (group->default_command == NULL)
            {
              print_group_help (group, stderr);
              code = ANYD_CLIENT_EXIT_USAGE;
              goto out;
            }
          word = group->default_command;
        }
      else
        i++;
      cmd = find_command (group, word);
      if (cmd == NULL)
        {
          ctx.command_line = command_line = g_strdup_printf ("anyd-client %s", group->name);
          code = anyd_client_usage_error (&ctx, _("unknown command '%s %s'"), group->name, word);
          goto out;
        }
      command_line = g_strdup_printf ("anyd-client %s %s", group->name, cmd->name);
    }
  else
    {
      if (g_str_equal (cmd_name, "help"))
        {
          const AnydClientGroup *g = i < rest->len ? find_group (rest->pdata[i]) : NULL;
          if (g != NULL)
            print_group_help (g, stdout);
          else
            print_main_help (stdout);
          goto out;
        }
      cmd = find_toplevel_command (cmd_name, &group);
      if (cmd == NULL)
        {
          code = anyd_client_usage_error (&ctx, _("unknown command or group '%s'"), cmd_name);
          goto out;
        }
      command_line = g_strdup_printf ("anyd-client %s", cmd->name);
    }

  code = run_command (&ctx, group, cmd, command_line, (int) (rest->len - i),
                      (char **) rest->pdata + i);
  if (code == ANYD_CLIENT_EXIT_OK && anyd_client_output_failed ())
    code = ANYD_CLIENT_EXIT_USAGE;

out:
  anyd_client_context_clear (&ctx);
  return code;
}
