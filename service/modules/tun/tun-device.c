/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.anyd1.TunDevice: one object per device the tun module created. */
#include "anyd-build-config.h"
#include "tun-private.h"
#include "audit.h"
#include "error.h"
#include "names.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <net/if_arp.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------ mark */

/* Devices anyd created carry IFLA_IFALIAS
 *   "anyd:tun:1 creator=<uid> owner=<uid|-> group=<gid|-> persist=<0|1>"
 * and live in link group [tun] link_group. The alias travels with the
 * device in the kernel and shows admins whose device it is; but an admin may
 * overwrite it, so anyd's own record (tun-record.c) comes first and the
 * mark is the fallback when the record is lost. On start, persistent
 * devices found either way are re-adopted and the others (left over from a
 * crash) deleted; a device in neither is never touched.
 * The group is a second, visible handle (`ip link show group N`). */
char *
tun_mark_format (guint32 created_by, guint32 owner, guint32 group, gboolean persistent)
{
  char o[16] = "-", g[16] = "-";

  if (owner != TUN_NONE)
    g_snprintf (o, sizeof o, "%u", owner);
  if (group != TUN_NONE)
    g_snprintf (g, sizeof g, "%u", group);
  return g_strdup_printf (TUN_MARK " creator=%u owner=%s group=%s persist=%d",
                          created_by, o, g, persistent ? 1 : 0);
}

static gboolean
parse_id (const char *s, const char *key, guint32 *out, gboolean dash_ok)
{
  guint64 v;

  if (!g_str_has_prefix (s, key))
    return FALSE;
  s += strlen (key);
  if (dash_ok && g_str_equal (s, "-"))
    {
      *out = TUN_NONE;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT32 - 1, &v, NULL))
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

gboolean
tun_mark_parse (const char *alias, guint32 *created_by, guint32 *owner, guint32 *group,
                gboolean *persistent)
{
  g_auto(GStrv) w = NULL;

  if (alias == NULL || !g_str_has_prefix (alias, TUN_MARK " "))
    return FALSE;
  w = g_strsplit (alias, " ", -1);
  if (g_strv_length (w) != 5 ||
      !parse_id (w[1], "creator=", created_by, FALSE) ||
      !parse_id (w[2], "owner=", owner, TRUE) ||
      !parse_id (w[3], "group=", group, TRUE) ||
      !(g_str_equal (w[4], "persist=0") || g_str_equal (w[4], "persist=1")))
    return FALSE;
  *persistent = w[4][8] == '1';
  return TRUE;
}

gboolean
tun_mtu_check (guint mtu, gboolean tap, gboolean has_ipv6, const char *field, GError **error)
{
  /* The kernel's limits for tun devices (MIN_MTU, MAX_MTU - hard header). */
  guint max = tap ? 65535 - 14 : 65535;

  if (mtu < 68 || mtu > max)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: %u is out of range for a %s device (68-%u)", field, mtu, tap ? "tap" : "tun", max);
      return FALSE;
    }
  /* Below 1280 the kernel silently drops every IPv6 address of the link. */
  if (has_ipv6 && mtu < 1280)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: %u is below 1280, the minimum for the device's IPv6 addresses", field, mtu);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ state */

static void
set_strv_if_changed (AnydDBusTunDevice *iface, char **now, gboolean addresses)
{
  const char *const *old = addresses ? anyd_dbus_tun_device_get_addresses (iface)
                                     : anyd_dbus_tun_device_get_routes (iface);

  if (old && g_strv_equal (old, (const char *const *) now))
    return;
  if (addresses)
    anyd_dbus_tun_device_set_addresses (iface, (const char *const *) now);
  else
    anyd_dbus_tun_device_set_routes (iface, (const char *const *) now);
}

void
tun_device_refresh_addrs (TunDevice *dev)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) addrs = anyd_netlink_addr_list (dev->module->nl, dev->ifindex, &error);

  dev->dirty_addrs = FALSE;
  if (addrs)
    set_strv_if_changed (dev->iface, addrs, TRUE);
  else
    g_debug ("tun: %s: %s", dev->name, error->message);
}

void
tun_device_refresh_routes (TunDevice *dev)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) routes = anyd_netlink_route_list (dev->module->nl, dev->ifindex, &error);

  dev->dirty_routes = FALSE;
  if (routes)
    set_strv_if_changed (dev->iface, routes, FALSE);
  else
    g_debug ("tun: %s: %s", dev->name, error->message);
}

void
tun_device_refresh (TunDevice *dev)
{
  tun_device_refresh_addrs (dev);
  tun_device_refresh_routes (dev);
}

void
tun_device_set_config (TunDevice *dev, GArray *addrs, GArray *routes)
{
  g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) r = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < addrs->len; i++)
    g_ptr_array_add (a, anyd_cidr_to_string (&g_array_index (addrs, AnydCidr, i)));
  for (guint i = 0; i < routes->len; i++)
    g_ptr_array_add (r, anyd_route_to_string (&g_array_index (routes, AnydRoute, i)));
  g_ptr_array_add (a, NULL);
  g_ptr_array_add (r, NULL);
  set_strv_if_changed (dev->iface, (char **) a->pdata, TRUE);
  set_strv_if_changed (dev->iface, (char **) r->pdata, FALSE);
}

void
tun_device_update_link (TunDevice *dev, const AnydLinkInfo *link)
{
  if (anyd_dbus_tun_device_get_mtu (dev->iface) != link->mtu)
    {
      /* below 1280 the kernel drops the IPv6 addresses */
      dev->dirty_addrs = TRUE;
      anyd_dbus_tun_device_set_mtu (dev->iface, link->mtu);
    }
  if (anyd_dbus_tun_device_get_up (dev->iface) != link->up)
    {
      /* going down flushes IPv4 routes without route notifications, and
       * IPv6 addresses */
      dev->dirty_addrs = dev->dirty_routes = TRUE;
      anyd_dbus_tun_device_set_up (dev->iface, link->up);
    }
}

/* --------------------------------------------------------------- methods */

typedef void (*DeviceOp) (TunDevice *dev, GDBusMethodInvocation *invocation);

static TunDevice *
device_for (TunModule *module, AnydDBusTunDevice *iface, GDBusMethodInvocation *invocation)
{
  TunDevice *dev = module->stopped ? NULL
                 : tun_module_lookup (module, (int) anyd_dbus_tun_device_get_index (iface));

  if (dev == NULL || dev->iface != iface || dev->deleting)
    {
      g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                                             dev && dev->deleting ? "TUN device '%s' is being deleted"
                                                                  : "TUN device '%s' no longer exists",
                                             anyd_dbus_tun_device_get_name (iface));
      return NULL;
    }
  return dev;
}

/* Every method already passed the gate (tun.manage, and org.anyd1.manage on
 * a device another uid created: the owner rule of the table's rows). */
static gboolean
run_checked (TunModule *module, AnydDBusTunDevice *iface, GDBusMethodInvocation *invocation, DeviceOp op)
{
  TunDevice *dev = device_for (module, iface, invocation);

  if (dev != NULL)
    op (dev, invocation);
  return TRUE;
}

/* Reply, audit and re-read the device's state after a change. */
static void
finish (TunDevice *dev, GDBusMethodInvocation *invocation, const char *action, GError *error,
        const char *what)
{
  anyd_audit_action (anyd_caller_from_invocation (invocation), action, dev->path, error,
                     "device=%s %s", dev->name, what ? what : "");
  if (error)
    {
      anyd_invocation_return_error (invocation, error);
      return;
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
op_set_mtu (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  GError *error = NULL;
  g_autofree char *what = NULL;
  const char *const *addrs = anyd_dbus_tun_device_get_addresses (dev->iface);
  gboolean has_v6 = FALSE;
  guint32 mtu;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(u)", &mtu);
  what = g_strdup_printf ("mtu=%u", mtu);
  for (guint i = 0; addrs && addrs[i]; i++)
    has_v6 |= strchr (addrs[i], ':') != NULL;
  if (tun_mtu_check (mtu, dev->tap, has_v6, "mtu", &error) &&
      anyd_netlink_link_set_mtu (dev->module->nl, dev->ifindex, mtu, &error))
    anyd_dbus_tun_device_set_mtu (dev->iface, mtu);
  finish (dev, invocation, "tun.set-mtu", error, what);
}

static void
op_set_up (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  GError *error = NULL;
  gboolean up;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(b)", &up);
  if (anyd_netlink_link_set_up (dev->module->nl, dev->ifindex, up, &error))
    {
      anyd_dbus_tun_device_set_up (dev->iface, up);
      /* Taking an IPv4 link down flushes its routes without notifications. */
      tun_device_refresh (dev);
    }
  finish (dev, invocation, "tun.set-up", error, up ? "up=true" : "up=false");
}

static void
op_address (TunDevice *dev, GDBusMethodInvocation *invocation, gboolean add)
{
  GError *error = NULL;
  const char *text;
  AnydCidr cidr;
  g_autofree char *what = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &text);
  if (anyd_cidr_parse (text, "address", &cidr, &error))
    {
      guint mtu = anyd_dbus_tun_device_get_mtu (dev->iface);
      g_autofree char *canon = anyd_cidr_to_string (&cidr);
      what = g_strdup_printf ("address=%s", canon);
      if (add && cidr.family == AF_INET6 && mtu < 1280)
        g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "address: IPv6 needs an MTU of at least 1280 (the device has %u)", mtu);
      else if (add)
        anyd_netlink_addr_add (dev->module->nl, dev->ifindex, &cidr, "address", &error);
      else if (!anyd_netlink_addr_del (dev->module->nl, dev->ifindex, &cidr, "address", &error) &&
               g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        {
          g_clear_error (&error);
          g_set_error (&error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "address: %s is not on %s", canon, dev->name);
        }
      if (error == NULL)
        tun_device_refresh (dev);
    }
  finish (dev, invocation, add ? "tun.add-address" : "tun.remove-address", error, what);
}

static void
op_add_address (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  op_address (dev, invocation, TRUE);
}

static void
op_remove_address (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  op_address (dev, invocation, FALSE);
}

static void
op_route (TunDevice *dev, GDBusMethodInvocation *invocation, gboolean add)
{
  GError *error = NULL;
  const char *text;
  AnydRoute route;
  g_autofree char *what = NULL;

  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s)", &text);
  if (anyd_route_parse (text, "route", &route, &error))
    {
      g_autofree char *canon = anyd_route_to_string (&route);
      what = g_strdup_printf ("route=\"%s\"", canon);
      if (add)
        anyd_netlink_route_add (dev->module->nl, dev->ifindex, &route, "route", &error);
      else if (!anyd_netlink_route_del (dev->module->nl, dev->ifindex, &route, "route", &error) &&
               g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        {
          g_clear_error (&error);
          g_set_error (&error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "route: %s is not on %s", canon, dev->name);
        }
      if (error == NULL)
        tun_device_refresh (dev);
    }
  finish (dev, invocation, add ? "tun.add-route" : "tun.remove-route", error, what);
}

static void
op_add_route (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  op_route (dev, invocation, TRUE);
}

static void
op_remove_route (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  op_route (dev, invocation, FALSE);
}

static void
op_delete (TunDevice *dev, GDBusMethodInvocation *invocation)
{
  g_autoptr(GPtrArray) one = g_ptr_array_new ();
  g_autofree char *what = g_strdup_printf ("device=%s", dev->name);

  /* replies when the kernel is done (a grace period, off the main loop) */
  g_ptr_array_add (one, dev);
  tun_module_delete_devices_async (dev->module, one, invocation, "tun.delete", what);
}

#define HANDLER(fn, op, ...)                                                               \
  static gboolean fn (AnydDBusTunDevice *iface, GDBusMethodInvocation *invocation,        \
                      __VA_ARGS__, gpointer user_data)                                    \
  { return run_checked (user_data, iface, invocation, op); }

HANDLER (handle_set_mtu, op_set_mtu, guint mtu)
HANDLER (handle_set_up, op_set_up, gboolean up)
HANDLER (handle_add_address, op_add_address, const char *a)
HANDLER (handle_remove_address, op_remove_address, const char *a)
HANDLER (handle_add_route, op_add_route, const char *r)
HANDLER (handle_remove_route, op_remove_route, const char *r)

static gboolean
handle_delete (AnydDBusTunDevice *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  return run_checked (user_data, iface, invocation, op_delete);
}

/* polkit detail "device" = the object's device name. */
static void
device_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                GHashTable *details, gpointer user_data)
{
  g_hash_table_replace (details, g_strdup ("device"),
                        g_strdup (anyd_dbus_tun_device_get_name (ANYD_DBUS_TUN_DEVICE (skeleton))));
}

/* The owner rule's owner: the uid that created the device (none once it
 * is gone: the handler then answers NotFound). */
static guint32
device_owner (GDBusInterfaceSkeleton *skeleton, gpointer user_data)
{
  TunModule *module = user_data;
  AnydDBusTunDevice *iface = ANYD_DBUS_TUN_DEVICE (skeleton);
  TunDevice *dev = module->stopped ? NULL : tun_module_lookup (module, (int) anyd_dbus_tun_device_get_index (iface));

  if (dev == NULL || dev->iface != iface || dev->deleting)
    return ANYD_AUTH_NO_OWNER;
  return dev->created_by;
}

/* ------------------------------------------------------------- lifetime */

TunDevice *
tun_device_new (TunModule *module, const AnydLinkInfo *link, guint32 created_by, guint32 owner,
                guint32 group, gboolean persistent, const char *sender)
{
  TunDevice *dev = g_new0 (TunDevice, 1);
  g_autofree char *escaped = g_dbus_escape_object_path (link->name);
  static const struct { const char *signal; GCallback cb; } handlers[] = {
    { "handle-set-mtu", G_CALLBACK (handle_set_mtu) },
    { "handle-set-up", G_CALLBACK (handle_set_up) },
    { "handle-add-address", G_CALLBACK (handle_add_address) },
    { "handle-remove-address", G_CALLBACK (handle_remove_address) },
    { "handle-add-route", G_CALLBACK (handle_add_route) },
    { "handle-remove-route", G_CALLBACK (handle_remove_route) },
    { "handle-delete", G_CALLBACK (handle_delete) },
  };

  dev->module = module;
  dev->ifindex = link->ifindex;
  dev->name = g_strdup (link->name);
  dev->path = g_strdup_printf (TUN_PATH "/%s", escaped);
  dev->sender = g_strdup (sender);
  dev->created_by = created_by;
  dev->owner = owner;
  dev->group = group;
  dev->tap = link->arptype == ARPHRD_ETHER;
  dev->persistent = persistent;

  anyd_limits_charge (anyd_daemon_get_limits (module->daemon), created_by, "tun");
  dev->iface = anyd_dbus_tun_device_skeleton_new ();
  anyd_dbus_tun_device_set_name (dev->iface, link->name);
  anyd_dbus_tun_device_set_index (dev->iface, (guint) link->ifindex);
  anyd_dbus_tun_device_set_mode (dev->iface, dev->tap ? "tap" : "tun");
  anyd_dbus_tun_device_set_mtu (dev->iface, link->mtu);
  anyd_dbus_tun_device_set_owner (dev->iface, owner);
  anyd_dbus_tun_device_set_group (dev->iface, group);
  anyd_dbus_tun_device_set_up (dev->iface, link->up);
  anyd_dbus_tun_device_set_persistent (dev->iface, persistent);
  anyd_dbus_tun_device_set_created_by (dev->iface, created_by);
  {
    const char *const empty[] = { NULL };
    anyd_dbus_tun_device_set_addresses (dev->iface, empty);
    anyd_dbus_tun_device_set_routes (dev->iface, empty);
  }
  anyd_auth_guard (anyd_daemon_get_auth (module->daemon), G_DBUS_INTERFACE_SKELETON (dev->iface),
                   device_details, NULL);
  anyd_auth_guard_set_owner_func (G_DBUS_INTERFACE_SKELETON (dev->iface), device_owner, module);
  for (guint i = 0; i < G_N_ELEMENTS (handlers); i++)
    g_signal_connect_data (dev->iface, handlers[i].signal, handlers[i].cb, tun_module_ref (module),
                           (GClosureNotify) (void (*) (void)) tun_module_unref, 0);

  dev->object = anyd_dbus_object_skeleton_new (dev->path);
  anyd_dbus_object_skeleton_set_tun_device (dev->object, dev->iface);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (module->daemon),
                                       G_DBUS_OBJECT_SKELETON (dev->object));
  return dev;
}

void
tun_device_free (TunDevice *dev)
{
  if (dev == NULL)
    return;
  g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (dev->module->daemon), dev->path);
  /* Handlers stay connected: a call still in the gate looks the device up
   * by index and gets NotFound. */
  anyd_limits_release (anyd_daemon_get_limits (dev->module->daemon), dev->created_by, "tun");
  g_clear_object (&dev->object);
  g_clear_object (&dev->iface);
  g_free (dev->name);
  g_free (dev->path);
  g_free (dev->sender);
  g_free (dev);
}
