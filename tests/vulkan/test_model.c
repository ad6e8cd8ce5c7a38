/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  char *header;
  size_t header_len, header_cap;
  float *data;
  size_t count, cap;
  uint64_t rng;
} Writer;

static void
append (Writer *w, const char *text)
{
  size_t len = strlen (text);
  if (w->header_len + len + 1 > w->header_cap) {
    w->header_cap = (w->header_len + len + 1) * 2;
    w->header = realloc (w->header, w->header_cap);
  }
  memcpy (w->header + w->header_len, text, len + 1);
  w->header_len += len;
}

static float
uniform (Writer *w)
{
  uint64_t z = (w->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float) ((double) (z >> 11) / 9007199254740992.0);
}

/* A tensor of `count` values center + spread * U(-1, 1). */
static void
tensor (Writer *w, const char *name, int ndim, const int64_t *shape,
    float center, float spread)
{
  size_t count = 1;
  for (int i = 0; i < ndim; i++)
    count *= (size_t) shape[i];
  if (w->count + count > w->cap) {
    w->cap = (w->count + count) * 2;
    w->data = realloc (w->data, w->cap * sizeof *w->data);
  }
  for (size_t i = 0; i < count; i++)
    w->data[w->count + i] = center + spread * (2.0f * uniform (w) - 1.0f);
  char entry[512];
  int len = snprintf (entry, sizeof entry,
      "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", w->count ? "," : "", name);
  for (int i = 0; i < ndim; i++)
    len += snprintf (entry + len, sizeof entry - len, "%s%lld", i ? "," : "",
        (long long) shape[i]);
  snprintf (entry + len, sizeof entry - len, "],\"data_offsets\":[%zu,%zu]}",
      w->count * 4, (w->count + count) * 4);
  append (w, entry);
  w->count += count;
}

unsigned char *
test_model_bytes (const TestModelSpec *s, uint64_t seed, size_t *size_out)
{
  Writer w = {.rng = seed};
  int64_t d = s->dim, hidden = 4 * s->dim,
          pd = 3 * s->tubelet * s->patch * s->patch;
  char text[2048], name[128];
  snprintf (text, sizeof text,
      "{\"__metadata__\":{\"adatosk.config\":\"{"
      "\\\"num_frames\\\":%d,\\\"img_size\\\":[%d,%d],\\\"tubelet_size\\\":%d,"
      "\\\"patch_size\\\":%d,\\\"embed_dim\\\":%d,\\\"depth\\\":%d,\\\"num_"
      "heads\\\":%d,"
      "\\\"mlp_ratio\\\":4.0,\\\"atsm_layer\\\":%d,\\\"keep_ratio\\\":%.17g,"
      "\\\"num_classes\\\":%d,\\\"norm_eps\\\":1e-06,"
      "\\\"mean\\\":[0.485,0.456,0.406],\\\"std\\\":[0.229,0.224,0.225]}\","
      "\"adatosk.labels\":\"[",
      s->frames, s->height, s->width, s->tubelet, s->patch, s->dim, s->depth,
      s->heads, s->atsm_layer, s->keep_ratio, s->classes);
  append (&w, text);
  for (int c = 0; c < s->classes; c++) {
    snprintf (text, sizeof text, "%s\\\"class%d\\\"", c ? "," : "", c);
    append (&w, text);
  }
  snprintf (text, sizeof text, "]\",\"adatosk.name\":\"%s\"},", s->name);
  append (&w, text);
  /* Tensor data begins after the metadata; the first tensor has no comma
   * before it because w.count == 0. */
  float lin = 1.0f / sqrtf ((float) s->dim),
        lin_h = 1.0f / sqrtf ((float) hidden);
  tensor (&w, "patch_embed.proj.weight", 5,
      (int64_t[]){d, 3, s->tubelet, s->patch, s->patch}, 0,
      1.7f / sqrtf ((float) pd));
  tensor (&w, "patch_embed.proj.bias", 1, (int64_t[]){d}, 0, 0.1f);
  for (int i = 0; i < s->depth; i++) {
#define BLOCK(suffix, nd, center, spread, ...) \
  snprintf (name, sizeof name, "blocks.%d.%s", i, suffix); \
  tensor (&w, name, nd, (int64_t[]){__VA_ARGS__}, center, spread)
    BLOCK ("norm1.weight", 1, 1.0f, 0.2f, d);
    BLOCK ("norm1.bias", 1, 0, 0.1f, d);
    BLOCK ("attn.qkv.weight", 2, 0, 1.7f * lin, 3 * d, d);
    BLOCK ("attn.qkv.bias", 1, 0, 0.1f, 3 * d);
    BLOCK ("attn.proj.weight", 2, 0, lin, d, d);
    BLOCK ("attn.proj.bias", 1, 0, 0.1f, d);
    BLOCK ("norm2.weight", 1, 1.0f, 0.2f, d);
    BLOCK ("norm2.bias", 1, 0, 0.1f, d);
    BLOCK ("mlp.fc1.weight", 2, 0, 1.7f * lin, hidden, d);
    BLOCK ("mlp.fc1.bias", 1, 0, 0.1f, hidden);
    BLOCK ("mlp.fc2.weight", 2, 0, lin_h, d, hidden);
    BLOCK ("mlp.fc2.bias", 1, 0, 0.1f, d);
#undef BLOCK
  }
  tensor (&w, "atsm.norm.weight", 1, (int64_t[]){d}, 1.0f, 0.2f);
  tensor (&w, "atsm.norm.bias", 1, (int64_t[]){d}, 0, 0.1f);
  tensor (&w, "atsm.prototypes", 2, (int64_t[]){s->classes, d}, 0, 1.5f);
  tensor (&w, "atsm.alpha_dyn", 1, (int64_t[]){1}, 2.0f, 0.2f);
  tensor (&w, "atsm.alpha_sem", 1, (int64_t[]){1}, 2.0f, 0.2f);
  tensor (&w, "atsm.beta", 1, (int64_t[]){1}, 1.0f, 0.2f);
  tensor (&w, "fc_norm.weight", 1, (int64_t[]){d}, 1.0f, 0.2f);
  tensor (&w, "fc_norm.bias", 1, (int64_t[]){d}, 0, 0.1f);
  tensor (&w, "head.weight", 2, (int64_t[]){s->classes, d}, 0, 1.7f * lin);
  tensor (&w, "head.bias", 1, (int64_t[]){s->classes}, 0, 0.1f);
  append (&w, "}");
  while (w.header_len % 8)
    append (&w, " ");

  size_t size = 8 + w.header_len + w.count * 4;
  unsigned char *file = malloc (size);
  uint64_t len = w.header_len;
  for (int i = 0; i < 8; i++)
    file[i] = (unsigned char) (len >> (8 * i));
  memcpy (file + 8, w.header, w.header_len);
  memcpy (file + 8 + w.header_len, w.data,
      w.count * 4); /* little-endian host */
  free (w.header);
  free (w.data);
  *size_out = size;
  return file;
}

AdatoskModel *
test_model_new (const TestModelSpec *s, uint64_t seed)
{
  size_t size = 0;
  unsigned char *file = test_model_bytes (s, seed, &size);
  AdatoskModel *model = NULL;
  AdatoskError error = {0};
  if (adatosk_model_load_from_memory (file, size, s->name, &model, &error)
      != ADATOSK_OK)
    fprintf (stderr, "test model %s: %s\n", s->name, error.message);
  free (file);
  return model;
}

float *
test_clip_new (const AdatoskConfig *c, uint64_t seed, int frozen)
{
  Writer w = {.rng = seed};
  size_t frame = (size_t) c->img_height * c->img_width;
  float *clip = malloc ((size_t) 3 * c->num_frames * frame * sizeof *clip);
  double phase[3] = {uniform (&w) * 6.28, uniform (&w) * 6.28,
      uniform (&w) * 6.28};
  double speed = 0.3 + uniform (&w);
  for (int ch = 0; ch < 3; ch++)
    for (int t = 0; t < c->num_frames; t++) {
      /* Motion that starts slow and speeds up, more in the left half. */
      double tt = frozen ? 0 : speed * t * t / c->num_frames;
      for (int y = 0; y < c->img_height; y++)
        for (int x = 0; x < c->img_width; x++) {
          double move = x < c->img_width / 2 ? tt : 0.2 * tt;
          double v = sin (0.3 * x + 0.2 * y + phase[ch] + move)
              + 0.5 * cos (0.17 * y - 0.11 * x + 2 * move);
          clip[((size_t) ch * c->num_frames + t) * frame
              + (size_t) y * c->img_width + x] = (float) v;
        }
    }
  if (!frozen)
    for (size_t i = 0; i < (size_t) 3 * c->num_frames * frame; i++)
      clip[i] += 0.3f * (2 * uniform (&w) - 1);
  return clip;
}
