/* The model's tensors on the device, uploaded once per backend. The large
 * matrices (patch embedding, qkv, proj, fc1, fc2) can be stored as IEEE
 * half floats (half the memory and bandwidth); everything else stays fp32.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_WEIGHTS_H
#define ADATOSK_VK_WEIGHTS_H

#include "allocator.h"
#include "model.h"

typedef struct
{
  AdatoskVkRange norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
  AdatoskVkRange norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} AdatoskVkBlockWeights;

typedef struct
{
  bool f16; /* the matrices above are halves */
  AdatoskVkRange patch_w, patch_b;
  AdatoskVkRange pos_table;      /* the sinusoid table [N][D], fp32 */
  AdatoskVkBlockWeights *blocks; /* [depth] */
  AdatoskVkRange atsm_norm_w, atsm_norm_b, prototypes;
  AdatoskVkRange fc_norm_w, fc_norm_b, head_w, head_b;
} AdatoskVkWeights;

AdatoskStatus adatosk_vk_weights_upload (AdatoskVkContext *context,
    AdatoskVkAllocator *allocator, const AdatoskModel *model, bool f16,
    AdatoskVkWeights *weights, AdatoskError *error);
void adatosk_vk_weights_clear (AdatoskVkWeights *weights);

/* IEEE binary16 from float, rounding to nearest even; false when the value
 * is outside the half range (|v| > 65504) or not finite. */
bool adatosk_vk_float_to_half (float value, uint16_t *half);

#endif
