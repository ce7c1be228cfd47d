/* achat-channel-private.h: AchatChannel's internals, shared by the files
 * that implement it
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The private structure of a channel, its property and signal numbers,
 * and what one part of AchatChannel calls in another. Not installed.
 */

#pragma once

#include <pthread.h>

#include <gio/gio.h>

#include "achat-channel.h"
#include "achat-framer-private.h"
#include "achat-output-queue-private.h"
#include "achat-poller-private.h"

G_BEGIN_DECLS

G_END_DECLS
