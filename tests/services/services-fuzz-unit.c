/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the services module's parsers: unit-name normalisation
 * and the [services] allow= list (service/modules/services/services-unit.c).
 *
 * Input: first byte picks the parser, the rest is text.
 *   even: anyd_services_unit_normalise() on the text;
 *   odd:  the text split at '\n' is an allowlist; the names after a '\t'
 *         on each line are probed against it.
 * Built as a libFuzzer target with -Dfuzzing=true (clang); the GTest
 * services-unit runs the same function over tests/services/corpus/unit/. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "services-unit.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_name (const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = anyd_services_unit_normalise (text, "unit", &error);
  g_autofree char *again = NULL;

  if (name == NULL)
    {
      /* Refusals are InvalidArgument naming the field. */
      g_assert_nonnull (error);
      g_assert_true (g_str_has_prefix (error->message, "unit: "));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      return;
    }
  g_assert_null (error);
  g_assert_true (anyd_services_unit_name_is_valid (name));
  g_assert_cmpuint (strlen (name), <=, ANYD_UNIT_NAME_MAX);
  g_assert_null (strchr (name, '/'));
  g_assert_null (strpbrk (name, "*?[ \n"));
  /* Normalising is idempotent, and only ever appends ".service". */
  again = anyd_services_unit_normalise (name, "unit", NULL);
  g_assert_cmpstr (again, ==, name);
  g_assert_true (g_str_has_prefix (name, text));
}

static void
check_allowlist (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", 64);
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) probes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(AnydServicesAllowlist) list = NULL;
  const char *const *norm;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *tab = strchr (lines[i], '\t');
      if (tab != NULL)
        {
          g_ptr_array_add (probes, g_strdup (tab + 1));
          *tab = '\0';
        }
      g_ptr_array_add (entries, g_strdup (lines[i]));
    }
  g_ptr_array_add (entries, NULL);

  list = anyd_services_allowlist_new ((const char *const *) entries->pdata, "fuzz.conf:1", &error);
  if (list == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (g_str_has_prefix (error->message, "fuzz.conf:1: [services] allow"));
      return;
    }
  norm = anyd_services_allowlist_entries (list);
  for (guint i = 0; norm[i] != NULL; i++)
    {
      g_assert_cmpuint (strlen (norm[i]), <=, ANYD_UNIT_NAME_MAX);
      g_assert_null (strchr (norm[i], '/'));
      /* every literal entry is allowed; a pattern itself is never a unit */
      if (!anyd_services_entry_is_pattern (norm[i]))
        g_assert_true (anyd_services_allowlist_contains (list, norm[i]));
      else
        g_assert_false (anyd_services_allowlist_contains (list, norm[i]) &&
                        !anyd_services_unit_name_is_valid (norm[i]));
    }
  for (guint i = 0; i < probes->len; i++)
    {
      const char *probe = probes->pdata[i];
      if (anyd_services_allowlist_contains (list, probe))
        {
          /* Only valid names get through, and a non-literal match is an
           * instance of a template some pattern names literally. */
          g_assert_true (anyd_services_unit_name_is_valid (probe));
          if (!g_strv_contains (norm, probe))
            {
              const char *at = strchr (probe, '@');
              const char *dot = strrchr (probe, '.');
              gboolean same_template = FALSE;

              g_assert_nonnull (at);
              for (guint j = 0; norm[j] != NULL && !same_template; j++)
                same_template = anyd_services_entry_is_pattern (norm[j]) &&
                                strncmp (norm[j], probe, (gsize) (at + 1 - probe)) == 0 &&
                                g_str_has_suffix (norm[j], dot);
              g_assert_true (same_template);
            }
        }
    }
  g_free (anyd_services_allowlist_describe (list));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;

  if (size == 0 || size > 4096)
    return 0;
  /* D-Bus strings hold no NUL; GKeyFile values neither. */
  text = g_strndup ((const char *) data + 1, size - 1);
  if (data[0] % 2 == 0)
    check_name (text);
  else
    check_allowlist (text);
  return 0;
}
