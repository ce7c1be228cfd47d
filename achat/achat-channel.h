/* achat-channel.h: AchatChannel, a terminator-framed channel over a socket
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACHAT_INSIDE) && !defined(ACHAT_COMPILATION)
# error "Only <achat/achat.h> can be included directly."
#endif

#include <gio/gio.h>

#include "achat-producer.h"
#include "achat-visibility.h"

G_BEGIN_DECLS

/**
 * AchatTerminatorKind:
 * @ACHAT_TERMINATOR_NONE: no terminator: input is collected forever and
 *   [signal@Achat.Channel::terminator-found] is never emitted
 * @ACHAT_TERMINATOR_BYTES: a byte string such as `"\r\n"` ends each message
 * @ACHAT_TERMINATOR_COUNT: a message ends after a number of bytes; once
 *   that many bytes have arrived the channel collects with no terminator
 *   until a new one is set
 * @ACHAT_TERMINATOR_LENGTH_PREFIX: each message is a binary length header
 *   followed by that many bytes
 *   ([method@Achat.Channel.set_terminator_length_prefix])
 * @ACHAT_TERMINATOR_TEXT_LENGTH: each message is a length written in digits
 *   and a separator, that many bytes, then an optional trailer
 *   ([method@Achat.Channel.set_terminator_text_length])
 *
 * How a channel recognises the end of an incoming message. Several byte
 * strings at once ([method@Achat.Channel.set_terminators]) are of the
 * %ACHAT_TERMINATOR_BYTES kind.
 */
typedef enum
{
  ACHAT_TERMINATOR_NONE,
  ACHAT_TERMINATOR_BYTES,
  ACHAT_TERMINATOR_COUNT,
  ACHAT_TERMINATOR_LENGTH_PREFIX,
  ACHAT_TERMINATOR_TEXT_LENGTH,
} AchatTerminatorKind;

/**
 * AchatByteOrder:
 * @ACHAT_BYTE_ORDER_BIG_ENDIAN: most significant byte first (network order)
 * @ACHAT_BYTE_ORDER_LITTLE_ENDIAN: least significant byte first
 *
 * The byte order of a binary length header.
 */
typedef enum
{
  ACHAT_BYTE_ORDER_BIG_ENDIAN,
  ACHAT_BYTE_ORDER_LITTLE_ENDIAN,
} AchatByteOrder;

/**
 * ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE:
 *
 * The default [property@Achat.Channel:max-input-size]: 1 MiB.
 */
#define ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE (1024 * 1024)

/**
 * ACHAT_CHANNEL_DEFAULT_OUTPUT_HIGH_WATERMARK:
 *
 * The default [property@Achat.Channel:output-high-watermark]: 1 MiB.
 */
#define ACHAT_CHANNEL_DEFAULT_OUTPUT_HIGH_WATERMARK (1024 * 1024)

/**
 * ACHAT_CHANNEL_DEFAULT_OUTPUT_LOW_WATERMARK:
 *
 * The default [property@Achat.Channel:output-low-watermark]: 256 KiB.
 */
#define ACHAT_CHANNEL_DEFAULT_OUTPUT_LOW_WATERMARK (256 * 1024)

#define ACHAT_TYPE_CHANNEL (achat_channel_get_type ())

ACHAT_AVAILABLE_IN_ALL
G_DECLARE_DERIVABLE_TYPE (AchatChannel, achat_channel, ACHAT, CHANNEL, GObject)

/**
 * AchatChannelClass:
 * @parent_class: the parent class
 * @data_collected: class closure of [signal@Achat.Channel::data-collected];
 *   the default appends @data to the message being collected
 * @terminator_found: class closure of
 *   [signal@Achat.Channel::terminator-found]; %NULL in `AchatChannel`, like
 *   Python's abstract `found_terminator()`, so there is nothing to chain up
 *   to. (With no class handler, GLib calls a single connected handler
 *   without boxing the message in a #GValue.)
 * @closed: class closure of [signal@Achat.Channel::closed]; the default
 *   does nothing
 * @readable: whether the channel wants input now; consulted on every main
 *   loop iteration when overridden. The default returns %TRUE
 * @writable: whether the channel may write now; when overridden, consulted
 *   on every main loop iteration while output is queued. The default
 *   returns %TRUE while output is queued
 * @output_drained: class closure of
 *   [signal@Achat.Channel::output-drained]; %NULL in `AchatChannel`
 * @tls_handshaking: class closure of
 *   [signal@Achat.Channel::tls-handshaking]; %NULL in `AchatChannel`
 *
 * The class structure of [class@Achat.Channel]. Override the signal class
 * closures to handle input in a subclass (`do_terminator_found` in Python,
 * `vfunc_terminator_found` in GJS).
 */
struct _AchatChannelClass
{
  GObjectClass parent_class;

  void     (*data_collected)   (AchatChannel *self,
                                GBytes       *data);
  void     (*terminator_found) (AchatChannel *self,
                                GBytes       *message);
  void     (*closed)           (AchatChannel *self,
                                const GError *error);
  gboolean (*readable)         (AchatChannel *self);
  gboolean (*writable)         (AchatChannel *self);
  void     (*output_drained)   (AchatChannel *self);
  void     (*tls_handshaking)  (AchatChannel   *self,
                                GTlsConnection *connection);
  guint    (*messages_found)   (AchatChannel *self,
                                GBytes       *data,
                                const gsize  *bounds,
                                guint         n_bounds);
  void     (*message_found)    (AchatChannel *self,
                                const guint8 *data,
                                gsize         length);

  /*< private >*/
  gpointer padding[12];
};

ACHAT_AVAILABLE_IN_ALL
AchatChannel        *achat_channel_new                    (GSocket             *socket);
ACHAT_AVAILABLE_IN_ALL
AchatChannel        *achat_channel_new_for_stream         (GIOStream           *stream);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_connect_to_host_async  (const gchar         *host_and_port,
                                                           guint16              default_port,
                                                           GCancellable        *cancellable,
                                                           GAsyncReadyCallback  callback,
                                                           gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
AchatChannel        *achat_channel_connect_to_host_finish (GAsyncResult        *result,
                                                           GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_connect_async          (GSocketConnectable  *connectable,
                                                           GSocketClient       *client,
                                                           GType                channel_type,
                                                           GCancellable        *cancellable,
                                                           GAsyncReadyCallback  callback,
                                                           gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
AchatChannel        *achat_channel_connect_finish         (GAsyncResult        *result,
                                                           GError             **error);

ACHAT_AVAILABLE_IN_ALL
GSocket             *achat_channel_get_socket             (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
GIOStream           *achat_channel_get_stream             (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
GMainContext        *achat_channel_get_context            (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
GSocketAddress      *achat_channel_get_remote_address     (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_terminator         (AchatChannel        *self,
                                                           const guint8        *terminator,
                                                           gsize                length);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_terminator_count   (AchatChannel        *self,
                                                           guint64              count);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_terminator_none    (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
AchatTerminatorKind  achat_channel_get_terminator_kind    (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
const guint8        *achat_channel_get_terminator         (AchatChannel        *self,
                                                           gsize               *length);
ACHAT_AVAILABLE_IN_ALL
guint64              achat_channel_get_terminator_count   (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_terminators        (AchatChannel        *self,
                                                           const gchar * const *terminators);
ACHAT_AVAILABLE_IN_ALL
const guint8        *achat_channel_get_matched_terminator (AchatChannel        *self,
                                                           gsize               *length);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_terminator_length_prefix (AchatChannel  *self,
                                                           guint                header_size,
                                                           AchatByteOrder       byte_order,
                                                           gint                 adjustment,
                                                           guint64              max_frame_length);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_terminator_text_length (AchatChannel    *self,
                                                           guint                radix,
                                                           const gchar         *separator,
                                                           const gchar         *trailer,
                                                           guint64              max_frame_length);
ACHAT_AVAILABLE_IN_ALL
GBytes              *achat_channel_get_collected          (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push                   (AchatChannel        *self,
                                                           const guint8        *data,
                                                           gsize                length);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_bytes             (AchatChannel        *self,
                                                           GBytes              *data);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_text              (AchatChannel        *self,
                                                           const gchar         *text);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_with_producer     (AchatChannel        *self,
                                                           AchatProducer       *producer);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_line              (AchatChannel        *self,
                                                           const guint8        *line,
                                                           gsize                length,
                                                           GError             **error);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_line_full         (AchatChannel        *self,
                                                           const guint8        *line,
                                                           gsize                length,
                                                           const guint8        *terminator,
                                                           gsize                terminator_length,
                                                           GError             **error);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_frame             (AchatChannel        *self,
                                                           const guint8        *data,
                                                           gsize                length,
                                                           GError             **error);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_push_frame_bytes       (AchatChannel        *self,
                                                           GBytes              *data,
                                                           GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_close_when_done        (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_discard_buffers        (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_close                  (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_is_closing             (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_is_closed              (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
gsize                achat_channel_get_queued_bytes       (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
guint64              achat_channel_get_bytes_received     (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
guint64              achat_channel_get_bytes_sent         (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_max_input_size     (AchatChannel        *self,
                                                           gsize                max_size);
ACHAT_AVAILABLE_IN_ALL
gsize                achat_channel_get_max_input_size     (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_idle_timeout       (AchatChannel        *self,
                                                           guint                seconds);
ACHAT_AVAILABLE_IN_ALL
guint                achat_channel_get_idle_timeout       (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_message_timeout    (AchatChannel        *self,
                                                           guint                seconds);
ACHAT_AVAILABLE_IN_ALL
guint                achat_channel_get_message_timeout    (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_set_output_watermarks  (AchatChannel        *self,
                                                           gsize                low,
                                                           gsize                high);
ACHAT_AVAILABLE_IN_ALL
gsize                achat_channel_get_output_high_watermark (AchatChannel     *self);
ACHAT_AVAILABLE_IN_ALL
gsize                achat_channel_get_output_low_watermark  (AchatChannel     *self);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_is_output_full         (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_pause_input            (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_resume_input           (AchatChannel        *self);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_is_input_paused        (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_start_tls_client_async  (AchatChannel        *self,
                                                            GSocketConnectable  *server_identity,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_start_tls_client_finish (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_start_tls_server_async  (AchatChannel        *self,
                                                            GTlsCertificate     *certificate,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_start_tls_server_finish (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
GTlsConnection      *achat_channel_get_tls_connection      (AchatChannel        *self);

ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_read_message_async      (AchatChannel        *self,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
GBytes              *achat_channel_read_message_finish     (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_read_until_async        (AchatChannel        *self,
                                                            const guint8        *terminator,
                                                            gsize                length,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
GBytes              *achat_channel_read_until_finish       (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_read_bytes_async        (AchatChannel        *self,
                                                            guint64              count,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
GBytes              *achat_channel_read_bytes_finish       (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_read_line_async         (AchatChannel        *self,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
GBytes              *achat_channel_read_line_finish        (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
void                 achat_channel_drain_async             (AchatChannel        *self,
                                                            GCancellable        *cancellable,
                                                            GAsyncReadyCallback  callback,
                                                            gpointer             user_data);
ACHAT_AVAILABLE_IN_ALL
gboolean             achat_channel_drain_finish            (AchatChannel        *self,
                                                            GAsyncResult        *result,
                                                            GError             **error);
ACHAT_AVAILABLE_IN_ALL
guint64              achat_channel_get_unsent_bytes        (AchatChannel        *self);

G_END_DECLS
