/* Device memory: a few large blocks, each with one VkBuffer over the whole
 * block, sub-allocated by bumping an offset. Everything the backend holds
 * (weights, activations, input and results) lives for the backend's life,
 * so there is no per-range free: the allocator frees its blocks at the end.
 *
 * A range is what a descriptor binds; no range may exceed the device's
 * maxStorageBufferRange (128 MiB on lavapipe), so callers binding a big
 * tensor bind a window of it (see adatosk_vk_range_window()).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_ALLOCATOR_H
#define ADATOSK_VK_ALLOCATOR_H

#include "context.h"

typedef enum
{
  /* Device-local; also host-visible where that costs nothing (CPU and
   * integrated devices), in which case `mapped` is set. */
  ADATOSK_VK_MEMORY_DEVICE,
  /* Host-visible and coherent: the clip going in, results coming back,
   * staging for uploads. */
  ADATOSK_VK_MEMORY_HOST,
} AdatoskVkMemoryKind;

typedef struct
{
  VkBuffer buffer; /* the block's buffer */
  VkDeviceSize
      offset; /* bytes into it; a multiple of the allocator's alignment */
  VkDeviceSize size; /* bytes */
  void *mapped;      /* host address of `offset`, NULL when not host-visible */
} AdatoskVkRange;

typedef struct AdatoskVkAllocator AdatoskVkAllocator;

/* `block_size` 0 picks 256 MiB, capped by the device's allocation limits. */
AdatoskStatus adatosk_vk_allocator_new (AdatoskVkContext *context,
    VkDeviceSize block_size, AdatoskVkAllocator **allocator_out,
    AdatoskError *error);
void adatosk_vk_allocator_free (AdatoskVkAllocator *allocator);

/* A new range of `size` bytes (> 0). A request larger than the block size gets
 * a block of its own. */
AdatoskStatus adatosk_vk_alloc (AdatoskVkAllocator *allocator,
    AdatoskVkMemoryKind kind, VkDeviceSize size, AdatoskVkRange *range_out,
    AdatoskError *error);

/* Offset alignment of every range (>= minStorageBufferOffsetAlignment). */
VkDeviceSize adatosk_vk_allocator_alignment (
    const AdatoskVkAllocator *allocator);
/* The largest range adatosk_vk_alloc() can give (maxMemoryAllocationSize). */
VkDeviceSize adatosk_vk_allocator_max_allocation (
    const AdatoskVkAllocator *allocator);
/* Bytes of device memory the allocator holds, and its number of blocks. */
VkDeviceSize adatosk_vk_allocator_bytes (const AdatoskVkAllocator *allocator);
int adatosk_vk_allocator_block_count (const AdatoskVkAllocator *allocator);

/* The sub-range [offset, offset + size) of `range` for a descriptor whose
 * offset must be aligned: `window` starts at the aligned offset at or below,
 * and `*skip` tells how many bytes into the window the data starts. */
void adatosk_vk_range_window (const AdatoskVkRange *range, VkDeviceSize offset,
    VkDeviceSize size, VkDeviceSize alignment, AdatoskVkRange *window,
    VkDeviceSize *skip);

/* Copies `size` bytes from host memory into `range` (memcpy when it is
 * mapped, else through a staging buffer and one submit). */
AdatoskStatus adatosk_vk_upload (AdatoskVkContext *context,
    const AdatoskVkRange *range, const void *data, VkDeviceSize size,
    AdatoskError *error);
/* Copies `size` bytes of `range` back to host memory. */
AdatoskStatus adatosk_vk_download (AdatoskVkContext *context,
    const AdatoskVkRange *range, void *data, VkDeviceSize size,
    AdatoskError *error);

#endif
