/* The loaded model as the backends see it: the config, and every tensor the
 * forward needs as float32, already checked against the config's shapes.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_MODEL_H
#define ADATOSK_MODEL_H

#include "adatosk.h"

#include <stdbool.h>

/* One pre-norm ViT block; weights are PyTorch Linear layout [out][in]. */
typedef struct
{
  const float *norm1_weight, *norm1_bias; /* [D] */
  const float *qkv_weight, *qkv_bias;     /* [3D][D], [3D]; rows [q; k; v] */
  const float *proj_weight, *proj_bias;   /* [D][D], [D] */
  const float *norm2_weight, *norm2_bias; /* [D] */
  const float *fc1_weight, *fc1_bias;     /* [hidden][D], [hidden] */
  const float *fc2_weight, *fc2_bias;     /* [D][hidden], [D] */
} AdatoskBlockWeights;

typedef struct
{
  char *name; /* as in the file, e.g. "blocks.3.attn.qkv.weight" */
  int ndim;
  int64_t shape[5];
  int64_t numel;
  const float *data; /* float32, inside AdatoskModel.storage */
} AdatoskTensor;

struct AdatoskModel
{
  AdatoskConfig config;
  char **labels; /* [num_classes], NUL-terminated UTF-8 */
  char *name, *license, *trained_on;

  float *storage; /* every tensor, converted to float32, one allocation */
  AdatoskTensor *tensors;
  int num_tensors;
  int64_t num_params;

  const float *patch_weight;   /* [D][3][tau][p][p] == [D][patch_dim] */
  const float *patch_bias;     /* [D] */
  AdatoskBlockWeights *blocks; /* [depth] */
  const float *atsm_norm_weight, *atsm_norm_bias; /* [D] */
  const float *prototypes;                        /* [C][D] */
  float alpha_dyn, alpha_sem, beta;
  const float *fc_norm_weight, *fc_norm_bias; /* [D] */
  const float *head_weight;                   /* [C][D] */
  const float *head_bias;                     /* [C] */
  bool has_decoder; /* decoder.* tensors present (training file) */
};

/* The tensor named `name`, or NULL. */
const AdatoskTensor *adatosk_model_find_tensor (const AdatoskModel *model,
    const char *name);

#endif
