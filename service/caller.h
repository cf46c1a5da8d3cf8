/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

/* Who made a call, as the bus daemon vouches for it. Immutable, refcounted. */
typedef struct {
  char    *sender;   /* unique bus name */
  guint32  uid;
  guint32  pid;      /* 0 if unknown */
  gint     ref_count;
} AnydCaller;

AnydCaller *anyd_caller_new (const char *sender, guint32 uid, guint32 pid);
AnydCaller *anyd_caller_ref (AnydCaller *caller);
void        anyd_caller_unref (AnydCaller *caller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydCaller, anyd_caller_unref)

/* The caller the gate attached to an authorized invocation (borrowed; valid
 * as long as the invocation). Never NULL inside a method handler. */
AnydCaller *anyd_caller_from_invocation (GDBusMethodInvocation *invocation);
/* For the gate only: tie caller to an invocation it authorized. */
void        anyd_caller_attach (GDBusMethodInvocation *invocation, AnydCaller *caller);

G_END_DECLS
