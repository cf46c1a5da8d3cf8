/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rtnetlink client: the shared instance, its request/ack exchange and
 * links; addresses, routes and rules are in rtnl-addr.c, notifications in
 * rtnl-events.c. See rtnl.h for the API. */
#include "rtnl-private.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

static AnydNetlink *default_netlink;
G_LOCK_DEFINE_STATIC (default_netlink);

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
  g_clear_pointer (&nl->events, anyd_netlink_events_free);
  nl_socket_free (nl->sk);
  nl_cb_put (nl->tx_cb);
  if (nl->slow_sk)
    nl_socket_free (nl->slow_sk);
  if (nl->slow_cb)
    nl_cb_put (nl->slow_cb);
  g_mutex_clear (&nl->slow_lock);
  g_free (nl);
}

/* ---------------------------------------------------------- request/ack */

typedef struct {
  gboolean     done;
  int          err;          /* positive errno, 0 = none */
  char        *ext_msg;      /* kernel's extended-ack text */
  AnydNetlinkCollectFunc  collect;
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
transact_on (struct nl_sock *sk, struct nl_cb *cb, struct nl_msg *msg, AnydNetlinkCollectFunc collect,
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

gboolean
anyd_netlink_transact (AnydNetlink *nl, struct nl_msg *msg, AnydNetlinkCollectFunc collect, gpointer data,
                       const char *field, GError **error)
{
  return transact_on (nl->sk, nl->tx_cb, msg, collect, data, field, error);
}

gboolean
anyd_netlink_build_failed (GError **error, const char *field, int err)
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
    return anyd_netlink_build_failed (error, "link", -NLE_NOMEM), NULL;
  /* Alias, group and kind are what we need; skip the statistics. */
  if (name)
    NLA_PUT_STRING (msg, IFLA_IFNAME, name);
  NLA_PUT_U32 (msg, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  if (!anyd_netlink_transact (nl, msg, collect_links, links, name ? name : "link", error))
    return NULL;
  return g_steal_pointer (&links);

nla_put_failure:
  nlmsg_free (msg);
  return anyd_netlink_build_failed (error, "link", -NLE_NOMEM), NULL;
}

int
anyd_netlink_link_index (AnydNetlink *nl, const char *name, GError **error)
{
  g_autoptr(GPtrArray) links = NULL;
  g_autoptr(GError) local = NULL;

  if (name == NULL || *name == '\0' || strlen (name) >= IFNAMSIZ)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no network interface '%s'", name ? name : "");
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
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no network interface '%s'", name);
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
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no network interface with index %d", ifindex);
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
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no network interface with index %d", ifindex);
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
    return anyd_netlink_build_failed (error, "link", err);
  if (!anyd_netlink_transact (nl, msg, NULL, NULL, change->mtu ? "mtu" : "link", &local))
    {
      /* EINVAL on a change that carries an MTU is the MTU's range. */
      if (change->mtu && g_error_matches (local, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT))
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                       "mtu: %u is out of range for this device: %s", change->mtu,
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
    {
      g_set_error_literal (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "mtu: must not be 0");
      return FALSE;
    }
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
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no network interface with index %d", ifindex);
      return FALSE;
    }
  msg = delete_msg (ifindex, 0);
  if (msg == NULL)
    return anyd_netlink_build_failed (error, "delete", -NLE_NOMEM);
  return anyd_netlink_transact (nl, msg, NULL, NULL, "delete", error);
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
    {
      g_set_error_literal (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                           "group: group 0 holds every link; refusing to delete it");
      return FALSE;
    }
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
    return anyd_netlink_build_failed (error, "delete", -NLE_NOMEM);
  return delete_result (anyd_netlink_transact (nl, msg, NULL, NULL, "delete", &local), local, error);
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
      anyd_netlink_build_failed (&local, "delete", -NLE_NOMEM);
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

