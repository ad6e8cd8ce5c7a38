/* The C CPU forward against the PyTorch reference run in float64 on the same
 * weights and input, held to the spec's section 9 tolerances. The fixtures
 * come from train/gen_parity_fixtures.py (run at build time).
 * usage: test-parity FIXTURE_DIR
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>

static const char *fixture_dir;

static double *
json_doubles (JsonObject *obj, const char *member, guint *length)
{
  g_assert_true (json_object_has_member (obj, member));
  JsonArray *array = json_object_get_array_member (obj, member);
  *length = json_array_get_length (array);
  double *values = g_new (double, *length);
  for (guint i = 0; i < *length; i++)
    values[i] = json_array_get_double_element (array, i);
  return values;
}

static double
max_abs_error (const float *got, const double *want, guint n)
{
  double worst = 0.0;
  for (guint i = 0; i < n; i++) {
    double e = fabs (got[i] - want[i]);
    if (isnan (e))
      return INFINITY;
    worst = fmax (worst, e);
  }
  return worst;
}

static void
check_case (gconstpointer data)
{
  const char *name = data;
  char *dir = g_build_filename (fixture_dir, name, NULL);
  char *model_path = g_build_filename (dir, "model.safetensors", NULL);
  char *clip_path = g_build_filename (dir, "clip.f32", NULL);
  char *expected_path = g_build_filename (dir, "expected.json", NULL);

  AdatoskError error;
  AdatoskModel *model = NULL;
  if (adatosk_model_load (model_path, &model, &error) != ADATOSK_OK)
    g_error ("%s", error.message);
  const AdatoskConfig *c = adatosk_model_get_config (model);

  char *clip;
  gsize clip_size;
  g_assert_true (g_file_get_contents (clip_path, &clip, &clip_size, NULL));
  g_assert_cmpuint (clip_size, ==,
      (gsize) 12 * c->num_frames * c->img_height * c->img_width);

  JsonParser *parser = json_parser_new ();
  g_assert_true (json_parser_load_from_file (parser, expected_path, NULL));
  JsonObject *expected = json_node_get_object (json_parser_get_root (parser));
  double keep = json_object_get_double_member (expected, "keep_ratio");

  AdatoskBackendOptions options = {ADATOSK_BACKEND_CPU, 0, -1, 0};
  AdatoskBackend *backend;
  g_assert_cmpint (adatosk_backend_new (model, &options, &backend, &error), ==,
      ADATOSK_OK);
  AdatoskOutput *out = adatosk_output_new (model);
  if (adatosk_backend_forward (backend, (const float *) clip, keep, out, &error)
      != ADATOSK_OK)
    g_error ("%s", error.message);

  guint n;
  double *logits = json_doubles (expected, "logits", &n);
  g_assert_cmpuint (n, ==, (guint) c->num_classes);
  double num = 0.0, den = 0.0;
  for (guint i = 0; i < n; i++) {
    num += (out->logits[i] - logits[i]) * (out->logits[i] - logits[i]);
    den += logits[i] * logits[i];
  }
  double logits_nmse = num / den;
  double *probs = json_doubles (expected, "probs", &n);
  double probs_err = max_abs_error (out->probs, probs, n);
  double *g = json_doubles (expected, "significance", &n);
  g_assert_cmpuint (n, ==, (guint) c->num_slots);
  double g_err = max_abs_error (out->significance, g, n);
  double *kept_fraction = json_doubles (expected, "kept_fraction", &n);
  double kf_err = max_abs_error (out->kept_fraction, kept_fraction, n);
  double *m = json_doubles (expected, "token_mask", &n);
  g_assert_cmpuint (n, ==, (guint) c->num_tokens);
  double m_err = max_abs_error (out->token_mask, m, n);
  double *kept = json_doubles (expected, "kept_tokens", &n);

  g_test_message ("%s: logits NMSE %.3g, probs %.3g, g %.3g, m %.3g, kept %d "
                  "of %d",
      name, logits_nmse, probs_err, g_err, m_err, out->num_kept, c->num_tokens);
  g_assert_true (isfinite (logits_nmse));
  g_assert_cmpfloat (logits_nmse, <=, 1e-10);
  g_assert_cmpfloat (probs_err, <=, 1e-6);
  g_assert_cmpfloat (g_err, <=, 1e-5);
  g_assert_cmpfloat (m_err, <=, 1e-5);
  g_assert_cmpfloat (kf_err, <=, 1e-6);
  g_assert_cmpint (out->num_kept, ==, (int) n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (out->kept_tokens[i], ==, (int) kept[i]);

  g_free (logits);
  g_free (probs);
  g_free (g);
  g_free (kept_fraction);
  g_free (m);
  g_free (kept);
  g_object_unref (parser);
  adatosk_output_free (out);
  adatosk_backend_free (backend);
  adatosk_model_free (model);
  g_free (clip);
  g_free (dir);
  g_free (model_path);
  g_free (clip_path);
  g_free (expected_path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (argc != 2)
    g_error ("usage: %s FIXTURE_DIR", argv[0]);
  fixture_dir = argv[1];
  char *list_path = g_build_filename (fixture_dir, "cases.txt", NULL);
  char *list;
  if (!g_file_get_contents (list_path, &list, NULL, NULL))
    g_error ("no %s: run train/gen_parity_fixtures.py --out %s", list_path,
        fixture_dir);
  char **cases = g_strsplit (g_strstrip (list), "\n", -1);
  for (char **name = cases; *name; name++) {
    char *path = g_strdup_printf ("/parity/%s", *name);
    g_test_add_data_func (path, *name, check_case);
    g_free (path);
  }
  int status = g_test_run ();
  g_strfreev (cases);
  g_free (list);
  g_free (list_path);
  return status;
}
