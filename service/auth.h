/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>
#include "caller.h"
#include "config.h"
#include "names.h"

G_BEGIN_DECLS

/* Properties of a row beyond its action. */
typedef enum {
  ANYD_AUTH_RULE_NONE    = 0,
  /* The owner rule: on an object whose owner (anyd_auth_guard_set_owner_func)
   * is another uid, the caller must also be authorized for the row's
   * owner_action (org.anyd1.manage when NULL). */
  ANYD_AUTH_OWNER_MANAGE = 1 << 0,
} AnydAuthRuleFlags;

/* One row of the gate's table: (interface, method) -> polkit action.
 * action NULL = public (no polkit check, still a decision the tests see).
 * Details for polkit rules: detail_key taken from string argument detail_arg,
 * plus static "k=v;k=v" pairs in extra_details; a guard's details func may
 * add or override (e.g. the name of the object a method is called on).
 * New fields are only ever appended, so positional initializers stay valid. */
typedef struct {
  const char *interface;
  const char *method;
  const char *action;
  const char *detail_key;
  gint        detail_arg;      /* -1: none from arguments */
  const char *extra_details;
  guint       flags;           /* AnydAuthRuleFlags */
  const char *owner_action;    /* ANYD_AUTH_OWNER_MANAGE: NULL = org.anyd1.manage */
} AnydAuthRule;

/* The action a row's owner rule asks for on another uid's object. */
static inline const char *
anyd_auth_rule_owner_action (const AnydAuthRule *rule)
{
  return rule->owner_action != NULL ? rule->owner_action : ANYD_ACTION_MANAGE;
}

#define ANYD_AUTH_PUBLIC NULL
#define ANYD_AUTH_RULES_END { NULL, NULL, NULL, NULL, -1, NULL }

typedef struct _AnydAuth AnydAuth;

/* Fill details (char* -> char*, both owned by the table) for a call on skeleton. */
typedef void (*AnydAuthDetailsFunc) (GDBusInterfaceSkeleton *skeleton,
                                     const char             *method,
                                     GVariant               *parameters,
                                     GHashTable             *details,
                                     gpointer                user_data);

/* Called when a method call enters the gate (for idle tracking). */
typedef void (*AnydAuthActivityFunc) (GDBusMethodInvocation *invocation, gpointer user_data);

AnydAuth   *anyd_auth_new (GDBusConnection *bus, AnydConfig *config);
void        anyd_auth_free (AnydAuth *auth);
void        anyd_auth_set_config (AnydAuth *auth, AnydConfig *config);
void        anyd_auth_set_activity_func (AnydAuth *auth, AnydAuthActivityFunc func, gpointer user_data);

/* Register a module's rows ({NULL}-terminated). Duplicate rows are a bug. */
void        anyd_auth_add_rules (AnydAuth *auth, const AnydAuthRule *rules);
const AnydAuthRule *anyd_auth_lookup (AnydAuth *auth, const char *interface, const char *method);

/* The daemon's one NameOwnerChanged dispatcher reports each name that left. */
void        anyd_auth_name_vanished (AnydAuth *auth, const char *name);

/* Send every method call on skeleton through the gate before any handle_*
 * handler can run, whenever handlers are connected (the skeleton's vtable
 * is interposed, not its signals): unmapped methods are refused, public ones
 * pass, the rest wait for an async polkit answer. Handlers find the caller
 * with anyd_caller_from_invocation(). */
void        anyd_auth_guard (AnydAuth *auth, GDBusInterfaceSkeleton *skeleton,
                             AnydAuthDetailsFunc details_func, gpointer user_data);

/* Refuse a call before polkit is asked, for reasons no authorization can
 * change (e.g. a unit outside the services allowlist), so nobody is asked
 * for a password for a call that would be refused anyway. Return FALSE with
 * error set to refuse. Runs only for methods that have a polkit action; the
 * handler must still enforce the same rule (the gate is not its only guard). */
typedef gboolean (*AnydAuthPrecheckFunc) (GDBusInterfaceSkeleton *skeleton,
                                          const char             *method,
                                          GVariant               *parameters,
                                          gpointer                user_data,
                                          GError                **error);
void        anyd_auth_guard_set_precheck (GDBusInterfaceSkeleton *skeleton,
                                          AnydAuthPrecheckFunc func, gpointer user_data);

/* Run the guard's details func and precheck in a worker thread, for ones
 * that read the file system (e.g. resolving a command: a hung NFS or autofs
 * path must not stall the main loop). Both must then be thread-safe; the
 * gate holds ref (user_data of anyd_auth_guard) while they run. The gate's
 * own pool runs at most ANYD_AUTH_PREPARE_THREADS of them at once (hung
 * ones block nothing else); further calls wait, and those of a caller that
 * left the bus are dropped unanswered. */
#define ANYD_AUTH_PREPARE_THREADS 4
void        anyd_auth_guard_set_threaded (GDBusInterfaceSkeleton *skeleton,
                                          GBoxedCopyFunc ref, GDestroyNotify unref);

/* The owner of the object behind skeleton, for rows with
 * ANYD_AUTH_OWNER_MANAGE (e.g. the uid that created a TUN device);
 * ANYD_AUTH_NO_OWNER when there is none (the handler then answers, e.g.
 * NotFound). Call after anyd_auth_guard(). */
#define ANYD_AUTH_NO_OWNER G_MAXUINT32
typedef guint32 (*AnydAuthOwnerFunc) (GDBusInterfaceSkeleton *skeleton, gpointer user_data);
void        anyd_auth_guard_set_owner_func (GDBusInterfaceSkeleton *skeleton,
                                            AnydAuthOwnerFunc func, gpointer user_data);

/* An extra check from inside a handler (e.g. org.anyd1.manage on a resource
 * another uid created). Honors the invocation's interactive flag. */
void        anyd_auth_check_async (AnydAuth *auth, GDBusMethodInvocation *invocation,
                                   const char *action_id, GHashTable *details,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean    anyd_auth_check_finish (AnydAuth *auth, GAsyncResult *result, GError **error);

/* Non-interactive query for GetCallerInfo: "yes", "challenge" or "no". */
void        anyd_auth_query_async (AnydAuth *auth, AnydCaller *caller, const char *action_id,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
const char *anyd_auth_query_finish (AnydAuth *auth, GAsyncResult *result, GError **error);

/* The caller behind a sender (credentials asked once per sender, then cached
 * until the name vanishes). */
void        anyd_auth_get_caller_async (AnydAuth *auth, const char *sender, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
AnydCaller *anyd_auth_get_caller_finish (AnydAuth *auth, GAsyncResult *result, GError **error);

/* Every action id in the table (sorted, no duplicates). */
char      **anyd_auth_list_actions (AnydAuth *auth);

G_END_DECLS

G_BEGIN_DECLS
/* The gate's own configuration keys ([auth]). */
extern const AnydConfigKey anyd_auth_config_keys[];
G_END_DECLS
