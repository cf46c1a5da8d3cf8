/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client's polkit authentication agent for its own process. */
#pragma once

#ifndef POLKIT_AGENT_I_KNOW_API_IS_SUBJECT_TO_CHANGE
#define POLKIT_AGENT_I_KNOW_API_IS_SUBJECT_TO_CHANGE 1
#endif
#include <polkitagent/polkitagent.h>

G_BEGIN_DECLS

#define ANYD_CLIENT_TYPE_AGENT (anyd_client_agent_get_type ())
G_DECLARE_FINAL_TYPE (AnydClientAgent, anyd_client_agent, ANYD_CLIENT, AGENT, PolkitAgentListener)

/* An agent that asks on /dev/tty; NULL with error if there is no terminal. */
PolkitAgentListener *anyd_client_agent_new (GError **error);

G_END_DECLS
