/* test-http.c: the HTTP request handler of asynchat's documentation
 *
 * Specifies: achat/achat-channel.c, as asynchat's documentation uses it
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The handler is a subclass, like the original http_request_handler: it
 * collects into its own buffer (data_collected overridden without chaining
 * up, as collect_incoming_data was), reads the header block with a
 * "\r\n\r\n" terminator, a POST body with a count terminator taken from
 * Content-Length, then sets no terminator so extra bytes are ignored,
 * pushes a response and closes when it is sent.
 */

#include <stdlib.h>
#include <string.h>

#include "test-util.h"

#define TEST_TYPE_HTTP_HANDLER (test_http_handler_get_type ())
G_DECLARE_FINAL_TYPE (TestHttpHandler, test_http_handler, TEST, HTTP_HANDLER, AchatChannel)

struct _TestHttpHandler
{
  AchatChannel parent_instance;

  GByteArray *ibuffer;
  gboolean reading_headers;
  gboolean handling;
  gchar *method;
  gchar *path;
  GHashTable *headers;
};

G_DEFINE_FINAL_TYPE (TestHttpHandler, test_http_handler, ACHAT_TYPE_CHANNEL)

static void
respond (TestHttpHandler *self,
         const gchar     *status,
         const guint8    *body,
         gsize            body_length)
{
  AchatChannel *channel = ACHAT_CHANNEL (self);
  g_autofree gchar *head = g_strdup_printf ("HTTP/1.0 %s\r\n"
                                            "Content-Length: %" G_GSIZE_FORMAT "\r\n"
                                            "\r\n",
                                            status, body_length);

  self->handling = TRUE;
  achat_channel_set_terminator_none (channel);   /* clients sometimes over-send */
  achat_channel_push (channel, (const guint8 *) head, strlen (head));
  achat_channel_push (channel, body, body_length);
  achat_channel_close_when_done (channel);
}

static gboolean
parse_headers (TestHttpHandler *self,
               const gchar     *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\r\n", -1);
  g_auto(GStrv) request = NULL;
  guint i;

  if (lines[0] == NULL)
    return FALSE;
  request = g_strsplit (lines[0], " ", 3);
  if (g_strv_length (request) != 3)
    return FALSE;
  self->method = g_ascii_strup (request[0], -1);
  self->path = g_strdup (request[1]);

  for (i = 1; lines[i] != NULL; i++)
    {
      const gchar *colon = strchr (lines[i], ':');

      if (colon == NULL)
        return FALSE;
      g_hash_table_insert (self->headers,
                           g_ascii_strdown (lines[i], colon - lines[i]),
                           g_strstrip (g_strdup (colon + 1)));
    }
  return TRUE;
}

static void
handle_request (TestHttpHandler *self,
                const guint8    *body,
                gsize            body_length)
{
  if (g_str_equal (self->method, "POST"))
    {
      respond (self, "200 OK", body, body_length);   /* echo the body */
      return;
    }
  {
    g_autofree gchar *text = g_strdup_printf ("%s %s", self->method, self->path);

    respond (self, "200 OK", (const guint8 *) text, strlen (text));
  }
}

static void
test_http_handler_data_collected (AchatChannel *channel,
                                  GBytes       *data)
{
  TestHttpHandler *self = TEST_HTTP_HANDLER (channel);

  g_byte_array_append (self->ibuffer, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
}

static void
test_http_handler_terminator_found (AchatChannel *channel,
                                    GBytes       *message)
{
  TestHttpHandler *self = TEST_HTTP_HANDLER (channel);

  /* Our own buffer has it all; the default one was never filled. */
  g_assert_cmpuint (g_bytes_get_size (message), ==, 0);

  if (self->reading_headers)
    {
      g_autofree gchar *text = NULL;

      self->reading_headers = FALSE;
      text = g_strndup ((const gchar *) self->ibuffer->data, self->ibuffer->len);
      g_byte_array_set_size (self->ibuffer, 0);

      if (!parse_headers (self, text))
        {
          respond (self, "400 Bad Request", NULL, 0);
          return;
        }

      if (g_str_equal (self->method, "POST"))
        {
          const gchar *clen = g_hash_table_lookup (self->headers, "content-length");
          gchar *end = NULL;
          guint64 length;

          if (clen == NULL || (length = g_ascii_strtoull (clen, &end, 10), *end != '\0'))
            {
              respond (self, "411 Length Required", NULL, 0);
              return;
            }
          if (length == 0)
            handle_request (self, NULL, 0);
          else
            achat_channel_set_terminator_count (channel, length);
        }
      else
        handle_request (self, NULL, 0);
    }
  else if (!self->handling)
    handle_request (self, self->ibuffer->data, self->ibuffer->len);
}

static void
test_http_handler_finalize (GObject *object)
{
  TestHttpHandler *self = TEST_HTTP_HANDLER (object);

  g_byte_array_unref (self->ibuffer);
  g_hash_table_unref (self->headers);
  g_free (self->method);
  g_free (self->path);

  G_OBJECT_CLASS (test_http_handler_parent_class)->finalize (object);
}

static void
test_http_handler_class_init (TestHttpHandlerClass *klass)
{
  AchatChannelClass *channel_class = ACHAT_CHANNEL_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = test_http_handler_finalize;
  channel_class->data_collected = test_http_handler_data_collected;
  channel_class->terminator_found = test_http_handler_terminator_found;
}

static void
test_http_handler_init (TestHttpHandler *self)
{
  self->ibuffer = g_byte_array_new ();
  self->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->reading_headers = TRUE;
  achat_channel_set_terminator (ACHAT_CHANNEL (self), (const guint8 *) "\r\n\r\n", 4);
}

/* Test harness ------------------------------------------------------------- */

typedef struct
{
  AchatServer *server;
  guint16 port;
} Fixture;

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  fixture->server = test_loopback_server (TEST_TYPE_HTTP_HANDLER, &fixture->port);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_socket_service_stop (G_SOCKET_SERVICE (fixture->server));
  g_clear_object (&fixture->server);
}

/* Sends @request in pieces of @piece bytes (0: all at once), letting the
 * server run between pieces, then reads the response until the server
 * closes the connection. */
static GByteArray *
exchange (Fixture      *fixture,
          const guint8 *request,
          gsize         length,
          gsize         piece)
{
  g_autoptr(GSocket) client = test_tcp_connect (fixture->port);
  GByteArray *response = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  gsize sent = 0;

  if (piece == 0)
    piece = length;

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      guint8 buffer[4096];
      gssize n;

      if (sent < length)
        {
          n = g_socket_send (client, (const gchar *) request + sent, MIN (piece, length - sent), NULL, &error);
          if (n > 0)
            sent += n;
          else
            g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
          g_clear_error (&error);
          test_spin_for (1);
        }

      n = g_socket_receive (client, (gchar *) buffer, sizeof buffer, NULL, &error);
      if (n > 0)
        g_byte_array_append (response, buffer, n);
      else if (n == 0)
        break;
      else
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);

      if (g_get_monotonic_time () > deadline)
        g_error ("timed out waiting for the HTTP response");
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
    }

  return response;
}

static void
assert_response (GByteArray   *response,
                 const gchar  *status,
                 const guint8 *body,
                 gsize         body_length)
{
  g_autofree gchar *head = g_strdup_printf ("HTTP/1.0 %s\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
                                            status, body_length);
  gsize head_length = strlen (head);

  g_assert_cmpuint (response->len, ==, head_length + body_length);
  g_assert_cmpmem (response->data, head_length, head, head_length);
  g_assert_cmpmem (response->data + head_length, body_length, body, body_length);
}

static void
test_http_get (Fixture       *fixture,
               gconstpointer  data)
{
  static const gchar request[] = "GET /index.html HTTP/1.0\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n";
  g_autoptr(GByteArray) response = exchange (fixture, (const guint8 *) request, strlen (request), 0);

  assert_response (response, "200 OK", (const guint8 *) "GET /index.html", 15);
}

/* A binary body with NULs and "\r\n\r\n" in it: the count terminator must
 * not look for the header terminator inside it. */
static GByteArray *
make_post (gsize       body_length,
           GByteArray **body_out)
{
  GByteArray *body = g_byte_array_sized_new (body_length);
  GByteArray *request = g_byte_array_new ();
  g_autofree gchar *head = NULL;
  gsize i;

  for (i = 0; i < body_length; i++)
    {
      guint8 c = (guint8) ((i * 31 + 7) % 251);

      if (i % 97 < 4)
        c = "\r\n\r\n"[i % 97];
      g_byte_array_append (body, &c, 1);
    }
  head = g_strdup_printf ("POST /submit HTTP/1.0\r\nContent-Type: application/octet-stream\r\n"
                          "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n", body_length);
  g_byte_array_append (request, (const guint8 *) head, strlen (head));
  g_byte_array_append (request, body->data, body->len);
  *body_out = body;
  return request;
}

static void
test_http_post (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GByteArray) body = NULL;
  g_autoptr(GByteArray) request = make_post (1000, &body);
  g_autoptr(GByteArray) response = exchange (fixture, request->data, request->len, 0);

  assert_response (response, "200 OK", body->data, body->len);
}

static void
test_http_post_bytewise (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GByteArray) body = NULL;
  g_autoptr(GByteArray) request = make_post (300, &body);
  g_autoptr(GByteArray) response = exchange (fixture, request->data, request->len, 1);

  assert_response (response, "200 OK", body->data, body->len);
}

static void
test_http_post_large (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GByteArray) body = NULL;
  g_autoptr(GByteArray) request = make_post (3 * 1024 * 1024 + 17, &body);
  g_autoptr(GByteArray) response = exchange (fixture, request->data, request->len, 65536);

  assert_response (response, "200 OK", body->data, body->len);
}

static void
test_http_post_oversend (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GByteArray) body = NULL;
  g_autoptr(GByteArray) request = make_post (64, &body);
  g_autoptr(GByteArray) response = NULL;

  /* Bytes after the body are ignored (no terminator is set). */
  g_byte_array_append (request, (const guint8 *) "\r\n\r\nGET / HTTP/1.0\r\n\r\n", 22);
  response = exchange (fixture, request->data, request->len, 0);
  assert_response (response, "200 OK", body->data, body->len);
}

static void
test_http_post_no_length (Fixture       *fixture,
                          gconstpointer  data)
{
  static const gchar request[] = "POST / HTTP/1.0\r\nHost: x\r\n\r\nbody";
  g_autoptr(GByteArray) response = exchange (fixture, (const guint8 *) request, strlen (request), 0);

  assert_response (response, "411 Length Required", NULL, 0);
}

static void
test_http_empty_post (Fixture       *fixture,
                      gconstpointer  data)
{
  static const gchar request[] = "POST / HTTP/1.0\r\nContent-Length: 0\r\n\r\n";
  g_autoptr(GByteArray) response = exchange (fixture, (const guint8 *) request, strlen (request), 0);

  assert_response (response, "200 OK", NULL, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/http/get", Fixture, NULL, fixture_setup, test_http_get, fixture_teardown);
  g_test_add ("/http/post", Fixture, NULL, fixture_setup, test_http_post, fixture_teardown);
  g_test_add ("/http/post-bytewise", Fixture, NULL, fixture_setup, test_http_post_bytewise, fixture_teardown);
  g_test_add ("/http/post-large", Fixture, NULL, fixture_setup, test_http_post_large, fixture_teardown);
  g_test_add ("/http/post-oversend", Fixture, NULL, fixture_setup, test_http_post_oversend, fixture_teardown);
  g_test_add ("/http/post-no-length", Fixture, NULL, fixture_setup, test_http_post_no_length, fixture_teardown);
  g_test_add ("/http/post-empty", Fixture, NULL, fixture_setup, test_http_empty_post, fixture_teardown);

  return g_test_run ();
}
