/* Thin rtnetlink helpers shared by tun and vpn; see netlink.h for the API. */
#include "netlink.h"
#include "error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <glib-unix.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

/* Kernel default metric of IPv6 routes added without one (IP6_RT_PRIO_USER). */
#define IP6_DEFAULT_METRIC 1024

/* ================================================================ text */

/* User text inside an error message: escaped and cut, so a hostile string
 * can't forge log lines or make huge errors. */
static char *
quote_text (const char *text)
{
  g_autofree char *cut = g_strndup (text, 64);
  g_autofree char *esc = g_strescape (cut, NULL);
  return g_strdup_printf ("\"%s\"%s", esc, strlen (text) > 64 ? "…" : "");
}

static gboolean
invalid (GError **error, const char *field, const char *text, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static gboolean
invalid (GError **error, const char *field, const char *text, const char *fmt, ...)
{
  g_autofree char *reason = NULL;
  g_autofree char *quoted = text ? quote_text (text) : NULL;
  va_list ap;

  va_start (ap, fmt);
  reason = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (quoted)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: %s: %s",
                 field ? field : "value", quoted, reason);
  else
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: %s",
                 field ? field : "value", reason);
  return FALSE;
}

/* Decimal, no sign, no leading zeros, at most max. */
static gboolean
parse_decimal (const char *s, guint64 max, guint64 *out)
{
  guint64 v = 0;

  if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
    return FALSE;
  for (const char *p = s; *p; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      v = v * 10 + (guint64) (*p - '0');
      if (v > max)
        return FALSE;
    }
  *out = v;
  return TRUE;
}

/* A bare address, no prefix. */
static gboolean
parse_address (const char *text, AnydCidr *out)
{
  memset (out, 0, sizeof *out);
  if (strchr (text, ':'))
    {
      if (strlen (text) >= INET6_ADDRSTRLEN || inet_pton (AF_INET6, text, out->addr) != 1)
        return FALSE;
      out->family = AF_INET6;
      out->prefix = 128;
    }
  else
    {
      if (strlen (text) >= INET_ADDRSTRLEN || inet_pton (AF_INET, text, out->addr) != 1)
        return FALSE;
      out->family = AF_INET;
      out->prefix = 32;
    }
  return TRUE;
}

static guint
family_bits (int family)
{
  return family == AF_INET ? 32 : 128;
}

gboolean
anyd_cidr_parse (const char *text, const char *field, AnydCidr *out, GError **error)
{
  g_autofree char *addr = NULL;
  const char *slash;
  AnydCidr c;

  if (text == NULL || *text == '\0')
    return invalid (error, field, NULL, "empty, expected an address like 10.0.0.1/24 or fd00::1/64");
  slash = strchr (text, '/');
  addr = slash ? g_strndup (text, (gsize) (slash - text)) : g_strdup (text);
  if (!parse_address (addr, &c))
    return invalid (error, field, text, "not an IPv4 or IPv6 address%s",
                    slash ? "/prefix" : "");
  if (slash)
    {
      guint64 prefix;
      if (!parse_decimal (slash + 1, G_MAXUINT8, &prefix) || prefix > family_bits (c.family))
        return invalid (error, field, text, "prefix length must be 0-%u for %s",
                        family_bits (c.family), c.family == AF_INET ? "IPv4" : "IPv6");
      c.prefix = (guint8) prefix;
    }
  *out = c;
  return TRUE;
}

char *
anyd_cidr_to_string (const AnydCidr *cidr)
{
  char buf[INET6_ADDRSTRLEN];

  if (!inet_ntop (cidr->family, cidr->addr, buf, sizeof buf))
    return g_strdup ("?");
  return g_strdup_printf ("%s/%u", buf, cidr->prefix);
}

gboolean
anyd_cidr_is_network (const AnydCidr *cidr)
{
  guint bytes = family_bits (cidr->family) / 8;

  for (guint i = 0; i < bytes; i++)
    {
      guint bit0 = i * 8;
      guint8 mask;
      if (bit0 + 8 <= cidr->prefix)
        continue;
      mask = bit0 >= cidr->prefix ? 0xff : (guint8) (0xff >> (cidr->prefix - bit0));
      if (cidr->addr[i] & mask)
        return FALSE;
    }
  return TRUE;
}

static gboolean
is_unspecified (const AnydCidr *c)
{
  for (guint i = 0; i < family_bits (c->family) / 8; i++)
    if (c->addr[i])
      return FALSE;
  return TRUE;
}

gboolean
anyd_route_parse (const char *text, const char *field, AnydRoute *out, GError **error)
{
  g_auto(GStrv) words = NULL;
  AnydRoute r = { 0 };
  gboolean have_metric = FALSE, have_table = FALSE;
  guint n;

  if (text == NULL || *text == '\0')
    return invalid (error, field, NULL, "empty, expected a route like 10.1.0.0/16 or 10.1.0.0/16 via 10.0.0.1");
  words = g_strsplit (text, " ", -1);
  n = g_strv_length (words);
  for (guint i = 0; i < n; i++)
    if (*words[i] == '\0')
      return invalid (error, field, text, "words must be separated by single spaces, with none around them");

  if (!anyd_cidr_parse (words[0], field, &r.dst, error))
    return FALSE;
  if (!anyd_cidr_is_network (&r.dst))
    {
      AnydCidr net = r.dst;
      g_autofree char *want = NULL;
      for (guint b = net.prefix; b < family_bits (net.family); b++)
        net.addr[b / 8] &= (guint8) ~(0x80 >> (b % 8));
      want = anyd_cidr_to_string (&net);
      return invalid (error, field, text, "destination has host bits set (did you mean %s?)", want);
    }

  for (guint i = 1; i < n; i += 2)
    {
      const char *kw = words[i], *val = words[i + 1];
      guint64 v;

      if (val == NULL)
        return invalid (error, field, text, "\"%s\" needs a value",
                        strlen (kw) <= 16 ? kw : "word");
      if (g_str_equal (kw, "via") && !r.has_gateway)
        {
          if (strchr (val, '/') || !parse_address (val, &r.gateway))
            return invalid (error, field, text, "gateway must be a plain IPv4 or IPv6 address");
          if (r.gateway.family != r.dst.family)
            return invalid (error, field, text, "gateway and destination are of different address families");
          if (is_unspecified (&r.gateway))
            return invalid (error, field, text, "gateway must not be the unspecified address");
          r.has_gateway = TRUE;
        }
      else if (g_str_equal (kw, "metric") && !have_metric)
        {
          if (!parse_decimal (val, G_MAXUINT32, &v))
            return invalid (error, field, text, "metric must be a number 0-4294967295");
          r.metric = (guint32) v;
          have_metric = TRUE;
        }
      else if (g_str_equal (kw, "table") && !have_table)
        {
          if (g_str_equal (val, "main"))
            v = RT_TABLE_MAIN;
          else if (!parse_decimal (val, G_MAXUINT32, &v) || v == 0 || v == RT_TABLE_LOCAL)
            return invalid (error, field, text, "table must be \"main\" or a number 1-4294967295 other than 255 (local)");
          r.table = (guint32) v;
          have_table = TRUE;
        }
      else
        return invalid (error, field, text, "unexpected word at position %u (expected via, metric or table, each at most once)", i + 1);
    }
  if (r.table == RT_TABLE_MAIN)
    r.table = 0;
  *out = r;
  return TRUE;
}

char *
anyd_route_to_string (const AnydRoute *route)
{
  GString *s = g_string_new (NULL);
  g_autofree char *dst = anyd_cidr_to_string (&route->dst);

  g_string_append (s, dst);
  if (route->has_gateway)
    {
      char buf[INET6_ADDRSTRLEN];
      if (inet_ntop (route->gateway.family, route->gateway.addr, buf, sizeof buf))
        g_string_append_printf (s, " via %s", buf);
    }
  if (route->metric && !(route->dst.family == AF_INET6 && route->metric == IP6_DEFAULT_METRIC))
    g_string_append_printf (s, " metric %u", route->metric);
  if (route->table && route->table != RT_TABLE_MAIN)
    g_string_append_printf (s, " table %u", route->table);
  return g_string_free (s, FALSE);
}

/* ============================================================ /dev/net/tun */

gboolean
anyd_ifname_check (const char *name, const char *field, GError **error)
{
  const char *pct;

  if (name == NULL || *name == '\0')
    return TRUE;
  if (strlen (name) >= IFNAMSIZ)
    return invalid (error, field, name, "longer than %d bytes", IFNAMSIZ - 1);
  if (g_str_equal (name, ".") || g_str_equal (name, ".."))
    return invalid (error, field, name, "not a usable interface name");
  for (const char *p = name; *p; p++)
    {
      guchar c = (guchar) *p;
      if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':')
        return invalid (error, field, name, "must be printable ASCII without whitespace, '/' or ':'");
    }
  /* The kernel's template rule: at most one '%', and it must be "%d". */
  pct = strchr (name, '%');
  if (pct && (pct[1] != 'd' || strchr (pct + 2, '%')))
    return invalid (error, field, name, "'%%' may only appear once, as \"%%d\" (the kernel fills in a number)");
  return TRUE;
}

static gboolean
tun_errno (GError **error, int err, const char *name, const char *what)
{
  AnydError code = ANYD_ERROR_FAILED;

  switch (err)
    {
    case EEXIST:
    case EBUSY:
      code = ANYD_ERROR_EXISTS;
      break;
    case EINVAL:
      code = ANYD_ERROR_INVALID_ARGUMENT;
      break;
    case EPERM:
    case EACCES:
      code = ANYD_ERROR_NOT_AUTHORIZED;
      break;
    default:
      break;
    }
  if (code == ANYD_ERROR_EXISTS)
    g_set_error (error, ANYD_ERROR, code, "name: a device named \"%s\" already exists", name);
  else
    g_set_error (error, ANYD_ERROR, code, "%s: %s", what, g_strerror (err));
  return FALSE;
}

int
anyd_tun_open (const AnydTunParams *params, char **name_out, GError **error)
{
  struct ifreq ifr = { 0 };
  const char *name = params->name ? params->name : "";
  int fd;

  if (!anyd_ifname_check (name, "name", error))
    return -1;
  /* TUNSETIFF on an existing persistent device would attach to it rather
   * than fail; refuse by name first, and check IFF_PERSIST afterwards for
   * one created in between. */
  if (*name && !strchr (name, '%') && if_nametoindex (name) != 0)
    {
      tun_errno (error, EEXIST, name, "name");
      return -1;
    }

  fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, ANYD_ERROR, errsv == ENOENT ? ANYD_ERROR_NOT_SUPPORTED : ANYD_ERROR_FAILED,
                   "open /dev/net/tun: %s", g_strerror (errsv));
      return -1;
    }
  ifr.ifr_flags = (short) ((params->tap ? IFF_TAP : IFF_TUN) | (params->packet_info ? 0 : IFF_NO_PI) |
                           (params->multi_queue ? IFF_MULTI_QUEUE : 0) |
                           (params->vnet_hdr ? IFF_VNET_HDR : 0));
  g_strlcpy (ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    {
      int errsv = errno;
      close (fd);
      /* EINVAL here is "a device of another kind has that name". */
      if (errsv == EINVAL && *name && !strchr (name, '%') && if_nametoindex (name) != 0)
        errsv = EEXIST;
      tun_errno (error, errsv, name, "TUNSETIFF");
      return -1;
    }
  {
    struct ifreq got = { 0 };
    if (ioctl (fd, TUNGETIFF, &got) == 0 && (got.ifr_flags & IFF_PERSIST))
      {
        close (fd);
        tun_errno (error, EEXIST, ifr.ifr_name, "name");
        return -1;
      }
  }
  if (params->owner >= 0 && ioctl (fd, TUNSETOWNER, (unsigned long) params->owner) < 0)
    {
      tun_errno (error, errno, ifr.ifr_name, "owner");
      close (fd);
      return -1;
    }
  if (params->group >= 0 && ioctl (fd, TUNSETGROUP, (unsigned long) params->group) < 0)
    {
      tun_errno (error, errno, ifr.ifr_name, "group");
      close (fd);
      return -1;
    }
  /* Last: before this, closing fd removes the device again. */
  if (params->persist && ioctl (fd, TUNSETPERSIST, 1UL) < 0)
    {
      tun_errno (error, errno, ifr.ifr_name, "persist");
      close (fd);
      return -1;
    }
  if (name_out)
    *name_out = g_strndup (ifr.ifr_name, IFNAMSIZ);
  return fd;
}

gboolean
anyd_tun_set_persist (int fd, gboolean persist, GError **error)
{
  if (ioctl (fd, TUNSETPERSIST, persist ? 1UL : 0UL) < 0)
    return tun_errno (error, errno, "", "persist");
  return TRUE;
}

/* ============================================================ rtnetlink */

typedef struct {
  guint                 id;
  int                   ifindex;
  guint                 types;
  AnydNetlinkEventFunc  func;
  gpointer              user_data;
  GDestroyNotify        notify;
  gboolean              dead;
} Subscription;

struct _AnydNetlink {
  gint            ref_count;
  struct nl_sock *sk;          /* requests */
  struct nl_cb   *tx_cb;       /* callbacks for one request/ack exchange */
  struct nl_sock *slow_sk;     /* link deletions, from worker threads (slow_lock) */
  struct nl_cb   *slow_cb;
  GMutex          slow_lock;
  struct nl_sock *events;      /* notifications, NULL until the first subscribe */
  guint           events_source;
  GPtrArray      *subs;        /* Subscription* */
  guint           next_sub_id;
  guint           dispatching;
};

static AnydNetlink *default_netlink;
G_LOCK_DEFINE_STATIC (default_netlink);

static void
subscription_free (gpointer p)
{
  Subscription *s = p;
  if (s->notify && !s->dead)
    s->notify (s->user_data);
  g_free (s);
}

AnydNetlink *
anyd_netlink_get (GError **error)
{
  AnydNetlink *nl;
  int one = 1, err = -NLE_NOMEM;

  G_LOCK (default_netlink);
  if (default_netlink)
    {
      nl = anyd_netlink_ref (default_netlink);
      G_UNLOCK (default_netlink);
      return nl;
    }
  nl = g_new0 (AnydNetlink, 1);
  nl->ref_count = 1;
  nl->subs = g_ptr_array_new_with_free_func (subscription_free);
  g_mutex_init (&nl->slow_lock);
  nl->sk = nl_socket_alloc ();
  nl->tx_cb = nl_cb_alloc (NL_CB_DEFAULT);
  if (nl->sk == NULL || nl->tx_cb == NULL || (err = nl_connect (nl->sk, NETLINK_ROUTE)) < 0)
    {
      if (nl->tx_cb)
        nl_cb_put (nl->tx_cb);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "netlink: %s",
                   nl->sk ? nl_geterror (err) : "out of memory");
      if (nl->sk)
        nl_socket_free (nl->sk);
      g_ptr_array_unref (nl->subs);
      g_mutex_clear (&nl->slow_lock);
      g_free (nl);
      G_UNLOCK (default_netlink);
      return NULL;
    }
  /* Kernel error text (extended ack) for messages; kernel-side filtering of
   * per-link dumps (strict checking). Both are best effort. */
  setsockopt (nl_socket_get_fd (nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt (nl_socket_get_fd (nl->sk), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  fcntl (nl_socket_get_fd (nl->sk), F_SETFD, FD_CLOEXEC);
  default_netlink = nl;
  G_UNLOCK (default_netlink);
  return nl;
}

AnydNetlink *
anyd_netlink_ref (AnydNetlink *nl)
{
  g_atomic_int_inc (&nl->ref_count);
  return nl;
}

void
anyd_netlink_unref (AnydNetlink *nl)
{
  if (nl == NULL)
    return;
  G_LOCK (default_netlink);
  if (!g_atomic_int_dec_and_test (&nl->ref_count))
    {
      G_UNLOCK (default_netlink);
      return;
    }
  if (default_netlink == nl)
    default_netlink = NULL;
  G_UNLOCK (default_netlink);
  g_clear_handle_id (&nl->events_source, g_source_remove);
  if (nl->events)
    nl_socket_free (nl->events);
  nl_socket_free (nl->sk);
  nl_cb_put (nl->tx_cb);
  if (nl->slow_sk)
    nl_socket_free (nl->slow_sk);
  if (nl->slow_cb)
    nl_cb_put (nl->slow_cb);
  g_mutex_clear (&nl->slow_lock);
  g_ptr_array_unref (nl->subs);
  g_free (nl);
}

/* ---------------------------------------------------------- request/ack */

typedef void (*CollectFunc) (struct nl_object *obj, gpointer data);

typedef struct {
  gboolean     done;
  int          err;          /* positive errno, 0 = none */
  char        *ext_msg;      /* kernel's extended-ack text */
  CollectFunc  collect;
  gpointer     collect_data;
} Transaction;

static int
tx_valid_cb (struct nl_msg *msg, void *arg)
{
  Transaction *tx = arg;
  if (tx->collect)
    nl_msg_parse (msg, (void (*) (struct nl_object *, void *)) tx->collect, tx->collect_data);
  return NL_OK;
}

static int
tx_ack_cb (struct nl_msg *msg, void *arg)
{
  Transaction *tx = arg;
  tx->done = TRUE;
  return NL_STOP;
}

static int
tx_finish_cb (struct nl_msg *msg, void *arg)
{
  Transaction *tx = arg;
  struct nlmsghdr *h = nlmsg_hdr (msg);

  /* A dump that failed in the kernel (e.g. a filter it refused) puts the
   * error into NLMSG_DONE. */
  if (h->nlmsg_len >= NLMSG_HDRLEN + sizeof (int))
    {
      int e;
      memcpy (&e, nlmsg_data (h), sizeof e);
      if (e < 0)
        tx->err = -e;
    }
  tx->done = TRUE;
  return NL_STOP;
}

static int
tx_error_cb (struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
  Transaction *tx = arg;
  struct nlmsghdr *h = (struct nlmsghdr *) ((char *) e - NLMSG_HDRLEN);

  tx->err = e->error < 0 ? -e->error : e->error;
  tx->done = TRUE;
  /* Extended ack TLVs follow the (possibly capped) copy of our request. */
  if (h->nlmsg_flags & NLM_F_ACK_TLVS)
    {
      gsize off = sizeof *e;
      if (!(h->nlmsg_flags & NLM_F_CAPPED))
        off += e->msg.nlmsg_len >= NLMSG_HDRLEN ? e->msg.nlmsg_len - NLMSG_HDRLEN : 0;
      off = NLMSG_ALIGN (off);
      if (NLMSG_HDRLEN + off < h->nlmsg_len)
        {
          struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
          if (nla_parse (tb, NLMSGERR_ATTR_MAX, (struct nlattr *) ((char *) e + off),
                         (int) (h->nlmsg_len - NLMSG_HDRLEN - off), NULL) == 0 &&
              tb[NLMSGERR_ATTR_MSG])
            tx->ext_msg = g_strndup (nla_data (tb[NLMSGERR_ATTR_MSG]), (gsize) nla_len (tb[NLMSGERR_ATTR_MSG]));
        }
    }
  return NL_STOP;
}

static AnydError
errno_code (int err)
{
  switch (err)
    {
    case EEXIST:
      return ANYD_ERROR_EXISTS;
    case ENODEV:
    case ENOENT:
    case ESRCH:
    case EADDRNOTAVAIL:
      return ANYD_ERROR_NOT_FOUND;
    case EINVAL:
    case ERANGE:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
    case EAFNOSUPPORT:
      return ANYD_ERROR_INVALID_ARGUMENT;
    case EPERM:
    case EACCES:
      return ANYD_ERROR_NOT_AUTHORIZED;
    case EBUSY:
      return ANYD_ERROR_BUSY;
    default:
      return ANYD_ERROR_FAILED;
    }
}

/* Send msg (consumed) on sk, collect replies, wait for the ack or the
 * dump's end. cb: a callback set re-aimed at this transaction each time. */
static gboolean
transact_on (struct nl_sock *sk, struct nl_cb *cb, struct nl_msg *msg, CollectFunc collect,
             gpointer data, const char *field, GError **error)
{
  Transaction tx = { FALSE, 0, NULL, collect, data };
  int r;

  r = nl_send_auto (sk, msg);
  nlmsg_free (msg);
  if (r < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "%s: netlink send: %s", field, nl_geterror (r));
      return FALSE;
    }
  nl_cb_set (cb, NL_CB_VALID, NL_CB_CUSTOM, tx_valid_cb, &tx);
  nl_cb_set (cb, NL_CB_ACK, NL_CB_CUSTOM, tx_ack_cb, &tx);
  nl_cb_set (cb, NL_CB_FINISH, NL_CB_CUSTOM, tx_finish_cb, &tx);
  nl_cb_err (cb, NL_CB_CUSTOM, tx_error_cb, &tx);
  while (!tx.done)
    {
      r = nl_recvmsgs (sk, cb);
      if (r < 0 && !tx.done)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "%s: netlink receive: %s", field, nl_geterror (r));
          return FALSE;
        }
    }
  if (tx.err)
    {
      g_set_error (error, ANYD_ERROR, errno_code (tx.err), "%s: %s%s%s%s", field, g_strerror (tx.err),
                   tx.ext_msg ? " (" : "", tx.ext_msg ? tx.ext_msg : "", tx.ext_msg ? ")" : "");
      g_free (tx.ext_msg);
      return FALSE;
    }
  g_free (tx.ext_msg);
  return TRUE;
}

static gboolean
transact (AnydNetlink *nl, struct nl_msg *msg, CollectFunc collect, gpointer data,
          const char *field, GError **error)
{
  return transact_on (nl->sk, nl->tx_cb, msg, collect, data, field, error);
}

/* A libnl error while building a request (out of memory, bad object). */
static gboolean
build_failed (GError **error, const char *field, int err)
{
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "%s: building netlink request: %s", field, nl_geterror (err));
  return FALSE;
}

/* ------------------------------------------------------------- links */

void
anyd_link_info_free (AnydLinkInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->alias);
  g_free (info->kind);
  g_free (info);
}

AnydLinkInfo *
anyd_link_info_from_object (struct nl_object *obj)
{
  struct rtnl_link *link = (struct rtnl_link *) obj;
  AnydLinkInfo *info = g_new0 (AnydLinkInfo, 1);
  const char *s;

  info->ifindex = rtnl_link_get_ifindex (link);
  info->name = g_strdup (rtnl_link_get_name (link));
  s = rtnl_link_get_ifalias (link);
  info->alias = s && *s ? g_strdup (s) : NULL;
  s = rtnl_link_get_type (link);
  info->kind = s ? g_strdup (s) : NULL;
  info->group = rtnl_link_get_group (link);
  info->mtu = rtnl_link_get_mtu (link);
  info->arptype = rtnl_link_get_arptype (link);
  info->up = (rtnl_link_get_flags (link) & IFF_UP) != 0;
  return info;
}

static void
collect_links (struct nl_object *obj, gpointer data)
{
  if (nl_object_get_msgtype (obj) == RTM_NEWLINK)
    g_ptr_array_add (data, anyd_link_info_from_object (obj));
}

static struct nl_msg *
link_msg (int type, int flags, int ifindex)
{
  struct nl_msg *msg = nlmsg_alloc_simple (type, flags);
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };

  if (msg && nlmsg_append (msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0)
    {
      nlmsg_free (msg);
      return NULL;
    }
  return msg;
}

static GPtrArray *
link_query (AnydNetlink *nl, int ifindex, const char *name, GError **error)
{
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func ((GDestroyNotify) anyd_link_info_free);
  struct nl_msg *msg = link_msg (RTM_GETLINK, ifindex || name ? 0 : NLM_F_DUMP, ifindex);

  if (msg == NULL)
    return build_failed (error, "link", -NLE_NOMEM), NULL;
  /* Alias, group and kind are what we need; skip the statistics. */
  if (name)
    NLA_PUT_STRING (msg, IFLA_IFNAME, name);
  NLA_PUT_U32 (msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  if (!transact (nl, msg, collect_links, links, name ? name : "link", error))
    return NULL;
  return g_steal_pointer (&links);

nla_put_failure:
  nlmsg_free (msg);
  return build_failed (error, "link", -NLE_NOMEM), NULL;
}

int
anyd_netlink_link_index (AnydNetlink *nl, const char *name, GError **error)
{
  g_autoptr(GPtrArray) links = NULL;
  g_autoptr(GError) local = NULL;

  if (name == NULL || *name == '\0' || strlen (name) >= IFNAMSIZ)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no link named \"%s\"", name ? name : "");
      return 0;
    }
  links = link_query (nl, 0, name, &local);
  if (links == NULL && !g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return 0;
    }
  if (links == NULL || links->len == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no link named \"%s\"", name);
      return 0;
    }
  return ((AnydLinkInfo *) links->pdata[0])->ifindex;
}

AnydLinkInfo *
anyd_netlink_link_get (AnydNetlink *nl, int ifindex, GError **error)
{
  g_autoptr(GPtrArray) links = NULL;
  g_autoptr(GError) local = NULL;

  if (ifindex <= 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no link with index %d", ifindex);
      return NULL;
    }
  links = link_query (nl, ifindex, NULL, &local);
  if (links == NULL && !g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  if (links == NULL || links->len == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no link with index %d", ifindex);
      return NULL;
    }
  return g_ptr_array_steal_index (links, 0);
}

GPtrArray *
anyd_netlink_link_list (AnydNetlink *nl, GError **error)
{
  return link_query (nl, 0, NULL, error);
}

gboolean
anyd_netlink_link_change (AnydNetlink *nl, int ifindex, const AnydLinkChange *change, GError **error)
{
  g_autoptr(GError) local = NULL;
  struct rtnl_link *orig = rtnl_link_alloc (), *want = rtnl_link_alloc ();
  struct nl_msg *msg = NULL;
  int err;

  rtnl_link_set_ifindex (orig, ifindex);
  if (change->mtu)
    rtnl_link_set_mtu (want, change->mtu);
  if (change->group >= 0)
    rtnl_link_set_group (want, (uint32_t) change->group);
  if (change->alias)
    rtnl_link_set_ifalias (want, change->alias);
  if (change->up == 1)
    rtnl_link_set_flags (want, IFF_UP);
  else if (change->up == 0)
    rtnl_link_unset_flags (want, IFF_UP);
  err = rtnl_link_build_change_request (orig, want, 0, &msg);
  rtnl_link_put (orig);
  rtnl_link_put (want);
  if (err < 0)
    return build_failed (error, "link", err);
  if (!transact (nl, msg, NULL, NULL, change->mtu ? "mtu" : "link", &local))
    {
      /* EINVAL on a change that carries an MTU is the MTU's range. */
      if (change->mtu && g_error_matches (local, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "mtu: %u is out of range for this device (%s)", change->mtu,
                       g_str_has_prefix (local->message, "mtu: ") ? local->message + 5 : local->message);
          return FALSE;
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return TRUE;
}

gboolean
anyd_netlink_link_set_mtu (AnydNetlink *nl, int ifindex, guint mtu, GError **error)
{
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;

  if (mtu == 0)
    return invalid (error, "mtu", NULL, "must not be 0");
  ch.mtu = mtu;
  return anyd_netlink_link_change (nl, ifindex, &ch, error);
}

gboolean
anyd_netlink_link_set_up (AnydNetlink *nl, int ifindex, gboolean up, GError **error)
{
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;

  ch.up = up ? 1 : 0;
  return anyd_netlink_link_change (nl, ifindex, &ch, error);
}

/* RTM_DELLINK for one link (ifindex > 0) or for a whole link group. */
static struct nl_msg *
delete_msg (int ifindex, guint32 group)
{
  struct nl_msg *msg = link_msg (RTM_DELLINK, 0, ifindex > 0 ? ifindex : 0);

  if (msg && ifindex <= 0 && nla_put_u32 (msg, IFLA_GROUP, group) < 0)
    {
      nlmsg_free (msg);
      return NULL;
    }
  return msg;
}

gboolean
anyd_netlink_link_delete (AnydNetlink *nl, int ifindex, GError **error)
{
  struct nl_msg *msg;

  if (ifindex <= 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no link with index %d", ifindex);
      return FALSE;
    }
  msg = delete_msg (ifindex, 0);
  if (msg == NULL)
    return build_failed (error, "delete", -NLE_NOMEM);
  return transact (nl, msg, NULL, NULL, "delete", error);
}

gboolean
anyd_netlink_link_delete_group (AnydNetlink *nl, guint32 group, GError **error)
{
  struct nl_msg *msg;

  if (group == 0)
    return invalid (error, "group", NULL, "group 0 holds every link; refusing to delete it");
  msg = delete_msg (0, group);
  if (msg == NULL)
    return build_failed (error, "delete", -NLE_NOMEM);
  return transact (nl, msg, NULL, NULL, "delete group", error);
}

/* The cheap part of deleting several links: move them into scratch_group.
 * Sets *ifindex (one link left to delete by index), or *ifindex = 0 and
 * the group is to be deleted; returns FALSE with no error if nothing is left. */
static gboolean
links_delete_prepare (AnydNetlink *nl, const int *ifindexes, guint n, guint32 scratch_group,
                      int *ifindex, GError **error)
{
  AnydLinkChange ch = ANYD_LINK_CHANGE_INIT;
  guint moved = 0;

  *ifindex = 0;
  if (n == 0)
    return FALSE;
  if (n == 1)
    {
      *ifindex = ifindexes[0];
      return TRUE;
    }
  if (scratch_group == 0)
    return invalid (error, "group", NULL, "group 0 holds every link; refusing to delete it");
  ch.group = scratch_group;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) local = NULL;
      if (anyd_netlink_link_change (nl, ifindexes[i], &ch, &local))
        moved++;
      else if (!g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
    }
  return moved > 0;
}

/* Links already gone count as deleted. */
static gboolean
delete_result (gboolean ok, GError *local, GError **error)
{
  if (ok || g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_clear_error (&local);
      return TRUE;
    }
  g_propagate_error (error, local);
  return FALSE;
}

gboolean
anyd_netlink_links_delete (AnydNetlink *nl, const int *ifindexes, guint n, guint32 scratch_group,
                           GError **error)
{
  GError *local = NULL;
  struct nl_msg *msg;
  int ifindex;

  if (!links_delete_prepare (nl, ifindexes, n, scratch_group, &ifindex, &local))
    return local == NULL || delete_result (FALSE, local, error);
  msg = delete_msg (ifindex, scratch_group);
  if (msg == NULL)
    return build_failed (error, "delete", -NLE_NOMEM);
  return delete_result (transact (nl, msg, NULL, NULL, "delete", &local), local, error);
}

typedef struct {
  AnydNetlink *nl;
  int          ifindex;
  guint32      group;
} DeleteJob;

static void
delete_job_free (DeleteJob *job)
{
  anyd_netlink_unref (job->nl);
  g_free (job);
}

/* Worker thread: the RTM_DELLINK, which waits for an RCU grace period, on
 * the deletion socket (one at a time). */
static void
delete_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DeleteJob *job = data;
  AnydNetlink *nl = job->nl;
  GError *local = NULL;
  struct nl_msg *msg = delete_msg (job->ifindex, job->group);
  gboolean ok;

  if (msg == NULL)
    {
      build_failed (&local, "delete", -NLE_NOMEM);
      g_task_return_error (task, local);
      return;
    }
  g_mutex_lock (&nl->slow_lock);
  ok = transact_on (nl->slow_sk, nl->slow_cb, msg, NULL, NULL, "delete", &local);
  g_mutex_unlock (&nl->slow_lock);
  if (delete_result (ok, local, &local))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, local);
}

static gboolean
open_slow_socket (AnydNetlink *nl, GError **error)
{
  int one = 1, err = -NLE_NOMEM;

  if (nl->slow_sk)
    return TRUE;
  nl->slow_sk = nl_socket_alloc ();
  nl->slow_cb = nl_cb_alloc (NL_CB_DEFAULT);
  if (nl->slow_sk == NULL || nl->slow_cb == NULL || (err = nl_connect (nl->slow_sk, NETLINK_ROUTE)) < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "netlink: %s", nl_geterror (err));
      g_clear_pointer (&nl->slow_sk, nl_socket_free);
      g_clear_pointer (&nl->slow_cb, nl_cb_put);
      return FALSE;
    }
  setsockopt (nl_socket_get_fd (nl->slow_sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  fcntl (nl_socket_get_fd (nl->slow_sk), F_SETFD, FD_CLOEXEC);
  return TRUE;
}

void
anyd_netlink_links_delete_async (AnydNetlink *nl, const int *ifindexes, guint n, guint32 scratch_group,
                                 GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  GError *error = NULL;
  DeleteJob *job;
  int ifindex;

  g_task_set_source_tag (task, anyd_netlink_links_delete_async);
  if (!links_delete_prepare (nl, ifindexes, n, scratch_group, &ifindex, &error))
    {
      if (error == NULL || delete_result (FALSE, error, &error))
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_error (task, error);
      return;
    }
  if (!open_slow_socket (nl, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  job = g_new0 (DeleteJob, 1);
  job->nl = anyd_netlink_ref (nl);
  job->ifindex = ifindex;
  job->group = scratch_group;
  g_task_set_task_data (task, job, (GDestroyNotify) delete_job_free);
  g_task_run_in_thread (task, delete_thread);
}

gboolean
anyd_netlink_links_delete_finish (AnydNetlink *nl, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == anyd_netlink_links_delete_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ----------------------------------------------------------- addresses */

static struct nl_addr *
nl_addr_from_cidr (const AnydCidr *c)
{
  struct nl_addr *a = nl_addr_build (c->family, c->addr, c->family == AF_INET ? 4 : 16);
  if (a)
    nl_addr_set_prefixlen (a, c->prefix);
  return a;
}

static gboolean
cidr_from_nl_addr (struct nl_addr *a, guint prefix, AnydCidr *out)
{
  guint len;

  if (a == NULL)
    return FALSE;
  len = nl_addr_get_len (a);
  memset (out, 0, sizeof *out);
  out->family = nl_addr_get_family (a);
  if (!((out->family == AF_INET && len == 4) || (out->family == AF_INET6 && len == 16)))
    return FALSE;
  memcpy (out->addr, nl_addr_get_binary_addr (a), len);
  out->prefix = (guint8) prefix;
  return TRUE;
}

static gboolean
addr_request (AnydNetlink *nl, gboolean add, int ifindex, const AnydCidr *addr,
              const char *field, GError **error)
{
  struct rtnl_addr *ra = rtnl_addr_alloc ();
  struct nl_addr *local = nl_addr_from_cidr (addr);
  struct nl_msg *msg = NULL;
  int err;

  if (ra == NULL || local == NULL)
    err = -NLE_NOMEM;
  else
    {
      rtnl_addr_set_ifindex (ra, ifindex);
      rtnl_addr_set_family (ra, addr->family);
      err = rtnl_addr_set_local (ra, local);
      if (err >= 0)
        {
          rtnl_addr_set_prefixlen (ra, addr->prefix);
          err = add ? rtnl_addr_build_add_request (ra, NLM_F_CREATE | NLM_F_EXCL, &msg)
                    : rtnl_addr_build_delete_request (ra, 0, &msg);
        }
    }
  if (local)
    nl_addr_put (local);
  if (ra)
    rtnl_addr_put (ra);
  if (err < 0)
    return build_failed (error, field ? field : "address", err);
  return transact (nl, msg, NULL, NULL, field ? field : "address", error);
}

gboolean
anyd_netlink_addr_add (AnydNetlink *nl, int ifindex, const AnydCidr *addr, const char *field, GError **error)
{
  return addr_request (nl, TRUE, ifindex, addr, field, error);
}

gboolean
anyd_netlink_addr_del (AnydNetlink *nl, int ifindex, const AnydCidr *addr, const char *field, GError **error)
{
  return addr_request (nl, FALSE, ifindex, addr, field, error);
}

typedef struct {
  int        ifindex;
  GPtrArray *out;
} ListCtx;

static void
collect_addrs (struct nl_object *obj, gpointer data)
{
  ListCtx *ctx = data;
  struct rtnl_addr *ra = (struct rtnl_addr *) obj;
  AnydCidr c;

  if (nl_object_get_msgtype (obj) != RTM_NEWADDR || rtnl_addr_get_ifindex (ra) != ctx->ifindex)
    return;
  if (!cidr_from_nl_addr (rtnl_addr_get_local (ra), (guint) rtnl_addr_get_prefixlen (ra), &c))
    return;
  /* Kernel-made IPv6 link-local addresses are not the caller's configuration. */
  if (c.family == AF_INET6 && c.addr[0] == 0xfe && (c.addr[1] & 0xc0) == 0x80)
    return;
  g_ptr_array_add (ctx->out, anyd_cidr_to_string (&c));
}

char **
anyd_netlink_addr_list (AnydNetlink *nl, int ifindex, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  ListCtx ctx = { ifindex, out };
  struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC, .ifa_index = (unsigned) ifindex };
  struct nl_msg *msg = nlmsg_alloc_simple (RTM_GETADDR, NLM_F_DUMP);

  if (msg == NULL || nlmsg_append (msg, &ifa, sizeof ifa, NLMSG_ALIGNTO) < 0)
    {
      nlmsg_free (msg);
      return build_failed (error, "addresses", -NLE_NOMEM), NULL;
    }
  /* The kernel filters by ifa_index (strict checking); collect_addrs checks again. */
  if (!transact (nl, msg, collect_addrs, &ctx, "addresses", error))
    return NULL;
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_steal (out, NULL);
}

/* -------------------------------------------------------------- routes */

static gboolean
route_request (AnydNetlink *nl, gboolean add, int ifindex, const AnydRoute *route,
               const char *field, GError **error)
{
  struct rtnl_route *rr = rtnl_route_alloc ();
  struct rtnl_nexthop *nh = rtnl_route_nh_alloc ();
  struct nl_addr *dst = nl_addr_from_cidr (&route->dst);
  struct nl_addr *gw = route->has_gateway ? nl_addr_from_cidr (&route->gateway) : NULL;
  struct nl_msg *msg = NULL;
  int err = 0;

  if (rr == NULL || nh == NULL || dst == NULL || (route->has_gateway && gw == NULL))
    err = -NLE_NOMEM;
  else
    {
      rtnl_route_set_family (rr, (uint8_t) route->dst.family);
      rtnl_route_set_table (rr, route->table ? route->table : RT_TABLE_MAIN);
      rtnl_route_set_protocol (rr, route->local ? ANYD_RTPROT : RTPROT_STATIC);
      rtnl_route_set_type (rr, route->local ? RTN_LOCAL : RTN_UNICAST);
      rtnl_route_set_scope (rr, route->local ? RT_SCOPE_HOST
                                : route->has_gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
      if (route->metric)
        rtnl_route_set_priority (rr, route->metric);
      err = rtnl_route_set_dst (rr, dst);
      rtnl_route_nh_set_ifindex (nh, ifindex);
      if (gw)
        rtnl_route_nh_set_gateway (nh, gw);
      rtnl_route_add_nexthop (rr, nh);
      nh = NULL;
      if (err >= 0)
        err = add ? rtnl_route_build_add_request (rr, NLM_F_CREATE | NLM_F_EXCL, &msg)
                  : rtnl_route_build_del_request (rr, 0, &msg);
    }
  if (nh)
    rtnl_route_nh_free (nh);
  if (dst)
    nl_addr_put (dst);
  if (gw)
    nl_addr_put (gw);
  if (rr)
    rtnl_route_put (rr);
  if (err < 0)
    return build_failed (error, field ? field : "route", err);
  return transact (nl, msg, NULL, NULL, field ? field : "route", error);
}

gboolean
anyd_netlink_route_add (AnydNetlink *nl, int ifindex, const AnydRoute *route, const char *field, GError **error)
{
  return route_request (nl, TRUE, ifindex, route, field, error);
}

gboolean
anyd_netlink_route_del (AnydNetlink *nl, int ifindex, const AnydRoute *route, const char *field, GError **error)
{
  return route_request (nl, FALSE, ifindex, route, field, error);
}

static void
collect_routes (struct nl_object *obj, gpointer data)
{
  ListCtx *ctx = data;
  struct rtnl_route *rr = (struct rtnl_route *) obj;
  struct rtnl_nexthop *nh;
  struct nl_addr *dst;
  AnydRoute r = { 0 };

  if (nl_object_get_msgtype (obj) != RTM_NEWROUTE ||
      rtnl_route_get_table (rr) == RT_TABLE_LOCAL ||
      rtnl_route_get_protocol (rr) == RTPROT_KERNEL ||
      rtnl_route_get_type (rr) != RTN_UNICAST ||
      rtnl_route_get_nnexthops (rr) != 1)
    return;
  nh = rtnl_route_nexthop_n (rr, 0);
  if (nh == NULL || rtnl_route_nh_get_ifindex (nh) != ctx->ifindex)
    return;
  dst = rtnl_route_get_dst (rr);
  if (dst == NULL)
    return;
  if (nl_addr_get_len (dst) == 0)
    {
      /* default route: libnl leaves the address empty */
      memset (&r.dst, 0, sizeof r.dst);
      r.dst.family = rtnl_route_get_family (rr);
      if (r.dst.family != AF_INET && r.dst.family != AF_INET6)
        return;
    }
  else if (!cidr_from_nl_addr (dst, nl_addr_get_prefixlen (dst), &r.dst))
    return;
  if (rtnl_route_nh_get_gateway (nh) &&
      cidr_from_nl_addr (rtnl_route_nh_get_gateway (nh), r.dst.family == AF_INET ? 32 : 128, &r.gateway))
    r.has_gateway = TRUE;
  r.metric = rtnl_route_get_priority (rr);
  r.table = rtnl_route_get_table (rr);
  g_ptr_array_add (ctx->out, anyd_route_to_string (&r));
}

char **
anyd_netlink_route_list (AnydNetlink *nl, int ifindex, GError **error)
{
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  ListCtx ctx = { ifindex, out };
  struct rtmsg rtm = { .rtm_family = AF_UNSPEC };
  struct nl_msg *msg = nlmsg_alloc_simple (RTM_GETROUTE, NLM_F_DUMP);

  if (msg == NULL || nlmsg_append (msg, &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0)
    goto nla_put_failure;
  /* Kernel-side filter by output device (strict checking). */
  NLA_PUT_U32 (msg, RTA_OIF, (uint32_t) ifindex);
  if (!transact (nl, msg, collect_routes, &ctx, "routes", error))
    return NULL;
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_steal (out, NULL);

nla_put_failure:
  nlmsg_free (msg);
  return build_failed (error, "routes", -NLE_NOMEM), NULL;
}

/* --------------------------------------------------------------- rules */

/* Built by hand: libnl's rtnl_rule has no FRA_SUPPRESS_PREFIXLEN. */
static gboolean
rule_request (AnydNetlink *nl, gboolean add, const AnydRule *rule, const char *field, GError **error)
{
  struct fib_rule_hdr frh = {
    .family = (guint8) rule->family,
    .action = FR_ACT_TO_TBL,
    .flags = rule->invert ? FIB_RULE_INVERT : 0,
  };
  struct nl_msg *msg = nlmsg_alloc_simple (add ? RTM_NEWRULE : RTM_DELRULE,
                                           add ? NLM_F_CREATE | NLM_F_EXCL : 0);

  field = field ? field : "rule";
  if (msg == NULL || nlmsg_append (msg, &frh, sizeof frh, NLMSG_ALIGNTO) < 0)
    goto nla_put_failure;
  NLA_PUT_U32 (msg, FRA_TABLE, rule->table);
  NLA_PUT_U8 (msg, FRA_PROTOCOL, ANYD_RTPROT);
  if (rule->priority)
    NLA_PUT_U32 (msg, FRA_PRIORITY, rule->priority);
  if (rule->fwmark)
    {
      NLA_PUT_U32 (msg, FRA_FWMARK, rule->fwmark);
      NLA_PUT_U32 (msg, FRA_FWMASK, 0xffffffff);
    }
  if (rule->suppress_prefixlen >= 0)
    NLA_PUT_U32 (msg, FRA_SUPPRESS_PREFIXLEN, (uint32_t) rule->suppress_prefixlen);
  return transact (nl, msg, NULL, NULL, field, error);

nla_put_failure:
  nlmsg_free (msg);
  return build_failed (error, field, -NLE_NOMEM);
}

gboolean
anyd_netlink_rule_add (AnydNetlink *nl, const AnydRule *rule, const char *field, GError **error)
{
  return rule_request (nl, TRUE, rule, field, error);
}

gboolean
anyd_netlink_rule_del (AnydNetlink *nl, const AnydRule *rule, const char *field, GError **error)
{
  return rule_request (nl, FALSE, rule, field, error);
}

typedef struct {
  GArray   *out;
  gboolean  own_only;
} RuleCtx;

static void
collect_rules (struct nl_object *obj, gpointer data)
{
  RuleCtx *ctx = data;
  struct rtnl_rule *r = (struct rtnl_rule *) obj;
  AnydRule rule = ANYD_RULE_INIT;

  if (nl_object_get_msgtype (obj) != RTM_NEWRULE)
    return;
  if (rtnl_rule_get_protocol (r, &rule.protocol) < 0)
    rule.protocol = 0;
  if (ctx->own_only && rule.protocol != ANYD_RTPROT)
    return;
  rule.family = rtnl_rule_get_family (r);
  rule.priority = rtnl_rule_get_prio (r);
  rule.table = rtnl_rule_get_table (r);
  rule.fwmark = rtnl_rule_get_mark (r) == (uint32_t) -1 ? 0 : rtnl_rule_get_mark (r);
  g_array_append_val (ctx->out, rule);
}

GArray *
anyd_netlink_rule_list (AnydNetlink *nl, gboolean own_only, GError **error)
{
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (AnydRule));
  RuleCtx ctx = { out, own_only };
  struct fib_rule_hdr frh = { .family = AF_UNSPEC };
  struct nl_msg *msg = nlmsg_alloc_simple (RTM_GETRULE, NLM_F_DUMP);

  if (msg == NULL || nlmsg_append (msg, &frh, sizeof frh, NLMSG_ALIGNTO) < 0)
    {
      nlmsg_free (msg);
      return build_failed (error, "rules", -NLE_NOMEM), NULL;
    }
  if (!transact (nl, msg, collect_rules, &ctx, "rules", error))
    return NULL;
  return g_steal_pointer (&out);
}

/* ------------------------------------------------------- notifications */

static void
dispatch_event (AnydNetlink *nl, const AnydNetlinkEvent *ev)
{
  nl->dispatching++;
  for (guint i = 0; i < nl->subs->len; i++)
    {
      Subscription *s = nl->subs->pdata[i];
      if (s->dead || !(s->types & ev->type))
        continue;
      if (s->ifindex && ev->ifindex && s->ifindex != ev->ifindex)
        continue;
      s->func (ev, s->user_data);
    }
  if (--nl->dispatching == 0)
    for (guint i = nl->subs->len; i-- > 0;)
      if (((Subscription *) nl->subs->pdata[i])->dead)
        g_ptr_array_remove_index (nl->subs, i);
}

typedef struct {
  AnydNetlink      *nl;
  AnydNetlinkEvent  ev;
} EventCtx;

static void
event_object_cb (struct nl_object *obj, void *arg)
{
  EventCtx *ctx = arg;

  ctx->ev.object = obj;
  dispatch_event (ctx->nl, &ctx->ev);
}

/* Type and ifindex straight from the message, so events nobody wants (and
 * those whose subscribers need no object) cost no libnl object parsing. */
static gboolean
event_peek (struct nlmsghdr *h, AnydNetlinkEvent *ev)
{
  switch (h->nlmsg_type)
    {
    case RTM_NEWLINK:
    case RTM_DELLINK:
      if (!nlmsg_valid_hdr (h, sizeof (struct ifinfomsg)))
        return FALSE;
      ev->type = ANYD_NETLINK_EVENT_LINK;
      ev->ifindex = ((struct ifinfomsg *) nlmsg_data (h))->ifi_index;
      break;
    case RTM_NEWADDR:
    case RTM_DELADDR:
      {
        struct ifaddrmsg *ifa;
        struct nlattr *a;
        if (!nlmsg_valid_hdr (h, sizeof (struct ifaddrmsg)))
          return FALSE;
        ifa = nlmsg_data (h);
        ev->type = ANYD_NETLINK_EVENT_ADDR;
        ev->ifindex = (int) ifa->ifa_index;
        if (ifa->ifa_family == AF_INET6 && (a = nlmsg_find_attr (h, sizeof *ifa, IFA_ADDRESS)) &&
            nla_len (a) >= 2)
          {
            const guint8 *b = nla_data (a);
            ev->unlisted = b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
          }
        break;
      }
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
      {
        struct nlattr *a;
        struct rtmsg *rtm;
        guint32 table;
        if (!nlmsg_valid_hdr (h, sizeof (struct rtmsg)))
          return FALSE;
        rtm = nlmsg_data (h);
        ev->type = ANYD_NETLINK_EVENT_ROUTE;
        table = rtm->rtm_table;
        if ((a = nlmsg_find_attr (h, sizeof *rtm, RTA_TABLE)) && nla_len (a) >= 4)
          table = nla_get_u32 (a);
        /* the same test as collect_routes() */
        ev->unlisted = table == RT_TABLE_LOCAL || rtm->rtm_protocol == RTPROT_KERNEL ||
                       rtm->rtm_type != RTN_UNICAST;
        if ((a = nlmsg_find_attr (h, sizeof (struct rtmsg), RTA_OIF)) && nla_len (a) >= 4)
          ev->ifindex = (int) nla_get_u32 (a);
        else if ((a = nlmsg_find_attr (h, sizeof (struct rtmsg), RTA_MULTIPATH)) &&
                 nla_len (a) >= (int) sizeof (struct rtnexthop))
          ev->ifindex = ((struct rtnexthop *) nla_data (a))->rtnh_ifindex;
        break;
      }
    default:
      return FALSE;
    }
  ev->removed = h->nlmsg_type == RTM_DELLINK || h->nlmsg_type == RTM_DELADDR ||
                h->nlmsg_type == RTM_DELROUTE;
  return TRUE;
}

static int
event_valid_cb (struct nl_msg *msg, void *arg)
{
  EventCtx ctx = { arg, { 0 } };
  gboolean wanted = FALSE, want_object = FALSE;
  guint32 pid = nlmsg_hdr (msg)->nlmsg_pid;

  if (!event_peek (nlmsg_hdr (msg), &ctx.ev))
    return NL_OK;
  ctx.ev.own = pid != 0 && pid == nl_socket_get_local_port (ctx.nl->sk);
  for (guint i = 0; i < ctx.nl->subs->len; i++)
    {
      Subscription *s = ctx.nl->subs->pdata[i];
      if (s->dead || !(s->types & ctx.ev.type) ||
          (s->ifindex && ctx.ev.ifindex && s->ifindex != ctx.ev.ifindex))
        continue;
      wanted = TRUE;
      want_object |= !(s->types & ANYD_NETLINK_EVENT_NO_OBJECT);
    }
  if (!wanted)
    return NL_OK;
  if (want_object)
    nl_msg_parse (msg, event_object_cb, &ctx);
  else
    dispatch_event (ctx.nl, &ctx.ev);
  return NL_OK;
}

static void
read_events (AnydNetlink *nl)
{
  struct nl_cb *cb = nl_socket_get_cb (nl->events);

  for (;;)
    {
      int r = nl_recvmsgs_report (nl->events, cb);
      if (r > 0)
        continue;
      if (r == -NLE_NOMEM || r == -NLE_MSG_OVERFLOW)
        {
          /* ENOBUFS: the kernel dropped notifications; subscribers re-read. */
          AnydNetlinkEvent ev = { ANYD_NETLINK_EVENT_RESYNC, FALSE, 0, NULL };
          dispatch_event (nl, &ev);
          continue;
        }
      if (r < 0 && r != -NLE_AGAIN && r != -NLE_INTR)
        g_debug ("netlink notifications: %s", nl_geterror (r));
      break;
    }
  nl_cb_put (cb);
}

static gboolean
events_ready_cb (int fd, GIOCondition cond, gpointer data)
{
  AnydNetlink *nl = data;

  anyd_netlink_ref (nl);
  read_events (nl);
  anyd_netlink_unref (nl);
  return G_SOURCE_CONTINUE;
}

static gboolean
open_events (AnydNetlink *nl, GError **error)
{
  int err;

  nl->events = nl_socket_alloc ();
  if (nl->events == NULL)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "netlink notifications: out of memory");
      return FALSE;
    }
  nl_socket_disable_seq_check (nl->events);
  nl_socket_modify_cb (nl->events, NL_CB_VALID, NL_CB_CUSTOM, event_valid_cb, nl);
  if ((err = nl_connect (nl->events, NETLINK_ROUTE)) < 0 ||
      (err = nl_socket_add_memberships (nl->events, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                        RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                                        RTNLGRP_IPV6_ROUTE, 0)) < 0 ||
      (err = nl_socket_set_nonblocking (nl->events)) < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "netlink notifications: %s", nl_geterror (err));
      nl_socket_free (nl->events);
      nl->events = NULL;
      return FALSE;
    }
  /* Room for a burst (tearing down a hundred devices); overruns resync. */
  nl_socket_set_buffer_size (nl->events, 4 << 20, 0);
  fcntl (nl_socket_get_fd (nl->events), F_SETFD, FD_CLOEXEC);
  nl->events_source = g_unix_fd_add (nl_socket_get_fd (nl->events), G_IO_IN, events_ready_cb, nl);
  return TRUE;
}

guint
anyd_netlink_subscribe (AnydNetlink *nl, int ifindex, guint types, AnydNetlinkEventFunc func,
                        gpointer user_data, GDestroyNotify notify, GError **error)
{
  Subscription *s;

  if (nl->events == NULL && !open_events (nl, error))
    return 0;
  s = g_new0 (Subscription, 1);
  s->id = ++nl->next_sub_id;
  s->ifindex = ifindex;
  s->types = types | ANYD_NETLINK_EVENT_RESYNC;
  s->func = func;
  s->user_data = user_data;
  s->notify = notify;
  g_ptr_array_add (nl->subs, s);
  return s->id;
}

void
anyd_netlink_unsubscribe (AnydNetlink *nl, guint id)
{
  for (guint i = 0; i < nl->subs->len; i++)
    {
      Subscription *s = nl->subs->pdata[i];
      if (s->id != id || s->dead)
        continue;
      if (s->notify)
        s->notify (s->user_data);
      s->dead = TRUE;
      if (nl->dispatching == 0)
        g_ptr_array_remove_index (nl->subs, i);
      return;
    }
}

void
anyd_netlink_dispatch_pending (AnydNetlink *nl)
{
  if (nl->events)
    read_events (nl);
}
