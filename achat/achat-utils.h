/* achat-utils.h: helper functions
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

ACHAT_AVAILABLE_IN_ALL
gsize achat_find_prefix_at_end (const guint8 *haystack,
                                gsize         haystack_length,
                                const guint8 *needle,
                                gsize         needle_length);

ACHAT_AVAILABLE_IN_ALL
gchar *achat_message_dup_text   (GBytes       *message,
                                 GError      **error);

G_END_DECLS
