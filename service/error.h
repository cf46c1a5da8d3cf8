/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

/* Each value maps to org.anyd1.Error.<Name>; keep in step with error.c. */
typedef enum {
  ANYD_ERROR_NOT_AUTHORIZED,
  ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN,
  ANYD_ERROR_AUTHORIZATION_DISMISSED,
  ANYD_ERROR_INVALID_ARGUMENT,
  ANYD_ERROR_NOT_FOUND,
  ANYD_ERROR_EXISTS,
  ANYD_ERROR_BUSY,
  ANYD_ERROR_FAILED,
  ANYD_ERROR_TIMEOUT,
  ANYD_ERROR_NOT_SUPPORTED,
  ANYD_ERROR_DISABLED,
  ANYD_ERROR_N_ERRORS /*< skip >*/
} AnydError;

#define ANYD_ERROR (anyd_error_quark ())
GQuark anyd_error_quark (void);

/* D-Bus name of a code ("org.anyd1.Error.NotFound"), NULL if out of range. */
const char *anyd_error_dbus_name (AnydError code);

/* Map foreign domains (GIO, GFile, GKeyFile, errno) into ANYD_ERROR in place,
 * so callers only ever see org.anyd1.Error.*. */
void anyd_error_convert (GError **error);

/* Convert and return the error on the invocation (takes ownership of error). */
void anyd_invocation_return_error (GDBusMethodInvocation *invocation, GError *error);

G_END_DECLS
