/* The safetensors container (https://github.com/huggingface/safetensors):
 * parsing and validating an untrusted byte buffer. Knows nothing about the
 * AdaTosk model; model.c checks names and shapes against the config.
 *
 * Layout: an 8-byte little-endian header length, a JSON header (at most
 * 100 MB, may end in spaces), then the data region. The header maps each
 * tensor name to {dtype, shape, data_offsets}, offsets relative to the data
 * region; "__metadata__" maps strings to strings.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_SAFETENSORS_H
#define ADATOSK_SAFETENSORS_H

#include "adatosk.h"

#include <glib.h>
#include <stdbool.h>
#include <json-glib/json-glib.h>

#define ADATOSK_SAFETENSORS_MAX_NDIM 5

/* The dtypes the runtime reads; others are rejected at parse time. */
typedef enum
{
  ADATOSK_DTYPE_F32,
  ADATOSK_DTYPE_F16,
  ADATOSK_DTYPE_BF16,
} AdatoskDtype;

typedef struct
{
  char *name;
  AdatoskDtype dtype;
  int ndim;
  int64_t shape[ADATOSK_SAFETENSORS_MAX_NDIM];
  int64_t numel;
  uint64_t begin, end; /* byte range inside the data region */
} AdatoskSafetensorsEntry;

typedef struct
{
  AdatoskSafetensorsEntry *tensors; /* sorted by offset */
  int num_tensors;
  GHashTable *metadata; /* "__metadata__": char * -> char * */
  const uint8_t *data;  /* the data region, in the parsed buffer */
  uint64_t data_size;
} AdatoskSafetensors;

/* Parses and checks `bytes`: header length, JSON, every dtype, shape and
 * offset, and that the tensors tile the data region exactly. On success
 * `file` borrows `bytes` (file->data points into it); release it with
 * adatosk_safetensors_clear(). On failure `file` needs no clearing. */
AdatoskStatus adatosk_safetensors_parse (const uint8_t *bytes, size_t size,
    AdatoskSafetensors *file, AdatoskError *error);
void adatosk_safetensors_clear (AdatoskSafetensors *file);

/* The metadata value of `key`, or NULL. */
const char *adatosk_safetensors_get_metadata (const AdatoskSafetensors *file,
    const char *key);

/* Converts the tensor's data to float32 into `out` (entry->numel floats). */
void adatosk_safetensors_read_floats (const AdatoskSafetensors *file,
    const AdatoskSafetensorsEntry *entry, float *out);

/* True (and the value) when `node` is a JSON integer; json-glib's getters
 * would convert doubles, booleans and strings without complaint. */
bool adatosk_json_get_integer (JsonNode *node, int64_t *value);
/* "a string", "an array", "an integer"...: what a JSON node is, for messages. */
const char *adatosk_json_describe (JsonNode *node);

/* Writes a shape as "[576, 192]" into `buffer` (truncated to fit). */
void adatosk_format_shape (char *buffer, size_t size, int ndim,
    const int64_t *shape);

/* Parses untrusted JSON text, which must be one object or list, into
 * `*root_out` (free with json_node_unref). json-glib only sees text that
 * adatosk_json_check_strict (json_strict.h) passed: json-glib is lenient
 * (single quotes, raw control characters, \u0000), recurses per nesting
 * level (a deep document would overflow the stack) and takes text after the
 * value. `what` names the text in
 * messages, e.g. "the safetensors header". */
AdatoskStatus adatosk_json_parse_untrusted (const char *text, size_t length,
    const char *what, JsonNode **root_out, AdatoskError *error);

#endif
