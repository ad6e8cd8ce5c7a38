/* Where the CPU forward spends its time, per kind of op: on when the
 * environment has ADATOSK_CPU_PROFILE=1 (wall time) or =cpu (each thread's
 * CPU time: on a shared machine it leaves out the time other processes held
 * the core), printed to stderr when the backend is freed. Off, it costs one
 * branch per op. Each thread that works on a forward
 * keeps its own totals (no locks on the hot path); the report adds them up.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_PROFILE_H
#define ADATOSK_CPU_PROFILE_H

#include <stdbool.h>
#include <stdio.h>

typedef enum
{
  ADATOSK_OP_PATCH_EMBED, /* tubes, their product, position table, motion */
  ADATOSK_OP_LAYER_NORM,
  ADATOSK_OP_QKV_GEMM,
  ADATOSK_OP_ATTENTION_GEMM, /* Q K^T and P V */
  ADATOSK_OP_SOFTMAX,
  ADATOSK_OP_PROJ_GEMM,
  ADATOSK_OP_MLP_GEMM, /* fc1 and fc2 */
  ADATOSK_OP_GELU,
  ADATOSK_OP_ATSM,   /* the mask and top-K */
  ADATOSK_OP_GATHER, /* kept tokens and their key bias */
  ADATOSK_OP_HEAD,   /* pooling, LayerNorm, head, softmax */
  ADATOSK_OP_WAIT,   /* a thread idle at the end of a parallel step */
  ADATOSK_OP_COUNT
} AdatoskCpuOp;

typedef struct
{
  double ms[ADATOSK_OP_COUNT];
  double mark; /* the time the last op of this thread ended, ms */
} AdatoskCpuProfileThread;

typedef struct
{
  bool enabled;
  bool cpu_clock; /* ops timed in thread CPU time */
  int threads;
  AdatoskCpuProfileThread *per_thread; /* [threads] */
  long clips, forwards;
  double forward_ms; /* wall time of the forwards */
} AdatoskCpuProfile;

/* false when out of memory; disabled (and no memory) unless the environment
 * asks for it. */
bool adatosk_cpu_profile_init (AdatoskCpuProfile *profile, int threads);
void adatosk_cpu_profile_clear (AdatoskCpuProfile *profile);

/* Wall time, ms. */
double adatosk_cpu_profile_now_ms (void);
/* The clock the ops are timed with, ms. */
double adatosk_cpu_profile_op_clock_ms (const AdatoskCpuProfile *profile);

/* Starts the clock of `thread` for the next op. */
static inline void
adatosk_cpu_profile_start (AdatoskCpuProfile *profile, int thread)
{
  if (profile && profile->enabled)
    profile->per_thread[thread].mark =
        adatosk_cpu_profile_op_clock_ms (profile);
}

/* Books the time since the last mark of `thread` to `op`. */
static inline void
adatosk_cpu_profile_stop (AdatoskCpuProfile *profile, int thread,
    AdatoskCpuOp op)
{
  if (profile && profile->enabled) {
    AdatoskCpuProfileThread *t = &profile->per_thread[thread];
    double now = adatosk_cpu_profile_op_clock_ms (profile);
    t->ms[op] += now - t->mark;
    t->mark = now;
  }
}

/* Ms per clip per op, summed over the threads, and each op's share. */
void adatosk_cpu_profile_print (const AdatoskCpuProfile *profile, FILE *to,
    const char *device);

#endif
