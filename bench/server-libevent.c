/* server-libevent.c: the libevent 2 contender of the benchmark
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: server-libevent PORT
 *
 * Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
 * `listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.
 *
 * Written as a libevent user would: an evconnlistener and one bufferevent
 * per connection, evbuffer_readln() for lines, evbuffer_peek() and
 * evbuffer_drain() for frame bodies, and a GET stream fed in 64 KiB chunks
 * from the write callback as the output buffer drains below its low
 * watermark. While a GET streams, input is not parsed, so that replies to
 * later commands follow the stream.
 */

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "bench-protocol.h"

#define CHUNK_SIZE (64 * 1024)
/* Refill the output when it drops to this, up to HIGH_OUTPUT. */
#define LOW_OUTPUT CHUNK_SIZE
#define HIGH_OUTPUT (4 * CHUNK_SIZE)

/* Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
 * chunk of a stream starting at 0 is this same block. */
static unsigned char pattern_block[CHUNK_SIZE];

enum mode
{
  MODE_COMMAND,
  MODE_LINES,
  MODE_FRAME_HEADER,
  MODE_FRAME_BODY,
};

struct conn
{
  struct bufferevent *bev;
  enum mode mode;
  uint64_t lines;
  uint64_t line_bytes;
  uint64_t frames;
  uint64_t frame_bytes;
  uint32_t sum;
  uint64_t body_remaining;
  uint64_t get_remaining;
  int streaming;
  int eof;
};

static void process_input (struct conn *conn);

static void
pattern_init (void)
{
  bench_pattern_fill (pattern_block, CHUNK_SIZE);
}

static void
conn_free (struct conn *conn)
{
  bufferevent_free (conn->bev);
  free (conn);
}

static void
reply (struct conn *conn, const char *text, size_t length)
{
  evbuffer_add (bufferevent_get_output (conn->bev), text, length);
}

/* Tops the output up to HIGH_OUTPUT with chunks of the GET stream. Returns
 * 1 once the stream is entirely queued. */
static int
stream_fill (struct conn *conn)
{
  struct evbuffer *output = bufferevent_get_output (conn->bev);

  while (conn->get_remaining > 0 && evbuffer_get_length (output) < HIGH_OUTPUT)
    {
      size_t length = conn->get_remaining < CHUNK_SIZE
                      ? (size_t) conn->get_remaining : CHUNK_SIZE;

      /* The block is static: no copy and no cleanup. */
      evbuffer_add_reference (output, pattern_block, length, NULL, NULL);
      conn->get_remaining -= length;
    }
  return conn->get_remaining == 0;
}

static void
stream_start (struct conn *conn, uint64_t n)
{
  if (n == 0)
    return;
  conn->get_remaining = n;
  if (stream_fill (conn))
    return;
  /* More to come: wait for the write callback before reading on. */
  conn->streaming = 1;
  bufferevent_setwatermark (conn->bev, EV_WRITE, LOW_OUTPUT, 0);
  bufferevent_disable (conn->bev, EV_READ);
}

static void
handle_command (struct conn *conn, const char *line, size_t length)
{
  uint64_t n;

  if (length >= 5 && memcmp (line, "PING ", 5) == 0)
    {
      struct evbuffer *output = bufferevent_get_output (conn->bev);

      evbuffer_add (output, "PONG ", 5);
      evbuffer_add (output, line + 5, length - 5);
      evbuffer_add (output, "\r\n", 2);
    }
  else if (length == 5 && memcmp (line, "LINES", 5) == 0)
    {
      conn->mode = MODE_LINES;
      conn->lines = 0;
      conn->line_bytes = 0;
    }
  else if (length == 6 && memcmp (line, "FRAMES", 6) == 0)
    {
      conn->mode = MODE_FRAME_HEADER;
      conn->frames = 0;
      conn->frame_bytes = 0;
      conn->sum = 0;
    }
  else if (length >= 4 && memcmp (line, "GET ", 4) == 0 &&
           bench_parse_u64 (line + 4, length - 4, &n))
    {
      stream_start (conn, n);
    }
  else
    {
      reply (conn, "ERR\r\n", 5);
    }
}

static void
handle_line (struct conn *conn, const char *line, size_t length)
{
  char text[128];
  uint64_t n;
  int text_length;

  switch (conn->mode)
    {
    case MODE_COMMAND:
      handle_command (conn, line, length);
      break;

    case MODE_LINES:
      if (length == 4 && memcmp (line, "QUIT", 4) == 0)
        {
          text_length = snprintf (text, sizeof text,
                                  "OK %" PRIu64 " %" PRIu64 "\r\n",
                                  conn->lines, conn->line_bytes);
          reply (conn, text, (size_t) text_length);
          conn->mode = MODE_COMMAND;
        }
      else
        {
          conn->lines++;
          conn->line_bytes += length;
        }
      break;

    case MODE_FRAME_HEADER:
      if (!bench_parse_u64 (line, length, &n))
        {
          reply (conn, "ERR\r\n", 5);
          conn->mode = MODE_COMMAND;
        }
      else if (n == 0)
        {
          text_length = snprintf (text, sizeof text,
                                  "OK %" PRIu64 " %" PRIu64 " %" PRIu32 "\r\n",
                                  conn->frames, conn->frame_bytes, conn->sum);
          reply (conn, text, (size_t) text_length);
          conn->mode = MODE_COMMAND;
        }
      else
        {
          conn->body_remaining = n;
          conn->mode = MODE_FRAME_BODY;
        }
      break;

    case MODE_FRAME_BODY:
    default:
      abort ();
    }
}

/* Sums and drains what is available of the current frame body. */
static void
consume_body (struct conn *conn, struct evbuffer *input)
{
  size_t available = evbuffer_get_length (input);
  size_t length = conn->body_remaining < available
                  ? (size_t) conn->body_remaining : available;
  struct evbuffer_iovec vec[16];
  size_t done = 0;

  while (done < length)
    {
      struct evbuffer_ptr ptr;
      int n, i;

      evbuffer_ptr_set (input, &ptr, done, EVBUFFER_PTR_SET);
      n = evbuffer_peek (input, (ev_ssize_t) (length - done), &ptr, vec, 16);
      if (n > 16)
        n = 16;
      for (i = 0; i < n && done < length; i++)
        {
          const unsigned char *p = vec[i].iov_base;
          size_t len = vec[i].iov_len;

          if (len > length - done)
            len = length - done;
          conn->sum += bench_sum_bytes (p, len);
          done += len;
        }
    }
  evbuffer_drain (input, length);
  conn->body_remaining -= length;
  conn->frame_bytes += length;
  if (conn->body_remaining == 0)
    {
      conn->frames++;
      conn->mode = MODE_FRAME_HEADER;
    }
}

static void
process_input (struct conn *conn)
{
  struct evbuffer *input = bufferevent_get_input (conn->bev);

  while (!conn->streaming)
    {
      if (conn->mode == MODE_FRAME_BODY)
        {
          if (evbuffer_get_length (input) == 0)
            break;
          consume_body (conn, input);
        }
      else
        {
          size_t length;
          char *line = evbuffer_readln (input, &length, EVBUFFER_EOL_CRLF_STRICT);

          if (line == NULL)
            break;
          handle_line (conn, line, length);
          free (line);
        }
    }
}

static void
read_cb (struct bufferevent *bev, void *user_data)
{
  (void) bev;
  process_input (user_data);
}

static void
write_cb (struct bufferevent *bev, void *user_data)
{
  struct conn *conn = user_data;

  if (conn->streaming)
    {
      if (!stream_fill (conn))
        return;
      conn->streaming = 0;
      bufferevent_setwatermark (bev, EV_WRITE, 0, 0);
      if (!conn->eof)
        {
          bufferevent_enable (bev, EV_READ);
          process_input (conn);
        }
      return;
    }
  /* Called with an empty output (watermark 0): done after an EOF. */
  if (conn->eof && evbuffer_get_length (bufferevent_get_output (bev)) == 0)
    conn_free (conn);
}

static void
event_cb (struct bufferevent *bev, short events, void *user_data)
{
  struct conn *conn = user_data;

  if (events & BEV_EVENT_ERROR)
    {
      conn_free (conn);
      return;
    }
  if (events & BEV_EVENT_EOF)
    {
      /* Answer what was received, then close once it is written. */
      process_input (conn);
      conn->eof = 1;
      bufferevent_disable (bev, EV_READ);
      if (!conn->streaming &&
          evbuffer_get_length (bufferevent_get_output (bev)) == 0)
        conn_free (conn);
    }
}

static void
accept_cb (struct evconnlistener *listener, evutil_socket_t fd,
           struct sockaddr *address, int socklen, void *user_data)
{
  struct event_base *base = evconnlistener_get_base (listener);
  struct conn *conn = calloc (1, sizeof *conn);

  (void) address;
  (void) socklen;
  (void) user_data;

  if (conn == NULL)
    {
      evutil_closesocket (fd);
      return;
    }
  conn->bev = bufferevent_socket_new (base, fd, BEV_OPT_CLOSE_ON_FREE);
  if (conn->bev == NULL)
    {
      evutil_closesocket (fd);
      free (conn);
      return;
    }
  /* Read and write up to 64 KiB per call, as achat does (the default is
   * 16 KiB). */
  bufferevent_set_max_single_read (conn->bev, CHUNK_SIZE);
  bufferevent_set_max_single_write (conn->bev, CHUNK_SIZE);
  bufferevent_setcb (conn->bev, read_cb, write_cb, event_cb, conn);
  bufferevent_enable (conn->bev, EV_READ | EV_WRITE);
}

static void
signal_cb (evutil_socket_t sig, short events, void *user_data)
{
  (void) sig;
  (void) events;
  event_base_loopbreak (user_data);
}

int
main (int argc, char **argv)
{
  struct event_base *base;
  struct evconnlistener *listener;
  struct event *sigterm, *sigint;
  struct sockaddr_in sin;
  socklen_t sin_length = sizeof sin;
  char *end;
  unsigned long port;

  if (argc != 2)
    {
      fprintf (stderr, "usage: %s PORT\n", argv[0]);
      return 2;
    }
  port = strtoul (argv[1], &end, 10);
  if (*argv[1] == '\0' || *end != '\0' || port > 65535)
    {
      fprintf (stderr, "usage: %s PORT\n", argv[0]);
      return 2;
    }

  signal (SIGPIPE, SIG_IGN);
  pattern_init ();

  base = event_base_new ();
  if (base == NULL)
    {
      fprintf (stderr, "event_base_new failed\n");
      return 1;
    }

  memset (&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  sin.sin_port = htons ((uint16_t) port);
  listener = evconnlistener_new_bind (base, accept_cb, NULL,
                                      LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                      -1, (struct sockaddr *) &sin, sizeof sin);
  if (listener == NULL)
    {
      perror ("listen");
      return 1;
    }
  if (getsockname (evconnlistener_get_fd (listener),
                   (struct sockaddr *) &sin, &sin_length) < 0)
    {
      perror ("getsockname");
      return 1;
    }

  sigterm = evsignal_new (base, SIGTERM, signal_cb, base);
  sigint = evsignal_new (base, SIGINT, signal_cb, base);
  event_add (sigterm, NULL);
  event_add (sigint, NULL);

  printf ("listening on 127.0.0.1:%u\n", (unsigned) ntohs (sin.sin_port));
  fflush (stdout);

  event_base_dispatch (base);

  event_free (sigterm);
  event_free (sigint);
  evconnlistener_free (listener);
  event_base_free (base);
  return 0;
}
