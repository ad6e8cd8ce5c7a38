/* adatoskdfer: what start() sets up beside the model (model_load.c). The
 * properties are copied for the run (so that one set while playing applies
 * from the next start; 'model' and 'post-messages' are the exceptions),
 * checked, and resolved against the model; then the streaming state
 * (tracker, faces), dump-location, results-location and, in async mode, the
 * worker thread. Each failure is an element error that says what to do.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstadatoskdfer-private.h"
#include "default_model.h"

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

void
gst_adatosk_dfer_settings_clear (GstAdatoskDferSettings *s)
{
  g_clear_pointer (&s->model, g_free);
  g_clear_pointer (&s->labels, g_free);
  g_clear_pointer (&s->roi_type, g_free);
  g_clear_pointer (&s->dump_location, g_free);
  g_clear_pointer (&s->results_location, g_free);
  g_clear_pointer (&s->model_instance_id, g_free);
}

void
gst_adatosk_dfer_settings_copy (GstAdatoskDferSettings *dst,
    const GstAdatoskDferSettings *src)
{
  gst_adatosk_dfer_settings_clear (dst);
  *dst = *src;
  dst->model = g_strdup (src->model);
  dst->labels = g_strdup (src->labels);
  dst->roi_type = g_strdup (src->roi_type);
  dst->dump_location = g_strdup (src->dump_location);
  dst->results_location = g_strdup (src->results_location);
  dst->model_instance_id = g_strdup (src->model_instance_id);
}

/* The model file to load (NULL: the built-in one), after checking that the
 * settings can work at all; FALSE after an element error. */
gboolean
gst_adatosk_dfer_check_settings (GstAdatoskDfer *self, const gchar **path)
{
  *path = self->run.model && self->run.model[0] ? self->run.model : NULL;
  if (*path == NULL && !adatosk_dfer_has_default_model ()) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No model: the 'model' property is not set and this build of the "
         "plugin has no built-in model. %s",
            HOW_TO_MAKE_A_MODEL),
        (NULL));
    return FALSE;
  }
  if (self->run.roi_mode != GST_ADATOSK_DFER_ROI_MODE_FULL_FRAME
      && (self->run.roi_type == NULL || self->run.roi_type[0] == '\0')) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("The 'roi-type' property is empty, so no upstream region of "
         "interest can be a face"),
        ("Set roi-type (facedetect's faces are \"face\") or "
         "roi-mode=full-frame."));
    return FALSE;
  }
  return TRUE;
}

/* crop-margin for the model `c`: its own where the property is negative. A
 * model sees faces as it was trained to see them: a tighter or looser crop
 * than its training's changes what it answers. */
gdouble
gst_adatosk_dfer_crop_margin (GstAdatoskDfer *self, const AdatoskConfig *c)
{
  return self->run.crop_margin >= 0 ? self->run.crop_margin : c->crop_margin;
}

/* frame-step and clip-stride, the model's where the properties are 0. */
void
gst_adatosk_dfer_make_tracker_sampling (GstAdatoskDfer *self)
{
  const AdatoskConfig *c = self->config;

  self->frame_step = self->run.frame_step ? self->run.frame_step
                                          : (guint) MAX (c->frame_step, 1);
  self->clip_stride = self->run.clip_stride
      ? self->run.clip_stride
      : (guint) MAX (c->num_frames / 2, 1);
}

/* The sampling and the tracker, for the model's clips. */
void
gst_adatosk_dfer_make_tracker (GstAdatoskDfer *self)
{
  const AdatoskConfig *c = self->config;

  gst_adatosk_dfer_make_tracker_sampling (self);
  g_clear_pointer (&self->tracker, adatosk_tracker_free);
  self->tracker = adatosk_tracker_new (GST_OBJECT (self), self->run.max_tracks,
      self->run.track_timeout, self->run.iou_threshold, (guint) c->num_frames,
      (gsize) 3 * c->img_height * c->img_width);
}

/* What the streaming thread needs besides the model: the sampling, the
 * tracker and the bounded face and match arrays. */
void
gst_adatosk_dfer_make_streaming_state (GstAdatoskDfer *self)
{
  gst_adatosk_dfer_make_tracker (self);
  self->roi_quark = g_quark_from_string (
      self->run.roi_type ? self->run.roi_type : DEFAULT_ROI_TYPE);
  self->faces = adatosk_faces_new (self->run.max_faces);
  self->boxes = g_new (AdatoskBox, self->run.max_faces);
  self->matches = g_new (AdatoskTrack *, self->run.max_faces);
  self->warned_faces = FALSE;
  self->roi_seen = FALSE;
  self->upstream_live = -1;
}

gboolean
gst_adatosk_dfer_open_dump (GstAdatoskDfer *self)
{
  const AdatoskConfig *c = self->config;
  GError *error = NULL;

  if (self->run.dump_location == NULL || self->run.dump_location[0] == '\0')
    return TRUE;
  self->dump = adatosk_dump_new (self->run.dump_location, (guint) c->num_frames,
      (guint) c->img_height, (guint) c->img_width, &error);
  if (self->dump == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Cannot write clips to dump-location: %s", error->message),
        ("Give a writable directory, or unset dump-location."));
    g_error_free (error);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "writing every clip to %s", self->run.dump_location);
  return TRUE;
}

gboolean
gst_adatosk_dfer_open_results (GstAdatoskDfer *self)
{
  const gchar *path = self->run.results_location;
  GError *error = NULL;

  if (path == NULL || path[0] == '\0')
    return TRUE;
  self->results = adatosk_results_jsonl_new (path, &error);
  if (self->results == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Cannot write results to results-location: %s", error->message),
        ("Give a file in a writable directory, or unset results-location."));
    g_error_free (error);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "writing every result to %s", path);
  return TRUE;
}

gboolean
gst_adatosk_dfer_start_worker (GstAdatoskDfer *self)
{
  AdatoskWorker *worker;
  GError *error = NULL;

  if (self->run.inference_mode != GST_ADATOSK_DFER_INFERENCE_ASYNC)
    return TRUE;
  /* One waiting clip per face: a newer clip replaces the oldest. */
  worker = adatosk_worker_new (GST_OBJECT (self), self->engine,
      self->run.max_tracks, self->run.batch_size, &error);
  if (worker == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Cannot start the inference thread: %s", error->message),
        ("Use inference-mode=sync."));
    g_error_free (error);
    return FALSE;
  }
  GST_OBJECT_LOCK (self);
  self->worker = worker;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}
