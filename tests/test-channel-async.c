/* test-channel-async.c: awaitable reads, drains, and pushes from other
 * threads
 *
 * Specifies: achat/achat-channel.c (awaitable reads, drains) and
 *   achat/achat-channel-thread.c (pushes from other threads, cancellation)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

#include "test-util.h"

/* A read's outcome. */
typedef struct
{
  gboolean done;
  GBytes *message;
  GError *error;
} Read;

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Read *read = user_data;

  g_assert_false (read->done);
  read->done = TRUE;
  read->message = achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, &read->error);
  g_assert_true (read->message == NULL || read->error == NULL);
}

static gboolean
read_done (gpointer user_data)
{
  return ((Read *) user_data)->done;
}

static void
read_clear (Read *read)
{
  g_clear_pointer (&read->message, g_bytes_unref);
  g_clear_error (&read->error);
  read->done = FALSE;
}

/* Reads one message, waiting for it. */
static void
read_one (AchatChannel *channel,
          Read         *read)
{
  read_clear (read);
  achat_channel_read_message_async (channel, NULL, read_cb, read);
  test_spin_until (read_done, read);
}

static void
assert_message (Read        *read,
                const gchar *expected)
{
  g_assert_no_error (read->error);
  g_assert_nonnull (read->message);
  g_assert_cmpmem (g_bytes_get_data (read->message, NULL), g_bytes_get_size (read->message),
                   expected, strlen (expected));
}

static AchatChannel *
line_channel (int *peer_fd)
{
  g_autoptr(GSocket) socket = test_socket_pair (peer_fd);
  AchatChannel *channel = achat_channel_new (socket);

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  return channel;
}

/* A request/response client as a straight line: send, read the reply. */
static void
test_read_straight_line (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  Read read = { 0, };
  guint i;

  for (i = 0; i < 20; i++)
    {
      g_autofree gchar *request = g_strdup_printf ("GET %u\n", i);
      g_autofree gchar *reply = g_strdup_printf ("VALUE %u\nEXTRA %u\n", i, i);
      g_autofree gchar *value = g_strdup_printf ("VALUE %u", i);
      g_autofree gchar *extra = g_strdup_printf ("EXTRA %u", i);
      g_autoptr(GByteArray) got = NULL;

      achat_channel_push (channel, (const guint8 *) request, strlen (request));
      got = test_peer_read (peer_fd, strlen (request));
      g_assert_cmpmem (got->data, got->len, request, strlen (request));
      /* Two messages in one write: the second waits for its read. */
      test_peer_write (peer_fd, reply, strlen (reply));
      read_one (channel, &read);
      assert_message (&read, value);
      read_one (channel, &read);
      assert_message (&read, extra);
    }

  /* The clean end: NULL, no error, again and again. */
  close (peer_fd);
  read_one (channel, &read);
  g_assert_no_error (read.error);
  g_assert_null (read.message);
  read_one (channel, &read);
  g_assert_no_error (read.error);
  g_assert_null (read.message);
  g_assert_true (achat_channel_is_closed (channel));
}

/* Messages that came before the end are all read first. */
static void
test_read_then_end (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  Read read = { 0, };

  /* Pull mode from the first read on. */
  test_peer_write (peer_fd, "0\n", 2);
  read_one (channel, &read);
  assert_message (&read, "0");
  test_peer_write (peer_fd, "a\nb\nc\n", 6);
  close (peer_fd);
  test_spin_for (50);
  /* Nobody read yet: the channel waits with the first message, open. */
  g_assert_false (achat_channel_is_closed (channel));
  read_one (channel, &read);
  assert_message (&read, "a");
  read_one (channel, &read);
  assert_message (&read, "b");
  read_one (channel, &read);
  assert_message (&read, "c");
  read_one (channel, &read);
  g_assert_no_error (read.error);
  g_assert_null (read.message);
  read_clear (&read);
}

static void
test_read_pending_refused (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  Read first = { 0, }, second = { 0, };

  achat_channel_read_message_async (channel, NULL, read_cb, &first);
  achat_channel_read_message_async (channel, NULL, read_cb, &second);
  test_spin_until (read_done, &second);
  g_assert_error (second.error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_false (first.done);
  test_peer_write (peer_fd, "one\n", 4);
  test_spin_until (read_done, &first);
  assert_message (&first, "one");
  read_clear (&first);
  read_clear (&second);
  close (peer_fd);
}

/* Cancelling a read loses nothing: the message goes to the next one. */
static void
test_read_cancel (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Read read = { 0, };

  achat_channel_read_message_async (channel, cancellable, read_cb, &read);
  test_spin_for (20);
  g_assert_false (read.done);
  g_cancellable_cancel (cancellable);
  test_spin_until (read_done, &read);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

  test_peer_write (peer_fd, "kept\n", 5);
  read_one (channel, &read);
  assert_message (&read, "kept");
  read_clear (&read);

  /* Cancelled before the call: fails at once, nothing consumed. */
  achat_channel_read_message_async (channel, cancellable, read_cb, &read);
  test_spin_until (read_done, &read);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  test_peer_write (peer_fd, "next\n", 5);
  read_one (channel, &read);
  assert_message (&read, "next");
  read_clear (&read);
  close (peer_fd);
}

/* The message arrives, and the read is cancelled, before the owner's loop
 * ran: the read fails, the message goes to the next read. */
static void
test_read_cancel_race (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Read read = { 0, };

  achat_channel_read_message_async (channel, cancellable, read_cb, &read);
  test_spin_for (10);
  test_peer_write (peer_fd, "kept\n", 5);
  g_cancellable_cancel (cancellable);
  test_spin_until (read_done, &read);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (read.message);
  read_one (channel, &read);
  assert_message (&read, "kept");
  read_clear (&read);
  close (peer_fd);
}

/* A message cut short by the end of the stream is an error; the bytes
 * stay readable. */
static void
test_read_eof_mid_message (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autoptr(GBytes) collected = NULL;
  Read read = { 0, };

  test_peer_write (peer_fd, "whole\nhal", 9);
  close (peer_fd);
  read_one (channel, &read);
  assert_message (&read, "whole");
  read_one (channel, &read);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
  g_assert_null (read.message);
  collected = achat_channel_get_collected (channel);
  g_assert_cmpmem (g_bytes_get_data (collected, NULL), g_bytes_get_size (collected), "hal", 3);
  read_clear (&read);
}

/* Pull mode with nobody reading: input stops, memory stays bounded; then
 * every message comes, in order. */
static void
test_read_bounded (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autoptr(GString) flood = g_string_new (NULL);
  Read read = { 0, };
  gsize written = 0;
  guint i;

  for (i = 0; i < 200000; i++)
    g_string_append_printf (flood, "line %u\n", i);
  achat_channel_read_message_async (channel, NULL, read_cb, &read);
  test_peer_write (peer_fd, "first\n", 6);
  test_spin_until (read_done, &read);
  assert_message (&read, "first");

  /* Write what the socket takes while nobody reads. */
  while (written < flood->len)
    {
      gssize n = write (peer_fd, flood->str + written, MIN (65536, flood->len - written));

      if (n <= 0)
        {
          test_spin_for (10);
          n = write (peer_fd, flood->str + written, MIN (65536, flood->len - written));
          if (n <= 0)
            break;
        }
      written += n;
    }
  test_spin_for (50);
  g_assert_cmpuint (written, <, flood->len);   /* the peer was held back */
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), <, 1024 * 1024);

  for (i = 0; i < 200000; i++)
    {
      g_autofree gchar *expected = g_strdup_printf ("line %u", i);

      if (written < flood->len)
        {
          gssize n = write (peer_fd, flood->str + written, flood->len - written);

          if (n > 0)
            written += n;
        }
      read_one (channel, &read);
      assert_message (&read, expected);
    }
  g_assert_cmpuint (written, ==, flood->len);
  read_clear (&read);
  close (peer_fd);
}

/* Reads and signal handlers on one channel: each message goes to exactly
 * one of them. */
static void
count_handled (AchatChannel *channel,
               GBytes       *message,
               GPtrArray    *handled)
{
  g_ptr_array_add (handled, g_strndup (g_bytes_get_data (message, NULL),
                                       g_bytes_get_size (message)));
}

static void
test_read_and_handlers (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autoptr(GPtrArray) handled = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_free);
  Read read = { 0, };
  guint i, next_handled = 0;

  g_signal_connect (channel, "terminator-found", G_CALLBACK (count_handled), handled);
  for (i = 0; i < 100; i++)
    {
      g_autofree gchar *line = g_strdup_printf ("m%u\n", i);

      if (i % 3 == 0)
        {
          read_clear (&read);
          achat_channel_read_message_async (channel, NULL, read_cb, &read);
          test_peer_write (peer_fd, line, strlen (line));
          test_spin_until (read_done, &read);
          g_ptr_array_add (all, g_strndup (g_bytes_get_data (read.message, NULL),
                                           g_bytes_get_size (read.message)));
        }
      else
        {
          test_peer_write (peer_fd, line, strlen (line));
          while (handled->len == next_handled)
            test_iterate ();
          g_ptr_array_add (all, g_strdup (handled->pdata[next_handled++]));
        }
    }
  g_assert_cmpuint (handled->len, ==, 66);
  for (i = 0; i < 100; i++)
    {
      g_autofree gchar *expected = g_strdup_printf ("m%u", i);

      g_assert_cmpstr (all->pdata[i], ==, expected);
    }
  read_clear (&read);
  close (peer_fd);
}

/* Drains ---------------------------------------------------------------- */

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
  guint64 sent_at_done;
} Drained;

static void
drain_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Drained *drained = user_data;

  drained->done = TRUE;
  drained->ok = achat_channel_drain_finish (ACHAT_CHANNEL (source), result, &drained->error);
  drained->sent_at_done = achat_channel_get_bytes_sent (ACHAT_CHANNEL (source));
}

static gboolean
drain_done (gpointer user_data)
{
  return ((Drained *) user_data)->done;
}

static void
test_drain (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autofree guint8 *big = g_malloc0 (4 * 1024 * 1024);
  g_autoptr(GByteArray) got = NULL;
  Drained empty = { 0, }, first = { 0, }, closed = { 0, };

  /* Nothing queued: done at once (on the next iteration). */
  achat_channel_drain_async (channel, NULL, drain_cb, &empty);
  g_assert_false (empty.done);
  test_spin_until (drain_done, &empty);
  g_assert_true (empty.ok);

  achat_channel_push (channel, big, 4 * 1024 * 1024);
  achat_channel_drain_async (channel, NULL, drain_cb, &first);
  achat_channel_push (channel, (const guint8 *) "after\n", 6);   /* not waited for */
  test_spin_for (30);
  g_assert_false (first.done);   /* the peer reads nothing yet */
  got = test_peer_read (peer_fd, 4 * 1024 * 1024 + 6);
  test_spin_until (drain_done, &first);
  g_assert_true (first.ok);
  g_assert_cmpuint (first.sent_at_done, >=, 4 * 1024 * 1024);

  /* Closed first: fails, and the bytes never written are counted. */
  achat_channel_push (channel, big, 4 * 1024 * 1024);
  achat_channel_drain_async (channel, NULL, drain_cb, &closed);
  test_spin_for (20);
  achat_channel_close (channel);
  test_spin_until (drain_done, &closed);
  g_assert_error (closed.error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_cmpuint (achat_channel_get_unsent_bytes (channel), >, 0);
  g_assert_cmpuint (achat_channel_get_unsent_bytes (channel) + achat_channel_get_bytes_sent (channel),
                    ==, 2 * 4 * 1024 * 1024 + 6);
  g_clear_error (&closed.error);
  close (peer_fd);
}

/* Pushes from other threads ------------------------------------------------ */

#define N_THREADS 4
#define N_RECORDS 5000

typedef struct
{
  AchatChannel *channel;
  guint id;
} Pusher;

static gpointer
push_records (gpointer data)
{
  Pusher *pusher = data;
  guint i;

  for (i = 0; i < N_RECORDS; i++)
    {
      g_autofree gchar *record = g_strdup_printf ("%u:%u\n", pusher->id, i);

      g_assert_true (achat_channel_push (pusher->channel, (const guint8 *) record, strlen (record)));
      if (i % 1000 == 999)
        g_thread_yield ();
    }
  return NULL;
}

static gpointer
close_when_done_thread (gpointer data)
{
  achat_channel_close_when_done (data);
  return NULL;
}

static void
test_threads_push (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  g_autoptr(TestRecorder) recorder = NULL;
  GThread *threads[N_THREADS];
  Pusher pushers[N_THREADS];
  guint next[N_THREADS] = { 0, };
  g_autoptr(GByteArray) got = NULL;
  g_auto(GStrv) lines = NULL;
  guint i, n = 0;

  recorder = test_recorder_new (channel, FALSE);
  for (i = 0; i < N_THREADS; i++)
    {
      pushers[i].channel = channel;
      pushers[i].id = i;
      threads[i] = g_thread_new ("pusher", push_records, &pushers[i]);
    }
  /* Their pushes wait for the owner's loop, in order. */
  for (i = 0; i < N_THREADS; i++)
    g_thread_join (threads[i]);
  /* close_when_done() from another thread: after everything they pushed. */
  g_thread_join (g_thread_new ("closer", close_when_done_thread, channel));
  got = test_peer_read (peer_fd, G_MAXSIZE);
  test_recorder_wait_closed (recorder);
  g_assert_null (recorder->error);

  /* Every record, each thread's in its order. */
  g_byte_array_append (got, (const guint8 *) "", 1);
  lines = g_strsplit ((const gchar *) got->data, "\n", -1);
  for (i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      guint id, seq;

      g_assert_cmpint (sscanf (lines[i], "%u:%u", &id, &seq), ==, 2);
      g_assert_cmpuint (id, <, N_THREADS);
      g_assert_cmpuint (seq, ==, next[id]);
      next[id]++;
      n++;
    }
  g_assert_cmpuint (n, ==, N_THREADS * N_RECORDS);
  g_assert_cmpuint (achat_channel_get_unsent_bytes (channel), ==, 0);
  close (peer_fd);
}

/* A thread that keeps pushing while the channel closes: what arrived too
 * late is counted, later pushes are refused. */
static gpointer
push_until_refused (gpointer data)
{
  Pusher *pusher = data;
  guint i;

  for (i = 0; i < 1000000; i++)
    if (!achat_channel_push (pusher->channel, (const guint8 *) "0123456789", 10))
      return GUINT_TO_POINTER (i + 1);
  return NULL;
}

static void
test_threads_close_meanwhile (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  Pusher pusher = { channel, 0 };
  GThread *thread;
  guint attempts;
  guint64 accounted;

  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  thread = g_thread_new ("pusher", push_until_refused, &pusher);
  test_spin_for (20);
  achat_channel_close (channel);
  attempts = GPOINTER_TO_UINT (g_thread_join (thread));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (attempts, >, 0);
  test_spin_for (20);
  /* Every accepted push was either written or counted as unsent. */
  accounted = achat_channel_get_bytes_sent (channel) + achat_channel_get_unsent_bytes (channel);
  g_assert_cmpuint (accounted, ==, (guint64) (attempts - 1) * 10);
  close (peer_fd);
}

static gpointer
push_ten (gpointer data)
{
  AchatChannel *channel = data;
  guint8 chunk[100] = { 0, };
  guint i;

  for (i = 0; i < 10; i++)
    g_assert_true (achat_channel_push (channel, chunk, sizeof chunk));
  return NULL;
}

static void
record_unsent (AchatChannel *channel,
               const GError *error,
               gpointer      user_data)
{
  *(guint64 *) user_data = achat_channel_get_unsent_bytes (channel);
}

/* Pushes accepted from another thread and not applied when the channel
 * closes are already counted as unsent inside the closed handler. */
static void
test_threads_unsent_in_closed (void)
{
  int peer_fd;
  g_autoptr(AchatChannel) channel = line_channel (&peer_fd);
  guint64 unsent_in_closed = G_MAXUINT64;

  g_signal_connect (channel, "closed", G_CALLBACK (record_unsent), &unsent_in_closed);
  /* The owner's loop does not run between the pushes and the close. */
  g_thread_join (g_thread_new ("pusher", push_ten, channel));
  achat_channel_close (channel);
  g_assert_cmpuint (unsent_in_closed, ==, 1000);
  test_spin_for (20);
  g_assert_cmpuint (achat_channel_get_unsent_bytes (channel), ==, 1000);
  close (peer_fd);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/async/read/straight-line", test_read_straight_line);
  g_test_add_func ("/async/read/then-end", test_read_then_end);
  g_test_add_func ("/async/read/pending-refused", test_read_pending_refused);
  g_test_add_func ("/async/read/cancel", test_read_cancel);
  g_test_add_func ("/async/read/cancel-race", test_read_cancel_race);
  g_test_add_func ("/async/read/eof-mid-message", test_read_eof_mid_message);
  g_test_add_func ("/async/read/bounded", test_read_bounded);
  g_test_add_func ("/async/read/with-handlers", test_read_and_handlers);
  g_test_add_func ("/async/drain", test_drain);
  g_test_add_func ("/async/threads/push", test_threads_push);
  g_test_add_func ("/async/threads/close-meanwhile", test_threads_close_meanwhile);
  g_test_add_func ("/async/threads/unsent-in-closed", test_threads_unsent_in_closed);

  return g_test_run ();
}
