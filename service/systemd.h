/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AnydSystemd: anyd's one client of systemd's manager (org.freedesktop.systemd1)
 * on the system bus, for every module that needs units (services, exec,
 * files, the VPN data planes).
 *
 * Use:
 *   sd = anyd_systemd_new (bus, &callbacks_or_NULL, data);
 *   // jobs: answer when systemd's JobRemoved says the job is over
 *   anyd_systemd_run_job_async (sd, "nginx.service", "restart", cb, data);
 *   // a transient unit, fds passed as 'h' indices into fds (a{sv} props as a(sv))
 *   id = anyd_systemd_watch_properties (sd, unit, on_props, data, NULL); // before starting
 *   anyd_systemd_start_transient_async (sd, unit, props, fds, cb, data);
 *   anyd_systemd_kill_unit_async (sd, unit, SIGTERM, cb, data);
 *   anyd_systemd_get_properties_async (sd, unit, iface, names, cb, data);
 *   anyd_systemd_free (sd);
 *
 * Everything is asynchronous (GTask); nothing blocks the main loop. The
 * manager is subscribed to (Subscribe) whenever it appears on the bus, so
 * it sends PropertiesChanged and UnitNew/UnitRemoved. Failures come back in
 * the ANYD_ERROR domain: Disabled (no systemd on the bus), NotFound (no
 * such unit), NotSupported (job type not applicable), Exists (a transient
 * unit of that name is already loaded), Timeout, Failed otherwise. The
 * *_finish functions accept sd == NULL. */
#pragma once
#include <gio/gio.h>
#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

typedef struct _AnydSystemd AnydSystemd;

typedef struct {
  /* The manager appeared on the bus (also on a restart of systemd). */
  void (*appeared)     (gpointer user_data);
  /* A unit watched with anyd_systemd_watch_unit changed its
   * ActiveState/SubState (deduplicated). */
  void (*unit_changed) (const char *unit, const char *active_state, const char *sub_state,
                        gpointer user_data);
  /* systemd loaded (removed == FALSE) or unloaded a unit (UnitNew/UnitRemoved). */
  void (*unit_new)     (const char *unit, gboolean removed, gpointer user_data);
} AnydSystemdCallbacks;

/* Watches the manager's name, subscribes whenever it appears and listens
 * for JobRemoved once for all jobs. callbacks may be NULL. */
AnydSystemd *anyd_systemd_new (GDBusConnection *bus, const AnydSystemdCallbacks *callbacks,
                               gpointer user_data);
/* Fails every job still waiting ("anyd is stopping"), drops subscriptions,
 * watches (their destroy notifies run) and callbacks, then releases; calls
 * in flight finish against the released object harmlessly. */
void         anyd_systemd_free (AnydSystemd *sd);

/* Queue a start/stop/restart/reload job (mode "replace") and complete when
 * systemd reports it removed: "done" is success; any other result is
 * Failed naming systemd's result and the unit's ActiveState, SubState and
 * Result. At most a bounded number of job calls are in flight at once (the
 * bus limits pending replies per connection); the rest wait their turn. */
void         anyd_systemd_run_job_async (AnydSystemd *sd, const char *unit, const char *verb,
                                         GAsyncReadyCallback callback, gpointer user_data);
gboolean     anyd_systemd_run_job_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* StartTransientUnit (unit, "fail", properties, []) with fds as the
 * message's fd list (properties of type 'h' index into it; NULL: none).
 * properties is an a(sv), floating references are sunk. Completes like a
 * start job: when its JobRemoved arrived. On a job result other than
 * "done" the error is Failed and *job_result (if non-NULL) is systemd's
 * result string ("failed", "timeout", …), so the caller can read the
 * unit's properties (ExecMainStatus…) to say why.
 * fds is referenced only until the message is sent: drop your own
 * reference right after this call and the fds are closed once written. */
void         anyd_systemd_start_transient_async (AnydSystemd *sd, const char *unit,
                                                 GVariant *properties, GUnixFDList *fds,
                                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean     anyd_systemd_start_transient_finish (AnydSystemd *sd, GAsyncResult *result,
                                                  char **job_result, GError **error);

/* KillUnit (unit, "all", signal): every process of the unit. */
void         anyd_systemd_kill_unit_async (AnydSystemd *sd, const char *unit, int signal,
                                           GAsyncReadyCallback callback, gpointer user_data);
/* RefUnit / UnrefUnit: keep a unit loaded (an exited one with its
 * ExecMain* status) while anyd's bus connection holds the reference. */
void         anyd_systemd_ref_unit_async (AnydSystemd *sd, const char *unit, gboolean ref,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* Finish for kill_unit and ref_unit. */
gboolean     anyd_systemd_call_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* a{sv}: ActiveState s, SubState s, LoadState s, MainPID u, Result s,
 * Since t (StateChangeTimestamp, µs since the epoch). NotFound when systemd
 * knows no such unit. */
void         anyd_systemd_get_status_async (AnydSystemd *sd, const char *unit,
                                            GAsyncReadyCallback callback, gpointer user_data);
GVariant    *anyd_systemd_get_status_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* Properties names (NULL-terminated) of one interface of a unit's object
 * (iface NULL: the unit type's own, e.g. org.freedesktop.systemd1.Service),
 * read with parallel Gets. a{sv} of every property systemd answered;
 * NotFound when the unit is not loaded. */
void         anyd_systemd_get_properties_async (AnydSystemd *sd, const char *unit,
                                                const char *iface, const char *const *names,
                                                GAsyncReadyCallback callback, gpointer user_data);
GVariant    *anyd_systemd_get_properties_finish (AnydSystemd *sd, GAsyncResult *result,
                                                 GError **error);

/* Names of loaded units matching the fnmatch patterns (ListUnitsByPatterns). */
void         anyd_systemd_list_units_async (AnydSystemd *sd, const char *const *patterns,
                                            GAsyncReadyCallback callback, gpointer user_data);
char       **anyd_systemd_list_units_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* Every PropertiesChanged of the unit's object (any interface): changed is
 * the signal's a{sv}, invalidated its as. Install it before starting the
 * unit and nothing is missed. Returns a watch id, 0 when over the cap on
 * match rules (the bus limits them per connection; the cap is shared by
 * every watch of anyd). */
typedef void (*AnydSystemdPropertiesFunc) (const char *unit, const char *iface, GVariant *changed,
                                           const char *const *invalidated, gpointer user_data);
guint        anyd_systemd_watch_properties (AnydSystemd *sd, const char *unit,
                                            AnydSystemdPropertiesFunc func, gpointer user_data,
                                            GDestroyNotify notify);
void         anyd_systemd_unwatch_properties (AnydSystemd *sd, guint id);

/* State watches for callbacks->unit_changed: PropertiesChanged of the
 * Unit interface, reduced to ActiveState/SubState changes.
 * announce: the unit may already be changing (systemd just loaded it), so
 * fetch its state once and report it unless it is inactive/dead.
 * Watching a unit twice is a no-op; FALSE when over the cap. */
gboolean     anyd_systemd_watch_unit (AnydSystemd *sd, const char *unit, gboolean announce);
void         anyd_systemd_unwatch_unit (AnydSystemd *sd, const char *unit);
/* Unwatch every state watch for which keep() returns FALSE. */
void         anyd_systemd_unwatch_except (AnydSystemd *sd,
                                          gboolean (*keep) (const char *unit, gpointer data),
                                          gpointer data);

/* The manager's object path of a unit (/org/freedesktop/systemd1/unit/…). */
char        *anyd_systemd_unit_path (const char *unit);
/* The D-Bus interface of a unit's type ("a.service" ->
 * org.freedesktop.systemd1.Service), NULL for types without one. */
const char  *anyd_systemd_unit_type_interface (const char *unit);

G_END_DECLS
