/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vpn module's gauges for GetMetrics, read from what the profile and
 * connection objects publish: anyd_resources{module="vpn"} (live
 * connections), anyd_vpn_connection_up{profile,type} for every profile,
 * anyd_vpn_{rx,tx}_bytes_total{profile} for profiles with a connection.
 * Profile names are public (they are in the object paths); nothing else of
 * a profile appears. */
#include "anyd-build-config.h"
#include "vpn-private.h"
#include "metrics.h"

static void
collect (AnydMetricsWriter *writer, gpointer user_data)
{
  const VpnMetricsSource *source = user_data;
  GDBusObjectManager *om = G_DBUS_OBJECT_MANAGER (anyd_daemon_get_object_manager (source->daemon));
  GHashTableIter it;
  gpointer v;
  guint live = 0;

  g_hash_table_iter_init (&it, source->profiles);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      VpnProfile *profile = v;
      VpnConnection *c = g_hash_table_lookup (source->connections, profile->name);
      g_autoptr(GDBusInterface) ci = NULL;
      g_autoptr(GVariant) props = NULL;
      const char *state = NULL;
      guint64 rx = 0, tx = 0;

      if (c != NULL)
        ci = g_dbus_object_manager_get_interface (om, vpn_connection_get_path (c), "org.anyd1.VpnConnection");
      if (ci != NULL)
        {
          /* As a GetAll would: the last sample, and a fresh one asked for
           * if it is over a second old (the next scrape sees it). */
          props = g_dbus_interface_skeleton_get_properties (G_DBUS_INTERFACE_SKELETON (ci));
          g_variant_lookup (props, "State", "&s", &state);
          g_variant_lookup (props, "RxBytes", "t", &rx);
          g_variant_lookup (props, "TxBytes", "t", &tx);
          live++;
        }
      anyd_metrics_sample (writer, "anyd_vpn_connection_up", g_strcmp0 (state, "connected") == 0,
                           "profile", profile->name,
                           "type", anyd_dbus_vpn_profile_get_type_ (profile->iface), NULL);
      if (ci != NULL)
        {
          anyd_metrics_sample (writer, "anyd_vpn_rx_bytes_total", rx, "profile", profile->name, NULL);
          anyd_metrics_sample (writer, "anyd_vpn_tx_bytes_total", tx, "profile", profile->name, NULL);
        }
    }
  anyd_metrics_sample (writer, "anyd_resources", live, "module", "vpn", NULL);
}

guint
vpn_metrics_register (const VpnMetricsSource *source)
{
  return anyd_metrics_add_collector (collect, (gpointer) source);
}
