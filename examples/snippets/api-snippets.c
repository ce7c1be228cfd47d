/* api-snippets.c: the code examples of the API reference, compiled and run
 *
 * Each region between "snippet-begin NAME" and "snippet-end NAME" is shown
 * in a doc comment in achat/ (build-aux/check-docs.py checks that they are
 * the same text); the code around the regions gives them what they need
 * and checks that they do what the comments say. Speaks TAP.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

static void
spin_until (gboolean *done)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  while (!*done)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

/* AchatChannel's class documentation --------------------------------------- */

/* snippet-begin channel-overview-handler */
static void
on_line (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (line, &len);

  achat_channel_push (channel, (const guint8 *) "you said: ", 10);
  achat_channel_push (channel, data, len);
  achat_channel_push (channel, (const guint8 *) "\r\n", 2);
}
/* snippet-end channel-overview-handler */

static void
test_channel_overview (void)
{
  int fds[2];
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  char reply[64] = { 0, };
  gsize got = 0;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM, 0, fds));
  socket = g_socket_new_from_fd (fds[0], NULL);
  connection = g_socket_connection_factory_create_connection (socket);
  {
    /* snippet-begin channel-overview-setup */
    AchatChannel *channel = achat_channel_new_for_stream (G_IO_STREAM (connection));
    achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
    g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line), NULL);
    /* snippet-end channel-overview-setup */

    g_assert_cmpint (write (fds[1], "hi\r\n", 4), ==, 4);
    while (got < 14)
      {
        gssize n;

        g_main_context_iteration (NULL, TRUE);
        n = recv (fds[1], reply + got, sizeof reply - 1 - got, MSG_DONTWAIT);
        if (n > 0)
          got += n;
      }
    g_assert_cmpstr (reply, ==, "you said: hi\r\n");
    achat_channel_close (channel);
    g_object_unref (channel);
  }
  close (fds[1]);
}

/* AchatChannel::output-drained ---------------------------------------------- */

typedef struct
{
  guint left;
} MySource;

static gboolean
my_source_has_more (MySource *source)
{
  return source->left > 0;
}

static GBytes *
my_source_next_chunk (MySource *source)
{
  source->left--;
  return g_bytes_new_take (g_malloc0 (64 * 1024), 64 * 1024);
}

/* snippet-begin output-drained */
static void
send_more (AchatChannel *channel, gpointer user_data)
{
  MySource *source = user_data;

  while (!achat_channel_is_output_full (channel) && my_source_has_more (source))
    {
      g_autoptr(GBytes) chunk = my_source_next_chunk (source);

      achat_channel_push_bytes (channel, chunk);
    }
}
/* snippet-end output-drained */

static void
test_output_drained (void)
{
  int fds[2];
  g_autoptr(GSocket) socket = NULL;
  AchatChannel *channel;
  MySource stack_source = { 64 };   /* 4 MiB in all */
  MySource *source = &stack_source;
  gsize got = 0;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM, 0, fds));
  socket = g_socket_new_from_fd (fds[0], NULL);
  channel = achat_channel_new (socket);
  achat_channel_set_output_watermarks (channel, 64 * 1024, 256 * 1024);

  /* snippet-begin output-drained-connect */
  g_signal_connect (channel, "output-drained", G_CALLBACK (send_more), source);
  send_more (channel, source);
  /* snippet-end output-drained-connect */

  g_assert_true (achat_channel_is_output_full (channel));
  while (got < 64 * 64 * 1024)
    {
      char buffer[65536];
      gssize n;

      g_main_context_iteration (NULL, FALSE);
      n = recv (fds[1], buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0)
        got += n;
    }
  g_assert_cmpuint (source->left, ==, 0);
  achat_channel_close (channel);
  g_object_unref (channel);
  close (fds[1]);
}

/* achat_channel_read_message_async() ---------------------------------------- */

static gsize n_read;

static void on_closed (AchatChannel *channel, const GError *error, gpointer user_data);

static void
count_bytes (AchatChannel *channel, GBytes *data, gpointer user_data)
{
  n_read += g_bytes_get_size (data);
}

/* snippet-begin read-message */
static void
on_message (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message =
    achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, &error);

  if (message != NULL)
    achat_channel_read_message_async (ACHAT_CHANNEL (source), NULL, on_message, user_data);
  else if (error != NULL)
    g_warning ("%s", error->message);   // reset, limit, a message cut short...
  // else the peer closed cleanly
}
/* snippet-end read-message */

static void
test_read_message (void)
{
  int fds[2];
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(AchatChannel) channel = NULL;
  gboolean closed = FALSE;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM, 0, fds));
  socket = g_socket_new_from_fd (fds[0], NULL);
  channel = achat_channel_new (socket);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "data-collected", G_CALLBACK (count_bytes), NULL);
  g_signal_connect (channel, "closed", G_CALLBACK (on_closed), &closed);
  achat_channel_read_message_async (channel, NULL, on_message, NULL);
  g_assert_cmpint (write (fds[1], "one\ntwo\nthree\n", 14), ==, 14);
  close (fds[1]);
  spin_until (&closed);
  g_assert_cmpuint (n_read, ==, 11);
}

/* A header that gives the length of what follows, in the pull style: a
 * Redis bulk string, "$5\r\nhello\r\n". */

static GBytes *bulk_body;

/* snippet-begin read-framed */
static void
on_body (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  GBytes *body = achat_channel_read_bytes_finish (ACHAT_CHANNEL (source), result, &error);

  if (body != NULL)
    bulk_body = g_bytes_new_from_bytes (body, 0, g_bytes_get_size (body) - 2);   // "hello"
  g_clear_pointer (&body, g_bytes_unref);
}

static void
on_header (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AchatChannel *channel = ACHAT_CHANNEL (source);
  g_autoptr(GBytes) header = achat_channel_read_line_finish (channel, result, NULL);
  g_autofree gchar *text = NULL;

  if (header == NULL || g_bytes_get_size (header) < 2)
    return;
  text = g_strndup (g_bytes_get_data (header, NULL), g_bytes_get_size (header));   // "$5"
  // The body and its "\r\n", framed when this read asks, whenever the
  // bytes came: the header and the body may have come in one read.
  achat_channel_read_bytes_async (channel, g_ascii_strtoull (text + 1, NULL, 10) + 2,
                                  NULL, on_body, user_data);
}
/* snippet-end read-framed */

static void
test_read_framed (void)
{
  int fds[2];
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(AchatChannel) channel = NULL;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM, 0, fds));
  socket = g_socket_new_from_fd (fds[0], NULL);
  channel = achat_channel_new (socket);
  g_assert_cmpint (write (fds[1], "$5\r\nhello\r\n", 11), ==, 11);
  /* The bytes came before the first read: they wait for it. */
  while (achat_channel_get_bytes_received (channel) < 11)
    g_main_context_iteration (NULL, TRUE);
  achat_channel_read_line_async (channel, NULL, on_header, NULL);
  while (bulk_body == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpmem (g_bytes_get_data (bulk_body, NULL), g_bytes_get_size (bulk_body), "hello", 5);
  g_clear_pointer (&bulk_body, g_bytes_unref);
  achat_channel_close (channel);
  close (fds[1]);
}

/* AchatServer ---------------------------------------------------------------- */

static void
on_accepted (AchatServer *server, AchatChannel *channel, gpointer user_data)
{
  AchatChannel **accepted = user_data;

  *accepted = g_object_ref (channel);
}

static void
on_closed (AchatChannel *channel, const GError *error, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

static void
test_server_loopback (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AchatChannel) accepted = NULL;
  gboolean closed = FALSE;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  /* snippet-begin server-loopback */
  g_autoptr(AchatServer) server = achat_server_new (ACHAT_TYPE_CHANNEL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &bound, &error);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_accepted), &accepted);
  g_socket_service_start (G_SOCKET_SERVICE (server));
  /* snippet-end server-loopback */

  g_assert_no_error (error);
  connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (bound), NULL, &error);
  g_assert_no_error (error);
  while (accepted == NULL)
    g_main_context_iteration (NULL, TRUE);

  /* The client hangs up: the channel closes and lets go of itself. */
  g_signal_connect (accepted, "closed", G_CALLBACK (on_closed), &closed);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  spin_until (&closed);
  g_socket_service_stop (G_SOCKET_SERVICE (server));
}

/* AchatSimpleProducer and achat_find_prefix_at_end() ------------------------ */

static void
test_simple_producer (void)
{
  g_autoptr(GBytes) first = NULL;
  /* snippet-begin simple-producer */
  g_autoptr(GBytes) body = g_bytes_new_static ("hello world!", 12);
  g_autoptr(AchatSimpleProducer) producer = achat_simple_producer_new (body, 5);
  // more() returns "hello", " worl", "d!", then NULL
  /* snippet-end simple-producer */

  first = achat_producer_more (ACHAT_PRODUCER (producer));
  g_assert_cmpmem (g_bytes_get_data (first, NULL), g_bytes_get_size (first), "hello", 5);
}

static void
test_find_prefix (void)
{
  gsize n =
    /* snippet-begin find-prefix */
    achat_find_prefix_at_end ((const guint8 *) "qwerty\r", 7,
                              (const guint8 *) "\r\n", 2);   // 1
    /* snippet-end find-prefix */

  g_assert_cmpuint (n, ==, 1);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/snippets/channel-overview", test_channel_overview);
  g_test_add_func ("/snippets/output-drained", test_output_drained);
  g_test_add_func ("/snippets/server-loopback", test_server_loopback);
  g_test_add_func ("/snippets/read-message", test_read_message);
  g_test_add_func ("/snippets/read-framed", test_read_framed);
  g_test_add_func ("/snippets/simple-producer", test_simple_producer);
  g_test_add_func ("/snippets/find-prefix", test_find_prefix);

  return g_test_run ();
}
