/* achat-channel-private.h: AchatChannel's internals, shared by the files
 * that implement it
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The private structure of a channel, its property and signal numbers,
 * and what one part of AchatChannel calls in another. Not installed.
 */

#pragma once

#include <pthread.h>

#include <gio/gio.h>

#include "achat-channel.h"
#include "achat-framer-private.h"
#include "achat-output-queue-private.h"
#include "achat-poller-private.h"

G_BEGIN_DECLS

typedef struct
{
  GSocket *socket;
  GIOStream *stream;
  GPollableInputStream *input;     /* stream transport */
  GPollableOutputStream *output;
  int fd;                          /* socket transport, else -1 */

  GMainContext *context;
  AchatPoller *poller;
  AchatWatch *watch;
  GError *pending_error;           /* reported on the first iteration */
  GError *input_error;             /* input stopped on it; closes once output is written */
  GError *close_error;             /* a write failed while input was paused: closes
                                    * with it once the input is delivered */

  AchatFramer framer;
  guint matched_index;             /* of the terminator that ended the last message */
  gboolean matched_kept;           /* it, kept when the terminator changed since: */
  guint8 matched_buf[16];          /*   short ones here (no allocation per frame), */
  gsize matched_len;
  GBytes *matched_copy;            /*   longer ones here */
  guint frame_header_size;         /* the last length-prefix setting (for push_frame()): */
  guint8 frame_radix;              /*   a text length when not 0 (header size 0), */
  guint8 frame_sep_len;            /*   with this separator */
  guint8 frame_trailer_len;        /*   and trailer */
  gchar frame_text[ACHAT_FRAMER_MAX_SEPARATOR + ACHAT_FRAMER_MAX_TRAILER];
  gint frame_adjustment;
  guint64 max_frame;               /* 0: none */
  gboolean frame_big_endian;
  guint8 *collected;               /* the message being collected */
  gsize collected_len;
  gsize collected_cap;
  gsize max_input;                 /* 0: unlimited */
  guint idle_timeout;              /* seconds; 0: none */
  guint message_timeout;           /* seconds; 0: none */
  gint64 message_started;          /* monotonic µs of a partial message's first read; 0: none */
  GSource *message_timer;          /* made when message-timeout is first set */
  guint input_generation;          /* bumped by discard_buffers() */
  guint framing_serial;            /* bumped whenever the framing is set */
  guint batch_limit;               /* messages framed ahead for messages_found */
  guint collect_generation;        /* input_generation at a data-collected emission */

  AchatOutputQueue queue;
  gsize high_watermark;
  gsize low_watermark;
  guint64 notified_queued;         /* queued-bytes as last notified */

  guint64 bytes_received;
  guint64 bytes_sent;

  GTask *read_task;                /* read_message_async() waiting for a message */
  GBytes *ready;                   /* a message that came with no read waiting (pull mode) */
  GError *end_error;               /* how input ended, for the reads after it */
  GError *closed_error;            /* what closed was emitted with (NULL: none) */
  GQueue drains;                   /* of Drain: drain_async() calls waiting, in order */
  guint drain_seq;
  guint64 unsent_bytes;            /* pushed, never written */

  pthread_t owner;                 /* the thread that runs the context */
  gboolean owner_known;
  GMutex foreign_lock;             /* pushes from other threads: */
  GQueue foreign_ops;              /*   of ForeignOp, applied in the owner thread */
  gboolean foreign_scheduled;
  gboolean foreign_refused;        /*   closing or closed */

  GTlsConnection *tls;             /* the stream is TLS (from the start, or after STARTTLS) */
  GTask *tls_task;                 /* start_tls_*_async() under way */
  GCancellable *tls_cancellable;   /* the handshake's: cancelled when the channel closes */
  gulong tls_cancel_id;            /* on the task's cancellable */

  guint attached : 1;              /* holds a reference on itself */
  guint connecting : 1;
  guint closing : 1;               /* close_when_done() */
  guint closed : 1;
  guint queued_deferred : 1;       /* queued-bytes changed in a dispatch, not notified yet */
  guint eof : 1;
  guint write_blocked : 1;
  guint in_input : 1;
  guint input_reentered : 1;
  guint in_flush : 1;
  guint want_input : 1;            /* input interest, as last computed */
  guint input_paused : 1;          /* pause_input() */
  guint resume_pending : 1;        /* held input to deliver after resume_input() */
  guint eof_undelivered : 1;       /* the end of input came while paused */
  guint output_full : 1;           /* past the high watermark, not yet below the low one */
  guint dc_observed : 1;           /* see channel_observe() */
  guint tf_observed : 1;
  guint dc_direct : 1;
  guint tf_direct : 1;
  guint no_handlers : 1;           /* none at all, on any signal */
  guint mf_class : 1;              /* the class overrides messages_found or message_found */
  guint mf_batch : 1;              /*   and may be given several at once */
  guint tls_state : 2;             /* TlsState */
  guint pull : 1;                  /* read_message_async() was called: messages wait for reads */
  guint awaiting_consumer : 1;     /* input waits, unframed, for a read or a handler */
  guint ready_waits : 1;           /* @ready is set (a flag beside the others, so
                                    * the per-message check tests one word) */
  guint read_returning : 1;        /* a read was given its message, and GTask has not
                                    * run its callback yet: input waits for it */
} AchatChannelPrivate;

typedef struct
{
  guint seq;                       /* the mark in the output queue */
  GTask *task;
} Drain;

typedef enum
{
  FOREIGN_PUSH,
  FOREIGN_PRODUCER,
  FOREIGN_CLOSE_WHEN_DONE,
} ForeignKind;

typedef struct
{
  ForeignKind kind;
  GBytes *bytes;
  AchatProducer *producer;
} ForeignOp;

/* A switch to TLS: input stops at the point where it was asked for; the
 * output queued before it is written in plaintext (a barrier in the queue
 * holds back what is pushed after), then the handshake runs with no input
 * or output of ours, then both resume through the TLS connection. */
typedef enum
{
  TLS_NONE,
  TLS_DRAINING,       /* writing the plaintext queued before the switch */
  TLS_HANDSHAKING,
} TlsState;

typedef struct
{
  gboolean server;
  GSocketConnectable *identity;    /* client */
  GTlsCertificate *certificate;    /* server */
} TlsStart;

enum {
  PROP_0,
  PROP_SOCKET,
  PROP_STREAM,
  PROP_CONTEXT,
  PROP_OPEN,
  PROP_BYTES_RECEIVED,
  PROP_BYTES_SENT,
  PROP_MAX_INPUT_SIZE,
  PROP_IDLE_TIMEOUT,
  PROP_MESSAGE_TIMEOUT,
  PROP_INPUT_PAUSED,
  PROP_QUEUED_BYTES,
  PROP_OUTPUT_HIGH_WATERMARK,
  PROP_OUTPUT_LOW_WATERMARK,
  PROP_OUTPUT_FULL,
  PROP_TLS_CONNECTION,
  PROP_UNSENT_BYTES,
  N_PROPS
};

enum {
  DATA_COLLECTED,
  TERMINATOR_FOUND,
  CLOSED,
  OUTPUT_DRAINED,
  TLS_HANDSHAKING_SIGNAL,
  N_SIGNALS
};

/* Where the private structure sits in an instance, as
 * G_DEFINE_TYPE_WITH_PRIVATE's own accessor finds it, but from every file
 * that implements the type (set once, in class_init): an inline load and
 * an add, not a call per message. */
extern gint achat_channel_private_offset;

static inline AchatChannelPrivate *
achat_channel_get_priv (AchatChannel *self)
{
  return (AchatChannelPrivate *) G_STRUCT_MEMBER_P (self, achat_channel_private_offset);
}

#define GET_PRIV(self) achat_channel_get_priv (self)

extern GParamSpec *achat_channel_properties[N_PROPS];
extern guint achat_channel_signals[N_SIGNALS];

/* Inside a dispatch of this channel (a read or a flush, which may run a
 * nested main loop): what changes now is looked at when it returns. */
static inline gboolean
achat_channel_in_dispatch (AchatChannelPrivate *priv)
{
  return priv->in_input || priv->in_flush;
}

/* Asks for a dispatch of this channel on the next iteration, unless one is
 * under way (it looks when it returns) or the channel has no watch. */
static inline void
achat_channel_schedule (AchatChannelPrivate *priv)
{
  if (!achat_channel_in_dispatch (priv) && priv->watch != NULL)
    achat_watch_schedule (priv->watch);
}

/* On every push: pthread_self() reads the thread pointer, where
 * g_thread_self() costs a thread-specific data lookup. */
static inline gboolean
achat_channel_in_owner_thread (AchatChannelPrivate *priv)
{
  return !priv->owner_known || pthread_equal (pthread_self (), priv->owner);
}

/* Other threads and cancellation (achat-channel-thread.c) */
gboolean achat_channel_push_foreign            (AchatChannel      *self,
                                                ForeignKind        kind,
                                                GBytes            *bytes,
                                                AchatProducer     *producer);
void     achat_channel_foreign_refuse          (AchatChannelPrivate *priv,
                                                GQueue            *pending);
void     achat_channel_foreign_op_free         (ForeignOp         *op);
void     achat_channel_watch_cancel            (AchatChannel      *self,
                                                GTask             *task,
                                                void             (*func) (AchatChannel *self,
                                                                          GTask        *task));
void     achat_channel_task_drop_cancel        (GTask             *task);

/* Life cycle (achat-channel.c) */
void     achat_channel_close_internal          (AchatChannel      *self,
                                                GError            *error);
void     achat_channel_transport_close         (AchatChannel      *self);

/* Input (achat-channel.c) */
void     achat_channel_reframe_partial         (AchatChannel      *self);
void     achat_channel_apply_max_frame         (AchatChannelPrivate *priv);

/* Output (achat-channel.c) */
gboolean achat_channel_check_owner             (AchatChannel      *self,
                                                const gchar       *function);
gboolean achat_channel_check_open              (AchatChannel      *self,
                                                const gchar       *what,
                                                gsize              length);
void     achat_channel_output_changed          (AchatChannel      *self);

/* The dispatch engine (achat-channel.c) */
void     achat_channel_watch_cb                (gpointer           user_data,
                                                GIOCondition       condition);
void     achat_channel_prepare_cb              (gpointer           user_data);
gboolean achat_channel_overrides_readiness     (AchatChannelClass *klass);
void     achat_channel_update_interest         (AchatChannel      *self);
void     achat_channel_apply_idle_timeout      (AchatChannel      *self);

/* STARTTLS */
void     achat_channel_tls_begin               (AchatChannel      *self);
void     achat_channel_tls_fail                (AchatChannel      *self,
                                                GError            *error);
GTask   *achat_channel_tls_take_draining_task  (AchatChannelPrivate *priv);

G_END_DECLS
