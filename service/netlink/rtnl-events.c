/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rtnetlink event source: one notification socket on the GLib main
 * loop, opened on the first subscribe, dispatching to subscribers. */
#include "rtnl-private.h"
#include "error.h"

#include <fcntl.h>
#include <glib-unix.h>
#include <linux/rtnetlink.h>

#include <netlink/msg.h>
#include <netlink/attr.h>

typedef struct {
  guint                 id;
  int                   ifindex;
  guint                 types;
  AnydNetlinkEventFunc  func;
  gpointer              user_data;
  GDestroyNotify        notify;
  gboolean              dead;
} Subscription;

struct _AnydNetlinkEvents {
  AnydNetlink    *nl;          /* owner (not a reference: the owner frees us) */
  struct nl_sock *sk;
  guint           source;
  GPtrArray      *subs;        /* Subscription* */
  guint           next_sub_id;
  guint           dispatching;
};

static void
subscription_free (gpointer p)
{
  Subscription *s = p;
  if (s->notify && !s->dead)
    s->notify (s->user_data);
  g_free (s);
}

static void
dispatch_event (AnydNetlinkEvents *evs, const AnydNetlinkEvent *ev)
{
  evs->dispatching++;
  for (guint i = 0; i < evs->subs->len; i++)
    {
      Subscription *s = evs->subs->pdata[i];
      if (s->dead || !(s->types & ev->type))
        continue;
      if (s->ifindex && ev->ifindex && s->ifindex != ev->ifindex)
        continue;
      s->func (ev, s->user_data);
    }
  if (--evs->dispatching == 0)
    for (guint i = evs->subs->len; i-- > 0;)
      if (((Subscription *) evs->subs->pdata[i])->dead)
        g_ptr_array_remove_index (evs->subs, i);
}

typedef struct {
  AnydNetlinkEvents *evs;
  AnydNetlinkEvent   ev;
} EventCtx;

static void
event_object_cb (struct nl_object *obj, void *arg)
{
  EventCtx *ctx = arg;

  ctx->ev.object = obj;
  dispatch_event (ctx->evs, &ctx->ev);
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
  ctx.ev.own = pid != 0 && pid == nl_socket_get_local_port (ctx.evs->nl->sk);
  for (guint i = 0; i < ctx.evs->subs->len; i++)
    {
      Subscription *s = ctx.evs->subs->pdata[i];
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
    dispatch_event (ctx.evs, &ctx.ev);
  return NL_OK;
}

static void
read_events (AnydNetlinkEvents *evs)
{
  struct nl_cb *cb = nl_socket_get_cb (evs->sk);

  for (;;)
    {
      int r = nl_recvmsgs_report (evs->sk, cb);
      if (r > 0)
        continue;
      if (r == -NLE_NOMEM || r == -NLE_MSG_OVERFLOW)
        {
          /* ENOBUFS: the kernel dropped notifications; subscribers re-read. */
          AnydNetlinkEvent ev = { ANYD_NETLINK_EVENT_RESYNC, FALSE, 0, NULL };
          dispatch_event (evs, &ev);
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
  AnydNetlinkEvents *evs = data;
  AnydNetlink *nl = anyd_netlink_ref (evs->nl);

  /* A subscriber may drop the last reference; evs lives until unref. */
  read_events (evs);
  anyd_netlink_unref (nl);
  return G_SOURCE_CONTINUE;
}

static AnydNetlinkEvents *
open_events (AnydNetlink *nl, GError **error)
{
  AnydNetlinkEvents *evs;
  struct nl_sock *sk;
  int err;

  sk = nl_socket_alloc ();
  if (sk == NULL)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "netlink notifications: out of memory");
      return NULL;
    }
  evs = g_new0 (AnydNetlinkEvents, 1);
  evs->nl = nl;
  evs->sk = sk;
  evs->subs = g_ptr_array_new_with_free_func (subscription_free);
  nl_socket_disable_seq_check (sk);
  nl_socket_modify_cb (sk, NL_CB_VALID, NL_CB_CUSTOM, event_valid_cb, evs);
  if ((err = nl_connect (sk, NETLINK_ROUTE)) < 0 ||
      (err = nl_socket_add_memberships (sk, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                        RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE,
                                        RTNLGRP_IPV6_ROUTE, 0)) < 0 ||
      (err = nl_socket_set_nonblocking (sk)) < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "netlink notifications: %s", nl_geterror (err));
      anyd_netlink_events_free (evs);
      return NULL;
    }
  /* Room for a burst (tearing down a hundred devices); overruns resync. */
  nl_socket_set_buffer_size (sk, 4 << 20, 0);
  fcntl (nl_socket_get_fd (sk), F_SETFD, FD_CLOEXEC);
  evs->source = g_unix_fd_add (nl_socket_get_fd (sk), G_IO_IN, events_ready_cb, evs);
  return evs;
}

void
anyd_netlink_events_free (AnydNetlinkEvents *evs)
{
  g_clear_handle_id (&evs->source, g_source_remove);
  nl_socket_free (evs->sk);
  g_ptr_array_unref (evs->subs);
  g_free (evs);
}

guint
anyd_netlink_subscribe (AnydNetlink *nl, int ifindex, guint types, AnydNetlinkEventFunc func,
                        gpointer user_data, GDestroyNotify notify, GError **error)
{
  Subscription *s;

  if (nl->events == NULL && (nl->events = open_events (nl, error)) == NULL)
    return 0;
  s = g_new0 (Subscription, 1);
  s->id = ++nl->events->next_sub_id;
  s->ifindex = ifindex;
  s->types = types | ANYD_NETLINK_EVENT_RESYNC;
  s->func = func;
  s->user_data = user_data;
  s->notify = notify;
  g_ptr_array_add (nl->events->subs, s);
  return s->id;
}

void
anyd_netlink_unsubscribe (AnydNetlink *nl, guint id)
{
  AnydNetlinkEvents *evs = nl->events;

  for (guint i = 0; evs && i < evs->subs->len; i++)
    {
      Subscription *s = evs->subs->pdata[i];
      if (s->id != id || s->dead)
        continue;
      if (s->notify)
        s->notify (s->user_data);
      s->dead = TRUE;
      if (evs->dispatching == 0)
        g_ptr_array_remove_index (evs->subs, i);
      return;
    }
}

