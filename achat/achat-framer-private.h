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
 * Between two inputs the engine keeps at most (terminator length - 1) bytes:
 * a proper prefix of the terminator seen at the end of the previous input.
 * Every input byte is examined once (plus that short held prefix), so the
 * search is linear in the bytes received however a frame is fragmented.
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
} AchatFramerKind;

typedef struct
{
  /* Bytes to collect; points either into the input passed to
   * achat_framer_next() (from_input) or into the framer's own storage, in
   * which case it stays valid until the next call on the framer. */
  const uint8_t *data;
  size_t length;
  bool from_input;
  /* A terminator (or the end of a count) follows data. */
  bool terminator;
} AchatFramerEvent;

typedef struct
{
  AchatFramerKind kind;
  uint8_t *term;
  size_t term_len;
  size_t term_cap;
  uint64_t count;        /* bytes still to come for a count terminator */

  uint8_t *hold;         /* held-back input, processed before new input */
  size_t hold_len;
  size_t hold_cap;

  uint8_t *scratch;      /* window / event storage */
  size_t scratch_cap;
} AchatFramer;

void     achat_framer_init           (AchatFramer        *framer);
void     achat_framer_clear          (AchatFramer        *framer);

void     achat_framer_set_bytes      (AchatFramer        *framer,
                                      const uint8_t      *terminator,
                                      size_t              length);
void     achat_framer_set_count      (AchatFramer        *framer,
                                      uint64_t            count);
void     achat_framer_set_none       (AchatFramer        *framer);

/* Returns the number of input bytes consumed and fills @event.  An event with
 * no data and no terminator means the engine needs more input; it is only
 * returned once all of @input has been consumed. */
size_t   achat_framer_next           (AchatFramer        *framer,
                                      const uint8_t      *input,
                                      size_t              length,
                                      AchatFramerEvent   *event);

/* Number of bytes held back (a partial terminator, or bytes left over from a
 * terminator change that were not reprocessed yet). */
size_t   achat_framer_get_held       (const AchatFramer  *framer);

/* End of stream: hands back every held byte as data (no terminator) and
 * empties the engine.  Returns false when nothing was held. */
bool     achat_framer_flush          (AchatFramer        *framer,
                                      AchatFramerEvent   *event);

/* Drops held bytes (discard_buffers). */
void     achat_framer_discard        (AchatFramer        *framer);

/* Keeps @input, not yet framed, to be framed (after what is already held)
 * before any new input: the consumer stopped in the middle of a read. */
void     achat_framer_hold_input     (AchatFramer        *framer,
                                      const uint8_t      *input,
                                      size_t              length);

size_t   achat_framer_prefix_at_end  (const uint8_t      *haystack,
                                      size_t              haystack_length,
                                      const uint8_t      *needle,
                                      size_t              needle_length);

#ifdef __cplusplus
}
#endif
