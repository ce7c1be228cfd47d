/* test-util.h: helpers shared by the C tests
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <achat/achat.h>

G_BEGIN_DECLS

/* Every wait in the tests is bounded by this many milliseconds. */
/* How long a test waits for a condition: 10 s, a minute under a memory
 * tool (ACHAT_TEST_MEMORY_TOOL), where a TLS handshake alone can take
 * seconds. A safety net, not a measurement. */
#define TEST_TIMEOUT_MS (test_timeout_ms ())

gint          test_timeout_ms        (void);

typedef gboolean (*TestCondition) (gpointer user_data);

/* One non-blocking iteration of the thread-default main context. */
gboolean      test_iterate           (void);

/* Iterates the thread-default main context until @condition holds;
 * fails the test after TEST_TIMEOUT_MS. */
void          test_spin_until        (TestCondition  condition,
                                      gpointer       user_data);
/* Iterates the thread-default main context for @ms milliseconds. */
void          test_spin_for          (guint          ms);

/* A connected AF_UNIX stream socket pair: returns one end as a GSocket
 * (for a channel) and the other as a plain non-blocking fd (the peer). */
GSocket      *test_socket_pair       (int           *peer_fd);
/* A started server of @channel_type bound to 127.0.0.1 on a port the
 * kernel chose, returned in @port. */
AchatServer  *test_loopback_server   (GType          channel_type,
                                      guint16       *port);
/* A non-blocking client socket connected to 127.0.0.1:@port. */
GSocket      *test_tcp_connect       (guint16        port);

/* Writes all of @data to the peer fd (spinning the main loop while the
 * socket is full, so the channel can drain it). */
void          test_peer_write        (int            peer_fd,
                                      const void    *data,
                                      gsize          length);
/* Writes @length bytes and spins until the channel has received them all,
 * so that they arrive as one read of their own. */
void          test_feed              (AchatChannel  *channel,
                                      int            peer_fd,
                                      const void    *data,
                                      gsize          length);
/* Reads from the peer fd, spinning the main loop, until @length bytes have
 * arrived (or EOF when @length is G_MAXSIZE). */
GByteArray   *test_peer_read         (int            peer_fd,
                                      gsize          length);

/* Records what a channel emits as a string:
 *   c(abc)  data-collected with "abc"
 *   T(abc)  terminator-found with "abc"
 *   closed  closed with no error; closed(g-io-error-quark:44) with one
 * separated by spaces; \r, \n and other unprintable bytes escaped. */
typedef struct
{
  AchatChannel *channel;
  GString *log;
  guint n_collected;
  guint n_found;
  guint n_closed;
  GError *error;
  GBytes *collected_at_close;     /* achat_channel_get_collected() in closed */
  gboolean record_collected;
} TestRecorder;

/* If @record_collected, a data-collected handler is connected (so the
 * signal is emitted); otherwise only terminator-found and closed are. */
TestRecorder *test_recorder_new      (AchatChannel  *channel,
                                      gboolean       record_collected);
void          test_recorder_free     (TestRecorder  *recorder);
gboolean      test_recorder_is_closed (gpointer      recorder);
void          test_recorder_wait_closed (TestRecorder *recorder);

void          test_append_escaped    (GString       *string,
                                      const guint8  *data,
                                      gsize          length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestRecorder, test_recorder_free)

G_END_DECLS
