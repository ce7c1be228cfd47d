/* achat-channel-framing.c: how AchatChannel cuts its input into messages,
 * and the framed output that matches it
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The terminators (byte strings, several at once, counts, binary and text
 * length prefixes) and what changing them does to a message under way;
 * push_line() and push_frame(), which write what the peer's framing reads.
 * The framing itself is the plain-C engine of achat-framer.c; delivering
 * the messages is achat-channel.c's.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif

#include "config.h"

#include <string.h>

#include "achat-channel-private.h"
#include "achat-error.h"
