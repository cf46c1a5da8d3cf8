/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one authorization gate: every exported method passes here first.
 *
 * anyd_auth_guard() puts a closure in front of every handle-* signal of a
 * generated skeleton. The closure stops the emission, looks the (interface,
 * method) up in the table, resolves the caller's credentials, asks polkit
 * asynchronously, and only then re-dispatches the call through the
 * skeleton's vtable with a mark on the invocation, so the module's handler
 * runs on the main thread and only for authorized calls. Unlike
 * ::g-authorize-method this needs no worker thread per call.
 *
 * Call-path performance (asking polkit costs 2-4 ms and polkitd is one
 * process for the whole system):
 *  - decision cache keyed by (sender, action, details). A unique bus name is
 *    never reused while the bus runs and a connection's credentials cannot
 *    change, so an entry is about one fixed subject. Only answers that do
 *    not stem from a one-shot password prompt are kept (see cacheable()),
 *    every entry expires after [auth] cache_ttl_ms, and all of them go when
 *    polkit says its rules, actions or sessions changed or polkitd restarts.
 *    A call whose decision is cached runs its handler in the same emission,
 *    without a main loop round trip.
 *  - identical non-interactive checks in flight are coalesced into one
 *    polkit call; different keys run in parallel up to the in-flight cap.
 *  - an interactive call first asks without interaction (cacheable, and the
 *    same answer polkit would give unless it is "needs a password") and only
 *    on a challenge asks again with interaction, never coalesced: each
 *    password prompt is for exactly one call.
 *  - refusals are throttled per uid (token bucket): a flooding caller gets
 *    its NotAuthorized replies at [auth] deny_rate per second, so it cannot
 *    keep the bus and anyd busy for everyone else; allowed calls never wait.
 */
#include "anyd-build-config.h"
#include "auth.h"
#include "audit.h"
#include "error.h"
#include "names.h"

#include <polkit/polkit.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MARK_AUTHORIZED "anyd-authorized"
#define MARK_CALLER     "anyd-caller"

/* A long throttled burst still leaves a trace this often. */
#define THROTTLE_SUMMARY_INTERVAL_US (60 * G_USEC_PER_SEC)

const AnydConfigKey anyd_auth_config_keys[] = {
  { "auth", "max_checks_in_flight", ANYD_CONFIG_UINT, "64",
    "polkit checks the gate runs at once; further checks wait in a queue (the bus allows 128 pending replies)", 128 },
  { "auth", "cache_ttl_ms", ANYD_CONFIG_UINT, "5000",
    "how long a polkit decision for one caller connection, action and details is reused; 0 disables the cache", 3600000 },
  { "auth", "cache_size", ANYD_CONFIG_UINT, "4096",
    "most decisions kept in the cache; the least recently used go first", 1000000 },
  { "auth", "deny_burst", ANYD_CONFIG_UINT, "20",
    "refusals one uid gets at once before further refusals are delayed", 100000 },
  { "auth", "deny_rate", ANYD_CONFIG_UINT, "10",
    "refusals per second one uid gets once its burst is used up; 0 disables throttling", 100000 },
  { NULL }
};

typedef enum {
  VERDICT_ALLOWED,
  VERDICT_DENIED,       /* not authorized, cannot obtain */
  VERDICT_CHALLENGE,    /* would need a password */
  VERDICT_DISMISSED,
  VERDICT_ERROR,        /* no answer from polkit: refused (fail closed) */
} Verdict;

static const char *const verdict_names[] = { "allowed", "denied", "challenge", "dismissed", "denied" };

typedef struct _Sender Sender;
typedef struct _Flight Flight;
typedef struct _Throttle Throttle;

/* One cached decision, owned by its sender's table. */
typedef struct {
  Sender  *sender;
  char    *key;        /* action + details (decision_key()) */
  Verdict  verdict;    /* ALLOWED or DENIED only */
  gint64   expires;    /* monotonic µs */
  GList    lru;        /* link in auth->lru; data = this */
} Decision;

/* A caller connection seen by the gate, until its name vanishes. */
struct _Sender {
  AnydCaller *caller;
  guint64     start_time;   /* of caller->pid, 0 = unknown (see make_subject()) */
  GHashTable *decisions;    /* key -> Decision* */
};

struct _AnydAuth {
  GDBusConnection      *bus;
  PolkitAuthority      *authority;
  AnydConfig           *config;
  GHashTable           *rules;          /* "iface\x1fmethod" -> const AnydAuthRule* */
  GHashTable           *callers;        /* sender -> Sender* */
  GHashTable           *caller_waiters; /* sender -> CredentialsData* (one credentials call per sender) */
  GHashTable           *pending;        /* sender -> GPtrArray of Flight* (checks started or queued) */
  GHashTable           *flights;        /* sender + key -> Flight* that identical checks may join */
  GHashTable           *throttles;      /* uid -> Throttle* */
  guint                 name_owner_sub;
  gulong                changed_id;
  gulong                owner_id;
  AnydAuthActivityFunc  activity_func;
  gpointer              activity_data;
  guint                 in_flight;
  guint                 max_in_flight;
  GQueue                queued;         /* Flight* waiting for a slot */
  /* decision cache */
  GQueue                lru;            /* Decision*, most recently used first */
  guint                 generation;     /* bumped whenever cached answers become stale */
  gint64                ttl_us;         /* 0 = no cache */
  guint                 cache_size;
  /* throttling */
  guint                 deny_burst;
  guint                 deny_rate;      /* 0 = off */
  guint                 n_delayed;      /* replies held back, all uids */
};

static char *
rule_key (const char *interface, const char *method)
{
  return g_strdup_printf ("%s\x1f%s", interface, method);
}

static const char *
sender_name (AnydCaller *caller)
{
  return caller->sender != NULL && *caller->sender != '\0' ? caller->sender : NULL;
}

/* ------------------------------------------------------------------ decision cache */

static void
decision_free (Decision *d)
{
  g_free (d->key);
  g_free (d);
}

static void
sender_free (Sender *s)
{
  anyd_caller_unref (s->caller);
  g_hash_table_unref (s->decisions);
  g_free (s);
}

/* An unambiguous text for (action, details): keys sorted, lengths spelled
 * out so no value can fake a separator. */
static char *
decision_key (const char *action_id, GHashTable *details)
{
  g_autoptr(GString) s = NULL;
  g_autoptr(GList) keys = NULL;

  if (details == NULL || g_hash_table_size (details) == 0)
    return g_strdup (action_id);
  s = g_string_new (action_id);
  keys = g_list_sort (g_hash_table_get_keys (details), (GCompareFunc) strcmp);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      const char *v = g_hash_table_lookup (details, l->data);
      g_string_append_printf (s, "\x1f%zu:%s%zu:%s", strlen (l->data), (char *) l->data, strlen (v), v);
    }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
cache_remove (AnydAuth *auth, Decision *d)
{
  g_queue_unlink (&auth->lru, &d->lru);
  g_hash_table_remove (d->sender->decisions, d->key);  /* frees d */
}

static void
cache_clear (AnydAuth *auth, const char *why, gboolean quiet_if_empty)
{
  guint n = auth->lru.length;

  while (auth->lru.tail != NULL)
    cache_remove (auth, auth->lru.tail->data);
  /* Checks already at polkit may answer from before the change: their
   * answers are not cached, and no new call joins them. */
  auth->generation++;
  g_hash_table_remove_all (auth->flights);
  if (n > 0 || !quiet_if_empty)
    g_debug ("auth: decision cache cleared (%u entries): %s", n, why);
}

static Decision *
cache_lookup (AnydAuth *auth, Sender *sender, const char *key)
{
  Decision *d;

  if (sender == NULL || auth->ttl_us == 0)
    return NULL;
  d = g_hash_table_lookup (sender->decisions, key);
  if (d == NULL)
    return NULL;
  if (g_get_monotonic_time () >= d->expires)
    {
      cache_remove (auth, d);
      return NULL;
    }
  g_queue_unlink (&auth->lru, &d->lru);
  g_queue_push_head_link (&auth->lru, &d->lru);
  return d;
}

static void
cache_insert (AnydAuth *auth, Sender *sender, const char *key, Verdict verdict)
{
  Decision *d;

  if (auth->ttl_us == 0 || auth->cache_size == 0)
    return;
  d = g_hash_table_lookup (sender->decisions, key);
  if (d != NULL)
    cache_remove (auth, d);
  while (auth->lru.length >= auth->cache_size)
    cache_remove (auth, auth->lru.tail->data);
  d = g_new0 (Decision, 1);
  d->sender = sender;
  d->key = g_strdup (key);
  d->verdict = verdict;
  d->expires = g_get_monotonic_time () + auth->ttl_us;
  d->lru.data = d;
  g_hash_table_insert (sender->decisions, d->key, d);
  g_queue_push_head_link (&auth->lru, &d->lru);
}

/* Which answers may be reused for the same (sender, action, details):
 *  - "authorized" unless it may come from a one-shot password prompt.
 *    polkit 122 returns a one-shot auth_admin success exactly like a rule's
 *    YES, so an interactive grant counts only with
 *    polkit.temporary_authorization_id (an *_keep grant polkit retains).
 *  - "not authorized" from a non-interactive check: polkit answers NO before
 *    any interaction, so it holds for interactive calls too. An interactive
 *    denial may be a mistyped password and is not kept.
 *  - never "needs a password", "dismissed" or an error. */
static gboolean
cacheable (Verdict verdict, gboolean interactive, PolkitAuthorizationResult *result)
{
  if (verdict == VERDICT_ALLOWED)
    return !interactive || polkit_authorization_result_get_temporary_authorization_id (result) != NULL;
  if (verdict == VERDICT_DENIED)
    return !interactive;
  return FALSE;
}

/* ------------------------------------------------------------------ throttling */

typedef struct {
  gint64  release;   /* monotonic µs */
  GTask  *task;
  GError *error;
  char   *sender;
} Delayed;

struct _Throttle {
  AnydAuth   *auth;
  guint32     uid;
  double      tokens;       /* below 0: replies owed to the future */
  gint64      updated;
  GQueue      delayed;      /* Delayed*, in release order */
  guint       timer;
  /* the current burst, summarised in one audit record */
  guint       n_throttled;
  gint64      burst_start;
  gint64      last_summary;
  AnydCaller *last_caller;
  char       *last_action;
};

static void throttle_schedule (Throttle *t);

static void
delayed_free (Delayed *d)
{
  g_clear_object (&d->task);
  g_clear_error (&d->error);
  g_free (d->sender);
  g_free (d);
}

static void
throttle_free (Throttle *t)
{
  g_clear_handle_id (&t->timer, g_source_remove);
  g_queue_clear_full (&t->delayed, (GDestroyNotify) delayed_free);
  g_clear_pointer (&t->last_caller, anyd_caller_unref);
  g_free (t->last_action);
  g_free (t);
}

static void
throttle_refill (AnydAuth *auth, Throttle *t, gint64 now)
{
  t->tokens = MIN ((double) auth->deny_burst,
                   t->tokens + (double) (now - t->updated) * auth->deny_rate / G_USEC_PER_SEC);
  t->updated = now;
}

static void
throttle_summary (Throttle *t, gint64 now)
{
  g_autofree char *message = NULL;
  AnydAuditRecord record = {
    .message_id = ANYD_MSGID_THROTTLE,
    .action = t->last_action,
    .caller = t->last_caller,
    .result = "denied",
  };

  if (t->n_throttled == 0)
    return;
  message = g_strdup_printf ("%u denials of uid %u throttled over %.1f s (at most %u/s after a burst of %u)",
                             t->n_throttled, t->uid, (double) (now - t->burst_start) / G_USEC_PER_SEC,
                             t->auth->deny_rate, t->auth->deny_burst);
  record.message = message;
  anyd_audit (&record);
  t->n_throttled = 0;
  t->last_summary = now;
}

static void
delayed_answer (AnydAuth *auth, Delayed *d)
{
  auth->n_delayed--;
  g_task_return_error (d->task, g_steal_pointer (&d->error));
  delayed_free (d);
}

static gboolean
throttle_timer_cb (gpointer user_data)
{
  Throttle *t = user_data;
  AnydAuth *auth = t->auth;
  gint64 now = g_get_monotonic_time ();
  Delayed *d;

  t->timer = 0;
  while ((d = g_queue_peek_head (&t->delayed)) != NULL && (d->release <= now || auth->deny_rate == 0))
    delayed_answer (auth, g_queue_pop_head (&t->delayed));

  if (t->n_throttled > 0 && now - t->last_summary >= THROTTLE_SUMMARY_INTERVAL_US)
    throttle_summary (t, now);  /* a long flood is still visible in the journal */

  throttle_refill (auth, t, now);
  if (g_queue_is_empty (&t->delayed) && (t->tokens >= auth->deny_burst || auth->deny_rate == 0))
    {
      /* The burst is over: one record for all of it, and forget the uid. */
      throttle_summary (t, now);
      g_hash_table_remove (auth->throttles, GUINT_TO_POINTER (t->uid));
      return G_SOURCE_REMOVE;
    }
  throttle_schedule (t);
  return G_SOURCE_REMOVE;
}

/* Wake up for the next delayed reply, or when the bucket is full again. */
static void
throttle_schedule (Throttle *t)
{
  AnydAuth *auth = t->auth;
  Delayed *head = g_queue_peek_head (&t->delayed);
  gint64 now = g_get_monotonic_time ();
  gint64 when;

  g_clear_handle_id (&t->timer, g_source_remove);
  if (head != NULL)
    when = head->release;
  else if (auth->deny_rate == 0)
    when = now;
  else
    when = t->updated + (gint64) ((auth->deny_burst - t->tokens) * G_USEC_PER_SEC / auth->deny_rate);
  t->timer = g_timeout_add ((guint) CLAMP ((when - now + 999) / 1000, 0, G_MAXINT), throttle_timer_cb, t);
}

/* Take a token for one refusal of uid; returns when the reply may go out
 * (0 = now). */
static gint64
throttle_take (AnydAuth *auth, guint32 uid, gint64 now)
{
  Throttle *t;

  if (auth->deny_rate == 0)
    return 0;
  t = g_hash_table_lookup (auth->throttles, GUINT_TO_POINTER (uid));
  if (t == NULL)
    {
      t = g_new0 (Throttle, 1);
      t->auth = auth;
      t->uid = uid;
      t->tokens = auth->deny_burst;
      t->updated = now;
      g_queue_init (&t->delayed);
      g_hash_table_insert (auth->throttles, GUINT_TO_POINTER (uid), t);
    }
  throttle_refill (auth, t, now);
  t->tokens -= 1;
  if (t->timer == 0)
    throttle_schedule (t);
  if (t->tokens >= 0)
    return 0;
  return now + (gint64) (-t->tokens * G_USEC_PER_SEC / auth->deny_rate);
}

static void
throttle_delay (AnydAuth *auth, AnydCaller *caller, const char *action_id, gint64 release,
                GTask *task, GError *error)
{
  Throttle *t = g_hash_table_lookup (auth->throttles, GUINT_TO_POINTER (caller->uid));
  Delayed *d = g_new0 (Delayed, 1);
  gint64 now = g_get_monotonic_time ();

  d->release = release;
  d->task = task;
  d->error = error;
  d->sender = g_strdup (caller->sender);
  /* Release times grow, except after a vanished caller's debt was forgiven. */
  {
    GList *l = t->delayed.tail;
    while (l != NULL && ((Delayed *) l->data)->release > release)
      l = l->prev;
    if (l == NULL)
      g_queue_push_head (&t->delayed, d);
    else
      g_queue_insert_after (&t->delayed, l, d);
  }
  auth->n_delayed++;
  if (t->n_throttled++ == 0)
    {
      t->burst_start = now;
      if (t->last_summary == 0)
        t->last_summary = now;
    }
  g_clear_pointer (&t->last_caller, anyd_caller_unref);
  t->last_caller = anyd_caller_ref (caller);
  g_free (t->last_action);
  t->last_action = g_strdup (action_id);
  if (g_queue_peek_head (&t->delayed) == d)
    throttle_schedule (t);
}

/* A caller that left needs no delayed answer, and its debt is forgiven. */
static void
throttle_forget_sender (AnydAuth *auth, const char *sender)
{
  GHashTableIter it;
  gpointer v;

  if (auth->n_delayed == 0)
    return;
  g_hash_table_iter_init (&it, auth->throttles);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Throttle *t = v;
      gboolean changed = FALSE;

      for (GList *l = t->delayed.head; l != NULL;)
        {
          GList *next = l->next;
          Delayed *d = l->data;
          if (g_strcmp0 (d->sender, sender) == 0)
            {
              g_queue_delete_link (&t->delayed, l);
              delayed_answer (auth, d);
              t->tokens += 1;
              changed = TRUE;
            }
          l = next;
        }
      if (changed)
        throttle_schedule (t);
    }
}

/* ------------------------------------------------------------------ callers */

typedef struct _CredentialsData {
  AnydAuth  *auth;
  char      *sender;
  GPtrArray *tasks;      /* GTask* waiting for this sender's credentials */
  gboolean   vanished;   /* the name left before the bus answered */
} CredentialsData;

static void
credentials_data_free (CredentialsData *cd)
{
  g_free (cd->sender);
  g_ptr_array_unref (cd->tasks);
  g_free (cd);
}

static void
flight_cancel (Flight *f);

static void
on_name_owner_changed (GDBusConnection *bus, const char *sender_name, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  AnydAuth *auth = user_data;
  const char *name, *old_owner, *new_owner;
  GPtrArray *flights;
  CredentialsData *cd;
  Sender *sender;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':' || *new_owner != '\0')
    return;
  sender = g_hash_table_lookup (auth->callers, name);
  if (sender != NULL)
    {
      guint n = g_hash_table_size (sender->decisions);
      GHashTableIter it;
      gpointer v;

      g_hash_table_iter_init (&it, sender->decisions);
      while (g_hash_table_iter_next (&it, NULL, &v))
        g_queue_unlink (&auth->lru, &((Decision *) v)->lru);
      g_hash_table_remove (auth->callers, name);
      if (n > 0)
        g_debug ("auth: %s left: dropped %u cached decisions", name, n);
    }
  cd = g_hash_table_lookup (auth->caller_waiters, name);
  if (cd != NULL)
    cd->vanished = TRUE;
  /* A caller that left needs no answer: cancel its checks (and dialogs). */
  flights = g_hash_table_lookup (auth->pending, name);
  if (flights != NULL)
    {
      g_autoptr(GPtrArray) copy = g_ptr_array_copy (flights, NULL, NULL);
      for (guint i = 0; i < copy->len; i++)
        flight_cancel (copy->pdata[i]);
    }
  throttle_forget_sender (auth, name);
}

/* The start time polkit compares to detect a reused pid (field 22 of
 * /proc/pid/stat, clock ticks since boot); 0 if the process is gone. */
static guint64
process_start_time (guint32 pid)
{
  char path[32], buf[1024];
  const char *p;
  ssize_t n;
  int fd;
  guint64 start = 0;

  if (pid == 0)
    return 0;
  g_snprintf (path, sizeof path, "/proc/%u/stat", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  p = strrchr (buf, ')');   /* the command name may hold spaces and ')' */
  if (p == NULL)
    return 0;
  /* after ") " come fields 3 (state) ... 22 (starttime) */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %" G_GUINT64_FORMAT,
              &start) != 1)
    return 0;
  return start;
}

static void
credentials_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  CredentialsData *cd = user_data;
  AnydAuth *auth = cd->auth;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr(AnydCaller) caller = NULL;

  g_hash_table_steal (auth->caller_waiters, cd->sender);

  if (reply != NULL)
    {
      g_autoptr(GVariant) dict = g_variant_get_child_value (reply, 0);
      guint32 uid = G_MAXUINT32, pid = 0;

      if (!g_variant_lookup (dict, "UnixUserID", "u", &uid))
        g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "the bus did not say who %s is", cd->sender);
      g_variant_lookup (dict, "ProcessID", "u", &pid);
      if (error == NULL)
        caller = anyd_caller_new (cd->sender, uid, pid);
      /* Unique names are never reused: one that already left must not
       * leave an entry behind that no NameOwnerChanged would remove. */
      if (caller != NULL && !cd->vanished)
        {
          Sender *s = g_new0 (Sender, 1);
          s->caller = anyd_caller_ref (caller);
          s->start_time = process_start_time (pid);
          s->decisions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) decision_free);
          g_hash_table_replace (auth->callers, g_strdup (cd->sender), s);
        }
    }

  for (guint i = 0; i < cd->tasks->len; i++)
    {
      GTask *task = cd->tasks->pdata[i];
      if (caller != NULL)
        g_task_return_pointer (task, anyd_caller_ref (caller), (GDestroyNotify) anyd_caller_unref);
      else
        g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_FAILED,
                                 "cannot identify caller %s: %s", cd->sender, error->message);
    }
  credentials_data_free (cd);
}

void
anyd_auth_get_caller_async (AnydAuth *auth, const char *sender, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  Sender *cached;
  CredentialsData *cd;

  g_task_set_source_tag (task, anyd_auth_get_caller_async);
  if (sender == NULL)
    {
      /* Peer-to-peer connection (tests): the process itself. */
      g_task_return_pointer (task, anyd_caller_new ("", getuid (), getpid ()),
                             (GDestroyNotify) anyd_caller_unref);
      return;
    }
  cached = g_hash_table_lookup (auth->callers, sender);
  if (cached != NULL)
    {
      g_task_return_pointer (task, anyd_caller_ref (cached->caller), (GDestroyNotify) anyd_caller_unref);
      return;
    }

  cd = g_hash_table_lookup (auth->caller_waiters, sender);
  if (cd != NULL)
    {
      g_ptr_array_add (cd->tasks, g_steal_pointer (&task));
      return;
    }
  cd = g_new0 (CredentialsData, 1);
  cd->auth = auth;
  cd->sender = g_strdup (sender);
  cd->tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (cd->tasks, g_steal_pointer (&task));
  g_hash_table_insert (auth->caller_waiters, cd->sender, cd);
  g_dbus_connection_call (auth->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionCredentials",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(a{sv})"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, credentials_cb, cd);
}

AnydCaller *
anyd_auth_get_caller_finish (AnydAuth *auth, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ polkit */

/* One caller waiting for a decision. */
typedef struct {
  AnydAuth     *auth;
  GTask        *task;
  AnydCaller   *caller;
  char         *action_id;
  GHashTable   *details;
  char         *key;          /* decision_key() */
  gboolean      interactive;
  char         *object;       /* for audit */
  gboolean      audit;        /* FALSE for GetCallerInfo's queries */
  GCancellable *cancellable;  /* the caller's, may be NULL */
  gulong        cancel_id;
  Flight       *flight;
} Waiter;

/* One polkit call, answering every waiter that joined it. */
struct _Flight {
  AnydAuth     *auth;
  char         *join_key;     /* key in auth->flights while others may join, else NULL */
  AnydCaller   *caller;
  char         *action_id;
  GHashTable   *details;
  char         *key;
  gboolean      interactive;
  GCancellable *cancellable;
  GPtrArray    *waiters;      /* Waiter* */
  guint         n_cancelled;
  guint         generation;   /* auth->generation when polkit was asked */
};

static void join_flight (AnydAuth *auth, Waiter *w, gboolean interactive);

static void
waiter_free (Waiter *w)
{
  g_clear_object (&w->task);
  anyd_caller_unref (w->caller);
  g_free (w->action_id);
  g_free (w->key);
  g_free (w->object);
  g_clear_pointer (&w->details, g_hash_table_unref);
  g_clear_object (&w->cancellable);
  g_free (w);
}

static void
flight_free (Flight *f)
{
  anyd_caller_unref (f->caller);
  g_free (f->join_key);
  g_free (f->action_id);
  g_free (f->key);
  g_clear_pointer (&f->details, g_hash_table_unref);
  g_clear_object (&f->cancellable);
  g_ptr_array_unref (f->waiters);
  g_free (f);
}

static char *
details_to_string (GHashTable *details)
{
  g_autoptr(GString) s = g_string_new (NULL);
  g_autoptr(GList) keys = details ? g_hash_table_get_keys (details) : NULL;

  keys = g_list_sort (keys, (GCompareFunc) g_strcmp0);
  for (GList *l = keys; l != NULL; l = l->next)
    g_string_append_printf (s, "%s%s=%s", s->len ? " " : "", (char *) l->data,
                            (char *) g_hash_table_lookup (details, l->data));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
audit_decision (AnydCaller *caller, const char *action_id, GHashTable *details,
                const char *object, Verdict verdict, const char *message)
{
  g_autofree char *text = details_to_string (details);
  AnydAuditRecord record = {
    .message_id = ANYD_MSGID_AUTH,
    .action = action_id,
    .caller = caller,
    .object = object,
    .result = verdict_names[verdict],
    .details = text,
    .message = message,
  };
  anyd_audit (&record);
}

static GError *
verdict_error (Verdict verdict, const char *action_id, gboolean interactive, const char *message)
{
  switch (verdict)
    {
    case VERDICT_ALLOWED:
      return NULL;
    case VERDICT_DISMISSED:
      return g_error_new (ANYD_ERROR, ANYD_ERROR_AUTHORIZATION_DISMISSED,
                          "Authentication for %s was dismissed", action_id);
    case VERDICT_CHALLENGE:
      return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,
                          "Authentication is required for %s%s", action_id,
                          interactive ? "" : " (call with interactive authorization allowed)");
    case VERDICT_ERROR:
      return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                          "Not authorized: cannot check %s (%s)", action_id, message);
    case VERDICT_DENIED:
    default:
      return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                          "Not authorized to perform %s", action_id);
    }
}

/* Give one waiter its answer: audited, and a refusal over the uid's budget
 * held back (summarised in the throttle record instead of one each). */
static void
answer (Waiter *w, Verdict verdict, const char *message)
{
  AnydAuth *auth = w->auth;
  g_autoptr(GTask) task = g_steal_pointer (&w->task);
  GError *error = verdict_error (verdict, w->action_id, w->interactive, message);

  if (w->cancellable != NULL && w->cancel_id != 0)
    g_cancellable_disconnect (w->cancellable, w->cancel_id);
  w->cancel_id = 0;

  if (error == NULL)
    {
      if (w->audit)
        audit_decision (w->caller, w->action_id, w->details, w->object, verdict, message);
      g_task_return_boolean (task, TRUE);
    }
  else
    {
      gint64 now = g_get_monotonic_time ();
      /* Only callers still on the bus are throttled: a reply to one that
       * left goes nowhere and should not cost its uid a token. */
      gboolean connected = sender_name (w->caller) != NULL &&
                           g_hash_table_contains (auth->callers, w->caller->sender);
      gint64 release = w->audit && connected ? throttle_take (auth, w->caller->uid, now) : 0;

      if (release > now)
        throttle_delay (auth, w->caller, w->action_id, release, g_steal_pointer (&task), error);
      else
        {
          if (w->audit)
            audit_decision (w->caller, w->action_id, w->details, w->object, verdict, message);
          g_task_return_error (task, error);
        }
    }
  waiter_free (w);
}

static void
track_pending (AnydAuth *auth, Flight *f, gboolean add)
{
  const char *sender = sender_name (f->caller);
  GPtrArray *list;

  if (sender == NULL)
    return;
  list = g_hash_table_lookup (auth->pending, sender);
  if (add)
    {
      if (list == NULL)
        {
          list = g_ptr_array_new ();
          g_hash_table_insert (auth->pending, g_strdup (sender), list);
        }
      g_ptr_array_add (list, f);
    }
  else if (list != NULL)
    {
      g_ptr_array_remove_fast (list, f);
      if (list->len == 0)
        g_hash_table_remove (auth->pending, sender);
    }
}

static void
flight_unjoinable (Flight *f)
{
  if (f->join_key != NULL && g_hash_table_lookup (f->auth->flights, f->join_key) == f)
    g_hash_table_remove (f->auth->flights, f->join_key);
  g_clear_pointer (&f->join_key, g_free);
}

static void
flight_cancel (Flight *f)
{
  flight_unjoinable (f);
  g_cancellable_cancel (f->cancellable);
}

/* Runs on the main thread (anyd's cancellables are cancelled there). */
static void
waiter_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  Waiter *w = user_data;
  Flight *f = w->flight;

  /* Everyone waiting on this check gave up: stop it (and any dialog). */
  if (f != NULL && ++f->n_cancelled == f->waiters->len)
    flight_cancel (f);
}

static void start_check (Flight *f);

static void
check_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Flight *f = user_data;
  AnydAuth *auth = f->auth;
  g_autoptr(GError) error = NULL;
  g_autoptr(PolkitAuthorizationResult) result = NULL;
  Verdict verdict;
  Sender *sender;

  result = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);

  track_pending (auth, f, FALSE);
  flight_unjoinable (f);
  auth->in_flight--;
  if (!g_queue_is_empty (&auth->queued))
    start_check (g_queue_pop_head (&auth->queued));

  if (result == NULL)
    verdict = VERDICT_ERROR;  /* fail closed: no answer from polkit is no */
  else if (polkit_authorization_result_get_is_authorized (result))
    verdict = VERDICT_ALLOWED;
  else if (polkit_authorization_result_get_dismissed (result))
    verdict = VERDICT_DISMISSED;
  else if (polkit_authorization_result_get_is_challenge (result))
    verdict = VERDICT_CHALLENGE;
  else
    verdict = VERDICT_DENIED;

  /* An answer from before a Changed signal is stale, except a grant that
   * polkit keeps: polkitd signals Changed for the very grant it is
   * answering (just before the reply), it honours a kept grant before its
   * rules, and it signals again when the grant is revoked or expires. */
  sender = sender_name (f->caller) ? g_hash_table_lookup (auth->callers, f->caller->sender) : NULL;
  if (sender != NULL && cacheable (verdict, f->interactive, result) &&
      (f->generation == auth->generation ||
       polkit_authorization_result_get_temporary_authorization_id (result) != NULL))
    cache_insert (auth, sender, f->key, verdict);

  for (guint i = 0; i < f->waiters->len; i++)
    {
      Waiter *w = f->waiters->pdata[i];

      w->flight = NULL;
      if (verdict == VERDICT_CHALLENGE && w->interactive && !f->interactive &&
          (w->cancellable == NULL || !g_cancellable_is_cancelled (w->cancellable)))
        {
          /* Now, and only now, ask with a password prompt. */
          if (w->cancel_id != 0)
            g_cancellable_disconnect (w->cancellable, w->cancel_id);
          w->cancel_id = 0;
          join_flight (auth, w, TRUE);
          continue;
        }
      answer (w, verdict, error ? error->message : NULL);
    }
  flight_free (f);
}

/* Debian 12 (polkit 122, dbus 1.14) has no pidfd in either, so the subject
 * is a unix-process built from the bus's credentials, not a
 * system-bus-name. It is equally race-free, and cheaper for polkitd:
 *  - uid: from the bus in both cases (polkitd trusts the uid root passes).
 *  - pid: both come from the bus's SO_PEERCRED; for a bus name polkitd 122
 *    asks the bus again on every check (two calls, several times per check,
 *    blocking its main loop) and reads the start time of whatever process
 *    has that pid *then*, so a reused pid goes unnoticed. With the start
 *    time anyd read once, when it first saw the sender, polkitd checks it
 *    on every check and refuses ("process has been replaced") if the pid
 *    was reused since.
 * bench/call-path measures both subjects against the same polkitd.
 * Without a start time (process already gone) the bus name is used. */
static PolkitSubject *
make_subject (AnydAuth *auth, AnydCaller *caller)
{
  const char *sender = sender_name (caller);
  Sender *s;

  if (sender == NULL)
    return polkit_unix_process_new_for_owner ((gint) caller->pid, 0, (gint) caller->uid);
  s = g_hash_table_lookup (auth->callers, sender);
  if (s != NULL && s->start_time != 0 && caller->pid != 0)
    return polkit_unix_process_new_for_owner ((gint) caller->pid, s->start_time, (gint) caller->uid);
  return polkit_system_bus_name_new (sender);
}

static void
start_check (Flight *f)
{
  AnydAuth *auth = f->auth;
  g_autoptr(PolkitSubject) subject = NULL;
  g_autoptr(PolkitDetails) pdetails = polkit_details_new ();
  PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
  GHashTableIter it;
  gpointer k, v;

  if (auth->in_flight >= auth->max_in_flight)
    {
      g_queue_push_tail (&auth->queued, f);
      return;
    }
  auth->in_flight++;
  f->generation = auth->generation;

  if (f->details != NULL)
    {
      g_hash_table_iter_init (&it, f->details);
      while (g_hash_table_iter_next (&it, &k, &v))
        polkit_details_insert (pdetails, k, v);
    }
  if (f->interactive)
    flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  subject = make_subject (auth, f->caller);
  polkit_authority_check_authorization (auth->authority, subject, f->action_id, pdetails, flags,
                                        f->cancellable, check_cb, f);
}

static void
join_flight (AnydAuth *auth, Waiter *w, gboolean interactive)
{
  g_autofree char *join_key = NULL;
  Flight *f = NULL;

  /* Identical non-interactive checks share one polkit call. Interactive
   * ones do not: each password prompt authorizes one call. */
  if (!interactive && sender_name (w->caller) != NULL)
    {
      join_key = g_strconcat (w->caller->sender, "\x1e", w->key, NULL);
      f = g_hash_table_lookup (auth->flights, join_key);
    }
  if (f == NULL)
    {
      f = g_new0 (Flight, 1);
      f->auth = auth;
      f->caller = anyd_caller_ref (w->caller);
      f->action_id = g_strdup (w->action_id);
      f->details = w->details ? g_hash_table_ref (w->details) : NULL;
      f->key = g_strdup (w->key);
      f->interactive = interactive;
      f->cancellable = g_cancellable_new ();
      f->waiters = g_ptr_array_new ();
      if (join_key != NULL)
        {
          f->join_key = g_steal_pointer (&join_key);
          g_hash_table_insert (auth->flights, g_strdup (f->join_key), f);
        }
      g_ptr_array_add (f->waiters, w);
      w->flight = f;
      track_pending (auth, f, TRUE);
      start_check (f);
    }
  else
    {
      g_ptr_array_add (f->waiters, w);
      w->flight = f;
    }
  if (w->cancellable != NULL)
    w->cancel_id = g_cancellable_connect (w->cancellable, G_CALLBACK (waiter_cancelled_cb), w, NULL);
}

static void
check_internal (AnydAuth *auth, AnydCaller *caller, const char *action_id, GHashTable *details,
                gboolean interactive, const char *object, gboolean audit, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
  Waiter *w = g_new0 (Waiter, 1);
  const char *sender = sender_name (caller);
  Decision *cached;

  w->auth = auth;
  w->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (w->task, check_internal);
  w->caller = anyd_caller_ref (caller);
  w->action_id = g_strdup (action_id);
  w->details = details ? g_hash_table_ref (details) : NULL;
  w->key = decision_key (action_id, details);
  w->interactive = interactive;
  w->object = g_strdup (object);
  w->audit = audit;
  w->cancellable = cancellable ? g_object_ref (cancellable) : NULL;

  if (auth->authority == NULL)
    {
      answer (w, VERDICT_ERROR, "polkit is not available");
      return;
    }
  cached = sender ? cache_lookup (auth, g_hash_table_lookup (auth->callers, sender), w->key) : NULL;
  if (cached != NULL)
    {
      answer (w, cached->verdict, "cached");
      return;
    }
  join_flight (auth, w, FALSE);
}

static gboolean
invocation_is_interactive (GDBusMethodInvocation *invocation)
{
  GDBusMessage *m = g_dbus_method_invocation_get_message (invocation);
  return (g_dbus_message_get_flags (m) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
}

/* ------------------------------------------------------------------ guard */

typedef struct {
  AnydAuth            *auth;
  AnydAuthDetailsFunc  details_func;
  gpointer             details_data;
} GuardData;

typedef struct {
  AnydAuth               *auth;
  GDBusInterfaceSkeleton *skeleton;
  GDBusMethodInvocation  *invocation;
  const AnydAuthRule     *rule;
  GHashTable             *details;
} CallData;

static void
call_data_free (CallData *c)
{
  g_object_unref (c->skeleton);
  g_object_unref (c->invocation);
  g_clear_pointer (&c->details, g_hash_table_unref);
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CallData, call_data_free)

static void
dispatch (CallData *c)
{
  const GDBusInterfaceVTable *vtable = g_dbus_interface_skeleton_get_vtable (c->skeleton);
  GDBusMethodInvocation *inv = c->invocation;

  g_object_set_data (G_OBJECT (inv), MARK_AUTHORIZED, GINT_TO_POINTER (1));
  vtable->method_call (g_dbus_method_invocation_get_connection (inv),
                       g_dbus_method_invocation_get_sender (inv),
                       g_dbus_method_invocation_get_object_path (inv),
                       g_dbus_method_invocation_get_interface_name (inv),
                       g_dbus_method_invocation_get_method_name (inv),
                       g_dbus_method_invocation_get_parameters (inv),
                       g_object_ref (inv),
                       g_dbus_method_invocation_get_user_data (inv));
}

static void
guard_check_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(CallData) c = user_data;
  g_autoptr(GError) error = NULL;

  if (!anyd_auth_check_finish (c->auth, res, &error))
    {
      anyd_invocation_return_error (g_object_ref (c->invocation), g_steal_pointer (&error));
      return;
    }
  dispatch (c);
}

static void
guard_caller_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(CallData) c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydCaller) caller = anyd_auth_get_caller_finish (c->auth, res, &error);

  if (caller == NULL)
    {
      anyd_invocation_return_error (g_object_ref (c->invocation), g_steal_pointer (&error));
      return;
    }
  g_object_set_data_full (G_OBJECT (c->invocation), MARK_CALLER, anyd_caller_ref (caller),
                          (GDestroyNotify) anyd_caller_unref);

  if (c->rule->action == NULL)
    {
      dispatch (c);
      return;
    }
  {
    /* Read everything from c before it is handed over. */
    CallData *owned = g_steal_pointer (&c);
    check_internal (owned->auth, caller, owned->rule->action, owned->details,
                    invocation_is_interactive (owned->invocation),
                    g_dbus_method_invocation_get_object_path (owned->invocation),
                    TRUE, NULL, guard_check_cb, owned);
  }
}

static GHashTable *
rule_details (const AnydAuthRule *rule, GVariant *params)
{
  GHashTable *details = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if (rule->detail_key != NULL && rule->detail_arg >= 0 &&
      (gsize) rule->detail_arg < g_variant_n_children (params))
    {
      g_autoptr(GVariant) arg = g_variant_get_child_value (params, rule->detail_arg);
      if (g_variant_is_of_type (arg, G_VARIANT_TYPE_STRING))
        g_hash_table_insert (details, g_strdup (rule->detail_key), g_variant_dup_string (arg, NULL));
    }
  if (rule->extra_details != NULL)
    {
      g_auto(GStrv) pairs = g_strsplit (rule->extra_details, ";", -1);
      for (guint i = 0; pairs[i] != NULL; i++)
        {
          char *eq = strchr (pairs[i], '=');
          if (eq != NULL)
            g_hash_table_insert (details, g_strndup (pairs[i], (gsize) (eq - pairs[i])), g_strdup (eq + 1));
        }
    }
  return details;
}

/* The fast path: a known caller and a public method or a cached grant lets
 * the emission go on to the module's handler right away. */
#define PRECHECK_FUNC "anyd-precheck"
#define PRECHECK_DATA "anyd-precheck-data"

void
anyd_auth_guard_set_precheck (GDBusInterfaceSkeleton *skeleton, AnydAuthPrecheckFunc func,
                              gpointer user_data)
{
  g_object_set_data (G_OBJECT (skeleton), PRECHECK_FUNC, (gpointer) func);
  g_object_set_data (G_OBJECT (skeleton), PRECHECK_DATA, user_data);
}

/* The module's precheck; on refusal answer the call and audit it as a
 * decision (the caller's credentials are known only if cached). */
static gboolean
precheck (AnydAuth *auth, GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *inv,
          const AnydAuthRule *rule, GHashTable *details)
{
  AnydAuthPrecheckFunc func = (AnydAuthPrecheckFunc) g_object_get_data (G_OBJECT (skeleton), PRECHECK_FUNC);
  g_autoptr(GError) error = NULL;
  Sender *sender;

  if (func == NULL ||
      func (skeleton, g_dbus_method_invocation_get_method_name (inv),
            g_dbus_method_invocation_get_parameters (inv),
            g_object_get_data (G_OBJECT (skeleton), PRECHECK_DATA), &error))
    return TRUE;

  sender = g_hash_table_lookup (auth->callers, g_dbus_method_invocation_get_sender (inv));
  audit_decision (sender ? sender->caller : NULL, rule->action, details,
                  g_dbus_method_invocation_get_object_path (inv), VERDICT_DENIED, error->message);
  anyd_invocation_return_error (inv, g_steal_pointer (&error));
  return FALSE;
}

static gboolean
guard_fast (AnydAuth *auth, GDBusMethodInvocation *inv, const AnydAuthRule *rule, GHashTable *details)
{
  const char *sender = g_dbus_method_invocation_get_sender (inv);
  g_autofree char *key = NULL;
  Sender *s;
  Decision *d;

  s = sender ? g_hash_table_lookup (auth->callers, sender) : NULL;
  if (s == NULL)
    return FALSE;
  if (rule->action != NULL)
    {
      key = decision_key (rule->action, details);
      d = cache_lookup (auth, s, key);
      if (d == NULL || d->verdict != VERDICT_ALLOWED)
        return FALSE;   /* a cached denial takes the slow path, to be throttled */
      audit_decision (s->caller, rule->action, details, g_dbus_method_invocation_get_object_path (inv),
                      VERDICT_ALLOWED, "cached");
    }
  g_object_set_data_full (G_OBJECT (inv), MARK_CALLER, anyd_caller_ref (s->caller),
                          (GDestroyNotify) anyd_caller_unref);
  return TRUE;
}

static void
guard_marshal (GClosure *closure, GValue *return_value, guint n_param_values,
               const GValue *param_values, gpointer invocation_hint, gpointer marshal_data)
{
  GuardData *g = closure->data;
  GDBusInterfaceSkeleton *skeleton = g_value_get_object (&param_values[0]);
  GDBusMethodInvocation *inv = g_value_get_object (&param_values[1]);
  const char *iface = g_dbus_method_invocation_get_interface_name (inv);
  const char *method = g_dbus_method_invocation_get_method_name (inv);
  const AnydAuthRule *rule;
  CallData *c;
  GHashTable *details;

  if (g_object_get_data (G_OBJECT (inv), MARK_AUTHORIZED) != NULL)
    {
      g_value_set_boolean (return_value, FALSE);  /* go on to the module's handler */
      return;
    }

  if (g->auth->activity_func != NULL)
    g->auth->activity_func (inv, g->auth->activity_data);

  rule = anyd_auth_lookup (g->auth, iface, method);
  if (rule == NULL)
    {
      /* Deny by default: a method nobody mapped is a bug, not a free pass. */
      g_value_set_boolean (return_value, TRUE);
      g_warning ("BUG: %s.%s has no authorization rule; refusing", iface, method);
      g_dbus_method_invocation_return_error (inv, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                                             "Not authorized: %s.%s has no authorization rule",
                                             iface, method);
      return;
    }

  details = rule_details (rule, g_dbus_method_invocation_get_parameters (inv));
  if (g->details_func != NULL)
    g->details_func (skeleton, method, g_dbus_method_invocation_get_parameters (inv), details,
                     g->details_data);

  if (rule->action != NULL && !precheck (g->auth, skeleton, inv, rule, details))
    {
      g_hash_table_unref (details);
      g_value_set_boolean (return_value, TRUE);   /* answered */
      return;
    }

  if (guard_fast (g->auth, inv, rule, details))
    {
      g_hash_table_unref (details);
      g_value_set_boolean (return_value, FALSE);  /* the handler runs now */
      return;
    }
  g_value_set_boolean (return_value, TRUE);       /* the gate owns the call now */

  c = g_new0 (CallData, 1);
  c->auth = g->auth;
  c->skeleton = g_object_ref (skeleton);
  c->invocation = inv;  /* the reference handed to the handler is ours now */
  c->rule = rule;
  c->details = details;
  anyd_auth_get_caller_async (g->auth, g_dbus_method_invocation_get_sender (inv), NULL,
                              guard_caller_cb, c);
}

void
anyd_auth_guard (AnydAuth *auth, GDBusInterfaceSkeleton *skeleton,
                 AnydAuthDetailsFunc details_func, gpointer user_data)
{
  GDBusInterfaceInfo *info = g_dbus_interface_skeleton_get_info (skeleton);
  guint n_ifaces = 0;
  g_autofree GType *ifaces = g_type_interfaces (G_OBJECT_TYPE (skeleton), &n_ifaces);
  guint connected = 0;

  for (guint i = 0; info->methods != NULL && info->methods[i] != NULL; i++)
    if (anyd_auth_lookup (auth, info->name, info->methods[i]->name) == NULL)
      g_warning ("BUG: %s.%s has no authorization rule; calls will be refused",
                 info->name, info->methods[i]->name);

  for (guint i = 0; i < n_ifaces; i++)
    {
      guint n_ids = 0;
      g_autofree guint *ids = NULL;
      gpointer klass = g_type_default_interface_ref (ifaces[i]);

      ids = g_signal_list_ids (ifaces[i], &n_ids);
      for (guint j = 0; j < n_ids; j++)
        {
          GSignalQuery q;
          GuardData *g;
          GClosure *closure;

          g_signal_query (ids[j], &q);
          if (!g_str_has_prefix (q.signal_name, "handle-"))
            continue;
          g = g_new0 (GuardData, 1);
          g->auth = auth;
          g->details_func = details_func;
          g->details_data = user_data;
          closure = g_closure_new_simple (sizeof (GClosure), g);
          g_closure_add_finalize_notifier (closure, g, (GClosureNotify) (void (*) (void)) g_free);
          g_closure_set_marshal (closure, guard_marshal);
          g_signal_connect_closure_by_id (skeleton, ids[j], 0, closure, FALSE);
          connected++;
        }
      g_type_default_interface_unref (klass);
    }
  g_warn_if_fail (connected > 0 || info->methods == NULL || info->methods[0] == NULL);
}

/* ------------------------------------------------------------------ public API */

static void
on_authority_changed (PolkitAuthority *authority, gpointer user_data)
{
  cache_clear (user_data, "polkit rules, actions or sessions changed", FALSE);
}

static void
on_authority_owner (GObject *authority, GParamSpec *pspec, gpointer user_data)
{
  cache_clear (user_data, "polkitd (re)started or stopped", FALSE);
}

AnydAuth *
anyd_auth_new (GDBusConnection *bus, AnydConfig *config)
{
  AnydAuth *auth = g_new0 (AnydAuth, 1);
  g_autoptr(GError) error = NULL;

  auth->bus = g_object_ref (bus);
  auth->rules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  auth->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sender_free);
  auth->caller_waiters = g_hash_table_new (g_str_hash, g_str_equal);
  auth->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  auth->flights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  auth->throttles = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) throttle_free);
  g_queue_init (&auth->queued);
  g_queue_init (&auth->lru);
  anyd_auth_set_config (auth, config);

  auth->authority = polkit_authority_get_sync (NULL, &error);
  if (auth->authority == NULL)
    g_warning ("polkit authority unavailable, every check will fail: %s", error->message);
  else
    {
      auth->changed_id = g_signal_connect (auth->authority, "changed", G_CALLBACK (on_authority_changed), auth);
      auth->owner_id = g_signal_connect (auth->authority, "notify::owner", G_CALLBACK (on_authority_owner), auth);
    }

  auth->name_owner_sub =
    g_dbus_connection_signal_subscribe (bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                        "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, auth, NULL);
  return auth;
}

void
anyd_auth_free (AnydAuth *auth)
{
  GHashTableIter it;
  gpointer v;

  if (auth == NULL)
    return;
  g_dbus_connection_signal_unsubscribe (auth->bus, auth->name_owner_sub);
  /* Answer the replies still held back, and let their callbacks run. */
  if (auth->n_delayed > 0)
    {
      g_hash_table_iter_init (&it, auth->throttles);
      while (g_hash_table_iter_next (&it, NULL, &v))
        {
          Delayed *d;
          while ((d = g_queue_pop_head (&((Throttle *) v)->delayed)) != NULL)
            delayed_answer (auth, d);
        }
      for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
        ;
    }
  g_hash_table_unref (auth->throttles);
  if (auth->authority != NULL)
    {
      g_signal_handler_disconnect (auth->authority, auth->changed_id);
      g_signal_handler_disconnect (auth->authority, auth->owner_id);
    }
  g_clear_object (&auth->authority);
  g_clear_pointer (&auth->config, anyd_config_unref);
  g_queue_clear (&auth->lru);       /* the entries go with their senders */
  g_hash_table_unref (auth->rules);
  g_hash_table_unref (auth->callers);
  g_hash_table_unref (auth->caller_waiters);
  g_hash_table_unref (auth->pending);
  g_hash_table_unref (auth->flights);
  g_object_unref (auth->bus);
  g_free (auth);
}

void
anyd_auth_set_config (AnydAuth *auth, AnydConfig *config)
{
  gint64 ttl_us;
  guint cache_size;

  g_clear_pointer (&auth->config, anyd_config_unref);
  auth->config = config ? anyd_config_ref (config) : NULL;
  auth->max_in_flight = config ? anyd_config_get_uint (config, "auth", "max_checks_in_flight") : 64;
  if (auth->max_in_flight == 0)
    auth->max_in_flight = 1;
  ttl_us = (gint64) (config ? anyd_config_get_uint (config, "auth", "cache_ttl_ms") : 5000) * 1000;
  cache_size = config ? anyd_config_get_uint (config, "auth", "cache_size") : 4096;
  auth->deny_burst = config ? anyd_config_get_uint (config, "auth", "deny_burst") : 20;
  auth->deny_rate = config ? anyd_config_get_uint (config, "auth", "deny_rate") : 10;
  /* Entries made under another TTL or size are dropped; anything else in
   * anyd's configuration does not change what polkit answers (polkit
   * signals its own changes). */
  if (ttl_us != auth->ttl_us || cache_size != auth->cache_size)
    {
      auth->ttl_us = ttl_us;
      auth->cache_size = cache_size;
      cache_clear (auth, "cache settings changed", TRUE);
    }
}

void
anyd_auth_set_activity_func (AnydAuth *auth, AnydAuthActivityFunc func, gpointer user_data)
{
  auth->activity_func = func;
  auth->activity_data = user_data;
}

void
anyd_auth_add_rules (AnydAuth *auth, const AnydAuthRule *rules)
{
  for (const AnydAuthRule *r = rules; r->interface != NULL; r++)
    {
      char *key = rule_key (r->interface, r->method);
      if (g_hash_table_contains (auth->rules, key))
        g_critical ("BUG: duplicate authorization rule for %s.%s", r->interface, r->method);
      g_hash_table_replace (auth->rules, key, (gpointer) r);
    }
}

const AnydAuthRule *
anyd_auth_lookup (AnydAuth *auth, const char *interface, const char *method)
{
  g_autofree char *key = rule_key (interface, method);
  return g_hash_table_lookup (auth->rules, key);
}

GPtrArray *
anyd_auth_list_rules (AnydAuth *auth)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, auth->rules);
  while (g_hash_table_iter_next (&it, NULL, &v))
    g_ptr_array_add (out, v);
  return out;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

char **
anyd_auth_list_actions (AnydAuth *auth)
{
  g_autoptr(GHashTable) set = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer v;

  g_hash_table_add (set, (gpointer) ANYD_ACTION_MANAGE);  /* used by handlers for others' resources */
  g_hash_table_iter_init (&it, auth->rules);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (((const AnydAuthRule *) v)->action != NULL)
      g_hash_table_add (set, (gpointer) ((const AnydAuthRule *) v)->action);
  g_hash_table_iter_init (&it, set);
  while (g_hash_table_iter_next (&it, &v, NULL))
    g_ptr_array_add (out, g_strdup (v));
  g_ptr_array_sort (out, compare_strings);
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

void
anyd_auth_check_async (AnydAuth *auth, GDBusMethodInvocation *invocation, const char *action_id,
                       GHashTable *details, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  AnydCaller *caller = anyd_caller_from_invocation (invocation);

  g_return_if_fail (caller != NULL);
  check_internal (auth, caller, action_id, details, invocation_is_interactive (invocation),
                  g_dbus_method_invocation_get_object_path (invocation), TRUE, cancellable,
                  callback, user_data);
}

gboolean
anyd_auth_check_finish (AnydAuth *auth, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
query_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  const char *answer = "yes";

  if (!g_task_propagate_boolean (G_TASK (res), &error))
    answer = g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN) ? "challenge" : "no";
  g_task_return_pointer (task, (gpointer) answer, NULL);
}

void
anyd_auth_query_async (AnydAuth *auth, AnydCaller *caller, const char *action_id,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, anyd_auth_query_async);
  check_internal (auth, caller, action_id, NULL, FALSE, NULL, FALSE, cancellable, query_cb, task);
}

const char *
anyd_auth_query_finish (AnydAuth *auth, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
