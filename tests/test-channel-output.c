/* test-channel-output.c: the output side of AchatChannel
 *
 * Specifies: achat/achat-channel.c (pushes, flushes) and achat/achat-output-queue.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every test checks the exact bytes the peer receives.  The rows of the
 * Output table of behaviour.md (O1–O15) are named in the comments.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-producer.h"
#include "test-util.h"

#define KIB (1024)
#define MIB (1024 * 1024)

/* A channel whose writable() the test controls -------------------------- */

#define TEST_TYPE_GATED_CHANNEL (test_gated_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestGatedChannel, test_gated_channel, TEST, GATED_CHANNEL, AchatChannel)

struct _TestGatedChannel
{
  AchatChannel parent_instance;

  gboolean open;
  guint n_asked;
};

G_DEFINE_FINAL_TYPE (TestGatedChannel, test_gated_channel, ACHAT_TYPE_CHANNEL)

static gboolean
test_gated_channel_writable (AchatChannel *channel)
{
  TestGatedChannel *self = TEST_GATED_CHANNEL (channel);

  self->n_asked++;
  return self->open;
}

static void
test_gated_channel_class_init (TestGatedChannelClass *klass)
{
  ACHAT_CHANNEL_CLASS (klass)->writable = test_gated_channel_writable;
}

static void
test_gated_channel_init (TestGatedChannel *self)
{
}

/* Helpers --------------------------------------------------------------- */

static AchatChannel *
new_channel (int *peer_fd)
{
  g_autoptr(GSocket) sock = test_socket_pair (peer_fd);

  return achat_channel_new (sock);
}

/* An AF_UNIX SOCK_SEQPACKET pair: every write of the channel arrives as
 * one record, so the peer can count the channel's writes. */
static AchatChannel *
new_seqpacket_channel (int *peer_fd)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) sock = NULL;
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds));
  g_assert_no_errno (fcntl (fds[1], F_SETFL, O_NONBLOCK));
  sock = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  *peer_fd = fds[1];
  return achat_channel_new (sock);
}

static void
finish_channel (AchatChannel *channel,
                int           peer_fd)
{
  if (!achat_channel_is_closed (channel))
    achat_channel_close (channel);
  g_object_unref (channel);
  if (peer_fd >= 0)
    close (peer_fd);
}

/* Without waiting: 1 if the peer has data, 0 at EOF, -1 if nothing yet. */
static gssize
peer_peek (int peer_fd)
{
  guint8 c;
  gssize n = recv (peer_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0)
    g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
  return n < 0 ? -1 : n;
}

/* Without waiting: the next record of a SOCK_SEQPACKET peer, or -1. */
static gssize
peer_recv_record (int     peer_fd,
                  guint8 *buffer,
                  gsize   size)
{
  gssize n = recv (peer_fd, buffer, size, MSG_DONTWAIT);

  if (n < 0)
    g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
  return n;
}

/* Reads everything until EOF and checks it is @expected. */
static void
assert_peer_receives_then_eof (int          peer_fd,
                               const gchar *expected)
{
  g_autoptr(GByteArray) got = test_peer_read (peer_fd, G_MAXSIZE);

  g_assert_cmpmem (got->data, got->len, expected, strlen (expected));
}

static gboolean
spin_until_or_timeout (TestCondition condition,
                       gpointer      user_data)
{
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  while (!condition (user_data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (200);
    }
  return TRUE;
}

static gboolean
flag_is_set (gpointer user_data)
{
  return *(gboolean *) user_data;
}

static gboolean
pointer_is_set (gpointer user_data)
{
  return *(gpointer *) user_data != NULL;
}

static gboolean
channel_is_closed_cond (gpointer user_data)
{
  return achat_channel_is_closed (user_data);
}

/* A slow peer: reads at most max_piece bytes per read(), and lets the
 * main loop run after each one, so that the channel meets a full socket
 * and partial writes all the time. */
typedef struct
{
  int fd;
  gsize max_piece;
  gboolean random_piece;
  GByteArray *kept;         /* everything read, if non-NULL */
  guint64 pattern_base;     /* otherwise checked against the pattern */
  guint64 received;
  guint64 mismatch;         /* stream offset of the first bad byte, or G_MAXUINT64 */
  gboolean eof;
} PeerReader;

static void
peer_reader_init (PeerReader *reader,
                  int         fd,
                  gsize       max_piece,
                  gboolean    random_piece,
                  gboolean    keep)
{
  memset (reader, 0, sizeof *reader);
  reader->fd = fd;
  reader->max_piece = max_piece;
  reader->random_piece = random_piece;
  reader->kept = keep ? g_byte_array_new () : NULL;
  reader->mismatch = G_MAXUINT64;
}

static void
peer_reader_clear (PeerReader *reader)
{
  g_clear_pointer (&reader->kept, g_byte_array_unref);
}

/* Reads until @until bytes have been read in all (G_MAXUINT64: until EOF)
 * or EOF.  Returns FALSE if nothing arrived for TEST_TIMEOUT_MS. */
static gboolean
peer_reader_read (PeerReader *reader,
                  guint64     until)
{
  static guint8 buffer[PATTERN_SPAN];
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  while (reader->received < until && !reader->eof)
    {
      gsize want = reader->random_piece
                   ? (gsize) g_test_rand_int_range (1, (gint32) reader->max_piece + 1)
                   : reader->max_piece;
      gssize n;

      want = MIN (want, sizeof buffer);
      if (until != G_MAXUINT64)
        want = (gsize) MIN ((guint64) want, until - reader->received);

      n = read (reader->fd, buffer, want);
      if (n > 0)
        {
          if (reader->kept != NULL)
            g_byte_array_append (reader->kept, buffer, n);
          else if (reader->mismatch == G_MAXUINT64)
            {
              gsize at = pattern_find_mismatch (buffer, reader->pattern_base + reader->received, n);

              if (at != G_MAXSIZE)
                reader->mismatch = reader->received + at;
            }
          reader->received += n;
          deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
          g_main_context_iteration (NULL, FALSE);
          continue;
        }
      if (n == 0)
        {
          reader->eof = TRUE;
          break;
        }
      g_assert_true (errno == EAGAIN || errno == EINTR);
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
    }
  return TRUE;
}

static void
record_bytes_sent (AchatChannel *channel,
                   const GError *error,
                   guint64      *sent_at_close)
{
  *sent_at_close = achat_channel_get_bytes_sent (channel);
}

static void
push_pattern (AchatChannel *channel,
              guint64       offset,
              gsize         length)
{
  guint8 *data = g_malloc (length);

  pattern_fill (data, offset, length);
  g_assert_true (achat_channel_push (channel, data, length));
  g_free (data);
}

/* Push ------------------------------------------------------------------ */

/* Pushes outside a handler go out on the next main loop iteration, all of
 * them in it. */
static void
test_push_next_iteration (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GByteArray) got = NULL;

  g_assert_true (achat_channel_push (channel, (const guint8 *) "hello ", 6));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "world", 5));
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 11);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 0);
  g_assert_cmpint (peer_peek (peer), ==, -1);

  g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 11);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);

  got = test_peer_read (peer, 11);
  g_assert_cmpmem (got->data, got->len, "hello world", 11);
  g_assert_cmpint (peer_peek (peer), ==, -1);

  finish_channel (channel, peer);
}

/* Text: pushed as its UTF-8 bytes; a message read back as text, or the
 * error that says where it is not text. */
static void
test_text (void)
{
  static const struct {
    const gchar *bytes;
    gsize length;
    const gchar *text;      /* NULL: not text */
    const gchar *why;
  } messages[] = {
    { "", 0, "", NULL },
    { "plain", 5, "plain", NULL },
    { "caf\xc3\xa9 \xe2\x82\xac", 9, "caf\xc3\xa9 \xe2\x82\xac", NULL },
    { "caf\xc3", 4, NULL, "invalid UTF-8 at byte 3 of 4" },
    { "\xff\xfe", 2, NULL, "invalid UTF-8 at byte 0 of 2" },
    { "a\0b", 3, NULL, "a NUL byte at byte 1 of 3" },
  };
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GByteArray) got = NULL;
  guint i;

  g_assert_true (achat_channel_push_text (channel, "h\xc3\xa9llo\n"));
  g_main_context_iteration (NULL, FALSE);
  got = test_peer_read (peer, 7);
  g_assert_cmpmem (got->data, got->len, "h\xc3\xa9llo\n", 7);

  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*g_utf8_validate*");
  g_assert_false (achat_channel_push_text (channel, "\xff"));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);

  for (i = 0; i < G_N_ELEMENTS (messages); i++)
    {
      g_autoptr(GBytes) message = g_bytes_new (messages[i].bytes, messages[i].length);
      g_autoptr(GError) error = NULL;
      g_autofree gchar *text = achat_message_dup_text (message, &error);

      if (messages[i].text != NULL)
        {
          g_assert_no_error (error);
          g_assert_cmpstr (text, ==, messages[i].text);
        }
      else
        {
          g_assert_null (text);
          g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
          g_assert_nonnull (strstr (error->message, messages[i].why));
        }
    }

  finish_channel (channel, peer);
}

/* O1: consecutive pushes leave in one vectored write (one record on a
 * SOCK_SEQPACKET socket), copies, GBytes and big pushes alike. */
static void
test_push_coalesced (void)
{
  int peer;
  AchatChannel *channel = new_seqpacket_channel (&peer);
  g_autoptr(GBytes) middle = pattern_new_bytes (1, 300);
  guint8 expected[1 + 300 + 2000 + 1];
  guint8 record[8192];
  gssize n;

  expected[0] = 'a';
  pattern_fill (expected + 1, 1, 300);
  memset (expected + 301, 'c', 2000);
  expected[2301] = 'd';

  g_assert_true (achat_channel_push (channel, expected, 1));
  g_assert_true (achat_channel_push_bytes (channel, middle));
  g_assert_true (achat_channel_push (channel, expected + 301, 2000));
  g_assert_true (achat_channel_push (channel, expected + 2301, 1));
  g_assert_cmpint (peer_peek (peer), ==, -1);

  g_main_context_iteration (NULL, FALSE);

  n = peer_recv_record (peer, record, sizeof record);
  g_assert_cmpmem (record, n, expected, sizeof expected);
  g_assert_cmpint (peer_recv_record (peer, record, sizeof record), ==, -1);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, sizeof expected);

  finish_channel (channel, peer);
}

typedef struct
{
  int peer;
  guint n_found;
  gboolean written_early;
} HandlerPush;

static void
push_reply_cb (AchatChannel *channel,
               GBytes       *message,
               HandlerPush  *data)
{
  gsize length;
  const guint8 *bytes = g_bytes_get_data (message, &length);

  data->n_found++;
  /* Nothing of the earlier replies has been written yet. */
  if (peer_peek (data->peer) != -1)
    data->written_early = TRUE;
  g_assert_true (achat_channel_push (channel, (const guint8 *) "<", 1));
  g_assert_true (achat_channel_push (channel, bytes, length));
  g_assert_true (achat_channel_push (channel, (const guint8 *) ">", 1));
}

/* Pushes from a handler are written together when the read is processed,
 * within the same dispatch. */
static void
test_push_in_handler (void)
{
  HandlerPush data = { 0, };
  AchatChannel *channel = new_seqpacket_channel (&data.peer);
  guint8 record[256];
  gssize n;

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (push_reply_cb), &data);

  test_feed (channel, data.peer, "a\nbb\nccc\n", 9);
  g_assert_cmpuint (data.n_found, ==, 3);
  g_assert_false (data.written_early);

  /* Already written: no further main loop iteration. */
  n = peer_recv_record (data.peer, record, sizeof record);
  g_assert_cmpmem (record, n, "<a><bb><ccc>", 12);
  g_assert_cmpint (peer_recv_record (data.peer, record, sizeof record), ==, -1);

  finish_channel (channel, data.peer);
}

/* The channels of a context share one spare chunk for small pushes (the
 * chunk a written reply leaves is the next reply's): two channels take
 * turns and overlap with replies of every size around the chunk's and the
 * small-push limit, and each peer gets exactly its own bytes. */
static void
test_push_shared_chunk (void)
{
  static const gsize sizes[] = { 1, 7, 1023, 1024, 1025, 2048, 4095, 4096, 4097, 100 };
  int peers[2];
  AchatChannel *channels[2] = { new_channel (&peers[0]), new_channel (&peers[1]) };
  guint8 *data = g_malloc (8192);
  guint round, c;

  for (round = 0; round < 3 * G_N_ELEMENTS (sizes); round++)
    {
      gsize size = sizes[round % G_N_ELEMENTS (sizes)];

      for (c = 0; c < 2; c++)
        {
          /* Each reply is pushed in pieces, one pattern offset per channel
           * and round; in the last third both are queued before either is
           * written. */
          gsize offset = round * 7 + c * 1000, done = 0;

          pattern_fill (data, offset, size);
          while (done < size)
            {
              gsize piece = MIN (size - done, 1 + (done % 300));

              g_assert_true (achat_channel_push (channels[c], data + done, piece));
              done += piece;
            }
          if (round < 2 * G_N_ELEMENTS (sizes))
            {
              g_autoptr(GByteArray) got = test_peer_read (peers[c], size);

              g_assert_true (pattern_matches (got->data, offset, size));
            }
        }
      if (round >= 2 * G_N_ELEMENTS (sizes))
        for (c = 0; c < 2; c++)
          {
            g_autoptr(GByteArray) got = test_peer_read (peers[c], size);

            g_assert_true (pattern_matches (got->data, round * 7 + c * 1000, size));
          }
    }

  /* Reused chunks queued behind a blob the socket takes a piece at a time
   * (its send buffer made as small as it goes). */
  g_assert_true (g_socket_set_option (achat_channel_get_socket (channels[0]),
                                      SOL_SOCKET, SO_SNDBUF, 1, NULL));
  for (round = 0; round < 16; round++)
    {
      gsize blob = 5000 + round * 409, size = 600 + round * 211;
      guint8 *big = g_malloc (blob);
      g_autoptr(GByteArray) got = NULL;

      pattern_fill (big, round, blob);
      g_assert_true (achat_channel_push (channels[0], big, blob));
      pattern_fill (data, round + blob, size);
      g_assert_true (achat_channel_push (channels[0], data, size / 2));
      g_assert_true (achat_channel_push (channels[0], data + size / 2, size - size / 2));
      g_free (big);
      got = test_peer_read (peers[0], blob + size);
      g_assert_true (pattern_matches (got->data, round, blob + size));
    }

  g_free (data);
  for (c = 0; c < 2; c++)
    finish_channel (channels[c], peers[c]);
}

/* push() copies: the caller may reuse or free the buffer at once. */
static void
test_push_copies (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GByteArray) got = NULL;
  guint8 small[9] = "original";
  guint8 *big = g_malloc (5000);

  pattern_fill (big, 8, 5000);
  g_assert_true (achat_channel_push (channel, small, 8));
  g_assert_true (achat_channel_push (channel, big, 5000));
  memset (small, 'X', sizeof small);
  memset (big, 'Y', 5000);
  g_free (big);
  achat_channel_close_when_done (channel);

  got = test_peer_read (peer, G_MAXSIZE);
  g_assert_cmpuint (got->len, ==, 5008);
  g_assert_cmpmem (got->data, 8, "original", 8);
  g_assert_true (pattern_matches (got->data + 8, 8, 5000));

  finish_channel (channel, peer);
}

typedef struct
{
  guint8 *data;
  gboolean freed;
} TrackedBytes;

static void
tracked_bytes_free (gpointer user_data)
{
  TrackedBytes *tracked = user_data;

  g_free (tracked->data);
  tracked->freed = TRUE;
}

/* push_bytes() keeps a reference (no copy) until the bytes are written,
 * then lets it go. */
static void
test_push_bytes_references (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GByteArray) got = NULL;
  TrackedBytes tracked = { g_malloc (4096), FALSE };
  GBytes *bytes;

  pattern_fill (tracked.data, 0, 4096);
  bytes = g_bytes_new_with_free_func (tracked.data, 4096, tracked_bytes_free, &tracked);
  g_assert_true (achat_channel_push_bytes (channel, bytes));
  g_bytes_unref (bytes);
  g_assert_false (tracked.freed);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 4096);

  got = test_peer_read (peer, 4096);
  g_assert_true (pattern_matches (got->data, 0, got->len));
  test_spin_until (flag_is_set, &tracked.freed);

  finish_channel (channel, peer);
}

/* O4: an empty push sends nothing (not even a zero-length record) and
 * succeeds. */
static void
test_push_empty (void)
{
  int peer;
  AchatChannel *channel = new_seqpacket_channel (&peer);
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  guint8 record[16];
  gssize n;

  g_assert_true (achat_channel_push (channel, NULL, 0));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "x", 0));
  g_assert_true (achat_channel_push_bytes (channel, empty));
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  g_assert_false (ACHAT_CHANNEL_GET_CLASS (channel)->writable (channel));

  test_spin_for (50);
  g_assert_cmpint (peer_peek (peer), ==, -1);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 0);
  g_assert_false (achat_channel_is_closed (channel));

  g_assert_true (achat_channel_push (channel, (const guint8 *) "z", 1));
  g_main_context_iteration (NULL, FALSE);
  n = peer_recv_record (peer, record, sizeof record);
  g_assert_cmpmem (record, n, "z", 1);

  finish_channel (channel, peer);
}

/* data NULL with a length is a programming error. */
static void
test_push_null_data (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);

  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*data != NULL*");
  g_assert_false (achat_channel_push (channel, NULL, 5));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "ok", 2));
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "ok");

  finish_channel (channel, peer);
}

/* FIFO ------------------------------------------------------------------ */

/* Copies, GBytes and producers of every kind go out in push order. */
static void
test_fifo_mixed (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(GByteArray) got = NULL;
  g_autoptr(GBytes) big = pattern_new_bytes (0, 10000);
  g_autoptr(GBytes) tiny = g_bytes_new_static ("tiny|", 5);
  g_autoptr(GBytes) hello = g_bytes_new_static ("hello world!", 12);
  g_autoptr(AchatSimpleProducer) simple = achat_simple_producer_new (hello, 5);
  g_autoptr(TestProducer) numbered = test_producer_new_numbered (5);
  g_autoptr(TestProducer) list = test_producer_new_list ((const gchar *[]) { "x", "", "never", NULL });
  g_autoptr(TestProducer) pattern = test_producer_new_pattern (3, 100000, 999, FALSE);
  guint8 *medium = g_malloc (3000);

  pattern_fill (medium, 7, 3000);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "A:", 2));
  g_byte_array_append (expected, (const guint8 *) "A:", 2);
  g_assert_true (achat_channel_push_bytes (channel, big));
  g_byte_array_append (expected, g_bytes_get_data (big, NULL), 10000);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (numbered)));
  g_byte_array_append (expected, (const guint8 *) "chunk-0000;chunk-0001;chunk-0002;chunk-0003;chunk-0004;", 55);
  g_assert_true (achat_channel_push (channel, (const guint8 *) "|", 1));
  g_byte_array_append (expected, (const guint8 *) "|", 1);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (simple)));
  g_byte_array_append (expected, (const guint8 *) "hello world!", 12);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (list)));
  g_byte_array_append (expected, (const guint8 *) "x", 1);
  g_assert_true (achat_channel_push (channel, medium, 3000));
  g_byte_array_append (expected, medium, 3000);
  g_assert_true (achat_channel_push_bytes (channel, tiny));
  g_byte_array_append (expected, (const guint8 *) "tiny|", 5);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (pattern)));
  g_byte_array_set_size (expected, expected->len + 100000);
  pattern_fill (expected->data + expected->len - 100000, 3, 100000);
  g_assert_true (achat_channel_push (channel, (const guint8 *) "end", 3));
  g_byte_array_append (expected, (const guint8 *) "end", 3);
  g_free (medium);

  achat_channel_close_when_done (channel);
  got = test_peer_read (peer, G_MAXSIZE);
  g_assert_cmpmem (got->data, got->len, expected->data, expected->len);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, expected->len);
  g_assert_cmpuint (list->calls, ==, 2);

  finish_channel (channel, peer);
}

/* Queues one random piece of the pattern at *pos, by a random means. */
static void
push_random_piece (AchatChannel *channel,
                   guint64      *pos)
{
  gsize length = 0;

  switch (g_test_rand_int_range (0, 8))
    {
    case 0:   /* small copies share chunks */
      length = g_test_rand_int_range (1, 65);
      push_pattern (channel, *pos, length);
      break;
    case 1:   /* bigger copies get their own */
      length = g_test_rand_int_range (1025, 8000);
      push_pattern (channel, *pos, length);
      break;
    case 2:   /* small GBytes are copied */
      {
        g_autoptr(GBytes) bytes = NULL;

        length = g_test_rand_int_range (1, 257);
        bytes = pattern_new_bytes (*pos, length);
        g_assert_true (achat_channel_push_bytes (channel, bytes));
      }
      break;
    case 3:   /* big GBytes are referenced */
      {
        g_autoptr(GBytes) bytes = NULL;

        length = g_test_rand_int_range (257, 300000);
        bytes = pattern_new_bytes (*pos, length);
        g_assert_true (achat_channel_push_bytes (channel, bytes));
      }
      break;
    case 4:
      {
        g_autoptr(GBytes) bytes = NULL;
        g_autoptr(AchatSimpleProducer) producer = NULL;

        length = g_test_rand_int_range (0, 200000);
        bytes = pattern_new_bytes (*pos, length);
        producer = achat_simple_producer_new (bytes, g_test_rand_int_range (0, 70000));
        g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
      }
      break;
    case 5:
      {
        g_autoptr(TestProducer) producer = NULL;

        length = g_test_rand_int_range (0, 300000);
        producer = test_producer_new_pattern (*pos, length, PATTERN_SPAN, TRUE);
        g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
      }
      break;
    case 6:
      {
        g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);

        g_assert_true (achat_channel_push (channel, NULL, 0));
        g_assert_true (achat_channel_push_bytes (channel, empty));
      }
      break;
    case 7:   /* a producer of tiny pieces */
      {
        g_autoptr(TestProducer) producer = NULL;

        length = g_test_rand_int_range (0, 100);
        producer = test_producer_new_pattern (*pos, length, 7, TRUE);
        g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
      }
      break;
    default:
      g_assert_not_reached ();
    }

  *pos += length;
}

/* O2: many pushes of every kind, made while earlier ones are still being
 * written in pieces to a slow peer, arrive complete and in order. */
static void
test_fifo_interleaved (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  PeerReader reader;
  guint64 pos = 0;
  guint op;

  peer_reader_init (&reader, peer, 16 * KIB, TRUE, FALSE);
  for (op = 0; op < 240; op++)
    {
      push_random_piece (channel, &pos);
      g_assert_cmpuint (achat_channel_get_bytes_sent (channel) +
                        achat_channel_get_queued_bytes (channel), <=, pos);
      if (op % 8 == 7)
        {
          /* Take part of the backlog only, so that the next pushes land
           * behind a partly written queue. */
          guint64 backlog = pos - reader.received;
          guint64 take = (guint64) g_test_rand_int_range (0, (gint32) MIN (backlog, G_MAXINT32 - 1) + 1);

          g_assert_true (peer_reader_read (&reader, reader.received + take));
        }
    }

  achat_channel_close_when_done (channel);
  g_assert_true (peer_reader_read (&reader, G_MAXUINT64));
  g_assert_true (reader.eof);
  g_assert_cmpuint (reader.received, ==, pos);
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, pos);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* Producers ------------------------------------------------------------- */

/* O7: the simple producer hands out its bytes in buffer-size slices. */
static void
test_producer_simple_chunks (void)
{
  g_autoptr(GBytes) data = g_bytes_new_static ("hello world!", 12);
  g_autoptr(AchatSimpleProducer) producer = achat_simple_producer_new (data, 5);
  const gchar *expected[] = { "hello", " worl", "d!" };
  gsize i;

  g_assert_cmpuint (achat_simple_producer_get_buffer_size (producer), ==, 5);
  g_assert_cmpuint (achat_simple_producer_get_remaining (producer), ==, 12);
  for (i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autoptr(GBytes) chunk = achat_producer_more (ACHAT_PRODUCER (producer));
      gsize length;
      const guint8 *bytes;

      g_assert_nonnull (chunk);
      bytes = g_bytes_get_data (chunk, &length);
      g_assert_cmpmem (bytes, length, expected[i], strlen (expected[i]));
    }
  g_assert_cmpuint (achat_simple_producer_get_remaining (producer), ==, 0);
  g_assert_null (achat_producer_more (ACHAT_PRODUCER (producer)));
  g_assert_null (achat_producer_more (ACHAT_PRODUCER (producer)));
}

/* A buffer size of 0 means 512 bytes, as in Python. */
static void
test_producer_simple_default_size (void)
{
  g_autoptr(GBytes) data = pattern_new_bytes (0, 1300);
  g_autoptr(AchatSimpleProducer) producer = achat_simple_producer_new (data, 0);
  const gsize sizes[] = { 512, 512, 276 };
  guint64 offset = 0;
  gsize i;

  g_assert_cmpuint (ACHAT_SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE, ==, 512);
  g_assert_cmpuint (achat_simple_producer_get_buffer_size (producer), ==, 512);
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(GBytes) chunk = achat_producer_more (ACHAT_PRODUCER (producer));
      gsize length;
      const guint8 *bytes;

      g_assert_nonnull (chunk);
      bytes = g_bytes_get_data (chunk, &length);
      g_assert_cmpuint (length, ==, sizes[i]);
      g_assert_true (pattern_matches (bytes, offset, length));
      offset += length;
    }
  g_assert_null (achat_producer_more (ACHAT_PRODUCER (producer)));
}

/* O7 through a channel. */
static void
test_producer_simple_channel (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GBytes) data = g_bytes_new_static ("hello world!", 12);
  AchatSimpleProducer *producer = achat_simple_producer_new (data, 5);

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_object_add_weak_pointer (G_OBJECT (producer), (gpointer *) &producer);
  g_object_unref (producer);
  g_assert_nonnull (producer);   /* the channel holds it */
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "hello world!");
  g_assert_null (producer);      /* and let it go when exhausted */

  finish_channel (channel, peer);
}

static void
test_producer_numbered (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestProducer) producer = test_producer_new_numbered (1000);
  g_autoptr(GString) expected = g_string_new (NULL);
  g_autoptr(GByteArray) got = NULL;
  guint i;

  for (i = 0; i < 1000; i++)
    g_string_append_printf (expected, "chunk-%04u;", i);

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "done", 4));
  g_string_append (expected, "done");
  achat_channel_close_when_done (channel);

  got = test_peer_read (peer, G_MAXSIZE);
  g_assert_cmpmem (got->data, got->len, expected->str, expected->len);
  g_assert_cmpuint (producer->calls, ==, 1001);

  finish_channel (channel, peer);
}

/* O11: an empty chunk exhausts the producer (it is never called again and
 * is released); the next item follows. */
static void
test_producer_exhausted_empty (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  TestProducer *producer = test_producer_new_list ((const gchar *[]) { "a", "b", "", "never", NULL });
  TestProducer *weak = producer;

  g_object_add_weak_pointer (G_OBJECT (producer), (gpointer *) &weak);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "Z", 1));
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "abZ");
  g_assert_cmpuint (producer->calls, ==, 3);
  g_object_unref (producer);
  g_assert_null (weak);

  finish_channel (channel, peer);
}

/* A producer that is exhausted at once (NULL) is simply skipped. */
static void
test_producer_exhausted_null (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestProducer) first = test_producer_new_list ((const gchar *[]) { NULL });
  g_autoptr(TestProducer) second = test_producer_new_list ((const gchar *[]) { "", NULL });

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (first)));
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (second)));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "Z", 1));
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "Z");
  g_assert_cmpuint (first->calls, ==, 1);
  g_assert_cmpuint (second->calls, ==, 1);

  finish_channel (channel, peer);
}

/* more() is called only when the channel can write: not by push, and not
 * while the peer's socket is full, so an endless producer is not drained
 * into memory. */
static void
test_producer_lazy (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestProducer) producer = test_producer_new_pattern (0, G_MAXUINT64, 4096, FALSE);
  PeerReader reader;
  guint calls;

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_cmpuint (producer->calls, ==, 0);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);

  test_spin_for (100);
  calls = producer->calls;
  g_assert_cmpuint (calls, >, 0);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), >, 0);

  test_spin_for (100);
  g_assert_cmpuint (producer->calls, ==, calls);
  g_assert_cmpuint (producer->produced, ==,
                    achat_channel_get_bytes_sent (channel) + achat_channel_get_queued_bytes (channel));
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), <, 1 * MIB);

  peer_reader_init (&reader, peer, 64 * KIB, FALSE, FALSE);
  g_assert_true (peer_reader_read (&reader, 2 * MIB));
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpuint (producer->calls, >, calls);

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

static void
push_x_hook (TestProducer *producer,
             guint         call,
             gpointer      user_data)
{
  AchatChannel *channel = user_data;

  if (call == 1)
    g_assert_true (achat_channel_push (channel, (const guint8 *) "X", 1));
  else if (call == 2)
    {
      g_autoptr(TestProducer) other = test_producer_new_list ((const gchar *[]) { "Y", NULL });

      g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (other)));
    }
}

/* Data pushed from more() goes to the end of the FIFO, after the
 * producer and after what was queued behind it. */
static void
test_producer_push_in_more (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "1", "2", NULL });
  g_autoptr(GByteArray) got = NULL;

  producer->hook = push_x_hook;
  producer->hook_data = channel;
  g_assert_true (achat_channel_push (channel, (const guint8 *) "A", 1));
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "B", 1));

  got = test_peer_read (peer, 6);
  g_assert_cmpmem (got->data, got->len, "A12BXY", 6);
  g_assert_cmpuint (producer->calls, ==, 3);

  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "");

  finish_channel (channel, peer);
}

static void
close_hook (TestProducer *producer,
            guint         call,
            gpointer      user_data)
{
  achat_channel_close (user_data);
}

/* more() may close the channel: what it returns is dropped, closed is
 * emitted once, nothing crashes. */
static void
test_producer_close_in_more (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  TestProducer *producer = test_producer_new_list ((const gchar *[]) { "never", NULL });
  TestProducer *weak = producer;
  g_autoptr(GByteArray) got = NULL;

  g_assert_true (achat_channel_push (channel, (const guint8 *) "before", 6));
  got = test_peer_read (peer, 6);
  g_assert_cmpmem (got->data, got->len, "before", 6);

  producer->hook = close_hook;
  producer->hook_data = channel;
  g_object_add_weak_pointer (G_OBJECT (producer), (gpointer *) &weak);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "after", 5));

  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  g_assert_cmpuint (producer->calls, ==, 1);
  assert_peer_receives_then_eof (peer, "");
  g_object_unref (producer);
  g_assert_null (weak);

  test_spin_for (20);
  g_assert_cmpuint (recorder->n_closed, ==, 1);

  finish_channel (channel, peer);
}

static void
discard_hook (TestProducer *producer,
              guint         call,
              gpointer      user_data)
{
  achat_channel_discard_buffers (user_data);
}

/* more() may discard the output: its chunk and everything queued go, the
 * channel stays usable. */
static void
test_producer_discard_in_more (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "junk", "junk", NULL });
  g_autoptr(GByteArray) got = NULL;

  g_assert_true (achat_channel_push (channel, (const guint8 *) "A", 1));
  got = test_peer_read (peer, 1);
  g_assert_cmpmem (got->data, got->len, "A", 1);

  producer->hook = discard_hook;
  producer->hook_data = channel;
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (achat_channel_push (channel, (const guint8 *) "B", 1));
  test_spin_for (20);
  g_assert_cmpuint (producer->calls, ==, 1);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  g_assert_false (achat_channel_is_closed (channel));
  g_assert_cmpint (peer_peek (peer), ==, -1);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "later", 5));
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "later");
  g_assert_cmpuint (producer->calls, ==, 1);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  finish_channel (channel, peer);
}

/* O13: 64 MiB through a producer to a slow peer, complete and in order
 * (and in linear time: quadratic re-slicing would not finish). */
static void
test_producer_big (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(TestProducer) producer = test_producer_new_pattern (0, 64 * MIB, PATTERN_SPAN, TRUE);
  PeerReader reader;

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  achat_channel_close_when_done (channel);

  peer_reader_init (&reader, peer, 32 * KIB, TRUE, FALSE);
  g_assert_true (peer_reader_read (&reader, G_MAXUINT64));
  g_assert_true (reader.eof);
  g_assert_cmpuint (reader.received, ==, 64 * MIB);
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 64 * MIB);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* Big and partial writes ------------------------------------------------ */

/* O2: 8 MiB pushed at once (copied, or as GBytes) reach a peer reading in
 * small pieces complete and in order. */
static void
test_big_push (gconstpointer data)
{
  gboolean as_bytes = GPOINTER_TO_INT (data);
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  guint64 sent_at_close = 0;
  PeerReader reader;

  g_signal_connect (channel, "closed", G_CALLBACK (record_bytes_sent), &sent_at_close);
  if (as_bytes)
    {
      g_autoptr(GBytes) bytes = pattern_new_bytes (0, 8 * MIB);

      g_assert_true (achat_channel_push_bytes (channel, bytes));
    }
  else
    push_pattern (channel, 0, 8 * MIB);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 8 * MIB);
  achat_channel_close_when_done (channel);

  peer_reader_init (&reader, peer, 7000, TRUE, FALSE);
  g_assert_true (peer_reader_read (&reader, G_MAXUINT64));
  g_assert_true (reader.eof);
  g_assert_cmpuint (reader.received, ==, 8 * MIB);
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  /* O10: closed only once everything was written. */
  g_assert_cmpuint (sent_at_close, ==, 8 * MIB);

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* O2: a tiny send buffer and a peer taking 3 bytes at a time: the rest of
 * each write stays at the head of the queue. */
static void
test_partial_three_bytes (void)
{
  int peer;
  g_autoptr(GSocket) sock = test_socket_pair (&peer);
  AchatChannel *channel;
  g_autoptr(TestRecorder) recorder = NULL;
  PeerReader reader;
  guint64 pos = 0;
  int size = 1;   /* the kernel raises it to its minimum */
  guint i;

  g_assert_no_errno (setsockopt (g_socket_get_fd (sock), SOL_SOCKET, SO_SNDBUF, &size, sizeof size));
  channel = achat_channel_new (sock);
  recorder = test_recorder_new (channel, FALSE);

  for (i = 0; i < 40; i++)
    {
      gsize length = 1 + (i * 397) % 1500;

      if (i % 3 == 0)
        push_pattern (channel, pos, length);
      else if (i % 3 == 1)
        {
          g_autoptr(GBytes) bytes = pattern_new_bytes (pos, length);

          g_assert_true (achat_channel_push_bytes (channel, bytes));
        }
      else
        {
          g_autoptr(TestProducer) producer = test_producer_new_pattern (pos, length, 100, TRUE);

          g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
        }
      pos += length;
    }
  achat_channel_close_when_done (channel);

  peer_reader_init (&reader, peer, 3, FALSE, FALSE);
  g_assert_true (peer_reader_read (&reader, G_MAXUINT64));
  g_assert_true (reader.eof);
  g_assert_cmpuint (reader.received, ==, pos);
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* close_when_done ------------------------------------------------------- */

/* O10: queued data is sent, then the channel closes with no error. */
static void
test_close_when_done_flushes (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "a", 1));
  achat_channel_close_when_done (channel);
  g_assert_true (achat_channel_is_closing (channel));
  g_assert_false (achat_channel_is_closed (channel));
  g_assert_cmpuint (recorder->n_closed, ==, 0);

  assert_peer_receives_then_eof (peer, "a");
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  g_assert_true (achat_channel_is_closed (channel));

  finish_channel (channel, peer);
}

/* With nothing queued, close_when_done closes on the next iteration. */
static void
test_close_when_done_nothing_queued (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  achat_channel_close_when_done (channel);
  g_assert_cmpuint (recorder->n_closed, ==, 0);
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  assert_peer_receives_then_eof (peer, "");

  finish_channel (channel, peer);
}

/* A producer queued before close_when_done is run to its end first. */
static void
test_close_when_done_producer (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(TestProducer) producer = test_producer_new_numbered (3);

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "chunk-0000;chunk-0001;chunk-0002;");
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  finish_channel (channel, peer);
}

/* O9: after close_when_done every push is refused with a warning and never
 * reaches the peer. */
static void
test_close_when_done_refuses (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(GBytes) bytes = pattern_new_bytes (0, 1000);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "p", NULL });

  g_assert_true (achat_channel_push (channel, (const guint8 *) "a", 1));
  achat_channel_close_when_done (channel);

  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  g_assert_false (achat_channel_push (channel, (const guint8 *) "b", 1));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  g_assert_false (achat_channel_push_bytes (channel, bytes));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  g_assert_false (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_test_assert_expected_messages ();
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 1);

  assert_peer_receives_then_eof (peer, "a");
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  g_assert_cmpuint (producer->calls, ==, 0);

  finish_channel (channel, peer);
}

/* Calling close_when_done again, or on a closed channel, does nothing. */
static void
test_close_when_done_idempotent (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "a", 1));
  achat_channel_close_when_done (channel);
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "a");
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  achat_channel_close_when_done (channel);
  achat_channel_close (channel);
  test_spin_for (20);
  g_assert_cmpuint (recorder->n_closed, ==, 1);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  finish_channel (channel, peer);
}

static void
reply_and_close_cb (AchatChannel *channel,
                    GBytes       *message,
                    gpointer      user_data)
{
  g_assert_true (achat_channel_push (channel, (const guint8 *) "bye\r\n", 5));
  achat_channel_close_when_done (channel);
}

/* From a handler: the reply is written, then the channel closes. */
static void
test_close_when_done_in_handler (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (reply_and_close_cb), NULL);
  test_peer_write (peer, "quit\n", 5);
  assert_peer_receives_then_eof (peer, "bye\r\n");
  g_assert_cmpstr (recorder->log->str, ==, "T(quit) closed");

  finish_channel (channel, peer);
}

/* close ----------------------------------------------------------------- */

/* O15: close() drops queued output and producers, and emits closed (no
 * error) before it returns, once. */
static void
test_close_drops_queued (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  TestProducer *producer = test_producer_new_list ((const gchar *[]) { "p", NULL });
  TestProducer *weak = producer;

  g_object_add_weak_pointer (G_OBJECT (producer), (gpointer *) &weak);
  push_pattern (channel, 0, 1 * MIB);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_object_unref (producer);

  achat_channel_close (channel);
  g_assert_cmpuint (recorder->n_closed, ==, 1);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  g_assert_true (achat_channel_is_closed (channel));
  g_assert_true (achat_channel_is_closing (channel));
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  g_assert_null (weak);

  achat_channel_close (channel);
  g_assert_cmpuint (recorder->n_closed, ==, 1);

  assert_peer_receives_then_eof (peer, "");
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 0);
  g_assert_cmpuint (recorder->n_closed, ==, 1);

  finish_channel (channel, peer);
}

/* close() in the middle of a big write: the peer gets exactly what was
 * written, then EOF. */
static void
test_close_partly_written (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(GByteArray) got = NULL;
  guint64 sent;

  push_pattern (channel, 0, 8 * MIB);
  test_spin_for (50);
  sent = achat_channel_get_bytes_sent (channel);
  g_assert_cmpuint (sent, >, 0);
  g_assert_cmpuint (sent, <, 8 * MIB);
  g_assert_cmpuint (sent + achat_channel_get_queued_bytes (channel), ==, 8 * MIB);

  achat_channel_close (channel);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  got = test_peer_read (peer, G_MAXSIZE);
  g_assert_cmpuint (got->len, ==, sent);
  g_assert_true (pattern_matches (got->data, 0, got->len));

  finish_channel (channel, peer);
}

/* A closed channel refuses pushes with a warning. */
static void
test_closed_refuses (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GBytes) bytes = pattern_new_bytes (0, 1000);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "p", NULL });

  achat_channel_close (channel);

  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  g_assert_false (achat_channel_push (channel, (const guint8 *) "b", 1));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  g_assert_false (achat_channel_push_bytes (channel, bytes));
  g_test_assert_expected_messages ();
  g_test_expect_message ("Achat", G_LOG_LEVEL_WARNING, "*refused*");
  g_assert_false (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_test_assert_expected_messages ();

  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  assert_peer_receives_then_eof (peer, "");
  g_assert_cmpuint (producer->calls, ==, 0);

  finish_channel (channel, peer);
}

/* discard_buffers ------------------------------------------------------- */

/* O12: 10 MiB pushed, part of it written, then discarded: the rest never
 * goes out and the channel stays usable. */
static void
test_discard_big (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  PeerReader reader;
  guint64 sent;

  push_pattern (channel, 0, 10 * MIB);
  test_spin_for (50);
  sent = achat_channel_get_bytes_sent (channel);
  g_assert_cmpuint (sent, >, 0);
  g_assert_cmpuint (sent, <, 10 * MIB);

  achat_channel_discard_buffers (channel);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  g_assert_false (ACHAT_CHANNEL_GET_CLASS (channel)->writable (channel));
  test_spin_for (20);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, sent);
  g_assert_false (achat_channel_is_closed (channel));

  g_assert_true (achat_channel_push (channel, (const guint8 *) "TAIL", 4));
  achat_channel_close_when_done (channel);

  peer_reader_init (&reader, peer, 64 * KIB, FALSE, TRUE);
  g_assert_true (peer_reader_read (&reader, G_MAXUINT64));
  g_assert_true (reader.eof);
  g_assert_cmpuint (reader.received, ==, sent + 4);
  g_assert_true (pattern_matches (reader.kept->data, 0, sent));
  g_assert_cmpmem (reader.kept->data + sent, 4, "TAIL", 4);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* Queued producers are dropped (and released) without being called. */
static void
test_discard_producers (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  TestProducer *producer = test_producer_new_list ((const gchar *[]) { "p", NULL });
  TestProducer *weak = producer;
  g_autoptr(GBytes) bytes = pattern_new_bytes (0, 5000);

  g_object_add_weak_pointer (G_OBJECT (producer), (gpointer *) &weak);
  g_assert_true (achat_channel_push (channel, (const guint8 *) "x", 1));
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (achat_channel_push_bytes (channel, bytes));
  g_object_unref (producer);

  achat_channel_discard_buffers (channel);
  g_assert_null (weak);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "after", 5));
  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "after");

  finish_channel (channel, peer);
}

/* A pending close_when_done survives discard_buffers: with nothing left
 * to write the channel closes. */
static void
test_discard_pending_close (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "abc", 3));
  achat_channel_close_when_done (channel);
  achat_channel_discard_buffers (channel);
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "closed");
  assert_peer_receives_then_eof (peer, "");

  finish_channel (channel, peer);
}

/* The same while a write is blocked on a full socket. */
static void
test_discard_pending_close_blocked (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  PeerReader reader;
  guint64 sent;

  push_pattern (channel, 0, 10 * MIB);
  test_spin_for (50);
  sent = achat_channel_get_bytes_sent (channel);
  g_assert_cmpuint (sent, >, 0);
  g_assert_cmpuint (sent, <, 10 * MIB);

  achat_channel_close_when_done (channel);
  achat_channel_discard_buffers (channel);

  peer_reader_init (&reader, peer, 64 * KIB, FALSE, FALSE);
  if (!peer_reader_read (&reader, G_MAXUINT64) ||
      !spin_until_or_timeout (channel_is_closed_cond, channel))
    {
      g_test_fail_printf ("close_when_done + discard_buffers with a blocked write: "
                          "the channel never closed (peer read %" G_GUINT64_FORMAT
                          " of %" G_GUINT64_FORMAT " bytes sent, eof %d, closed %d)",
                          reader.received, sent, reader.eof,
                          achat_channel_is_closed (channel));
      peer_reader_clear (&reader);
      finish_channel (channel, peer);
      return;
    }
  g_assert_true (reader.eof);
  g_assert_cmpuint (reader.received, ==, sent);
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* writable() ------------------------------------------------------------ */

/* O6: an idle channel is readable and not writable; writable while output
 * is queued. */
static void
test_writable_default (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  AchatChannelClass *klass = ACHAT_CHANNEL_GET_CLASS (channel);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "p", NULL });
  g_autoptr(GByteArray) got = NULL;

  g_assert_false (klass->writable (channel));
  g_assert_true (klass->readable (channel));

  g_assert_true (achat_channel_push (channel, (const guint8 *) "x", 1));
  g_assert_true (klass->writable (channel));
  got = test_peer_read (peer, 1);
  g_assert_false (klass->writable (channel));

  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_true (klass->writable (channel));
  g_byte_array_unref (test_peer_read (peer, 1));
  test_spin_for (10);
  g_assert_false (klass->writable (channel));
  g_assert_true (klass->readable (channel));

  finish_channel (channel, peer);
}

static TestGatedChannel *
new_gated_channel (int *peer_fd)
{
  g_autoptr(GSocket) sock = test_socket_pair (peer_fd);

  return g_object_new (TEST_TYPE_GATED_CHANNEL, "socket", sock, NULL);
}

/* An overriding writable() is asked on every iteration: nothing is written
 * (nor produced) while it says no, and output goes as soon as it says
 * yes, with no other prompt. */
static void
test_writable_override (void)
{
  int peer;
  TestGatedChannel *gated = new_gated_channel (&peer);
  AchatChannel *channel = ACHAT_CHANNEL (gated);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "P1", "P2", NULL });
  g_autoptr(GByteArray) got = NULL;
  guint asked;

  g_assert_true (achat_channel_push (channel, (const guint8 *) "gated", 5));
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  asked = gated->n_asked;
  test_spin_for (100);
  g_assert_cmpint (peer_peek (peer), ==, -1);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 0);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 5);
  g_assert_cmpuint (producer->calls, ==, 0);
  g_assert_cmpuint (gated->n_asked, >, asked + 1);

  gated->open = TRUE;
  got = test_peer_read (peer, 9);
  g_assert_cmpmem (got->data, got->len, "gatedP1P2", 9);
  g_clear_pointer (&got, g_byte_array_unref);

  gated->open = FALSE;
  g_assert_true (achat_channel_push (channel, (const guint8 *) "more", 4));
  test_spin_for (50);
  g_assert_cmpint (peer_peek (peer), ==, -1);
  gated->open = TRUE;
  got = test_peer_read (peer, 4);
  g_assert_cmpmem (got->data, got->len, "more", 4);

  finish_channel (channel, peer);
}

/* close_when_done waits for writable() too. */
static void
test_writable_override_close_when_done (void)
{
  int peer;
  TestGatedChannel *gated = new_gated_channel (&peer);
  AchatChannel *channel = ACHAT_CHANNEL (gated);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  g_assert_true (achat_channel_push (channel, (const guint8 *) "x", 1));
  achat_channel_close_when_done (channel);
  test_spin_for (50);
  g_assert_false (achat_channel_is_closed (channel));
  g_assert_cmpint (peer_peek (peer), ==, -1);

  gated->open = TRUE;
  assert_peer_receives_then_eof (peer, "x");
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  finish_channel (channel, peer);
}

/* Connecting ------------------------------------------------------------ */

static void
accepted_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  GSocket **accepted = user_data;
  g_autoptr(GError) error = NULL;

  *accepted = g_socket_listener_accept_socket_finish (G_SOCKET_LISTENER (source), result,
                                                      NULL, &error);
  g_assert_no_error (error);
}

/* Starts a non-blocking connect to 127.0.0.1:@port; @connect_error tells
 * how it went (G_IO_ERROR_PENDING: still connecting). */
static GSocket *
start_connect (guint16  port,
               GError **connect_error)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  GSocket *sock;

  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (sock, FALSE);
  address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  g_assert_false (g_socket_connect (sock, address, NULL, connect_error));
  return sock;
}

/* O5: data pushed while the socket is still connecting is sent once the
 * connection is made. */
static void
test_connect_push_before_connected (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(GByteArray) got = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  g_autoptr(GBytes) body = pattern_new_bytes (0, 300 * KIB);
  AchatChannel *channel;
  guint16 port;
  int peer;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (port, >, 0);

  sock = start_connect (port, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
  g_assert_false (g_socket_is_connected (sock));

  channel = achat_channel_new (sock);
  recorder = test_recorder_new (channel, FALSE);
  g_assert_true (achat_channel_push (channel, (const guint8 *) "early ", 6));
  g_assert_true (achat_channel_push_bytes (channel, body));

  g_socket_listener_accept_socket_async (listener, NULL, accepted_cb, &accepted);
  test_spin_until (pointer_is_set, &accepted);
  peer = g_socket_get_fd (accepted);

  got = test_peer_read (peer, 6 + 300 * KIB);
  g_assert_cmpmem (got->data, 6, "early ", 6);
  g_assert_true (pattern_matches (got->data + 6, 0, 300 * KIB));
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 6 + 300 * KIB);

  achat_channel_close_when_done (channel);
  assert_peer_receives_then_eof (peer, "");
  g_assert_cmpstr (recorder->log->str, ==, "closed");

  g_socket_listener_close (listener);
  finish_channel (channel, -1);
}

/* A connection that fails closes the channel with the error; what was
 * pushed is reported lost, not silently dropped. */
static void
test_connect_refused (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  AchatChannel *channel;
  guint16 port;

  /* A port the kernel just handed out and nobody listens on any more. */
  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (listener);

  sock = start_connect (port, &error);
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PENDING))
    {
      g_test_skip_printf ("connect() failed at once: %s", error->message);
      return;
    }

  channel = achat_channel_new (sock);
  recorder = test_recorder_new (channel, FALSE);
  g_assert_true (achat_channel_push (channel, (const guint8 *) "lost", 4));
  test_recorder_wait_closed (recorder);
  g_assert_cmpuint (recorder->n_closed, ==, 1);
  g_assert_error (recorder->error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 0);

  finish_channel (channel, -1);
}

/* Counters -------------------------------------------------------------- */

/* bytes-sent counts what was written, queued-bytes what waits (producers'
 * future output not included). */
static void
test_counters (void)
{
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(GBytes) bytes = pattern_new_bytes (0, 300);
  g_autoptr(TestProducer) producer = test_producer_new_list ((const gchar *[]) { "abc", NULL });
  g_autoptr(GByteArray) got = NULL;
  PeerReader reader;
  guint64 property = G_MAXUINT64;
  guint64 total;
  guint i;

  g_assert_true (achat_channel_push (channel, (const guint8 *) "12345", 5));
  push_pattern (channel, 0, 2000);
  g_assert_true (achat_channel_push_bytes (channel, bytes));
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 2305);
  g_assert_true (achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer)));
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 2305);
  g_object_get (channel, "bytes-sent", &property, NULL);
  g_assert_cmpuint (property, ==, 0);

  got = test_peer_read (peer, 2308);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, 2308);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);
  g_object_get (channel, "bytes-sent", &property, NULL);
  g_assert_cmpuint (property, ==, 2308);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, 0);

  /* While the peer does not read, sent + queued is what was pushed. */
  total = 2308 + 4 * MIB;
  push_pattern (channel, 0, 4 * MIB);
  for (i = 0; i < 5; i++)
    {
      test_spin_for (10);
      g_assert_cmpuint (achat_channel_get_bytes_sent (channel) +
                        achat_channel_get_queued_bytes (channel), ==, total);
    }
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), <, total);

  peer_reader_init (&reader, peer, 64 * KIB, FALSE, FALSE);
  g_assert_true (peer_reader_read (&reader, 4 * MIB));
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, total);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 0);

  peer_reader_clear (&reader);
  finish_channel (channel, peer);
}

/* Errors ---------------------------------------------------------------- */

static volatile sig_atomic_t n_sigpipe;

static void
count_sigpipe (int signum)
{
  n_sigpipe++;
}

/* The peer goes away while a lot is being written: the channel closes with
 * a GError (never closed(NULL), even after close_when_done: the data was
 * not delivered), once, without SIGPIPE. */
static void
test_error_peer_closed (gconstpointer data)
{
  gboolean close_when_done = GPOINTER_TO_INT (data);
  int peer;
  AchatChannel *channel = new_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  struct sigaction counting = { 0, };
  struct sigaction saved;
  PeerReader reader;

  /* GSocket ignores SIGPIPE process-wide; count it instead, so that a
   * write that would raise it is seen. */
  counting.sa_handler = count_sigpipe;
  sigemptyset (&counting.sa_mask);
  g_assert_no_errno (sigaction (SIGPIPE, &counting, &saved));
  n_sigpipe = 0;

  push_pattern (channel, 0, 8 * MIB);
  if (close_when_done)
    achat_channel_close_when_done (channel);

  peer_reader_init (&reader, peer, 4 * KIB, TRUE, FALSE);
  g_assert_true (peer_reader_read (&reader, 100 * KIB));
  g_assert_cmpuint (reader.mismatch, ==, G_MAXUINT64);
  close (peer);

  test_recorder_wait_closed (recorder);
  g_assert_cmpuint (recorder->n_closed, ==, 1);
  g_assert_nonnull (recorder->error);
  g_assert_true (recorder->error->domain == G_IO_ERROR);
  g_test_message ("closed with: %s", recorder->error->message);
  g_assert_cmpuint (achat_channel_get_bytes_sent (channel), <, 8 * MIB);

  test_spin_for (20);
  g_assert_cmpuint (recorder->n_closed, ==, 1);
  g_assert_cmpint (n_sigpipe, ==, 0);
  g_assert_no_errno (sigaction (SIGPIPE, &saved, NULL));

  peer_reader_clear (&reader);
  finish_channel (channel, -1);
}

/* Half-close: the peer shuts down its write side right after its request.
 * The reply pushed on that request (bigger than the socket buffers) is
 * still written in full, then the channel closes with no error. */
static void
on_request_reply_big (AchatChannel *channel,
                      GBytes       *request,
                      GBytes       *reply)
{
  g_assert_cmpmem (g_bytes_get_data (request, NULL), g_bytes_get_size (request), "GET", 3);
  g_assert_true (achat_channel_push_bytes (channel, reply));
}

/* The peer shuts down its write side right after its request: it still
 * gets the whole reply, whether the handler leaves the close to the end of
 * input or asks for close_when_done() itself (Python's asynchat closed at
 * once and dropped the reply). */
static void
on_request_reply_and_close (AchatChannel *channel,
                            GBytes       *request,
                            GBytes       *reply)
{
  on_request_reply_big (channel, request, reply);
  achat_channel_close_when_done (channel);
}

static void
test_half_close (void)
{
  gsize size = 4 * 1024 * 1024;
  guint8 *pattern = g_malloc (size);
  g_autoptr(GBytes) reply = NULL;
  gboolean explicit_close;
  gsize i;

  for (i = 0; i < size; i++)
    pattern[i] = (guint8) ((i * 31 + 7) % 251);
  reply = g_bytes_new_take (pattern, size);

  for (explicit_close = FALSE; explicit_close <= TRUE; explicit_close++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      AchatChannel *channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      g_autoptr(GByteArray) got = NULL;

      achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
      g_signal_connect (channel, "terminator-found",
                        explicit_close ? G_CALLBACK (on_request_reply_and_close)
                                       : G_CALLBACK (on_request_reply_big),
                        reply);

      test_peer_write (peer, "GET\n", 4);
      g_assert_no_errno (shutdown (peer, SHUT_WR));

      /* Everything arrives, then EOF. */
      got = test_peer_read (peer, G_MAXSIZE);
      g_assert_cmpuint (got->len, ==, size);
      g_assert_cmpmem (got->data, got->len, g_bytes_get_data (reply, NULL), size);

      test_recorder_wait_closed (recorder);
      g_assert_cmpstr (recorder->log->str, ==, "T(GET) closed");
      g_assert_cmpuint (achat_channel_get_bytes_sent (channel), ==, size);

      g_object_unref (channel);
      close (peer);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pattern_init ();

  g_test_add_func ("/channel/output/push/next-iteration", test_push_next_iteration);
  g_test_add_func ("/channel/output/push/text", test_text);
  g_test_add_func ("/channel/output/push/coalesced", test_push_coalesced);
  g_test_add_func ("/channel/output/push/in-handler", test_push_in_handler);
  g_test_add_func ("/channel/output/push/copies", test_push_copies);
  g_test_add_func ("/channel/output/push/shared-chunk", test_push_shared_chunk);
  g_test_add_func ("/channel/output/push/empty", test_push_empty);
  g_test_add_func ("/channel/output/push/null-data", test_push_null_data);
  g_test_add_func ("/channel/output/push-bytes/references", test_push_bytes_references);

  g_test_add_func ("/channel/output/fifo/mixed", test_fifo_mixed);
  g_test_add_func ("/channel/output/fifo/interleaved", test_fifo_interleaved);

  g_test_add_func ("/channel/output/producer/simple-chunks", test_producer_simple_chunks);
  g_test_add_func ("/channel/output/producer/simple-default-size", test_producer_simple_default_size);
  g_test_add_func ("/channel/output/producer/simple-channel", test_producer_simple_channel);
  g_test_add_func ("/channel/output/producer/numbered", test_producer_numbered);
  g_test_add_func ("/channel/output/producer/exhausted-empty", test_producer_exhausted_empty);
  g_test_add_func ("/channel/output/producer/exhausted-null", test_producer_exhausted_null);
  g_test_add_func ("/channel/output/producer/lazy", test_producer_lazy);
  g_test_add_func ("/channel/output/producer/push-in-more", test_producer_push_in_more);
  g_test_add_func ("/channel/output/producer/close-in-more", test_producer_close_in_more);
  g_test_add_func ("/channel/output/producer/discard-in-more", test_producer_discard_in_more);
  g_test_add_func ("/channel/output/producer/big", test_producer_big);

  g_test_add_data_func ("/channel/output/big/push", GINT_TO_POINTER (FALSE), test_big_push);
  g_test_add_data_func ("/channel/output/big/push-bytes", GINT_TO_POINTER (TRUE), test_big_push);
  g_test_add_func ("/channel/output/partial/three-bytes", test_partial_three_bytes);

  g_test_add_func ("/channel/output/close-when-done/flushes", test_close_when_done_flushes);
  g_test_add_func ("/channel/output/close-when-done/nothing-queued", test_close_when_done_nothing_queued);
  g_test_add_func ("/channel/output/close-when-done/producer", test_close_when_done_producer);
  g_test_add_func ("/channel/output/close-when-done/refuses", test_close_when_done_refuses);
  g_test_add_func ("/channel/output/close-when-done/idempotent", test_close_when_done_idempotent);
  g_test_add_func ("/channel/output/close-when-done/in-handler", test_close_when_done_in_handler);

  g_test_add_func ("/channel/output/close/drops-queued", test_close_drops_queued);
  g_test_add_func ("/channel/output/close/partly-written", test_close_partly_written);
  g_test_add_func ("/channel/output/close/refuses", test_closed_refuses);

  g_test_add_func ("/channel/output/writable/default", test_writable_default);
  g_test_add_func ("/channel/output/writable/override", test_writable_override);
  g_test_add_func ("/channel/output/writable/override-close-when-done",
                   test_writable_override_close_when_done);

  g_test_add_func ("/channel/output/connect/push-before-connected", test_connect_push_before_connected);
  g_test_add_func ("/channel/output/connect/refused", test_connect_refused);

  g_test_add_func ("/channel/output/counters", test_counters);

  g_test_add_data_func ("/channel/output/error/peer-closed", GINT_TO_POINTER (FALSE),
                        test_error_peer_closed);
  g_test_add_data_func ("/channel/output/error/peer-closed-close-when-done", GINT_TO_POINTER (TRUE),
                        test_error_peer_closed);

  /* Last: a failure makes GLib bail out (without -k), and the last of
   * these has revealed a library bug; the other tests run first. */
  g_test_add_func ("/channel/output/discard/big", test_discard_big);
  g_test_add_func ("/channel/output/discard/producers", test_discard_producers);
  g_test_add_func ("/channel/output/discard/pending-close", test_discard_pending_close);
  g_test_add_func ("/channel/output/discard/pending-close-blocked", test_discard_pending_close_blocked);
  g_test_add_func ("/channel/output/half-close", test_half_close);

  return g_test_run ();
}
