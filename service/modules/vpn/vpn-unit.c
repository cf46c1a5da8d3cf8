/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-unit: the transient-unit part of the wireguard-go and v2ray data
 * planes.  The unit's end is seen through its properties (ActiveState, and
 * ExecMainCode/ExecMainStatus/Result for the reason), not SIGCHLD: the data
 * plane is systemd's child, never anyd's. */
#include "anyd-build-config.h"
#include "vpn-unit.h"

#include <errno.h>
#include <string.h>

#include "error.h"

#define UNLOAD_WAIT_MS   5000
#define UNLOAD_POLL_MS   50

void
vpn_unit_plane_init (VpnUnitPlane *p, const VpnUnitPlaneKind *kind, const VpnBackend *backend,
                     const VpnBackendEnv *env, const char *unit, VpnTunnelExitedFunc exited, gpointer exited_data)
{
  p->kind = kind;
  p->ref_count = 1;
  p->base.backend = backend;
  p->base.unit = g_strdup (unit);
  p->base.exited = exited;
  p->base.exited_data = exited_data;
  p->systemd = env->systemd;
  p->bus = g_object_ref (env->bus);
  p->exec_code = -1;
}

VpnUnitPlane *
vpn_unit_plane_ref (VpnUnitPlane *p)
{
  g_atomic_int_inc (&p->ref_count);
  return p;
}

void
vpn_unit_plane_unref (VpnUnitPlane *p)
{
  if (p == NULL || !g_atomic_int_dec_and_test (&p->ref_count))
    return;
  g_free (p->base.ifname);
  g_free (p->base.unit);
  g_free (p->base.invocation_id);
  g_free (p->base.uapi_path);
  g_free (p->exit_reason);
  g_free (p->result);
  g_clear_object (&p->bus);
  if (p->kind->free_fields)
    p->kind->free_fields (p);
  g_free (p);
}

void
vpn_unit_plane_unwatch (VpnUnitPlane *p)
{
  if (p->watch_id != 0)
    anyd_systemd_unwatch_properties (p->systemd, p->watch_id);
  p->watch_id = 0;
}

static char *
describe_exit (VpnUnitPlane *p, const char *state)
{
  const char *program = p->kind->program;
  const char *result = p->result ? p->result : "unknown";

  if (p->exec_code == 2 || p->exec_code == 3)
    return g_strdup_printf ("%s was killed by signal %d (%s)", program, p->exec_status,
                            g_strsignal (p->exec_status));
  if (p->exec_code == 1)
    return p->kind->reason_has_result
           ? g_strdup_printf ("%s exited with status %d (unit %s, result %s)", program, p->exec_status,
                              p->base.unit, result)
           : g_strdup_printf ("%s exited with status %d (unit %s)", program, p->exec_status, p->base.unit);
  return p->kind->reason_has_result
         ? g_strdup_printf ("%s's unit %s is %s (result %s)", program, p->base.unit, state, result)
         : g_strdup_printf ("%s's unit %s is %s", program, p->base.unit, state);
}

/* Every PropertiesChanged of the unit: note the exit status, and report
 * the end once the unit is no longer active. */
static void
unit_properties_cb (const char *unit, const char *iface, GVariant *changed, const char *const *invalidated,
                    gpointer user_data)
{
  VpnUnitPlane *p = user_data;
  const char *state = NULL, *result = NULL;
  gint32 v;

  if (p->destroyed)
    return;
  if (g_variant_lookup (changed, "ExecMainCode", "i", &v))
    p->exec_code = v;
  if (g_variant_lookup (changed, "ExecMainStatus", "i", &v))
    p->exec_status = v;
  if (g_variant_lookup (changed, "Result", "&s", &result))
    {
      g_free (p->result);
      p->result = g_strdup (result);
    }
  if (!g_variant_lookup (changed, "ActiveState", "&s", &state))
    return;
  if (g_str_equal (state, "active") || g_str_equal (state, "activating") || g_str_equal (state, "reloading"))
    {
      p->started = TRUE;
      return;
    }
  /* a new transient unit is loaded inactive before it starts */
  if (!p->started || p->exit_reason != NULL)
    return;
  p->exit_reason = describe_exit (p, state);
  if (!p->ready)
    return;   /* create/adopt report it */
  g_message ("vpn: %s: %s", p->kind->log_by_ifname ? p->base.ifname : p->base.unit, p->exit_reason);
  vpn_unit_plane_unwatch (p);
  if (p->base.exited)
    p->base.exited (&p->base, p->exit_reason, p->base.exited_data);
}

void
vpn_unit_plane_watch (VpnUnitPlane *p)
{
  p->watch_id = anyd_systemd_watch_properties (p->systemd, p->base.unit, unit_properties_cb,
                                               vpn_unit_plane_ref (p), (GDestroyNotify) vpn_unit_plane_unref);
}

void
vpn_unit_add_prop (GVariantBuilder *b, const char *name, GVariant *value)
{
  g_variant_builder_add (b, "(sv)", name, value);
}

void
vpn_unit_add_sandbox (GVariantBuilder *b)
{
  const char *families[] = { "AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6", NULL };
  const char *syscalls[] = { "@system-service", NULL };
  const char *archs[] = { "native", NULL };

  vpn_unit_add_prop (b, "NoNewPrivileges", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "RestrictSUIDSGID", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "ProtectSystem", g_variant_new_string ("strict"));
  vpn_unit_add_prop (b, "ProtectHome", g_variant_new_string ("yes"));
  vpn_unit_add_prop (b, "PrivateTmp", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "PrivateDevices", g_variant_new_boolean (TRUE));
  /* uid 0 may write these files whatever its capabilities */
  vpn_unit_add_prop (b, "ProtectKernelTunables", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "ProtectControlGroups", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "ProtectClock", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "RestrictNamespaces", g_variant_new_uint64 (0));
  vpn_unit_add_prop (b, "LockPersonality", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "RestrictRealtime", g_variant_new_boolean (TRUE));
  vpn_unit_add_prop (b, "RestrictAddressFamilies", g_variant_new ("(b^as)", TRUE, families));
  vpn_unit_add_prop (b, "SystemCallFilter", g_variant_new ("(b^as)", TRUE, syscalls));
  vpn_unit_add_prop (b, "SystemCallErrorNumber", g_variant_new_int32 (EPERM));
  vpn_unit_add_prop (b, "SystemCallArchitectures", g_variant_new_strv (archs, -1));
  vpn_unit_add_prop (b, "UMask", g_variant_new_uint32 (0077));
  vpn_unit_add_prop (b, "LimitCORE", g_variant_new_uint64 (0));
  vpn_unit_add_prop (b, "LimitCORESoft", g_variant_new_uint64 (0));
}

static void
nudged_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  anyd_systemd_call_finish (NULL, res, &error);
}

/* A stopped transient unit is unloaded once systemd sees its cgroup empty,
 * which may be a moment after the stop job ended; its name is taken until
 * then.  Ref+Unref makes systemd look at it for collection again. */
void
vpn_unit_plane_nudge_collection (VpnUnitPlane *p)
{
  anyd_systemd_ref_unit_async (p->systemd, p->base.unit, TRUE, nudged_cb, NULL);
  anyd_systemd_ref_unit_async (p->systemd, p->base.unit, FALSE, nudged_cb, NULL);
}

typedef struct {
  VpnUnitPlane *plane;
  gint64        deadline;  /* for the unit to be unloaded */
  guint         timer;
} Stop;

static void
stop_free (Stop *s)
{
  g_clear_handle_id (&s->timer, g_source_remove);
  vpn_unit_plane_unref (s->plane);
  g_free (s);
}

static void
stop_done (GTask *task)
{
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void unloaded_check (GTask *task);

static gboolean
unloaded_poll_cb (gpointer data)
{
  GTask *task = data;
  Stop *s = g_task_get_task_data (task);

  s->timer = 0;
  unloaded_check (task);
  return G_SOURCE_REMOVE;
}

static void
unloaded_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Stop *s = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (NULL, res, &error);

  /* NotFound: unloaded, the name is free for the next connection */
  if (status == NULL || g_get_monotonic_time () > s->deadline)
    {
      if (status != NULL)
        g_debug ("vpn: %s is still loaded after its stop", s->plane->base.unit);
      stop_done (task);
      return;
    }
  vpn_unit_plane_nudge_collection (s->plane);
  s->timer = g_timeout_add (UNLOAD_POLL_MS, unloaded_poll_cb, task);
}

static void
unloaded_check (GTask *task)
{
  Stop *s = g_task_get_task_data (task);

  anyd_systemd_get_status_async (s->plane->systemd, s->plane->base.unit, unloaded_status_cb, task);
}

/* Stopped; complete once systemd unloaded the unit too (leaving nothing
 * behind, and its name free), or after a while. */
static void
stopped_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Stop *s = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  /* gone already (collected after the data plane exited): that is the goal */
  if (!anyd_systemd_run_job_finish (s->plane->systemd, res, &error) &&
      !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    {
      g_debug ("vpn: stopping %s: %s", s->plane->base.unit, error->message);
      if (!s->plane->kind->wait_after_failed_stop)
        {
          stop_done (task);
          return;
        }
    }
  vpn_unit_plane_nudge_collection (s->plane);
  s->deadline = g_get_monotonic_time () + UNLOAD_WAIT_MS * G_TIME_SPAN_MILLISECOND;
  unloaded_check (task);
}

void
vpn_unit_plane_stop_async (VpnUnitPlane *p, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  Stop *s = g_new0 (Stop, 1);

  g_task_set_source_tag (task, vpn_unit_plane_stop_async);
  s->plane = vpn_unit_plane_ref (p);
  g_task_set_task_data (task, s, (GDestroyNotify) stop_free);
  anyd_systemd_run_job_async (p->systemd, p->base.unit, "stop", stopped_cb, task);
}

gboolean
vpn_unit_plane_stop_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
