/* The Vulkan forward against the PyTorch reference run in float64 (the
 * fixtures train/gen_parity_fixtures.py writes for tests/unit/test_parity.c):
 * fp32 storage within the spec's Vulkan bound (logits NMSE <= 1e-8, the
 * same kept tokens, probabilities, g and m within 1e-5), fp16 weight storage
 * within 5e-4 (on two of the cases).
 * usage: test_vk_parity FIXTURE_DIR
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vk_test.h"
#include "vulkan/vulkan_backend.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static double *
doubles (JsonObject *obj, const char *member, guint *length)
{
  JsonArray *array = json_object_get_array_member (obj, member);
  *length = json_array_get_length (array);
  double *values = g_new (double, *length);
  for (guint i = 0; i < *length; i++)
    values[i] = json_array_get_double_element (array, i);
  return values;
}

static double
max_abs (const float *got, const double *want, guint n)
{
  double worst = 0;
  for (guint i = 0; i < n; i++) {
    if (!isfinite (got[i]))
      return INFINITY;
    worst = fmax (worst, fabs (got[i] - want[i]));
  }
  return worst;
}

static void
check_case (const char *fixtures, const char *name)
{
  char *dir = g_build_filename (fixtures, name, NULL);
  char *model_path = g_build_filename (dir, "model.safetensors", NULL);
  char *clip_path = g_build_filename (dir, "clip.f32", NULL);
  char *expected_path = g_build_filename (dir, "expected.json", NULL);
  AdatoskError error = {0};
  AdatoskModel *model = NULL;
  char *clip = NULL;
  gsize clip_size = 0;
  JsonParser *parser = json_parser_new ();
  if (adatosk_model_load (model_path, &model, &error) != ADATOSK_OK
      || !g_file_get_contents (clip_path, &clip, &clip_size, NULL)
      || !json_parser_load_from_file (parser, expected_path, NULL)) {
    CHECK (false, "%s: cannot read the fixture (%s)", name, error.message);
    goto out;
  }
  JsonObject *expected = json_node_get_object (json_parser_get_root (parser));
  double keep = json_object_get_double_member (expected, "keep_ratio");
  guint c, t, n, k;
  double *logits = doubles (expected, "logits", &c);
  double *probs = doubles (expected, "probs", &c);
  double *g = doubles (expected, "significance", &t);
  double *m = doubles (expected, "token_mask", &n);
  double *kept = doubles (expected, "kept_tokens", &k);
  AdatoskOutput *out = adatosk_output_new (model);

  /* fp16 storage on two cases is enough (test_vk_forward covers more). */
  int runs = strcmp (name, "tiny") == 0 || strcmp (name, "mixed") == 0 ? 2 : 1;
  for (int half = 0; half < runs; half++) {
    AdatoskVkBackend *vk = adatosk_vk_backend_new (model, -1, half, &error);
    CHECK (vk != NULL, "%s: %s", name, error.message);
    if (!vk)
      continue;
    CHECK_OK (adatosk_vk_backend_forward (vk, (const float *) clip, keep, out,
                  &error),
        error);
    double num = 0, den = 0;
    for (guint i = 0; i < c; i++) {
      num += (out->logits[i] - logits[i]) * (out->logits[i] - logits[i]);
      den += logits[i] * logits[i];
    }
    double nmse = isfinite (num) ? num / den : INFINITY;
    int wrong = out->num_kept == (int) k ? 0 : (int) k;
    for (guint j = 0; j < k && !wrong; j++)
      wrong += out->kept_tokens[j] != (int) kept[j];
    double p = max_abs (out->probs, probs, c),
           ge = max_abs (out->significance, g, t);
    double me = max_abs (out->token_mask, m, n);
    printf ("  %-9s %s: logits NMSE %.3g, probs %.2g, g %.2g, m %.2g, kept "
            "%d/%u differ\n",
        name, half ? "fp16" : "fp32", nmse, p, ge, me, wrong, k);
    if (half) {
      CHECK (nmse <= 5e-4, "%s fp16: logits NMSE %.3g", name, nmse);
    } else {
      CHECK (nmse <= 1e-8, "%s: logits NMSE %.3g", name, nmse);
      CHECK (wrong == 0, "%s: %d kept tokens differ", name, wrong);
      CHECK (p <= 1e-5 && ge <= 1e-5 && me <= 1e-5,
          "%s: probs %.3g, g %.3g, m %.3g", name, p, ge, me);
    }
    adatosk_vk_backend_free (vk);
  }
  adatosk_output_free (out);
  g_free (logits);
  g_free (probs);
  g_free (g);
  g_free (m);
  g_free (kept);
out:
  g_object_unref (parser);
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
  if (argc != 2) {
    fprintf (stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  vk_test_require_device ();
  char *list_path = g_build_filename (argv[1], "cases.txt", NULL), *list = NULL;
  if (!g_file_get_contents (list_path, &list, NULL, NULL)) {
    fprintf (stderr, "no %s\n", list_path);
    return 1;
  }
  char **cases = g_strsplit (g_strstrip (list), "\n", -1);
  for (char **name = cases; *name; name++)
    if (**name)
      check_case (argv[1], *name);
  g_strfreev (cases);
  g_free (list);
  g_free (list_path);
  unsigned messages = adatosk_vk_validation_message_count ();
  CHECK (messages == 0, "the validation layer reported %u messages", messages);
  return vk_test_failures ? 1 : 0;
}
