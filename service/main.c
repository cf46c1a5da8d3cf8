/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "daemon.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

int
main (int argc, char **argv)
{
  g_autofree char *config_dir = NULL;
  gboolean verbose = FALSE, version = FALSE, print_config = FALSE, replace = FALSE;
  gint idle_timeout = -1;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  AnydDaemon *daemon;
  AnydDaemonOptions options = { 0 };
  struct rlimit no_core = { 0, 0 };
  int rc;
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_dir,
      "Read anyd.conf and anyd.conf.d/ from DIR (default " ANYD_SYSCONFDIR ")", "DIR" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout,
      "Exit after N seconds without callers or live resources (0 = never; overrides [daemon] idle_timeout_s)", "N" },
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace, "Replace a running instance", NULL },
    { "print-config", 0, 0, G_OPTION_ARG_NONE, &print_config,
      "Print a commented configuration with every key and its default, then exit", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  /* Secrets may pass through this process: no core dumps, no ptrace by
   * unprivileged users, private files by default. */
  prctl (PR_SET_DUMPABLE, 0, 0, 0, 0);
  setrlimit (RLIMIT_CORE, &no_core);
  umask (0077);
  signal (SIGPIPE, SIG_IGN);

  context = g_option_context_new ("- privileged helper service on the D-Bus system bus");
  g_option_context_set_summary (context,
    "anyd owns org.anyd1 on the system bus and does privileged work (TUN devices, VPN,\n"
    "vault, services) for unprivileged callers that polkit authorizes. It is normally\n"
    "started by D-Bus activation through systemd (anyd.service). See anyd(8).");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("anyd: %s\nTry 'anyd --help'.\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("anyd: unexpected argument '%s'\nTry 'anyd --help'.\n", argv[1]);
      return 2;
    }
  if (version)
    {
      g_print ("anyd %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (print_config)
    {
      g_autofree char *text = anyd_daemon_print_config ();
      g_print ("%s", text);
      return 0;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);
  if (idle_timeout < -1)
    {
      g_printerr ("anyd: --idle-timeout must be 0 or more\n");
      return 2;
    }

  options.config_dir = config_dir;
  options.idle_timeout_s = idle_timeout;
  options.replace = replace;
  daemon = anyd_daemon_new (&options, &error);
  if (daemon == NULL)
    {
      g_printerr ("anyd: refusing to start: %s\n", error->message);
      return 1;
    }
  rc = anyd_daemon_run (daemon);
  anyd_daemon_free (daemon);
  return rc;
}
