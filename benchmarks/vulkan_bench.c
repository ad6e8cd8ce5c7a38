/* adatosk-vulkan-bench: the Vulkan forward's speed beside its peers measured
 * in the same run: the CPU backend (OpenBLAS) and, where PyTorch has CUDA,
 * PyTorch's eager forward of the same weights on the GPU (fp32 with TF32 off,
 * and fp16); the model's GEMM shapes and a square one beside torch.matmul's
 * fp32 rate on the same shapes; per-kernel GPU times with --profile.
 *
 *   adatosk-vulkan-bench [--config adatosk-b|adatosk-s|adatosk-tiny] [--keeps 1.0,0.5]
 *       [--repeat N] [--warmup-ms MS] [--time-limit S] [--device N] [--no-cpu]
 *       [--allow-cpu-device] [--profile] [--square N] [--out FILE]
 *       [--peer PATH|none] [--python PATH] [--probe] [--variants gpu,cpu]
 *
 * It prints the device first, and refuses a CPU Vulkan device (lavapipe:
 * minutes per adatosk-b forward) unless --allow-cpu-device. The weights are
 * made here from a seed (tests/vulkan/test_model.c) and written to a
 * temporary file for the PyTorch peer (benchmarks/vulkan_bench_peer.py,
 * found at run time: --peer, $ADATOSK_BENCH_PEER, ./benchmarks/, or beside
 * this program's source tree); without the peer or without CUDA its columns
 * are "-". Both sides upload the clip and read the results back inside the
 * timed region, both warm up for --warmup-ms first (clock ramp). Every table
 * also goes to --out. --time-limit bounds the timed repeats (each series
 * stops early, after at least one run, once the limit is spent).
 *
 * Kernel variants (src/vulkan/README.md): the forward runs once per variant
 * of --variants (gpu: gemm_vec4 + attention_gpu, cpu: the lavapipe-tuned
 * gemm + attention; the device's own choice is marked), one row each, with
 * a per-kernel table each under --profile; the GEMM table has a column per
 * vec4 tile shape beside the automatic pick and gemm.comp.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"
#include "test_model.h"
#include "timing.h"
#include "vulkan/ops.h"
#include "vulkan/vulkan_backend.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_KEEPS 8
#define MAX_SHAPES 16

typedef struct {
  const char *config, *peer, *python, *out_path, *variants;
  double keeps[MAX_KEEPS];
  int num_keeps, repeat, device, square, threads;
  double warmup_ms, time_limit_s;
  bool cpu, allow_cpu_device, profile, probe;
} Options;

typedef struct {
  const char *what;
  uint32_t m, n, k;
} Shape;

/* What the PyTorch peer printed; negative where it has no number. */
typedef struct {
  bool ran;
  char device[256], torch[64], note[512];
  double fp32[MAX_KEEPS], fp16[MAX_KEEPS], matmul[MAX_SHAPES];
} Peer;

static FILE *out_file;
static double deadline_ms;

/* Prints to stdout and to --out. */
static void
emit (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static void
emit (const char *format, ...)
{
  va_list args;
  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  if (out_file) {
    va_start (args, format);
    vfprintf (out_file, format, args);
    va_end (args);
  }
  fflush (stdout);
}

static void
cell (double value, const char *format)
{
  if (value < 0)
    emit (" - |");
  else {
    char text[64];
    snprintf (text, sizeof text, format, value);
    emit (" %s |", text);
  }
}

static bool
out_of_time (void)
{
  return deadline_ms > 0 && timing_now_ms () > deadline_ms;
}

/* The named configurations (train/adatosk/config.py), random weights. */
static bool
config_spec (const char *name, TestModelSpec *spec)
{
  static const TestModelSpec specs[] = {
    { "adatosk-b", 16, 160, 160, 2, 16, 768, 12, 12, 4, 7, 0.5 },
    { "adatosk-s", 16, 160, 160, 2, 16, 384, 12, 6, 4, 7, 0.5 },
    { "adatosk-tiny", 16, 112, 112, 2, 16, 192, 6, 3, 2, 7, 0.5 },
  };
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
    if (strcmp (specs[i].name, name) == 0) {
      *spec = specs[i];
      return true;
    }
  return false;
}

static const char *
find_peer (const Options *o, char *buffer, size_t size)
{
  if (o->peer)
    return strcmp (o->peer, "none") == 0 ? NULL : o->peer;
  const char *env = getenv ("ADATOSK_BENCH_PEER");
  if (env && env[0])
    return env;
  /* From the working directory (the repository root), then from this
   * program's place in a build directory inside the source tree. */
  const char *candidates[] = { "benchmarks/vulkan_bench_peer.py", NULL, NULL };
  char exe[1024];
  ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  char up1[1200], up2[1200];
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr (exe, '/');
    if (slash)
      *slash = '\0';
    snprintf (up1, sizeof up1, "%s/../../benchmarks/vulkan_bench_peer.py", exe);
    snprintf (up2, sizeof up2, "%s/../../../benchmarks/vulkan_bench_peer.py", exe);
    candidates[1] = up1;
    candidates[2] = up2;
  }
  for (size_t i = 0; i < 3; i++)
    if (candidates[i] && access (candidates[i], R_OK) == 0) {
      snprintf (buffer, size, "%s", candidates[i]);
      return buffer;
    }
  return NULL;
}

static double
json_ms (JsonObject *root, const char *member, const char *key)
{
  JsonNode *node = json_object_get_member (root, member);
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    return -1;
  JsonObject *times = json_node_get_object (node);
  if (!json_object_has_member (times, key))
    return -1;
  JsonNode *value = json_object_get_member (times, key);
  return JSON_NODE_HOLDS_VALUE (value) ? json_node_get_double (value) : -1;
}

/* Runs the peer on the weights in `model_path`; never fatal. */
static void
run_peer (const Options *o, const char *script, const char *model_path, const Shape *shapes,
    int num_shapes, Peer *peer)
{
  char keeps[128] = "", shape_text[512] = "", command[2048];
  for (int i = 0; i < o->num_keeps; i++)
    snprintf (keeps + strlen (keeps), sizeof keeps - strlen (keeps), "%s%.2f",
        i ? "," : "", o->keeps[i]);
  for (int i = 0; i < num_shapes; i++)
    snprintf (shape_text + strlen (shape_text), sizeof shape_text - strlen (shape_text),
        "%s%ux%ux%u", i ? "," : "", shapes[i].m, shapes[i].n, shapes[i].k);
  snprintf (command, sizeof command, "%s %s --model %s --keeps %s --repeat %d "
      "--warmup-ms %.0f --shapes %s", o->python, script, model_path, keeps, o->repeat,
      o->warmup_ms, shape_text);
  fprintf (stderr, "peer: %s\n", command);
  FILE *pipe = popen (command, "r");
  char line[8192] = "";
  bool got = pipe && fgets (line, sizeof line, pipe);
  int status = pipe ? pclose (pipe) : -1;
  if (!got || status != 0) {
    snprintf (peer->note, sizeof peer->note, "the PyTorch peer failed (exit %d; is "
        "python3-torch installed?)", status);
    return;
  }
  JsonParser *parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, line, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    snprintf (peer->note, sizeof peer->note, "the PyTorch peer printed no JSON");
    g_object_unref (parser);
    return;
  }
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  peer->ran = true;
  const char *device = json_object_get_null_member (root, "device") ? NULL :
      json_object_get_string_member (root, "device");
  snprintf (peer->device, sizeof peer->device, "%s", device ? device : "no CUDA device");
  snprintf (peer->torch, sizeof peer->torch, "%s",
      json_object_get_string_member (root, "torch"));
  for (int i = 0; i < o->num_keeps; i++) {
    char key[32];
    snprintf (key, sizeof key, "%.2f", o->keeps[i]);
    peer->fp32[i] = json_ms (root, "fp32", key);
    peer->fp16[i] = json_ms (root, "fp16", key);
  }
  for (int i = 0; i < num_shapes; i++) {
    char key[64];
    snprintf (key, sizeof key, "%ux%ux%u", shapes[i].m, shapes[i].n, shapes[i].k);
    double ms = json_ms (root, "matmul_ms", key);
    peer->matmul[i] = ms > 0 ? 2.0 * shapes[i].m * shapes[i].n * shapes[i].k / (ms * 1e6) : -1;
  }
  g_object_unref (parser);
}

typedef AdatoskStatus (*ForwardFn) (void *state, const float *clip, double keep,
    AdatoskOutput *out, AdatoskError *error);

static AdatoskStatus
public_forward (void *state, const float *clip, double keep, AdatoskOutput *out,
    AdatoskError *error)
{
  return adatosk_backend_forward (state, clip, keep, out, error);
}

static AdatoskStatus
vulkan_forward (void *state, const float *clip, double keep, AdatoskOutput *out,
    AdatoskError *error)
{
  return adatosk_vk_backend_forward (state, clip, keep, out, error);
}

/* Median ms of up to `repeat` forwards after `warmup_ms` of warm-up (at least
 * one forward, which also records the command buffer). */
static double
time_forward (ForwardFn fn, void *state, const float *clip, double keep,
    AdatoskOutput *out, int repeat, double warmup_ms)
{
  AdatoskError error = { 0 };
  double times[256];
  if (repeat > 256)
    repeat = 256;
  double warm_start = timing_now_ms ();
  do {
    if (fn (state, clip, keep, out, &error) != ADATOSK_OK) {
      fprintf (stderr, "forward failed: %s\n", error.message);
      return -1;
    }
  } while (timing_now_ms () - warm_start < warmup_ms && !out_of_time ());
  int done = 0;
  while (done < repeat && (done == 0 || !out_of_time ())) {
    double start = timing_now_ms ();
    if (fn (state, clip, keep, out, &error) != ADATOSK_OK) {
      fprintf (stderr, "forward failed: %s\n", error.message);
      return -1;
    }
    times[done++] = timing_now_ms () - start;
  }
  return timing_median (times, done);
}

/* The GEMM configurations of the GEMM table: the GPU variant as the forward
 * picks its tile, each vec4 tile shape forced, and gemm.comp (the CPU
 * device's kernel, and what a GPU ran before the vec4 kernel). */
#define MAX_GEMM_CONFIGS (ADATOSK_VK_GEMM_VEC4_SHAPES + 2)

typedef struct {
  char name[32];
  AdatoskVkTuning tuning;
} GemmConfig;

static int
gemm_configs (AdatoskVkContext *ctx, GemmConfig *configs, AdatoskError *error)
{
  AdatoskVkTuning gpu, cpu;
  setenv ("ADATOSK_VULKAN_GEMM", "gpu", 1);
  AdatoskStatus status = adatosk_vk_tuning_default (ctx, &gpu, error);
  setenv ("ADATOSK_VULKAN_GEMM", "cpu", 1);
  if (status == ADATOSK_OK)
    status = adatosk_vk_tuning_default (ctx, &cpu, error);
  unsetenv ("ADATOSK_VULKAN_GEMM");
  if (status != ADATOSK_OK)
    return 0;
  int n = 0;
  snprintf (configs[n].name, sizeof configs[n].name, "vec4 auto");
  configs[n++].tuning = gpu;
  for (uint32_t i = 0; i < gpu.num_gemm_vec4; i++) {
    snprintf (configs[n].name, sizeof configs[n].name, "vec4 %ux%u",
        gpu.gemm_vec4[i][1], gpu.gemm_vec4[i][2]);
    configs[n].tuning = gpu;
    memcpy (configs[n].tuning.gemm_vec4[0], gpu.gemm_vec4[i], sizeof gpu.gemm_vec4[0]);
    configs[n++].tuning.num_gemm_vec4 = 1;
  }
  snprintf (configs[n].name, sizeof configs[n].name, "gemm.comp");
  configs[n++].tuning = cpu;
  return n;
}

/* GFLOP/s of each GEMM configuration on each shape (fp32 weights), several
 * products per submit; gflops[config][shape], -1 where not measured. */
static int
gemm_rates (const Options *o, const Shape *shapes, int num_shapes,
    GemmConfig *configs, double gflops[][MAX_SHAPES])
{
  AdatoskError error = { 0 };
  AdatoskVkContext *ctx = NULL;
  AdatoskVkAllocator *alloc = NULL;
  AdatoskVkPipelines *pipelines = NULL;
  AdatoskVkRecorder *rec = NULL;
  int num_configs = 0;
  for (int c = 0; c < MAX_GEMM_CONFIGS; c++)
    for (int i = 0; i < num_shapes; i++)
      gflops[c][i] = -1;
  if (adatosk_vk_context_new (o->device, &ctx, &error) != ADATOSK_OK ||
      adatosk_vk_allocator_new (ctx, 0, &alloc, &error) != ADATOSK_OK ||
      adatosk_vk_pipelines_new (ctx, &pipelines, &error) != ADATOSK_OK ||
      adatosk_vk_recorder_new (ctx, pipelines, &rec, &error) != ADATOSK_OK ||
      (num_configs = gemm_configs (ctx, configs, &error)) == 0) {
    fprintf (stderr, "GEMM benchmark: %s\n", error.message);
    goto out;
  }
  for (int s = 0; s < num_shapes && !out_of_time (); s++) {
    const Shape *sh = &shapes[s];
    VkDeviceSize a_bytes = (VkDeviceSize) sh->m * sh->k * 4;
    VkDeviceSize w_bytes = (VkDeviceSize) sh->n * sh->k * 4;
    VkDeviceSize c_bytes = (VkDeviceSize) sh->m * sh->n * 4;
    AdatoskVkRange a, w, c;
    size_t max_count = (size_t) (a_bytes > w_bytes ? a_bytes : w_bytes) / 4;
    float *data = malloc (max_count * sizeof *data);
    for (size_t i = 0; i < max_count; i++)
      data[i] = (float) ((i * 7) % 13) * 0.01f;
    bool ok = adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, a_bytes, &a, &error) == 0 &&
        adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, w_bytes, &w, &error) == 0 &&
        adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, c_bytes, &c, &error) == 0 &&
        adatosk_vk_upload (ctx, &a, data, a_bytes, &error) == 0 &&
        adatosk_vk_upload (ctx, &w, data, w_bytes, &error) == 0;
    free (data);
    if (!ok) {
      fprintf (stderr, "GEMM benchmark %s: %s\n", sh->what, error.message);
      continue;
    }
    const int per_submit = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 1 : 10;
    for (int cfg = 0; cfg < num_configs && !out_of_time (); cfg++) {
      adatosk_vk_recorder_begin (rec, &error);
      AdatoskVkGemm g = { .a = &a, .lda = sh->k, .w = &w, .c = &c, .ldc = sh->n,
        .m = sh->m, .n = sh->n, .k = sh->k, .alpha = 1.0f };
      for (int i = 0; i < per_submit; i++)
        adatosk_vk_gemm (rec, &configs[cfg].tuning, &g);
      if (adatosk_vk_recorder_end (rec, &error) != ADATOSK_OK) {
        fprintf (stderr, "GEMM benchmark %s, %s: %s\n", sh->what, configs[cfg].name,
            error.message);
        memset (&error, 0, sizeof error);
        continue;
      }
      double times[256];
      int done = 0;
      double warm_start = timing_now_ms ();
      do {
        if (adatosk_vk_recorder_submit (rec, &error) != ADATOSK_OK)
          break;
      } while (timing_now_ms () - warm_start < o->warmup_ms / 4 && !out_of_time ());
      while (error.status == ADATOSK_OK && done < o->repeat && done < 256 &&
          (done == 0 || !out_of_time ())) {
        double start = timing_now_ms ();
        if (adatosk_vk_recorder_submit (rec, &error) != ADATOSK_OK)
          break;
        times[done++] = (timing_now_ms () - start) / per_submit;
      }
      if (error.status != ADATOSK_OK) {
        fprintf (stderr, "GEMM benchmark %s: %s\n", sh->what, error.message);
        goto out;
      }
      gflops[cfg][s] = 2.0 * sh->m * (double) sh->n * sh->k / (timing_median (times, done) * 1e6);
    }
  }
out:
  adatosk_vk_recorder_free (rec);
  adatosk_vk_pipelines_free (pipelines);
  adatosk_vk_allocator_free (alloc);
  adatosk_vk_context_free (ctx);
  return num_configs;
}

static void
usage (void)
{
  fprintf (stderr, "usage: adatosk-vulkan-bench [--config adatosk-b|adatosk-s|adatosk-tiny] "
      "[--keeps 1.0,0.5] [--repeat N] [--warmup-ms MS] [--time-limit S] [--device N] "
      "[--no-cpu] [--allow-cpu-device] [--profile] [--square N] [--threads N] [--out FILE] "
      "[--peer PATH|none] [--python PATH] [--probe] [--variants gpu,cpu]\n");
  exit (2);
}

static void
parse (int argc, char **argv, Options *o)
{
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp (arg, "--no-cpu")) { o->cpu = false; continue; }
    if (!strcmp (arg, "--allow-cpu-device")) { o->allow_cpu_device = true; continue; }
    if (!strcmp (arg, "--profile")) { o->profile = true; continue; }
    if (!strcmp (arg, "--probe")) { o->probe = true; continue; }
    if (!value)
      usage ();
    i++;
    if (!strcmp (arg, "--config")) o->config = value;
    else if (!strcmp (arg, "--peer")) o->peer = value;
    else if (!strcmp (arg, "--python")) o->python = value;
    else if (!strcmp (arg, "--out")) o->out_path = value;
    else if (!strcmp (arg, "--variants")) o->variants = value;
    else if (!strcmp (arg, "--repeat")) o->repeat = atoi (value);
    else if (!strcmp (arg, "--warmup-ms")) o->warmup_ms = atof (value);
    else if (!strcmp (arg, "--time-limit")) o->time_limit_s = atof (value);
    else if (!strcmp (arg, "--device")) o->device = atoi (value);
    else if (!strcmp (arg, "--square")) o->square = atoi (value);
    else if (!strcmp (arg, "--threads")) o->threads = atoi (value);
    else if (!strcmp (arg, "--keeps")) {
      char *copy = strdup (value), *save = NULL;
      o->num_keeps = 0;
      for (char *tok = strtok_r (copy, ",", &save); tok && o->num_keeps < MAX_KEEPS;
          tok = strtok_r (NULL, ",", &save))
        o->keeps[o->num_keeps++] = atof (tok);
      free (copy);
    } else
      usage ();
  }
  if (o->repeat < 1 || o->num_keeps < 1 || o->warmup_ms < 0)
    usage ();
}

int
main (int argc, char **argv)
{
  Options o = { .config = "adatosk-b", .python = "/usr/bin/python3", .keeps = { 1.0, 0.5 },
    .num_keeps = 2, .repeat = 20, .device = -1, .cpu = true, .warmup_ms = 1000 };
  parse (argc, argv, &o);
  double start_ms = timing_now_ms ();
  if (o.time_limit_s > 0)
    deadline_ms = start_ms + o.time_limit_s * 1e3;

  /* The device first: nothing else is worth running on the wrong one. */
  AdatoskError error = { 0 };
  VkPhysicalDeviceType type;
  char device_name[384];
  if (adatosk_vk_probe (o.device, &type, device_name, sizeof device_name, &error) !=
      ADATOSK_OK) {
    fprintf (stderr, "no Vulkan device: %s\n", error.message);
    return 1;
  }
  printf ("device: %s\n", device_name);
  fflush (stdout);
  if (type == VK_PHYSICAL_DEVICE_TYPE_CPU && !o.allow_cpu_device) {
    fprintf (stderr, "refusing to benchmark on %s: it is a CPU Vulkan device (is the "
        "GPU's Vulkan driver installed? vulkaninfo --summary lists the devices; "
        "--device N picks one). --allow-cpu-device runs here anyway.\n", device_name);
    return 3;
  }
  if (o.probe)
    return 0;

  TestModelSpec spec;
  if (!config_spec (o.config, &spec)) {
    fprintf (stderr, "unknown --config %s (adatosk-b, adatosk-s, adatosk-tiny)\n", o.config);
    return 2;
  }
  if (o.out_path && !(out_file = fopen (o.out_path, "a"))) {
    perror (o.out_path);
    return 1;
  }
  /* The model's four products at N tokens and at each keep's K, and a
   * square one. */
  const int tokens = (spec.frames / spec.tubelet) * (spec.height / spec.patch) *
      (spec.width / spec.patch);
  const uint32_t d = (uint32_t) spec.dim;
  Shape shapes[MAX_SHAPES];
  int num_shapes = 0;
  int rows[MAX_KEEPS + 1], num_rows = 0;
  rows[num_rows++] = tokens;
  for (int i = 0; i < o.num_keeps; i++) {
    int k = adatosk_kept_tokens (tokens, o.keeps[i]);
    bool seen = false;
    for (int j = 0; j < num_rows; j++)
      seen |= rows[j] == k;
    if (!seen && num_rows < 2)
      rows[num_rows++] = k;
  }
  for (int r = 0; r < num_rows; r++) {
    uint32_t m = (uint32_t) rows[r];
    shapes[num_shapes++] = (Shape) { "qkv", m, 3 * d, d };
    shapes[num_shapes++] = (Shape) { "proj", m, d, d };
    shapes[num_shapes++] = (Shape) { "fc1", m, 4 * d, d };
    shapes[num_shapes++] = (Shape) { "fc2", m, d, 4 * d };
  }
  uint32_t square = o.square > 0 ? (uint32_t) o.square :
      type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 512 : 4096;
  shapes[num_shapes++] = (Shape) { "square", square, square, square };

  size_t model_size = 0;
  unsigned char *model_bytes = test_model_bytes (&spec, 20240601, &model_size);
  AdatoskModel *model = NULL;
  if (adatosk_model_load_from_memory (model_bytes, model_size, spec.name, &model, &error) !=
      ADATOSK_OK) {
    fprintf (stderr, "%s\n", error.message);
    return 1;
  }

  Peer peer = { 0 };
  for (int i = 0; i < MAX_KEEPS; i++)
    peer.fp32[i] = peer.fp16[i] = -1;
  for (int i = 0; i < MAX_SHAPES; i++)
    peer.matmul[i] = -1;
  char peer_buffer[1200];
  const char *script = find_peer (&o, peer_buffer, sizeof peer_buffer);
  if (!script) {
    snprintf (peer.note, sizeof peer.note, "no PyTorch peer (--peer PATH or "
        "ADATOSK_BENCH_PEER names benchmarks/vulkan_bench_peer.py)");
  } else {
    char model_path[64];
    snprintf (model_path, sizeof model_path, "/tmp/adatosk-vulkan-bench-%d.safetensors",
        (int) getpid ());
    FILE *f = fopen (model_path, "wb");
    if (f && fwrite (model_bytes, 1, model_size, f) == model_size && fclose (f) == 0)
      run_peer (&o, script, model_path, shapes, num_shapes, &peer);
    else
      snprintf (peer.note, sizeof peer.note, "cannot write %s for the peer", model_path);
    remove (model_path);
  }
  free (model_bytes);
  if (peer.note[0])
    fprintf (stderr, "%s\n", peer.note);

  const AdatoskConfig *c = adatosk_model_get_config (model);
  size_t clip_count = (size_t) 3 * c->num_frames * c->img_height * c->img_width;
  float *clip = test_clip_new (c, 77, 0);
  AdatoskOutput *out = adatosk_output_new (model);

  /* The kernel variants, one forward row (and one profile) each. */
  const char *variants[4];
  int num_variants = 0;
  char *variant_list = strdup (o.variants ? o.variants : "gpu,cpu"), *save = NULL;
  for (char *tok = strtok_r (variant_list, ",", &save); tok && num_variants < 4;
      tok = strtok_r (NULL, ",", &save)) {
    if (strcmp (tok, "gpu") && strcmp (tok, "cpu")) {
      fprintf (stderr, "--variants: %s is not gpu or cpu\n", tok);
      return 2;
    }
    variants[num_variants++] = tok;
  }
  if (num_variants == 0) {
    fprintf (stderr, "--variants: none given\n");
    return 2;
  }
  const char *device_variant = type == VK_PHYSICAL_DEVICE_TYPE_CPU ? "cpu" : "gpu";

  AdatoskBackendOptions cpu_options = { ADATOSK_BACKEND_CPU, o.threads, -1, 0 };
  AdatoskBackend *cpu = NULL;
  if (o.cpu && adatosk_backend_new (model, &cpu_options, &cpu, &error) != ADATOSK_OK)
    fprintf (stderr, "cpu: %s\n", error.message);
  double ms_cpu[MAX_KEEPS];
  for (int i = 0; i < o.num_keeps; i++)
    ms_cpu[i] = cpu ? time_forward (public_forward, cpu, clip, o.keeps[i], out, o.repeat,
        0) : -1;

  double ms32[4][MAX_KEEPS], ms16[4][MAX_KEEPS];
  char kernels[4][256];
  char *profiles[4] = { NULL };
  for (int v = 0; v < num_variants; v++) {
    setenv ("ADATOSK_VULKAN_GEMM", variants[v], 1);
    setenv ("ADATOSK_VULKAN_ATTENTION", variants[v], 1);
    for (int i = 0; i < o.num_keeps; i++)
      ms32[v][i] = ms16[v][i] = -1;
    snprintf (kernels[v], sizeof kernels[v], "not run");
    if (out_of_time ())
      continue;
    AdatoskVkBackend *vk32 = adatosk_vk_backend_new (model, o.device, false, &error);
    if (!vk32) {
      fprintf (stderr, "vulkan %s variant: %s\n", variants[v], error.message);
      continue;
    }
    const char *desc = strchr (adatosk_vk_backend_device (vk32), ';');
    snprintf (kernels[v], sizeof kernels[v], "%s", desc ? desc + 2 : "?");
    AdatoskVkBackend *vk16 = adatosk_vk_backend_new (model, o.device, true, &error);
    if (!vk16)
      fprintf (stderr, "vulkan fp16 storage, %s variant: %s\n", variants[v], error.message);
    for (int i = 0; i < o.num_keeps; i++) {
      ms32[v][i] = time_forward (vulkan_forward, vk32, clip, o.keeps[i], out, o.repeat,
          o.warmup_ms);
      ms16[v][i] = vk16 ? time_forward (vulkan_forward, vk16, clip, o.keeps[i], out,
          o.repeat, o.warmup_ms) : -1;
    }
    /* Per-kernel times: the first timed run also records, so it is left out. */
    size_t size = 0;
    FILE *text = o.profile ? open_memstream (&profiles[v], &size) : NULL;
    for (int i = 0; text && i < o.num_keeps && !out_of_time (); i++) {
      adatosk_vk_backend_set_profile (vk32, true);
      int runs = o.repeat < 5 ? o.repeat : 5;
      for (int r = 0; r <= runs; r++) {
        if (r == 1)
          adatosk_vk_backend_print_profile (vk32, NULL, "", true);
        if (adatosk_vk_backend_forward (vk32, clip, o.keeps[i], out, &error) != ADATOSK_OK) {
          fprintf (stderr, "profiled forward: %s\n", error.message);
          break;
        }
      }
      char title[160];
      snprintf (title, sizeof title, "### Per-kernel times, Vulkan fp32, %s variant%s, keep %.2f",
          variants[v], strcmp (variants[v], device_variant) ? "" : " (this device's default)",
          o.keeps[i]);
      adatosk_vk_backend_print_profile (vk32, text, title, true);
    }
    if (text)
      fclose (text);
    adatosk_vk_backend_free (vk16);
    adatosk_vk_backend_free (vk32);
  }
  unsetenv ("ADATOSK_VULKAN_GEMM");
  unsetenv ("ADATOSK_VULKAN_ATTENTION");
  GemmConfig configs[MAX_GEMM_CONFIGS];
  double gemm[MAX_GEMM_CONFIGS][MAX_SHAPES];
  int num_configs = gemm_rates (&o, shapes, num_shapes, configs, gemm);

  emit ("## %s: Vulkan on %s\n\n", o.config, device_name);
  emit ("Median of up to %d forwards of one clip after %.0f ms of warm-up; the clip "
      "upload and the results' readback are inside the timed region on both sides. "
      "GFLOPs per forward from the spec's section 8. Vulkan fp16 is fp16 *storage* of the "
      "large weight matrices (fp32 arithmetic). CPU: %s. PyTorch: %s on %s.%s%s\n\n",
      o.repeat, o.warmup_ms, cpu ? adatosk_backend_get_device (cpu) : "not run",
      peer.ran ? peer.torch : "not run", peer.ran ? peer.device : "-",
      peer.note[0] ? " " : "", peer.note);
  emit ("Kernel variants (src/vulkan/README.md; this device's default: %s):\n\n", device_variant);
  for (int v = 0; v < num_variants; v++)
    emit ("- %s: %s\n", variants[v], kernels[v]);
  emit ("\n| keep | variant | GFLOP | Vulkan fp32 ms | Vulkan fp16 storage ms | CPU ms | PyTorch CUDA fp32 "
      "ms (TF32 off) | PyTorch CUDA fp16 ms | Vulkan fp32 / PyTorch fp32 | Vulkan fp16 "
      "storage / PyTorch fp16 |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < o.num_keeps; i++) {
    for (int v = 0; v < num_variants; v++) {
      emit ("| %.2f | %s%s | %.1f |", o.keeps[i], variants[v],
          strcmp (variants[v], device_variant) ? "" : " (default)",
          adatosk_config_gflops (c, o.keeps[i]));
      cell (ms32[v][i], "%.2f");
      cell (ms16[v][i], "%.2f");
      cell (ms_cpu[i], "%.1f");
      cell (peer.fp32[i], "%.2f");
      cell (peer.fp16[i], "%.2f");
      cell (peer.fp32[i] > 0 && ms32[v][i] > 0 ? ms32[v][i] / peer.fp32[i] : -1, "%.2f");
      cell (peer.fp16[i] > 0 && ms16[v][i] > 0 ? ms16[v][i] / peer.fp16[i] : -1, "%.2f");
      emit ("\n");
    }
  }
  emit ("\nThe model's products C[M][N] = A[M][K] W[N][K]^T (fp32) and a square one, in "
      "GFLOP/s: the GPU variant with the tile the forward picks (vec4 auto, the tile in "
      "the next column), each vec4 tile shape forced, and gemm.comp (the CPU device's kernel), "
      "against torch.matmul (F.linear, TF32 off) on the same shapes.\n\n"
      "| product | M x N x K | picked |");
  for (int cfg = 0; cfg < num_configs; cfg++)
    emit (" %s |", configs[cfg].name);
  emit (" torch | vec4 auto / torch |\n|---|---|---|");
  for (int cfg = 0; cfg < num_configs + 2; cfg++)
    emit ("---|");
  emit ("\n");
  for (int s = 0; s < num_shapes; s++) {
    emit ("| %s | %ux%ux%u |", shapes[s].what, shapes[s].m, shapes[s].n, shapes[s].k);
    const uint32_t *tiles = num_configs
        ? adatosk_vk_tuning_gemm_vec4_tiles (&configs[0].tuning, shapes[s].m, shapes[s].n)
        : NULL;
    if (tiles)
      emit (" %ux%u |", tiles[1], tiles[2]);
    else
      emit (" - |");
    for (int cfg = 0; cfg < num_configs; cfg++)
      cell (gemm[cfg][s], gemm[cfg][s] < 100 ? "%.2f" : "%.0f");
    cell (peer.matmul[s], "%.0f");
    cell (num_configs && gemm[0][s] > 0 && peer.matmul[s] > 0 ? gemm[0][s] / peer.matmul[s] : -1,
        "%.2f");
    emit ("\n");
  }
  emit ("\n");
  for (int v = 0; v < num_variants; v++)
    if (profiles[v]) {
      emit ("%s", profiles[v]);
      free (profiles[v]);
    }
  emit ("(bench wall time %.0f s%s)\n\n", (timing_now_ms () - start_ms) / 1e3,
      out_of_time () ? ", stopped early by --time-limit" : "");
  free (variant_list);
  (void) clip_count;
  adatosk_backend_free (cpu);
  adatosk_output_free (out);
  adatosk_model_free (model);
  free (clip);
  if (out_file)
    fclose (out_file);
  return 0;
}
