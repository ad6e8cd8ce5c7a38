/* Instance, device choice and the compute queue.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "context.h"

#include "error.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint validation_messages;

static const char validation_layer[] = "VK_LAYER_KHRONOS_validation";

static bool layer_available (const char *name);

bool
adatosk_vk_validation_requested (void)
{
  const char *value = getenv ("ADATOSK_VULKAN_VALIDATION");
  return value && value[0] && strcmp (value, "0") != 0;
}

bool
adatosk_vk_validation_layer_installed (void)
{
  return layer_available (validation_layer);
}

bool
adatosk_vk_validation_enabled (void)
{
  if (!adatosk_vk_validation_requested ())
    return false;
  const char *value = getenv ("ADATOSK_VULKAN_VALIDATION");
  if (strcmp (value, "auto") == 0)
    return adatosk_vk_validation_layer_installed ();
  return true;
}

uint64_t
adatosk_vk_default_timeout_ns (VkPhysicalDeviceType type)
{
  const char *value = getenv ("ADATOSK_VULKAN_TIMEOUT_MS");
  if (value && value[0]) {
    char *end = NULL;
    double ms = strtod (value, &end);
    if (end && *end == '\0' && ms > 0 && ms < 1e12)
      return (uint64_t) (ms * 1e6);
    fprintf (stderr,
        "libadatosk: ignoring ADATOSK_VULKAN_TIMEOUT_MS=%s (not a positive "
        "number of milliseconds)\n",
        value);
  }
  /* A CPU device runs a large model's forward for minutes. */
  return (type == VK_PHYSICAL_DEVICE_TYPE_CPU ? 600000ull : 60000ull)
      * 1000000ull;
}

unsigned
adatosk_vk_validation_message_count (void)
{
  return atomic_load (&validation_messages);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
on_validation_message (VkDebugUtilsMessageSeverityFlagBitsEXT severity,
    VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user_data)
{
  (void) types;
  (void) user_data;
  atomic_fetch_add (&validation_messages, 1);
  fprintf (stderr, "adatosk vulkan validation (%s): %s\n",
      severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error"
                                                                : "warning",
      data && data->pMessage ? data->pMessage : "(no message)");
  return VK_FALSE;
}

const char *
adatosk_vk_result_name (VkResult result)
{
  switch (result) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_NOT_READY:
      return "VK_NOT_READY";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    case VK_INCOMPLETE:
      return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED:
      return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS:
      return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED:
      return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL:
      return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY:
      return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default:
      return "VkResult error";
  }
}

const char *
adatosk_vk_device_type_name (VkPhysicalDeviceType type)
{
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU";
    default:
      return "other device";
  }
}

/* Higher is preferred. */
static int
device_type_rank (VkPhysicalDeviceType type)
{
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 1;
    default:
      return 0;
  }
}

static bool
layer_available (const char *name)
{
  uint32_t count = 0;
  if (vkEnumerateInstanceLayerProperties (&count, NULL) != VK_SUCCESS
      || count == 0)
    return false;
  VkLayerProperties *layers = calloc (count, sizeof *layers);
  if (!layers)
    return false;
  bool found = false;
  if (vkEnumerateInstanceLayerProperties (&count, layers) == VK_SUCCESS)
    for (uint32_t i = 0; i < count && !found; i++)
      found = strcmp (layers[i].layerName, name) == 0;
  free (layers);
  return found;
}

static AdatoskStatus
create_instance (bool validation, VkInstance *instance_out,
    VkDebugUtilsMessengerEXT *messenger_out, AdatoskError *error)
{
  const char *layer = validation_layer;
  static const char *extension = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  *messenger_out = VK_NULL_HANDLE;
  if (validation && !layer_available (layer))
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "ADATOSK_VULKAN_VALIDATION=1 but %s is not installed "
        "(install vulkan-validationlayers, or set "
        "ADATOSK_VULKAN_VALIDATION=auto "
        "to run without it where it is missing)",
        layer);

  VkApplicationInfo app = {
      .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
      .pApplicationName = "libadatosk",
      .pEngineName = "libadatosk",
      .apiVersion = VK_API_VERSION_1_1,
  };
  VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT
          | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT
          | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT
          | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
      .pfnUserCallback = on_validation_message,
  };
  VkInstanceCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
      .pNext = validation ? &messenger_info : NULL,
      .pApplicationInfo = &app,
      .enabledLayerCount = validation ? 1 : 0,
      .ppEnabledLayerNames = validation ? &layer : NULL,
      .enabledExtensionCount = validation ? 1 : 0,
      .ppEnabledExtensionNames = validation ? &extension : NULL,
  };
  VkResult result = vkCreateInstance (&info, NULL, instance_out);
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot create a Vulkan instance (%s): is a Vulkan driver installed? "
        "(e.g. mesa-vulkan-drivers)",
        adatosk_vk_result_name (result));
  if (validation) {
    PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
        (PFN_vkCreateDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr (*instance_out,
                "vkCreateDebugUtilsMessengerEXT");
    if (!create_messenger
        || create_messenger (*instance_out, &messenger_info, NULL,
               messenger_out)
            != VK_SUCCESS) {
      vkDestroyInstance (*instance_out, NULL);
      *instance_out = VK_NULL_HANDLE;
      return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
          "cannot create the Vulkan debug messenger for validation");
    }
  }
  return ADATOSK_OK;
}

static bool
find_compute_queue (VkPhysicalDevice physical, uint32_t *family_out)
{
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (physical, &count, NULL);
  if (count == 0)
    return false;
  VkQueueFamilyProperties *families = calloc (count, sizeof *families);
  if (!families)
    return false;
  vkGetPhysicalDeviceQueueFamilyProperties (physical, &count, families);
  /* A compute-only family is often the one with the least contention; else
   * any family with compute. */
  int best = -1;
  for (uint32_t i = 0; i < count; i++) {
    if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
        || families[i].queueCount == 0)
      continue;
    if (best < 0 || !(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
      best = (int) i;
    if (!(families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
      break;
  }
  free (families);
  if (best < 0)
    return false;
  *family_out = (uint32_t) best;
  return true;
}

/* Chooses the physical device: `device_index` >= 0 is taken as given (it must
 * exist and have a compute queue); else the best ranked type. */
static AdatoskStatus
choose_device (VkInstance instance, int device_index,
    VkPhysicalDevice *physical_out, uint32_t *family_out, AdatoskError *error)
{
  uint32_t count = 0;
  VkResult result = vkEnumeratePhysicalDevices (instance, &count, NULL);
  if (result != VK_SUCCESS || count == 0)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "no Vulkan device found (%s); install a Vulkan driver "
        "(e.g. mesa-vulkan-drivers for the CPU device lavapipe)",
        result != VK_SUCCESS ? adatosk_vk_result_name (result) : "0 devices");
  VkPhysicalDevice *devices = calloc (count, sizeof *devices);
  if (!devices)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  result = vkEnumeratePhysicalDevices (instance, &count, devices);
  if (result != VK_SUCCESS && result != VK_INCOMPLETE) {
    free (devices);
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot list the Vulkan devices (%s)", adatosk_vk_result_name (result));
  }

  AdatoskStatus status = ADATOSK_OK;
  const char *env_index = getenv ("ADATOSK_VULKAN_DEVICE");
  if (device_index < 0 && env_index && env_index[0]) {
    char *end = NULL;
    long value = strtol (env_index, &end, 10);
    if (!end || *end || value < 0 || value > 1000000) {
      free (devices);
      return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "ADATOSK_VULKAN_DEVICE=%s is not a device index (0..%u)", env_index,
          count - 1);
    }
    device_index = (int) value;
  }
  if (device_index >= 0) {
    if ((uint32_t) device_index >= count) {
      status = adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "Vulkan device index %d does not exist: there are %u devices (0..%u)",
          device_index, count, count - 1);
    } else if (!find_compute_queue (devices[device_index], family_out)) {
      VkPhysicalDeviceProperties props;
      vkGetPhysicalDeviceProperties (devices[device_index], &props);
      status = adatosk_fail (error, ADATOSK_ERROR_BACKEND,
          "Vulkan device %d (%s) has no compute queue", device_index,
          props.deviceName);
    } else {
      *physical_out = devices[device_index];
    }
  } else {
    int best = -1, best_rank = -1;
    for (uint32_t i = 0; i < count; i++) {
      VkPhysicalDeviceProperties props;
      uint32_t family;
      vkGetPhysicalDeviceProperties (devices[i], &props);
      int rank = device_type_rank (props.deviceType);
      if (rank > best_rank && find_compute_queue (devices[i], &family)) {
        best = (int) i;
        best_rank = rank;
        *family_out = family;
      }
    }
    if (best < 0)
      status = adatosk_fail (error, ADATOSK_ERROR_BACKEND,
          "none of the %u Vulkan devices has a compute queue", count);
    else
      *physical_out = devices[best];
  }
  free (devices);
  return status;
}

static void
describe_device (const VkPhysicalDeviceProperties *props, char *out,
    size_t size)
{
  snprintf (out, size, "%s (%s), Vulkan %u.%u.%u", props->deviceName,
      adatosk_vk_device_type_name (props->deviceType),
      VK_API_VERSION_MAJOR (props->apiVersion),
      VK_API_VERSION_MINOR (props->apiVersion),
      VK_API_VERSION_PATCH (props->apiVersion));
}

AdatoskStatus
adatosk_vk_probe (int device_index, VkPhysicalDeviceType *type, char *name,
    size_t name_size, AdatoskError *error)
{
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  AdatoskStatus status = create_instance (false, &instance, &messenger, error);
  if (status != ADATOSK_OK)
    return status;
  VkPhysicalDevice physical;
  uint32_t family;
  status = choose_device (instance, device_index, &physical, &family, error);
  if (status == ADATOSK_OK) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties (physical, &props);
    if (type)
      *type = props.deviceType;
    if (name && name_size)
      describe_device (&props, name, name_size);
  }
  vkDestroyInstance (instance, NULL);
  return status;
}

AdatoskStatus
adatosk_vk_context_new (int device_index, AdatoskVkContext **context_out,
    AdatoskError *error)
{
  *context_out = NULL;
  AdatoskVkContext *ctx = calloc (1, sizeof *ctx);
  if (!ctx)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");
  ctx->validation = adatosk_vk_validation_enabled ();
  AdatoskStatus status =
      create_instance (ctx->validation, &ctx->instance, &ctx->messenger, error);
  if (status == ADATOSK_OK)
    status = choose_device (ctx->instance, device_index, &ctx->physical,
        &ctx->queue_family, error);
  if (status != ADATOSK_OK) {
    adatosk_vk_context_free (ctx);
    return status;
  }
  vkGetPhysicalDeviceProperties (ctx->physical, &ctx->props);
  vkGetPhysicalDeviceMemoryProperties (ctx->physical, &ctx->memory);
  describe_device (&ctx->props, ctx->description, sizeof ctx->description);
  ctx->timeout_ns = adatosk_vk_default_timeout_ns (ctx->props.deviceType);
  const char *profile = getenv ("ADATOSK_VULKAN_PROFILE");
  ctx->profile = profile && profile[0] && strcmp (profile, "0") != 0;
  {
    uint32_t count = 0;
    vkGetPhysicalDeviceQueueFamilyProperties (ctx->physical, &count, NULL);
    VkQueueFamilyProperties *families =
        calloc (count ? count : 1, sizeof *families);
    if (families) {
      vkGetPhysicalDeviceQueueFamilyProperties (ctx->physical, &count,
          families);
      if (ctx->queue_family < count)
        ctx->timestamp_bits = families[ctx->queue_family].timestampValidBits;
      free (families);
    }
  }

  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue_info = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
      .queueFamilyIndex = ctx->queue_family,
      .queueCount = 1,
      .pQueuePriorities = &priority,
  };
  VkDeviceCreateInfo device_info = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
      .queueCreateInfoCount = 1,
      .pQueueCreateInfos = &queue_info,
  };
  VkResult result =
      vkCreateDevice (ctx->physical, &device_info, NULL, &ctx->device);
  if (result != VK_SUCCESS) {
    status = adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot open the Vulkan device %s (%s)", ctx->description,
        adatosk_vk_result_name (result));
    adatosk_vk_context_free (ctx);
    return status;
  }
  vkGetDeviceQueue (ctx->device, ctx->queue_family, 0, &ctx->queue);

  VkCommandPoolCreateInfo pool_info = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
      .queueFamilyIndex = ctx->queue_family,
  };
  VkFenceCreateInfo fence_info = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  result =
      vkCreateCommandPool (ctx->device, &pool_info, NULL, &ctx->command_pool);
  if (result == VK_SUCCESS)
    result = vkCreateFence (ctx->device, &fence_info, NULL, &ctx->fence);
  if (result != VK_SUCCESS) {
    status = adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot create a command pool on %s (%s)", ctx->description,
        adatosk_vk_result_name (result));
    adatosk_vk_context_free (ctx);
    return status;
  }
  *context_out = ctx;
  return ADATOSK_OK;
}

void
adatosk_vk_context_free (AdatoskVkContext *ctx)
{
  if (!ctx)
    return;
  if (ctx->device) {
    vkDeviceWaitIdle (ctx->device);
    ctx->timed_out = false;
    if (ctx->fence)
      vkDestroyFence (ctx->device, ctx->fence, NULL);
    if (ctx->command_pool)
      vkDestroyCommandPool (ctx->device, ctx->command_pool, NULL);
    vkDestroyDevice (ctx->device, NULL);
  }
  if (ctx->messenger) {
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger =
        (PFN_vkDestroyDebugUtilsMessengerEXT)
            vkGetInstanceProcAddr (ctx->instance,
                "vkDestroyDebugUtilsMessengerEXT");
    if (destroy_messenger)
      destroy_messenger (ctx->instance, ctx->messenger, NULL);
  }
  if (ctx->instance)
    vkDestroyInstance (ctx->instance, NULL);
  free (ctx);
}

void
adatosk_vk_context_settle (AdatoskVkContext *ctx)
{
  if (ctx && ctx->device && ctx->timed_out)
    vkDeviceWaitIdle (ctx->device);
}

AdatoskStatus
adatosk_vk_submit_and_wait (AdatoskVkContext *ctx,
    VkCommandBuffer command_buffer, AdatoskError *error)
{
  if (ctx->timed_out)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the Vulkan device %s did not finish an earlier submission in time; "
        "this "
        "backend cannot be used any more (create a new one)",
        ctx->description);
  VkSubmitInfo submit = {
      .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
      .commandBufferCount = 1,
      .pCommandBuffers = &command_buffer,
  };
  VkResult result = vkResetFences (ctx->device, 1, &ctx->fence);
  if (result == VK_SUCCESS)
    result = vkQueueSubmit (ctx->queue, 1, &submit, ctx->fence);
  if (result == VK_SUCCESS)
    result =
        vkWaitForFences (ctx->device, 1, &ctx->fence, VK_TRUE, ctx->timeout_ns);
  if (result == VK_TIMEOUT) {
    ctx->timed_out = true;
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the Vulkan device %s did not finish the submission within %.0f ms: "
        "the GPU "
        "may be hung, or the work is too large for it; if it is only slow, "
        "raise "
        "the limit with ADATOSK_VULKAN_TIMEOUT_MS",
        ctx->description, (double) ctx->timeout_ns / 1e6);
  }
  if (result == VK_ERROR_DEVICE_LOST) {
    ctx->timed_out = true;
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the Vulkan device %s was lost during the submission "
        "(VK_ERROR_DEVICE_LOST: "
        "a driver reset or a kernel fault); this backend cannot be used any "
        "more",
        ctx->description);
  }
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "the Vulkan submission on %s failed (%s)", ctx->description,
        adatosk_vk_result_name (result));
  return ADATOSK_OK;
}
