/* achat-error.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-error.h"

/**
 * achat_error_quark:
 *
 * The quark of the %ACHAT_ERROR domain.
 *
 * Returns: the error domain quark
 */
G_DEFINE_QUARK (achat-error-quark, achat_error)
