/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /dev/net/tun: create TUN/TAP devices and hand out their fds. */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

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

G_END_DECLS
