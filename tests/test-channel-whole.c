/* test-channel-whole.c: whole-read delivery (AchatChannelClass::messages_found)
 *
 * Specifies: achat/achat-channel.c (whole reads) and achat/achat-framer.c
 *   (achat_framer_next_whole())
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A class that takes every whole message of a read in one call gets the
 * same messages, in the same order, as terminator-found would have: over
 * every split of the scripts' streams (a framing change at any message,
 * the handler returning where it changed it), with random protocols, when
 * the handler pauses, starts a read of the pull style, connects to
 * data-collected, discards or closes part-way, and at volume. What it is
 * handed is checked: the bounds, the separators between messages, batches
 * of more than one message when the bytes came in one read.
 */

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

#include "test-scripts.h"
#include "test-util.h"

/* A channel that follows a script ------------------------------------------ */

typedef enum
{
  TAKE_UNTIL_CHANGE,   /* every message, up to one that changes the framing */
  TAKE_ONE,            /* one message per call, whatever was handed */
  CHAIN_UP,            /* the default: message_found, then terminator-found */
  PLAIN_BYTES,         /* the default, and message_found overridden */
} Taking;

#define WHOLE_TYPE_CHANNEL (whole_channel_get_type ())
G_DECLARE_FINAL_TYPE (WholeChannel, whole_channel, WHOLE, CHANNEL, AchatChannel)

struct _WholeChannel
{
  AchatChannel parent_instance;

  const Script *script;
  Taking taking;
  guint step;               /* the next message of the script */
  guint calls;
  guint most;               /* the most messages handed at once */
  guint pause_at;           /* pause input after this message (0: never) */
  guint pull_at;            /* start reads after this message (0: never) */
  guint close_at;           /* close after this message (0: never) */
  gboolean closed;
  GError *close_error;
  GString *failure;
};

G_DEFINE_FINAL_TYPE (WholeChannel, whole_channel, ACHAT_TYPE_CHANNEL)

static gboolean
framing_equal (const Framing *a,
               const Framing *b)
{
  return a->kind == b->kind && a->count == b->count &&
         g_strcmp0 (a->bytes, b->bytes) == 0;
}

static void whole_read_next (WholeChannel *self);

static gboolean
whole_resume (gpointer data)
{
  achat_channel_resume_input (data);
  return G_SOURCE_REMOVE;
}

/* One message of the script; returns whether delivery must go back to the
 * engine (the framing, or the input's state, changed). */
static gboolean
whole_channel_take (WholeChannel *self,
                    const guint8 *data,
                    gsize         length)
{
  const Script *script = self->script;
  const Step *step;
  gsize expected_len;
  gboolean changed = FALSE;

  if (self->failure->len > 0)
    return FALSE;
  if (self->step >= script->n_steps)
    {
      g_string_append_printf (self->failure, "message %u: after the last one", self->step);
      return FALSE;
    }
  step = &script->steps[self->step];
  expected_len = step->message_len ? step->message_len : strlen (step->message);
  if (length != expected_len || (length > 0 && memcmp (data, step->message, length) != 0))
    {
      g_string_append_printf (self->failure, "message %u is \"%.*s\", not \"%s\"",
                              self->step, (int) length, data, step->message);
      return FALSE;
    }
  self->step++;
  /* A count is spent by its message: set again even when the same. */
  if (self->step < script->n_steps &&
      (!framing_equal (&script->steps[self->step].framing, &step->framing) ||
       step->framing.kind == F_COUNT))
    {
      apply_framing (ACHAT_CHANNEL (self), &script->steps[self->step].framing);
      changed = TRUE;
    }
  if (self->step == self->pause_at)
    {
      /* Resumed a few main loop iterations later. */
      achat_channel_pause_input (ACHAT_CHANNEL (self));
      g_timeout_add_full (G_PRIORITY_DEFAULT, 2, whole_resume, g_object_ref (self),
                          g_object_unref);
      changed = TRUE;
    }
  if (self->step == self->pull_at)
    {
      whole_read_next (self);
      changed = TRUE;
    }
  if (self->step == self->close_at)
    {
      achat_channel_close (ACHAT_CHANNEL (self));
      changed = TRUE;
    }
  return changed;
}

static guint
whole_channel_messages_found (AchatChannel *channel,
                              GBytes       *data,
                              const gsize  *bounds,
                              guint         n_bounds)
{
  WholeChannel *self = WHOLE_CHANNEL (channel);
  gsize size;
  const guint8 *bytes = g_bytes_get_data (data, &size);
  guint n = n_bounds / 2;
  guint i;

  self->calls++;
  self->most = MAX (self->most, n);
  if (n_bounds < 2 || n_bounds % 2 != 0)
    g_string_append_printf (self->failure, "%u bounds", n_bounds);
  for (i = 0; i < n_bounds; i++)
    if (bounds[i] > size || (i > 0 && bounds[i] < bounds[i - 1]))
      g_string_append_printf (self->failure, "bound %u (%" G_GSIZE_FORMAT ") out of order "
                              "or past the %" G_GSIZE_FORMAT " bytes", i, bounds[i], size);
  if (self->failure->len > 0)
    return n;

  if (self->taking == CHAIN_UP || self->taking == PLAIN_BYTES)
    return ACHAT_CHANNEL_CLASS (whole_channel_parent_class)->messages_found (channel, data,
                                                                             bounds, n_bounds);
  for (i = 0; i < n; i++)
    {
      if (whole_channel_take (self, bytes + bounds[2 * i], bounds[2 * i + 1] - bounds[2 * i]) ||
          self->taking == TAKE_ONE)
        return i + 1;
    }
  return n;
}

static void
whole_channel_message_found (AchatChannel *channel,
                             const guint8 *data,
                             gsize         length)
{
  WholeChannel *self = WHOLE_CHANNEL (channel);

  if (self->taking == PLAIN_BYTES)
    whole_channel_take (self, data, length);
  else
    ACHAT_CHANNEL_CLASS (whole_channel_parent_class)->message_found (channel, data, length);
}

static void
whole_channel_terminator_found (AchatChannel *channel,
                                GBytes       *message)
{
  WholeChannel *self = WHOLE_CHANNEL (channel);
  gsize length;
  const guint8 *data = g_bytes_get_data (message, &length);

  /* Only the default message_found emits it (CHAIN_UP). */
  if (self->taking != CHAIN_UP)
    g_string_append (self->failure, "terminator-found emitted");
  whole_channel_take (self, data, length);
}

static void
whole_channel_closed (AchatChannel *channel,
                      const GError *error)
{
  WholeChannel *self = WHOLE_CHANNEL (channel);

  self->closed = TRUE;
  if (error != NULL)
    self->close_error = g_error_copy (error);
}

static void
whole_channel_finalize (GObject *object)
{
  WholeChannel *self = WHOLE_CHANNEL (object);

  g_clear_error (&self->close_error);
  g_string_free (self->failure, TRUE);
  G_OBJECT_CLASS (whole_channel_parent_class)->finalize (object);
}

static void
whole_channel_class_init (WholeChannelClass *klass)
{
  AchatChannelClass *channel_class = ACHAT_CHANNEL_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = whole_channel_finalize;
  channel_class->messages_found = whole_channel_messages_found;
  channel_class->message_found = whole_channel_message_found;
  channel_class->terminator_found = whole_channel_terminator_found;
  channel_class->closed = whole_channel_closed;
}

static void
whole_channel_init (WholeChannel *self)
{
  self->failure = g_string_new (NULL);
}

/* The pull style, from a handler: the messages after it go to reads. */
static void
whole_read_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  WholeChannel *self = WHOLE_CHANNEL (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) message = achat_channel_read_message_finish (ACHAT_CHANNEL (self), result,
                                                                 &error);
  gsize length;
  const guint8 *data;

  if (message == NULL)
    return;   /* the end, or the channel closed */
  data = g_bytes_get_data (message, &length);
  self->pull_at = 0;
  whole_channel_take (self, data, length);
  if (self->step < self->script->n_steps)
    whole_read_next (self);
}

static void
whole_read_next (WholeChannel *self)
{
  achat_channel_read_message_async (ACHAT_CHANNEL (self), NULL, whole_read_cb, NULL);
}

static gboolean
whole_is_done (gpointer data)
{
  WholeChannel *self = data;

  return self->closed || self->failure->len > 0 ||
         (self->step == self->script->n_steps && self->close_at != 0);
}

/* Runs @script through a WholeChannel, the stream cut at @cuts (each piece
 * a read of its own). Returns NULL or what went wrong; the number of
 * calls and the most messages in one in @calls and @most. */
static gchar *
run_whole (const Script *script,
           const gsize  *cuts,
           guint         n_cuts,
           Taking        taking,
           guint         pause_at,
           guint         pull_at,
           guint        *calls,
           guint        *most)
{
  gsize length = script->stream_len ? script->stream_len : strlen (script->stream);
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  WholeChannel *self = g_object_new (WHOLE_TYPE_CHANNEL, "socket", socket, NULL);
  gsize start = 0;
  guint i;
  gchar *failure = NULL;

  self->script = script;
  self->taking = taking;
  self->pause_at = pause_at;
  self->pull_at = pull_at;
  apply_framing (ACHAT_CHANNEL (self), &script->steps[0].framing);
  for (i = 0; i <= n_cuts; i++)
    {
      gsize end = i < n_cuts ? cuts[i] : length;

      if (end <= start)
        continue;
      if (achat_channel_is_input_paused (ACHAT_CHANNEL (self)))
        test_peer_write (peer, script->stream + start, end - start);
      else
        test_feed (ACHAT_CHANNEL (self), peer, script->stream + start, end - start);
      start = end;
    }
  close (peer);
  test_spin_until (whole_is_done, self);

  if (self->failure->len > 0)
    failure = g_strdup (self->failure->str);
  else if (self->step != script->n_steps)
    failure = g_strdup_printf ("%u messages of %u (closed: %s)", self->step, script->n_steps,
                               self->close_error ? self->close_error->message : "no error");
  else if (script->rest[0] == '\0' && self->close_error != NULL)
    failure = g_strdup_printf ("closed: %s", self->close_error->message);
  if (calls != NULL)
    *calls = self->calls;
  if (most != NULL)
    *most = self->most;
  achat_channel_close (ACHAT_CHANNEL (self));
  g_object_unref (self);
  test_spin_for (0);
  return failure;
}

static void
check_whole (const Script *script,
             const gsize  *cuts,
             guint         n_cuts,
             Taking        taking,
             guint         pause_at,
             guint         pull_at)
{
  g_autofree gchar *failure = run_whole (script, cuts, n_cuts, taking, pause_at, pull_at,
                                         NULL, NULL);

  if (failure != NULL)
    {
      g_autoptr(GString) where = g_string_new (NULL);
      guint i;

      for (i = 0; i < n_cuts; i++)
        g_string_append_printf (where, "%s%" G_GSIZE_FORMAT, i ? "," : "", cuts[i]);
      g_error ("script %s, cuts [%s], taking %d, pause at %u, pull at %u: %s", script->name,
               where->str, taking, pause_at, pull_at, failure);
    }
}

/* Every script, whole (one read), cut in two at every byte and one byte
 * per read; taking every message up to a framing change, one per call,
 * and through the default (chaining up); pausing, and switching to reads
 * of the pull style, after each message in turn. */
static void
test_scripts_every_split (gconstpointer data)
{
  const Script *script = data;
  gsize length = script->stream_len ? script->stream_len : strlen (script->stream);
  g_autofree gsize *every = g_new (gsize, length);
  Taking taking;
  gsize cut;
  guint at;

  for (cut = 0; cut < length; cut++)
    every[cut] = cut + 1;
  for (taking = TAKE_UNTIL_CHANGE; taking <= PLAIN_BYTES; taking++)
    {
      check_whole (script, NULL, 0, taking, 0, 0);
      for (cut = 1; cut < length; cut++)
        check_whole (script, &cut, 1, taking, 0, 0);
      check_whole (script, every, length - 1, taking, 0, 0);
    }
  for (at = 1; at < script->n_steps; at++)
    {
      check_whole (script, NULL, 0, TAKE_UNTIL_CHANGE, at, 0);
      check_whole (script, NULL, 0, TAKE_UNTIL_CHANGE, 0, at);
      check_whole (script, NULL, 0, CHAIN_UP, at, 0);
      check_whole (script, NULL, 0, CHAIN_UP, 0, at);
      check_whole (script, NULL, 0, PLAIN_BYTES, at, 0);
      check_whole (script, NULL, 0, PLAIN_BYTES, 0, at);
      for (cut = 1; cut < length; cut += 3)
        {
          check_whole (script, &cut, 1, TAKE_UNTIL_CHANGE, at, 0);
          check_whole (script, &cut, 1, TAKE_UNTIL_CHANGE, 0, at);
        }
    }
}

/* Random protocols (a framing change at nearly every message), random
 * cuts, each way of taking. */
static void
test_random (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (g_test_rand_int ());
  guint round;

  for (round = 0; round < (g_test_slow () ? 2000 : 300); round++)
    {
      g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GString) stream = g_string_new (NULL);
      Script script = { 0, };
      gsize cuts[8];
      guint n_cuts = g_rand_int_range (rand, 0, G_N_ELEMENTS (cuts));
      guint pause_at, pull_at;
      guint i;

      random_script (rand, &script, stream, keep);
      for (i = 0; i < n_cuts; i++)
        cuts[i] = g_rand_int_range (rand, 1, MAX (2, (gint) script.stream_len));
      /* In order: a cut before the previous one is skipped. */
      pause_at = g_rand_boolean (rand) ? g_rand_int_range (rand, 0, script.n_steps) : 0;
      pull_at = g_rand_boolean (rand) ? g_rand_int_range (rand, 0, script.n_steps) : 0;
      check_whole (&script, cuts, n_cuts, g_rand_int_range (rand, 0, PLAIN_BYTES + 1),
                   pause_at, pull_at);
    }
}

/* Batches ----------------------------------------------------------------- */

static const Script lines_script = {
  "lines", "a\nbb\n\nccc\nlast\n", 0,
  {
    { { F_BYTES, "\n", 0 }, "a", 0 },
    { { F_BYTES, "\n", 0 }, "bb", 0 },
    { { F_BYTES, "\n", 0 }, "", 0 },
    { { F_BYTES, "\n", 0 }, "ccc", 0 },
    { { F_BYTES, "\n", 0 }, "last", 0 },
  }, 5, "",
};

/* Messages that came in one read are handed over in one call; one byte per
 * read, one message per call. */
static void
test_batches (void)
{
  gsize every[15];
  guint calls, most, i;
  gchar *failure;

  failure = run_whole (&lines_script, NULL, 0, TAKE_UNTIL_CHANGE, 0, 0, &calls, &most);
  g_assert_null (failure);
  g_assert_cmpuint (calls, ==, 1);
  g_assert_cmpuint (most, ==, 5);

  for (i = 0; i < G_N_ELEMENTS (every); i++)
    every[i] = i + 1;
  failure = run_whole (&lines_script, every, G_N_ELEMENTS (every), TAKE_UNTIL_CHANGE, 0, 0,
                       &calls, &most);
  g_assert_null (failure);
  g_assert_cmpuint (calls, ==, 5);
  g_assert_cmpuint (most, ==, 1);

  /* Taking one per call: each call hands over what is left. */
  failure = run_whole (&lines_script, NULL, 0, TAKE_ONE, 0, 0, &calls, &most);
  g_assert_null (failure);
  g_assert_cmpuint (calls, ==, 5);
  g_assert_cmpuint (most, ==, 5);
}

/* What one call is given, exactly: the bytes from the first message to the
 * last terminator, the separators between the bounds (the matched
 * terminator of several, the next frame's header). */
static guint
shown_messages_found (AchatChannel *channel,
                      GBytes       *data,
                      const gsize  *bounds,
                      guint         n_bounds)
{
  GString *log = g_object_get_data (G_OBJECT (channel), "log");
  gsize size;
  const gchar *bytes = g_bytes_get_data (data, &size);
  guint i;

  g_string_append_printf (log, "[%" G_GSIZE_FORMAT "]", size);
  for (i = 0; i < n_bounds; i++)
    g_string_append_printf (log, "%s%" G_GSIZE_FORMAT, i ? "," : "", bounds[i]);
  g_string_append_c (log, '=');
  for (i = 0; i < size; i++)
    {
      if (g_ascii_isalnum (bytes[i]) || bytes[i] == '|')
        g_string_append_c (log, bytes[i]);
      else
        g_string_append_printf (log, "\\x%02x", (guint8) bytes[i]);
    }
  g_string_append_c (log, ';');
  return n_bounds / 2;
}

static void
shown_class_init (AchatChannelClass *klass)
{
  klass->messages_found = shown_messages_found;
}

static GType
shown_get_type (void)
{
  static GType type;

  if (type == 0)
    type = g_type_register_static_simple (ACHAT_TYPE_CHANNEL, "TestWholeShown",
                                          sizeof (AchatChannelClass),
                                          (GClassInitFunc) (void (*) (void)) shown_class_init,
                                          sizeof (AchatChannel), NULL, 0);
  return type;
}

static gchar *
show (void       (*setup) (AchatChannel *channel),
      const gchar *stream,
      gsize        length)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(AchatChannel) channel = g_object_new (shown_get_type (), "socket", socket, NULL);
  GString *log = g_string_new (NULL);

  g_object_set_data (G_OBJECT (channel), "log", log);
  setup (channel);
  test_feed (channel, peer, stream, length);
  close (peer);
  achat_channel_close (channel);
  return g_string_free (log, FALSE);
}

static void
setup_multi (AchatChannel *channel)
{
  static const gchar *const endings[] = { "\r\n", "\n", "|", NULL };

  achat_channel_set_terminators (channel, endings);
}

static void
setup_length (AchatChannel *channel)
{
  achat_channel_set_terminator_length_prefix (channel, 1, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 0);
}

static void
test_shown (void)
{
  g_autofree gchar *multi = show (setup_multi, "one\r\ntwo\nthree|rest", 20);
  g_autofree gchar *length = show (setup_length, "\003abc\000\002de\005abc", 12);

  /* From the first message's start through the last terminator (a frame
   * has none: through its payload); between two messages, what separated
   * them. The rest ("rest", a partial frame) is not a message yet. */
  g_assert_cmpstr (multi, ==, "[15]0,3,5,8,9,14=one\\x0d\\x0atwo\\x0athree|;");
  g_assert_cmpstr (length, ==, "[7]0,3,4,4,5,7=abc\\x00\\x02de;");
}

/* Edges -------------------------------------------------------------------- */

/* A channel that counts what it is handed, taking what it is told to. */
typedef enum
{
  RETURN_ALL,
  RETURN_ZERO,
  RETURN_TOO_MANY,
} Returning;

#define COUNT_TYPE_CHANNEL (count_channel_get_type ())
G_DECLARE_FINAL_TYPE (CountChannel, count_channel, COUNT, CHANNEL, AchatChannel)

struct _CountChannel
{
  AchatChannel parent_instance;

  Returning returning;
  guint calls;
  guint most;
  guint64 messages;
  guint64 bytes;
  guint64 sum;              /* of every byte of every message */
  gboolean closed;
  GError *close_error;
  GString *log;             /* the messages, when not NULL */
};

G_DEFINE_FINAL_TYPE (CountChannel, count_channel, ACHAT_TYPE_CHANNEL)

static guint
count_channel_messages_found (AchatChannel *channel,
                              GBytes       *data,
                              const gsize  *bounds,
                              guint         n_bounds)
{
  CountChannel *self = COUNT_CHANNEL (channel);
  const guint8 *bytes = g_bytes_get_data (data, NULL);
  guint i;

  self->calls++;
  self->most = MAX (self->most, n_bounds / 2);
  for (i = 0; i < n_bounds; i += 2)
    {
      gsize j;

      self->messages++;
      self->bytes += bounds[i + 1] - bounds[i];
      for (j = bounds[i]; j < bounds[i + 1]; j++)
        self->sum += bytes[j];
      if (self->log != NULL)
        {
          g_string_append_len (self->log, (const gchar *) bytes + bounds[i],
                               bounds[i + 1] - bounds[i]);
          g_string_append_c (self->log, ' ');
        }
    }
  switch (self->returning)
    {
    case RETURN_ZERO:
      return 0;
    case RETURN_TOO_MANY:
      return n_bounds / 2 + 1;
    case RETURN_ALL:
    default:
      return n_bounds / 2;
    }
}

static void
count_channel_closed (AchatChannel *channel,
                      const GError *error)
{
  CountChannel *self = COUNT_CHANNEL (channel);

  self->closed = TRUE;
  if (error != NULL)
    self->close_error = g_error_copy (error);
}

static void
count_channel_finalize (GObject *object)
{
  CountChannel *self = COUNT_CHANNEL (object);

  g_clear_error (&self->close_error);
  if (self->log != NULL)
    g_string_free (self->log, TRUE);
  G_OBJECT_CLASS (count_channel_parent_class)->finalize (object);
}

static void
count_channel_class_init (CountChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = count_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->messages_found = count_channel_messages_found;
  ACHAT_CHANNEL_CLASS (klass)->closed = count_channel_closed;
}

static void
count_channel_init (CountChannel *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\n", 1);
}

static CountChannel *
count_channel_new (int *peer)
{
  g_autoptr(GSocket) socket = test_socket_pair (peer);
  CountChannel *self = g_object_new (COUNT_TYPE_CHANNEL, "socket", socket, NULL);

  self->log = g_string_new (NULL);
  return self;
}

static gboolean
count_is_closed (gpointer data)
{
  return COUNT_CHANNEL (data)->closed;
}

/* A handler that returns 0, or more than it was given: a critical, and all
 * of them count as taken (none handed over twice). */
static void
test_bad_return (void)
{
  Returning returning;

  for (returning = RETURN_ZERO; returning <= RETURN_TOO_MANY; returning++)
    {
      int peer;
      g_autoptr(CountChannel) self = count_channel_new (&peer);

      self->returning = returning;
      g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL,
                             returning == RETURN_ZERO ? "*returned 0 for 3 messages*"
                                                      : "*returned 4 for 3 messages*");
      test_feed (ACHAT_CHANNEL (self), peer, "a\nb\nc\n", 6);
      g_test_assert_expected_messages ();
      g_test_expect_message ("Achat", G_LOG_LEVEL_CRITICAL, "*for 1 message:*");
      test_feed (ACHAT_CHANNEL (self), peer, "d\n", 2);
      g_test_assert_expected_messages ();
      g_assert_cmpstr (self->log->str, ==, "a b c d ");
      g_assert_cmpuint (self->calls, ==, 2);
      close (peer);
      test_spin_until (count_is_closed, self);
      g_assert_no_error (self->close_error);
    }
}

static void
on_collected (AchatChannel *channel,
              GBytes       *data,
              gpointer      user_data)
{
  GString *pieces = user_data;

  g_string_append_len (pieces, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
  g_string_append_c (pieces, '|');
}

static void
on_found_never (AchatChannel *channel,
                GBytes       *message,
                gpointer      user_data)
{
  g_error ("terminator-found emitted for a class that takes whole reads");
}

/* While data-collected is observed, each message comes alone, after its
 * pieces; a terminator-found handler is not called (the class took the
 * messages and did not chain up). */
static void
test_collected_observed (void)
{
  int peer;
  g_autoptr(CountChannel) self = count_channel_new (&peer);
  g_autoptr(GString) pieces = g_string_new (NULL);
  gulong id;

  g_signal_connect (self, "terminator-found", G_CALLBACK (on_found_never), NULL);
  id = g_signal_connect (self, "data-collected", G_CALLBACK (on_collected), pieces);
  test_feed (ACHAT_CHANNEL (self), peer, "one\ntwo\nthr", 11);
  test_feed (ACHAT_CHANNEL (self), peer, "ee\n", 3);
  g_assert_cmpstr (pieces->str, ==, "one|two|thr|ee|");
  g_assert_cmpstr (self->log->str, ==, "one two three ");
  g_assert_cmpuint (self->most, ==, 1);
  g_signal_handler_disconnect (self, id);
  test_feed (ACHAT_CHANNEL (self), peer, "4\n5\n6\n", 6);
  g_assert_cmpstr (self->log->str, ==, "one two three 4 5 6 ");
  g_assert_cmpuint (self->most, ==, 3);
  close (peer);
}

/* A peer that sends nothing but terminators: a million empty messages,
 * at most 256 per call, none lost. */
static void
test_flood_of_empty (void)
{
  int peer;
  g_autoptr(CountChannel) self = count_channel_new (&peer);
  gsize total = g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 100000 : 1000000;
  g_autofree gchar *newlines = g_malloc (64 * 1024);
  gsize sent;

  g_string_free (g_steal_pointer (&self->log), TRUE);
  memset (newlines, '\n', 64 * 1024);
  for (sent = 0; sent < total; sent += 64 * 1024)
    test_peer_write (peer, newlines, MIN (64 * 1024, total - sent));
  close (peer);
  test_spin_until (count_is_closed, self);
  g_assert_no_error (self->close_error);
  g_assert_cmpuint (self->messages, ==, total);
  g_assert_cmpuint (self->bytes, ==, 0);
  g_assert_cmpuint (self->most, <=, 256);
  g_assert_cmpuint (self->calls, >=, total / 256);
}

/* max-input-size in the middle of a read: the messages before the long
 * one are handed over, then the channel closes with the limit. */
static void
test_limit (void)
{
  static const gchar *const streams[] = {
    "ok\nfine\n0123456789abcdefXYZ\nnever\n",   /* the long line is whole */
    "ok\nfine\n0123456789abcdefXYZ",            /* it is not */
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (streams); i++)
    {
      int peer;
      g_autoptr(CountChannel) self = count_channel_new (&peer);

      achat_channel_set_max_input_size (ACHAT_CHANNEL (self), 16);
      test_peer_write (peer, streams[i], strlen (streams[i]));
      test_spin_until (count_is_closed, self);
      g_assert_error (self->close_error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
      g_assert_cmpstr (self->log->str, ==, "ok fine ");
      close (peer);
    }
}

/* max-input-size lowered by message_found: the next message of the same
 * read is over it, and the channel closes with the limit, as it does for a
 * terminator-found handler (the attacker's reproducer). */
#define LOWER_TYPE_CHANNEL (lower_channel_get_type ())
G_DECLARE_FINAL_TYPE (LowerChannel, lower_channel, LOWER, CHANNEL, AchatChannel)

struct _LowerChannel
{
  AchatChannel parent_instance;
  GString *log;
  GError *close_error;
  gboolean closed;
};

G_DEFINE_FINAL_TYPE (LowerChannel, lower_channel, ACHAT_TYPE_CHANNEL)

static void
lower_channel_message_found (AchatChannel *channel,
                             const guint8 *data,
                             gsize         length)
{
  LowerChannel *self = LOWER_CHANNEL (channel);

  g_string_append_len (self->log, (const gchar *) data, length);
  g_string_append_c (self->log, ' ');
  achat_channel_set_max_input_size (channel, 3);
}

static void
lower_channel_closed (AchatChannel *channel,
                      const GError *error)
{
  LowerChannel *self = LOWER_CHANNEL (channel);

  self->closed = TRUE;
  if (error != NULL)
    self->close_error = g_error_copy (error);
}

static void
lower_channel_finalize (GObject *object)
{
  LowerChannel *self = LOWER_CHANNEL (object);

  g_clear_error (&self->close_error);
  g_string_free (self->log, TRUE);
  G_OBJECT_CLASS (lower_channel_parent_class)->finalize (object);
}

static void
lower_channel_class_init (LowerChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lower_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->message_found = lower_channel_message_found;
  ACHAT_CHANNEL_CLASS (klass)->closed = lower_channel_closed;
}

static void
lower_channel_init (LowerChannel *self)
{
  self->log = g_string_new (NULL);
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\n", 1);
}

static gboolean
lower_is_closed (gpointer data)
{
  return LOWER_CHANNEL (data)->closed;
}

static void
test_limit_lowered (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(LowerChannel) self = g_object_new (LOWER_TYPE_CHANNEL, "socket", socket, NULL);

  test_peer_write (peer, "a\nbbbbbb\ncccccc\n", 16);
  test_spin_until (lower_is_closed, self);
  g_assert_error (self->close_error, ACHAT_ERROR, ACHAT_ERROR_INPUT_LIMIT);
  g_assert_cmpstr (self->log->str, ==, "a ");
  close (peer);
}

/* A length header refused in the middle of a read: the frames before it
 * are handed over, then the channel closes with the error. */
static void
test_refused_header (void)
{
  int peer;
  g_autoptr(CountChannel) self = count_channel_new (&peer);

  achat_channel_set_terminator_length_prefix (ACHAT_CHANNEL (self), 1,
                                              ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 4);
  test_peer_write (peer, "\003abc\002de\011123456789\001x", 19);
  test_spin_until (count_is_closed, self);
  g_assert_error (self->close_error, ACHAT_ERROR, ACHAT_ERROR_FRAME_TOO_LONG);
  g_assert_cmpstr (self->log->str, ==, "abc de ");
  close (peer);
}

/* Volume: a million lines from a peer writing as fast as it can from
 * another thread, every byte counted. */
static gpointer
volume_writer (gpointer data)
{
  int fd = GPOINTER_TO_INT (data);
  gsize total = g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 100000 : 1000000;
  g_autoptr(GString) chunk = g_string_new (NULL);
  gsize i;

  for (i = 0; i < total; i++)
    {
      g_string_append_printf (chunk, "line %" G_GSIZE_FORMAT "\n", i);
      if (chunk->len >= 60000 || i + 1 == total)
        {
          gsize written = 0;

          while (written < chunk->len)
            {
              gssize n = write (fd, chunk->str + written, chunk->len - written);

              g_assert_cmpint (n, >, 0);
              written += n;
            }
          g_string_truncate (chunk, 0);
        }
    }
  close (fd);
  return NULL;
}

static void
test_volume (void)
{
  gsize total = g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 100000 : 1000000;
  int fds[2];
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CountChannel) self = NULL;
  guint64 bytes = 0, sum = 0;
  gint64 deadline;
  GThread *writer;
  gsize i;

  for (i = 0; i < total; i++)
    {
      g_autofree gchar *line = g_strdup_printf ("line %" G_GSIZE_FORMAT, i);
      const gchar *p;

      bytes += strlen (line);
      for (p = line; *p != '\0'; p++)
        sum += (guint8) *p;
    }
  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  self = g_object_new (COUNT_TYPE_CHANNEL, "socket", socket, NULL);
  writer = g_thread_new ("writer", volume_writer, GINT_TO_POINTER (fds[1]));
  deadline = g_get_monotonic_time () + 20 * test_timeout_ms () * G_TIME_SPAN_MILLISECOND;
  while (!self->closed)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_thread_join (writer);
  g_assert_no_error (self->close_error);
  g_assert_cmpuint (self->messages, ==, total);
  g_assert_cmpuint (self->bytes, ==, bytes);
  g_assert_cmpuint (self->sum, ==, sum);
  /* Whole reads: far fewer calls than messages. */
  g_assert_cmpuint (self->calls, <, total / 10);
}

/* A class that overrides message_found alone: messages framed a read at a
 * time, handed over one by one as plain bytes, each with its matched
 * terminator; a terminator set in it applies to the next byte. */
#define PLAIN_TYPE_CHANNEL (plain_channel_get_type ())
G_DECLARE_FINAL_TYPE (PlainChannel, plain_channel, PLAIN, CHANNEL, AchatChannel)

struct _PlainChannel
{
  AchatChannel parent_instance;
  GString *log;
};

G_DEFINE_FINAL_TYPE (PlainChannel, plain_channel, ACHAT_TYPE_CHANNEL)

static void
plain_channel_message_found (AchatChannel *channel,
                             const guint8 *data,
                             gsize         length)
{
  PlainChannel *self = PLAIN_CHANNEL (channel);
  gsize term_length;
  const guint8 *term = achat_channel_get_matched_terminator (channel, &term_length);

  g_string_append_len (self->log, (const gchar *) data, length);
  g_string_append_c (self->log, '[');
  test_append_escaped (self->log, term, term_length);
  g_string_append (self->log, "] ");
  if (length == 5 && memcmp (data, "COUNT", 5) == 0)
    achat_channel_set_terminator_count (channel, 4);
  else if (achat_channel_get_terminator_count (channel) > 0 || length == 4)
    {
      static const gchar *const endings[] = { "\r\n", "\n", "|", NULL };

      achat_channel_set_terminators (channel, endings);
    }
}

static void
plain_channel_finalize (GObject *object)
{
  g_string_free (PLAIN_CHANNEL (object)->log, TRUE);
  G_OBJECT_CLASS (plain_channel_parent_class)->finalize (object);
}

static void
plain_channel_class_init (PlainChannelClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = plain_channel_finalize;
  ACHAT_CHANNEL_CLASS (klass)->message_found = plain_channel_message_found;
}

static void
plain_channel_init (PlainChannel *self)
{
  static const gchar *const endings[] = { "\r\n", "\n", "|", NULL };

  self->log = g_string_new (NULL);
  achat_channel_set_terminators (ACHAT_CHANNEL (self), endings);
}

static void
test_plain_bytes (void)
{
  static const gchar stream[] = "one\r\ntwo\nthree|COUNT\nab|\nfour\n";
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(PlainChannel) self = g_object_new (PLAIN_TYPE_CHANNEL, "socket", socket, NULL);

  g_signal_connect (self, "terminator-found", G_CALLBACK (on_found_never), NULL);
  test_feed (ACHAT_CHANNEL (self), peer, stream, strlen (stream));
  g_assert_cmpstr (self->log->str, ==,
                   "one[\\r\\n] two[\\n] three[|] COUNT[\\n] ab|\n[] four[\\n] ");
  close (peer);
}

/* A class that chains up: a terminator-found handler that connects to
 * data-collected gets the pieces of the very next message, in the same
 * read, as without the class. */
static guint
chained_messages_found (AchatChannel *channel,
                        GBytes       *data,
                        const gsize  *bounds,
                        guint         n_bounds)
{
  AchatChannelClass *parent = g_type_class_peek (ACHAT_TYPE_CHANNEL);

  return parent->messages_found (channel, data, bounds, n_bounds);
}

static void
chained_class_init (AchatChannelClass *klass)
{
  klass->messages_found = chained_messages_found;
}

static GType
chained_get_type (void)
{
  static GType type;

  if (type == 0)
    type = g_type_register_static_simple (ACHAT_TYPE_CHANNEL, "TestWholeChained",
                                          sizeof (AchatChannelClass),
                                          (GClassInitFunc) (void (*) (void)) chained_class_init,
                                          sizeof (AchatChannel), NULL, 0);
  return type;
}

static void
on_found_connect_collected (AchatChannel *channel,
                            GBytes       *message,
                            gpointer      user_data)
{
  GString *log = user_data;

  g_string_append (log, "T(");
  g_string_append_len (log, g_bytes_get_data (message, NULL), g_bytes_get_size (message));
  g_string_append (log, ") ");
  if (g_bytes_get_size (message) == 4 && memcmp (g_bytes_get_data (message, NULL), "BODY", 4) == 0)
    g_signal_connect (channel, "data-collected", G_CALLBACK (on_collected), log);
}

static void
test_chained_collected (void)
{
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(AchatChannel) channel = g_object_new (chained_get_type (), "socket", socket, NULL);
  g_autoptr(GString) log = g_string_new (NULL);

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_found_connect_collected), log);
  test_feed (channel, peer, "a\nBODY\nabc\ndef\n", 15);
  /* After BODY: each message's piece, then its terminator-found. */
  g_assert_cmpstr (log->str, ==, "T(a) T(BODY) abc|T(abc) def|T(def) ");
  close (peer);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  test_add_scripts ("/whole/script", test_scripts_every_split);
  g_test_add_func ("/whole/random", test_random);
  g_test_add_func ("/whole/batches", test_batches);
  g_test_add_func ("/whole/shown", test_shown);
  g_test_add_func ("/whole/bad-return", test_bad_return);
  g_test_add_func ("/whole/collected-observed", test_collected_observed);
  g_test_add_func ("/whole/flood-of-empty", test_flood_of_empty);
  g_test_add_func ("/whole/limit", test_limit);
  g_test_add_func ("/whole/refused-header", test_refused_header);
  g_test_add_func ("/whole/limit-lowered", test_limit_lowered);
  g_test_add_func ("/whole/volume", test_volume);
  g_test_add_func ("/whole/plain-bytes", test_plain_bytes);
  g_test_add_func ("/whole/chained-collected", test_chained_collected);

  return g_test_run ();
}
