/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prints what the daemon itself knows of its API, for scripts/gen-api-docs:
 * every row of the authorization gate's tables (every built module) and
 * every error name, one tab-separated line each:
 *   rule <interface> <method> <action|-> <detail key|-> <static details|->
 *   error <D-Bus error name>
 * Not installed; linked against the daemon's static library so the docs
 * can never disagree with the code. */
#include "anyd-build-config.h"
#include "daemon.h"
#include "error.h"

#include <stdio.h>

int
main (void)
{
  const AnydAuthRule *const *tables = anyd_daemon_auth_tables ();

  for (guint t = 0; tables[t] != NULL; t++)
    for (const AnydAuthRule *r = tables[t]; r->interface != NULL; r++)
      printf ("rule\t%s\t%s\t%s\t%s\t%s\n", r->interface, r->method, r->action ? r->action : "-",
              r->detail_key ? r->detail_key : "-",
              r->extra_details && *r->extra_details ? r->extra_details : "-");
  for (int c = 0; c < ANYD_ERROR_N_ERRORS; c++)
    printf ("error\t%s\n", anyd_error_dbus_name ((AnydError) c));
  return 0;
}
