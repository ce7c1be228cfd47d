/* fuzz-framer.c: a libFuzzer target for the framing engine
 *
 * The input is a small program: feeds of arbitrary bytes in arbitrary
 * read sizes, terminator changes between reads, and terminator changes made
 * "by a handler" right after a terminator event (the asynchat idiom of a
 * header line followed by a counted body). The engine's output is checked
 * against a plain reference splitter that sees the whole stream at once:
 *
 *  - every byte fed comes out exactly once and in order (data, then the
 *    terminator bytes the engine consumed);
 *  - the messages, and the bytes collected after the last one, are the
 *    reference's;
 *  - the engine never holds more than a partial terminator between reads.
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

#define CHECK(cond) \
  do { if (!(cond)) { fprintf (stderr, "fuzz-framer: %s:%d: %s\n", __FILE__, __LINE__, #cond); abort (); } } while (0)

typedef struct
{
  AchatFramerKind kind;
  uint8_t term[4];
  size_t term_len;
  uint64_t count;
} Setting;

typedef struct
{
  size_t offset;          /* stream position where it applies */
  Setting setting;
} Change;

typedef struct
{
  /* the stream, in order, as fed */
  uint8_t stream[MAX_STREAM];
  size_t fed;
  /* what the engine delivered: data and consumed terminator bytes */
  size_t delivered;
  /* messages: ends[] are offsets into msg_bytes */
  uint8_t *msg_bytes;
  size_t msg_len, msg_cap;
  size_t ends[MAX_MESSAGES];
  size_t n_messages;
  size_t collected;       /* bytes since the last message end, in msg_bytes */
  Change changes[MAX_CHANGES];
  size_t n_changes;
  Setting pending[MAX_CHANGES];   /* to apply after the next terminators */
  size_t n_pending, next_pending;
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
apply (AchatFramer   *framer,
       const Setting *s)
{
  switch (s->kind)
    {
    case ACHAT_FRAMER_BYTES:
      achat_framer_set_bytes (framer, s->term, s->term_len);
      break;
    case ACHAT_FRAMER_COUNT:
      achat_framer_set_count (framer, s->count);
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
  run->n_changes++;
}

/* Pulls events from the engine for one input (NULL, 0: held bytes only). */
static void
drain (Run           *run,
       AchatFramer   *framer,
       const uint8_t *input,
       size_t         length)
{
  size_t pos = 0;
  size_t guard = 0;

  for (;;)
    {
      AchatFramerEvent ev;
      AchatFramerKind kind = framer->kind;
      size_t term_len = kind == ACHAT_FRAMER_BYTES ? framer->term_len : 0;
      uint8_t term[4];

      CHECK (term_len <= sizeof term);
      if (term_len > 0)
        memcpy (term, framer->term, term_len);
      pos += achat_framer_next (framer, input ? input + pos : NULL, length - pos, &ev);
      CHECK (pos <= length);
      if (ev.length == 0 && !ev.terminator)
        break;
      CHECK (++guard <= 2 * (length + MAX_STREAM) + 4);

      /* In order and exactly once: what comes out is the stream. */
      CHECK (run->delivered + ev.length <= run->fed);
      CHECK (ev.length == 0 || memcmp (ev.data, run->stream + run->delivered, ev.length) == 0);
      run->delivered += ev.length;
      bytes_append (&run->msg_bytes, &run->msg_len, &run->msg_cap, ev.data, ev.length);
      run->collected += ev.length;

      if (ev.terminator)
        {
          if (kind == ACHAT_FRAMER_BYTES)
            {
              CHECK (run->delivered + term_len <= run->fed);
              CHECK (memcmp (run->stream + run->delivered, term, term_len) == 0);
              run->delivered += term_len;
            }
          CHECK (run->n_messages < MAX_MESSAGES);
          run->ends[run->n_messages++] = run->msg_len;
          run->collected = 0;

          /* A handler changing the terminator. */
          if (run->next_pending < run->n_pending)
            {
              const Setting *s = &run->pending[run->next_pending++];

              apply (framer, s);
              record_change (run, run->delivered, s);
            }
        }
    }
  CHECK (pos == length);
}

/* The reference: the whole stream, the changes at their offsets. */
static void
reference_check (const Run *run)
{
  Setting cur = { ACHAT_FRAMER_NONE, { 0 }, 0, 0 };
  size_t pos = 0, ci = 0, mi = 0, mstart = 0;
  size_t end = run->fed;
  uint8_t *coll = NULL;
  size_t coll_len = 0, coll_cap = 0;

  for (;;)
    {
      size_t limit;

      while (ci < run->n_changes && run->changes[ci].offset <= pos)
        {
          CHECK (run->changes[ci].offset == pos);
          cur = run->changes[ci].setting;
          if (cur.kind == ACHAT_FRAMER_COUNT && cur.count == 0)
            cur.kind = ACHAT_FRAMER_NONE;
          ci++;
        }
      limit = ci < run->n_changes ? run->changes[ci].offset : end;
      if (pos == end && ci == run->n_changes)
        break;

      if (cur.kind == ACHAT_FRAMER_BYTES)
        {
          size_t q, found = SIZE_MAX;

          for (q = pos; q + cur.term_len <= limit; q++)
            if (memcmp (run->stream + q, cur.term, cur.term_len) == 0)
              {
                found = q;
                break;
              }
          if (found != SIZE_MAX)
            {
              bytes_append (&coll, &coll_len, &coll_cap, run->stream + pos, found - pos);
              CHECK (mi < run->n_messages);
              CHECK (run->ends[mi] - mstart == coll_len);
              CHECK (coll_len == 0 || memcmp (run->msg_bytes + mstart, coll, coll_len) == 0);
              mstart = run->ends[mi++];
              coll_len = 0;
              pos = found + cur.term_len;
              continue;
            }
        }
      else if (cur.kind == ACHAT_FRAMER_COUNT && cur.count > 0)
        {
          size_t take = limit - pos;

          if (cur.count < take)
            take = (size_t) cur.count;
          bytes_append (&coll, &coll_len, &coll_cap, run->stream + pos, take);
          pos += take;
          cur.count -= take;
          if (cur.count == 0)
            {
              CHECK (mi < run->n_messages);
              CHECK (run->ends[mi] - mstart == coll_len);
              CHECK (coll_len == 0 || memcmp (run->msg_bytes + mstart, coll, coll_len) == 0);
              mstart = run->ends[mi++];
              coll_len = 0;
              cur.kind = ACHAT_FRAMER_NONE;   /* a spent count collects */
            }
          continue;
        }

      /* No terminator before the next change (or the end): all data. */
      bytes_append (&coll, &coll_len, &coll_cap, run->stream + pos, limit - pos);
      pos = limit;
      if (ci == run->n_changes)
        break;
    }

  CHECK (mi == run->n_messages);
  CHECK (run->msg_len - mstart == coll_len);
  CHECK (coll_len == 0 || memcmp (run->msg_bytes + mstart, coll, coll_len) == 0);
  free (coll);
}

static size_t
take_setting (const uint8_t *data,
              size_t         size,
              size_t         i,
              Setting       *s)
{
  uint8_t k = i < size ? data[i++] : 0;

  memset (s, 0, sizeof *s);
  switch (k % 3)
    {
    case 0:
      s->kind = ACHAT_FRAMER_BYTES;
      s->term_len = 1 + (k / 3) % 4;
      for (size_t j = 0; j < s->term_len; j++)
        /* A small alphabet makes matches and overlaps likely. */
        s->term[j] = i < size ? (uint8_t) ('a' + data[i++] % 3) : 'a';
      break;
    case 1:
      s->kind = ACHAT_FRAMER_COUNT;
      s->count = i < size ? data[i++] : 0;
      break;
    default:
      s->kind = ACHAT_FRAMER_NONE;
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
  achat_framer_init (&framer);

  while (i < size)
    {
      uint8_t op = data[i++];
      Setting s;

      switch (op % 8)
        {
        case 0: case 1: case 2: case 3:
          {
            /* A read of 0..63 bytes, taken from the input and mapped to a
             * small alphabet (so terminators occur), or raw. */
            size_t n = op / 8 % 64;
            uint8_t buf[64];

            if (n > size - i)
              n = size - i;
            if (run->fed + n > MAX_STREAM)
              n = MAX_STREAM - run->fed;
            for (size_t j = 0; j < n; j++)
              buf[j] = op % 8 == 3 ? data[i + j] : (uint8_t) ('a' + data[i + j] % 3);
            i += n;
            memcpy (run->stream + run->fed, buf, n);
            run->fed += n;
            drain (run, &framer, buf, n);
            CHECK (run->delivered + achat_framer_get_held (&framer) == run->fed);
            if (framer.kind == ACHAT_FRAMER_BYTES)
              CHECK (achat_framer_get_held (&framer) < framer.term_len);
            break;
          }
        case 4: case 5:
          /* Between reads: applies to what is held, then to new input. */
          i = take_setting (data, size, i, &s);
          if (run->n_changes < MAX_CHANGES - 1)
            {
              apply (&framer, &s);
              record_change (run, run->delivered, &s);
              /* Held bytes may now form messages (a shorter terminator). */
              drain (run, &framer, NULL, 0);
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

  /* End of stream: what is held comes out as data. */
  if (achat_framer_flush (&framer, &ev))
    {
      CHECK (run->delivered + ev.length <= run->fed);
      CHECK (memcmp (ev.data, run->stream + run->delivered, ev.length) == 0);
      run->delivered += ev.length;
      bytes_append (&run->msg_bytes, &run->msg_len, &run->msg_cap, ev.data, ev.length);
    }
  CHECK (run->delivered == run->fed);
  CHECK (achat_framer_get_held (&framer) == 0);

  reference_check (run);

  achat_framer_clear (&framer);
  return 0;
}
