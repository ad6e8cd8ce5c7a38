/* Kernel variants and tile sizes per device (tuning.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "tuning.h"

#include "error.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gemm_vec4.comp's shapes for a GPU, largest first. 128 x 64 is the largest
 * that still gives the model's widest products enough workgroups: at 800
 * tokens qkv (N 2304) makes 7 x 36 = 252 of them, where 128 x 128 would make
 * 126, fewer than an H100's 132 SMs. The smaller ones are for the products
 * of width 768 (proj, fc2) and for the 400 kept tokens at keep 0.5: at
 * M 400, N 768 only 32 x 64 (13 x 12 = 156) fills 132 SMs. Smaller tiles
 * rather than split-K: every product then keeps its fused epilogue (bias,
 * GELU, residual add) and its fixed summation order, with no scratch
 * buffer or second pass. */
static const uint32_t vec4_shapes[ADATOSK_VK_GEMM_VEC4_SHAPES][6] = {
    {256, 128, 64, 16, 8, 4},
    {256, 64, 64, 16, 4, 4},
    {128, 32, 64, 16, 4, 4},
    {64, 32, 32, 16, 4, 4},
};

static uint32_t
floor_pow2 (uint32_t v)
{
  uint32_t p = 1;
  while (p * 2 <= v)
    p *= 2;
  return p;
}

static bool
has_extension (VkPhysicalDevice physical, const char *name)
{
  uint32_t count = 0;
  if (vkEnumerateDeviceExtensionProperties (physical, NULL, &count, NULL)
          != VK_SUCCESS
      || count == 0)
    return false;
  VkExtensionProperties *list = calloc (count, sizeof *list);
  bool found = false;
  if (list
      && vkEnumerateDeviceExtensionProperties (physical, NULL, &count, list)
          == VK_SUCCESS)
    for (uint32_t i = 0; i < count && !found; i++)
      found = strcmp (list[i].extensionName, name) == 0;
  free (list);
  return found;
}

/* The subgroup size, and the number of SMs / CUs where the vendor says it
 * (NVIDIA: VK_NV_shader_sm_builtins, AMD: VK_AMD_shader_core_properties);
 * core Vulkan has no such count, so other GPUs get an assumed one. */
static void
query_device (const AdatoskVkContext *ctx, uint32_t *subgroup,
    uint32_t *compute_units)
{
  *subgroup = 0;
  *compute_units = 0;
  if (ctx->props.apiVersion < VK_API_VERSION_1_1)
    return;
  VkPhysicalDeviceSubgroupProperties sub = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
  };
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV nv = {
      .sType =
          VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV,
  };
  VkPhysicalDeviceShaderCorePropertiesAMD amd = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD,
  };
  VkPhysicalDeviceProperties2 props = {
      .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
      .pNext = &sub,
  };
  bool has_nv =
      has_extension (ctx->physical, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME);
  bool has_amd = has_extension (ctx->physical,
      VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME);
  if (has_nv) {
    nv.pNext = sub.pNext;
    sub.pNext = &nv;
  }
  if (has_amd) {
    amd.pNext = sub.pNext;
    sub.pNext = &amd;
  }
  vkGetPhysicalDeviceProperties2 (ctx->physical, &props);
  *subgroup = sub.subgroupSize;
  if (has_nv)
    *compute_units = nv.shaderSMCount;
  else if (has_amd)
    *compute_units = amd.shaderEngineCount * amd.shaderArraysPerEngineCount
        * amd.computeUnitsPerShaderArray;
}

/* cpu: 0, gpu: 1, auto or unset: -1; anything else an error. */
static AdatoskStatus
read_choice (const char *name, int *choice, AdatoskError *error)
{
  const char *value = getenv (name);
  *choice = -1;
  if (!value || !value[0] || strcmp (value, "auto") == 0)
    return ADATOSK_OK;
  if (strcmp (value, "cpu") == 0)
    *choice = 0;
  else if (strcmp (value, "gpu") == 0)
    *choice = 1;
  else
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "%s=%s: expected cpu, gpu or auto", name, value);
  return ADATOSK_OK;
}

static AdatoskStatus
apply_environment (AdatoskVkTuning *t, bool cpu, const uint32_t *all_shapes,
    uint32_t num_shapes, AdatoskError *error)
{
  int gemm, attention;
  AdatoskStatus status = read_choice ("ADATOSK_VULKAN_GEMM", &gemm, error);
  if (status == ADATOSK_OK)
    status = read_choice ("ADATOSK_VULKAN_ATTENTION", &attention, error);
  if (status != ADATOSK_OK)
    return status;
  const char *units = getenv ("ADATOSK_VULKAN_COMPUTE_UNITS");
  if (units && units[0]) {
    char *end = NULL;
    long v = strtol (units, &end, 10);
    if (!end || *end || v < 1 || v > 100000)
      return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "ADATOSK_VULKAN_COMPUTE_UNITS=%s: expected a number of compute "
          "units",
          units);
    t->compute_units = (uint32_t) v;
  }
  const char *tile = getenv ("ADATOSK_VULKAN_GEMM_TILE");
  if (gemm == 0) {
    t->num_gemm_vec4 = 0;
  } else if (gemm == 1 || (tile && tile[0])) {
    /* All shapes that fit the device, whatever its type. */
    t->num_gemm_vec4 = num_shapes;
    memcpy (t->gemm_vec4, all_shapes, num_shapes * 6 * sizeof (uint32_t));
  }
  if (tile && tile[0] && gemm != 0) {
    unsigned bm = 0, bn = 0;
    char extra;
    uint32_t found = num_shapes;
    if (sscanf (tile, "%ux%u%c", &bm, &bn, &extra) == 2)
      for (uint32_t i = 0; i < num_shapes; i++)
        if (t->gemm_vec4[i][1] == bm && t->gemm_vec4[i][2] == bn)
          found = i;
    if (found == num_shapes) {
      char known[128] = "";
      for (uint32_t i = 0; i < num_shapes; i++)
        snprintf (known + strlen (known), sizeof known - strlen (known),
            "%s%ux%u", i ? ", " : "", t->gemm_vec4[i][1], t->gemm_vec4[i][2]);
      return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
          "ADATOSK_VULKAN_GEMM_TILE=%s: expected one of %s (BMxBN)", tile,
          known);
    }
    memmove (t->gemm_vec4[0], t->gemm_vec4[found], sizeof t->gemm_vec4[0]);
    t->num_gemm_vec4 = 1;
  }
  if (attention >= 0) {
    t->attention_gpu = attention == 1;
    /* attention.comp keeps its device-type workgroup (64 on a CPU device). */
    t->attention[0] = t->attention_gpu || !cpu ? 128 : 64;
  }
  return ADATOSK_OK;
}

AdatoskStatus
adatosk_vk_tuning_default (const AdatoskVkContext *ctx, AdatoskVkTuning *t,
    AdatoskError *error)
{
  const VkPhysicalDeviceLimits *limits = &ctx->props.limits;
  uint32_t max_wg = limits->maxComputeWorkGroupInvocations;
  if (limits->maxComputeWorkGroupSize[0] < max_wg)
    max_wg = limits->maxComputeWorkGroupSize[0];
  max_wg = floor_pow2 (max_wg);
  const bool cpu = ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  memset (t, 0, sizeof *t);

  /* gemm.comp: a CPU device (lavapipe runs an invocation per SIMD lane)
   * wants small tiles; on a GPU it only takes the odd shapes. */
  static const uint32_t gemm_gpu[6] = {256, 128, 128, 8, 8, 8};
  static const uint32_t gemm_gpu_small[6] = {256, 64, 64, 16, 4, 4};
  static const uint32_t gemm_cpu[6] = {64, 32, 32, 16, 4, 4};
  static const uint32_t gemm_fallback[6] = {64, 32, 32, 8, 4, 4};
  memcpy (t->gemm, cpu ? gemm_cpu : gemm_gpu, sizeof t->gemm);
  memcpy (t->gemm_small, cpu ? gemm_cpu : gemm_gpu_small, sizeof t->gemm_small);
  if (!adatosk_vk_gemm_tiles_fit (ctx, t->gemm, false))
    memcpy (t->gemm, gemm_fallback, sizeof t->gemm);
  if (!adatosk_vk_gemm_tiles_fit (ctx, t->gemm_small, false))
    memcpy (t->gemm_small, gemm_fallback, sizeof t->gemm_small);
  t->gemm_min_tiles = cpu ? 0 : 256;

  /* gemm_vec4.comp: the shapes this device can run, with workgroups that
   * are whole subgroups (a 64-invocation group would leave half of a
   * 128-wide subgroup idle). */
  uint32_t subgroup, units;
  query_device (ctx, &subgroup, &units);
  uint32_t shapes[ADATOSK_VK_GEMM_VEC4_SHAPES][6], num_shapes = 0;
  for (uint32_t i = 0; i < ADATOSK_VK_GEMM_VEC4_SHAPES; i++) {
    const uint32_t *s = vec4_shapes[i];
    if (adatosk_vk_gemm_tiles_fit (ctx, s, true)
        && (subgroup == 0 || s[0] % subgroup == 0 || cpu))
      memcpy (shapes[num_shapes++], s, sizeof shapes[0]);
  }
  if (!cpu) {
    t->num_gemm_vec4 = num_shapes;
    memcpy (t->gemm_vec4, shapes, sizeof shapes);
  }
  /* Assumed where the driver does not say: a large discrete GPU (RTX 4090:
   * 128 SMs, H100: 132) or a mid-sized integrated one. Too high a guess
   * only picks smaller tiles than needed. */
  t->compute_units = units                                              ? units
      : ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? 32
                                                                        : 128;

  t->attention_gpu = !cpu;
  t->attention[0] = cpu ? 64 : 128;
  t->attention[1] = 32;
  t->attention[2] = 32;
  t->row_wg = cpu ? 64 : 128;
  t->single_wg = 256;
  t->elementwise_wg = 256;

  AdatoskStatus status =
      apply_environment (t, cpu, &shapes[0][0], num_shapes, error);
  if (status != ADATOSK_OK)
    return status;
  if (t->attention[0] > max_wg)
    t->attention[0] = max_wg;
  if (t->row_wg > max_wg)
    t->row_wg = max_wg;
  if (t->single_wg > max_wg)
    t->single_wg = max_wg;
  if (t->elementwise_wg > max_wg)
    t->elementwise_wg = max_wg;
  return ADATOSK_OK;
}

/* Estimated time of an M x N product in tiles of BM x BN, in units of one
 * BM x BN tile's work at the largest tile's rate: the waves of workgroups
 * (ceil(groups / units): 144 tiles on 132 SMs take two waves, the second
 * nearly empty) times the tile's area, divided by the tile's relative rate.
 * A tile's rate grows with the sqrt of its arithmetic intensity
 * BM BN / (BM + BN) (values read per k step against FMAs): on an H200 the
 * square 4096 product ran 128x64 : 64x64 : 32x64 : 32x32 at
 * 1 : 0.80 : 0.72 : 0.64 of each other, the sqrt gives 1 : 0.87 : 0.71 :
 * 0.61. On the model's eight products there, this picks the measured best
 * tile or one within 6% of it (benchmarks/vulkan_results.md), where "the
 * first shape with >= 132 workgroups" lost up to 35%. */
static double
vec4_tile_cost (const uint32_t *s, uint32_t m, uint32_t n, uint32_t units)
{
  const double bm = s[1], bn = s[2];
  const uint64_t groups =
      (uint64_t) ((m + s[1] - 1) / s[1]) * ((n + s[2] - 1) / s[2]);
  const uint64_t waves = (groups + units - 1) / units;
  return (double) waves * bm * bn / sqrt (bm * bn / (bm + bn));
}

const uint32_t *
adatosk_vk_tuning_gemm_vec4_tiles (const AdatoskVkTuning *t, uint32_t m,
    uint32_t n)
{
  if (t->num_gemm_vec4 == 0)
    return NULL;
  const uint32_t units = t->compute_units ? t->compute_units : 1;
  const uint32_t *best = t->gemm_vec4[0];
  double best_cost = vec4_tile_cost (best, m, n, units);
  for (uint32_t i = 1; i < t->num_gemm_vec4; i++) {
    double cost = vec4_tile_cost (t->gemm_vec4[i], m, n, units);
    if (cost < best_cost) { /* ties keep the larger tile */
      best = t->gemm_vec4[i];
      best_cost = cost;
    }
  }
  return best;
}

void
adatosk_vk_tuning_describe (const AdatoskVkTuning *t, char *out, size_t size)
{
  char gemm[160];
  if (t->num_gemm_vec4 == 0) {
    snprintf (gemm, sizeof gemm, "gemm cpu (scalar %ux%u)", t->gemm[1],
        t->gemm[2]);
  } else {
    snprintf (gemm, sizeof gemm, "gemm gpu (vec4 ");
    for (uint32_t i = 0; i < t->num_gemm_vec4; i++)
      snprintf (gemm + strlen (gemm), sizeof gemm - strlen (gemm), "%s%ux%u",
          i ? ", " : "", t->gemm_vec4[i][1], t->gemm_vec4[i][2]);
    snprintf (gemm + strlen (gemm), sizeof gemm - strlen (gemm),
        "; %u compute units)", t->compute_units);
  }
  snprintf (out, size, "%s, attention %s (%u/%ux%u)", gemm,
      t->attention_gpu ? "gpu" : "cpu", t->attention[0], t->attention[1],
      t->attention[2]);
}
