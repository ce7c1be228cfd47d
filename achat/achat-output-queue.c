/* achat-output-queue.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "achat-output-queue-private.h"

/* Copied pushes up to this size share chunks; a chunk is never reallocated
 * once data in it may have been gathered. */
#define SMALL_PUSH 1024
#define CHUNK_SIZE 4096

typedef enum
{
  ITEM_CHUNK,      /* bytes we copied: data/len/cap owned */
  ITEM_BYTES,      /* a GBytes referenced without a copy */
  ITEM_PRODUCER,
  ITEM_BARRIER,    /* nothing after it is gathered until it is removed */
  ITEM_MARK,       /* no data: reached when everything before it is written */
} ItemKind;

typedef struct
{
  GList link;      /* in queue->items, its data the item: no list node to allocate */
  ItemKind kind;
  gsize offset;    /* bytes already written */
  gsize length;    /* bytes of data */
  union {
    struct {
      guint8 *data;
      gsize cap;
    } chunk;
    GBytes *bytes;
    AchatProducer *producer;
    gpointer mark;
  };
} Item;

static void
item_free (Item *item)
{
  switch (item->kind)
    {
    case ITEM_CHUNK:
      g_free (item->chunk.data);
      break;
    case ITEM_BYTES:
      g_bytes_unref (item->bytes);
      break;
    case ITEM_PRODUCER:
      g_object_unref (item->producer);
      break;
    case ITEM_BARRIER:
    case ITEM_MARK:
      break;
    default:
      g_assert_not_reached ();
    }
  g_free (item);
}

static inline const guint8 *
item_data (Item *item)
{
  if (item->kind == ITEM_CHUNK)
    return item->chunk.data;
  return g_bytes_get_data (item->bytes, NULL);
}

static Item *
item_new (ItemKind kind)
{
  Item *item = g_new0 (Item, 1);

  item->link.data = item;
  item->kind = kind;
  return item;
}

static inline void
queue_append (AchatOutputQueue *queue,
              Item             *item)
{
  g_queue_push_tail_link (&queue->items, &item->link);
}

static inline Item *
queue_pop_head (AchatOutputQueue *queue)
{
  GList *link = g_queue_pop_head_link (&queue->items);

  return link != NULL ? link->data : NULL;
}

void
achat_output_queue_init (AchatOutputQueue *queue)
{
  g_queue_init (&queue->items);
  g_queue_init (&queue->passed);
  queue->data_bytes = 0;
  queue->generation = 0;
  queue->chunk_cache = NULL;
}

/* @cache is a slot for one spare chunk, shared by the queues of one
 * thread (a poller's), or NULL. A written chunk goes to the slot when it is
 * free, and the next small push of any queue sharing it takes it from
 * there: the reply of a request-response protocol is copied into the chunk
 * the previous reply left, instead of a malloc and a free each. The queue
 * must be pushed to and consumed only in the thread that owns @cache;
 * clearing the queue (at dispose, from any thread) frees its chunks rather
 * than caching them. */
void
achat_output_queue_set_chunk_cache (AchatOutputQueue *queue,
                                    gpointer         *cache)
{
  queue->chunk_cache = cache;
}

void
achat_output_chunk_cache_clear (gpointer *cache)
{
  g_clear_pointer (cache, item_free);
}

/* A chunk written out: kept in the cache when it is free, else freed. */
static void
item_release (AchatOutputQueue *queue,
              Item             *item)
{
  if (item->kind == ITEM_CHUNK && item->chunk.cap == CHUNK_SIZE &&
      queue->chunk_cache != NULL && *queue->chunk_cache == NULL)
    *queue->chunk_cache = item;
  else
    item_free (item);
}

void
achat_output_queue_clear (AchatOutputQueue *queue)
{
  Item *item;

  while ((item = queue_pop_head (queue)) != NULL)
    item_free (item);
  g_queue_clear (&queue->passed);
  queue->data_bytes = 0;
  queue->generation++;
}

void
achat_output_queue_push_data (AchatOutputQueue *queue,
                              const guint8     *data,
                              gsize             length)
{
  Item *tail = g_queue_peek_tail (&queue->items);
  Item *item;

  if (length == 0)
    return;

  queue->data_bytes += length;

  if (length <= SMALL_PUSH && tail != NULL && tail->kind == ITEM_CHUNK &&
      tail->chunk.cap - tail->length >= length)
    {
      memcpy (tail->chunk.data + tail->length, data, length);
      tail->length += length;
      return;
    }

  if (length <= SMALL_PUSH && queue->chunk_cache != NULL && *queue->chunk_cache != NULL)
    {
      item = g_steal_pointer (queue->chunk_cache);
      item->offset = 0;
    }
  else
    {
      item = item_new (ITEM_CHUNK);
      item->chunk.cap = length <= SMALL_PUSH ? CHUNK_SIZE : length;
      item->chunk.data = g_malloc (item->chunk.cap);
    }
  memcpy (item->chunk.data, data, length);
  item->length = length;
  queue_append (queue, item);
}

void
achat_output_queue_push_bytes (AchatOutputQueue *queue,
                               GBytes           *bytes)
{
  gsize size = g_bytes_get_size (bytes);
  Item *item;

  if (size == 0)
    return;

  /* Small GBytes are cheaper to copy into a shared chunk than to keep. */
  if (size <= SMALL_PUSH / 4)
    {
      achat_output_queue_push_data (queue, g_bytes_get_data (bytes, NULL), size);
      return;
    }

  item = item_new (ITEM_BYTES);
  item->bytes = g_bytes_ref (bytes);
  item->length = size;
  queue->data_bytes += size;
  queue_append (queue, item);
}

void
achat_output_queue_push_producer (AchatOutputQueue *queue,
                                  AchatProducer    *producer)
{
  Item *item = item_new (ITEM_PRODUCER);

  item->producer = g_object_ref (producer);
  queue_append (queue, item);
}

/* A barrier: what is pushed after it is not gathered until the barrier is
 * removed (output queued after a switch to TLS waits for the switch). */
void
achat_output_queue_push_barrier (AchatOutputQueue *queue)
{
  Item *item = item_new (ITEM_BARRIER);

  queue_append (queue, item);
}

/* A mark: achat_output_queue_pop_mark() returns @mark once everything
 * queued before it has been written (producers exhausted included). */
void
achat_output_queue_push_mark (AchatOutputQueue *queue,
                              gpointer          mark)
{
  Item *item = item_new (ITEM_MARK);

  item->mark = mark;
  queue_append (queue, item);
}

/* The mark at the head of the queue, removed; NULL when the head is not a
 * mark (something before the next mark is still to be written). */
gpointer
achat_output_queue_pop_mark (AchatOutputQueue *queue)
{
  Item *head;
  gpointer mark;

  if (queue->passed.head != NULL)
    return g_queue_pop_head (&queue->passed);
  head = g_queue_peek_head (&queue->items);
  if (head == NULL || head->kind != ITEM_MARK)
    return NULL;
  mark = head->mark;
  item_free (queue_pop_head (queue));
  return mark;
}

/* Whether a barrier is first in the queue: everything before it is written. */
gboolean
achat_output_queue_at_barrier (AchatOutputQueue *queue)
{
  Item *head = g_queue_peek_head (&queue->items);

  return head != NULL && head->kind == ITEM_BARRIER;
}

/* Removes the barrier at the head of the queue. */
void
achat_output_queue_remove_barrier (AchatOutputQueue *queue)
{
  g_assert (achat_output_queue_at_barrier (queue));
  item_free (queue_pop_head (queue));
}

void
achat_output_queue_gather_begin (AchatOutputQueue *queue,
                                 AchatGather      *gather)
{
  gather->n_vecs = 0;
  gather->n_bytes = 0;
  gather->cursor = queue->items.head;
  gather->generation = queue->generation;
}

gboolean
achat_output_queue_gather_valid (AchatOutputQueue *queue,
                                 AchatGather      *gather)
{
  return gather->generation == queue->generation;
}

AchatGatherStop
achat_output_queue_gather (AchatOutputQueue *queue,
                           AchatGather      *gather,
                           gsize             max_bytes)
{
  g_assert (gather->generation == queue->generation);

  while (gather->cursor != NULL)
    {
      Item *item = gather->cursor->data;

      /* Full first: a producer is asked only when its chunk can be sent. */
      if (gather->n_vecs == ACHAT_OUTPUT_MAX_VECS || gather->n_bytes >= max_bytes)
        return ACHAT_GATHER_FULL;

      if (item->kind == ITEM_PRODUCER)
        return ACHAT_GATHER_PRODUCER;
      if (item->kind == ITEM_BARRIER)
        return ACHAT_GATHER_END;
      if (item->kind == ITEM_MARK)
        {
          gather->cursor = gather->cursor->next;
          continue;
        }

      gather->vecs[gather->n_vecs].buffer = item_data (item) + item->offset;
      gather->vecs[gather->n_vecs].size = item->length - item->offset;
      gather->n_bytes += item->length - item->offset;
      gather->n_vecs++;
      gather->cursor = gather->cursor->next;
    }

  return ACHAT_GATHER_END;
}

AchatProducer *
achat_output_queue_gather_producer (AchatOutputQueue *queue,
                                    AchatGather      *gather)
{
  Item *item;

  g_assert (gather->cursor != NULL);
  item = gather->cursor->data;
  g_assert (item->kind == ITEM_PRODUCER);
  return item->producer;
}

/* The producer at the cursor returned @chunk: put it in front of the
 * producer, or drop the producer when it is exhausted. */
void
achat_output_queue_gather_chunk (AchatOutputQueue *queue,
                                 AchatGather      *gather,
                                 GBytes           *chunk)
{
  GList *link = gather->cursor;
  gsize size = chunk ? g_bytes_get_size (chunk) : 0;

  g_assert (link != NULL && ((Item *) link->data)->kind == ITEM_PRODUCER);

  if (size == 0)
    {
      gather->cursor = link->next;
      g_queue_unlink (&queue->items, link);
      item_free (link->data);
    }
  else
    {
      Item *item = item_new (ITEM_BYTES);

      item->bytes = g_bytes_ref (chunk);
      item->length = size;
      queue->data_bytes += size;
      g_queue_insert_before_link (&queue->items, link, &item->link);
      gather->cursor = link->prev;
    }
}

void
achat_output_queue_consume (AchatOutputQueue *queue,
                            gsize             n_bytes)
{
  g_assert (n_bytes <= queue->data_bytes);
  queue->data_bytes -= n_bytes;

  while (n_bytes > 0)
    {
      Item *item = g_queue_peek_head (&queue->items);
      gsize left;

      g_assert (item != NULL && item->kind != ITEM_PRODUCER && item->kind != ITEM_BARRIER);
      if (item->kind == ITEM_MARK)
        {
          /* Written past it. */
          g_queue_push_tail (&queue->passed, item->mark);
          item_free (queue_pop_head (queue));
          continue;
        }
      left = item->length - item->offset;
      if (n_bytes < left)
        {
          item->offset += n_bytes;
          return;
        }
      n_bytes -= left;
      item_release (queue, queue_pop_head (queue));
    }
}
