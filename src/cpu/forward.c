/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "forward.h"
#include "attention.h"
#include "ops.h"
#include "profile.h"
#include "spec_constants.h"

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
  ws->motion = arena_take (arena,
      (size_t) batch * (N - c->num_spatial) * D * sizeof (float));
  ws->x = arena_take (arena, rows * D * sizeof (float));
  ws->normed = arena_take (arena, rows * D * sizeof (float));
  ws->qkv = arena_take (arena, rows * 3 * D * sizeof (float));
  ws->attn = arena_take (arena, rows * D * sizeof (float));
  ws->scores = arena_take (arena, N * N * sizeof (float));
  ws->key_bias = arena_take (arena, rows * sizeof (float));
  ws->pooled = arena_take (arena, D * sizeof (float));
  ws->atsm_work =
      arena_take (arena, adatosk_atsm_work_size (c) * sizeof (double));
  ws->order = arena_take (arena, N * sizeof (AdatoskRankedToken));
}

bool
adatosk_cpu_workspace_reserve (AdatoskCpuWorkspace *ws, int batch)
{
  if (batch <= ws->capacity)
    return true;
  AdatoskCpuWorkspace grown = *ws;
  Arena sizing = {NULL, 0};
  workspace_layout (&grown, &sizing, batch);
  grown.block = aligned_alloc (64, sizing.used);
  if (!grown.block)
    return false;
  Arena arena = {grown.block, 0};
  workspace_layout (&grown, &arena, batch);
  const AdatoskConfig *c = &ws->model->config;
  adatosk_position_table (grown.position, 0, c->num_tokens, c->embed_dim);
  grown.capacity = batch;
  free (ws->block);
  *ws = grown;
  return true;
}

AdatoskCpuWorkspace *
adatosk_cpu_workspace_new (const AdatoskModel *model, int capacity)
{
  AdatoskCpuWorkspace *ws = calloc (1, sizeof *ws);
  if (!ws)
    return NULL;
  ws->model = model;
  if (!adatosk_cpu_profile_init (&ws->profile, 1)
      || !adatosk_cpu_workspace_reserve (ws, capacity > 0 ? capacity : 1)) {
    adatosk_cpu_profile_clear (&ws->profile);
    free (ws);
    return NULL;
  }
  return ws;
}

void
adatosk_cpu_workspace_free (AdatoskCpuWorkspace *ws)
{
  if (!ws)
    return;
  adatosk_cpu_profile_clear (&ws->profile);
  free (ws->block);
  free (ws);
}

/* Tubes of tau x p x p pixels as rows in (c, dt, dy, dx) order, the layout of
 * the Conv3d weight, so the embedding is one matrix product. */
static void
extract_tubes (const AdatoskConfig *c, const float *clip, float *patches)
{
  int tau = c->tubelet_size, p = c->patch_size;
  size_t frame = (size_t) c->img_height * c->img_width;
  size_t channel = frame * c->num_frames;
  for (int t = 0; t < c->num_slots; t++)
    for (int row = 0; row < c->grid_height; row++)
      for (int col = 0; col < c->grid_width; col++) {
        float *out = patches
            + ((size_t) (t * c->num_spatial + row * c->grid_width + col))
                * c->patch_dim;
        for (int ch = 0; ch < 3; ch++)
          for (int dt = 0; dt < tau; dt++)
            for (int dy = 0; dy < p; dy++) {
              const float *src = clip + ch * channel
                  + (size_t) (t * tau + dt) * frame
                  + (size_t) (row * p + dy) * c->img_width + (size_t) col * p;
              memcpy (out, src, p * sizeof (float));
              out += p;
            }
      }
}

/* The ATSM's dynamic mask needs E[t] - E[t-1]. Embedding the tubes'
 * differences, W (x_t - x_{t-1}), gives it without the cancellation of
 * subtracting two embeddings: a frozen clip gives exactly zero even though
 * sgemm may round rows of E differently. Per clip, overwrites the tubes, last
 * slot first, so that its rows S.. become the differences, and packs those
 * N - S rows of every clip together (each moves towards the front, never
 * over rows still to be read) for one product over the whole batch. */
static void
embed_motion (AdatoskCpuWorkspace *ws, int batch)
{
  const AdatoskConfig *c = &ws->model->config;
  size_t slot = (size_t) c->num_spatial * c->patch_dim;
  size_t clip = (size_t) c->num_tokens * c->patch_dim, moving = clip - slot;
  if (c->num_slots < 2)
    return;
  for (int b = 0; b < batch; b++) {
    float *tubes = ws->patches + b * clip;
    for (int t = c->num_slots - 1; t >= 1; t--) {
      float *now = tubes + t * slot;
      const float *before = now - slot;
      for (size_t i = 0; i < slot; i++)
        now[i] -= before[i];
    }
    memmove (ws->patches + b * moving, tubes + slot, moving * sizeof (float));
  }
  adatosk_linear (ws->patches, batch * (c->num_tokens - c->num_spatial),
      c->patch_dim, ws->model->patch_weight, NULL, c->embed_dim, ws->motion, 0);
}

/* x = x + Attn(LN1(x)); x = x + MLP(LN2(x)) on `batch` clips of n tokens
 * each: the products over all batch * n rows, attention per clip. */
static void
run_block (AdatoskCpuWorkspace *ws, const AdatoskBlockWeights *w, int batch,
    int n, const float *key_bias)
{
  const AdatoskConfig *c = &ws->model->config;
  int D = c->embed_dim, hidden = c->mlp_hidden, rows = batch * n;
  float eps = (float) c->norm_eps;
  AdatoskCpuProfile *prof = &ws->profile;

  adatosk_cpu_profile_start (prof, 0);
  adatosk_layer_norm (ws->x, ws->normed, rows, D, w->norm1_weight,
      w->norm1_bias, eps);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_LAYER_NORM);
  adatosk_linear (ws->normed, rows, D, w->qkv_weight, w->qkv_bias, 3 * D,
      ws->qkv, 0);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_QKV_GEMM);
  for (int b = 0; b < batch; b++)
    adatosk_attention (ws->qkv + (size_t) b * n * 3 * D, n, D, c->num_heads,
        key_bias ? key_bias + (size_t) b * n : NULL, ws->scores,
        ws->attn + (size_t) b * n * D, prof);
  adatosk_linear (ws->attn, rows, D, w->proj_weight, w->proj_bias, D, ws->x, 1);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_PROJ_GEMM);

  adatosk_layer_norm (ws->x, ws->normed, rows, D, w->norm2_weight,
      w->norm2_bias, eps);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_LAYER_NORM);
  adatosk_linear (ws->normed, rows, D, w->fc1_weight, w->fc1_bias, hidden,
      ws->hidden, 0);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_MLP_GEMM);
  adatosk_gelu (ws->hidden, (size_t) rows * hidden);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_GELU);
  adatosk_linear (ws->hidden, rows, hidden, w->fc2_weight, w->fc2_bias, D,
      ws->x, 1);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_MLP_GEMM);
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
classify (AdatoskCpuWorkspace *ws, const float *x, int k, const int32_t *kept,
    const float *mask, AdatoskOutput *out)
{
  const AdatoskModel *model = ws->model;
  int D = model->config.embed_dim, C = model->config.num_classes;
  double weight_sum = 0.0;
  for (int i = 0; i < k; i++)
    weight_sum += mask[kept[i]];
  for (int j = 0; j < D; j++) {
    double acc = 0.0;
    for (int i = 0; i < k; i++)
      acc += (double) mask[kept[i]] * x[(size_t) i * D + j];
    ws->pooled[j] = (float) (acc / weight_sum);
  }
  adatosk_layer_norm (ws->pooled, ws->normed, 1, D, model->fc_norm_weight,
      model->fc_norm_bias, (float) model->config.norm_eps);
  double max = -INFINITY;
  for (int cls = 0; cls < C; cls++) {
    double acc = model->head_bias[cls];
    const float *w = model->head_weight + (size_t) cls * D;
    for (int j = 0; j < D; j++)
      acc += (double) w[j] * ws->normed[j];
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
finish_clip (AdatoskCpuWorkspace *ws, const float *x, int k, AdatoskOutput *out)
{
  const AdatoskConfig *c = &ws->model->config;
  classify (ws, x, k, out->kept_tokens, out->token_mask, out);
  /* Counting in floats is exact: there are far fewer than 2^24 tokens. */
  for (int t = 0; t < c->num_slots; t++)
    out->kept_fraction[t] = 0.0f;
  for (int i = 0; i < k; i++)
    out->kept_fraction[out->kept_tokens[i] / c->num_spatial] += 1.0f;
  for (int t = 0; t < c->num_slots; t++)
    out->kept_fraction[t] /= c->num_spatial;
}

void
adatosk_cpu_forward_batch (AdatoskCpuWorkspace *ws, const float *const *clips,
    int batch, double keep_ratio, AdatoskOutput *const *outs)
{
  const AdatoskModel *model = ws->model;
  const AdatoskConfig *c = &model->config;
  int N = c->num_tokens, D = c->embed_dim;
  size_t clip_rows = (size_t) N * D;
  AdatoskCpuProfile *prof = &ws->profile;
  double start = prof->enabled ? adatosk_cpu_profile_now_ms () : 0.0;

  adatosk_cpu_profile_start (prof, 0);

  for (int b = 0; b < batch; b++)
    extract_tubes (c, clips[b], ws->patches + (size_t) b * N * c->patch_dim);
  adatosk_linear (ws->patches, batch * N, c->patch_dim, model->patch_weight,
      model->patch_bias, D, ws->x, 0);
  for (int b = 0; b < batch; b++) {
    float *x = ws->x + b * clip_rows;
    for (size_t i = 0; i < clip_rows; i++)
      x[i] += ws->position[i];
  }
  embed_motion (ws, batch);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_PATCH_EMBED);

  for (int l = 0; l < c->atsm_layer; l++)
    run_block (ws, &model->blocks[l], batch, N, NULL);

  /* Each clip its own mask and its own K tokens. */
  int k = adatosk_kept_tokens (N, keep_ratio);
  adatosk_cpu_profile_start (prof, 0);
  for (int b = 0; b < batch; b++) {
    AdatoskOutput *out = outs[b];
    adatosk_atsm_mask (model,
        ws->motion + (size_t) b * (N - c->num_spatial) * D,
        ws->x + b * clip_rows, ws->normed, ws->atsm_work, out->token_mask,
        out->significance);
    adatosk_select_tokens (out->token_mask, N, k, ws->order, out->kept_tokens);
    out->num_kept = k;
  }
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_ATSM);
  gather_tokens (ws->x, D, batch, N, outs, k);
  for (int b = 0; b < batch; b++)
    for (int i = 0; i < k; i++)
      ws->key_bias[(size_t) b * k + i] =
          logf (outs[b]->token_mask[outs[b]->kept_tokens[i]]
              + (float) ADATOSK_MASK_EPS);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_GATHER);
  for (int l = c->atsm_layer; l < c->depth; l++)
    run_block (ws, &model->blocks[l], batch, k, ws->key_bias);

  adatosk_cpu_profile_start (prof, 0);
  for (int b = 0; b < batch; b++)
    finish_clip (ws, ws->x + (size_t) b * k * D, k, outs[b]);
  adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_HEAD);
  if (prof->enabled) {
    prof->forward_ms += adatosk_cpu_profile_now_ms () - start;
    prof->forwards++;
    prof->clips += batch;
  }
}
