/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* service/metrics.c without a bus: the text's shape, label escaping, the
 * module a call-rate refusal is counted for, bounded label sets, collectors
 * coming and going. (Counting of calls on the wire: tests/test_metrics.py.) */
#include "anyd-build-config.h"
#include "daemon.h"
#include "metrics.h"

#include <string.h>

static void
odd_collector (AnydMetricsWriter *w, gpointer user_data)
{
  anyd_metrics_sample (w, "anyd_vpn_connection_up", 1, "profile", user_data, "type", "wireguard", NULL);
  anyd_metrics_sample (w, "anyd_resources", 7, "module", "tun", NULL);
}

static void
test_text (void)
{
  g_autofree char *text = NULL;
  guint id = anyd_metrics_add_collector (odd_collector, (gpointer) "a\"b\\c\nd");

  text = anyd_metrics_render ();
  g_assert_nonnull (strstr (text, "# HELP anyd_build_info "));
  g_assert_nonnull (strstr (text, "# TYPE anyd_calls_total counter\n"));
  g_assert_nonnull (strstr (text, "anyd_build_info{version=\"" PACKAGE_VERSION "\"} 1\n"));
  g_assert_nonnull (strstr (text, "anyd_vpn_connection_up{profile=\"a\\\"b\\\\c\\nd\",type=\"wireguard\"} 1\n"));
  g_assert_nonnull (strstr (text, "anyd_resources{module=\"tun\"} 7\n"));
  g_assert_nonnull (strstr (text, "anyd_calls_total{interface=\"org.anyd1.Manager\",method=\"GetMetrics\",result=\"denied\"} 0\n"));
  /* samples follow their own family's TYPE line */
  g_assert_true (strstr (text, "anyd_resources{") > strstr (text, "# TYPE anyd_resources gauge"));
  g_assert_true (strstr (text, "anyd_resources{") < strstr (text, "# TYPE anyd_vpn_connection_up"));

  anyd_metrics_remove_collector (id);
  g_free (text);
  text = anyd_metrics_render ();
  g_assert_null (strstr (text, "anyd_resources{module=\"tun\"} 7"));
  g_assert_nonnull (strstr (text, "# TYPE anyd_resources gauge\n"));
}

static guint64
sample (const char *text, const char *series)
{
  g_autofree char *line = g_strconcat ("\n", series, NULL);   /* a sample, not its HELP line */
  const char *p = strstr (text, line);

  g_assert_nonnull (p);
  return g_ascii_strtoull (p + strlen (line), NULL, 10);
}

static void
test_counters (void)
{
  g_autofree char *before = anyd_metrics_render ();
  g_autofree char *after = NULL;

  anyd_metrics_quota_refused ("tun");
  anyd_metrics_quota_refused ("org.anyd1.tun.manage");     /* call rate: the action's module */
  anyd_metrics_quota_refused ("org.anyd1.manage");         /* the daemon's own action */
  anyd_metrics_exec_process ("exited");
  anyd_metrics_exec_process ("exited");
  anyd_metrics_auth_check (ANYD_METRICS_CHECK_CHALLENGE);
  anyd_metrics_auth_cache_hit ();
  after = anyd_metrics_render ();

#ifdef ANYD_METRICS
  g_assert_cmpuint (sample (after, "anyd_quota_refusals_total{module=\"tun\"} "), ==,
                    sample (before, "anyd_quota_refusals_total{module=\"tun\"} ") + 2);
  g_assert_cmpuint (sample (after, "anyd_quota_refusals_total{module=\"daemon\"} "), ==, 1);
  g_assert_cmpuint (sample (after, "anyd_exec_processes_total{reason=\"exited\"} "), ==, 2);
  g_assert_cmpuint (sample (after, "anyd_auth_checks_total{result=\"challenge\"} "), ==,
                    sample (before, "anyd_auth_checks_total{result=\"challenge\"} ") + 1);
  g_assert_cmpuint (sample (after, "anyd_auth_cache_hits_total "), ==,
                    sample (before, "anyd_auth_cache_hits_total ") + 1);
#else
  g_test_skip ("counting compiled out (-Dmetrics=false)");
#endif
}

/* A label set from literals stays bounded even if a caller misbehaves. */
static void
test_bounded (void)
{
  g_autofree char *text = NULL;
  guint n = 0;
  const char *p;

  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *reason = g_strdup_printf ("r%u", i);
      anyd_metrics_exec_process (reason);
    }
  text = anyd_metrics_render ();
  for (p = text; (p = strstr (p, "anyd_exec_processes_total{")) != NULL; p++)
    n++;
  g_assert_cmpuint (n, <=, 32);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  anyd_metrics_start (NULL, anyd_daemon_auth_tables ());
  g_test_add_func ("/metrics/text", test_text);
  g_test_add_func ("/metrics/counters", test_counters);
  g_test_add_func ("/metrics/bounded", test_bounded);
  return g_test_run ();
}
