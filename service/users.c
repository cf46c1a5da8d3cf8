/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "users.h"
#include "error.h"

#include <errno.h>
#include <pwd.h>
#include <unistd.h>

void
anyd_user_free (AnydUser *user)
{
  if (user == NULL)
    return;
  g_free (user->name);
  g_free (user);
}

AnydUser *
anyd_user_lookup (const char *name, guint32 uid, int *errnum)
{
  long max = sysconf (_SC_GETPW_R_SIZE_MAX);
  gsize size = max > 0 ? (gsize) max : 16384;
  struct passwd pw, *res = NULL;
  AnydUser *user;
  guint64 number;
  int r;

  if (name != NULL && g_ascii_string_to_unsigned (name, 10, 0, G_MAXUINT32 - 1, &number, NULL))
    name = NULL, uid = (guint32) number;   /* "65534" */
  for (;;)
    {
      g_autofree char *buf = g_malloc (size);

      r = name != NULL ? getpwnam_r (name, &pw, buf, size, &res)
                       : getpwuid_r ((uid_t) uid, &pw, buf, size, &res);
      if (r == ERANGE && size < 1024 * 1024)
        {
          size *= 2;   /* a big entry (many fields, long gecos) */
          continue;
        }
      if (errnum != NULL)
        *errnum = res == NULL ? r : 0;
      if (res == NULL)
        return NULL;
      user = g_new0 (AnydUser, 1);
      user->name = g_strdup (pw.pw_name);
      user->uid = pw.pw_uid;
      user->gid = pw.pw_gid;
      return user;
    }
}

typedef struct {
  char     *name;
  guint32   uid;
  AnydUser *user;     /* the result */
  int       errnum;
} Lookup;

static void
lookup_free (Lookup *l)
{
  g_free (l->name);
  anyd_user_free (l->user);
  g_free (l);
}

static void
lookup_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Lookup *l = task_data;

  l->user = anyd_user_lookup (l->name, l->uid, &l->errnum);
  g_task_return_boolean (task, TRUE);
}

void
anyd_user_lookup_async (const char *name, guint32 uid, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, callback, user_data);
  Lookup *l = g_new0 (Lookup, 1);

  l->name = g_strdup (name);
  l->uid = uid;
  g_task_set_source_tag (task, anyd_user_lookup_async);
  g_task_set_task_data (task, l, (GDestroyNotify) lookup_free);
  g_task_run_in_thread (task, lookup_thread);
}

AnydUser *
anyd_user_lookup_finish (GAsyncResult *result, int *errnum)
{
  Lookup *l;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == anyd_user_lookup_async, NULL);
  l = g_task_get_task_data (G_TASK (result));
  if (errnum != NULL)
    *errnum = l->errnum;
  return g_steal_pointer (&l->user);
}

GError *
anyd_user_missing_error (const char *name, guint32 uid, int errnum)
{
  if (name != NULL)
    return g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "user: no user '%s'", name);
  return g_error_new (ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "user: the caller's uid %u has no user account%s%s",
                      uid, errnum ? ": " : "", errnum ? g_strerror (errnum) : "");
}
