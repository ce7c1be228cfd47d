/* achat-server.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "achat-server.h"

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
 */

typedef struct
{
  GType channel_type;
} AchatServerPrivate;

enum {
  PROP_0,
  PROP_CHANNEL_TYPE,
  N_PROPS
};

enum {
  CHANNEL_ACCEPTED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_TYPE_WITH_PRIVATE (AchatServer, achat_server, G_TYPE_SOCKET_SERVICE)

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
achat_server_class_init (AchatServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GSocketServiceClass *service_class = G_SOCKET_SERVICE_CLASS (klass);

  object_class->constructed = achat_server_constructed;
  object_class->get_property = achat_server_get_property;
  object_class->set_property = achat_server_set_property;

  service_class->incoming = achat_server_incoming;

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
}

static void
achat_server_init (AchatServer *self)
{
  AchatServerPrivate *priv = achat_server_get_instance_private (self);

  priv->channel_type = ACHAT_TYPE_CHANNEL;
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
