/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netlink/: thin rtnetlink helpers (libnl-route-3) shared by tun and vpn,
 * in three parts: netlink/cidr.h (address, route and interface-name text),
 * netlink/tundev.h (/dev/net/tun ioctls) and netlink/rtnl.h (the rtnetlink
 * client and its event source). This header includes all three.
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
#include "netlink/cidr.h"
#include "netlink/tundev.h"
#include "netlink/rtnl.h"
