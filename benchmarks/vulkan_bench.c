/* adatosk-vulkan-bench: the Vulkan forward's speed beside its peers measured
 * in the same run: the CPU backend (OpenBLAS) and, where CUDA is present,
 * PyTorch's eager forward of the same weights on the GPU (fp32 with TF32 off,
 * and fp16); plus the GEMM shader's rate beside torch.matmul's fp32 rate.
 *
 *   adatosk-vulkan-bench [--config adatosk-b] [--model FILE] [--keeps 1.0,0.5]
 *       [--repeat N] [--device N] [--gemm-size N] [--threads N] [--no-cpu]
 *
 * Without --model it runs benchmarks/vulkan_bench_peer.py, which writes the
 * seeded random weights of --config and times PyTorch. Prints a Markdown
 * table (benchmarks/vulkan_results.md keeps the ones that matter).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"
#include "timing.h"
#include "vulkan/ops.h"
#include "vulkan/vulkan_backend.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ADATOSK_SOURCE_DIR
#define ADATOSK_SOURCE_DIR "."
#endif

typedef struct {
  const char *config, *model, *python;
  double keeps[8];
  int num_keeps, repeat, device, gemm_size, threads;
  bool cpu;
} Options;

/* What the PyTorch peer printed; negative where it has no number. */
typedef struct {
  char device[256], torch[64];
  double fp32[8], fp16[8], matmul_gflops;
  int matmul_size;
} Peer;

static double
keep_ms (JsonObject *root, const char *member, double keep)
{
  JsonNode *node = json_object_get_member (root, member);
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return -1;
  char key[32];
  snprintf (key, sizeof key, "%.1f", keep);
  JsonObject *times = json_node_get_object (node);
  return json_object_has_member (times, key) ?
      json_object_get_double_member (times, key) : -1;
}

static bool
run_peer (const Options *o, const char *model_path, Peer *peer)
{
  char keeps[128] = "", command[1024];
  for (int i = 0; i < o->num_keeps; i++)
    snprintf (keeps + strlen (keeps), sizeof keeps - strlen (keeps), "%s%.1f",
        i ? "," : "", o->keeps[i]);
  snprintf (command, sizeof command, "%s %s/benchmarks/vulkan_bench_peer.py --config %s "
      "--keeps %s --repeat %d --model-out %s", o->python, ADATOSK_SOURCE_DIR, o->config,
      keeps, o->repeat, model_path);
  fprintf (stderr, "peer: %s\n", command);
  FILE *pipe = popen (command, "r");
  char line[4096] = "";
  if (!pipe || !fgets (line, sizeof line, pipe) || (pipe && pclose (pipe) != 0)) {
    fprintf (stderr, "the PyTorch peer failed (is python3-torch installed?)\n");
    return false;
  }
  JsonParser *parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, line, -1, NULL)) {
    fprintf (stderr, "the PyTorch peer printed no JSON: %s\n", line);
    g_object_unref (parser);
    return false;
  }
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  const char *device = json_object_get_null_member (root, "device") ? NULL :
      json_object_get_string_member (root, "device");
  snprintf (peer->device, sizeof peer->device, "%s", device ? device : "no CUDA device");
  snprintf (peer->torch, sizeof peer->torch, "%s",
      json_object_get_string_member (root, "torch"));
  for (int i = 0; i < o->num_keeps; i++) {
    peer->fp32[i] = keep_ms (root, "fp32", o->keeps[i]);
    peer->fp16[i] = keep_ms (root, "fp16", o->keeps[i]);
  }
  peer->matmul_gflops = json_object_get_null_member (root, "matmul_gflops") ? -1 :
      json_object_get_double_member (root, "matmul_gflops");
  peer->matmul_size = (int) json_object_get_int_member (root, "matmul_size");
  g_object_unref (parser);
  return true;
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
half_forward (void *state, const float *clip, double keep, AdatoskOutput *out,
    AdatoskError *error)
{
  return adatosk_vk_backend_forward (state, clip, keep, out, error);
}

static double
time_forward (ForwardFn fn, void *state, const float *clip, double keep,
    AdatoskOutput *out, int repeat)
{
  AdatoskError error = { 0 };
  double times[64];
  if (repeat > 64)
    repeat = 64;
  for (int r = 0; r <= repeat; r++) {
    double start = timing_now_ms ();
    if (fn (state, clip, keep, out, &error) != ADATOSK_OK) {
      fprintf (stderr, "forward failed: %s\n", error.message);
      return -1;
    }
    if (r > 0)
      times[r - 1] = timing_now_ms () - start;   /* run 0 records and warms up */
  }
  return timing_median (times, repeat);
}

/* GFLOP/s of the GEMM shader on a square product (fp32), `device_name` set. */
static double
gemm_gflops (int device_index, int size, int repeat, char *device_name, size_t name_size)
{
  AdatoskError error = { 0 };
  AdatoskVkContext *ctx = NULL;
  AdatoskVkAllocator *alloc = NULL;
  AdatoskVkPipelines *pipelines = NULL;
  AdatoskVkRecorder *rec = NULL;
  double result = -1;
  if (adatosk_vk_context_new (device_index, &ctx, &error) != ADATOSK_OK ||
      adatosk_vk_allocator_new (ctx, 0, &alloc, &error) != ADATOSK_OK ||
      adatosk_vk_pipelines_new (ctx, &pipelines, &error) != ADATOSK_OK ||
      adatosk_vk_recorder_new (ctx, pipelines, &rec, &error) != ADATOSK_OK) {
    fprintf (stderr, "GEMM benchmark: %s\n", error.message);
    goto out;
  }
  snprintf (device_name, name_size, "%s", ctx->description);
  if (size <= 0)
    size = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 512 : 4096;
  AdatoskVkTuning tuning;
  adatosk_vk_tuning_default (ctx, &tuning);
  VkDeviceSize bytes = (VkDeviceSize) size * size * 4;
  AdatoskVkRange a, w, c;
  float *data = malloc (bytes);
  for (size_t i = 0; i < (size_t) size * size; i++)
    data[i] = (float) ((i * 7) % 13) * 0.01f;
  if (adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, bytes, &a, &error) ||
      adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, bytes, &w, &error) ||
      adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, bytes, &c, &error) ||
      adatosk_vk_upload (ctx, &a, data, bytes, &error) ||
      adatosk_vk_upload (ctx, &w, data, bytes, &error)) {
    fprintf (stderr, "GEMM benchmark: %s\n", error.message);
    free (data);
    goto out;
  }
  free (data);
  /* Several products per submit, so that the submit costs little. */
  const int per_submit = 5;
  adatosk_vk_recorder_begin (rec, &error);
  AdatoskVkGemm g = { .a = &a, .lda = (uint32_t) size, .w = &w, .c = &c,
    .ldc = (uint32_t) size, .m = (uint32_t) size, .n = (uint32_t) size,
    .k = (uint32_t) size, .alpha = 1.0f };
  for (int i = 0; i < per_submit; i++)
    adatosk_vk_gemm (rec, &tuning, &g);
  if (adatosk_vk_recorder_end (rec, &error) != ADATOSK_OK) {
    fprintf (stderr, "GEMM benchmark: %s\n", error.message);
    goto out;
  }
  double times[64];
  if (repeat > 64)
    repeat = 64;
  for (int r = 0; r <= repeat; r++) {
    double start = timing_now_ms ();
    if (adatosk_vk_recorder_submit (rec, &error) != ADATOSK_OK) {
      fprintf (stderr, "GEMM benchmark: %s\n", error.message);
      goto out;
    }
    if (r > 0)
      times[r - 1] = (timing_now_ms () - start) / per_submit;
  }
  result = 2.0 * size * (double) size * size / (timing_median (times, repeat) * 1e6);
  fprintf (stderr, "GEMM %d^3 with tiles %ux%ux%u (micro %ux%u): %.1f GFLOP/s\n", size,
      tuning.gemm[1], tuning.gemm[2], tuning.gemm[3], tuning.gemm[4], tuning.gemm[5], result);
out:
  adatosk_vk_recorder_free (rec);
  adatosk_vk_pipelines_free (pipelines);
  adatosk_vk_allocator_free (alloc);
  adatosk_vk_context_free (ctx);
  return result;
}

static void
cell (double value, const char *format)
{
  if (value < 0)
    printf (" - |");
  else {
    putchar (' ');
    printf (format, value);
    printf (" |");
  }
}

static void
usage (void)
{
  fprintf (stderr, "usage: adatosk-vulkan-bench [--config NAME] [--model FILE] "
      "[--keeps 1.0,0.5] [--repeat N] [--device N] [--gemm-size N] [--threads N] "
      "[--no-cpu] [--python PATH]\n");
  exit (2);
}

int
main (int argc, char **argv)
{
  Options o = { .config = "adatosk-b", .python = "/usr/bin/python3", .keeps = { 1.0, 0.5 },
    .num_keeps = 2, .repeat = 10, .device = -1, .cpu = true };
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp (arg, "--no-cpu")) {
      o.cpu = false;
      continue;
    }
    if (!value)
      usage ();
    i++;
    if (!strcmp (arg, "--config")) o.config = value;
    else if (!strcmp (arg, "--model")) o.model = value;
    else if (!strcmp (arg, "--python")) o.python = value;
    else if (!strcmp (arg, "--repeat")) o.repeat = atoi (value);
    else if (!strcmp (arg, "--device")) o.device = atoi (value);
    else if (!strcmp (arg, "--gemm-size")) o.gemm_size = atoi (value);
    else if (!strcmp (arg, "--threads")) o.threads = atoi (value);
    else if (!strcmp (arg, "--keeps")) {
      char *copy = strdup (value), *save = NULL;
      o.num_keeps = 0;
      for (char *tok = strtok_r (copy, ",", &save); tok && o.num_keeps < 8;
          tok = strtok_r (NULL, ",", &save))
        o.keeps[o.num_keeps++] = atof (tok);
      free (copy);
    } else
      usage ();
  }
  if (o.repeat < 1 || o.num_keeps < 1)
    usage ();

  Peer peer = { .matmul_gflops = -1 };
  for (int i = 0; i < 8; i++)
    peer.fp32[i] = peer.fp16[i] = -1;
  char model_path[256];
  bool have_peer = false;
  if (o.model) {
    snprintf (model_path, sizeof model_path, "%s", o.model);
  } else {
    snprintf (model_path, sizeof model_path, "/tmp/adatosk-vulkan-bench-%s-%d.safetensors",
        o.config, (int) getpid ());
    have_peer = run_peer (&o, model_path, &peer);
    if (!have_peer)
      return 1;
  }

  AdatoskError error = { 0 };
  AdatoskModel *model = NULL;
  if (adatosk_model_load (model_path, &model, &error) != ADATOSK_OK) {
    fprintf (stderr, "%s\n", error.message);
    return 1;
  }
  if (!o.model)
    remove (model_path);
  const AdatoskConfig *c = adatosk_model_get_config (model);
  size_t clip_count = (size_t) 3 * c->num_frames * c->img_height * c->img_width;
  float *clip = malloc (clip_count * sizeof *clip);
  for (size_t i = 0; i < clip_count; i++)
    clip[i] = (float) sin (0.001 * (double) i) + 0.1f * (float) ((i * 2654435761u) % 1000) / 1000;
  AdatoskOutput *out = adatosk_output_new (model);

  AdatoskBackendOptions vk_options = { ADATOSK_BACKEND_VULKAN, 0, o.device, 0 };
  AdatoskBackendOptions cpu_options = { ADATOSK_BACKEND_CPU, o.threads, -1, 0 };
  AdatoskBackend *vk = NULL, *cpu = NULL;
  if (adatosk_backend_new (model, &vk_options, &vk, &error) != ADATOSK_OK) {
    fprintf (stderr, "vulkan: %s\n", error.message);
    return 1;
  }
  AdatoskVkBackend *half = adatosk_vk_backend_new (model, o.device, true, &error);
  if (!half)
    fprintf (stderr, "vulkan fp16: %s\n", error.message);
  if (o.cpu && adatosk_backend_new (model, &cpu_options, &cpu, &error) != ADATOSK_OK)
    fprintf (stderr, "cpu: %s\n", error.message);

  double vk32[8], vk16[8], cpu_ms[8];
  for (int i = 0; i < o.num_keeps; i++) {
    vk32[i] = time_forward (public_forward, vk, clip, o.keeps[i], out, o.repeat);
    vk16[i] = half ? time_forward (half_forward, half, clip, o.keeps[i], out, o.repeat) : -1;
    cpu_ms[i] = cpu ? time_forward (public_forward, cpu, clip, o.keeps[i], out, o.repeat) : -1;
  }
  char gemm_device[384] = "";
  double gemm = gemm_gflops (o.device, o.gemm_size, o.repeat, gemm_device, sizeof gemm_device);

  printf ("## %s: Vulkan on %s\n\n", o.config, gemm_device);
  printf ("Median of %d forwards of one clip (after one warm-up); GFLOPs per forward from "
      "the spec's section 8. CPU: %s. PyTorch: %s on %s.\n\n",
      o.repeat, cpu ? adatosk_backend_get_device (cpu) : "not run",
      have_peer ? peer.torch : "not run", have_peer ? peer.device : "-");
  printf ("| keep | GFLOP | Vulkan fp32 ms | Vulkan fp16 ms | CPU ms | PyTorch CUDA fp32 ms "
      "(TF32 off) | PyTorch CUDA fp16 ms | Vulkan fp32 / PyTorch fp32 | Vulkan fp16 / "
      "PyTorch fp16 |\n|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < o.num_keeps; i++) {
    printf ("| %.2f | %.1f |", o.keeps[i], adatosk_config_gflops (c, o.keeps[i]));
    cell (vk32[i], "%.1f");
    cell (vk16[i], "%.1f");
    cell (cpu_ms[i], "%.1f");
    cell (peer.fp32[i], "%.1f");
    cell (peer.fp16[i], "%.1f");
    cell (peer.fp32[i] > 0 && vk32[i] > 0 ? vk32[i] / peer.fp32[i] : -1, "%.2f");
    cell (peer.fp16[i] > 0 && vk16[i] > 0 ? vk16[i] / peer.fp16[i] : -1, "%.2f");
    putchar ('\n');
  }
  printf ("\n| GEMM | GFLOP/s | peer | peer GFLOP/s | ratio |\n|---|---|---|---|---|\n");
  printf ("| Vulkan shader fp32 |");
  cell (gemm, "%.0f");
  printf (" torch.matmul fp32 %d^3, TF32 off |", peer.matmul_size);
  cell (peer.matmul_gflops, "%.0f");
  cell (gemm > 0 && peer.matmul_gflops > 0 ? gemm / peer.matmul_gflops : -1, "%.2f");
  printf ("\n");

  adatosk_vk_backend_free (half);
  adatosk_backend_free (vk);
  adatosk_backend_free (cpu);
  adatosk_output_free (out);
  adatosk_model_free (model);
  free (clip);
  return 0;
}
