/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client tun: create, open, list, show, set and delete TUN/TAP devices
 * (org.anyd1.Tun, org.anyd1.TunDevice). */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <anyd.h>

#include "common.h"

#define TUN_PATH   ANYD_CLIENT_PATH "/tun"
#define DEV_IFACE  "org.anyd1.TunDevice"

/* ------------------------------------------------------------ options */

static char *opt_mode, *opt_owner, *opt_group;
static int opt_mtu = -1;
static char **opt_addresses, **opt_routes, **opt_remove_addresses, **opt_remove_routes;
static gboolean opt_up, opt_down, opt_persist, opt_multi_queue, opt_vnet_hdr;

#define CREATE_OPTIONS                                                                            \
  { "mode", 0, 0, G_OPTION_ARG_STRING, &opt_mode, N_("tun (IP packets, default) or tap (Ethernet frames)"), "tun|tap" }, \
  { "owner", 0, 0, G_OPTION_ARG_STRING, &opt_owner, N_("user who may use the device (default: you)"), "USER" }, \
  { "group", 0, 0, G_OPTION_ARG_STRING, &opt_group, N_("group whose members may use the device"), "GROUP" }, \
  { "mtu", 0, 0, G_OPTION_ARG_INT, &opt_mtu, N_("MTU"), "BYTES" },                                \
  { "address", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &opt_addresses, N_("add an IPv4 or IPv6 address (repeatable)"), "CIDR" }, \
  { "route", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &opt_routes, N_("add a route (repeatable)"), "\"CIDR [via GW] [metric N] [table N]\"" }, \
  { "up", 0, 0, G_OPTION_ARG_NONE, &opt_up, N_("bring the link up"), NULL },                     \
  { "multi-queue", 0, 0, G_OPTION_ARG_NONE, &opt_multi_queue, N_("multi-queue device"), NULL }, \
  { "vnet-hdr", 0, 0, G_OPTION_ARG_NONE, &opt_vnet_hdr, N_("packets carry a virtio-net header"), NULL }

static const GOptionEntry create_entries[] = {
  CREATE_OPTIONS,
  { NULL }
};

static const GOptionEntry open_entries[] = {
  CREATE_OPTIONS,
  { "persist", 0, 0, G_OPTION_ARG_NONE, &opt_persist,
    N_("keep the device after this command ends (it stays until tun delete)"), NULL },
  { NULL }
};

static const GOptionEntry set_entries[] = {
  { "mtu", 0, 0, G_OPTION_ARG_INT, &opt_mtu, N_("MTU"), "BYTES" },
  { "add-address", 'a', 0, G_OPTION_ARG_STRING_ARRAY, &opt_addresses, N_("add an address (repeatable)"), "CIDR" },
  { "remove-address", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_remove_addresses, N_("remove an address (repeatable)"), "CIDR" },
  { "add-route", 'r', 0, G_OPTION_ARG_STRING_ARRAY, &opt_routes, N_("add a route (repeatable)"), "ROUTE" },
  { "remove-route", 0, 0, G_OPTION_ARG_STRING_ARRAY, &opt_remove_routes, N_("remove a route (repeatable)"), "ROUTE" },
  { "up", 0, 0, G_OPTION_ARG_NONE, &opt_up, N_("bring the link up"), NULL },
  { "down", 0, 0, G_OPTION_ARG_NONE, &opt_down, N_("take the link down"), NULL },
  { NULL }
};

/* A uid/gid by number or by (local) name. */
static gboolean
parse_id (const char *text, gboolean group, guint32 *out, GError **error)
{
  guint64 v;

  if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32 - 1, &v, NULL))
    {
      *out = (guint32) v;
      return TRUE;
    }
  if (group)
    {
      struct group *gr = getgrnam (text);
      if (gr)
        {
          *out = gr->gr_gid;
          return TRUE;
        }
    }
  else
    {
      struct passwd *pw = getpwnam (text);
      if (pw)
        {
          *out = pw->pw_uid;
          return TRUE;
        }
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               group ? _("--group: no such group: %s") : _("--owner: no such user: %s"), text);
  return FALSE;
}

/* The a{sv} for Create/Open from the command line. */
static GVariant *
create_options (gboolean persist, GError **error)
{
  GVariantBuilder b;
  guint32 id;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (opt_mode)
    g_variant_builder_add (&b, "{sv}", "mode", g_variant_new_string (opt_mode));
  if (opt_owner)
    {
      if (!parse_id (opt_owner, FALSE, &id, error))
        goto fail;
      g_variant_builder_add (&b, "{sv}", "owner", g_variant_new_uint32 (id));
    }
  if (opt_group)
    {
      if (!parse_id (opt_group, TRUE, &id, error))
        goto fail;
      g_variant_builder_add (&b, "{sv}", "group", g_variant_new_uint32 (id));
    }
  if (opt_mtu >= 0)
    g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint32 ((guint32) opt_mtu));
  if (opt_addresses)
    g_variant_builder_add (&b, "{sv}", "addresses", g_variant_new_strv ((const char *const *) opt_addresses, -1));
  if (opt_routes)
    g_variant_builder_add (&b, "{sv}", "routes", g_variant_new_strv ((const char *const *) opt_routes, -1));
  if (opt_up)
    g_variant_builder_add (&b, "{sv}", "up", g_variant_new_boolean (TRUE));
  if (persist)
    g_variant_builder_add (&b, "{sv}", "persist", g_variant_new_boolean (TRUE));
  if (opt_multi_queue)
    g_variant_builder_add (&b, "{sv}", "multi_queue", g_variant_new_boolean (TRUE));
  if (opt_vnet_hdr)
    g_variant_builder_add (&b, "{sv}", "vnet_hdr", g_variant_new_boolean (TRUE));
  return g_variant_builder_end (&b);

fail:
  g_variant_builder_clear (&b);
  return NULL;
}

static char *
device_path (const char *name)
{
  g_autofree char *elem = g_dbus_escape_object_path (name);
  return g_strconcat (TUN_PATH "/", elem, NULL);
}

/* ------------------------------------------------------------- output */

static const char *const columns[] = { "Name", "Index", "Mode", "Mtu", "Up", "Persistent",
                                       "Owner", "Addresses", "Routes", NULL };

static char *
prop_text (GVariant *props, const char *key)
{
  g_autoptr(GVariant) v = g_variant_lookup_value (props, key, NULL);

  if (v == NULL)
    return NULL;
  if ((g_str_equal (key, "Owner") || g_str_equal (key, "Group") || g_str_equal (key, "CreatedBy")) &&
      g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
    {
      guint32 id = g_variant_get_uint32 (v);
      if (id == G_MAXUINT32)
        return g_strdup ("-");
      return g_strdup_printf ("%u", id);
    }
  if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING_ARRAY) && g_variant_n_children (v) == 0)
    return g_strdup ("-");
  return anyd_client_format_value (v);
}

static void
print_device (GVariant *props)
{
  static const struct { const char *key, *label; } rows[] = {
    { "Name", N_("Name:") }, { "Index", N_("Index:") }, { "Mode", N_("Mode:") }, { "Mtu", N_("MTU:") },
    { "Up", N_("Up:") }, { "Persistent", N_("Persistent:") }, { "Owner", N_("Owner:") },
    { "Group", N_("Group:") }, { "CreatedBy", N_("Created by:") }, { "Addresses", N_("Addresses:") },
    { "Routes", N_("Routes:") },
  };
  g_autoptr(AnydClientTable) t = anyd_client_table_new_plain (2);

  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autofree char *v = prop_text (props, rows[i].key);
      anyd_client_table_add_row (t, rows[i].label, v);
    }
  anyd_client_table_print (t);
}

/* GetAll of the device called name; a device anyd does not have -> NotFound. */
static GVariant *
get_device (AnydClientContext *ctx, const char *name, char **path_out, GError **error)
{
  g_autofree char *path = device_path (name);
  GVariant *props = anyd_client_get_properties (ctx, path, DEV_IFACE, error);

  if (props && path_out)
    *path_out = g_steal_pointer (&path);
  return props;
}

#define TUN_NODE "/dev/net/tun"

/* Whether uid may open node for reading and writing, by its mode bits. */
static gboolean
node_lets_uid_rw (const struct stat *st, guint32 uid)
{
  struct passwd *pw;

  if (uid == 0)
    return TRUE;
  if (st->st_uid == uid)
    return (st->st_mode & 0600) == 0600;
  if ((st->st_mode & 0006) == 0006)
    return TRUE;
  if ((st->st_mode & 0060) != 0060)
    return FALSE;
  pw = getpwuid (uid);
  if (pw == NULL)
    return FALSE;
  if (pw->pw_gid == st->st_gid)
    return TRUE;
  {
    int n = 0;
    g_autofree gid_t *groups = NULL;

    getgrouplist (pw->pw_name, pw->pw_gid, NULL, &n);
    groups = g_new0 (gid_t, MAX (n, 1));
    if (getgrouplist (pw->pw_name, pw->pw_gid, groups, &n) < 0)
      return FALSE;
    for (int i = 0; i < n; i++)
      if (groups[i] == st->st_gid)
        return TRUE;
  }
  return FALSE;
}

/* The kernel lets a device's owner attach to it without privilege, but only
 * after open("/dev/net/tun") succeeded: a node more restrictive than the
 * 0666 distributions ship defeats the point of owning the device.  Say so,
 * with what to do (only on this machine: with --host the node is elsewhere). */
static void
warn_if_node_refuses_owner (AnydClientContext *ctx, GVariant *props, gboolean fd_handed)
{
  struct stat st;
  guint32 owner = G_MAXUINT32;
  const char *name = "";

  if (ctx->host != NULL)
    return;
  g_variant_lookup (props, "Owner", "u", &owner);
  g_variant_lookup (props, "Name", "&s", &name);
  if (owner == G_MAXUINT32)
    return;
  if (stat (TUN_NODE, &st) < 0)
    {
      g_printerr (_("anyd-client: warning: %s: %s; nobody can attach to %s by name "
                    "(load the tun module: modprobe tun)\n"), TUN_NODE, g_strerror (errno), name);
      return;
    }
  if (!S_ISCHR (st.st_mode) || major (st.st_rdev) != 10 || minor (st.st_rdev) != 200)
    {
      g_printerr (_("anyd-client: warning: %s is not the TUN character device (10:200); "
                    "programs cannot attach to %s by name\n"), TUN_NODE, name);
      return;
    }
  if (node_lets_uid_rw (&st, owner))
    return;
  g_printerr (_("anyd-client: warning: %s has mode %04o (owner %u, group %u), so uid %u cannot open it "
                "and cannot attach to %s although it owns the device%s. Distributions ship the node "
                "as 0666 (the kernel checks the device's owner itself): run "
                "'chmod 0666 %s' and make it last with a udev rule such as "
                "KERNEL==\"tun\", MODE=\"0666\" in /etc/udev/rules.d/60-tun.rules\n"),
              TUN_NODE, (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) st.st_gid,
              owner, name, fd_handed ? _(" (the descriptor handed over here works)") : "", TUN_NODE);
}

static int
print_created (AnydClientContext *ctx, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) props = NULL;

  if (ctx->quiet && !ctx->json)
    return ANYD_CLIENT_EXIT_OK;
  props = anyd_client_get_properties (ctx, path, DEV_IFACE, &error);
  if (props == NULL)
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (props);
  else
    print_device (props);
  warn_if_node_refuses_owner (ctx, props, FALSE);
  return ANYD_CLIENT_EXIT_OK;
}

/* ----------------------------------------------------------- commands */

static AnydTun *
tun_proxy (AnydClientContext *ctx, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_TUN_PROXY, anyd_tun_interface_info (), TUN_PATH, error);
}

static int
cmd_create (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydTun) tun = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autofree char *path = NULL;

  /* A device that is not persistent would vanish as this command exits. */
  options = create_options (TRUE, &error);
  if (options == NULL)
    return anyd_client_usage_error (ctx, "%s", error->message);
  g_variant_ref_sink (options); /* kept for a retry */
  tun = tun_proxy (ctx, &error);
  if (tun == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, tun, &error,
                               anyd_tun_call_create_sync (tun, argc > 1 ? argv[1] : "", options,
                                                          ANYD_CLIENT_CALL_ARGS (ctx), &path, NULL, &error)))
    return anyd_client_fail (ctx, error);
  return print_created (ctx, path);
}

static gboolean
quit_cb (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
bus_closed_cb (GDBusConnection *bus, gboolean remote, GError *error, gpointer loop)
{
  g_main_loop_quit (loop);
}

typedef struct {
  gboolean    json;
  const char *path, *name;
} Announce;

static gboolean
announce_cb (gpointer data)
{
  Announce *a = data;

  if (a->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "device", g_variant_new_object_path (a->path));
      g_variant_builder_add (&b, "{sv}", "name", g_variant_new_string (a->name));
      anyd_client_print_json_line (g_variant_builder_end (&b));
    }
  else
    g_print (_("%s is open; press Ctrl+C to close it%s\n"), a->name,
             opt_persist ? "" : _(" (the device is removed then)"));
  return G_SOURCE_REMOVE;
}

static int
run_with_fd (AnydClientContext *ctx, char **cmd, int fd, const char *name, GError **error)
{
  g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr(GSubprocess) p = NULL;
  g_autofree char *fdtext = g_strdup_printf ("%d", fd);

  /* Same number in the child, announced in the environment. */
  g_subprocess_launcher_take_fd (l, fd, fd);
  g_subprocess_launcher_setenv (l, "ANYD_TUN_FD", fdtext, TRUE);
  g_subprocess_launcher_setenv (l, "ANYD_TUN_NAME", name, TRUE);
  p = g_subprocess_launcher_spawnv (l, (const char *const *) cmd, error);
  if (p == NULL)
    return -1;
  if (!g_subprocess_wait (p, NULL, error))
    return -1;
  if (g_subprocess_get_if_signaled (p))
    return 128 + g_subprocess_get_term_sig (p);
  return g_subprocess_get_exit_status (p);
}

static int
cmd_open (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydTun) tun = NULL;
  g_autoptr(GVariant) fd_handle = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GVariant) props = NULL;
  g_autoptr(GVariant) options = NULL;
  g_autofree char *path = NULL;
  const char *name = "";
  int handle, fd, n_names = ctx->dashdash >= 0 ? ctx->dashdash - 1 : argc - 1;
  char **cmd = ctx->dashdash >= 0 ? argv + ctx->dashdash : NULL;

  if (n_names > 1)
    return anyd_client_usage_error (ctx, _("too many arguments (put the command after \"--\")"));
  if (cmd && cmd[0] == NULL)
    return anyd_client_usage_error (ctx, _("no command after \"--\""));
  if (ctx->host)
    return anyd_client_usage_error (ctx, _("tun open receives a file descriptor, which --host cannot carry"));
  options = create_options (opt_persist, &error);
  if (options == NULL)
    return anyd_client_usage_error (ctx, "%s", error->message);
  g_variant_ref_sink (options); /* kept for a retry */
  tun = tun_proxy (ctx, &error);
  if (tun == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, tun, &error,
                               anyd_tun_call_open_sync (tun, n_names == 1 ? argv[1] : "", options,
                                                        ANYD_CLIENT_CALL_ARGS (ctx), NULL,
                                                        &path, &fd_handle, &fds, NULL, &error)))
    return anyd_client_fail (ctx, error);
  handle = g_variant_get_handle (fd_handle);
  fd = fds ? g_unix_fd_list_get (fds, handle, &error) : -1;
  if (fd < 0)
    {
      if (error == NULL)
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, _("anyd sent no file descriptor"));
      return anyd_client_fail (ctx, error);
    }
  props = anyd_client_get_properties (ctx, path, DEV_IFACE, &error);
  if (props == NULL)
    {
      close (fd);
      return anyd_client_fail (ctx, error);
    }
  g_variant_lookup (props, "Name", "&s", &name);
  warn_if_node_refuses_owner (ctx, props, TRUE);

  if (cmd)
    {
      /* The device lives as long as this connection (unless --persist). */
      int status = run_with_fd (ctx, cmd, fd, name, &error);
      if (status < 0)
        return anyd_client_fail (ctx, error);
      return status;
    }

  /* No command: hold the device until interrupted. */
  {
    g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
    GDBusConnection *bus = anyd_client_get_bus (ctx, NULL);
    gulong id = bus ? g_signal_connect (bus, "closed", G_CALLBACK (bus_closed_cb), loop) : 0;
    Announce a = { ctx->json, path, name };

    /* from inside the loop, so Ctrl+C is handled once the user sees this */
    g_idle_add (announce_cb, &a);
    if (bus == NULL)
      g_idle_add (quit_cb, loop);
    anyd_client_run_loop (ctx, loop);
    if (id)
      g_signal_handler_disconnect (bus, id);
  }
  close (fd);
  return ANYD_CLIENT_EXIT_OK;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  const char *na = "", *nb = "";

  g_variant_lookup (*(GVariant *const *) a, "Name", "&s", &na);
  g_variant_lookup (*(GVariant *const *) b, "Name", "&s", &nb);
  return strcmp (na, nb);
}

static int
cmd_list (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydClient) client = anyd_client_snapshot (ctx, "tun", &error);
  g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);
  GList *proxies;

  if (client == NULL)
    return anyd_client_fail (ctx, error);
  proxies = anyd_client_snapshot_list (client, DEV_IFACE);
  for (GList *l = proxies; l != NULL; l = l->next)
    if (g_str_has_prefix (g_dbus_proxy_get_object_path (l->data), TUN_PATH "/"))
      g_ptr_array_add (devs, anyd_client_proxy_properties (l->data));
  g_list_free_full (proxies, g_object_unref);
  g_ptr_array_sort (devs, compare_names);

  if (ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE ("aa{sv}"));
      for (guint i = 0; i < devs->len; i++)
        g_variant_builder_add_value (&b, devs->pdata[i]);
      anyd_client_print_json (g_variant_builder_end (&b));
      return ANYD_CLIENT_EXIT_OK;
    }
  {
    g_autoptr(AnydClientTable) t = anyd_client_table_new (NC_("column", "NAME"), NC_("column", "INDEX"),
                                                          NC_("column", "MODE"), NC_("column", "MTU"),
                                                          NC_("column", "UP"), NC_("column", "PERSISTENT"),
                                                          NC_("column", "OWNER"), NC_("column", "ADDRESSES"),
                                                          NC_("column", "ROUTES"), NULL);
    for (guint i = 0; i < devs->len; i++)
      {
        char *cells[G_N_ELEMENTS (columns)] = { NULL };
        for (guint c = 0; columns[c]; c++)
          cells[c] = prop_text (devs->pdata[i], columns[c]);
        anyd_client_table_add_rowv (t, (const char *const *) cells);
        for (guint c = 0; columns[c]; c++)
          g_free (cells[c]);
      }
    if (devs->len == 0)
      g_print ("%s\n", _("No devices."));
    else
      anyd_client_table_print (t);
  }
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_show (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) props = get_device (ctx, argv[1], NULL, &error);

  if (props == NULL)
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (g_variant_ref (props));
  else
    print_device (props);
  return ANYD_CLIENT_EXIT_OK;
}

static AnydTunDevice *
device_proxy (AnydClientContext *ctx, const char *path, GError **error)
{
  return anyd_client_proxy_new (ctx, ANYD_TYPE_TUN_DEVICE_PROXY, anyd_tun_device_interface_info (),
                                path, error);
}

/* One typed call on the device proxy dev, with &error and the call arguments. */
#define DEV_CALL(method, ...)                                                                    \
  ANYD_CLIENT_TYPED_CALL (ctx, dev, &error,                                                     \
                          anyd_tun_device_call_##method##_sync (dev, __VA_ARGS__ __VA_OPT__(,) \
                                                                ANYD_CLIENT_CALL_ARGS (ctx),    \
                                                                NULL, &error))

static int
cmd_set (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GVariant) props = NULL;
  g_autoptr(AnydTunDevice) dev = NULL;
  gboolean ok = TRUE;

  if (opt_up && opt_down)
    return anyd_client_usage_error (ctx, _("--up and --down exclude each other"));
  if (opt_mtu < 0 && !opt_up && !opt_down && !opt_addresses && !opt_routes &&
      !opt_remove_addresses && !opt_remove_routes)
    return anyd_client_usage_error (ctx, _("nothing to change (see --help)"));
  props = get_device (ctx, argv[1], &path, &error);
  if (props == NULL)
    return anyd_client_fail (ctx, error);

  /* One call per change, in an order where each can succeed: routes need
   * the link up and their gateway's address, so they come last (and
   * removals first). Stops at the first error. */
  dev = device_proxy (ctx, path, &error);
  ok = dev != NULL;
  if (ok && opt_mtu >= 0)
    ok = DEV_CALL (set_mtu, (guint) opt_mtu);
  if (ok && opt_up)
    ok = DEV_CALL (set_up, TRUE);
  for (guint i = 0; ok && opt_remove_routes && opt_remove_routes[i]; i++)
    ok = DEV_CALL (remove_route, opt_remove_routes[i]);
  for (guint i = 0; ok && opt_remove_addresses && opt_remove_addresses[i]; i++)
    ok = DEV_CALL (remove_address, opt_remove_addresses[i]);
  for (guint i = 0; ok && opt_addresses && opt_addresses[i]; i++)
    ok = DEV_CALL (add_address, opt_addresses[i]);
  for (guint i = 0; ok && opt_routes && opt_routes[i]; i++)
    ok = DEV_CALL (add_route, opt_routes[i]);
  if (ok && opt_down)
    ok = DEV_CALL (set_up, FALSE);
  if (!ok)
    return anyd_client_fail (ctx, error);
  return print_created (ctx, path);
}

static int
cmd_delete (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = device_path (argv[1]);
  g_autoptr(AnydTunDevice) dev = device_proxy (ctx, path, &error);

  if (dev == NULL || !DEV_CALL (delete))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "deleted", g_variant_new_string (argv[1]));
      anyd_client_print_json (g_variant_builder_end (&b));
    }
  return ANYD_CLIENT_EXIT_OK;
}

static int
cmd_monitor (AnydClientContext *ctx, int argc, char **argv)
{
  return anyd_client_monitor_module (ctx, "tun");
}

static const AnydClientCommand tun_commands[] = {
  { "create", "[NAME]", N_("Create a persistent device (NAME: a free anydN if none)"),
    cmd_create, 0, 1, create_entries },
  { "open", "[NAME] [-- COMMAND [ARG…]]",
    N_("Create a device, get its fd: run COMMAND with it, or hold it until Ctrl+C"),
    cmd_open, 0, -1, open_entries },
  { "list", NULL, N_("List the devices anyd created"), cmd_list, 0, 0, NULL },
  { "show", "NAME", N_("Show a device"), cmd_show, 1, 1, NULL },
  { "set", "NAME", N_("Change a device: MTU, addresses, routes, up or down"), cmd_set, 1, 1, set_entries },
  { "delete", "NAME", N_("Delete a device anyd created"), cmd_delete, 1, 1, NULL },
  { "monitor", NULL, N_("Print devices added, changed and removed as it happens"), cmd_monitor, 0, 0, NULL },
  { NULL }
};

const AnydClientGroup anyd_client_group_tun = {
  .name = "tun",
  .summary = N_("TUN/TAP devices (org.anyd1.tun.manage)"),
  .commands = tun_commands,
  .default_command = "list",
  .toplevel = FALSE,
};
