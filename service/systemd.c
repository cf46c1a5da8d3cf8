/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An asynchronous client of systemd's manager (org.freedesktop.systemd1).
 *
 * Jobs: StartUnit, StartTransientUnit & co. answer with a job path at once; the outcome comes
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
#include "systemd.h"
#include "error.h"

#include <string.h>
#include <systemd/sd-bus.h>

#define SYSTEMD_NAME      "org.freedesktop.systemd1"
#define SYSTEMD_PATH      "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER   "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT      "org.freedesktop.systemd1.Unit"
#define SYSTEMD_JOB       "org.freedesktop.systemd1.Job"
#define PROPERTIES        "org.freedesktop.DBus.Properties"
#define SYSTEMD_ERROR     "org.freedesktop.systemd1."

/* dbus-daemon's default max_match_rules_per_connection on the system bus
 * is 512; leave room for the rest of anyd. Shared by every AnydSystemd
 * (they all use anyd's one connection). */
#define MAX_WATCHES       384
/* Job calls in flight at once: the bus allows a connection 128 pending
 * replies (and polkit checks, Gets… need some too). */
#define MAX_JOB_CALLS     32
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

typedef struct {
  char                      *unit;
  guint                      sub_id;
  AnydSystemdPropertiesFunc  func;
  gpointer                   user_data;
  GDestroyNotify             notify;
} PropWatch;

/* Unit watches of all instances: each is one match rule on the bus. */
static guint total_watches;

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
  GHashTable           *prop_watches;   /* id -> PropWatch* (owned by the subscription) */
  guint                 job_calls;      /* job calls sent and not answered */
  GQueue                job_queue;      /* GTask* of job calls not sent yet */
};

typedef struct {
  AnydSystemd *sd;    /* a reference */
  char        *unit;
  char        *verb;
  const char  *method;
  GVariant    *params;    /* sunk */
  GUnixFDList *fds;       /* until the call is sent */
  char        *job_path;
  char        *result;
  guint64      seq;
} JobData;

static AnydSystemd *
systemd_ref (AnydSystemd *sd)
{
  return g_rc_box_acquire (sd);
}

static void
systemd_clear (AnydSystemd *sd)
{
  g_hash_table_unref (sd->waiting);
  g_hash_table_unref (sd->finished);
  g_queue_clear_full (&sd->finished_order, NULL);
  g_hash_table_unref (sd->watched);
  g_hash_table_unref (sd->prop_watches);
  g_array_unref (sd->outstanding);
  g_object_unref (sd->bus);
}

static void
systemd_unref (AnydSystemd *sd)
{
  g_rc_box_release_full (sd, (GDestroyNotify) systemd_clear);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydSystemd, systemd_unref)

/* An operation's hold on sd plus the job or unit it is about. */
typedef struct {
  AnydSystemd *sd;
  char        *name;
} NamedRef;

static NamedRef *
named_ref_new (AnydSystemd *sd, const char *name)
{
  NamedRef *r = g_new0 (NamedRef, 1);

  r->sd = systemd_ref (sd);
  r->name = g_strdup (name);
  return r;
}

static void
named_ref_free (NamedRef *r)
{
  systemd_unref (r->sd);
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
  systemd_unref (d->sd);
  g_free (d->unit);
  g_free (d->verb);
  g_clear_pointer (&d->params, g_variant_unref);
  g_clear_object (&d->fds);
  g_free (d->job_path);
  g_free (d->result);
  g_free (d);
}

/* ------------------------------------------------------------------ calls */

/* Every call to systemd goes through here: at most MAX_CALLS wait for a
 * reply at once, for all instances together (anyd has one connection, and
 * the bus allows it 128 pending replies; polkit checks need some too). */
#define MAX_CALLS 64

typedef struct {
  GDBusConnection     *bus;
  char                *path;
  const char          *iface;
  const char          *method;
  GVariant            *params;
  const GVariantType  *reply_type;
  GUnixFDList         *fds;
  GAsyncReadyCallback  callback;
  gpointer             user_data;
} BusCall;

static guint calls_in_flight;
static GQueue call_queue = G_QUEUE_INIT;

static void bus_call_send (BusCall *c);

static void
bus_call_free (BusCall *c)
{
  g_object_unref (c->bus);
  g_free (c->path);
  g_clear_pointer (&c->params, g_variant_unref);
  g_clear_object (&c->fds);
  g_free (c);
}

static void
bus_call_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  BusCall *c = user_data;

  calls_in_flight--;
  c->callback (source, res, c->user_data);
  bus_call_free (c);
  if (!g_queue_is_empty (&call_queue))
    bus_call_send (g_queue_pop_head (&call_queue));
}

static void
bus_call_send (BusCall *c)
{
  calls_in_flight++;
  g_dbus_connection_call_with_unix_fd_list (c->bus, SYSTEMD_NAME, c->path, c->iface, c->method,
                                            g_steal_pointer (&c->params), c->reply_type,
                                            G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, c->fds, NULL,
                                            bus_call_done_cb, c);
  /* The message holds the fds until it is written; then they close. */
  g_clear_object (&c->fds);
}

/* Like g_dbus_connection_call_with_unix_fd_list to systemd (finish with
 * g_dbus_connection_call_with_unix_fd_list_finish or _call_finish). */
static void
bus_call (GDBusConnection *bus, const char *path, const char *iface, const char *method,
          GVariant *params, const GVariantType *reply_type, GUnixFDList *fds,
          GAsyncReadyCallback callback, gpointer user_data)
{
  BusCall *c = g_new0 (BusCall, 1);

  c->bus = g_object_ref (bus);
  c->path = g_strdup (path);
  c->iface = iface;
  c->method = method;
  c->params = params ? g_variant_ref_sink (params) : NULL;
  c->reply_type = reply_type;
  c->fds = fds ? g_object_ref (fds) : NULL;
  c->callback = callback;
  c->user_data = user_data;
  if (calls_in_flight >= MAX_CALLS)
    g_queue_push_tail (&call_queue, c);
  else
    bus_call_send (c);
}

/* ------------------------------------------------------------------ helpers */

char *
anyd_systemd_unit_path (const char *unit)
{
  char *path = NULL;

  /* systemd's own label escaping: [A-Za-z0-9] stay, except a leading digit. */
  if (sd_bus_path_encode (SYSTEMD_PATH "/unit", unit, &path) < 0)
    g_error ("out of memory");
  return path;
}

const char *
anyd_systemd_unit_type_interface (const char *unit)
{
  static const struct { const char *type; const char *iface; } map[] = {
    { "service",   "org.freedesktop.systemd1.Service" },
    { "socket",    "org.freedesktop.systemd1.Socket" },
    { "mount",     "org.freedesktop.systemd1.Mount" },
    { "automount", "org.freedesktop.systemd1.Automount" },
    { "swap",      "org.freedesktop.systemd1.Swap" },
    { "timer",     "org.freedesktop.systemd1.Timer" },
    { "path",      "org.freedesktop.systemd1.Path" },
    { "scope",     "org.freedesktop.systemd1.Scope" },
    { "slice",     "org.freedesktop.systemd1.Slice" },
  };
  const char *dot = strrchr (unit, '.');

  for (guint i = 0; dot != NULL && i < G_N_ELEMENTS (map); i++)
    if (g_str_equal (dot + 1, map[i].type))
      return map[i].iface;
  return NULL;
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

/* A job's number for messages: the last element of its object path (the
 * path itself is no business of the user's). */
static const char *
job_id (const char *job_path)
{
  const char *slash = job_path ? strrchr (job_path, '/') : NULL;

  return slash ? slash + 1 : job_path ? job_path : "?";
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
    return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no unit '%s'", unit);
  if (g_str_equal (what, "UnitExists"))
    return g_error_new (ANYD_ERROR, ANYD_ERROR_EXISTS, "unit '%s' already exists", unit);
  if (g_str_equal (what, "JobTypeNotApplicable") || g_str_equal (what, "OnlyByDependency"))
    {
      if (verb != NULL && g_str_equal (verb, "reload"))
        return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_SUPPORTED,
                            "'%s' cannot be reloaded: it has no ExecReload=", unit);
      return g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_SUPPORTED, "'%s' does not support %s: %s",
                          unit, verb ? verb : "this", error->message);
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_error_new (ANYD_ERROR, ANYD_ERROR_TIMEOUT, "systemd did not answer in time");
  if (verb != NULL)
    return g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s of '%s' refused by systemd: %s",
                        verb, unit, error->message);
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

/* Parallel Gets of one unit's properties: a few small replies instead of
 * one GetAll of ~200. done() runs once all are answered. */
typedef struct {
  AnydSystemd  *sd;
  char         *unit;
  char         *path;
  GVariantDict  dict;
  guint         pending;
  GError       *error;    /* the first failure of a required property */
  void        (*done) (GTask *task);
} StatusData;

typedef struct {
  GTask    *task;
  char     *name;
  gboolean  required;
} PropCall;

static void
status_data_free (StatusData *d)
{
  systemd_unref (d->sd);
  g_free (d->unit);
  g_free (d->path);
  g_variant_dict_clear (&d->dict);
  g_clear_error (&d->error);
  g_free (d);
}

/* The Gets are answered: FALSE (and the task answered) on an error or a
 * unit systemd merely loaded to look at (it answers with defaults). */
static gboolean
props_ok (GTask *task)
{
  StatusData *d = g_task_get_task_data (task);
  const char *load = NULL;

  if (d->error != NULL)
    {
      g_task_return_error (task, map_error (d->error, d->unit, NULL));
      return FALSE;
    }
  g_variant_dict_lookup (&d->dict, "LoadState", "&s", &load);
  if (g_strcmp0 (load, "not-found") == 0)
    {
      g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no unit '%s'", d->unit);
      return FALSE;
    }
  return TRUE;
}

static void
status_done (GTask *task)
{
  StatusData *d = g_task_get_task_data (task);
  GVariantDict out;

  if (!props_ok (task))
    return;

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
  g_free (pc->name);
  g_free (pc);
  if (--d->pending == 0)
    d->done (task);
}

static StatusData *
props_data_new (GTask *task, AnydSystemd *sd, const char *unit, void (*done) (GTask *))
{
  StatusData *d = g_new0 (StatusData, 1);

  d->sd = systemd_ref (sd);
  d->unit = g_strdup (unit);
  d->path = anyd_systemd_unit_path (unit);
  d->done = done;
  g_variant_dict_init (&d->dict, NULL);
  g_task_set_task_data (task, d, (GDestroyNotify) status_data_free);
  return d;
}

static void
props_get (GTask *task, const char *iface, const char *name, gboolean required)
{
  StatusData *d = g_task_get_task_data (task);
  PropCall *pc = g_new0 (PropCall, 1);

  pc->task = g_object_ref (task);
  pc->name = g_strdup (name);
  pc->required = required;
  d->pending++;
  bus_call (d->sd->bus, d->path, PROPERTIES, "Get", g_variant_new ("(ss)", iface, name),
            G_VARIANT_TYPE ("(v)"), NULL, prop_cb, pc);
}

void
anyd_systemd_get_status_async (AnydSystemd *sd, const char *unit,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
  const char *type_iface = anyd_systemd_unit_type_interface (unit);

  g_task_set_source_tag (task, anyd_systemd_get_status_async);
  props_data_new (task, sd, unit, status_done);
  for (guint i = 0; i < G_N_ELEMENTS (status_props); i++)
    {
      const char *iface = status_props[i].iface ? status_props[i].iface : type_iface;

      if (iface == NULL || (status_props[i].iface != NULL && type_iface != NULL &&
                            !g_str_equal (status_props[i].iface, SYSTEMD_UNIT) &&
                            !g_str_equal (status_props[i].iface, type_iface)))
        continue;   /* a property this unit type does not have */
      props_get (task, iface, status_props[i].name, status_props[i].required);
    }
}

GVariant *
anyd_systemd_get_status_finish (AnydSystemd *sd, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
props_done (GTask *task)
{
  StatusData *d = g_task_get_task_data (task);

  if (!props_ok (task))
    return;
  g_task_return_pointer (task, g_variant_ref_sink (g_variant_dict_end (&d->dict)),
                         (GDestroyNotify) g_variant_unref);
}

void
anyd_systemd_get_properties_async (AnydSystemd *sd, const char *unit, const char *iface,
                                   const char *const *names,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
  const char *type_iface = iface != NULL ? iface : anyd_systemd_unit_type_interface (unit);

  g_task_set_source_tag (task, anyd_systemd_get_properties_async);
  props_data_new (task, sd, unit, props_done);
  props_get (task, SYSTEMD_UNIT, "LoadState", TRUE);
  for (guint i = 0; type_iface != NULL && names[i] != NULL; i++)
    props_get (task, type_iface, names[i], FALSE);
}

GVariant *
anyd_systemd_get_properties_finish (AnydSystemd *sd, GAsyncResult *result, GError **error)
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
                           "%s of '%s' failed: job result '%s' (ActiveState=%s, SubState=%s, Result=%s)",
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

static void job_send (GTask *task);

/* One job call answered: let the next queued one go. */
static void
job_call_answered (AnydSystemd *sd)
{
  sd->job_calls--;
  if (!sd->shut_down && !g_queue_is_empty (&sd->job_queue))
    job_send (g_queue_pop_head (&sd->job_queue));
}

static void
job_queued_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  JobData *d = g_task_get_task_data (task);
  AnydSystemd *sd = d->sd;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply =
    g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (source), NULL, res, &error);
  Finished *f;
  GPtrArray *waiters;

  job_call_answered (sd);
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
                                    "anyd is stopping; the %s of '%s' goes on in systemd as job %s",
                                    d->verb, d->unit, job_id (d->job_path)));
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

static void
job_send (GTask *task)
{
  JobData *d = g_task_get_task_data (task);
  AnydSystemd *sd = d->sd;

  d->seq = ++sd->call_seq;
  g_array_append_val (sd->outstanding, d->seq);
  sd->job_calls++;
  /* JobRemoved is already subscribed (anyd_systemd_new), and the bus keeps
   * our AddMatch ahead of this call, so the result cannot be missed. */
  bus_call (sd->bus, SYSTEMD_PATH, SYSTEMD_MANAGER, d->method, g_steal_pointer (&d->params),
            G_VARIANT_TYPE ("(o)"), d->fds, job_queued_cb, task);
  g_clear_object (&d->fds);
}

static GTask *
job_new (AnydSystemd *sd, const char *unit, const char *verb, const char *method,
         GVariant *params, GUnixFDList *fds, gpointer source_tag,
         GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  JobData *d = g_new0 (JobData, 1);

  g_task_set_source_tag (task, source_tag);
  d->sd = systemd_ref (sd);
  d->unit = g_strdup (unit);
  d->verb = g_strdup (verb);
  d->method = method;
  d->params = g_variant_ref_sink (params);
  d->fds = fds != NULL ? g_object_ref (fds) : NULL;
  g_task_set_task_data (task, d, (GDestroyNotify) job_data_free);
  return task;
}

static void
job_submit (AnydSystemd *sd, GTask *task)
{
  if (sd->job_calls >= MAX_JOB_CALLS)
    g_queue_push_tail (&sd->job_queue, task);
  else
    job_send (task);
}

void
anyd_systemd_run_job_async (AnydSystemd *sd, const char *unit, const char *verb,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  job_submit (sd, job_new (sd, unit, verb, verb_method (verb),
                           g_variant_new ("(ss)", unit, "replace"), NULL,
                           anyd_systemd_run_job_async, callback, user_data));
}

void
anyd_systemd_start_transient_async (AnydSystemd *sd, const char *unit, GVariant *properties,
                                    GUnixFDList *fds, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  GVariant *params = g_variant_new ("(ss@a(sv)@a(sa(sv)))", unit, "fail", properties,
                                    g_variant_new_array (G_VARIANT_TYPE ("(sa(sv))"), NULL, 0));

  job_submit (sd, job_new (sd, unit, "start", "StartTransientUnit", params, fds,
                           anyd_systemd_start_transient_async, callback, user_data));
}

gboolean
anyd_systemd_start_transient_finish (AnydSystemd *sd, GAsyncResult *result, char **job_result,
                                     GError **error)
{
  JobData *d;

  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  d = g_task_get_task_data (G_TASK (result));
  if (job_result != NULL)
    *job_result = g_strdup (d->result);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------ plain calls */

static void
call_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  const char *unit = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    g_task_return_error (task, map_error (error, unit, NULL));
  else
    g_task_return_boolean (task, TRUE);
}

static void
manager_call (AnydSystemd *sd, const char *unit, const char *method, GVariant *params,
              gpointer source_tag, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (NULL, NULL, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, g_strdup (unit), g_free);
  bus_call (sd->bus, SYSTEMD_PATH, SYSTEMD_MANAGER, method, params, NULL, NULL, call_done_cb, task);
}

void
anyd_systemd_kill_unit_async (AnydSystemd *sd, const char *unit, int signal,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  manager_call (sd, unit, "KillUnit", g_variant_new ("(ssi)", unit, "all", signal),
                anyd_systemd_kill_unit_async, callback, user_data);
}

void
anyd_systemd_ref_unit_async (AnydSystemd *sd, const char *unit, gboolean ref,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  manager_call (sd, unit, ref ? "RefUnit" : "UnrefUnit", g_variant_new ("(s)", unit),
                anyd_systemd_ref_unit_async, callback, user_data);
}

void
anyd_systemd_set_unit_properties_async (AnydSystemd *sd, const char *unit, GVariant *properties,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  manager_call (sd, unit, "SetUnitProperties", g_variant_new ("(sb@a(sv))", unit, TRUE, properties),
                anyd_systemd_set_unit_properties_async, callback, user_data);
}

gboolean
anyd_systemd_call_finish (AnydSystemd *sd, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
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
                                    "%s of '%s': systemd went away while the job was running; "
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
    bus_call (sd->bus, job, PROPERTIES, "Get", g_variant_new ("(ss)", SYSTEMD_JOB, "State"),
              G_VARIANT_TYPE ("(v)"), NULL, job_exists_cb, named_ref_new (sd, job));
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
  bus_call (bus, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", NULL, G_VARIANT_TYPE_UNIT, NULL,
            subscribe_cb, systemd_ref (sd));
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
  if (total_watches >= MAX_WATCHES)
    return FALSE;
  total_watches++;
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
  total_watches--;
}

static void
prop_watch_free (PropWatch *w)
{
  if (w->notify != NULL)
    w->notify (w->user_data);
  g_free (w->unit);
  g_free (w);
}

static void
on_unit_properties (GDBusConnection *bus, const char *sender, const char *path,
                    const char *iface, const char *signal, GVariant *params, gpointer user_data)
{
  PropWatch *w = user_data;
  const char *changed_iface;
  g_autoptr(GVariant) changed = NULL;
  g_autofree const char **invalidated = NULL;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (params, "(&s@a{sv}^a&s)", &changed_iface, &changed, &invalidated);
  w->func (w->unit, changed_iface, changed, invalidated, w->user_data);
}

guint
anyd_systemd_watch_properties (AnydSystemd *sd, const char *unit, AnydSystemdPropertiesFunc func,
                               gpointer user_data, GDestroyNotify notify)
{
  g_autofree char *path = NULL;
  PropWatch *w;

  if (total_watches >= MAX_WATCHES)
    return 0;
  total_watches++;
  path = anyd_systemd_unit_path (unit);
  w = g_new0 (PropWatch, 1);
  w->unit = g_strdup (unit);
  w->func = func;
  w->user_data = user_data;
  w->notify = notify;
  w->sub_id = g_dbus_connection_signal_subscribe (sd->bus, SYSTEMD_NAME, PROPERTIES,
                                                  "PropertiesChanged", path, NULL,
                                                  G_DBUS_SIGNAL_FLAGS_NONE, on_unit_properties,
                                                  w, (GDestroyNotify) prop_watch_free);
  g_hash_table_insert (sd->prop_watches, GUINT_TO_POINTER (w->sub_id), w);
  return w->sub_id;
}

void
anyd_systemd_unwatch_properties (AnydSystemd *sd, guint id)
{
  if (id == 0 || !g_hash_table_remove (sd->prop_watches, GUINT_TO_POINTER (id)))
    return;
  g_dbus_connection_signal_unsubscribe (sd->bus, id);   /* frees the watch */
  total_watches--;
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
      g_task_return_error (task, map_error (error, "", NULL));
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
  bus_call (sd->bus, SYSTEMD_PATH, SYSTEMD_MANAGER, "ListUnitsByPatterns",
            g_variant_new ("(^as^as)", any_state, patterns), G_VARIANT_TYPE ("(a(ssssssouso))"),
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
  sd->prop_watches = g_hash_table_new (NULL, NULL);
  g_queue_init (&sd->job_queue);

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
  g_autofree gpointer *ids = NULL;
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
  ids = g_hash_table_get_keys_as_array (sd->prop_watches, NULL);
  for (guint i = 0; ids[i] != NULL; i++)
    anyd_systemd_unwatch_properties (sd, GPOINTER_TO_UINT (ids[i]));
  /* Job calls never sent: nothing happened in systemd. */
  while (!g_queue_is_empty (&sd->job_queue))
    {
      GTask *task = g_queue_pop_head (&sd->job_queue);
      JobData *d = g_task_get_task_data (task);
      fail_task (task, g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                                    "anyd is stopping; the %s of '%s' was not sent to systemd",
                                    d->verb, d->unit));
    }

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
                                  "anyd is stopping; the %s of '%s' goes on in systemd as job %s",
                                  d->verb, d->unit, job_id (key)));
        }
      g_ptr_array_set_size (waiters, 0);
    }
  g_hash_table_remove_all (sd->waiting);
  memset (&sd->cb, 0, sizeof sd->cb);
  systemd_unref (sd);
}
