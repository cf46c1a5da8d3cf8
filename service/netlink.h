/* netlink.[ch]: thin rtnetlink helpers (libnl-route-3) shared by tun and vpn.
 *
 * One AnydNetlink per process (anyd_netlink_get() hands out references to
 * the same instance): one request socket reused for every call, plus one
 * notification socket on the GLib main loop, opened on the first subscribe.
 *
 * Typical use (the VPN module's tunnel device):
 *
 *   g_autoptr(AnydNetlink) nl = anyd_netlink_get (&error);
 *   AnydTunParams tp = ANYD_TUN_PARAMS_INIT;        // tun, no PI, not persistent
 *   tp.name = "wg-home";
 *   g_autofree char *ifname = NULL;
 *   int fd = anyd_tun_open (&tp, &ifname, &error);  // hand fd to wireguard-go
 *   int ifindex = anyd_netlink_link_index (nl, ifname, &error);
 *   AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;      // one RTM_NEWLINK
 *   ch.mtu = 1420; ch.up = 1; ch.alias = "anyd-vpn:wg-home";
 *   anyd_netlink_link_change (nl, ifindex, &ch, &error);
 *   AnydCidr a;   anyd_cidr_parse ("10.0.0.2/24", "Address", &a, &error);
 *   anyd_netlink_addr_add (nl, ifindex, &a, &error);
 *   AnydRoute r;  anyd_route_parse ("0.0.0.0/0 table 51820", "AllowedIPs", &r, &error);
 *   anyd_netlink_route_add (nl, ifindex, &r, &error);
 *   ...
 *   anyd_netlink_link_delete (nl, ifindex, &error);
 *
 * Calls are synchronous request/ack round trips on the shared socket: each
 * takes microseconds, except deleting links, which waits for the kernel's
 * RCU grace period (~20 ms): from the main loop use
 * anyd_netlink_links_delete_async(), which also deletes many links in one
 * request by moving them into a scratch link group first (one grace period
 * for all, what `ip link del group N` does). Errors are ANYD_ERROR: EEXIST ->
 * EXISTS, ENODEV/ENOENT/ESRCH -> NOT_FOUND, EINVAL/ERANGE/ENETUNREACH/
 * EHOSTUNREACH/ENETDOWN -> INVALID_ARGUMENT, EPERM/EACCES -> NOT_AUTHORIZED, else
 * FAILED; the message starts with the field the caller named (or the
 * operation) and carries the kernel's extended-ack text when there is one.
 *
 * Following changes made behind anyd's back: anyd_netlink_subscribe()
 * delivers link, address and route notifications (RTNLGRP_LINK,
 * RTNLGRP_IPV4/IPV6_IFADDR, RTNLGRP_IPV4/IPV6_ROUTE) filtered by ifindex.
 * An ANYD_NETLINK_EVENT_RESYNC event means notifications were lost (socket
 * overrun): re-read whatever state you mirror.
 *
 * anyd_cidr_parse()/anyd_route_parse() are strict text parsers (fuzzed).
 */
#pragma once
#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

struct nl_object;

/* ---------------------------------------------------------------- text */

typedef struct {
  int     family;     /* AF_INET or AF_INET6 */
  guint8  prefix;     /* 0..32 / 0..128; full length when the text had none */
  guint8  addr[16];   /* network byte order; first 4 bytes for AF_INET */
} AnydCidr;

/* "10.0.0.1/24", "fd00::1/64", "10.0.0.1" (= /32), "::1" (= /128).
 * Anything else (prefix out of range, leading zeros or sign in the prefix,
 * whitespace, zone ids, trailing junk) -> INVALID_ARGUMENT naming field. */
gboolean  anyd_cidr_parse (const char *text, const char *field, AnydCidr *out, GError **error);
char     *anyd_cidr_to_string (const AnydCidr *cidr);
/* TRUE if bits beyond the prefix are zero (a network, not an address in one). */
gboolean  anyd_cidr_is_network (const AnydCidr *cidr);

typedef struct {
  AnydCidr dst;           /* network: host bits must be zero */
  gboolean has_gateway;
  AnydCidr gateway;       /* same family as dst, full prefix */
  guint32  metric;        /* 0 = kernel default */
  guint32  table;         /* 0 = main */
  gboolean local;         /* a `local` route (delivered to this host, as for TPROXY), protocol ANYD_RTPROT */
} AnydRoute;

/* "DST[ via GW][ metric N][ table N]", words separated by single spaces.
 * Gateway family must match, host bits of DST must be zero, table 1..2^32-1
 * except local (255). Errors name field. */
gboolean  anyd_route_parse (const char *text, const char *field, AnydRoute *out, GError **error);
/* Canonical text, the form anyd_netlink_route_list() returns. */
char     *anyd_route_to_string (const AnydRoute *route);

/* ------------------------------------------------------------- /dev/net/tun */

typedef struct {
  const char *name;         /* NULL/"" = kernel picks "tun%d"/"tap%d"; may hold one "%d" */
  gboolean    tap;          /* IFF_TAP (Ethernet frames) instead of IFF_TUN (IP packets) */
  gboolean    multi_queue;  /* IFF_MULTI_QUEUE */
  gboolean    vnet_hdr;     /* IFF_VNET_HDR */
  gint64      owner;        /* TUNSETOWNER uid, -1 = none */
  gint64      group;        /* TUNSETGROUP gid, -1 = none */
  gboolean    persist;      /* TUNSETPERSIST: device outlives the fd */
  gboolean    packet_info;  /* keep the 4-byte struct tun_pi (no IFF_NO_PI): wireguard-go
                               reads and writes it on a WG_TUN_FD it is handed */
} AnydTunParams;
#define ANYD_TUN_PARAMS_INIT { NULL, FALSE, FALSE, FALSE, -1, -1, FALSE, FALSE }

/* Create a TUN/TAP device (IFF_NO_PI unless packet_info) and return its fd (O_CLOEXEC)
 * and the name the kernel chose. Never attaches to a device that already
 * exists: an existing name -> EXISTS, and nothing is left behind on error. */
int       anyd_tun_open (const AnydTunParams *params, char **name_out, GError **error);
/* TUNSETPERSIST on an fd from anyd_tun_open(). Creating non-persistent and
 * setting persist only once everything else is configured makes a failed or
 * interrupted setup vanish by itself: closing the fd removes the device. */
gboolean  anyd_tun_set_persist (int fd, gboolean persist, GError **error);
/* Name syntax check for params->name ("" allowed, one "%d" allowed). */
gboolean  anyd_ifname_check (const char *name, const char *field, GError **error);

/* ------------------------------------------------------------ rtnetlink */

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
/* Delete every link in group, one RTM_DELLINK with IFLA_GROUP. Group 0 (the
 * default group of every link) is refused. */
gboolean  anyd_netlink_link_delete_group (AnydNetlink *nl, guint32 group, GError **error);

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
/* Read and dispatch whatever notifications are queued now (tests, and
 * callers that want their own changes reflected before they reply). */
void      anyd_netlink_dispatch_pending (AnydNetlink *nl);

G_END_DECLS
