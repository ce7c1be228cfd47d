/* achat-simple-producer.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-simple-producer.h"

/**
 * AchatSimpleProducer:
 *
 * A [iface@Achat.Producer] that hands out one [struct@GLib.Bytes] in
 * chunks of at most [property@Achat.SimpleProducer:buffer-size] bytes, like
 * Python's `asynchat.simple_producer`.
 *
 * Chunks are slices of the original bytes: nothing is copied.
 *
 * <!-- snippet: examples/snippets/api-snippets.c#simple-producer -->
 * ```c
 * g_autoptr(GBytes) body = g_bytes_new_static ("hello world!", 12);
 * g_autoptr(AchatSimpleProducer) producer = achat_simple_producer_new (body, 5);
 * // more() returns "hello", " worl", "d!", then NULL
 * ```
 */

struct _AchatSimpleProducer
{
  GObject parent_instance;

  GBytes *data;
  gsize offset;
  gsize buffer_size;
};

enum {
  PROP_0,
  PROP_DATA,
  PROP_BUFFER_SIZE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void achat_simple_producer_iface_init (AchatProducerInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (AchatSimpleProducer, achat_simple_producer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (ACHAT_TYPE_PRODUCER,
                                                      achat_simple_producer_iface_init))

static GBytes *
achat_simple_producer_more (AchatProducer *producer)
{
  AchatSimpleProducer *self = ACHAT_SIMPLE_PRODUCER (producer);
  gsize size, take;
  GBytes *chunk;

  if (self->data == NULL)
    return NULL;

  size = g_bytes_get_size (self->data);
  if (self->offset >= size)
    {
      g_clear_pointer (&self->data, g_bytes_unref);
      return NULL;
    }

  take = MIN (self->buffer_size, size - self->offset);
  chunk = g_bytes_new_from_bytes (self->data, self->offset, take);
  self->offset += take;
  return chunk;
}

static void
achat_simple_producer_iface_init (AchatProducerInterface *iface)
{
  iface->more = achat_simple_producer_more;
}

static void
achat_simple_producer_finalize (GObject *object)
{
  AchatSimpleProducer *self = ACHAT_SIMPLE_PRODUCER (object);

  g_clear_pointer (&self->data, g_bytes_unref);

  G_OBJECT_CLASS (achat_simple_producer_parent_class)->finalize (object);
}

static void
achat_simple_producer_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  AchatSimpleProducer *self = ACHAT_SIMPLE_PRODUCER (object);

  switch (prop_id)
    {
    case PROP_DATA:
      g_value_set_boxed (value, self->data);
      break;
    case PROP_BUFFER_SIZE:
      g_value_set_uint64 (value, self->buffer_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
achat_simple_producer_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  AchatSimpleProducer *self = ACHAT_SIMPLE_PRODUCER (object);

  switch (prop_id)
    {
    case PROP_DATA:
      g_clear_pointer (&self->data, g_bytes_unref);
      self->data = g_value_dup_boxed (value);
      break;
    case PROP_BUFFER_SIZE:
      {
        guint64 size = g_value_get_uint64 (value);

        self->buffer_size = size ? (gsize) MIN (size, G_MAXSIZE)
                                 : ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE;
      }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
achat_simple_producer_class_init (AchatSimpleProducerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = achat_simple_producer_finalize;
  object_class->get_property = achat_simple_producer_get_property;
  object_class->set_property = achat_simple_producer_set_property;

  /**
   * AchatSimpleProducer:data:
   *
   * The bytes to produce. %NULL once the producer is exhausted.
   */
  properties[PROP_DATA] =
    g_param_spec_boxed ("data", NULL, NULL,
                        G_TYPE_BYTES,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS);

  /**
   * AchatSimpleProducer:buffer-size:
   *
   * The largest chunk [method@Achat.Producer.more] returns; 0 at
   * construction means %ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE.
   */
  properties[PROP_BUFFER_SIZE] =
    g_param_spec_uint64 ("buffer-size", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
achat_simple_producer_init (AchatSimpleProducer *self)
{
  self->buffer_size = ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE;
}

/**
 * achat_simple_producer_new:
 * @data: the bytes to produce
 * @buffer_size: the largest chunk to hand out, or 0 for
 *   %ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE
 *
 * Creates a producer that hands out @data in chunks of at most
 * @buffer_size bytes. @data is referenced, not copied.
 *
 * Returns: (transfer full): a new #AchatSimpleProducer
 */
AchatSimpleProducer *
achat_simple_producer_new (GBytes *data,
                           gsize   buffer_size)
{
  g_return_val_if_fail (data != NULL, NULL);

  return g_object_new (ACHAT_TYPE_SIMPLE_PRODUCER,
                       "data", data,
                       "buffer-size", (guint64) buffer_size,
                       NULL);
}

/**
 * achat_simple_producer_get_buffer_size:
 * @self: an #AchatSimpleProducer
 *
 * Gets the largest chunk the producer hands out.
 *
 * Returns: the chunk size in bytes
 */
gsize
achat_simple_producer_get_buffer_size (AchatSimpleProducer *self)
{
  g_return_val_if_fail (ACHAT_IS_SIMPLE_PRODUCER (self), 0);

  return self->buffer_size;
}

/**
 * achat_simple_producer_get_remaining:
 * @self: an #AchatSimpleProducer
 *
 * Gets how many bytes the producer has not handed out yet.
 *
 * Returns: the number of bytes left
 */
gsize
achat_simple_producer_get_remaining (AchatSimpleProducer *self)
{
  g_return_val_if_fail (ACHAT_IS_SIMPLE_PRODUCER (self), 0);

  if (self->data == NULL)
    return 0;
  return g_bytes_get_size (self->data) - self->offset;
}
