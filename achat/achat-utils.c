/* achat-utils.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-utils.h"
#include "achat-framer-private.h"

#include <gio/gio.h>

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

/**
 * achat_message_dup_text:
 * @message: a message, as [signal@Achat.Channel::terminator-found] or a
 *   read gives it
 * @error: return location for a #GError
 *
 * Gets a message as text: most protocols are, but messages are bytes,
 * and a peer may send anything. The bytes must be valid UTF-8 with no
 * NUL byte; otherwise the error is %G_IO_ERROR_INVALID_DATA and says at
 * which byte. An empty message is the empty string.
 *
 * From Python and GJS this is `Achat.message_dup_text(message)`, which
 * returns a `str` or a string and raises or throws the error.
 *
 * Returns: (transfer full): the text, or %NULL with @error set
 */
gchar *
achat_message_dup_text (GBytes  *message,
                        GError **error)
{
  const gchar *data;
  const gchar *end = NULL;
  gsize length;

  g_return_val_if_fail (message != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (message, &length);
  if (length > 0 && !g_utf8_validate_len (data, length, &end))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The message is not text: %s at byte %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT,
                   *end == '\0' ? "a NUL byte" : "invalid UTF-8",
                   (gsize) (end - data), length);
      return NULL;
    }
  /* (An empty GBytes may have no data at all.) */
  return length > 0 ? g_strndup (data, length) : g_strdup ("");
}
