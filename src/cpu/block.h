/* Transformer blocks of the CPU forward, two kinds of tasks each: attention
 * per clip, head and block of query rows; then everything else per chunk of
 * rows (projection, residual, LN2, fc1, GELU, fc2, residual, and the next
 * block's LN1 and QKV product), which needs no other rows, so a chunk's
 * hidden units are used while still in cache. A run of blocks is one
 * step of the pool whose tasks wait for their inputs only (block.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_BLOCK_H
#define ADATOSK_CPU_BLOCK_H

#include "forward.h"

/* x = x + Attn(LN1(x)); x = x + MLP(LN2(x)) for the model's blocks
 * [first_block, end_block) on `batch` clips of n tokens each; key_bias
 * [batch n] may be NULL. Then clip_func (clip_context, clip, thread) for
 * every clip, each as soon as that clip's rows are through the last block,
 * in the same step (the ATSM, the head); clip_func may be NULL. */
void adatosk_cpu_run_blocks (AdatoskCpuWorkspace *ws, int first_block,
    int end_block, int batch, int n, const float *key_bias,
    AdatoskTaskFunc clip_func, void *clip_context);

#endif
