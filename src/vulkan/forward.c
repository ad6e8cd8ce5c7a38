/* The forward of docs/model.md sections 1-4 as a sequence of ops.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "forward.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The results the host reads back, each at an aligned offset so that every
 * one can be bound on its own. */
enum
{
  RES_LOGITS,
  RES_SIGNIFICANCE,
  RES_KEPT_FRACTION,
  RES_MASK,
  RES_KEPT,
  RES_COUNT
};

struct AdatoskVkForward
{
  AdatoskVkContext *ctx;
  AdatoskVkRecorder *rec;
  AdatoskVkTuning tuning;
  const AdatoskModel *model;
  const AdatoskVkWeights *w;
  int recorded_k; /* K of the recorded command buffer; 0: none */

  AdatoskVkRange clip; /* host-visible input [3][T][H][W] */
  AdatoskVkRange patches, emb, x, xn, qkv, att, hidden;
  AdatoskVkRange proto_logits, dist, q, conf, r, keep;
  AdatoskVkRange xk, key_bias, pool_weight, pooled;
  AdatoskVkRange results, readback;
  AdatoskVkRange res[RES_COUNT];
  VkDeviceSize res_offset[RES_COUNT];
};

static VkDeviceSize
align_up (VkDeviceSize v, VkDeviceSize a)
{
  return (v + a - 1) / a * a;
}

/* Names the next dispatches in the per-kernel profile. */
static void
label (AdatoskVkForward *f, const char *what, uint32_t m, uint32_t n,
    uint32_t k)
{
  char text[80];
  if (n)
    snprintf (text, sizeof text, "%s %ux%ux%u", what, m, n, k);
  else
    snprintf (text, sizeof text, "%s %u", what, m);
  adatosk_vk_recorder_set_label (f->rec, text);
}

static void
block (AdatoskVkForward *f, const AdatoskVkBlockWeights *b,
    const AdatoskVkRange *x, uint32_t n, const AdatoskVkRange *key_bias)
{
  const AdatoskConfig *c = &f->model->config;
  const uint32_t dim = (uint32_t) c->embed_dim,
                 hidden = (uint32_t) c->mlp_hidden;
  const float eps = (float) c->norm_eps;
  AdatoskVkRecorder *rec = f->rec;
  const AdatoskVkTuning *t = &f->tuning;
  const bool f16 = f->w->f16;

  label (f, "norm1", n, 0, 0);
  adatosk_vk_layernorm (rec, t, x, &b->norm1_w, &b->norm1_b, &f->xn, n, dim,
      eps);
  label (f, "qkv", n, 3 * dim, dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->xn,
          .lda = dim,
          .w = &b->qkv_w,
          .w_f16 = f16,
          .bias = &b->qkv_b,
          .c = &f->qkv,
          .ldc = 3 * dim,
          .m = n,
          .n = 3 * dim,
          .k = dim,
          .alpha = 1.0f});
  label (f, key_bias ? "biased" : "plain", n, 0, 0);
  adatosk_vk_attention (rec, t, &f->qkv, key_bias, &f->att, n, dim,
      (uint32_t) c->num_heads);
  label (f, "proj", n, dim, dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->att,
          .lda = dim,
          .w = &b->proj_w,
          .w_f16 = f16,
          .bias = &b->proj_b,
          .c = x,
          .ldc = dim,
          .m = n,
          .n = dim,
          .k = dim,
          .alpha = 1.0f,
          .accumulate = true});
  label (f, "norm2", n, 0, 0);
  adatosk_vk_layernorm (rec, t, x, &b->norm2_w, &b->norm2_b, &f->xn, n, dim,
      eps);
  label (f, "fc1", n, hidden, dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->xn,
          .lda = dim,
          .w = &b->fc1_w,
          .w_f16 = f16,
          .bias = &b->fc1_b,
          .c = &f->hidden,
          .ldc = hidden,
          .m = n,
          .n = hidden,
          .k = dim,
          .alpha = 1.0f,
          .gelu = true});
  label (f, "fc2", n, dim, hidden);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->hidden,
          .lda = hidden,
          .w = &b->fc2_w,
          .w_f16 = f16,
          .bias = &b->fc2_b,
          .c = x,
          .ldc = dim,
          .m = n,
          .n = dim,
          .k = hidden,
          .alpha = 1.0f,
          .accumulate = true});
}

static AdatoskStatus
record (AdatoskVkForward *f, uint32_t k, AdatoskError *error)
{
  const AdatoskModel *model = f->model;
  const AdatoskConfig *c = &model->config;
  const uint32_t n = (uint32_t) c->num_tokens, dim = (uint32_t) c->embed_dim;
  const uint32_t classes = (uint32_t) c->num_classes;
  const uint32_t slots = (uint32_t) c->num_slots,
                 spatial = (uint32_t) c->num_spatial;
  AdatoskVkRecorder *rec = f->rec;
  const AdatoskVkTuning *t = &f->tuning;
  const AdatoskVkWeights *w = f->w;

  f->recorded_k = 0;
  AdatoskStatus status = adatosk_vk_recorder_begin (rec, error);
  if (status != ADATOSK_OK)
    return status;
  /* Embedding: E = tubes W^T + b (kept for the ATSM), x = E + position table. */
  label (f, "tubes", n, 0, 0);
  adatosk_vk_im2col (rec, t, &f->clip, &f->patches, c);
  label (f, "patch-embed", n, dim, (uint32_t) c->patch_dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->patches,
          .lda = (uint32_t) c->patch_dim,
          .w = &w->patch_w,
          .w_f16 = w->f16,
          .bias = &w->patch_b,
          .c = &f->emb,
          .ldc = dim,
          .m = n,
          .n = dim,
          .k = (uint32_t) c->patch_dim,
          .alpha = 1.0f});
  label (f, "position", n, 0, 0);
  adatosk_vk_add (rec, t, &f->emb, &w->pos_table, &f->x, n * dim);
  for (int l = 0; l < c->atsm_layer; l++)
    block (f, &w->blocks[l], &f->x, n, NULL);

  /* ATSM: prototype posteriors of LN_atsm(Z), dynamics of E, the mask m. */
  label (f, "atsm", n, 0, 0);
  adatosk_vk_layernorm (rec, t, &f->x, &w->atsm_norm_w, &w->atsm_norm_b, &f->xn,
      n, dim, (float) c->norm_eps);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->xn,
          .lda = dim,
          .w = &w->prototypes,
          .c = &f->proto_logits,
          .ldc = classes,
          .m = n,
          .n = classes,
          .k = dim,
          .alpha = (float) (1.0 / sqrt ((double) dim))});
  adatosk_vk_atsm_token (rec, t, &f->emb, &f->proto_logits, &f->dist, &f->q,
      &f->conf, slots, spatial, dim, classes);
  adatosk_vk_atsm_mask (rec, t, &f->dist, &f->q, &f->conf, &f->r,
      &f->res[RES_SIGNIFICANCE], &f->res[RES_MASK], slots, spatial, classes,
      model->alpha_dyn, model->alpha_sem, model->beta);
  adatosk_vk_topk (rec, t, &f->res[RES_MASK], &f->keep, &f->res[RES_KEPT],
      &f->res[RES_KEPT_FRACTION], slots, spatial, k);
  adatosk_vk_gather (rec, t, &f->x, &f->res[RES_KEPT], &f->res[RES_MASK],
      &f->xk, &f->key_bias, &f->pool_weight, k, dim, n);

  /* Blocks after L1 on the kept tokens, attention biased by ln(m + eps). */
  for (int l = c->atsm_layer; l < c->depth; l++)
    block (f, &w->blocks[l], &f->xk, k, &f->key_bias);
  label (f, "head", k, 0, 0);
  adatosk_vk_head (rec, t, &f->xk, &f->pool_weight, &w->fc_norm_w,
      &w->fc_norm_b, &w->head_w, &w->head_b, &f->pooled, &f->res[RES_LOGITS], k,
      dim, classes, (float) c->norm_eps);
  adatosk_vk_recorder_copy (rec, &f->results, &f->readback, f->results.size);
  status = adatosk_vk_recorder_end (rec, error);
  if (status == ADATOSK_OK)
    f->recorded_k = (int) k;
  return status;
}

AdatoskStatus
adatosk_vk_forward_new (AdatoskVkContext *ctx, AdatoskVkAllocator *alloc,
    AdatoskVkPipelines *pipelines, const AdatoskVkTuning *tuning,
    const AdatoskModel *model, const AdatoskVkWeights *weights,
    AdatoskVkForward **out, AdatoskError *error)
{
  *out = NULL;
  const AdatoskConfig *c = &model->config;
  const VkDeviceSize n = (VkDeviceSize) c->num_tokens,
                     dim = (VkDeviceSize) c->embed_dim;
  const VkDeviceSize classes = (VkDeviceSize) c->num_classes;
  const VkDeviceSize slots = (VkDeviceSize) c->num_slots;
  if (c->num_tokens > 65535)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "the Vulkan backend handles at most 65535 tokens per clip; this model "
        "has %d",
        c->num_tokens);
  if (c->embed_dim % c->num_heads != 0)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "embed_dim %d is not a multiple of num_heads %d", c->embed_dim,
        c->num_heads);

  AdatoskVkForward *f = calloc (1, sizeof *f);
  if (!f)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  f->ctx = ctx;
  f->tuning = *tuning;
  f->model = model;
  f->w = weights;
  AdatoskStatus status =
      adatosk_vk_recorder_new (ctx, pipelines, &f->rec, error);

  struct
  {
    AdatoskVkRange *range;
    VkDeviceSize floats;
    const char *name;
  } bufs[] = {
      {&f->patches, n * (VkDeviceSize) c->patch_dim, "patches"},
      {&f->emb, n * dim, "embeddings"},
      {&f->x, n * dim, "tokens"},
      {&f->xn, n * dim, "normalised tokens"},
      {&f->qkv, n * 3 * dim, "qkv"},
      {&f->att, n * dim, "attention output"},
      {&f->hidden, n * (VkDeviceSize) c->mlp_hidden, "MLP hidden"},
      {&f->proto_logits, n * classes, "prototype logits"},
      {&f->dist, n, "d"},
      {&f->q, n * classes, "q"},
      {&f->conf, n, "c"},
      {&f->r, n, "r"},
      {&f->keep, n, "keep flags"},
      {&f->xk, n * dim, "kept tokens"},
      {&f->key_bias, n, "key bias"},
      {&f->pool_weight, n, "pooling weights"},
      {&f->pooled, dim, "pooled"},
  };
  const VkDeviceSize max_range = ctx->props.limits.maxStorageBufferRange;
  for (size_t i = 0; status == ADATOSK_OK && i < sizeof bufs / sizeof bufs[0];
       i++) {
    VkDeviceSize bytes = bufs[i].floats * 4;
    if (bytes > max_range)
      status = adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "the %s of this model take %llu bytes, more than one Vulkan binding "
          "may cover on %s (%llu bytes)",
          bufs[i].name, (unsigned long long) bytes, ctx->description,
          (unsigned long long) max_range);
    else
      status = adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, bytes,
          bufs[i].range, error);
  }
  if (status == ADATOSK_OK)
    status = adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_HOST,
        (VkDeviceSize) 3 * c->num_frames * c->img_height * c->img_width * 4,
        &f->clip, error);

  /* Results: logits + probs, g, kept fraction, m, kept indices. */
  const VkDeviceSize alignment = adatosk_vk_allocator_alignment (alloc);
  const VkDeviceSize sizes[RES_COUNT] = {2 * classes * 4, slots * 4, slots * 4,
      n * 4, n * 4};
  VkDeviceSize total = 0;
  for (int i = 0; i < RES_COUNT; i++) {
    f->res_offset[i] = total;
    total += align_up (sizes[i], alignment);
  }
  if (status == ADATOSK_OK)
    status = adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, total,
        &f->results, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_HOST, total,
        &f->readback, error);
  if (status != ADATOSK_OK) {
    adatosk_vk_forward_free (f);
    return status;
  }
  for (int i = 0; i < RES_COUNT; i++) {
    f->res[i] = f->results;
    f->res[i].offset += f->res_offset[i];
    f->res[i].size = sizes[i];
    f->res[i].mapped = NULL;
  }
  *out = f;
  return ADATOSK_OK;
}

AdatoskVkRecorder *
adatosk_vk_forward_recorder (AdatoskVkForward *f)
{
  return f->rec;
}

void
adatosk_vk_forward_invalidate (AdatoskVkForward *f)
{
  f->recorded_k = 0;
}

void
adatosk_vk_forward_free (AdatoskVkForward *f)
{
  if (!f)
    return;
  adatosk_vk_recorder_free (f->rec);
  free (f);
}

int
adatosk_vk_forward_dispatch_count (const AdatoskVkForward *f)
{
  return f->rec ? adatosk_vk_recorder_dispatch_count (f->rec) : 0;
}

AdatoskStatus
adatosk_vk_forward_run (AdatoskVkForward *f, const float *clip,
    double keep_ratio, AdatoskOutput *out, AdatoskError *error)
{
  const AdatoskConfig *c = &f->model->config;
  const int n = c->num_tokens, classes = c->num_classes, slots = c->num_slots;
  if (out->num_classes != classes || out->num_slots != slots
      || out->num_tokens != n)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "the output was made for another model (%d classes, %d slots, %d "
        "tokens; "
        "this model has %d, %d, %d)",
        out->num_classes, out->num_slots, out->num_tokens, classes, slots, n);
  int k = adatosk_kept_tokens (n, keep_ratio);
  AdatoskStatus status = ADATOSK_OK;
  if (k != f->recorded_k)
    status = record (f, (uint32_t) k, error);
  if (status != ADATOSK_OK)
    return status;
  memcpy (f->clip.mapped, clip,
      (size_t) 3 * c->num_frames * c->img_height * c->img_width * sizeof *clip);
  status = adatosk_vk_recorder_submit (f->rec, error);
  if (status != ADATOSK_OK)
    return status;

  const char *base = f->readback.mapped;
  const float *logits = (const float *) (base + f->res_offset[RES_LOGITS]);
  const float *g = (const float *) (base + f->res_offset[RES_SIGNIFICANCE]);
  const float *fraction =
      (const float *) (base + f->res_offset[RES_KEPT_FRACTION]);
  const float *m = (const float *) (base + f->res_offset[RES_MASK]);
  const int32_t *kept = (const int32_t *) (base + f->res_offset[RES_KEPT]);
  memcpy (out->logits, logits, (size_t) classes * sizeof *logits);
  memcpy (out->probs, logits + classes, (size_t) classes * sizeof *logits);
  memcpy (out->significance, g, (size_t) slots * sizeof *g);
  memcpy (out->kept_fraction, fraction, (size_t) slots * sizeof *fraction);
  memcpy (out->token_mask, m, (size_t) n * sizeof *m);
  memcpy (out->kept_tokens, kept, (size_t) k * sizeof *kept);
  out->num_kept = k;

  /* A NaN in the mask would make the selection meaningless: say so rather
   * than return a wrong class. */
  bool finite = true;
  for (int i = 0; i < n && finite; i++)
    finite = isfinite (m[i]);
  for (int i = 0; i < classes && finite; i++)
    finite = isfinite (out->logits[i]) && isfinite (out->probs[i]);
  for (int j = 0; j < k && finite; j++)
    finite = kept[j] >= 0 && kept[j] < n && (j == 0 || kept[j] > kept[j - 1]);
  if (!finite)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the Vulkan forward on %s produced non-finite values (is the clip "
        "normalised and finite?)",
        f->ctx->description);
  return ADATOSK_OK;
}
