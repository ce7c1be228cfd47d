/* achat-channel-thread.c: AchatChannel and the threads other than its own
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A channel runs in the thread of its main context. Pushes (and
 * close_when_done()) from other threads are queued under a lock and
 * applied there, in order; cancellation, which may come from any thread,
 * is handled there too.
 */

#include "config.h"

#include "achat-channel-private.h"
