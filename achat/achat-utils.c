/* achat-utils.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-utils.h"
#include "achat-framer-private.h"

/**
 * achat_find_prefix_at_end:
 * @haystack: (array length=haystack_length) (element-type guint8) (nullable):
 *   the bytes to look at the end of
 * @haystack_length: the length of @haystack
 * @needle: (array length=needle_length) (element-type guint8) (nullable):
 *   the bytes whose prefixes are looked for
 * @needle_length: the length of @needle
 *
 * Finds the longest proper prefix of @needle that ends @haystack: the part
 * of a terminator that may be completed by the next read. As Python's
 * `asynchat.find_prefix_at_end()`:
 *
 * <!-- snippet: examples/snippets/api-snippets.c#find-prefix -->
 * ```c
 * achat_find_prefix_at_end ((const guint8 *) "qwerty\r", 7,
 *                           (const guint8 *) "\r\n", 2);   // 1
 * ```
 *
 * Returns: the length of that prefix, 0 when there is none (and always 0
 *   for an empty @needle)
 */
gsize
achat_find_prefix_at_end (const guint8 *haystack,
                          gsize         haystack_length,
                          const guint8 *needle,
                          gsize         needle_length)
{
  g_return_val_if_fail (haystack != NULL || haystack_length == 0, 0);
  g_return_val_if_fail (needle != NULL || needle_length == 0, 0);

  return achat_framer_prefix_at_end (haystack, haystack_length,
                                     needle, needle_length);
}
