/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD for anyd in tests: calls that hang as they do in the field,
 * until the test lets them go:
 *   - getpwnam_r() of "anyd-test-slow-user", as an NSS backend (sssd,
 *     LDAP) with an unreachable server does;
 *   - stat() and realpath() of a path under /anyd-test-slow-path, as on a
 *     hung NFS or autofs mount.
 * Each creates $ANYD_TEST_SLOW_DIR/waiting, then waits for
 * $ANYD_TEST_SLOW_DIR/release (at most a minute) before the real call.
 * (No <sys/stat.h>: it would declare stat64 with a struct this does not
 * need to know.) */
#include <dlfcn.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOW_PATH "/anyd-test-slow-path"

static void
hang_until_released (void)
{
  const char *dir = getenv ("ANYD_TEST_SLOW_DIR");
  char path[PATH_MAX];
  FILE *f;

  if (dir == NULL)
    return;
  snprintf (path, sizeof path, "%s/waiting", dir);
  f = fopen (path, "we");
  if (f != NULL)
    fclose (f);
  snprintf (path, sizeof path, "%s/release", dir);
  for (int i = 0; i < 60 * 100 && access (path, F_OK) != 0; i++)
    usleep (10000);
}

static int
is_slow_path (const char *path)
{
  return path != NULL && strncmp (path, SLOW_PATH, strlen (SLOW_PATH)) == 0 &&
         (path[strlen (SLOW_PATH)] == '\0' || path[strlen (SLOW_PATH)] == '/');
}

typedef int (*GetpwnamR) (const char *, struct passwd *, char *, size_t, struct passwd **);
typedef int (*StatFunc) (const char *, void *);
typedef char *(*RealpathFunc) (const char *, char *);

int
getpwnam_r (const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **result)
{
  GetpwnamR real;

  *(void **) (&real) = dlsym (RTLD_NEXT, "getpwnam_r");
  if (strcmp (name, "anyd-test-slow-user") == 0)
    hang_until_released ();
  return real (name, pw, buf, size, result);
}

int stat (const char *path, void *buf);
int stat64 (const char *path, void *buf);

int
stat (const char *path, void *buf)
{
  StatFunc real;

  *(void **) (&real) = dlsym (RTLD_NEXT, "stat");
  if (is_slow_path (path))
    hang_until_released ();
  return real (path, buf);
}

int
stat64 (const char *path, void *buf)
{
  StatFunc real;

  *(void **) (&real) = dlsym (RTLD_NEXT, "stat64");
  if (is_slow_path (path))
    hang_until_released ();
  return real (path, buf);
}

char *
realpath (const char *restrict path, char *restrict resolved)
{
  RealpathFunc real;

  *(void **) (&real) = dlsym (RTLD_NEXT, "realpath");
  if (is_slow_path (path))
    hang_until_released ();
  return real (path, resolved);
}
