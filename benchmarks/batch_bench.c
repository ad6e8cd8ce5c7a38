/* adatosk-batch-bench: the CPU forward in batches against single clips, with
 * OpenBLAS's sgemm rate measured in the same run as the peer (the ceiling of
 * a GEMM-bound model; `adatosk bench` uses the same 2048^3 product).
 *
 *   adatosk-batch-bench [--configs adatosk-tiny,adatosk-b] [--batches 1,8]
 *       [--keep 0.5] [--threads 2] [--repeat 5] [--cpu-time] [--out FILE.md]
 *
 * Random weights from a seed in the named configurations' sizes
 * (tests/vulkan/test_model.c), a different moving clip per batch slot. The
 * sgemm and the batch sizes are timed interleaved (sgemm, 1, 8, sgemm, 1,
 * 8, ...) after a warm-up round, so that a load change on a shared machine
 * hits them alike; per column the median of --repeat rounds.
 * Prints a Markdown table; --out appends it to a file as well. --cpu-time
 * times the process's CPU time instead of wall time (divided by the
 * threads for the rates): on a shared machine it shows a single thread's
 * efficiency through the noise, and hides what threads lose waiting.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"
#include "sgemm_rate.h"
#include "test_model.h"
#include "timing.h"

#include <cblas.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BATCHES 8
#define MAX_REPEAT 63

typedef struct
{
  char **configs;
  int batches[MAX_BATCHES];
  int num_batches;
  double keep;
  int threads;
  int repeat;
  bool cpu_time;
  const char *out;
} Options;

/* The named configurations (train/adatosk/config.py). */
static gboolean
config_spec (const char *name, TestModelSpec *spec)
{
  static const TestModelSpec specs[] = {
      {"adatosk-b", 16, 160, 160, 2, 16, 768, 12, 12, 4, 7, 0.5},
      {"adatosk-s", 16, 160, 160, 2, 16, 384, 12, 6, 4, 7, 0.5},
      {"adatosk-tiny", 16, 112, 112, 2, 16, 192, 6, 3, 2, 7, 0.5},
  };
  for (size_t i = 0; i < G_N_ELEMENTS (specs); i++)
    if (strcmp (specs[i].name, name) == 0) {
      *spec = specs[i];
      return TRUE;
    }
  return FALSE;
}

static gboolean
parse_options (int argc, char **argv, Options *o)
{
  const char *configs = "adatosk-tiny,adatosk-b", *batches = "1,8";
  o->keep = 0.5;
  o->threads = 2;
  o->repeat = 5;
  o->out = NULL;
  o->cpu_time = false;
  for (int i = 1; i < argc; i += 2) {
    if (!strcmp (argv[i], "--cpu-time")) {
      o->cpu_time = true;
      i--; /* a flag without a value */
      continue;
    }
    if (i + 1 >= argc)
      return FALSE;
    const char *name = argv[i], *value = argv[i + 1];
    if (!strcmp (name, "--configs"))
      configs = value;
    else if (!strcmp (name, "--batches"))
      batches = value;
    else if (!strcmp (name, "--keep"))
      o->keep = g_ascii_strtod (value, NULL);
    else if (!strcmp (name, "--threads"))
      o->threads = atoi (value);
    else if (!strcmp (name, "--repeat"))
      o->repeat = atoi (value);
    else if (!strcmp (name, "--out"))
      o->out = value;
    else
      return FALSE;
  }
  if (o->threads < 1 || o->repeat < 1 || o->repeat > MAX_REPEAT
      || !(o->keep > 0.0 && o->keep <= 1.0))
    return FALSE;
  char **list = g_strsplit (batches, ",", -1);
  o->num_batches = 0;
  gboolean ok = TRUE;
  for (char **b = list; *b && ok; b++) {
    int v = atoi (*b);
    ok = v >= 1 && v <= 256 && o->num_batches < MAX_BATCHES;
    if (ok)
      o->batches[o->num_batches++] = v;
  }
  g_strfreev (list);
  /* The first batch size is the baseline of the ratio column. */
  ok = ok && o->num_batches > 0;
  o->configs = ok ? g_strsplit (configs, ",", -1) : NULL;
  return ok;
}

static void emit (FILE *extra, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
emit (FILE *extra, const char *format, ...)
{
  va_list args;
  va_start (args, format);
  char *text = g_strdup_vprintf (format, args);
  va_end (args);
  fputs (text, stdout);
  fflush (stdout);
  if (extra)
    fputs (text, extra);
  g_free (text);
}

static double
load_average (void)
{
  double load = -1.0;
  FILE *f = fopen ("/proc/loadavg", "r");
  if (f) {
    if (fscanf (f, "%lf", &load) != 1)
      load = -1.0;
    fclose (f);
  }
  return load;
}

/* Times every batch size of `o` on `name`; false when it cannot run. */
static gboolean
bench_config (const Options *o, const char *name, FILE *out)
{
  TestModelSpec spec;
  if (!config_spec (name, &spec)) {
    fprintf (stderr,
        "batch-bench: unknown config %s "
        "(adatosk-b, adatosk-s, adatosk-tiny)\n",
        name);
    return FALSE;
  }
  AdatoskModel *model = test_model_new (&spec, 1);
  if (!model)
    return FALSE;
  const AdatoskConfig *c = adatosk_model_get_config (model);
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  options.kind = ADATOSK_BACKEND_CPU;
  options.threads = o->threads;
  AdatoskBackend *backend = NULL;
  AdatoskError error;
  if (adatosk_backend_new (model, &options, &backend, &error) != ADATOSK_OK) {
    fprintf (stderr, "batch-bench: %s\n", error.message);
    adatosk_model_free (model);
    return FALSE;
  }
  int most = 0;
  for (int b = 0; b < o->num_batches; b++)
    most = MAX (most, o->batches[b]);
  float **clips = g_new (float *, most);
  AdatoskOutput **outs = g_new (AdatoskOutput *, most);
  for (int i = 0; i < most; i++) {
    clips[i] = test_clip_new (c, 100 + (uint64_t) i, 0);
    outs[i] = adatosk_output_new (model);
  }

  double load_before = load_average ();
  double times[MAX_BATCHES][MAX_REPEAT + 1], sgemm[MAX_REPEAT + 1];
  gboolean ok = TRUE;
  for (int r = -1; r < o->repeat && ok; r++) { /* r = -1 warms up */
    double rate = sgemm_gflops (2048, 1, o->threads, o->cpu_time);
    if (r >= 0)
      sgemm[r] = rate;
    for (int b = 0; b < o->num_batches && ok; b++) {
      double start = timing_clock_ms (o->cpu_time);
      ok = adatosk_backend_forward_batch (backend, (const float *const *) clips,
               o->batches[b], o->keep, outs, &error)
          == ADATOSK_OK;
      if (r >= 0)
        times[b][r] = (timing_clock_ms (o->cpu_time) - start)
            / (o->cpu_time ? o->threads : 1);
    }
  }
  if (!ok)
    fprintf (stderr, "batch-bench: %s\n", error.message);
  double low = sgemm[0], high = sgemm[0];
  for (int r = 1; r < o->repeat; r++) {
    low = MIN (low, sgemm[r]);
    high = MAX (high, sgemm[r]);
  }
  double peak = timing_median (sgemm, o->repeat);

  double gflop = adatosk_config_gflops (c, o->keep);
  emit (out,
      "\n%s, keep %.2f (%d of %d tokens after the ATSM), %.2f GFLOP per clip; "
      "sgemm 2048^3 median %.1f GFLOP/s (%.1f to %.1f over the rounds); load "
      "average %.2f before, %.2f after\n\n",
      name, o->keep, adatosk_kept_tokens (c->num_tokens, o->keep),
      c->num_tokens, gflop, peak, low, high, load_before, load_average ());
  emit (out,
      "| config | batch | ms per call (median) | ms per clip | per clip "
      "vs batch %d | GFLOP/s | of sgemm |\n",
      o->batches[0]);
  emit (out, "|---|---|---|---|---|---|---|\n");
  double base = 0.0;
  for (int b = 0; b < o->num_batches && ok; b++) {
    double call = timing_median (times[b], o->repeat);
    double per_clip = call / o->batches[b];
    if (b == 0)
      base = per_clip;
    double rate = gflop / (per_clip * 1e-3);
    emit (out, "| %s | %d | %.1f | %.2f | %.2f | %.1f | %.0f%% |\n", name,
        o->batches[b], call, per_clip, per_clip / base, rate,
        100.0 * rate / peak);
  }

  for (int i = 0; i < most; i++) {
    free (clips[i]);
    adatosk_output_free (outs[i]);
  }
  g_free (clips);
  g_free (outs);
  adatosk_backend_free (backend);
  adatosk_model_free (model);
  return ok;
}

int
main (int argc, char **argv)
{
  Options o;
  if (!parse_options (argc, argv, &o)) {
    fprintf (stderr,
        "usage: adatosk-batch-bench [--configs "
        "adatosk-tiny,adatosk-b] [--batches 1,8] [--keep 0.5] "
        "[--threads 2] [--repeat 5 (1-63)] [--cpu-time] [--out FILE.md]\n");
    return 2;
  }
  FILE *out = NULL;
  if (o.out && !(out = fopen (o.out, "a"))) {
    perror (o.out);
    return 1;
  }
  emit (out,
      "adatosk-batch-bench: OpenBLAS %s, %d threads, %ld cores online, "
      "median of %d calls per batch size, interleaved%s\n",
      openblas_get_corename (), o.threads, sysconf (_SC_NPROCESSORS_ONLN),
      o.repeat, o.cpu_time ? "; CPU time per thread, not wall time" : "");
  int status = 0;
  for (char **config = o.configs; *config; config++)
    if (!bench_config (&o, *config, out))
      status = 1;
  if (out)
    fclose (out);
  g_strfreev (o.configs);
  return status;
}
