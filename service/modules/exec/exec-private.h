/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exec module's shared types:
 *   exec-module.c   org.anyd1.Exec, config, re-adoption, and the books on its
 *                   processes (registry, daemon hold, [limits]): its struct is its own
 *   exec-start.c    Run and RunPty: from the call to the command's started unit
 *   exec-process.c  org.anyd1.ExecProcess: one command's life
 *   exec-request.c  a Run/RunPty request parsed and checked (exec-request.h) */
#pragma once
#include "module.h"
#include "daemon.h"
#include "systemd.h"
#include "anyd-dbus.h"
#include "exec-request.h"

#define EXEC_PATH               "/org/anyd1/exec"
#define EXEC_PROCESSES_PATH     EXEC_PATH "/processes"
#define EXEC_IFACE              "org.anyd1.Exec"
#define EXEC_PROCESS_IFACE      "org.anyd1.ExecProcess"
#define ANYD_ACTION_EXEC_RUN    "org.anyd1.exec.run"
#define ANYD_ACTION_EXEC_MANAGE "org.anyd1.exec.manage"
#define EXEC_UNIT_PREFIX        "anyd-exec-"
#define EXEC_STOP_TIMEOUT_US    (5 * G_USEC_PER_SEC)

/* What a request is checked against, read in threads (the gate's details
 * and precheck, the start): immutable, atomically refcounted. */
typedef struct {
  ExecPolicy  policy;
  char       *allow_origin;
} ExecRules;

void exec_rules_unref (ExecRules *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExecRules, exec_rules_unref)

/* What a process records for polkit details and the audit; also written to
 * the unit (LogExtraFields) so a restarted anyd can adopt it again. */
typedef struct {
  char     **argv;
  char      *command;
  char      *command_line;
  char      *user;          /* the user it runs as (name) */
  char      *cwd;           /* "" = the user's home */
  char      *sandbox;
  gboolean   pty;
  gboolean   keep_running;
  guint32    creator_uid;
  char      *creator_sender;
} ExecInfo;

/* One command, on the bus at EXEC_PROCESSES_PATH/<id> once started. It
 * knows nothing of the module: it follows its unit, answers its methods and
 * signals what the module keeps books on (registry, daemon hold, [limits]):
 *   "exited"   the command ended (State is "exited" now)
 *   "removed"  off the bus for good (exec_process_remove()); emitted once
 * The module may set keep_exited_s (a Reload) and reads the rest. */
#define EXEC_TYPE_PROCESS (exec_process_get_type ())
G_DECLARE_FINAL_TYPE (ExecProcess, exec_process, EXEC, PROCESS, GObject)

struct _ExecProcess {
  GObject                 parent;
  AnydDaemon             *daemon;
  AnydSystemd            *systemd;      /* the module's; used until removed */
  guint                   keep_exited_s;
  char                   *unit;
  char                   *path;
  guint64                 id;
  ExecInfo                info;
  AnydCaller             *creator;
  AnydDBusObjectSkeleton *object;       /* NULL once removed */
  AnydDBusExecProcess    *iface;        /* NULL once removed */
  guint                   props_watch;
  guint                   name_watch;
  guint                   expire_source;
  gboolean                exported;
  gboolean                started;      /* the start job is done */
  gboolean                exited;
  gboolean                reading_exit;
  gboolean                stop_requested;
  gboolean                kill_requested;
  gboolean                removed;
  gint64                  started_mono; /* for the runtime in the audit */
  /* ExecMain* of the Service interface as PropertiesChanged reported them,
   * so an exit usually needs no extra call. */
  gint32                  main_code;
  gint32                  main_status;
  guint64                 main_start_ts;
  guint64                 main_exit_ts;
  char                   *result;
  char                   *active_state; /* the last ActiveState reported */
  GPtrArray              *waiters;      /* GDBusMethodInvocation* of Wait() */
};

void         exec_info_clear (ExecInfo *info);

/* A process object for unit (not exported yet), watching the unit's
 * properties (props_watch 0: too many watches). Takes info's contents. */
ExecProcess *exec_process_new (AnydDaemon *daemon, AnydSystemd *systemd, guint keep_exited_s,
                               guint64 id, const char *unit, ExecInfo *info, AnydCaller *creator);
/* The start job finished: export, watch the creator's name, handle an exit
 * reported meanwhile. check_state: also ask systemd (adoption, where the
 * watch came after the unit's last changes). */
void         exec_process_started (ExecProcess *p, guint64 started_at_us, gboolean check_state);
/* Off the bus for good (unexport, unwatch, fail waiters with why), then
 * "removed". Also after the keep_exited_s of an exited process. */
void         exec_process_remove (ExecProcess *p, const char *why);

/* ---- exec-start.c */
/* What the start path asks of the module, which keeps the books; it knows
 * nothing else of it. data: the module, held (ref) while a start is on its
 * way; the others are called only while stopped() is FALSE. */
typedef struct {
  GBoxedCopyFunc ref;
  GDestroyNotify unref;
  /* anyd is stopping: the start fails */
  gboolean     (*stopped) (gpointer data);
  /* May uid have one more process ([exec] max_processes, [limits])? */
  gboolean     (*admit) (guint32 uid, gpointer data, GError **error);
  /* A process object with the next id and its unit, tracked (registry,
   * [limits] charge, daemon hold) until removed. Takes info's contents. */
  ExecProcess *(*new_process) (ExecInfo *info, AnydCaller *creator, gpointer data);
  /* The limits of uid's slice, if they are still to be set on it ([exec]
   * slice_*; 0: none); FALSE if set already. */
  gboolean     (*slice_limits) (guint32 uid, guint64 *memory_max, guint64 *tasks_max, gpointer data);
  /* uid's slice has its limits now. */
  void         (*slice_set) (guint32 uid, gpointer data);
} ExecStartHooks;

typedef struct {
  const ExecStartHooks *hooks;
  gpointer              data;
  AnydSystemd          *systemd;    /* the module's; used only while not stopped */
  gint64                tty_gid;    /* group of pty slaves, -1: the user's own */
} ExecStartEnv;

/* Run (fd_list: the fds sent with it) or RunPty: answers invocation when the
 * start job is done. Takes rules (what the request is checked against). */
void exec_start_run (const ExecStartEnv *env, ExecRules *rules, GDBusMethodInvocation *invocation,
                     GUnixFDList *fd_list, gboolean pty);
