/* adatoskdfer: the inference engine, one loaded model on one backend with one
 * queue of clips, shared by every element of the process with the same
 * model-instance-id (an element without an id has an engine of its own).
 *
 * Clips that wait together run together: adatosk_engine_run() queues the
 * caller's clips and waits; a caller that finds no forward running becomes
 * the one that runs: it takes up to batch-size waiting clips (its own and
 * those of other elements, oldest first) into one batched forward, and keeps
 * going while clips wait and its own are not done, then hands over. So the
 * engine needs no thread of its own, one forward runs at a time on the
 * backend (which allows no more), and the clips of several streams or faces
 * that fall due while a forward runs share the next one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_ENGINE_H
#define ADATOSK_ENGINE_H

#include "inference.h"

G_BEGIN_DECLS

/* What elements sharing an engine must agree on. */
typedef struct
{
  const gchar *model_path; /* NULL: the built-in model */
  AdatoskBackendKind backend;
  gint threads;
  gdouble keep_ratio;
  guint batch_size; /* the most clips per forward, >= 1 */
} AdatoskEngineSettings;

typedef struct AdatoskEngine AdatoskEngine;

/* The engine of `instance_id` (NULL or "": a private one), loading the model
 * when no element holds it yet; a reference the caller releases. Fails with
 * a message naming the id and the setting that differs when the id's engine
 * was made with other settings. `owner` names the element in the log. */
AdatoskEngine *adatosk_engine_acquire (GstObject *owner,
    const gchar *instance_id, const AdatoskEngineSettings *settings,
    GError **error);
void adatosk_engine_release (AdatoskEngine *engine);
/* Another reference (the async worker holds one while a forward runs, so a
 * model switched away from lives until its last forward ends). */
void adatosk_engine_ref (AdatoskEngine *engine);

AdatoskInference *adatosk_engine_get_inference (AdatoskEngine *engine);
/* Forwards run (a batch counts once) and clips run, for all its users. */
guint64 adatosk_engine_get_forwards (AdatoskEngine *engine);
guint64 adatosk_engine_get_clips (AdatoskEngine *engine);

/* Classifies `n` clips (batched with whatever else waits) and returns when
 * all of them ran. A classified clip has its pixels freed. On failure the
 * clips that failed keep their pixels and the first error is returned; the
 * others are classified (a failing batch is retried clip by clip, so one
 * bad clip does not fail another element's). */
gboolean adatosk_engine_run (AdatoskEngine *engine, AdatoskClip **clips,
    guint n, GError **error);

G_END_DECLS

#endif /* ADATOSK_ENGINE_H */
