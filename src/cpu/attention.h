/* Multi-head self-attention of the CPU forward.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_ATTENTION_H
#define ADATOSK_CPU_ATTENTION_H

#include "profile.h"

/* out[n][D] = concat over heads of softmax(Q K^T / sqrt(D/h) + key_bias) V,
 * with Q, K, V read from qkv[n][3D] (rows [q | k | v], heads contiguous).
 * `key_bias` [n] may be NULL; `scores` is scratch of n * (s + 1) floats,
 * s = adatosk_softmax_stride (n) (ops.h). */
void adatosk_attention (const float *qkv, int n, int dim, int heads,
    const float *key_bias, float *scores, float *out);

/* The same for head `head` and query rows [first, first + rows) only: one
 * task of the threaded forward. `scores` is scratch of rows * s floats,
 * `row_scale` of rows;
 * `profile` (may be NULL) books the time to `thread`. */
void adatosk_attention_rows (const float *qkv, int n, int dim, int heads,
    int head, int first, int rows, const float *key_bias, float *scores,
    float *row_scale, float *out, AdatoskCpuProfile *profile, int thread);

#endif
