/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The exec module's own structures, shared by its two files:
 * exec-module.c (org.anyd1.Exec: Run, RunPty, config, re-adoption) and
 * exec-process.c (org.anyd1.ExecProcess: one command's life). */
#pragma once
#include "module.h"
#include "daemon.h"
#include "systemd.h"
#include "anyd-dbus.h"
#include "exec-request.h"

#define EXEC_PATH           "/org/anyd1/exec"
#define EXEC_PROCESSES_PATH EXEC_PATH "/processes"
#define EXEC_IFACE          "org.anyd1.Exec"
#define EXEC_PROCESS_IFACE  "org.anyd1.ExecProcess"
#define EXEC_ACTION_RUN     "org.anyd1.exec.run"
#define EXEC_ACTION_MANAGE  "org.anyd1.exec.manage"
#define EXEC_UNIT_PREFIX    "anyd-exec-"
#define EXEC_STOP_TIMEOUT_US (5 * G_USEC_PER_SEC)

typedef struct _ExecModule  ExecModule;
typedef struct _ExecProcess ExecProcess;

struct _ExecModule {
  AnydDaemon             *daemon;
  AnydSystemd            *systemd;
  AnydDBusObjectSkeleton *object;
  AnydDBusExec           *skeleton;
  ExecPolicy              policy;
  char                   *allow_origin;
  guint                   max_processes;
  guint                   keep_exited_s;
  guint64                 slice_memory_max;
  guint64                 slice_tasks_max;
  GHashTable             *processes;    /* unit name -> ExecProcess* (a reference) */
  GHashTable             *slices_set;   /* uid -> TRUE: slice limits applied */
  guint64                 next_id;
  guint                   metrics_id;   /* the live-process gauge's collector */
  gint64                  tty_gid;      /* group of pty slaves, -1: the user's own */
  gboolean                stopped;
};

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

struct _ExecProcess {
  ExecModule             *module;       /* a reference */
  char                   *unit;
  char                   *path;
  guint64                 id;
  ExecInfo                info;
  AnydCaller             *creator;
  AnydDBusObjectSkeleton *object;
  AnydDBusExecProcess    *iface;
  guint                   props_watch;
  guint                   name_watch;
  guint                   expire_source;
  gboolean                exported;
  gboolean                started;      /* the start job is done */
  gboolean                exited;
  gboolean                reading_exit;
  gboolean                stop_requested;
  gboolean                kill_requested;
  gboolean                counted;      /* holds one of its creator's [limits] resources */
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

ExecModule  *exec_module_ref (ExecModule *m);
void         exec_module_unref (ExecModule *m);

void         exec_info_clear (ExecInfo *info);

/* A process object for unit (not exported yet); added to m->processes. */
ExecProcess *exec_process_new (ExecModule *m, guint64 id, const char *unit, ExecInfo *info,
                               AnydCaller *creator);
ExecProcess *exec_process_ref (ExecProcess *p);
void         exec_process_unref (ExecProcess *p);
/* The start job finished: export, watch the creator's name, handle an exit
 * reported meanwhile. check_state: also ask systemd (adoption, where the
 * watch came after the unit's last changes). */
void         exec_process_started (ExecProcess *p, guint64 started_at_us, gboolean check_state);
/* Take it out of the module (unexport, unwatch, fail waiters with error). */
void         exec_process_remove (ExecProcess *p, const char *why);
/* The systemd property watch callback (installed before the start). */
void         exec_process_on_properties (const char *unit, const char *iface, GVariant *changed,
                                         const char *const *invalidated, gpointer user_data);
/* Number of running (or starting) processes created by uid. */
guint        exec_module_count_running (ExecModule *m, guint32 uid);
