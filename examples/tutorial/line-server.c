/* line-server.c: the tutorial's line server, in C
 *
 * Usage: line-server [PORT]   (0 or nothing: a port the kernel picks)
 *
 * Replies "you said: LINE" to every "\r\n"-terminated line, and "bye" to
 * QUIT, then closes. docs/tutorial.md shows this file, piece by piece.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib-unix.h>
#include <achat/achat.h>

/* snippet-begin handler */
static void
on_line (AchatChannel *channel,
         GBytes       *line,
         gpointer      user_data)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (line, &length);

  if (length == 4 && memcmp (data, "QUIT", 4) == 0)
    {
      achat_channel_push (channel, (const guint8 *) "bye\r\n", 5);
      achat_channel_close_when_done (channel);
      return;
    }
  achat_channel_push (channel, (const guint8 *) "you said: ", 10);
  achat_channel_push_bytes (channel, line);
  achat_channel_push (channel, (const guint8 *) "\r\n", 2);
}

static void
on_accepted (AchatServer  *server,
             AchatChannel *channel,
             gpointer      user_data)
{
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line), NULL);
}
/* snippet-end handler */

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  guint port = argc > 1 ? (guint) atoi (argv[1]) : 0;

  /* snippet-begin server */
  g_autoptr(AchatServer) server = achat_server_new (ACHAT_TYPE_CHANNEL);

  g_signal_connect (server, "channel-accepted", G_CALLBACK (on_accepted), NULL);
  address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &bound, &error))
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGTERM, quit_loop, loop);
  g_unix_signal_add (SIGINT, quit_loop, loop);
  printf ("listening on 127.0.0.1:%u\n",
          g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  fflush (stdout);

  g_socket_service_start (G_SOCKET_SERVICE (server));
  g_main_loop_run (loop);
  /* snippet-end server */
  return 0;
}
