/* One transformer block of the CPU forward, in three parallel steps: LN1 and
 * the QKV product per chunk of rows; attention per clip, head and block of
 * query rows; then everything else per chunk of rows (projection, residual,
 * LN2, fc1, GELU, fc2, residual), which needs no other rows, so a chunk's
 * hidden units are used while still in cache.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_BLOCK_H
#define ADATOSK_CPU_BLOCK_H

#include "forward.h"

/* x = x + Attn(LN1(x)); x = x + MLP(LN2(x)) on `batch` clips of n tokens
 * each; key_bias [batch n] may be NULL. */
void adatosk_cpu_run_block (AdatoskCpuWorkspace *ws,
    const AdatoskBlockWeights *weights, int batch, int n,
    const float *key_bias);

#endif
