/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench/call-path: what a method call through anyd's authorization gate
 * costs, against a bare GDBus echo on the same bus and the original Python
 * anyd's transport, all measured in one run (call-path issue).
 *
 *   call-path [--bus dbus-daemon|dbus-broker|both] [--seconds S] [--calls N]
 *
 * As root. For each bus it builds the test sandbox (tests/anydtest.py via
 * bench/call-path-sandbox.py: private mount+pid+net namespaces, that bus as
 * the system bus, the real polkitd with the test rules) and runs itself
 * inside (--inner): a GDBus echo server and anyd from the build tree on
 * that bus, and client processes (--client, GDBus like a real client) as
 * root, uid 65534 (allowed by polkit's JavaScript rules) and uid 2 (denied).
 * bench/python-anyd-baseline.py measures the Python baseline. Last, the
 * ratios and the issue's targets.
 *
 * Numbers depend on the machine and on whatever else runs on it: the
 * ratios, measured in the same run, are what to compare. Latency and
 * throughput cases run in interleaved rounds so that changing background
 * load hits all of them alike, and the server's CPU time per call (from
 * /proc/PID/task/TID/schedstat, so independent of other load) shows what
 * the gate itself costs next to the echo server.
 *
 * Gate cost (Core v2 issue, §8), also alone with --only gate-cost: a
 * cached gated call against the cheapest public one, all as uid 65534 —
 * Properties.Get Manager.Version vs Vault.Get of a 16-byte secret (and
 * Vault.ListKeys, the gate with an empty handler): 8 synchronous caller
 * processes per call in rotating rounds (calls/s ratio), the same 8
 * processes each alternating the two calls, warm single-caller medians
 * (interleaved rounds, and one caller alternating the two), and anyd's
 * instructions per call from callgrind, (Ir at k+N calls - Ir at k)/N, for
 * the public call, the cached gated call and Vault.Get (needs valgrind;
 * skipped when it is not installed; a "CALLGRIND ..." line sums them up).
 * Two environment variables help find where the time goes:
 *   ANYD_BENCH_PERF_DIR=DIR  one more 8-caller round per call under
 *                            `perf record -g -p ANYD` (DIR/perf-TARGET.data)
 *   ANYD_BENCH_ANYD=PATH     measure that anyd binary (say, one built from
 *                            an older commit) with this tree's policies */
#include <gio/gio.h>
#include <glib-unix.h>
#include <polkit/polkit.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUS_ADDRESS "unix:path=/run/dbus/system_bus_socket"
#define ECHO_NAME   "org.anyd1.bench.Echo"
#define ECHO_PATH   "/org/anyd1/bench/Echo"
#define ECHO_IFACE  "org.anyd1.bench.Echo"
#define NOBODY      65534u   /* the harness's allowed uid */
#define DENIED      2u       /* the harness's denied uid */
#define N_CLIENTS   8
#define IN_FLIGHT   32
#define FLOOD_CALLS 10000
#define ROUNDS      4
#define TPUT_ROUNDS 2
#define FLOOD_ROUNDS 3
#define WARM_UP     20
#define ALT_ROUNDS  4

typedef enum { T_ECHO, T_PUBLIC, T_GATED, T_PROP, T_VAULT_GET, T_VAULT_LIST, T_METRICS } Target;
static const char *const target_names[] = { "echo", "public", "gated", "prop", "vault-get", "vault-list",
                                            "metrics" };

/* The secret T_VAULT_GET reads (16 bytes, stored by root before measuring). */
#define BENCH_SECRET "bench/s16"

/* ================================================================== stats */

typedef struct {
  guint  n;
  double min, med, p99;   /* us */
} Stats;

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static Stats
stats_of (GArray *us)
{
  Stats s = { us->len, 0, 0, 0 };

  if (us->len == 0)
    return s;
  qsort (us->data, us->len, sizeof (double), cmp_double);
  s.min = g_array_index (us, double, 0);
  s.med = g_array_index (us, double, us->len / 2);
  s.p99 = g_array_index (us, double, MIN (us->len - 1, (guint) (us->len * 0.99)));
  return s;
}

static double
now_s (void)
{
  return (double) g_get_monotonic_time () / G_USEC_PER_SEC;
}

/* ================================================================== client */

static GDBusConnection *
connect_bus (GError **error)
{
  return g_dbus_connection_new_for_address_sync (BUS_ADDRESS,
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, error);
}

static void
call_args (Target t, const char **dest, const char **path, const char **iface, const char **method,
           GVariant **params)
{
  switch (t)
    {
    case T_ECHO:
      *dest = ECHO_NAME; *path = ECHO_PATH; *iface = ECHO_IFACE; *method = "Echo";
      *params = g_variant_new ("(s)", "x");
      break;
    case T_PUBLIC:
      *dest = "org.anyd1"; *path = "/org/anyd1"; *iface = "org.anyd1.Manager"; *method = "GetCallerInfo";
      *params = NULL;
      break;
    case T_METRICS:   /* bench/metrics-bench.py */
      *dest = "org.anyd1"; *path = "/org/anyd1"; *iface = "org.anyd1.Manager"; *method = "GetMetrics";
      *params = NULL;
      break;
    case T_PROP:
      /* the cheapest public call: a property read, answered by GDBus */
      *dest = "org.anyd1"; *path = "/org/anyd1"; *iface = "org.freedesktop.DBus.Properties"; *method = "Get";
      *params = g_variant_new ("(ss)", "org.anyd1.Manager", "Version");
      break;
    case T_VAULT_GET:
      *dest = "org.anyd1"; *path = "/org/anyd1/vault"; *iface = "org.anyd1.Vault"; *method = "Get";
      *params = g_variant_new ("(s@a{sv})", BENCH_SECRET, g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
      break;
    case T_VAULT_LIST:
      /* a gated call whose handler does almost nothing (an empty listing) */
      *dest = "org.anyd1"; *path = "/org/anyd1/vault"; *iface = "org.anyd1.Vault"; *method = "ListKeys";
      *params = NULL;
      break;
    case T_GATED:
    default:
      *dest = "org.anyd1"; *path = "/org/anyd1"; *iface = "org.anyd1.Manager"; *method = "Reload";
      *params = NULL;
      break;
    }
}

static gboolean
call_once (GDBusConnection *c, Target t)
{
  const char *dest, *path, *iface, *method;
  GVariant *params;
  g_autoptr(GVariant) r = NULL;

  call_args (t, &dest, &path, &iface, &method, &params);
  r = g_dbus_connection_call_sync (c, dest, path, iface, method, params, NULL,
                                   G_DBUS_CALL_FLAGS_NONE, 30000, NULL, NULL);
  return r != NULL;
}

typedef struct {
  GDBusConnection *conn;
  Target           target;
  GMainLoop       *loop;
  double           end;
  guint            max_calls;
  guint            issued, ok, err, outstanding;
} Pump;

static void pump_issue (Pump *p);

static void
pump_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Pump *p = user_data;
  g_autoptr(GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);

  p->outstanding--;
  if (r != NULL)
    p->ok++;
  else
    p->err++;
  if (now_s () < p->end && p->issued < p->max_calls)
    pump_issue (p);
  else if (p->outstanding == 0)
    g_main_loop_quit (p->loop);
}

static void
pump_issue (Pump *p)
{
  const char *dest, *path, *iface, *method;
  GVariant *params;

  call_args (p->target, &dest, &path, &iface, &method, &params);
  p->issued++;
  p->outstanding++;
  g_dbus_connection_call (p->conn, dest, path, iface, method, params, NULL,
                          G_DBUS_CALL_FLAGS_NONE, 60000, NULL, pump_cb, p);
}

static Pump *the_pump;
static double pump_start;

/* A flooder is stopped while replies are still held back: report now. */
static gboolean
pump_sigterm_cb (gpointer user_data)
{
  g_print ("tput ok=%u err=%u secs=%.4f\n", the_pump->ok, the_pump->err, now_s () - pump_start);
  fflush (stdout);
  _exit (0);
  return G_SOURCE_REMOVE;
}

static void
drop_privileges (guint32 uid)
{
  struct passwd *pw;

  if (uid == 0)
    return;
  pw = getpwuid (uid);
  if (pw == NULL || setgroups (0, NULL) != 0 || setgid (pw->pw_gid) != 0 || setuid (uid) != 0)
    {
      g_printerr ("call-path client: cannot become uid %u: %s\n", uid, g_strerror (errno));
      exit (1);
    }
}

static void
wait_go (void)
{
  char buf[16];

  fflush (stdout);
  if (fgets (buf, sizeof buf, stdin) == NULL)
    exit (0);
}

/* All samples, so the parent can pool interleaved rounds. */
static void
print_samples (GArray *us)
{
  g_autoptr(GString) line = g_string_new ("lat");

  for (guint i = 0; i < us->len; i++)
    g_string_append_printf (line, " %.1f", g_array_index (us, double, i));
  g_print ("%s\n", line->str);
}

/* --client KIND UID TARGET A B C
 *   lat N MAXSEC -          sequential calls on one warm connection
 *   cold N - -              first call of N fresh connections
 *   tput SECONDS INFLIGHT MAX  calls/s (INFLIGHT 1: synchronous calls)
 *   idle - - -              connect, print name and pid, wait for EOF
 *   alt SECONDS - -         alternate Properties.Get Version and TARGET,
 *                           sequentially: calls, seconds and median per kind
 *   calls N - -             N sequential calls right away, then exit */
static int
client_main (int argc, char **argv)
{
  const char *kind = argv[2];
  guint32 uid = (guint32) g_ascii_strtoull (argv[3], NULL, 10);
  Target target = T_ECHO;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) conn = NULL;
  g_autoptr(GArray) us = g_array_new (FALSE, FALSE, sizeof (double));

  if (argc < 8)
    return 2;
  for (guint i = 0; i < G_N_ELEMENTS (target_names); i++)
    if (g_str_equal (argv[4], target_names[i]))
      target = (Target) i;
  drop_privileges (uid);

  if (g_str_equal (kind, "cold"))
    {
      guint n = (guint) atoi (argv[5]);
      g_print ("ready\n");
      wait_go ();
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(GDBusConnection) c = connect_bus (&error);
          double t0;
          if (c == NULL)
            {
              g_printerr ("call-path client: %s\n", error->message);
              return 1;
            }
          t0 = now_s ();
          call_once (c, target);
          g_array_append_vals (us, (double[]) { (now_s () - t0) * 1e6 }, 1);
          g_dbus_connection_close_sync (c, NULL, NULL);
        }
      print_samples (us);
      return 0;
    }

  conn = connect_bus (&error);
  if (conn == NULL)
    {
      g_printerr ("call-path client: %s\n", error->message);
      return 1;
    }
  if (g_str_equal (kind, "calls"))
    {
      guint n = (guint) atoi (argv[5]), failed = 0;
      for (guint i = 0; i < n; i++)
        failed += !call_once (conn, target);
      g_print ("calls n=%u failed=%u\n", n, failed);
      return 0;
    }
  if (g_str_equal (kind, "idle"))
    {
      char buf[16];
      g_print ("ready %s %d\n", g_dbus_connection_get_unique_name (conn), getpid ());
      fflush (stdout);
      while (fgets (buf, sizeof buf, stdin) != NULL)
        ;
      return 0;
    }
  for (guint i = 0; i < WARM_UP; i++)   /* warm up: credentials and decision cached */
    {
      call_once (conn, target);
      if (g_str_equal (kind, "alt"))
        call_once (conn, T_PROP);
    }
  g_print ("ready\n");
  wait_go ();

  if (g_str_equal (kind, "alt"))
    {
      /* the issue's case: one process, a public and a gated call in turn */
      g_autoptr(GArray) us_pub = g_array_new (FALSE, FALSE, sizeof (double));
      double end = now_s () + g_ascii_strtod (argv[5], NULL), secs[2] = { 0, 0 };
      guint ok[2] = { 0, 0 }, err = 0;

      for (guint i = 0; now_s () < end; i++)
        {
          guint k = i % 2;   /* 0: public, 1: target */
          double t0 = now_s (), dt;
          gboolean good = call_once (conn, k ? target : T_PROP);

          dt = now_s () - t0;
          secs[k] += dt;
          ok[k] += good;
          err += !good;
          g_array_append_vals (k ? us : us_pub, (double[]) { dt * 1e6 }, 1);
        }
      g_print ("alt ok_pub=%u ok_gated=%u err=%u secs_pub=%.5f secs_gated=%.5f med_pub=%.1f med_gated=%.1f\n",
               ok[0], ok[1], err, secs[0], secs[1], stats_of (us_pub).med, stats_of (us).med);
    }
  else if (g_str_equal (kind, "lat"))
    {
      guint n = (guint) atoi (argv[5]);
      double end = now_s () + g_ascii_strtod (argv[6], NULL);
      for (guint i = 0; i < n && now_s () < end; i++)
        {
          double t0 = now_s ();
          call_once (conn, target);
          g_array_append_vals (us, (double[]) { (now_s () - t0) * 1e6 }, 1);
        }
      print_samples (us);
    }
  else
    {
      double secs = g_ascii_strtod (argv[5], NULL);
      guint inflight = (guint) atoi (argv[6]);
      guint max_calls = (guint) atoi (argv[7]);
      double t0 = now_s ();
      Pump p = { conn, target, NULL, t0 + secs, max_calls ? max_calls : G_MAXUINT, 0, 0, 0, 0 };

      if (inflight <= 1)
        {
          while (now_s () < p.end && p.issued < p.max_calls)
            {
              p.issued++;
              if (call_once (conn, target))
                p.ok++;
              else
                p.err++;
            }
        }
      else
        {
          p.loop = g_main_loop_new (NULL, FALSE);
          the_pump = &p;
          pump_start = t0;
          g_unix_signal_add (SIGTERM, pump_sigterm_cb, NULL);
          for (guint i = 0; i < inflight; i++)
            pump_issue (&p);
          g_main_loop_run (p.loop);
          g_main_loop_unref (p.loop);
        }
      g_print ("tput ok=%u err=%u secs=%.4f\n", p.ok, p.err, now_s () - t0);
    }
  return 0;
}

/* ================================================================== echo server */

static const char echo_xml[] =
  "<node><interface name='" ECHO_IFACE "'><method name='Echo'>"
  "<arg type='s' direction='in'/><arg type='s' direction='out'/></method></interface></node>";

static void
echo_call (GDBusConnection *c, const char *sender, const char *path, const char *iface,
           const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
  g_dbus_method_invocation_return_value (inv, g_variant_ref (params));
}

static int
echo_main (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) conn = connect_bus (&error);
  g_autoptr(GDBusNodeInfo) info = NULL;
  static const GDBusInterfaceVTable vtable = { echo_call, NULL, NULL, { 0 } };
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);

  if (conn == NULL)
    {
      g_printerr ("call-path echo: %s\n", error->message);
      return 1;
    }
  info = g_dbus_node_info_new_for_xml (echo_xml, NULL);
  g_dbus_connection_register_object (conn, ECHO_PATH, info->interfaces[0], &vtable, NULL, NULL, &error);
  g_bus_own_name_on_connection (conn, ECHO_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, NULL, NULL, NULL, NULL);
  g_main_loop_run (loop);
  return 0;
}

/* ================================================================== inner (in the sandbox) */

typedef struct {
  GPid  pid;
  int   in_fd;
  FILE *out;
} Child;

typedef struct {
  const char      *self;
  GDBusConnection *bus;
  GString         *results;
  GPid             anyd;
  GPid             echo;
  GPid             polkitd;
  double           seconds;
  guint            calls;
} Inner;

static void
child_free (Child *c)
{
  int status;

  if (c->in_fd >= 0)
    close (c->in_fd);
  if (c->out != NULL)
    fclose (c->out);
  if (c->pid > 0)
    waitpid (c->pid, &status, 0);
  g_free (c);
}

static Child *
spawn_client (Inner *in, const char *kind, guint32 uid, Target t, const char *a, const char *b,
              const char *c)
{
  g_autofree char *uid_s = g_strdup_printf ("%u", uid);
  const char *argv[] = { in->self, "--client", kind, uid_s, target_names[t], a, b, c, NULL };
  g_autoptr(GError) error = NULL;
  Child *child = g_new0 (Child, 1);
  int out_fd;

  if (!g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                 &child->pid, &child->in_fd, &out_fd, NULL, &error))
    g_error ("cannot run a client: %s", error->message);
  child->out = fdopen (out_fd, "r");
  return child;
}

static char *
child_line (Child *c)
{
  char *line = NULL;
  size_t cap = 0;

  if (getline (&line, &cap, c->out) < 0)
    {
      free (line);
      return g_strdup ("");
    }
  g_strchomp (line);
  return line;
}

static double
field (const char *line, const char *key)
{
  g_autofree char *pat = g_strconcat (" ", key, "=", NULL);
  const char *p = strstr (line, pat);
  return p ? g_ascii_strtod (p + strlen (pat), NULL) : 0.0;
}

/* Start n clients, let them all warm up, start them together, collect
 * one result line each. */
static char **
run_clients (Inner *in, guint n, const char *kind, guint32 uid, Target t, const char *a,
             const char *b, const char *c)
{
  g_autoptr(GPtrArray) kids = g_ptr_array_new_with_free_func ((GDestroyNotify) child_free);
  g_autoptr(GPtrArray) lines = g_ptr_array_new ();

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (kids, spawn_client (in, kind, uid, t, a, b, c));
  for (guint i = 0; i < n; i++)
    g_free (child_line (kids->pdata[i]));            /* "ready" */
  for (guint i = 0; i < n; i++)
    if (write (((Child *) kids->pdata[i])->in_fd, "go\n", 3) != 3)
      g_warning ("a client went away");
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (lines, child_line (kids->pdata[i]));
  g_ptr_array_add (lines, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&lines), FALSE);
}

static void
add_samples (GArray *us, const char *line)
{
  g_auto(GStrv) words = g_strsplit (line, " ", -1);

  for (guint i = 1; words[0] != NULL && words[i] != NULL; i++)
    g_array_append_vals (us, (double[]) { g_ascii_strtod (words[i], NULL) }, 1);
}

/* Latency samples of one client (sequential calls, or first calls of fresh
 * connections for kind "cold"), added to us. */
static void
measure_lat (Inner *in, const char *kind, guint32 uid, Target t, guint n, double max_secs, GArray *us)
{
  g_autofree char *n_s = g_strdup_printf ("%u", n);
  g_autofree char *secs = g_strdup_printf ("%.1f", max_secs);
  g_auto(GStrv) lines = run_clients (in, 1, kind, uid, t, n_s, secs, "-");

  add_samples (us, lines[0]);
}

typedef struct {
  const char *label;
  const char *key;
  const char *kind;
  guint32     uid;
  Target      target;
  guint       n;
  GArray     *us;
  Stats       s;
  double      cpu_ns, polkitd_ns, calls;  /* server CPU spent, calls it served */
} LatCase;

/* CPU time a process used so far (all threads), ns. */
static double
cpu_ns (GPid pid)
{
  g_autofree char *dir = g_strdup_printf ("/proc/%d/task", pid);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *tid;
  double sum = 0;

  while (d != NULL && (tid = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s/schedstat", dir, tid);
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL))
        sum += g_ascii_strtod (text, NULL);
    }
  return sum;
}

/* Round after round of every case in turn, so a change in background load
 * (other processes on a shared machine) hits all cases alike. */
static void
measure_lat_cases (Inner *in, LatCase *cases, guint n_cases, guint rounds)
{
  for (guint i = 0; i < n_cases; i++)
    cases[i].us = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint r = 0; r < rounds; r++)
    for (guint i = 0; i < n_cases; i++)
      {
        GPid server = cases[i].target == T_ECHO ? in->echo : in->anyd;
        guint before = cases[i].us->len;
        double c0 = cpu_ns (server), p0 = cpu_ns (in->polkitd);

        measure_lat (in, cases[i].kind, cases[i].uid, cases[i].target, MAX (cases[i].n / rounds, 1),
                     in->seconds * 5, cases[i].us);
        cases[i].cpu_ns += cpu_ns (server) - c0;
        cases[i].polkitd_ns += cpu_ns (in->polkitd) - p0;
        /* the client's warm-up calls were served too */
        cases[i].calls += cases[i].us->len - before + (g_str_equal (cases[i].kind, "lat") ? WARM_UP : 0);
      }
  for (guint i = 0; i < n_cases; i++)
    {
      cases[i].s = stats_of (cases[i].us);
      g_array_unref (cases[i].us);
    }
}

typedef struct {
  double rate;    /* successful calls/s, all clients */
  guint  ok, err;
} Tput;

static Tput
measure_tput (Inner *in, guint n, guint32 uid, Target t, guint inflight)
{
  g_autofree char *secs = g_strdup_printf ("%.2f", in->seconds);
  g_autofree char *inf = g_strdup_printf ("%u", inflight);
  g_auto(GStrv) lines = run_clients (in, n, "tput", uid, t, secs, inf, "0");
  Tput r = { 0, 0, 0 };

  for (guint i = 0; lines[i] != NULL; i++)
    {
      double secs_i = field (lines[i], "secs");
      r.ok += (guint) field (lines[i], "ok");
      r.err += (guint) field (lines[i], "err");
      if (secs_i > 0)
        r.rate += field (lines[i], "ok") / secs_i;
    }
  return r;
}

static void
result (Inner *in, const char *key, double value)
{
  g_string_append_printf (in->results, "%s=%.3f\n", key, value);
}

static void
result_stats (Inner *in, const char *key, Stats s)
{
  g_autofree char *k1 = g_strconcat (key, "_min", NULL);
  g_autofree char *k2 = g_strconcat (key, "_med", NULL);
  g_autofree char *k3 = g_strconcat (key, "_p99", NULL);
  result (in, k1, s.min);
  result (in, k2, s.med);
  result (in, k3, s.p99);
}

static guint32
name_owner_pid (Inner *in, const char *name)
{
  g_autoptr(GVariant) r = g_dbus_connection_call_sync (in->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                       "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                                       g_variant_new ("(s)", name), G_VARIANT_TYPE ("(u)"),
                                                       G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  guint32 pid = 0;

  if (r != NULL)
    g_variant_get (r, "(u)", &pid);
  return pid;
}

static void
wait_owner (Inner *in, const char *name, GPid pid)
{
  double end = now_s () + 30;

  while (name_owner_pid (in, name) != (guint32) pid)
    {
      if (now_s () > end || waitpid (pid, NULL, WNOHANG) == pid)
        g_error ("%s did not appear on the bus (pid %d)", name, pid);
      g_usleep (5000);
    }
}

static void
stop_pid (GPid *pid)
{
  if (*pid <= 0)
    return;
  kill (*pid, SIGTERM);
  waitpid (*pid, NULL, 0);
  *pid = 0;
}

/* (Re)start anyd with [auth] settings (text of key=value lines), under
 * callgrind when callgrind_out is set. Its audit records go to a file, as
 * they would go to the journal. The per-uid call rate is off: every client
 * here is uid 65534, and the gate itself is what is measured. */
static void
anyd_start_full (Inner *in, const char *auth, const char *callgrind_out)
{
  const char *confdir = g_getenv ("ANYD_BENCH_CONFDIR");
  g_autofree char *conf = g_build_filename (confdir, "anyd.conf", NULL);
  /* ANYD_BENCH_NO_LIMITS: an anyd from before [limits] existed (a baseline) */
  g_autofree char *text = g_strdup_printf ("[auth]\n%s\n%s", auth,
                                           g_getenv ("ANYD_BENCH_NO_LIMITS") ? ""
                                           : "[limits]\ncalls_per_second_per_uid=0\n");
  g_autofree char *log = g_build_filename (g_getenv ("ANYD_BENCH_LOGDIR"), "anyd.log", NULL);
  g_autofree char *out_arg = callgrind_out ? g_strconcat ("--callgrind-out-file=", callgrind_out, NULL) : NULL;
  const char *argv[] = { g_getenv ("ANYD_BENCH_ANYD"), "--config", confdir, NULL };
  const char *vg_argv[] = { "valgrind", "--tool=callgrind", "--quiet", out_arg,
                            g_getenv ("ANYD_BENCH_ANYD"), "--config", confdir, NULL };
  g_autoptr(GError) error = NULL;
  int fd;

  stop_pid (&in->anyd);
  if (!g_file_set_contents (conf, text, -1, &error))
    g_error ("%s", error->message);
  fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (!g_spawn_async_with_fds (NULL, (char **) (callgrind_out ? vg_argv : argv), NULL,
                               G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &in->anyd, -1, fd, fd, &error))
    g_error ("cannot start anyd: %s", error->message);
  close (fd);
  wait_owner (in, "org.anyd1", in->anyd);
}

static void
anyd_start (Inner *in, const char *auth)
{
  anyd_start_full (in, auth, NULL);
}

/* ------------------------------------------------------------------ instructions per call */

/* Total instructions (Ir) anyd executed, all threads, from callgrind's
 * output written at exit. */
static double
callgrind_total (const char *path)
{
  g_autofree char *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL))
    return 0;
  p = strstr (text, "\nsummary: ");
  if (p == NULL)
    p = strstr (text, "\ntotals: ");
  return p ? g_ascii_strtod (strchr (p + 1, ' ') + 1, NULL) : 0;
}

/* anyd's instructions per call of target t by one uid-65534 client:
 * (Ir after k+n calls - Ir after k calls) / n, two anyd runs under
 * callgrind that differ only in n more calls (start, the first calls that
 * fill caches, and exit cancel out). */
static double
measure_instructions (Inner *in, Target t, guint k, guint n)
{
  double ir[2] = { 0, 0 };

  for (guint run = 0; run < 2; run++)
    {
      g_autofree char *out = g_build_filename (g_getenv ("ANYD_BENCH_LOGDIR"), "callgrind.out", NULL);
      g_autofree char *count = g_strdup_printf ("%u", run ? k + n : k);
      g_autofree char *line = NULL;
      Child *c;

      unlink (out);
      anyd_start_full (in, "", out);
      c = spawn_client (in, "calls", NOBODY, t, count, "-", "-");
      line = child_line (c);
      child_free (c);
      if (field (line, "failed") > 0 || field (line, "n") == 0)
        g_error ("callgrind run of %s: %s", target_names[t], line);
      stop_pid (&in->anyd);
      ir[run] = callgrind_total (out);
      if (ir[run] == 0)
        g_error ("no callgrind totals in %s", out);
    }
  return (ir[1] - ir[0]) / n;
}

/* With $ANYD_BENCH_PERF_DIR: one more 8-caller round of target t (not
 * counted) under `perf record -g -p ANYD`, to DIR/perf-TARGET.data; read it
 * with `perf report -i DIR/perf-TARGET.data --no-children`. */
static void
perf_profile (Inner *in, Target t, double secs)
{
  g_autofree char *out = g_strdup_printf ("%s/perf-%s.data", g_getenv ("ANYD_BENCH_PERF_DIR"), target_names[t]);
  g_autofree char *pid = g_strdup_printf ("%d", in->anyd);
  const char *argv[] = { "perf", "record", "-q", "-g", "-o", out, "-p", pid, NULL };
  g_autoptr(GError) error = NULL;
  GPid perf;

  if (!g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                      NULL, NULL, &perf, &error))
    {
      g_print ("(perf: %s)\n", error->message);
      return;
    }
  g_usleep (1000000);   /* perf attaches (slowly on a loaded VM) */
  in->seconds = secs;
  measure_tput (in, N_CLIENTS, NOBODY, t, 1);
  kill (perf, SIGINT);
  waitpid (perf, NULL, 0);
  g_print ("(perf profile of anyd, 8 callers, %s: %s)\n", target_names[t], out);
}

/* A 16-byte secret for Vault.Get, stored once (the vault keeps it). */
static void
store_bench_secret (Inner *in)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) r = NULL;
  guint8 value[16];

  memset (value, 'v', sizeof value);
  r = g_dbus_connection_call_sync (in->bus, "org.anyd1", "/org/anyd1/vault", "org.anyd1.Vault", "Put",
                                   g_variant_new ("(s@aya{sv})", BENCH_SECRET,
                                                  g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value,
                                                                             sizeof value, 1),
                                                  NULL),
                                   NULL, G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
  if (r == NULL && !g_dbus_error_get_remote_error (error))
    g_error ("cannot store the bench secret: %s", error->message);
  if (r == NULL)
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);
      if (!g_str_has_suffix (name, ".Exists"))
        g_error ("cannot store the bench secret: %s", error->message);
    }
}

/* The issue's case: n processes, each alternating Properties.Get Version
 * and target t synchronously for in->seconds; per kind, calls/s of the
 * time spent in that kind's calls, summed over the processes (the same
 * number of calls of each, so the ratio is that of the mean round trips
 * under this load). With n = 1, the medians: single-caller latency. */
typedef struct {
  double rate_pub, rate_gated, med_pub, med_gated;
  guint  err;
} Alt;

static Alt
measure_alt (Inner *in, guint n, Target t, double secs)
{
  g_autofree char *s = g_strdup_printf ("%.2f", secs);
  g_auto(GStrv) lines = run_clients (in, n, "alt", NOBODY, t, s, "-", "-");
  g_autoptr(GArray) mp = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) mg = g_array_new (FALSE, FALSE, sizeof (double));
  Alt a = { 0, 0, 0, 0, 0 };

  for (guint i = 0; lines[i] != NULL; i++)
    {
      a.rate_pub += field (lines[i], "ok_pub") / MAX (field (lines[i], "secs_pub"), 1e-9);
      a.rate_gated += field (lines[i], "ok_gated") / MAX (field (lines[i], "secs_gated"), 1e-9);
      a.err += (guint) field (lines[i], "err");
      g_array_append_vals (mp, (double[]) { field (lines[i], "med_pub") }, 1);
      g_array_append_vals (mg, (double[]) { field (lines[i], "med_gated") }, 1);
    }
  a.med_pub = stats_of (mp).med;
  a.med_gated = stats_of (mg).med;
  return a;
}

typedef struct {
  double prop, gated, vault_get, reload;       /* instructions per call */
  Stats  lat_prop, lat_gated, lat_vault;       /* uid 65534, warm, sequential */
  Tput   tput_prop, tput_gated, tput_vault;    /* 8 sync clients */
  Alt    alt8, alt1;                           /* the issue's case */
  Stats  alt8_ratio, alt1_ratio;               /* over rounds */
} GateCost;

/* The gated call against the cheapest public one: instructions per call
 * (callgrind), warm latency and 8-caller throughput (interleaved rounds). */
static void
measure_gate_cost (Inner *in, GateCost *gc, guint calls)
{
  LatCase lat[] = {
    { "Properties.Get Version, public (uid 65534)", "prop_nobody", "lat", NOBODY, T_PROP, calls },
    { "Vault.ListKeys, gated, cached (uid 65534)", "gated_nobody", "lat", NOBODY, T_VAULT_LIST, calls },
    { "Vault.Get 16 bytes, gated, cached (uid 65534)", "vault_get_nobody", "lat", NOBODY, T_VAULT_GET, calls },
  };
  const Target targets[] = { T_PROP, T_VAULT_LIST, T_VAULT_GET };
  Tput *tputs[] = { &gc->tput_prop, &gc->tput_gated, &gc->tput_vault };
  double secs = in->seconds;

  anyd_start (in, "");
  store_bench_secret (in);
  measure_lat_cases (in, lat, G_N_ELEMENTS (lat), ROUNDS);
  gc->lat_prop = lat[0].s;
  gc->lat_gated = lat[1].s;
  gc->lat_vault = lat[2].s;
  /* more, shorter rounds than elsewhere, in a rotating order: the ratios
   * are what counts, and other load on a shared machine comes and goes */
  for (guint i = 0; i < G_N_ELEMENTS (tputs); i++)
    *tputs[i] = (Tput) { 0, 0, 0 };
  in->seconds = secs / (2 * TPUT_ROUNDS);
  for (guint r = 0; r < 2 * TPUT_ROUNDS; r++)
    for (guint j = 0; j < G_N_ELEMENTS (targets); j++)
      {
        guint i = (j + r) % G_N_ELEMENTS (targets);
        Tput t = measure_tput (in, N_CLIENTS, NOBODY, targets[i], 1);
        tputs[i]->rate += t.rate / (2 * TPUT_ROUNDS);
        tputs[i]->err += t.err;
      }
  in->seconds = secs;

  /* the issue's case, in ALT_ROUNDS rounds alternating with the single
   * caller's, so that changing background load hits both alike */
  {
    Alt a8 = { 0 }, a1 = { 0 };
    g_autoptr(GArray) r8 = g_array_new (FALSE, FALSE, sizeof (double));
    g_autoptr(GArray) r1 = g_array_new (FALSE, FALSE, sizeof (double));

    for (guint r = 0; r < ALT_ROUNDS; r++)
      {
        Alt x = measure_alt (in, N_CLIENTS, T_VAULT_GET, secs / ALT_ROUNDS);
        Alt y = measure_alt (in, 1, T_VAULT_GET, secs / ALT_ROUNDS);
        g_array_append_vals (r8, (double[]) { x.rate_gated / MAX (x.rate_pub, 1) }, 1);
        g_array_append_vals (r1, (double[]) { y.med_gated / MAX (y.med_pub, 1) }, 1);
        a8.rate_pub += x.rate_pub / ALT_ROUNDS;
        a8.rate_gated += x.rate_gated / ALT_ROUNDS;
        a8.err += x.err + y.err;
        a1.med_pub += y.med_pub / ALT_ROUNDS;
        a1.med_gated += y.med_gated / ALT_ROUNDS;
      }
    gc->alt8 = a8;
    gc->alt1 = a1;
    gc->alt8_ratio = stats_of (r8);
    gc->alt1_ratio = stats_of (r1);
  }

  if (g_getenv ("ANYD_BENCH_PERF_DIR") != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
      perf_profile (in, targets[i], secs);

  if (g_find_program_in_path ("valgrind") == NULL)
    {
      g_print ("\n(valgrind not installed: no instruction counts)\n");
      gc->prop = gc->gated = gc->vault_get = gc->reload = 0;
    }
  else
    {
      gc->prop = measure_instructions (in, T_PROP, 50, 500);
      gc->gated = measure_instructions (in, T_VAULT_LIST, 50, 500);
      gc->vault_get = measure_instructions (in, T_VAULT_GET, 50, 500);
      gc->reload = measure_instructions (in, T_GATED, 20, 200);
    }
  stop_pid (&in->anyd);

  g_print ("\ngated vs public call, uid 65534            min  median     p99   server CPU/call\n");
  for (guint i = 0; i < G_N_ELEMENTS (lat); i++)
    g_print ("  %-40s %6.0f %7.0f %7.0f   %6.0f us\n", lat[i].label, lat[i].s.min, lat[i].s.med, lat[i].s.p99,
             lat[i].cpu_ns / 1e3 / MAX (lat[i].calls, 1));
  g_print ("  8 sync callers: Properties.Get %.0f calls/s, Vault.ListKeys %.0f (x%.2f), Vault.Get %.0f (x%.2f)%s\n",
           gc->tput_prop.rate, gc->tput_gated.rate, gc->tput_gated.rate / MAX (gc->tput_prop.rate, 1),
           gc->tput_vault.rate, gc->tput_vault.rate / MAX (gc->tput_prop.rate, 1),
           gc->tput_prop.err + gc->tput_gated.err + gc->tput_vault.err ? "   (errors!)" : "");
  g_print ("the issue's case, %u rounds: %u processes each alternating Properties.Get Version and Vault.Get (16 bytes)\n"
           "  gated/public throughput x%.2f (Properties.Get %.0f calls/s, Vault.Get %.0f; rounds x%.2f..x%.2f)%s\n"
           "  one such caller, median round trip: Properties.Get %.0f us, Vault.Get %.0f us, x%.2f "
           "(rounds x%.2f..x%.2f)\n",
           ALT_ROUNDS, N_CLIENTS, gc->alt8.rate_gated / MAX (gc->alt8.rate_pub, 1), gc->alt8.rate_pub,
           gc->alt8.rate_gated, gc->alt8_ratio.min, gc->alt8_ratio.p99,
           gc->alt8.err ? "   (errors!)" : "", gc->alt1.med_pub, gc->alt1.med_gated,
           gc->alt1.med_gated / MAX (gc->alt1.med_pub, 1), gc->alt1_ratio.min, gc->alt1_ratio.p99);
  result (in, "alt8_ratio", gc->alt8.rate_gated / MAX (gc->alt8.rate_pub, 1));
  result (in, "alt1_ratio", gc->alt1.med_gated / MAX (gc->alt1.med_pub, 1));
  g_print ("anyd instructions per call (callgrind, (Ir at N+k - Ir at k)/N, N=500, k=50, all threads)\n");
  g_print ("  %-52s %10.0f\n", "Properties.Get Manager.Version (public)", gc->prop);
  g_print ("  %-52s %10.0f  x%.2f\n", "Vault.ListKeys (gated, cached, empty answer)", gc->gated,
           gc->gated / MAX (gc->prop, 1));
  g_print ("  %-52s %10.0f  x%.2f\n", "Vault.Get 16 bytes (gated, cached)", gc->vault_get,
           gc->vault_get / MAX (gc->prop, 1));
  result (in, "ir_prop", gc->prop);
  result (in, "ir_gated", gc->gated);
  g_print ("  %-52s %10.0f  x%.2f\n", "Manager.Reload (gated, cached; re-reads the configuration)", gc->reload,
           gc->reload / MAX (gc->prop, 1));
  result (in, "ir_vault_get", gc->vault_get);
  g_print ("CALLGRIND ir_public=%.0f ir_gated_cached=%.0f ir_vault_get=%.0f\n", gc->prop, gc->gated, gc->vault_get);
  result (in, "ir_reload", gc->reload);
  result_stats (in, "prop_nobody", gc->lat_prop);
  result_stats (in, "vault_get_nobody", gc->lat_vault);
  result_stats (in, "gated_nobody", gc->lat_gated);
  result (in, "tput_gated_list_sync", gc->tput_gated.rate);
  result (in, "tput_prop_sync", gc->tput_prop.rate);
  result (in, "tput_vault_get_sync", gc->tput_vault.rate);
}

static guint64
start_time_of (guint32 pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%u/stat", pid);
  g_autofree char *text = NULL;
  g_auto(GStrv) f = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strrchr (text, ')')) == NULL)
    return 0;
  f = g_strsplit (p + 2, " ", -1);
  return g_strv_length (f) > 19 ? g_ascii_strtoull (f[19], NULL, 10) : 0;
}

/* The subject anyd hands polkit: a system-bus-name (polkitd resolves it
 * with the bus on every check) or a unix-process with pid, start time and
 * uid (what anyd uses). Same connection, same action, alternating. */
static void
measure_subjects (Inner *in, guint n, Stats *bus_name, Stats *process)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(PolkitAuthority) authority = polkit_authority_get_sync (NULL, &error);
  Child *idle = spawn_client (in, "idle", NOBODY, T_ECHO, "-", "-", "-");
  g_autofree char *line = child_line (idle);
  g_auto(GStrv) words = g_strsplit (line, " ", -1);
  g_autoptr(GArray) a = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) b = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(PolkitSubject) s1 = NULL;
  g_autoptr(PolkitSubject) s2 = NULL;
  guint32 pid;

  if (authority == NULL || g_strv_length (words) < 3)
    g_error ("cannot measure polkit subjects: %s", error ? error->message : line);
  pid = (guint32) g_ascii_strtoull (words[2], NULL, 10);
  s1 = polkit_system_bus_name_new (words[1]);
  s2 = polkit_unix_process_new_for_owner ((gint) pid, start_time_of (pid), (gint) NOBODY);
  for (guint i = 0; i < n; i++)
    for (guint k = 0; k < 2; k++)
      {
        g_autoptr(PolkitAuthorizationResult) r = NULL;
        double t0 = now_s ();
        r = polkit_authority_check_authorization_sync (authority, k ? s2 : s1, "org.anyd1.manage", NULL,
                                                       POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE, NULL, &error);
        if (r == NULL || !polkit_authorization_result_get_is_authorized (r))
          g_error ("polkit did not authorize the %s subject: %s", k ? "unix-process" : "system-bus-name",
                   error ? error->message : "not authorized");
        g_array_append_vals (k ? b : a, (double[]) { (now_s () - t0) * 1e6 }, 1);
      }
  *bus_name = stats_of (a);
  *process = stats_of (b);
  child_free (idle);
}

static void
print_lat (const char *what, Stats s, double echo, double cpu, double polkitd)
{
  g_print ("  %-40s %6.0f %7.0f %7.0f   %5.2fx   %6.0f %8.0f\n", what, s.min, s.med, s.p99,
           echo > 0 ? s.med / echo : 0, cpu, polkitd);
}

static void
print_tput (const char *what, Tput sync, Tput async, Tput echo_sync, Tput echo_async)
{
  g_print ("  %-36s %9.0f  %5.2fx   %9.0f  %5.2fx%s\n", what, sync.rate, sync.rate / echo_sync.rate,
           async.rate, async.rate / echo_async.rate, sync.err + async.err ? "   (errors!)" : "");
}

/* A denied caller floods gated calls (32 in flight, at most 10,000) while
 * an allowed caller makes sequential gated calls: its median against the
 * same caller's median without the flood, in alternating rounds. */
static double
measure_flood (Inner *in, const char *label, const char *key)
{
  g_autofree char *n_s = g_strdup ("1000000");
  g_autofree char *secs = g_strdup_printf ("%.2f", in->seconds * 1.5 / FLOOD_ROUNDS);
  g_autofree char *flood_secs = g_strdup_printf ("%.2f", in->seconds * 1.5 / FLOOD_ROUNDS + 1.0);
  g_autofree char *inf = g_strdup_printf ("%u", IN_FLIGHT);
  g_autofree char *flood_text = NULL;
  g_autoptr(GArray) a = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) b = g_array_new (FALSE, FALSE, sizeof (double));
  double flood_ok = 0, flood_err = 0, flood_secs_v = 0, ratio;
  guint left = FLOOD_CALLS;
  Stats before, during;

  for (guint r = 0; r < FLOOD_ROUNDS; r++)
    {
      g_autofree char *max = g_strdup_printf ("%u", MAX (left, 1));
      g_autofree char *line = NULL, *flood_line = NULL;
      Child *ok, *flood;

      /* the allowed caller alone */
      ok = spawn_client (in, "lat", NOBODY, T_GATED, n_s, secs, "-");
      g_free (child_line (ok));
      if (write (ok->in_fd, "go\n", 3) != 3)
        g_error ("client went away");
      line = child_line (ok);
      add_samples (a, line);
      child_free (ok);

      /* and while uid 2 floods */
      flood = spawn_client (in, "tput", DENIED, T_GATED, flood_secs, inf, max);
      ok = spawn_client (in, "lat", NOBODY, T_GATED, n_s, secs, "-");
      g_free (child_line (flood));
      g_free (child_line (ok));
      if (write (flood->in_fd, "go\n", 3) != 3)
        g_error ("client went away");
      g_usleep (300 * 1000);                 /* let the flood get going */
      if (write (ok->in_fd, "go\n", 3) != 3)
        g_error ("client went away");
      g_free (line);
      line = child_line (ok);
      add_samples (b, line);
      child_free (ok);
      kill (flood->pid, SIGTERM);            /* it may be waiting on delayed replies */
      flood_line = child_line (flood);
      child_free (flood);
      flood_ok += field (flood_line, "ok");
      flood_err += field (flood_line, "err");
      flood_secs_v += field (flood_line, "secs");
      left -= MIN (left, (guint) (field (flood_line, "ok") + field (flood_line, "err")));
    }

  before = stats_of (a);
  during = stats_of (b);
  ratio = before.med > 0 ? during.med / before.med : 0;
  flood_text = g_strdup_printf ("%.0f refusals (%.0f/s)%s", flood_err,
                                flood_secs_v > 0 ? flood_err / flood_secs_v : 0,
                                flood_ok > 0 ? ", SOME ALLOWED?!" : "");
  g_print ("  %-30s median %6.0f -> %6.0f us  x%.2f   p99 %6.0f -> %6.0f us;  flooder: %s\n",
           label, before.med, during.med, ratio, before.p99, during.p99, flood_text);
  {
    g_autofree char *k = g_strconcat (key, "_ratio", NULL);
    g_autofree char *k2 = g_strconcat (key, "_flood_rate", NULL);
    result (in, k, ratio);
    result (in, k2, flood_secs_v > 0 ? flood_err / flood_secs_v : 0);
  }
  return ratio;
}

static int
inner_main (int argc, char **argv)
{
  Inner in = { argv[0], NULL, g_string_new (NULL), 0, 0, 2.0, 2000 };
  const char *echo_argv[] = { argv[0], "--echo-server", NULL };
  const char *bus_label = g_getenv ("ANYD_BENCH_BUS");
  g_autoptr(GError) error = NULL;
  LatCase lat[] = {
    { "bare GDBus echo (root)", "echo_root", "lat", 0, T_ECHO, in.calls },
    { "bare GDBus echo (uid 65534)", "echo_nobody", "lat", NOBODY, T_ECHO, in.calls },
    { "GetCallerInfo, public (root)", "public_root", "lat", 0, T_PUBLIC, in.calls },
    { "GetCallerInfo, public (uid 65534)", "public_nobody", "lat", NOBODY, T_PUBLIC, in.calls },
    { "Reload, gated, cold cache (root)", "cold_root", "cold", 0, T_GATED, 40 },
    { "Reload, gated, cold cache (uid 65534)", "cold_nobody", "cold", NOBODY, T_GATED, 40 },
    { "Reload, gated, warm cache (root)", "warm_root", "lat", 0, T_GATED, in.calls },
    { "Reload, gated, warm cache (uid 65534)", "warm_nobody", "lat", NOBODY, T_GATED, in.calls },
  };
  Stats naive_nobody, subj_name, subj_proc;
  double naive_cpu = 0, naive_pk = 0;
  Tput echo_s, echo_a, pub_s, pub_a, gated_s, gated_a, naive_s, naive_a;

  gboolean only_gate_cost = FALSE;
  GateCost gc;

  for (int i = 2; i + 1 < argc; i++)
    {
      if (g_str_equal (argv[i], "--seconds"))
        in.seconds = g_ascii_strtod (argv[++i], NULL);
      else if (g_str_equal (argv[i], "--calls"))
        in.calls = (guint) atoi (argv[++i]);
      else if (g_str_equal (argv[i], "--only"))
        only_gate_cost = g_str_equal (argv[++i], "gate-cost");
    }
  for (guint i = 0; i < G_N_ELEMENTS (lat); i++)
    if (lat[i].target != T_GATED || g_str_equal (lat[i].kind, "lat"))
      lat[i].n = in.calls;
  in.bus = connect_bus (&error);
  if (in.bus == NULL)
    g_error ("no bus: %s", error->message);

  if (!g_spawn_async (NULL, (char **) echo_argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &in.echo, &error))
    g_error ("%s", error->message);
  wait_owner (&in, ECHO_NAME, in.echo);
  in.polkitd = (GPid) name_owner_pid (&in, "org.freedesktop.PolicyKit1");
  if (only_gate_cost)
    {
      g_print ("\n== gate cost on %s ==\n", bus_label);
      measure_gate_cost (&in, &gc, in.calls);
      goto done;
    }
  anyd_start (&in, "");   /* the defaults */

  g_print ("\n== call path on %s: %u sequential calls per case (in %u interleaved rounds), "
           "%.0f s per throughput case (in %u rounds) ==\n", bus_label, in.calls, ROUNDS, in.seconds,
           TPUT_ROUNDS);
  measure_lat_cases (&in, lat, G_N_ELEMENTS (lat), ROUNDS);
  g_print ("round trip (us)                               min  median     p99   med/echo   server CPU/call  polkitd\n");
  for (guint i = 0; i < G_N_ELEMENTS (lat); i++)
    {
      double echo = lat[lat[i].uid == 0 ? 0 : 1].s.med;
      double cpu = lat[i].cpu_ns / 1e3 / MAX (lat[i].calls, 1), pk = lat[i].polkitd_ns / 1e3 / MAX (lat[i].calls, 1);
      g_autofree char *k = g_strconcat (lat[i].key, "_cpu", NULL);
      print_lat (lat[i].label, lat[i].s, echo, cpu, pk);
      result_stats (&in, lat[i].key, lat[i].s);
      result (&in, k, cpu);
    }

  {
    /* interleaved rounds, as for latency */
    Tput *cases[] = { &echo_s, &echo_a, &pub_s, &pub_a, &gated_s, &gated_a };
    const Target targets[] = { T_ECHO, T_ECHO, T_PUBLIC, T_PUBLIC, T_GATED, T_GATED };
    double secs = in.seconds;

    in.seconds = secs / TPUT_ROUNDS;
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      *cases[i] = (Tput) { 0, 0, 0 };
    for (guint r = 0; r < TPUT_ROUNDS; r++)
      for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
        {
          Tput t = measure_tput (&in, N_CLIENTS, NOBODY, targets[i], i % 2 ? IN_FLIGHT : 1);
          cases[i]->rate += t.rate / TPUT_ROUNDS;
          cases[i]->ok += t.ok;
          cases[i]->err += t.err;
        }
    in.seconds = secs;
  }

  g_print ("\ndenied flood (uid 2, %u in flight, up to %u calls) vs an allowed caller's Reload "
           "(%u rounds without/with)\n", IN_FLIGHT, FLOOD_CALLS, FLOOD_ROUNDS);
  measure_flood (&in, "cache + throttled denials", "flood");
  anyd_start (&in, "deny_rate=0\n");
  measure_flood (&in, "cache only (deny_rate=0)", "flood_cache_only");

  /* the naive gate: polkit on every call */
  anyd_start (&in, "cache_ttl_ms=0\n");
  {
    LatCase naive = { "Reload, gated, no cache (uid 65534; naive)", "naive_nobody", "lat", NOBODY, T_GATED,
                      MAX (in.calls / 4, 50) };
    measure_lat_cases (&in, &naive, 1, 1);
    naive_nobody = naive.s;
    naive_cpu = naive.cpu_ns / 1e3 / MAX (naive.calls, 1);
    naive_pk = naive.polkitd_ns / 1e3 / MAX (naive.calls, 1);
  }
  naive_s = measure_tput (&in, N_CLIENTS, NOBODY, T_GATED, 1);
  naive_a = measure_tput (&in, N_CLIENTS, NOBODY, T_GATED, IN_FLIGHT);
  stop_pid (&in.anyd);

  g_print ("\n");
  print_lat ("Reload, gated, no cache (uid 65534; naive)", naive_nobody, lat[1].s.med, naive_cpu, naive_pk);
  g_print ("\nthroughput, %d client processes as uid 65534     sync  x echo    %d in flight  x echo\n",
           N_CLIENTS, IN_FLIGHT);
  print_tput ("bare GDBus echo", echo_s, echo_a, echo_s, echo_a);
  print_tput ("GetCallerInfo, public", pub_s, pub_a, echo_s, echo_a);
  print_tput ("Reload, gated, warm cache", gated_s, gated_a, echo_s, echo_a);
  print_tput ("Reload, gated, no cache (naive)", naive_s, naive_a, echo_s, echo_a);

  measure_subjects (&in, MAX (in.calls / 10, 50), &subj_name, &subj_proc);
  g_print ("\npolkit CheckAuthorization for one uid-65534 connection (from root, us)   min   median    p99\n");
  g_print ("  %-60s %6.0f %8.0f %6.0f\n", "system-bus-name subject", subj_name.min, subj_name.med, subj_name.p99);
  g_print ("  %-60s %6.0f %8.0f %6.0f\n", "unix-process subject (pid, start time, uid; anyd's)",
           subj_proc.min, subj_proc.med, subj_proc.p99);

  result_stats (&in, "naive_nobody", naive_nobody);
  result_stats (&in, "subject_bus_name", subj_name);
  result_stats (&in, "subject_process", subj_proc);
  result (&in, "tput_echo_sync", echo_s.rate);
  result (&in, "tput_echo_async", echo_a.rate);
  result (&in, "tput_public_sync", pub_s.rate);
  result (&in, "tput_public_async", pub_a.rate);
  result (&in, "tput_gated_sync", gated_s.rate);
  result (&in, "tput_gated_async", gated_a.rate);
  result (&in, "tput_naive_sync", naive_s.rate);
  result (&in, "tput_naive_async", naive_a.rate);
  result (&in, "errors", gated_s.err + gated_a.err + pub_s.err + pub_a.err + echo_s.err + echo_a.err);

  measure_gate_cost (&in, &gc, in.calls);

done:
  stop_pid (&in.echo);
  if (g_getenv ("ANYD_BENCH_RESULTS") != NULL &&
      !g_file_set_contents (g_getenv ("ANYD_BENCH_RESULTS"), in.results->str, -1, &error))
    g_error ("%s", error->message);
  g_string_free (in.results, TRUE);
  g_object_unref (in.bus);
  return 0;
}

/* ================================================================== outer */

static GHashTable *
parse_results (const char *text, const char *prefix)
{
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) lines = g_strsplit (text ? text : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *l = lines[i];
      if (prefix != NULL)
        {
          if (!g_str_has_prefix (l, prefix))
            continue;
          l += strlen (prefix);
        }
      {
        g_auto(GStrv) words = g_strsplit (l, " ", -1);
        for (guint j = 0; words[j] != NULL; j++)
          {
            char *eq = strchr (words[j], '=');
            if (eq != NULL)
              g_hash_table_insert (h, g_strndup (words[j], (gsize) (eq - words[j])), g_strdup (eq + 1));
          }
      }
    }
  return h;
}

static double
get (GHashTable *h, const char *key)
{
  const char *v = h ? g_hash_table_lookup (h, key) : NULL;
  return v ? g_ascii_strtod (v, NULL) : 0.0;
}

static const char *
mark (gboolean ok)
{
  return ok ? "met" : "MISSED";
}

static void
target_row (const char *what, const char *target, GHashTable *r[2], const char *const labels[2],
            double (*value) (GHashTable *, gpointer), gpointer data, gboolean (*ok) (double))
{
  g_print ("  %-58s %-7s", what, target);
  for (guint i = 0; i < 2; i++)
    if (r[i] != NULL)
      {
        double v = value (r[i], data);
        g_print ("   %s %6.2fx %-6s", labels[i], v, mark (ok (v)));
      }
  g_print ("\n");
}

static double v_lat (GHashTable *h, gpointer d) { return get (h, "warm_nobody_med") / get (h, "echo_nobody_med"); }
static double v_lat_root (GHashTable *h, gpointer d) { return get (h, "warm_root_med") / get (h, "echo_root_med"); }
static double v_tput (GHashTable *h, gpointer d) { return get (h, "tput_gated_sync") / get (h, "tput_echo_sync"); }
static double v_naive (GHashTable *h, gpointer d) { return get (h, "tput_gated_sync") / MAX (get (h, "tput_naive_sync"), 1); }
static double v_python (GHashTable *h, gpointer d) { return get (h, "tput_gated_async") / MAX (*(double *) d, 1); }
static double v_flood (GHashTable *h, gpointer d) { return get (h, "flood_ratio"); }
static double v_gc_tput (GHashTable *h, gpointer d) { return get (h, "tput_vault_get_sync") / MAX (get (h, "tput_prop_sync"), 1); }
static double v_gc_lat (GHashTable *h, gpointer d) { return get (h, "vault_get_nobody_med") / MAX (get (h, "prop_nobody_med"), 1); }
static double v_gc_tput_list (GHashTable *h, gpointer d) { return get (h, "tput_gated_list_sync") / MAX (get (h, "tput_prop_sync"), 1); }
static double v_gc_lat_list (GHashTable *h, gpointer d) { return get (h, "gated_nobody_med") / MAX (get (h, "prop_nobody_med"), 1); }
static double v_alt8 (GHashTable *h, gpointer d) { return get (h, "alt8_ratio"); }
static double v_alt1 (GHashTable *h, gpointer d) { return get (h, "alt1_ratio"); }
static double v_gc_ir (GHashTable *h, gpointer d) { return get (h, "ir_gated") / MAX (get (h, "ir_prop"), 1); }
static double v_gc_ir_vault (GHashTable *h, gpointer d) { return get (h, "ir_vault_get") / MAX (get (h, "ir_prop"), 1); }
static gboolean ge_0_9 (double v) { return v >= 0.9; }
static gboolean le_1_1 (double v) { return v > 0 && v <= 1.1; }
static gboolean any (double v) { return TRUE; }
static gboolean le_1_3 (double v) { return v > 0 && v <= 1.3; }
static gboolean ge_0_8 (double v) { return v >= 0.8; }
static gboolean ge_10 (double v) { return v >= 10; }
static gboolean ge_1 (double v) { return v >= 1; }
static gboolean le_1_5 (double v) { return v > 0 && v <= 1.5; }

static char *
run_capture (const char *const *argv, int *status)
{
  g_autoptr(GError) error = NULL;
  char *out = NULL;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, &out, NULL,
                     status, &error))
    {
      g_printerr ("call-path: cannot run %s: %s\n", argv[0], error->message);
      return NULL;
    }
  return out;
}

static int
outer_main (int argc, char **argv)
{
  const char *srcdir = g_getenv ("ANYD_SRCDIR") ? g_getenv ("ANYD_SRCDIR") : ANYD_BENCH_SRCDIR;
  const char *builddir = g_getenv ("ANYD_BUILDDIR") ? g_getenv ("ANYD_BUILDDIR") : ANYD_BENCH_BUILDDIR;
  const char *which = "both";
  const char *seconds = "2", *calls = "2000", *only = "all";
  g_autofree char *self = NULL;
  g_autofree char *pyscript = g_build_filename (srcdir, "bench", "python-anyd-baseline.py", NULL);
  g_autofree char *sandbox = g_build_filename (srcdir, "bench", "call-path-sandbox.py", NULL);
  g_autofree char *py_out = NULL;
  g_autoptr(GHashTable) py = NULL;
  const char *const buses[2] = { "dbus-daemon", "dbus-broker" };
  GHashTable *res[2] = { NULL, NULL };
  double py_tput = 0, py_rtt = 0;
  int status;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--bus") && i + 1 < argc)
        which = argv[++i];
      else if (g_str_equal (argv[i], "--seconds") && i + 1 < argc)
        seconds = argv[++i];
      else if (g_str_equal (argv[i], "--calls") && i + 1 < argc)
        calls = argv[++i];
      else if (g_str_equal (argv[i], "--only") && i + 1 < argc)
        only = argv[++i];
      else
        {
          g_printerr ("usage: call-path [--bus dbus-daemon|dbus-broker|both] [--seconds S] [--calls N] "
                      "[--only gate-cost]\n");
          return 2;
        }
    }
  if (geteuid () != 0)
    {
      g_print ("call-path: needs root (namespaces, setuid clients); skipped\n");
      return 77;
    }
  self = g_file_read_link ("/proc/self/exe", NULL);

  if (!g_str_equal (only, "gate-cost"))
  {
    const char *py_argv[] = { "/usr/bin/python3", pyscript, "--seconds", seconds, NULL };
    py_out = run_capture (py_argv, &status);
    if (py_out != NULL)
      {
        g_auto(GStrv) lines = g_strsplit (py_out, "\n", -1);
        for (guint i = 0; lines[i] != NULL; i++)
          if (*lines[i] && !g_str_has_prefix (lines[i], "RESULTS "))
            g_print ("%s\n", lines[i]);
      }
    py = parse_results (py_out, "RESULTS ");
    py_tput = get (py, "py_tput_8");
    py_rtt = get (py, "py_rtt_med_us");
  }

  for (guint b = 0; b < 2; b++)
    {
      g_autofree char *results = g_build_filename (g_get_tmp_dir (), "anyd-call-path-XXXXXX", NULL);
      g_autofree char *text = NULL;
      int fd;

      if (!g_str_equal (which, "both") && !g_str_equal (which, buses[b]))
        continue;
      if (b == 1 && g_find_program_in_path ("dbus-broker-launch") == NULL)
        {
          g_print ("\n== dbus-broker: not installed (apt install dbus-broker); skipped ==\n");
          continue;
        }
      fd = g_mkstemp (results);
      close (fd);
      {
        const char *sb_argv[] = { "/usr/bin/python3", sandbox, "--bus", buses[b], "--builddir", builddir,
                                  "--results", results, "--", self, "--inner", "--seconds", seconds,
                                  "--calls", calls, "--only", only, NULL };
        g_autoptr(GError) error = NULL;
        fflush (stdout);
        if (!g_spawn_sync (NULL, (char **) sb_argv, NULL, G_SPAWN_CHILD_INHERITS_STDIN, NULL, NULL, NULL,
                           NULL, &status, &error) || !g_spawn_check_wait_status (status, &error))
          g_print ("call-path: the %s run failed: %s\n", buses[b], error->message);
      }
      if (g_file_get_contents (results, &text, NULL, NULL) && *text)
        res[b] = parse_results (text, NULL);
      unlink (results);
    }

  g_print ("\n== gate cost targets: a cached gated call against a public one; ratios within one bus run ==\n");
  target_row ("8 sync callers, Vault.Get calls/s / Properties.Get calls/s", ">= 0.9x", res, buses, v_gc_tput, NULL, ge_0_9);
  target_row ("  the same, each caller alternating the two calls", ">= 0.9x", res, buses, v_alt8, NULL, ge_0_9);
  target_row ("  the same for Vault.ListKeys (the gate, an empty handler)", ">= 0.9x", res, buses, v_gc_tput_list, NULL, ge_0_9);
  target_row ("warm Vault.Get latency / Properties.Get (median)", "<= 1.1x", res, buses, v_gc_lat, NULL, le_1_1);
  target_row ("  the same, one caller alternating the two calls", "<= 1.1x", res, buses, v_alt1, NULL, le_1_1);
  target_row ("  the same for Vault.ListKeys", "<= 1.1x", res, buses, v_gc_lat_list, NULL, le_1_1);
  target_row ("instructions per cached gated call (ListKeys) / public call", "<= 1.3x", res, buses, v_gc_ir, NULL, le_1_3);
  target_row ("instructions per Vault.Get / public call (for reference)", "", res, buses, v_gc_ir_vault, NULL, any);
  if (g_str_equal (only, "gate-cost"))
    return 0;

  g_print ("\n== targets (call-path issue); ratios within one bus run ==\n");
  target_row ("warm gated call latency / bare echo, uid 65534 (median)", "<= 1.3x", res, buses, v_lat, NULL, le_1_3);
  target_row ("warm gated call latency / bare echo, root (median)", "<= 1.3x", res, buses, v_lat_root, NULL, le_1_3);
  target_row ("8 sync callers, warm gated calls/s / bare echo", ">= 0.8x", res, buses, v_tput, NULL, ge_0_8);
  target_row ("8 sync callers, warm gated calls/s / naive per-call polkit", ">= 10x", res, buses, v_naive, NULL, ge_10);
  target_row ("8 x 32 in flight, gated calls/s / python anyd 8 clients", ">= 1x", res, buses, v_python, &py_tput, ge_1);
  target_row ("denied flood: allowed caller's median during / before", "<= 1.5x", res, buses, v_flood, NULL, le_1_5);
  g_print ("  (the 32-in-flight target is set for dbus-broker; python anyd: %.0f calls/s with 8 clients, "
           "%.0f us median round trip)\n", py_tput, py_rtt);
  for (guint b = 0; b < 2; b++)
    if (res[b] != NULL)
      {
        g_print ("  %s: gated warm %.0f us vs python %.0f us round trip (x%.1f); flood cache-only x%.2f; "
                 "polkit subject bus-name %.0f us vs unix-process %.0f us;\n"
                 "    server CPU per call: echo %.0f us, anyd public %.0f us, gated warm %.0f us, cold %.0f us\n",
                 buses[b], get (res[b], "warm_nobody_med"), py_rtt,
                 get (res[b], "warm_nobody_med") / MAX (py_rtt, 1), get (res[b], "flood_cache_only_ratio"),
                 get (res[b], "subject_bus_name_med"), get (res[b], "subject_process_med"),
                 get (res[b], "echo_nobody_cpu"), get (res[b], "public_nobody_cpu"),
                 get (res[b], "warm_nobody_cpu"), get (res[b], "cold_nobody_cpu"));
        g_hash_table_unref (res[b]);
      }
  return 0;
}

int
main (int argc, char **argv)
{
  signal (SIGPIPE, SIG_IGN);
  if (argc > 1 && g_str_equal (argv[1], "--client"))
    return client_main (argc, argv);
  if (argc > 1 && g_str_equal (argv[1], "--echo-server"))
    return echo_main ();
  if (argc > 1 && g_str_equal (argv[1], "--inner"))
    return inner_main (argc, argv);
  return outer_main (argc, argv);
}
