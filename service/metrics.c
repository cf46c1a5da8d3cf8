/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Metrics: counters where events happen, text when asked (see metrics.h).
 *
 * Calls are counted per row of the gate's tables (interface, method) by
 * their reply: a handler may answer from many places and much later, but
 * every answer leaves through the connection, where a filter (on GDBus's
 * worker thread) sees it. The gate notes each call it receives, with its
 * row, in a fixed table keyed by (sender, serial) (anyd_metrics_call: no
 * lock, no allocation); the filter finds the row of each reply there and
 * counts ok, error or denied. Those counters are written by the worker
 * thread only and read on the main thread with relaxed atomic loads.
 * Everything else is counted on the main thread. */
#include "anyd-build-config.h"
#include "metrics.h"
#include "auth/auth-private.h"
#include "error.h"
#include "module.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

const AnydConfigKey anyd_metrics_config_keys[] = {
  { "daemon", "metrics_textfile", ANYD_CONFIG_STRING, NULL,
    "file rewritten atomically (mode 0644) with the metrics every metrics_interval_s, for node_exporter's textfile collector, e.g. /var/lib/prometheus/node-exporter/anyd.prom (empty = none)" },
  { "daemon", "metrics_interval_s", ANYD_CONFIG_UINT, "15",
    "seconds between rewrites of metrics_textfile", 86400 },
  { NULL }
};

/* ------------------------------------------------------------------ families */

typedef enum {
  F_BUILD_INFO,
  F_CALLS,
  F_AUTH_CHECKS,
  F_AUTH_CACHE_HITS,
  F_RESOURCES,
  F_VPN_UP,
  F_VPN_RX,
  F_VPN_TX,
  F_EXEC,
  F_QUOTA,
  N_FAMILIES
} Family;

static const struct {
  const char *name;
  const char *type;
  const char *help;
} families[N_FAMILIES] = {
  [F_BUILD_INFO]      = { "anyd_build_info", "gauge", "anyd's version (the value is always 1)" },
  [F_CALLS]           = { "anyd_calls_total", "counter",
                          "method calls answered, by interface, method and result (ok, error, denied)" },
  [F_AUTH_CHECKS]     = { "anyd_auth_checks_total", "counter",
                          "authorization decisions of the gate, by result" },
  [F_AUTH_CACHE_HITS] = { "anyd_auth_cache_hits_total", "counter",
                          "authorization decisions taken from the gate's cache" },
  [F_RESOURCES]       = { "anyd_resources", "gauge",
                          "live resources (devices, connections, processes) by module" },
  [F_VPN_UP]          = { "anyd_vpn_connection_up", "gauge",
                          "1 while the profile's connection is connected, else 0" },
  [F_VPN_RX]          = { "anyd_vpn_rx_bytes_total", "counter",
                          "bytes received through the profile's connection (since it started)" },
  [F_VPN_TX]          = { "anyd_vpn_tx_bytes_total", "counter",
                          "bytes sent through the profile's connection (since it started)" },
  [F_EXEC]            = { "anyd_exec_processes_total", "counter",
                          "exec processes that ended or were refused, by reason" },
  [F_QUOTA]           = { "anyd_quota_refusals_total", "counter",
                          "calls refused by a [limits] quota, by module" },
};

/* ------------------------------------------------------------------ counters */

enum { RES_OK, RES_ERROR, RES_DENIED, N_RES };
static const char *const result_names[N_RES] = { "ok", "error", "denied" };

typedef struct {
  const AnydAuthRule *rule;
  guint64             n[N_RES];  /* written by the bus worker thread only */
} RuleCounter;

/* A counter with one label whose values come from a small set of string
 * literals (modules, exec reasons); a new value is remembered once. */
#define MAX_LABELS 32
typedef struct {
  const char *label[MAX_LABELS];
  guint64     n[MAX_LABELS];
  guint       len;
} LabelCounter;

/* check.c passes the gate's verdict as it is. */
G_STATIC_ASSERT ((int) VERDICT_ALLOWED == (int) ANYD_METRICS_CHECK_ALLOWED &&
                 (int) VERDICT_DENIED == (int) ANYD_METRICS_CHECK_DENIED &&
                 (int) VERDICT_CHALLENGE == (int) ANYD_METRICS_CHECK_CHALLENGE &&
                 (int) VERDICT_DISMISSED == (int) ANYD_METRICS_CHECK_DISMISSED &&
                 (int) VERDICT_ERROR == (int) ANYD_METRICS_CHECK_ERROR);

static const char *const check_names[ANYD_METRICS_N_CHECK_RESULTS] = {
  "allowed", "denied", "challenge", "dismissed", "error"
};

typedef struct {
  guint                   id;
  AnydMetricsCollectFunc  func;
  gpointer                data;
} Collector;

/* The daemon is one per process; so are its counters. The rule counters are
 * never freed: a filter being removed may still be running on the worker. */
static struct {
  RuleCounter      *rules;
  guint             n_rules;
  GHashTable       *by_rule;       /* const AnydAuthRule* -> RuleCounter*, read-only once started */
  guint64           checks[ANYD_METRICS_N_CHECK_RESULTS];
  guint64           cache_hits;
  LabelCounter      quota;
  LabelCounter      exec;
  GArray           *collectors;    /* Collector */
  guint             next_collector;
  GDBusConnection  *bus;
  guint             filter_id;
  /* the textfile */
  char             *textfile;
  guint             interval_s;
  guint             timer;
  gboolean          writing;
  char             *last_error;    /* warned once until it changes */
} m;

static guint64
load (const guint64 *p)
{
  return __atomic_load_n (p, __ATOMIC_RELAXED);
}

/* Single writer: a plain add, published without a locked instruction. */
G_GNUC_UNUSED static void
bump (guint64 *p)
{
  __atomic_store_n (p, __atomic_load_n (p, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static guint64 *
label_slot (LabelCounter *c, const char *label, gsize len)
{
  for (guint i = 0; i < c->len; i++)
    if (strncmp (c->label[i], label, len) == 0 && c->label[i][len] == '\0')
      return &c->n[i];
  if (c->len == MAX_LABELS)
    return NULL;   /* the set is bounded: past it, not counted */
  {
    g_autofree char *copy = g_strndup (label, len);
    c->label[c->len] = g_intern_string (copy);
  }
  return &c->n[c->len++];
}

#ifdef ANYD_METRICS
void
anyd_metrics_auth_check (AnydMetricsCheckResult result)
{
  if ((guint) result < ANYD_METRICS_N_CHECK_RESULTS)
    m.checks[result]++;
}

void
anyd_metrics_auth_cache_hit (void)
{
  m.cache_hits++;
}

void
anyd_metrics_quota_refused (const char *module)
{
  gsize len;
  guint64 *slot;

  /* The per-uid call rate names an action: count it for the action's module. */
  if (g_str_has_prefix (module, ANYD_DBUS_NAME "."))
    {
      const char *dot;

      module += strlen (ANYD_DBUS_NAME ".");
      dot = strchr (module, '.');
      if (dot == NULL)
        module = "daemon";   /* org.anyd1.manage */
      len = dot ? (gsize) (dot - module) : strlen (module);
    }
  else
    len = strlen (module);
  slot = label_slot (&m.quota, module, len);
  if (slot != NULL)
    (*slot)++;
}

void
anyd_metrics_exec_process (const char *reason)
{
  guint64 *slot = label_slot (&m.exec, reason, strlen (reason));

  if (slot != NULL)
    (*slot)++;
}
#endif

/* ------------------------------------------------------------------ calls */
#ifdef ANYD_METRICS

/* Calls awaiting their reply, by (sender, serial): open addressing in a
 * fixed table. The gate (main thread) fills free slots only; the filter
 * (the bus worker thread) empties the slot of each reply it sees. A slot's
 * key is published with release/acquire, its counter pointer written
 * before. With every probed slot taken (calls that never get a reply pile
 * up, or more are in flight than the table holds) a call goes uncounted. */
#define PENDING_SLOTS 4096u   /* power of two */
#define PENDING_PROBE 16u

typedef struct {
  guint64      key;        /* sender hash << 32 | serial; 0 = free */
  RuleCounter *rc;
} Pending;

static Pending pending[PENDING_SLOTS];

static guint64
pending_key (const char *sender, guint32 serial)
{
  return (guint64) g_str_hash (sender) << 32 | serial;
}

static guint
pending_home (guint64 key)
{
  return (guint) ((key * 0x9E3779B97F4A7C15ull) >> 52) & (PENDING_SLOTS - 1);
}

void
anyd_metrics_call (GDBusMethodInvocation *invocation, const AnydAuthRule *rule)
{
  GDBusMessage *msg = g_dbus_method_invocation_get_message (invocation);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  RuleCounter *rc;
  guint64 key;
  guint home;

  if (m.by_rule == NULL || sender == NULL ||
      (g_dbus_message_get_flags (msg) & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) ||
      (rc = g_hash_table_lookup (m.by_rule, rule)) == NULL)
    return;
  key = pending_key (sender, g_dbus_message_get_serial (msg));
  home = pending_home (key);
  for (guint i = 0; i < PENDING_PROBE; i++)
    {
      Pending *p = &pending[(home + i) & (PENDING_SLOTS - 1)];
      if (__atomic_load_n (&p->key, __ATOMIC_ACQUIRE) == 0)
        {
          p->rc = rc;
          __atomic_store_n (&p->key, key, __ATOMIC_RELEASE);
          return;
        }
    }
}

static RuleCounter *
pending_take (guint64 key)
{
  guint home = pending_home (key);

  for (guint i = 0; i < PENDING_PROBE; i++)
    {
      Pending *p = &pending[(home + i) & (PENDING_SLOTS - 1)];
      if (__atomic_load_n (&p->key, __ATOMIC_ACQUIRE) == key)
        {
          RuleCounter *rc = p->rc;
          __atomic_store_n (&p->key, 0, __ATOMIC_RELEASE);
          return rc;
        }
    }
  return NULL;
}

static gboolean
is_denial (const char *error_name)
{
  return error_name != NULL && g_str_has_prefix (error_name, ANYD_ERROR_PREFIX) &&
         (g_str_equal (error_name + strlen (ANYD_ERROR_PREFIX), "NotAuthorized") ||
          g_str_equal (error_name + strlen (ANYD_ERROR_PREFIX), "NotAuthorizedCanObtain") ||
          g_str_equal (error_name + strlen (ANYD_ERROR_PREFIX), "AuthorizationDismissed"));
}

/* Every answer leaves through here, whichever code sent it and when. */
static GDBusMessage *
filter_cb (GDBusConnection *bus, GDBusMessage *message, gboolean incoming, gpointer user_data)
{
  GDBusMessageType type;
  const char *dest;
  RuleCounter *rc;

  if (incoming)
    return message;
  type = g_dbus_message_get_message_type (message);
  if ((type != G_DBUS_MESSAGE_TYPE_METHOD_RETURN && type != G_DBUS_MESSAGE_TYPE_ERROR) ||
      (dest = g_dbus_message_get_destination (message)) == NULL ||
      (rc = pending_take (pending_key (dest, g_dbus_message_get_reply_serial (message)))) == NULL)
    return message;
  if (type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN)
    bump (&rc->n[RES_OK]);
  else if (is_denial (g_dbus_message_get_error_name (message)))
    bump (&rc->n[RES_DENIED]);
  else
    bump (&rc->n[RES_ERROR]);
  return message;
}
#endif

/* ------------------------------------------------------------------ text */

struct _AnydMetricsWriter {
  GString *samples[N_FAMILIES];
};

static void
append_label_value (GString *s, const char *v)
{
  for (; *v != '\0'; v++)
    {
      if (*v == '\\')
        g_string_append (s, "\\\\");
      else if (*v == '"')
        g_string_append (s, "\\\"");
      else if (*v == '\n')
        g_string_append (s, "\\n");
      else
        g_string_append_c (s, *v);
    }
}

/* " <value>\n" without printf: a few hundred samples per GetMetrics. */
static void
append_uint (GString *s, guint64 v)
{
  char buf[24];
  guint i = sizeof buf;

  buf[--i] = '\n';
  do
    buf[--i] = (char) ('0' + v % 10);
  while ((v /= 10) != 0);
  buf[--i] = ' ';
  g_string_append_len (s, buf + i, (gssize) (sizeof buf - i));
}

static void
add_sample_v (AnydMetricsWriter *w, Family f, guint64 value, va_list ap)
{
  GString *s = w->samples[f];
  const char *name;
  gboolean first = TRUE;

  g_string_append (s, families[f].name);
  while ((name = va_arg (ap, const char *)) != NULL)
    {
      const char *v = va_arg (ap, const char *);
      g_string_append (s, first ? "{" : ",");
      g_string_append (s, name);
      g_string_append (s, "=\"");
      append_label_value (s, v ? v : "");
      g_string_append_c (s, '"');
      first = FALSE;
    }
  if (!first)
    g_string_append_c (s, '}');
  append_uint (s, value);
}

static void
add_sample (AnydMetricsWriter *w, Family f, guint64 value, ...)
{
  va_list ap;

  va_start (ap, value);
  add_sample_v (w, f, value, ap);
  va_end (ap);
}

void
anyd_metrics_sample (AnydMetricsWriter *writer, const char *family, guint64 value, ...)
{
  va_list ap;

  for (guint f = 0; f < N_FAMILIES; f++)
    if (g_str_equal (families[f].name, family))
      {
        va_start (ap, value);
        add_sample_v (writer, f, value, ap);
        va_end (ap);
        return;
      }
  g_warning ("BUG: metric family %s is not defined in service/metrics.c", family);
}

char *
anyd_metrics_render (void)
{
  AnydMetricsWriter w;
  GString *out = g_string_sized_new (8192);

  for (guint f = 0; f < N_FAMILIES; f++)
    w.samples[f] = g_string_new (NULL);

  add_sample (&w, F_BUILD_INFO, 1, "version", PACKAGE_VERSION, NULL);
  for (guint i = 0; i < m.n_rules; i++)
    for (guint r = 0; r < N_RES; r++)
      add_sample (&w, F_CALLS, load (&m.rules[i].n[r]), "interface", m.rules[i].rule->interface,
                  "method", m.rules[i].rule->method, "result", result_names[r], NULL);
  for (guint r = 0; r < ANYD_METRICS_N_CHECK_RESULTS; r++)
    add_sample (&w, F_AUTH_CHECKS, m.checks[r], "result", check_names[r], NULL);
  add_sample (&w, F_AUTH_CACHE_HITS, m.cache_hits, NULL);
  for (guint i = 0; i < m.quota.len; i++)
    add_sample (&w, F_QUOTA, m.quota.n[i], "module", m.quota.label[i], NULL);
  for (guint i = 0; i < m.exec.len; i++)
    add_sample (&w, F_EXEC, m.exec.n[i], "reason", m.exec.label[i], NULL);
  for (guint i = 0; m.collectors != NULL && i < m.collectors->len; i++)
    {
      Collector *c = &g_array_index (m.collectors, Collector, i);
      c->func (&w, c->data);
    }

  for (guint f = 0; f < N_FAMILIES; f++)
    {
      g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help,
                              families[f].name, families[f].type);
      g_string_append_len (out, w.samples[f]->str, (gssize) w.samples[f]->len);
      g_string_free (w.samples[f], TRUE);
    }
  return g_string_free (out, FALSE);
}

/* ------------------------------------------------------------------ collectors */

guint
anyd_metrics_add_collector (AnydMetricsCollectFunc func, gpointer user_data)
{
  Collector c = { ++m.next_collector, func, user_data };

  if (m.collectors == NULL)
    m.collectors = g_array_new (FALSE, FALSE, sizeof (Collector));
  g_array_append_val (m.collectors, c);
  return c.id;
}

void
anyd_metrics_remove_collector (guint id)
{
  for (guint i = 0; m.collectors != NULL && i < m.collectors->len; i++)
    if (g_array_index (m.collectors, Collector, i).id == id)
      {
        g_array_remove_index (m.collectors, i);
        return;
      }
}

/* ------------------------------------------------------------------ the textfile */

/* Temp file + rename, so the collector never reads half a file; 0644
 * whatever the umask (node_exporter runs as its own user). No fsync: after a
 * crash an older sample or none is as good, and the disk is not woken up. */
static gboolean
write_textfile (const char *path, const char *text, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".XXXXXX", NULL);
  gsize len = strlen (text), done = 0;
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  int saved;

  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create a file next to %s: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  if (fchmod (fd, 0644) < 0)
    goto fail;
  while (done < len)
    {
      ssize_t n = write (fd, text + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        goto fail;
      done += (gsize) n;
    }
  if (close (fd) < 0)
    {
      fd = -1;
      goto fail;
    }
  fd = -1;
  if (rename (tmp, path) < 0)
    goto fail;
  return TRUE;

fail:
  saved = errno;
  if (fd >= 0)
    close (fd);
  unlink (tmp);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot write %s: %s", path,
               g_strerror (saved));
  return FALSE;
}

static void
write_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *path = g_object_get_data (G_OBJECT (task), "path");
  GError *error = NULL;

  if (write_textfile (path, task_data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
written_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  m.writing = FALSE;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      /* A missing directory (node_exporter not installed yet) is no reason to stop. */
      if (g_strcmp0 (m.last_error, error->message) != 0)
        g_warning ("metrics_textfile: %s (retrying every %u s)", error->message, m.interval_s);
      g_free (m.last_error);
      m.last_error = g_strdup (error->message);
    }
  else if (m.last_error != NULL)
    {
      g_message ("metrics_textfile: written again");
      g_clear_pointer (&m.last_error, g_free);
    }
}

static gboolean
textfile_cb (gpointer user_data)
{
  GTask *task;

  if (m.textfile == NULL || m.writing)
    return G_SOURCE_CONTINUE;
  m.writing = TRUE;
  task = g_task_new (NULL, NULL, written_cb, NULL);
  g_task_set_source_tag (task, textfile_cb);
  g_task_set_task_data (task, anyd_metrics_render (), g_free);
  g_object_set_data_full (G_OBJECT (task), "path", g_strdup (m.textfile), g_free);
  g_task_run_in_thread (task, write_thread);
  g_object_unref (task);
  return G_SOURCE_CONTINUE;
}

void
anyd_metrics_set_config (AnydConfig *config)
{
  g_autofree char *path = anyd_config_get_string (config, "daemon", "metrics_textfile");
  guint interval = anyd_config_get_uint (config, "daemon", "metrics_interval_s");

  if (path != NULL && *path == '\0')
    g_clear_pointer (&path, g_free);
  if (g_strcmp0 (path, m.textfile) == 0 && interval == m.interval_s)
    return;
  g_clear_handle_id (&m.timer, g_source_remove);
  g_clear_pointer (&m.last_error, g_free);
  g_free (m.textfile);
  m.textfile = g_steal_pointer (&path);
  m.interval_s = MAX (interval, 1);
  if (m.textfile == NULL)
    return;
  m.timer = g_timeout_add_seconds (m.interval_s, textfile_cb, NULL);
  textfile_cb (NULL);
}

/* ------------------------------------------------------------------ lifecycle */

void
anyd_metrics_start (GDBusConnection *bus, const AnydAuthRule *const *tables)
{
  guint n = 0, k = 0;

  if (m.rules == NULL)
    {
      for (guint t = 0; tables[t] != NULL; t++)
        for (const AnydAuthRule *r = tables[t]; r->interface != NULL; r++)
          n++;
      m.rules = g_new0 (RuleCounter, n);
      m.n_rules = n;
      m.by_rule = g_hash_table_new (NULL, NULL);
      for (guint t = 0; tables[t] != NULL; t++)
        for (const AnydAuthRule *r = tables[t]; r->interface != NULL; r++)
          {
            m.rules[k].rule = r;
            g_hash_table_insert (m.by_rule, (gpointer) r, &m.rules[k++]);
          }
      /* Every module's quota series exists from the start, at 0. */
      for (guint i = 0; anyd_module_registry[i] != NULL; i++)
        label_slot (&m.quota, anyd_module_registry[i]->name, strlen (anyd_module_registry[i]->name));
    }
#ifdef ANYD_METRICS
  /* The filter counts replies to the calls the gate noted (anyd_metrics_call). */
  if (m.filter_id == 0 && bus != NULL)
    {
      m.bus = g_object_ref (bus);
      m.filter_id = g_dbus_connection_add_filter (bus, filter_cb, NULL, NULL);
    }
#endif
}

void
anyd_metrics_stop (void)
{
  g_clear_handle_id (&m.timer, g_source_remove);
  g_clear_pointer (&m.textfile, g_free);
  g_clear_pointer (&m.last_error, g_free);
  m.interval_s = 0;
  if (m.filter_id != 0)
    g_dbus_connection_remove_filter (m.bus, m.filter_id);
  m.filter_id = 0;
  g_clear_object (&m.bus);
}
