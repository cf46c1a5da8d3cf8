/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Enums for the string states and reasons of the API, with round-trips. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * AnydVpnState:
 * @ANYD_VPN_STATE_UNKNOWN: a state this version of libanyd does not know
 * @ANYD_VPN_STATE_DISCONNECTED: "disconnected"
 * @ANYD_VPN_STATE_CONNECTING: "connecting"
 * @ANYD_VPN_STATE_CONNECTED: "connected"
 * @ANYD_VPN_STATE_DISCONNECTING: "disconnecting"
 * @ANYD_VPN_STATE_FAILED: "failed"
 *
 * The `State` property of org.anyd1.VpnConnection.
 */
typedef enum {
  ANYD_VPN_STATE_UNKNOWN,
  ANYD_VPN_STATE_DISCONNECTED,
  ANYD_VPN_STATE_CONNECTING,
  ANYD_VPN_STATE_CONNECTED,
  ANYD_VPN_STATE_DISCONNECTING,
  ANYD_VPN_STATE_FAILED,
} AnydVpnState;

/**
 * AnydExecReason:
 * @ANYD_EXEC_REASON_UNKNOWN: not exited yet, or a reason this version of
 *   libanyd does not know
 * @ANYD_EXEC_REASON_EXITED: "exited": the command exited on its own
 * @ANYD_EXEC_REASON_KILLED: "killed": a signal ended it
 * @ANYD_EXEC_REASON_TIMEOUT: "timeout": it ran out of time
 * @ANYD_EXEC_REASON_OOM: "oom": the kernel's OOM killer ended it
 * @ANYD_EXEC_REASON_HANGUP: "hangup": its terminal went away
 * @ANYD_EXEC_REASON_STOPPED: "stopped": Stop() or its creator going away
 *
 * The `Reason` property and `Exited` signal of org.anyd1.ExecProcess.
 */
typedef enum {
  ANYD_EXEC_REASON_UNKNOWN,
  ANYD_EXEC_REASON_EXITED,
  ANYD_EXEC_REASON_KILLED,
  ANYD_EXEC_REASON_TIMEOUT,
  ANYD_EXEC_REASON_OOM,
  ANYD_EXEC_REASON_HANGUP,
  ANYD_EXEC_REASON_STOPPED,
} AnydExecReason;

AnydVpnState    anyd_vpn_state_from_string   (const char *state);
const char     *anyd_vpn_state_to_string     (AnydVpnState state);
AnydExecReason  anyd_exec_reason_from_string (const char *reason);
const char     *anyd_exec_reason_to_string   (AnydExecReason reason);

G_END_DECLS
