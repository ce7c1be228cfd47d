/* consumer.c: a program using achat, to check that a consumer project
 * builds against it (tests/test-consumer.py): one line through a channel.
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <achat/achat.h>

/* achat's include path gives <achat/...> and nothing else: not its
 * config.h, not its headers without the achat/ prefix... */
#if __has_include ("config.h")
# error "achat's include path gives a config.h"
#endif
#if __has_include ("achat-poller-private.h") || __has_include ("achat-channel.h")
# error "achat's include path gives its headers without achat/"
#endif
/* ...nor its private headers, its sources or the rest of its tree. */
#if __has_include (<achat/achat-poller-private.h>) || __has_include (<achat/achat-channel.c>)
# error "achat's include path gives its private headers or sources"
#endif
#if __has_include (<tests/test-util.h>) || __has_include (<build-aux/config.h>)
# error "achat's include path gives the rest of its source or build tree"
#endif
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
on_line (AchatChannel *channel,
         GBytes       *line,
         gpointer      user_data)
{
  gsize length;
  const char *data = g_bytes_get_data (line, &length);

  *(gboolean *) user_data = length == 5 && memcmp (data, "hello", 5) == 0;
}

int
main (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(AchatChannel) channel = NULL;
  gboolean got = FALSE;
  int fds[2];
  guint i;

  if (socketpair (AF_UNIX, SOCK_STREAM, 0, fds) != 0)
    return 2;
  socket = g_socket_new_from_fd (fds[0], NULL);
  channel = achat_channel_new (socket);
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line), &got);
  if (write (fds[1], "hello\n", 6) != 6)
    return 2;
  for (i = 0; i < 1000 && !got; i++)
    g_main_context_iteration (NULL, TRUE);
  g_print ("achat %s: %s\n", ACHAT_VERSION_S, got ? "ok" : "no line");
  achat_channel_close (channel);
  close (fds[1]);
  return got ? 0 : 1;
}
