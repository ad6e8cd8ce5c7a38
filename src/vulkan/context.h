/* The Vulkan context: instance, the chosen physical device, a logical device
 * with one compute queue, and the command pool the forward records into.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_CONTEXT_H
#define ADATOSK_VK_CONTEXT_H

#include "adatosk.h"

#include <stdbool.h>
#include <vulkan/vulkan.h>

typedef struct
{
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger; /* VK_NULL_HANDLE without validation */
  VkPhysicalDevice physical;
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties memory;
  VkDevice device;
  VkQueue queue;
  uint32_t queue_family;
  VkCommandPool command_pool;
  VkFence fence;
  bool validation;         /* the Khronos layer is enabled */
  bool profile;            /* ADATOSK_VULKAN_PROFILE=1: time each dispatch */
  uint32_t timestamp_bits; /* of the queue family; 0: no timestamps */
  uint64_t timeout_ns;     /* the longest wait for one submission */
  bool timed_out;          /* a submission outlived timeout_ns: the
                                           context refuses further work */
  char description
      [384]; /* "llvmpipe (LLVM 15.0.6, 256 bits) (CPU), Vulkan 1.3.230" */
} AdatoskVkContext;

/* Validation: the environment variable ADATOSK_VULKAN_VALIDATION=1 enables
 * VK_LAYER_KHRONOS_validation and a debug messenger; every warning or error
 * it reports is printed to stderr and counted (the tests require zero). When
 * the variable is 1 and the layer is missing, creation fails;
 * ADATOSK_VULKAN_VALIDATION=auto enables it only where it is installed (the
 * tests' setting, so that they also run on a machine without the layer). */
bool adatosk_vk_validation_requested (void);
/* Whether a context created now runs with the layer. */
bool adatosk_vk_validation_enabled (void);
bool adatosk_vk_validation_layer_installed (void);
unsigned adatosk_vk_validation_message_count (void);

/* Creates the context on the device `device_index` selects (-1: the index in
 * the environment variable ADATOSK_VULKAN_DEVICE when set, else the best one:
 * discrete GPU > integrated GPU > virtual GPU > CPU; ties: lower index).
 *
 * Every submission waits at most ADATOSK_VULKAN_TIMEOUT_MS milliseconds
 * (default 60000 on a GPU, 600000 on a CPU device); past that it fails with a
 * message saying so, and the context refuses further submissions. */
AdatoskStatus adatosk_vk_context_new (int device_index,
    AdatoskVkContext **context_out, AdatoskError *error);
void adatosk_vk_context_free (AdatoskVkContext *context);

/* Picks the physical device without creating a logical device: fills `type`
 * and `name` (may be NULL). Used by `auto` to decide whether the Vulkan path
 * runs on a real GPU. */
AdatoskStatus adatosk_vk_probe (int device_index, VkPhysicalDeviceType *type,
    char *name, size_t name_size, AdatoskError *error);

const char *adatosk_vk_device_type_name (VkPhysicalDeviceType type);
const char *adatosk_vk_result_name (VkResult result);

/* Submits one recorded command buffer and waits for it to finish, at most
 * context->timeout_ns. */
AdatoskStatus adatosk_vk_submit_and_wait (AdatoskVkContext *context,
    VkCommandBuffer command_buffer, AdatoskError *error);

/* After a timed-out submission, waits until the device is idle (a hung GPU
 * is ended by the driver's watchdog with a lost device), so that what the
 * submission uses can be freed. Every free function calls it first; it does
 * nothing otherwise. */
void adatosk_vk_context_settle (AdatoskVkContext *context);

/* The timeout ADATOSK_VULKAN_TIMEOUT_MS asks for on a device of `type`. */
uint64_t adatosk_vk_default_timeout_ns (VkPhysicalDeviceType type);

#endif
