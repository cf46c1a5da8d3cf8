/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Two token buckets per uid:
 *  - refusals: a flooding caller gets its NotAuthorized replies at
 *    [auth] deny_rate per second after a burst of deny_burst, so it cannot
 *    keep the bus and anyd busy for everyone else; allowed calls never wait.
 *    Held-back refusals are summarised in one audit record per burst.
 *  - calls: [limits] calls_per_second_per_uid over every gated call of one
 *    uid (burst twice that); over it a call is refused at once with Busy,
 *    audited once per burst. Root is exempt. */
#include "anyd-build-config.h"
#include "auth-private.h"

/* A long throttled burst still leaves a trace this often. */
#define THROTTLE_SUMMARY_INTERVAL_US (60 * G_USEC_PER_SEC)

typedef struct {
  gint64      release;   /* monotonic µs */
  AnswerFunc  func;
  gpointer    data;
  GError     *error;
  char       *sender;
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

struct _UidRate {
  double  tokens;
  gint64  updated;
  guint   n_refused;     /* in the current burst */
  gint64  burst_start;
};

static void throttle_schedule (Throttle *t);

static void
delayed_answer (AnydAuth *auth, Delayed *d)
{
  auth->n_delayed--;
  d->func (d->data, g_steal_pointer (&d->error));
  g_free (d->sender);
  g_free (d);
}

void
anyd_auth_throttle_free (Throttle *t)
{
  g_clear_handle_id (&t->timer, g_source_remove);
  while (!g_queue_is_empty (&t->delayed))
    delayed_answer (t->auth, g_queue_pop_head (&t->delayed));
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
gint64
anyd_auth_throttle_take (AnydAuth *auth, guint32 uid, gint64 now)
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

void
anyd_auth_throttle_delay (AnydAuth *auth, AnydCaller *caller, const char *action_id, gint64 release,
                          AnswerFunc func, gpointer data, GError *error)
{
  Throttle *t = g_hash_table_lookup (auth->throttles, GUINT_TO_POINTER (caller->uid));
  Delayed *d = g_new0 (Delayed, 1);
  gint64 now = g_get_monotonic_time ();
  GList *l;

  d->release = release;
  d->func = func;
  d->data = data;
  d->error = error;
  d->sender = g_strdup (caller->sender);
  /* Release times grow, except after a vanished caller's debt was forgiven. */
  l = t->delayed.tail;
  while (l != NULL && ((Delayed *) l->data)->release > release)
    l = l->prev;
  if (l == NULL)
    g_queue_push_head (&t->delayed, d);
  else
    g_queue_insert_after (&t->delayed, l, d);
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
void
anyd_auth_throttle_forget_sender (AnydAuth *auth, const char *sender)
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

/* ------------------------------------------------------------------ call rate */

/* One token per gated call of a non-root uid; FALSE (Busy) when the uid's
 * bucket is empty. The first refusal of a burst is audited; the burst ends
 * when a call of the uid is let through again. */
gboolean
anyd_auth_rate_take (AnydAuth *auth, AnydCaller *caller, const char *action_id, const char *object,
                     GError **error)
{
  gint64 now;
  UidRate *r;

  if (auth->call_rate == 0 || caller->uid == 0)
    return TRUE;
  now = g_get_monotonic_time ();
  r = g_hash_table_lookup (auth->rates, GUINT_TO_POINTER (caller->uid));
  if (r == NULL)
    {
      r = g_new0 (UidRate, 1);
      r->tokens = auth->call_burst;
      r->updated = now;
      g_hash_table_insert (auth->rates, GUINT_TO_POINTER (caller->uid), r);
    }
  else
    {
      r->tokens = MIN ((double) auth->call_burst,
                       r->tokens + (double) (now - r->updated) * auth->call_rate / G_USEC_PER_SEC);
      r->updated = now;
    }
  if (r->tokens >= 1)
    {
      r->tokens -= 1;
      if (r->n_refused > 0)
        {
          g_message ("uid %u: %u calls refused over %.1f s by calls_per_second_per_uid", caller->uid,
                     r->n_refused, (double) (now - r->burst_start) / G_USEC_PER_SEC);
          r->n_refused = 0;
        }
      return TRUE;
    }
  anyd_metrics_quota_refused (action_id);
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_BUSY,
               "calls_per_second_per_uid: uid %u is over its quota of %u calls per second; slow down",
               caller->uid, auth->call_rate);
  if (r->n_refused++ == 0)
    {
      g_autofree char *message = g_strdup_printf ("calls_per_second_per_uid exceeded (%u/s, burst %u); "
                                                  "further refusals of this burst are not audited",
                                                  auth->call_rate, auth->call_burst);
      AnydAuditRecord record = {
        .message_id = ANYD_MSGID_QUOTA,
        .action = action_id,
        .caller = caller,
        .object = object,
        .result = "denied",
        .message = message,
      };
      r->burst_start = now;
      anyd_audit (&record);
    }
  return FALSE;
}
