/* test-server.c: AchatServer and the client-side connect helper
 *
 * Specifies: achat/achat-server.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <gio/gunixconnection.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "test-util.h"

static void
client_send (GSocket     *socket,
             const gchar *text)
{
  g_autoptr(GError) error = NULL;
  gsize length = strlen (text);
  gssize n = g_socket_send (socket, text, length, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (n, ==, (gssize) length);
}

typedef struct
{
  GSocket *socket;
  GString *received;
  const gchar *until;
  gboolean eof;
} ClientRead;

static gboolean
client_has (gpointer user_data)
{
  ClientRead *read = user_data;
  gchar buffer[4096];
  gssize n;

  n = g_socket_receive (read->socket, buffer, sizeof buffer, NULL, NULL);
  if (n > 0)
    g_string_append_len (read->received, buffer, n);
  else if (n == 0)
    read->eof = TRUE;

  if (read->until == NULL)
    return read->eof;
  return strstr (read->received->str, read->until) != NULL || read->eof;
}

/* Reads from a client socket until @until is seen (or EOF if NULL). */
static gchar *
client_read (GSocket     *socket,
             const gchar *until)
{
  ClientRead read = { socket, g_string_new (NULL), until, FALSE };

  test_spin_until (client_has, &read);
  return g_string_free (read.received, FALSE);
}

/* An echo protocol: each "\n" line comes back as "echo: LINE\n". */
static void
on_echo_line (AchatChannel *channel,
              GBytes       *line,
              gpointer      user_data)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (line, &length);

  if (length == 4 && memcmp (data, "QUIT", 4) == 0)
    {
      achat_channel_push (channel, (const guint8 *) "bye\n", 4);
      achat_channel_close_when_done (channel);
      return;
    }
  achat_channel_push (channel, (const guint8 *) "echo: ", 6);
  achat_channel_push (channel, data, length);
  achat_channel_push (channel, (const guint8 *) "\n", 1);
}

typedef struct
{
  GPtrArray *channels;
  guint n_closed;
} Accepted;

static void
on_closed_count (AchatChannel *channel,
                 const GError *error,
                 Accepted     *accepted)
{
  g_assert_no_error (error);
  accepted->n_closed++;
}

static void
on_channel_accepted (AchatServer  *server,
                     AchatChannel *channel,
                     Accepted     *accepted)
{
  g_assert_true (ACHAT_IS_CHANNEL (channel));
  g_assert_false (achat_channel_is_closed (channel));
  g_assert_nonnull (achat_channel_get_socket (channel));
  g_assert_true (G_IS_SOCKET_CONNECTION (achat_channel_get_stream (channel)));
  g_assert_true (achat_channel_get_context (channel) == g_main_context_get_thread_default () ||
                 (g_main_context_get_thread_default () == NULL &&
                  achat_channel_get_context (channel) == g_main_context_default ()));

  g_ptr_array_add (accepted->channels, g_object_ref (channel));
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_echo_line), NULL);
  g_signal_connect (channel, "closed", G_CALLBACK (on_closed_count), accepted);
}

static void
test_server_echo_clients (void)
{
  Accepted accepted = { g_ptr_array_new_with_free_func (g_object_unref), 0 };
  g_autoptr(AchatServer) server = NULL;
  GSocket *clients[3];
  guint16 port;
  guint i;

  server = test_loopback_server (G_TYPE_INVALID, &port);
  g_assert_true (achat_server_get_channel_type (server) == ACHAT_TYPE_CHANNEL);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_channel_accepted), &accepted);

  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = test_tcp_connect (port);

  /* Interleave the clients; each sees only its own echoes, in order. */
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      g_autofree gchar *line = g_strdup_printf ("hello from %u\nsecond %u\n", i, i);

      client_send (clients[i], line);
    }
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      g_autofree gchar *expected = g_strdup_printf ("echo: hello from %u\necho: second %u\n", i, i);
      g_autofree gchar *got = client_read (clients[i], expected);

      g_assert_cmpstr (got, ==, expected);
    }
  g_assert_cmpuint (accepted.channels->len, ==, G_N_ELEMENTS (clients));

  /* QUIT: the reply is written, then the server closes the connection. */
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      g_autofree gchar *got = NULL;

      client_send (clients[i], "QUIT\n");
      got = client_read (clients[i], NULL);
      g_assert_cmpstr (got, ==, "bye\n");
      g_object_unref (clients[i]);
    }

  for (i = 0; i < accepted.channels->len; i++)
    g_assert_true (achat_channel_is_closed (accepted.channels->pdata[i]));
  g_assert_cmpuint (accepted.n_closed, ==, G_N_ELEMENTS (clients));

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  g_ptr_array_unref (accepted.channels);
}

static gboolean
on_incoming_count (GSocketService    *service,
                   GSocketConnection *connection,
                   GObject           *source_object,
                   guint             *n_incoming)
{
  (*n_incoming)++;
  return FALSE;
}

static gboolean
uint_is_two (gpointer user_data)
{
  return *(guint *) user_data == 2;
}

/* The server accepts with a loop of its own: GSocketService's API still
 * works around it. GSocketService::incoming is emitted; a socket added
 * while the server runs is listened to at once; a stopped server leaves
 * clients waiting; started again, it serves them. */
static void
test_server_stop_start (void)
{
  Accepted accepted = { g_ptr_array_new_with_free_func (g_object_unref), 0 };
  g_autoptr(AchatServer) server = NULL;
  g_autoptr(GSocket) first = NULL;
  g_autoptr(GSocket) second = NULL;
  g_autoptr(GSocket) waiting = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *got = NULL;
  guint n_incoming = 0;
  guint16 port, second_port;
  guint i;

  server = test_loopback_server (G_TYPE_INVALID, &port);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_channel_accepted), &accepted);
  g_signal_connect (server, "incoming", G_CALLBACK (on_incoming_count), &n_incoming);

  first = test_tcp_connect (port);
  client_send (first, "one\n");
  got = client_read (first, "\n");
  g_assert_cmpstr (got, ==, "echo: one\n");
  g_clear_pointer (&got, g_free);

  second_port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (server), NULL, &error);
  g_assert_no_error (error);
  second = test_tcp_connect (second_port);
  client_send (second, "two\n");
  got = client_read (second, "\n");
  g_assert_cmpstr (got, ==, "echo: two\n");
  g_clear_pointer (&got, g_free);
  test_spin_until (uint_is_two, &n_incoming);

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  g_assert_false (g_socket_service_is_active (G_SOCKET_SERVICE (server)));
  /* (The cancelled accept finishes first. A client that connects before
   * it did may be accepted and dropped, as with GSocketService: GLib's
   * accept does not look at the cancellable before accept().) */
  test_spin_for (50);
  waiting = test_tcp_connect (port);
  client_send (waiting, "three\n");
  test_spin_for (200);
  g_assert_cmpuint (accepted.channels->len, ==, 2);

  g_socket_service_start (G_SOCKET_SERVICE (server));
  got = client_read (waiting, "\n");
  g_assert_cmpstr (got, ==, "echo: three\n");
  g_assert_cmpuint (accepted.channels->len, ==, 3);
  g_assert_cmpuint (n_incoming, ==, 3);
  g_assert_false (achat_server_get_backing_off (server));

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  for (i = 0; i < accepted.channels->len; i++)
    achat_channel_close (accepted.channels->pdata[i]);
  g_assert_cmpuint (accepted.n_closed, ==, 3);
  g_ptr_array_unref (accepted.channels);
}

static void
count_accept_failed (AchatServer  *server,
                     const GError *error,
                     guint        *n_failed)
{
  (*n_failed)++;
}

/* A stop and a start whose notifications GObject merged (frozen, or one
 * g_object_set()): the server cannot tell them from nothing, but
 * GSocketService's loop started; only one loop accepts (two would fight
 * over each connection, GSocketService's warning about each it lost). */
static void
test_server_stop_start_merged (void)
{
  Accepted accepted = { g_ptr_array_new_with_free_func (g_object_unref), 0 };
  g_autoptr(AchatServer) server = NULL;
  guint16 port;
  guint i, round;

  server = test_loopback_server (G_TYPE_INVALID, &port);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_channel_accepted), &accepted);

  for (round = 0; round < 2; round++)
    {
      if (round == 0)
        {
          g_object_freeze_notify (G_OBJECT (server));
          g_socket_service_stop (G_SOCKET_SERVICE (server));
          g_socket_service_start (G_SOCKET_SERVICE (server));
          g_object_thaw_notify (G_OBJECT (server));
        }
      else
        {
          g_object_set (server, "active", FALSE, "active", TRUE, NULL);
        }
      /* (GSocketService's loop restarts: its cancelled accept finishes
       * first, as in /server/stop-start.) */
      test_spin_for (50);

      for (i = 0; i < 20; i++)
        {
          g_autoptr(GSocket) client = test_tcp_connect (port);
          g_autofree gchar *got = NULL;

          client_send (client, "merged\n");
          got = client_read (client, "\n");
          g_assert_cmpstr (got, ==, "echo: merged\n");
        }
    }
  g_assert_cmpuint (accepted.channels->len, ==, 40);

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  for (i = 0; i < accepted.channels->len; i++)
    achat_channel_close (accepted.channels->pdata[i]);
  g_ptr_array_unref (accepted.channels);
}

/* A listening socket of the application's own (no ::event names it to the
 * server): GSocketService's loop accepts on it. Closing the listener
 * under a running server ends the watch quietly: no failed accept. */
static void
test_server_own_socket_and_close (void)
{
  Accepted accepted = { g_ptr_array_new_with_free_func (g_object_unref), 0 };
  g_autoptr(AchatServer) server = achat_server_new (ACHAT_TYPE_CHANNEL);
  g_autoptr(AchatServer) second_server = NULL;
  g_autoptr(GSocket) listening = NULL;
  g_autoptr(GSocket) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree gchar *got = NULL;
  guint n_failed = 0;
  guint16 port;
  guint i;

  listening = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listening, address, TRUE, &error));
  g_assert_true (g_socket_listen (listening, &error));
  bound = g_socket_get_local_address (listening, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_listener_add_socket (G_SOCKET_LISTENER (server), listening, NULL, &error));
  g_assert_no_error (error);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_channel_accepted), &accepted);

  client = test_tcp_connect (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  client_send (client, "mine\n");
  got = client_read (client, "\n");
  g_assert_cmpstr (got, ==, "echo: mine\n");
  g_socket_service_stop (G_SOCKET_SERVICE (server));

  second_server = test_loopback_server (G_TYPE_INVALID, &port);
  g_signal_connect (second_server, "accept-failed", G_CALLBACK (count_accept_failed), &n_failed);
  g_socket_listener_close (G_SOCKET_LISTENER (second_server));
  test_spin_for (100);
  g_assert_cmpuint (n_failed, ==, 0);
  g_assert_false (achat_server_get_backing_off (second_server));
  g_socket_service_stop (G_SOCKET_SERVICE (second_server));

  for (i = 0; i < accepted.channels->len; i++)
    achat_channel_close (accepted.channels->pdata[i]);
  g_ptr_array_unref (accepted.channels);
}

/* A subclass that sets its own terminator in init, as a server's
 * channel-type. */
#define TEST_TYPE_LINE_CHANNEL (test_line_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestLineChannel, test_line_channel, TEST, LINE_CHANNEL, AchatChannel)

struct _TestLineChannel
{
  AchatChannel parent_instance;
  guint n_lines;
};

G_DEFINE_FINAL_TYPE (TestLineChannel, test_line_channel, ACHAT_TYPE_CHANNEL)

static guint n_line_channels_finalized;

static void
test_line_channel_terminator_found (AchatChannel *channel,
                                    GBytes       *message)
{
  TestLineChannel *self = TEST_LINE_CHANNEL (channel);
  g_autofree gchar *reply = NULL;

  self->n_lines++;
  reply = g_strdup_printf ("%u:%.*s\r\n", self->n_lines,
                           (int) g_bytes_get_size (message),
                           (const gchar *) g_bytes_get_data (message, NULL));
  achat_channel_push (channel, (const guint8 *) reply, strlen (reply));
}

static void
test_line_channel_finalize (GObject *object)
{
  n_line_channels_finalized++;
  G_OBJECT_CLASS (test_line_channel_parent_class)->finalize (object);
}

static void
test_line_channel_class_init (TestLineChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_line_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->terminator_found = test_line_channel_terminator_found;
}

static void
test_line_channel_init (TestLineChannel *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\r\n", 2);
}

static void
store_channel (AchatServer   *server,
               AchatChannel  *channel,
               AchatChannel **out)
{
  g_assert_null (*out);
  *out = channel;
  g_object_add_weak_pointer (G_OBJECT (channel), (gpointer *) out);
}

static gboolean
pointer_is_null (gpointer user_data)
{
  return *(gpointer *) user_data == NULL;
}

static void
test_server_channel_type (void)
{
  g_autoptr(AchatServer) server = NULL;
  g_autoptr(GSocket) client = NULL;
  g_autofree gchar *got = NULL;
  AchatChannel *channel = NULL;
  GType type = G_TYPE_INVALID;
  guint16 port;

  server = test_loopback_server (TEST_TYPE_LINE_CHANNEL, &port);
  g_object_get (server, "channel-type", &type, NULL);
  g_assert_true (type == TEST_TYPE_LINE_CHANNEL);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (store_channel), &channel);

  client = test_tcp_connect (port);
  client_send (client, "one\r\ntwo\r\nthr");
  client_send (client, "ee\r\n");
  got = client_read (client, "3:three\r\n");
  g_assert_cmpstr (got, ==, "1:one\r\n2:two\r\n3:three\r\n");

  g_assert_nonnull (channel);
  g_assert_true (TEST_IS_LINE_CHANNEL (channel));
  g_assert_cmpuint (TEST_LINE_CHANNEL (channel)->n_lines, ==, 3);
  g_assert_cmpuint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_BYTES);

  /* Nobody but the main loop holds the channel: when the client goes away
   * it closes and is finalized. */
  n_line_channels_finalized = 0;
  g_clear_object (&client);
  test_spin_until (pointer_is_null, &channel);
  g_assert_cmpuint (n_line_channels_finalized, ==, 1);

  g_socket_service_stop (G_SOCKET_SERVICE (server));
}

/* A burst of clients is not held back by a listen backlog of 10. */
static void
test_server_backlog (void)
{
  g_autoptr(AchatServer) server = NULL;
  GSocket *clients[300];
  gint backlog = 0;
  guint16 port;
  guint i;

  server = test_loopback_server (TEST_TYPE_LINE_CHANNEL, &port);
  g_object_get (server, "listen-backlog", &backlog, NULL);
  g_assert_cmpint (backlog, ==, ACHAT_SERVER_DEFAULT_BACKLOG);

  /* Connect them all before the server accepts any, then talk to each. */
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    clients[i] = test_tcp_connect (port);
  for (i = 0; i < G_N_ELEMENTS (clients); i++)
    {
      g_autofree gchar *got = NULL;

      client_send (clients[i], "hi\r\n");
      got = client_read (clients[i], "\r\n");
      g_assert_cmpstr (got, ==, "1:hi\r\n");
      g_object_unref (clients[i]);
    }
  g_socket_service_stop (G_SOCKET_SERVICE (server));
}

static void
test_server_channel_type_invalid (void)
{
  g_autoptr(AchatServer) server = achat_server_new (ACHAT_TYPE_CHANNEL);

  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*g_type_is_a*");
  achat_server_set_channel_type (server, G_TYPE_OBJECT);
  g_test_assert_expected_messages ();
  g_assert_true (achat_server_get_channel_type (server) == ACHAT_TYPE_CHANNEL);

  achat_server_set_channel_type (server, TEST_TYPE_LINE_CHANNEL);
  g_assert_true (achat_server_get_channel_type (server) == TEST_TYPE_LINE_CHANNEL);
}

/* Client side -------------------------------------------------------------- */

typedef struct
{
  AchatChannel *channel;
  GError *error;
  gboolean done;
  GSocketConnectable *source;   /* the callback's source object */
} ConnectResult;

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  ConnectResult *res = user_data;

  g_assert_true (G_IS_SOCKET_CONNECTABLE (source));
  g_set_object (&res->source, G_SOCKET_CONNECTABLE (source));
  /* Each connect with its own finish function. */
  if (g_async_result_is_tagged (result, achat_channel_connect_to_host_async))
    res->channel = achat_channel_connect_to_host_finish (result, &res->error);
  else
    res->channel = achat_channel_connect_finish (result, &res->error);
  res->done = TRUE;
}

static gboolean
connect_done (gpointer user_data)
{
  return ((ConnectResult *) user_data)->done;
}

static void
on_reply (AchatChannel *channel,
          GBytes       *message,
          GString      *replies)
{
  g_string_append_len (replies, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  g_string_append_c (replies, '|');
}

static gboolean
replies_complete (gpointer user_data)
{
  return g_str_has_suffix (((GString *) user_data)->str, "2:world|");
}

static void
test_connect_to_host (void)
{
  g_autoptr(AchatServer) server = NULL;
  g_autoptr(GString) replies = g_string_new (NULL);
  g_autofree gchar *host_and_port = NULL;
  ConnectResult res = { NULL, NULL, FALSE, NULL };
  guint16 port;

  server = test_loopback_server (TEST_TYPE_LINE_CHANNEL, &port);
  host_and_port = g_strdup_printf ("127.0.0.1:%u", port);
  achat_channel_connect_to_host_async (host_and_port, 1, NULL, connect_cb, &res);
  test_spin_until (connect_done, &res);
  g_assert_no_error (res.error);
  g_assert_true (ACHAT_IS_CHANNEL (res.channel));
  g_assert_nonnull (achat_channel_get_socket (res.channel));

  {
    g_autoptr(GSocketAddress) remote = achat_channel_get_remote_address (res.channel);

    g_assert_true (G_IS_INET_SOCKET_ADDRESS (remote));
    g_assert_cmpuint (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote)), ==, port);
  }

  achat_channel_set_terminator (res.channel, (const guint8 *) "\r\n", 2);
  g_signal_connect (res.channel, "terminator-found", G_CALLBACK (on_reply), replies);
  achat_channel_push (res.channel, (const guint8 *) "hello\r\nworld\r\n", 14);
  test_spin_until (replies_complete, replies);
  g_assert_cmpstr (replies->str, ==, "1:hello|2:world|");

  achat_channel_close (res.channel);
  g_assert_true (achat_channel_is_closed (res.channel));
  g_object_unref (res.channel);
  g_clear_object (&res.source);
  g_socket_service_stop (G_SOCKET_SERVICE (server));
}

static void
test_connect_refused (void)
{
  g_autofree gchar *host_and_port = NULL;
  ConnectResult res = { NULL, NULL, FALSE, NULL };
  guint16 port;

  /* A port that was free a moment ago and has no listener now. */
  {
    g_autoptr(AchatServer) server = test_loopback_server (G_TYPE_INVALID, &port);

    g_socket_service_stop (G_SOCKET_SERVICE (server));
    g_socket_listener_close (G_SOCKET_LISTENER (server));
  }

  host_and_port = g_strdup_printf ("127.0.0.1:%u", port);
  achat_channel_connect_to_host_async (host_and_port, 0, NULL, connect_cb, &res);
  test_spin_until (connect_done, &res);
  g_assert_null (res.channel);
  g_assert_error (res.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&res.error);
  g_clear_object (&res.source);
}

static void
test_connect_cancelled (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  ConnectResult res = { NULL, NULL, FALSE, NULL };

  g_cancellable_cancel (cancellable);
  achat_channel_connect_to_host_async ("127.0.0.1:9", 0, cancellable, connect_cb, &res);
  test_spin_until (connect_done, &res);
  g_assert_null (res.channel);
  g_assert_error (res.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&res.error);
  g_clear_object (&res.source);
}

/* A host the parser refuses fails in the callback, as GIO's connect does,
 * with a source object all the same: an address naming the string. */
static void
test_connect_bad_host (void)
{
  ConnectResult res = { NULL, NULL, FALSE, NULL };

  achat_channel_connect_to_host_async ("[::1", 0, NULL, connect_cb, &res);
  g_assert_false (res.done);
  test_spin_until (connect_done, &res);
  g_assert_null (res.channel);
  g_assert_error (res.error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_true (G_IS_NETWORK_ADDRESS (res.source));
  g_assert_cmpstr (g_network_address_get_hostname (G_NETWORK_ADDRESS (res.source)), ==, "[::1");
  g_clear_error (&res.error);
  g_clear_object (&res.source);
}

/* A thread with its own main context: channels accepted there run there. */
typedef struct
{
  guint16 port;
  GMainContext *context;
  GMainLoop *loop;
  AchatServer *server;
  GMainContext *channel_context;
  GThread *channel_thread;
  AchatChannel *channel;   /* weak */
} ThreadServer;

static void
thread_on_accepted (AchatServer  *server,
                    AchatChannel *channel,
                    ThreadServer *ts)
{
  ts->channel_context = achat_channel_get_context (channel);
  ts->channel_thread = g_thread_self ();
  ts->channel = channel;
  g_object_add_weak_pointer (G_OBJECT (channel), (gpointer *) &ts->channel);
}

static gpointer
server_thread (gpointer user_data)
{
  ThreadServer *ts = user_data;

  g_main_context_push_thread_default (ts->context);
  g_main_loop_run (ts->loop);
  g_main_context_pop_thread_default (ts->context);
  return NULL;
}

static void
test_server_thread_context (void)
{
  ThreadServer ts = { 0, };
  g_autoptr(GSocket) client = NULL;
  g_autofree gchar *got = NULL;
  GThread *thread;

  ts.context = g_main_context_new ();
  ts.loop = g_main_loop_new (ts.context, FALSE);
  g_main_context_push_thread_default (ts.context);
  ts.server = test_loopback_server (TEST_TYPE_LINE_CHANNEL, &ts.port);
  g_signal_connect (ts.server, "channel-accepted", G_CALLBACK (thread_on_accepted), &ts);
  g_main_context_pop_thread_default (ts.context);

  thread = g_thread_new ("server", server_thread, &ts);

  client = test_tcp_connect (ts.port);
  client_send (client, "ping\r\n");
  got = client_read (client, "\r\n");
  g_assert_cmpstr (got, ==, "1:ping\r\n");
  g_assert_true (ts.channel_context == ts.context);
  g_assert_true (ts.channel_thread == thread);

  g_main_loop_quit (ts.loop);
  g_thread_join (thread);

  g_main_context_push_thread_default (ts.context);
  g_socket_service_stop (G_SOCKET_SERVICE (ts.server));
  g_clear_object (&client);
  /* The channel sees EOF on its own context, closes and is freed. */
  test_spin_until (pointer_is_null, &ts.channel);
  g_clear_object (&ts.server);
  g_main_context_pop_thread_default (ts.context);

  g_main_loop_unref (ts.loop);
  g_main_context_unref (ts.context);
}

/* A client-side subclass, to see the type asked for made. */
#define TEST_TYPE_CLIENT_CHANNEL (test_client_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestClientChannel, test_client_channel, TEST, CLIENT_CHANNEL, AchatChannel)

struct _TestClientChannel
{
  AchatChannel parent_instance;
};

G_DEFINE_FINAL_TYPE (TestClientChannel, test_client_channel, ACHAT_TYPE_CHANNEL)

static void
test_client_channel_class_init (TestClientChannelClass *klass)
{
}

static void
test_client_channel_init (TestClientChannel *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\r\n", 2);
}

/* achat_channel_connect_async(): any GSocketConnectable (here a Unix
 * socket, which connect_to_host cannot reach), the application's
 * GSocketClient, and a channel of the type asked for; a path nobody
 * listens on fails with the GError of GIO's connect. */
static void
test_connect_connectable (void)
{
  g_autoptr(AchatServer) server = achat_server_new (TEST_TYPE_LINE_CHANNEL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) nobody = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GString) replies = g_string_new (NULL);
  g_autofree gchar *dir = g_dir_make_tmp ("achat-connect-XXXXXX", &error);
  g_autofree gchar *path = NULL;
  g_autofree gchar *nobody_path = NULL;
  ConnectResult res = { NULL, NULL, FALSE, NULL };

  g_assert_no_error (error);
  path = g_build_filename (dir, "server", NULL);
  nobody_path = g_build_filename (dir, "nobody", NULL);
  address = g_unix_socket_address_new (path);
  g_socket_listener_add_address (G_SOCKET_LISTENER (server), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &error);
  g_assert_no_error (error);

  g_socket_client_set_timeout (client, 10);
  achat_channel_connect_async (G_SOCKET_CONNECTABLE (address), client, TEST_TYPE_CLIENT_CHANNEL,
                               NULL, connect_cb, &res);
  test_spin_until (connect_done, &res);
  g_assert_no_error (res.error);
  g_assert_true (TEST_IS_CLIENT_CHANNEL (res.channel));
  g_assert_true (G_IS_UNIX_CONNECTION (achat_channel_get_stream (res.channel)));
  g_assert_true (res.source == G_SOCKET_CONNECTABLE (address));
  g_clear_object (&res.source);
  g_signal_connect (res.channel, "terminator-found", G_CALLBACK (on_reply), replies);
  achat_channel_push (res.channel, (const guint8 *) "hello\r\nworld\r\n", 14);
  test_spin_until (replies_complete, replies);
  g_assert_cmpstr (replies->str, ==, "1:hello|2:world|");
  achat_channel_close (res.channel);
  g_clear_object (&res.channel);

  /* The default client and the default type. */
  res.done = FALSE;
  nobody = g_unix_socket_address_new (nobody_path);
  achat_channel_connect_async (G_SOCKET_CONNECTABLE (nobody), NULL, G_TYPE_INVALID,
                               NULL, connect_cb, &res);
  test_spin_until (connect_done, &res);
  g_assert_null (res.channel);
  g_assert_nonnull (res.error);
  g_assert_true (res.error->domain == G_IO_ERROR);
  g_assert_true (res.source == G_SOCKET_CONNECTABLE (nobody));
  g_clear_error (&res.error);
  g_clear_object (&res.source);

  /* Not a channel type: a programming error. */
  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*g_type_is_a (channel_type, ACHAT_TYPE_CHANNEL)*");
  achat_channel_connect_async (G_SOCKET_CONNECTABLE (address), NULL, G_TYPE_OBJECT,
                               NULL, connect_cb, &res);
  g_test_assert_expected_messages ();

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/server/echo-clients", test_server_echo_clients);
  g_test_add_func ("/server/stop-start", test_server_stop_start);
  g_test_add_func ("/server/stop-start-merged", test_server_stop_start_merged);
  g_test_add_func ("/server/own-socket-and-close", test_server_own_socket_and_close);
  g_test_add_func ("/server/channel-type", test_server_channel_type);
  g_test_add_func ("/server/channel-type-invalid", test_server_channel_type_invalid);
  g_test_add_func ("/server/backlog", test_server_backlog);
  g_test_add_func ("/server/thread-context", test_server_thread_context);
  g_test_add_func ("/client/connect-to-host", test_connect_to_host);
  g_test_add_func ("/client/connect-refused", test_connect_refused);
  g_test_add_func ("/client/connect-cancelled", test_connect_cancelled);
  g_test_add_func ("/client/connect-bad-host", test_connect_bad_host);
  g_test_add_func ("/client/connect-connectable", test_connect_connectable);

  return g_test_run ();
}
