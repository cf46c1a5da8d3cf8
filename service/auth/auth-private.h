/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals of the authorization gate, shared by the files of service/auth/:
 *   auth.c      the AnydAuth object: configuration, the table of rules
 *   guard.c     the gate on each skeleton (vtable interposition)
 *   callers.c   caller identity: credentials, polkit subject, vanished names
 *   cache.c     the decision cache
 *   throttle.c  delayed denials and the per-uid call rate limit
 *   check.c     polkit checks: coalescing, in-flight cap, verdicts, audit */
#pragma once
#include "auth.h"
#include "audit.h"
#include "error.h"
#include "metrics.h"
#include "names.h"

#include <polkit/polkit.h>

G_BEGIN_DECLS

typedef enum {
  VERDICT_ALLOWED,
  VERDICT_DENIED,       /* not authorized, cannot obtain */
  VERDICT_CHALLENGE,    /* would need a password */
  VERDICT_DISMISSED,
  VERDICT_ERROR,        /* no answer from polkit: refused (fail closed) */
} Verdict;

typedef struct _Sender   Sender;
typedef struct _Flight   Flight;
typedef struct _Throttle Throttle;
typedef struct _UidRate  UidRate;

/* How a check's answer reaches whoever asked: error NULL = allowed (owned). */
typedef void (*AnswerFunc) (gpointer data, GError *error);

/* One cached decision, owned by its sender's table. */
typedef struct {
  Sender  *sender;
  char    *key;        /* action + details (anyd_auth_decision_key()) */
  Verdict  verdict;    /* ALLOWED or DENIED only */
  gint64   expires;    /* monotonic µs */
  GList    lru;        /* link in auth->lru; data = this */
} Decision;

/* A caller connection seen by the gate, until its name vanishes. */
struct _Sender {
  AnydCaller    *caller;
  PolkitSubject *subject;    /* what polkit is asked about (make_subject()) */
  GHashTable    *decisions;  /* key -> Decision* */
};

struct _AnydAuth {
  GDBusConnection      *bus;
  PolkitAuthority      *authority;
  AnydConfig           *config;
  GHashTable           *rules;          /* "iface\x1fmethod" -> const AnydAuthRule* */
  GHashTable           *by_info;        /* GDBusInterfaceInfo* -> GHashTable (GDBusMethodInfo* -> rule) */
  GHashTable           *callers;        /* sender -> Sender* */
  GHashTable           *caller_waiters; /* sender -> CredentialsData* (one credentials call per sender) */
  GHashTable           *pending;        /* sender -> GPtrArray of Flight* (checks started or queued) */
  GHashTable           *flights;        /* sender + key -> Flight* that identical checks may join */
  GHashTable           *throttles;      /* uid -> Throttle* */
  GHashTable           *rates;          /* uid -> UidRate* */
  gulong                changed_id;
  gulong                owner_id;
  AnydAuthActivityFunc  activity_func;
  gpointer              activity_data;
  guint                 in_flight;
  guint                 max_in_flight;
  GQueue                queued;         /* Flight* waiting for a slot */
  /* threaded guards' details and prechecks (guard.c) */
  GThreadPool          *prepare_pool;   /* the gate's own, made on first use */
  GQueue                preparing;      /* Prepare* queued or running there */
  /* decision cache */
  GQueue                lru;            /* Decision*, most recently used first */
  guint                 generation;     /* bumped whenever cached answers become stale */
  gint64                ttl_us;         /* 0 = no cache */
  guint                 cache_size;
  /* throttling of denials */
  guint                 deny_burst;
  guint                 deny_rate;      /* 0 = off */
  guint                 n_delayed;      /* replies held back, all uids */
  /* per-uid call rate ([limits]) */
  guint                 call_rate;      /* 0 = off */
  guint                 call_burst;
};

/* auth.c */
const AnydAuthRule *anyd_auth_rule_for (AnydAuth *auth, GDBusInterfaceInfo *info,
                                        GDBusMethodInvocation *invocation);

/* guard.c */
void anyd_auth_prepare_forget_sender (AnydAuth *auth, const char *sender);
void anyd_auth_prepare_free (AnydAuth *auth);

/* callers.c */
Sender  *anyd_auth_sender (AnydAuth *auth, const char *name);
void     anyd_auth_sender_free (Sender *s);
void     anyd_auth_callers_vanished (AnydAuth *auth, const char *name);
gboolean anyd_auth_connected (AnydAuth *auth, AnydCaller *caller);
PolkitSubject *anyd_auth_subject (AnydAuth *auth, AnydCaller *caller);

/* cache.c */
#define ANYD_AUTH_MAX_DETAILS 8   /* details sorted on the stack; more take an allocation */
const char **anyd_auth_sorted_keys (GHashTable *details, const char **stack, guint max, guint *n);
char     *anyd_auth_decision_key (const char *action_id, GHashTable *details);
Decision *anyd_auth_cache_lookup (AnydAuth *auth, Sender *sender, const char *key);
void      anyd_auth_cache_insert (AnydAuth *auth, Sender *sender, const char *key, Verdict verdict);
void      anyd_auth_cache_clear (AnydAuth *auth, const char *why, gboolean quiet_if_empty);
void      anyd_auth_cache_forget (AnydAuth *auth, Sender *sender);
gboolean  anyd_auth_cacheable (Verdict verdict, gboolean interactive, PolkitAuthorizationResult *result);

/* throttle.c */
void      anyd_auth_throttle_free (Throttle *t);
gint64    anyd_auth_throttle_take (AnydAuth *auth, guint32 uid, gint64 now);
void      anyd_auth_throttle_delay (AnydAuth *auth, AnydCaller *caller, const char *action_id,
                                    gint64 release, AnswerFunc func, gpointer data, GError *error);
void      anyd_auth_throttle_forget_sender (AnydAuth *auth, const char *sender);
gboolean  anyd_auth_rate_take (AnydAuth *auth, AnydCaller *caller, const char *action_id,
                               const char *object, GError **error);

/* check.c */
void      anyd_auth_check_full (AnydAuth *auth, AnydCaller *caller, const char *action_id,
                                GHashTable *details, gboolean interactive, const char *object,
                                gboolean audit, GCancellable *cancellable, AnswerFunc func, gpointer data);
void      anyd_auth_flights_cancel (AnydAuth *auth, const char *sender);
void      anyd_auth_audit_decision (AnydCaller *caller, const char *action_id, GHashTable *details,
                                    const char *object, Verdict verdict, const char *message);
gboolean  anyd_auth_invocation_is_interactive (GDBusMethodInvocation *invocation);

G_END_DECLS
