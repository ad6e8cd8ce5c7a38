/* The CPU backend's thread pool (src/cpu/thread_pool.c): every task runs
 * exactly once per job, on a thread index the pool owns, jobs one after
 * another reuse the same workers, and the pool also works with one thread
 * and with more tasks than threads or fewer; tasks start in increasing
 * order, so a task can wait for the one before it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/thread_pool.h"

#include <glib.h>
#include <stdatomic.h>

enum
{
  MAX_TASKS = 1000,
  MAX_THREADS = 4
};

typedef struct
{
  atomic_int runs[MAX_TASKS];
  atomic_int by_thread[MAX_THREADS];
  int threads;
  atomic_int bad_thread;
} Counts;

static void
count_task (void *data, int task, int thread)
{
  Counts *counts = data;
  atomic_fetch_add (&counts->runs[task], 1);
  if (thread < 0 || thread >= counts->threads)
    atomic_store (&counts->bad_thread, 1);
  else
    atomic_fetch_add (&counts->by_thread[thread], 1);
  /* Some work, so that the workers get a chance to take tasks. */
  volatile double sink = 0.0;
  for (int i = 0; i < 2000; i++)
    sink += i * 0.5;
}

static void
run_jobs (int threads)
{
  AdatoskThreadPool *pool = adatosk_thread_pool_new (threads);
  g_assert_nonnull (pool);
  g_assert_cmpint (adatosk_thread_pool_threads (pool), ==, threads);
  static const int sizes[] = {1, 2, 3, 7, 64, MAX_TASKS, 0, 5};
  int helped = 0;
  for (int round = 0; round < 50; round++)
    for (size_t s = 0; s < G_N_ELEMENTS (sizes); s++) {
      Counts *counts = g_new0 (Counts, 1);
      counts->threads = threads;
      adatosk_thread_pool_run (pool, sizes[s], count_task, counts);
      for (int t = 0; t < MAX_TASKS; t++)
        g_assert_cmpint (atomic_load (&counts->runs[t]), ==, t < sizes[s]);
      g_assert_cmpint (atomic_load (&counts->bad_thread), ==, 0);
      for (int t = 1; t < threads; t++)
        helped += atomic_load (&counts->by_thread[t]) > 0;
      g_free (counts);
    }
  /* Over 400 jobs the workers must have taken some tasks (on a machine
   * with one core too: the caller's tasks take long enough to be
   * preempted). */
  if (threads > 1)
    g_assert_cmpint (helped, >, 0);
  adatosk_thread_pool_free (pool);
}

/* Task t waits until task t - 1 has finished: a chain that finishes only
 * if every task is started after all tasks of lower numbers. */
static void
chain_task (void *data, int task, int thread)
{
  (void) thread;
  atomic_int *done = data;
  while (atomic_load (done) < task)
    adatosk_thread_pool_pause ();
  atomic_fetch_add (done, 1);
}

static void
run_chains (int threads)
{
  AdatoskThreadPool *pool = adatosk_thread_pool_new (threads);
  g_assert_nonnull (pool);
  for (int round = 0; round < 200; round++) {
    atomic_int done = 0;
    adatosk_thread_pool_run (pool, 97, chain_task, &done);
    g_assert_cmpint (atomic_load (&done), ==, 97);
  }
  adatosk_thread_pool_free (pool);
}

static void
test_one_thread (void)
{
  run_jobs (1);
  run_chains (1);
}

static void
test_two_threads (void)
{
  run_jobs (2);
  run_chains (2);
}

static void
test_four_threads (void)
{
  run_jobs (4);
  run_chains (4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/thread-pool/one-thread", test_one_thread);
  g_test_add_func ("/thread-pool/two-threads", test_two_threads);
  g_test_add_func ("/thread-pool/four-threads", test_four_threads);
  return g_test_run ();
}
