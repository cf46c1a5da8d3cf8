/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-resolved: per-link DNS through systemd-resolved's D-Bus API
 * (org.freedesktop.resolve1.Manager SetLinkDNS / SetLinkDomains /
 * SetLinkDefaultRoute / RevertLink).  anyd never rewrites /etc/resolv.conf:
 * without resolved the tunnel comes up and the connection says DNS was not
 * applied.
 *
 * A full tunnel gets the routing domain "~." and DefaultRoute=yes on its
 * link: resolved then sends every query to the tunnel's servers and none to
 * other links' servers (only links with a longer matching routing domain
 * still win, which is what split DNS wants). */
#include "anyd-build-config.h"
#include "vpn-private.h"

#include <arpa/inet.h>

#define RESOLVED_NAME  "org.freedesktop.resolve1"
#define RESOLVED_PATH  "/org/freedesktop/resolve1"
#define RESOLVED_IFACE "org.freedesktop.resolve1.Manager"
#define RESOLVED_TIMEOUT_MS 5000

gboolean
vpn_resolved_is_absent (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SPAWN_EXEC_FAILED);
}

typedef struct {
  const char *method;
  GVariant   *params;
} Call;

typedef struct {
  GDBusConnection *bus;
  GArray          *calls;   /* Call, made in order */
  guint            next;
} Apply;

static void
call_clear (gpointer p)
{
  g_variant_unref (((Call *) p)->params);
}

static void
apply_free (Apply *a)
{
  g_object_unref (a->bus);
  g_array_unref (a->calls);
  g_free (a);
}

static GVariant *
dns_servers_variant (int ifindex, GPtrArray *servers)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(iay)"));
  for (guint i = 0; i < servers->len; i++)
    {
      const char *s = servers->pdata[i];
      guint8 addr[16];
      int family = strchr (s, ':') ? AF_INET6 : AF_INET;

      if (inet_pton (family, s, addr) != 1)
        continue;   /* the parser only lets IP literals through */
      g_variant_builder_add (&b, "(i@ay)", family,
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, addr,
                                                        family == AF_INET ? 4 : 16, 1));
    }
  return g_variant_new ("(ia(iay))", ifindex, &b);
}

static GVariant *
domains_variant (int ifindex, const VpnDnsSettings *dns)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(sb)"));
  for (guint i = 0; i < dns->search->len; i++)
    g_variant_builder_add (&b, "(sb)", (const char *) dns->search->pdata[i], FALSE);
  if (dns->route_all)
    g_variant_builder_add (&b, "(sb)", ".", TRUE);   /* "~." */
  return g_variant_new ("(ia(sb))", ifindex, &b);
}

static void apply_next (GTask *task);

static void
apply_call_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Apply *a = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    {
      /* keeps the D-Bus error code: an absent resolved is told apart by it */
      g_prefix_error (&error, "systemd-resolved %s: ", g_array_index (a->calls, Call, a->next - 1).method);
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  apply_next (task);
}

static void
apply_next (GTask *task)
{
  Apply *a = g_task_get_task_data (task);
  Call *call;

  if (a->next >= a->calls->len)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  call = &g_array_index (a->calls, Call, a->next++);
  g_dbus_connection_call (a->bus, RESOLVED_NAME, RESOLVED_PATH, RESOLVED_IFACE, call->method,
                          g_variant_ref (call->params), NULL, G_DBUS_CALL_FLAGS_NONE, RESOLVED_TIMEOUT_MS,
                          g_task_get_cancellable (task), apply_call_cb, task);
}

static void
run_calls (GDBusConnection *bus, GArray *calls, GCancellable *cancellable,
           GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Apply *a = g_new0 (Apply, 1);

  g_task_set_source_tag (task, tag);
  a->bus = g_object_ref (bus);
  a->calls = calls;
  g_task_set_task_data (task, a, (GDestroyNotify) apply_free);
  apply_next (task);
}

static GArray *
calls_new (void)
{
  GArray *calls = g_array_new (FALSE, FALSE, sizeof (Call));

  g_array_set_clear_func (calls, call_clear);
  return calls;
}

static void
calls_add (GArray *calls, const char *method, GVariant *params)
{
  Call call = { method, g_variant_ref_sink (params) };

  g_array_append_val (calls, call);
}

void
vpn_resolved_apply_async (GDBusConnection *bus, int ifindex, const VpnDnsSettings *dns,
                          GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GArray *calls = calls_new ();

  calls_add (calls, "SetLinkDNS", dns_servers_variant (ifindex, dns->servers));
  if (dns->search->len > 0 || dns->route_all)
    calls_add (calls, "SetLinkDomains", domains_variant (ifindex, dns));
  if (dns->route_all)
    calls_add (calls, "SetLinkDefaultRoute", g_variant_new ("(ib)", ifindex, TRUE));
  run_calls (bus, calls, cancellable, callback, user_data, vpn_resolved_apply_async);
}

gboolean
vpn_resolved_apply_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
vpn_resolved_revert_async (GDBusConnection *bus, int ifindex, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  GArray *calls = calls_new ();

  calls_add (calls, "RevertLink", g_variant_new ("(i)", ifindex));
  run_calls (bus, calls, cancellable, callback, user_data, vpn_resolved_revert_async);
}

gboolean
vpn_resolved_revert_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
vpn_resolved_revert_sync (GDBusConnection *bus, int ifindex)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  /* daemon shutdown only: a short bound, and the link is deleted right after
   * anyway (resolved forgets a removed link's settings) */
  reply = g_dbus_connection_call_sync (bus, RESOLVED_NAME, RESOLVED_PATH, RESOLVED_IFACE, "RevertLink",
                                       g_variant_new ("(i)", ifindex), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                       1000, NULL, &error);
  if (reply == NULL && !vpn_resolved_is_absent (error))
    g_message ("vpn: reverting DNS of link %d: %s", ifindex, error->message);
}
