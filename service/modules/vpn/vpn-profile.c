/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vpn-profile: profile records in <state>/vpn/<name>.profile (format in
 * vpn-record.c) and the org.anyd1.VpnProfile objects that show their public
 * fields. */
#include "anyd-build-config.h"
#include "vpn-private.h"
#include "vpn-record.h"

#include <string.h>
#include <sodium.h>

#include "audit.h"
#include "error.h"
#include "util.h"

#define RECORD_SUFFIX ".profile"

/* ---------------------------------------------------------------- record */

static char *
record_path (VpnContext *ctx, const char *name)
{
  g_autofree char *file = g_strconcat (name, RECORD_SUFFIX, NULL);
  return g_build_filename (ctx->store_dir, file, NULL);
}

gboolean
vpn_profile_save (VpnProfile *profile, GError **error)
{
  g_autofree char *path = record_path (profile->ctx, profile->name);
  char *data = vpn_record_format (profile->name, profile->autoconnect, profile->ignore_scripts,
                                          profile->config);
  gboolean ok = anyd_file_write_atomic (path, data, strlen (data), 0600, error);

  vpn_secret_free (data);
  return ok;
}

gboolean
vpn_profile_remove_file (VpnContext *ctx, const char *name, GError **error)
{
  g_autofree char *path = record_path (ctx, name);

  if (!anyd_file_remove_durable (path, error))
    {
      g_prefix_error (error, "removing profile %s: ", name);
      return FALSE;
    }
  return TRUE;
}

GPtrArray *
vpn_profile_load_all (VpnContext *ctx)
{
  GPtrArray *out = g_ptr_array_new ();
  g_autoptr(GDir) dir = g_dir_open (ctx->store_dir, 0, NULL);
  const char *file;

  while (dir && (file = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL, *name = NULL, *expected = NULL;
      g_autoptr(GError) error = NULL;
      char *data = NULL;
      gsize len = 0;
      gboolean autoconnect = FALSE, ignore_scripts = FALSE;
      VpnConfig *config = NULL;

      if (!g_str_has_suffix (file, RECORD_SUFFIX) || file[0] == '.')
        continue;   /* temp files of anyd_file_write_atomic end in ".XXXXXX" */
      path = g_build_filename (ctx->store_dir, file, NULL);
      expected = g_strndup (file, strlen (file) - strlen (RECORD_SUFFIX));
      if (g_file_get_contents (path, &data, &len, &error))
        {
          if (len > VPN_CONFIG_MAX_SIZE + 4096)
            g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "record too large");
          else
            config = vpn_record_parse (data, len, &name, &autoconnect, &ignore_scripts, &error);
          sodium_memzero (data, len);
          g_free (data);
        }
      if (config != NULL && !g_str_equal (name, expected))
        {
          g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "record names profile %s", name);
          g_clear_pointer (&config, vpn_config_unref);
        }
      if (config == NULL)
        {
          g_warning ("vpn: skipping %s: %s", path, error->message);
          continue;
        }
      g_ptr_array_add (out, vpn_profile_new (ctx, name, config, autoconnect, ignore_scripts));
      vpn_config_unref (config);
    }
  return out;
}

/* ---------------------------------------------------------------- object */

void
vpn_details_from_object (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                         GHashTable *details, gpointer user_data)
{
  const char *name = g_object_get_data (G_OBJECT (skeleton), "vpn-profile");

  if (name != NULL)
    g_hash_table_replace (details, g_strdup ("profile"), g_strdup (name));
}

static void
update_properties (VpnProfile *profile)
{
  g_auto(GStrv) addrs = vpn_config_addresses_strv (profile->config);
  g_autofree char *server = vpn_config_server (profile->config);

  anyd_dbus_vpn_profile_set_name (profile->iface, profile->name);
  anyd_dbus_vpn_profile_set_type_ (profile->iface, vpn_config_type (profile->config));
  anyd_dbus_vpn_profile_set_server (profile->iface, server);
  anyd_dbus_vpn_profile_set_protocol (profile->iface, vpn_config_protocol (profile->config));
  anyd_dbus_vpn_profile_set_addresses (profile->iface, (const char *const *) addrs);
  anyd_dbus_vpn_profile_set_peers (profile->iface, vpn_config_peers_variant (profile->config));
  anyd_dbus_vpn_profile_set_auto_connect (profile->iface, profile->autoconnect);
}

VpnProfile *
vpn_profile_new (VpnContext *ctx, const char *name, VpnConfig *config, gboolean autoconnect,
                 gboolean ignore_scripts)
{
  VpnProfile *profile = g_new0 (VpnProfile, 1);
  g_autofree char *escaped = g_dbus_escape_object_path (name);

  profile->ctx = ctx;
  profile->name = g_strdup (name);
  profile->path = g_strdup_printf (VPN_PROFILES_PATH "/%s", escaped);
  profile->config = vpn_config_ref (config);
  profile->autoconnect = autoconnect;
  profile->ignore_scripts = ignore_scripts;
  return profile;
}

void
vpn_profile_free (VpnProfile *profile)
{
  if (profile == NULL)
    return;
  if (profile->object)
    {
      g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (profile->ctx->daemon),
                                             profile->path);
      g_signal_handlers_disconnect_by_data (profile->iface, profile);
      g_clear_object (&profile->object);
      g_clear_object (&profile->iface);
    }
  vpn_config_unref (profile->config);
  g_free (profile->name);
  g_free (profile->path);
  g_free (profile);
}

static gboolean
handle_connect (AnydDBusVpnProfile *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  VpnProfile *profile = user_data;

  profile->ctx->hooks->connect_requested (profile, invocation, profile->ctx->hooks_data);
  return TRUE;
}

static gboolean
handle_update (AnydDBusVpnProfile *iface, GDBusMethodInvocation *invocation, const char *text,
               gpointer user_data)
{
  VpnProfile *profile = user_data;
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  GError *error = NULL;
  g_autoptr(VpnConfig) config = vpn_config_parse_any (text, strlen (text),
                                                      profile->ignore_scripts ? VPN_CONFIG_PARSE_IGNORE_SCRIPTS
                                                                              : VPN_CONFIG_PARSE_NONE,
                                                      &error);
  VpnConfig *old;

  /* a new link keeps the profile's proxy options */
  if (config != NULL && config->link != NULL && profile->config->link != NULL)
    {
      config->link->block_quic = profile->config->link->block_quic;
      config->link->ipv6 = profile->config->link->ipv6;
    }
  if (config != NULL)
    {
      old = profile->config;
      profile->config = vpn_config_ref (config);
      if (!vpn_profile_save (profile, &error))
        {
          /* nothing changed: the record on disk is the old one */
          vpn_config_unref (profile->config);
          profile->config = old;
        }
      else
        {
          vpn_config_unref (old);
          update_properties (profile);
        }
    }
  anyd_audit_action (caller, "vpn.update", profile->path, error, "profile=%s", profile->name);
  if (error != NULL)
    anyd_invocation_return_error (invocation, error);
  else
    anyd_dbus_vpn_profile_complete_update (iface, invocation);
  return TRUE;
}

static gboolean
handle_set_auto_connect (AnydDBusVpnProfile *iface, GDBusMethodInvocation *invocation,
                         gboolean enabled, gpointer user_data)
{
  VpnProfile *profile = user_data;
  gboolean old = profile->autoconnect;
  GError *error = NULL;

  profile->autoconnect = enabled;
  if (!vpn_profile_save (profile, &error))
    profile->autoconnect = old;     /* the record on disk is the old one */
  else
    update_properties (profile);
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vpn.autoconnect", profile->path, error,
                     "profile=%s autoconnect=%s", profile->name, enabled ? "true" : "false");
  if (error != NULL)
    anyd_invocation_return_error (invocation, error);
  else
    anyd_dbus_vpn_profile_complete_set_auto_connect (iface, invocation);
  return TRUE;
}

static gboolean
handle_delete (AnydDBusVpnProfile *iface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  VpnProfile *profile = user_data;
  VpnContext *ctx = profile->ctx;
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  g_autofree char *path = g_strdup (profile->path);
  g_autofree char *name = g_strdup (profile->name);
  GError *error = NULL;

  if (vpn_profile_remove_file (ctx, name, &error))
    ctx->hooks->profile_deleted (profile, ctx->hooks_data);   /* frees profile */
  anyd_audit_action (caller, "vpn.delete", path, error, "profile=%s", name);
  if (error != NULL)
    anyd_invocation_return_error (invocation, error);
  else
    anyd_dbus_vpn_profile_complete_delete (iface, invocation);
  return TRUE;
}

void
vpn_profile_export (VpnProfile *profile)
{
  VpnContext *ctx = profile->ctx;

  profile->iface = anyd_dbus_vpn_profile_skeleton_new ();
  g_object_set_data_full (G_OBJECT (profile->iface), "vpn-profile", g_strdup (profile->name), g_free);
  update_properties (profile);
  anyd_auth_guard (anyd_daemon_get_auth (ctx->daemon), G_DBUS_INTERFACE_SKELETON (profile->iface),
                   vpn_details_from_object, NULL);
  g_signal_connect (profile->iface, "handle-connect", G_CALLBACK (handle_connect), profile);
  g_signal_connect (profile->iface, "handle-update", G_CALLBACK (handle_update), profile);
  g_signal_connect (profile->iface, "handle-set-auto-connect", G_CALLBACK (handle_set_auto_connect), profile);
  g_signal_connect (profile->iface, "handle-delete", G_CALLBACK (handle_delete), profile);
  profile->object = anyd_dbus_object_skeleton_new (profile->path);
  anyd_dbus_object_skeleton_set_vpn_profile (profile->object, profile->iface);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (ctx->daemon),
                                       G_DBUS_OBJECT_SKELETON (profile->object));
}
