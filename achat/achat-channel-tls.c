/* achat-channel-tls.c: AchatChannel's switch to TLS (STARTTLS)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The state machine of a switch to TLS in the middle of a connection and
 * its public API: input stops where the switch was asked for, the output
 * queued before it is written in plaintext, the handshake runs, then both
 * directions go through the TLS connection.
 */

#include "config.h"

#include "achat-channel-private.h"
#include "achat-error.h"

/* TLS ------------------------------------------------------------------- */

static void
tls_start_free (gpointer data)
{
  TlsStart *start = data;

  g_clear_object (&start->identity);
  g_clear_object (&start->certificate);
  g_free (start);
}

static void
tls_cancel_cb (GCancellable *cancellable,
               gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

/* The switch failed: the channel closes with @error (it cannot go back to
 * plaintext: the peer may already speak TLS), then the task reports it. */
void
achat_channel_tls_fail (AchatChannel *self,
                        GError       *error)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GTask) task = g_steal_pointer (&priv->tls_task);

  priv->tls_state = TLS_NONE;
  achat_channel_close_internal (self, g_error_copy (error));
  g_task_return_error (task, error);
}

/* Reads and writes go through the TLS connection from now on. */
static void
channel_tls_switch_transport (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);

  achat_watch_destroy (g_steal_pointer (&priv->watch));
  priv->fd = -1;
  g_set_object (&priv->stream, G_IO_STREAM (priv->tls));
  g_set_object (&priv->input, G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (priv->stream)));
  g_set_object (&priv->output, G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (priv->stream)));
  priv->write_blocked = FALSE;
  priv->watch = achat_poller_watch_streams (priv->poller, priv->input, priv->output,
                                            achat_channel_watch_cb, self);
  achat_channel_apply_idle_timeout (self);
  if (achat_channel_overrides_readiness (ACHAT_CHANNEL_GET_CLASS (self)))
    achat_watch_set_prepare (priv->watch, achat_channel_prepare_cb);
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_STREAM]);
}

static void
channel_tls_handshake_cb (GObject      *source,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(AchatChannel) self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GTask) task = g_steal_pointer (&priv->tls_task);
  g_autoptr(GError) error = NULL;
  gboolean ok;

  ok = g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error);
  if (priv->tls_cancel_id != 0)
    {
      g_cancellable_disconnect (g_task_get_cancellable (task), priv->tls_cancel_id);
      priv->tls_cancel_id = 0;
    }
  g_clear_object (&priv->tls_cancellable);
  priv->tls_state = TLS_NONE;

  if (priv->closed)
    {
      /* Closed meanwhile (which cancelled the handshake): the socket
       * waited for it. */
      achat_channel_transport_close (self);
      if (ok || !g_cancellable_is_cancelled (g_task_get_cancellable (task)))
        {
          /* The error the channel closed with, as closed said. */
          g_clear_error (&error);
          if (priv->closed_error != NULL)
            error = g_error_copy (priv->closed_error);
          else
            g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                                 "The channel closed during the TLS handshake");
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!ok)
    {
      achat_channel_close_internal (self, g_error_copy (error));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  channel_tls_switch_transport (self);
  achat_output_queue_remove_barrier (&priv->queue);
  g_task_return_boolean (task, TRUE);
  if (priv->closed)
    return;

  /* What was pushed since, a close_when_done(), and input. */
  achat_channel_update_interest (self);
  achat_watch_schedule (priv->watch);
}

/* Everything queued before the switch is written: check the input, make
 * the TLS connection and start its handshake. */
void
achat_channel_tls_begin (AchatChannel *self)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  TlsStart *start = g_task_get_task_data (priv->tls_task);
  GCancellable *cancellable = g_task_get_cancellable (priv->tls_task);
  /* A message waiting for a read (pull mode) came after the point too. */
  gsize pending = achat_framer_get_held (&priv->framer) + priv->collected_len +
                  (priv->ready != NULL ? g_bytes_get_size (priv->ready) : 0);
  GIOStream *tls;
  GError *error = NULL;

  /* Input stopped where the switch was asked for. Whatever came after it
   * in the same reads is plaintext that anyone on the path could have
   * written: it must not reach the application as if it came through TLS,
   * and dropping it silently would hide the attack. */
  if (pending > 0 || priv->ready != NULL)
    {
      /* Never delivered, nor read after the close. */
      g_clear_pointer (&priv->ready, g_bytes_unref);
      priv->ready_waits = FALSE;
      achat_framer_discard (&priv->framer);
      achat_channel_tls_fail (self,
                              g_error_new (ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS,
                                           "%" G_GSIZE_FORMAT " bytes of plaintext arrived after "
                                           "the point where TLS was to start; TLS was not started "
                                           "and they were not delivered (a STARTTLS command "
                                           "injection, or a peer that did not wait)",
                                           pending));
      return;
    }
  if (priv->eof || priv->input_error != NULL)
    {
      achat_channel_tls_fail (self,
                              g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                                   "The peer closed the connection before TLS started"));
      return;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, &error))
    {
      achat_channel_tls_fail (self, error);
      return;
    }

  if (priv->stream == NULL)
    priv->stream = G_IO_STREAM (g_socket_connection_factory_create_connection (priv->socket));
  if (start->server)
    tls = g_tls_server_connection_new (priv->stream, start->certificate, &error);
  else
    tls = g_tls_client_connection_new (priv->stream, start->identity, &error);
  if (tls == NULL)
    {
      achat_channel_tls_fail (self, error);
      return;
    }
  priv->tls = G_TLS_CONNECTION (tls);
  g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_TLS_CONNECTION]);
  g_signal_emit (self, achat_channel_signals[TLS_HANDSHAKING_SIGNAL], 0, priv->tls);
  if (priv->closed)
    return;   /* a handler closed it: the task was told */

  priv->tls_cancellable = g_cancellable_new ();
  if (cancellable != NULL)
    priv->tls_cancel_id = g_cancellable_connect (cancellable, G_CALLBACK (tls_cancel_cb),
                                                 g_object_ref (priv->tls_cancellable),
                                                 g_object_unref);
  priv->tls_state = TLS_HANDSHAKING;
  achat_channel_update_interest (self);
  g_tls_connection_handshake_async (priv->tls, G_PRIORITY_DEFAULT, priv->tls_cancellable,
                                    channel_tls_handshake_cb, g_object_ref (self));
}

static void
channel_start_tls (AchatChannel        *self,
                   TlsStart            *start,
                   GCancellable        *cancellable,
                   GAsyncReadyCallback  callback,
                   gpointer             user_data,
                   gpointer             source_tag)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_task_set_task_data (task, start, tls_start_free);

  if (priv->closed || priv->closing)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                               "Cannot start TLS: the channel is %s",
                               priv->closed ? "closed" : "closing");
      return;
    }
  if (priv->tls_task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PENDING,
                               "A switch to TLS is already under way");
      return;
    }
  if (priv->tls != NULL)
    {
      g_task_return_new_error (task, ACHAT_ERROR, ACHAT_ERROR_FAILED,
                               "The channel already runs over TLS");
      return;
    }

  priv->tls_task = g_steal_pointer (&task);
  priv->tls_state = TLS_DRAINING;
  achat_output_queue_push_barrier (&priv->queue);
  achat_channel_update_interest (self);
  /* Inside a dispatch of this channel the flush that follows it gets to
   * the barrier; otherwise the next iteration does. */
  achat_channel_schedule (priv);
}

/* The task of a switch to TLS still writing the plaintext queued before
 * it, now given up (NULL if there is none). */
GTask *
achat_channel_tls_take_draining_task (AchatChannelPrivate *priv)
{
  if (priv->tls_task == NULL || priv->tls_state != TLS_DRAINING)
    return NULL;
  priv->tls_state = TLS_NONE;
  return g_steal_pointer (&priv->tls_task);
}

/**
 * achat_channel_start_tls_client_async:
 * @self: an #AchatChannel
 * @server_identity: (nullable): the server's expected identity (a
 *   [class@Gio.NetworkAddress] such as `mail.example.org:25`), checked
 *   against its certificate; %NULL to skip the name check
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when TLS is running, or failed
 * @user_data: data for @callback
 *
 * Switches a running plaintext channel to TLS as the client, for
 * STARTTLS-style protocols (SMTP, IMAP, XMPP, LDAP…): call it when the
 * server has agreed, typically from the
 * [signal@Achat.Channel::terminator-found] handler of its "go ahead"
 * reply. The terminator, the message being collected and the output queue
 * carry on through the switch.
 *
 * The switch happens at a precise point, in both directions:
 *
 * - input stops right after the message being handled: nothing the peer
 *   sent after it is delivered before the handshake. If plaintext did
 *   arrive after that point (an attacker on the path injecting commands
 *   behind the STARTTLS reply, or a peer that did not wait), TLS is not
 *   started, those bytes are never delivered, and the channel closes with
 *   %ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS, whose message says how many
 *   bytes were pending;
 * - output pushed before the call is written in plaintext first; output
 *   pushed after it waits and is encrypted.
 *
 * [signal@Achat.Channel::tls-handshaking] is emitted with the new
 * connection before its handshake: connect to its
 * [signal@Gio.TlsConnection::accept-certificate] there to decide about a
 * certificate the system does not trust. A failed handshake (a rejected
 * certificate, a peer that does not speak TLS), a cancellation or a
 * channel closed meanwhile closes the channel and fails the call with the
 * error: a half-started switch cannot go back to plaintext.
 *
 * See also achat_channel_start_tls_server_async().
 */
void
achat_channel_start_tls_client_async (AchatChannel        *self,
                                      GSocketConnectable  *server_identity,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  TlsStart *start;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (server_identity == NULL || G_IS_SOCKET_CONNECTABLE (server_identity));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  start = g_new0 (TlsStart, 1);
  start->server = FALSE;
  start->identity = server_identity ? g_object_ref (server_identity) : NULL;
  channel_start_tls (self, start, cancellable, callback, user_data,
                     achat_channel_start_tls_client_async);
}

/**
 * achat_channel_start_tls_client_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_start_tls_client_async().
 *
 * Returns: %TRUE when the channel runs over TLS; %FALSE with @error set
 *   (the channel is then closed, with the same error)
 */
gboolean
achat_channel_start_tls_client_finish (AchatChannel  *self,
                                       GAsyncResult  *result,
                                       GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        achat_channel_start_tls_client_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * achat_channel_start_tls_server_async:
 * @self: an #AchatChannel
 * @certificate: the server's certificate, with its private key
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when TLS is running, or failed
 * @user_data: data for @callback
 *
 * Switches a running plaintext channel to TLS as the server: push the
 * "go ahead" reply (SMTP's `220 Ready to start TLS`), then call this from
 * the [signal@Achat.Channel::terminator-found] handler of the client's
 * STARTTLS command. The reply is written in plaintext, then the handshake
 * runs, then everything continues encrypted with the same terminator.
 *
 * A client that sent anything after its STARTTLS command without waiting
 * (`STARTTLS\r\nRCPT TO:…` in one packet: the command injection of
 * CVE-2011-0411) gets no TLS: those bytes are not delivered and the channel
 * closes with %ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS. Everything else is as
 * for achat_channel_start_tls_client_async().
 */
void
achat_channel_start_tls_server_async (AchatChannel        *self,
                                      GTlsCertificate     *certificate,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  TlsStart *start;

  g_return_if_fail (ACHAT_IS_CHANNEL (self));
  g_return_if_fail (G_IS_TLS_CERTIFICATE (certificate));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  start = g_new0 (TlsStart, 1);
  start->server = TRUE;
  start->certificate = g_object_ref (certificate);
  channel_start_tls (self, start, cancellable, callback, user_data,
                     achat_channel_start_tls_server_async);
}

/**
 * achat_channel_start_tls_server_finish:
 * @self: an #AchatChannel
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes achat_channel_start_tls_server_async().
 *
 * Returns: %TRUE when the channel runs over TLS; %FALSE with @error set
 *   (the channel is then closed, with the same error)
 */
gboolean
achat_channel_start_tls_server_finish (AchatChannel  *self,
                                       GAsyncResult  *result,
                                       GError       **error)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        achat_channel_start_tls_server_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * achat_channel_get_tls_connection: (get-property tls-connection)
 * @self: an #AchatChannel
 *
 * Gets [property@Achat.Channel:tls-connection].
 *
 * Returns: (transfer none) (nullable): the TLS connection the channel runs
 *   over, or %NULL
 */
GTlsConnection *
achat_channel_get_tls_connection (AchatChannel *self)
{
  g_return_val_if_fail (ACHAT_IS_CHANNEL (self), NULL);

  return GET_PRIV (self)->tls;
}
