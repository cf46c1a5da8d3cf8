/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Caller identity: who is behind a unique bus name, as the bus vouches
 * for it, and the subject polkit is asked about. Asked once per sender
 * (GetConnectionCredentials), then kept until the name vanishes. */
#include "anyd-build-config.h"
#include "auth-private.h"

#include <unistd.h>

typedef struct {
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

void
anyd_auth_sender_free (Sender *s)
{
  anyd_caller_unref (s->caller);
  g_clear_object (&s->subject);
  g_hash_table_unref (s->decisions);
  g_free (s);
}

Sender *
anyd_auth_sender (AnydAuth *auth, const char *name)
{
  return name != NULL ? g_hash_table_lookup (auth->callers, name) : NULL;
}

/* Still on the bus (a reply to a caller that left goes nowhere). */
gboolean
anyd_auth_connected (AnydAuth *auth, AnydCaller *caller)
{
  return caller->sender != NULL && *caller->sender != '\0' &&
         g_hash_table_contains (auth->callers, caller->sender);
}

/* Debian 12 (polkit 122, dbus 1.14) has no pidfd in either, so the subject
 * is a unix-process built from the bus's credentials, not a
 * system-bus-name. It is equally race-free, and cheaper for polkitd:
 *  - uid: from the bus in both cases (polkitd trusts the uid root passes).
 *  - pid: both come from the bus's SO_PEERCRED; for a bus name polkitd 122
 *    asks the bus again on every check (two calls, several times per check,
 *    blocking its main loop) and reads the start time of whatever process
 *    has that pid *then*, so a reused pid goes unnoticed. With the start
 *    time read once, when anyd first sees the sender (start time 0 makes
 *    polkit_unix_process_new_for_owner read it from /proc/<pid>/stat),
 *    polkitd checks it on every check and refuses ("process has been
 *    replaced") if the pid was reused since.
 * bench/call-path measures both subjects against the same polkitd.
 * Without a start time (process gone, or /proc hidden by ProtectProc=) the
 * bus name is used. */
static PolkitSubject *
make_subject (const char *sender, guint32 uid, guint32 pid)
{
  if (pid != 0)
    {
      g_autoptr(PolkitSubject) p = polkit_unix_process_new_for_owner ((gint) pid, 0, (gint) uid);
      if (polkit_unix_process_get_start_time (POLKIT_UNIX_PROCESS (p)) != 0)
        return g_steal_pointer (&p);
    }
  return polkit_system_bus_name_new (sender);
}

PolkitSubject *
anyd_auth_subject (AnydAuth *auth, AnydCaller *caller)
{
  Sender *s;

  if (caller->sender == NULL || *caller->sender == '\0')
    return polkit_unix_process_new_for_owner ((gint) caller->pid, 0, (gint) caller->uid);
  s = g_hash_table_lookup (auth->callers, caller->sender);
  if (s != NULL)
    return g_object_ref (s->subject);
  return polkit_system_bus_name_new (caller->sender);
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
          s->subject = make_subject (cd->sender, uid, pid);
          s->decisions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
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

/* A unique name left the bus: forget it, its decisions, its checks. */
void
anyd_auth_callers_vanished (AnydAuth *auth, const char *name)
{
  CredentialsData *cd;
  Sender *sender = g_hash_table_lookup (auth->callers, name);

  if (sender != NULL)
    {
      guint n = g_hash_table_size (sender->decisions);

      anyd_auth_cache_forget (auth, sender);
      g_hash_table_remove (auth->callers, name);
      if (n > 0)
        g_debug ("auth: %s left: dropped %u cached decisions", name, n);
    }
  cd = g_hash_table_lookup (auth->caller_waiters, name);
  if (cd != NULL)
    cd->vanished = TRUE;
}
