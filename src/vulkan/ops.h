/* The forward's operations, each recorded as one or more dispatches of a
 * shader in shaders/ (same names). Sizes are in elements; every buffer is a
 * range from the allocator holding float32 unless said otherwise.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_OPS_H
#define ADATOSK_VK_OPS_H

#include "recorder.h"
#include "tuning.h"

/* Whether gemm.comp (vec4 false) or gemm_vec4.comp (true) with these
 * tiles (WG, BM, BN, BK, TM, TN) fits the device. */
bool adatosk_vk_gemm_tiles_fit (const AdatoskVkContext *context,
    const uint32_t *tiles, bool vec4);

/* C = alpha * A W^T (+ bias) (GELU) (+ C) for A [M][K] (row stride lda),
 * W [N][K] (PyTorch Linear layout), C columns [c_col, c_col + N) of rows of
 * stride ldc. A W range larger than maxStorageBufferRange is bound in
 * windows of whole rows, one dispatch each. gemm_vec4.comp with the tuning's
 * tiles for M x N when the tuning has it and K, lda, and every offset are
 * multiples of 4 floats (16 bytes); gemm.comp otherwise. */
typedef struct
{
  const AdatoskVkRange *a;
  uint32_t lda;
  const AdatoskVkRange *w;
  bool w_f16;                 /* W holds IEEE half floats */
  const AdatoskVkRange *bias; /* [N] or NULL */
  const AdatoskVkRange *c;
  uint32_t ldc, c_col;
  uint32_t m, n, k;
  float alpha;
  bool gelu, accumulate;
} AdatoskVkGemm;

AdatoskStatus adatosk_vk_gemm (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkGemm *gemm);

AdatoskStatus adatosk_vk_layernorm (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *x,
    const AdatoskVkRange *gamma, const AdatoskVkRange *beta,
    const AdatoskVkRange *y, uint32_t rows, uint32_t cols, float eps);

/* qkv [n][3 dim] -> out [n][dim]; key_bias [n] or NULL. */
AdatoskStatus adatosk_vk_attention (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *qkv,
    const AdatoskVkRange *key_bias, const AdatoskVkRange *out, uint32_t n,
    uint32_t dim, uint32_t heads);

/* clip [3][T][H][W] -> patches [N][3 tau p p]. */
AdatoskStatus adatosk_vk_im2col (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *clip,
    const AdatoskVkRange *patches, const AdatoskConfig *config);

AdatoskStatus adatosk_vk_add (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *a,
    const AdatoskVkRange *b, const AdatoskVkRange *out, uint32_t count);

/* emb [N][D] (before the position table), logits [N][C] (Zh P^T / sqrt(D))
 * -> dist [N], q [N][C], conf [N]. */
AdatoskStatus adatosk_vk_atsm_token (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *emb,
    const AdatoskVkRange *logits, const AdatoskVkRange *dist,
    const AdatoskVkRange *q, const AdatoskVkRange *conf, uint32_t slots,
    uint32_t spatial, uint32_t dim, uint32_t classes);

/* -> r [N] (scratch), g [T'], m [N]. */
AdatoskStatus adatosk_vk_atsm_mask (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *dist,
    const AdatoskVkRange *q, const AdatoskVkRange *conf,
    const AdatoskVkRange *r, const AdatoskVkRange *g, const AdatoskVkRange *m,
    uint32_t slots, uint32_t spatial, uint32_t classes, float alpha_dyn,
    float alpha_sem, float beta);

/* m [N] -> keep [N] (uint32 scratch), kept [K] (int32, ascending),
 * kept_fraction [T']: exactly K indices for any m (NaN, infinities, ties). */
AdatoskStatus adatosk_vk_topk (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *m,
    const AdatoskVkRange *keep, const AdatoskVkRange *kept,
    const AdatoskVkRange *kept_fraction, uint32_t slots, uint32_t spatial,
    uint32_t k);

/* x [N][D], kept [K], m [N] -> xk [K][D], key_bias [K], weight [K]; an
 * index outside 0..N-1 reads row N-1 (never outside x or m). */
AdatoskStatus adatosk_vk_gather (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *x,
    const AdatoskVkRange *kept, const AdatoskVkRange *m,
    const AdatoskVkRange *xk, const AdatoskVkRange *key_bias,
    const AdatoskVkRange *weight, uint32_t k, uint32_t dim, uint32_t tokens);

/* xk [K][D], weight [K] -> h [D] (scratch), result [2 C] (logits, probs). */
AdatoskStatus adatosk_vk_head (AdatoskVkRecorder *rec,
    const AdatoskVkTuning *tuning, const AdatoskVkRange *xk,
    const AdatoskVkRange *weight, const AdatoskVkRange *gamma,
    const AdatoskVkRange *beta, const AdatoskVkRange *head_w,
    const AdatoskVkRange *head_b, const AdatoskVkRange *h,
    const AdatoskVkRange *result, uint32_t k, uint32_t dim, uint32_t classes,
    float eps);

#endif
