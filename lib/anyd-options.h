/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builders for the a{sv} options dictionaries of the API. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define ANYD_TYPE_OPTIONS (anyd_options_get_type ())
G_DECLARE_FINAL_TYPE (AnydOptions, anyd_options, ANYD, OPTIONS, GObject)

AnydOptions *anyd_options_new          (void);
void         anyd_options_set_string   (AnydOptions *options, const char *key, const char *value);
void         anyd_options_set_boolean  (AnydOptions *options, const char *key, gboolean value);
void         anyd_options_set_uint32   (AnydOptions *options, const char *key, guint32 value);
void         anyd_options_set_uint64   (AnydOptions *options, const char *key, guint64 value);
void         anyd_options_set_strv     (AnydOptions *options, const char *key, const char *const *value);
void         anyd_options_set_handle   (AnydOptions *options, const char *key, gint32 fd_index);
gboolean     anyd_options_set_fd       (AnydOptions *options, const char *key, GUnixFDList *fd_list,
                                        int fd, GError **error);
void         anyd_options_remove       (AnydOptions *options, const char *key);
gboolean     anyd_options_contains     (AnydOptions *options, const char *key);
GVariant    *anyd_options_end          (AnydOptions *options);

AnydOptions *anyd_options_new_tun        (const char *mode, guint32 mtu,
                                          const char *const *addresses,
                                          gboolean up, gboolean persist);
AnydOptions *anyd_options_new_vpn_import (gboolean autoconnect, gboolean ignore_scripts);
AnydOptions *anyd_options_new_vault_put  (const char *content_type);
AnydOptions *anyd_options_new_exec       (const char *cwd, const char *user, guint32 timeout_ms);

G_END_DECLS
