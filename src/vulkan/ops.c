/* Recording the forward's operations: kernel interfaces, tile choices,
 * dispatch sizes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ops.h"

#include "error.h"
#include "kernel_interface.h"

#include <string.h>

/* Push-constant blocks: the shaders' own lists (kernel_interface.h). */
#define PUSH_STRUCT(NAME, LIST) \
  typedef struct \
  { \
    LIST (ADATOSK_PUSH_FIELD) \
  } NAME; \
  _Static_assert(sizeof (NAME) == 4 * (0 LIST (ADATOSK_PUSH_COUNT)), \
      #NAME " has padding: the shader's std430 block has none"); \
  _Static_assert(sizeof (NAME) <= 128, \
      #NAME " exceeds the 128 bytes of push constants every device has")
PUSH_STRUCT (GemmPush, ADATOSK_GEMM_PUSH);
PUSH_STRUCT (LayerNormPush, ADATOSK_LAYERNORM_PUSH);
PUSH_STRUCT (AttentionPush, ADATOSK_ATTENTION_PUSH);
PUSH_STRUCT (Im2colPush, ADATOSK_IM2COL_PUSH);
PUSH_STRUCT (AddPush, ADATOSK_ADD_PUSH);
PUSH_STRUCT (AtsmTokenPush, ADATOSK_ATSM_TOKEN_PUSH);
PUSH_STRUCT (AtsmMaskPush, ADATOSK_ATSM_MASK_PUSH);
PUSH_STRUCT (TopkPush, ADATOSK_TOPK_PUSH);
PUSH_STRUCT (GatherPush, ADATOSK_GATHER_PUSH);
PUSH_STRUCT (HeadPush, ADATOSK_HEAD_PUSH);
_Static_assert(sizeof (uint32_t) == 4 && sizeof (float) == 4,
    "push constants are 32-bit words");

/* Shared memory of each kernel for its specialization constants: the sum of
 * the sizes its shaders declare, from the same macros. */
#define GEMM_SHARED_BYTES(BM, BN, BK) \
  (4 \
      * (ADATOSK_GEMM_AS_FLOATS (BM, BN, BK) \
          + ADATOSK_GEMM_WS_FLOATS (BM, BN, BK)))
#define ATTENTION_SHARED_BYTES(BR, BC, DH) \
  (4 \
      * (ADATOSK_ATTENTION_QS_FLOATS (BR, BC, DH) \
          + ADATOSK_ATTENTION_KS_FLOATS (BR, BC, DH) \
          + ADATOSK_ATTENTION_VS_FLOATS (BR, BC, DH) \
          + ADATOSK_ATTENTION_SS_FLOATS (BR, BC, DH) \
          + 3 * ADATOSK_ATTENTION_ROW_FLOATS (BR, BC, DH)))
#define GEMM_VEC4_SHARED_BYTES(BM, BN, BK) \
  (16 \
      * (ADATOSK_GEMM_VEC4_AS_VEC4S (BM, BN, BK) \
          + ADATOSK_GEMM_VEC4_WS_VEC4S (BM, BN, BK)))
#define ATTENTION_GPU_SHARED_BYTES(WG, BR, BC, DH) \
  (4 \
      * (ADATOSK_ATTENTION_GPU_QS_FLOATS (WG, BR, BC, DH) \
          + ADATOSK_ATTENTION_GPU_KS_FLOATS (WG, BR, BC, DH) \
          + ADATOSK_ATTENTION_GPU_VS_FLOATS (WG, BR, BC, DH) \
          + ADATOSK_ATTENTION_GPU_PS_FLOATS (WG, BR, BC, DH) \
          + ADATOSK_ATTENTION_GPU_LANE_FLOATS (WG, BR, BC, DH)))
/* The fallback tiles (taken when the defaults do not fit) fit the 16 KiB of
 * shared memory that Vulkan guarantees on every device. */
_Static_assert(GEMM_SHARED_BYTES (32u, 32u, 8u) <= 16384,
    "GEMM fallback tiles");
_Static_assert(ATTENTION_SHARED_BYTES (1u, 1u, 64u) <= 16384,
    "attention at DH 64");
/* The largest GPU GEMM tile fits every device's 16 KiB too. */
_Static_assert(GEMM_VEC4_SHARED_BYTES (128u, 64u, 16u) <= 16384,
    "GEMM vec4 128 x 64 tiles");
_Static_assert(ATTENTION_GPU_SHARED_BYTES (128u, 1u, 1u, 64u) <= 16384,
    "GPU attention at DH 64");

static uint32_t
gemm_shared (const uint32_t *spec)
{
  return GEMM_SHARED_BYTES (spec[1], spec[2], spec[3]);
}

static uint32_t
attention_shared (const uint32_t *spec)
{
  return ATTENTION_SHARED_BYTES (spec[1], spec[2], spec[3]);
}

static uint32_t
gemm_vec4_shared (const uint32_t *spec)
{
  return GEMM_VEC4_SHARED_BYTES (spec[1], spec[2], spec[3]);
}

static uint32_t
attention_gpu_shared (const uint32_t *spec)
{
  return ATTENTION_GPU_SHARED_BYTES (spec[0], spec[1], spec[2], spec[3]);
}

static uint32_t
reduction_shared (const uint32_t *spec)
{
  return 4 * ADATOSK_REDUCE_FLOATS (spec[0]);
}

static const AdatoskVkKernel gemm_kernel = {"gemm", 4, sizeof (GemmPush), 6,
    gemm_shared, NULL};
static const AdatoskVkKernel gemm_f16_kernel = {"gemm_f16", 4,
    sizeof (GemmPush), 6, gemm_shared, NULL};
static const AdatoskVkKernel gemm_vec4_kernel = {"gemm_vec4", 4,
    sizeof (GemmPush), 6, gemm_vec4_shared, NULL};
static const AdatoskVkKernel gemm_vec4_f16_kernel = {"gemm_vec4_f16", 4,
    sizeof (GemmPush), 6, gemm_vec4_shared, NULL};
static const AdatoskVkKernel attention_gpu_kernel = {"attention_gpu", 3,
    sizeof (AttentionPush), 4, attention_gpu_shared, NULL};
static const AdatoskVkKernel layernorm_kernel = {"layernorm", 4,
    sizeof (LayerNormPush), 1, reduction_shared, NULL};
static const AdatoskVkKernel attention_kernel = {"attention", 3,
    sizeof (AttentionPush), 4, attention_shared, NULL};
static const AdatoskVkKernel im2col_kernel = {"im2col", 2, sizeof (Im2colPush),
    1, NULL, NULL};
static const AdatoskVkKernel add_kernel = {"add", 3, sizeof (AddPush), 1, NULL,
    NULL};
static const AdatoskVkKernel atsm_token_kernel = {"atsm_token", 5,
    sizeof (AtsmTokenPush), 1, reduction_shared, NULL};
static const AdatoskVkKernel atsm_mask_kernel = {"atsm_mask", 6,
    sizeof (AtsmMaskPush), 1, reduction_shared, NULL};
static const AdatoskVkKernel topk_kernel = {"topk", 4, sizeof (TopkPush), 1,
    reduction_shared, NULL};
static const AdatoskVkKernel gather_kernel = {"gather", 6, sizeof (GatherPush),
    1, NULL, NULL};
static const AdatoskVkKernel head_kernel = {"head", 8, sizeof (HeadPush), 1,
    reduction_shared, NULL};

bool
adatosk_vk_gemm_tiles_fit (const AdatoskVkContext *ctx, const uint32_t *tiles,
    bool vec4)
{
  return adatosk_vk_kernel_fits (ctx, vec4 ? &gemm_vec4_kernel : &gemm_kernel,
      tiles);
}

static uint32_t
div_up (uint64_t a, uint64_t b)
{
  return (uint32_t) ((a + b - 1) / b);
}

static uint32_t
elementwise_groups (const AdatoskVkTuning *t, uint64_t total)
{
  uint64_t groups = (total + t->elementwise_wg - 1) / t->elementwise_wg;
  return groups > 65535 ? 65535 : (groups ? (uint32_t) groups : 1);
}

static AdatoskStatus
fail (AdatoskVkRecorder *rec, const char *format, const char *what, uint64_t a,
    uint64_t b)
{
  AdatoskError e = {0};
  adatosk_fail (&e, ADATOSK_ERROR_BACKEND, format, what, (unsigned long long) a,
      (unsigned long long) b);
  return adatosk_vk_recorder_fail (rec, &e);
}

/* One invocation per TM x TN micro-tile; the vec4 kernel moves groups of 4
 * rows, columns and k. */
static bool
gemm_tiles_valid (const uint32_t *tiles, bool vec4)
{
  const uint32_t wg = tiles[0], bm = tiles[1], bn = tiles[2], bk = tiles[3],
                 tm = tiles[4], tn = tiles[5];
  if (tm == 0 || tn == 0 || bm % tm || bn % tn || wg != (bm / tm) * (bn / tn))
    return false;
  return !vec4
      || (bm % 4 == 0 && bn % 4 == 0 && bk % 4 == 0 && tm % 4 == 0
          && tn % 4 == 0);
}

AdatoskStatus
adatosk_vk_gemm (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkGemm *g)
{
  const AdatoskVkContext *ctx = adatosk_vk_recorder_context (rec);
  const VkDeviceSize max_range = ctx->props.limits.maxStorageBufferRange;
  const VkDeviceSize alignment =
      ctx->props.limits.minStorageBufferOffsetAlignment;
  const VkDeviceSize elem = g->w_f16 ? 2 : 4;
  const VkDeviceSize row_bytes = (VkDeviceSize) g->k * elem;
  if (g->m == 0 || g->n == 0 || g->k == 0)
    return fail (rec, "internal error: empty %s (%llu x %llu)", "GEMM", g->m,
        g->n);
  if ((VkDeviceSize) g->n * row_bytes > g->w->size)
    return fail (rec, "internal error: %s weights of %llu bytes, %llu expected",
        "GEMM", g->w->size, (VkDeviceSize) g->n * row_bytes);
  /* Whole rows of W per window, leaving room for the alignment slack. */
  VkDeviceSize rows_per_window = (max_range - alignment - 4) / row_bytes;
  if (rows_per_window == 0)
    return fail (rec,
        "%s: one weight row of %llu bytes exceeds maxStorageBufferRange (%llu)",
        "GEMM", row_bytes, max_range);
  /* The vec4 kernel reads 16-byte words: K, A's row stride and A's binding
   * offset must keep every row's start on one (W's windows are checked
   * below, one by one). */
  const uint32_t *vec4_tiles =
      (g->k % 4 == 0 && g->lda % 4 == 0 && g->a->offset % 16 == 0)
      ? adatosk_vk_tuning_gemm_vec4_tiles (t, g->m, g->n)
      : NULL;
  const uint32_t *tiles = t->gemm;
  if ((uint64_t) div_up (g->m, t->gemm[1]) * div_up (g->n, t->gemm[2])
      < t->gemm_min_tiles)
    tiles = t->gemm_small;
  if (!gemm_tiles_valid (tiles, false)
      || (vec4_tiles && !gemm_tiles_valid (vec4_tiles, true)))
    return fail (rec,
        "internal error: %s tiles need (BM/TM)(BN/TN) invocations (and "
        "multiples of 4 for vec4), not %llu (BM %llu)",
        "GEMM", vec4_tiles ? vec4_tiles[0] : tiles[0],
        vec4_tiles ? vec4_tiles[1] : tiles[1]);
  for (uint32_t n0 = 0; n0 < g->n; n0 += (uint32_t) rows_per_window) {
    uint32_t rows =
        g->n - n0 < rows_per_window ? g->n - n0 : (uint32_t) rows_per_window;
    AdatoskVkRange window;
    VkDeviceSize skip;
    adatosk_vk_range_window (g->w, (VkDeviceSize) n0 * row_bytes,
        (VkDeviceSize) rows * row_bytes, alignment, &window, &skip);
    window.size = (window.size + 3) / 4 * 4; /* whole words for the f16 path */
    GemmPush push = {
        .M = g->m,
        .N = rows,
        .K = g->k,
        .lda = g->lda,
        .a_off = 0,
        .w_off = (uint32_t) (skip / elem),
        .ldc = g->ldc,
        .c_off = g->c_col + n0,
        .bias_off = n0,
        .flags = (g->bias ? 1u : 0u) | (g->gelu ? 2u : 0u)
            | (g->accumulate ? 4u : 0u),
        .alpha = g->alpha,
    };
    AdatoskVkRange bindings[4] = {*g->a, window, g->bias ? *g->bias : *g->a,
        *g->c};
    const bool vec4 =
        vec4_tiles && push.w_off % 4 == 0 && window.offset % 16 == 0;
    const AdatoskVkKernel *kernel = vec4
        ? (g->w_f16 ? &gemm_vec4_f16_kernel : &gemm_vec4_kernel)
        : (g->w_f16 ? &gemm_f16_kernel : &gemm_kernel);
    const uint32_t *spec = vec4 ? vec4_tiles : tiles;
    AdatoskStatus status = adatosk_vk_recorder_dispatch (rec, kernel, spec,
        bindings, &push, div_up (rows, spec[2]), div_up (g->m, spec[1]), 1);
    if (status != ADATOSK_OK)
      return status;
  }
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_layernorm (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *x, const AdatoskVkRange *gamma,
    const AdatoskVkRange *beta, const AdatoskVkRange *y, uint32_t rows,
    uint32_t cols, float eps)
{
  LayerNormPush push = {rows, cols, cols, cols, eps};
  AdatoskVkRange bindings[4] = {*x, *gamma, *beta, *y};
  return adatosk_vk_recorder_dispatch (rec, &layernorm_kernel, &t->row_wg,
      bindings, &push, rows, 1, 1);
}

AdatoskStatus
adatosk_vk_attention (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *qkv, const AdatoskVkRange *key_bias,
    const AdatoskVkRange *out, uint32_t n, uint32_t dim, uint32_t heads)
{
  const AdatoskVkContext *ctx = adatosk_vk_recorder_context (rec);
  uint32_t dh = dim / heads;
  uint32_t spec[4] = {t->attention[0], t->attention[1], t->attention[2], dh};
  const AdatoskVkKernel *kernel =
      t->attention_gpu ? &attention_gpu_kernel : &attention_kernel;
  /* The GPU kernel splits each query row over WG / BR invocations. */
  if (t->attention_gpu
      && (spec[1] == 0 || spec[1] > spec[0] || spec[0] % spec[1]))
    return fail (rec,
        "internal error: %s needs BR to divide WG (WG %llu, BR %llu)",
        "attention_gpu", spec[0], spec[1]);
  /* Halve the key block, then the query block, until the tiles fit the
   * device's shared memory (a large head dimension on a 32 KiB device). */
  while (!adatosk_vk_kernel_fits (ctx, kernel, spec)
      && (spec[1] > 1 || spec[2] > 1)) {
    if (spec[2] >= spec[1] && spec[2] > 1)
      spec[2] /= 2;
    else
      spec[1] /= 2;
  }
  AttentionPush push = {
      .n = n,
      .dim = dim,
      .ld_qkv = 3 * dim,
      .ld_out = dim,
      .flags = key_bias ? 1u : 0u,
      .scale = (float) (1.0 / __builtin_sqrt ((double) dh)),
  };
  AdatoskVkRange bindings[3] = {*qkv, key_bias ? *key_bias : *qkv, *out};
  return adatosk_vk_recorder_dispatch (rec, kernel, spec, bindings, &push,
      div_up (n, spec[1]), heads, 1);
}

AdatoskStatus
adatosk_vk_im2col (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *clip, const AdatoskVkRange *patches,
    const AdatoskConfig *c)
{
  Im2colPush push = {
      .frames = (uint32_t) c->num_frames,
      .height = (uint32_t) c->img_height,
      .width = (uint32_t) c->img_width,
      .tau = (uint32_t) c->tubelet_size,
      .p = (uint32_t) c->patch_size,
      .grid_width = (uint32_t) c->grid_width,
      .spatial = (uint32_t) c->num_spatial,
      .patch_dim = (uint32_t) c->patch_dim,
      .total = (uint32_t) c->num_tokens * (uint32_t) c->patch_dim,
  };
  AdatoskVkRange bindings[2] = {*clip, *patches};
  return adatosk_vk_recorder_dispatch (rec, &im2col_kernel, &t->elementwise_wg,
      bindings, &push, elementwise_groups (t, push.total), 1, 1);
}

AdatoskStatus
adatosk_vk_add (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *a, const AdatoskVkRange *b, const AdatoskVkRange *out,
    uint32_t count)
{
  AddPush push = {count};
  AdatoskVkRange bindings[3] = {*a, *b, *out};
  return adatosk_vk_recorder_dispatch (rec, &add_kernel, &t->elementwise_wg,
      bindings, &push, elementwise_groups (t, count), 1, 1);
}

AdatoskStatus
adatosk_vk_atsm_token (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *emb, const AdatoskVkRange *logits,
    const AdatoskVkRange *dist, const AdatoskVkRange *q,
    const AdatoskVkRange *conf, uint32_t slots, uint32_t spatial, uint32_t dim,
    uint32_t classes)
{
  AtsmTokenPush push = {dim, classes, spatial, slots};
  AdatoskVkRange bindings[5] = {*emb, *logits, *dist, *q, *conf};
  return adatosk_vk_recorder_dispatch (rec, &atsm_token_kernel, &t->row_wg,
      bindings, &push, slots * spatial, 1, 1);
}

AdatoskStatus
adatosk_vk_atsm_mask (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *dist, const AdatoskVkRange *q,
    const AdatoskVkRange *conf, const AdatoskVkRange *r,
    const AdatoskVkRange *g, const AdatoskVkRange *m, uint32_t slots,
    uint32_t spatial, uint32_t classes, float alpha_dyn, float alpha_sem,
    float beta)
{
  AtsmMaskPush push = {slots * spatial, classes, spatial, slots, alpha_dyn,
      alpha_sem, beta};
  AdatoskVkRange bindings[6] = {*dist, *q, *conf, *r, *g, *m};
  return adatosk_vk_recorder_dispatch (rec, &atsm_mask_kernel, &t->single_wg,
      bindings, &push, 1, 1, 1);
}

AdatoskStatus
adatosk_vk_topk (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *m, const AdatoskVkRange *keep,
    const AdatoskVkRange *kept, const AdatoskVkRange *kept_fraction,
    uint32_t slots, uint32_t spatial, uint32_t k)
{
  TopkPush push = {slots * spatial, k, spatial, slots};
  AdatoskVkRange bindings[4] = {*m, *keep, *kept, *kept_fraction};
  return adatosk_vk_recorder_dispatch (rec, &topk_kernel, &t->single_wg,
      bindings, &push, 1, 1, 1);
}

AdatoskStatus
adatosk_vk_gather (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *x, const AdatoskVkRange *kept,
    const AdatoskVkRange *m, const AdatoskVkRange *xk,
    const AdatoskVkRange *key_bias, const AdatoskVkRange *weight, uint32_t k,
    uint32_t dim, uint32_t tokens)
{
  GatherPush push = {dim, tokens};
  AdatoskVkRange bindings[6] = {*x, *kept, *m, *xk, *key_bias, *weight};
  return adatosk_vk_recorder_dispatch (rec, &gather_kernel, &t->row_wg,
      bindings, &push, k, 1, 1);
}

AdatoskStatus
adatosk_vk_head (AdatoskVkRecorder *rec, const AdatoskVkTuning *t,
    const AdatoskVkRange *xk, const AdatoskVkRange *weight,
    const AdatoskVkRange *gamma, const AdatoskVkRange *beta,
    const AdatoskVkRange *head_w, const AdatoskVkRange *head_b,
    const AdatoskVkRange *h, const AdatoskVkRange *result, uint32_t k,
    uint32_t dim, uint32_t classes, float eps)
{
  HeadPush push = {k, dim, classes, eps};
  AdatoskVkRange bindings[8] = {*xk, *weight, *gamma, *beta, *head_w, *head_b,
      *h, *result};
  return adatosk_vk_recorder_dispatch (rec, &head_kernel, &t->single_wg,
      bindings, &push, 1, 1, 1);
}
