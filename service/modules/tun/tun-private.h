/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tun module's shared types (tun-module.c: org.anyd1.Tun, lifecycle,
 * reconciliation, notifications; tun-device.c: org.anyd1.TunDevice). */
#pragma once
#include "daemon.h"
#include "netlink.h"
#include "anyd-dbus.h"

G_BEGIN_DECLS

#define TUN_PATH ANYD_DBUS_PATH "/tun"
#define ANYD_ACTION_TUN_MANAGE "org.anyd1.tun.manage"
/* IFLA_IFALIAS prefix of every device the module created; see tun-module.c. */
#define TUN_MARK "anyd:tun:1"
#define TUN_NONE G_MAXUINT32   /* Group (and Owner) property value for "none" */

typedef struct _TunModule TunModule;

typedef struct {
  TunModule              *module;
  int                     ifindex;
  char                   *name;
  char                   *path;
  char                   *sender;      /* creator's unique name; NULL once re-adopted */
  guint32                 created_by;
  guint32                 owner;       /* TUN_NONE = no owner */
  guint32                 group;       /* TUN_NONE = no group */
  gboolean                tap;
  gboolean                persistent;
  gboolean                held;        /* anyd_daemon_hold() taken */
  gboolean                deleting;    /* a deletion is in flight */
  gboolean                dirty_addrs;   /* re-read from the kernel on the next idle: */
  gboolean                dirty_routes;
  gboolean                dirty_link;    /* name, MTU, up, mark */
  AnydDBusObjectSkeleton *object;
  AnydDBusTunDevice      *iface;
} TunDevice;

struct _TunModule {
  AnydDaemon   *daemon;
  AnydNetlink  *nl;
  guint32       link_group;       /* anyd's devices live here; link_group + 1 = scratch */
  guint         sub_id;
  guint         absent_id;        /* NotFound fallback subtree */
  guint         refresh_source;
  guint         metrics_id;       /* anyd_metrics_add_collector */
  gboolean      resync;           /* notifications were lost: re-list links */
  gboolean      stopped;
  gint          ref_count;
  AnydDBusObjectSkeleton *object;
  AnydDBusTun  *iface;
  GHashTable   *devices;          /* ifindex -> TunDevice* (owned) */
  GHashTable   *callers;          /* sender -> watch id */
  GHashTable   *dirty;            /* ifindexes to refresh on the next idle */
};

TunModule *tun_module_ref (TunModule *module);
void       tun_module_unref (TunModule *module);
TunDevice *tun_module_lookup (TunModule *module, int ifindex);
/* Re-read the dirty_* parts of dev (NULL: only run a pending resync) from
 * the kernel on the next idle, coalesced. */
void       tun_module_schedule_refresh (TunModule *module, TunDevice *dev);
/* Delete links (one batch), then forget their objects: blocking (shutdown)
 * or on a worker thread (Delete, a creator leaving). With an invocation,
 * reply to it when done; audit as action. */
gboolean   tun_module_delete_devices (TunModule *module, GPtrArray *devices, GError **error);
void       tun_module_delete_devices_async (TunModule *module, GPtrArray *devices,
                                            GDBusMethodInvocation *invocation, const char *action,
                                            const char *what);
/* Unexport and free a device the kernel no longer has (or that anyd dropped). */
void       tun_module_forget (TunModule *module, int ifindex);

/* tun-device.c */
TunDevice *tun_device_new (TunModule *module, const AnydLinkInfo *link, guint32 created_by,
                           guint32 owner, guint32 group, gboolean persistent, const char *sender);
void       tun_device_free (TunDevice *dev);
/* Re-read addresses and/or routes from the kernel into the properties. */
void       tun_device_refresh_addrs (TunDevice *dev);
void       tun_device_refresh_routes (TunDevice *dev);
void       tun_device_refresh (TunDevice *dev);
/* Addresses/Routes properties from what Create configured (AnydCidr, AnydRoute). */
void       tun_device_set_config (TunDevice *dev, GArray *addrs, GArray *routes);
void       tun_device_update_link (TunDevice *dev, const AnydLinkInfo *link);
/* MTU bounds of the device type (kernel: tun 68..65535, tap 68..65521). */
gboolean   tun_mtu_check (guint mtu, gboolean tap, gboolean has_ipv6, const char *field, GError **error);
char      *tun_mark_format (guint32 created_by, guint32 owner, guint32 group, gboolean persistent);
gboolean   tun_mark_parse (const char *alias, guint32 *created_by, guint32 *owner, guint32 *group,
                           gboolean *persistent);

/* tun-record.c: anyd's own record of its devices (see there). */
typedef struct {
  int      ifindex;
  char    *name;
  guint32  link_group, created_by, owner, group;
  gboolean persistent;
} TunRecordEntry;
void                  tun_record_entry_free (TunRecordEntry *entry);
char                 *tun_record_path (TunModule *module);
/* ifindex -> TunRecordEntry*; empty when there is no (usable) record. */
GHashTable           *tun_record_load (const char *path);
/* The entry for link if the record has it (same index, kind tun, and the
 * same name or link group), else NULL. */
const TunRecordEntry *tun_record_match (GHashTable *entries, const AnydLinkInfo *link);
gboolean              tun_record_save (TunModule *module, GError **error);
/* Rewrite the record after module->devices changed (a warning if it fails). */
void                  tun_module_record_changed (TunModule *module);

G_END_DECLS
