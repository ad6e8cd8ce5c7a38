/* adatoskdfer: the shared inference engine (see engine.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "engine.h"

#include "debug.h"

#define GST_CAT_DEFAULT adatosk_dfer_engine_debug

/* One caller's clips inside adatosk_engine_run(). */
typedef struct
{
  AdatoskClip **clips;
  guint n;
  guint taken; /* handed to a forward */
  guint done;  /* ran (classified or failed) */
  GError *error;
} Request;

struct AdatoskEngine
{
  gchar *id; /* NULL: private */
  gint refs; /* under engines_lock */
  gchar *model_path;
  AdatoskEngineSettings settings; /* model_path points at the copy above */
  AdatoskInference *inference;

  GMutex lock;
  GCond cond;      /* a forward finished */
  GQueue requests; /* Request* with clips not yet taken, oldest first */
  gboolean busy;   /* a caller runs a forward now */
  guint64 forwards, clips;
};

static GMutex engines_lock;
static GHashTable *engines; /* id -> AdatoskEngine*, shared ones only */

static const gchar *
backend_name (AdatoskBackendKind kind)
{
  return kind == ADATOSK_BACKEND_CPU   ? "cpu"
      : kind == ADATOSK_BACKEND_VULKAN ? "vulkan"
                                       : "auto";
}

/* "" when `a` and `b` agree, else what differs (for the error message). */
static gchar *
settings_difference (const AdatoskEngineSettings *a,
    const AdatoskEngineSettings *b)
{
  const gchar *pa = a->model_path ? a->model_path : "(built in)";
  const gchar *pb = b->model_path ? b->model_path : "(built in)";

  if (g_strcmp0 (pa, pb) != 0)
    return g_strdup_printf ("model %s, this element asks for %s", pa, pb);
  if (a->backend != b->backend)
    return g_strdup_printf ("backend %s, this element asks for %s",
        backend_name (a->backend), backend_name (b->backend));
  if (a->threads != b->threads)
    return g_strdup_printf ("threads %d, this element asks for %d", a->threads,
        b->threads);
  if (a->keep_ratio != b->keep_ratio)
    return g_strdup_printf ("keep-ratio %g, this element asks for %g",
        a->keep_ratio, b->keep_ratio);
  if (a->batch_size != b->batch_size)
    return g_strdup_printf ("batch-size %u, this element asks for %u",
        a->batch_size, b->batch_size);
  return g_strdup ("");
}

static void
engine_free (AdatoskEngine *engine)
{
  g_assert (g_queue_is_empty (&engine->requests));
  adatosk_inference_free (engine->inference);
  g_mutex_clear (&engine->lock);
  g_cond_clear (&engine->cond);
  g_free (engine->model_path);
  g_free (engine->id);
  g_free (engine);
}

static AdatoskEngine *
engine_new (GstObject *owner, const gchar *id,
    const AdatoskEngineSettings *settings, GError **error)
{
  AdatoskEngine *engine = g_new0 (AdatoskEngine, 1);

  engine->id = g_strdup (id);
  engine->refs = 1;
  engine->model_path = g_strdup (settings->model_path);
  engine->settings = *settings;
  engine->settings.model_path = engine->model_path;
  engine->settings.batch_size = MAX (settings->batch_size, 1);
  g_mutex_init (&engine->lock);
  g_cond_init (&engine->cond);
  g_queue_init (&engine->requests);
  /* A shared engine outlives the element that made it: its log lines name
   * the id, not an element. */
  engine->inference =
      adatosk_inference_new (id ? NULL : owner, settings->model_path,
          settings->backend, settings->threads, settings->keep_ratio, error);
  if (engine->inference == NULL) {
    engine_free (engine);
    return NULL;
  }
  return engine;
}

AdatoskEngine *
adatosk_engine_acquire (GstObject *owner, const gchar *instance_id,
    const AdatoskEngineSettings *settings, GError **error)
{
  AdatoskEngine *engine;

  if (instance_id == NULL || instance_id[0] == '\0')
    return engine_new (owner, NULL, settings, error);

  /* Loading under the registry lock: a second element with the same id
   * waits for the first one's model instead of loading its own. */
  g_mutex_lock (&engines_lock);
  if (engines == NULL)
    engines = g_hash_table_new (g_str_hash, g_str_equal);
  engine = g_hash_table_lookup (engines, instance_id);
  if (engine != NULL) {
    gchar *difference = settings_difference (&engine->settings, settings);

    if (difference[0] != '\0') {
      g_set_error (error, ADATOSK_DFER_ERROR, ADATOSK_ERROR_INVALID_ARGUMENT,
          "model-instance-id \"%s\" is already used with %s: elements "
          "sharing a model instance need the same model, backend, threads, "
          "keep-ratio and batch-size; give this element those settings or "
          "another model-instance-id",
          instance_id, difference);
      engine = NULL;
    } else {
      engine->refs++;
      GST_DEBUG_OBJECT (owner, "model-instance-id \"%s\": shared, %d users",
          instance_id, engine->refs);
    }
    g_free (difference);
  } else {
    engine = engine_new (owner, instance_id, settings, error);
    if (engine != NULL) {
      g_hash_table_insert (engines, engine->id, engine);
      GST_INFO_OBJECT (owner, "model-instance-id \"%s\": model loaded",
          instance_id);
    }
  }
  g_mutex_unlock (&engines_lock);
  return engine;
}

void
adatosk_engine_ref (AdatoskEngine *engine)
{
  g_mutex_lock (&engines_lock);
  engine->refs++;
  g_mutex_unlock (&engines_lock);
}

void
adatosk_engine_release (AdatoskEngine *engine)
{
  gboolean last;

  if (engine == NULL)
    return;
  g_mutex_lock (&engines_lock);
  last = --engine->refs == 0;
  if (last && engine->id != NULL) {
    g_hash_table_remove (engines, engine->id);
    GST_INFO ("model-instance-id \"%s\": last user gone, model freed",
        engine->id);
  }
  g_mutex_unlock (&engines_lock);
  if (last)
    engine_free (engine);
}

AdatoskInference *
adatosk_engine_get_inference (AdatoskEngine *engine)
{
  return engine->inference;
}

guint64
adatosk_engine_get_forwards (AdatoskEngine *engine)
{
  guint64 n;

  g_mutex_lock (&engine->lock);
  n = engine->forwards;
  g_mutex_unlock (&engine->lock);
  return n;
}

guint64
adatosk_engine_get_clips (AdatoskEngine *engine)
{
  guint64 n;

  g_mutex_lock (&engine->lock);
  n = engine->clips;
  g_mutex_unlock (&engine->lock);
  return n;
}

/* Runs `clips` (with their requests in `owners`) outside the lock. A batch
 * that fails is run again clip by clip, so that the error sticks to the clip
 * that caused it (a NaN clip of one element fails no other's). */
static void
run_unlocked (AdatoskEngine *engine, AdatoskClip **clips, Request **owners,
    guint n, guint *forwards)
{
  GError *error = NULL;

  *forwards = 1;
  if (adatosk_inference_run_batch (engine->inference, clips, n, &error))
    return;
  if (n == 1) {
    if (owners[0]->error == NULL)
      owners[0]->error = error;
    else
      g_error_free (error);
    return;
  }
  GST_DEBUG ("a batch of %u clips failed (%s): running them one by one", n,
      error->message);
  g_clear_error (&error);
  for (guint i = 0; i < n; i++) {
    (*forwards)++;
    if (adatosk_inference_run (engine->inference, clips[i], &error))
      continue;
    if (owners[i]->error == NULL)
      owners[i]->error = error;
    else
      g_error_free (error);
    error = NULL;
  }
}

gboolean
adatosk_engine_run (AdatoskEngine *engine, AdatoskClip **clips, guint n,
    GError **error)
{
  Request request = {clips, n, 0, 0, NULL};
  const guint most = engine->settings.batch_size;
  AdatoskClip **batch = g_newa (AdatoskClip *, most);
  Request **owners = g_newa (Request *, most);

  if (n == 0)
    return TRUE;
  g_mutex_lock (&engine->lock);
  g_queue_push_tail (&engine->requests, &request);
  while (request.done < request.n) {
    guint count = 0, forwards;

    if (engine->busy) {
      g_cond_wait (&engine->cond, &engine->lock);
      continue;
    }
    /* This caller runs the next forward: the oldest waiting clips, of any
     * caller, up to batch-size. */
    engine->busy = TRUE;
    while (count < most && !g_queue_is_empty (&engine->requests)) {
      Request *r = g_queue_peek_head (&engine->requests);

      while (count < most && r->taken < r->n) {
        owners[count] = r;
        batch[count++] = r->clips[r->taken++];
      }
      if (r->taken == r->n)
        g_queue_pop_head (&engine->requests);
    }
    g_mutex_unlock (&engine->lock);
    GST_LOG ("%s: a forward of %u clips",
        engine->id ? engine->id : "private engine", count);
    run_unlocked (engine, batch, owners, count, &forwards);
    g_mutex_lock (&engine->lock);
    for (guint i = 0; i < count; i++)
      owners[i]->done++;
    engine->forwards += forwards;
    engine->clips += count;
    engine->busy = FALSE;
    g_cond_broadcast (&engine->cond);
  }
  g_mutex_unlock (&engine->lock);
  if (request.error != NULL) {
    g_propagate_error (error, request.error);
    return FALSE;
  }
  return TRUE;
}
