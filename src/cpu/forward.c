/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "forward.h"
#include "attention.h"
#include "ops.h"
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
workspace_layout (AdatoskCpuWorkspace *ws, Arena *arena)
{
  const AdatoskConfig *c = &ws->model->config;
  size_t N = c->num_tokens, D = c->embed_dim;
  ws->position = arena_take (arena, N * D * sizeof (float));
  ws->patches = arena_take (arena, N * c->patch_dim * sizeof (float));
  ws->motion = arena_take (arena, (N - c->num_spatial) * D * sizeof (float));
  ws->x = arena_take (arena, N * D * sizeof (float));
  ws->normed = arena_take (arena, N * D * sizeof (float));
  ws->qkv = arena_take (arena, N * 3 * D * sizeof (float));
  ws->attn = arena_take (arena, N * D * sizeof (float));
  ws->hidden = arena_take (arena, N * c->mlp_hidden * sizeof (float));
  ws->scores = arena_take (arena, N * N * sizeof (float));
  ws->key_bias = arena_take (arena, N * sizeof (float));
  ws->pooled = arena_take (arena, D * sizeof (float));
  ws->atsm_work =
      arena_take (arena, adatosk_atsm_work_size (c) * sizeof (double));
  ws->order = arena_take (arena, N * sizeof (AdatoskRankedToken));
}

AdatoskCpuWorkspace *
adatosk_cpu_workspace_new (const AdatoskModel *model)
{
  AdatoskCpuWorkspace *ws = calloc (1, sizeof *ws);
  if (!ws)
    return NULL;
  ws->model = model;
  Arena sizing = {NULL, 0};
  workspace_layout (ws, &sizing);
  ws->block = aligned_alloc (64, sizing.used);
  if (!ws->block) {
    free (ws);
    return NULL;
  }
  Arena arena = {ws->block, 0};
  workspace_layout (ws, &arena);
  const AdatoskConfig *c = &model->config;
  adatosk_position_table (ws->position, 0, c->num_tokens, c->embed_dim);
  return ws;
}

void
adatosk_cpu_workspace_free (AdatoskCpuWorkspace *ws)
{
  if (!ws)
    return;
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
 * sgemm may round rows of E differently. Overwrites the tubes, last slot
 * first, so that rows S.. become the differences. */
static void
embed_motion (AdatoskCpuWorkspace *ws)
{
  const AdatoskConfig *c = &ws->model->config;
  size_t slot = (size_t) c->num_spatial * c->patch_dim;
  if (c->num_slots < 2)
    return;
  for (int t = c->num_slots - 1; t >= 1; t--) {
    float *now = ws->patches + t * slot;
    const float *before = now - slot;
    for (size_t i = 0; i < slot; i++)
      now[i] -= before[i];
  }
  adatosk_linear (ws->patches + slot, c->num_tokens - c->num_spatial,
      c->patch_dim, ws->model->patch_weight, NULL, c->embed_dim, ws->motion, 0);
}

/* x = x + Attn(LN1(x)); x = x + MLP(LN2(x)) on n tokens. */
static void
run_block (AdatoskCpuWorkspace *ws, const AdatoskBlockWeights *w, int n,
    const float *key_bias)
{
  const AdatoskConfig *c = &ws->model->config;
  int D = c->embed_dim, hidden = c->mlp_hidden;
  float eps = (float) c->norm_eps;

  adatosk_layer_norm (ws->x, ws->normed, n, D, w->norm1_weight, w->norm1_bias,
      eps);
  adatosk_linear (ws->normed, n, D, w->qkv_weight, w->qkv_bias, 3 * D, ws->qkv,
      0);
  adatosk_attention (ws->qkv, n, D, c->num_heads, key_bias, ws->scores,
      ws->attn);
  adatosk_linear (ws->attn, n, D, w->proj_weight, w->proj_bias, D, ws->x, 1);

  adatosk_layer_norm (ws->x, ws->normed, n, D, w->norm2_weight, w->norm2_bias,
      eps);
  adatosk_linear (ws->normed, n, D, w->fc1_weight, w->fc1_bias, hidden,
      ws->hidden, 0);
  adatosk_gelu (ws->hidden, (size_t) n * hidden);
  adatosk_linear (ws->hidden, n, hidden, w->fc2_weight, w->fc2_bias, D, ws->x,
      1);
}

/* Keeps rows kept[0..k-1] of x, in place (kept is ascending, so each row
 * moves towards the front and never over a row still to be read). */
static void
gather_tokens (float *x, int dim, const int32_t *kept, int k)
{
  for (int i = 0; i < k; i++)
    if (kept[i] != i)
      memcpy (x + (size_t) i * dim, x + (size_t) kept[i] * dim,
          dim * sizeof (float));
}

/* logits = head(LN_fc(sum_j m_j z_j / sum_j m_j)); probs = softmax(logits). */
static void
classify (AdatoskCpuWorkspace *ws, int k, const int32_t *kept,
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
      acc += (double) mask[kept[i]] * ws->x[(size_t) i * D + j];
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

void
adatosk_cpu_forward (AdatoskCpuWorkspace *ws, const float *clip,
    double keep_ratio, AdatoskOutput *out)
{
  const AdatoskModel *model = ws->model;
  const AdatoskConfig *c = &model->config;
  int N = c->num_tokens, D = c->embed_dim;

  extract_tubes (c, clip, ws->patches);
  adatosk_linear (ws->patches, N, c->patch_dim, model->patch_weight,
      model->patch_bias, D, ws->x, 0);
  for (size_t i = 0; i < (size_t) N * D; i++)
    ws->x[i] += ws->position[i];
  embed_motion (ws);

  for (int b = 0; b < c->atsm_layer; b++)
    run_block (ws, &model->blocks[b], N, NULL);

  adatosk_atsm_mask (model, ws->motion, ws->x, ws->normed, ws->atsm_work,
      out->token_mask, out->significance);
  int k = adatosk_kept_tokens (N, keep_ratio);
  adatosk_select_tokens (out->token_mask, N, k, ws->order, out->kept_tokens);
  out->num_kept = k;

  gather_tokens (ws->x, D, out->kept_tokens, k);
  for (int i = 0; i < k; i++)
    ws->key_bias[i] =
        logf (out->token_mask[out->kept_tokens[i]] + (float) ADATOSK_MASK_EPS);
  for (int b = c->atsm_layer; b < c->depth; b++)
    run_block (ws, &model->blocks[b], k, ws->key_bias);

  classify (ws, k, out->kept_tokens, out->token_mask, out);

  /* Counting in floats is exact: there are far fewer than 2^24 tokens. */
  for (int t = 0; t < c->num_slots; t++)
    out->kept_fraction[t] = 0.0f;
  for (int i = 0; i < k; i++)
    out->kept_fraction[out->kept_tokens[i] / c->num_spatial] += 1.0f;
  for (int t = 0; t < c->num_slots; t++)
    out->kept_fraction[t] /= c->num_spatial;
}
