/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client: what every command group shares.
 *
 * A command group is one file (tun.c, vpn.c, …) that defines
 *
 *   const AnydClientGroup anyd_client_group_<file> = { … };
 *
 * A module's group is the file named after the module (client/<module>.c,
 * found from anyd_module_names); the daemon's own groups are listed in
 * client/meson.build (anyd_client_group_names).
 * main.c parses the global options, finds the group and the command, parses
 * the command's own options, checks the number of arguments and calls the
 * handler.  Handlers call methods through libanyd's generated proxies
 * (anyd_client_proxy_new() and ANYD_CLIENT_TYPED_CALL below), read properties
 * through the property helpers below, and print through the JSON / table
 * helpers, so --json, --no-ask-password, --timeout, --host, --verbose and the
 * polkit text agent work the same everywhere.
 */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib/gi18n.h>

G_BEGIN_DECLS

/* Names fixed by the API (docs/api.md).  The client does not share code with the daemon. */
#define ANYD_CLIENT_BUS_NAME       "org.anyd1"
#define ANYD_CLIENT_PATH           "/org/anyd1"
#define ANYD_CLIENT_IFACE_MANAGER  "org.anyd1.Manager"
#define ANYD_CLIENT_ERROR_PREFIX   "org.anyd1.Error."

/* Exit codes (anyd-client(1)). */
typedef enum {
  ANYD_CLIENT_EXIT_OK = 0,
  ANYD_CLIENT_EXIT_FAILURE = 1,        /* anything else, also "anyd is not running" */
  ANYD_CLIENT_EXIT_USAGE = 2,          /* bad command line, org.anyd1.Error.InvalidArgument */
  ANYD_CLIENT_EXIT_NOT_AUTHORIZED = 3, /* NotAuthorized, NotAuthorizedCanObtain,
                                          AuthorizationDismissed, AccessDenied */
  ANYD_CLIENT_EXIT_NOT_FOUND = 4,      /* NotFound, no such object */
  ANYD_CLIENT_EXIT_EXISTS = 5,         /* Exists, Busy */
} AnydClientExit;

typedef enum {
  ANYD_CLIENT_COLOR_AUTO,   /* on a terminal, unless NO_COLOR or TERM=dumb */
  ANYD_CLIENT_COLOR_ALWAYS,
  ANYD_CLIENT_COLOR_NEVER,
} AnydClientColor;

typedef struct _AnydClientContext AnydClientContext;

/* Global options and the lazily opened bus connection.  Groups read the
 * public fields; main.c fills them in. */
struct _AnydClientContext {
  gboolean json;          /* --json: print JSON on stdout, errors included */
  gboolean ask_password;  /* FALSE with --no-ask-password */
  gboolean verbose;       /* --verbose: trace calls on stderr */
  int timeout_ms;         /* --timeout in ms; -1 if not given: method calls then
                             wait without limit (G_MAXINT), property reads use
                             the D-Bus default (25 s) */
  char *host;             /* --host [USER@]HOST[:PORT], or NULL for the local bus */
  const char *command_line; /* "anyd-client tun create", for messages */
  int dashdash;           /* in the handler's argv: index of the first argument
                             that came after "--", or -1 if there was no "--"
                             (tun open [NAME] -- COMMAND…) */
  gboolean quiet;         /* --quiet: changes print nothing on success (errors
                             still go to stderr; JSON is unaffected) */
  char *fields;           /* --fields NAME,…: table columns (or "Label:" rows) */
  gboolean no_legend;     /* --no-legend: tables without their header line */
  gboolean terse;         /* --terse / -t: tables for scripts, as nmcli -t */
  AnydClientColor color;  /* --color=auto|always|never */

  /* private */
  GDBusConnection *bus;
  GSubprocess *ssh;
  gpointer agent;         /* PolkitAgentListener, once registered */
  gpointer agent_handle;
  struct _AnydClient *lib; /* libanyd's client on bus, once asked for */
  guint trace_filter;     /* --verbose: the bus filter that traces typed calls */
  gint tracing;           /* atomic: a typed call is under way (trace it) */
  guint32 trace_serial;   /* atomic: serial of the traced call, for its reply */
};

/* argv[0] is the command name; argv[1..argc-1] are the positional arguments
 * (the command's options are already parsed into its GOptionEntry storage,
 * global options removed, the first "--" removed; ctx->dashdash tells where
 * it was).  Returns an exit code,
 * normally `return anyd_client_fail (ctx, error);` on failure. */
typedef int (*AnydClientHandler) (AnydClientContext *ctx, int argc, char **argv);

typedef struct {
  const char *name;            /* "create" */
  const char *args;            /* argument hint for help, "NAME [-- COMMAND…]", or NULL */
  const char *description;     /* one line, marked N_() */
  AnydClientHandler handler;
  int min_args;                /* positional arguments, without argv[0] */
  int max_args;                /* -1: no limit */
  const GOptionEntry *options; /* the command's own options (static storage), or NULL.
                                  Reserved (taken out of argv anywhere before
                                  "--"): --json, --no-ask-password, --timeout,
                                  --host/-H, --verbose.  --help/-h is GOption's.
                                  --version is free after the group name. */
} AnydClientCommand;

typedef struct {
  const char *name;                  /* "tun": anyd-client tun COMMAND */
  const char *summary;               /* one line, marked N_() */
  const AnydClientCommand *commands; /* terminated by an entry with name NULL */
  const char *default_command;       /* run for "anyd-client GROUP", or NULL: show help */
  gboolean toplevel;                 /* commands are also "anyd-client COMMAND" */
} AnydClientGroup;

/* anyd-client __complete WORD… CURRENT (complete.c): candidates, one a line. */
int anyd_client_complete (AnydClientContext *ctx, int argc, char **argv);

/* Unregisters the text agent, closes the bus; main() calls it on exit. */
void anyd_client_context_clear (AnydClientContext *ctx);

/* ---- talking to the daemon ------------------------------------------- */

/* The system bus (or the remote one with --host), connected on first use. */
GDBusConnection *anyd_client_get_bus (AnydClientContext *ctx, GError **error);

/* libanyd's AnydClient on the same connection (typed proxies, the object
 * manager), made on first use; interactive authorization as --no-ask-password
 * says.  Owned by ctx. */
struct _AnydClient *anyd_client_get_lib (AnydClientContext *ctx, GError **error);

/* Watches one module's events until Ctrl-C (tun, services, exec monitor). */
int anyd_client_monitor_module (AnydClientContext *ctx, const char *module);

/* ssh's argv up to and including the host of --host [USER@]HOST[:PORT]
 * (no NULL at the end): "ssh FLAGS [-p PORT] -- [USER@]HOST"; append the
 * remote command. flags: "-xT" for the bus bridge, "-t" for a terminal. */
GPtrArray *anyd_client_ssh_argv (AnydClientContext *ctx, const char *flags, GError **error);

/* ---- typed calls (libanyd's generated proxies) -------------------------- */

/* A generated proxy (proxy_type, e.g. ANYD_TYPE_TUN_PROXY, with its
 * interface info, anyd_tun_interface_info ()) for object_path on the bus,
 * without loading properties or watching signals: for method calls. */
gpointer anyd_client_proxy_new (AnydClientContext  *ctx,
                                GType               proxy_type,
                                GDBusInterfaceInfo *info,
                                const char         *object_path,
                                GError            **error);

/* The call flags (interactive unless --no-ask-password) and timeout
 * (--timeout) of every call, for the generated
 * anyd_*_call_*_sync () functions' call_flags and timeout_msec. */
GDBusCallFlags anyd_client_call_flags (AnydClientContext *ctx);
int anyd_client_call_timeout (AnydClientContext *ctx);
#define ANYD_CLIENT_CALL_ARGS(ctx) anyd_client_call_flags (ctx), anyd_client_call_timeout (ctx)

/* ANYD_CLIENT_TYPED_CALL (ctx, proxy, error, call) runs call, a generated
 * anyd_*_call_*_sync (…, ANYD_CLIENT_CALL_ARGS (ctx), …, error) returning
 * gboolean: traced with --verbose, retried once after registering the polkit text agent on
 * NotAuthorizedCanObtain, a missing object explained.  call is evaluated
 * a second time for the retry (out arguments are only set on success).
 * error must not be NULL.  Evaluates to the call's result. */
void     anyd_client_typed_begin (AnydClientContext *ctx);
gboolean anyd_client_typed_retry (AnydClientContext *ctx, GError **error);
gboolean anyd_client_typed_end (AnydClientContext *ctx, gpointer proxy, gboolean ok, GError **error);
#define ANYD_CLIENT_TYPED_CALL(ctx, proxy, error, call)                       \
  G_GNUC_EXTENSION ({                                                         \
    gboolean anyd_typed_ok_;                                                  \
    anyd_client_typed_begin (ctx);                                            \
    anyd_typed_ok_ = (call);                                                  \
    if (!anyd_typed_ok_ && anyd_client_typed_retry (ctx, error))              \
      anyd_typed_ok_ = (call);                                                \
    anyd_client_typed_end (ctx, proxy, anyd_typed_ok_, error);                \
  })

/* Reads go through libanyd: a new AnydClient (its object manager client
 * and Manager proxy) loaded now, so every read is fresh (a cached client
 * only follows PropertiesChanged while a main loop runs).  Traced with
 * --verbose; --timeout (default: the D-Bus default, 25 s) bounds it.
 * module, if not NULL: fails with "the MODULE module is not enabled in
 * anyd" (exit code 1) unless Manager.Modules lists it, for listings, which
 * would otherwise just show nothing.  anyd not running is an error. */
struct _AnydClient *anyd_client_snapshot (AnydClientContext *ctx, const char *module, GError **error);

/* The interface proxies (GDBusProxy, full references) of interface among a
 * snapshot's objects, sorted by object path (numbered paths by number). */
GList *anyd_client_snapshot_list (struct _AnydClient *client, const char *interface);

/* A proxy's cached properties as an a{sv} (sorted by name), as
 * Properties.GetAll gives them.  Never floating. */
GVariant *anyd_client_proxy_properties (GDBusProxy *proxy);

/* The properties of interface on object_path -> a{sv}, from libanyd's
 * generated proxy made now (its GetAll: fresh; traced, --timeout as
 * above).  A missing object is anyd's own NotFound if it says one
 * ("device: anyd has no device named …"), else NotFound in the user's
 * words, or "not enabled" below a module that is off. */
GVariant *anyd_client_get_properties (AnydClientContext *ctx,
                                      const char        *object_path,
                                      const char        *interface,
                                      GError           **error);

/* One property, read as anyd_client_get_properties() reads them (the value,
 * not wrapped in v). */
GVariant *anyd_client_get_property (AnydClientContext *ctx,
                                    const char        *object_path,
                                    const char        *interface,
                                    const char        *property,
                                    GError           **error);

/* anyd_client_snapshot (ctx, module, error) without keeping the snapshot. */
gboolean anyd_client_require_module (AnydClientContext *ctx, const char *module, GError **error);

/* Runs loop until it quits or SIGINT/SIGTERM/SIGHUP arrives (for monitor
 * commands).  Returns TRUE if a signal ended it. */
gboolean anyd_client_run_loop (AnydClientContext *ctx, GMainLoop *loop);

/* Reads all of fd (e.g. 0 for stdin) up to max_size bytes (0: 64 MiB);
 * more is an error.  For secret values, which never go on the command line. */
GBytes *anyd_client_read_fd (int fd, gsize max_size, GError **error);

/* ---- errors ------------------------------------------------------------ */

/* The exit code for an error (see AnydClientExit). */
int anyd_client_exit_code_for_error (const GError *error);

/* The D-Bus error name for an error ("org.anyd1.Error.NotFound"); local
 * errors get org.anyd1.Error.Failed / InvalidArgument / Timeout. */
char *anyd_client_error_name (const GError *error);

/* Prints "anyd-client: <message>" on stderr, or {"error": …, "message": …}
 * on stdout with --json, and returns the exit code.  Does not free error. */
int anyd_client_fail (AnydClientContext *ctx, const GError *error);

/* A usage error (exit code 2), printed like anyd_client_fail, with a hint
 * to run --help. */
int anyd_client_usage_error (AnydClientContext *ctx, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* ---- output ------------------------------------------------------------ */

/* GVariant -> JSON (json-glib): strings (s, o, g), ay as base64,
 * dictionaries and lone dict entries as objects with sorted snake_case keys
 * (anyd_client_json_key; non-string keys printed as strings), other arrays
 * and tuples as arrays, v and m unwrapped (nothing -> null), numbers,
 * booleans; the "none" sentinels G_MAXUINT32 / G_MAXUINT64 become null. */
char *anyd_client_variant_to_json (GVariant *value, gboolean pretty);

/* A field name in the JSON key style: "LatestHandshake" -> "latest_handshake",
 * "AllowedIPs" -> "allowed_ips"; keys with '.', '/', '-' or a lower-case
 * start are returned unchanged. */
char *anyd_client_json_key (const char *key);

/* Prints value as JSON on stdout: indented when stdout is a terminal, one
 * line otherwise.  value is consumed if floating. */
void anyd_client_print_json (GVariant *value);

/* Prints value as one JSON line (for streams, e.g. monitor).  Consumes a
 * floating value. */
void anyd_client_print_json_line (GVariant *value);

/* Applies --fields, --no-legend, --terse and --color to the tables below;
 * main() calls it once the global options are parsed. */
void anyd_client_output_init (AnydClientContext *ctx);

/* TRUE once a table could not be printed (an unknown --fields name, already
 * reported): main() then exits with the usage code. */
gboolean anyd_client_output_failed (void);

/* Human output: a table with aligned columns.  Headers (upper case, e.g.
 * "NAME") are given NULL-terminated and untranslated, marked
 * NC_("column", "NAME"): the table shows them translated, and --fields
 * takes the untranslated name (in any language) or the translated one, in
 * any case.  anyd_client_table_new_plain() makes a table without a header
 * line ("Key:  value" lists); there the first cell of each row is an
 * untranslated label marked N_("Version:"), shown translated and matched by
 * --fields as headers are.  add_row takes exactly one const char * per
 * column (copied; NULL prints "-").  The last column is not padded. */
typedef struct _AnydClientTable AnydClientTable;
AnydClientTable *anyd_client_table_new (const char *first_header, ...) G_GNUC_NULL_TERMINATED;
AnydClientTable *anyd_client_table_new_plain (guint n_columns);
void anyd_client_table_add_row (AnydClientTable *table, ...);
void anyd_client_table_add_rowv (AnydClientTable *table, const char *const *cells);
guint anyd_client_table_get_n_rows (AnydClientTable *table);
void anyd_client_table_print (AnydClientTable *table);
/* A further table of the same command (status: "Label:" rows, then
 * ACTION…): after a blank line if a table printed before (not with
 * --terse).  --fields may name fields of any of the command's tables: a
 * table with headers shows those it has and is left out if it has none;
 * a name no table printed so far knows is the usage error. */
void anyd_client_table_print_next (AnydClientTable *table);
void anyd_client_table_free (AnydClientTable *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydClientTable, anyd_client_table_free)

/* A word (or format) shown as a value: "yes", "no", "never", a state,
 * marked N_().  Translated for people; as is with --terse and --json, so
 * scripts get the same output in every locale (as nmcli -t). */
const char *anyd_client_value_word (const char *word) G_GNUC_FORMAT (1);

/* Formatting for human output (all return newly allocated strings); values
 * stay untranslated with --terse and --json (anyd_client_value_word). */
char *anyd_client_format_value (GVariant *value);      /* as -> "a, b", b -> yes/no, … */
char *anyd_client_format_timestamp (guint64 usec);     /* µs since epoch, 0 -> "never" */
char *anyd_client_format_bytes (guint64 bytes);        /* "1.5 MiB"; --terse: "1572864" */

G_END_DECLS
