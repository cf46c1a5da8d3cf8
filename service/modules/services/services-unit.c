/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit names and the services allowlist (see services-unit.h).
 *
 * The rules follow systemd's unit_name_is_valid(): a name is
 * PREFIX[@INSTANCE].TYPE with characters [A-Za-z0-9:_.\\-] (plus '@' after
 * the first one, inside the instance) and at most 255 bytes. We refuse more
 * than systemd would mangle: no escaping is done for the caller, so what
 * polkit rules and the allowlist see is exactly what systemd gets. */
#include "services-unit.h"
#include "error.h"
#include "util.h"

#include <fnmatch.h>
#include <string.h>

static const char *const unit_types[] = {
  "service", "socket", "target", "device", "mount", "automount", "swap",
  "timer", "path", "slice", "scope", NULL
};

#define GLOB_CHARS "*?[]!^"

typedef enum {
  NAME_INVALID,
  NAME_PLAIN,
  NAME_INSTANCE,
  NAME_TEMPLATE,
} NameKind;

static gboolean
is_type (const char *suffix)
{
  return g_strv_contains (unit_types, suffix);
}

static gboolean
is_name_char (char c)
{
  return c != '\0' && (g_ascii_isalnum (c) || strchr (":-_.\\", c) != NULL);
}

/* Where the type suffix starts ('.'), or NULL if there is no known type. */
static const char *
type_dot (const char *name)
{
  const char *dot = strrchr (name, '.');
  return dot != NULL && is_type (dot + 1) ? dot : NULL;
}

/* With glob_instance, glob characters are accepted in the instance only. */
static NameKind
classify (const char *name, gboolean glob_instance, char *bad_char)
{
  const char *dot = type_dot (name);
  const char *at = NULL;

  *bad_char = '\0';
  if (dot == NULL || dot == name)
    return NAME_INVALID;
  for (const char *p = name; p < dot; p++)
    {
      if (*p == '@')
        {
          if (at == NULL)
            at = p;
          continue;
        }
      if (is_name_char (*p))
        continue;
      if (glob_instance && at != NULL && strchr (GLOB_CHARS, *p) != NULL)
        continue;
      *bad_char = *p;
      return NAME_INVALID;
    }
  if (at == name)
    return NAME_INVALID;
  if (at == NULL)
    return NAME_PLAIN;
  return at + 1 == dot ? NAME_TEMPLATE : NAME_INSTANCE;
}

/* allow_glob: a pattern (allowlist only); in_config: a [services] allow= entry. */
static char *
normalise (const char *name, gboolean allow_glob, gboolean in_config, const char *field,
           GError **error)
{
  g_autofree char *full = NULL;
  g_autofree char *what = NULL;
  NameKind kind;
  char bad;

  if (name == NULL || *name == '\0')
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT, "%s: empty unit name", field);
      return NULL;
    }
  what = anyd_quote_text (name, 64);
  if (strchr (name, '/') != NULL)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: %s contains '/': give a unit name such as nginx.service, not a path",
                   field, what);
      return NULL;
    }
  full = type_dot (name) != NULL ? g_strdup (name) : g_strconcat (name, ".service", NULL);
  if (strlen (full) > ANYD_UNIT_NAME_MAX)
    {
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   "%s: %s is longer than %d bytes", field, what, ANYD_UNIT_NAME_MAX);
      return NULL;
    }
  kind = classify (full, allow_glob, &bad);
  switch (kind)
    {
    case NAME_PLAIN:
    case NAME_INSTANCE:
      break;
    case NAME_TEMPLATE:
      g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                   in_config ? "%s: %s is a template; allow its instances with a pattern: %.*s*%s"
                              : "%s: %s is a template, not a unit; name an instance such as %.*sNAME%s",
                   field, what, (int) (strchr (full, '@') + 1 - full), full, type_dot (full));
      return NULL;
    case NAME_INVALID:
    default:
      if (bad != '\0' && !allow_glob && strchr (GLOB_CHARS, bad) != NULL)
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "%s: %s: patterns are not accepted here, give one unit name", field, what);
      else if (bad != '\0' && strchr (GLOB_CHARS, bad) != NULL)
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "%s: %s: a pattern may use * ? [ only in the instance part, as in app@*.service",
                     field, what);
      else if (bad != '\0' && g_ascii_isprint (bad))
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "%s: %s is not a valid unit name (character '%c' not allowed; "
                     "allowed are letters, digits and : - _ . \\ @)", field, what, bad);
      else if (bad != '\0')
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "%s: %s is not a valid unit name (byte 0x%02x not allowed; "
                     "allowed are letters, digits and : - _ . \\ @)", field, what, (guchar) bad);
      else
        g_set_error (error, ANYD_ERROR, ANYD_ERROR_INVALID_ARGUMENT,
                     "%s: %s is not a valid unit name (empty name before '@' or the type)",
                     field, what);
      return NULL;
    }
  return g_steal_pointer (&full);
}

char *
anyd_services_unit_normalise (const char *name, const char *field, GError **error)
{
  return normalise (name, FALSE, FALSE, field ? field : "unit", error);
}

gboolean
anyd_services_unit_name_is_valid (const char *name)
{
  char bad;
  NameKind kind;

  if (name == NULL || strlen (name) > ANYD_UNIT_NAME_MAX)
    return FALSE;
  kind = classify (name, FALSE, &bad);
  return kind == NAME_PLAIN || kind == NAME_INSTANCE;
}

/* ------------------------------------------------------------------ allowlist */

typedef struct {
  char *prefix;     /* "app@": must match literally */
  char *suffix;     /* ".service": must match literally */
  char *instance;   /* "*": the fnmatch pattern */
} Pattern;

struct _AnydServicesAllowlist {
  GPtrArray  *entries;    /* char*, NULL-terminated */
  GHashTable *literal;    /* names (borrowed from entries) */
  GArray     *patterns;   /* Pattern */
};

gboolean
anyd_services_entry_is_pattern (const char *entry)
{
  return strpbrk (entry, "*?[") != NULL;
}

static void
pattern_clear (Pattern *p)
{
  g_free (p->prefix);
  g_free (p->suffix);
  g_free (p->instance);
}

/* Split a valid instance name (or pattern) into prefix@, instance, .suffix. */
static void
split_instance (const char *name, char **prefix, char **instance, char **suffix)
{
  const char *at = strchr (name, '@');
  const char *dot = type_dot (name);

  *prefix = g_strndup (name, (gsize) (at + 1 - name));
  *instance = g_strndup (at + 1, (gsize) (dot - at - 1));
  *suffix = g_strdup (dot);
}

AnydServicesAllowlist *
anyd_services_allowlist_new (const char *const *entries, const char *origin, GError **error)
{
  g_autoptr(AnydServicesAllowlist) list = g_new0 (AnydServicesAllowlist, 1);
  g_autofree char *field = origin ? g_strdup_printf ("%s: [services] allow", origin)
                                  : g_strdup ("[services] allow");

  list->entries = g_ptr_array_new_with_free_func (g_free);
  list->literal = g_hash_table_new (g_str_hash, g_str_equal);
  list->patterns = g_array_new (FALSE, TRUE, sizeof (Pattern));
  g_array_set_clear_func (list->patterns, (GDestroyNotify) pattern_clear);

  for (guint i = 0; entries != NULL && entries[i] != NULL; i++)
    {
      g_autofree char *text = g_strstrip (g_strdup (entries[i]));
      gboolean glob = anyd_services_entry_is_pattern (text);
      g_autofree char *name = NULL;

      if (*text == '\0')
        continue;
      name = normalise (text, glob, TRUE, field, error);
      if (name == NULL)
        return NULL;
      if (g_ptr_array_find_with_equal_func (list->entries, name, g_str_equal, NULL))
        continue;
      if (glob)
        {
          Pattern p;
          split_instance (name, &p.prefix, &p.instance, &p.suffix);
          g_array_append_val (list->patterns, p);
        }
      else
        g_hash_table_add (list->literal, name);
      g_ptr_array_add (list->entries, g_steal_pointer (&name));
    }
  g_ptr_array_add (list->entries, NULL);
  return g_steal_pointer (&list);
}

void
anyd_services_allowlist_free (AnydServicesAllowlist *list)
{
  if (list == NULL)
    return;
  g_clear_pointer (&list->literal, g_hash_table_unref);
  g_clear_pointer (&list->patterns, g_array_unref);
  g_clear_pointer (&list->entries, g_ptr_array_unref);
  g_free (list);
}

gboolean
anyd_services_allowlist_contains (const AnydServicesAllowlist *list, const char *name)
{
  g_autofree char *prefix = NULL, *instance = NULL, *suffix = NULL;
  char bad;

  if (list == NULL || name == NULL)
    return FALSE;
  if (g_hash_table_contains (list->literal, name))
    return TRUE;
  /* Patterns only ever match complete, valid instance names. */
  if (list->patterns->len == 0 || strlen (name) > ANYD_UNIT_NAME_MAX ||
      classify (name, FALSE, &bad) != NAME_INSTANCE)
    return FALSE;
  split_instance (name, &prefix, &instance, &suffix);
  for (guint i = 0; i < list->patterns->len; i++)
    {
      const Pattern *p = &g_array_index (list->patterns, Pattern, i);
      if (g_str_equal (p->prefix, prefix) && g_str_equal (p->suffix, suffix) &&
          fnmatch (p->instance, instance, FNM_NOESCAPE | FNM_PATHNAME) == 0)
        return TRUE;
    }
  return FALSE;
}

const char *const *
anyd_services_allowlist_entries (const AnydServicesAllowlist *list)
{
  return (const char *const *) list->entries->pdata;
}

gboolean
anyd_services_allowlist_has_patterns (const AnydServicesAllowlist *list)
{
  return list->patterns->len > 0;
}

char *
anyd_services_allowlist_describe (const AnydServicesAllowlist *list)
{
  if (list == NULL || list->entries->len <= 1)
    return g_strdup ("empty");
  return g_strjoinv (", ", (char **) list->entries->pdata);
}
