/* server-gio.c: the "GIO alone" contender of the benchmark
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: server-gio PORT
 *
 * Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
 * `listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.
 *
 * This is the server a GNOME developer writes today with GIO and nothing
 * else: a GSocketService and its "incoming" signal, a GDataInputStream per
 * connection read one line at a time with
 * g_data_input_stream_read_line_async(), frame bodies taken out of the
 * GBufferedInputStream once g_buffered_input_stream_fill_async() has
 * buffered enough of them, and replies written with
 * g_output_stream_write_all_async(). GIO allows one pending operation per
 * stream, so each connection queues its replies and writes them one batch
 * at a time; a GET is streamed as successive 64 KiB writes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <gio/gio.h>

#include "bench-protocol.h"

#define CHUNK_SIZE (64 * 1024)

/* Large enough for a frame header to arrive with a good part of its body,
 * and for the 64 KiB reads the other contenders make. */
#define INPUT_BUFFER_SIZE (64 * 1024)

/* Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
 * chunk of a stream starting at 0 is this same block. */
static guint8 pattern_block[CHUNK_SIZE];

static void
pattern_init (void)
{
  bench_pattern_fill (pattern_block, CHUNK_SIZE);
}

typedef enum
{
  MODE_COMMAND,
  MODE_LINES,
  MODE_FRAME_HEADER,
} Mode;

/* One entry of a connection's output queue: either a reply or what is
 * left of a GET. */
typedef struct
{
  GBytes *bytes;
  guint64 pattern_remaining;
} OutItem;

static void
out_item_free (OutItem *item)
{
  g_clear_pointer (&item->bytes, g_bytes_unref);
  g_free (item);
}

/* Per-connection state, reference counted: the read loop holds one
 * reference and a write in flight holds another. */
typedef struct
{
  GSocketConnection *connection;
  GDataInputStream *input;
  GOutputStream *output;
  GCancellable *cancellable;

  Mode mode;
  guint64 lines;
  guint64 line_bytes;
  guint64 frames;
  guint64 frame_bytes;
  guint32 sum;
  guint64 body_remaining;
  guint8 *body_buffer;

  GQueue out_queue;     /* of OutItem */
  gboolean writing;
  GBytes *out_current;  /* the bytes being written, kept alive until done */
} Conn;

static void
conn_clear (gpointer data)
{
  Conn *conn = data;

  g_queue_clear_full (&conn->out_queue, (GDestroyNotify) out_item_free);
  g_clear_pointer (&conn->out_current, g_bytes_unref);
  g_clear_pointer (&conn->body_buffer, g_free);
  g_clear_object (&conn->cancellable);
  g_clear_object (&conn->input);
  g_clear_object (&conn->output);
  /* The last reference closes the socket. */
  g_clear_object (&conn->connection);
}

static Conn *
conn_ref (Conn *conn)
{
  return g_rc_box_acquire (conn);
}

static void
conn_unref (Conn *conn)
{
  g_rc_box_release_full (conn, conn_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Conn, conn_unref)

/* Output: a queue written one write_all_async() at a time. */

static void write_next (Conn *conn);

static void
on_write_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(Conn) conn = user_data;
  g_autoptr(GError) error = NULL;

  conn->writing = FALSE;
  g_clear_pointer (&conn->out_current, g_bytes_unref);
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result,
                                         NULL, &error))
    {
      /* The peer went away: drop what is queued and stop reading too. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("write: %s", error->message);
      g_queue_clear_full (&conn->out_queue, (GDestroyNotify) out_item_free);
      g_cancellable_cancel (conn->cancellable);
      return;
    }
  write_next (conn);
}

static void
write_next (Conn *conn)
{
  OutItem *head;
  const guint8 *data;
  gsize length;

  if (conn->writing || g_cancellable_is_cancelled (conn->cancellable))
    return;
  head = g_queue_peek_head (&conn->out_queue);
  if (head == NULL)
    return;

  if (head->bytes == NULL)
    {
      /* A GET: the next 64 KiB of the pattern, straight from the static
       * block. */
      length = (gsize) MIN (head->pattern_remaining, CHUNK_SIZE);
      data = pattern_block;
      head->pattern_remaining -= length;
      if (head->pattern_remaining == 0)
        out_item_free (g_queue_pop_head (&conn->out_queue));
    }
  else if (g_queue_get_length (&conn->out_queue) == 1 ||
           ((OutItem *) g_queue_peek_nth (&conn->out_queue, 1))->bytes == NULL)
    {
      /* A single reply. */
      conn->out_current = g_steal_pointer (&head->bytes);
      out_item_free (g_queue_pop_head (&conn->out_queue));
      data = g_bytes_get_data (conn->out_current, &length);
    }
  else
    {
      /* Several replies waiting: batch them into one write. */
      g_autoptr(GByteArray) batch = g_byte_array_new ();

      while ((head = g_queue_peek_head (&conn->out_queue)) != NULL &&
             head->bytes != NULL)
        {
          data = g_bytes_get_data (head->bytes, &length);
          g_byte_array_append (batch, data, (guint) length);
          out_item_free (g_queue_pop_head (&conn->out_queue));
        }
      conn->out_current = g_byte_array_free_to_bytes (g_steal_pointer (&batch));
      data = g_bytes_get_data (conn->out_current, &length);
    }

  conn->writing = TRUE;
  g_output_stream_write_all_async (conn->output, data, length,
                                   G_PRIORITY_DEFAULT, conn->cancellable,
                                   on_write_done, conn_ref (conn));
}

static void
queue_bytes (Conn   *conn,
             GBytes *bytes)
{
  OutItem *item = g_new0 (OutItem, 1);

  item->bytes = bytes;
  g_queue_push_tail (&conn->out_queue, item);
  write_next (conn);
}

static void
reply (Conn        *conn,
       const gchar *format,
       ...) G_GNUC_PRINTF (2, 3);

static void
reply (Conn        *conn,
       const gchar *format,
       ...)
{
  va_list args;
  gchar *text;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  queue_bytes (conn, g_bytes_new_take (text, strlen (text)));
}

static void
queue_pattern (Conn    *conn,
               guint64  n)
{
  OutItem *item;

  if (n == 0)
    return;
  item = g_new0 (OutItem, 1);
  item->pattern_remaining = n;
  g_queue_push_tail (&conn->out_queue, item);
  write_next (conn);
}

/* Input: one read_line_async() per line; frame bodies from the buffer. */

static void read_line (Conn *conn);
static void read_body (Conn *conn);

static void
handle_command (Conn        *conn,
                const gchar *line,
                gsize        length)
{
  guint64 n;

  if (length >= 5 && memcmp (line, "PING ", 5) == 0)
    reply (conn, "PONG %.*s\r\n", (int) (length - 5), line + 5);
  else if (strcmp (line, "LINES") == 0)
    {
      conn->mode = MODE_LINES;
      conn->lines = 0;
      conn->line_bytes = 0;
    }
  else if (strcmp (line, "FRAMES") == 0)
    {
      conn->mode = MODE_FRAME_HEADER;
      conn->frames = 0;
      conn->frame_bytes = 0;
      conn->sum = 0;
    }
  else if (length >= 4 && memcmp (line, "GET ", 4) == 0 &&
           bench_parse_u64 (line + 4, length - 4, &n))
    queue_pattern (conn, n);
  else
    reply (conn, "ERR\r\n");
}

/* Handles one line; returns TRUE if a frame body follows. */
static gboolean
handle_line (Conn        *conn,
             const gchar *line,
             gsize        length)
{
  guint64 n;

  switch (conn->mode)
    {
    case MODE_COMMAND:
      handle_command (conn, line, length);
      break;

    case MODE_LINES:
      if (strcmp (line, "QUIT") == 0)
        {
          reply (conn, "OK %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\r\n",
                 conn->lines, conn->line_bytes);
          conn->mode = MODE_COMMAND;
        }
      else
        {
          conn->lines++;
          conn->line_bytes += length;
        }
      break;

    case MODE_FRAME_HEADER:
      if (!bench_parse_u64 (line, length, &n))
        {
          reply (conn, "ERR\r\n");
          conn->mode = MODE_COMMAND;
        }
      else if (n == 0)
        {
          reply (conn, "OK %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %u\r\n",
                 conn->frames, conn->frame_bytes, conn->sum);
          conn->mode = MODE_COMMAND;
        }
      else
        {
          conn->body_remaining = n;
          return TRUE;
        }
      break;

    default:
      g_assert_not_reached ();
    }
  return FALSE;
}

static void
on_line_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Conn) conn = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *line = NULL;
  gsize length;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                               result, &length, &error);
  if (line == NULL)
    {
      /* End of stream, or an error: stop reading. Whatever is still queued
       * for output is written, then the connection goes with its last
       * reference. */
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("read: %s", error->message);
      return;
    }

  if (handle_line (conn, line, length))
    read_body (conn);
  else
    read_line (conn);
}

static void
read_line (Conn *conn)
{
  g_data_input_stream_read_line_async (conn->input, G_PRIORITY_DEFAULT,
                                       conn->cancellable, on_line_read,
                                       conn_ref (conn));
}

static void
on_body_filled (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(Conn) conn = user_data;
  g_autoptr(GError) error = NULL;
  gssize filled;

  filled = g_buffered_input_stream_fill_finish (G_BUFFERED_INPUT_STREAM (source),
                                                result, &error);
  if (filled <= 0)
    {
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("fill: %s", error->message);
      return;
    }
  read_body (conn);
}

/* Takes the body out of the buffer, a buffer's worth at a time, filling
 * the buffer asynchronously whenever it holds less than the next piece. */
static void
read_body (Conn *conn)
{
  GBufferedInputStream *buffered = G_BUFFERED_INPUT_STREAM (conn->input);
  /* A long line may have grown the stream's buffer past ours. */
  gsize piece_size = MIN (g_buffered_input_stream_get_buffer_size (buffered),
                          INPUT_BUFFER_SIZE);

  while (conn->body_remaining > 0)
    {
      g_autoptr(GError) error = NULL;
      gsize wanted = (gsize) MIN (conn->body_remaining, piece_size);
      gssize got;

      if (g_buffered_input_stream_get_available (buffered) < wanted)
        {
          g_buffered_input_stream_fill_async (buffered, -1, G_PRIORITY_DEFAULT,
                                              conn->cancellable, on_body_filled,
                                              conn_ref (conn));
          return;
        }

      /* All of it is buffered: this read does not block. */
      got = g_input_stream_read (G_INPUT_STREAM (conn->input), conn->body_buffer,
                                 wanted, conn->cancellable, &error);
      if (got <= 0)
        {
          if (error != NULL)
            g_debug ("read: %s", error->message);
          return;
        }
      conn->sum += bench_sum_bytes (conn->body_buffer, (gsize) got);
      conn->frame_bytes += (guint64) got;
      conn->body_remaining -= (guint64) got;
    }

  conn->frames++;
  read_line (conn);
}

/* The service */

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  g_autoptr(Conn) conn = g_rc_box_new0 (Conn);
  GInputStream *base;

  conn->connection = g_object_ref (connection);
  base = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  conn->input = g_data_input_stream_new (base);
  g_data_input_stream_set_newline_type (conn->input, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (conn->input),
                                           INPUT_BUFFER_SIZE);
  /* Closing our streams must not close the connection's own. */
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (conn->input), FALSE);
  conn->output = g_object_ref (g_io_stream_get_output_stream (G_IO_STREAM (connection)));
  conn->cancellable = g_cancellable_new ();
  conn->body_buffer = g_malloc (INPUT_BUFFER_SIZE);
  g_queue_init (&conn->out_queue);
  conn->mode = MODE_COMMAND;

  read_line (conn);
  return FALSE;
}

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
  g_autoptr(GSocketService) service = NULL;
  g_autoptr(GInetAddress) loopback = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint64 port;

  if (argc != 2 ||
      !g_ascii_string_to_unsigned (argv[1], 10, 0, G_MAXUINT16, &port, NULL))
    {
      fprintf (stderr, "usage: %s PORT\n", argv[0]);
      return 2;
    }

  pattern_init ();
  loop = g_main_loop_new (NULL, FALSE);

  service = g_socket_service_new ();
  /* GSocketListener's default backlog of 10 would drop the SYNs of a
   * thousand clients connecting at once. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), 1024);
  loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  address = g_inet_socket_address_new (loopback, (guint16) port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
                                      G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP,
                                      NULL, &bound, &error))
    {
      fprintf (stderr, "listen: %s\n", error->message);
      return 1;
    }
  g_signal_connect (service, "incoming", G_CALLBACK (on_incoming), NULL);

  g_unix_signal_add (SIGTERM, on_quit_signal, loop);
  g_unix_signal_add (SIGINT, on_quit_signal, loop);

  g_socket_service_start (service);
  printf ("listening on 127.0.0.1:%u\n",
          (guint) g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);

  g_main_loop_run (loop);

  g_socket_service_stop (service);
  return 0;
}
