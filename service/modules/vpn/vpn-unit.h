/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-unit: what the data planes that run as a transient systemd unit
 * (wireguard-go, v2ray) share: the tunnel's common fields and reference
 * count, the watch that turns the unit's end into the tunnel's exited
 * callback, and stopping the unit until systemd has unloaded it. */
#pragma once

#include "vpn-backend.h"

G_BEGIN_DECLS

typedef struct _VpnUnitPlane VpnUnitPlane;

/* How one backend differs. */
typedef struct {
  const char *program;                 /* names the data plane in exit reasons */
  gboolean    reason_has_result;       /* exit reasons name the unit's Result */
  gboolean    log_by_ifname;           /* the end is logged by interface, else by unit */
  gboolean    wait_after_failed_stop;  /* a failed stop job still waits for the unload */
  void      (*free_fields) (VpnUnitPlane *plane);  /* the backend's own fields, not the struct */
} VpnUnitPlaneKind;

/* The start of each such backend's tunnel. */
struct _VpnUnitPlane {
  VpnTunnel               base;
  const VpnUnitPlaneKind *kind;
  gint                    ref_count;
  gboolean                destroyed;     /* destroyed or released: report nothing more */
  gboolean                ready;         /* handed to the caller: exits are reported */
  gboolean                started;       /* seen activating/active: an inactive unit now has ended */
  AnydSystemd            *systemd;
  GDBusConnection        *bus;
  guint                   watch_id;
  char                   *exit_reason;   /* from the unit's properties, once it stopped */
  gint                    exec_code;     /* ExecMainCode: CLD_EXITED 1, CLD_KILLED 2, CLD_DUMPED 3 */
  gint                    exec_status;
  char                   *result;        /* Result */
};

/* p is zeroed memory of the backend's struct (reference count 1 after). */
void          vpn_unit_plane_init (VpnUnitPlane *p, const VpnUnitPlaneKind *kind, const VpnBackend *backend,
                                   const VpnBackendEnv *env, const char *unit,
                                   VpnTunnelExitedFunc exited, gpointer exited_data);
VpnUnitPlane *vpn_unit_plane_ref (VpnUnitPlane *p);
void          vpn_unit_plane_unref (VpnUnitPlane *p);

/* Watch the unit's properties (before it starts); unwatch stops that. */
void          vpn_unit_plane_watch (VpnUnitPlane *p);
void          vpn_unit_plane_unwatch (VpnUnitPlane *p);

/* Ask systemd to look at the unit for collection again. */
void          vpn_unit_plane_nudge_collection (VpnUnitPlane *p);

/* Stop the unit and complete once systemd unloaded it (its name is free
 * again), or after a while; never fails.  Holds its own reference. */
void          vpn_unit_plane_stop_async (VpnUnitPlane *p, GAsyncReadyCallback callback, gpointer user_data);
gboolean      vpn_unit_plane_stop_finish (GAsyncResult *result, GError **error);

/* One (sv) of a transient unit's properties. */
void          vpn_unit_add_prop (GVariantBuilder *b, const char *name, GVariant *value);
/* The sandbox every data plane runs in: no new privileges, read-only system,
 * no home, private tmp and devices, kernel tunables and cgroups read-only,
 * no namespaces, IP/netlink/unix sockets and @system-service calls only,
 * no core dumps. A backend adds what is its own (paths, more protection). */
void          vpn_unit_add_sandbox (GVariantBuilder *b);

G_END_DECLS
