/* achat-producer.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-producer.h"

/**
 * AchatProducer:
 *
 * A source of output for a channel, as in Python's asynchat.
 *
 * [method@Achat.Channel.push_with_producer] queues a producer on a
 * channel's output FIFO. When everything queued before it has been handed
 * to the socket, the channel calls [method@Achat.Producer.more] for the next
 * chunk, sends it, and calls again, until the producer returns %NULL or an
 * empty [struct@GLib.Bytes]; then the producer is dropped and the next item
 * in the FIFO is used. The channel calls `more()` only when it has room to
 * write, so a producer can generate unbounded output (a file, a database
 * cursor) without buffering it all.
 *
 * `more()` is always called on the channel's main context. It may push to
 * the channel (the data goes to the end of the FIFO, after this producer) or
 * close it.
 *
 * Implement it from Python with `do_more()` and from GJS with
 * `vfunc_more()`; returning `None`/`null` means exhausted.
 *
 * [class@Achat.SimpleProducer] is the implementation over one
 * [struct@GLib.Bytes].
 */

G_DEFINE_INTERFACE (AchatProducer, achat_producer, G_TYPE_OBJECT)

static void
achat_producer_default_init (AchatProducerInterface *iface)
{
}

/**
 * achat_producer_more: (virtual more)
 * @self: an #AchatProducer
 *
 * Gets the next chunk of output.
 *
 * Returns: (transfer full) (nullable): the next chunk, or %NULL or an empty
 *   [struct@GLib.Bytes] when the producer has nothing more to send
 */
GBytes *
achat_producer_more (AchatProducer *self)
{
  AchatProducerInterface *iface;

  g_return_val_if_fail (ACHAT_IS_PRODUCER (self), NULL);

  iface = ACHAT_PRODUCER_GET_IFACE (self);
  if (iface->more == NULL)
    return NULL;
  return iface->more (self);
}
