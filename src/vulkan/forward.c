/* The forward of docs/model.md sections 1-4 as a sequence of ops, for a
 * batch of clips: the token-wise ops (LayerNorm, the Linear products, the
 * position add) run over the rows of every clip at once, attention, the ATSM,
 * top-K, gather and head per clip, all in one command buffer and one submit.
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

/* What one clip of the batch has to itself. */
typedef struct
{
  AdatoskVkRange clip; /* its part of the host-visible input */
  AdatoskVkRange proto_logits, dist, q, conf, r, keep;
  AdatoskVkRange key_bias, pool_weight, pooled;
  AdatoskVkRange res[RES_COUNT]; /* its part of `results` */
} ClipBuffers;

struct AdatoskVkForward
{
  AdatoskVkContext *ctx;
  AdatoskVkAllocator *alloc; /* the activations' own, freed with them */
  AdatoskVkRecorder *rec;
  AdatoskVkTuning tuning;
  const AdatoskModel *model;
  const AdatoskVkWeights *w;
  int capacity;       /* clips the buffers hold */
  int recorded_k;     /* K of the recorded command buffer; 0: none */
  int recorded_batch; /* its number of clips */
  /* Clip b's tokens are rows [b stride, b stride + n) of the row buffers
   * (stride_n before the ATSM, stride_k after it): a multiple of row_align
   * rows, so that each clip's part is a range a descriptor may bind. */
  uint32_t row_align;
  uint32_t stride_n, stride_k;

  /* Row buffers, [capacity stride_n][width]. */
  AdatoskVkRange patches, emb, x, xn, qkv, att, hidden, xk;
  AdatoskVkRange clip_input; /* host-visible, capacity clips */
  VkDeviceSize clip_stride;  /* bytes */
  AdatoskVkRange results, readback;
  VkDeviceSize res_offset[RES_COUNT], res_stride;
  ClipBuffers *clips; /* [capacity] */
};

static VkDeviceSize
align_up (VkDeviceSize v, VkDeviceSize a)
{
  return (v + a - 1) / a * a;
}

static uint64_t
gcd (uint64_t a, uint64_t b)
{
  while (b) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Rows [row, row + rows) of a row buffer of `width` floats per row. */
static AdatoskVkRange
rows_of (const AdatoskVkRange *buffer, uint32_t width, uint32_t row,
    uint32_t rows)
{
  AdatoskVkRange r = *buffer;
  r.offset += (VkDeviceSize) row * width * 4;
  r.size = (VkDeviceSize) rows * width * 4;
  r.mapped = NULL;
  return r;
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

/* One block on `batch` clips of n tokens each, clip b at rows b * stride of
 * x: the products and norms over all rows (the padding rows between clips
 * too; they never reach a clip's rows), attention per clip with that clip's
 * key bias when `biased`. */
static void
block (AdatoskVkForward *f, const AdatoskVkBlockWeights *b,
    const AdatoskVkRange *x, int batch, uint32_t n, uint32_t stride,
    bool biased)
{
  const AdatoskConfig *c = &f->model->config;
  const uint32_t dim = (uint32_t) c->embed_dim,
                 hidden = (uint32_t) c->mlp_hidden;
  const uint32_t rows = (uint32_t) (batch - 1) * stride + n;
  const float eps = (float) c->norm_eps;
  AdatoskVkRecorder *rec = f->rec;
  const AdatoskVkTuning *t = &f->tuning;
  const bool f16 = f->w->f16;

  label (f, "norm1", rows, 0, 0);
  adatosk_vk_layernorm (rec, t, x, &b->norm1_w, &b->norm1_b, &f->xn, rows, dim,
      eps);
  label (f, "qkv", rows, 3 * dim, dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->xn,
          .lda = dim,
          .w = &b->qkv_w,
          .w_f16 = f16,
          .bias = &b->qkv_b,
          .c = &f->qkv,
          .ldc = 3 * dim,
          .m = rows,
          .n = 3 * dim,
          .k = dim,
          .alpha = 1.0f});
  label (f, biased ? "biased" : "plain", n, 0, 0);
  for (int i = 0; i < batch; i++) {
    AdatoskVkRange qkv = rows_of (&f->qkv, 3 * dim, (uint32_t) i * stride, n);
    AdatoskVkRange att = rows_of (&f->att, dim, (uint32_t) i * stride, n);
    adatosk_vk_attention (rec, t, &qkv, biased ? &f->clips[i].key_bias : NULL,
        &att, n, dim, (uint32_t) c->num_heads);
  }
  label (f, "proj", rows, dim, dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->att,
          .lda = dim,
          .w = &b->proj_w,
          .w_f16 = f16,
          .bias = &b->proj_b,
          .c = x,
          .ldc = dim,
          .m = rows,
          .n = dim,
          .k = dim,
          .alpha = 1.0f,
          .accumulate = true});
  label (f, "norm2", rows, 0, 0);
  adatosk_vk_layernorm (rec, t, x, &b->norm2_w, &b->norm2_b, &f->xn, rows, dim,
      eps);
  label (f, "fc1", rows, hidden, dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->xn,
          .lda = dim,
          .w = &b->fc1_w,
          .w_f16 = f16,
          .bias = &b->fc1_b,
          .c = &f->hidden,
          .ldc = hidden,
          .m = rows,
          .n = hidden,
          .k = dim,
          .alpha = 1.0f,
          .gelu = true});
  label (f, "fc2", rows, dim, hidden);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->hidden,
          .lda = hidden,
          .w = &b->fc2_w,
          .w_f16 = f16,
          .bias = &b->fc2_b,
          .c = x,
          .ldc = dim,
          .m = rows,
          .n = dim,
          .k = hidden,
          .alpha = 1.0f,
          .accumulate = true});
}

static AdatoskStatus
record (AdatoskVkForward *f, uint32_t k, int batch, AdatoskError *error)
{
  const AdatoskModel *model = f->model;
  const AdatoskConfig *c = &model->config;
  const uint32_t n = (uint32_t) c->num_tokens, dim = (uint32_t) c->embed_dim;
  const uint32_t classes = (uint32_t) c->num_classes;
  const uint32_t slots = (uint32_t) c->num_slots,
                 spatial = (uint32_t) c->num_spatial;
  const uint32_t patch_dim = (uint32_t) c->patch_dim;
  AdatoskVkRecorder *rec = f->rec;
  const AdatoskVkTuning *t = &f->tuning;
  const AdatoskVkWeights *w = f->w;
  const uint32_t sn = f->stride_n;
  const uint32_t sk = (uint32_t) align_up (k, f->row_align);
  const uint32_t rows_n = (uint32_t) (batch - 1) * sn + n;

  f->recorded_k = 0;
  f->recorded_batch = 0;
  f->stride_k = sk;
  AdatoskStatus status = adatosk_vk_recorder_begin (rec, error);
  if (status != ADATOSK_OK)
    return status;
  /* Embedding: E = tubes W^T + b (kept for the ATSM), x = E + position table. */
  label (f, "tubes", n, 0, 0);
  for (int i = 0; i < batch; i++) {
    AdatoskVkRange patches =
        rows_of (&f->patches, patch_dim, (uint32_t) i * sn, n);
    adatosk_vk_im2col (rec, t, &f->clips[i].clip, &patches, c);
  }
  label (f, "patch-embed", rows_n, dim, patch_dim);
  adatosk_vk_gemm (rec, t,
      &(AdatoskVkGemm){.a = &f->patches,
          .lda = patch_dim,
          .w = &w->patch_w,
          .w_f16 = w->f16,
          .bias = &w->patch_b,
          .c = &f->emb,
          .ldc = dim,
          .m = rows_n,
          .n = dim,
          .k = patch_dim,
          .alpha = 1.0f});
  label (f, "position", n, 0, 0);
  for (int i = 0; i < batch; i++) {
    AdatoskVkRange emb = rows_of (&f->emb, dim, (uint32_t) i * sn, n);
    AdatoskVkRange x = rows_of (&f->x, dim, (uint32_t) i * sn, n);
    adatosk_vk_add (rec, t, &emb, &w->pos_table, &x, n * dim);
  }
  for (int l = 0; l < c->atsm_layer; l++)
    block (f, &w->blocks[l], &f->x, batch, n, sn, false);

  /* ATSM: prototype posteriors of LN_atsm(Z), dynamics of E, the mask m;
   * then each clip's own top-K and its kept rows packed at b * sk. */
  label (f, "atsm", n, 0, 0);
  adatosk_vk_layernorm (rec, t, &f->x, &w->atsm_norm_w, &w->atsm_norm_b, &f->xn,
      rows_n, dim, (float) c->norm_eps);
  for (int i = 0; i < batch; i++) {
    ClipBuffers *cb = &f->clips[i];
    AdatoskVkRange xn = rows_of (&f->xn, dim, (uint32_t) i * sn, n);
    AdatoskVkRange emb = rows_of (&f->emb, dim, (uint32_t) i * sn, n);
    AdatoskVkRange x = rows_of (&f->x, dim, (uint32_t) i * sn, n);
    AdatoskVkRange xk = rows_of (&f->xk, dim, (uint32_t) i * sk, k);
    adatosk_vk_gemm (rec, t,
        &(AdatoskVkGemm){.a = &xn,
            .lda = dim,
            .w = &w->prototypes,
            .c = &cb->proto_logits,
            .ldc = classes,
            .m = n,
            .n = classes,
            .k = dim,
            .alpha = (float) (1.0 / sqrt ((double) dim))});
    adatosk_vk_atsm_token (rec, t, &emb, &cb->proto_logits, &cb->dist, &cb->q,
        &cb->conf, slots, spatial, dim, classes);
    adatosk_vk_atsm_mask (rec, t, &cb->dist, &cb->q, &cb->conf, &cb->r,
        &cb->res[RES_SIGNIFICANCE], &cb->res[RES_MASK], slots, spatial, classes,
        model->alpha_dyn, model->alpha_sem, model->beta);
    adatosk_vk_topk (rec, t, &cb->res[RES_MASK], &cb->keep, &cb->res[RES_KEPT],
        &cb->res[RES_KEPT_FRACTION], slots, spatial, k);
    adatosk_vk_gather (rec, t, &x, &cb->res[RES_KEPT], &cb->res[RES_MASK], &xk,
        &cb->key_bias, &cb->pool_weight, k, dim, n);
  }

  /* Blocks after L1 on the kept tokens, attention biased by ln(m + eps). */
  for (int l = c->atsm_layer; l < c->depth; l++)
    block (f, &w->blocks[l], &f->xk, batch, k, sk, true);
  label (f, "head", k, 0, 0);
  for (int i = 0; i < batch; i++) {
    ClipBuffers *cb = &f->clips[i];
    AdatoskVkRange xk = rows_of (&f->xk, dim, (uint32_t) i * sk, k);
    adatosk_vk_head (rec, t, &xk, &cb->pool_weight, &w->fc_norm_w,
        &w->fc_norm_b, &w->head_w, &w->head_b, &cb->pooled,
        &cb->res[RES_LOGITS], k, dim, classes, (float) c->norm_eps);
  }
  adatosk_vk_recorder_copy (rec, &f->results, &f->readback,
      (VkDeviceSize) batch * f->res_stride);
  status = adatosk_vk_recorder_end (rec, error);
  if (status == ADATOSK_OK) {
    f->recorded_k = (int) k;
    f->recorded_batch = batch;
  }
  return status;
}

/* The rows between two clips' parts of the row buffers: the fewest that make
 * every part's byte offset a multiple of the device's binding alignment for
 * every row width (1 for widths that are multiples of 4 floats on most
 * devices, so usually no padding at all). */
static uint32_t
row_alignment (const AdatoskVkContext *ctx, const AdatoskConfig *c)
{
  const uint64_t align = ctx->props.limits.minStorageBufferOffsetAlignment;
  const uint64_t widths[] = {(uint64_t) c->embed_dim,
      3 * (uint64_t) c->embed_dim, (uint64_t) c->mlp_hidden,
      (uint64_t) c->patch_dim};
  uint64_t rows = 1;
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
    uint64_t need = align / gcd (align, 4 * widths[i]);
    rows = rows / gcd (rows, need) * need;
  }
  return (uint32_t) rows;
}

AdatoskStatus
adatosk_vk_forward_new (AdatoskVkContext *ctx, AdatoskVkPipelines *pipelines,
    const AdatoskVkTuning *tuning, const AdatoskModel *model,
    const AdatoskVkWeights *weights, int capacity, AdatoskVkForward **out,
    AdatoskError *error)
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
  if (capacity < 1)
    capacity = 1;

  AdatoskVkForward *f = calloc (1, sizeof *f);
  if (f)
    f->clips = calloc ((size_t) capacity, sizeof *f->clips);
  if (!f || !f->clips) {
    free (f);
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  }
  f->ctx = ctx;
  f->tuning = *tuning;
  f->model = model;
  f->w = weights;
  f->capacity = capacity;
  f->row_align = row_alignment (ctx, c);
  f->stride_n = (uint32_t) align_up (n, f->row_align);
  const VkDeviceSize rows = (VkDeviceSize) capacity * f->stride_n;
  const VkDeviceSize clip_floats =
      (VkDeviceSize) 3 * c->num_frames * c->img_height * c->img_width;

  struct
  {
    AdatoskVkRange *range;
    VkDeviceSize floats;
    const char *name;
  } bufs[] = {
      {&f->patches, rows * (VkDeviceSize) c->patch_dim, "patches"},
      {&f->emb, rows * dim, "embeddings"},
      {&f->x, rows * dim, "tokens"},
      {&f->xn, rows * dim, "normalised tokens"},
      {&f->qkv, rows * 3 * dim, "qkv"},
      {&f->att, rows * dim, "attention output"},
      {&f->hidden, rows * (VkDeviceSize) c->mlp_hidden, "MLP hidden"},
      {&f->xk, rows * dim, "kept tokens"},
  };
  const size_t nbufs = sizeof bufs / sizeof bufs[0];
  /* Results: logits + probs, g, kept fraction, m, kept indices. */
  const VkDeviceSize alignment =
      256 > ctx->props.limits.minStorageBufferOffsetAlignment
      ? 256
      : ctx->props.limits.minStorageBufferOffsetAlignment;
  const VkDeviceSize sizes[RES_COUNT] = {2 * classes * 4, slots * 4, slots * 4,
      n * 4, n * 4};
  f->res_stride = 0;
  for (int i = 0; i < RES_COUNT; i++) {
    f->res_offset[i] = f->res_stride;
    f->res_stride += align_up (sizes[i], alignment);
  }
  f->clip_stride = align_up (clip_floats * 4, alignment);

  /* One device block for all activations (the allocator's default of
   * 256 MiB would be far too much for a small model). */
  VkDeviceSize device_bytes = (VkDeviceSize) capacity * f->res_stride;
  for (size_t i = 0; i < nbufs; i++)
    device_bytes += align_up (bufs[i].floats * 4, alignment);
  device_bytes += (VkDeviceSize) capacity
      * (2 * align_up (n * classes * 4, alignment)
          + 6 * align_up (n * 4, alignment) + align_up (dim * 4, alignment));
  AdatoskStatus status = adatosk_vk_allocator_new (ctx,
      device_bytes + ((VkDeviceSize) 1 << 20), &f->alloc, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_recorder_new (ctx, pipelines, &f->rec, error);

  const VkDeviceSize max_range = ctx->props.limits.maxStorageBufferRange;
  for (size_t i = 0; status == ADATOSK_OK && i < nbufs; i++) {
    VkDeviceSize bytes = bufs[i].floats * 4;
    if (bytes > max_range)
      status = adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "the %s of a batch of %d clips of this model take %llu bytes, more "
          "than one Vulkan binding may cover on %s (%llu bytes); use batches "
          "of at most %llu clips",
          bufs[i].name, capacity, (unsigned long long) bytes, ctx->description,
          (unsigned long long) max_range,
          (unsigned long long) (max_range / (bytes / (VkDeviceSize) capacity)));
    else
      status = adatosk_vk_alloc (f->alloc, ADATOSK_VK_MEMORY_DEVICE, bytes,
          bufs[i].range, error);
  }
  for (int b = 0; status == ADATOSK_OK && b < capacity; b++) {
    ClipBuffers *cb = &f->clips[b];
    struct
    {
      AdatoskVkRange *range;
      VkDeviceSize floats;
    } own[] = {
        {&cb->proto_logits, n * classes},
        {&cb->dist, n},
        {&cb->q, n * classes},
        {&cb->conf, n},
        {&cb->r, n},
        {&cb->keep, n},
        {&cb->key_bias, n},
        {&cb->pool_weight, n},
        {&cb->pooled, dim},
    };
    for (size_t i = 0; status == ADATOSK_OK && i < sizeof own / sizeof own[0];
         i++)
      status = adatosk_vk_alloc (f->alloc, ADATOSK_VK_MEMORY_DEVICE,
          own[i].floats * 4, own[i].range, error);
  }
  if (status == ADATOSK_OK)
    status = adatosk_vk_alloc (f->alloc, ADATOSK_VK_MEMORY_HOST,
        (VkDeviceSize) capacity * f->clip_stride, &f->clip_input, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_alloc (f->alloc, ADATOSK_VK_MEMORY_DEVICE,
        (VkDeviceSize) capacity * f->res_stride, &f->results, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_alloc (f->alloc, ADATOSK_VK_MEMORY_HOST,
        (VkDeviceSize) capacity * f->res_stride, &f->readback, error);
  if (status != ADATOSK_OK) {
    adatosk_vk_forward_free (f);
    return status;
  }
  for (int b = 0; b < capacity; b++) {
    ClipBuffers *cb = &f->clips[b];
    cb->clip = f->clip_input;
    cb->clip.offset += (VkDeviceSize) b * f->clip_stride;
    cb->clip.size = clip_floats * 4;
    cb->clip.mapped = (char *) f->clip_input.mapped + b * f->clip_stride;
    for (int i = 0; i < RES_COUNT; i++) {
      cb->res[i] = f->results;
      cb->res[i].offset += (VkDeviceSize) b * f->res_stride + f->res_offset[i];
      cb->res[i].size = sizes[i];
      cb->res[i].mapped = NULL;
    }
  }
  *out = f;
  return ADATOSK_OK;
}

AdatoskVkRecorder *
adatosk_vk_forward_recorder (AdatoskVkForward *f)
{
  return f->rec;
}

int
adatosk_vk_forward_capacity (const AdatoskVkForward *f)
{
  return f->capacity;
}

void
adatosk_vk_forward_invalidate (AdatoskVkForward *f)
{
  f->recorded_k = 0;
  f->recorded_batch = 0;
}

void
adatosk_vk_forward_free (AdatoskVkForward *f)
{
  if (!f)
    return;
  adatosk_vk_recorder_free (f->rec);
  adatosk_vk_allocator_free (f->alloc);
  free (f->clips);
  free (f);
}

int
adatosk_vk_forward_dispatch_count (const AdatoskVkForward *f)
{
  return f->rec ? adatosk_vk_recorder_dispatch_count (f->rec) : 0;
}

/* Copies clip b's results out of the readback buffer; false when they are
 * not finite or the kept indices are not a valid ascending selection. */
static bool
read_clip (AdatoskVkForward *f, int b, int k, AdatoskOutput *out)
{
  const AdatoskConfig *c = &f->model->config;
  const int n = c->num_tokens, classes = c->num_classes, slots = c->num_slots;
  const char *base = (const char *) f->readback.mapped + b * f->res_stride;
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
  return finite;
}

AdatoskStatus
adatosk_vk_forward_run (AdatoskVkForward *f, const float *const *clips,
    int batch, double keep_ratio, AdatoskOutput *const *outs,
    AdatoskError *error)
{
  const AdatoskConfig *c = &f->model->config;
  const int n = c->num_tokens, classes = c->num_classes, slots = c->num_slots;
  if (batch < 1 || batch > f->capacity)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "internal error: a batch of %d clips for a Vulkan forward made for "
        "%d",
        batch, f->capacity);
  for (int b = 0; b < batch; b++)
    if (outs[b]->num_classes != classes || outs[b]->num_slots != slots
        || outs[b]->num_tokens != n)
      return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "the output was made for another model (%d classes, %d slots, %d "
          "tokens; "
          "this model has %d, %d, %d)",
          outs[b]->num_classes, outs[b]->num_slots, outs[b]->num_tokens,
          classes, slots, n);
  int k = adatosk_kept_tokens (n, keep_ratio);
  AdatoskStatus status = ADATOSK_OK;
  if (k != f->recorded_k || batch != f->recorded_batch)
    status = record (f, (uint32_t) k, batch, error);
  if (status != ADATOSK_OK)
    return status;
  for (int b = 0; b < batch; b++)
    memcpy (f->clips[b].clip.mapped, clips[b], f->clips[b].clip.size);
  status = adatosk_vk_recorder_submit (f->rec, error);
  if (status != ADATOSK_OK)
    return status;

  for (int b = 0; b < batch; b++)
    if (!read_clip (f, b, k, outs[b]))
      return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
          "the Vulkan forward on %s produced non-finite values (is the clip "
          "normalised and finite?)",
          f->ctx->description);
  return ADATOSK_OK;
}
