/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>

/* AnydError, ANYD_ERROR and anyd_error_dbus_name(): one definition, shared
 * with the client library (libanyd compiles error.c too). */
#include "../lib/anyd-error.h"

G_BEGIN_DECLS

/* Map foreign domains (GIO, GFile, GKeyFile, errno) into ANYD_ERROR in place,
 * so callers only ever see org.anyd1.Error.*. */
void anyd_error_convert (GError **error);

/* Convert and return the error on the invocation (takes ownership of error). */
void anyd_invocation_return_error (GDBusMethodInvocation *invocation, GError *error);

G_END_DECLS
