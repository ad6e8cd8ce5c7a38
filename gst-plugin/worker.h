/* adatoskdfer: a thread that classifies clips off the streaming thread.
 *
 * The streaming thread hands each clip to the worker and picks the finished
 * ones up on a later buffer, so decoding and inference overlap. For live
 * sources the streaming thread must never wait for a forward: when the worker
 * falls behind, the oldest waiting clip is dropped (a newer clip of the same
 * faces is more useful than a late one) and counted. For other sources the
 * streaming thread waits for room instead, so no clip is lost.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_WORKER_H
#define ADATOSK_WORKER_H

#include "engine.h"

G_BEGIN_DECLS

typedef struct AdatoskWorker AdatoskWorker;

/* The worker runs its clips on `engine` (which must outlive it), up to
 * `batch_size` of them per forward (all that wait, the engine adding other
 * elements' clips), and keeps at most `max_waiting` clips waiting besides
 * those running. `owner` (may be NULL) names the element in the log
 * (adatoskdfer-worker). */
AdatoskWorker *adatosk_worker_new (GstObject *owner, AdatoskEngine *engine,
    guint max_waiting, guint batch_size, GError **error);
/* The engine of the forwards from now on (a model switch: the caller
 * drained the worker first, since waiting clips fit the old model). */
void adatosk_worker_set_engine (AdatoskWorker *worker, AdatoskEngine *engine);

/* Joins the thread; waiting and finished clips are freed. */
void adatosk_worker_free (AdatoskWorker *worker);

/* Queues `clip` (taking it). When `max_waiting` clips wait already, either
 * waits for room (`wait`: files, where every clip counts and nothing is
 * live) or drops the oldest waiting clip (live sources, which must not
 * stall). Returns the number of clips dropped (0 or 1). A flush during the
 * wait drops `clip` silently: it belongs to the flushed data. */
guint adatosk_worker_push (AdatoskWorker *worker, AdatoskClip *clip,
    gboolean wait);

/* A finished clip (the caller frees it), or NULL when none is ready. */
AdatoskClip *adatosk_worker_pop (AdatoskWorker *worker);

/* Blocks until no clip waits or runs, or until a flush. */
void adatosk_worker_drain (AdatoskWorker *worker);

/* Drops the waiting and finished clips and the results of the running ones,
 * and wakes a drain. */
void adatosk_worker_flush (AdatoskWorker *worker);

/* The first forward error since the last call, if any (the caller owns it). */
GError *adatosk_worker_take_error (AdatoskWorker *worker);

/* Clips waiting or running now. */
guint adatosk_worker_get_pending (AdatoskWorker *worker);

G_END_DECLS

#endif /* ADATOSK_WORKER_H */
