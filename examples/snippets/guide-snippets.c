/* guide-snippets.c: the C code of docs/framing.md and docs/tls.md,
 * compiled and run
 *
 * Each region between "snippet-begin NAME" and "snippet-end NAME" is shown
 * in a guide (build-aux/check-docs.py checks that they are the same text);
 * the code around the regions runs them over a socket pair and checks that
 * they do what the guides say. Speaks TAP.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>
#include <glib/gstdio.h>

static gboolean
spin_until (gboolean *done)
{
  gint64 deadline = g_get_monotonic_time () + 60 * G_TIME_SPAN_SECOND;

  while (!*done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
  return *done;
}

static void
make_pair (AchatChannel **a,
           AchatChannel **b)
{
  int fds[2];
  g_autoptr(GSocket) sa = NULL;
  g_autoptr(GSocket) sb = NULL;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  sa = g_socket_new_from_fd (fds[0], NULL);
  sb = g_socket_new_from_fd (fds[1], NULL);
  *a = achat_channel_new (sa);
  *b = achat_channel_new (sb);
}

static void
on_closed (AchatChannel *channel, const GError *error, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* Several terminators -------------------------------------------------------- */

static GString *lines_seen;

/* snippet-begin several-terminators */
static void
on_line (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  gsize length;
  achat_channel_get_matched_terminator (channel, &length);
  g_message ("%.*s (ended by %s)", (int) g_bytes_get_size (line),
           (const char *) g_bytes_get_data (line, NULL),
           length == 2 ? "CRLF" : "LF");
}
/* snippet-end several-terminators */

static void
record_line (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  gsize length;

  achat_channel_get_matched_terminator (channel, &length);
  g_string_append_printf (lines_seen, "%.*s/%" G_GSIZE_FORMAT " ", (int) g_bytes_get_size (line),
                          (const char *) g_bytes_get_data (line, NULL), length);
}

static void
test_several_terminators (void)
{
  AchatChannel *channel, *peer;
  gboolean closed = FALSE;

  make_pair (&channel, &peer);
  lines_seen = g_string_new (NULL);
  {
    /* snippet-begin several-terminators-set */
    const gchar *endings[] = { "\r\n", "\n", NULL };

    achat_channel_set_terminators (channel, endings);
    g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line), NULL);
    /* snippet-end several-terminators-set */
  }
  g_signal_connect (channel, "terminator-found", G_CALLBACK (record_line), NULL);
  g_signal_connect (channel, "closed", G_CALLBACK (on_closed), &closed);
  achat_channel_push (peer, (const guint8 *) "HELO a\r\nMAIL b\n", 15);
  achat_channel_close_when_done (peer);
  g_assert_true (spin_until (&closed));
  g_assert_cmpstr (lines_seen->str, ==, "HELO a/2 MAIL b/1 ");
  g_string_free (lines_seen, TRUE);
  g_object_unref (channel);
  g_object_unref (peer);
}

/* Length-prefixed frames ----------------------------------------------------- */

static guint frames_seen;

static void
count_frame (AchatChannel *channel, GBytes *frame, gpointer user_data)
{
  frames_seen++;
  g_assert_cmpmem (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), "{\"id\": 1}", 9);
}

static void
test_length_prefix (void)
{
  AchatChannel *channel, *peer;
  g_autoptr(GError) error = NULL;
  gboolean closed = FALSE;

  make_pair (&channel, &peer);
  achat_channel_set_terminator_length_prefix (peer, 4, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0,
                                              64 * 1024 * 1024);
  g_signal_connect (peer, "terminator-found", G_CALLBACK (count_frame), NULL);
  g_signal_connect (peer, "closed", G_CALLBACK (on_closed), &closed);
  {
    /* snippet-begin length-prefix */
    /* A 4-byte big-endian length, then the payload; at most 64 MiB. */
    achat_channel_set_terminator_length_prefix (channel, 4, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0,
                                                64 * 1024 * 1024);
    if (!achat_channel_push_frame (channel, (const guint8 *) "{\"id\": 1}", 9, &error))
      g_warning ("not sent: %s", error->message);
    /* snippet-end length-prefix */
  }
  achat_channel_close_when_done (channel);
  g_assert_true (spin_until (&closed));
  g_assert_no_error (error);
  g_assert_cmpuint (frames_seen, ==, 1);
  g_object_unref (channel);
  g_object_unref (peer);
}

/* Text lengths --------------------------------------------------------------- */

static GString *netstrings_seen;

static void
record_netstring (AchatChannel *channel, GBytes *payload, gpointer user_data)
{
  g_string_append_len (netstrings_seen, g_bytes_get_data (payload, NULL),
                       (gssize) g_bytes_get_size (payload));
  g_string_append_c (netstrings_seen, '|');
}

static void
test_text_length (void)
{
  AchatChannel *channel, *peer;
  g_autoptr(GError) error = NULL;
  gboolean closed = FALSE;

  netstrings_seen = g_string_new (NULL);
  make_pair (&channel, &peer);
  g_signal_connect (peer, "terminator-found", G_CALLBACK (record_netstring), NULL);
  g_signal_connect (peer, "closed", G_CALLBACK (on_closed), &closed);
  achat_channel_set_terminator_text_length (peer, 10, ":", ",", 0);
  {
    /* snippet-begin text-length */
    /* Netstrings: "5:hello," is the message "hello". */
    achat_channel_set_terminator_text_length (channel, 10, ":", ",", 1024 * 1024);
    if (!achat_channel_push_frame (channel, (const guint8 *) "hello", 5, &error))
      g_warning ("not sent: %s", error->message);
    /* snippet-end text-length */
  }
  achat_channel_push_frame (channel, (const guint8 *) "a,b:", 4, &error);
  achat_channel_push_frame (channel, NULL, 0, &error);
  g_assert_no_error (error);
  achat_channel_close_when_done (channel);
  g_assert_true (spin_until (&closed));
  g_assert_cmpstr (netstrings_seen->str, ==, "hello|a,b:||");
  g_string_free (netstrings_seen, TRUE);
  g_object_unref (channel);
  g_object_unref (peer);
}

/* Whole reads ---------------------------------------------------------------- */

#define LINE_TYPE_COUNTER (line_counter_get_type ())
G_DECLARE_FINAL_TYPE (LineCounter, line_counter, LINE, COUNTER, AchatChannel)

struct _LineCounter
{
  AchatChannel parent_instance;
  guint lines;
  gsize body_length;
  gboolean in_body;
};

G_DEFINE_FINAL_TYPE (LineCounter, line_counter, ACHAT_TYPE_CHANNEL)

/* snippet-begin whole-reads */
static guint
line_counter_messages_found (AchatChannel *channel,
                             GBytes       *data,
                             const gsize  *bounds,
                             guint         n_bounds)
{
  LineCounter *self = LINE_COUNTER (channel);
  const char *bytes = g_bytes_get_data (data, NULL);

  for (guint i = 0; i < n_bounds; i += 2)
    {
      const char *line = bytes + bounds[i];
      gsize length = bounds[i + 1] - bounds[i];
      char digits[16] = "";
      guint64 n;

      if (self->in_body)
        {
          /* The body, counted: back to lines after it. */
          self->body_length = length;
          self->in_body = FALSE;
          achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
          return i / 2 + 1;
        }
      if (length > 5 && length - 5 < sizeof digits && memcmp (line, "BODY ", 5) == 0)
        memcpy (digits, line + 5, length - 5);
      if (g_ascii_string_to_unsigned (digits, 10, 1, 1 << 20, &n, NULL))
        {
          /* A header: the next n bytes are a body. The messages after this
           * one are framed again, as a count. */
          self->in_body = TRUE;
          achat_channel_set_terminator_count (channel, n);
          return i / 2 + 1;
        }
      self->lines++;
    }
  return n_bounds / 2;   /* took them all */
}
/* snippet-end whole-reads */

static void
line_counter_class_init (LineCounterClass *klass)
{
  ACHAT_CHANNEL_CLASS (klass)->messages_found = line_counter_messages_found;
}

static void
line_counter_init (LineCounter *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\n", 1);
}

static void
test_whole_reads (void)
{
  int fds[2];
  g_autoptr(GSocket) sa = NULL;
  g_autoptr(GSocket) sb = NULL;
  g_autoptr(LineCounter) counter = NULL;
  g_autoptr(AchatChannel) peer = NULL;
  gboolean closed = FALSE;

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  sa = g_socket_new_from_fd (fds[0], NULL);
  sb = g_socket_new_from_fd (fds[1], NULL);
  counter = g_object_new (LINE_TYPE_COUNTER, "socket", sa, NULL);
  peer = achat_channel_new (sb);
  g_signal_connect (counter, "closed", G_CALLBACK (on_closed), &closed);
  achat_channel_push (peer, (const guint8 *) "a\nb\nBODY 5\nx\ny\nzc\nd\n", 20);
  achat_channel_close_when_done (peer);
  g_assert_true (spin_until (&closed));
  g_assert_cmpuint (counter->lines, ==, 4);         /* a, b, c, d */
  g_assert_cmpuint (counter->body_length, ==, 5);   /* "x\ny\nz" */
}

/* Safe line output ----------------------------------------------------------- */

/* snippet-begin push-line */
static gboolean
send_privmsg (AchatChannel *channel, const gchar *target, const gchar *text)
{
  g_autofree gchar *line = g_strdup_printf ("PRIVMSG %s :%s", target, text);
  g_autoptr(GError) error = NULL;

  /* "hi\r\nQUIT" would be two commands: refused, nothing is sent. */
  if (!achat_channel_push_line (channel, (const guint8 *) line, strlen (line), &error))
    {
      g_warning ("Not sent: %s", error->message);
      return FALSE;
    }
  return TRUE;
}
/* snippet-end push-line */

static void
test_push_line (void)
{
  AchatChannel *channel, *peer;

  make_pair (&channel, &peer);
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  g_assert_true (send_privmsg (channel, "#gnome", "hello"));
  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, "Not sent: *carriage return*");
  g_assert_false (send_privmsg (channel, "#gnome", "hi\r\nQUIT"));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, strlen ("PRIVMSG #gnome :hello\r\n"));
  achat_channel_close (channel);
  achat_channel_close (peer);
  g_object_unref (channel);
  g_object_unref (peer);
}

/* STARTTLS ------------------------------------------------------------------- */

static GTlsCertificate *certificate;
static GTlsDatabase *test_ca;
static gboolean server_tls_done, client_tls_done;
static GString *server_log;

static void
server_tls_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (achat_channel_start_tls_server_finish (ACHAT_CHANNEL (source), result, &error));
  server_tls_done = TRUE;
}

/* snippet-begin starttls-server */
static void
on_command (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  if (g_bytes_get_size (line) == 8 && memcmp (g_bytes_get_data (line, NULL), "STARTTLS", 8) == 0)
    {
      /* Written in plaintext first; everything after is encrypted. */
      achat_channel_push (channel, (const guint8 *) "220 Ready to start TLS\r\n", 24);
      achat_channel_start_tls_server_async (channel, certificate, NULL, server_tls_ready, NULL);
      return;
    }
  /* ... the other commands ... */
}
/* snippet-end starttls-server */

static void
log_command (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  g_string_append_len (server_log, g_bytes_get_data (line, NULL), g_bytes_get_size (line));
  g_string_append_c (server_log, ' ');
}

static void
client_tls_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (achat_channel_start_tls_client_finish (ACHAT_CHANNEL (source), result, &error));
  client_tls_done = TRUE;
}

/* snippet-begin starttls-client */
static void
on_tls_handshaking (AchatChannel *channel, GTlsConnection *connection, gpointer user_data)
{
  /* A private CA; or connect to connection's accept-certificate signal. */
  g_tls_connection_set_database (connection, test_ca);
}

static void
on_reply (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  if (g_bytes_get_size (line) >= 3 && memcmp (g_bytes_get_data (line, NULL), "220", 3) == 0 &&
      achat_channel_get_tls_connection (channel) == NULL)
    {
      g_autoptr(GSocketConnectable) server = g_network_address_new ("localhost", 25);

      achat_channel_start_tls_client_async (channel, server, NULL, client_tls_ready, NULL);
      /* Queued now, sent encrypted once the handshake is done. */
      achat_channel_push (channel, (const guint8 *) "EHLO me\r\n", 9);
    }
}
/* snippet-end starttls-client */

static gchar *
make_certificate (gchar **dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *openssl = g_find_program_in_path ("openssl");
  g_autofree gchar *key = NULL;
  g_autofree gchar *cert = NULL;
  gint status = 0;
  const gchar *argv[] = {
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
    "-nodes", "-keyout", NULL, "-out", NULL, "-subj", "/CN=localhost", "-days", "2",
    "-addext", "subjectAltName=DNS:localhost", NULL
  };

  if (openssl == NULL)
    return g_strdup ("openssl is not installed");
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    return g_strdup ("GIO has no TLS backend (glib-networking)");
  *dir = g_dir_make_tmp ("achat-guide-XXXXXX", &error);
  g_assert_no_error (error);
  key = g_build_filename (*dir, "key.pem", NULL);
  cert = g_build_filename (*dir, "cert.pem", NULL);
  argv[9] = key;
  argv[11] = cert;
  g_assert_true (g_spawn_sync (NULL, (gchar **) argv, NULL,
                               G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                               G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, NULL, NULL, &status, &error));
  g_assert_true (g_spawn_check_wait_status (status, &error));
  certificate = g_tls_certificate_new_from_files (cert, key, &error);
  g_assert_no_error (error);
  test_ca = g_tls_file_database_new (cert, &error);
  g_assert_no_error (error);
  return NULL;
}

static void
test_starttls (void)
{
  g_autofree gchar *dir = NULL;
  g_autofree gchar *skip = make_certificate (&dir);
  AchatChannel *server, *client;
  gboolean closed = FALSE;

  if (skip != NULL)
    {
      g_test_skip (skip);
      return;
    }
  server_log = g_string_new (NULL);
  make_pair (&server, &client);
  achat_channel_set_terminator (server, (const guint8 *) "\r\n", 2);
  achat_channel_set_terminator (client, (const guint8 *) "\r\n", 2);
  g_signal_connect (server, "terminator-found", G_CALLBACK (on_command), NULL);
  g_signal_connect (server, "terminator-found", G_CALLBACK (log_command), NULL);
  g_signal_connect (server, "closed", G_CALLBACK (on_closed), &closed);
  g_signal_connect (client, "terminator-found", G_CALLBACK (on_reply), NULL);
  g_signal_connect (client, "tls-handshaking", G_CALLBACK (on_tls_handshaking), NULL);

  achat_channel_push (client, (const guint8 *) "STARTTLS\r\n", 10);
  g_assert_true (spin_until (&client_tls_done));
  g_assert_true (spin_until (&server_tls_done));
  achat_channel_close_when_done (client);
  g_assert_true (spin_until (&closed));
  g_assert_cmpstr (server_log->str, ==, "STARTTLS EHLO me ");
  g_assert_nonnull (achat_channel_get_tls_connection (server));

  g_string_free (server_log, TRUE);
  g_object_unref (server);
  g_object_unref (client);
  g_clear_object (&certificate);
  g_clear_object (&test_ca);
  {
    g_autofree gchar *key = g_build_filename (dir, "key.pem", NULL);
    g_autofree gchar *cert = g_build_filename (dir, "cert.pem", NULL);

    g_unlink (key);
    g_unlink (cert);
    g_rmdir (dir);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/guide/framing/several-terminators", test_several_terminators);
  g_test_add_func ("/guide/framing/length-prefix", test_length_prefix);
  g_test_add_func ("/guide/framing/text-length", test_text_length);
  g_test_add_func ("/guide/framing/push-line", test_push_line);
  g_test_add_func ("/guide/framing/whole-reads", test_whole_reads);
  g_test_add_func ("/guide/tls/starttls", test_starttls);

  return g_test_run ();
}
