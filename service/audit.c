/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "audit.h"
#include "names.h"

#include <systemd/sd-journal.h>
#include <stdio.h>
#include <unistd.h>

static AnydAuditSink audit_sink;
static gpointer audit_sink_data;

void
anyd_audit_set_sink (AnydAuditSink sink, gpointer user_data)
{
  audit_sink = sink;
  audit_sink_data = user_data;
}

static void
append_field (GString *line, const char *key, const char *value)
{
  gboolean quote = FALSE;

  if (value == NULL)
    return;
  for (const char *p = value; *p; p++)
    if (*p == ' ' || *p == '"' || *p == '\\' || (guchar) *p < 0x20)
      quote = TRUE;
  if (line->len > 0)
    g_string_append_c (line, ' ');
  g_string_append_printf (line, "%s=", key);
  if (!quote && *value != '\0')
    {
      g_string_append (line, value);
      return;
    }
  g_string_append_c (line, '"');
  for (const char *p = value; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (line, "\\%c", *p);
      else if ((guchar) *p < 0x20)
        g_string_append_printf (line, "\\x%02x", (guchar) *p);
      else
        g_string_append_c (line, *p);
    }
  g_string_append_c (line, '"');
}

void
anyd_audit (const AnydAuditRecord *r)
{
  static gint use_journal = -1;
  char uid[16] = "", pid[16] = "";
  g_autofree char *message = NULL;

  if (audit_sink != NULL)
    {
      audit_sink (r, audit_sink_data);
      return;
    }

  if (r->caller != NULL)
    {
      g_snprintf (uid, sizeof uid, "%u", r->caller->uid);
      g_snprintf (pid, sizeof pid, "%u", r->caller->pid);
    }
  message = g_strdup_printf ("%s%s%s: %s%s%s", r->action ? r->action : "-",
                             r->caller ? " by uid " : "", uid, r->result ? r->result : "-",
                             r->message ? ": " : "", r->message ? r->message : "");

  if (use_journal < 0)
    use_journal = g_log_writer_is_journald (fileno (stderr));

  if (use_journal)
    {
      sd_journal_send ("MESSAGE_ID=%s", r->message_id,
                       "MESSAGE=%s", message,
                       "PRIORITY=%d", 6,
                       "SYSLOG_IDENTIFIER=anyd",
                       "ANYD_ACTION=%s", r->action ? r->action : "",
                       "ANYD_CALLER_UID=%s", uid,
                       "ANYD_CALLER_PID=%s", pid,
                       "ANYD_SENDER=%s", r->caller ? r->caller->sender : "",
                       "ANYD_OBJECT=%s", r->object ? r->object : "",
                       "ANYD_RESULT=%s", r->result ? r->result : "",
                       "ANYD_DETAILS=%s", r->details ? r->details : "",
                       NULL);
      return;
    }

  {
    g_autoptr(GString) line = g_string_new (NULL);
    append_field (line, "MESSAGE_ID", r->message_id);
    append_field (line, "ANYD_ACTION", r->action);
    if (r->caller != NULL)
      {
        append_field (line, "ANYD_CALLER_UID", uid);
        append_field (line, "ANYD_CALLER_PID", pid);
        append_field (line, "ANYD_SENDER", r->caller->sender);
      }
    append_field (line, "ANYD_OBJECT", r->object);
    append_field (line, "ANYD_RESULT", r->result);
    append_field (line, "ANYD_DETAILS", r->details);
    append_field (line, "MESSAGE", message);
    g_string_append_c (line, '\n');
    /* One write per record so concurrent lines never interleave. */
    if (write (STDERR_FILENO, line->str, line->len) < 0)
      { /* nowhere left to report */ }
  }
}

void
anyd_audit_action (const AnydCaller *caller, const char *action, const char *object,
                   const GError *error, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  AnydAuditRecord r = {
    .message_id = ANYD_MSGID_ACTION,
    .action = action,
    .caller = caller,
    .object = object,
    .result = error ? "error" : "ok",
  };

  if (fmt != NULL)
    {
      va_list ap;
      va_start (ap, fmt);
      text = g_strdup_vprintf (fmt, ap);
      va_end (ap);
    }
  if (error != NULL)
    {
      g_autofree char *with_error = g_strdup_printf ("%s%s%s", text ? text : "", text ? ": " : "",
                                                     error->message);
      g_free (text);
      text = g_steal_pointer (&with_error);
    }
  r.message = text;
  anyd_audit (&r);
}
