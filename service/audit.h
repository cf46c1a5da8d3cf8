/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <glib.h>
#include "caller.h"

G_BEGIN_DECLS

/* One structured record per authorization decision or privileged action
 * (docs/api.md, Audit). Journald when stderr is the journal, else one
 * "KEY=value ..." line on stderr. Never pass a secret value in any field. */
typedef struct {
  const char       *message_id;  /* ANYD_MSGID_* */
  const char       *action;      /* polkit action id or operation name */
  const AnydCaller *caller;      /* may be NULL (daemon-internal) */
  const char       *object;      /* object path or resource name, may be NULL */
  const char       *result;      /* allowed denied challenge dismissed ok error */
  const char       *details;     /* "k=v k=v", may be NULL */
  const char       *message;     /* human text, may be NULL */
} AnydAuditRecord;

void anyd_audit (const AnydAuditRecord *record);

/* Shorthand for the common "privileged action finished" record. */
void anyd_audit_action (const AnydCaller *caller, const char *action, const char *object,
                        const GError *error, const char *fmt, ...) G_GNUC_PRINTF (5, 6);

G_END_DECLS
