/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vk_test.h"

#include <math.h>
#include <string.h>

int vk_test_failures;
unsigned vk_test_expected_messages;

#define GUARD_BYTE 0xA5

static void
die (const char *what, const AdatoskError *error)
{
  fprintf (stderr, "%s: %s\n", what, error->message);
  exit (1);
}

void
vk_test_require_device (void)
{
  AdatoskError error = {0};
  if (adatosk_vk_probe (-1, NULL, NULL, 0, &error) == ADATOSK_OK)
    return;
  const char *require = getenv ("ADATOSK_TEST_REQUIRE_VULKAN");
  if (require && strcmp (require, "1") == 0)
    die ("no usable Vulkan device, and ADATOSK_TEST_REQUIRE_VULKAN=1", &error);
  fprintf (stderr, "skip: %s\n", error.message);
  exit (77);
}

void
vk_test_open (VkTest *t)
{
  AdatoskError error = {0};
  memset (t, 0, sizeof *t);
  vk_test_require_device ();
  if (!adatosk_vk_validation_requested ())
    fprintf (stderr,
        "note: ADATOSK_VULKAN_VALIDATION is not set, running without "
        "the validation layer\n");
  else if (!adatosk_vk_validation_enabled ())
    fprintf (stderr,
        "note: VK_LAYER_KHRONOS_validation is not installed, running "
        "without it (ADATOSK_VULKAN_VALIDATION=auto)\n");
  if (adatosk_vk_context_new (-1, &t->ctx, &error) != ADATOSK_OK)
    die ("vulkan context", &error);
  fprintf (stderr, "device: %s\n", t->ctx->description);
  if (adatosk_vk_allocator_new (t->ctx, 0, &t->alloc, &error) != ADATOSK_OK
      || adatosk_vk_pipelines_new (t->ctx, &t->pipelines, &error) != ADATOSK_OK
      || adatosk_vk_recorder_new (t->ctx, t->pipelines, &t->rec, &error)
          != ADATOSK_OK)
    die ("vulkan setup", &error);
  if (adatosk_vk_tuning_default (t->ctx, &t->tuning, &error) != ADATOSK_OK)
    die ("vulkan tuning", &error);
}

int
vk_test_close (VkTest *t)
{
  adatosk_vk_recorder_free (t->rec);
  adatosk_vk_pipelines_free (t->pipelines);
  adatosk_vk_allocator_free (t->alloc);
  adatosk_vk_context_free (t->ctx);
  unsigned messages =
      adatosk_vk_validation_message_count () - vk_test_expected_messages;
  CHECK (messages == 0, "the validation layer reported %u messages", messages);
  if (vk_test_failures)
    fprintf (stderr, "%d checks failed\n", vk_test_failures);
  return vk_test_failures ? 1 : 0;
}

VkTestBuffer
vk_test_buffer (VkTest *t, size_t count)
{
  AdatoskError error = {0};
  VkTestBuffer b = {.count = count};
  VkDeviceSize guard = adatosk_vk_allocator_alignment (t->alloc);
  VkDeviceSize bytes = (VkDeviceSize) count * 4;
  if (adatosk_vk_alloc (t->alloc, ADATOSK_VK_MEMORY_DEVICE,
          guard + bytes + guard, &b.whole, &error)
      != ADATOSK_OK)
    die ("test buffer", &error);
  b.range = b.whole;
  b.range.offset += guard;
  b.range.size = bytes;
  if (b.range.mapped)
    b.range.mapped = (char *) b.whole.mapped + guard;
  unsigned char *fill = malloc (b.whole.size);
  memset (fill, GUARD_BYTE, b.whole.size);
  if (adatosk_vk_upload (t->ctx, &b.whole, fill, b.whole.size, &error)
      != ADATOSK_OK)
    die ("test buffer fill", &error);
  free (fill);
  return b;
}

void
vk_test_upload (VkTest *t, const VkTestBuffer *b, const void *data,
    size_t count)
{
  AdatoskError error = {0};
  if (adatosk_vk_upload (t->ctx, &b->range, data, (VkDeviceSize) count * 4,
          &error))
    die ("upload", &error);
}

void
vk_test_download (VkTest *t, const VkTestBuffer *b, void *data, size_t count)
{
  AdatoskError error = {0};
  if (adatosk_vk_download (t->ctx, &b->range, data, (VkDeviceSize) count * 4,
          &error))
    die ("download", &error);
}

void
vk_test_check_guards (VkTest *t, const VkTestBuffer *b, const char *what)
{
  AdatoskError error = {0};
  unsigned char *all = malloc (b->whole.size);
  if (adatosk_vk_download (t->ctx, &b->whole, all, b->whole.size, &error))
    die ("download", &error);
  VkDeviceSize guard = b->range.offset - b->whole.offset;
  VkDeviceSize end = guard + b->range.size;
  size_t bad = 0;
  for (VkDeviceSize i = 0; i < b->whole.size; i++)
    if ((i < guard || i >= end) && all[i] != GUARD_BYTE)
      bad++;
  CHECK (bad == 0, "%s: %zu guard bytes around the output were overwritten",
      what, bad);
  free (all);
}

void
vk_test_begin (VkTest *t)
{
  AdatoskError error = {0};
  if (adatosk_vk_recorder_begin (t->rec, &error) != ADATOSK_OK)
    die ("begin", &error);
}

void
vk_test_run (VkTest *t)
{
  AdatoskError error = {0};
  if (adatosk_vk_recorder_end (t->rec, &error) != ADATOSK_OK)
    die ("record", &error);
  if (adatosk_vk_recorder_submit (t->rec, &error) != ADATOSK_OK)
    die ("submit", &error);
}

void
vk_test_random (uint64_t *state, float *out, size_t count, float lo, float hi)
{
  for (size_t i = 0; i < count; i++) {
    /* splitmix64 */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    out[i] = lo + (hi - lo) * (float) ((double) (z >> 11) / 9007199254740992.0);
  }
}

double
vk_test_nmse (const float *a, const double *ref, size_t count)
{
  double num = 0, den = 0;
  for (size_t i = 0; i < count; i++) {
    if (!isfinite (a[i]))
      return INFINITY;
    double d = a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

double
vk_test_nmse_f (const float *a, const float *ref, size_t count)
{
  double num = 0, den = 0;
  for (size_t i = 0; i < count; i++) {
    if (!isfinite (a[i]) || !isfinite (ref[i]))
      return INFINITY;
    double d = (double) a[i] - ref[i];
    num += d * d;
    den += (double) ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}
