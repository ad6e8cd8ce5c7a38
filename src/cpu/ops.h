/* Element-wise and row-wise kernels of the CPU forward (everything that is
 * not a matrix product). Each has a naive twin in tests/unit/test_ops.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_OPS_H
#define ADATOSK_CPU_OPS_H

#include <stddef.h>

/* Row-major linear layer: y[n][out] = x[n][in] W[out][in]^T + bias, or, with
 * `accumulate`, y += ... (the residual add comes free from sgemm's beta). */
void adatosk_linear (const float *x, int n, int in, const float *weight,
    const float *bias, int out, float *y, int accumulate);

/* LayerNorm of each of `n` rows of width `d` (mean and variance from double
 * sums in one pass, shifted by the row's first value). */
void adatosk_layer_norm (const float *x, float *y, int n, int d,
    const float *weight, const float *bias, float eps);

/* Exact (erf) GELU in place. */
void adatosk_gelu (float *x, size_t count);

/* x[i][j] = GELU(x[i][j] + bias[j]) for n rows of width d: a Linear's bias
 * and its activation in one pass. */
void adatosk_bias_gelu (float *x, int n, int d, const float *bias);

/* The softmax's numerators in place, row[j] = exp(row[j] + bias[j] - max)
 * (bias may be NULL), and returns their sum: attention divides its output
 * rows by it instead of every score (64 columns instead of n). The row has
 * room for `padded` = adatosk_softmax_stride (count) floats; those after
 * `count` are overwritten with values whose exp is negligible. */
float adatosk_softmax_row_unnormalised (float *row, int count, int padded,
    const float *bias);
/* `count` rounded up to the softmax's vector width. */
int adatosk_softmax_stride (int count);

/* Row i of n rows of width d (stride apart) times scales[i]. */
void adatosk_scale_rows (float *x, int n, int d, int stride,
    const float *scales);

/* erf and exp accurate to a few float ulp, written so the compiler can
 * vectorise loops that call them (libm's are scalar calls). */
float adatosk_erf (float x);
float adatosk_exp (float x);

/* The fixed sinusoid position table PE[n][d] of the spec, rows `first` ..
 * `first + count - 1`. */
void adatosk_position_table (float *table, int first, int count, int dim);

#endif
