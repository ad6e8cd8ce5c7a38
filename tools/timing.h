/* Wall-clock timing and medians for the benchmark programs.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_TIMING_H
#define ADATOSK_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double
timing_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* CPU time of the whole process (all its threads), ms: on a shared machine
 * it leaves out the time other processes held the cores, so a
 * single-threaded run's efficiency can be read through the noise; it cannot
 * show what threads lose waiting for each other. */
static inline double
timing_cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static inline double
timing_clock_ms (int cpu_time)
{
  return cpu_time ? timing_cpu_ms () : timing_now_ms ();
}

static inline int
timing_compare_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Sorts `values` in place. */
static inline double
timing_median (double *values, int n)
{
  qsort (values, n, sizeof *values, timing_compare_double);
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

#endif
