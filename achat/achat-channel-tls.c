/* achat-channel-tls.c: AchatChannel's switch to TLS (STARTTLS)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The state machine of a switch to TLS in the middle of a connection and
 * its public API: input stops where the switch was asked for, the output
 * queued before it is written in plaintext, the handshake runs, then both
 * directions go through the TLS connection.
 */

#include "config.h"

#include "achat-channel-private.h"
#include "achat-error.h"
