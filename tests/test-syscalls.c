/* test-syscalls.c: how many system calls the channel makes, and what it
 * does when the system refuses one
 *
 * Specifies: achat/achat-channel.c and achat/achat-poller.c (system calls)
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The test program defines sendmsg(), recv() and epoll_ctl(), which take
 * precedence over libc's for the library too (achat-poller.c,
 * achat-channel.c), counts the calls on the channel's socket and forwards
 * them, or makes epoll_ctl() fail as it does past the user's
 * max_user_watches. Counting calls, not time, keeps the test exact.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test-util.h"

static int counted_fd = -1;
static guint n_sendmsg;
static guint n_recv;

/* epoll_ctl() fails with ENOSPC for this descriptor and operation. */
static int refused_fd = -1;
static int refused_op = -1;
static guint n_refused;

int epoll_ctl (int epfd, int op, int fd, struct epoll_event *event);

int
epoll_ctl (int                 epfd,
           int                 op,
           int                 fd,
           struct epoll_event *event)
{
  static int (*real_epoll_ctl) (int, int, int, struct epoll_event *);

  if (real_epoll_ctl == NULL)
    real_epoll_ctl = dlsym (RTLD_NEXT, "epoll_ctl");
  if (fd == refused_fd && op == refused_op)
    {
      n_refused++;
      errno = ENOSPC;
      return -1;
    }
  return real_epoll_ctl (epfd, op, fd, event);
}

ssize_t sendmsg (int sockfd, const struct msghdr *msg, int flags);
ssize_t recv (int sockfd, void *buf, size_t len, int flags);

ssize_t
sendmsg (int                  sockfd,
         const struct msghdr *msg,
         int                  flags)
{
  static ssize_t (*real_sendmsg) (int, const struct msghdr *, int);

  if (real_sendmsg == NULL)
    real_sendmsg = dlsym (RTLD_NEXT, "sendmsg");
  if (sockfd == counted_fd)
    n_sendmsg++;
  return real_sendmsg (sockfd, msg, flags);
}

ssize_t
recv (int     sockfd,
      void   *buf,
      size_t  len,
      int     flags)
{
  static ssize_t (*real_recv) (int, void *, size_t, int);

  if (real_recv == NULL)
    real_recv = dlsym (RTLD_NEXT, "recv");
  if (sockfd == counted_fd)
    n_recv++;
  return real_recv (sockfd, buf, len, flags);
}

static AchatChannel *
counted_channel (int *peer)
{
  g_autoptr(GSocket) socket = test_socket_pair (peer);
  AchatChannel *channel = achat_channel_new (socket);

  counted_fd = g_socket_get_fd (socket);
  n_sendmsg = 0;
  n_recv = 0;
  return channel;
}

static void
finish (AchatChannel *channel,
        int           peer)
{
  achat_channel_close (channel);
  g_object_unref (channel);
  close (peer);
  counted_fd = -1;
}

typedef struct
{
  AchatChannel *channel;
  guint64 bytes;
} SentWait;

static gboolean
sent_all (gpointer user_data)
{
  SentWait *wait = user_data;

  return achat_channel_get_bytes_sent (wait->channel) >= wait->bytes;
}

/* Many pushes between two main loop iterations leave in one write. */
static void
test_pushes_coalesce (void)
{
  int peer;
  AchatChannel *channel = counted_channel (&peer);
  g_autoptr(GByteArray) got = NULL;
  GString *expected = g_string_new (NULL);
  SentWait wait = { channel, 0 };
  guint i;

  for (i = 0; i < 100; i++)
    {
      g_autofree gchar *record = g_strdup_printf ("record %03u\n", i);

      g_assert_true (achat_channel_push (channel, (const guint8 *) record, strlen (record)));
      g_string_append (expected, record);
    }
  /* A few GBytes too, which go into the vector without a copy. */
  for (i = 0; i < 10; i++)
    {
      g_autoptr(GBytes) big = g_bytes_new_take (g_strnfill (1000, 'a' + i), 1000);

      g_assert_true (achat_channel_push_bytes (channel, big));
      g_string_append_len (expected, g_bytes_get_data (big, NULL), 1000);
    }

  wait.bytes = expected->len;
  test_spin_until (sent_all, &wait);
  g_assert_cmpuint (n_sendmsg, ==, 1);

  got = test_peer_read (peer, expected->len);
  g_assert_cmpmem (got->data, got->len, expected->str, expected->len);

  g_string_free (expected, TRUE);
  finish (channel, peer);
}

/* Replies pushed by handlers while a read is processed leave together. */
static void
on_line_reply (AchatChannel *channel,
               GBytes       *line,
               gpointer      user_data)
{
  achat_channel_push (channel, (const guint8 *) "ok ", 3);
  achat_channel_push_bytes (channel, line);
  achat_channel_push (channel, (const guint8 *) "\n", 1);
}

static void
test_replies_coalesce (void)
{
  int peer;
  AchatChannel *channel = counted_channel (&peer);
  g_autoptr(GByteArray) got = NULL;
  GString *input = g_string_new (NULL);
  GString *expected = g_string_new (NULL);
  SentWait wait = { channel, 0 };
  guint i;

  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (on_line_reply), NULL);

  for (i = 0; i < 500; i++)
    {
      g_string_append_printf (input, "line %u\n", i);
      g_string_append_printf (expected, "ok line %u\n", i);
    }

  /* One read of 500 lines: 1500 pushes, one write. */
  test_feed (channel, peer, input->str, input->len);
  wait.bytes = expected->len;
  test_spin_until (sent_all, &wait);
  g_assert_cmpuint (n_recv, ==, 1);
  g_assert_cmpuint (n_sendmsg, ==, 1);

  got = test_peer_read (peer, expected->len);
  g_assert_cmpmem (got->data, got->len, expected->str, expected->len);

  g_string_free (input, TRUE);
  g_string_free (expected, TRUE);
  finish (channel, peer);
}

/* O1: a producer with small chunks still fills one vectored write per
 * 64 chunks, not one write per chunk. */
static void
test_producer_chunks_coalesce (void)
{
  int peer;
  AchatChannel *channel = counted_channel (&peer);
  g_autoptr(GByteArray) got = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autoptr(AchatSimpleProducer) producer = NULL;
  SentWait wait = { channel, 0 };
  guint8 *pattern = g_malloc (64 * 100);
  gsize i;

  for (i = 0; i < 64 * 100; i++)
    pattern[i] = (guint8) (i * 31 + 7);
  data = g_bytes_new_take (pattern, 64 * 100);
  producer = achat_simple_producer_new (data, 100);   /* 64 chunks */

  achat_channel_push_with_producer (channel, ACHAT_PRODUCER (producer));
  wait.bytes = g_bytes_get_size (data);
  test_spin_until (sent_all, &wait);
  g_assert_cmpuint (n_sendmsg, ==, 1);

  got = test_peer_read (peer, g_bytes_get_size (data));
  g_assert_cmpmem (got->data, got->len, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
  finish (channel, peer);
}

/* A message that arrives in many reads is not rescanned from its start:
 * the number of reads is what the bytes need, and all of them are found. */
static void
test_fragmented_frame_reads (void)
{
  int peer;
  AchatChannel *channel = counted_channel (&peer);
  g_autoptr(TestRecorder) recorder = test_recorder_new (channel, FALSE);
  guint8 piece[1000];
  guint i;

  memset (piece, 'x', sizeof piece);
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  for (i = 0; i < 200; i++)
    test_feed (channel, peer, piece, sizeof piece);
  test_feed (channel, peer, "\r\n", 2);

  g_assert_cmpuint (n_recv, ==, 201);
  g_assert_cmpuint (recorder->n_found, ==, 1);
  g_assert_cmpuint (recorder->log->len, ==, strlen ("T()") + 200 * 1000);
  finish (channel, peer);
}

/* The system refuses to watch the socket ------------------------------- */

static void
on_refused_closed (AchatChannel *channel,
                   const GError *error,
                   gpointer      user_data)
{
  GError **closed_with = user_data;

  g_assert_null (*closed_with);
  *closed_with = error != NULL ? g_error_copy (error)
                               : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "no error");
}

static gboolean
error_is_set (gpointer user_data)
{
  return *(GError **) user_data != NULL;
}

/* epoll_ctl() refuses the socket when the channel is made (ADD), or when it
 * first asks for input (MOD): the channel closes with the system's error,
 * on the next iteration, with no critical (these are fatal here) and no
 * channel left waiting for events that cannot come. */
static void
test_epoll_refused (gconstpointer data)
{
  int op = GPOINTER_TO_INT (data);
  int peer;
  g_autoptr(GSocket) socket = test_socket_pair (&peer);
  g_autoptr(GError) closed_with = NULL;
  AchatChannel *channel;

  refused_fd = g_socket_get_fd (socket);
  refused_op = op;
  n_refused = 0;
  channel = achat_channel_new (socket);
  g_signal_connect (channel, "closed", G_CALLBACK (on_refused_closed), &closed_with);
  g_assert_true (achat_channel_push (channel, (const guint8 *) "hi\r\n", 4));
  test_spin_until (error_is_set, &closed_with);
  refused_fd = -1;

  g_assert_cmpuint (n_refused, ==, 1);
  g_assert_error (closed_with, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (closed_with->message, op == EPOLL_CTL_ADD ? "epoll_ctl(ADD)"
                                                                       : "epoll_ctl(MOD)"));
  g_assert_true (achat_channel_is_closed (channel));
  /* What was queued was dropped and is counted. */
  g_assert_cmpuint (achat_channel_get_unsent_bytes (channel), ==, 4);
  g_object_unref (channel);
  close (peer);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/syscalls/pushes-coalesce", test_pushes_coalesce);
  g_test_add_func ("/syscalls/replies-coalesce", test_replies_coalesce);
  g_test_add_func ("/syscalls/producer-chunks-coalesce", test_producer_chunks_coalesce);
  g_test_add_func ("/syscalls/fragmented-frame-reads", test_fragmented_frame_reads);
  g_test_add_data_func ("/syscalls/epoll-refused/at-creation",
                        GINT_TO_POINTER (EPOLL_CTL_ADD), test_epoll_refused);
  g_test_add_data_func ("/syscalls/epoll-refused/at-interest",
                        GINT_TO_POINTER (EPOLL_CTL_MOD), test_epoll_refused);

  return g_test_run ();
}
