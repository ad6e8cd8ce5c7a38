/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "thread_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* A forward is 20-40 parallel steps a few hundred microseconds to a few
 * milliseconds apart: a worker that has just finished one waits this many
 * polls (tens of microseconds) for the next before it sleeps, so steps do
 * not pay a wake-up each; short, because on a shared machine the spinning
 * takes a core from someone else. */
enum
{
  SPIN_POLLS = 4000
};

typedef struct Worker Worker;

struct AdatoskThreadPool
{
  int threads;
  pthread_t *handles; /* [threads], slot 0 unused: the caller is thread 0 */
  Worker *workers;    /* [threads], what each worker thread is given */
  pthread_mutex_t lock;
  pthread_cond_t wake; /* a new job or quit */
  pthread_cond_t idle; /* the last task of the job finished */
  bool quit;
  /* The job; written under `lock` before `generation` moves on. */
  AdatoskTaskFunc func;
  void *context;
  int tasks;
  atomic_uint generation;
  /* The job's generation (high half) and next unclaimed task (low half) in
   * one word: a worker that wakes late claims with compare-and-swap and
   * so can never take a task of a newer job for the one it read. */
  _Atomic uint64_t claim;
  atomic_int finished;
};

struct Worker
{
  AdatoskThreadPool *pool;
  int index;
};

/* Claims and runs tasks of job `generation` until none are left. */
static void
run_tasks (AdatoskThreadPool *pool, unsigned generation, AdatoskTaskFunc func,
    void *context, int tasks, int thread)
{
  for (;;) {
    uint64_t claim = atomic_load (&pool->claim);
    if ((unsigned) (claim >> 32) != generation
        || (int) (claim & 0xffffffffu) >= tasks)
      return;
    if (!atomic_compare_exchange_weak (&pool->claim, &claim, claim + 1))
      continue;
    func (context, (int) (claim & 0xffffffffu), thread);
    if (atomic_fetch_add (&pool->finished, 1) + 1 == tasks) {
      pthread_mutex_lock (&pool->lock);
      pthread_cond_signal (&pool->idle);
      pthread_mutex_unlock (&pool->lock);
    }
  }
}

static void *
worker_main (void *data)
{
  Worker *worker = data;
  AdatoskThreadPool *pool = worker->pool;
  unsigned seen = 0;
  for (;;) {
    for (int i = 0; i < SPIN_POLLS && atomic_load (&pool->generation) == seen;
         i++)
      adatosk_thread_pool_pause ();
    pthread_mutex_lock (&pool->lock);
    while (atomic_load (&pool->generation) == seen && !pool->quit)
      pthread_cond_wait (&pool->wake, &pool->lock);
    if (pool->quit) {
      pthread_mutex_unlock (&pool->lock);
      break;
    }
    seen = atomic_load (&pool->generation);
    AdatoskTaskFunc func = pool->func;
    void *context = pool->context;
    int tasks = pool->tasks;
    pthread_mutex_unlock (&pool->lock);
    run_tasks (pool, seen, func, context, tasks, worker->index);
  }
  return NULL;
}

/* Stops and joins the first `started` workers and frees the pool. */
static void
pool_destroy (AdatoskThreadPool *pool, int started)
{
  pthread_mutex_lock (&pool->lock);
  pool->quit = true;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);
  for (int i = 1; i <= started; i++)
    pthread_join (pool->handles[i], NULL);
  pthread_cond_destroy (&pool->idle);
  pthread_cond_destroy (&pool->wake);
  pthread_mutex_destroy (&pool->lock);
  free (pool->handles);
  free (pool->workers);
  free (pool);
}

AdatoskThreadPool *
adatosk_thread_pool_new (int threads)
{
  AdatoskThreadPool *pool = calloc (1, sizeof *pool);
  if (!pool)
    return NULL;
  pool->threads = threads < 1 ? 1 : threads;
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->wake, NULL);
  pthread_cond_init (&pool->idle, NULL);
  pool->handles = calloc (pool->threads, sizeof *pool->handles);
  pool->workers = calloc (pool->threads, sizeof *pool->workers);
  int started = 0;
  if (pool->handles && pool->workers)
    for (int i = 1; i < pool->threads; i++) {
      pool->workers[i] = (Worker){pool, i};
      if (pthread_create (&pool->handles[i], NULL, worker_main,
              &pool->workers[i]))
        break;
      started++;
    }
  if (started != pool->threads - 1) {
    pool_destroy (pool, started);
    return NULL;
  }
  return pool;
}

void
adatosk_thread_pool_free (AdatoskThreadPool *pool)
{
  if (pool)
    pool_destroy (pool, pool->threads - 1);
}

int
adatosk_thread_pool_threads (const AdatoskThreadPool *pool)
{
  return pool->threads;
}

void
adatosk_thread_pool_run (AdatoskThreadPool *pool, int tasks,
    AdatoskTaskFunc func, void *context)
{
  if (tasks <= 0)
    return;
  /* Alone or with one task the workers need not wake at all. */
  if (pool->threads == 1 || tasks == 1) {
    for (int t = 0; t < tasks; t++)
      func (context, t, 0);
    return;
  }
  pthread_mutex_lock (&pool->lock);
  unsigned generation = atomic_load (&pool->generation) + 1;
  pool->func = func;
  pool->context = context;
  pool->tasks = tasks;
  atomic_store (&pool->finished, 0);
  atomic_store (&pool->claim, (uint64_t) generation << 32);
  atomic_store (&pool->generation, generation);
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);

  run_tasks (pool, generation, func, context, tasks, 0);
  for (int i = 0; i < SPIN_POLLS && atomic_load (&pool->finished) < tasks; i++)
    adatosk_thread_pool_pause ();
  pthread_mutex_lock (&pool->lock);
  while (atomic_load (&pool->finished) < tasks)
    pthread_cond_wait (&pool->idle, &pool->lock);
  pthread_mutex_unlock (&pool->lock);
}
