/* Backend choice and the public backend calls, dispatched through the vtable.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "backend.h"
#include "error.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct AdatoskBackend {
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
  if (adatosk_vulkan_has_gpu (options, reason, size)) return &adatosk_vulkan_backend;
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
  if (!options) options = &defaults;
  if (options->threads < 0)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "threads is %d; use 0 for all cores or a positive count", options->threads);

  AdatoskBackend *backend = calloc (1, sizeof *backend);
  if (!backend)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "cannot allocate a backend");
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
          "this libadatosk was built without Vulkan; rebuild with -Dvulkan=enabled "
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
  if (!backend) return;
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

AdatoskStatus
adatosk_backend_forward (AdatoskBackend *backend, const float *clip,
    double keep_ratio, AdatoskOutput *output, AdatoskError *error)
{
  if (!backend || !clip || !output)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "adatosk_backend_forward needs a backend, a clip and an output");
  const AdatoskConfig *c = &backend->model->config;
  if (output->num_classes != c->num_classes || output->num_tokens != c->num_tokens
      || output->num_slots != c->num_slots)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "the output was made for another model (%d classes, %d tokens); "
        "use adatosk_output_new() with this backend's model",
        output->num_classes, output->num_tokens);
  if (keep_ratio <= 0.0) keep_ratio = c->keep_ratio;
  if (!(keep_ratio <= 1.0) || !isfinite (keep_ratio))
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "keep ratio %g is out of range; it must be in (0, 1]", keep_ratio);
  return backend->vtable->forward (backend->state, clip, keep_ratio, output, error);
}
