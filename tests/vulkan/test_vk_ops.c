/* Every Vulkan op against its naive double-precision twin (reference.c), on
 * shapes that are not multiples of the tile sizes, with guard bytes around
 * every output. fp32: NMSE <= 1e-8 (spec section 9); fp16 weights: <= 5e-4.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reference.h"
#include "vk_test.h"

#include <math.h>
#include <string.h>

static uint64_t seed = 42;

static float *
random_floats (size_t count, float lo, float hi)
{
  float *v = malloc (count * sizeof *v);
  vk_test_random (&seed, v, count, lo, hi);
  return v;
}

static VkTestBuffer
input (VkTest *t, const float *data, size_t count)
{
  VkTestBuffer b = vk_test_buffer (t, count);
  vk_test_upload (t, &b, data, count);
  return b;
}

static double *
to_double (const float *v, size_t count)
{
  double *d = malloc (count * sizeof *d);
  for (size_t i = 0; i < count; i++)
    d[i] = v[i];
  return d;
}

/* Checks a GPU output against the reference and its guards. */
static void
expect (VkTest *t, const VkTestBuffer *b, const double *ref, size_t count,
    double tolerance, const char *what)
{
  float *got = malloc (count * sizeof *got);
  vk_test_download (t, b, got, count);
  double nmse = vk_test_nmse (got, ref, count);
  printf ("  %-44s NMSE %.3g\n", what, nmse);
  CHECK (nmse <= tolerance, "%s: NMSE %.3g > %.3g", what, nmse, tolerance);
  vk_test_check_guards (t, b, what);
  free (got);
}

static uint16_t
to_half (float f)
{
  /* Round to nearest even, normal range only (test weights are small). */
  uint32_t x;
  memcpy (&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = (int32_t) ((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (exp <= 0)
    return (uint16_t) sign;
  uint32_t h = sign | ((uint32_t) exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    h++;
  return (uint16_t) h;
}

static float
from_half (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu;
  uint32_t x = exp == 0 ? sign : sign | ((exp - 15 + 127) << 23) | (mant << 13);
  float f;
  memcpy (&f, &x, 4);
  return f;
}

static void
test_gemm (VkTest *t, int m, int n, int k, bool bias_on, bool gelu, bool accumulate,
    bool f16, int c_col, int ldc)
{
  float *a = random_floats ((size_t) m * k, -1, 1);
  float *w = random_floats ((size_t) n * k, -0.5f, 0.5f);
  float *bias = random_floats (n, -1, 1);
  float *c0 = random_floats ((size_t) m * ldc, -1, 1);
  VkTestBuffer ba = input (t, a, (size_t) m * k);
  VkTestBuffer bb = input (t, bias, n);
  VkTestBuffer bc = input (t, c0, (size_t) m * ldc);
  VkTestBuffer bw;
  if (f16) {
    /* The halves, padded to whole words. */
    size_t words = ((size_t) n * k + 1) / 2;
    uint16_t *h = calloc (words * 2, sizeof *h);
    for (size_t i = 0; i < (size_t) n * k; i++) {
      h[i] = to_half (w[i]);
      w[i] = from_half (h[i]);   /* the reference sees the rounded weights */
    }
    bw = vk_test_buffer (t, words);
    vk_test_upload (t, &bw, h, words);
    free (h);
  } else {
    bw = input (t, w, (size_t) n * k);
  }
  double *ref = to_double (c0, (size_t) m * ldc);
  ref_gemm (a, k, w, bias_on ? bias : NULL, ref, ldc, c_col, m, n, k, 0.75, gelu,
      accumulate);

  vk_test_begin (t);
  AdatoskVkGemm g = {
    .a = &ba.range, .lda = (uint32_t) k, .w = &bw.range, .w_f16 = f16,
    .bias = bias_on ? &bb.range : NULL, .c = &bc.range, .ldc = (uint32_t) ldc,
    .c_col = (uint32_t) c_col, .m = (uint32_t) m, .n = (uint32_t) n, .k = (uint32_t) k,
    .alpha = 0.75f, .gelu = gelu, .accumulate = accumulate,
  };
  adatosk_vk_gemm (t->rec, &t->tuning, &g);
  vk_test_run (t);
  char what[128];
  snprintf (what, sizeof what, "gemm %dx%dx%d%s%s%s%s", m, n, k, bias_on ? " bias" : "",
      gelu ? " gelu" : "", accumulate ? " acc" : "", f16 ? " f16" : "");
  expect (t, &bc, ref, (size_t) m * ldc, f16 ? 5e-4 : 1e-8, what);
  if (f16) {
    /* Also against the unrounded weights' product: the storage error. */
  }
  free (a); free (w); free (bias); free (c0); free (ref);
}

static void
test_layernorm (VkTest *t, int rows, int cols)
{
  float *x = random_floats ((size_t) rows * cols, -2, 3);
  /* A large common offset: a one-pass E[x^2] - E[x]^2 would fail here. */
  for (size_t i = 0; i < (size_t) rows * cols; i++)
    x[i] += 100.0f;
  float *gamma = random_floats (cols, 0.5f, 1.5f), *beta = random_floats (cols, -1, 1);
  VkTestBuffer bx = input (t, x, (size_t) rows * cols);
  VkTestBuffer bg = input (t, gamma, cols), bb = input (t, beta, cols);
  VkTestBuffer by = vk_test_buffer (t, (size_t) rows * cols);
  double *xd = to_double (x, (size_t) rows * cols);
  double *ref = malloc ((size_t) rows * cols * sizeof *ref);
  ref_layernorm (xd, gamma, beta, ref, rows, cols, 1e-6);
  vk_test_begin (t);
  adatosk_vk_layernorm (t->rec, &t->tuning, &bx.range, &bg.range, &bb.range, &by.range,
      (uint32_t) rows, (uint32_t) cols, 1e-6f);
  vk_test_run (t);
  char what[64];
  snprintf (what, sizeof what, "layernorm %dx%d", rows, cols);
  expect (t, &by, ref, (size_t) rows * cols, 1e-8, what);
  free (x); free (gamma); free (beta); free (xd); free (ref);
}

static void
test_attention (VkTest *t, int n, int dim, int heads, bool with_bias)
{
  float *qkv = random_floats ((size_t) n * 3 * dim, -1.5f, 1.5f);
  float *bias = random_floats (n, -6, 0);
  VkTestBuffer bq = input (t, qkv, (size_t) n * 3 * dim);
  VkTestBuffer bb = input (t, bias, n);
  VkTestBuffer bo = vk_test_buffer (t, (size_t) n * dim);
  double *qd = to_double (qkv, (size_t) n * 3 * dim), *bd = to_double (bias, n);
  double *ref = malloc ((size_t) n * dim * sizeof *ref);
  ref_attention (qd, with_bias ? bd : NULL, ref, n, dim, heads);
  vk_test_begin (t);
  adatosk_vk_attention (t->rec, &t->tuning, &bq.range, with_bias ? &bb.range : NULL,
      &bo.range, (uint32_t) n, (uint32_t) dim, (uint32_t) heads);
  vk_test_run (t);
  char what[64];
  snprintf (what, sizeof what, "attention n=%d D=%d h=%d%s", n, dim, heads,
      with_bias ? " bias" : "");
  expect (t, &bo, ref, (size_t) n * dim, 1e-8, what);
  free (qkv); free (bias); free (qd); free (bd); free (ref);
}

static void
test_im2col (VkTest *t)
{
  AdatoskConfig c = { 0 };
  c.num_frames = 6; c.img_height = 12; c.img_width = 20; c.tubelet_size = 2;
  c.patch_size = 4;
  c.num_slots = 3; c.grid_height = 3; c.grid_width = 5; c.num_spatial = 15;
  c.num_tokens = 45; c.patch_dim = 3 * 2 * 4 * 4;
  size_t clip_size = (size_t) 3 * 6 * 12 * 20, count = (size_t) 45 * c.patch_dim;
  float *clip = random_floats (clip_size, -2, 2);
  VkTestBuffer bc = input (t, clip, clip_size);
  VkTestBuffer bp = vk_test_buffer (t, count);
  double *ref = malloc (count * sizeof *ref);
  ref_im2col (&c, clip, ref);
  vk_test_begin (t);
  adatosk_vk_im2col (t->rec, &t->tuning, &bc.range, &bp.range, &c);
  vk_test_run (t);
  float *got = malloc (count * sizeof *got);
  vk_test_download (t, &bp, got, count);
  size_t wrong = 0;
  for (size_t i = 0; i < count; i++)
    wrong += got[i] != (float) ref[i];
  printf ("  %-44s %zu wrong\n", "im2col 6x12x20 tau 2 p 4", wrong);
  CHECK (wrong == 0, "im2col: %zu of %zu values wrong", wrong, count);
  vk_test_check_guards (t, &bp, "im2col");
  free (clip); free (ref); free (got);
}

static void
test_add (VkTest *t, int count)
{
  float *a = random_floats (count, -1, 1), *b = random_floats (count, -1, 1);
  VkTestBuffer ba = input (t, a, count), bb = input (t, b, count);
  VkTestBuffer bo = vk_test_buffer (t, count);
  double *ref = malloc (count * sizeof *ref);
  for (int i = 0; i < count; i++)
    ref[i] = (double) a[i] + b[i];
  vk_test_begin (t);
  adatosk_vk_add (t->rec, &t->tuning, &ba.range, &bb.range, &bo.range, (uint32_t) count);
  vk_test_run (t);
  expect (t, &bo, ref, count, 1e-14, "add");
  free (a); free (b); free (ref);
}

/* ATSM (token quantities + mask), top-K and gather, on one random grid. */
static void
test_atsm (VkTest *t, int slots, int spatial, int dim, int classes, int k)
{
  int n = slots * spatial;
  float *emb = random_floats ((size_t) n * dim, -1, 1);
  float *logits = random_floats ((size_t) n * classes, -3, 3);
  float *x = random_floats ((size_t) n * dim, -1, 1);
  double alpha_dyn = 2.0, alpha_sem = 1.5, beta = 0.5;
  VkTestBuffer be = input (t, emb, (size_t) n * dim);
  VkTestBuffer bl = input (t, logits, (size_t) n * classes);
  VkTestBuffer bx = input (t, x, (size_t) n * dim);
  VkTestBuffer bd = vk_test_buffer (t, n), bq = vk_test_buffer (t, (size_t) n * classes);
  VkTestBuffer bconf = vk_test_buffer (t, n), br = vk_test_buffer (t, n);
  VkTestBuffer bg = vk_test_buffer (t, slots), bm = vk_test_buffer (t, n);
  VkTestBuffer bkeep = vk_test_buffer (t, n), bkept = vk_test_buffer (t, k);
  VkTestBuffer bfrac = vk_test_buffer (t, slots);
  VkTestBuffer bxk = vk_test_buffer (t, (size_t) k * dim);
  VkTestBuffer bbias = vk_test_buffer (t, k), bw = vk_test_buffer (t, k);

  double *ed = to_double (emb, (size_t) n * dim), *ld = to_double (logits, (size_t) n * classes);
  double *dist = malloc (n * sizeof *dist), *q = malloc ((size_t) n * classes * sizeof *q);
  double *conf = malloc (n * sizeof *conf), *r = malloc (n * sizeof *r);
  double *g = malloc (slots * sizeof *g), *m = malloc (n * sizeof *m);
  ref_atsm (ed, ld, slots, spatial, dim, classes, alpha_dyn, alpha_sem, beta, dist, q,
      conf, r, g, m);

  vk_test_begin (t);
  adatosk_vk_atsm_token (t->rec, &t->tuning, &be.range, &bl.range, &bd.range, &bq.range,
      &bconf.range, (uint32_t) slots, (uint32_t) spatial, (uint32_t) dim, (uint32_t) classes);
  adatosk_vk_atsm_mask (t->rec, &t->tuning, &bd.range, &bq.range, &bconf.range, &br.range,
      &bg.range, &bm.range, (uint32_t) slots, (uint32_t) spatial, (uint32_t) classes,
      (float) alpha_dyn, (float) alpha_sem, (float) beta);
  adatosk_vk_topk (t->rec, &t->tuning, &bm.range, &bkeep.range, &bkept.range, &bfrac.range,
      (uint32_t) slots, (uint32_t) spatial, (uint32_t) k);
  adatosk_vk_gather (t->rec, &t->tuning, &bx.range, &bkept.range, &bm.range, &bxk.range,
      &bbias.range, &bw.range, (uint32_t) k, (uint32_t) dim);
  vk_test_run (t);

  char what[96];
  snprintf (what, sizeof what, "atsm d (T'=%d S=%d D=%d C=%d)", slots, spatial, dim, classes);
  expect (t, &bd, dist, n, 1e-8, what);
  expect (t, &bq, q, (size_t) n * classes, 1e-8, "atsm q");
  expect (t, &bconf, conf, n, 1e-8, "atsm c");
  expect (t, &br, r, n, 1e-8, "atsm r");
  expect (t, &bg, g, slots, 1e-8, "atsm g");
  expect (t, &bm, m, n, 1e-8, "atsm m");

  /* Top-K on the GPU's own m (the reference m differs in the last bits). */
  float *mg = malloc (n * sizeof *mg);
  vk_test_download (t, &bm, mg, n);
  double *mgd = to_double (mg, n);
  int *kept_ref = malloc (k * sizeof *kept_ref);
  ref_topk (mgd, n, k, kept_ref);
  int32_t *kept = malloc (k * sizeof *kept);
  vk_test_download (t, &bkept, kept, k);
  int wrong = 0;
  for (int j = 0; j < k; j++)
    wrong += kept[j] != kept_ref[j];
  printf ("  %-44s %d wrong of %d\n", "topk", wrong, k);
  CHECK (wrong == 0, "topk: %d of %d kept indices differ", wrong, k);
  vk_test_check_guards (t, &bkept, "topk kept");
  double *frac = calloc (slots, sizeof *frac);
  for (int j = 0; j < k; j++)
    frac[kept_ref[j] / spatial] += 1.0 / spatial;
  expect (t, &bfrac, frac, slots, 1e-12, "topk kept_fraction");

  double *xk = malloc ((size_t) k * dim * sizeof *xk);
  double *bias = malloc (k * sizeof *bias), *w = malloc (k * sizeof *w);
  for (int j = 0; j < k; j++) {
    for (int i = 0; i < dim; i++)
      xk[(size_t) j * dim + i] = x[(size_t) kept_ref[j] * dim + i];
    bias[j] = log (mgd[kept_ref[j]] + 1e-6);
    w[j] = mgd[kept_ref[j]];
  }
  expect (t, &bxk, xk, (size_t) k * dim, 0, "gather rows");
  expect (t, &bbias, bias, k, 1e-12, "gather key bias");
  expect (t, &bw, w, k, 0, "gather weights");

  free (emb); free (logits); free (x); free (ed); free (ld); free (dist); free (q);
  free (conf); free (r); free (g); free (m); free (mg); free (mgd); free (kept_ref);
  free (kept); free (frac); free (xk); free (bias); free (w);
}

/* Ties: equal m values keep the lower indices. */
static void
test_topk_ties (VkTest *t)
{
  const int slots = 3, spatial = 7, n = 21, k = 9;
  float m[21];
  for (int i = 0; i < n; i++)
    m[i] = (i % 4 == 1) ? 0.75f : (i % 3 == 0 ? 0.5f : 0.25f);
  VkTestBuffer bm = input (t, m, n), bkeep = vk_test_buffer (t, n);
  VkTestBuffer bkept = vk_test_buffer (t, k), bfrac = vk_test_buffer (t, slots);
  vk_test_begin (t);
  adatosk_vk_topk (t->rec, &t->tuning, &bm.range, &bkeep.range, &bkept.range, &bfrac.range,
      slots, spatial, k);
  vk_test_run (t);
  double md[21];
  for (int i = 0; i < n; i++)
    md[i] = m[i];
  int ref[9];
  int32_t got[9];
  ref_topk (md, n, k, ref);
  vk_test_download (t, &bkept, got, k);
  int wrong = 0;
  for (int j = 0; j < k; j++)
    wrong += got[j] != ref[j];
  printf ("  %-44s %d wrong\n", "topk ties", wrong);
  CHECK (wrong == 0, "topk with ties: %d indices differ", wrong);
}

static void
test_head (VkTest *t, int k, int dim, int classes)
{
  float *x = random_floats ((size_t) k * dim, -2, 2), *w = random_floats (k, 0.05f, 1);
  float *gamma = random_floats (dim, 0.5f, 1.5f), *beta = random_floats (dim, -0.5f, 0.5f);
  float *hw = random_floats ((size_t) classes * dim, -0.3f, 0.3f);
  float *hb = random_floats (classes, -0.5f, 0.5f);
  VkTestBuffer bx = input (t, x, (size_t) k * dim), bw = input (t, w, k);
  VkTestBuffer bg = input (t, gamma, dim), bb = input (t, beta, dim);
  VkTestBuffer bhw = input (t, hw, (size_t) classes * dim), bhb = input (t, hb, classes);
  VkTestBuffer bh = vk_test_buffer (t, dim), bres = vk_test_buffer (t, 2 * (size_t) classes);
  double *h = calloc (dim, sizeof *h), *hn = malloc (dim * sizeof *hn);
  double *ref = malloc (2 * (size_t) classes * sizeof *ref), total = 0, top = -INFINITY, sum = 0;
  for (int j = 0; j < k; j++) {
    total += w[j];
    for (int i = 0; i < dim; i++)
      h[i] += (double) w[j] * x[(size_t) j * dim + i];
  }
  for (int i = 0; i < dim; i++)
    h[i] /= total;
  ref_layernorm (h, gamma, beta, hn, 1, dim, 1e-6);
  for (int c = 0; c < classes; c++) {
    ref[c] = hb[c];
    for (int i = 0; i < dim; i++)
      ref[c] += hn[i] * hw[(size_t) c * dim + i];
    top = fmax (top, ref[c]);
  }
  for (int c = 0; c < classes; c++)
    sum += exp (ref[c] - top);
  for (int c = 0; c < classes; c++)
    ref[classes + c] = exp (ref[c] - top) / sum;
  vk_test_begin (t);
  adatosk_vk_head (t->rec, &t->tuning, &bx.range, &bw.range, &bg.range, &bb.range,
      &bhw.range, &bhb.range, &bh.range, &bres.range, (uint32_t) k, (uint32_t) dim,
      (uint32_t) classes, 1e-6f);
  vk_test_run (t);
  char what[64];
  snprintf (what, sizeof what, "head K=%d D=%d C=%d (logits, probs)", k, dim, classes);
  expect (t, &bres, ref, 2 * (size_t) classes, 1e-8, what);
  free (x); free (w); free (gamma); free (beta); free (hw); free (hb); free (h); free (hn);
  free (ref);
}

static void
test_gelu_epilogue_range (VkTest *t)
{
  /* GELU over a wide range of inputs through a 1 x n x 1 GEMM with weight 1:
   * catches a tanh-form GELU or a poor erf. */
  const int n = 2001;
  float a = 1.0f, *w = malloc (n * sizeof *w);
  double *ref = malloc (n * sizeof *ref);
  for (int i = 0; i < n; i++) {
    w[i] = -10.0f + 20.0f * (float) i / (n - 1);
    ref[i] = ref_gelu (w[i]);
  }
  VkTestBuffer ba = input (t, &a, 1), bw = input (t, w, n), bc = vk_test_buffer (t, n);
  vk_test_begin (t);
  AdatoskVkGemm g = { .a = &ba.range, .lda = 1, .w = &bw.range, .c = &bc.range,
    .ldc = (uint32_t) n, .m = 1, .n = (uint32_t) n, .k = 1, .alpha = 1.0f, .gelu = true };
  adatosk_vk_gemm (t->rec, &t->tuning, &g);
  vk_test_run (t);
  float *got = malloc (n * sizeof *got);
  vk_test_download (t, &bc, got, n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    worst = fmax (worst, fabs (got[i] - ref[i]));
  double nmse = vk_test_nmse (got, ref, n);
  printf ("  %-44s NMSE %.3g, max abs error %.3g\n", "gelu on [-10, 10]", nmse, worst);
  CHECK (nmse <= 1e-12 && worst <= 1e-6, "GELU: NMSE %.3g, max error %.3g", nmse, worst);
  free (w); free (ref); free (got);
}

int
main (void)
{
  VkTest t;
  vk_test_open (&t);
  /* This device's tiles, then the ones a GPU gets (large and small), so
   * that every configuration the code can pick runs here too. */
  const AdatoskVkTuning device_tuning = t.tuning;
  static const uint32_t variants[3][6] = {
    { 0 }, { 256, 128, 128, 8, 8, 8 }, { 256, 64, 64, 16, 4, 4 } };
  for (int v = 0; v < 3; v++) {
    if (v > 0) {
      memcpy (t.tuning.gemm, variants[v], sizeof variants[v]);
      t.tuning.gemm_min_tiles = 0;
    }
    const uint32_t *gt = t.tuning.gemm;
    printf ("gemm tiles %ux%ux%u, micro %ux%u, %u invocations%s\n", gt[1], gt[2], gt[3],
        gt[4], gt[5], gt[0], v == 0 ? " (this device's)" : "");
    test_gemm (&t, 37, 53, 45, true, false, false, false, 0, 53);
    test_gemm (&t, 70, 131, 67, true, true, false, false, 0, 131);
    test_gemm (&t, 133, 29, 100, true, false, true, false, 5, 40);
    test_gemm (&t, 1, 7, 19, false, false, false, false, 0, 7);
    test_gemm (&t, 37, 53, 45, true, false, false, true, 0, 53);
    test_gemm (&t, 21, 139, 17, true, true, true, true, 3, 150);
  }
  t.tuning = device_tuning;
  test_gelu_epilogue_range (&t);
  test_layernorm (&t, 13, 75);
  test_layernorm (&t, 3, 200);
  static const uint32_t attention_variants[3][3] = {
    { 0 }, { 128, 32, 32 }, { 128, 16, 64 } };
  for (int v = 0; v < 3; v++) {
    if (v > 0)
      memcpy (t.tuning.attention, attention_variants[v], sizeof attention_variants[v]);
    printf ("attention: %u invocations, %u query rows, %u keys per step\n",
        t.tuning.attention[0], t.tuning.attention[1], t.tuning.attention[2]);
    test_attention (&t, 45, 48, 3, false);
    test_attention (&t, 70, 64, 2, true);
    test_attention (&t, 5, 24, 2, true);
  }
  t.tuning = device_tuning;
  /* Head dimension 128: the tiles shrink to fit 32 KiB of shared memory. */
  test_attention (&t, 100, 128, 1, true);
  test_im2col (&t);
  test_add (&t, 1000);
  test_atsm (&t, 3, 7, 40, 5, 11);
  test_atsm (&t, 1, 9, 16, 2, 4);
  test_atsm (&t, 5, 13, 33, 7, 65);
  test_topk_ties (&t);
  test_head (&t, 17, 75, 7);
  test_head (&t, 1, 300, 2);
  return vk_test_close (&t);
}
