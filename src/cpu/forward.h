/* The CPU forward of a batch of clips: patch embedding, blocks 1..L1, ATSM,
 * top-K, blocks L1+1..L with the mask's key bias, mask-weighted pooling,
 * head. Token-wise work (LayerNorm, every Linear, GELU) runs over the rows of
 * all clips at once, so each weight matrix is streamed once per batch rather
 * than once per clip; attention, the ATSM, top-K and the head run per clip.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_FORWARD_H
#define ADATOSK_CPU_FORWARD_H

#include "../model.h"
#include "atsm.h"
#include "profile.h"

/* Every buffer one forward needs, sized for the model's full token grid
 * times the largest batch run so far, allocated once (and again only when a
 * larger batch comes), so a forward allocates nothing. Row buffers hold the
 * clips one after another: clip b's tokens are rows [b n, (b + 1) n), with
 * n = N before the ATSM and K after it. */
typedef struct
{
  const AdatoskModel *model;
  int capacity;    /* clips the buffers hold */
  void *block;     /* the one allocation behind all pointers below */
  float *position; /* [N][D] sinusoid table */
  float *patches;  /* [B N][patch_dim], shares memory with `hidden` */
  float *motion;   /* [B][N - S][D] E[t] - E[t-1], for the ATSM */
  float *x;        /* [B N][D] the running tokens */
  float *normed;   /* [B N][D] */
  float *qkv;      /* [B N][3D] */
  float *attn;     /* [B N][D] */
  float *hidden;   /* [B N][mlp_hidden] */
  float *scores;   /* [N][N] one head's attention of one clip */
  float *key_bias; /* [B N] */
  float *pooled;   /* [D] */
  double *atsm_work;
  AdatoskRankedToken *order; /* [N] */
  AdatoskCpuProfile profile;
} AdatoskCpuWorkspace;

/* NULL when out of memory. Buffers for `capacity` clips. */
AdatoskCpuWorkspace *adatosk_cpu_workspace_new (const AdatoskModel *model,
    int capacity);
void adatosk_cpu_workspace_free (AdatoskCpuWorkspace *ws);
/* Grows the buffers to hold `batch` clips; false (and the workspace as it
 * was) when out of memory. */
bool adatosk_cpu_workspace_reserve (AdatoskCpuWorkspace *ws, int batch);

/* `batch` <= ws->capacity clips -> outputs. */
void adatosk_cpu_forward_batch (AdatoskCpuWorkspace *ws,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs);

#endif
