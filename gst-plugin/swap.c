/* adatoskdfer: loading a model beside the running one (see swap.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "swap.h"

#include "debug.h"

#include <string.h>

#define GST_CAT_DEFAULT adatosk_dfer_engine_debug

struct AdatoskSwap
{
  GstObject *owner; /* for the log only; not a reference */
  gchar *instance_id;
  gchar *path;
  AdatoskEngineSettings settings; /* model_path points at `path` */
  GThread *thread;

  GMutex lock;
  gboolean done, taken;
  AdatoskEngine *engine;
  GError *error;
};

/* Loads, then proves the model runs with one forward on a neutral clip
 * (also paying the first forward's costs here, not in the stream). */
static gpointer
swap_main (gpointer data)
{
  AdatoskSwap *swap = data;
  GError *error = NULL;
  AdatoskEngine *engine = adatosk_engine_acquire (swap->owner,
      swap->instance_id, &swap->settings, &error);

  if (engine != NULL) {
    AdatoskInference *inference = adatosk_engine_get_inference (engine);
    const AdatoskConfig *c = adatosk_inference_get_config (inference);
    AdatoskClip *clip = adatosk_clip_new (inference);

    memset (clip->pixels, 0,
        sizeof (gfloat) * 3 * c->num_frames * c->img_height * c->img_width);
    if (!adatosk_engine_run (engine, &clip, 1, &error))
      g_clear_pointer (&engine, adatosk_engine_release);
    adatosk_clip_free (clip);
  }
  GST_DEBUG_OBJECT (swap->owner, "loading %s beside the running model: %s",
      swap->path ? swap->path : "the built-in model",
      engine ? "ready" : error->message);
  g_mutex_lock (&swap->lock);
  swap->engine = engine;
  swap->error = error;
  swap->done = TRUE;
  g_mutex_unlock (&swap->lock);
  return NULL;
}

AdatoskSwap *
adatosk_swap_start (GstObject *owner, const gchar *instance_id,
    const AdatoskEngineSettings *settings, GError **error)
{
  AdatoskSwap *swap = g_new0 (AdatoskSwap, 1);

  swap->owner = owner;
  swap->instance_id = g_strdup (instance_id);
  swap->path = g_strdup (settings->model_path);
  swap->settings = *settings;
  swap->settings.model_path = swap->path;
  g_mutex_init (&swap->lock);
  swap->thread = g_thread_try_new ("adatoskdfer-load", swap_main, swap, error);
  if (swap->thread == NULL) {
    g_mutex_clear (&swap->lock);
    g_free (swap->instance_id);
    g_free (swap->path);
    g_free (swap);
    return NULL;
  }
  return swap;
}

gboolean
adatosk_swap_poll (AdatoskSwap *swap, AdatoskEngine **engine, GError **error)
{
  gboolean done;

  g_mutex_lock (&swap->lock);
  done = swap->done && !swap->taken;
  if (done) {
    swap->taken = TRUE;
    *engine = g_steal_pointer (&swap->engine);
    if (swap->error != NULL)
      g_propagate_error (error, g_steal_pointer (&swap->error));
  }
  g_mutex_unlock (&swap->lock);
  return done;
}

const gchar *
adatosk_swap_get_path (const AdatoskSwap *swap)
{
  return swap->path;
}

void
adatosk_swap_free (AdatoskSwap *swap)
{
  if (swap == NULL)
    return;
  g_thread_join (swap->thread);
  adatosk_engine_release (swap->engine);
  g_clear_error (&swap->error);
  g_mutex_clear (&swap->lock);
  g_free (swap->instance_id);
  g_free (swap->path);
  g_free (swap);
}
