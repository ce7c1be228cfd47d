/* achat-poller-private.h: one event source per main context
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GLib's main loop polls every source's file descriptors on every iteration,
 * so one GSource per socket makes each wakeup cost grow with the number of
 * connections.  The poller is a single GSource per GMainContext that owns an
 * epoll descriptor: GLib polls that one descriptor, and the poller dispatches
 * only the sockets that are ready.  Streams without a plain descriptor (TLS,
 * or any other pollable GIOStream) get their own pollable sources, attached
 * to the same context.
 *
 * The poller also owns what channels share per context: the read buffer
 * (an idle channel holds no input buffer at all), the buffer that short
 * messages are copied into (handed back after each emission unless a handler
 * kept the message), the list of watches that
 * asked to run on the next iteration (flushing output pushed outside a
 * dispatch), and the watches whose readiness must be recomputed before every
 * poll (channels overriding readable() or writable()).
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _AchatPoller AchatPoller;
typedef struct _AchatWatch AchatWatch;

/* @condition is G_IO_IN/G_IO_OUT/G_IO_HUP/G_IO_ERR for readiness, or 0 when
 * the watch was scheduled with achat_watch_schedule(). */
typedef void     (*AchatWatchFunc)    (gpointer      user_data,
                                       GIOCondition  condition);
typedef void     (*AchatWatchPrepare) (gpointer      user_data);
typedef void     (*AchatWatchIdle)    (gpointer      user_data);

/* Size of the context's read buffer: the most one read takes. */
#define ACHAT_READ_BUFFER_SIZE (256 * 1024)

typedef struct
{
  guint8 *data;
  gsize size;
  GBytes *bytes;     /* non-NULL once a slice was handed out */
  gint state;
} AchatReadBuffer;

/* The poller of @context, made if needed. Never fails: when the epoll
 * descriptor cannot be made (no descriptor left), @error says so, and the
 * watches made on it never fire (their channel fails with @error). The
 * default context's poller is kept once made. */
AchatPoller     *achat_poller_acquire             (GMainContext          *context,
                                                   GError               **error);
void             achat_poller_release             (AchatPoller           *poller);
gpointer        *achat_poller_get_chunk_cache     (AchatPoller           *poller);
GThread         *achat_poller_get_thread          (AchatPoller           *poller);

AchatWatch      *achat_poller_watch_fd            (AchatPoller           *poller,
                                                   int                    fd,
                                                   AchatWatchFunc         func,
                                                   gpointer               user_data);
AchatWatch      *achat_poller_watch_streams       (AchatPoller           *poller,
                                                   GPollableInputStream  *input,
                                                   GPollableOutputStream *output,
                                                   AchatWatchFunc         func,
                                                   gpointer               user_data);
/* FALSE when the system refused the new interest (the watch then keeps
 * the error for achat_watch_take_error()). */
gboolean         achat_watch_set_interest         (AchatWatch            *watch,
                                                   GIOCondition           interest);
/* Why the system refused to watch the descriptor (at creation or at an
 * interest change), or NULL; the caller owns it. */
GError          *achat_watch_take_error           (AchatWatch            *watch);
void             achat_watch_schedule             (AchatWatch            *watch);
void             achat_watch_set_prepare          (AchatWatch            *watch,
                                                   AchatWatchPrepare      prepare);
void             achat_watch_destroy              (AchatWatch            *watch);

/* Calls @func (once) when achat_watch_touch() was not called for @timeout
 * µs (0: no timeout), to about a tenth of a second. One check per context
 * covers every watch, so idle timeouts cost nothing per main loop
 * iteration however many channels have one. */
void             achat_watch_set_idle_timeout     (AchatWatch            *watch,
                                                   gint64                 timeout,
                                                   AchatWatchIdle         func);
/* Bytes moved in either direction: the idle deadline starts again. */
void             achat_watch_touch                (AchatWatch            *watch);

AchatReadBuffer *achat_poller_take_read_buffer    (AchatPoller           *poller);
void             achat_poller_return_read_buffer  (AchatPoller           *poller,
                                                   AchatReadBuffer       *buffer);
GBytes          *achat_read_buffer_slice          (AchatReadBuffer       *buffer,
                                                   const guint8          *data,
                                                   gsize                  length);

/* A message copied into the context's reusable message buffer. */
typedef struct
{
  GBytes *bytes;
  guint8 *lent;      /* the message buffer @bytes owns, or NULL */
  gsize lent_size;
} AchatMessage;

void             achat_poller_copy_message        (AchatPoller           *poller,
                                                   const guint8          *data,
                                                   gsize                  length,
                                                   AchatMessage          *message);
void             achat_poller_release_message     (AchatPoller           *poller,
                                                   AchatMessage          *message);

G_END_DECLS
