/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD for anyd in tests: getpwnam_r() of "anyd-test-slow-user" hangs
 * as an NSS backend (sssd, LDAP) with an unreachable server does, until the
 * test lets it go: it creates $ANYD_TEST_SLOW_DIR/waiting, then waits for
 * $ANYD_TEST_SLOW_DIR/release (at most a minute) before the real lookup. */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*GetpwnamR) (const char *, struct passwd *, char *, size_t, struct passwd **);

int
getpwnam_r (const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **result)
{
  GetpwnamR real;
  const char *dir = getenv ("ANYD_TEST_SLOW_DIR");
  char path[PATH_MAX];

  *(void **) (&real) = dlsym (RTLD_NEXT, "getpwnam_r");
  if (dir != NULL && strcmp (name, "anyd-test-slow-user") == 0)
    {
      int fd;

      snprintf (path, sizeof path, "%s/waiting", dir);
      fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd >= 0)
        close (fd);
      snprintf (path, sizeof path, "%s/release", dir);
      for (int i = 0; i < 60 * 100 && access (path, F_OK) != 0; i++)
        usleep (10000);
    }
  return real (name, pw, buf, size, result);
}
