/* test-channel-pull.c: the pull style is exact
 *
 * Specifies: achat/achat-channel.c (the pull style)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A client written as "set the framing, read a message" gets, from each
 * read, the message framed with the terminator in force when it asked,
 * however the peer's bytes were split into reads, whether the next read is
 * started from the previous one's callback or later, and whether the bytes
 * came before the first read. Scripts of (framing, expected message) pairs
 * are run over every split; a randomized test compares the pull style with
 * the handler style on the same stream and framing schedule.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

#include "test-scripts.h"
#include "test-util.h"

/* Running a script -------------------------------------------------------- */

typedef enum
{
  NEXT_FROM_CALLBACK,   /* the next read starts in the callback */
  NEXT_FROM_IDLE,       /* in an idle after it (as a promise or a future) */
} NextRead;

/* How a read sets its framing. */
typedef enum
{
  SET_THEN_READ,        /* set_terminator*() then read_message_async() */
  READ_CALLS,           /* read_until/line/bytes_async() where they fit */
} ReadCall;

typedef struct
{
  const Script *script;
  AchatChannel *channel;
  NextRead next;
  ReadCall calls;
  guint step;           /* the read under way: a step, or n_steps (the end) */
  gboolean done;        /* the end was read */
  GError *end_error;
  GString *failure;     /* the first mismatch */
} Run;

static void run_read (Run *run);

static void
run_fail (Run         *run,
          const gchar *format,
          ...) G_GNUC_PRINTF (2, 3);

static void
run_fail (Run         *run,
          const gchar *format,
          ...)
{
  va_list args;

  if (run->failure->len > 0)
    return;
  va_start (args, format);
  g_string_append_vprintf (run->failure, format, args);
  va_end (args);
  run->done = TRUE;
}

static gboolean
run_read_idle (gpointer data)
{
  run_read (data);
  return G_SOURCE_REMOVE;
}

/* The _finish() of whichever read call @result comes from. */
static GBytes *
finish_read (GObject       *source,
             GAsyncResult  *result,
             GError       **error)
{
  AchatChannel *channel = ACHAT_CHANNEL (source);
  gpointer tag = g_task_get_source_tag (G_TASK (result));

  if (tag == achat_channel_read_until_async)
    return achat_channel_read_until_finish (channel, result, error);
  if (tag == achat_channel_read_line_async)
    return achat_channel_read_line_finish (channel, result, error);
  if (tag == achat_channel_read_bytes_async)
    return achat_channel_read_bytes_finish (channel, result, error);
  return achat_channel_read_message_finish (channel, result, error);
}

static void
run_read_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      data)
{
  Run *run = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message = finish_read (source, result, &error);

  if (run->done)
    return;
  if (run->step == run->script->n_steps)
    {
      if (message != NULL)
        {
          g_autoptr(GString) got = g_string_new (NULL);

          test_append_escaped (got, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
          run_fail (run, "read %u: a message (%s) after the last one", run->step, got->str);
          return;
        }
      run->end_error = g_steal_pointer (&error);
      run->done = TRUE;
      return;
    }

  {
    const Step *step = &run->script->steps[run->step];
    gsize expected_len = step->message_len ? step->message_len : strlen (step->message);

    if (message == NULL)
      {
        run_fail (run, "read %u: no message (%s)", run->step,
                  error != NULL ? error->message : "the end");
        return;
      }
    if (!bytes_equal (message, step->message, expected_len))
      {
        g_autoptr(GString) got = g_string_new (NULL);
        g_autoptr(GString) want = g_string_new (NULL);

        test_append_escaped (got, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
        test_append_escaped (want, (const guint8 *) step->message, expected_len);
        run_fail (run, "read %u: got \"%s\", expected \"%s\"", run->step, got->str, want->str);
        return;
      }
  }

  run->step++;
  if (run->next == NEXT_FROM_CALLBACK)
    run_read (run);
  else
    g_idle_add (run_read_idle, run);
}

/* Sets the framing of the step under way, then starts its read; or
 * starts the read that sets it. */
static void
run_read (Run *run)
{
  const Framing *framing = NULL;

  if (run->step < run->script->n_steps)
    framing = &run->script->steps[run->step].framing;
  if (framing != NULL && run->calls == READ_CALLS)
    {
      switch (framing->kind)
        {
        case F_BYTES:
          achat_channel_read_until_async (run->channel, (const guint8 *) framing->bytes,
                                          strlen (framing->bytes), NULL, run_read_cb, run);
          return;
        case F_LINE:
          achat_channel_read_line_async (run->channel, NULL, run_read_cb, run);
          return;
        case F_COUNT:
          achat_channel_read_bytes_async (run->channel, framing->count, NULL, run_read_cb, run);
          return;
        case F_LENGTH16:
        case F_NETSTRING:
        case F_CHUNK:
          break;
        }
    }
  if (framing != NULL)
    apply_framing (run->channel, framing);
  achat_channel_read_message_async (run->channel, NULL, run_read_cb, run);
}

static gboolean
run_is_done (gpointer data)
{
  return ((Run *) data)->done;
}

typedef struct
{
  AchatChannel *channel;
  guint64 total;
} Received;

static gboolean
received_all (gpointer data)
{
  Received *r = data;

  return achat_channel_get_bytes_received (r->channel) >= r->total;
}

/* Runs @script on a new channel: the peer writes the stream in pieces cut
 * at @cuts, each piece received by a read of its own; the first read
 * starts before anything is written, or (@late) only after the whole
 * stream arrived and the main loop ran. Returns NULL, or what went wrong. */
static gchar *
run_script (const Script *script,
            const gsize  *cuts,
            guint         n_cuts,
            NextRead      next,
            ReadCall      calls,
            gboolean      late)
{
  gsize length = script->stream_len ? script->stream_len : strlen (script->stream);
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  Run run = { script, achat_channel_new (socket), next, calls, 0, FALSE, NULL, g_string_new (NULL) };
  Received received = { run.channel, 0 };
  gsize start = 0;
  guint i;

  if (!late)
    run_read (&run);
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : length;

      if (end <= start)
        continue;
      test_peer_write (peer, script->stream + start, end - start);
      received.total = end;
      if (!late)
        test_spin_until (received_all, &received);
      else
        test_spin_for (1);
      start = end;
    }
  if (late)
    {
      test_spin_for (5);
      run_read (&run);
    }
  close (peer);
  test_spin_until (run_is_done, &run);

  if (run.failure->len == 0)
    {
      g_autoptr(GBytes) collected = achat_channel_get_collected (run.channel);

      if (script->rest[0] == '\0' && run.end_error != NULL)
        run_fail (&run, "the end: %s", run.end_error->message);
      else if (script->rest[0] != '\0' &&
               !g_error_matches (run.end_error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT))
        run_fail (&run, "the end: %s, expected a partial message",
                  run.end_error ? run.end_error->message : "clean");
      else if (!bytes_equal (collected, script->rest, strlen (script->rest)))
        run_fail (&run, "the end: the rest is not \"%s\"", script->rest);
      else if (achat_channel_get_bytes_received (run.channel) != length)
        run_fail (&run, "%" G_GUINT64_FORMAT " bytes received of %" G_GSIZE_FORMAT,
                  achat_channel_get_bytes_received (run.channel), length);
    }

  g_clear_error (&run.end_error);
  g_object_unref (run.channel);
  test_spin_for (0);
  return run.failure->len > 0 ? g_string_free (run.failure, FALSE)
                              : (g_string_free (run.failure, TRUE), NULL);
}

static void
check_run (const Script *script,
           const gsize  *cuts,
           guint         n_cuts,
           NextRead      next,
           ReadCall      calls,
           gboolean      late)
{
  g_autofree gchar *failure = run_script (script, cuts, n_cuts, next, calls, late);

  if (failure != NULL)
    {
      g_autoptr(GString) where = g_string_new (NULL);
      guint i;

      for (i = 0; i < n_cuts; i++)
        g_string_append_printf (where, "%s%" G_GSIZE_FORMAT, i ? "," : "", cuts[i]);
      g_error ("script %s, cuts [%s], next read from %s%s%s: %s", script->name, where->str,
               next == NEXT_FROM_CALLBACK ? "the callback" : "an idle",
               calls == READ_CALLS ? ", read_until/line/bytes" : "",
               late ? ", first read late" : "", failure);
    }
}

/* Every script: in one write, cut in two at every byte, one byte per
 * write; the next read from the callback and from an idle; the framing set
 * before read_message_async() and by the read calls that set it; the
 * first read before the bytes and after them. */
static void
test_scripts_every_split (gconstpointer data)
{
  const Script *script = data;
  gsize length = script->stream_len ? script->stream_len : strlen (script->stream);
  g_autofree gsize *every = g_new (gsize, length);
  NextRead next;
  gsize cut;

  for (cut = 0; cut < length; cut++)
    every[cut] = cut + 1;
  for (next = NEXT_FROM_CALLBACK; next <= NEXT_FROM_IDLE; next++)
    {
      ReadCall calls;

      for (calls = SET_THEN_READ; calls <= READ_CALLS; calls++)
        {
          gboolean late;

          for (late = FALSE; late <= TRUE; late++)
            {
              check_run (script, NULL, 0, next, calls, late);
              for (cut = 1; cut < length; cut++)
                check_run (script, &cut, 1, next, calls, late);
              check_run (script, every, length - 1, next, calls, late);
            }
        }
    }
}

/* Pull style against handler style ---------------------------------------- */

typedef struct
{
  const Script *script;
  guint step;
  gboolean closed;
  GString *failure;
} Handled;

static void
handled_on_found (AchatChannel *channel,
                  GBytes       *message,
                  gpointer      data)
{
  Handled *handled = data;
  const Script *script = handled->script;
  const Step *step;
  gsize expected_len;

  if (handled->failure->len > 0)
    return;
  if (handled->step >= script->n_steps)
    {
      g_string_append_printf (handled->failure, "message %u: after the last one", handled->step);
      return;
    }
  step = &script->steps[handled->step];
  expected_len = step->message_len ? step->message_len : strlen (step->message);
  if (!bytes_equal (message, step->message, expected_len))
    {
      g_string_append_printf (handled->failure, "message %u differs", handled->step);
      return;
    }
  /* The handler style: the next framing applies to the very next byte. */
  if (++handled->step < script->n_steps)
    apply_framing (channel, &script->steps[handled->step].framing);
}

static void
handled_on_closed (AchatChannel *channel,
                   const GError *error,
                   gpointer      data)
{
  Handled *handled = data;

  if (error != NULL && handled->failure->len == 0)
    g_string_append_printf (handled->failure, "closed: %s", error->message);
  handled->closed = TRUE;
}

static gboolean
handled_is_closed (gpointer data)
{
  return ((Handled *) data)->closed;
}

/* @script in the handler style, the stream cut at @cuts. */
static gchar *
run_handlers (const Script *script,
              const gsize  *cuts,
              guint         n_cuts)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  AchatChannel *channel = achat_channel_new (socket);
  Handled handled = { script, 0, FALSE, g_string_new (NULL) };
  Received received = { channel, 0 };
  gsize start = 0;
  guint i;

  apply_framing (channel, &script->steps[0].framing);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (handled_on_found), &handled);
  g_signal_connect (channel, "closed", G_CALLBACK (handled_on_closed), &handled);
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : script->stream_len;

      if (end <= start)
        continue;
      test_peer_write (peer, script->stream + start, end - start);
      received.total = end;
      test_spin_until (received_all, &received);
      start = end;
    }
  close (peer);
  test_spin_until (handled_is_closed, &handled);
  if (handled.failure->len == 0 && handled.step != script->n_steps)
    g_string_append_printf (handled.failure, "%u messages of %u", handled.step, script->n_steps);
  g_object_unref (channel);
  return handled.failure->len > 0 ? g_string_free (handled.failure, FALSE)
                                  : (g_string_free (handled.failure, TRUE), NULL);
}

/* Random protocols, random cuts: the pull style (next read from the
 * callback or from an idle, first read early or late) returns what the
 * handler style delivers, and both what was sent. */
static void
test_random_against_handlers (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_test_rand_int ());
  guint round;

  for (round = 0; round < 1000; round++)
    {
      g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GString) stream = g_string_new (NULL);
      Script script = { 0, };
      gsize cuts[6];
      guint n_cuts, i;
      g_autofree gchar *handlers = NULL;
      g_autofree gchar *pulled = NULL;
      NextRead next = g_rand_boolean (rand) ? NEXT_FROM_CALLBACK : NEXT_FROM_IDLE;
      ReadCall calls = g_rand_boolean (rand) ? SET_THEN_READ : READ_CALLS;
      gboolean late = g_rand_int_range (rand, 0, 4) == 0;

      random_script (rand, &script, stream, keep);
      n_cuts = stream->len > 1 ? g_rand_int_range (rand, 0, G_N_ELEMENTS (cuts) + 1) : 0;
      for (i = 0; i < n_cuts; i++)
        cuts[i] = g_rand_int_range (rand, 1, stream->len);
      /* Ascending, as the runners want; duplicates are skipped by them. */
      for (i = 1; i < n_cuts; i++)
        {
          gsize c = cuts[i];
          guint j = i;

          for (; j > 0 && cuts[j - 1] > c; j--)
            cuts[j] = cuts[j - 1];
          cuts[j] = c;
        }

      handlers = run_handlers (&script, cuts, n_cuts);
      pulled = run_script (&script, cuts, n_cuts, next, calls, late);
      if (handlers != NULL || pulled != NULL)
        g_error ("round %u (%u messages, %" G_GSIZE_FORMAT " bytes, %u cuts): "
                 "handler style: %s; pull style: %s", round, script.n_steps, stream->len,
                 n_cuts, handlers ? handlers : "ok", pulled ? pulled : "ok");
    }
}

/* The read calls' own rules ------------------------------------------------ */

static void
never_called (GObject      *source,
              GAsyncResult *result,
              gpointer      data)
{
  g_assert_not_reached ();
}

static void
test_read_calls_arguments (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);

  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*count > 0*");
  achat_channel_read_bytes_async (channel, 0, NULL, never_called, NULL);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*length > 0*");
  achat_channel_read_until_async (channel, (const guint8 *) "", 0, NULL, never_called, NULL);
  g_test_assert_expected_messages ();
  g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*terminator != NULL*");
  achat_channel_read_until_async (channel, NULL, 2, NULL, never_called, NULL);
  g_test_assert_expected_messages ();
  test_spin_for (10);
  /* Refused calls change nothing: the channel has no terminator yet. */
  g_assert_cmpint (achat_channel_get_terminator_kind (channel), ==, ACHAT_TERMINATOR_NONE);
  close (peer);
}

typedef struct
{
  gboolean done;
  GBytes *message;
  GError *error;
} Read;

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      data)
{
  Read *read = data;

  read->message = finish_read (source, result, &read->error);
  read->done = TRUE;
}

static gboolean
read_done (gpointer data)
{
  return ((Read *) data)->done;
}

/* A read call's framing stays in force: a handler connected afterwards
 * gets lines; push_line() ends lines with "\r\n". And a finish function
 * takes only the results of its own call. */
static void
test_read_calls_framing_stays (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autoptr(TestRecorder) recorder = NULL;
  g_autoptr(GByteArray) written = NULL;
  Read read = { 0, };

  test_peer_write (peer, "first\nsecond\r\nthird\n", 21);
  achat_channel_read_line_async (channel, NULL, read_cb, &read);
  test_spin_until (read_done, &read);
  g_assert_no_error (read.error);
  g_assert_cmpmem (g_bytes_get_data (read.message, NULL), g_bytes_get_size (read.message),
                   "first", 5);
  recorder = test_recorder_new (channel, FALSE);
  test_spin_for (20);
  g_assert_cmpstr (recorder->log->str, ==, "T(second) T(third)");
  g_assert_true (achat_channel_push_line (channel, (const guint8 *) "ok", 2, NULL));
  written = test_peer_read (peer, 4);
  g_assert_cmpmem (written->data, written->len, "ok\r\n", 4);
  g_clear_pointer (&read.message, g_bytes_unref);
  close (peer);
  test_recorder_wait_closed (recorder);
}

/* Volume ------------------------------------------------------------------ */

/* A million; a tenth of it under a memory tool (ASan's full stack traces
 * of every allocation make a read cost 50 times as much). */
static guint volume_messages;

typedef struct
{
  AchatChannel *channel;
  guint n;                 /* messages read */
  gboolean done;
  gchar *failure;
} Volume;

/* Message @i: even ones are lines "line <i>\n"; odd ones are 8 bytes read
 * with a count, any bytes ("\n" included). */
static void
volume_message (guint    i,
                GString *out)
{
  g_string_truncate (out, 0);
  if (i % 2 == 0)
    g_string_append_printf (out, "line %u", i);
  else
    {
      guint32 x = i * 2654435761u;

      g_string_append_len (out, "\n\r", 2);
      g_string_append_len (out, (const gchar *) &x, 4);
      g_string_append_len (out, "\n\n", 2);
    }
}

static void volume_read (Volume *volume);

static void
volume_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  Volume *volume = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message =
    achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, &error);
  g_autoptr(GString) expected = g_string_new (NULL);

  if (volume->n == volume_messages)
    {
      if (message != NULL || error != NULL)
        volume->failure = g_strdup ("something after the last message");
      volume->done = TRUE;
      return;
    }
  volume_message (volume->n, expected);
  if (message == NULL || !bytes_equal (message, expected->str, expected->len))
    {
      volume->failure = g_strdup_printf ("message %u wrong (%s)", volume->n,
                                         error ? error->message : "bytes differ");
      volume->done = TRUE;
      return;
    }
  volume->n++;
  volume_read (volume);
}

static void
volume_read (Volume *volume)
{
  if (volume->n % 2 == 0)
    achat_channel_set_terminator (volume->channel, (const guint8 *) "\n", 1);
  else
    achat_channel_set_terminator_count (volume->channel, 8);
  achat_channel_read_message_async (volume->channel, NULL, volume_read_cb, volume);
}

static gpointer
volume_writer (gpointer data)
{
  int fd = GPOINTER_TO_INT (data);
  g_autoptr(GString) stream = g_string_new (NULL);
  g_autoptr(GString) message = g_string_new (NULL);
  gsize written = 0;
  guint i;

  for (i = 0; i < volume_messages; i++)
    {
      volume_message (i, message);
      g_string_append_len (stream, message->str, message->len);
      if (i % 2 == 0)
        g_string_append_c (stream, '\n');
    }
  while (written < stream->len)
    {
      gssize n = write (fd, stream->str + written, stream->len - written);

      if (n <= 0)
        break;
      written += n;
    }
  close (fd);
  return GSIZE_TO_POINTER (written);
}

static gboolean
volume_done (gpointer data)
{
  return ((Volume *) data)->done;
}

/* A million messages pulled (a tenth under a memory tool), the framing
 * switched before every read, the peer writing as fast as it can from
 * another thread: every message exact, then the clean end. */
static void
test_volume (void)
{
  int fds[2];
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  Volume volume = { NULL, 0, FALSE, NULL };
  GThread *writer;

  volume_messages = g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 100000 : 1000000;
  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  volume.channel = achat_channel_new (socket);
  writer = g_thread_new ("writer", volume_writer, GINT_TO_POINTER (fds[1]));
  volume_read (&volume);
  {
    gint64 deadline = g_get_monotonic_time () + 20 * test_timeout_ms () * G_TIME_SPAN_MILLISECOND;

    while (!volume_done (&volume))
      {
        g_assert_cmpint (g_get_monotonic_time (), <, deadline);
        g_main_context_iteration (NULL, TRUE);
      }
  }
  g_thread_join (writer);
  if (volume.failure != NULL)
    g_error ("%s", volume.failure);
  g_assert_cmpuint (volume.n, ==, volume_messages);
  g_object_unref (volume.channel);
}

/* Hostile peers ------------------------------------------------------------ */

/* A peer that floods before anyone reads: the channel takes one read and
 * no more (the peer is held back); the read that comes then fails at
 * max-input-size, with what fitted in get_collected(). */
static void
test_flood_before_read (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(AchatChannel) channel = achat_channel_new (socket);
  g_autofree guint8 *junk = g_malloc (64 * 1024);
  g_autoptr(GBytes) collected = NULL;
  gsize written = 0;
  Read read = { 0, };
  guint i;

  memset (junk, 'x', 64 * 1024);
  achat_channel_set_max_input_size (channel, 512 * 1024);
  for (i = 0; i < 200; i++)
    {
      gssize n = write (peer, junk, 64 * 1024);

      if (n > 0)
        written += n;
      test_spin_for (1);
    }
  /* What the socket buffers take, and one read: not the 12.5 MiB tried. */
  g_assert_cmpuint (written, <, 4 * 1024 * 1024);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), <=, 256 * 1024);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), >, 0);

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  achat_channel_read_message_async (channel, NULL, read_cb, &read);
  for (i = 0; i < 100 && !read.done; i++)
    {
      gssize n = write (peer, junk, 64 * 1024);

      (void) n;
      test_spin_for (2);
    }
  test_spin_until (read_done, &read);
  g_assert_null (read.message);
  g_assert_error (read.error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
  collected = achat_channel_get_collected (channel);
  g_assert_cmpuint (g_bytes_get_size (collected), ==, 512 * 1024);
  g_clear_error (&read.error);
  close (peer);
}

/* Edges -------------------------------------------------------------------- */

/* Records reads ("R:msg", "E:code", "END") and terminator-found ("H:msg")
 * in one log, in the order the application sees them. */
typedef struct
{
  GString *log;
  guint n_reads;       /* reads completed */
  gboolean chain;      /* each read starts the next one */
} Order;

static void
order_read_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      data)
{
  Order *order = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message =
    achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, &error);

  order->n_reads++;
  if (message != NULL)
    {
      g_string_append (order->log, "R:");
      test_append_escaped (order->log, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
      g_string_append_c (order->log, ' ');
    }
  else if (error != NULL)
    g_string_append_printf (order->log, "E:%d ", error->code);
  else
    g_string_append (order->log, "END ");
  if (order->chain && message != NULL)
    achat_channel_read_message_async (ACHAT_CHANNEL (source), NULL, order_read_cb, order);
}

static void
order_on_found (AchatChannel *channel,
                GBytes       *message,
                gpointer      data)
{
  Order *order = data;

  g_string_append (order->log, "H:");
  test_append_escaped (order->log, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  g_string_append_c (order->log, ' ');
}

static gboolean
order_reads (gpointer data)
{
  return ((Order *) data)->n_reads > 0;
}

/* The edge tests' fixture: a channel with "\n" as terminator over a
 * socket pair, and a log of what reads and handlers got. */
typedef struct
{
  int peer;
  AchatChannel *channel;
  GString *log;
  Order order;
} Edge;

static void
edge_setup (Edge          *e,
            gconstpointer  data)
{
  g_autoptr(GSocket) socket = test_socket_pair (&e->peer);

  e->channel = achat_channel_new (socket);
  achat_channel_set_terminator (e->channel, (const guint8 *) "\n", 1);
  e->log = g_string_new (NULL);
  e->order = (Order) { e->log, 0, FALSE };
}

static void
edge_teardown (Edge          *e,
               gconstpointer  data)
{
  achat_channel_close (e->channel);
  g_object_unref (e->channel);
  g_string_free (e->log, TRUE);
  if (e->peer >= 0)
    close (e->peer);
}

/* The peer leaves (a clean end). */
static void
edge_peer_close (Edge *e)
{
  close (e->peer);
  e->peer = -1;
}

/* The peer's clean end came while the last message waited: once a read took
 * it, the channel closes (nothing waits any more). */
static void
test_end_after_last_read (Edge          *e,
                          gconstpointer  data)
{
  test_peer_write (e->peer, "hello\n", 6);
  edge_peer_close (e);
  test_spin_for (50);
  g_assert_false (achat_channel_is_closed (e->channel));
  achat_channel_read_message_async (e->channel, NULL, order_read_cb, &e->order);
  test_spin_until (order_reads, &e->order);
  g_assert_cmpstr (e->log->str, ==, "R:hello ");
  test_spin_for (50);
  g_assert_true (achat_channel_is_closed (e->channel));
}

/* A handler and a read started together while messages wait: the read's
 * callback sees the first message before the handler sees the next, even
 * though GTask runs that callback on a later iteration. */
static void
test_read_then_handler_order (Edge          *e,
                              gconstpointer  data)
{
  test_peer_write (e->peer, "a\nb\nc\n", 6);
  test_spin_for (50);
  g_signal_connect (e->channel, "terminator-found", G_CALLBACK (order_on_found), &e->order);
  achat_channel_read_message_async (e->channel, NULL, order_read_cb, &e->order);
  test_spin_for (50);
  g_assert_cmpstr (e->log->str, ==, "R:a H:b H:c ");
}

/* A read cancelled as its message came: the next read gets that message
 * first, and a handler the rest, in order, without waiting for new bytes. */
static void
test_cancelled_message_then_handler (Edge          *e,
                                     gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  achat_channel_read_message_async (e->channel, cancellable, order_read_cb, &e->order);
  test_spin_for (10);
  /* The bytes and the cancellation before the e->channel's next dispatch. */
  test_peer_write (e->peer, "a\nb\nc\n", 6);
  g_cancellable_cancel (cancellable);
  test_spin_until (order_reads, &e->order);
  g_assert_cmpstr (e->log->str, ==, "E:19 ");   /* G_IO_ERROR_CANCELLED */
  g_signal_connect (e->channel, "terminator-found", G_CALLBACK (order_on_found), &e->order);
  achat_channel_read_message_async (e->channel, NULL, order_read_cb, &e->order);
  test_spin_for (50);
  g_assert_cmpstr (e->log->str, ==, "E:19 R:a H:b H:c ");
}

/* A read refused (one is pending) leaves the pending read's framing alone;
 * a read cancelled in the middle of its message gives the bytes it saw to
 * the next read, framed from the first one with that read's framing. */
static void
test_refused_and_cancelled_framing (Edge          *e,
                                    gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Read line = { 0, }, refused = { 0, }, bytes = { 0, };

  achat_channel_read_line_async (e->channel, NULL, read_cb, &line);
  achat_channel_read_bytes_async (e->channel, 3, NULL, read_cb, &refused);
  test_spin_until (read_done, &refused);
  g_assert_error (refused.error, G_IO_ERROR, G_IO_ERROR_PENDING);
  test_peer_write (e->peer, "hello world\n", 12);
  test_spin_until (read_done, &line);
  g_assert_no_error (line.error);
  g_assert_true (bytes_equal (line.message, "hello world", 11));

  /* read_bytes (10) sees "abc", is cancelled; read_until (";") then frames
   * from "a". */
  g_clear_pointer (&line.message, g_bytes_unref);
  line.done = FALSE;
  achat_channel_read_bytes_async (e->channel, 10, cancellable, read_cb, &bytes);
  test_peer_write (e->peer, "abc", 3);
  test_spin_for (20);
  g_cancellable_cancel (cancellable);
  test_spin_until (read_done, &bytes);
  g_assert_error (bytes.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&bytes.error);
  bytes.done = FALSE;
  achat_channel_read_bytes_async (e->channel, 4, NULL, read_cb, &bytes);
  test_peer_write (e->peer, "def", 3);
  test_spin_until (read_done, &bytes);
  g_assert_no_error (bytes.error);
  g_assert_true (bytes_equal (bytes.message, "abcd", 4));
  g_clear_pointer (&bytes.message, g_bytes_unref);
  g_clear_error (&refused.error);
}

/* A channel over loopback TCP, and the peer's descriptor; the peer resets
 * the connection with tcp_reset(). */
typedef struct
{
  GSocketListener *listener;
  GSocketConnection *ours;
  GSocketConnection *theirs;
  AchatChannel *channel;
  int peer;
} Tcp;

static void
tcp_open (Tcp *tcp)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  guint16 port;

  tcp->listener = g_socket_listener_new ();
  port = g_socket_listener_add_any_inet_port (tcp->listener, NULL, &error);
  g_assert_no_error (error);
  tcp->theirs = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  tcp->ours = g_socket_listener_accept (tcp->listener, NULL, NULL, &error);
  g_assert_no_error (error);
  tcp->channel = achat_channel_new_for_stream (G_IO_STREAM (tcp->ours));
  tcp->peer = g_socket_get_fd (g_socket_connection_get_socket (tcp->theirs));
}

static void
tcp_reset (Tcp *tcp)
{
  struct linger reset = { 1, 0 };

  g_assert_no_errno (setsockopt (tcp->peer, SOL_SOCKET, SO_LINGER, &reset, sizeof reset));
  g_io_stream_close (G_IO_STREAM (tcp->theirs), NULL, NULL);
}

static void
tcp_close (Tcp *tcp)
{
  achat_channel_close (tcp->channel);
  g_object_unref (tcp->channel);
  g_io_stream_close (G_IO_STREAM (tcp->theirs), NULL, NULL);
  g_object_unref (tcp->theirs);
  g_object_unref (tcp->ours);
  g_socket_listener_close (tcp->listener);
  g_object_unref (tcp->listener);
}

/* A reset while messages wait: the channel closes with the error at once
 * (a server that ignores input keeps no dead connection), and reads still
 * get what came before it, then the error; within max-input-size. */
static void
test_reset_while_waiting (void)
{
  gboolean limited;

  for (limited = FALSE; limited <= TRUE; limited++)
    {
      g_autoptr(GString) log = g_string_new (NULL);
      Order order = { log, 0, TRUE };
      Tcp tcp;

      tcp_open (&tcp);
      achat_channel_set_terminator (tcp.channel, (const guint8 *) "\n", 1);
      if (limited)
        achat_channel_set_max_input_size (tcp.channel, 8);
      g_assert_cmpint (write (tcp.peer, "a\nb\n0123456789\nc\n", 17), ==, 17);
      test_spin_for (50);
      tcp_reset (&tcp);
      test_spin_for (100);
      g_assert_true (achat_channel_is_closed (tcp.channel));
      achat_channel_read_message_async (tcp.channel, NULL, order_read_cb, &order);
      test_spin_for (50);
      if (limited)
        {
          g_autofree gchar *expected = g_strdup_printf ("R:a R:b E:%d ", ACHAT_ERROR_INPUT_LIMIT);

          g_assert_cmpstr (log->str, ==, expected);
        }
      else
        g_assert_cmpstr (log->str, ==, "R:a R:b R:0123456789 R:c E:44 ");   /* CONNECTION_CLOSED */
      tcp_close (&tcp);
    }
}

/* A reset while only a message that came to a cancelled read waits: the
 * channel notices and closes; the message is still read, then the error. */
static void
test_reset_while_ready (void)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GString) log = g_string_new (NULL);
  Order order = { log, 0, FALSE };
  Tcp tcp;

  tcp_open (&tcp);
  achat_channel_set_terminator (tcp.channel, (const guint8 *) "\n", 1);
  achat_channel_read_message_async (tcp.channel, cancellable, order_read_cb, &order);
  test_spin_for (10);
  /* The message and the cancellation before the channel's next dispatch:
   * the message waits for the next read. */
  g_assert_cmpint (write (tcp.peer, "a\n", 2), ==, 2);
  g_cancellable_cancel (cancellable);
  test_spin_until (order_reads, &order);
  g_assert_cmpstr (log->str, ==, "E:19 ");
  tcp_reset (&tcp);
  test_spin_for (100);
  g_assert_true (achat_channel_is_closed (tcp.channel));
  order.chain = TRUE;
  achat_channel_read_message_async (tcp.channel, NULL, order_read_cb, &order);
  test_spin_for (50);
  g_assert_cmpstr (log->str, ==, "E:19 R:a E:44 ");
  tcp_close (&tcp);
}

/* A write fails (the peer shut its reading side, and stays) while input
 * waits: reads get what came, then the write's error, and the channel
 * closes. */
static void
test_failed_write_while_waiting (Edge          *e,
                                 gconstpointer  data)
{
  e->order.chain = TRUE;
  test_peer_write (e->peer, "a\nb\n", 4);
  g_assert_no_errno (shutdown (e->peer, SHUT_RD));
  test_spin_for (50);
  achat_channel_push (e->channel, (const guint8 *) "reply\n", 6);
  test_spin_for (50);
  g_assert_false (achat_channel_is_closed (e->channel));
  achat_channel_read_message_async (e->channel, NULL, order_read_cb, &e->order);
  test_spin_for (100);
  g_assert_cmpstr (e->log->str, ==, "R:a R:b E:44 ");
  g_assert_true (achat_channel_is_closed (e->channel));
}

/* A length-prefixed read cancelled after its header came, before any of
 * the payload: the next read's framing frames the header too. */
static void
test_cancelled_after_header (Edge          *e,
                             gconstpointer  data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Read read = { 0, };

  achat_channel_set_terminator_length_prefix (e->channel, 2, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 0);
  achat_channel_read_message_async (e->channel, cancellable, read_cb, &read);
  test_peer_write (e->peer, "\0\x05", 2);
  test_spin_for (20);
  g_cancellable_cancel (cancellable);
  test_spin_until (read_done, &read);
  g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&read.error);
  read.done = FALSE;
  achat_channel_read_line_async (e->channel, NULL, read_cb, &read);
  test_peer_write (e->peer, "hello\n", 6);
  test_spin_until (read_done, &read);
  g_assert_no_error (read.error);
  g_assert_true (bytes_equal (read.message, "\0\x05hello", 7));
  g_clear_pointer (&read.message, g_bytes_unref);
}

/* A handler collected part of a message, then left; the first read frames
 * that message anew with its own framing. */
static void
test_handler_then_first_read (Edge          *e,
                              gconstpointer  data)
{
  Read read = { 0, };
  gulong handler;

  handler = g_signal_connect (e->channel, "terminator-found", G_CALLBACK (order_on_found), &e->order);
  test_feed (e->channel, e->peer, "abc", 3);
  g_signal_handler_disconnect (e->channel, handler);
  achat_channel_read_bytes_async (e->channel, 2, NULL, read_cb, &read);
  test_spin_until (read_done, &read);
  g_assert_no_error (read.error);
  g_assert_true (bytes_equal (read.message, "ab", 2));
  g_assert_cmpstr (e->log->str, ==, "");
  g_clear_pointer (&read.message, g_bytes_unref);
}

/* Closing drops what waited, also a message framed for a cancelled read
 * and a partial one: reads get the end, or the error input stopped on. */
static void
test_close_drops_partial_and_ready (void)
{
  guint variant;

  for (variant = 0; variant < 3; variant++)
    {
      int peer;
      g_autoptr(GSocket) socket = test_socket_pair (&peer);
      g_autoptr(AchatChannel) channel = achat_channel_new (socket);
      g_autoptr(GCancellable) cancellable = g_cancellable_new ();
      Read read = { 0, };

      achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
      if (variant == 2)
        achat_channel_set_max_input_size (channel, 8);
      achat_channel_read_message_async (channel, cancellable, read_cb, &read);
      test_spin_for (10);
      /* 0: "abc" of a line; 1: a whole line, cancelled as it came; 2: a
       * line over max-input-size. */
      test_peer_write (peer, variant == 0 ? "abc" : variant == 1 ? "a\n" : "0123456789012\n",
                       variant == 0 ? 3 : variant == 1 ? 2 : 14);
      if (variant == 0)
        test_spin_for (20);
      if (variant != 2)
        {
          g_cancellable_cancel (cancellable);
          test_spin_until (read_done, &read);
          g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_clear_error (&read.error);
          achat_channel_close (channel);
        }
      else
        {
          test_spin_until (read_done, &read);
          g_assert_error (read.error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
          g_clear_error (&read.error);
          test_spin_for (20);
        }
      g_assert_true (achat_channel_is_closed (channel));
      read.done = FALSE;
      achat_channel_read_bytes_async (channel, 2, NULL, read_cb, &read);
      test_spin_until (read_done, &read);
      g_assert_null (read.message);
      if (variant == 2)
        g_assert_error (read.error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
      else if (variant == 0)
        g_assert_error (read.error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT);
      else
        g_assert_no_error (read.error);
      g_clear_error (&read.error);
      close (peer);
    }
}

/* close() drops what no one took: a read after it gets the end. */
static void
test_close_drops_waiting (Edge          *e,
                          gconstpointer  data)
{
  test_peer_write (e->peer, "a\nb\n", 4);
  test_spin_for (50);
  achat_channel_close (e->channel);
  achat_channel_read_message_async (e->channel, NULL, order_read_cb, &e->order);
  test_spin_until (order_reads, &e->order);
  g_assert_cmpstr (e->log->str, ==, "END ");
}

/* A write fails (the peer stopped reading) while input waits and the peer
 * keeps sending from another thread: what the channel takes stays
 * bounded, and no dispatch reads for ever. */
typedef struct
{
  int fd;
  gint stop;
} Flood;

static gpointer
flood_thread (gpointer data)
{
  Flood *flood = data;
  g_autofree guint8 *junk = g_malloc0 (1024 * 1024);
  int flags = fcntl (flood->fd, F_GETFL);
  struct timeval timeout = { 0, 50000 };
  gint64 end = g_get_monotonic_time () + G_TIME_SPAN_SECOND;   /* stops by itself */

  fcntl (flood->fd, F_SETFL, flags & ~O_NONBLOCK);
  setsockopt (flood->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  while (!g_atomic_int_get (&flood->stop) && g_get_monotonic_time () < end)
    if (write (flood->fd, junk, 1024 * 1024) < 0 && errno != EAGAIN && errno != EINTR)
      break;
  return NULL;
}

static void
test_failed_write_flood (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(AchatChannel) channel = NULL;
  Flood flood = { -1, 0 };
  int buffer = 4 * 1024 * 1024;
  gint64 end, longest = 0;
  GThread *thread;

  socket = test_socket_pair (&flood.fd);
  channel = achat_channel_new (socket);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_assert_no_errno (setsockopt (flood.fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer));
  g_assert_no_errno (shutdown (flood.fd, SHUT_RD));
  thread = g_thread_new ("flood", flood_thread, &flood);
  g_usleep (20000);
  /* The reply fails in the dispatch that reads the first of the flood. */
  achat_channel_push (channel, (const guint8 *) "reply\n", 6);
  end = g_get_monotonic_time () + 300 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < end)
    {
      gint64 before = g_get_monotonic_time ();

      if (!test_iterate ())
        g_usleep (100);
      longest = MAX (longest, g_get_monotonic_time () - before);
    }
  g_atomic_int_set (&flood.stop, 1);
  g_thread_join (thread);
  g_assert_cmpuint (achat_channel_get_bytes_received (channel), <=, 512 * 1024);
  g_assert_cmpint (longest, <, 100 * G_TIME_SPAN_MILLISECOND);
  achat_channel_close (channel);
  close (flood.fd);
}

/* Banners ----------------------------------------------------------------- */

typedef struct
{
  guint connected;
  guint greeted;
  GPtrArray *channels;
} Banners;

static void
banner_on_accepted (AchatServer  *server,
                    AchatChannel *channel,
                    gpointer      data)
{
  /* A server that speaks first: greets, then closes when it is written. */
  achat_channel_push (channel, (const guint8 *) "220 ready\r\n", 11);
  achat_channel_close_when_done (channel);
}

static void
banner_read_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      data)
{
  Banners *banners = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) banner =
    achat_channel_read_message_finish (ACHAT_CHANNEL (source), result, &error);

  g_assert_no_error (error);
  g_assert_nonnull (banner);
  g_assert_cmpmem (g_bytes_get_data (banner, NULL), g_bytes_get_size (banner), "220 ready", 9);
  banners->greeted++;
}

static void
banner_connected_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      data)
{
  Banners *banners = data;
  g_autoptr(GError) error = NULL;
  AchatChannel *channel = achat_channel_connect_to_host_finish (result, &error);

  g_assert_no_error (error);
  g_ptr_array_add (banners->channels, channel);
  banners->connected++;
}

static gboolean
banners_connected (gpointer data)
{
  return ((Banners *) data)->connected == 100;
}

static gboolean
banners_greeted (gpointer data)
{
  return ((Banners *) data)->greeted == 100;
}

/* 100 clients of a server that speaks first, each reading its banner only
 * after the main loop ran (and the server closed): every banner arrives. */
static void
test_banners (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AchatServer) server = achat_server_new (ACHAT_TYPE_CHANNEL);
  Banners banners = { 0, 0, g_ptr_array_new_with_free_func (g_object_unref) };
  g_autofree gchar *address = NULL;
  guint16 port;
  guint i;

  port = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (server), NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (server, "channel-accepted", G_CALLBACK (banner_on_accepted), NULL);
  g_socket_service_start (G_SOCKET_SERVICE (server));

  address = g_strdup_printf ("127.0.0.1:%u", port);
  for (i = 0; i < 100; i++)
    achat_channel_connect_to_host_async (address, 0, NULL, banner_connected_cb, &banners);
  test_spin_until (banners_connected, &banners);
  test_spin_for (50);

  for (i = 0; i < banners.channels->len; i++)
    {
      AchatChannel *channel = g_ptr_array_index (banners.channels, i);

      achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
      achat_channel_read_message_async (channel, NULL, banner_read_cb, &banners);
    }
  test_spin_until (banners_greeted, &banners);
  g_ptr_array_unref (banners.channels);
  g_socket_service_stop (G_SOCKET_SERVICE (server));
  g_socket_listener_close (G_SOCKET_LISTENER (server));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  test_add_scripts ("/pull/script", test_scripts_every_split);
  g_test_add_func ("/pull/random-against-handlers", test_random_against_handlers);
  g_test_add_func ("/pull/banners", test_banners);
  g_test_add_func ("/pull/volume/million-switching", test_volume);
  g_test_add_func ("/pull/hostile/flood-before-read", test_flood_before_read);
  g_test_add_func ("/pull/hostile/failed-write-flood", test_failed_write_flood);
  g_test_add ("/pull/edges/end-after-last-read", Edge, NULL, edge_setup, test_end_after_last_read, edge_teardown);
  g_test_add ("/pull/edges/read-then-handler-order", Edge, NULL, edge_setup, test_read_then_handler_order, edge_teardown);
  g_test_add ("/pull/edges/cancelled-message-then-handler", Edge, NULL, edge_setup, test_cancelled_message_then_handler, edge_teardown);
  g_test_add ("/pull/edges/refused-and-cancelled-framing", Edge, NULL, edge_setup, test_refused_and_cancelled_framing, edge_teardown);
  g_test_add_func ("/pull/edges/reset-while-waiting", test_reset_while_waiting);
  g_test_add ("/pull/edges/close-drops-waiting", Edge, NULL, edge_setup, test_close_drops_waiting, edge_teardown);
  g_test_add_func ("/pull/edges/reset-while-ready", test_reset_while_ready);
  g_test_add ("/pull/edges/failed-write-while-waiting", Edge, NULL, edge_setup, test_failed_write_while_waiting, edge_teardown);
  g_test_add ("/pull/edges/cancelled-after-header", Edge, NULL, edge_setup, test_cancelled_after_header, edge_teardown);
  g_test_add ("/pull/edges/handler-then-first-read", Edge, NULL, edge_setup, test_handler_then_first_read, edge_teardown);
  g_test_add_func ("/pull/edges/close-drops-partial-and-ready", test_close_drops_partial_and_ready);
  g_test_add_func ("/pull/read-calls/arguments", test_read_calls_arguments);
  g_test_add_func ("/pull/read-calls/framing-stays", test_read_calls_framing_stays);

  return g_test_run ();
}
