/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one authorization gate: every exported method passes here first.
 * This file holds the AnydAuth object (configuration, polkit authority,
 * the table of rules); auth-private.h lists the other parts. */
#include "anyd-build-config.h"
#include "auth-private.h"

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

static void
on_authority_changed (PolkitAuthority *authority, gpointer user_data)
{
  anyd_auth_cache_clear (user_data, "polkit rules, actions or sessions changed", FALSE);
}

static void
on_authority_owner (GObject *authority, GParamSpec *pspec, gpointer user_data)
{
  anyd_auth_cache_clear (user_data, "polkitd (re)started or stopped", FALSE);
}

AnydAuth *
anyd_auth_new (GDBusConnection *bus, AnydConfig *config)
{
  AnydAuth *auth = g_new0 (AnydAuth, 1);
  g_autoptr(GError) error = NULL;

  auth->bus = g_object_ref (bus);
  auth->rules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  auth->by_info = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_hash_table_unref);
  auth->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) anyd_auth_sender_free);
  auth->caller_waiters = g_hash_table_new (g_str_hash, g_str_equal);
  auth->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  auth->flights = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  auth->throttles = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) anyd_auth_throttle_free);
  auth->rates = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_queue_init (&auth->queued);
  g_queue_init (&auth->preparing);
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
  return auth;
}

/* Replies still held back by the throttle are sent now, from this stack
 * (their answer functions only reply and free); nothing else runs. */
void
anyd_auth_free (AnydAuth *auth)
{
  if (auth == NULL)
    return;
  anyd_auth_prepare_free (auth);
  g_hash_table_unref (auth->throttles);
  if (auth->authority != NULL)
    {
      g_signal_handler_disconnect (auth->authority, auth->changed_id);
      g_signal_handler_disconnect (auth->authority, auth->owner_id);
    }
  g_clear_object (&auth->authority);
  g_clear_pointer (&auth->config, anyd_config_unref);
  /* The links are inside the entries, which go with their senders:
   * g_queue_clear() would free them as list nodes. */
  g_queue_init (&auth->lru);
  g_hash_table_unref (auth->rules);
  g_hash_table_unref (auth->by_info);
  g_hash_table_unref (auth->callers);
  g_hash_table_unref (auth->caller_waiters);
  g_hash_table_unref (auth->pending);
  g_hash_table_unref (auth->flights);
  g_hash_table_unref (auth->rates);
  g_object_unref (auth->bus);
  g_free (auth);
}

/* One NameOwnerChanged dispatcher (the daemon's) tells the gate when a
 * unique name left the bus. */
void
anyd_auth_name_vanished (AnydAuth *auth, const char *name)
{
  if (name[0] != ':')
    return;
  anyd_auth_callers_vanished (auth, name);
  anyd_auth_flights_cancel (auth, name);
  anyd_auth_prepare_forget_sender (auth, name);
  anyd_auth_throttle_forget_sender (auth, name);
}

void
anyd_auth_set_config (AnydAuth *auth, AnydConfig *config)
{
  gint64 ttl_us;
  guint cache_size, call_rate;

  g_clear_pointer (&auth->config, anyd_config_unref);
  auth->config = config ? anyd_config_ref (config) : NULL;
  auth->max_in_flight = config ? anyd_config_get_uint (config, "auth", "max_checks_in_flight") : 64;
  if (auth->max_in_flight == 0)
    auth->max_in_flight = 1;
  ttl_us = (gint64) (config ? anyd_config_get_uint (config, "auth", "cache_ttl_ms") : 5000) * 1000;
  cache_size = config ? anyd_config_get_uint (config, "auth", "cache_size") : 4096;
  auth->deny_burst = config ? anyd_config_get_uint (config, "auth", "deny_burst") : 20;
  auth->deny_rate = config ? anyd_config_get_uint (config, "auth", "deny_rate") : 10;
  call_rate = config ? anyd_config_get_uint (config, "limits", "calls_per_second_per_uid") : 200;
  if (call_rate != auth->call_rate)
    {
      auth->call_rate = call_rate;
      auth->call_burst = 2 * call_rate;
      g_hash_table_remove_all (auth->rates);   /* buckets start full under the new rate */
    }
  /* Entries made under another TTL or size are dropped; anything else in
   * anyd's configuration does not change what polkit answers (polkit
   * signals its own changes). */
  if (ttl_us != auth->ttl_us || cache_size != auth->cache_size)
    {
      auth->ttl_us = ttl_us;
      auth->cache_size = cache_size;
      anyd_auth_cache_clear (auth, "cache settings changed", TRUE);
    }
}

void
anyd_auth_set_activity_func (AnydAuth *auth, AnydAuthActivityFunc func, gpointer user_data)
{
  auth->activity_func = func;
  auth->activity_data = user_data;
}

/* ------------------------------------------------------------------ rules */

static char *
rule_key (const char *interface, const char *method)
{
  return g_strconcat (interface, "\x1f", method, NULL);
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
  g_hash_table_remove_all (auth->by_info);   /* rebuilt on demand */
}

const AnydAuthRule *
anyd_auth_lookup (AnydAuth *auth, const char *interface, const char *method)
{
  g_autofree char *key = rule_key (interface, method);
  return g_hash_table_lookup (auth->rules, key);
}

/* The rule for a call, by the method's introspection data (pointer keys,
 * no string building per call). */
const AnydAuthRule *
anyd_auth_rule_for (AnydAuth *auth, GDBusInterfaceInfo *info, GDBusMethodInvocation *invocation)
{
  const GDBusMethodInfo *method = g_dbus_method_invocation_get_method_info (invocation);
  GHashTable *methods;

  if (method == NULL || info == NULL)
    return anyd_auth_lookup (auth, g_dbus_method_invocation_get_interface_name (invocation),
                             g_dbus_method_invocation_get_method_name (invocation));
  methods = g_hash_table_lookup (auth->by_info, info);
  if (methods == NULL)
    {
      methods = g_hash_table_new (NULL, NULL);
      for (guint i = 0; info->methods != NULL && info->methods[i] != NULL; i++)
        {
          const AnydAuthRule *r = anyd_auth_lookup (auth, info->name, info->methods[i]->name);
          if (r != NULL)
            g_hash_table_insert (methods, info->methods[i], (gpointer) r);
        }
      g_hash_table_insert (auth->by_info, info, methods);
    }
  return g_hash_table_lookup (methods, method);
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

  g_hash_table_iter_init (&it, auth->rules);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      const AnydAuthRule *rule = v;

      if (rule->action != NULL)
        g_hash_table_add (set, (gpointer) rule->action);
      if (rule->flags & ANYD_AUTH_OWNER_MANAGE)
        g_hash_table_add (set, (gpointer) anyd_auth_rule_owner_action (rule));
    }
  g_hash_table_iter_init (&it, set);
  while (g_hash_table_iter_next (&it, &v, NULL))
    g_ptr_array_add (out, g_strdup (v));
  g_ptr_array_sort (out, compare_strings);
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}
