/* Builds safetensors model files in memory for the loader tests: a valid
 * tiny AdaTosk model to start from, which a test then breaks in one place.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ST_BUILDER_H
#define ST_BUILDER_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

typedef struct
{
  char *name;
  char *dtype; /* written as is: "F32", "F16", "BF16" or anything */
  int ndim;
  int64_t shape[8];
  GByteArray *data; /* the raw little-endian bytes */
  /* When set, written in place of the real shape / the computed offsets,
   * to write what a well-behaved writer never would. */
  char *shape_json;
  char *offsets_json;
} StTensor;

typedef struct
{
  GPtrArray *tensors;   /* StTensor, in the data region's order */
  JsonObject *config;   /* written as "adatosk.config" unless NULL */
  JsonObject *metadata; /* every other "__metadata__" member */
  guint trailing_bytes; /* zero bytes appended after the last tensor */
} StModel;

/* The tiny model: D=16, depth 2, 2 heads, atsm_layer 1, 4 frames of 32x32,
 * patch 16, tubelet 2, 3 classes; F32 weights, a deterministic pattern
 * (the ATSM scalars are exactly 2.0, 2.0 and 1.0).
 * With a decoder: decoder_embed_dim 8, decoder_depth 1, 2 heads. */
StModel *st_model_new_tiny (gboolean with_decoder);
void st_model_free (StModel *model);

StTensor *st_model_find (StModel *model, const char *name);
void st_model_remove (StModel *model, const char *name);
StTensor *st_model_add_f32 (StModel *model, const char *name, int ndim,
    const int64_t *shape, const float *values);
/* Changes the shape and resizes the F32 data to fit (new elements 0.1). */
void st_tensor_reshape (StTensor *tensor, int ndim, const int64_t *shape);
void st_tensor_set_dtype (StTensor *tensor, const char *dtype);
void st_tensor_set_f32 (StTensor *tensor, gsize index, float value);
/* Replaces the data by 16-bit values with dtype "F16" or "BF16". */
void st_tensor_set_u16 (StTensor *tensor, const char *dtype,
    const uint16_t *values, gsize count);

/* Sets config member `key` to the JSON text `json_value`; NULL removes it. */
void st_model_set_config (StModel *model, const char *key,
    const char *json_value);
/* Sets a string "__metadata__" member; NULL removes it. */
void st_model_set_metadata (StModel *model, const char *key, const char *value);

/* Where the tensor's bytes will lie in the data region. */
void st_model_data_range (StModel *model, const char *name, int64_t *begin,
    int64_t *end);

/* The file: header length, JSON header padded with spaces, data. */
GByteArray *st_model_serialize (StModel *model);
/* A file made of an arbitrary header text and `data_size` zero bytes. */
GByteArray *st_raw_file (const char *header, gsize data_size);
void st_set_header_length (GByteArray *file, uint64_t length);

#endif
