/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decision cache, keyed by (sender, action, details). A unique bus name
 * is never reused while the bus runs and a connection's credentials cannot
 * change, so an entry is about one fixed subject. Only answers that do not
 * stem from a one-shot password prompt are kept (anyd_auth_cacheable()),
 * every entry expires after [auth] cache_ttl_ms, and all of them go when
 * polkit says its rules, actions or sessions changed or polkitd restarts. */
#include "anyd-build-config.h"
#include "auth-private.h"

#include <stdlib.h>
#include <string.h>

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* details' keys in order: in stack (max entries) when they fit, else in a
 * new array the caller frees (return value != stack). */
const char **
anyd_auth_sorted_keys (GHashTable *details, const char **stack, guint max, guint *n)
{
  GHashTableIter it;
  gpointer k;
  const char **keys;

  *n = details ? g_hash_table_size (details) : 0;
  if (*n > max)
    {
      keys = (const char **) g_hash_table_get_keys_as_array (details, n);
      qsort (keys, *n, sizeof (char *), compare_keys);
      return keys;
    }
  keys = stack;
  *n = 0;
  if (details == NULL)
    return keys;
  g_hash_table_iter_init (&it, details);
  while (g_hash_table_iter_next (&it, &k, NULL))
    {
      guint i = (*n)++;
      while (i > 0 && strcmp (keys[i - 1], k) > 0)
        {
          keys[i] = keys[i - 1];
          i--;
        }
      keys[i] = k;
    }
  return keys;
}

/* "%zu:" into num (24 bytes), without printf: this is on every gated call. */
static const char *
length_prefix (char *num, gsize len)
{
  char *p = num + 23;

  *p = '\0';
  *--p = ':';
  do
    *--p = (char) ('0' + len % 10);
  while ((len /= 10) != 0);
  return p;
}

/* An unambiguous text for (action, details): keys sorted, lengths spelled
 * out so no value can fake a separator. */
char *
anyd_auth_decision_key (const char *action_id, GHashTable *details)
{
  const char *stack[ANYD_AUTH_MAX_DETAILS];
  guint n;
  const char **keys = anyd_auth_sorted_keys (details, stack, G_N_ELEMENTS (stack), &n);
  GString *s = g_string_sized_new (128);

  g_string_append (s, action_id);
  for (guint i = 0; i < n; i++)
    {
      const char *v = g_hash_table_lookup (details, keys[i]);
      char num[24];

      g_string_append_c (s, '\x1f');
      g_string_append (s, length_prefix (num, strlen (keys[i])));
      g_string_append (s, keys[i]);
      g_string_append (s, length_prefix (num, strlen (v)));
      g_string_append (s, v);
    }
  if (keys != stack)
    g_free (keys);
  return g_string_free (s, FALSE);
}

static void
cache_remove (AnydAuth *auth, Decision *d)
{
  g_queue_unlink (&auth->lru, &d->lru);
  g_hash_table_remove (d->sender->decisions, d->key);  /* frees d */
}

void
anyd_auth_cache_clear (AnydAuth *auth, const char *why, gboolean quiet_if_empty)
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

/* The sender is going away: unlink its entries (its table frees them). */
void
anyd_auth_cache_forget (AnydAuth *auth, Sender *sender)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, sender->decisions);
  while (g_hash_table_iter_next (&it, NULL, &v))
    g_queue_unlink (&auth->lru, &((Decision *) v)->lru);
}

Decision *
anyd_auth_cache_lookup (AnydAuth *auth, Sender *sender, const char *key)
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
  if (auth->lru.head != &d->lru)
    {
      g_queue_unlink (&auth->lru, &d->lru);
      g_queue_push_head_link (&auth->lru, &d->lru);
    }
  anyd_metrics_auth_cache_hit ();
  return d;
}

void
anyd_auth_cache_insert (AnydAuth *auth, Sender *sender, const char *key, Verdict verdict)
{
  Decision *d;
  gsize len = strlen (key) + 1;

  if (auth->ttl_us == 0 || auth->cache_size == 0)
    return;
  d = g_hash_table_lookup (sender->decisions, key);
  if (d != NULL)
    cache_remove (auth, d);
  while (auth->lru.length >= auth->cache_size)
    cache_remove (auth, auth->lru.tail->data);
  /* One block: the table's g_free frees key and entry together. */
  d = g_malloc0 (sizeof (Decision) + len);
  d->sender = sender;
  d->key = memcpy ((char *) (d + 1), key, len);
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
gboolean
anyd_auth_cacheable (Verdict verdict, gboolean interactive, PolkitAuthorizationResult *result)
{
  if (verdict == VERDICT_ALLOWED)
    return !interactive || polkit_authorization_result_get_temporary_authorization_id (result) != NULL;
  if (verdict == VERDICT_DENIED)
    return !interactive;
  return FALSE;
}
