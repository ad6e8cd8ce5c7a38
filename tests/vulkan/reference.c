/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double
ref_gelu (double x)
{
  return 0.5 * x * (1.0 + erf (x / sqrt (2.0)));
}

void
ref_gemm (const float *a, int lda, const float *w, const float *bias, double *c,
    int ldc, int c_col, int m, int n, int k, double alpha, bool gelu,
    bool accumulate)
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double acc = 0;
      for (int l = 0; l < k; l++)
        acc += (double) a[(size_t) i * lda + l] * w[(size_t) j * k + l];
      double v = alpha * acc + (bias ? bias[j] : 0.0);
      if (gelu)
        v = ref_gelu (v);
      double *dst = &c[(size_t) i * ldc + c_col + j];
      *dst = accumulate ? *dst + v : v;
    }
}

void
ref_layernorm (const double *x, const float *gamma, const float *beta,
    double *y, int rows, int cols, double eps)
{
  for (int r = 0; r < rows; r++) {
    const double *row = x + (size_t) r * cols;
    double mean = 0, var = 0;
    for (int i = 0; i < cols; i++)
      mean += row[i];
    mean /= cols;
    for (int i = 0; i < cols; i++)
      var += (row[i] - mean) * (row[i] - mean);
    var /= cols;
    double inv = 1.0 / sqrt (var + eps);
    for (int i = 0; i < cols; i++)
      y[(size_t) r * cols + i] = (row[i] - mean) * inv * gamma[i] + beta[i];
  }
}

void
ref_attention (const double *qkv, const double *key_bias, double *out, int n,
    int dim, int heads)
{
  int dh = dim / heads;
  double scale = 1.0 / sqrt ((double) dh);
  double *s = malloc ((size_t) n * sizeof *s);
  for (int h = 0; h < heads; h++)
    for (int i = 0; i < n; i++) {
      const double *q = qkv + (size_t) i * 3 * dim + h * dh;
      double top = -INFINITY, total = 0;
      for (int j = 0; j < n; j++) {
        const double *k = qkv + (size_t) j * 3 * dim + dim + h * dh;
        double dot = 0;
        for (int d = 0; d < dh; d++)
          dot += q[d] * k[d];
        s[j] = dot * scale + (key_bias ? key_bias[j] : 0.0);
        if (s[j] > top)
          top = s[j];
      }
      for (int j = 0; j < n; j++)
        total += (s[j] = exp (s[j] - top));
      for (int d = 0; d < dh; d++) {
        double acc = 0;
        for (int j = 0; j < n; j++)
          acc += s[j] * qkv[(size_t) j * 3 * dim + 2 * dim + h * dh + d];
        out[(size_t) i * dim + h * dh + d] = acc / total;
      }
    }
  free (s);
}

void
ref_im2col (const AdatoskConfig *c, const float *clip, double *patches)
{
  int p = c->patch_size, tau = c->tubelet_size;
  for (int n = 0; n < c->num_tokens; n++) {
    int t = n / c->num_spatial, s = n % c->num_spatial;
    int row = s / c->grid_width, col = s % c->grid_width;
    int j = 0;
    for (int ch = 0; ch < 3; ch++)
      for (int dt = 0; dt < tau; dt++)
        for (int dy = 0; dy < p; dy++)
          for (int dx = 0; dx < p; dx++)
            patches[(size_t) n * c->patch_dim + j++] =
                clip[(((size_t) ch * c->num_frames + t * tau + dt) * c->img_height
                         + row * p + dy)
                        * c->img_width
                    + col * p + dx];
  }
}

void
ref_atsm (const double *emb, const double *logits, int slots, int spatial,
    int dim, int classes, double alpha_dyn, double alpha_sem, double beta,
    double *dist, double *q, double *conf, double *r, double *g, double *m)
{
  int n_tokens = slots * spatial;
  for (int t = 0; t < slots; t++)
    for (int s = 0; s < spatial; s++) {
      double d = 0;
      if (slots > 1) {
        int ta = t == 0 ? 1 : t;
        const double *cur = emb + ((size_t) ta * spatial + s) * dim;
        const double *prev = emb + ((size_t) (ta - 1) * spatial + s) * dim;
        for (int i = 0; i < dim; i++)
          d += (cur[i] - prev[i]) * (cur[i] - prev[i]);
        d = sqrt (d) / sqrt ((double) dim);
      }
      dist[t * spatial + s] = d;
    }
  for (int n = 0; n < n_tokens; n++) {
    const double *l = logits + (size_t) n * classes;
    double top = l[0], total = 0, entropy = 0;
    for (int k = 1; k < classes; k++)
      top = fmax (top, l[k]);
    for (int k = 0; k < classes; k++)
      total += exp (l[k] - top);
    for (int k = 0; k < classes; k++) {
      double p = exp (l[k] - top) / total;
      q[(size_t) n * classes + k] = p;
      if (p > 0)
        entropy -= p * log (p);
    }
    conf[n] = 1.0 - entropy / log ((double) classes);
  }
  double mean_d = 0, mean_r = 0;
  for (int n = 0; n < n_tokens; n++) {
    int t = n / spatial, s = n % spatial;
    double best = 0;
    for (int t2 = 0; t2 < slots; t2++) {
      if (t2 == t)
        continue;
      double bc = 0;
      for (int k = 0; k < classes; k++)
        bc += sqrt (q[(size_t) n * classes + k]
            * q[((size_t) t2 * spatial + s) * classes + k]);
      best = fmax (best, bc);
    }
    r[n] = best;
    mean_d += dist[n];
    mean_r += best;
  }
  mean_d /= n_tokens;
  mean_r /= n_tokens;
  for (int t = 0; t < slots; t++) {
    double sum = 0;
    for (int s = 0; s < spatial; s++)
      sum += dist[t * spatial + s] / (mean_d + 1e-6);
    g[t] = sum / spatial;
  }
  for (int n = 0; n < n_tokens; n++) {
    double dn = dist[n] / (mean_d + 1e-6);
    double u = (dn + g[n / spatial]) / 2 - 1;
    double z = alpha_dyn * u + alpha_sem * (conf[n] - (r[n] - mean_r)) + beta;
    m[n] = 1.0 / (1.0 + exp (-z));
  }
}

/* Whether token j ranks before token i: larger m, or equal m and a lower
 * index; NaN below every number (the device's order for a broken mask). */
static int
ranks_before (double mj, int j, double mi, int i)
{
  if (isnan (mi) || isnan (mj))
    return isnan (mi) && (!isnan (mj) || j < i);
  return mj > mi || (mj == mi && j < i);
}

void
ref_topk (const double *m, int n, int k, int *kept)
{
  int count = 0;
  for (int i = 0; i < n; i++) {
    int rank = 0;
    for (int j = 0; j < n; j++)
      rank += ranks_before (m[j], j, m[i], i);
    if (rank < k && count < k)
      kept[count++] = i;
  }
}

static void
ref_block (const AdatoskModel *model, const AdatoskBlockWeights *b, double *x,
    int n, const double *key_bias)
{
  int dim = model->config.embed_dim, hidden = model->config.mlp_hidden;
  double eps = model->config.norm_eps;
  double *xn = malloc ((size_t) n * dim * sizeof *xn);
  float *xf =
      malloc ((size_t) n * (hidden > 3 * dim ? hidden : 3 * dim) * sizeof *xf);
  double *qkv = malloc ((size_t) n * 3 * dim * sizeof *qkv);
  double *att = malloc ((size_t) n * dim * sizeof *att);
  double *hid = malloc ((size_t) n * hidden * sizeof *hid);
  /* The GEMMs read float inputs: round the double activations once, as the
   * float implementations hold them. */
  ref_layernorm (x, b->norm1_weight, b->norm1_bias, xn, n, dim, eps);
  for (size_t i = 0; i < (size_t) n * dim; i++)
    xf[i] = (float) xn[i];
  ref_gemm (xf, dim, b->qkv_weight, b->qkv_bias, qkv, 3 * dim, 0, n, 3 * dim,
      dim, 1.0, false, false);
  ref_attention (qkv, key_bias, att, n, dim, model->config.num_heads);
  for (size_t i = 0; i < (size_t) n * dim; i++)
    xf[i] = (float) att[i];
  ref_gemm (xf, dim, b->proj_weight, b->proj_bias, x, dim, 0, n, dim, dim, 1.0,
      false, true);
  ref_layernorm (x, b->norm2_weight, b->norm2_bias, xn, n, dim, eps);
  for (size_t i = 0; i < (size_t) n * dim; i++)
    xf[i] = (float) xn[i];
  ref_gemm (xf, dim, b->fc1_weight, b->fc1_bias, hid, hidden, 0, n, hidden, dim,
      1.0, true, false);
  for (size_t i = 0; i < (size_t) n * hidden; i++)
    xf[i] = (float) hid[i];
  ref_gemm (xf, hidden, b->fc2_weight, b->fc2_bias, x, dim, 0, n, dim, hidden,
      1.0, false, true);
  free (xn);
  free (xf);
  free (qkv);
  free (att);
  free (hid);
}

void
ref_forward (const AdatoskModel *model, const float *clip, double keep_ratio,
    AdatoskOutput *out, double *logits_out)
{
  const AdatoskConfig *c = &model->config;
  int n = c->num_tokens, dim = c->embed_dim, classes = c->num_classes;
  int slots = c->num_slots, spatial = c->num_spatial;
  double *patches_d = malloc ((size_t) n * c->patch_dim * sizeof *patches_d);
  float *patches = malloc ((size_t) n * c->patch_dim * sizeof *patches);
  double *emb = malloc ((size_t) n * dim * sizeof *emb);
  double *x = malloc ((size_t) n * dim * sizeof *x);
  ref_im2col (c, clip, patches_d);
  for (size_t i = 0; i < (size_t) n * c->patch_dim; i++)
    patches[i] = (float) patches_d[i];
  ref_gemm (patches, c->patch_dim, model->patch_weight, model->patch_bias, emb,
      dim, 0, n, dim, c->patch_dim, 1.0, false, false);
  for (int t = 0; t < n; t++)
    for (int i = 0; i < dim; i += 2) {
      double angle = t / pow (10000.0, (double) i / dim);
      x[(size_t) t * dim + i] = emb[(size_t) t * dim + i] + sin (angle);
      if (i + 1 < dim)
        x[(size_t) t * dim + i + 1] =
            emb[(size_t) t * dim + i + 1] + cos (angle);
    }
  for (int l = 0; l < c->atsm_layer; l++)
    ref_block (model, &model->blocks[l], x, n, NULL);

  double *zh = malloc ((size_t) n * dim * sizeof *zh);
  float *zf = malloc ((size_t) n * dim * sizeof *zf);
  double *logits = malloc ((size_t) n * classes * sizeof *logits);
  double *dist = malloc (n * sizeof *dist), *conf = malloc (n * sizeof *conf);
  double *r = malloc (n * sizeof *r), *m = malloc (n * sizeof *m);
  double *q = malloc ((size_t) n * classes * sizeof *q);
  double *g = malloc (slots * sizeof *g);
  ref_layernorm (x, model->atsm_norm_weight, model->atsm_norm_bias, zh, n, dim,
      c->norm_eps);
  for (size_t i = 0; i < (size_t) n * dim; i++)
    zf[i] = (float) zh[i];
  ref_gemm (zf, dim, model->prototypes, NULL, logits, classes, 0, n, classes,
      dim, 1.0 / sqrt ((double) dim), false, false);
  ref_atsm (emb, logits, slots, spatial, dim, classes, model->alpha_dyn,
      model->alpha_sem, model->beta, dist, q, conf, r, g, m);

  int k = adatosk_kept_tokens (n, keep_ratio);
  int *kept = malloc (n * sizeof *kept);
  ref_topk (m, n, k, kept);
  double *xk = malloc ((size_t) k * dim * sizeof *xk);
  double *bias = malloc (k * sizeof *bias);
  for (int j = 0; j < k; j++) {
    memcpy (xk + (size_t) j * dim, x + (size_t) kept[j] * dim,
        dim * sizeof *xk);
    bias[j] = log (m[kept[j]] + 1e-6);
  }
  for (int l = c->atsm_layer; l < c->depth; l++)
    ref_block (model, &model->blocks[l], xk, k, bias);

  double *h = calloc (dim, sizeof *h);
  double total = 0;
  for (int j = 0; j < k; j++) {
    total += m[kept[j]];
    for (int i = 0; i < dim; i++)
      h[i] += m[kept[j]] * xk[(size_t) j * dim + i];
  }
  for (int i = 0; i < dim; i++)
    h[i] /= total;
  double *hnorm = malloc (dim * sizeof *hnorm);
  ref_layernorm (h, model->fc_norm_weight, model->fc_norm_bias, hnorm, 1, dim,
      c->norm_eps);
  double top = -INFINITY, sum = 0;
  for (int cl = 0; cl < classes; cl++) {
    double v = model->head_bias[cl];
    for (int i = 0; i < dim; i++)
      v += hnorm[i] * model->head_weight[(size_t) cl * dim + i];
    logits_out[cl] = v;
    top = fmax (top, v);
  }
  for (int cl = 0; cl < classes; cl++)
    sum += exp (logits_out[cl] - top);
  for (int cl = 0; cl < classes; cl++) {
    out->logits[cl] = (float) logits_out[cl];
    out->probs[cl] = (float) (exp (logits_out[cl] - top) / sum);
  }
  for (int t = 0; t < slots; t++) {
    int kept_in_slot = 0;
    for (int j = 0; j < k; j++)
      kept_in_slot += kept[j] / spatial == t;
    out->significance[t] = (float) g[t];
    out->kept_fraction[t] = (float) kept_in_slot / spatial;
  }
  for (int i = 0; i < n; i++)
    out->token_mask[i] = (float) m[i];
  for (int j = 0; j < k; j++)
    out->kept_tokens[j] = kept[j];
  out->num_kept = k;

  free (patches_d);
  free (patches);
  free (emb);
  free (x);
  free (zh);
  free (zf);
  free (logits);
  free (dist);
  free (conf);
  free (r);
  free (m);
  free (q);
  free (g);
  free (kept);
  free (xk);
  free (bias);
  free (h);
  free (hnorm);
}
