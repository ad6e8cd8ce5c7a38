/* The CPU forward of a batch of clips: patch embedding, blocks 1..L1, ATSM,
 * top-K, blocks L1+1..L with the mask's key bias, mask-weighted pooling,
 * head. The work is cut into tasks for the backend's threads
 * (thread_pool.h): token-wise work (LayerNorm, every Linear, GELU) in chunks
 * of rows of all clips at once, attention per clip, head and block of query
 * rows, the ATSM and the head per clip.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_FORWARD_H
#define ADATOSK_CPU_FORWARD_H

#include "../model.h"
#include "atsm.h"
#include "profile.h"
#include "thread_pool.h"

#include <stdatomic.h>

/* Scratch that each thread has to itself. */
typedef struct
{
  float *scores;    /* [N][N] attention of one head, a block of query rows */
  float *row_scale; /* [N] 1 / the softmax sums of those rows */
  float *pooled;    /* [D] */
  float *normed;    /* [D] */
  double *atsm_work;
  AdatoskRankedToken *order; /* [N] */
} AdatoskCpuThreadScratch;

/* Every buffer one forward needs, sized for the model's full token grid
 * times the largest batch run so far, allocated once (and again only when a
 * larger batch comes), so a forward allocates nothing. Row buffers hold the
 * clips one after another: clip b's tokens are rows [b n, (b + 1) n), with
 * n = N before the ATSM and K after it. */
typedef struct
{
  const AdatoskModel *model;
  AdatoskThreadPool *pool;
  int threads;
  int capacity;    /* clips the buffers hold */
  void *block;     /* the one allocation behind all pointers below */
  float *position; /* [N][D] sinusoid table */
  float *patches;  /* [B N][patch_dim], shares memory with `hidden` */
  float *motion;   /* [B][N][D] W x_0, then E[t] - E[t-1] (embed.h) */
  float *x;        /* [B N][D] the running tokens */
  float *normed;   /* [B N][D] */
  float *qkv;      /* [B N][3D] */
  float *attn;     /* [B N][D] */
  float *hidden;   /* [B N][mlp_hidden] */
  float *key_bias; /* [B N] */
  /* Per clip, what the blocks' tasks wait for (block.c). */
  atomic_int *rows_done;            /* [B] */
  atomic_int *attention_done;       /* [B] */
  AdatoskCpuThreadScratch *scratch; /* [threads] */
  AdatoskCpuProfile profile;
} AdatoskCpuWorkspace;

/* NULL when out of memory or when the threads cannot be started. Buffers
 * for `capacity` clips, `threads` threads (the caller's and threads - 1
 * more). */
AdatoskCpuWorkspace *adatosk_cpu_workspace_new (const AdatoskModel *model,
    int capacity, int threads);
void adatosk_cpu_workspace_free (AdatoskCpuWorkspace *ws);
/* Grows the buffers to hold `batch` clips; false (and the workspace as it
 * was) when out of memory. */
bool adatosk_cpu_workspace_reserve (AdatoskCpuWorkspace *ws, int batch);

/* `batch` <= ws->capacity clips -> outputs. */
void adatosk_cpu_forward_batch (AdatoskCpuWorkspace *ws,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs);

#endif
