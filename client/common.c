/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client: shared helpers (bus, calls, polkit text agent, errors, output). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <polkit/polkit.h>
#include <polkitagent/polkitagent.h>

#include <anyd.h>
#include <json-glib/json-glib.h>

#include "agent.h"
#include "common.h"

#define DBUS_ERROR_PREFIX "org.freedesktop.DBus.Error."

/* ---------------------------------------------------------------------- */
/* Connection                                                             */
/* ---------------------------------------------------------------------- */

/* --host [USER@]HOST[:PORT]: run `ssh -xT [-p PORT] -- [USER@]HOST
 * systemd-stdio-bridge` and speak D-Bus over its stdin/stdout, as
 * `busctl -H` does.  (GDBus has no unixexec: transport, so we spawn ssh
 * ourselves.)  ssh's stderr stays ours so its prompts and errors show. */
GPtrArray *
anyd_client_ssh_argv (AnydClientContext *ctx, const char *flags, GError **error)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *host = g_strdup (ctx->host);
  char *colon;
  const char *at;

  /* A trailing ":PORT" (digits only); "[v6addr]:PORT" loses its brackets. */
  at = strrchr (host, '@');
  colon = strrchr (at ? at : host, ':');
  if (colon != NULL && colon[1] != '\0' && strspn (colon + 1, "0123456789") == strlen (colon + 1) &&
      (strchr (at ? at + 1 : host, ':') == colon || (colon > host && colon[-1] == ']')))
    *colon = '\0';
  else
    colon = NULL;

  if (host[0] == '\0' || (at && (at == host || at[1] == '\0')))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("invalid --host '%s': expected [USER@]HOST[:PORT]"), ctx->host);
      return NULL;
    }

  g_ptr_array_add (argv, g_strdup ("ssh"));
  g_ptr_array_add (argv, g_strdup (flags));
  if (colon != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("-p"));
      g_ptr_array_add (argv, g_strdup (colon + 1));
    }
  g_ptr_array_add (argv, g_strdup ("--"));
  {
    /* strip brackets of an IPv6 literal: user@[::1] -> user@::1 */
    GString *h = g_string_new (NULL);
    for (const char *p = host; *p; p++)
      if (*p != '[' && *p != ']')
        g_string_append_c (h, *p);
    g_ptr_array_add (argv, g_string_free (h, FALSE));
  }
  return g_steal_pointer (&argv);
}

static GDBusConnection *
connect_remote (AnydClientContext *ctx, GError **error)
{
  g_autoptr(GPtrArray) argv = anyd_client_ssh_argv (ctx, "-xT", error);
  g_autoptr(GIOStream) stream = NULL;

  if (argv == NULL)
    return NULL;
  g_ptr_array_add (argv, g_strdup ("systemd-stdio-bridge"));
  g_ptr_array_add (argv, NULL);

  if (ctx->verbose)
    {
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      g_printerr ("anyd-client: %s\n", cmd);
    }

  ctx->ssh = g_subprocess_newv ((const char *const *) argv->pdata,
                                G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                                error);
  if (ctx->ssh == NULL)
    return NULL;

  stream = g_simple_io_stream_new (g_subprocess_get_stdout_pipe (ctx->ssh),
                                   g_subprocess_get_stdin_pipe (ctx->ssh));
  return g_dbus_connection_new_sync (stream, NULL,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                     G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, NULL, error);
}

GDBusConnection *
anyd_client_get_bus (AnydClientContext *ctx, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  if (ctx->bus != NULL)
    return ctx->bus;

  /* org.anyd1.Error.* replies arrive in the ANYD_ERROR domain (libanyd) */
  (void) anyd_error_quark ();
  if (ctx->host != NULL)
    ctx->bus = connect_remote (ctx, &local_error);
  else
    ctx->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local_error);

  if (ctx->bus == NULL)
    {
      if (local_error->domain == G_OPTION_ERROR)
        g_propagate_error (error, g_steal_pointer (&local_error));
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                     ctx->host ? _("cannot connect to the system bus of %s: %s")
                               : _("cannot connect to the system bus%s: %s"),
                     ctx->host ? ctx->host : "", local_error->message);
      return NULL;
    }

  /* A dropped ssh link must give an error, not kill us. */
  g_dbus_connection_set_exit_on_close (ctx->bus, FALSE);
  return ctx->bus;
}

/* ---------------------------------------------------------------------- */
/* Calls and the polkit text agent                                        */
/* ---------------------------------------------------------------------- */

static gboolean
error_has_name (const GError *error, const char *name)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  return remote != NULL && g_str_equal (remote, name);
}

static void
trace_call (AnydClientContext *ctx, const char *path, const char *interface,
            const char *method, GVariant *params, gboolean interactive)
{
  g_autofree char *args = params ? g_variant_print (params, TRUE) : g_strdup ("()");
  g_printerr ("anyd-client: call %s.%s on %s %s%s\n", interface, method, path, args,
              interactive ? " [interactive]" : "");
}

/* Registers a polkit text agent for this process, as udisksctl does.
 * Not as a "fallback" agent (pkexec's option): we only get here after no
 * agent answered, and polkitd ignores a fallback agent altogether when the
 * subject has no login session (ssh without pam_systemd, containers). */
static gboolean
register_text_agent (AnydClientContext *ctx, GError **error)
{
  g_autoptr(PolkitSubject) subject = NULL;
  g_autoptr(PolkitAgentListener) listener = NULL;
  gpointer handle;

  subject = polkit_unix_process_new_for_owner (getpid (), 0, getuid ());
  /* our own listener: polkit's text listener aborts the program on Ctrl-D */
  listener = anyd_client_agent_new (error);
  if (listener == NULL)
    return FALSE;

  /* In a thread: our calls are synchronous, so our main context does not run
   * while the daemon waits for polkit. */
  handle = polkit_agent_listener_register (listener, POLKIT_AGENT_REGISTER_FLAGS_RUN_IN_THREAD,
                                           subject, NULL, NULL, error);
  if (handle == NULL)
    return FALSE;

  ctx->agent = g_steal_pointer (&listener);
  ctx->agent_handle = handle;
  if (ctx->verbose)
    g_printerr ("anyd-client: registered a polkit text agent for pid %d\n", (int) getpid ());
  return TRUE;
}

/* One activation attempt per command: if anyd has no owner on the bus,
 * ask the bus to start it ourselves.  Its error is the reason to report:
 * ServiceUnknown (nothing activatable: "anyd is not running") or the
 * start's failure (Spawn.ChildExited, systemd's Masked, …), which GDBus's
 * own auto-start drops or tries again.  The proxies made afterwards do not
 * auto-start at construction, so a failing start is not tried twice; a
 * command ends at its first failure.  Asked before every read, not once:
 * an activated anyd may exit when idle between two reads of a command. */
static gboolean
ensure_started (AnydClientContext *ctx, GDBusConnection *bus, GError **error)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) local_error = NULL;
  gboolean has_owner;

  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", ANYD_CLIENT_BUS_NAME),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE,
                                       ctx->timeout_ms, NULL, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(b)", &has_owner);
  g_clear_pointer (&reply, g_variant_unref);
  if (!has_owner)
    {
      reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "StartServiceByName",
                                           g_variant_new ("(su)", ANYD_CLIENT_BUS_NAME, 0),
                                           G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE,
                                           ctx->timeout_ms, NULL, &local_error);
      if (reply == NULL)
        {
          if (ctx->verbose)
            g_printerr ("anyd-client: StartServiceByName %s: %s\n", ANYD_CLIENT_BUS_NAME,
                        local_error->message);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
    }
  return TRUE;
}

AnydClient *
anyd_client_get_lib (AnydClientContext *ctx, GError **error)
{
  GDBusConnection *bus;
  g_autoptr(GError) local_error = NULL;

  if (ctx->lib != NULL)
    return ctx->lib;
  bus = anyd_client_get_bus (ctx, error);
  if (bus == NULL)
    return NULL;
  /* The monitor watches for anyd to appear if nothing can start it now;
   * a start that failed is reported. */
  if (!ensure_started (ctx, bus, &local_error))
    {
      g_autofree char *name = g_dbus_error_get_remote_error (local_error);

      if (g_strcmp0 (name, DBUS_ERROR_PREFIX "ServiceUnknown") != 0)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
  ctx->lib = anyd_client_new_for_connection_sync (bus, NULL, error);
  if (ctx->lib == NULL)
    return NULL;
  /* the flag belongs to the connection: keep --no-ask-password meaning no */
  anyd_client_set_allow_interactive_authorization (ctx->lib, ctx->ask_password);
  return ctx->lib;
}

void
anyd_client_context_clear (AnydClientContext *ctx)
{
  if (ctx->agent_handle != NULL)
    polkit_agent_listener_unregister (ctx->agent_handle);
  ctx->agent_handle = NULL;
  g_clear_object (&ctx->agent);
  g_clear_object (&ctx->lib);
  if (ctx->bus != NULL && ctx->trace_filter != 0)
    g_dbus_connection_remove_filter (ctx->bus, ctx->trace_filter);
  ctx->trace_filter = 0;
  if (ctx->bus != NULL)
    g_dbus_connection_close_sync (ctx->bus, NULL, NULL);
  g_clear_object (&ctx->bus);
  if (ctx->ssh != NULL)
    {
      /* closing the bus closed ssh's stdin; it exits on its own */
      g_subprocess_wait (ctx->ssh, NULL, NULL);
      g_clear_object (&ctx->ssh);
    }
  g_clear_pointer (&ctx->host, g_free);
  g_clear_pointer (&ctx->fields, g_free);
}

/* Is path "/org/anyd1/<one element>", a module's root object? */
static gboolean
is_module_root (const char *path)
{
  const char *rest;

  if (!g_str_has_prefix (path, ANYD_CLIENT_PATH "/"))
    return FALSE;
  rest = path + strlen (ANYD_CLIENT_PATH "/");
  return rest[0] != '\0' && strchr (rest, '/') == NULL;
}

/* What a missing object was, in the user's words: "no VPN profile 'x'". */
static char *
describe_missing (const char *path)
{
  static const struct {
    const char *prefix;
    const char *format;
  } kinds[] = {
    { ANYD_CLIENT_PATH "/tun/", N_("no TUN device '%s'") },
    { ANYD_CLIENT_PATH "/vpn/profiles/", N_("no VPN profile '%s'") },
    { ANYD_CLIENT_PATH "/vpn/connections/", N_("no VPN connection %s") },
  };

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (g_str_has_prefix (path, kinds[i].prefix))
      {
        const char *elem = path + strlen (kinds[i].prefix);
        g_autofree char *name = anyd_unescape_path_element (elem);
        if (strchr (elem, '/') == NULL)
          return g_strdup_printf (_(kinds[i].format), name ? name : elem);
      }
  return g_strdup (_("no such thing in anyd"));
}

static void set_missing_error (AnydClient *client, const char *path, GError **error);

/* An object that is not exported gives "UnknownMethod: Object does not
 * exist at path …" (or "No such interface …").  Make that readable (see
 * set_missing_error): no object paths or method names reach the user.
 * Whether the object is there is asked of libanyd's object manager, so we
 * need not rely on the wording of GDBus's messages, which are translated. */
static void
explain_missing_object (AnydClientContext *ctx, const char *path, const char *interface,
                        GError **error)
{
  g_autofree char *name = NULL;
  g_autoptr(AnydClient) client = NULL;
  g_autoptr(GDBusInterface) iface = NULL;

  if (error == NULL || *error == NULL || ctx->bus == NULL || g_str_equal (path, ANYD_CLIENT_PATH))
    return;
  name = g_dbus_error_get_remote_error (*error);
  if (name == NULL ||
      !(g_str_equal (name, DBUS_ERROR_PREFIX "UnknownMethod") ||
        g_str_equal (name, DBUS_ERROR_PREFIX "UnknownObject") ||
        g_str_equal (name, DBUS_ERROR_PREFIX "UnknownInterface") ||
        g_str_equal (name, DBUS_ERROR_PREFIX "InvalidArgs")))
    return;
  client = anyd_client_snapshot (ctx, NULL, NULL);
  if (client == NULL)
    return; /* cannot tell: keep the original error */
  iface = g_dbus_object_manager_get_interface (anyd_client_get_object_manager (client), path, interface);
  if (iface != NULL)
    return;
  g_clear_error (error);
  set_missing_error (client, path, error);
}

gboolean
anyd_client_require_module (AnydClientContext *ctx, const char *module, GError **error)
{
  g_autoptr(AnydClient) client = anyd_client_snapshot (ctx, module, error);

  return client != NULL;
}

/* polkit could have asked for a password but no agent answered: if we
 * have a terminal, become the agent ourselves and try once more (TRUE:
 * *error is cleared, call again).  Not over --host: polkitd there cannot
 * reach an agent here. */
static gboolean
retry_with_agent (AnydClientContext *ctx, GError **error)
{
  g_autoptr(GError) agent_error = NULL;

  if (!(ctx->ask_password && ctx->host == NULL && ctx->agent_handle == NULL &&
        (error_has_name (*error, ANYD_CLIENT_ERROR_PREFIX "NotAuthorizedCanObtain") ||
         error_has_name (*error, DBUS_ERROR_PREFIX "InteractiveAuthorizationRequired")) &&
        isatty (STDIN_FILENO)))
    return FALSE;
  if (!register_text_agent (ctx, &agent_error))
    {
      if (ctx->verbose)
        g_printerr ("anyd-client: cannot register a polkit text agent: %s\n",
                    agent_error->message);
      return FALSE;
    }
  g_clear_error (error);
  return TRUE;
}

GDBusCallFlags
anyd_client_call_flags (AnydClientContext *ctx)
{
  return ctx->ask_password ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION
                           : G_DBUS_CALL_FLAGS_NONE;
}

int
anyd_client_call_timeout (AnydClientContext *ctx)
{
  return ctx->timeout_ms >= 0 ? ctx->timeout_ms : G_MAXINT;
}

gpointer
anyd_client_proxy_new (AnydClientContext  *ctx,
                       GType               proxy_type,
                       GDBusInterfaceInfo *info,
                       const char         *object_path,
                       GError            **error)
{
  GDBusConnection *bus = anyd_client_get_bus (ctx, error);

  if (bus == NULL || !ensure_started (ctx, bus, error))
    return NULL;
  /* Started above; the calls may still auto-start (anyd's idle exit). */
  return g_initable_new (proxy_type, NULL, error,
                         "g-flags", G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                    G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
                                    G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START_AT_CONSTRUCTION,
                         "g-name", ANYD_CLIENT_BUS_NAME,
                         "g-connection", bus,
                         "g-object-path", object_path,
                         "g-interface-name", info->name,
                         NULL);
}

/* --verbose for typed calls: the generated code builds the message, so
 * the trace is taken from the wire (in GDBus's worker thread; the caller
 * is blocked in its synchronous call meanwhile). */
static GDBusMessage *
trace_filter (GDBusConnection *connection, GDBusMessage *message,
              gboolean incoming, gpointer user_data)
{
  AnydClientContext *ctx = user_data;
  GDBusMessageType type = g_dbus_message_get_message_type (message);
  GVariant *body = g_dbus_message_get_body (message);

  if (!g_atomic_int_get (&ctx->tracing))
    return message;
  /* the bus's own calls (GetNameOwner, AddMatch) made for libanyd's
   * object manager are not anyd's */
  if (!incoming && type == G_DBUS_MESSAGE_TYPE_METHOD_CALL &&
      g_strcmp0 (g_dbus_message_get_destination (message), "org.freedesktop.DBus") == 0)
    return message;
  if (!incoming && type == G_DBUS_MESSAGE_TYPE_METHOD_CALL)
    {
      gboolean interactive = (g_dbus_message_get_flags (message) &
                              G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
      g_atomic_int_set ((gint *) &ctx->trace_serial, (gint) g_dbus_message_get_serial (message));
      trace_call (ctx, g_dbus_message_get_path (message), g_dbus_message_get_interface (message),
                  g_dbus_message_get_member (message), body, interactive);
    }
  else if (incoming && type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN &&
           g_dbus_message_get_reply_serial (message) ==
           (guint32) g_atomic_int_get ((gint *) &ctx->trace_serial))
    {
      g_autofree char *text = body ? g_variant_print (body, TRUE) : g_strdup ("()");
      g_printerr ("anyd-client: reply %s\n", text);
    }
  return message;
}

static void
trace_begin (AnydClientContext *ctx)
{
  if (ctx->verbose && ctx->trace_filter == 0 && ctx->bus != NULL)
    ctx->trace_filter = g_dbus_connection_add_filter (ctx->bus, trace_filter, ctx, NULL);
  g_atomic_int_set (&ctx->tracing, 1);
}

static void
trace_end (AnydClientContext *ctx)
{
  g_atomic_int_set (&ctx->tracing, 0);
}

void
anyd_client_typed_begin (AnydClientContext *ctx)
{
  trace_begin (ctx);
}

gboolean
anyd_client_typed_retry (AnydClientContext *ctx, GError **error)
{
  gboolean retry;

  /* the agent's own bus traffic is not part of the trace */
  g_atomic_int_set (&ctx->tracing, 0);
  retry = retry_with_agent (ctx, error);
  g_atomic_int_set (&ctx->tracing, 1);
  return retry;
}

gboolean
anyd_client_typed_end (AnydClientContext *ctx, gpointer proxy, gboolean ok, GError **error)
{
  trace_end (ctx);
  if (!ok)
    explain_missing_object (ctx, g_dbus_proxy_get_object_path (G_DBUS_PROXY (proxy)),
                            g_dbus_proxy_get_interface_name (G_DBUS_PROXY (proxy)), error);
  return ok;
}

/* ---- reads: libanyd's object manager -------------------------------- */

/* --timeout for reads: the object manager client and GDBusProxy make their
 * calls with the default timeout and take only a GCancellable, so a thread
 * cancels that when the time is up. */
typedef struct {
  GMutex lock;
  GCond cond;
  gboolean done;
  gint64 deadline;
  GCancellable *cancellable;
} Deadline;

static gpointer
deadline_thread (gpointer data)
{
  Deadline *d = data;

  g_mutex_lock (&d->lock);
  while (!d->done)
    if (!g_cond_wait_until (&d->cond, &d->lock, d->deadline))
      {
        if (!d->done)
          g_cancellable_cancel (d->cancellable);
        break;
      }
  g_mutex_unlock (&d->lock);
  return NULL;
}

/* Starts a read: traced with --verbose; returns the cancellable that
 * --timeout cancels (NULL without --timeout: the D-Bus default applies). */
static GCancellable *
read_begin (AnydClientContext *ctx, Deadline *d, GThread **timer)
{
  *timer = NULL;
  trace_begin (ctx);
  if (ctx->timeout_ms < 0)
    return NULL;
  g_mutex_init (&d->lock);
  g_cond_init (&d->cond);
  d->done = FALSE;
  d->deadline = g_get_monotonic_time () + (gint64) ctx->timeout_ms * G_TIME_SPAN_MILLISECOND;
  d->cancellable = g_cancellable_new ();
  *timer = g_thread_new ("anyd-client-timeout", deadline_thread, d);
  return d->cancellable;
}

/* Ends it; FALSE with a timeout error if --timeout ran out (the object
 * manager and GDBusProxy's property loading drop some errors, so a
 * cancelled read counts even when it seemed to succeed). */
static gboolean
read_end (AnydClientContext *ctx, Deadline *d, GThread *timer, GError **error)
{
  gboolean cancelled;

  trace_end (ctx);
  if (timer == NULL)
    return TRUE;
  g_mutex_lock (&d->lock);
  d->done = TRUE;
  g_cond_signal (&d->cond);
  g_mutex_unlock (&d->lock);
  g_thread_join (timer);
  g_mutex_clear (&d->lock);
  g_cond_clear (&d->cond);
  cancelled = g_cancellable_is_cancelled (d->cancellable);
  g_clear_object (&d->cancellable);
  if (cancelled)
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                         g_dgettext ("glib20", "Timeout was reached"));
  return !cancelled;
}

/* The bus said anyd was started, yet it has no owner (it exited at once). */
static void
set_not_running_error (GError **error)
{
  g_autofree char *message = g_strdup_printf ("The name %s was not provided by any .service files",
                                              ANYD_CLIENT_BUS_NAME);

  g_propagate_error (error, g_dbus_error_new_for_dbus_error (DBUS_ERROR_PREFIX "ServiceUnknown", message));
}

/* Where a missing object or interface of a read leaves the user: a module
 * root that is missing, or anything below a module that is off, means the
 * module is not enabled (exit code 1); anything else does not exist
 * (NotFound, exit 4).  No object paths reach the user. */
static void
set_missing_error (AnydClient *client, const char *path, GError **error)
{
  g_autofree char *message = NULL;

  if (g_str_has_prefix (path, ANYD_CLIENT_PATH "/"))
    {
      const char *rest = path + strlen (ANYD_CLIENT_PATH "/");
      g_autofree char *module = g_strndup (rest, strcspn (rest, "/"));

      if (is_module_root (path) || !anyd_client_has_module (client, module))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       _("the %s module is not enabled in anyd"), module);
          return;
        }
    }
  message = describe_missing (path);
  g_propagate_error (error, g_dbus_error_new_for_dbus_error (ANYD_CLIENT_ERROR_PREFIX "NotFound",
                                                             message));
}

AnydClient *
anyd_client_snapshot (AnydClientContext *ctx, const char *module, GError **error)
{
  GDBusConnection *bus = anyd_client_get_bus (ctx, error);
  g_autoptr(GError) local_error = NULL;
  g_autoptr(AnydClient) client = NULL;
  g_autofree char *owner = NULL;
  GCancellable *cancellable;
  GThread *timer;
  Deadline d;

  /* With an owner, libanyd's object manager does not auto-start. */
  if (bus == NULL || !ensure_started (ctx, bus, error))
    return NULL;
  cancellable = read_begin (ctx, &d, &timer);
  client = anyd_client_new_for_connection_sync (bus, cancellable, &local_error);
  if (!read_end (ctx, &d, timer, error))
    return NULL;
  if (client == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  /* the flag belongs to the connection: keep --no-ask-password meaning no */
  anyd_client_set_allow_interactive_authorization (client, ctx->ask_password);

  owner = g_dbus_object_manager_client_get_name_owner (
    G_DBUS_OBJECT_MANAGER_CLIENT (anyd_client_get_object_manager (client)));
  if (owner == NULL)
    {
      set_not_running_error (error);
      return NULL;
    }
  if (module != NULL && !anyd_client_has_module (client, module))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _("the %s module is not enabled in anyd"), module);
      return NULL;
    }
  return g_steal_pointer (&client);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GVariant *
anyd_client_proxy_properties (GDBusProxy *proxy)
{
  g_auto(GStrv) names = g_dbus_proxy_get_cached_property_names (proxy);
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  /* the cache is a hash table: give the dictionary a stable order */
  if (names != NULL)
    qsort (names, g_strv_length (names), sizeof (char *), compare_strings);
  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      g_autoptr(GVariant) value = g_dbus_proxy_get_cached_property (proxy, names[i]);
      if (value != NULL)
        g_variant_builder_add (&b, "{sv}", names[i], value);
    }
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/* Object paths in a stable order; numbered objects (exec's processes) by
 * number. */
static int
compare_paths (const char *a, const char *b)
{
  const char *ta = strrchr (a, '/') + 1, *tb = strrchr (b, '/') + 1;
  size_t la = strlen (ta), lb = strlen (tb);

  if (ta - a == tb - b && strncmp (a, b, ta - a) == 0 && la != lb &&
      strspn (ta, "0123456789") == la && strspn (tb, "0123456789") == lb)
    return la < lb ? -1 : 1;
  return strcmp (a, b);
}

static int
compare_proxies (gconstpointer a, gconstpointer b)
{
  return compare_paths (g_dbus_proxy_get_object_path ((GDBusProxy *) a),
                        g_dbus_proxy_get_object_path ((GDBusProxy *) b));
}

GList *
anyd_client_snapshot_list (AnydClient *client, const char *interface)
{
  GList *objects = g_dbus_object_manager_get_objects (anyd_client_get_object_manager (client));
  GList *found = NULL;

  for (GList *l = objects; l != NULL; l = l->next)
    {
      GDBusInterface *iface = g_dbus_object_get_interface (l->data, interface);
      if (iface != NULL)
        found = g_list_prepend (found, iface);
    }
  g_list_free_full (objects, g_object_unref);
  return g_list_sort (found, compare_proxies);
}

/* libanyd's generated proxy for interface on object_path, its properties
 * loaded now (GetAll), so they are fresh; an error as the user should
 * read it if anyd does not have the object. */
static GDBusProxy *
load_proxy (AnydClientContext *ctx, const char *object_path, const char *interface,
            GError **error)
{
  GDBusConnection *bus = anyd_client_get_bus (ctx, error);
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GDBusProxy) proxy = NULL;
  g_autofree char *owner = NULL;
  g_auto(GStrv) names = NULL;
  GCancellable *cancellable;
  GThread *timer;
  Deadline d;

  if (bus == NULL || !ensure_started (ctx, bus, error))
    return NULL;
  cancellable = read_begin (ctx, &d, &timer);
  /* Signals are not connected: nothing updates the cache afterwards. */
  proxy = g_initable_new (anyd_object_manager_client_get_proxy_type (NULL, object_path, interface, NULL),
                          cancellable, &local_error,
                          "g-flags", G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS |
                                     G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START_AT_CONSTRUCTION,
                          "g-name", ANYD_CLIENT_BUS_NAME,
                          "g-connection", bus,
                          "g-object-path", object_path,
                          "g-interface-name", interface,
                          NULL);
  if (!read_end (ctx, &d, timer, error))
    return NULL;
  if (proxy == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  owner = g_dbus_proxy_get_name_owner (proxy);
  if (owner == NULL)
    {
      set_not_running_error (error);
      return NULL;
    }
  names = g_dbus_proxy_get_cached_property_names (proxy);
  if (names == NULL || names[0] == NULL)
    {
      /* GDBusProxy drops the error of its GetAll: ask once more, through
       * the proxy, for anyd's own answer ("device: anyd has no device
       * named …"), or the bus's, explained.  A reply means the object is
       * there and has no properties; its content is the (empty) cache. */
      g_autoptr(GVariant) reply = NULL;

      cancellable = read_begin (ctx, &d, &timer);
      reply = g_dbus_proxy_call_sync (proxy, "org.freedesktop.DBus.Properties.GetAll",
                                      g_variant_new ("(s)", interface), G_DBUS_CALL_FLAGS_NONE,
                                      ctx->timeout_ms, cancellable, &local_error);
      if (!read_end (ctx, &d, timer, error))
        return NULL;
      if (reply == NULL)
        {
          explain_missing_object (ctx, object_path, interface, &local_error);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
  return g_steal_pointer (&proxy);
}

GVariant *
anyd_client_get_properties (AnydClientContext *ctx,
                            const char        *object_path,
                            const char        *interface,
                            GError           **error)
{
  g_autoptr(GDBusProxy) proxy = load_proxy (ctx, object_path, interface, error);

  return proxy != NULL ? anyd_client_proxy_properties (proxy) : NULL;
}

GVariant *
anyd_client_get_property (AnydClientContext *ctx,
                          const char        *object_path,
                          const char        *interface,
                          const char        *property,
                          GError           **error)
{
  g_autoptr(GDBusProxy) proxy = load_proxy (ctx, object_path, interface, error);
  GVariant *value;

  if (proxy == NULL)
    return NULL;
  value = g_dbus_proxy_get_cached_property (proxy, property);
  if (value == NULL)
    g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                 "No such property “%s”", property);
  return value;
}

typedef struct {
  GMainLoop *loop;
  gboolean signalled;
} LoopData;

static gboolean
on_quit_signal (gpointer user_data)
{
  LoopData *data = user_data;

  data->signalled = TRUE;
  g_main_loop_quit (data->loop);
  return G_SOURCE_CONTINUE;
}

gboolean
anyd_client_run_loop (AnydClientContext *ctx, GMainLoop *loop)
{
  LoopData data = { loop, FALSE };
  guint ids[3];

  ids[0] = g_unix_signal_add (SIGINT, on_quit_signal, &data);
  ids[1] = g_unix_signal_add (SIGTERM, on_quit_signal, &data);
  ids[2] = g_unix_signal_add (SIGHUP, on_quit_signal, &data);
  g_main_loop_run (loop);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    g_source_remove (ids[i]);
  return data.signalled;
}

GBytes *
anyd_client_read_fd (int fd, gsize max_size, GError **error)
{
  gsize size = 0, alloc = 4096;
  guint8 *buf;

  if (max_size == 0)
    max_size = 64 * 1024 * 1024;

  buf = g_malloc (alloc);
  for (;;)
    {
      ssize_t n;

      if (size == alloc)
        {
          /* grow by hand so the old copy (maybe a secret) is wiped */
          gsize new_alloc = MIN (alloc * 2, max_size + 1);
          guint8 *bigger;

          if (new_alloc <= alloc)
            new_alloc = alloc + 1;
          bigger = g_malloc (new_alloc);
          memcpy (bigger, buf, size);
          explicit_bzero (buf, alloc);
          g_free (buf);
          buf = bigger;
          alloc = new_alloc;
        }
      n = read (fd, buf + size, alloc - size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          explicit_bzero (buf, alloc);
          g_free (buf);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       _("cannot read input: %s"), g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      size += (gsize) n;
      if (size > max_size)
        {
          explicit_bzero (buf, alloc);
          g_free (buf);
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("input is larger than %zu bytes"), (size_t) max_size);
          return NULL;
        }
    }
  return g_bytes_new_take (g_realloc (buf, MAX (size, 1)), size);
}

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */
/* ---------------------------------------------------------------------- */

int
anyd_client_exit_code_for_error (const GError *error)
{
  g_autofree char *name = NULL;
  static const struct {
    const char *name;
    int code;
  } map[] = {
    { ANYD_CLIENT_ERROR_PREFIX "InvalidArgument", ANYD_CLIENT_EXIT_USAGE },
    { DBUS_ERROR_PREFIX "InvalidArgs", ANYD_CLIENT_EXIT_USAGE },
    { ANYD_CLIENT_ERROR_PREFIX "NotAuthorized", ANYD_CLIENT_EXIT_NOT_AUTHORIZED },
    { ANYD_CLIENT_ERROR_PREFIX "NotAuthorizedCanObtain", ANYD_CLIENT_EXIT_NOT_AUTHORIZED },
    { ANYD_CLIENT_ERROR_PREFIX "AuthorizationDismissed", ANYD_CLIENT_EXIT_NOT_AUTHORIZED },
    { DBUS_ERROR_PREFIX "AccessDenied", ANYD_CLIENT_EXIT_NOT_AUTHORIZED },
    { DBUS_ERROR_PREFIX "InteractiveAuthorizationRequired", ANYD_CLIENT_EXIT_NOT_AUTHORIZED },
    { ANYD_CLIENT_ERROR_PREFIX "NotFound", ANYD_CLIENT_EXIT_NOT_FOUND },
    { DBUS_ERROR_PREFIX "UnknownObject", ANYD_CLIENT_EXIT_NOT_FOUND },
    { ANYD_CLIENT_ERROR_PREFIX "Exists", ANYD_CLIENT_EXIT_EXISTS },
    { ANYD_CLIENT_ERROR_PREFIX "Busy", ANYD_CLIENT_EXIT_EXISTS },
  };

  if (error->domain == G_OPTION_ERROR)
    return ANYD_CLIENT_EXIT_USAGE;
  name = anyd_client_error_name (error);
  if (name != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (map); i++)
      if (g_str_equal (name, map[i].name))
        return map[i].code;
  return ANYD_CLIENT_EXIT_FAILURE;
}

char *
anyd_client_error_name (const GError *error)
{
  char *name = g_dbus_error_get_remote_error (error);

  if (name != NULL)
    return name;
  /* raised by the client itself in anyd's domain */
  if (error->domain == ANYD_ERROR && anyd_error_dbus_name (error->code) != NULL)
    return g_strdup (anyd_error_dbus_name (error->code));
  if (error->domain == G_OPTION_ERROR)
    return g_strdup (ANYD_CLIENT_ERROR_PREFIX "InvalidArgument");
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return g_strdup (ANYD_CLIENT_ERROR_PREFIX "Timeout");
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    return g_strdup (ANYD_CLIENT_ERROR_PREFIX "NotSupported");
  return g_strdup (ANYD_CLIENT_ERROR_PREFIX "Failed");
}

static void
print_error (AnydClientContext *ctx, const char *name, const char *message)
{
  if (ctx->json)
    {
      GVariantBuilder b;

      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "error", g_variant_new_string (name));
      g_variant_builder_add (&b, "{sv}", "message", g_variant_new_string (message));
      fflush (stdout);
      anyd_client_print_json (g_variant_builder_end (&b));
    }
  else
    {
      fflush (stdout);
      g_printerr ("anyd-client: %s\n", message);
    }
}

int
anyd_client_fail (AnydClientContext *ctx, const GError *error)
{
  g_autoptr(GError) copy = g_error_copy (error);
  g_autofree char *name = anyd_client_error_name (error);
  g_autofree char *message = NULL;
  int code = anyd_client_exit_code_for_error (error);

  g_dbus_error_strip_remote_error (copy);

  if (g_str_equal (name, DBUS_ERROR_PREFIX "ServiceUnknown") ||
      g_str_equal (name, DBUS_ERROR_PREFIX "NameHasNoOwner"))
    message = g_strdup_printf (_("anyd is not running: %s is not on the system bus and cannot be activated"),
                               ANYD_CLIENT_BUS_NAME);
  else if (g_str_has_prefix (name, DBUS_ERROR_PREFIX "Spawn.") ||
           g_str_has_prefix (name, "org.freedesktop.systemd1.") ||
           g_str_equal (name, DBUS_ERROR_PREFIX "TimedOut"))
    /* activatable, but starting it failed (dbus-daemon's spawn or the
     * SystemdService= unit): say why, not "not running" */
    message = g_strdup_printf (_("anyd could not be started: %s"), copy->message);
  else if (g_str_equal (name, DBUS_ERROR_PREFIX "NoReply") ||
           g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    message = g_strdup_printf (_("anyd did not answer in time: %s"), copy->message);
  else if (g_str_equal (name, ANYD_CLIENT_ERROR_PREFIX "NotAuthorizedCanObtain"))
    {
      /* One line, with what the user can do about it. */
      if (!ctx->ask_password && strstr (copy->message, "interactive") == NULL)
        message = g_strdup_printf (_("%s; authentication is possible: run without --no-ask-password"),
                                   copy->message);
      else if (ctx->host != NULL)
        message = g_strdup_printf (_("%s; authentication is possible, but needs a polkit agent on %s"),
                                   copy->message, ctx->host);
      else if (!isatty (STDIN_FILENO))
        message = g_strdup_printf (_("%s; authentication is possible: run from a terminal or start a polkit agent"),
                                   copy->message);
    }

  print_error (ctx, name, message ? message : copy->message);
  return code;
}

int
anyd_client_usage_error (AnydClientContext *ctx, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);

  print_error (ctx, ANYD_CLIENT_ERROR_PREFIX "InvalidArgument", message);
  if (!ctx->json)
    g_printerr (_("Try '%s --help' for more information.\n"),
                ctx->command_line ? ctx->command_line : "anyd-client");
  return ANYD_CLIENT_EXIT_USAGE;
}

/* ---------------------------------------------------------------------- */
/* JSON                                                                   */
/* ---------------------------------------------------------------------- */

/* One key style everywhere: snake_case.  D-Bus property names and keys
 * (PascalCase: "LatestHandshake", "AllowedIPs", "MainPID") are converted;
 * keys that are data rather than field names (unit names, object paths,
 * action ids: anything with '.', '/', '-' or not starting upper case) stay
 * as they are. */
char *
anyd_client_json_key (const char *key)
{
  GString *out;
  gsize len = strlen (key);

  if (!g_ascii_isupper (key[0]))
    return g_strdup (key);
  for (const char *p = key; *p; p++)
    if (!g_ascii_isalnum (*p))
      return g_strdup (key);

  out = g_string_sized_new (len + 4);
  for (gsize i = 0; i < len; i++)
    {
      char c = key[i];

      if (g_ascii_isupper (c) && i > 0)
        {
          char prev = key[i - 1], next = key[i + 1];
          /* a word starts after a lower-case letter or digit ("RxBytes"), or
           * at the last capital of an acronym followed by a word
           * ("DNSServer"), but not before a plural "s" ("AllowedIPs") */
          gboolean acronym_end = g_ascii_isupper (prev) && g_ascii_islower (next) &&
                                 !(next == 's' && (key[i + 2] == '\0' || g_ascii_isupper (key[i + 2])));
          if (g_ascii_islower (prev) || g_ascii_isdigit (prev) || acronym_end)
            g_string_append_c (out, '_');
        }
      g_string_append_c (out, g_ascii_tolower (c));
    }
  return g_string_free (out, FALSE);
}

static JsonNode *variant_to_node (GVariant *value);

typedef struct {
  char *key;
  GVariant *value;
} JsonMember;

static int
compare_members (gconstpointer a, gconstpointer b)
{
  return strcmp (((const JsonMember *) a)->key, ((const JsonMember *) b)->key);
}

/* Dictionaries (and a lone dict entry) become objects with sorted keys, so
 * the output does not depend on the daemon's hash order. */
static JsonNode *
dict_to_node (GVariant *value)
{
  g_autoptr(GArray) members = g_array_new (FALSE, FALSE, sizeof (JsonMember));
  gboolean single = g_variant_is_of_type (value, G_VARIANT_TYPE_DICT_ENTRY);
  gsize n = single ? 1 : g_variant_n_children (value);
  JsonObject *object = json_object_new ();
  JsonNode *node;

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) entry = single ? g_variant_ref (value) : g_variant_get_child_value (value, i);
      g_autoptr(GVariant) key = g_variant_get_child_value (entry, 0);
      JsonMember m;

      if (g_variant_is_of_type (key, G_VARIANT_TYPE_STRING) ||
          g_variant_is_of_type (key, G_VARIANT_TYPE_OBJECT_PATH) ||
          g_variant_is_of_type (key, G_VARIANT_TYPE_SIGNATURE))
        m.key = anyd_client_json_key (g_variant_get_string (key, NULL));
      else
        m.key = g_variant_print (key, FALSE);
      m.value = g_variant_get_child_value (entry, 1);
      g_array_append_val (members, m);
    }
  g_array_sort (members, compare_members);
  for (guint i = 0; i < members->len; i++)
    {
      JsonMember *m = &g_array_index (members, JsonMember, i);
      json_object_set_member (object, m->key, variant_to_node (m->value));
      g_free (m->key);
      g_variant_unref (m->value);
    }
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, object);
  return node;
}

static JsonNode *
list_to_node (GVariant *value)
{
  JsonArray *array = json_array_new ();
  gsize n = g_variant_n_children (value);
  JsonNode *node;

  for (gsize i = 0; i < n; i++)
    {
      g_autoptr(GVariant) child = g_variant_get_child_value (value, i);
      json_array_add_element (array, variant_to_node (child));
    }
  node = json_node_new (JSON_NODE_ARRAY);
  json_node_take_array (node, array);
  return node;
}

static JsonNode *
variant_to_node (GVariant *value)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      json_node_set_boolean (node, g_variant_get_boolean (value));
      break;
    case G_VARIANT_CLASS_BYTE:
      json_node_set_int (node, g_variant_get_byte (value));
      break;
    case G_VARIANT_CLASS_INT16:
      json_node_set_int (node, g_variant_get_int16 (value));
      break;
    case G_VARIANT_CLASS_UINT16:
      json_node_set_int (node, g_variant_get_uint16 (value));
      break;
    case G_VARIANT_CLASS_INT32:
      json_node_set_int (node, g_variant_get_int32 (value));
      break;
    case G_VARIANT_CLASS_UINT32:
      /* (uid_t) -1 and friends mean "none": no sentinel numbers in JSON */
      if (g_variant_get_uint32 (value) == G_MAXUINT32)
        json_node_init_null (node);
      else
        json_node_set_int (node, g_variant_get_uint32 (value));
      break;
    case G_VARIANT_CLASS_INT64:
      json_node_set_int (node, g_variant_get_int64 (value));
      break;
    case G_VARIANT_CLASS_UINT64:
      {
        guint64 u = g_variant_get_uint64 (value);
        if (u == G_MAXUINT64)
          json_node_init_null (node);
        else if (u > G_MAXINT64)
          json_node_set_double (node, (double) u); /* JSON numbers beyond int64 */
        else
          json_node_set_int (node, (gint64) u);
      }
      break;
    case G_VARIANT_CLASS_HANDLE:
      json_node_set_int (node, g_variant_get_handle (value));
      break;
    case G_VARIANT_CLASS_DOUBLE:
      {
        double d = g_variant_get_double (value);
        if (isfinite (d))
          json_node_set_double (node, d);
        else
          json_node_init_null (node); /* JSON has no NaN or infinity */
      }
      break;
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      json_node_set_string (node, g_variant_get_string (value, NULL));
      break;
    case G_VARIANT_CLASS_VARIANT:
      {
        g_autoptr(GVariant) inner = g_variant_get_variant (value);
        json_node_unref (node);
        return variant_to_node (inner);
      }
    case G_VARIANT_CLASS_MAYBE:
      {
        g_autoptr(GVariant) inner = g_variant_get_maybe (value);
        if (inner == NULL)
          {
            json_node_init_null (node);
            break;
          }
        json_node_unref (node);
        return variant_to_node (inner);
      }
    case G_VARIANT_CLASS_ARRAY:
      {
        const GVariantType *elem = g_variant_type_element (g_variant_get_type (value));

        if (g_variant_type_equal (elem, G_VARIANT_TYPE_BYTE))
          {
            gsize len;
            const guchar *data = g_variant_get_fixed_array (value, &len, 1);
            g_autofree char *b64 = g_base64_encode (data, len);
            json_node_set_string (node, b64);
            break;
          }
        json_node_unref (node);
        if (g_variant_type_is_dict_entry (elem))
          return dict_to_node (value);
        return list_to_node (value);
      }
    case G_VARIANT_CLASS_DICT_ENTRY:
      json_node_unref (node);
      return dict_to_node (value);
    case G_VARIANT_CLASS_TUPLE:
      json_node_unref (node);
      return list_to_node (value);
    default:
      json_node_init_null (node);
    }
  return node;
}

char *
anyd_client_variant_to_json (GVariant *value, gboolean pretty)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = variant_to_node (value);
  char *text;

  json_generator_set_pretty (gen, pretty);
  json_generator_set_indent (gen, 2);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  /* json-glib 1.6 escapes control characters below 0x1f but emits 0x1f
   * raw, which JSON forbids; a raw 0x1f byte can only be inside a string. */
  if (strchr (text, 0x1f) != NULL)
    {
      GString *fixed = g_string_new (NULL);
      for (const char *p = text; *p; p++)
        if (*p == 0x1f)
          g_string_append (fixed, "\\u001f");
        else
          g_string_append_c (fixed, *p);
      g_free (text);
      text = g_string_free (fixed, FALSE);
    }
  return text;
}

void
anyd_client_print_json (GVariant *value)
{
  g_autoptr(GVariant) v = g_variant_ref_sink (value);
  g_autofree char *text = anyd_client_variant_to_json (v, isatty (STDOUT_FILENO));

  /* Not g_print(): that converts to the locale's charset; JSON is UTF-8. */
  fputs (text, stdout);
  fputc ('\n', stdout);
}

void
anyd_client_print_json_line (GVariant *value)
{
  g_autoptr(GVariant) v = g_variant_ref_sink (value);
  g_autofree char *text = anyd_client_variant_to_json (v, FALSE);

  fputs (text, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

/* ---------------------------------------------------------------------- */
/* Tables                                                                 */
/* ---------------------------------------------------------------------- */

struct _AnydClientTable {
  guint n_columns;
  GPtrArray *headers; /* as shown (translated); NULL for a plain table */
  GPtrArray *names;   /* as given (untranslated): the headers, or a plain
                         table's row labels; --fields matches these too */
  GPtrArray *rows;    /* of char ** (n_columns each) */
};

static void
free_row (gpointer row)
{
  g_strfreev (row);
}

AnydClientTable *
anyd_client_table_new (const char *first_header, ...)
{
  AnydClientTable *table = g_new0 (AnydClientTable, 1);
  va_list ap;

  table->headers = g_ptr_array_new_with_free_func (g_free);
  table->names = g_ptr_array_new_with_free_func (g_free);
  table->rows = g_ptr_array_new_with_free_func (free_row);
  va_start (ap, first_header);
  for (const char *h = first_header; h != NULL; h = va_arg (ap, const char *))
    {
      g_ptr_array_add (table->names, g_strdup (h));
      g_ptr_array_add (table->headers, g_strdup (g_dpgettext2 (NULL, "column", h)));
    }
  va_end (ap);
  table->n_columns = table->headers->len;
  return table;
}

AnydClientTable *
anyd_client_table_new_plain (guint n_columns)
{
  AnydClientTable *table = g_new0 (AnydClientTable, 1);

  table->n_columns = n_columns;
  table->names = g_ptr_array_new_with_free_func (g_free);
  table->rows = g_ptr_array_new_with_free_func (free_row);
  return table;
}

void
anyd_client_table_add_rowv (AnydClientTable *table, const char *const *cells)
{
  char **row = g_new0 (char *, table->n_columns + 1);

  for (guint i = 0; i < table->n_columns; i++)
    row[i] = g_utf8_make_valid (cells[i] ? cells[i] : "-", -1);
  if (table->headers == NULL && table->n_columns > 0)
    {
      /* a plain table's label: shown translated, matched either way
       * (gettext ("") would be the catalogue's header) */
      g_ptr_array_add (table->names, row[0]);
      row[0] = g_strdup (row[0][0] != '\0' ? _(row[0]) : row[0]);
    }
  g_ptr_array_add (table->rows, row);
}

void
anyd_client_table_add_row (AnydClientTable *table, ...)
{
  g_autofree const char **cells = g_new0 (const char *, table->n_columns + 1);
  va_list ap;

  va_start (ap, table);
  for (guint i = 0; i < table->n_columns; i++)
    cells[i] = va_arg (ap, const char *);
  va_end (ap);
  anyd_client_table_add_rowv (table, cells);
}

guint
anyd_client_table_get_n_rows (AnydClientTable *table)
{
  return table->rows->len;
}

/* How tables print, from the global options (anyd_client_output_init). */
static struct {
  char **fields;       /* --fields, or NULL: all columns */
  gboolean no_legend;  /* --no-legend: no header line */
  gboolean terse;      /* --terse: no header, no padding, ':'-separated */
  gboolean color;      /* --color, resolved */
  gboolean failed;     /* a table was not printed: unknown --fields name */
  gboolean untranslated; /* --terse or --json: values as is, for scripts */
  /* A command may print several tables (status: "Label:" rows, then
   * ACTION…): --fields names fields of any of them.  The fields of the
   * tables printed so far, as given and as shown: */
  GPtrArray *seen_names, *seen_shown;
  gboolean printed;    /* a table printed a line */
} style;

gboolean
anyd_client_output_failed (void)
{
  return style.failed;
}

void
anyd_client_output_init (AnydClientContext *ctx)
{
  const char *term = g_getenv ("TERM");

  g_clear_pointer (&style.fields, g_strfreev);
  g_clear_pointer (&style.seen_names, g_ptr_array_unref);
  g_clear_pointer (&style.seen_shown, g_ptr_array_unref);
  style.seen_names = g_ptr_array_new_with_free_func (g_free);
  style.seen_shown = g_ptr_array_new_with_free_func (g_free);
  style.printed = FALSE;
  if (ctx->fields != NULL)
    style.fields = g_strsplit (ctx->fields, ",", -1);
  style.no_legend = ctx->no_legend;
  style.terse = ctx->terse;
  style.untranslated = ctx->terse || ctx->json;
  if (ctx->color == ANYD_CLIENT_COLOR_AUTO)
    style.color = isatty (STDOUT_FILENO) && g_getenv ("NO_COLOR") == NULL &&
                  !(term != NULL && g_str_equal (term, "dumb")) && !ctx->terse;
  else
    style.color = ctx->color == ANYD_CLIENT_COLOR_ALWAYS;
}

/* "Latest handshake:" / "LATEST_HANDSHAKE" / "latest-handshake" -> "latest-handshake" */
static char *
field_key (const char *label)
{
  g_autofree char *down = g_utf8_strdown (label, -1);
  GString *out = g_string_new (NULL);

  g_strstrip (down);
  for (const char *p = down; *p; p++)
    {
      if (*p == ':' && p[1] == '\0')
        break;
      g_string_append_c (out, (*p == ' ' || *p == '_') ? '-' : *p);
    }
  return g_string_free (out, FALSE);
}

/* Colours only for words that carry a state; padding uses the plain width. */
static const char *
cell_color (const char *cell)
{
  static const struct { const char *word, *sgr; } words[] = {
    { "connected", "32" }, { "active", "32" }, { "running", "32" }, { "yes", "32" },
    { "connecting", "33" }, { "disconnecting", "33" }, { "activating", "33" },
    { "deactivating", "33" }, { "reloading", "33" },
    { "failed", "31" }, { "not-found", "31" }, { "error", "31" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (words); i++)
    if (g_str_equal (cell, words[i].word))
      return words[i].sgr;
  return NULL;
}

static void
append_cell (GString *out, const char *cell, const char *sgr)
{
  if (style.color && sgr != NULL)
    g_string_append_printf (out, "\033[%sm%s\033[0m", sgr, cell);
  else
    g_string_append (out, cell);
}

static void
print_row (GString *out, char **cells, const gsize *widths, const guint *cols, guint n,
           gboolean header)
{
  for (guint i = 0; i < n; i++)
    {
      const char *cell = cells[cols[i]];

      if (style.terse)
        {
          if (i > 0)
            g_string_append_c (out, ':');
          /* as nmcli -t: ':' and '\' in values are escaped */
          for (const char *p = cell; *p; p++)
            {
              if (*p == ':' || *p == '\\')
                g_string_append_c (out, '\\');
              g_string_append_c (out, *p);
            }
          continue;
        }
      append_cell (out, cell, header ? "1" : cell_color (cell));
      if (i + 1 < n)
        for (gsize pad = g_utf8_strlen (cell, -1); pad < widths[cols[i]] + 2; pad++)
          g_string_append_c (out, ' ');
    }
  g_string_append_c (out, '\n');
}

/* Does a --fields name mean the field called name (untranslated) and shown
 * as shown (translated)?  Either way, in any case: "COMMAND" works in every
 * language, and so does what the user sees. */
static gboolean
field_matches (const char *want, const char *name, const char *shown)
{
  g_autofree char *want_key = field_key (want);
  g_autofree char *name_key = field_key (name);
  g_autofree char *shown_key = field_key (shown);

  return g_str_equal (want_key, name_key) || g_str_equal (want_key, shown_key);
}

/* Was a --fields name a field of a table printed before? */
static gboolean
field_seen (const char *want)
{
  for (guint i = 0; style.seen_names != NULL && i < style.seen_names->len; i++)
    if (field_matches (want, style.seen_names->pdata[i], style.seen_shown->pdata[i]))
      return TRUE;
  return FALSE;
}

/* Remembers a printed table's fields (its columns, or its row labels). */
static void
remember_fields (AnydClientTable *table)
{
  if (style.fields == NULL || style.seen_names == NULL)
    return;
  for (guint i = 0; i < table->names->len; i++)
    {
      g_ptr_array_add (style.seen_names, g_strdup (table->names->pdata[i]));
      if (table->headers != NULL)
        g_ptr_array_add (style.seen_shown, g_strdup (table->headers->pdata[i]));
      else
        g_ptr_array_add (style.seen_shown, g_strdup (((char **) table->rows->pdata[i])[0]));
    }
}

/* --fields for a table with headers: the chosen columns, in the order given
 * (none: the table is not printed).  A name that is neither a column here
 * nor a field of a table printed before (status's "Label:" rows) is a
 * usage error: NULL, and main() exits with 2. */
static guint *
choose_columns (AnydClientTable *table, guint *n_out)
{
  guint *cols = g_new0 (guint, table->n_columns + (style.fields ? g_strv_length (style.fields) : 0) + 1);
  guint n = 0;

  if (style.fields == NULL || table->headers == NULL)
    {
      for (guint i = 0; i < table->n_columns; i++)
        cols[n++] = i;
      *n_out = n;
      return cols;
    }
  for (guint f = 0; style.fields[f] != NULL; f++)
    {
      gboolean found = FALSE;

      for (guint i = 0; i < table->n_columns && !found; i++)
        if (field_matches (style.fields[f], table->names->pdata[i], table->headers->pdata[i]))
          {
            cols[n++] = i;
            found = TRUE;
          }
      if (!found && !field_seen (style.fields[f]))
        {
          /* the names that work in every language */
          g_autoptr(GString) names = g_string_new (NULL);
          for (guint i = 0; style.seen_names != NULL && i < style.seen_names->len; i++)
            {
              g_autofree char *k = field_key (style.seen_names->pdata[i]);
              g_string_append_printf (names, "%s%s", names->len ? "," : "", k);
            }
          for (guint i = 0; i < table->n_columns; i++)
            {
              g_autofree char *k = field_key (table->names->pdata[i]);
              g_string_append_printf (names, "%s%s", names->len ? "," : "", k);
            }
          fflush (stdout);
          g_printerr (_("anyd-client: unknown field '%s' (fields: %s)\n"), style.fields[f], names->str);
          style.failed = TRUE;
          g_free (cols);
          return NULL;
        }
    }
  *n_out = n;
  return cols;
}

/* A plain "Label:  value" table: --fields picks rows by label. */
static gboolean
row_wanted (AnydClientTable *table, guint r)
{
  char **row = table->rows->pdata[r];

  if (style.fields == NULL)
    return TRUE;
  for (guint f = 0; style.fields[f] != NULL; f++)
    if (field_matches (style.fields[f], table->names->pdata[r], row[0]))
      return TRUE;
  return FALSE;
}

static void
table_print (AnydClientTable *table, gboolean separate)
{
  g_autofree gsize *widths = g_new0 (gsize, table->n_columns + 1);
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree guint *cols = NULL;
  guint n_cols = 0;

  cols = choose_columns (table, &n_cols);
  if (cols == NULL)
    return;
  remember_fields (table);
  if (n_cols == 0)
    return; /* --fields chose none of its columns */
  if (table->headers != NULL)
    for (guint i = 0; i < table->n_columns; i++)
      widths[i] = g_utf8_strlen (table->headers->pdata[i], -1);
  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = table->rows->pdata[r];
      if (table->headers == NULL && !row_wanted (table, r))
        continue;
      for (guint i = 0; i < table->n_columns; i++)
        widths[i] = MAX (widths[i], (gsize) g_utf8_strlen (row[i], -1));
    }

  if (table->headers != NULL && !style.no_legend && !style.terse)
    print_row (out, (char **) table->headers->pdata, widths, cols, n_cols, TRUE);
  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = table->rows->pdata[r];

      if (table->headers == NULL && !row_wanted (table, r))
        continue;
      if (table->headers == NULL && style.terse)
        {
          /* "label:value", the label as --fields names it in every
           * language, so scripts need not care about the locale */
          g_autofree char *key = field_key (table->names->pdata[r]);
          char *cells[3] = { key, row[1], NULL };
          guint two[2] = { 0, 1 };
          print_row (out, table->n_columns >= 2 ? cells : row, widths, two, MIN (table->n_columns, 2), FALSE);
          continue;
        }
      print_row (out, row, widths, cols, n_cols, FALSE);
    }
  if (out->len == 0)
    return;
  if (separate && style.printed && !style.terse)
    fputc ('\n', stdout);
  style.printed = TRUE;
  fputs (out->str, stdout); /* UTF-8 as is, like the JSON */
}

void
anyd_client_table_print (AnydClientTable *table)
{
  table_print (table, FALSE);
}

void
anyd_client_table_print_next (AnydClientTable *table)
{
  table_print (table, TRUE);
}

void
anyd_client_table_free (AnydClientTable *table)
{
  if (table == NULL)
    return;
  if (table->headers != NULL)
    g_ptr_array_unref (table->headers);
  g_ptr_array_unref (table->names);
  g_ptr_array_unref (table->rows);
  g_free (table);
}

/* ---------------------------------------------------------------------- */
/* Formatting                                                             */
/* ---------------------------------------------------------------------- */

const char *
anyd_client_value_word (const char *word)
{
  return style.untranslated ? word : _(word);
}

char *
anyd_client_format_value (GVariant *value)
{
  switch (g_variant_classify (value))
    {
    case G_VARIANT_CLASS_BOOLEAN:
      return g_strdup (anyd_client_value_word (g_variant_get_boolean (value) ? N_("yes") : N_("no")));
    case G_VARIANT_CLASS_STRING:
    case G_VARIANT_CLASS_OBJECT_PATH:
    case G_VARIANT_CLASS_SIGNATURE:
      return g_variant_dup_string (value, NULL);
    case G_VARIANT_CLASS_VARIANT:
      {
        g_autoptr(GVariant) inner = g_variant_get_variant (value);
        return anyd_client_format_value (inner);
      }
    case G_VARIANT_CLASS_ARRAY:
      {
        const GVariantType *elem = g_variant_type_element (g_variant_get_type (value));
        gsize n = g_variant_n_children (value);
        GString *out;

        if (g_variant_type_equal (elem, G_VARIANT_TYPE_BYTE) ||
            g_variant_type_is_dict_entry (elem) ||
            g_variant_type_is_container (elem))
          return anyd_client_variant_to_json (value, FALSE);
        if (n == 0)
          return g_strdup ("-");
        out = g_string_new (NULL);
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr(GVariant) child = g_variant_get_child_value (value, i);
            g_autofree char *text = anyd_client_format_value (child);
            if (i > 0)
              g_string_append (out, ", ");
            g_string_append (out, text);
          }
        return g_string_free (out, FALSE);
      }
    case G_VARIANT_CLASS_MAYBE:
    case G_VARIANT_CLASS_TUPLE:
    case G_VARIANT_CLASS_DICT_ENTRY:
    case G_VARIANT_CLASS_DOUBLE:
      return anyd_client_variant_to_json (value, FALSE);
    default:
      return g_variant_print (value, FALSE);
    }
}

char *
anyd_client_format_timestamp (guint64 usec)
{
  g_autoptr(GDateTime) dt = NULL;

  if (usec == 0)
    return g_strdup (anyd_client_value_word (N_("never")));
  dt = g_date_time_new_from_unix_local ((gint64) (usec / G_USEC_PER_SEC));
  if (dt == NULL)
    return g_strdup_printf ("%" G_GUINT64_FORMAT, usec);
  return g_date_time_format (dt, "%Y-%m-%d %H:%M:%S %Z");
}

char *
anyd_client_format_bytes (guint64 bytes)
{
  /* g_format_size() is translated and uses the locale's decimal mark */
  if (style.untranslated)
    return g_strdup_printf ("%" G_GUINT64_FORMAT, bytes);
  return g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
}
