/* test-producer.c: the byte pattern the output tests check, and a test
 * producer
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include "test-producer.h"

static guint8 pattern_table[PATTERN_PERIOD + PATTERN_SPAN];
static GBytes *pattern_table_bytes;

void
pattern_init (void)
{
  gsize i;

  for (i = 0; i < sizeof pattern_table; i++)
    pattern_table[i] = (guint8) ((i * 31 + 7) % PATTERN_PERIOD);
  pattern_table_bytes = g_bytes_new_static (pattern_table, sizeof pattern_table);
}

void
pattern_fill (guint8  *dest,
              guint64  offset,
              gsize    length)
{
  while (length > 0)
    {
      gsize n = MIN (length, PATTERN_SPAN);

      memcpy (dest, pattern_table + offset % PATTERN_PERIOD, n);
      dest += n;
      offset += n;
      length -= n;
    }
}

/* A new copy of the pattern bytes [offset, offset + length). */
GBytes *
pattern_new_bytes (guint64 offset,
                   gsize   length)
{
  guint8 *data = g_malloc (length);

  pattern_fill (data, offset, length);
  return g_bytes_new_take (data, length);
}

/* A slice of the static table: at most PATTERN_SPAN bytes, no copy. */
GBytes *
pattern_slice (guint64 offset,
               gsize   length)
{
  g_assert_cmpuint (length, <=, PATTERN_SPAN);
  return g_bytes_new_from_bytes (pattern_table_bytes, offset % PATTERN_PERIOD, length);
}

/* The index of the first byte of @data that is not the pattern at
 * @offset, or G_MAXSIZE. */
gsize
pattern_find_mismatch (const guint8 *data,
                       guint64       offset,
                       gsize         length)
{
  gsize done = 0;

  while (done < length)
    {
      gsize n = MIN (length - done, PATTERN_SPAN);
      const guint8 *expected = pattern_table + (offset + done) % PATTERN_PERIOD;

      if (memcmp (data + done, expected, n) != 0)
        {
          gsize i;

          for (i = 0; i < n; i++)
            if (data[done + i] != expected[i])
              return done + i;
        }
      done += n;
    }
  return G_MAXSIZE;
}

gboolean
pattern_matches (const guint8 *data,
                 guint64       offset,
                 gsize         length)
{
  gsize at = pattern_find_mismatch (data, offset, length);

  if (at != G_MAXSIZE)
    g_test_message ("pattern mismatch at byte %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT,
                    at, length);
  return at == G_MAXSIZE;
}

/* The test producer ------------------------------------------------------ */

static void test_producer_iface_init (AchatProducerInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (TestProducer, test_producer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (ACHAT_TYPE_PRODUCER,
                                                      test_producer_iface_init))

static GBytes *
test_producer_more (AchatProducer *producer)
{
  TestProducer *self = TEST_PRODUCER (producer);
  GBytes *chunk = NULL;

  self->calls++;
  if (self->hook != NULL)
    self->hook (self, self->calls, self->hook_data);

  switch (self->mode)
    {
    case PRODUCE_LIST:
      if (self->next < self->list->len)
        chunk = g_bytes_ref (g_ptr_array_index (self->list, self->next++));
      break;
    case PRODUCE_NUMBERED:
      if (self->next < self->n_numbered)
        {
          gchar *text = g_strdup_printf ("chunk-%04u;", self->next++);

          chunk = g_bytes_new_take (text, strlen (text));
        }
      break;
    case PRODUCE_PATTERN:
      if (self->pos < self->end)
        {
          gsize n = self->random_chunks
                    ? (gsize) g_test_rand_int_range (1, (gint32) self->chunk_max + 1)
                    : self->chunk_max;

          n = (gsize) MIN ((guint64) n, self->end - self->pos);
          chunk = pattern_slice (self->pos, n);
          self->pos += n;
        }
      break;
    default:
      g_assert_not_reached ();
    }

  if (chunk != NULL)
    self->produced += g_bytes_get_size (chunk);
  return chunk;
}

static void
test_producer_iface_init (AchatProducerInterface *iface)
{
  iface->more = test_producer_more;
}

static void
test_producer_finalize (GObject *object)
{
  TestProducer *self = TEST_PRODUCER (object);

  g_clear_pointer (&self->list, g_ptr_array_unref);

  G_OBJECT_CLASS (test_producer_parent_class)->finalize (object);
}

static void
test_producer_class_init (TestProducerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_producer_finalize;
}

static void
test_producer_init (TestProducer *self)
{
}

/* @chunks is NULL-terminated; "" gives an empty GBytes. */
TestProducer *
test_producer_new_list (const gchar * const *chunks)
{
  TestProducer *self = g_object_new (TEST_TYPE_PRODUCER, NULL);

  self->mode = PRODUCE_LIST;
  self->list = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (; *chunks != NULL; chunks++)
    g_ptr_array_add (self->list, g_bytes_new (*chunks, strlen (*chunks)));
  return self;
}

TestProducer *
test_producer_new_numbered (guint n)
{
  TestProducer *self = g_object_new (TEST_TYPE_PRODUCER, NULL);

  self->mode = PRODUCE_NUMBERED;
  self->n_numbered = n;
  return self;
}

/* The pattern bytes [start, start + length), in chunks of @chunk_max bytes
 * (of a random size up to it with @random_chunks). */
TestProducer *
test_producer_new_pattern (guint64  start,
                           guint64  length,
                           gsize    chunk_max,
                           gboolean random_chunks)
{
  TestProducer *self = g_object_new (TEST_TYPE_PRODUCER, NULL);

  g_assert_cmpuint (chunk_max, >, 0);
  g_assert_cmpuint (chunk_max, <=, PATTERN_SPAN);
  self->mode = PRODUCE_PATTERN;
  self->pos = start;
  self->end = length == G_MAXUINT64 ? G_MAXUINT64 : start + length;
  self->chunk_max = chunk_max;
  self->random_chunks = random_chunks;
  return self;
}

