/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "st_builder.h"

#include <math.h>
#include <string.h>

static const char tiny_config[] =
    "{\"num_frames\": 4, \"img_size\": 32, \"tubelet_size\": 2, "
    "\"patch_size\": 16, \"embed_dim\": 16, \"depth\": 2, \"num_heads\": 2, "
    "\"mlp_ratio\": 4.0, \"atsm_layer\": 1, \"keep_ratio\": 0.5, "
    "\"num_classes\": 3, \"norm_eps\": 1e-6, "
    "\"mean\": [0.485, 0.456, 0.406], \"std\": [0.229, 0.224, 0.225]}";

static void
tensor_free (gpointer data)
{
  StTensor *tensor = data;
  g_free (tensor->name);
  g_free (tensor->dtype);
  g_byte_array_unref (tensor->data);
  g_free (tensor->shape_json);
  g_free (tensor->offsets_json);
  g_free (tensor);
}

static gsize
shape_numel (int ndim, const int64_t *shape)
{
  gsize numel = 1;
  for (int i = 0; i < ndim; i++)
    numel *= (gsize) shape[i];
  return numel;
}

/* A smooth, deterministic, non-trivial pattern; every tensor differs. */
static float
weight_value (guint tensor_number, gsize index)
{
  return 0.1f * sinf (0.7f * (float) tensor_number + 0.37f * (float) index);
}

StTensor *
st_model_add_f32 (StModel *model, const char *name, int ndim,
    const int64_t *shape, const float *values)
{
  StTensor *tensor = g_new0 (StTensor, 1);
  tensor->name = g_strdup (name);
  tensor->dtype = g_strdup ("F32");
  tensor->ndim = ndim;
  memcpy (tensor->shape, shape, (gsize) ndim * sizeof *shape);
  tensor->data = g_byte_array_new ();
  gsize numel = shape_numel (ndim, shape);
  for (gsize i = 0; i < numel; i++) {
    float value = values ? values[i] : weight_value (model->tensors->len, i);
    /* Little-endian, as the format requires (this test host is too). */
    g_byte_array_append (tensor->data, (const guint8 *) &value, sizeof value);
  }
  g_ptr_array_add (model->tensors, tensor);
  return tensor;
}

#define ADD(model, name, ...) \
  st_model_add_f32 (model, name, \
      (int) (sizeof ((int64_t[]){__VA_ARGS__}) / sizeof (int64_t)), \
      (int64_t[]){__VA_ARGS__}, NULL)

static void
add_block (StModel *model, const char *prefix, int64_t width, int64_t hidden)
{
  char name[96];
#define BLOCK_TENSOR(suffix, ...) \
  (g_snprintf (name, sizeof name, "%s.%s", prefix, suffix), \
      ADD (model, name, __VA_ARGS__))
  BLOCK_TENSOR ("norm1.weight", width);
  BLOCK_TENSOR ("norm1.bias", width);
  BLOCK_TENSOR ("attn.qkv.weight", 3 * width, width);
  BLOCK_TENSOR ("attn.qkv.bias", 3 * width);
  BLOCK_TENSOR ("attn.proj.weight", width, width);
  BLOCK_TENSOR ("attn.proj.bias", width);
  BLOCK_TENSOR ("norm2.weight", width);
  BLOCK_TENSOR ("norm2.bias", width);
  BLOCK_TENSOR ("mlp.fc1.weight", hidden, width);
  BLOCK_TENSOR ("mlp.fc1.bias", hidden);
  BLOCK_TENSOR ("mlp.fc2.weight", width, hidden);
  BLOCK_TENSOR ("mlp.fc2.bias", width);
#undef BLOCK_TENSOR
}

static void
add_decoder (StModel *model)
{
  const int64_t dd = 8, d = 16, patch_dim = 3 * 2 * 16 * 16;
  ADD (model, "encoder_to_decoder.weight", dd, d);
  ADD (model, "mask_token", 1, 1, dd);
  add_block (model, "decoder.blocks.0", dd, 4 * dd);
  ADD (model, "decoder.norm.weight", dd);
  ADD (model, "decoder.norm.bias", dd);
  ADD (model, "decoder.head.weight", patch_dim, dd);
  ADD (model, "decoder.head.bias", patch_dim);
  st_model_set_config (model, "decoder_embed_dim", "8");
  st_model_set_config (model, "decoder_depth", "1");
  st_model_set_config (model, "decoder_num_heads", "2");
}

StModel *
st_model_new_tiny (gboolean with_decoder)
{
  const int64_t d = 16, classes = 3;
  StModel *model = g_new0 (StModel, 1);
  model->tensors = g_ptr_array_new_with_free_func (tensor_free);
  model->metadata = json_object_new ();
  JsonNode *config = json_from_string (tiny_config, NULL);
  model->config = json_object_ref (json_node_get_object (config));
  json_node_unref (config);
  st_model_set_metadata (model, "adatosk.labels",
      "[\"neutral\", \"happy\", \"surprise\"]");
  st_model_set_metadata (model, "adatosk.name", "tiny-test");
  st_model_set_metadata (model, "adatosk.license", "CC0-1.0");

  ADD (model, "patch_embed.proj.weight", d, 3, 2, 16, 16);
  ADD (model, "patch_embed.proj.bias", d);
  add_block (model, "blocks.0", d, 4 * d);
  add_block (model, "blocks.1", d, 4 * d);
  ADD (model, "atsm.norm.weight", d);
  ADD (model, "atsm.norm.bias", d);
  ADD (model, "atsm.prototypes", classes, d);
  st_model_add_f32 (model, "atsm.alpha_dyn", 1, (int64_t[]){1},
      (float[]){2.0f});
  st_model_add_f32 (model, "atsm.alpha_sem", 1, (int64_t[]){1},
      (float[]){2.0f});
  st_model_add_f32 (model, "atsm.beta", 1, (int64_t[]){1}, (float[]){1.0f});
  ADD (model, "fc_norm.weight", d);
  ADD (model, "fc_norm.bias", d);
  ADD (model, "head.weight", classes, d);
  ADD (model, "head.bias", classes);
  if (with_decoder)
    add_decoder (model);
  return model;
}

void
st_model_free (StModel *model)
{
  g_ptr_array_unref (model->tensors);
  if (model->config)
    json_object_unref (model->config);
  json_object_unref (model->metadata);
  g_free (model);
}

static guint
tensor_index (StModel *model, const char *name)
{
  for (guint i = 0; i < model->tensors->len; i++) {
    StTensor *tensor = g_ptr_array_index (model->tensors, i);
    if (strcmp (tensor->name, name) == 0)
      return i;
  }
  g_error ("the test model has no tensor '%s'", name);
}

StTensor *
st_model_find (StModel *model, const char *name)
{
  return g_ptr_array_index (model->tensors, tensor_index (model, name));
}

void
st_model_remove (StModel *model, const char *name)
{
  g_ptr_array_remove_index (model->tensors, tensor_index (model, name));
}

void
st_tensor_reshape (StTensor *tensor, int ndim, const int64_t *shape)
{
  gsize old_numel = tensor->data->len / sizeof (float);
  gsize numel = shape_numel (ndim, shape);
  tensor->ndim = ndim;
  for (int i = 0; i < ndim; i++)
    tensor->shape[i] = shape[i];
  g_byte_array_set_size (tensor->data, (guint) (numel * sizeof (float)));
  for (gsize i = old_numel; i < numel; i++)
    st_tensor_set_f32 (tensor, i, 0.1f);
}

void
st_tensor_set_dtype (StTensor *tensor, const char *dtype)
{
  g_free (tensor->dtype);
  tensor->dtype = g_strdup (dtype);
}

void
st_tensor_set_f32 (StTensor *tensor, gsize index, float value)
{
  g_assert_cmpuint ((index + 1) * sizeof value, <=, tensor->data->len);
  memcpy (tensor->data->data + index * sizeof value, &value, sizeof value);
}

void
st_tensor_set_u16 (StTensor *tensor, const char *dtype, const uint16_t *values,
    gsize count)
{
  st_tensor_set_dtype (tensor, dtype);
  g_byte_array_set_size (tensor->data, 0);
  for (gsize i = 0; i < count; i++) {
    guint8 bytes[2] = {values[i] & 0xff, values[i] >> 8};
    g_byte_array_append (tensor->data, bytes, 2);
  }
}

void
st_model_set_config (StModel *model, const char *key, const char *json_value)
{
  if (!json_value) {
    json_object_remove_member (model->config, key);
    return;
  }
  GError *error = NULL;
  JsonNode *value = json_from_string (json_value, &error);
  g_assert_no_error (error);
  json_object_set_member (model->config, key, value);
}

void
st_model_set_metadata (StModel *model, const char *key, const char *value)
{
  if (value)
    json_object_set_string_member (model->metadata, key, value);
  else
    json_object_remove_member (model->metadata, key);
}

void
st_model_data_range (StModel *model, const char *name, int64_t *begin,
    int64_t *end)
{
  int64_t offset = 0;
  for (guint i = 0; i < model->tensors->len; i++) {
    StTensor *tensor = g_ptr_array_index (model->tensors, i);
    if (strcmp (tensor->name, name) == 0) {
      *begin = offset;
      *end = offset + tensor->data->len;
      return;
    }
    offset += tensor->data->len;
  }
  g_error ("the test model has no tensor '%s'", name);
}

static void
append_json_string (GString *out, const char *text)
{
  JsonNode *node = json_node_init_string (json_node_alloc (), text);
  char *quoted = json_to_string (node, FALSE);
  g_string_append (out, quoted);
  g_free (quoted);
  json_node_unref (node);
}

static void
append_metadata (GString *header, StModel *model)
{
  JsonObject *metadata = json_object_new ();
  GList *members = json_object_get_members (model->metadata);
  for (GList *m = members; m; m = m->next)
    json_object_set_member (metadata, m->data,
        json_node_copy (json_object_get_member (model->metadata, m->data)));
  g_list_free (members);
  if (model->config) {
    JsonNode *config =
        json_node_init_object (json_node_alloc (), model->config);
    char *text = json_to_string (config, FALSE);
    json_object_set_string_member (metadata, "adatosk.config", text);
    g_free (text);
    json_node_unref (config);
  }
  JsonNode *node = json_node_init_object (json_node_alloc (), metadata);
  char *text = json_to_string (node, FALSE);
  g_string_append_printf (header, "\"__metadata__\": %s", text);
  g_free (text);
  json_node_unref (node);
  json_object_unref (metadata);
}

static void
append_tensor (GString *header, const StTensor *tensor, gsize begin)
{
  g_string_append (header, ", ");
  append_json_string (header, tensor->name);
  g_string_append_printf (header,
      ": {\"dtype\": \"%s\", \"shape\": ", tensor->dtype);
  if (tensor->shape_json) {
    g_string_append (header, tensor->shape_json);
  } else {
    g_string_append_c (header, '[');
    for (int i = 0; i < tensor->ndim; i++)
      g_string_append_printf (header, "%s%" G_GINT64_FORMAT, i ? ", " : "",
          tensor->shape[i]);
    g_string_append_c (header, ']');
  }
  g_string_append (header, ", \"data_offsets\": ");
  if (tensor->offsets_json)
    g_string_append (header, tensor->offsets_json);
  else
    g_string_append_printf (header,
        "[%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT "]", begin,
        begin + tensor->data->len);
  g_string_append_c (header, '}');
}

void
st_set_header_length (GByteArray *file, uint64_t length)
{
  g_assert_cmpuint (file->len, >=, 8);
  for (int i = 0; i < 8; i++)
    file->data[i] = (guint8) (length >> (8 * i));
}

GByteArray *
st_raw_file (const char *header, gsize data_size)
{
  GByteArray *file = g_byte_array_new ();
  g_byte_array_set_size (file, 8);
  st_set_header_length (file, strlen (header));
  g_byte_array_append (file, (const guint8 *) header, (guint) strlen (header));
  guint8 zero = 0;
  for (gsize i = 0; i < data_size; i++)
    g_byte_array_append (file, &zero, 1);
  return file;
}

GByteArray *
st_model_serialize (StModel *model)
{
  GString *header = g_string_new ("{");
  append_metadata (header, model);
  gsize offset = 0;
  for (guint i = 0; i < model->tensors->len; i++) {
    StTensor *tensor = g_ptr_array_index (model->tensors, i);
    append_tensor (header, tensor, offset);
    offset += tensor->data->len;
  }
  g_string_append_c (header, '}');
  /* The format pads the header with spaces so the data starts 8-aligned. */
  while (header->len % 8 != 0)
    g_string_append_c (header, ' ');

  GByteArray *file = st_raw_file (header->str, 0);
  g_string_free (header, TRUE);
  for (guint i = 0; i < model->tensors->len; i++) {
    StTensor *tensor = g_ptr_array_index (model->tensors, i);
    g_byte_array_append (file, tensor->data->data, tensor->data->len);
  }
  guint8 zero = 0;
  for (guint i = 0; i < model->trailing_bytes; i++)
    g_byte_array_append (file, &zero, 1);
  return file;
}
