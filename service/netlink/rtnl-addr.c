/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtnetlink requests for addresses, routes and routing policy rules. */
#include "rtnl-private.h"
#include "error.h"

#include <string.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>

#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/addr.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>

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
    return anyd_netlink_build_failed (error, field ? field : "address", err);
  return anyd_netlink_transact (nl, msg, NULL, NULL, field ? field : "address", error);
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
      return anyd_netlink_build_failed (error, "addresses", -NLE_NOMEM), NULL;
    }
  /* The kernel filters by ifa_index (strict checking); collect_addrs checks again. */
  if (!anyd_netlink_transact (nl, msg, collect_addrs, &ctx, "addresses", error))
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
    return anyd_netlink_build_failed (error, field ? field : "route", err);
  return anyd_netlink_transact (nl, msg, NULL, NULL, field ? field : "route", error);
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
  if (!anyd_netlink_transact (nl, msg, collect_routes, &ctx, "routes", error))
    return NULL;
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_steal (out, NULL);

nla_put_failure:
  nlmsg_free (msg);
  return anyd_netlink_build_failed (error, "routes", -NLE_NOMEM), NULL;
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
  return anyd_netlink_transact (nl, msg, NULL, NULL, field, error);

nla_put_failure:
  nlmsg_free (msg);
  return anyd_netlink_build_failed (error, field, -NLE_NOMEM);
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
      return anyd_netlink_build_failed (error, "rules", -NLE_NOMEM), NULL;
    }
  if (!anyd_netlink_transact (nl, msg, collect_rules, &ctx, "rules", error))
    return NULL;
  return g_steal_pointer (&out);
}

