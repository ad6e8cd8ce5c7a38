/* `adatosk bench`: the CPU forward's speed beside two peers measured in the
 * same run: OpenBLAS's own sgemm rate (the ceiling for a GEMM-bound model)
 * and the PyTorch reference (train/bench_reference.py) on the same weights
 * with the same thread count.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "sgemm_rate.h"
#include "timing.h"

#include <cblas.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  char **configs;
  double keeps[8];
  int num_keeps;
  int threads;
  int repeat;
  const char *python;
  const char *reference;
} BenchOptions;

/* Runs the PyTorch reference; it writes the model file and prints one JSON
 * line with its median time. `allocator` is "default" (PyTorch as it runs out
 * of the box) or "tuned" (glibc kept from returning large blocks to the
 * kernel, which saves PyTorch a page-fault storm per attention matrix).
 * Returns the time, or < 0 on failure. */
static double
reference_ms (const BenchOptions *opt, const char *config, double keep,
    const char *allocator, const char *model_path)
{
  char keep_s[32], threads_s[16], repeat_s[16];
  g_snprintf (keep_s, sizeof keep_s, "%g", keep);
  g_snprintf (threads_s, sizeof threads_s, "%d", opt->threads);
  g_snprintf (repeat_s, sizeof repeat_s, "%d", opt->repeat);
  const char *argv[] = {opt->python, opt->reference, "--config", config,
      "--keep", keep_s, "--threads", threads_s, "--repeat", repeat_s, "--seed",
      "0", "--malloc", allocator, "--model-out", model_path, NULL};
  char *out = NULL, *err = NULL;
  int wait_status = 0;
  GError *error = NULL;
  double ms = -1.0;
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          &out, &err, &wait_status, &error)) {
    fprintf (stderr, "bench: cannot run %s: %s\n", opt->python, error->message);
    g_error_free (error);
    return -1.0;
  }
  if (!g_spawn_check_wait_status (wait_status, NULL)) {
    fprintf (stderr, "bench: the PyTorch reference failed:\n%s\n", err);
    goto done;
  }
  JsonParser *parser = json_parser_new ();
  const char *last_line = strrchr (g_strchomp (out), '\n');
  last_line = last_line ? last_line + 1 : out;
  if (json_parser_load_from_data (parser, last_line, -1, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    JsonObject *obj = json_node_get_object (json_parser_get_root (parser));
    if (json_object_has_member (obj, "ms_median"))
      ms = json_object_get_double_member (obj, "ms_median");
  }
  if (ms < 0.0)
    fprintf (stderr, "bench: unexpected reference output: %s\n", out);
  g_object_unref (parser);
done:
  g_free (out);
  g_free (err);
  return ms;
}

/* Median ms of the C CPU forward on a random normalised clip. */
static double
forward_ms (const BenchOptions *opt, const AdatoskModel *model, double keep)
{
  const AdatoskConfig *c = adatosk_model_get_config (model);
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  options.kind = ADATOSK_BACKEND_CPU;
  options.threads = opt->threads;
  AdatoskBackend *backend;
  AdatoskError error;
  if (adatosk_backend_new (model, &options, &backend, &error) != ADATOSK_OK) {
    fprintf (stderr, "bench: %s\n", error.message);
    return -1.0;
  }
  size_t count = (size_t) 3 * c->num_frames * c->img_height * c->img_width;
  float *clip = malloc (count * sizeof (float));
  GRand *rand = g_rand_new_with_seed (1);
  for (size_t i = 0; i < count; i++)
    clip[i] = (float) g_rand_double_range (rand, -2.0, 2.0);
  AdatoskOutput *out = adatosk_output_new (model);
  double times[64];
  for (int r = 0; r <= opt->repeat; r++) {
    double start = timing_now_ms ();
    adatosk_backend_forward (backend, clip, keep, out, NULL);
    if (r > 0)
      times[r - 1] = timing_now_ms () - start;
  }
  g_rand_free (rand);
  adatosk_output_free (out);
  free (clip);
  adatosk_backend_free (backend);
  return timing_median (times, opt->repeat);
}

static int
parse_options (int argc, char **argv, BenchOptions *opt)
{
  const char *configs = "adatosk-b,adatosk-tiny", *keeps = "1.0,0.5";
  opt->threads = (int) sysconf (_SC_NPROCESSORS_ONLN);
  opt->repeat = 5;
  opt->python = "/usr/bin/python3";
  opt->reference = ADATOSK_SOURCE_DIR "/train/bench_reference.py";
  for (int i = 0; i < argc; i += 2) {
    if (i + 1 >= argc)
      return 0;
    const char *name = argv[i], *value = argv[i + 1];
    if (!strcmp (name, "--configs"))
      configs = value;
    else if (!strcmp (name, "--keeps"))
      keeps = value;
    else if (!strcmp (name, "--threads"))
      opt->threads = atoi (value);
    else if (!strcmp (name, "--repeat"))
      opt->repeat = atoi (value);
    else if (!strcmp (name, "--python"))
      opt->python = value;
    else if (!strcmp (name, "--reference"))
      opt->reference = value;
    else
      return 0;
  }
  if (opt->threads < 1 || opt->repeat < 1 || opt->repeat > 63)
    return 0;
  opt->configs = g_strsplit (configs, ",", -1);
  char **keep_list = g_strsplit (keeps, ",", -1);
  opt->num_keeps = 0;
  for (char **k = keep_list; *k && opt->num_keeps < 8; k++) {
    double v = g_ascii_strtod (*k, NULL);
    if (!(v > 0.0 && v <= 1.0)) {
      g_strfreev (keep_list);
      return 0;
    }
    opt->keeps[opt->num_keeps++] = v;
  }
  g_strfreev (keep_list);
  return opt->num_keeps > 0;
}

int
cli_bench (int argc, char **argv)
{
  BenchOptions opt;
  if (!parse_options (argc, argv, &opt)) {
    fprintf (stderr,
        "usage: adatosk bench [--configs adatosk-b,adatosk-tiny] "
        "[--keeps 1.0,0.5] [--threads N] [--repeat N (1-63)] [--python PATH] "
        "[--reference train/bench_reference.py]\n");
    return 2;
  }
  double peak = sgemm_gflops (2048, 3, opt.threads, false);
  printf ("threads %d, OpenBLAS %s, sgemm 2048^3: %.1f GFLOP/s, median of %d "
          "runs per row\n\n",
      opt.threads, openblas_get_corename (), peak, opt.repeat);
  printf (
      "| config | keep | tokens after ATSM | GFLOP | C ms | C GFLOP/s | of "
      "sgemm "
      "| PyTorch ms | C / PyTorch | PyTorch ms, tuned malloc | C / tuned |\n");
  printf ("|---|---|---|---|---|---|---|---|---|---|---|\n");

  char *dir = g_dir_make_tmp ("adatosk-bench-XXXXXX", NULL);
  int status = 0;
  for (char **config = opt.configs; *config && dir; config++) {
    char *path = g_strdup_printf ("%s/%s.safetensors", dir, *config);
    for (int k = 0; k < opt.num_keeps; k++) {
      double tuned_ms =
          reference_ms (&opt, *config, opt.keeps[k], "tuned", path);
      double torch_ms =
          reference_ms (&opt, *config, opt.keeps[k], "default", path);
      AdatoskModel *model;
      if (torch_ms < 0.0 || tuned_ms < 0.0 || !cli_load_model (path, &model)) {
        status = 1;
        break;
      }
      const AdatoskConfig *c = adatosk_model_get_config (model);
      double c_ms = forward_ms (&opt, model, opt.keeps[k]);
      double gflop = adatosk_config_gflops (c, opt.keeps[k]);
      double rate = gflop / (c_ms * 1e-3);
      printf ("| %s | %.2f | %d of %d | %.1f | %.1f | %.1f | %.0f%% | %.1f | "
              "%.2f | %.1f | %.2f |\n",
          *config, opt.keeps[k],
          adatosk_kept_tokens (c->num_tokens, opt.keeps[k]), c->num_tokens,
          gflop, c_ms, rate, 100.0 * rate / peak, torch_ms, c_ms / torch_ms,
          tuned_ms, c_ms / tuned_ms);
      fflush (stdout);
      adatosk_model_free (model);
    }
    g_unlink (path);
    g_free (path);
  }
  if (dir)
    g_rmdir (dir);
  g_free (dir);
  g_strfreev (opt.configs);
  return status;
}
