/* Recording one command buffer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recorder.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define SETS_PER_POOL 256
#define MAX_TIMED_DISPATCHES 4096
#define MAX_PROFILE_ROWS 128

typedef struct
{
  char name[96];
  uint64_t calls;
  double ms;
} ProfileRow;

struct AdatoskVkRecorder
{
  AdatoskVkContext *ctx;
  AdatoskVkPipelines *pipelines;
  VkCommandBuffer cmd;
  VkDescriptorPool *pools;
  int num_pools, current_pool, sets_in_current;
  int dispatches;
  bool recording;
  AdatoskError error; /* the first error of this recording */

  /* Profiling: a timestamp before the first dispatch and after each one. */
  bool profile;
  bool timed; /* the current recording writes timestamps */
  VkQueryPool queries;
  char label[80];
  int *dispatch_row; /* [MAX_TIMED_DISPATCHES] profile row of each dispatch */
  ProfileRow rows[MAX_PROFILE_ROWS];
  int num_rows;
  uint64_t timed_submits;
  bool warned;
};

AdatoskStatus
adatosk_vk_recorder_new (AdatoskVkContext *ctx, AdatoskVkPipelines *pipelines,
    AdatoskVkRecorder **out, AdatoskError *error)
{
  *out = NULL;
  AdatoskVkRecorder *rec = calloc (1, sizeof *rec);
  if (!rec)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  rec->ctx = ctx;
  rec->pipelines = pipelines;
  VkCommandBufferAllocateInfo info = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
      .commandPool = ctx->command_pool,
      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
      .commandBufferCount = 1,
  };
  VkResult result = vkAllocateCommandBuffers (ctx->device, &info, &rec->cmd);
  if (result != VK_SUCCESS) {
    free (rec);
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot allocate a Vulkan command buffer (%s)",
        adatosk_vk_result_name (result));
  }
  rec->profile = ctx->profile;
  *out = rec;
  return ADATOSK_OK;
}

void
adatosk_vk_recorder_set_profile (AdatoskVkRecorder *rec, bool on)
{
  rec->profile = on;
}

void
adatosk_vk_recorder_set_label (AdatoskVkRecorder *rec, const char *label)
{
  snprintf (rec->label, sizeof rec->label, "%s", label ? label : "");
}

static bool
profile_ready (AdatoskVkRecorder *rec)
{
  if (rec->queries)
    return true;
  if (rec->ctx->timestamp_bits == 0) {
    if (!rec->warned)
      fprintf (stderr,
          "libadatosk: %s has no timestamps on its compute queue: "
          "no per-kernel profile\n",
          rec->ctx->description);
    rec->warned = true;
    return false;
  }
  VkQueryPoolCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = MAX_TIMED_DISPATCHES + 1,
  };
  rec->dispatch_row = calloc (MAX_TIMED_DISPATCHES, sizeof *rec->dispatch_row);
  if (!rec->dispatch_row
      || vkCreateQueryPool (rec->ctx->device, &info, NULL, &rec->queries)
          != VK_SUCCESS) {
    free (rec->dispatch_row);
    rec->dispatch_row = NULL;
    rec->queries = VK_NULL_HANDLE;
    return false;
  }
  return true;
}

static int
profile_row (AdatoskVkRecorder *rec, const char *shader)
{
  char name[96];
  snprintf (name, sizeof name, "%s%s%s", shader, rec->label[0] ? " " : "",
      rec->label);
  for (int i = 0; i < rec->num_rows; i++)
    if (strcmp (rec->rows[i].name, name) == 0)
      return i;
  if (rec->num_rows == MAX_PROFILE_ROWS)
    return MAX_PROFILE_ROWS - 1; /* the last row takes the rest */
  snprintf (rec->rows[rec->num_rows].name, sizeof rec->rows[0].name, "%s",
      name);
  return rec->num_rows++;
}

static int
compare_rows (const void *a, const void *b)
{
  double x = ((const ProfileRow *) a)->ms, y = ((const ProfileRow *) b)->ms;
  return (x < y) - (x > y);
}

void
adatosk_vk_recorder_print_profile (AdatoskVkRecorder *rec, FILE *out,
    const char *title, bool reset)
{
  if (out && rec->timed_submits > 0) {
    ProfileRow sorted[MAX_PROFILE_ROWS];
    memcpy (sorted, rec->rows, (size_t) rec->num_rows * sizeof *sorted);
    qsort (sorted, (size_t) rec->num_rows, sizeof *sorted, compare_rows);
    double total = 0;
    for (int i = 0; i < rec->num_rows; i++)
      total += sorted[i].ms;
    double n = (double) rec->timed_submits;
    fprintf (out,
        "%s: GPU timestamps, mean of %llu submits, %.3f ms of kernels per "
        "submit on %s\n\n| kernel | dispatches per submit | ms per submit | %% "
        "|\n"
        "|---|---|---|---|\n",
        title, (unsigned long long) rec->timed_submits, total / n,
        rec->ctx->description);
    for (int i = 0; i < rec->num_rows; i++)
      if (sorted[i].calls)
        fprintf (out, "| %s | %.0f | %.3f | %.1f |\n", sorted[i].name,
            sorted[i].calls / n, sorted[i].ms / n,
            total > 0 ? 100.0 * sorted[i].ms / total : 0.0);
    fprintf (out, "\n");
  }
  if (reset) {
    /* The names stay: a recorded command buffer refers to its rows. */
    for (int i = 0; i < rec->num_rows; i++)
      rec->rows[i].calls = 0, rec->rows[i].ms = 0;
    rec->timed_submits = 0;
  }
}

void
adatosk_vk_recorder_free (AdatoskVkRecorder *rec)
{
  if (!rec)
    return;
  adatosk_vk_context_settle (rec->ctx);
  if (rec->queries)
    vkDestroyQueryPool (rec->ctx->device, rec->queries, NULL);
  free (rec->dispatch_row);
  for (int i = 0; i < rec->num_pools; i++)
    vkDestroyDescriptorPool (rec->ctx->device, rec->pools[i], NULL);
  free (rec->pools);
  vkFreeCommandBuffers (rec->ctx->device, rec->ctx->command_pool, 1, &rec->cmd);
  free (rec);
}

AdatoskVkContext *
adatosk_vk_recorder_context (AdatoskVkRecorder *rec)
{
  return rec->ctx;
}

int
adatosk_vk_recorder_dispatch_count (const AdatoskVkRecorder *rec)
{
  return rec->dispatches;
}

static AdatoskStatus
stick (AdatoskVkRecorder *rec, AdatoskStatus status, const char *what,
    VkResult result)
{
  if (rec->error.status == ADATOSK_OK)
    adatosk_fail (&rec->error, status, "%s on %s (%s)", what,
        rec->ctx->description, adatosk_vk_result_name (result));
  return rec->error.status;
}

AdatoskStatus
adatosk_vk_recorder_fail (AdatoskVkRecorder *rec, const AdatoskError *error)
{
  if (rec->error.status == ADATOSK_OK)
    rec->error = *error;
  return rec->error.status;
}

AdatoskStatus
adatosk_vk_recorder_begin (AdatoskVkRecorder *rec, AdatoskError *error)
{
  memset (&rec->error, 0, sizeof rec->error);
  rec->dispatches = 0;
  rec->current_pool = 0;
  rec->sets_in_current = 0;
  for (int i = 0; i < rec->num_pools; i++)
    vkResetDescriptorPool (rec->ctx->device, rec->pools[i], 0);
  VkCommandBufferBeginInfo begin = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
  };
  VkResult result = vkResetCommandBuffer (rec->cmd, 0);
  if (result == VK_SUCCESS)
    result = vkBeginCommandBuffer (rec->cmd, &begin);
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot begin a Vulkan command buffer (%s)",
        adatosk_vk_result_name (result));
  rec->recording = true;
  rec->label[0] = '\0';
  rec->timed = rec->profile && profile_ready (rec);
  if (rec->timed) {
    vkCmdResetQueryPool (rec->cmd, rec->queries, 0, MAX_TIMED_DISPATCHES + 1);
    vkCmdWriteTimestamp (rec->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
        rec->queries, 0);
  }
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_recorder_end (AdatoskVkRecorder *rec, AdatoskError *error)
{
  if (rec->recording) {
    /* The host reads results once the fence signals. */
    VkMemoryBarrier barrier = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask =
            VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
    };
    vkCmdPipelineBarrier (rec->cmd,
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
        VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, NULL, 0, NULL);
    VkResult result = vkEndCommandBuffer (rec->cmd);
    rec->recording = false;
    if (result != VK_SUCCESS)
      stick (rec, ADATOSK_ERROR_BACKEND, "cannot end the command buffer",
          result);
  }
  if (rec->error.status != ADATOSK_OK && error)
    *error = rec->error;
  return rec->error.status;
}

AdatoskStatus
adatosk_vk_recorder_submit (AdatoskVkRecorder *rec, AdatoskError *error)
{
  if (rec->recording || rec->error.status != ADATOSK_OK)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "internal error: submitting an unfinished or failed recording");
  AdatoskStatus status = adatosk_vk_submit_and_wait (rec->ctx, rec->cmd, error);
  if (status != ADATOSK_OK || !rec->timed)
    return status;
  /* Dispatch i ran between timestamps i and i + 1 (a barrier follows each). */
  int timed = rec->dispatches < MAX_TIMED_DISPATCHES ? rec->dispatches
                                                     : MAX_TIMED_DISPATCHES;
  uint64_t stamps[MAX_TIMED_DISPATCHES + 1];
  VkResult result = vkGetQueryPoolResults (rec->ctx->device, rec->queries, 0,
      (uint32_t) timed + 1, sizeof stamps, stamps, sizeof stamps[0],
      VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
  if (result != VK_SUCCESS)
    return ADATOSK_OK; /* the forward itself succeeded */
  uint64_t mask = rec->ctx->timestamp_bits >= 64
      ? ~0ull
      : ((1ull << rec->ctx->timestamp_bits) - 1);
  double period_ms = rec->ctx->props.limits.timestampPeriod * 1e-6;
  for (int i = 0; i < timed; i++) {
    ProfileRow *row = &rec->rows[rec->dispatch_row[i]];
    row->calls++;
    row->ms += (double) ((stamps[i + 1] - stamps[i]) & mask) * period_ms;
  }
  rec->timed_submits++;
  return ADATOSK_OK;
}

static VkDescriptorSet
allocate_set (AdatoskVkRecorder *rec, VkDescriptorSetLayout layout)
{
  if (rec->current_pool < rec->num_pools
      && rec->sets_in_current == SETS_PER_POOL) {
    rec->current_pool++;
    rec->sets_in_current = 0;
  }
  if (rec->current_pool == rec->num_pools) {
    VkDescriptorPoolSize size = {
        .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = SETS_PER_POOL * ADATOSK_VK_MAX_BINDINGS,
    };
    VkDescriptorPoolCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
        .maxSets = SETS_PER_POOL,
        .poolSizeCount = 1,
        .pPoolSizes = &size,
    };
    VkDescriptorPool *pools =
        realloc (rec->pools, (size_t) (rec->num_pools + 1) * sizeof *pools);
    if (!pools) {
      stick (rec, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory",
          VK_ERROR_OUT_OF_HOST_MEMORY);
      return VK_NULL_HANDLE;
    }
    rec->pools = pools;
    VkResult result = vkCreateDescriptorPool (rec->ctx->device, &info, NULL,
        &rec->pools[rec->num_pools]);
    if (result != VK_SUCCESS) {
      stick (rec, ADATOSK_ERROR_BACKEND, "cannot create a descriptor pool",
          result);
      return VK_NULL_HANDLE;
    }
    rec->num_pools++;
    rec->sets_in_current = 0;
  }
  VkDescriptorSetAllocateInfo info = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
      .descriptorPool = rec->pools[rec->current_pool],
      .descriptorSetCount = 1,
      .pSetLayouts = &layout,
  };
  VkDescriptorSet set = VK_NULL_HANDLE;
  VkResult result = vkAllocateDescriptorSets (rec->ctx->device, &info, &set);
  if (result != VK_SUCCESS) {
    stick (rec, ADATOSK_ERROR_BACKEND, "cannot allocate a descriptor set",
        result);
    return VK_NULL_HANDLE;
  }
  rec->sets_in_current++;
  return set;
}

AdatoskStatus
adatosk_vk_recorder_dispatch (AdatoskVkRecorder *rec,
    const AdatoskVkKernel *kernel, const uint32_t *spec,
    const AdatoskVkRange *bindings, const void *push, uint32_t gx, uint32_t gy,
    uint32_t gz)
{
  if (rec->error.status != ADATOSK_OK)
    return rec->error.status;
  if (!rec->recording)
    return stick (rec, ADATOSK_ERROR_BACKEND,
        "internal error: dispatch outside a recording",
        VK_ERROR_INITIALIZATION_FAILED);
  const VkPhysicalDeviceLimits *limits = &rec->ctx->props.limits;
  if (gx == 0 || gy == 0 || gz == 0)
    return ADATOSK_OK;
  if (gx > limits->maxComputeWorkGroupCount[0]
      || gy > limits->maxComputeWorkGroupCount[1]
      || gz > limits->maxComputeWorkGroupCount[2]) {
    AdatoskError e = {0};
    adatosk_fail (&e, ADATOSK_ERROR_BACKEND,
        "the kernel \"%s\" needs %u x %u x %u workgroups; %s allows %u x %u x "
        "%u",
        kernel->shader, gx, gy, gz, rec->ctx->description,
        limits->maxComputeWorkGroupCount[0],
        limits->maxComputeWorkGroupCount[1],
        limits->maxComputeWorkGroupCount[2]);
    return adatosk_vk_recorder_fail (rec, &e);
  }
  const AdatoskVkPipeline *p;
  AdatoskError e = {0};
  if (adatosk_vk_pipeline_get (rec->pipelines, kernel, spec, &p, &e)
      != ADATOSK_OK)
    return adatosk_vk_recorder_fail (rec, &e);

  VkDescriptorBufferInfo infos[ADATOSK_VK_MAX_BINDINGS];
  VkWriteDescriptorSet writes[ADATOSK_VK_MAX_BINDINGS];
  VkDescriptorSet set = allocate_set (rec, p->set_layout);
  if (!set)
    return rec->error.status;
  for (uint32_t i = 0; i < kernel->num_bindings; i++) {
    if (!bindings[i].buffer || bindings[i].size == 0
        || bindings[i].size > limits->maxStorageBufferRange
        || bindings[i].offset % limits->minStorageBufferOffsetAlignment) {
      adatosk_fail (&e, ADATOSK_ERROR_BACKEND,
          "internal error: binding %u of \"%s\" is empty, misaligned or larger "
          "than maxStorageBufferRange (%llu bytes at %llu; the limit is %u)",
          i, kernel->shader, (unsigned long long) bindings[i].size,
          (unsigned long long) bindings[i].offset,
          limits->maxStorageBufferRange);
      return adatosk_vk_recorder_fail (rec, &e);
    }
    infos[i] = (VkDescriptorBufferInfo){
        .buffer = bindings[i].buffer,
        .offset = bindings[i].offset,
        .range = bindings[i].size,
    };
    writes[i] = (VkWriteDescriptorSet){
        .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
        .dstSet = set,
        .dstBinding = i,
        .descriptorCount = 1,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .pBufferInfo = &infos[i],
    };
  }
  vkUpdateDescriptorSets (rec->ctx->device, kernel->num_bindings, writes, 0,
      NULL);
  vkCmdBindPipeline (rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
  vkCmdBindDescriptorSets (rec->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout,
      0, 1, &set, 0, NULL);
  if (kernel->push_size)
    vkCmdPushConstants (rec->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
        kernel->push_size, push);
  vkCmdDispatch (rec->cmd, gx, gy, gz);
  /* Every dispatch reads what the previous ones wrote: one global barrier. */
  VkMemoryBarrier barrier = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT
          | VK_ACCESS_TRANSFER_READ_BIT,
  };
  vkCmdPipelineBarrier (rec->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
      1, &barrier, 0, NULL, 0, NULL);
  if (rec->timed && rec->dispatches < MAX_TIMED_DISPATCHES) {
    rec->dispatch_row[rec->dispatches] = profile_row (rec, kernel->shader);
    vkCmdWriteTimestamp (rec->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT,
        rec->queries, (uint32_t) rec->dispatches + 1);
  }
  rec->dispatches++;
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_recorder_copy (AdatoskVkRecorder *rec, const AdatoskVkRange *src,
    const AdatoskVkRange *dst, VkDeviceSize size)
{
  if (rec->error.status != ADATOSK_OK)
    return rec->error.status;
  VkBufferCopy region = {.srcOffset = src->offset,
      .dstOffset = dst->offset,
      .size = size};
  vkCmdCopyBuffer (rec->cmd, src->buffer, dst->buffer, 1, &region);
  VkMemoryBarrier barrier = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT,
  };
  vkCmdPipelineBarrier (rec->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
      VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
      &barrier, 0, NULL, 0, NULL);
  return ADATOSK_OK;
}
