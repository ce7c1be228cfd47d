/* achat-framer-private.h: the framing engine
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Plain C, no GLib and no GObject: it can be fuzzed and benchmarked on its
 * own.  The engine splits a byte stream on a terminator and reports, one
 * event at a time, the bytes to collect and whether a terminator followed
 * them.  Because it is pulled one event at a time, a caller may change the
 * terminator between two events and the change applies to the rest of the
 * same input, exactly like asynchat's handle_read() loop.
 *
 * Between two inputs the engine keeps at most (longest terminator length - 1)
 * bytes: what may be the start of a terminator, seen at the end of the
 * previous input (or, for length-prefixed frames, at most header size - 1
 * bytes: the start of a header). Every input byte is examined a bounded
 * number of times, so the search is linear in the bytes received however a
 * frame is fragmented.
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Same values as AchatTerminatorKind */
typedef enum
{
  ACHAT_FRAMER_NONE = 0,
  ACHAT_FRAMER_BYTES = 1,
  ACHAT_FRAMER_COUNT = 2,
  ACHAT_FRAMER_LENGTH = 3,     /* a binary length header, then the payload */
} AchatFramerKind;

/* Most byte-string terminators set at once, and the longest header. */
#define ACHAT_FRAMER_MAX_TERMINATORS 16
#define ACHAT_FRAMER_MAX_HEADER      8
/* Text length headers: the longest separator and trailer, and the most
 * digits of a length (UINT64_MAX has 20 decimal digits, 16 hexadecimal). */
#define ACHAT_FRAMER_MAX_SEPARATOR   8
#define ACHAT_FRAMER_MAX_TRAILER     8
#define ACHAT_FRAMER_MAX_DIGITS_10   20
#define ACHAT_FRAMER_MAX_DIGITS_16   16

typedef enum
{
  ACHAT_FRAMER_OK = 0,
  /* A length header announced a frame longer than the maximum. */
  ACHAT_FRAMER_FRAME_TOO_LONG,
  /* A length header, once adjusted, gives a negative length, or a text
   * length header is not digits and its separator. */
  ACHAT_FRAMER_FRAME_INVALID,
  /* A text-length frame's payload is not followed by its trailer. */
  ACHAT_FRAMER_BAD_TRAILER,
} AchatFramerStatus;

typedef struct
{
  /* Bytes to collect; points either into the input passed to
   * achat_framer_next() (from_input) or into the framer's own storage, in
   * which case it stays valid until the next call on the framer. */
  const uint8_t *data;
  size_t length;
  bool from_input;
  /* A terminator (or the end of a count or of a frame) follows data. */
  bool terminator;
  /* With a terminator under ACHAT_FRAMER_BYTES: which of the terminators
   * matched (its index in the set). 0 otherwise. */
  unsigned term_index;
  /* Not ACHAT_FRAMER_OK: the stream cannot be framed any further (no data,
   * no terminator; nothing consumed past the refused header, whose last
   * bytes the call that finds it consumes); @frame_length is the payload
   * length the header announced (after the adjustment, saturated to 0 when
   * negative, to UINT64_MAX beyond it: too long whatever the maximum).
   * Every later call returns the same error and consumes nothing until the
   * terminator is set again (achat_framer_set_max_length() does not count).
   * The caller keeps the input it did not consume (hold_input), or drops
   * it. */
  AchatFramerStatus status;
  uint64_t frame_length;
} AchatFramerEvent;

typedef struct
{
  AchatFramerKind kind;
  /* Bytes terminators: all of the set, one after the other; the first one
   * is term[0 .. term_len). */
  uint8_t *term;
  size_t term_len;
  size_t term_cap;
  size_t n_terms;        /* 1 for achat_framer_set_bytes(), 0 if not BYTES */
  size_t term_max;       /* the longest terminator of the set */
  struct _AchatFramerSet *set;   /* lookup tables when n_terms > 1 */
  uint64_t count;        /* bytes still to come for a count terminator, or
                          * of the current length-prefixed frame */

  /* Length-prefixed frames */
  uint64_t max_length;
  int64_t adjustment;
  uint64_t frame_length; /* announced by the refused header */
  uint8_t header_size;
  bool big_endian;
  uint8_t length_state;  /* reading a header, a payload, a trailer, or refused */
  /* Text length headers (radix 10 or 16; 0 for a binary header): digits,
   * then the separator; after the payload, the trailer (trailer_pos of
   * its bytes matched so far). */
  uint8_t radix;
  uint8_t sep_len;
  uint8_t trailer_len;
  uint8_t trailer_pos;
  uint8_t sep[ACHAT_FRAMER_MAX_SEPARATOR];
  uint8_t trailer[ACHAT_FRAMER_MAX_TRAILER];
  /* The digits of the current frame's header as they came (leading zeros
   * and case included), for achat_framer_unread() to put them back. */
  uint8_t n_digits;
  uint8_t digits[ACHAT_FRAMER_MAX_DIGITS_10];
  AchatFramerStatus status;

  /* Held-back input, processed before new input: hold[hold_start ..
   * hold_start + hold_len). Consuming held bytes moves hold_start, so it
   * costs what is consumed, not what is held; the consumed prefix is
   * reclaimed when bytes are appended. Events about held bytes point into
   * this storage. */
  uint8_t *hold;
  size_t hold_start;
  size_t hold_len;       /* the held bytes (achat_framer_get_held()) */
  size_t hold_cap;
} AchatFramer;

void     achat_framer_init           (AchatFramer        *framer);
void     achat_framer_clear          (AchatFramer        *framer);

void     achat_framer_set_bytes      (AchatFramer        *framer,
                                      const uint8_t      *terminator,
                                      size_t              length);
void     achat_framer_set_count      (AchatFramer        *framer,
                                      uint64_t            count);
void     achat_framer_set_none       (AchatFramer        *framer);

/* Several byte-string terminators (1 <= n <= ACHAT_FRAMER_MAX_TERMINATORS,
 * each at least one byte; duplicates allowed). The earliest match in the
 * stream wins; of those matching at the same position, the longest (the
 * first of equal ones). n == 1 is achat_framer_set_bytes(). The engine
 * holds at most (longest terminator - 1) bytes between inputs. */
void     achat_framer_set_bytes_multi (AchatFramer        *framer,
                                       const uint8_t *const *terminators,
                                       const size_t       *lengths,
                                       size_t              n);
size_t   achat_framer_get_n_terminators (const AchatFramer *framer);
/* The terminator at @index (< n), or NULL when the kind is not BYTES. */
const uint8_t *achat_framer_get_terminator (const AchatFramer *framer,
                                            size_t             index,
                                            size_t            *length);

/* Length-prefixed frames: a @header_size byte (1, 2, 4 or 8) unsigned
 * length in network (@big_endian) or little-endian order, plus
 * @adjustment (negative for headers that count themselves: -4 for a
 * 4-byte header counting itself), gives the payload length. The header is
 * not delivered; the payload is, as data events, with a terminator event
 * at its end (a lone terminator event for an empty payload). A frame
 * longer than @max_length (0 = no maximum) is refused with
 * ACHAT_FRAMER_FRAME_TOO_LONG as soon as its header is complete, before any
 * of its payload is buffered. */
void     achat_framer_set_length     (AchatFramer        *framer,
                                      unsigned            header_size,
                                      bool                big_endian,
                                      int64_t             adjustment,
                                      uint64_t            max_length);
/* Text length-prefixed frames: a length written in @radix (10 or 16,
 * either case of hexadecimal digits; at most ACHAT_FRAMER_MAX_DIGITS_*
 * digits, leading zeros included), then @separator (1 to
 * ACHAT_FRAMER_MAX_SEPARATOR bytes, not starting with a digit), then that
 * many bytes of payload, then @trailer (0 to ACHAT_FRAMER_MAX_TRAILER
 * bytes): "5\r\nhello" (radix 10, separator "\r\n"), netstrings
 * "5:hello," (separator ":", trailer ","), HTTP chunks "1a\r\n...\r\n".
 * Header and trailer are not delivered. A header that is not digits and
 * the separator is refused with ACHAT_FRAMER_FRAME_INVALID (nothing of it
 * consumed), a payload not followed by the trailer with
 * ACHAT_FRAMER_BAD_TRAILER; the terminator event comes once the trailer
 * is complete (with the payload's last bytes when they arrive in the same
 * input as the trailer). Invalid arguments set no terminator. */
void     achat_framer_set_length_text (AchatFramer       *framer,
                                       unsigned           radix,
                                       const uint8_t     *separator,
                                       size_t             separator_length,
                                       const uint8_t     *trailer,
                                       size_t             trailer_length,
                                       uint64_t           max_length);

/* Writes the text header of a @value byte payload into @header (at least
 * ACHAT_FRAMER_MAX_DIGITS_10 + @separator_length bytes): its digits in
 * @radix, lower case and no leading zero, then @separator. Returns its
 * length. What the peer's achat_framer_set_length_text() reads. */
size_t   achat_framer_format_text_length (unsigned       radix,
                                          uint64_t       value,
                                          const uint8_t *separator,
                                          size_t         separator_length,
                                          uint8_t       *header);

/* Changes the maximum of the current length setting (a frame already
 * announced is not checked again). */
void     achat_framer_set_max_length (AchatFramer        *framer,
                                      uint64_t            max_length);

/* True in the middle of a length-prefixed frame: part of a header (any
 * held byte), a payload or trailer not complete yet (a refused frame
 * included). */
bool     achat_framer_in_frame       (const AchatFramer  *framer);

/* Returns the number of input bytes consumed and fills @event.  An event with
 * no data, no terminator and status ACHAT_FRAMER_OK means the engine needs
 * more input; it is only returned once all of @input has been consumed. */
size_t   achat_framer_next           (AchatFramer        *framer,
                                      const uint8_t      *input,
                                      size_t              length,
                                      AchatFramerEvent   *event);

/* Number of bytes held back (a partial terminator, a partial length header,
 * or bytes left over from a terminator change that were not reprocessed
 * yet). */
size_t   achat_framer_get_held       (const AchatFramer  *framer);

/* End of stream: hands back the held bytes, one event at a time; call it
 * until it returns false (nothing held any more; @event is then empty).
 * Under ACHAT_FRAMER_BYTES no longer match can come, so a terminator that
 * was undecided (a shorter one matched while a longer one might still have)
 * is final: the event is the data before the earliest match complete in
 * the held bytes (the longest at that position) with terminator and
 * term_index set, and consumes through that match; held bytes with no
 * complete match come back as data (no terminator). These are the frames
 * the whole stream would give. Under the other kinds every held byte comes
 * back as data in one event (a partial length header too, so no byte is
 * lost; a count is not counted down). As with achat_framer_next(), a
 * terminator changed between two calls applies to what is still held. */
bool     achat_framer_flush          (AchatFramer        *framer,
                                      AchatFramerEvent   *event);

/* The engine's position between two messages, to go back to after looking
 * one event ahead: a caller that gathers the messages of an input before
 * handing them over marks the engine after each message and, when the
 * next event is not a whole message, resets it to the mark and frames
 * that input again later (under whatever framing is in force then). Only
 * the per-stream state is kept, so a mark is valid while the framing is
 * not set again; and it must be taken with nothing held (the held bytes
 * are not saved). */
typedef struct
{
  uint64_t count;
  uint64_t frame_length;
  AchatFramerStatus status;
  uint8_t length_state;
  uint8_t trailer_pos;
} AchatFramerMark;

void     achat_framer_mark           (const AchatFramer  *framer,
                                      AchatFramerMark    *mark);
void     achat_framer_reset_to_mark  (AchatFramer        *framer,
                                      const AchatFramerMark *mark);

/* Frames the whole messages at the start of @input, at most @max of them
 * and none longer than @max_length (0: no limit), into @bounds (start and
 * end of each message in @input, two per message) and @after (where the
 * input after each one starts: past its terminator); @term_index is the
 * index of the last one's terminator. Stops before the first event that
 * is not a whole message (part of a message, a refused header, a message
 * too long), leaving the engine as it was before that event. Nothing may
 * be held (returns 0 then). Returns the number of messages. A single
 * byte-string terminator is searched for in a loop of its own; the other
 * kinds look one event ahead and go back (achat_framer_mark()). */
size_t   achat_framer_next_whole     (AchatFramer        *framer,
                                      const uint8_t      *input,
                                      size_t              length,
                                      size_t              max,
                                      uint64_t            max_length,
                                      size_t             *bounds,
                                      size_t             *after,
                                      unsigned           *term_index);

/* Drops held bytes (discard_buffers). */
void     achat_framer_discard        (AchatFramer        *framer);

/* Keeps @input, not yet framed, to be framed (after what is already held)
 * before any new input: the consumer stopped in the middle of a read. The
 * events then come from the held bytes in place: framing them costs what
 * each event consumes, however much is held. */
void     achat_framer_hold_input     (AchatFramer        *framer,
                                      const uint8_t      *input,
                                      size_t              length);

/* Puts @data back in front of the held bytes, to be framed again before
 * them: what a consumer collected of the current message and gave up, to
 * be framed anew under a new terminator (set it after this call). Under a
 * length prefix in the middle of a payload, @data is the start of that
 * payload (possibly empty: only the header came): the frame's header is
 * rebuilt and put back before it. */
void     achat_framer_unread         (AchatFramer        *framer,
                                      const uint8_t      *data,
                                      size_t              length);

size_t   achat_framer_prefix_at_end  (const uint8_t      *haystack,
                                      size_t              haystack_length,
                                      const uint8_t      *needle,
                                      size_t              needle_length);

#ifdef __cplusplus
}
#endif
