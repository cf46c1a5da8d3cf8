/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An asynchronous client of systemd's manager (org.freedesktop.systemd1).
 *
 * Jobs: StartUnit & co. answer with a job path at once; the outcome comes
 * later in a JobRemoved broadcast. We listen for JobRemoved once, for all
 * jobs, from before the first call, and match by job path. The signal can
 * be dispatched before the method reply that names the job, so while any
 * job call is unanswered, JobRemoved results are buffered by path; each
 * buffered result is dropped as soon as every call that was in flight when
 * it arrived has had its reply (so the buffer stays as small as the number
 * of concurrent calls). Two callers asking for the same job get the same
 * path (systemd merges jobs) and both wait on it.
 *
 * Nothing here blocks: every call is async and a long job only holds its
 * own caller. The object is reference counted so that replies arriving
 * after anyd_systemd_free() find it still allocated (and shut down). */
#include "services-systemd.h"
#include "services-unit.h"
#include "error.h"

#include <string.h>

#define SYSTEMD_NAME      "org.freedesktop.systemd1"
#define SYSTEMD_PATH      "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER   "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT      "org.freedesktop.systemd1.Unit"
#define SYSTEMD_JOB       "org.freedesktop.systemd1.Job"
#define PROPERTIES        "org.freedesktop.DBus.Properties"
#define SYSTEMD_ERROR     "org.freedesktop.systemd1."

/* dbus-daemon's default max_match_rules_per_connection on the system bus
 * is 512; leave room for the rest of anyd. */
#define MAX_WATCHED_UNITS 384
/* How long jobs keep waiting for a vanished manager to come back (a
 * daemon-reexec takes well under a second). */
#define VANISHED_GRACE_S  10

typedef struct {
  char    *path;
  char    *result;
  guint64  seq;       /* call_seq when it arrived */
} Finished;

typedef struct {
  AnydSystemd *sd;    /* borrowed: the subscription is gone before sd is */
  char        *unit;
  guint        sub_id;
  char        *active_state;
  char        *sub_state;
} Watch;

struct _AnydSystemd {
  GDBusConnection      *bus;
  AnydSystemdCallbacks  cb;
  gpointer              user_data;
  gboolean              shut_down;
  gboolean              present;
  guint                 name_watch;
  guint                 job_removed_sub;
  guint                 unit_new_sub;
  guint                 unit_removed_sub;
  guint                 grace_source;
  GHashTable           *waiting;        /* job path -> GPtrArray of GTask* */
  GHashTable           *finished;       /* job path -> Finished* (owned by finished_order) */
  GQueue                finished_order;
  guint64               call_seq;
  GArray               *outstanding;    /* guint64 seqs of unanswered job calls, ascending */
  GHashTable           *watched;        /* unit -> Watch* (owned by the subscription) */
};

typedef struct {
  AnydSystemd *sd;    /* a reference */
  char        *unit;
  char        *verb;
  char        *job_path;
  char        *result;
  guint64      seq;
} JobData;

static AnydSystemd *
sd_ref (AnydSystemd *sd)
{
  return g_rc_box_acquire (sd);
}

static void
sd_clear (AnydSystemd *sd)
{
  g_hash_table_unref (sd->waiting);
  g_hash_table_unref (sd->finished);
  g_queue_clear_full (&sd->finished_order, NULL);
  g_hash_table_unref (sd->watched);
  g_array_unref (sd->outstanding);
  g_object_unref (sd->bus);
}

static void
sd_unref (AnydSystemd *sd)
{
  g_rc_box_release_full (sd, (GDestroyNotify) sd_clear);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydSystemd, sd_unref)

/* An operation's hold on sd plus the job or unit it is about. */
typedef struct {
  AnydSystemd *sd;
  char        *name;
} NamedRef;

static NamedRef *
named_ref_new (AnydSystemd *sd, const char *name)
{
  NamedRef *r = g_new0 (NamedRef, 1);

  r->sd = sd_ref (sd);
  r->name = g_strdup (name);
  return r;
}

static void
named_ref_free (NamedRef *r)
{
  sd_unref (r->sd);
  g_free (r->name);
  g_free (r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NamedRef, named_ref_free)

static void
finished_free (Finished *f)
{
  g_free (f->path);
  g_free (f->result);
  g_free (f);
}

static void
job_data_free (JobData *d)
{
  sd_unref (d->sd);
  g_free (d->unit);
  g_free (d->verb);
  g_free (d->job_path);
  g_free (d->result);
  g_free (d);
}

/* ------------------------------------------------------------------ helpers */

char *
anyd_systemd_unit_path (const char *unit)
{
  GString *s = g_string_new (SYSTEMD_PATH "/unit/");

  /* systemd's bus_label_escape(): [A-Za-z0-9] stay, except a leading digit. */
  if (*unit == '\0')
    g_string_append_c (s, '_');
  for (const guchar *p = (const guchar *) unit; *p; p++)
    {
      if (g_ascii_isalpha (*p) || (p != (const guchar *) unit && g_ascii_isdigit (*p)))
        g_string_append_c (s, (char) *p);
      else
        g_string_append_printf (s, "_%02x", *p);
    }
  return g_string_free (s, FALSE);
}

static const char *
verb_method (const char *verb)
{
  if (g_str_equal (verb, "start"))   return "StartUnit";
  if (g_str_equal (verb, "stop"))    return "StopUnit";
  if (g_str_equal (verb, "restart")) return "RestartUnit";
  if (g_str_equal (verb, "reload"))  return "ReloadUnit";
  g_return_val_if_reached (NULL);
}

static gboolean
is_unavailable (const char *remote)
{
  return g_strcmp0 (remote, "org.freedesktop.DBus.Error.ServiceUnknown") == 0 ||
         g_strcmp0 (remote, "org.freedesktop.DBus.Error.NameHasNoOwner") == 0 ||
         g_strcmp0 (remote, "org.freedesktop.DBus.Error.Disconnected") == 0;
}

/* A failed call to systemd -> an org.anyd1.Error for the caller. */
static GError *
map_error (GError *error, const char *unit, const char *verb)
{
  g_autofree char *remote = g_dbus_error_is_remote_error (error) ? g_dbus_error_get_remote_error (error) : NULL;
  const char *what = remote && g_str_has_prefix (remote, SYSTEMD_ERROR) ? remote + strlen (SYSTEMD_ERROR) : "";

  if (remote != NULL)
    g_dbus_error_strip_remote_error (error);
  if (is_unavailable (remote) || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
    return g_error_new (ANYD_ERROR, ANYD_ERROR_DISABLED,
                        "systemd is not running (no %s on the system bus)", SYSTEMD_NAME);
  if (g_str_equal (what, "NoSuchUnit"))
    return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "unit %s not found", unit);
  if (g_str_equal (what, "JobTypeNotApplicable") || g_str_equal (what, "OnlyByDependency"))
    {
      if (verb != NULL && g_str_equal (verb, "reload"))
        return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_SUPPORTED,
                            "%s cannot be reloaded (CanReload=false: it has no ExecReload=)", unit);
      return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_SUPPORTED, "%s does not support %s: %s",
                          unit, verb ? verb : "this", error->message);
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_error_new (ANYD_ERROR, ANYD_ERROR_TIMEOUT, "systemd did not answer in time");
  if (verb != NULL)
    return g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s of %s refused by systemd%s%s%s: %s",
                        verb, unit, *what ? " (" : "", what, *what ? ")" : "", error->message);
  return g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "systemd: %s", error->message);
}

/* ------------------------------------------------------------------ status */

typedef struct {
  const char *iface;     /* NULL: the unit type's own interface */
  const char *name;
  gboolean    required;
} PropRequest;

static const PropRequest status_props[] = {
  { SYSTEMD_UNIT, "LoadState",            TRUE },
  { SYSTEMD_UNIT, "ActiveState",          TRUE },
  { SYSTEMD_UNIT, "SubState",             TRUE },
  { SYSTEMD_UNIT, "StateChangeTimestamp", TRUE },
  { NULL,         "Result",               FALSE },
  { "org.freedesktop.systemd1.Service", "MainPID", FALSE },
};

typedef struct {
  AnydSystemd  *sd;
  char         *unit;
  GVariantDict  dict;
  guint         pending;
  GError       *error;
} StatusData;

typedef struct {
  GTask      *task;
  const char *name;
  gboolean    required;
} PropCall;

static void
status_data_free (StatusData *d)
{
  sd_unref (d->sd);
  g_free (d->unit);
  g_variant_dict_clear (&d->dict);
  g_clear_error (&d->error);
  g_free (d);
}

static void
status_done (GTask *task)
{
  StatusData *d = g_task_get_task_data (task);
  const char *load = NULL;
  GVariantDict out;

  if (d->error != NULL)
    {
      g_task_return_error (task, map_error (g_steal_pointer (&d->error), d->unit, NULL));
      return;
    }
  g_variant_dict_lookup (&d->dict, "LoadState", "&s", &load);
  if (g_strcmp0 (load, "not-found") == 0)
    {
      g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "unit %s not found", d->unit);
      return;
    }

  /* Every key is always there, with systemd's types; Since is µs since the epoch. */
  g_variant_dict_init (&out, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (status_props); i++)
    {
      const char *name = status_props[i].name;
      g_autoptr(GVariant) v = g_variant_dict_lookup_value (&d->dict, name, NULL);

      if (g_str_equal (name, "StateChangeTimestamp"))
        name = "Since";
      if (v == NULL)
        v = g_variant_ref_sink (g_str_equal (name, "MainPID") ? g_variant_new_uint32 (0)
                                                              : g_variant_new_string (""));
      g_variant_dict_insert_value (&out, name, v);
    }
  g_task_return_pointer (task, g_variant_ref_sink (g_variant_dict_end (&out)),
                         (GDestroyNotify) g_variant_unref);
}

static void
prop_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PropCall *pc = user_data;
  g_autoptr(GTask) task = pc->task;
  StatusData *d = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply != NULL)
    {
      g_autoptr(GVariant) boxed = g_variant_get_child_value (reply, 0);
      g_autoptr(GVariant) value = g_variant_get_variant (boxed);
      g_variant_dict_insert_value (&d->dict, pc->name, value);
    }
  else if (pc->required && d->error == NULL)
    d->error = g_steal_pointer (&error);
  g_free (pc);
  if (--d->pending == 0)
    status_done (task);
}

void
anyd_systemd_get_status_async (AnydSystemd *sd, const char *unit,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
  g_autofree char *path = anyd_systemd_unit_path (unit);
  const char *type_iface = anyd_services_unit_type_interface (unit);
  StatusData *d = g_new0 (StatusData, 1);

  g_task_set_source_tag (task, anyd_systemd_get_status_async);
  d->sd = sd_ref (sd);
  d->unit = g_strdup (unit);
  g_variant_dict_init (&d->dict, NULL);
  g_task_set_task_data (task, d, (GDestroyNotify) status_data_free);

  /* Parallel Gets: a few small replies instead of one GetAll of ~200 properties. */
  for (guint i = 0; i < G_N_ELEMENTS (status_props); i++)
    {
      const char *iface = status_props[i].iface ? status_props[i].iface : type_iface;
      PropCall *pc;

      if (iface == NULL || (status_props[i].iface != NULL && type_iface != NULL &&
                            !g_str_equal (status_props[i].iface, SYSTEMD_UNIT) &&
                            !g_str_equal (status_props[i].iface, type_iface)))
        continue;   /* a property this unit type does not have */
      pc = g_new0 (PropCall, 1);
      pc->task = g_object_ref (task);
      pc->name = status_props[i].name;
      pc->required = status_props[i].required;
      d->pending++;
      g_dbus_connection_call (sd->bus, SYSTEMD_NAME, path, PROPERTIES, "Get",
                              g_variant_new ("(ss)", iface, status_props[i].name),
                              G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                              prop_cb, pc);
    }
}

GVariant *
anyd_systemd_get_status_finish (AnydSystemd *sd, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ jobs */

static void
job_status_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  JobData *d = g_task_get_task_data (task);
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (d->sd, res, NULL);
  const char *active = "?", *sub = "?", *result = "?";

  if (status != NULL)
    {
      g_variant_lookup (status, "ActiveState", "&s", &active);
      g_variant_lookup (status, "SubState", "&s", &sub);
      g_variant_lookup (status, "Result", "&s", &result);
    }
  g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_FAILED,
                           "%s of %s failed: job result '%s' (ActiveState=%s, SubState=%s, Result=%s)",
                           d->verb, d->unit, d->result, active, sub, *result ? result : "-");
}

/* The job is gone with this result: answer the task (consumes it). */
static void
job_finished (GTask *task, const char *result)
{
  JobData *d = g_task_get_task_data (task);

  if (g_str_equal (result, "done"))
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  /* Say what state the unit is left in: that is what the caller needs. */
  d->result = g_strdup (result);
  anyd_systemd_get_status_async (d->sd, d->unit, job_status_cb, task);
}

static void
fail_task (GTask *task, GError *error)
{
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void
outstanding_remove (AnydSystemd *sd, guint64 seq)
{
  guint64 oldest;

  for (guint i = 0; i < sd->outstanding->len; i++)
    if (g_array_index (sd->outstanding, guint64, i) == seq)
      {
        g_array_remove_index (sd->outstanding, i);
        break;
      }
  /* Results that arrived while only answered calls were in flight can't be ours. */
  oldest = sd->outstanding->len > 0 ? g_array_index (sd->outstanding, guint64, 0) : G_MAXUINT64;
  while (!g_queue_is_empty (&sd->finished_order) &&
         ((Finished *) g_queue_peek_head (&sd->finished_order))->seq < oldest)
    {
      Finished *f = g_queue_pop_head (&sd->finished_order);
      g_hash_table_remove (sd->finished, f->path);
      finished_free (f);
    }
}

static void
job_queued_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  JobData *d = g_task_get_task_data (task);
  AnydSystemd *sd = d->sd;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  Finished *f;
  GPtrArray *waiters;

  if (reply == NULL)
    {
      outstanding_remove (sd, d->seq);
      fail_task (task, map_error (error, d->unit, d->verb));
      return;
    }
  g_variant_get (reply, "(o)", &d->job_path);
  f = g_hash_table_lookup (sd->finished, d->job_path);
  if (f != NULL)
    {
      /* JobRemoved overtook the reply. */
      g_autofree char *result = g_strdup (f->result);
      outstanding_remove (sd, d->seq);
      job_finished (task, result);
      return;
    }
  outstanding_remove (sd, d->seq);
  if (sd->shut_down)
    {
      fail_task (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                    "anyd is stopping; %s of %s continues in systemd as %s",
                                    d->verb, d->unit, d->job_path));
      return;
    }
  waiters = g_hash_table_lookup (sd->waiting, d->job_path);
  if (waiters == NULL)
    {
      waiters = g_ptr_array_new ();
      g_hash_table_insert (sd->waiting, g_strdup (d->job_path), waiters);
    }
  g_ptr_array_add (waiters, task);
}

void
anyd_systemd_run_job_async (AnydSystemd *sd, const char *unit, const char *verb,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  JobData *d = g_new0 (JobData, 1);

  g_task_set_source_tag (task, anyd_systemd_run_job_async);
  d->sd = sd_ref (sd);
  d->unit = g_strdup (unit);
  d->verb = g_strdup (verb);
  d->seq = ++sd->call_seq;
  g_task_set_task_data (task, d, (GDestroyNotify) job_data_free);
  g_array_append_val (sd->outstanding, d->seq);
  /* JobRemoved is already subscribed (anyd_systemd_new), and the bus keeps
   * our AddMatch ahead of this call, so the result cannot be missed. */
  g_dbus_connection_call (sd->bus, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, verb_method (verb),
                          g_variant_new ("(ss)", unit, "replace"), G_VARIANT_TYPE ("(o)"),
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, job_queued_cb, task);
}

gboolean
anyd_systemd_run_job_finish (AnydSystemd *sd, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_job_removed (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *params, gpointer user_data)
{
  AnydSystemd *sd = user_data;
  const char *job, *unit, *result;
  guint32 id;
  g_autoptr(GPtrArray) waiters = NULL;
  g_autofree char *key = NULL;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(uoss)")))
    return;
  g_variant_get (params, "(u&o&s&s)", &id, &job, &unit, &result);
  if (g_hash_table_steal_extended (sd->waiting, job, (gpointer *) &key, (gpointer *) &waiters))
    for (guint i = 0; i < waiters->len; i++)
      job_finished (waiters->pdata[i], result);

  if (sd->outstanding->len > 0 && !g_hash_table_contains (sd->finished, job))
    {
      Finished *f = g_new0 (Finished, 1);
      f->path = g_strdup (job);
      f->result = g_strdup (result);
      f->seq = sd->call_seq;
      g_queue_push_tail (&sd->finished_order, f);
      g_hash_table_insert (sd->finished, f->path, f);
    }
}

/* The manager vanished or came back: jobs it no longer knows will never
 * send JobRemoved; answer them now. */
static void
job_exists_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(NamedRef) ref = user_data;
  AnydSystemd *sd = ref->sd;
  const char *job = ref->name;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr(GPtrArray) waiters = NULL;
  g_autofree char *key = NULL;

  if (reply != NULL || sd->shut_down ||
      !g_hash_table_steal_extended (sd->waiting, job, (gpointer *) &key, (gpointer *) &waiters))
    return;
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = waiters->pdata[i];
      JobData *d = g_task_get_task_data (task);
      fail_task (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                    "%s of %s: systemd went away while the job was running; "
                                    "its result is unknown", d->verb, d->unit));
    }
}

static void
recheck_waiting (AnydSystemd *sd)
{
  GHashTableIter it;
  gpointer job;

  g_hash_table_iter_init (&it, sd->waiting);
  while (g_hash_table_iter_next (&it, &job, NULL))
    g_dbus_connection_call (sd->bus, SYSTEMD_NAME, job, PROPERTIES, "Get",
                            g_variant_new ("(ss)", SYSTEMD_JOB, "State"), G_VARIANT_TYPE ("(v)"),
                            G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, job_exists_cb,
                            named_ref_new (sd, job));
}

static gboolean
grace_expired_cb (gpointer user_data)
{
  AnydSystemd *sd = user_data;

  sd->grace_source = 0;
  recheck_waiting (sd);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------ name, Subscribe */

static void
subscribe_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(AnydSystemd) sd = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree char *remote = NULL;

  if (reply != NULL || sd->shut_down)
    return;
  remote = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (remote, SYSTEMD_ERROR "AlreadySubscribed") != 0)
    g_warning ("cannot subscribe to systemd's unit changes: %s", error->message);
}

static void
on_systemd_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  AnydSystemd *sd = user_data;

  g_debug ("systemd manager is %s", owner);
  sd->present = TRUE;
  g_clear_handle_id (&sd->grace_source, g_source_remove);
  /* Without Subscribe the manager sends no PropertiesChanged/UnitNew. */
  g_dbus_connection_call (bus, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", NULL,
                          G_VARIANT_TYPE_UNIT, G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                          subscribe_cb, sd_ref (sd));
  recheck_waiting (sd);
  if (sd->cb.appeared != NULL)
    sd->cb.appeared (sd->user_data);
}

static void
on_systemd_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  AnydSystemd *sd = user_data;

  if (!sd->present)
    return;
  g_message ("systemd manager left the bus");
  sd->present = FALSE;
  if (sd->grace_source == 0)
    sd->grace_source = g_timeout_add_seconds (VANISHED_GRACE_S, grace_expired_cb, sd);
}

static void
on_unit_new (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *signal, GVariant *params, gpointer user_data)
{
  AnydSystemd *sd = user_data;
  const char *unit;

  if (sd->cb.unit_new == NULL || !g_variant_is_of_type (params, G_VARIANT_TYPE ("(so)")))
    return;
  g_variant_get (params, "(&s&o)", &unit, NULL);
  sd->cb.unit_new (unit, g_str_equal (signal, "UnitRemoved"), sd->user_data);
}

/* ------------------------------------------------------------------ watches */

static void
watch_free (Watch *w)
{
  g_free (w->unit);
  g_free (w->active_state);
  g_free (w->sub_state);
  g_free (w);
}

static void
on_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  Watch *w = user_data;
  AnydSystemd *sd = w->sd;
  g_autoptr(GVariant) changed = NULL;
  const char *active = NULL, *sub = NULL;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  changed = g_variant_get_child_value (params, 1);
  g_variant_lookup (changed, "ActiveState", "&s", &active);
  g_variant_lookup (changed, "SubState", "&s", &sub);
  if (active == NULL && sub == NULL)
    return;
  if (active == NULL)
    active = w->active_state ? w->active_state : "";
  if (sub == NULL)
    sub = w->sub_state ? w->sub_state : "";
  /* systemd sends PropertiesChanged for many reasons; report state changes only. */
  if (g_strcmp0 (active, w->active_state) == 0 && g_strcmp0 (sub, w->sub_state) == 0)
    return;
  g_free (w->active_state);
  w->active_state = g_strdup (active);
  g_free (w->sub_state);
  w->sub_state = g_strdup (sub);
  if (sd->cb.unit_changed != NULL)
    sd->cb.unit_changed (w->unit, w->active_state, w->sub_state, sd->user_data);
}

/* The state of a unit that began to be watched late (an instance systemd
 * just loaded): its first changes may have been sent before our match
 * rule was in place. */
static void
seed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(NamedRef) ref = user_data;
  AnydSystemd *sd = ref->sd;
  g_autoptr(GVariant) status = anyd_systemd_get_status_finish (sd, res, NULL);
  const char *active = NULL, *sub = NULL;
  Watch *w;

  if (status == NULL || sd->shut_down)
    return;
  w = g_hash_table_lookup (sd->watched, ref->name);
  /* A PropertiesChanged handled meanwhile is at least as new as this answer. */
  if (w == NULL || w->active_state != NULL)
    return;
  g_variant_lookup (status, "ActiveState", "&s", &active);
  g_variant_lookup (status, "SubState", "&s", &sub);
  w->active_state = g_strdup (active);
  w->sub_state = g_strdup (sub);
  /* Loaded only to be looked at (inactive, dead) is no change worth a signal. */
  if (sd->cb.unit_changed != NULL && !(g_strcmp0 (active, "inactive") == 0 && g_strcmp0 (sub, "dead") == 0))
    sd->cb.unit_changed (w->unit, w->active_state, w->sub_state, sd->user_data);
}

gboolean
anyd_systemd_watch_unit (AnydSystemd *sd, const char *unit, gboolean announce)
{
  g_autofree char *path = NULL;
  Watch *w;

  if (g_hash_table_contains (sd->watched, unit))
    return TRUE;
  if (g_hash_table_size (sd->watched) >= MAX_WATCHED_UNITS)
    return FALSE;
  path = anyd_systemd_unit_path (unit);
  w = g_new0 (Watch, 1);
  w->sd = sd;
  w->unit = g_strdup (unit);
  w->sub_id = g_dbus_connection_signal_subscribe (sd->bus, SYSTEMD_NAME, PROPERTIES,
                                                  "PropertiesChanged", path, SYSTEMD_UNIT,
                                                  G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed,
                                                  w, (GDestroyNotify) watch_free);
  g_hash_table_insert (sd->watched, w->unit, w);
  if (announce)
    /* Asked after AddMatch, so nothing falls between answer and signals. */
    anyd_systemd_get_status_async (sd, unit, seed_cb, named_ref_new (sd, unit));
  return TRUE;
}

void
anyd_systemd_unwatch_unit (AnydSystemd *sd, const char *unit)
{
  Watch *w = g_hash_table_lookup (sd->watched, unit);

  if (w == NULL)
    return;
  g_hash_table_remove (sd->watched, unit);
  g_dbus_connection_signal_unsubscribe (sd->bus, w->sub_id);   /* frees w */
}

void
anyd_systemd_unwatch_except (AnydSystemd *sd, gboolean (*keep) (const char *unit, gpointer data),
                             gpointer data)
{
  g_autoptr(GPtrArray) drop = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer unit;

  g_hash_table_iter_init (&it, sd->watched);
  while (g_hash_table_iter_next (&it, &unit, NULL))
    if (keep == NULL || !keep (unit, data))
      g_ptr_array_add (drop, g_strdup (unit));
  for (guint i = 0; i < drop->len; i++)
    anyd_systemd_unwatch_unit (sd, drop->pdata[i]);
}

/* ------------------------------------------------------------------ list */

static void
list_units_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  g_autoptr(GVariantIter) iter = NULL;
  const char *name;

  if (reply == NULL)
    {
      g_task_return_error (task, map_error (g_steal_pointer (&error), "", NULL));
      return;
    }
  g_variant_get (reply, "(a(ssssssouso))", &iter);
  while (g_variant_iter_next (iter, "(&sssssso@uso)", &name, NULL, NULL, NULL, NULL, NULL, NULL,
                              NULL, NULL, NULL))
    g_strv_builder_add (names, name);
  g_task_return_pointer (task, g_strv_builder_end (names), (GDestroyNotify) g_strfreev);
}

void
anyd_systemd_list_units_async (AnydSystemd *sd, const char *const *patterns,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  static const char *const any_state[] = { NULL };
  GTask *task = g_task_new (NULL, NULL, callback, user_data);

  g_task_set_source_tag (task, anyd_systemd_list_units_async);
  g_dbus_connection_call (sd->bus, SYSTEMD_NAME, SYSTEMD_PATH, SYSTEMD_MANAGER, "ListUnitsByPatterns",
                          g_variant_new ("(^as^as)", any_state, patterns),
                          G_VARIANT_TYPE ("(a(ssssssouso))"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                          NULL, list_units_cb, task);
}

char **
anyd_systemd_list_units_finish (AnydSystemd *sd, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ------------------------------------------------------------------ lifetime */

AnydSystemd *
anyd_systemd_new (GDBusConnection *bus, const AnydSystemdCallbacks *callbacks, gpointer user_data)
{
  AnydSystemd *sd = g_rc_box_new0 (AnydSystemd);

  sd->bus = g_object_ref (bus);
  if (callbacks != NULL)
    sd->cb = *callbacks;
  sd->user_data = user_data;
  sd->waiting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  sd->finished = g_hash_table_new (g_str_hash, g_str_equal);
  g_queue_init (&sd->finished_order);
  sd->outstanding = g_array_new (FALSE, FALSE, sizeof (guint64));
  sd->watched = g_hash_table_new (g_str_hash, g_str_equal);

  sd->job_removed_sub =
    g_dbus_connection_signal_subscribe (bus, SYSTEMD_NAME, SYSTEMD_MANAGER, "JobRemoved", SYSTEMD_PATH,
                                        NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_job_removed, sd, NULL);
  sd->unit_new_sub =
    g_dbus_connection_signal_subscribe (bus, SYSTEMD_NAME, SYSTEMD_MANAGER, "UnitNew", SYSTEMD_PATH,
                                        NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_unit_new, sd, NULL);
  sd->unit_removed_sub =
    g_dbus_connection_signal_subscribe (bus, SYSTEMD_NAME, SYSTEMD_MANAGER, "UnitRemoved", SYSTEMD_PATH,
                                        NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_unit_new, sd, NULL);
  sd->name_watch = g_bus_watch_name_on_connection (bus, SYSTEMD_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                   on_systemd_appeared, on_systemd_vanished, sd, NULL);
  return sd;
}

void
anyd_systemd_free (AnydSystemd *sd)
{
  GHashTableIter it;
  gpointer key, value;

  if (sd == NULL)
    return;
  sd->shut_down = TRUE;
  g_bus_unwatch_name (sd->name_watch);
  g_dbus_connection_signal_unsubscribe (sd->bus, sd->job_removed_sub);
  g_dbus_connection_signal_unsubscribe (sd->bus, sd->unit_new_sub);
  g_dbus_connection_signal_unsubscribe (sd->bus, sd->unit_removed_sub);
  g_clear_handle_id (&sd->grace_source, g_source_remove);
  anyd_systemd_unwatch_except (sd, NULL, NULL);

  /* The jobs go on in systemd; their callers learn we stopped watching. */
  g_hash_table_iter_init (&it, sd->waiting);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      GPtrArray *waiters = value;
      for (guint i = 0; i < waiters->len; i++)
        {
          JobData *d = g_task_get_task_data (waiters->pdata[i]);
          fail_task (waiters->pdata[i],
                     g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                  "anyd is stopping; %s of %s continues in systemd as %s",
                                  d->verb, d->unit, (char *) key));
        }
      g_ptr_array_set_size (waiters, 0);
    }
  g_hash_table_remove_all (sd->waiting);
  memset (&sd->cb, 0, sizeof sd->cb);
  sd_unref (sd);
}
