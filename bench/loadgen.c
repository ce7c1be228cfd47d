/*
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * loadgen: load generator for bench/PROTOCOL.md servers.  Plain C, epoll,
 * non-blocking sockets, 127.0.0.1 only.  Verifies every reply.
 *
 *   loadgen PORT lines N L        N lines of L bytes after LINES, then QUIT
 *   loadgen PORT frames N LEN     N frames of LEN binary bytes after FRAMES, then 0
 *   loadgen PORT ping C R         C connections x R sequential PING/PONG round trips
 *   loadgen PORT download N       GET N, verify the N pattern bytes
 *   options: --timeout SECONDS (default 60)
 *            --idle SECONDS (ping only: every connection first sends "PING"
 *            without the rest of its line and stays idle that long; the
 *            round trips, and the time measured, start after)
 *
 * Prints one line on stdout: mode=... n=... bytes=... seconds=...
 * msgs_per_sec=... mib_per_sec=... (time from the first byte sent to the
 * last reply verified).  On any mismatch, unexpected EOF or timeout: a
 * message on stderr and exit status 1.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-protocol.h"

#define WRITE_MAX  (256 * 1024)       /* largest single write */
#define BATCH      (256 * 1024)       /* target size of a pre-built batch */
#define READ_CAP   (256 * 1024)
#define LINE_MAX_  4096               /* longest reply line accepted */
#define MAX_SEGS   8
#define MAX_EVENTS 256

enum mode { MODE_LINES, MODE_FRAMES, MODE_PING, MODE_DOWNLOAD };

struct seg {
  const char *p;
  size_t len;
  uint64_t reps;
};

struct conn {
  int fd;
  unsigned id;
  int done;
  uint32_t events;
  /* sending: a list of segments, each repeated reps times */
  struct seg segs[MAX_SEGS];
  int nseg, cur;
  size_t off;
  /* receiving */
  char line[LINE_MAX_];
  size_t line_len;
  uint64_t rounds;          /* ping: round trips completed */
  uint64_t got;             /* download: pattern bytes verified */
  char msg[64];             /* ping: current request */
  size_t msg_len;
  uint64_t sent;            /* ping: request bytes */
};

static enum mode mode;
static double timeout_s = 60.0;
static double idle_s = 0.0;
static double deadline;
static int epfd;
static char expect[128];          /* lines/frames/download: the final reply line */
static uint64_t dl_total;         /* download: N */
static uint64_t ping_rounds;
static unsigned char pattern[READ_CAP + 256];
static char rbuf[READ_CAP];

static void fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), noreturn));

static void
fail (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "loadgen: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (1);
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static uint64_t
parse_u64_arg (const char *s, const char *what)
{
  char *end;
  unsigned long long v;

  errno = 0;
  if (*s < '0' || *s > '9')
    fail ("bad %s: %s", what, s);
  v = strtoull (s, &end, 10);
  if (errno != 0 || *end != '\0')
    fail ("bad %s: %s", what, s);
  return (uint64_t) v;
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
    fail ("epoll_ctl: %s", strerror (errno));
  c->events = ev;
}

static void
add_seg (struct conn *c, const char *p, size_t len, uint64_t reps)
{
  if (len == 0 || reps == 0)
    return;
  if (c->nseg == MAX_SEGS)
    fail ("internal: too many segments");
  c->segs[c->nseg].p = p;
  c->segs[c->nseg].len = len;
  c->segs[c->nseg].reps = reps;
  c->nseg++;
}

static int
sending (const struct conn *c)
{
  return c->cur < c->nseg;
}

/* Writes as much as the socket takes (bounded by its buffer). */
static void
send_some (struct conn *c)
{
  while (c->cur < c->nseg) {
    struct seg *s = &c->segs[c->cur];
    size_t n = s->len - c->off;
    ssize_t w;

    if (n > WRITE_MAX)
      n = WRITE_MAX;
    w = send (c->fd, s->p + c->off, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      fail ("connection %u: send: %s", c->id, strerror (errno));
    }
    c->off += (size_t) w;
    if (c->off == s->len) {
      c->off = 0;
      if (--s->reps == 0)
        c->cur++;
    }
  }
}

static void
ping_next (struct conn *c)
{
  int n = snprintf (c->msg, sizeof c->msg, "PING %u-%" PRIu64 "\r\n", c->id, c->rounds);

  c->msg_len = (size_t) n;
  c->sent += c->msg_len;
  c->nseg = c->cur = 0;
  c->off = 0;
  add_seg (c, c->msg, c->msg_len, 1);
}

/* One complete reply line (without "\r\n"). */
static void
on_line (struct conn *c, const char *l, size_t len)
{
  if (mode == MODE_PING) {
    /* Expect "PONG " + token, the token being the request's. */
    size_t tlen = c->msg_len - 7;      /* "PING " ... "\r\n" */
    if (c->done || sending (c))
      fail ("connection %u: unexpected reply '%.*s'", c->id, (int) len, l);
    if (len != tlen + 5 || memcmp (l, "PONG ", 5) != 0 || memcmp (l + 5, c->msg + 5, tlen) != 0)
      fail ("connection %u: expected 'PONG %.*s', got '%.*s'", c->id, (int) tlen, c->msg + 5,
            (int) len, l);
    c->rounds++;
    if (c->rounds == ping_rounds)
      c->done = 1;
    else
      ping_next (c);
    return;
  }
  if (c->done)
    fail ("unexpected extra reply '%.*s'", (int) len, l);
  if (len != strlen (expect) || memcmp (l, expect, len) != 0)
    fail ("expected '%s', got '%.*s'", expect, (int) len, l);
  if (mode == MODE_DOWNLOAD && c->got != dl_total)
    fail ("reply before the download completed");
  c->done = 1;
}

/* Reads what is available, verifies it. */
static void
recv_some (struct conn *c)
{
  int reads;

  for (reads = 0; reads < 8; reads++) {
    ssize_t n = read (c->fd, rbuf, sizeof rbuf);
    const char *p = rbuf, *end;

    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      fail ("connection %u: read: %s", c->id, strerror (errno));
    }
    if (n == 0)
      fail ("connection %u: unexpected EOF", c->id);
    end = rbuf + n;

    if (mode == MODE_DOWNLOAD && c->got < dl_total) {
      uint64_t want = dl_total - c->got;
      size_t k = (size_t) n < want ? (size_t) n : (size_t) want;
      if (memcmp (p, pattern + (c->got & 255), k) != 0) {
        size_t i;
        for (i = 0; i < k; i++)
          if ((unsigned char) p[i] != pattern[(c->got + i) & 255])
            break;
        fail ("download: byte %" PRIu64 " is %u, expected %u", c->got + i,
              (unsigned char) p[i], pattern[(c->got + i) & 255]);
      }
      c->got += k;
      p += k;
    }

    while (p < end) {
      const char *nl = memchr (p, '\n', (size_t) (end - p));
      size_t take = nl ? (size_t) (nl + 1 - p) : (size_t) (end - p);

      if (c->line_len + take > sizeof c->line)
        fail ("connection %u: reply line too long", c->id);
      memcpy (c->line + c->line_len, p, take);
      c->line_len += take;
      p += take;
      if (nl) {
        if (c->line_len < 2 || c->line[c->line_len - 2] != '\r')
          fail ("connection %u: reply not terminated by \\r\\n", c->id);
        c->line_len -= 2;
        on_line (c, c->line, c->line_len);
        c->line_len = 0;
      }
    }
    if ((size_t) n < sizeof rbuf)
      return;
  }
}

static void
update_events (struct conn *c)
{
  set_events (c, EPOLLIN | (sending (c) ? EPOLLOUT : 0));
}

static int
connect_nb (unsigned port)
{
  struct sockaddr_in a;
  int one = 1;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    fail ("socket: %s", strerror (errno));
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons ((uint16_t) port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (connect (fd, (struct sockaddr *) &a, sizeof a) < 0 && errno != EINPROGRESS)
    fail ("connect 127.0.0.1:%u: %s", port, strerror (errno));
  return fd;
}

static int
wait_events (struct epoll_event *evs)
{
  for (;;) {
    double left = deadline - now ();
    int n;

    if (left <= 0)
      fail ("timeout after %.0f s", timeout_s);
    n = epoll_wait (epfd, evs, MAX_EVENTS, (int) (left * 1000.0) + 1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail ("epoll_wait: %s", strerror (errno));
    }
    if (n > 0)
      return n;
  }
}

static void
raise_nofile (uint64_t need)
{
  struct rlimit rl;

  if (getrlimit (RLIMIT_NOFILE, &rl) < 0)
    fail ("getrlimit: %s", strerror (errno));
  if (rl.rlim_cur >= need)
    return;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    struct rlimit both = { need, need };
    if (setrlimit (RLIMIT_NOFILE, &both) == 0)   /* works when privileged */
      return;
    fail ("need %" PRIu64 " file descriptors, hard limit is %llu (raise it with ulimit -Hn)",
          need, (unsigned long long) rl.rlim_max);
  }
  rl.rlim_cur = need;
  if (setrlimit (RLIMIT_NOFILE, &rl) < 0)
    fail ("setrlimit(RLIMIT_NOFILE, %" PRIu64 "): %s", need, strerror (errno));
}

/* Deterministic payload byte j of frame f: contains "\r\n" and NULs. */
static unsigned char
frame_byte (uint64_t f, uint64_t j)
{
  switch (j & 15) {
  case 0: return '\r';
  case 1: return '\n';
  case 2: return 0;
  default: return (unsigned char) ((j * 31 + f * 7 + 11) & 0xff);
  }
}

static void
usage (const char *argv0)
{
  fprintf (stderr,
           "usage: %s PORT MODE ARGS [--timeout SECONDS] [--idle SECONDS]\n"
           "  lines N L       N lines of L bytes in line mode\n"
           "  frames N LEN    N frames of LEN bytes in frame mode\n"
           "  ping C R        C connections, R sequential PING/PONG each\n"
           "  download N      GET N and verify the bytes\n", argv0);
  exit (2);
}

/* Drives every connection until each is done (or the deadline fails
 * the run). */
static void
run_all (struct conn        *conns,
         uint64_t            nconn,
         struct epoll_event *evs)
{
  uint64_t remaining;
  int i;

  remaining = nconn;
  for (i = 0; i < (int) nconn; i++) {
    conns[i].done = 0;
    send_some (&conns[i]);
    update_events (&conns[i]);
  }
  while (remaining > 0) {
    int n = wait_events (evs), k;
    for (k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      uint32_t ev = evs[k].events;

      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
        recv_some (c);
      if (sending (c))
        send_some (c);
      if (c->done && !sending (c)) {
        remaining--;
        set_events (c, 0);      /* a done connection may run again */
        continue;
      }
      update_events (c);
    }
  }
}

int
main (int argc, char **argv)
{
  const char *pos[8];
  int npos = 0, i;
  unsigned port;
  uint64_t a1 = 0, a2 = 0, nconn = 1, msgs = 0, bytes = 0, remaining;
  struct conn *conns;
  struct epoll_event evs[MAX_EVENTS];
  char *batch = NULL;
  double t0, t1, secs;

  for (i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc) {
      char *end;
      timeout_s = strtod (argv[++i], &end);
      if (*end != '\0' || !(timeout_s > 0))
        fail ("bad --timeout: %s", argv[i]);
    } else if (strncmp (argv[i], "--timeout=", 10) == 0) {
      char *end;
      timeout_s = strtod (argv[i] + 10, &end);
      if (*end != '\0' || !(timeout_s > 0))
        fail ("bad --timeout: %s", argv[i] + 10);
    } else if (strcmp (argv[i], "--idle") == 0 && i + 1 < argc) {
      char *end;
      idle_s = strtod (argv[++i], &end);
      if (*end != '\0' || !(idle_s >= 0))
        fail ("bad --idle: %s", argv[i]);
    } else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
      usage (argv[0]);
    } else if (npos < 8) {
      pos[npos++] = argv[i];
    } else {
      usage (argv[0]);
    }
  }
  if (npos < 2)
    usage (argv[0]);
  {
    uint64_t p = parse_u64_arg (pos[0], "port");
    if (p == 0 || p > 65535)
      fail ("bad port: %s", pos[0]);
    port = (unsigned) p;
  }
  if (strcmp (pos[1], "lines") == 0 && npos == 4)
    mode = MODE_LINES;
  else if (strcmp (pos[1], "frames") == 0 && npos == 4)
    mode = MODE_FRAMES;
  else if (strcmp (pos[1], "ping") == 0 && npos == 4)
    mode = MODE_PING;
  else if (strcmp (pos[1], "download") == 0 && npos == 3)
    mode = MODE_DOWNLOAD;
  else
    usage (argv[0]);
  a1 = parse_u64_arg (pos[2], "count");
  if (npos == 4)
    a2 = parse_u64_arg (pos[3], "size");

  signal (SIGPIPE, SIG_IGN);
  bench_pattern_fill (pattern, sizeof pattern);

  if (mode == MODE_PING) {
    if (a1 == 0 || a1 > 1000000)
      fail ("bad connection count %" PRIu64, a1);
    if (a2 == 0)
      fail ("rounds must be at least 1");
    nconn = a1;
    ping_rounds = a2;
    raise_nofile (nconn + 16);
  } else if (idle_s > 0) {
    fail ("--idle applies to ping only");
  }

  deadline = now () + timeout_s;
  epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    fail ("epoll_create1: %s", strerror (errno));
  conns = calloc (nconn, sizeof *conns);
  if (conns == NULL)
    fail ("out of memory");

  /* Connect everything first (non-blocking, within the timeout). */
  for (remaining = 0; remaining < nconn; remaining++) {
    struct conn *c = &conns[remaining];
    struct epoll_event e;

    c->fd = connect_nb (port);
    c->id = (unsigned) remaining;
    c->events = EPOLLOUT;
    e.events = EPOLLOUT;
    e.data.ptr = c;
    if (epoll_ctl (epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
      fail ("epoll_ctl: %s", strerror (errno));
  }
  remaining = nconn;
  while (remaining > 0) {
    int n = wait_events (evs), k;
    for (k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      int err = 0;
      socklen_t len = sizeof err;

      if (c->done)
        continue;
      if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
        fail ("connect 127.0.0.1:%u: %s", port, strerror (err ? err : errno));
      c->done = 1;            /* reused as "connected" for this phase */
      set_events (c, 0);
      remaining--;
    }
  }

  /* Build what is sent. */
  switch (mode) {
  case MODE_LINES: {
    uint64_t per = BATCH / (a2 + 2), full, rest;
    size_t blen;
    if (per == 0)
      per = 1;
    if (per > a1)
      per = a1 ? a1 : 1;
    blen = (size_t) (per * (a2 + 2));
    batch = malloc (blen);
    if (batch == NULL)
      fail ("out of memory");
    memset (batch, 'x', blen);
    {
      uint64_t k;
      for (k = 0; k < per; k++) {
        char *l = batch + k * (a2 + 2);
        if (a2 > 0)
          l[0] = (char) ('a' + k % 26);
        l[a2] = '\r';
        l[a2 + 1] = '\n';
      }
    }
    full = a1 / per;
    rest = a1 % per;
    add_seg (&conns[0], "LINES\r\n", 7, 1);
    add_seg (&conns[0], batch, blen, full);
    add_seg (&conns[0], batch, (size_t) (rest * (a2 + 2)), 1);
    add_seg (&conns[0], "QUIT\r\n", 6, 1);
    snprintf (expect, sizeof expect, "OK %" PRIu64 " %" PRIu64, a1, a1 * a2);
    msgs = a1;
    bytes = a1 * a2;
    break;
  }
  case MODE_FRAMES: {
    char hdr[32];
    int hl;
    uint64_t per, full, rest, k, j;
    size_t flen, blen;
    uint32_t bsum = 0, rsum = 0;
    if (a2 == 0)
      fail ("frame length must be at least 1 (0 ends frame mode)");
    hl = snprintf (hdr, sizeof hdr, "%" PRIu64 "\r\n", a2);
    flen = (size_t) a2 + (size_t) hl;
    per = BATCH / flen;
    if (per == 0)
      per = 1;
    if (per > a1)
      per = a1 ? a1 : 1;
    blen = (size_t) per * flen;
    batch = malloc (blen);
    if (batch == NULL)
      fail ("out of memory");
    full = a1 / per;
    rest = a1 % per;
    for (k = 0; k < per; k++) {
      unsigned char *f = (unsigned char *) batch + k * flen;
      memcpy (f, hdr, (size_t) hl);
      for (j = 0; j < a2; j++) {
        unsigned char b = frame_byte (k, j);
        f[hl + j] = b;
        bsum += b;
        if (k < rest)
          rsum += b;
      }
    }
    add_seg (&conns[0], "FRAMES\r\n", 8, 1);
    add_seg (&conns[0], batch, blen, full);
    add_seg (&conns[0], batch, (size_t) rest * flen, 1);
    add_seg (&conns[0], "0\r\n", 3, 1);
    snprintf (expect, sizeof expect, "OK %" PRIu64 " %" PRIu64 " %" PRIu32, a1, a1 * a2,
              (uint32_t) (bsum * (uint32_t) full + rsum));
    msgs = a1;
    bytes = a1 * a2;
    break;
  }
  case MODE_DOWNLOAD: {
    static char get[64];
    int gl = snprintf (get, sizeof get, "GET %" PRIu64 "\r\nPING end\r\n", a1);
    add_seg (&conns[0], get, (size_t) gl, 1);
    dl_total = a1;
    snprintf (expect, sizeof expect, "PONG end");
    msgs = 1;
    bytes = a1;
    break;
  }
  case MODE_PING: {
    uint64_t k, rounds = ping_rounds;

    /* One untimed round trip per connection first: the server has then
     * accepted and set up every connection, and the time measured is
     * round trips only, however many connections there are. */
    ping_rounds = 1;
    for (k = 0; k < nconn; k++)
      ping_next (&conns[k]);
    run_all (conns, nconn, evs);
    ping_rounds = rounds;
    for (k = 0; k < nconn; k++) {
      conns[k].rounds = 0;
      conns[k].sent = 0;
      ping_next (&conns[k]);
    }
    msgs = nconn * ping_rounds;
    bytes = 0;
    break;
  }
  }

  /* Idle phase: every server-side connection holds a partial line. */
  if (idle_s > 0) {
    struct timespec ts;
    uint64_t k;

    for (k = 0; k < nconn; k++) {
      if (send (conns[k].fd, conns[k].msg, 4, MSG_NOSIGNAL) != 4)
        fail ("connection %u: short send of the idle prefix", conns[k].id);
      conns[k].off = 4;
    }
    ts.tv_sec = (time_t) idle_s;
    ts.tv_nsec = (long) ((idle_s - (double) ts.tv_sec) * 1e9);
    while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
      ;
    deadline = now () + timeout_s;
  }

  /* Run. */
  t0 = now ();
  run_all (conns, nconn, evs);
  t1 = now ();
  secs = t1 - t0;

  if (mode == MODE_PING) {
    /* bytes: request bytes sent (token lengths vary). */
    uint64_t k;
    for (k = 0; k < nconn; k++)
      bytes += conns[k].sent;
  }

  for (i = 0; i < (int) nconn; i++)
    close (conns[i].fd);
  close (epfd);

  printf ("mode=%s", pos[1]);
  switch (mode) {
  case MODE_LINES: printf (" n=%" PRIu64 " line_len=%" PRIu64, a1, a2); break;
  case MODE_FRAMES: printf (" n=%" PRIu64 " frame_len=%" PRIu64, a1, a2); break;
  case MODE_PING: printf (" n=%" PRIu64 " conns=%" PRIu64 " rounds=%" PRIu64, msgs, nconn,
                          ping_rounds); break;
  case MODE_DOWNLOAD: printf (" n=%" PRIu64, msgs); break;
  }
  printf (" bytes=%" PRIu64 " seconds=%.6f msgs_per_sec=%.0f mib_per_sec=%.2f",
          bytes, secs, (double) msgs / secs, (double) bytes / secs / (1024.0 * 1024.0));
  if (mode == MODE_PING)
    printf (" rtt_us=%.2f", secs * 1e6 / (double) ping_rounds);
  printf ("\n");
  fflush (stdout);
  free (batch);
  free (conns);
  return 0;
}
