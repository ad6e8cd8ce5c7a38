/* adatoskdfer: the element's model at start. The model is loaded on its
 * backend, or shared with the elements of the same model-instance-id
 * (engine.c); its labels resolved against the 'labels' property; one forward
 * proves the backend before data flows. Each failure is an element error that
 * says what to do.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstadatoskdfer-private.h"
#include "debug.h"
#include "default_model.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

static void
post_model_error (GstAdatoskDfer *self, const gchar *path, GError *error)
{
  switch (error->code) {
    case ADATOSK_ERROR_IO:
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Cannot read the model file \"%s\": %s", path, error->message),
          ("%s", HOW_TO_MAKE_A_MODEL));
      break;
    case ADATOSK_ERROR_FORMAT:
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("\"%s\" is not a valid AdaTosk model: %s", path, error->message),
          ("Give the 'model' property a file written by train/ (export or "
           "make_model.py). %s",
              HOW_TO_MAKE_A_MODEL));
      break;
    case ADATOSK_ERROR_BACKEND:
      GST_ELEMENT_ERROR (self, LIBRARY, INIT,
          ("The model cannot run on the chosen backend: %s", error->message),
          ("Try backend=cpu."));
      break;
    case ADATOSK_ERROR_OUT_OF_MEMORY:
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("Out of memory loading the model \"%s\": %s", path, error->message),
          ("Use a smaller model."));
      break;
    default:
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("Cannot use the model \"%s\": %s", path, error->message),
          ("Check the element's properties (keep-ratio, threads, backend)."));
      break;
  }
}

/* The class names: the model's, or the `labels` override. */
static gboolean
resolve_labels (GstAdatoskDfer *self)
{
  const AdatoskModel *model = adatosk_inference_get_model (self->inference);
  gint n = self->config->num_classes;

  if (self->run.labels != NULL && self->run.labels[0] != '\0') {
    gchar **names = g_strsplit (self->run.labels, ",", -1);
    gint count = (gint) g_strv_length (names);

    for (gint i = 0; i < count; i++) {
      if (g_strstrip (names[i])[0] == '\0') {
        GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
            ("The 'labels' property has an empty name (\"%s\")",
                self->run.labels),
            ("Give %d non-empty comma-separated names, or unset 'labels' to "
             "use the model's.",
                n));
        g_strfreev (names);
        return FALSE;
      }
    }
    if (count != n) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
          ("The 'labels' property has %d names (\"%s\") but the model has "
           "%d classes",
              count, self->run.labels, n),
          ("Give exactly %d non-empty comma-separated names, or unset "
           "'labels' to use the model's.",
              n));
      g_strfreev (names);
      return FALSE;
    }
    self->class_labels = names;
    return TRUE;
  }
  self->class_labels = g_new0 (gchar *, n + 1);
  for (gint i = 0; i < n; i++) {
    const gchar *label = adatosk_model_get_label (model, i);

    self->class_labels[i] =
        label && label[0] ? g_strdup (label) : g_strdup_printf ("class-%d", i);
  }
  return TRUE;
}

/* One forward on a neutral clip: proves the backend runs before data flows
 * and measures what a clip costs (the latency sync mode adds). */
gboolean
gst_adatosk_dfer_warm_up (GstAdatoskDfer *self)
{
  AdatoskClip *clip = adatosk_clip_new (self->inference);
  const AdatoskConfig *c = self->config;
  GError *error = NULL;
  gboolean ok;

  memset (clip->pixels, 0,
      sizeof (gfloat) * 3 * c->num_frames * c->img_height * c->img_width);
  ok = adatosk_engine_run (self->engine, &clip, 1, &error);
  if (!ok) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("The model's first forward failed: %s", error->message),
        ("Try backend=cpu, or check the model file."));
    g_error_free (error);
  } else {
    GST_INFO_OBJECT (self, "one clip takes %" G_GINT64_FORMAT " us on %s",
        clip->forward_us, self->device);
    GST_OBJECT_LOCK (self);
    self->latency = self->run.inference_mode == GST_ADATOSK_DFER_INFERENCE_SYNC
        ? clip->forward_us * GST_USECOND
        : 0;
    GST_OBJECT_UNLOCK (self);
  }
  adatosk_clip_free (clip);
  return ok;
}

static const AdatoskBackendKind backend_kinds[] = {
    [GST_ADATOSK_DFER_BACKEND_AUTO] = ADATOSK_BACKEND_AUTO,
    [GST_ADATOSK_DFER_BACKEND_CPU] = ADATOSK_BACKEND_CPU,
    [GST_ADATOSK_DFER_BACKEND_VULKAN] = ADATOSK_BACKEND_VULKAN,
};

AdatoskEngineSettings
gst_adatosk_dfer_engine_settings (GstAdatoskDfer *self, const gchar *path)
{
  AdatoskEngineSettings settings = {path, backend_kinds[self->run.backend],
      (gint) self->run.threads, self->run.keep_ratio, self->run.batch_size};

  return settings;
}

/* `engine` (a reference) becomes the element's: names the model, the device
 * and the classes. */
gboolean
gst_adatosk_dfer_adopt_engine (GstAdatoskDfer *self, AdatoskEngine *engine,
    const gchar *path)
{
  const gchar *name, *reason;

  self->inference = adatosk_engine_get_inference (engine);
  self->config = adatosk_inference_get_config (self->inference);
  name = adatosk_model_get_name (adatosk_inference_get_model (self->inference));
  reason = adatosk_inference_get_choice_reason (self->inference);
  g_free (self->model_name);
  self->model_name = name && name[0]
      ? g_strdup (name)
      : g_path_get_basename (path ? path : ADATOSK_DFER_DEFAULT_MODEL_FILE);
  /* Under the lock: the 'forwards' and 'device' properties read them. */
  GST_OBJECT_LOCK (self);
  self->engine = engine;
  g_free (self->device);
  self->device = g_strdup (adatosk_inference_get_device (self->inference));
  GST_OBJECT_UNLOCK (self);
  if (reason && reason[0])
    GST_WARNING_OBJECT (self, "backend auto chose %s: %s", self->device,
        reason);
  GST_INFO_OBJECT (self, "model \"%s\" (%s) on %s", self->model_name,
      path ? path : ADATOSK_DFER_DEFAULT_MODEL_ORIGIN, self->device);
  g_clear_pointer (&self->class_labels, g_strfreev);
  return resolve_labels (self);
}

/* Loads the model on its backend (or shares it: model-instance-id). */
gboolean
gst_adatosk_dfer_load_model (GstAdatoskDfer *self, const gchar *path)
{
  AdatoskEngineSettings settings =
      gst_adatosk_dfer_engine_settings (self, path);
  AdatoskEngine *engine;
  GError *error = NULL;

  engine = adatosk_engine_acquire (GST_OBJECT (self),
      self->run.model_instance_id, &settings, &error);
  if (engine == NULL) {
    post_model_error (self, path ? path : ADATOSK_DFER_DEFAULT_MODEL_ORIGIN,
        error);
    g_error_free (error);
    return FALSE;
  }
  return gst_adatosk_dfer_adopt_engine (self, engine, path);
}
