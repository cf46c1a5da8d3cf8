/* Unit names and the services allowlist: pure logic, no I/O (fuzzed). */
#pragma once
#include <glib.h>

G_BEGIN_DECLS

/* systemd's UNIT_NAME_MAX is 256 including the NUL. */
#define ANYD_UNIT_NAME_MAX 255

/* A unit name as a caller or the config wrote it -> the full name systemd
 * uses: a name without a known type suffix gets ".service" ("nginx" ->
 * "nginx.service"). Then checked as systemd checks names (characters
 * [A-Za-z0-9:_.\\-], '@' for instances, a known type, ≤ 255 bytes); '/' and
 * templates ("app@.service") are refused. NULL + InvalidArgument whose
 * message starts with `field`. */
char     *anyd_services_unit_normalise (const char *name, const char *field, GError **error);

/* TRUE if name is a complete plain or instance unit name (no template). */
gboolean  anyd_services_unit_name_is_valid (const char *name);

typedef struct _AnydServicesAllowlist AnydServicesAllowlist;

/* Parse [services] allow=. Entries are normalised like unit names; an entry
 * with glob characters (* ? [) is a pattern over the instances of ONE
 * template: "app@*.service". The part before '@' and the type are literal,
 * only the instance may hold glob characters; a name matches when it is a
 * valid instance name of that same template and fnmatch(3) (FNM_NOESCAPE |
 * FNM_PATHNAME) matches its instance part. So no pattern can reach
 * another template or a plain unit. Duplicates are dropped.
 * NULL + InvalidArgument naming `origin` (file:line) and the entry. */
AnydServicesAllowlist *anyd_services_allowlist_new (const char *const *entries, const char *origin,
                                                    GError **error);
void      anyd_services_allowlist_free (AnydServicesAllowlist *list);
/* name must already be normalised (anyd_services_unit_normalise). */
gboolean  anyd_services_allowlist_contains (const AnydServicesAllowlist *list, const char *name);
/* Normalised entries, patterns included, in config order. */
const char *const *anyd_services_allowlist_entries (const AnydServicesAllowlist *list);
gboolean  anyd_services_allowlist_has_patterns (const AnydServicesAllowlist *list);
gboolean  anyd_services_entry_is_pattern (const char *entry);
/* "nginx.service, app@*.service" or "empty" (for error messages). */
char     *anyd_services_allowlist_describe (const AnydServicesAllowlist *list);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AnydServicesAllowlist, anyd_services_allowlist_free)

G_END_DECLS
