/*
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * server-raw: the practical ceiling for bench/PROTOCOL.md.  Plain C, no
 * GLib: one level-triggered epoll loop, non-blocking sockets, memchr to
 * find "\r\n", fixed buffers per connection (nothing allocated per
 * message).  Replies are queued in a per-connection output buffer and
 * flushed once the read batch has been processed; GET streams the pattern
 * straight from a static table as the socket accepts it.
 *
 * Usage: server-raw PORT   (0: the kernel picks)
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-protocol.h"

#define IN_CAP    (256 * 1024)         /* read buffer per connection */
#define OUT_CAP   (64 * 1024 + 256)    /* reply queue per connection */
#define CMD_MAX   (64 * 1024)          /* longest command line answered with more than ERR */
#define PAT_CHUNK (1024 * 1024)        /* GET: largest single write */
#define MAX_EVENTS 256
#define MAX_ROUNDS 16                  /* process/flush rounds per wakeup (fairness) */

enum mode { M_CMD, M_LINES, M_HDR, M_BODY };

struct conn {
  int fd;
  uint32_t events;       /* what epoll is asked for */
  enum mode mode;
  int eof;               /* peer closed its side */
  int stalled;           /* processing stopped: no room for a reply, or GET pending */
  /* input */
  size_t in_pos, in_end, scan;   /* consumed / filled / searched-without-terminator */
  uint64_t partial;              /* bytes of the current line already consumed (overlong line) */
  /* line / frame counters */
  uint64_t count, bytes, body_left;
  uint32_t sum;
  /* GET */
  uint64_t get_left, get_off;
  /* output */
  size_t out_pos, out_end;
  char out[OUT_CAP];
  char in[IN_CAP];
};

static volatile sig_atomic_t quit_flag;
static int epfd;
static unsigned char pattern[PAT_CHUNK + 256];

static void
on_signal (int sig)
{
  (void) sig;
  quit_flag = 1;
}

static void
die (const char *what)
{
  perror (what);
  exit (1);
}

static void
set_events (struct conn *c, uint32_t ev)
{
  struct epoll_event e;

  if (ev == c->events)
    return;
  e.events = ev;
  e.data.ptr = c;
  if (epoll_ctl (epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
    die ("epoll_ctl MOD");
  c->events = ev;
}

static void
conn_close (struct conn *c)
{
  epoll_ctl (epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  free (c);
}

static size_t
out_room (struct conn *c)
{
  if (c->out_pos == c->out_end)
    c->out_pos = c->out_end = 0;
  if (OUT_CAP - c->out_end < CMD_MAX / 2 && c->out_pos > 0) {
    memmove (c->out, c->out + c->out_pos, c->out_end - c->out_pos);
    c->out_end -= c->out_pos;
    c->out_pos = 0;
  }
  return OUT_CAP - c->out_end;
}

static void
out_put (struct conn *c, const char *p, size_t n)
{
  memcpy (c->out + c->out_end, p, n);
  c->out_end += n;
}

/* Formats "OK a b[ s]\r\n" into the output queue (room already checked). */
static void
reply_ok (struct conn *c, int with_sum)
{
  int n;

  if (with_sum)
    n = snprintf (c->out + c->out_end, OUT_CAP - c->out_end, "OK %llu %llu %lu\r\n",
                  (unsigned long long) c->count, (unsigned long long) c->bytes,
                  (unsigned long) c->sum);
  else
    n = snprintf (c->out + c->out_end, OUT_CAP - c->out_end, "OK %llu %llu\r\n",
                  (unsigned long long) c->count, (unsigned long long) c->bytes);
  c->out_end += (size_t) n;
}

static void
command (struct conn *c, const char *line, size_t len)
{
  uint64_t n;

  if (c->partial > 0) {            /* overlong line */
    out_put (c, "ERR\r\n", 5);
    return;
  }
  if (len >= 5 && memcmp (line, "PING ", 5) == 0 && len <= CMD_MAX) {
    out_put (c, "PONG ", 5);
    out_put (c, line + 5, len - 5);
    out_put (c, "\r\n", 2);
  } else if (len == 5 && memcmp (line, "LINES", 5) == 0) {
    c->mode = M_LINES;
    c->count = c->bytes = 0;
  } else if (len == 6 && memcmp (line, "FRAMES", 6) == 0) {
    c->mode = M_HDR;
    c->count = c->bytes = 0;
    c->sum = 0;
  } else if (len > 4 && memcmp (line, "GET ", 4) == 0 && bench_parse_u64 (line + 4, len - 4, &n)) {
    c->get_left = n;
    c->get_off = 0;
  } else {
    out_put (c, "ERR\r\n", 5);
  }
}

/* Finds "\r\n" in [start, end), searching from scan; returns the '\r' or NULL. */
static char *
find_crlf (char *start, char *scan, char *end, char **scan_out)
{
  while (scan < end) {
    char *q = memchr (scan, '\n', (size_t) (end - scan));
    if (q == NULL)
      break;
    if (q > start && q[-1] == '\r') {
      *scan_out = q + 1;
      return q - 1;
    }
    scan = q + 1;
  }
  *scan_out = end;
  return NULL;
}

/* Consumes buffered input until it runs out or a reply cannot be queued. */
static void
process (struct conn *c)
{
  c->stalled = 0;
  for (;;) {
    char *start, *end, *t, *scan;
    size_t len;

    if (c->get_left > 0) {
      c->stalled = 1;
      return;
    }
    start = c->in + c->in_pos;
    end = c->in + c->in_end;
    if (start == end)
      return;

    if (c->mode == M_BODY) {
      size_t n = (size_t) (end - start);
      if (n > c->body_left)
        n = (size_t) c->body_left;
      c->sum += bench_sum_bytes ((const unsigned char *) start, n);
      c->body_left -= n;
      c->in_pos += n;
      if (c->body_left == 0)
        c->mode = M_HDR;
      continue;
    }

    if (c->mode == M_LINES) {
      /* Hot path: count lines without leaving the loop. */
      uint64_t count = c->count, bytes = c->bytes;
      char *s = c->in + (c->scan > c->in_pos ? c->scan : c->in_pos);
      for (;;) {
        t = find_crlf (start, s, end, &scan);
        if (t == NULL)
          break;
        len = (size_t) (t - start);
        if (c->partial == 0 && len == 4 && memcmp (start, "QUIT", 4) == 0) {
          if (out_room (c) < 64) {
            c->count = count;
            c->bytes = bytes;
            c->in_pos = (size_t) (start - c->in);
            c->scan = c->in_pos;
            c->stalled = 1;
            return;
          }
          c->count = count;
          c->bytes = bytes;
          reply_ok (c, 0);
          c->mode = M_CMD;
          start = t + 2;
          break;
        }
        count++;
        bytes += c->partial + len;
        c->partial = 0;
        start = s = t + 2;
      }
      c->count = count;
      c->bytes = bytes;
      c->in_pos = (size_t) (start - c->in);
      if (c->mode == M_LINES) {
        c->scan = (size_t) (end - c->in);
        return;
      }
      c->scan = c->in_pos;
      continue;
    }

    /* Command line or frame header. */
    t = find_crlf (start, c->in + (c->scan > c->in_pos ? c->scan : c->in_pos), end, &scan);
    if (t == NULL) {
      c->scan = (size_t) (scan - c->in);
      return;
    }
    len = (size_t) (t - start);
    if (c->mode == M_CMD) {
      size_t need = (len >= 5 && len <= CMD_MAX) ? len + 8 : 8;
      if (out_room (c) < need) {
        c->stalled = 1;
        return;
      }
      c->in_pos = c->scan = (size_t) (t + 2 - c->in);
      command (c, start, len);
    } else {                       /* M_HDR */
      uint64_t n;
      if (out_room (c) < 96) {
        c->stalled = 1;
        return;
      }
      c->in_pos = c->scan = (size_t) (t + 2 - c->in);
      if (c->partial > 0 || !bench_parse_u64 (start, len, &n)) {
        out_put (c, "ERR\r\n", 5);
        c->mode = M_CMD;
      } else if (n == 0) {
        reply_ok (c, 1);
        c->mode = M_CMD;
      } else {
        c->count++;
        c->bytes += n;
        c->body_left = n;
        c->mode = M_BODY;
      }
    }
    c->partial = 0;
  }
}

/* Writes queued replies, then GET data. Returns -1 on a fatal error. */
static int
flush_out (struct conn *c)
{
  while (c->out_pos < c->out_end) {
    ssize_t n = send (c->fd, c->out + c->out_pos, c->out_end - c->out_pos, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -1;
    }
    c->out_pos += (size_t) n;
  }
  c->out_pos = c->out_end = 0;
  while (c->get_left > 0) {
    size_t chunk = c->get_left > PAT_CHUNK ? PAT_CHUNK : (size_t) c->get_left;
    ssize_t n = send (c->fd, pattern + (c->get_off & 255), chunk, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -1;
    }
    c->get_left -= (uint64_t) n;
    c->get_off += (uint64_t) n;
  }
  return 0;
}

/* Makes room at the end of the input buffer; handles lines longer than it. */
static void
in_make_room (struct conn *c)
{
  if (c->in_pos == c->in_end) {
    c->in_pos = c->in_end = 0;
    c->scan = 0;
    return;
  }
  if (IN_CAP - c->in_end >= IN_CAP / 4)
    return;
  if (c->in_pos > 0) {
    size_t keep = c->in_end - c->in_pos;
    size_t scan = c->scan > c->in_pos ? c->scan - c->in_pos : 0;
    memmove (c->in, c->in + c->in_pos, keep);
    c->in_pos = 0;
    c->in_end = keep;
    c->scan = scan;
  }
  if (c->in_end == IN_CAP && c->mode != M_BODY && c->get_left == 0 && !c->stalled) {
    /* One unterminated line fills the buffer: count it, keep the last
     * byte (it may be the '\r' of the terminator). Everything before it
     * has been searched already. */
    size_t drop = IN_CAP - 1;
    c->partial += drop;
    c->in[0] = c->in[IN_CAP - 1];
    c->in_end = 1;
    c->scan = 1;
  }
}

static void
handle (struct conn *c, uint32_t ev)
{
  int round;

  if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->stalled && !c->eof) {
    /* Read until the buffer stops filling up completely (bounded). */
    int reads;
    for (reads = 0; reads < 4; reads++) {
      ssize_t n;
      size_t room;

      in_make_room (c);
      room = IN_CAP - c->in_end;
      if (room == 0)
        break;
      n = read (c->fd, c->in + c->in_end, room);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        conn_close (c);
        return;
      }
      if (n == 0) {
        c->eof = 1;
        break;
      }
      c->in_end += (size_t) n;
      process (c);
      if ((size_t) n < room || c->stalled)
        break;
    }
  }

  for (round = 0; round < MAX_ROUNDS; round++) {
    process (c);
    if (flush_out (c) < 0) {
      conn_close (c);
      return;
    }
    if (!c->stalled || c->out_pos < c->out_end || c->get_left > 0)
      break;
  }

  {
    int pending = c->out_pos < c->out_end || c->get_left > 0 || c->stalled;
    if (c->eof && !pending) {
      conn_close (c);
      return;
    }
    set_events (c, (pending ? EPOLLOUT : 0) | (c->stalled || c->eof ? 0 : EPOLLIN));
  }
}

static void
raise_nofile (void)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit (RLIMIT_NOFILE, &rl);
  }
}

int
main (int argc, char **argv)
{
  struct sockaddr_in addr;
  socklen_t alen = sizeof addr;
  struct epoll_event ev, events[MAX_EVENTS];
  struct sigaction sa;
  sigset_t block, empty;
  int lfd, one = 1;
  long port;
  char *endp;

  if (argc != 2) {
    fprintf (stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  port = strtol (argv[1], &endp, 10);
  if (*argv[1] == '\0' || *endp != '\0' || port < 0 || port > 65535) {
    fprintf (stderr, "bad port: %s\n", argv[1]);
    return 2;
  }

  bench_pattern_fill (pattern, sizeof pattern);
  raise_nofile ();

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  /* Signals are only delivered inside epoll_pwait: no lost wakeup. */
  sigemptyset (&block);
  sigaddset (&block, SIGTERM);
  sigaddset (&block, SIGINT);
  sigprocmask (SIG_BLOCK, &block, NULL);
  sigemptyset (&empty);

  lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0)
    die ("socket");
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset (&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons ((uint16_t) port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (lfd, (struct sockaddr *) &addr, sizeof addr) < 0)
    die ("bind");
  if (listen (lfd, SOMAXCONN) < 0)
    die ("listen");
  if (getsockname (lfd, (struct sockaddr *) &addr, &alen) < 0)
    die ("getsockname");

  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    die ("epoll_create1");
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  if (epoll_ctl (epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
    die ("epoll_ctl ADD");

  printf ("listening on 127.0.0.1:%u\n", (unsigned) ntohs (addr.sin_port));
  fflush (stdout);

  while (!quit_flag) {
    int n = epoll_pwait (epfd, events, MAX_EVENTS, -1, &empty);
    int k;

    if (n < 0) {
      if (errno == EINTR)
        continue;
      die ("epoll_wait");
    }
    for (k = 0; k < n; k++) {
      struct conn *c = events[k].data.ptr;

      if (c == NULL) {
        int a;
        /* Accept what is queued now (bounded per wakeup). */
        for (a = 0; a < 1024; a++) {
          int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR
                && errno != ECONNABORTED)
              perror ("accept4");
            break;
          }
          setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          c = malloc (sizeof *c);
          if (c == NULL) {
            close (fd);
            continue;
          }
          memset (c, 0, offsetof (struct conn, out));
          c->fd = fd;
          c->mode = M_CMD;
          c->events = EPOLLIN;
          ev.events = EPOLLIN;
          ev.data.ptr = c;
          if (epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close (fd);
            free (c);
          }
        }
        continue;
      }
      handle (c, events[k].events);
    }
  }
  close (epfd);
  close (lfd);
  return 0;
}
