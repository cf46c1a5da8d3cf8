/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client services: allowed systemd units (org.anyd1.Services).
 *
 *   anyd-client services list
 *   anyd-client services status UNIT
 *   anyd-client services start|stop|restart|reload UNIT
 *
 * Unit names go to the daemon as typed; it normalises them ("nginx" ->
 * "nginx.service") and refuses units not on its allowlist. The verbs wait
 * for systemd's job (no D-Bus timeout unless --timeout is given). */
#include "config.h"

#include <string.h>

#include <anyd.h>

#include "common.h"

#define SERVICES_PATH  ANYD_CLIENT_PATH "/services"

static AnydServices *
services_proxy (AnydClientContext *ctx, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_SERVICES_PROXY, anyd_services_interface_info (),
                                SERVICES_PATH, error);
}

static GVariant *
get_status (AnydClientContext *ctx, AnydServices *services, const char *unit, GError **error)
{
  GVariant *status = NULL;

  if (!ANYD_CLIENT_TYPED_CALL (ctx, services, error,
                               anyd_services_call_get_status_sync (services, unit, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                   &status, NULL, error)))
    return NULL;
  return status;
}

static const char *
lookup_str (GVariant *status, const char *key)
{
  const char *v = NULL;

  if (status == NULL || !g_variant_lookup (status, key, "&s", &v) || *v == '\0')
    return NULL;
  return v;
}

static char *
main_pid_text (GVariant *status)
{
  guint32 pid = 0;

  if (status == NULL || !g_variant_lookup (status, "MainPID", "u", &pid) || pid == 0)
    return NULL;
  return g_strdup_printf ("%u", pid);
}

/* The unit's name and its status as one JSON object. */
static GVariant *
status_object (const char *unit, GVariant *status, const GError *error)
{
  GVariantDict d;

  g_variant_dict_init (&d, status);
  g_variant_dict_insert (&d, "unit", "s", unit);
  if (error != NULL)
    {
      g_autofree char *name = anyd_client_error_name (error);
      g_variant_dict_insert (&d, "error", "s", name);
      g_variant_dict_insert (&d, "message", "s", error->message);
    }
  return g_variant_dict_end (&d);
}

static int
cmd_list (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydServices) services = NULL;
  g_auto(GStrv) units = NULL;
  g_autoptr(AnydClientTable) table = NULL;
  GVariantBuilder json;

  services = services_proxy (ctx, &error);
  if (services == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, services, &error,
                               anyd_services_call_list_allowed_sync (services, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                     &units, NULL, &error)))
    return anyd_client_fail (ctx, error);

  g_variant_builder_init (&json, G_VARIANT_TYPE ("aa{sv}"));
  table = anyd_client_table_new (NC_("column", "UNIT"), NC_("column", "ACTIVE"), NC_("column", "SUB"),
                                 NC_("column", "MAIN PID"), NC_("column", "RESULT"), NULL);
  for (guint i = 0; units[i] != NULL; i++)
    {
      g_autoptr(GError) unit_error = NULL;
      g_autoptr(GVariant) status = NULL;
      g_autofree char *pid = NULL;
      gboolean pattern = strpbrk (units[i], "*?[") != NULL;
      const char *active;

      /* A pattern names no unit to ask about. */
      if (!pattern)
        status = get_status (ctx, services, units[i], &unit_error);
      if (ctx->json)
        {
          GVariant *obj = status_object (units[i], status, unit_error);
          if (pattern)
            {
              GVariantDict d;
              g_variant_dict_init (&d, obj);
              g_variant_dict_insert (&d, "pattern", "b", TRUE);
              obj = g_variant_dict_end (&d);
            }
          g_variant_builder_add_value (&json, obj);
          continue;
        }
      pid = main_pid_text (status);
      if (pattern)
        active = anyd_client_value_word (N_("(pattern)"));
      else if (status != NULL)
        active = lookup_str (status, "ActiveState");
      else if (anyd_client_exit_code_for_error (unit_error) == ANYD_CLIENT_EXIT_NOT_FOUND)
        active = anyd_client_value_word (N_("not-found"));
      else
        active = NULL;
      anyd_client_table_add_row (table, units[i], active, lookup_str (status, "SubState"), pid,
                                 lookup_str (status, "Result"));
    }
  if (ctx->json)
    {
      anyd_client_print_json (g_variant_builder_end (&json));
      return ANYD_CLIENT_EXIT_OK;
    }
  g_variant_builder_clear (&json);
  if (anyd_client_table_get_n_rows (table) == 0)
    {
      g_print ("%s\n", _("No units are allowed ([services] allow= in anyd.conf is empty)."));
      return ANYD_CLIENT_EXIT_OK;
    }
  anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_status (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydServices) services = services_proxy (ctx, &error);
  g_autoptr(GVariant) status = services ? get_status (ctx, services, argv[1], &error) : NULL;
  g_autoptr(AnydClientTable) table = NULL;
  g_autofree char *pid = NULL;
  g_autofree char *since = NULL;
  g_autofree char *active = NULL;
  guint64 usec = 0;

  if (status == NULL)
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    {
      anyd_client_print_json (status_object (argv[1], status, NULL));
      return ANYD_CLIENT_EXIT_OK;
    }
  g_variant_lookup (status, "Since", "t", &usec);
  pid = main_pid_text (status);
  since = anyd_client_format_timestamp (usec);
  active = g_strdup_printf ("%s (%s)", lookup_str (status, "ActiveState") ?: "?",
                            lookup_str (status, "SubState") ?: "?");
  table = anyd_client_table_new_plain (2);
  anyd_client_table_add_row (table, N_("Unit:"), argv[1]);
  anyd_client_table_add_row (table, N_("Active:"), active);
  anyd_client_table_add_row (table, N_("Main PID:"), pid);
  anyd_client_table_add_row (table, N_("Result:"), lookup_str (status, "Result"));
  anyd_client_table_add_row (table, N_("Since:"), since);
  anyd_client_table_print (table);
  return ANYD_CLIENT_EXIT_OK;
}

/* start, stop, restart, reload: the command's name is the verb. */
static int
cmd_verb (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydServices) services = services_proxy (ctx, &error);
  const char *unit = argv[1];
  gboolean ok = FALSE;

  if (services == NULL)
    return anyd_client_fail (ctx, error);
  if (g_str_equal (argv[0], "start"))
    ok = ANYD_CLIENT_TYPED_CALL (ctx, services, &error,
                                 anyd_services_call_start_sync (services, unit, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                NULL, &error));
  else if (g_str_equal (argv[0], "stop"))
    ok = ANYD_CLIENT_TYPED_CALL (ctx, services, &error,
                                 anyd_services_call_stop_sync (services, unit, ANYD_CLIENT_CALL_ARGS (ctx),
                                                               NULL, &error));
  else if (g_str_equal (argv[0], "restart"))
    ok = ANYD_CLIENT_TYPED_CALL (ctx, services, &error,
                                 anyd_services_call_restart_sync (services, unit, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                  NULL, &error));
  else if (g_str_equal (argv[0], "reload"))
    ok = ANYD_CLIENT_TYPED_CALL (ctx, services, &error,
                                 anyd_services_call_reload_sync (services, unit, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                 NULL, &error));
  else
    g_assert_not_reached ();
  if (!ok)
    return anyd_client_fail (ctx, error);
  /* Silent on success, like systemctl; JSON says what was done. */
  if (ctx->json)
    {
      GVariantDict d;
      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, "unit", "s", argv[1]);
      g_variant_dict_insert (&d, "verb", "s", argv[0]);
      g_variant_dict_insert (&d, "result", "s", "done");
      anyd_client_print_json (g_variant_dict_end (&d));
    }
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_monitor (AnydClientContext *ctx, int argc, char **argv)
{
  return anyd_client_monitor_module (ctx, "services");
}

static const AnydClientCommand services_commands[] = {
  { "list", NULL, N_("List the allowed units and their state"), cmd_list, 0, 0 },
  { "status", N_("UNIT"), N_("Show an allowed unit's state, main PID and result"), cmd_status, 1, 1 },
  { "start", N_("UNIT"), N_("Start an allowed unit and wait for the job"), cmd_verb, 1, 1 },
  { "stop", N_("UNIT"), N_("Stop an allowed unit and wait for the job"), cmd_verb, 1, 1 },
  { "restart", N_("UNIT"), N_("Restart an allowed unit and wait for the job"), cmd_verb, 1, 1 },
  { "reload", N_("UNIT"), N_("Reload an allowed unit (needs ExecReload=) and wait for the job"),
    cmd_verb, 1, 1 },
  { "monitor", NULL, N_("Print state changes of the allowed units as they happen"), cmd_monitor, 0, 0 },
  { NULL }
};

const AnydClientGroup anyd_client_group_services = {
  .name = "services",
  .summary = N_("Start, stop, restart and reload the systemd units anyd allows"),
  .commands = services_commands,
  .default_command = "list",
};
