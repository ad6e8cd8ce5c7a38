/* The sgemm peer of the CPU benchmarks: OpenBLAS's rate on a large square
 * product, the ceiling for a GEMM-bound model, measured in the same run as
 * the model so that both see the same machine load.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_SGEMM_RATE_H
#define ADATOSK_SGEMM_RATE_H

#include <stdbool.h>

/* GFLOP/s of a size^3 sgemm, median of `repeat` (1-16) runs after one
 * warm-up, on `threads` OpenBLAS threads (the CPU backend sets OpenBLAS to
 * one thread, as it threads itself). With `cpu_time`, per second of the
 * process's CPU time rather than of wall time (timing.h). */
double sgemm_gflops (int size, int repeat, int threads, bool cpu_time);

#endif
