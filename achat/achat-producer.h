/* achat-producer.h: the AchatProducer interface
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACHAT_INSIDE) && !defined(ACHAT_COMPILATION)
# error "Only <achat/achat.h> can be included directly."
#endif

#include <glib-object.h>

#include "achat-visibility.h"

G_BEGIN_DECLS

#define ACHAT_TYPE_PRODUCER (achat_producer_get_type ())

ACHAT_AVAILABLE_IN_ALL
G_DECLARE_INTERFACE (AchatProducer, achat_producer, ACHAT, PRODUCER, GObject)

/**
 * AchatProducerInterface:
 * @g_iface: the parent interface
 * @more: returns the next chunk of output, or %NULL (or an empty
 *   [struct@GLib.Bytes]) when the producer is exhausted
 *
 * The virtual methods of [iface@Achat.Producer].
 */
struct _AchatProducerInterface
{
  GTypeInterface g_iface;

  GBytes *(*more) (AchatProducer *self);

  /*< private >*/
  gpointer padding[8];
};

ACHAT_AVAILABLE_IN_ALL
GBytes *achat_producer_more (AchatProducer *self);

G_END_DECLS
