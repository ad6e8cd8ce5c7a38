/* Token counts and the cost model of spec section 8.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"

#include <math.h>

int
adatosk_kept_tokens (int num_tokens, double keep_ratio)
{
  double k = floor (keep_ratio * (double) num_tokens + 0.5);
  if (k < 1.0)
    k = 1.0;
  if (k > num_tokens)
    k = num_tokens;
  return (int) k;
}

/* qkv + proj (8 n D^2), the MLP (4 n D hidden), scores and mixing (4 n^2 D). */
static double
block_flops (double n, double dim, double hidden)
{
  return 8.0 * n * dim * dim + 4.0 * n * dim * hidden + 4.0 * n * n * dim;
}

double
adatosk_config_gflops (const AdatoskConfig *c, double keep_ratio)
{
  double N = c->num_tokens, D = c->embed_dim, C = c->num_classes;
  double K = adatosk_kept_tokens (c->num_tokens, keep_ratio);
  double flops = 2.0 * N * D * c->patch_dim;
  flops += c->atsm_layer * block_flops (N, D, c->mlp_hidden);
  flops += 2.0 * N * D * C; /* the ATSM's class posteriors */
  flops += (c->depth - c->atsm_layer) * block_flops (K, D, c->mlp_hidden);
  flops += 2.0 * D * C; /* head */
  return flops * 1e-9;
}
