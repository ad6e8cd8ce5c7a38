/* adatosk_backend_forward_batch() against the single-clip forward of the
 * same backend: every clip of a batch gets the outputs it gets alone, within
 * the spec's section 9 tolerances and with the very same kept tokens, for odd
 * batch sizes (1, 3, 5, then 2 on a backend that has held 5) and mixed
 * content (moving clips beside frozen ones, so the clips of one batch keep
 * different tokens). A bad clip in a batch is named by its index.
 * usage: test-batch FIXTURE_DIR cpu|vulkan [CASE...]
 * The fixtures are the parity fixtures (model.safetensors + clip.f32 each).
 * Vulkan is skipped without a device unless ADATOSK_TEST_REQUIRE_VULKAN=1.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"

#include <glib.h>
#include <math.h>
#include <string.h>

#define NUM_CLIPS 5

static const char *fixture_dir;
static AdatoskBackendKind backend_kind;

typedef struct
{
  AdatoskModel *model;
  size_t clip_floats;
  float *clips[NUM_CLIPS];
} Case;

/* clip with every frame replaced by frame `frame`: no motion at all. */
static float *
frozen_copy (const AdatoskConfig *c, const float *clip, int frame)
{
  size_t plane = (size_t) c->img_height * c->img_width;
  float *out = g_new (float, 3 * (size_t) c->num_frames * plane);
  for (int ch = 0; ch < 3; ch++)
    for (int t = 0; t < c->num_frames; t++)
      memcpy (out + ((size_t) ch * c->num_frames + t) * plane,
          clip + ((size_t) ch * c->num_frames + frame) * plane,
          plane * sizeof (float));
  return out;
}

/* The fixture's clip played backwards, times 0.7: moving, other motion. */
static float *
reversed_copy (const AdatoskConfig *c, const float *clip)
{
  size_t plane = (size_t) c->img_height * c->img_width;
  float *out = g_new (float, 3 * (size_t) c->num_frames * plane);
  for (int ch = 0; ch < 3; ch++)
    for (int t = 0; t < c->num_frames; t++) {
      const float *src = clip
          + ((size_t) ch * c->num_frames + (c->num_frames - 1 - t)) * plane;
      float *dst = out + ((size_t) ch * c->num_frames + t) * plane;
      for (size_t i = 0; i < plane; i++)
        dst[i] = 0.7f * src[i];
    }
  return out;
}

static void
case_load (Case *cs, const char *name)
{
  char *model_path =
      g_build_filename (fixture_dir, name, "model.safetensors", NULL);
  char *clip_path = g_build_filename (fixture_dir, name, "clip.f32", NULL);
  AdatoskError error;
  if (adatosk_model_load (model_path, &cs->model, &error) != ADATOSK_OK)
    g_error ("%s", error.message);
  const AdatoskConfig *c = adatosk_model_get_config (cs->model);
  cs->clip_floats = (size_t) 3 * c->num_frames * c->img_height * c->img_width;
  char *bytes;
  gsize size;
  g_assert_true (g_file_get_contents (clip_path, &bytes, &size, NULL));
  g_assert_cmpuint (size, ==, cs->clip_floats * sizeof (float));
  float *moving = (float *) bytes;
  /* Moving, frozen, moving backwards, frozen on the last frame, moving
   * again: every batch of 3 or 5 mixes frozen and moving clips. */
  cs->clips[0] = moving;
  cs->clips[1] = frozen_copy (c, moving, 0);
  cs->clips[2] = reversed_copy (c, moving);
  cs->clips[3] = frozen_copy (c, moving, c->num_frames - 1);
  cs->clips[4] = g_memdup2 (moving, size);
  for (size_t i = 0; i < cs->clip_floats; i++)
    cs->clips[4][i] = -cs->clips[4][i];
  g_free (model_path);
  g_free (clip_path);
}

static void
case_clear (Case *cs)
{
  for (int i = 0; i < NUM_CLIPS; i++)
    g_free (cs->clips[i]);
  adatosk_model_free (cs->model);
}

static AdatoskBackend *
backend_new (AdatoskModel *model)
{
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  AdatoskBackend *backend = NULL;
  AdatoskError error;
  options.kind = backend_kind;
  options.threads = 2;
  if (adatosk_backend_new (model, &options, &backend, &error) == ADATOSK_OK) {
    /* The device string names the kernel variants (Vulkan). */
    g_test_message ("backend: %s", adatosk_backend_get_device (backend));
    return backend;
  }
  if (backend_kind == ADATOSK_BACKEND_VULKAN
      && g_strcmp0 (g_getenv ("ADATOSK_TEST_REQUIRE_VULKAN"), "1") != 0) {
    g_test_skip (error.message);
    return NULL;
  }
  g_error ("no backend: %s", error.message);
  return NULL;
}

static double
max_abs_diff (const float *a, const float *b, int n)
{
  double worst = 0.0;
  for (int i = 0; i < n; i++) {
    double e = fabs ((double) a[i] - b[i]);
    if (isnan (e))
      return INFINITY;
    worst = fmax (worst, e);
  }
  return worst;
}

/* The spec's tolerances (docs/model.md section 9), batched vs alone. */
static void
check_same (const AdatoskOutput *got, const AdatoskOutput *want, int batch,
    int index, double *worst_nmse)
{
  double num = 0.0, den = 0.0;
  for (int i = 0; i < want->num_classes; i++) {
    double d = (double) got->logits[i] - want->logits[i];
    num += d * d;
    den += (double) want->logits[i] * want->logits[i];
  }
  double nmse = den > 0.0 ? num / den : num;
  *worst_nmse = fmax (*worst_nmse, nmse);
  if (!(nmse <= 1e-10))
    g_error ("batch %d, clip %d: logits NMSE %.3g", batch, index, nmse);
  g_assert_cmpfloat (max_abs_diff (got->probs, want->probs, want->num_classes),
      <=, 1e-6);
  g_assert_cmpfloat (max_abs_diff (got->significance, want->significance,
                         want->num_slots),
      <=, 1e-5);
  g_assert_cmpfloat (max_abs_diff (got->token_mask, want->token_mask,
                         want->num_tokens),
      <=, 1e-5);
  g_assert_cmpfloat (max_abs_diff (got->kept_fraction, want->kept_fraction,
                         want->num_slots),
      <=, 1e-6);
  g_assert_cmpint (got->num_kept, ==, want->num_kept);
  g_assert_cmpmem (got->kept_tokens, got->num_kept * sizeof (int32_t),
      want->kept_tokens, want->num_kept * sizeof (int32_t));
}

static gboolean
same_kept (const AdatoskOutput *a, const AdatoskOutput *b)
{
  return a->num_kept == b->num_kept
      && memcmp (a->kept_tokens, b->kept_tokens, a->num_kept * sizeof (int32_t))
      == 0;
}

static void
check_case (gconstpointer data)
{
  const char *name = data;
  Case cs;
  case_load (&cs, name);
  AdatoskBackend *alone = backend_new (cs.model);
  AdatoskBackend *batched = alone ? backend_new (cs.model) : NULL;
  if (!batched) {
    adatosk_backend_free (alone);
    case_clear (&cs);
    return;
  }
  AdatoskOutput *want[NUM_CLIPS], *got[NUM_CLIPS];
  AdatoskError error;
  for (int i = 0; i < NUM_CLIPS; i++) {
    want[i] = adatosk_output_new (cs.model);
    got[i] = adatosk_output_new (cs.model);
    if (adatosk_backend_forward (alone, cs.clips[i], 0.0, want[i], &error)
        != ADATOSK_OK)
      g_error ("clip %d alone: %s", i, error.message);
  }
  /* The clips keep different tokens (unless the model keeps them all), so a
   * batch that mixed up clips' selections would show. */
  const AdatoskConfig *c = adatosk_model_get_config (cs.model);
  if (want[0]->num_kept < c->num_tokens) {
    int differ = 0;
    for (int i = 1; i < NUM_CLIPS; i++)
      differ += !same_kept (want[0], want[i]);
    g_assert_cmpint (differ, >, 0);
  }

  /* Growing (1, 3, 5), then smaller than the largest (2). */
  static const int sizes[] = {1, 3, 5, 2};
  double worst = 0.0;
  for (size_t s = 0; s < G_N_ELEMENTS (sizes); s++) {
    int batch = sizes[s];
    for (int i = 0; i < NUM_CLIPS; i++)
      memset (got[i]->logits, 0, c->num_classes * sizeof (float));
    if (adatosk_backend_forward_batch (batched, (const float *const *) cs.clips,
            batch, 0.0, got, &error)
        != ADATOSK_OK)
      g_error ("batch of %d: %s", batch, error.message);
    for (int i = 0; i < batch; i++)
      check_same (got[i], want[i], batch, i, &worst);
  }
  g_test_message ("%s on %s: worst logits NMSE batched vs alone %.3g", name,
      adatosk_backend_get_name (batched), worst);

  for (int i = 0; i < NUM_CLIPS; i++) {
    adatosk_output_free (want[i]);
    adatosk_output_free (got[i]);
  }
  adatosk_backend_free (alone);
  adatosk_backend_free (batched);
  case_clear (&cs);
}

/* One NaN in the third clip of three: refused before anything runs, the
 * message names the clip; then the same backend runs the batch once fixed. */
static void
check_bad_clip (gconstpointer data)
{
  Case cs;
  case_load (&cs, data);
  AdatoskBackend *backend = backend_new (cs.model);
  if (!backend) {
    case_clear (&cs);
    return;
  }
  AdatoskOutput *out[3];
  for (int i = 0; i < 3; i++)
    out[i] = adatosk_output_new (cs.model);
  float saved = cs.clips[2][17];
  cs.clips[2][17] = NAN;
  AdatoskError error;
  g_assert_cmpint (adatosk_backend_forward_batch (backend,
                       (const float *const *) cs.clips, 3, 0.0, out, &error),
      ==, ADATOSK_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (error.message,
      "clip 2 of 3: the clip has "
      "a NaN"));
  cs.clips[2][17] = saved;
  /* One output given twice. */
  AdatoskOutput *twice[3] = {out[0], out[1], out[0]};
  g_assert_cmpint (adatosk_backend_forward_batch (backend,
                       (const float *const *) cs.clips, 3, 0.0, twice, &error),
      ==, ADATOSK_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error.message, "clips 0 and 2"));
  g_assert_cmpint (adatosk_backend_forward_batch (backend,
                       (const float *const *) cs.clips, 0, 0.0, out, &error),
      ==, ADATOSK_ERROR_INVALID_ARGUMENT);
  if (adatosk_backend_forward_batch (backend, (const float *const *) cs.clips,
          3, 0.0, out, &error)
      != ADATOSK_OK)
    g_error ("%s", error.message);
  for (int i = 0; i < 3; i++)
    adatosk_output_free (out[i]);
  adatosk_backend_free (backend);
  case_clear (&cs);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (argc < 3)
    g_error ("usage: %s FIXTURE_DIR cpu|vulkan [CASE...]", argv[0]);
  fixture_dir = argv[1];
  backend_kind = strcmp (argv[2], "vulkan") == 0 ? ADATOSK_BACKEND_VULKAN
                                                 : ADATOSK_BACKEND_CPU;
  char **cases;
  if (argc > 3)
    cases = g_strdupv (argv + 3);
  else {
    char *list_path = g_build_filename (fixture_dir, "cases.txt", NULL);
    char *list;
    if (!g_file_get_contents (list_path, &list, NULL, NULL))
      g_error ("no %s", list_path);
    cases = g_strsplit (g_strstrip (list), "\n", -1);
    g_free (list);
    g_free (list_path);
  }
  for (char **name = cases; *name; name++) {
    char *path = g_strdup_printf ("/batch/%s/%s", argv[2], *name);
    g_test_add_data_func (path, *name, check_case);
    g_free (path);
  }
  char *path = g_strdup_printf ("/batch/%s/bad-clip", argv[2]);
  g_test_add_data_func (path, cases[0], check_bad_clip);
  g_free (path);
  int status = g_test_run ();
  g_strfreev (cases);
  return status;
}
