/* adatoskdfer: the inference worker thread.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "worker.h"

#include "debug.h"

#define GST_CAT_DEFAULT adatosk_dfer_worker_debug

struct AdatoskWorker
{
  GstObject *owner; /* for the log only; not a reference */
  AdatoskEngine *engine;
  guint max_waiting;
  guint batch_size;
  AdatoskClip **batch; /* [batch_size]: the clips of the running forward */
  GThread *thread;

  GMutex lock;
  GCond cond;       /* work arrived, work finished, flush, quit */
  GQueue waiting;   /* AdatoskClip* to run, oldest first */
  GQueue done;      /* AdatoskClip* finished, oldest first */
  guint running;    /* clips in the forward now */
  guint generation; /* bumped by flush: stale results are dropped */
  gboolean quit;
  GError *error;
};

static gpointer
worker_main (gpointer data)
{
  AdatoskWorker *worker = data;

  g_mutex_lock (&worker->lock);
  for (;;) {
    guint generation, n = 0;
    AdatoskEngine *engine;
    GError *error = NULL;
    gboolean ok;

    while (!worker->quit && g_queue_is_empty (&worker->waiting))
      g_cond_wait (&worker->cond, &worker->lock);
    if (worker->quit)
      break;
    /* Everything waiting, up to batch-size, goes into one forward (which
     * the engine may fill up with other elements' clips). */
    while (n < worker->batch_size && !g_queue_is_empty (&worker->waiting))
      worker->batch[n++] = g_queue_pop_head (&worker->waiting);
    generation = worker->generation;
    worker->running = n;
    engine = worker->engine;
    adatosk_engine_ref (engine);
    g_mutex_unlock (&worker->lock);

    GST_LOG_OBJECT (worker->owner,
        "running %u clip%s, the first of track %u %" GST_TIME_FORMAT
        " - %" GST_TIME_FORMAT,
        n, n == 1 ? "" : "s", worker->batch[0]->track_id,
        GST_TIME_ARGS (worker->batch[0]->start),
        GST_TIME_ARGS (worker->batch[0]->end));
    ok = adatosk_engine_run (engine, worker->batch, n, &error);
    adatosk_engine_release (engine);

    g_mutex_lock (&worker->lock);
    worker->running = 0;
    if (!ok) {
      GST_WARNING_OBJECT (worker->owner, "a clip failed: %s", error->message);
      if (worker->error == NULL)
        worker->error = error;
      else
        g_error_free (error);
    }
    for (guint i = 0; i < n; i++) {
      AdatoskClip *clip = worker->batch[i];

      if (clip->pixels != NULL) {
        /* Not classified: it failed (the error above). */
        adatosk_clip_free (clip);
      } else if (generation != worker->generation) {
        GST_DEBUG_OBJECT (worker->owner,
            "track %u: result of the clip %" GST_TIME_FORMAT
            " dropped: flushed while it ran",
            clip->track_id, GST_TIME_ARGS (clip->start));
        adatosk_clip_free (clip);
      } else {
        g_queue_push_tail (&worker->done, clip);
      }
    }
    g_cond_broadcast (&worker->cond);
  }
  g_mutex_unlock (&worker->lock);
  return NULL;
}

AdatoskWorker *
adatosk_worker_new (GstObject *owner, AdatoskEngine *engine, guint max_waiting,
    guint batch_size, GError **error)
{
  AdatoskWorker *worker = g_new0 (AdatoskWorker, 1);

  worker->owner = owner;
  worker->engine = engine;
  worker->max_waiting = MAX (max_waiting, 1);
  worker->batch_size = MAX (batch_size, 1);
  worker->batch = g_new (AdatoskClip *, worker->batch_size);
  g_mutex_init (&worker->lock);
  g_cond_init (&worker->cond);
  g_queue_init (&worker->waiting);
  g_queue_init (&worker->done);
  worker->thread =
      g_thread_try_new ("adatoskdfer-worker", worker_main, worker, error);
  if (worker->thread == NULL) {
    g_free (worker->batch);
    g_mutex_clear (&worker->lock);
    g_cond_clear (&worker->cond);
    g_free (worker);
    return NULL;
  }
  return worker;
}

void
adatosk_worker_free (AdatoskWorker *worker)
{
  if (worker == NULL)
    return;
  g_mutex_lock (&worker->lock);
  worker->quit = TRUE;
  g_cond_broadcast (&worker->cond);
  g_mutex_unlock (&worker->lock);
  g_thread_join (worker->thread);

  g_queue_clear_full (&worker->waiting, (GDestroyNotify) adatosk_clip_free);
  g_queue_clear_full (&worker->done, (GDestroyNotify) adatosk_clip_free);
  g_clear_error (&worker->error);
  g_free (worker->batch);
  g_mutex_clear (&worker->lock);
  g_cond_clear (&worker->cond);
  g_free (worker);
}

void
adatosk_worker_set_engine (AdatoskWorker *worker, AdatoskEngine *engine)
{
  g_mutex_lock (&worker->lock);
  worker->engine = engine;
  g_mutex_unlock (&worker->lock);
}

guint
adatosk_worker_push (AdatoskWorker *worker, AdatoskClip *clip, gboolean wait)
{
  guint dropped = 0;
  guint generation;

  g_mutex_lock (&worker->lock);
  generation = worker->generation;
  while (wait && generation == worker->generation
      && g_queue_get_length (&worker->waiting) >= worker->max_waiting)
    g_cond_wait (&worker->cond, &worker->lock);
  if (generation != worker->generation) {
    /* Flushed while waiting for room: the clip belongs to the old data. */
    g_mutex_unlock (&worker->lock);
    GST_DEBUG_OBJECT (worker->owner,
        "track %u: clip %" GST_TIME_FORMAT
        " dropped: flushed while waiting for room",
        clip->track_id, GST_TIME_ARGS (clip->start));
    adatosk_clip_free (clip);
    return 0;
  }
  if (g_queue_get_length (&worker->waiting) >= worker->max_waiting) {
    AdatoskClip *oldest = g_queue_pop_head (&worker->waiting);

    GST_DEBUG_OBJECT (worker->owner,
        "behind: dropping the waiting clip %" GST_TIME_FORMAT
        " - %" GST_TIME_FORMAT " of track %u",
        GST_TIME_ARGS (oldest->start), GST_TIME_ARGS (oldest->end),
        oldest->track_id);
    adatosk_clip_free (oldest);
    dropped = 1;
  }
  GST_LOG_OBJECT (worker->owner,
      "track %u: clip %" GST_TIME_FORMAT " queued, %u waiting before it",
      clip->track_id, GST_TIME_ARGS (clip->start),
      g_queue_get_length (&worker->waiting));
  g_queue_push_tail (&worker->waiting, clip);
  g_cond_broadcast (&worker->cond);
  g_mutex_unlock (&worker->lock);
  return dropped;
}

AdatoskClip *
adatosk_worker_pop (AdatoskWorker *worker)
{
  AdatoskClip *clip;

  g_mutex_lock (&worker->lock);
  clip = g_queue_pop_head (&worker->done);
  g_mutex_unlock (&worker->lock);
  return clip;
}

void
adatosk_worker_drain (AdatoskWorker *worker)
{
  guint generation;

  g_mutex_lock (&worker->lock);
  generation = worker->generation;
  while (generation == worker->generation
      && (worker->running > 0 || !g_queue_is_empty (&worker->waiting)))
    g_cond_wait (&worker->cond, &worker->lock);
  g_mutex_unlock (&worker->lock);
}

void
adatosk_worker_flush (AdatoskWorker *worker)
{
  g_mutex_lock (&worker->lock);
  GST_DEBUG_OBJECT (worker->owner,
      "flush: dropping %u waiting and %u "
      "finished clips%s",
      g_queue_get_length (&worker->waiting), g_queue_get_length (&worker->done),
      worker->running ? " and the results of the running ones" : "");
  worker->generation++;
  g_queue_clear_full (&worker->waiting, (GDestroyNotify) adatosk_clip_free);
  g_queue_clear_full (&worker->done, (GDestroyNotify) adatosk_clip_free);
  g_cond_broadcast (&worker->cond);
  g_mutex_unlock (&worker->lock);
}

GError *
adatosk_worker_take_error (AdatoskWorker *worker)
{
  GError *error;

  g_mutex_lock (&worker->lock);
  error = worker->error;
  worker->error = NULL;
  g_mutex_unlock (&worker->lock);
  return error;
}

guint
adatosk_worker_get_pending (AdatoskWorker *worker)
{
  guint n;

  g_mutex_lock (&worker->lock);
  n = g_queue_get_length (&worker->waiting) + worker->running;
  g_mutex_unlock (&worker->lock);
  return n;
}
