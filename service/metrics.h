/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Metrics in the Prometheus text exposition format (Manager.GetMetrics and
 * [daemon] metrics_textfile).
 *
 * Counters are plain integers bumped where the event happens, with no lock
 * and no allocation; the text is built only when someone asks. Modules add
 * their gauges with a collector (anyd_metrics_add_collector), which runs on
 * the main thread while the text is built, so a module's metrics stay in its
 * folder.
 *
 * Building with -Dmetrics=false compiles the counting out (the hooks below
 * become empty): what the benchmark compares against. */
#pragma once
#include <gio/gio.h>
#include "anyd-build-config.h"
#include "auth.h"
#include "config.h"

G_BEGIN_DECLS

/* Results of anyd_auth_checks_total, as the audit records name them. */
typedef enum {
  ANYD_METRICS_CHECK_ALLOWED,
  ANYD_METRICS_CHECK_DENIED,
  ANYD_METRICS_CHECK_CHALLENGE,
  ANYD_METRICS_CHECK_DISMISSED,
  ANYD_METRICS_CHECK_ERROR,
  ANYD_METRICS_N_CHECK_RESULTS,
} AnydMetricsCheckResult;

#ifdef ANYD_METRICS
/* The gate received a call to a method of its table (before deciding):
 * its reply is counted as ok, error or denied when it is sent. */
void anyd_metrics_call (GDBusMethodInvocation *invocation, const AnydAuthRule *rule);
/* The gate decided (from the cache or from polkit). */
void anyd_metrics_auth_check (AnydMetricsCheckResult result);
/* A decision came from the cache. */
void anyd_metrics_auth_cache_hit (void);
/* A quota of [limits] refused a call; module as passed to anyd_limits_*(). */
void anyd_metrics_quota_refused (const char *module);
/* An exec process ended or was refused; reason: a string literal from a
 * small fixed set (e.g. "exited", "signaled", "timeout", "memory"). */
void anyd_metrics_exec_process (const char *reason);
#else
static inline void anyd_metrics_call (GDBusMethodInvocation *invocation, const AnydAuthRule *rule)
{ (void) invocation; (void) rule; }
static inline void anyd_metrics_auth_check (AnydMetricsCheckResult result) { (void) result; }
static inline void anyd_metrics_auth_cache_hit (void) { }
static inline void anyd_metrics_quota_refused (const char *module) { (void) module; }
static inline void anyd_metrics_exec_process (const char *reason) { (void) reason; }
#endif

/* ---- gauges from modules */

typedef struct _AnydMetricsWriter AnydMetricsWriter;

/* Add the module's samples with anyd_metrics_sample(); runs on the main
 * thread whenever the text is built. */
typedef void (*AnydMetricsCollectFunc) (AnydMetricsWriter *writer, gpointer user_data);

/* Returns an id for anyd_metrics_remove_collector() (call it in stop). */
guint anyd_metrics_add_collector (AnydMetricsCollectFunc func, gpointer user_data);
void  anyd_metrics_remove_collector (guint id);

/* One sample of a known family (anyd_resources, anyd_vpn_connection_up,
 * anyd_vpn_rx_bytes_total, ...): label name/value pairs, NULL-terminated.
 * Values are escaped here. A family this file does not define is a bug. */
void  anyd_metrics_sample (AnydMetricsWriter *writer, const char *family, guint64 value, ...)
  G_GNUC_NULL_TERMINATED;

/* ---- the daemon */

/* Every row of tables (anyd_daemon_auth_tables()) gets its call counters;
 * replies to these methods are counted from now on. */
void  anyd_metrics_start (GDBusConnection *bus, const AnydAuthRule *const *tables);
void  anyd_metrics_stop (void);
/* [daemon] metrics_textfile and metrics_interval_s (at start and on Reload). */
void  anyd_metrics_set_config (AnydConfig *config);
/* The whole text, for GetMetrics. */
char *anyd_metrics_render (void);

extern const AnydConfigKey anyd_metrics_config_keys[];

G_END_DECLS
