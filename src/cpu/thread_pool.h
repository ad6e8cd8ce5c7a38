/* The CPU backend's own threads. OpenBLAS runs single-threaded inside them:
 * the model's products are too small (196-3,136 rows, 64-768 deep) for
 * OpenBLAS to split each one well, and everything between the products
 * (LayerNorm, softmax, GELU, the ATSM) would otherwise run on one core.
 * Work is handed out as numbered tasks, so a thread that a shared machine
 * slows down takes fewer of them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_THREAD_POOL_H
#define ADATOSK_CPU_THREAD_POOL_H

typedef struct AdatoskThreadPool AdatoskThreadPool;

/* One poll of a spin wait: tells the core that the thread is only waiting. */
static inline void
adatosk_thread_pool_pause (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

/* One task; `thread` (0 .. threads - 1) names the thread that runs it, for
 * per-thread scratch. */
typedef void (*AdatoskTaskFunc) (void *context, int task, int thread);

/* `threads` - 1 workers beside the calling thread; NULL when they cannot be
 * started. */
AdatoskThreadPool *adatosk_thread_pool_new (int threads);
void adatosk_thread_pool_free (AdatoskThreadPool *pool);
int adatosk_thread_pool_threads (const AdatoskThreadPool *pool);

/* Runs func (context, task, thread) for every task in [0, tasks), on the
 * caller (thread 0) and the workers, and returns when all have finished.
 * Tasks are started in increasing order, so a task may wait for tasks of
 * lower numbers (they are running or done) without risking a deadlock
 * (cpu/block.c's tasks wait for their inputs so). One caller at a time. */
void adatosk_thread_pool_run (AdatoskThreadPool *pool, int tasks,
    AdatoskTaskFunc func, void *context);

#endif
