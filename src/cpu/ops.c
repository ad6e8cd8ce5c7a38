/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ops.h"
#include "simd.h"
#include "vec.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void
adatosk_linear (const float *x, int n, int in, const float *weight,
    const float *bias, int out, float *y, int accumulate)
{
  /* Put the bias into y first so that one sgemm with beta = 1 does the rest. */
  if (bias) {
    for (int i = 0; i < n; i++) {
      float *row = y + (size_t) i * out;
      if (accumulate)
        for (int j = 0; j < out; j++)
          row[j] += bias[j];
      else
        for (int j = 0; j < out; j++)
          row[j] = bias[j];
    }
  }
  float beta = (bias || accumulate) ? 1.0f : 0.0f;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in,
      weight, in, beta, y, out);
}

/* The double sums below keep four vectors of partial sums: with one, each
 * vector add would wait for the one before (LayerNorm was 4% of a forward
 * when the compiler had to add in order). */
enum
{
  DOUBLE_WIDTH = 8, /* floats widened at a time */
  DOUBLE_ACCUMULATORS = 4,
  DOUBLE_STEP = DOUBLE_WIDTH * DOUBLE_ACCUMULATORS
};

ADATOSK_INLINE AdatoskVecDouble
load_double (const float *p)
{
  AdatoskVecHalf h;
  memcpy (&h, p, sizeof h);
  return __builtin_convertvector(h, AdatoskVecDouble);
}

ADATOSK_INLINE double
sum_lanes_double (const AdatoskVecDouble *acc)
{
  AdatoskVecDouble all = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  double sum = 0.0;
  for (int l = 0; l < DOUBLE_WIDTH; l++)
    sum += all[l];
  return sum;
}

/* The sum and the sum of squares of x[j] - shift in one pass. */
ADATOSK_INLINE void
shifted_sums (const float *x, int d, double shift, double *sum, double *squares)
{
  AdatoskVecDouble acc[DOUBLE_ACCUMULATORS] = {{0}};
  AdatoskVecDouble acc2[DOUBLE_ACCUMULATORS] = {{0}};
  int j = 0;
  for (; j + DOUBLE_STEP <= d; j += DOUBLE_STEP)
    for (int a = 0; a < DOUBLE_ACCUMULATORS; a++) {
      AdatoskVecDouble c = load_double (x + j + a * DOUBLE_WIDTH) - shift;
      acc[a] += c;
      acc2[a] += c * c;
    }
  for (; j + DOUBLE_WIDTH <= d; j += DOUBLE_WIDTH) {
    AdatoskVecDouble c = load_double (x + j) - shift;
    acc[0] += c;
    acc2[0] += c * c;
  }
  *sum = sum_lanes_double (acc);
  *squares = sum_lanes_double (acc2);
  for (; j < d; j++) {
    double c = x[j] - shift;
    *sum += c;
    *squares += c * c;
  }
}

/* Sums in double: the residual stream of a trained ViT has channels far
 * larger than its spread, where float sums lose the variance. */
ADATOSK_SIMD_CLONES void
adatosk_layer_norm (const float *x, float *y, int n, int d, const float *weight,
    const float *bias, float eps)
{
  for (int i = 0; i < n; i++) {
    const float *xi = x + (size_t) i * d;
    float *yi = y + (size_t) i * d;
    /* One pass, shifted by the row's first value: the variance is then a
     * difference of terms at most d + 1 times larger than itself
     * ((x_0 - mean)^2 <= d var), which costs double sums a few bits of
     * their 53, not the float result any. */
    double sum, squares;
    shifted_sums (xi, d, xi[0], &sum, &squares);
    double offset = sum / d, mean = xi[0] + offset;
    double var = squares / d - offset * offset;
    double inv = 1.0 / sqrt ((var > 0.0 ? var : 0.0) + eps);
    int j = 0;
    for (; j + DOUBLE_WIDTH <= d; j += DOUBLE_WIDTH) {
      AdatoskVecDouble centred = (load_double (xi + j) - mean) * inv;
      AdatoskVecHalf w, b;
      AdatoskVecHalf normed = __builtin_convertvector(centred, AdatoskVecHalf);
      memcpy (&w, weight + j, sizeof w);
      memcpy (&b, bias + j, sizeof b);
      normed = normed * w + b;
      memcpy (yi + j, &normed, sizeof normed);
    }
    for (; j < d; j++)
      yi[j] = (float) ((xi[j] - mean) * inv) * weight[j] + bias[j];
  }
}

/* A rational approximation in x^2 on [-4, 4] (the form used by Eigen and
 * XLA); beyond 4, erf(x) rounds to +-1 in float. Max error ~2 ulp. */
ADATOSK_INLINE float
erf_approx (float x)
{
  /* comparisons, not fminf/fmaxf: those are libm calls unless NaN rules are relaxed */
  x = x > 4.0f ? 4.0f : (x < -4.0f ? -4.0f : x);
  float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  return x * p / q;
}

float
adatosk_erf (float x)
{
  return erf_approx (x);
}
float
adatosk_exp (float x)
{
  return vec_exp (vec_splat (x))[0];
}

ADATOSK_SIMD_CLONES void
adatosk_gelu (float *x, size_t count)
{
  for (size_t i = 0; i < count; i++)
    x[i] = 0.5f * x[i] * (1.0f + erf_approx (x[i] * 0.70710678118654752f));
}

ADATOSK_SIMD_CLONES void
adatosk_bias_gelu (float *x, int n, int d, const float *bias)
{
  for (int i = 0; i < n; i++) {
    float *row = x + (size_t) i * d;
    for (int j = 0; j < d; j++) {
      float v = row[j] + bias[j];
      row[j] = 0.5f * v * (1.0f + erf_approx (v * 0.70710678118654752f));
    }
  }
}

int
adatosk_softmax_stride (int count)
{
  return (count + ADATOSK_VEC_LANES - 1) / ADATOSK_VEC_LANES
      * ADATOSK_VEC_LANES;
}

/* Two passes in whole vectors: the bias and the max, then exp and the sum
 * (16 partial sums, added in lane order). Written with vec.h: the compiler
 * left the max reduction scalar, a cycle per score. */
ADATOSK_SIMD_CLONES float
adatosk_softmax_row_unnormalised (float *restrict row, int count, int padded,
    const float *restrict bias)
{
  int whole = count / ADATOSK_VEC_LANES * ADATOSK_VEC_LANES;
  /* The bias has no padding to read past `count`: its last, partial vector
   * in scalars. The padding adds nothing (exp of the clamped -inf is
   * 2^-126). */
  if (bias)
    for (int j = whole; j < count; j++)
      row[j] += bias[j];
  for (int j = count; j < padded; j++)
    row[j] = -INFINITY;
  AdatoskVec max = vec_splat (-INFINITY);
  int j = 0;
  if (bias)
    for (; j < whole; j += ADATOSK_VEC_LANES) {
      AdatoskVec v = vec_load (row + j) + vec_load (bias + j);
      vec_store (row + j, v);
      max = vec_max (v, max);
    }
  for (; j < padded; j += ADATOSK_VEC_LANES)
    max = vec_max (vec_load (row + j), max);
  AdatoskVec shift = vec_splat (vec_max_lanes (max)), sum = {0};
  for (j = 0; j < padded; j += ADATOSK_VEC_LANES) {
    AdatoskVec e = vec_exp (vec_load (row + j) - shift);
    vec_store (row + j, e);
    sum += e;
  }
  return vec_sum_lanes (sum);
}

ADATOSK_SIMD_CLONES void
adatosk_scale_rows (float *x, int n, int d, int stride, const float *scales)
{
  for (int i = 0; i < n; i++) {
    float *row = x + (size_t) i * stride;
    for (int j = 0; j < d; j++)
      row[j] *= scales[i];
  }
}

void
adatosk_position_table (float *table, int first, int count, int dim)
{
  for (int n = 0; n < count; n++) {
    double pos = first + n;
    for (int j = 0; j < dim; j++) {
      int i2 = j & ~1; /* 2i for both members of the (sin, cos) pair */
      double angle = pos / pow (10000.0, (double) i2 / dim);
      table[(size_t) n * dim + j] =
          (float) ((j & 1) ? cos (angle) : sin (angle));
    }
  }
}
