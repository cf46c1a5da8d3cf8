/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-record: the on-disk form of a profile (see vpn-record.c). */
#pragma once

#include <glib.h>
#include "vpn-config.h"

G_BEGIN_DECLS

/* The record format this anyd writes; others are refused when read. */
#define VPN_PROFILE_FORMAT 1

/* Header + canonical text; holds the private key: free with vpn_secret_free(). */
char      *vpn_record_format (const char *name, gboolean autoconnect, gboolean ignore_scripts,
                              const VpnConfig *config);
/* A record -> its configuration and header fields; anything malformed is
 * ANYD_ERROR_FAILED ("record line N: …"), never quoting a key. */
VpnConfig *vpn_record_parse (const char *data, gsize len, char **name, gboolean *autoconnect,
                             gboolean *ignore_scripts, GError **error);

G_END_DECLS
