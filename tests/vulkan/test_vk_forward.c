/* The whole Vulkan forward against the CPU backend (and, on the small
 * configurations, the double-precision reference of reference.c): the same
 * kept tokens, probabilities within 1e-5, logits NMSE <= 1e-8 in fp32 and
 * <= 5e-4 with fp16 weight storage (spec section 9).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reference.h"
#include "test_model.h"
#include "vk_test.h"
#include "vulkan/vulkan_backend.h"

#include <float.h>
#include <math.h>
#include <string.h>
#include <time.h>

typedef struct
{
  TestModelSpec spec;
  double keep;    /* keep ratio of the run */
  bool reference; /* also compare with the double reference */
  bool f16;       /* also run with fp16 weights */
  bool frozen;    /* a clip of identical frames */
} Case;

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
max_abs (const float *a, const float *b, int n)
{
  double worst = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite (a[i]) || !isfinite (b[i]))
      return INFINITY;
    worst = fmax (worst, fabs ((double) a[i] - b[i]));
  }
  return worst;
}

static int
compare_desc (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return (x < y) - (x > y);
}

/* The gap between the K-th and (K+1)-th largest mask values. */
static double
boundary_gap (const AdatoskOutput *out)
{
  if (out->num_kept >= out->num_tokens)
    return INFINITY;
  float *sorted = malloc (out->num_tokens * sizeof *sorted);
  memcpy (sorted, out->token_mask, out->num_tokens * sizeof *sorted);
  qsort (sorted, out->num_tokens, sizeof *sorted, compare_desc);
  double gap = (double) sorted[out->num_kept - 1] - sorted[out->num_kept];
  free (sorted);
  return gap;
}

static int
kept_differences (const AdatoskOutput *a, const AdatoskOutput *b)
{
  if (a->num_kept != b->num_kept)
    return abs (a->num_kept - b->num_kept) + 1;
  int wrong = 0;
  for (int j = 0; j < a->num_kept; j++)
    wrong += a->kept_tokens[j] != b->kept_tokens[j];
  return wrong;
}

/* Vulkan output `got` against the CPU's `want`. */
static void
compare (const char *what, const AdatoskOutput *got, const AdatoskOutput *want,
    double logits_tolerance, bool same_tokens)
{
  int c = got->num_classes;
  double nmse = vk_test_nmse_f (got->logits, want->logits, c);
  double probs = max_abs (got->probs, want->probs, c);
  double g = max_abs (got->significance, want->significance, got->num_slots);
  double m = max_abs (got->token_mask, want->token_mask, got->num_tokens);
  double frac =
      max_abs (got->kept_fraction, want->kept_fraction, got->num_slots);
  int kept = kept_differences (got, want);
  printf ("  %-26s logits NMSE %.3g, probs %.2g, g %.2g, m %.2g, kept %d/%d "
          "differ\n",
      what, nmse, probs, g, m, kept, want->num_kept);
  CHECK (nmse <= logits_tolerance, "%s: logits NMSE %.3g > %.3g", what, nmse,
      logits_tolerance);
  if (same_tokens) {
    CHECK (kept == 0, "%s: %d kept tokens differ", what, kept);
    CHECK (probs <= 1e-5, "%s: probabilities differ by %.3g", what, probs);
    CHECK (g <= 1e-5 && m <= 1e-5, "%s: g differs by %.3g, m by %.3g", what, g,
        m);
    /* n / spatial in a shader: Vulkan allows 2.5 ulp for a division (the
     * H200 gave 5.96e-08 where lavapipe is exact). */
    CHECK (frac <= 3 * FLT_EPSILON, "%s: kept fractions differ by %.3g", what,
        frac);
  }
}

static void
run_case (const Case *cs)
{
  const TestModelSpec *s = &cs->spec;
  AdatoskError error = {0};
  printf ("%s: T=%d %dx%d tau=%d p=%d D=%d L=%d h=%d L1=%d C=%d keep %.2f%s\n",
      s->name, s->frames, s->height, s->width, s->tubelet, s->patch, s->dim,
      s->depth, s->heads, s->atsm_layer, s->classes, cs->keep,
      cs->frozen ? " (frozen clip)" : "");
  AdatoskModel *model = test_model_new (s, 1234);
  CHECK (model != NULL, "%s: the model does not load", s->name);
  if (!model)
    return;
  const AdatoskConfig *cfg = adatosk_model_get_config (model);
  AdatoskBackendOptions cpu_options = {ADATOSK_BACKEND_CPU, 1, -1, 0};
  AdatoskBackendOptions vk_options = {ADATOSK_BACKEND_VULKAN, 0, -1, 0};
  AdatoskBackend *cpu = NULL, *vk = NULL;
  CHECK_OK (adatosk_backend_new (model, &cpu_options, &cpu, &error), error);
  CHECK_OK (adatosk_backend_new (model, &vk_options, &vk, &error), error);
  if (!cpu || !vk)
    goto out_backends;
  CHECK (strcmp (adatosk_backend_get_name (vk), "vulkan") == 0,
      "backend name %s", adatosk_backend_get_name (vk));

  AdatoskOutput *want = adatosk_output_new (model),
                *got = adatosk_output_new (model);
  AdatoskOutput *again = adatosk_output_new (model);
  /* A clip whose K-th and (K+1)-th mask values are >= 1e-4 apart (spec
   * section 9), so that rounding cannot swap the boundary tokens. */
  float *clip = NULL;
  double gap = 0;
  for (uint64_t seed = 1; seed < 200; seed++) {
    free (clip);
    clip = test_clip_new (cfg, seed, cs->frozen);
    CHECK_OK (adatosk_backend_forward (cpu, clip, cs->keep, want, &error),
        error);
    gap = boundary_gap (want);
    if (gap >= 1e-4 || cs->frozen)
      break;
  }
  CHECK (gap >= 1e-4 || cs->frozen, "%s: no clip with a mask gap >= 1e-4",
      s->name);

  double t0 = now_ms ();
  CHECK_OK (adatosk_backend_forward (vk, clip, cs->keep, got, &error), error);
  double t1 = now_ms ();
  CHECK_OK (adatosk_backend_forward (vk, clip, cs->keep, again, &error), error);
  double t2 = now_ms ();
  printf ("  vulkan: %s; first forward %.0f ms (records), second %.0f ms\n",
      adatosk_backend_get_device (vk), t1 - t0, t2 - t1);
  compare ("vulkan fp32 vs cpu", got, want, 1e-8, !cs->frozen || true);
  CHECK (memcmp (got->logits, again->logits, cfg->num_classes * sizeof (float))
              == 0
          && memcmp (got->token_mask, again->token_mask,
                 cfg->num_tokens * sizeof (float))
              == 0,
      "%s: two forwards of the same clip differ", s->name);
  if (cs->frozen) {
    int nonzero = 0;
    for (int t = 0; t < cfg->num_slots; t++)
      nonzero += got->significance[t] != 0.0f;
    CHECK (nonzero == 0, "%s: a frozen clip has %d slots with g != 0", s->name,
        nonzero);
  }

  /* Another K re-records the command buffer; back to this K gives the same. */
  double other = cs->keep > 0.5 ? cs->keep / 2 : cs->keep * 1.5;
  CHECK_OK (adatosk_backend_forward (vk, clip, other, again, &error), error);
  CHECK (again->num_kept == adatosk_kept_tokens (cfg->num_tokens, other),
      "K %d after changing the keep ratio", again->num_kept);
  CHECK_OK (adatosk_backend_forward (vk, clip, cs->keep, again, &error), error);
  CHECK (memcmp (got->logits, again->logits, cfg->num_classes * sizeof (float))
          == 0,
      "%s: the forward differs after recording for another K", s->name);

  if (cs->reference) {
    AdatoskOutput *ref = adatosk_output_new (model);
    double logits[64];
    ref_forward (model, clip, cs->keep, ref, logits);
    compare ("vulkan fp32 vs double ref", got, ref, 1e-8, true);
    compare ("cpu vs double ref", want, ref, 1e-8, true);
    adatosk_output_free (ref);
  }
  if (cs->f16) {
    AdatoskVkBackend *half = adatosk_vk_backend_new (model, -1, true, &error);
    CHECK (half != NULL, "fp16 backend: %s", error.message);
    if (half) {
      CHECK_OK (adatosk_vk_backend_forward (half, clip, cs->keep, again,
                    &error),
          error);
      printf ("  fp16: %s\n", adatosk_vk_backend_device (half));
      compare ("vulkan fp16 vs cpu", again, want, 5e-4, false);
      adatosk_vk_backend_free (half);
    }
  }
  free (clip);
  adatosk_output_free (want);
  adatosk_output_free (got);
  adatosk_output_free (again);
out_backends:
  adatosk_backend_free (vk);
  adatosk_backend_free (cpu);
  adatosk_model_free (model);
}

/* A clip with NaN values straight into the Vulkan forward (below the
 * backend interface, which may refuse such a clip before the device sees
 * it): a clean error, exactly K kept indices in range and ascending, and
 * the backend still works for the next clip. */
static void
run_nan_clip (void)
{
  static const TestModelSpec spec = {"nan-clip", 4, 32, 32, 2, 8, 48, 2, 3, 1,
      5, 0.5};
  AdatoskError error = {0};
  printf ("%s: a clip with NaN values\n", spec.name);
  AdatoskModel *model = test_model_new (&spec, 99);
  CHECK (model != NULL, "the model does not load");
  if (!model)
    return;
  const AdatoskConfig *cfg = adatosk_model_get_config (model);
  AdatoskVkBackend *vk = adatosk_vk_backend_new (model, -1, false, &error);
  CHECK (vk != NULL, "vulkan backend: %s", error.message);
  if (!vk) {
    adatosk_model_free (model);
    return;
  }
  AdatoskOutput *out = adatosk_output_new (model);
  float *clip = test_clip_new (cfg, 5, 0);
  size_t count =
      (size_t) 3 * cfg->num_frames * cfg->img_height * cfg->img_width;
  float *poisoned = malloc (count * sizeof *poisoned);
  for (int variant = 0; variant < 2; variant++) {
    memcpy (poisoned, clip, count * sizeof *poisoned);
    if (variant == 0)
      poisoned[count / 3] = NAN; /* one value */
    else
      for (size_t i = 0; i < count; i += 2)
        poisoned[i] = NAN; /* half the clip */
    for (int j = 0; j < out->num_tokens; j++)
      out->kept_tokens[j] = -7;
    AdatoskStatus status =
        adatosk_vk_backend_forward (vk, poisoned, 0.5, out, &error);
    int k = adatosk_kept_tokens (cfg->num_tokens, 0.5), bad = 0;
    for (int j = 0; j < k; j++)
      bad += out->kept_tokens[j] < 0 || out->kept_tokens[j] >= cfg->num_tokens
          || (j > 0 && out->kept_tokens[j] <= out->kept_tokens[j - 1]);
    printf ("  %s NaN: %s; %d of %d kept indices out of range or order\n",
        variant ? "half the clip" : "one value",
        status == ADATOSK_OK ? "no error" : error.message, bad, k);
    CHECK (status == ADATOSK_ERROR_BACKEND
            && strstr (error.message, "non-finite"),
        "a NaN clip must give the non-finite error");
    CHECK (out->num_kept == k && bad == 0,
        "NaN clip: K %d (want %d), %d bad indices", out->num_kept, k, bad);
  }
  CHECK_OK (adatosk_vk_backend_forward (vk, clip, 0.5, out, &error), error);
  CHECK (isfinite (out->probs[0]),
      "the clip after a NaN clip gives finite results");
  free (poisoned);
  free (clip);
  adatosk_output_free (out);
  adatosk_vk_backend_free (vk);
  adatosk_model_free (model);
}

/* Per-kernel timestamps: the table names the model's products and
 * attention with their shapes, its times are positive, and a profiled
 * forward gives the same numbers as an unprofiled one. */
static void
run_profile (void)
{
  static const TestModelSpec spec = {"profile", 4, 32, 32, 2, 8, 48, 2, 3, 1, 5,
      0.5};
  AdatoskError error = {0};
  printf ("%s: per-kernel GPU timestamps\n", spec.name);
  AdatoskModel *model = test_model_new (&spec, 3);
  AdatoskVkBackend *vk =
      model ? adatosk_vk_backend_new (model, -1, false, &error) : NULL;
  CHECK (vk != NULL, "vulkan backend: %s", error.message);
  if (!vk) {
    adatosk_model_free (model);
    return;
  }
  const AdatoskConfig *cfg = adatosk_model_get_config (model);
  AdatoskOutput *plain = adatosk_output_new (model),
                *timed = adatosk_output_new (model);
  float *clip = test_clip_new (cfg, 8, 0);
  CHECK_OK (adatosk_vk_backend_forward (vk, clip, 0.5, plain, &error), error);
  adatosk_vk_backend_set_profile (vk, true);
  for (int i = 0; i < 2; i++)
    CHECK_OK (adatosk_vk_backend_forward (vk, clip, 0.5, timed, &error), error);
  CHECK (memcmp (plain->logits, timed->logits,
             cfg->num_classes * sizeof (float))
          == 0,
      "profiling changed the logits");
  char *text = NULL;
  size_t size = 0;
  FILE *out = open_memstream (&text, &size);
  adatosk_vk_backend_print_profile (vk, out, "profile test", true);
  fclose (out);
  printf ("%s", text);
  /* Rows are named by shader, which depends on the variant: gemm or
   * gemm_vec4, attention or attention_gpu. */
  char qkv[64];
  snprintf (qkv, sizeof qkv, " qkv %dx%dx%d |", cfg->num_tokens,
      3 * cfg->embed_dim, cfg->embed_dim);
  CHECK (text && strstr (text, "mean of 2 submits") && strstr (text, qkv)
          && (strstr (text, "| gemm qkv ") || strstr (text, "| gemm_vec4 qkv "))
          && (strstr (text, "| attention plain ")
              || strstr (text, "| attention_gpu plain "))
          && (strstr (text, "| attention biased ")
              || strstr (text, "| attention_gpu biased "))
          && strstr (text, "| head head "),
      "the profile table lacks rows:\n%s", text);
  double ms = -1;
  const char *line = text ? strstr (text, qkv) : NULL;
  if (line)
    sscanf (line + strlen (qkv), " %*f | %lf", &ms);
  CHECK (ms > 0, "qkv's time is %.3g ms", ms);
  free (text);
  /* After the reset an unprofiled backend prints nothing. */
  adatosk_vk_backend_set_profile (vk, false);
  CHECK_OK (adatosk_vk_backend_forward (vk, clip, 0.5, timed, &error), error);
  text = NULL;
  out = open_memstream (&text, &size);
  adatosk_vk_backend_print_profile (vk, out, "profile test", true);
  fclose (out);
  CHECK (size == 0, "a forward without profiling was timed: %s", text);
  free (text);
  free (clip);
  adatosk_output_free (plain);
  adatosk_output_free (timed);
  adatosk_vk_backend_free (vk);
  adatosk_model_free (model);
}

/* A batch whose clips need padding rows between them: D = 18 makes rows of
 * 72 bytes, not a multiple of lavapipe's 16-byte binding alignment, so each
 * clip's rows start at an even row (27 tokens -> stride 28, K = 11 -> 12).
 * Every clip as it comes out alone, in fp32 and fp16, against the CPU too. */
static void
run_batch_padding (void)
{
  static const TestModelSpec spec = {"padded-batch", 6, 24, 24, 2, 8, 18, 2, 3,
      1, 4, 0.4};
  printf ("%s: batch of 3 (moving, frozen, moving), D=18\n", spec.name);
  AdatoskModel *model = test_model_new (&spec, 99);
  CHECK (model != NULL, "%s: the model does not load", spec.name);
  if (!model)
    return;
  const AdatoskConfig *cfg = adatosk_model_get_config (model);
  AdatoskError error = {0};
  float *clips[3] = {test_clip_new (cfg, 5, 0), test_clip_new (cfg, 6, 1),
      test_clip_new (cfg, 7, 0)};
  AdatoskOutput *alone[3], *batched[3], *cpu_out[3];
  for (int i = 0; i < 3; i++) {
    alone[i] = adatosk_output_new (model);
    batched[i] = adatosk_output_new (model);
    cpu_out[i] = adatosk_output_new (model);
  }
  AdatoskBackendOptions cpu_options = {ADATOSK_BACKEND_CPU, 1, -1, 0};
  AdatoskBackend *cpu = NULL;
  CHECK_OK (adatosk_backend_new (model, &cpu_options, &cpu, &error), error);
  if (cpu)
    CHECK_OK (adatosk_backend_forward_batch (cpu, (const float *const *) clips,
                  3, 0.0, cpu_out, &error),
        error);
  for (int f16 = 0; f16 <= 1; f16++) {
    AdatoskBackendOptions options = {ADATOSK_BACKEND_VULKAN, 0, -1, f16};
    AdatoskBackend *vk = NULL;
    CHECK_OK (adatosk_backend_new (model, &options, &vk, &error), error);
    if (!vk)
      continue;
    for (int i = 0; i < 3; i++)
      CHECK_OK (adatosk_backend_forward (vk, clips[i], 0.0, alone[i], &error),
          error);
    CHECK_OK (adatosk_backend_forward_batch (vk, (const float *const *) clips,
                  3, 0.0, batched, &error),
        error);
    for (int i = 0; i < 3; i++) {
      char what[64];
      snprintf (what, sizeof what, "%s clip %d batched vs alone",
          f16 ? "fp16" : "fp32", i);
      compare (what, batched[i], alone[i], 1e-10, true);
      if (!f16 && cpu) {
        snprintf (what, sizeof what, "fp32 clip %d batched vs CPU", i);
        compare (what, batched[i], cpu_out[i], 1e-8, true);
      }
    }
    adatosk_backend_free (vk);
  }
  for (int i = 0; i < 3; i++) {
    adatosk_output_free (alone[i]);
    adatosk_output_free (batched[i]);
    adatosk_output_free (cpu_out[i]);
    free (clips[i]);
  }
  adatosk_backend_free (cpu);
  adatosk_model_free (model);
}

int
main (int argc, char **argv)
{
  /* Configurations whose sizes are not multiples of any tile: odd grids,
   * head dimensions 16, 20 and 64, the ATSM at the start, middle and end. */
  static const Case cases[] = {
      {{"micro", 4, 32, 32, 2, 8, 48, 3, 3, 1, 5, 0.5}, 0.5, true, true, false},
      {{"odd-grid", 6, 24, 40, 2, 8, 40, 2, 2, 1, 3, 0.6}, 0.6, true, false,
          false},
      {{"atsm-first", 4, 24, 24, 2, 8, 32, 2, 2, 0, 4, 0.3}, 0.3, true, false,
          false},
      {{"atsm-last", 4, 24, 24, 2, 8, 32, 2, 2, 2, 4, 0.7}, 0.7, true, false,
          false},
      {{"one-slot", 2, 32, 24, 2, 8, 32, 2, 2, 1, 3, 0.5}, 0.5, true, false,
          false},
      {{"keep-all", 4, 32, 32, 2, 8, 48, 2, 3, 1, 5, 1.0}, 1.0, true, false,
          false},
      {{"frozen", 4, 32, 32, 2, 8, 48, 2, 3, 1, 5, 0.5}, 0.5, false, false,
          true},
      {{"adatosk-tiny", 16, 112, 112, 2, 16, 192, 6, 3, 2, 7, 0.5}, 0.5, false,
          true, false},
  };
  vk_test_require_device ();
  /* `quick`: the small cases only. `variants`: the kernel variants the
   * environment forces (ADATOSK_VULKAN_GEMM, _ATTENTION, ...; meson runs it
   * with the GPU's) on configurations with head dimensions 16 and 9, the
   * second batched. */
  bool quick = argc > 1 && strcmp (argv[1], "quick") == 0;
  bool variants = argc > 1 && strcmp (argv[1], "variants") == 0;
  if (variants) {
    const char *names[] = {"ADATOSK_VULKAN_GEMM", "ADATOSK_VULKAN_GEMM_TILE",
        "ADATOSK_VULKAN_ATTENTION", "ADATOSK_VULKAN_COMPUTE_UNITS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      printf ("%s=%s\n", names[i], getenv (names[i]) ? getenv (names[i]) : "");
    run_case (&cases[0]); /* micro: DH 16, against the double reference */
    run_batch_padding (); /* DH 9, a batch of 3 with padding rows */
    run_profile ();
  } else {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
      if (!quick || cases[i].spec.dim < 100)
        run_case (&cases[i]);
    run_batch_padding ();
    run_nan_clip ();
    run_profile ();
  }
  unsigned messages = adatosk_vk_validation_message_count ();
  CHECK (messages == 0, "the validation layer reported %u messages", messages);
  if (vk_test_failures)
    fprintf (stderr, "%d checks failed\n", vk_test_failures);
  return vk_test_failures ? 1 : 0;
}
