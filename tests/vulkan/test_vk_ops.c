/* Every Vulkan op against its naive double-precision twin (reference.c), on
 * shapes that are not multiples of the tile sizes, with guard bytes around
 * every output. fp32: NMSE <= 1e-8 (spec section 9); fp16 weights: <= 5e-4.
 *
 * The cases are a table of named entries, built in make_cases(), like
 * llama.cpp's test-backend-ops:
 *   test_vk_ops --list              the names
 *   test_vk_ops PATTERN...          only the cases whose name contains a
 *                                   PATTERN (or matches it as a glob: *, ?)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reference.h"
#include "vk_test.h"

#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

typedef struct
{
  int m, n, k;
  int c_col, ldc; /* C's first column and row stride */
  bool bias, gelu, accumulate, f16;
} GemmCase;
typedef struct
{
  int rows, cols;
} LayerNormCase;
typedef struct
{
  int n, dim, heads;
  bool bias;
} AttentionCase;
typedef struct
{
  int count;
} AddCase;
typedef struct
{
  int slots, spatial, dim, classes, k;
} AtsmCase;
typedef struct
{
  int k, dim, classes;
} HeadCase;

typedef struct Case Case;
struct Case
{
  char name[128];
  void (*run) (VkTest *t, const Case *c);
  /* Tiles forced on this case (all zero: the device's own choice):
   * gemm.comp's, gemm_vec4.comp's (the GPU variant), and attention's, of
   * attention_gpu.comp when attention_gpu. */
  uint32_t gemm_tiles[6];
  uint32_t gemm_vec4_tiles[6];
  uint32_t attention_tiles[3];
  bool attention_gpu;
  union
  {
    GemmCase gemm;
    LayerNormCase layernorm;
    AttentionCase attention;
    AddCase add;
    AtsmCase atsm;
    HeadCase head;
  };
};

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
test_gemm (VkTest *t, const Case *cs)
{
  const GemmCase *gc = &cs->gemm;
  const int m = gc->m, n = gc->n, k = gc->k, c_col = gc->c_col, ldc = gc->ldc;
  const bool bias_on = gc->bias, gelu = gc->gelu, accumulate = gc->accumulate;
  const bool f16 = gc->f16;
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
      w[i] = from_half (h[i]); /* the reference sees the rounded weights */
    }
    bw = vk_test_buffer (t, words);
    vk_test_upload (t, &bw, h, words);
    free (h);
  } else {
    bw = input (t, w, (size_t) n * k);
  }
  double *ref = to_double (c0, (size_t) m * ldc);
  ref_gemm (a, k, w, bias_on ? bias : NULL, ref, ldc, c_col, m, n, k, 0.75,
      gelu, accumulate);

  vk_test_begin (t);
  AdatoskVkGemm g = {
      .a = &ba.range,
      .lda = (uint32_t) k,
      .w = &bw.range,
      .w_f16 = f16,
      .bias = bias_on ? &bb.range : NULL,
      .c = &bc.range,
      .ldc = (uint32_t) ldc,
      .c_col = (uint32_t) c_col,
      .m = (uint32_t) m,
      .n = (uint32_t) n,
      .k = (uint32_t) k,
      .alpha = 0.75f,
      .gelu = gelu,
      .accumulate = accumulate,
  };
  adatosk_vk_gemm (t->rec, &t->tuning, &g);
  vk_test_run (t);
  expect (t, &bc, ref, (size_t) m * ldc, f16 ? 5e-4 : 1e-8, "C");
  free (a);
  free (w);
  free (bias);
  free (c0);
  free (ref);
}

/* Which kernel a product gets: gemm_vec4.comp when K, lda and the offsets
 * are multiples of 4 floats, gemm.comp otherwise (the profile's rows are
 * named by shader). */
static void
test_gemm_vec4_choice (VkTest *t, const Case *cs)
{
  (void) cs;
  static const struct
  {
    int k, lda, a_row; /* A bound from row a_row: an offset of a_row lda */
    bool vec4;
  } shapes[] = {{44, 44, 0, true}, {45, 45, 0, false}, {44, 46, 0, false},
      {44, 44, 1, true}};
  const int m = 9, n = 11;
  /* The GPU variant on, whatever the device. */
  AdatoskVkTuning tuning = t->tuning;
  static const uint32_t tiles[6] = {64, 32, 32, 16, 4, 4};
  memcpy (tuning.gemm_vec4[0], tiles, sizeof tiles);
  tuning.num_gemm_vec4 = 1;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int k = shapes[i].k, lda = shapes[i].lda;
    const size_t a_count = (size_t) (m + shapes[i].a_row) * lda;
    float *a = random_floats (a_count, -1, 1);
    float *w = random_floats ((size_t) n * k, -1, 1);
    VkTestBuffer ba = input (t, a, a_count), bw = input (t, w, (size_t) n * k);
    VkTestBuffer bc = vk_test_buffer (t, (size_t) m * n);
    AdatoskVkRange a_rows = ba.range;
    a_rows.offset += (VkDeviceSize) shapes[i].a_row * lda * 4;
    a_rows.size -= (VkDeviceSize) shapes[i].a_row * lda * 4;
    double *ref = calloc ((size_t) m * n, sizeof *ref);
    ref_gemm (a + (size_t) shapes[i].a_row * lda, lda, w, NULL, ref, n, 0, m, n,
        k, 1.0, false, false);
    adatosk_vk_recorder_set_profile (t->rec, true);
    vk_test_begin (t);
    AdatoskVkGemm g = {.a = &a_rows,
        .lda = (uint32_t) lda,
        .w = &bw.range,
        .c = &bc.range,
        .ldc = (uint32_t) n,
        .m = (uint32_t) m,
        .n = (uint32_t) n,
        .k = (uint32_t) k,
        .alpha = 1.0f};
    adatosk_vk_gemm (t->rec, &tuning, &g);
    vk_test_run (t);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    adatosk_vk_recorder_print_profile (t->rec, out, "choice", true);
    fclose (out);
    adatosk_vk_recorder_set_profile (t->rec, false);
    bool got_vec4 = text && strstr (text, "| gemm_vec4");
    bool got_scalar = text && strstr (text, "| gemm |");
    char what[96];
    snprintf (what, sizeof what, "K %d, lda %d, A from row %d: %s", k, lda,
        shapes[i].a_row, got_vec4 ? "gemm_vec4" : "gemm");
    expect (t, &bc, ref, (size_t) m * n, 1e-8, what);
    CHECK (got_vec4 == shapes[i].vec4 && got_scalar == !shapes[i].vec4,
        "%s: expected %s; profile:\n%s", what,
        shapes[i].vec4 ? "gemm_vec4" : "gemm", text ? text : "");
    free (text);
    free (a);
    free (w);
    free (ref);
  }
}

/* The tile a product gets on a GPU with 132 compute units (an H100/H200):
 * the model's products at 800 and 400 rows, and the environment's
 * overrides, bad values refused with their name. */
static void
test_tuning_selection (VkTest *t, const Case *cs)
{
  (void) cs;
  AdatoskError error = {0};
  AdatoskVkTuning tuning;
  setenv ("ADATOSK_VULKAN_GEMM", "gpu", 1);
  setenv ("ADATOSK_VULKAN_ATTENTION", "gpu", 1);
  setenv ("ADATOSK_VULKAN_COMPUTE_UNITS", "132", 1);
  unsetenv ("ADATOSK_VULKAN_GEMM_TILE");
  CHECK_OK (adatosk_vk_tuning_default (t->ctx, &tuning, &error), error);
  char text[256];
  adatosk_vk_tuning_describe (&tuning, text, sizeof text);
  printf ("  %s\n", text);
  CHECK (tuning.num_gemm_vec4 == 4 && tuning.attention_gpu
          && tuning.compute_units == 132,
      "forced gpu: %s", text);
  static const struct
  {
    uint32_t m, n, bm, bn;
  } picks[] = {/* The tiles that ran fastest on an H200 (132 SMs; within 6%):
                 benchmarks/results/vulkan-nvidia-h200-20261129-2354.md */
      {800, 2304, 128, 64}, {800, 768, 128, 64}, {800, 3072, 64, 64},
      {400, 2304, 64, 64}, {400, 768, 64, 64}, {400, 3072, 64, 64},
      {64, 48, 32, 32}};
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const uint32_t *tiles =
        adatosk_vk_tuning_gemm_vec4_tiles (&tuning, picks[i].m, picks[i].n);
    printf ("  %ux%u -> %ux%u\n", picks[i].m, picks[i].n, tiles[1], tiles[2]);
    CHECK (tiles[1] == picks[i].bm && tiles[2] == picks[i].bn,
        "%ux%u takes %ux%u, expected %ux%u", picks[i].m, picks[i].n, tiles[1],
        tiles[2], picks[i].bm, picks[i].bn);
  }
  setenv ("ADATOSK_VULKAN_GEMM_TILE", "64x64", 1);
  CHECK_OK (adatosk_vk_tuning_default (t->ctx, &tuning, &error), error);
  CHECK (tuning.num_gemm_vec4 == 1 && tuning.gemm_vec4[0][1] == 64
          && tuning.gemm_vec4[0][2] == 64,
      "ADATOSK_VULKAN_GEMM_TILE=64x64 gives %u shapes, the first %ux%u",
      tuning.num_gemm_vec4, tuning.gemm_vec4[0][1], tuning.gemm_vec4[0][2]);
  setenv ("ADATOSK_VULKAN_GEMM", "cpu", 1);
  setenv ("ADATOSK_VULKAN_ATTENTION", "cpu", 1);
  unsetenv ("ADATOSK_VULKAN_GEMM_TILE");
  CHECK_OK (adatosk_vk_tuning_default (t->ctx, &tuning, &error), error);
  CHECK (tuning.num_gemm_vec4 == 0 && !tuning.attention_gpu,
      "forced cpu: %u vec4 shapes, attention gpu %d", tuning.num_gemm_vec4,
      tuning.attention_gpu);
  static const char *bad[][2] = {{"ADATOSK_VULKAN_GEMM_TILE", "100x7"},
      {"ADATOSK_VULKAN_GEMM", "fast"}, {"ADATOSK_VULKAN_ATTENTION", "GPU"},
      {"ADATOSK_VULKAN_COMPUTE_UNITS", "0"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unsetenv ("ADATOSK_VULKAN_GEMM");
    unsetenv ("ADATOSK_VULKAN_ATTENTION");
    unsetenv ("ADATOSK_VULKAN_COMPUTE_UNITS");
    setenv (bad[i][0], bad[i][1], 1);
    AdatoskError e = {0};
    AdatoskStatus status = adatosk_vk_tuning_default (t->ctx, &tuning, &e);
    printf ("  %s=%s: %s\n", bad[i][0], bad[i][1], e.message);
    CHECK (status == ADATOSK_ERROR_INVALID_ARGUMENT
            && strstr (e.message, bad[i][0]) && strstr (e.message, bad[i][1]),
        "%s=%s is not refused with its name", bad[i][0], bad[i][1]);
    unsetenv (bad[i][0]);
  }
}

static void
test_layernorm (VkTest *t, const Case *cs)
{
  const int rows = cs->layernorm.rows, cols = cs->layernorm.cols;
  float *x = random_floats ((size_t) rows * cols, -2, 3);
  /* A large common offset: a one-pass E[x^2] - E[x]^2 would fail here. */
  for (size_t i = 0; i < (size_t) rows * cols; i++)
    x[i] += 100.0f;
  float *gamma = random_floats (cols, 0.5f, 1.5f),
        *beta = random_floats (cols, -1, 1);
  VkTestBuffer bx = input (t, x, (size_t) rows * cols);
  VkTestBuffer bg = input (t, gamma, cols), bb = input (t, beta, cols);
  VkTestBuffer by = vk_test_buffer (t, (size_t) rows * cols);
  double *xd = to_double (x, (size_t) rows * cols);
  double *ref = malloc ((size_t) rows * cols * sizeof *ref);
  ref_layernorm (xd, gamma, beta, ref, rows, cols, 1e-6);
  vk_test_begin (t);
  adatosk_vk_layernorm (t->rec, &t->tuning, &bx.range, &bg.range, &bb.range,
      &by.range, (uint32_t) rows, (uint32_t) cols, 1e-6f);
  vk_test_run (t);
  expect (t, &by, ref, (size_t) rows * cols, 1e-8, "y");
  free (x);
  free (gamma);
  free (beta);
  free (xd);
  free (ref);
}

static void
test_attention (VkTest *t, const Case *cs)
{
  const int n = cs->attention.n, dim = cs->attention.dim,
            heads = cs->attention.heads;
  const bool with_bias = cs->attention.bias;
  float *qkv = random_floats ((size_t) n * 3 * dim, -1.5f, 1.5f);
  float *bias = random_floats (n, -6, 0);
  VkTestBuffer bq = input (t, qkv, (size_t) n * 3 * dim);
  VkTestBuffer bb = input (t, bias, n);
  VkTestBuffer bo = vk_test_buffer (t, (size_t) n * dim);
  double *qd = to_double (qkv, (size_t) n * 3 * dim), *bd = to_double (bias, n);
  double *ref = malloc ((size_t) n * dim * sizeof *ref);
  ref_attention (qd, with_bias ? bd : NULL, ref, n, dim, heads);
  vk_test_begin (t);
  adatosk_vk_attention (t->rec, &t->tuning, &bq.range,
      with_bias ? &bb.range : NULL, &bo.range, (uint32_t) n, (uint32_t) dim,
      (uint32_t) heads);
  vk_test_run (t);
  expect (t, &bo, ref, (size_t) n * dim, 1e-8, "out");
  free (qkv);
  free (bias);
  free (qd);
  free (bd);
  free (ref);
}

static void
test_im2col (VkTest *t, const Case *cs)
{
  (void) cs;
  AdatoskConfig c = {0};
  c.num_frames = 6;
  c.img_height = 12;
  c.img_width = 20;
  c.tubelet_size = 2;
  c.patch_size = 4;
  c.num_slots = 3;
  c.grid_height = 3;
  c.grid_width = 5;
  c.num_spatial = 15;
  c.num_tokens = 45;
  c.patch_dim = 3 * 2 * 4 * 4;
  size_t clip_size = (size_t) 3 * 6 * 12 * 20,
         count = (size_t) 45 * c.patch_dim;
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
  printf ("  %-44s %zu wrong\n", "patches", wrong);
  CHECK (wrong == 0, "im2col: %zu of %zu values wrong", wrong, count);
  vk_test_check_guards (t, &bp, "im2col");
  free (clip);
  free (ref);
  free (got);
}

static void
test_add (VkTest *t, const Case *cs)
{
  const int count = cs->add.count;
  float *a = random_floats (count, -1, 1), *b = random_floats (count, -1, 1);
  VkTestBuffer ba = input (t, a, count), bb = input (t, b, count);
  VkTestBuffer bo = vk_test_buffer (t, count);
  double *ref = malloc (count * sizeof *ref);
  for (int i = 0; i < count; i++)
    ref[i] = (double) a[i] + b[i];
  vk_test_begin (t);
  adatosk_vk_add (t->rec, &t->tuning, &ba.range, &bb.range, &bo.range,
      (uint32_t) count);
  vk_test_run (t);
  expect (t, &bo, ref, count, 1e-14, "add");
  free (a);
  free (b);
  free (ref);
}

/* ATSM (token quantities + mask), top-K and gather, on one random grid. */
static void
test_atsm (VkTest *t, const Case *cs)
{
  const int slots = cs->atsm.slots, spatial = cs->atsm.spatial,
            dim = cs->atsm.dim;
  const int classes = cs->atsm.classes, k = cs->atsm.k;
  int n = slots * spatial;
  float *emb = random_floats ((size_t) n * dim, -1, 1);
  float *logits = random_floats ((size_t) n * classes, -3, 3);
  float *x = random_floats ((size_t) n * dim, -1, 1);
  double alpha_dyn = 2.0, alpha_sem = 1.5, beta = 0.5;
  VkTestBuffer be = input (t, emb, (size_t) n * dim);
  VkTestBuffer bl = input (t, logits, (size_t) n * classes);
  VkTestBuffer bx = input (t, x, (size_t) n * dim);
  VkTestBuffer bd = vk_test_buffer (t, n),
               bq = vk_test_buffer (t, (size_t) n * classes);
  VkTestBuffer bconf = vk_test_buffer (t, n), br = vk_test_buffer (t, n);
  VkTestBuffer bg = vk_test_buffer (t, slots), bm = vk_test_buffer (t, n);
  VkTestBuffer bkeep = vk_test_buffer (t, n), bkept = vk_test_buffer (t, k);
  VkTestBuffer bfrac = vk_test_buffer (t, slots);
  VkTestBuffer bxk = vk_test_buffer (t, (size_t) k * dim);
  VkTestBuffer bbias = vk_test_buffer (t, k), bw = vk_test_buffer (t, k);

  double *ed = to_double (emb, (size_t) n * dim),
         *ld = to_double (logits, (size_t) n * classes);
  double *dist = malloc (n * sizeof *dist),
         *q = malloc ((size_t) n * classes * sizeof *q);
  double *conf = malloc (n * sizeof *conf), *r = malloc (n * sizeof *r);
  double *g = malloc (slots * sizeof *g), *m = malloc (n * sizeof *m);
  ref_atsm (ed, ld, slots, spatial, dim, classes, alpha_dyn, alpha_sem, beta,
      dist, q, conf, r, g, m);

  vk_test_begin (t);
  adatosk_vk_atsm_token (t->rec, &t->tuning, &be.range, &bl.range, &bd.range,
      &bq.range, &bconf.range, (uint32_t) slots, (uint32_t) spatial,
      (uint32_t) dim, (uint32_t) classes);
  adatosk_vk_atsm_mask (t->rec, &t->tuning, &bd.range, &bq.range, &bconf.range,
      &br.range, &bg.range, &bm.range, (uint32_t) slots, (uint32_t) spatial,
      (uint32_t) classes, (float) alpha_dyn, (float) alpha_sem, (float) beta);
  adatosk_vk_topk (t->rec, &t->tuning, &bm.range, &bkeep.range, &bkept.range,
      &bfrac.range, (uint32_t) slots, (uint32_t) spatial, (uint32_t) k);
  adatosk_vk_gather (t->rec, &t->tuning, &bx.range, &bkept.range, &bm.range,
      &bxk.range, &bbias.range, &bw.range, (uint32_t) k, (uint32_t) dim,
      (uint32_t) n);
  vk_test_run (t);

  expect (t, &bd, dist, n, 1e-8, "atsm d");
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

  free (emb);
  free (logits);
  free (x);
  free (ed);
  free (ld);
  free (dist);
  free (q);
  free (conf);
  free (r);
  free (g);
  free (m);
  free (mg);
  free (mgd);
  free (kept_ref);
  free (kept);
  free (frac);
  free (xk);
  free (bias);
  free (w);
}

/* Ties: equal m values keep the lower indices. */
static void
test_topk_ties (VkTest *t, const Case *cs)
{
  (void) cs;
  const int slots = 3, spatial = 7, n = 21, k = 9;
  float m[21];
  for (int i = 0; i < n; i++)
    m[i] = (i % 4 == 1) ? 0.75f : (i % 3 == 0 ? 0.5f : 0.25f);
  VkTestBuffer bm = input (t, m, n), bkeep = vk_test_buffer (t, n);
  VkTestBuffer bkept = vk_test_buffer (t, k), bfrac = vk_test_buffer (t, slots);
  vk_test_begin (t);
  adatosk_vk_topk (t->rec, &t->tuning, &bm.range, &bkeep.range, &bkept.range,
      &bfrac.range, slots, spatial, k);
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
test_head (VkTest *t, const Case *cs)
{
  const int k = cs->head.k, dim = cs->head.dim, classes = cs->head.classes;
  float *x = random_floats ((size_t) k * dim, -2, 2),
        *w = random_floats (k, 0.05f, 1);
  float *gamma = random_floats (dim, 0.5f, 1.5f),
        *beta = random_floats (dim, -0.5f, 0.5f);
  float *hw = random_floats ((size_t) classes * dim, -0.3f, 0.3f);
  float *hb = random_floats (classes, -0.5f, 0.5f);
  VkTestBuffer bx = input (t, x, (size_t) k * dim), bw = input (t, w, k);
  VkTestBuffer bg = input (t, gamma, dim), bb = input (t, beta, dim);
  VkTestBuffer bhw = input (t, hw, (size_t) classes * dim),
               bhb = input (t, hb, classes);
  VkTestBuffer bh = vk_test_buffer (t, dim),
               bres = vk_test_buffer (t, 2 * (size_t) classes);
  double *h = calloc (dim, sizeof *h), *hn = malloc (dim * sizeof *hn);
  double *ref = malloc (2 * (size_t) classes * sizeof *ref), total = 0,
         top = -INFINITY, sum = 0;
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
  adatosk_vk_head (t->rec, &t->tuning, &bx.range, &bw.range, &bg.range,
      &bb.range, &bhw.range, &bhb.range, &bh.range, &bres.range, (uint32_t) k,
      (uint32_t) dim, (uint32_t) classes, 1e-6f);
  vk_test_run (t);
  expect (t, &bres, ref, 2 * (size_t) classes, 1e-8, "logits, probs");
  free (x);
  free (w);
  free (gamma);
  free (beta);
  free (hw);
  free (hb);
  free (h);
  free (hn);
  free (ref);
}

static void
test_gelu_epilogue_range (VkTest *t, const Case *cs)
{
  (void) cs;
  /* GELU over a wide range of inputs through a 1 x n x 1 GEMM with weight 1:
   * catches a tanh-form GELU or a poor erf. */
  const int n = 2001;
  float a = 1.0f, *w = malloc (n * sizeof *w);
  double *ref = malloc (n * sizeof *ref);
  for (int i = 0; i < n; i++) {
    w[i] = -10.0f + 20.0f * (float) i / (n - 1);
    ref[i] = ref_gelu (w[i]);
  }
  VkTestBuffer ba = input (t, &a, 1), bw = input (t, w, n),
               bc = vk_test_buffer (t, n);
  vk_test_begin (t);
  AdatoskVkGemm g = {.a = &ba.range,
      .lda = 1,
      .w = &bw.range,
      .c = &bc.range,
      .ldc = (uint32_t) n,
      .m = 1,
      .n = (uint32_t) n,
      .k = 1,
      .alpha = 1.0f,
      .gelu = true};
  adatosk_vk_gemm (t->rec, &t->tuning, &g);
  vk_test_run (t);
  float *got = malloc (n * sizeof *got);
  vk_test_download (t, &bc, got, n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    worst = fmax (worst, fabs (got[i] - ref[i]));
  double nmse = vk_test_nmse (got, ref, n);
  printf ("  %-44s NMSE %.3g, max abs error %.3g\n", "gelu on [-10, 10]", nmse,
      worst);
  CHECK (nmse <= 1e-12 && worst <= 1e-6, "GELU: NMSE %.3g, max error %.3g",
      nmse, worst);
  free (w);
  free (ref);
  free (got);
}

/* A mask with NaN, infinities, -0 and ties: top-K still writes exactly K
 * ascending indices (checked against guard bytes around a K-entry buffer),
 * in the order that ranks NaN below every number, and the gather reads only
 * rows of x (a poisoned kept[] entry is clamped). */
static void
test_topk_nonfinite (VkTest *t, const Case *cs)
{
  (void) cs;
  const int slots = 4, spatial = 9, n = 36, dim = 20;
  float m[36];
  for (int i = 0; i < n; i++)
    m[i] = (float) ((i * 7) % 11) / 11.0f;
  m[2] = NAN;
  m[5] = -NAN;
  m[6] = INFINITY;
  m[11] = -INFINITY;
  m[12] = -0.0f;
  m[13] = 0.0f;
  m[20] = NAN;
  m[21] = 0.5f;
  m[22] = 0.5f;
  double md[36];
  for (int i = 0; i < n; i++)
    md[i] = m[i];
  float *x = random_floats ((size_t) n * dim, -1, 1);
  VkTestBuffer bx = input (t, x, (size_t) n * dim);
  for (int k = 1; k <= n; k += 7) {
    VkTestBuffer bm = input (t, m, n), bkeep = vk_test_buffer (t, n);
    VkTestBuffer bkept = vk_test_buffer (t, k),
                 bfrac = vk_test_buffer (t, slots);
    VkTestBuffer bxk = vk_test_buffer (t, (size_t) k * dim);
    VkTestBuffer bbias = vk_test_buffer (t, k), bw = vk_test_buffer (t, k);
    vk_test_begin (t);
    adatosk_vk_topk (t->rec, &t->tuning, &bm.range, &bkeep.range, &bkept.range,
        &bfrac.range, slots, spatial, (uint32_t) k);
    adatosk_vk_gather (t->rec, &t->tuning, &bx.range, &bkept.range, &bm.range,
        &bxk.range, &bbias.range, &bw.range, (uint32_t) k, dim, n);
    vk_test_run (t);
    int ref[36];
    int32_t got[36];
    ref_topk (md, n, k, ref);
    vk_test_download (t, &bkept, got, k);
    int wrong = 0, order = 0;
    for (int j = 0; j < k; j++) {
      wrong += got[j] != ref[j];
      order += got[j] < 0 || got[j] >= n || (j > 0 && got[j] <= got[j - 1]);
    }
    printf ("  K=%-2d %d wrong, %d out of order or range\n", k, wrong, order);
    CHECK (wrong == 0 && order == 0,
        "top-K with NaN/inf/ties, K=%d: %d wrong, %d bad", k, wrong, order);
    vk_test_check_guards (t, &bkept, "top-K kept (K entries)");
    vk_test_check_guards (t, &bxk, "gathered rows");
    float *rows = malloc ((size_t) k * dim * sizeof *rows);
    vk_test_download (t, &bxk, rows, (size_t) k * dim);
    int rows_wrong = 0;
    for (int j = 0; j < k; j++)
      rows_wrong += memcmp (rows + (size_t) j * dim, x + (size_t) ref[j] * dim,
                        dim * sizeof *rows)
          != 0;
    CHECK (rows_wrong == 0, "K=%d: %d gathered rows differ", k, rows_wrong);
    free (rows);
  }

  /* kept[] poisoned with indices out of range: the gather clamps them. */
  const int k = 4;
  int32_t poison[4] = {-1, 36, 1000000, 2147483647};
  VkTestBuffer bkept = vk_test_buffer (t, k), bm = input (t, m, n);
  vk_test_upload (t, &bkept, poison, k);
  VkTestBuffer bxk = vk_test_buffer (t, (size_t) k * dim);
  VkTestBuffer bbias = vk_test_buffer (t, k), bw = vk_test_buffer (t, k);
  vk_test_begin (t);
  adatosk_vk_gather (t->rec, &t->tuning, &bx.range, &bkept.range, &bm.range,
      &bxk.range, &bbias.range, &bw.range, k, dim, n);
  vk_test_run (t);
  float *rows = malloc ((size_t) k * dim * sizeof *rows);
  vk_test_download (t, &bxk, rows, (size_t) k * dim);
  int clamped = 0;
  for (int j = 0; j < k; j++)
    clamped += memcmp (rows + (size_t) j * dim, x + (size_t) (n - 1) * dim,
                   dim * sizeof *rows)
        == 0;
  printf ("  poisoned indices: %d of %d read the last row\n", clamped, k);
  CHECK (clamped == k,
      "out-of-range kept[] entries must read row N-1 (%d of %d)", clamped, k);
  vk_test_check_guards (t, &bxk, "gathered rows (poisoned)");
  free (rows);
  free (x);
}

/* The table. */
static Case cases[256];
static int num_cases;

static Case *add_case (void (*run) (VkTest *, const Case *), const char *format,
    ...) __attribute__ ((format (printf, 2, 3)));

static Case *
add_case (void (*run) (VkTest *, const Case *), const char *format, ...)
{
  if (num_cases == (int) (sizeof cases / sizeof cases[0])) {
    fprintf (stderr, "test_vk_ops: too many cases\n");
    exit (1);
  }
  Case *c = &cases[num_cases++];
  memset (c, 0, sizeof *c);
  c->run = run;
  va_list args;
  va_start (args, format);
  vsnprintf (c->name, sizeof c->name, format, args);
  va_end (args);
  return c;
}

static void
add_gemm (const uint32_t *tiles, GemmCase g)
{
  char tile_name[48] = "device";
  if (tiles)
    snprintf (tile_name, sizeof tile_name, "%ux%ux%u/%ux%u", tiles[1], tiles[2],
        tiles[3], tiles[4], tiles[5]);
  Case *c = add_case (test_gemm, "gemm/%dx%dx%d%s%s%s%s/c%d+%d/tiles=%s", g.m,
      g.n, g.k, g.bias ? "+bias" : "", g.gelu ? "+gelu" : "",
      g.accumulate ? "+acc" : "", g.f16 ? "+f16" : "", g.c_col, g.ldc,
      tile_name);
  c->gemm = g;
  if (tiles)
    memcpy (c->gemm_tiles, tiles, sizeof c->gemm_tiles);
}

/* The GPU GEMM (gemm_vec4.comp) with one tile shape forced. */
static void
add_gemm_vec4 (const uint32_t *tiles, GemmCase g)
{
  Case *c = add_case (test_gemm,
      "gemm-vec4/%dx%dx%d%s%s%s%s/c%d+%d/tiles=%ux%u", g.m, g.n, g.k,
      g.bias ? "+bias" : "", g.gelu ? "+gelu" : "", g.accumulate ? "+acc" : "",
      g.f16 ? "+f16" : "", g.c_col, g.ldc, tiles[1], tiles[2]);
  c->gemm = g;
  memcpy (c->gemm_vec4_tiles, tiles, sizeof c->gemm_vec4_tiles);
}

static void
add_attention_variant (const uint32_t *tiles, bool gpu, AttentionCase a)
{
  char tile_name[48] = "device";
  if (tiles)
    snprintf (tile_name, sizeof tile_name, "%u/%ux%u", tiles[0], tiles[1],
        tiles[2]);
  Case *c = add_case (test_attention, "attention%s/n%d/D%d/h%d%s/tiles=%s",
      gpu ? "-gpu" : "", a.n, a.dim, a.heads, a.bias ? "+bias" : "", tile_name);
  c->attention = a;
  c->attention_gpu = gpu;
  if (tiles)
    memcpy (c->attention_tiles, tiles, sizeof c->attention_tiles);
}

static void
add_attention (const uint32_t *tiles, AttentionCase a)
{
  add_attention_variant (tiles, false, a);
}

static void
make_cases (void)
{
  /* This device's tiles, then the ones a GPU gets (large and small), so
   * that every configuration the code can pick runs here too. */
  static const uint32_t gemm_tiles[][6] = {{256, 128, 128, 8, 8, 8},
      {256, 64, 64, 16, 4, 4}};
  for (int v = -1; v < (int) (sizeof gemm_tiles / sizeof gemm_tiles[0]); v++) {
    const uint32_t *tiles = v < 0 ? NULL : gemm_tiles[v];
    add_gemm (tiles,
        (GemmCase){.m = 37, .n = 53, .k = 45, .ldc = 53, .bias = true});
    add_gemm (tiles,
        (GemmCase){.m = 70,
            .n = 131,
            .k = 67,
            .ldc = 131,
            .bias = true,
            .gelu = true});
    add_gemm (tiles,
        (GemmCase){.m = 133,
            .n = 29,
            .k = 100,
            .c_col = 5,
            .ldc = 40,
            .bias = true,
            .accumulate = true});
    add_gemm (tiles, (GemmCase){.m = 1, .n = 7, .k = 19, .ldc = 7});
    add_gemm (tiles,
        (GemmCase){.m = 37,
            .n = 53,
            .k = 45,
            .ldc = 53,
            .bias = true,
            .f16 = true});
    add_gemm (tiles,
        (GemmCase){.m = 21,
            .n = 139,
            .k = 17,
            .c_col = 3,
            .ldc = 150,
            .bias = true,
            .gelu = true,
            .accumulate = true,
            .f16 = true});
  }
  add_case (test_gelu_epilogue_range, "gemm/gelu-range/-10..10");
  add_case (test_layernorm, "layernorm/13x75")->layernorm =
      (LayerNormCase){13, 75};
  add_case (test_layernorm, "layernorm/3x200")->layernorm =
      (LayerNormCase){3, 200};
  static const uint32_t attention_tiles[][3] = {{128, 32, 32}, {128, 16, 64}};
  for (int v = -1;
       v < (int) (sizeof attention_tiles / sizeof attention_tiles[0]); v++) {
    const uint32_t *tiles = v < 0 ? NULL : attention_tiles[v];
    add_attention (tiles, (AttentionCase){45, 48, 3, false});
    add_attention (tiles, (AttentionCase){70, 64, 2, true});
    add_attention (tiles, (AttentionCase){5, 24, 2, true});
  }
  /* Head dimension 128: the tiles shrink to fit 32 KiB of shared memory. */
  add_attention (NULL, (AttentionCase){100, 128, 1, true});

  /* The GPU variants on this device, every tile shape the GPU can pick:
   * rows, columns and K off every tile size, K a multiple of 4 but not of
   * the k-tile (16), C a window of wider rows, fp16 weights; then K and
   * strides that are not multiples of 4, which go to gemm.comp. */
  static const uint32_t vec4_tiles[][6] = {{256, 128, 64, 16, 8, 4},
      {256, 64, 64, 16, 4, 4}, {128, 32, 64, 16, 4, 4}, {64, 32, 32, 16, 4, 4}};
  for (size_t v = 0; v < sizeof vec4_tiles / sizeof vec4_tiles[0]; v++) {
    const uint32_t *tiles = vec4_tiles[v];
    add_gemm_vec4 (tiles,
        (GemmCase){.m = 37, .n = 53, .k = 44, .ldc = 53, .bias = true});
    add_gemm_vec4 (tiles,
        (GemmCase){.m = 130,
            .n = 70,
            .k = 68,
            .ldc = 70,
            .bias = true,
            .gelu = true});
    add_gemm_vec4 (tiles,
        (GemmCase){.m = 133,
            .n = 29,
            .k = 100,
            .c_col = 5,
            .ldc = 40,
            .bias = true,
            .accumulate = true});
    add_gemm_vec4 (tiles, (GemmCase){.m = 1, .n = 7, .k = 4, .ldc = 7});
    add_gemm_vec4 (tiles,
        (GemmCase){.m = 37,
            .n = 53,
            .k = 44,
            .ldc = 53,
            .bias = true,
            .f16 = true});
    add_gemm_vec4 (tiles,
        (GemmCase){.m = 70,
            .n = 139,
            .k = 20,
            .c_col = 3,
            .ldc = 150,
            .bias = true,
            .gelu = true,
            .accumulate = true,
            .f16 = true});
  }
  add_gemm_vec4 (vec4_tiles[0],
      (GemmCase){.m = 37, .n = 53, .k = 45, .ldc = 53, .bias = true});
  add_gemm_vec4 (vec4_tiles[3],
      (GemmCase){.m = 21,
          .n = 19,
          .k = 17,
          .ldc = 19,
          .bias = true,
          .gelu = true,
          .f16 = true});
  add_case (test_gemm_vec4_choice, "gemm-vec4/kernel-choice");
  add_case (test_tuning_selection, "tuning/selection+environment");

  /* attention_gpu.comp: head dimensions 16, 12 and 9 under two tile shapes
   * (the GPU's, and one whose row lanes divide neither the key tile nor DH),
   * n off every tile; then 32 and the model's 64 under the GPU's tiles.
   * lavapipe compiles the unrolled loops slowly (about 20 s at DH 64 on a
   * cold shader cache), hence one tile shape for the larger ones; the tile
   * shrinking for a large DH is attention.comp's code, tested above. */
  static const uint32_t gpu_attention_tiles[][3] = {{128, 32, 32}, {64, 16, 8}};
  for (size_t v = 0;
       v < sizeof gpu_attention_tiles / sizeof gpu_attention_tiles[0]; v++) {
    const uint32_t *tiles = gpu_attention_tiles[v];
    add_attention_variant (tiles, true, (AttentionCase){45, 48, 3, false});
    add_attention_variant (tiles, true, (AttentionCase){5, 24, 2, true});
    add_attention_variant (tiles, true, (AttentionCase){33, 18, 2, true});
  }
  add_attention_variant (gpu_attention_tiles[0], true,
      (AttentionCase){70, 64, 2, true});
  add_attention_variant (gpu_attention_tiles[0], true,
      (AttentionCase){77, 128, 2, true});
  add_case (test_im2col, "im2col/6x12x20/tau2/p4");
  add_case (test_add, "add/1000")->add = (AddCase){1000};
  add_case (test_atsm, "atsm+topk+gather/T3/S7/D40/C5/K11")->atsm =
      (AtsmCase){3, 7, 40, 5, 11};
  add_case (test_atsm, "atsm+topk+gather/T1/S9/D16/C2/K4")->atsm =
      (AtsmCase){1, 9, 16, 2, 4};
  add_case (test_atsm, "atsm+topk+gather/T5/S13/D33/C7/K65")->atsm =
      (AtsmCase){5, 13, 33, 7, 65};
  add_case (test_topk_ties, "topk/ties");
  add_case (test_topk_nonfinite, "topk+gather/nan-inf-ties");
  add_case (test_head, "head/K17/D75/C7")->head = (HeadCase){17, 75, 7};
  add_case (test_head, "head/K1/D300/C2")->head = (HeadCase){1, 300, 2};
}

static bool
selected (const char *name, int num_patterns, char **patterns)
{
  if (num_patterns == 0)
    return true;
  for (int i = 0; i < num_patterns; i++)
    if (strstr (name, patterns[i]) || fnmatch (patterns[i], name, 0) == 0)
      return true;
  return false;
}

int
main (int argc, char **argv)
{
  make_cases ();
  int num_patterns = 0;
  char **patterns = calloc ((size_t) argc, sizeof *patterns);
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--list") == 0) {
      for (int c = 0; c < num_cases; c++)
        printf ("%s\n", cases[c].name);
      return 0;
    }
    if (strcmp (argv[i], "-o") == 0) /* test-backend-ops' spelling */
      continue;
    patterns[num_patterns++] = argv[i];
  }
  VkTest t;
  vk_test_open (&t);
  const AdatoskVkTuning device_tuning = t.tuning;
  int ran = 0;
  for (int c = 0; c < num_cases; c++) {
    const Case *cs = &cases[c];
    if (!selected (cs->name, num_patterns, patterns))
      continue;
    t.tuning = device_tuning;
    if (cs->gemm_tiles[0]) {
      memcpy (t.tuning.gemm, cs->gemm_tiles, sizeof t.tuning.gemm);
      t.tuning.gemm_min_tiles = 0;
      t.tuning.num_gemm_vec4 = 0; /* gemm.comp itself */
    }
    if (cs->gemm_vec4_tiles[0]) {
      memcpy (t.tuning.gemm_vec4[0], cs->gemm_vec4_tiles,
          sizeof t.tuning.gemm_vec4[0]);
      t.tuning.num_gemm_vec4 = 1;
    }
    if (cs->attention_tiles[0]) {
      memcpy (t.tuning.attention, cs->attention_tiles,
          sizeof t.tuning.attention);
      t.tuning.attention_gpu = cs->attention_gpu;
    }
    int failures = vk_test_failures;
    printf ("%s\n", cs->name);
    cs->run (&t, cs);
    printf ("  %s\n", vk_test_failures == failures ? "ok" : "FAILED");
    ran++;
  }
  printf ("%d of %d cases run\n", ran, num_cases);
  CHECK (ran > 0, "no case matches the patterns given");
  free (patterns);
  return vk_test_close (&t);
}
