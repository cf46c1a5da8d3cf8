/* The one authorization gate: every exported method passes here first.
 *
 * anyd_auth_guard() puts a closure in front of every handle-* signal of a
 * generated skeleton. The closure stops the emission, looks the (interface,
 * method) up in the table, resolves the caller's credentials, asks polkit
 * asynchronously, and only then re-dispatches the call through the
 * skeleton's vtable with a mark on the invocation, so the module's handler
 * runs on the main thread and only for authorized calls. Unlike
 * ::g-authorize-method this needs no worker thread per call. */
#include "anyd-build-config.h"
#include "auth.h"
#include "audit.h"
#include "error.h"
#include "names.h"

#include <polkit/polkit.h>
#include <string.h>
#include <unistd.h>

#define MARK_AUTHORIZED "anyd-authorized"
#define MARK_CALLER     "anyd-caller"

const AnydConfigKey anyd_auth_config_keys[] = {
  { "auth", "max_checks_in_flight", ANYD_CONFIG_UINT, "64",
    "polkit checks the gate runs at once; further checks wait in a queue (the bus allows 128 pending replies)", 128 },
  { NULL }
};

struct _AnydAuth {
  GDBusConnection      *bus;
  PolkitAuthority      *authority;
  AnydConfig           *config;
  GHashTable           *rules;          /* "iface\x1fmethod" -> const AnydAuthRule* */
  GHashTable           *callers;        /* sender -> AnydCaller* */
  GHashTable           *caller_waiters; /* sender -> GPtrArray of GTask* (one credentials call per sender) */
  GHashTable           *pending;        /* sender -> GPtrArray of GCancellable* (checks in flight) */
  guint                 name_owner_sub;
  AnydAuthActivityFunc  activity_func;
  gpointer              activity_data;
  guint                 in_flight;
  guint                 max_in_flight;
  GQueue                queued;         /* CheckData* waiting for a slot */
};

static char *
rule_key (const char *interface, const char *method)
{
  return g_strdup_printf ("%s\x1f%s", interface, method);
}

/* ------------------------------------------------------------------ callers */

static void
on_name_owner_changed (GDBusConnection *bus, const char *sender_name, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  AnydAuth *auth = user_data;
  const char *name, *old_owner, *new_owner;
  GPtrArray *cancellables;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] != ':' || *new_owner != '\0')
    return;
  g_hash_table_remove (auth->callers, name);
  /* A caller that left needs no answer: cancel its checks (and dialogs). */
  cancellables = g_hash_table_lookup (auth->pending, name);
  if (cancellables != NULL)
    for (guint i = 0; i < cancellables->len; i++)
      g_cancellable_cancel (cancellables->pdata[i]);
}

typedef struct {
  AnydAuth *auth;
  char     *sender;
} CredentialsData;

static void
credentials_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  CredentialsData *cd = user_data;
  AnydAuth *auth = cd->auth;
  g_autofree char *sender = cd->sender;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr(GPtrArray) waiters = NULL;
  g_autoptr(AnydCaller) caller = NULL;
  g_autofree char *key = NULL;   /* stealing hands over the key too */

  g_free (cd);
  g_hash_table_steal_extended (auth->caller_waiters, sender, (gpointer *) &key, (gpointer *) &waiters);

  if (reply != NULL)
    {
      g_autoptr(GVariant) dict = g_variant_get_child_value (reply, 0);
      guint32 uid = G_MAXUINT32, pid = 0;

      if (!g_variant_lookup (dict, "UnixUserID", "u", &uid))
        g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "the bus did not say who %s is", sender);
      g_variant_lookup (dict, "ProcessID", "u", &pid);
      if (error == NULL)
        {
          caller = anyd_caller_new (sender, uid, pid);
          g_hash_table_replace (auth->callers, g_strdup (sender), anyd_caller_ref (caller));
        }
    }

  for (guint i = 0; waiters != NULL && i < waiters->len; i++)
    {
      GTask *task = waiters->pdata[i];
      if (caller != NULL)
        g_task_return_pointer (task, anyd_caller_ref (caller), (GDestroyNotify) anyd_caller_unref);
      else
        g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_FAILED,
                                 "cannot identify caller %s: %s", sender, error->message);
    }
}

void
anyd_auth_get_caller_async (AnydAuth *auth, const char *sender, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  AnydCaller *cached;
  GPtrArray *waiters;
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
      g_task_return_pointer (task, anyd_caller_ref (cached), (GDestroyNotify) anyd_caller_unref);
      return;
    }

  waiters = g_hash_table_lookup (auth->caller_waiters, sender);
  if (waiters != NULL)
    {
      g_ptr_array_add (waiters, g_steal_pointer (&task));
      return;
    }
  waiters = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (waiters, g_steal_pointer (&task));
  cd = g_new0 (CredentialsData, 1);
  cd->auth = auth;
  cd->sender = g_strdup (sender);
  g_hash_table_insert (auth->caller_waiters, g_strdup (sender), waiters);
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

typedef struct {
  AnydAuth              *auth;
  GTask                 *task;
  AnydCaller            *caller;
  char                  *action_id;
  GHashTable            *details;
  gboolean               interactive;
  GCancellable          *cancellable;
  char                  *object;       /* for audit */
  gboolean               audit;        /* FALSE for GetCallerInfo's queries */
} CheckData;

static void
check_data_free (CheckData *d)
{
  anyd_caller_unref (d->caller);
  g_free (d->action_id);
  g_free (d->object);
  g_clear_pointer (&d->details, g_hash_table_unref);
  g_clear_object (&d->cancellable);
  g_free (d);
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
track_pending (AnydAuth *auth, const char *sender, GCancellable *c, gboolean add)
{
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
      g_ptr_array_add (list, c);
    }
  else if (list != NULL)
    {
      g_ptr_array_remove_fast (list, c);
      if (list->len == 0)
        g_hash_table_remove (auth->pending, sender);
    }
}

static void start_check (CheckData *d);

static void
finish_check (CheckData *d)
{
  AnydAuth *auth = d->auth;

  track_pending (auth, d->caller->sender, d->cancellable, FALSE);
  auth->in_flight--;
  if (!g_queue_is_empty (&auth->queued))
    start_check (g_queue_pop_head (&auth->queued));
}

static void
check_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  CheckData *d = user_data;
  g_autoptr(GTask) task = d->task;
  g_autoptr(GError) error = NULL;
  g_autoptr(PolkitAuthorizationResult) result = NULL;
  g_autofree char *details = details_to_string (d->details);
  const char *verdict;
  GError *answer = NULL;
  AnydAuditRecord record = {
    .message_id = ANYD_MSGID_AUTH,
    .action = d->action_id,
    .caller = d->caller,
    .object = d->object,
    .details = details,
  };

  result = polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);
  finish_check (d);

  if (result == NULL)
    {
      /* Fail closed: no answer from polkit is no. */
      verdict = "denied";
      record.message = error->message;
      answer = g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                            "Not authorized: cannot check %s (%s)", d->action_id, error->message);
    }
  else if (polkit_authorization_result_get_is_authorized (result))
    verdict = "allowed";
  else if (polkit_authorization_result_get_dismissed (result))
    {
      verdict = "dismissed";
      answer = g_error_new (ANYD_ERROR, ANYD_ERROR_AUTHORIZATION_DISMISSED,
                            "Authentication for %s was dismissed", d->action_id);
    }
  else if (polkit_authorization_result_get_is_challenge (result))
    {
      verdict = "challenge";
      answer = g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,
                            "Authentication is required for %s%s", d->action_id,
                            d->interactive ? "" : " (call with interactive authorization allowed)");
    }
  else
    {
      verdict = "denied";
      answer = g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                            "Not authorized to perform %s", d->action_id);
    }

  /* Audit first: answering may complete the call and free what it refers to. */
  record.result = verdict;
  if (d->audit)
    anyd_audit (&record);
  if (answer != NULL)
    g_task_return_error (task, answer);
  else
    g_task_return_boolean (task, TRUE);
  check_data_free (d);
}

static void
start_check (CheckData *d)
{
  AnydAuth *auth = d->auth;
  g_autoptr(PolkitSubject) subject = NULL;
  g_autoptr(PolkitDetails) pdetails = polkit_details_new ();
  PolkitCheckAuthorizationFlags flags = POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
  GHashTableIter it;
  gpointer k, v;

  if (auth->in_flight >= auth->max_in_flight)
    {
      g_queue_push_tail (&auth->queued, d);
      return;
    }
  auth->in_flight++;
  track_pending (auth, d->caller->sender, d->cancellable, TRUE);

  if (d->details != NULL)
    {
      g_hash_table_iter_init (&it, d->details);
      while (g_hash_table_iter_next (&it, &k, &v))
        polkit_details_insert (pdetails, k, v);
    }
  if (d->interactive)
    flags |= POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION;
  if (d->caller->sender != NULL && *d->caller->sender != '\0')
    subject = polkit_system_bus_name_new (d->caller->sender);
  else
    subject = polkit_unix_process_new_for_owner ((gint) d->caller->pid, 0, (gint) d->caller->uid);

  polkit_authority_check_authorization (auth->authority, subject, d->action_id, pdetails, flags,
                                        d->cancellable, check_cb, d);
}

static void
check_internal (AnydAuth *auth, AnydCaller *caller, const char *action_id, GHashTable *details,
                gboolean interactive, const char *object, gboolean audit, GCancellable *cancellable,
                GAsyncReadyCallback callback, gpointer user_data)
{
  CheckData *d = g_new0 (CheckData, 1);

  d->auth = auth;
  d->task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (d->task, check_internal);
  d->caller = anyd_caller_ref (caller);
  d->action_id = g_strdup (action_id);
  d->details = details ? g_hash_table_ref (details) : NULL;
  d->interactive = interactive;
  d->object = g_strdup (object);
  d->audit = audit;
  d->cancellable = cancellable ? g_object_ref (cancellable) : g_cancellable_new ();

  if (auth->authority == NULL)
    {
      g_task_return_new_error (d->task, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                               "Not authorized: polkit is not available");
      g_object_unref (d->task);
      check_data_free (d);
      return;
    }
  start_check (d);
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

  if (g_object_get_data (G_OBJECT (inv), MARK_AUTHORIZED) != NULL)
    {
      g_value_set_boolean (return_value, FALSE);  /* go on to the module's handler */
      return;
    }
  g_value_set_boolean (return_value, TRUE);       /* the gate owns the call now */

  if (g->auth->activity_func != NULL)
    g->auth->activity_func (inv, g->auth->activity_data);

  rule = anyd_auth_lookup (g->auth, iface, method);
  if (rule == NULL)
    {
      /* Deny by default: a method nobody mapped is a bug, not a free pass. */
      g_warning ("BUG: %s.%s has no authorization rule; refusing", iface, method);
      g_dbus_method_invocation_return_error (inv, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                                             "Not authorized: %s.%s has no authorization rule",
                                             iface, method);
      return;
    }

  c = g_new0 (CallData, 1);
  c->auth = g->auth;
  c->skeleton = g_object_ref (skeleton);
  c->invocation = inv;  /* the reference handed to the handler is ours now */
  c->rule = rule;
  c->details = rule_details (rule, g_dbus_method_invocation_get_parameters (inv));
  if (g->details_func != NULL)
    g->details_func (skeleton, method, g_dbus_method_invocation_get_parameters (inv), c->details,
                     g->details_data);
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

AnydAuth *
anyd_auth_new (GDBusConnection *bus, AnydConfig *config)
{
  AnydAuth *auth = g_new0 (AnydAuth, 1);
  g_autoptr(GError) error = NULL;

  auth->bus = g_object_ref (bus);
  auth->rules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  auth->callers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) anyd_caller_unref);
  auth->caller_waiters = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  auth->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  g_queue_init (&auth->queued);
  anyd_auth_set_config (auth, config);

  auth->authority = polkit_authority_get_sync (NULL, &error);
  if (auth->authority == NULL)
    g_warning ("polkit authority unavailable, every check will fail: %s", error->message);

  auth->name_owner_sub =
    g_dbus_connection_signal_subscribe (bus, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                        "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
                                        G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, auth, NULL);
  return auth;
}

void
anyd_auth_free (AnydAuth *auth)
{
  if (auth == NULL)
    return;
  g_dbus_connection_signal_unsubscribe (auth->bus, auth->name_owner_sub);
  g_clear_object (&auth->authority);
  g_clear_pointer (&auth->config, anyd_config_unref);
  g_hash_table_unref (auth->rules);
  g_hash_table_unref (auth->callers);
  g_hash_table_unref (auth->caller_waiters);
  g_hash_table_unref (auth->pending);
  g_object_unref (auth->bus);
  g_free (auth);
}

void
anyd_auth_set_config (AnydAuth *auth, AnydConfig *config)
{
  g_clear_pointer (&auth->config, anyd_config_unref);
  auth->config = config ? anyd_config_ref (config) : NULL;
  auth->max_in_flight = config ? anyd_config_get_uint (config, "auth", "max_checks_in_flight") : 64;
  if (auth->max_in_flight == 0)
    auth->max_in_flight = 1;
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
