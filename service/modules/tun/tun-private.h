/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tun module's shared types (tun-module.c: org.anyd1.Tun, lifecycle,
 * reconciliation, bookkeeping; tun-device.c: org.anyd1.TunDevice;
 * tun-record.c: the runtime record). */
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

/* One device anyd created, on the bus at TUN_PATH/<escaped name>. It knows
 * nothing of the module: it answers its methods and follows the kernel, and
 * signals what the module keeps books on (registry, record, holds, limits):
 *   "delete" (GDBusMethodInvocation *)  a Delete call passed the gate and the
 *                                       checks: delete it and answer the call
 *   "renamed"                           the link has a new name (and path)
 *   "removed"                           the kernel no longer has the link
 * The module may set deleting (a deletion is in flight) and reads the rest. */
#define TUN_TYPE_DEVICE (tun_device_get_type ())
G_DECLARE_FINAL_TYPE (TunDevice, tun_device, TUN, DEVICE, GObject)

struct _TunDevice {
  GObject                 parent;
  AnydDaemon             *daemon;
  AnydNetlink            *nl;
  int                     ifindex;
  char                   *name;
  char                   *path;
  char                   *sender;      /* creator's unique name; NULL once re-adopted */
  guint32                 created_by;
  guint32                 owner;       /* TUN_NONE = no owner */
  guint32                 group;       /* TUN_NONE = no group */
  gboolean                tap;
  gboolean                persistent;
  gboolean                deleting;    /* a deletion is in flight */
  gboolean                dirty_addrs;   /* to re-read on the next idle: */
  gboolean                dirty_routes;
  gboolean                dirty_link;    /* name, MTU, up */
  guint                   sync_source;   /* the pending re-read */
  AnydDBusObjectSkeleton *object;      /* NULL once unexported */
  AnydDBusTunDevice      *iface;
};

/* tun-device.c */
/* A new device, exported on the bus. */
TunDevice *tun_device_new (AnydDaemon *daemon, AnydNetlink *nl, const AnydLinkInfo *link, guint32 created_by,
                           guint32 owner, guint32 group, gboolean persistent, const char *sender);
/* Off the bus for good: calls still on their way answer NotFound. */
void       tun_device_unexport (TunDevice *dev);
/* Re-read addresses and routes from the kernel into the properties. */
void       tun_device_refresh (TunDevice *dev);
/* A netlink event on the link (NULL: events were lost): emits "removed" when
 * the link went, else re-reads what it may have changed on the next idle
 * (coalesced), which may emit "removed" or "renamed". */
void       tun_device_notify (TunDevice *dev, const AnydNetlinkEvent *ev);
/* Addresses/Routes properties from what Create configured (AnydCidr, AnydRoute). */
void       tun_device_set_config (TunDevice *dev, GArray *addrs, GArray *routes);
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
char                 *tun_record_path (const char *runtime_dir);
/* ifindex -> TunRecordEntry*; empty when there is no (usable) record. */
GHashTable           *tun_record_load (const char *path);
/* The entry for link if the record has it (same index, kind tun, and the
 * same name or link group), else NULL. */
const TunRecordEntry *tun_record_match (GHashTable *entries, const AnydLinkInfo *link);
/* Record devices (ifindex -> TunDevice*), all in link_group. */
gboolean              tun_record_save (const char *runtime_dir, GHashTable *devices, guint32 link_group,
                                       GError **error);

G_END_DECLS
