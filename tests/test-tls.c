/* test-tls.c: channels over TLS, STARTTLS on both sides, the plaintext
 * injection rule, certificate decisions, and real TLS peers (openssl)
 *
 * The certificate is made by `openssl req` when the test starts; both ends
 * of a socket pair run in this process, except in the /tls/openssl/ tests,
 * where the peer is `openssl s_client` or `openssl s_server` on a loopback port the
 * kernel picked.
 *
 * Specifies: achat/achat-channel-tls.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <achat/achat.h>
#include <glib/gstdio.h>

#include "test-producer.h"
#include "test-util.h"

static gchar *tmpdir;
static gchar *cert_file;
static gchar *key_file;
static GTlsCertificate *server_cert;
static GTlsDatabase *trust;

/* One end of a conversation ------------------------------------------------ */

typedef struct
{
  AchatChannel *channel;
  gboolean server;
  GPtrArray *messages;             /* of gchar*, as received */
  gboolean tls_done;
  gboolean tls_ok;
  GError *tls_error;
  gboolean closed;
  GError *closed_error;
  /* what the tls-handshaking handler does */
  gboolean trust_test_ca;
  gint accept_answer;              /* -1: no accept-certificate handler */
  guint n_accept_calls;
  GTlsCertificateFlags accept_errors;
  /* client: what it does right after asking for TLS */
  gboolean push_after_start;
  gboolean close_after_start;
  /* server: no echo */
  gboolean silent;
} Peer;

static void peer_start_tls (Peer *peer);

static void
on_accept_certificate (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       Peer                 *peer)
{
  peer->n_accept_calls++;
  peer->accept_errors = errors;
}

static gboolean
accept_certificate_cb (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  Peer *peer = user_data;

  on_accept_certificate (connection, certificate, errors, peer);
  return peer->accept_answer > 0;
}

static void
on_tls_handshaking (AchatChannel   *channel,
                    GTlsConnection *connection,
                    Peer           *peer)
{
  g_assert_true (achat_channel_get_tls_connection (channel) == connection);
  if (peer->trust_test_ca)
    g_tls_connection_set_database (connection, trust);
  if (peer->accept_answer >= 0)
    g_signal_connect (connection, "accept-certificate", G_CALLBACK (accept_certificate_cb), peer);
}

static void
on_terminator_found (AchatChannel *channel,
                     GBytes       *message,
                     Peer         *peer)
{
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);
  gchar *text = g_strndup (data, length);

  g_ptr_array_add (peer->messages, text);

  if (peer->server)
    {
      if (g_str_equal (text, "STARTTLS"))
        {
          g_assert_true (achat_channel_push (channel, (const guint8 *) "220 go\r\n", 8));
          peer_start_tls (peer);
        }
      else if (!peer->silent)
        {
          g_autofree gchar *reply = g_strdup_printf ("echo:%s\r\n", text);

          achat_channel_push (channel, (const guint8 *) reply, strlen (reply));
        }
    }
  else if (g_str_equal (text, "220 go"))
    {
      peer_start_tls (peer);
      if (peer->push_after_start)
        g_assert_true (achat_channel_push (channel, (const guint8 *) "hello\r\n", 7));
      if (peer->close_after_start)
        achat_channel_close_when_done (channel);
    }
}

static void
on_closed (AchatChannel *channel,
           const GError *error,
           Peer         *peer)
{
  g_assert_false (peer->closed);
  peer->closed = TRUE;
  if (error != NULL)
    peer->closed_error = g_error_copy (error);
}

static void
tls_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  Peer *peer = user_data;

  g_assert_false (peer->tls_done);
  peer->tls_done = TRUE;
  if (peer->server)
    peer->tls_ok = achat_channel_start_tls_server_finish (ACHAT_CHANNEL (source), result,
                                                          &peer->tls_error);
  else
    peer->tls_ok = achat_channel_start_tls_client_finish (ACHAT_CHANNEL (source), result,
                                                          &peer->tls_error);
  g_assert_true (peer->tls_ok == (peer->tls_error == NULL));
}

static void
peer_start_tls (Peer *peer)
{
  if (peer->server)
    achat_channel_start_tls_server_async (peer->channel, server_cert, NULL, tls_done_cb, peer);
  else
    {
      g_autoptr(GSocketConnectable) identity = g_network_address_new ("localhost", 0);

      achat_channel_start_tls_client_async (peer->channel, identity, NULL, tls_done_cb, peer);
    }
}

static Peer *
peer_new (AchatChannel *channel,
          gboolean      server)
{
  Peer *peer = g_new0 (Peer, 1);

  peer->channel = channel;
  peer->server = server;
  peer->messages = g_ptr_array_new_with_free_func (g_free);
  peer->trust_test_ca = TRUE;
  peer->accept_answer = -1;
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_terminator_found), peer);
  g_signal_connect (channel, "closed", G_CALLBACK (on_closed), peer);
  g_signal_connect (channel, "tls-handshaking", G_CALLBACK (on_tls_handshaking), peer);
  return peer;
}

static void
peer_free (Peer *peer)
{
  if (!achat_channel_is_closed (peer->channel))
    achat_channel_close (peer->channel);
  g_signal_handlers_disconnect_by_data (peer->channel, peer);
  g_object_unref (peer->channel);
  g_ptr_array_unref (peer->messages);
  g_clear_error (&peer->tls_error);
  g_clear_error (&peer->closed_error);
  g_free (peer);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Peer, peer_free)

static gchar *
peer_log (Peer *peer)
{
  gchar *log;

  g_ptr_array_add (peer->messages, NULL);
  log = g_strjoinv ("|", (gchar **) peer->messages->pdata);
  g_ptr_array_remove_index (peer->messages, peer->messages->len - 1);
  return log;
}

static gboolean
peer_tls_done (gpointer user_data)
{
  return ((Peer *) user_data)->tls_done;
}

static gboolean
peer_closed (gpointer user_data)
{
  return ((Peer *) user_data)->closed;
}

typedef struct
{
  Peer *peer;
  guint n;
} WaitMessages;

static gboolean
has_messages (gpointer user_data)
{
  WaitMessages *wait = user_data;

  return wait->peer->messages->len >= wait->n;
}

static void
wait_messages (Peer  *peer,
               guint  n)
{
  WaitMessages wait = { peer, n };

  test_spin_until (has_messages, &wait);
}

/* Two channels over a socket pair. */
static void
make_pair (AchatChannel **server,
           AchatChannel **client)
{
  g_autoptr(GError) error = NULL;
  int peer_fd;
  g_autoptr(GSocket) a = test_socket_pair (&peer_fd);
  g_autoptr(GSocket) b = g_socket_new_from_fd (peer_fd, &error);

  g_assert_no_error (error);
  *server = achat_channel_new (a);
  *client = achat_channel_new (b);
}

/* A server and a client over a socket pair. */
static void
peers_new (Peer **server,
           Peer **client)
{
  AchatChannel *s, *c;

  make_pair (&s, &c);
  *server = peer_new (s, TRUE);
  *client = peer_new (c, FALSE);
}

/* STARTTLS between two channels ---------------------------------------- */

static void
test_starttls_both_sides (void)
{
  AchatChannel *s, *c;
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;
  g_autofree gchar *server_log = NULL;
  g_autofree gchar *client_log = NULL;
  GTlsCertificate *peer_cert;

  peers_new (&server, &client);
  s = server->channel;
  c = client->channel;
  client->push_after_start = TRUE;

  g_assert_null (achat_channel_get_tls_connection (c));
  achat_channel_push (c, (const guint8 *) "STARTTLS\r\n", 10);
  wait_messages (client, 2);   /* "220 go", then the echo of hello */

  g_assert_true (server->tls_done && server->tls_ok);
  g_assert_true (client->tls_done && client->tls_ok);
  server_log = peer_log (server);
  client_log = peer_log (client);
  g_assert_cmpstr (server_log, ==, "STARTTLS|hello");
  g_assert_cmpstr (client_log, ==, "220 go|echo:hello");

  /* Both run over TLS now, and the stream property says so. */
  g_assert_nonnull (achat_channel_get_tls_connection (s));
  g_assert_true (G_IS_TLS_SERVER_CONNECTION (achat_channel_get_tls_connection (s)));
  g_assert_true (G_IS_TLS_CLIENT_CONNECTION (achat_channel_get_tls_connection (c)));
  g_assert_true (achat_channel_get_stream (c) == G_IO_STREAM (achat_channel_get_tls_connection (c)));
  peer_cert = g_tls_connection_get_peer_certificate (achat_channel_get_tls_connection (c));
  g_assert_true (g_tls_certificate_is_same (peer_cert, server_cert));

  /* The terminator state carried on: a count set before more traffic. */
  achat_channel_set_terminator_count (s, 5);
  achat_channel_push (c, (const guint8 *) "12345", 5);
  wait_messages (server, 3);
  g_assert_cmpstr (g_ptr_array_index (server->messages, 2), ==, "12345");

  /* A second switch is refused, the channel keeps running. */
  server->tls_done = FALSE;
  peer_start_tls (server);
  test_spin_until (peer_tls_done, server);
  g_assert_error (server->tls_error, ACHAT_ERROR, ACHAT_ERROR_FAILED);
  g_assert_false (achat_channel_is_closed (s));

  achat_channel_close_when_done (c);
  test_spin_until (peer_closed, server);
  g_assert_no_error (server->closed_error);
  g_assert_true (client->closed);
  g_assert_no_error (client->closed_error);
}

/* A big transfer through a switched channel, both ways: reads that stop in
 * the middle of TLS records, a producer, a counted body. */
static void
test_starttls_bulk (void)
{
  AchatChannel *s, *c;
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;
  g_autoptr(TestProducer) producer = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  /* Under a memory tool every allocation of the TLS library unwinds the
   * stack: a smaller transfer, still many TLS records long. */
  const guint64 size = g_getenv ("ACHAT_TEST_MEMORY_TOOL") ? 200 * 1024 + 17
                                                           : 3 * 1024 * 1024 + 17;

  pattern_init ();
  peers_new (&server, &client);
  s = server->channel;
  c = client->channel;
  achat_channel_push (c, (const guint8 *) "STARTTLS\r\n", 10);
  test_spin_until (peer_tls_done, client);
  g_assert_true (client->tls_ok);
  test_spin_until (peer_tls_done, server);
  g_assert_true (server->tls_ok);

  /* The server sends a producer's worth; the client reads it as one
   * counted message. */
  g_signal_handlers_disconnect_by_data (c, client);
  g_signal_connect (c, "closed", G_CALLBACK (on_closed), client);
  achat_channel_set_max_input_size (c, 0);
  achat_channel_set_terminator_count (c, size);
  recorder = test_recorder_new (c, FALSE);
  producer = test_producer_new_pattern (0, size, 40000, TRUE);
  g_assert_true (achat_channel_push_with_producer (s, ACHAT_PRODUCER (producer)));
  achat_channel_close_when_done (s);
  test_recorder_wait_closed (recorder);
  g_assert_cmpuint (recorder->n_found, ==, 1);
  g_assert_cmpuint (producer->produced, ==, size);
  g_assert_cmpuint (achat_channel_get_bytes_received (c), ==, size + strlen ("220 go\r\n"));
  g_assert_true (g_str_has_prefix (recorder->log->str, "T("));
  g_assert_true (g_str_has_suffix (recorder->log->str, ") closed"));
}

/* The client sent more after STARTTLS without waiting: CVE-2011-0411. */
static void
test_starttls_injection_server (void)
{
  static const gchar injected[] = "STARTTLS\r\nRCPT TO:<evil>\r\n";
  g_autoptr(GError) error = NULL;
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(Peer) server = NULL;
  g_autoptr(GByteArray) reply = NULL;
  g_autofree gchar *log = NULL;
  gchar byte;

  /* One write, before the channel reads anything: one read gets both. */
  test_peer_write (peer_fd, injected, strlen (injected));
  server = peer_new (achat_channel_new (socket), TRUE);
  test_spin_until (peer_tls_done, server);

  g_assert_false (server->tls_ok);
  g_assert_error (server->tls_error, ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS);
  g_assert_nonnull (strstr (server->tls_error->message, "16 bytes"));
  g_assert_true (server->closed);
  g_assert_error (server->closed_error, ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS);
  log = peer_log (server);
  g_assert_cmpstr (log, ==, "STARTTLS");   /* the injected command never came out */
  g_assert_null (achat_channel_get_tls_connection (server->channel));

  /* The go-ahead was written (in plaintext), then the connection closed. */
  reply = test_peer_read (peer_fd, 8);
  g_assert_cmpmem (reply->data, reply->len, "220 go\r\n", 8);
  g_assert_cmpint (read (peer_fd, &byte, 1), ==, 0);
  close (peer_fd);
  (void) error;
}

/* The server (or someone on the path) sent more after its go-ahead. */
static void
test_starttls_injection_client (void)
{
  static const gchar injected[] = "220 go\r\nINJECTED\r\n";
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(Peer) client = NULL;
  g_autofree gchar *log = NULL;

  test_peer_write (peer_fd, injected, strlen (injected));
  client = peer_new (achat_channel_new (socket), FALSE);
  test_spin_until (peer_tls_done, client);

  g_assert_error (client->tls_error, ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS);
  g_assert_nonnull (strstr (client->tls_error->message, "10 bytes"));
  g_assert_true (client->closed);
  g_assert_error (client->closed_error, ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS);
  log = peer_log (client);
  g_assert_cmpstr (log, ==, "220 go");
  close (peer_fd);
}

/* In the pull style, the injected line may already be a message waiting
 * for the next read when the application asks for TLS: it counts too. */
typedef struct
{
  AchatChannel *channel;
  GPtrArray *read;
  gboolean tls_done;
  GError *tls_error;
} PullClient;

static void
pull_tls_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  PullClient *client = user_data;

  achat_channel_start_tls_client_finish (ACHAT_CHANNEL (source), result, &client->tls_error);
  client->tls_done = TRUE;
}

static void
pull_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  PullClient *client = user_data;
  g_autoptr(GBytes) message = achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, NULL);
  g_autofree gchar *text = NULL;

  if (message == NULL)
    return;
  text = g_strndup (g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  g_ptr_array_add (client->read, g_strdup (text));
  if (g_str_equal (text, "220 go"))
    {
      g_autoptr(GSocketConnectable) identity = g_network_address_new ("localhost", 0);

      achat_channel_start_tls_client_async (client->channel, identity, NULL, pull_tls_cb, client);
    }
}

static gboolean
pull_client_has (gpointer user_data)
{
  PullClient *client = user_data;

  return client->read->len >= 1;
}

static gboolean
pull_client_tls_done (gpointer user_data)
{
  return ((PullClient *) user_data)->tls_done;
}

static void
test_starttls_injection_pull (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  PullClient client = { channel, g_ptr_array_new_with_free_func (g_free), FALSE, NULL };

  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  /* Pull mode, one message read; the next ones wait for reads. */
  achat_channel_read_message_async (channel, NULL, pull_read_cb, &client);
  test_peer_write (peer_fd, "hello\r\n", 7);
  test_spin_until (pull_client_has, &client);
  test_peer_write (peer_fd, "220 go\r\nINJECTED\r\n", 18);
  test_spin_for (50);   /* "220 go" waits for a read, input is held */
  achat_channel_read_message_async (channel, NULL, pull_read_cb, &client);
  test_spin_until (pull_client_tls_done, &client);
  g_assert_error (client.tls_error, ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS);
  g_assert_true (achat_channel_is_closed (channel));
  g_assert_cmpuint (client.read->len, ==, 2);
  g_assert_cmpstr (client.read->pdata[1], ==, "220 go");

  /* The injected line is never read. */
  client.tls_done = FALSE;
  achat_channel_read_message_async (channel, NULL, pull_read_cb, &client);
  test_spin_for (20);
  g_assert_cmpuint (client.read->len, ==, 2);
  g_clear_error (&client.tls_error);
  g_ptr_array_unref (client.read);
  close (peer_fd);
}

/* A partial line counts too: the bytes are held, not yet a message. */
static void
test_starttls_injection_partial (void)
{
  static const gchar injected[] = "STARTTLS\r\nRC";
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(Peer) server = NULL;

  test_peer_write (peer_fd, injected, strlen (injected));
  server = peer_new (achat_channel_new (socket), TRUE);
  test_spin_until (peer_tls_done, server);
  g_assert_error (server->tls_error, ACHAT_ERROR, ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS);
  g_assert_nonnull (strstr (server->tls_error->message, "2 bytes"));
  close (peer_fd);
}

/* Plaintext that arrives after the reads stopped is read by the TLS layer:
 * the handshake fails on it, it is never delivered. */
static void
test_starttls_plaintext_instead_of_handshake (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(Peer) server = NULL;
  g_autofree gchar *log = NULL;

  server = peer_new (achat_channel_new (socket), TRUE);
  test_peer_write (peer_fd, "STARTTLS\r\n", 10);
  wait_messages (server, 1);
  test_peer_write (peer_fd, "RCPT TO:<evil>\r\n", 16);
  test_spin_until (peer_tls_done, server);
  g_assert_false (server->tls_ok);
  g_assert_nonnull (server->tls_error);
  g_assert_true (server->closed);
  log = peer_log (server);
  g_assert_cmpstr (log, ==, "STARTTLS");
  close (peer_fd);
}

static void
run_handshake (Peer *server,
               Peer *client)
{
  achat_channel_push (client->channel, (const guint8 *) "STARTTLS\r\n", 10);
  test_spin_until (peer_tls_done, client);
  test_spin_until (peer_tls_done, server);
}

static void
test_starttls_rejected_certificate (void)
{
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;

  /* No database that trusts the self-signed certificate, no handler. */
  peers_new (&server, &client);
  client->trust_test_ca = FALSE;
  run_handshake (server, client);
  g_assert_false (client->tls_ok);
  g_assert_error (client->tls_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_true (client->closed);
  g_assert_error (client->closed_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  test_spin_until (peer_closed, server);
  g_assert_false (server->tls_ok);
  g_assert_nonnull (server->closed_error);
}

static void
test_starttls_handler_rejects (void)
{
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;

  peers_new (&server, &client);
  client->trust_test_ca = FALSE;
  client->accept_answer = 0;
  run_handshake (server, client);
  g_assert_cmpuint (client->n_accept_calls, ==, 1);
  g_assert_true (client->accept_errors & G_TLS_CERTIFICATE_UNKNOWN_CA);
  g_assert_error (client->tls_error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_true (client->closed);
}

static void
test_starttls_handler_accepts (void)
{
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;

  peers_new (&server, &client);
  client->trust_test_ca = FALSE;
  client->accept_answer = 1;
  client->push_after_start = TRUE;
  run_handshake (server, client);
  g_assert_cmpuint (client->n_accept_calls, ==, 1);
  g_assert_true (client->accept_errors & G_TLS_CERTIFICATE_UNKNOWN_CA);
  g_assert_true (client->tls_ok);
  g_assert_true (server->tls_ok);
  wait_messages (client, 2);
  g_assert_cmpstr (g_ptr_array_index (client->messages, 1), ==, "echo:hello");
}

/* close_when_done() right after asking for TLS: what was pushed goes out
 * encrypted, then the channel closes cleanly. */
static void
test_starttls_close_when_done (void)
{
  AchatChannel *c;
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;

  peers_new (&server, &client);
  c = client->channel;
  server->silent = TRUE;
  client->push_after_start = TRUE;
  client->close_after_start = TRUE;
  achat_channel_push (c, (const guint8 *) "STARTTLS\r\n", 10);
  test_spin_until (peer_closed, server);
  g_assert_true (client->tls_ok);
  g_assert_true (server->tls_ok);
  g_assert_cmpuint (server->messages->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (server->messages, 1), ==, "hello");
  g_assert_no_error (server->closed_error);
  test_spin_until (peer_closed, client);
  g_assert_no_error (client->closed_error);
}

/* Asking twice, or on a closing channel, fails at once; closing the
 * channel while the switch waits fails it. */
static void
test_starttls_refused (void)
{
  AchatChannel *s, *c;
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;
  g_autoptr(Peer) other = NULL;

  peers_new (&server, &client);
  s = server->channel;
  c = client->channel;

  /* A second request while the first waits for the handshake. */
  peer_start_tls (client);
  other = peer_new (g_object_ref (c), FALSE);
  peer_start_tls (other);
  test_spin_until (peer_tls_done, other);
  g_assert_error (other->tls_error, G_IO_ERROR, G_IO_ERROR_PENDING);

  /* Closing fails the pending one. */
  achat_channel_close (c);
  test_spin_until (peer_tls_done, client);
  g_assert_false (client->tls_ok);
  g_assert_nonnull (client->tls_error);

  /* On a closing channel. */
  achat_channel_close_when_done (s);
  peer_start_tls (server);
  test_spin_until (peer_tls_done, server);
  g_assert_error (server->tls_error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
test_starttls_cancelled (void)
{
  AchatChannel *s, *c;
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSocketConnectable) identity = g_network_address_new ("localhost", 0);

  peers_new (&server, &client);
  s = server->channel;
  c = client->channel;
  /* The server never answers with TLS: the client's handshake waits. */
  g_signal_handlers_disconnect_by_data (s, server);
  achat_channel_start_tls_client_async (c, identity, cancellable, tls_done_cb, client);
  test_spin_for (50);
  g_assert_false (client->tls_done);
  g_cancellable_cancel (cancellable);
  test_spin_until (peer_tls_done, client);
  g_assert_error (client->tls_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (client->closed);
  g_assert_error (client->closed_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* The channel closes on its idle timeout in the middle of the handshake:
 * the switch fails with the error closed carries. */
static void
test_starttls_timed_out (void)
{
  AchatChannel *s, *c;
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;
  g_autoptr(GSocketConnectable) identity = g_network_address_new ("localhost", 0);

  peers_new (&server, &client);
  s = server->channel;
  c = client->channel;
  /* The server never answers with TLS: the client's handshake waits. */
  g_signal_handlers_disconnect_by_data (s, server);
  achat_channel_set_idle_timeout (c, 1);
  achat_channel_start_tls_client_async (c, identity, NULL, tls_done_cb, client);
  test_spin_until (peer_tls_done, client);
  g_assert_true (client->closed);
  g_assert_error (client->closed_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_error (client->tls_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

/* TLS from the start: a channel over a GTlsConnection ------------------- */

static AchatChannel *
tls_channel (GSocket  *socket,
             gboolean  server)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) base = g_socket_connection_factory_create_connection (socket);
  g_autoptr(GIOStream) tls = NULL;

  if (server)
    tls = g_tls_server_connection_new (G_IO_STREAM (base), server_cert, &error);
  else
    {
      g_autoptr(GSocketConnectable) identity = g_network_address_new ("localhost", 0);

      tls = g_tls_client_connection_new (G_IO_STREAM (base), identity, &error);
      g_tls_connection_set_database (G_TLS_CONNECTION (tls), trust);
    }
  g_assert_no_error (error);
  return achat_channel_new_for_stream (tls);
}

static void
test_from_start (void)
{
  g_autoptr(GError) error = NULL;
  int peer_fd;
  g_autoptr(GSocket) a = test_socket_pair (&peer_fd);
  g_autoptr(GSocket) b = g_socket_new_from_fd (peer_fd, &error);
  g_autoptr(Peer) server = NULL;
  g_autoptr(Peer) client = NULL;
  g_autoptr(TestProducer) producer = NULL;
  static const gchar *chunks[] = { "one\r\n", "two\r\nthr", "ee\r\n", NULL };

  g_assert_no_error (error);
  server = peer_new (tls_channel (a, TRUE), TRUE);
  client = peer_new (tls_channel (b, FALSE), FALSE);
  g_assert_true (G_IS_TLS_CONNECTION (achat_channel_get_tls_connection (server->channel)));

  /* Lines from a producer, echoed; then a close_when_done(). */
  producer = test_producer_new_list (chunks);
  achat_channel_push_with_producer (client->channel, ACHAT_PRODUCER (producer));
  wait_messages (client, 3);
  g_assert_cmpstr (g_ptr_array_index (client->messages, 0), ==, "echo:one");
  g_assert_cmpstr (g_ptr_array_index (client->messages, 2), ==, "echo:three");

  /* A line longer than the server's limit closes it with the limit's error
   * after the replies queued before. */
  achat_channel_set_max_input_size (server->channel, 1000);
  {
    g_autofree gchar *big = g_strnfill (5000, 'x');

    achat_channel_push (client->channel, (const guint8 *) "last\r\n", 6);
    achat_channel_push (client->channel, (const guint8 *) big, 5000);
  }
  test_spin_until (peer_closed, server);
  g_assert_error (server->closed_error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
  wait_messages (client, 4);
  g_assert_cmpstr (g_ptr_array_index (client->messages, 3), ==, "echo:last");
  test_spin_until (peer_closed, client);
}

/* Real peers: openssl ------------------------------------------------------ */

/* A tiny ESMTP-like server for `openssl s_client -starttls smtp`. */
static void
on_smtp_line (AchatChannel *channel,
              GBytes       *message,
              Peer         *peer)
{
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);
  g_autofree gchar *text = g_strndup (data, length);
  const gchar *reply = NULL;

  g_ptr_array_add (peer->messages, g_strdup (text));
  if (g_ascii_strncasecmp (text, "EHLO", 4) == 0)
    reply = achat_channel_get_tls_connection (channel) ? "250 achat\r\n"
                                                       : "250-achat\r\n250 STARTTLS\r\n";
  else if (g_ascii_strcasecmp (text, "STARTTLS") == 0)
    {
      achat_channel_push (channel, (const guint8 *) "220 Ready to start TLS\r\n", 24);
      peer_start_tls (peer);
    }
  else if (g_str_equal (text, "PING"))
    reply = "250 PONG\r\n";
  else if (g_str_equal (text, "QUIT"))
    {
      reply = "221 Bye\r\n";
      achat_channel_push (channel, (const guint8 *) reply, strlen (reply));
      achat_channel_close_when_done (channel);
      reply = NULL;
    }
  if (reply != NULL)
    achat_channel_push (channel, (const guint8 *) reply, strlen (reply));
}

typedef struct
{
  Peer *peer;
  GSocketListener *listener;
} SmtpServer;

static void
smtp_accept_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  SmtpServer *smtp = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketConnection) connection =
    g_socket_listener_accept_finish (G_SOCKET_LISTENER (source), result, NULL, &error);
  AchatChannel *channel;

  g_assert_no_error (error);
  channel = achat_channel_new_for_stream (G_IO_STREAM (connection));
  smtp->peer = peer_new (channel, TRUE);
  g_signal_handlers_disconnect_by_func (channel, on_terminator_found, smtp->peer);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_smtp_line), smtp->peer);
  achat_channel_push (channel, (const guint8 *) "220 achat ESMTP\r\n", 17);
}

static gboolean
smtp_has_peer (gpointer user_data)
{
  return ((SmtpServer *) user_data)->peer != NULL;
}

/* A channel over a subprocess's pipes, reading its output line by line. */
static AchatChannel *
subprocess_channel (GSubprocess *process)
{
  g_autoptr(GIOStream) pipes = g_simple_io_stream_new (g_subprocess_get_stdout_pipe (process),
                                                       g_subprocess_get_stdin_pipe (process));

  return achat_channel_new_for_stream (pipes);
}

typedef struct
{
  TestRecorder *recorder;
  const gchar *needle;
} WaitLog;

static gboolean
log_has (gpointer user_data)
{
  WaitLog *wait = user_data;

  return strstr (wait->recorder->log->str, wait->needle) != NULL;
}

static void
wait_log (TestRecorder *recorder,
          const gchar  *needle)
{
  WaitLog wait = { recorder, needle };

  test_spin_until (log_has, &wait);
}

static gboolean
process_done (gpointer user_data)
{
  return *(gboolean *) user_data;
}

static void
wait_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) user_data = TRUE;
}

static void
test_openssl_s_client_starttls (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(AchatChannel) pipes = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  g_autofree gchar *address = NULL;
  g_autofree gchar *log = NULL;
  SmtpServer smtp = { NULL, listener };
  gboolean exited = FALSE;
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_accept_async (listener, NULL, smtp_accept_cb, &smtp);

  address = g_strdup_printf ("127.0.0.1:%u", port);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                              "openssl", "s_client", "-connect", address, "-starttls", "smtp",
                              "-servername", "localhost", "-CAfile", cert_file,
                              "-verify_return_error", "-quiet", NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (process, NULL, wait_cb, &exited);
  pipes = subprocess_channel (process);
  achat_channel_set_terminator (pipes, (const guint8 *) "\n", 1);
  recorder = test_recorder_new (pipes, FALSE);

  test_spin_until (smtp_has_peer, &smtp);
  test_spin_until (peer_tls_done, smtp.peer);
  g_assert_no_error (smtp.peer->tls_error);
  g_assert_true (smtp.peer->tls_ok);

  /* Through TLS now: s_client forwards its input and prints the replies. */
  achat_channel_push (pipes, (const guint8 *) "PING\r\n", 6);
  wait_log (recorder, "250 PONG");
  achat_channel_push (pipes, (const guint8 *) "QUIT\r\n", 6);
  test_spin_until (peer_closed, smtp.peer);
  g_assert_no_error (smtp.peer->closed_error);
  log = peer_log (smtp.peer);
  g_assert_true (g_str_has_prefix (log, "EHLO "));
  g_assert_true (g_str_has_suffix (log, "|STARTTLS|PING|QUIT"));
  test_spin_until (process_done, &exited);
  g_assert_true (g_subprocess_get_successful (process));
  peer_free (smtp.peer);
}

static void
test_openssl_s_server (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(AchatChannel) pipes = NULL;
  g_autoptr(TestRecorder) output = NULL;
  g_autoptr(Peer) client = NULL;
  g_autoptr(GSocket) socket = NULL;
  const gchar *accept;
  gboolean exited = FALSE;
  guint64 port;

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                              G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                              "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
                              "-cert", cert_file, "-key", key_file, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (process, NULL, wait_cb, &exited);
  pipes = subprocess_channel (process);
  achat_channel_set_terminator (pipes, (const guint8 *) "\n", 1);
  output = test_recorder_new (pipes, FALSE);

  /* "ACCEPT 127.0.0.1:PORT": the port the kernel gave it. */
  wait_log (output, "ACCEPT 127.0.0.1:");
  accept = strstr (output->log->str, "ACCEPT 127.0.0.1:") + strlen ("ACCEPT 127.0.0.1:");
  port = g_ascii_strtoull (accept, NULL, 10);
  g_assert_cmpuint (port, >, 0);

  /* Implicit TLS: connect, switch at once. */
  socket = test_tcp_connect ((guint16) port);
  client = peer_new (achat_channel_new (socket), FALSE);
  achat_channel_set_terminator (client->channel, (const guint8 *) "\n", 1);
  peer_start_tls (client);
  achat_channel_push (client->channel, (const guint8 *) "hello from achat\n", 17);
  test_spin_until (peer_tls_done, client);
  g_assert_no_error (client->tls_error);

  wait_log (output, "hello from achat");
  achat_channel_push (pipes, (const guint8 *) "hello from openssl\n", 19);
  wait_messages (client, 1);
  g_assert_cmpstr (g_ptr_array_index (client->messages, 0), ==, "hello from openssl");

  achat_channel_close_when_done (client->channel);
  test_spin_until (peer_closed, client);
  g_assert_no_error (client->closed_error);
  test_spin_until (process_done, &exited);
  g_assert_true (g_subprocess_get_successful (process));
}

/* Setup ------------------------------------------------------------------ */

static gchar *
make_certificate (void)
{
  g_autoptr(GError) error = NULL;
  gint status = 0;
  g_autofree gchar *output = NULL;
  g_autofree gchar *openssl = g_find_program_in_path ("openssl");
  const gchar *argv[] = {
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
    "-nodes", "-keyout", NULL, "-out", NULL, "-subj", "/CN=localhost", "-days", "2",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", NULL
  };

  if (openssl == NULL)
    return g_strdup ("openssl is not installed (Debian package openssl)");
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    return g_strdup ("GIO has no TLS backend (Debian package glib-networking)");

  tmpdir = g_dir_make_tmp ("achat-tls-XXXXXX", &error);
  g_assert_no_error (error);
  key_file = g_build_filename (tmpdir, "key.pem", NULL);
  cert_file = g_build_filename (tmpdir, "cert.pem", NULL);
  argv[9] = key_file;
  argv[11] = cert_file;
  if (!g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &output, &status, &error) ||
      !g_spawn_check_wait_status (status, &error))
    g_error ("openssl req failed: %s\n%s", error->message, output);

  server_cert = g_tls_certificate_new_from_files (cert_file, key_file, &error);
  g_assert_no_error (error);
  trust = g_tls_file_database_new (cert_file, &error);
  g_assert_no_error (error);
  return NULL;
}

int
main (int   argc,
      char *argv[])
{
  g_autofree gchar *skip = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  skip = make_certificate ();
  if (skip != NULL)
    {
      g_test_skip_printf ("%s", skip);
      printf ("1..0 # SKIP %s\n", skip);
      return 0;
    }

  g_test_add_func ("/tls/starttls/both-sides", test_starttls_both_sides);
  g_test_add_func ("/tls/starttls/bulk", test_starttls_bulk);
  g_test_add_func ("/tls/starttls/injection-server", test_starttls_injection_server);
  g_test_add_func ("/tls/starttls/injection-client", test_starttls_injection_client);
  g_test_add_func ("/tls/starttls/injection-partial-line", test_starttls_injection_partial);
  g_test_add_func ("/tls/starttls/injection-pull", test_starttls_injection_pull);
  g_test_add_func ("/tls/starttls/plaintext-instead-of-handshake",
                   test_starttls_plaintext_instead_of_handshake);
  g_test_add_func ("/tls/starttls/rejected-certificate", test_starttls_rejected_certificate);
  g_test_add_func ("/tls/starttls/handler-rejects", test_starttls_handler_rejects);
  g_test_add_func ("/tls/starttls/handler-accepts", test_starttls_handler_accepts);
  g_test_add_func ("/tls/starttls/close-when-done", test_starttls_close_when_done);
  g_test_add_func ("/tls/starttls/refused", test_starttls_refused);
  g_test_add_func ("/tls/starttls/cancelled", test_starttls_cancelled);
  g_test_add_func ("/tls/starttls/timed-out", test_starttls_timed_out);
  g_test_add_func ("/tls/from-start/lines-producer-limit", test_from_start);
  g_test_add_func ("/tls/openssl/s_client-starttls-smtp", test_openssl_s_client_starttls);
  g_test_add_func ("/tls/openssl/s_server", test_openssl_s_server);

  status = g_test_run ();

  g_clear_object (&server_cert);
  g_clear_object (&trust);
  if (tmpdir != NULL)
    {
      g_unlink (key_file);
      g_unlink (cert_file);
      g_rmdir (tmpdir);
    }
  g_free (tmpdir);
  g_free (key_file);
  g_free (cert_file);
  return status;
}
