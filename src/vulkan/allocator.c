/* Large blocks, bump sub-allocation, and host <-> device copies.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "allocator.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BLOCK_SIZE ((VkDeviceSize) 256 << 20)

typedef struct
{
  AdatoskVkMemoryKind kind;
  VkDeviceMemory memory;
  VkBuffer buffer;
  VkDeviceSize size, used;
  void *mapped;
} Block;

struct AdatoskVkAllocator
{
  AdatoskVkContext *ctx;
  VkDeviceSize block_size, alignment, max_allocation;
  Block *blocks;
  int num_blocks, capacity;
};

static VkDeviceSize
align_up (VkDeviceSize value, VkDeviceSize alignment)
{
  return (value + alignment - 1) / alignment * alignment;
}

AdatoskStatus
adatosk_vk_allocator_new (AdatoskVkContext *ctx, VkDeviceSize block_size,
    AdatoskVkAllocator **allocator_out, AdatoskError *error)
{
  *allocator_out = NULL;
  AdatoskVkAllocator *a = calloc (1, sizeof *a);
  if (!a)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  a->ctx = ctx;
  /* 256 bytes: the largest minStorageBufferOffsetAlignment the spec allows,
   * so ranges stay bindable on every device, and whole cache lines. */
  a->alignment = 256;
  if (ctx->props.limits.minStorageBufferOffsetAlignment > a->alignment)
    a->alignment = ctx->props.limits.minStorageBufferOffsetAlignment;

  VkPhysicalDeviceMaintenance3Properties m3 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
  };
  VkPhysicalDeviceProperties2 props2 = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
      .pNext = &m3,
  };
  a->max_allocation = (VkDeviceSize) 1 << 30; /* the spec's minimum */
  if (ctx->props.apiVersion >= VK_API_VERSION_1_1) {
    vkGetPhysicalDeviceProperties2 (ctx->physical, &props2);
    if (m3.maxMemoryAllocationSize > 0)
      a->max_allocation = m3.maxMemoryAllocationSize;
  }
  a->block_size = block_size ? block_size : DEFAULT_BLOCK_SIZE;
  if (a->block_size > a->max_allocation)
    a->block_size = a->max_allocation;
  *allocator_out = a;
  return ADATOSK_OK;
}

void
adatosk_vk_allocator_free (AdatoskVkAllocator *a)
{
  if (!a)
    return;
  adatosk_vk_context_settle (a->ctx);
  VkDevice device = a->ctx->device;
  for (int i = 0; i < a->num_blocks; i++) {
    vkDestroyBuffer (device, a->blocks[i].buffer, NULL);
    if (a->blocks[i].mapped)
      vkUnmapMemory (device, a->blocks[i].memory);
    vkFreeMemory (device, a->blocks[i].memory, NULL);
  }
  free (a->blocks);
  free (a);
}

/* Scores a memory type for `kind`; -1 when it cannot serve it. */
static int
score_memory_type (const AdatoskVkContext *ctx, VkMemoryPropertyFlags flags,
    AdatoskVkMemoryKind kind)
{
  const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
      | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  bool device_local = flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
  bool host_coherent = (flags & host) == host;
  bool unified = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU
      || ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU;
  if (flags
      & (VK_MEMORY_PROPERTY_PROTECTED_BIT
          | VK_MEMORY_PROPERTY_LAZILY_ALLOCATED_BIT))
    return -1;
  if (kind == ADATOSK_VK_MEMORY_HOST) {
    if (!host_coherent)
      return -1;
    /* On a discrete GPU, keep the small host-visible VRAM window free. */
    return 1 + ((flags & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 2 : 0)
        + (device_local && !unified ? 0 : 1);
  }
  if (unified)
    return (device_local ? 2 : 0) + (host_coherent ? 4 : 0);
  return (device_local ? 4 : 0)
      + (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT ? 0 : 1);
}

static AdatoskStatus
new_block (AdatoskVkAllocator *a, AdatoskVkMemoryKind kind, VkDeviceSize size,
    Block *block, AdatoskError *error)
{
  AdatoskVkContext *ctx = a->ctx;
  memset (block, 0, sizeof *block);
  block->kind = kind;
  block->size = size;
  VkBufferCreateInfo buffer_info = {
      .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
      .size = size,
      .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT
          | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
      .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkResult result =
      vkCreateBuffer (ctx->device, &buffer_info, NULL, &block->buffer);
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot create a Vulkan buffer of %llu bytes (%s)",
        (unsigned long long) size, adatosk_vk_result_name (result));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements (ctx->device, block->buffer, &req);
  int best = -1, best_score = -1;
  for (uint32_t i = 0; i < ctx->memory.memoryTypeCount; i++) {
    if (!(req.memoryTypeBits & (1u << i)))
      continue;
    int score =
        score_memory_type (ctx, ctx->memory.memoryTypes[i].propertyFlags, kind);
    if (score > best_score) {
      best = (int) i;
      best_score = score;
    }
  }
  if (best < 0) {
    vkDestroyBuffer (ctx->device, block->buffer, NULL);
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "%s has no memory type for %s buffers", ctx->description,
        kind == ADATOSK_VK_MEMORY_HOST ? "host-visible" : "device");
  }
  VkMemoryAllocateInfo alloc_info = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
      .allocationSize = req.size,
      .memoryTypeIndex = (uint32_t) best,
  };
  result = vkAllocateMemory (ctx->device, &alloc_info, NULL, &block->memory);
  if (result != VK_SUCCESS) {
    vkDestroyBuffer (ctx->device, block->buffer, NULL);
    return adatosk_fail (error,
        result == VK_ERROR_OUT_OF_DEVICE_MEMORY
                || result == VK_ERROR_OUT_OF_HOST_MEMORY
            ? ADATOSK_ERROR_OUT_OF_MEMORY
            : ADATOSK_ERROR_BACKEND,
        "cannot allocate %llu bytes of Vulkan memory on %s (%s)",
        (unsigned long long) req.size, ctx->description,
        adatosk_vk_result_name (result));
  }
  result = vkBindBufferMemory (ctx->device, block->buffer, block->memory, 0);
  VkMemoryPropertyFlags flags = ctx->memory.memoryTypes[best].propertyFlags;
  if (result == VK_SUCCESS && (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
      && (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
    result = vkMapMemory (ctx->device, block->memory, 0, VK_WHOLE_SIZE, 0,
        &block->mapped);
  if (result != VK_SUCCESS) {
    vkDestroyBuffer (ctx->device, block->buffer, NULL);
    vkFreeMemory (ctx->device, block->memory, NULL);
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot bind or map Vulkan memory on %s (%s)", ctx->description,
        adatosk_vk_result_name (result));
  }
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_alloc (AdatoskVkAllocator *a, AdatoskVkMemoryKind kind,
    VkDeviceSize size, AdatoskVkRange *range_out, AdatoskError *error)
{
  memset (range_out, 0, sizeof *range_out);
  if (size == 0)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "a Vulkan buffer range of 0 bytes was requested");
  VkDeviceSize padded = align_up (size, a->alignment);
  if (padded > a->max_allocation)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "a Vulkan buffer of %llu bytes exceeds the device's largest allocation "
        "(%llu bytes) on %s",
        (unsigned long long) size, (unsigned long long) a->max_allocation,
        a->ctx->description);
  Block *block = NULL;
  for (int i = 0; i < a->num_blocks && !block; i++)
    if (a->blocks[i].kind == kind
        && a->blocks[i].size - a->blocks[i].used >= padded)
      block = &a->blocks[i];
  if (!block) {
    if (a->num_blocks == a->capacity) {
      int capacity = a->capacity ? 2 * a->capacity : 8;
      Block *blocks = realloc (a->blocks, (size_t) capacity * sizeof *blocks);
      if (!blocks)
        return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
            "out of memory");
      a->blocks = blocks;
      a->capacity = capacity;
    }
    /* Host blocks only carry the clip, the results and staging: keep them
     * small unless asked for more. */
    VkDeviceSize block_size = kind == ADATOSK_VK_MEMORY_HOST
        ? ((VkDeviceSize) 4 << 20)
        : a->block_size;
    if (padded > block_size)
      block_size = padded;
    AdatoskStatus status =
        new_block (a, kind, block_size, &a->blocks[a->num_blocks], error);
    if (status != ADATOSK_OK)
      return status;
    block = &a->blocks[a->num_blocks++];
  }
  range_out->buffer = block->buffer;
  range_out->offset = block->used;
  range_out->size = size;
  range_out->mapped =
      block->mapped ? (char *) block->mapped + block->used : NULL;
  block->used += padded;
  return ADATOSK_OK;
}

VkDeviceSize
adatosk_vk_allocator_alignment (const AdatoskVkAllocator *a)
{
  return a->alignment;
}

VkDeviceSize
adatosk_vk_allocator_max_allocation (const AdatoskVkAllocator *a)
{
  return a->max_allocation;
}

VkDeviceSize
adatosk_vk_allocator_bytes (const AdatoskVkAllocator *a)
{
  VkDeviceSize total = 0;
  for (int i = 0; i < a->num_blocks; i++)
    total += a->blocks[i].size;
  return total;
}

int
adatosk_vk_allocator_block_count (const AdatoskVkAllocator *a)
{
  return a->num_blocks;
}

void
adatosk_vk_range_window (const AdatoskVkRange *range, VkDeviceSize offset,
    VkDeviceSize size, VkDeviceSize alignment, AdatoskVkRange *window,
    VkDeviceSize *skip)
{
  VkDeviceSize start = range->offset + offset;
  VkDeviceSize aligned = start / alignment * alignment;
  *skip = start - aligned;
  window->buffer = range->buffer;
  window->offset = aligned;
  window->size = size + *skip;
  window->mapped =
      range->mapped ? (char *) range->mapped - range->offset + aligned : NULL;
}

/* Copies between host memory and a device range that is not mapped, through
 * a temporary host-visible buffer. */
static AdatoskStatus
staged_copy (AdatoskVkContext *ctx, const AdatoskVkRange *range, void *host,
    VkDeviceSize size, bool to_device, AdatoskError *error)
{
  AdatoskVkAllocator *staging = NULL;
  AdatoskVkRange stage;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  AdatoskStatus status = adatosk_vk_allocator_new (ctx, 0, &staging, error);
  if (status == ADATOSK_OK)
    status =
        adatosk_vk_alloc (staging, ADATOSK_VK_MEMORY_HOST, size, &stage, error);
  if (status != ADATOSK_OK)
    goto out;
  if (to_device)
    memcpy (stage.mapped, host, size);
  VkCommandBufferAllocateInfo alloc_info = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
      .commandPool = ctx->command_pool,
      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
      .commandBufferCount = 1,
  };
  VkCommandBufferBeginInfo begin = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
      .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  VkResult result = vkAllocateCommandBuffers (ctx->device, &alloc_info, &cmd);
  if (result == VK_SUCCESS)
    result = vkBeginCommandBuffer (cmd, &begin);
  if (result != VK_SUCCESS) {
    status = adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot record a Vulkan copy (%s)", adatosk_vk_result_name (result));
    goto out;
  }
  VkBufferCopy region = {
      .srcOffset = to_device ? stage.offset : range->offset,
      .dstOffset = to_device ? range->offset : stage.offset,
      .size = size,
  };
  vkCmdCopyBuffer (cmd, to_device ? stage.buffer : range->buffer,
      to_device ? range->buffer : stage.buffer, 1, &region);
  VkMemoryBarrier barrier = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask =
          to_device ? VK_ACCESS_SHADER_READ_BIT : VK_ACCESS_HOST_READ_BIT,
  };
  vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
      to_device ? VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT
                : VK_PIPELINE_STAGE_HOST_BIT,
      0, 1, &barrier, 0, NULL, 0, NULL);
  result = vkEndCommandBuffer (cmd);
  if (result != VK_SUCCESS) {
    status = adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot record a Vulkan copy (%s)", adatosk_vk_result_name (result));
    goto out;
  }
  status = adatosk_vk_submit_and_wait (ctx, cmd, error);
  if (status == ADATOSK_OK && !to_device)
    memcpy (host, stage.mapped, size);
out:
  adatosk_vk_context_settle (ctx);
  if (cmd)
    vkFreeCommandBuffers (ctx->device, ctx->command_pool, 1, &cmd);
  adatosk_vk_allocator_free (staging);
  return status;
}

AdatoskStatus
adatosk_vk_upload (AdatoskVkContext *ctx, const AdatoskVkRange *range,
    const void *data, VkDeviceSize size, AdatoskError *error)
{
  if (size > range->size)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "upload of %llu bytes into a range of %llu", (unsigned long long) size,
        (unsigned long long) range->size);
  if (range->mapped) {
    memcpy (range->mapped, data, size);
    return ADATOSK_OK;
  }
  return staged_copy (ctx, range, (void *) data, size, true, error);
}

AdatoskStatus
adatosk_vk_download (AdatoskVkContext *ctx, const AdatoskVkRange *range,
    void *data, VkDeviceSize size, AdatoskError *error)
{
  if (size > range->size)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "download of %llu bytes from a range of %llu",
        (unsigned long long) size, (unsigned long long) range->size);
  if (range->mapped) {
    memcpy (data, range->mapped, size);
    return ADATOSK_OK;
  }
  return staged_copy (ctx, range, data, size, false, error);
}
