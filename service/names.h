/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names fixed by the API (docs/api.md): bus name, paths, journal fields, message IDs. */
#pragma once

#define ANYD_DBUS_NAME            "org.anyd1"
#define ANYD_DBUS_PATH            "/org/anyd1"
#define ANYD_DBUS_IFACE_PREFIX    "org.anyd1."
#define ANYD_ERROR_PREFIX         "org.anyd1.Error."

#define ANYD_ACTION_MANAGE        "org.anyd1.manage"

/* One MESSAGE_ID per audit record type (journalctl MESSAGE_ID=...). */
#define ANYD_MSGID_AUTH           "6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a60" /* authorization decision */
#define ANYD_MSGID_ACTION         "6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a61" /* privileged action done/failed */
#define ANYD_MSGID_THROTTLE       "6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a62" /* burst of throttled denials */
#define ANYD_MSGID_LIFECYCLE      "6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a63" /* start, reload, stop */
#define ANYD_MSGID_QUOTA          "6a1d3b5e2c7f4e0d9b8a1c2d3e4f5a64" /* over a quota or call rate: refused */
