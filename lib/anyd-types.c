/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* String round-trips of AnydVpnState and AnydExecReason.  The strings are
 * the ones on the bus; their enum nicks (glib-mkenums) are the same words. */
#include "anyd-types.h"
#include "anyd-enum-types.h"

static int
from_nick (GType type, const char *nick)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v;

  if (nick == NULL || g_str_equal (nick, "unknown"))
    return 0;
  v = g_enum_get_value_by_nick (klass, nick);
  return v != NULL ? v->value : 0;
}

static const char *
to_nick (GType type, int value)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);

  /* nicks live in static storage of the generated code */
  return v != NULL ? v->value_nick : "unknown";
}

/**
 * anyd_vpn_state_from_string:
 * @state: (nullable): a `State` value as on the bus, e.g. "connected"
 *
 * Returns: the #AnydVpnState, %ANYD_VPN_STATE_UNKNOWN for %NULL or a word
 *   this version does not know (the API only grows)
 */
AnydVpnState
anyd_vpn_state_from_string (const char *state)
{
  return (AnydVpnState) from_nick (ANYD_TYPE_VPN_STATE, state);
}

/**
 * anyd_vpn_state_to_string:
 * @state: an #AnydVpnState
 *
 * Returns: the word on the bus ("connected"), "unknown" for
 *   %ANYD_VPN_STATE_UNKNOWN or an out-of-range value
 */
const char *
anyd_vpn_state_to_string (AnydVpnState state)
{
  return to_nick (ANYD_TYPE_VPN_STATE, state);
}

/**
 * anyd_exec_reason_from_string:
 * @reason: (nullable): a `Reason` value as on the bus, e.g. "timeout"
 *
 * Returns: the #AnydExecReason, %ANYD_EXEC_REASON_UNKNOWN for %NULL, "" or
 *   a word this version does not know
 */
AnydExecReason
anyd_exec_reason_from_string (const char *reason)
{
  return (AnydExecReason) from_nick (ANYD_TYPE_EXEC_REASON, reason);
}

/**
 * anyd_exec_reason_to_string:
 * @reason: an #AnydExecReason
 *
 * Returns: the word on the bus ("oom"), "unknown" for
 *   %ANYD_EXEC_REASON_UNKNOWN or an out-of-range value
 */
const char *
anyd_exec_reason_to_string (AnydExecReason reason)
{
  return to_nick (ANYD_TYPE_EXEC_REASON, reason);
}
