/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "block.h"
#include "attention.h"
#include "ops.h"

/* Rows per token-wise task: at least MIN_ROWS_PER_TASK, so that OpenBLAS's
 * packing of the weights is paid over many rows and even one clip gives
 * each of two threads work (196 rows after the ATSM in adatosk-tiny); with
 * more rows, about TASKS_PER_THREAD tasks per thread: taller products run
 * faster, and a few tasks each still let a thread that a busy core slows
 * down take fewer. A chunk's hidden units (rows x mlp_hidden floats, 1.2 MB
 * for adatosk-tiny's 392 rows) stay in L2. */
enum
{
  MIN_ROWS_PER_TASK = 112,
  TASKS_PER_THREAD = 4,
  /* Attention tasks per thread that a step aims for, so that a thread
   * slowed down by a neighbour on a shared core leaves little behind. */
  ATTENTION_TASKS_PER_THREAD = 8,
  MIN_QUERY_ROWS = 48
};

typedef struct
{
  AdatoskCpuWorkspace *ws;
  const AdatoskBlockWeights *w;
  AdatoskRowChunks chunks;
  int n;
  const float *key_bias;
  int query_blocks, query_rows;
} BlockStep;

static void
norm_qkv_task (void *data, int task, int thread)
{
  BlockStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  AdatoskCpuProfile *prof = &ws->profile;
  int D = c->embed_dim, first;
  int rows = adatosk_row_chunk (&step->chunks, task, &first);

  adatosk_cpu_profile_start (prof, thread);
  adatosk_layer_norm (ws->x + (size_t) first * D,
      ws->normed + (size_t) first * D, rows, D, step->w->norm1_weight,
      step->w->norm1_bias, (float) c->norm_eps);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_LAYER_NORM);
  adatosk_linear (ws->normed + (size_t) first * D, rows, D, step->w->qkv_weight,
      step->w->qkv_bias, 3 * D, ws->qkv + (size_t) first * 3 * D, 0);
  adatosk_cpu_profile_stop (prof, thread, ADATOSK_OP_QKV_GEMM);
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
  int D = c->embed_dim, hidden = c->mlp_hidden, first;
  int rows = adatosk_row_chunk (&step->chunks, task, &first);
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
}

void
adatosk_cpu_run_block (AdatoskCpuWorkspace *ws,
    const AdatoskBlockWeights *weights, int batch, int n, const float *key_bias)
{
  int heads = ws->model->config.num_heads;
  int rows = batch * n;
  int per_task = rows / (ws->threads * TASKS_PER_THREAD);
  per_task = per_task < MIN_ROWS_PER_TASK ? MIN_ROWS_PER_TASK : per_task;
  BlockStep step = {ws, weights, adatosk_row_chunks (rows, per_task), n,
      key_bias, 1, n};
  /* Split the query rows only as far as the threads need tasks: every
   * block repeats the packing of the clip's keys. */
  int wanted = ws->threads * ATTENTION_TASKS_PER_THREAD;
  while (batch * heads * step.query_blocks < wanted
      && n / (step.query_blocks + 1) >= MIN_QUERY_ROWS)
    step.query_blocks++;
  step.query_rows = (n + step.query_blocks - 1) / step.query_blocks;
  step.query_blocks = (n + step.query_rows - 1) / step.query_rows;

  adatosk_thread_pool_run (ws->pool, step.chunks.count, norm_qkv_task, &step);
  adatosk_thread_pool_run (ws->pool, batch * heads * step.query_blocks,
      attention_task, &step);
  adatosk_thread_pool_run (ws->pool, step.chunks.count, proj_mlp_task, &step);
}
