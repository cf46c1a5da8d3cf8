/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The vpn module: org.anyd1.Vpn at /org/anyd1/vpn — WireGuard and v2ray
 * (proxy) profiles (vpn-profile.c, vpn-link.c) and connections
 * (vpn-connection.c) on the wireguard-go data plane (vpn-wggo.c) or a local
 * v2ray behind nftables TPROXY (vpn-v2ray.c), each in a transient unit of
 * its own.  Proxy connections are not taken over by a restarted anyd: their
 * leftovers (unit, nft table, rules, routes, config) are swept at start.
 *
 * Tunnels outlive anyd ([vpn] keep_on_exit, default true): each live
 * connection keeps a runtime record (vpn-runtime.c) and the next start
 * takes over every connection whose record, profile, device, unit, rules,
 * routes and handshake check out, and removes the rest.  Nothing is left
 * behind: every device the module creates carries the alias
 * "anyd:vpn:1 <profile>", every routing rule protocol ANYD_RTPROT and every
 * unit the name anyd-vpn-*.service, so what no record claims (a crash
 * between creating and recording) is found and removed at start too. */
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
#include "nft.h"
#include "vpn-v2ray.h"
#include "vpn-v2ray-config.h"

/* The books: profiles and connections know nothing of this struct; they
 * get ctx and tell the module what changed through vpn_hooks. */
typedef struct {
  VpnContext              ctx;           /* shared with every profile and connection */
  AnydDBusObjectSkeleton *object;
  AnydDBusVpn            *iface;
  GHashTable             *profiles;      /* name -> VpnProfile* (owned) */
  GHashTable             *connections;   /* profile name -> VpnConnection* (owned) */
  GHashTable             *restarts;      /* profile name -> GList of Restart*: waiting for its connection to go */
  guint                   next_connection;
  AnydSystemd            *systemd;       /* the data planes' units */
  guint                   adopting;      /* start-up checks (re-adoptions, unit sweep) in flight */
  GHashTable             *claimed;       /* profile name -> TRUE: being re-adopted */
  VpnMetricsSource        metrics;
  guint                   metrics_id;    /* vpn-metrics.c's collector */
} VpnModule;

/* A Connect that waits for the profile's connection to be gone first. */
typedef struct {
  char           *profile;
  AnydCaller     *caller;
  VpnConnectReply reply;
  gpointer        data;
} Restart;

static const AnydConfigKey vpn_config_keys[] = {
  { "vpn", VPN_CONFIG_WIREGUARD_GO, ANYD_CONFIG_STRING, "/usr/bin/wireguard-go",
    "the wireguard-go executable (the data plane); when it is missing Connect answers org.anyd1.Error.Disabled", 0 },
  { "vpn", "handshake_timeout_s", ANYD_CONFIG_UINT, "15",
    "seconds a new connection waits for its first handshake before it fails (1-3600)", 3600 },
  { "vpn", VPN_CONFIG_V2RAY, ANYD_CONFIG_STRING, "/usr/bin/v2ray",
    "the v2ray executable (the data plane of v2ray profiles); when it is missing Connect answers "
    "org.anyd1.Error.Disabled", 0 },
  { "vpn", VPN_CONFIG_V2RAY_USER, ANYD_CONFIG_STRING, "anyd-v2ray",
    "the system user v2ray runs as (with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only); its sockets are "
    "never sent back into the proxy", 0 },
  { "vpn", VPN_CONFIG_PROXY_DNS, ANYD_CONFIG_STRING, VPN_PROXY_DNS_DEFAULT,
    "the DNS server v2ray asks, through the proxy, for every port-53 query of the host: "
    "https://IP[:port]/path (DNS over HTTPS) or udp://IP[:port]", 0 },
  { "vpn", VPN_CONFIG_PROXY_BYPASS, ANYD_CONFIG_STRING_LIST, "",
    "CIDRs that v2ray profiles send direct instead of through the proxy (the LAN), e.g. 192.168.0.0/16;fd00::/8;", 0 },
  { "vpn", "keep_on_exit", ANYD_CONFIG_BOOLEAN, "true",
    "connections stay up while anyd is stopped or restarted and are taken over at its next start; "
    "false: stopping anyd disconnects them", 0 },
  { NULL }
};

static const AnydAuthRule vpn_auth_rules[] = {
  { "org.anyd1.Vpn",           "ImportProfile",   ANYD_ACTION_VPN_MANAGE,  "profile", 0,  NULL },
  { "org.anyd1.Vpn",           "ImportProfileFd", ANYD_ACTION_VPN_MANAGE,  "profile", 0,  NULL },
  { "org.anyd1.Vpn",           "ImportProfiles",  ANYD_ACTION_VPN_MANAGE,  NULL,      -1, NULL },
  { "org.anyd1.Vpn",           "Connect",         ANYD_ACTION_VPN_CONNECT, "profile", 0,  NULL },
  { "org.anyd1.Vpn",           "Disconnect",      ANYD_ACTION_VPN_CONNECT, "profile", 0,  NULL },
  /* detail "profile" from the object (vpn_details_from_object) */
  { "org.anyd1.VpnProfile",    "Connect",         ANYD_ACTION_VPN_CONNECT, "profile", -1, NULL },
  { "org.anyd1.VpnProfile",    "Update",          ANYD_ACTION_VPN_MANAGE,  "profile", -1, NULL },
  { "org.anyd1.VpnProfile",    "SetAutoConnect",  ANYD_ACTION_VPN_MANAGE,  "profile", -1, NULL },
  { "org.anyd1.VpnProfile",    "Delete",          ANYD_ACTION_VPN_MANAGE,  "profile", -1, NULL },
  { "org.anyd1.VpnConnection", "Disconnect",      ANYD_ACTION_VPN_CONNECT, "profile", -1, NULL },
  ANYD_AUTH_RULES_END
};

static gboolean
vpn_check_config (AnydConfig *config, GError **error)
{
  g_autofree char *dns = anyd_config_get_string (config, "vpn", VPN_CONFIG_PROXY_DNS);
  g_auto(GStrv) bypass = anyd_config_get_string_list (config, "vpn", VPN_CONFIG_PROXY_BYPASS);

  if (!vpn_v2ray_proxy_dns_check (dns, "[vpn] proxy_dns", error))
    return FALSE;
  for (guint i = 0; bypass && bypass[i]; i++)
    {
      AnydCidr cidr;
      if (!anyd_cidr_parse (bypass[i], "[vpn] proxy_bypass", &cidr, error))
        return FALSE;
    }
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
  { "block_quic", "b" },
  { "ipv6", "s" },
  { NULL, NULL }
};

static const AnydOptionSpec subscription_options[] = {
  { "strict", "b" },
  { "autoconnect", "b" },
  { "block_quic", "b" },
  { "ipv6", "s" },
  { NULL, NULL }
};

static VpnProfile *
lookup_profile (VpnModule *module, const char *name, GError **error)
{
  VpnProfile *profile = g_hash_table_lookup (module->profiles, name);

  if (profile == NULL)
    {
      g_autofree char *shown = anyd_quote_text (name, 64);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "no VPN profile %s", shown);
    }
  return profile;
}

static VpnConnection *
lookup_connection (VpnModule *module, const char *profile)
{
  return g_hash_table_lookup (module->connections, profile);
}

/* The profiles table's destroy function: the quota the import charged goes too. */
static void
profile_drop (VpnProfile *profile)
{
  anyd_limits_release (anyd_daemon_get_limits (profile->ctx->daemon), profile->quota_uid, "vpn");
  vpn_profile_free (profile);
}

/* ------------------------------------------------------------ the hooks */

static void
restart_free (Restart *r)
{
  g_free (r->profile);
  g_clear_pointer (&r->caller, anyd_caller_unref);
  g_free (r);
}

/* The profile's live connection, or a new one that starts coming up.  reply
 * runs once the data plane is configured (state connecting or later), or
 * with the error that failed it. */
static void
connect_profile (VpnModule *module, VpnProfile *profile, const AnydCaller *caller,
                 VpnConnectReply reply, gpointer user_data)
{
  VpnConnection *c = lookup_connection (module, profile->name);
  g_autoptr(GError) error = NULL;

  if (c != NULL && vpn_connection_is_active (c))
    {
      /* the existing tunnel, not a second one */
      reply (c, NULL, user_data);
      return;
    }
  if (profile->config->link == NULL && profile->config->peers->len == 0)
    {
      /* wg-quick brings such an interface up to have peers added later; a
       * connection here has nothing to connect to and nothing could add one */
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED,
                           "VPN profile '%s' has no [Peer] section; add a peer to its configuration before connecting",
                           profile->name);
      reply (NULL, error, user_data);
      return;
    }
  if (profile->config->link != NULL && c == NULL)
    {
      /* the proxy takes all traffic: a second one could only fight the first */
      GHashTableIter it;
      VpnConnection *other;

      g_hash_table_iter_init (&it, module->connections);
      while (g_hash_table_iter_next (&it, NULL, (gpointer *) &other))
        if (vpn_connection_is_proxy (other))
          {
            error = g_error_new (ANYD_ERROR, ANYD_ERROR_BUSY, "VPN profile '%s': the proxy profile '%s' is connected; "
                                 "disconnect it first", profile->name, vpn_connection_get_profile_name (other));
            reply (NULL, error, user_data);
            return;
          }
    }
  if (!(profile->config->link ? &vpn_backend_v2ray : module->ctx.backend)->check (
        anyd_daemon_get_config (module->ctx.daemon), &error))
    {
      reply (NULL, error, user_data);
      return;
    }
  if (g_hash_table_contains (module->claimed, profile->name))
    {
      error = g_error_new (ANYD_ERROR, ANYD_ERROR_BUSY,
                           "VPN profile '%s': anyd is taking over its connection from before a restart; try again",
                           profile->name);
      reply (NULL, error, user_data);
      return;
    }
  if (c != NULL)
    {
      /* a failed or disconnecting one: the new one starts once it is gone
       * (its device name is free again) */
      Restart *r = g_new0 (Restart, 1);
      GList *waiting = g_hash_table_lookup (module->restarts, profile->name);

      r->profile = g_strdup (profile->name);
      r->caller = caller ? anyd_caller_ref ((AnydCaller *) caller) : NULL;
      r->reply = reply;
      r->data = user_data;
      /* appending to a list keeps its head: only a first one goes in */
      if (waiting == NULL)
        g_hash_table_insert (module->restarts, g_strdup (profile->name), g_list_append (NULL, r));
      else
        waiting = g_list_append (waiting, r);
      if (vpn_connection_is_failed (c))
        vpn_connection_disconnect (c, caller, "replaced by a new connection", NULL, NULL);
      return;
    }

  c = vpn_connection_new (&module->ctx, profile->name, profile->path, profile->config, caller,
                          ++module->next_connection);
  g_hash_table_insert (module->connections, g_strdup (profile->name), c);
  vpn_connection_start (c, reply, user_data);
}

static void
connect_requested (VpnProfile *profile, GDBusMethodInvocation *invocation, gpointer data)
{
  connect_profile (data, profile, anyd_caller_from_invocation (invocation), vpn_connect_reply_invocation,
                   invocation);
}

static void
profile_deleted (VpnProfile *profile, gpointer data)
{
  VpnModule *module = data;
  VpnConnection *c = lookup_connection (module, profile->name);

  /* the connection keeps its own reference to the configuration */
  if (c != NULL)
    vpn_connection_disconnect (c, NULL, "profile deleted", NULL, NULL);
  g_hash_table_remove (module->profiles, profile->name);
}

static void
connection_gone (VpnConnection *c, gpointer data)
{
  VpnModule *module = data;
  g_autofree char *name = g_strdup (vpn_connection_get_profile_name (c));
  gpointer key = NULL, value = NULL;
  GList *restarts = NULL;

  if (g_hash_table_steal_extended (module->restarts, name, &key, &value))
    {
      g_free (key);
      restarts = value;
    }
  if (module->ctx.stopping)
    {
      /* the module frees its table next */
      g_autoptr(GError) error = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "anyd is stopping");
      for (GList *l = restarts; l; l = l->next)
        ((Restart *) l->data)->reply (NULL, error, ((Restart *) l->data)->data);
      g_list_free_full (restarts, (GDestroyNotify) restart_free);
      return;
    }
  /* unexports and drops the table's reference */
  g_hash_table_remove (module->connections, name);
  for (GList *l = restarts; l; l = l->next)
    {
      Restart *r = l->data;
      GError *error = NULL;
      VpnProfile *profile = lookup_profile (module, r->profile, &error);

      if (profile != NULL)
        connect_profile (module, profile, r->caller, r->reply, r->data);
      else
        {
          r->reply (NULL, error, r->data);
          g_error_free (error);
        }
      restart_free (r);
    }
  g_list_free (restarts);
}

static gboolean
table_in_use (guint32 t, gpointer data)
{
  VpnModule *module = data;
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, module->connections);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (vpn_connection_uses_table (v, t))
      return TRUE;
  return FALSE;
}

static const VpnHooks vpn_hooks = {
  .connect_requested = connect_requested,
  .profile_deleted = profile_deleted,
  .connection_gone = connection_gone,
  .table_in_use = table_in_use,
};

/* --------------------------------------------------------------- import */

static gboolean
check_name (const char *name, GError **error)
{
  if (!vpn_profile_name_is_valid (name))
    {
      g_autofree char *shown = anyd_quote_text (name, 64);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "name: %s is not a profile name (1-%d characters of A-Z a-z 0-9 _ = + . -, "
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
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_EXISTS, "name: VPN profile '%s' already exists", name);
      return FALSE;
    }
  return TRUE;
}

/* The v2ray-only options onto a parsed link; on a wireguard profile they
 * are an error (they would silently do nothing). */
static gboolean
apply_proxy_options (VpnConfig *config, GVariant *options, GError **error)
{
  const char *ipv6 = NULL;
  gboolean block_quic = FALSE, has_quic = g_variant_lookup (options, "block_quic", "b", &block_quic);
  gboolean has_ipv6 = g_variant_lookup (options, "ipv6", "&s", &ipv6);

  if (config->link == NULL)
    {
      if (has_quic || has_ipv6)
        {
          g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "options.%s: only for v2ray profiles",
                       has_quic ? "block_quic" : "ipv6");
          return FALSE;
        }
      return TRUE;
    }
  if (has_ipv6 && !vpn_ipv6_mode_parse (ipv6, &config->link->ipv6))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "options.ipv6: must be proxy or block");
      return FALSE;
    }
  config->link->block_quic = block_quic;
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
      !anyd_limits_check (anyd_daemon_get_limits (module->ctx.daemon), uid, "vpn", error))
    return NULL;
  g_variant_lookup (options, "ignore_scripts", "b", &ignore_scripts);
  g_variant_lookup (options, "autoconnect", "b", &autoconnect);
  config = vpn_config_parse_any (text, len,
                                 ignore_scripts ? VPN_CONFIG_PARSE_IGNORE_SCRIPTS : VPN_CONFIG_PARSE_NONE, error);
  if (config == NULL || !apply_proxy_options (config, options, error))
    return NULL;
  profile = vpn_profile_new (&module->ctx, name, config, autoconnect, ignore_scripts);
  if (!vpn_profile_save (profile, error))
    {
      vpn_profile_free (profile);
      return NULL;
    }
  g_hash_table_insert (module->profiles, g_strdup (name), profile);
  /* Profiles found at start are counted for nobody: the record does not
   * say who imported it. */
  anyd_limits_charge (anyd_daemon_get_limits (module->ctx.daemon), uid, "vpn");
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

/* A name for the profile of a subscription's link: its label made valid,
 * then unique among the profiles and the batch ("-2", "-3", …). */
static char *
unique_name (VpnModule *module, GHashTable *taken, const VpnLink *link)
{
  g_autofree char *base = vpn_link_name_from_label (link->label, vpn_protocol_name (link->protocol));
  char *name = g_strdup (base);

  for (guint n = 2; g_hash_table_contains (module->profiles, name) || g_hash_table_contains (taken, name); n++)
    {
      g_free (name);
      name = g_strdup_printf ("%s-%u", base, n);
    }
  return name;
}

static gboolean
handle_import_profiles (AnydDBusVpn *iface, GDBusMethodInvocation *invocation, const char *text,
                        GVariant *options, gpointer user_data)
{
  VpnModule *module = user_data;
  AnydCaller *caller = anyd_caller_from_invocation (invocation);
  GError *error = NULL;
  g_autoptr(GPtrArray) links = NULL;
  g_autoptr(GPtrArray) skipped = NULL;
  g_autoptr(GPtrArray) made = g_ptr_array_new ();   /* VpnProfile *, saved, not yet exported */
  g_autoptr(GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  gboolean strict = FALSE, autoconnect = FALSE;

  if (!anyd_options_check (options, subscription_options, "options", &error))
    goto out;
  g_variant_lookup (options, "strict", "b", &strict);
  g_variant_lookup (options, "autoconnect", "b", &autoconnect);
  links = vpn_subscription_parse (text, strlen (text), &skipped, &error);
  if (links == NULL)
    goto out;
  for (guint i = 0; i < skipped->len; i++)
    g_message ("vpn: subscription %s", (char *) skipped->pdata[i]);
  if (links->len == 0 || (strict && skipped->len > 0))
    {
      g_set_error (&error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "subscription: %s%s%s",
                   (char *) skipped->pdata[0], skipped->len > 1 ? " (and more bad lines)" : "",
                   strict ? "; strict: nothing imported" : "");
      goto out;
    }
  for (guint i = 0; i < links->len && error == NULL; i++)
    {
      g_autoptr(VpnConfig) config = vpn_config_new_v2ray (vpn_link_copy (links->pdata[i]));
      g_autofree char *name = unique_name (module, taken, config->link);
      VpnProfile *profile;

      if (!apply_proxy_options (config, options, &error))
        break;
      profile = vpn_profile_new (&module->ctx, name, config, autoconnect, FALSE);
      if (!vpn_profile_save (profile, &error))
        {
          vpn_profile_free (profile);
          break;
        }
      g_ptr_array_add (made, profile);
      g_hash_table_add (taken, profile->name);
    }
  if (error != NULL)
    {
      /* all or nothing: take back what was stored */
      for (guint i = 0; i < made->len; i++)
        {
          VpnProfile *profile = made->pdata[i];
          g_autoptr(GError) local = NULL;
          if (!vpn_profile_remove_file (&module->ctx, profile->name, &local))
            g_warning ("vpn: %s", local->message);
          vpn_profile_free (profile);
        }
      g_ptr_array_set_size (made, 0);
      goto out;
    }
  for (guint i = 0; i < made->len; i++)
    {
      VpnProfile *profile = made->pdata[i];
      g_hash_table_insert (module->profiles, g_strdup (profile->name), profile);
      vpn_profile_export (profile);
      g_ptr_array_add (paths, g_strdup (profile->path));
      anyd_audit_action (caller, "vpn.import", profile->path, NULL, "profile=%s", profile->name);
    }

out:
  if (error != NULL)
    {
      anyd_audit_action (caller, "vpn.import", VPN_PATH, error, "subscription");
      anyd_invocation_return_error (invocation, error);
    }
  else
    {
      g_ptr_array_add (paths, NULL);
      anyd_dbus_vpn_complete_import_profiles (iface, invocation, (const char *const *) paths->pdata);
    }
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
  VpnProfile *profile = lookup_profile (module, name, &error);

  if (profile == NULL)
    anyd_invocation_return_error (invocation, error);
  else
    connect_profile (module, profile, anyd_caller_from_invocation (invocation), vpn_connect_reply_invocation,
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

  if (lookup_profile (module, name, &error) == NULL)
    {
      anyd_invocation_return_error (invocation, error);
      return TRUE;
    }
  c = lookup_connection (module, name);
  if (c == NULL)
    {
      anyd_invocation_return_error (invocation, g_error_new (ANYD_ERROR, ANYD_ERROR_NOT_FOUND,
                                                             "VPN profile '%s' is not connected", name));
      return TRUE;
    }
  vpn_connection_disconnect (c, anyd_caller_from_invocation (invocation), "", disconnect_done_cb, invocation);
  return TRUE;
}

/* ------------------------------------------------------------ lifecycle */

static void
revert_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  vpn_resolved_revert_finish (res, &error);
}

static void
stop_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  /* a unit that is gone already is what we wanted */
  anyd_systemd_run_job_finish (NULL, res, &error);
}

/* A device anyd marked: DNS reverted, the device deleted (its routes go
 * with it; the data plane exits when its TUN goes), its UAPI socket removed. */
static void
remove_device (VpnModule *module, int ifindex, const char *ifname)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sock = g_strdup_printf ("/var/run/wireguard/%s.sock", ifname);

  vpn_resolved_revert_async (anyd_daemon_get_connection (module->ctx.daemon), ifindex, NULL, revert_cb, NULL);
  if (!anyd_netlink_link_delete (module->ctx.nl, ifindex, &error) &&
      !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
    g_warning ("vpn: removing device %s: %s", ifname, error->message);
  unlink (sock);
}

/* A listed rule has no invert/suppress_prefixlength (libnl does not read
 * them); family, table and mark tell anyd's rules apart. */
static gboolean
rule_matches (const AnydRule *a, const AnydRule *b)
{
  return a->family == b->family && a->table == b->table && a->fwmark == b->fwmark;
}

/* Everything a record names that does not check out, gone: its rules, its
 * device (only if it still carries the profile's mark), its unit (always
 * the profile's own), its record.  Audited with why. */
static void
discard_record (VpnModule *module, const VpnRuntime *rt, const char *why)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) audit = g_error_new (ANYD_ERROR, ANYD_ERROR_FAILED, "%s", why);
  g_autoptr(AnydLinkInfo) link = anyd_netlink_link_get (module->ctx.nl, rt->ifindex, NULL);
  g_autofree char *mark = g_strdup_printf (VPN_MARK " %s", rt->profile);

  g_message ("vpn: not taking over the connection of %s: %s; removing it", rt->profile, why);
  for (guint i = 0; i < rt->rules->len; i++)
    {
      g_autoptr(GError) local = NULL;
      if (!anyd_netlink_rule_del (module->ctx.nl, &g_array_index (rt->rules, AnydRule, i), "rule", &local) &&
          !g_error_matches (local, ANYD_ERROR, ANYD_ERROR_NOT_FOUND))
        g_warning ("vpn: removing a routing rule of %s: %s", rt->profile, local->message);
    }
  if (link != NULL && g_strcmp0 (link->alias, mark) == 0)
    remove_device (module, rt->ifindex, link->name);
  anyd_systemd_run_job_async (module->systemd, rt->unit, "stop", stop_cb, NULL);
  if (!vpn_runtime_remove (module->ctx.runtime_dir, rt->profile, &error))
    g_warning ("vpn: %s", error->message);
  anyd_audit_action (NULL, "vpn.adopt", VPN_PATH, audit, "profile=%s interface=%s unit=%s", rt->profile,
                     rt->ifname, rt->unit);
}

static void autoconnect_start (VpnModule *module);

/* One of the start-up checks (an adoption, the unit sweep) is over: the
 * last one autoconnects, or, when the module stopped meanwhile, frees what
 * vpn_stop left for it. */
static void
pending_done (VpnModule *module)
{
  if (--module->adopting > 0)
    return;
  if (module->ctx.stopping)
    g_free (module);
  else
    autoconnect_start (module);
}

typedef struct {
  VpnModule  *module;
  VpnRuntime *rt;
} Adoption;

/* The data plane checked out: the connection takes it over unless its
 * profile went or got another connection meanwhile. */
static VpnConnection *
take_over (VpnModule *module, VpnRuntime *rt, VpnTunnel *t, const VpnUapiStats *stats, GError **error)
{
  VpnProfile *profile = g_hash_table_lookup (module->profiles, rt->profile);
  VpnConnection *c;

  if (profile == NULL)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "the profile was deleted meanwhile");
  else if (lookup_connection (module, rt->profile) != NULL)
    g_set_error (error, ANYD_ERROR, ANYD_ERROR_EXISTS, "the profile has another connection");
  if (*error != NULL)
    {
      t->backend->release (t);
      return NULL;
    }

  /* the number it had, unless a connection made meanwhile took it */
  {
    g_autofree char *path = g_strdup_printf (VPN_CONNECTIONS_PATH "/%u", rt->object);
    gboolean taken = rt->object == 0;
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init (&it, module->connections);
    while (!taken && g_hash_table_iter_next (&it, NULL, &v))
      taken = g_str_equal (vpn_connection_get_path (v), path);
    c = vpn_connection_new (&module->ctx, profile->name, profile->path, profile->config, NULL,
                            taken ? ++module->next_connection : rt->object);
    module->next_connection = MAX (module->next_connection, rt->object);
  }
  g_hash_table_insert (module->connections, g_strdup (profile->name), c);
  vpn_connection_resume (c, rt, t, stats);
  return c;
}

static void
adopt_reply_cb (VpnTunnel *t, const VpnUapiStats *stats, const GError *checked, gpointer user_data)
{
  Adoption *ad = user_data;
  VpnModule *module = ad->module;
  g_autoptr(GError) local = NULL;
  const GError *error = checked;
  VpnConnection *connection = NULL;

  if (t != NULL)
    {
      connection = take_over (module, ad->rt, t, stats, &local);
      error = local;
    }
  if (!module->ctx.stopping)
    g_hash_table_remove (module->claimed, ad->rt->profile);
  if (connection != NULL)
    {
      g_message ("vpn: %s: took over the connection left running (interface %s, unit %s)", ad->rt->profile,
                 ad->rt->ifname, ad->rt->unit);
      anyd_audit_action (NULL, "vpn.adopt", vpn_connection_get_path (connection), NULL,
                         "profile=%s interface=%s unit=%s", ad->rt->profile, ad->rt->ifname, ad->rt->unit);
    }
  else if (!module->ctx.stopping)
    discard_record (module, ad->rt, error->message);
  vpn_runtime_free (ad->rt);
  g_free (ad);
  pending_done (module);
}

/* The records of connections an earlier anyd left running.  Unreadable
 * ones are removed (what they named is swept as unclaimed below); two
 * naming one interface or unit are both discarded. */
static GPtrArray *
load_records (VpnModule *module)
{
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify) vpn_runtime_free);
  g_autoptr(GDir) dir = g_dir_open (module->ctx.runtime_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (module->ctx.runtime_dir, name, NULL);
      g_autofree char *data = NULL;
      g_autoptr(GError) error = NULL;
      gsize len = 0;
      VpnRuntime *rt = NULL;

      if (!g_str_has_suffix (name, VPN_RUNTIME_SUFFIX))
        continue;
      if (g_file_get_contents (path, &data, &len, &error))
        rt = vpn_runtime_parse (data, len, &error);
      if (rt != NULL && !(strlen (name) == strlen (rt->profile) + strlen (VPN_RUNTIME_SUFFIX) &&
                          g_str_has_prefix (name, rt->profile)))
        {
          g_clear_pointer (&rt, vpn_runtime_free);
          g_set_error (&error, ANYD_ERROR, ANYD_ERROR_FAILED, "runtime record: not named after its profile");
        }
      if (rt == NULL)
        {
          g_message ("vpn: removing the unreadable runtime record %s: %s", name, error->message);
          anyd_audit_action (NULL, "vpn.adopt", VPN_PATH, error, "record=%s", name);
          unlink (path);
          continue;
        }
      g_ptr_array_add (records, rt);
    }
  for (guint i = 0; i < records->len; i++)
    for (guint j = i + 1; j < records->len; j++)
      {
        VpnRuntime *a = records->pdata[i], *b = records->pdata[j];
        if (a->ifindex == b->ifindex || g_str_equal (a->ifname, b->ifname))
          {
            g_autofree char *why = g_strdup_printf ("the records of %s and %s both claim interface %s",
                                                    a->profile, b->profile, a->ifname);
            discard_record (module, a, why);
            discard_record (module, b, why);
            g_ptr_array_remove_index (records, j);
            g_ptr_array_remove_index (records, i);
            i--;
            break;
          }
      }
  return records;
}

static gboolean
claimed_rule (GPtrArray *records, const AnydRule *r)
{
  for (guint i = 0; i < records->len; i++)
    {
      VpnRuntime *rt = records->pdata[i];
      for (guint j = 0; j < rt->rules->len; j++)
        if (rule_matches (&g_array_index (rt->rules, AnydRule, j), r))
          return TRUE;
    }
  return FALSE;
}

static gboolean
claimed_link (GPtrArray *records, int ifindex)
{
  for (guint i = 0; i < records->len; i++)
    if (((VpnRuntime *) records->pdata[i])->ifindex == ifindex)
      return TRUE;
  return FALSE;
}

typedef struct {
  VpnModule *module;
  GPtrArray *units;   /* claimed unit names */
} UnitSweep;

static void
units_listed_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  UnitSweep *sw = user_data;
  VpnModule *module = sw->module;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) units = anyd_systemd_list_units_finish (NULL, res, &error);

  for (guint i = 0; units && units[i] && !module->ctx.stopping; i++)
    {
      if (g_ptr_array_find_with_equal_func (sw->units, units[i], g_str_equal, NULL))
        continue;
      g_message ("vpn: stopping %s: no connection record claims it", units[i]);
      anyd_audit_action (NULL, "vpn.cleanup", VPN_PATH, NULL, "unit=%s", units[i]);
      anyd_systemd_run_job_async (module->systemd, units[i], "stop", stop_cb, NULL);
    }
  if (units == NULL && !g_error_matches (error, ANYD_ERROR, ANYD_ERROR_DISABLED))
    g_debug ("vpn: listing data plane units: %s", error->message);
  g_ptr_array_unref (sw->units);
  g_free (sw);
  pending_done (module);
}

/* What no record claims: marked devices (a data plane whose anyd was killed
 * before it wrote the record), rules tagged with anyd's protocol, and
 * data plane units. */
static void
sweep (VpnModule *module, GPtrArray *records)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) links = anyd_netlink_link_list (module->ctx.nl, &error);
  g_autoptr(GArray) rules = NULL;
  const char *const patterns[] = { "anyd-vpn-*.service", NULL };
  UnitSweep *sw;
  guint n_links = 0, n_rules = 0;

  for (guint i = 0; links && i < links->len; i++)
    {
      AnydLinkInfo *link = links->pdata[i];

      if (link->alias == NULL || !g_str_has_prefix (link->alias, VPN_MARK " ") ||
          claimed_link (records, link->ifindex))
        continue;
      remove_device (module, link->ifindex, link->name);
      n_links++;
    }
  if (links == NULL)
    g_warning ("vpn: listing links: %s", error->message);
  g_clear_error (&error);

  /* proxy connections are never re-adopted: their tables, rules and
   * local routes all go (the routing rule goes with anyd's rules below) */
  {
    g_autoptr(AnydNft) nft = anyd_nft_new (NULL);
    g_auto(GStrv) tables = nft ? anyd_nft_list_tables (nft, "inet", VPN_V2RAY_TABLE_PREFIX, NULL) : NULL;

    for (guint i = 0; tables && tables[i]; i++)
      {
        g_message ("vpn: removing nftables table %s left over from a previous run", tables[i]);
        anyd_audit_action (NULL, "vpn.cleanup", VPN_PATH, NULL, "nft_table=%s", tables[i]);
        vpn_v2ray_remove_network (module->ctx.nl, tables[i]);
      }
    if (tables == NULL || tables[0] == NULL)
      vpn_v2ray_remove_network (module->ctx.nl, NULL);
    /* and their configs: they hold the proxy's secret */
    {
      g_autofree char *dir = g_build_filename (module->ctx.runtime_dir, "v2ray", NULL);
      g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
      const char *name;

      while (d && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *file = g_build_filename (dir, name, NULL);
          if (unlink (file) < 0 && errno != ENOENT)
            g_warning ("vpn: removing %s: %s", file, g_strerror (errno));
        }
    }
  }

  rules = anyd_netlink_rule_list (module->ctx.nl, TRUE, &error);
  for (guint i = 0; rules && i < rules->len; i++)
    {
      g_autoptr(GError) local = NULL;
      AnydRule *r = &g_array_index (rules, AnydRule, i);

      if (claimed_rule (records, r))
        continue;
      if (!anyd_netlink_rule_del (module->ctx.nl, r, "rule", &local) &&
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

  sw = g_new0 (UnitSweep, 1);
  sw->module = module;
  sw->units = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < records->len; i++)
    g_ptr_array_add (sw->units, g_strdup (((VpnRuntime *) records->pdata[i])->unit));
  module->adopting++;
  anyd_systemd_list_units_async (module->systemd, patterns, units_listed_cb, sw);
}

/* Take over what an earlier anyd left running, remove what does not check
 * out, then autoconnect.  A profile changed or deleted while anyd was away
 * is not taken over: its connection is removed (an AutoConnect profile
 * then comes up again with its new content). */
static void
reconcile (VpnModule *module)
{
  g_autoptr(GPtrArray) records = load_records (module);

  module->adopting = 1;   /* until every check has started */
  sweep (module, records);
  for (guint i = 0; i < records->len; i++)
    {
      VpnRuntime *rt = records->pdata[i];
      VpnProfile *profile = g_hash_table_lookup (module->profiles, rt->profile);
      g_autofree char *hash = profile ? vpn_config_hash (profile->config) : NULL;
      Adoption *ad;

      if (profile == NULL)
        {
          discard_record (module, rt, "its profile was deleted while anyd was not running");
          continue;
        }
      if (!g_str_equal (hash, rt->profile_hash))
        {
          discard_record (module, rt, "its profile was changed while anyd was not running");
          continue;
        }
      ad = g_new0 (Adoption, 1);
      ad->module = module;
      ad->rt = records->pdata[i];
      records->pdata[i] = NULL;
      g_ptr_array_remove_index (records, i);
      i--;
      g_hash_table_add (module->claimed, g_strdup (ad->rt->profile));
      module->adopting++;
      vpn_connection_adopt (&module->ctx, ad->rt, adopt_reply_cb, ad);
    }
  pending_done (module);
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
        connect_profile (module, profile, NULL, autoconnect_reply_cb, g_strdup (profile->name));
    }
  return G_SOURCE_REMOVE;
}

static void
autoconnect_start (VpnModule *module)
{
  g_autoptr(GError) local = NULL;

  if (!module->ctx.backend->check (anyd_daemon_get_config (module->ctx.daemon), &local))
    g_message ("vpn: %s", local->message);
  else
    g_idle_add (autoconnect_cb, module);
}

static void vpn_stop (gpointer data);

static gpointer
vpn_start (AnydDaemon *daemon, GError **error)
{
  VpnModule *module = g_new0 (VpnModule, 1);
  g_autoptr(GPtrArray) loaded = NULL;
  AnydConfig *config = anyd_daemon_get_config (daemon);

  if (sodium_init () < 0)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "libsodium failed to initialize");
      g_free (module);
      return NULL;
    }
  module->ctx.daemon = daemon;
  module->ctx.backend = &vpn_backend_wireguard_go;
  module->ctx.keep_on_exit = anyd_config_get_boolean (config, "vpn", "keep_on_exit");
  module->ctx.hooks = &vpn_hooks;
  module->ctx.hooks_data = module;
  module->profiles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) profile_drop);
  module->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                               (GDestroyNotify) vpn_connection_free);
  module->restarts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  module->claimed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  module->ctx.nl = anyd_netlink_get (error);
  module->ctx.store_dir = anyd_daemon_get_state_subdir (daemon, "vpn", error);
  if (module->ctx.nl == NULL || module->ctx.store_dir == NULL)
    goto fail;
  module->ctx.runtime_dir = g_build_filename (anyd_daemon_get_runtime_dir (daemon), "vpn", NULL);
  if (!anyd_mkdir_private (module->ctx.runtime_dir, error))
    goto fail;
  module->systemd = anyd_systemd_new (anyd_daemon_get_connection (daemon), NULL, NULL);
  module->ctx.env.config = config;
  module->ctx.env.systemd = module->systemd;
  module->ctx.env.bus = anyd_daemon_get_connection (daemon);

  module->iface = anyd_dbus_vpn_skeleton_new ();
  anyd_auth_guard (anyd_daemon_get_auth (daemon), G_DBUS_INTERFACE_SKELETON (module->iface), NULL, NULL);
  g_signal_connect (module->iface, "handle-import-profile", G_CALLBACK (handle_import_profile), module);
  g_signal_connect (module->iface, "handle-import-profile-fd", G_CALLBACK (handle_import_profile_fd), module);
  g_signal_connect (module->iface, "handle-import-profiles", G_CALLBACK (handle_import_profiles), module);
  g_signal_connect (module->iface, "handle-connect", G_CALLBACK (handle_connect), module);
  g_signal_connect (module->iface, "handle-disconnect", G_CALLBACK (handle_disconnect), module);
  module->object = anyd_dbus_object_skeleton_new (VPN_PATH);
  anyd_dbus_object_skeleton_set_vpn (module->object, module->iface);
  g_dbus_object_manager_server_export (anyd_daemon_get_object_manager (daemon),
                                       G_DBUS_OBJECT_SKELETON (module->object));

  module->metrics.daemon = daemon;
  module->metrics.profiles = module->profiles;
  module->metrics.connections = module->connections;
  module->metrics_id = vpn_metrics_register (&module->metrics);
  loaded = vpn_profile_load_all (&module->ctx);
  for (guint i = 0; i < loaded->len; i++)
    {
      VpnProfile *profile = loaded->pdata[i];
      g_hash_table_insert (module->profiles, g_strdup (profile->name), profile);
      vpn_profile_export (profile);
    }
  reconcile (module);
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

  module->ctx.stopping = TRUE;
  g_clear_handle_id (&module->metrics_id, anyd_metrics_remove_collector);
  g_idle_remove_by_data (module);
  g_hash_table_iter_init (&it, module->connections);
  while (g_hash_table_iter_next (&it, NULL, &v))
    vpn_connection_shutdown (v, module->ctx.keep_on_exit);
  g_hash_table_unref (module->connections);
  g_hash_table_unref (module->profiles);
  g_hash_table_unref (module->claimed);
  /* every connection that had waiters went through connection_gone above */
  g_warn_if_fail (g_hash_table_size (module->restarts) == 0);
  g_hash_table_unref (module->restarts);
  if (module->object)
    {
      g_dbus_object_manager_server_unexport (anyd_daemon_get_object_manager (module->ctx.daemon), VPN_PATH);
      g_signal_handlers_disconnect_by_data (module->iface, module);
      g_clear_object (&module->object);
      g_clear_object (&module->iface);
    }
  g_clear_pointer (&module->systemd, anyd_systemd_free);
  g_clear_pointer (&module->ctx.nl, anyd_netlink_unref);
  g_free (module->ctx.store_dir);
  g_free (module->ctx.runtime_dir);
  /* start-up checks still in flight free it when they end */
  if (module->adopting == 0)
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
