/* achat-channel.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* memmem */
#endif

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "achat-channel.h"
#include "achat-channel-private.h"
#include "achat-enums.h"
#include "achat-error.h"
#include "achat-framer-private.h"
#include "achat-marshal-private.h"
#include "achat-output-queue-private.h"
#include "achat-poller-private.h"

#ifdef G_OS_UNIX
# include <gio/gunixoutputstream.h>
#endif

/**
 * AchatChannel:
 *
 * A connected socket or stream that splits its input on a terminator and
 * writes a FIFO of pushed data and producers: Python's `asynchat.async_chat`
 * on the GLib main loop.
 *
 * A channel reads whenever its socket is readable and splits the stream on
 * its terminator ([method@Achat.Channel.set_terminator],
 * [method@Achat.Channel.set_terminator_count] or none). Bytes before a
 * terminator are passed to [signal@Achat.Channel::data-collected], whose
 * default handler appends them to the message being collected; at each
 * terminator [signal@Achat.Channel::terminator-found] is emitted with that
 * message (terminator excluded), and the next message starts empty. So for
 * most protocols one handler is enough:
 *
 * <!-- snippet: examples/snippets/api-snippets.c#channel-overview-handler -->
 * ```c
 * static void
 * on_line (AchatChannel *channel, GBytes *line, gpointer user_data)
 * {
 *   gsize len;
 *   const guint8 *data = g_bytes_get_data (line, &len);
 *
 *   achat_channel_push (channel, (const guint8 *) "you said: ", 10);
 *   achat_channel_push (channel, data, len);
 *   achat_channel_push (channel, (const guint8 *) "\r\n", 2);
 * }
 * ```
 *
 * and, for a connection:
 *
 * <!-- snippet: examples/snippets/api-snippets.c#channel-overview-setup -->
 * ```c
 * AchatChannel *channel = achat_channel_new_for_stream (G_IO_STREAM (connection));
 * achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
 * g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line), NULL);
 * ```
 *
 * The terminator may be changed from a handler: the change applies to the
 * rest of the bytes already received (a header line, then a body of a
 * counted length, then a line again).
 *
 * Output is queued by [method@Achat.Channel.push],
 * [method@Achat.Channel.push_bytes] and
 * [method@Achat.Channel.push_with_producer], and written in FIFO order with
 * vectored writes when the socket can take it.
 * [method@Achat.Channel.close_when_done] closes the channel once everything
 * queued before it has been written.
 *
 * ## Life cycle
 *
 * A channel attaches to the thread-default [struct@GLib.MainContext] when it
 * is constructed, and keeps itself alive until it closes: an application
 * may drop its own reference to an open channel. It closes when the peer
 * closes (after delivering every byte received, and after writing what was
 * queued), on a network error, or when the application calls
 * [method@Achat.Channel.close] or [method@Achat.Channel.close_when_done].
 * [signal@Achat.Channel::closed] is then emitted exactly once, after the
 * last input signal, and the channel releases itself and its socket.
 *
 * All methods must be called from the thread that runs the channel's main
 * context.
 *
 * ## Differences from Python's asynchat
 *
 * - At the end of the stream, a partial terminator held back at the end of
 *   the input is delivered as data (Python dropped it).
 * - [method@Achat.Channel.close] inside a handler stops delivery at once;
 *   nothing is delivered after `closed`.
 * - Pushing to a closing or closed channel is refused with a warning and
 *   returns %FALSE (Python queued the data and never sent it).
 * - A network error closes the channel with a [struct@GLib.Error] in
 *   `closed`, instead of being printed.
 * - When nobody listens to `data-collected` and the default handler is not
 *   overridden, the signal is not emitted at all, and a message that
 *   arrived in one read is handed to `terminator-found` without a copy.
 * - Input that no one takes yet (no handler, no pending
 *   [method@Achat.Channel.read_message_async]) waits unframed, and the
 *   socket is not read further, until a handler is connected or a read
 *   started: it is then framed with the terminator in force. Python handed
 *   it to whatever `found_terminator()` was at that moment.
 *
 * ## Speed
 *
 * A connected handler costs one GObject signal emission per message (about
 * 70 ns on a small VM, the largest part of achat's own per-message cost).
 * Where every message counts, subclass and override the class handler
 * (`terminator_found`, `do_terminator_found` in Python,
 * `vfunc_terminator_found` in GJS): while no handler is connected it is
 * called directly, without an emission, which roughly halves the cost of a
 * short message. `bench/RESULTS.md` in the sources compares both with
 * libevent and GIO.
 *
 * ## Messages and memory
 *
 * The [struct@GLib.Bytes] passed to the input signals may be a slice of a
 * larger read buffer when the message is long (16 KiB or more); keeping it
 * keeps that buffer (256 KiB) alive. Shorter messages are always copies.
 * An idle channel holds no input buffer: reads go to a buffer shared by all
 * channels of the main context.
 *
 * GJS (1.74 and later) does not take a reference on a [struct@GLib.Bytes]
 * passed to a *virtual function* such as `vfunc_terminator_found()`: keeping
 * that object after the call reads freed memory. Copy what you keep
 * (`message.toArray()`), or connect a signal handler instead, whose
 * arguments GJS does reference. Python and C are not affected.
 *
 * GJS before 1.82 refuses every call into JavaScript (virtual functions,
 * signal handlers, sources alike) between two slices of an incremental
 * garbage collection, logging "Attempting to run a JS callback during
 * garbage collection": the message of a refused call is lost. A GJS
 * channel that handles about a million messages without a full collection
 * makes enough garbage for one. Forcing a collection now and then from the
 * handler (`System.gc()`, every 100,000 messages in the test suite) keeps
 * them from being incremental, where the messages make most of the garbage.
 */

/* Messages at least this long are handed out as slices of the read buffer;
 * shorter ones are copied, so a handler keeping small messages never pins a
 * whole read buffer. */
#define SLICE_MIN (16 * 1024)
/* Counted messages at least this long are read in place. */
#define DIRECT_READ_MIN (16 * 1024)
/* Bytes gathered for one vectored write: producers are asked for up to
 * this much ahead of what the socket took. As large as a loopback socket
 * takes in one call, so a download costs few system calls. */
#define WRITE_BUDGET (1024 * 1024)
/* Bytes written in one flush before yielding to the main loop. */
#define FLUSH_BUDGET (4 * 1024 * 1024)
/* Reads (of up to a read buffer each) made at once after a write failed,
 * for what the peer sent before it went away. */
#define FAILED_WRITE_READS 4

GParamSpec *achat_channel_properties[N_PROPS];
guint achat_channel_signals[N_SIGNALS];

G_DEFINE_TYPE_WITH_PRIVATE (AchatChannel, achat_channel, G_TYPE_OBJECT)

gint achat_channel_private_offset;

static void channel_flush           (AchatChannel *self);
static void channel_queue_changed   (AchatChannel *self);
static void channel_fail_drains     (AchatChannel *self,
                                     const GError *error);
static void channel_return_end      (AchatChannel *self,
                                     GTask        *task);
static void channel_consumer_arrived (AchatChannel *self,
                                      gboolean      now);
static gssize channel_read_once     (AchatChannel *self,
                                     GError      **error);
static void channel_end_input       (AchatChannel *self);
static void channel_track_message   (AchatChannel *self);
static gssize channel_read_on       (AchatChannel *self,
                                     guint         max_reads,
                                     gboolean      while_held,
                                     GError      **error);

/* Small steps shared by several concerns ---------------------------------- */

/* Held input (and the end of input) is delivered on the next iteration. */
static void
input_resume_later (AchatChannelPrivate *priv)
{
  priv->resume_pending = TRUE;
  achat_watch_schedule (priv->watch);
}

/* Drops the queued output, counting it unsent; returns how much. */
static guint64
output_drop_unsent (AchatChannelPrivate *priv)
{
  guint64 dropped = priv->queue.data_bytes;

  priv->unsent_bytes += dropped;
  achat_output_queue_clear (&priv->queue);
  return dropped;
}

/* Default handlers ------------------------------------------------------ */

/* Makes room for @length more bytes of the message being collected and
 * returns where they go. */
static guint8 *
collected_reserve (AchatChannelPrivate *priv,
                   gsize                length)
{
  if (priv->collected_cap - priv->collected_len < length)
    {
      gsize cap = MAX (priv->collected_cap, 256);

      while (cap - priv->collected_len < length)
        {
          if (cap > G_MAXSIZE / 2)
            {
              cap = priv->collected_len + length;
              break;
            }
          cap *= 2;
        }
      priv->collected = g_realloc (priv->collected, cap);
      priv->collected_cap = cap;
    }
  return priv->collected + priv->collected_len;
}

static void
collected_append (AchatChannelPrivate *priv,
                  const guint8        *data,
                  gsize                length)
{
  if (length == 0)
    return;
  memcpy (collected_reserve (priv, length), data, length);
  priv->collected_len += length;
}

static GBytes *
collected_take (AchatChannelPrivate *priv)
{
  GBytes *bytes;

  if (priv->collected_len == 0)
    return g_bytes_new (NULL, 0);

  bytes = g_bytes_new_take (g_steal_pointer (&priv->collected), priv->collected_len);
  priv->collected_len = 0;
  priv->collected_cap = 0;
  return bytes;
}

static void
collected_reset (AchatChannelPrivate *priv)
{
  priv->collected_len = 0;
  /* Do not keep a large buffer on an idle channel. */
  if (priv->collected_cap > 4096)
    {
      g_clear_pointer (&priv->collected, g_free);
      priv->collected_cap = 0;
    }
}

/* Input limit ----------------------------------------------------------- */

/* Whether @length more bytes of the current message stay within
 * max-input-size. The bytes the framer holds back as a possible start of
 * the terminator (fewer than its length) are not counted until they turn
 * out to be data: so the outcome does not depend on how reads split the
 * stream. */
static inline gboolean
input_fits (AchatChannelPrivate *priv,
            gsize                length)
{
  return priv->max_input == 0 ||
         (guint64) priv->collected_len + length <= priv->max_input;
}

/* The peer exceeded max-input-size with @data: keep what fits as the
 * collected message (the closed handler can read it), read no more, and
 * close with the error once what was queued before is written (a reply
 * to an earlier message still goes out). */
static GError *
input_limit_error (AchatChannelPrivate *priv)
{
  return g_error_new (ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT,
                      "The peer sent a message longer than the channel's "
                      "max-input-size of %" G_GSIZE_FORMAT " bytes",
                      priv->max_input);
}

/* The stream ended with the bytes collected so far not a whole message. */
static GError *
partial_input_error (AchatChannelPrivate *priv)
{
  return g_error_new (G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                      "The connection closed in the middle of a message "
                      "(%" G_GSIZE_FORMAT " bytes of it received)",
                      priv->collected_len);
}

/* Input stops on @error (taken): nothing more is read or delivered, and
 * the channel closes with it once its queued output is written. */
static void
input_stop_with_error (AchatChannelPrivate *priv,
                       GError              *error)
{
  priv->eof = TRUE;
  g_clear_error (&priv->input_error);
  priv->input_error = error;
}

static void
channel_input_overflow (AchatChannel *self,
                        const guint8 *data,
                        gsize         length)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  gsize room = priv->max_input > priv->collected_len ? priv->max_input - priv->collected_len : 0;

  collected_append (priv, data, MIN (room, length));
  input_stop_with_error (priv, input_limit_error (priv));
}

/* Whether someone takes the next message: a pending read, a handler of
 * terminator-found (or an overridden class handler), or outside pull mode
 * a handler of data-collected alone (a stream with no terminator). As
 * last observed (channel_observe()). */
static inline gboolean
input_has_consumer (AchatChannelPrivate *priv)
{
  return priv->tf_observed || priv->read_task != NULL || (priv->dc_observed && !priv->pull);
}

/* Whether input received waits, unframed, because no one takes it yet: it
 * is framed when a read is started or a handler connected, with the
 * terminator in force then. */
static inline gboolean
input_awaits_consumer (AchatChannelPrivate *priv)
{
  return !input_has_consumer (priv) && achat_framer_get_held (&priv->framer) > 0;
}

/* Whether input waits: paused by the application, a message waits for a
 * read (one that came as its read was cancelled), or nobody takes input
 * yet. The rest of a read is held meanwhile, and the socket not read. */
static inline gboolean
input_held (AchatChannelPrivate *priv)
{
  return priv->input_paused || priv->ready_waits || priv->read_returning ||
         input_awaits_consumer (priv);
}

/* Whether input delivery must stop: the channel closed, or input ended on
 * an error. */
static inline gboolean
input_stopped (AchatChannelPrivate *priv)
{
  return priv->closed || priv->input_error != NULL;
}

static void
achat_channel_real_data_collected (AchatChannel *self,
                                   GBytes       *data)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  gsize length;
  const guint8 *bytes;

  /* A handler that ran before this one closed the channel or discarded
   * the input: this piece is part of what was dropped. */
  if (priv->closed || priv->collect_generation != priv->input_generation)
    return;

  bytes = g_bytes_get_data (data, &length);
  if (!input_fits (priv, length))
    {
      channel_input_overflow (self, bytes, length);
      return;
    }
  collected_append (priv, bytes, length);
}

static void
achat_channel_real_closed (AchatChannel *self,
                           const GError *error)
{
}

static gboolean
achat_channel_real_readable (AchatChannel *self)
{
  return TRUE;
}

static gboolean
achat_channel_real_writable (AchatChannel *self)
{
  return !achat_output_queue_is_empty (&GET_PRIV (self)->queue);
}

/* Transport ------------------------------------------------------------- */

enum {
  IO_ERROR = -1,
  IO_WOULD_BLOCK = -2,
};

/* After a failed system call: IO_WOULD_BLOCK, IO_ERROR with @error set, or
 * 0 when it was interrupted and should be made again. */
static gssize
io_failed (const gchar  *what,
           GError      **error)
{
  int errsv = errno;

  if (errsv == EINTR)
    return 0;
  if (errsv == EAGAIN || errsv == EWOULDBLOCK)
    return IO_WOULD_BLOCK;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               "Error %s: %s", what, g_strerror (errsv));
  return IO_ERROR;
}

static gssize
transport_read (AchatChannel  *self,
                guint8        *buffer,
                gsize          size,
                GError       **error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->fd >= 0)
    {
      for (;;)
        {
          gssize n = recv (priv->fd, buffer, size, 0);
          gssize failed;

          if (n >= 0)
            return n;
          if ((failed = io_failed ("receiving data", error)) != 0)
            return failed;
        }
    }
  else
    {
      GError *local_error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (priv->input, buffer, size,
                                                           NULL, &local_error);

      if (n >= 0)
        return n;
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_error_free (local_error);
          return IO_WOULD_BLOCK;
        }
      g_propagate_error (error, local_error);
      return IO_ERROR;
    }
}

static gssize
transport_writev (AchatChannel         *self,
                  const GOutputVector  *vectors,
                  guint                 n_vectors,
                  GError              **error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->fd >= 0)
    {
      struct msghdr msg = { 0, };

      /* GOutputVector has the layout of struct iovec (GLib relies on it). */
      G_STATIC_ASSERT (sizeof (GOutputVector) == sizeof (struct iovec));
      msg.msg_iov = (struct iovec *) vectors;
      msg.msg_iovlen = n_vectors;

      for (;;)
        {
          gssize n = sendmsg (priv->fd, &msg, MSG_NOSIGNAL);
          gssize failed;

          if (n >= 0)
            return n;
          if ((failed = io_failed ("sending data", error)) != 0)
            return failed;
        }
    }
#ifdef G_OS_UNIX
  else if (G_IS_UNIX_OUTPUT_STREAM (priv->output))
    {
      /* Pipes: writev() on the descriptor. (GLib 2.74's GUnixOutputStream
       * also reports a bogus byte count with its errors.) */
      int fd = g_unix_output_stream_get_fd (G_UNIX_OUTPUT_STREAM (priv->output));

      for (;;)
        {
          gssize n = writev (fd, (const struct iovec *) vectors, n_vectors);
          gssize failed;

          if (n >= 0)
            return n;
          if ((failed = io_failed ("writing to file descriptor", error)) != 0)
            return failed;
        }
    }
#endif
  else
    {
      gsize written = 0;

      switch (g_pollable_output_stream_writev_nonblocking (priv->output, vectors, n_vectors,
                                                           &written, NULL, error))
        {
        case G_POLLABLE_RETURN_OK:
          return written;
        case G_POLLABLE_RETURN_WOULD_BLOCK:
          return IO_WOULD_BLOCK;
        case G_POLLABLE_RETURN_FAILED:
        default:
          return IO_ERROR;
        }
    }
}

void
achat_channel_transport_close (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->stream != NULL)
    {
      if (G_IS_SOCKET_CONNECTION (priv->stream))
        g_io_stream_close (priv->stream, NULL, NULL);
      else
        /* TLS and other streams may have to write on close: do not block. */
        g_io_stream_close_async (priv->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
    }
  else if (priv->socket != NULL)
    g_socket_close (priv->socket, NULL);
}

/* Input ----------------------------------------------------------------- */

/* Whether anyone observes data-collected and terminator-found (a class
 * handler other than the default, or a connected handler), and whether
 * the class handler alone does (no unblocked handler is connected), in
 * which case it is called directly: that is what the emission would do,
 * without its cost (the signals take no emission hooks).
 *
 * Asking GObject costs about as much as an emission, so the answers are
 * cached while input is delivered: computed before each read is framed,
 * and again after handlers ran (channel_observe_again()), for what they
 * may have connected. A cached TRUE observed that went stale costs only
 * time (an emission nobody handles, or one to the default handler); a
 * FALSE observed or a TRUE direct is never left stale once a handler ran. */
/* Whether any unblocked handler is connected to any signal of @self: one
 * question instead of two while a class handler is called directly. */
static guint achat_channel_real_messages_found (AchatChannel *self,
                                                GBytes       *data,
                                                const gsize  *bounds,
                                                guint         n_bounds);
static void achat_channel_real_message_found (AchatChannel *self,
                                              const guint8 *data,
                                              gsize         length);

static gboolean
channel_has_handlers (AchatChannel *self)
{
  return g_signal_handler_find (self, G_SIGNAL_MATCH_UNBLOCKED, 0, 0, NULL, NULL, NULL) != 0;
}

static void
channel_observe (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatChannelClass *klass = ACHAT_CHANNEL_GET_CLASS (self);
  gboolean dc_handlers =
    g_signal_has_handler_pending (self, achat_channel_signals[DATA_COLLECTED], 0, FALSE);
  gboolean tf_handlers =
    g_signal_has_handler_pending (self, achat_channel_signals[TERMINATOR_FOUND], 0, FALSE);

  priv->dc_direct = !dc_handlers && klass->data_collected != achat_channel_real_data_collected;
  priv->dc_observed = dc_handlers || priv->dc_direct;
  priv->tf_direct = !tf_handlers && klass->terminator_found != NULL;
  priv->tf_observed = tf_handlers || priv->tf_direct || priv->mf_class;
  /* Whole reads only while nothing takes the data piece by piece and no
   * read waits for messages one at a time. */
  priv->mf_batch = priv->mf_class && !priv->dc_observed && !priv->pull;
  priv->no_handlers = (priv->dc_direct || priv->tf_direct || priv->mf_class) &&
                      !channel_has_handlers (self);
}

/* After a handler ran: it may have connected to either signal (to stream
 * the body that follows to data-collected, say). */
static void
channel_observe_again (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->no_handlers)
    {
      if (channel_has_handlers (self))
        channel_observe (self);
    }
  else if (priv->dc_direct || priv->tf_direct || priv->mf_class)
    channel_observe (self);
  else if (!priv->dc_observed)
    priv->dc_observed =
      g_signal_has_handler_pending (self, achat_channel_signals[DATA_COLLECTED], 0, FALSE);
  else if (!priv->tf_observed)
    priv->tf_observed =
      g_signal_has_handler_pending (self, achat_channel_signals[TERMINATOR_FOUND], 0, FALSE);
}

/* The message for @event: a slice of the read buffer when it is long, else
 * a copy (in the context's reusable message buffer). Released with
 * achat_poller_release_message(). */
static void
input_message (AchatChannelPrivate *priv,
               AchatReadBuffer     *buffer,
               const guint8        *data,
               gsize                length,
               AchatMessage        *message)
{
  if (buffer != NULL && length >= SLICE_MIN)
    {
      message->bytes = achat_read_buffer_slice (buffer, data, length);
      message->lent = NULL;
    }
  else
    achat_poller_copy_message (priv->poller, data, length, message);
}

static inline void
event_message (AchatChannelPrivate    *priv,
               AchatReadBuffer        *buffer,
               const AchatFramerEvent *event,
               AchatMessage           *message)
{
  input_message (priv, event->from_input ? buffer : NULL, event->data, event->length, message);
}

static void
read_returned_cb (GObject    *task,
                  GParamSpec *pspec,
                  gpointer    user_data)
{
  AchatChannel *self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);

  g_signal_handlers_disconnect_by_func (task, read_returned_cb, user_data);
  priv->read_returning = FALSE;
  channel_consumer_arrived (self, FALSE);
}

/* Completes @task, a read, with @message. When GTask defers the callback
 * (the read was started in this main loop iteration), the input after the
 * message waits until it ran: a handler never sees a later message before
 * the read's callback saw this one. */
static void
channel_return_message (AchatChannel *self,
                        GTask        *task,
                        GBytes       *message)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  achat_channel_task_drop_cancel (task);
  g_task_return_pointer (task, message, (GDestroyNotify) g_bytes_unref);
  if (!g_task_get_completed (task))
    {
      /* The task keeps @self alive until then. */
      priv->read_returning = TRUE;
      g_signal_connect (task, "notify::completed", G_CALLBACK (read_returned_cb), self);
    }
}

/* Pull mode: @message completes the read waiting for it; or, when that
 * read was cancelled meanwhile (from another thread), waits for the next
 * read, holding input. */
static void
channel_message_to_read (AchatChannel *self,
                         AchatMessage *message)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  GBytes *bytes = g_bytes_ref (message->bytes);

  achat_poller_release_message (priv->poller, message);   /* copies if lent */
  if (priv->read_task != NULL &&
      g_cancellable_is_cancelled (g_task_get_cancellable (priv->read_task)))
    {
      /* Cancelled, and the owner thread has not handled it yet: the read
       * fails, the message waits for the next one. */
      g_autoptr(GTask) task = g_steal_pointer (&priv->read_task);

      achat_channel_task_drop_cancel (task);
      g_task_return_error_if_cancelled (task);
    }
  if (priv->read_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&priv->read_task);

      channel_return_message (self, task, bytes);
    }
  else
    {
      g_assert (priv->ready == NULL);
      priv->ready = bytes;
      priv->ready_waits = TRUE;
    }
}

/* Whole reads ----------------------------------------------------------- */

/* The most messages handed to messages_found at once: their bounds live on
 * the stack (4 KiB), and a read of tiny messages makes several calls. */
#define BATCH_MAX 256

/* What messages_found returned, checked: how many of @n messages it took. */
static guint
batch_taken (guint taken,
             guint n)
{
  if (G_LIKELY (taken >= 1 && taken <= n))
    return taken;
  g_critical ("AchatChannelClass::messages_found returned %u for %u message%s: "
              "it must return how many it took, from 1 to %u (all of them are "
              "taken as handled)", taken, n, n == 1 ? "" : "s", n);
  return n;
}

/* A message delivered alone to messages_found: one that began in an
 * earlier read, or came while messages are taken one at a time. */
static void
channel_found_alone (AchatChannel *self,
                     GBytes       *message)
{
  gsize bounds[2] = { 0, g_bytes_get_size (message) };

  batch_taken (ACHAT_CHANNEL_GET_CLASS (self)->messages_found (self, message, bounds, 2), 1);
}

/* Whether delivery one message at a time must stop to let the engine take
 * over again: the framing was set, the input stopped, paused, was
 * discarded or went to reads, or a switch to TLS began. */
static inline gboolean
batch_interrupted (AchatChannelPrivate *priv,
                   guint                framing_serial,
                   guint                generation)
{
  return priv->framing_serial != framing_serial || priv->input_generation != generation ||
         input_stopped (priv) || priv->input_paused || priv->pull ||
         priv->tls_state != TLS_NONE;
}

/* In a whole read, what follows a message up to the next one (or the end
 * of the data) begins with the terminator that ended it: makes it the
 * matched one, as it is while terminator-found runs for that message. */
static void
batch_match_terminator (AchatChannelPrivate *priv,
                        const guint8        *after,
                        gsize                length)
{
  gsize n, j;

  if (priv->framer.kind != ACHAT_FRAMER_BYTES || length == 0)
    return;
  n = achat_framer_get_n_terminators (&priv->framer);
  for (j = 0; j < n; j++)
    {
      gsize term_len;
      const guint8 *term = achat_framer_get_terminator (&priv->framer, j, &term_len);

      if (term_len <= length && memcmp (term, after, term_len) == 0)
        {
          /* Of several matching here, the longest (the first of equal
           * ones), as the framer chose. */
          gsize k;

          for (k = j + 1; k < n; k++)
            {
              gsize l;
              const guint8 *t = achat_framer_get_terminator (&priv->framer, k, &l);

              if (l > term_len && l <= length && memcmp (t, after, l) == 0)
                {
                  j = k;
                  term_len = l;
                }
            }
          priv->matched_index = j;
          priv->matched_kept = FALSE;
          return;
        }
    }
}

/* The default messages_found: each message to message_found, in order,
 * until it changes the framing or the input's state, or connects to
 * data-collected. */
static guint
achat_channel_real_messages_found (AchatChannel *self,
                                   GBytes       *data,
                                   const gsize  *bounds,
                                   guint         n_bounds)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatChannelClass *klass = ACHAT_CHANNEL_GET_CLASS (self);
  guint framing_serial = priv->framing_serial;
  guint generation = priv->input_generation;
  const guint8 *bytes;
  gboolean several;
  gboolean signals_run;
  gsize size;
  guint n;
  guint i;

  g_return_val_if_fail (data != NULL, 1);
  g_return_val_if_fail (n_bounds >= 2 && n_bounds % 2 == 0, 1);

  bytes = g_bytes_get_data (data, &size);
  n = n_bounds / 2;
  /* Which terminator ended each message matters only with several. */
  several = n > 1 && achat_framer_get_n_terminators (&priv->framer) > 1;
  /* A terminator-found handler may connect to data-collected to take the
   * body that follows in pieces: with the default message_found, the
   * next messages then go as they are framed. An overriding one connects
   * from its own code, and says so by returning (see its documentation). */
  signals_run = klass->message_found == achat_channel_real_message_found;
  for (i = 0; i < n; i++)
    {
      gsize start = bounds[2 * i];
      gsize end = bounds[2 * i + 1];
      gsize next = i + 1 < n ? bounds[2 * i + 2] : size;

      g_return_val_if_fail (start <= end && end <= next && next <= size, i + 1);
      if (several)
        batch_match_terminator (priv, bytes + end, next - end);
      klass->message_found (self, bytes + start, end - start);
      if (batch_interrupted (priv, framing_serial, generation) ||
          (signals_run && i + 1 < n &&
           g_signal_has_handler_pending (self, achat_channel_signals[DATA_COLLECTED], 0, FALSE)))
        return i + 1;
    }
  return n;
}

/* The default message_found: terminator-found, with a copy of the message
 * in the context's reusable message buffer (or its own, if kept). */
static void
achat_channel_real_message_found (AchatChannel *self,
                                  const guint8 *data,
                                  gsize         length)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatMessage message;

  g_return_if_fail (data != NULL || length == 0);

  if (priv->poller == NULL)
    {
      /* Called outside any delivery (a binding chaining up by hand). */
      g_autoptr(GBytes) copy = g_bytes_new (data, length);

      g_signal_emit (self, achat_channel_signals[TERMINATOR_FOUND], 0, copy);
      return;
    }
  achat_poller_copy_message (priv->poller, data, length, &message);
  g_signal_emit (self, achat_channel_signals[TERMINATOR_FOUND], 0, message.bytes);
  achat_poller_release_message (priv->poller, &message);
}

typedef enum
{
  BATCH_EVENT,       /* no whole message first: an event to deliver alone */
  BATCH_DELIVERED,   /* messages went to messages_found */
  BATCH_STOPPED,     /* and delivery must stop (closed, input discarded) */
} BatchResult;

/* Frames the whole messages that start at @pos of @data and hands them to
 * messages_found in one call, as the bytes from the first message's start
 * to the last one's terminator and each message's start and end there.
 * The handler says how many it took; the input after them (@pos on
 * return) is framed again under the framing in force then, so a handler
 * that changes the terminator at message i returns i + 1.
 *
 * The framer frames the whole messages first (achat_framer_next_whole())
 * and stops before anything else. When not even the first message is
 * whole, the next event is returned in @event (with @pos past it) for
 * channel_deliver(). */
static BatchResult
channel_deliver_batch (AchatChannel     *self,
                       AchatReadBuffer  *buffer,
                       const guint8     *data,
                       gsize             length,
                       gsize            *pos_inout,
                       AchatFramerEvent *event)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatFramer *framer = &priv->framer;
  gsize bounds[2 * BATCH_MAX];
  gsize after[BATCH_MAX];
  AchatMessage message;
  guint generation = priv->input_generation;
  guint limit = priv->batch_limit;
  gsize pos = *pos_inout;
  gsize base;
  guint term_index = 0;
  guint n = 0;
  guint taken;
  guint i;

  if (priv->collected_len == 0 && pos < length)
    n = achat_framer_next_whole (framer, data + pos, length - pos, limit, priv->max_input,
                                 bounds, after, &term_index);
  if (n == 0)
    {
      /* Not a whole message first (part of one, a message that began in
       * an earlier read, a refused header, one over max-input-size). */
      *pos_inout += achat_framer_next (framer, data + pos, length - pos, event);
      return BATCH_EVENT;
    }

  data += pos;
  base = bounds[0];
  input_message (priv, buffer, data + base, after[n - 1] - base, &message);
  if (base != 0)
    for (i = 0; i < 2 * n; i++)
      bounds[i] -= base;
  priv->matched_index = framer->kind == ACHAT_FRAMER_BYTES ? term_index : G_MAXUINT;
  priv->matched_kept = FALSE;

  taken = ACHAT_CHANNEL_GET_CLASS (self)->messages_found (self, message.bytes, bounds, 2 * n);
  taken = batch_taken (taken, n);
  achat_poller_release_message (priv->poller, &message);
  /* What was framed ahead for nothing is bounded: a handler that changes
   * the framing every few messages is given about as many at a time. */
  if (taken < n)
    priv->batch_limit = taken;
  else if (n == limit && limit < BATCH_MAX)
    priv->batch_limit = MIN (2 * limit, BATCH_MAX);
  /* The messages not taken are framed again: at a message's end the
   * engine's state is the same whichever message it is (a count, spent
   * after its one message, never gathers two). */
  *pos_inout = pos + after[taken - 1];
  if (input_stopped (priv) || generation != priv->input_generation)
    return BATCH_STOPPED;
  /* The handler may have connected handlers, or started a read. */
  if (G_UNLIKELY (priv->pull))
    channel_observe (self);
  else
    channel_observe_again (self);
  return BATCH_DELIVERED;
}

/* Delivers one framer event; returns FALSE when delivery must stop (the
 * channel closed or its input was discarded). */
static gboolean
channel_deliver (AchatChannel           *self,
                 AchatReadBuffer        *buffer,
                 const AchatFramerEvent *event)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  guint generation = priv->input_generation;
  AchatMessage message = { NULL, };

  if (event->length > 0)
    {
      if (priv->dc_observed)
        {
          AchatMessage data;

          event_message (priv, buffer, event, &data);
          priv->collect_generation = generation;
          if (priv->dc_direct)
            ACHAT_CHANNEL_GET_CLASS (self)->data_collected (self, data.bytes);
          else
            g_signal_emit (self, achat_channel_signals[DATA_COLLECTED], 0, data.bytes);
          achat_poller_release_message (priv->poller, &data);
          if (input_stopped (priv) || generation != priv->input_generation)
            return FALSE;
          channel_observe_again (self);
        }
      else if (!input_fits (priv, event->length))
        {
          channel_input_overflow (self, event->data, event->length);
          return FALSE;
        }
      else if (!event->terminator)
        collected_append (priv, event->data, event->length);
      else if (!priv->tf_observed && !priv->pull)
        ; /* nobody will see this message */
      else if (priv->collected_len == 0)
        event_message (priv, buffer, event, &message);   /* no copy for big messages */
      else
        collected_append (priv, event->data, event->length);
    }

  if (event->terminator)
    {
      priv->matched_index = priv->framer.kind == ACHAT_FRAMER_BYTES ? event->term_index : G_MAXUINT;
      priv->matched_kept = FALSE;
      if (G_UNLIKELY (priv->pull) && (priv->read_task != NULL || !priv->tf_observed))
        {
          if (message.bytes == NULL)
            message.bytes = collected_take (priv);
          channel_message_to_read (self, &message);
          if (input_stopped (priv) || generation != priv->input_generation)
            return FALSE;
          /* The read's callback (when GTask ran it at once) may have
           * connected or disconnected handlers. */
          channel_observe (self);
          return TRUE;
        }
      if (priv->tf_observed)
        {
          if (message.bytes == NULL)
            message.bytes = collected_take (priv);
          if (priv->mf_class)
            channel_found_alone (self, message.bytes);
          else if (priv->tf_direct)
            ACHAT_CHANNEL_GET_CLASS (self)->terminator_found (self, message.bytes);
          else
            g_signal_emit (self, achat_channel_signals[TERMINATOR_FOUND], 0, message.bytes);
          achat_poller_release_message (priv->poller, &message);
          if (input_stopped (priv) || generation != priv->input_generation)
            return FALSE;
          if (G_UNLIKELY (priv->pull))
            channel_observe (self);   /* a handler that left for reads: see it gone */
          else
            channel_observe_again (self);
        }
      else
        {
          achat_poller_release_message (priv->poller, &message);
          collected_reset (priv);
        }
    }

  return TRUE;
}

/* @bytes escaped for a message (a separator or trailer: mostly control
 * characters). */
static gchar *
escape_bytes (const guint8 *bytes,
              gsize         length)
{
  g_autofree gchar *s = g_strndup ((const gchar *) bytes, length);

  return g_strescape (s, NULL);
}

/* A length header the channel cannot accept: read no more, deliver nothing
 * of that frame, and close with the error once queued output is written. */
static void
channel_frame_refused (AchatChannel           *self,
                       const AchatFramerEvent *event)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autofree gchar *text = NULL;
  GError *error;

  if (event->status == ACHAT_FRAMER_BAD_TRAILER)
    {
      text = escape_bytes (priv->framer.trailer, priv->framer.trailer_len);
      error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_INVALID_FRAME,
                           "The peer sent a frame not followed by its trailer \"%s\"", text);
    }
  else if (event->status == ACHAT_FRAMER_FRAME_INVALID && priv->framer.radix != 0)
    {
      text = escape_bytes (priv->framer.sep, priv->framer.sep_len);
      error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_INVALID_FRAME,
                           "The peer sent a length header that is not %s digits followed "
                           "by \"%s\"", priv->framer.radix == 16 ? "hexadecimal" : "decimal",
                           text);
    }
  else if (event->status == ACHAT_FRAMER_FRAME_INVALID)
    error = g_error_new_literal (ACHAT_ERROR, ACHAT_ERROR_INVALID_FRAME,
                                 "The peer sent a length header that gives a negative "
                                 "frame length");
  else if (event->frame_length == G_MAXUINT64 && priv->framer.radix != 0 &&
           (priv->max_frame == 0 || priv->max_frame == G_MAXUINT64) && priv->max_input == 0)
    {
      /* Only a length past 64 bits is refused with no limit set. */
      error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG,
                           "The peer announced a frame longer than %" G_GUINT64_FORMAT " bytes",
                           G_MAXUINT64);
    }
  else if (event->frame_length == G_MAXUINT64 &&
           (priv->max_frame == 0 || priv->max_frame == G_MAXUINT64) && priv->max_input == 0)
    {
      /* Beyond any length: the header plus the adjustment overflows, and
       * no limit was set that the frame broke. */
      error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG,
                           "The peer announced a frame longer than %" G_GUINT64_FORMAT " bytes "
                           "(its length header plus the adjustment of %d overflows)",
                           G_MAXUINT64, priv->frame_adjustment);
    }
  else if (priv->max_frame != 0 && event->frame_length > priv->max_frame)
    error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG,
                         "The peer announced a frame of %" G_GUINT64_FORMAT " bytes, "
                         "longer than the maximum frame length of %" G_GUINT64_FORMAT " bytes",
                         event->frame_length, priv->max_frame);
  else
    error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT,
                         "The peer announced a frame of %" G_GUINT64_FORMAT " bytes, "
                         "longer than the channel's max-input-size of %" G_GSIZE_FORMAT " bytes",
                         event->frame_length, priv->max_input);
  input_stop_with_error (priv, error);
}

/* The framer's frame maximum: the lower of the frame length limit and
 * max-input-size (checked before any byte of the frame is buffered). */
void
achat_channel_apply_max_frame (AchatChannelPrivate *priv)
{
  guint64 max = priv->max_frame;

  if (priv->framer.kind != ACHAT_FRAMER_LENGTH)
    return;
  if (priv->max_input != 0 && (max == 0 || priv->max_input < max))
    max = priv->max_input;
  achat_framer_set_max_length (&priv->framer, max);
}

/* Whether someone takes the next message, looking again when the last
 * observation says no one does (a read's callback, run from the delivery,
 * may have connected a handler). */
static inline gboolean
channel_has_consumer (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (G_LIKELY (input_has_consumer (priv)))
    return TRUE;
  channel_observe (self);
  return input_has_consumer (priv);
}

/* Input waits for a read or a handler: a read takes it at once; a handler
 * connected later is looked for before every poll (two handler lookups per
 * waiting channel and main loop iteration, only while input waits). */
static void
channel_await_consumer (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->awaiting_consumer || priv->watch == NULL)
    return;
  priv->awaiting_consumer = TRUE;
  achat_watch_set_prepare (priv->watch, achat_channel_prepare_cb);
}

/* Input no longer waits for a consumer (one came, or the input went). */
static void
channel_stop_awaiting (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (!priv->awaiting_consumer)
    return;
  priv->awaiting_consumer = FALSE;
  if (priv->watch != NULL && !achat_channel_overrides_readiness (ACHAT_CHANNEL_GET_CLASS (self)))
    achat_watch_set_prepare (priv->watch, NULL);
}

static void
channel_process_input (AchatChannel    *self,
                       AchatReadBuffer *buffer,
                       const guint8    *data,
                       gsize            length)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  gsize pos = 0;

  if (input_held (priv) || priv->tls_state != TLS_NONE)
    {
      /* Read while paused (the peer went away and its last bytes are
       * being collected): kept for resume_input(). */
      if (data != NULL)
        achat_framer_hold_input (&priv->framer, data, length);
      return;
    }

  channel_observe (self);
  if (G_UNLIKELY (!input_has_consumer (priv)))
    {
      /* No one to hand a message to yet: nothing is framed (the terminator
       * in force when someone comes frames it) and nothing dropped. */
      if (data != NULL)
        achat_framer_hold_input (&priv->framer, data, length);
      if (achat_framer_get_held (&priv->framer) > 0)
        channel_await_consumer (self);
      return;
    }

  while (!input_stopped (priv))
    {
      AchatFramerEvent event;

      if (!priv->mf_batch || data == NULL)
        pos += achat_framer_next (&priv->framer, data + pos, length - pos, &event);
      else
        switch (channel_deliver_batch (self, buffer, data, length, &pos, &event))
          {
          case BATCH_STOPPED:
            return;
          case BATCH_DELIVERED:
            goto delivered;
          case BATCH_EVENT:
          default:
            break;
          }
      if (G_UNLIKELY (event.status != ACHAT_FRAMER_OK))
        {
          channel_frame_refused (self, &event);
          break;
        }
      if (event.length == 0 && !event.terminator)
        break;
      if (!channel_deliver (self, buffer, &event))
        break;
    delivered:
      /* The common case in one test of the flags: nothing holds input
       * and a handler takes it. */
      if (G_UNLIKELY (priv->input_paused || priv->ready_waits || priv->read_returning ||
                      priv->tls_state != TLS_NONE || !priv->tf_observed) &&
          (input_held (priv) || priv->tls_state != TLS_NONE || !channel_has_consumer (self)))
        {
          /* The rest of this read waits for resume_input(), or for the
           * next read (pull mode: framed with the terminator in force
           * then); or, after a switch to TLS was asked for, it is
           * plaintext that must not be read as if it came through TLS
           * (checked by achat_channel_tls_begin()). */
          if (data != NULL)
            achat_framer_hold_input (&priv->framer, data + pos, length - pos);
          if (input_awaits_consumer (priv))
            channel_await_consumer (self);
          break;
        }
    }
}

/* Delivers what the framer still holds: called when no more input will come. */
static void
channel_deliver_held (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatFramerEvent event;

  channel_process_input (self, NULL, NULL, 0);
  if (input_held (priv) && !input_stopped (priv))
    {
      /* Finished by resume_input(); the channel stays open until then. */
      priv->eof_undelivered = TRUE;
      return;
    }
  priv->eof_undelivered = FALSE;
  if (!input_stopped (priv) && achat_framer_in_frame (&priv->framer))
    {
      /* The bytes of the unfinished frame stay collected (get_collected()
       * has them); the channel closes with the error. */
      guint64 missing = priv->framer.count;
      gsize held = achat_framer_get_held (&priv->framer);
      GError *error;

      if (achat_framer_flush (&priv->framer, &event))
        collected_append (priv, event.data, event.length);
      if (missing > 0)
        error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_TRUNCATED_FRAME,
                             "The peer closed the connection %" G_GUINT64_FORMAT
                             " bytes before the end of a frame", missing);
      else if (held == 0)
        {
          /* Neither payload nor header: a text length's trailer. */
          g_autofree gchar *text = escape_bytes (priv->framer.trailer, priv->framer.trailer_len);

          error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_TRUNCATED_FRAME,
                               "The peer closed the connection before the trailer \"%s\" "
                               "of a frame", text);
        }
      else
        error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_TRUNCATED_FRAME,
                             "The peer closed the connection in the middle of a frame's "
                             "length header (%" G_GSIZE_FORMAT " bytes of it received)", held);
      input_stop_with_error (priv, error);
      return;
    }
  /* One event at a time: a terminator held undecided (a longer one might
   * have followed) is final now, and a handler's new terminator applies to
   * what is still held. */
  while (!input_stopped (priv))
    {
      if (!channel_has_consumer (self) && achat_framer_get_held (&priv->framer) > 0)
        {
          /* The rest, and the end, for the next read (or a handler). */
          priv->eof_undelivered = TRUE;
          channel_await_consumer (self);
          return;
        }
      if (!achat_framer_flush (&priv->framer, &event))
        break;
      if (!channel_deliver (self, NULL, &event))
        break;
      if (input_held (priv))
        {
          /* Paused by a handler: the rest, and the end, on resume. */
          priv->eof_undelivered = TRUE;
          return;
        }
    }
}

/* After resume_input(): delivers the input held back by the pause (and the
 * end of input, if it came meanwhile). */
static void
channel_deliver_resumed (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->in_input)
    return;   /* a nested main loop in a handler: after it returns */
  priv->resume_pending = FALSE;
  if (input_held (priv) || input_stopped (priv) || priv->tls_state != TLS_NONE)
    return;

  priv->in_input = TRUE;
  if (priv->eof_undelivered)
    channel_deliver_held (self);
  else
    channel_process_input (self, NULL, NULL, 0);
  if (priv->close_error != NULL && !priv->eof && !input_held (priv) && !input_stopped (priv))
    {
      /* A write failed while input waited: with what waited delivered,
       * what is left in the socket ends the input (as it does when the
       * write fails with input flowing), then the channel closes; a peer
       * still sending is read on by the main loop. */
      gssize n = channel_read_on (self, FAILED_WRITE_READS, FALSE, NULL);

      if (n <= 0 && !priv->closed)
        channel_end_input (self);
    }
  priv->in_input = FALSE;
  channel_track_message (self);
}

/* How many bytes of a long count-terminated message may be read straight
 * into the message being collected, saving the copy from the read buffer;
 * 0 when the read buffer must be used. Only the bytes the count still asks
 * for are read, so nothing past the message lands in it; the reservation
 * grows with what arrived (at most twice that plus one read buffer), never
 * with what a peer announced. */
static gsize
channel_direct_read_size (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  guint64 count = priv->framer.count;
  gsize size;

  if ((priv->framer.kind != ACHAT_FRAMER_COUNT && priv->framer.kind != ACHAT_FRAMER_LENGTH) ||
      count < DIRECT_READ_MIN ||
      achat_framer_get_held (&priv->framer) > 0)
    return 0;

  /* Only the default collection keeps the bytes in one place. */
  channel_observe (self);
  if (priv->dc_observed || !priv->tf_observed)
    return 0;

  size = (gsize) MIN (count, MAX (ACHAT_READ_BUFFER_SIZE, priv->collected_len));
  if (priv->max_input != 0)
    {
      /* Past the limit the normal path reports the overflow. */
      gsize room = priv->max_input > priv->collected_len ? priv->max_input - priv->collected_len : 0;

      if (room < DIRECT_READ_MIN)
        return 0;
      size = MIN (size, room);
    }
  return size;
}

/* Reads up to @size bytes of a count-terminated message in place. */
static gssize
channel_read_direct (AchatChannel  *self,
                     gsize          size,
                     GError       **error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  guint8 *dest = collected_reserve (priv, size);
  gssize n = transport_read (self, dest, size, error);
  AchatFramerEvent event;

  if (n <= 0)
    return n;

  priv->bytes_received += n;
  achat_watch_touch (priv->watch);
  /* Counts the bytes off the frame; they are already where
   * collected_append() would have put them. */
  achat_framer_next (&priv->framer, dest, (gsize) n, &event);
  g_assert (event.data == dest && event.length == (gsize) n);
  priv->collected_len += n;
  if (event.terminator)
    {
      event.data = NULL;
      event.length = 0;
      channel_deliver (self, NULL, &event);
    }
  return n;
}

/* Reads once into the context's read buffer (or, for a long counted
 * message, straight into the message) and frames what came.
 * Returns what transport_read() returned. */
static gssize
channel_read_once (AchatChannel  *self,
                   GError       **error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatReadBuffer *buffer;
  gsize direct = channel_direct_read_size (self);
  gssize n;

  if (direct > 0)
    return channel_read_direct (self, direct, error);

  buffer = achat_poller_take_read_buffer (priv->poller);
  n = transport_read (self, buffer->data, buffer->size, error);

  if (n > 0)
    {
      priv->bytes_received += n;
      achat_watch_touch (priv->watch);
      channel_process_input (self, buffer, buffer->data, n);
    }
  achat_poller_return_read_buffer (priv->poller, buffer);
  return n;
}

/* Reads while the socket has bytes, for a peer that is gone or whose
 * output is: at most @max_reads times (0: until the socket is empty, for a
 * peer that can send no more), and only while input flows unless
 * @while_held. Returns what the last read returned. */
static gssize
channel_read_on (AchatChannel  *self,
                 guint          max_reads,
                 gboolean       while_held,
                 GError       **error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  guint reads = 0;
  gssize n;

  do
    n = channel_read_once (self, error);
  while (n > 0 && !priv->closed && (while_held || !input_held (priv)) &&
         (max_reads == 0 || ++reads < max_reads));
  return n;
}

/* No more input will come: deliver what the framer holds. */
static void
channel_end_input (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  priv->eof = TRUE;
  if (!input_stopped (priv))
    channel_deliver_held (self);
}

static void
channel_handle_input (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GError) error = NULL;
  gssize n;

  if (priv->in_input)
    {
      /* A handler runs a nested main loop: stop polling for input until it
       * returns, or that loop would spin on our readable socket. */
      priv->input_reentered = TRUE;
      achat_channel_update_interest (self);
      return;
    }

  priv->in_input = TRUE;
  n = channel_read_once (self, &error);
  if (n == 0 || n == IO_ERROR)
    channel_end_input (self);
  if (n == IO_ERROR)
    achat_channel_close_internal (self, g_steal_pointer (&error));
  priv->in_input = FALSE;
  priv->input_reentered = FALSE;
  channel_track_message (self);

  if (priv->closed)
    return;
  if (priv->resume_pending)
    achat_watch_schedule (priv->watch);

  /* Replies pushed by the handlers go out in one write. */
  if (!achat_output_queue_is_empty (&priv->queue) || priv->closing || priv->eof)
    channel_flush (self);
  else
    achat_channel_update_interest (self);
}

/* The connection is gone (hung up, reset) while input waits for someone to
 * take it: what is left in the socket is read (the peer can send no more,
 * so this is bounded) and kept with the rest; the end of input is noted, or
 * the channel closes with the error. A server that never reads its input
 * does not keep reset connections. */
static void
channel_read_to_end (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GError) error = NULL;
  gssize n;

  if (priv->in_input)
    return;
  g_object_ref (self);
  priv->in_input = TRUE;
  n = channel_read_on (self, 0, TRUE, &error);
  if (!priv->closed && (n == 0 || n == IO_ERROR))
    channel_end_input (self);
  if (n == IO_ERROR)
    achat_channel_close_internal (self, g_steal_pointer (&error));
  priv->in_input = FALSE;
  if (!priv->closed)
    channel_flush (self);
  g_object_unref (self);
}

/* Idle timeout ---------------------------------------------------------- */


static void
channel_idle_cb (gpointer user_data)
{
  AchatChannel *self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);

  /* Input held by the application (paused; or, once it reads in the pull
   * style, waiting for its next read): the peer is not the silent one.
   * The clock starts again (and when input flows again). A channel that
   * never took any input still times out. */
  if (priv->input_paused || (priv->pull && input_held (priv)))
    {
      achat_channel_apply_idle_timeout (self);
      return;
    }
  achat_channel_close_internal (self,
                                g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                             "No data received or sent for %u seconds "
                                             "(the channel's idle-timeout)",
                                             priv->idle_timeout));
}

void
achat_channel_apply_idle_timeout (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->watch != NULL)
    achat_watch_set_idle_timeout (priv->watch,
                                  (gint64) priv->idle_timeout * G_USEC_PER_SEC,
                                  channel_idle_cb);
}

/* Message deadline ------------------------------------------------------ */

static gboolean
message_timer_dispatch (GSource     *source,
                        GSourceFunc  callback,
                        gpointer     user_data)
{
  return callback (user_data);
}

static GSourceFuncs message_timer_funcs = {
  NULL, NULL, message_timer_dispatch, NULL, NULL, NULL,
};

/* Whether a message is part received, and input flows (the peer's turn). */
static gboolean
channel_message_pending (AchatChannelPrivate *priv)
{
  return !priv->closed && !priv->eof && !input_held (priv) &&
         (priv->collected_len > 0 || achat_framer_get_held (&priv->framer) > 0 ||
          achat_framer_in_frame (&priv->framer));
}

static gboolean
channel_message_timer_cb (gpointer user_data)
{
  AchatChannel *self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);

  g_source_set_ready_time (priv->message_timer, -1);
  if (priv->message_started == 0 || priv->in_input || !channel_message_pending (priv))
    return G_SOURCE_CONTINUE;
  achat_channel_close_internal (self,
                                g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                             "A message was still incomplete %u seconds after "
                                             "its first byte (the channel's message-timeout)",
                                             priv->message_timeout));
  return G_SOURCE_CONTINUE;
}

/* After input was processed: a message left incomplete starts the clock
 * (once); none pending, or input held by the application, stops it. */
static void
channel_track_message (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (G_LIKELY (priv->message_timeout == 0))
    return;
  if (!channel_message_pending (priv))
    {
      if (priv->message_started != 0)
        {
          priv->message_started = 0;
          g_source_set_ready_time (priv->message_timer, -1);
        }
      return;
    }
  if (priv->message_started != 0)
    return;
  priv->message_started = g_get_monotonic_time ();
  g_source_set_ready_time (priv->message_timer,
                           priv->message_started +
                           (gint64) priv->message_timeout * G_USEC_PER_SEC);
}

/* Output ---------------------------------------------------------------- */

/* The peer is gone (a write failed): deliver what it sent before, which
 * is still in the socket, then close with @error. */
static void
channel_fail_after_input (AchatChannel *self,
                          GError       *error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  gboolean still_sending = FALSE;

  if (!priv->in_input && !priv->eof && priv->want_input && !input_held (priv) &&
      priv->poller != NULL)
    {
      gssize n;

      /* Only while input flows: once it waits (paused, or no one takes
       * it), what the peer keeps sending stays in the socket. And only so
       * many reads in this dispatch: a peer that keeps sending (it shut
       * only its reading side) is read on by the main loop, as usual,
       * while timers and other channels run. */
      priv->in_input = TRUE;
      n = channel_read_on (self, FAILED_WRITE_READS, FALSE, NULL);
      still_sending = n > 0 && !priv->closed && !input_held (priv);
      if (!still_sending && (n <= 0 || !input_held (priv)))
        channel_end_input (self);
      priv->in_input = FALSE;
    }

  if (!priv->closed &&
      (still_sending || (input_held (priv) && (!priv->eof || priv->eof_undelivered))))
    {
      /* Output is dead, but what the peer sent is delivered (when input
       * resumes, or as it comes), up to its end; then the channel closes
       * with @error. What waited for the output fails now. */
      g_autoptr(GTask) tls_task = NULL;

      output_drop_unsent (priv);
      channel_fail_drains (self, error);
      tls_task = achat_channel_tls_take_draining_task (priv);
      if (tls_task != NULL)
        g_task_return_error (tls_task, g_error_copy (error));
      g_clear_error (&priv->close_error);
      priv->close_error = error;
      return;
    }

  achat_channel_close_internal (self, error);
}

/* Marks that everything before them was written: their drain_async()
 * calls are done (completed by channel_complete_drains(), outside the
 * flush). */
static void
channel_pass_marks (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  gpointer mark;

  while ((mark = achat_output_queue_pop_mark (&priv->queue)) != NULL)
    {
      GList *l;

      for (l = priv->drains.head; l != NULL; l = l->next)
        {
          Drain *drain = l->data;

          if (drain->seq == GPOINTER_TO_UINT (mark))
            {
              drain->seq = 0;   /* done */
              break;
            }
        }
    }
}

static void
channel_complete_drains (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  while (!g_queue_is_empty (&priv->drains) &&
         ((Drain *) g_queue_peek_head (&priv->drains))->seq == 0)
    {
      Drain *drain = g_queue_pop_head (&priv->drains);
      g_autoptr(GTask) task = drain->task;

      g_free (drain);
      achat_channel_task_drop_cancel (task);
      g_task_return_boolean (task, TRUE);
    }
}

static void
channel_flush (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatChannelClass *klass = ACHAT_CHANNEL_GET_CLASS (self);
  gsize flushed = 0;
  /* Producers are asked for no more than the high watermark ahead of
   * the socket (nor more than one vectored write takes). */
  gsize budget = priv->high_watermark > 0 ?
                 CLAMP (priv->high_watermark, 64 * 1024, WRITE_BUDGET) : WRITE_BUDGET;

  if (priv->closed || priv->in_flush)
    return;
  if (priv->connecting || priv->write_blocked)
    {
      /* Written when the socket says it can take more. */
      achat_channel_update_interest (self);
      return;
    }

  g_object_ref (self);
  priv->in_flush = TRUE;

  while (!priv->closed && (channel_pass_marks (self), !achat_output_queue_is_empty (&priv->queue)))
    {
      g_autoptr(GError) error = NULL;
      AchatGather gather;
      gssize n;

      if (achat_output_queue_at_barrier (&priv->queue))
        break;   /* the rest waits for TLS */
      if (!klass->writable (self) || priv->closed)
        break;

      achat_output_queue_gather_begin (&priv->queue, &gather);
      while (achat_output_queue_gather (&priv->queue, &gather, budget) == ACHAT_GATHER_PRODUCER)
        {
          g_autoptr(AchatProducer) producer = NULL;
          g_autoptr(GBytes) chunk = NULL;

          producer = g_object_ref (achat_output_queue_gather_producer (&priv->queue, &gather));
          chunk = achat_producer_more (producer);
          if (priv->closed || !achat_output_queue_gather_valid (&priv->queue, &gather))
            break;   /* more() closed the channel or discarded the queue */
          achat_output_queue_gather_chunk (&priv->queue, &gather, chunk);
        }

      if (priv->closed)
        break;
      if (!achat_output_queue_gather_valid (&priv->queue, &gather) || gather.n_vecs == 0)
        continue;

      n = transport_writev (self, gather.vecs, gather.n_vecs, &error);
      if (n == IO_WOULD_BLOCK)
        {
          priv->write_blocked = TRUE;
          break;
        }
      if (n == IO_ERROR)
        {
          channel_fail_after_input (self, g_steal_pointer (&error));
          break;
        }

      priv->bytes_sent += n;
      achat_watch_touch (priv->watch);
      achat_output_queue_consume (&priv->queue, n);
      channel_queue_changed (self);
      if ((gsize) n < gather.n_bytes)
        {
          priv->write_blocked = TRUE;
          break;
        }

      flushed += n;
      if (flushed >= FLUSH_BUDGET)
        {
          /* Let other sources run; carry on at the next iteration. */
          achat_watch_schedule (priv->watch);
          break;
        }
    }

  priv->in_flush = FALSE;
  channel_complete_drains (self);

  if (!priv->closed && achat_output_queue_is_empty (&priv->queue) &&
      (priv->closing || (priv->eof && !priv->eof_undelivered)))
    achat_channel_close_internal (self, NULL);

  if (!priv->closed && priv->tls_state == TLS_DRAINING &&
      achat_output_queue_at_barrier (&priv->queue))
    achat_channel_tls_begin (self);
  else if (!priv->closed)
    achat_channel_update_interest (self);

  g_object_unref (self);
}

/* After the amount of queued output changed: notifies queued-bytes and
 * crosses the watermarks (output-full, output-drained). Handlers may push
 * (their output is written by the flush under way, or scheduled).
 *
 * Inside a dispatch of input (pushes from handlers) queued-bytes is
 * notified once, when the dispatch ends, as g_object_freeze_notify() would
 * have it: by the flush that ends it or channel_queue_settle(). The
 * watermarks are crossed at once. */
static void
channel_queue_changed (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  guint64 queued = priv->queue.data_bytes;

  if (priv->closed)
    return;
  if (priv->in_input)
    {
      if (queued != priv->notified_queued)
        priv->queued_deferred = TRUE;
    }
  else if (queued != priv->notified_queued || priv->queued_deferred)
    {
      priv->queued_deferred = FALSE;
      priv->notified_queued = queued;
      g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_QUEUED_BYTES]);
      if (priv->closed)
        return;
      /* Its handlers may have pushed (and crossed a watermark themselves). */
      queued = priv->queue.data_bytes;
    }

  if (!priv->output_full && priv->high_watermark > 0 && queued >= priv->high_watermark)
    {
      priv->output_full = TRUE;
      g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_OUTPUT_FULL]);
    }
  else if (priv->output_full && queued <= MIN (priv->low_watermark, priv->high_watermark))
    {
      priv->output_full = FALSE;
      g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_OUTPUT_FULL]);
      /* Unless a handler of that notification filled it again. */
      if (!priv->closed && !priv->output_full)
        g_signal_emit (self, achat_channel_signals[OUTPUT_DRAINED], 0);
    }
}

/* At the end of a dispatch: the queued-bytes notification a handler's
 * pushes deferred, if no flush gave it. */
static void
channel_queue_settle (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->queued_deferred && !priv->closed && !priv->in_input)
    channel_queue_changed (self);
}

void
achat_channel_output_changed (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  channel_queue_changed (self);

  /* Inside a dispatch of this channel the flush happens when it returns;
   * otherwise on the next main loop iteration, so that consecutive pushes
   * leave in one vectored write. */
  achat_channel_schedule (priv);
}

/* Programming errors: a method that only the owner thread may call, from
 * another (only the pushes and close_when_done() are queued for it). */
gboolean
achat_channel_check_owner (AchatChannel *self,
                           const gchar  *function)
{
  if (G_LIKELY (achat_channel_in_owner_thread (GET_PRIV (self))))
    return TRUE;
  g_critical ("%s: called from a thread that does not run the channel's main context; "
              "from other threads only achat_channel_push(), push_bytes(), "
              "push_with_producer() and close_when_done() may be called",
              function);
  return FALSE;
}

gboolean
achat_channel_check_open (AchatChannel *self,
                          const gchar  *what,
                          gsize         length)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (!priv->closed && !priv->closing)
    return TRUE;

  g_warning ("%s: %s() of %" G_GSIZE_FORMAT " bytes refused: the channel is %s",
             G_OBJECT_TYPE_NAME (self), what, length,
             priv->closed ? "closed" : "closing (close_when_done() was called)");
  return FALSE;
}

/* Main loop ------------------------------------------------------------- */

void
achat_channel_update_interest (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatChannelClass *klass = ACHAT_CHANNEL_GET_CLASS (self);
  GIOCondition interest = 0;

  if (priv->closed || priv->watch == NULL || priv->pending_error != NULL)
    return;

  if (priv->connecting)
    interest = G_IO_OUT;
  else if (priv->tls_state == TLS_HANDSHAKING)
    priv->want_input = FALSE;   /* the TLS connection reads and writes */
  else
    {
      priv->want_input = !priv->eof && !priv->input_reentered && !input_held (priv) &&
                         priv->tls_state == TLS_NONE && klass->readable (self);
      if (priv->want_input)
        interest |= G_IO_IN;
      if (priv->write_blocked && !priv->closed && klass->writable (self))
        interest |= G_IO_OUT;
    }

  if (!priv->closed && G_UNLIKELY (!achat_watch_set_interest (priv->watch, interest)))
    {
      /* The system cannot watch the socket: closes on the next iteration. */
      priv->pending_error = achat_watch_take_error (priv->watch);
      achat_watch_schedule (priv->watch);
    }
}

static void
channel_finish_connect (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  GError *error = NULL;

  priv->connecting = FALSE;
  if (!g_socket_check_connect_result (priv->socket, &error))
    {
      achat_channel_close_internal (self, error);
      return;
    }
  channel_flush (self);
}

void
achat_channel_watch_cb (gpointer     user_data,
                        GIOCondition condition)
{
  AchatChannel *self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->closed)
    return;

  g_object_ref (self);

  if (condition == 0)
    {
      /* Scheduled: an error to report, input held by a pause, or output
       * pushed from outside. */
      if (priv->pending_error != NULL)
        achat_channel_close_internal (self, g_steal_pointer (&priv->pending_error));
      else
        {
          if (priv->resume_pending)
            channel_deliver_resumed (self);
          if (!priv->closed)
            channel_flush (self);
        }
    }
  else if (priv->connecting)
    channel_finish_connect (self);
  else
    {
      /* Input first: what the peer sent before going away is delivered
       * even if writing to it fails. */
      if (!priv->closed && !priv->eof && priv->want_input &&
          (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
        channel_handle_input (self);
      if (!priv->closed && !priv->eof && (condition & (G_IO_HUP | G_IO_ERR)) &&
          !priv->input_paused && input_held (priv))
        channel_read_to_end (self);

      /* After a hang-up or an error a blocked write is retried: it fails
       * and closes the channel, rather than waiting forever. */
      if (!priv->closed && (condition & (G_IO_OUT | G_IO_HUP | G_IO_ERR)))
        {
          priv->write_blocked = FALSE;
          channel_flush (self);
        }
    }

  channel_queue_settle (self);
  g_object_unref (self);
}

/* Someone takes input now (a read was started, a handler connected):
 * what waited is framed, at once when @now and outside a dispatch of this
 * channel, else on the next iteration; then the socket is read again. */
static void
channel_consumer_arrived (AchatChannel *self,
                          gboolean      now)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  channel_stop_awaiting (self);
  if (priv->closed || priv->in_input)
    return;   /* in a dispatch: the delivery under way goes on with it */
  if (achat_framer_get_held (&priv->framer) == 0 && !priv->eof_undelivered &&
      (priv->close_error == NULL || priv->eof))
    {
      achat_channel_update_interest (self);
      return;
    }
  if (!now)
    {
      input_resume_later (priv);
      return;
    }

  g_object_ref (self);
  channel_deliver_resumed (self);
  /* Closing at the end of input, and replies pushed by handlers, are for
   * the next iteration: nothing is written or closed inside this call. */
  if (!priv->closed)
    {
      if (!achat_output_queue_is_empty (&priv->queue) || priv->closing || priv->eof ||
          priv->queued_deferred)
        achat_watch_schedule (priv->watch);
      else
        achat_channel_update_interest (self);
    }
  g_object_unref (self);
}

/* Before every poll, for channels that override readable() or writable()
 * (asked, as asyncore did) and for those whose input waits for a handler
 * to be connected. */
void
achat_channel_prepare_cb (gpointer user_data)
{
  AchatChannel *self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);

  /* Not while a flush or a read of this channel runs a nested loop: they
   * write when they return. */
  if (priv->closed || priv->connecting || achat_channel_in_dispatch (priv) ||
      priv->tls_state == TLS_HANDSHAKING)
    return;

  if (priv->awaiting_consumer)
    {
      channel_observe (self);
      if (input_has_consumer (priv))
        channel_consumer_arrived (self, FALSE);
    }
  if (priv->closed || !achat_channel_overrides_readiness (ACHAT_CHANNEL_GET_CLASS (self)))
    return;

  achat_channel_update_interest (self);
  if (!priv->closed && !priv->write_blocked &&
      !achat_output_queue_is_empty (&priv->queue) &&
      ACHAT_CHANNEL_GET_CLASS (self)->writable (self) &&
      !priv->closed)   /* writable() may have closed it */
    achat_watch_schedule (priv->watch);
}

void
achat_channel_close_internal (AchatChannel *self,
                              GError       *error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GTask) tls_task = NULL;
  GQueue foreign = G_QUEUE_INIT;
  ForeignOp *op;

  if (priv->closed)
    {
      g_clear_error (&error);
      return;
    }

  /* Input stopped on an error (a limit, a refused frame): nothing after
   * that point is read, not even by reads after the close. */
  if (priv->input_error != NULL)
    achat_framer_discard (&priv->framer);

  /* An orderly close after input stopped on an error, or after a write
   * failed while input was paused, reports that error. */
  if (error == NULL)
    error = g_steal_pointer (&priv->input_error);
  if (error == NULL)
    error = g_steal_pointer (&priv->close_error);
  g_clear_error (&priv->input_error);
  g_clear_error (&priv->close_error);

  g_object_ref (self);
  priv->closed = TRUE;

  /* A switch to TLS under way fails: a handshake is cancelled (its
   * callback reports it), a switch not yet handshaking reports now. */
  if (priv->tls_cancellable != NULL)
    g_cancellable_cancel (priv->tls_cancellable);
  tls_task = achat_channel_tls_take_draining_task (priv);

  /* How input ended, for reads: a message left unfinished is an error. */
  if (error != NULL)
    {
      priv->end_error = g_error_copy (error);
      priv->closed_error = g_error_copy (error);
    }
  else if (priv->collected_len > 0)
    priv->end_error = partial_input_error (priv);
  /* Pushes accepted from other threads and not applied yet will never be
   * sent: counted now, so that the closed handler sees them. */
  achat_channel_foreign_refuse (priv, &foreign);
  while ((op = g_queue_pop_head (&foreign)) != NULL)
    {
      if (op->bytes != NULL)
        priv->unsent_bytes += g_bytes_get_size (op->bytes);
      achat_channel_foreign_op_free (op);
    }

  if (priv->message_timer != NULL)
    {
      g_source_destroy (priv->message_timer);
      g_clear_pointer (&priv->message_timer, g_source_unref);
    }
  /* The watch goes before the descriptor it watches is closed. */
  if (priv->watch != NULL)
    achat_watch_destroy (g_steal_pointer (&priv->watch));
  output_drop_unsent (priv);
  g_clear_error (&priv->pending_error);
  /* A handshake (cancelled above) may still use the socket in GIO's
   * thread: it is closed when the handshake returns. */
  if (priv->tls_state != TLS_HANDSHAKING)
    achat_channel_transport_close (self);

  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_OPEN]);
  if (priv->unsent_bytes > 0)
    g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_UNSENT_BYTES]);
  g_signal_emit (self, achat_channel_signals[CLOSED], 0, error);
  channel_fail_drains (self, priv->end_error);
  if (priv->read_task != NULL && priv->ready == NULL)
    channel_return_end (self, g_steal_pointer (&priv->read_task));
  if (tls_task != NULL)
    {
      if (error != NULL)
        g_task_return_error (tls_task, g_error_copy (error));
      else
        g_task_return_new_error (tls_task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                                 "The channel closed before TLS started");
    }
  g_clear_error (&error);

  if (priv->attached)
    {
      priv->attached = FALSE;
      g_object_unref (self);
    }
  g_object_unref (self);
}

/* Reads, drains, other threads -------------------------------------------- */

/* A read of a closed channel, to @task: a message still in the framer (it
 * came before the end, and no one took it before the channel closed: a
 * reset while input waited) is framed now, as at the end of the stream;
 * else the end: NULL after a clean end, else the error. */
static void
channel_return_end (AchatChannel *self,
                    GTask        *task)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  AchatFramerEvent event;

  while (achat_framer_get_held (&priv->framer) > 0)
    {
      achat_framer_next (&priv->framer, NULL, 0, &event);
      if (event.status != ACHAT_FRAMER_OK ||
          (event.length == 0 && !event.terminator && !achat_framer_flush (&priv->framer, &event)))
        break;
      if (!input_fits (priv, event.length))
        {
          /* As it would have been, had it come in time. */
          achat_framer_discard (&priv->framer);
          g_clear_error (&priv->end_error);
          priv->end_error = input_limit_error (priv);
          break;
        }
      collected_append (priv, event.data, event.length);
      if (event.terminator)
        {
          channel_return_message (self, task, collected_take (priv));
          g_object_unref (task);
          return;
        }
    }
  if (priv->end_error == NULL && priv->collected_len > 0)
    priv->end_error = partial_input_error (priv);

  achat_channel_task_drop_cancel (task);
  if (priv->end_error != NULL)
    g_task_return_error (task, g_error_copy (priv->end_error));
  else
    g_task_return_pointer (task, NULL, NULL);
  g_object_unref (task);
}

static void
channel_fail_drains (AchatChannel *self,
                     const GError *error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  Drain *drain;

  while ((drain = g_queue_pop_head (&priv->drains)) != NULL)
    {
      g_autoptr(GTask) task = drain->task;

      g_free (drain);
      achat_channel_task_drop_cancel (task);
      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                                 "The channel closed before its output was written");
    }
}

static void
channel_read_cancelled (AchatChannel *self,
                        GTask        *task)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->read_task != task)
    return;   /* completed meanwhile: the message went to it */
  priv->read_task = NULL;
  achat_channel_task_drop_cancel (task);
  g_task_return_error_if_cancelled (task);
  g_object_unref (task);
}

static void
channel_drain_cancelled (AchatChannel *self,
                         GTask        *task)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  GList *l;

  for (l = priv->drains.head; l != NULL; l = l->next)
    {
      Drain *drain = l->data;

      if (drain->task == task && drain->seq != 0)
        {
          g_queue_delete_link (&priv->drains, l);
          g_free (drain);
          achat_channel_task_drop_cancel (task);
          g_task_return_error_if_cancelled (task);
          g_object_unref (task);
          return;
        }
    }
}

/* GObject --------------------------------------------------------------- */

gboolean
achat_channel_overrides_readiness (AchatChannelClass *klass)
{
  return klass->readable != achat_channel_real_readable ||
         klass->writable != achat_channel_real_writable;
}

static void
achat_channel_constructed (GObject *object)
{
  AchatChannel *self = ACHAT_CHANNEL (object);
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GError) poller_error = NULL;
  gboolean raw_socket;

  G_OBJECT_CLASS (achat_channel_parent_class)->constructed (object);

  /* Whether the class takes messages as bytes or whole reads: its vfuncs
   * (a binding's overrides included) are final now; asked once, not per
   * message. */
  priv->mf_class =
    ACHAT_CHANNEL_GET_CLASS (self)->messages_found != achat_channel_real_messages_found ||
    ACHAT_CHANNEL_GET_CLASS (self)->message_found != achat_channel_real_message_found;

  if (priv->socket == NULL && priv->stream == NULL)
    {
      g_critical ("%s needs a socket or a stream (construct property \"socket\" or \"stream\")",
                  G_OBJECT_TYPE_NAME (self));
      priv->closed = TRUE;
      return;
    }

  if (priv->closed)
    {
      /* close() was called during initialisation (a binding's __init__):
       * closed was emitted then; release what construction brought. */
      achat_channel_transport_close (self);
      return;
    }

  /* A socket connection is read through its socket, unless it wraps other
   * streams (GTcpWrapperConnection: TLS or a proxy made by GSocketClient). */
  raw_socket = priv->stream == NULL ||
               (G_IS_SOCKET_CONNECTION (priv->stream) &&
                !G_IS_TCP_WRAPPER_CONNECTION (priv->stream));
  if (priv->socket == NULL && G_IS_SOCKET_CONNECTION (priv->stream))
    priv->socket = g_object_ref (g_socket_connection_get_socket (G_SOCKET_CONNECTION (priv->stream)));
  if (G_IS_TLS_CONNECTION (priv->stream))
    priv->tls = g_object_ref (G_TLS_CONNECTION (priv->stream));
  else if (G_IS_TCP_WRAPPER_CONNECTION (priv->stream) &&
           G_IS_TLS_CONNECTION (g_tcp_wrapper_connection_get_base_io_stream (G_TCP_WRAPPER_CONNECTION (priv->stream))))
    priv->tls = g_object_ref (G_TLS_CONNECTION (g_tcp_wrapper_connection_get_base_io_stream (G_TCP_WRAPPER_CONNECTION (priv->stream))));

  /* Channels of a main context share unlocked state: they must all be made
   * and used in the thread that runs it. */
  priv->context = g_main_context_ref_thread_default ();
  priv->poller = achat_poller_acquire (priv->context, &poller_error);
  if (achat_poller_get_thread (priv->poller) != g_thread_self () ||
      !g_main_context_acquire (priv->context))
    {
      g_critical ("%s must be constructed in the thread that runs its main context: "
                  "push a thread-default main context (g_main_context_push_thread_default()) "
                  "in this thread first",
                  G_OBJECT_TYPE_NAME (self));
      g_clear_pointer (&priv->poller, achat_poller_release);
      priv->closed = TRUE;
      achat_channel_transport_close (self);
      return;
    }
  g_main_context_release (priv->context);
  priv->owner = pthread_self ();
  priv->owner_known = TRUE;
  achat_output_queue_set_chunk_cache (&priv->queue, achat_poller_get_chunk_cache (priv->poller));

  if ((priv->socket != NULL && g_socket_is_closed (priv->socket)) ||
      (priv->stream != NULL && g_io_stream_is_closed (priv->stream)))
    {
      /* Nothing to watch: the channel closes with the reason on the first
       * iteration (its descriptor may belong to another file by now). */
      priv->pending_error = g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
                                         "%s was made over a %s that is already closed",
                                         G_OBJECT_TYPE_NAME (self),
                                         priv->stream != NULL && g_io_stream_is_closed (priv->stream) ?
                                         G_OBJECT_TYPE_NAME (priv->stream) : "GSocket");
      priv->watch = achat_poller_watch_fd (priv->poller, -1, achat_channel_watch_cb, self);
    }
  else if (raw_socket)
    {
      priv->fd = g_socket_get_fd (priv->socket);
      priv->watch = achat_poller_watch_fd (priv->poller, priv->fd, achat_channel_watch_cb, self);
      priv->connecting = !g_socket_is_connected (priv->socket);
    }
  else
    {
      GInputStream *input = g_io_stream_get_input_stream (priv->stream);
      GOutputStream *output = g_io_stream_get_output_stream (priv->stream);

      if (G_IS_POLLABLE_INPUT_STREAM (input) &&
          g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (input)) &&
          G_IS_POLLABLE_OUTPUT_STREAM (output) &&
          g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (output)))
        {
          priv->input = g_object_ref (G_POLLABLE_INPUT_STREAM (input));
          priv->output = g_object_ref (G_POLLABLE_OUTPUT_STREAM (output));
        }
      else
        priv->pending_error = g_error_new (ACHAT_ERROR, ACHAT_ERROR_NOT_POLLABLE,
                                           "%s cannot run over a %s: its streams are not pollable",
                                           G_OBJECT_TYPE_NAME (self),
                                           G_OBJECT_TYPE_NAME (priv->stream));
      priv->watch = achat_poller_watch_streams (priv->poller, priv->input, priv->output,
                                                achat_channel_watch_cb, self);
    }

  if (poller_error != NULL && priv->pending_error == NULL)
    priv->pending_error = g_steal_pointer (&poller_error);   /* out of descriptors */
  if (priv->pending_error == NULL)
    priv->pending_error = achat_watch_take_error (priv->watch);   /* epoll refused it */
  achat_channel_apply_idle_timeout (self);

  /* Kept alive by the main loop until closed, like asyncore's socket map. */
  priv->attached = TRUE;
  g_object_ref (self);

  if (priv->pending_error != NULL)
    achat_watch_schedule (priv->watch);
  else
    {
      /* Overridden readable()/writable() are first asked by the prepare
       * hook, before the first poll: not now, while a binding's __init__
       * may still be running. */
      if (achat_channel_overrides_readiness (ACHAT_CHANNEL_GET_CLASS (self)))
        achat_watch_set_prepare (priv->watch, achat_channel_prepare_cb);
      else
        achat_channel_update_interest (self);
      /* Pushes or close_when_done() from initialisation. */
      if (!achat_output_queue_is_empty (&priv->queue) || priv->closing)
        achat_watch_schedule (priv->watch);
    }
}

static void
achat_channel_dispose (GObject *object)
{
  AchatChannel *self = ACHAT_CHANNEL (object);
  AchatChannelPrivate *priv = GET_PRIV (self);

  /* Open here only if g_object_run_dispose() was called on an open
   * channel: close quietly, no signals from a dying object. */
  if (!priv->closed)
    {
      priv->closed = TRUE;
      if (priv->watch != NULL)
        achat_watch_destroy (g_steal_pointer (&priv->watch));
      achat_channel_transport_close (self);
    }

  /* The cache is the poller's, and this may be another thread. */
  achat_output_queue_set_chunk_cache (&priv->queue, NULL);
  g_clear_pointer (&priv->poller, achat_poller_release);
  achat_output_queue_clear (&priv->queue);
  g_clear_error (&priv->pending_error);
  g_clear_object (&priv->input);
  g_clear_object (&priv->output);
  g_clear_object (&priv->tls);
  g_clear_object (&priv->stream);
  g_clear_object (&priv->socket);

  G_OBJECT_CLASS (achat_channel_parent_class)->dispose (object);
}

static void
achat_channel_finalize (GObject *object)
{
  AchatChannel *self = ACHAT_CHANNEL (object);
  AchatChannelPrivate *priv = GET_PRIV (self);

  achat_framer_clear (&priv->framer);
  g_clear_pointer (&priv->matched_copy, g_bytes_unref);
  g_clear_pointer (&priv->ready, g_bytes_unref);
  g_clear_error (&priv->end_error);
  g_clear_error (&priv->closed_error);
  if (priv->message_timer != NULL)
    {
      g_source_destroy (priv->message_timer);
      g_clear_pointer (&priv->message_timer, g_source_unref);
    }
  g_queue_clear_full (&priv->foreign_ops, (GDestroyNotify) achat_channel_foreign_op_free);
  g_mutex_clear (&priv->foreign_lock);
  g_clear_pointer (&priv->collected, g_free);
  g_clear_error (&priv->input_error);
  g_clear_error (&priv->close_error);
  g_clear_pointer (&priv->context, g_main_context_unref);

  G_OBJECT_CLASS (achat_channel_parent_class)->finalize (object);
}

static void
achat_channel_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  AchatChannel *self = ACHAT_CHANNEL (object);
  AchatChannelPrivate *priv = GET_PRIV (self);

  switch (prop_id)
    {
    case PROP_SOCKET:
      g_value_set_object (value, priv->socket);
      break;
    case PROP_STREAM:
      g_value_set_object (value, priv->stream);
      break;
    case PROP_CONTEXT:
      g_value_set_boxed (value, priv->context);
      break;
    case PROP_OPEN:
      g_value_set_boolean (value, !priv->closed);
      break;
    case PROP_BYTES_RECEIVED:
      g_value_set_uint64 (value, priv->bytes_received);
      break;
    case PROP_BYTES_SENT:
      g_value_set_uint64 (value, priv->bytes_sent);
      break;
    case PROP_MAX_INPUT_SIZE:
      g_value_set_uint64 (value, priv->max_input);
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, priv->idle_timeout);
      break;
    case PROP_MESSAGE_TIMEOUT:
      g_value_set_uint (value, priv->message_timeout);
      break;
    case PROP_INPUT_PAUSED:
      g_value_set_boolean (value, priv->input_paused);
      break;
    case PROP_QUEUED_BYTES:
      g_value_set_uint64 (value, priv->queue.data_bytes);
      break;
    case PROP_OUTPUT_HIGH_WATERMARK:
      g_value_set_uint64 (value, priv->high_watermark);
      break;
    case PROP_OUTPUT_LOW_WATERMARK:
      g_value_set_uint64 (value, priv->low_watermark);
      break;
    case PROP_OUTPUT_FULL:
      g_value_set_boolean (value, priv->output_full);
      break;
    case PROP_TLS_CONNECTION:
      g_value_set_object (value, priv->tls);
      break;
    case PROP_UNSENT_BYTES:
      g_value_set_uint64 (value, priv->unsent_bytes);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
achat_channel_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  AchatChannel *self = ACHAT_CHANNEL (object);
  AchatChannelPrivate *priv = GET_PRIV (self);

  switch (prop_id)
    {
    case PROP_SOCKET:
      g_set_object (&priv->socket, g_value_get_object (value));
      break;
    case PROP_STREAM:
      g_set_object (&priv->stream, g_value_get_object (value));
      break;
    case PROP_MAX_INPUT_SIZE:
      achat_channel_set_max_input_size (self, (gsize) g_value_get_uint64 (value));
      break;
    case PROP_IDLE_TIMEOUT:
      achat_channel_set_idle_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MESSAGE_TIMEOUT:
      achat_channel_set_message_timeout (self, g_value_get_uint (value));
      break;
    case PROP_OUTPUT_HIGH_WATERMARK:
      achat_channel_set_output_watermarks (self, priv->low_watermark,
                                           (gsize) g_value_get_uint64 (value));
      break;
    case PROP_OUTPUT_LOW_WATERMARK:
      achat_channel_set_output_watermarks (self, (gsize) g_value_get_uint64 (value),
                                           priv->high_watermark);
      break;
    case PROP_INPUT_PAUSED:
      if (g_value_get_boolean (value))
        achat_channel_pause_input (self);
      else
        achat_channel_resume_input (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/**
 * AchatChannelClass::data_collected:
 * @self: the channel
 * @data: bytes received before the next terminator
 *
 * Class closure of [signal@Achat.Channel::data-collected]. The default
 * appends @data to the message that terminator-found will carry; an
 * override that does not chain up keeps its own buffer.
 */

/**
 * AchatChannelClass::terminator_found:
 * @self: the channel
 * @message: everything collected since the previous terminator
 *
 * Class closure of [signal@Achat.Channel::terminator-found]. The default
 * does nothing. In GJS, copy @message if you keep it (see the class
 * documentation).
 */

/**
 * AchatChannelClass::messages_found:
 * @self: the channel
 * @data: the bytes that hold the messages
 * @bounds: (array length=n_bounds): where each message starts and ends
 *   in @data, two offsets per message, in order
 * @n_bounds: twice the number of messages (at least 2)
 *
 * Takes every whole message of a read in one call: whole-read delivery,
 * the cheapest way to receive many small messages, from C and even more
 * from Python and GJS (one call per read instead of one per message).
 *
 * Message `i` is `data[bounds[2 * i] : bounds[2 * i + 1]]`, without its
 * terminator; the bytes after it, up to the next message's start, are the
 * terminator that ended it, or the next frame's length header. A message
 * that began in an earlier read, or that comes while a read of the pull
 * style is pending or data-collected is observed, arrives alone (@data is
 * then the message).
 *
 * Return how many of the messages you took, from 1 to all of them. The
 * ones after are framed again, from their first byte, under the framing
 * in force when you return: a handler that reads a header at message `i`
 * and sets a byte count for the body that follows returns `i + 1`. Do the
 * same after pausing input, starting a read, a switch to TLS, lowering
 * max-input-size or connecting to data-collected: what you did not take
 * waits for that, exactly as if it had not been framed yet. Anything else
 * (0, or more than there are) is a programming error: a critical is
 * logged and all of them count as taken.
 *
 * When a class overrides it, every message goes to it, and
 * [signal@Achat.Channel::terminator-found] is emitted only by the
 * default, which a class may chain up to: it calls
 * [vfunc@Achat.Channel.message_found] for each message in turn (whose
 * default emits terminator-found) and returns early when that changed
 * the framing or the input's state (set a terminator, paused, started a
 * read, a switch to TLS, discarded, closed, connected to data-collected).
 *
 * The bytes of @data are a view of the read buffer: keep what you need by copying it,
 * or keep @data itself, which keeps the whole read buffer alive. In GJS,
 * copy it if you keep it (see the class documentation).
 * [method@Achat.Channel.get_matched_terminator] gives the last message's
 * terminator (the default sets it for each message before passing it on).
 *
 * From Python, override `do_messages_found(self, data, bounds, n_bounds)`
 * (PyGObject passes the length of @bounds too) and chain up with
 * `Achat.Channel.do_messages_found(self, data, bounds)`; from GJS,
 * `vfunc_messages_found(data, bounds)`.
 *
 * Returns: how many of the messages were taken, from 1 to @n_bounds / 2
 */

/**
 * AchatChannelClass::message_found:
 * @self: the channel
 * @data: (array length=length) (element-type guint8): the message, without
 *   its terminator
 * @length: its length
 *
 * Takes one message as plain bytes: the per-message style for bindings,
 * where a `GBytes` costs a wrapper and a copy per message. Python's
 * `do_message_found(self, data, length)` receives `bytes`, GJS's
 * `vfunc_message_found(data)` a `Uint8Array`, both copies they may keep.
 *
 * A class that overrides it takes the messages the way a handler of
 * [signal@Achat.Channel::terminator-found] does (the same order, and a
 * terminator set in it, a pause, a read started or a switch to TLS applies
 * to the very next byte), but they are framed a read at a time, as for
 * [vfunc@Achat.Channel.messages_found], which calls it for each message.
 * The one difference: a data-collected handler it connects is seen from
 * the next read on, or from its next change of framing (the channel does
 * not ask GObject after every message). The default emits
 * terminator-found with the message, and there the channel does ask; a
 * connected terminator-found handler is not called unless the class
 * chains up.
 */

/**
 * AchatChannelClass::readable:
 * @self: the channel
 *
 * Whether the channel wants input now. When overridden it is asked before
 * every poll of the main loop, as asyncore did; while it returns %FALSE
 * nothing is read, not even a hang-up.
 *
 * Returns: %TRUE to read; the default always does
 */

/**
 * AchatChannelClass::writable:
 * @self: the channel
 *
 * Whether the channel may write now. When overridden it is asked before
 * every poll of the main loop while output is queued; while it returns
 * %FALSE nothing is written.
 *
 * Returns: %TRUE to write; the default does while output is queued
 */

/**
 * AchatChannelClass::closed:
 * @self: the channel
 * @error: (nullable): why the channel closed, or %NULL for an orderly close
 *
 * Class closure of [signal@Achat.Channel::closed].
 */

static void
achat_channel_class_init (AchatChannelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  achat_channel_private_offset = g_type_class_get_instance_private_offset (klass);
  object_class->constructed = achat_channel_constructed;
  object_class->dispose = achat_channel_dispose;
  object_class->finalize = achat_channel_finalize;
  object_class->get_property = achat_channel_get_property;
  object_class->set_property = achat_channel_set_property;

  /* Writes to a pipe whose reader is gone must fail with EPIPE, not kill
   * the process: GSocket's class initialisation ignores SIGPIPE, as every
   * GIO network program already has it. */
  g_type_class_unref (g_type_class_ref (G_TYPE_SOCKET));

  klass->data_collected = achat_channel_real_data_collected;
  /* terminator_found has no default: asynchat's found_terminator() was
   * abstract too. A NULL class handler lets GLib call a single connected
   * handler on its fast path, without boxing the message in a GValue. */
  klass->terminator_found = NULL;
  klass->messages_found = achat_channel_real_messages_found;
  klass->message_found = achat_channel_real_message_found;
  klass->closed = achat_channel_real_closed;
  klass->readable = achat_channel_real_readable;
  klass->writable = achat_channel_real_writable;

  /**
   * AchatChannel:socket:
   *
   * The connected [class@Gio.Socket] the channel reads and writes, set at
   * construction. When the channel is made from a [class@Gio.SocketConnection]
   * this is the connection's socket; for other streams it is %NULL.
   *
   * If the socket is still connecting (a non-blocking
   * [method@Gio.Socket.connect] that returned %G_IO_ERROR_PENDING), the
   * channel waits for the connection and sends what was pushed meanwhile.
   */
  achat_channel_properties[PROP_SOCKET] =
    g_param_spec_object ("socket", NULL, NULL,
                         G_TYPE_SOCKET,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:stream:
   *
   * The [class@Gio.IOStream] the channel runs over, set at construction:
   * a [class@Gio.SocketConnection], or any stream whose input and output
   * are pollable (a [class@Gio.TlsConnection], pipes). %NULL when the
   * channel was made from a bare socket.
   */
  achat_channel_properties[PROP_STREAM] =
    g_param_spec_object ("stream", NULL, NULL,
                         G_TYPE_IO_STREAM,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:context:
   *
   * The main context the channel runs on: the thread-default one when it
   * was constructed.
   */
  achat_channel_properties[PROP_CONTEXT] =
    g_param_spec_boxed ("context", NULL, NULL,
                        G_TYPE_MAIN_CONTEXT,
                        G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:is-open:
   *
   * Whether the channel is open: %TRUE from construction until it closes.
   * Notified once, just before [signal@Achat.Channel::closed] is emitted,
   * so a widget's sensitivity can be bound to it. The opposite of
   * achat_channel_is_closed(). (Not "closed", the signal's name, nor
   * "is-closed", which would hide that method in GJS.)
   */
  achat_channel_properties[PROP_OPEN] =
    g_param_spec_boolean ("is-open", NULL, NULL,
                          TRUE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:bytes-received:
   *
   * How many bytes the channel has read. Not notified (it changes on every
   * read); read it when needed.
   */
  achat_channel_properties[PROP_BYTES_RECEIVED] =
    g_param_spec_uint64 ("bytes-received", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:bytes-sent:
   *
   * How many bytes the channel has written. Not notified (it changes on
   * every write); read it when needed.
   */
  achat_channel_properties[PROP_BYTES_SENT] =
    g_param_spec_uint64 ("bytes-sent", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:max-input-size:
   *
   * The longest message, in bytes, the channel buffers. A peer that sends
   * more without a terminator (or a count larger than this) makes the
   * channel stop reading: every earlier message has been delivered, what
   * was queued for output is written, and the channel closes with
   * %ACHAT_ERROR_INPUT_LIMIT. The first max-input-size bytes of the
   * offending message stay available from
   * [method@Achat.Channel.get_collected] in the
   * [signal@Achat.Channel::closed] handler; nothing after them is read.
   * The same stream gives the same outcome however it is split into reads.
   * A channel's input buffer is thus at most this plus the bytes held back
   * as a possible start of the terminator (fewer than its length).
   *
   * Bytes a [signal@Achat.Channel::data-collected] handler keeps out of the
   * message (by stopping the emission, or by overriding the class handler
   * without chaining up) are not buffered by the channel and do not count.
   *
   * The default is %ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE (1 MiB); 0 lifts
   * the limit, as Python's asynchat had none. A new limit applies to the
   * bytes that arrive after it is set.
   */
  achat_channel_properties[PROP_MAX_INPUT_SIZE] =
    g_param_spec_uint64 ("max-input-size", NULL, NULL,
                         0, G_MAXSIZE, ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:idle-timeout:
   *
   * Seconds without a byte received or sent after which the channel
   * closes with %G_IO_ERROR_TIMED_OUT, or 0 (the default) for never: a
   * defence against peers that connect and say nothing. (It is no
   * defence against a peer that trickles a byte now and then: every byte
   * starts the count again.) Checked to about a tenth of a second; one
   * check per main context serves every channel, so a timeout costs
   * nothing per main loop iteration. Setting it starts the count again.
   * The count stops while the application holds input (paused, or
   * between two reads in the pull style): the peer is not the silent one
   * then. Output that a stalled peer does not read is dropped by that
   * close.
   */
  achat_channel_properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL,
                       0, G_MAXUINT / G_USEC_PER_SEC, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:message-timeout:
   *
   * Seconds allowed for one message, from the read that brought its first
   * byte to the one that completes it, or 0 (the default) for no limit:
   * the defence against a peer that trickles a message a byte at a time
   * (slowloris), which [property@Achat.Channel:idle-timeout] is not. A
   * message still incomplete then closes the channel with
   * %G_IO_ERROR_TIMED_OUT. The clock stops while the application holds
   * input (paused, or waiting for a read in the pull style). Checked
   * with one timer per channel, moved only when a read leaves a message
   * incomplete or completes one: nothing per message otherwise.
   */
  achat_channel_properties[PROP_MESSAGE_TIMEOUT] =
    g_param_spec_uint ("message-timeout", NULL, NULL,
                       0, G_MAXUINT / G_USEC_PER_SEC, 0,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                       G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:input-paused:
   *
   * Whether input is paused ([method@Achat.Channel.pause_input]): no input
   * signal is emitted and the socket is not read, so the kernel's buffers
   * fill and the peer is slowed down (TCP flow control) instead of the
   * channel buffering without bound. Setting it to %FALSE resumes.
   */
  achat_channel_properties[PROP_INPUT_PAUSED] =
    g_param_spec_boolean ("input-paused", NULL, NULL,
                          FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:queued-bytes:
   *
   * Bytes pushed and not yet written (a producer's bytes count once it
   * has been asked for them). Notified when it changes: after pushes, and
   * after each write. Pushes made by handlers while the channel delivers
   * input (and by pull-style read callbacks run then) are notified once,
   * when that delivery and the write that follows it are done, as
   * g_object_freeze_notify() would: with the value then, possibly the one
   * notified before. That includes pushes made meanwhile by whatever a
   * handler's nested main loop runs (timeouts, pushes handed over from
   * other threads). [property@Achat.Channel:output-full] changes at once.
   */
  achat_channel_properties[PROP_QUEUED_BYTES] =
    g_param_spec_uint64 ("queued-bytes", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:output-high-watermark:
   *
   * When [property@Achat.Channel:queued-bytes] reaches this many bytes,
   * [property@Achat.Channel:output-full] becomes %TRUE: a producer of
   * unbounded data should stop pushing until
   * [signal@Achat.Channel::output-drained]. Pushes are never refused for
   * it. 0 disables the watermarks. Default:
   * %ACHAT_CHANNEL_DEFAULT_OUTPUT_HIGH_WATERMARK (1 MiB).
   */
  achat_channel_properties[PROP_OUTPUT_HIGH_WATERMARK] =
    g_param_spec_uint64 ("output-high-watermark", NULL, NULL,
                         0, G_MAXSIZE, ACHAT_CHANNEL_DEFAULT_OUTPUT_HIGH_WATERMARK,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:output-low-watermark:
   *
   * When a full channel's queued output falls to this many bytes or fewer,
   * [property@Achat.Channel:output-full] becomes %FALSE and
   * [signal@Achat.Channel::output-drained] is emitted. Above 0 it keeps
   * the socket busy while the application refills. Default:
   * %ACHAT_CHANNEL_DEFAULT_OUTPUT_LOW_WATERMARK (256 KiB); never more than
   * the high watermark.
   */
  achat_channel_properties[PROP_OUTPUT_LOW_WATERMARK] =
    g_param_spec_uint64 ("output-low-watermark", NULL, NULL,
                         0, G_MAXSIZE, ACHAT_CHANNEL_DEFAULT_OUTPUT_LOW_WATERMARK,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:output-full:
   *
   * %TRUE from when queued output reaches the high watermark until it
   * falls to the low one: the time to stop pushing. Bind a widget's
   * sensitivity to it, or wait for [signal@Achat.Channel::output-drained].
   */
  achat_channel_properties[PROP_OUTPUT_FULL] =
    g_param_spec_boolean ("output-full", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:tls-connection: (getter get_tls_connection)
   *
   * The TLS connection the channel runs over: the stream it was made with,
   * when that is one, or the connection made by
   * achat_channel_start_tls_client_async() or
   * achat_channel_start_tls_server_async() (set when its handshake is
   * about to start, see [signal@Achat.Channel::tls-handshaking]). %NULL
   * for a plaintext channel. Ask it for the peer's certificate, the
   * negotiated protocol and so on.
   */
  achat_channel_properties[PROP_TLS_CONNECTION] =
    g_param_spec_object ("tls-connection", NULL, NULL,
                         G_TYPE_TLS_CONNECTION,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  /**
   * AchatChannel:unsent-bytes: (getter get_unsent_bytes)
   *
   * Bytes pushed that were never written: queued output dropped by
   * [method@Achat.Channel.close], [method@Achat.Channel.discard_buffers] or
   * a connection that failed, and pushes from other threads that reached
   * the channel after it closed. Bytes a producer had not produced yet are
   * not counted. Read it in a [signal@Achat.Channel::closed] handler to
   * know what the peer did not get; notified when it changes.
   */
  achat_channel_properties[PROP_UNSENT_BYTES] =
    g_param_spec_uint64 ("unsent-bytes", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                         G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, achat_channel_properties);

  /**
   * AchatChannel::data-collected:
   * @self: the channel
   * @data: bytes received before the next terminator (or all bytes, with no
   *   terminator)
   *
   * Emitted with the bytes received up to the next terminator, in pieces as
   * they arrive: Python's `collect_incoming_data()`. The default handler
   * appends @data to the message that
   * [signal@Achat.Channel::terminator-found] will carry; a subclass that
   * overrides it without chaining up manages its own buffer, and
   * `terminator-found` then carries an empty message.
   *
   * Call g_signal_stop_emission_by_name() from a handler to keep @data out
   * of the message.
   *
   * When no handler is connected and the class handler is the default one,
   * the signal is not emitted: the bytes go straight into the message.
   * When no handler is connected and a subclass overrides the class
   * handler, that handler is called directly, without an emission (the
   * signal takes no emission hooks).
   */
  achat_channel_signals[DATA_COLLECTED] =
    g_signal_new ("data-collected",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_NO_HOOKS,
                  G_STRUCT_OFFSET (AchatChannelClass, data_collected),
                  NULL, NULL,
                  g_cclosure_marshal_VOID__BOXED,
                  G_TYPE_NONE, 1, G_TYPE_BYTES);
  g_signal_set_va_marshaller (achat_channel_signals[DATA_COLLECTED], G_TYPE_FROM_CLASS (klass),
                              _achat_marshal_VOID__BYTESv);

  /**
   * AchatChannel::terminator-found:
   * @self: the channel
   * @message: everything collected since the previous terminator, the
   *   terminator excluded
   *
   * Emitted when the input matches the terminator: the bytes string was
   * found, or the count of bytes has arrived. Python's `found_terminator()`.
   * The channel's message buffer is empty again when handlers run.
   *
   * A handler may change the terminator; the change applies to the bytes
   * that follow in the same read. It may also push replies (they are
   * written together once the read is processed), call
   * [method@Achat.Channel.close] (no more input is delivered), or
   * [method@Achat.Channel.discard_buffers] (the rest of the input is
   * dropped).
   *
   * When no handler is connected and a subclass overrides the class
   * handler, that handler is called directly, without an emission: the
   * fastest way to receive messages (the signal takes no emission hooks).
   */
  achat_channel_signals[TERMINATOR_FOUND] =
    g_signal_new ("terminator-found",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST | G_SIGNAL_NO_HOOKS,
                  G_STRUCT_OFFSET (AchatChannelClass, terminator_found),
                  NULL, NULL,
                  g_cclosure_marshal_VOID__BOXED,
                  G_TYPE_NONE, 1, G_TYPE_BYTES);
  g_signal_set_va_marshaller (achat_channel_signals[TERMINATOR_FOUND], G_TYPE_FROM_CLASS (klass),
                              _achat_marshal_VOID__BYTESv);

  /**
   * AchatChannel::closed:
   * @self: the channel
   * @error: (nullable): why the channel closed, or %NULL for an orderly
   *   close (the peer closed, or the application asked)
   *
   * Emitted exactly once when the channel closes, after the last
   * [signal@Achat.Channel::data-collected] and
   * [signal@Achat.Channel::terminator-found]. The socket is closed and
   * queued output is dropped by then; the message collected so far (a
   * frame the peer did not finish) is still available from
   * [method@Achat.Channel.get_collected].
   */
  achat_channel_signals[CLOSED] =
    g_signal_new ("closed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  G_STRUCT_OFFSET (AchatChannelClass, closed),
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);

  /**
   * AchatChannel::output-drained:
   * @self: the channel
   *
   * Emitted when queued output that had reached the high watermark falls
   * to the low one ([property@Achat.Channel:output-low-watermark]): push
   * more now. The flow control of output, as pause_input() is that of
   * input:
   *
   * <!-- snippet: examples/snippets/api-snippets.c#output-drained -->
   * ```c
   * static void
   * send_more (AchatChannel *channel, gpointer user_data)
   * {
   *   MySource *source = user_data;
   *
   *   while (!achat_channel_is_output_full (channel) && my_source_has_more (source))
   *     {
   *       g_autoptr(GBytes) chunk = my_source_next_chunk (source);
   *
   *       achat_channel_push_bytes (channel, chunk);
   *     }
   * }
   * ```
   *
   * started with:
   *
   * <!-- snippet: examples/snippets/api-snippets.c#output-drained-connect -->
   * ```c
   * g_signal_connect (channel, "output-drained", G_CALLBACK (send_more), source);
   * send_more (channel, source);
   * ```
   *
   * A producer ([method@Achat.Channel.push_with_producer]) needs none of
   * this: it is asked for data only as the socket takes it.
   */
  achat_channel_signals[OUTPUT_DRAINED] =
    g_signal_new ("output-drained",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  G_STRUCT_OFFSET (AchatChannelClass, output_drained),
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 0);

  /**
   * AchatChannel::tls-handshaking:
   * @self: the channel
   * @connection: the TLS connection about to handshake
   *
   * Emitted by achat_channel_start_tls_client_async() and
   * achat_channel_start_tls_server_async() when the TLS connection is made
   * and its handshake is about to start: the place to connect to its
   * [signal@Gio.TlsConnection::accept-certificate] signal, or to set its
   * [property@Gio.TlsConnection:database],
   * [property@Gio.TlsConnection:interaction] or ALPN protocols. Without a
   * handler a client accepts only a certificate that the system's
   * database trusts for the server identity given.
   */
  achat_channel_signals[TLS_HANDSHAKING_SIGNAL] =
    g_signal_new ("tls-handshaking",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  G_STRUCT_OFFSET (AchatChannelClass, tls_handshaking),
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, G_TYPE_TLS_CONNECTION);
}

static void
achat_channel_init (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  /* Valid from here on: bindings run a subclass's __init__/_init, which may
   * set the terminator or push, before construct properties are set. */
  priv->fd = -1;
  priv->max_input = ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE;
  priv->high_watermark = ACHAT_CHANNEL_DEFAULT_OUTPUT_HIGH_WATERMARK;
  priv->low_watermark = ACHAT_CHANNEL_DEFAULT_OUTPUT_LOW_WATERMARK;
  achat_framer_init (&priv->framer);
  priv->batch_limit = BATCH_MAX;
  priv->matched_index = G_MAXUINT;
  achat_output_queue_init (&priv->queue);
  g_queue_init (&priv->drains);
  g_mutex_init (&priv->foreign_lock);
  g_queue_init (&priv->foreign_ops);
}

/* Public API ------------------------------------------------------------ */

/* A message partly framed for a consumer that is gone (a read cancelled
 * in its middle; a handler disconnected, in pull mode or outside any
 * dispatch) is framed anew, from its first byte, by the new framing: its
 * bytes (and a length header the framer consumed) go back to the framer,
 * in front of what it holds. A handler that changes the terminator in the
 * middle of a message keeps what was collected, as asynchat did. A closed
 * channel frames nothing anew. */
void
achat_channel_reframe_partial (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  if (priv->closed || priv->read_task != NULL ||
      (priv->collected_len == 0 && !achat_framer_in_frame (&priv->framer)))
    return;
  if (!priv->pull)
    {
      if (priv->in_input)
        return;
      channel_observe (self);
      if (input_has_consumer (priv))
        return;
    }
  achat_framer_unread (&priv->framer, priv->collected, priv->collected_len);
  collected_reset (priv);
}

/**
 * achat_channel_new:
 * @socket: a connected (or connecting) stream socket
 *
 * Creates a channel over @socket on the thread-default main context. The
 * channel takes over the socket: it reads and writes it and closes it when
 * the channel closes.
 *
 * Returns: (transfer full): a new #AchatChannel
 */
AchatChannel *
achat_channel_new (GSocket *socket)
{
  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);

  return g_object_new (ACHAT_TYPE_CHANNEL, "socket", socket, NULL);
}

/**
 * achat_channel_new_for_stream:
 * @stream: a [class@Gio.SocketConnection], or any stream whose input and
 *   output streams are pollable
 *
 * Creates a channel over @stream on the thread-default main context. The
 * channel takes over the stream and closes it when the channel closes.
 *
 * A [class@Gio.SocketConnection] is read and written through its socket
 * directly. Other streams (TLS connections, pipes) go through
 * [iface@Gio.PollableInputStream] and [iface@Gio.PollableOutputStream]; if
 * they are not pollable the channel closes on the first main loop
 * iteration with %ACHAT_ERROR_NOT_POLLABLE.
 *
 * Returns: (transfer full): a new #AchatChannel
 */
AchatChannel *
achat_channel_new_for_stream (GIOStream *stream)
{
  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  return g_object_new (ACHAT_TYPE_CHANNEL, "stream", stream, NULL);
}

/* Both connects: the connection is returned, and the channel of the type
 * in the task data made in _finish(), by the caller's callback: it must not
 * start reading before the caller could set its terminator. */
static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GSocketConnection) connection = NULL;
  GError *error = NULL;

  connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result, &error);
  if (connection == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_steal_pointer (&connection), g_object_unref);
}

static void
channel_connect (GSocketConnectable  *connectable,
                 GSocketClient       *client,
                 GType                channel_type,
                 GCancellable        *cancellable,
                 GAsyncReadyCallback  callback,
                 gpointer             user_data,
                 gpointer             source_tag)
{
  g_autoptr(GSocketClient) default_client = NULL;
  GTask *task;

  /* The connectable is the source object. There must be one: the finish
   * functions are constructors, and PyGObject's awaitables pass the source
   * object in the place of a constructor's class. The client cannot be it:
   * GJS's Gio._promisify() would call its own connect_finish() instead. */
  task = g_task_new (connectable, cancellable, callback, user_data);
  if (client == NULL)
    client = default_client = g_socket_client_new ();
  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, GSIZE_TO_POINTER (channel_type), NULL);
  g_socket_client_connect_async (client, connectable, cancellable, connect_cb, task);
}

static AchatChannel *
channel_connect_finish (GAsyncResult  *result,
                        GError       **error)
{
  g_autoptr(GSocketConnection) connection = NULL;
  GType channel_type = GPOINTER_TO_SIZE (g_task_get_task_data (G_TASK (result)));

  connection = g_task_propagate_pointer (G_TASK (result), error);
  if (connection == NULL)
    return NULL;
  return g_object_new (channel_type, "stream", connection, NULL);
}

/**
 * achat_channel_connect_to_host_async:
 * @host_and_port: the host and optional port to connect to, as for
 *   [method@Gio.SocketClient.connect_to_host] (`"example.org:7000"`,
 *   `"[::1]:80"`)
 * @default_port: the port to use when @host_and_port has none
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the connection is made or failed,
 *   with a [iface@Gio.SocketConnectable] for @host_and_port as source
 *   object
 * @user_data: data for @callback
 *
 * Connects to a host with a [class@Gio.SocketClient] and makes a channel
 * over the connection, on the thread-default main context. Finish with
 * [ctor@Achat.Channel.connect_to_host_finish].
 *
 * The connection is made by a default [class@Gio.SocketClient] (which
 * honours the desktop's proxy settings). For a subclass, TLS, a timeout,
 * a Unix socket, SRV records or other client settings, use
 * achat_channel_connect_async().
 */
void
achat_channel_connect_to_host_async (const gchar         *host_and_port,
                                     guint16              default_port,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data)
{
  g_autoptr(GSocketConnectable) connectable = NULL;
  GError *error = NULL;

  g_return_if_fail (host_and_port != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  /* What g_socket_client_connect_to_host_async() does first. A string the
   * parser refuses still gets a source object (see channel_connect()): an
   * address that names it unparsed. */
  connectable = g_network_address_parse (host_and_port, default_port, &error);
  if (connectable == NULL)
    {
      g_autoptr(GSocketConnectable) unparsed = g_network_address_new (host_and_port, default_port);

      g_task_report_error (unparsed, callback, user_data,
                           achat_channel_connect_to_host_async, error);
      return;
    }
  channel_connect (connectable, NULL, ACHAT_TYPE_CHANNEL, cancellable, callback, user_data,
                   achat_channel_connect_to_host_async);
}

/**
 * achat_channel_connect_to_host_finish: (constructor)
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Finishes [func@Achat.Channel.connect_to_host_async]. The channel is made
 * here, on the thread-default main context, and reads nothing before the
 * caller returns to the main loop: set its terminator and connect its
 * signals right away.
 *
 * Returns: (transfer full): a channel over the new connection, or %NULL
 *   with @error set
 */
AchatChannel *
achat_channel_connect_to_host_finish (GAsyncResult  *result,
                                      GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, achat_channel_connect_to_host_async), NULL);

  return channel_connect_finish (result, error);
}

/**
 * achat_channel_connect_async:
 * @connectable: what to connect to: a [class@Gio.NetworkAddress] or
 *   [class@Gio.NetworkService] (SRV records), an
 *   [class@Gio.InetSocketAddress], a `GUnixSocketAddress`, any
 *   [iface@Gio.SocketConnectable]
 * @client: (nullable): the [class@Gio.SocketClient] that connects (its
 *   timeout, TLS, proxy and local address settings apply), or %NULL for a
 *   default one
 * @channel_type: the type of the channel to make: %ACHAT_TYPE_CHANNEL or
 *   a subclass of it, or %G_TYPE_INVALID for %ACHAT_TYPE_CHANNEL
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the connection is made or failed,
 *   with @connectable as source object
 * @user_data: data for @callback
 *
 * Connects as [method@Gio.SocketClient.connect_async] does and makes a
 * channel of @channel_type over the connection, on the thread-default main
 * context. Finish with [ctor@Achat.Channel.connect_finish].
 *
 * With a @client that has [property@Gio.SocketClient:tls] set, the channel
 * is made over the TLS connection.
 */
void
achat_channel_connect_async (GSocketConnectable  *connectable,
                             GSocketClient       *client,
                             GType                channel_type,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  if (channel_type == G_TYPE_INVALID)
    channel_type = ACHAT_TYPE_CHANNEL;
  g_return_if_fail (G_IS_SOCKET_CONNECTABLE (connectable));
  g_return_if_fail (client == NULL || G_IS_SOCKET_CLIENT (client));
  g_return_if_fail (g_type_is_a (channel_type, ACHAT_TYPE_CHANNEL));
  g_return_if_fail (!G_TYPE_IS_ABSTRACT (channel_type));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  channel_connect (connectable, client, channel_type, cancellable, callback, user_data,
                   achat_channel_connect_async);
}

/**
 * achat_channel_connect_finish: (constructor)
 * @result: the result passed to the callback
 * @error: return location for an error
 *
 * Finishes [func@Achat.Channel.connect_async]. The channel is made here, on the
 * thread-default main context, and reads nothing before the caller
 * returns to the main loop: set its terminator and connect its signals
 * right away.
 *
 * Returns: (transfer full): a channel of the type asked for over the new
 *   connection, or %NULL with @error set
 */
AchatChannel *
achat_channel_connect_finish (GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result, achat_channel_connect_async), NULL);

  return channel_connect_finish (result, error);
}

/**
 * achat_channel_get_socket:
 * @self: an #AchatChannel
 *
 * Gets the socket the channel reads and writes.
 *
 * Returns: (transfer none) (nullable): the socket, or %NULL for a channel
 *   over a stream that is not a socket connection
 */
GSocket *
achat_channel_get_socket (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  return GET_PRIV (self)->socket;
}

/**
 * achat_channel_get_stream:
 * @self: an #AchatChannel
 *
 * Gets the stream the channel was made for.
 *
 * Returns: (transfer none) (nullable): the stream, or %NULL for a channel
 *   made from a bare socket
 */
GIOStream *
achat_channel_get_stream (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  return GET_PRIV (self)->stream;
}

/**
 * achat_channel_get_context:
 * @self: an #AchatChannel
 *
 * Gets the main context the channel runs on.
 *
 * Returns: (transfer none) (nullable): the context, or %NULL if the channel
 *   was not constructed properly
 */
GMainContext *
achat_channel_get_context (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  return GET_PRIV (self)->context;
}

/**
 * achat_channel_get_remote_address:
 * @self: an #AchatChannel
 *
 * Gets the address of the peer, when the channel runs over a socket.
 *
 * Returns: (transfer full) (nullable): the peer's address, or %NULL
 */
GSocketAddress *
achat_channel_get_remote_address (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  priv = GET_PRIV (self);
  if (priv->socket == NULL || g_socket_is_closed (priv->socket))
    return NULL;
  return g_socket_get_remote_address (priv->socket, NULL);
}

/**
 * achat_channel_get_collected:
 * @self: an #AchatChannel
 *
 * Gets a copy of the message collected so far by the default
 * [signal@Achat.Channel::data-collected] handler: bytes received since the
 * last terminator. In a [signal@Achat.Channel::closed] handler this is the
 * frame the peer did not finish.
 *
 * Returns: (transfer full): the bytes collected since the last terminator
 */
GBytes *
achat_channel_get_collected (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  priv = GET_PRIV (self);
  return g_bytes_new (priv->collected, priv->collected_len);
}

/**
 * achat_channel_push:
 * @self: an #AchatChannel
 * @data: (array length=length) (element-type guint8) (nullable): the bytes
 *   to send
 * @length: the length of @data
 *
 * Queues a copy of @data for sending, after everything queued before.
 * Pushing nothing is allowed and sends nothing.
 *
 * Pushes made while the channel handles input are written together when
 * it is done; other pushes are written on the next main loop iteration.
 *
 * A channel that is closing (after achat_channel_close_when_done()) or
 * closed refuses the data with a warning and returns %FALSE; check
 * achat_channel_is_closing() first where that can happen.
 *
 * Returns: %TRUE if the data was queued
 */
gboolean
achat_channel_push (AchatChannel *self,
                    const guint8 *data,
                    gsize         length)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  if (G_UNLIKELY (!achat_channel_in_owner_thread (GET_PRIV (self))))
    return achat_channel_push_foreign (self, FOREIGN_PUSH, g_bytes_new (data, length), NULL);
  if (!achat_channel_check_open (self, G_STRFUNC, length))
    return FALSE;
  if (length == 0)
    return TRUE;

  priv = GET_PRIV (self);
  achat_output_queue_push_data (&priv->queue, data, length);
  achat_channel_output_changed (self);
  return TRUE;
}

/**
 * achat_channel_push_bytes:
 * @self: an #AchatChannel
 * @data: the bytes to send
 *
 * Queues @data for sending, like achat_channel_push(), without copying it
 * (small ones excepted).
 *
 * Returns: %TRUE if the data was queued
 */
gboolean
achat_channel_push_bytes (AchatChannel *self,
                          GBytes       *data)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);

  if (G_UNLIKELY (!achat_channel_in_owner_thread (GET_PRIV (self))))
    return achat_channel_push_foreign (self, FOREIGN_PUSH, g_bytes_ref (data), NULL);
  if (!achat_channel_check_open (self, G_STRFUNC, g_bytes_get_size (data)))
    return FALSE;

  priv = GET_PRIV (self);
  achat_output_queue_push_bytes (&priv->queue, data);
  achat_channel_output_changed (self);
  return TRUE;
}

/**
 * achat_channel_push_with_producer:
 * @self: an #AchatChannel
 * @producer: the producer of the data to send
 *
 * Queues @producer after everything queued before. When its turn comes
 * the channel calls [method@Achat.Producer.more] each time it can write
 * more, until the producer is exhausted, then moves on to the next item.
 *
 * Returns: %TRUE if the producer was queued
 */
gboolean
achat_channel_push_with_producer (AchatChannel  *self,
                                  AchatProducer *producer)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (ACHAT_IS_PRODUCER (producer), FALSE);

  if (G_UNLIKELY (!achat_channel_in_owner_thread (GET_PRIV (self))))
    return achat_channel_push_foreign (self, FOREIGN_PRODUCER, NULL, producer);
  if (!achat_channel_check_open (self, G_STRFUNC, 0))
    return FALSE;

  priv = GET_PRIV (self);
  achat_output_queue_push_producer (&priv->queue, producer);
  achat_channel_output_changed (self);
  return TRUE;
}

/**
 * achat_channel_push_text:
 * @self: an #AchatChannel
 * @text: UTF-8 text
 *
 * Queues the bytes of @text (without its terminating NUL), as
 * achat_channel_push() does: the text counterpart of
 * achat_message_dup_text(). Text that is not valid UTF-8 is a programming
 * error. To send a line, use [method@Achat.Channel.push_line], which
 * refuses a line that would smuggle in a second one.
 *
 * Returns: %TRUE if the text was queued
 */
gboolean
achat_channel_push_text (AchatChannel *self,
                         const gchar  *text)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (g_utf8_validate (text, -1, NULL), FALSE);

  return achat_channel_push (self, (const guint8 *) text, strlen (text));
}

/**
 * achat_channel_close_when_done:
 * @self: an #AchatChannel
 *
 * Closes the channel once everything queued so far has been written, with
 * [signal@Achat.Channel::closed] carrying no error. From now on pushes are
 * refused. Input that arrives meanwhile is still delivered.
 *
 * Calling it again, or on a closed channel, does nothing.
 */
void
achat_channel_close_when_done (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  priv = GET_PRIV (self);
  if (G_UNLIKELY (!achat_channel_in_owner_thread (priv)))
    {
      achat_channel_push_foreign (self, FOREIGN_CLOSE_WHEN_DONE, NULL, NULL);
      return;
    }
  if (priv->closed || priv->closing)
    return;
  priv->closing = TRUE;
  achat_channel_foreign_refuse (priv, NULL);
  achat_channel_schedule (priv);   /* in a dispatch: checked when it finishes */
}

/**
 * achat_channel_discard_buffers:
 * @self: an #AchatChannel
 *
 * Drops all buffered input (including the rest of the read being handled,
 * when called from a handler, and the message collected so far) and all
 * queued output, producers included. As in Python, "in emergencies".
 *
 * A pending achat_channel_close_when_done() is not forgotten: the channel
 * then closes at once, having nothing left to write.
 */
void
achat_channel_discard_buffers (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  if (!achat_channel_check_owner (self, G_STRFUNC))
    return;

  priv = GET_PRIV (self);
  priv->input_generation++;
  achat_framer_discard (&priv->framer);
  priv->eof_undelivered = FALSE;
  channel_stop_awaiting (self);   /* nothing waits any more */
  collected_reset (priv);
  g_clear_pointer (&priv->ready, g_bytes_unref);
  priv->ready_waits = FALSE;
  if (output_drop_unsent (priv) > 0)
    g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_UNSENT_BYTES]);
  if (priv->tls_state != TLS_NONE)
    achat_output_queue_push_barrier (&priv->queue);   /* a switch to TLS goes on */
  {
    g_autoptr(GError) discarded = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                       "The output was discarded");

    channel_fail_drains (self, discarded);
  }
  if (!priv->closed && !priv->in_input)
    achat_channel_update_interest (self);
  /* Nothing is half-written any more; a new push finds out afresh whether
   * the socket is full. */
  priv->write_blocked = FALSE;
  channel_queue_changed (self);

  /* A pending close (asked for, or at the end of input) happens now. */
  if (!priv->closed && (priv->closing || priv->eof))
    achat_channel_output_changed (self);
}

/**
 * achat_channel_close:
 * @self: an #AchatChannel
 *
 * Closes the channel now: queued output is dropped, no more input is
 * delivered (even from the read being handled, when called from a
 * handler; input received that no one took yet is dropped too, and reads
 * get the end), the socket is closed and [signal@Achat.Channel::closed] is
 * emitted with no error before this returns. To close after the queued
 * output is sent, use achat_channel_close_when_done().
 *
 * Closing a closed channel does nothing.
 */
void
achat_channel_close (AchatChannel *self)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  /* Input no one took yet is dropped with the rest: reads get the end. */
  if (!GET_PRIV (self)->closed)
    {
      AchatChannelPrivate *priv = GET_PRIV (self);

      achat_framer_discard (&priv->framer);
      g_clear_pointer (&priv->ready, g_bytes_unref);
      priv->ready_waits = FALSE;
    }
  achat_channel_close_internal (self, NULL);
}

/**
 * achat_channel_is_closing:
 * @self: an #AchatChannel
 *
 * Whether achat_channel_close_when_done() was called or the channel is
 * closed: pushes would be refused.
 *
 * Returns: %TRUE if the channel is closing or closed
 */
gboolean
achat_channel_is_closing (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), TRUE);

  priv = GET_PRIV (self);
  return priv->closing || priv->closed;
}

/**
 * achat_channel_is_closed:
 * @self: an #AchatChannel
 *
 * Whether the channel is closed.
 *
 * Returns: %TRUE once the channel has closed
 */
gboolean
achat_channel_is_closed (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), TRUE);

  return GET_PRIV (self)->closed;
}

/**
 * achat_channel_get_queued_bytes:
 * @self: an #AchatChannel
 *
 * Gets how many bytes are queued for sending and not yet written. Data
 * that producers have not produced yet is not counted.
 *
 * Returns: the number of bytes queued
 */
gsize
achat_channel_get_queued_bytes (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->queue.data_bytes;
}

/**
 * achat_channel_get_bytes_received:
 * @self: an #AchatChannel
 *
 * Gets how many bytes the channel has read.
 *
 * Returns: the number of bytes received
 */
guint64
achat_channel_get_bytes_received (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->bytes_received;
}

/**
 * achat_channel_set_max_input_size:
 * @self: an #AchatChannel
 * @max_size: the longest message the channel buffers, in bytes, or 0 for
 *   no limit
 *
 * Sets [property@Achat.Channel:max-input-size]: how long a message the
 * channel accepts before it closes with %ACHAT_ERROR_INPUT_LIMIT. May be
 * called from a handler, for example to allow a long body whose length a
 * header announced.
 */
void
achat_channel_set_max_input_size (AchatChannel *self,
                                  gsize         max_size)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  priv = GET_PRIV (self);
  if (priv->max_input == max_size)
    return;
  priv->max_input = max_size;
  achat_channel_apply_max_frame (priv);
  /* Messages framed ahead under the old limit are framed again under this
   * one (a handler of message_found lowering it applies to the next
   * message, as from a terminator-found handler). */
  priv->framing_serial++;
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_MAX_INPUT_SIZE]);
}

/**
 * achat_channel_get_max_input_size:
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:max-input-size].
 *
 * Returns: the longest message the channel buffers, in bytes; 0 if
 *   unlimited
 */
gsize
achat_channel_get_max_input_size (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->max_input;
}

/**
 * achat_channel_set_output_watermarks:
 * @self: an #AchatChannel
 * @low: [property@Achat.Channel:output-low-watermark], in bytes
 * @high: [property@Achat.Channel:output-high-watermark], in bytes; 0
 *   disables both
 *
 * Sets both output watermarks at once (@low must not exceed @high, unless
 * @high is 0). Takes effect at the next change of the queued output.
 */
void
achat_channel_set_output_watermarks (AchatChannel *self,
                                     gsize         low,
                                     gsize         high)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (high == 0 || low <= high);

  priv = GET_PRIV (self);
  g_object_freeze_notify (G_OBJECT (self));
  if (priv->low_watermark != low)
    {
      priv->low_watermark = low;
      g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_OUTPUT_LOW_WATERMARK]);
    }
  if (priv->high_watermark != high)
    {
      priv->high_watermark = high;
      g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_OUTPUT_HIGH_WATERMARK]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

/**
 * achat_channel_get_output_high_watermark:
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:output-high-watermark].
 *
 * Returns: the high watermark in bytes; 0 if disabled
 */
gsize
achat_channel_get_output_high_watermark (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->high_watermark;
}

/**
 * achat_channel_get_output_low_watermark:
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:output-low-watermark].
 *
 * Returns: the low watermark in bytes
 */
gsize
achat_channel_get_output_low_watermark (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->low_watermark;
}

/**
 * achat_channel_is_output_full:
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:output-full]: whether queued output has
 * reached the high watermark and not yet fallen to the low one.
 *
 * Returns: %TRUE when the application should stop pushing
 */
gboolean
achat_channel_is_output_full (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);

  return GET_PRIV (self)->output_full;
}

/**
 * achat_channel_pause_input:
 * @self: an #AchatChannel
 *
 * Stops delivering input until achat_channel_resume_input(): for an
 * application that cannot keep up (a full model, a slow consumer
 * downstream). Called from a handler, it takes effect at once: the rest of
 * the read being delivered is kept (at most one read, 256 KiB) and
 * delivered first on resume. While paused the socket is not read, so the
 * peer is held back by the kernel; the end of input and the peer's
 * hang-up are noticed on resume too. Output is not affected.
 */
void
achat_channel_pause_input (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  priv = GET_PRIV (self);
  if (priv->input_paused)
    return;
  priv->input_paused = TRUE;
  if (!priv->closed && !priv->in_input)
    achat_channel_update_interest (self);
  channel_track_message (self);
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_INPUT_PAUSED]);
}

/**
 * achat_channel_resume_input:
 * @self: an #AchatChannel
 *
 * Resumes input after achat_channel_pause_input(): what was held back is
 * delivered on the next main loop iteration, then the socket is read
 * again. Resuming a channel that is not paused does nothing.
 */
void
achat_channel_resume_input (AchatChannel *self)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));

  priv = GET_PRIV (self);
  if (!priv->input_paused)
    return;
  priv->input_paused = FALSE;
  achat_watch_touch (priv->watch);   /* the idle clock starts again */
  if (!priv->closed)
    {
      if (achat_framer_get_held (&priv->framer) > 0 || priv->eof_undelivered)
        input_resume_later (priv);
      else if (!priv->in_input)
        achat_channel_update_interest (self);
    }
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_INPUT_PAUSED]);
}

/**
 * achat_channel_is_input_paused:
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:input-paused].
 *
 * Returns: %TRUE while input is paused
 */
gboolean
achat_channel_is_input_paused (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);

  return GET_PRIV (self)->input_paused;
}

/**
 * achat_channel_set_idle_timeout:
 * @self: an #AchatChannel
 * @seconds: seconds without traffic before the channel closes, or 0 for
 *   never
 *
 * Sets [property@Achat.Channel:idle-timeout]. The count starts again now.
 */
void
achat_channel_set_idle_timeout (AchatChannel *self,
                                guint         seconds)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (seconds <= G_MAXUINT / G_USEC_PER_SEC);

  priv = GET_PRIV (self);
  if (priv->closed)
    return;
  priv->idle_timeout = seconds;
  achat_channel_apply_idle_timeout (self);
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_IDLE_TIMEOUT]);
}

/**
 * achat_channel_get_idle_timeout:
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:idle-timeout].
 *
 * Returns: the idle timeout in seconds; 0 if there is none
 */
guint
achat_channel_get_idle_timeout (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->idle_timeout;
}

/**
 * achat_channel_set_message_timeout: (set-property message-timeout)
 * @self: an #AchatChannel
 * @seconds: the time allowed for one message, in seconds; 0 for no limit
 *
 * Sets [property@Achat.Channel:message-timeout]. A message already
 * incomplete gets the whole time from now.
 */
void
achat_channel_set_message_timeout (AchatChannel *self,
                                   guint         seconds)
{
  AchatChannelPrivate *priv;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (seconds <= G_MAXUINT / G_USEC_PER_SEC);

  priv = GET_PRIV (self);
  if (priv->closed || priv->message_timeout == seconds)
    return;
  priv->message_timeout = seconds;
  priv->message_started = 0;
  if (priv->message_timer == NULL && seconds > 0)
    {
      priv->message_timer = g_source_new (&message_timer_funcs, sizeof (GSource));
      g_source_set_callback (priv->message_timer, channel_message_timer_cb, self, NULL);
      g_source_set_static_name (priv->message_timer, "[achat] message-timeout");
      g_source_attach (priv->message_timer, priv->context);
    }
  if (priv->message_timer != NULL)
    g_source_set_ready_time (priv->message_timer, -1);
  channel_track_message (self);
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_MESSAGE_TIMEOUT]);
}

/**
 * achat_channel_get_message_timeout: (get-property message-timeout)
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:message-timeout].
 *
 * Returns: the time allowed for one message in seconds; 0 if there is no
 *   limit
 */
guint
achat_channel_get_message_timeout (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->message_timeout;
}

/**
 * achat_channel_get_bytes_sent:
 * @self: an #AchatChannel
 *
 * Gets how many bytes the channel has written.
 *
 * Returns: the number of bytes sent
 */
guint64
achat_channel_get_bytes_sent (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->bytes_sent;
}

/* The reads: with the framing in force now, the next message. */
static void
channel_read (AchatChannel        *self,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data,
              gpointer             source_tag)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GTask) task = NULL;

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  /* A message given to the read is returned even if the cancellable was
   * cancelled meanwhile: never dropped by g_task_propagate_pointer(). */
  g_task_set_check_cancellable (task, FALSE);
  priv->pull = TRUE;

  if (priv->read_task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "A read is already pending on this channel");
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (priv->ready != NULL)
    {
      /* The message that came as the previous read was cancelled. What
       * came after it waits for the next read. */
      priv->ready_waits = FALSE;
      channel_return_message (self, task, g_steal_pointer (&priv->ready));
      /* What came after it goes to the handlers, if any (once the
       * callback ran), or waits for the next read. */
      if (!priv->read_returning)
        channel_consumer_arrived (self, FALSE);
      return;
    }
  if (priv->closed)
    {
      channel_return_end (self, g_steal_pointer (&task));
      return;
    }

  achat_channel_watch_cancel (self, task, channel_read_cancelled);
  priv->read_task = g_steal_pointer (&task);
  achat_watch_touch (priv->watch);   /* input flows again: the idle clock restarts */
  /* What already came is framed now, with the terminator in force now. */
  channel_consumer_arrived (self, TRUE);
}

/* Whether channel_read() would refuse a read (one is pending, or
 * @cancellable is cancelled): then a read call that sets its framing leaves
 * the framing alone. (On a closed channel it still frames what came before
 * the end.) */
static gboolean
channel_read_refused (AchatChannel *self,
                      GCancellable *cancellable)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  return priv->read_task != NULL ||
         (cancellable != NULL && g_cancellable_is_cancelled (cancellable));
}

static GBytes *
channel_read_finish (AchatChannel  *self,
                     GAsyncResult  *result,
                     gpointer       source_tag,
                     GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * achat_channel_read_message_async:
 * @self: an #AchatChannel
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the next message
 * @user_data: data for @callback
 *
 * Reads the next message: the bytes up to the next terminator, as
 * [signal@Achat.Channel::terminator-found] would carry them. The pull
 * style, for code written as a straight line of awaits (GJS's
 * `Gio._promisify()`, an asyncio future completed by the callback in
 * Python):
 *
 * <!-- snippet: examples/snippets/api-snippets.c#read-message -->
 * ```c
 * static void
 * on_message (GObject *source, GAsyncResult *result, gpointer user_data)
 * {
 *   g_autoptr(GError) error = NULL;
 *   g_autoptr(GBytes) message =
 *     achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, &error);
 *
 *   if (message != NULL)
 *     achat_channel_read_message_async (ACHAT_CHANNEL (source), NULL, on_message, user_data);
 *   else if (error != NULL)
 *     g_warning ("%s", error->message);   // reset, limit, a message cut short...
 *   // else the peer closed cleanly
 * }
 * ```
 *
 * The message is framed when the read asks for it: the terminator (or
 * count, terminators, length prefix) in force when this is called frames
 * the message it returns, however the peer's bytes were split into reads
 * and whenever the previous read's callback ran. So a client sets the
 * framing, then reads, then sets the next framing (a count read from a
 * header, say), then reads again:
 *
 * <!-- snippet: examples/snippets/api-snippets.c#read-framed -->
 * ```c
 * static void
 * on_body (GObject *source, GAsyncResult *result, gpointer user_data)
 * {
 *   g_autoptr(GError) error = NULL;
 *   GBytes *body = achat_channel_read_bytes_finish (ACHAT_CHANNEL (source), result, &error);
 *
 *   if (body != NULL)
 *     bulk_body = g_bytes_new_from_bytes (body, 0, g_bytes_get_size (body) - 2);   // "hello"
 *   g_clear_pointer (&body, g_bytes_unref);
 * }
 *
 * static void
 * on_header (GObject *source, GAsyncResult *result, gpointer user_data)
 * {
 *   AchatChannel *channel = ACHAT_CHANNEL (source);
 *   g_autoptr(GBytes) header = achat_channel_read_line_finish (channel, result, NULL);
 *   g_autofree gchar *text = NULL;
 *
 *   if (header == NULL || g_bytes_get_size (header) < 2)
 *     return;
 *   text = g_strndup (g_bytes_get_data (header, NULL), g_bytes_get_size (header));   // "$5"
 *   // The body and its "\r\n", framed when this read asks, whenever the
 *   // bytes came: the header and the body may have come in one read.
 *   achat_channel_read_bytes_async (channel, g_ascii_strtoull (text + 1, NULL, 10) + 2,
 *                                   NULL, on_body, user_data);
 * }
 * ```
 *
 * Bytes received but not framed yet wait in the channel, which stops
 * reading the socket meanwhile (the peer is held back): so memory stays
 * bounded by what one read brought.
 *
 * Once this was called the channel is in *pull mode*, and every message
 * goes to exactly one place:
 *
 * - while a read is pending, the next message completes it (signal
 *   handlers of `terminator-found` do not see it);
 * - while none is pending, handlers of `terminator-found` (or an
 *   overridden class handler) get it, as usual;
 * - while none is pending and no one handles the signal, input waits,
 *   unframed, for the next read.
 *
 * Nothing is lost before the first call either: a channel with no one to
 * hand a message to (no pending read, no handler of `terminator-found` or
 * `data-collected`, no overridden class handler) keeps what it received,
 * unframed, and reads no further until someone comes. So a client of a
 * server that speaks first (an SMTP or IMAP greeting) may connect, return
 * to the main loop, set its terminator and read: the greeting waits.
 *
 * [signal@Achat.Channel::data-collected] is emitted as always; a subclass
 * that overrides it without chaining up gets empty messages.
 *
 * One read may be pending at a time: a second fails with
 * %G_IO_ERROR_PENDING (and the read calls that set a framing leave it
 * alone then). Cancelling @cancellable fails the read with
 * %G_IO_ERROR_CANCELLED; a message that arrives afterwards waits for the
 * next read, it is not lost. When the read was cancelled in the middle of
 * its message (or a handler that was collecting one is gone), the bytes
 * seen so far go back in front of the rest if the framing is changed
 * before the next read, which frames them anew from the first; with the
 * same framing, the next read completes that message.
 *
 * When GTask runs the callback on a later main loop iteration (the read
 * was started in this one), the input after its message waits until it
 * ran: a handler never gets a later message before the read's callback
 * got its own.
 *
 * Returns, through achat_channel_read_message_finish(), %NULL once the
 * channel closed cleanly after its last message, or the error it closed
 * with; a connection that ended in the middle of a message (bytes received
 * but no terminator) fails with %G_IO_ERROR_PARTIAL_INPUT, the bytes still
 * in [method@Achat.Channel.get_collected]; in the middle of a length-prefixed
 * or text-length frame, with the error the channel closed with,
 * %ACHAT_ERROR_TRUNCATED_FRAME. Messages that arrived before
 * the end are all read first: after a clean end the channel stays open
 * until they are (also when a write failed meanwhile: then it closes with
 * that error); after a reset it closes at once, and reads still get them
 * (within [property@Achat.Channel:max-input-size]), then the error. After
 * [method@Achat.Channel.close], or when input stopped on an error, reads
 * get the end or that error: input no one took is dropped.
 */
void
achat_channel_read_message_async (AchatChannel        *self,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  channel_read (self, cancellable, callback, user_data, achat_channel_read_message_async);
}

/**
 * achat_channel_read_message_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_read_message_async().
 *
 * Returns: (transfer full) (nullable): the message (possibly empty); %NULL
 *   with no error at the clean end of the stream; %NULL with @error set
 *   otherwise
 */
GBytes *
achat_channel_read_message_finish (AchatChannel  *self,
                                   GAsyncResult  *result,
                                   GError       **error)
{
  return channel_read_finish (self, result, achat_channel_read_message_async, error);
}

/**
 * achat_channel_read_until_async:
 * @self: an #AchatChannel
 * @terminator: (array length=length) (element-type guint8): the bytes that
 *   end the message
 * @length: the length of @terminator, at least 1
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the message
 * @user_data: data for @callback
 *
 * Reads the bytes up to the next @terminator (not included), like
 * g_data_input_stream_read_upto_async() with a byte string: sets the
 * channel's terminator to @terminator
 * ([method@Achat.Channel.set_terminator]) and reads the next message
 * ([method@Achat.Channel.read_message_async], whose rules apply). The
 * terminator stays in force afterwards, for the next reads and handlers.
 */
void
achat_channel_read_until_async (AchatChannel        *self,
                                const guint8        *terminator,
                                gsize                length,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (terminator != NULL && length > 0);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  GET_PRIV (self)->pull = TRUE;   /* before the framing changes */
  if (!channel_read_refused (self, cancellable))
    achat_channel_set_terminator (self, terminator, length);
  channel_read (self, cancellable, callback, user_data, achat_channel_read_until_async);
}

/**
 * achat_channel_read_until_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_read_until_async().
 *
 * Returns: (transfer full) (nullable): the message (possibly empty); %NULL
 *   with no error at the clean end of the stream; %NULL with @error set
 *   otherwise
 */
GBytes *
achat_channel_read_until_finish (AchatChannel  *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  return channel_read_finish (self, result, achat_channel_read_until_async, error);
}

/**
 * achat_channel_read_bytes_async:
 * @self: an #AchatChannel
 * @count: how many bytes to read, at least 1
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the bytes
 * @user_data: data for @callback
 *
 * Reads exactly the next @count bytes, like
 * g_input_stream_read_bytes_async() but never fewer: sets a count
 * terminator ([method@Achat.Channel.set_terminator_count]) and reads the
 * next message ([method@Achat.Channel.read_message_async], whose rules
 * apply). A body of a length given in a header (HTTP's Content-Length, a
 * Redis bulk string) is read this way. Once the count is spent, the
 * channel has no terminator until a new one is set.
 *
 * The bytes count against [property@Achat.Channel:max-input-size]: a
 * count over it fails the read with %ACHAT_ERROR_INPUT_LIMIT once that many
 * bytes arrived.
 */
void
achat_channel_read_bytes_async (AchatChannel        *self,
                                guint64              count,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (count > 0);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  GET_PRIV (self)->pull = TRUE;   /* before the framing changes */
  if (!channel_read_refused (self, cancellable))
    achat_channel_set_terminator_count (self, count);
  channel_read (self, cancellable, callback, user_data, achat_channel_read_bytes_async);
}

/**
 * achat_channel_read_bytes_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_read_bytes_async().
 *
 * Returns: (transfer full) (nullable): the @count bytes; %NULL with no error
 *   at the clean end of the stream; %NULL with @error set otherwise (the
 *   stream ended before @count bytes: %G_IO_ERROR_PARTIAL_INPUT)
 */
GBytes *
achat_channel_read_bytes_finish (AchatChannel  *self,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  return channel_read_finish (self, result, achat_channel_read_bytes_async, error);
}

/**
 * achat_channel_read_line_async:
 * @self: an #AchatChannel
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called with the line
 * @user_data: data for @callback
 *
 * Reads a line ended by `"\r\n"` or a bare `"\n"` (not included), like
 * g_data_input_stream_read_line_async() with
 * %G_DATA_STREAM_NEWLINE_TYPE_ANY but without a lone `"\r"`: sets both as
 * the channel's terminators ([method@Achat.Channel.set_terminators], so
 * [method@Achat.Channel.push_line] then ends lines with `"\r\n"`) and
 * reads the next message ([method@Achat.Channel.read_message_async], whose
 * rules apply).
 */
void
achat_channel_read_line_async (AchatChannel        *self,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  static const gchar *const line_endings[] = { "\r\n", "\n", NULL };

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  GET_PRIV (self)->pull = TRUE;   /* before the framing changes */
  if (!channel_read_refused (self, cancellable))
    achat_channel_set_terminators (self, line_endings);
  channel_read (self, cancellable, callback, user_data, achat_channel_read_line_async);
}

/**
 * achat_channel_read_line_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_read_line_async().
 *
 * Returns: (transfer full) (nullable): the line (possibly empty); %NULL
 *   with no error at the clean end of the stream; %NULL with @error set
 *   otherwise
 */
GBytes *
achat_channel_read_line_finish (AchatChannel  *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  return channel_read_finish (self, result, achat_channel_read_line_async, error);
}

/**
 * achat_channel_drain_async:
 * @self: an #AchatChannel
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the output is written
 * @user_data: data for @callback
 *
 * Waits until everything queued so far (data, and producers until they
 * are exhausted) has been written to the socket: the awaitable form of
 * flow control. A producer of unbounded data awaits it every few
 * megabytes; a client awaits it before reporting a request as sent.
 * What is pushed after the call is not waited for.
 *
 * Fails with the error the channel closed with (or %G_IO_ERROR_CLOSED)
 * when it closed first, and with %G_IO_ERROR_CANCELLED when @cancellable
 * was cancelled or the output discarded
 * ([method@Achat.Channel.discard_buffers]).
 */
void
achat_channel_drain_async (AchatChannel        *self,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  AchatChannelPrivate *priv;
  g_autoptr(GTask) task = NULL;
  Drain *drain;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  priv = GET_PRIV (self);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, achat_channel_drain_async);

  if (priv->closed)
    {
      if (priv->end_error != NULL)
        g_task_return_error (task, g_error_copy (priv->end_error));
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED, "The channel is closed");
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (achat_output_queue_is_empty (&priv->queue))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  achat_channel_watch_cancel (self, task, channel_drain_cancelled);
  drain = g_new0 (Drain, 1);
  drain->seq = ++priv->drain_seq ? priv->drain_seq : ++priv->drain_seq;
  drain->task = g_steal_pointer (&task);
  g_queue_push_tail (&priv->drains, drain);
  achat_output_queue_push_mark (&priv->queue, GUINT_TO_POINTER (drain->seq));
}

/**
 * achat_channel_drain_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_drain_async().
 *
 * Returns: %TRUE once the output queued before the call was written
 */
gboolean
achat_channel_drain_finish (AchatChannel  *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        achat_channel_drain_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * achat_channel_get_unsent_bytes: (get-property unsent-bytes)
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:unsent-bytes].
 *
 * Returns: the number of bytes pushed that were never written
 */
guint64
achat_channel_get_unsent_bytes (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), 0);

  return GET_PRIV (self)->unsent_bytes;
}
