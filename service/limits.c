/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "anyd-limits.h"
#include "audit.h"
#include "error.h"
#include "metrics.h"
#include "names.h"

const AnydConfigKey anyd_limits_config_keys[] = {
  { "limits", "max_resources_per_uid", ANYD_CONFIG_UINT, "64",
    "TUN devices, VPN profiles and exec processes one non-root uid may hold at once (0 = none)" },
  { "limits", "max_vault_entries_per_uid", ANYD_CONFIG_UINT, "1024",
    "vault secrets and keys one non-root uid may have created (0 = none)" },
  { "limits", "calls_per_second_per_uid", ANYD_CONFIG_UINT, "200",
    "gated calls per second one non-root uid may make, with bursts of twice that; over it calls fail with Busy (0 = no limit)" },
  { NULL }
};

enum { QUOTA_RESOURCES, QUOTA_VAULT, N_QUOTAS };

static const char *const quota_names[N_QUOTAS] = { "max_resources_per_uid", "max_vault_entries_per_uid" };

typedef struct {
  guint    held[N_QUOTAS];
  gboolean audited[N_QUOTAS];   /* the current burst of refusals has its record */
} UidUsage;

struct _AnydLimits {
  guint       max[N_QUOTAS];
  GHashTable *uids;             /* uid -> UidUsage* */
};

static guint
quota_of (const char *module)
{
  return g_strcmp0 (module, "vault") == 0 ? QUOTA_VAULT : QUOTA_RESOURCES;
}

AnydLimits *
anyd_limits_new (AnydConfig *config)
{
  AnydLimits *limits = g_new0 (AnydLimits, 1);

  limits->uids = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  anyd_limits_set_config (limits, config);
  return limits;
}

void
anyd_limits_free (AnydLimits *limits)
{
  if (limits == NULL)
    return;
  g_hash_table_unref (limits->uids);
  g_free (limits);
}

void
anyd_limits_set_config (AnydLimits *limits, AnydConfig *config)
{
  limits->max[QUOTA_RESOURCES] = config ? anyd_config_get_uint (config, "limits", "max_resources_per_uid") : 64;
  limits->max[QUOTA_VAULT] = config ? anyd_config_get_uint (config, "limits", "max_vault_entries_per_uid") : 1024;
}

static UidUsage *
usage (AnydLimits *limits, guint32 uid, gboolean create)
{
  UidUsage *u = g_hash_table_lookup (limits->uids, GUINT_TO_POINTER (uid));

  if (u == NULL && create)
    {
      u = g_new0 (UidUsage, 1);
      g_hash_table_insert (limits->uids, GUINT_TO_POINTER (uid), u);
    }
  return u;
}

gboolean
anyd_limits_check (AnydLimits *limits, guint32 uid, const char *module, GError **error)
{
  guint q = quota_of (module);
  UidUsage *u;

  if (uid == 0)
    return TRUE;
  u = usage (limits, uid, FALSE);
  if ((u != NULL ? u->held[q] : 0) < limits->max[q])
    return TRUE;
  u = usage (limits, uid, TRUE);
  anyd_metrics_quota_refused (module);
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_BUSY,
               "%s: uid %u holds %u of at most %u; delete one first",
               quota_names[q], uid, u->held[q], limits->max[q]);
  if (!u->audited[q])
    {
      AnydCaller who = { (char *) "", uid, 0, 1 };
      g_autofree char *message = g_strdup_printf ("%s reached (%u); further refusals are not audited until "
                                                  "the uid holds fewer", quota_names[q], limits->max[q]);
      AnydAuditRecord record = {
        .message_id = ANYD_MSGID_QUOTA,
        .action = module,
        .caller = &who,
        .result = "denied",
        .message = message,
      };
      anyd_audit (&record);
      u->audited[q] = TRUE;
    }
  return FALSE;
}

void
anyd_limits_charge (AnydLimits *limits, guint32 uid, const char *module)
{
  if (uid != 0)
    usage (limits, uid, TRUE)->held[quota_of (module)]++;
}

gboolean
anyd_limits_acquire (AnydLimits *limits, guint32 uid, const char *module, GError **error)
{
  if (!anyd_limits_check (limits, uid, module, error))
    return FALSE;
  anyd_limits_charge (limits, uid, module);
  return TRUE;
}

void
anyd_limits_release (AnydLimits *limits, guint32 uid, const char *module)
{
  guint q = quota_of (module);
  UidUsage *u = uid != 0 ? usage (limits, uid, FALSE) : NULL;

  if (u == NULL)
    return;
  g_return_if_fail (u->held[q] > 0);
  u->held[q]--;
  u->audited[q] = FALSE;   /* below the quota again: a new burst gets a record */
  if (u->held[QUOTA_RESOURCES] == 0 && u->held[QUOTA_VAULT] == 0)
    g_hash_table_remove (limits->uids, GUINT_TO_POINTER (uid));
}

guint
anyd_limits_count (AnydLimits *limits, guint32 uid, const char *module)
{
  UidUsage *u = usage (limits, uid, FALSE);

  return u != NULL ? u->held[quota_of (module)] : 0;
}
