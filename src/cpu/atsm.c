/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "atsm.h"
#include "ops.h"
#include "spec_constants.h"

#include <math.h>
#include <stdlib.h>

size_t
adatosk_atsm_work_size (const AdatoskConfig *config)
{
  /* dn[N], g[T'], sqrt(q)[N][C], c[N], r[N] */
  return (size_t) config->num_tokens * (config->num_classes + 3)
      + config->num_slots;
}

/* dn[t][s] and g[t]: how much each token's content moved since the previous
 * slot, relative to the clip's mean movement. */
static void
dynamic_scores (const AdatoskConfig *cfg, const float *motion, double *dn,
    double *g)
{
  int T = cfg->num_slots, S = cfg->num_spatial, D = cfg->embed_dim;
  if (T == 1) {
    for (int s = 0; s < S; s++)
      dn[s] = 0.0;
    g[0] = 0.0;
    return;
  }
  double total = 0.0;
  for (int t = 1; t < T; t++) {
    for (int s = 0; s < S; s++) {
      const float *diff = motion + ((size_t) (t - 1) * S + s) * D;
      double sq = 0.0;
      for (int j = 0; j < D; j++)
        sq += (double) diff[j] * diff[j];
      dn[t * S + s] = sqrt (sq / D);
      total += dn[t * S + s];
    }
  }
  /* Slot 0 has no previous slot to move from: the spec (docs/model.md
   * section 3) gives it slot 1's motion, d[0][s] = d[1][s], rather than
   * zero, which would mark the first moment of every clip as static. */
  for (int s = 0; s < S; s++) {
    dn[s] = dn[S + s];
    total += dn[s];
  }
  double scale = 1.0 / (total / ((double) T * S) + ADATOSK_MASK_EPS);
  for (int t = 0; t < T; t++) {
    double sum = 0.0;
    for (int s = 0; s < S; s++) {
      dn[t * S + s] *= scale;
      sum += dn[t * S + s];
    }
    g[t] = sum / S;
  }
}

/* Token class posteriors q = softmax(LN(Z) P^T / sqrt(D)). Stores sqrt(q),
 * which is what the Bhattacharyya coefficient needs, and the semantic
 * confidence c = 1 - H(q) / ln C. */
static void
semantic_scores (const AdatoskModel *model, const float *tokens, float *normed,
    double *sqrt_q, double *confidence)
{
  const AdatoskConfig *cfg = &model->config;
  int N = cfg->num_tokens, D = cfg->embed_dim, C = cfg->num_classes;
  double inv_sqrt_d = 1.0 / sqrt ((double) D);
  double log_c = log ((double) C);

  adatosk_layer_norm (tokens, normed, N, D, model->atsm_norm_weight,
      model->atsm_norm_bias, (float) cfg->norm_eps);
  for (int n = 0; n < N; n++) {
    const float *z = normed + (size_t) n * D;
    double *sq = sqrt_q + (size_t) n * C;
    double max = -INFINITY;
    for (int k = 0; k < C; k++) {
      const float *p = model->prototypes + (size_t) k * D;
      /* Partial sums, so that the compiler may vectorise the product. */
      double lane[8] = {0}, dot = 0.0;
      int j = 0;
      for (; j + 8 <= D; j += 8)
        for (int l = 0; l < 8; l++)
          lane[l] += (double) z[j + l] * p[j + l];
      for (; j < D; j++)
        lane[0] += (double) z[j] * p[j];
      for (int l = 0; l < 8; l++)
        dot += lane[l];
      sq[k] = dot * inv_sqrt_d;
      if (sq[k] > max)
        max = sq[k];
    }
    double sum = 0.0;
    for (int k = 0; k < C; k++) {
      sq[k] = exp (sq[k] - max);
      sum += sq[k];
    }
    double entropy = 0.0;
    for (int k = 0; k < C; k++) {
      double q = sq[k] / sum;
      if (q > 0.0)
        entropy -= q * log (q);
      sq[k] = sqrt (q);
    }
    confidence[n] = 1.0 - entropy / log_c;
  }
}

/* r[t][s]: the best Bhattacharyya match of token (t, s) in any other slot at
 * the same position; returns the mean of r over the clip. */
static double
similarity_accumulation (const AdatoskConfig *cfg, const double *sqrt_q,
    double *r)
{
  int T = cfg->num_slots, S = cfg->num_spatial, C = cfg->num_classes;
  double sum = 0.0;
  for (int t = 0; t < T; t++) {
    for (int s = 0; s < S; s++) {
      const double *a = sqrt_q + ((size_t) t * S + s) * C;
      double best = 0.0;
      for (int u = 0; u < T; u++) {
        if (u == t)
          continue;
        const double *b = sqrt_q + ((size_t) u * S + s) * C;
        double bc = 0.0;
        for (int k = 0; k < C; k++)
          bc += a[k] * b[k];
        if (bc > best)
          best = bc;
      }
      r[t * S + s] = best;
      sum += best;
    }
  }
  return sum / cfg->num_tokens;
}

void
adatosk_atsm_mask (const AdatoskModel *model, const float *motion,
    const float *tokens, float *normed, double *work, float *mask,
    float *significance)
{
  const AdatoskConfig *cfg = &model->config;
  int T = cfg->num_slots, S = cfg->num_spatial, N = cfg->num_tokens;
  double *dn = work;
  double *g = dn + N;
  double *sqrt_q = g + T;
  double *confidence = sqrt_q + (size_t) N * cfg->num_classes;
  double *r = confidence + N;

  dynamic_scores (cfg, motion, dn, g);
  semantic_scores (model, tokens, normed, sqrt_q, confidence);
  double r_mean = similarity_accumulation (cfg, sqrt_q, r);

  for (int t = 0; t < T; t++) {
    significance[t] = (float) g[t];
    for (int s = 0; s < S; s++) {
      int n = t * S + s;
      double u = (dn[n] + g[t]) * 0.5 - 1.0;
      double logit = model->alpha_dyn * u
          + model->alpha_sem * (confidence[n] - (r[n] - r_mean)) + model->beta;
      mask[n] = (float) (1.0 / (1.0 + exp (-logit)));
    }
  }
}

static int
compare_ranked (const void *pa, const void *pb)
{
  const AdatoskRankedToken *a = pa, *b = pb;
  if (a->mask != b->mask)
    return a->mask > b->mask ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

static int
compare_index (const void *pa, const void *pb)
{
  int32_t a = *(const int32_t *) pa, b = *(const int32_t *) pb;
  return (a > b) - (a < b);
}

void
adatosk_select_tokens (const float *mask, int n, int k,
    AdatoskRankedToken *order, int32_t *kept)
{
  for (int i = 0; i < n; i++)
    order[i] = (AdatoskRankedToken){mask[i], i};
  qsort (order, n, sizeof *order, compare_ranked);
  for (int i = 0; i < k; i++)
    kept[i] = order[i].index;
  qsort (kept, k, sizeof *kept, compare_index);
}
