/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "attention.h"
#include "ops.h"

#include <cblas.h>
#include <math.h>

void
adatosk_attention_rows (const float *qkv, int n, int dim, int heads, int head,
    int first, int rows, const float *key_bias, float *scores, float *row_scale,
    float *out, AdatoskCpuProfile *profile, int thread)
{
  int head_dim = dim / heads;
  int stride = 3 * dim;
  float scale = 1.0f / sqrtf ((float) head_dim);
  const float *q = qkv + (size_t) first * stride + head * head_dim;
  const float *k = qkv + dim + head * head_dim;
  const float *v = qkv + 2 * dim + head * head_dim;
  float *o = out + (size_t) first * dim + head * head_dim;
  int ld = adatosk_softmax_stride (n);

  /* The 1/sqrt(d) scale rides on the product's alpha, and the softmax's
   * division on the output rows: two passes fewer over the scores. */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, head_dim,
      scale, q, stride, k, stride, 0.0f, scores, ld);
  adatosk_cpu_profile_stop (profile, thread, ADATOSK_OP_ATTENTION_GEMM);
  for (int i = 0; i < rows; i++)
    row_scale[i] = 1.0f
        / adatosk_softmax_row_unnormalised (scores + (size_t) i * ld, n, ld,
            key_bias);
  adatosk_cpu_profile_stop (profile, thread, ADATOSK_OP_SOFTMAX);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, head_dim, n,
      1.0f, scores, ld, v, stride, 0.0f, o, dim);
  adatosk_cpu_profile_stop (profile, thread, ADATOSK_OP_ATTENTION_GEMM);
  adatosk_scale_rows (o, rows, head_dim, dim, row_scale);
  adatosk_cpu_profile_stop (profile, thread, ADATOSK_OP_SOFTMAX);
}

void
adatosk_attention (const float *qkv, int n, int dim, int heads,
    const float *key_bias, float *scores, float *out)
{
  for (int h = 0; h < heads; h++)
    adatosk_attention_rows (qkv, n, dim, heads, h, 0, n, key_bias, scores,
        scores + (size_t) n * adatosk_softmax_stride (n), out, NULL, 0);
}
