/* http-server.c: the HTTP request handler of asynchat's documentation
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: http-server [PORT]
 *
 * Python's asynchat documentation ends with an http_request_handler: a
 * channel that reads the request headers with a "\r\n\r\n" terminator,
 * the body of a POST with a count terminator taken from Content-Length,
 * then sets no terminator ("browsers sometimes over-send") and handles
 * the request. This is that handler, made complete, as a subclass of
 * AchatChannel that an AchatServer makes for every connection.
 *
 *   GET /                 a short text page
 *   GET /hello?name=X     "Hello, X!"
 *   POST /echo            the request body, byte for byte
 *   anything else         404 Not Found
 *
 * A malformed request gets 400, a POST without Content-Length 411, a body
 * larger than MAX_BODY 413. A client that sends "Expect: 100-continue"
 * (curl does, for large bodies) is told to go on. Every response has a
 * Content-Length, and the connection is closed once it is sent.
 *
 * The server listens on 127.0.0.1, on PORT (0, the default, lets the
 * kernel pick one), prints "listening on 127.0.0.1:PORT" and serves until
 * SIGTERM or SIGINT, then exits with status 0. The same server is written
 * in Python (http-server.py) and JavaScript (http-server.js).
 */

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>

#include <achat/achat.h>

#define MAX_HEADERS (64 * 1024)
#define MAX_BODY (16 * 1024 * 1024)
#define TOKEN_CHARS "!#$%&'*+-.^_`|~0123456789" \
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

static const gchar index_page[] =
  "achat HTTP example\n"
  "\n"
  "GET /hello?name=you    a greeting\n"
  "POST /echo             the request body, sent back\n";

#define HTTP_TYPE_REQUEST_HANDLER (http_request_handler_get_type ())
G_DECLARE_FINAL_TYPE (HttpRequestHandler, http_request_handler, HTTP, REQUEST_HANDLER, AchatChannel)

struct _HttpRequestHandler
{
  AchatChannel parent_instance;

  gboolean reading_headers;
  gboolean handling;
  gchar *method;
  gchar *target;
  gchar *version;
  GHashTable *headers;   /* lower-case name -> value */
};

G_DEFINE_FINAL_TYPE (HttpRequestHandler, http_request_handler, ACHAT_TYPE_CHANNEL)

/* Responses ------------------------------------------------------------- */

static void
respond (HttpRequestHandler *self,
         const gchar        *status,
         const gchar        *content_type,
         GBytes             *body)
{
  AchatChannel *channel = ACHAT_CHANNEL (self);
  g_autofree gchar *head = g_strdup_printf ("HTTP/1.1 %s\r\n"
                                            "Content-Type: %s\r\n"
                                            "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                                            "Connection: close\r\n"
                                            "\r\n",
                                            status, content_type,
                                            g_bytes_get_size (body));

  self->handling = TRUE;
  achat_channel_set_terminator_none (channel);   /* clients sometimes over-send */
  achat_channel_push (channel, (const guint8 *) head, strlen (head));
  achat_channel_push_bytes (channel, body);
  achat_channel_close_when_done (channel);
}

/* Responds with @text, or with the status itself when @text is NULL. */
static void
respond_text (HttpRequestHandler *self,
              const gchar        *status,
              const gchar        *text)
{
  g_autofree gchar *body = g_strdup (text != NULL ? text : status);
  gsize length = strlen (body);
  g_autoptr(GBytes) bytes = g_bytes_new_take (g_steal_pointer (&body), length);

  respond (self, status, "text/plain; charset=utf-8", bytes);
}

/* Requests -------------------------------------------------------------- */

static gboolean
is_token (const gchar *text)
{
  return text[0] != '\0' && text[strspn (text, TOKEN_CHARS)] == '\0';
}

static gboolean
is_http_version (const gchar *text)
{
  return strlen (text) == 8 && g_str_has_prefix (text, "HTTP/") &&
         g_ascii_isdigit (text[5]) && text[6] == '.' && g_ascii_isdigit (text[7]);
}

/* Parses the request line and the header fields; FALSE if malformed. */
static gboolean
parse_headers (HttpRequestHandler *self,
               GBytes             *message)
{
  gsize length;
  const gchar *data = g_bytes_get_data (message, &length);
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) request = NULL;
  guint i;

  if (length == 0 || memchr (data, '\0', length) != NULL)
    return FALSE;
  text = g_strndup (data, length);
  lines = g_strsplit (text, "\r\n", -1);

  /* METHOD SP TARGET SP HTTP-VERSION */
  request = g_strsplit (lines[0], " ", -1);
  if (g_strv_length (request) != 3 || !is_token (request[0]) ||
      request[1][0] == '\0' || !is_http_version (request[2]))
    return FALSE;
  self->method = g_strdup (request[0]);
  self->target = g_strdup (request[1]);
  self->version = g_strdup (request[2]);

  /* NAME ":" OWS VALUE OWS */
  for (i = 1; lines[i] != NULL; i++)
    {
      gchar *colon = strchr (lines[i], ':');

      if (colon == NULL)
        return FALSE;
      *colon = '\0';
      if (!is_token (lines[i]))
        return FALSE;
      g_hash_table_insert (self->headers,
                           g_ascii_strdown (lines[i], -1),
                           g_strstrip (g_strdup (colon + 1)));
    }
  return TRUE;
}

static void
handle_request (HttpRequestHandler *self,
                GBytes             *body)
{
  const gchar *query = strchr (self->target, '?');
  g_autofree gchar *path = g_strndup (self->target,
                                      query != NULL ? (gsize) (query - self->target) : strlen (self->target));
  gboolean get = g_str_equal (self->method, "GET");

  if (get && g_str_equal (path, "/"))
    respond_text (self, "200 OK", index_page);
  else if (get && g_str_equal (path, "/hello"))
    {
      g_autoptr(GHashTable) params = g_uri_parse_params (query != NULL ? query + 1 : "", -1, "&",
                                                         G_URI_PARAMS_WWW_FORM, NULL);
      const gchar *name;
      g_autofree gchar *greeting = NULL;

      if (params == NULL)
        {
          respond_text (self, "400 Bad Request", NULL);
          return;
        }
      name = g_hash_table_lookup (params, "name");
      greeting = g_strdup_printf ("Hello, %s!", name != NULL ? name : "world");
      respond_text (self, "200 OK", greeting);
    }
  else if (g_str_equal (self->method, "POST") && g_str_equal (path, "/echo"))
    respond (self, "200 OK", "application/octet-stream", body);
  else
    respond_text (self, "404 Not Found", NULL);
}

/* After the headers of a POST: read a body of Content-Length bytes. */
static void
expect_body (HttpRequestHandler *self)
{
  AchatChannel *channel = ACHAT_CHANNEL (self);
  const gchar *clen = g_hash_table_lookup (self->headers, "content-length");
  const gchar *expect = g_hash_table_lookup (self->headers, "expect");
  guint64 length;

  if (clen == NULL)
    {
      respond_text (self, "411 Length Required", NULL);
      return;
    }
  if (clen[0] == '\0' || clen[strspn (clen, "0123456789")] != '\0')
    {
      respond_text (self, "400 Bad Request", NULL);
      return;
    }
  length = g_ascii_strtoull (clen, NULL, 10);   /* G_MAXUINT64 on overflow */
  if (length > MAX_BODY)
    {
      respond_text (self, "413 Content Too Large", NULL);
      return;
    }

  if (length == 0)
    {
      /* A count of 0 would mean no terminator: nothing more to read. */
      g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);

      handle_request (self, empty);
      return;
    }

  if (expect != NULL && g_ascii_strcasecmp (expect, "100-continue") == 0 &&
      g_str_equal (self->version, "HTTP/1.1"))
    {
      static const gchar go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";

      achat_channel_push (channel, (const guint8 *) go_on, strlen (go_on));
    }
  /* snippet-begin body */
  /* The body may be longer than the header block was allowed to be. */
  achat_channel_set_max_input_size (channel, (gsize) length);
  achat_channel_set_terminator_count (channel, length);
  /* snippet-end body */
}

/* The channel --------------------------------------------------------- */

/* snippet-begin handler */
static void
http_request_handler_terminator_found (AchatChannel *channel,
                                       GBytes       *message)
{
  HttpRequestHandler *self = HTTP_REQUEST_HANDLER (channel);

  if (self->reading_headers)
    {
      self->reading_headers = FALSE;
      if (!parse_headers (self, message))
        respond_text (self, "400 Bad Request", NULL);
      else if (g_str_equal (self->method, "POST"))
        expect_body (self);
      else
        {
          g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);

          handle_request (self, empty);
        }
    }
  else if (!self->handling)
    handle_request (self, message);
}
/* snippet-end handler */

static void
http_request_handler_finalize (GObject *object)
{
  HttpRequestHandler *self = HTTP_REQUEST_HANDLER (object);

  g_clear_pointer (&self->headers, g_hash_table_unref);
  g_clear_pointer (&self->method, g_free);
  g_clear_pointer (&self->target, g_free);
  g_clear_pointer (&self->version, g_free);

  G_OBJECT_CLASS (http_request_handler_parent_class)->finalize (object);
}

static void
http_request_handler_class_init (HttpRequestHandlerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  AchatChannelClass *channel_class = ACHAT_CHANNEL_CLASS (klass);

  object_class->finalize = http_request_handler_finalize;
  channel_class->terminator_found = http_request_handler_terminator_found;
}

static void
http_request_handler_init (HttpRequestHandler *self)
{
  self->reading_headers = TRUE;
  self->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\r\n\r\n", 4);
  /* A peer sending endless headers is cut off (the channel closes). */
  achat_channel_set_max_input_size (ACHAT_CHANNEL (self), MAX_HEADERS);
}

/* The server ------------------------------------------------------------ */

static gboolean
quit_loop (gpointer user_data)
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
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint64 port = 0;
  guint sigterm_id, sigint_id;

  setlocale (LC_ALL, "");

  if (argc > 2 ||
      (argc == 2 && !g_ascii_string_to_unsigned (argv[1], 10, 0, G_MAXUINT16, &port, &error)))
    {
      g_printerr ("usage: %s [PORT]%s%s\n", argv[0],
                  error != NULL ? ": " : "", error != NULL ? error->message : "");
      return 2;
    }

  server = achat_server_new (HTTP_TYPE_REQUEST_HANDLER);
  address = g_inet_socket_address_new_from_string ("127.0.0.1", (guint) port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &bound, &error))
    {
      g_printerr ("%s: %s\n", argv[0], error->message);
      return 1;
    }

  /* Handle the signals before saying we listen: whoever waits for that
   * line may send one at once. */
  loop = g_main_loop_new (NULL, FALSE);
  sigterm_id = g_unix_signal_add (SIGTERM, quit_loop, loop);
  sigint_id = g_unix_signal_add (SIGINT, quit_loop, loop);

  printf ("listening on 127.0.0.1:%u\n",
          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);

  g_socket_service_start (G_SOCKET_SERVICE (server));
  g_main_loop_run (loop);

  g_socket_service_stop (G_SOCKET_SERVICE (server));
  g_socket_listener_close (G_SOCKET_LISTENER (server));
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  return EXIT_SUCCESS;
}
