/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "anyd-build-config.h"
#include "audit.h"
#include "names.h"

#include <systemd/sd-journal.h>
#include <sys/uio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* g_string_append_len without the call when the string has room (it
 * mostly has: the buffers below are sized for a usual record, 600 bytes,
 * which GString rounds to a 1 KiB block, still in malloc's thread cache). */
static inline void
put_len (GString *s, const char *p, gsize n)
{
  if (G_LIKELY (s->len + n < s->allocated_len))
    {
      memcpy (s->str + s->len, p, n);
      s->len += n;
      s->str[s->len] = '\0';
    }
  else
    g_string_append_len (s, p, (gssize) n);
}

static inline void
put (GString *s, const char *p)
{
  put_len (s, p, strlen (p));
}

/* Formatting is on every authorized call's path: plain appends, no
 * printf, whole runs of ordinary characters at a time. A byte's class:
 * 0 as is, 1 quoted (space), 2 escaped (quote, backslash, control). */
static const guint8 byte_class[256] = {
  [1] = 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
  [' '] = 1, ['"'] = 2, ['\\'] = 2,
};

static void
append_field (GString *line, const char *key, const char *value)
{
  static const char hex[] = "0123456789abcdef";
  const guchar *v = (const guchar *) value;
  const guchar *p = v;

  if (line->len > 0)
    g_string_append_c (line, ' ');
  put (line, key);
  g_string_append_c (line, '=');
  while (*p != '\0' && byte_class[*p] == 0)
    p++;
  if (*p == '\0' && p != v)
    {
      put_len (line, value, (gsize) (p - v));
      return;
    }
  g_string_append_c (line, '"');
  for (p = v;;)
    {
      const guchar *run = p;

      while (*p != '\0' && byte_class[*p] < 2)
        p++;
      put_len (line, (const char *) run, (gsize) (p - run));
      if (*p == '\0')
        break;
      g_string_append_c (line, '\\');
      if (*p == '"' || *p == '\\')
        g_string_append_c (line, (char) *p);
      else
        {
          g_string_append_c (line, 'x');
          g_string_append_c (line, hex[*p >> 4]);
          g_string_append_c (line, hex[*p & 0xf]);
        }
      p++;
    }
  g_string_append_c (line, '"');
}

static void
append_opt (GString *line, const char *key, const char *value)
{
  if (value != NULL)
    append_field (line, key, value);
}

/* One journal field "KEY=value" into buf; its offset and length go to iov
 * (pointers are set once buf has stopped growing). */
static void
journal_field (GString *buf, struct iovec *iov, guint *n, const char *key, const char *value)
{
  iov[*n].iov_base = GSIZE_TO_POINTER (buf->len);
  put (buf, key);
  g_string_append_c (buf, '=');
  put (buf, value ? value : "");
  iov[*n].iov_len = buf->len - GPOINTER_TO_SIZE (iov[*n].iov_base);
  (*n)++;
}

/* "%u" into buf (16 bytes), without printf. */
static void
format_uint (char *buf, guint32 v)
{
  char tmp[16];
  guint n = 0, i = 0;

  do
    tmp[n++] = (char) ('0' + v % 10);
  while ((v /= 10) != 0);
  while (n > 0)
    buf[i++] = tmp[--n];
  buf[i] = '\0';
}

void
anyd_audit (const AnydAuditRecord *r)
{
  static gint use_journal = -1;
  char uid[16] = "", pid[16] = "";
  g_autoptr(GString) message = NULL;

  if (r->caller != NULL)
    {
      format_uint (uid, r->caller->uid);
      format_uint (pid, r->caller->pid);
    }
  message = g_string_sized_new (128);
  put (message, r->action ? r->action : "-");
  if (r->caller != NULL)
    {
      put (message, " by uid ");
      put (message, uid);
    }
  put (message, ": ");
  put (message, r->result ? r->result : "-");
  if (r->message != NULL)
    {
      put (message, ": ");
      put (message, r->message);
    }

  if (use_journal < 0)
    use_journal = g_log_writer_is_journald (fileno (stderr));

  if (use_journal)
    {
      g_autoptr(GString) buf = g_string_sized_new (600);
      struct iovec iov[12];
      guint n = 0;

      journal_field (buf, iov, &n, "MESSAGE_ID", r->message_id);
      journal_field (buf, iov, &n, "MESSAGE", message->str);
      journal_field (buf, iov, &n, "PRIORITY", "6");
      journal_field (buf, iov, &n, "SYSLOG_IDENTIFIER", "anyd");
      journal_field (buf, iov, &n, "ANYD_ACTION", r->action);
      journal_field (buf, iov, &n, "ANYD_CALLER_UID", uid);
      journal_field (buf, iov, &n, "ANYD_CALLER_PID", pid);
      journal_field (buf, iov, &n, "ANYD_SENDER", r->caller ? r->caller->sender : NULL);
      journal_field (buf, iov, &n, "ANYD_OBJECT", r->object);
      journal_field (buf, iov, &n, "ANYD_RESULT", r->result);
      journal_field (buf, iov, &n, "ANYD_DETAILS", r->details);
      for (guint i = 0; i < n; i++)
        iov[i].iov_base = buf->str + GPOINTER_TO_SIZE (iov[i].iov_base);
      sd_journal_sendv (iov, (int) n);
      return;
    }

  {
    g_autoptr(GString) line = g_string_sized_new (600);
    append_opt (line, "MESSAGE_ID", r->message_id);
    append_opt (line, "ANYD_ACTION", r->action);
    if (r->caller != NULL)
      {
        append_field (line, "ANYD_CALLER_UID", uid);
        append_field (line, "ANYD_CALLER_PID", pid);
        append_opt (line, "ANYD_SENDER", r->caller->sender);
      }
    append_opt (line, "ANYD_OBJECT", r->object);
    append_opt (line, "ANYD_RESULT", r->result);
    append_opt (line, "ANYD_DETAILS", r->details);
    append_field (line, "MESSAGE", message->str);
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
