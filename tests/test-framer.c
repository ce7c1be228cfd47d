/* test-framer.c: unit tests for the framing engine
 *
 * Specifies: achat/achat-framer.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The engine is checked three ways:
 *
 *  - the rows of behaviour.md that apply at engine level (I1–I12, I15, I16)
 *    are rendered as "c(abc) T c(def) T" strings with asynchat's collect
 *    granularity and compared exactly;
 *  - every way of cutting a stream in one, two or three pieces must give the
 *    same messages as an obviously correct splitter that sees the whole
 *    stream at once;
 *  - random streams, random cuts and random terminator changes between
 *    events are checked against a position-based reference, and every byte
 *    must come out exactly once, in order;
 *  - several terminators and length-prefixed frames: every small stream
 *    over every composition of reads, against a reference that handles
 *    every kind (reference_general()), and random changes between kinds.
 *
 * The driver also checks the engine's contract on every event: the number of
 * bytes consumed, when "need more input" may happen, where data points to
 * (from_input) and how many bytes are held between calls.
 */

#include <glib.h>
#include <string.h>

#include "achat-framer-private.h"

/* ---------------------------------------------------------------------- */
/* Terminator specifications                                              */
/* ---------------------------------------------------------------------- */

typedef struct
{
  AchatFramerKind kind;
  guint8 bytes[16];
  gsize length;   /* for ACHAT_FRAMER_BYTES */
  guint64 count;  /* for ACHAT_FRAMER_COUNT */
  /* ACHAT_FRAMER_BYTES with several terminators (n_multi > 1) */
  guint n_multi;
  guint8 multi[ACHAT_FRAMER_MAX_TERMINATORS][8];
  gsize multi_len[ACHAT_FRAMER_MAX_TERMINATORS];
  /* ACHAT_FRAMER_LENGTH */
  guint header_size;
  gboolean big_endian;
  gint64 adjustment;
  guint64 max_length;
  /* ACHAT_FRAMER_LENGTH with a text header: radix 10 or 16 (0: a binary
   * header), separator and trailer */
  guint radix;
  guint8 sep[ACHAT_FRAMER_MAX_SEPARATOR];
  gsize sep_len;
  guint8 trailer[ACHAT_FRAMER_MAX_TRAILER];
  gsize trailer_len;
} Term;

static Term
term_bytes (const gchar *s)
{
  Term t = { ACHAT_FRAMER_BYTES, { 0 }, 0, 0 };

  t.length = strlen (s);
  g_assert_cmpuint (t.length, <=, sizeof t.bytes);
  memcpy (t.bytes, s, t.length);
  return t;
}

static Term
term_count (guint64 count)
{
  Term t = { ACHAT_FRAMER_COUNT, { 0 }, 0, 0 };

  t.count = count;
  return t;
}

static Term
term_none (void)
{
  Term t = { ACHAT_FRAMER_NONE, { 0 }, 0, 0 };

  return t;
}

/* Several terminators, from a NULL-terminated list. */
static Term
term_multi (const gchar *const *terminators)
{
  Term t = { ACHAT_FRAMER_BYTES, { 0 }, 0, 0 };
  guint i;

  for (i = 0; terminators[i] != NULL; i++)
    {
      g_assert_cmpuint (i, <, ACHAT_FRAMER_MAX_TERMINATORS);
      t.multi_len[i] = strlen (terminators[i]);
      g_assert_cmpuint (t.multi_len[i], <=, sizeof t.multi[i]);
      memcpy (t.multi[i], terminators[i], t.multi_len[i]);
    }
  t.n_multi = i;
  /* The first one, as the channel reads it. */
  t.length = t.multi_len[0];
  memcpy (t.bytes, t.multi[0], t.length);
  return t;
}

#define MULTI(...) ((const gchar *const []) { __VA_ARGS__, NULL })

static Term
term_length (guint    header_size,
             gboolean big_endian,
             gint64   adjustment,
             guint64  max_length)
{
  Term t = { ACHAT_FRAMER_LENGTH, { 0 }, 0, 0 };

  t.header_size = header_size;
  t.big_endian = big_endian;
  t.adjustment = adjustment;
  t.max_length = max_length;
  return t;
}

/* Text length headers: digits in @radix, @sep, the payload, @trailer. */
static Term
term_text (guint        radix,
           const gchar *sep,
           const gchar *trailer,
           guint64      max_length)
{
  Term t = { ACHAT_FRAMER_LENGTH, { 0 }, 0, 0 };

  t.radix = radix;
  t.sep_len = strlen (sep);
  g_assert_cmpuint (t.sep_len, <=, sizeof t.sep);
  memcpy (t.sep, sep, t.sep_len);
  t.trailer_len = strlen (trailer);
  g_assert_cmpuint (t.trailer_len, <=, sizeof t.trailer);
  memcpy (t.trailer, trailer, t.trailer_len);
  t.max_length = max_length;
  return t;
}

/* The value of @c as a digit in @radix, or -1. */
static gint
text_digit (guint8 c,
            guint  radix)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (radix == 16 && c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (radix == 16 && c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static guint
text_max_digits (guint radix)
{
  return radix == 10 ? ACHAT_FRAMER_MAX_DIGITS_10 : ACHAT_FRAMER_MAX_DIGITS_16;
}

static void
term_apply (const Term  *t,
            AchatFramer *framer)
{
  switch (t->kind)
    {
    case ACHAT_FRAMER_BYTES:
      if (t->n_multi > 1)
        {
          const guint8 *ptrs[ACHAT_FRAMER_MAX_TERMINATORS];
          guint i;

          for (i = 0; i < t->n_multi; i++)
            ptrs[i] = t->multi[i];
          achat_framer_set_bytes_multi (framer, ptrs, t->multi_len,
                                        t->n_multi);
        }
      else
        achat_framer_set_bytes (framer, t->bytes, t->length);
      break;
    case ACHAT_FRAMER_LENGTH:
      if (t->radix != 0)
        achat_framer_set_length_text (framer, t->radix, t->sep, t->sep_len,
                                      t->trailer, t->trailer_len,
                                      t->max_length);
      else
        achat_framer_set_length (framer, t->header_size, t->big_endian,
                                 t->adjustment, t->max_length);
      break;
    case ACHAT_FRAMER_COUNT:
      achat_framer_set_count (framer, t->count);
      break;
    case ACHAT_FRAMER_NONE:
    default:
      achat_framer_set_none (framer);
      break;
    }
}

/* ---------------------------------------------------------------------- */
/* Rendering                                                              */
/* ---------------------------------------------------------------------- */

/* Escapes \r, \n, the backslash, '|' (the message separator), '#' and '!'
 * (which mark terminator indices and errors) and anything not printable, so
 * that rendered strings are unambiguous and readable in assertion
 * messages. */
static void
append_escaped (GString      *s,
                const guint8 *data,
                gsize         length)
{
  gsize i;

  for (i = 0; i < length; i++)
    {
      guint8 c = data[i];

      if (c == '\r')
        g_string_append (s, "\\r");
      else if (c == '\n')
        g_string_append (s, "\\n");
      else if (c == '\\')
        g_string_append (s, "\\\\");
      else if (c == '|' || c == '#' || c == '!' || c < 0x20 || c >= 0x7f)
        {
          /* By hand: printf allocates, and the big loops escape a lot. */
          static const gchar hex[] = "0123456789abcdef";

          g_string_append (s, "\\x");
          g_string_append_c (s, hex[c >> 4]);
          g_string_append_c (s, hex[c & 0xf]);
        }
      else
        g_string_append_c (s, (gchar) c);
    }
}

/* A number, without the allocation of g_string_append_printf(). */
static void
append_uint (GString *s,
             guint64  v)
{
  gchar buf[24];
  gsize i = sizeof buf;

  do
    {
      buf[--i] = (gchar) ('0' + v % 10);
      v /= 10;
    }
  while (v > 0);
  g_string_append_len (s, buf + i, (gssize) (sizeof buf - i));
}

static void
describe_term (GString    *s,
               const Term *t)
{
  guint i;

  switch (t->kind)
    {
    case ACHAT_FRAMER_BYTES:
      if (t->n_multi > 1)
        {
          g_string_append_c (s, '{');
          for (i = 0; i < t->n_multi; i++)
            {
              g_string_append (s, i ? ", \"" : "\"");
              append_escaped (s, t->multi[i], t->multi_len[i]);
              g_string_append_c (s, '"');
            }
          g_string_append_c (s, '}');
          break;
        }
      g_string_append_c (s, '"');
      append_escaped (s, t->bytes, t->length);
      g_string_append_c (s, '"');
      break;
    case ACHAT_FRAMER_COUNT:
      g_string_append_printf (s, "count %" G_GUINT64_FORMAT, t->count);
      break;
    case ACHAT_FRAMER_LENGTH:
      if (t->radix != 0)
        {
          g_string_append_printf (s, "text %u \"", t->radix);
          append_escaped (s, t->sep, t->sep_len);
          g_string_append (s, "\" \"");
          append_escaped (s, t->trailer, t->trailer_len);
          g_string_append_printf (s, "\" max %" G_GUINT64_FORMAT,
                                  t->max_length);
          break;
        }
      g_string_append_printf (s, "length %u %s %+" G_GINT64_FORMAT
                              " max %" G_GUINT64_FORMAT, t->header_size,
                              t->big_endian ? "BE" : "LE", t->adjustment,
                              t->max_length);
      break;
    case ACHAT_FRAMER_NONE:
    default:
      g_string_append (s, "none");
      break;
    }
}

/* ---------------------------------------------------------------------- */
/* The driver                                                             */
/* ---------------------------------------------------------------------- */

typedef struct _Driver Driver;

/* Called after every event that is not "need more input" (at the end of
 * the stream, after the flush events with a terminator; not after a
 * refused frame reported again); it may change the terminator, as a
 * found_terminator() handler would. */
typedef void (*EventHook) (Driver                 *driver,
                           const AchatFramerEvent *event);

struct _Driver
{
  AchatFramer framer;
  GString *render;     /* "c(abc) T c(def) T", or NULL */
  GString *messages;   /* escaped data, "|" after each terminator */
  GByteArray *recon;   /* data, terminator and header bytes, in order */
  GByteArray *fed;     /* every input byte, in order */
  gboolean lossy;      /* discard was used: recon is not fed */
  guint64 delivered;   /* stream position: bytes of recon so far */
  guint n_events;
  guint n_terminators;
  guint n_headers;     /* length headers consumed */
  gsize max_held;      /* the most bytes ever held between two calls */
  gboolean at_end;     /* in driver_flush(): the hook runs at the end */
  /* The refused frame reported last, until a new one */
  AchatFramerStatus refused;
  guint64 refused_length;
  guint n_refused;
  EventHook hook;
  gpointer hook_data;
};

static void
driver_init (Driver   *d,
             gboolean  render)
{
  memset (d, 0, sizeof *d);
  achat_framer_init (&d->framer);
  d->render = render ? g_string_new (NULL) : NULL;
  d->messages = g_string_new (NULL);
  d->recon = g_byte_array_new ();
  d->fed = g_byte_array_new ();
}

/* Back to a fresh state, keeping the allocations (for the big loops). */
static void
driver_reset (Driver *d)
{
  achat_framer_discard (&d->framer);
  achat_framer_set_none (&d->framer);
  if (d->render)
    g_string_truncate (d->render, 0);
  g_string_truncate (d->messages, 0);
  g_byte_array_set_size (d->recon, 0);
  g_byte_array_set_size (d->fed, 0);
  d->lossy = FALSE;
  d->delivered = 0;
  d->n_events = 0;
  d->n_terminators = 0;
  d->n_headers = 0;
  d->max_held = 0;
  d->at_end = FALSE;
  d->refused = ACHAT_FRAMER_OK;
  d->refused_length = 0;
  d->n_refused = 0;
  d->hook = NULL;
  d->hook_data = NULL;
}

static void
driver_clear (Driver *d)
{
  achat_framer_clear (&d->framer);
  if (d->render)
    g_string_free (d->render, TRUE);
  g_string_free (d->messages, TRUE);
  g_byte_array_unref (d->recon);
  g_byte_array_unref (d->fed);
}

static void
render_token (GString     *render,
              const gchar *token)
{
  if (render->len > 0)
    g_string_append_c (render, ' ');
  g_string_append (render, token);
}

/* Records one event; kind, multi (several terminators) and term (the one
 * that matched) are those in force when the engine produced it (read before
 * the hook may change them). */
static void
driver_record (Driver                 *d,
               const AchatFramerEvent *ev,
               AchatFramerKind         kind,
               gboolean                multi,
               const guint8           *term,
               gsize                   term_len)
{
  d->n_events++;
  if (ev->status != ACHAT_FRAMER_OK)
    {
      gboolean too_long = ev->status == ACHAT_FRAMER_FRAME_TOO_LONG;
      const gchar *why = too_long ? "too-long " :
                         ev->status == ACHAT_FRAMER_BAD_TRAILER ? "bad-trailer" :
                         "invalid";

      if (d->render)
        {
          render_token (d->render, "E(");
          g_string_append (d->render, why);
          if (too_long)
            append_uint (d->render, ev->frame_length);
          g_string_append_c (d->render, ')');
        }
      g_string_append_c (d->messages, '!');
      g_string_append (d->messages, why);
      if (too_long)
        append_uint (d->messages, ev->frame_length);
      g_string_append_c (d->messages, '|');
      return;
    }
  if (ev->length > 0)
    {
      if (d->render)
        {
          render_token (d->render, "c(");
          append_escaped (d->render, ev->data, ev->length);
          g_string_append_c (d->render, ')');
        }
      append_escaped (d->messages, ev->data, ev->length);
      g_byte_array_append (d->recon, ev->data, (guint) ev->length);
      d->delivered += ev->length;
    }
  if (ev->terminator)
    {
      d->n_terminators++;
      if (d->render)
        {
          render_token (d->render, "T");
          if (multi)
            {
              g_string_append_c (d->render, '#');
              append_uint (d->render, ev->term_index);
            }
        }
      g_string_append_c (d->messages, '|');
      if (multi)
        {
          g_string_append_c (d->messages, '#');
          append_uint (d->messages, ev->term_index);
        }
      /* A count or a frame ends without consuming anything; a bytes
       * terminator consumed exactly the terminator. */
      if (kind == ACHAT_FRAMER_BYTES)
        {
          g_byte_array_append (d->recon, term, (guint) term_len);
          d->delivered += term_len;
        }
      else
        g_assert_true (kind == ACHAT_FRAMER_COUNT ||
                       kind == ACHAT_FRAMER_LENGTH);
    }
  else
    g_assert_cmpuint (ev->term_index, ==, 0);
}

static gboolean
ranges_overlap (const guint8 *a,
                gsize         a_len,
                const guint8 *b,
                gsize         b_len)
{
  guintptr a0 = (guintptr) a, b0 = (guintptr) b;

  return a_len > 0 && b_len > 0 && a0 < b0 + b_len && b0 < a0 + a_len;
}

/* The most bytes the engine may keep between two calls under its current
 * setting (a partial terminator or header). */
static gsize
held_limit (const AchatFramer *framer)
{
  gsize n = achat_framer_get_n_terminators (framer);
  gsize i, longest = 0;

  if (framer->kind == ACHAT_FRAMER_LENGTH && framer->radix != 0)
    return text_max_digits (framer->radix) + framer->sep_len - 1;
  if (framer->kind == ACHAT_FRAMER_LENGTH)
    return framer->header_size - 1;
  for (i = 0; i < n; i++)
    {
      gsize tl;

      g_assert_nonnull (achat_framer_get_terminator (framer, i, &tl));
      longest = MAX (longest, tl);
    }
  return longest ? longest - 1 : 0;
}

/* Feeds one input and pulls events until the engine asks for more (or
 * reports a refused frame again: the rest of the input is then held, as a
 * channel waiting for a new terminator would). */
static void
driver_feed (Driver       *d,
             const guint8 *input,
             gsize         length)
{
  gsize off = 0;
  guint iterations = 0;
  guint extra_events = 0;
  gsize held_before = achat_framer_get_held (&d->framer);
  /* Every event but the last consumes input or shrinks the held bytes. */
  guint max_iterations = (guint) (length + held_before) + 2;

  if (length > 0)
    g_byte_array_append (d->fed, input, (guint) length);

  for (;;)
    {
      AchatFramerEvent ev;
      AchatFramerKind kind = d->framer.kind;
      gboolean multi = achat_framer_get_n_terminators (&d->framer) > 1;
      gsize header_size = kind == ACHAT_FRAMER_LENGTH ? d->framer.header_size : 0;
      /* Text lengths: in a header (not in a payload or trailer) and the
       * part of the trailer matched, before the call. */
      gboolean text = kind == ACHAT_FRAMER_LENGTH && d->framer.radix != 0;
      gboolean was_header = text && d->framer.length_state == 0;
      gboolean was_refused = kind == ACHAT_FRAMER_LENGTH &&
                             d->framer.status != ACHAT_FRAMER_OK;
      gsize trailer_from = text && d->framer.length_state == 3 ? d->framer.trailer_pos : 0;
      gsize trailer_part = 0;
      const guint8 *term = NULL;
      gsize term_len = 0;
      gsize held_prev = achat_framer_get_held (&d->framer);
      gsize held_bound = MAX (held_prev, held_limit (&d->framer));
      gsize held;
      gsize consumed;
      gsize framed;   /* terminator or header bytes the event consumed */

      memset (&ev, 0x55, sizeof ev);
      consumed = achat_framer_next (&d->framer, input ? input + off : NULL,
                                    length - off, &ev);
      g_assert_cmpuint (consumed, <=, length - off);
      g_assert_cmpint (ev.status, <=, ACHAT_FRAMER_BAD_TRAILER);
      if (kind != ACHAT_FRAMER_LENGTH || !text)
        g_assert_cmpint (ev.status, !=, ACHAT_FRAMER_BAD_TRAILER);

      /* Held bytes never grow beyond a partial terminator or header. */
      held = achat_framer_get_held (&d->framer);
      g_assert_cmpuint (held, <=, held_bound);
      d->max_held = MAX (d->max_held, held);

      g_assert_cmpuint (consumed + held_prev, >=, held + ev.length);
      framed = consumed + held_prev - held - ev.length;
      if (ev.terminator && kind == ACHAT_FRAMER_BYTES)
        {
          term = achat_framer_get_terminator (&d->framer, ev.term_index,
                                              &term_len);
          g_assert_nonnull (term);
          g_assert_cmpuint (framed, ==, term_len);
        }
      else if (text && framed > 0)
        {
          /* A header (digits and separator, before the data), then part
           * of the trailer or all of it (after the data). */
          gsize header_len = 0;
          const guint8 *at;

          if (was_header)
            {
              guint max_digits = text_max_digits (d->framer.radix);

              while (header_len < max_digits &&
                     d->delivered + header_len < d->fed->len &&
                     text_digit (d->fed->data[d->delivered + header_len],
                                 d->framer.radix) >= 0)
                header_len++;
              g_assert_cmpuint (header_len, >, 0);
              header_len += d->framer.sep_len;
              g_assert_cmpuint (framed, >=, header_len);
              g_assert_cmpuint (d->delivered + header_len, <=, d->fed->len);
              g_assert_cmpmem (d->fed->data + d->delivered + header_len - d->framer.sep_len,
                               d->framer.sep_len, d->framer.sep, d->framer.sep_len);
              g_byte_array_append (d->recon, d->fed->data + d->delivered,
                                   (guint) header_len);
              d->delivered += header_len;
              d->n_headers++;
            }
          trailer_part = framed - header_len;
          g_assert_cmpuint (trailer_from + trailer_part, <=, d->framer.trailer_len);
          /* The trailer's bytes, right after the data. */
          g_assert_cmpuint (d->delivered + ev.length + trailer_part, <=, d->fed->len);
          at = d->fed->data + d->delivered + ev.length;
          g_assert_cmpmem (at, trailer_part, d->framer.trailer + trailer_from,
                           trailer_part);
          /* Complete: the frame ends (or, refused, nothing does). */
          if (ev.status == ACHAT_FRAMER_OK && trailer_part > 0)
            g_assert_cmpint (ev.terminator, ==,
                             trailer_from + trailer_part == d->framer.trailer_len);
        }
      else if (kind == ACHAT_FRAMER_LENGTH && framed > 0)
        {
          /* A header, before the data. */
          g_assert_cmpuint (framed, ==, header_size);
          g_assert_cmpuint (d->delivered + framed, <=, d->fed->len);
          g_byte_array_append (d->recon, d->fed->data + d->delivered,
                               (guint) framed);
          d->delivered += framed;
          d->n_headers++;
        }
      else
        g_assert_cmpuint (framed, ==, 0);

      if (ev.status != ACHAT_FRAMER_OK)
        {
          g_assert_cmpint (kind, ==, ACHAT_FRAMER_LENGTH);
          g_assert_cmpuint (ev.length, ==, 0);
          g_assert_null (ev.data);
          g_assert_false (ev.terminator);
          g_assert_false (ev.from_input);
          g_assert_cmpuint (ev.term_index, ==, 0);
          g_assert_true (achat_framer_in_frame (&d->framer));
          if (ev.status != ACHAT_FRAMER_FRAME_TOO_LONG)
            g_assert_cmpuint (ev.frame_length, ==, 0);
          /* A first refusal consumes a binary header; a text one consumes
           * nothing of an invalid header. */
          if (!was_refused && !text)
            g_assert_cmpuint (framed, ==, header_size);
          if (!was_refused && text && ev.status == ACHAT_FRAMER_FRAME_INVALID)
            g_assert_cmpuint (framed, ==, 0);
          if (was_refused)
            {
              /* Reported again: nothing moves until a new setting. */
              g_assert_cmpint (ev.status, ==, d->refused);
              g_assert_cmpuint (ev.frame_length, ==, d->refused_length);
              g_assert_cmpuint (consumed, ==, 0);
              g_assert_cmpuint (held, ==, held_prev);
              achat_framer_hold_input (&d->framer, input ? input + off : NULL,
                                       length - off);
              break;
            }
          d->refused = ev.status;
          d->refused_length = ev.frame_length;
          d->n_refused++;
          /* A text refusal may consume nothing: one more event (the
           * handler set something else, or it is reported again). */
          if (consumed == 0 && held == held_prev)
            {
              g_assert_cmpuint (++extra_events, <=, 1000);
              max_iterations++;
            }
        }
      else if (ev.length == 0 && !ev.terminator)
        {
          /* "Need more input": only once all of the input is consumed. */
          g_assert_cmpuint (off + consumed, ==, length);
          g_assert_cmpuint (ev.term_index, ==, 0);
          if (trailer_part > 0)
            {
              g_byte_array_append (d->recon, d->fed->data + d->delivered,
                                   (guint) trailer_part);
              d->delivered += trailer_part;
            }
          break;
        }

      g_assert_cmpuint (++iterations, <=, max_iterations);

      if (ev.length > 0)
        {
          g_assert_nonnull (ev.data);
          if (ev.from_input)
            {
              /* Data in the input is data the engine consumed. */
              g_assert_true ((guintptr) ev.data >= (guintptr) (input + off));
              g_assert_true ((guintptr) (ev.data + ev.length) <=
                             (guintptr) (input + off + consumed));
            }
          else
            {
              g_assert_false (ranges_overlap (ev.data, ev.length,
                                              input, length));
            }
        }

      off += consumed;
      driver_record (d, &ev, kind, multi, term, term_len);
      if (trailer_part > 0)
        {
          g_byte_array_append (d->recon, d->fed->data + d->delivered,
                               (guint) trailer_part);
          d->delivered += trailer_part;
        }
      if (d->hook)
        d->hook (d, &ev);
    }
}

/* End of stream: flush until nothing is held. Under a bytes terminator
 * each event ends at the earliest complete match in what is held (then
 * final), or is everything held, as data; under the other kinds everything
 * held comes back at once, as data. */
static void
driver_flush (Driver *d)
{
  AchatFramerEvent ev;
  guint iterations = 0;
  gsize max_iterations = achat_framer_get_held (&d->framer) + 1;

  d->at_end = TRUE;
  for (;;)
    {
      AchatFramerKind kind = d->framer.kind;
      gboolean multi = achat_framer_get_n_terminators (&d->framer) > 1;
      gsize held = achat_framer_get_held (&d->framer);
      const guint8 *term = NULL;
      gsize term_len = 0;
      gboolean flushed;

      memset (&ev, 0x55, sizeof ev);
      flushed = achat_framer_flush (&d->framer, &ev);
      g_assert_cmpint (flushed, ==, held > 0);
      g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
      g_assert_false (ev.from_input);
      if (!flushed)
        {
          g_assert_cmpuint (ev.length, ==, 0);
          g_assert_false (ev.terminator);
          break;
        }
      g_assert_cmpuint (++iterations, <=, max_iterations);
      if (ev.length > 0)
        g_assert_nonnull (ev.data);
      if (ev.terminator)
        {
          g_assert_cmpint (kind, ==, ACHAT_FRAMER_BYTES);
          term = achat_framer_get_terminator (&d->framer, ev.term_index,
                                              &term_len);
          g_assert_nonnull (term);
          g_assert_cmpuint (ev.length + term_len, <=, held);
          g_assert_cmpuint (achat_framer_get_held (&d->framer), ==,
                            held - ev.length - term_len);
        }
      else
        {
          g_assert_cmpuint (ev.term_index, ==, 0);
          g_assert_cmpuint (ev.length, ==, held);
          g_assert_cmpuint (achat_framer_get_held (&d->framer), ==, 0);
        }
      driver_record (d, &ev, kind, multi, term, term_len);
      /* After a terminator, a change applies to what is still held (data
       * is all that was held: nothing is left to change). */
      if (d->hook && ev.terminator)
        d->hook (d, &ev);
    }
  d->at_end = FALSE;

  /* Every byte fed was delivered exactly once, in order. */
  if (!d->lossy)
    g_assert_cmpmem (d->recon->data, d->recon->len,
                     d->fed->data, d->fed->len);

  /* A second flush has nothing left. */
  memset (&ev, 0x55, sizeof ev);
  g_assert_false (achat_framer_flush (&d->framer, &ev));
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
}

/* Convenience for the behaviour.md rows: string reads, rendered events. */
static gchar *
run_reads (Driver             *d,
           const gchar *const *reads,
           gboolean            flush)
{
  guint i;

  for (i = 0; reads[i] != NULL; i++)
    driver_feed (d, (const guint8 *) reads[i], strlen (reads[i]));
  if (flush)
    driver_flush (d);
  return g_strdup (d->render->str);
}

static void
check_reads (const Term         *term,
             const gchar *const *reads,
             gboolean            flush,
             EventHook           hook,
             gpointer            hook_data,
             const gchar        *expected)
{
  Driver d;
  gchar *got;

  driver_init (&d, TRUE);
  term_apply (term, &d.framer);
  d.hook = hook;
  d.hook_data = hook_data;
  got = run_reads (&d, reads, flush);
  g_assert_cmpstr (got, ==, expected);
  g_free (got);
  driver_clear (&d);
}

#define READS(...) ((const gchar *const []) { __VA_ARGS__, NULL })

/* ---------------------------------------------------------------------- */
/* behaviour.md, engine level                                             */
/* ---------------------------------------------------------------------- */

static void
test_row_i1 (void)
{
  Term t = term_bytes ("\r\n");

  check_reads (&t, READS ("abc\r", "\ndef\r\n"), TRUE, NULL, NULL,
               "c(abc) T c(def) T");
}

static void
test_row_i2 (void)
{
  Term t = term_bytes ("\r\n");
  Driver d;
  gchar *got;

  /* A terminator split over two reads: T only, nothing collected. */
  check_reads (&t, READS ("\r", "\n"), TRUE, NULL, NULL, "T");

  /* The "\r" is held, not collected, while waiting for the "\n". */
  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  got = run_reads (&d, READS ("\r"), FALSE);
  g_assert_cmpstr (got, ==, "");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  g_free (got);
  driver_clear (&d);
}

static void
test_row_i3 (void)
{
  Term t = term_bytes ("qqq");
  Driver d;
  gchar *got;

  check_reads (&t, READS ("ab", "cq", "q", "qde", "fqqq"), TRUE, NULL, NULL,
               "c(ab) c(c) T c(de) c(f) T");

  /* Step by step: the held prefix grows to "qq" without any collect. */
  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  got = run_reads (&d, READS ("ab", "cq"), FALSE);
  g_assert_cmpstr (got, ==, "c(ab) c(c)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  g_free (got);
  got = run_reads (&d, READS ("q"), FALSE);
  g_assert_cmpstr (got, ==, "c(ab) c(c)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 2);
  g_free (got);
  got = run_reads (&d, READS ("qde"), FALSE);
  g_assert_cmpstr (got, ==, "c(ab) c(c) T c(de)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  g_free (got);
  driver_clear (&d);
}

static void
test_row_i4 (void)
{
  Term t = term_bytes ("aab");

  /* Self-overlapping terminator: "aa" held, then "aaab" holds "aab" at 1. */
  check_reads (&t, READS ("xaa", "ab"), TRUE, NULL, NULL, "c(x) c(a) T");
  check_reads (&t, READS ("xaa", "a", "b"), TRUE, NULL, NULL, "c(x) c(a) T");
  check_reads (&t, READS ("xaaab"), TRUE, NULL, NULL, "c(xa) T");
  check_reads (&t, READS ("aaaab"), TRUE, NULL, NULL, "c(aa) T");
}

static void
test_row_i5 (void)
{
  Term t = term_bytes ("\n");

  check_reads (&t, READS ("a\nb\n\nc"), TRUE, NULL, NULL,
               "c(a) T c(b) T T c(c)");
}

static void
test_row_i6 (void)
{
  Term t = term_bytes ("\r\n.\r\n");

  check_reads (&t, READS ("line1\r\nline2\r\n.", "\r", "\nnext"), TRUE,
               NULL, NULL, "c(line1\\r\\nline2) T c(next)");
}

static void
test_row_i7 (void)
{
  Term t = term_bytes ("");
  Driver d;

  /* Length 0 is no terminator. */
  check_reads (&t, READS ("abc", "def"), TRUE, NULL, NULL, "c(abc) c(def)");

  driver_init (&d, TRUE);
  achat_framer_set_bytes (&d.framer, (const guint8 *) "\r\n", 2);
  g_assert_cmpint (d.framer.kind, ==, ACHAT_FRAMER_BYTES);
  driver_feed (&d, (const guint8 *) "abc\r", 4);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  achat_framer_set_bytes (&d.framer, NULL, 0);
  g_assert_cmpint (d.framer.kind, ==, ACHAT_FRAMER_NONE);
  /* The held "\r" is plain data now; the "\n" does not complete it. */
  driver_feed (&d, (const guint8 *) "\nd", 2);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(abc) c(\\r) c(\\nd)");
  driver_clear (&d);
}

static void
test_row_i8 (void)
{
  Term t = term_none ();

  check_reads (&t, READS ("abc", "def"), TRUE, NULL, NULL, "c(abc) c(def)");
  check_reads (&t, READS ("a\r\nb\n", "\r\n"), TRUE, NULL, NULL,
               "c(a\\r\\nb\\n) c(\\r\\n)");
}

static void
test_row_i9 (void)
{
  Term t = term_count (5);
  Driver d;
  gchar *got;

  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  got = run_reads (&d, READS ("ab", "cdefg", "hi"), TRUE);
  g_assert_cmpstr (got, ==, "c(ab) c(cde) T c(fg) c(hi)");
  /* Count left at 0; it collects with no terminator afterwards. */
  g_assert_cmpuint (d.framer.count, ==, 0);
  g_free (got);
  driver_clear (&d);
}

static void
test_row_i10 (void)
{
  Term t = term_count (0);

  check_reads (&t, READS ("abc"), TRUE, NULL, NULL, "c(abc)");
  check_reads (&t, READS ("abc", "de"), TRUE, NULL, NULL, "c(abc) c(de)");
}

static void
hook_rearm_count (Driver                 *d,
                  const AchatFramerEvent *ev)
{
  if (ev->terminator)
    achat_framer_set_count (&d->framer, GPOINTER_TO_UINT (d->hook_data));
}

static void
test_row_i11 (void)
{
  Term t = term_count (3);
  Driver d;
  gchar *got;

  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  d.hook = hook_rearm_count;
  d.hook_data = GUINT_TO_POINTER (3);
  got = run_reads (&d, READS ("abcdefgh"), TRUE);
  g_assert_cmpstr (got, ==, "c(abc) T c(def) T c(gh)");
  g_assert_cmpuint (d.framer.count, ==, 1);
  g_free (got);
  driver_clear (&d);

  /* The same over arbitrary reads. */
  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  d.hook = hook_rearm_count;
  d.hook_data = GUINT_TO_POINTER (3);
  got = run_reads (&d, READS ("ab", "cdefg", "h"), TRUE);
  g_assert_cmpstr (got, ==, "c(ab) c(c) T c(def) T c(g) c(h)");
  g_assert_cmpuint (d.framer.count, ==, 1);
  g_free (got);
  driver_clear (&d);
}

static void
hook_toggle_crlf_count (Driver                 *d,
                        const AchatFramerEvent *ev)
{
  if (!ev->terminator)
    return;
  if (d->framer.kind == ACHAT_FRAMER_BYTES)
    achat_framer_set_count (&d->framer, GPOINTER_TO_UINT (d->hook_data));
  else
    achat_framer_set_bytes (&d->framer, (const guint8 *) "\r\n", 2);
}

static void
test_row_i12 (void)
{
  Term t = term_bytes ("\r\n");

  check_reads (&t, READS ("HDR\r\nBODYrest\r\n"), TRUE,
               hook_toggle_crlf_count, GUINT_TO_POINTER (4),
               "c(HDR) T c(BODY) T c(rest) T");
  /* A body containing the terminator is not split by it. */
  check_reads (&t, READS ("HDR\r\n\r\n\r\nrest\r", "\n"), TRUE,
               hook_toggle_crlf_count, GUINT_TO_POINTER (4),
               "c(HDR) T c(\\r\\n\\r\\n) T c(rest) T");
  /* The count starts right after the whole "\r\n", across reads. */
  check_reads (&t, READS ("HDR\r", "\nBO", "DYrest\r", "\n"), TRUE,
               hook_toggle_crlf_count, GUINT_TO_POINTER (4),
               "c(HDR) T c(BO) c(DY) T c(rest) T");
}

static void
test_row_i15 (void)
{
  Term t = term_bytes ("\n");
  Driver d;
  AchatFramerEvent ev;

  check_reads (&t, READS ("abc"), TRUE, NULL, NULL, "c(abc)");

  /* Nothing held: flush has nothing to hand back. */
  driver_init (&d, FALSE);
  term_apply (&t, &d.framer);
  driver_feed (&d, (const guint8 *) "abc", 3);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  g_assert_false (achat_framer_flush (&d.framer, &ev));
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  driver_clear (&d);
}

static void
test_row_i16 (void)
{
  Term t = term_bytes ("\r\n");
  Term t2 = term_bytes ("\r\n.\r\n");
  Driver d;
  AchatFramerEvent ev;

  /* Python lost the "\r"; the engine hands it back at EOF. */
  check_reads (&t, READS ("abc\r"), TRUE, NULL, NULL, "c(abc) c(\\r)");
  check_reads (&t2, READS ("abc\r\n.", "\r"), TRUE, NULL, NULL,
               "c(abc) c(\\r\\n.\\r)");
  check_reads (&t2, READS ("\r\n.\r"), TRUE, NULL, NULL, "c(\\r\\n.\\r)");

  driver_init (&d, FALSE);
  term_apply (&t, &d.framer);
  driver_feed (&d, (const guint8 *) "abc\r", 4);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  g_assert_true (achat_framer_flush (&d.framer, &ev));
  g_assert_cmpmem (ev.data, ev.length, "\r", 1);
  g_assert_false (ev.terminator);
  g_assert_false (ev.from_input);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  /* The engine is empty and usable again. */
  driver_feed (&d, (const guint8 *) "\r\n", 2);
  g_assert_cmpuint (d.n_terminators, ==, 1);
  driver_clear (&d);
}

/* ---------------------------------------------------------------------- */
/* find_prefix_at_end                                                     */
/* ---------------------------------------------------------------------- */

static gsize
prefix_at_end (const gchar *haystack,
               const gchar *needle)
{
  return achat_framer_prefix_at_end ((const guint8 *) haystack,
                                     strlen (haystack),
                                     (const guint8 *) needle,
                                     strlen (needle));
}

/* Python's: l = len(needle) - 1; while l and not haystack.endswith(needle[:l]) */
static gsize
naive_prefix_at_end (const guint8 *h,
                     gsize         hl,
                     const guint8 *n,
                     gsize         nl)
{
  gsize l;

  if (nl == 0)
    return 0;
  for (l = nl - 1; l > 0; l--)
    if (l <= hl && memcmp (h + hl - l, n, l) == 0)
      return l;
  return 0;
}

static void
test_prefix_at_end_table (void)
{
  g_assert_cmpuint (prefix_at_end ("qwerty\r", "\r\n"), ==, 1);
  g_assert_cmpuint (prefix_at_end ("qwertydkjf", "\r\n"), ==, 0);
  g_assert_cmpuint (prefix_at_end ("xqq", "qqq"), ==, 2);
  g_assert_cmpuint (prefix_at_end ("qq", "qqq"), ==, 2);
  g_assert_cmpuint (prefix_at_end ("q", "qqq"), ==, 1);
  g_assert_cmpuint (prefix_at_end ("a", "a"), ==, 0);
  g_assert_cmpuint (prefix_at_end ("abcab", "abcabd"), ==, 5);
  g_assert_cmpuint (prefix_at_end ("xab", "abcabd"), ==, 2);
  g_assert_cmpuint (prefix_at_end ("\r\n.\r", "\r\n.\r\n"), ==, 4);
  g_assert_cmpuint (prefix_at_end ("", "\r\n"), ==, 0);
  g_assert_cmpuint (prefix_at_end ("abc", ""), ==, 0);
  g_assert_cmpuint (prefix_at_end ("", ""), ==, 0);
  g_assert_cmpuint (achat_framer_prefix_at_end (NULL, 0, NULL, 0), ==, 0);
  g_assert_cmpuint (achat_framer_prefix_at_end (NULL, 0,
                                                (const guint8 *) "ab", 2),
                    ==, 0);
  g_assert_cmpuint (achat_framer_prefix_at_end ((const guint8 *) "ab", 2,
                                                NULL, 0), ==, 0);
  /* Never the whole needle, even when the haystack ends with it. */
  g_assert_cmpuint (prefix_at_end ("xx\r\n", "\r\n"), ==, 0);
  g_assert_cmpuint (prefix_at_end ("qqqq", "qqq"), ==, 2);
  /* The longest proper prefix wins. */
  g_assert_cmpuint (prefix_at_end ("abab", "ababc"), ==, 4);
  g_assert_cmpuint (prefix_at_end ("aba", "ababc"), ==, 3);
  /* Embedded NULs are bytes like any other. */
  g_assert_cmpuint (achat_framer_prefix_at_end ((const guint8 *) "x\0", 2,
                                                (const guint8 *) "\0\0", 2),
                    ==, 1);
}

/* Every haystack and needle over {a, b} up to length 6 against Python's
 * definition. */
static void
test_prefix_at_end_exhaustive (void)
{
  guint8 h[8], n[8];
  guint hl, nl, hbits, nbits, i;

  for (hl = 0; hl <= 6; hl++)
    for (hbits = 0; hbits < (1u << hl); hbits++)
      {
        for (i = 0; i < hl; i++)
          h[i] = (hbits >> i) & 1 ? 'b' : 'a';
        for (nl = 0; nl <= 6; nl++)
          for (nbits = 0; nbits < (1u << nl); nbits++)
            {
              for (i = 0; i < nl; i++)
                n[i] = (nbits >> i) & 1 ? 'b' : 'a';
              g_assert_cmpuint (achat_framer_prefix_at_end (h, hl, n, nl), ==,
                                naive_prefix_at_end (h, hl, n, nl));
            }
      }
}

/* ---------------------------------------------------------------------- */
/* Reference splitter                                                     */
/* ---------------------------------------------------------------------- */

/* The whole stream at once, with naive matching: messages, each followed
 * by "|", then the remainder.  A count fires once and then collects. */
static void
reference_split (const guint8 *s,
                 gsize         n,
                 const Term   *t,
                 GString      *out)
{
  gsize start = 0, i;

  g_string_truncate (out, 0);
  if (t->kind == ACHAT_FRAMER_BYTES && t->length > 0)
    {
      i = 0;
      while (i + t->length <= n)
        {
          if (memcmp (s + i, t->bytes, t->length) == 0)
            {
              append_escaped (out, s + start, i - start);
              g_string_append_c (out, '|');
              i += t->length;
              start = i;
            }
          else
            i++;
        }
    }
  else if (t->kind == ACHAT_FRAMER_COUNT && t->count > 0 && t->count <= n)
    {
      append_escaped (out, s, (gsize) t->count);
      g_string_append_c (out, '|');
      start = (gsize) t->count;
    }
  append_escaped (out, s + start, n - start);
}

/* Runs one stream cut at the given points (0 <= cuts[i] <= n, sorted) and
 * leaves the result in d->messages. */
static void
run_cut (Driver       *d,
         const Term   *t,
         const guint8 *s,
         gsize         n,
         const gsize  *cuts,
         guint         n_cuts)
{
  gsize prev = 0;
  guint i;

  driver_reset (d);
  term_apply (t, &d->framer);
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : n;

      driver_feed (d, s + prev, end - prev);
      prev = end;
    }
  driver_flush (d);
}

static void
describe_cut (GString      *desc,
              const Term   *t,
              const guint8 *s,
              gsize         n,
              const gsize  *cuts,
              guint         n_cuts)
{
  gsize prev = 0;
  guint i;

  g_string_append (desc, "terminator ");
  describe_term (desc, t);
  g_string_append (desc, ", reads");
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : n;

      g_string_append (desc, " \"");
      append_escaped (desc, s + prev, end - prev);
      g_string_append_c (desc, '"');
      prev = end;
    }
}

static void
check_cut (Driver       *d,
           const Term   *t,
           const guint8 *s,
           gsize         n,
           const gsize  *cuts,
           guint         n_cuts,
           const gchar  *expected)
{
  run_cut (d, t, s, n, cuts, n_cuts);
  if (strcmp (d->messages->str, expected) != 0)
    {
      GString *desc = g_string_new (NULL);

      describe_cut (desc, t, s, n, cuts, n_cuts);
      g_test_message ("mismatch for %s", desc->str);
      g_string_free (desc, TRUE);
    }
  g_assert_cmpstr (d->messages->str, ==, expected);
  g_assert_cmpmem (d->recon->data, d->recon->len, s, n);
}

/* Every cut in one, two or three pieces (empty pieces included), plus
 * byte by byte. */
static void
check_all_cuts (Driver       *d,
                const Term   *t,
                const guint8 *s,
                gsize         n,
                GString      *expected)
{
  gsize cuts[256];
  gsize i, j;

  reference_split (s, n, t, expected);

  for (i = 0; i <= n; i++)
    for (j = i; j <= n; j++)
      {
        cuts[0] = i;
        cuts[1] = j;
        check_cut (d, t, s, n, cuts, 2, expected->str);
      }

  g_assert_cmpuint (n, <, G_N_ELEMENTS (cuts));
  for (i = 1; i < n; i++)
    cuts[i - 1] = i;
  check_cut (d, t, s, n, cuts, n > 0 ? (guint) n - 1 : 0, expected->str);
}

typedef struct
{
  const gchar *terminator;  /* NULL: a count */
  guint64 count;
  const gchar *alphabet;
  guint max_length;
} SplitCase;

static const SplitCase split_cases[] = {
  { "\n", 0, "\na", 10 },
  { "\r\n", 0, "\r\na", 8 },
  { "qqq", 0, "qd", 11 },
  { "qqq", 0, "qdx", 7 },
  { "aab", 0, "ab", 11 },
  { "aab", 0, "abx", 7 },
  { "abab", 0, "ab", 11 },
  { "abab", 0, "abx", 7 },
  { "\r\n.\r\n", 0, "\r\n.", 8 },
  { "\r\n.\r\n", 0, "\r\n.x", 6 },
  { "xyz", 0, "xyz", 7 },
  { "aaaa", 0, "ab", 10 },
  { "abaab", 0, "ab", 10 },
  { NULL, 1, "ab", 6 },
  { NULL, 3, "ab", 7 },
};

static void
test_split_exhaustive (void)
{
  Driver d;
  GString *expected = g_string_new (NULL);
  guint8 s[32];
  guint c;

  driver_init (&d, FALSE);

  for (c = 0; c < G_N_ELEMENTS (split_cases); c++)
    {
      const SplitCase *sc = &split_cases[c];
      Term t = sc->terminator ? term_bytes (sc->terminator)
                              : term_count (sc->count);
      guint a = (guint) strlen (sc->alphabet);
      guint n;

      for (n = 0; n <= sc->max_length; n++)
        {
          guint digits[32] = { 0 };

          /* Every string of length n over the alphabet. */
          for (;;)
            {
              guint k;

              for (k = 0; k < n; k++)
                s[k] = (guint8) sc->alphabet[digits[k]];
              check_all_cuts (&d, &t, s, n, expected);

              for (k = 0; k < n && ++digits[k] == a; k++)
                digits[k] = 0;
              if (k == n)
                break;
            }
        }
    }

  driver_clear (&d);
  g_string_free (expected, TRUE);
}

/* Longer hand-written streams, every two cut points. */
static void
test_split_streams (void)
{
  static const struct
  {
    const gchar *terminator;
    const gchar *stream;
  } cases[] = {
    { "\r\n", "GET / HTTP/1.0\r\nHost: x\r\n\r\nbody\r" },
    { "\r\n\r\n", "GET / HTTP/1.0\r\nHost: x\r\n\r\n\r\n\r\r\n\r\nz" },
    { "\r\n.\r\n", "line1\r\nline2\r\n.\r\nnext\r\n.\r\r\n.\r\n\r\n." },
    { "\r\n.\r\n", "\r\n.\r\n\r\n.\r\n.\r\n\r\n\r\n.\r\n" },
    { "qqq", "abcqqqdefqqqqqqqqqqqqqq" },
    { "aab", "aaabaabaaaabaaab" },
    { "abab", "abababababaababbabab" },
    { "abcabd", "abcabcabdabcababcabd" },
    { "xyz", "xxyyzzxyzxyxyzzyx" },
    { "\n", "\n\n\na\nbb\n\n" },
  };
  Driver d;
  GString *expected = g_string_new (NULL);
  guint i;

  driver_init (&d, FALSE);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Term t = term_bytes (cases[i].terminator);

      check_all_cuts (&d, &t, (const guint8 *) cases[i].stream,
                      strlen (cases[i].stream), expected);
    }
  driver_clear (&d);
  g_string_free (expected, TRUE);
}

/* ---------------------------------------------------------------------- */
/* Random terminator changes                                              */
/* ---------------------------------------------------------------------- */

typedef struct
{
  guint64 position;  /* stream position the change applies from */
  Term term;
  gboolean at_end;   /* made between two flushes */
  gboolean after_refusal;   /* made on a refused frame */
} Change;

typedef struct
{
  GRand *rand;
  GArray *changes;   /* of Change */
  guint changes_while_held;
  guint changes_at_end;   /* between two flushes, bytes still held */
  gconstpointer main_term;   /* the setting random text streams are made for */
} RandomRun;

static Term
random_term (GRand *rand)
{
  static const gchar *const fixed[] = {
    "\n", "\r\n", "ab", "aab", "abab", "\r\n\r\n", "a", "b\r", "\r\n.\r\n",
  };
  static const gchar alphabet[] = "ab\r\n";
  Term t;

  switch (g_rand_int_range (rand, 0, 8))
    {
    case 0: case 1: case 2:
      return term_bytes (fixed[g_rand_int_range (rand, 0,
                                                 (gint) G_N_ELEMENTS (fixed))]);
    case 3: case 4:
      {
        gint len = g_rand_int_range (rand, 1, 5);
        gint i;

        t = term_bytes ("");
        for (i = 0; i < len; i++)
          t.bytes[i] = (guint8) alphabet[g_rand_int_range (rand, 0, 4)];
        t.length = (gsize) len;
        return t;
      }
    case 5: case 6:
      return term_count ((guint64) g_rand_int_range (rand, 0, 9));
    default:
      return term_none ();
    }
}

static void
hook_random_change (Driver                 *d,
                    const AchatFramerEvent *ev)
{
  RandomRun *run = d->hook_data;
  Change change;

  if (g_rand_int_range (run->rand, 0, 3) != 0)
    return;
  if (achat_framer_get_held (&d->framer) > 0)
    run->changes_while_held++;
  change.position = d->delivered;
  change.at_end = d->at_end;
  change.after_refusal = ev->status != ACHAT_FRAMER_OK;
  change.term = random_term (run->rand);
  term_apply (&change.term, &d->framer);
  g_array_append_val (run->changes, change);
}

/* The same stream processed by position: a change recorded at position P
 * applies to the bytes from P on (held bytes are reprocessed), the terminator
 * in force before it to the bytes before P.  A terminator the reference
 * finds that straddles or skips a recorded change means the engine
 * delivered data past a terminator. */
static void
reference_with_changes (const guint8 *s,
                        gsize         n,
                        const Term   *initial,
                        const Change *changes,
                        guint         n_changes,
                        GString      *out)
{
  Term cur = *initial;
  guint64 left = cur.kind == ACHAT_FRAMER_COUNT ? cur.count : 0;
  gsize pos = 0;
  guint ci = 0;

  g_string_truncate (out, 0);
  for (;;)
    {
      gsize limit;

      while (ci < n_changes && changes[ci].position == pos)
        {
          cur = changes[ci].term;
          left = cur.kind == ACHAT_FRAMER_COUNT ? cur.count : 0;
          ci++;
        }
      if (ci < n_changes && (changes[ci].position < pos ||
                             changes[ci].position > n))
        {
          g_string_append (out, "<change at an impossible position>");
          return;
        }
      limit = ci < n_changes ? (gsize) changes[ci].position : n;
      if (pos == n && limit == n && ci == n_changes)
        break;

      if (cur.kind == ACHAT_FRAMER_BYTES && cur.length > 0)
        {
          gsize i;
          gboolean found = FALSE;

          for (i = pos; i < limit && i + cur.length <= n; i++)
            if (memcmp (s + i, cur.bytes, cur.length) == 0)
              {
                found = TRUE;
                break;
              }
          if (found)
            {
              append_escaped (out, s + pos, i - pos);
              g_string_append_c (out, '|');
              pos = i + cur.length;
              continue;
            }
        }
      else if (cur.kind == ACHAT_FRAMER_COUNT && left > 0 &&
               left <= limit - pos)
        {
          append_escaped (out, s + pos, (gsize) left);
          g_string_append_c (out, '|');
          pos += (gsize) left;
          left = 0;
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_COUNT && left > 0)
        left -= limit - pos;

      append_escaped (out, s + pos, limit - pos);
      pos = limit;
    }
}


/* Sorted cut points for a random input of @n bytes: empty pieces
 * allowed; sometimes byte by byte. Returns how many. */
static guint
random_cuts (GRand *rand,
             gsize  n,
             gsize *cuts)
{
  guint n_cuts = 0;
  gsize i, prev = 0;

  if (g_rand_int_range (rand, 0, 8) == 0)
    for (i = 1; i < n; i++)
      cuts[n_cuts++] = i;
  else
    {
      guint k = (guint) g_rand_int_range (rand, 0, 8);

      while (k-- > 0)
        {
          prev = (gsize) g_rand_int_range (rand, (gint) prev, (gint) n + 1);
          cuts[n_cuts++] = prev;
        }
    }
  return n_cuts;
}

/* A failed random run, for the test log. */
static void
describe_run (GString      *desc,
              const Term   *initial,
              const guint8 *s,
              gsize         n,
              const gsize  *cuts,
              guint         n_cuts,
              GArray       *changes)
{
  guint c;

  describe_cut (desc, initial, s, n, cuts, n_cuts);
  for (c = 0; c < changes->len; c++)
    {
      const Change *ch = &g_array_index (changes, Change, c);

      g_string_append_printf (desc, "; at %" G_GUINT64_FORMAT " ", ch->position);
      describe_term (desc, &ch->term);
    }
}

static void
test_random_changes (void)
{
  static const gchar alphabet[] = "ab\r\n";
  GRand *rand = g_rand_new_with_seed (0x61636861);  /* "acha" */
  RandomRun run;
  Driver d;
  GString *expected = g_string_new (NULL);
  guint iterations = g_test_thorough () ? 400000 : 40000;
  guint it;

  run.rand = rand;
  run.changes = g_array_new (FALSE, FALSE, sizeof (Change));
  run.changes_while_held = 0;
  run.changes_at_end = 0;
  driver_init (&d, FALSE);

  for (it = 0; it < iterations; it++)
    {
      guint8 s[96];
      gsize cuts[96];
      guint n_cuts = 0;
      gsize n = (gsize) g_rand_int_range (rand, 0, 80);
      Term initial = random_term (rand);
      gsize i, prev = 0;

      for (i = 0; i < n; i++)
        s[i] = (guint8) alphabet[g_rand_int_range (rand, 0, 4)];
      n_cuts = random_cuts (rand, n, cuts);

      driver_reset (&d);
      g_array_set_size (run.changes, 0);
      term_apply (&initial, &d.framer);
      d.hook = hook_random_change;
      d.hook_data = &run;
      prev = 0;
      for (i = 0; i <= n_cuts; i++)
        {
          gsize end = i < n_cuts ? cuts[i] : n;

          driver_feed (&d, s + prev, end - prev);
          prev = end;
        }
      driver_flush (&d);

      /* Every byte exactly once, in order. */
      g_assert_cmpmem (d.recon->data, d.recon->len, s, n);

      reference_with_changes (s, n, &initial,
                              (const Change *) (gpointer) run.changes->data,
                              run.changes->len, expected);
      if (strcmp (d.messages->str, expected->str) != 0)
        {
          GString *desc = g_string_new (NULL);

          describe_run (desc, &initial, s, n, cuts, n_cuts, run.changes);
          g_test_message ("iteration %u: %s", it, desc->str);
          g_string_free (desc, TRUE);
        }
      g_assert_cmpstr (d.messages->str, ==, expected->str);
    }

  /* The interesting case, held bytes reprocessed under a new terminator,
   * really happened. */
  g_test_message ("%u changes while bytes were held", run.changes_while_held);
  g_assert_cmpuint (run.changes_while_held, >, iterations / 20);

  driver_clear (&d);
  g_array_unref (run.changes);
  g_string_free (expected, TRUE);
  g_rand_free (rand);
}

/* ---------------------------------------------------------------------- */
/* A reference for every kind                                             */
/* ---------------------------------------------------------------------- */

/* The payload length of a length header (wide arithmetic, not the engine's):
 * 1 and *length, or 0 with *status for a refused header. */
static gboolean
reference_frame_length (const Term        *t,
                        const guint8      *header,
                        guint64           *length,
                        AchatFramerStatus *status)
{
  guint64 raw = 0;
  guint i;

  for (i = 0; i < t->header_size; i++)
    raw |= (guint64) header[i] << (8 * (t->big_endian ? t->header_size - 1 - i : i));

#ifdef __SIZEOF_INT128__
  {
    __int128 v = (__int128) raw + t->adjustment;

    if (v < 0)
      {
        *status = ACHAT_FRAMER_FRAME_INVALID;
        *length = 0;
        return FALSE;
      }
    if (v > (__int128) G_MAXUINT64)
      {
        *status = ACHAT_FRAMER_FRAME_TOO_LONG;
        *length = G_MAXUINT64;
        return FALSE;
      }
    *length = (guint64) v;
  }
#else
  if (t->adjustment < 0 && raw < (guint64) 0 - (guint64) t->adjustment)
    {
      *status = ACHAT_FRAMER_FRAME_INVALID;
      *length = 0;
      return FALSE;
    }
  if (t->adjustment > 0 && raw + (guint64) t->adjustment < raw)
    {
      *status = ACHAT_FRAMER_FRAME_TOO_LONG;
      *length = G_MAXUINT64;
      return FALSE;
    }
  *length = raw + (guint64) t->adjustment;
#endif
  if (t->max_length != 0 && *length > t->max_length)
    {
      *status = ACHAT_FRAMER_FRAME_TOO_LONG;
      return FALSE;
    }
  *status = ACHAT_FRAMER_OK;
  return TRUE;
}

static void
reference_refused (GString           *out,
                   AchatFramerStatus  status,
                   guint64            length)
{
  if (status == ACHAT_FRAMER_FRAME_TOO_LONG)
    {
      g_string_append (out, "!too-long ");
      append_uint (out, length);
      g_string_append_c (out, '|');
    }
  else if (status == ACHAT_FRAMER_BAD_TRAILER)
    g_string_append (out, "!bad-trailer|");
  else
    g_string_append (out, "!invalid|");
}

typedef enum
{
  REF_TEXT_COMPLETE,
  REF_TEXT_CUT,       /* cut by the end of the stream */
  REF_TEXT_INVALID,
} RefText;

/* A text header at the start of @s (@n bytes: the rest of the stream):
 * its length, and the payload length in *@value, with *@status (OK or too
 * long, UINT64_MAX when the number does not fit in 64 bits). Written
 * independently of the engine: digits first, then the number in wide
 * arithmetic. */
static RefText
reference_text_header (const Term        *t,
                       const guint8      *s,
                       gsize              n,
                       gsize             *header_len,
                       guint64           *value,
                       AchatFramerStatus *status)
{
  gsize digits = 0, i;
  gboolean over = FALSE;
  guint64 v = 0;

  while (digits < n && text_digit (s[digits], t->radix) >= 0)
    digits++;
  if (digits > text_max_digits (t->radix))
    return REF_TEXT_INVALID;
  if (digits == n)
    return REF_TEXT_CUT;
  if (digits == 0)
    return REF_TEXT_INVALID;
  for (i = 0; i < t->sep_len; i++)
    {
      if (digits + i == n)
        return REF_TEXT_CUT;
      if (s[digits + i] != t->sep[i])
        return REF_TEXT_INVALID;
    }
  for (i = 0; i < digits; i++)
    {
      guint64 d = (guint64) text_digit (s[i], t->radix);

      if (v > G_MAXUINT64 / t->radix || v * t->radix > G_MAXUINT64 - d)
        over = TRUE;
      else
        v = v * t->radix + d;
    }
  *header_len = digits + t->sep_len;
  *value = over ? G_MAXUINT64 : v;
  *status = over || (t->max_length != 0 && v > t->max_length) ?
            ACHAT_FRAMER_FRAME_TOO_LONG : ACHAT_FRAMER_OK;
  return REF_TEXT_COMPLETE;
}

/* At position q of the whole stream, several (or one) terminators: the
 * index of the longest that matches (the first of equal ones), or -1. One
 * cut by the end of the stream does not match: nothing can complete it
 * (the engine holds it undecided until the end, then resolves it). */
static gint
reference_match_at (const guint8 *s,
                    gsize         n,
                    gsize         q,
                    const Term   *t)
{
  guint n_terms = t->n_multi > 1 ? t->n_multi : 1;
  gint best = -1;
  guint i;

  for (i = 0; i < n_terms; i++)
    {
      const guint8 *tb = t->n_multi > 1 ? t->multi[i] : t->bytes;
      gsize tl = t->n_multi > 1 ? t->multi_len[i] : t->length;
      gsize best_len = best < 0 ? 0 : t->n_multi > 1 ? t->multi_len[best] : t->length;

      if (q + tl <= n && memcmp (s + q, tb, tl) == 0 &&
          (best < 0 || tl > best_len))
        best = (gint) i;
    }
  return best;
}

/* The whole stream, every kind, with the changes made at stream positions
 * (as reference_with_changes(); none for a fixed setting):
 *
 *  - bytes terminators: at the first position where some terminator
 *    matches, the longest one (one cut by the end of the stream does not
 *    match: the end of the stream decides);
 *  - a change made between two flushes to anything but bytes terminators:
 *    the rest is data (achat_framer_flush() frames nothing else);
 *  - length-prefixed frames: a header, then its payload and "|"; a refused
 *    header "!...|" and nothing framed until the next change, which must be
 *    right after the header; a partial header or payload at the end is
 *    data.
 *
 * Several terminators show the index of the one found: "|#1". */
static void
reference_general (const guint8 *s,
                   gsize         n,
                   const Term   *initial,
                   const Change *changes,
                   guint         n_changes,
                   GString      *out)
{
  Term cur = *initial;
  guint64 left = cur.kind == ACHAT_FRAMER_COUNT ? cur.count : 0;
  gboolean in_payload = FALSE, in_trailer = FALSE, refused = FALSE;
  gsize pos = 0;
  guint ci = 0;

  g_string_truncate (out, 0);
  for (;;)
    {
      gsize limit;
      gboolean last;

      gboolean plain_at_end = FALSE;

      while (ci < n_changes && changes[ci].position == pos)
        {
          if (changes[ci].after_refusal && !refused)
            {
              /* Refused where it stands, consuming nothing: a text
               * header that is not one, a trailer wrong from its first
               * byte. */
              gsize header_len;
              guint64 length;
              AchatFramerStatus status;

              if (in_trailer && pos < n && s[pos] != cur.trailer[0])
                reference_refused (out, ACHAT_FRAMER_BAD_TRAILER, 0);
              else if (!in_trailer && !in_payload && cur.kind == ACHAT_FRAMER_LENGTH &&
                       cur.radix != 0 &&
                       reference_text_header (&cur, s + pos, n - pos, &header_len, &length,
                                              &status) == REF_TEXT_INVALID)
                reference_refused (out, ACHAT_FRAMER_FRAME_INVALID, 0);
              else
                g_string_append (out, "<refusal expected>");
            }
          cur = changes[ci].term;
          left = cur.kind == ACHAT_FRAMER_COUNT ? cur.count : 0;
          in_payload = in_trailer = refused = FALSE;
          plain_at_end = changes[ci].at_end &&
                         !(cur.kind == ACHAT_FRAMER_BYTES && cur.length > 0);
          ci++;
        }
      if (ci < n_changes && (changes[ci].position < pos ||
                             changes[ci].position > n))
        {
          g_string_append (out, "<change at an impossible position>");
          return;
        }
      if (plain_at_end)
        {
          /* Only a change to bytes terminators can follow (the rest comes
           * out in one flush). */
          if (ci < n_changes && changes[ci].position < n)
            {
              g_string_append (out, "<change inside a flush of data>");
              return;
            }
          append_escaped (out, s + pos, n - pos);
          break;
        }
      last = ci == n_changes;
      limit = last ? n : (gsize) changes[ci].position;
      if (pos == n && last)
        break;

      if (cur.kind == ACHAT_FRAMER_BYTES && cur.length > 0)
        {
          gsize q;
          gint found = -1;

          for (q = pos; q < limit; q++)
            {
              found = reference_match_at (s, n, q, &cur);
              if (found >= 0)
                break;
            }
          if (found >= 0)
            {
              append_escaped (out, s + pos, q - pos);
              g_string_append_c (out, '|');
              if (cur.n_multi > 1)
                {
                  g_string_append_c (out, '#');
                  append_uint (out, (guint64) found);
                }
              pos = q + (cur.n_multi > 1 ? cur.multi_len[found] : cur.length);
              continue;
            }
        }
      else if (cur.kind == ACHAT_FRAMER_COUNT && left > 0)
        {
          gsize take = (gsize) MIN (left, (guint64) (limit - pos));

          append_escaped (out, s + pos, take);
          pos += take;
          left -= take;
          if (left == 0)
            {
              g_string_append_c (out, '|');
              continue;
            }
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && refused)
        {
          /* Nothing moves until a new setting, which comes right after the
           * header. */
          if (!last)
            {
              g_string_append (out, "<change past a refused frame>");
              return;
            }
          append_escaped (out, s + pos, n - pos);
          break;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && in_payload)
        {
          gsize take = (gsize) MIN (left, (guint64) (limit - pos));

          append_escaped (out, s + pos, take);
          pos += take;
          left -= take;
          if (left == 0)
            {
              /* A text frame ends with its trailer. */
              if (cur.trailer_len > 0)
                in_trailer = TRUE;
              else
                g_string_append_c (out, '|');
              in_payload = FALSE;
            }
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && in_trailer)
        {
          gsize j;

          /* Matched byte by byte (never held): a trailer cut by the end
           * of the stream is consumed and ends nothing; a wrong byte is
           * refused, after the matched part. No change can come inside. */
          for (j = 0; j < cur.trailer_len; j++)
            {
              if (pos + j == n || s[pos + j] != cur.trailer[j])
                break;
              if (pos + j == limit && !last)
                {
                  g_string_append (out, "<change inside a trailer>");
                  return;
                }
            }
          pos += j;
          in_trailer = FALSE;
          if (j == cur.trailer_len)
            g_string_append_c (out, '|');
          else if (pos < n)
            {
              reference_refused (out, ACHAT_FRAMER_BAD_TRAILER, 0);
              refused = TRUE;
            }
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH && cur.radix != 0)
        {
          AchatFramerStatus status = ACHAT_FRAMER_OK;
          guint64 length = 0;
          gsize header_len = 0;

          switch (reference_text_header (&cur, s + pos, n - pos, &header_len,
                                         &length, &status))
            {
            case REF_TEXT_CUT:
              /* A partial header is held: no change can split it. */
              if (!last)
                {
                  g_string_append (out, "<change inside a header>");
                  return;
                }
              append_escaped (out, s + pos, n - pos);
              pos = n;
              break;
            case REF_TEXT_INVALID:
              /* Nothing of it consumed. */
              reference_refused (out, ACHAT_FRAMER_FRAME_INVALID, 0);
              refused = TRUE;
              break;
            case REF_TEXT_COMPLETE:
            default:
              if (pos + header_len > limit)
                {
                  g_string_append (out, "<change inside a header>");
                  return;
                }
              pos += header_len;
              if (status != ACHAT_FRAMER_OK)
                {
                  reference_refused (out, status, length);
                  refused = TRUE;
                }
              else if (length > 0)
                {
                  in_payload = TRUE;
                  left = length;
                }
              else if (cur.trailer_len > 0)
                in_trailer = TRUE;
              else
                g_string_append_c (out, '|');
              break;
            }
          if (pos == n && last)
            break;
          continue;
        }
      else if (cur.kind == ACHAT_FRAMER_LENGTH)
        {
          AchatFramerStatus status;
          guint64 length;

          if (limit - pos < cur.header_size)
            {
              /* A partial header is held: no change can split it. */
              if (!last)
                {
                  g_string_append (out, "<change inside a header>");
                  return;
                }
              append_escaped (out, s + pos, n - pos);
              break;
            }
          if (!reference_frame_length (&cur, s + pos, &length, &status))
            {
              reference_refused (out, status, length);
              refused = TRUE;
            }
          else if (length == 0)
            g_string_append_c (out, '|');
          else
            {
              in_payload = TRUE;
              left = length;
            }
          pos += cur.header_size;
          continue;
        }

      /* No terminator before the next change (or the end): all data. */
      append_escaped (out, s + pos, limit - pos);
      pos = limit;
    }
}

/* ---------------------------------------------------------------------- */
/* Every split into reads                                                 */
/* ---------------------------------------------------------------------- */

/* Feeds s cut at the given points (each piece non-empty, or with an empty
 * read after every piece) and flushes. */
static void
run_pieces (Driver       *d,
            const Term   *t,
            EventHook     hook,
            gpointer      hook_data,
            const guint8 *s,
            gsize         n,
            const gsize  *cuts,
            guint         n_cuts,
            gboolean      empty_reads)
{
  gsize prev = 0;
  guint i;

  driver_reset (d);
  term_apply (t, &d->framer);
  d->hook = hook;
  d->hook_data = hook_data;
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : n;

      driver_feed (d, s + prev, end - prev);
      if (empty_reads)
        driver_feed (d, s + end, 0);
      prev = end;
    }
  driver_flush (d);
}

/* Every composition of s (2^(n-1) ways of cutting it in non-empty reads),
 * and byte by byte with an empty read after each byte, against @expected. */
static void
check_all_compositions (Driver       *d,
                        const Term   *t,
                        EventHook     hook,
                        gpointer      hook_data,
                        const guint8 *s,
                        gsize         n,
                        const gchar  *expected)
{
  gsize cuts[32];
  guint32 mask, n_masks;

  g_assert_cmpuint (n, <=, 24);
  n_masks = n > 0 ? 1u << (n - 1) : 1;
  for (mask = 0; mask <= n_masks; mask++)
    {
      guint n_cuts = 0;
      gsize i;

      /* The last round: byte by byte, with empty reads. */
      for (i = 1; i < n; i++)
        if (mask == n_masks || (mask >> (i - 1)) & 1)
          cuts[n_cuts++] = i;
      run_pieces (d, t, hook, hook_data, s, n, cuts, n_cuts, mask == n_masks);
      if (strcmp (d->messages->str, expected) != 0)
        {
          GString *desc = g_string_new (NULL);

          describe_cut (desc, t, s, n, cuts, n_cuts);
          g_test_message ("mismatch for %s", desc->str);
          g_string_free (desc, TRUE);
        }
      g_assert_cmpstr (d->messages->str, ==, expected);
    }
}

/* Every string of up to @max_length bytes over @alphabet (length
 * @alphabet_len, NULs allowed), each over every composition, against the
 * reference. */
static void
check_exhaustive (Driver       *d,
                  const Term   *t,
                  const guint8 *alphabet,
                  guint         alphabet_len,
                  guint         max_length,
                  GString      *expected)
{
  guint8 s[32];
  guint n;

  for (n = 0; n <= max_length; n++)
    {
      guint digits[32] = { 0 };

      for (;;)
        {
          guint k;

          for (k = 0; k < n; k++)
            s[k] = alphabet[digits[k]];
          reference_general (s, n, t, NULL, 0, expected);
          check_all_compositions (d, t, NULL, NULL, s, n, expected->str);

          for (k = 0; k < n && ++digits[k] == alphabet_len; k++)
            digits[k] = 0;
          if (k == n)
            break;
        }
    }
}

/* Random longer strings (up to 12 bytes) over every composition. */
static void
check_random_long (Driver       *d,
                   const Term   *t,
                   GRand        *rand,
                   const guint8 *alphabet,
                   guint         alphabet_len,
                   guint         n_strings,
                   GString      *expected)
{
  guint i;

  for (i = 0; i < n_strings; i++)
    {
      guint8 s[16];
      gsize n = (gsize) g_rand_int_range (rand, 8, 13);
      gsize k;

      for (k = 0; k < n; k++)
        s[k] = alphabet[g_rand_int_range (rand, 0, (gint) alphabet_len)];
      reference_general (s, n, t, NULL, 0, expected);
      check_all_compositions (d, t, NULL, NULL, s, n, expected->str);
    }
}


/* ---------------------------------------------------------------------- */
/* Edge cases                                                             */
/* ---------------------------------------------------------------------- */

static void
hook_after_first_collect (Driver                 *d,
                          const AchatFramerEvent *ev)
{
  const Term *next = d->hook_data;

  if (d->n_events == 1 && next != NULL)
    term_apply (next, &d->framer);
}

static void
test_shorter_terminator_while_held (void)
{
  Term dot = term_bytes ("\r\n.\r\n");
  Term lf = term_bytes ("\n");
  Term lfdot = term_bytes ("\n.");
  Term x = term_bytes ("x");
  Term count2 = term_count (2);
  Term none = term_none ();
  Term longer = term_bytes ("\r\n.\r\n.");
  Driver d;
  gchar *got;

  /* Between inputs: "\r\n." is held, the new terminator is inside it. */
  driver_init (&d, TRUE);
  term_apply (&dot, &d.framer);
  got = run_reads (&d, READS ("abc\r\n."), FALSE);
  g_assert_cmpstr (got, ==, "c(abc)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 3);
  g_free (got);
  term_apply (&lf, &d.framer);
  got = run_reads (&d, READS ("x"), TRUE);
  g_assert_cmpstr (got, ==, "c(abc) c(\\r) T c(.) c(x)");
  g_free (got);
  driver_clear (&d);

  /* The held bytes are reprocessed even with no further input. */
  driver_init (&d, TRUE);
  term_apply (&dot, &d.framer);
  driver_feed (&d, (const guint8 *) "abc\r\n.", 6);
  term_apply (&lf, &d.framer);
  driver_feed (&d, NULL, 0);
  g_assert_cmpstr (d.render->str, ==, "c(abc) c(\\r) T c(.)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(abc) c(\\r) T c(.)");
  driver_clear (&d);

  /* Changed from the collect event itself, inside one input. */
  check_reads (&dot, READS ("abc\r\n.", "x\n"), TRUE,
               hook_after_first_collect, &lf,
               "c(abc) c(\\r) T c(.) c(x) T");
  check_reads (&dot, READS ("abc\r\n."), TRUE,
               hook_after_first_collect, &lfdot, "c(abc) c(\\r) T");
  /* The new terminator is nowhere in the held bytes: they are data. */
  check_reads (&dot, READS ("abc\r\n.", "yx"), TRUE,
               hook_after_first_collect, &x, "c(abc) c(\\r\\n.) c(y) T");
  /* Held bytes under a count: the count fires inside them. */
  check_reads (&dot, READS ("abc\r\n.", "yz"), TRUE,
               hook_after_first_collect, &count2,
               "c(abc) c(\\r\\n) T c(.) c(yz)");
  check_reads (&dot, READS ("abc\r\n.", "yz"), TRUE,
               hook_after_first_collect, &none, "c(abc) c(\\r\\n.) c(yz)");
  /* A longer terminator keeps matching across the held bytes. */
  check_reads (&dot, READS ("abc\r\n.", "\r\n.z"), TRUE,
               hook_after_first_collect, &longer, "c(abc) T c(z)");
  check_reads (&dot, READS ("abc\r\n.", "\r\n", ".z"), TRUE,
               hook_after_first_collect, &longer, "c(abc) T c(z)");
  /* Shortened while a four-byte prefix is held, fed byte by byte. */
  check_reads (&dot, READS ("x\r\n.\r", "", "\n."), TRUE,
               hook_after_first_collect, &lfdot, "c(x) c(\\r) T c(\\r) T");
}

static void
test_count_larger_than_input (void)
{
  Term t = term_count (10);
  Driver d;
  gchar *got;

  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  got = run_reads (&d, READS ("abc", "def"), FALSE);
  g_assert_cmpstr (got, ==, "c(abc) c(def)");
  g_assert_cmpuint (d.framer.count, ==, 4);
  g_free (got);
  got = run_reads (&d, READS ("wxyz"), FALSE);
  g_assert_cmpstr (got, ==, "c(abc) c(def) c(wxyz) T");
  g_assert_cmpuint (d.framer.count, ==, 0);
  g_free (got);
  got = run_reads (&d, READS ("z"), TRUE);
  g_assert_cmpstr (got, ==, "c(abc) c(def) c(wxyz) T c(z)");
  g_free (got);
  driver_clear (&d);

  /* Count equal to the input; count of one. */
  t = term_count (3);
  check_reads (&t, READS ("abc"), TRUE, NULL, NULL, "c(abc) T");
  t = term_count (1);
  check_reads (&t, READS ("abc"), TRUE, NULL, NULL, "c(a) T c(bc)");
  check_reads (&t, READS ("", "a"), TRUE, NULL, NULL, "c(a) T");
}

static void
test_huge_count (void)
{
  Term t = term_count (G_MAXUINT64);
  Driver d;
  guint8 *buf = g_malloc (65536);
  guint64 total = 0;
  guint i;

  memset (buf, '\n', 65536);
  driver_init (&d, FALSE);
  term_apply (&t, &d.framer);
  for (i = 0; i < 32; i++)
    {
      driver_feed (&d, buf, 65536);
      total += 65536;
      g_assert_cmpuint (d.framer.count, ==, G_MAXUINT64 - total);
    }
  g_assert_cmpuint (d.n_terminators, ==, 0);
  g_assert_cmpuint (d.delivered, ==, total);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  driver_clear (&d);
  g_free (buf);

  /* A count one more than what arrives never fires. */
  t = term_count (7);
  check_reads (&t, READS ("abc", "def"), TRUE, NULL, NULL, "c(abc) c(def)");
}

static void
test_discard (void)
{
  Term t = term_bytes ("\r\n");
  Term t2 = term_bytes ("qqq");
  Driver d;

  driver_init (&d, TRUE);
  term_apply (&t, &d.framer);
  d.lossy = TRUE;
  driver_feed (&d, (const guint8 *) "abc\r", 4);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  achat_framer_discard (&d.framer);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  /* The "\r" is gone: the "\n" does not complete a terminator. */
  driver_feed (&d, (const guint8 *) "\nx\r\n", 4);
  g_assert_cmpstr (d.render->str, ==, "c(abc) c(\\nx) T");
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(abc) c(\\nx) T");
  driver_clear (&d);

  driver_init (&d, TRUE);
  term_apply (&t2, &d.framer);
  d.lossy = TRUE;
  driver_feed (&d, (const guint8 *) "qq", 2);
  achat_framer_discard (&d.framer);
  driver_feed (&d, (const guint8 *) "q", 1);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(q)");
  g_assert_cmpuint (d.n_terminators, ==, 0);
  driver_clear (&d);
}

static void
test_from_input (void)
{
  AchatFramer f;
  AchatFramerEvent ev;
  const guint8 *in = (const guint8 *) "abc\r\ndef\r";
  const guint8 *in2 = (const guint8 *) "xyz\n";
  gsize consumed;

  achat_framer_init (&f);
  achat_framer_set_bytes (&f, (const guint8 *) "\r\n", 2);

  /* Straight from the input: data points into it. */
  consumed = achat_framer_next (&f, in, 9, &ev);
  g_assert_cmpuint (consumed, ==, 5);
  g_assert_true (ev.from_input);
  g_assert_true (ev.data == in);
  g_assert_cmpuint (ev.length, ==, 3);
  g_assert_true (ev.terminator);

  consumed = achat_framer_next (&f, in + 5, 4, &ev);
  g_assert_cmpuint (consumed, ==, 4);
  g_assert_true (ev.from_input);
  g_assert_true (ev.data == in + 5);
  g_assert_cmpmem (ev.data, ev.length, "def", 3);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 1);

  consumed = achat_framer_next (&f, in + 9, 0, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  g_assert_false (ev.from_input);

  /* The held "\r" comes from the framer's storage, not the input. */
  consumed = achat_framer_next (&f, in2, 4, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_false (ev.from_input);
  g_assert_cmpmem (ev.data, ev.length, "\r", 1);
  g_assert_false (ev.terminator);
  g_assert_false (ranges_overlap (ev.data, ev.length, in2, 4));
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);

  consumed = achat_framer_next (&f, in2, 4, &ev);
  g_assert_cmpuint (consumed, ==, 4);
  g_assert_true (ev.from_input);
  g_assert_true (ev.data == in2);
  g_assert_cmpuint (ev.length, ==, 4);

  /* A terminator completed by the input: consumed counts only its tail. */
  achat_framer_set_bytes (&f, (const guint8 *) "\r\n.\r\n", 5);
  consumed = achat_framer_next (&f, (const guint8 *) "A\r\n", 3, &ev);
  g_assert_cmpuint (consumed, ==, 3);
  g_assert_cmpmem (ev.data, ev.length, "A", 1);
  g_assert_true (ev.from_input);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 2);
  consumed = achat_framer_next (&f, (const guint8 *) ".\r\nB", 4, &ev);
  g_assert_cmpuint (consumed, ==, 3);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_null (ev.data);
  g_assert_true (ev.terminator);
  g_assert_false (ev.from_input);

  /* Count events come from the input too. */
  achat_framer_set_count (&f, 2);
  consumed = achat_framer_next (&f, in, 9, &ev);
  g_assert_cmpuint (consumed, ==, 2);
  g_assert_true (ev.from_input);
  g_assert_true (ev.data == in);
  g_assert_true (ev.terminator);

  achat_framer_clear (&f);
  /* Cleared: back to no terminator, nothing held. */
  g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_NONE);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  achat_framer_clear (&f);
}

static void
test_terminator_is_copied (void)
{
  guint8 term[3] = { 'a', 'b', 'c' };
  Driver d;

  driver_init (&d, TRUE);
  achat_framer_set_bytes (&d.framer, term, 3);
  memset (term, 'z', sizeof term);
  driver_feed (&d, (const guint8 *) "1abc2zzz", 8);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(1) T c(2zzz)");
  /* Setting the framer's own terminator again is harmless. */
  achat_framer_set_bytes (&d.framer, d.framer.term, d.framer.term_len);
  driver_feed (&d, (const guint8 *) "abc", 3);
  g_assert_cmpstr (d.render->str, ==, "c(1) T c(2zzz) T");
  driver_clear (&d);
}

/* How long a linear pass over a MiB may take: generous (a quadratic engine
 * would take minutes), and more so under a memory checker. */
static gint64
linear_time_limit (void)
{
  return (g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 60 : 5) * G_USEC_PER_SEC;
}

/* 1 MiB without a terminator, made of its longest proper prefix over and
 * over: the engine keeps at most term_len - 1 bytes, whatever the reads. */
static void
check_linear (gsize piece)
{
  const gsize total = 1024 * 1024;
  static const gchar pattern[] = "\r\n.\r";
  guint8 *buf = g_malloc (total);
  Driver d;
  gsize i;
  gint64 start = g_get_monotonic_time ();

  for (i = 0; i < total; i++)
    buf[i] = (guint8) pattern[i % 4];

  driver_init (&d, FALSE);
  achat_framer_set_bytes (&d.framer, (const guint8 *) "\r\n.\r\n", 5);
  for (i = 0; i < total; i += piece)
    {
      driver_feed (&d, buf + i, MIN (piece, total - i));
      g_assert_cmpuint (achat_framer_get_held (&d.framer), <=, 4);
    }
  g_assert_cmpuint (d.max_held, ==, 4);
  g_assert_cmpuint (d.n_terminators, ==, 0);
  driver_flush (&d);
  g_assert_cmpmem (d.recon->data, d.recon->len, buf, total);
  g_assert_cmpint (g_get_monotonic_time () - start, <, linear_time_limit ());

  driver_clear (&d);
  g_free (buf);
}

static void
test_linear_1 (void)
{
  check_linear (1);
}

static void
test_linear_4k (void)
{
  check_linear (4096);
}

/* ---------------------------------------------------------------------- */

/* Stopping after any event and holding the rest of the input back gives
 * the same messages as framing straight through: what a channel does when
 * a handler pauses input in the middle of a read. */
static void
frame_all (AchatFramer  *framer,
           const guint8 *input,
           gsize         length,
           guint         stop_every,
           guint        *n_events,
           GString      *out)
{
  gsize pos = 0;

  for (;;)
    {
      AchatFramerEvent event;

      pos += achat_framer_next (framer, input ? input + pos : NULL, length - pos, &event);
      if (event.length == 0 && !event.terminator)
        break;
      g_string_append_len (out, (const gchar *) event.data, event.length);
      if (event.terminator)
        g_string_append_c (out, '|');
      if (stop_every != 0 && ++*n_events % stop_every == 0)
        {
          achat_framer_hold_input (framer, input ? input + pos : NULL, length - pos);
          /* Resume: the held bytes first, with no new input. */
          frame_all (framer, NULL, 0, 0, n_events, out);
          return;
        }
    }
}

/* End of stream: every flush event, as frame_all() renders them. */
static void
flush_all (AchatFramer *framer,
           GString     *out)
{
  AchatFramerEvent event;

  while (achat_framer_flush (framer, &event))
    {
      g_string_append_len (out, (const gchar *) event.data, event.length);
      if (event.terminator)
        g_string_append_c (out, '|');
    }
}

/* The messages framed from what @f holds, as "T(...)" and "c(...)". */
static gchar *
frame_held (AchatFramer *f)
{
  GString *out = g_string_new (NULL);
  AchatFramerEvent ev;

  for (;;)
    {
      achat_framer_next (f, NULL, 0, &ev);
      if (ev.length == 0 && !ev.terminator)
        break;
      g_string_append_printf (out, "%s(%.*s) ", ev.terminator ? "T" : "c",
                              (int) ev.length, (const gchar *) ev.data);
    }
  return g_string_free (out, FALSE);
}

/* Bytes put back in front of the held ones are framed first, whether they
 * fit in the consumed prefix of the storage or the held bytes must move;
 * the terminator set between is the one that frames them. */
static void
test_unread (void)
{
  static const gchar stream[] = "ab;cd\nef;gh\n";
  gsize k;

  for (k = 0; k <= strlen (stream); k++)
    {
      AchatFramer f;
      g_autofree gchar *got = NULL;

      achat_framer_init (&f);
      achat_framer_set_bytes (&f, (const guint8 *) "\n", 1);
      achat_framer_hold_input (&f, (const guint8 *) stream + k, strlen (stream) - k);
      achat_framer_set_bytes (&f, (const guint8 *) ";", 1);
      achat_framer_unread (&f, (const guint8 *) stream, k);
      g_assert_cmpuint (achat_framer_get_held (&f), ==, strlen (stream));
      got = frame_held (&f);
      g_assert_cmpstr (got, ==, "T(ab) T(cd\nef) c(gh\n) ");
      achat_framer_clear (&f);
    }

  {
    AchatFramer f;
    AchatFramerEvent ev;
    g_autofree gchar *got = NULL;
    static const guint8 frame[] = { 1, 5, 'h', 'e', 'l', 'l', 'o', '\n' };

    /* In the middle of a length-prefixed payload: the header goes back
     * too, and a new terminator frames the whole. */
    achat_framer_init (&f);
    achat_framer_set_length (&f, 2, true, -256, 0);   /* 0x0105 - 256: 5 */
    achat_framer_next (&f, frame, 4, &ev);    /* the header, "he" */
    g_assert_cmpuint (ev.length, ==, 2);
    g_assert_false (ev.terminator);
    achat_framer_hold_input (&f, frame + 4, sizeof frame - 4);
    achat_framer_unread (&f, ev.data, ev.length);
    achat_framer_set_bytes (&f, (const guint8 *) "\n", 1);
    g_assert_cmpuint (achat_framer_get_held (&f), ==, sizeof frame);
    got = frame_held (&f);
    g_assert_cmpstr (got, ==, "T(\x01\x05hello) ");
    achat_framer_clear (&f);
  }

  {
    AchatFramer f;
    AchatFramerEvent ev;
    g_autofree gchar *got = NULL;

    /* Into the prefix consumed by the first event. */
    achat_framer_init (&f);
    achat_framer_set_bytes (&f, (const guint8 *) "\n", 1);
    achat_framer_hold_input (&f, (const guint8 *) "abc\ndef\n", 8);
    achat_framer_next (&f, NULL, 0, &ev);
    g_assert_true (ev.terminator);
    achat_framer_unread (&f, (const guint8 *) "XY", 2);
    got = frame_held (&f);
    g_assert_cmpstr (got, ==, "T(XYdef) ");
    achat_framer_clear (&f);
  }
}

static void
test_hold_input (void)
{
  static const gchar *const streams[] = {
    "a\r\nbb\r\n\r\nccc\r", "\r\r\n\n\r\nx\r\n", "no terminator at all",
    "x\r\n\r\ny\r\n",
  };
  const Term terms[] = {
    term_bytes ("\r\n"),
    term_multi (MULTI ("\r\n\r\n", "\r\n")),
    term_multi (MULTI ("\r", "\r\n", "\n")),
    term_length (1, TRUE, -'\n', 0),   /* no byte here refuses a frame */
    term_count (3),
  };
  guint s, t, stop, cut;

  for (t = 0; t < G_N_ELEMENTS (terms); t++)
    for (s = 0; s < G_N_ELEMENTS (streams); s++)
      for (stop = 1; stop <= 3; stop++)
        for (cut = 0; cut <= strlen (streams[s]); cut++)
          {
            const guint8 *data = (const guint8 *) streams[s];
            gsize length = strlen (streams[s]);
            g_autoptr(GString) want = g_string_new (NULL);
            g_autoptr(GString) got = g_string_new (NULL);
            AchatFramer plain, paused;
            guint n = 0;

            achat_framer_init (&plain);
            achat_framer_init (&paused);
            term_apply (&terms[t], &plain);
            term_apply (&terms[t], &paused);

            frame_all (&plain, data, cut, 0, &n, want);
            frame_all (&plain, data + cut, length - cut, 0, &n, want);
            frame_all (&paused, data, cut, stop, &n, got);
            frame_all (&paused, data + cut, length - cut, stop, &n, got);

            g_assert_cmpstr (got->str, ==, want->str);
            g_assert_cmpuint (achat_framer_get_held (&paused), ==, achat_framer_get_held (&plain));
            flush_all (&plain, want);
            flush_all (&paused, got);
            g_assert_cmpstr (got->str, ==, want->str);
            achat_framer_clear (&plain);
            achat_framer_clear (&paused);
          }
}

/* How long delivering the messages of a large held region may take:
 * generous (moving the held bytes on every message, as the engine once did,
 * takes minutes), and more so under a memory checker. */
static gint64
held_time_limit (void)
{
  return (g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 120 : 10) * G_USEC_PER_SEC;
}

/* A handler pauses input right after the first message of a 4 MiB read of
 * short lines; the rest is held, and every message then comes out of the
 * held bytes: this costs what is consumed, not what is held for every
 * message. Each line is 8 bytes: a line number in hex, then "\r\n" (@crlf)
 * or "\n". */
static void
make_line (gchar    *line,
           gsize     i,
           gboolean  crlf)
{
  if (crlf)
    g_snprintf (line, 9, "%06x\r\n", (guint) (i & 0xffffff));
  else
    g_snprintf (line, 9, "%07x\n", (guint) (i & 0xfffffff));
}

static void
check_hold_large (const Term *t,
                  gboolean    crlf)
{
  const gsize total = 4 * 1024 * 1024;
  const gsize n_lines = total / 8;
  guint8 *buf = g_malloc (total + 1);
  AchatFramer f;
  AchatFramerEvent ev;
  gint64 start;
  gsize consumed, i, held;

  for (i = 0; i < n_lines; i++)
    make_line ((gchar *) buf + 8 * i, i, crlf);

  achat_framer_init (&f);
  term_apply (t, &f);
  start = g_get_monotonic_time ();

  consumed = achat_framer_next (&f, buf, total, &ev);
  g_assert_true (ev.terminator);
  g_assert_true (ev.from_input);
  g_assert_cmpuint (consumed, ==, 8);
  achat_framer_hold_input (&f, buf + consumed, total - consumed);
  held = total - consumed;
  g_assert_cmpuint (achat_framer_get_held (&f), ==, held);

  for (i = 1; ; i++)
    {
      gchar line[9];
      gsize line_len;

      gsize term_len = crlf ? 2 : 1;

      consumed = achat_framer_next (&f, NULL, 0, &ev);
      g_assert_cmpuint (consumed, ==, 0);
      if (ev.length == 0 && !ev.terminator)
        break;
      g_assert_false (ev.from_input);
      g_assert_cmpuint (i, <, n_lines);
      if (!ev.terminator)
        {
          /* The last "\r\n" might start a "\r\n\r\n": undecided until the
           * end of the stream. */
          g_assert_cmpuint (i, ==, n_lines - 1);
          g_assert_cmpuint (achat_framer_get_n_terminators (&f), >, 1);
          g_assert_cmpuint (achat_framer_get_held (&f), ==, term_len);
          held -= ev.length;
          achat_framer_next (&f, NULL, 0, &ev);
          g_assert_cmpuint (ev.length, ==, 0);
          g_assert_false (ev.terminator);
          g_assert_true (achat_framer_flush (&f, &ev));
          g_assert_true (ev.terminator);
          g_assert_cmpuint (ev.length, ==, 0);
          held -= term_len;
          i++;
          break;
        }
      make_line (line, i, crlf);
      line_len = 8 - term_len;
      if (ev.length != line_len || memcmp (ev.data, line, line_len) != 0)
        g_assert_cmpmem (ev.data, ev.length, line, line_len);
      held -= 8;
      if (achat_framer_get_held (&f) != held)
        g_assert_cmpuint (achat_framer_get_held (&f), ==, held);
    }
  g_assert_cmpuint (i, ==, n_lines);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  g_assert_false (achat_framer_flush (&f, &ev));

  /* Usable again, and nothing left over from the held bytes. */
  consumed = achat_framer_next (&f, buf, 16, &ev);
  g_assert_cmpuint (consumed, ==, 8);
  g_assert_true (ev.terminator);
  g_assert_true (ev.from_input);

  g_assert_cmpint (g_get_monotonic_time () - start, <, held_time_limit ());
  achat_framer_clear (&f);
  g_free (buf);
}

static void
test_hold_large_lf (void)
{
  Term t = term_bytes ("\n");

  check_hold_large (&t, FALSE);
}

static void
test_hold_large_crlf (void)
{
  Term t = term_bytes ("\r\n");

  check_hold_large (&t, TRUE);
}

static void
test_hold_large_multi (void)
{
  Term t = term_multi (MULTI ("\r\n\r\n", "\r\n", "\n"));

  check_hold_large (&t, TRUE);
}

/* Held bytes consumed bit by bit while more are held behind them (a pause
 * in every read): the consumed prefix is reclaimed, and the storage stays
 * within a few times what is held. */
static void
test_hold_append (void)
{
  AchatFramer f;
  AchatFramerEvent ev;
  GString *want = g_string_new (NULL);
  GString *got = g_string_new (NULL);
  guint8 chunk[64];
  guint round, i, j;

  achat_framer_init (&f);
  achat_framer_set_bytes (&f, (const guint8 *) "\r\n", 2);
  for (round = 0; round < 20000; round++)
    {
      /* A read of 64 bytes: lines of 3 to 9 bytes. */
      for (i = 0; i < sizeof chunk; i++)
        chunk[i] = (guint8) ('a' + (round + i) % 26);
      for (i = 3 + round % 7; i + 1 < sizeof chunk; i += 3 + (i + round) % 7)
        {
          chunk[i - 1] = '\r';
          chunk[i] = '\n';
        }
      achat_framer_hold_input (&f, chunk, sizeof chunk);
      for (i = 0; i < sizeof chunk; i++)
        g_string_append_c (want, (gchar) chunk[i]);
      /* Fewer messages than the read brings: the held bytes grow. */
      for (j = 0; j < 2; j++)
        {
          achat_framer_next (&f, NULL, 0, &ev);
          if (ev.length == 0 && !ev.terminator)
            break;
          g_string_append_len (got, (const gchar *) ev.data, (gssize) ev.length);
          if (ev.terminator)
            g_string_append (got, "\r\n");
        }
      g_assert_cmpuint (f.hold_start + f.hold_len, <=, f.hold_cap);
      g_assert_cmpuint (f.hold_cap, <=, 4 * f.hold_len + 256);
    }
  for (;;)
    {
      achat_framer_next (&f, NULL, 0, &ev);
      if (ev.length == 0 && !ev.terminator)
        break;
      g_string_append_len (got, (const gchar *) ev.data, (gssize) ev.length);
      if (ev.terminator)
        g_string_append (got, "\r\n");
    }
  while (achat_framer_flush (&f, &ev))
    {
      g_string_append_len (got, (const gchar *) ev.data, (gssize) ev.length);
      if (ev.terminator)
        g_string_append (got, "\r\n");
    }
  g_assert_cmpuint (got->len, ==, want->len);
  g_assert_cmpstr (got->str, ==, want->str);
  achat_framer_clear (&f);
  g_string_free (want, TRUE);
  g_string_free (got, TRUE);
}

/* ---------------------------------------------------------------------- */
/* Several terminators                                                    */
/* ---------------------------------------------------------------------- */

static void
test_multi_term_index (void)
{
  Term crlf_lf = term_multi (MULTI ("\r\n", "\n"));
  Term ab_abcd = term_multi (MULTI ("ab", "abcd"));
  Term abcd_c = term_multi (MULTI ("abcd", "c"));
  Term blank = term_multi (MULTI ("\r\n\r\n", "\r\n"));
  Term dup = term_multi (MULTI ("x", "yy", "x", "yy", "y"));
  Driver d;
  gchar *got;

  check_reads (&crlf_lf, READS ("a\r\nb\nc\r", "\n\r\r\n"), TRUE, NULL, NULL,
               "c(a) T#0 c(b) T#1 c(c) T#0 c(\\r) T#0");
  /* The earliest match wins, then the longest; at the end of the stream
   * an undecided "ab" is final. */
  check_reads (&ab_abcd, READS ("xabcdabc"), TRUE, NULL, NULL,
               "c(x) T#1 T#0 c(c)");
  check_reads (&ab_abcd, READS ("xabcdabce"), TRUE, NULL, NULL,
               "c(x) T#1 T#0 c(ce)");
  /* A full "ab" while "abcd" is still possible: undecided. */
  check_reads (&ab_abcd, READS ("xab", "cd"), TRUE, NULL, NULL, "c(x) T#1");
  check_reads (&ab_abcd, READS ("xab", "c", "e"), TRUE, NULL, NULL,
               "c(x) T#0 c(ce)");
  check_reads (&ab_abcd, READS ("xa", "b", "cd"), TRUE, NULL, NULL,
               "c(x) T#1");
  /* At the end of the stream an undecided match is final: no longer one
   * can come. */
  check_reads (&ab_abcd, READS ("xab"), TRUE, NULL, NULL, "c(x) T#0");

  driver_init (&d, TRUE);
  term_apply (&ab_abcd, &d.framer);
  got = run_reads (&d, READS ("xab"), FALSE);
  g_assert_cmpstr (got, ==, "c(x)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 2);
  g_free (got);
  driver_clear (&d);

  /* A cut "abcd" before a full "c": held from the "a". */
  driver_init (&d, TRUE);
  term_apply (&abcd_c, &d.framer);
  got = run_reads (&d, READS ("abc"), FALSE);
  g_assert_cmpstr (got, ==, "");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 3);
  g_free (got);
  got = run_reads (&d, READS ("x"), TRUE);
  g_assert_cmpstr (got, ==, "c(ab) T#1 c(x)");
  g_free (got);
  driver_clear (&d);
  check_reads (&abcd_c, READS ("abc", "d"), TRUE, NULL, NULL, "T#0");
  check_reads (&abcd_c, READS ("zabcabcd"), TRUE, NULL, NULL,
               "c(zab) T#1 T#0");
  check_reads (&abcd_c, READS ("zabcabcx"), TRUE, NULL, NULL,
               "c(zab) T#1 c(ab) T#1 c(x)");

  check_reads (&blank, READS ("GET\r\nHost: x\r\n\r\nbody\r\nz"), TRUE,
               NULL, NULL, "c(GET) T#1 c(Host: x) T#0 c(body) T#1 c(z)");
  /* A "\r\n" at the very end could still become "\r\n\r\n": held, and
   * a terminator at the end of the stream. */
  check_reads (&blank, READS ("body\r\n"), TRUE, NULL, NULL,
               "c(body) T#1");
  check_reads (&blank, READS ("a\r\n", "\r", "\nb\r\n\r", "x"), TRUE,
               NULL, NULL, "c(a) T#0 c(b) T#1 c(\\rx)");

  /* Duplicates: the first of equal ones. */
  check_reads (&dup, READS ("axbyycy", "y"), TRUE, NULL, NULL,
               "c(a) T#0 c(b) T#1 c(c) T#1");
  check_reads (&dup, READS ("ay", "z"), TRUE, NULL, NULL, "c(a) T#4 c(z)");
}

static void
test_multi_get_terminator (void)
{
  static const guint8 *const terms[] = {
    (const guint8 *) "\r\n", (const guint8 *) "\n", (const guint8 *) "END",
  };
  static const gsize lengths[] = { 2, 1, 3 };
  const guint8 *ptrs[ACHAT_FRAMER_MAX_TERMINATORS];
  gsize lens[ACHAT_FRAMER_MAX_TERMINATORS];
  AchatFramer f;
  const guint8 *t;
  gsize len = 99;
  gsize i;

  achat_framer_init (&f);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 0);
  g_assert_null (achat_framer_get_terminator (&f, 0, &len));
  g_assert_cmpuint (len, ==, 0);

  achat_framer_set_bytes_multi (&f, terms, lengths, 3);
  g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_BYTES);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 3);
  for (i = 0; i < 3; i++)
    {
      t = achat_framer_get_terminator (&f, i, &len);
      g_assert_cmpmem (t, len, terms[i], lengths[i]);
      /* A copy. */
      g_assert_true (t != terms[i]);
    }
  g_assert_null (achat_framer_get_terminator (&f, 3, &len));
  g_assert_cmpuint (len, ==, 0);
  g_assert_nonnull (achat_framer_get_terminator (&f, 0, NULL));
  /* The channel reads the first one straight from the struct. */
  g_assert_cmpmem (f.term, f.term_len, "\r\n", 2);
  g_assert_cmpuint (f.count, ==, 0);

  /* Set again from its own terminators, reversed. */
  for (i = 0; i < 3; i++)
    ptrs[i] = achat_framer_get_terminator (&f, 2 - i, &lens[i]);
  achat_framer_set_bytes_multi (&f, ptrs, lens, 3);
  for (i = 0; i < 3; i++)
    {
      t = achat_framer_get_terminator (&f, i, &len);
      g_assert_cmpmem (t, len, terms[2 - i], lengths[2 - i]);
    }
  g_assert_cmpmem (f.term, f.term_len, "END", 3);

  /* One terminator is achat_framer_set_bytes(). */
  achat_framer_set_bytes_multi (&f, terms + 2, lengths + 2, 1);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 1);
  t = achat_framer_get_terminator (&f, 0, &len);
  g_assert_cmpmem (t, len, "END", 3);
  g_assert_true (t == f.term);
  achat_framer_set_bytes (&f, (const guint8 *) "\n", 1);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 1);
  t = achat_framer_get_terminator (&f, 0, &len);
  g_assert_cmpmem (t, len, "\n", 1);

  /* The most terminators allowed, all different lengths and bytes. */
  for (i = 0; i < ACHAT_FRAMER_MAX_TERMINATORS; i++)
    {
      ptrs[i] = (const guint8 *) "abcdefghijklmnopqrstuvwxyz" + i;
      lens[i] = 1 + i % 5;
    }
  achat_framer_set_bytes_multi (&f, ptrs, lens, ACHAT_FRAMER_MAX_TERMINATORS);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==,
                    ACHAT_FRAMER_MAX_TERMINATORS);
  for (i = 0; i < ACHAT_FRAMER_MAX_TERMINATORS; i++)
    {
      t = achat_framer_get_terminator (&f, i, &len);
      g_assert_cmpmem (t, len, ptrs[i], lens[i]);
    }

  /* Outside the contract: no terminator at all. */
  achat_framer_set_bytes_multi (&f, ptrs, lens, 0);
  g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_NONE);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 0);
  lens[1] = 0;
  achat_framer_set_bytes_multi (&f, ptrs, lens, 3);
  g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_NONE);
  achat_framer_set_bytes_multi (&f, ptrs, lens, ACHAT_FRAMER_MAX_TERMINATORS + 1);
  g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_NONE);

  /* Other kinds have none. */
  achat_framer_set_bytes_multi (&f, terms, lengths, 3);
  achat_framer_set_count (&f, 5);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 0);
  g_assert_null (achat_framer_get_terminator (&f, 0, &len));
  g_assert_cmpuint (f.count, ==, 5);
  achat_framer_set_bytes_multi (&f, terms, lengths, 3);
  achat_framer_set_length (&f, 4, TRUE, 0, 0);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 0);
  g_assert_null (achat_framer_get_terminator (&f, 0, &len));
  achat_framer_set_none (&f);
  g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 0);

  achat_framer_clear (&f);
}

/* Held bytes reprocessed under a new set of terminators. */
static void
test_multi_change_while_held (void)
{
  Term blank = term_multi (MULTI ("\r\n\r\n", "\r\n"));
  Term cr_lf = term_multi (MULTI ("\n", "\r"));
  Term longer = term_multi (MULTI ("\r\n\r\nX", "Y"));
  Term single = term_bytes ("\r\n\r\n");
  Term ab_abcd = term_multi (MULTI ("ab", "abcd"));
  Term none = term_none ();
  Driver d;

  /* "\r\n\r" is held; the new set matches twice inside it. */
  driver_init (&d, TRUE);
  term_apply (&blank, &d.framer);
  driver_feed (&d, (const guint8 *) "x\r\n\r", 4);
  g_assert_cmpstr (d.render->str, ==, "c(x)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 3);
  term_apply (&cr_lf, &d.framer);
  driver_feed (&d, NULL, 0);
  g_assert_cmpstr (d.render->str, ==, "c(x) T#1 T#0 T#1");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  driver_flush (&d);
  driver_clear (&d);

  /* From a handler, inside one input. */
  check_reads (&blank, READS ("x\r\n\r", "\ny"), TRUE,
               hook_after_first_collect, &cr_lf,
               "c(x) T#1 T#0 T#1 T#0 c(y)");
  /* A longer set keeps matching across the held bytes. */
  check_reads (&blank, READS ("x\r\n\r", "\nXz"), TRUE,
               hook_after_first_collect, &longer, "c(x) T#0 c(z)");
  check_reads (&blank, READS ("x\r\n\r", "\nY"), TRUE,
               hook_after_first_collect, &longer,
               "c(x) c(\\r\\n\\r) c(\\n) T#1");
  /* Back to a single terminator, or to none. */
  check_reads (&ab_abcd, READS ("xab", "c", "\r\n\r\n"), TRUE,
               hook_after_first_collect, &single, "c(x) c(ab) c(c) T");
  check_reads (&ab_abcd, READS ("xab", "cd"), TRUE,
               hook_after_first_collect, &none, "c(x) c(ab) c(cd)");
}

/* At the end of the stream an undecided terminator is final. */
static void
test_multi_end_of_stream (void)
{
  Term blank = term_multi (MULTI ("\r\n\r\n", "\r\n"));
  Term abcd_ab = term_multi (MULTI ("abcd", "ab"));
  Term abcd_c = term_multi (MULTI ("abcd", "c"));
  Term abc_a_ab = term_multi (MULTI ("abc", "a", "ab"));
  Term cr = term_bytes ("\r");
  Term lf = term_bytes ("\n");
  AchatFramer f;
  AchatFramerEvent ev;
  const guint8 *ptrs[2];
  gsize lens[2];

  check_reads (&blank, READS ("a\r\n"), TRUE, NULL, NULL, "c(a) T#1");
  check_reads (&blank, READS ("a", "\r", "\n"), TRUE, NULL, NULL, "c(a) T#1");
  check_reads (&blank, READS ("a\r\n\r"), TRUE, NULL, NULL,
               "c(a) T#1 c(\\r)");
  check_reads (&blank, READS ("a\r\n", "\r"), TRUE, NULL, NULL,
               "c(a) T#1 c(\\r)");
  check_reads (&blank, READS ("a\r\n\r\n"), TRUE, NULL, NULL, "c(a) T#0");
  check_reads (&blank, READS ("\r\n"), TRUE, NULL, NULL, "T#1");
  check_reads (&blank, READS ("\r"), TRUE, NULL, NULL, "c(\\r)");
  check_reads (&abcd_ab, READS ("xab"), TRUE, NULL, NULL, "c(x) T#1");
  check_reads (&abcd_ab, READS ("xabc"), TRUE, NULL, NULL, "c(x) T#1 c(c)");
  check_reads (&abcd_ab, READS ("xa"), TRUE, NULL, NULL, "c(x) c(a)");
  /* Of the complete ones at a position, the longest. */
  check_reads (&abc_a_ab, READS ("xab"), TRUE, NULL, NULL, "c(x) T#2");
  check_reads (&abc_a_ab, READS ("x", "a"), TRUE, NULL, NULL, "c(x) T#1");
  /* A cut terminator passed over, a shorter one later in the held bytes. */
  check_reads (&abcd_c, READS ("zabc"), TRUE, NULL, NULL, "c(z) c(ab) T#1");

  /* One event per call, until nothing is held. */
  achat_framer_init (&f);
  term_apply (&blank, &f);
  g_assert_cmpuint (achat_framer_next (&f, (const guint8 *) "a\r\n\r", 4, &ev), ==, 4);
  g_assert_cmpmem (ev.data, ev.length, "a", 1);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 3);
  memset (&ev, 0x55, sizeof ev);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_null (ev.data);
  g_assert_true (ev.terminator);
  g_assert_cmpuint (ev.term_index, ==, 1);
  g_assert_false (ev.from_input);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 1);
  memset (&ev, 0x55, sizeof ev);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "\r", 1);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (ev.term_index, ==, 0);
  g_assert_false (ev.from_input);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  memset (&ev, 0x55, sizeof ev);
  g_assert_false (achat_framer_flush (&f, &ev));
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);

  /* A change between two calls applies to what is still held. */
  term_apply (&blank, &f);
  achat_framer_next (&f, (const guint8 *) "a\r\n\r", 4, &ev);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_true (ev.terminator);
  term_apply (&cr, &f);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_true (ev.terminator);
  g_assert_cmpuint (ev.term_index, ==, 0);
  g_assert_false (achat_framer_flush (&f, &ev));
  /* ... to a single terminator found in it, */
  term_apply (&abcd_c, &f);
  achat_framer_next (&f, (const guint8 *) "xabc", 4, &ev);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 3);
  ptrs[0] = (const guint8 *) "b";
  lens[0] = 1;
  achat_framer_set_bytes_multi (&f, ptrs, lens, 1);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "a", 1);
  g_assert_true (ev.terminator);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "c", 1);
  g_assert_false (ev.terminator);
  g_assert_false (achat_framer_flush (&f, &ev));
  /* ... and under a count, the rest is data (a count is not counted
   * down at the end). */
  term_apply (&blank, &f);
  achat_framer_next (&f, (const guint8 *) "a\r\n\r", 4, &ev);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_true (ev.terminator);
  achat_framer_set_count (&f, 1);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "\r", 1);
  g_assert_false (ev.terminator);
  g_assert_false (achat_framer_flush (&f, &ev));

  /* Held input (a pause) framed by flush alone: every complete match. */
  term_apply (&blank, &f);
  achat_framer_hold_input (&f, (const guint8 *) "a\r\nb\r\n\r\nc\r\n\r", 12);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "a", 1);
  g_assert_cmpuint (ev.term_index, ==, 1);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "b", 1);
  g_assert_cmpuint (ev.term_index, ==, 0);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "c", 1);
  g_assert_cmpuint (ev.term_index, ==, 1);
  g_assert_true (ev.terminator);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "\r", 1);
  g_assert_false (ev.terminator);
  g_assert_false (achat_framer_flush (&f, &ev));
  term_apply (&lf, &f);
  achat_framer_hold_input (&f, (const guint8 *) "a\nb", 3);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "a", 1);
  g_assert_true (ev.terminator);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "b", 1);
  g_assert_false (ev.terminator);
  g_assert_false (achat_framer_flush (&f, &ev));
  achat_framer_clear (&f);
}

static const gchar *const multi_sets[][5] = {
  { "\r\n", "\n", NULL },
  { "\n", "\r\n", NULL },
  { "\r", "\r\n", NULL },
  { "\r\n\r\n", "\r\n", NULL },
  { "\r\n", "\r\n\r\n", "\n", NULL },
  { "\n", "\n", NULL },
};

static const gchar *const multi_sets_abcd[][5] = {
  { "ab", "abcd", NULL },
  { "abcd", "c", NULL },
  { "abcd", "bc", "d", NULL },
  { "ab", "ba", "aba", NULL },
  { "abab", "bab", "b", NULL },
  { "aa", "aaa", "aaaa", NULL },
};

static void
test_multi_exhaustive (void)
{
  static const guint8 crlfa[] = { 'a', '\r', '\n' };
  static const guint8 abcd[] = { 'a', 'b', 'c', 'd' };
  guint max_crlf = g_test_thorough () ? 9 : 7;
  guint max_abcd = g_test_thorough () ? 7 : 5;
  GRand *rand = g_rand_new_with_seed (0x6d756c74);   /* "mult" */
  GString *expected = g_string_new (NULL);
  Driver d;
  guint i;

  driver_init (&d, FALSE);
  for (i = 0; i < G_N_ELEMENTS (multi_sets); i++)
    {
      Term t = term_multi (multi_sets[i]);

      check_exhaustive (&d, &t, crlfa, 3, max_crlf, expected);
      check_random_long (&d, &t, rand, crlfa, 3, 12, expected);
    }
  for (i = 0; i < G_N_ELEMENTS (multi_sets_abcd); i++)
    {
      Term t = term_multi (multi_sets_abcd[i]);

      check_exhaustive (&d, &t, abcd, 4, max_abcd, expected);
      check_random_long (&d, &t, rand, abcd, 4, 12, expected);
    }

  /* The reference agrees with the single-terminator one. */
  {
    Term t = term_bytes ("aab");
    static const guint8 ab[] = { 'a', 'b' };

    check_exhaustive (&d, &t, ab, 2, 9, expected);
  }

  driver_clear (&d);
  g_string_free (expected, TRUE);
  g_rand_free (rand);
}

/* Long runs of near matches: linear, and never more held than the
 * longest terminator minus one. */
static void
test_multi_linear (void)
{
  const gsize total = 512 * 1024;
  static const gchar pattern[] = "\r\n.\r";
  Term t = term_multi (MULTI ("\r\n.\r\n", "\r\r\r", "\n\n", ".\n"));
  guint8 *buf = g_malloc (total);
  gsize pieces[] = { 1, 3, 4096 };
  gsize i, p;

  for (i = 0; i < total; i++)
    buf[i] = (guint8) pattern[i % 4];

  for (p = 0; p < G_N_ELEMENTS (pieces); p++)
    {
      gint64 start = g_get_monotonic_time ();
      Driver d;

      driver_init (&d, FALSE);
      term_apply (&t, &d.framer);
      for (i = 0; i < total; i += pieces[p])
        driver_feed (&d, buf + i, MIN (pieces[p], total - i));
      g_assert_cmpuint (d.max_held, <=, 4);
      g_assert_cmpuint (d.n_terminators, ==, 0);
      driver_flush (&d);
      g_assert_cmpmem (d.recon->data, d.recon->len, buf, total);
      g_assert_cmpint (g_get_monotonic_time () - start, <, linear_time_limit ());
      driver_clear (&d);
    }
  g_free (buf);
}

/* ---------------------------------------------------------------------- */
/* Length-prefixed frames                                                 */
/* ---------------------------------------------------------------------- */

/* A header for @length under @t (length - adjustment, which must fit). */
static void
put_header (const Term *t,
            guint64     length,
            GByteArray *out)
{
  guint64 raw = length - (guint64) t->adjustment;
  guint i;

  for (i = 0; i < t->header_size; i++)
    {
      guint shift = 8 * (t->big_endian ? t->header_size - 1 - i : i);
      guint8 b = (guint8) (raw >> shift);

      g_byte_array_append (out, &b, 1);
    }
}

/* The reads are separated by '|' in @reads (NULs allowed: its length is
 * given). Events rendered as check_reads() does. */
static void
check_split (const Term  *t,
             EventHook    hook,
             gpointer     hook_data,
             const gchar *reads,
             gsize        n,
             const gchar *expected)
{
  Driver d;
  gsize start = 0, i;

  driver_init (&d, TRUE);
  term_apply (t, &d.framer);
  d.hook = hook;
  d.hook_data = hook_data;
  for (i = 0; i <= n; i++)
    if (i == n || reads[i] == '|')
      {
        driver_feed (&d, (const guint8 *) reads + start, i - start);
        start = i + 1;
      }
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, expected);
  driver_clear (&d);
}

#define CHECK_SPLIT(t, hook, hook_data, reads, expected) \
  check_split ((t), (hook), (hook_data), (reads), sizeof (reads) - 1, (expected))

/* Look-ahead (achat_framer_mark()): from any message boundary where nothing
 * is held, framing one to three events ahead and resetting to the mark
 * changes nothing: the events from there on are those of a framer that
 * never looked ahead. Whole-read delivery relies on it. */
static gsize
next_event (AchatFramer      *framer,
            const guint8     *in,
            gsize             length,
            AchatFramerEvent *event,
            GString          *rendered)
{
  gsize used = achat_framer_next (framer, in, length, event);

  g_string_append_printf (rendered, "%" G_GSIZE_FORMAT ":%d:%d:%u:", used, event->status,
                          event->terminator, event->term_index);
  g_string_append_len (rendered, (const gchar *) event->data, (gssize) event->length);
  g_string_append_c (rendered, '|');
  return used;
}

static void
check_look_ahead (const Term   *term,
                  const guint8 *in,
                  gsize         length)
{
  g_autoptr(GString) straight = g_string_new (NULL);
  g_autoptr(GString) ahead = g_string_new (NULL);
  g_autoptr(GString) scratch = g_string_new (NULL);
  AchatFramer f;
  AchatFramerEvent ev;
  gsize pos = 0;
  guint events = 0;
  guint boundaries = 0;

  achat_framer_init (&f);
  term_apply (term, &f);
  while (events++ < 10000)
    {
      pos += next_event (&f, in + pos, length - pos, &ev, straight);
      if (ev.status != ACHAT_FRAMER_OK || (ev.length == 0 && !ev.terminator))
        break;
    }
  achat_framer_clear (&f);

  achat_framer_init (&f);
  term_apply (term, &f);
  pos = 0;
  events = 0;
  while (events++ < 10000)
    {
      if (achat_framer_get_held (&f) == 0)
        {
          AchatFramerMark mark;
          guint look = 1 + events % 3;
          gsize p = pos;
          guint i;

          achat_framer_mark (&f, &mark);
          for (i = 0; i < look; i++)
            p += next_event (&f, in + p, length - p, &ev, scratch);
          achat_framer_reset_to_mark (&f, &mark);
          g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
          boundaries++;
        }
      pos += next_event (&f, in + pos, length - pos, &ev, ahead);
      if (ev.status != ACHAT_FRAMER_OK || (ev.length == 0 && !ev.terminator))
        break;
    }
  achat_framer_clear (&f);
  if (!g_str_equal (ahead->str, straight->str))
    g_error ("looking ahead changed the events: %.200s instead of %.200s",
             ahead->str, straight->str);
  g_assert_cmpuint (boundaries, >, 0);
}

/* achat_framer_next_whole() gives the whole messages a framer handing out
 * events would (the leading ones: ended by a terminator, nothing held
 * after them, not longer than the maximum), at most @max; and framing on
 * from where it stopped gives the events that followed them. */
static void
check_next_whole (const Term   *term,
                  const guint8 *in,
                  gsize         length,
                  gsize         max,
                  guint64       max_length)
{
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autoptr(GString) got = g_string_new (NULL);
  g_autoptr(GString) rest_expected = g_string_new (NULL);
  g_autoptr(GString) rest_got = g_string_new (NULL);
  g_autoptr(GString) scratch = g_string_new (NULL);
  gsize bounds[2 * 16], after[16];
  unsigned term_index = 99;
  AchatFramer f;
  AchatFramerEvent ev;
  gsize pos = 0, n, i;
  guint events = 0;
  gboolean whole = TRUE;

  g_assert_cmpuint (max, <=, 16);
  achat_framer_init (&f);
  term_apply (term, &f);
  for (n = 0; events++ < 10000; )
    {
      gsize used;
      gsize term_len = 0;

      if (whole && n < max)
        {
          used = next_event (&f, in + pos, length - pos, &ev, scratch);
          if (ev.status == ACHAT_FRAMER_OK && ev.terminator && achat_framer_get_held (&f) == 0 &&
              (max_length == 0 || ev.length <= max_length) && pos < length)
            {
              if (term->kind == ACHAT_FRAMER_BYTES)
                achat_framer_get_terminator (&f, ev.term_index, &term_len);
              else if (term->kind == ACHAT_FRAMER_LENGTH)
                term_len = term->trailer_len;   /* consumed with the end */
              g_string_append_printf (expected, "%" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT
                                      "/%" G_GSIZE_FORMAT " ", pos + used - term_len - ev.length,
                                      pos + used - term_len, pos + used);
              pos += used;
              n++;
              continue;
            }
          /* Not whole: framed again from the boundary, as what follows. */
          achat_framer_clear (&f);
          achat_framer_init (&f);
          term_apply (term, &f);
          {
            gsize p = 0, k;

            for (k = 0; k < n; k++)
              {
                AchatFramerEvent skip;

                p += achat_framer_next (&f, in + p, length - p, &skip);
              }
            g_assert_cmpuint (p, ==, pos);
          }
          whole = FALSE;
        }
      whole = FALSE;
      pos += next_event (&f, in + pos, length - pos, &ev, rest_expected);
      if (ev.status != ACHAT_FRAMER_OK || (ev.length == 0 && !ev.terminator))
        break;
    }
  achat_framer_clear (&f);

  achat_framer_init (&f);
  term_apply (term, &f);
  n = achat_framer_next_whole (&f, in, length, max, max_length, bounds, after, &term_index);
  for (i = 0; i < n; i++)
    g_string_append_printf (got, "%" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT " ",
                            bounds[2 * i], bounds[2 * i + 1], after[i]);
  pos = n > 0 ? after[n - 1] : 0;
  events = 0;
  while (events++ < 10000)
    {
      pos += next_event (&f, in + pos, length - pos, &ev, rest_got);
      if (ev.status != ACHAT_FRAMER_OK || (ev.length == 0 && !ev.terminator))
        break;
    }
  achat_framer_clear (&f);
  g_assert_cmpstr (got->str, ==, expected->str);
  if (!g_str_equal (rest_got->str, rest_expected->str))
    g_error ("after the whole messages: %.200s instead of %.200s", rest_got->str,
             rest_expected->str);
}

#define STREAM(s) { s, sizeof s - 1 }

static void
test_next_whole (void)
{
  static const struct
  {
    const gchar *stream;
    gsize length;
  } streams[] = {
    STREAM ("one\r\ntwo\r\n\r\nthree\r"),
    STREAM ("a\nb\r\n\r\r\nc\n"),
    STREAM ("a long line\nx\n"),
    STREAM ("\x00\x03" "abc" "\x00\x00" "\x00\x02" "de" "\x00"),
    STREAM ("\x00\x01" "a" "\x01\x00" "xyz"),
    STREAM ("abcdefghij"),
    STREAM (""),
  };
  const Term terms[] = {
    term_bytes ("\r\n"),
    term_bytes ("\n"),
    term_bytes ("\r\n\r\n"),
    term_multi (MULTI ("\r\n", "\n", "\r")),
    term_multi (MULTI ("\n", "\r\n")),
    term_length (2, TRUE, 0, 0),
    term_length (2, TRUE, 0, 16),
    term_count (3),
    term_none (),
  };
  static const gsize maxes[] = { 1, 2, 3, 16 };
  static const guint64 max_lengths[] = { 0, 1, 3, 100 };
  guint s, t, m, l;

  for (s = 0; s < G_N_ELEMENTS (streams); s++)
    for (t = 0; t < G_N_ELEMENTS (terms); t++)
      for (m = 0; m < G_N_ELEMENTS (maxes); m++)
        for (l = 0; l < G_N_ELEMENTS (max_lengths); l++)
          check_next_whole (&terms[t], (const guint8 *) streams[s].stream, streams[s].length,
                            maxes[m], max_lengths[l]);
}

static void
test_mark_look_ahead (void)
{
  static const struct
  {
    const gchar *stream;
    gsize length;
  } streams[] = {
    STREAM ("one\r\ntwo\r\n\r\nthree\r"),
    STREAM ("a\nb\r\n\r\r\nc"),
    STREAM ("\x00\x03" "abc" "\x00\x00" "\x00\x02" "de" "\x00"),
    STREAM ("\x00\x01" "a" "\x01\x00" "xyz"),   /* a frame too long for the maximum */
    STREAM ("abcdefghij"),
  };
  const Term terms[] = {
    term_bytes ("\r\n"),
    term_bytes ("\n"),
    term_multi (MULTI ("\r\n", "\n", "\r")),
    term_length (2, TRUE, 0, 0),
    term_length (2, TRUE, 0, 16),
    term_count (3),
    term_none (),
  };
  guint s, t;

  for (s = 0; s < G_N_ELEMENTS (streams); s++)
    for (t = 0; t < G_N_ELEMENTS (terms); t++)
      check_look_ahead (&terms[t], (const guint8 *) streams[s].stream, streams[s].length);
}

#undef STREAM

static void
test_length_basic (void)
{
  Term be2 = term_length (2, TRUE, 0, 0);
  Term le4 = term_length (4, FALSE, -4, 0);
  Term le8 = term_length (8, FALSE, 0, 0);
  Term be1 = term_length (1, TRUE, 0, 3);
  Term adj = term_length (1, TRUE, 2, 0);
  AchatFramer f;
  AchatFramerEvent ev;
  const guint8 *in;
  gsize consumed;

  CHECK_SPLIT (&be2, NULL, NULL, "\x00\x03" "abc" "\x00\x01" "d",
               "c(abc) T c(d) T");
  /* Split anywhere, the header is not delivered; a payload comes in
   * pieces as it arrives. */
  CHECK_SPLIT (&be2, NULL, NULL, "\x00|\x03" "a|bc\x00|\x01|d",
               "c(a) c(bc) T c(d) T");
  /* An empty payload: a lone terminator. */
  CHECK_SPLIT (&be2, NULL, NULL, "\x00\x00\x00\x00\x00\x01x", "T T c(x) T");
  CHECK_SPLIT (&be2, NULL, NULL, "\x00|\x00|\x00|\x00|\x00|\x01|x",
               "T T c(x) T");
  /* A header counting itself, little-endian. */
  CHECK_SPLIT (&le4, NULL, NULL, "\x06\x00\x00\x00hi\x04\x00\x00\x00",
               "c(hi) T T");
  CHECK_SPLIT (&le8, NULL, NULL, "\x02\x00\x00\x00|\x00\x00\x00\x00xy",
               "c(xy) T");
  /* A positive adjustment. */
  CHECK_SPLIT (&adj, NULL, NULL, "\x00xy\x01xyz", "c(xy) T c(xyz) T");
  /* A partial header or payload at the end comes back as data. */
  CHECK_SPLIT (&be2, NULL, NULL, "\x00\x01x\x00", "c(x) T c(\\x00)");
  CHECK_SPLIT (&be2, NULL, NULL, "\x00\x05xy", "c(xy)");
  CHECK_SPLIT (&le8, NULL, NULL, "\x02\x00\x00\x00|\x00\x00\x00",
               "c(\\x02\\x00\\x00\\x00\\x00\\x00\\x00)");
  /* A frame longer than the maximum. */
  CHECK_SPLIT (&be1, NULL, NULL, "\x03" "abc\x04" "abcd\x01" "x",
               "c(abc) T E(too-long 4) c(abcd\\x01x)");
  CHECK_SPLIT (&be1, NULL, NULL, "\x03" "abc\x03|abc", "c(abc) T c(abc) T");

  /* The payload comes straight from the input. */
  achat_framer_init (&f);
  achat_framer_set_length (&f, 2, TRUE, 0, 0);
  g_assert_false (achat_framer_in_frame (&f));
  in = (const guint8 *) "\x00\x03" "abc" "\x00\x05" "de";
  consumed = achat_framer_next (&f, in, 9, &ev);
  g_assert_cmpuint (consumed, ==, 5);
  g_assert_true (ev.from_input);
  g_assert_true (ev.data == in + 2);
  g_assert_cmpuint (ev.length, ==, 3);
  g_assert_true (ev.terminator);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  g_assert_cmpuint (ev.term_index, ==, 0);
  g_assert_false (achat_framer_in_frame (&f));
  g_assert_cmpuint (f.count, ==, 0);
  consumed = achat_framer_next (&f, in + 5, 4, &ev);
  g_assert_cmpuint (consumed, ==, 4);
  g_assert_true (ev.data == in + 7);
  g_assert_cmpuint (ev.length, ==, 2);
  g_assert_false (ev.terminator);
  /* count: what the payload still needs. */
  g_assert_cmpuint (f.count, ==, 3);
  g_assert_true (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, in + 9, 0, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  /* A header alone: consumed, and need more. */
  consumed = achat_framer_next (&f, (const guint8 *) "abc\x00\x02", 5, &ev);
  g_assert_cmpuint (consumed, ==, 3);
  g_assert_true (ev.terminator);
  consumed = achat_framer_next (&f, (const guint8 *) "\x00\x02", 2, &ev);
  g_assert_cmpuint (consumed, ==, 2);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  g_assert_cmpuint (f.count, ==, 2);
  g_assert_true (achat_framer_in_frame (&f));
  /* A partial header is held, counted and in a frame. */
  achat_framer_set_length (&f, 4, TRUE, 0, 0);
  g_assert_false (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, (const guint8 *) "\x00\x00", 2, &ev);
  g_assert_cmpuint (consumed, ==, 2);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 2);
  g_assert_cmpuint (f.count, ==, 0);
  g_assert_true (achat_framer_in_frame (&f));
  /* flush hands it back. */
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "\x00\x00", 2);
  g_assert_false (ev.terminator);
  g_assert_false (achat_framer_in_frame (&f));
  /* Other kinds are never in a frame. */
  achat_framer_set_count (&f, 3);
  g_assert_false (achat_framer_in_frame (&f));
  achat_framer_set_bytes (&f, (const guint8 *) "\n", 1);
  achat_framer_hold_input (&f, (const guint8 *) "x", 1);
  g_assert_false (achat_framer_in_frame (&f));
  achat_framer_clear (&f);
}

static void
test_length_refused (void)
{
  Term be1 = term_length (1, TRUE, 0, 3);
  Term adj = term_length (2, FALSE, -2, 0);
  Term be8 = term_length (8, TRUE, 1, 0);
  Term be8max = term_length (8, TRUE, 0, G_MAXUINT64 - 1);
  Term be8none = term_length (8, TRUE, 0, 0);
  Term min = term_length (8, FALSE, G_MININT64, 0);
  Term lf = term_bytes ("\n");
  AchatFramer f;
  AchatFramerEvent ev;
  gsize consumed, i;

  achat_framer_init (&f);
  achat_framer_set_length (&f, 1, TRUE, 0, 3);
  consumed = achat_framer_next (&f, (const guint8 *) "\x05" "abcde", 6, &ev);
  /* The header is consumed, nothing else. */
  g_assert_cmpuint (consumed, ==, 1);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_FRAME_TOO_LONG);
  g_assert_cmpuint (ev.frame_length, ==, 5);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_null (ev.data);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  g_assert_true (achat_framer_in_frame (&f));
  /* Every later call: the same, nothing consumed, with or without input. */
  for (i = 0; i < 3; i++)
    {
      memset (&ev, 0x55, sizeof ev);
      consumed = achat_framer_next (&f, (const guint8 *) "abcde",
                                    i == 2 ? 0 : 5, &ev);
      g_assert_cmpuint (consumed, ==, 0);
      g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_FRAME_TOO_LONG);
      g_assert_cmpuint (ev.frame_length, ==, 5);
      g_assert_cmpuint (ev.length, ==, 0);
      g_assert_false (ev.terminator);
    }
  /* Raising the maximum does not take the refusal back. */
  achat_framer_set_max_length (&f, 100);
  consumed = achat_framer_next (&f, (const guint8 *) "abcde", 5, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_FRAME_TOO_LONG);
  /* Setting the terminator again does: what was held is framed anew. */
  achat_framer_hold_input (&f, (const guint8 *) "abcde", 5);
  achat_framer_set_length (&f, 1, TRUE, 0, 3);
  g_assert_true (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_FRAME_TOO_LONG);
  g_assert_cmpuint (ev.frame_length, ==, 'a');
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 4);
  achat_framer_set_count (&f, 2);
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  g_assert_cmpmem (ev.data, ev.length, "bc", 2);
  g_assert_true (ev.terminator);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "de", 2);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  achat_framer_clear (&f);

  /* Refused: the rest of the stream comes back at the end (the driver holds
   * what the engine does not take). */
  CHECK_SPLIT (&be1, NULL, NULL, "\x01" "a|\x04" "ab|cd",
               "c(a) T E(too-long 4) c(abcd)");
  /* Negative once adjusted. */
  CHECK_SPLIT (&adj, NULL, NULL, "\x03\x00" "a\x01|\x00" "xy",
               "c(a) T E(invalid) c(xy)");
  CHECK_SPLIT (&adj, NULL, NULL, "\x02\x00\x00\x00", "T E(invalid)");
  CHECK_SPLIT (&min, NULL, NULL, "\x00\x00\x00\x00\x00\x00\x00\x80|"
               "\xff\xff\xff\xff\xff\xff\xff\x7f|z", "T E(invalid) c(z)");
  /* An 8-byte header beyond any length once adjusted: too long, saturated,
   * even with no maximum. */
  CHECK_SPLIT (&be8, NULL, NULL, "\xff\xff\xff\xff\xff\xff\xff\xff" "a",
               "E(too-long 18446744073709551615) c(a)");
  CHECK_SPLIT (&be8, NULL, NULL, "\xff\xff\xff|\xff\xff\xff\xff\xff|a",
               "E(too-long 18446744073709551615) c(a)");
  /* Right at the top: a frame (that never ends) when allowed. */
  CHECK_SPLIT (&be8, NULL, NULL, "\xff\xff\xff\xff\xff\xff\xff\xfe" "a",
               "c(a)");
  CHECK_SPLIT (&be8none, NULL, NULL, "\xff\xff\xff\xff\xff\xff\xff\xff" "a",
               "c(a)");
  CHECK_SPLIT (&be8max, NULL, NULL, "\xff\xff\xff\xff\xff\xff\xff\xff" "a",
               "E(too-long 18446744073709551615) c(a)");
  CHECK_SPLIT (&be8max, NULL, NULL, "\xff\xff\xff\xff\xff\xff\xff\xfe" "a",
               "c(a)");

  /* A handler switching to something else on a refusal. */
  CHECK_SPLIT (&be1, hook_after_first_collect, &lf, "\x09" "line\n|x\n",
               "E(too-long 9) c(line) T c(x) T");
}

static void
test_length_max_length (void)
{
  Term be1 = term_length (1, TRUE, 0, 0);
  Term be2 = term_length (2, TRUE, 0, 4);
  Driver d;

  /* A frame already announced is not checked again. */
  driver_init (&d, TRUE);
  term_apply (&be1, &d.framer);
  driver_feed (&d, (const guint8 *) "\x05" "ab", 3);
  achat_framer_set_max_length (&d.framer, 2);
  g_assert_cmpint (d.framer.kind, ==, ACHAT_FRAMER_LENGTH);
  g_assert_cmpuint (d.framer.count, ==, 3);
  driver_feed (&d, (const guint8 *) "cde\x02xy\x03xyz", 10);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==,
                   "c(ab) c(cde) T c(xy) T E(too-long 3) c(xyz)");
  driver_clear (&d);

  /* It applies to a header already partly held. */
  driver_init (&d, TRUE);
  term_apply (&be2, &d.framer);
  driver_feed (&d, (const guint8 *) "\x00\x03" "abc\x00", 6);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  achat_framer_set_max_length (&d.framer, 2);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  g_assert_true (achat_framer_in_frame (&d.framer));
  driver_feed (&d, (const guint8 *) "\x03" "abc", 4);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(abc) T E(too-long 3) c(abc)");
  driver_clear (&d);

  /* 0: no maximum. */
  driver_init (&d, TRUE);
  term_apply (&be2, &d.framer);
  achat_framer_set_max_length (&d.framer, 0);
  driver_feed (&d, (const guint8 *) "\x01\x00", 2);
  g_assert_cmpuint (d.framer.count, ==, 256);
  driver_clear (&d);

  /* Under another kind it changes nothing but the maximum; setting the
   * length again replaces it. */
  driver_init (&d, TRUE);
  achat_framer_set_bytes (&d.framer, (const guint8 *) "\r\n", 2);
  driver_feed (&d, (const guint8 *) "a\r", 2);
  achat_framer_set_max_length (&d.framer, 1);
  g_assert_cmpint (d.framer.kind, ==, ACHAT_FRAMER_BYTES);
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 1);
  driver_feed (&d, (const guint8 *) "\n", 1);
  achat_framer_set_length (&d.framer, 1, TRUE, 0, 5);
  driver_feed (&d, (const guint8 *) "\x05" "abcde", 6);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(a) T c(abcde) T");
  driver_clear (&d);
}

static void
hook_to_lf (Driver                 *d,
            const AchatFramerEvent *ev)
{
  if (d->n_events == 1)
    achat_framer_set_bytes (&d->framer, (const guint8 *) "\n", 1);
}

/* Whatever was not framed yet is framed again under the new setting. */
static void
test_length_change_kind (void)
{
  Term le4 = term_length (4, FALSE, 0, 0);
  Term be1 = term_length (1, TRUE, 0, 0);
  Term crlf = term_bytes ("\r\n");
  Term ab_abcd = term_multi (MULTI ("ab", "abcd"));
  Driver d;

  /* A partial header goes back to plain held input. */
  driver_init (&d, TRUE);
  term_apply (&le4, &d.framer);
  driver_feed (&d, (const guint8 *) "ab\n", 3);
  g_assert_cmpstr (d.render->str, ==, "");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 3);
  achat_framer_set_bytes (&d.framer, (const guint8 *) "\n", 1);
  g_assert_false (achat_framer_in_frame (&d.framer));
  driver_feed (&d, NULL, 0);
  g_assert_cmpstr (d.render->str, ==, "c(ab) T");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  driver_flush (&d);
  driver_clear (&d);

  /* ... or to a count, and back to a (new) header. */
  driver_init (&d, TRUE);
  term_apply (&le4, &d.framer);
  driver_feed (&d, (const guint8 *) "\x01\x00", 2);
  achat_framer_set_count (&d.framer, 1);
  driver_feed (&d, NULL, 0);
  /* (A spent count collects.) */
  g_assert_cmpstr (d.render->str, ==, "c(\\x01) T c(\\x00)");
  g_assert_cmpuint (achat_framer_get_held (&d.framer), ==, 0);
  achat_framer_set_length (&d.framer, 2, FALSE, 0, 0);
  driver_feed (&d, (const guint8 *) "\x02\x00" "abc", 5);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(\\x01) T c(\\x00) c(ab) T c(c)");
  driver_clear (&d);

  /* Held bytes of a terminator become a header. */
  driver_init (&d, TRUE);
  term_apply (&crlf, &d.framer);
  driver_feed (&d, (const guint8 *) "x\r", 2);
  achat_framer_set_length (&d.framer, 1, TRUE, -'\r', 0);
  driver_feed (&d, NULL, 0);
  g_assert_cmpstr (d.render->str, ==, "c(x) T");
  g_assert_cmpuint (d.n_headers, ==, 1);
  driver_flush (&d);
  driver_clear (&d);
  driver_init (&d, TRUE);
  term_apply (&ab_abcd, &d.framer);
  driver_feed (&d, (const guint8 *) "xab", 3);
  achat_framer_set_length (&d.framer, 2, TRUE, -0x6162, 0);
  driver_feed (&d, (const guint8 *) "adyz", 4);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(x) T c(yz) T");
  driver_clear (&d);

  /* In the middle of a payload: the rest of the frame is forgotten. */
  CHECK_SPLIT (&be1, hook_to_lf, NULL, "\x05" "ab|c\nd\n", "c(ab) c(c) T c(d) T");
  /* Setting the length again in the middle of a payload starts over with
   * a header. */
  driver_init (&d, TRUE);
  term_apply (&be1, &d.framer);
  driver_feed (&d, (const guint8 *) "\x05" "ab", 3);
  g_assert_true (achat_framer_in_frame (&d.framer));
  term_apply (&be1, &d.framer);
  g_assert_false (achat_framer_in_frame (&d.framer));
  g_assert_cmpuint (d.framer.count, ==, 0);
  driver_feed (&d, (const guint8 *) "\x01" "c", 2);
  driver_flush (&d);
  g_assert_cmpstr (d.render->str, ==, "c(ab) c(c) T");
  driver_clear (&d);

  /* A pause in a header: the rest of the input held after it. */
  {
    AchatFramer f;
    AchatFramerEvent ev;
    gsize consumed;

    achat_framer_init (&f);
    achat_framer_set_length (&f, 2, TRUE, 0, 0);
    consumed = achat_framer_next (&f, (const guint8 *) "\x00", 1, &ev);
    g_assert_cmpuint (consumed, ==, 1);
    achat_framer_hold_input (&f, (const guint8 *) "\x02xy\x00", 4);
    g_assert_cmpuint (achat_framer_get_held (&f), ==, 5);
    consumed = achat_framer_next (&f, NULL, 0, &ev);
    g_assert_cmpuint (consumed, ==, 0);
    g_assert_cmpmem (ev.data, ev.length, "xy", 2);
    g_assert_false (ev.from_input);
    g_assert_true (ev.terminator);
    consumed = achat_framer_next (&f, NULL, 0, &ev);
    g_assert_cmpuint (ev.length, ==, 0);
    g_assert_false (ev.terminator);
    g_assert_cmpuint (achat_framer_get_held (&f), ==, 1);
    /* A header completed from the input, the payload from the input. */
    consumed = achat_framer_next (&f, (const guint8 *) "\x01zw", 3, &ev);
    g_assert_cmpuint (consumed, ==, 2);
    g_assert_cmpmem (ev.data, ev.length, "z", 1);
    g_assert_true (ev.from_input);
    g_assert_true (ev.terminator);
    g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
    achat_framer_clear (&f);
  }
}

/* A frame of each payload length in @lengths (payload bytes 'a', 'b', ...)
 * under @t, cut to @cut bytes. */
static gsize
make_frames (const Term   *t,
             const guint  *lengths,
             guint         n_lengths,
             gsize         cut,
             guint8       *out)
{
  GByteArray *a = g_byte_array_new ();
  guint i, j;
  gsize n;

  for (i = 0; i < n_lengths; i++)
    {
      put_header (t, lengths[i], a);
      for (j = 0; j < lengths[i]; j++)
        {
          guint8 b = (guint8) ('a' + (a->len % 26));

          g_byte_array_append (a, &b, 1);
        }
    }
  n = MIN (cut, a->len);
  memcpy (out, a->data, n);
  g_byte_array_unref (a);
  return n;
}

static void
test_length_exhaustive (void)
{
  static const guint8 small[] = { 0, 1, 2, 'a' };
  static const guint sizes[] = { 1, 2, 4, 8 };
  guint max_small = g_test_thorough () ? 7 : 6;
  guint n_random = g_test_thorough () ? 40 : 6;
  GRand *rand = g_rand_new_with_seed (0x6c656e67);   /* "leng" */
  GString *expected = g_string_new (NULL);
  Driver d;
  guint i, e, a, m, k;

  driver_init (&d, FALSE);

  /* One-byte headers: every string over a few small lengths (and 'a',
   * too long for any maximum set here). */
  {
    Term settings[] = {
      term_length (1, TRUE, 0, 0),
      term_length (1, FALSE, -1, 0),   /* 0: invalid */
      term_length (1, TRUE, 1, 2),     /* 2: too long */
      term_length (1, TRUE, 0, 1),
    };

    for (i = 0; i < G_N_ELEMENTS (settings); i++)
      check_exhaustive (&d, &settings[i], small, G_N_ELEMENTS (small),
                        max_small, expected);
  }

  /* Every header size and byte order, adjustments, maximums: streams of
   * frames of 0 to 3 bytes, cut anywhere, over every composition. */
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (e = 0; e < 2; e++)
      for (a = 0; a < 3; a++)
        for (m = 0; m < 2; m++)
          {
            gint64 adjs[] = { 0, -(gint64) sizes[i], 1 };
            Term t = term_length (sizes[i], e == 0, adjs[a], m ? 2 : 0);

            for (k = 0; k < n_random; k++)
              {
                guint lengths[8];
                guint n_lengths = 0;
                guint total = 0;
                guint8 s[64];
                gsize n;

                while (total < 12 && n_lengths < G_N_ELEMENTS (lengths))
                  {
                    lengths[n_lengths] = (guint) g_rand_int_range (rand, 0, 4);
                    total += sizes[i] + lengths[n_lengths++];
                  }
                n = make_frames (&t, lengths, n_lengths,
                                 (gsize) g_rand_int_range (rand, 0, 12), s);
                reference_general (s, n, &t, NULL, 0, expected);
                check_all_compositions (&d, &t, NULL, NULL, s, n,
                                        expected->str);
              }
          }

  driver_clear (&d);
  g_string_free (expected, TRUE);
  g_rand_free (rand);
}

/* The asynchat idiom with a binary body: a "\r\n" line, then a frame with a
 * one-byte header, then a line... */
static void
hook_line_frame (Driver                 *d,
                 const AchatFramerEvent *ev)
{
  if (!ev->terminator)
    return;
  if (d->framer.kind == ACHAT_FRAMER_BYTES)
    achat_framer_set_length (&d->framer, 1, TRUE, 0, 0);
  else
    achat_framer_set_bytes (&d->framer, (const guint8 *) "\r\n", 2);
}

static void
reference_line_frame (const guint8 *s,
                      gsize         n,
                      GString      *out)
{
  gboolean line = TRUE;
  gsize pos = 0;

  g_string_truncate (out, 0);
  for (;;)
    {
      if (line)
        {
          gsize q = pos;

          while (q + 1 < n && !(s[q] == '\r' && s[q + 1] == '\n'))
            q++;
          if (q + 1 >= n)
            break;
          append_escaped (out, s + pos, q - pos);
          g_string_append_c (out, '|');
          pos = q + 2;
        }
      else
        {
          if (pos == n)
            break;
          if (n - pos - 1 < s[pos])
            {
              pos++;   /* the header; the rest is data */
              break;
            }
          append_escaped (out, s + pos + 1, s[pos]);
          g_string_append_c (out, '|');
          pos += 1 + s[pos];
        }
      line = !line;
    }
  append_escaped (out, s + pos, n - pos);
}

static void
test_length_line_then_frame (void)
{
  static const gchar alphabet[] = "\r\n\x01\x02" "a";
  static const gchar *const streams[] = {
    "GET\r\n\x03" "abcPUT\r\n\x00\r\n\x02\r\n",
    "\r\n\x01\r\r\n\x02\n\r\r\n",
    "a\r\n\x0a" "0123456789",
  };
  Term crlf = term_bytes ("\r\n");
  guint max_length = g_test_thorough () ? 7 : 6;
  GString *expected = g_string_new (NULL);
  Driver d;
  guint8 s[32];
  guint i, n;

  driver_init (&d, FALSE);
  for (i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      n = (guint) strlen (streams[i]);
      reference_line_frame ((const guint8 *) streams[i], n, expected);
      check_all_compositions (&d, &crlf, hook_line_frame, NULL,
                              (const guint8 *) streams[i], n, expected->str);
    }

  /* Every string over "\r", "\n", 1, 2 and 'a' (fewer lengths at the
   * top). */
  for (n = 0; n <= max_length; n++)
    {
      guint digits[32] = { 0 };
      guint a = n < 6 ? 5 : 4;

      for (;;)
        {
          guint k;

          for (k = 0; k < n; k++)
            s[k] = (guint8) alphabet[digits[k]];
          reference_line_frame (s, n, expected);
          check_all_compositions (&d, &crlf, hook_line_frame, NULL, s, n,
                                  expected->str);
          for (k = 0; k < n && ++digits[k] == a; k++)
            digits[k] = 0;
          if (k == n)
            break;
        }
    }
  driver_clear (&d);
  g_string_free (expected, TRUE);
}

/* ---------------------------------------------------------------------- */
/* Random changes between every kind                                      */
/* ---------------------------------------------------------------------- */

/* A text length setting: the separators and trailers of the protocols
 * that use one, and some that overlap; in streams over "ab\r\n", "a" and
 * "b" are hexadecimal digits ("a\n": 10 bytes follow). */
static Term
random_term_text (GRand    *rand,
                  gboolean  hex_only)
{
  static const gchar *const seps[] = { "\r\n", "\n", ":", "\r", "\n\r", ",\n" };
  static const gchar *const trailers[] = { "", "", "\n", "\r\n", ",", "b", "ab" };
  static const guint64 maxes[] = { 0, 0, 1, 3, 10, 200 };
  guint radix = hex_only || g_rand_boolean (rand) ? 16 : 10;

  /* (The first four separators are made of stream bytes.) */
  return term_text (radix, seps[g_rand_int_range (rand, 0, hex_only ? 4 : G_N_ELEMENTS (seps))],
                    trailers[g_rand_int_range (rand, 0, G_N_ELEMENTS (trailers))],
                    maxes[g_rand_int_range (rand, 0, G_N_ELEMENTS (maxes))]);
}

static Term
random_term_any (GRand *rand)
{
  static const gchar alphabet[] = "ab\r\n";

  switch (g_rand_int_range (rand, 0, 8))
    {
    case 7:
      /* (No decimal digit in the streams.) */
      return random_term_text (rand, TRUE);
    case 0:
      return term_multi (multi_sets[g_rand_int_range (rand, 0, (gint) G_N_ELEMENTS (multi_sets))]);
    case 1:
      {
        Term t = term_multi (MULTI ("x", "y"));
        guint i, j;

        t.n_multi = (guint) g_rand_int_range (rand, 2, 5);
        for (i = 0; i < t.n_multi; i++)
          {
            t.multi_len[i] = (gsize) g_rand_int_range (rand, 1, 5);
            for (j = 0; j < t.multi_len[i]; j++)
              t.multi[i][j] = (guint8) alphabet[g_rand_int_range (rand, 0, 4)];
          }
        t.length = t.multi_len[0];
        memcpy (t.bytes, t.multi[0], t.length);
        return t;
      }
    case 2: case 3:
      {
        /* Stream bytes are 'a', 'b', '\r' and '\n': make small lengths
         * out of "\n" (and "\n\n"), longer ones and refusals out of the
         * others. */
        gboolean two = g_rand_int_range (rand, 0, 4) == 0;
        gint64 base = two ? 0x0a0a : 0x0a;
        gint64 adj = -base + g_rand_int_range (rand, -1, 4);
        guint64 max = g_rand_boolean (rand) ? 0 : (guint64) g_rand_int_range (rand, 1, 8);

        return term_length (two ? 2 : 1, g_rand_boolean (rand), adj, max);
      }
    default:
      return random_term (rand);
    }
}

static void
hook_random_any (Driver                 *d,
                 const AchatFramerEvent *ev)
{
  RandomRun *run = d->hook_data;
  Change change;

  if (g_rand_int_range (run->rand, 0, 3) != 0)
    return;
  if (achat_framer_get_held (&d->framer) > 0)
    {
      run->changes_while_held++;
      if (d->at_end)
        run->changes_at_end++;
    }
  change.position = d->delivered;
  change.at_end = d->at_end;
  change.after_refusal = ev->status != ACHAT_FRAMER_OK;
  change.term = random_term_any (run->rand);
  term_apply (&change.term, &d->framer);
  g_array_append_val (run->changes, change);
}

static void
test_random_kinds (void)
{
  static const gchar alphabet[] = "ab\r\n";
  GRand *rand = g_rand_new_with_seed (0x6b696e64);  /* "kind" */
  RandomRun run;
  Driver d;
  GString *expected = g_string_new (NULL);
  guint iterations = g_test_thorough () ? 400000 : 40000;
  guint it, n_refused = 0, n_headers = 0;

  run.rand = rand;
  run.changes = g_array_new (FALSE, FALSE, sizeof (Change));
  run.changes_while_held = 0;
  run.changes_at_end = 0;
  driver_init (&d, FALSE);

  for (it = 0; it < iterations; it++)
    {
      guint8 s[96];
      gsize cuts[96];
      guint n_cuts = 0;
      gsize n = (gsize) g_rand_int_range (rand, 0, 80);
      Term initial = random_term_any (rand);
      gsize i;

      for (i = 0; i < n; i++)
        s[i] = (guint8) alphabet[g_rand_int_range (rand, 0, 4)];
      n_cuts = random_cuts (rand, n, cuts);

      g_array_set_size (run.changes, 0);
      run_pieces (&d, &initial, hook_random_any, &run, s, n, cuts, n_cuts,
                  FALSE);
      n_refused += d.n_refused;
      n_headers += d.n_headers;

      reference_general (s, n, &initial,
                         (const Change *) (gpointer) run.changes->data,
                         run.changes->len, expected);
      if (strcmp (d.messages->str, expected->str) != 0)
        {
          GString *desc = g_string_new (NULL);

          describe_run (desc, &initial, s, n, cuts, n_cuts, run.changes);
          g_test_message ("iteration %u: %s", it, desc->str);
          g_string_free (desc, TRUE);
        }
      g_assert_cmpstr (d.messages->str, ==, expected->str);
    }

  g_test_message ("%u changes while bytes were held (%u between two "
                  "flushes), %u headers, %u refused frames",
                  run.changes_while_held, run.changes_at_end, n_headers,
                  n_refused);
  g_assert_cmpuint (run.changes_at_end, >, 0);
  g_assert_cmpuint (run.changes_while_held, >, iterations / 20);
  /* (Text settings, an eighth of them, are often refused: fewer headers
   * than with binary ones alone.) */
  g_assert_cmpuint (n_headers, >, iterations / 2);
  g_assert_cmpuint (n_refused, >, iterations / 20);

  driver_clear (&d);
  g_array_unref (run.changes);
  g_string_free (expected, TRUE);
  g_rand_free (rand);
}


/* ---------------------------------------------------------------------- */
/* Text length headers                                                    */
/* ---------------------------------------------------------------------- */

static void
test_text_basic (void)
{
  Term dec = term_text (10, "\r\n", "", 0);
  Term net = term_text (10, ":", ",", 0);
  Term chunk = term_text (16, "\r\n", "\r\n", 0);
  AchatFramer f;
  AchatFramerEvent ev;
  const guint8 *in;
  gsize consumed;

  CHECK_SPLIT (&dec, NULL, NULL, "5\r\nhello3\r\nabc", "c(hello) T c(abc) T");
  CHECK_SPLIT (&net, NULL, NULL, "5:hello,3:abc,", "c(hello) T c(abc) T");
  /* A payload holding the separator and the trailer is not cut by them. */
  CHECK_SPLIT (&net, NULL, NULL, "4:a,:b,", "c(a,:b) T");
  CHECK_SPLIT (&chunk, NULL, NULL, "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n3\r\nx\r\n\r\n",
               "c(abcdefghijklmnopqrstuvwxyz) T c(x\\r\\n) T");
  /* Either case of hexadecimal digits, leading zeros. */
  CHECK_SPLIT (&chunk, NULL, NULL, "A\r\n0123456789\r\na\r\n9876543210\r\n"
               "00C\r\nabcdefghijkl\r\n0Ab\r\n" "0123456789" "0123456789"
               "0123456789" "0123456789" "0123456789" "0123456789" "0123456789"
               "0123456789" "0123456789" "0123456789" "0123456789" "0123456789"
               "0123456789" "0123456789" "0123456789" "0123456789" "0123456789"
               "0\r\n",
               "c(0123456789) T c(9876543210) T c(abcdefghijkl) T "
               "c(0123456789012345678901234567890123456789012345678901234567890123456789"
               "0123456789012345678901234567890123456789012345678901234567890123456789"
               "0123456789012345678901234567890) T");
  CHECK_SPLIT (&dec, NULL, NULL, "0005\r\nhello", "c(hello) T");
  /* Empty payloads: a lone terminator, once the trailer is there. */
  CHECK_SPLIT (&dec, NULL, NULL, "0\r\n0\r\n1\r\nx", "T T c(x) T");
  CHECK_SPLIT (&dec, NULL, NULL, "0|\r|\n|0\r|\n", "T T");
  CHECK_SPLIT (&net, NULL, NULL, "0:,0:,", "T T");
  CHECK_SPLIT (&net, NULL, NULL, "0|:|,|0:|,", "T T");
  CHECK_SPLIT (&chunk, NULL, NULL, "0\r\n\r\n", "T");
  CHECK_SPLIT (&chunk, NULL, NULL, "0\r\n\r|\n", "T");
  /* Split anywhere, header and trailer are not delivered; the payload
   * comes as it arrives, the terminator with the trailer's end. */
  CHECK_SPLIT (&net, NULL, NULL, "1|2|:abcdef|ghijkl|,|3:x|yz,",
               "c(abcdef) c(ghijkl) T c(x) c(yz) T");
  CHECK_SPLIT (&chunk, NULL, NULL, "3\r|\nabc\r|\n", "c(abc) T");
  CHECK_SPLIT (&chunk, NULL, NULL, "3\r\nabc|\r\n", "c(abc) T");
  /* The end of the stream: a partial header comes back as data, a partial
   * payload is data, a partial trailer was consumed and ends nothing. */
  CHECK_SPLIT (&net, NULL, NULL, "5:hello,12", "c(hello) T c(12)");
  CHECK_SPLIT (&chunk, NULL, NULL, "5\r", "c(5\\r)");
  CHECK_SPLIT (&net, NULL, NULL, "5:hel", "c(hel)");
  CHECK_SPLIT (&chunk, NULL, NULL, "2\r\nab\r", "c(ab)");

  /* The payload comes straight from the input; the trailer is consumed
   * with its end. */
  achat_framer_init (&f);
  achat_framer_set_length_text (&f, 10, (const guint8 *) ":", 1, (const guint8 *) ",", 1, 0);
  g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_LENGTH);
  g_assert_false (achat_framer_in_frame (&f));
  in = (const guint8 *) "3:abc,12:de";
  consumed = achat_framer_next (&f, in, 11, &ev);
  g_assert_cmpuint (consumed, ==, 6);
  g_assert_true (ev.from_input);
  g_assert_true (ev.data == in + 2);
  g_assert_cmpuint (ev.length, ==, 3);
  g_assert_true (ev.terminator);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  g_assert_false (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, in + 6, 5, &ev);
  g_assert_cmpuint (consumed, ==, 5);
  g_assert_true (ev.data == in + 9);
  g_assert_cmpuint (ev.length, ==, 2);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (f.count, ==, 10);
  g_assert_true (achat_framer_in_frame (&f));
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  /* The rest of the payload, then the trailer in another input. */
  consumed = achat_framer_next (&f, (const guint8 *) "0123456789", 10, &ev);
  g_assert_cmpuint (consumed, ==, 10);
  g_assert_cmpuint (ev.length, ==, 10);
  g_assert_false (ev.terminator);
  g_assert_true (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, (const guint8 *) ",", 1, &ev);
  g_assert_cmpuint (consumed, ==, 1);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_null (ev.data);
  g_assert_true (ev.terminator);
  g_assert_false (achat_framer_in_frame (&f));
  /* A partial header is held and in a frame; flush hands it back. */
  consumed = achat_framer_next (&f, (const guint8 *) "42", 2, &ev);
  g_assert_cmpuint (consumed, ==, 2);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 2);
  g_assert_true (achat_framer_in_frame (&f));
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "42", 2);
  g_assert_false (ev.terminator);
  g_assert_false (achat_framer_in_frame (&f));
  achat_framer_clear (&f);
}

/* A header split across inputs: held until complete, then the payload
 * from the input (or from what is held). */
static void
test_text_held_header (void)
{
  static const gchar stream[] = "0012\r\nhello world!3\r\nabc";
  AchatFramer f;
  AchatFramerEvent ev;
  gsize consumed;
  gsize k;

  for (k = 1; k < 6; k++)
    {
      g_autoptr(GString) out = g_string_new (NULL);
      guint n_events = 0;

      achat_framer_init (&f);
      achat_framer_set_length_text (&f, 10, (const guint8 *) "\r\n", 2, NULL, 0, 0);
      /* The first k bytes: all held, nothing delivered. */
      consumed = achat_framer_next (&f, (const guint8 *) stream, k, &ev);
      g_assert_cmpuint (consumed, ==, k);
      g_assert_cmpuint (ev.length, ==, 0);
      g_assert_false (ev.terminator);
      g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
      g_assert_cmpuint (achat_framer_get_held (&f), ==, k);
      g_assert_true (achat_framer_in_frame (&f));
      /* The rest, in one input: the header ends in it, not held. */
      frame_all (&f, (const guint8 *) stream + k, strlen (stream) - k, 0, &n_events, out);
      g_assert_cmpstr (out->str, ==, "hello world!|abc|");
      g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
      achat_framer_clear (&f);

      /* Or the rest held back (a paused consumer): framed in place. */
      g_string_truncate (out, 0);
      achat_framer_init (&f);
      achat_framer_set_length_text (&f, 10, (const guint8 *) "\r\n", 2, NULL, 0, 0);
      consumed = achat_framer_next (&f, (const guint8 *) stream, k, &ev);
      g_assert_cmpuint (consumed, ==, k);
      achat_framer_hold_input (&f, (const guint8 *) stream + k, strlen (stream) - k);
      g_assert_cmpuint (achat_framer_get_held (&f), ==, strlen (stream));
      frame_all (&f, NULL, 0, 0, &n_events, out);
      g_assert_cmpstr (out->str, ==, "hello world!|abc|");
      g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
      achat_framer_clear (&f);
    }

  /* Byte by byte, with what is held counted at each step. */
  achat_framer_init (&f);
  achat_framer_set_length_text (&f, 16, (const guint8 *) ";;", 2, (const guint8 *) "!", 1, 0);
  for (k = 0; k < 5; k++)
    {
      consumed = achat_framer_next (&f, (const guint8 *) "00A;;" + k, 1, &ev);
      g_assert_cmpuint (consumed, ==, 1);
      g_assert_cmpuint (ev.length, ==, 0);
      g_assert_false (ev.terminator);
      g_assert_cmpuint (achat_framer_get_held (&f), ==, k < 4 ? k + 1 : 0);
      g_assert_true (achat_framer_in_frame (&f));
    }
  g_assert_cmpuint (f.count, ==, 10);
  achat_framer_clear (&f);
}

/* Digits: at most 20 decimal or 16 hexadecimal ones, leading zeros
 * included; a number past 64 bits is too long whatever the maximum. */
static void
test_text_digits (void)
{
  Term dec = term_text (10, ":", "", 0);
  Term hex = term_text (16, ":", "", 0);
  Term dec5 = term_text (10, ":", ",", 5);
  AchatFramer f;
  AchatFramerEvent ev;
  gsize consumed;
  guint i;
  static const struct
  {
    guint radix;
    const gchar *header;
    AchatFramerStatus status;
    guint64 length;
  } cases[] = {
    { 10, "00000000000000000005:", ACHAT_FRAMER_OK, 5 },            /* 20 digits */
    { 10, "000000000000000000005:", ACHAT_FRAMER_FRAME_INVALID, 0 }, /* 21 */
    { 10, "18446744073709551614:", ACHAT_FRAMER_OK, G_MAXUINT64 - 1 },
    { 10, "18446744073709551615:", ACHAT_FRAMER_OK, G_MAXUINT64 },
    { 10, "18446744073709551616:", ACHAT_FRAMER_FRAME_TOO_LONG, G_MAXUINT64 },
    { 10, "99999999999999999999:", ACHAT_FRAMER_FRAME_TOO_LONG, G_MAXUINT64 },
    { 10, "100000000000000000000:", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 16, "000000000000000a:", ACHAT_FRAMER_OK, 10 },                /* 16 digits */
    { 16, "0000000000000000a:", ACHAT_FRAMER_FRAME_INVALID, 0 },     /* 17 */
    { 16, "FFFFFFFFFFFFFFFE:", ACHAT_FRAMER_OK, G_MAXUINT64 - 1 },
    { 16, "ffffffffffffffff:", ACHAT_FRAMER_OK, G_MAXUINT64 },
    { 16, "DeadBeef:", ACHAT_FRAMER_OK, 0xdeadbeef },
    { 16, "10000000000000000:", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 10, ":", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 10, "a:", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 10, "-1:", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 10, " 1:", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 10, "1 :", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 16, "0x1:", ACHAT_FRAMER_FRAME_INVALID, 0 },
    { 16, "g:", ACHAT_FRAMER_FRAME_INVALID, 0 },
  };

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gsize n = strlen (cases[i].header);
      gsize split;

      /* In one input, and split at every point (the start held). */
      for (split = 0; split < n; split++)
        {
          achat_framer_init (&f);
          term_apply (cases[i].radix == 10 ? &dec : &hex, &f);
          consumed = 0;
          if (split > 0)
            {
              consumed = achat_framer_next (&f, (const guint8 *) cases[i].header, split, &ev);
              if (ev.status != ACHAT_FRAMER_OK)
                {
                  /* Refused before its end (too many digits, not a
                   * digit): nothing consumed. */
                  g_assert_cmpint (ev.status, ==, cases[i].status);
                  g_assert_cmpint (cases[i].status, ==, ACHAT_FRAMER_FRAME_INVALID);
                  g_assert_cmpuint (consumed, ==, 0);
                  achat_framer_clear (&f);
                  continue;
                }
              g_assert_cmpuint (consumed, ==, split);
              g_assert_cmpuint (achat_framer_get_held (&f), ==, split);
            }
          consumed = achat_framer_next (&f, (const guint8 *) cases[i].header + split,
                                        n - split, &ev);
          if (g_test_verbose () || ev.status != cases[i].status)
            g_test_message ("header \"%s\" split at %" G_GSIZE_FORMAT ": status %d",
                            cases[i].header, split, ev.status);
          g_assert_cmpint (ev.status, ==, cases[i].status);
          g_assert_cmpuint (ev.length, ==, 0);
          g_assert_false (ev.terminator);
          if (cases[i].status == ACHAT_FRAMER_FRAME_INVALID)
            {
              /* Nothing of the input consumed; what was held stays. */
              g_assert_cmpuint (consumed, ==, 0);
              g_assert_cmpuint (ev.frame_length, ==, 0);
              g_assert_cmpuint (achat_framer_get_held (&f), ==, split);
            }
          else
            {
              g_assert_cmpuint (consumed, ==, n - split);
              g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
              if (cases[i].status == ACHAT_FRAMER_OK)
                g_assert_cmpuint (f.count, ==, cases[i].length);
              else
                g_assert_cmpuint (ev.frame_length, ==, cases[i].length);
            }
          g_assert_true (achat_framer_in_frame (&f));
          /* A refusal is reported again, consuming nothing. */
          if (cases[i].status != ACHAT_FRAMER_OK)
            {
              consumed = achat_framer_next (&f, (const guint8 *) "1:", 2, &ev);
              g_assert_cmpuint (consumed, ==, 0);
              g_assert_cmpint (ev.status, ==, cases[i].status);
              g_assert_cmpuint (ev.frame_length, ==, cases[i].length);
            }
          achat_framer_clear (&f);
        }
    }

  /* The maximum: refused as soon as the header is complete. */
  CHECK_SPLIT (&dec5, NULL, NULL, "5:hello,6:hello!,", "c(hello) T E(too-long 6) c(hello\\x21,)");
  CHECK_SPLIT (&dec5, NULL, NULL, "5:hello,0|6|:|x", "c(hello) T E(too-long 6) c(x)");
  CHECK_SPLIT (&dec5, NULL, NULL, "005:hello,", "c(hello) T");
}

/* A handler giving up text frames on a refusal: lines. */
static void
hook_lf_on_refusal (Driver                 *d,
                    const AchatFramerEvent *ev)
{
  if (ev->status != ACHAT_FRAMER_OK)
    achat_framer_set_bytes (&d->framer, (const guint8 *) "\n", 1);
}

/* The separator: a header whose separator does not match, even in its
 * middle and across inputs, is refused with nothing of it consumed. */
static void
test_text_separator_mismatch (void)
{
  Term crlf = term_text (10, "\r\n", "", 0);
  AchatFramer f;
  AchatFramerEvent ev;
  gsize consumed;

  CHECK_SPLIT (&crlf, NULL, NULL, "5\rxhello", "E(invalid) c(5\\rxhello)");
  CHECK_SPLIT (&crlf, NULL, NULL, "5\r|xhello", "E(invalid) c(5\\rxhello)");
  CHECK_SPLIT (&crlf, NULL, NULL, "5|\r|x|hello", "E(invalid) c(5\\rxhello)");
  CHECK_SPLIT (&crlf, NULL, NULL, "5\n\r", "E(invalid) c(5\\n\\r)");
  CHECK_SPLIT (&crlf, NULL, NULL, "2\r\nab2\r\r\nab", "c(ab) T E(invalid) c(2\\r\\r\\nab)");
  /* A handler switching to lines on the refusal: no byte lost. */
  CHECK_SPLIT (&crlf, hook_lf_on_refusal, NULL, "5\r|x\nhello\n",
               "E(invalid) c(5\\r) c(x) T c(hello) T");
  CHECK_SPLIT (&crlf, hook_lf_on_refusal, NULL, "2\r\nab5\rx\nhello\n",
               "c(ab) T E(invalid) c(5\\rx) T c(hello) T");

  achat_framer_init (&f);
  achat_framer_set_length_text (&f, 16, (const guint8 *) "\r\n", 2, (const guint8 *) "\r\n", 2, 0);
  consumed = achat_framer_next (&f, (const guint8 *) "1f\r", 3, &ev);
  g_assert_cmpuint (consumed, ==, 3);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 3);
  consumed = achat_framer_next (&f, (const guint8 *) "\r\n", 2, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_FRAME_INVALID);
  g_assert_cmpuint (ev.frame_length, ==, 0);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 3);
  g_assert_true (achat_framer_in_frame (&f));
  /* The held bytes come back at the end of the stream. */
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, "1f\r", 3);
  g_assert_false (achat_framer_flush (&f, &ev));
  /* Setting it again starts afresh. */
  achat_framer_set_length_text (&f, 16, (const guint8 *) "\r\n", 2, (const guint8 *) "\r\n", 2, 0);
  g_assert_false (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, (const guint8 *) "1\r\nx\r\n", 6, &ev);
  g_assert_cmpuint (consumed, ==, 6);
  g_assert_cmpmem (ev.data, ev.length, "x", 1);
  g_assert_true (ev.terminator);
  achat_framer_clear (&f);
}

/* A wrong trailer: refused after the payload and the part of the trailer
 * that matched, wherever the inputs are cut. */
static void
test_text_bad_trailer (void)
{
  Term net = term_text (10, ":", ",", 0);
  Term chunk = term_text (16, "\r\n", "\r\n", 0);
  AchatFramer f;
  AchatFramerEvent ev;
  gsize consumed;

  CHECK_SPLIT (&net, NULL, NULL, "5:hello;", "c(hello) E(bad-trailer) c(;)");
  CHECK_SPLIT (&net, NULL, NULL, "5:hello|;", "c(hello) E(bad-trailer) c(;)");
  CHECK_SPLIT (&net, NULL, NULL, "0:;", "E(bad-trailer) c(;)");
  CHECK_SPLIT (&net, NULL, NULL, "0:|;", "E(bad-trailer) c(;)");
  /* The matched part is consumed, the wrong byte and the rest are not. */
  CHECK_SPLIT (&chunk, NULL, NULL, "3\r\nabc\rx\r\n", "c(abc) E(bad-trailer) c(x\\r\\n)");
  CHECK_SPLIT (&chunk, NULL, NULL, "3\r\nabc\r|x\r\n", "c(abc) E(bad-trailer) c(x\\r\\n)");
  CHECK_SPLIT (&chunk, NULL, NULL, "3\r\nabc|\r|x|\r\n", "c(abc) E(bad-trailer) c(x\\r\\n)");
  CHECK_SPLIT (&chunk, NULL, NULL, "3\r\nabc\n\r", "c(abc) E(bad-trailer) c(\\n\\r)");
  CHECK_SPLIT (&chunk, NULL, NULL, "0\r\n\r\r", "E(bad-trailer) c(\\r)");
  /* A handler switching to lines on the refusal frames the rest. */
  CHECK_SPLIT (&chunk, hook_lf_on_refusal, NULL, "3\r\nabc\r|x\ny\n",
               "c(abc) E(bad-trailer) c(x) T c(y) T");
  CHECK_SPLIT (&net, hook_lf_on_refusal, NULL, "0:;\n", "E(bad-trailer) c(;) T");

  achat_framer_init (&f);
  achat_framer_set_length_text (&f, 16, (const guint8 *) "\r\n", 2, (const guint8 *) "\r\n", 2, 0);
  consumed = achat_framer_next (&f, (const guint8 *) "2\r\nab\r", 6, &ev);
  g_assert_cmpuint (consumed, ==, 5);   /* the trailer's start is left */
  g_assert_cmpmem (ev.data, ev.length, "ab", 2);
  g_assert_false (ev.terminator);
  g_assert_true (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, (const guint8 *) "\r", 1, &ev);
  g_assert_cmpuint (consumed, ==, 1);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_false (ev.terminator);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  g_assert_true (achat_framer_in_frame (&f));
  consumed = achat_framer_next (&f, (const guint8 *) "\r\n", 2, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_BAD_TRAILER);
  g_assert_cmpuint (ev.frame_length, ==, 0);
  g_assert_true (achat_framer_in_frame (&f));
  /* Reported again, consuming nothing, until set again. */
  consumed = achat_framer_next (&f, (const guint8 *) "\n", 1, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_BAD_TRAILER);
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_BAD_TRAILER);
  achat_framer_set_max_length (&f, 10);
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_BAD_TRAILER);
  achat_framer_clear (&f);

  /* The trailer from held bytes (input held back by a paused consumer):
   * checked the same. */
  achat_framer_init (&f);
  achat_framer_set_length_text (&f, 10, (const guint8 *) ":", 1, (const guint8 *) ",", 1, 0);
  consumed = achat_framer_next (&f, (const guint8 *) "2:ab", 4, &ev);
  g_assert_cmpuint (consumed, ==, 4);
  g_assert_false (ev.terminator);
  achat_framer_hold_input (&f, (const guint8 *) ",1:x,", 5);
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_true (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 4);
  /* A payload from held bytes: its trailer is matched by the next call. */
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpmem (ev.data, ev.length, "x", 1);
  g_assert_false (ev.from_input);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 1);
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpuint (ev.length, ==, 0);
  g_assert_true (ev.terminator);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  consumed = achat_framer_next (&f, (const guint8 *) "2:ab", 4, &ev);
  g_assert_false (ev.terminator);
  achat_framer_hold_input (&f, (const guint8 *) ";1:x,", 5);
  consumed = achat_framer_next (&f, NULL, 0, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_BAD_TRAILER);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 5);
  g_assert_true (achat_framer_flush (&f, &ev));
  g_assert_cmpmem (ev.data, ev.length, ";1:x,", 5);
  /* A two-byte trailer, its first byte held, its second in the input. */
  achat_framer_set_length_text (&f, 16, (const guint8 *) "\r\n", 2, (const guint8 *) "\r\n", 2, 0);
  consumed = achat_framer_next (&f, (const guint8 *) "1\r\nz", 4, &ev);
  g_assert_cmpmem (ev.data, ev.length, "z", 1);
  g_assert_false (ev.terminator);
  achat_framer_hold_input (&f, (const guint8 *) "\r", 1);
  consumed = achat_framer_next (&f, (const guint8 *) "\r\n", 2, &ev);
  g_assert_cmpuint (consumed, ==, 0);
  g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_BAD_TRAILER);
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);   /* "\r" matched */
  achat_framer_clear (&f);
}

/* Streams of text frames: every cut in two or three pieces (empty ones
 * included) and byte by byte with empty reads, against the reference. */
static void
check_text_cuts (Driver       *d,
                 const Term   *t,
                 const gchar  *stream,
                 GString      *expected)
{
  const guint8 *s = (const guint8 *) stream;
  gsize n = strlen (stream);
  gsize cuts[128];
  gsize i, j;

  g_assert_cmpuint (n, <, G_N_ELEMENTS (cuts));
  reference_general (s, n, t, NULL, 0, expected);
  g_assert_null (strchr (expected->str, '<'));
  for (i = 0; i <= n; i++)
    for (j = i; j <= n; j++)
      {
        cuts[0] = i;
        cuts[1] = j;
        run_pieces (d, t, NULL, NULL, s, n, cuts, 2, FALSE);
        if (strcmp (d->messages->str, expected->str) != 0)
          {
            GString *desc = g_string_new (NULL);

            describe_cut (desc, t, s, n, cuts, 2);
            g_test_message ("mismatch for %s", desc->str);
            g_string_free (desc, TRUE);
          }
        g_assert_cmpstr (d->messages->str, ==, expected->str);
      }
  for (i = 1; i < n; i++)
    cuts[i - 1] = i;
  run_pieces (d, t, NULL, NULL, s, n, cuts, n > 0 ? (guint) n - 1 : 0, TRUE);
  g_assert_cmpstr (d->messages->str, ==, expected->str);
}

static void
test_text_splits (void)
{
  static const struct
  {
    guint radix;
    const gchar *sep;
    const gchar *trailer;
    guint64 max;
    const gchar *stream;
    const gchar *messages;   /* what the reference must say */
  } cases[] = {
    { 10, "\r\n", "", 0, "5\r\nhello0\r\n12\r\nhello\r\nworld3\r\n\r\n\r", "hello||hello\\r\\nworld|\\r\\n\\r|" },
    { 10, ":", ",", 0, "5:hello,0:,12:hello,world!,3:a:,,", "hello||hello,world\\x21|a:,|" },
    { 10, ":", ",", 0, "005:hello,0000:,1:x,", "hello||x|" },
    { 16, "\r\n", "\r\n", 0, "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz||" },
    { 16, "\r\n", "\r\n", 0, "A\r\n0123456789\r\nb\r\nABCDEFGHIJK\r\n0\r\n\r\n", "0123456789|ABCDEFGHIJK||" },
    { 16, "\r\n", "\r\n", 0, "0C\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\n\r\n",
      "\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n!bad-trailer|0\\r\\n\\r\\n" },
    { 16, "\r\n", "\r\n", 0, "0C\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n0\r\n\r\n", "\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n||" },
    { 10, "\r\n", "\r\n", 4, "4\r\nabcd\r\n5\r\nabcde\r\n", "abcd|!too-long 5|abcde\\r\\n" },
    { 10, ":", ",", 0, "3:abc,2:xy;1:z,", "abc|xy!bad-trailer|;1:z," },
    { 10, ":", ",", 0, "3:abc,2;xy,", "abc|!invalid|2;xy," },
    { 16, "\n", "ab", 0, "3\nxyzab0\nab2\nab", "xyz||ab" },
    { 16, "\r\n", "\r\n", 0, "3\r\nabc\r\n1", "abc|1" },
    { 10, "--", "==", 0, "2--ab==1-", "ab|1-" },
    { 10, "--", "==", 0, "2--ab=", "ab" },
  };
  Driver d;
  GString *expected = g_string_new (NULL);
  guint i;

  driver_init (&d, FALSE);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Term t = term_text (cases[i].radix, cases[i].sep, cases[i].trailer, cases[i].max);

      /* The reference agrees with what the protocol says. */
      reference_general ((const guint8 *) cases[i].stream, strlen (cases[i].stream), &t,
                         NULL, 0, expected);
      g_assert_cmpstr (expected->str, ==, cases[i].messages);
      check_text_cuts (&d, &t, cases[i].stream, expected);
    }
  driver_clear (&d);
  g_string_free (expected, TRUE);
}

/* Every short string over digits, separator and trailer bytes, over every
 * composition of reads. */
static void
test_text_exhaustive (void)
{
  static const guint8 dec_alphabet[] = { '0', '1', '2', ':', ',', 'x' };
  static const guint8 hex_alphabet[] = { '1', 'A', 'b', '\r', '\n', 'x' };
  guint max_length = g_test_thorough () ? 7 : 5;
  GString *expected = g_string_new (NULL);
  Driver d;
  guint i;
  const Term dec_settings[] = {
    term_text (10, ":", ",", 0),
    term_text (10, ":", "", 0),
    term_text (10, ":", ",", 1),
    term_text (10, ",:", ":,", 0),
  };
  const Term hex_settings[] = {
    term_text (16, "\r\n", "\r\n", 0),
    term_text (16, "\n", "", 2),
  };

  driver_init (&d, FALSE);
  for (i = 0; i < G_N_ELEMENTS (dec_settings); i++)
    check_exhaustive (&d, &dec_settings[i], dec_alphabet, G_N_ELEMENTS (dec_alphabet),
                      max_length, expected);
  for (i = 0; i < G_N_ELEMENTS (hex_settings); i++)
    check_exhaustive (&d, &hex_settings[i], hex_alphabet, G_N_ELEMENTS (hex_alphabet),
                      max_length, expected);
  driver_clear (&d);
  g_string_free (expected, TRUE);
}

/* A stream of text frames (and, now and then, a byte from @noise): frames
 * under the settings of text_stream_terms, so that a change between them
 * keeps framing them. */
static const Term *
text_stream_terms (guint *n)
{
  static Term terms[6];
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      terms[0] = term_text (10, ":", ",", 0);
      terms[1] = term_text (10, "\r\n", "", 0);
      terms[2] = term_text (16, "\r\n", "\r\n", 0);
      terms[3] = term_text (16, ":", ",", 4);
      terms[4] = term_text (10, ":", "", 0);
      terms[5] = term_text (10, "\r\n", "\r\n", 6);
      g_once_init_leave (&initialized, 1);
    }
  *n = G_N_ELEMENTS (terms);
  return terms;
}

static gsize
random_text_stream (GRand      *rand,
                    const Term *main_term,
                    guint8     *s,
                    gsize       size)
{
  static const gchar noise[] = "0123:,\r\naA";
  static const gchar payload[] = "ab:,\r\n01";
  guint n_terms;
  const Term *terms = text_stream_terms (&n_terms);
  gsize n = 0;

  while (n < size)
    {
      const Term *t = g_rand_int_range (rand, 0, 4) != 0 ? main_term :
                      &terms[g_rand_int_range (rand, 0, (gint) n_terms)];
      guint length = (guint) g_rand_int_range (rand, 0, 12);
      gchar header[32];
      gint hl;
      guint k;

      if (g_rand_int_range (rand, 0, 12) == 0)
        {
          s[n++] = (guint8) noise[g_rand_int_range (rand, 0, (gint) sizeof noise - 1)];
          continue;
        }
      hl = g_snprintf (header, sizeof header, t->radix == 16 ?
                       (g_rand_boolean (rand) ? "%0*X" : "%0*x") : "%0*u",
                       g_rand_int_range (rand, 1, 4), length);
      if (n + (gsize) hl + t->sep_len + length + t->trailer_len > size)
        break;
      memcpy (s + n, header, (gsize) hl);
      n += (gsize) hl;
      memcpy (s + n, t->sep, t->sep_len);
      n += t->sep_len;
      for (k = 0; k < length; k++)
        s[n++] = (guint8) payload[g_rand_int_range (rand, 0, (gint) sizeof payload - 1)];
      memcpy (s + n, t->trailer, t->trailer_len);
      n += t->trailer_len;
    }
  return n;
}

static void
hook_random_text (Driver                 *d,
                  const AchatFramerEvent *ev)
{
  RandomRun *run = d->hook_data;
  Change change;
  guint n_terms;
  const Term *terms = text_stream_terms (&n_terms);

  if (g_rand_int_range (run->rand, 0, 3) != 0)
    return;
  if (achat_framer_get_held (&d->framer) > 0)
    {
      run->changes_while_held++;
      if (d->at_end)
        run->changes_at_end++;
    }
  change.position = d->delivered;
  change.at_end = d->at_end;
  change.after_refusal = ev->status != ACHAT_FRAMER_OK;
  switch (g_rand_int_range (run->rand, 0, 8))
    {
    case 0:
      change.term = random_term_any (run->rand);
      break;
    case 1:
      change.term = random_term_text (run->rand, FALSE);
      break;
    case 2: case 3: case 4: case 5:
      /* The stream's own setting, set again (a frame cut short). */
      change.term = *(const Term *) run->main_term;
      break;
    default:
      change.term = terms[g_rand_int_range (run->rand, 0, (gint) n_terms)];
      break;
    }
  term_apply (&change.term, &d->framer);
  g_array_append_val (run->changes, change);
}

/* Streams of text frames, random cuts, random changes of setting (to
 * other text settings mostly, to any kind sometimes). */
static void
test_text_random_changes (void)
{
  GRand *rand = g_rand_new_with_seed (0x74657874);  /* "text" */
  RandomRun run;
  Driver d;
  GString *expected = g_string_new (NULL);
  guint iterations = g_test_thorough () ? 200000 : 20000;
  guint it, n_refused = 0, n_headers = 0, n_terminators = 0;
  guint n_terms;
  const Term *terms = text_stream_terms (&n_terms);

  run.rand = rand;
  run.changes = g_array_new (FALSE, FALSE, sizeof (Change));
  run.changes_while_held = 0;
  run.changes_at_end = 0;
  driver_init (&d, FALSE);

  for (it = 0; it < iterations; it++)
    {
      guint8 s[96];
      gsize cuts[96];
      guint n_cuts;
      Term initial = terms[g_rand_int_range (rand, 0, (gint) n_terms)];
      gsize n = random_text_stream (rand, &initial, s, (gsize) g_rand_int_range (rand, 0, 80));

      n_cuts = random_cuts (rand, n, cuts);
      g_array_set_size (run.changes, 0);
      run.main_term = &initial;
      run_pieces (&d, &initial, hook_random_text, &run, s, n, cuts, n_cuts,
                  g_rand_int_range (rand, 0, 4) == 0);
      n_refused += d.n_refused;
      n_headers += d.n_headers;
      n_terminators += d.n_terminators;

      reference_general (s, n, &initial,
                         (const Change *) (gpointer) run.changes->data,
                         run.changes->len, expected);
      if (strcmp (d.messages->str, expected->str) != 0)
        {
          GString *desc = g_string_new (NULL);

          describe_run (desc, &initial, s, n, cuts, n_cuts, run.changes);
          g_test_message ("iteration %u: %s", it, desc->str);
          g_string_free (desc, TRUE);
        }
      g_assert_cmpstr (d.messages->str, ==, expected->str);
    }

  g_test_message ("%u changes while bytes were held, %u headers, %u terminators, "
                  "%u refused frames", run.changes_while_held, n_headers, n_terminators,
                  n_refused);
  g_assert_cmpuint (run.changes_while_held, >, iterations / 40);
  g_assert_cmpuint (n_headers, >, iterations);
  g_assert_cmpuint (n_terminators, >, iterations);
  g_assert_cmpuint (n_refused, >, iterations / 20);

  driver_clear (&d);
  g_array_unref (run.changes);
  g_string_free (expected, TRUE);
  g_rand_free (rand);
}

/* Unread in the payload or in the trailer, then another setting: the
 * frame's bytes come back as the peer sent them (header with its leading
 * zeros and case, payload, the part of the trailer already matched), none
 * lost or repeated. Every cut of the stream in two reads, the unread made
 * on each event in turn. */
static void
test_text_unread (void)
{
  static const struct
  {
    guint radix;
    const gchar *sep;
    const gchar *trailer;
    const gchar *stream;
  } cases[] = {
    { 10, ":", ",", "5:hello,0:,3:abc,2:xy," },
    { 10, ":", ",", "05:hello,000:,3:abc," },
    { 16, "\r\n", "\r\n", "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n" },
    { 16, "\r\n", "\r\n", "00b\r\nhello world\r\n3\r\nabc\r\n" },
    { 16, "\r\n", "\r\n", "Ff\r\nabc" },
    { 10, "\r\n", "", "005\r\nhello2\r\nhi" },
    { 10, "--", "==", "3--abc==10--0123456789==" },
  };
  guint c;
  guint n_unread = 0, n_in_trailer = 0;

  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      const guint8 *s = (const guint8 *) cases[c].stream;
      gsize n = strlen (cases[c].stream);
      gsize cut;
      guint at;

      for (cut = 0; cut <= n; cut++)
        for (at = 1; at < 40; at++)
          {
            AchatFramer f;
            AchatFramerEvent ev;
            g_autoptr(GByteArray) current = g_byte_array_new ();
            g_autoptr(GString) held = g_string_new (NULL);
            gsize pos = 0, frame_start = 0, end = cut;
            guint events = 0;
            gboolean done = FALSE;

            achat_framer_init (&f);
            achat_framer_set_length_text (&f, cases[c].radix, (const guint8 *) cases[c].sep,
                                          strlen (cases[c].sep),
                                          (const guint8 *) cases[c].trailer,
                                          strlen (cases[c].trailer), 0);
            while (!done)
              {
                gsize used = achat_framer_next (&f, s + pos, end - pos, &ev);
                gboolean need_more = ev.length == 0 && !ev.terminator;

                g_assert_cmpint (ev.status, ==, ACHAT_FRAMER_OK);
                pos += used;
                g_byte_array_append (current, ev.data, (guint) ev.length);
                if (ev.terminator)
                  {
                    g_byte_array_set_size (current, 0);
                    frame_start = pos;
                  }
                /* After every call, "need more input" included (a trailer
                 * partly matched). */
                if (++events == at && achat_framer_in_frame (&f) &&
                    achat_framer_get_held (&f) == 0)
                  {
                    gboolean in_trailer = f.length_state == 3;
                    AchatFramerEvent fe;

                    /* Give the frame up: put back what it delivered, keep
                     * the rest of the read, frame it all as one line. */
                    n_unread++;
                    if (in_trailer && f.trailer_pos > 0)
                      n_in_trailer++;
                    achat_framer_hold_input (&f, s + pos, end - pos);
                    achat_framer_unread (&f, current->data, current->len);
                    g_assert_cmpuint (f.length_state, ==, 0);   /* a header next */
                    achat_framer_set_none (&f);
                    while (achat_framer_flush (&f, &fe))
                      g_string_append_len (held, (const gchar *) fe.data, (gssize) fe.length);
                    if (held->len != end - frame_start ||
                        memcmp (held->str, s + frame_start, held->len) != 0)
                      g_test_message ("stream \"%s\" cut at %" G_GSIZE_FORMAT
                                      ", unread on event %u: \"%s\"", cases[c].stream, cut,
                                      at, held->str);
                    g_assert_cmpmem (held->str, held->len, s + frame_start, end - frame_start);
                    done = TRUE;
                  }
                else if (need_more)
                  {
                    if (end == n)
                      break;
                    end = n;   /* the second read */
                  }
              }
            achat_framer_clear (&f);
          }
    }
  g_test_message ("%u unreads, %u in a trailer", n_unread, n_in_trailer);
  g_assert_cmpuint (n_unread, >, 100);
  g_assert_cmpuint (n_in_trailer, >, 0);

  /* By hand: in the middle of a trailer, then lines. */
  {
    AchatFramer f;
    AchatFramerEvent ev;
    g_autofree gchar *got = NULL;
    gsize used;

    achat_framer_init (&f);
    achat_framer_set_length_text (&f, 10, (const guint8 *) "\r\n", 2, (const guint8 *) "\r\n", 2, 0);
    used = achat_framer_next (&f, (const guint8 *) "05\r\nhello\r", 10, &ev);
    g_assert_cmpuint (used, ==, 9);
    g_assert_cmpmem (ev.data, ev.length, "hello", 5);
    g_assert_false (ev.terminator);
    used = achat_framer_next (&f, (const guint8 *) "\r", 1, &ev);
    g_assert_cmpuint (used, ==, 1);
    g_assert_cmpuint (f.trailer_pos, ==, 1);
    g_assert_true (achat_framer_in_frame (&f));
    achat_framer_unread (&f, (const guint8 *) "hello", 5);
    g_assert_cmpuint (f.length_state, ==, 0);
    g_assert_cmpuint (achat_framer_get_held (&f), ==, 10);
    g_assert_cmpuint (f.trailer_pos, ==, 0);
    achat_framer_set_bytes (&f, (const guint8 *) "\n", 1);
    achat_framer_hold_input (&f, (const guint8 *) "\nnext\n", 6);
    got = frame_held (&f);
    g_assert_cmpstr (got, ==, "T(05\r) T(hello\r) T(next) ");
    achat_framer_clear (&f);
  }
}

/* Whole reads: bounds exclude header and trailer, "after" is past the
 * trailer; nothing whole while a trailer is still to come. */
static void
test_text_next_whole (void)
{
  static const struct
  {
    const gchar *stream;
  } streams[] = {
    { "5:hello,0:,3:abc,2:x" },
    { "5:hello,3:ab;" },
    { "5:hel" },
    { "12" },
    { "x:" },
    { "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n3\r\n" },
    { "3\r\nabc\r\n0\r\n\r" },
    { "5\r\nhello0\r\n2\r\nab" },
  };
  const Term terms[] = {
    term_text (10, ":", ",", 0),
    term_text (10, ":", ",", 4),
    term_text (10, ":", "", 0),
    term_text (16, "\r\n", "\r\n", 0),
    term_text (10, "\r\n", "", 0),
    term_text (16, "\r\n", "", 3),
  };
  static const gsize maxes[] = { 1, 2, 3, 16 };
  static const guint64 max_lengths[] = { 0, 1, 3, 100 };
  guint s, t, m, l;
  AchatFramer f;
  AchatFramerEvent ev;
  gsize bounds[2 * 8], after[8];
  unsigned term_index = 7;
  gsize n;

  for (s = 0; s < G_N_ELEMENTS (streams); s++)
    {
      for (t = 0; t < G_N_ELEMENTS (terms); t++)
        for (m = 0; m < G_N_ELEMENTS (maxes); m++)
          for (l = 0; l < G_N_ELEMENTS (max_lengths); l++)
            check_next_whole (&terms[t], (const guint8 *) streams[s].stream,
                              strlen (streams[s].stream), maxes[m], max_lengths[l]);
    }

  /* The bounds, by hand. */
  achat_framer_init (&f);
  achat_framer_set_length_text (&f, 10, (const guint8 *) ":", 1, (const guint8 *) ",", 1, 0);
  n = achat_framer_next_whole (&f, (const guint8 *) "5:hello,0:,3:abc,2:x", 20, 8, 0,
                               bounds, after, &term_index);
  g_assert_cmpuint (n, ==, 3);
  g_assert_cmpuint (bounds[0], ==, 2);
  g_assert_cmpuint (bounds[1], ==, 7);
  g_assert_cmpuint (after[0], ==, 8);
  g_assert_cmpuint (bounds[2], ==, 10);
  g_assert_cmpuint (bounds[3], ==, 10);
  g_assert_cmpuint (after[1], ==, 11);
  g_assert_cmpuint (bounds[4], ==, 13);
  g_assert_cmpuint (bounds[5], ==, 16);
  g_assert_cmpuint (after[2], ==, 17);
  g_assert_cmpuint (term_index, ==, 0);
  g_assert_false (achat_framer_in_frame (&f));
  g_assert_cmpuint (achat_framer_get_held (&f), ==, 0);
  /* In a trailer: nothing is whole, nothing changes. */
  achat_framer_next (&f, (const guint8 *) "2:xy", 4, &ev);
  g_assert_cmpuint (ev.length, ==, 2);
  g_assert_false (ev.terminator);
  g_assert_cmpuint (f.length_state, ==, 3);
  n = achat_framer_next_whole (&f, (const guint8 *) ",1:z,", 5, 8, 0, bounds, after, &term_index);
  g_assert_cmpuint (n, ==, 0);
  g_assert_cmpuint (f.length_state, ==, 3);
  achat_framer_next (&f, (const guint8 *) ",", 1, &ev);
  g_assert_true (ev.terminator);
  n = achat_framer_next_whole (&f, (const guint8 *) "1:z,", 4, 8, 0, bounds, after, &term_index);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpuint (bounds[0], ==, 2);
  g_assert_cmpuint (bounds[1], ==, 3);
  g_assert_cmpuint (after[0], ==, 4);
  achat_framer_clear (&f);
}

static void
test_text_mark (void)
{
  static const struct
  {
    const gchar *stream;
  } streams[] = {
    { "5:hello,0:,3:abc,2:x" },
    { "5:hello,3:ab;1:x," },
    { "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n3\r\n" },
    { "5\r\nhello0\r\n2\r\nab9\r\n" },
    { "9:" },
  };
  const Term terms[] = {
    term_text (10, ":", ",", 0),
    term_text (10, ":", ",", 4),
    term_text (16, "\r\n", "\r\n", 0),
    term_text (10, "\r\n", "", 0),
  };
  guint s, t;

  for (s = 0; s < G_N_ELEMENTS (streams); s++)
    for (t = 0; t < G_N_ELEMENTS (terms); t++)
      check_look_ahead (&terms[t], (const guint8 *) streams[s].stream,
                        strlen (streams[s].stream));
}

/* Arguments outside the contract set no terminator at all. */
static void
test_text_settings (void)
{
  static const struct
  {
    guint radix;
    const gchar *sep;
    gsize sep_len;
    const gchar *trailer;
    gsize trailer_len;
    gboolean valid;
  } cases[] = {
    { 10, ":", 1, ",", 1, TRUE },
    { 16, ":", 1, ",", 1, TRUE },
    { 8, ":", 1, ",", 1, FALSE },
    { 0, ":", 1, ",", 1, FALSE },
    { 2, ":", 1, "", 0, FALSE },
    { 36, ":", 1, "", 0, FALSE },
    { 10, ":", 0, "", 0, FALSE },
    { 10, "12345678", 8, "", 0, FALSE },
    { 10, "0:", 2, "", 0, FALSE },
    { 10, "9", 1, "", 0, FALSE },
    { 10, "a", 1, "", 0, TRUE },      /* not a decimal digit */
    { 16, "a", 1, "", 0, FALSE },
    { 16, "F:", 2, "", 0, FALSE },
    { 16, "g", 1, "", 0, TRUE },
    { 10, ":1", 2, "", 0, TRUE },     /* only its first byte matters */
    { 10, ":2345678", 8, "12345678", 8, TRUE },
    { 10, ":23456789", 9, "", 0, FALSE },
    { 10, ":", 1, "123456789", 9, FALSE },
    { 10, ":", 1, "\0", 1, TRUE },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      AchatFramer f;
      AchatFramerEvent ev;

      achat_framer_init (&f);
      /* From a setting that holds a byte: it stays held, as data. */
      achat_framer_set_bytes (&f, (const guint8 *) "\r\n", 2);
      achat_framer_next (&f, (const guint8 *) "x\r", 2, &ev);
      g_assert_cmpuint (achat_framer_get_held (&f), ==, 1);
      achat_framer_set_length_text (&f, cases[i].radix, (const guint8 *) cases[i].sep,
                                    cases[i].sep_len, (const guint8 *) cases[i].trailer,
                                    cases[i].trailer_len, 0);
      if (!cases[i].valid)
        {
          g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_NONE);
          g_assert_cmpuint (achat_framer_get_n_terminators (&f), ==, 0);
          g_assert_false (achat_framer_in_frame (&f));
          g_assert_cmpuint (achat_framer_get_held (&f), ==, 1);
          achat_framer_next (&f, (const guint8 *) "5:hello", 7, &ev);
          g_assert_cmpmem (ev.data, ev.length, "\r", 1);
          g_assert_false (ev.terminator);
        }
      else
        {
          g_assert_cmpint (f.kind, ==, ACHAT_FRAMER_LENGTH);
          g_assert_cmpuint (f.radix, ==, cases[i].radix);
          g_assert_cmpmem (f.sep, f.sep_len, cases[i].sep, cases[i].sep_len);
          g_assert_cmpmem (f.trailer, f.trailer_len, cases[i].trailer, cases[i].trailer_len);
          g_assert_true (achat_framer_in_frame (&f));   /* "\r" held */
          achat_framer_discard (&f);
          g_assert_false (achat_framer_in_frame (&f));
        }
      achat_framer_clear (&f);
    }

  /* A binary length after a text one has no separator nor trailer. */
  {
    Term be1 = term_length (1, TRUE, 0, 0);
    Term net = term_text (10, ":", ",", 0);
    Driver d;

    driver_init (&d, TRUE);
    term_apply (&net, &d.framer);
    driver_feed (&d, (const guint8 *) "1:a,", 4);
    term_apply (&be1, &d.framer);
    g_assert_cmpuint (d.framer.radix, ==, 0);
    driver_feed (&d, (const guint8 *) "\x02" "bc", 3);
    term_apply (&net, &d.framer);
    driver_feed (&d, (const guint8 *) ",", 1);
    driver_flush (&d);
    g_assert_cmpstr (d.render->str, ==, "c(a) T c(bc) T E(invalid) c(,)");
    driver_clear (&d);
  }
}


int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/framer/behaviour/I1", test_row_i1);
  g_test_add_func ("/framer/behaviour/I2", test_row_i2);
  g_test_add_func ("/framer/behaviour/I3", test_row_i3);
  g_test_add_func ("/framer/behaviour/I4", test_row_i4);
  g_test_add_func ("/framer/behaviour/I5", test_row_i5);
  g_test_add_func ("/framer/behaviour/I6", test_row_i6);
  g_test_add_func ("/framer/behaviour/I7", test_row_i7);
  g_test_add_func ("/framer/behaviour/I8", test_row_i8);
  g_test_add_func ("/framer/behaviour/I9", test_row_i9);
  g_test_add_func ("/framer/behaviour/I10", test_row_i10);
  g_test_add_func ("/framer/behaviour/I11", test_row_i11);
  g_test_add_func ("/framer/behaviour/I12", test_row_i12);
  g_test_add_func ("/framer/behaviour/I15", test_row_i15);
  g_test_add_func ("/framer/behaviour/I16", test_row_i16);
  g_test_add_func ("/framer/prefix-at-end/table", test_prefix_at_end_table);
  g_test_add_func ("/framer/prefix-at-end/exhaustive",
                   test_prefix_at_end_exhaustive);
  g_test_add_func ("/framer/split/exhaustive", test_split_exhaustive);
  g_test_add_func ("/framer/split/streams", test_split_streams);
  g_test_add_func ("/framer/split/random-changes", test_random_changes);
  g_test_add_func ("/framer/edge/shorter-terminator-while-held",
                   test_shorter_terminator_while_held);
  g_test_add_func ("/framer/edge/count-larger-than-input",
                   test_count_larger_than_input);
  g_test_add_func ("/framer/edge/huge-count", test_huge_count);
  g_test_add_func ("/framer/edge/discard", test_discard);
  g_test_add_func ("/framer/edge/hold-input", test_hold_input);
  g_test_add_func ("/framer/edge/hold-large-lf", test_hold_large_lf);
  g_test_add_func ("/framer/edge/hold-large-crlf", test_hold_large_crlf);
  g_test_add_func ("/framer/edge/hold-large-multi", test_hold_large_multi);
  g_test_add_func ("/framer/edge/hold-append", test_hold_append);
  g_test_add_func ("/framer/edge/from-input", test_from_input);
  g_test_add_func ("/framer/edge/terminator-is-copied",
                   test_terminator_is_copied);
  g_test_add_func ("/framer/edge/linear-1-byte", test_linear_1);
  g_test_add_func ("/framer/edge/linear-4k", test_linear_4k);
  g_test_add_func ("/framer/multi/term-index", test_multi_term_index);
  g_test_add_func ("/framer/multi/get-terminator", test_multi_get_terminator);
  g_test_add_func ("/framer/multi/change-while-held",
                   test_multi_change_while_held);
  g_test_add_func ("/framer/multi/end-of-stream", test_multi_end_of_stream);
  g_test_add_func ("/framer/multi/exhaustive", test_multi_exhaustive);
  g_test_add_func ("/framer/multi/linear", test_multi_linear);
  g_test_add_func ("/framer/length/basic", test_length_basic);
  g_test_add_func ("/framer/length/refused", test_length_refused);
  g_test_add_func ("/framer/length/max-length", test_length_max_length);
  g_test_add_func ("/framer/length/change-kind", test_length_change_kind);
  g_test_add_func ("/framer/length/exhaustive", test_length_exhaustive);
  g_test_add_func ("/framer/length/line-then-frame",
                   test_length_line_then_frame);
  g_test_add_func ("/framer/split/random-kinds", test_random_kinds);
  g_test_add_func ("/framer/unread", test_unread);
  g_test_add_func ("/framer/mark/look-ahead", test_mark_look_ahead);
  g_test_add_func ("/framer/next-whole", test_next_whole);
  g_test_add_func ("/framer/text-length/basic", test_text_basic);
  g_test_add_func ("/framer/text-length/held-header", test_text_held_header);
  g_test_add_func ("/framer/text-length/digits", test_text_digits);
  g_test_add_func ("/framer/text-length/separator-mismatch",
                   test_text_separator_mismatch);
  g_test_add_func ("/framer/text-length/bad-trailer", test_text_bad_trailer);
  g_test_add_func ("/framer/text-length/splits", test_text_splits);
  g_test_add_func ("/framer/text-length/exhaustive", test_text_exhaustive);
  g_test_add_func ("/framer/text-length/random-changes",
                   test_text_random_changes);
  g_test_add_func ("/framer/text-length/unread", test_text_unread);
  g_test_add_func ("/framer/text-length/next-whole", test_text_next_whole);
  g_test_add_func ("/framer/text-length/mark", test_text_mark);
  g_test_add_func ("/framer/text-length/settings", test_text_settings);

  return g_test_run ();
}
