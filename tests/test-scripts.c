/* test-scripts.c: protocol scripts, for the tests of the message styles
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <string.h>

#include "test-scripts.h"

void
apply_framing (AchatChannel  *channel,
               const Framing *framing)
{
  static const gchar *const line_endings[] = { "\r\n", "\n", NULL };

  switch (framing->kind)
    {
    case F_BYTES:
      achat_channel_set_terminator (channel, (const guint8 *) framing->bytes,
                                    strlen (framing->bytes));
      break;
    case F_LINE:
      achat_channel_set_terminators (channel, line_endings);
      break;
    case F_COUNT:
      achat_channel_set_terminator_count (channel, framing->count);
      break;
    case F_LENGTH16:
      achat_channel_set_terminator_length_prefix (channel, 2, ACHAT_BYTE_ORDER_BIG_ENDIAN, 0, 0);
      break;
    case F_NETSTRING:
      achat_channel_set_terminator_text_length (channel, 10, ":", ",", 0);
      break;
    case F_CHUNK:
      achat_channel_set_terminator_text_length (channel, 16, "\r\n", "\r\n", 0);
      break;
    }
}

/* Whether @bytes holds the @length bytes at @data (no memcmp() of a NULL
 * pointer for an empty message). */
gboolean
bytes_equal (GBytes       *bytes,
             const void   *data,
             gsize         length)
{
  return g_bytes_get_size (bytes) == length &&
         (length == 0 || memcmp (g_bytes_get_data (bytes, NULL), data, length) == 0);
}

/* tests/data/pull-scripts.json has the same scripts for the Python and GJS
 * tests (test_pull.py, test-pull.js): change both together. */
#define CRLF { F_BYTES, "\r\n", 0 }
#define BYTES(s) { F_BYTES, s, 0 }
#define COUNT(n) { F_COUNT, NULL, n }

const Script scripts[] = {
  {
    /* Redis: a bulk reply's header line gives the count of its body. */
    "resp",
    "$12\r\nhello\r\nworld\r\n+OK\r\n:42\r\n", 0,
    {
      { CRLF, "$12", 0 },
      { COUNT (14), "hello\r\nworld\r\n", 0 },
      { CRLF, "+OK", 0 },
      { CRLF, ":42", 0 },
    }, 4, "",
  },
  {
    /* HTTP: a header block, a body of Content-Length, the next response. */
    "http",
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", 0,
    {
      { BYTES ("\r\n\r\n"), "HTTP/1.1 200 OK\r\nContent-Length: 5", 0 },
      { COUNT (5), "hello", 0 },
      { BYTES ("\r\n\r\n"), "HTTP/1.1 204 No Content\r\nServer: x", 0 },
    }, 3, "",
  },
  {
    /* Two string terminators taking turns, the stream ending mid-message. */
    "alternating",
    "key;value\nk2;v2\ntail", 0,
    {
      { BYTES (";"), "key", 0 },
      { BYTES ("\n"), "value", 0 },
      { BYTES (";"), "k2", 0 },
      { BYTES ("\n"), "v2", 0 },
    }, 4, "tail",
  },
  {
    /* Binary frames after a text line, an empty frame, a line again. */
    "frames-after-line",
    "FRAMES 2\n\x00\x03" "abc\x00\x00" "bye\n", 9 + 5 + 2 + 4,
    {
      { BYTES ("\n"), "FRAMES 2", 0 },
      { { F_LENGTH16, NULL, 0 }, "abc", 0 },
      { { F_LENGTH16, NULL, 0 }, "", 0 },
      { BYTES ("\n"), "bye", 0 },
    }, 4, "",
  },
  {
    /* Either line ending, then a count that takes a line ending with it,
     * then a terminator that a shorter one would have cut. */
    "lines-count-long",
    "one\r\ntwo\n3\r\n45END!rest-END", 0,
    {
      { { F_LINE, NULL, 0 }, "one", 0 },
      { { F_LINE, NULL, 0 }, "two", 0 },
      { COUNT (4), "3\r\n4", 0 },
      { BYTES ("END"), "5", 0 },
      { BYTES ("-END"), "!rest", 0 },
    }, 5, "",
  },
  {
    /* Netstrings holding what would end a line or another netstring, an
     * empty one, a line; the stream ends inside the next line. */
    "netstrings",
    "5:a,b\r\n,0:,11:3:xyz,\n:9:,,done\n7:par", 0,
    {
      { { F_NETSTRING, NULL, 0 }, "a,b\r\n", 0 },
      { { F_NETSTRING, NULL, 0 }, "", 0 },
      { { F_NETSTRING, NULL, 0 }, "3:xyz,\n:9:,", 0 },
      { BYTES ("\n"), "done", 0 },
    }, 4, "7:par",
  },
  {
    /* HTTP's chunked encoding (no extensions): hexadecimal lengths in
     * either case, the last chunk, then a line. */
    "chunked",
    "A\r\n0123456789\r\n1b\r\nabcdefghijklmnopqrstuvwxyz!\r\n0\r\n\r\nEND\r\n", 0,
    {
      { { F_CHUNK, NULL, 0 }, "0123456789", 0 },
      { { F_CHUNK, NULL, 0 }, "abcdefghijklmnopqrstuvwxyz!", 0 },
      { { F_CHUNK, NULL, 0 }, "", 0 },
      { CRLF, "END", 0 },
    }, 4, "",
  },
};

const guint n_scripts = G_N_ELEMENTS (scripts);

void
test_add_scripts (const gchar   *prefix,
                  GTestDataFunc  func)
{
  guint i;

  for (i = 0; i < n_scripts; i++)
    {
      g_autofree gchar *path = g_strdup_printf ("%s/%s", prefix, scripts[i].name);

      g_test_add_data_func (path, &scripts[i], func);
    }
}

/* A random protocol: each message framed its own way (string terminators,
 * either line ending, counts, length prefixes), the stream built from the
 * messages, so what each read must return is known. */
void
random_script (GRand   *rand,
               Script  *script,
               GString *stream,
               GPtrArray *keep)
{
  static const gchar *const terminators[] = { "\n", "\r\n", "|", "#$#" };
  guint i;

  script->name = "random";
  script->n_steps = g_rand_int_range (rand, 1, MAX_STEPS);
  script->rest = "";
  for (i = 0; i < script->n_steps; i++)
    {
      Step *step = &script->steps[i];
      GString *message = g_string_new (NULL);
      guint length = g_rand_int_range (rand, 0, 24);
      guint kind = g_rand_int_range (rand, 0, 6);
      guint j;

      for (j = 0; j < length; j++)
        {
          if (kind >= 2)   /* counted: any byte, terminators' included */
            g_string_append_c (message, (gchar) g_rand_int_range (rand, 0, 256));
          else
            g_string_append_c (message, "abcxyz"[g_rand_int_range (rand, 0, 6)]);
        }
      switch (kind)
        {
        case 0:
          step->framing.kind = F_BYTES;
          step->framing.bytes = terminators[g_rand_int_range (rand, 0, G_N_ELEMENTS (terminators))];
          g_string_append_len (stream, message->str, message->len);
          g_string_append (stream, step->framing.bytes);
          break;
        case 1:
          step->framing.kind = F_LINE;
          g_string_append_len (stream, message->str, message->len);
          g_string_append (stream, g_rand_boolean (rand) ? "\r\n" : "\n");
          break;
        case 2:
          if (length == 0)
            g_string_append_c (message, 'z');   /* a count of 0 is no terminator */
          step->framing.kind = F_COUNT;
          step->framing.count = message->len;
          g_string_append_len (stream, message->str, message->len);
          break;
        case 4:
          step->framing.kind = F_NETSTRING;
          g_string_append_printf (stream, "%u:", (guint) message->len);
          g_string_append_len (stream, message->str, message->len);
          g_string_append_c (stream, ',');
          break;
        case 5:
          step->framing.kind = F_CHUNK;
          g_string_append_printf (stream, g_rand_boolean (rand) ? "%x\r\n" : "%X\r\n",
                                  (guint) message->len);
          g_string_append_len (stream, message->str, message->len);
          g_string_append (stream, "\r\n");
          break;
        default:
          step->framing.kind = F_LENGTH16;
          g_string_append_c (stream, 0);
          g_string_append_c (stream, (gchar) message->len);
          g_string_append_len (stream, message->str, message->len);
          break;
        }
      step->message_len = message->len;
      step->message = message->str;
      if (step->message_len == 0)
        step->message = "";
      g_ptr_array_add (keep, g_string_free (message, FALSE));
    }
  script->stream = stream->str;
  script->stream_len = stream->len;
}
