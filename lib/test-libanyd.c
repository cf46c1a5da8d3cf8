/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libanyd without the daemon: the error mapping both ways, the enums'
 * string round-trips, path escaping, the options builder, and that calls
 * carry ALLOW_INTERACTIVE_AUTHORIZATION exactly while the client says so
 * (against a fake org.anyd1 on a private bus of GTestDBus). */
#include "anyd.h"

#include <fcntl.h>
#include <unistd.h>
#include <gio/gunixfdlist.h>

static void
test_error_names (void)
{
  for (int code = 0; code < ANYD_ERROR_N_ERRORS; code++)
    {
      const char *name = anyd_error_dbus_name (code);
      g_autoptr(GError) remote = NULL;
      g_autoptr(GError) local = g_error_new_literal (ANYD_ERROR, code, "a message");
      g_autofree char *encoded = NULL;

      g_assert_nonnull (name);
      g_assert_true (g_str_has_prefix (name, "org.anyd1.Error."));
      /* what a reply carries turns into the domain and code again */
      encoded = g_dbus_error_encode_gerror (local);
      g_assert_cmpstr (encoded, ==, name);
      remote = g_dbus_error_new_for_dbus_error (name, "what went wrong");
      g_assert_error (remote, ANYD_ERROR, code);
      g_assert_true (anyd_error_from_dbus (&remote));
      g_assert_error (remote, ANYD_ERROR, code);
      g_assert_cmpstr (remote->message, ==, "what went wrong");
    }
  g_assert_null (anyd_error_dbus_name (ANYD_ERROR_N_ERRORS));
  g_assert_cmpstr (anyd_error_dbus_name (ANYD_ERROR_NOT_AUTHORIZED), ==, "org.anyd1.Error.NotAuthorized");
  g_assert_cmpstr (anyd_error_dbus_name (ANYD_ERROR_DISABLED), ==, "org.anyd1.Error.Disabled");
}

static void
test_error_foreign (void)
{
  static const struct {
    const char *name;
    AnydError code;
  } cases[] = {
    { "org.freedesktop.DBus.Error.AccessDenied", ANYD_ERROR_NOT_AUTHORIZED },
    { "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN },
    { "org.freedesktop.DBus.Error.UnknownObject", ANYD_ERROR_NOT_FOUND },
    { "org.freedesktop.DBus.Error.UnknownInterface", ANYD_ERROR_NOT_FOUND },
    { "org.freedesktop.DBus.Error.UnknownMethod", ANYD_ERROR_NOT_SUPPORTED },
    { "org.freedesktop.DBus.Error.InvalidArgs", ANYD_ERROR_INVALID_ARGUMENT },
    { "org.freedesktop.DBus.Error.NoReply", ANYD_ERROR_TIMEOUT },
    { "org.freedesktop.DBus.Error.ServiceUnknown", ANYD_ERROR_FAILED },
    { "com.example.Unregistered", ANYD_ERROR_FAILED },
  };
  g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop");
  g_autoptr(GError) timed_out = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "late");
  GError *none = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) e = g_dbus_error_new_for_dbus_error (cases[i].name, "text");
      g_assert_true (anyd_error_from_dbus (&e));
      g_assert_error (e, ANYD_ERROR, (int) cases[i].code);
      g_assert_cmpstr (e->message, ==, "text");
    }
  /* cancellation stays what it is; a local timeout becomes Timeout */
  g_assert_false (anyd_error_from_dbus (&cancelled));
  g_assert_error (cancelled, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (anyd_error_from_dbus (&timed_out));
  g_assert_error (timed_out, ANYD_ERROR, ANYD_ERROR_TIMEOUT);
  g_assert_false (anyd_error_from_dbus (&none));
  g_assert_false (anyd_error_from_dbus (NULL));
}

static void
test_enums (void)
{
  static const char *const states[] = { "disconnected", "connecting", "connected",
                                        "disconnecting", "failed" };
  static const char *const reasons[] = { "exited", "killed", "timeout", "oom", "hangup", "stopped" };

  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      AnydVpnState s = anyd_vpn_state_from_string (states[i]);
      g_assert_cmpint (s, !=, ANYD_VPN_STATE_UNKNOWN);
      g_assert_cmpstr (anyd_vpn_state_to_string (s), ==, states[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    {
      AnydExecReason r = anyd_exec_reason_from_string (reasons[i]);
      g_assert_cmpint (r, !=, ANYD_EXEC_REASON_UNKNOWN);
      g_assert_cmpstr (anyd_exec_reason_to_string (r), ==, reasons[i]);
    }
  g_assert_cmpint (anyd_vpn_state_from_string ("connected"), ==, ANYD_VPN_STATE_CONNECTED);
  g_assert_cmpint (anyd_vpn_state_from_string ("Connected"), ==, ANYD_VPN_STATE_UNKNOWN);
  g_assert_cmpint (anyd_vpn_state_from_string (NULL), ==, ANYD_VPN_STATE_UNKNOWN);
  g_assert_cmpint (anyd_exec_reason_from_string (""), ==, ANYD_EXEC_REASON_UNKNOWN);
  g_assert_cmpstr (anyd_vpn_state_to_string (99), ==, "unknown");
  g_assert_cmpstr (anyd_exec_reason_to_string (ANYD_EXEC_REASON_UNKNOWN), ==, "unknown");
}

static void
test_escape (void)
{
  static const char *const names[] = { "wg-home", "", "a.b/c d", "anyd0", "ü", "_x" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *e = anyd_escape_path_element (names[i]);
      g_autofree char *back = anyd_unescape_path_element (e);
      g_autofree char *path = g_strconcat ("/org/anyd1/tun/", e, NULL);

      g_assert_true (g_variant_is_object_path (path));
      g_assert_cmpstr (back, ==, names[i]);
    }
  {
    g_autofree char *e = anyd_escape_path_element ("wg-home");
    g_assert_cmpstr (e, ==, "wg_2dhome");
  }
  g_assert_null (anyd_unescape_path_element ("a_2"));
  g_assert_null (anyd_unescape_path_element ("_41")); /* "A" is never escaped */
  g_assert_null (anyd_unescape_path_element ("a-b"));
}

static void
test_options (void)
{
  static const char *const addrs[] = { "10.0.0.1/24", "fd00::1/64", NULL };
  g_autoptr(AnydOptions) o = anyd_options_new_tun ("tap", 1400, addrs, TRUE, FALSE);
  g_autoptr(GVariant) v = NULL;
  g_autoptr(GVariant) again = NULL;
  g_autoptr(GVariantDict) d = NULL;
  g_autofree const char **got = NULL;
  guint32 u;
  const char *s;
  gboolean b;

  anyd_options_set_uint32 (o, "owner", 65534);
  anyd_options_set_uint32 (o, "mtu", 1300); /* replaces */
  g_assert_true (anyd_options_contains (o, "owner"));
  g_assert_false (anyd_options_contains (o, "persist")); /* FALSE means absent */
  v = g_variant_ref_sink (anyd_options_end (o));
  g_assert_cmpstr (g_variant_get_type_string (v), ==, "a{sv}");
  d = g_variant_dict_new (v);
  g_assert_true (g_variant_dict_lookup (d, "mode", "&s", &s));
  g_assert_cmpstr (s, ==, "tap");
  g_assert_true (g_variant_dict_lookup (d, "mtu", "u", &u));
  g_assert_cmpuint (u, ==, 1300);
  g_assert_true (g_variant_dict_lookup (d, "owner", "u", &u));
  g_assert_cmpuint (u, ==, 65534);
  g_assert_true (g_variant_dict_lookup (d, "up", "b", &b));
  g_assert_true (b);
  g_assert_true (g_variant_dict_lookup (d, "addresses", "^a&s", &got));
  g_assert_cmpstrv (got, addrs);
  g_assert_cmpuint (g_variant_n_children (v), ==, 5);

  /* still usable after end() */
  anyd_options_remove (o, "owner");
  again = g_variant_ref_sink (anyd_options_end (o));
  g_assert_cmpuint (g_variant_n_children (again), ==, 4);
}

/* set_fd: the list gets a duplicate, the option its index; a bad fd is an error. */
static void
test_options_fd (void)
{
  g_autoptr(AnydOptions) o = anyd_options_new_exec (NULL, NULL, 0);
  g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr(GVariant) v = NULL;
  g_autoptr(GError) error = NULL;
  gint32 h = -1;
  int p[2];

  g_assert_no_errno (pipe (p));
  g_assert_true (anyd_options_set_fd (o, "stdin", fds, p[0], &error));
  g_assert_no_error (error);
  g_assert_true (anyd_options_set_fd (o, "stdout", fds, p[1], &error));
  g_assert_cmpint (fcntl (4000, F_GETFD), <, 0);   /* not open */
  g_assert_false (anyd_options_set_fd (o, "stderr", fds, 4000, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_false (anyd_options_contains (o, "stderr"));
  g_assert_cmpint (g_unix_fd_list_get_length (fds), ==, 2);
  v = g_variant_ref_sink (anyd_options_end (o));
  g_assert_true (g_variant_lookup (v, "stdout", "h", &h));
  g_assert_cmpint (h, ==, 1);
  /* the list holds its own copies */
  close (p[0]);
  close (p[1]);
  g_assert_cmpint (fcntl (g_unix_fd_list_peek_fds (fds, NULL)[1], F_GETFD), >=, 0);
}

/* ---- interactive flag against a fake org.anyd1 ------------------------------ */

typedef struct {
  GMainLoop *loop;
  gboolean last_interactive;
  guint calls;
  GError *error;
} Fake;

static gboolean
on_handle_reload (AnydManager *manager, GDBusMethodInvocation *invocation, gpointer user_data)
{
  Fake *fake = user_data;
  GDBusMessage *msg = g_dbus_method_invocation_get_message (invocation);

  fake->calls++;
  fake->last_interactive =
    (g_dbus_message_get_flags (msg) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION) != 0;
  if (fake->calls == 3)
    g_dbus_method_invocation_return_error_literal (invocation, ANYD_ERROR,
                                                   ANYD_ERROR_NOT_AUTHORIZED, "not you");
  else
    anyd_manager_complete_reload (manager, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
on_reload_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fake *fake = user_data;

  g_clear_error (&fake->error);
  anyd_manager_call_reload_finish (ANYD_MANAGER (source), result, &fake->error);
  g_main_loop_quit (fake->loop);
}

static void
on_client_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AnydClient **out = user_data;
  g_autoptr(GError) error = NULL;

  *out = anyd_client_new_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_interactive (void)
{
  g_autoptr(GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr(GDBusConnection) server = NULL;
  g_autoptr(GDBusConnection) conn = NULL;
  g_autoptr(AnydManager) skeleton = NULL;
  g_autoptr(GDBusObjectManagerServer) om = NULL;
  g_autoptr(AnydObjectSkeleton) tun_object = NULL;
  g_autoptr(AnydTun) tun_skeleton = NULL;
  g_autoptr(AnydClient) client = NULL;
  g_autoptr(AnydTun) tun = NULL;
  g_autoptr(GError) error = NULL;
  const char *modules[] = { "tun", NULL };
  Fake fake = { 0 };
  GVariant *reply;

  g_test_dbus_up (bus);
  server = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                                   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                   NULL, NULL, &error);
  g_assert_no_error (error);
  skeleton = anyd_manager_skeleton_new ();
  anyd_manager_set_modules (skeleton, modules);
  g_signal_connect (skeleton, "handle-reload", G_CALLBACK (on_handle_reload), &fake);
  g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (skeleton), server, "/org/anyd1", &error);
  g_assert_no_error (error);
  om = g_dbus_object_manager_server_new ("/org/anyd1");
  tun_object = anyd_object_skeleton_new ("/org/anyd1/tun");
  tun_skeleton = anyd_tun_skeleton_new ();
  anyd_object_skeleton_set_tun (tun_object, tun_skeleton);
  g_dbus_object_manager_server_export (om, G_DBUS_OBJECT_SKELETON (tun_object));
  g_dbus_object_manager_server_set_connection (om, server);
  reply = g_dbus_connection_call_sync (server, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", "org.anyd1", 0), NULL,
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_variant_unref (reply);

  conn = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                                 G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                 NULL, NULL, &error);
  g_assert_no_error (error);
  /* the server answers in this thread's main context: init in a thread */
  {
    AnydClient *made = NULL;
    g_async_initable_new_async (ANYD_TYPE_CLIENT, G_PRIORITY_DEFAULT, NULL, on_client_ready,
                                &made, "connection", conn, NULL);
    while (made == NULL)
      g_main_context_iteration (NULL, TRUE);
    client = made;
  }
  fake.loop = g_main_loop_new (NULL, FALSE);

  g_assert_true (anyd_client_get_allow_interactive_authorization (client));
  g_assert_true (anyd_client_has_module (client, "tun"));
  g_assert_false (anyd_client_has_module (client, "vpn"));
  tun = anyd_client_get_tun (client);
  g_assert_nonnull (tun);
  g_assert_null (anyd_client_get_vpn (client));

  anyd_manager_call_reload (anyd_client_get_manager (client), G_DBUS_CALL_FLAGS_NONE, -1,
                            NULL, on_reload_done, &fake);
  g_main_loop_run (fake.loop);
  g_assert_no_error (fake.error);
  g_assert_true (fake.last_interactive);

  anyd_client_set_allow_interactive_authorization (client, FALSE);
  g_assert_false (anyd_client_get_allow_interactive_authorization (client));
  anyd_manager_call_reload (anyd_client_get_manager (client), G_DBUS_CALL_FLAGS_NONE, -1,
                            NULL, on_reload_done, &fake);
  g_main_loop_run (fake.loop);
  g_assert_no_error (fake.error);
  g_assert_false (fake.last_interactive);

  /* a remote org.anyd1.Error arrives in the domain */
  anyd_client_set_allow_interactive_authorization (client, TRUE);
  anyd_manager_call_reload (anyd_client_get_manager (client), G_DBUS_CALL_FLAGS_NONE, -1,
                            NULL, on_reload_done, &fake);
  g_main_loop_run (fake.loop);
  g_assert_true (fake.last_interactive);
  g_assert_error (fake.error, ANYD_ERROR, ANYD_ERROR_NOT_AUTHORIZED);
  g_assert_true (anyd_error_from_dbus (&fake.error));
  g_assert_cmpstr (fake.error->message, ==, "not you");
  g_assert_cmpuint (fake.calls, ==, 3);

  g_clear_error (&fake.error);
  g_main_loop_unref (fake.loop);
  g_clear_object (&tun);
  g_clear_object (&client);
  g_dbus_connection_close_sync (conn, NULL, NULL);
  g_dbus_connection_close_sync (server, NULL, NULL);
  g_clear_object (&conn);
  g_clear_object (&server);
  g_test_dbus_down (bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/libanyd/error/names", test_error_names);
  g_test_add_func ("/libanyd/error/foreign", test_error_foreign);
  g_test_add_func ("/libanyd/enums", test_enums);
  g_test_add_func ("/libanyd/escape", test_escape);
  g_test_add_func ("/libanyd/options", test_options);
  g_test_add_func ("/libanyd/options/fd", test_options_fd);
  g_test_add_func ("/libanyd/interactive", test_interactive);
  return g_test_run ();
}
