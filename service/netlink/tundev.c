/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /dev/net/tun: creating TUN/TAP devices by ioctl; see tundev.h. */
#include "tundev.h"
#include "cidr.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

static gboolean
tun_errno (GError **error, int err, const char *name, const char *what)
{
  AnydError code = ANYD_ERROR_FAILED;

  switch (err)
    {
    case EEXIST:
    case EBUSY:
      code = ANYD_ERROR_EXISTS;
      break;
    case EINVAL:
      code = ANYD_ERROR_INVALID_ARGUMENT;
      break;
    case EPERM:
    case EACCES:
      code = ANYD_ERROR_NOT_AUTHORIZED;
      break;
    default:
      break;
    }
  if (code == ANYD_ERROR_EXISTS)
    g_set_error (error, ANYD_ERROR, code, "name: a device named '%s' already exists", name);
  else
    g_set_error (error, ANYD_ERROR, code, "%s: %s", what, g_strerror (err));
  return FALSE;
}

int
anyd_tun_open (const AnydTunParams *params, char **name_out, GError **error)
{
  struct ifreq ifr = { 0 };
  const char *name = params->name ? params->name : "";
  int fd;

  if (!anyd_ifname_check (name, "name", error))
    return -1;
  /* TUNSETIFF on an existing persistent device would attach to it rather
   * than fail; refuse by name first, and check IFF_PERSIST afterwards for
   * one created in between. */
  if (*name && !strchr (name, '%') && if_nametoindex (name) != 0)
    {
      tun_errno (error, EEXIST, name, "name");
      return -1;
    }

  fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, ANYD_ERROR, errsv == ENOENT ? ANYD_ERROR_NOT_SUPPORTED : ANYD_ERROR_FAILED,
                   "open /dev/net/tun: %s", g_strerror (errsv));
      return -1;
    }
  ifr.ifr_flags = (short) ((params->tap ? IFF_TAP : IFF_TUN) | (params->packet_info ? 0 : IFF_NO_PI) |
                           (params->multi_queue ? IFF_MULTI_QUEUE : 0) |
                           (params->vnet_hdr ? IFF_VNET_HDR : 0));
  g_strlcpy (ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    {
      int errsv = errno;
      close (fd);
      /* EINVAL here is "a device of another kind has that name". */
      if (errsv == EINVAL && *name && !strchr (name, '%') && if_nametoindex (name) != 0)
        errsv = EEXIST;
      tun_errno (error, errsv, name, "TUNSETIFF");
      return -1;
    }
  {
    struct ifreq got = { 0 };
    if (ioctl (fd, TUNGETIFF, &got) == 0 && (got.ifr_flags & IFF_PERSIST))
      {
        close (fd);
        tun_errno (error, EEXIST, ifr.ifr_name, "name");
        return -1;
      }
  }
  if (params->owner >= 0 && ioctl (fd, TUNSETOWNER, (unsigned long) params->owner) < 0)
    {
      tun_errno (error, errno, ifr.ifr_name, "owner");
      close (fd);
      return -1;
    }
  if (params->group >= 0 && ioctl (fd, TUNSETGROUP, (unsigned long) params->group) < 0)
    {
      tun_errno (error, errno, ifr.ifr_name, "group");
      close (fd);
      return -1;
    }
  /* Last: before this, closing fd removes the device again. */
  if (params->persist && ioctl (fd, TUNSETPERSIST, 1UL) < 0)
    {
      tun_errno (error, errno, ifr.ifr_name, "persist");
      close (fd);
      return -1;
    }
  if (name_out)
    *name_out = g_strndup (ifr.ifr_name, IFNAMSIZ);
  return fd;
}

gboolean
anyd_tun_set_persist (int fd, gboolean persist, GError **error)
{
  if (ioctl (fd, TUNSETPERSIST, persist ? 1UL : 0UL) < 0)
    return tun_errno (error, errno, "", "persist");
  return TRUE;
}
