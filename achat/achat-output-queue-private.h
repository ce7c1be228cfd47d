/* achat-output-queue-private.h: the output FIFO of a channel
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Items are data (copied pushes, coalesced into shared chunks, or GBytes
 * referenced without a copy) and producers.  Writing gathers the data at the
 * head into an I/O vector so that one vectored write sends many pushes;
 * a producer met while gathering is asked for its next chunk, which goes in
 * front of it, so FIFO order holds.
 */

#pragma once

#include <gio/gio.h>

#include "achat-producer.h"

G_BEGIN_DECLS

#define ACHAT_OUTPUT_MAX_VECS 64

typedef struct
{
  GQueue items;
  GQueue passed;       /* marks written past, for pop_mark() */
  gsize data_bytes;    /* data bytes queued, producers not counted */
  guint generation;    /* bumped when items are dropped */
  gpointer *chunk_cache;   /* see achat_output_queue_set_chunk_cache() */
} AchatOutputQueue;

typedef enum
{
  ACHAT_GATHER_END,       /* no more items */
  ACHAT_GATHER_FULL,      /* the vector or the byte budget is full */
  ACHAT_GATHER_PRODUCER,  /* a producer must be asked for more */
} AchatGatherStop;

typedef struct
{
  GOutputVector vecs[ACHAT_OUTPUT_MAX_VECS];
  guint n_vecs;
  gsize n_bytes;
  GList *cursor;
  guint generation;
} AchatGather;

void            achat_output_queue_init             (AchatOutputQueue *queue);
void            achat_output_queue_clear            (AchatOutputQueue *queue);
/* Asked several times per dispatch: inline, not a call into GLib. */
static inline gboolean
achat_output_queue_is_empty (AchatOutputQueue *queue)
{
  return queue->items.head == NULL;
}

void            achat_output_queue_set_chunk_cache  (AchatOutputQueue *queue,
                                                     gpointer         *cache);
void            achat_output_chunk_cache_clear      (gpointer         *cache);

void            achat_output_queue_push_data        (AchatOutputQueue *queue,
                                                     const guint8     *data,
                                                     gsize             length);
void            achat_output_queue_push_bytes       (AchatOutputQueue *queue,
                                                     GBytes           *bytes);
void            achat_output_queue_push_producer    (AchatOutputQueue *queue,
                                                     AchatProducer    *producer);

void            achat_output_queue_push_mark        (AchatOutputQueue *queue,
                                                     gpointer          mark);
gpointer        achat_output_queue_pop_mark         (AchatOutputQueue *queue);
void            achat_output_queue_push_barrier     (AchatOutputQueue *queue);
gboolean        achat_output_queue_at_barrier       (AchatOutputQueue *queue);
void            achat_output_queue_remove_barrier   (AchatOutputQueue *queue);

void            achat_output_queue_gather_begin     (AchatOutputQueue *queue,
                                                     AchatGather      *gather);
AchatGatherStop achat_output_queue_gather           (AchatOutputQueue *queue,
                                                     AchatGather      *gather,
                                                     gsize             max_bytes);
AchatProducer  *achat_output_queue_gather_producer  (AchatOutputQueue *queue,
                                                     AchatGather      *gather);
void            achat_output_queue_gather_chunk     (AchatOutputQueue *queue,
                                                     AchatGather      *gather,
                                                     GBytes           *chunk);
gboolean        achat_output_queue_gather_valid     (AchatOutputQueue *queue,
                                                     AchatGather      *gather);

void            achat_output_queue_consume          (AchatOutputQueue *queue,
                                                     gsize             n_bytes);

G_END_DECLS
