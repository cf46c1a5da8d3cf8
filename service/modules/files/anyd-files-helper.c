/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * anyd-files-helper: moves the bytes of one file for the files module.
 *
 * anyd runs it as a transient unit with User= the target user, so the
 * kernel applies that user's permissions; anyd itself never opens the file.
 *
 *   anyd-files-helper read  [--max-size N] ROOT PATH     file -> stdout
 *   anyd-files-helper write [--max-size N] [--mode OCTAL] [--no-create]
 *                           [--no-replace] [--size N] ROOT PATH
 *                                                        stdin -> file
 * (--size: the number of bytes the writer announced; any other count is
 * refused, so a writer that dies midway cannot leave a truncated file)
 *
 * PATH is relative to ROOT and is resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from an fd of ROOT, so neither
 * "..", absolute symlinks, /proc magic links nor mount crossings can leave
 * the root.  Only regular files are read or replaced.
 *
 * stderr carries one line per event, read by anyd:
 *   "streaming"           (read) the pipe is full: the reader must start now
 *   "ok: N"               done, N bytes moved
 *   "<Error>: PATH: why"  failed; <Error> is one of the names below
 * and the exit status says the same (see HelperStatus).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>

typedef enum {
  STATUS_OK = 0,
  STATUS_FAILED = 1,
  STATUS_INVALID = 2,
  STATUS_NOT_AUTHORIZED = 3,
  STATUS_NOT_FOUND = 4,
  STATUS_EXISTS = 5,
  STATUS_TOO_BIG = 6,
  STATUS_CHANGED = 7,
} HelperStatus;

static const char *const status_names[] = {
  [STATUS_OK] = "ok",
  [STATUS_FAILED] = "Failed",
  [STATUS_INVALID] = "InvalidArgument",
  [STATUS_NOT_AUTHORIZED] = "NotAuthorized",
  [STATUS_NOT_FOUND] = "NotFound",
  [STATUS_EXISTS] = "Exists",
  [STATUS_TOO_BIG] = "TooBig",
  [STATUS_CHANGED] = "Changed",
};

#define CHUNK (1024 * 1024)

static char display_path[PATH_MAX * 2];

static void
say (const char *line)
{
  /* one write per line so anyd never sees half a line */
  size_t len = strlen (line);
  while (len > 0)
    {
      ssize_t n = write (STDERR_FILENO, line, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      line += n;
      len -= (size_t) n;
    }
}

static int
fail (HelperStatus status, const char *fmt, ...)
{
  char why[512], line[sizeof display_path + sizeof why + 64];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (why, sizeof why, fmt, ap);
  va_end (ap);
  /* keep the protocol one line per event, whatever the path holds */
  for (char *p = why; *p; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  snprintf (line, sizeof line, "%s: %s: %s\n", status_names[status], display_path, why);
  say (line);
  return status;
}

static HelperStatus
status_for_errno (int err)
{
  switch (err)
    {
    case ENOENT:
    case ENOTDIR:
      return STATUS_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
      return STATUS_NOT_AUTHORIZED;
    case EXDEV:
    case ELOOP:
    case EISDIR:
    case ENXIO:
    case ENAMETOOLONG:
    case EINVAL:
      return STATUS_INVALID;
    case EEXIST:
      return STATUS_EXISTS;
    case EFBIG:
    case ENOSPC:
    case EDQUOT:
      return STATUS_TOO_BIG;
    default:
      return STATUS_FAILED;
    }
}

static int
fail_errno (int err, const char *what)
{
  switch (err)
    {
    case EXDEV:
      return fail (STATUS_INVALID, "%s: the path leaves its root ('..', an absolute "
                   "symbolic link or another file system)", what);
    case ELOOP:
      return fail (STATUS_INVALID, "%s: too many symbolic links or a /proc magic link", what);
    case ENXIO:
      return fail (STATUS_INVALID, "%s: not a regular file", what);
    default:
      return fail (status_for_errno (err), "%s: %s", what, strerror (err));
    }
}

static int
resolve (int dirfd, const char *path, uint64_t flags, uint64_t mode)
{
  struct open_how how = {
    /* openat2 refuses O_PATH with anything but O_DIRECTORY/O_NOFOLLOW */
    .flags = flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY),
    .mode = mode,
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };

  for (int attempt = 0; attempt < 16; attempt++)
    {
      long fd = syscall (SYS_openat2, dirfd, path, &how, sizeof how);
      /* EAGAIN: a rename raced the lookup; the kernel asks for a retry */
      if (fd >= 0 || (errno != EAGAIN && errno != EINTR))
        return (int) fd;
    }
  return -1;
}

static const char *
kind_of (mode_t m)
{
  if (S_ISDIR (m)) return "a directory";
  if (S_ISFIFO (m)) return "a FIFO";
  if (S_ISSOCK (m)) return "a socket";
  if (S_ISCHR (m)) return "a character device";
  if (S_ISBLK (m)) return "a block device";
  if (S_ISLNK (m)) return "a symbolic link";
  return "not a regular file";
}

/* ---- read ------------------------------------------------------------- */

static bool
is_pipe (int fd)
{
  struct stat st;
  return fstat (fd, &st) == 0 && S_ISFIFO (st.st_mode);
}

/* Copy up to @len bytes from @in at *@off to stdout.  While @nonblock, a
 * full pipe is announced once with "streaming" and the copy goes on
 * blocking, so anyd can hand the reader its end only when it is needed. */
static ssize_t
copy_out (int in, loff_t *off, size_t len, bool *nonblock)
{
  for (;;)
    {
      ssize_t n;
      if (is_pipe (STDOUT_FILENO))
        n = splice (in, off, STDOUT_FILENO, NULL, len,
                    SPLICE_F_MOVE | (*nonblock ? SPLICE_F_NONBLOCK : 0));
      else
        n = sendfile (STDOUT_FILENO, in, (off_t *) off, len);
      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN && *nonblock)
        {
          int fl = fcntl (STDOUT_FILENO, F_GETFL);
          if (fl >= 0)
            fcntl (STDOUT_FILENO, F_SETFL, fl & ~O_NONBLOCK);
          *nonblock = false;
          say ("streaming\n");
          continue;
        }
      if (errno == EINVAL || errno == ENOSYS)
        {
          /* no splice/sendfile for this pair: plain copy */
          static char buf[65536];
          ssize_t r = pread (in, buf, len < sizeof buf ? len : sizeof buf, *off);
          if (r <= 0)
            return r;
          for (ssize_t done = 0; done < r;)
            {
              ssize_t w = write (STDOUT_FILENO, buf + done, (size_t) (r - done));
              if (w < 0 && errno == EINTR)
                continue;
              if (w < 0 && errno == EAGAIN && *nonblock)
                {
                  int fl = fcntl (STDOUT_FILENO, F_GETFL);
                  if (fl >= 0)
                    fcntl (STDOUT_FILENO, F_SETFL, fl & ~O_NONBLOCK);
                  *nonblock = false;
                  say ("streaming\n");
                  continue;
                }
              if (w < 0)
                return -1;
              done += w;
            }
          *off += r;
          return r;
        }
      return -1;
    }
}

static int
do_read (int rootfd, const char *path, uint64_t max_size)
{
  struct stat st, st2;
  char proc[64];
  int pfd, fd;
  loff_t off = 0;
  bool nonblock = false;
  char extra;

  /* O_PATH first: opening a device or FIFO for reading can have effects
   * of its own, so the type is checked before anything is really opened */
  pfd = resolve (rootfd, path, O_PATH, 0);
  if (pfd < 0)
    return fail_errno (errno, "cannot open");
  if (fstat (pfd, &st) < 0)
    return fail_errno (errno, "cannot stat");
  if (!S_ISREG (st.st_mode))
    return fail (STATUS_INVALID, "%s, not a regular file", kind_of (st.st_mode));

  /* reopen that very inode (no second lookup a rename could redirect) */
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", pfd);
  fd = open (proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT)
    {
      /* no /proc: look up again and insist on the same inode */
      fd = resolve (rootfd, path, O_RDONLY | O_NONBLOCK, 0);
    }
  if (fd < 0)
    return fail_errno (errno, "cannot open");
  if (fstat (fd, &st2) < 0)
    return fail_errno (errno, "cannot stat");
  if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || !S_ISREG (st2.st_mode))
    return fail (STATUS_CHANGED, "the file was replaced while it was opened");
  close (pfd);

  if (max_size > 0 && (uint64_t) st2.st_size > max_size)
    return fail (STATUS_TOO_BIG, "%" PRIu64 " bytes, more than max_size %" PRIu64,
                 (uint64_t) st2.st_size, max_size);

  if (is_pipe (STDOUT_FILENO))
    {
      int fl = fcntl (STDOUT_FILENO, F_GETFL);
      nonblock = fl >= 0 && fcntl (STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) == 0;
    }

  while ((uint64_t) off < (uint64_t) st2.st_size)
    {
      uint64_t left = (uint64_t) st2.st_size - (uint64_t) off;
      ssize_t n = copy_out (fd, &off, left < CHUNK ? (size_t) left : CHUNK, &nonblock);
      if (n < 0)
        {
          if (errno == EPIPE)
            return fail (STATUS_FAILED, "the reader closed the pipe");
          return fail_errno (errno, "read");
        }
      if (n == 0)
        return fail (STATUS_CHANGED, "the file shrank while it was read");
    }

  /* a file that grew (or was rewritten) while it was read is not what was
   * asked for: say so instead of delivering a torn copy silently */
  if (pread (fd, &extra, 1, off) > 0)
    return fail (STATUS_CHANGED, "the file grew while it was read");
  if (fstat (fd, &st) < 0)
    return fail_errno (errno, "cannot stat");
  if (st.st_size != st2.st_size || st.st_mtim.tv_sec != st2.st_mtim.tv_sec ||
      st.st_mtim.tv_nsec != st2.st_mtim.tv_nsec)
    return fail (STATUS_CHANGED, "the file was modified while it was read");

  {
    char line[64];
    snprintf (line, sizeof line, "ok: %" PRIu64 "\n", (uint64_t) off);
    say (line);
  }
  return STATUS_OK;
}

/* ---- write ------------------------------------------------------------ */

static ssize_t
copy_in (int out, size_t len)
{
  for (;;)
    {
      ssize_t n = splice (STDIN_FILENO, NULL, out, NULL, len, SPLICE_F_MOVE);
      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN)
        {
          /* the caller's pipe may be non-blocking: wait, don't spin */
          struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
          poll (&p, 1, -1);
          continue;
        }
      if (errno == EINVAL || errno == ENOSYS)
        break;
      return -1;
    }

  /* stdin is not a pipe (a file, a socket): plain copy */
  static char buf[65536];
  ssize_t r;
  for (;;)
    {
      r = read (STDIN_FILENO, buf, len < sizeof buf ? len : sizeof buf);
      if (r < 0 && errno == EAGAIN)
        {
          struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
          poll (&p, 1, -1);
          continue;
        }
      if (r >= 0 || errno != EINTR)
        break;
    }
  if (r <= 0)
    return r;
  for (ssize_t done = 0; done < r;)
    {
      ssize_t w = write (out, buf + done, (size_t) (r - done));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return -1;
      done += w;
    }
  return r;
}

static int
do_write (int rootfd, const char *path, uint64_t max_size, long mode,
          bool create, bool replace, int64_t size)
{
  char dir[PATH_MAX], tmpname[NAME_MAX + 1], proc[64];
  const char *base, *slash;
  struct stat st;
  int dfd, tfd;
  bool exists, named_tmp = false;
  uint64_t total = 0;
  mode_t um;

  slash = strrchr (path, '/');
  if (slash)
    {
      if ((size_t) (slash - path) >= sizeof dir)
        return fail (STATUS_INVALID, "path too long");
      memcpy (dir, path, (size_t) (slash - path));
      dir[slash - path] = '\0';
      base = slash + 1;
    }
  else
    {
      strcpy (dir, ".");
      base = path;
    }
  if (dir[0] == '\0')
    strcpy (dir, ".");
  if (base[0] == '\0' || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    return fail (STATUS_INVALID, "the path names a directory, not a file");
  if (strlen (base) > NAME_MAX - 16)
    return fail (STATUS_INVALID, "file name too long");

  dfd = resolve (rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
  if (dfd < 0)
    return fail_errno (errno, "cannot open the directory");

  /* the last component is looked at, never followed: a rename replaces a
   * symbolic link itself, which is never what a caller means */
  if (fstatat (dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
    exists = true;
  else if (errno == ENOENT)
    exists = false;
  else
    return fail_errno (errno, "cannot stat");

  if (exists && !S_ISREG (st.st_mode))
    return fail (STATUS_INVALID, "%s, not a regular file", kind_of (st.st_mode));
  if (exists && !replace)
    return fail (STATUS_EXISTS, "the file exists and replace is false");
  if (!exists && !create)
    return fail (STATUS_NOT_FOUND, "no such file, and create is false");
  /* replacing needs write permission on the file too, not just on the
   * directory, as an editor would */
  if (exists && faccessat (dfd, base, W_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW) < 0)
    return fail_errno (errno, "cannot write");

  um = umask (0);
  umask (um);
  if (mode < 0)
    mode = 0644 & ~um;

  /* O_TMPFILE: the data has no name until it is complete, so a failed or
   * killed writer leaves nothing behind */
  tfd = openat (dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (tfd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
    {
      for (int i = 0; i < 100 && tfd < 0; i++)
        {
          snprintf (tmpname, sizeof tmpname, ".#%s.%08x", base, (unsigned) random ());
          tfd = openat (dfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
          if (tfd < 0 && errno != EEXIST)
            break;
        }
      named_tmp = tfd >= 0;
    }
  if (tfd < 0)
    return fail_errno (errno, "cannot create a file in the directory");

#define FAIL_TMP(...) do { int _r = __VA_ARGS__; if (named_tmp) unlinkat (dfd, tmpname, 0); return _r; } while (0)

  /* a bigger pipe from the writer means fewer wake-ups per MiB (best
   * effort: the writer's pipe, unprivileged limit 1 MiB) */
  if (is_pipe (STDIN_FILENO))
    (void) fcntl (STDIN_FILENO, F_SETPIPE_SZ, CHUNK);

  for (;;)
    {
      size_t want = CHUNK;
      ssize_t n;
      /* ask for one byte past the limit, so "exactly max_size" passes */
      if (max_size > 0 && max_size - total + 1 < want)
        want = (size_t) (max_size - total + 1);
      n = copy_in (tfd, want);
      if (n < 0)
        FAIL_TMP (fail_errno (errno, "write"));
      if (n == 0)
        break;
      total += (uint64_t) n;
      if (max_size > 0 && total > max_size)
        FAIL_TMP (fail (STATUS_TOO_BIG, "more than max_size %" PRIu64 " bytes", max_size));
    }

  if (size >= 0 && total != (uint64_t) size)
    FAIL_TMP (fail (STATUS_INVALID, "size: %" PRIu64 " bytes arrived, %" PRId64 " were announced",
                    total, size));

  if (fchmod (tfd, (mode_t) mode) < 0)
    FAIL_TMP (fail_errno (errno, "chmod"));
  if (fsync (tfd) < 0)
    FAIL_TMP (fail_errno (errno, "fsync"));

  if (named_tmp)
    {
      if (replace)
        {
          if (renameat (dfd, tmpname, dfd, base) < 0)
            FAIL_TMP (fail_errno (errno, "rename"));
        }
      else if (renameat2 (dfd, tmpname, dfd, base, RENAME_NOREPLACE) < 0)
        FAIL_TMP (fail_errno (errno, "rename"));
    }
  else
    {
      /* linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc
       * route works for any user */
      snprintf (proc, sizeof proc, "/proc/self/fd/%d", tfd);
      if (!replace)
        {
          /* link never replaces: an existing name is Exists, atomically */
          if (linkat (AT_FDCWD, proc, dfd, base, AT_SYMLINK_FOLLOW) < 0)
            return errno == EEXIST
              ? fail (STATUS_EXISTS, "the file exists and replace is false")
              : fail_errno (errno, "link");
        }
      else
        {
          /* give it a hidden name, then rename over the target */
          int r = -1;
          for (int i = 0; i < 100 && r < 0; i++)
            {
              snprintf (tmpname, sizeof tmpname, ".#%s.%08x", base, (unsigned) random ());
              r = linkat (AT_FDCWD, proc, dfd, tmpname, AT_SYMLINK_FOLLOW);
              if (r < 0 && errno != EEXIST)
                break;
            }
          if (r < 0)
            return fail_errno (errno, "link");
          named_tmp = true;
          if (renameat (dfd, tmpname, dfd, base) < 0)
            FAIL_TMP (fail_errno (errno, "rename"));
        }
    }
  close (tfd);

  /* the rename is durable only once the directory is */
  if (fsync (dfd) < 0)
    return fail_errno (errno, "fsync of the directory");

  {
    char line[64];
    snprintf (line, sizeof line, "ok: %" PRIu64 "\n", total);
    say (line);
  }
  return STATUS_OK;
#undef FAIL_TMP
}

/* ---- main ------------------------------------------------------------- */

/* ROOT/PATH for messages, control characters as \xNN so that a message
 * stays one line */
static void
set_display_path (const char *root, const char *path)
{
  size_t n = 0;
  bool slash = root[0] && root[strlen (root) - 1] == '/';

  for (int part = 0; part < 3; part++)
    {
      const char *s = part == 0 ? root : part == 1 ? (slash ? "" : "/") : path;
      for (; *s && n + 5 < sizeof display_path; s++)
        {
          unsigned char c = (unsigned char) *s;
          if (c < 0x20 || c == 0x7f)
            n += (size_t) snprintf (display_path + n, 5, "\\x%02x", c);
          else
            display_path[n++] = (char) c;
        }
    }
  display_path[n] = '\0';
}

static int
usage (void)
{
  snprintf (display_path, sizeof display_path, "(arguments)");
  return fail (STATUS_INVALID, "usage: anyd-files-helper read|write [--max-size N] "
               "[--mode OCTAL] [--no-create] [--no-replace] [--size N] [--] ROOT PATH");
}

static bool
parse_u64 (const char *s, int base, uint64_t *out)
{
  char *end;
  if (*s == '\0' || *s == '-')
    return false;
  errno = 0;
  *out = strtoull (s, &end, base);
  return errno == 0 && *end == '\0';
}

int
main (int argc, char **argv)
{
  const char *verb, *root, *path;
  uint64_t max_size = 0, v;
  long mode = -1;
  int64_t size = -1;
  bool create = true, replace = true;
  int i, rootfd;
  struct stat st;

  if (argc < 2)
    return usage ();
  verb = argv[1];
  if (strcmp (verb, "read") != 0 && strcmp (verb, "write") != 0)
    return usage ();

  for (i = 2; i < argc && strncmp (argv[i], "--", 2) == 0; i++)
    {
      if (strcmp (argv[i], "--") == 0)
        {
          i++;
          break;
        }
      else if (strcmp (argv[i], "--max-size") == 0 && i + 1 < argc && parse_u64 (argv[i + 1], 10, &max_size))
        i++;
      else if (strcmp (argv[i], "--mode") == 0 && i + 1 < argc && parse_u64 (argv[i + 1], 8, &v) && v <= 0777)
        {
          mode = (long) v;
          i++;
        }
      else if (strcmp (argv[i], "--size") == 0 && i + 1 < argc && parse_u64 (argv[i + 1], 10, &v) &&
               v <= INT64_MAX)
        {
          size = (int64_t) v;
          i++;
        }
      else if (strcmp (argv[i], "--no-create") == 0)
        create = false;
      else if (strcmp (argv[i], "--no-replace") == 0)
        replace = false;
      else
        return usage ();
    }
  if (argc - i != 2)
    return usage ();
  root = argv[i];
  path = argv[i + 1];

  set_display_path (root, path);

  /* anyd hands over normalised paths; anything else is refused here too */
  if (root[0] != '/')
    return fail (STATUS_INVALID, "the root is not an absolute path");
  if (path[0] == '\0' || path[0] == '/')
    return fail (STATUS_INVALID, "the path must name a file relative to its root");
  for (const char *p = path; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      return fail (STATUS_INVALID, "control character in the path");

  signal (SIGPIPE, SIG_IGN);
  srandom ((unsigned) getpid () ^ (unsigned) time (NULL));

  rootfd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    {
      int err = errno;
      if (err == ENOENT || err == ENOTDIR)
        return fail (STATUS_NOT_FOUND, "the root %s does not exist or is not a directory", root);
      return fail_errno (err, "cannot open the root");
    }
  if (fstat (rootfd, &st) < 0 || !S_ISDIR (st.st_mode))
    return fail (STATUS_NOT_FOUND, "the root %s is not a directory", root);

  if (strcmp (verb, "read") == 0)
    return do_read (rootfd, path, max_size);
  return do_write (rootfd, path, max_size, mode, create, replace, size);
}
