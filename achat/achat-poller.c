/* achat-poller.c
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_EPOLL
# include <sys/epoll.h>
#else
# include <glib-unix.h>
#endif

#include "achat-output-queue-private.h"
#include "achat-poller-private.h"

#define MAX_EVENTS 256
/* Idle deadlines are checked at most this often (µs). */
#define IDLE_GRANULARITY (100 * G_TIME_SPAN_MILLISECOND)

struct _AchatPoller
{
  GSource source;

  GMainContext *context;   /* not owned: the source is attached to it */
  GThread *thread;         /* the thread whose channels use it */
  guint users;

  int epfd;
  gpointer epfd_tag;

  GQueue scheduled;        /* of AchatWatch, via schedule_link */
  GQueue prepared;         /* of AchatWatch, via prepare_link */
  GSList *dead;            /* watches destroyed while dispatching */
  GQueue idle;             /* of AchatWatch with an idle timeout, via idle_link */
  gint64 idle_check;       /* when to look at them next; G_MAXINT64: never */
  guint dispatch_depth;

  AchatReadBuffer *spare;
  guint8 *message_spare;   /* see achat_poller_copy_message() */
  gsize message_spare_size;
  gpointer chunk_spare;    /* see achat_output_queue_set_chunk_cache() */
};

struct _AchatWatch
{
  AchatPoller *poller;
  AchatWatchFunc func;
  gpointer user_data;
  AchatWatchPrepare prepare;
  GIOCondition interest;

  int fd;                          /* -1 for stream watches */
  GError *error;                   /* epoll_ctl() failed: for the owner to take */
#ifndef HAVE_EPOLL
  GSource *fd_source;
#endif

  GPollableInputStream *input;
  GPollableOutputStream *output;
  GSource *input_source;
  GSource *output_source;

  GList schedule_link;
  GList prepare_link;

  gint64 idle_timeout;             /* µs; 0: none */
  gint64 last_active;              /* monotonic µs of the last bytes moved */
  AchatWatchIdle idle_func;
  GList idle_link;
  guint scheduled : 1;
  guint dead : 1;
  guint registered : 1;            /* in the epoll set */
};

G_LOCK_DEFINE_STATIC (pollers);
static GHashTable *pollers;  /* GMainContext* -> AchatPoller* */

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

/* Read buffers ---------------------------------------------------------- */

enum {
  BUFFER_OWNED,     /* the poller's; no slice handed out */
  BUFFER_PINNED,    /* slices handed out during this read */
  BUFFER_RELEASED,  /* all slices gone: reusable */
  BUFFER_ORPHANED,  /* slices outlive the read: the last one frees it */
};

static void
read_buffer_free (AchatReadBuffer *buffer)
{
  g_free (buffer->data);
  g_free (buffer);
}

static void
read_buffer_bytes_released (gpointer data)
{
  AchatReadBuffer *buffer = data;

  if (!g_atomic_int_compare_and_exchange (&buffer->state, BUFFER_PINNED, BUFFER_RELEASED))
    read_buffer_free (buffer);
}

static AchatReadBuffer *
read_buffer_new (void)
{
  AchatReadBuffer *buffer = g_new0 (AchatReadBuffer, 1);

  buffer->size = ACHAT_READ_BUFFER_SIZE;
  buffer->data = g_malloc (buffer->size);
  buffer->state = BUFFER_OWNED;
  return buffer;
}

AchatReadBuffer *
achat_poller_take_read_buffer (AchatPoller *poller)
{
  AchatReadBuffer *buffer = g_steal_pointer (&poller->spare);

  return buffer ? buffer : read_buffer_new ();
}

GBytes *
achat_read_buffer_slice (AchatReadBuffer *buffer,
                         const guint8    *data,
                         gsize            length)
{
  g_assert (data >= buffer->data && data + length <= buffer->data + buffer->size);

  if (buffer->bytes == NULL)
    {
      buffer->state = BUFFER_PINNED;
      buffer->bytes = g_bytes_new_with_free_func (buffer->data, buffer->size,
                                                  read_buffer_bytes_released,
                                                  buffer);
    }
  return g_bytes_new_from_bytes (buffer->bytes, data - buffer->data, length);
}

void
achat_poller_return_read_buffer (AchatPoller     *poller,
                                 AchatReadBuffer *buffer)
{
  if (buffer->bytes != NULL)
    {
      g_bytes_unref (g_steal_pointer (&buffer->bytes));
      /* Still pinned means a slice outlives this read: hand the buffer over
       * to the last slice, which frees it. */
      if (g_atomic_int_compare_and_exchange (&buffer->state, BUFFER_PINNED, BUFFER_ORPHANED))
        return;
      buffer->state = BUFFER_OWNED;
    }

  if (poller != NULL && poller->spare == NULL)
    poller->spare = buffer;
  else
    read_buffer_free (buffer);
}

/* Message buffers ------------------------------------------------------- */

/* Short messages are copies (a kept message must not pin a read buffer),
 * but a copy costs two allocations: the data and the GBytes. The data goes
 * into a buffer that g_bytes_unref_to_data() hands back without a copy when
 * no handler kept the message, so a stream of short messages reuses one
 * buffer. A kept message keeps that buffer; its size is at most twice the
 * message plus MESSAGE_SLACK, so keeping messages costs about what copies
 * would. */
#define MESSAGE_MIN 64
#define MESSAGE_SLACK 256

void
achat_poller_copy_message (AchatPoller  *poller,
                           const guint8 *data,
                           gsize         length,
                           AchatMessage *message)
{
  guint8 *buffer = NULL;
  gsize size = 0;

  if (length == 0)
    {
      message->bytes = g_bytes_new (NULL, 0);
      message->lent = NULL;
      message->lent_size = 0;
      return;
    }

  if (poller != NULL)
    {
      buffer = g_steal_pointer (&poller->message_spare);
      size = poller->message_spare_size;
    }
  if (buffer == NULL || size < length || size > 2 * length + MESSAGE_SLACK)
    {
      g_free (buffer);
      size = MAX (length, MESSAGE_MIN);
      buffer = g_malloc (size);
    }

  memcpy (buffer, data, length);
  message->bytes = g_bytes_new_take (buffer, length);
  message->lent = buffer;
  message->lent_size = size;
}

/* Drops the emitter's reference on @message->bytes, taking the buffer back
 * when nobody else holds one. */
void
achat_poller_release_message (AchatPoller  *poller,
                              AchatMessage *message)
{
  gsize length;
  guint8 *data;

  if (message->lent == NULL)
    {
      g_clear_pointer (&message->bytes, g_bytes_unref);
      return;
    }

  data = g_bytes_unref_to_data (g_steal_pointer (&message->bytes), &length);
  if (data == message->lent && poller != NULL && poller->message_spare == NULL)
    {
      poller->message_spare = data;
      poller->message_spare_size = message->lent_size;
    }
  else
    {
      /* A handler kept the message (@data is a copy of it), or a nested
       * delivery already refilled the spare slot. */
      g_free (data);
    }
  message->lent = NULL;
}

/* The source ------------------------------------------------------------ */

static void
watch_free (AchatWatch *watch)
{
  g_clear_object (&watch->input);
  g_clear_object (&watch->output);
  g_clear_error (&watch->error);
  g_free (watch);
}

static void
poller_reap (AchatPoller *poller)
{
  if (poller->dispatch_depth == 0)
    g_slist_free_full (g_steal_pointer (&poller->dead), (GDestroyNotify) watch_free);
}

static gboolean
poller_prepare (GSource *source,
                gint    *timeout)
{
  AchatPoller *poller = (AchatPoller *) source;

  if (poller->prepared.length > 0)
    {
      /* Watches whose readiness depends on application code (readable() and
       * writable() overrides) are asked before every poll, as asyncore did.
       * A hook may destroy any watch, so walk a snapshot; destroyed watches
       * are only freed once dispatch_depth is back to 0. */
      AchatWatch **snapshot = g_newa (AchatWatch *, poller->prepared.length);
      guint n = 0, i;
      GList *l;

      for (l = poller->prepared.head; l != NULL; l = l->next)
        snapshot[n++] = l->data;

      poller->dispatch_depth++;
      for (i = 0; i < n; i++)
        if (!snapshot[i]->dead && snapshot[i]->prepare != NULL)
          snapshot[i]->prepare (snapshot[i]->user_data);
      poller->dispatch_depth--;
      poller_reap (poller);
    }

  *timeout = -1;
  return poller->scheduled.length > 0;
}

static gboolean
poller_check (GSource *source)
{
  AchatPoller *poller = (AchatPoller *) source;

  if (poller->scheduled.length > 0)
    return TRUE;
#ifdef HAVE_EPOLL
  return poller->epfd_tag != NULL &&
         (g_source_query_unix_fd (source, poller->epfd_tag) & G_IO_IN) != 0;
#else
  return FALSE;
#endif
}

static GIOCondition
condition_from_epoll (guint32 events)
{
  GIOCondition condition = 0;

#ifdef HAVE_EPOLL
  if (events & EPOLLIN)
    condition |= G_IO_IN;
  if (events & EPOLLOUT)
    condition |= G_IO_OUT;
  if (events & (EPOLLHUP | EPOLLRDHUP))
    condition |= G_IO_HUP;
  if (events & EPOLLERR)
    condition |= G_IO_ERR;
#endif
  return condition;
}

/* Idle timeouts ---------------------------------------------------------- */

/* Wakes the poller's source at @when (or later, to the granularity). */
static void
poller_schedule_idle_check (AchatPoller *poller,
                            gint64       when)
{
  if (when == G_MAXINT64)
    {
      poller->idle_check = G_MAXINT64;
      g_source_set_ready_time ((GSource *) poller, -1);
      return;
    }
  when = MAX (when, g_get_monotonic_time () + IDLE_GRANULARITY);
  poller->idle_check = when;
  g_source_set_ready_time ((GSource *) poller, when);
}

/* One pass over the watches with an idle timeout: those idle too long are
 * taken off the list, then told (a callback may close any channel, so
 * nothing is called while the list is walked). Activity only moves
 * deadlines later, so the next check is at the earliest deadline found. */
static void
poller_expire_idle (AchatPoller *poller)
{
  gint64 now = g_get_monotonic_time ();
  gint64 next = G_MAXINT64;
  AchatWatch **expired = g_new (AchatWatch *, poller->idle.length + 1);
  guint n = 0, i;
  GList *l = poller->idle.head;

  while (l != NULL)
    {
      AchatWatch *watch = l->data;
      gint64 deadline = watch->last_active + watch->idle_timeout;

      l = l->next;
      if (deadline <= now)
        {
          g_queue_unlink (&poller->idle, &watch->idle_link);
          watch->idle_timeout = 0;
          expired[n++] = watch;
        }
      else
        next = MIN (next, deadline);
    }
  poller_schedule_idle_check (poller, next);

  for (i = 0; i < n; i++)
    if (!expired[i]->dead)
      expired[i]->idle_func (expired[i]->user_data);
  g_free (expired);
}

static gboolean
poller_dispatch (GSource     *source,
                 GSourceFunc  callback,
                 gpointer     user_data)
{
  AchatPoller *poller = (AchatPoller *) source;

  g_source_ref (source);
  poller->dispatch_depth++;

#ifdef HAVE_EPOLL
  {
    struct epoll_event events[MAX_EVENTS];
    int n, i;

    do
      n = poller->epfd >= 0 ? epoll_wait (poller->epfd, events, MAX_EVENTS, 0) : 0;
    while (n < 0 && errno == EINTR);

    for (i = 0; i < n; i++)
      {
        AchatWatch *watch = events[i].data.ptr;

        if (watch->dead)
          continue;
        watch->func (watch->user_data, condition_from_epoll (events[i].events));

        /* epoll reports hang-ups and errors whatever the interest, and only
         * reading consumes them (writes just fail). A watch that does not
         * read now (readable() is FALSE, a nested loop) would make every
         * iteration spin: take it out of the set until it wants input. */
        if (!watch->dead && !(watch->interest & G_IO_IN) && watch->registered &&
            (events[i].events & (EPOLLHUP | EPOLLERR)))
          {
            epoll_ctl (poller->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
            watch->registered = FALSE;
          }
      }
  }
#endif

  /* Only the watches scheduled before this point run now; those scheduled
   * by these callbacks run on the next iteration. */
  {
    guint n = poller->scheduled.length;

    while (n-- > 0 && poller->scheduled.length > 0)
      {
        GList *link = g_queue_peek_head_link (&poller->scheduled);
        AchatWatch *watch = link->data;

        g_queue_unlink (&poller->scheduled, link);
        watch->scheduled = FALSE;
        if (!watch->dead)
          watch->func (watch->user_data, 0);
      }
  }

  /* Also when the list emptied since the check was set: that clears the
   * ready time, which would otherwise make every iteration dispatch us. */
  if (poller->idle_check != G_MAXINT64 && g_get_monotonic_time () >= poller->idle_check)
    poller_expire_idle (poller);

  poller->dispatch_depth--;
  poller_reap (poller);
  g_source_unref (source);

  return G_SOURCE_CONTINUE;
}

static void
poller_finalize (GSource *source)
{
  AchatPoller *poller = (AchatPoller *) source;

  g_slist_free_full (g_steal_pointer (&poller->dead), (GDestroyNotify) watch_free);
  if (poller->spare)
    read_buffer_free (g_steal_pointer (&poller->spare));
  g_clear_pointer (&poller->message_spare, g_free);
  achat_output_chunk_cache_clear (&poller->chunk_spare);
  if (poller->epfd >= 0)
    close (poller->epfd);
}

static GSourceFuncs poller_funcs = {
  poller_prepare,
  poller_check,
  poller_dispatch,
  poller_finalize,
  NULL, NULL,
};

/* Creates the epoll descriptor when there is none (at creation, or
 * after an earlier attempt failed); FALSE with @error when it cannot. */
static gboolean
poller_ensure_epoll (AchatPoller  *poller,
                     GError      **error)
{
#ifdef HAVE_EPOLL
  int errsv;

  if (poller->epfd >= 0)
    return TRUE;
  poller->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (poller->epfd < 0)
    {
      errsv = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "Could not create the main context's epoll descriptor: %s",
                   g_strerror (errsv));
      return FALSE;
    }
  poller->epfd_tag = g_source_add_unix_fd ((GSource *) poller, poller->epfd, G_IO_IN);
#endif
  return TRUE;
}

AchatPoller *
achat_poller_acquire (GMainContext  *context,
                      GError       **error)
{
  AchatPoller *poller;

  G_LOCK (pollers);
  if (pollers == NULL)
    pollers = g_hash_table_new (NULL, NULL);

  poller = g_hash_table_lookup (pollers, context);
  if (poller == NULL)
    {
      GSource *source = g_source_new (&poller_funcs, sizeof (AchatPoller));

      poller = (AchatPoller *) source;
      poller->context = context;
      poller->thread = g_thread_self ();
      poller->epfd = -1;
      g_queue_init (&poller->scheduled);
      g_queue_init (&poller->prepared);
      g_queue_init (&poller->idle);
      poller->idle_check = G_MAXINT64;
      g_source_set_static_name (source, "AchatPoller");
      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      /* Avoid GLib removing and re-adding our fd around each dispatch; we
       * guard against re-entrancy ourselves (dispatch_depth, dead list). */
      g_source_set_can_recurse (source, TRUE);
      g_source_attach (source, context);
      g_hash_table_insert (pollers, context, poller);
    }
  if (poller->users++ == 0)
    poller->thread = g_thread_self ();   /* kept from earlier users (the default context) */
  poller_ensure_epoll (poller, error);
  G_UNLOCK (pollers);

  return poller;
}

GThread *
achat_poller_get_thread (AchatPoller *poller)
{
  return poller->thread;
}

/* The spare chunk slot the output queues of this poller's channels share
 * (achat_output_queue_set_chunk_cache()): they all run in its thread. */
gpointer *
achat_poller_get_chunk_cache (AchatPoller *poller)
{
  return &poller->chunk_spare;
}

void
achat_poller_release (AchatPoller *poller)
{
  gboolean last;

  G_LOCK (pollers);
  /* The default context's poller stays: a busy server on it never needs a
   * new descriptor for it (it might find none left). */
  last = --poller->users == 0 && poller->context != g_main_context_default ();
  if (last)
    g_hash_table_remove (pollers, poller->context);
  G_UNLOCK (pollers);

  if (last)
    {
      g_source_destroy ((GSource *) poller);
      g_source_unref ((GSource *) poller);
    }
}

/* Watches --------------------------------------------------------------- */

static AchatWatch *
watch_new (AchatPoller    *poller,
           AchatWatchFunc  func,
           gpointer        user_data)
{
  AchatWatch *watch = g_new0 (AchatWatch, 1);

  watch->poller = poller;
  watch->idle_link.data = watch;
  watch->func = func;
  watch->user_data = user_data;
  watch->fd = -1;
  watch->schedule_link.data = watch;
  watch->prepare_link.data = watch;
  return watch;
}

#ifndef HAVE_EPOLL
static gboolean
fd_source_cb (gint         fd,
              GIOCondition condition,
              gpointer     user_data)
{
  AchatWatch *watch = user_data;

  watch->func (watch->user_data, condition);
  return G_SOURCE_CONTINUE;
}
#endif

#ifdef HAVE_EPOLL
/* epoll_ctl() refused the descriptor (out of memory, or past the user's
 * max_user_watches): a runtime failure, not a programming error, so the
 * watch keeps it for its owner, which closes with it. */
static void
watch_failed (AchatWatch *watch,
              const char *operation,
              int         errsv)
{
  if (watch->error != NULL)
    return;
  watch->error = g_error_new (G_IO_ERROR, g_io_error_from_errno (errsv),
                              "Cannot watch the connection for readiness: "
                              "epoll_ctl(%s) failed: %s", operation, g_strerror (errsv));
}
#endif

GError *
achat_watch_take_error (AchatWatch *watch)
{
  return g_steal_pointer (&watch->error);
}

AchatWatch *
achat_poller_watch_fd (AchatPoller    *poller,
                       int             fd,
                       AchatWatchFunc  func,
                       gpointer        user_data)
{
  AchatWatch *watch = watch_new (poller, func, user_data);

  watch->fd = fd;
#ifdef HAVE_EPOLL
  {
    struct epoll_event ev = { 0, };

    ev.data.ptr = watch;
    if (poller->epfd < 0 || fd < 0)
      ;   /* the channel fails with the reason (no epoll descriptor, no socket) */
    else if (epoll_ctl (poller->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
      watch_failed (watch, "ADD", errno);
    else
      watch->registered = TRUE;
  }
#else
#endif
  return watch;
}

AchatWatch *
achat_poller_watch_streams (AchatPoller           *poller,
                            GPollableInputStream  *input,
                            GPollableOutputStream *output,
                            AchatWatchFunc         func,
                            gpointer               user_data)
{
  AchatWatch *watch = watch_new (poller, func, user_data);

  /* NULL for a stream that cannot be polled: the channel reports it. */
  g_set_object (&watch->input, input);
  g_set_object (&watch->output, output);
  return watch;
}

static gboolean
input_ready_cb (GObject  *stream,
                gpointer  user_data)
{
  AchatWatch *watch = user_data;

  watch->func (watch->user_data, G_IO_IN);
  return G_SOURCE_CONTINUE;
}

static gboolean
output_ready_cb (GObject  *stream,
                 gpointer  user_data)
{
  AchatWatch *watch = user_data;

  watch->func (watch->user_data, G_IO_OUT);
  return G_SOURCE_CONTINUE;
}

gboolean
achat_watch_set_interest (AchatWatch   *watch,
                          GIOCondition  interest)
{
  interest &= G_IO_IN | G_IO_OUT;
  if (watch->dead || watch->interest == interest)
    return TRUE;

  if (watch->fd >= 0)
    {
#ifdef HAVE_EPOLL
      struct epoll_event ev = { 0, };

      ev.data.ptr = watch;
      if (interest & G_IO_IN)
        ev.events |= EPOLLIN | EPOLLRDHUP;
      if (interest & G_IO_OUT)
        ev.events |= EPOLLOUT;
      /* A watch parked after a hang-up comes back only for input. */
      if ((!watch->registered && !(interest & G_IO_IN)) || watch->poller->epfd < 0)
        {
          watch->interest = interest;
          return TRUE;
        }
      if (epoll_ctl (watch->poller->epfd,
                     watch->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                     watch->fd, &ev) < 0)
        {
          watch_failed (watch, watch->registered ? "MOD" : "ADD", errno);
          return FALSE;
        }
      watch->registered = TRUE;
#else
      /* Without epoll each descriptor gets its own source. */
      clear_source (&watch->fd_source);
      if (interest)
        {
          watch->fd_source = g_unix_fd_source_new (watch->fd, interest);
          g_source_set_callback (watch->fd_source, G_SOURCE_FUNC (fd_source_cb), watch, NULL);
          g_source_set_static_name (watch->fd_source, "AchatWatch");
          g_source_attach (watch->fd_source, watch->poller->context);
        }
#endif
    }
  else
    {
      if ((interest & G_IO_IN) && watch->input_source == NULL)
        {
          watch->input_source = g_pollable_input_stream_create_source (watch->input, NULL);
          g_source_set_callback (watch->input_source, G_SOURCE_FUNC (input_ready_cb), watch, NULL);
          g_source_set_static_name (watch->input_source, "AchatWatch input");
          g_source_attach (watch->input_source, watch->poller->context);
        }
      else if (!(interest & G_IO_IN))
        clear_source (&watch->input_source);

      if ((interest & G_IO_OUT) && watch->output_source == NULL)
        {
          watch->output_source = g_pollable_output_stream_create_source (watch->output, NULL);
          g_source_set_callback (watch->output_source, G_SOURCE_FUNC (output_ready_cb), watch, NULL);
          g_source_set_static_name (watch->output_source, "AchatWatch output");
          g_source_attach (watch->output_source, watch->poller->context);
        }
      else if (!(interest & G_IO_OUT))
        clear_source (&watch->output_source);
    }

  watch->interest = interest;
  return TRUE;
}

void
achat_watch_schedule (AchatWatch *watch)
{
  if (watch->dead || watch->scheduled)
    return;
  watch->scheduled = TRUE;
  /* Our prepare() returns TRUE on the next iteration. Watches are only
   * touched from the thread that runs the context, so no wakeup is needed. */
  g_queue_push_tail_link (&watch->poller->scheduled, &watch->schedule_link);
}

void
achat_watch_set_prepare (AchatWatch        *watch,
                         AchatWatchPrepare  prepare)
{
  if (watch->dead)
    return;
  if (prepare != NULL && watch->prepare == NULL)
    g_queue_push_tail_link (&watch->poller->prepared, &watch->prepare_link);
  else if (prepare == NULL && watch->prepare != NULL)
    g_queue_unlink (&watch->poller->prepared, &watch->prepare_link);
  watch->prepare = prepare;
}

void
achat_watch_destroy (AchatWatch *watch)
{
  AchatPoller *poller = watch->poller;

  g_return_if_fail (!watch->dead);

  if (watch->scheduled)
    g_queue_unlink (&poller->scheduled, &watch->schedule_link);
  watch->scheduled = FALSE;
  achat_watch_set_prepare (watch, NULL);
  achat_watch_set_idle_timeout (watch, 0, NULL);

  if (watch->fd >= 0)
    {
#ifdef HAVE_EPOLL
      if (watch->registered)
        epoll_ctl (poller->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
      watch->registered = FALSE;
#else
      clear_source (&watch->fd_source);
#endif
    }
  clear_source (&watch->input_source);
  clear_source (&watch->output_source);
  watch->dead = TRUE;

  /* Events already read from epoll in this dispatch may still name it. */
  poller->dead = g_slist_prepend (poller->dead, watch);
  poller_reap (poller);
}

void
achat_watch_set_idle_timeout (AchatWatch     *watch,
                              gint64          timeout,
                              AchatWatchIdle  func)
{
  AchatPoller *poller = watch->poller;

  if (watch->dead)
    return;
  if (watch->idle_timeout > 0)
    g_queue_unlink (&poller->idle, &watch->idle_link);
  watch->idle_timeout = timeout > 0 ? timeout : 0;
  watch->idle_func = func;
  if (watch->idle_timeout == 0)
    return;

  watch->last_active = g_get_monotonic_time ();
  g_queue_push_tail_link (&poller->idle, &watch->idle_link);
  if (watch->last_active + timeout < poller->idle_check)
    poller_schedule_idle_check (poller, watch->last_active + timeout);
}

void
achat_watch_touch (AchatWatch *watch)
{
  if (watch != NULL && watch->idle_timeout > 0)
    watch->last_active = g_get_monotonic_time ();
}
