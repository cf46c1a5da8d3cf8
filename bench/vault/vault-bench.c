/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vault-bench: calls per second of one method on the system bus, from N
 * callers at once (N threads, each with its own bus connection, each
 * making one synchronous call after another).  Run by bench/vault/vault_bench.py
 * inside the test sandbox; prints one JSON line:
 *   {"method": …, "callers": N, "calls": …, "seconds": …, "calls_per_s": …,
 *    "mean_us": …, "p50_us": …, "p99_us": …, "errors": …}
 *
 *   vault-bench METHOD CALLERS SECONDS [NAME]
 * METHOD: ping (org.freedesktop.DBus.Peer.Ping on org.anyd1), property
 * (Properties.Get Manager.Version: answered on anyd's main loop), callerinfo
 * (Manager.GetCallerInfo), pubkey (Vault.GetPublicKey NAME: public, so the
 * vault's own path without a polkit check), get (Vault.Get NAME), encrypt
 * (Vault.Encrypt with key NAME of 1 KiB). */
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *method;
  const char *name;
  double      seconds;
  GArray     *lat_us;   /* double */
  guint       errors;
  char       *first_error;
  GThread    *thread;
} Caller;

static gint64 start_at;

static GVariant *
one_call (GDBusConnection *c, const char *method, const char *name, GVariant *payload, GError **error)
{
  if (g_str_equal (method, "ping"))
    return g_dbus_connection_call_sync (c, "org.anyd1", "/org/anyd1", "org.freedesktop.DBus.Peer", "Ping",
                                        NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
  if (g_str_equal (method, "callerinfo"))
    return g_dbus_connection_call_sync (c, "org.anyd1", "/org/anyd1", "org.anyd1.Manager", "GetCallerInfo",
                                        NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
  if (g_str_equal (method, "property"))
    return g_dbus_connection_call_sync (c, "org.anyd1", "/org/anyd1", "org.freedesktop.DBus.Properties", "Get",
                                        g_variant_new ("(ss)", "org.anyd1.Manager", "Version"), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
  if (g_str_equal (method, "pubkey"))
    return g_dbus_connection_call_sync (c, "org.anyd1", "/org/anyd1/vault", "org.anyd1.Vault", "GetPublicKey",
                                        g_variant_new ("(s)", name), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
  if (g_str_equal (method, "get"))
    return g_dbus_connection_call_sync (c, "org.anyd1", "/org/anyd1/vault", "org.anyd1.Vault", "Get",
                                        g_variant_new ("(sa{sv})", name, NULL), NULL,
                                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
  return g_dbus_connection_call_sync (c, "org.anyd1", "/org/anyd1/vault", "org.anyd1.Vault", "Encrypt",
                                      g_variant_new ("(s@ay@ay)", name, payload,
                                                     g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "", 0, 1)),
                                      NULL, G_DBUS_CALL_FLAGS_NONE, 10000, NULL, error);
}

static gpointer
caller_thread (gpointer data)
{
  Caller *k = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  g_autoptr(GDBusConnection) c = NULL;
  g_autoptr(GVariant) payload = NULL;
  guint8 kib[1024];
  gint64 warm_end, end;

  memset (kib, 'p', sizeof kib);
  payload = g_variant_ref_sink (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, kib, sizeof kib, 1));
  if (address != NULL)
    c = g_dbus_connection_new_for_address_sync (address,
                                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                NULL, NULL, &error);
  if (c == NULL)
    {
      k->errors++;
      k->first_error = g_strdup (error->message);
      return NULL;
    }
  /* Every caller warms up (credentials cached, pages touched) before the
   * common start, then measures for the same window. */
  warm_end = start_at;
  end = start_at + (gint64) (k->seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < end)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(GError) e = NULL;
      g_autoptr(GVariant) r = one_call (c, k->method, k->name, payload, &e);
      gint64 t1 = g_get_monotonic_time ();

      if (r == NULL)
        {
          if (k->first_error == NULL)
            k->first_error = g_strdup (e->message);
          k->errors++;
          continue;
        }
      if (t0 >= warm_end)
        {
          double us = (double) (t1 - t0);
          g_array_append_val (k->lat_us, us);
        }
    }
  return NULL;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  const char *method;
  guint n;
  double seconds;
  const char *name;
  g_autoptr(GArray) all = g_array_new (FALSE, FALSE, sizeof (double));
  Caller *callers;
  guint errors = 0;
  const char *first_error = NULL;
  double sum = 0;

  if (argc < 4)
    {
      fprintf (stderr, "usage: vault-bench ping|property|callerinfo|pubkey|get|encrypt CALLERS SECONDS [NAME]\n");
      return 2;
    }
  method = argv[1];
  n = (guint) atoi (argv[2]);
  seconds = atof (argv[3]);
  name = argc > 4 ? argv[4] : "bench/secret";
  if (n == 0 || seconds <= 0)
    return 2;

  callers = g_new0 (Caller, n);
  /* 0.5 s of warm-up before the measured window starts. */
  start_at = g_get_monotonic_time () + G_USEC_PER_SEC / 2;
  for (guint i = 0; i < n; i++)
    {
      callers[i].method = method;
      callers[i].name = name;
      callers[i].seconds = seconds;
      callers[i].lat_us = g_array_new (FALSE, FALSE, sizeof (double));
      callers[i].thread = g_thread_new ("caller", caller_thread, &callers[i]);
    }
  for (guint i = 0; i < n; i++)
    {
      g_thread_join (callers[i].thread);
      g_array_append_vals (all, callers[i].lat_us->data, callers[i].lat_us->len);
      errors += callers[i].errors;
      if (first_error == NULL)
        first_error = callers[i].first_error;
    }
  g_array_sort (all, cmp_double);
  for (guint i = 0; i < all->len; i++)
    sum += g_array_index (all, double, i);

  printf ("{\"method\": \"%s\", \"callers\": %u, \"calls\": %u, \"seconds\": %.3f, "
          "\"calls_per_s\": %.1f, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
          "\"errors\": %u, \"first_error\": \"%s\"}\n",
          method, n, all->len, seconds, all->len / seconds,
          all->len ? sum / all->len : 0,
          all->len ? g_array_index (all, double, all->len / 2) : 0,
          all->len ? g_array_index (all, double, (all->len * 99) / 100) : 0,
          errors, first_error ? g_strescape (first_error, NULL) : "");
  return errors > 0 && all->len == 0 ? 1 : 0;
}
