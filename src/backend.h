/* The backend interface: what a compute backend (CPU, Vulkan) implements.
 * adatosk_backend_new() picks an implementation; the public functions in
 * adatosk.h dispatch through this table.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_BACKEND_H
#define ADATOSK_BACKEND_H

#include "adatosk.h"

typedef struct
{
  const char *name; /* "cpu", "vulkan" */
  /* Creates the implementation's state for `model`; NULL + error on failure. */
  void *(*create) (const AdatoskModel *model,
      const AdatoskBackendOptions *options, AdatoskError *error);
  void (*destroy) (void *state);
  /* Human-readable device; owned by the state. */
  const char *(*device) (const void *state);
  /* `batch` >= 1 finite clips; `keep_ratio` is already resolved and checked
   * to be in (0, 1]; every output was made for this model. The one forward
   * of the backend: a single clip is the batch of one. */
  AdatoskStatus (*forward_batch) (void *state, const float *const *clips,
      int batch, double keep_ratio, AdatoskOutput *const *outputs,
      AdatoskError *error);
} AdatoskBackendVTable;

extern const AdatoskBackendVTable adatosk_cpu_backend;
#ifdef ADATOSK_HAVE_VULKAN
extern const AdatoskBackendVTable adatosk_vulkan_backend;
/* True when the Vulkan device that options select is a real GPU (discrete or
 * integrated), so that `auto` should prefer it; `reason` explains a false. */
int adatosk_vulkan_has_gpu (const AdatoskBackendOptions *options, char *reason,
    size_t reason_size);
#endif

#endif
