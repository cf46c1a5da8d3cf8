/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tun module: org.anyd1.Tun at /org/anyd1/tun creates TUN/TAP devices
 * (Create, Open with fd passing), follows them through rtnetlink
 * notifications, deletes non-persistent ones when their creator leaves, and
 * re-adopts persistent ones after a restart (see the mark in tun-device.c
 * and the record in tun-record.c).
 *
 * Every device is kernel-persistent once set up; "persist" is anyd's notion
 * (does it outlive its creator's bus name). During Create the device is not
 * yet persistent, so any failing step is undone by closing the fd: the
 * kernel then removes the device with whatever addresses and routes it got,
 * and a crash mid-setup leaves nothing behind either. */
#include "anyd-build-config.h"
#include "tun-private.h"
#include "audit.h"
#include "error.h"
#include "metrics.h"
#include "module.h"
#include "names.h"
#include "util.h"

#include <gio/gunixfdlist.h>
#include <net/if_arp.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#define MAX_ADDRESSES 256
#define MAX_ROUTES    1024

static const AnydConfigKey tun_config_keys[] = {
  { "tun", "link_group", ANYD_CONFIG_UINT, "1634629988",
    "link group of the devices anyd creates (1-4294967294; the next number is a scratch group for deleting many devices at once)",
    G_MAXUINT32 - 1 },
  { NULL }
};

static const AnydAuthRule tun_auth_rules[] = {
  { "org.anyd1.Tun",       "Create",        ANYD_ACTION_TUN_MANAGE, "device", 0,  NULL },
  { "org.anyd1.Tun",       "Open",          ANYD_ACTION_TUN_MANAGE, "device", 0,  NULL },
  /* detail "device" for these comes from the object (device_details); on a
   * device another uid created, also org.anyd1.manage (device_owner) */
  { "org.anyd1.TunDevice", "SetMtu",        ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  { "org.anyd1.TunDevice", "AddAddress",    ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  { "org.anyd1.TunDevice", "RemoveAddress", ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  { "org.anyd1.TunDevice", "AddRoute",      ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  { "org.anyd1.TunDevice", "RemoveRoute",   ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  { "org.anyd1.TunDevice", "SetUp",         ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  { "org.anyd1.TunDevice", "Delete",        ANYD_ACTION_TUN_MANAGE, "device", -1, NULL, ANYD_AUTH_OWNER_MANAGE },
  ANYD_AUTH_RULES_END
};

static const AnydOptionSpec create_options[] = {
  { "mode", "s" }, { "owner", "u" }, { "group", "u" }, { "mtu", "u" },
  { "addresses", "as" }, { "routes", "as" }, { "up", "b" }, { "persist", "b" },
  { "multi_queue", "b" }, { "vnet_hdr", "b" },
  { NULL, NULL }
};

/* ---------------------------------------------------------------- module */

TunModule *
tun_module_ref (TunModule *module)
{
  g_atomic_int_inc (&module->ref_count);
  return module;
}

void
tun_module_unref (TunModule *module)
{
  if (module == NULL || !g_atomic_int_dec_and_test (&module->ref_count))
    return;
  g_free (module);
}

TunDevice *
tun_module_lookup (TunModule *module, int ifindex)
{
  return g_hash_table_lookup (module->devices, GINT_TO_POINTER (ifindex));
}

static void
device_destroy (gpointer p)
{
  TunDevice *dev = p;

  if (dev->held)
    anyd_daemon_release (dev->module->daemon);
  tun_device_free (dev);
}

void
tun_module_forget (TunModule *module, int ifindex)
{
  g_hash_table_remove (module->devices, GINT_TO_POINTER (ifindex));
}

gboolean
tun_module_delete_devices (TunModule *module, GPtrArray *devices, GError **error)
{
  g_autofree int *idx = g_new (int, devices->len ? devices->len : 1);

  for (guint i = 0; i < devices->len; i++)
    idx[i] = ((TunDevice *) devices->pdata[i])->ifindex;
  if (!anyd_netlink_links_delete (module->nl, idx, devices->len, module->link_group + 1, error))
    return FALSE;
  for (guint i = 0; i < devices->len; i++)
    tun_module_forget (module, idx[i]);
  tun_module_record_changed (module);
  return TRUE;
}

typedef struct {
  TunModule             *module;
  GArray                *ifindexes;
  GDBusMethodInvocation *invocation;   /* NULL: a cleanup nobody waits for */
  AnydCaller            *caller;
  char                  *action, *object, *what;
} DeleteOp;

static void
delete_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  DeleteOp *op = user_data;
  TunModule *module = op->module;
  GError *error = NULL;

  anyd_netlink_links_delete_finish (module->nl, res, &error);
  for (guint i = 0; !module->stopped && i < op->ifindexes->len; i++)
    {
      int ifindex = g_array_index (op->ifindexes, int, i);
      TunDevice *dev = tun_module_lookup (module, ifindex);
      if (dev == NULL)
        continue;   /* the kernel's notification was first */
      if (error == NULL)
        tun_module_forget (module, ifindex);
      else
        dev->deleting = FALSE;
    }
  if (error == NULL)
    tun_module_record_changed (module);
  if (error)
    g_warning ("tun: %s: %s", op->what, error->message);
  anyd_audit_action (op->caller, op->action, op->object, error, "%s", op->what);
  if (op->invocation && error)
    anyd_invocation_return_error (op->invocation, error);
  else if (op->invocation)
    g_dbus_method_invocation_return_value (op->invocation, NULL);
  else
    g_clear_error (&error);
  g_array_unref (op->ifindexes);
  g_clear_pointer (&op->caller, anyd_caller_unref);
  g_free (op->action);
  g_free (op->object);
  g_free (op->what);
  g_free (op);
  tun_module_unref (module);
}

void
tun_module_delete_devices_async (TunModule *module, GPtrArray *devices, GDBusMethodInvocation *invocation,
                                 const char *action, const char *what)
{
  DeleteOp *op = g_new0 (DeleteOp, 1);

  op->module = tun_module_ref (module);
  op->ifindexes = g_array_sized_new (FALSE, FALSE, sizeof (int), devices->len);
  op->invocation = invocation;
  op->caller = invocation ? anyd_caller_ref (anyd_caller_from_invocation (invocation)) : NULL;
  op->action = g_strdup (action);
  op->object = g_strdup (devices->len == 1 ? ((TunDevice *) devices->pdata[0])->path : TUN_PATH);
  op->what = g_strdup (what);
  for (guint i = 0; i < devices->len; i++)
    {
      TunDevice *dev = devices->pdata[i];
      dev->deleting = TRUE;
      g_array_append_val (op->ifindexes, dev->ifindex);
    }
  anyd_netlink_links_delete_async (module->nl, (int *) (void *) op->ifindexes->data, op->ifindexes->len,
                                   module->link_group + 1, NULL, delete_done_cb, op);
}

/* ------------------------------------------------------- state following */

/* Rename behind our back: the object path follows the name (paths are
 * "/org/anyd1/tun/<escaped-name>"), so the object moves. */
static void
rename_device (TunModule *module, TunDevice *dev, const AnydLinkInfo *link)
{
  TunDevice *moved = tun_device_new (module, link, dev->created_by, dev->owner, dev->group,
                                     dev->persistent, dev->sender);

  moved->held = dev->held;
  dev->held = FALSE;
  g_hash_table_replace (module->devices, GINT_TO_POINTER (link->ifindex), moved);
  tun_device_refresh (moved);
  tun_module_record_changed (module);
}

static void
refresh_link (TunModule *module, TunDevice *dev)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydLinkInfo) link = anyd_netlink_link_get (module->nl, dev->ifindex, &error);

  dev->dirty_link = FALSE;
  if (link == NULL && g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_message ("tun: %s was removed outside anyd", dev->name);
      tun_module_forget (module, dev->ifindex);
      tun_module_record_changed (module);
      return;
    }
  if (link == NULL)
    {
      g_debug ("tun: %s: %s", dev->name, error->message);
      return;
    }
  /* An alias edited by an admin changes nothing: the record keeps the
   * device anyd's (tun-record.c). */
  if (!g_str_equal (link->name, dev->name))
    {
      rename_device (module, dev, link);
      return;
    }
  tun_device_update_link (dev, link);
}

static gboolean
refresh_cb (gpointer user_data)
{
  TunModule *module = user_data;
  g_autoptr(GHashTable) todo = g_steal_pointer (&module->dirty);
  GHashTableIter it;
  gpointer k, v;

  module->refresh_source = 0;
  module->dirty = g_hash_table_new (NULL, NULL);
  if (module->resync)
    {
      module->resync = FALSE;
      g_hash_table_iter_init (&it, module->devices);
      while (g_hash_table_iter_next (&it, &k, &v))
        {
          TunDevice *dev = v;
          dev->dirty_link = dev->dirty_addrs = dev->dirty_routes = TRUE;
          g_hash_table_add (todo, k);
        }
    }
  /* By index: refresh_link may forget or re-create devices. */
  g_hash_table_iter_init (&it, todo);
  while (g_hash_table_iter_next (&it, &k, NULL))
    {
      TunDevice *dev = tun_module_lookup (module, GPOINTER_TO_INT (k));
      if (dev && dev->dirty_link)
        refresh_link (module, dev);
      dev = tun_module_lookup (module, GPOINTER_TO_INT (k));
      if (dev && dev->dirty_addrs)
        tun_device_refresh_addrs (dev);
      if (dev && dev->dirty_routes)
        tun_device_refresh_routes (dev);
    }
  return G_SOURCE_REMOVE;
}

void
tun_module_schedule_refresh (TunModule *module, TunDevice *dev)
{
  if (module->stopped)
    return;
  if (dev)
    g_hash_table_add (module->dirty, GINT_TO_POINTER (dev->ifindex));
  if (module->refresh_source == 0)
    module->refresh_source = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, refresh_cb, module, NULL);
}

static void
netlink_event_cb (const AnydNetlinkEvent *ev, gpointer user_data)
{
  TunModule *module = user_data;
  TunDevice *dev;

  if (ev->type == ANYD_NETLINK_EVENT_RESYNC)
    {
      module->resync = TRUE;
      tun_module_schedule_refresh (module, NULL);
      return;
    }
  dev = tun_module_lookup (module, ev->ifindex);
  if (dev == NULL)
    return;
  if (ev->type == ANYD_NETLINK_EVENT_LINK && ev->removed)
    {
      g_message ("tun: %s was removed outside anyd", dev->name);
      tun_module_forget (module, ev->ifindex);
      tun_module_record_changed (module);
      return;
    }
  /* Notifications may be older than what we already did (they queue up
   * while a call runs), so they only say "look again". Our own address
   * and route changes are in the properties already, and what the lists
   * leave out can't change them; link changes that can flush addresses or
   * routes mark those in tun_device_update_link(). */
  if (ev->type != ANYD_NETLINK_EVENT_LINK && (ev->own || ev->unlisted))
    return;
  if (ev->type == ANYD_NETLINK_EVENT_LINK)
    dev->dirty_link = TRUE;
  else if (ev->type == ANYD_NETLINK_EVENT_ADDR)
    {
      dev->dirty_addrs = TRUE;
      /* an address going takes the IPv4 routes through it along, silently */
      dev->dirty_routes |= ev->removed;
    }
  else
    dev->dirty_routes = TRUE;
  tun_module_schedule_refresh (module, dev);
}

/* -------------------------------------------------------------- callers */

static void
caller_vanished_cb (const char *name, gpointer user_data)
{
  TunModule *module = user_data;
  g_autoptr(GPtrArray) doomed = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;

  g_hash_table_remove (module->callers, name);
  if (module->stopped)
    return;
  g_hash_table_iter_init (&it, module->devices);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      TunDevice *dev = v;
      if (!dev->persistent && !dev->deleting && g_strcmp0 (dev->sender, name) == 0)
        g_ptr_array_add (doomed, dev);
    }
  if (doomed->len > 0)
    {
      g_autofree char *what = g_strdup_printf ("sender=%s devices=%u", name, doomed->len);
      tun_module_delete_devices_async (module, doomed, NULL, "tun.cleanup", what);
    }
}

static void
watch_caller (TunModule *module, const char *sender)
{
  guint id;

  if (g_hash_table_contains (module->callers, sender))
    return;
  id = anyd_daemon_watch_name (module->daemon, sender, caller_vanished_cb,
                               tun_module_ref (module), (GDestroyNotify) tun_module_unref);
  g_hash_table_insert (module->callers, g_strdup (sender), GUINT_TO_POINTER (id));
}

/* --------------------------------------------------------------- Create */

typedef struct {
  const char *name;
  gboolean    tap, persist, multi_queue, vnet_hdr, up;
  guint32     owner, group, mtu;
  GArray     *addrs;    /* AnydCidr */
  GArray     *routes;   /* AnydRoute */
} CreateRequest;

static void
create_request_clear (CreateRequest *req)
{
  g_clear_pointer (&req->addrs, g_array_unref);
  g_clear_pointer (&req->routes, g_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CreateRequest, create_request_clear)

static gboolean
parse_request (const char *name, GVariant *options, const AnydCaller *caller,
               CreateRequest *req, GError **error)
{
  const char *mode = "tun";
  gboolean has_v6 = FALSE;

  if (!anyd_ifname_check (name, "name", error) ||
      !anyd_options_check (options, create_options, "options", error))
    return FALSE;
  req->name = name;
  req->owner = caller->uid;
  req->group = TUN_NONE;
  req->addrs = g_array_new (FALSE, FALSE, sizeof (AnydCidr));
  req->routes = g_array_new (FALSE, FALSE, sizeof (AnydRoute));
  g_variant_lookup (options, "mode", "&s", &mode);
  if (!g_str_equal (mode, "tun") && !g_str_equal (mode, "tap"))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "mode: must be 'tun' or 'tap'");
      return FALSE;
    }
  req->tap = g_str_equal (mode, "tap");
  g_variant_lookup (options, "persist", "b", &req->persist);
  g_variant_lookup (options, "multi_queue", "b", &req->multi_queue);
  g_variant_lookup (options, "vnet_hdr", "b", &req->vnet_hdr);
  g_variant_lookup (options, "up", "b", &req->up);
  if (g_variant_lookup (options, "owner", "u", &req->owner) && req->owner == G_MAXUINT32)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "owner: 4294967295 is not a valid uid");
      return FALSE;
    }
  if (g_variant_lookup (options, "group", "u", &req->group) && req->group == G_MAXUINT32)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "group: 4294967295 is not a valid gid");
      return FALSE;
    }

  /* addresses, then routes: parsed, canonical, no duplicates */
  for (guint k = 0; k < 2; k++)
    {
      gboolean routes = k == 1;
      const char *key = routes ? "routes" : "addresses";
      guint max = routes ? MAX_ROUTES : MAX_ADDRESSES;
      g_autofree const char **items = NULL;
      g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func (g_free);

      g_variant_lookup (options, key, "^a&s", &items);
      for (guint i = 0; items && items[i]; i++)
        {
          g_autofree char *field = g_strdup_printf ("%s[%u]", key, i);
          char *canon;
          AnydCidr c;
          AnydRoute r;

          if (i >= max)
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: at most %u", key, max);
              return FALSE;
            }
          if (routes ? !anyd_route_parse (items[i], field, &r, error) : !anyd_cidr_parse (items[i], field, &c, error))
            return FALSE;
          canon = routes ? anyd_route_to_string (&r) : anyd_cidr_to_string (&c);
          if (g_ptr_array_find_with_equal_func (seen, canon, g_str_equal, NULL))
            {
              g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: %s is listed twice", field, canon);
              g_free (canon);
              return FALSE;
            }
          g_ptr_array_add (seen, canon);
          if (routes)
            g_array_append_val (req->routes, r);
          else
            {
              has_v6 |= c.family == AF_INET6;
              g_array_append_val (req->addrs, c);
            }
        }
    }
  if (g_variant_lookup (options, "mtu", "u", &req->mtu) &&
      !tun_mtu_check (req->mtu, req->tap, has_v6, "mtu", error))
    return FALSE;
  return TRUE;
}

/* All steps, or none: see the top of this file. Returns the device and,
 * if fd_out, the open TUN fd (else it is closed). */
static TunDevice *
create_device (TunModule *module, const AnydCaller *caller, const CreateRequest *req,
               int *fd_out, GError **error)
{
  AnydTunParams tp = ANYD_TUN_PARAMS_INIT;
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;
  g_autofree char *ifname = NULL, *mark = NULL;
  AnydLinkInfo link = { 0 };
  TunDevice *dev;
  int fd, ifindex;

  /* [limits] max_resources_per_uid; tun_device_new() counts the device. */
  if (!anyd_limits_check (anyd_daemon_get_limits (module->daemon), caller->uid, "tun", error))
    return NULL;
  tp.name = *req->name ? req->name : "anyd%d";
  tp.tap = req->tap;
  tp.multi_queue = req->multi_queue;
  tp.vnet_hdr = req->vnet_hdr;
  tp.owner = req->owner;
  tp.group = req->group == TUN_NONE ? -1 : (gint64) req->group;
  fd = anyd_tun_open (&tp, &ifname, error);
  if (fd < 0)
    return NULL;
  ifindex = anyd_netlink_link_index (module->nl, ifname, error);
  if (ifindex <= 0)
    goto fail;

  mark = tun_mark_format (caller->uid, req->owner, req->group, req->persist);
  ch.mtu = req->mtu;
  ch.group = module->link_group;
  ch.alias = mark;
  ch.up = req->up ? 1 : -1;
  if (!anyd_netlink_link_change (module->nl, ifindex, &ch, error))
    goto fail;
  for (guint i = 0; i < req->addrs->len; i++)
    {
      g_autofree char *field = g_strdup_printf ("addresses[%u]", i);
      if (!anyd_netlink_addr_add (module->nl, ifindex, &g_array_index (req->addrs, AnydCidr, i), field, error))
        goto fail;
    }
  for (guint i = 0; i < req->routes->len; i++)
    {
      g_autofree char *field = g_strdup_printf ("routes[%u]", i);
      if (!anyd_netlink_route_add (module->nl, ifindex, &g_array_index (req->routes, AnydRoute, i), field, error))
        goto fail;
    }
  if (!anyd_tun_set_persist (fd, TRUE, error))
    goto fail;

  /* The state is what we just set (1500 is the kernel's default MTU for
   * both kinds); notifications re-read the kernel's view later anyway. */
  link.ifindex = ifindex;
  link.name = ifname;
  link.mtu = req->mtu ? req->mtu : 1500;
  link.up = req->up;
  link.arptype = req->tap ? ARPHRD_ETHER : ARPHRD_NONE;
  dev = tun_device_new (module, &link, caller->uid, req->owner, req->group, req->persist, caller->sender);
  g_hash_table_insert (module->devices, GINT_TO_POINTER (ifindex), dev);
  tun_device_set_config (dev, req->addrs, req->routes);
  if (!req->persist)
    {
      anyd_daemon_hold (module->daemon);
      dev->held = TRUE;
      watch_caller (module, caller->sender);
    }
  tun_module_record_changed (module);
  if (fd_out)
    *fd_out = fd;
  else
    close (fd);
  return dev;

fail:
  /* Not persistent yet: this removes the device, its addresses and routes. */
  close (fd);
  return NULL;
}

static void
create_or_open (TunModule *module, GDBusMethodInvocation *invocation, const char *name,
                GVariant *options, gboolean open)
{
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  g_auto(CreateRequest) req = { 0 };
  GError *error = NULL;
  TunDevice *dev = NULL;
  int fd = -1;

  if (parse_request (name, options, caller, &req, &error))
    dev = create_device (module, caller, &req, open ? &fd : NULL, &error);
  anyd_audit_action (caller, open ? "tun.open" : "tun.create", dev ? dev->path : TUN_PATH, error,
                     "device=%s mode=%s persist=%s", dev ? dev->name : name,
                     req.tap ? "tap" : "tun", req.persist ? "true" : "false");
  if (dev == NULL)
    {
      anyd_invocation_return_error (invocation, error);
      return;
    }
  if (open)
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new_from_array (&fd, 1);  /* takes fd */
      anyd_dbus_tun_complete_open (module->iface, invocation, fds, dev->path, g_variant_new_handle (0));
    }
  else
    anyd_dbus_tun_complete_create (module->iface, invocation, dev->path);
}

static gboolean
handle_create (AnydDBusTun *iface, GDBusMethodInvocation *invocation, const char *name,
               GVariant *options, gpointer user_data)
{
  create_or_open (user_data, invocation, name, options, FALSE);
  return TRUE;
}

static gboolean
handle_open (AnydDBusTun *iface, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
             const char *name, GVariant *options, gpointer user_data)
{
  create_or_open (user_data, invocation, name, options, TRUE);
  return TRUE;
}

/* ----------------------------------------------- devices anyd doesn't have */

/* Calls on /org/anyd1/tun/<name> with no device there (never created by
 * anyd, already deleted, not anyd's) answer NotFound naming the device
 * instead of the bus's generic UnknownMethod. GDBus tries exported objects
 * first and falls back to this subtree; it enumerates no nodes, so
 * introspection shows only real devices. Nothing here touches a device. */
static void
absent_method_call (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                    const char *method, GVariant *params, GDBusMethodInvocation *invocation,
                    gpointer user_data)
{
  const char *elem = strrchr (path, '/');
  g_autofree char *name = (char *) g_dbus_unescape_object_path (elem ? elem + 1 : path);

  g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                                         "no TUN device '%s' (anyd manages only the devices it created)",
                                         name ? name : elem ? elem + 1 : path);
}

static const GDBusInterfaceVTable absent_vtable = { absent_method_call, NULL, NULL, { 0 } };

static char **
absent_enumerate (GDBusConnection *bus, const char *sender, const char *path, gpointer user_data)
{
  return g_new0 (char *, 1);
}

static GDBusInterfaceInfo **
absent_introspect (GDBusConnection *bus, const char *sender, const char *path, const char *node,
                   gpointer user_data)
{
  GDBusInterfaceInfo **infos;

  if (node == NULL)
    return NULL;
  infos = g_new0 (GDBusInterfaceInfo *, 2);
  infos[0] = g_dbus_interface_info_ref (anyd_dbus_tun_device_interface_info ());
  return infos;
}

static const GDBusInterfaceVTable *
absent_dispatch (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                 const char *node, gpointer *out_user_data, gpointer user_data)
{
  if (node == NULL || g_strcmp0 (iface, "org.anyd1.TunDevice") != 0)
    return NULL;
  return &absent_vtable;
}

static const GDBusSubtreeVTable absent_subtree = {
  absent_enumerate, absent_introspect, absent_dispatch, { 0 }
};

/* ------------------------------------------------------------ lifecycle */

/* Re-adopt persistent devices anyd created; delete the non-persistent ones
 * a crash left behind. A device is anyd's when anyd's record names it or,
 * failing that, when it carries anyd's mark; others are never touched. */
static gboolean
reconcile (TunModule *module, GError **error)
{
  g_autoptr(GPtrArray) links = anyd_netlink_link_list (module->nl, error);
  g_autoptr(GArray) leftovers = g_array_new (FALSE, FALSE, sizeof (int));
  g_autofree char *record_path = tun_record_path (module);
  g_autoptr(GHashTable) record = tun_record_load (record_path);
  guint adopted = 0;

  if (links == NULL)
    return FALSE;
  for (guint i = 0; i < links->len; i++)
    {
      AnydLinkInfo *link = links->pdata[i];
      const TunRecordEntry *entry = tun_record_match (record, link);
      guint32 creator, owner, group;
      gboolean persist;
      TunDevice *dev;

      if (entry)
        {
          /* the record is the authority, whatever the alias says now */
          if (!tun_mark_parse (link->alias, &creator, &owner, &group, &persist))
            g_message ("tun: %s: alias changed outside anyd; still anyd's device (recorded)", link->name);
          creator = entry->created_by;
          owner = entry->owner;
          group = entry->group;
          persist = entry->persistent;
        }
      else if (g_strcmp0 (link->kind, "tun") != 0 ||
               !tun_mark_parse (link->alias, &creator, &owner, &group, &persist))
        continue;
      if (!persist)
        {
          g_array_append_val (leftovers, link->ifindex);
          continue;
        }
      dev = tun_device_new (module, link, creator, owner, group, TRUE, NULL);
      g_hash_table_insert (module->devices, GINT_TO_POINTER (link->ifindex), dev);
      tun_device_refresh (dev);
      adopted++;
    }
  if (leftovers->len > 0)
    {
      g_autoptr(GError) local = NULL;
      if (!anyd_netlink_links_delete (module->nl, (int *) (void *) leftovers->data, leftovers->len,
                                      module->link_group + 1, &local))
        g_warning ("tun: removing devices left over from a previous run: %s", local->message);
      anyd_audit_action (NULL, "tun.cleanup", TUN_PATH, local, "leftovers=%u", leftovers->len);
    }
  if (adopted || leftovers->len)
    g_message ("tun: re-adopted %u persistent device(s), removed %u left over", adopted, leftovers->len);
  /* now exactly the adopted devices (entries of vanished ones dropped) */
  tun_module_record_changed (module);
  return TRUE;
}

static gboolean
tun_check_config (AnydConfig *config, GError **error)
{
  if (anyd_config_get_uint (config, "tun", "link_group") == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "[tun] link_group: 0 is every link's default group; pick another number");
      return FALSE;
    }
  return TRUE;
}

static void tun_stop (gpointer data);

static void
collect_metrics (AnydMetricsWriter *writer, gpointer user_data)
{
  TunModule *module = user_data;

  anyd_metrics_sample (writer, "anyd_resources", g_hash_table_size (module->devices), "module", "tun", NULL);
}

static gpointer
tun_start (AnydDaemon *daemon, GError **error)
{
  TunModule *module = g_new0 (TunModule, 1);

  module->ref_count = 1;
  module->daemon = daemon;
  module->link_group = anyd_config_get_uint (anyd_daemon_get_config (daemon), "tun", "link_group");
  module->devices = g_hash_table_new_full (NULL, NULL, NULL, device_destroy);
  module->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  module->dirty = g_hash_table_new (NULL, NULL);
  module->nl = anyd_netlink_get (error);
  if (module->nl == NULL)
    goto fail;
  /* Subscribe first so nothing between the listing and now goes unseen. */
  module->sub_id = anyd_netlink_subscribe (module->nl, 0,
                                           ANYD_NETLINK_EVENT_LINK | ANYD_NETLINK_EVENT_ADDR |
                                           ANYD_NETLINK_EVENT_ROUTE | ANYD_NETLINK_EVENT_NO_OBJECT,
                                           netlink_event_cb, module, NULL, error);
  if (module->sub_id == 0)
    goto fail;

  module->iface = anyd_dbus_tun_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (module->iface), NULL, NULL);
  g_signal_connect (module->iface, "handle-create", G_CALLBACK (handle_create), module);
  g_signal_connect (module->iface, "handle-open", G_CALLBACK (handle_open), module);
  module->object = anyd_dbus_object_skeleton_new (TUN_PATH);
  anyd_dbus_object_skeleton_set_tun (module->object, module->iface);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (module->object));
  module->absent_id = g_dbus_connection_register_subtree (anyd_daemon_get_connection (daemon), TUN_PATH,
                                                         &absent_subtree,
                                                         G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                                                         NULL, NULL, NULL);
  if (!reconcile (module, error))
    goto fail;
  module->metrics_id = anyd_metrics_add_collector (collect_metrics, module);
  return module;

fail:
  tun_stop (module);
  return NULL;
}

static void
tun_stop (gpointer data)
{
  TunModule *module = data;
  g_autoptr(GPtrArray) doomed = g_ptr_array_new ();
  GHashTableIter it;
  gpointer k, v;

  /* Daemon shutdown: non-persistent devices go, in one batch. */
  g_hash_table_iter_init (&it, module->devices);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (!((TunDevice *) v)->persistent)
      g_ptr_array_add (doomed, v);
  if (doomed->len > 0)
    {
      g_autoptr(GError) error = NULL;
      if (!tun_module_delete_devices (module, doomed, &error))
        g_warning ("tun: removing devices on shutdown: %s", error->message);
      anyd_audit_action (NULL, "tun.cleanup", TUN_PATH, error, "shutdown devices=%u", doomed->len);
    }
  module->stopped = TRUE;
  g_clear_handle_id (&module->metrics_id, anyd_metrics_remove_collector);
  g_clear_handle_id (&module->refresh_source, g_source_remove);
  g_hash_table_iter_init (&it, module->callers);
  while (g_hash_table_iter_next (&it, &k, &v))
    anyd_daemon_unwatch_name (module->daemon, GPOINTER_TO_UINT (v));
  g_hash_table_unref (module->callers);
  g_hash_table_unref (module->devices);
  g_hash_table_unref (module->dirty);
  if (module->absent_id)
    g_dbus_connection_unregister_subtree (anyd_daemon_get_connection (module->daemon), module->absent_id);
  if (module->object)
    {
      g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (module->daemon), TUN_PATH);
      g_signal_handlers_disconnect_by_data (module->iface, module);
      g_clear_object (&module->object);
      g_clear_object (&module->iface);
    }
  if (module->nl)
    {
      if (module->sub_id)
        anyd_netlink_unsubscribe (module->nl, module->sub_id);
      g_clear_pointer (&module->nl, anyd_netlink_unref);
    }
  tun_module_unref (module);
}

const AnydModule anyd_module_tun = {
  .name = "tun",
  .config_keys = tun_config_keys,
  .auth_rules = tun_auth_rules,
  .check_config = tun_check_config,
  .start = tun_start,
  .reload = NULL,
  .stop = tun_stop,
};
