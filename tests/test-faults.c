/* test-faults.c: peers and applications doing the wrong thing at the wrong
 * time: connections dropped by the thousand, and close, discard,
 * close_when_done and unref from inside every signal handler.
 *
 * Specifies: achat/achat-channel.c and achat/achat-server.c, under faults
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"

/* Connections dropped abruptly ------------------------------------------- */

typedef struct
{
  guint accepted;
  guint closed;
  guint with_error;
} Churn;

static void
churn_on_closed (AchatChannel *channel,
                 const GError *error,
                 Churn        *churn)
{
  churn->closed++;
  if (error != NULL)
    churn->with_error++;
}

static void
churn_on_accepted (AchatServer  *server,
                   AchatChannel *channel,
                   Churn        *churn)
{
  churn->accepted++;
  achat_channel_set_terminator (channel, (const guint8 *) "\r\n", 2);
  g_signal_connect (channel, "closed", G_CALLBACK (churn_on_closed), churn);
}

static guint
count_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      n++;
  closedir (dir);
  return n;
}

static guint64
rss_kib (void)
{
  g_autofree gchar *status = NULL;
  const gchar *line;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "VmRSS:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + 6, NULL, 10);
}

/* Opens @n connections (in batches, so the listen backlog never
 * overflows), waits until the server made a channel for each, has half of
 * them send a partial line, then resets all of them at once. */
static void
churn_round (guint16  port,
             Churn   *churn,
             guint    n)
{
  struct sockaddr_in address = { 0, };
  int *fds = g_new (int, n);
  guint target = churn->accepted + n;
  guint closed_target = churn->closed + n;
  gint64 deadline = g_get_monotonic_time () + 30 * G_TIME_SPAN_SECOND;
  guint i;

  address.sin_family = AF_INET;
  address.sin_port = g_htons (port);
  address.sin_addr.s_addr = g_htonl (INADDR_LOOPBACK);

  for (i = 0; i < n; i++)
    {
      fds[i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      g_assert_cmpint (fds[i], >=, 0);
      g_assert_no_errno (connect (fds[i], (struct sockaddr *) &address, sizeof address));
      if (i % 50 == 49)
        while (churn->accepted < target - n + i + 1)
          {
            g_assert_cmpint (g_get_monotonic_time (), <, deadline);
            if (!test_iterate ())
              g_usleep (100);
          }
    }
  while (churn->accepted < target)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!test_iterate ())
        g_usleep (100);
    }

  for (i = 0; i < n; i++)
    {
      struct linger reset = { 1, 0 };

      if (i % 2 == 0)
        g_assert_cmpint (send (fds[i], "partial line", 12, MSG_NOSIGNAL), ==, 12);
      g_assert_no_errno (setsockopt (fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset));
      close (fds[i]);
    }
  while (churn->closed < closed_target)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      if (!test_iterate ())
        g_usleep (100);
    }
  g_free (fds);
}

static void
test_churn (void)
{
  guint16 port;
  g_autoptr(AchatServer) server = test_loopback_server (ACHAT_TYPE_CHANNEL, &port);
  Churn churn = { 0, };
  guint fds_before, fds_after;
  guint64 rss_warm, rss_after;

  g_signal_connect (server, "channel-accepted", G_CALLBACK (churn_on_accepted), &churn);

  /* Warm up: GLib's types, the poller, and malloc's heap grown to what
   * 2,000 live channels need (freed memory stays in the process). */
  churn_round (port, &churn, 2000);
  test_spin_for (100);
  fds_before = count_fds ();
  rss_warm = rss_kib ();

  churn_round (port, &churn, 2000);
  churn_round (port, &churn, 2000);
  test_spin_for (100);
  fds_after = count_fds ();
  rss_after = rss_kib ();

  g_test_message ("6,000 connections dropped; fds %u -> %u; RSS %" G_GUINT64_FORMAT
                  " -> %" G_GUINT64_FORMAT " KiB; %u closed with an error",
                  fds_before, fds_after, rss_warm, rss_after, churn.with_error);
  g_assert_cmpuint (churn.accepted, ==, 6000);
  g_assert_cmpuint (churn.closed, ==, 6000);
  g_assert_cmpuint (fds_after, ==, fds_before);
  /* 4,000 connections leaking even 256 bytes each would be 1,000 KiB.
   * Under ASan or valgrind freed memory sits in a quarantine, so RSS says
   * nothing; the tool checks for leaks itself. */
  if (g_getenv ("ACHAT_TEST_MEMORY_TOOL") == NULL)
    g_assert_cmpuint (rss_after, <=, rss_warm + 512);
  else
    g_test_message ("RSS not compared under %s", g_getenv ("ACHAT_TEST_MEMORY_TOOL"));

  g_socket_service_stop (G_SOCKET_SERVICE (server));
}

/* Every action from every handler ----------------------------------------- */

typedef enum
{
  ACT_CLOSE,
  ACT_DISCARD,
  ACT_CLOSE_WHEN_DONE,
  ACT_UNREF,
  N_ACTS
} Act;

static const gchar *const act_names[] = { "close", "discard", "close-when-done", "unref" };

typedef struct
{
  Act act;
  AchatChannel *owned;      /* the test's reference, until ACT_UNREF drops it */
  guint n_done;
  guint n_closed;
  gboolean after_closed;    /* an input or output signal after closed */
} Reentry;

static void
reentry_act (AchatChannel *channel,
             Reentry      *r)
{
  if (r->n_done++ > 0)
    return;
  switch (r->act)
    {
    case ACT_CLOSE:
      achat_channel_close (channel);
      break;
    case ACT_DISCARD:
      achat_channel_discard_buffers (channel);
      break;
    case ACT_CLOSE_WHEN_DONE:
      achat_channel_close_when_done (channel);
      break;
    case ACT_UNREF:
      g_clear_object (&r->owned);
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
reentry_on_bytes (AchatChannel *channel,
                  GBytes       *bytes,
                  Reentry      *r)
{
  if (r->n_closed > 0)
    r->after_closed = TRUE;
}

static void
reentry_on_bytes_act (AchatChannel *channel,
                      GBytes       *bytes,
                      Reentry      *r)
{
  reentry_on_bytes (channel, bytes, r);
  reentry_act (channel, r);
}

static void
reentry_on_closed (AchatChannel *channel,
                   const GError *error,
                   Reentry      *r)
{
  r->n_closed++;
}

/* Connected after reentry_on_closed(), which counts the emission. */
static void
reentry_on_closed_act (AchatChannel *channel,
                       const GError *error,
                       Reentry      *r)
{
  reentry_act (channel, r);
}

static void
reentry_on_drained_act (AchatChannel *channel,
                        Reentry      *r)
{
  if (r->n_closed > 0)
    r->after_closed = TRUE;
  reentry_act (channel, r);
}

static void
reentry_on_notify_act (GObject    *object,
                       GParamSpec *pspec,
                       Reentry    *r)
{
  reentry_act (ACHAT_CHANNEL (object), r);
}

static void
test_reentry_matrix (void)
{
  static const gchar *const signals[] = {
    "data-collected", "terminator-found", "closed", "output-drained", "notify::queued-bytes",
  };
  gsize s;
  guint a;

  for (s = 0; s < G_N_ELEMENTS (signals); s++)
    for (a = 0; a < N_ACTS; a++)
      {
        int peer;
        g_autoptr(GSocket) socket = test_socket_pair (&peer);
        AchatChannel *channel = achat_channel_new (socket);
        GWeakRef weak;
        Reentry r = { a, channel, 0, 0, FALSE };
        gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
        gboolean output = g_str_equal (signals[s], "output-drained") ||
                          g_str_has_prefix (signals[s], "notify::");

        g_test_message ("%s from %s", act_names[a], signals[s]);
        g_weak_ref_init (&weak, channel);
        achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
        g_signal_connect (channel, "data-collected", G_CALLBACK (reentry_on_bytes), &r);
        g_signal_connect (channel, "terminator-found", G_CALLBACK (reentry_on_bytes), &r);
        g_signal_connect (channel, "closed", G_CALLBACK (reentry_on_closed), &r);

        if (g_str_equal (signals[s], "closed"))
          g_signal_connect (channel, "closed", G_CALLBACK (reentry_on_closed_act), &r);
        else if (g_str_equal (signals[s], "output-drained"))
          g_signal_connect (channel, "output-drained", G_CALLBACK (reentry_on_drained_act), &r);
        else if (output)
          g_signal_connect (channel, signals[s], G_CALLBACK (reentry_on_notify_act), &r);
        else
          g_signal_connect (channel, signals[s], G_CALLBACK (reentry_on_bytes_act), &r);

        if (output)
          {
            /* Enough output to pass the watermarks; the loop below reads
             * it at the peer. */
            static guint8 block[1024 * 1024];

            achat_channel_set_output_watermarks (channel, 1024, 64 * 1024);
            achat_channel_push (channel, block, sizeof block);
          }
        else
          test_peer_write (peer, "one\ntwo\nthree\npart", 18);

        /* A close is what makes "closed" run. */
        if (g_str_equal (signals[s], "closed"))
          {
            close (peer);
            peer = -1;
          }
        while (r.n_done == 0)
          {
            gchar sink[65536];

            g_assert_cmpint (g_get_monotonic_time (), <, deadline);
            if (peer >= 0 && read (peer, sink, sizeof sink) < 0)
              g_assert_true (errno == EAGAIN);
            if (!test_iterate ())
              g_usleep (100);
          }

        /* Then the peer goes away: every channel ends up closed. */
        if (peer >= 0)
          close (peer);
        while (r.n_closed == 0)
          {
            g_assert_cmpint (g_get_monotonic_time (), <, deadline);
            if (!test_iterate ())
              g_usleep (100);
          }
        test_spin_for (20);

        g_assert_cmpuint (r.n_done, >=, 1);
        g_assert_cmpuint (r.n_closed, ==, 1);
        g_assert_false (r.after_closed);
        /* Closed and nobody holds it: gone. */
        g_clear_object (&r.owned);
        {
          g_autoptr(GObject) still = g_weak_ref_get (&weak);

          g_assert_null (still);
        }
        g_weak_ref_clear (&weak);
      }
}

/* Descriptors ------------------------------------------------------------- */

/* Opens descriptors until none is left (under a low limit); returns them. */
static GArray *
exhaust_descriptors (void)
{
  GArray *fds = g_array_new (FALSE, FALSE, sizeof (int));
  struct rlimit limit;
  int fd;

  /* The soft limit only: a child process can raise it again. */
  g_assert_no_errno (getrlimit (RLIMIT_NOFILE, &limit));
  limit.rlim_cur = 64;
  g_assert_no_errno (setrlimit (RLIMIT_NOFILE, &limit));
  while ((fd = open ("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
    g_array_append_val (fds, fd);
  g_assert_cmpint (errno, ==, EMFILE);
  return fds;
}

static void
on_closed_with (AchatChannel *channel,
                const GError *error,
                gpointer      user_data)
{
  GError **closed_with = user_data;

  *closed_with = error != NULL ? g_error_copy (error)
                               : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "no error");
}

static gboolean
has_error (gpointer user_data)
{
  return *(GError **) user_data != NULL;
}

/* Near the descriptor limit: a server on the default main context keeps
 * working when its last channel went and accept() took the last
 * descriptor (its poller needs no new one); a channel on a new context
 * that cannot get an epoll descriptor closes with the reason. Nothing
 * aborts. (In a subprocess: it lowers RLIMIT_NOFILE.) */
static void
test_descriptors_exhausted (void)
{
  if (g_test_subprocess ())
    {
      int first[2], second[2], third[2];
      g_autoptr(GSocket) s1 = NULL;
      g_autoptr(GSocket) s2 = NULL;
      g_autoptr(GSocket) s3 = NULL;
      g_autoptr(GMainContext) context = NULL;
      g_autoptr(GError) closed_with = NULL;
      g_autoptr(GArray) fds = NULL;
      g_autoptr(GByteArray) reply = NULL;
      AchatChannel *channel;
      guint i;

      g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, first));
      g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, second));
      g_assert_no_errno (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, third));
      g_assert_no_errno (fcntl (second[1], F_SETFL, O_NONBLOCK));

      /* The default context's first channel comes and goes. */
      s1 = g_socket_new_from_fd (first[0], NULL);
      channel = achat_channel_new (s1);
      achat_channel_close (channel);
      g_object_unref (channel);
      close (first[1]);

      fds = exhaust_descriptors ();
      s2 = g_socket_new_from_fd (second[0], NULL);
      channel = achat_channel_new (s2);
      achat_channel_push (channel, (const guint8 *) "still here\n", 11);
      reply = test_peer_read (second[1], 11);
      g_assert_cmpmem (reply->data, reply->len, "still here\n", 11);
      achat_channel_close (channel);
      g_object_unref (channel);

      /* A context of its own, no descriptor for its poller. */
      context = g_main_context_new ();
      g_main_context_push_thread_default (context);
      s3 = g_socket_new_from_fd (third[0], NULL);
      channel = achat_channel_new (s3);
      g_signal_connect (channel, "closed", G_CALLBACK (on_closed_with), &closed_with);
      test_spin_until (has_error, &closed_with);
      g_assert_error (closed_with, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
      g_assert_true (achat_channel_is_closed (channel));
      g_object_unref (channel);
      g_main_context_pop_thread_default (context);

      for (i = 0; i < fds->len; i++)
        close (g_array_index (fds, int, i));
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The server out of descriptors ------------------------------------------ */

#define BACK_OFF_CLIENTS 120

typedef struct
{
  guint served;
  guint failed_accepts;
  guint backing_off_changes;
} BackOff;

static void
back_off_on_line (AchatChannel *channel,
                  GBytes       *line,
                  gpointer      user_data)
{
  BackOff *back_off = user_data;

  achat_channel_push (channel, (const guint8 *) "ok\n", 3);
  achat_channel_close_when_done (channel);
  back_off->served++;
}

static void
back_off_on_accepted (AchatServer  *server,
                      AchatChannel *channel,
                      gpointer      user_data)
{
  achat_channel_set_terminator (channel, (const guint8 *) "\n", 1);
  g_signal_connect (channel, "terminator-found", G_CALLBACK (back_off_on_line), user_data);
}

static void
back_off_on_failed (AchatServer  *server,
                    const GError *error,
                    gpointer      user_data)
{
  BackOff *back_off = user_data;

  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES);
  back_off->failed_accepts++;
}

static void
back_off_on_notify (GObject    *server,
                    GParamSpec *pspec,
                    gpointer    user_data)
{
  BackOff *back_off = user_data;

  back_off->backing_off_changes++;
}

/* The clients, in a process of their own with its own descriptors: each
 * connects, sends a line and waits (30 s at most) for the answer. Returns
 * how many were answered. Plain system calls only (after fork()). */
static int
back_off_clients (guint16 port)
{
  struct sockaddr_in address = { 0, };
  struct timeval timeout = { 30, 0 };
  int fds[BACK_OFF_CLIENTS];
  int answered = 0;
  int i;

  address.sin_family = AF_INET;
  address.sin_port = htons (port);
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);

  for (i = 0; i < BACK_OFF_CLIENTS; i++)
    {
      fds[i] = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fds[i] < 0 ||
          setsockopt (fds[i], SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
          connect (fds[i], (struct sockaddr *) &address, sizeof address) != 0 ||
          write (fds[i], "hello\n", 6) != 6)
        return answered;
    }
  for (i = 0; i < BACK_OFF_CLIENTS; i++)
    {
      char answer[3];
      gsize got = 0;
      ssize_t n;

      while (got < sizeof answer && (n = read (fds[i], answer + got, sizeof answer - got)) > 0)
        got += n;
      if (got == sizeof answer && memcmp (answer, "ok\n", 3) == 0)
        answered++;
      close (fds[i]);
    }
  return answered;
}

static gboolean
set_true (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop for @ms, sleeping while it has nothing to do (unlike
 * test_spin_for(), whose polling would be counted as the server's CPU). */
static void
run_blocking_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_true, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
all_served (gpointer user_data)
{
  return ((BackOff *) user_data)->served == BACK_OFF_CLIENTS;
}

static double
cpu_seconds (void)
{
  struct rusage usage;

  g_assert_no_errno (getrusage (RUSAGE_SELF, &usage));
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

typedef enum
{
  FREED_AT_ONCE,     /* every descriptor comes free at once */
  FREED_GRADUALLY,   /* two at a time: accepts succeed and fail by turns */
  ONE_LEFT,          /* one descriptor left: accept() could take it, and
                      * then the channel would have none for its poller */
} Exhaustion;

/* 120 clients wait in the listen queue of a server with no descriptor
 * left: the server tries again at a growing interval (a handful of
 * attempts, little CPU, one warning), then serves them all once
 * descriptors are free again, and says so once, however they come free.
 * GSocketService alone accepts again at once, warning each time, at full
 * CPU. (In a subprocess: it lowers RLIMIT_NOFILE.) */
static void
test_server_out_of_descriptors (gconstpointer data)
{
  Exhaustion exhaustion = GPOINTER_TO_INT (data);

  if (g_test_subprocess ())
    {
      guint16 port;
      g_autoptr(AchatServer) server = test_loopback_server (ACHAT_TYPE_CHANNEL, &port);
      g_autoptr(GArray) fds = NULL;
      BackOff back_off = { 0, };
      double cpu_before, cpu_exhausted;
      int status;
      guint i;
      pid_t clients;

      /* The warnings are what is tested. */
      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

      g_signal_connect (server, "channel-accepted", G_CALLBACK (back_off_on_accepted), &back_off);
      g_signal_connect (server, "accept-failed", G_CALLBACK (back_off_on_failed), &back_off);
      g_signal_connect (server, "notify::backing-off", G_CALLBACK (back_off_on_notify), &back_off);
      g_assert_false (achat_server_get_backing_off (server));

      fds = exhaust_descriptors ();
      clients = fork ();
      g_assert_cmpint (clients, >=, 0);
      if (clients == 0)
        {
          struct rlimit limit;

          for (i = 0; i < fds->len; i++)
            close (g_array_index (fds, int, i));
          getrlimit (RLIMIT_NOFILE, &limit);
          limit.rlim_cur = MIN (limit.rlim_max, 1024);
          setrlimit (RLIMIT_NOFILE, &limit);
          _exit (back_off_clients (port));
        }
      if (exhaustion == ONE_LEFT)
        {
          close (g_array_index (fds, int, fds->len - 1));
          g_array_set_size (fds, fds->len - 1);
        }

      /* Two seconds without a descriptor (for a connection). */
      cpu_before = cpu_seconds ();
      run_blocking_for (2000);
      cpu_exhausted = cpu_seconds () - cpu_before;
      g_test_message ("out of descriptors for 2 s: %u accept attempts, %.3f s of CPU",
                      back_off.failed_accepts, cpu_exhausted);
      g_assert_true (achat_server_get_backing_off (server));
      g_assert_cmpuint (back_off.backing_off_changes, ==, 1);
      /* 10, 20, 40 ... 1000 ms apart: 8 or 9 in two seconds. */
      g_assert_cmpuint (back_off.failed_accepts, >=, 4);
      g_assert_cmpuint (back_off.failed_accepts, <=, 12);
      g_assert_cmpuint (back_off.served, ==, 0);
      g_assert_cmpfloat (cpu_exhausted, <, 0.25);

      /* Descriptors free again: every client is served. */
      while (fds->len > 0)
        {
          guint n = exhaustion == FREED_GRADUALLY ? MIN (2, fds->len) : fds->len;

          for (i = fds->len - n; i < fds->len; i++)
            close (g_array_index (fds, int, i));
          g_array_set_size (fds, fds->len - n);
          if (exhaustion == FREED_GRADUALLY)
            run_blocking_for (20);
        }
      test_spin_until (all_served, &back_off);
      g_assert_false (achat_server_get_backing_off (server));
      g_assert_cmpuint (back_off.backing_off_changes, ==, 2);

      g_assert_cmpint (waitpid (clients, &status, 0), ==, clients);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, BACK_OFF_CLIENTS);

      g_socket_service_stop (G_SOCKET_SERVICE (server));
      return;
    }

  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  /* One warning when it began, one message when it ended; GLib's own
   * "fail:" warnings never. */
  g_test_trap_assert_stderr ("*Could not accept a connection: *Too many open files*");
  g_test_trap_assert_stderr_unmatched ("*Could not accept*Could not accept*");
  g_test_trap_assert_stderr ("*Accepting connections again after * failed attempts over *");
  g_test_trap_assert_stderr_unmatched ("*Accepting connections again*Accepting connections again*");
  g_test_trap_assert_stderr_unmatched ("*fail: *");
}

/* The listener closed while the server backs off: the back-off ends (the
 * property says so), with no warning about the closed socket and no
 * attempt on it. (In a subprocess: it lowers RLIMIT_NOFILE.) */
static void
test_server_closed_while_backing_off (void)
{
  if (g_test_subprocess ())
    {
      guint16 port;
      g_autoptr(AchatServer) server = test_loopback_server (ACHAT_TYPE_CHANNEL, &port);
      g_autoptr(GSocket) client = NULL;
      g_autoptr(GArray) fds = NULL;
      BackOff back_off = { 0, };
      guint failed, i;

      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

      g_signal_connect (server, "accept-failed", G_CALLBACK (back_off_on_failed), &back_off);
      g_signal_connect (server, "notify::backing-off", G_CALLBACK (back_off_on_notify), &back_off);
      client = test_tcp_connect (port);

      fds = exhaust_descriptors ();
      run_blocking_for (100);
      g_assert_true (achat_server_get_backing_off (server));
      g_socket_listener_close (G_SOCKET_LISTENER (server));
      for (i = 0; i < fds->len; i++)
        close (g_array_index (fds, int, i));

      failed = back_off.failed_accepts;
      run_blocking_for (1500);
      g_assert_false (achat_server_get_backing_off (server));
      g_assert_cmpuint (back_off.backing_off_changes, ==, 2);
      g_assert_cmpuint (back_off.failed_accepts, ==, failed);
      g_socket_service_stop (G_SOCKET_SERVICE (server));
      return;
    }

  g_test_trap_subprocess (NULL, 30 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr_unmatched ("*Socket check failed*");
  g_test_trap_assert_stderr_unmatched ("*fail: *");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/faults/6000-connections-dropped", test_churn);
  g_test_add_func ("/faults/every-action-from-every-handler", test_reentry_matrix);
  g_test_add_func ("/faults/descriptors-exhausted", test_descriptors_exhausted);
  g_test_add_data_func ("/faults/server-out-of-descriptors/freed-at-once",
                        GINT_TO_POINTER (FREED_AT_ONCE), test_server_out_of_descriptors);
  g_test_add_data_func ("/faults/server-out-of-descriptors/freed-gradually",
                        GINT_TO_POINTER (FREED_GRADUALLY), test_server_out_of_descriptors);
  g_test_add_data_func ("/faults/server-out-of-descriptors/one-left",
                        GINT_TO_POINTER (ONE_LEFT), test_server_out_of_descriptors);
  g_test_add_func ("/faults/server-closed-while-backing-off", test_server_closed_while_backing_off);

  return g_test_run ();
}
