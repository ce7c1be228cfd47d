/* test-util.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-util.h"

gint
test_timeout_ms (void)
{
  return g_getenv ("ACHAT_TEST_MEMORY_TOOL") != NULL ? 60000 : 10000;
}

gboolean
test_iterate (void)
{
  /* NULL would mean the global default context, not the thread-default
   * one that channels made in this thread run on. */
  return g_main_context_iteration (g_main_context_get_thread_default (), FALSE);
}

void
test_spin_until (TestCondition condition,
                 gpointer      user_data)
{
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  while (!condition (user_data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("timed out after %d ms waiting for a condition", TEST_TIMEOUT_MS);
      /* Block at most briefly, so the deadline is checked. */
      if (!test_iterate ())
        g_usleep (200);
    }
}

void
test_spin_for (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < end)
    if (!test_iterate ())
      g_usleep (200);
}

GSocket *
test_socket_pair (int *peer_fd)
{
  g_autoptr(GError) error = NULL;
  GSocket *socket;
  int fds[2];

  g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
  g_assert_no_errno (fcntl (fds[1], F_SETFL, O_NONBLOCK));
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  *peer_fd = fds[1];
  return socket;
}

AchatServer *
test_loopback_server (GType    channel_type,
                      guint16 *port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  AchatServer *server = achat_server_new (channel_type);

  g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_assert_cmpuint (*port, >, 0);
  g_socket_service_start (G_SOCKET_SERVICE (server));
  return server;
}

GSocket *
test_tcp_connect (guint16 port)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  GSocket *socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &error);

  g_assert_no_error (error);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);
  g_socket_set_blocking (socket, FALSE);
  return socket;
}

void
test_peer_write (int         peer_fd,
                 const void *data,
                 gsize       length)
{
  const guint8 *p = data;
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  while (length > 0)
    {
      gssize n = write (peer_fd, p, length);

      if (n < 0)
        {
          g_assert_true (errno == EAGAIN || errno == EINTR);
          if (g_get_monotonic_time () > deadline)
            g_error ("timed out writing to the peer");
          if (!test_iterate ())
            g_usleep (200);
          continue;
        }
      p += n;
      length -= n;
    }
}

typedef struct
{
  AchatChannel *channel;
  guint64 target;
} FeedWait;

static gboolean
received_enough (gpointer user_data)
{
  FeedWait *wait = user_data;

  return achat_channel_is_closed (wait->channel) ||
         achat_channel_get_bytes_received (wait->channel) >= wait->target;
}

void
test_feed (AchatChannel *channel,
           int           peer_fd,
           const void   *data,
           gsize         length)
{
  FeedWait wait = { channel, achat_channel_get_bytes_received (channel) + length };

  test_peer_write (peer_fd, data, length);
  test_spin_until (received_enough, &wait);
}

GByteArray *
test_peer_read (int   peer_fd,
                gsize length)
{
  GByteArray *array = g_byte_array_new ();
  gint64 deadline = g_get_monotonic_time () + TEST_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  while (array->len < length)
    {
      guint8 buffer[65536];
      gsize want = MIN (sizeof buffer, length - array->len);
      gssize n = read (peer_fd, buffer, want);

      if (n > 0)
        {
          g_byte_array_append (array, buffer, n);
          continue;
        }
      if (n == 0)
        {
          if (length == G_MAXSIZE)
            break;
          g_error ("peer got EOF after %u of %" G_GSIZE_FORMAT " bytes", array->len, length);
        }
      g_assert_true (errno == EAGAIN || errno == EINTR);
      if (g_get_monotonic_time () > deadline)
        g_error ("timed out reading from the peer (%u bytes so far)", array->len);
      if (!test_iterate ())
        g_usleep (200);
    }
  return array;
}

void
test_append_escaped (GString      *string,
                     const guint8 *data,
                     gsize         length)
{
  gsize i;

  for (i = 0; i < length; i++)
    {
      guint8 c = data[i];

      if (c == '\r')
        g_string_append (string, "\\r");
      else if (c == '\n')
        g_string_append (string, "\\n");
      else if (c == '\\')
        g_string_append (string, "\\\\");
      else if (c < 0x20 || c >= 0x7f)
        g_string_append_printf (string, "\\x%02x", c);
      else
        g_string_append_c (string, c);
    }
}

static void
log_event (TestRecorder *recorder,
           const gchar  *tag,
           GBytes       *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  if (recorder->log->len > 0)
    g_string_append_c (recorder->log, ' ');
  g_string_append (recorder->log, tag);
  g_string_append_c (recorder->log, '(');
  test_append_escaped (recorder->log, data, length);
  g_string_append_c (recorder->log, ')');
}

static void
on_data_collected (AchatChannel *channel,
                   GBytes       *data,
                   TestRecorder *recorder)
{
  recorder->n_collected++;
  log_event (recorder, "c", data);
}

static void
on_terminator_found (AchatChannel *channel,
                     GBytes       *message,
                     TestRecorder *recorder)
{
  recorder->n_found++;
  log_event (recorder, "T", message);
}

static void
on_closed (AchatChannel *channel,
           const GError *error,
           TestRecorder *recorder)
{
  recorder->n_closed++;
  g_clear_pointer (&recorder->collected_at_close, g_bytes_unref);
  recorder->collected_at_close = achat_channel_get_collected (channel);
  if (recorder->log->len > 0)
    g_string_append_c (recorder->log, ' ');
  if (error == NULL)
    g_string_append (recorder->log, "closed");
  else
    {
      g_string_append_printf (recorder->log, "closed(%s:%d)",
                              g_quark_to_string (error->domain), error->code);
      g_clear_error (&recorder->error);
      recorder->error = g_error_copy (error);
    }
}

TestRecorder *
test_recorder_new (AchatChannel *channel,
                   gboolean      record_collected)
{
  TestRecorder *recorder = g_new0 (TestRecorder, 1);

  recorder->channel = g_object_ref (channel);
  recorder->log = g_string_new (NULL);
  recorder->record_collected = record_collected;
  if (record_collected)
    g_signal_connect (channel, "data-collected", G_CALLBACK (on_data_collected), recorder);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_terminator_found), recorder);
  g_signal_connect (channel, "closed", G_CALLBACK (on_closed), recorder);
  return recorder;
}

void
test_recorder_free (TestRecorder *recorder)
{
  g_signal_handlers_disconnect_by_data (recorder->channel, recorder);
  g_object_unref (recorder->channel);
  g_string_free (recorder->log, TRUE);
  g_clear_error (&recorder->error);
  g_clear_pointer (&recorder->collected_at_close, g_bytes_unref);
  g_free (recorder);
}

gboolean
test_recorder_is_closed (gpointer recorder)
{
  return ((TestRecorder *) recorder)->n_closed > 0;
}

void
test_recorder_wait_closed (TestRecorder *recorder)
{
  test_spin_until (test_recorder_is_closed, recorder);
}
