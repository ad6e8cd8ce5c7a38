/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "block.h"
#include "attention.h"
#include "ops.h"

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
  MIN_QUERY_ROWS = 48
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

typedef struct
{
  AdatoskCpuWorkspace *ws;
  const AdatoskBlockWeights *w;
  RowChunks chunks;
  int n;
  const float *key_bias;
  int query_blocks, query_rows;
  /* The next block's LN1 and QKV, done by the same task on the same rows
   * right after this block's MLP: one wait for the threads fewer per
   * block. NULL after the last block of a run. */
  const AdatoskBlockWeights *next;
} BlockStep;

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
  norm_qkv (step->ws, step->w, first, step->chunks.start[task + 1] - first,
      thread);
}

/* Task = (clip, head, block of query rows). */
static void
attention_task (void *data, int task, int thread)
{
  BlockStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  int D = c->embed_dim, heads = c->num_heads, n = step->n;
  int block = task % step->query_blocks;
  int head = (task / step->query_blocks) % heads;
  int clip = task / (step->query_blocks * heads);
  int first = block * step->query_rows;
  int rows = first + step->query_rows > n ? n - first : step->query_rows;

  adatosk_cpu_profile_start (&ws->profile, thread);
  adatosk_attention_rows (ws->qkv + (size_t) clip * n * 3 * D, n, D, heads,
      head, first, rows,
      step->key_bias ? step->key_bias + (size_t) clip * n : NULL,
      ws->scratch[thread].scores, ws->scratch[thread].row_scale,
      ws->attn + (size_t) clip * n * D, &ws->profile, thread);
}

static void
proj_mlp_task (void *data, int task, int thread)
{
  BlockStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  const AdatoskBlockWeights *w = step->w;
  AdatoskCpuProfile *prof = &ws->profile;
  int D = c->embed_dim, hidden = c->mlp_hidden;
  int first = step->chunks.start[task];
  int rows = step->chunks.start[task + 1] - first;
  float *x = ws->x + (size_t) first * D;
  float *normed = ws->normed + (size_t) first * D;
  float *h = ws->hidden + (size_t) first * hidden;

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
  if (step->next)
    norm_qkv (ws, step->next, first, rows, thread);
}

void
adatosk_cpu_run_blocks (AdatoskCpuWorkspace *ws, int first_block, int end_block,
    int batch, int n, const float *key_bias)
{
  const AdatoskModel *model = ws->model;
  int heads = model->config.num_heads;
  if (first_block >= end_block)
    return;
  BlockStep step = {ws, &model->blocks[first_block], {0}, n, key_bias, 1, n,
      NULL};
  plan_chunks (&step.chunks, batch * n, ws->threads);
  /* Split the query rows only as far as the threads need tasks: every
   * block repeats the packing of the clip's keys. */
  int wanted = ws->threads * ATTENTION_TASKS_PER_THREAD;
  while (batch * heads * step.query_blocks < wanted
      && n / (step.query_blocks + 1) >= MIN_QUERY_ROWS)
    step.query_blocks++;
  step.query_rows = (n + step.query_blocks - 1) / step.query_blocks;
  step.query_blocks = (n + step.query_rows - 1) / step.query_rows;

  adatosk_thread_pool_run (ws->pool, step.chunks.count, norm_qkv_task, &step);
  for (int l = first_block; l < end_block; l++) {
    step.w = &model->blocks[l];
    step.next = l + 1 < end_block ? &model->blocks[l + 1] : NULL;
    adatosk_thread_pool_run (ws->pool, batch * heads * step.query_blocks,
        attention_task, &step);
    adatosk_thread_pool_run (ws->pool, step.chunks.count, proj_mlp_task, &step);
  }
}
