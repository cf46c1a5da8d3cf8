/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The gate on each skeleton.
 *
 * GDBus asks a skeleton for its vtable (get_vtable) on every incoming
 * call and runs the vtable's method_call, which for a generated skeleton
 * emits the handle-* signal. anyd_auth_guard() gives the skeleton a
 * subclass of its own type, made once per type, whose get_vtable returns
 * the parent's vtable with method_call replaced by the gate. So no handler
 * of the skeleton runs before the gate has decided, whenever and in
 * whatever order handlers were connected: the signal is not emitted at
 * all until the call is authorized. The gate then runs the parent's
 * method_call itself, on the main thread, with the caller attached to the
 * invocation (anyd_caller_from_invocation()).
 *
 * A call whose caller is known and whose decision is cached runs its
 * handler within the same dispatch, without a main loop round trip. */
#include "anyd-build-config.h"
#include "auth-private.h"

#include <string.h>

/* One guarded subclass per skeleton type. Types are made and looked up on
 * the main thread only (where anyd builds and dispatches its objects). */
typedef struct {
  GType                         type;      /* the subclass */
  GDBusInterfaceMethodCallFunc  handler;   /* the parent's method_call: emits handle-* */
  GDBusInterfaceVTable          vtable;    /* the parent's, method_call = gate */
  gboolean                      ready;
} GuardedType;

/* The gate's state for one skeleton (qdata, freed with it). */
typedef struct {
  AnydAuth             *auth;
  GuardedType          *gt;
  GDBusInterfaceInfo   *info;
  AnydAuthDetailsFunc   details_func;
  gpointer              details_data;
  AnydAuthPrecheckFunc  precheck;
  gpointer              precheck_data;
  AnydAuthOwnerFunc     owner_func;
  gpointer              owner_data;
  GBoxedCopyFunc        threaded_ref;   /* details and precheck in a thread */
  GDestroyNotify        threaded_unref;
} Guard;

/* One call held by the gate until it is decided. */
typedef struct {
  AnydAuth               *auth;
  Guard                  *guard;
  GDBusInterfaceSkeleton *skeleton;
  GDBusMethodInvocation  *invocation;  /* ours until handed to the handler or answered */
  const AnydAuthRule     *rule;
  GHashTable             *details;
  AnydCaller             *caller;
  gboolean                owner_checked;
} CallData;

static GQuark guard_quark;
static GQuark type_quark;

static void gate_method_call (GDBusConnection *bus, const char *sender, const char *path,
                              const char *iface, const char *method, GVariant *params,
                              GDBusMethodInvocation *invocation, gpointer user_data);

/* ------------------------------------------------------------------ the subclass */

static GDBusInterfaceVTable *
guarded_get_vtable (GDBusInterfaceSkeleton *skeleton)
{
  GType type = G_OBJECT_TYPE (skeleton);
  GuardedType *gt = g_type_get_qdata (type, type_quark);

  if (G_UNLIKELY (!gt->ready))
    {
      GDBusInterfaceSkeletonClass *parent = g_type_class_peek (g_type_parent (type));
      GDBusInterfaceVTable *v = parent->get_vtable (skeleton);

      gt->vtable = *v;
      gt->handler = v->method_call;
      gt->vtable.method_call = gate_method_call;
      gt->ready = TRUE;
    }
  return &gt->vtable;
}

static void
guarded_class_init (gpointer klass, gpointer class_data)
{
  G_DBUS_INTERFACE_SKELETON_CLASS (klass)->get_vtable = guarded_get_vtable;
}

static GuardedType *
guarded_type_for (GType parent)
{
  g_autofree char *name = g_strconcat ("AnydGuarded_", g_type_name (parent), NULL);
  GType type = g_type_from_name (name);
  GTypeQuery q;
  GTypeInfo info = { 0 };
  GuardedType *gt;

  if (type != 0)
    return g_type_get_qdata (type, type_quark);
  g_type_query (parent, &q);
  info.class_size = (guint16) q.class_size;
  info.class_init = guarded_class_init;
  info.instance_size = (guint16) q.instance_size;
  type = g_type_register_static (parent, name, &info, 0);
  gt = g_new0 (GuardedType, 1);   /* lives as long as the type: the process */
  gt->type = type;
  g_type_set_qdata (type, type_quark, gt);
  return gt;
}

/* Make the skeleton an instance of the guarded subclass of its type. The
 * subclass adds no instance or private data, so the object's memory is
 * laid out exactly as before; only its class (and class reference) moves. */
static GuardedType *
become_guarded (GDBusInterfaceSkeleton *skeleton)
{
  GTypeInstance *instance = (GTypeInstance *) skeleton;
  GType type = G_OBJECT_TYPE (skeleton);
  GuardedType *gt = g_type_get_qdata (type, type_quark);
  gpointer old_class;

  if (gt != NULL)
    return gt;   /* guarded already */
  gt = guarded_type_for (type);
  old_class = instance->g_class;
  instance->g_class = g_type_class_ref (gt->type);
  g_type_class_unref (old_class);
  return gt;
}

/* ------------------------------------------------------------------ calls */

static void
call_data_free (CallData *c)
{
  g_clear_object (&c->skeleton);
  g_clear_object (&c->invocation);
  g_clear_pointer (&c->details, g_hash_table_unref);
  g_clear_pointer (&c->caller, anyd_caller_unref);
  g_free (c);
}

static void
refuse (CallData *c, GError *error)
{
  anyd_invocation_return_error (g_steal_pointer (&c->invocation), error);
  call_data_free (c);
}

/* Authorized: the handler runs, with the invocation's reference. */
static void
dispatch (CallData *c)
{
  GDBusMethodInvocation *inv = g_steal_pointer (&c->invocation);

  anyd_caller_attach (inv, c->caller);
  c->guard->gt->handler (g_dbus_method_invocation_get_connection (inv),
                         g_dbus_method_invocation_get_sender (inv),
                         g_dbus_method_invocation_get_object_path (inv),
                         g_dbus_method_invocation_get_interface_name (inv),
                         g_dbus_method_invocation_get_method_name (inv),
                         g_dbus_method_invocation_get_parameters (inv),
                         inv,
                         g_dbus_method_invocation_get_user_data (inv));
  call_data_free (c);
}

static void call_checked (gpointer data, GError *error);

/* The owner rule: on an object another uid owns, also the row's owner action. */
static gboolean
owner_needs_manage (CallData *c)
{
  guint32 owner;

  if (!(c->rule->flags & ANYD_AUTH_OWNER_MANAGE) || c->guard->owner_func == NULL)
    return FALSE;
  owner = c->guard->owner_func (c->skeleton, c->guard->owner_data);
  return owner != ANYD_AUTH_NO_OWNER && owner != c->caller->uid;
}

static void
call_checked (gpointer data, GError *error)
{
  CallData *c = data;
  GDBusMethodInvocation *inv = c->invocation;

  if (error != NULL)
    {
      refuse (c, error);
      return;
    }
  if (!c->owner_checked && owner_needs_manage (c))
    {
      c->owner_checked = TRUE;
      anyd_auth_check_full (c->auth, c->caller, anyd_auth_rule_owner_action (c->rule), c->details,
                            anyd_auth_invocation_is_interactive (inv),
                            g_dbus_method_invocation_get_object_path (inv), TRUE, NULL, call_checked, c);
      return;
    }
  dispatch (c);
}

/* The caller is known: rate limit, then polkit (or the cache). */
static void
call_decide (CallData *c)
{
  GDBusMethodInvocation *inv = c->invocation;
  GError *error = NULL;

  if (c->rule->action == NULL)
    {
      dispatch (c);
      return;
    }
  if (!anyd_auth_rate_take (c->auth, c->caller, c->rule->action,
                            g_dbus_method_invocation_get_object_path (inv), &error))
    {
      refuse (c, error);
      return;
    }
  anyd_auth_check_full (c->auth, c->caller, c->rule->action, c->details,
                        anyd_auth_invocation_is_interactive (inv),
                        g_dbus_method_invocation_get_object_path (inv), TRUE, NULL, call_checked, c);
}

static void
caller_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  CallData *c = user_data;
  GError *error = NULL;

  c->caller = anyd_auth_get_caller_finish (c->auth, res, &error);
  if (c->caller == NULL)
    refuse (c, error);
  else
    call_decide (c);
}

/* Details polkit rules see: the rule's argument and static pairs, then
 * whatever the module's details function adds from the object. */
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
      const char *p = rule->extra_details;
      while (*p != '\0')
        {
          const char *end = strchr (p, ';');
          const char *eq = strchr (p, '=');
          gsize len = end ? (gsize) (end - p) : strlen (p);

          if (eq != NULL && eq < p + len)
            g_hash_table_insert (details, g_strndup (p, (gsize) (eq - p)),
                                 g_strndup (eq + 1, len - (gsize) (eq - p) - 1));
          p += len + (end ? 1 : 0);
        }
    }
  return details;
}

/* A refusal no authorization could change, before polkit is asked; audited
 * as a decision (the caller's credentials are known only if cached). */
static void
precheck_refuse (Guard *g, GDBusMethodInvocation *inv, const AnydAuthRule *rule, GHashTable *details,
                 GError *error)
{
  Sender *sender = anyd_auth_sender (g->auth, g_dbus_method_invocation_get_sender (inv));

  anyd_auth_audit_decision (sender ? sender->caller : NULL, rule->action, details,
                            g_dbus_method_invocation_get_object_path (inv), VERDICT_DENIED, error->message);
  anyd_invocation_return_error (inv, error);
}

/* The details polkit sees and the precheck's refusal (*error): on the main
 * thread, or in the gate's pool for a threaded guard (which passes its one
 * ref'd user_data as both). */
static GHashTable *
prepare_details (Guard *g, GDBusInterfaceSkeleton *skeleton, const AnydAuthRule *rule,
                 GDBusMethodInvocation *inv, gpointer details_data, gpointer precheck_data,
                 GError **error)
{
  const char *method = g_dbus_method_invocation_get_method_name (inv);
  GVariant *params = g_dbus_method_invocation_get_parameters (inv);
  GHashTable *details = rule_details (rule, params);

  if (g->details_func != NULL)
    g->details_func (skeleton, method, params, details, details_data);
  if (g->precheck != NULL)
    g->precheck (skeleton, method, params, precheck_data, error);
  return details;
}

static void gate_continue (Guard *g, GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *invocation,
                           const AnydAuthRule *rule, GHashTable *details);

/* Details and precheck of a threaded guard, in a worker thread of the
 * gate's own pool: at most ANYD_AUTH_PREPARE_THREADS run at once, so calls
 * that hang in the file system (a hung NFS or autofs argv[0]) can tie up
 * only that pool, never GLib's shared one (GTask, GIO's async file and
 * resolver work, anyd's user lookups); further calls wait in its queue. */
typedef struct {
  Guard                  *guard;
  GDBusInterfaceSkeleton *skeleton;     /* a reference: it holds the guard */
  GDBusMethodInvocation  *invocation;
  const AnydAuthRule     *rule;
  gpointer                data;         /* threaded_ref'd details/precheck data */
  GHashTable             *details;
  GError                 *error;        /* the precheck's refusal */
  GMainContext           *context;      /* where the gate runs, and the result goes */
  GList                   link;         /* in auth->preparing (main thread) */
  gint                    cancelled;    /* atomic: the caller left, skip the work */
  gboolean                orphaned;     /* main thread: the gate is gone */
} Prepare;

/* On the main thread (the data's and skeleton's references are the main
 * thread's to drop). */
static void
prepare_free (Prepare *p)
{
  if (p->data != NULL)
    p->guard->threaded_unref (p->data);
  g_clear_pointer (&p->details, g_hash_table_unref);
  g_clear_error (&p->error);
  g_clear_object (&p->invocation);   /* left only when nobody is to be answered */
  g_object_unref (p->skeleton);
  g_main_context_unref (p->context);
  g_free (p);
}

/* Back on the main thread, like a GTask's callback. */
static gboolean
prepared_cb (gpointer user_data)
{
  Prepare *p = user_data;

  if (!p->orphaned)
    g_queue_unlink (&p->guard->auth->preparing, &p->link);
  if (p->orphaned || g_atomic_int_get (&p->cancelled))
    ;   /* nobody to answer (the caller left), or no gate to answer with */
  else if (p->error != NULL)
    precheck_refuse (p->guard, g_steal_pointer (&p->invocation), p->rule, p->details,
                     g_steal_pointer (&p->error));
  else
    gate_continue (p->guard, p->skeleton, g_steal_pointer (&p->invocation), p->rule,
                   g_steal_pointer (&p->details));
  prepare_free (p);
  return G_SOURCE_REMOVE;
}

static void
prepare_thread (gpointer data, gpointer pool_data)
{
  Prepare *p = data;
  GSource *source;

  if (!g_atomic_int_get (&p->cancelled))
    p->details = prepare_details (p->guard, p->skeleton, p->rule, p->invocation, p->data, p->data,
                                  &p->error);
  /* An idle source, not g_main_context_invoke(): that would run the
   * callback right here whenever this thread can acquire the context. */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, prepared_cb, p, NULL);
  g_source_set_static_name (source, "[anyd] gate prepared");
  g_source_attach (source, p->context);
  g_source_unref (source);
}

static void
prepare_start (Guard *g, GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *invocation,
               const AnydAuthRule *rule)
{
  AnydAuth *auth = g->auth;
  Prepare *p = g_new0 (Prepare, 1);

  if (auth->prepare_pool == NULL)
    auth->prepare_pool = g_thread_pool_new (prepare_thread, NULL, ANYD_AUTH_PREPARE_THREADS,
                                            FALSE, NULL);
  p->guard = g;
  p->skeleton = g_object_ref (skeleton);
  p->invocation = invocation;
  p->rule = rule;
  p->data = g->details_data != NULL ? g->threaded_ref (g->details_data) : NULL;
  p->context = g_main_context_ref_thread_default ();
  p->link.data = p;
  g_queue_push_tail_link (&auth->preparing, &p->link);
  g_thread_pool_push (auth->prepare_pool, p, NULL);
}

/* The caller left: its calls still waiting for the pool are skipped. */
void
anyd_auth_prepare_forget_sender (AnydAuth *auth, const char *sender)
{
  for (GList *l = auth->preparing.head; l != NULL; l = l->next)
    {
      Prepare *p = l->data;

      if (g_strcmp0 (g_dbus_method_invocation_get_sender (p->invocation), sender) == 0)
        g_atomic_int_set (&p->cancelled, 1);
    }
}

/* The gate goes (at exit): work still queued or running, maybe hung for
 * good, is neither waited for nor answered; its results are only freed. */
void
anyd_auth_prepare_free (AnydAuth *auth)
{
  GList *l;

  while ((l = g_queue_pop_head_link (&auth->preparing)) != NULL)
    {
      Prepare *p = l->data;

      p->orphaned = TRUE;
      g_atomic_int_set (&p->cancelled, 1);
    }
  if (auth->prepare_pool != NULL)
    g_thread_pool_free (g_steal_pointer (&auth->prepare_pool), FALSE, FALSE);
}

static void
gate_method_call (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                  const char *method, GVariant *params, GDBusMethodInvocation *invocation,
                  gpointer user_data)
{
  GDBusInterfaceSkeleton *skeleton = user_data;
  Guard *g = g_object_get_qdata (G_OBJECT (skeleton), guard_quark);
  const AnydAuthRule *rule;
  GHashTable *details = NULL;

  if (G_UNLIKELY (g == NULL))
    {
      /* A copy of the subclass made by hand, never through anyd_auth_guard(). */
      g_warning ("BUG: %s.%s on an unguarded skeleton; refusing", iface, method);
      g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                                             "Not authorized: this call is not guarded (a bug in anyd; "
                                             "see the daemon log)");
      return;
    }
  if (g->auth->activity_func != NULL)
    g->auth->activity_func (invocation, g->auth->activity_data);

  rule = anyd_auth_rule_for (g->auth, g->info, invocation);
  if (rule == NULL)
    {
      /* Deny by default: a method nobody mapped is a bug, not a free pass. */
      g_warning ("BUG: %s.%s has no authorization rule; refusing", iface, method);
      g_dbus_method_invocation_return_error (invocation, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED,
                                             "Not authorized: this call has no authorization rule "
                                             "(a bug in anyd; see the daemon log)");
      return;
    }
  anyd_metrics_call (invocation, rule);
  if (rule->action != NULL && g->threaded_ref != NULL)
    {
      prepare_start (g, skeleton, invocation, rule);
      return;
    }
  if (rule->action != NULL)
    {
      GError *error = NULL;

      details = prepare_details (g, skeleton, rule, invocation, g->details_data, g->precheck_data,
                                 &error);
      if (error != NULL)
        {
          precheck_refuse (g, invocation, rule, details, error);
          g_hash_table_unref (details);
          return;
        }
    }
  gate_continue (g, skeleton, invocation, rule, details);
}

/* Details known and prechecked: find the caller, then decide. */
static void
gate_continue (Guard *g, GDBusInterfaceSkeleton *skeleton, GDBusMethodInvocation *invocation,
               const AnydAuthRule *rule, GHashTable *details)
{
  CallData *c = g_new0 (CallData, 1);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  Sender *s;

  c->auth = g->auth;
  c->guard = g;
  c->skeleton = g_object_ref (skeleton);
  c->invocation = invocation;
  c->rule = rule;
  c->details = details;
  s = anyd_auth_sender (g->auth, sender);
  if (s != NULL)
    {
      c->caller = anyd_caller_ref (s->caller);
      call_decide (c);
    }
  else
    anyd_auth_get_caller_async (g->auth, sender, NULL, caller_cb, c);
}

/* ------------------------------------------------------------------ API */

static Guard *
guard_of (GDBusInterfaceSkeleton *skeleton)
{
  Guard *g = guard_quark ? g_object_get_qdata (G_OBJECT (skeleton), guard_quark) : NULL;

  if (g == NULL)
    g_critical ("BUG: anyd_auth_guard() must come first on a %s", G_OBJECT_TYPE_NAME (skeleton));
  return g;
}

void
anyd_auth_guard (AnydAuth *auth, GDBusInterfaceSkeleton *skeleton,
                 AnydAuthDetailsFunc details_func, gpointer user_data)
{
  GDBusInterfaceInfo *info = g_dbus_interface_skeleton_get_info (skeleton);
  Guard *g;

  if (guard_quark == 0)
    {
      guard_quark = g_quark_from_static_string ("anyd-auth-guard");
      type_quark = g_quark_from_static_string ("anyd-auth-guarded-type");
    }
  for (guint i = 0; info->methods != NULL && info->methods[i] != NULL; i++)
    if (anyd_auth_lookup (auth, info->name, info->methods[i]->name) == NULL)
      g_warning ("BUG: %s.%s has no authorization rule; calls will be refused",
                 info->name, info->methods[i]->name);

  g = g_object_get_qdata (G_OBJECT (skeleton), guard_quark);
  if (g == NULL)
    {
      g = g_new0 (Guard, 1);
      g->gt = become_guarded (skeleton);
      g_object_set_qdata_full (G_OBJECT (skeleton), guard_quark, g, g_free);
    }
  g->auth = auth;
  g->info = info;
  g->details_func = details_func;
  g->details_data = user_data;
}

void
anyd_auth_guard_set_precheck (GDBusInterfaceSkeleton *skeleton, AnydAuthPrecheckFunc func,
                              gpointer user_data)
{
  Guard *g = guard_of (skeleton);

  if (g == NULL)
    return;
  g->precheck = func;
  g->precheck_data = user_data;
}

void
anyd_auth_guard_set_threaded (GDBusInterfaceSkeleton *skeleton, GBoxedCopyFunc ref, GDestroyNotify unref)
{
  Guard *g = guard_of (skeleton);

  g_return_if_fail (ref != NULL && unref != NULL);
  if (g == NULL)
    return;
  g->threaded_ref = ref;
  g->threaded_unref = unref;
}

void
anyd_auth_guard_set_owner_func (GDBusInterfaceSkeleton *skeleton, AnydAuthOwnerFunc func,
                                gpointer user_data)
{
  Guard *g = guard_of (skeleton);

  if (g == NULL)
    return;
  g->owner_func = func;
  g->owner_data = user_data;
}
