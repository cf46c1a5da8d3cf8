/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tun module's own record of its devices, beside the alias mark.
 *
 * The mark in IFLA_IFALIAS (tun-device.c) travels with the device, but any
 * administrator may overwrite it (`ip link set DEV alias …`), and a device
 * whose mark is gone would be orphaned at the next start: still in the
 * kernel, no longer listed, not deletable through anyd. So anyd also keeps
 * a root-only record in its runtime directory (RuntimeDirectoryPreserve=
 * keeps it across restarts; a reboot, which takes the devices along, clears
 * it):
 *
 *   [anyd-tun]
 *   Version=1
 *   [device 12]
 *   Name=tun0
 *   Index=12
 *   LinkGroup=1634629988
 *   CreatedBy=1000
 *   Owner=1000          (or "none")
 *   Group=none          (or a gid)
 *   Persist=true
 *
 * On start a tun link is anyd's when the record names its index (and its
 * name or link group still match: indexes are not reused within a boot, the
 * second check guards against a record from another network namespace),
 * else when it carries the mark. The record wins over the mark: only anyd
 * writes the file. */
#include "anyd-build-config.h"
#include "tun-private.h"
#include "error.h"
#include "util.h"

#include <errno.h>
#include <string.h>

#define RECORD_GROUP   "anyd-tun"
#define RECORD_VERSION 1

void
tun_record_entry_free (TunRecordEntry *e)
{
  g_free (e->name);
  g_free (e);
}

static void
set_id (GKeyFile *kf, const char *group, const char *key, guint32 id)
{
  if (id == TUN_NONE)
    g_key_file_set_string (kf, group, key, "none");
  else
    g_key_file_set_uint64 (kf, group, key, id);
}

static gboolean
get_id (GKeyFile *kf, const char *group, const char *key, gboolean none_ok, guint32 *out)
{
  g_autofree char *s = g_key_file_get_string (kf, group, key, NULL);
  guint64 v;

  if (s == NULL)
    return FALSE;
  if (none_ok && g_str_equal (s, "none"))
    {
      *out = TUN_NONE;
      return TRUE;
    }
  if (!g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT32 - 1, &v, NULL))
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

char *
tun_record_path (const char *runtime_dir)
{
  return g_build_filename (runtime_dir, "tun-devices", NULL);
}

GHashTable *
tun_record_load (const char *path)
{
  g_autoptr(GHashTable) entries = g_hash_table_new_full (NULL, NULL, NULL,
                                                         (GDestroyNotify) tun_record_entry_free);
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) groups = NULL;
  gint64 version;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &error))
    {
      if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_warning ("tun: ignoring the device record %s: %s", path, error->message);
      return g_steal_pointer (&entries);
    }
  version = g_key_file_get_int64 (kf, RECORD_GROUP, "Version", NULL);
  if (version != RECORD_VERSION)
    {
      g_warning ("tun: ignoring the device record %s: version %" G_GINT64_FORMAT ", expected %d",
                 path, version, RECORD_VERSION);
      return g_steal_pointer (&entries);
    }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i]; i++)
    {
      g_autoptr(GError) local = NULL;
      TunRecordEntry e = { 0 };
      guint32 index = 0;

      if (!g_str_has_prefix (groups[i], "device "))
        continue;
      e.name = g_key_file_get_string (kf, groups[i], "Name", NULL);
      e.persistent = g_key_file_get_boolean (kf, groups[i], "Persist", &local);
      if (e.name == NULL || local != NULL ||
          !get_id (kf, groups[i], "Index", FALSE, &index) || index == 0 || index > G_MAXINT ||
          !get_id (kf, groups[i], "LinkGroup", FALSE, &e.link_group) ||
          !get_id (kf, groups[i], "CreatedBy", FALSE, &e.created_by) ||
          !get_id (kf, groups[i], "Owner", TRUE, &e.owner) ||
          !get_id (kf, groups[i], "Group", TRUE, &e.group))
        {
          g_warning ("tun: device record %s: [%s] is incomplete; skipped", path, groups[i]);
          g_free (e.name);
          continue;
        }
      e.ifindex = (int) index;
      g_hash_table_replace (entries, GINT_TO_POINTER (e.ifindex), g_memdup2 (&e, sizeof e));
    }
  return g_steal_pointer (&entries);
}

const TunRecordEntry *
tun_record_match (GHashTable *entries, const AnydLinkInfo *link)
{
  const TunRecordEntry *e = g_hash_table_lookup (entries, GINT_TO_POINTER (link->ifindex));

  if (e == NULL || g_strcmp0 (link->kind, "tun") != 0)
    return NULL;
  if (e->link_group != link->group && g_strcmp0 (e->name, link->name) != 0)
    return NULL;
  return e;
}

gboolean
tun_record_save (const char *runtime_dir, GHashTable *devices, guint32 link_group, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = tun_record_path (runtime_dir);
  g_autofree char *data = NULL;
  GHashTableIter it;
  gpointer v;
  gsize len;

  g_key_file_set_integer (kf, RECORD_GROUP, "Version", RECORD_VERSION);
  g_hash_table_iter_init (&it, devices);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      TunDevice *dev = v;
      g_autofree char *group = g_strdup_printf ("device %d", dev->ifindex);

      g_key_file_set_string (kf, group, "Name", dev->name);
      g_key_file_set_integer (kf, group, "Index", dev->ifindex);
      set_id (kf, group, "LinkGroup", link_group);
      set_id (kf, group, "CreatedBy", dev->created_by);
      set_id (kf, group, "Owner", dev->owner);
      set_id (kf, group, "Group", dev->group);
      g_key_file_set_boolean (kf, group, "Persist", dev->persistent);
    }
  data = g_key_file_to_data (kf, &len, NULL);
  if (!anyd_mkdir_private (runtime_dir, error))
    return FALSE;
  return anyd_file_write_atomic (path, data, len, 0600, error);
}
