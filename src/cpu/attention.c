/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "attention.h"
#include "ops.h"

#include <cblas.h>
#include <math.h>

void
adatosk_attention (const float *qkv, int n, int dim, int heads,
    const float *key_bias, float *scores, float *out, AdatoskCpuProfile *prof)
{
  int head_dim = dim / heads;
  int stride = 3 * dim;
  float scale = 1.0f / sqrtf ((float) head_dim);

  /* One head at a time keeps the n x n score matrix in cache-sized scratch;
   * the two products per head are large enough for OpenBLAS's threads. */
  for (int h = 0; h < heads; h++) {
    const float *q = qkv + h * head_dim;
    const float *k = qkv + dim + h * head_dim;
    const float *v = qkv + 2 * dim + h * head_dim;
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, n, head_dim, 1.0f,
        q, stride, k, stride, 0.0f, scores, n);
    adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_ATTENTION_GEMM);
    for (int i = 0; i < n; i++)
      adatosk_softmax_row (scores + (size_t) i * n, n, scale, key_bias);
    adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_SOFTMAX);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, head_dim, n,
        1.0f, scores, n, v, stride, 0.0f, out + h * head_dim, dim);
    adatosk_cpu_profile_stop (prof, 0, ADATOSK_OP_ATTENTION_GEMM);
  }
}
