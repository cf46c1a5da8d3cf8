/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the CIDR, route and interface-name parsers of
 * service/netlink/cidr.c (built with -Dfuzzing=true, clang). Besides "no crash",
 * it checks that whatever parses prints canonically and parses back to the
 * same value. Seeds: tests/tun/corpus/cidr/. */
#include "netlink.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  AnydCidr c, c2;
  AnydRoute r, r2;

  if (anyd_cidr_parse (text, "fuzz", &c, NULL))
    {
      g_autofree char *s = anyd_cidr_to_string (&c);
      if (!anyd_cidr_parse (s, "fuzz", &c2, NULL) || memcmp (&c, &c2, sizeof c) != 0)
        abort ();
    }
  if (anyd_route_parse (text, "fuzz", &r, NULL))
    {
      g_autofree char *s = anyd_route_to_string (&r);
      g_autofree char *s2 = NULL;
      if (!anyd_route_parse (s, "fuzz", &r2, NULL))
        abort ();
      s2 = anyd_route_to_string (&r2);
      if (strcmp (s, s2) != 0 || !anyd_cidr_is_network (&r.dst))
        abort ();
    }
  {
    g_autoptr(GError) error = NULL;
    if (!anyd_ifname_check (text, "fuzz", &error) && strstr (error->message, "fuzz") == NULL)
      abort ();
  }
  return 0;
}
