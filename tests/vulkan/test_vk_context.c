/* The Vulkan runtime below the ops: device choice and its override, the
 * allocator (alignment, blocks, a buffer larger than lavapipe's 128 MiB
 * maxStorageBufferRange bound in windows), the pipeline registry (reuse,
 * the shared-memory limit), and that the validation messenger does report.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reference.h"
#include "backend.h"
#include "vk_test.h"
#include "vulkan/weights.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
test_device_choice (VkTest *t)
{
  AdatoskError error = {0};
  VkPhysicalDeviceType type;
  char name[384];
  CHECK_OK (adatosk_vk_probe (-1, &type, name, sizeof name, &error), error);
  printf ("  best device: %s\n", name);
  CHECK (type == t->ctx->props.deviceType,
      "probe and context chose different devices");
  CHECK_OK (adatosk_vk_probe (0, &type, name, sizeof name, &error), error);
  AdatoskStatus status =
      adatosk_vk_probe (1000, &type, name, sizeof name, &error);
  printf ("  index 1000: %s\n", error.message);
  CHECK (status == ADATOSK_ERROR_INVALID_ARGUMENT
          && strstr (error.message, "1000"),
      "an index out of range must fail with a message naming it");

  char reason[512];
  AdatoskBackendOptions options = {ADATOSK_BACKEND_AUTO, 0, -1, 0};
  int gpu = adatosk_vulkan_has_gpu (&options, reason, sizeof reason);
  CHECK_OK (adatosk_vk_probe (-1, &type, name, sizeof name, &error), error);
  bool real_gpu = type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
      || type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  printf ("  has_gpu: %d (%s)\n", gpu, reason);
  CHECK (gpu == real_gpu, "adatosk_vulkan_has_gpu says %d for a %s", gpu,
      adatosk_vk_device_type_name (type));
  CHECK (gpu || reason[0], "no reason given for not using Vulkan");
}

static void
test_allocator (VkTest *t)
{
  AdatoskError error = {0};
  VkDeviceSize alignment = adatosk_vk_allocator_alignment (t->alloc);
  CHECK (alignment >= t->ctx->props.limits.minStorageBufferOffsetAlignment
          && alignment % t->ctx->props.limits.minStorageBufferOffsetAlignment
              == 0,
      "alignment %llu", (unsigned long long) alignment);
  AdatoskVkRange a, b;
  CHECK_OK (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_DEVICE, 10, &a,
                &error),
      error);
  CHECK_OK (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_DEVICE, 1000, &b,
                &error),
      error);
  CHECK (a.buffer == b.buffer && b.offset >= a.offset + 10
          && b.offset % alignment == 0,
      "small ranges share a block, aligned");
  CHECK (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_DEVICE, 0, &a, &error)
          == ADATOSK_ERROR_INVALID_ARGUMENT,
      "a range of 0 bytes must be refused");
  AdatoskVkRange host;
  CHECK_OK (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_HOST, 4096, &host,
                &error),
      error);
  CHECK (host.mapped != NULL, "host ranges are mapped");
  AdatoskVkRange window;
  VkDeviceSize skip;
  adatosk_vk_range_window (&b, 100, 200, alignment, &window, &skip);
  CHECK (window.offset % alignment == 0
          && window.offset + skip == b.offset + 100
          && window.size == 200 + skip,
      "window arithmetic");
}

/* C = A W^T with W larger than maxStorageBufferRange: the GEMM binds W in
 * windows of whole rows (one dispatch each). */
static void
test_big_weight (VkTest *t, bool f16)
{
  const VkDeviceSize max_range = t->ctx->props.limits.maxStorageBufferRange;
  const int k = 64, m = f16 ? 1 : 3;
  const VkDeviceSize elem = f16 ? 2 : 4;
  const int n = (int) (max_range / (k * elem)) + 4099; /* just over the limit */
  const VkDeviceSize bytes = (VkDeviceSize) n * k * elem;
  AdatoskError error = {0};
  printf ("  W [%d][%d] %s: %.1f MiB (maxStorageBufferRange %.1f MiB)\n", n, k,
      f16 ? "fp16" : "fp32", bytes / 1048576.0, max_range / 1048576.0);
  /* NVIDIA's driver (H200): a 4 GiB storage range, 3 MiB less for one
   * allocation. No tensor can then outgrow a binding, and loading one that
   * outgrows an allocation is adatosk_vk_alloc's clear error. */
  const VkDeviceSize max_allocation =
      adatosk_vk_allocator_max_allocation (t->alloc);
  if (bytes + 256 > max_allocation) {
    printf ("  skipped: one allocation holds at most %.1f MiB here\n",
        max_allocation / 1048576.0);
    return;
  }

  float *a = malloc ((size_t) m * k * sizeof *a);
  float *w = malloc ((size_t) n * k * sizeof *w);
  uint64_t seed = 7;
  vk_test_random (&seed, a, (size_t) m * k, -1, 1);
  /* Rows that tell each other apart, exactly representable in fp16. */
  for (int j = 0; j < n; j++)
    for (int l = 0; l < k; l++)
      w[(size_t) j * k + l] = (float) (((j * 31 + l * 7) % 64) - 32) / 64.0f;

  /* A small range first, so the big one does not start at offset 0. */
  AdatoskVkRange pad, wr;
  CHECK_OK (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_DEVICE, 100, &pad,
                &error),
      error);
  CHECK_OK (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_DEVICE,
                (bytes + 3) / 4 * 4, &wr, &error),
      error);
  if (f16) {
    uint16_t *h = malloc ((size_t) n * k * sizeof *h);
    for (size_t i = 0; i < (size_t) n * k; i++)
      CHECK (adatosk_vk_float_to_half (w[i], &h[i]), "half conversion");
    CHECK_OK (adatosk_vk_upload (t->ctx, &wr, h, bytes, &error), error);
    free (h);
  } else {
    CHECK_OK (adatosk_vk_upload (t->ctx, &wr, w, bytes, &error), error);
  }
  VkTestBuffer ba = vk_test_buffer (t, (size_t) m * k);
  VkTestBuffer bc = vk_test_buffer (t, (size_t) m * n);
  vk_test_upload (t, &ba, a, (size_t) m * k);
  vk_test_begin (t);
  int before = adatosk_vk_recorder_dispatch_count (t->rec);
  AdatoskVkGemm g = {.a = &ba.range,
      .lda = (uint32_t) k,
      .w = &wr,
      .w_f16 = f16,
      .c = &bc.range,
      .ldc = (uint32_t) n,
      .m = (uint32_t) m,
      .n = (uint32_t) n,
      .k = (uint32_t) k,
      .alpha = 1.0f};
  adatosk_vk_gemm (t->rec, &t->tuning, &g);
  int dispatches = adatosk_vk_recorder_dispatch_count (t->rec) - before;
  vk_test_run (t);
  CHECK (dispatches >= 2, "a W over the range limit takes several windows (%d)",
      dispatches);

  double *ref = malloc ((size_t) m * n * sizeof *ref);
  ref_gemm (a, k, w, NULL, ref, n, 0, m, n, k, 1.0, false, false);
  float *got = malloc ((size_t) m * n * sizeof *got);
  vk_test_download (t, &bc, got, (size_t) m * n);
  double nmse = vk_test_nmse (got, ref, (size_t) m * n);
  printf ("  big-W GEMM in %d dispatches: NMSE %.3g\n", dispatches, nmse);
  CHECK (nmse <= 1e-8, "GEMM with a %s W over the range limit: NMSE %.3g",
      f16 ? "fp16" : "fp32", nmse);
  vk_test_check_guards (t, &bc, "big-W GEMM output");
  free (a);
  free (w);
  free (ref);
  free (got);
}

static void
test_registry (VkTest *t)
{
  AdatoskError error = {0};
  VkTestBuffer x = vk_test_buffer (t, 64), y = vk_test_buffer (t, 64);
  VkTestBuffer gb = vk_test_buffer (t, 8);
  float ones[64];
  for (int i = 0; i < 64; i++)
    ones[i] = 1.0f;
  vk_test_upload (t, &x, ones, 64);
  vk_test_upload (t, &gb, ones, 8);
  vk_test_begin (t);
  adatosk_vk_layernorm (t->rec, &t->tuning, &x.range, &gb.range, &gb.range,
      &y.range, 8, 8, 1e-6f);
  int count = adatosk_vk_pipelines_count (t->pipelines);
  adatosk_vk_layernorm (t->rec, &t->tuning, &x.range, &gb.range, &gb.range,
      &y.range, 8, 8, 1e-6f);
  CHECK (adatosk_vk_pipelines_count (t->pipelines) == count,
      "the same kernel and constants reuse the pipeline");
  vk_test_run (t);

  /* Tiles that need more shared memory than any device has: a clear error,
   * not a driver crash. */
  AdatoskVkTuning big = t->tuning;
  const uint32_t huge[6] = {1024, 256, 256, 64, 8, 8};
  memcpy (big.gemm, huge, sizeof huge);
  memcpy (big.gemm_small, huge, sizeof huge);
  big.num_gemm_vec4 = 0; /* gemm.comp, whatever the device */
  AdatoskVkGemm g = {.a = &x.range,
      .lda = 8,
      .w = &x.range,
      .c = &y.range,
      .ldc = 8,
      .m = 8,
      .n = 8,
      .k = 8,
      .alpha = 1.0f};
  vk_test_begin (t);
  adatosk_vk_gemm (t->rec, &big, &g);
  AdatoskStatus status = adatosk_vk_recorder_end (t->rec, &error);
  printf ("  oversized tiles: %s\n", error.message);
  CHECK (status == ADATOSK_ERROR_BACKEND
          && strstr (error.message, "shared memory"),
      "oversized tiles must be refused by the registry");

  /* The same for the GPU variant (260 KiB of shared memory). */
  const uint32_t huge_vec4[6] = {256, 256, 256, 128, 16, 16};
  memcpy (big.gemm_vec4[0], huge_vec4, sizeof huge_vec4);
  big.num_gemm_vec4 = 1;
  memset (&error, 0, sizeof error);
  vk_test_begin (t);
  adatosk_vk_gemm (t->rec, &big, &g);
  status = adatosk_vk_recorder_end (t->rec, &error);
  printf ("  oversized vec4 tiles: %s\n", error.message);
  CHECK (status == ADATOSK_ERROR_BACKEND && strstr (error.message, "gemm_vec4")
          && strstr (error.message, "shared memory"),
      "oversized vec4 tiles must be refused by the registry");
}

/* A submission that outlives the fence timeout fails with a message naming
 * the limit and its variable, the context then refuses more work, and
 * freeing everything afterwards waits for the device (no validation message,
 * no crash). The spin kernel's length is measured first on this device, so
 * that the "hang" lasts about a second wherever the test runs. */
static void
test_fence_timeout (void)
{
  AdatoskError error = {0};
  AdatoskVkContext *ctx = NULL;
  AdatoskVkAllocator *alloc = NULL;
  AdatoskVkPipelines *pipelines = NULL;
  AdatoskVkRecorder *rec = NULL;
  CHECK_OK (adatosk_vk_context_new (-1, &ctx, &error), error);
  CHECK (ctx->timeout_ns >= 60000000000ull, "default timeout %llu ns",
      (unsigned long long) ctx->timeout_ns);
  CHECK_OK (adatosk_vk_allocator_new (ctx, 1 << 20, &alloc, &error), error);
  CHECK_OK (adatosk_vk_pipelines_new (ctx, &pipelines, &error), error);
  CHECK_OK (adatosk_vk_recorder_new (ctx, pipelines, &rec, &error), error);
  AdatoskVkRange out;
  CHECK_OK (adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, 16, &out,
                &error),
      error);
  const AdatoskVkKernel spin = {"spin", 1, 8, 1, NULL,
      vk_test_shader_find ("spin")};
  CHECK (spin.code != NULL, "the spin kernel is embedded in the test");
  const uint32_t spec[1] = {1};

  /* Calibration: one dispatch of 60000 rounds of 256 steps under the default
   * timeout; the result checks that the kernel really ran them all. */
  uint32_t push[2] = {60000, 7};
  double dispatch_ms = 0;
  for (int attempt = 0; attempt < 2;
       attempt++) { /* the first one also compiles */
    CHECK_OK (adatosk_vk_recorder_begin (rec, &error), error);
    adatosk_vk_recorder_dispatch (rec, &spin, spec, &out, push, 1, 1, 1);
    CHECK_OK (adatosk_vk_recorder_end (rec, &error), error);
    double start = now_ms ();
    CHECK_OK (adatosk_vk_recorder_submit (rec, &error), error);
    dispatch_ms = now_ms () - start;
  }
  uint32_t got = 0, want = push[1] | 1u;
  CHECK_OK (adatosk_vk_download (ctx, &out, &got, 4, &error), error);
  for (uint32_t i = 0; i < push[0] * 256u; i++) {
    want ^= want << 13;
    want ^= want >> 17;
    want ^= want << 5;
  }
  CHECK (got == want, "the spin kernel computed %u, not %u", got, want);
  int dispatches =
      (int) (1000.0 / (dispatch_ms > 0.01 ? dispatch_ms : 0.01)) + 1;
  if (dispatches > 2000)
    dispatches = 2000;
  printf ("  spin: %.1f ms per dispatch; %d dispatches for about a second\n",
      dispatch_ms, dispatches);

  ctx->timeout_ns = 20000000ull; /* 20 ms */
  CHECK_OK (adatosk_vk_recorder_begin (rec, &error), error);
  for (int i = 0; i < dispatches; i++)
    adatosk_vk_recorder_dispatch (rec, &spin, spec, &out, push, 1, 1, 1);
  CHECK_OK (adatosk_vk_recorder_end (rec, &error), error);
  double start = now_ms ();
  AdatoskStatus status = adatosk_vk_recorder_submit (rec, &error);
  double waited = now_ms () - start;
  printf ("  forced hang, 20 ms timeout: returned after %.0f ms: %s\n", waited,
      error.message);
  CHECK (status == ADATOSK_ERROR_BACKEND
          && strstr (error.message, "within 20 ms")
          && strstr (error.message, "ADATOSK_VULKAN_TIMEOUT_MS"),
      "a submission past the timeout must fail with a message naming the "
      "limit");
  CHECK (waited < 500, "the timed-out wait took %.0f ms", waited);
  memset (&error, 0, sizeof error);
  status = adatosk_vk_recorder_submit (rec, &error);
  CHECK (status == ADATOSK_ERROR_BACKEND && strstr (error.message, "earlier"),
      "after a timeout the context refuses work: %s", error.message);
  adatosk_vk_recorder_free (rec);
  adatosk_vk_pipelines_free (pipelines);
  adatosk_vk_allocator_free (alloc);
  adatosk_vk_context_free (ctx);
}

/* The environment variable sets the limit; nonsense is ignored. */
static void
test_timeout_variable (void)
{
  setenv ("ADATOSK_VULKAN_TIMEOUT_MS", "1500", 1);
  uint64_t ns =
      adatosk_vk_default_timeout_ns (VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU);
  CHECK (ns == 1500000000ull, "ADATOSK_VULKAN_TIMEOUT_MS=1500 gives %llu ns",
      (unsigned long long) ns);
  setenv ("ADATOSK_VULKAN_TIMEOUT_MS", "soon", 1);
  ns = adatosk_vk_default_timeout_ns (VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU);
  CHECK (ns == 60000000000ull,
      "a bad ADATOSK_VULKAN_TIMEOUT_MS keeps the default");
  unsetenv ("ADATOSK_VULKAN_TIMEOUT_MS");
}

/* The messenger counts what the layer reports (so the tests' zero is real). */
static void
test_messenger_reports (VkTest *t)
{
  if (!t->ctx->validation) {
    printf ("  (validation off: messenger not checked)\n");
    return;
  }
  unsigned before = adatosk_vk_validation_message_count ();
  VkBufferCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = 256,
      .usage = 0, /* invalid: usage must not be 0 */
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkBuffer buffer = VK_NULL_HANDLE;
  fprintf (stderr, "(the next validation message is provoked on purpose)\n");
  if (vkCreateBuffer (t->ctx->device, &info, NULL, &buffer) == VK_SUCCESS)
    vkDestroyBuffer (t->ctx->device, buffer, NULL);
  unsigned provoked = adatosk_vk_validation_message_count () - before;
  printf ("  provoked validation messages: %u\n", provoked);
  CHECK (provoked > 0,
      "an invalid call was not reported by the validation layer");
  vk_test_expected_messages += provoked;
}

int
main (void)
{
  VkTest t;
  vk_test_open (&t);
  test_device_choice (&t);
  test_allocator (&t);
  test_registry (&t);
  test_big_weight (&t, false);
  test_big_weight (&t, true);
  test_messenger_reports (&t);
  test_timeout_variable ();
  test_fence_timeout ();
  return vk_test_close (&t);
}
