/* Patch embedding of the CPU forward. The ATSM's dynamic mask needs the
 * change of the embeddings between slots, E[t] - E[t-1]; by linearity that
 * is W (x_t - x_{t-1}), and E[t] = E[t-1] + W (x_t - x_{t-1}). So one
 * product embeds slot 0's tubes and every later slot's differences, and the
 * tokens are their running sum: half the products of embedding the tubes and
 * their differences separately, and a frozen clip still moves by exactly
 * zero (subtracting two embeddings would not give that: sgemm may round rows
 * differently).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_EMBED_H
#define ADATOSK_CPU_EMBED_H

#include "forward.h"

/* clips -> ws->x (tokens with position) and ws->motion. */
void adatosk_cpu_embed (AdatoskCpuWorkspace *ws, const float *const *clips,
    int batch);

#endif
