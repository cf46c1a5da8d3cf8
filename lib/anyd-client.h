/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AnydClient: the connection to anyd, its objects and its errors. */
#pragma once

#include <gio/gio.h>

#include "anyd-generated.h"

G_BEGIN_DECLS

#define ANYD_BUS_NAME "org.anyd1"
#define ANYD_OBJECT_PATH "/org/anyd1"

#define ANYD_TYPE_CLIENT (anyd_client_get_type ())
G_DECLARE_FINAL_TYPE (AnydClient, anyd_client, ANYD, CLIENT, GObject)

void                anyd_client_new                    (GCancellable        *cancellable,
                                                        GAsyncReadyCallback  callback,
                                                        gpointer             user_data);
AnydClient         *anyd_client_new_finish             (GAsyncResult        *result,
                                                        GError             **error);
AnydClient         *anyd_client_new_sync               (GCancellable        *cancellable,
                                                        GError             **error);
AnydClient         *anyd_client_new_for_connection_sync (GDBusConnection    *connection,
                                                        GCancellable        *cancellable,
                                                        GError             **error);

GDBusConnection    *anyd_client_get_connection         (AnydClient *client);
GDBusObjectManager *anyd_client_get_object_manager     (AnydClient *client);
AnydManager        *anyd_client_get_manager            (AnydClient *client);

gboolean            anyd_client_get_allow_interactive_authorization (AnydClient *client);
void                anyd_client_set_allow_interactive_authorization (AnydClient *client,
                                                                     gboolean    allow);

gboolean            anyd_client_has_module             (AnydClient *client, const char *module);
AnydObject         *anyd_client_get_object             (AnydClient *client, const char *object_path);
AnydObject         *anyd_client_get_module             (AnydClient *client, const char *module);
AnydTun            *anyd_client_get_tun                (AnydClient *client);
AnydVpn            *anyd_client_get_vpn                (AnydClient *client);
AnydVault          *anyd_client_get_vault              (AnydClient *client);
AnydServices       *anyd_client_get_services           (AnydClient *client);
AnydExec           *anyd_client_get_exec               (AnydClient *client);
AnydTunDevice      *anyd_client_get_tun_device         (AnydClient *client, const char *name);
AnydVpnProfile     *anyd_client_get_vpn_profile        (AnydClient *client, const char *name);

char               *anyd_escape_path_element           (const char *name);
char               *anyd_unescape_path_element         (const char *element);

gboolean            anyd_error_from_dbus               (GError **error);
char               *anyd_error_get_message             (const GError *error);

G_END_DECLS
