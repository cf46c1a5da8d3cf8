/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>
#include "auth.h"
#include "config.h"
#include "anyd-limits.h"
#include "module.h"

G_BEGIN_DECLS

typedef struct {
  char    *config_dir;       /* default ANYD_SYSCONFDIR */
  char    *state_dir;        /* default $STATE_DIRECTORY or ANYD_STATEDIR */
  char    *runtime_dir;      /* default $RUNTIME_DIRECTORY or ANYD_RUNTIMEDIR */
  gint     idle_timeout_s;   /* -1 = from config */
  gboolean replace;
} AnydDaemonOptions;

AnydDaemon *anyd_daemon_new (const AnydDaemonOptions *options, GError **error);
/* Connect, start modules, own the name, run until SIGTERM/SIGINT or idle. */
int         anyd_daemon_run (AnydDaemon *daemon);
void        anyd_daemon_free (AnydDaemon *daemon);

/* For modules. */
GDBusConnection          *anyd_daemon_get_connection (AnydDaemon *daemon);
GDBusObjectManagerServer *anyd_daemon_get_object_manager (AnydDaemon *daemon);
AnydConfig               *anyd_daemon_get_config (AnydDaemon *daemon);
AnydAuth                 *anyd_daemon_get_auth (AnydDaemon *daemon);
/* Per-uid quotas: anyd_limits_acquire/release (limits.h). */
AnydLimits               *anyd_daemon_get_limits (AnydDaemon *daemon);
const char               *anyd_daemon_get_runtime_dir (AnydDaemon *daemon);
/* state_dir/<sub>, created 0700 if missing; NULL + error if it can't be. */
char                     *anyd_daemon_get_state_subdir (AnydDaemon *daemon, const char *sub, GError **error);

/* Live resources (devices, tunnels, children) keep the daemon from idle exit. */
void        anyd_daemon_hold (AnydDaemon *daemon);
void        anyd_daemon_release (AnydDaemon *daemon);

/* Called once when a bus name disappears (one NameOwnerChanged match for all). */
typedef void (*AnydNameVanishedFunc) (const char *name, gpointer user_data);
guint       anyd_daemon_watch_name (AnydDaemon *daemon, const char *name,
                                    AnydNameVanishedFunc func, gpointer user_data,
                                    GDestroyNotify notify);
void        anyd_daemon_unwatch_name (AnydDaemon *daemon, guint watch_id);

G_END_DECLS

G_BEGIN_DECLS
/* The full key schema: daemon, auth, "[module] enabled", every module's keys. */
const AnydConfigKey *const *anyd_daemon_config_schema (void);
/* A commented example configuration with every key and its default. */
char       *anyd_daemon_print_config (void);
/* Load and check a configuration directory as the daemon would. */
AnydConfig *anyd_daemon_load_config (const char *dir, GError **error);
G_END_DECLS

G_BEGIN_DECLS
/* Every authorization table the daemon registers (Manager's and each
 * module's), NULL-terminated: the gate's whole table, for tests. */
const AnydAuthRule *const *anyd_daemon_auth_tables (void);
G_END_DECLS
