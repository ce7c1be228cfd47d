/* fuzz-framer.c: a libFuzzer target for the framing engine
 *
 * The input is a small program: feeds of arbitrary bytes in arbitrary
 * read sizes, terminator changes between reads, and terminator changes made
 * "by a handler" right after a terminator event (the asynchat idiom of a
 * header line followed by a counted body), at the end of the stream too
 * (between two flushes). Some reads are "paused" after their first event:
 * the rest of the read is held (achat_framer_hold_input()) and framed from
 * the held bytes, as a channel does when a handler pauses input; others are
 * framed whole messages first (achat_framer_next_whole()), a handler's
 * change taking effect after its message. A terminator is one byte string,
 * a set of several, a count, none, or length-prefixed frames (any header
 * size, byte order, adjustment and maximum), or text length headers
 * (decimal or hexadecimal digits, a separator, the payload, a trailer:
 * reads are then mapped to digits, separator and trailer bytes); the
 * maximum may also change alone. The engine's output is checked against a plain reference splitter
 * that sees the whole stream at once:
 *
 *  - every byte fed comes out exactly once and in order (data, then the
 *    terminator bytes the engine consumed; the length headers it consumed
 *    before the data);
 *  - the messages (with the index of the terminator that ended them, or
 *    the refused frame), and the bytes collected after the last one, are
 *    the reference's (which knows where the stream ends: a terminator the
 *    engine held undecided is resolved at the end);
 *  - the engine never holds more than a partial terminator (or header)
 *    between reads, except the input a refused frame left untouched.
 *
 * Any failure aborts (a crash for libFuzzer). Plain C and the engine only:
 * no GLib. Build with clang -fsanitize=fuzzer,address,undefined (see
 * run-fuzz.sh), or link with replay.c to run a corpus without libFuzzer.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "achat-framer-private.h"

#define MAX_STREAM   (64 * 1024)
#define MAX_CHANGES  1024
#define MAX_MESSAGES (64 * 1024)
#define MAX_TERMS    ACHAT_FRAMER_MAX_TERMINATORS
#define MAX_TERM_LEN 4

#define CHECK(cond) \
  do { if (!(cond)) { fprintf (stderr, "fuzz-framer: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort (); } } while (0)

typedef struct
{
  AchatFramerKind kind;
  bool max_only;          /* achat_framer_set_max_length() alone */
  /* bytes: n_terms terminators (1: achat_framer_set_bytes()) */
  size_t n_terms;
  uint8_t term[MAX_TERMS][MAX_TERM_LEN];
  size_t term_len[MAX_TERMS];
  uint64_t count;
  /* length-prefixed frames */
  unsigned header_size;
  bool big_endian;
  int64_t adjustment;
  uint64_t max_length;
  /* text length headers (radix 10 or 16; 0: binary) */
  unsigned radix;
  uint8_t sep[ACHAT_FRAMER_MAX_SEPARATOR];
  size_t sep_len;
  uint8_t trailer[ACHAT_FRAMER_MAX_TRAILER];
  size_t trailer_len;
} Setting;

typedef struct
{
  size_t offset;          /* stream position where it applies */
  Setting setting;
  bool at_end;            /* made between two flushes */
  bool after_refusal;     /* made while the engine was refused */
} Change;

typedef struct
{
  bool refused;           /* a refused frame, not a terminator */
  unsigned term_index;
  AchatFramerStatus status;
  uint64_t frame_length;
} Message;

typedef struct
{
  /* the stream, in order, as fed */
  uint8_t stream[MAX_STREAM];
  size_t fed;
  /* what the engine delivered: data, consumed terminator and header bytes */
  size_t delivered;
  /* messages: ends[] are offsets into msg_bytes */
  uint8_t *msg_bytes;
  size_t msg_len, msg_cap;
  size_t ends[MAX_MESSAGES];
  Message info[MAX_MESSAGES];
  size_t n_messages;
  size_t collected;       /* bytes since the last message end, in msg_bytes */
  Change changes[MAX_CHANGES];
  size_t n_changes;
  Setting pending[MAX_CHANGES];   /* to apply after the next terminators */
  size_t n_pending, next_pending;
  /* the engine refused a frame and was not set again since */
  bool refused;
  bool at_end;            /* flushing: the stream has ended */
  bool was_refused;       /* the engine was refused when last set */
  AchatFramerStatus refused_status;
  uint64_t refused_length;
} Run;

static void
bytes_append (uint8_t      **buf,
              size_t        *len,
              size_t        *cap,
              const uint8_t *data,
              size_t         n)
{
  if (n == 0)
    return;
  if (*len + n > *cap)
    {
      size_t c = *cap ? *cap : 256;

      while (c < *len + n)
        c *= 2;
      *buf = realloc (*buf, c);
      CHECK (*buf != NULL);
      *cap = c;
    }
  memcpy (*buf + *len, data, n);
  *len += n;
}

static void
apply (Run           *run,
       AchatFramer   *framer,
       const Setting *s)
{
  run->was_refused = run->refused;
  if (s->max_only)
    {
      achat_framer_set_max_length (framer, s->max_length);
      return;
    }
  run->refused = false;
  switch (s->kind)
    {
    case ACHAT_FRAMER_BYTES:
      if (s->n_terms == 1)
        achat_framer_set_bytes (framer, s->term[0], s->term_len[0]);
      else
        {
          const uint8_t *ptrs[MAX_TERMS];

          for (size_t j = 0; j < s->n_terms; j++)
            ptrs[j] = s->term[j];
          achat_framer_set_bytes_multi (framer, ptrs, s->term_len, s->n_terms);
        }
      CHECK (achat_framer_get_n_terminators (framer) == s->n_terms);
      break;
    case ACHAT_FRAMER_COUNT:
      achat_framer_set_count (framer, s->count);
      break;
    case ACHAT_FRAMER_LENGTH:
      if (s->radix != 0)
        {
          achat_framer_set_length_text (framer, s->radix, s->sep, s->sep_len,
                                        s->trailer, s->trailer_len, s->max_length);
          CHECK (framer->kind == ACHAT_FRAMER_LENGTH);
        }
      else
        achat_framer_set_length (framer, s->header_size, s->big_endian,
                                 s->adjustment, s->max_length);
      break;
    case ACHAT_FRAMER_NONE:
    default:
      achat_framer_set_none (framer);
      break;
    }
}

static void
record_change (Run           *run,
               size_t         offset,
               const Setting *s)
{
  CHECK (run->n_changes < MAX_CHANGES);
  run->changes[run->n_changes].offset = offset;
  run->changes[run->n_changes].setting = *s;
  run->changes[run->n_changes].at_end = run->at_end;
  run->changes[run->n_changes].after_refusal = run->was_refused;
  run->n_changes++;
}

static void
record_message (Run           *run,
                const Message *m)
{
  CHECK (run->n_messages < MAX_MESSAGES);
  run->info[run->n_messages] = *m;
  run->ends[run->n_messages++] = run->msg_len;
  run->collected = 0;
}

/* A handler changing the terminator, after a terminator or a refusal. */
static void
handler_change (Run         *run,
                AchatFramer *framer)
{
  if (run->next_pending < run->n_pending)
    {
      const Setting *s = &run->pending[run->next_pending++];

      apply (run, framer, s);
      record_change (run, run->delivered, s);
    }
}

static int
digit_of (uint8_t  c,
          unsigned radix)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (radix == 16 && c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (radix == 16 && c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static size_t
max_digits (unsigned radix)
{
  return radix == 10 ? ACHAT_FRAMER_MAX_DIGITS_10 : ACHAT_FRAMER_MAX_DIGITS_16;
}

/* The length of the text header (digits and separator, which must be
 * there) at @p. */
static size_t
text_header_at (const AchatFramer *framer,
                const uint8_t     *p,
                size_t             n)
{
  size_t d = 0;

  while (d < n && d < max_digits (framer->radix) && digit_of (p[d], framer->radix) >= 0)
    d++;
  CHECK (d > 0 && d + framer->sep_len <= n);
  CHECK (memcmp (p + d, framer->sep, framer->sep_len) == 0);
  return d + framer->sep_len;
}

/* The most bytes the engine may hold between reads. */
static size_t
held_limit (const AchatFramer *framer)
{
  size_t n = achat_framer_get_n_terminators (framer), longest = 0;

  if (framer->kind == ACHAT_FRAMER_LENGTH && framer->radix != 0)
    return max_digits (framer->radix) + framer->sep_len - 1;
  if (framer->kind == ACHAT_FRAMER_LENGTH)
    return framer->header_size - 1;
  for (size_t j = 0; j < n; j++)
    {
      size_t tl;

      CHECK (achat_framer_get_terminator (framer, j, &tl) != NULL);
      if (tl > longest)
        longest = tl;
    }
  return longest ? longest - 1 : 0;
}

/* Pulls events from the engine for one input (NULL, 0: held bytes only).
 * With @pause, the rest of the input is held after the first event (a
 * handler paused input), and the events then come from the held bytes. */
static size_t
drain_whole (Run           *run,
             AchatFramer   *framer,
             const uint8_t *input,
             size_t         length)
{
  size_t bounds[2 * 8], after[8];
  unsigned term_index = 99;
  AchatFramerKind kind = framer->kind;
  size_t n_terms = achat_framer_get_n_terminators (framer);
  size_t max = 1 + length % 8;
  /* The header of the first frame may have come with the previous read. */
  bool in_payload = kind == ACHAT_FRAMER_LENGTH && achat_framer_in_frame (framer);
  bool text = kind == ACHAT_FRAMER_LENGTH && framer->radix != 0;
  size_t n = achat_framer_next_whole (framer, input, length, max, 0, bounds, after, &term_index);
  size_t prev = 0;

  CHECK (n <= max);
  for (size_t i = 0; i < n; i++)
    {
      size_t len = bounds[2 * i + 1] - bounds[2 * i];
      size_t framed = bounds[2 * i] - prev;
      size_t tl = after[i] - bounds[2 * i + 1];
      Message m = { false, 0, ACHAT_FRAMER_OK, 0 };
      size_t pending = run->next_pending;

      CHECK (bounds[2 * i] >= prev && bounds[2 * i + 1] >= bounds[2 * i] && after[i] <= length);
      /* A length header before the payload; nothing else. */
      if (text && !(i == 0 && in_payload))
        CHECK (framed == text_header_at (framer, input + prev, length - prev));
      else
        CHECK (framed == (kind == ACHAT_FRAMER_LENGTH && !(i == 0 && in_payload)
                          ? framer->header_size : 0));
      run->delivered += framed;
      CHECK (run->delivered + len <= run->fed);
      CHECK (len == 0 || memcmp (input + bounds[2 * i], run->stream + run->delivered, len) == 0);
      run->delivered += len;
      bytes_append (&run->msg_bytes, &run->msg_len, &run->msg_cap, input + bounds[2 * i], len);
      run->collected += len;
      if (kind == ACHAT_FRAMER_BYTES)
        {
          /* The terminator that matched: the first of the set with those
           * bytes (the longest match at the earliest position). */
          size_t j;

          CHECK (tl > 0);
          for (j = 0; j < n_terms; j++)
            {
              size_t l;
              const uint8_t *t = achat_framer_get_terminator (framer, j, &l);

              if (l == tl && memcmp (t, input + bounds[2 * i + 1], tl) == 0)
                break;
            }
          CHECK (j < n_terms);
          CHECK (i + 1 < n || j == term_index);
          m.term_index = (unsigned) j;
          run->delivered += tl;
        }
      else if (text)
        {
          /* The trailer, after the payload. */
          CHECK (tl == framer->trailer_len && term_index == 0);
          CHECK (memcmp (input + bounds[2 * i + 1], framer->trailer, tl) == 0);
          run->delivered += tl;
        }
      else
        CHECK (tl == 0 && term_index == 0);
      record_message (run, &m);
      prev = after[i];
      /* A handler that changes the framing takes the messages up to its
       * own; the rest is framed again. */
      handler_change (run, framer);
      if (run->next_pending != pending)
        return after[i];
    }
  return n > 0 ? after[n - 1] : 0;
}

/* Whole reads: at a message boundary, the whole messages at once, as
 * long as there are some. Returns the new position in @input. */
static size_t
whole_messages (Run           *run,
                AchatFramer   *framer,
                const uint8_t *input,
                size_t         length,
                size_t         pos)
{
  while (input != NULL && pos < length && achat_framer_get_held (framer) == 0 &&
         run->collected == 0 && !run->refused)
    {
      size_t used = drain_whole (run, framer, input + pos, length - pos);

      if (used == 0)
        break;
      pos += used;
    }
  return pos;
}

static void
drain (Run           *run,
       AchatFramer   *framer,
       const uint8_t *input,
       size_t         length,
       bool           pause,
       bool           whole)
{
  size_t pos = 0;
  size_t guard = 0;

  if (whole)
    pos = whole_messages (run, framer, input, length, pos);
  for (;;)
    {
      AchatFramerEvent ev;
      AchatFramerKind kind = framer->kind;
      size_t header_size = kind == ACHAT_FRAMER_LENGTH ? framer->header_size : 0;
      size_t held_before = achat_framer_get_held (framer);
      size_t held_after, consumed, framed;
      Message m = { false, 0, ACHAT_FRAMER_OK, 0 };
      /* Text lengths: a header to read, the part of the trailer matched,
       * before the call; the trailer bytes it consumes (after the data). */
      bool text = kind == ACHAT_FRAMER_LENGTH && framer->radix != 0;
      bool was_header = text && framer->length_state == 0;
      bool was_refused = kind == ACHAT_FRAMER_LENGTH && framer->status != ACHAT_FRAMER_OK;
      size_t trailer_from = text && framer->length_state == 3 ? framer->trailer_pos : 0;
      size_t trailer_part = 0;

      consumed = achat_framer_next (framer, input ? input + pos : NULL, length - pos, &ev);
      CHECK (consumed <= length - pos);
      pos += consumed;
      held_after = achat_framer_get_held (framer);
      /* What left the engine: data, and terminator or header bytes. */
      CHECK (consumed + held_before >= held_after + ev.length);
      framed = consumed + held_before - held_after - ev.length;

      if (text && framed > 0)
        {
          size_t hl = 0;

          CHECK (!was_refused);
          if (was_header)
            {
              /* Digits and separator, before the data. */
              hl = text_header_at (framer, run->stream + run->delivered,
                                   run->fed - run->delivered);
              CHECK (framed >= hl);
              run->delivered += hl;
            }
          trailer_part = framed - hl;
          CHECK (trailer_from + trailer_part <= framer->trailer_len);
          CHECK (run->delivered + ev.length + trailer_part <= run->fed);
          CHECK (memcmp (run->stream + run->delivered + ev.length,
                         framer->trailer + trailer_from, trailer_part) == 0);
          if (ev.status == ACHAT_FRAMER_OK && trailer_part > 0)
            CHECK (ev.terminator == (trailer_from + trailer_part == framer->trailer_len));
        }
      else if (kind == ACHAT_FRAMER_LENGTH && framed > 0)
        {
          /* A header, before the data. */
          CHECK (framed == header_size);
          CHECK (run->delivered + framed <= run->fed);
          run->delivered += framed;
        }

      if (ev.status != ACHAT_FRAMER_OK)
        {
          CHECK (kind == ACHAT_FRAMER_LENGTH);
          CHECK (ev.length == 0 && ev.data == NULL && !ev.terminator && !ev.from_input);
          CHECK (ev.status == ACHAT_FRAMER_FRAME_TOO_LONG || ev.status == ACHAT_FRAMER_FRAME_INVALID ||
                 (text && ev.status == ACHAT_FRAMER_BAD_TRAILER));
          CHECK (achat_framer_in_frame (framer));
          CHECK (was_refused || text || framed == header_size);
          if (ev.status != ACHAT_FRAMER_FRAME_TOO_LONG)
            CHECK (ev.frame_length == 0);
          if (was_refused)
            {
              /* Reported again: nothing moves until a new setting. The
               * rest of the input waits in the engine. */
              CHECK (run->refused);
              CHECK (ev.status == run->refused_status && ev.frame_length == run->refused_length);
              CHECK (consumed == 0 && held_after == held_before);
              achat_framer_hold_input (framer, input ? input + pos : NULL, length - pos);
              return;
            }
          run->refused = true;
          run->refused_status = ev.status;
          run->refused_length = ev.frame_length;
          m.refused = true;
          m.status = ev.status;
          m.frame_length = ev.frame_length;
          record_message (run, &m);
          run->delivered += trailer_part;
          handler_change (run, framer);
          CHECK (++guard <= 2 * (length + MAX_STREAM) + 4);
          continue;   /* (not paused: reported again, it holds the rest) */
        }

      if (ev.length == 0 && !ev.terminator)
        {
          CHECK (pos == length);
          CHECK (ev.term_index == 0);
          run->delivered += trailer_part;
          break;
        }
      CHECK (++guard <= 2 * (length + MAX_STREAM) + 4);

      /* In order and exactly once: what comes out is the stream. */
      CHECK (run->delivered + ev.length <= run->fed);
      CHECK (ev.length == 0 || memcmp (ev.data, run->stream + run->delivered, ev.length) == 0);
      run->delivered += ev.length;
      bytes_append (&run->msg_bytes, &run->msg_len, &run->msg_cap, ev.data, ev.length);
      run->collected += ev.length;
      run->delivered += trailer_part;

      if (ev.terminator)
        {
          if (kind == ACHAT_FRAMER_BYTES)
            {
              size_t tl;
              const uint8_t *t = achat_framer_get_terminator (framer, ev.term_index, &tl);

              CHECK (t != NULL);
              CHECK (framed == tl);
              CHECK (run->delivered + tl <= run->fed);
              CHECK (memcmp (run->stream + run->delivered, t, tl) == 0);
              run->delivered += tl;
              m.term_index = ev.term_index;
            }
          else
            CHECK (ev.term_index == 0);
          record_message (run, &m);
          handler_change (run, framer);
        }
      else
        {
          CHECK (ev.term_index == 0);
          CHECK (kind == ACHAT_FRAMER_LENGTH || framed == 0);
        }

      if (pause && input != NULL)
        {
          size_t held = achat_framer_get_held (framer);

          achat_framer_hold_input (framer, input + pos, length - pos);
          CHECK (achat_framer_get_held (framer) == held + length - pos);
          input = NULL;
          length = pos = 0;
        }
      if (whole)
        pos = whole_messages (run, framer, input, length, pos);
    }
  CHECK (pos == length);
}

/* The reference, message by message. */
typedef struct
{
  const Run *run;
  size_t mi, mstart;
  uint8_t *coll;
  size_t coll_len, coll_cap;
} Expect;

static void
expect_message (Expect        *x,
                const Message *m)
{
  const Run *run = x->run;
  const Message *got;

  CHECK (x->mi < run->n_messages);
  got = &run->info[x->mi];
  CHECK (run->ends[x->mi] - x->mstart == x->coll_len);
  CHECK (x->coll_len == 0 || memcmp (run->msg_bytes + x->mstart, x->coll, x->coll_len) == 0);
  CHECK (got->refused == m->refused);
  CHECK (got->term_index == m->term_index);
  CHECK (got->status == m->status);
  CHECK (got->frame_length == m->frame_length);
  x->mstart = run->ends[x->mi++];
  x->coll_len = 0;
}

static void
expect_data (Expect        *x,
             const uint8_t *data,
             size_t         n)
{
  bytes_append (&x->coll, &x->coll_len, &x->coll_cap, data, n);
}

/* At q, the longest terminator matching in the whole stream (the first of
 * equal ones), or -1. One cut by the end of the stream does not match:
 * nothing can complete it. */
static int
match_at (const uint8_t *s,
          size_t         n,
          size_t         q,
          const Setting *cur)
{
  int best = -1;

  for (size_t j = 0; j < cur->n_terms; j++)
    {
      size_t tl = cur->term_len[j];

      if (q + tl <= n && memcmp (s + q, cur->term[j], tl) == 0 &&
          (best < 0 || tl > cur->term_len[best]))
        best = (int) j;
    }
  return best;
}

/* A length header, computed wide: true and the length, or false and why. */
static bool
frame_length_of (const Setting     *cur,
                 const uint8_t     *h,
                 uint64_t          *length,
                 AchatFramerStatus *status)
{
  uint64_t raw = 0;

  for (unsigned j = 0; j < cur->header_size; j++)
    raw |= (uint64_t) h[j] << (8 * (cur->big_endian ? cur->header_size - 1 - j : j));
#ifdef __SIZEOF_INT128__
  {
    __int128 v = (__int128) raw + cur->adjustment;

    if (v < 0)
      {
        *status = ACHAT_FRAMER_FRAME_INVALID;
        *length = 0;
        return false;
      }
    if (v > (__int128) UINT64_MAX)
      {
        *status = ACHAT_FRAMER_FRAME_TOO_LONG;
        *length = UINT64_MAX;
        return false;
      }
    *length = (uint64_t) v;
  }
#else
  if (cur->adjustment < 0 && raw < (uint64_t) 0 - (uint64_t) cur->adjustment)
    {
      *status = ACHAT_FRAMER_FRAME_INVALID;
      *length = 0;
      return false;
    }
  if (cur->adjustment > 0 && raw + (uint64_t) cur->adjustment < raw)
    {
      *status = ACHAT_FRAMER_FRAME_TOO_LONG;
      *length = UINT64_MAX;
      return false;
    }
  *length = raw + (uint64_t) cur->adjustment;
#endif
  if (cur->max_length != 0 && *length > cur->max_length)
    {
      *status = ACHAT_FRAMER_FRAME_TOO_LONG;
      return false;
    }
  *status = ACHAT_FRAMER_OK;
  return true;
}

typedef enum { TEXT_COMPLETE, TEXT_CUT, TEXT_INVALID } TextResult;

/* A text header at @h (@n bytes to the end of the stream), the number
 * computed wide: its length, and the payload length or why it is refused. */
static TextResult
text_header_of (const Setting     *cur,
                const uint8_t     *h,
                size_t             n,
                size_t            *header_len,
                uint64_t          *length,
                AchatFramerStatus *status)
{
  size_t d = 0;
  bool over = false;
  uint64_t v = 0;

  while (d < n && digit_of (h[d], cur->radix) >= 0)
    d++;
  if (d > max_digits (cur->radix))
    return TEXT_INVALID;
  if (d == n)
    return TEXT_CUT;
  if (d == 0)
    return TEXT_INVALID;
  for (size_t j = 0; j < cur->sep_len; j++)
    {
      if (d + j == n)
        return TEXT_CUT;
      if (h[d + j] != cur->sep[j])
        return TEXT_INVALID;
    }
  for (size_t j = 0; j < d; j++)
    {
#ifdef __SIZEOF_INT128__
      unsigned __int128 w = (unsigned __int128) v * cur->radix + (unsigned) digit_of (h[j], cur->radix);

      if (w > UINT64_MAX)
        over = true;
      else
        v = (uint64_t) w;
#else
      uint64_t dv = (uint64_t) digit_of (h[j], cur->radix);

      if (v > (UINT64_MAX - dv) / cur->radix)
        over = true;
      else
        v = v * cur->radix + dv;
#endif
    }
  *header_len = d + cur->sep_len;
  *length = over ? UINT64_MAX : v;
  *status = over || (cur->max_length != 0 && v > cur->max_length) ?
            ACHAT_FRAMER_FRAME_TOO_LONG : ACHAT_FRAMER_OK;
  return TEXT_COMPLETE;
}

/* The reference: the whole stream, the changes at their offsets.
 *
 *  - bytes: at the first position where a terminator matches, the longest
 *    one (one cut by the end of the stream does not match: the engine
 *    holds it undecided, and the end of the stream decides);
 *  - a change made between two flushes to anything but bytes: the rest is
 *    data (achat_framer_flush() frames nothing else);
 *  - a count fires once and then collects;
 *  - length: header, payload, end; a refused header stops everything until
 *    the next change, right after it; a partial header or payload at the
 *    end is data;
 *  - text lengths: digits and separator, payload, trailer, end; an invalid
 *    header is refused where it stands (a handler may set something else
 *    there), a wrong trailer after its matched part; a trailer cut by the
 *    end of the stream is consumed and ends nothing. */
static void
reference_check (const Run *run)
{
  Setting cur;
  const uint8_t *s = run->stream;
  size_t n = run->fed;
  size_t pos = 0, ci = 0;
  uint64_t left = 0;
  bool in_payload = false, in_trailer = false, refused = false;
  size_t trailer_pos = 0;   /* of the trailer, matched before a change */
  Expect x = { run, 0, 0, NULL, 0, 0 };

  memset (&cur, 0, sizeof cur);
  cur.kind = ACHAT_FRAMER_NONE;
  for (;;)
    {
      size_t limit;
      bool last, plain_at_end = false;

      while (ci < run->n_changes && run->changes[ci].offset <= pos)
        {
          const Setting *c = &run->changes[ci].setting;

          CHECK (run->changes[ci].offset == pos);
          if (run->changes[ci].after_refusal && !refused)
            {
              /* Refused where it stands, nothing consumed: an invalid text
               * header, a trailer wrong from its first byte. */
              Message m = { true, 0, ACHAT_FRAMER_FRAME_INVALID, 0 };
              size_t hl;
              uint64_t length;
              AchatFramerStatus status;

              if (in_trailer)
                {
                  CHECK (pos < n && s[pos] != cur.trailer[trailer_pos]);
                  m.status = ACHAT_FRAMER_BAD_TRAILER;
                }
              else
                CHECK (!in_payload && cur.kind == ACHAT_FRAMER_LENGTH && cur.radix != 0 &&
                       text_header_of (&cur, s + pos, n - pos, &hl, &length, &status) ==
                       TEXT_INVALID);
              expect_message (&x, &m);
              refused = true;
            }
          if (c->max_only)
            cur.max_length = c->max_length;
          else
            {
              cur = *c;
              left = cur.kind == ACHAT_FRAMER_COUNT ? cur.count : 0;
              in_payload = in_trailer = refused = false;
            }
          plain_at_end = run->changes[ci].at_end && cur.kind != ACHAT_FRAMER_BYTES;
          ci++;
        }
      if (plain_at_end)
        {
          /* The rest comes out in one flush: no change inside it. */
          CHECK (ci == run->n_changes || run->changes[ci].offset == n);
          expect_data (&x, s + pos, n - pos);
          break;
        }
      last = ci == run->n_changes;
      limit = last ? n : run->changes[ci].offset;
      CHECK (limit <= n);
      if (pos == n && last)
        break;

      if (cur.kind == ACHAT_FRAMER_BYTES)
        {
          size_t q;
          int found = -1;

          for (q = pos; q < limit; q++)
            {
              found = match_at (s, n, q, &cur);
              if (found >= 0)
                break;
            }
          if (found >= 0)
            {
              Message m = { false, (unsigned) found, ACHAT_FRAMER_OK, 0 };

              expect_data (&x, s + pos, q - pos);
              expect_message (&x, &m);
              pos = q + cur.term_len[found];
              continue;
            }
        }
      else if (cur.kind == ACHAT_FRAMER_COUNT && left > 0)
        {
          size_t take = limit - pos;

          if (left < take)
            take = (size_t) left;
          expect_data (&x, s + pos, take);
          pos += take;
          left -= take;
          if (left == 0)
            {
              Message m = { false, 0, ACHAT_FRAMER_OK, 0 };

              expect_message (&x, &m);
            }
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && refused)
        {
          /* Nothing moves until the next change, right after the header. */
          CHECK (last);
          expect_data (&x, s + pos, n - pos);
          break;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && in_payload)
        {
          size_t take = limit - pos;

          if (left < take)
            take = (size_t) left;
          expect_data (&x, s + pos, take);
          pos += take;
          left -= take;
          if (left == 0)
            {
              Message m = { false, 0, ACHAT_FRAMER_OK, 0 };

              /* A text frame ends with its trailer. */
              if (cur.trailer_len > 0)
                {
                  in_trailer = true;
                  trailer_pos = 0;
                }
              else
                expect_message (&x, &m);
              in_payload = false;
            }
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && in_trailer)
        {
          size_t j;

          /* Matched byte by byte, never held: a change between two reads
           * may come inside it (the part matched was consumed; the frame
           * ends nothing, unless refused there). */
          for (j = trailer_pos; j < cur.trailer_len; j++)
            {
              if (pos + j - trailer_pos == limit && !last)
                break;
              if (pos + j - trailer_pos == n || s[pos + j - trailer_pos] != cur.trailer[j])
                break;
            }
          pos += j - trailer_pos;
          if (j < cur.trailer_len && pos == limit && !last)
            {
              trailer_pos = j;
              continue;
            }
          in_trailer = false;
          trailer_pos = 0;
          if (j == cur.trailer_len)
            {
              Message m = { false, 0, ACHAT_FRAMER_OK, 0 };

              expect_message (&x, &m);
            }
          else if (pos < n)
            {
              Message m = { true, 0, ACHAT_FRAMER_BAD_TRAILER, 0 };

              expect_message (&x, &m);
              refused = true;
            }
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && cur.radix != 0)
        {
          Message m = { false, 0, ACHAT_FRAMER_OK, 0 };
          uint64_t length = 0;
          size_t hl = 0;

          switch (text_header_of (&cur, s + pos, n - pos, &hl, &length, &m.status))
            {
            case TEXT_CUT:
              /* A partial header is held: no change can split it. */
              CHECK (last);
              expect_data (&x, s + pos, n - pos);
              pos = n;
              break;
            case TEXT_INVALID:
              m.refused = true;
              m.status = ACHAT_FRAMER_FRAME_INVALID;
              expect_message (&x, &m);
              refused = true;
              break;
            default:
              CHECK (pos + hl <= limit);
              pos += hl;
              if (m.status != ACHAT_FRAMER_OK)
                {
                  m.refused = true;
                  m.frame_length = length;
                  expect_message (&x, &m);
                  refused = true;
                }
              else if (length > 0)
                {
                  in_payload = true;
                  left = length;
                }
              else if (cur.trailer_len > 0)
                {
                  in_trailer = true;
                  trailer_pos = 0;
                }
              else
                expect_message (&x, &m);
              break;
            }
          if (pos == n && last)
            break;
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH)
        {
          Message m = { false, 0, ACHAT_FRAMER_OK, 0 };
          uint64_t length;

          if (limit - pos < cur.header_size)
            {
              /* A partial header is held: no change can split it. */
              CHECK (last);
              expect_data (&x, s + pos, n - pos);
              break;
            }
          if (!frame_length_of (&cur, s + pos, &length, &m.status))
            {
              m.refused = true;
              m.frame_length = length;
              expect_message (&x, &m);
              refused = true;
            }
          else if (length == 0)
            expect_message (&x, &m);
          else
            {
              in_payload = true;
              left = length;
            }
          pos += cur.header_size;
          continue;
        }

      /* No terminator before the next change (or the end): all data. */
      expect_data (&x, s + pos, limit - pos);
      pos = limit;
      if (last)
        break;
    }

  CHECK (x.mi == run->n_messages);
  CHECK (run->msg_len - x.mstart == x.coll_len);
  CHECK (x.coll_len == 0 || memcmp (run->msg_bytes + x.mstart, x.coll, x.coll_len) == 0);
  free (x.coll);
}

static uint8_t
next_byte (const uint8_t *data,
           size_t         size,
           size_t        *i)
{
  return *i < size ? data[(*i)++] : 0;
}

static size_t
take_setting (const uint8_t *data,
              size_t         size,
              size_t         i,
              Setting       *s)
{
  uint8_t k = next_byte (data, size, &i);

  memset (s, 0, sizeof *s);
  switch (k % 3)
    {
    case 0:
      s->kind = ACHAT_FRAMER_BYTES;
      s->n_terms = 1;
      s->term_len[0] = 1 + (k / 3) % 4;
      for (size_t j = 0; j < s->term_len[0]; j++)
        /* A small alphabet makes matches and overlaps likely. */
        s->term[0][j] = i < size ? (uint8_t) ('a' + data[i++] % 3) : 'a';
      break;
    case 1:
      s->kind = ACHAT_FRAMER_COUNT;
      s->count = next_byte (data, size, &i);
      break;
    default:
      switch ((k / 3) % 4)
        {
        case 1:
          {
            /* Several terminators, usually a few (up to the most). */
            uint8_t b = next_byte (data, size, &i);

            s->kind = ACHAT_FRAMER_BYTES;
            s->n_terms = b & 0x80 ? 2 + b % (MAX_TERMS - 1) : 2 + b % 3;
            for (size_t t = 0; t < s->n_terms; t++)
              {
                uint8_t l = next_byte (data, size, &i);

                s->term_len[t] = 1 + l % MAX_TERM_LEN;
                for (size_t j = 0; j < s->term_len[t]; j++)
                  s->term[t][j] = (uint8_t) ('a' + next_byte (data, size, &i) % 3);
              }
            break;
          }
        case 2:
        case 3:
          {
            static const unsigned sizes[] = { 1, 2, 4, 8 };
            static const int64_t extremes[] = {
              INT64_MIN, INT64_MAX, -1, 1, INT64_MIN + 1, INT64_MAX - 1, -255, 256,
            };
            uint8_t b = next_byte (data, size, &i);
            uint8_t m;
            uint64_t letters = 0;

            s->header_size = sizes[b & 3];
            s->big_endian = (b & 4) != 0;
            for (unsigned j = 0; j < s->header_size; j++)
              letters = (letters << 8) | 'a';
            switch ((b >> 3) & 3)
              {
              case 0:
                s->adjustment = 0;
                break;
              case 1:
                s->adjustment = -(int64_t) s->header_size;
                break;
              case 2:
                /* Headers made of the small alphabet give short frames. */
                s->adjustment = -(int64_t) letters + (int8_t) next_byte (data, size, &i);
                break;
              default:
                s->adjustment = extremes[next_byte (data, size, &i) % 8];
                break;
              }
            m = next_byte (data, size, &i);
            s->max_length = m & 0x80 ? (m & 0x7f) : 0;
            if (m == 0x7f)
              s->max_length = UINT64_MAX - 1;
            if ((k / 3) % 4 == 3 && (b & 0x60) == 0x60)
              s->max_only = true;
            s->kind = ACHAT_FRAMER_LENGTH;
            break;
          }
        default:
          if ((k / 12) % 2 == 1)
            {
              /* Text length headers, with the separators and trailers
               * of the protocols (text reads are made of their bytes). */
              static const char *const seps[] = { ":", "\r\n", "\n", ",:" };
              static const char *const trailers[] = { "", ",", "\r\n", "\n", ":", "\r", "", ",," };
              uint8_t b = next_byte (data, size, &i);
              uint8_t m = next_byte (data, size, &i);

              s->kind = ACHAT_FRAMER_LENGTH;
              s->radix = b & 1 ? 16 : 10;
              s->sep_len = strlen (seps[(b >> 1) & 3]);
              memcpy (s->sep, seps[(b >> 1) & 3], s->sep_len);
              s->trailer_len = strlen (trailers[(b >> 3) & 7]);
              memcpy (s->trailer, trailers[(b >> 3) & 7], s->trailer_len);
              s->max_length = m & 0x80 ? (m & 0x7f) : 0;
              if (m == 0x7f)
                s->max_length = UINT64_MAX - 1;
              if ((b & 0xc0) == 0xc0)
                s->max_only = true;
              break;
            }
          s->kind = ACHAT_FRAMER_NONE;
          break;
        }
      break;
    }
  return i;
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static Run storage;
  Run *run = &storage;
  AchatFramer framer;
  AchatFramerEvent ev;
  size_t i = 0;

  /* One run at a time; only the counters need resetting. */
  run->fed = run->delivered = 0;
  run->msg_len = run->n_messages = run->collected = 0;
  run->n_changes = run->n_pending = run->next_pending = 0;
  run->refused = false;
  run->at_end = false;
  run->was_refused = false;
  achat_framer_init (&framer);

  while (i < size)
    {
      uint8_t op = data[i++];
      Setting s;

      switch (op % 8)
        {
        case 0: case 1: case 2: case 3:
          {
            /* A read of 0..31 bytes, taken from the input and mapped to a
             * small alphabet (so terminators occur), or raw; paused after
             * its first event (2). */
            size_t n = op / 8 % 64;
            uint8_t buf[64];
            /* Under text lengths: digits (both cases), separators and
             * trailers, and 'x'. */
            static const char text_alphabet[] = "0129aF:,\r\nx";
            bool text = framer.kind == ACHAT_FRAMER_LENGTH && framer.radix != 0;

            if (n > size - i)
              n = size - i;
            if (run->fed + n > MAX_STREAM)
              n = MAX_STREAM - run->fed;
            for (size_t j = 0; j < n; j++)
              buf[j] = op % 8 == 3 ? data[i + j] :
                       text ? (uint8_t) text_alphabet[data[i + j] % (sizeof text_alphabet - 1)] :
                       (uint8_t) ('a' + data[i + j] % 3);
            i += n;
            memcpy (run->stream + run->fed, buf, n);
            run->fed += n;
            drain (run, &framer, buf, n, op % 8 == 2, op % 8 == 1);
            CHECK (run->delivered + achat_framer_get_held (&framer) == run->fed);
            if (!run->refused)
              CHECK (achat_framer_get_held (&framer) <= held_limit (&framer));
            break;
          }
        case 4: case 5:
          /* Between reads: applies to what is held, then to new input. */
          i = take_setting (data, size, i, &s);
          if (run->n_changes < MAX_CHANGES - 1)
            {
              apply (run, &framer, &s);
              record_change (run, run->delivered, &s);
              /* Held bytes may now form messages (a shorter terminator). */
              drain (run, &framer, NULL, 0, false, false);
            }
          break;
        default:
          /* After the next terminator without a pending change. */
          i = take_setting (data, size, i, &s);
          if (run->n_pending < MAX_CHANGES / 2)
            run->pending[run->n_pending++] = s;
          break;
        }
      if (run->n_changes >= MAX_CHANGES - 2)
        break;
    }

  /* End of stream: what is held comes out, one event at a time; under
   * bytes terminators, a terminator complete in the held bytes is final. */
  run->at_end = true;
  for (size_t guard = 0; ; guard++)
    {
      AchatFramerKind kind = framer.kind;
      size_t held = achat_framer_get_held (&framer);
      bool flushed = achat_framer_flush (&framer, &ev);

      CHECK (flushed == (held > 0));
      CHECK (ev.status == ACHAT_FRAMER_OK && !ev.from_input);
      if (!flushed)
        {
          CHECK (ev.length == 0 && !ev.terminator);
          break;
        }
      CHECK (guard <= held + 1);
      CHECK (run->delivered + ev.length <= run->fed);
      CHECK (ev.length == 0 || memcmp (ev.data, run->stream + run->delivered, ev.length) == 0);
      run->delivered += ev.length;
      bytes_append (&run->msg_bytes, &run->msg_len, &run->msg_cap, ev.data, ev.length);
      if (ev.terminator)
        {
          size_t tl;
          const uint8_t *t = achat_framer_get_terminator (&framer, ev.term_index, &tl);
          Message m = { false, ev.term_index, ACHAT_FRAMER_OK, 0 };

          CHECK (kind == ACHAT_FRAMER_BYTES && t != NULL);
          CHECK (ev.length + tl <= held);
          CHECK (achat_framer_get_held (&framer) == held - ev.length - tl);
          CHECK (memcmp (run->stream + run->delivered, t, tl) == 0);
          run->delivered += tl;
          record_message (run, &m);
          /* A handler's change applies to what is still held. */
          if (run->n_changes < MAX_CHANGES)
            handler_change (run, &framer);
        }
      else
        {
          CHECK (ev.term_index == 0);
          CHECK (ev.length == held && achat_framer_get_held (&framer) == 0);
        }
    }
  CHECK (run->delivered == run->fed);
  CHECK (achat_framer_get_held (&framer) == 0);

  reference_check (run);

  achat_framer_clear (&framer);
  return 0;
}
