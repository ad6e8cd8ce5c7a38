/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[ADATOSK_OP_COUNT] = {
    [ADATOSK_OP_PATCH_EMBED] = "patch embed",
    [ADATOSK_OP_LAYER_NORM] = "LayerNorm",
    [ADATOSK_OP_QKV_GEMM] = "QKV GEMM",
    [ADATOSK_OP_ATTENTION_GEMM] = "attention GEMMs",
    [ADATOSK_OP_SOFTMAX] = "softmax",
    [ADATOSK_OP_PROJ_GEMM] = "proj GEMM",
    [ADATOSK_OP_MLP_GEMM] = "MLP GEMMs",
    [ADATOSK_OP_GELU] = "GELU",
    [ADATOSK_OP_ATSM] = "ATSM + top-K",
    [ADATOSK_OP_GATHER] = "gather + key bias",
    [ADATOSK_OP_HEAD] = "pool + head",
    [ADATOSK_OP_WAIT] = "idle or waiting",
};

bool
adatosk_cpu_profile_init (AdatoskCpuProfile *profile, int threads)
{
  memset (profile, 0, sizeof *profile);
  const char *env = getenv ("ADATOSK_CPU_PROFILE");
  if (!env || !*env || !strcmp (env, "0"))
    return true;
  profile->per_thread = calloc (threads, sizeof *profile->per_thread);
  if (!profile->per_thread)
    return false;
  profile->threads = threads;
  profile->enabled = true;
  profile->cpu_clock = !strcmp (env, "cpu");
  return true;
}

void
adatosk_cpu_profile_clear (AdatoskCpuProfile *profile)
{
  free (profile->per_thread);
  memset (profile, 0, sizeof *profile);
}

double
adatosk_cpu_profile_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

double
adatosk_cpu_profile_op_clock_ms (const AdatoskCpuProfile *profile)
{
  if (!profile->cpu_clock)
    return adatosk_cpu_profile_now_ms ();
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void
adatosk_cpu_profile_print (const AdatoskCpuProfile *profile, FILE *to,
    const char *device)
{
  if (!profile->enabled || profile->clips == 0)
    return;
  double op_ms[ADATOSK_OP_COUNT] = {0}, busy = 0.0;
  for (int op = 0; op < ADATOSK_OP_WAIT; op++) {
    for (int t = 0; t < profile->threads; t++)
      op_ms[op] += profile->per_thread[t].ms[op];
    busy += op_ms[op];
  }
  /* Whatever of threads x wall time no op booked: waiting for the other
   * threads at the end of a step, or for the work handed out (and, with
   * the CPU clock, the time the threads were not running at all). */
  double total = profile->forward_ms * profile->threads;
  op_ms[ADATOSK_OP_WAIT] = total > busy ? total - busy : 0.0;
  double clips = (double) profile->clips;
  fprintf (to,
      "adatosk CPU profile (%s): %ld forwards, %ld clips, %.3f ms per clip "
      "(wall); %s ms per clip summed over %d thread%s (OpenBLAS's own "
      "threads, if any, not counted)\n",
      device, profile->forwards, profile->clips, profile->forward_ms / clips,
      profile->cpu_clock ? "CPU" : "wall", profile->threads,
      profile->threads == 1 ? "" : "s");
  fprintf (to, "| op | ms per clip | share |\n|---|---|---|\n");
  for (int op = 0; op < ADATOSK_OP_COUNT; op++)
    fprintf (to, "| %s | %.3f | %.1f%% |\n", op_names[op], op_ms[op] / clips,
        total > 0.0 ? 100.0 * op_ms[op] / total : 0.0);
}
