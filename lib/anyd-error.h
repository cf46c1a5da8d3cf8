/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ANYD_ERROR domain: one code per org.anyd1.Error.<Name>.
 *
 * Shared by the daemon (service/error.c holds the one table of names) and
 * libanyd, so both sides agree on every code. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * AnydError:
 * @ANYD_ERROR_NOT_AUTHORIZED: polkit said no (org.anyd1.Error.NotAuthorized).
 * @ANYD_ERROR_NOT_AUTHORIZED_CAN_OBTAIN: authentication would help, but no
 *   agent could ask for it (org.anyd1.Error.NotAuthorizedCanObtain).
 * @ANYD_ERROR_AUTHORIZATION_DISMISSED: the user dismissed the password
 *   dialog (org.anyd1.Error.AuthorizationDismissed).
 * @ANYD_ERROR_INVALID_ARGUMENT: bad input; the message names the field.
 * @ANYD_ERROR_NOT_FOUND: no such device, profile, secret, unit…
 * @ANYD_ERROR_EXISTS: the name is taken.
 * @ANYD_ERROR_BUSY: in use, or over a quota.
 * @ANYD_ERROR_FAILED: anything else.
 * @ANYD_ERROR_TIMEOUT: an operation took too long.
 * @ANYD_ERROR_NOT_SUPPORTED: not possible for this object.
 * @ANYD_ERROR_DISABLED: the module's backend is missing.
 * @ANYD_ERROR_N_ERRORS: the number of codes (not an error).
 *
 * Errors of the anyd daemon.  Each code is the D-Bus error
 * `org.anyd1.Error.<Name>`; once the domain is registered (any libanyd
 * call does it), GDBus turns such remote errors into this domain.
 */
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

/**
 * ANYD_ERROR:
 *
 * The error domain of anyd (#AnydError codes).
 */
#define ANYD_ERROR (anyd_error_quark ())
GQuark anyd_error_quark (void);

/**
 * anyd_error_dbus_name:
 * @code: an #AnydError
 *
 * Returns: (nullable): the D-Bus name of @code ("org.anyd1.Error.NotFound"),
 *   or %NULL if @code is out of range
 */
const char *anyd_error_dbus_name (AnydError code);

G_END_DECLS
