/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A polkit text agent that treats end of input at the password prompt as
 * "cancel".  polkit's own PolkitAgentTextListener calls g_error() on EOF
 * (Ctrl-D), which aborts the whole client; here EOF cancels the session,
 * polkitd answers the call with a dismissed authorization and the client
 * exits with its usual one-line error.  The prompt reads /dev/tty with echo
 * off, and puts the terminal back even when Ctrl-C ends the client there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <polkit/polkit.h>

#include "agent.h"

struct _AnydClientAgent {
  PolkitAgentListener parent_instance;

  int tty;                      /* /dev/tty, O_RDWR */
  PolkitAgentSession *session;  /* the one authentication in progress */
  GTask *task;
  gulong cancel_id;
  gboolean cancelled;           /* EOF or the caller's cancellable */
};

G_DEFINE_FINAL_TYPE (AnydClientAgent, anyd_client_agent, POLKIT_AGENT_TYPE_LISTENER)

/* The terminal's settings while echo is off, for the SIGINT handler. */
static int saved_tty = -1;
static struct termios saved_termios;

static void
restore_tty_and_die (int sig)
{
  /* async-signal-safe only */
  if (saved_tty >= 0)
    tcsetattr (saved_tty, TCSANOW, &saved_termios);
  (void) !write (saved_tty >= 0 ? saved_tty : STDERR_FILENO, "\n", 1);
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
say (AnydClientAgent *self, const char *text)
{
  gsize len = strlen (text);

  while (len > 0)
    {
      ssize_t n = write (self->tty, text, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      text += n;
      len -= (gsize) n;
    }
}

/* Shows prompt and reads one line from the terminal, echo off unless
 * echo_on.  NULL on end of input (Ctrl-D on an empty line) or a read error.
 * Echo goes off before the prompt shows and without flushing, so what is
 * typed as soon as the prompt appears is neither echoed nor lost. */
static char *
read_line (AnydClientAgent *self, const char *prompt, gboolean echo_on)
{
  GString *line = g_string_new (NULL);
  struct termios off;
  struct sigaction sa = { 0 }, old_int, old_term, old_quit;
  gboolean eof = FALSE, restore = FALSE;

  if (!echo_on && tcgetattr (self->tty, &saved_termios) == 0)
    {
      off = saved_termios;
      off.c_lflag &= ~(tcflag_t) ECHO;
      off.c_lflag |= ECHONL;
      saved_tty = self->tty;
      sa.sa_handler = restore_tty_and_die;
      sigaction (SIGINT, &sa, &old_int);
      sigaction (SIGTERM, &sa, &old_term);
      sigaction (SIGQUIT, &sa, &old_quit);
      restore = tcsetattr (self->tty, TCSANOW, &off) == 0;
    }
  say (self, prompt);

  for (;;)
    {
      char c;
      ssize_t n = read (self->tty, &c, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          /* Ctrl-D ends a partly typed line first: that counts as typed */
          eof = line->len == 0;
          break;
        }
      if (c == '\n')
        break;
      g_string_append_c (line, c);
    }

  if (restore)
    tcsetattr (self->tty, TCSADRAIN, &saved_termios);
  if (!echo_on)
    {
      saved_tty = -1;
      sigaction (SIGINT, &old_int, NULL);
      sigaction (SIGTERM, &old_term, NULL);
      sigaction (SIGQUIT, &old_quit, NULL);
    }
  if (eof)
    {
      say (self, "\n");
      explicit_bzero (line->str, line->allocated_len);
      g_string_free (line, TRUE);
      return NULL;
    }
  return g_string_free (line, FALSE);
}

static void
on_request (PolkitAgentSession *session, const char *request, gboolean echo_on, gpointer user_data)
{
  AnydClientAgent *self = user_data;
  char *answer;

  /* PAM's prompt ("Password: "), without a newline */
  answer = read_line (self, request, echo_on);
  if (answer == NULL)
    {
      self->cancelled = TRUE;
      polkit_agent_session_cancel (session);
      return;
    }
  polkit_agent_session_response (session, answer);
  explicit_bzero (answer, strlen (answer));
  g_free (answer);
}

static void
on_show_text (PolkitAgentSession *session, const char *text, gpointer user_data)
{
  AnydClientAgent *self = user_data;

  say (self, text);
  say (self, "\n");
}

static void
finish (AnydClientAgent *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->task);

  if (self->cancel_id != 0)
    g_cancellable_disconnect (g_task_get_cancellable (task), self->cancel_id);
  self->cancel_id = 0;
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  if (self->cancelled)
    g_task_return_new_error (task, POLKIT_ERROR, POLKIT_ERROR_CANCELLED,
                             "%s", _("Authentication was cancelled"));
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_completed (PolkitAgentSession *session, gboolean gained, gpointer user_data)
{
  AnydClientAgent *self = user_data;

  if (!gained && !self->cancelled)
    say (self, _("Authentication failed.\n"));
  finish (self);
}

static void
on_cancelled (GCancellable *cancellable, gpointer user_data)
{
  AnydClientAgent *self = user_data;

  /* polkitd withdrew the request (CancelAuthentication) */
  self->cancelled = TRUE;
  if (self->session != NULL)
    polkit_agent_session_cancel (self->session);
}

/* The identity to authenticate as: this user if polkit accepts it (auth_self),
 * else the first one offered (an administrator). */
static PolkitIdentity *
choose_identity (GList *identities)
{
  for (GList *l = identities; l != NULL; l = l->next)
    if (POLKIT_IS_UNIX_USER (l->data) &&
        (uid_t) polkit_unix_user_get_uid (POLKIT_UNIX_USER (l->data)) == getuid ())
      return l->data;
  return identities != NULL ? identities->data : NULL;
}

static void
initiate_authentication (PolkitAgentListener *listener, const char *action_id, const char *message,
                         const char *icon_name, PolkitDetails *details, const char *cookie,
                         GList *identities, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  AnydClientAgent *self = ANYD_CLIENT_AGENT (listener);
  g_autoptr(GTask) task = g_task_new (listener, cancellable, callback, user_data);
  PolkitIdentity *identity = choose_identity (identities);
  g_autofree char *who = NULL;
  g_autofree char *text = NULL;

  g_task_set_source_tag (task, initiate_authentication);
  if (self->task != NULL || identity == NULL)
    {
      g_task_return_new_error (task, POLKIT_ERROR, POLKIT_ERROR_FAILED, "%s",
                               identity == NULL ? _("No identity to authenticate as")
                                                : _("An authentication is already in progress"));
      return;
    }

  if (POLKIT_IS_UNIX_USER (identity))
    {
      struct passwd *pw = getpwuid ((uid_t) polkit_unix_user_get_uid (POLKIT_UNIX_USER (identity)));
      who = pw != NULL ? g_strdup (pw->pw_name) : polkit_identity_to_string (identity);
    }
  else
    who = polkit_identity_to_string (identity);
  text = g_strdup_printf (_("Authentication is needed: %s\nAuthenticating as %s "
                            "(Ctrl-D cancels)\n"), message, who);
  say (self, text);

  self->task = g_steal_pointer (&task);
  self->cancelled = FALSE;
  self->session = polkit_agent_session_new (identity, cookie);
  g_signal_connect (self->session, "request", G_CALLBACK (on_request), self);
  g_signal_connect (self->session, "show-info", G_CALLBACK (on_show_text), self);
  g_signal_connect (self->session, "show-error", G_CALLBACK (on_show_text), self);
  g_signal_connect (self->session, "completed", G_CALLBACK (on_completed), self);
  if (cancellable != NULL)
    self->cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (on_cancelled), self, NULL);
  polkit_agent_session_initiate (self->session);
}

static gboolean
initiate_authentication_finish (PolkitAgentListener *listener, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
anyd_client_agent_finalize (GObject *object)
{
  AnydClientAgent *self = ANYD_CLIENT_AGENT (object);

  if (self->tty >= 0)
    close (self->tty);
  G_OBJECT_CLASS (anyd_client_agent_parent_class)->finalize (object);
}

static void
anyd_client_agent_class_init (AnydClientAgentClass *klass)
{
  POLKIT_AGENT_LISTENER_CLASS (klass)->initiate_authentication = initiate_authentication;
  POLKIT_AGENT_LISTENER_CLASS (klass)->initiate_authentication_finish = initiate_authentication_finish;
  G_OBJECT_CLASS (klass)->finalize = anyd_client_agent_finalize;
}

static void
anyd_client_agent_init (AnydClientAgent *self)
{
  self->tty = -1;
}

PolkitAgentListener *
anyd_client_agent_new (GError **error)
{
  int tty = open ("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  AnydClientAgent *self;

  if (tty < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                   _("cannot open the terminal: %s"), g_strerror (e));
      return NULL;
    }
  self = g_object_new (ANYD_CLIENT_TYPE_AGENT, NULL);
  self->tty = tty;
  return POLKIT_AGENT_LISTENER (self);
}
