/* server-achat.c: the achat contender of the benchmark
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: server-achat PORT [--vfunc | --bytes | --whole]
 *
 * Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
 * `listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.
 *
 * By default each channel is a plain AchatChannel with a handler connected
 * to "terminator-found", as the documentation teaches. With --vfunc the
 * server makes channels of a subclass that overrides the terminator_found
 * class closure instead, to compare the two paths; with --bytes, a subclass
 * that takes each message as plain bytes (message_found); with --whole,
 * one that takes every message of a read in one call (messages_found).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <achat/achat.h>

#include "bench-protocol.h"

#define CHUNK_SIZE (64 * 1024)

/* Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
 * chunk of a stream starting at 0 is this same block. */
static guint8 pattern_block[CHUNK_SIZE];
static GBytes *pattern_bytes;

static void
pattern_init (void)
{
  bench_pattern_fill (pattern_block, CHUNK_SIZE);
  pattern_bytes = g_bytes_new_static (pattern_block, CHUNK_SIZE);
}

/* BenchPatternProducer: n bytes of the pattern, in 64 KiB chunks. */

#define BENCH_TYPE_PATTERN_PRODUCER (bench_pattern_producer_get_type ())
G_DECLARE_FINAL_TYPE (BenchPatternProducer, bench_pattern_producer, BENCH, PATTERN_PRODUCER, GObject)

struct _BenchPatternProducer
{
  GObject parent_instance;
  guint64 remaining;
};

static void bench_pattern_producer_iface_init (AchatProducerInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (BenchPatternProducer, bench_pattern_producer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (ACHAT_TYPE_PRODUCER,
                                                      bench_pattern_producer_iface_init))

static GBytes *
bench_pattern_producer_more (AchatProducer *producer)
{
  BenchPatternProducer *self = BENCH_PATTERN_PRODUCER (producer);
  gsize length;

  if (self->remaining == 0)
    return NULL;
  if (self->remaining >= CHUNK_SIZE)
    {
      self->remaining -= CHUNK_SIZE;
      return g_bytes_ref (pattern_bytes);
    }
  length = (gsize) self->remaining;
  self->remaining = 0;
  return g_bytes_new_from_bytes (pattern_bytes, 0, length);
}

static void
bench_pattern_producer_iface_init (AchatProducerInterface *iface)
{
  iface->more = bench_pattern_producer_more;
}

static void
bench_pattern_producer_class_init (BenchPatternProducerClass *klass G_GNUC_UNUSED)
{
}

static void
bench_pattern_producer_init (BenchPatternProducer *self G_GNUC_UNUSED)
{
}

static AchatProducer *
bench_pattern_producer_new (guint64 n)
{
  BenchPatternProducer *self = g_object_new (BENCH_TYPE_PATTERN_PRODUCER, NULL);

  self->remaining = n;
  return ACHAT_PRODUCER (self);
}

/* The protocol, shared by both channel flavours. */

typedef enum
{
  MODE_COMMAND,
  MODE_LINES,
  MODE_FRAMES,
} Mode;

typedef struct
{
  Mode mode;
  guint64 lines;
  guint64 line_bytes;
  guint64 frames;
  guint64 frame_bytes;
  guint32 sum;
} Conn;

static const guint8 crlf[] = "\r\n";

static void
reply (AchatChannel *channel,
       const gchar  *format,
       ...) G_GNUC_PRINTF (2, 3);

static void
reply (AchatChannel *channel,
       const gchar  *format,
       ...)
{
  gchar buffer[128];
  va_list args;
  int length;

  va_start (args, format);
  length = g_vsnprintf (buffer, sizeof buffer, format, args);
  va_end (args);
  g_assert (length > 0 && (gsize) length < sizeof buffer);
  achat_channel_push (channel, (const guint8 *) buffer, (gsize) length);
}

static void
reply_err (AchatChannel *channel)
{
  achat_channel_push (channel, (const guint8 *) "ERR\r\n", 5);
}

static gboolean
line_is (const guint8 *data,
         gsize         length,
         const gchar  *word)
{
  gsize word_length = strlen (word);

  return length == word_length && memcmp (data, word, length) == 0;
}

static gboolean
line_starts (const guint8 *data,
             gsize         length,
             const gchar  *prefix)
{
  gsize prefix_length = strlen (prefix);

  return length >= prefix_length && memcmp (data, prefix, prefix_length) == 0;
}

/* Returns whether the framing changed. */
static gboolean
handle_command (AchatChannel *channel,
                Conn         *conn,
                const guint8 *data,
                gsize         length)
{
  guint64 n;

  if (line_starts (data, length, "PING "))
    {
      achat_channel_push (channel, (const guint8 *) "PONG ", 5);
      achat_channel_push (channel, data + 5, length - 5);
      achat_channel_push (channel, crlf, 2);
    }
  else if (line_is (data, length, "LINES"))
    {
      conn->mode = MODE_LINES;
      conn->lines = 0;
      conn->line_bytes = 0;
    }
  else if (line_is (data, length, "FRAMES"))
    {
      /* "<len>\r\n" then the payload: one message per frame. */
      achat_channel_set_terminator_text_length (channel, 10, "\r\n", NULL, 0);
      conn->mode = MODE_FRAMES;
      conn->frames = 0;
      conn->frame_bytes = 0;
      conn->sum = 0;
      return TRUE;
    }
  else if (line_starts (data, length, "GET ") &&
           bench_parse_u64 (data + 4, length - 4, &n))
    {
      g_autoptr(AchatProducer) producer = bench_pattern_producer_new (n);

      achat_channel_push_with_producer (channel, producer);
    }
  else
    {
      reply_err (channel);
    }
  return FALSE;
}

/* Returns whether the framing changed: the messages after this one must be
 * framed again. Inlined into each flavour, as it was into the one handler
 * before there were several (the per-message counts stay comparable). */
G_ALWAYS_INLINE static inline gboolean
handle_data (AchatChannel *channel,
             Conn         *conn,
             const guint8 *data,
             gsize         length)
{
  switch (conn->mode)
    {
    case MODE_COMMAND:
      return handle_command (channel, conn, data, length);

    case MODE_LINES:
      if (line_is (data, length, "QUIT"))
        {
          reply (channel, "OK %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\r\n",
                 conn->lines, conn->line_bytes);
          conn->mode = MODE_COMMAND;
        }
      else
        {
          conn->lines++;
          conn->line_bytes += length;
        }
      break;

    case MODE_FRAMES:
      if (length == 0)
        {
          /* The header "0\r\n" ends the frames. */
          reply (channel, "OK %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %u\r\n",
                 conn->frames, conn->frame_bytes, conn->sum);
          achat_channel_set_terminator (channel, crlf, 2);
          conn->mode = MODE_COMMAND;
          return TRUE;
        }
      conn->sum += bench_sum_bytes (data, length);
      conn->frames++;
      conn->frame_bytes += length;
      break;

    default:
      g_assert_not_reached ();
    }
  return FALSE;
}

static void
handle_message (AchatChannel *channel,
                Conn         *conn,
                GBytes       *message)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (message, &length);

  handle_data (channel, conn, data, length);
}

/* The signal flavour: a plain AchatChannel and a connected handler. */

static void
on_terminator_found (AchatChannel *channel,
                     GBytes       *message,
                     gpointer      user_data)
{
  handle_message (channel, user_data, message);
}

static void
conn_free (gpointer  data,
           GClosure *closure G_GNUC_UNUSED)
{
  g_free (data);
}

static void
on_channel_accepted (AchatServer  *server G_GNUC_UNUSED,
                     AchatChannel *channel,
                     gpointer      user_data G_GNUC_UNUSED)
{
  achat_channel_set_terminator (channel, crlf, 2);
  g_signal_connect_data (channel, "terminator-found",
                         G_CALLBACK (on_terminator_found),
                         g_new0 (Conn, 1), conn_free, 0);
}

/* The vfunc flavour: a subclass overriding the class closure. */

#define BENCH_TYPE_CHANNEL (bench_channel_get_type ())
G_DECLARE_FINAL_TYPE (BenchChannel, bench_channel, BENCH, CHANNEL, AchatChannel)

struct _BenchChannel
{
  AchatChannel parent_instance;
  Conn conn;
};

G_DEFINE_FINAL_TYPE (BenchChannel, bench_channel, ACHAT_TYPE_CHANNEL)

static void
bench_channel_terminator_found (AchatChannel *channel,
                                GBytes       *message)
{
  handle_message (channel, &BENCH_CHANNEL (channel)->conn, message);
}

static void
bench_channel_class_init (BenchChannelClass *klass)
{
  AchatChannelClass *channel_class = ACHAT_CHANNEL_CLASS (klass);

  channel_class->terminator_found = bench_channel_terminator_found;
}

static void
bench_channel_init (BenchChannel *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), crlf, 2);
}

/* The whole-read flavour: a subclass taking every message of a read in one
 * call (messages_found). */

#define BENCH_TYPE_WHOLE_CHANNEL (bench_whole_channel_get_type ())
G_DECLARE_FINAL_TYPE (BenchWholeChannel, bench_whole_channel, BENCH, WHOLE_CHANNEL, AchatChannel)

struct _BenchWholeChannel
{
  AchatChannel parent_instance;
  Conn conn;
};

G_DEFINE_FINAL_TYPE (BenchWholeChannel, bench_whole_channel, ACHAT_TYPE_CHANNEL)

static guint
bench_whole_channel_messages_found (AchatChannel *channel,
                                    GBytes       *data,
                                    const gsize  *bounds,
                                    guint         n_bounds)
{
  Conn *conn = &BENCH_WHOLE_CHANNEL (channel)->conn;
  const guint8 *bytes = g_bytes_get_data (data, NULL);
  guint i;

  for (i = 0; i < n_bounds; i += 2)
    if (handle_data (channel, conn, bytes + bounds[i], bounds[i + 1] - bounds[i]))
      return i / 2 + 1;
  return n_bounds / 2;
}

static void
bench_whole_channel_class_init (BenchWholeChannelClass *klass)
{
  AchatChannelClass *channel_class = ACHAT_CHANNEL_CLASS (klass);

  channel_class->messages_found = bench_whole_channel_messages_found;
}

static void
bench_whole_channel_init (BenchWholeChannel *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), crlf, 2);
}

/* The plain-bytes flavour: a subclass taking each message as (data,
 * length), no GBytes (message_found). */

#define BENCH_TYPE_BYTES_CHANNEL (bench_bytes_channel_get_type ())
G_DECLARE_FINAL_TYPE (BenchBytesChannel, bench_bytes_channel, BENCH, BYTES_CHANNEL, AchatChannel)

struct _BenchBytesChannel
{
  AchatChannel parent_instance;
  Conn conn;
};

G_DEFINE_FINAL_TYPE (BenchBytesChannel, bench_bytes_channel, ACHAT_TYPE_CHANNEL)

static void
bench_bytes_channel_message_found (AchatChannel *channel,
                                   const guint8 *data,
                                   gsize         length)
{
  handle_data (channel, &((BenchBytesChannel *) channel)->conn, data, length);
}

static void
bench_bytes_channel_class_init (BenchBytesChannelClass *klass)
{
  ACHAT_CHANNEL_CLASS (klass)->message_found = bench_bytes_channel_message_found;
}

static void
bench_bytes_channel_init (BenchBytesChannel *self)
{
  achat_channel_set_terminator (ACHAT_CHANNEL (self), crlf, 2);
}

/* main */

static gboolean
on_quit_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(AchatServer) server = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  GType channel_type = ACHAT_TYPE_CHANNEL;
  const gchar *port_arg = NULL;
  guint64 port;
  int i;

  for (i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--vfunc") == 0)
        channel_type = BENCH_TYPE_CHANNEL;
      else if (strcmp (argv[i], "--whole") == 0)
        channel_type = BENCH_TYPE_WHOLE_CHANNEL;
      else if (strcmp (argv[i], "--bytes") == 0)
        channel_type = BENCH_TYPE_BYTES_CHANNEL;
      else if (port_arg == NULL)
        port_arg = argv[i];
      else
        port_arg = "";
    }
  if (port_arg == NULL ||
      !g_ascii_string_to_unsigned (port_arg, 10, 0, G_MAXUINT16, &port, NULL))
    {
      fprintf (stderr, "usage: %s PORT [--vfunc | --bytes | --whole]\n", argv[0]);
      return 2;
    }

  pattern_init ();
  loop = g_main_loop_new (NULL, FALSE);

  server = achat_server_new (channel_type);
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, (guint16) port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
                                      G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP,
                                      NULL, &bound, &error))
    {
      fprintf (stderr, "listen: %s\n", error->message);
      return 1;
    }
  if (channel_type == ACHAT_TYPE_CHANNEL)
    g_signal_connect (server, "channel-accepted",
                      G_CALLBACK (on_channel_accepted), NULL);

  g_unix_signal_add (SIGTERM, on_quit_signal, loop);
  g_unix_signal_add (SIGINT, on_quit_signal, loop);

  g_socket_service_start (G_SOCKET_SERVICE (server));
  printf ("listening on 127.0.0.1:%u\n",
          (guint) g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);

  g_main_loop_run (loop);

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  return 0;
}
