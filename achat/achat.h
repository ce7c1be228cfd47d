/* achat.h: the umbrella header of achat
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define ACHAT_INSIDE

#include <achat/achat-version.h>
#include "achat-visibility.h"
#include "achat-error.h"
#include <achat/achat-enums.h>
#include "achat-utils.h"
#include "achat-producer.h"
#include "achat-simple-producer.h"
#include "achat-channel.h"
#include "achat-server.h"

#undef ACHAT_INSIDE
