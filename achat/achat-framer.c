/* achat-framer.c: the framing engine (plain C)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif

#include "achat-framer-private.h"

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
  free (framer->hold);
  free (framer->scratch);
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
  reserve (&framer->term, &framer->term_cap, length);
  memmove (framer->term, terminator, length);
  framer->term_len = length;
  framer->kind = ACHAT_FRAMER_BYTES;
  framer->count = 0;
}

void
achat_framer_set_count (AchatFramer *framer,
                        uint64_t     count)
{
  framer->kind = ACHAT_FRAMER_COUNT;
  framer->count = count;
  framer->term_len = 0;
}

void
achat_framer_set_none (AchatFramer *framer)
{
  framer->kind = ACHAT_FRAMER_NONE;
  framer->count = 0;
  framer->term_len = 0;
}

size_t
achat_framer_get_held (const AchatFramer *framer)
{
  return framer->hold_len;
}

void
achat_framer_discard (AchatFramer *framer)
{
  framer->hold_len = 0;
}

void
achat_framer_hold_input (AchatFramer   *framer,
                         const uint8_t *input,
                         size_t         length)
{
  if (length == 0)
    return;
  reserve (&framer->hold, &framer->hold_cap, framer->hold_len + length);
  memcpy (framer->hold + framer->hold_len, input, length);
  framer->hold_len += length;
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

static void
set_hold (AchatFramer   *framer,
          const uint8_t *data,
          size_t         length)
{
  reserve (&framer->hold, &framer->hold_cap, length);
  memmove (framer->hold, data, length);
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
}

/* Held bytes under a count or no terminator: hand them out as data. */
static size_t
next_from_hold_plain (AchatFramer      *framer,
                      AchatFramerEvent *event)
{
  size_t take = framer->hold_len;
  bool terminator = false;

  if (framer->kind == ACHAT_FRAMER_COUNT && framer->count > 0)
    {
      if (framer->count < take)
        take = (size_t) framer->count;
      framer->count -= take;
      terminator = framer->count == 0;
    }

  reserve (&framer->scratch, &framer->scratch_cap, take);
  memcpy (framer->scratch, framer->hold, take);
  memmove (framer->hold, framer->hold + take, framer->hold_len - take);
  framer->hold_len -= take;
  event_set (event, framer->scratch, take, false, terminator);
  return 0;
}

/* Held bytes under a bytes terminator: a match may start in the held bytes
 * and end in the new input.  Look at a window made of the held bytes and
 * just enough of the input to complete a match starting in them. */
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

  reserve (&framer->scratch, &framer->scratch_cap, wl);
  w = framer->scratch;
  memcpy (w, framer->hold, k);
  if (extra)
    memcpy (w + k, input, extra);

  p = find_terminator (framer, w, wl);

  if (p >= 0 && (size_t) p < k)
    {
      /* A terminator starts in the held bytes. */
      size_t end = (size_t) p + tl;
      size_t consumed = 0;

      if (end <= k)
        {
          /* Entirely inside them (the terminator got shorter). */
          memmove (framer->hold, framer->hold + end, k - end);
          framer->hold_len = k - end;
        }
      else
        {
          consumed = end - k;
          framer->hold_len = 0;
        }
      event_set (event, w, (size_t) p, false, true);
      return consumed;
    }

  if (p >= 0 || length >= tl - 1)
    {
      /* No terminator can start in the held bytes: they are plain data.
       * The window is a copy, so the held storage can be emptied. */
      framer->hold_len = 0;
      event_set (event, w, k, false, false);
      return 0;
    }

  /* The whole input fits in the window and holds no terminator. */
  {
    size_t m = achat_framer_prefix_at_end (w, wl, framer->term, tl);

    set_hold (framer, w + wl - m, m);
    event_set (event, w, wl - m, false, false);
    return length;
  }
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
        return next_from_hold_bytes (framer, input, length, event);
      return next_from_hold_plain (framer, event);
    }

  if (length == 0)
    {
      event_set (event, NULL, 0, false, false);
      return 0;
    }

  switch (framer->kind)
    {
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
        ptrdiff_t p = find_terminator (framer, input, length);
        size_t m;

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

  if (k == 0)
    {
      event_set (event, NULL, 0, false, false);
      return false;
    }

  reserve (&framer->scratch, &framer->scratch_cap, k);
  memcpy (framer->scratch, framer->hold, k);
  framer->hold_len = 0;
  event_set (event, framer->scratch, k, false, false);
  return true;
}
