/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AnydClient: the system bus connection, an object manager client for
 * /org/anyd1, the Manager proxy, ALLOW_INTERACTIVE_AUTHORIZATION on calls,
 * and the ANYD_ERROR domain registered on this side of the bus. */
#include "anyd-client.h"
#include "anyd-error.h"

/**
 * AnydClient:
 *
 * The way into anyd: connects to the system bus, loads the objects anyd
 * exports (an #AnydObjectManagerClient, so #AnydTunDevice,
 * #AnydVpnConnection… come and go with signals) and registers the
 * #AnydError domain, so errors of anyd arrive as `ANYD_ERROR` with a code.
 *
 * Method calls to `org.anyd1.*` interfaces made on the client's connection
 * carry the ALLOW_INTERACTIVE_AUTHORIZATION flag, so polkit may ask the
 * user for a password through the desktop's agent; turn it off with
 * #AnydClient:allow-interactive-authorization.  The proxies have no call
 * timeout, since a call can wait for that password dialog.
 */
struct _AnydClient {
  GObject parent_instance;

  GDBusConnection *connection;
  GDBusObjectManager *object_manager;
  AnydManager *manager;
  struct FilterState *filter;
  gboolean initialized;
};

enum {
  PROP_0,
  PROP_CONNECTION,
  PROP_OBJECT_MANAGER,
  PROP_MANAGER,
  PROP_ALLOW_INTERACTIVE_AUTHORIZATION,
  N_PROPS
};
static GParamSpec *props[N_PROPS];

static void anyd_client_initable_iface_init (GInitableIface *iface);
static void anyd_client_async_initable_iface_init (GAsyncInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (AnydClient, anyd_client, G_TYPE_OBJECT,
  G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE, anyd_client_initable_iface_init)
  G_IMPLEMENT_INTERFACE (G_TYPE_ASYNC_INITABLE, anyd_client_async_initable_iface_init))

/* ---- the interactive flag ------------------------------------------------
 * Generated proxies call with G_DBUS_CALL_FLAGS_NONE and GDBusProxy has no
 * per-proxy call flags, so an outgoing-message filter adds the flag.  It
 * belongs to the connection (one filter each), so clients sharing a
 * connection share the setting.  The state lives as long as the connection. */

struct FilterState {
  gint allow_interactive; /* atomic: the filter runs in GDBus's worker thread */
};

static GMutex filter_lock;

static GDBusMessage *
interactive_filter (GDBusConnection *connection, GDBusMessage *message,
                    gboolean incoming, gpointer user_data)
{
  struct FilterState *state = user_data;
  GDBusMessageFlags flags;
  const char *iface;
  GDBusMessage *copy;

  if (incoming || g_dbus_message_get_message_type (message) != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
    return message;
  if (!g_atomic_int_get (&state->allow_interactive))
    return message;
  iface = g_dbus_message_get_interface (message);
  if (iface == NULL || !g_str_has_prefix (iface, ANYD_BUS_NAME "."))
    return message;
  flags = g_dbus_message_get_flags (message);
  if (flags & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
    return message;

  /* Outgoing messages are locked: change a copy (it keeps the serial). */
  copy = g_dbus_message_copy (message, NULL);
  if (copy == NULL)
    return message;
  g_dbus_message_set_flags (copy, flags | G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION);
  g_object_unref (message);
  return copy;
}

static struct FilterState *
filter_state_for_connection (GDBusConnection *connection)
{
  struct FilterState *state;

  g_mutex_lock (&filter_lock);
  state = g_object_get_data (G_OBJECT (connection), "anyd-client-filter");
  if (state == NULL)
    {
      state = g_new0 (struct FilterState, 1);
      state->allow_interactive = TRUE;
      g_object_set_data_full (G_OBJECT (connection), "anyd-client-filter", state, g_free);
      g_dbus_connection_add_filter (connection, interactive_filter, state, NULL);
    }
  g_mutex_unlock (&filter_lock);
  return state;
}

/* ---- object lifecycle ----------------------------------------------------- */

static void
no_timeout (GDBusInterface *interface)
{
  if (G_IS_DBUS_PROXY (interface))
    g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (interface), G_MAXINT);
}

static void
on_interface_added (GDBusObjectManager *manager, GDBusObject *object,
                    GDBusInterface *interface, gpointer user_data)
{
  no_timeout (interface);
}

static void
on_object_added (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  GList *interfaces = g_dbus_object_get_interfaces (object);

  for (GList *l = interfaces; l != NULL; l = l->next)
    no_timeout (l->data);
  g_list_free_full (interfaces, g_object_unref);
}

static gboolean
anyd_client_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  AnydClient *self = ANYD_CLIENT (initable);
  GList *objects;

  if (self->initialized)
    return TRUE;

  /* Registers org.anyd1.Error.* with GDBus before any reply can arrive. */
  (void) anyd_error_quark ();

  if (self->connection == NULL)
    {
      self->connection = g_bus_get_sync (G_BUS_TYPE_SYSTEM, cancellable, error);
      if (self->connection == NULL)
        return FALSE;
    }
  self->filter = filter_state_for_connection (self->connection);

  self->object_manager = anyd_object_manager_client_new_sync (self->connection,
                                                              G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                              ANYD_BUS_NAME, ANYD_OBJECT_PATH,
                                                              cancellable, error);
  if (self->object_manager == NULL)
    return FALSE;
  g_signal_connect (self->object_manager, "object-added", G_CALLBACK (on_object_added), NULL);
  g_signal_connect (self->object_manager, "interface-added", G_CALLBACK (on_interface_added), NULL);
  objects = g_dbus_object_manager_get_objects (self->object_manager);
  for (GList *l = objects; l != NULL; l = l->next)
    on_object_added (self->object_manager, l->data, NULL);
  g_list_free_full (objects, g_object_unref);

  self->manager = anyd_manager_proxy_new_sync (self->connection, G_DBUS_PROXY_FLAGS_NONE,
                                               ANYD_BUS_NAME, ANYD_OBJECT_PATH,
                                               cancellable, error);
  if (self->manager == NULL)
    return FALSE;
  no_timeout (G_DBUS_INTERFACE (self->manager));

  self->initialized = TRUE;
  return TRUE;
}

static void
anyd_client_initable_iface_init (GInitableIface *iface)
{
  iface->init = anyd_client_initable_init;
}

static void
anyd_client_async_initable_iface_init (GAsyncInitableIface *iface)
{
  /* the default implementation runs GInitable's init in a thread */
}

static void
anyd_client_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  AnydClient *self = ANYD_CLIENT (object);

  switch (prop_id)
    {
    case PROP_CONNECTION:
      g_value_set_object (value, self->connection);
      break;
    case PROP_OBJECT_MANAGER:
      g_value_set_object (value, self->object_manager);
      break;
    case PROP_MANAGER:
      g_value_set_object (value, self->manager);
      break;
    case PROP_ALLOW_INTERACTIVE_AUTHORIZATION:
      g_value_set_boolean (value, anyd_client_get_allow_interactive_authorization (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
anyd_client_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  AnydClient *self = ANYD_CLIENT (object);

  switch (prop_id)
    {
    case PROP_CONNECTION:
      self->connection = g_value_dup_object (value);
      break;
    case PROP_ALLOW_INTERACTIVE_AUTHORIZATION:
      anyd_client_set_allow_interactive_authorization (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
anyd_client_dispose (GObject *object)
{
  AnydClient *self = ANYD_CLIENT (object);

  if (self->object_manager != NULL)
    g_signal_handlers_disconnect_by_data (self->object_manager, NULL);
  g_clear_object (&self->manager);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->connection);
  self->filter = NULL;
  G_OBJECT_CLASS (anyd_client_parent_class)->dispose (object);
}

static void
anyd_client_class_init (AnydClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = anyd_client_get_property;
  object_class->set_property = anyd_client_set_property;
  object_class->dispose = anyd_client_dispose;

  /**
   * AnydClient:connection:
   *
   * The bus connection; %NULL at construction means the system bus.
   */
  props[PROP_CONNECTION] =
    g_param_spec_object ("connection", NULL, NULL, G_TYPE_DBUS_CONNECTION,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * AnydClient:object-manager:
   *
   * The #GDBusObjectManager (an #AnydObjectManagerClient) of /org/anyd1.
   */
  props[PROP_OBJECT_MANAGER] =
    g_param_spec_object ("object-manager", NULL, NULL, G_TYPE_DBUS_OBJECT_MANAGER,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * AnydClient:manager:
   *
   * The #AnydManager proxy of /org/anyd1.
   */
  props[PROP_MANAGER] =
    g_param_spec_object ("manager", NULL, NULL, ANYD_TYPE_MANAGER,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /**
   * AnydClient:allow-interactive-authorization:
   *
   * Whether calls to anyd carry ALLOW_INTERACTIVE_AUTHORIZATION, so that
   * polkit may ask for a password.  %TRUE by default.  The setting belongs
   * to the connection: clients on one connection share it.
   */
  props[PROP_ALLOW_INTERACTIVE_AUTHORIZATION] =
    g_param_spec_boolean ("allow-interactive-authorization", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  (void) anyd_error_quark ();
}

static void
anyd_client_init (AnydClient *self)
{
}

/* ---- constructors ------------------------------------------------------------ */

/**
 * anyd_client_new:
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the client is ready
 * @user_data: data for @callback
 *
 * Connects to anyd on the system bus without blocking; finish with
 * anyd_client_new_finish().
 */
void
anyd_client_new (GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_async_initable_new_async (ANYD_TYPE_CLIENT, G_PRIORITY_DEFAULT, cancellable,
                              callback, user_data, NULL);
}

/**
 * anyd_client_new_finish:
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the client, or %NULL with @error set
 */
AnydClient *
anyd_client_new_finish (GAsyncResult *result, GError **error)
{
  g_autoptr(GObject) source = g_async_result_get_source_object (result);
  GObject *object = g_async_initable_new_finish (G_ASYNC_INITABLE (source), result, error);

  return object != NULL ? ANYD_CLIENT (object) : NULL;
}

/**
 * anyd_client_new_sync:
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Connects to anyd on the system bus (starting it by D-Bus activation if
 * needed) and loads its objects.
 *
 * Returns: (transfer full): the client, or %NULL with @error set
 */
AnydClient *
anyd_client_new_sync (GCancellable *cancellable, GError **error)
{
  return g_initable_new (ANYD_TYPE_CLIENT, cancellable, error, NULL);
}

/**
 * anyd_client_new_for_connection_sync:
 * @connection: a #GDBusConnection to a bus where anyd runs
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * As anyd_client_new_sync(), on another connection (a private bus,
 * a remote system bus).
 *
 * Returns: (transfer full): the client, or %NULL with @error set
 */
AnydClient *
anyd_client_new_for_connection_sync (GDBusConnection *connection, GCancellable *cancellable,
                                     GError **error)
{
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  return g_initable_new (ANYD_TYPE_CLIENT, cancellable, error, "connection", connection, NULL);
}

/* ---- accessors --------------------------------------------------------------- */

/**
 * anyd_client_get_connection:
 * @client: an #AnydClient
 *
 * Returns: (transfer none): the bus connection
 */
GDBusConnection *
anyd_client_get_connection (AnydClient *client)
{
  g_return_val_if_fail (ANYD_IS_CLIENT (client), NULL);
  return client->connection;
}

/**
 * anyd_client_get_object_manager:
 * @client: an #AnydClient
 *
 * Returns: (transfer none): the object manager client of /org/anyd1
 */
GDBusObjectManager *
anyd_client_get_object_manager (AnydClient *client)
{
  g_return_val_if_fail (ANYD_IS_CLIENT (client), NULL);
  return client->object_manager;
}

/**
 * anyd_client_get_manager:
 * @client: an #AnydClient
 *
 * Returns: (transfer none): the org.anyd1.Manager proxy of /org/anyd1
 */
AnydManager *
anyd_client_get_manager (AnydClient *client)
{
  g_return_val_if_fail (ANYD_IS_CLIENT (client), NULL);
  return client->manager;
}

/**
 * anyd_client_get_allow_interactive_authorization:
 * @client: an #AnydClient
 *
 * Returns: whether calls may ask for a password
 */
gboolean
anyd_client_get_allow_interactive_authorization (AnydClient *client)
{
  g_return_val_if_fail (ANYD_IS_CLIENT (client), FALSE);
  /* before init there is no connection yet: the default */
  return client->filter == NULL || g_atomic_int_get (&client->filter->allow_interactive);
}

/**
 * anyd_client_set_allow_interactive_authorization:
 * @client: an initialised #AnydClient
 * @allow: whether calls may ask for a password
 *
 * With %FALSE, a call that polkit would allow after authentication fails
 * with %ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN instead of asking.
 */
void
anyd_client_set_allow_interactive_authorization (AnydClient *client, gboolean allow)
{
  g_return_if_fail (ANYD_IS_CLIENT (client));
  g_return_if_fail (client->filter != NULL);

  allow = !!allow;
  if (g_atomic_int_get (&client->filter->allow_interactive) == allow)
    return;
  g_atomic_int_set (&client->filter->allow_interactive, allow);
  g_object_notify_by_pspec (G_OBJECT (client), props[PROP_ALLOW_INTERACTIVE_AUTHORIZATION]);
}

/**
 * anyd_client_has_module:
 * @client: an #AnydClient
 * @module: a module name: "tun", "vpn", "vault", "services"…
 *
 * Returns: whether anyd has @module enabled (Manager's `Modules`)
 */
gboolean
anyd_client_has_module (AnydClient *client, const char *module)
{
  const char *const *modules;

  g_return_val_if_fail (ANYD_IS_CLIENT (client), FALSE);
  g_return_val_if_fail (module != NULL, FALSE);
  modules = anyd_manager_get_modules (client->manager);
  return modules != NULL && g_strv_contains (modules, module);
}

/**
 * anyd_client_get_object:
 * @client: an #AnydClient
 * @object_path: an object path under /org/anyd1
 *
 * Returns: (transfer full) (nullable): the object, or %NULL if anyd does
 *   not export it
 */
AnydObject *
anyd_client_get_object (AnydClient *client, const char *object_path)
{
  GDBusObject *object;

  g_return_val_if_fail (ANYD_IS_CLIENT (client), NULL);
  g_return_val_if_fail (object_path != NULL, NULL);
  object = g_dbus_object_manager_get_object (client->object_manager, object_path);
  return object != NULL ? ANYD_OBJECT (object) : NULL;
}

/**
 * anyd_client_get_module:
 * @client: an #AnydClient
 * @module: a module name: "tun", "vpn", "vault", "services"…
 *
 * The root object of a module, /org/anyd1/@module; its interface is one of
 * the object's properties (anyd_object_get_tun() and so on), so modules
 * added later need nothing new here.
 *
 * Returns: (transfer full) (nullable): the object, or %NULL if the module
 *   is not enabled
 */
AnydObject *
anyd_client_get_module (AnydClient *client, const char *module)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (ANYD_IS_CLIENT (client), NULL);
  g_return_val_if_fail (module != NULL, NULL);
  path = g_strconcat (ANYD_OBJECT_PATH "/", module, NULL);
  if (!g_variant_is_object_path (path))
    return NULL;
  return anyd_client_get_object (client, path);
}

#define MODULE_GETTER(Type, name)                                      \
  Type *                                                               \
  anyd_client_get_##name (AnydClient *client)                          \
  {                                                                    \
    g_autoptr(AnydObject) object = anyd_client_get_module (client, #name); \
    return object != NULL ? anyd_object_get_##name (object) : NULL;    \
  }

/**
 * anyd_client_get_tun:
 * @client: an #AnydClient
 *
 * Returns: (transfer full) (nullable): the org.anyd1.Tun proxy, or %NULL if
 *   the module is not enabled
 */
MODULE_GETTER (AnydTun, tun)

/**
 * anyd_client_get_vpn:
 * @client: an #AnydClient
 *
 * Returns: (transfer full) (nullable): the org.anyd1.Vpn proxy, or %NULL if
 *   the module is not enabled
 */
MODULE_GETTER (AnydVpn, vpn)

/**
 * anyd_client_get_vault:
 * @client: an #AnydClient
 *
 * Returns: (transfer full) (nullable): the org.anyd1.Vault proxy, or %NULL if
 *   the module is not enabled
 */
MODULE_GETTER (AnydVault, vault)

/**
 * anyd_client_get_services:
 * @client: an #AnydClient
 *
 * Returns: (transfer full) (nullable): the org.anyd1.Services proxy, or %NULL
 *   if the module is not enabled
 */
MODULE_GETTER (AnydServices, services)

/**
 * anyd_client_get_exec:
 * @client: an #AnydClient
 *
 * Returns: (transfer full) (nullable): the org.anyd1.Exec proxy, or %NULL if
 *   the module is not enabled
 */
MODULE_GETTER (AnydExec, exec)

/* The object anyd names @name below @parent ("…/" with the slash) */
static AnydObject *
get_named_object (AnydClient *client, const char *parent, const char *name)
{
  g_autofree char *element = anyd_escape_path_element (name);
  g_autofree char *path = g_strconcat (parent, element, NULL);

  return anyd_client_get_object (client, path);
}

/**
 * anyd_client_get_tun_device:
 * @client: an #AnydClient
 * @name: a device name, e.g. "anyd0"
 *
 * Returns: (transfer full) (nullable): the device, or %NULL if anyd has no
 *   device of that name
 */
AnydTunDevice *
anyd_client_get_tun_device (AnydClient *client, const char *name)
{
  g_autoptr(AnydObject) object = get_named_object (client, ANYD_OBJECT_PATH "/tun/", name);

  return object != NULL ? anyd_object_get_tun_device (object) : NULL;
}

/**
 * anyd_client_get_vpn_profile:
 * @client: an #AnydClient
 * @name: a profile name
 *
 * Returns: (transfer full) (nullable): the profile, or %NULL if there is no
 *   profile of that name
 */
AnydVpnProfile *
anyd_client_get_vpn_profile (AnydClient *client, const char *name)
{
  g_autoptr(AnydObject) object = get_named_object (client, ANYD_OBJECT_PATH "/vpn/profiles/",
                                                   name);

  return object != NULL ? anyd_object_get_vpn_profile (object) : NULL;
}

/* ---- names and errors ---------------------------------------------------------- */

/**
 * anyd_escape_path_element:
 * @name: a device, profile or other name
 *
 * The last element of the object path anyd gives a name: ASCII letters and
 * digits stay, every other byte becomes `_xx` (hex), "" becomes "_".
 *
 * Returns: (transfer full): the path element
 */
char *
anyd_escape_path_element (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);
  /* the daemon names its objects with the same function */
  return g_dbus_escape_object_path (name);
}

/**
 * anyd_unescape_path_element:
 * @element: the last element of an object path of anyd
 *
 * Undoes anyd_escape_path_element().
 *
 * Returns: (transfer full) (nullable): the name, or %NULL if @element is
 *   not an escaped name
 */
char *
anyd_unescape_path_element (const char *element)
{
  g_return_val_if_fail (element != NULL, NULL);
  return (char *) g_dbus_unescape_object_path (element);
}

/**
 * anyd_error_get_message:
 * @error: an error of a call to anyd
 *
 * The message of @error without GDBus's "GDBus.Error:<name>: " prefix, for
 * languages whose bindings hand out copies of errors (PyGObject, GJS), so
 * that g_dbus_error_strip_remote_error() cannot reach the original.
 *
 * Returns: (transfer full): the message to show
 */
char *
anyd_error_get_message (const GError *error)
{
  g_autoptr(GError) copy = NULL;

  g_return_val_if_fail (error != NULL, NULL);
  copy = g_error_copy (error);
  g_dbus_error_strip_remote_error (copy);
  return g_strdup (copy->message);
}

/**
 * anyd_error_from_dbus: (skip)
 * @error: (inout) (optional) (nullable): an error from a call to anyd
 *
 * Makes an error of a call readable and typed: strips GDBus's
 * "GDBus.Error:org.anyd1.Error.NotFound: " prefix, and maps the bus's own
 * errors into #AnydError (AccessDenied → %ANYD_ERROR_NOT_AUTHORIZED,
 * UnknownObject → %ANYD_ERROR_NOT_FOUND, InvalidArgs →
 * %ANYD_ERROR_INVALID_ARGUMENT, NoReply → %ANYD_ERROR_TIMEOUT, the rest →
 * %ANYD_ERROR_FAILED).  Cancellation and local errors stay as they are.
 *
 * Returns: %TRUE if *@error is now in the %ANYD_ERROR domain
 */
gboolean
anyd_error_from_dbus (GError **error)
{
  GError *e;
  AnydError code;

  if (error == NULL || *error == NULL)
    return FALSE;
  e = *error;
  (void) anyd_error_quark ();

  if (e->domain == ANYD_ERROR)
    {
      g_dbus_error_strip_remote_error (e);
      return TRUE;
    }
  if (g_error_matches (e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    code = ANYD_ERROR_TIMEOUT;
  else if (e->domain == G_DBUS_ERROR)
    switch (e->code)
      {
      case G_DBUS_ERROR_ACCESS_DENIED:
      case G_DBUS_ERROR_AUTH_FAILED:
        code = ANYD_ERROR_NOT_AUTHORIZED;
        break;
      case G_DBUS_ERROR_UNKNOWN_OBJECT:
      case G_DBUS_ERROR_UNKNOWN_INTERFACE:
      case G_DBUS_ERROR_UNKNOWN_PROPERTY:
        code = ANYD_ERROR_NOT_FOUND;
        break;
      case G_DBUS_ERROR_UNKNOWN_METHOD:
        code = ANYD_ERROR_NOT_SUPPORTED;
        break;
      case G_DBUS_ERROR_INVALID_ARGS:
      case G_DBUS_ERROR_INVALID_SIGNATURE:
        code = ANYD_ERROR_INVALID_ARGUMENT;
        break;
      case G_DBUS_ERROR_NO_REPLY:
      case G_DBUS_ERROR_TIMEOUT:
      case G_DBUS_ERROR_TIMED_OUT:
        code = ANYD_ERROR_TIMEOUT;
        break;
      case G_DBUS_ERROR_LIMITS_EXCEEDED:
        code = ANYD_ERROR_BUSY;
        break;
      default:
        code = ANYD_ERROR_FAILED;
      }
  else if (g_dbus_error_is_remote_error (e))
    {
      /* GLib 2.74 has no code for this one */
      g_autofree char *name = g_dbus_error_get_remote_error (e);
      if (g_strcmp0 (name, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") == 0)
        code = ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN;
      else
        code = ANYD_ERROR_FAILED; /* a D-Bus error nobody registered */
    }
  else
    return FALSE;

  g_dbus_error_strip_remote_error (e);
  e->domain = ANYD_ERROR;
  e->code = code;
  return TRUE;
}
