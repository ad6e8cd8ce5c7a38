/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "forward.h"
#include "block.h"
#include "embed.h"
#include "ops.h"
#include "spec_constants.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Carves aligned sub-buffers out of one allocation. */
typedef struct
{
  char *base;
  size_t used;
} Arena;

static void *
arena_take (Arena *arena, size_t bytes)
{
  void *p = arena->base ? arena->base + arena->used : NULL;
  arena->used += (bytes + 63) & ~(size_t) 63;
  return p;
}

static void
workspace_layout (AdatoskCpuWorkspace *ws, Arena *arena, int batch)
{
  const AdatoskConfig *c = &ws->model->config;
  size_t N = c->num_tokens, D = c->embed_dim, rows = (size_t) batch * N;
  /* The tubes are dead once the blocks start and the MLP's hidden units are
   * only alive inside them: one buffer serves both. */
  size_t wide = c->patch_dim > c->mlp_hidden ? c->patch_dim : c->mlp_hidden;
  ws->position = arena_take (arena, N * D * sizeof (float));
  ws->hidden = arena_take (arena, rows * wide * sizeof (float));
  ws->patches = ws->hidden;
  ws->motion = arena_take (arena, rows * D * sizeof (float));
  ws->x = arena_take (arena, rows * D * sizeof (float));
  ws->normed = arena_take (arena, rows * D * sizeof (float));
  ws->qkv = arena_take (arena, rows * 3 * D * sizeof (float));
  ws->attn = arena_take (arena, rows * D * sizeof (float));
  ws->key_bias = arena_take (arena, rows * sizeof (float));
  ws->rows_done = arena_take (arena, batch * sizeof (atomic_int));
  ws->attention_done = arena_take (arena, batch * sizeof (atomic_int));
  for (int t = 0; t < ws->threads; t++) {
    AdatoskCpuThreadScratch *s = &ws->scratch[t];
    s->scores = arena_take (arena,
        N * adatosk_softmax_stride ((int) N) * sizeof (float));
    s->row_scale = arena_take (arena, N * sizeof (float));
    s->pooled = arena_take (arena, D * sizeof (float));
    s->normed = arena_take (arena, D * sizeof (float));
    s->atsm_work =
        arena_take (arena, adatosk_atsm_work_size (c) * sizeof (double));
    s->order = arena_take (arena, N * sizeof (AdatoskRankedToken));
  }
}

bool
adatosk_cpu_workspace_reserve (AdatoskCpuWorkspace *ws, int batch)
{
  if (batch <= ws->capacity)
    return true;
  AdatoskCpuWorkspace grown = *ws;
  AdatoskCpuThreadScratch *scratch =
      calloc (ws->threads, sizeof (AdatoskCpuThreadScratch));
  if (!scratch)
    return false;
  grown.scratch = scratch;
  Arena sizing = {NULL, 0};
  workspace_layout (&grown, &sizing, batch);
  grown.block = aligned_alloc (64, sizing.used);
  if (!grown.block) {
    free (scratch);
    return false;
  }
  Arena arena = {grown.block, 0};
  workspace_layout (&grown, &arena, batch);
  const AdatoskConfig *c = &ws->model->config;
  adatosk_position_table (grown.position, 0, c->num_tokens, c->embed_dim);
  grown.capacity = batch;
  free (ws->block);
  free (ws->scratch);
  *ws = grown;
  return true;
}

AdatoskCpuWorkspace *
adatosk_cpu_workspace_new (const AdatoskModel *model, int capacity, int threads)
{
  AdatoskCpuWorkspace *ws = calloc (1, sizeof *ws);
  if (!ws)
    return NULL;
  ws->model = model;
  ws->threads = threads < 1 ? 1 : threads;
  ws->pool = adatosk_thread_pool_new (ws->threads);
  if (!ws->pool || !adatosk_cpu_profile_init (&ws->profile, ws->threads)
      || !adatosk_cpu_workspace_reserve (ws, capacity > 0 ? capacity : 1)) {
    adatosk_cpu_workspace_free (ws);
    return NULL;
  }
  return ws;
}

void
adatosk_cpu_workspace_free (AdatoskCpuWorkspace *ws)
{
  if (!ws)
    return;
  adatosk_thread_pool_free (ws->pool);
  adatosk_cpu_profile_clear (&ws->profile);
  free (ws->scratch);
  free (ws->block);
  free (ws);
}

/* Keeps rows kept[b][0..k-1] of every clip's n rows of x, packed as k rows
 * per clip, in place: kept is ascending and k <= n, so each row moves
 * towards the front and never over a row still to be read. */
static void
gather_tokens (float *x, int dim, int batch, int n,
    AdatoskOutput *const *outputs, int k)
{
  for (int b = 0; b < batch; b++) {
    const int32_t *kept = outputs[b]->kept_tokens;
    for (int i = 0; i < k; i++) {
      size_t to = (size_t) b * k + i, from = (size_t) b * n + kept[i];
      if (to != from)
        memcpy (x + to * dim, x + from * dim, dim * sizeof (float));
    }
  }
}

/* logits = head(LN_fc(sum_j m_j z_j / sum_j m_j)); probs = softmax(logits). */
static void
classify (const AdatoskModel *model, AdatoskCpuThreadScratch *scratch,
    const float *x, int k, const int32_t *kept, const float *mask,
    AdatoskOutput *out)
{
  int D = model->config.embed_dim, C = model->config.num_classes;
  double weight_sum = 0.0;
  for (int i = 0; i < k; i++)
    weight_sum += mask[kept[i]];
  for (int j = 0; j < D; j++) {
    double acc = 0.0;
    for (int i = 0; i < k; i++)
      acc += (double) mask[kept[i]] * x[(size_t) i * D + j];
    scratch->pooled[j] = (float) (acc / weight_sum);
  }
  adatosk_layer_norm (scratch->pooled, scratch->normed, 1, D,
      model->fc_norm_weight, model->fc_norm_bias,
      (float) model->config.norm_eps);
  double max = -INFINITY;
  for (int cls = 0; cls < C; cls++) {
    double acc = model->head_bias[cls];
    const float *w = model->head_weight + (size_t) cls * D;
    for (int j = 0; j < D; j++)
      acc += (double) w[j] * scratch->normed[j];
    out->logits[cls] = (float) acc;
    if (acc > max)
      max = acc;
  }
  double sum = 0.0;
  for (int cls = 0; cls < C; cls++)
    sum += exp (out->logits[cls] - max);
  for (int cls = 0; cls < C; cls++)
    out->probs[cls] = (float) (exp (out->logits[cls] - max) / sum);
}

/* Pooling and head of one clip's k tokens, and its kept fraction per slot. */
static void
finish_clip (const AdatoskModel *model, AdatoskCpuThreadScratch *scratch,
    const float *x, int k, AdatoskOutput *out)
{
  const AdatoskConfig *c = &model->config;
  classify (model, scratch, x, k, out->kept_tokens, out->token_mask, out);
  /* Counting in floats is exact: there are far fewer than 2^24 tokens. */
  for (int t = 0; t < c->num_slots; t++)
    out->kept_fraction[t] = 0.0f;
  for (int i = 0; i < k; i++)
    out->kept_fraction[out->kept_tokens[i] / c->num_spatial] += 1.0f;
  for (int t = 0; t < c->num_slots; t++)
    out->kept_fraction[t] /= c->num_spatial;
}

typedef struct
{
  AdatoskCpuWorkspace *ws;
  AdatoskOutput *const *outs;
  int k; /* tokens kept per clip */
} ClipStep;

/* Each clip its own mask and its own K tokens; the LayerNorm inside uses the
 * clip's own rows of `normed` as scratch. */
static void
atsm_task (void *data, int clip, int thread)
{
  ClipStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  int N = c->num_tokens, D = c->embed_dim;
  AdatoskOutput *out = step->outs[clip];
  AdatoskCpuThreadScratch *scratch = &ws->scratch[thread];

  adatosk_cpu_profile_start (&ws->profile, thread);
  adatosk_atsm_mask (ws->model,
      ws->motion + ((size_t) clip * N + c->num_spatial) * D,
      ws->x + (size_t) clip * N * D, ws->normed + (size_t) clip * N * D,
      scratch->atsm_work, out->token_mask, out->significance);
  adatosk_select_tokens (out->token_mask, N, step->k, scratch->order,
      out->kept_tokens);
  out->num_kept = step->k;
  adatosk_cpu_profile_stop (&ws->profile, thread, ADATOSK_OP_ATSM);
}

static void
head_task (void *data, int clip, int thread)
{
  ClipStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  size_t D = ws->model->config.embed_dim;

  adatosk_cpu_profile_start (&ws->profile, thread);
  finish_clip (ws->model, &ws->scratch[thread],
      ws->x + (size_t) clip * step->k * D, step->k, step->outs[clip]);
  adatosk_cpu_profile_stop (&ws->profile, thread, ADATOSK_OP_HEAD);
}

void
adatosk_cpu_forward_batch (AdatoskCpuWorkspace *ws, const float *const *clips,
    int batch, double keep_ratio, AdatoskOutput *const *outs)
{
  const AdatoskModel *model = ws->model;
  const AdatoskConfig *c = &model->config;
  int N = c->num_tokens, D = c->embed_dim;
  AdatoskCpuProfile *prof = &ws->profile;
  double start = prof->enabled ? adatosk_cpu_profile_now_ms () : 0.0;

  /* OpenBLAS's thread count is process-wide and others (a benchmark's
   * sgemm, another library) may have raised it: inside these threads each
   * product must run on the thread that calls it. */
  openblas_set_num_threads (1);

  adatosk_cpu_embed (ws, clips, batch);
  ClipStep step = {ws, outs, adatosk_kept_tokens (N, keep_ratio)};
  adatosk_cpu_run_blocks (ws, 0, c->atsm_layer, batch, N, NULL, atsm_task,
      &step);
  int k = step.k;
  adatosk_cpu_profile_start (prof, 0);
  gather_tokens (ws->x, D, batch, N, outs, k);
  for (int b = 0; b < batch; b++)
    for (int i = 0; i < k; i++)
      ws->key_bias[(size_t) b * k + i] =
          logf (outs[b]->token_mask[outs[b]->kept_tokens[i]]
              + (float) ADATOSK_MASK_EPS);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_GATHER);
  adatosk_cpu_run_blocks (ws, c->atsm_layer, c->depth, batch, k, ws->key_bias,
      head_task, &step);
  if (prof->enabled) {
    prof->forward_ms += adatosk_cpu_profile_now_ms () - start;
    prof->forwards++;
    prof->clips += batch;
  }
}
