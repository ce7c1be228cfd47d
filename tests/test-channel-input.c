/* test-channel-input.c: the input side of AchatChannel
 *
 * Specifies: achat/achat-channel.c (reading, framing, delivering)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The rows I1-I18 of behaviour.md, plus fragmentation, terminator changes,
 * subclasses, readable(), handler re-entrancy and large inputs.  Every test
 * runs with and without a data-collected handler where it matters: without
 * one the channel takes its fast path, which must deliver the same
 * messages.
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-util.h"

/* Helpers --------------------------------------------------------------- */

typedef struct
{
  AchatChannel *channel;
  int peer;
  TestRecorder *recorder;
  GBytes *collected_at_close;   /* achat_channel_get_collected() in closed */
} Ctx;

static void
ctx_on_closed (AchatChannel *channel,
               const GError *error,
               Ctx          *ctx)
{
  g_assert_null (ctx->collected_at_close);
  ctx->collected_at_close = achat_channel_get_collected (channel);
}

/* Wraps an already constructed channel. */
static void
ctx_init_for (Ctx          *ctx,
              AchatChannel *channel,
              int           peer,
              gboolean      record_collected)
{
  ctx->channel = channel;
  ctx->peer = peer;
  ctx->recorder = test_recorder_new (channel, record_collected);
  ctx->collected_at_close = NULL;
  g_signal_connect (channel, "closed", G_CALLBACK (ctx_on_closed), ctx);
}

static void
ctx_init (Ctx      *ctx,
          gboolean  record_collected)
{
  int peer;
  GSocket *socket = test_socket_pair (&peer);

  ctx_init_for (ctx, achat_channel_new (socket), peer, record_collected);
  g_object_unref (socket);
}

static void
assert_finalized_after_unref (AchatChannel *channel)
{
  gpointer weak = channel;

  g_object_add_weak_pointer (G_OBJECT (channel), &weak);
  g_object_unref (channel);
  g_assert_null (weak);
}

/* Closes the channel if still open, checks `closed` came exactly once and
 * that the channel is finalized once the last reference goes. */
static void
ctx_finish (Ctx *ctx)
{
  if (!achat_channel_is_closed (ctx->channel))
    achat_channel_close (ctx->channel);
  g_assert_cmpuint (ctx->recorder->n_closed, ==, 1);
  g_signal_handlers_disconnect_by_data (ctx->channel, ctx);
  g_clear_pointer (&ctx->recorder, test_recorder_free);
  g_clear_pointer (&ctx->collected_at_close, g_bytes_unref);
  assert_finalized_after_unref (g_steal_pointer (&ctx->channel));
  if (ctx->peer >= 0)
    close (ctx->peer);
  ctx->peer = -1;
}

static void
feed (Ctx         *ctx,
      const gchar *data)
{
  test_feed (ctx->channel, ctx->peer, data, strlen (data));
}

/* The peer closes its end; waits for the channel to close. */
static void
peer_eof (Ctx *ctx)
{
  close (ctx->peer);
  ctx->peer = -1;
  test_recorder_wait_closed (ctx->recorder);
}

static void
set_terminator (AchatChannel *channel,
                const gchar  *terminator)
{
  achat_channel_set_terminator (channel, (const guint8 *) terminator, strlen (terminator));
}

static void
assert_bytes_eq (GBytes      *bytes,
                 const void  *data,
                 gsize        length)
{
  gsize got_len;
  const guint8 *got = g_bytes_get_data (bytes, &got_len);

  g_assert_nonnull (bytes);
  g_assert_cmpmem (got, got_len, data, length);
}

static void
assert_bytes_str (GBytes      *bytes,
                  const gchar *expected)
{
  assert_bytes_eq (bytes, expected, strlen (expected));
}

static void
assert_collected (AchatChannel *channel,
                  const gchar  *expected)
{
  g_autoptr(GBytes) collected = achat_channel_get_collected (channel);

  assert_bytes_str (collected, expected);
}

/* Table rows ------------------------------------------------------------ */

typedef enum
{
  TERM_NONE,
  TERM_BYTES,
  TERM_COUNT,
} TermKind;

typedef struct
{
  TermKind kind;
  const gchar *bytes;      /* TERM_BYTES; "" is an empty terminator */
  guint64 count;           /* TERM_COUNT */
  const gchar *reads[8];   /* NULL-terminated */
  gboolean eof;            /* the peer closes after the reads */
  const gchar *expect_collecting;   /* log with a data-collected handler */
  const gchar *expect_fast;         /* log without one */
  const gchar *expect_rest;         /* get_collected() at the end */
} Row;

static void
run_row (const Row *row)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;
      guint i;

      ctx_init (&ctx, record);
      switch (row->kind)
        {
        case TERM_NONE:
          break;
        case TERM_BYTES:
          set_terminator (ctx.channel, row->bytes);
          break;
        case TERM_COUNT:
          achat_channel_set_terminator_count (ctx.channel, row->count);
          break;
        default:
          g_assert_not_reached ();
        }

      for (i = 0; row->reads[i] != NULL; i++)
        feed (&ctx, row->reads[i]);

      if (row->eof)
        {
          peer_eof (&ctx);
          g_assert_nonnull (ctx.collected_at_close);
          assert_bytes_str (ctx.collected_at_close, row->expect_rest);
        }
      else
        {
          g_assert_false (achat_channel_is_closed (ctx.channel));
          assert_collected (ctx.channel, row->expect_rest);
        }

      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? row->expect_collecting : row->expect_fast);
      ctx_finish (&ctx);
    }
}

static void
test_i1 (void)
{
  const Row row = {
    TERM_BYTES, "\r\n", 0, { "abc\r", "\ndef\r\n", NULL }, FALSE,
    "c(abc) T(abc) c(def) T(def)",
    "T(abc) T(def)",
    "",
  };

  run_row (&row);
}

static void
test_i2 (void)
{
  const Row row = {
    TERM_BYTES, "\r\n", 0, { "\r", "\n", NULL }, FALSE,
    "T()",
    "T()",
    "",
  };

  run_row (&row);
}

static void
test_i3 (void)
{
  const Row row = {
    TERM_BYTES, "qqq", 0, { "ab", "cq", "q", "qde", "fqqq", NULL }, FALSE,
    "c(ab) c(c) T(abc) c(de) c(f) T(def)",
    "T(abc) T(def)",
    "",
  };

  run_row (&row);
}

static void
test_i4 (void)
{
  const Row row = {
    TERM_BYTES, "aab", 0, { "xaa", "ab", NULL }, FALSE,
    "c(x) c(a) T(xa)",
    "T(xa)",
    "",
  };

  run_row (&row);
}

static void
test_i6 (void)
{
  const Row row = {
    TERM_BYTES, "\r\n.\r\n", 0, { "line1\r\nline2\r\n.", "\r", "\nnext", NULL }, FALSE,
    "c(line1\\r\\nline2) T(line1\\r\\nline2) c(next)",
    "T(line1\\r\\nline2)",
    "next",
  };

  run_row (&row);
}

static void
test_i7 (void)
{
  const Row row = {
    TERM_BYTES, "", 0, { "abc", "def", NULL }, FALSE,
    "c(abc) c(def)",
    "",
    "abcdef",
  };
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  gsize length = 42;

  /* An empty terminator is no terminator. */
  set_terminator (channel, "\n");
  achat_channel_set_terminator (channel, (const guint8 *) "", 0);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_NONE);
  g_assert_null (achat_channel_get_terminator (channel, &length));
  g_assert_cmpuint (length, ==, 0);
  achat_channel_close (channel);
  assert_finalized_after_unref (channel);
  close (peer);

  run_row (&row);
}

static void
test_i8 (void)
{
  const Row row = {
    TERM_NONE, NULL, 0, { "abc", "def", NULL }, FALSE,
    "c(abc) c(def)",
    "",
    "abcdef",
  };

  run_row (&row);
}

static void
test_i9 (void)
{
  const Row row = {
    TERM_COUNT, NULL, 5, { "ab", "cdefg", "hi", NULL }, FALSE,
    "c(ab) c(cde) T(abcde) c(fg) c(hi)",
    "T(abcde)",
    "fghi",
  };
  Ctx ctx;

  run_row (&row);

  /* The count is left at 0 and counts down on the way. */
  ctx_init (&ctx, FALSE);
  achat_channel_set_terminator_count (ctx.channel, 5);
  g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 5);
  feed (&ctx, "ab");
  g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 3);
  feed (&ctx, "cdefg");
  g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 0);
  feed (&ctx, "hi");
  g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 0);
  g_assert_cmpstr (ctx.recorder->log->str, ==, "T(abcde)");
  ctx_finish (&ctx);
}

static void
test_i10 (void)
{
  const Row row = {
    TERM_COUNT, NULL, 0, { "abc", NULL }, FALSE,
    "c(abc)",
    "",
    "abc",
  };

  run_row (&row);
}

static void
test_i15 (void)
{
  const Row row = {
    TERM_BYTES, "\n", 0, { "abc", NULL }, TRUE,
    "c(abc) closed",
    "closed",
    "abc",
  };

  run_row (&row);
}

static void
test_i16 (void)
{
  const Row row = {
    TERM_BYTES, "\r\n", 0, { "abc\r", NULL }, TRUE,
    "c(abc) c(\\r) closed",
    "closed",
    "abc\r",
  };

  run_row (&row);
}

/* EOF right after a complete frame: no trailing data, nothing held. */
static void
test_eof_after_frame (void)
{
  const Row row = {
    TERM_BYTES, "\r\n", 0, { "abc\r\n", NULL }, TRUE,
    "c(abc) T(abc) closed",
    "T(abc) closed",
    "",
  };

  run_row (&row);
}

/* I5 and "several frames in one read": everything a read holds is
 * delivered in the dispatch that read it. */
static gboolean
found_any (gpointer user_data)
{
  return ((TestRecorder *) user_data)->n_found > 0;
}

typedef struct
{
  TestRecorder *recorder;
  guint n_found;
} FoundWait;

static gboolean
found_more (gpointer user_data)
{
  FoundWait *wait = user_data;

  return wait->recorder->n_found > wait->n_found;
}

static void
test_i5 (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\n");
      test_peer_write (ctx.peer, "a\nb\n\nc", 6);
      /* The condition is checked after every iteration: the first one that
       * delivered a frame must have delivered all of them. */
      test_spin_until (found_any, ctx.recorder);
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, 6);
      g_assert_cmpuint (ctx.recorder->n_found, ==, 3);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) c(b) T(b) T() c(c)" : "T(a) T(b) T()");
      assert_collected (ctx.channel, "c");
      ctx_finish (&ctx);
    }
}

static void
test_one_dispatch (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;
      guint64 before;
      FoundWait wait;
      const gchar *burst = "one\r\ntwo\r\nthree\r\nfour\r\nfive\r\nsix";

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\r\n");
      feed (&ctx, "zero\r\n");
      g_assert_cmpuint (ctx.recorder->n_found, ==, 1);

      before = achat_channel_get_bytes_received (ctx.channel);
      wait.recorder = ctx.recorder;
      wait.n_found = ctx.recorder->n_found;
      test_peer_write (ctx.peer, burst, strlen (burst));
      /* Checked after every iteration: the one that delivered the first
       * frame of the burst delivered all five, from a single read. */
      test_spin_until (found_more, &wait);
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, before + strlen (burst));
      g_assert_cmpuint (ctx.recorder->n_found, ==, wait.n_found + 5);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ?
                       "c(zero) T(zero) c(one) T(one) c(two) T(two) c(three) T(three) "
                       "c(four) T(four) c(five) T(five) c(six)" :
                       "T(zero) T(one) T(two) T(three) T(four) T(five)");
      assert_collected (ctx.channel, "six");
      ctx_finish (&ctx);
    }
}

/* I11: the terminator-found handler re-arms a count of 3. */
static void
rearm_count_3 (AchatChannel *channel,
               GBytes       *message,
               gpointer      user_data)
{
  achat_channel_set_terminator_count (channel, 3);
}

static void
test_i11 (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      achat_channel_set_terminator_count (ctx.channel, 3);
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (rearm_count_3), NULL);
      feed (&ctx, "abcdefgh");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(abc) T(abc) c(def) T(def) c(gh)" : "T(abc) T(def)");
      g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 1);
      assert_collected (ctx.channel, "gh");
      ctx_finish (&ctx);
    }
}

/* I12: the handler toggles between "\r\n" and a count of 4. */
static void
toggle_line_count4 (AchatChannel *channel,
                    GBytes       *message,
                    gpointer      user_data)
{
  if (achat_channel_get_terminator_kind (channel) == ACHAT_TERMINATOR_BYTES)
    achat_channel_set_terminator_count (channel, 4);
  else
    set_terminator (channel, "\r\n");
}

static void
test_i12 (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\r\n");
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (toggle_line_count4), NULL);
      feed (&ctx, "HDR\r\nBODYrest\r\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(HDR) T(HDR) c(BODY) T(BODY) c(rest) T(rest)" :
                       "T(HDR) T(BODY) T(rest)");
      g_assert_cmpint (achat_channel_get_terminator_kind (ctx.channel), ==, ACHAT_TERMINATOR_COUNT);
      ctx_finish (&ctx);
    }
}

/* I13: close() from terminator-found stops delivery at once. */
static void
close_on_found (AchatChannel *channel,
                GBytes       *message,
                gpointer      user_data)
{
  achat_channel_close (channel);
  /* closed was emitted before close() returned. */
  g_assert_true (achat_channel_is_closed (channel));
  g_assert_cmpuint (((TestRecorder *) user_data)->n_closed, ==, 1);
}

static void
test_i13 (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\n");
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (close_on_found), ctx.recorder);
      feed (&ctx, "a\nb\nc\n");
      g_assert_true (achat_channel_is_closed (ctx.channel));
      /* Nothing more comes, even after more iterations. */
      test_spin_for (20);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) closed" : "T(a) closed");
      g_assert_cmpuint (ctx.recorder->n_closed, ==, 1);
      ctx_finish (&ctx);
    }
}

/* I14: discard_buffers() from terminator-found drops the rest of the read. */
static void
discard_on_found (AchatChannel *channel,
                  GBytes       *message,
                  gpointer      user_data)
{
  guint *calls = user_data;

  if ((*calls)++ == 0)
    achat_channel_discard_buffers (channel);
}

static void
test_i14 (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;
      guint calls = 0;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\n");
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (discard_on_found), &calls);
      feed (&ctx, "a\nb\nc\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==, record ? "c(a) T(a)" : "T(a)");
      g_assert_false (achat_channel_is_closed (ctx.channel));
      assert_collected (ctx.channel, "");

      /* The channel goes on with the next read. */
      feed (&ctx, "d\ne");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) c(d) T(d) c(e)" : "T(a) T(d)");
      ctx_finish (&ctx);
    }
}

/* A held partial terminator is dropped by discard_buffers() too. */
static void
test_discard_held (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\r\n");
      feed (&ctx, "abc\r");
      achat_channel_discard_buffers (ctx.channel);
      assert_collected (ctx.channel, "");
      /* The held "\r" is gone: this "\n" does not end a frame. */
      feed (&ctx, "\nx\r\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(abc) c(\\nx) T(\\nx)" : "T(\\nx)");
      ctx_finish (&ctx);
    }
}

/* I18: the peer resets the connection in the middle of a frame. */
static void
tcp_pair (GSocket **channel_side,
          GSocket **peer_side)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (port, !=, 0);

  address = g_inet_socket_address_new (loopback, port);
  *peer_side = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                             G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_connect (*peer_side, address, NULL, &error);
  g_assert_no_error (error);

  *channel_side = g_socket_listener_accept_socket (listener, NULL, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (listener);
}

static void
peer_reset (GSocket *peer)
{
  struct linger linger = { 1, 0 };
  g_autoptr(GError) error = NULL;

  g_assert_no_errno (setsockopt (g_socket_get_fd (peer), SOL_SOCKET, SO_LINGER,
                                 &linger, sizeof linger));
  g_socket_close (peer, &error);
  g_assert_no_error (error);
}

static void
test_i18 (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      g_autoptr(GSocket) channel_side = NULL;
      g_autoptr(GSocket) peer = NULL;
      g_autofree gchar *expected = NULL;
      Ctx ctx;

      tcp_pair (&channel_side, &peer);
      ctx_init_for (&ctx, achat_channel_new (channel_side), -1, record);
      set_terminator (ctx.channel, "\r\n");

      /* Make sure the data was read before the reset. */
      test_feed (ctx.channel, g_socket_get_fd (peer), "one\r\ntwo\r", 9);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(one) T(one) c(two)" : "T(one)");

      peer_reset (peer);
      test_recorder_wait_closed (ctx.recorder);

      g_assert_nonnull (ctx.recorder->error);
      g_assert_true (ctx.recorder->error->domain == G_IO_ERROR);
      g_test_message ("reset reported as: %s", ctx.recorder->error->message);
      expected = g_strdup_printf ("%sclosed(g-io-error-quark:%d)",
                                  record ? "c(one) T(one) c(two) c(\\r) " : "T(one) ",
                                  ctx.recorder->error->code);
      g_assert_cmpstr (ctx.recorder->log->str, ==, expected);
      /* The unfinished frame, held terminator prefix included. */
      assert_bytes_str (ctx.collected_at_close, "two\r");
      ctx_finish (&ctx);
    }
}

/* Fragmentation --------------------------------------------------------- */

typedef struct
{
  gboolean record;
  GPtrArray *messages;      /* of GBytes */
  GByteArray *since;        /* data-collected bytes since the last terminator */
  GBytes *rest;             /* get_collected() when closed */
  guint n_closed;
  gboolean http;            /* handler switches "\r\n" / count */
} Collector;

static void
collector_on_data (AchatChannel *channel,
                   GBytes       *data,
                   Collector    *collector)
{
  gsize length;
  const guint8 *bytes = g_bytes_get_data (data, &length);

  g_assert_cmpuint (length, >, 0);
  g_assert_cmpuint (collector->n_closed, ==, 0);
  g_byte_array_append (collector->since, bytes, length);
}

static void
collector_on_found (AchatChannel *channel,
                    GBytes       *message,
                    Collector    *collector)
{
  g_assert_cmpuint (collector->n_closed, ==, 0);
  if (collector->record)
    assert_bytes_eq (message, collector->since->data, collector->since->len);
  g_byte_array_set_size (collector->since, 0);
  g_ptr_array_add (collector->messages, g_bytes_ref (message));

  if (collector->http)
    {
      if (achat_channel_get_terminator_kind (channel) == ACHAT_TERMINATOR_BYTES)
        {
          g_autofree gchar *line = g_strndup (g_bytes_get_data (message, NULL),
                                              g_bytes_get_size (message));
          guint64 length;

          g_assert_true (g_str_has_prefix (line, "LEN "));
          length = g_ascii_strtoull (line + 4, NULL, 10);
          g_assert_cmpuint (length, >, 0);
          achat_channel_set_terminator_count (channel, length);
        }
      else
        set_terminator (channel, "\r\n");
    }
}

static void
collector_on_closed (AchatChannel *channel,
                     const GError *error,
                     Collector    *collector)
{
  g_assert_no_error ((GError *) error);
  collector->n_closed++;
  g_clear_pointer (&collector->rest, g_bytes_unref);
  collector->rest = achat_channel_get_collected (channel);
}

static gboolean
collector_is_closed (gpointer user_data)
{
  return ((Collector *) user_data)->n_closed > 0;
}

/* Feeds @stream to a new channel with @terminator, cut at each of @cuts
 * (ascending offsets), then EOF; checks the messages and the rest. */
static void
run_pieces (const gchar        *terminator,
            gboolean            http,
            gboolean            record,
            const guint8       *stream,
            gsize               length,
            const gsize        *cuts,
            guint               n_cuts,
            const gchar *const *expect_messages,
            guint               n_expect,
            const guint8       *expect_rest,
            gsize               expect_rest_len)
{
  Collector collector = { 0, };
  int peer;
  GSocket *socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  gsize start = 0;
  guint i;

  g_object_unref (socket);
  collector.record = record;
  collector.http = http;
  collector.messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  collector.since = g_byte_array_new ();

  set_terminator (channel, terminator);
  if (record)
    g_signal_connect (channel, "data-collected", G_CALLBACK (collector_on_data), &collector);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (collector_on_found), &collector);
  g_signal_connect (channel, "closed", G_CALLBACK (collector_on_closed), &collector);

  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : length;

      if (end > start)
        test_feed (channel, peer, stream + start, end - start);
      start = end;
    }
  close (peer);
  test_spin_until (collector_is_closed, &collector);
  g_assert_cmpuint (collector.n_closed, ==, 1);

  g_assert_cmpuint (collector.messages->len, ==, n_expect);
  for (i = 0; i < n_expect; i++)
    assert_bytes_str (g_ptr_array_index (collector.messages, i), expect_messages[i]);
  assert_bytes_eq (collector.rest, expect_rest, expect_rest_len);
  if (record)
    g_assert_cmpmem (collector.since->data, collector.since->len, expect_rest, expect_rest_len);

  g_signal_handlers_disconnect_by_data (channel, &collector);
  assert_finalized_after_unref (channel);
  g_ptr_array_unref (collector.messages);
  g_byte_array_unref (collector.since);
  g_bytes_unref (collector.rest);
}

/* Splits @stream at every byte boundary into two reads, and also feeds it
 * one byte per read, with and without a data-collected handler. */
static void
run_all_splits (const gchar        *terminator,
                gboolean            http,
                const gchar        *stream,
                const gchar *const *expect_messages,
                guint               n_expect,
                const gchar        *expect_rest)
{
  gsize length = strlen (stream);
  g_autofree gsize *every = g_new (gsize, length + 1);
  gboolean record;
  gsize cut;

  for (cut = 0; cut <= length; cut++)
    every[cut] = cut;

  for (record = FALSE; record <= TRUE; record++)
    {
      /* One read. */
      run_pieces (terminator, http, record, (const guint8 *) stream, length, NULL, 0,
                  expect_messages, n_expect, (const guint8 *) expect_rest, strlen (expect_rest));
      /* Two reads, cut everywhere. */
      for (cut = 1; cut < length; cut++)
        run_pieces (terminator, http, record, (const guint8 *) stream, length, &cut, 1,
                    expect_messages, n_expect, (const guint8 *) expect_rest, strlen (expect_rest));
      /* One byte per read. */
      run_pieces (terminator, http, record, (const guint8 *) stream, length, every + 1, length - 1,
                  expect_messages, n_expect, (const guint8 *) expect_rest, strlen (expect_rest));
    }
}

/* The reference: a naive split on the leftmost match. */
static GPtrArray *
reference_split (const gchar  *stream,
                 const gchar  *terminator,
                 const gchar **rest)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func (g_free);
  gsize tl = strlen (terminator);
  const gchar *p = stream;
  const gchar *hit;

  while ((hit = strstr (p, terminator)) != NULL)
    {
      g_ptr_array_add (messages, g_strndup (p, hit - p));
      p = hit + tl;
    }
  *rest = p;
  return messages;
}

static void
check_splits (const gchar *terminator,
              const gchar *stream,
              guint        expect_n_messages)
{
  const gchar *rest;
  g_autoptr(GPtrArray) messages = reference_split (stream, terminator, &rest);

  /* The reference itself is what the stream was written for. */
  g_assert_cmpuint (messages->len, ==, expect_n_messages);
  run_all_splits (terminator, FALSE, stream,
                  (const gchar *const *) messages->pdata, messages->len, rest);
}

static void
test_split_1 (void)
{
  check_splits ("\n", "hello\n\nworld\nx\n\ntail", 5);
}

static void
test_split_2 (void)
{
  /* Lone \r and \n, "\r\r\n" (a retry after a false start). */
  check_splits ("\r\n", "hello\r\n\r\nwo\rrld\r\r\n\n\r\ntail\r", 4);
}

static void
test_split_3 (void)
{
  check_splits ("qqq", "abqqqqqqqqcqqdqqqqqqqeqq", 4);
}

static void
test_split_5 (void)
{
  /* "ababc" overlaps itself: "abababc" ends a frame after "ab". */
  check_splits ("ababc", "helloababcababcabababxababcabababababcabababcaba", 5);
}

/* Terminator changes ---------------------------------------------------- */

static void
test_http_like (void)
{
  const gchar *stream = "LEN 5\r\nhelloLEN 12\r\nab\r\ncd\r\nefghLEN 3\r\n\r\n\rtail\r";
  const gchar *messages[] = {
    "LEN 5", "hello", "LEN 12", "ab\r\ncd\r\nefgh", "LEN 3", "\r\n\r",
  };

  /* Counted bodies may hold the line terminator.  After the last body the
   * terminator is a line again: "tail" and a held "\r" are cut by EOF. */
  run_all_splits ("\r\n", TRUE, stream, messages, G_N_ELEMENTS (messages), "tail\r");
}

/* A shorter terminator set from a handler, while a partial match of the
 * longer one is held back. */
static void
switch_to_lf (AchatChannel *channel,
              GBytes       *message,
              gpointer      user_data)
{
  set_terminator (channel, "\n");
}

static void
test_terminator_change_held (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "END");
      feed (&ctx, "aEN");
      /* Set outside a handler: applies to the held "EN" and what follows. */
      set_terminator (ctx.channel, "N");
      feed (&ctx, "bN");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) c(E) T(aE) c(b) T(b)" : "T(aE) T(b)");
      ctx_finish (&ctx);
    }

  /* The new, shorter terminator lies inside the held bytes, with held
   * bytes after it: those are not lost. */
  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "abcdef");
      feed (&ctx, "xabcde");
      set_terminator (ctx.channel, "c");
      feed (&ctx, "fc");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(x) c(ab) T(xab) c(de) c(f) T(def)" : "T(xab) T(def)");
      ctx_finish (&ctx);
    }

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\r\n");
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (switch_to_lf), NULL);
      feed (&ctx, "one\r\ntwo\r\nthree\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(one) T(one) c(two\\r) T(two\\r) c(three) T(three)" :
                       "T(one) T(two\\r) T(three)");
      ctx_finish (&ctx);
    }
}

/* Empty frames ----------------------------------------------------------- */

static void
test_empty_frame (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\n");
      feed (&ctx, "\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==, "T()");
      g_assert_cmpuint (ctx.recorder->n_collected, ==, 0);
      feed (&ctx, "a\n\n");
      feed (&ctx, "\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "T() c(a) T(a) T() T()" : "T() T(a) T() T()");
      ctx_finish (&ctx);
    }
}

/* Count terminators ------------------------------------------------------ */

static void
test_count_across_reads (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      achat_channel_set_terminator_count (ctx.channel, 10);
      feed (&ctx, "abc");
      g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 7);
      feed (&ctx, "defg");
      g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 3);
      feed (&ctx, "hijkl");
      g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 0);
      /* Spent: collects with no terminator, never fires again. */
      feed (&ctx, "mn\r\n\n");
      g_assert_cmpuint (achat_channel_get_terminator_count (ctx.channel), ==, 0);
      g_assert_cmpuint (ctx.recorder->n_found, ==, 1);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(abc) c(defg) c(hij) T(abcdefghij) c(kl) c(mn\\r\\n\\n)" :
                       "T(abcdefghij)");
      peer_eof (&ctx);
      assert_bytes_str (ctx.collected_at_close, "klmn\r\n\n");
      ctx_finish (&ctx);
    }
}

static void
test_count_exact_reads (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      achat_channel_set_terminator_count (ctx.channel, 4);
      feed (&ctx, "abcd");
      g_assert_cmpstr (ctx.recorder->log->str, ==, record ? "c(abcd) T(abcd)" : "T(abcd)");
      /* A new count from outside a handler starts a new message. */
      achat_channel_set_terminator_count (ctx.channel, 1);
      feed (&ctx, "xy");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(abcd) T(abcd) c(x) T(x) c(y)" : "T(abcd) T(x)");
      assert_collected (ctx.channel, "y");
      ctx_finish (&ctx);
    }
}

static void
test_terminator_getters (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  guint8 term[5] = { 'a', 'b', 'c', 'd', 'e' };
  const guint8 *got;
  gsize length = 42;

  /* A new channel has no terminator. */
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_NONE);
  g_assert_null (achat_channel_get_terminator (channel, &length));
  g_assert_cmpuint (length, ==, 0);
  g_assert_cmpuint (achat_channel_get_terminator_count (channel), ==, 0);

  achat_channel_set_terminator (channel, term, sizeof term);
  term[0] = 'z';   /* it was copied */
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_BYTES);
  got = achat_channel_get_terminator (channel, &length);
  g_assert_cmpmem (got, length, "abcde", 5);
  g_assert_cmpuint (achat_channel_get_terminator_count (channel), ==, 0);
  g_assert_nonnull (achat_channel_get_terminator (channel, NULL));

  achat_channel_set_terminator_count (channel, 7);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_COUNT);
  length = 42;
  g_assert_null (achat_channel_get_terminator (channel, &length));
  g_assert_cmpuint (length, ==, 0);
  g_assert_cmpuint (achat_channel_get_terminator_count (channel), ==, 7);

  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  got = achat_channel_get_terminator (channel, &length);
  g_assert_cmpmem (got, length, "\r\n", 2);
  g_assert_cmpuint (achat_channel_get_terminator_count (channel), ==, 0);

  achat_channel_set_terminator_none (channel);
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_NONE);
  length = 42;
  g_assert_null (achat_channel_get_terminator (channel, &length));
  g_assert_cmpuint (length, ==, 0);

  achat_channel_set_terminator_count (channel, 0);
  g_assert_cmpuint (achat_channel_get_terminator_count (channel), ==, 0);

  achat_channel_close (channel);
  assert_finalized_after_unref (channel);
  close (peer);
}

/* Nobody listens to any input signal: what came waits, unframed, and the
 * socket is not read further, until someone does; then it is framed with
 * the terminator in force at that point. Nothing is lost, even when the
 * peer closed meanwhile. */
static void
test_no_listener (void)
{
  gboolean peer_ends;

  for (peer_ends = FALSE; peer_ends <= TRUE; peer_ends++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      AchatChannel *channel = achat_channel_new (socket);
      g_autoptr(TestRecorder) recorder = NULL;
      g_autoptr(GBytes) collected = NULL;

      set_terminator (channel, "\n");
      test_peer_write (peer, "abc\ndef\ngh", 10);
      test_spin_for (50);
      /* Received, not framed: nothing collected, nothing dropped. */
      g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, 10);
      collected = achat_channel_get_collected (channel);
      g_assert_cmpuint (g_bytes_get_size (collected), ==, 0);
      /* The socket is not read further meanwhile. */
      test_peer_write (peer, "i\njk", 4);
      if (peer_ends)
        close (peer);
      test_spin_for (50);
      /* (Once the peer is gone, what it left is read: it can send no more.) */
      g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, peer_ends ? 14 : 10);
      g_assert_false (achat_channel_is_closed (channel));

      /* The terminator in force when someone comes frames it all; a
       * handler connected from outside any handler is noticed before the
       * next poll. */
      set_terminator (channel, peer_ends ? "c" : "\n");
      recorder = test_recorder_new (channel, FALSE);
      test_spin_for (50);
      g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, 14);
      if (peer_ends)
        {
          test_recorder_wait_closed (recorder);
          g_assert_cmpstr (recorder->log->str, ==, "T(ab) closed");
          g_clear_pointer (&collected, g_bytes_unref);
          collected = achat_channel_get_collected (channel);
          assert_bytes_str (collected, "\ndef\nghi\njk");
        }
      else
        {
          g_assert_cmpstr (recorder->log->str, ==, "T(abc) T(def) T(ghi)");
          test_feed (channel, peer, "l\n", 2);
          g_assert_cmpstr (recorder->log->str, ==, "T(abc) T(def) T(ghi) T(jkl)");
          achat_channel_close (channel);
          close (peer);
        }
      g_clear_pointer (&recorder, test_recorder_free);
      assert_finalized_after_unref (channel);
    }
}

/* Subclasses ------------------------------------------------------------- */

/* Overrides data_collected without chaining up: keeps its own buffer. */
#define TEST_TYPE_OWN_BUFFER_CHANNEL (test_own_buffer_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestOwnBufferChannel, test_own_buffer_channel, TEST, OWN_BUFFER_CHANNEL, AchatChannel)

struct _TestOwnBufferChannel
{
  AchatChannel parent_instance;
  GByteArray *own;
  guint n_calls;
};

G_DEFINE_FINAL_TYPE (TestOwnBufferChannel, test_own_buffer_channel, ACHAT_TYPE_CHANNEL)

static void
test_own_buffer_channel_data_collected (AchatChannel *channel,
                                        GBytes       *data)
{
  TestOwnBufferChannel *self = TEST_OWN_BUFFER_CHANNEL (channel);
  gsize length;
  const guint8 *bytes = g_bytes_get_data (data, &length);

  self->n_calls++;
  g_byte_array_append (self->own, bytes, length);
}

static void
test_own_buffer_channel_finalize (GObject *object)
{
  TestOwnBufferChannel *self = TEST_OWN_BUFFER_CHANNEL (object);

  g_byte_array_unref (self->own);
  G_OBJECT_CLASS (test_own_buffer_channel_parent_class)->finalize (object);
}

static void
test_own_buffer_channel_class_init (TestOwnBufferChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_own_buffer_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->data_collected = test_own_buffer_channel_data_collected;
}

static void
test_own_buffer_channel_init (TestOwnBufferChannel *self)
{
  self->own = g_byte_array_new ();
}

static void
test_subclass_data_collected (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      GSocket *socket = test_socket_pair (&peer);
      TestOwnBufferChannel *own = g_object_new (TEST_TYPE_OWN_BUFFER_CHANNEL, "socket", socket, NULL);
      Ctx ctx;

      g_object_unref (socket);
      ctx_init_for (&ctx, ACHAT_CHANNEL (own), peer, record);
      set_terminator (ctx.channel, "\n");
      feed (&ctx, "ab");
      feed (&ctx, "c\nde");
      feed (&ctx, "f\n");
      g_assert_cmpmem (own->own->data, own->own->len, "abcdef", 6);
      g_assert_cmpuint (own->n_calls, ==, 4);
      /* The default buffer was never filled: the messages are empty. */
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(ab) c(c) T() c(de) c(f) T()" : "T() T()");
      assert_collected (ctx.channel, "");
      ctx_finish (&ctx);
    }
}

/* Overrides terminator_found only; no handler is connected at all. */
#define TEST_TYPE_FOUND_CHANNEL (test_found_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestFoundChannel, test_found_channel, TEST, FOUND_CHANNEL, AchatChannel)

struct _TestFoundChannel
{
  AchatChannel parent_instance;
  GPtrArray *messages;
};

G_DEFINE_FINAL_TYPE (TestFoundChannel, test_found_channel, ACHAT_TYPE_CHANNEL)

static void
test_found_channel_terminator_found (AchatChannel *channel,
                                     GBytes       *message)
{
  g_ptr_array_add (TEST_FOUND_CHANNEL (channel)->messages, g_bytes_ref (message));
}

static void
test_found_channel_finalize (GObject *object)
{
  g_ptr_array_unref (TEST_FOUND_CHANNEL (object)->messages);
  G_OBJECT_CLASS (test_found_channel_parent_class)->finalize (object);
}

static void
test_found_channel_class_init (TestFoundChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_found_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->terminator_found = test_found_channel_terminator_found;
}

static void
test_found_channel_init (TestFoundChannel *self)
{
  self->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
}

static void
test_subclass_terminator_found (void)
{
  int peer;
  GSocket *socket = test_socket_pair (&peer);
  TestFoundChannel *found = g_object_new (TEST_TYPE_FOUND_CHANNEL, "socket", socket, NULL);
  AchatChannel *channel = ACHAT_CHANNEL (found);
  g_autoptr(GString) big = g_string_new (NULL);
  guint i;

  g_object_unref (socket);
  set_terminator (channel, "\r\n");
  test_feed (channel, peer, "hello\r\nwor", 10);
  test_feed (channel, peer, "ld\r\n\r\n", 6);

  /* A long message in a single read (the no-copy path), then a long one
   * across two reads. */
  for (i = 0; big->len < 20000; i++)
    g_string_append_printf (big, "%u,", i);
  g_string_append (big, "\r\n");
  test_feed (channel, peer, big->str, big->len);
  test_feed (channel, peer, big->str, 5000);
  test_feed (channel, peer, big->str + 5000, big->len - 5000);

  g_assert_cmpuint (found->messages->len, ==, 5);
  assert_bytes_str (g_ptr_array_index (found->messages, 0), "hello");
  assert_bytes_str (g_ptr_array_index (found->messages, 1), "world");
  assert_bytes_str (g_ptr_array_index (found->messages, 2), "");
  assert_bytes_eq (g_ptr_array_index (found->messages, 3), big->str, big->len - 2);
  assert_bytes_eq (g_ptr_array_index (found->messages, 4), big->str, big->len - 2);

  achat_channel_close (channel);
  assert_finalized_after_unref (channel);
  close (peer);
}

/* readable() override: asked on every main loop iteration. */
#define TEST_TYPE_GATE_CHANNEL (test_gate_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestGateChannel, test_gate_channel, TEST, GATE_CHANNEL, AchatChannel)

struct _TestGateChannel
{
  AchatChannel parent_instance;
  gboolean open;
  guint n_asked;
};

G_DEFINE_FINAL_TYPE (TestGateChannel, test_gate_channel, ACHAT_TYPE_CHANNEL)

static gboolean
test_gate_channel_readable (AchatChannel *channel)
{
  TestGateChannel *self = TEST_GATE_CHANNEL (channel);

  self->n_asked++;
  return self->open;
}

static void
test_gate_channel_class_init (TestGateChannelClass *klass)
{
  ACHAT_CHANNEL_CLASS (klass)->readable = test_gate_channel_readable;
}

static void
test_gate_channel_init (TestGateChannel *self)
{
}

static TestGateChannel *
gate_new (int *peer)
{
  g_autoptr(GSocket) socket = test_socket_pair (peer);

  return g_object_new (TEST_TYPE_GATE_CHANNEL, "socket", socket, NULL);
}

static void
gate_close_on_found (AchatChannel *channel,
                     GBytes       *message,
                     gpointer      user_data)
{
  TEST_GATE_CHANNEL (channel)->open = FALSE;
}

static void
test_readable (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      TestGateChannel *gate = gate_new (&peer);
      Ctx ctx;
      FoundWait wait;
      guint asked;

      ctx_init_for (&ctx, ACHAT_CHANNEL (gate), peer, record);
      set_terminator (ctx.channel, "\n");
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (gate_close_on_found), NULL);

      /* Closed gate: the data waits in the socket. */
      test_peer_write (peer, "a\nb", 3);
      asked = gate->n_asked;
      test_spin_for (50);
      g_assert_cmpuint (gate->n_asked, >, asked);   /* asked again and again */
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, 0);
      g_assert_cmpstr (ctx.recorder->log->str, ==, "");

      /* Open it: the pending data arrives with no new write. */
      gate->open = TRUE;
      test_spin_until (found_any, ctx.recorder);
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, 3);
      g_assert_cmpstr (ctx.recorder->log->str, ==, record ? "c(a) T(a) c(b)" : "T(a)");

      /* The handler closed the gate again. */
      g_assert_false (gate->open);
      test_peer_write (peer, "\nc\n", 3);
      test_spin_for (50);
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, 3);
      gate->open = TRUE;
      wait.recorder = ctx.recorder;
      wait.n_found = 1;
      test_spin_until (found_more, &wait);
      g_assert_cmpuint (ctx.recorder->n_found, ==, 3);
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, 6);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) c(b) T(b) c(c) T(c)" : "T(a) T(b) T(c)");
      ctx_finish (&ctx);
    }
}

/* The peer hangs up while readable() is FALSE: nothing is read (so
 * nothing delivered and no close) until readable() says so. */
static void
test_readable_hangup (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      TestGateChannel *gate = gate_new (&peer);
      Ctx ctx;

      ctx_init_for (&ctx, ACHAT_CHANNEL (gate), peer, record);
      set_terminator (ctx.channel, "\n");

      test_peer_write (peer, "a\nb", 3);
      close (peer);
      ctx.peer = -1;
      test_spin_for (50);
      if (ctx.recorder->log->len > 0 ||
          achat_channel_get_bytes_received (ctx.channel) != 0 ||
          achat_channel_is_closed (ctx.channel))
        {
          /* Reported without aborting, so that the tests after this one
           * still run. */
          g_test_fail_printf ("readable() returned FALSE, yet once the peer hung up the "
                              "channel read %" G_GUINT64_FORMAT " bytes and emitted \"%s\" "
                              "(expected: nothing read, nothing emitted, still open)",
                              achat_channel_get_bytes_received (ctx.channel),
                              ctx.recorder->log->str);
          ctx_finish (&ctx);
          continue;
        }

      gate->open = TRUE;
      test_recorder_wait_closed (ctx.recorder);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) c(b) closed" : "T(a) closed");
      ctx_finish (&ctx);
    }
}

/* Re-entrancy ------------------------------------------------------------ */

typedef struct
{
  GString *log;
  guint n_closed;
  gpointer weak;
  gboolean dropped;
} Reentry;

static void
reentry_on_found_unref (AchatChannel *channel,
                        GBytes       *message,
                        Reentry      *reentry)
{
  g_string_append_printf (reentry->log, "T(%.*s) ", (int) g_bytes_get_size (message),
                          (const gchar *) g_bytes_get_data (message, NULL));
  if (reentry->dropped)
    return;
  reentry->dropped = TRUE;

  /* Drop the application's only reference: the channel lives on. */
  g_object_unref (channel);
  g_assert_nonnull (reentry->weak);
  g_assert_false (achat_channel_is_closed (channel));

  /* Close it: it lives until this handler returns. */
  achat_channel_close (channel);
  g_assert_true (achat_channel_is_closed (channel));
  g_assert_cmpuint (reentry->n_closed, ==, 1);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, 6);
  g_assert_nonnull (reentry->weak);
  assert_collected (channel, "");
}

static void
reentry_on_closed (AchatChannel *channel,
                   const GError *error,
                   Reentry      *reentry)
{
  g_assert_no_error ((GError *) error);
  reentry->n_closed++;
  g_string_append (reentry->log, "closed");
}

static gboolean
reentry_finalized (gpointer user_data)
{
  return ((Reentry *) user_data)->weak == NULL;
}

static void
test_unref_in_handler (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  Reentry reentry = { g_string_new (NULL), 0, channel, FALSE };

  g_object_add_weak_pointer (G_OBJECT (channel), &reentry.weak);
  set_terminator (channel, "\n");
  g_signal_connect (channel, "terminator-found", G_CALLBACK (reentry_on_found_unref), &reentry);
  g_signal_connect (channel, "closed", G_CALLBACK (reentry_on_closed), &reentry);

  /* Not test_feed(): it would look at the channel after it is gone. */
  test_peer_write (peer, "a\nb\nc\n", 6);
  test_spin_until (reentry_finalized, &reentry);
  g_assert_cmpstr (reentry.log->str, ==, "T(a) closed");
  g_assert_cmpuint (reentry.n_closed, ==, 1);

  g_string_free (reentry.log, TRUE);
  close (peer);
}

/* The channel keeps itself alive while open; unref early. */
static void
test_self_reference (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  Reentry reentry = { g_string_new (NULL), 0, channel, TRUE };

  g_object_add_weak_pointer (G_OBJECT (channel), &reentry.weak);
  set_terminator (channel, "\n");
  g_signal_connect (channel, "terminator-found", G_CALLBACK (reentry_on_found_unref), &reentry);
  g_signal_connect (channel, "closed", G_CALLBACK (reentry_on_closed), &reentry);
  g_object_unref (channel);
  g_assert_nonnull (reentry.weak);

  test_feed (channel, peer, "a\nb", 3);
  g_assert_nonnull (reentry.weak);
  g_assert_cmpstr (reentry.log->str, ==, "T(a) ");

  close (peer);
  test_spin_until (reentry_finalized, &reentry);
  g_assert_cmpstr (reentry.log->str, ==, "T(a) closed");
  g_assert_cmpuint (reentry.n_closed, ==, 1);
  g_string_free (reentry.log, TRUE);
}

/* A handler runs a nested main loop while more input arrives: nothing is
 * delivered re-entrantly, and the order is kept. */
static void
nested_loop_on_found (AchatChannel *channel,
                      GBytes       *message,
                      Ctx          *ctx)
{
  guint n_found = ctx->recorder->n_found;

  if (g_bytes_get_size (message) != 1 || *(const gchar *) g_bytes_get_data (message, NULL) != 'a')
    return;
  test_peer_write (ctx->peer, "c\n", 2);
  test_spin_for (30);
  g_assert_cmpuint (ctx->recorder->n_found, ==, n_found);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, 4);
}

static void
test_nested_main_loop (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      Ctx ctx;

      ctx_init (&ctx, record);
      set_terminator (ctx.channel, "\n");
      g_signal_connect (ctx.channel, "terminator-found", G_CALLBACK (nested_loop_on_found), &ctx);
      feed (&ctx, "a\nb\n");
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) c(b) T(b)" : "T(a) T(b)");
      /* "c\n" is read once the handler has returned. */
      feed (&ctx, "d\n");
      g_assert_cmpuint (achat_channel_get_bytes_received (ctx.channel), ==, 8);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(a) T(a) c(b) T(b) c(c) T(c) c(d) T(d)" :
                       "T(a) T(b) T(c) T(d)");
      ctx_finish (&ctx);
    }
}

static void
close_on_collected (AchatChannel *channel,
                    GBytes       *data,
                    gpointer      user_data)
{
  const gchar *when = user_data;

  if (when == NULL ||
      (g_bytes_get_size (data) == strlen (when) &&
       memcmp (g_bytes_get_data (data, NULL), when, strlen (when)) == 0))
    achat_channel_close (channel);
}

static void
test_close_in_collected (void)
{
  Ctx ctx;

  /* The recorder's handler runs first, then this one closes. */
  ctx_init (&ctx, TRUE);
  set_terminator (ctx.channel, "\n");
  g_signal_connect (ctx.channel, "data-collected", G_CALLBACK (close_on_collected), NULL);
  feed (&ctx, "ab\ncd\n");
  test_spin_for (20);
  g_assert_cmpstr (ctx.recorder->log->str, ==, "c(ab) closed");
  g_assert_cmpuint (ctx.recorder->n_found, ==, 0);
  g_assert_cmpuint (ctx.recorder->n_closed, ==, 1);
  ctx_finish (&ctx);

  /* Closing while the held partial terminator is delivered at EOF. */
  ctx_init (&ctx, TRUE);
  set_terminator (ctx.channel, "\r\n");
  g_signal_connect (ctx.channel, "data-collected", G_CALLBACK (close_on_collected), "\r");
  feed (&ctx, "abc\r");
  peer_eof (&ctx);
  test_spin_for (20);
  g_assert_cmpstr (ctx.recorder->log->str, ==, "c(abc) c(\\r) closed");
  g_assert_cmpuint (ctx.recorder->n_closed, ==, 1);
  ctx_finish (&ctx);
}

static void
close_again (AchatChannel *channel,
             const GError *error,
             guint        *n_calls)
{
  (*n_calls)++;
  g_assert_true (achat_channel_is_closed (channel));
  achat_channel_close (channel);
}

static void
test_close_in_closed (void)
{
  gboolean by_peer;

  for (by_peer = FALSE; by_peer <= TRUE; by_peer++)
    {
      Ctx ctx;
      guint n_calls = 0;

      ctx_init (&ctx, TRUE);
      set_terminator (ctx.channel, "\n");
      g_signal_connect (ctx.channel, "closed", G_CALLBACK (close_again), &n_calls);
      feed (&ctx, "x\ny");
      if (by_peer)
        peer_eof (&ctx);
      else
        {
          achat_channel_close (ctx.channel);
          achat_channel_close (ctx.channel);
        }
      test_spin_for (20);
      g_assert_cmpuint (n_calls, ==, 1);
      g_assert_cmpuint (ctx.recorder->n_closed, ==, 1);
      g_assert_cmpstr (ctx.recorder->log->str, ==, "c(x) T(x) c(y) closed");
      assert_bytes_str (ctx.collected_at_close, "y");
      ctx_finish (&ctx);
    }
}

/* Large inputs ----------------------------------------------------------- */

static void
test_large_message (void)
{
  const gsize size = 1024 * 1024;
  const gsize piece = 64 * 1024;
  g_autoptr(GByteArray) data = g_byte_array_sized_new (size + 2);
  g_autoptr(GRand) rng = g_rand_new_with_seed (42);
  gboolean record;
  gsize i;

  for (i = 0; i < size; i++)
    {
      guint8 c = g_rand_int_range (rng, 0, 256);

      /* Lone \r and \n are fine; "\r\n" would end the message. */
      if (c == '\n' && i > 0 && data->data[i - 1] == '\r')
        c = 'n';
      g_byte_array_append (data, &c, 1);
    }
  g_byte_array_append (data, (const guint8 *) "\r\n", 2);

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      AchatChannel *channel = achat_channel_new (socket);
      Collector collector = { 0, };

      collector.record = record;
      collector.messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      collector.since = g_byte_array_new ();
      set_terminator (channel, "\r\n");
      if (record)
        g_signal_connect (channel, "data-collected", G_CALLBACK (collector_on_data), &collector);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (collector_on_found), &collector);

      for (i = 0; i < data->len; i += piece)
        test_feed (channel, peer, data->data + i, MIN (piece, data->len - i));

      g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, size + 2);
      g_assert_cmpuint (collector.messages->len, ==, 1);
      assert_bytes_eq (g_ptr_array_index (collector.messages, 0), data->data, size);
      assert_collected (channel, "");

      g_signal_handlers_disconnect_by_data (channel, &collector);
      achat_channel_close (channel);
      assert_finalized_after_unref (channel);
      close (peer);
      g_ptr_array_unref (collector.messages);
      g_byte_array_unref (collector.since);
    }
}

/* Long counted messages (read in place when nobody watches data-collected)
 * in the header-then-count idiom, each followed at once by the next header,
 * arriving in writes of many sizes: every body byte for byte, every header
 * intact, nothing left over. */
static void
test_large_counted_messages (void)
{
  static const gsize sizes[] = { 20000, 300000, 1024 * 1024 + 3, 70000, 16 * 1024 };
  static const gsize pieces[] = { 7, 65536, 100000, 200003, 1, 300000 };
  g_autoptr(GByteArray) stream = g_byte_array_new ();
  g_autoptr(GRand) rng = g_rand_new_with_seed (7);
  gboolean record;
  gsize i, j;

  for (i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autofree gchar *header = g_strdup_printf ("LEN %" G_GSIZE_FORMAT "\r\n", sizes[i]);

      g_byte_array_append (stream, (const guint8 *) header, strlen (header));
      for (j = 0; j < sizes[i]; j++)
        {
          guint8 c = g_rand_int_range (rng, 0, 256);

          g_byte_array_append (stream, &c, 1);
        }
    }
  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      AchatChannel *channel = achat_channel_new (socket);
      Collector collector = { 0, };
      gsize offset = 0;

      collector.record = record;
      collector.http = TRUE;
      collector.messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      collector.since = g_byte_array_new ();
      achat_channel_set_max_input_size (channel, 0);   /* frames past 1 MiB */
      set_terminator (channel, "\r\n");
      if (record)
        g_signal_connect (channel, "data-collected", G_CALLBACK (collector_on_data), &collector);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (collector_on_found), &collector);

      for (i = 0; offset < stream->len; i++)
        {
          gsize n = MIN (pieces[i % G_N_ELEMENTS (pieces)], stream->len - offset);

          test_feed (channel, peer, stream->data + offset, n);
          offset += n;
        }

      g_assert_cmpuint (achat_channel_get_bytes_received (channel), ==, stream->len);
      g_assert_cmpuint (collector.messages->len, ==, 2 * G_N_ELEMENTS (sizes));
      offset = 0;
      for (i = 0; i < G_N_ELEMENTS (sizes); i++)
        {
          g_autofree gchar *header = g_strdup_printf ("LEN %" G_GSIZE_FORMAT, sizes[i]);

          assert_bytes_str (g_ptr_array_index (collector.messages, 2 * i), header);
          offset += strlen (header) + 2;
          assert_bytes_eq (g_ptr_array_index (collector.messages, 2 * i + 1),
                           stream->data + offset, sizes[i]);
          offset += sizes[i];
        }
      assert_collected (channel, "");

      g_signal_handlers_disconnect_by_data (channel, &collector);
      achat_channel_close (channel);
      assert_finalized_after_unref (channel);
      close (peer);
      g_ptr_array_unref (collector.messages);
      g_byte_array_unref (collector.since);
    }
}

static void
test_many_lines (void)
{
  const guint n_lines = 10000;
  g_autoptr(GString) burst = g_string_new (NULL);
  gboolean record;
  guint i;

  for (i = 0; i < n_lines; i++)
    g_string_append_printf (burst, "line %05u\n", i);

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      AchatChannel *channel = achat_channel_new (socket);
      Collector collector = { 0, };

      collector.record = record;
      collector.messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      collector.since = g_byte_array_new ();
      set_terminator (channel, "\n");
      if (record)
        g_signal_connect (channel, "data-collected", G_CALLBACK (collector_on_data), &collector);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (collector_on_found), &collector);

      test_feed (channel, peer, burst->str, burst->len);

      g_assert_cmpuint (collector.messages->len, ==, n_lines);
      for (i = 0; i < n_lines; i++)
        {
          gchar expected[16];

          g_snprintf (expected, sizeof expected, "line %05u", i);
          assert_bytes_str (g_ptr_array_index (collector.messages, i), expected);
        }

      g_signal_handlers_disconnect_by_data (channel, &collector);
      achat_channel_close (channel);
      assert_finalized_after_unref (channel);
      close (peer);
      g_ptr_array_unref (collector.messages);
      g_byte_array_unref (collector.since);
    }
}

/* Short messages share one reusable buffer ----------------------------- */

/* Keeps every other message; the others hand their buffer back for the
 * next message, of another length. */
static void
keep_every_other (AchatChannel *channel,
                  GBytes       *message,
                  GPtrArray    *kept)
{
  static guint n;

  if (n++ % 2 == 0)
    g_ptr_array_add (kept, g_bytes_ref (message));
}

static void
test_kept_short_messages (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GString) stream = g_string_new (NULL);
  static const gsize lengths[] = { 3, 1, 300, 2, 40, 1000, 5, 64, 64, 7, 2000, 1 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      for (gsize j = 0; j < lengths[i]; j++)
        g_string_append_c (stream, 'a' + (i + j) % 26);
      g_string_append (stream, "\n");
    }

  set_terminator (channel, "\n");
  g_signal_connect (channel, "terminator-found", G_CALLBACK (keep_every_other), kept);
  test_feed (channel, peer, stream->str, stream->len);

  /* Every kept message is intact after later ones reused the buffer. */
  g_assert_cmpuint (kept->len, ==, G_N_ELEMENTS (lengths) / 2);
  for (i = 0; i < kept->len; i++)
    {
      GBytes *message = g_ptr_array_index (kept, i);
      const guint8 *data = g_bytes_get_data (message, NULL);
      guint k = 2 * i;

      g_assert_cmpuint (g_bytes_get_size (message), ==, lengths[k]);
      for (gsize j = 0; j < lengths[k]; j++)
        g_assert_cmpint (data[j], ==, 'a' + (k + j) % 26);
    }

  achat_channel_close (channel);
  assert_finalized_after_unref (channel);
  close (peer);
}

/* Handlers connected while input is delivered -------------------------- */

/* The channel skips data-collected when nobody observes it and caches who
 * does while it frames a read: a handler connected from another handler
 * must still see the rest of the same read. */

static void
log_collected (AchatChannel *channel,
               GBytes       *data,
               GString      *log)
{
  gsize length;
  const guint8 *bytes = g_bytes_get_data (data, &length);

  g_string_append (log, "c(");
  test_append_escaped (log, bytes, length);
  g_string_append (log, ") ");
}

static void
log_found (AchatChannel *channel,
           GBytes       *message,
           GString      *log)
{
  gsize length;
  const guint8 *bytes = g_bytes_get_data (message, &length);

  g_string_append (log, "T(");
  test_append_escaped (log, bytes, length);
  g_string_append (log, ") ");
}

static void
connect_collected_on_start (AchatChannel *channel,
                            GBytes       *message,
                            GString      *log)
{
  if (g_bytes_get_size (message) == 5 &&
      memcmp (g_bytes_get_data (message, NULL), "START", 5) == 0)
    g_signal_connect (channel, "data-collected", G_CALLBACK (log_collected), log);
}

static void
test_connect_collected_in_found (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  g_autoptr(GString) log = g_string_new (NULL);

  set_terminator (channel, "\r\n");
  g_signal_connect (channel, "terminator-found", G_CALLBACK (connect_collected_on_start), log);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (log_found), log);

  /* One read: the handler connected at START sees the lines after it. */
  test_feed (channel, peer, "a\r\nSTART\r\nbc\r\nd", 15);
  g_assert_cmpstr (log->str, ==, "T(a) T(START) c(bc) T(bc) c(d) ");

  g_signal_handlers_disconnect_by_data (channel, log);
  achat_channel_close (channel);
  assert_finalized_after_unref (channel);
  close (peer);
}

static void
connect_found_on_collected (AchatChannel *channel,
                            GBytes       *data,
                            GString      *log)
{
  if (!g_signal_has_handler_pending (channel, g_signal_lookup ("terminator-found",
                                                               ACHAT_TYPE_CHANNEL),
                                     0, FALSE))
    g_signal_connect (channel, "terminator-found", G_CALLBACK (log_found), log);
}

static void
disconnect_found (AchatChannel *channel,
                  GBytes       *message,
                  GString      *log)
{
  g_signal_handlers_disconnect_by_func (channel, log_found, log);
  g_signal_handlers_disconnect_by_func (channel, disconnect_found, log);
}

static void
test_connect_found_in_collected (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  g_autoptr(GString) log = g_string_new (NULL);

  /* Only data-collected is observed at first: the terminator-found handler
   * it connects receives the very message that piece ends, and after
   * that handler goes away the channel keeps framing correctly. */
  set_terminator (channel, "\n");
  g_signal_connect (channel, "data-collected", G_CALLBACK (connect_found_on_collected), log);
  test_feed (channel, peer, "one\ntwo\n", 8);
  g_assert_cmpstr (log->str, ==, "T(one) T(two) ");

  g_signal_handlers_disconnect_by_func (channel, connect_found_on_collected, log);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (disconnect_found), log);
  g_string_truncate (log, 0);
  test_feed (channel, peer, "three\nfour\nfi", 13);
  g_assert_cmpstr (log->str, ==, "T(three) ");
  assert_collected (channel, "fi");

  achat_channel_close (channel);
  assert_finalized_after_unref (channel);
  close (peer);
}

/* A class handler with no handler connected is called directly, without
 * an emission: handlers it connects or unblocks must still see the rest of
 * the same read, whatever else is connected to the channel. */
#define TEST_TYPE_HOOK_CHANNEL (test_hook_channel_get_type ())
G_DECLARE_FINAL_TYPE (TestHookChannel, test_hook_channel, TEST, HOOK_CHANNEL, AchatChannel)

struct _TestHookChannel
{
  AchatChannel parent_instance;
  GString *log;
  gulong blocked;
};

G_DEFINE_FINAL_TYPE (TestHookChannel, test_hook_channel, ACHAT_TYPE_CHANNEL)

static gboolean
bytes_is (GBytes      *bytes,
          const gchar *text)
{
  return g_bytes_get_size (bytes) == strlen (text) &&
         memcmp (g_bytes_get_data (bytes, NULL), text, strlen (text)) == 0;
}

static void
test_hook_channel_terminator_found (AchatChannel *channel,
                                    GBytes       *message)
{
  TestHookChannel *self = TEST_HOOK_CHANNEL (channel);
  gsize length;
  const guint8 *bytes = g_bytes_get_data (message, &length);

  g_string_append (self->log, "V(");
  test_append_escaped (self->log, bytes, length);
  g_string_append (self->log, ") ");

  if (bytes_is (message, "connect-found"))
    g_signal_connect (channel, "terminator-found", G_CALLBACK (log_found), self->log);
  else if (bytes_is (message, "connect-collected"))
    g_signal_connect (channel, "data-collected", G_CALLBACK (log_collected), self->log);
  else if (bytes_is (message, "unblock"))
    g_signal_handler_unblock (channel, self->blocked);
}

static void
test_hook_channel_finalize (GObject *object)
{
  g_string_free (TEST_HOOK_CHANNEL (object)->log, TRUE);
  G_OBJECT_CLASS (test_hook_channel_parent_class)->finalize (object);
}

static void
test_hook_channel_class_init (TestHookChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_hook_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->terminator_found = test_hook_channel_terminator_found;
}

static void
test_hook_channel_init (TestHookChannel *self)
{
  self->log = g_string_new (NULL);
}

static void
on_closed_ignore (AchatChannel *channel,
                  const GError *error,
                  gpointer      user_data)
{
}

static void
test_direct_class_handler (void)
{
  static const struct {
    const gchar *input;
    const gchar *expect;
  } cases[] = {
    { "a\nconnect-found\nb\nc\n", "V(a) V(connect-found) T(b) V(b) T(c) V(c) " },
    { "a\nconnect-collected\nbc\nd", "V(a) V(connect-collected) c(bc) V(bc) c(d) " },
    { "a\nunblock\nb\n", "V(a) V(unblock) T(b) V(b) " },
  };
  gboolean other_handler;
  gsize i;

  /* Without any handler (one cheap check after each call), and with a
   * handler on another signal (the precise checks). */
  for (other_handler = FALSE; other_handler <= TRUE; other_handler++)
    for (i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        int peer;
        g_autoptr(GSocket) socket = test_socket_pair (&peer);
        TestHookChannel *hook = g_object_new (TEST_TYPE_HOOK_CHANNEL, "socket", socket, NULL);
        AchatChannel *channel = ACHAT_CHANNEL (hook);

        g_test_message ("input %s, handler on closed: %d", cases[i].input, other_handler);
        set_terminator (channel, "\n");
        if (other_handler)
          g_signal_connect (channel, "closed", G_CALLBACK (on_closed_ignore), NULL);
        if (g_str_has_prefix (cases[i].input, "a\nunblock"))
          {
            hook->blocked = g_signal_connect (channel, "terminator-found",
                                              G_CALLBACK (log_found), hook->log);
            g_signal_handler_block (channel, hook->blocked);
          }

        /* One read, so only the re-checks after each call can notice. */
        test_feed (channel, peer, cases[i].input, strlen (cases[i].input));
        g_assert_cmpstr (hook->log->str, ==, cases[i].expect);

        g_signal_handlers_disconnect_by_data (channel, hook->log);
        achat_channel_close (channel);
        assert_finalized_after_unref (channel);
        close (peer);
      }
}

/* Construction ----------------------------------------------------------- */

static void
test_construct_socket (void)
{
  int peer;
  GSocket *socket = test_socket_pair (&peer);
  AchatChannel *channel = g_object_new (ACHAT_TYPE_CHANNEL, "socket", socket, NULL);
  Ctx ctx;

  g_assert_true (achat_channel_get_socket (channel) == socket);
  g_assert_null (achat_channel_get_stream (channel));
  g_assert_true (achat_channel_get_context (channel) == g_main_context_default ());
  g_object_unref (socket);

  ctx_init_for (&ctx, channel, peer, FALSE);
  set_terminator (channel, "\n");
  feed (&ctx, "hi\nthere");
  peer_eof (&ctx);
  g_assert_cmpstr (ctx.recorder->log->str, ==, "T(hi) closed");
  assert_bytes_str (ctx.collected_at_close, "there");
  g_assert_true (g_socket_is_closed (achat_channel_get_socket (channel)));
  ctx_finish (&ctx);
}

static void
test_construct_stream (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      g_autoptr(GSocketConnection) connection = g_socket_connection_factory_create_connection (socket);
      AchatChannel *channel = g_object_new (ACHAT_TYPE_CHANNEL, "stream", connection, NULL);
      Ctx ctx;

      g_assert_true (achat_channel_get_stream (channel) == G_IO_STREAM (connection));
      g_assert_true (achat_channel_get_socket (channel) == socket);

      ctx_init_for (&ctx, channel, peer, record);
      set_terminator (channel, "\r\n");
      feed (&ctx, "abc\r");
      feed (&ctx, "\ndef\r\n");
      feed (&ctx, "gh\r");
      peer_eof (&ctx);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(abc) T(abc) c(def) T(def) c(gh) c(\\r) closed" :
                       "T(abc) T(def) closed");
      assert_bytes_str (ctx.collected_at_close, "gh\r");
      g_assert_true (g_io_stream_is_closed (G_IO_STREAM (connection)));
      ctx_finish (&ctx);
    }
}

/* A stream that is not a GSocketConnection goes through the pollable
 * stream interfaces. */
static gboolean
stream_closed (gpointer user_data)
{
  return g_io_stream_is_closed (user_data);
}

static void
test_construct_pollable_stream (void)
{
  gboolean record;

  for (record = FALSE; record <= TRUE; record++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      g_autoptr(GSocketConnection) connection = g_socket_connection_factory_create_connection (socket);
      g_autoptr(GIOStream) stream =
        g_simple_io_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)),
                                g_io_stream_get_output_stream (G_IO_STREAM (connection)));
      AchatChannel *channel = achat_channel_new_for_stream (stream);
      Ctx ctx;

      g_assert_true (achat_channel_get_stream (channel) == stream);
      g_assert_null (achat_channel_get_socket (channel));

      ctx_init_for (&ctx, channel, peer, record);
      set_terminator (channel, "\r\n");
      feed (&ctx, "abc\r");
      feed (&ctx, "\ndef\r\nx");
      feed (&ctx, "y\r");
      peer_eof (&ctx);
      g_assert_cmpstr (ctx.recorder->log->str, ==,
                       record ? "c(abc) T(abc) c(def) T(def) c(x) c(y) c(\\r) closed" :
                       "T(abc) T(def) closed");
      assert_bytes_str (ctx.collected_at_close, "xy\r");
      /* The stream is closed asynchronously. */
      test_spin_until (stream_closed, stream);
      ctx_finish (&ctx);
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
    }
}

static void
test_construct_nothing (void)
{
  AchatChannel *channel;

  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*needs a socket or a stream*");
  channel = g_object_new (ACHAT_TYPE_CHANNEL, NULL);
  g_test_assert_expected_messages ();

  g_assert_nonnull (channel);
  g_assert_true (achat_channel_is_closed (channel));
  g_assert_null (achat_channel_get_socket (channel));
  g_assert_null (achat_channel_get_stream (channel));
  assert_finalized_after_unref (channel);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/channel/input/I1", test_i1);
  g_test_add_func ("/channel/input/I2", test_i2);
  g_test_add_func ("/channel/input/I3", test_i3);
  g_test_add_func ("/channel/input/I4", test_i4);
  g_test_add_func ("/channel/input/I5", test_i5);
  g_test_add_func ("/channel/input/I6", test_i6);
  g_test_add_func ("/channel/input/I7", test_i7);
  g_test_add_func ("/channel/input/I8", test_i8);
  g_test_add_func ("/channel/input/I9", test_i9);
  g_test_add_func ("/channel/input/I10", test_i10);
  g_test_add_func ("/channel/input/I11", test_i11);
  g_test_add_func ("/channel/input/I12", test_i12);
  g_test_add_func ("/channel/input/I13", test_i13);
  g_test_add_func ("/channel/input/I14", test_i14);
  g_test_add_func ("/channel/input/I15", test_i15);
  g_test_add_func ("/channel/input/I16", test_i16);
  /* I17 (negative count) cannot be written in C: the count is unsigned.
   * I19 (input limit) belongs to the hardening work. */
  g_test_add_func ("/channel/input/I18", test_i18);

  g_test_add_func ("/channel/input/eof-after-frame", test_eof_after_frame);
  g_test_add_func ("/channel/input/one-dispatch", test_one_dispatch);
  g_test_add_func ("/channel/input/discard-held", test_discard_held);
  g_test_add_func ("/channel/input/split/1-byte", test_split_1);
  g_test_add_func ("/channel/input/split/2-bytes", test_split_2);
  g_test_add_func ("/channel/input/split/3-bytes", test_split_3);
  g_test_add_func ("/channel/input/split/5-bytes", test_split_5);
  g_test_add_func ("/channel/input/terminator/http-like", test_http_like);
  g_test_add_func ("/channel/input/terminator/change-held", test_terminator_change_held);
  g_test_add_func ("/channel/input/terminator/getters", test_terminator_getters);
  g_test_add_func ("/channel/input/empty-frame", test_empty_frame);
  g_test_add_func ("/channel/input/count/across-reads", test_count_across_reads);
  g_test_add_func ("/channel/input/count/exact-reads", test_count_exact_reads);
  g_test_add_func ("/channel/input/no-listener", test_no_listener);
  g_test_add_func ("/channel/input/subclass/data-collected", test_subclass_data_collected);
  g_test_add_func ("/channel/input/subclass/terminator-found", test_subclass_terminator_found);
  g_test_add_func ("/channel/input/reentry/unref-in-handler", test_unref_in_handler);
  g_test_add_func ("/channel/input/reentry/self-reference", test_self_reference);
  g_test_add_func ("/channel/input/reentry/close-in-data-collected", test_close_in_collected);
  g_test_add_func ("/channel/input/reentry/close-in-closed", test_close_in_closed);
  g_test_add_func ("/channel/input/reentry/nested-main-loop", test_nested_main_loop);
  g_test_add_func ("/channel/input/large/1MiB-message", test_large_message);
  g_test_add_func ("/channel/input/large/counted-messages", test_large_counted_messages);
  g_test_add_func ("/channel/input/large/10000-lines", test_many_lines);
  g_test_add_func ("/channel/input/kept-short-messages", test_kept_short_messages);
  g_test_add_func ("/channel/input/observers/connect-collected-in-found",
                   test_connect_collected_in_found);
  g_test_add_func ("/channel/input/observers/connect-found-in-collected",
                   test_connect_found_in_collected);
  g_test_add_func ("/channel/input/observers/direct-class-handler",
                   test_direct_class_handler);
  g_test_add_func ("/channel/input/construct/socket", test_construct_socket);
  g_test_add_func ("/channel/input/construct/stream", test_construct_stream);
  g_test_add_func ("/channel/input/construct/pollable-stream", test_construct_pollable_stream);
  g_test_add_func ("/channel/input/construct/nothing", test_construct_nothing);
  g_test_add_func ("/channel/input/readable/gate", test_readable);
  g_test_add_func ("/channel/input/readable/hangup", test_readable_hangup);

  return g_test_run ();
}
