/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* anyd-client metrics: Manager.GetMetrics, as the daemon writes it (the
 * Prometheus text format) or, with --json, as a list of families
 * [{name, type, help, samples: [{labels: {…}, value}]}]. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <anyd.h>

#include "common.h"

typedef struct {
  char            *name;
  char            *type;
  char            *help;
  GVariantBuilder  samples;
} Family;

static void
family_free (Family *f)
{
  g_free (f->name);
  g_free (f->type);
  g_free (f->help);
  g_variant_builder_clear (&f->samples);
  g_free (f);
}

static Family *
family_for (GPtrArray *families, GHashTable *by_name, const char *name)
{
  Family *f = g_hash_table_lookup (by_name, name);

  if (f == NULL)
    {
      f = g_new0 (Family, 1);
      f->name = g_strdup (name);
      g_variant_builder_init (&f->samples, G_VARIANT_TYPE ("aa{sv}"));
      g_ptr_array_add (families, f);
      g_hash_table_insert (by_name, f->name, f);
    }
  return f;
}

/* One sample line: name{k="v",…} value. FALSE if it is not one. */
static gboolean
parse_sample (const char *line, char **name, GVariant **labels, GVariant **value)
{
  GVariantBuilder b;
  const char *p = line + strcspn (line, "{ ");
  char *end;
  double d;

  *name = g_strndup (line, (gsize) (p - line));
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{ss}"));
  if (*p == '{')
    {
      p++;
      while (*p != '}' && *p != '\0')
        {
          const char *eq = strchr (p, '=');
          g_autofree char *key = NULL;
          GString *v = g_string_new (NULL);

          if (eq == NULL || eq[1] != '"')
            {
              g_string_free (v, TRUE);
              goto bad;
            }
          key = g_strndup (p, (gsize) (eq - p));
          for (p = eq + 2; *p != '"' && *p != '\0'; p++)
            {
              if (*p == '\\' && p[1] != '\0')
                {
                  p++;
                  g_string_append_c (v, *p == 'n' ? '\n' : *p);
                }
              else
                g_string_append_c (v, *p);
            }
          if (*p == '"')
            p++;
          if (*p == ',')
            p++;
          g_variant_builder_add (&b, "{ss}", key, v->str);
          g_string_free (v, TRUE);
        }
      if (*p != '}')
        goto bad;
      p++;
    }
  while (*p == ' ')
    p++;
  d = g_ascii_strtod (p, &end);
  if (end == p)
    goto bad;
  *labels = g_variant_builder_end (&b);
  /* Counters and most gauges are whole numbers: print them as such. */
  if (d >= 0 && d <= 9007199254740992.0 && d == (double) (guint64) d)
    *value = g_variant_new_uint64 ((guint64) d);
  else
    *value = g_variant_new_double (d);
  return TRUE;

bad:
  g_variant_builder_clear (&b);
  g_clear_pointer (name, g_free);
  return FALSE;
}

static GVariant *
metrics_to_variant (const char *text)
{
  g_autoptr(GPtrArray) families = g_ptr_array_new_with_free_func ((GDestroyNotify) family_free);
  g_autoptr(GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GVariantBuilder out;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      if (g_str_has_prefix (line, "# HELP ") || g_str_has_prefix (line, "# TYPE "))
        {
          const char *name = line + 7;
          const char *sp = strchr (name, ' ');
          g_autofree char *fname = sp ? g_strndup (name, (gsize) (sp - name)) : g_strdup (name);
          Family *f = family_for (families, by_name, fname);
          char **slot = line[2] == 'H' ? &f->help : &f->type;

          g_free (*slot);
          *slot = g_strdup (sp ? sp + 1 : "");
        }
      else if (line[0] != '#' && line[0] != '\0')
        {
          g_autofree char *name = NULL;
          GVariant *labels, *value;
          GVariantDict s;

          if (!parse_sample (line, &name, &labels, &value))
            continue;
          g_variant_dict_init (&s, NULL);
          g_variant_dict_insert_value (&s, "labels", labels);
          g_variant_dict_insert_value (&s, "value", value);
          g_variant_builder_add_value (&family_for (families, by_name, name)->samples, g_variant_dict_end (&s));
        }
    }

  g_variant_builder_init (&out, G_VARIANT_TYPE ("aa{sv}"));
  for (guint i = 0; i < families->len; i++)
    {
      Family *f = families->pdata[i];
      GVariantDict d;

      g_variant_dict_init (&d, NULL);
      g_variant_dict_insert (&d, "name", "s", f->name);
      g_variant_dict_insert (&d, "type", "s", f->type ? f->type : "untyped");
      g_variant_dict_insert (&d, "help", "s", f->help ? f->help : "");
      g_variant_dict_insert_value (&d, "samples", g_variant_builder_end (&f->samples));
      g_variant_builder_add_value (&out, g_variant_dict_end (&d));
    }
  return g_variant_builder_end (&out);
}

static int
cmd_show (AnydClientContext *ctx, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydManager) manager = NULL;
  g_autofree char *text = NULL;

  manager = anyd_client_proxy_new (ctx, ANYD_TYPE_MANAGER_PROXY, anyd_manager_interface_info (),
                                   ANYD_CLIENT_PATH, &error);
  if (manager == NULL ||
      !ANYD_CLIENT_TYPED_CALL (ctx, manager, &error,
                               anyd_manager_call_get_metrics_sync (manager, ANYD_CLIENT_CALL_ARGS (ctx),
                                                                   &text, NULL, &error)))
    return anyd_client_fail (ctx, error);
  if (ctx->json)
    anyd_client_print_json (metrics_to_variant (text));
  else
    g_print ("%s", text);
  return ANYD_CLIENT_EXIT_OK;
}

static const AnydClientCommand metrics_commands[] = {
  { "show", NULL, N_("Print the daemon's metrics (Prometheus text format; --json: as JSON)"),
    cmd_show, 0, 0 },
  { NULL }
};

const AnydClientGroup anyd_client_group_metrics = {
  .name = "metrics",
  .summary = N_("Counters and gauges of the daemon, as node_exporter's textfile collector reads them"),
  .commands = metrics_commands,
  .default_command = "show",
};
