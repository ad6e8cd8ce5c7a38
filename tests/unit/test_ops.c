/* Every CPU kernel against a naive double-precision twin written straight
 * from the spec, on sizes that are not multiples of any vector width.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpu/attention.h"
#include "cpu/atsm.h"
#include "cpu/ops.h"

#include <glib.h>
#include <math.h>
#include <stdlib.h>

static float *
random_floats (GRand *rand, size_t n, double scale)
{
  float *x = g_new (float, n);
  for (size_t i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (rand, -scale, scale);
  return x;
}

/* sum (a - b)^2 / sum b^2, the spec's NMSE; NaN never passes. */
static double
nmse (const float *a, const double *b, size_t n)
{
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0.0 ? num / den : num;
}

static void
test_erf_and_exp (void)
{
  double worst_erf = 0.0, worst_exp = 0.0;
  for (double x = -6.0; x <= 6.0; x += 1.0 / 4096) {
    worst_erf =
        fmax (worst_erf, fabs (adatosk_erf ((float) x) - erf ((float) x)));
  }
  for (double x = -80.0; x <= 80.0; x += 1.0 / 1024) {
    double want = exp ((float) x);
    worst_exp = fmax (worst_exp, fabs (adatosk_exp ((float) x) - want) / want);
  }
  g_test_message ("erf max abs error %.3g, exp max rel error %.3g", worst_erf,
      worst_exp);
  g_assert_cmpfloat (worst_erf, <, 4e-7);
  g_assert_cmpfloat (worst_exp, <, 4e-7);
  g_assert_true (
      adatosk_exp (-1000.0f) >= 0.0f && adatosk_exp (-1000.0f) < 1e-37f);
  /* A NaN from an overflowing forward stays NaN, so the forward reports it
   * (libFuzzer found it converted to an integer on the way). */
  g_assert_true (isnan (adatosk_exp (NAN)));
}

static void
test_layer_norm (void)
{
  GRand *rand = g_rand_new_with_seed (3);
  int n = 7, d = 37;
  float *x = random_floats (rand, (size_t) n * d, 3.0);
  for (int i = 0; i < d; i++) {
    x[i] += 1000.0f; /* a large mean: E[x^2]-E[x]^2 would fail */
    /* larger still: even in double, E[x^2]-E[x]^2 would cancel 1e11-fold;
     * the one-pass sums are shifted by the row's first value */
    x[d + i] += 1.0e6f;
  }
  float *w = random_floats (rand, d, 1.0), *b = random_floats (rand, d, 1.0);
  float *y = g_new (float, (size_t) n *d);
  double *want = g_new (double, (size_t) n *d);
  adatosk_layer_norm (x, y, n, d, w, b, 1e-6f);
  for (int i = 0; i < n; i++) {
    double mean = 0.0, var = 0.0;
    for (int j = 0; j < d; j++)
      mean += x[i * d + j];
    mean /= d;
    for (int j = 0; j < d; j++)
      var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
    var /= d;
    for (int j = 0; j < d; j++)
      want[i * d + j] = (x[i * d + j] - mean) / sqrt (var + 1e-6) * w[j] + b[j];
  }
  g_assert_cmpfloat (nmse (y, want, (size_t) n * d), <, 1e-12);
  g_free (x);
  g_free (w);
  g_free (b);
  g_free (y);
  g_free (want);
  g_rand_free (rand);
}

static void
test_gelu (void)
{
  GRand *rand = g_rand_new_with_seed (4);
  size_t n = 1003;
  float *x = random_floats (rand, n, 8.0);
  double *want = g_new (double, n);
  for (size_t i = 0; i < n; i++)
    want[i] = 0.5 * x[i] * (1.0 + erf (x[i] / sqrt (2.0)));
  adatosk_gelu (x, n);
  double err = nmse (x, want, n);
  g_test_message ("gelu NMSE %.3g", err);
  /* tanh-GELU would land near 1e-8 here */
  g_assert_cmpfloat (err, <, 1e-12);
  g_free (x);
  g_free (want);
  g_rand_free (rand);
}

static void
test_bias_gelu (void)
{
  GRand *rand = g_rand_new_with_seed (8);
  int n = 7, d = 37; /* d not a multiple of any vector width */
  float *x = random_floats (rand, (size_t) n * d, 6.0);
  float *bias = random_floats (rand, d, 3.0);
  double *want = g_new (double, (size_t) n *d);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) {
      double v = (double) x[i * d + j] + bias[j];
      want[i * d + j] = 0.5 * v * (1.0 + erf (v / sqrt (2.0)));
    }
  adatosk_bias_gelu (x, n, d, bias);
  g_assert_cmpfloat (nmse (x, want, (size_t) n * d), <, 1e-12);
  g_free (x);
  g_free (bias);
  g_free (want);
  g_rand_free (rand);
}

static void
test_linear_accumulates (void)
{
  GRand *rand = g_rand_new_with_seed (5);
  int n = 5, in = 19, out = 11;
  float *x = random_floats (rand, (size_t) n * in, 1.0);
  float *w = random_floats (rand, (size_t) out * in, 1.0),
        *b = random_floats (rand, out, 1.0);
  float *y = random_floats (rand, (size_t) n * out, 1.0);
  double *want = g_new (double, (size_t) n *out);
  for (int i = 0; i < n; i++)
    for (int o = 0; o < out; o++) {
      double acc = y[i * out + o] + b[o];
      for (int k = 0; k < in; k++)
        acc += (double) x[i * in + k] * w[o * in + k];
      want[i * out + o] = acc;
    }
  adatosk_linear (x, n, in, w, b, out, y, 1);
  g_assert_cmpfloat (nmse (y, want, (size_t) n * out), <, 1e-12);
  g_free (x);
  g_free (w);
  g_free (b);
  g_free (y);
  g_free (want);
  g_rand_free (rand);
}

static void
test_attention_with_key_bias (void)
{
  GRand *rand = g_rand_new_with_seed (6);
  int n = 13, dim = 12, heads = 3, hd = dim / heads;
  float *qkv = random_floats (rand, (size_t) n * 3 * dim, 2.0);
  float *bias = random_floats (rand, n, 3.0);
  int ld = adatosk_softmax_stride (n);
  float *scores = g_new (float, (size_t) n *(ld + 1)),
        *out = g_new (float, (size_t) n *dim);
  double *want = g_new (double, (size_t) n *dim);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < n; i++) {
      double logits[13], max = -INFINITY, sum = 0.0;
      for (int j = 0; j < n; j++) {
        double dot = 0.0;
        for (int k = 0; k < hd; k++)
          dot += (double) qkv[i * 3 * dim + h * hd + k]
              * qkv[j * 3 * dim + dim + h * hd + k];
        logits[j] = dot / sqrt (hd) + bias[j];
        max = fmax (max, logits[j]);
      }
      for (int j = 0; j < n; j++)
        sum += exp (logits[j] - max);
      for (int k = 0; k < hd; k++) {
        double acc = 0.0;
        for (int j = 0; j < n; j++)
          acc += exp (logits[j] - max) / sum
              * qkv[j * 3 * dim + 2 * dim + h * hd + k];
        want[i * dim + h * hd + k] = acc;
      }
    }
  adatosk_attention (qkv, n, dim, heads, bias, scores, out);
  g_assert_cmpfloat (nmse (out, want, (size_t) n * dim), <, 1e-12);
  /* The threaded forward's tasks: one head and a block of query rows each,
   * blocks of uneven size; together they must give the same output. */
  float *split = g_new0 (float, (size_t) n *dim);
  for (int h = 0; h < heads; h++)
    for (int first = 0; first < n; first += 5)
      adatosk_attention_rows (qkv, n, dim, heads, h, first,
          first + 5 > n ? n - first : 5, bias, scores, scores + n * ld, split,
          NULL, 0);
  g_assert_cmpfloat (nmse (split, want, (size_t) n * dim), <, 1e-12);
  g_free (split);
  g_free (qkv);
  g_free (bias);
  g_free (scores);
  g_free (out);
  g_free (want);
  g_rand_free (rand);
}

static void
test_position_table (void)
{
  int count = 9, dim = 10, first = 391;
  float *table = g_new (float, (size_t) count *dim);
  adatosk_position_table (table, first, count, dim);
  for (int n = 0; n < count; n++)
    for (int i = 0; i < dim / 2; i++) {
      double angle = (first + n) / pow (10000.0, 2.0 * i / dim);
      g_assert_cmpfloat (fabs (table[n * dim + 2 * i] - sin (angle)), <, 1e-7);
      g_assert_cmpfloat (fabs (table[n * dim + 2 * i + 1] - cos (angle)), <,
          1e-7);
    }
  g_free (table);
}

static void
test_select_tokens_ties (void)
{
  /* Equal masks at 1, 3 and 4: with K = 3 the lower indices win the tie. */
  float mask[6] = {0.1f, 0.7f, 0.9f, 0.7f, 0.7f, 0.2f};
  AdatoskRankedToken order[6];
  int32_t kept[6];
  adatosk_select_tokens (mask, 6, 3, order, kept);
  g_assert_cmpint (kept[0], ==, 1);
  g_assert_cmpint (kept[1], ==, 2);
  g_assert_cmpint (kept[2], ==, 3);
  adatosk_select_tokens (mask, 6, 6, order, kept);
  for (int i = 0; i < 6; i++)
    g_assert_cmpint (kept[i], ==, i);
}

static void
test_kept_tokens (void)
{
  g_assert_cmpint (adatosk_kept_tokens (800, 0.5), ==, 400);
  g_assert_cmpint (adatosk_kept_tokens (392, 0.5), ==, 196);
  g_assert_cmpint (adatosk_kept_tokens (5, 0.5), ==, 3);    /* 2.5 rounds up */
  g_assert_cmpint (adatosk_kept_tokens (96, 0.37), ==, 36); /* 35.52 */
  g_assert_cmpint (adatosk_kept_tokens (10, 0.01), ==, 1);  /* never zero */
  g_assert_cmpint (adatosk_kept_tokens (10, 1.0), ==, 10);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ops/erf-exp", test_erf_and_exp);
  g_test_add_func ("/ops/layer-norm", test_layer_norm);
  g_test_add_func ("/ops/gelu", test_gelu);
  g_test_add_func ("/ops/bias-gelu", test_bias_gelu);
  g_test_add_func ("/ops/linear-accumulate", test_linear_accumulates);
  g_test_add_func ("/ops/attention-key-bias", test_attention_with_key_bias);
  g_test_add_func ("/ops/position-table", test_position_table);
  g_test_add_func ("/ops/select-ties", test_select_tokens_ties);
  g_test_add_func ("/ops/kept-tokens", test_kept_tokens);
  return g_test_run ();
}
