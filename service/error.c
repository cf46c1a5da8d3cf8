/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "error.h"
#include "names.h"

#include <errno.h>

static const GDBusErrorEntry anyd_error_entries[] = {
  { ANYD_ERROR_NOT_AUTHORIZED,             ANYD_ERROR_PREFIX "NotAuthorized" },
  { ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,  ANYD_ERROR_PREFIX "NotAuthorizedCanObtain" },
  { ANYD_ERROR_AUTHORIZATION_DISMISSED,    ANYD_ERROR_PREFIX "AuthorizationDismissed" },
  { ANYD_ERROR_INVALID_ARGUMENT,           ANYD_ERROR_PREFIX "InvalidArgument" },
  { ANYD_ERROR_NOT_FOUND,                  ANYD_ERROR_PREFIX "NotFound" },
  { ANYD_ERROR_EXISTS,                     ANYD_ERROR_PREFIX "Exists" },
  { ANYD_ERROR_BUSY,                       ANYD_ERROR_PREFIX "Busy" },
  { ANYD_ERROR_FAILED,                     ANYD_ERROR_PREFIX "Failed" },
  { ANYD_ERROR_TIMEOUT,                    ANYD_ERROR_PREFIX "Timeout" },
  { ANYD_ERROR_NOT_SUPPORTED,              ANYD_ERROR_PREFIX "NotSupported" },
  { ANYD_ERROR_DISABLED,                   ANYD_ERROR_PREFIX "Disabled" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (anyd_error_entries) == ANYD_ERROR_N_ERRORS);

GQuark
anyd_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("anyd-error-quark", &quark, anyd_error_entries,
                                      G_N_ELEMENTS (anyd_error_entries));
  return (GQuark) quark;
}

const char *
anyd_error_dbus_name (AnydError code)
{
  if ((guint) code >= G_N_ELEMENTS (anyd_error_entries))
    return NULL;
  return anyd_error_entries[code].dbus_error_name;
}

static AnydError
code_from_io_error (gint code)
{
  switch (code)
    {
    case G_IO_ERROR_NOT_FOUND:          return ANYD_ERROR_NOT_FOUND;
    case G_IO_ERROR_EXISTS:             return ANYD_ERROR_EXISTS;
    case G_IO_ERROR_INVALID_ARGUMENT:
    case G_IO_ERROR_INVALID_DATA:
    case G_IO_ERROR_INVALID_FILENAME:
    case G_IO_ERROR_FILENAME_TOO_LONG:  return ANYD_ERROR_INVALID_ARGUMENT;
    case G_IO_ERROR_BUSY:
    case G_IO_ERROR_PENDING:            return ANYD_ERROR_BUSY;
    case G_IO_ERROR_TIMED_OUT:          return ANYD_ERROR_TIMEOUT;
    case G_IO_ERROR_NOT_SUPPORTED:      return ANYD_ERROR_NOT_SUPPORTED;
    case G_IO_ERROR_PERMISSION_DENIED:  return ANYD_ERROR_NOT_AUTHORIZED;
    default:                            return ANYD_ERROR_FAILED;
    }
}

void
anyd_error_convert (GError **error)
{
  GError *e;
  AnydError code = ANYD_ERROR_FAILED;

  if (error == NULL || *error == NULL)
    return;
  e = *error;
  if (e->domain == ANYD_ERROR)
    return;

  if (e->domain == G_IO_ERROR)
    code = code_from_io_error (e->code);
  else if (e->domain == G_FILE_ERROR)
    code = code_from_io_error (g_io_error_from_file_error (e->code));
  else if (e->domain == G_KEY_FILE_ERROR)
    code = ANYD_ERROR_INVALID_ARGUMENT;
  else if (e->domain == G_DBUS_ERROR)
    {
      switch (e->code)
        {
        case G_DBUS_ERROR_INVALID_ARGS:   code = ANYD_ERROR_INVALID_ARGUMENT; break;
        case G_DBUS_ERROR_ACCESS_DENIED:
        case G_DBUS_ERROR_AUTH_FAILED:    code = ANYD_ERROR_NOT_AUTHORIZED; break;
        case G_DBUS_ERROR_TIMEOUT:
        case G_DBUS_ERROR_NO_REPLY:
        case G_DBUS_ERROR_TIMED_OUT:      code = ANYD_ERROR_TIMEOUT; break;
        case G_DBUS_ERROR_NOT_SUPPORTED:
        case G_DBUS_ERROR_UNKNOWN_METHOD: code = ANYD_ERROR_NOT_SUPPORTED; break;
        default:                          code = ANYD_ERROR_FAILED; break;
        }
    }

  /* Remote errors carry "GDBus.Error:name: " prefixes; keep only the text. */
  if (g_dbus_error_is_remote_error (e))
    g_dbus_error_strip_remote_error (e);
  e->domain = ANYD_ERROR;
  e->code = code;
}

void
anyd_invocation_return_error (GDBusMethodInvocation *invocation, GError *error)
{
  anyd_error_convert (&error);
  g_dbus_method_invocation_take_error (invocation, error);
}
