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
 * @ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS: plaintext arrived after the point
 *   where TLS was to start (a STARTTLS command injection, or a peer that
 *   does not wait): TLS was not started and the channel closed. The message
 *   says how many bytes were pending.
 * @ACHAT_ERROR_FRAME_TOO_LONG: a length header announced a frame longer than
 *   the maximum frame length, or than
 *   [property@Achat.Channel:max-input-size]; or a frame pushed is longer
 *   than its header can say.
 * @ACHAT_ERROR_INVALID_FRAME: a length header, once adjusted, gave a
 *   negative length.
 * @ACHAT_ERROR_TRUNCATED_FRAME: the peer closed the connection in the
 *   middle of a length-prefixed frame.
 * @ACHAT_ERROR_INVALID_LINE: a line given to
 *   [method@Achat.Channel.push_line] contains its terminator (or a lone
 *   carriage return or line feed): it was not queued.
 *
 * Error codes in the %ACHAT_ERROR domain.
 */
typedef enum
{
  ACHAT_ERROR_FAILED,
  ACHAT_ERROR_NOT_POLLABLE,
  ACHAT_ERROR_INPUT_LIMIT,
  ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS,
  ACHAT_ERROR_FRAME_TOO_LONG,
  ACHAT_ERROR_INVALID_FRAME,
  ACHAT_ERROR_TRUNCATED_FRAME,
  ACHAT_ERROR_INVALID_LINE,
} AchatError;

ACHAT_AVAILABLE_IN_ALL
GQuark achat_error_quark (void);

G_END_DECLS
