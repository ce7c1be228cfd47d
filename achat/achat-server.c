/* achat-server.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-server.h"
#include "achat-poller-private.h"

/**
 * AchatServer:
 *
 * A [class@Gio.SocketService] that makes a channel for each connection it
 * accepts, like an `asyncore.dispatcher` server whose `handle_accept()`
 * creates an `async_chat` per client.
 *
 * Add addresses with the [class@Gio.SocketListener] methods, then handle
 * [signal@Achat.Server::channel-accepted], or set
 * [property@Achat.Server:channel-type] to a subclass of
 * [class@Achat.Channel] whose initialisation sets its terminator. To listen
 * on loopback only, on a port the kernel picks (as tests should):
 *
 * <!-- snippet: examples/snippets/api-snippets.c#server-loopback -->
 * ```c
 * g_autoptr(AchatServer) server = achat_server_new (ACHAT_TYPE_CHANNEL);
 * g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
 * g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
 * g_autoptr(GSocketAddress) bound = NULL;
 *
 * g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
 *                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
 *                                NULL, &bound, &error);
 * g_signal_connect (server, "channel-accepted", G_CALLBACK (on_accepted), &accepted);
 * g_socket_service_start (G_SOCKET_SERVICE (server));
 * ```
 *
 * The listen backlog is %ACHAT_SERVER_DEFAULT_BACKLOG rather than
 * [class@Gio.SocketListener]'s default of 10 (a server constructed with
 * that value gets the larger one), so that a burst of clients is accepted
 * without stalling; set [property@Gio.SocketListener:listen-backlog] before
 * adding addresses to change it.
 *
 * Channels run on the thread-default main context of the thread where the
 * connection is accepted, and keep themselves alive until they close: the
 * server keeps no reference to them.
 *
 * ## Out of file descriptors
 *
 * When accepting fails (typically because the process has no descriptor
 * left: %G_IO_ERROR_TOO_MANY_OPEN_FILES), [class@Gio.SocketService] would
 * try again at once, for ever, at full CPU, with a warning each time. An
 * `AchatServer` stops accepting instead, and tries again after a delay that
 * doubles from 10 ms to 1 s, until it works: the clients wait in the
 * kernel's listen queue meanwhile, and are served once descriptors are
 * free. It logs one warning when this begins and one message when it ends,
 * sets [property@Achat.Server:backing-off] meanwhile, and emits
 * [signal@Achat.Server::accept-failed] for each attempt, where an
 * application can shed load.
 *
 * This holds for the sockets the listener makes itself (the
 * [class@Gio.SocketListener] methods that take an address or a port), until
 * the service is stopped and started again. A socket added with
 * [method@Gio.SocketListener.add_socket], and any socket after
 * g_socket_service_stop() and g_socket_service_start(), are accepted on by
 * GSocketService's own loop, which has no back-off: its start function
 * starts that loop, and a subclass cannot stop it. That loop runs in the
 * thread-default main context of the thread that calls
 * g_socket_service_start(): call it from the thread that runs the server.
 */

/* Who accepts connections. GSocketService's own loop logs and accepts again
 * at once when accept() fails, so a server out of descriptors would spin and
 * flood the log: the server watches its listening sockets itself instead,
 * and stops watching them for a while after a failure.
 *
 * It can do so only with the sockets it knows (those GSocketListener made
 * for an address or a port: ::event names them), and only until the service
 * is started again: g_socket_service_start() after a stop starts
 * GSocketService's loop, which nothing but stopping the service stops. From
 * then on (or once a socket is added with g_socket_listener_add_socket())
 * the server leaves accepting to GSocketService (ACCEPT_BY_SERVICE). Never
 * both at once: two accepts on one of GLib's blocking listening sockets can
 * block the main loop (GLib before 2.86). */
typedef enum
{
  ACCEPT_IDLE,        /* stopped, or no listening socket yet */
  ACCEPT_WATCHING,    /* watching the listening sockets */
  ACCEPT_BACKING_OFF, /* accept() failed: a timer watches them again */
  ACCEPT_BY_SERVICE,  /* GSocketService's loop accepts */
} AcceptState;

/* The delay before watching again after a failed accept(): doubles from the
 * first to the longest while the failures go on. */
#define ACCEPT_FIRST_DELAY_MS 10
#define ACCEPT_LONGEST_DELAY_MS 1000

/* Connections accepted in one dispatch at most, so that a burst of clients
 * does not hold up the rest of the main loop. */
#define ACCEPTS_PER_DISPATCH 16

typedef struct
{
  GSocket *socket;
  GSource *source;     /* while watched */
} Listening;

typedef struct
{
  GType channel_type;

  /* The accept loop. g_socket_service_start() and _stop() may be called
   * from any thread, so its state is under the lock. */
  GMutex lock;
  AcceptState state;
  gboolean active;         /* GSocketService:active as last seen */
  GPtrArray *pending;      /* of GWeakRef*: sockets ::event named since the last
                            * ::changed; a failed add drops its socket, and so
                            * the weak reference */
  GArray *listening;       /* of Listening */
  AchatPoller *poller;     /* of context, held while watching: a channel must
                            * never need a descriptor of its own for it */
  GMainContext *context;   /* where the sockets are watched */
  GSource *retry;
  guint delay_ms;
  guint failures;          /* in a row */
  guint accepted_since;    /* accepts since the last failure of the run */
  gint64 first_failure;    /* monotonic time of the first of them */
} AchatServerPrivate;

enum {
  PROP_0,
  PROP_CHANNEL_TYPE,
  PROP_BACKING_OFF,
  N_PROPS
};

enum {
  CHANNEL_ACCEPTED,
  ACCEPT_FAILED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];
static GParamSpec *active_pspec;

G_DEFINE_TYPE_WITH_PRIVATE (AchatServer, achat_server, G_TYPE_SOCKET_SERVICE)

static gboolean on_listening_ready (GSocket      *socket,
                                    GIOCondition  condition,
                                    gpointer      user_data);

static void
listening_clear (Listening *listening)
{
  if (listening->source != NULL)
    {
      g_source_destroy (listening->source);
      g_clear_pointer (&listening->source, g_source_unref);
    }
  g_clear_object (&listening->socket);
}

static void
pending_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static void
unwatch_locked (AchatServer *self)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  guint i;

  for (i = 0; i < priv->listening->len; i++)
    {
      Listening *listening = &g_array_index (priv->listening, Listening, i);

      if (listening->source != NULL)
        {
          g_source_destroy (listening->source);
          g_clear_pointer (&listening->source, g_source_unref);
        }
    }
  if (priv->retry != NULL)
    {
      g_source_destroy (priv->retry);
      g_clear_pointer (&priv->retry, g_source_unref);
    }
}

/* Watches every listening socket not watched yet, in the main context the
 * server runs in: the thread-default one when the first socket came. */
static gboolean
watch_locked (AchatServer *self)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  guint i;

  if (priv->state != ACCEPT_IDLE && priv->state != ACCEPT_WATCHING)
    return FALSE;
  /* Closed under the server (g_socket_listener_close() while it backed off
   * or was stopped): a source on them would be a broken one, with a
   * warning. */
  for (i = priv->listening->len; i-- > 0;)
    if (g_socket_is_closed (g_array_index (priv->listening, Listening, i).socket))
      g_array_remove_index_fast (priv->listening, i);
  if (priv->listening->len == 0 && priv->failures > 0)
    {
      priv->failures = 0;
      priv->state = ACCEPT_IDLE;
      return TRUE;   /* nothing left to back off for */
    }
  if (!priv->active || priv->listening->len == 0)
    return FALSE;

  if (priv->context == NULL)
    priv->context = g_main_context_ref_thread_default ();
  for (i = 0; i < priv->listening->len; i++)
    {
      Listening *listening = &g_array_index (priv->listening, Listening, i);

      if (listening->source != NULL)
        continue;
      listening->source = g_socket_create_source (listening->socket, G_IO_IN, NULL);
      g_source_set_static_name (listening->source, "[achat] accept");
      /* Like GSocketService's outstanding accept, a watched socket keeps
       * the server alive until it is stopped. */
      g_source_set_callback (listening->source, G_SOURCE_FUNC (on_listening_ready),
                             g_object_ref (self), g_object_unref);
      g_source_attach (listening->source, priv->context);
    }
  priv->state = ACCEPT_WATCHING;
  return FALSE;
}

/* Hands accepting over to GSocketService's loop (see AcceptState). */
static void
by_service_locked (AchatServer *self)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  unwatch_locked (self);
  g_clear_pointer (&priv->poller, achat_poller_release);
  priv->state = ACCEPT_BY_SERVICE;
  priv->failures = 0;
}

static gboolean
on_retry (gpointer user_data)
{
  AchatServer *self = user_data;
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  gboolean ended = FALSE;

  g_mutex_lock (&priv->lock);
  if (priv->state == ACCEPT_BACKING_OFF)
    {
      g_clear_pointer (&priv->retry, g_source_unref);
      priv->state = ACCEPT_IDLE;
      ended = watch_locked (self);
    }
  g_mutex_unlock (&priv->lock);

  if (ended)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKING_OFF]);

  return G_SOURCE_REMOVE;
}

/* After a failed accept(): typically EMFILE or ENFILE. The connection stays
 * in the kernel's queue, so accepting again at once fails again at once:
 * stop watching for a while. Returns whether this is the first failure of
 * a run. */
static gboolean
back_off_locked (AchatServer *self)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  gboolean first = priv->failures == 0;

  if (first)
    {
      priv->first_failure = g_get_monotonic_time ();
      priv->delay_ms = ACCEPT_FIRST_DELAY_MS;
    }
  else if (priv->accepted_since > 0)
    {
      /* Some got through (descriptors come free one by one): the same run
       * of failures, no new warning, but try again soon. */
      priv->delay_ms = ACCEPT_FIRST_DELAY_MS;
    }
  else
    {
      priv->delay_ms = MIN (priv->delay_ms * 2, ACCEPT_LONGEST_DELAY_MS);
    }
  priv->failures++;
  priv->accepted_since = 0;

  unwatch_locked (self);
  priv->state = ACCEPT_BACKING_OFF;
  priv->retry = g_timeout_source_new (priv->delay_ms);
  g_source_set_static_name (priv->retry, "[achat] accept back-off");
  g_source_set_callback (priv->retry, on_retry, g_object_ref (self), g_object_unref);
  g_source_attach (priv->retry, priv->context);

  return first;
}

/* Forgets a listening socket closed under the server
 * (g_socket_listener_close() while it was watched). */
static void
forget_locked (AchatServer *self,
               GSocket     *socket)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  guint i;

  for (i = 0; i < priv->listening->len; i++)
    if (g_array_index (priv->listening, Listening, i).socket == socket)
      {
        g_array_remove_index_fast (priv->listening, i);
        return;
      }
}

/* Says that accepting failed: a warning once per run of failures (and a
 * message when it ends), never per attempt; ::accept-failed every time. */
static void
report_failure (AchatServer  *self,
                const GError *error,
                gboolean      first_failure)
{
  if (first_failure)
    {
      g_warning ("Could not accept a connection: %s. Trying again after a delay "
                 "that grows to %u ms, until it works",
                 error->message, ACCEPT_LONGEST_DELAY_MS);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKING_OFF]);
    }
  g_signal_emit (self, signals[ACCEPT_FAILED], 0, error);
}

static gboolean
on_listening_ready (GSocket      *socket,
                    GIOCondition  condition,
                    gpointer      user_data)
{
  AchatServer *self = user_data;
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  guint n;

  g_object_ref (self);

  /* The epoll descriptor a channel needs comes before the connection:
   * with one descriptor left, accepting would take it, the channel would
   * fail and the client be dropped. The server holds the poller of its
   * context while it watches. */
  {
    g_autoptr(GError) poller_error = NULL;
    gboolean first_failure = FALSE, watching;

    g_mutex_lock (&priv->lock);
    watching = priv->state == ACCEPT_WATCHING;
    if (watching && priv->poller == NULL)
      priv->poller = achat_poller_acquire (priv->context, &poller_error);
    if (poller_error != NULL)
      first_failure = back_off_locked (self);
    g_mutex_unlock (&priv->lock);

    if (poller_error != NULL)
      {
        report_failure (self, poller_error, first_failure);
        g_object_unref (self);
        return G_SOURCE_CONTINUE;
      }
  }

  for (n = 0; n < ACCEPTS_PER_DISPATCH; n++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GSocket) accepted = NULL;
      g_autoptr(GSocketConnection) connection = NULL;
      gboolean first_failure = FALSE, recovered = FALSE, watching;
      guint failures = 0;
      gint64 failing_usec = 0;

      accepted = g_socket_accept (socket, NULL, &error);

      g_mutex_lock (&priv->lock);
      watching = priv->state == ACCEPT_WATCHING;
      if (accepted != NULL && priv->failures > 0 &&
          ++priv->accepted_since < ACCEPTS_PER_DISPATCH)
        {
          /* Not over yet: the next accept may fail again. */
        }
      else if ((accepted != NULL ||
                g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) &&
               priv->failures > 0)
        {
          /* The queue is empty, or a dispatch's worth went through. */
          recovered = TRUE;
          failures = priv->failures;
          failing_usec = g_get_monotonic_time () - priv->first_failure;
          priv->failures = 0;
          priv->accepted_since = 0;
        }
      else if (accepted == NULL && watching &&
               g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
        {
          forget_locked (self, socket);
        }
      else if (accepted == NULL && watching &&
               !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          first_failure = back_off_locked (self);
        }
      g_mutex_unlock (&priv->lock);

      if (recovered)
        {
          g_message ("Accepting connections again after %u failed attempts over %.1f s",
                     failures, failing_usec / (gdouble) G_USEC_PER_SEC);
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BACKING_OFF]);
        }
      if (accepted == NULL)
        {
          if (watching && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) &&
              !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED))
            report_failure (self, error, first_failure);
          break;
        }

      connection = g_socket_connection_factory_create_connection (accepted);
      {
        /* What g_socket_listener_add_address() was given (GSocketListener
         * keeps it on the socket under this name). */
        GObject *source_object = g_object_get_data (G_OBJECT (socket), "g-socket-listener-source");
        gboolean handled = FALSE;

        g_signal_emit_by_name (self, "incoming", connection, source_object, &handled);
      }

      if (!watching || g_source_is_destroyed (g_main_current_source ()))
        break;
    }
  g_object_unref (self);

  /* Destroyed (stopped, backing off) or not, the source is ours to end. */
  return G_SOURCE_CONTINUE;
}

/* A socket GSocketListener made for an address or a port. */
static void
achat_server_event (GSocketListener      *listener,
                    GSocketListenerEvent  event,
                    GSocket              *socket)
{
  AchatServer *self = ACHAT_SERVER (listener);
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  if (event == G_SOCKET_LISTENER_LISTENED)
    {
      GWeakRef *pending = g_new0 (GWeakRef, 1);

      /* Not ours until ::changed says the listener kept it: an add that
       * fails later (a second socket of add_inet_port()) drops it. */
      g_weak_ref_init (pending, socket);
      g_mutex_lock (&priv->lock);
      g_ptr_array_add (priv->pending, pending);
      g_mutex_unlock (&priv->lock);
    }

  if (G_SOCKET_LISTENER_CLASS (achat_server_parent_class)->event != NULL)
    G_SOCKET_LISTENER_CLASS (achat_server_parent_class)->event (listener, event, socket);
}

static void
achat_server_changed (GSocketListener *listener)
{
  AchatServer *self = ACHAT_SERVER (listener);
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  gboolean by_service;
  gboolean saw_listened = FALSE;
  guint i;

  g_mutex_lock (&priv->lock);
  for (i = 0; i < priv->pending->len; i++)
    {
      GSocket *socket = g_weak_ref_get (priv->pending->pdata[i]);

      if (socket != NULL && !g_socket_is_closed (socket))
        {
          Listening listening = { socket, NULL };

          /* A wake-up with nothing to accept must not block the main loop. */
          g_socket_set_blocking (socket, FALSE);
          g_array_append_val (priv->listening, listening);
          saw_listened = TRUE;
        }
      else
        g_clear_object (&socket);
    }
  g_ptr_array_set_size (priv->pending, 0);
  /* No ::event: a socket of the application's
   * (g_socket_listener_add_socket()), which the server cannot watch. */
  if (!saw_listened && priv->state != ACCEPT_BY_SERVICE)
    by_service_locked (self);
  by_service = priv->state == ACCEPT_BY_SERVICE;
  if (!by_service)
    watch_locked (self);
  g_mutex_unlock (&priv->lock);

  /* GSocketService's loop starts, or restarts for the new socket. */
  if (by_service)
    G_SOCKET_LISTENER_CLASS (achat_server_parent_class)->changed (listener);
}

static gboolean
achat_server_incoming (GSocketService    *service,
                       GSocketConnection *connection,
                       GObject           *source_object)
{
  AchatServer *self = ACHAT_SERVER (service);
  AchatServerPrivate *priv = achat_server_get_instance_private (self);
  g_autoptr(AchatChannel) channel = NULL;

  channel = g_object_new (priv->channel_type, "stream", connection, NULL);
  g_signal_emit (self, signals[CHANNEL_ACCEPTED], 0, channel);

  return TRUE;
}

/* g_socket_service_start() and _stop() (and GSocketService:active) are not
 * virtual: the server follows them through their notification. */
static void
achat_server_notify (GObject    *object,
                     GParamSpec *pspec)
{
  AchatServer *self = ACHAT_SERVER (object);
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  if (pspec == active_pspec)
    {
      gboolean active = g_socket_service_is_active (G_SOCKET_SERVICE (self));
      gboolean was_backing_off = FALSE;
      gboolean restart_service = FALSE;

      g_mutex_lock (&priv->lock);
      if (active != priv->active)
        {
          priv->active = active;
          was_backing_off = priv->failures > 0;
          if (active)
            by_service_locked (self);   /* started again: GSocketService's loop runs */
          else if (priv->state != ACCEPT_BY_SERVICE)
            {
              unwatch_locked (self);
              g_clear_pointer (&priv->poller, achat_poller_release);
              priv->state = ACCEPT_IDLE;
              priv->failures = 0;
            }
        }
      else if (active && priv->state != ACCEPT_BY_SERVICE && priv->listening->len > 0)
        {
          /* Active before and now, yet notified: a stop() and a start()
           * whose notifications were merged (g_object_freeze_notify(),
           * g_object_set(), or another thread's) may have started
           * GSocketService's loop. Leave accepting to it, and make sure it
           * runs exactly once (its ::changed starts or restarts it). */
          was_backing_off = priv->failures > 0;
          by_service_locked (self);
          restart_service = TRUE;
        }
      g_mutex_unlock (&priv->lock);

      if (restart_service)
        G_SOCKET_LISTENER_CLASS (achat_server_parent_class)->changed (G_SOCKET_LISTENER (self));
      if (was_backing_off)
        g_object_notify_by_pspec (object, properties[PROP_BACKING_OFF]);
    }

  if (G_OBJECT_CLASS (achat_server_parent_class)->notify != NULL)
    G_OBJECT_CLASS (achat_server_parent_class)->notify (object, pspec);
}

/**
 * AchatServerClass::channel_accepted:
 * @self: the server
 * @channel: the channel made for the new connection
 *
 * Class closure of [signal@Achat.Server::channel-accepted]. The default
 * does nothing.
 */

static void
achat_server_constructed (GObject *object)
{
  gint backlog = 0;

  G_OBJECT_CLASS (achat_server_parent_class)->constructed (object);

  /* GSocketListener's default of 10 pending connections (a construct
   * property) makes a burst of clients stall in SYN retransmits. */
  g_object_get (object, "listen-backlog", &backlog, NULL);
  if (backlog == 10)
    g_socket_listener_set_backlog (G_SOCKET_LISTENER (object), ACHAT_SERVER_DEFAULT_BACKLOG);
}

static void
achat_server_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  AchatServer *self = ACHAT_SERVER (object);

  switch (prop_id)
    {
    case PROP_CHANNEL_TYPE:
      g_value_set_gtype (value, achat_server_get_channel_type (self));
      break;
    case PROP_BACKING_OFF:
      g_value_set_boolean (value, achat_server_get_backing_off (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
achat_server_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  AchatServer *self = ACHAT_SERVER (object);

  switch (prop_id)
    {
    case PROP_CHANNEL_TYPE:
      achat_server_set_channel_type (self, g_value_get_gtype (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
achat_server_dispose (GObject *object)
{
  AchatServer *self = ACHAT_SERVER (object);
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  g_mutex_lock (&priv->lock);
  unwatch_locked (self);
  g_array_set_size (priv->listening, 0);
  g_ptr_array_set_size (priv->pending, 0);
  g_clear_pointer (&priv->poller, achat_poller_release);
  g_clear_pointer (&priv->context, g_main_context_unref);
  g_mutex_unlock (&priv->lock);

  G_OBJECT_CLASS (achat_server_parent_class)->dispose (object);
}

static void
achat_server_finalize (GObject *object)
{
  AchatServer *self = ACHAT_SERVER (object);
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  g_array_unref (priv->listening);
  g_ptr_array_unref (priv->pending);
  g_mutex_clear (&priv->lock);

  G_OBJECT_CLASS (achat_server_parent_class)->finalize (object);
}

static void
achat_server_class_init (AchatServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GSocketListenerClass *listener_class = G_SOCKET_LISTENER_CLASS (klass);
  GSocketServiceClass *service_class = G_SOCKET_SERVICE_CLASS (klass);

  object_class->constructed = achat_server_constructed;
  object_class->dispose = achat_server_dispose;
  object_class->finalize = achat_server_finalize;
  object_class->get_property = achat_server_get_property;
  object_class->set_property = achat_server_set_property;
  object_class->notify = achat_server_notify;

  listener_class->changed = achat_server_changed;
  listener_class->event = achat_server_event;

  service_class->incoming = achat_server_incoming;

  /* GSocketService's loop (after a stop and start) makes a GTask: its
   * type's initialisation needs descriptors, maybe when none are left. */
  g_type_ensure (G_TYPE_TASK);

  active_pspec = g_object_class_find_property (object_class, "active");
  g_assert (active_pspec != NULL);

  /**
   * AchatServer:channel-type:
   *
   * The type of the channels the server makes: [class@Achat.Channel] or a
   * subclass of it. Each is constructed with the accepted connection as its
   * [property@Achat.Channel:stream].
   */
  properties[PROP_CHANNEL_TYPE] =
    g_param_spec_gtype ("channel-type", NULL, NULL,
                        ACHAT_TYPE_CHANNEL,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                        G_PARAM_STATIC_STRINGS);

  /**
   * AchatServer:backing-off: (getter get_backing_off)
   *
   * Whether accepting connections failed, and the server waits before it
   * tries again. Typically the process is out of file descriptors: the
   * connections wait in the kernel's queue, and the server tries again
   * after a delay that doubles from 10 ms to 1 s, until it works. A
   * warning is logged when this begins and a message when it ends, not
   * one per attempt; [signal@Achat.Server::accept-failed] is emitted for
   * each attempt.
   */
  properties[PROP_BACKING_OFF] =
    g_param_spec_boolean ("backing-off", NULL, NULL,
                          FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                          G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * AchatServer::channel-accepted:
   * @self: the server
   * @channel: the channel made for the new connection
   *
   * Emitted for each accepted connection, once its channel is made and
   * before it reads anything: connect the channel's signals and set its
   * terminator here. Take a reference if you keep the channel (it keeps
   * itself alive until it closes).
   */
  signals[CHANNEL_ACCEPTED] =
    g_signal_new ("channel-accepted",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  G_STRUCT_OFFSET (AchatServerClass, channel_accepted),
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, ACHAT_TYPE_CHANNEL);

  /**
   * AchatServer::accept-failed:
   * @self: the server
   * @error: why accepting a connection failed
   *
   * Emitted when accepting a connection failed (typically with
   * %G_IO_ERROR_TOO_MANY_OPEN_FILES), before the server waits and tries
   * again (see [property@Achat.Server:backing-off]): at most once per
   * attempt, so a few times a second at most. An application can shed
   * load here, for example close idle channels.
   */
  signals[ACCEPT_FAILED] =
    g_signal_new ("accept-failed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
achat_server_init (AchatServer *self)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  priv->channel_type = ACHAT_TYPE_CHANNEL;
  g_mutex_init (&priv->lock);
  priv->state = ACCEPT_IDLE;
  priv->listening = g_array_new (FALSE, FALSE, sizeof (Listening));
  g_array_set_clear_func (priv->listening, (GDestroyNotify) listening_clear);
  priv->pending = g_ptr_array_new_with_free_func (pending_free);
  priv->active = g_socket_service_is_active (G_SOCKET_SERVICE (self));
}

/**
 * achat_server_new:
 * @channel_type: the type of the channels to make: %ACHAT_TYPE_CHANNEL or a
 *   subclass, or %G_TYPE_INVALID for %ACHAT_TYPE_CHANNEL
 *
 * Creates a server. It is not listening yet: add addresses with
 * [method@Gio.SocketListener.add_inet_port] and friends. Like any
 * [class@Gio.SocketService] it is active from creation.
 *
 * Returns: (transfer full): a new #AchatServer
 */
AchatServer *
achat_server_new (GType channel_type)
{
  if (channel_type == G_TYPE_INVALID)
    channel_type = ACHAT_TYPE_CHANNEL;
  g_return_val_if_fail (g_type_is_a (channel_type, ACHAT_TYPE_CHANNEL), NULL);

  return g_object_new (ACHAT_TYPE_SERVER, "channel-type", channel_type, NULL);
}

/**
 * achat_server_get_channel_type:
 * @self: an #AchatServer
 *
 * Gets the type of the channels the server makes.
 *
 * Returns: the channel type
 */
GType
achat_server_get_channel_type (AchatServer *self)
{
  AchatServerPrivate *priv;

  g_return_val_if_fail (ACHAT_IS_SERVER (self), G_TYPE_INVALID);

  priv = achat_server_get_instance_private (self);
  return priv->channel_type;
}

/**
 * achat_server_set_channel_type:
 * @self: an #AchatServer
 * @channel_type: %ACHAT_TYPE_CHANNEL or a subclass of it
 *
 * Sets the type of the channels the server makes for connections accepted
 * from now on.
 */
void
achat_server_set_channel_type (AchatServer *self,
                               GType        channel_type)
{
  AchatServerPrivate *priv;

  g_return_if_fail (ACHAT_IS_SERVER (self));
  g_return_if_fail (g_type_is_a (channel_type, ACHAT_TYPE_CHANNEL));
  g_return_if_fail (!G_TYPE_IS_ABSTRACT (channel_type));

  priv = achat_server_get_instance_private (self);
  if (priv->channel_type == channel_type)
    return;
  priv->channel_type = channel_type;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CHANNEL_TYPE]);
}

/**
 * achat_server_get_backing_off:
 * @self: an #AchatServer
 *
 * Gets whether accepting connections failed and the server waits before it
 * tries again. See [property@Achat.Server:backing-off].
 *
 * Returns: %TRUE while the server backs off
 */
gboolean
achat_server_get_backing_off (AchatServer *self)
{
  AchatServerPrivate *priv;
  gboolean backing_off;

  g_return_val_if_fail (ACHAT_IS_SERVER (self), FALSE);

  priv = achat_server_get_instance_private (self);
  g_mutex_lock (&priv->lock);
  backing_off = priv->failures > 0;
  g_mutex_unlock (&priv->lock);

  return backing_off;
}
