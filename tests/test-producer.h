/* test-producer.h: the byte pattern the output tests check, and a test
 * producer
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <achat/achat.h>

G_BEGIN_DECLS

/* The pattern ------------------------------------------------------------
 *
 * Byte i of every big stream is (i * 31 + 7) mod 251.  Its period is a
 * prime, so a piece delivered twice, lost or out of order shows up as a
 * mismatch (unless its length is a multiple of 251, which the tests
 * avoid or make unlikely). */

#define PATTERN_PERIOD 251
#define PATTERN_SPAN (64 * 1024)

void          pattern_init              (void);
void          pattern_fill              (guint8              *dest,
                                         guint64              offset,
                                         gsize                length);
GBytes       *pattern_new_bytes         (guint64              offset,
                                         gsize                length);
GBytes       *pattern_slice             (guint64              offset,
                                         gsize                length);
gsize         pattern_find_mismatch     (const guint8        *data,
                                         guint64              offset,
                                         gsize                length);
gboolean      pattern_matches           (const guint8        *data,
                                         guint64              offset,
                                         gsize                length);

/* A test producer -------------------------------------------------------
 *
 * Hands out a list of strings ("" is an empty GBytes, the end of the list
 * NULL), numbered chunks, or a stretch of the pattern in slices; counts the
 * calls to more() and the bytes handed out, and can run a hook (push,
 * close, discard...) in them. */

typedef enum
{
  PRODUCE_LIST,
  PRODUCE_NUMBERED,
  PRODUCE_PATTERN,
} ProduceMode;

#define TEST_TYPE_PRODUCER (test_producer_get_type ())
G_DECLARE_FINAL_TYPE (TestProducer, test_producer, TEST, PRODUCER, GObject)

typedef void (*TestProducerHook) (TestProducer *producer,
                                  guint         call,
                                  gpointer      user_data);

struct _TestProducer
{
  GObject parent_instance;

  ProduceMode mode;
  GPtrArray *list;          /* PRODUCE_LIST: of GBytes */
  guint next;               /* PRODUCE_LIST and PRODUCE_NUMBERED */
  guint n_numbered;         /* PRODUCE_NUMBERED */
  guint64 pos;              /* PRODUCE_PATTERN: [pos, end) */
  guint64 end;
  gsize chunk_max;
  gboolean random_chunks;

  guint calls;              /* calls to more() */
  guint64 produced;         /* bytes handed out */
  TestProducerHook hook;
  gpointer hook_data;
};

TestProducer *test_producer_new_list     (const gchar * const *chunks);
TestProducer *test_producer_new_numbered (guint               n);
TestProducer *test_producer_new_pattern  (guint64             start,
                                          guint64             length,
                                          gsize               chunk_max,
                                          gboolean            random_chunks);

G_END_DECLS
