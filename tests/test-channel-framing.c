/* test-channel-framing.c: several terminators, length-prefixed frames and
 * safe line output, through a channel
 *
 * (The framing engine's own exhaustive tests are in test-framer.c; these
 * check what the channel adds: which terminator matched, the limits and
 * errors of frames, the frames it writes, the lines it refuses.)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

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

  return g_test_run ();
}
