/* The CPU backend: OpenBLAS for the matrix products, cpu/ops.c for the rest.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "../backend.h"
#include "../error.h"
#include "forward.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct
{
  AdatoskCpuWorkspace *workspace;
  char device[128];
} CpuBackend;

static void *
cpu_create (const AdatoskModel *model, const AdatoskBackendOptions *options,
    AdatoskError *error)
{
  CpuBackend *cpu = calloc (1, sizeof *cpu);
  if (cpu)
    cpu->workspace = adatosk_cpu_workspace_new (model, 1);
  if (!cpu || !cpu->workspace) {
    free (cpu);
    adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "cannot allocate the CPU workspace for %d tokens of width %d",
        model->config.num_tokens, model->config.embed_dim);
    return NULL;
  }
  /* OpenBLAS's thread count is process-wide: the last backend created sets it. */
  int threads = options->threads > 0 ? options->threads
                                     : (int) sysconf (_SC_NPROCESSORS_ONLN);
  if (threads < 1)
    threads = 1;
  openblas_set_num_threads (threads);
  snprintf (cpu->device, sizeof cpu->device, "OpenBLAS %s, %d thread%s",
      openblas_get_corename (), openblas_get_num_threads (),
      openblas_get_num_threads () == 1 ? "" : "s");
  return cpu;
}

static void
cpu_destroy (void *state)
{
  CpuBackend *cpu = state;
  adatosk_cpu_workspace_free (cpu->workspace);
  free (cpu);
}

static const char *
cpu_device (const void *state)
{
  return ((const CpuBackend *) state)->device;
}

static AdatoskStatus
cpu_forward_batch (void *state, const float *const *clips, int batch,
    double keep_ratio, AdatoskOutput *const *outputs, AdatoskError *error)
{
  AdatoskCpuWorkspace *ws = ((CpuBackend *) state)->workspace;
  if (!adatosk_cpu_workspace_reserve (ws, batch)) {
    const AdatoskConfig *c = &ws->model->config;
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "cannot allocate the CPU workspace for a batch of %d clips of %d "
        "tokens of width %d; use smaller batches",
        batch, c->num_tokens, c->embed_dim);
  }
  adatosk_cpu_forward_batch (ws, clips, batch, keep_ratio, outputs);
  return ADATOSK_OK;
}

const AdatoskBackendVTable adatosk_cpu_backend = {
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .device = cpu_device,
    .forward_batch = cpu_forward_batch,
};
