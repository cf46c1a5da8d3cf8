/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Text forms of addresses, routes and interface names: strict parsers
 * (fuzzed) shared by the tun and vpn modules and their clients' input. */
#pragma once
#include <glib.h>
#include <sys/socket.h>

G_BEGIN_DECLS

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

/* Syntax of an interface name as AnydTunParams.name takes it ("" allowed,
 * one "%d" allowed). */
gboolean  anyd_ifname_check (const char *name, const char *field, GError **error);

G_END_DECLS
