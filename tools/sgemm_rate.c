/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sgemm_rate.h"
#include "timing.h"

#include <cblas.h>
#include <stdlib.h>
#include <unistd.h>

/* After a threaded call OpenBLAS's workers spin for 2^28 cycles (its
 * THREAD_TIMEOUT; 70-130 ms here) before they sleep: a model timed right
 * after the peer would share its cores with a spinning thread. Measured on
 * the idle 2-core VM: adatosk-tiny batch 1 took 19.4 ms after the peer
 * against 13.5 ms with OPENBLAS_THREAD_TIMEOUT=4. */
#define OPENBLAS_WORKERS_ASLEEP_US 300000

double
sgemm_gflops (int size, int repeat, int threads, bool cpu_time)
{
  openblas_set_num_threads (threads);
  size_t count = (size_t) size * size;
  float *a = malloc (count * sizeof (float)),
        *b = malloc (count * sizeof (float));
  float *c = malloc (count * sizeof (float));
  if (!a || !b || !c || repeat < 1 || repeat > 16) {
    free (a);
    free (b);
    free (c);
    return 0.0;
  }
  for (size_t i = 0; i < count; i++) {
    a[i] = (float) ((i * 7) % 13) * 0.01f;
    b[i] = (float) ((i * 5) % 11) * 0.01f;
  }
  double times[16];
  for (int r = 0; r <= repeat; r++) {
    double start = timing_clock_ms (cpu_time);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size,
        1.0f, a, size, b, size, 0.0f, c, size);
    if (r > 0)
      times[r - 1] = timing_clock_ms (cpu_time) - start; /* run 0 warms up */
  }
  free (a);
  free (b);
  free (c);
  if (threads > 1)
    usleep (OPENBLAS_WORKERS_ASLEEP_US);
  /* CPU time counts every thread: per thread, as the wall rate would be on
   * an idle machine. */
  double ms = timing_median (times, repeat) / (cpu_time ? threads : 1);
  return 2.0 * size * (double) count / (ms * 1e6);
}
