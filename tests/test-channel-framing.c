/* test-channel-framing.c: several terminators, length-prefixed frames and
 * safe line output, through a channel
 *
 * (The framing engine's own exhaustive tests are in test-framer.c; these
 * check what the channel adds: which terminator matched, the limits and
 * errors of frames, the frames it writes, the lines it refuses.)
 *
 * Specifies: achat/achat-channel-framing.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

#include "test-util.h"

/* Several terminators ---------------------------------------------------- */

static void
log_matched (AchatChannel *channel,
             GBytes       *message,
             GString      *log)
{
  gsize length;
  const guint8 *term = achat_channel_get_matched_terminator (channel, &length);

  g_string_append_c (log, '[');
  test_append_escaped (log, term, length);
  g_string_append_c (log, ']');
}

static void
test_terminators_every_split (void)
{
  static const gchar stream[] = "a\r\nb\nc\r\n\nd\r\r\n";
  const gsize n = strlen (stream);
  gsize cut1, cut2;

  for (cut1 = 0; cut1 <= n; cut1++)
    for (cut2 = cut1; cut2 <= n; cut2++)
      {
        int peer_fd;
        g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
        g_autoptr(AchatChannel) channel = achat_channel_new (socket);
        g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
        g_autoptr(GString) matched = g_string_new (NULL);
        const gchar *terms[] = { "\n", "\r\n", NULL };

        achat_channel_set_terminators (channel, terms);
        g_signal_connect (channel, "terminator-found", G_CALLBACK (log_matched), matched);
        test_feed (channel, peer_fd, stream, cut1);
        test_feed (channel, peer_fd, stream + cut1, cut2 - cut1);
        test_feed (channel, peer_fd, stream + cut2, n - cut2);
        close (peer_fd);
        test_recorder_wait_closed (recorder);

        /* The earliest match wins; "\r\n" over "\n" at the same byte. A
         * lone "\r" is data. */
        g_assert_cmpstr (recorder->log->str, ==, "T(a) T(b) T(c) T() T(d\\r) closed");
        g_assert_cmpstr (matched->str, ==, "[\\r\\n][\\n][\\r\\n][\\n][\\r\\n]");
      }
}

static void
change_terminator_then_ask (AchatChannel *channel,
                            GBytes       *message,
                            GString      *log)
{
  achat_channel_set_terminator_count (channel, 3);
  log_matched (channel, message, log);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
}

static void
test_matched_after_change (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(GString) matched = g_string_new (NULL);
  const gchar *terms[] = { "END", "\r\n", NULL };
  gsize length;

  g_assert_null (achat_channel_get_matched_terminator (channel, &length));
  g_assert_cmpuint (length, ==, 0);
  achat_channel_set_terminators (channel, terms);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_BYTES);
  g_assert_cmpmem (achat_channel_get_terminator (channel, &length), length, "END", 3);

  g_signal_connect (channel, "terminator-found", G_CALLBACK (change_terminator_then_ask), matched);
  test_feed (channel, peer_fd, "oneEND", 6);
  g_assert_cmpstr (matched->str, ==, "[END]");
  /* Now "\n": its match replaces the kept one. */
  test_feed (channel, peer_fd, "two\n", 4);
  g_assert_cmpstr (matched->str, ==, "[END][\\n]");
  close (peer_fd);
}

/* At the end of the stream, a shorter terminator that was waiting for a
 * longer one to fail is a terminator after all. */
static void
test_terminators_end_of_stream (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  const gchar *terms[] = { "\r\n\r\n", "\r\n", NULL };

  achat_channel_set_terminators (channel, terms);
  test_feed (channel, peer_fd, "HEAD\r\n\r\nQUIT\r\n", 14);
  g_assert_cmpstr (recorder->log->str, ==, "T(HEAD)");
  close (peer_fd);
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "T(HEAD) T(QUIT) closed");
}

/* Length-prefixed frames ------------------------------------------------- */

static GByteArray *
frame_be32 (const void *payload,
            gsize       length)
{
  GByteArray *frame = g_byte_array_new ();
  guint32 be = GUINT32_TO_BE ((guint32) length);

  g_byte_array_append (frame, (const guint8 *) &be, 4);
  g_byte_array_append (frame, payload, length);
  return frame;
}

/* Frames written by push_frame() on one channel, read by another. */
static void
test_frames_roundtrip (void)
{
  g_autoptr(GError) error = NULL;
  int peer_fd;
  g_autoptr(GSocket) a = test_socket_pair (&peer_fd);
  g_autoptr(GSocket) b = g_socket_new_from_fd (peer_fd, &error);
  g_autoptr(AchatChannel) writer = achat_channel_new (a);
  g_autoptr(AchatChannel) reader = NULL;
  g_autoptr(TestRecorder) recorder = NULL;
  g_autofree guint8 *big = g_malloc (100 * 1024);
  g_autoptr(GBytes) big_bytes = NULL;
  gsize sizes[] = { 0, 1, 2, 100, 16 * 1024, 100 * 1024 };
  guint i, n_found;
  gsize total = 0;

  g_assert_no_error (error);
  reader = achat_channel_new (b);
  recorder = test_recorder_new (reader, FALSE);
  for (i = 0; i < 100 * 1024; i++)
    big[i] = (guint8) (i % 251);
  big[50] = '\r';
  big[51] = '\n';
  big_bytes = g_bytes_new_static (big, 100 * 1024);

  achat_channel_set_terminator_length_prefix (writer, 4, ACHAT_BYTE_ORDER_LITTLE_ENDIAN, -4, 0);
  achat_channel_set_terminator_length_prefix (reader, 4, ACHAT_BYTE_ORDER_LITTLE_ENDIAN, -4, 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (reader), ==, ACHAT_TERMINATOR_LENGTH_PREFIX);
  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_assert_true (achat_channel_push_frame (writer, big, sizes[i], &error));
      g_assert_no_error (error);
      total += sizes[i] + 4;
    }
  g_assert_true (achat_channel_push_frame_bytes (writer, big_bytes, &error));
  g_assert_no_error (error);
  total += 100 * 1024 + 4;
  achat_channel_close_when_done (writer);
  test_recorder_wait_closed (recorder);

  g_assert_cmpuint (achat_channel_get_bytes_received (reader), ==, total);
  n_found = recorder->n_found;
  g_assert_cmpuint (n_found, ==, G_N_ELEMENTS (sizes) + 1);
  g_assert_true (g_str_has_prefix (recorder->log->str, "T() T(\\x00) T(\\x00\\x01) "));
  g_assert_true (g_str_has_suffix (recorder->log->str, " closed"));
}

/* The header of a frame the reader checks byte for byte. */
static void
check_frame_message (AchatChannel *channel,
                     GBytes       *message,
                     GPtrArray    *messages)
{
  g_ptr_array_add (messages, g_bytes_ref (message));
}

static void
test_frames_big_endian_and_header_sizes (void)
{
  struct {
    guint size;
    AchatByteOrder order;
    gint adjustment;
    const gchar *header;   /* for a 3-byte payload */
  } cases[] = {
    { 1, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, "\x03" },
    { 2, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, "\x00\x03" },
    { 2, ACHAT_BYTE_ORDER_LITTLE_ENDIAN, -2, "\x05\x00" },
    { 4, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, "\x00\x00\x00\x03" },
    { 8, ACHAT_BYTE_ORDER_BIG_ENDIAN, -8, "\x00\x00\x00\x00\x00\x00\x00\x0b" },
    { 8, ACHAT_BYTE_ORDER_LITTLE_ENDIAN, 1, "\x02\x00\x00\x00\x00\x00\x00\x00" },
  };
  guint c;

  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr(GError) error = NULL;
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_autoptr(GByteArray) written = NULL;
      g_autoptr(GString) input = g_string_new (NULL);

      achat_channel_set_terminator_length_prefix (channel, cases[c].size, cases[c].order,
                                                  cases[c].adjustment, 0);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (check_frame_message), messages);

      /* What push_frame() writes... */
      g_assert_true (achat_channel_push_frame (channel, (const guint8 *) "a\nb", 3, &error));
      g_assert_no_error (error);
      written = test_peer_read (peer_fd, cases[c].size + 3);
      g_assert_cmpmem (written->data, cases[c].size, cases[c].header, cases[c].size);
      g_assert_cmpmem (written->data + cases[c].size, 3, "a\nb", 3);

      /* ...is what it reads, a byte at a time. */
      g_string_append_len (input, cases[c].header, cases[c].size);
      g_string_append_len (input, "xyz", 3);
      for (gsize i = 0; i < input->len; i++)
        test_feed (channel, peer_fd, input->str + i, 1);
      g_assert_cmpuint (messages->len, ==, 1);
      g_assert_cmpmem (g_bytes_get_data (messages->pdata[0], NULL),
                       g_bytes_get_size (messages->pdata[0]), "xyz", 3);
      close (peer_fd);
    }
}

typedef struct
{
  guint64 max_frame;
  gsize max_input;
  const gchar *input;
  gsize input_length;
  const gchar *log;
  gint code;
} FrameErrorCase;

static void
reply_to_frames (AchatChannel *channel,
                 GBytes       *message,
                 gpointer      user_data)
{
  achat_channel_push (channel, (const guint8 *) "ok", 2);
}

/* Refused frames: the frames before are delivered and their replies
 * written, then the channel closes with the error. */
static void
test_frame_errors (void)
{
  static const FrameErrorCase cases[] = {
    /* 10 bytes at most: an 11-byte frame is refused at its header */
    { 10, 0, "\x00\x02hi\x00\x0bxxxxxxxxxxx", 17, "T(hi) closed(achat-error-quark:4)",
      ACHAT_ERROR_FRAME_TOO_LONG },
    /* max-input-size is the limit when it is lower */
    { 0, 5, "\x00\x02hi\x00\x06xxxxxx", 12, "T(hi) closed(achat-error-quark:2)",
      ACHAT_ERROR_INPUT_LIMIT },
    /* the peer closes in the middle of a payload... */
    { 0, 0, "\x00\x02hi\x00\x05xy", 8, "T(hi) closed(achat-error-quark:6)",
      ACHAT_ERROR_TRUNCATED_FRAME },
    /* ...or of a header */
    { 0, 0, "\x00\x02hi\x00", 5, "T(hi) closed(achat-error-quark:6)",
      ACHAT_ERROR_TRUNCATED_FRAME },
  };
  guint c;

  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      g_autoptr(GByteArray) replies = NULL;

      achat_channel_set_terminator_length_prefix (channel, 2, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0,
                                                  cases[c].max_frame);
      achat_channel_set_max_input_size (channel, cases[c].max_input);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (reply_to_frames), NULL);
      test_peer_write (peer_fd, cases[c].input, cases[c].input_length);
      if (cases[c].code == ACHAT_ERROR_TRUNCATED_FRAME)
        shutdown (peer_fd, SHUT_WR);
      test_recorder_wait_closed (recorder);
      g_assert_cmpstr (recorder->log->str, ==, cases[c].log);
      g_assert_error (recorder->error, ACHAT_ERROR, cases[c].code);
      replies = test_peer_read (peer_fd, G_MAXSIZE);
      g_assert_cmpmem (replies->data, replies->len, "ok", 2);
      if (c == 2)
        {
          /* The unfinished frame's bytes are still there. */
          g_assert_cmpmem (g_bytes_get_data (recorder->collected_at_close, NULL),
                           g_bytes_get_size (recorder->collected_at_close), "xy", 2);
          g_assert_nonnull (strstr (recorder->error->message, "3 bytes before"));
        }
      close (peer_fd);
    }
}

static void
test_frame_invalid_length (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  /* A 4-byte header that counts itself cannot say less than 4. */
  achat_channel_set_terminator_length_prefix (channel, 4, ACHAT_BYTE_ORDER_BIG_ENDIAN, -4, 0);
  test_peer_write (peer_fd, "\x00\x00\x00\x06hi\x00\x00\x00\x02", 10);
  test_recorder_wait_closed (recorder);
  g_assert_cmpstr (recorder->log->str, ==, "T(hi) closed(achat-error-quark:5)");
  g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_INVALID_FRAME);
  close (peer_fd);
}

/* The asynchat idiom the length prefix replaces: a "<len>\r\n" header
 * line, then a count. Same messages from the same payloads. */
static void
count_idiom_found (AchatChannel *channel,
                   GBytes       *message,
                   GPtrArray    *messages)
{
  if (achat_channel_get_matched_terminator (channel, NULL) != NULL)
    {
      g_autofree gchar *header = g_strndup (g_bytes_get_data (message, NULL),
                                            g_bytes_get_size (message));
      guint64 length = header != NULL ? g_ascii_strtoull (header, NULL, 10) : 0;

      if (length > 0)
        {
          achat_channel_set_terminator_count (channel, length);
          return;
        }
    }
  g_ptr_array_add (messages, g_bytes_ref (message));
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
}

static void
test_frames_versus_count_idiom (void)
{
  const gchar *payloads[] = { "GET /\r\n", "x", "a\r\n\r\nb", "", "hello world" };
  g_autoptr(GString) idiom = g_string_new (NULL);
  g_autoptr(GString) prefixed = g_string_new (NULL);
  g_autoptr(GPtrArray) from_idiom = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GPtrArray) from_prefix = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      g_autoptr(GByteArray) frame = frame_be32 (payloads[i], strlen (payloads[i]));

      /* (an empty payload has no body in the idiom: its header is the message) */
      if (*payloads[i] != '\0')
        g_string_append_printf (idiom, "%zu\r\n%s", strlen (payloads[i]), payloads[i]);
      else
        g_string_append (idiom, "\r\n");
      g_string_append_len (prefixed, (const gchar *) frame->data, frame->len);
    }

  for (i = 0; i < 2; i++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      GString *input = i == 0 ? idiom : prefixed;

      if (i == 0)
        {
          achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
          g_signal_connect (channel, "terminator-found", G_CALLBACK (count_idiom_found), from_idiom);
        }
      else
        {
          achat_channel_set_terminator_length_prefix (channel, 4, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 0);
          g_signal_connect (channel, "terminator-found", G_CALLBACK (check_frame_message), from_prefix);
        }
      for (gsize at = 0; at < input->len; at += 3)
        test_feed (channel, peer_fd, input->str + at, MIN (3, input->len - at));
      close (peer_fd);
    }

  g_assert_cmpuint (from_idiom->len, ==, G_N_ELEMENTS (payloads));
  g_assert_cmpuint (from_prefix->len, ==, G_N_ELEMENTS (payloads));
  for (i = 0; i < G_N_ELEMENTS (payloads); i++)
    g_assert_true (g_bytes_equal (from_idiom->pdata[i], from_prefix->pdata[i]));
}

static void
test_push_frame_too_long (void)
{
  g_autoptr(GError) error = NULL;
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autofree guint8 *data = g_malloc0 (300);

  achat_channel_set_terminator_length_prefix (channel, 1, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 0);
  g_assert_true (achat_channel_push_frame (channel, data, 255, &error));
  g_assert_false (achat_channel_push_frame (channel, data, 256, &error));
  g_assert_error (error, ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG);
  g_clear_error (&error);
  /* A header counting itself leaves less room. */
  achat_channel_set_terminator_length_prefix (channel, 1, ACHAT_BYTE_ORDER_BIG_ENDIAN, -1, 0);
  g_assert_false (achat_channel_push_frame (channel, data, 255, &error));
  g_assert_error (error, ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG);
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 256);
  close (peer_fd);
}

/* Safe line output ------------------------------------------------------- */

static void
test_push_line (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(GByteArray) sent = NULL;
  const gchar *bad[] = { "a\r\nb", "a\rb", "a\nb", "\r", "end\n" };
  const gchar *terms[] = { "\r\n", "\n", NULL };
  guint i;

  achat_channel_set_terminators (channel, terms);
  g_assert_true (achat_channel_push_line (channel, (const guint8 *) "NICK alice", 10, NULL));
  g_assert_true (achat_channel_push_line (channel, NULL, 0, NULL));
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (achat_channel_push_line (channel, (const guint8 *) bad[i], strlen (bad[i]), &error));
      g_assert_error (error, ACHAT_ERROR, ACHAT_ERROR_INVALID_LINE);
    }
  g_assert_cmpuint (achat_channel_get_queued_bytes (channel), ==, 14);

  /* A terminator that is not a line ending refuses only itself. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (achat_channel_push_line_full (channel, (const guint8 *) "a\r\nb", 4,
                                                 (const guint8 *) "\0", 1, NULL));
    g_assert_false (achat_channel_push_line_full (channel, (const guint8 *) "a\0b", 3,
                                                  (const guint8 *) "\0", 1, &error));
    g_assert_error (error, ACHAT_ERROR, ACHAT_ERROR_INVALID_LINE);
  }

  sent = test_peer_read (peer_fd, 19);
  g_assert_cmpmem (sent->data, sent->len, "NICK alice\r\n\r\na\r\nb\0", 19);

  /* push_line() needs a byte-string terminator: a programming error. */
  achat_channel_set_terminator_count (channel, 4);
  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*not a byte string*");
  g_assert_false (achat_channel_push_line (channel, (const guint8 *) "x", 1, NULL));
  g_test_assert_expected_messages ();
  close (peer_fd);
}

/* A header that overflows with its adjustment, and no limit set: the
 * frame is too long (not "longer than a max-input-size of 0 bytes"). */
static void
test_overflowing_header (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);

  achat_channel_set_terminator_length_prefix (channel, 8, ACHAT_BYTE_ORDER_BIG_ENDIAN, 1, 0);
  achat_channel_set_max_input_size (channel, 0);
  test_peer_write (peer_fd, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
  test_recorder_wait_closed (recorder);
  g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG);
  g_assert_null (strstr (recorder->error->message, "max-input-size"));
  g_assert_nonnull (strstr (recorder->error->message, "18446744073709551615"));
  close (peer_fd);
}

/* Text lengths ----------------------------------------------------------- */

/* The three usual formats, each with a stream of messages and what the
 * channel delivers of it: empty payloads, payloads holding digits, the
 * separator, the trailer and NUL bytes, leading zeros, hexadecimal digits
 * of both cases. */
typedef struct
{
  const gchar *name;
  guint radix;
  const gchar *separator;
  const gchar *trailer;
  const gchar *stream;
  gsize stream_len;
  const gchar *log;     /* the recorder's log after a clean end of stream */
} TextFormat;

#define STREAM(s) s, sizeof (s) - 1

static const TextFormat text_formats[] = {
  { "decimal", 10, "\r\n", NULL,
    STREAM ("5\r\nhello0\r\n12\r\nab\r\n5\r\nxyz\r\n003\r\n1\r\n3\r\n\0\r\n"),
    "T(hello) T() T(ab\\r\\n5\\r\\nxyz\\r\\n) T(1\\r\\n) T(\\x00\\r\\n) closed" },
  { "netstring", 10, ":", ",",
    STREAM ("5:hello,0:,3:a,b,10:0123456789,2:::,1:,,"),
    "T(hello) T() T(a,b) T(0123456789) T(::) T(,) closed" },
  { "chunked", 16, "\r\n", "\r\n",
    STREAM ("1a\r\nabcdefghijklmnopqrstuvwxyz\r\nA\r\n0123456789\r\n"
            "0f\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nx\r\n1\r\n\r\r\n0\r\n\r\n"),
    "T(abcdefghijklmnopqrstuvwxyz) T(0123456789) "
    "T(\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\nx) T(\\r) T() closed" },
};

static void
set_text_format (AchatChannel     *channel,
                 const TextFormat *format)
{
  achat_channel_set_terminator_text_length (channel, format->radix, format->separator,
                                            format->trailer, 0);
}

/* Checks that what data-collected gave of each message is the message:
 * no byte of a header or trailer is collected. */
typedef struct
{
  GString *pending;
  guint n_messages;
  gboolean mismatch;
} CollectCheck;

static void
collect_check_collected (AchatChannel *channel,
                         GBytes       *data,
                         CollectCheck *check)
{
  gsize length;
  const gchar *bytes = g_bytes_get_data (data, &length);

  g_string_append_len (check->pending, bytes, length);
}

static void
collect_check_found (AchatChannel *channel,
                     GBytes       *message,
                     CollectCheck *check)
{
  gsize length;
  const gchar *bytes = g_bytes_get_data (message, &length);

  if (length != check->pending->len ||
      (length > 0 && memcmp (bytes, check->pending->str, length) != 0))
    check->mismatch = TRUE;
  g_string_truncate (check->pending, 0);
  check->n_messages++;
}

static gboolean
resume_input (gpointer data)
{
  achat_channel_resume_input (data);
  return G_SOURCE_REMOVE;
}

/* Pauses input after each message, resumed from an idle: the rest of the
 * read is held and framed from the held bytes (headers, payloads and
 * trailers among them). */
static void
pause_after_message (AchatChannel *channel,
                     GBytes       *message,
                     gpointer      user_data)
{
  achat_channel_pause_input (channel);
  g_idle_add_full (G_PRIORITY_DEFAULT, resume_input, g_object_ref (channel), g_object_unref);
}

typedef enum
{
  TEXT_PLAIN,          /* terminator-found only: the channel's fast path */
  TEXT_COLLECTED,      /* data-collected too, checked against the messages */
  TEXT_PAUSING,        /* input paused after every message */
} TextMode;

/* Feeds @format's stream in the pieces that end at @cuts (then the rest),
 * closes the peer, and checks the messages delivered. */
static void
run_text_format (const TextFormat *format,
                 const gsize      *cuts,
                 guint             n_cuts,
                 TextMode          mode)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  CollectCheck check = { g_string_new (NULL), 0, FALSE };
  gsize at = 0;
  guint i;

  set_text_format (channel, format);
  if (mode == TEXT_PAUSING)
    g_signal_connect (channel, "terminator-found", G_CALLBACK (pause_after_message), NULL);
  if (mode == TEXT_COLLECTED)
    {
      g_signal_connect (channel, "data-collected", G_CALLBACK (collect_check_collected), &check);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (collect_check_found), &check);
    }
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : format->stream_len;

      test_feed (channel, peer_fd, format->stream + at, end - at);
      at = end;
    }
  close (peer_fd);
  test_recorder_wait_closed (recorder);

  if (g_strcmp0 (recorder->log->str, format->log) != 0)
    g_error ("%s, cut at %" G_GSIZE_FORMAT "%s: %s", format->name, n_cuts ? cuts[0] : 0,
             n_cuts > 1 ? " (and more)" : "", recorder->log->str);
  g_assert_null (recorder->error);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, format->stream_len);
  if (mode == TEXT_COLLECTED)
    {
      g_assert_false (check.mismatch);
      g_assert_cmpuint (check.n_messages, ==, recorder->n_found);
    }
  g_string_free (check.pending, TRUE);
}

static void
test_text_every_split (void)
{
  guint f;

  for (f = 0; f < G_N_ELEMENTS (text_formats); f++)
    {
      const TextFormat *format = &text_formats[f];
      g_autofree gsize *every = g_new (gsize, format->stream_len);
      gsize cut, i;

      /* In one piece, and in two at every cut, with and without a
       * data-collected handler (the channel's fast path), pausing after
       * every message. */
      for (cut = 0; cut <= format->stream_len; cut++)
        {
          run_text_format (format, &cut, 1, TEXT_PLAIN);
          run_text_format (format, &cut, 1, TEXT_COLLECTED);
          run_text_format (format, &cut, 1, TEXT_PAUSING);
        }
      /* Byte by byte. */
      for (i = 0; i < format->stream_len; i++)
        every[i] = i + 1;
      run_text_format (format, every, format->stream_len - 1, TEXT_PLAIN);
      run_text_format (format, every, format->stream_len - 1, TEXT_COLLECTED);
    }
}

/* Every pair of cuts (three reads): a header, a payload or a trailer
 * in three pieces, or two of them across a read. */
static void
test_text_every_two_cuts (void)
{
  guint f;

  for (f = 0; f < G_N_ELEMENTS (text_formats); f++)
    {
      const TextFormat *format = &text_formats[f];
      gsize cuts[2];

      for (cuts[0] = 0; cuts[0] <= format->stream_len; cuts[0]++)
        for (cuts[1] = cuts[0]; cuts[1] <= format->stream_len; cuts[1]++)
          run_text_format (format, cuts, 2, (cuts[0] + cuts[1]) % 3);
    }
}

static void
collect_message (AchatChannel *channel,
                 GBytes       *message,
                 GPtrArray    *messages)
{
  g_ptr_array_add (messages, g_bytes_ref (message));
}

/* push_frame() on one channel, read by another of the same format. */
static void
test_text_roundtrip (void)
{
  g_autofree guint8 *big = g_malloc (100 * 1024);
  guint f;
  gsize i;

  for (i = 0; i < 100 * 1024; i++)
    big[i] = (guint8) (i % 251);

  for (f = 0; f < G_N_ELEMENTS (text_formats); f++)
    {
      const TextFormat *format = &text_formats[f];
      g_autoptr(GError) error = NULL;
      int peer_fd;
      g_autoptr(GSocket) a = test_socket_pair (&peer_fd);
      g_autoptr(GSocket) b = g_socket_new_from_fd (peer_fd, &error);
      g_autoptr(AchatChannel) writer = achat_channel_new (a);
      g_autoptr(AchatChannel) reader = NULL;
      g_autoptr(TestRecorder) recorder = NULL;
      g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_autoptr(GString) tricky = g_string_new (NULL);
      g_autoptr(GBytes) big_bytes = g_bytes_new_static (big, 100 * 1024);

      g_assert_no_error (error);
      reader = achat_channel_new (b);
      recorder = test_recorder_new (reader, FALSE);
      set_text_format (writer, format);
      set_text_format (reader, format);
      g_signal_connect (reader, "terminator-found", G_CALLBACK (collect_message), messages);

      /* A payload that looks like frames of its own format. */
      g_string_append (tricky, format->separator);
      if (format->trailer != NULL)
        g_string_append (tricky, format->trailer);
      g_string_append_len (tricky, format->stream, format->stream_len);
      g_string_append_c (tricky, '\0');
      g_string_append (tricky, format->separator);

      g_ptr_array_add (sent, g_bytes_new_static ("", 0));
      g_ptr_array_add (sent, g_bytes_new_static ("hello", 5));
      g_ptr_array_add (sent, g_bytes_new (tricky->str, tricky->len));
      g_ptr_array_add (sent, g_bytes_new_static (big, 255));
      g_ptr_array_add (sent, g_bytes_new_static (big, 4096 + 17));
      for (i = 0; i < sent->len; i++)
        {
          gsize length;
          const guint8 *data = g_bytes_get_data (sent->pdata[i], &length);

          g_assert_true (achat_channel_push_frame (writer, length ? data : NULL, length, &error));
          g_assert_no_error (error);
        }
      g_assert_true (achat_channel_push_frame_bytes (writer, big_bytes, &error));
      g_assert_no_error (error);
      g_ptr_array_add (sent, g_bytes_ref (big_bytes));
      g_assert_true (achat_channel_push_frame (writer, NULL, 0, &error));
      g_assert_no_error (error);
      g_ptr_array_add (sent, g_bytes_new_static ("", 0));

      achat_channel_close_when_done (writer);
      test_recorder_wait_closed (recorder);
      g_assert_null (recorder->error);
      g_assert_cmpuint (messages->len, ==, sent->len);
      for (i = 0; i < sent->len; i++)
        g_assert_true (g_bytes_equal (messages->pdata[i], sent->pdata[i]));
    }
}

/* What push_frame() writes, byte for byte. */
static void
test_text_push_format (void)
{
  static const struct {
    guint radix;
    const gchar *separator;
    const gchar *trailer;
    gsize length;
    const gchar *header;
  } cases[] = {
    { 10, "\r\n", NULL, 0, "0\r\n" },
    { 10, "\r\n", NULL, 5, "5\r\n" },
    { 10, ":", ",", 0, "0:" },
    { 10, ":", ",", 10, "10:" },
    { 10, ":", "", 300, "300:" },
    { 16, "\r\n", "\r\n", 0, "0\r\n" },
    { 16, "\r\n", "\r\n", 26, "1a\r\n" },
    { 16, "\r\n", "\r\n", 255, "ff\r\n" },
    { 16, ";", NULL, 4096 + 0xabc, "1abc;" },
    { 10, "-=-=-=-=", "87654321", 7, "7-=-=-=-=" },
  };
  g_autofree guint8 *payload = g_malloc (8192);
  guint c;

  for (c = 0; c < 8192; c++)
    payload[c] = (guint8) (c * 7);
  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr(GError) error = NULL;
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(GByteArray) written = NULL;
      g_autoptr(GBytes) bytes = g_bytes_new_static (payload, cases[c].length);
      gsize header_len = strlen (cases[c].header);
      gsize trailer_len = cases[c].trailer ? strlen (cases[c].trailer) : 0;
      gsize total = header_len + cases[c].length + trailer_len;
      guint round;

      achat_channel_set_terminator_text_length (channel, cases[c].radix, cases[c].separator,
                                                cases[c].trailer, 0);
      g_assert_true (achat_channel_push_frame (channel, payload, cases[c].length, &error));
      g_assert_no_error (error);
      g_assert_true (achat_channel_push_frame_bytes (channel, bytes, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (achat_channel_get_queued_bytes (channel), <=, 2 * total);
      written = test_peer_read (peer_fd, 2 * total);
      for (round = 0; round < 2; round++)
        {
          const guint8 *w = written->data + round * total;

          g_assert_cmpmem (w, header_len, cases[c].header, header_len);
          g_assert_cmpmem (w + header_len, cases[c].length, payload, cases[c].length);
          g_assert_cmpmem (w + header_len + cases[c].length, trailer_len,
                           cases[c].trailer, trailer_len);
        }
      close (peer_fd);
    }
}

static void
test_text_kind (void)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  gsize length = 99;

  achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_TEXT_LENGTH);
  g_assert_null (achat_channel_get_terminator (channel, &length));
  g_assert_cmpuint (length, ==, 0);
  achat_channel_set_terminator_text_length (channel, 16, "\r\n", NULL, 100);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_TEXT_LENGTH);
  achat_channel_set_terminator_length_prefix (channel, 4, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_LENGTH_PREFIX);
  achat_channel_set_terminator_text_length (channel, 10, "\n", "", 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_TEXT_LENGTH);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_BYTES);
  achat_channel_set_terminator_count (channel, 3);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_COUNT);
  achat_channel_set_terminator (channel, NULL, 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_NONE);
  achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_TEXT_LENGTH);
  close (peer_fd);
}

/* Bad arguments are programming errors: a critical, and the framing in
 * force stays (netstrings here, still read and written as such). */
static void
test_text_bad_arguments (void)
{
  static const struct {
    guint radix;
    const gchar *separator;
    const gchar *trailer;
    const gchar *pattern;
  } bad[] = {
    { 0, ":", NULL, "*radix == 10 || radix == 16*" },
    { 8, ":", NULL, "*radix == 10 || radix == 16*" },
    { 2, ":", NULL, "*radix == 10 || radix == 16*" },
    { 10, NULL, NULL, "*separator != NULL*" },
    { 10, "", NULL, "*sep_len >= 1*" },
    { 16, "", ",", "*sep_len >= 1*" },
    { 10, "123456789", NULL, "*sep_len >= 1*" },
    { 10, ":::::::::", NULL, "*sep_len >= 1*" },
    { 10, ":", "123456789", "*trailer_len <=*" },
    { 10, "0", NULL, "*isdigit*" },
    { 10, "9:", NULL, "*isdigit*" },
    { 16, "7\r\n", NULL, "*isdigit*" },
    { 16, "a", NULL, "*isxdigit*" },
    { 16, "F;", NULL, "*isxdigit*" },
    { 16, "e", NULL, "*isxdigit*" },
  };
  g_autoptr(GError) error = NULL;
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(GByteArray) written = NULL;
  guint i;

  achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
  for (i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, bad[i].pattern);
      achat_channel_set_terminator_text_length (channel, bad[i].radix, bad[i].separator,
                                                bad[i].trailer, 0);
      g_test_assert_expected_messages ();
      g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==,
                       ACHAT_TERMINATOR_TEXT_LENGTH);
    }
  test_feed (channel, peer_fd, "3:abc,0:,", 9);
  g_assert_cmpstr (recorder->log->str, ==, "T(abc) T()");
  g_assert_true (achat_channel_push_frame (channel, (const guint8 *) "xy", 2, &error));
  g_assert_no_error (error);
  written = test_peer_read (peer_fd, 5);
  g_assert_cmpmem (written->data, written->len, "2:xy,", 5);

  /* At the limits, and what only looks like a digit in the other radix:
   * accepted. */
  achat_channel_set_terminator_text_length (channel, 10, "abcdefgh", "ABCDEFGH", 0);
  test_feed (channel, peer_fd, "2abcdefghxyABCDEFGH", 19);
  achat_channel_set_terminator_text_length (channel, 10, "e1", NULL, 0);
  test_feed (channel, peer_fd, "1e1z", 4);
  achat_channel_set_terminator_text_length (channel, 16, "g", "0", 0);
  test_feed (channel, peer_fd, "Bg0123456789a0", 14);
  g_assert_cmpstr (recorder->log->str, ==, "T(abc) T() T(xy) T(z) T(0123456789a)");
  g_assert_cmpuint (recorder->n_closed, ==, 0);

  /* push_frame() with no length framing ever set. */
  {
    int peer2;
    g_autoptr(GSocket) socket2 = test_socket_pair (&peer2);
    g_autoptr(AchatChannel) plain = achat_channel_new (socket2);

    g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*set_terminator_text_length*");
    g_assert_false (achat_channel_push_frame (plain, (const guint8 *) "x", 1, NULL));
    g_test_assert_expected_messages ();
    g_assert_cmpuint (achat_channel_get_queued_bytes (plain), ==, 0);
    close (peer2);
  }
  close (peer_fd);
}

/* asynchat style, per message: a command line, then for "DATA" one
 * netstring, then lines again; a "CHUNK" line is followed by one HTTP
 * chunk. */
static void
switch_for_message (AchatChannel *channel,
                    const gchar  *data,
                    gsize         length)
{
  if (achat_channel_get_terminator_kind (channel) == ACHAT_TERMINATOR_TEXT_LENGTH)
    achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  else if (length == 4 && memcmp (data, "DATA", 4) == 0)
    achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
  else if (length == 5 && memcmp (data, "CHUNK", 5) == 0)
    achat_channel_set_terminator_text_length (channel, 16, "\r\n", "\r\n", 0);
}

static void
switch_on_found (AchatChannel *channel,
                 GBytes       *message,
                 gpointer      user_data)
{
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);

  switch_for_message (channel, data, length);
}

static void
test_text_switch_per_message (void)
{
  static const gchar stream[] = "HELO\r\nDATA\r\n7:a\r\nb:,c,DATA\r\n0:,CHUNK\r\n"
                                "B\r\n0123456789\n\r\nQUIT\r\nDATA\r\n";
  const gsize n = sizeof stream - 1;
  gsize cut;

  for (cut = 0; cut <= n + 1; cut++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, cut % 2 == 1);
      g_autoptr(GString) messages = g_string_new (NULL);
      gsize i;

      achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (switch_on_found), NULL);
      if (cut <= n)
        {
          test_feed (channel, peer_fd, stream, cut);
          test_feed (channel, peer_fd, stream + cut, n - cut);
        }
      else
        for (i = 0; i < n; i++)
          test_feed (channel, peer_fd, stream + i, 1);
      g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_TEXT_LENGTH);
      close (peer_fd);
      test_recorder_wait_closed (recorder);

      /* Keep only the messages (the data-collected entries vary with the
       * cut). */
      {
        g_auto(GStrv) words = g_strsplit (recorder->log->str, " ", -1);

        for (i = 0; words[i] != NULL; i++)
          if (!g_str_has_prefix (words[i], "c("))
            g_string_append_printf (messages, "%s%s", messages->len ? " " : "", words[i]);
      }
      g_assert_cmpstr (messages->str, ==,
                       "T(HELO) T(DATA) T(a\\r\\nb:,c) T(DATA) T() T(CHUNK) T(0123456789\\n) "
                       "T(QUIT) T(DATA) closed");
    }
}

/* The same from a class that overrides message_found: the channel then
 * frames every whole message of a read ahead (whole reads), and must
 * frame again what follows a message that changed the framing. */
static void
switch_message_found (AchatChannel *channel,
                      const guint8 *data,
                      gsize         length)
{
  GString *log = g_object_get_data (G_OBJECT (channel), "log");

  g_string_append (log, "T(");
  test_append_escaped (log, data, length);
  g_string_append (log, ") ");
  switch_for_message (channel, (const gchar *) data, length);
}

static void
switch_class_init (AchatChannelClass *klass)
{
  klass->message_found = switch_message_found;
}

static GType
switch_get_type (void)
{
  static GType type;

  if (type == 0)
    type = g_type_register_static_simple (ACHAT_TYPE_CHANNEL, "TestFramingTextSwitch",
                                          sizeof (AchatChannelClass),
                                          (GClassInitFunc) (void (*) (void)) switch_class_init,
                                          sizeof (AchatChannel), NULL, 0);
  return type;
}

static void
test_text_switch_whole_reads (void)
{
  static const gchar stream[] = "HELO\r\nDATA\r\n7:a\r\nb:,c,DATA\r\n0:,CHUNK\r\n"
                                "B\r\n0123456789\n\r\nQUIT\r\nDATA\r\n";
  const gsize n = sizeof stream - 1;
  gsize cut;

  for (cut = 0; cut <= n; cut++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = g_object_new (switch_get_type (), "socket", socket, NULL);
      g_autoptr(GString) log = g_string_new (NULL);

      g_object_set_data (G_OBJECT (channel), "log", log);
      achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
      test_feed (channel, peer_fd, stream, cut);
      test_feed (channel, peer_fd, stream + cut, n - cut);
      if (g_strcmp0 (log->str, "T(HELO) T(DATA) T(a\\r\\nb:,c) T(DATA) T() T(CHUNK) "
                     "T(0123456789\\n) T(QUIT) T(DATA) ") != 0)
        g_error ("cut at %" G_GSIZE_FORMAT ": %s", cut, log->str);
      g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_TEXT_LENGTH);
      close (peer_fd);
    }
}

/* A data-collected handler changes the framing in the middle of a
 * message: what was collected stays (as in asynchat), and the new framing
 * applies to the bytes that follow. Here a text-length payload cut by a
 * read becomes a line, and a line of which "ab" came becomes a netstring's
 * start; terminator-found sets lines again. */
typedef struct
{
  gsize collected;          /* of the current message */
  gboolean line_message;    /* the current message began as a line */
  guint switches;
} MidSwitch;

static void
mid_switch_collected (AchatChannel *channel,
                      GBytes       *data,
                      MidSwitch    *mid)
{
  mid->collected += g_bytes_get_size (data);
  if (achat_channel_get_terminator_kind (channel) == ACHAT_TERMINATOR_TEXT_LENGTH &&
      !mid->line_message && mid->collected < 12)
    {
      achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
      mid->switches++;
    }
  else if (achat_channel_get_terminator_kind (channel) == ACHAT_TERMINATOR_BYTES &&
           mid->line_message && mid->collected == 2)
    {
      achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
      mid->switches++;
    }
}

static void
mid_switch_found (AchatChannel *channel,
                  GBytes       *message,
                  MidSwitch    *mid)
{
  mid->collected = 0;
  mid->line_message = TRUE;
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
}

static void
test_text_switch_mid_payload (void)
{
  /* 16 bytes of frame, then the lines "", "ab3:cde,". */
  static const gchar stream[] = "12:hello, world\nab3:cde,\n";
  const gsize n = sizeof stream - 1;
  gsize cut;

  for (cut = 0; cut <= n + 1; cut++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      MidSwitch mid = { 0, FALSE, 0 };
      const gchar *expected;
      guint switches;
      gsize i;

      achat_channel_set_terminator_text_length (channel, 10, ":", NULL, 0);
      g_signal_connect (channel, "data-collected", G_CALLBACK (mid_switch_collected), &mid);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (mid_switch_found), &mid);
      if (cut <= n)
        {
          test_feed (channel, peer_fd, stream, cut);
          test_feed (channel, peer_fd, stream + cut, n - cut);
        }
      else
        for (i = 0; i < n; i++)
          test_feed (channel, peer_fd, stream + i, 1);
      close (peer_fd);
      test_recorder_wait_closed (recorder);

      if (cut == n + 1)
        {
          /* Byte by byte: both switches. */
          expected = "T(hello, world) T(abcde) T() closed";
          switches = 2;
        }
      else if (cut > 3 && cut < 15)
        {
          /* The payload was cut: it ends at the "\n" (taken by the line);
           * the line then came whole. */
          expected = "T(hello, world) T(ab3:cde,) closed";
          switches = 1;
        }
      else if (cut == 18)
        {
          /* The payload came whole; the line was cut after "ab". */
          expected = "T(hello, world) T() T(abcde) T() closed";
          switches = 1;
        }
      else
        {
          /* Neither was cut where the handler changes anything. */
          expected = "T(hello, world) T() T(ab3:cde,) closed";
          switches = 0;
        }
      if (g_strcmp0 (recorder->log->str, expected) != 0)
        g_error ("cut at %" G_GSIZE_FORMAT ": %s", cut, recorder->log->str);
      g_assert_cmpuint (mid.switches, ==, switches);
    }
}

/* One megabyte of payload, read straight into the message (the channel's
 * path for long counts), its trailer split across reads, then more
 * frames. */
static void
test_text_large_payload (void)
{
  const gsize size = 1024 * 1024;
  g_autofree guint8 *big = g_malloc (size);
  g_autofree gchar *header = g_strdup_printf ("%" G_GSIZE_MODIFIER "x\r\n", size);
  guint variant;
  gsize i;

  for (i = 0; i < size; i++)
    big[i] = (guint8) ((i * 31) >> 3);
  /* The trailer, and whole frames, inside the payload. */
  memcpy (big + 1000, "\r\n5\r\nhello\r\n", 12);
  memcpy (big + size - 2, "\r\n", 2);

  for (variant = 0; variant < 4; variant++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, variant == 3);
      g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

      /* Exactly max-input-size (the default) is allowed. */
      g_assert_cmpuint (achat_channel_get_max_input_size (channel), ==, size);
      achat_channel_set_terminator_text_length (channel, 16, "\r\n", "\r\n", 0);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (collect_message), messages);
      test_feed (channel, peer_fd, header, strlen (header));
      test_feed (channel, peer_fd, big, size);
      g_assert_cmpuint (messages->len, ==, 0);
      switch (variant)
        {
        case 0:
        case 3:
          test_feed (channel, peer_fd, "\r", 1);
          g_assert_cmpuint (messages->len, ==, 0);
          test_feed (channel, peer_fd, "\n5\r\nhello\r\n", 11);
          close (peer_fd);
          test_recorder_wait_closed (recorder);
          g_assert_null (recorder->error);
          g_assert_cmpuint (messages->len, ==, 2);
          g_assert_cmpmem (g_bytes_get_data (messages->pdata[1], NULL),
                           g_bytes_get_size (messages->pdata[1]), "hello", 5);
          break;
        case 1:
          /* A wrong trailer after all of it. */
          test_feed (channel, peer_fd, "\r", 1);
          test_peer_write (peer_fd, "x", 1);
          test_recorder_wait_closed (recorder);
          g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_INVALID_FRAME);
          g_assert_nonnull (strstr (recorder->error->message, "trailer \"\\r\\n\""));
          g_assert_cmpuint (messages->len, ==, 0);
          close (peer_fd);
          break;
        case 2:
          /* The peer leaves without the trailer's second byte. */
          test_feed (channel, peer_fd, "\r", 1);
          close (peer_fd);
          test_recorder_wait_closed (recorder);
          g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_TRUNCATED_FRAME);
          g_assert_nonnull (strstr (recorder->error->message, "before the trailer \"\\r\\n\""));
          g_assert_cmpuint (messages->len, ==, 0);
          /* The whole payload is still there. */
          g_assert_cmpuint (g_bytes_get_size (recorder->collected_at_close), ==, size);
          break;
        default:
          g_assert_not_reached ();
        }
      if (variant != 1 && variant != 2)
        {
          g_assert_cmpuint (g_bytes_get_size (messages->pdata[0]), ==, size);
          g_assert_true (memcmp (g_bytes_get_data (messages->pdata[0], NULL), big, size) == 0);
        }
    }
}

/* Refused frames: those before are delivered and their replies written,
 * then the channel closes with the error, which says what was wrong. */
typedef struct
{
  guint radix;
  const gchar *separator;
  const gchar *trailer;
  guint64 max_frame;
  gsize max_input;
  const gchar *input;
  gsize input_length;
  gboolean peer_closes;
  const gchar *delivered;    /* the recorder's log before "closed" */
  gint code;
  const gchar *message;      /* in the error's message */
  const gchar *collected;    /* at close, when not NULL */
} TextErrorCase;

#define IN(s) s, sizeof (s) - 1

static const TextErrorCase text_error_cases[] = {
  /* Headers that are not digits and the separator */
  { 10, ":", ",", 0, 0, IN ("5:hello,x:abc,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits followed by \":\"" },
  { 10, ":", ",", 0, 0, IN ("5:hello,+5:hello,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits followed by \":\"" },
  { 10, ":", ",", 0, 0, IN ("5:hello,-0:,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 10, ":", ",", 0, 0, IN ("5:hello, 5:hello,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 10, ":", ",", 0, 0, IN ("5:hello,:,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 10, ":", ",", 0, 0, IN ("5:hello,5;hello,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 10, ":", ",", 0, 0, IN ("1a:xxxxxxxxxx,"), FALSE, "",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 10, "\r\n", NULL, 0, 0, IN ("2\r\nhi5\rhello"), FALSE, "T(hi)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits followed by \"\\r\\n\"" },
  { 10, "\r\n", NULL, 0, 0, IN ("2\r\nhi5\n\r"), FALSE, "T(hi)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 16, "\r\n", "\r\n", 0, 0, IN ("2\r\nhi\r\n0x5\r\nhello\r\n"), FALSE, "T(hi)",
    ACHAT_ERROR_INVALID_FRAME, "not hexadecimal digits followed by \"\\r\\n\"" },
  { 16, "\r\n", "\r\n", 0, 0, IN ("2\r\nhi\r\n5;ext\r\nhello\r\n"), FALSE, "T(hi)",
    ACHAT_ERROR_INVALID_FRAME, "not hexadecimal digits" },
  /* 21 decimal digits, 17 hexadecimal ones: too many, even as zeros */
  { 10, ":", ",", 0, 0, IN ("00000000000000000001:x,000000000000000000001:x,"), FALSE, "T(x)",
    ACHAT_ERROR_INVALID_FRAME, "not decimal digits" },
  { 16, "\r\n", NULL, 0, 0, IN ("0000000000000001\r\nx00000000000000001\r\nx"), FALSE, "T(x)",
    ACHAT_ERROR_INVALID_FRAME, "not hexadecimal digits" },
  /* A payload not followed by its trailer */
  { 10, ":", ",", 0, 0, IN ("5:hello,5:hello;"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not followed by its trailer \",\"", "hello" },
  { 10, ":", ",", 0, 0, IN ("5:hello,0:;"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not followed by its trailer \",\"", "" },
  { 10, ":", ",", 0, 0, IN ("5:hello,4:hello,"), FALSE, "T(hello)",
    ACHAT_ERROR_INVALID_FRAME, "not followed by its trailer \",\"", "hell" },
  { 16, "\r\n", "\r\n", 0, 0, IN ("2\r\nhi\r\n2\r\nhi\r\r"), FALSE, "T(hi)",
    ACHAT_ERROR_INVALID_FRAME, "not followed by its trailer \"\\r\\n\"", "hi" },
  { 16, "\r\n", "\r\n", 0, 0, IN ("2\r\nhi\r\n2\r\nhi\n\r"), FALSE, "T(hi)",
    ACHAT_ERROR_INVALID_FRAME, "trailer", "hi" },
  /* Too long for max_frame_length, or for max-input-size (the lower one
   * decides), refused at the header */
  { 10, ":", ",", 5, 0, IN ("5:hello,6:abcdef,"), FALSE, "T(hello)",
    ACHAT_ERROR_FRAME_TOO_LONG, "frame of 6 bytes, longer than the maximum frame length of 5" },
  { 10, ":", ",", 0, 5, IN ("5:hello,6:abcdef,"), FALSE, "T(hello)",
    ACHAT_ERROR_INPUT_LIMIT, "frame of 6 bytes, longer than the channel's max-input-size of 5" },
  { 10, ":", ",", 5, 10, IN ("5:hello,7:abcdefg,"), FALSE, "T(hello)",
    ACHAT_ERROR_FRAME_TOO_LONG, "maximum frame length of 5" },
  { 10, ":", ",", 10, 5, IN ("5:hello,7:abcdefg,"), FALSE, "T(hello)",
    ACHAT_ERROR_INPUT_LIMIT, "max-input-size of 5" },
  { 16, "\r\n", "\r\n", 0x100, 0, IN ("2\r\nhi\r\n101\r\n"), FALSE, "T(hi)",
    ACHAT_ERROR_FRAME_TOO_LONG, "frame of 257 bytes" },
  { 10, ":", ",", 0, ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE, IN ("2:hi,2000000:"), FALSE, "T(hi)",
    ACHAT_ERROR_INPUT_LIMIT, "frame of 2000000 bytes, longer than the channel's max-input-size of 1048576" },
  { 10, ":", ",", 0, ACHAT_CHANNEL_DEFAULT_MAX_INPUT_SIZE, IN ("2:hi,1048577:"), FALSE, "T(hi)",
    ACHAT_ERROR_INPUT_LIMIT, "frame of 1048577 bytes" },
  /* Beyond 64 bits, with no limit or any */
  { 10, ":", ",", 0, 0, IN ("2:hi,99999999999999999999:"), FALSE, "T(hi)",
    ACHAT_ERROR_FRAME_TOO_LONG, "longer than 18446744073709551615 bytes" },
  { 10, ":", ",", 0, 0, IN ("2:hi,18446744073709551616:"), FALSE, "T(hi)",
    ACHAT_ERROR_FRAME_TOO_LONG, "longer than 18446744073709551615 bytes" },
  { 10, ":", ",", 100, 100, IN ("2:hi,99999999999999999999:"), FALSE, "T(hi)",
    ACHAT_ERROR_FRAME_TOO_LONG, "18446744073709551615" },
  { 10, ":", ",", 0, 100, IN ("2:hi,18446744073709551614:"), FALSE, "T(hi)",
    ACHAT_ERROR_INPUT_LIMIT, "frame of 18446744073709551614 bytes" },
  /* UINT64_MAX itself is a length: with no limit, a frame that never ends */
  { 16, "\r\n", NULL, 0, 0, IN ("2\r\nhiFFFFFFFFFFFFFFFF\r\nabc"), TRUE, "T(hi)",
    ACHAT_ERROR_TRUNCATED_FRAME, "18446744073709551612 bytes before the end of a frame", "abc" },
  { 10, ":", ",", 0, 100, IN ("2:hi,18446744073709551615:"), FALSE, "T(hi)",
    ACHAT_ERROR_INPUT_LIMIT, "frame of 18446744073709551615 bytes, longer than" },
  /* The peer closes inside a header, a payload, a trailer */
  { 10, ":", ",", 0, 0, IN ("5:hello,12"), TRUE, "T(hello)",
    ACHAT_ERROR_TRUNCATED_FRAME, "length header (2 bytes of it received)" },
  { 10, "\r\n", NULL, 0, 0, IN ("2\r\nhi5\r"), TRUE, "T(hi)",
    ACHAT_ERROR_TRUNCATED_FRAME, "length header (2 bytes of it received)" },
  { 10, ":", ",", 0, 0, IN ("5:hello,5:hel"), TRUE, "T(hello)",
    ACHAT_ERROR_TRUNCATED_FRAME, "2 bytes before the end of a frame", "hel" },
  { 10, ":", ",", 0, 0, IN ("5:hello,5:"), TRUE, "T(hello)",
    ACHAT_ERROR_TRUNCATED_FRAME, "5 bytes before the end of a frame", "" },
  { 10, ":", ",", 0, 0, IN ("5:hello,5:hello"), TRUE, "T(hello)",
    ACHAT_ERROR_TRUNCATED_FRAME, "before the trailer \",\" of a frame", "hello" },
  { 10, ":", ",", 0, 0, IN ("5:hello,0:"), TRUE, "T(hello)",
    ACHAT_ERROR_TRUNCATED_FRAME, "before the trailer \",\"", "" },
  { 16, "\r\n", "\r\n", 0, 0, IN ("2\r\nhi\r\n2\r\nhi\r"), TRUE, "T(hi)",
    ACHAT_ERROR_TRUNCATED_FRAME, "before the trailer \"\\r\\n\"", "hi" },
};

static void
run_text_error (const TextErrorCase *tc,
                gboolean             byte_by_byte,
                gboolean             pausing)
{
  int peer_fd;
  g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  g_autoptr(GByteArray) replies = NULL;
  g_autofree gchar *expected = NULL;
  guint n_frames = 0;
  gsize i;

  achat_channel_set_terminator_text_length (channel, tc->radix, tc->separator, tc->trailer,
                                            tc->max_frame);
  achat_channel_set_max_input_size (channel, tc->max_input);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (reply_to_frames), NULL);
  if (pausing)
    g_signal_connect (channel, "terminator-found", G_CALLBACK (pause_after_message), NULL);
  /* Output queued before any input is written before the close too. */
  achat_channel_push (channel, (const guint8 *) "hi", 2);
  if (byte_by_byte)
    {
      for (i = 0; i < tc->input_length && !achat_channel_is_closed (channel); i++)
        test_feed (channel, peer_fd, tc->input + i, 1);
    }
  else
    test_peer_write (peer_fd, tc->input, tc->input_length);
  if (tc->peer_closes)
    shutdown (peer_fd, SHUT_WR);
  test_recorder_wait_closed (recorder);

  expected = g_strdup_printf ("%s%sclosed(achat-error-quark:%d)", tc->delivered,
                              *tc->delivered ? " " : "", tc->code);
  if (g_strcmp0 (recorder->log->str, expected) != 0 ||
      !g_error_matches (recorder->error, ACHAT_ERROR, tc->code) ||
      strstr (recorder->error->message, tc->message) == NULL)
    g_error ("\"%s\"%s%s: %s, %s", tc->input, byte_by_byte ? " byte by byte" : "",
             pausing ? " pausing" : "",
             recorder->log->str, recorder->error ? recorder->error->message : "no error");
  if (tc->collected != NULL)
    g_assert_cmpmem (g_bytes_get_data (recorder->collected_at_close, NULL),
                     g_bytes_get_size (recorder->collected_at_close),
                     tc->collected, strlen (tc->collected));
  /* A refused header: nothing of that frame was collected. (A wrong
   * trailer leaves the payload collected.) */
  else if (!tc->peer_closes)
    g_assert_cmpuint (g_bytes_get_size (recorder->collected_at_close), ==, 0);

  n_frames = recorder->n_found;
  replies = test_peer_read (peer_fd, G_MAXSIZE);
  g_assert_cmpuint (replies->len, ==, 2 + 2 * n_frames);
  g_assert_cmpmem (replies->data, 2, "hi", 2);
  for (i = 0; i < n_frames; i++)
    g_assert_cmpmem (replies->data + 2 + 2 * i, 2, "ok", 2);
  close (peer_fd);
}

static void
test_text_errors (void)
{
  guint c;

  for (c = 0; c < G_N_ELEMENTS (text_error_cases); c++)
    {
      run_text_error (&text_error_cases[c], FALSE, FALSE);
      run_text_error (&text_error_cases[c], TRUE, FALSE);
      /* The rest of the read held after each frame, and framed from
       * there. */
      run_text_error (&text_error_cases[c], FALSE, TRUE);
    }
}

/* The 21st decimal digit (17th hexadecimal one) is refused as it comes,
 * not when a separator ends the header. */
static void
test_text_digit_limit (void)
{
  guint radix;

  for (radix = 10; radix <= 16; radix += 6)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      guint max = radix == 10 ? 20 : 16;
      guint i;

      achat_channel_set_terminator_text_length (channel, radix, ":", NULL, 0);
      achat_channel_set_max_input_size (channel, 0);
      for (i = 0; i < max; i++)
        test_feed (channel, peer_fd, "0", 1);
      test_spin_for (5);
      g_assert_cmpuint (recorder->n_closed, ==, 0);
      test_feed (channel, peer_fd, "0", 1);
      test_recorder_wait_closed (recorder);
      g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_INVALID_FRAME);
      close (peer_fd);
    }
}

/* max-input-size lowered (then raised) by a handler between two frames of
 * one read applies to the next frame's header. */
static void
change_limit_on_found (AchatChannel *channel,
                       GBytes       *message,
                       gpointer      user_data)
{
  achat_channel_set_max_input_size (channel, GPOINTER_TO_SIZE (user_data));
}

static void
test_text_limit_changed (void)
{
  guint variant;

  for (variant = 0; variant < 4; variant++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      static const gchar input[] = "8:abcdefgh,5:hello,6:abcdef,20:01234567890123456789,";

      achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
      achat_channel_set_max_input_size (channel, 8);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (change_limit_on_found),
                        GSIZE_TO_POINTER (variant < 2 ? 5 : 20));
      if (variant % 2 == 0)
        test_peer_write (peer_fd, input, sizeof input - 1);
      else
        for (gsize i = 0; i < sizeof input - 1 && !achat_channel_is_closed (channel); i++)
          test_feed (channel, peer_fd, input + i, 1);
      if (variant < 2)
        {
          test_recorder_wait_closed (recorder);
          g_assert_cmpstr (recorder->log->str, ==, "T(abcdefgh) T(hello) closed(achat-error-quark:2)");
          g_assert_error (recorder->error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
          g_assert_nonnull (strstr (recorder->error->message, "frame of 6 bytes"));
          g_assert_nonnull (strstr (recorder->error->message, "max-input-size of 5 bytes"));
        }
      else
        {
          close (peer_fd);
          test_recorder_wait_closed (recorder);
          g_assert_cmpstr (recorder->log->str, ==,
                           "T(abcdefgh) T(hello) T(abcdef) T(01234567890123456789) closed");
        }
      if (variant < 2)
        close (peer_fd);
    }
}

/* A hostile peer ---------------------------------------------------------- */

/* Writes @head, then @fill over and over, until the channel closes: at
 * most @limit bytes in all, for at most TEST_TIMEOUT_MS. Returns the bytes
 * written. */
static gsize
flood_peer (AchatChannel *channel,
            int           peer_fd,
            const gchar  *head,
            const gchar  *fill,
            gsize         limit)
{
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  gsize fill_len = strlen (fill);
  gsize chunk_len = 65536 - 65536 % fill_len;
  g_autofree gchar *chunk = g_malloc (chunk_len);
  gsize written = strlen (head);
  gsize offset = chunk_len;   /* of the chunk, already written */
  gsize i;

  for (i = 0; i < chunk_len; i++)
    chunk[i] = fill[i % fill_len];
  test_peer_write (peer_fd, head, written);
  while (written < limit && !achat_channel_is_closed (channel))
    {
      gssize n;

      if (offset == chunk_len)
        offset = 0;
      n = write (peer_fd, chunk + offset, MIN (chunk_len - offset, limit - written));
      if (n < 0)
        {
          if (errno == EPIPE || errno == ECONNRESET)
            break;
          g_assert_true (errno == EAGAIN || errno == EINTR);
          if (g_get_monotonic_time () > deadline)
            g_error ("timed out flooding the channel (%" G_GSIZE_FORMAT " bytes written)", written);
          if (!test_iterate ())
            g_usleep (200);
          continue;
        }
      written += n;
      offset += n;
    }
  return written;
}

typedef struct
{
  const gchar *what;
  guint radix;
  const gchar *separator;
  const gchar *trailer;
  guint64 max_frame;
  gsize max_input;
  const gchar *head;
  const gchar *fill;
  gint code;
  const gchar *message;
  gsize max_collected;      /* at close */
} FloodCase;

static void
test_text_hostile (void)
{
  const gsize mib = 1024 * 1024;
  const FloodCase cases[] = {
    /* Endless digits, with no limit on input at all */
    { "digits", 10, ":", ",", 0, 0, "", "1", ACHAT_ERROR_INVALID_FRAME, "decimal digits", 0 },
    { "zeros", 16, "\r\n", "\r\n", 0, 0, "", "0", ACHAT_ERROR_INVALID_FRAME, "hexadecimal", 0 },
    { "digits after a frame", 10, "\r\n", NULL, 0, 0, "1\r\nx", "9", ACHAT_ERROR_INVALID_FRAME,
      "decimal digits", 0 },
    /* A megabyte of separators */
    { "separators", 10, ":", ",", 0, 0, "", ":", ACHAT_ERROR_INVALID_FRAME, "decimal digits", 0 },
    { "line ends", 16, "\r\n", "\r\n", 0, 0, "", "\r\n", ACHAT_ERROR_INVALID_FRAME, "hexadecimal", 0 },
    { "separators in a payload", 10, ":", ",", 0, 0, "5", ":", ACHAT_ERROR_INVALID_FRAME,
      "trailer", 5 },
    { "separators after a payload", 10, ":", NULL, 0, 0, "5", ":", ACHAT_ERROR_INVALID_FRAME,
      "decimal digits", 0 },
    /* A payload that never ends: refused at its header... */
    { "huge frame", 10, ":", ",", 0, mib, "99999999999:", "x", ACHAT_ERROR_INPUT_LIMIT,
      "max-input-size", 0 },
    { "huge chunk", 16, "\r\n", "\r\n", 1000, 0, "ffffffff\r\n", "x", ACHAT_ERROR_FRAME_TOO_LONG,
      "maximum frame length of 1000", 0 },
    /* ...or, when the header was allowed, at the trailer or the next
     * header, having collected no more than it said */
    { "longest allowed", 10, ":", ",", 0, mib, "1048576:", "x", ACHAT_ERROR_INVALID_FRAME,
      "trailer", mib },
    { "longest allowed, no trailer", 16, "\r\n", NULL, 0, mib, "100000\r\n", "x",
      ACHAT_ERROR_INVALID_FRAME, "hexadecimal", 0 },
  };
  guint c;

  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      const FloodCase *fc = &cases[c];
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      gsize limit = 16 * mib;
      gsize written;

      achat_channel_set_terminator_text_length (channel, fc->radix, fc->separator, fc->trailer,
                                                fc->max_frame);
      achat_channel_set_max_input_size (channel, fc->max_input);
      written = flood_peer (channel, peer_fd, fc->head, fc->fill, limit);
      test_recorder_wait_closed (recorder);

      if (!g_error_matches (recorder->error, ACHAT_ERROR, fc->code) ||
          strstr (recorder->error->message, fc->message) == NULL)
        g_error ("%s: %s", fc->what, recorder->error ? recorder->error->message : "no error");
      /* The channel stopped reading at the refusal, long before the
       * flood ended; it holds no more than the frame it allowed. */
      g_assert_cmpuint (written, <, limit);
      g_assert_cmpuint (achat_channel_get_bytes_received (channel), <=, fc->max_collected + 2 * mib);
      g_assert_cmpuint (g_bytes_get_size (recorder->collected_at_close), ==, fc->max_collected);
      close (peer_fd);
    }
}

/* A flood of empty frames: every one delivered, none lost at the reads'
 * edges, in bounded time. */
static void
count_found (AchatChannel *channel,
             GBytes       *message,
             guint        *n)
{
  if (g_bytes_get_size (message) == 0)
    (*n)++;
}

static void
test_text_flood_of_empty (void)
{
  guint f;

  for (f = 0; f < 2; f++)
    {
      const gchar *frame = f == 0 ? "0:," : "0\r\n\r\n";
      const gsize frame_len = strlen (frame);
      const gsize n_frames = (1024 * 1024) / frame_len;
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      guint n = 0;
      gsize written;

      if (f == 0)
        achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
      else
        achat_channel_set_terminator_text_length (channel, 16, "\r\n", "\r\n", 0);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (count_found), &n);
      written = flood_peer (channel, peer_fd, "", frame, n_frames * frame_len);
      g_assert_cmpuint (written, ==, n_frames * frame_len);
      close (peer_fd);
      test_recorder_wait_closed (recorder);
      g_assert_null (recorder->error);
      g_assert_cmpuint (n, ==, n_frames);
      g_assert_cmpuint (recorder->n_found, ==, n_frames);
    }
}

/* Whole reads: a class that takes every message of a read at once gets
 * every frame of it in one call, its bounds around the payloads only. */
static guint
text_whole_messages_found (AchatChannel *channel,
                           GBytes       *data,
                           const gsize  *bounds,
                           guint         n_bounds)
{
  GString *log = g_object_get_data (G_OBJECT (channel), "log");
  gsize size;
  const guint8 *bytes = g_bytes_get_data (data, &size);
  guint i;

  g_string_append_c (log, '[');
  for (i = 0; i + 1 < n_bounds; i += 2)
    {
      g_assert_cmpuint (bounds[i], <=, bounds[i + 1]);
      g_assert_cmpuint (bounds[i + 1], <=, size);
      if (i > 0)
        {
          g_assert_cmpuint (bounds[i - 1], <=, bounds[i]);
          g_string_append_c (log, ' ');
        }
      test_append_escaped (log, bytes + bounds[i], bounds[i + 1] - bounds[i]);
      g_string_append_c (log, '|');
    }
  g_string_append_c (log, ']');
  return n_bounds / 2;
}

static void
text_whole_class_init (AchatChannelClass *klass)
{
  klass->messages_found = text_whole_messages_found;
}

static GType
text_whole_get_type (void)
{
  static GType type;

  if (type == 0)
    type = g_type_register_static_simple (ACHAT_TYPE_CHANNEL, "TestFramingTextWhole",
                                          sizeof (AchatChannelClass),
                                          (GClassInitFunc) (void (*) (void)) text_whole_class_init,
                                          sizeof (AchatChannel), NULL, 0);
  return type;
}

static void
test_text_whole_reads (void)
{
  static const struct {
    guint radix;
    const gchar *separator;
    const gchar *trailer;
    const gchar *reads[4];
    const gchar *log;
  } cases[] = {
    /* One read, one call with every frame; the partial one waits. */
    { 10, ":", ",", { "5:hello,0:,3:a,b,2:xy,1:", "z,", NULL },
      "[hello| | a,b| xy|][z|]" },
    /* A trailer in the next read: that message comes alone. */
    { 10, ":", ",", { "5:hello", ",3:abc,12:", "0123456789ab,0:,", NULL },
      "[hello|][abc|][0123456789ab| |]" },
    { 16, "\r\n", "\r\n", { "1\r\n\n\r\nA\r\n0123456789\r\n0\r\n\r\n2\r\nxy\r", "\n", NULL },
      "[\\n| 0123456789| |][xy|]" },
    { 10, "\r\n", NULL, { "5\r\nhello0\r\n3\r\n\r\n\r", "2\r\nhi", NULL },
      "[hello| | \\r\\n\\r|][hi|]" },
  };
  guint c;

  for (c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      int peer_fd;
      g_autoptr(GSocket) socket = test_socket_pair (&peer_fd);
      g_autoptr(AchatChannel) channel = g_object_new (text_whole_get_type (), "socket", socket, NULL);
      g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
      g_autoptr(GString) log = g_string_new (NULL);
      guint r;

      g_object_set_data (G_OBJECT (channel), "log", log);
      achat_channel_set_terminator_text_length (channel, cases[c].radix, cases[c].separator,
                                                cases[c].trailer, 0);
      for (r = 0; cases[c].reads[r] != NULL; r++)
        test_feed (channel, peer_fd, cases[c].reads[r], strlen (cases[c].reads[r]));
      close (peer_fd);
      test_recorder_wait_closed (recorder);
      g_assert_null (recorder->error);
      g_assert_cmpstr (log->str, ==, cases[c].log);
      /* Taken by the class: terminator-found was not emitted. */
      g_assert_cmpuint (recorder->n_found, ==, 0);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/framing/terminators/every-split", test_terminators_every_split);
  g_test_add_func ("/framing/terminators/matched-after-change", test_matched_after_change);
  g_test_add_func ("/framing/terminators/end-of-stream", test_terminators_end_of_stream);
  g_test_add_func ("/framing/length/roundtrip", test_frames_roundtrip);
  g_test_add_func ("/framing/length/header-sizes", test_frames_big_endian_and_header_sizes);
  g_test_add_func ("/framing/length/errors", test_frame_errors);
  g_test_add_func ("/framing/length/invalid", test_frame_invalid_length);
  g_test_add_func ("/framing/length/versus-count-idiom", test_frames_versus_count_idiom);
  g_test_add_func ("/framing/length/push-too-long", test_push_frame_too_long);
  g_test_add_func ("/framing/length/overflowing-header", test_overflowing_header);
  g_test_add_func ("/framing/push-line", test_push_line);
  g_test_add_func ("/framing/text-length/every-split", test_text_every_split);
  g_test_add_func ("/framing/text-length/every-two-cuts", test_text_every_two_cuts);
  g_test_add_func ("/framing/text-length/roundtrip", test_text_roundtrip);
  g_test_add_func ("/framing/text-length/push-format", test_text_push_format);
  g_test_add_func ("/framing/text-length/kind", test_text_kind);
  g_test_add_func ("/framing/text-length/bad-arguments", test_text_bad_arguments);
  g_test_add_func ("/framing/text-length/switch-per-message", test_text_switch_per_message);
  g_test_add_func ("/framing/text-length/switch-whole-reads", test_text_switch_whole_reads);
  g_test_add_func ("/framing/text-length/switch-mid-payload", test_text_switch_mid_payload);
  g_test_add_func ("/framing/text-length/large-payload", test_text_large_payload);
  g_test_add_func ("/framing/text-length/errors", test_text_errors);
  g_test_add_func ("/framing/text-length/digit-limit", test_text_digit_limit);
  g_test_add_func ("/framing/text-length/limit-changed", test_text_limit_changed);
  g_test_add_func ("/framing/text-length/hostile", test_text_hostile);
  g_test_add_func ("/framing/text-length/flood-of-empty", test_text_flood_of_empty);
  g_test_add_func ("/framing/text-length/whole-reads", test_text_whole_reads);

  return g_test_run ();
}
