/* adatoskdfer: the model set while playing. The new model loads beside the
 * running one (swap.c); between two frames the element switches to it, the
 * tracks going on when both take the same clips.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstadatoskdfer-private.h"
#include "debug.h"
#include "default_model.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

/* Whether two models take the same clips (size, frames, normalisation,
 * sampling, crop), so that the tracks' half-filled clips can go on. */
static gboolean
same_clips (GstAdatoskDfer *self, const AdatoskConfig *a,
    const AdatoskConfig *b)
{
  return gst_adatosk_dfer_crop_margin (self, a)
      == gst_adatosk_dfer_crop_margin (self, b)
      && a->num_frames == b->num_frames && a->img_width == b->img_width
      && a->img_height == b->img_height && a->frame_step == b->frame_step
      && memcmp (a->mean, b->mean, sizeof a->mean) == 0
      && memcmp (a->std, b->std, sizeof a->std) == 0;
}

/* Why `engine`'s model cannot replace the running one here, or NULL. */
static gchar *
switch_refused (GstAdatoskDfer *self, const AdatoskConfig *c)
{
  if (self->run.labels && self->run.labels[0]) {
    gchar **names = g_strsplit (self->run.labels, ",", -1);
    guint count = g_strv_length (names);

    g_strfreev (names);
    if (count != (guint) c->num_classes)
      return g_strdup_printf ("it has %d classes and the 'labels' property "
                              "names %u",
          c->num_classes, count);
  }
  if (self->dump != NULL && !same_clips (self, self->config, c))
    return g_strdup ("its clips differ from the running model's and "
                     "dump-location writes clips of one size");
  return NULL;
}

/* Makes `engine` (a reference) the element's model between two frames. The
 * async worker finishes the old model's clips first and their results go
 * out with its labels; with the same clips the tracks go on (the next clip
 * is the new model's), else they start again. */
static void
switch_engine (GstAdatoskDfer *self, AdatoskEngine *engine, const gchar *path)
{
  const AdatoskConfig *c =
      adatosk_inference_get_config (adatosk_engine_get_inference (engine));
  AdatoskEngine *old = self->engine;
  gchar *refused = switch_refused (self, c);
  gboolean keep_tracks;

  if (refused != NULL) {
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("Cannot switch to the model \"%s\": %s",
            path ? path : ADATOSK_DFER_DEFAULT_MODEL_ORIGIN, refused),
        ("The model \"%s\" keeps running.", self->model_name));
    g_free (refused);
    adatosk_engine_release (engine);
    return;
  }
  keep_tracks = same_clips (self, self->config, c);
  if (self->worker != NULL) {
    adatosk_worker_drain (self->worker);
    gst_adatosk_dfer_collect (self);
    adatosk_worker_set_engine (self->worker, engine);
  }
  GST_INFO_OBJECT (self, "switching from model \"%s\" to %s (%s)",
      self->model_name, path ? path : ADATOSK_DFER_DEFAULT_MODEL_ORIGIN,
      keep_tracks ? "same clips: the tracks go on" : "other clips: new tracks");
  gst_adatosk_dfer_adopt_engine (self, engine, path);
  adatosk_engine_release (old);
  if (!keep_tracks) {
    gst_adatosk_dfer_make_tracker (self);
    if (self->have_info) {
      g_clear_pointer (&self->cropper, adatosk_cropper_free);
      self->cropper =
          adatosk_cropper_new (&self->info, c->img_width, c->img_height,
              c->mean, c->std, gst_adatosk_dfer_crop_margin (self, c));
    }
  } else {
    gst_adatosk_dfer_make_tracker_sampling (self);
  }
}

/* 'model' set while playing: load it beside the running model on a thread
 * of its own, and switch once it is ready, between two frames. A model that
 * cannot be used leaves the old one with a warning. */
void
gst_adatosk_dfer_swap_model (GstAdatoskDfer *self)
{
  AdatoskEngineSettings settings =
      gst_adatosk_dfer_engine_settings (self, NULL);
  AdatoskEngine *engine = NULL;
  GError *error = NULL;
  gboolean wanted;
  gchar *model;

  if (self->swap != NULL) {
    gchar *path;

    if (!adatosk_swap_poll (self->swap, &engine, &error))
      return;
    path = g_strdup (adatosk_swap_get_path (self->swap));
    g_clear_pointer (&self->swap, adatosk_swap_free);
    if (engine == NULL) {
      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Cannot switch to the model \"%s\": %s",
              path ? path : ADATOSK_DFER_DEFAULT_MODEL_ORIGIN, error->message),
          ("The model \"%s\" keeps running.", self->model_name));
      g_error_free (error);
    } else {
      switch_engine (self, engine, path);
    }
    g_free (path);
  }
  GST_OBJECT_LOCK (self);
  wanted = self->swap_wanted;
  self->swap_wanted = FALSE;
  model = g_strdup (self->settings.model);
  GST_OBJECT_UNLOCK (self);
  if (!wanted) {
    g_free (model);
    return;
  }
  settings.model_path = model && model[0] ? model : NULL;
  GST_INFO_OBJECT (self, "loading %s beside the running model",
      settings.model_path ? settings.model_path : "the built-in model");
  self->swap = adatosk_swap_start (GST_OBJECT (self),
      self->run.model_instance_id, &settings, &error);
  if (self->swap == NULL) {
    GST_ELEMENT_WARNING (self, RESOURCE, FAILED,
        ("Cannot load the model \"%s\" beside the running one: %s",
            model ? model : "", error->message),
        ("The model \"%s\" keeps running.", self->model_name));
    g_error_free (error);
  }
  g_free (model);
}
