/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>
#include "auth.h"
#include "config.h"

G_BEGIN_DECLS

typedef struct _AnydDaemon AnydDaemon;

/* A module: one folder under service/modules/, one of these, nothing shared
 * with other modules. Listed in service/modules/meson.build only. */
typedef struct {
  const char          *name;          /* folder name: tun, vpn, vault, services */
  const AnydConfigKey *config_keys;   /* group = name; {NULL}-terminated, may be NULL.
                                         "[name] enabled" is added by the daemon. */
  const AnydAuthRule  *auth_rules;    /* ANYD_AUTH_RULES_END-terminated */
  /* Semantic checks beyond types (e.g. unit names); on start and on Reload,
   * before anything is applied. May be NULL. */
  gboolean           (*check_config) (AnydConfig *config, GError **error);
  /* Export objects (guarded with anyd_auth_guard), reconcile leftovers.
   * An error makes the daemon refuse to start. */
  gpointer           (*start) (AnydDaemon *daemon, GError **error);
  /* Apply a new, already checked configuration. May be NULL. */
  void               (*reload) (gpointer module, AnydConfig *config);
  /* Tear down non-persistent resources, unexport, free. */
  void               (*stop) (gpointer module);
} AnydModule;

/* Generated from service/modules/meson.build: NULL-terminated. */
extern const AnydModule *const anyd_module_registry[];

G_END_DECLS
