/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* polkit checks. polkitd is one process for the whole system and a check
 * costs 2-4 ms, so:
 *  - a cached decision answers at once, in the caller's own stack;
 *  - identical non-interactive checks in flight are coalesced into one
 *    polkit call; different keys run in parallel up to the in-flight cap;
 *  - an interactive call first asks without interaction (cacheable, and the
 *    same answer polkit would give unless it is "needs a password") and only
 *    on a challenge asks again with interaction, never coalesced: each
 *    password prompt is for exactly one call;
 *  - refusals go through the per-uid throttle (throttle.c). */
#include "anyd-build-config.h"
#include "auth-private.h"

static const char *const verdict_names[] = { "allowed", "denied", "challenge", "dismissed", "denied" };

/* One caller waiting for a decision. */
typedef struct {
  AnydAuth     *auth;
  AnswerFunc    func;
  gpointer      data;
  AnydCaller   *caller;
  char         *action_id;
  GHashTable   *details;
  char         *key;          /* anyd_auth_decision_key() */
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
static void start_check (Flight *f);

static void
waiter_free (Waiter *w)
{
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
  const char *stack[ANYD_AUTH_MAX_DETAILS];
  guint n;
  const char **keys = anyd_auth_sorted_keys (details, stack, G_N_ELEMENTS (stack), &n);
  GString *s = g_string_sized_new (64);

  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (s, ' ');
      g_string_append (s, keys[i]);
      g_string_append_c (s, '=');
      g_string_append (s, g_hash_table_lookup (details, keys[i]));
    }
  if (keys != stack)
    g_free (keys);
  return g_string_free (s, FALSE);
}

void
anyd_auth_audit_decision (AnydCaller *caller, const char *action_id, GHashTable *details,
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
                          "Not authorized: cannot check %s: %s", action_id, message);
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
  GError *error = verdict_error (verdict, w->action_id, w->interactive, message);
  AnswerFunc func = w->func;
  gpointer data = w->data;

  anyd_metrics_auth_check ((AnydMetricsCheckResult) verdict);
  if (w->cancellable != NULL && w->cancel_id != 0)
    g_cancellable_disconnect (w->cancellable, w->cancel_id);
  w->cancel_id = 0;

  if (error != NULL)
    {
      gint64 now = g_get_monotonic_time ();
      /* Only callers still on the bus are throttled: a reply to one that
       * left goes nowhere and should not cost its uid a token. */
      gint64 release = w->audit && anyd_auth_connected (auth, w->caller)
                       ? anyd_auth_throttle_take (auth, w->caller->uid, now) : 0;

      if (release > now)
        {
          anyd_auth_throttle_delay (auth, w->caller, w->action_id, release, func, data, error);
          waiter_free (w);
          return;
        }
    }
  if (w->audit)
    anyd_auth_audit_decision (w->caller, w->action_id, w->details, w->object, verdict, message);
  waiter_free (w);
  func (data, error);
}

static void
track_pending (AnydAuth *auth, Flight *f, gboolean add)
{
  const char *sender = f->caller->sender;
  GPtrArray *list;

  if (sender == NULL || *sender == '\0')
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

/* A caller that left needs no answer: cancel its checks (and dialogs). */
void
anyd_auth_flights_cancel (AnydAuth *auth, const char *sender)
{
  GPtrArray *flights = g_hash_table_lookup (auth->pending, sender);

  if (flights != NULL)
    {
      g_autoptr(GPtrArray) copy = g_ptr_array_copy (flights, NULL, NULL);
      for (guint i = 0; i < copy->len; i++)
        flight_cancel (copy->pdata[i]);
    }
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
  sender = anyd_auth_sender (auth, f->caller->sender);
  if (sender != NULL && anyd_auth_cacheable (verdict, f->interactive, result) &&
      (f->generation == auth->generation ||
       polkit_authorization_result_get_temporary_authorization_id (result) != NULL))
    anyd_auth_cache_insert (auth, sender, f->key, verdict);

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
  subject = anyd_auth_subject (auth, f->caller);
  polkit_authority_check_authorization (auth->authority, subject, f->action_id, pdetails, flags,
                                        f->cancellable, check_cb, f);
}

static void
join_flight (AnydAuth *auth, Waiter *w, gboolean interactive)
{
  g_autofree char *join_key = NULL;
  Flight *f = NULL;
  const char *sender = w->caller->sender;

  /* Identical non-interactive checks share one polkit call. Interactive
   * ones do not: each password prompt authorizes one call. */
  if (!interactive && sender != NULL && *sender != '\0')
    {
      join_key = g_strconcat (sender, "\x1e", w->key, NULL);
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

/* Ask whether caller may do action_id; func gets the answer, at once when
 * it is cached (or polkit is missing), else from the main loop. */
void
anyd_auth_check_full (AnydAuth *auth, AnydCaller *caller, const char *action_id, GHashTable *details,
                      gboolean interactive, const char *object, gboolean audit, GCancellable *cancellable,
                      AnswerFunc func, gpointer data)
{
  Waiter *w;
  g_autofree char *key = anyd_auth_decision_key (action_id, details);
  Decision *cached = auth->authority != NULL
                     ? anyd_auth_cache_lookup (auth, anyd_auth_sender (auth, caller->sender), key) : NULL;

  if (cached != NULL && cached->verdict == VERDICT_ALLOWED)
    {
      /* The fast path: nothing to wait for, nothing to throttle. */
      anyd_metrics_auth_check (ANYD_METRICS_CHECK_ALLOWED);
      if (audit)
        anyd_auth_audit_decision (caller, action_id, details, object, VERDICT_ALLOWED, "cached");
      func (data, NULL);
      return;
    }

  w = g_new0 (Waiter, 1);
  w->auth = auth;
  w->func = func;
  w->data = data;
  w->caller = anyd_caller_ref (caller);
  w->action_id = g_strdup (action_id);
  w->details = details ? g_hash_table_ref (details) : NULL;
  w->key = g_steal_pointer (&key);
  w->interactive = interactive;
  w->object = g_strdup (object);
  w->audit = audit;
  w->cancellable = cancellable ? g_object_ref (cancellable) : NULL;

  if (auth->authority == NULL)
    answer (w, VERDICT_ERROR, "polkit is not available");
  else if (cached != NULL)
    answer (w, cached->verdict, "cached");
  else
    join_flight (auth, w, FALSE);
}

gboolean
anyd_auth_invocation_is_interactive (GDBusMethodInvocation *invocation)
{
  GDBusMessage *m = g_dbus_method_invocation_get_message (invocation);
  return (g_dbus_message_get_flags (m) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
}

/* ------------------------------------------------------------------ GTask API */

static void
task_answer (gpointer data, GError *error)
{
  g_autoptr(GTask) task = data;

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

void
anyd_auth_check_async (AnydAuth *auth, GDBusMethodInvocation *invocation, const char *action_id,
                       GHashTable *details, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  GTask *task;

  g_return_if_fail (caller != NULL);
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, anyd_auth_check_async);
  anyd_auth_check_full (auth, caller, action_id, details, anyd_auth_invocation_is_interactive (invocation),
                        g_dbus_method_invocation_get_object_path (invocation), TRUE, cancellable,
                        task_answer, task);
}

gboolean
anyd_auth_check_finish (AnydAuth *auth, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
query_answer (gpointer data, GError *error)
{
  g_autoptr(GTask) task = data;
  const char *answer = "yes";

  if (error != NULL)
    answer = g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN) ? "challenge" : "no";
  g_clear_error (&error);
  g_task_return_pointer (task, (gpointer) answer, NULL);
}

void
anyd_auth_query_async (AnydAuth *auth, AnydCaller *caller, const char *action_id,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, anyd_auth_query_async);
  anyd_auth_check_full (auth, caller, action_id, NULL, FALSE, NULL, FALSE, cancellable, query_answer, task);
}

const char *
anyd_auth_query_finish (AnydAuth *auth, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
