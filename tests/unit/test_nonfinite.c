/* A clip with a NaN or an infinity, and a finite clip whose forward
 * overflows, are errors with a message from every backend (the check is in
 * libadatosk's common layer, src/backend.c), never a label: the CPU backend
 * here, and the Vulkan backend where one runs (lavapipe in CI; skipped
 * without a Vulkan device unless ADATOSK_TEST_REQUIRE_VULKAN=1).
 * usage: test-nonfinite FIXTURE_DIR (a parity fixture: model + clip)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"

#include <glib.h>
#include <math.h>
#include <string.h>

static AdatoskModel *model;
static float *good_clip;
static size_t clip_floats;

/* The backend of `kind`, or NULL when this machine has none (Vulkan only). */
static AdatoskBackend *
backend_new (AdatoskBackendKind kind)
{
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  AdatoskBackend *backend = NULL;
  AdatoskError error;

  options.kind = kind;
  options.threads = 1;
  if (adatosk_backend_new (model, &options, &backend, &error) == ADATOSK_OK)
    return backend;
  if (kind == ADATOSK_BACKEND_VULKAN
      && g_strcmp0 (g_getenv ("ADATOSK_TEST_REQUIRE_VULKAN"), "1") != 0) {
    g_test_skip (error.message);
    return NULL;
  }
  g_error ("no %s backend: %s", kind == ADATOSK_BACKEND_CPU ? "cpu" : "vulkan",
      error.message);
  return NULL;
}

/* Runs `clip` on `kind`; returns the status and copies the message. */
static AdatoskStatus
run (AdatoskBackendKind kind, const float *clip, char *message, gboolean *ran)
{
  AdatoskBackend *backend = backend_new (kind);
  AdatoskOutput *out = adatosk_output_new (model);
  AdatoskError error = {0};
  AdatoskStatus status = ADATOSK_OK;

  *ran = backend != NULL;
  if (backend) {
    status = adatosk_backend_forward (backend, clip, 0.0, out, &error);
    strcpy (message, status == ADATOSK_OK ? "" : error.message);
    if (status == ADATOSK_OK)
      for (int i = 0; i < out->num_classes; i++)
        g_assert_true (isfinite (out->probs[i]));
  }
  adatosk_output_free (out);
  adatosk_backend_free (backend);
  return status;
}

static float *
clip_with (size_t index, float value)
{
  float *clip = g_memdup2 (good_clip, clip_floats * sizeof (float));
  clip[index] = value;
  return clip;
}

/* A NaN (or an infinity) at a known place: the same status and the same
 * message, naming the place, from both backends. */
static void
check_refused (float value, const char *what)
{
  const AdatoskConfig *c = adatosk_model_get_config (model);
  /* channel 1, frame 2, row 3, column 4 */
  size_t index =
      (((size_t) 1 * c->num_frames + 2) * c->img_height + 3) * c->img_width + 4;
  float *clip = clip_with (index, value);
  char cpu[512], vulkan[512];
  gboolean ran;
  char *where =
      g_strdup_printf ("%s at channel 1, frame 2, row 3, column 4", what);

  g_assert_cmpint (run (ADATOSK_BACKEND_CPU, clip, cpu, &ran), ==,
      ADATOSK_ERROR_INVALID_ARGUMENT);
  g_test_message ("cpu: %s", cpu);
  g_assert_nonnull (strstr (cpu, where));
  g_assert_nonnull (strstr (cpu, "must be finite"));
  AdatoskStatus vk = run (ADATOSK_BACKEND_VULKAN, clip, vulkan, &ran);
  if (ran) {
    g_assert_cmpint (vk, ==, ADATOSK_ERROR_INVALID_ARGUMENT);
    g_assert_cmpstr (vulkan, ==, cpu);
  }
  g_free (where);
  g_free (clip);
}

static void
test_nan (void)
{
  check_refused (NAN, "a NaN");
}

static void
test_infinity (void)
{
  check_refused (-INFINITY, "an infinite value");
}

/* The last float of the clip is checked too. */
static void
test_last_float (void)
{
  float *clip = clip_with (clip_floats - 1, NAN);
  char message[512];
  gboolean ran;

  g_assert_cmpint (run (ADATOSK_BACKEND_CPU, clip, message, &ran), ==,
      ADATOSK_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (message, "a NaN"));
  g_free (clip);
}

/* Finite values far beyond a normalised clip overflow float32 inside the
 * forward: an error from both backends, not NaN probabilities. */
static void
test_overflow (void)
{
  float *clip = g_new (float, clip_floats);
  char cpu[512], vulkan[512];
  gboolean ran;

  for (size_t i = 0; i < clip_floats; i++)
    clip[i] = (i % 2 ? 3e38f : -3e38f);
  g_assert_cmpint (run (ADATOSK_BACKEND_CPU, clip, cpu, &ran), ==,
      ADATOSK_ERROR_BACKEND);
  g_test_message ("cpu: %s", cpu);
  g_assert_nonnull (strstr (cpu, "non-finite"));
  AdatoskStatus vk = run (ADATOSK_BACKEND_VULKAN, clip, vulkan, &ran);
  if (ran) {
    g_test_message ("vulkan: %s", vulkan);
    g_assert_cmpint (vk, ==, ADATOSK_ERROR_BACKEND);
    g_assert_nonnull (strstr (vulkan, "non-finite"));
  }
  g_free (clip);
}

/* The checks let a real clip through on both backends. */
static void
test_finite_clip_runs (void)
{
  char message[512];
  gboolean ran;

  g_assert_cmpint (run (ADATOSK_BACKEND_CPU, good_clip, message, &ran), ==,
      ADATOSK_OK);
  AdatoskStatus vk = run (ADATOSK_BACKEND_VULKAN, good_clip, message, &ran);
  if (ran)
    g_assert_cmpint (vk, ==, ADATOSK_OK);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_assert_cmpint (argc, ==, 2);
  char *model_path = g_build_filename (argv[1], "model.safetensors", NULL);
  char *clip_path = g_build_filename (argv[1], "clip.f32", NULL);
  AdatoskError error;
  gsize size;

  if (adatosk_model_load (model_path, &model, &error) != ADATOSK_OK)
    g_error ("%s", error.message);
  g_assert_true (
      g_file_get_contents (clip_path, (char **) &good_clip, &size, NULL));
  clip_floats = size / sizeof (float);
  const AdatoskConfig *c = adatosk_model_get_config (model);
  g_assert_cmpuint (clip_floats, ==,
      (size_t) 3 * c->num_frames * c->img_height * c->img_width);

  g_test_add_func ("/nonfinite/nan", test_nan);
  g_test_add_func ("/nonfinite/infinity", test_infinity);
  g_test_add_func ("/nonfinite/last-float", test_last_float);
  g_test_add_func ("/nonfinite/overflow", test_overflow);
  g_test_add_func ("/nonfinite/finite-clip-runs", test_finite_clip_runs);
  int status = g_test_run ();
  adatosk_model_free (model);
  g_free (good_clip);
  g_free (model_path);
  g_free (clip_path);
  return status;
}
