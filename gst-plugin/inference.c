/* adatoskdfer: the model, its backend, and one clip's classification.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "inference.h"

#include "debug.h"
#include "default_model.h"

#define GST_CAT_DEFAULT adatosk_dfer_inference_debug

struct AdatoskInference
{
  GstObject *owner; /* for the log only; not a reference */
  AdatoskModel *model;
  AdatoskBackend *backend;
  AdatoskOutput **outputs; /* one per clip of the largest batch so far */
  guint num_outputs;
  const AdatoskConfig *config;
  gdouble keep_ratio; /* <= 0: the model's */
  gchar *device;
};

G_DEFINE_QUARK (adatosk - dfer - error - quark, adatosk_dfer_error);

static void
set_error (GError **error, const AdatoskError *err)
{
  g_set_error_literal (error, ADATOSK_DFER_ERROR, err->status, err->message);
}

/* Outputs for a batch of `n` clips. */
static gboolean
reserve_outputs (AdatoskInference *inference, guint n)
{
  if (n <= inference->num_outputs)
    return TRUE;
  inference->outputs = g_renew (AdatoskOutput *, inference->outputs, n);
  for (; inference->num_outputs < n; inference->num_outputs++) {
    AdatoskOutput *out = adatosk_output_new (inference->model);

    if (out == NULL)
      return FALSE;
    inference->outputs[inference->num_outputs] = out;
  }
  return TRUE;
}

AdatoskInference *
adatosk_inference_new (GstObject *owner, const gchar *model_path,
    AdatoskBackendKind kind, gint threads, gdouble keep_ratio, GError **error)
{
  AdatoskInference *inference = g_new0 (AdatoskInference, 1);
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  AdatoskError err = {0};

  inference->owner = owner;
  inference->keep_ratio = keep_ratio;
  if (model_path) {
    if (adatosk_model_load (model_path, &inference->model, &err) != ADATOSK_OK)
      goto failed;
  } else {
    const guint8 *data;
    gsize size;

    if (!adatosk_dfer_default_model (&data, &size)) {
      g_set_error (error, ADATOSK_DFER_ERROR, ADATOSK_ERROR_IO,
          "This build of the plugin has no built-in model");
      adatosk_inference_free (inference);
      return NULL;
    }
    if (adatosk_model_load_from_memory (data, size,
            ADATOSK_DFER_DEFAULT_MODEL_ORIGIN, &inference->model, &err)
        != ADATOSK_OK)
      goto failed;
  }
  inference->config = adatosk_model_get_config (inference->model);
  options.kind = kind;
  options.threads = threads;
  if (adatosk_backend_new (inference->model, &options, &inference->backend,
          &err)
      != ADATOSK_OK)
    goto failed;
  if (!reserve_outputs (inference, 1)) {
    g_set_error (error, ADATOSK_DFER_ERROR, ADATOSK_ERROR_OUT_OF_MEMORY,
        "Out of memory allocating the model's output");
    adatosk_inference_free (inference);
    return NULL;
  }
  inference->device =
      g_strdup_printf ("%s: %s", adatosk_backend_get_name (inference->backend),
          adatosk_backend_get_device (inference->backend));
  GST_INFO_OBJECT (owner,
      "model %s: %d frames of %dx%d, %d classes, keep %g; backend %s "
      "(asked: %s%s%s)",
      model_path ? model_path : "(built in)", inference->config->num_frames,
      inference->config->img_width, inference->config->img_height,
      inference->config->num_classes,
      keep_ratio > 0 ? keep_ratio : inference->config->keep_ratio,
      inference->device,
      kind == ADATOSK_BACKEND_AUTO      ? "auto"
          : kind == ADATOSK_BACKEND_CPU ? "cpu"
                                        : "vulkan",
      adatosk_backend_get_choice_reason (inference->backend)[0] ? "; " : "",
      adatosk_backend_get_choice_reason (inference->backend));
  return inference;

failed:
  GST_DEBUG_OBJECT (owner, "cannot load or run %s: %s",
      model_path ? model_path : "the built-in model", err.message);
  set_error (error, &err);
  adatosk_inference_free (inference);
  return NULL;
}

void
adatosk_inference_free (AdatoskInference *inference)
{
  if (inference == NULL)
    return;
  for (guint i = 0; i < inference->num_outputs; i++)
    adatosk_output_free (inference->outputs[i]);
  g_free (inference->outputs);
  if (inference->backend)
    adatosk_backend_free (inference->backend);
  if (inference->model)
    adatosk_model_free (inference->model);
  g_free (inference->device);
  g_free (inference);
}

const AdatoskConfig *
adatosk_inference_get_config (const AdatoskInference *inference)
{
  return inference->config;
}

const AdatoskModel *
adatosk_inference_get_model (const AdatoskInference *inference)
{
  return inference->model;
}

const gchar *
adatosk_inference_get_device (const AdatoskInference *inference)
{
  return inference->device;
}

const gchar *
adatosk_inference_get_choice_reason (const AdatoskInference *inference)
{
  return adatosk_backend_get_choice_reason (inference->backend);
}

AdatoskClip *
adatosk_clip_new (const AdatoskInference *inference)
{
  const AdatoskConfig *c = inference->config;
  AdatoskClip *clip = g_new0 (AdatoskClip, 1);

  clip->pixels =
      g_new (gfloat, (gsize) 3 * c->num_frames * c->img_height * c->img_width);
  clip->probs = g_new0 (gfloat, c->num_classes);
  clip->significance = g_new0 (gfloat, c->num_frames);
  clip->label_id = -1;
  return clip;
}

void
adatosk_clip_free (AdatoskClip *clip)
{
  if (clip == NULL)
    return;
  g_free (clip->pixels);
  g_free (clip->probs);
  g_free (clip->significance);
  g_free (clip);
}

/* The forward's output of one clip into the clip. */
static void
take_results (const AdatoskConfig *c, const AdatoskOutput *out,
    AdatoskClip *clip)
{
  gint best = 0;

  for (gint k = 0; k < c->num_classes; k++) {
    clip->probs[k] = out->probs[k];
    if (out->probs[k] > out->probs[best])
      best = k;
  }
  clip->label_id = best;
  clip->confidence = out->probs[best];
  /* The model scores temporal slots of tubelet_size frames; report it per
   * frame so that applications need not know the model's tubelets. */
  for (gint t = 0; t < c->num_frames; t++)
    clip->significance[t] =
        out->significance[MIN (t / c->tubelet_size, out->num_slots - 1)];
  clip->kept_fraction =
      out->num_tokens > 0 ? (gdouble) out->num_kept / out->num_tokens : 0.0;
}

gboolean
adatosk_inference_run_batch (AdatoskInference *inference, AdatoskClip **clips,
    guint n, GError **error)
{
  const AdatoskConfig *c = inference->config;
  const float **pixels;
  AdatoskError err = {0};
  gint64 t0, us;

  g_return_val_if_fail (n > 0, FALSE);
  if (!reserve_outputs (inference, n)) {
    g_set_error (error, ADATOSK_DFER_ERROR, ADATOSK_ERROR_OUT_OF_MEMORY,
        "Out of memory allocating the outputs of a batch of %u clips", n);
    return FALSE;
  }
  pixels = g_newa (const float *, n);
  for (guint i = 0; i < n; i++) {
    g_return_val_if_fail (clips[i]->pixels != NULL, FALSE);
    pixels[i] = clips[i]->pixels;
  }
  t0 = g_get_monotonic_time ();
  if (adatosk_backend_forward_batch (inference->backend, pixels, (int) n,
          inference->keep_ratio, inference->outputs, &err)
      != ADATOSK_OK) {
    set_error (error, &err);
    return FALSE;
  }
  us = g_get_monotonic_time () - t0;
  GST_LOG_OBJECT (inference->owner,
      "forward of %u clip%s took %" G_GINT64_FORMAT " us, %d of %d tokens "
      "kept per clip",
      n, n == 1 ? "" : "s", us, inference->outputs[0]->num_kept,
      inference->outputs[0]->num_tokens);
  for (guint i = 0; i < n; i++) {
    clips[i]->forward_us = us;
    g_clear_pointer (&clips[i]->pixels, g_free);
    take_results (c, inference->outputs[i], clips[i]);
  }
  return TRUE;
}

gboolean
adatosk_inference_run (AdatoskInference *inference, AdatoskClip *clip,
    GError **error)
{
  return adatosk_inference_run_batch (inference, &clip, 1, error);
}
