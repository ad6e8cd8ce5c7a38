/* Naive double-precision twins of the Vulkan ops and of the whole forward,
 * written straight from docs/model.md: what every shader is
 * compared with.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_REFERENCE_H
#define ADATOSK_VK_REFERENCE_H

#include "model.h"

#include <stdbool.h>

/* c[m][ldc] (columns c_col..c_col+n) = alpha a w^T (+ bias) (gelu) (+ c). */
void ref_gemm (const float *a, int lda, const float *w, const float *bias,
    double *c, int ldc, int c_col, int m, int n, int k, double alpha, bool gelu,
    bool accumulate);
double ref_gelu (double x);
void ref_layernorm (const double *x, const float *gamma, const float *beta,
    double *y, int rows, int cols, double eps);
/* qkv [n][3 dim] -> out [n][dim]; key_bias [n] or NULL. */
void ref_attention (const double *qkv, const double *key_bias, double *out,
    int n, int dim, int heads);
void ref_im2col (const AdatoskConfig *c, const float *clip, double *patches);
/* From E [N][D] and the prototype logits [N][C] (already / sqrt(D)). */
void ref_atsm (const double *emb, const double *logits, int slots, int spatial,
    int dim, int classes, double alpha_dyn, double alpha_sem, double beta,
    double *dist, double *q, double *conf, double *r, double *g, double *m);
/* Indices of the K largest m (ties: lower index), ascending. */
void ref_topk (const double *m, int n, int k, int *kept);

/* The whole forward in double precision; fills `out` like a backend. */
void ref_forward (const AdatoskModel *model, const float *clip,
    double keep_ratio, AdatoskOutput *out, double *logits_out);

#endif
