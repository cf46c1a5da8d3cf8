/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vpn module: org.anyd1.Vpn at /org/anyd1/vpn — WireGuard profiles
 * (vpn-profile.c) and connections (vpn-connection.c) on the wireguard-go
 * data plane (vpn-wggo.c).
 *
 * Nothing is left behind: every device the module creates carries the alias
 * "anyd:vpn:1 <profile>" and every routing rule protocol ANYD_RTPROT, so a
 * start after a crash (kill -9) removes what the previous run left: devices
 * (with their routes and resolved's per-link DNS), UAPI sockets and rules.
 * A daemon stop tears connections down the same way; connections do not
 * outlive anyd (autoconnect profiles come back at the next start). */
#include "anyd-build-config.h"
#include "vpn-private.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gio/gunixfdlist.h>
#include <sodium.h>

#include "audit.h"
#include "error.h"
#include "metrics.h"
#include "module.h"
#include "names.h"
#include "util.h"

static const AnydConfigKey vpn_config_keys[] = {
  { "vpn", VPN_CONFIG_WIREGUARD_GO, ANYD_CONFIG_STRING, "/usr/bin/wireguard-go",
    "the wireguard-go executable (the data plane); when it is missing Connect answers org.anyd1.Error.Disabled", 0 },
  { "vpn", "handshake_timeout_s", ANYD_CONFIG_UINT, "15",
    "seconds a new connection waits for its first handshake before it fails (1-3600)", 3600 },
  { NULL }
};

static const AnydAuthRule vpn_auth_rules[] = {
  { "org.anyd1.Vpn",           "ImportProfile",   ANYD_ACTION_VPN_MANAGE,  "profile", 0,  NULL },
  { "org.anyd1.Vpn",           "ImportProfileFd", ANYD_ACTION_VPN_MANAGE,  "profile", 0,  NULL },
  { "org.anyd1.Vpn",           "Connect",         ANYD_ACTION_VPN_CONNECT, "profile", 0,  NULL },
  { "org.anyd1.Vpn",           "Disconnect",      ANYD_ACTION_VPN_CONNECT, "profile", 0,  NULL },
  /* detail "profile" from the object (vpn_details_from_object) */
  { "org.anyd1.VpnProfile",    "Connect",         ANYD_ACTION_VPN_CONNECT, "profile", -1, NULL },
  { "org.anyd1.VpnProfile",    "Update",          ANYD_ACTION_VPN_MANAGE,  "profile", -1, NULL },
  { "org.anyd1.VpnProfile",    "Delete",          ANYD_ACTION_VPN_MANAGE,  "profile", -1, NULL },
  { "org.anyd1.VpnConnection", "Disconnect",      ANYD_ACTION_VPN_CONNECT, "profile", -1, NULL },
  ANYD_AUTH_RULES_END
};

static gboolean
vpn_check_config (AnydConfig *config, GError **error)
{
  if (anyd_config_get_uint (config, "vpn", "handshake_timeout_s") == 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "[vpn] handshake_timeout_s: must be 1-3600");
      return FALSE;
    }
  return TRUE;
}

static const AnydOptionSpec import_options[] = {
  { "ignore_scripts", "b" },
  { "autoconnect", "b" },
  { NULL, NULL }
};

void
vpn_details_from_object (GDBusInterfaceSkeleton *skeleton, const char *method, GVariant *parameters,
                         GHashTable *details, gpointer user_data)
{
  const char *name = g_object_get_data (G_OBJECT (skeleton), "vpn-profile");

  if (name != NULL)
    g_hash_table_replace (details, g_strdup ("profile"), g_strdup (name));
}

VpnProfile *
vpn_module_lookup_profile (VpnModule *module, const char *name, GError **error)
{
  VpnProfile *profile = g_hash_table_lookup (module->profiles, name);

  if (profile == NULL)
    {
      g_autofree char *shown = g_strescape (name, NULL);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "profile: no VPN profile named \"%.64s\"", shown);
    }
  return profile;
}

void
vpn_module_delete_profile (VpnModule *module, VpnProfile *profile)
{
  VpnConnection *c = vpn_module_lookup_connection (module, profile->name);

  /* the connection keeps its own reference to the configuration */
  if (c != NULL)
    vpn_connection_disconnect (c, NULL, "profile deleted", NULL, NULL);
  g_hash_table_remove (module->profiles, profile->name);
}

/* --------------------------------------------------------------- import */

static gboolean
check_name (const char *name, GError **error)
{
  if (!vpn_profile_name_is_valid (name))
    {
      g_autofree char *shown = g_strescape (name, NULL);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "name: \"%.64s\" is not a profile name (1-%d characters of A-Z a-z 0-9 _ = + . -, "
                   "not starting with . or -)", shown, VPN_PROFILE_NAME_MAX);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_request (VpnModule *module, const char *name, GVariant *options, GError **error)
{
  if (!check_name (name, error) || !anyd_options_check (options, import_options, "options", error))
    return FALSE;
  if (g_hash_table_contains (module->profiles, name))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_EXISTS, "name: a profile named %s exists already", name);
      return FALSE;
    }
  return TRUE;
}

/* Parse, store, export: all or nothing. */
static VpnProfile *
import (VpnModule *module, guint32 uid, const char *name, const char *text, gsize len, GVariant *options,
        GError **error)
{
  gboolean ignore_scripts = FALSE, autoconnect = FALSE;
  g_autoptr(VpnConfig) config = NULL;
  VpnProfile *profile;

  if (!check_request (module, name, options, error) ||
      !anyd_limits_check (anyd_daemon_get_limits (module->daemon), uid, "vpn", error))
    return NULL;
  g_variant_lookup (options, "ignore_scripts", "b", &ignore_scripts);
  g_variant_lookup (options, "autoconnect", "b", &autoconnect);
  config = vpn_config_parse (text, len, ignore_scripts ? VPN_CONFIG_PARSE_IGNORE_SCRIPTS : VPN_CONFIG_PARSE_NONE,
                             error);
  if (config == NULL)
    return NULL;
  profile = vpn_profile_new (module, name, config, autoconnect, ignore_scripts);
  if (!vpn_profile_save (profile, error))
    {
      vpn_profile_free (profile);
      return NULL;
    }
  g_hash_table_insert (module->profiles, g_strdup (name), profile);
  /* Profiles found at start are counted for nobody: the record does not
   * say who imported it. */
  anyd_limits_charge (anyd_daemon_get_limits (module->daemon), uid, "vpn");
  profile->quota_uid = uid;
  vpn_profile_export (profile);
  if (config->had_scripts)
    g_message ("vpn: profile %s: hook commands (PreUp/PostUp/PreDown/PostDown/SaveConfig) were dropped", name);
  return profile;
}

static void
import_reply (VpnModule *module, GDBusMethodInvocation *invocation, const char *name, VpnProfile *profile,
              GError *error)
{
  anyd_audit_action (anyd_caller_from_invocation (invocation), "vpn.import",
                     profile ? profile->path : VPN_PATH, error, "profile=%.64s", name);
  if (profile == NULL)
    anyd_invocation_return_error (invocation, error);
  else
    anyd_dbus_vpn_complete_import_profile (module->iface, invocation, profile->path);
}

static gboolean
handle_import_profile (AnydDBusVpn *iface, GDBusMethodInvocation *invocation, const char *name,
                       const char *text, GVariant *options, gpointer user_data)
{
  VpnModule *module = user_data;
  GError *error = NULL;
  VpnProfile *profile = import (module, anyd_caller_from_invocation (invocation)->uid, name, text,
                                strlen (text), options, &error);

  import_reply (module, invocation, name, profile, error);
  return TRUE;
}

typedef struct {
  VpnModule             *module;
  GDBusMethodInvocation *invocation;
  char                  *name;
  GVariant              *options;
  int                    fd;
} FdImport;

static void
fd_import_free (FdImport *imp)
{
  if (imp->fd >= 0)
    close (imp->fd);
  g_free (imp->name);
  g_variant_unref (imp->options);
  g_free (imp);
}

/* A worker thread: a FUSE or NFS file could block a read for long. */
static void
read_fd_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  FdImport *imp = task_data;
  GByteArray *buf = g_byte_array_sized_new (4096);
  guint8 chunk[4096];

  for (;;)
    {
      ssize_t n = pread (imp->fd, chunk, sizeof chunk, (off_t) buf->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          sodium_memzero (buf->data, buf->len);
          g_byte_array_unref (buf);
          g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "fd: reading failed: %s",
                                   g_strerror (e));
          return;
        }
      if (n == 0)
        break;
      g_byte_array_append (buf, chunk, (guint) n);
      if (buf->len > VPN_CONFIG_MAX_SIZE)
        {
          sodium_memzero (buf->data, buf->len);
          g_byte_array_unref (buf);
          g_task_return_new_error (task, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                                   "config: larger than %u bytes", VPN_CONFIG_MAX_SIZE);
          return;
        }
    }
  sodium_memzero (chunk, sizeof chunk);
  g_task_return_pointer (task, buf, (GDestroyNotify) g_byte_array_unref);
}

static void
read_fd_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  FdImport *imp = g_task_get_task_data (G_TASK (res));
  GError *error = NULL;
  GByteArray *buf = g_task_propagate_pointer (G_TASK (res), &error);
  VpnProfile *profile = NULL;

  if (buf != NULL)
    {
      profile = import (imp->module, anyd_caller_from_invocation (imp->invocation)->uid, imp->name,
                        (const char *) buf->data, buf->len, imp->options, &error);
      sodium_memzero (buf->data, buf->len);
      g_byte_array_unref (buf);
    }
  import_reply (imp->module, imp->invocation, imp->name, profile, error);
}

static gboolean
handle_import_profile_fd (AnydDBusVpn *iface, GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                          const char *name, GVariant *fd_handle, GVariant *options, gpointer user_data)
{
  VpnModule *module = user_data;
  GError *error = NULL;
  gint32 handle = g_variant_get_handle (fd_handle);
  struct stat st;
  int fd = -1;
  g_autoptr(GTask) task = NULL;
  FdImport *imp;

  if (!check_request (module, name, options, &error))
    goto fail;
  if (fd_list == NULL || handle < 0 || handle >= g_unix_fd_list_get_length (fd_list))
    {
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "fd: no file descriptor was passed");
      goto fail;
    }
  fd = g_unix_fd_list_get (fd_list, handle, &error);
  if (fd < 0)
    goto fail;
  /* only a regular file: a pipe, socket or tty could feed us forever or block */
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "fd: not a regular file");
      goto fail;
    }
  if (st.st_size > VPN_CONFIG_MAX_SIZE)
    {
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "config: larger than %u bytes",
                   VPN_CONFIG_MAX_SIZE);
      goto fail;
    }
  imp = g_new0 (FdImport, 1);
  imp->module = module;
  imp->invocation = invocation;
  imp->name = g_strdup (name);
  imp->options = g_variant_ref (options);
  imp->fd = fd;
  task = g_task_new (NULL, NULL, read_fd_done_cb, NULL);
  g_task_set_task_data (task, imp, (GDestroyNotify) fd_import_free);
  g_task_run_in_thread (task, read_fd_thread);
  return TRUE;

fail:
  if (fd >= 0)
    close (fd);
  import_reply (module, invocation, name, NULL, error);
  return TRUE;
}

/* ------------------------------------------------------ connect/disconnect */

static gboolean
handle_connect (AnydDBusVpn *iface, GDBusMethodInvocation *invocation, const char *name, gpointer user_data)
{
  VpnModule *module = user_data;
  GError *error = NULL;
  VpnProfile *profile = vpn_module_lookup_profile (module, name, &error);

  if (profile == NULL)
    anyd_invocation_return_error (invocation, error);
  else
    vpn_connection_start (module, profile, anyd_caller_from_invocation (invocation), vpn_connect_reply_invocation,
                          invocation);
  return TRUE;
}

static void
disconnect_done_cb (gpointer connection, gpointer user_data)
{
  anyd_dbus_vpn_complete_disconnect (NULL, user_data);
}

static gboolean
handle_disconnect (AnydDBusVpn *iface, GDBusMethodInvocation *invocation, const char *name, gpointer user_data)
{
  VpnModule *module = user_data;
  GError *error = NULL;
  VpnConnection *c;

  if (vpn_module_lookup_profile (module, name, &error) == NULL)
    {
      anyd_invocation_return_error (invocation, error);
      return TRUE;
    }
  c = vpn_module_lookup_connection (module, name);
  if (c == NULL)
    {
      anyd_invocation_return_error (invocation, g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                                                             "profile: %s is not connected", name));
      return TRUE;
    }
  vpn_connection_disconnect (c, anyd_caller_from_invocation (invocation), "", disconnect_done_cb, invocation);
  return TRUE;
}

/* ------------------------------------------------------------ lifecycle */

static void
reconcile_revert_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  vpn_resolved_revert_finish (res, &error);
}

/* What a killed anyd left: marked devices (their routes go with them),
 * their UAPI sockets, and rules tagged with anyd's protocol. */
static void
reconcile (VpnModule *module)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) links = anyd_netlink_link_list (module->nl, &error);
  g_autoptr(GArray) rules = NULL;
  guint n_links = 0, n_rules = 0;

  for (guint i = 0; links && i < links->len; i++)
    {
      AnydLinkInfo *link = links->pdata[i];
      g_autoptr(GError) local = NULL;
      g_autofree char *sock = NULL;

      if (link->alias == NULL || !g_str_has_prefix (link->alias, VPN_MARK " "))
        continue;
      vpn_resolved_revert_async (anyd_daemon_get_connection (module->daemon), link->ifindex, NULL,
                                 reconcile_revert_cb, NULL);
      if (!anyd_netlink_link_delete (module->nl, link->ifindex, &local) &&
          !g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        g_warning ("vpn: removing leftover device %s: %s", link->name, local->message);
      /* wireguard-go exits when its socket goes */
      sock = g_strdup_printf ("/var/run/wireguard/%s.sock", link->name);
      unlink (sock);
      n_links++;
    }
  if (links == NULL)
    g_warning ("vpn: listing links: %s", error->message);
  g_clear_error (&error);

  rules = anyd_netlink_rule_list (module->nl, TRUE, &error);
  for (guint i = 0; rules && i < rules->len; i++)
    {
      g_autoptr(GError) local = NULL;
      if (!anyd_netlink_rule_del (module->nl, &g_array_index (rules, AnydRule, i), "rule", &local) &&
          !g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        g_warning ("vpn: removing a leftover routing rule: %s", local->message);
      n_rules++;
    }
  if (rules == NULL)
    g_warning ("vpn: listing routing rules: %s", error->message);
  if (n_links || n_rules)
    {
      g_message ("vpn: removed %u device(s) and %u routing rule(s) left over from a previous run", n_links, n_rules);
      anyd_audit_action (NULL, "vpn.cleanup", VPN_PATH, NULL, "devices=%u rules=%u", n_links, n_rules);
    }
}

static void
autoconnect_reply_cb (VpnConnection *connection, const GError *error, gpointer user_data)
{
  g_autofree char *name = user_data;

  if (error != NULL)
    g_warning ("vpn: autoconnect of %s: %s", name, error->message);
}

static gboolean
autoconnect_cb (gpointer data)
{
  VpnModule *module = data;
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, module->profiles);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      VpnProfile *profile = v;
      if (profile->autoconnect)
        vpn_connection_start (module, profile, NULL, autoconnect_reply_cb, g_strdup (profile->name));
    }
  return G_SOURCE_REMOVE;
}

static void vpn_stop (gpointer data);

static gpointer
vpn_start (AnydDaemon *daemon, GError **error)
{
  VpnModule *module = g_new0 (VpnModule, 1);
  g_autoptr(GPtrArray) loaded = NULL;
  g_autoptr(GError) local = NULL;

  if (sodium_init () < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "libsodium failed to initialize");
      g_free (module);
      return NULL;
    }
  module->daemon = daemon;
  module->backend = &vpn_backend_wireguard_go;
  module->profiles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) vpn_profile_free);
  module->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) vpn_connection_free);
  module->nl = anyd_netlink_get (error);
  module->store_dir = anyd_daemon_get_state_subdir (daemon, "vpn", error);
  if (module->nl == NULL || module->store_dir == NULL)
    goto fail;

  module->iface = anyd_dbus_vpn_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (module->iface), NULL, NULL);
  g_signal_connect (module->iface, "handle-import-profile", G_CALLBACK (handle_import_profile), module);
  g_signal_connect (module->iface, "handle-import-profile-fd", G_CALLBACK (handle_import_profile_fd), module);
  g_signal_connect (module->iface, "handle-connect", G_CALLBACK (handle_connect), module);
  g_signal_connect (module->iface, "handle-disconnect", G_CALLBACK (handle_disconnect), module);
  module->object = anyd_dbus_object_skeleton_new (VPN_PATH);
  anyd_dbus_object_skeleton_set_vpn (module->object, module->iface);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (module->object));

  reconcile (module);
  module->metrics_id = vpn_metrics_register (module);
  loaded = vpn_profile_load_all (module);
  for (guint i = 0; i < loaded->len; i++)
    {
      VpnProfile *profile = loaded->pdata[i];
      g_hash_table_insert (module->profiles, g_strdup (profile->name), profile);
      vpn_profile_export (profile);
    }
  if (!module->backend->check (anyd_daemon_get_config (daemon), &local))
    g_message ("vpn: %s", local->message);
  else
    g_idle_add (autoconnect_cb, module);
  return module;

fail:
  vpn_stop (module);
  return NULL;
}

static void
vpn_stop (gpointer data)
{
  VpnModule *module = data;
  GHashTableIter it;
  gpointer v;

  module->stopping = TRUE;
  g_clear_handle_id (&module->metrics_id, anyd_metrics_remove_collector);
  g_idle_remove_by_data (module);
  g_hash_table_iter_init (&it, module->connections);
  while (g_hash_table_iter_next (&it, NULL, &v))
    vpn_connection_shutdown (v);
  g_hash_table_unref (module->connections);
  g_hash_table_unref (module->profiles);
  if (module->object)
    {
      g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (module->daemon), VPN_PATH);
      g_signal_handlers_disconnect_by_data (module->iface, module);
      g_clear_object (&module->object);
      g_clear_object (&module->iface);
    }
  g_clear_pointer (&module->nl, anyd_netlink_unref);
  g_free (module->store_dir);
  g_free (module);
}

const AnydModule anyd_module_vpn = {
  .name = "vpn",
  .config_keys = vpn_config_keys,
  .auth_rules = vpn_auth_rules,
  .check_config = vpn_check_config,
  .start = vpn_start,
  .reload = NULL,
  .stop = vpn_stop,
};
