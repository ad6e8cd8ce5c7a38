/* Shared by the Vulkan tests: a Vulkan context with the validation layer
 * (ADATOSK_VULKAN_VALIDATION=1 in meson's test environment), ranges with
 * guard bytes around them, random data, NMSE.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_TEST_H
#define ADATOSK_VK_TEST_H

#include "vulkan/ops.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct
{
  AdatoskVkContext *ctx;
  AdatoskVkAllocator *alloc;
  AdatoskVkPipelines *pipelines;
  AdatoskVkRecorder *rec;
  AdatoskVkTuning tuning;
} VkTest;

/* The tests' own kernels (vk_test_shaders.c, generated from spin.comp). */
const AdatoskVkShaderCode *vk_test_shader_find (const char *name);

extern int vk_test_failures;
/* Validation messages a test provoked on purpose. */
extern unsigned vk_test_expected_messages;

#define CHECK(cond, ...) \
  do { \
    if (!(cond)) { \
      fprintf (stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, \
          #cond); \
      fprintf (stderr, __VA_ARGS__); \
      fputc ('\n', stderr); \
      vk_test_failures++; \
    } \
  } while (0)

#define CHECK_OK(status, error) \
  CHECK ((status) == ADATOSK_OK, "%s", (error).message)

/* Exits with 77 (meson's "skipped") when the machine has no Vulkan driver or
 * device at all, unless ADATOSK_TEST_REQUIRE_VULKAN=1 (CI) makes that a
 * failure. */
void vk_test_require_device (void);
/* vk_test_require_device(), then opens the default device; fails if
 * validation was asked for and the layer is missing. */
void vk_test_open (VkTest *t);
/* Frees everything, fails when the validation layer said anything. */
int vk_test_close (VkTest *t);

/* A device range of `count` floats with guard bytes before and after. */
typedef struct
{
  AdatoskVkRange range; /* what a dispatch binds */
  AdatoskVkRange whole; /* guards included */
  size_t count;
} VkTestBuffer;

VkTestBuffer vk_test_buffer (VkTest *t, size_t count);
void vk_test_upload (VkTest *t, const VkTestBuffer *b, const void *data,
    size_t count);
void vk_test_download (VkTest *t, const VkTestBuffer *b, void *data,
    size_t count);
/* Fails the test when a guard byte changed; `what` names the buffer. */
void vk_test_check_guards (VkTest *t, const VkTestBuffer *b, const char *what);

/* begin + ops recorded by the caller + end + submit */
void vk_test_begin (VkTest *t);
void vk_test_run (VkTest *t);

/* Uniform in [lo, hi), reproducible from the seed. */
void vk_test_random (uint64_t *state, float *out, size_t count, float lo,
    float hi);
double vk_test_nmse (const float *a, const double *ref, size_t count);
double vk_test_nmse_f (const float *a, const float *ref, size_t count);

#endif
