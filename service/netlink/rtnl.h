/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rtnetlink client (libnl-route-3): links, addresses, routes, rules and
 * change notifications. See ../netlink.h for the overview. */
#pragma once
#include <gio/gio.h>
#include <sys/socket.h>
#include "cidr.h"

G_BEGIN_DECLS

struct nl_object;

typedef struct _AnydNetlink AnydNetlink;

/* The shared instance (a new reference); opens the request socket. */
AnydNetlink *anyd_netlink_get (GError **error);
AnydNetlink *anyd_netlink_ref (AnydNetlink *nl);
void         anyd_netlink_unref (AnydNetlink *nl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydNetlink, anyd_netlink_unref)

typedef struct {
  int       ifindex;
  char     *name;
  char     *alias;      /* IFLA_IFALIAS, NULL if none */
  char     *kind;       /* IFLA_INFO_KIND ("tun", "veth"...), NULL if none */
  guint32   group;
  guint     mtu;
  guint     arptype;    /* ARPHRD_NONE for tun, ARPHRD_ETHER for tap */
  gboolean  up;         /* IFF_UP (administrative state) */
} AnydLinkInfo;
void          anyd_link_info_free (AnydLinkInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydLinkInfo, anyd_link_info_free)
/* From an rtnl_link object (e.g. a notification's). */
AnydLinkInfo *anyd_link_info_from_object (struct nl_object *link);

/* Index of a link by name; 0 + NOT_FOUND if there is none. */
int           anyd_netlink_link_index (AnydNetlink *nl, const char *name, GError **error);
AnydLinkInfo *anyd_netlink_link_get (AnydNetlink *nl, int ifindex, GError **error);
/* All links of the namespace (AnydLinkInfo*, owned by the array). */
GPtrArray    *anyd_netlink_link_list (AnydNetlink *nl, GError **error);

typedef struct {
  guint       mtu;      /* 0 = keep */
  gint        up;       /* -1 keep, 0 down, 1 up */
  gint64      group;    /* -1 = keep */
  const char *alias;    /* NULL = keep, "" = clear */
} AnydLinkChange;
#define ANYD_LINK_CHANGE_INIT { 0, -1, -1, NULL }

/* Apply all changes in one request. */
gboolean  anyd_netlink_link_change (AnydNetlink *nl, int ifindex, const AnydLinkChange *change,
                                    GError **error);
gboolean  anyd_netlink_link_set_mtu (AnydNetlink *nl, int ifindex, guint mtu, GError **error);
gboolean  anyd_netlink_link_set_up (AnydNetlink *nl, int ifindex, gboolean up, GError **error);
gboolean  anyd_netlink_link_delete (AnydNetlink *nl, int ifindex, GError **error);

/* Delete several links with one grace period: n == 1 deletes by index;
 * otherwise each link is first moved into scratch_group (cheap), then the
 * group is deleted in one request. scratch_group must hold no other links.
 * Links already gone are skipped. */
gboolean  anyd_netlink_links_delete (AnydNetlink *nl, const int *ifindexes, guint n,
                                     guint32 scratch_group, GError **error);
/* The same without blocking the caller's thread on the kernel's grace
 * period: the regrouping happens now, the RTM_DELLINK on a worker thread
 * (its own socket, reused). Call from the thread that owns nl. */
void      anyd_netlink_links_delete_async (AnydNetlink *nl, const int *ifindexes, guint n,
                                           guint32 scratch_group, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
gboolean  anyd_netlink_links_delete_finish (AnydNetlink *nl, GAsyncResult *result, GError **error);

/* field: what to name in error messages (e.g. "addresses[1]"), may be NULL. */
gboolean  anyd_netlink_addr_add (AnydNetlink *nl, int ifindex, const AnydCidr *addr,
                                 const char *field, GError **error);
gboolean  anyd_netlink_addr_del (AnydNetlink *nl, int ifindex, const AnydCidr *addr,
                                 const char *field, GError **error);
/* The link's addresses as CIDR text (IPv6 link-local ones left out). */
char    **anyd_netlink_addr_list (AnydNetlink *nl, int ifindex, GError **error);

/* Routes go out of ifindex, protocol static. */
gboolean  anyd_netlink_route_add (AnydNetlink *nl, int ifindex, const AnydRoute *route,
                                  const char *field, GError **error);
gboolean  anyd_netlink_route_del (AnydNetlink *nl, int ifindex, const AnydRoute *route,
                                  const char *field, GError **error);
/* Routes out of ifindex in anyd_route_to_string() form, in every table but
 * local, leaving out the ones the kernel made itself (prefix routes). */
char    **anyd_netlink_route_list (AnydNetlink *nl, int ifindex, GError **error);

/* --------------------------------------------------------------- rules */

/* Routing policy rules, as wg-quick adds them for a full tunnel:
 *   "not fwmark M lookup T"  and  "lookup main suppress_prefixlength 0".
 * Every rule anyd adds carries protocol ANYD_RTPROT (FRA_PROTOCOL), so the
 * leftovers of a killed daemon can be found and removed. */
#define ANYD_RTPROT 173   /* not in iproute2's rt_protos; `ip rule` shows "proto 173" */

typedef struct {
  int      family;              /* AF_INET or AF_INET6 */
  guint32  priority;            /* 0: the kernel picks (add) / any (del) */
  guint32  table;
  guint32  fwmark;              /* 0: no mark match */
  gboolean invert;              /* "not": packets *without* the mark */
  gint     suppress_prefixlen;  /* -1: none */
  guint8   protocol;            /* filled by anyd_netlink_rule_list(); add always uses ANYD_RTPROT */
} AnydRule;
#define ANYD_RULE_INIT { AF_INET, 0, 0, 0, FALSE, -1, 0 }

gboolean  anyd_netlink_rule_add (AnydNetlink *nl, const AnydRule *rule, const char *field, GError **error);
/* Delete anyd's rule matching family, table, mark and (if not 0) priority. */
gboolean  anyd_netlink_rule_del (AnydNetlink *nl, const AnydRule *rule, const char *field, GError **error);
/* Rules of both families (AnydRule), all of them or only anyd's own. */
GArray   *anyd_netlink_rule_list (AnydNetlink *nl, gboolean own_only, GError **error);

/* ---------------------------------------------------------- notifications */

typedef enum {
  ANYD_NETLINK_EVENT_LINK   = 1 << 0,
  ANYD_NETLINK_EVENT_ADDR   = 1 << 1,
  ANYD_NETLINK_EVENT_ROUTE  = 1 << 2,
  ANYD_NETLINK_EVENT_RESYNC = 1 << 3,   /* always delivered */
  /* Subscription flag: only type, removed and ifindex are read, so the
   * event may come with object NULL (saves parsing every notification). */
  ANYD_NETLINK_EVENT_NO_OBJECT = 1 << 8,
} AnydNetlinkEventType;

typedef struct {
  AnydNetlinkEventType  type;
  gboolean              removed;   /* RTM_DEL* */
  int                   ifindex;   /* link's, address's, route's (first nexthop) ; 0 for RESYNC */
  struct nl_object     *object;    /* rtnl_link / rtnl_addr / rtnl_route (borrowed); NULL for RESYNC
                                      and for subscribers that asked for NO_OBJECT */
  gboolean              own;       /* caused by a request on this AnydNetlink's socket (addresses,
                                      routes; the kernel does not say so for link changes) */
  gboolean              unlisted;  /* an object anyd_netlink_addr_list()/route_list() leave out
                                      (kernel-made routes, IPv6 link-local addresses) */
} AnydNetlinkEvent;

typedef void (*AnydNetlinkEventFunc) (const AnydNetlinkEvent *event, gpointer user_data);

/* ifindex 0 = every link. types: a mask of AnydNetlinkEventType. Returns 0 +
 * error if the notification socket can't be opened. Callbacks run on the
 * thread-default main context of the first subscriber. */
guint     anyd_netlink_subscribe (AnydNetlink *nl, int ifindex, guint types,
                                  AnydNetlinkEventFunc func, gpointer user_data,
                                  GDestroyNotify notify, GError **error);
void      anyd_netlink_unsubscribe (AnydNetlink *nl, guint id);

G_END_DECLS
