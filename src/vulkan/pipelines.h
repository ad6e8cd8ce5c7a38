/* The pipeline registry: one compute pipeline per (kernel, specialization
 * constants), created on first use and kept for the backend's life.
 *
 * Every kernel's specialization constant 0 is its workgroup size
 * (local_size_x_id = 0); the others are its tile sizes. The registry checks
 * the workgroup size and the kernel's shared memory against the device's
 * limits before creating the pipeline.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_PIPELINES_H
#define ADATOSK_VK_PIPELINES_H

#include "context.h"
#include "shaders.h"

#define ADATOSK_VK_MAX_SPEC 8
#define ADATOSK_VK_MAX_BINDINGS 8

typedef struct
{
  const char *shader;    /* embedded module name */
  uint32_t num_bindings; /* storage buffers 0..num_bindings-1 */
  uint32_t push_size;    /* bytes of push constants (<= 128) */
  uint32_t num_spec;     /* specialization constants 0..num_spec-1 */
  /* Shared memory the kernel declares for these constants, in bytes. */
  uint32_t (*shared_bytes) (const uint32_t *spec);
  /* The module itself, for a kernel that is not embedded in the library
   * (the tests' own kernels); NULL: looked up by `shader`. */
  const AdatoskVkShaderCode *code;
} AdatoskVkKernel;

typedef struct
{
  const AdatoskVkKernel *kernel;
  uint32_t spec[ADATOSK_VK_MAX_SPEC];
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
} AdatoskVkPipeline;

typedef struct AdatoskVkPipelines AdatoskVkPipelines;

AdatoskStatus adatosk_vk_pipelines_new (AdatoskVkContext *context,
    AdatoskVkPipelines **pipelines_out, AdatoskError *error);
void adatosk_vk_pipelines_free (AdatoskVkPipelines *pipelines);

/* The pipeline of `kernel` with the constants `spec` (kernel->num_spec of
 * them), created if needed. */
AdatoskStatus adatosk_vk_pipeline_get (AdatoskVkPipelines *pipelines,
    const AdatoskVkKernel *kernel, const uint32_t *spec,
    const AdatoskVkPipeline **pipeline_out, AdatoskError *error);

/* Whether `kernel` with `spec` fits the device (workgroup size, shared
 * memory), without creating anything. */
bool adatosk_vk_kernel_fits (const AdatoskVkContext *context,
    const AdatoskVkKernel *kernel, const uint32_t *spec);

int adatosk_vk_pipelines_count (const AdatoskVkPipelines *pipelines);

#endif
