/* Which kernel variant and which tiles each op uses on this device: the
 * lavapipe-tuned kernels on a CPU device, the GPU variants (gemm_vec4.comp,
 * attention_gpu.comp) on a GPU, from the device's limits; environment
 * variables override the choice (the tests force every variant on lavapipe).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_TUNING_H
#define ADATOSK_VK_TUNING_H

#include "context.h"

#define ADATOSK_VK_GEMM_VEC4_SHAPES 4

typedef struct
{
  /* gemm.comp (scalar loads): the CPU device's kernel, and on a GPU the one
   * for products the vec4 kernel cannot take (K or a row stride not a
   * multiple of 4). WG, BM, BN, BK, TM, TN. */
  uint32_t gemm[6];        /* large products */
  uint32_t gemm_small[6];  /* products with few tiles */
  uint32_t gemm_min_tiles; /* fewer large tiles than this: use gemm_small */
  /* gemm_vec4.comp, the GPU variant: tile shapes, largest first. A product
   * takes the shape with the least estimated time on `compute_units`
   * (adatosk_vk_tuning_gemm_vec4_tiles). num_gemm_vec4 0: the variant is
   * off. */
  uint32_t gemm_vec4[ADATOSK_VK_GEMM_VEC4_SHAPES][6];
  uint32_t num_gemm_vec4;
  uint32_t compute_units; /* SMs / CUs, queried or assumed */
  bool attention_gpu;     /* attention_gpu.comp instead of attention.comp */
  uint32_t attention[3];  /* WG, BR, BC of that kernel (DH: the model's) */
  uint32_t row_wg;        /* LayerNorm, per-token ATSM, gather (power of two) */
  uint32_t
      single_wg; /* one-workgroup kernels: ATSM mask, top-K, head (power of two) */
  uint32_t elementwise_wg;
} AdatoskVkTuning;

/* The device's choice, then the overrides of the environment:
 *   ADATOSK_VULKAN_GEMM=cpu|gpu|auto        the kernel family of the products
 *   ADATOSK_VULKAN_GEMM_TILE=128x64|64x64|32x64|32x32
 *                                           one vec4 tile shape for every
 *                                           product (implies gpu)
 *   ADATOSK_VULKAN_ATTENTION=cpu|gpu|auto
 *   ADATOSK_VULKAN_COMPUTE_UNITS=N          what the tile choice assumes
 * A value it does not know is an error that names it. */
AdatoskStatus adatosk_vk_tuning_default (const AdatoskVkContext *context,
    AdatoskVkTuning *tuning, AdatoskError *error);

/* The vec4 tiles for an M x N product: the shape with the least estimated
 * time, counting whole waves of workgroups over compute_units (a last wave
 * that fills a few units costs a whole one) and a smaller tile's lower rate
 * (tuning.c). */
const uint32_t *adatosk_vk_tuning_gemm_vec4_tiles (const AdatoskVkTuning *tuning,
    uint32_t m, uint32_t n);

/* One line for logs and bench headers, e.g. "gemm gpu (vec4 128x64, 64x64,
 * 32x64, 32x32; 132 compute units), attention gpu (128/32x32)". */
void adatosk_vk_tuning_describe (const AdatoskVkTuning *tuning, char *out,
    size_t size);

#endif
