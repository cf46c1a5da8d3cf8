/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nft: libnftables wrapper (see nft.h).  Listings are read as JSON output
 * (only input JSON is lossy) and parsed with json-glib. */
#include "anyd-build-config.h"
#include "nft.h"

#include <string.h>
#include <json-glib/json-glib.h>
#include <nftables/libnftables.h>

#include "error.h"

struct _AnydNft {
  struct nft_ctx *ctx;        /* commands: native syntax */
  struct nft_ctx *json_ctx;   /* listings: JSON output */
};

static struct nft_ctx *
ctx_new (gboolean json)
{
  struct nft_ctx *ctx = nft_ctx_new (NFT_CTX_DEFAULT);

  if (ctx == NULL)
    return NULL;
  nft_ctx_buffer_output (ctx);
  nft_ctx_buffer_error (ctx);
  if (json)
    nft_ctx_output_set_flags (ctx, NFT_CTX_OUTPUT_JSON);
  return ctx;
}

AnydNft *
anyd_nft_new (GError **error)
{
  AnydNft *nft = g_new0 (AnydNft, 1);

  nft->ctx = ctx_new (FALSE);
  nft->json_ctx = ctx_new (TRUE);
  if (nft->ctx == NULL || nft->json_ctx == NULL)
    {
      anyd_nft_free (nft);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "nftables: cannot create a libnftables context");
      return NULL;
    }
  return nft;
}

void
anyd_nft_free (AnydNft *nft)
{
  if (nft == NULL)
    return;
  if (nft->ctx)
    nft_ctx_free (nft->ctx);
  if (nft->json_ctx)
    nft_ctx_free (nft->json_ctx);
  g_free (nft);
}

/* nftables' message: its last non-empty line says what went wrong. */
static char *
error_text (struct nft_ctx *ctx)
{
  const char *buf = nft_ctx_get_error_buffer (ctx);
  g_auto(GStrv) lines = g_strsplit (buf ? buf : "", "\n", -1);
  guint n = g_strv_length (lines);

  for (guint i = 0; i < n; i++)
    if (*g_strstrip (lines[i]) != '\0' && g_str_has_prefix (lines[i], "Error:"))
      return g_strdup (lines[i]);
  for (guint i = n; i > 0; i--)
    if (*lines[i - 1] != '\0')
      return g_strdup (lines[i - 1]);
  return g_strdup ("failed");
}

gboolean
anyd_nft_run (AnydNft *nft, const char *commands, const char *field, GError **error)
{
  if (nft_run_cmd_from_buffer (nft->ctx, commands) != 0)
    {
      g_autofree char *msg = error_text (nft->ctx);
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "%s: nftables: %s", field ? field : "nft", msg);
      return FALSE;
    }
  return TRUE;
}

/* The "nftables" array of a JSON listing, or NULL. */
static JsonParser *
list_json (AnydNft *nft, const char *command, JsonArray **out, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *o;

  if (nft_run_cmd_from_buffer (nft->json_ctx, command) != 0)
    {
      g_autofree char *msg = error_text (nft->json_ctx);
      gboolean missing = strstr (msg, "No such file") != NULL;
      g_set_error (error, ANYD_ERROR, missing ? ANYD_ERROR_NOT_FOUND : ANYD_ERROR_FAILED, "nftables: %s", msg);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, nft_ctx_get_output_buffer (nft->json_ctx), -1, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member ((o = json_node_get_object (root)), "nftables"))
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_FAILED, "nftables: unexpected JSON listing");
      return NULL;
    }
  *out = json_object_get_array_member (o, "nftables");
  return g_steal_pointer (&parser);
}

char **
anyd_nft_list_tables (AnydNft *nft, const char *family, const char *prefix, GError **error)
{
  g_autofree char *cmd = g_strdup_printf ("list tables %s", family);
  JsonArray *items = NULL;
  g_autoptr(JsonParser) parser = list_json (nft, cmd, &items, error);
  GPtrArray *out;

  if (parser == NULL)
    return NULL;
  out = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      JsonObject *item = json_array_get_object_element (items, i), *table;
      const char *name;

      if (item == NULL || !json_object_has_member (item, "table"))
        continue;
      table = json_object_get_object_member (item, "table");
      name = table ? json_object_get_string_member_with_default (table, "name", NULL) : NULL;
      if (name != NULL && g_str_has_prefix (name, prefix))
        g_ptr_array_add (out, g_strdup (name));
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

gboolean
anyd_nft_table_exists (AnydNft *nft, const char *family, const char *table)
{
  g_auto(GStrv) tables = anyd_nft_list_tables (nft, family, table, NULL);

  return tables != NULL && g_strv_contains ((const char *const *) tables, table);
}

gboolean
anyd_nft_counter_bytes (AnydNft *nft, const char *family, const char *table, const char *counter, guint64 *bytes,
                        GError **error)
{
  g_autofree char *cmd = g_strdup_printf ("list counter %s %s %s", family, table, counter);
  JsonArray *items = NULL;
  g_autoptr(JsonParser) parser = list_json (nft, cmd, &items, error);

  if (parser == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      JsonObject *item = json_array_get_object_element (items, i), *c;

      if (item == NULL || !json_object_has_member (item, "counter"))
        continue;
      c = json_object_get_object_member (item, "counter");
      if (c != NULL && json_object_has_member (c, "bytes"))
        {
          *bytes = (guint64) json_object_get_int_member (c, "bytes");
          return TRUE;
        }
    }
  g_set_error (error, ANYD_ERROR, ANYD_ERROR_NOT_FOUND, "nftables: no counter %s in table %s", counter, table);
  return FALSE;
}

gboolean
anyd_nft_delete_table (AnydNft *nft, const char *family, const char *table, GError **error)
{
  g_autofree char *cmd = NULL;

  if (!anyd_nft_table_exists (nft, family, table))
    return TRUE;
  cmd = g_strdup_printf ("delete table %s %s", family, table);
  return anyd_nft_run (nft, cmd, "nft table", error);
}
