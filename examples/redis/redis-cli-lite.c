/* redis-cli-lite.c: a small Redis client on achat
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: redis-cli-lite HOST[:PORT] [COMMAND [ARG...]]
 *
 * With a command on the command line, sends it, prints the reply and
 * exits. Without one, reads commands from standard input, one per line,
 * split like redis-cli does: words separated by blanks, "double quotes"
 * with the escapes \n \r \t \b \a \" \\ and \xHH, 'single quotes' with \'.
 * Commands are sent as soon as they are read, without waiting for the
 * replies (a pipeline); the replies are printed in order as they come. The
 * port defaults to 6379.
 *
 * Replies are printed as redis-cli prints them on a terminal:
 *
 *   +OK                     OK
 *   -ERR unknown command    (error) ERR unknown command
 *   :42                     (integer) 42
 *   $5 hello                "hello"   (quoted; \n \r \t \a \b \" \\ and
 *                                      other bytes outside ' '..'~' as \xHH)
 *   $-1, *-1                (nil)
 *   *0                      (empty array)
 *   *2 $1 a *1 $1 b         1) "a"
 *                           2) 1) "b"
 *
 * Exit status: 0 once every command got its reply (error replies
 * included), 1 if the connection cannot be made or breaks (or the server
 * speaks something else than RESP2), 2 on a usage error.
 *
 * How it uses achat
 * -----------------
 * achat_channel_connect_to_host_async() makes the connection and the
 * channel. Commands go out as RESP arrays of bulk strings
 * ("*N\r\n$LEN\r\nARG\r\n..."), so any byte can be sent. Replies are read
 * with the terminator switched as the protocol goes: "\r\n" for the line
 * that starts every reply, then, for a bulk string of LEN bytes, a count of
 * LEN + 2 (the data and its "\r\n"), then "\r\n" again. Arrays are built
 * with a stack of the arrays being filled, so they nest to any depth.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gunixinputstream.h>
#include <achat/achat.h>

#define DEFAULT_PORT 6379
#define LINE_END "\r\n"

/* Replies --------------------------------------------------------------- */

typedef enum
{
  REPLY_STATUS,
  REPLY_ERROR,
  REPLY_INTEGER,
  REPLY_BULK,
  REPLY_NIL,
  REPLY_ARRAY,
} ReplyType;

typedef struct
{
  ReplyType type;
  GBytes *data;            /* status, error, bulk */
  gint64 integer;          /* integer */
  GPtrArray *elements;     /* array: Reply *, owned */
  gsize expected;          /* array: how many elements it will have */
} Reply;

static void
reply_free (gpointer data)
{
  Reply *reply = data;

  g_clear_pointer (&reply->data, g_bytes_unref);
  g_clear_pointer (&reply->elements, g_ptr_array_unref);
  g_free (reply);
}

static Reply *
reply_new (ReplyType type)
{
  Reply *reply = g_new0 (Reply, 1);

  reply->type = type;
  return reply;
}

static Reply *
reply_new_data (ReplyType type,
                GBytes   *data)
{
  Reply *reply = reply_new (type);

  reply->data = data;
  return reply;
}

/* Appends @data quoted, as redis-cli does (its sdscatrepr()). */
static void
append_quoted (GString      *out,
               const guint8 *data,
               gsize         length)
{
  gsize i;

  g_string_append_c (out, '"');
  for (i = 0; i < length; i++)
    {
      guint8 c = data[i];

      switch (c)
        {
        case '\\':
        case '"':
          g_string_append_c (out, '\\');
          g_string_append_c (out, c);
          break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        case '\a': g_string_append (out, "\\a"); break;
        case '\b': g_string_append (out, "\\b"); break;
        default:
          if (g_ascii_isprint (c))
            g_string_append_c (out, c);
          else
            g_string_append_printf (out, "\\x%02x", c);
        }
    }
  g_string_append_c (out, '"');
}

/* Formats @reply as redis-cli does on a terminal (its cliFormatReplyTTY()).
 * @prefix is the indentation of the elements of a nested array but the
 * first, which follows its parent's index. */
static void
reply_format (const Reply *reply,
              const gchar *prefix,
              GString     *out)
{
  gsize length = 0;
  const gchar *data = reply->data != NULL ? g_bytes_get_data (reply->data, &length) : NULL;

  switch (reply->type)
    {
    case REPLY_STATUS:
      g_string_append_len (out, data, length);
      break;
    case REPLY_ERROR:
      g_string_append (out, "(error) ");
      g_string_append_len (out, data, length);
      break;
    case REPLY_INTEGER:
      g_string_append_printf (out, "(integer) %" G_GINT64_FORMAT, reply->integer);
      break;
    case REPLY_BULK:
      append_quoted (out, (const guint8 *) data, length);
      break;
    case REPLY_NIL:
      g_string_append (out, "(nil)");
      break;
    case REPLY_ARRAY:
      if (reply->elements->len == 0)
        g_string_append (out, "(empty array)");
      else
        {
          /* Indices are right-aligned to the width of the largest one. */
          int width = snprintf (NULL, 0, "%u", reply->elements->len);
          g_autofree gchar *nested_prefix = g_strdup_printf ("%s%*s", prefix, width + 2, "");
          guint i;

          for (i = 0; i < reply->elements->len; i++)
            {
              g_string_append_printf (out, "%s%*u) ", i == 0 ? "" : prefix, width, i + 1);
              reply_format (g_ptr_array_index (reply->elements, i), nested_prefix, out);
            }
          return;   /* each element ended its own line */
        }
      break;
    default:
      g_assert_not_reached ();
    }
  g_string_append_c (out, '\n');
}

/* Commands -------------------------------------------------------------- */

/* Encodes a command as a RESP array of bulk strings. */
static GBytes *
encode_command (GPtrArray *args)
{
  GString *out = g_string_new (NULL);
  guint i;

  g_string_append_printf (out, "*%u" LINE_END, args->len);
  for (i = 0; i < args->len; i++)
    {
      GBytes *arg = g_ptr_array_index (args, i);
      gsize length;
      const gchar *data = g_bytes_get_data (arg, &length);

      g_string_append_printf (out, "$%" G_GSIZE_FORMAT LINE_END, length);
      g_string_append_len (out, data, length);
      g_string_append (out, LINE_END);
    }
  return g_string_free_to_bytes (out);
}

static gboolean
is_blank (gchar c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits a line into arguments as redis-cli does (its sdssplitargs()).
 * Returns %NULL on unbalanced quotes, or on a closing quote not followed
 * by a blank. */
static GPtrArray *
split_line (const gchar *p,
            const gchar *end)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  for (;;)
    {
      GString *current;
      gboolean in_double = FALSE;
      gboolean in_single = FALSE;
      gboolean done = FALSE;

      while (p < end && is_blank (*p))
        p++;
      if (p == end)
        return g_steal_pointer (&args);

      current = g_string_new (NULL);
      while (!done)
        {
          gboolean at_end = p == end;

          if (in_double)
            {
              if (!at_end && *p == '\\' && end - p >= 4 && p[1] == 'x' &&
                  g_ascii_isxdigit (p[2]) && g_ascii_isxdigit (p[3]))
                {
                  g_string_append_c (current, (gchar) (g_ascii_xdigit_value (p[2]) * 16 +
                                                       g_ascii_xdigit_value (p[3])));
                  p += 3;
                }
              else if (!at_end && *p == '\\' && end - p >= 2)
                {
                  p++;
                  switch (*p)
                    {
                    case 'n': g_string_append_c (current, '\n'); break;
                    case 'r': g_string_append_c (current, '\r'); break;
                    case 't': g_string_append_c (current, '\t'); break;
                    case 'b': g_string_append_c (current, '\b'); break;
                    case 'a': g_string_append_c (current, '\a'); break;
                    default: g_string_append_c (current, *p); break;
                    }
                }
              else if (!at_end && *p == '"')
                {
                  if (end - p >= 2 && !is_blank (p[1]))
                    break;   /* "foo"bar */
                  done = TRUE;
                }
              else if (at_end)
                break;       /* unterminated */
              else
                g_string_append_c (current, *p);
            }
          else if (in_single)
            {
              if (!at_end && *p == '\\' && end - p >= 2 && p[1] == '\'')
                {
                  p++;
                  g_string_append_c (current, '\'');
                }
              else if (!at_end && *p == '\'')
                {
                  if (end - p >= 2 && !is_blank (p[1]))
                    break;
                  done = TRUE;
                }
              else if (at_end)
                break;
              else
                g_string_append_c (current, *p);
            }
          else if (at_end || is_blank (*p))
            done = TRUE;
          else if (*p == '"')
            in_double = TRUE;
          else if (*p == '\'')
            in_single = TRUE;
          else
            g_string_append_c (current, *p);

          if (p < end)
            p++;
        }

      if (!done)
        {
          g_string_free (current, TRUE);
          return NULL;
        }
      g_ptr_array_add (args, g_string_free_to_bytes (current));
    }
}

/* The client ------------------------------------------------------------ */

typedef struct
{
  GMainLoop *loop;
  AchatChannel *channel;
  GPtrArray *command;          /* GBytes *: the command given as arguments */
  GDataInputStream *input;     /* or standard input, to read commands from */
  GCancellable *cancellable;

  GPtrArray *stack;            /* Reply *: the arrays being filled, innermost last */
  gboolean in_bulk;            /* the terminator is a count: a bulk string */

  guint64 pending;             /* commands sent whose reply is not printed */
  gboolean input_done;         /* every command is sent */
  gboolean finished;           /* closing because everything is done */
  int status;
} Client;

static void
client_fail (Client      *client,
             const gchar *format,
             ...) G_GNUC_PRINTF (2, 3);

/* Reports an error, closes the connection and stops with status 1. */
static void
client_fail (Client      *client,
             const gchar *format,
             ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  if (client->status == EXIT_SUCCESS)
    g_printerr ("redis-cli-lite: %s\n", message);
  client->status = EXIT_FAILURE;
  client->finished = TRUE;
  g_cancellable_cancel (client->cancellable);
  if (client->channel != NULL)
    achat_channel_close (client->channel);
  g_main_loop_quit (client->loop);
}

static void
client_maybe_finish (Client *client)
{
  if (!client->input_done || client->pending > 0 || client->finished)
    return;
  client->finished = TRUE;
  achat_channel_close (client->channel);
  g_main_loop_quit (client->loop);
}

static void
client_send (Client    *client,
             GPtrArray *args)
{
  g_autoptr(GBytes) command = encode_command (args);

  if (achat_channel_push_bytes (client->channel, command))
    client->pending++;
}

/* A complete reply (or array element) has arrived. */
static void
client_add_reply (Client *client,
                  Reply  *reply)
{
  g_autoptr(GString) out = NULL;

  /* Completes arrays, innermost first. */
  while (client->stack->len > 0)
    {
      Reply *array = g_ptr_array_index (client->stack, client->stack->len - 1);

      g_ptr_array_add (array->elements, reply);
      if (array->elements->len < array->expected)
        return;
      reply = g_ptr_array_steal_index (client->stack, client->stack->len - 1);
    }

  out = g_string_new (NULL);
  reply_format (reply, "", out);
  reply_free (reply);
  fwrite (out->str, 1, out->len, stdout);
  fflush (stdout);

  if (client->pending > 0)
    client->pending--;
  client_maybe_finish (client);
}

static gboolean
parse_integer (const gchar *data,
               gsize        length,
               gint64      *value)
{
  g_autofree gchar *text = g_strndup (data, length);

  return g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, value, NULL);
}

static void
set_line_terminator (AchatChannel *channel)
{
  achat_channel_set_terminator (channel, (const guint8 *) LINE_END, strlen (LINE_END));
}

/* The first line of a reply: its type, and its value or size. */
static void
client_handle_line (Client      *client,
                    const gchar *line,
                    gsize        length)
{
  g_autoptr(GString) quoted = NULL;
  gint64 value;

  if (length == 0)
    {
      client_fail (client, "protocol error: empty line");
      return;
    }

  switch (line[0])
    {
    case '+':
    case '-':
      client_add_reply (client, reply_new_data (line[0] == '+' ? REPLY_STATUS : REPLY_ERROR,
                                                g_bytes_new (line + 1, length - 1)));
      return;
    case ':':
    case '$':
    case '*':
      if (!parse_integer (line + 1, length - 1, &value))
        break;
      if (line[0] == ':')
        {
          Reply *reply = reply_new (REPLY_INTEGER);

          reply->integer = value;
          client_add_reply (client, reply);
        }
      else if (value == -1)
        client_add_reply (client, reply_new (REPLY_NIL));
      else if (value < -1)
        break;
      else if (line[0] == '$')
        {
          /* The data and its "\r\n" make the next message. */
          client->in_bulk = TRUE;
          achat_channel_set_terminator_count (client->channel, (guint64) value + 2);
        }
      else
        {
          Reply *array = reply_new (REPLY_ARRAY);

          array->elements = g_ptr_array_new_with_free_func (reply_free);
          array->expected = value;
          if (value == 0)
            client_add_reply (client, array);
          else
            g_ptr_array_add (client->stack, array);
        }
      return;
    default:
      break;
    }

  quoted = g_string_new (NULL);
  append_quoted (quoted, (const guint8 *) line, length);
  client_fail (client, "protocol error: unexpected reply %s", quoted->str);
}

static void
on_message (AchatChannel *channel,
            GBytes       *message,
            gpointer      user_data)
{
  Client *client = user_data;
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);

  if (!client->in_bulk)
    {
      client_handle_line (client, data, length);
      return;
    }

  /* A bulk string and its "\r\n": a count terminator ends here. */
  client->in_bulk = FALSE;
  set_line_terminator (channel);
  if (length < 2 || memcmp (data + length - 2, LINE_END, 2) != 0)
    {
      client_fail (client, "protocol error: bulk string without \\r\\n");
      return;
    }
  client_add_reply (client, reply_new_data (REPLY_BULK,
                                            g_bytes_new_from_bytes (message, 0, length - 2)));
}

static void
on_closed (AchatChannel *channel G_GNUC_UNUSED,
           const GError *error,
           gpointer      user_data)
{
  Client *client = user_data;

  if (client->finished)
    return;
  if (error != NULL)
    client_fail (client, "connection lost: %s", error->message);
  else
    client_fail (client, "the server closed the connection");
}

static void read_next_line (Client *client);

static void
on_line_read (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *line = NULL;
  g_autoptr(GPtrArray) args = NULL;
  gsize length;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result,
                                               &length, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* the client is stopping: it may be gone */
  if (error != NULL)
    {
      client_fail (client, "cannot read standard input: %s", error->message);
      return;
    }
  if (line == NULL)
    {
      client->input_done = TRUE;
      client_maybe_finish (client);
      return;
    }

  args = split_line (line, line + length);
  if (args == NULL)
    g_printerr ("Invalid argument(s)\n");
  else if (args->len > 0)
    client_send (client, args);

  read_next_line (client);
}

static void
read_next_line (Client *client)
{
  g_data_input_stream_read_line_async (client->input, G_PRIORITY_DEFAULT,
                                       client->cancellable, on_line_read, client);
}

static void
on_connected (GObject      *source G_GNUC_UNUSED,
              GAsyncResult *result,
              gpointer      user_data)
{
  Client *client = user_data;
  g_autoptr(GError) error = NULL;

  client->channel = achat_channel_connect_to_host_finish (result, &error);
  if (client->channel == NULL)
    {
      client_fail (client, "cannot connect: %s", error->message);
      return;
    }

  /* Nothing is read before we return to the main loop. */
  set_line_terminator (client->channel);
  g_signal_connect (client->channel, "terminator-found", G_CALLBACK (on_message), client);
  g_signal_connect (client->channel, "closed", G_CALLBACK (on_closed), client);

  if (client->command != NULL)
    {
      client_send (client, client->command);
      client->input_done = TRUE;
    }
  else
    read_next_line (client);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GMainLoop) loop = NULL;
  Client client = { 0, };
  int i;

  if (argc < 2)
    {
      g_printerr ("usage: %s HOST[:PORT] [COMMAND [ARG...]]\n"
                  "Without a command, reads commands from standard input, one per line.\n",
                  argv[0]);
      return 2;
    }

  loop = g_main_loop_new (NULL, FALSE);
  client.loop = loop;
  client.cancellable = g_cancellable_new ();
  client.stack = g_ptr_array_new_with_free_func (reply_free);
  client.status = EXIT_SUCCESS;

  if (argc > 2)
    {
      client.command = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      for (i = 2; i < argc; i++)
        g_ptr_array_add (client.command, g_bytes_new (argv[i], strlen (argv[i])));
    }
  else
    {
      g_autoptr(GInputStream) stdin_stream = g_unix_input_stream_new (0, FALSE);

      client.input = g_data_input_stream_new (stdin_stream);
    }

  achat_channel_connect_to_host_async (argv[1], DEFAULT_PORT, client.cancellable,
                                       on_connected, &client);
  g_main_loop_run (loop);

  if (client.channel != NULL)
    {
      g_signal_handlers_disconnect_by_data (client.channel, &client);
      achat_channel_close (client.channel);
      g_clear_object (&client.channel);
    }
  g_clear_pointer (&client.command, g_ptr_array_unref);
  g_clear_object (&client.input);
  g_clear_object (&client.cancellable);
  g_ptr_array_unref (client.stack);

  return client.status;
}
