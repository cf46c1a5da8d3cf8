/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the rtnl*.c files only. */
#pragma once
#include "rtnl.h"

#include <netlink/netlink.h>

G_BEGIN_DECLS

typedef struct _AnydNetlinkEvents AnydNetlinkEvents;

struct _AnydNetlink {
  gint               ref_count;
  struct nl_sock    *sk;          /* requests */
  struct nl_cb      *tx_cb;       /* callbacks for one request/ack exchange */
  struct nl_sock    *slow_sk;     /* link deletions, from worker threads (slow_lock) */
  struct nl_cb      *slow_cb;
  GMutex             slow_lock;
  AnydNetlinkEvents *events;      /* notifications, NULL until the first subscribe */
};

typedef void (*AnydNetlinkCollectFunc) (struct nl_object *obj, gpointer data);

/* One request/ack (or dump) exchange on nl's request socket; msg is
 * consumed; collect sees each reply object. Errors start with field. */
gboolean anyd_netlink_transact (AnydNetlink *nl, struct nl_msg *msg, AnydNetlinkCollectFunc collect,
                                gpointer data, const char *field, GError **error);
/* A libnl error while building a request (out of memory, bad object). */
gboolean anyd_netlink_build_failed (GError **error, const char *field, int err);

/* rtnl-events.c: called by the last unref. */
void     anyd_netlink_events_free (AnydNetlinkEvents *events);

G_END_DECLS
