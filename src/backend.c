/* Backend choice and the public backend calls, dispatched through the vtable.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "backend.h"
#include "error.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct AdatoskBackend
{
  const AdatoskBackendVTable *vtable;
  void *state;
  const AdatoskModel *model;
  char choice_reason[256];
};

/* For `auto`: Vulkan only on a real GPU; lavapipe and other CPU drivers are
 * far slower than OpenBLAS. */
static const AdatoskBackendVTable *
choose_auto (const AdatoskBackendOptions *options, char *reason, size_t size)
{
#ifdef ADATOSK_HAVE_VULKAN
  if (adatosk_vulkan_has_gpu (options, reason, size))
    return &adatosk_vulkan_backend;
#else
  (void) options;
  snprintf (reason, size, "this build has no Vulkan support");
#endif
  return &adatosk_cpu_backend;
}

AdatoskStatus
adatosk_backend_new (const AdatoskModel *model,
    const AdatoskBackendOptions *options, AdatoskBackend **backend_out,
    AdatoskError *error)
{
  static const AdatoskBackendOptions defaults = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  if (!model || !backend_out)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "adatosk_backend_new needs a model and a place for the backend");
  *backend_out = NULL;
  if (!options)
    options = &defaults;
  if (options->threads < 0)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "threads is %d; use 0 for all cores or a positive count",
        options->threads);

  AdatoskBackend *backend = calloc (1, sizeof *backend);
  if (!backend)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "cannot allocate a backend");
  switch (options->kind) {
    case ADATOSK_BACKEND_AUTO:
      backend->vtable = choose_auto (options, backend->choice_reason,
          sizeof backend->choice_reason);
      break;
    case ADATOSK_BACKEND_CPU:
      backend->vtable = &adatosk_cpu_backend;
      break;
    case ADATOSK_BACKEND_VULKAN:
#ifdef ADATOSK_HAVE_VULKAN
      backend->vtable = &adatosk_vulkan_backend;
      break;
#else
      free (backend);
      return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
          "this libadatosk was built without Vulkan; rebuild with "
          "-Dvulkan=enabled "
          "(needs libvulkan-dev and glslc) or use the cpu backend");
#endif
    default:
      free (backend);
      return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "unknown backend kind %d", (int) options->kind);
  }
  backend->model = model;
  backend->state = backend->vtable->create (model, options, error);
  if (!backend->state) {
    free (backend);
    return error ? error->status : ADATOSK_ERROR_BACKEND;
  }
  *backend_out = backend;
  return ADATOSK_OK;
}

void
adatosk_backend_free (AdatoskBackend *backend)
{
  if (!backend)
    return;
  backend->vtable->destroy (backend->state);
  free (backend);
}

const char *
adatosk_backend_get_name (const AdatoskBackend *backend)
{
  return backend->vtable->name;
}

const char *
adatosk_backend_get_device (const AdatoskBackend *backend)
{
  return backend->vtable->device (backend->state);
}

const char *
adatosk_backend_get_choice_reason (const AdatoskBackend *backend)
{
  return backend->choice_reason;
}

/* Whether a float is a NaN or an infinity (exponent bits all set): integer
 * logic, so the scan vectorises whatever the FP flags of the build. */
static inline int
not_finite_bits (float v)
{
  uint32_t u;
  memcpy (&u, &v, sizeof u);
  return (u & 0x7f800000u) == 0x7f800000u;
}

static size_t
first_not_finite (const float *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (not_finite_bits (v[i]))
      return i;
  return n;
}

/* A NaN or an infinity in the clip has no meaning to the model and would
 * come out as NaN probabilities with some label: refused here, before any
 * backend runs, so every backend says the same. */
static AdatoskStatus
check_clip (const AdatoskConfig *c, const float *clip, AdatoskError *error)
{
  size_t plane = (size_t) c->img_height * c->img_width;
  size_t n = 3 * (size_t) c->num_frames * plane;
  uint32_t bad = 0;
  for (size_t i = 0; i < n; i++)
    bad |= (uint32_t) not_finite_bits (clip[i]);
  if (!bad)
    return ADATOSK_OK;
  size_t i = first_not_finite (clip, n);
  size_t channel = i / ((size_t) c->num_frames * plane),
         rest = i % ((size_t) c->num_frames * plane);
  return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
      "the clip has %s at channel %zu, frame %zu, row %zu, column %zu (float "
      "%zu of "
      "[3][%d][%d][%d]); a clip must be finite, normalised with the model's "
      "mean and std",
      isnan (clip[i]) ? "a NaN" : "an infinite value", channel, rest / plane,
      rest % plane / (size_t) c->img_width, rest % (size_t) c->img_width, i,
      c->num_frames, c->img_height, c->img_width);
}

/* A finite clip can still overflow float32 inside the forward (values far
 * beyond a normalised range, or a model whose weights overflow): an error,
 * never a label drawn from NaN probabilities. The same check after every
 * backend. */
static AdatoskStatus
check_output (const AdatoskBackend *backend, const AdatoskOutput *out,
    AdatoskError *error)
{
  const struct
  {
    const char *name;
    const float *v;
    int n;
  } parts[] = {
      {"logit", out->logits, out->num_classes},
      {"probability", out->probs, out->num_classes},
      {"frame significance", out->significance, out->num_slots},
      {"kept fraction", out->kept_fraction, out->num_slots},
      {"token mask value", out->token_mask, out->num_tokens},
  };
  for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
    size_t i = first_not_finite (parts[p].v, (size_t) parts[p].n);
    if (i < (size_t) parts[p].n)
      return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
          "the %s forward produced a non-finite %s (%s at index %zu) from a "
          "finite clip: "
          "are its values normalised with the model's mean and std (far larger "
          "values "
          "overflow float32)?",
          backend->vtable->name, parts[p].name,
          isnan (parts[p].v[i]) ? "NaN" : "infinity", i);
  }
  return ADATOSK_OK;
}

/* Prefixes error->message with "clip I of B: " for a batch larger than one,
 * so a batch's caller knows which clip a message is about. */
static AdatoskStatus
name_clip (AdatoskStatus status, int index, int batch, AdatoskError *error)
{
  if (status == ADATOSK_OK || batch == 1 || !error)
    return status;
  char message[sizeof error->message];
  snprintf (message, sizeof message, "%s", error->message);
  return adatosk_fail (error, status, "clip %d of %d: %s", index, batch,
      message);
}

static AdatoskStatus
check_output_fits (const AdatoskConfig *c, const AdatoskOutput *output,
    AdatoskError *error)
{
  if (!output)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "no output given for the clip");
  if (output->num_classes != c->num_classes
      || output->num_tokens != c->num_tokens
      || output->num_slots != c->num_slots)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "the output was made for another model (%d classes, %d tokens); "
        "use adatosk_output_new() with this backend's model",
        output->num_classes, output->num_tokens);
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_backend_forward_batch (AdatoskBackend *backend,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs, AdatoskError *error)
{
  if (!backend || !clips || !outputs || batch < 1)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "adatosk_backend_forward_batch needs a backend, at least one clip "
        "and an output per clip (batch is %d)",
        batch);
  const AdatoskConfig *c = &backend->model->config;
  if (keep_ratio <= 0.0)
    keep_ratio = c->keep_ratio;
  if (!(keep_ratio <= 1.0) || !isfinite (keep_ratio))
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "keep ratio %g is out of range; it must be in (0, 1]", keep_ratio);
  for (int i = 0; i < batch; i++) {
    AdatoskStatus status = clips[i]
        ? check_output_fits (c, outputs[i], error)
        : adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT, "no clip given");
    for (int j = 0; status == ADATOSK_OK && j < i; j++)
      if (outputs[j] == outputs[i])
        status = adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
            "the same output is given for clips %d and %d; each clip needs "
            "its own",
            j, i);
    if (status == ADATOSK_OK)
      status = check_clip (c, clips[i], error);
    if (status != ADATOSK_OK)
      return name_clip (status, i, batch, error);
  }
  AdatoskStatus status = backend->vtable->forward_batch (backend->state, clips,
      batch, keep_ratio, outputs, error);
  for (int i = 0; status == ADATOSK_OK && i < batch; i++)
    status =
        name_clip (check_output (backend, outputs[i], error), i, batch, error);
  return status;
}

AdatoskStatus
adatosk_backend_forward (AdatoskBackend *backend, const float *clip,
    double keep_ratio, AdatoskOutput *output, AdatoskError *error)
{
  if (!backend || !clip || !output)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "adatosk_backend_forward needs a backend, a clip and an output");
  return adatosk_backend_forward_batch (backend, &clip, 1, keep_ratio, &output,
      error);
}
