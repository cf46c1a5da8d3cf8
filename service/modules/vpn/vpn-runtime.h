/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-runtime: the runtime record of a live connection (see vpn-runtime.c). */
#pragma once

#include <glib.h>
#include "netlink.h"

G_BEGIN_DECLS

/* The record format this anyd writes; any other is refused when read. */
#define VPN_RUNTIME_VERSION 1
/* File name suffix under <runtime dir>/vpn/. */
#define VPN_RUNTIME_SUFFIX ".conn"

typedef struct {
  char      *profile;        /* profile name */
  char      *profile_hash;   /* vpn_config_hash() of the configuration it came up with */
  guint      object;         /* n of /org/anyd1/vpn/connections/<n> */
  char      *ifname;
  int        ifindex;
  char      *unit;           /* the data plane's unit: always vpn_unit_name (profile) */
  char      *invocation_id;  /* of that unit, 32 hex digits */
  char      *uapi_path;
  guint32    fwmark;         /* 0: none */
  guint32    policy_table;   /* full tunnel's table, 0: none */
  GArray    *rules;          /* AnydRule, as added (priority 0: the kernel's pick) */
  GPtrArray *routes;         /* char *, anyd_netlink_route_list()'s canonical text */
  GPtrArray *dns_servers;    /* char * */
  GPtrArray *dns_search;     /* char * */
  gboolean   dns_applied;
  gboolean   kicked;         /* peers still have the first-handshake keepalive */
  gboolean   has_endpoint;   /* some peer has an endpoint (we call out) */
  guint32    max_keepalive;  /* the largest PersistentKeepalive of the profile's peers */
  guint64    since;          /* µs since the epoch: connected since */
  gint64     uid;            /* who connected, -1: the daemon (autoconnect) */
} VpnRuntime;

VpnRuntime *vpn_runtime_new (void);
void        vpn_runtime_free (VpnRuntime *rt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VpnRuntime, vpn_runtime_free)

/* GKeyFile text of a record. */
char       *vpn_runtime_format (const VpnRuntime *rt, gsize *len);
/* A record, every field checked (names, numbers, the unit belonging to the
 * profile); anything else is ANYD_ERROR_FAILED saying what. */
VpnRuntime *vpn_runtime_parse (const char *data, gsize len, GError **error);

/* "anyd-vpn-<profile, escaped as systemd-escape does>.service" */
char       *vpn_unit_name (const char *profile);

/* Atomic (temp + fsync + rename), 0600, in dir (0700, made if missing). */
gboolean    vpn_runtime_save (const char *dir, const VpnRuntime *rt, GError **error);
gboolean    vpn_runtime_remove (const char *dir, const char *profile, GError **error);

G_END_DECLS
