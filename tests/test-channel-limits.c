/* test-channel-limits.c: limits and flow control: max-input-size,
 * idle-timeout, pausing input, output watermarks
 *
 * Specifies: achat/achat-channel.c (limits, pausing, watermarks) and
 *   achat/achat-poller.c (the idle timeout)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

#include "test-producer.h"
#include "test-util.h"

#define MIB (1024 * 1024)

static void
assert_bytes_str (GBytes      *bytes,
                  const gchar *expected)
{
  gsize length;
  const gchar *data = g_bytes_get_data (bytes, &length);

  g_assert_nonnull (bytes);
  g_assert_cmpmem (data, length, expected, strlen (expected));
}

static AchatChannel *
new_channel (int         *peer,
             const gchar *terminator,
             gsize        max_input)
{
  g_autoptr(GSocket) socket = test_socket_pair (peer);
  AchatChannel *channel = achat_channel_new (socket);

  if (terminator != NULL)
    achat_channel_set_terminator (channel, (const guint8 *) terminator, strlen (terminator));
  achat_channel_set_max_input_size (channel, max_input);
  return channel;
}

/* Writes up to @total bytes of @fill to @peer until the channel closes it;
 * returns how many the kernel took. */
static guint64
flood (int     peer,
       guint8  fill,
       guint64 total)
{
  static guint8 chunk[64 * 1024];
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  guint64 sent = 0;

  memset (chunk, fill, sizeof chunk);
  while (sent < total)
    {
      gssize n = send (peer, chunk, MIN (sizeof chunk, total - sent), MSG_NOSIGNAL);

      if (n > 0)
        {
          sent += n;
          continue;
        }
      if (errno == EPIPE || errno == ECONNRESET)
        break;
      g_assert_true (errno == EAGAIN || errno == EINTR);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!test_iterate ())
        g_usleep (200);
    }
  return sent;
}

static void
assert_limit_error (TestRecorder *recorder,
                    gsize         limit)
{
  g_autofree gchar *named = g_strdup_printf ("%" G_GSIZE_FORMAT " bytes", limit);

  g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
  g_assert_nonnull (strstr (recorder->error->message, "max-input-size"));
  g_assert_nonnull (strstr (recorder->error->message, named));
}

static void
notify_count (GObject    *object,
              GParamSpec *pspec,
              guint      *count)
{
  (*count)++;
}

static void
test_property (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  guint notified = 0;
  guint64 value = 0;

  g_assert_cmpuint (achat_channel_get_max_input_size (channel), ==,
                    ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE);
  g_assert_cmpuint (ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE, ==, MIB);

  g_signal_connect (channel, "notify::max-input-size", G_CALLBACK (notify_count), &notified);
  g_object_set (channel, "max-input-size", (guint64) 4096, NULL);
  g_assert_cmpuint (notified, ==, 1);
  achat_channel_set_max_input_size (channel, 4096);     /* unchanged: no notify */
  g_assert_cmpuint (notified, ==, 1);
  achat_channel_set_max_input_size (channel, 0);
  g_assert_cmpuint (notified, ==, 2);
  g_object_get (channel, "max-input-size", &value, NULL);
  g_assert_cmpuint (value, ==, 0);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* A message of exactly the limit passes, one byte more closes the channel,
 * and the outcome is the same for every way of splitting the stream into
 * two or three reads, whatever the terminator. */
static void
test_boundary_every_split (void)
{
  static const struct {
    const gchar *terminator;
    const gchar *stream;
    const gchar *log;
    const gchar *rest;
  } cases[] = {
    { "\n", "0123456789\nabcdefghijk\nafter\n",
      "T(0123456789) closed(achat-error-quark:2)", "abcdefghij" },
    { "\r\n", "0123456789\r\nabcdefghij\r\nABCDEFGHIJ\rX\r\n",
      "T(0123456789) T(abcdefghij) closed(achat-error-quark:2)", "ABCDEFGHIJ" },
    /* The held-back "EN" is not counted until the end shows it is data. */
    { "END", "0123456789ENDxENDENDabcdefgEN", "T(0123456789) T(x) T() closed", "abcdefgEN" },
    { "END", "0123456789ENDabcdefghiEN", "T(0123456789) closed(achat-error-quark:2)", "abcdefghiE" },
  };
  gsize c;

  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      gsize length = strlen (cases[c].stream);
      gsize i, j;

      for (i = 0; i <= length; i++)
        for (j = i; j <= length; j++)
          {
            int peer;
            AchatChannel *channel = new_channel (&peer, cases[c].terminator, 10);
            g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
            gsize cuts[] = { 0, i, j, length };
            gsize k;

            for (k = 0; k + 1 < G_N_ELEMENTS (cuts); k++)
              if (cuts[k + 1] > cuts[k] && recorder->n_closed == 0)
                test_feed (channel, peer, cases[c].stream + cuts[k], cuts[k + 1] - cuts[k]);
            if (recorder->n_closed == 0)
              shutdown (peer, SHUT_WR);
            test_recorder_wait_closed (recorder);

            if (g_strcmp0 (recorder->log->str, cases[c].log) != 0)
              g_error ("case %" G_GSIZE_FORMAT ", cuts %" G_GSIZE_FORMAT ",%" G_GSIZE_FORMAT
                       ": '%s', expected '%s'", c, i, j, recorder->log->str, cases[c].log);
            if (recorder->error != NULL)
              assert_limit_error (recorder, 10);
            assert_bytes_str (recorder->collected_at_close, cases[c].rest);

            g_object_unref (channel);
            close (peer);
          }
    }
}

/* 100 MiB without a terminator: the channel reads about the limit, keeps
 * exactly the limit, and closes with the error naming it. */
static void
test_flood_without_terminator (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\r\n", ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  guint64 sent;

  test_feed (channel, peer, "hello\r\n", 7);
  sent = flood (peer, 'x', 100 * (guint64) MIB);

  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "T(hello) closed(achat-error-quark:2)");
  assert_limit_error (recorder, ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE);
  g_assert_cmpuint (g_bytes_get_size (recorder->collected_at_close), ==,
                    ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE);
  /* It stopped reading at the limit (give or take one read). */
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), <=,
                    7 + ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE + 256 * 1024);
  g_assert_cmpuint (sent, <, 100 * (guint64) MIB);

  g_object_unref (channel);
  close (peer);
}

/* 0 lifts the limit; a limit raised from a handler applies to what follows. */
static void
test_unlimited_and_raised (void)
{
  g_autofree gchar *big = g_malloc (3 * MIB + 1);
  gsize limit;

  memset (big, 'b', 3 * MIB);
  big[3 * MIB] = '\n';

  for (limit = 0; limit <= 1; limit++)
    {
      int peer;
      AchatChannel *channel = new_channel (&peer, "\n", limit ? 3 * MIB : 0);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

      test_feed (channel, peer, big, 3 * MIB + 1);
      g_assert_cmpuint (recorder->n_found, ==, 1);
      g_assert_cmpuint (recorder->n_closed, ==, 0);

      achat_channel_close (channel);
      g_object_unref (channel);
      close (peer);
    }
}

/* A count terminator past the limit fails like a long line, including when
 * the body would be read in place; the same count passes without limit. */
static void
on_header_set_count (AchatChannel *channel,
                     GBytes       *message,
                     gpointer      user_data)
{
  if (achat_channel_get_terminator_kind (channel) == ACHAT_TERMINATOR_BYTES)
    achat_channel_set_terminator_count (channel, 4 * MIB);
}

static void
test_count_past_limit (void)
{
  gboolean limited;

  for (limited = FALSE; limited <= TRUE; limited++)
    {
      int peer;
      AchatChannel *channel = new_channel (&peer, "\n", limited ? MIB : 0);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      guint64 sent;

      g_signal_connect (channel, "terminator-found", G_CALLBACK (on_header_set_count), NULL);
      test_feed (channel, peer, "BODY\n", 5);
      sent = flood (peer, 'z', 4 * MIB);

      if (limited)
        {
          test_recorder_wait_closed (recorder);
          g_assert_cmpstr (recorder->log->str, ==, "T(BODY) closed(achat-error-quark:2)");
          assert_limit_error (recorder, MIB);
          g_assert_cmpuint (g_bytes_get_size (recorder->collected_at_close), ==, MIB);
        }
      else
        {
          g_assert_cmpuint (sent, ==, 4 * MIB);
          while (recorder->n_found < 2)
            test_iterate ();
          g_assert_cmpuint (recorder->n_closed, ==, 0);
          achat_channel_close (channel);
        }

      g_object_unref (channel);
      close (peer);
    }
}

/* The default data-collected handler counts toward the limit; a handler
 * that keeps the bytes out of the message streams any amount. */
static void
stream_elsewhere (AchatChannel *channel,
                  GBytes       *data,
                  guint64      *total)
{
  *total += g_bytes_get_size (data);
  g_signal_stop_emission_by_name (channel, "data-collected");
}

static void
test_data_collected (void)
{
  gboolean streaming;

  for (streaming = FALSE; streaming <= TRUE; streaming++)
    {
      int peer;
      AchatChannel *channel = new_channel (&peer, "\n", 64 * 1024);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, TRUE);
      g_autoptr(GBytes) collected = NULL;
      guint64 total = 0;
      guint64 sent;

      if (streaming)
        g_signal_connect (channel, "data-collected", G_CALLBACK (stream_elsewhere), &total);
      sent = flood (peer, 'd', 2 * MIB);

      if (streaming)
        {
          g_assert_cmpuint (sent, ==, 2 * MIB);
          while (total < 2 * MIB)
            test_iterate ();
          g_assert_cmpuint (recorder->n_closed, ==, 0);
          collected = achat_channel_get_collected (channel);
          g_assert_cmpuint (g_bytes_get_size (collected), ==, 0);
          achat_channel_close (channel);
        }
      else
        {
          test_recorder_wait_closed (recorder);
          assert_limit_error (recorder, 64 * 1024);
          g_assert_cmpuint (g_bytes_get_size (recorder->collected_at_close), ==, 64 * 1024);
        }

      g_object_unref (channel);
      close (peer);
    }
}

/* What was queued before the overflow is written before the channel closes. */
static void
reply_ok (AchatChannel *channel,
          GBytes       *message,
          gpointer      user_data)
{
  achat_channel_push (channel, (const guint8 *) "OK\n", 3);
}

static void
test_reply_written_before_close (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 16);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(GByteArray) got = NULL;

  g_signal_connect (channel, "terminator-found", G_CALLBACK (reply_ok), NULL);
  test_peer_write (peer, "one\ntwo\nthis line is far too long\nthree\n", 41);

  got = test_peer_read (peer, G_MAXSIZE);    /* until EOF */
  g_assert_cmpmem (got->data, got->len, "OK\nOK\n", 6);
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "T(one) T(two) closed(achat-error-quark:2)");
  assert_bytes_str (recorder->collected_at_close, "this line is far");

  g_object_unref (channel);
  close (peer);
}

/* Idle timeout ------------------------------------------------------------ */

static gdouble
seconds_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / (gdouble) G_USEC_PER_SEC;
}

/* A silent peer: closed with G_IO_ERROR_TIMED_OUT after the timeout (to
 * the check's tenth of a second), with the partial message kept. */
static void
test_idle_silent_peer (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  guint notified = 0;
  gint64 start;
  gdouble waited;

  g_signal_connect (channel, "notify::idle-timeout", G_CALLBACK (notify_count), &notified);
  achat_channel_set_idle_timeout (channel, 1);
  g_assert_cmpuint (achat_channel_get_idle_timeout (channel), ==, 1);
  g_assert_cmpuint (notified, ==, 1);
  start = g_get_monotonic_time ();
  test_feed (channel, peer, "partial", 7);

  test_recorder_wait_closed (recorder);
  waited = seconds_since (start);
  g_assert_cmpfloat (waited, >=, 0.95);
  g_assert_cmpfloat (waited, <, 3.0);
  g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (recorder->error->message, "1 seconds"));
  assert_bytes_str (recorder->collected_at_close, "partial");

  g_object_unref (channel);
  close (peer);
}

/* Traffic in either direction keeps the channel open; silence after it
 * closes it. */
static gboolean
tick_peer_writes (gpointer user_data)
{
  int *peer = user_data;

  /* A tick due in the main loop iteration that closed the channel writes
   * to a closed connection; the tests check whether and when it closed. */
  if (send (*peer, "x", 1, MSG_NOSIGNAL) != 1)
    g_assert_true (errno == EPIPE || errno == ECONNRESET);
  return G_SOURCE_CONTINUE;
}

static gboolean
tick_channel_pushes (gpointer user_data)
{
  achat_channel_push (user_data, (const guint8 *) "y", 1);
  return G_SOURCE_CONTINUE;
}

static void
test_idle_traffic_keeps_open (void)
{
  gboolean outgoing;

  for (outgoing = FALSE; outgoing <= TRUE; outgoing++)
    {
      int peer;
      AchatChannel *channel = new_channel (&peer, "\n", 0);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      guint tick;
      gint64 start;

      achat_channel_set_idle_timeout (channel, 1);
      if (outgoing)
        tick = g_timeout_add (300, tick_channel_pushes, channel);
      else
        tick = g_timeout_add (300, tick_peer_writes, &peer);

      test_spin_for (2500);
      g_assert_cmpuint (recorder->n_closed, ==, 0);
      if (outgoing)
        g_assert_cmpuint (achat_channel_get_bytes_sent (channel), >=, 6);
      else
        g_assert_cmpuint (achat_channel_get_bytes_received (channel), >=, 6);

      g_source_remove (tick);
      start = g_get_monotonic_time ();
      test_recorder_wait_closed (recorder);
      g_assert_cmpfloat (seconds_since (start), >=, 0.6);
      g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);

      g_object_unref (channel);
      close (peer);
    }
}

static void
read_message_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  GBytes **message = user_data;

  *message = achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, NULL);
}

static gboolean
has_message (gpointer user_data)
{
  return *(GBytes **) user_data != NULL;
}

/* The idle clock stops while the application holds input: paused, or in
 * the pull style between two reads; a peer that keeps talking is not
 * closed for it. A channel that never took input times out as before. */
static void
test_idle_application_holds (void)
{
  guint how;

  for (how = 0; how < 3; how++)
    {
      int peer;
      AchatChannel *channel = new_channel (&peer, "\n", 0);
      g_autoptr(TestRecorder) recorder = NULL;
      g_autoptr(GBytes) message = NULL;

      achat_channel_set_idle_timeout (channel, 1);
      if (how == 0)
        achat_channel_pause_input (channel);
      else if (how == 1)
        {
          /* Pull style: one read, then none for a while. */
          achat_channel_read_message_async (channel, NULL, read_message_cb, &message);
          test_peer_write (peer, "first\n", 6);
          test_spin_until (has_message, &message);
          g_clear_pointer (&message, g_bytes_unref);
        }
      test_peer_write (peer, "waiting\n", 8);
      if (how == 2)
        {
          /* Nobody ever takes input: the peer is silent after it. */
          recorder = test_recorder_new (channel, FALSE);
          g_signal_handlers_disconnect_matched (channel, G_SIGNAL_MATCH_ID,
                                                g_signal_lookup ("terminator-found",
                                                                 ACHAT_TYPE_CHANNEL),
                                                0, NULL, NULL, NULL);
          test_recorder_wait_closed (recorder);
          g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
        }
      else
        {
          test_spin_for (1800);
          g_assert_false (achat_channel_is_closed (channel));
          if (how == 0)
            {
              recorder = test_recorder_new (channel, FALSE);
              achat_channel_resume_input (channel);
              test_spin_for (50);
              g_assert_cmpstr (recorder->log->str, ==, "T(waiting)");
            }
          else
            {
              achat_channel_read_message_async (channel, NULL, read_message_cb, &message);
              test_spin_until (has_message, &message);
              g_assert_cmpmem (g_bytes_get_data (message, NULL), g_bytes_get_size (message),
                               "waiting", 7);
            }
          achat_channel_close (channel);
        }
      g_object_unref (channel);
      close (peer);
    }
}

static gboolean
tick_peer_lines (gpointer user_data)
{
  int *peer = user_data;

  g_assert_cmpint (send (*peer, "line\n", 5, MSG_NOSIGNAL), ==, 5);
  return G_SOURCE_CONTINUE;
}

/* message-timeout: a peer that trickles one message a byte at a time (which
 * idle-timeout does not stop) is closed once the message is older than
 * the limit; one that sends whole messages is not; nor is one whose
 * application paused input. */
static void
test_message_timeout (void)
{
  guint how;

  for (how = 0; how < 3; how++)
    {
      int peer;
      AchatChannel *channel = new_channel (&peer, "\n", 0);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      gint64 start = g_get_monotonic_time ();
      guint tick;

      achat_channel_set_idle_timeout (channel, 1);
      achat_channel_set_message_timeout (channel, 1);
      g_assert_cmpuint (achat_channel_get_message_timeout (channel), ==, 1);
      if (how == 2)
        achat_channel_pause_input (channel);
      test_peer_write (peer, "GET", 3);
      tick = g_timeout_add (200, how == 1 ? tick_peer_lines : tick_peer_writes, &peer);
      if (how == 0)
        {
          test_recorder_wait_closed (recorder);
          g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
          g_assert_nonnull (strstr (recorder->error->message, "message-timeout"));
          g_assert_cmpfloat (seconds_since (start), >=, 0.9);
          g_assert_cmpfloat (seconds_since (start), <, 3.0);
        }
      else
        {
          test_spin_for (2000);
          g_assert_cmpuint (recorder->n_closed, ==, 0);
          if (how == 1)
            g_assert_cmpuint (recorder->n_found, >=, 5);
        }
      g_source_remove (tick);
      achat_channel_close (channel);
      g_object_unref (channel);
      close (peer);
    }
}

/* 0 turns it off again; closing a channel takes it off the context's list
 * (the others still expire). */
static void
test_idle_off_and_many (void)
{
  enum { N = 200 };
  AchatChannel *channels[N];
  TestRecorder *recorders[N];
  int peers[N];
  guint i, closed = 0;

  for (i = 0; i < N; i++)
    {
      channels[i] = new_channel (&peers[i], "\n", 0);
      recorders[i] = test_recorder_new (channels[i], FALSE);
      achat_channel_set_idle_timeout (channels[i], 1);
    }
  achat_channel_set_idle_timeout (channels[0], 0);           /* off */
  achat_channel_close (channels[1]);                         /* gone early */

  for (i = 2; i < N; i++)
    test_recorder_wait_closed (recorders[i]);
  test_spin_for (300);
  for (i = 0; i < N; i++)
    {
      closed += recorders[i]->n_closed;
      if (i >= 2)
        g_assert_error (recorders[i]->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
    }
  g_assert_cmpuint (recorders[0]->n_closed, ==, 0);
  g_assert_cmpuint (recorders[1]->n_closed, ==, 1);
  g_assert_null (recorders[1]->error);
  g_assert_cmpuint (closed, ==, N - 1);

  /* The last channel with a timeout closes before its deadline: once that
   * deadline passes the context goes idle again (the poller's wakeup time
   * is cleared, or every iteration would dispatch it). */
  {
    int peer;
    AchatChannel *last = new_channel (&peer, "\n", 0);

    achat_channel_set_idle_timeout (last, 1);
    achat_channel_close (last);
    g_object_unref (last);
    close (peer);
  }
  test_spin_for (1300);
  for (i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  g_assert_false (g_main_context_iteration (NULL, FALSE));

  achat_channel_close (channels[0]);
  for (i = 0; i < N; i++)
    {
      test_recorder_free (recorders[i]);
      g_object_unref (channels[i]);
      close (peers[i]);
    }
}

/* Pausing input ------------------------------------------------------------ */

static void
pause_on (AchatChannel *channel,
          GBytes       *message,
          const gchar  *word)
{
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);

  if (length == strlen (word) && memcmp (data, word, length) == 0)
    achat_channel_pause_input (channel);
}

/* Paused from a handler: the rest of the read waits, in order, for resume. */
static void
test_pause_in_handler (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  guint notified = 0;

  g_signal_connect (channel, "notify::input-paused", G_CALLBACK (notify_count), &notified);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (pause_on), (gpointer) "a");
  test_feed (channel, peer, "a\nb\nc\npart", 10);
  test_spin_for (200);
  g_assert_cmpstr (recorder->log->str, ==, "T(a)");
  g_assert_true (achat_channel_is_input_paused (channel));
  g_assert_cmpuint (notified, ==, 1);

  g_object_set (channel, "input-paused", FALSE, NULL);
  g_assert_cmpuint (notified, ==, 2);
  test_spin_for (100);
  g_assert_cmpstr (recorder->log->str, ==, "T(a) T(b) T(c)");
  test_feed (channel, peer, "\n", 1);
  g_assert_cmpstr (recorder->log->str, ==, "T(a) T(b) T(c) T(part)");

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* While paused the socket is not read: the peer fills the kernel's buffers
 * and is held back; on resume every line arrives, in order. */
static void
count_lines (AchatChannel *channel,
             GBytes       *message,
             guint64      *lines)
{
  g_assert_cmpuint (g_bytes_get_size (message), ==, 99);
  (*lines)++;
}

static void
test_pause_holds_peer_back (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  guint8 line[100];
  guint64 lines = 0, written = 0;
  guint64 received;

  memset (line, 'l', sizeof line);
  line[99] = '\n';
  g_signal_connect (channel, "terminator-found", G_CALLBACK (count_lines), &lines);
  achat_channel_pause_input (channel);

  /* Write until the kernel takes no more (bounded: 64 MiB). */
  while (written < 64 * MIB)
    {
      if (send (peer, line, sizeof line, MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof line)
        {
          g_assert_true (errno == EAGAIN);
          test_spin_for (50);
          if (send (peer, line, sizeof line, MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof line)
            break;
        }
      written += sizeof line;
      test_iterate ();
    }
  g_assert_cmpuint (written, <, 64 * MIB);
  received = achat_channel_get_bytes_received (channel);
  g_assert_cmpuint (received, ==, 0);
  g_assert_cmpuint (lines, ==, 0);

  achat_channel_resume_input (channel);
  while (lines < written / sizeof line)
    test_iterate ();
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, written);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* The end of input while paused: the channel stays open until resumed,
 * then delivers the rest and closes. */
static void
test_pause_at_eof (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  g_signal_connect (channel, "terminator-found", G_CALLBACK (pause_on), (gpointer) "a");
  test_peer_write (peer, "a\nb\nrest", 8);
  shutdown (peer, SHUT_WR);
  test_spin_for (200);
  g_assert_cmpstr (recorder->log->str, ==, "T(a)");
  g_assert_false (achat_channel_is_closed (channel));

  achat_channel_resume_input (channel);
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "T(a) T(b) closed");
  assert_bytes_str (recorder->collected_at_close, "rest");

  g_object_unref (channel);
  close (peer);
}

/* discard_buffers() while paused drops what was held; input goes on. */
static void
test_pause_discard (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  g_signal_connect (channel, "terminator-found", G_CALLBACK (pause_on), (gpointer) "a");
  test_feed (channel, peer, "a\nb\nc\n", 6);
  achat_channel_discard_buffers (channel);
  achat_channel_resume_input (channel);
  test_feed (channel, peer, "d\n", 2);
  test_spin_for (50);
  g_assert_cmpstr (recorder->log->str, ==, "T(a) T(d)");

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* A write fails (the peer is gone) while input is paused: nothing the peer
 * sent is lost; it is delivered on resume, then the channel closes with the
 * write's error. */
static void
test_pause_write_fails (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  const gchar *sent = "a\nb\nlast";

  achat_channel_pause_input (channel);
  test_peer_write (peer, sent, strlen (sent));
  close (peer);
  achat_channel_push (channel, (const guint8 *) "x", 1);
  test_spin_for (200);
  g_assert_cmpstr (recorder->log->str, ==, "");
  g_assert_false (achat_channel_is_closed (channel));

  achat_channel_resume_input (channel);
  test_recorder_wait_closed (recorder);
  g_assert_true (g_str_has_prefix (recorder->log->str, "T(a) T(b) closed(g-io-error-quark:"));
  g_assert_nonnull (recorder->error);
  assert_bytes_str (recorder->collected_at_close, "last");

  g_object_unref (channel);
}

/* Output flow control ------------------------------------------------------ */

static void
record_queued (GObject    *object,
               GParamSpec *pspec,
               GArray     *values)
{
  guint64 queued = achat_channel_get_queued_bytes (ACHAT_CHANNEL (object));

  g_array_append_val (values, queued);
}

/* queued-bytes is notified on push and after the write. */
static void
test_queued_bytes_notify (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(GArray) values = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(GByteArray) got = NULL;
  guint64 value = 1;

  g_signal_connect (channel, "notify::queued-bytes", G_CALLBACK (record_queued), values);
  achat_channel_push (channel, (const guint8 *) "hello", 5);
  achat_channel_push (channel, (const guint8 *) "!\n", 2);
  g_assert_cmpuint (values->len, ==, 2);
  g_assert_cmpuint (g_array_index (values, guint64, 0), ==, 5);
  g_assert_cmpuint (g_array_index (values, guint64, 1), ==, 7);

  got = test_peer_read (peer, 7);
  g_assert_cmpmem (got->data, got->len, "hello!\n", 7);
  g_assert_cmpuint (values->len, ==, 3);
  g_assert_cmpuint (g_array_index (values, guint64, 2), ==, 0);
  g_object_get (channel, "queued-bytes", &value, NULL);
  g_assert_cmpuint (value, ==, 0);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

static void
push_big_on_first (GObject    *object,
                   GParamSpec *pspec,
                   gpointer    user_data)
{
  static const guint8 big[200];
  AchatChannel *channel = ACHAT_CHANNEL (object);

  if (achat_channel_get_queued_bytes (channel) == 1)
    achat_channel_push (channel, big, sizeof big);
}

static void
count_drained (AchatChannel *channel,
               guint        *drained)
{
  (*drained)++;
}

/* A queued-bytes handler that pushes past the high watermark leaves the
 * output full: the notification it came from does not undo that with the
 * amount from before the push, nor say the output drained. */
static void
test_queued_bytes_handler_pushes (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  guint drained = 0;

  achat_channel_set_output_watermarks (channel, 10, 100);
  g_signal_connect (channel, "notify::queued-bytes", G_CALLBACK (push_big_on_first), NULL);
  g_signal_connect (channel, "output-drained", G_CALLBACK (count_drained), &drained);
  achat_channel_push (channel, (const guint8 *) "x", 1);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 201);
  g_assert_true (achat_channel_is_output_full (channel));
  g_assert_cmpuint (drained, ==, 0);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

typedef struct
{
  GArray *values;            /* queued-bytes at each notification */
  gboolean full_in_handler;  /* output-full right after the handler's pushes */
  guint handled;
} ReplyState;

static void
reply_three_times (AchatChannel *channel,
                   GBytes       *line,
                   ReplyState   *state)
{
  achat_channel_push (channel, (const guint8 *) "a", 1);
  achat_channel_push (channel, (const guint8 *) "b", 1);
  achat_channel_push (channel, (const guint8 *) "c\n", 2);
  state->full_in_handler = achat_channel_is_output_full (channel);
  state->handled++;
}

static gboolean
handled_once (gpointer user_data)
{
  return ((ReplyState *) user_data)->handled == 1;
}

/* Pushes from a handler are notified once, after the dispatch wrote them,
 * while output-full changes at once, inside the handler. */
static void
test_queued_bytes_notify_in_dispatch (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(GArray) values = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(GByteArray) got = NULL;
  ReplyState state = { values, FALSE, 0 };

  achat_channel_set_output_watermarks (channel, 1, 2);
  g_signal_connect (channel, "notify::queued-bytes", G_CALLBACK (record_queued), values);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (reply_three_times), &state);
  test_peer_write (peer, "go\n", 3);
  test_spin_until (handled_once, &state);
  g_assert_true (state.full_in_handler);

  got = test_peer_read (peer, 4);
  g_assert_cmpmem (got->data, got->len, "abc\n", 4);
  test_spin_for (50);
  g_assert_cmpuint (values->len, ==, 1);
  g_assert_cmpuint (g_array_index (values, guint64, 0), ==, 0);
  g_assert_false (achat_channel_is_output_full (channel));

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

typedef struct
{
  AchatChannel *channel;
  guint n_drained;
  guint n_full_changes;
  guint64 queued_at_drain;
  guint64 max_queued;
  guint64 pushed;
  guint64 total;
  gsize chunk;
} Flow;

static void
flow_on_full (GObject    *object,
              GParamSpec *pspec,
              Flow       *flow)
{
  flow->n_full_changes++;
}

static void
flow_track_queued (GObject    *object,
                   GParamSpec *pspec,
                   Flow       *flow)
{
  flow->max_queued = MAX (flow->max_queued, achat_channel_get_queued_bytes (flow->channel));
}

/* The documented pattern: push while not full, resume on output-drained. */
static void
flow_send_more (AchatChannel *channel,
                Flow         *flow)
{
  static guint8 block[64 * 1024];

  while (!achat_channel_is_output_full (channel) && flow->pushed < flow->total)
    {
      gsize n = (gsize) MIN (flow->chunk, flow->total - flow->pushed);

      memset (block, (guint8) (flow->pushed / flow->chunk), n);
      g_assert_true (achat_channel_push (channel, block, n));
      flow->pushed += n;
    }
}

static void
flow_on_drained (AchatChannel *channel,
                 Flow         *flow)
{
  flow->n_drained++;
  flow->queued_at_drain = achat_channel_get_queued_bytes (channel);
  g_assert_false (achat_channel_is_output_full (channel));
  g_assert_cmpuint (flow->queued_at_drain, <=, achat_channel_get_output_low_watermark (channel));
  flow_send_more (channel, flow);
}

/* A peer that does not read: the queue reaches the high watermark and
 * output-full is set; when the peer reads, output-drained comes once the
 * queue is at the low watermark, and the producer refills. Everything
 * arrives, and the queue never held much more than the high watermark. */
static void
test_watermarks (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  Flow flow = { channel, 0, 0, 0, 0, 0, 16 * MIB, 64 * 1024 };
  guint64 got = 0;
  guint before;

  achat_channel_set_output_watermarks (channel, 64 * 1024, 256 * 1024);
  g_assert_cmpuint (achat_channel_get_output_low_watermark (channel), ==, 64 * 1024);
  g_assert_cmpuint (achat_channel_get_output_high_watermark (channel), ==, 256 * 1024);
  g_signal_connect (channel, "notify::output-full", G_CALLBACK (flow_on_full), &flow);
  g_signal_connect (channel, "notify::queued-bytes", G_CALLBACK (flow_track_queued), &flow);
  g_signal_connect (channel, "output-drained", G_CALLBACK (flow_on_drained), &flow);

  flow_send_more (channel, &flow);
  g_assert_true (achat_channel_is_output_full (channel));
  g_assert_cmpuint (flow.n_full_changes, ==, 1);
  /* The kernel takes what fits in its buffers (the queue drains and is
   * refilled meanwhile), then the queue stays full. */
  test_spin_for (200);
  g_assert_true (achat_channel_is_output_full (channel));
  before = flow.n_drained;
  test_spin_for (200);
  g_assert_cmpuint (flow.n_drained, ==, before);
  g_assert_cmpuint (flow.pushed, <, flow.total);

  /* The peer reads everything, slowly enough for several cycles. */
  while (got < flow.total)
    {
      g_autoptr(GByteArray) piece = test_peer_read (peer, MIN (flow.total - got, 200 * 1024));

      got += piece->len;
    }
  g_assert_cmpuint (flow.pushed, ==, flow.total);
  g_assert_cmpuint (flow.n_drained, >=, before + 2);
  /* Each cycle: full, then drained. */
  g_assert_cmpuint (flow.n_full_changes, ==,
                    2 * flow.n_drained + (achat_channel_is_output_full (channel) ? 1 : 0));
  g_assert_cmpuint (flow.max_queued, <, 256 * 1024 + flow.chunk);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

/* A producer of 1 GiB and a peer that never reads: the producer is asked
 * only for what the socket takes (plus the high watermark), so memory
 * stays bounded however long it waits. */
static void
test_producer_peer_never_reads (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer, "\n", 0);
  g_autoptr(TestProducer) producer = test_producer_new_pattern (0, 1024 * (guint64) MIB,
                                                                64 * 1024, FALSE);
  int sndbuf = 0, rcvbuf = 0;
  socklen_t len = sizeof (int);
  guint64 after_first, bound;

  achat_channel_set_output_watermarks (channel, 64 * 1024, 256 * 1024);
  achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer));
  test_spin_for (300);
  after_first = producer->produced;
  test_spin_for (700);

  /* Nothing more once the socket is full, and never more than the kernel
   * took plus the high watermark plus a chunk. */
  g_assert_cmpuint (producer->produced, ==, after_first);
  g_assert_no_errno (getsockopt (peer, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len));
  g_assert_no_errno (getsockopt (g_socket_get_fd (achat_channel_get_socket (channel)),
                                 SOL_SOCKET, SO_SNDBUF, &sndbuf, &len));
  bound = (guint64) sndbuf + rcvbuf + 256 * 1024 + 64 * 1024;
  g_test_message ("produced %" G_GUINT64_FORMAT " bytes; kernel buffers %d + %d",
                  producer->produced, sndbuf, rcvbuf);
  g_assert_cmpuint (producer->produced, <=, bound);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), <=, 256 * 1024 + 64 * 1024);

  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  pattern_init ();

  g_test_add_func ("/limits/input/property", test_property);
  g_test_add_func ("/limits/input/boundary-every-split", test_boundary_every_split);
  g_test_add_func ("/limits/input/100MiB-without-terminator", test_flood_without_terminator);
  g_test_add_func ("/limits/input/unlimited-and-raised", test_unlimited_and_raised);
  g_test_add_func ("/limits/input/count-past-limit", test_count_past_limit);
  g_test_add_func ("/limits/input/data-collected", test_data_collected);
  g_test_add_func ("/limits/input/reply-written-before-close", test_reply_written_before_close);
  g_test_add_func ("/limits/idle/silent-peer", test_idle_silent_peer);
  g_test_add_func ("/limits/idle/traffic-keeps-open", test_idle_traffic_keeps_open);
  g_test_add_func ("/limits/idle/off-and-many", test_idle_off_and_many);
  g_test_add_func ("/limits/idle/application-holds-input", test_idle_application_holds);
  g_test_add_func ("/limits/message-timeout/trickle-whole-paused", test_message_timeout);
  g_test_add_func ("/flow/pause/in-handler", test_pause_in_handler);
  g_test_add_func ("/flow/pause/holds-peer-back", test_pause_holds_peer_back);
  g_test_add_func ("/flow/pause/at-eof", test_pause_at_eof);
  g_test_add_func ("/flow/pause/discard", test_pause_discard);
  g_test_add_func ("/flow/pause/write-fails", test_pause_write_fails);
  g_test_add_func ("/flow/output/queued-bytes", test_queued_bytes_notify);
  g_test_add_func ("/flow/output/queued-bytes-in-dispatch", test_queued_bytes_notify_in_dispatch);
  g_test_add_func ("/flow/output/queued-bytes-handler-pushes", test_queued_bytes_handler_pushes);
  g_test_add_func ("/flow/output/watermarks", test_watermarks);
  g_test_add_func ("/flow/output/1GiB-producer-peer-never-reads", test_producer_peer_never_reads);

  return g_test_run ();
}
