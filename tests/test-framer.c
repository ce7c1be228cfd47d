/* test-framer.c: unit tests for the framing engine
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
 *    must come out exactly once, in order.
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

static void
term_apply (const Term  *t,
            AchatFramer *framer)
{
  switch (t->kind)
    {
    case ACHAT_FRAMER_BYTES:
      achat_framer_set_bytes (framer, t->bytes, t->length);
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

/* Escapes \r, \n, the backslash, '|' (the message separator) and anything
 * not printable, so that rendered strings are unambiguous and readable in
 * assertion messages. */
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
      else if (c == '|' || c < 0x20 || c >= 0x7f)
        g_string_append_printf (s, "\\x%02x", c);
      else
        g_string_append_c (s, (gchar) c);
    }
}

static void
describe_term (GString    *s,
               const Term *t)
{
  switch (t->kind)
    {
    case ACHAT_FRAMER_BYTES:
      g_string_append_c (s, '"');
      append_escaped (s, t->bytes, t->length);
      g_string_append_c (s, '"');
      break;
    case ACHAT_FRAMER_COUNT:
      g_string_append_printf (s, "count %" G_GUINT64_FORMAT, t->count);
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

/* Called after every event that is not "need more input" (and not after a
 * flush); it may change the terminator, as a found_terminator() handler
 * would. */
typedef void (*EventHook) (Driver                 *driver,
                           const AchatFramerEvent *event);

struct _Driver
{
  AchatFramer framer;
  GString *render;     /* "c(abc) T c(def) T", or NULL */
  GString *messages;   /* escaped data, "|" after each terminator */
  GByteArray *recon;   /* data and terminator bytes, in order */
  GByteArray *fed;     /* every input byte, in order */
  gboolean lossy;      /* discard was used: recon is not fed */
  guint64 delivered;   /* stream position: bytes of recon so far */
  guint n_events;
  guint n_terminators;
  gsize max_held;      /* the most bytes ever held between two calls */
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
  d->max_held = 0;
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

/* Records one event; kind/term are those in force when the engine produced
 * it (read before the hook may change them). */
static void
driver_record (Driver                 *d,
               const AchatFramerEvent *ev,
               AchatFramerKind         kind,
               const guint8           *term,
               gsize                   term_len)
{
  d->n_events++;
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
        render_token (d->render, "T");
      g_string_append_c (d->messages, '|');
      /* A count ends without consuming anything; a bytes terminator consumed
       * exactly the terminator. */
      if (kind == ACHAT_FRAMER_BYTES)
        {
          g_byte_array_append (d->recon, term, (guint) term_len);
          d->delivered += term_len;
        }
      else
        g_assert_cmpint (kind, ==, ACHAT_FRAMER_COUNT);
    }
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

/* Feeds one input and pulls events until the engine asks for more. */
static void
driver_feed (Driver       *d,
             const guint8 *input,
             gsize         length)
{
  gsize off = 0;
  guint iterations = 0;
  gsize held_before = achat_framer_get_held (&d->framer);
  /* Every event but the last consumes input or shrinks the held bytes. */
  guint max_iterations = (guint) (length + held_before) + 2;

  if (length > 0)
    g_byte_array_append (d->fed, input, (guint) length);

  for (;;)
    {
      AchatFramerEvent ev;
      AchatFramerKind kind = d->framer.kind;
      gsize term_len = kind == ACHAT_FRAMER_BYTES ? d->framer.term_len : 0;
      guint8 term[64];
      gsize held_prev = achat_framer_get_held (&d->framer);
      gsize consumed;
      gsize held_bound;

      g_assert_cmpuint (term_len, <=, sizeof term);
      if (term_len)
        memcpy (term, d->framer.term, term_len);

      memset (&ev, 0x55, sizeof ev);
      consumed = achat_framer_next (&d->framer, input ? input + off : NULL,
                                    length - off, &ev);
      g_assert_cmpuint (consumed, <=, length - off);

      /* Held bytes never grow beyond a proper prefix of the terminator. */
      held_bound = MAX (held_prev, term_len ? term_len - 1 : 0);
      g_assert_cmpuint (achat_framer_get_held (&d->framer), <=, held_bound);
      d->max_held = MAX (d->max_held, achat_framer_get_held (&d->framer));

      if (ev.length == 0 && !ev.terminator)
        {
          /* "Need more input": only once all of the input is consumed. */
          g_assert_cmpuint (off + consumed, ==, length);
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
      driver_record (d, &ev, kind, term, term_len);
      if (d->hook)
        d->hook (d, &ev);
    }
}

/* End of stream: every held byte comes back as data. */
static void
driver_flush (Driver *d)
{
  AchatFramerEvent ev;
  gsize held = achat_framer_get_held (&d->framer);
  gboolean flushed;

  memset (&ev, 0x55, sizeof ev);
  flushed = achat_framer_flush (&d->framer, &ev);
  g_assert_cmpint (flushed, ==, held > 0);
  g_assert_cmpuint (ev.length, ==, held);
  g_assert_false (ev.terminator);
  g_assert_false (ev.from_input);
  g_assert_cmpuint (achat_framer_get_held (&d->framer), ==, 0);
  if (flushed)
    driver_record (d, &ev, d->framer.kind, NULL, 0);

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
} Change;

typedef struct
{
  GRand *rand;
  GArray *changes;   /* of Change */
  guint changes_while_held;
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
      /* Sorted cut points, empty pieces allowed; sometimes byte by byte. */
      if (g_rand_int_range (rand, 0, 8) == 0)
        for (i = 1; i < n; i++)
          cuts[n_cuts++] = i;
      else
        {
          guint k = (guint) g_rand_int_range (rand, 0, 8);

          while (k-- > 0)
            {
              prev = (gsize) g_rand_int_range (rand, (gint) prev,
                                               (gint) n + 1);
              cuts[n_cuts++] = prev;
            }
        }

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
          guint c;

          describe_cut (desc, &initial, s, n, cuts, n_cuts);
          for (c = 0; c < run.changes->len; c++)
            {
              const Change *ch = &g_array_index (run.changes, Change, c);

              g_string_append_printf (desc, "; at %" G_GUINT64_FORMAT " ",
                                      ch->position);
              describe_term (desc, &ch->term);
            }
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
  /* Generous: a quadratic engine would take minutes. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);

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

static void
test_hold_input (void)
{
  static const gchar *const streams[] = {
    "a\r\nbb\r\n\r\nccc\r", "\r\r\n\n\r\nx\r\n", "no terminator at all",
  };
  guint s, stop, cut;

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
          achat_framer_set_bytes (&plain, (const guint8 *) "\r\n", 2);
          achat_framer_set_bytes (&paused, (const guint8 *) "\r\n", 2);

          frame_all (&plain, data, cut, 0, &n, want);
          frame_all (&plain, data + cut, length - cut, 0, &n, want);
          frame_all (&paused, data, cut, stop, &n, got);
          frame_all (&paused, data + cut, length - cut, stop, &n, got);

          g_assert_cmpstr (got->str, ==, want->str);
          g_assert_cmpuint (achat_framer_get_held (&paused), ==, achat_framer_get_held (&plain));
          achat_framer_clear (&plain);
          achat_framer_clear (&paused);
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
  g_test_add_func ("/framer/edge/from-input", test_from_input);
  g_test_add_func ("/framer/edge/terminator-is-copied",
                   test_terminator_is_copied);
  g_test_add_func ("/framer/edge/linear-1-byte", test_linear_1);
  g_test_add_func ("/framer/edge/linear-4k", test_linear_4k);

  return g_test_run ();
}
