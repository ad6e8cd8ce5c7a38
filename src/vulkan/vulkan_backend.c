/* The Vulkan implementation of the backend interface (backend.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vulkan_backend.h"

#include "backend.h"
#include "error.h"
#include "forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct AdatoskVkBackend
{
  AdatoskVkContext *ctx;
  AdatoskVkAllocator *alloc;
  AdatoskVkPipelines *pipelines;
  AdatoskVkTuning tuning;
  AdatoskVkWeights weights;
  AdatoskVkForward *forward;
  const AdatoskModel *model;
  char device[768];
};

void
adatosk_vk_backend_free (AdatoskVkBackend *b)
{
  if (!b)
    return;
  if (b->forward && b->ctx->profile)
    adatosk_vk_recorder_print_profile (adatosk_vk_forward_recorder (b->forward),
        stderr, "ADATOSK_VULKAN_PROFILE", false);
  adatosk_vk_forward_free (b->forward);
  adatosk_vk_weights_clear (&b->weights);
  adatosk_vk_pipelines_free (b->pipelines);
  adatosk_vk_allocator_free (b->alloc);
  adatosk_vk_context_free (b->ctx);
  free (b);
}

/* One block for a small model (rather than the default 256 MiB): its
 * weights and position table plus the alignment slack. The activations have
 * an allocator of their own (forward.c), sized for the batch. */
static VkDeviceSize
block_size (const AdatoskModel *model)
{
  const AdatoskConfig *c = adatosk_model_get_config (model);
  VkDeviceSize n = (VkDeviceSize) c->num_tokens,
               dim = (VkDeviceSize) c->embed_dim;
  VkDeviceSize floats =
      (VkDeviceSize) adatosk_model_get_inference_param_count (model) + n * dim;
  VkDeviceSize bytes = floats * 4 + ((VkDeviceSize) 1 << 20);
  VkDeviceSize limit = (VkDeviceSize) 256 << 20;
  return bytes < limit ? bytes : limit;
}

AdatoskVkBackend *
adatosk_vk_backend_new (const AdatoskModel *model, int device_index,
    bool weights_f16, AdatoskError *error)
{
  AdatoskVkBackend *b = calloc (1, sizeof *b);
  if (!b) {
    adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
    return NULL;
  }
  AdatoskStatus status = adatosk_vk_context_new (device_index, &b->ctx, error);
  if (status == ADATOSK_OK)
    status =
        adatosk_vk_allocator_new (b->ctx, block_size (model), &b->alloc, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_pipelines_new (b->ctx, &b->pipelines, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_tuning_default (b->ctx, &b->tuning, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_weights_upload (b->ctx, b->alloc, model, weights_f16,
        &b->weights, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_forward_new (b->ctx, b->pipelines, &b->tuning, model,
        &b->weights, 1, &b->forward, error);
  if (status != ADATOSK_OK) {
    adatosk_vk_backend_free (b);
    return NULL;
  }
  b->model = model;
  char kernels[256];
  adatosk_vk_tuning_describe (&b->tuning, kernels, sizeof kernels);
  snprintf (b->device, sizeof b->device,
      "%s, %s weights, %.0f MiB of weights; %s", b->ctx->description,
      weights_f16 ? "fp16" : "fp32",
      (double) adatosk_vk_allocator_bytes (b->alloc) / (1 << 20), kernels);
  return b;
}

void
adatosk_vk_backend_set_profile (AdatoskVkBackend *b, bool on)
{
  b->ctx->profile = on;
  adatosk_vk_recorder_set_profile (adatosk_vk_forward_recorder (b->forward),
      on);
  adatosk_vk_forward_invalidate (b->forward); /* re-record with timestamps */
}

void
adatosk_vk_backend_print_profile (AdatoskVkBackend *b, FILE *out,
    const char *title, bool reset)
{
  adatosk_vk_recorder_print_profile (adatosk_vk_forward_recorder (b->forward),
      out, title, reset);
}

const char *
adatosk_vk_backend_device_name (const AdatoskVkBackend *b)
{
  return b->ctx->description;
}

bool
adatosk_vk_backend_is_cpu_device (const AdatoskVkBackend *b)
{
  return b->ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
}

const char *
adatosk_vk_backend_device (const AdatoskVkBackend *b)
{
  return b->device;
}

/* A forward for at least `batch` clips: a larger batch than any before
 * replaces the forward (its activations and command buffer) by one that
 * holds it; when that fails the old one stays. */
static AdatoskStatus
reserve (AdatoskVkBackend *b, int batch, AdatoskError *error)
{
  if (batch <= adatosk_vk_forward_capacity (b->forward))
    return ADATOSK_OK;
  AdatoskVkForward *grown = NULL;
  AdatoskStatus status = adatosk_vk_forward_new (b->ctx, b->pipelines,
      &b->tuning, b->model, &b->weights, batch, &grown, error);
  if (status != ADATOSK_OK)
    return status;
  if (b->ctx->profile) {
    adatosk_vk_recorder_print_profile (adatosk_vk_forward_recorder (b->forward),
        stderr, "ADATOSK_VULKAN_PROFILE", false);
    adatosk_vk_recorder_set_profile (adatosk_vk_forward_recorder (grown), true);
  }
  adatosk_vk_forward_free (b->forward);
  b->forward = grown;
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_backend_forward_batch (AdatoskVkBackend *b,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs, AdatoskError *error)
{
  unsigned before = adatosk_vk_validation_message_count ();
  AdatoskStatus status = reserve (b, batch, error);
  if (status == ADATOSK_OK)
    status = adatosk_vk_forward_run (b->forward, clips, batch, keep_ratio,
        outputs, error);
  unsigned messages = adatosk_vk_validation_message_count () - before;
  if (status == ADATOSK_OK && b->ctx->validation && messages > 0)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the Vulkan validation layer reported %u messages during the forward "
        "(printed on stderr)",
        messages);
  return status;
}

AdatoskStatus
adatosk_vk_backend_forward (AdatoskVkBackend *b, const float *clip,
    double keep_ratio, AdatoskOutput *output, AdatoskError *error)
{
  return adatosk_vk_backend_forward_batch (b, &clip, 1, keep_ratio, &output,
      error);
}

static void *
vulkan_create (const AdatoskModel *model, const AdatoskBackendOptions *options,
    AdatoskError *error)
{
  return adatosk_vk_backend_new (model, options->device_index,
      options->weights_fp16 != 0, error);
}

static void
vulkan_destroy (void *state)
{
  adatosk_vk_backend_free (state);
}

static const char *
vulkan_device (const void *state)
{
  return adatosk_vk_backend_device (state);
}

static AdatoskStatus
vulkan_forward_batch (void *state, const float *const *clips, int batch,
    double keep_ratio, AdatoskOutput *const *outputs, AdatoskError *error)
{
  return adatosk_vk_backend_forward_batch (state, clips, batch, keep_ratio,
      outputs, error);
}

const AdatoskBackendVTable adatosk_vulkan_backend = {
    .name = "vulkan",
    .create = vulkan_create,
    .destroy = vulkan_destroy,
    .device = vulkan_device,
    .forward_batch = vulkan_forward_batch,
};

int
adatosk_vulkan_has_gpu (const AdatoskBackendOptions *options, char *reason,
    size_t reason_size)
{
  AdatoskError error = {0};
  VkPhysicalDeviceType type;
  char name[384];
  if (reason && reason_size)
    reason[0] = '\0';
  if (adatosk_vk_probe (options ? options->device_index : -1, &type, name,
          sizeof name, &error)
      != ADATOSK_OK) {
    if (reason && reason_size)
      snprintf (reason, reason_size, "%s", error.message);
    return 0;
  }
  if (type == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU
      || type == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU)
    return 1;
  if (reason && reason_size)
    snprintf (reason, reason_size,
        "the Vulkan device %s is not a GPU, so the CPU "
        "path is faster",
        name);
  return 0;
}
