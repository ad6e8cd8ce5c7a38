/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ops.h"
#include "simd.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
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

/* Partial sums of the double reductions below: without them the compiler
 * must add in order, one add latency per element (LayerNorm was 4% of a
 * forward that way). */
enum
{
  DOUBLE_LANES = 8
};

ADATOSK_INLINE double
sum_row (const float *x, int d, double shift)
{
  double lane[DOUBLE_LANES] = {0};
  int j = 0;
  for (; j + DOUBLE_LANES <= d; j += DOUBLE_LANES)
    for (int l = 0; l < DOUBLE_LANES; l++)
      lane[l] += x[j + l] - shift;
  for (; j < d; j++)
    lane[0] += x[j] - shift;
  double sum = 0.0;
  for (int l = 0; l < DOUBLE_LANES; l++)
    sum += lane[l];
  return sum;
}

ADATOSK_INLINE double
sum_squares_row (const float *x, int d, double mean)
{
  double lane[DOUBLE_LANES] = {0};
  int j = 0;
  for (; j + DOUBLE_LANES <= d; j += DOUBLE_LANES)
    for (int l = 0; l < DOUBLE_LANES; l++) {
      double c = x[j + l] - mean;
      lane[l] += c * c;
    }
  for (; j < d; j++) {
    double c = x[j] - mean;
    lane[0] += c * c;
  }
  double sum = 0.0;
  for (int l = 0; l < DOUBLE_LANES; l++)
    sum += lane[l];
  return sum;
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
    double mean = sum_row (xi, d, 0.0) / d;
    double inv = 1.0 / sqrt (sum_squares_row (xi, d, mean) / d + eps);
    for (int j = 0; j < d; j++)
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

/* exp(x) = 2^k * exp(r), r = x - k ln2 in [-ln2/2, ln2/2] (Cody-Waite split
 * of ln2), exp(r) by a degree-6 polynomial; 2^k built in the exponent bits. */
ADATOSK_INLINE float
exp_approx (float x)
{
  x = x > 88.3762626647949f ? 88.3762626647949f
                            : (x < -87.3365478515625f ? -87.3365478515625f : x);
  float k = floorf (x * 1.44269504088896341f + 0.5f);
  /* NaN passes the clamp (a forward that overflowed; the caller reports its
   * non-finite result): keep it NaN through p without converting NaN to an
   * integer below, which is undefined behaviour (found by libFuzzer). */
  k = k == k ? k : 0.0f;
  float r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t) k + 127) << 23;
  float two_k;
  memcpy (&two_k, &bits, sizeof two_k);
  return p * two_k;
}

float
adatosk_erf (float x)
{
  return erf_approx (x);
}
float
adatosk_exp (float x)
{
  return exp_approx (x);
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

/* The reductions keep LANES partial results so the compiler can vectorise
 * them without reassociating float sums on its own. */
enum
{
  LANES = 16
};

ADATOSK_INLINE float
row_max (const float *row, int count)
{
  float lane_max[LANES];
  for (int l = 0; l < LANES; l++)
    lane_max[l] = -INFINITY;
  int j = 0;
  for (; j + LANES <= count; j += LANES)
    for (int l = 0; l < LANES; l++)
      lane_max[l] = row[j + l] > lane_max[l] ? row[j + l] : lane_max[l];
  for (; j < count; j++)
    lane_max[0] = row[j] > lane_max[0] ? row[j] : lane_max[0];
  float max = lane_max[0];
  for (int l = 1; l < LANES; l++)
    max = lane_max[l] > max ? lane_max[l] : max;
  return max;
}

/* row[j] = exp(row[j] - max) and their sum, in one pass. */
ADATOSK_INLINE float
exp_row (float *row, int count, float max)
{
  float lane_sum[LANES] = {0};
  int j = 0;
  for (; j + LANES <= count; j += LANES)
    for (int l = 0; l < LANES; l++) {
      row[j + l] = exp_approx (row[j + l] - max);
      lane_sum[l] += row[j + l];
    }
  for (; j < count; j++) {
    row[j] = exp_approx (row[j] - max);
    lane_sum[0] += row[j];
  }
  float sum = 0.0f;
  for (int l = 0; l < LANES; l++)
    sum += lane_sum[l];
  return sum;
}

int
adatosk_softmax_stride (int count)
{
  return (count + LANES - 1) / LANES * LANES;
}

ADATOSK_SIMD_CLONES float
adatosk_softmax_row_unnormalised (float *restrict row, int count, int padded,
    const float *restrict bias)
{
  if (bias)
    for (int j = 0; j < count; j++)
      row[j] += bias[j];
  /* Padding that adds nothing (exp of the clamped -inf is 2^-126), so the
   * passes below run in whole vectors: the scalar tails of 392- and
   * 196-wide rows took a third of the softmax's time. */
  for (int j = count; j < padded; j++)
    row[j] = -INFINITY;
  return exp_row (row, padded, row_max (row, padded));
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
