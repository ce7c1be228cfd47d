/* achat-simple-producer.h: a producer over one GBytes
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACHAT_INSIDE) && !defined(ACHAT_COMPILATION)
# error "Only <achat/achat.h> can be included directly."
#endif

#include <glib-object.h>

#include "achat-producer.h"
#include "achat-visibility.h"

G_BEGIN_DECLS

/**
 * ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE:
 *
 * The chunk size of an [class@Achat.SimpleProducer] made with a
 * buffer size of 0: 512 bytes, as in Python's `simple_producer`.
 */
#define ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE 512

#define ACHAT_TYPE_SIMPLE_PRODUCER (achat_simple_producer_get_type ())

ACHAT_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (AchatSimpleProducer, achat_simple_producer, ACHAT, SIMPLE_PRODUCER, GObject)

ACHAT_AVAILABLE_IN_ALL
AchatSimpleProducer *achat_simple_producer_new             (GBytes              *data,
                                                            gsize                buffer_size);
ACHAT_AVAILABLE_IN_ALL
gsize                achat_simple_producer_get_buffer_size (AchatSimpleProducer *self);
ACHAT_AVAILABLE_IN_ALL
gsize                achat_simple_producer_get_remaining   (AchatSimpleProducer *self);

G_END_DECLS
