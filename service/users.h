/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* User lookups off the main loop: with NSS backends such as sssd or LDAP a
 * getpwnam_r() may wait on the network for seconds. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  char    *name;
  guint32  uid;
  guint32  gid;
} AnydUser;

void      anyd_user_free (AnydUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydUser, anyd_user_free)

/* The passwd entry of name (a user name, or a decimal uid such as "65534"),
 * or of uid when name is NULL. Blocks: call it in a thread. NULL if there
 * is none; *errnum (may be NULL) is then the lookup's error, 0 for a plain
 * "no such entry". */
AnydUser *anyd_user_lookup (const char *name, guint32 uid, int *errnum);

/* anyd_user_lookup() in a thread; callback runs in the caller's main
 * context, where _finish returns what it returned. */
void      anyd_user_lookup_async (const char *name, guint32 uid,
                                  GAsyncReadyCallback callback, gpointer user_data);
AnydUser *anyd_user_lookup_finish (GAsyncResult *result, int *errnum);

/* The InvalidArgument for a lookup that found nobody: name as the caller
 * gave it (a `user` option), or, name NULL, the caller's own uid; errnum
 * the lookup's error (0: none). */
GError   *anyd_user_missing_error (const char *name, guint32 uid, int errnum);

G_END_DECLS
