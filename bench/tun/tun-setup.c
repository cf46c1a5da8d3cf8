/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench/tun/tun-setup: how fast anyd sets up and tears down TUN devices, against
 * baselines measured in the same run (issue 4):
 *
 *   floor     create + MTU + IPv4 + IPv6 address + up + route, straight
 *             through libnl (anyd's own netlink helpers), no D-Bus
 *   ip        the same steps as separate `ip` commands (what a script does)
 *   anyd      one authorized org.anyd1.Tun.Create with all the options, as
 *             an unprivileged caller (uid 65534), authorization warm: the
 *             name is "" (anyd picks anyd%d), so the polkit details are the
 *             same for every call and a decision cache can answer
 *   teardown  a caller owning --bulk devices disconnects: time until anyd
 *             has removed them all, against one Delete() of one device
 *
 * The three run in alternating rounds of --round devices, so load from
 * other processes on the machine hits them alike.
 *
 * It must run as root inside the test sandbox (private network namespace,
 * private system bus, real polkitd, anyd from the build tree), which
 * bench/tun/tun-bench.py provides:
 *   meson test -C build --benchmark --suite tun -v
 * or by hand inside `scripts/sandbox`:  build/bench/tun/tun-setup [--count N] [--bulk N]
 */
#include "netlink.h"
#include "error.h"

#include <gio/gio.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCRATCH_GROUP 4242

static int count = 100, bulk = 50, caller_uid = 65534;

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

static void
die (const char *what, GError *error)
{
  fprintf (stderr, "tun-setup: %s: %s\n", what, error ? error->message : g_strerror (errno));
  exit (1);
}

/* Remove every link whose name starts with prefix (one batch). */
static void
cleanup (AnydNetlink *nl, const char *prefix)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) links = anyd_netlink_link_list (nl, &error);
  g_autoptr(GArray) idx = g_array_new (FALSE, FALSE, sizeof (int));

  if (links == NULL)
    die ("list links", error);
  for (guint i = 0; i < links->len; i++)
    {
      AnydLinkInfo *l = links->pdata[i];
      if (g_str_has_prefix (l->name, prefix))
        g_array_append_val (idx, l->ifindex);
    }
  if (!anyd_netlink_links_delete (nl, (int *) (void *) idx->data, idx->len, SCRATCH_GROUP, &error))
    die ("cleanup", error);
}

/* ------------------------------------------------------------------ floor */

/* Devices first..first+n-1 straight through libnl; returns ms. */
static double
floor_round (AnydNetlink *nl, int first, int n)
{
  g_autoptr(GError) error = NULL;
  gint64 t0 = now_us ();

  for (int i = first; i < first + n; i++)
    {
      g_autofree char *name = g_strdup_printf ("bf%d", i), *ifname = NULL;
      AnydTunParams tp = ANYD_TUN_PARAMS_INIT;
      AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;
      AnydCidr a4, a6;
      AnydRoute r;
      g_autofree char *s4 = g_strdup_printf ("10.%d.%d.1/24", 100 + i / 250, i % 250);
      g_autofree char *s6 = g_strdup_printf ("fd00:%x::1/64", 0x100 + i);
      g_autofree char *sr = g_strdup_printf ("10.%d.%d.0/24 via 10.%d.%d.2", 200 + i / 250, i % 250,
                                             100 + i / 250, i % 250);
      int fd, ifindex;

      tp.name = name;
      tp.owner = caller_uid;
      fd = anyd_tun_open (&tp, &ifname, &error);
      if (fd < 0)
        die ("floor: create", error);
      ifindex = anyd_netlink_link_index (nl, ifname, &error);
      ch.mtu = 1400;
      ch.up = 1;
      if (ifindex <= 0 || !anyd_netlink_link_change (nl, ifindex, &ch, &error) ||
          !anyd_cidr_parse (s4, "a", &a4, &error) || !anyd_netlink_addr_add (nl, ifindex, &a4, "a", &error) ||
          !anyd_cidr_parse (s6, "a", &a6, &error) || !anyd_netlink_addr_add (nl, ifindex, &a6, "a", &error) ||
          !anyd_route_parse (sr, "r", &r, &error) || !anyd_netlink_route_add (nl, ifindex, &r, "r", &error) ||
          !anyd_tun_set_persist (fd, TRUE, &error))
        die ("floor: configure", error);
      close (fd);
    }
  return (now_us () - t0) / 1000.0;
}

static double
floor_single_delete (AnydNetlink *nl)
{
  g_autoptr(GError) error = NULL;
  int ifindex = anyd_netlink_link_index (nl, "bf0", &error);
  gint64 t0 = now_us ();

  if (ifindex <= 0 || !anyd_netlink_link_delete (nl, ifindex, &error))
    die ("floor: delete", error);
  return (now_us () - t0) / 1000.0;
}

/* ------------------------------------------------------------- ip script */

static void
ip (const char *fmt, ...)
{
  g_autofree char *cmd = NULL;
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) error = NULL;
  int status;
  va_list ap;

  va_start (ap, fmt);
  cmd = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  argv = g_strsplit (cmd, " ", -1);
  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    {
      g_prefix_error (&error, "%s: ", cmd);
      die ("ip script", error);
    }
}

/* Devices first..first+n-1 as a script would make them; returns ms. */
static double
ip_round (int first, int n)
{
  gint64 t0 = now_us ();

  for (int i = first; i < first + n; i++)
    {
      ip ("ip tuntap add mode tun user %d name bi%d", caller_uid, i);
      ip ("ip link set dev bi%d mtu 1400", i);
      ip ("ip addr add 10.%d.%d.1/24 dev bi%d", 140 + i / 250, i % 250, i);
      ip ("ip addr add fd02:%x::1/64 dev bi%d", 0x100 + i, i);
      ip ("ip link set dev bi%d up", i);
      ip ("ip route add 10.%d.%d.0/24 via 10.%d.%d.2 dev bi%d", 240 + i / 250, i % 250, 140 + i / 250, i % 250, i);
    }
  return (now_us () - t0) / 1000.0;
}

/* ------------------------------------------------------------------- anyd */

static GVariant *
create_args (const char *name, int i)
{
  GVariantBuilder b;
  /* other networks than the floor's devices, which exist at the same time */
  g_autofree char *s4 = g_strdup_printf ("10.%d.%d.1/24", 120 + i / 250, i % 250);
  g_autofree char *s6 = g_strdup_printf ("fd01:%x::1/64", 0x100 + i);
  g_autofree char *sr = g_strdup_printf ("10.%d.%d.0/24 via 10.%d.%d.2", 220 + i / 250, i % 250,
                                         120 + i / 250, i % 250);
  const char *addrs[] = { s4, s6, NULL }, *routes[] = { sr, NULL };

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint32 (1400));
  g_variant_builder_add (&b, "{sv}", "up", g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", "addresses", g_variant_new_strv (addrs, -1));
  g_variant_builder_add (&b, "{sv}", "routes", g_variant_new_strv (routes, -1));
  return g_variant_new ("(sa{sv})", name, &b);
}

static char *
create (GDBusConnection *bus, const char *name, int i)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) r = g_dbus_connection_call_sync (bus, "org.anyd1", "/org/anyd1/tun", "org.anyd1.Tun",
                                                       "Create", create_args (name, i), G_VARIANT_TYPE ("(o)"),
                                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  char *path;

  if (r == NULL)
    die ("anyd: Create", error);
  g_variant_get (r, "(o)", &path);
  return path;
}

static GDBusConnection *
private_bus (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *addr = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  GDBusConnection *bus = addr ? g_dbus_connection_new_for_address_sync (
      addr, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error) : NULL;

  if (bus == NULL)
    die ("system bus", error);
  return bus;
}

typedef struct {
  int        removed;
  GMainLoop *loop;
  int        want;
} Removed;

static void
removed_cb (GDBusConnection *c, const char *sender, const char *path, const char *iface,
            const char *signal, GVariant *params, gpointer data)
{
  Removed *r = data;
  const char *obj;

  g_variant_get (params, "(&o@as)", &obj, NULL);
  if (g_str_has_prefix (obj, "/org/anyd1/tun/") && ++r->removed == r->want)
    g_main_loop_quit (r->loop);
}

static gboolean
timeout_cb (gpointer data)
{
  fprintf (stderr, "tun-setup: timed out waiting for the bulk teardown\n");
  exit (1);
}

static double
anyd_round (GDBusConnection *bus, GPtrArray *paths, int first, int n)
{
  gint64 t0 = now_us ();

  for (int i = first; i < first + n; i++)
    g_ptr_array_add (paths, create (bus, "", i));
  return (now_us () - t0) / 1000.0;
}

/* The anyd side, in a child running as caller_uid. Reads commands from
 * in: 'r' = set up the next round of devices, answer its ms; 't' = the
 * teardown measurements, answer "single_ms bulk_ms", and exit. */
static void
serve_anyd (int in, int out, int round)
{
  g_autoptr(GDBusConnection) bus = private_bus ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  Removed rm = { 0, loop, bulk };
  double single_ms, bulk_ms;
  gint64 t0;
  char cmd, buf[128];

  /* warm up: connection, caller credentials, polkitd */
  {
    g_autofree char *warm = create (bus, "", 0);
    if (!g_dbus_connection_call_sync (bus, "org.anyd1", warm, "org.anyd1.TunDevice", "Delete", NULL, NULL,
                                      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error))
      die ("anyd: Delete", error);
  }
  while (read (in, &cmd, 1) == 1 && cmd == 'r')
    {
      g_snprintf (buf, sizeof buf, "%.3f\n", anyd_round (bus, paths, (int) paths->len, round));
      if (write (out, buf, strlen (buf)) < 0)
        exit (1);
    }

  /* one Delete() of one device */
  t0 = now_us ();
  if (!g_dbus_connection_call_sync (bus, "org.anyd1", paths->pdata[0], "org.anyd1.TunDevice",
                                    "Delete", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error))
    die ("anyd: Delete", error);
  single_ms = (now_us () - t0) / 1000.0;
  /* The setup devices go when their caller does (not timed: its device
   * count differs); a second connection watches the removals. */
  {
    g_autoptr(GDBusConnection) watcher = private_bus ();
    g_autoptr(GDBusConnection) owner = NULL;

    g_dbus_connection_signal_subscribe (watcher, "org.anyd1", "org.freedesktop.DBus.ObjectManager",
                                        "InterfacesRemoved", "/org/anyd1", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        removed_cb, &rm, NULL);
    /* a round trip, so the match rule is in place before anything happens */
    g_dbus_connection_call_sync (watcher, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "GetId", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1,
                                 NULL, NULL);
    g_timeout_add_seconds (60, timeout_cb, NULL);
    rm.want = (int) paths->len - 1;
    if (rm.want > 0)
      {
        g_dbus_connection_close_sync (bus, NULL, NULL);
        g_main_loop_run (loop);
      }

    /* the timed teardown: a caller owning --bulk devices disconnects */
    owner = private_bus ();
    for (int i = 0; i < bulk; i++)
      g_free (create (owner, "", i));
    rm.removed = 0;
    rm.want = bulk;
    t0 = now_us ();
    g_dbus_connection_close_sync (owner, NULL, NULL);
    g_main_loop_run (loop);
    bulk_ms = (now_us () - t0) / 1000.0;
  }
  g_snprintf (buf, sizeof buf, "%.3f %.3f\n", single_ms, bulk_ms);
  if (write (out, buf, strlen (buf)) < 0)
    exit (1);
}

static double
read_number (FILE *f)
{
  double v;

  if (fscanf (f, "%lf", &v) != 1)
    {
      fprintf (stderr, "tun-setup: the anyd measurement failed\n");
      exit (1);
    }
  return v;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydNetlink) nl = NULL;
  double floor_ms = 0, ip_ms = 0, anyd_ms = 0, single_ms, bulk_ms, floor_delete_ms;
  int to_child[2], from_child[2], status, round = 10;
  FILE *answers;
  pid_t pid;
  GOptionEntry entries[] = {
    { "count", 'n', 0, G_OPTION_ARG_INT, &count, "devices to set up per method (100)", "N" },
    { "bulk", 'b', 0, G_OPTION_ARG_INT, &bulk, "devices a vanishing caller owns (50)", "N" },
    { "round", 'r', 0, G_OPTION_ARG_INT, &round, "devices per alternating floor/anyd round (10)", "N" },
    { "uid", 'u', 0, G_OPTION_ARG_INT, &caller_uid, "uid of the anyd caller (65534)", "UID" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("- TUN setup and teardown benchmark");

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    die ("options", error);
  if (count < 1 || count > 2500 || bulk < 1 || bulk > 2500 || round < 1 || count % round != 0)
    {
      fprintf (stderr, "tun-setup: --count (at most 2500) must be a positive multiple of --round\n");
      return 2;
    }
  if (geteuid () != 0)
    {
      fprintf (stderr, "tun-setup: run as root inside the test sandbox (see the top of bench/tun/tun-setup.c)\n");
      return 77;
    }
  nl = anyd_netlink_get (&error);
  if (nl == NULL)
    die ("netlink", error);

  /* ip, floor and anyd in alternating rounds, so load from elsewhere hits
   * all three alike; each on networks of its own */
  if (pipe (to_child) < 0 || pipe (from_child) < 0)
    die ("pipe", NULL);
  pid = fork ();
  if (pid == 0)
    {
      close (to_child[1]);
      close (from_child[0]);
      if (setgroups (0, NULL) < 0 || setresgid (caller_uid, caller_uid, caller_uid) < 0 ||
          setresuid (caller_uid, caller_uid, caller_uid) < 0)
        die ("drop privileges", NULL);
      serve_anyd (to_child[0], from_child[1], round);
      _exit (0);
    }
  close (to_child[0]);
  close (from_child[1]);
  answers = fdopen (from_child[0], "r");
  for (int done = 0; done < count; done += round)
    {
      ip_ms += ip_round (done, round);
      floor_ms += floor_round (nl, done, round);
      if (write (to_child[1], "r", 1) != 1)
        die ("pipe", NULL);
      anyd_ms += read_number (answers);
    }
  floor_delete_ms = floor_single_delete (nl);
  /* the teardown runs with only anyd's devices around */
  cleanup (nl, "bf");
  cleanup (nl, "bi");
  if (write (to_child[1], "t", 1) != 1)
    die ("pipe", NULL);
  single_ms = read_number (answers);
  bulk_ms = read_number (answers);
  if (waitpid (pid, &status, 0) < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      fprintf (stderr, "tun-setup: the anyd measurement failed\n");
      return 1;
    }
  fclose (answers);
  cleanup (nl, "anyd");

  printf ("setup of %d devices (create, MTU, IPv4 + IPv6 address, up, route):\n", count);
  printf ("  libnl floor  %9.1f ms  %7.3f ms/device\n", floor_ms, floor_ms / count);
  printf ("  ip script    %9.1f ms  %7.3f ms/device\n", ip_ms, ip_ms / count);
  printf ("  anyd Create  %9.1f ms  %7.3f ms/device\n", anyd_ms, anyd_ms / count);
  printf ("  ratio ip/anyd    %6.1fx  (target >= 20x)  %s\n", ip_ms / anyd_ms,
          ip_ms / anyd_ms >= 20 ? "ok" : "MISSED");
  printf ("  ratio anyd/floor %6.2fx  (target <= 3x)   %s\n", anyd_ms / floor_ms,
          anyd_ms / floor_ms <= 3 ? "ok" : "MISSED");
  printf ("teardown:\n");
  printf ("  one delete (libnl)           %7.1f ms\n", floor_delete_ms);
  printf ("  one Delete() through anyd    %7.1f ms\n", single_ms);
  printf ("  caller with %d devices leaves: all gone in %7.1f ms\n", bulk, bulk_ms);
  printf ("  ratio bulk/single %5.2fx  (target <= 3x)   %s\n", bulk_ms / single_ms,
          bulk_ms / single_ms <= 3 ? "ok" : "MISSED");
  return 0;
}
