/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A Run/RunPty request, parsed and checked without touching systemd:
 * argv, options, command resolution, the allowlist, the environment. Pure
 * apart from reading the file system (stat/realpath), so the gate's
 * details func, its precheck and the handler all use the same rules, and
 * the fuzz target can drive it. The file system part (check_files,
 * exec_resolve_command) may block on a hung mount: anyd calls it in a
 * thread only. */
#pragma once
#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  char    **path_dirs;        /* [exec] path: where bare names are looked up */
  char    **allow;            /* [exec] allow: canonical paths or patterns; empty = any */
  char     *default_sandbox;  /* strict | none */
} ExecPolicy;

typedef struct {
  char    **argv;            /* as given (argv[0] too: what the program sees) */
  char     *command;         /* canonical absolute path of the program */
  char     *command_line;    /* argv for people: quoted where needed, control chars escaped */
  char    **env;             /* KEY=value, NULL if none */
  char     *user;            /* NULL: the caller */
  char     *cwd;             /* NULL: the user's home */
  guint32   timeout_ms;      /* 0: none */
  guint64   memory_max;      /* 0: none */
  guint32   cpu_quota;       /* percent of one CPU, 0: none */
  guint64   tasks_max;       /* 0: none */
  gboolean  network;
  char     *sandbox;         /* strict | none */
  gboolean  keep_running;
  gint      fd_index[3];     /* stdin, stdout, stderr: index into the message's fds, -1 none */
  gboolean  pty;
  guint32   rows, columns;   /* pty size, 0: unset */
  char     *term;            /* pty: TERM */
} ExecRequest;

#define EXEC_TIMEOUT_MAX_MS   (30u * 24 * 3600 * 1000)   /* 30 days */
#define EXEC_MEMORY_MIN       (1024 * 1024)
#define EXEC_MEMORY_MAX       (G_GUINT64_CONSTANT (1) << 50)
#define EXEC_CPU_QUOTA_MAX    100000u                   /* 1000 CPUs */
#define EXEC_TASKS_MAX        (G_GUINT64_CONSTANT (1) << 22)
#define EXEC_ARGV_MAX         4096
#define EXEC_ENV_MAX          512
#define EXEC_ARGS_BYTES_MAX   (256 * 1024)

void         exec_request_free (ExecRequest *req);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExecRequest, exec_request_free)

/* Parse (as argv, a{sv} options) as Run (pty FALSE) or RunPty takes them.
 * Errors name the field: InvalidArgument (bad value), NotFound (argv[0]
 * not found). The allowlist is not checked here: see exec_request_allowed.
 * Without check_files argv[0] is not looked up (command stays NULL): what
 * may be said to a caller polkit has not authorized yet, since anyd looks
 * as root. cwd is only checked to be absolute: systemd finds out whether the
 * user can enter it. */
ExecRequest *exec_request_parse (GVariant *parameters, gboolean pty, const ExecPolicy *policy,
                                 gboolean check_files, GError **error);
/* The canonical command for argv[0], or NULL (NotFound / InvalidArgument). */
char        *exec_resolve_command (const char *argv0, const ExecPolicy *policy, GError **error);

/* [exec] allow=: NotAuthorized naming the allowlist when the canonical
 * command is not on it (an empty list allows any command). */
gboolean     exec_request_allowed (const ExecRequest *req, const ExecPolicy *policy,
                                   const char *origin, GError **error);

/* Variables that change what a program loads or runs (LD_*, PYTHON*…):
 * refused unless the command runs as the caller. */
gboolean     exec_env_name_is_dangerous (const char *name);
gboolean     exec_request_check_env_for_other_user (const ExecRequest *req, GError **error);

/* text with control characters as \xNN (for polkit details, the audit). */
char        *exec_escape_controls (const char *text);
/* Allowlist entries: absolute, canonical or an fnmatch pattern. */
gboolean     exec_allow_entry_is_valid (const char *entry, GError **error);

G_END_DECLS
