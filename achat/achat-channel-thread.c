/* achat-channel-thread.c: AchatChannel and the threads other than its own
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A channel runs in the thread of its main context. Pushes (and
 * close_when_done()) from other threads are queued under a lock and
 * applied there, in order; cancellation, which may come from any thread,
 * is handled there too.
 */

#include "config.h"

#include "achat-channel-private.h"

/* Runs @func on the channel's main context, in the thread that runs it,
 * from any thread. (Not g_main_context_invoke(): it would run @func in the
 * calling thread whenever the context is not running.) */
static void
channel_run_in_owner (AchatChannel   *self,
                      GSourceFunc     func,
                      gpointer        data,
                      GDestroyNotify  notify)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, func, data, notify);
  g_source_set_static_name (source, "[achat] from another thread");
  g_source_attach (source, GET_PRIV (self)->context);
}

/* Cancellation may come from any thread: it is handled in the owner's. */
typedef struct
{
  AchatChannel *self;
  GTask *task;
  void (*func) (AchatChannel *self, GTask *task);
} CancelOp;

static void
cancel_op_free (gpointer data)
{
  CancelOp *op = data;

  g_object_unref (op->self);
  g_object_unref (op->task);
  g_free (op);
}

static gboolean
cancel_in_owner (gpointer data)
{
  CancelOp *op = data;

  op->func (op->self, op->task);
  return G_SOURCE_REMOVE;
}

static void
cancelled_cb (GCancellable *cancellable,
              gpointer      data)
{
  CancelOp *op = data;
  CancelOp *copy = g_new (CancelOp, 1);

  copy->self = g_object_ref (op->self);
  copy->task = g_object_ref (op->task);
  copy->func = op->func;
  channel_run_in_owner (op->self, cancel_in_owner, copy, cancel_op_free);
}

/* Calls @func in the owner thread when @task's cancellable is cancelled,
 * until achat_channel_task_drop_cancel(). The handler is kept in the
 * task's task data: the tasks watched so (reads, drains) use it for
 * nothing else, and only these two functions touch it. */
void
achat_channel_watch_cancel (AchatChannel *self,
                            GTask        *task,
                            void        (*func) (AchatChannel *self, GTask *task))
{
  GCancellable *cancellable = g_task_get_cancellable (task);
  CancelOp *op;
  gulong handler;

  g_assert (g_task_get_task_data (task) == NULL);
  if (cancellable == NULL)
    return;
  op = g_new (CancelOp, 1);
  op->self = g_object_ref (self);
  op->task = g_object_ref (task);
  op->func = func;
  handler = g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb), op, cancel_op_free);
  g_task_set_task_data (task, GSIZE_TO_POINTER (handler), NULL);
}

/* The task completes: its cancellable no longer needs watching (nor keeps
 * the channel alive), whether or not the caller calls _finish(). */
void
achat_channel_task_drop_cancel (GTask *task)
{
  gulong handler = GPOINTER_TO_SIZE (g_task_get_task_data (task));

  if (handler == 0)
    return;
  g_task_set_task_data (task, NULL, NULL);
  g_cancellable_disconnect (g_task_get_cancellable (task), handler);
}

/* Other threads -------------------------------------------------------- */

void
achat_channel_foreign_op_free (ForeignOp *op)
{
  g_clear_pointer (&op->bytes, g_bytes_unref);
  g_clear_object (&op->producer);
  g_free (op);
}

static gboolean
channel_apply_foreign (gpointer user_data)
{
  AchatChannel *self = user_data;
  AchatChannelPrivate *priv = GET_PRIV (self);
  GQueue ops = G_QUEUE_INIT;
  ForeignOp *op;
  guint64 unsent = priv->unsent_bytes;

  g_mutex_lock (&priv->foreign_lock);
  ops = priv->foreign_ops;
  g_queue_init (&priv->foreign_ops);
  priv->foreign_scheduled = FALSE;
  g_mutex_unlock (&priv->foreign_lock);

  while ((op = g_queue_pop_head (&ops)) != NULL)
    {
      if (priv->closed || priv->closing)
        {
          /* Closed meanwhile: counted, not lost without a word. */
          if (op->bytes != NULL)
            priv->unsent_bytes += g_bytes_get_size (op->bytes);
        }
      else if (op->kind == FOREIGN_PUSH)
        achat_channel_push_bytes (self, op->bytes);
      else if (op->kind == FOREIGN_PRODUCER)
        achat_channel_push_with_producer (self, op->producer);
      else
        achat_channel_close_when_done (self);
      achat_channel_foreign_op_free (op);
    }
  if (priv->unsent_bytes != unsent)
    g_object_notify_by_pspec (G_OBJECT (self), achat_channel_properties[PROP_UNSENT_BYTES]);
  return G_SOURCE_REMOVE;
}

/* A push (or close_when_done()) from a thread other than the channel's:
 * queued under a lock, in order, and applied in the owner thread. */
gboolean
achat_channel_push_foreign (AchatChannel  *self,
                            ForeignKind    kind,
                            GBytes        *bytes,
                            AchatProducer *producer)
{
  AchatChannelPrivate *priv = GET_PRIV (self);
  ForeignOp *op;
  gboolean schedule;

  g_mutex_lock (&priv->foreign_lock);
  if (priv->foreign_refused)
    {
      g_mutex_unlock (&priv->foreign_lock);
      if (kind != FOREIGN_CLOSE_WHEN_DONE)
        g_warning ("%s: push from another thread refused: the channel is closing or closed",
                   G_OBJECT_TYPE_NAME (self));
      g_clear_pointer (&bytes, g_bytes_unref);
      return FALSE;
    }
  op = g_new0 (ForeignOp, 1);
  op->kind = kind;
  op->bytes = bytes;
  op->producer = producer ? g_object_ref (producer) : NULL;
  g_queue_push_tail (&priv->foreign_ops, op);
  if (kind == FOREIGN_CLOSE_WHEN_DONE)
    priv->foreign_refused = TRUE;
  schedule = !priv->foreign_scheduled;
  priv->foreign_scheduled = TRUE;
  g_mutex_unlock (&priv->foreign_lock);

  if (schedule)
    channel_run_in_owner (self, channel_apply_foreign, g_object_ref (self), g_object_unref);
  return TRUE;
}

/* Refuses pushes from other threads from now on; with @pending, also takes
 * those accepted and not applied yet (a ForeignOp queue). */
void
achat_channel_foreign_refuse (AchatChannelPrivate *priv,
                              GQueue              *pending)
{
  g_mutex_lock (&priv->foreign_lock);
  priv->foreign_refused = TRUE;
  if (pending != NULL)
    {
      *pending = priv->foreign_ops;
      g_queue_init (&priv->foreign_ops);
    }
  g_mutex_unlock (&priv->foreign_lock);
}
