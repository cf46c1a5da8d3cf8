/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* service/audit.c without a journal: one line per record on stderr, fields
 * in a fixed order, values quoted and escaped so a hostile name can neither
 * forge a field nor a second record. Each record is written in a
 * subprocess whose stderr (a pipe, not the journal) the test then matches
 * whole; the patterns hold no '*' or '?', so they are exact. */
#include "anyd-build-config.h"
#include "audit.h"
#include "error.h"
#include "names.h"

static void
test_plain (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(AnydCaller) caller = anyd_caller_new (":1.42", 65534, 4321);
      AnydAuditRecord r = {
        .message_id = ANYD_MSGID_AUTH, .action = "org.anyd1.tun.manage", .caller = caller,
        .object = "/org/anyd1/tun", .result = "allowed", .details = NULL, .message = NULL,
      };
      anyd_audit (&r);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("");
  g_test_trap_assert_stderr ("MESSAGE_ID=" ANYD_MSGID_AUTH " ANYD_ACTION=org.anyd1.tun.manage"
                             " ANYD_CALLER_UID=65534 ANYD_CALLER_PID=4321 ANYD_SENDER=:1.42"
                             " ANYD_OBJECT=/org/anyd1/tun ANYD_RESULT=allowed"
                             " MESSAGE=\"org.anyd1.tun.manage by uid 65534: allowed\"\n");
}

/* No caller (daemon-internal): no caller fields at all, not empty ones. */
static void
test_no_caller (void)
{
  if (g_test_subprocess ())
    {
      AnydAuditRecord r = { .message_id = ANYD_MSGID_LIFECYCLE, .action = "start", .result = "ok",
                            .message = "v1" };
      anyd_audit (&r);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("MESSAGE_ID=" ANYD_MSGID_LIFECYCLE " ANYD_ACTION=start ANYD_RESULT=ok"
                             " MESSAGE=\"start: ok: v1\"\n");
}

/* Spaces, quotes, backslashes and control bytes (a newline would start a
 * forged record) in a value; an empty value is "" so the next field can't
 * be mistaken for it. */
static void
test_escaping (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(AnydCaller) caller = anyd_caller_new (":1.7", 2, 99);
      AnydAuditRecord r = {
        .message_id = ANYD_MSGID_AUTH, .action = "org.anyd1.vault.read", .caller = caller,
        .object = "", .result = "denied",
        .details = "secret=a b\"c\\d\nMESSAGE_ID=forged\t\x01",
      };
      anyd_audit (&r);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("MESSAGE_ID=" ANYD_MSGID_AUTH " ANYD_ACTION=org.anyd1.vault.read"
                             " ANYD_CALLER_UID=2 ANYD_CALLER_PID=99 ANYD_SENDER=:1.7"
                             " ANYD_OBJECT=\"\" ANYD_RESULT=denied"
                             " ANYD_DETAILS=\"secret=a b\\\"c\\\\d\\x0aMESSAGE_ID=forged\\x09\\x01\""
                             " MESSAGE=\"org.anyd1.vault.read by uid 2: denied\"\n");
}

/* The "privileged action finished" shorthand: ok with the formatted text;
 * error with the error's message appended. */
static void
test_action (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(AnydCaller) caller = anyd_caller_new (":1.3", 0, 1);
      g_autoptr(GError) error = g_error_new_literal (ANYD_ERROR, ANYD_ERROR_EXISTS, "name: taken");
      anyd_audit_action (caller, "tun.create", "/org/anyd1/tun/x", NULL, "device=%s", "x");
      anyd_audit_action (caller, "tun.create", NULL, error, "device=%s", "y");
      anyd_audit_action (NULL, "tun.cleanup", NULL, error, NULL);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr (
    "MESSAGE_ID=" ANYD_MSGID_ACTION " ANYD_ACTION=tun.create ANYD_CALLER_UID=0 ANYD_CALLER_PID=1"
    " ANYD_SENDER=:1.3 ANYD_OBJECT=/org/anyd1/tun/x ANYD_RESULT=ok"
    " MESSAGE=\"tun.create by uid 0: ok: device=x\"\n"
    "MESSAGE_ID=" ANYD_MSGID_ACTION " ANYD_ACTION=tun.create ANYD_CALLER_UID=0 ANYD_CALLER_PID=1"
    " ANYD_SENDER=:1.3 ANYD_RESULT=error"
    " MESSAGE=\"tun.create by uid 0: error: device=y: name: taken\"\n"
    "MESSAGE_ID=" ANYD_MSGID_ACTION " ANYD_ACTION=tun.cleanup ANYD_RESULT=error"
    " MESSAGE=\"tun.cleanup: error: name: taken\"\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/audit/plain", test_plain);
  g_test_add_func ("/audit/no-caller", test_no_caller);
  g_test_add_func ("/audit/escaping", test_escaping);
  g_test_add_func ("/audit/action", test_action);
  return g_test_run ();
}
