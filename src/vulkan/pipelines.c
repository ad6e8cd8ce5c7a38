/* The pipeline registry.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pipelines.h"

#include "error.h"
#include "shaders.h"

#include <stdlib.h>
#include <string.h>

typedef struct
{
  const char *name;
  VkShaderModule module;
} Module;

struct AdatoskVkPipelines
{
  AdatoskVkContext *ctx;
  AdatoskVkPipeline **pipelines;
  int num_pipelines, capacity;
  Module *modules;
  int num_modules;
};

AdatoskStatus
adatosk_vk_pipelines_new (AdatoskVkContext *ctx, AdatoskVkPipelines **out,
    AdatoskError *error)
{
  *out = calloc (1, sizeof **out);
  if (!*out)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  (*out)->ctx = ctx;
  return ADATOSK_OK;
}

void
adatosk_vk_pipelines_free (AdatoskVkPipelines *r)
{
  if (!r)
    return;
  adatosk_vk_context_settle (r->ctx);
  VkDevice device = r->ctx->device;
  for (int i = 0; i < r->num_pipelines; i++) {
    AdatoskVkPipeline *p = r->pipelines[i];
    vkDestroyPipeline (device, p->pipeline, NULL);
    vkDestroyPipelineLayout (device, p->layout, NULL);
    vkDestroyDescriptorSetLayout (device, p->set_layout, NULL);
    free (p);
  }
  for (int i = 0; i < r->num_modules; i++)
    vkDestroyShaderModule (device, r->modules[i].module, NULL);
  free (r->pipelines);
  free (r->modules);
  free (r);
}

int
adatosk_vk_pipelines_count (const AdatoskVkPipelines *r)
{
  return r->num_pipelines;
}

bool
adatosk_vk_kernel_fits (const AdatoskVkContext *ctx,
    const AdatoskVkKernel *kernel, const uint32_t *spec)
{
  const VkPhysicalDeviceLimits *limits = &ctx->props.limits;
  if (spec[0] == 0 || spec[0] > limits->maxComputeWorkGroupInvocations
      || spec[0] > limits->maxComputeWorkGroupSize[0])
    return false;
  return !kernel->shared_bytes
      || kernel->shared_bytes (spec) <= limits->maxComputeSharedMemorySize;
}

static AdatoskStatus
get_module (AdatoskVkPipelines *r, const AdatoskVkKernel *kernel,
    VkShaderModule *module_out, AdatoskError *error)
{
  const char *name = kernel->shader;
  for (int i = 0; i < r->num_modules; i++)
    if (strcmp (r->modules[i].name, name) == 0) {
      *module_out = r->modules[i].module;
      return ADATOSK_OK;
    }
  const AdatoskVkShaderCode *code =
      kernel->code ? kernel->code : adatosk_vk_shader_find (name);
  if (!code)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the shader \"%s\" is not embedded in this build of libadatosk", name);
  Module *modules =
      realloc (r->modules, (size_t) (r->num_modules + 1) * sizeof *modules);
  if (!modules)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  r->modules = modules;
  VkShaderModuleCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
      .codeSize = code->size,
      .pCode = code->code,
  };
  VkResult result =
      vkCreateShaderModule (r->ctx->device, &info, NULL, module_out);
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot load the shader \"%s\" on %s (%s)", name, r->ctx->description,
        adatosk_vk_result_name (result));
  modules[r->num_modules].name = code->name;
  modules[r->num_modules].module = *module_out;
  r->num_modules++;
  return ADATOSK_OK;
}

static AdatoskStatus
create_pipeline (AdatoskVkPipelines *r, const AdatoskVkKernel *kernel,
    AdatoskVkPipeline *p, AdatoskError *error)
{
  VkDevice device = r->ctx->device;
  VkShaderModule module;
  AdatoskStatus status = get_module (r, kernel, &module, error);
  if (status != ADATOSK_OK)
    return status;

  VkDescriptorSetLayoutBinding bindings[ADATOSK_VK_MAX_BINDINGS];
  for (uint32_t i = 0; i < kernel->num_bindings; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding){
        .binding = i,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = 1,
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo set_info = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
      .bindingCount = kernel->num_bindings,
      .pBindings = bindings,
  };
  VkPushConstantRange push = {
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
      .size = kernel->push_size,
  };
  VkPipelineLayoutCreateInfo layout_info = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
      .setLayoutCount = 1,
      .pSetLayouts = &p->set_layout,
      .pushConstantRangeCount = kernel->push_size ? 1 : 0,
      .pPushConstantRanges = &push,
  };
  VkSpecializationMapEntry entries[ADATOSK_VK_MAX_SPEC];
  for (uint32_t i = 0; i < kernel->num_spec; i++)
    entries[i] = (VkSpecializationMapEntry){
        .constantID = i,
        .offset = i * sizeof (uint32_t),
        .size = sizeof (uint32_t),
    };
  VkSpecializationInfo spec_info = {
      .mapEntryCount = kernel->num_spec,
      .pMapEntries = entries,
      .dataSize = kernel->num_spec * sizeof (uint32_t),
      .pData = p->spec,
  };
  VkComputePipelineCreateInfo pipeline_info = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage =
          {
              .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
              .stage = VK_SHADER_STAGE_COMPUTE_BIT,
              .module = module,
              .pName = "main",
              .pSpecializationInfo = &spec_info,
          },
  };
  VkResult result =
      vkCreateDescriptorSetLayout (device, &set_info, NULL, &p->set_layout);
  if (result == VK_SUCCESS)
    result = vkCreatePipelineLayout (device, &layout_info, NULL, &p->layout);
  if (result == VK_SUCCESS) {
    pipeline_info.layout = p->layout;
    result = vkCreateComputePipelines (device, VK_NULL_HANDLE, 1,
        &pipeline_info, NULL, &p->pipeline);
  }
  if (result != VK_SUCCESS) {
    if (p->layout)
      vkDestroyPipelineLayout (device, p->layout, NULL);
    if (p->set_layout)
      vkDestroyDescriptorSetLayout (device, p->set_layout, NULL);
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot create the compute pipeline \"%s\" on %s (%s)", kernel->shader,
        r->ctx->description, adatosk_vk_result_name (result));
  }
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_pipeline_get (AdatoskVkPipelines *r, const AdatoskVkKernel *kernel,
    const uint32_t *spec, const AdatoskVkPipeline **pipeline_out,
    AdatoskError *error)
{
  *pipeline_out = NULL;
  for (int i = 0; i < r->num_pipelines; i++) {
    AdatoskVkPipeline *p = r->pipelines[i];
    if (p->kernel == kernel
        && memcmp (p->spec, spec, kernel->num_spec * sizeof *spec) == 0) {
      *pipeline_out = p;
      return ADATOSK_OK;
    }
  }
  if (kernel->num_spec == 0 || kernel->num_spec > ADATOSK_VK_MAX_SPEC
      || kernel->num_bindings > ADATOSK_VK_MAX_BINDINGS
      || kernel->push_size > 128)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the kernel \"%s\" is declared with out-of-range interface sizes",
        kernel->shader);
  const VkPhysicalDeviceLimits *limits = &r->ctx->props.limits;
  if (spec[0] == 0 || spec[0] > limits->maxComputeWorkGroupInvocations
      || spec[0] > limits->maxComputeWorkGroupSize[0])
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the kernel \"%s\" wants a workgroup of %u invocations; %s allows %u",
        kernel->shader, spec[0], r->ctx->description,
        limits->maxComputeWorkGroupInvocations
                < limits->maxComputeWorkGroupSize[0]
            ? limits->maxComputeWorkGroupInvocations
            : limits->maxComputeWorkGroupSize[0]);
  if (kernel->shared_bytes
      && kernel->shared_bytes (spec) > limits->maxComputeSharedMemorySize)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the kernel \"%s\" needs %u bytes of shared memory with these tile "
        "sizes; "
        "%s has %u",
        kernel->shader, kernel->shared_bytes (spec), r->ctx->description,
        limits->maxComputeSharedMemorySize);
  if (r->num_pipelines == r->capacity) {
    int capacity = r->capacity ? 2 * r->capacity : 16;
    AdatoskVkPipeline **pipelines =
        realloc (r->pipelines, (size_t) capacity * sizeof *pipelines);
    if (!pipelines)
      return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
    r->pipelines = pipelines;
    r->capacity = capacity;
  }
  AdatoskVkPipeline *p = calloc (1, sizeof *p);
  if (!p)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  p->kernel = kernel;
  memcpy (p->spec, spec, kernel->num_spec * sizeof *spec);
  AdatoskStatus status = create_pipeline (r, kernel, p, error);
  if (status != ADATOSK_OK) {
    free (p);
    return status;
  }
  r->pipelines[r->num_pipelines++] = p;
  *pipeline_out = p;
  return ADATOSK_OK;
}
