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

/* The terminator is about to change: keep a copy of the one that ended the
 * last message, for get_matched_terminator(). */
static void
channel_keep_matched (AchatChannelPrivate *priv)
{
  const uint8_t *term;
  size_t length;

  if (priv->matched_kept || priv->matched_index == G_MAXUINT ||
      priv->framer.kind != ACHAT_FRAMER_BYTES)
    return;
  if (priv->matched_index == 0)
    {
      term = priv->framer.term;   /* the first one: the only one, mostly */
      length = priv->framer.term_len;
    }
  else
    term = achat_framer_get_terminator (&priv->framer, priv->matched_index, &length);
  if (term == NULL)
    return;
  priv->matched_kept = TRUE;
  priv->matched_len = length;
  if (length <= sizeof priv->matched_buf)
    memcpy (priv->matched_buf, term, length);
  else
    {
      g_clear_pointer (&priv->matched_copy, g_bytes_unref);
      priv->matched_copy = g_bytes_new (term, length);
    }
}

/* The framing is about to change. */
static inline void
channel_framing_changes (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  priv->framing_serial++;
  channel_keep_matched (priv);
  /* The common case first, without a call: a handler sets the next
   * framing between two messages (per message, in the asynchat idiom of a
   * header line, then a count). */
  if (priv->collected_len != 0 || priv->framer.kind == ACHAT_FRAMER_LENGTH)
    achat_channel_reframe_partial (self);
}

/**
 * achat_channel_set_terminator:
 * @self: an #AchatChannel
 * @terminator: (array length=length) (element-type guint8) (nullable): the
 *   bytes that end a message
 * @length: the length of @terminator; 0 means no terminator
 *
 * Makes @terminator, a byte string such as `"\r\n"`, the end of each
 * incoming message. It is copied. An empty terminator means none, as in
 * Python: see achat_channel_set_terminator_none().
 *
 * Called from a [signal@Achat.Channel::terminator-found] handler, it applies
 * to the bytes that follow in the same read.
 */
void
achat_channel_set_terminator (AchatChannel *self,
                              const guint8 *terminator,
                              gsize         length)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (terminator != NULL || length == 0);

  channel_framing_changes (self);
  achat_framer_set_bytes (&GET_PRIV (self)->framer, terminator, length);
}

/**
 * achat_channel_set_terminator_count:
 * @self: an #AchatChannel
 * @count: how many bytes the next message has
 *
 * Ends the next message after @count bytes. Once they have arrived and
 * [signal@Achat.Channel::terminator-found] was emitted, the channel
 * collects with no terminator until a new one is set, as in Python. A count
 * of 0 behaves as no terminator.
 */
void
achat_channel_set_terminator_count (AchatChannel *self,
                                    guint64       count)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  channel_framing_changes (self);
  achat_framer_set_count (&GET_PRIV (self)->framer, count);
}

/**
 * achat_channel_set_terminator_none:
 * @self: an #AchatChannel
 *
 * Removes the terminator: input is passed to
 * [signal@Achat.Channel::data-collected] as it arrives and
 * [signal@Achat.Channel::terminator-found] is not emitted. This is the
 * state of a new channel.
 */
void
achat_channel_set_terminator_none (AchatChannel *self)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  channel_framing_changes (self);
  achat_framer_set_none (&GET_PRIV (self)->framer);
}

/**
 * achat_channel_set_terminators:
 * @self: an #AchatChannel
 * @terminators: (array zero-terminated=1): the byte strings that end a
 *   message, at least one and at most 16, none empty
 *
 * Makes any of @terminators the end of a message, for protocols that
 * accept several line endings (`"\r\n"` and a bare `"\n"`, say). Where
 * two could match, the one that starts first in the stream wins, and of
 * those starting at the same byte the longest: with `"\r\n"` and `"\n"`,
 * `"a\r\nb\n"` is the messages `"a"` and `"b"`, however the bytes are split
 * into reads. [method@Achat.Channel.get_matched_terminator] tells a
 * [signal@Achat.Channel::terminator-found] handler which one ended the
 * message.
 *
 * The kind of terminator is %ACHAT_TERMINATOR_BYTES;
 * [method@Achat.Channel.get_terminator] returns the first of the set (the
 * one [method@Achat.Channel.push_line] appends). The terminators are
 * copied. Terminators that contain a NUL byte need
 * [method@Achat.Channel.set_terminator] (one at a time).
 */
void
achat_channel_set_terminators (AchatChannel        *self,
                               const gchar * const *terminators)
{
  const uint8_t *terms[ACHAT_FRAMER_MAX_TERMINATORS];
  size_t lengths[ACHAT_FRAMER_MAX_TERMINATORS];
  gsize n;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (terminators != NULL && terminators[0] != NULL);
  g_return_if_fail (g_strv_length ((gchar **) terminators) <= ACHAT_FRAMER_MAX_TERMINATORS);

  for (n = 0; terminators[n] != NULL; n++)
    {
      g_return_if_fail (terminators[n][0] != '\0');
      terms[n] = (const uint8_t *) terminators[n];
      lengths[n] = strlen (terminators[n]);
    }

  channel_framing_changes (self);
  achat_framer_set_bytes_multi (&GET_PRIV (self)->framer, terms, lengths, n);
}

/**
 * achat_channel_get_matched_terminator:
 * @self: an #AchatChannel
 * @length: (out): return location for the length of the terminator
 *
 * Gets the byte string that ended the last message: in a
 * [signal@Achat.Channel::terminator-found] handler, the one that ended
 * this message. Useful with several terminators
 * ([method@Achat.Channel.set_terminators]); valid even after the handler
 * changed the terminator.
 *
 * Returns: (array length=length) (element-type guint8) (transfer none) (nullable):
 *   the terminator, or %NULL (and a @length of 0) when the last message
 *   did not end with a byte string (a count, a length-prefixed frame) or
 *   none has ended yet
 */
const guint8 *
achat_channel_get_matched_terminator (AchatChannel *self,
                                      gsize        *length)
{
  AchatChannelPrivate *priv;
  size_t term_length = 0;
  const guint8 *term = NULL;

  if (length != NULL)
    *length = 0;
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  priv = GET_PRIV (self);
  if (priv->matched_kept)
    {
      if (length != NULL)
        *length = priv->matched_len;
      return priv->matched_len <= sizeof priv->matched_buf ? priv->matched_buf
                                                           : g_bytes_get_data (priv->matched_copy, NULL);
    }
  if (priv->matched_index != G_MAXUINT)
    term = achat_framer_get_terminator (&priv->framer, priv->matched_index, &term_length);
  if (length != NULL)
    *length = term_length;
  return term;
}

/**
 * achat_channel_set_terminator_length_prefix:
 * @self: an #AchatChannel
 * @header_size: the size of the length header: 1, 2, 4 or 8 bytes
 * @byte_order: the byte order of the header
 * @adjustment: added to the header's value to give the payload length:
 *   0 when the header counts the payload only, `-header_size` when it
 *   counts itself too
 * @max_frame_length: the longest payload accepted, in bytes; 0 for no
 *   limit other than [property@Achat.Channel:max-input-size]
 *
 * Makes each incoming message a binary length header followed by that
 * many bytes of payload, which may contain any byte. The header is not
 * part of the message: [signal@Achat.Channel::data-collected] gets the
 * payload, [signal@Achat.Channel::terminator-found] follows it (also for an
 * empty payload). This replaces the asynchat idiom of reading a header with
 * one terminator, then setting a count for the body.
 *
 * A frame longer than @max_frame_length (closing with
 * %ACHAT_ERROR_FRAME_TOO_LONG) or than max-input-size (closing with
 * %ACHAT_ERROR_INPUT_LIMIT) is refused as soon as its header arrives,
 * before any of it is buffered; a header that gives a negative length
 * closes with %ACHAT_ERROR_INVALID_FRAME, and a peer closing in the middle
 * of a frame with %ACHAT_ERROR_TRUNCATED_FRAME. Frames before it are
 * delivered and queued output is written first.
 *
 * The setting also shapes what [method@Achat.Channel.push_frame] writes.
 * Like every terminator it may be set from a
 * [signal@Achat.Channel::terminator-found] handler and applies to the
 * bytes that follow.
 */
void
achat_channel_set_terminator_length_prefix (AchatChannel   *self,
                                            guint           header_size,
                                            AchatByteOrder  byte_order,
                                            gint            adjustment,
                                            guint64         max_frame_length)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (header_size == 1 || header_size == 2 || header_size == 4 || header_size == 8);
  g_return_if_fail (byte_order == ACHAT_BYTE_ORDER_BIG_ENDIAN ||
                    byte_order == ACHAT_BYTE_ORDER_LITTLE_ENDIAN);

  priv = GET_PRIV (self);
  channel_framing_changes (self);
  priv->frame_header_size = header_size;
  priv->frame_radix = 0;
  priv->frame_trailer_len = 0;
  priv->frame_big_endian = byte_order == ACHAT_BYTE_ORDER_BIG_ENDIAN;
  priv->frame_adjustment = adjustment;
  priv->max_frame = max_frame_length;
  achat_framer_set_length (&priv->framer, header_size, priv->frame_big_endian,
                           adjustment, 0);
  achat_channel_apply_max_frame (priv);
}

/**
 * achat_channel_set_terminator_text_length:
 * @self: an #AchatChannel
 * @radix: the base of the length: 10, or 16 for hexadecimal (digits of
 *   either case)
 * @separator: what ends the length: 1 to 8 bytes, not starting with a
 *   digit, such as `"\r\n"` or `":"`
 * @trailer: (nullable): what follows every payload, up to 8 bytes (`","`
 *   for netstrings, `"\r\n"` for HTTP chunks), or %NULL or `""` for none
 * @max_frame_length: the longest payload accepted, in bytes; 0 for no
 *   limit other than [property@Achat.Channel:max-input-size]
 *
 * Makes each incoming message a length written in digits, @separator,
 * that many bytes of payload (any bytes), and @trailer: `5\r\nhello`
 * (10, `"\r\n"`, no trailer), netstrings such as `5:hello,` (10, `":"`,
 * `","`), the chunks of HTTP's chunked encoding (16, `"\r\n"`,
 * `"\r\n"`, for chunks without extensions). Header and trailer are not part of the message:
 * [signal@Achat.Channel::terminator-found] gets the payload, once the
 * trailer has arrived (also for an empty payload).
 *
 * This replaces the asynchat idiom of reading the length line with one
 * terminator, then setting a count for the body: the channel frames both,
 * so a handler runs once per message instead of twice and never changes
 * the framing. With whole reads
 * ([vfunc@Achat.Channel.messages_found]), every frame of a read comes in
 * one call.
 *
 * The length has at most 20 decimal or 16 hexadecimal digits (leading
 * zeros included). A header that is anything else (a sign, a space,
 * another separator) closes the channel with %ACHAT_ERROR_INVALID_FRAME,
 * as does a payload not followed by @trailer. A frame longer than
 * @max_frame_length (%ACHAT_ERROR_FRAME_TOO_LONG) or than max-input-size
 * (%ACHAT_ERROR_INPUT_LIMIT) is refused as soon as its header arrives,
 * before any of it is buffered, and a peer closing in the middle of a
 * frame closes it with %ACHAT_ERROR_TRUNCATED_FRAME. Frames before a
 * refused one are delivered and queued output is written first.
 *
 * The setting also shapes what [method@Achat.Channel.push_frame] writes
 * (the length in lower case for hexadecimal). Like every terminator it may
 * be set from a [signal@Achat.Channel::terminator-found] handler and
 * applies to the bytes that follow.
 */
void
achat_channel_set_terminator_text_length (AchatChannel *self,
                                          guint         radix,
                                          const gchar  *separator,
                                          const gchar  *trailer,
                                          guint64       max_frame_length)
{
  AchatChannelPrivate *priv;
  gsize sep_len, trailer_len;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (radix == 10 || radix == 16);
  g_return_if_fail (separator != NULL);
  sep_len = strlen (separator);
  trailer_len = trailer != NULL ? strlen (trailer) : 0;
  g_return_if_fail (sep_len >= 1 && sep_len <= ACHAT_FRAMER_MAX_SEPARATOR);
  g_return_if_fail (trailer_len <= ACHAT_FRAMER_MAX_TRAILER);
  g_return_if_fail (!g_ascii_isdigit (separator[0]) &&
                    !(radix == 16 && g_ascii_isxdigit (separator[0])));

  priv = GET_PRIV (self);
  channel_framing_changes (self);
  priv->frame_header_size = 0;
  priv->frame_radix = (guint8) radix;
  priv->frame_sep_len = (guint8) sep_len;
  priv->frame_trailer_len = (guint8) trailer_len;
  memcpy (priv->frame_text, separator, sep_len);
  if (trailer_len > 0)
    memcpy (priv->frame_text + sep_len, trailer, trailer_len);
  priv->max_frame = max_frame_length;
  achat_framer_set_length_text (&priv->framer, radix, (const guint8 *) separator, sep_len,
                                (const guint8 *) trailer, trailer_len, 0);
  achat_channel_apply_max_frame (priv);
}

/**
 * achat_channel_get_terminator_kind:
 * @self: an #AchatChannel
 *
 * Gets the kind of the current terminator.
 *
 * Returns: the kind of terminator
 */
AchatTerminatorKind
achat_channel_get_terminator_kind (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), ACHAT_TERMINATOR_NONE);

  priv = GET_PRIV (self);
  if (priv->framer.kind == ACHAT_FRAMER_LENGTH && priv->framer.radix != 0)
    return ACHAT_TERMINATOR_TEXT_LENGTH;
  return (AchatTerminatorKind) priv->framer.kind;
}

/**
 * achat_channel_get_terminator:
 * @self: an #AchatChannel
 * @length: (out): return location for the length of the terminator
 *
 * Gets the byte-string terminator.
 *
 * Returns: (array length=length) (element-type guint8) (transfer none) (nullable):
 *   the terminator, or %NULL (and a @length of 0) when the terminator is a
 *   count or none
 */
const guint8 *
achat_channel_get_terminator (AchatChannel *self,
                              gsize        *length)
{
  AchatChannelPrivate *priv;

  if (length != NULL)
    *length = 0;
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  priv = GET_PRIV (self);
  if (priv->framer.kind != ACHAT_FRAMER_BYTES)
    return NULL;
  if (length != NULL)
    *length = priv->framer.term_len;
  return priv->framer.term;
}

/**
 * achat_channel_get_terminator_count:
 * @self: an #AchatChannel
 *
 * Gets how many bytes are still to come before a count terminator is
 * reached.
 *
 * Returns: the bytes still expected, or 0 when the terminator is not a
 *   count (or the count is spent)
 */
guint64
achat_channel_get_terminator_count (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  priv = GET_PRIV (self);
  return priv->framer.kind == ACHAT_FRAMER_COUNT ? priv->framer.count : 0;
}

/* Whether @terminator is a line ending: made of CR and LF only. */
static gboolean
is_line_ending (const guint8 *terminator,
                gsize         length)
{
  gsize i;

  for (i = 0; i < length; i++)
    if (terminator[i] != '\r' && terminator[i] != '\n')
      return FALSE;
  return length > 0;
}

/* Checks that @line can be sent before @terminator without being read as
 * more than one line. */
static gboolean
line_is_safe (const guint8  *line,
              gsize          length,
              const guint8  *terminator,
              gsize          terminator_length,
              GError       **error)
{
  const guint8 *hit;

  if (length == 0)
    return TRUE;   /* (and @line may be NULL: no memchr() on it) */
  if (is_line_ending (terminator, terminator_length))
    {
      const guint8 *cr = memchr (line, '\r', length);
      const guint8 *lf = memchr (line, '\n', length);

      hit = cr == NULL ? lf : lf == NULL ? cr : MIN (cr, lf);
      if (hit != NULL)
        {
          g_set_error (error, ACHAT_ERROR, ACHAT_ERROR_INVALID_LINE,
                       "The line contains a %s at byte %" G_GSIZE_FORMAT
                       ": sent, it would end the line early (a command or header "
                       "injection); nothing was queued",
                       *hit == '\r' ? "carriage return" : "line feed",
                       (gsize) (hit - line));
          return FALSE;
        }
      return TRUE;
    }

  hit = memmem (line, length, terminator, terminator_length);
  if (hit != NULL)
    {
      g_set_error (error, ACHAT_ERROR, ACHAT_ERROR_INVALID_LINE,
                   "The line contains its terminator at byte %" G_GSIZE_FORMAT
                   ": sent, it would end the line early (a command or header "
                   "injection); nothing was queued",
                   (gsize) (hit - line));
      return FALSE;
    }
  return TRUE;
}

static gboolean
channel_push_line (AchatChannel  *self,
                   const guint8  *line,
                   gsize          length,
                   const guint8  *terminator,
                   gsize          terminator_length)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (!achat_channel_check_open (self, G_STRFUNC, length + terminator_length))
    return FALSE;
  achat_output_queue_push_data (&priv->queue, line, length);
  achat_output_queue_push_data (&priv->queue, terminator, terminator_length);
  achat_channel_output_changed (self);
  return TRUE;
}

/**
 * achat_channel_push_line:
 * @self: an #AchatChannel
 * @line: (array length=length) (element-type guint8): the line, without
 *   its terminator
 * @length: the length of @line
 * @error: return location for a #GError
 *
 * Queues @line followed by the channel's terminator (the first one, with
 * several): the safe way to send a command or a header line. A line that
 * contains the terminator — or, when the terminator is a line ending such
 * as `"\r\n"`, any carriage return or line feed — is refused with
 * %ACHAT_ERROR_INVALID_LINE and nothing is queued, so text from elsewhere
 * (a nickname, a subject, a file name) cannot smuggle a second command or
 * header into an IRC, SMTP or HTTP stream.
 *
 * The channel's terminator must be a byte string
 * ([method@Achat.Channel.set_terminator]); use
 * [method@Achat.Channel.push_line_full] to give another one.
 *
 * Returns: %TRUE if the line was queued; %FALSE with @error set if it was
 *   refused, or %FALSE (with a warning, as achat_channel_push()) if the
 *   channel is closing or closed
 */
gboolean
achat_channel_push_line (AchatChannel  *self,
                         const guint8  *line,
                         gsize          length,
                         GError       **error)
{
  AchatChannelPrivate *priv;
  gsize i, n;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (line != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!achat_channel_check_owner (self, G_STRFUNC))
    return FALSE;

  priv = GET_PRIV (self);
  if (priv->framer.kind != ACHAT_FRAMER_BYTES)
    {
      g_critical ("%s: the channel's terminator is not a byte string; "
                  "use achat_channel_push_line_full() to give one", G_STRFUNC);
      return FALSE;
    }

  /* With several terminators, none may appear in the line. */
  n = achat_framer_get_n_terminators (&priv->framer);
  for (i = 0; i < n; i++)
    {
      size_t tl;
      const guint8 *term = achat_framer_get_terminator (&priv->framer, i, &tl);

      if (!line_is_safe (line, length, term, tl, error))
        return FALSE;
    }

  return channel_push_line (self, line, length, priv->framer.term, priv->framer.term_len);
}

/**
 * achat_channel_push_line_full:
 * @self: an #AchatChannel
 * @line: (array length=length) (element-type guint8): the line, without
 *   its terminator
 * @length: the length of @line
 * @terminator: (array length=terminator_length) (element-type guint8): the
 *   bytes that end the line
 * @terminator_length: the length of @terminator, at least 1
 * @error: return location for a #GError
 *
 * Queues @line followed by @terminator, refusing with
 * %ACHAT_ERROR_INVALID_LINE (nothing queued) a line that contains
 * @terminator, or any carriage return or line feed when @terminator is a
 * line ending. As achat_channel_push_line(), for a channel whose input
 * terminator is not the line ending of its output.
 *
 * Returns: %TRUE if the line was queued
 */
gboolean
achat_channel_push_line_full (AchatChannel  *self,
                              const guint8  *line,
                              gsize          length,
                              const guint8  *terminator,
                              gsize          terminator_length,
                              GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (line != NULL || length == 0, FALSE);
  g_return_val_if_fail (terminator != NULL && terminator_length > 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!achat_channel_check_owner (self, G_STRFUNC))
    return FALSE;

  if (!line_is_safe (line, length, terminator, terminator_length, error))
    return FALSE;
  return channel_push_line (self, line, length, terminator, terminator_length);
}

/* Room for the longest header push_frame() writes: a binary one, or a
 * text length and its separator. */
#define FRAME_HEADER_MAX (ACHAT_FRAMER_MAX_DIGITS_10 + ACHAT_FRAMER_MAX_SEPARATOR)

/* Writes the length header of a @length byte frame into @header and sets
 * @header_length; FALSE if the header cannot say it. */
static gboolean
frame_header (AchatChannelPrivate  *priv,
              gsize                 length,
              guint8               *header,
              gsize                *header_length,
              GError              **error)
{
  guint size = priv->frame_header_size;
  guint64 value;
  guint i;

  if (priv->frame_radix != 0)
    {
      *header_length = achat_framer_format_text_length (priv->frame_radix, length,
                                                        (const guint8 *) priv->frame_text,
                                                        priv->frame_sep_len, header);
      return TRUE;
    }
  *header_length = size;

  /* payload = header + adjustment, so header = payload - adjustment */
  if (priv->frame_adjustment > 0 && (guint64) priv->frame_adjustment > length)
    {
      g_set_error (error, ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG,
                   "A frame of %" G_GSIZE_FORMAT " bytes is shorter than the header's "
                   "adjustment of %d can express", length, priv->frame_adjustment);
      return FALSE;
    }
  value = (guint64) length - (guint64) (gint64) priv->frame_adjustment;
  if ((priv->frame_adjustment < 0 && value < length) ||
      (size < 8 && value >> (size * 8) != 0))
    {
      g_set_error (error, ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG,
                   "A frame of %" G_GSIZE_FORMAT " bytes is too long for a %u-byte "
                   "length header", length, size);
      return FALSE;
    }
  for (i = 0; i < size; i++)
    {
      guint shift = priv->frame_big_endian ? (size - 1 - i) * 8 : i * 8;

      header[i] = (guint8) (value >> shift);
    }
  return TRUE;
}

/* Queues a frame: its header, the payload (@bytes without a copy, else
 * @data copied), its trailer. */
static gboolean
channel_push_frame (AchatChannel  *self,
                    const gchar   *function,
                    const guint8  *data,
                    gsize          length,
                    GBytes        *bytes,
                    GError       **error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  guint8 header[FRAME_HEADER_MAX];
  gsize header_length;

  if (!achat_channel_check_owner (self, function))
    return FALSE;
  if (priv->frame_header_size == 0 && priv->frame_radix == 0)
    {
      g_critical ("%s: call achat_channel_set_terminator_length_prefix() or "
                  "achat_channel_set_terminator_text_length() first", function);
      return FALSE;
    }
  if (!frame_header (priv, length, header, &header_length, error))
    return FALSE;
  if (!achat_channel_check_open (self, function, length))
    return FALSE;
  achat_output_queue_push_data (&priv->queue, header, header_length);
  if (bytes != NULL)
    achat_output_queue_push_bytes (&priv->queue, bytes);
  else
    achat_output_queue_push_data (&priv->queue, data, length);
  if (priv->frame_trailer_len > 0)
    achat_output_queue_push_data (&priv->queue,
                                  (const guint8 *) priv->frame_text + priv->frame_sep_len,
                                  priv->frame_trailer_len);
  achat_channel_output_changed (self);
  return TRUE;
}

/**
 * achat_channel_push_frame:
 * @self: an #AchatChannel
 * @data: (array length=length) (element-type guint8): the payload
 * @length: the length of @data
 * @error: return location for a #GError
 *
 * Queues @data as one length-prefixed frame: a header as set by
 * [method@Achat.Channel.set_terminator_length_prefix] (the same size, byte
 * order and adjustment the channel reads), then @data, copied. A payload
 * too long for the header is refused with %ACHAT_ERROR_FRAME_TOO_LONG and
 * nothing is queued. After
 * [method@Achat.Channel.set_terminator_text_length] (the last of the two
 * set counts), the header is the length in digits and the separator, and
 * the trailer follows @data.
 *
 * Returns: %TRUE if the frame was queued
 */
gboolean
achat_channel_push_frame (AchatChannel  *self,
                          const guint8  *data,
                          gsize          length,
                          GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return channel_push_frame (self, G_STRFUNC, data, length, NULL, error);
}

/**
 * achat_channel_push_frame_bytes:
 * @self: an #AchatChannel
 * @data: the payload
 * @error: return location for a #GError
 *
 * Queues @data as one length-prefixed frame, like
 * achat_channel_push_frame(), without copying the payload (small ones
 * excepted).
 *
 * Returns: %TRUE if the frame was queued
 */
gboolean
achat_channel_push_frame_bytes (AchatChannel  *self,
                                GBytes        *data,
                                GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return channel_push_frame (self, G_STRFUNC, g_bytes_get_data (data, NULL),
                             g_bytes_get_size (data), data, error);
}
