/* test-channel-edges.c: corner cases found in review, one test each
 *
 * Specifies: achat/achat-channel.c and achat/achat-channel-thread.c (the owner thread)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>

#include "test-util.h"

/* Fills the socket towards a peer that does not read. */
static void
block_output (AchatChannel *channel)
{
  gsize size = 8 * 1024 * 1024;
  guint8 *data = g_malloc0 (size);

  achat_channel_push (channel, data, size);
  g_free (data);
  test_spin_for (50);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), >, 0);
}

/* The peer sends its last lines and hangs up while our output is blocked:
 * the lines are delivered before the channel closes with the write error. */
static void
test_input_before_write_error (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  block_output (channel);
  g_assert_cmpint (write (peer, "last-request\nbye\npartial", 24), ==, 24);
  close (peer);

  test_recorder_wait_closed (recorder);
  g_assert_true (g_str_has_prefix (recorder->log->str, "T(last-request) T(bye) closed("));
  g_assert_cmpuint (recorder->error->domain, ==, G_IO_ERROR);
  {
    g_autoptr(GBytes) collected = achat_channel_get_collected (channel);

    g_assert_cmpmem (g_bytes_get_data (collected, NULL), g_bytes_get_size (collected), "partial", 7);
  }
  g_object_unref (channel);
}

/* A hang-up while input is not wanted and a write is blocked must neither
 * spin nor hang: the retried write fails and closes the channel. */
#define TEST_TYPE_DEAF_CHANNEL (test_deaf_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestDeafChannel, test_deaf_channel, TEST, DEAF_CHANNEL, AchatChannel)

struct _TestDeafChannel
{
  AchatChannel parent_instance;
  guint n_readable;
  gboolean close_in_writable;
};

G_DEFINE_FINAL_TYPE (TestDeafChannel, test_deaf_channel, ACHAT_TYPE_CHANNEL)

static gboolean
test_deaf_channel_readable (AchatChannel *channel)
{
  TEST_DEAF_CHANNEL (channel)->n_readable++;
  return FALSE;
}

static gboolean
test_deaf_channel_writable (AchatChannel *channel)
{
  TestDeafChannel *self = TEST_DEAF_CHANNEL (channel);

  /* asyncore style: give up on a peer from writable(). */
  if (self->close_in_writable)
    {
      achat_channel_close (channel);
      return TRUE;
    }
  return ACHAT_CHANNEL_CLASS (test_deaf_channel_parent_class)->writable (channel);
}

static void
test_deaf_channel_class_init (TestDeafChannelClass *klass)
{
  ACHAT_CHANNEL_CLASS (klass)->readable = test_deaf_channel_readable;
  ACHAT_CHANNEL_CLASS (klass)->writable = test_deaf_channel_writable;
}

static void
test_deaf_channel_init (TestDeafChannel *self)
{
}

static void
test_hangup_not_reading (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  TestDeafChannel *channel = g_object_new (TEST_TYPE_DEAF_CHANNEL, "socket", socket, NULL);
  g_autoptr(TestRecorder) recorder = test_recorder_new (ACHAT_CHANNEL (channel), FALSE);
  guint n_iterations = 0;
  gint64 end;

  block_output (ACHAT_CHANNEL (channel));
  g_assert_no_errno (shutdown (peer, SHUT_RDWR));

  /* Count main loop iterations that did something: a spinning loop makes
   * thousands in 200 ms, a quiet one a handful. */
  end = g_get_monotonic_time () + 200 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < end)
    if (g_main_context_iteration (NULL, FALSE))
      n_iterations++;
    else
      g_usleep (1000);

  g_assert_cmpuint (recorder->n_closed, ==, 1);
  g_assert_nonnull (recorder->error);
  g_assert_cmpuint (n_iterations, <, 50);
  g_assert_cmpuint (achat_channel_get_bytes_received (ACHAT_CHANNEL (channel)), ==, 0);
  g_object_unref (channel);
  close (peer);
}

static void
test_close_in_writable (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  TestDeafChannel *channel = g_object_new (TEST_TYPE_DEAF_CHANNEL, "socket", socket, NULL);
  g_autoptr(TestRecorder) recorder = test_recorder_new (ACHAT_CHANNEL (channel), FALSE);

  achat_channel_push (ACHAT_CHANNEL (channel), (const guint8 *) "x", 1);
  channel->close_in_writable = TRUE;
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  g_object_unref (channel);
  close (peer);
}

/* close() or close_when_done() from instance initialisation (what a
 * binding's __init__ may do for a channel made by a server). */
#define TEST_TYPE_EARLY_CHANNEL (test_early_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestEarlyChannel, test_early_channel, TEST, EARLY_CHANNEL, AchatChannel)

struct _TestEarlyChannel
{
  AchatChannel parent_instance;
};

G_DEFINE_FINAL_TYPE (TestEarlyChannel, test_early_channel, ACHAT_TYPE_CHANNEL)

static gboolean early_close_when_done;
static guint n_early_finalized;

static void
test_early_channel_finalize (GObject *object)
{
  n_early_finalized++;
  G_OBJECT_CLASS (test_early_channel_parent_class)->finalize (object);
}

static void
test_early_channel_class_init (TestEarlyChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_early_channel_finalize;
}

static void
test_early_channel_init (TestEarlyChannel *self)
{
  AchatChannel *channel = ACHAT_CHANNEL (self);

  achat_channel_push (channel, (const guint8 *) "greeting\n", 9);
  if (early_close_when_done)
    achat_channel_close_when_done (channel);
  else
    achat_channel_close (channel);
}

static void
check_early_close (gboolean     close_when_done,
                   const gchar *expected)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(GByteArray) got = NULL;
  AchatChannel *channel;

  early_close_when_done = close_when_done;
  n_early_finalized = 0;
  channel = g_object_new (TEST_TYPE_EARLY_CHANNEL, "socket", socket, NULL);
  g_object_unref (channel);

  /* The peer gets what was queued (if anything) and EOF, without sending
   * anything itself, and the channel is freed. */
  got = test_peer_read (peer, G_MAXSIZE);
  g_assert_cmpmem (got->data, got->len, expected, strlen (expected));
  test_spin_for (10);
  g_assert_cmpuint (n_early_finalized, ==, 1);
  close (peer);
}

static void
test_close_in_init (void)
{
  check_early_close (FALSE, "");
}

static void
test_close_when_done_in_init (void)
{
  check_early_close (TRUE, "greeting\n");
}

/* discard_buffers() in a data-collected handler drops the piece being
 * collected too. */
static void
discard_first_piece (AchatChannel *channel,
                     GBytes       *data,
                     gboolean     *done)
{
  if (!*done)
    {
      *done = TRUE;
      achat_channel_discard_buffers (channel);
    }
}

static void
test_discard_in_data_collected (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, TRUE);
  gboolean done = FALSE;

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "data-collected", G_CALLBACK (discard_first_piece), &done);
  test_feed (channel, peer, "abc", 3);
  test_feed (channel, peer, "def\n", 4);
  g_assert_cmpstr (recorder->log->str, ==, "c(abc) c(def) T(def)");

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* A channel over a GTcpWrapperConnection (what GSocketClient returns for
 * TLS or a proxy) reads and writes the wrapped streams, never the raw
 * socket underneath. */
static GSocket *
tcp_pair (int *peer_fd)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) listener = NULL;
  g_autoptr(GSocket) client = NULL;
  g_autoptr(GError) error = NULL;
  GSocket *accepted;

  listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (listener, any_port, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (listener, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);
  client = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (client, bound, NULL, &error);
  g_assert_no_error (error);
  accepted = g_socket_accept (listener, NULL, &error);
  g_assert_no_error (error);

  *peer_fd = dup (g_socket_get_fd (client));
  g_assert_no_errno (fcntl (*peer_fd, F_SETFL, O_NONBLOCK));
  return accepted;
}

static void
test_wrapper_connection (void)
{
  int raw_peer, to_channel[2], from_channel[2];
  g_autoptr(GSocket) socket = tcp_pair (&raw_peer);
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = NULL;
  g_autoptr(GIOStream) base = NULL;
  g_autoptr(GSocketConnection) wrapper = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  g_autoptr(GByteArray) reply = NULL;
  AchatChannel *channel;
  gchar buffer[16];

  g_assert_no_errno (pipe (to_channel));
  g_assert_no_errno (pipe (from_channel));
  g_assert_no_errno (fcntl (from_channel[0], F_SETFL, O_NONBLOCK));
  input = g_unix_input_stream_new (to_channel[0], TRUE);
  output = g_unix_output_stream_new (from_channel[1], TRUE);
  base = g_simple_io_stream_new (input, output);
  wrapper = g_tcp_wrapper_connection_new (base, socket);

  channel = achat_channel_new_for_stream (G_IO_STREAM (wrapper));
  recorder = test_recorder_new (channel, FALSE);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);

  g_assert_cmpint (write (raw_peer, "RAW\n", 4), ==, 4);
  g_assert_cmpint (write (to_channel[1], "wrapped\n", 8), ==, 8);
  achat_channel_push (channel, (const guint8 *) "reply\n", 6);

  reply = test_peer_read (from_channel[0], 6);
  g_assert_cmpmem (reply->data, reply->len, "reply\n", 6);
  g_assert_cmpstr (recorder->log->str, ==, "T(wrapped)");
  g_assert_cmpint (read (raw_peer, buffer, sizeof buffer), <, 0);
  g_assert_cmpint (errno, ==, EAGAIN);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (raw_peer);
  close (to_channel[1]);
  close (from_channel[0]);
}

/* Writing to a pipe whose reader is gone fails with an error; SIGPIPE does
 * not kill the process. Run in a fresh process where nothing has set up
 * GSocket (whose class initialisation ignores SIGPIPE) yet. */
static void
pipe_reader_gone (void)
{
  int to_channel[2], from_channel[2];
  g_autoptr(GInputStream) input = NULL;
  g_autoptr(GOutputStream) output = NULL;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  AchatChannel *channel;

  g_assert_no_errno (pipe (to_channel));
  g_assert_no_errno (pipe (from_channel));
  input = g_unix_input_stream_new (to_channel[0], TRUE);
  output = g_unix_output_stream_new (from_channel[1], TRUE);
  stream = g_simple_io_stream_new (input, output);
  close (from_channel[0]);

  channel = achat_channel_new_for_stream (stream);
  recorder = test_recorder_new (channel, FALSE);
  achat_channel_push (channel, (const guint8 *) "nobody listens\n", 15);
  test_recorder_wait_closed (recorder);
  g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);

  g_object_unref (channel);
  close (to_channel[1]);
}

static void
test_pipe_reader_gone (void)
{
  if (g_test_subprocess ())
    {
      pipe_reader_gone ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* A channel made in a thread that does not run its main context is
 * refused with a critical, not left to corrupt the loop. */
static gpointer
construct_in_thread (gpointer user_data)
{
  GSocket *socket = user_data;
  AchatChannel *channel;
  gboolean closed;

  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*must be constructed in the thread*");
  channel = achat_channel_new (socket);
  g_test_assert_expected_messages ();
  closed = achat_channel_is_closed (channel);
  g_object_unref (channel);
  return GINT_TO_POINTER (closed);
}

static void
test_foreign_thread (void)
{
  int peer, other_peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(GSocket) other = test_socket_pair (&other_peer);
  AchatChannel *channel = achat_channel_new (socket);   /* the context's thread */
  GThread *thread = g_thread_new ("foreign", construct_in_thread, other);

  g_assert_true (GPOINTER_TO_INT (g_thread_join (thread)));
  g_assert_false (achat_channel_is_closed (channel));
  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
  close (other_peer);
}

/* Methods only the owner thread may call, from another thread: a critical
 * each (a programming error), and nothing queued or dropped. push() and
 * close_when_done() are the ones queued for the owner (threading.md). */
static gpointer
owner_only_in_thread (gpointer user_data)
{
  AchatChannel *channel = user_data;
  g_autoptr(GBytes) frame = g_bytes_new_static ("abc", 3);
  guint refused = 0;

#define EXPECT_REFUSED(call, name)                                                      \
  G_STMT_START {                                                                        \
    g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL,                               \
                           "*" name ": called from a thread that does not run*");       \
    if (!(call))                                                                        \
      refused++;                                                                        \
    g_test_assert_expected_messages ();                                                 \
  } G_STMT_END
  EXPECT_REFUSED (achat_channel_push_line (channel, (const guint8 *) "hi", 2, NULL),
                  "achat_channel_push_line");
  EXPECT_REFUSED (achat_channel_push_line_full (channel, (const guint8 *) "hi", 2,
                                                (const guint8 *) "\n", 1, NULL),
                  "achat_channel_push_line_full");
  EXPECT_REFUSED (achat_channel_push_frame (channel, (const guint8 *) "abc", 3, NULL),
                  "achat_channel_push_frame");
  EXPECT_REFUSED (achat_channel_push_frame_bytes (channel, frame, NULL),
                  "achat_channel_push_frame_bytes");
#undef EXPECT_REFUSED
  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL,
                         "*achat_channel_discard_buffers: called from a thread*");
  achat_channel_discard_buffers (channel);
  g_test_assert_expected_messages ();
  return GUINT_TO_POINTER (refused);
}

static void
test_owner_only_from_other_thread (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  GThread *thread;

  /* Both are valid in the owner thread: push_frame() uses the last length
   * setting, push_line() the terminator in force. */
  achat_channel_set_terminator_text_length (channel, 10, "\r\n", NULL, 0);
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  achat_channel_pause_input (channel);
  thread = g_thread_new ("not-the-owner", owner_only_in_thread, channel);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_thread_join (thread)), ==, 4);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  g_assert_cmpuint (achat_channel_get_unsent_bytes (channel), ==, 0);
  g_assert_false (achat_channel_is_closed (channel));
  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* A write fails while the peer (which shut only its reading side) keeps
 * sending: no dispatch reads it all at once (timers keep running), every
 * line it sent is delivered, and the channel closes with the write's error
 * once the peer is done. */
typedef struct
{
  int fd;
  guint64 lines;
} Talker;

static gpointer
talker_thread (gpointer data)
{
  Talker *talker = data;
  static const gchar line[64] = "0123456789012345678901234567890123456789012345678901234567890123";
  gchar buffer[64 * 1024];
  gint64 end = g_get_monotonic_time () + G_TIME_SPAN_SECOND;
  gsize i;

  for (i = 0; i + 64 <= sizeof buffer; i += 64)
    {
      memcpy (buffer + i, line, 63);
      buffer[i + 63] = '\n';
    }
  fcntl (talker->fd, F_SETFL, fcntl (talker->fd, F_GETFL) & ~O_NONBLOCK);
  while (g_get_monotonic_time () < end)
    {
      gsize done = 0;

      while (done < sizeof buffer)
        {
          gssize n = write (talker->fd, buffer + done, sizeof buffer - done);

          if (n <= 0)
            return NULL;
          done += n;
        }
      talker->lines += sizeof buffer / 64;
    }
  shutdown (talker->fd, SHUT_WR);
  return NULL;
}

static void
count_line (AchatChannel *channel,
            GBytes       *line,
            gpointer      user_data)
{
  (*(guint64 *) user_data)++;
}

static gboolean
count_tick (gpointer user_data)
{
  (*(guint *) user_data)++;
  return G_SOURCE_CONTINUE;
}

static void
test_failed_write_peer_talks_on (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(AchatChannel) channel = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  Talker talker = { -1, 0 };
  guint64 delivered = 0;
  guint ticks = 0, tick;
  gint64 longest = 0, deadline;
  int buffer = 4 * 1024 * 1024;
  GThread *thread;

  socket = test_socket_pair (&talker.fd);
  channel = achat_channel_new (socket);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (count_line), &delivered);
  recorder = test_recorder_new (channel, FALSE);
  g_assert_no_errno (setsockopt (talker.fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer));
  g_assert_no_errno (shutdown (talker.fd, SHUT_RD));
  thread = g_thread_new ("talker", talker_thread, &talker);
  g_usleep (20000);
  achat_channel_push (channel, (const guint8 *) "reply\n", 6);
  tick = g_timeout_add (10, count_tick, &ticks);
  deadline = g_get_monotonic_time () + 4 * TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  while (!achat_channel_is_closed (channel))
    {
      gint64 before = g_get_monotonic_time ();

      g_assert_cmpint (before, <, deadline);
      g_main_context_iteration (NULL, TRUE);
      longest = MAX (longest, g_get_monotonic_time () - before);
    }
  g_source_remove (tick);
  g_thread_join (thread);
  g_test_message ("%" G_GUINT64_FORMAT " lines, longest iteration %" G_GINT64_FORMAT " us, "
                  "%u ticks", talker.lines, longest, ticks);
  g_assert_cmpuint (delivered, ==, talker.lines);
  /* Reading it all in one dispatch took the talker's whole second, with
   * no tick; a bounded dispatch is a few read buffers' worth of lines
   * (slower under a memory tool). */
  g_assert_cmpint (longest, <, (g_getenv ("ACHAT_TEST_MEMORY_TOOL") ? 800 : 250) *
                               G_TIME_SPAN_MILLISECOND);
  g_assert_cmpuint (ticks, >, 2);
  g_assert_nonnull (recorder->error);
  g_assert_true (recorder->error->domain == G_IO_ERROR);
  close (talker.fd);
}

/* A channel made over a socket, or a socket connection, that is already
 * closed: no critical, and it closes with G_IO_ERROR_CLOSED (and frees
 * itself) on the first iteration. */
static void
test_over_closed_socket (void)
{
  gboolean as_stream;

  for (as_stream = FALSE; as_stream <= TRUE; as_stream++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      g_autoptr(GSocketConnection) connection = NULL;
      g_autoptr(TestRecorder) recorder = NULL;
      AchatChannel *channel;
      GWeakRef weak;

      if (as_stream)
        {
          connection = g_socket_connection_factory_create_connection (socket);
          g_assert_true (g_io_stream_close (G_IO_STREAM (connection), NULL, NULL));
          channel = achat_channel_new_for_stream (G_IO_STREAM (connection));
        }
      else
        {
          g_assert_true (g_socket_close (socket, NULL));
          channel = achat_channel_new (socket);
        }
      g_weak_ref_init (&weak, channel);
      recorder = test_recorder_new (channel, FALSE);
      test_recorder_wait_closed (recorder);
      g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_CLOSED);
      g_clear_pointer (&recorder, test_recorder_free);
      g_object_unref (channel);
      g_assert_null (g_weak_ref_get (&weak));
      g_weak_ref_clear (&weak);
      close (peer);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/channel/edges/input-before-write-error", test_input_before_write_error);
  g_test_add_func ("/channel/edges/hangup-not-reading", test_hangup_not_reading);
  g_test_add_func ("/channel/edges/close-in-writable", test_close_in_writable);
  g_test_add_func ("/channel/edges/close-in-init", test_close_in_init);
  g_test_add_func ("/channel/edges/close-when-done-in-init", test_close_when_done_in_init);
  g_test_add_func ("/channel/edges/discard-in-data-collected", test_discard_in_data_collected);
  g_test_add_func ("/channel/edges/wrapper-connection", test_wrapper_connection);
  g_test_add_func ("/channel/edges/pipe-reader-gone", test_pipe_reader_gone);
  g_test_add_func ("/channel/edges/foreign-thread", test_foreign_thread);
  g_test_add_func ("/channel/edges/owner-only-from-other-thread", test_owner_only_from_other_thread);
  g_test_add_func ("/channel/edges/over-closed-socket", test_over_closed_socket);
  g_test_add_func ("/channel/edges/failed-write-peer-talks-on", test_failed_write_peer_talks_on);

  return g_test_run ();
}
