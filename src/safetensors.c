/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "safetensors.h"

#include "error.h"
#include "half.h"
#include "json_strict.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The format's own limit (MAX_HEADER_SIZE of the reference implementation). */
#define MAX_HEADER_SIZE 100000000u

/* ---- JSON helpers ---- */

AdatoskStatus
adatosk_json_parse_untrusted (const char *text, size_t length, const char *what,
    JsonNode **root_out, AdatoskError *error)
{
  AdatoskStatus status = adatosk_json_check_strict (text, length, what, error);
  if (status != ADATOSK_OK)
    return status;

  JsonParser *parser = json_parser_new_immutable ();
  GError *json_error = NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) length,
          &json_error)) {
    status = adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "%s is not valid JSON: %s", what, json_error->message);
    g_error_free (json_error);
  } else {
    *root_out = json_parser_steal_root (parser);
  }
  g_object_unref (parser);
  return status;
}

const char *
adatosk_json_describe (JsonNode *node)
{
  switch (json_node_get_node_type (node)) {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
      break;
  }
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    return "an integer";
  if (type == G_TYPE_DOUBLE)
    return "a number with a fraction or exponent";
  if (type == G_TYPE_BOOLEAN)
    return "a boolean";
  return "a string";
}

bool
adatosk_json_get_integer (JsonNode *node, int64_t *value)
{
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return false;
  *value = json_node_get_int (node);
  return true;
}

void
adatosk_format_shape (char *buffer, size_t size, int ndim, const int64_t *shape)
{
  size_t used = (size_t) snprintf (buffer, size, "[");
  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t) snprintf (buffer + used, size - used, "%s%" PRId64,
        i ? ", " : "", shape[i]);
  if (used < size)
    snprintf (buffer + used, size - used, "]");
}

/* ---- dtypes ---- */

static size_t
dtype_size (AdatoskDtype dtype)
{
  return dtype == ADATOSK_DTYPE_F32 ? 4 : 2;
}

static const char *
dtype_name (AdatoskDtype dtype)
{
  switch (dtype) {
    case ADATOSK_DTYPE_F32:
      return "F32";
    case ADATOSK_DTYPE_F16:
      return "F16";
    case ADATOSK_DTYPE_BF16:
      return "BF16";
  }
  return "?";
}

/* Valid safetensors dtypes that the runtime does not read: they get a
 * clearer message than a typo does. */
static bool
is_other_safetensors_dtype (const char *name)
{
  static const char *const others[] = {
      "BOOL",
      "U8",
      "I8",
      "I16",
      "U16",
      "I32",
      "U32",
      "I64",
      "U64",
      "F64",
      "F8_E5M2",
      "F8_E4M3",
      "F8_E8M0",
      "F6_E2M3",
      "F6_E3M2",
      "F4",
      "C64",
  };
  for (size_t i = 0; i < G_N_ELEMENTS (others); i++)
    if (strcmp (name, others[i]) == 0)
      return true;
  return false;
}

static AdatoskStatus
parse_dtype (const char *tensor, JsonObject *entry, AdatoskDtype *dtype,
    AdatoskError *error)
{
  JsonNode *node = json_object_get_member (entry, "dtype");
  if (!node)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s' has no \"dtype\"", tensor);
  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_STRING)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': \"dtype\" is %s, not a string", tensor,
        adatosk_json_describe (node));

  const char *name = json_node_get_string (node);
  for (AdatoskDtype d = ADATOSK_DTYPE_F32; d <= ADATOSK_DTYPE_BF16; d++) {
    if (strcmp (name, dtype_name (d)) == 0) {
      *dtype = d;
      return ADATOSK_OK;
    }
  }
  if (is_other_safetensors_dtype (name))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "unsupported dtype %s for tensor '%s' (AdaTosk model files use F32, "
        "F16 or BF16)",
        name, tensor);
  return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
      "unknown dtype \"%s\" for tensor '%s'", name, tensor);
}

/* ---- one header entry ---- */

static AdatoskStatus
parse_shape (const char *tensor, JsonObject *entry,
    AdatoskSafetensorsEntry *out, AdatoskError *error)
{
  JsonNode *node = json_object_get_member (entry, "shape");
  if (!node)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s' has no \"shape\"", tensor);
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': \"shape\" is %s, not a list of integers", tensor,
        adatosk_json_describe (node));

  JsonArray *dims = json_node_get_array (node);
  guint ndim = json_array_get_length (dims);
  if (ndim > ADATOSK_SAFETENSORS_MAX_NDIM)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s' has %u dimensions, more than the %d supported", tensor,
        ndim, ADATOSK_SAFETENSORS_MAX_NDIM);

  out->ndim = (int) ndim;
  out->numel = 1;
  for (guint i = 0; i < ndim; i++) {
    JsonNode *dim = json_array_get_element (dims, i);
    if (!adatosk_json_get_integer (dim, &out->shape[i]))
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "tensor '%s': shape entry %u is %s, not an integer", tensor, i,
          adatosk_json_describe (dim));
    if (out->shape[i] < 0)
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "tensor '%s': shape entry %u is negative (%" PRId64 ")", tensor, i,
          out->shape[i]);
    if (__builtin_mul_overflow (out->numel, out->shape[i], &out->numel))
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "tensor '%s': the shape's element count overflows 64 bits", tensor);
  }
  return ADATOSK_OK;
}

static AdatoskStatus
parse_offsets (const char *tensor, JsonObject *entry, uint64_t data_size,
    AdatoskSafetensorsEntry *out, AdatoskError *error)
{
  JsonNode *node = json_object_get_member (entry, "data_offsets");
  if (!node)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s' has no \"data_offsets\"", tensor);

  int64_t begin, end;
  JsonArray *pair =
      JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  if (!pair || json_array_get_length (pair) != 2
      || !adatosk_json_get_integer (json_array_get_element (pair, 0), &begin)
      || !adatosk_json_get_integer (json_array_get_element (pair, 1), &end))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': \"data_offsets\" must be a list of two integers "
        "[begin, end]",
        tensor);
  if (begin < 0 || end < 0)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] are negative",
        tensor, begin, end);
  if (begin > end)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] begin after "
        "they end",
        tensor, begin, end);
  if ((uint64_t) end > data_size)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] reach beyond "
        "the data region of %" PRIu64 " bytes (is the file truncated?)",
        tensor, begin, end, data_size);

  /* numel * size cannot overflow here: end - begin bounds it first. */
  uint64_t bytes = (uint64_t) (end - begin);
  size_t element_size = dtype_size (out->dtype);
  if ((uint64_t) out->numel > bytes / element_size
      || (uint64_t) out->numel * element_size != bytes) {
    char shape[128];
    adatosk_format_shape (shape, sizeof shape, out->ndim, out->shape);
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': data_offsets [%" PRId64 ", %" PRId64 "] hold %" PRIu64
        " bytes, but shape %s of %s needs %" PRId64 " elements of %zu bytes",
        tensor, begin, end, bytes, shape, dtype_name (out->dtype), out->numel,
        element_size);
  }
  out->begin = (uint64_t) begin;
  out->end = (uint64_t) end;
  return ADATOSK_OK;
}

static AdatoskStatus
parse_entry (const char *tensor, JsonNode *node, uint64_t data_size,
    AdatoskSafetensorsEntry *out, AdatoskError *error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s': its header entry is %s, not an object", tensor,
        adatosk_json_describe (node));

  JsonObject *entry = json_node_get_object (node);
  AdatoskStatus status = parse_dtype (tensor, entry, &out->dtype, error);
  if (status == ADATOSK_OK)
    status = parse_shape (tensor, entry, out, error);
  if (status == ADATOSK_OK)
    status = parse_offsets (tensor, entry, data_size, out, error);
  return status;
}

static AdatoskStatus
parse_metadata (JsonNode *node, GHashTable *metadata, AdatoskError *error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "\"__metadata__\" is %s, not an object of strings",
        adatosk_json_describe (node));

  JsonObjectIter iter;
  const char *key;
  JsonNode *value;
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &key, &value)) {
    if (!JSON_NODE_HOLDS_VALUE (value)
        || json_node_get_value_type (value) != G_TYPE_STRING)
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "\"__metadata__\" value of \"%s\" is %s, not a string", key,
          adatosk_json_describe (value));
    g_hash_table_insert (metadata, g_strdup (key),
        g_strdup (json_node_get_string (value)));
  }
  return ADATOSK_OK;
}

/* ---- the data region ---- */

static int
compare_by_offset (const void *a, const void *b)
{
  const AdatoskSafetensorsEntry *x = a, *y = b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return 0;
}

/* The format requires the tensors to tile the data region: no overlap (two
 * tensors sharing bytes), no gap and no trailing bytes (room to hide data). */
static AdatoskStatus
check_tiling (AdatoskSafetensors *file, AdatoskError *error)
{
  if (file->num_tensors > 1)
    qsort (file->tensors, (size_t) file->num_tensors, sizeof *file->tensors,
        compare_by_offset);

  uint64_t covered = 0;
  const AdatoskSafetensorsEntry *previous = NULL;
  for (int i = 0; i < file->num_tensors; i++) {
    const AdatoskSafetensorsEntry *t = &file->tensors[i];
    if (t->begin < covered)
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "tensors '%s' (bytes %" PRIu64 "..%" PRIu64
          ") and '%s' (bytes %" PRIu64 "..%" PRIu64 ") overlap",
          previous->name, previous->begin, previous->end, t->name, t->begin,
          t->end);
    if (t->begin > covered && !previous)
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "the data region starts with %" PRIu64 " bytes that no tensor "
          "covers (the first tensor, '%s', begins at %" PRIu64 ")",
          t->begin, t->name, t->begin);
    if (t->begin > covered)
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "a gap of %" PRIu64 " bytes that no tensor covers lies between "
          "tensors '%s' (ends at %" PRIu64 ") and '%s' (begins at %" PRIu64 ")",
          t->begin - covered, previous->name, covered, t->name, t->begin);
    covered = t->end;
    previous = t;
  }
  if (covered < file->data_size && !previous)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "the data region holds %" PRIu64 " bytes but the header lists no "
        "tensor",
        file->data_size);
  if (covered < file->data_size)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "%" PRIu64
        " trailing bytes after the last tensor ('%s', ends at %" PRIu64
        ") are not covered by any tensor",
        file->data_size - covered, previous->name, covered);
  return ADATOSK_OK;
}

/* ---- the file ---- */

static uint64_t
read_u64_le (const uint8_t *bytes)
{
  uint64_t value = 0;
  for (int i = 7; i >= 0; i--)
    value = (value << 8) | bytes[i];
  return value;
}

static AdatoskStatus
read_header_length (const uint8_t *bytes, size_t size, uint64_t *length,
    AdatoskError *error)
{
  if (size == 0)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "the file is empty (0 bytes; a safetensors file starts with an "
        "8-byte header length)");
  if (size < 8)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "the file is %zu bytes, shorter than the 8-byte header length a "
        "safetensors file starts with",
        size);

  *length = read_u64_le (bytes);
  if (*length > MAX_HEADER_SIZE)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "header length %" PRIu64 " is beyond the 100 MB limit of the "
        "safetensors format (is this a safetensors file?)",
        *length);
  if (*length > size - 8)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "header length %" PRIu64 " reaches beyond the end of the file (%zu "
        "bytes after the length field; is the file truncated?)",
        *length, size - 8);
  return ADATOSK_OK;
}

static AdatoskStatus
parse_header_members (JsonObject *header, AdatoskSafetensors *file,
    AdatoskError *error)
{
  guint members = json_object_get_size (header);
  file->tensors = g_new0 (AdatoskSafetensorsEntry, members);

  JsonObjectIter iter;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&iter, header);
  while (json_object_iter_next (&iter, &name, &node)) {
    AdatoskStatus status;
    if (strcmp (name, "__metadata__") == 0) {
      status = parse_metadata (node, file->metadata, error);
    } else {
      AdatoskSafetensorsEntry *entry = &file->tensors[file->num_tensors++];
      entry->name = g_strdup (name);
      status = parse_entry (name, node, file->data_size, entry, error);
    }
    if (status != ADATOSK_OK)
      return status;
  }
  return check_tiling (file, error);
}

AdatoskStatus
adatosk_safetensors_parse (const uint8_t *bytes, size_t size,
    AdatoskSafetensors *file, AdatoskError *error)
{
  memset (file, 0, sizeof *file);
  uint64_t header_length = 0;
  AdatoskStatus status =
      read_header_length (bytes, size, &header_length, error);
  if (status != ADATOSK_OK)
    return status;

  JsonNode *root;
  status = adatosk_json_parse_untrusted ((const char *) bytes + 8,
      header_length, "the safetensors header", &root, error);
  if (status != ADATOSK_OK)
    return status;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    status = adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "the safetensors header is %s, not a JSON object",
        adatosk_json_describe (root));
    json_node_unref (root);
    return status;
  }

  file->data = bytes + 8 + header_length;
  file->data_size = size - 8 - header_length;
  file->metadata =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  status = parse_header_members (json_node_get_object (root), file, error);
  json_node_unref (root);
  if (status != ADATOSK_OK)
    adatosk_safetensors_clear (file);
  return status;
}

void
adatosk_safetensors_clear (AdatoskSafetensors *file)
{
  for (int i = 0; i < file->num_tensors; i++)
    g_free (file->tensors[i].name);
  g_free (file->tensors);
  if (file->metadata)
    g_hash_table_unref (file->metadata);
  memset (file, 0, sizeof *file);
}

const char *
adatosk_safetensors_get_metadata (const AdatoskSafetensors *file,
    const char *key)
{
  return g_hash_table_lookup (file->metadata, key);
}

/* Assembled byte by byte: the data region has no alignment guarantee and
 * the format is little-endian whatever the host is. Compilers turn these
 * into plain loads on little-endian machines. */
static uint16_t
load_u16_le (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
load_u32_le (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
      | ((uint32_t) p[3] << 24);
}

void
adatosk_safetensors_read_floats (const AdatoskSafetensors *file,
    const AdatoskSafetensorsEntry *entry, float *out)
{
  const uint8_t *src = file->data + entry->begin;
  switch (entry->dtype) {
    case ADATOSK_DTYPE_F32:
      for (int64_t i = 0; i < entry->numel; i++) {
        uint32_t bits = load_u32_le (src + 4 * i);
        memcpy (&out[i], &bits, sizeof bits);
      }
      break;
    case ADATOSK_DTYPE_F16:
      for (int64_t i = 0; i < entry->numel; i++)
        out[i] = adatosk_half_to_float (load_u16_le (src + 2 * i));
      break;
    case ADATOSK_DTYPE_BF16:
      for (int64_t i = 0; i < entry->numel; i++)
        out[i] = adatosk_bfloat16_to_float (load_u16_le (src + 2 * i));
      break;
  }
}
