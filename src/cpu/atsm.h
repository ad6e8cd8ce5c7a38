/* The adaptive temporal soft mask (spec section 3) and top-K token selection.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_ATSM_H
#define ADATOSK_CPU_ATSM_H

#include "../model.h"

#include <stddef.h>
#include <stdint.h>

/* Doubles of scratch that adatosk_atsm_mask needs for `config`. */
size_t adatosk_atsm_work_size (const AdatoskConfig *config);

/* Scores every token of the full grid.
 * motion: [T'-1][S][D], E[t][s] - E[t-1][s] for t >= 1, the change of the
 *         patch embeddings (before the position table) between slots;
 * tokens: Z[N][D], the tokens after block L1;
 * normed: scratch of N * D floats; work: adatosk_atsm_work_size() doubles.
 * Writes mask m[N] and the frame significance g[T']. */
void adatosk_atsm_mask (const AdatoskModel *model, const float *motion,
    const float *tokens, float *normed, double *work, float *mask,
    float *significance);

/* The `k` tokens with the largest mask (ties: lower index first), written to
 * kept[] in ascending index order. `order` is scratch of n entries. */
typedef struct
{
  float mask;
  int32_t index;
} AdatoskRankedToken;
void adatosk_select_tokens (const float *mask, int n, int k,
    AdatoskRankedToken *order, int32_t *kept);

#endif
