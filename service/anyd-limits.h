/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* (Not "limits.h": service/ is on the include path, and that name is the C
 * library's.) Per-uid quotas on live resources ([limits]), so one tenant cannot exhaust
 * the daemon for the others. Modules count what a uid holds:
 *   anyd_limits_acquire (limits, uid, "tun", &error)   before creating one
 *   anyd_limits_release (limits, uid, "tun")           when it is gone
 * "vault" counts against max_vault_entries_per_uid, every other module
 * (tun, vpn, exec) against the shared max_resources_per_uid. Root is exempt
 * (never refused, never counted). The per-uid call rate of the same group
 * is the gate's (service/auth/throttle.c). */
#pragma once
#include <gio/gio.h>
#include "config.h"

G_BEGIN_DECLS

typedef struct _AnydLimits AnydLimits;

extern const AnydConfigKey anyd_limits_config_keys[];

AnydLimits *anyd_limits_new (AnydConfig *config);
void        anyd_limits_free (AnydLimits *limits);
/* A new configuration: what uids hold stays; only new acquisitions see the
 * new quotas. */
void        anyd_limits_set_config (AnydLimits *limits, AnydConfig *config);

/* One more resource of module for uid, or FALSE with org.anyd1.Error.Busy
 * naming the quota (audited once per burst: until the uid drops below it). */
gboolean    anyd_limits_acquire (AnydLimits *limits, guint32 uid, const char *module, GError **error);
/* Whether acquire would succeed, without counting (for a creation that
 * counts later, e.g. in the object's constructor through charge). */
gboolean    anyd_limits_check (AnydLimits *limits, guint32 uid, const char *module, GError **error);
/* Count a resource that exists already (found at start): never refused. */
void        anyd_limits_charge (AnydLimits *limits, guint32 uid, const char *module);
void        anyd_limits_release (AnydLimits *limits, guint32 uid, const char *module);
/* What uid holds against module's quota. */
guint       anyd_limits_count (AnydLimits *limits, guint32 uid, const char *module);

G_END_DECLS
