/* The CPU backend: OpenBLAS for the matrix products, cpu/ops.c for the rest.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "../backend.h"
#include "../error.h"
#include "forward.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

typedef struct
{
  AdatoskCpuWorkspace *workspace;
  char device[320];
} CpuBackend;

/* OpenBLAS (0.3.21 at least) falls back to pre-AVX kernels on x86-64 CPUs it
 * does not recognise, e.g. in VMs that report a generic "Intel Xeon
 * Processor": Prescott's sgemm ran 2.5x slower than Haswell's on this
 * project's build machines. Where the CPU has AVX-512, its SkylakeX kernels
 * run another 1.9x faster than Haswell's (80 -> 153 GFLOP/s per thread
 * on this project's VMs; adatosk-tiny 1.6x faster). The device string is where users look,
 * so the remedy is said there. */
#define ARRAY_LENGTH(a) (sizeof (a) / sizeof ((a)[0]))

static bool
core_is_one_of (const char *core, const char *const *names, size_t count)
{
  for (size_t i = 0; i < count; i++)
    if (!strcasecmp (core, names[i]))
      return true;
  return false;
}

static const char *
blas_core_hint (void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  static const char *const pre_avx[] = {"Prescott", "Core2", "Penryn",
      "Dunnington", "Nehalem", "Atom", "Opteron", "Barcelona", "Bobcat"};
  static const char *const avx512[] = {"SkylakeX", "Cooperlake",
      "SapphireRapids"};
  const char *core = openblas_get_corename ();

  __builtin_cpu_init ();
  if (!core || !__builtin_cpu_supports ("avx2")
      || !__builtin_cpu_supports ("fma"))
    return "";
  /* The subset SkylakeX's kernels use (Xeon Phi has AVX-512F without it);
   * measured on Intel only. */
  bool has_avx512 = __builtin_cpu_is ("intel")
      && __builtin_cpu_supports ("avx512f")
      && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512dq")
      && __builtin_cpu_supports ("avx512vl");
  if (has_avx512 && !core_is_one_of (core, avx512, ARRAY_LENGTH (avx512)))
    return " (this CPU has AVX-512, but OpenBLAS chose kernels without it: "
           "set OPENBLAS_CORETYPE=SkylakeX for faster products)";
  if (core_is_one_of (core, pre_avx, ARRAY_LENGTH (pre_avx)))
    return " (this CPU has AVX2 and FMA, but OpenBLAS chose pre-AVX "
           "kernels: set OPENBLAS_CORETYPE=Haswell for faster products)";
#endif
  return "";
}

static void *
cpu_create (const AdatoskModel *model, const AdatoskBackendOptions *options,
    AdatoskError *error)
{
  int threads = options->threads > 0 ? options->threads
                                     : (int) sysconf (_SC_NPROCESSORS_ONLN);
  if (threads < 1)
    threads = 1;
  CpuBackend *cpu = calloc (1, sizeof *cpu);
  if (cpu)
    cpu->workspace = adatosk_cpu_workspace_new (model, 1, threads);
  if (!cpu || !cpu->workspace) {
    free (cpu);
    adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "cannot allocate the CPU workspace for %d tokens of width %d, or "
        "start its %d threads",
        model->config.num_tokens, model->config.embed_dim, threads);
    return NULL;
  }
  /* The backend's own threads split the work (cpu/thread_pool.h); OpenBLAS
   * runs single-threaded inside each. */
  openblas_set_num_threads (1);
  snprintf (cpu->device, sizeof cpu->device, "OpenBLAS %s, %d thread%s%s",
      openblas_get_corename (), threads, threads == 1 ? "" : "s",
      blas_core_hint ());
  return cpu;
}

static void
cpu_destroy (void *state)
{
  CpuBackend *cpu = state;
  adatosk_cpu_profile_print (&cpu->workspace->profile, stderr, cpu->device);
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
