/* achat-framer.c: the framing engine (plain C)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif

#include "achat-framer-private.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
xrealloc (void   *p,
          size_t  size)
{
  void *r = realloc (p, size ? size : 1);

  if (r == NULL)
    {
      fprintf (stderr, "achat: failed to allocate %zu bytes\n", size);
      abort ();
    }
  return r;
}

static void
reserve (uint8_t **buf,
         size_t   *cap,
         size_t    needed)
{
  size_t new_cap;

  if (needed <= *cap)
    return;
  new_cap = *cap ? *cap : 16;
  while (new_cap < needed)
    new_cap *= 2;
  *buf = xrealloc (*buf, new_cap);
  *cap = new_cap;
}

/* Several terminators: where each one is in framer->term, and which ones
 * may start at a given byte. */
typedef struct _AchatFramerSet
{
  size_t offset[ACHAT_FRAMER_MAX_TERMINATORS];
  size_t length[ACHAT_FRAMER_MAX_TERMINATORS];
  /* Indices of the terminators, longest first (the first of equal ones
   * first): the order in which they are tried at a position. */
  uint8_t order[ACHAT_FRAMER_MAX_TERMINATORS];
  /* Bit j: terminator order[j] starts with that byte. */
  uint16_t first[256];
  /* The first byte of every terminator when they all share it, or -1. */
  int lone_first;
} AchatFramerSet;

enum
{
  LENGTH_HEADER = 0,   /* reading a header (its first bytes are held) */
  LENGTH_PAYLOAD,      /* count payload bytes still to come */
  LENGTH_REFUSED,      /* a header was refused: framer->status says why */
  LENGTH_TRAILER,      /* text lengths: the payload's trailer is still to come */
};

static void
length_reset (AchatFramer *framer)
{
  framer->length_state = LENGTH_HEADER;
  framer->status = ACHAT_FRAMER_OK;
  framer->frame_length = 0;
  framer->trailer_pos = 0;
}

void
achat_framer_init (AchatFramer *framer)
{
  memset (framer, 0, sizeof *framer);
  framer->kind = ACHAT_FRAMER_NONE;
}

void
achat_framer_clear (AchatFramer *framer)
{
  free (framer->term);
  free (framer->set);
  free (framer->hold);
  achat_framer_init (framer);
}

void
achat_framer_set_bytes (AchatFramer   *framer,
                        const uint8_t *terminator,
                        size_t         length)
{
  if (length == 0)
    {
      achat_framer_set_none (framer);
      return;
    }
  /* The terminator may be one of the framer's own (already in term):
   * reserve() keeps the storage when it is big enough, as it then is. */
  reserve (&framer->term, &framer->term_cap, length);
  memmove (framer->term, terminator, length);
  framer->term_len = length;
  framer->n_terms = 1;
  framer->term_max = length;
  framer->kind = ACHAT_FRAMER_BYTES;
  framer->count = 0;
  length_reset (framer);
}

void
achat_framer_set_bytes_multi (AchatFramer          *framer,
                              const uint8_t *const *terminators,
                              const size_t         *lengths,
                              size_t                n)
{
  AchatFramerSet *set;
  uint8_t *storage;
  size_t total = 0, i, j;

  if (n == 1)
    {
      achat_framer_set_bytes (framer, terminators[0], lengths[0]);
      return;
    }
  /* Outside the contract: no terminator at all rather than a guess. */
  if (n == 0 || n > ACHAT_FRAMER_MAX_TERMINATORS)
    {
      achat_framer_set_none (framer);
      return;
    }
  for (i = 0; i < n; i++)
    {
      if (lengths[i] == 0)
        {
          achat_framer_set_none (framer);
          return;
        }
      total += lengths[i];
    }

  /* The terminators may be the framer's own (from
   * achat_framer_get_terminator()): then copied into new storage first. */
  storage = framer->term;
  for (i = 0; i < n && storage != NULL; i++)
    {
      uintptr_t t = (uintptr_t) terminators[i];
      uintptr_t base = (uintptr_t) framer->term;

      if (t + lengths[i] > base && t < base + framer->term_cap)
        storage = NULL;
    }
  if (storage == NULL || framer->term_cap < total)
    storage = xrealloc (NULL, total);
  if (framer->set == NULL)
    framer->set = xrealloc (NULL, sizeof *framer->set);
  set = framer->set;
  total = 0;
  framer->term_max = 0;
  for (i = 0; i < n; i++)
    {
      memcpy (storage + total, terminators[i], lengths[i]);
      set->offset[i] = total;
      set->length[i] = lengths[i];
      total += lengths[i];
      if (lengths[i] > framer->term_max)
        framer->term_max = lengths[i];

      /* Insertion sort, stable: longest first, then by index. */
      for (j = i; j > 0 && set->length[set->order[j - 1]] < lengths[i]; j--)
        set->order[j] = set->order[j - 1];
      set->order[j] = (uint8_t) i;
    }
  if (storage != framer->term)
    {
      free (framer->term);
      framer->term = storage;
      framer->term_cap = total;
    }
  framer->term_len = lengths[0];
  framer->n_terms = n;

  memset (set->first, 0, sizeof set->first);
  set->lone_first = storage[0];
  for (j = 0; j < n; j++)
    {
      uint8_t b = storage[set->offset[set->order[j]]];

      set->first[b] |= (uint16_t) (1u << j);
      if (b != set->lone_first)
        set->lone_first = -1;
    }

  framer->kind = ACHAT_FRAMER_BYTES;
  framer->count = 0;
  length_reset (framer);
}

size_t
achat_framer_get_n_terminators (const AchatFramer *framer)
{
  return framer->kind == ACHAT_FRAMER_BYTES ? framer->n_terms : 0;
}

const uint8_t *
achat_framer_get_terminator (const AchatFramer *framer,
                             size_t             index,
                             size_t            *length)
{
  if (framer->kind != ACHAT_FRAMER_BYTES || index >= framer->n_terms)
    {
      if (length != NULL)
        *length = 0;
      return NULL;
    }
  if (framer->n_terms == 1)
    {
      if (length != NULL)
        *length = framer->term_len;
      return framer->term;
    }
  if (length != NULL)
    *length = framer->set->length[index];
  return framer->term + framer->set->offset[index];
}

void
achat_framer_set_count (AchatFramer *framer,
                        uint64_t     count)
{
  framer->kind = ACHAT_FRAMER_COUNT;
  framer->count = count;
  framer->term_len = 0;
  framer->n_terms = 0;
  framer->term_max = 0;
  length_reset (framer);
}

void
achat_framer_set_none (AchatFramer *framer)
{
  framer->kind = ACHAT_FRAMER_NONE;
  framer->count = 0;
  framer->term_len = 0;
  framer->n_terms = 0;
  framer->term_max = 0;
  length_reset (framer);
}

void
achat_framer_set_length (AchatFramer *framer,
                         unsigned     header_size,
                         bool         big_endian,
                         int64_t      adjustment,
                         uint64_t     max_length)
{
  /* 1, 2, 4 or 8 by contract; any size up to 8 works. */
  if (header_size == 0 || header_size > ACHAT_FRAMER_MAX_HEADER)
    {
      achat_framer_set_none (framer);
      return;
    }
  framer->kind = ACHAT_FRAMER_LENGTH;
  framer->count = 0;
  framer->term_len = 0;
  framer->n_terms = 0;
  framer->term_max = 0;
  framer->header_size = (uint8_t) header_size;
  framer->big_endian = big_endian;
  framer->adjustment = adjustment;
  framer->max_length = max_length;
  framer->radix = 0;
  framer->trailer_len = 0;
  length_reset (framer);
}

static inline int
digit_value (uint8_t c,
             unsigned radix)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (radix == 16 && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
    return (c | 0x20) - 'a' + 10;
  return -1;
}

void
achat_framer_set_length_text (AchatFramer   *framer,
                              unsigned       radix,
                              const uint8_t *separator,
                              size_t         separator_length,
                              const uint8_t *trailer,
                              size_t         trailer_length,
                              uint64_t       max_length)
{
  if ((radix != 10 && radix != 16) || separator_length == 0 ||
      separator_length > ACHAT_FRAMER_MAX_SEPARATOR ||
      digit_value (separator[0], radix) >= 0 ||
      trailer_length > ACHAT_FRAMER_MAX_TRAILER)
    {
      achat_framer_set_none (framer);
      return;
    }
  achat_framer_set_length (framer, 1, true, 0, max_length);
  framer->header_size = 0;
  framer->radix = (uint8_t) radix;
  framer->sep_len = (uint8_t) separator_length;
  memmove (framer->sep, separator, separator_length);
  framer->trailer_len = (uint8_t) trailer_length;
  if (trailer_length > 0)
    memmove (framer->trailer, trailer, trailer_length);
}

void
achat_framer_set_max_length (AchatFramer *framer,
                             uint64_t     max_length)
{
  framer->max_length = max_length;
}

bool
achat_framer_in_frame (const AchatFramer *framer)
{
  if (framer->kind != ACHAT_FRAMER_LENGTH)
    return false;
  /* A refused frame is never complete: the stream stopped inside it. */
  return framer->length_state != LENGTH_HEADER || framer->hold_len > 0;
}

size_t
achat_framer_get_held (const AchatFramer *framer)
{
  return framer->hold_len;
}

void
achat_framer_mark (const AchatFramer *framer,
                   AchatFramerMark   *mark)
{
  assert (framer->hold_len == 0);
  mark->count = framer->count;
  mark->frame_length = framer->frame_length;
  mark->status = framer->status;
  mark->length_state = framer->length_state;
  mark->trailer_pos = framer->trailer_pos;
}

void
achat_framer_reset_to_mark (AchatFramer           *framer,
                            const AchatFramerMark *mark)
{
  /* What the look-ahead held (the start of a terminator or of a header at
   * the end of the input) is framed again from the input. */
  framer->hold_start = 0;
  framer->hold_len = 0;
  framer->count = mark->count;
  framer->frame_length = mark->frame_length;
  framer->status = mark->status;
  framer->length_state = mark->length_state;
  framer->trailer_pos = mark->trailer_pos;
}

void
achat_framer_discard (AchatFramer *framer)
{
  framer->hold_start = 0;
  framer->hold_len = 0;
}

/* The held bytes: hold[hold_start .. hold_start + hold_len). What comes
 * before hold_start was consumed (events may still point into it until
 * the next call). */
static inline uint8_t *
held_bytes (const AchatFramer *framer)
{
  return framer->hold + framer->hold_start;
}

/* Consumes the first @n held bytes: O(1), nothing moves. */
static inline void
hold_consume (AchatFramer *framer,
              size_t       n)
{
  framer->hold_start += n;
  framer->hold_len -= n;
  if (framer->hold_len == 0)
    framer->hold_start = 0;
}

static void
hold_empty (AchatFramer *framer)
{
  framer->hold_start = 0;
  framer->hold_len = 0;
}

/* Appends after the held bytes. The consumed prefix is reclaimed only when
 * the bytes do not fit and it is at least as long as the held bytes, so
 * the move costs no more than what was consumed since the last one;
 * otherwise the storage grows (to at most about twice what is held, dead
 * prefix included). */
static void
hold_append (AchatFramer   *framer,
             const uint8_t *data,
             size_t         length)
{
  size_t end;

  if (framer->hold_len == 0)
    framer->hold_start = 0;
  end = framer->hold_start + framer->hold_len;
  if (end + length > framer->hold_cap && framer->hold_start > 0 &&
      framer->hold_start >= framer->hold_len)
    {
      memmove (framer->hold, held_bytes (framer), framer->hold_len);
      framer->hold_start = 0;
      end = framer->hold_len;
    }
  reserve (&framer->hold, &framer->hold_cap, end + length);
  memcpy (framer->hold + end, data, length);
  framer->hold_len += length;
}

static void
unread_bytes (AchatFramer   *framer,
              const uint8_t *data,
              size_t         length)
{
  if (length == 0)
    return;
  if (framer->hold_start >= length)
    {
      /* Into the consumed prefix: nothing moves. */
      framer->hold_start -= length;
    }
  else
    {
      reserve (&framer->hold, &framer->hold_cap, length + framer->hold_len);
      memmove (framer->hold + length, held_bytes (framer), framer->hold_len);
      framer->hold_start = 0;
    }
  memcpy (framer->hold + framer->hold_start, data, length);
  framer->hold_len += length;
}

size_t
achat_framer_format_text_length (unsigned       radix,
                                 uint64_t       value,
                                 const uint8_t *separator,
                                 size_t         separator_length,
                                 uint8_t       *header)
{
  uint8_t digits[ACHAT_FRAMER_MAX_DIGITS_10];
  size_t n = 0, i;

  do
    {
      digits[n++] = (uint8_t) "0123456789abcdef"[value % radix];
      value /= radix;
    }
  while (value != 0);
  for (i = 0; i < n; i++)
    header[i] = digits[n - 1 - i];
  memcpy (header + n, separator, separator_length);
  return n + separator_length;
}

/* The text header of a @value byte payload and its separator: the digits
 * the peer sent for it (leading zeros and case kept), else the digits in
 * the framer's radix (lower case); returns its length. */
static unsigned
write_text_header (const AchatFramer *framer,
                   uint64_t           value,
                   uint8_t           *header)
{
  unsigned i;
  uint64_t sent = 0;

  for (i = 0; i < framer->n_digits; i++)
    sent = sent * framer->radix + (uint64_t) digit_value (framer->digits[i], framer->radix);
  if (framer->n_digits > 0 && sent == value)
    {
      memcpy (header, framer->digits, framer->n_digits);
      memcpy (header + framer->n_digits, framer->sep, framer->sep_len);
      return framer->n_digits + framer->sep_len;
    }
  return (unsigned) achat_framer_format_text_length (framer->radix, value, framer->sep,
                                                     framer->sep_len, header);
}

void
achat_framer_unread (AchatFramer   *framer,
                     const uint8_t *data,
                     size_t         length)
{
  bool in_payload = framer->kind == ACHAT_FRAMER_LENGTH &&
                    (framer->length_state == LENGTH_PAYLOAD ||
                     framer->length_state == LENGTH_TRAILER);

  /* The part of a trailer already matched follows the whole payload. */
  if (in_payload && framer->length_state == LENGTH_TRAILER)
    unread_bytes (framer, framer->trailer, framer->trailer_pos);
  unread_bytes (framer, data, length);
  if (in_payload)
    {
      /* @data began the payload of the current frame (or none of it came
       * yet): its header goes back too, as the peer sent it. */
      uint8_t header[ACHAT_FRAMER_MAX_DIGITS_10 + ACHAT_FRAMER_MAX_SEPARATOR];
      unsigned n;

      if (framer->radix != 0)
        n = write_text_header (framer, length + framer->count, header);
      else
        {
          uint64_t value = (uint64_t) ((int64_t) (length + framer->count) - framer->adjustment);
          unsigned i;

          n = framer->header_size;
          for (i = 0; i < n; i++)
            {
              unsigned shift = 8 * (framer->big_endian ? n - 1 - i : i);

              header[i] = (uint8_t) (value >> shift);
            }
        }
      unread_bytes (framer, header, n);
      framer->count = 0;
      framer->trailer_pos = 0;
      framer->length_state = LENGTH_HEADER;
    }
}

void
achat_framer_hold_input (AchatFramer   *framer,
                         const uint8_t *input,
                         size_t         length)
{
  if (length == 0)
    return;
  hold_append (framer, input, length);
}

size_t
achat_framer_prefix_at_end (const uint8_t *haystack,
                            size_t         haystack_length,
                            const uint8_t *needle,
                            size_t         needle_length)
{
  size_t l;

  if (needle_length == 0 || haystack_length == 0)
    return 0;

  l = needle_length - 1;
  if (l > haystack_length)
    l = haystack_length;

  for (; l > 0; l--)
    {
      const uint8_t *tail = haystack + haystack_length - l;

      if (tail[0] == needle[0] && memcmp (tail, needle, l) == 0)
        return l;
    }
  return 0;
}

/* First occurrence of the terminator in data, or -1. */
static inline ptrdiff_t
find_terminator (const AchatFramer *framer,
                 const uint8_t     *data,
                 size_t             length)
{
  const uint8_t *hit;

  if (length < framer->term_len)
    return -1;

  if (framer->term_len == 1)
    hit = memchr (data, framer->term[0], length);
  else if (framer->term_len == 2)
    {
      /* The common "\r\n" case: memchr on the first byte beats memmem's setup. */
      const uint8_t *p = data;
      const uint8_t *end = data + length - 1;
      uint8_t first = framer->term[0];
      uint8_t second = framer->term[1];

      hit = NULL;
      while (p < end && (p = memchr (p, first, (size_t) (end - p))) != NULL)
        {
          if (p[1] == second)
            {
              hit = p;
              break;
            }
          p++;
        }
    }
  else
    hit = memmem (data, length, framer->term, framer->term_len);

  return hit ? hit - data : -1;
}

/* Replaces the held bytes (none are held: the caller framed them). */
static void
set_hold (AchatFramer   *framer,
          const uint8_t *data,
          size_t         length)
{
  reserve (&framer->hold, &framer->hold_cap, length);
  memmove (framer->hold, data, length);
  framer->hold_start = 0;
  framer->hold_len = length;
}

static void
event_set (AchatFramerEvent *event,
           const uint8_t    *data,
           size_t            length,
           bool              from_input,
           bool              terminator)
{
  event->data = length ? data : NULL;
  event->length = length;
  event->from_input = from_input && length > 0;
  event->terminator = terminator;
  event->term_index = 0;
  event->status = ACHAT_FRAMER_OK;
  event->frame_length = 0;
}

/* Held bytes under a count, a length-prefixed payload or no terminator:
 * hand them out as data, straight from the held storage. */
static size_t
next_from_hold_plain (AchatFramer      *framer,
                      AchatFramerEvent *event)
{
  size_t take = framer->hold_len;
  bool terminator = false;

  if ((framer->kind == ACHAT_FRAMER_COUNT ||
       framer->kind == ACHAT_FRAMER_LENGTH) && framer->count > 0)
    {
      if (framer->count < take)
        take = (size_t) framer->count;
      framer->count -= take;
      terminator = framer->count == 0;
      if (terminator && framer->kind == ACHAT_FRAMER_LENGTH)
        {
          /* A trailer, held or not, is matched by the next call. */
          if (framer->trailer_len > 0)
            {
              terminator = false;
              framer->length_state = LENGTH_TRAILER;
            }
          else
            framer->length_state = LENGTH_HEADER;
        }
    }

  event_set (event, held_bytes (framer), take, false, terminator);
  hold_consume (framer, take);
  return 0;
}

/* Held bytes under a bytes terminator: a match may start in the held bytes
 * and end in the new input.  Look at a window made of the held bytes and
 * just enough of the input to complete a match starting in them: that much
 * input (at most the terminator length - 1 bytes) is appended to the held
 * storage, and dropped again unless it stays held.  The search stops at the
 * first match, and what it went over is consumed, so a large held region
 * (achat_framer_hold_input()) costs what is consumed, not what is held. */

/* A terminator [p, end) found in the window @w of the @k held bytes (and
 * the start of the input): the event for the data before it. Returns the
 * input bytes consumed. */
static size_t
hold_match (AchatFramer      *framer,
            AchatFramerEvent *event,
            const uint8_t    *w,
            size_t            p,
            size_t            end,
            size_t            k,
            unsigned          index)
{
  event_set (event, w, p, false, true);
  event->term_index = index;
  if (end <= k)
    {
      /* Entirely inside them (the terminators changed, or the input was
       * held back). */
      framer->hold_len = k;
      hold_consume (framer, end);
      return 0;
    }
  hold_empty (framer);
  return end - k;
}

static size_t
next_from_hold_bytes (AchatFramer      *framer,
                      const uint8_t    *input,
                      size_t            length,
                      AchatFramerEvent *event)
{
  size_t k = framer->hold_len;
  size_t tl = framer->term_len;
  size_t extra = length < tl - 1 ? length : tl - 1;
  size_t wl = k + extra;
  uint8_t *w;
  ptrdiff_t p;

  if (extra)
    hold_append (framer, input, extra);
  w = held_bytes (framer);

  p = find_terminator (framer, w, wl);

  if (p >= 0 && (size_t) p < k)
    {
      /* A terminator starts in the held bytes. */
      return hold_match (framer, event, w, (size_t) p, (size_t) p + tl, k, 0);
    }

  if (p >= 0 || length >= tl - 1)
    {
      /* No terminator can start in the held bytes: they are plain data. */
      event_set (event, w, k, false, false);
      hold_empty (framer);
      return 0;
    }

  /* The whole input fits in the window and holds no terminator. */
  {
    size_t m = achat_framer_prefix_at_end (w, wl, framer->term, tl);

    event_set (event, w, wl - m, false, false);
    hold_consume (framer, wl - m);
    return length;
  }
}

/* Several terminators.  What data (of which the end may be the end of what
 * is known of the stream) holds first: */
typedef enum
{
  SCAN_NONE,    /* no terminator, nor the start of one cut by the end */
  SCAN_MATCH,   /* at *pos, terminator *index, and no longer one can win */
  SCAN_PARTIAL, /* at *pos, a terminator cut by the end of data: undecided */
} ScanResult;

/* The first position where a terminator matches or is cut by the end of
 * data. At that position the terminators are tried longest first, so the
 * first one that matches wins, unless a longer one was still undecided.
 * Stopping at the first such position keeps the search linear.
 *
 * At the end of the stream (@at_end) nothing can complete a cut
 * terminator: it is passed over, and the first complete match wins. */
static ScanResult
scan_multi (const AchatFramer *framer,
            const uint8_t     *data,
            size_t             length,
            bool               at_end,
            size_t            *pos,
            unsigned          *index)
{
  const AchatFramerSet *set = framer->set;
  size_t q;

  for (q = 0; q < length; q++)
    {
      unsigned mask, j;
      size_t rest;

      if (set->lone_first >= 0)
        {
          const uint8_t *hit = memchr (data + q, set->lone_first, length - q);

          if (hit == NULL)
            break;
          q = (size_t) (hit - data);
        }
      mask = set->first[data[q]];
      if (mask == 0)
        continue;

      rest = length - q;
      for (j = 0; mask != 0; j++, mask >>= 1)
        {
          unsigned t;
          size_t tl;
          const uint8_t *tb;

          if ((mask & 1) == 0)
            continue;
          t = set->order[j];
          tl = set->length[t];
          tb = framer->term + set->offset[t];
          if (tl <= rest)
            {
              if (memcmp (data + q, tb, tl) == 0)
                {
                  *pos = q;
                  *index = t;
                  return SCAN_MATCH;
                }
            }
          else if (!at_end && memcmp (data + q, tb, rest) == 0)
            {
              *pos = q;
              return SCAN_PARTIAL;
            }
        }
    }
  return SCAN_NONE;
}

static size_t
next_multi (AchatFramer      *framer,
            const uint8_t    *input,
            size_t            length,
            AchatFramerEvent *event)
{
  size_t p = 0;
  unsigned index = 0;

  switch (scan_multi (framer, input, length, false, &p, &index))
    {
    case SCAN_MATCH:
      event_set (event, input, p, true, true);
      event->term_index = index;
      return p + framer->set->length[index];
    case SCAN_PARTIAL:
      set_hold (framer, input + p, length - p);
      event_set (event, input, p, true, false);
      return length;
    case SCAN_NONE:
    default:
      event_set (event, input, length, true, false);
      return length;
    }
}

/* next_from_hold_bytes() for several terminators.  The window is the held
 * bytes and up to (longest - 1) input bytes: every terminator starting in
 * the held bytes fits in it, so what the scan says about a position in the
 * held bytes is final, unless the window holds all of the input, in which
 * case its end is the end of what is known. */
static size_t
next_from_hold_multi (AchatFramer      *framer,
                      const uint8_t    *input,
                      size_t            length,
                      AchatFramerEvent *event)
{
  size_t k = framer->hold_len;
  size_t tm = framer->term_max;
  size_t extra = length < tm - 1 ? length : tm - 1;
  size_t wl = k + extra;
  size_t p = 0;
  unsigned index = 0;
  ScanResult r;
  uint8_t *w;

  if (extra)
    hold_append (framer, input, extra);
  w = held_bytes (framer);

  r = scan_multi (framer, w, wl, false, &p, &index);

  if (r == SCAN_MATCH && p < k)
    {
      /* A terminator starts in the held bytes. */
      return hold_match (framer, event, w, p, p + framer->set->length[index], k, index);
    }

  if (r == SCAN_PARTIAL && p < k)
    {
      /* Undecided in the held bytes: only when all of the input is in the
       * window (otherwise every terminator would fit). Hold from there. */
      event_set (event, w, p, false, false);
      hold_consume (framer, p);
      return length;
    }

  if (r == SCAN_MATCH || length >= tm - 1)
    {
      /* No terminator can start in the held bytes: they are plain data. */
      event_set (event, w, k, false, false);
      hold_empty (framer);
      return 0;
    }

  /* The whole input fits in the window and holds no terminator. */
  if (r == SCAN_NONE)
    p = wl;
  event_set (event, w, p, false, false);
  hold_consume (framer, p);
  return length;
}

/* Length-prefixed frames */

static void
event_refused (const AchatFramer *framer,
               AchatFramerEvent  *event)
{
  event_set (event, NULL, 0, false, false);
  event->status = framer->status;
  event->frame_length = framer->frame_length;
}

/* The payload length a header announces, or why it is refused. */
static AchatFramerStatus
decode_header (const AchatFramer *framer,
               const uint8_t     *header,
               uint64_t          *frame_length)
{
  unsigned hs = framer->header_size, i;
  uint64_t raw = 0;
  int64_t adj = framer->adjustment;

  for (i = 0; i < hs; i++)
    {
      unsigned b = framer->big_endian ? i : hs - 1 - i;

      raw = (raw << 8) | header[b];
    }

  if (adj >= 0)
    {
      if (raw > UINT64_MAX - (uint64_t) adj)
        {
          /* Beyond any length: saturated, and too long whatever the
           * maximum. */
          *frame_length = UINT64_MAX;
          return ACHAT_FRAMER_FRAME_TOO_LONG;
        }
      raw += (uint64_t) adj;
    }
  else
    {
      /* -adj without overflow, INT64_MIN included. */
      uint64_t minus = (uint64_t) (-(adj + 1)) + 1;

      if (raw < minus)
        {
          *frame_length = 0;
          return ACHAT_FRAMER_FRAME_INVALID;
        }
      raw -= minus;
    }

  *frame_length = raw;
  if (framer->max_length != 0 && raw > framer->max_length)
    return ACHAT_FRAMER_FRAME_TOO_LONG;
  return ACHAT_FRAMER_OK;
}

static void
length_refuse (AchatFramer       *framer,
               AchatFramerStatus  status,
               uint64_t           frame_length,
               AchatFramerEvent  *event)
{
  /* Nothing more is framed until the terminator is set again. */
  framer->length_state = LENGTH_REFUSED;
  framer->status = status;
  framer->frame_length = frame_length;
  event_refused (framer, event);
}

typedef enum
{
  TEXT_HEADER_COMPLETE,
  TEXT_HEADER_MORE,
  TEXT_HEADER_INVALID,
} TextHeader;

/* A text header at the start of @w: digits, then the separator. On
 * completion, *@header_length is its length and *@value the length it
 * gives (UINT64_MAX when it overflows). */
static TextHeader
parse_text_header (const AchatFramer *framer,
                   const uint8_t     *w,
                   size_t             n,
                   size_t            *header_length,
                   uint64_t          *value,
                   bool              *overflow)
{
  unsigned radix = framer->radix;
  size_t max_digits = radix == 10 ? ACHAT_FRAMER_MAX_DIGITS_10 : ACHAT_FRAMER_MAX_DIGITS_16;
  uint64_t v = 0;
  bool over = false;
  size_t i = 0, j;

  for (; i < n; i++)
    {
      int d = digit_value (w[i], radix);

      if (d < 0)
        break;
      if (i == max_digits)
        return TEXT_HEADER_INVALID;
      if (v > (UINT64_MAX - (uint64_t) d) / radix)
        over = true;
      else
        v = v * radix + (uint64_t) d;
    }
  if (i == n)
    return TEXT_HEADER_MORE;
  if (i == 0)
    return TEXT_HEADER_INVALID;
  for (j = 0; j < framer->sep_len; j++)
    {
      if (i + j == n)
        return TEXT_HEADER_MORE;
      if (w[i + j] != framer->sep[j])
        return TEXT_HEADER_INVALID;
    }
  *header_length = i + framer->sep_len;
  *value = over ? UINT64_MAX : v;
  *overflow = over;
  return TEXT_HEADER_COMPLETE;
}

/* A text header from the held bytes (a partial header, or input held back)
 * and, when they end before it does, from @input. Returns the input bytes
 * consumed; *@done is false when more input is needed (all of it is then
 * held) and when the header is refused (@event says why). */
static size_t
next_text_header (AchatFramer      *framer,
                  const uint8_t    *input,
                  size_t            length,
                  uint64_t         *frame_length,
                  bool             *overflow,
                  bool             *done,
                  AchatFramerEvent *event)
{
  size_t max = (framer->radix == 10 ? ACHAT_FRAMER_MAX_DIGITS_10 : ACHAT_FRAMER_MAX_DIGITS_16) +
               framer->sep_len;
  size_t old = framer->hold_len, added = 0, header_length = 0;
  TextHeader result;
  uint64_t value = 0;

  *done = false;
  if (old == 0)
    result = parse_text_header (framer, input, length, &header_length, &value, overflow);
  else
    {
      result = parse_text_header (framer, held_bytes (framer), old, &header_length, &value,
                                  overflow);
      if (result == TEXT_HEADER_MORE && length > 0)
        {
          /* The held bytes are the start of a header (shorter than the
           * longest one): look at them with enough of the input to end it. */
          added = length < max - old ? length : max - old;
          hold_append (framer, input, added);
          result = parse_text_header (framer, held_bytes (framer), old + added,
                                      &header_length, &value, overflow);
        }
    }

  if (result == TEXT_HEADER_INVALID)
    {
      if (old > 0)
        framer->hold_len -= added;   /* none of the input is consumed */
      length_refuse (framer, ACHAT_FRAMER_FRAME_INVALID, 0, event);
      return 0;
    }
  if (result == TEXT_HEADER_MORE)
    {
      /* Part of a header: held until the rest comes. */
      if (old == 0)
        achat_framer_hold_input (framer, input, length);
      event_set (event, NULL, 0, false, false);
      return length;
    }

  /* Its digits as sent, for achat_framer_unread(). */
  framer->n_digits = (uint8_t) (header_length - framer->sep_len);
  memcpy (framer->digits, old == 0 ? input : held_bytes (framer), framer->n_digits);
  if (old == 0)
    {
      *done = true;
      *frame_length = value;
      return header_length;
    }
  hold_consume (framer, header_length < old ? header_length : old + added);
  if (header_length > old)
    {
      /* It ended in the input: the input appended past it is not held. */
      framer->hold_len = 0;
      framer->hold_start = 0;
      *done = true;
      *frame_length = value;
      return header_length - old;
    }
  *done = true;
  *frame_length = value;
  return 0;
}

/* A text-length frame's trailer, from the held bytes then @input, one
 * byte at a time (it is at most ACHAT_FRAMER_MAX_TRAILER bytes). */
static size_t
next_trailer (AchatFramer      *framer,
              const uint8_t    *input,
              size_t            length,
              AchatFramerEvent *event)
{
  size_t used = 0;

  while (framer->trailer_pos < framer->trailer_len)
    {
      bool held = framer->hold_len > 0;

      if (!held && used == length)
        {
          event_set (event, NULL, 0, false, false);
          return used;
        }
      if ((held ? held_bytes (framer)[0] : input[used]) != framer->trailer[framer->trailer_pos])
        {
          length_refuse (framer, ACHAT_FRAMER_BAD_TRAILER, 0, event);
          return used;
        }
      if (held)
        hold_consume (framer, 1);
      else
        used++;
      framer->trailer_pos++;
    }
  framer->trailer_pos = 0;
  framer->length_state = LENGTH_HEADER;
  event_set (event, NULL, 0, false, true);
  return used;
}

/* A header (its first bytes may be held), then the payload: from the held
 * bytes first (left over from a change), then straight from the input;
 * then, for a text length, the trailer. */
static size_t
next_length (AchatFramer      *framer,
             const uint8_t    *input,
             size_t            length,
             AchatFramerEvent *event)
{
  size_t consumed = 0;
  size_t take, rest;
  bool terminator;

  if (framer->length_state == LENGTH_REFUSED)
    {
      event_refused (framer, event);
      return 0;
    }
  if (framer->length_state == LENGTH_TRAILER)
    return next_trailer (framer, input, length, event);

  if (framer->length_state == LENGTH_HEADER && framer->radix != 0)
    {
      uint64_t frame_length = 0;
      bool overflow = false, done;

      consumed = next_text_header (framer, input, length, &frame_length, &overflow, &done,
                                   event);
      if (!done)
        return consumed;
      /* UINT64_MAX itself fits: too long only past it (or the maximum). */
      if (overflow ||
          (framer->max_length != 0 && frame_length > framer->max_length))
        {
          length_refuse (framer, ACHAT_FRAMER_FRAME_TOO_LONG, frame_length, event);
          return consumed;
        }
      framer->length_state = LENGTH_PAYLOAD;
      framer->count = frame_length;
      if (frame_length == 0)
        {
          /* Nothing but the trailer (if any) is left of this frame. */
          framer->length_state = LENGTH_TRAILER;
          framer->trailer_pos = 0;
          if (framer->trailer_len == 0)
            {
              framer->length_state = LENGTH_HEADER;
              event_set (event, NULL, 0, false, true);
              return consumed;
            }
          /* (No input: held bytes only; NULL + 0 is undefined.) */
          return consumed + next_trailer (framer, input ? input + consumed : NULL,
                                          length - consumed, event);
        }
    }
  else if (framer->length_state == LENGTH_HEADER)
    {
      size_t hs = framer->header_size;
      const uint8_t *header;
      uint64_t frame_length;
      AchatFramerStatus status;

      if (framer->hold_len >= hs)
        header = held_bytes (framer);
      else if (length < hs - framer->hold_len)
        {
          /* Part of a header: held until the rest comes. */
          achat_framer_hold_input (framer, input, length);
          event_set (event, NULL, 0, false, false);
          return length;
        }
      else if (framer->hold_len > 0)
        {
          consumed = hs - framer->hold_len;
          hold_append (framer, input, consumed);
          header = held_bytes (framer);
        }
      else
        {
          consumed = hs;
          header = input;
        }

      status = decode_header (framer, header, &frame_length);
      if (header != input)
        hold_consume (framer, hs);   /* the header was (made) held */

      if (status != ACHAT_FRAMER_OK)
        {
          length_refuse (framer, status, frame_length, event);
          return consumed;
        }
      if (frame_length == 0)
        {
          event_set (event, NULL, 0, false, true);
          return consumed;
        }
      framer->length_state = LENGTH_PAYLOAD;
      framer->count = frame_length;
    }

  /* The payload. */
  if (framer->hold_len > 0)
    return consumed + next_from_hold_plain (framer, event);

  take = length - consumed;
  if (framer->count < take)
    take = (size_t) framer->count;
  framer->count -= take;
  terminator = framer->count == 0;
  if (terminator)
    {
      framer->length_state = LENGTH_HEADER;
      if (framer->trailer_len > 0)
        {
          /* The trailer is taken with the payload's end when it is all
           * there; else (or when it is wrong) by the next call. */
          rest = length - consumed - take;
          if (rest >= framer->trailer_len &&
              memcmp (input + consumed + take, framer->trailer, framer->trailer_len) == 0)
            {
              event_set (event, take ? input + consumed : NULL, take, true, true);
              return consumed + take + framer->trailer_len;
            }
          framer->length_state = LENGTH_TRAILER;
          framer->trailer_pos = 0;
          terminator = false;
        }
    }
  event_set (event, take ? input + consumed : NULL, take, true, terminator);
  return consumed + take;
}

size_t
achat_framer_next (AchatFramer      *framer,
                   const uint8_t    *input,
                   size_t            length,
                   AchatFramerEvent *event)
{
  if (framer->hold_len > 0)
    {
      if (framer->kind == ACHAT_FRAMER_BYTES)
        {
          if (framer->n_terms > 1)
            return next_from_hold_multi (framer, input, length, event);
          return next_from_hold_bytes (framer, input, length, event);
        }
      if (framer->kind == ACHAT_FRAMER_LENGTH)
        return next_length (framer, input, length, event);
      return next_from_hold_plain (framer, event);
    }

  if (length == 0)
    {
      /* A refused header is reported on every call. */
      if (framer->kind == ACHAT_FRAMER_LENGTH)
        return next_length (framer, input, length, event);
      event_set (event, NULL, 0, false, false);
      return 0;
    }

  switch (framer->kind)
    {
    case ACHAT_FRAMER_LENGTH:
      return next_length (framer, input, length, event);

    case ACHAT_FRAMER_COUNT:
      if (framer->count > 0)
        {
          size_t take = length;

          if (framer->count < take)
            take = (size_t) framer->count;
          framer->count -= take;
          event_set (event, input, take, true, framer->count == 0);
          return take;
        }
      /* A spent count collects like no terminator (asynchat's behaviour). */
      /* fall through */
    case ACHAT_FRAMER_NONE:
    default:
      event_set (event, input, length, true, false);
      return length;

    case ACHAT_FRAMER_BYTES:
      {
        ptrdiff_t p;
        size_t m;

        if (framer->n_terms > 1)
          return next_multi (framer, input, length, event);

        p = find_terminator (framer, input, length);

        if (p >= 0)
          {
            event_set (event, input, (size_t) p, true, true);
            return (size_t) p + framer->term_len;
          }

        m = achat_framer_prefix_at_end (input, length, framer->term,
                                        framer->term_len);
        if (m)
          set_hold (framer, input + length - m, m);
        event_set (event, input, length - m, true, false);
        return length;
      }
    }
}

bool
achat_framer_flush (AchatFramer      *framer,
                    AchatFramerEvent *event)
{
  size_t k = framer->hold_len;
  const uint8_t *h;

  if (k == 0)
    {
      event_set (event, NULL, 0, false, false);
      return false;
    }
  h = held_bytes (framer);

  if (framer->kind == ACHAT_FRAMER_BYTES)
    {
      /* Nothing can follow: the earliest complete match is final. */
      size_t p = 0, end = 0;
      unsigned index = 0;
      bool found;

      if (framer->n_terms > 1)
        {
          found = scan_multi (framer, h, k, true, &p, &index) == SCAN_MATCH;
          if (found)
            end = p + framer->set->length[index];
        }
      else
        {
          ptrdiff_t at = find_terminator (framer, h, k);

          found = at >= 0;
          if (found)
            {
              p = (size_t) at;
              end = p + framer->term_len;
            }
        }
      if (found)
        {
          event_set (event, h, p, false, true);
          event->term_index = index;
          hold_consume (framer, end);
          return true;
        }
    }

  /* No terminator (or not a bytes one): every held byte is data. */
  event_set (event, h, k, false, false);
  hold_empty (framer);
  return true;
}

size_t
achat_framer_next_whole (AchatFramer   *framer,
                         const uint8_t *input,
                         size_t         length,
                         size_t         max,
                         uint64_t       max_length,
                         size_t        *bounds,
                         size_t        *after,
                         unsigned      *term_index)
{
  AchatFramerMark mark;
  AchatFramerEvent event;
  size_t pos = 0;
  size_t n = 0;

  /* A trailer still to come ends a message begun in an earlier input. */
  if (framer->hold_len > 0 || framer->length_state == LENGTH_TRAILER)
    return 0;

  if (framer->kind == ACHAT_FRAMER_BYTES && framer->n_terms == 1)
    {
      size_t term_len = framer->term_len;

      while (n < max && pos < length)
        {
          ptrdiff_t p = find_terminator (framer, input + pos, length - pos);

          if (p < 0 || (max_length != 0 && (uint64_t) p > max_length))
            break;
          bounds[2 * n] = pos;
          bounds[2 * n + 1] = pos + (size_t) p;
          pos += (size_t) p + term_len;
          after[n++] = pos;
        }
      *term_index = 0;
      return n;
    }

  achat_framer_mark (framer, &mark);
  while (n < max && pos < length)
    {
      size_t used = achat_framer_next (framer, input + pos, length - pos, &event);
      size_t end = pos + used;

      if (event.status != ACHAT_FRAMER_OK || !event.terminator || framer->hold_len > 0 ||
          (max_length != 0 && event.length > max_length))
        {
          achat_framer_reset_to_mark (framer, &mark);
          break;
        }
      if (framer->kind == ACHAT_FRAMER_BYTES)
        {
          size_t term_len;

          achat_framer_get_terminator (framer, event.term_index, &term_len);
          end -= term_len;
        }
      else if (framer->kind == ACHAT_FRAMER_LENGTH)
        end -= framer->trailer_len;   /* taken with the message's end */
      bounds[2 * n] = end - event.length;
      bounds[2 * n + 1] = end;
      pos += used;
      after[n++] = pos;
      *term_index = event.term_index;
      achat_framer_mark (framer, &mark);
    }
  return n;
}
