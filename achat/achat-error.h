/* achat-error.h: the ACHAT_ERROR domain
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACHAT_INSIDE) && !defined(ACHAT_COMPILATION)
# error "Only <achat/achat.h> can be included directly."
#endif

#include <glib.h>

#include "achat-visibility.h"

G_BEGIN_DECLS

/**
 * ACHAT_ERROR:
 *
 * The error domain of achat's own failures. Errors from the network keep
 * their own domain (usually `G_IO_ERROR`).
 */
#define ACHAT_ERROR (achat_error_quark ())

/**
 * AchatError:
 * @ACHAT_ERROR_FAILED: a failure with no more specific code.
 * @ACHAT_ERROR_NOT_POLLABLE: the stream given to a channel cannot be polled,
 *   so the channel cannot run on a main loop.
 * @ACHAT_ERROR_INPUT_LIMIT: the peer sent a message longer than the
 *   channel's [property@Achat.Channel:max-input-size].
 *
 * Error codes in the %ACHAT_ERROR domain.
 */
typedef enum
{
  ACHAT_ERROR_FAILED,
  ACHAT_ERROR_NOT_POLLABLE,
  ACHAT_ERROR_INPUT_LIMIT,
} AchatError;

ACHAT_AVAILABLE_IN_ALL
GQuark achat_error_quark (void);

G_END_DECLS
