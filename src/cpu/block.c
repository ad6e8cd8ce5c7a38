/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "block.h"
#include "attention.h"
#include "ops.h"

#include <sched.h>

enum
{
  /* Rows of a token-wise task at least: OpenBLAS's packing of the weights
   * is paid over many rows, and even one clip gives each of two threads
   * work (196 rows after the ATSM in adatosk-tiny). */
  MIN_ROWS_PER_TASK = 112,
  MAX_CHUNKS = 64,
  /* Attention tasks per thread that a step aims for, so that a thread
   * slowed down by a neighbour on a shared core leaves little behind. */
  ATTENTION_TASKS_PER_THREAD = 8,
  MIN_QUERY_ROWS = 48,
  /* Polls of a task's inputs before the thread yields its core. */
  DEPENDENCY_SPIN_POLLS = 4000
};

/* Token-wise tasks: rows [start[i], start[i + 1]). */
typedef struct
{
  int count;
  int start[MAX_CHUNKS + 1];
} RowChunks;

/* Guided: each chunk takes 1 / (2 threads) of the rows still left (at least
 * MIN_ROWS_PER_TASK), so the first chunks are tall products (taller run
 * faster; a chunk's hidden units, 3 KB a row in adatosk-tiny, stay in L2)
 * and the last ones small, so that the threads finish a step together. */
static void
plan_chunks (RowChunks *chunks, int rows, int threads)
{
  int at = 0;
  chunks->count = 0;
  while (at < rows) {
    int left = rows - at;
    int size = left / (2 * threads);
    size = size < MIN_ROWS_PER_TASK ? MIN_ROWS_PER_TASK : size;
    /* No sliver at the end, and never more than MAX_CHUNKS. */
    if (left - size < MIN_ROWS_PER_TASK / 2 || chunks->count == MAX_CHUNKS - 1)
      size = left;
    chunks->start[chunks->count++] = at;
    at += size;
  }
  chunks->start[chunks->count] = rows;
}

/* All of a run is one job of the pool: the first block's LN1 and QKV per
 * row chunk, then per block its attention tasks and its row chunks, then
 * the task per clip (the ATSM, the head), numbered in that order. A task waits only for
 * the tasks whose outputs it reads or overwrites, through two counters per
 * clip, not for the whole step before it: a chunk for the clip's attention
 * tasks of its block, the next block's attention of a clip for the chunks
 * that hold the clip's rows. Tasks are claimed in order and wait only for
 * tasks of lower numbers, which are running or done, so the job always
 * finishes. */
typedef struct
{
  AdatoskCpuWorkspace *ws;
  int first_block, blocks;
  RowChunks chunks;
  int n;
  const float *key_bias;
  int query_blocks, query_rows;
  int attention_tasks; /* per block: batch x heads x query_blocks */
  /* Per clip, cumulative over the run: its rows through the token-wise
   * steps (n after the first LN1 and QKV, n more after each block), and
   * its finished attention tasks. */
  atomic_int *rows_done;
  atomic_int *attention_done;
  /* Run per clip once its rows are through the last block; may be NULL. */
  AdatoskTaskFunc clip_func;
  void *clip_context;
} BlockStep;

/* The input is most often a task that the other thread is finishing: spin
 * a while, then yield, in case that thread has lost its core to someone
 * else on a shared machine. */
static void
wait_until (atomic_int *counter, int value)
{
  for (int polls = 0; atomic_load (counter) < value; polls++)
    if (polls < DEPENDENCY_SPIN_POLLS)
      adatosk_thread_pool_pause ();
    else
      sched_yield ();
}

/* Books rows [first, first + rows) as done for each clip they belong to. */
static void
count_rows (BlockStep *step, int first, int rows)
{
  int n = step->n;
  for (int at = first; at < first + rows;) {
    int clip = at / n, end = (clip + 1) * n;
    end = end > first + rows ? first + rows : end;
    atomic_fetch_add (&step->rows_done[clip], end - at);
    at = end;
  }
}

static void
norm_qkv (AdatoskCpuWorkspace *ws, const AdatoskBlockWeights *w, int first,
    int rows, int thread)
{
  const AdatoskConfig *c = &ws->model->config;
  AdatoskCpuProfile *prof = &ws->profile;
  int D = c->embed_dim;

  adatosk_cpu_profile_start (prof, thread);
  adatosk_layer_norm (ws->x + (size_t) first * D,
      ws->normed + (size_t) first * D, rows, D, w->norm1_weight, w->norm1_bias,
      (float) c->norm_eps);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_LAYER_NORM);
  adatosk_linear (ws->normed + (size_t) first * D, rows, D, w->qkv_weight,
      w->qkv_bias, 3 * D, ws->qkv + (size_t) first * 3 * D, 0);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_QKV_GEMM);
}

static void
norm_qkv_task (void *data, int task, int thread)
{
  BlockStep *step = data;
  int first = step->chunks.start[task];
  int rows = step->chunks.start[task + 1] - first;
  norm_qkv (step->ws, &step->ws->model->blocks[step->first_block], first, rows,
      thread);
  count_rows (step, first, rows);
}

/* Task = (clip, head, block of query rows) of the run's block `layer`. */
static void
attention_task (BlockStep *step, int layer, int task, int thread)
{
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  int D = c->embed_dim, heads = c->num_heads, n = step->n;
  int block = task % step->query_blocks;
  int head = (task / step->query_blocks) % heads;
  int clip = task / (step->query_blocks * heads);
  int first = block * step->query_rows;
  int rows = first + step->query_rows > n ? n - first : step->query_rows;

  /* The clip's q, k and v of this block: all its rows through the step
   * before. */
  wait_until (&step->rows_done[clip], (layer + 1) * n);
  adatosk_cpu_profile_start (&ws->profile, thread);
  adatosk_attention_rows (ws->qkv + (size_t) clip * n * 3 * D, n, D, heads,
      head, first, rows,
      step->key_bias ? step->key_bias + (size_t) clip * n : NULL,
      ws->scratch[thread].scores, ws->scratch[thread].row_scale,
      ws->attn + (size_t) clip * n * D, &ws->profile, thread);
  atomic_fetch_add (&step->attention_done[clip], 1);
}

/* Chunk `task` of the run's block `layer`. */
static void
proj_mlp_task (BlockStep *step, int layer, int task, int thread)
{
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  const AdatoskBlockWeights *w = &ws->model->blocks[step->first_block + layer];
  AdatoskCpuProfile *prof = &ws->profile;
  int D = c->embed_dim, hidden = c->mlp_hidden;
  int first = step->chunks.start[task];
  int rows = step->chunks.start[task + 1] - first;
  float *x = ws->x + (size_t) first * D;
  float *normed = ws->normed + (size_t) first * D;
  float *h = ws->hidden + (size_t) first * hidden;

  /* The attention of every clip the rows belong to: it reads the clip's
   * q, k and v, which this chunk's next QKV overwrites, and writes the
   * rows this chunk reads. */
  int per_clip = c->num_heads * step->query_blocks;
  for (int clip = first / step->n; clip <= (first + rows - 1) / step->n; clip++)
    wait_until (&step->attention_done[clip], (layer + 1) * per_clip);
  adatosk_cpu_profile_start (prof, thread);
  adatosk_linear (ws->attn + (size_t) first * D, rows, D, w->proj_weight,
      w->proj_bias, D, x, 1);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_PROJ_GEMM);
  adatosk_layer_norm (x, normed, rows, D, w->norm2_weight, w->norm2_bias,
      (float) c->norm_eps);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_LAYER_NORM);
  /* fc1's bias is added with the GELU, in the same pass over h. */
  adatosk_linear (normed, rows, D, w->fc1_weight, NULL, hidden, h, 0);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_MLP_GEMM);
  adatosk_bias_gelu (h, rows, hidden, w->fc1_bias);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_GELU);
  adatosk_linear (h, rows, hidden, w->fc2_weight, w->fc2_bias, D, x, 1);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_MLP_GEMM);
  if (layer + 1 < step->blocks)
    norm_qkv (ws, w + 1, first, rows, thread); /* the next block */
  count_rows (step, first, rows);
}

static void
block_task (void *data, int task, int thread)
{
  BlockStep *step = data;
  int chunks = step->chunks.count;
  int per_block = step->attention_tasks + chunks;
  if (task < chunks) {
    norm_qkv_task (step, task, thread);
    return;
  }
  task -= chunks;
  int layer = task / per_block, index = task % per_block;
  if (layer == step->blocks) {
    wait_until (&step->rows_done[index], (step->blocks + 1) * step->n);
    step->clip_func (step->clip_context, index, thread);
  } else if (index < step->attention_tasks)
    attention_task (step, layer, index, thread);
  else
    proj_mlp_task (step, layer, index - step->attention_tasks, thread);
}

void
adatosk_cpu_run_blocks (AdatoskCpuWorkspace *ws, int first_block, int end_block,
    int batch, int n, const float *key_bias, AdatoskTaskFunc clip_func,
    void *clip_context)
{
  const AdatoskModel *model = ws->model;
  int heads = model->config.num_heads;
  if (first_block >= end_block) {
    if (clip_func)
      adatosk_thread_pool_run (ws->pool, batch, clip_func, clip_context);
    return;
  }
  BlockStep step = {ws, first_block, end_block - first_block, {0}, n, key_bias,
      1, n, 0, ws->rows_done, ws->attention_done, clip_func, clip_context};
  plan_chunks (&step.chunks, batch * n, ws->threads);
  /* Split the query rows only as far as the threads need tasks: every
   * block repeats the packing of the clip's keys. */
  int wanted = ws->threads * ATTENTION_TASKS_PER_THREAD;
  while (batch * heads * step.query_blocks < wanted
      && n / (step.query_blocks + 1) >= MIN_QUERY_ROWS)
    step.query_blocks++;
  step.query_rows = (n + step.query_blocks - 1) / step.query_blocks;
  step.query_blocks = (n + step.query_rows - 1) / step.query_rows;
  step.attention_tasks = batch * heads * step.query_blocks;
  for (int b = 0; b < batch; b++) {
    atomic_store (&step.rows_done[b], 0);
    atomic_store (&step.attention_done[b], 0);
  }

  adatosk_thread_pool_run (ws->pool,
      step.chunks.count
          + step.blocks * (step.attention_tasks + step.chunks.count)
          + (clip_func ? batch : 0),
      block_task, &step);
}
