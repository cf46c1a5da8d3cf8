/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The gate's structure, on a private bus with no polkitd (so every check
 * fails closed: the caller is denied): a handler connected before or after
 * anyd_auth_guard() never runs for a denied call, an unmapped method is
 * refused, a public one runs with its caller attached. */
#include "anyd-build-config.h"
#include "auth.h"
#include "error.h"
#include "test-gate-dbus.h"

#include <string.h>
#include <unistd.h>

static const AnydAuthRule gate_rules[] = {
  { "org.anyd1.test.Gate", "Poke", "org.anyd1.manage", "what", 0, NULL },
  { "org.anyd1.test.Gate", "Hello", ANYD_AUTH_PUBLIC, NULL, -1, NULL },
  ANYD_AUTH_RULES_END
};

typedef struct {
  GTestDBus       *dbus;
  GDBusConnection *server;
  GDBusConnection *client;
  AnydAuth        *auth;
  TestGate        *skeleton;
  guint            pokes;      /* handle-poke ran */
  guint32          hello_uid;
} Fixture;

static gboolean
on_poke (TestGate *skeleton, GDBusMethodInvocation *invocation, const char *what, Fixture *f)
{
  f->pokes++;
  test_gate_complete_poke (skeleton, invocation);
  return TRUE;
}

static gboolean
on_hello (TestGate *skeleton, GDBusMethodInvocation *invocation, Fixture *f)
{
  AnydCaller *caller = anyd_caller_from_invocation (invocation);

  g_assert_nonnull (caller);
  f->hello_uid = caller->uid;
  test_gate_complete_hello (skeleton, invocation, caller->uid);
  return TRUE;
}

/* Any handler that would answer every method, whatever the gate says. */
static gboolean
on_unmapped (TestGate *skeleton, GDBusMethodInvocation *invocation, Fixture *f)
{
  f->pokes++;
  test_gate_complete_unmapped (skeleton, invocation);
  return TRUE;
}

static GDBusConnection *
connect_to (GTestDBus *dbus)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *c = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (dbus),
                                                               G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                               G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                               NULL, NULL, &error);
  g_assert_no_error (error);
  return c;
}

static void
setup (Fixture *f, gconstpointer connect_first)
{
  g_autoptr(GError) error = NULL;

  f->dbus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->dbus);
  /* polkit looks on the system bus: this one, where nobody answers. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", g_test_dbus_get_bus_address (f->dbus), TRUE);
  f->server = connect_to (f->dbus);
  f->client = connect_to (f->dbus);
  f->auth = anyd_auth_new (f->server, NULL);
  anyd_auth_add_rules (f->auth, gate_rules);

  f->skeleton = test_gate_skeleton_new ();
  if (GPOINTER_TO_INT (connect_first))
    {
      /* The order the old signal-based gate could not survive. */
      g_signal_connect (f->skeleton, "handle-poke", G_CALLBACK (on_poke), f);
      g_signal_connect (f->skeleton, "handle-unmapped", G_CALLBACK (on_unmapped), f);
      g_signal_connect (f->skeleton, "handle-hello", G_CALLBACK (on_hello), f);
    }
  anyd_auth_guard (f->auth, G_DBUS_INTERFACE_SKELETON (f->skeleton), NULL, NULL);
  if (!GPOINTER_TO_INT (connect_first))
    {
      g_signal_connect (f->skeleton, "handle-poke", G_CALLBACK (on_poke), f);
      g_signal_connect (f->skeleton, "handle-unmapped", G_CALLBACK (on_unmapped), f);
      g_signal_connect (f->skeleton, "handle-hello", G_CALLBACK (on_hello), f);
    }
  g_assert_true (g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (f->skeleton), f->server,
                                                   "/org/anyd1/test", &error));
  g_assert_no_error (error);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (f->skeleton));
  g_clear_object (&f->skeleton);
  g_clear_pointer (&f->auth, anyd_auth_free);
  g_dbus_connection_close_sync (f->client, NULL, NULL);
  g_dbus_connection_close_sync (f->server, NULL, NULL);
  g_clear_object (&f->client);
  g_clear_object (&f->server);
  g_test_dbus_down (f->dbus);
  g_clear_object (&f->dbus);
}

typedef struct {
  GVariant *reply;
  GError   *error;
  gboolean  done;
} Result;

static void
call_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Result *r = user_data;

  r->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &r->error);
  r->done = TRUE;
}

/* Call from the client while the server's side runs in this same context. */
static GVariant *
call (Fixture *f, const char *method, GVariant *params, GError **error)
{
  Result r = { 0 };
  const char *unique = g_dbus_connection_get_unique_name (f->server);

  g_dbus_connection_call (f->client, unique, "/org/anyd1/test", "org.anyd1.test.Gate", method, params,
                          NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, call_cb, &r);
  while (!r.done)
    g_main_context_iteration (NULL, TRUE);
  if (r.error != NULL)
    g_propagate_error (error, r.error);
  return r.reply;
}

static void
test_denied_never_runs (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (f, "Poke", g_variant_new ("(s)", "x"), &error);

  g_assert_null (reply);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED);
  g_assert_cmpuint (f->pokes, ==, 0);
}

static void
test_unmapped_refused (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  reply = call (f, "Unmapped", NULL, &error);   /* warns "BUG: ... no authorization rule" */
  g_assert_null (reply);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED);
  g_assert_cmpuint (f->pokes, ==, 0);
}

static void
test_public_runs_with_caller (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = call (f, "Hello", NULL, &error);
  guint32 uid = G_MAXUINT32;

  g_assert_no_error (error);
  g_variant_get (reply, "(u)", &uid);
  g_assert_cmpuint (uid, ==, getuid ());
  g_assert_cmpuint (f->hello_uid, ==, getuid ());
  /* and again, now with the caller known (the same-dispatch path) */
  g_clear_pointer (&reply, g_variant_unref);
  f->hello_uid = G_MAXUINT32;
  reply = call (f, "Hello", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (f->hello_uid, ==, getuid ());
}

/* A second skeleton of the same type shares the guarded type, and one
 * that was never guarded is left alone (the gate is per object). */
static void
test_type_shared (Fixture *f, gconstpointer data)
{
  g_autoptr(TestGate) other = test_gate_skeleton_new ();

  anyd_auth_guard (f->auth, G_DBUS_INTERFACE_SKELETON (other), NULL, NULL);
  g_assert_true (G_OBJECT_TYPE (other) == G_OBJECT_TYPE (f->skeleton));
  g_assert_true (TEST_IS_GATE_SKELETON (other));
  g_assert_true (g_type_is_a (G_OBJECT_TYPE (other), TEST_TYPE_GATE_SKELETON));
}

/* anyd_auth_guard_set_threaded(): details and precheck run off the main
 * thread, which stays free while they block; the data is referenced on the
 * main thread for as long as they run. */
typedef struct {
  GThread  *main;
  gint      refs;
  guint     ref_off_main;
  guint     ran_on_main;
  guint     ran_off_main;
  GMutex    lock;
  GCond     cond;
  guint     blocking;    /* details funcs blocked now */
  gboolean  released;
} Threaded;

static gpointer
threaded_ref (gpointer data)
{
  Threaded *t = data;

  g_atomic_int_inc (&t->refs);
  t->ref_off_main += g_thread_self () != t->main;
  return t;
}

static void
threaded_unref (gpointer data)
{
  Threaded *t = data;

  t->ref_off_main += g_thread_self () != t->main;
  g_atomic_int_add (&t->refs, -1);
}

static void
threaded_ran (Threaded *t)
{
  g_mutex_lock (&t->lock);
  if (g_thread_self () == t->main)
    t->ran_on_main++;
  else
    t->ran_off_main++;
  g_mutex_unlock (&t->lock);
}

static void
threaded_details (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                  GHashTable *details, gpointer user_data)
{
  Threaded *t = user_data;
  const char *what;

  threaded_ran (t);
  g_variant_get (parameters, "(&s)", &what);
  g_assert_cmpstr (g_hash_table_lookup (details, "what"), ==, what);
  if (g_str_equal (what, "block"))
    {
      g_mutex_lock (&t->lock);
      t->blocking++;
      g_main_context_wakeup (NULL);   /* for a main loop waiting on this count */
      while (!t->released)
        g_cond_wait (&t->cond, &t->lock);
      t->blocking--;
      g_mutex_unlock (&t->lock);
    }
}

static gboolean
threaded_precheck (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                   gpointer user_data, GError **error)
{
  const char *what;

  threaded_ran (user_data);
  g_variant_get (parameters, "(&s)", &what);
  if (!g_str_equal (what, "refuse"))
    return TRUE;
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "what: refused");
  return FALSE;
}

static void
test_threaded (Fixture *f, gconstpointer data)
{
  GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (f->skeleton);
  Threaded t = { .main = g_thread_self () };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  Result blocked = { 0 };
  guint blocking;

  anyd_auth_guard (f->auth, skeleton, threaded_details, &t);
  anyd_auth_guard_set_precheck (skeleton, threaded_precheck, &t);
  anyd_auth_guard_set_threaded (skeleton, threaded_ref, threaded_unref);

  reply = call (f, "Poke", g_variant_new ("(s)", "refuse"), &error);
  g_assert_null (reply);
  g_assert_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT);
  g_assert_true (strstr (error->message, "what: refused") != NULL);
  g_assert_cmpuint (t.ran_off_main, ==, 2);
  g_clear_error (&error);

  /* a details func that hangs holds up no other call */
  g_dbus_connection_call (f->client, g_dbus_connection_get_unique_name (f->server), "/org/anyd1/test",
                          "org.anyd1.test.Gate", "Poke", g_variant_new ("(s)", "block"), NULL,
                          G_DBUS_CALL_FLAGS_NONE, 10000, NULL, call_cb, &blocked);
  do
    {
      g_main_context_iteration (NULL, FALSE);
      g_mutex_lock (&t.lock);
      blocking = t.blocking;
      g_mutex_unlock (&t.lock);
    }
  while (blocking == 0);
  reply = call (f, "Hello", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (f->hello_uid, ==, getuid ());
  g_assert_false (blocked.done);
  g_mutex_lock (&t.lock);
  t.released = TRUE;
  g_cond_broadcast (&t.cond);
  g_mutex_unlock (&t.lock);
  while (!blocked.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (blocked.error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED);   /* no polkitd: denied */
  g_clear_error (&blocked.error);
  g_assert_cmpuint (f->pokes, ==, 0);
  g_assert_cmpuint (t.ran_on_main, ==, 0);
  g_assert_cmpuint (t.ran_off_main, ==, 4);
  g_assert_cmpint (g_atomic_int_get (&t.refs), ==, 0);
  g_assert_cmpuint (t.ref_off_main, ==, 0);
}

static guint
threaded_blocking (Threaded *t)
{
  guint n;

  g_mutex_lock (&t->lock);
  n = t->blocking;
  g_mutex_unlock (&t->lock);
  return n;
}

static void
count_activity (GDBusMethodInvocation *invocation, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
gtask_job (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_task_return_boolean (task, TRUE);
}

static void
gtask_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  *(gboolean *) user_data = g_task_propagate_boolean (G_TASK (res), NULL);
}

/* The threaded work has a pool of its own: with all its threads hung, calls
 * wait for it while public calls and GLib's shared GTask pool (sized 10 and
 * grown only slowly) go on; a caller that leaves loses its waiting calls. */
#define N_BLOCKED 12   /* more than GLib's GTask pool runs at once */

static void
test_threaded_pool (Fixture *f, gconstpointer data)
{
  GDBusInterfaceSkeleton *skeleton = G_DBUS_INTERFACE_SKELETON (f->skeleton);
  Threaded t = { .main = g_thread_self () };
  g_autoptr(GDBusConnection) leaver = connect_to (f->dbus);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GTask) task = NULL;
  Result blocked[N_BLOCKED] = { 0 }, left[2] = { 0 };
  gboolean job_done = FALSE;
  guint calls = 0, n_done;

  anyd_auth_guard (f->auth, skeleton, threaded_details, &t);
  anyd_auth_guard_set_precheck (skeleton, threaded_precheck, &t);
  anyd_auth_guard_set_threaded (skeleton, threaded_ref, threaded_unref);
  anyd_auth_set_activity_func (f->auth, count_activity, &calls);

  for (guint i = 0; i < N_BLOCKED; i++)
    g_dbus_connection_call (f->client, g_dbus_connection_get_unique_name (f->server), "/org/anyd1/test",
                            "org.anyd1.test.Gate", "Poke", g_variant_new ("(s)", "block"), NULL,
                            G_DBUS_CALL_FLAGS_NONE, 10000, NULL, call_cb, &blocked[i]);
  while (calls < N_BLOCKED || threaded_blocking (&t) < ANYD_AUTH_PREPARE_THREADS)
    g_main_context_iteration (NULL, TRUE);

  /* (1) a public call answers */
  reply = call (f, "Hello", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (f->hello_uid, ==, getuid ());
  /* (2) GLib's pool runs other work: under GTask all N_BLOCKED calls got
   * its threads first, and this job had to wait for the pool to grow */
  task = g_task_new (NULL, NULL, gtask_done, &job_done);
  g_task_run_in_thread (task, gtask_job);
  g_clear_object (&task);
  while (!job_done)
    g_main_context_iteration (NULL, TRUE);
  /* (3) only the pool's threads ran; the other calls wait, unanswered */
  g_assert_cmpuint (threaded_blocking (&t), ==, ANYD_AUTH_PREPARE_THREADS);
  g_assert_cmpuint (t.ran_off_main, ==, ANYD_AUTH_PREPARE_THREADS);
  for (guint i = 0; i < N_BLOCKED; i++)
    g_assert_false (blocked[i].done);

  /* (4) calls waiting for the pool from a caller that left are dropped */
  for (guint i = 0; i < G_N_ELEMENTS (left); i++)
    g_dbus_connection_call (leaver, g_dbus_connection_get_unique_name (f->server), "/org/anyd1/test",
                            "org.anyd1.test.Gate", "Poke", g_variant_new ("(s)", "x"), NULL,
                            G_DBUS_CALL_FLAGS_NONE, 10000, NULL, call_cb, &left[i]);
  while (calls < N_BLOCKED + 1 + G_N_ELEMENTS (left))
    g_main_context_iteration (NULL, TRUE);
  anyd_auth_name_vanished (f->auth, g_dbus_connection_get_unique_name (leaver));

  g_mutex_lock (&t.lock);
  t.released = TRUE;
  g_cond_broadcast (&t.cond);
  g_mutex_unlock (&t.lock);
  do
    {
      g_main_context_iteration (NULL, TRUE);
      n_done = 0;
      for (guint i = 0; i < N_BLOCKED; i++)
        n_done += blocked[i].done;
    }
  while (n_done < N_BLOCKED || g_atomic_int_get (&t.refs) > 0);
  for (guint i = 0; i < N_BLOCKED; i++)
    {
      g_assert_error (blocked[i].error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED);
      g_clear_error (&blocked[i].error);
    }
  /* details and precheck ran for the blocked calls only */
  g_assert_cmpuint (t.ran_off_main, ==, 2 * N_BLOCKED);
  g_assert_cmpuint (t.ran_on_main, ==, 0);
  g_assert_cmpuint (t.ref_off_main, ==, 0);
  g_assert_cmpuint (f->pokes, ==, 0);
  g_assert_false (left[0].done || left[1].done);
  g_dbus_connection_close_sync (leaver, NULL, NULL);
  while (!left[0].done || !left[1].done)
    g_main_context_iteration (NULL, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (left); i++)
    {
      g_assert_error (left[i].error, G_IO_ERROR, G_IO_ERROR_CLOSED);
      g_clear_error (&left[i].error);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* The gate warns about the deliberately unmapped method: not fatal here. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
  for (int first = 1; first >= 0; first--)
    {
      g_autofree char *p1 = g_strdup_printf ("/gate/%s/denied-never-runs", first ? "connected-before" : "connected-after");
      g_autofree char *p2 = g_strdup_printf ("/gate/%s/unmapped-refused", first ? "connected-before" : "connected-after");
      g_autofree char *p3 = g_strdup_printf ("/gate/%s/public-runs-with-caller", first ? "connected-before" : "connected-after");
      g_test_add (p1, Fixture, GINT_TO_POINTER (first), setup, test_denied_never_runs, teardown);
      g_test_add (p2, Fixture, GINT_TO_POINTER (first), setup, test_unmapped_refused, teardown);
      g_test_add (p3, Fixture, GINT_TO_POINTER (first), setup, test_public_runs_with_caller, teardown);
    }
  g_test_add ("/gate/threaded", Fixture, GINT_TO_POINTER (1), setup, test_threaded, teardown);
  g_test_add ("/gate/threaded-pool", Fixture, GINT_TO_POINTER (1), setup, test_threaded_pool, teardown);
  g_test_add ("/gate/type-shared", Fixture, GINT_TO_POINTER (1), setup, test_type_shared, teardown);
  return g_test_run ();
}
