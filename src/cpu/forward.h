/* The CPU forward of one clip: patch embedding, blocks 1..L1, ATSM, top-K,
 * blocks L1+1..L with the mask's key bias, mask-weighted pooling, head.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_FORWARD_H
#define ADATOSK_CPU_FORWARD_H

#include "../model.h"
#include "atsm.h"

/* Every buffer one forward needs, sized for the model's full token grid and
 * allocated once, so a forward allocates nothing. */
typedef struct
{
  const AdatoskModel *model;
  void *block;     /* the one allocation behind all pointers below */
  float *position; /* [N][D] sinusoid table */
  float *patches;  /* [N][patch_dim] */
  float *motion;   /* [N - S][D] E[t] - E[t-1], for the ATSM */
  float *x;        /* [N][D] the running tokens */
  float *normed;   /* [N][D] */
  float *qkv;      /* [N][3D] */
  float *attn;     /* [N][D] */
  float *hidden;   /* [N][mlp_hidden] */
  float *scores;   /* [N][N] one head's attention */
  float *key_bias; /* [N] */
  float *pooled;   /* [D] */
  double *atsm_work;
  AdatoskRankedToken *order; /* [N] */
} AdatoskCpuWorkspace;

/* NULL when out of memory. */
AdatoskCpuWorkspace *adatosk_cpu_workspace_new (const AdatoskModel *model);
void adatosk_cpu_workspace_free (AdatoskCpuWorkspace *ws);

void adatosk_cpu_forward (AdatoskCpuWorkspace *ws, const float *clip,
    double keep_ratio, AdatoskOutput *output);

#endif
