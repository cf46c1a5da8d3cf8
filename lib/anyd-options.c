/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* AnydOptions: a{sv} dictionaries without hand-built variants.  The daemon
 * refuses unknown keys and wrong types with InvalidArgument naming the key,
 * so the builder stays generic and the named constructors cover the
 * common cases. */
#include "anyd-options.h"

#include <gio/gunixfdlist.h>

/**
 * AnydOptions:
 *
 * Builds the `a{sv}` options argument of a method such as
 * org.anyd1.Tun.Create.  Setting a key again replaces its value.
 */
struct _AnydOptions {
  GObject parent_instance;
  GVariantDict *dict;
};

G_DEFINE_FINAL_TYPE (AnydOptions, anyd_options, G_TYPE_OBJECT)

static void
anyd_options_finalize (GObject *object)
{
  AnydOptions *self = ANYD_OPTIONS (object);

  g_variant_dict_unref (self->dict);
  G_OBJECT_CLASS (anyd_options_parent_class)->finalize (object);
}

static void
anyd_options_class_init (AnydOptionsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = anyd_options_finalize;
}

static void
anyd_options_init (AnydOptions *self)
{
  self->dict = g_variant_dict_new (NULL);
}

/**
 * anyd_options_new:
 *
 * Returns: (transfer full): an empty options dictionary
 */
AnydOptions *
anyd_options_new (void)
{
  return g_object_new (ANYD_TYPE_OPTIONS, NULL);
}

/**
 * anyd_options_set_string:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "mode"
 * @value: its value
 */
void
anyd_options_set_string (AnydOptions *options, const char *key, const char *value)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_return_if_fail (key != NULL && value != NULL);
  g_variant_dict_insert_value (options->dict, key, g_variant_new_string (value));
}

/**
 * anyd_options_set_boolean:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "persist"
 * @value: its value
 */
void
anyd_options_set_boolean (AnydOptions *options, const char *key, gboolean value)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_return_if_fail (key != NULL);
  g_variant_dict_insert_value (options->dict, key, g_variant_new_boolean (value));
}

/**
 * anyd_options_set_uint32:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "mtu"
 * @value: its value (D-Bus type u)
 */
void
anyd_options_set_uint32 (AnydOptions *options, const char *key, guint32 value)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_return_if_fail (key != NULL);
  g_variant_dict_insert_value (options->dict, key, g_variant_new_uint32 (value));
}

/**
 * anyd_options_set_uint64:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "memory_max"
 * @value: its value (D-Bus type t)
 */
void
anyd_options_set_uint64 (AnydOptions *options, const char *key, guint64 value)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_return_if_fail (key != NULL);
  g_variant_dict_insert_value (options->dict, key, g_variant_new_uint64 (value));
}

/**
 * anyd_options_set_strv:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "addresses"
 * @value: (array zero-terminated=1): its value (D-Bus type as)
 */
void
anyd_options_set_strv (AnydOptions *options, const char *key, const char *const *value)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_return_if_fail (key != NULL && value != NULL);
  g_variant_dict_insert_value (options->dict, key, g_variant_new_strv (value, -1));
}

/**
 * anyd_options_set_handle:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "stdin"
 * @fd_index: the index of the fd in the #GUnixFDList sent with the call
 */
void
anyd_options_set_handle (AnydOptions *options, const char *key, gint32 fd_index)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_return_if_fail (key != NULL);
  g_variant_dict_insert_value (options->dict, key, g_variant_new_handle (fd_index));
}

/**
 * anyd_options_set_fd:
 * @options: an #AnydOptions
 * @key: the option's name, e.g. "stdout"
 * @fd_list: the #GUnixFDList to send with the call
 * @fd: a file descriptor; @fd_list gets a duplicate, @fd stays the caller's
 * @error: return location for a #GError
 *
 * Appends @fd to @fd_list and sets @key to its index (D-Bus type h): the
 * stdin, stdout and stderr of org.anyd1.Exec.Run, whose generated
 * anyd_exec_call_run() takes @fd_list.
 *
 * Returns: %TRUE, or %FALSE with @error set if @fd could not be duplicated
 */
gboolean
anyd_options_set_fd (AnydOptions *options, const char *key, GUnixFDList *fd_list, int fd,
                     GError **error)
{
  gint index;

  g_return_val_if_fail (ANYD_IS_OPTIONS (options), FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (G_IS_UNIX_FD_LIST (fd_list), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  index = g_unix_fd_list_append (fd_list, fd, error);
  if (index < 0)
    return FALSE;
  anyd_options_set_handle (options, key, index);
  return TRUE;
}

/**
 * anyd_options_remove:
 * @options: an #AnydOptions
 * @key: an option's name
 */
void
anyd_options_remove (AnydOptions *options, const char *key)
{
  g_return_if_fail (ANYD_IS_OPTIONS (options));
  g_variant_dict_remove (options->dict, key);
}

/**
 * anyd_options_contains:
 * @options: an #AnydOptions
 * @key: an option's name
 *
 * Returns: whether @key is set
 */
gboolean
anyd_options_contains (AnydOptions *options, const char *key)
{
  g_return_val_if_fail (ANYD_IS_OPTIONS (options), FALSE);
  return g_variant_dict_contains (options->dict, key);
}

/**
 * anyd_options_end:
 * @options: an #AnydOptions
 *
 * The dictionary as it is now; @options stays usable.
 *
 * Returns: (transfer none): a new floating `a{sv}` #GVariant, as
 *   g_variant_builder_end() returns, for the options argument of a call
 */
GVariant *
anyd_options_end (AnydOptions *options)
{
  GVariant *result;

  g_return_val_if_fail (ANYD_IS_OPTIONS (options), NULL);
  result = g_variant_dict_end (options->dict);
  g_variant_dict_unref (options->dict);
  /* g_variant_dict_new() copies the entries and leaves result floating */
  options->dict = g_variant_dict_new (result);
  return result;
}

/**
 * anyd_options_new_tun:
 * @mode: (nullable): "tun" or "tap", or %NULL for the default (tun)
 * @mtu: the MTU, 0 for the kernel's default
 * @addresses: (nullable) (array zero-terminated=1): CIDR addresses, or %NULL
 * @up: bring the device up
 * @persist: keep the device when the caller's bus connection goes away
 *
 * Options for org.anyd1.Tun.Create and Open; add "owner", "group",
 * "routes"… with the setters.
 *
 * Returns: (transfer full): the options
 */
AnydOptions *
anyd_options_new_tun (const char *mode, guint32 mtu, const char *const *addresses,
                      gboolean up, gboolean persist)
{
  AnydOptions *options = anyd_options_new ();

  if (mode != NULL)
    anyd_options_set_string (options, "mode", mode);
  if (mtu != 0)
    anyd_options_set_uint32 (options, "mtu", mtu);
  if (addresses != NULL)
    anyd_options_set_strv (options, "addresses", addresses);
  if (up)
    anyd_options_set_boolean (options, "up", TRUE);
  if (persist)
    anyd_options_set_boolean (options, "persist", TRUE);
  return options;
}

/**
 * anyd_options_new_vpn_import:
 * @autoconnect: connect the profile when the daemon starts
 * @ignore_scripts: import a wg-quick file even if it has PreUp/PostUp/…
 *   lines (they are never run)
 *
 * Options for org.anyd1.Vpn.ImportProfile, ImportProfileFd and
 * ImportProfiles.
 *
 * Returns: (transfer full): the options
 */
AnydOptions *
anyd_options_new_vpn_import (gboolean autoconnect, gboolean ignore_scripts)
{
  AnydOptions *options = anyd_options_new ();

  if (autoconnect)
    anyd_options_set_boolean (options, "autoconnect", TRUE);
  if (ignore_scripts)
    anyd_options_set_boolean (options, "ignore_scripts", TRUE);
  return options;
}

/**
 * anyd_options_new_vault_put:
 * @content_type: (nullable): the secret's content type, or %NULL
 *
 * Options for org.anyd1.Vault.Put.
 *
 * Returns: (transfer full): the options
 */
AnydOptions *
anyd_options_new_vault_put (const char *content_type)
{
  AnydOptions *options = anyd_options_new ();

  if (content_type != NULL)
    anyd_options_set_string (options, "content_type", content_type);
  return options;
}

/**
 * anyd_options_new_exec:
 * @cwd: (nullable): the working directory, or %NULL
 * @user: (nullable): the user to run as, or %NULL for the caller
 * @timeout_ms: kill the command after this long, 0 for no limit
 *
 * Options for org.anyd1.Exec.Run and RunPty; add "env", "sandbox"… with
 * the setters, and Run's "stdin", "stdout", "stderr" with
 * anyd_options_set_fd().
 *
 * Returns: (transfer full): the options
 */
AnydOptions *
anyd_options_new_exec (const char *cwd, const char *user, guint32 timeout_ms)
{
  AnydOptions *options = anyd_options_new ();

  if (cwd != NULL)
    anyd_options_set_string (options, "cwd", cwd);
  if (user != NULL)
    anyd_options_set_string (options, "user", user);
  if (timeout_ms != 0)
    anyd_options_set_uint32 (options, "timeout_ms", timeout_ms);
  return options;
}
