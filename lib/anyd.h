/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libanyd: the client library of anyd.  Include only this header. */
#pragma once

#define __ANYD_H_INSIDE__

#include <gio/gio.h>

#include "anyd-error.h"
#include "anyd-types.h"
#include "anyd-enum-types.h"
#include "anyd-generated.h"
#include "anyd-options.h"
#include "anyd-client.h"

#undef __ANYD_H_INSIDE__
