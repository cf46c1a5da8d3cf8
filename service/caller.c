/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "caller.h"

AnydCaller *
anyd_caller_new (const char *sender, guint32 uid, guint32 pid)
{
  AnydCaller *caller = g_new0 (AnydCaller, 1);

  caller->sender = g_strdup (sender);
  caller->uid = uid;
  caller->pid = pid;
  caller->ref_count = 1;
  return caller;
}

AnydCaller *
anyd_caller_ref (AnydCaller *caller)
{
  g_atomic_int_inc (&caller->ref_count);
  return caller;
}

void
anyd_caller_unref (AnydCaller *caller)
{
  if (caller == NULL || !g_atomic_int_dec_and_test (&caller->ref_count))
    return;
  g_free (caller->sender);
  g_free (caller);
}

/* The one place the caller is tied to an invocation. */
static GQuark
caller_quark (void)
{
  static GQuark q;

  if (G_UNLIKELY (q == 0))
    q = g_quark_from_static_string ("anyd-caller");
  return q;
}

void
anyd_caller_attach (GDBusMethodInvocation *invocation, AnydCaller *caller)
{
  g_object_set_qdata_full (G_OBJECT (invocation), caller_quark (), anyd_caller_ref (caller),
                           (GDestroyNotify) anyd_caller_unref);
}

AnydCaller *
anyd_caller_from_invocation (GDBusMethodInvocation *invocation)
{
  return g_object_get_qdata (G_OBJECT (invocation), caller_quark ());
}
