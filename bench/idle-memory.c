/* idle-memory.c: what an idle channel costs
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: idle-memory [N]   (default 1000; raise `ulimit -n` for more)
 *
 * Makes N channels over socket pairs, sends each a full line and half of
 * the next one, lets them process it, and reports the growth of the
 * process's resident memory per channel. Kernel socket buffers are not
 * counted (they are not in RSS).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <achat/achat.h>

static long
rss_kib (void)
{
  g_autofree gchar *status = NULL;
  const gchar *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line ? strtol (line + 6, NULL, 10) : -1;
}

static AchatChannel *
idle_channel (int *peer)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  int fds[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    g_error ("socketpair: %s (raise ulimit -n)", g_strerror (errno));
  socket = g_socket_new_from_fd (fds[0], &error);
  g_assert_no_error (error);
  *peer = fds[1];
  return achat_channel_new (socket);
}

static void
on_line (AchatChannel *channel, GBytes *line, gpointer user_data)
{
  (*(guint *) user_data)++;
}

int
main (int    argc,
      char **argv)
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 1000;
  g_autoptr(GPtrArray) channels = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GArray) peers = g_array_new (FALSE, FALSE, sizeof (int));
  guint n_lines = 0;
  long before, after;
  guint i;
  int peer;

  /* Warm up: GLib's types, the poller and its read buffer exist once. */
  g_ptr_array_add (channels, idle_channel (&peer));
  g_array_append_val (peers, peer);
  for (i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
  before = rss_kib ();

  for (i = 0; i < n; i++)
    {
      AchatChannel *channel = idle_channel (&peer);

      achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
      g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line), &n_lines);
      g_ptr_array_add (channels, channel);
      g_array_append_val (peers, peer);
      if (write (peer, "hello\r\nwor", 10) != 10)
        g_error ("write failed");
    }
  while (n_lines < n)
    g_main_context_iteration (NULL, TRUE);
  for (i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
  after = rss_kib ();

  g_print ("%u idle channels, each holding a partial line: %ld KiB in all, %.0f bytes each\n",
           n, after - before, (after - before) * 1024.0 / n);

  for (i = 0; i < peers->len; i++)
    close (g_array_index (peers, int, i));
  return 0;
}
