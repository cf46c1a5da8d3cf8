/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small asynchronous client of org.freedesktop.systemd1 over GDBus. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _AnydSystemd AnydSystemd;

typedef struct {
  /* The manager appeared on the bus (also on a restart of systemd). */
  void (*appeared)     (gpointer user_data);
  /* A watched unit's ActiveState/SubState changed (deduplicated). */
  void (*unit_changed) (const char *unit, const char *active_state, const char *sub_state,
                        gpointer user_data);
  /* systemd loaded (removed == FALSE) or unloaded a unit (UnitNew/UnitRemoved). */
  void (*unit_new)     (const char *unit, gboolean removed, gpointer user_data);
} AnydSystemdCallbacks;

/* Watches the manager's name, subscribes to it (Subscribe) whenever it
 * appears, and listens for JobRemoved once for all jobs. */
AnydSystemd *anyd_systemd_new (GDBusConnection *bus, const AnydSystemdCallbacks *callbacks,
                               gpointer user_data);
/* Fails every job still waiting ("anyd is stopping"), drops the
 * subscriptions and callbacks, then releases; in-flight calls finish
 * against the released object harmlessly. */
void         anyd_systemd_free (AnydSystemd *sd);

/* Queue a start/stop/restart/reload job (mode "replace") and complete when
 * systemd reports it removed: "done" is success; any other result is
 * ANYD_ERROR_FAILED with systemd's result and the unit's ActiveState,
 * SubState and Result. Refusals map to NotFound (no such unit),
 * NotSupported (job type not applicable, e.g. reload without ExecReload),
 * Disabled (no systemd on the bus), Failed otherwise. */
void         anyd_systemd_run_job_async (AnydSystemd *sd, const char *unit, const char *verb,
                                         GAsyncReadyCallback callback, gpointer user_data);
gboolean     anyd_systemd_run_job_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* a{sv}: ActiveState s, SubState s, LoadState s, MainPID u, Result s,
 * Since t (StateChangeTimestamp, µs since the epoch). NotFound when systemd
 * knows no such unit. */
void         anyd_systemd_get_status_async (AnydSystemd *sd, const char *unit,
                                            GAsyncReadyCallback callback, gpointer user_data);
GVariant    *anyd_systemd_get_status_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* Names of loaded units matching the fnmatch patterns (ListUnitsByPatterns). */
void         anyd_systemd_list_units_async (AnydSystemd *sd, const char *const *patterns,
                                            GAsyncReadyCallback callback, gpointer user_data);
char       **anyd_systemd_list_units_finish (AnydSystemd *sd, GAsyncResult *result, GError **error);

/* UnitChanged source: PropertiesChanged on the unit's object, matched by path.
 * announce: the unit may already be changing (systemd just loaded it), so
 * fetch its state once and report it unless it is inactive/dead.
 * Watching a unit twice is a no-op; the number of watches is capped (bus
 * match rules are limited per connection), FALSE when over the cap. */
gboolean     anyd_systemd_watch_unit (AnydSystemd *sd, const char *unit, gboolean announce);
void         anyd_systemd_unwatch_unit (AnydSystemd *sd, const char *unit);
/* Unwatch every unit for which keep() returns FALSE. */
void         anyd_systemd_unwatch_except (AnydSystemd *sd,
                                          gboolean (*keep) (const char *unit, gpointer data),
                                          gpointer data);

/* The manager's object path of a unit (/org/freedesktop/systemd1/unit/…). */
char        *anyd_systemd_unit_path (const char *unit);

G_END_DECLS
