/* The model loader: a valid tiny model loads with the right config, labels,
 * counts and values (F32, F16, BF16), through both load paths; every kind of
 * broken file fails with ADATOSK_ERROR_FORMAT (or IO) and a message that
 * says what is wrong. Run it under ASan too: a rejection must never read
 * out of bounds, which is why rejected buffers are exact-size copies.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"
#include "model.h"
#include "st_builder.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define ORIGIN "test.safetensors"

/* ---- helpers ---- */

static AdatoskModel *
load_bytes (GByteArray *file, AdatoskError *error)
{
  AdatoskModel *model = NULL;
  /* An exact-size heap copy, so ASan catches any read past the end. */
  void *exact = g_memdup2 (file->data, file->len);
  AdatoskStatus status =
      adatosk_model_load_from_memory (exact, file->len, ORIGIN, &model, error);
  g_free (exact);
  g_assert_true ((status == ADATOSK_OK) == (model != NULL));
  return model;
}

static AdatoskModel *
load_valid (StModel *st)
{
  GByteArray *file = st_model_serialize (st);
  AdatoskError error = {0};
  AdatoskModel *model = load_bytes (file, &error);
  if (!model)
    g_error ("a valid model was rejected: %s", error.message);
  g_byte_array_unref (file);
  return model;
}

static void
check_message (const AdatoskError *error, AdatoskStatus expected,
    const char *const *words)
{
  g_test_message ("message: %s", error->message);
  if (error->status != expected)
    g_error ("expected status '%s', got '%s': %s",
        adatosk_status_name (expected), adatosk_status_name (error->status),
        error->message);
  for (const char *const *word = words; *word; word++)
    if (!strstr (error->message, *word))
      g_error ("the message \"%s\" does not contain \"%s\"", error->message,
          *word);
}

static void
assert_bytes_rejected (GByteArray *file, const char *const *words)
{
  AdatoskError error = {0};
  AdatoskModel *model = load_bytes (file, &error);
  g_assert_null (model);
  check_message (&error, ADATOSK_ERROR_FORMAT, words);
  g_assert_true (g_str_has_prefix (error.message, ORIGIN ": "));
  g_byte_array_unref (file);
}

static void
assert_model_rejected (StModel *st, const char *const *words)
{
  assert_bytes_rejected (st_model_serialize (st), words);
  st_model_free (st);
}

/* Every listed word must appear in the error message. */
#define REJECT_BYTES(file, ...) \
  assert_bytes_rejected (file, (const char *const[]){__VA_ARGS__, NULL})
#define REJECT_MODEL(st, ...) \
  assert_model_rejected (st, (const char *const[]){__VA_ARGS__, NULL})

static StModel *
tiny_with_config (const char *key, const char *json_value)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_set_config (st, key, json_value);
  return st;
}

static StModel *
tiny_with_offsets (const char *tensor, const char *offsets_json)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_find (st, tensor)->offsets_json = g_strdup (offsets_json);
  return st;
}

static StModel *
tiny_with_shape_json (const char *tensor, const char *shape_json)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_find (st, tensor)->shape_json = g_strdup (shape_json);
  return st;
}

static int64_t
count_params (StModel *st, gboolean decoder_too)
{
  int64_t count = 0;
  for (guint i = 0; i < st->tensors->len; i++) {
    StTensor *t = g_ptr_array_index (st->tensors, i);
    gboolean decoder = g_str_has_prefix (t->name, "decoder.")
        || g_str_has_prefix (t->name, "encoder_to_decoder.")
        || strcmp (t->name, "mask_token") == 0;
    if (decoder_too || !decoder)
      count += t->data->len / sizeof (float);
  }
  return count;
}

/* Every tensor of `st` (all F32) arrived unchanged, 64-byte aligned. */
static void
check_tensor_values (const AdatoskModel *model, StModel *st)
{
  g_assert_cmpint (adatosk_model_get_tensor_count (model), ==,
      st->tensors->len);
  for (guint i = 0; i < st->tensors->len; i++) {
    StTensor *expected = g_ptr_array_index (st->tensors, i);
    const AdatoskTensor *tensor =
        adatosk_model_find_tensor (model, expected->name);
    g_assert_nonnull (tensor);
    g_assert_cmpint (tensor->ndim, ==, expected->ndim);
    for (int d = 0; d < tensor->ndim; d++)
      g_assert_cmpint (tensor->shape[d], ==, expected->shape[d]);
    g_assert_cmpint (tensor->numel * 4, ==, expected->data->len);
    g_assert_cmpmem (tensor->data, tensor->numel * 4, expected->data->data,
        expected->data->len);
    g_assert_cmpuint ((uintptr_t) tensor->data % 64, ==, 0);
  }
}

static void
check_tiny_config (const AdatoskConfig *c)
{
  g_assert_cmpint (c->num_frames, ==, 4);
  g_assert_cmpint (c->img_height, ==, 32);
  g_assert_cmpint (c->img_width, ==, 32);
  g_assert_cmpint (c->tubelet_size, ==, 2);
  g_assert_cmpint (c->patch_size, ==, 16);
  g_assert_cmpint (c->embed_dim, ==, 16);
  g_assert_cmpint (c->depth, ==, 2);
  g_assert_cmpint (c->num_heads, ==, 2);
  g_assert_cmpfloat (c->mlp_ratio, ==, 4.0);
  g_assert_cmpint (c->atsm_layer, ==, 1);
  g_assert_cmpfloat (c->keep_ratio, ==, 0.5);
  g_assert_cmpint (c->num_classes, ==, 3);
  g_assert_cmpfloat (c->norm_eps, ==, 1e-6);
  g_assert_cmpfloat (c->mean[1], ==, 0.456f);
  g_assert_cmpfloat (c->std[2], ==, 0.225f);
  g_assert_cmpfloat (c->mask_ratio, ==, 0.5);
  g_assert_cmpint (c->frame_step, ==, 1);
  g_assert_cmpfloat (c->crop_margin, ==, 0.25);
  g_assert_cmpint (c->mlp_hidden, ==, 64);
  g_assert_cmpint (c->num_slots, ==, 2);
  g_assert_cmpint (c->grid_height, ==, 2);
  g_assert_cmpint (c->grid_width, ==, 2);
  g_assert_cmpint (c->num_spatial, ==, 4);
  g_assert_cmpint (c->num_tokens, ==, 8);
  g_assert_cmpint (c->patch_dim, ==, 3 * 2 * 16 * 16);
}

static void
check_tiny_model (const AdatoskModel *model, StModel *st)
{
  check_tiny_config (adatosk_model_get_config (model));
  g_assert_cmpstr (adatosk_model_get_label (model, 0), ==, "neutral");
  g_assert_cmpstr (adatosk_model_get_label (model, 2), ==, "surprise");
  g_assert_null (adatosk_model_get_label (model, 3));
  g_assert_null (adatosk_model_get_label (model, -1));
  g_assert_cmpstr (adatosk_model_get_name (model), ==, "tiny-test");
  g_assert_cmpstr (adatosk_model_get_license (model), ==, "CC0-1.0");
  g_assert_cmpstr (adatosk_model_get_trained_on (model), ==, "");
  g_assert_cmpint (adatosk_model_get_param_count (model), ==,
      count_params (st, TRUE));
  g_assert_cmpint (adatosk_model_get_inference_param_count (model), ==,
      count_params (st, FALSE));
  check_tensor_values (model, st);

  g_assert_cmpfloat (model->alpha_dyn, ==, 2.0f);
  g_assert_cmpfloat (model->alpha_sem, ==, 2.0f);
  g_assert_cmpfloat (model->beta, ==, 1.0f);
  g_assert_true (
      model->head_bias == adatosk_model_find_tensor (model, "head.bias")->data);
  g_assert_true (model->blocks[1].fc2_weight
      == adatosk_model_find_tensor (model, "blocks.1.mlp.fc2.weight")->data);
  g_assert_true (model->patch_weight
      == adatosk_model_find_tensor (model, "patch_embed.proj.weight")->data);
  g_assert_null (adatosk_model_find_tensor (model, "no.such.tensor"));
}

/* ---- valid files ---- */

static void
test_valid_from_memory (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  AdatoskModel *model = load_valid (st);
  check_tiny_model (model, st);
  g_assert_false (model->has_decoder);
  g_assert_cmpint (adatosk_model_get_param_count (model), ==,
      adatosk_model_get_inference_param_count (model));
  adatosk_model_free (model);
  st_model_free (st);
}

static void
test_valid_from_file (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  GByteArray *file = st_model_serialize (st);
  char *dir = g_dir_make_tmp ("adatosk-model-XXXXXX", NULL);
  g_assert_nonnull (dir);
  char *path = g_build_filename (dir, "tiny.safetensors", NULL);
  g_assert_true (
      g_file_set_contents (path, (const char *) file->data, file->len, NULL));

  AdatoskModel *model = NULL;
  AdatoskError error = {0};
  if (adatosk_model_load (path, &model, &error) != ADATOSK_OK)
    g_error ("%s", error.message);
  check_tiny_model (model, st);
  adatosk_model_free (model);

  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
  g_byte_array_unref (file);
  st_model_free (st);
}

static void
test_valid_with_decoder (void)
{
  StModel *st = st_model_new_tiny (TRUE);
  AdatoskModel *model = load_valid (st);
  check_tiny_model (model, st);
  g_assert_true (model->has_decoder);
  const AdatoskConfig *c = adatosk_model_get_config (model);
  g_assert_cmpint (c->decoder_embed_dim, ==, 8);
  g_assert_cmpint (c->decoder_depth, ==, 1);
  g_assert_cmpint (c->decoder_num_heads, ==, 2);
  g_assert_cmpint (adatosk_model_get_inference_param_count (model), <,
      adatosk_model_get_param_count (model));
  adatosk_model_free (model);
  st_model_free (st);
}

/* A training config whose file leaves the decoder out (inference export). */
static void
test_valid_decoder_config_without_tensors (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_set_config (st, "decoder_embed_dim", "8");
  st_model_set_config (st, "decoder_depth", "1");
  st_model_set_config (st, "decoder_num_heads", "2");
  AdatoskModel *model = load_valid (st);
  g_assert_false (model->has_decoder);
  adatosk_model_free (model);
  st_model_free (st);
}

static void
test_valid_config_variants (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_set_config (st, "img_size", "[32, 48]");
  st_model_set_config (st, "frame_step", "2");
  st_model_set_config (st, "mask_ratio", "0.75");
  st_model_set_config (st, "crop_margin", "0.1");
  st_model_set_config (st, "mlp_ratio", "4"); /* an integer is a number */
  st_model_set_config (st, "a_future_key", "{\"x\": [1, 2]}");
  st_model_set_metadata (st, "adatosk.trained_on", "DFEW fold 1");
  st_model_set_metadata (st, "format", "pt"); /* what other writers add */
  AdatoskModel *model = load_valid (st);
  const AdatoskConfig *c = adatosk_model_get_config (model);
  g_assert_cmpint (c->img_height, ==, 32);
  g_assert_cmpint (c->img_width, ==, 48);
  g_assert_cmpint (c->grid_width, ==, 3);
  g_assert_cmpint (c->num_spatial, ==, 6);
  g_assert_cmpint (c->num_tokens, ==, 12);
  g_assert_cmpint (c->frame_step, ==, 2);
  g_assert_cmpfloat (c->mask_ratio, ==, 0.75);
  g_assert_cmpfloat (c->crop_margin, ==, 0.1);
  g_assert_cmpstr (adatosk_model_get_trained_on (model), ==, "DFEW fold 1");
  adatosk_model_free (model);
  st_model_free (st);
}

/* Halves whose float values are written out independently of half.c. */
static const uint16_t f16_bits[16] = {
    0x0000,
    0x8000,
    0x0001,
    0x8001,
    0x03ff,
    0x0400,
    0x3c00,
    0xc000,
    0x7bff,
    0xfbff,
    0x3555,
    0x4248,
    0x0200,
    0x3bff,
    0x1234,
    0x5640,
};
static const float f16_values[16] = {
    0.0f,
    -0.0f,
    0x1p-24f,
    -0x1p-24f,
    0x3ffp-24f,
    0x1p-14f,
    1.0f,
    -2.0f,
    65504.0f,
    -65504.0f,
    0x1.554p-2f,
    0x1.92p+1f,
    0x1p-15f,
    0x1.ffcp-1f,
    0x1.8dp-11f,
    100.0f,
};
static const uint16_t bf16_bits[16] = {
    0x0000,
    0x8000,
    0x0001,
    0x007f,
    0x0080,
    0x3f80,
    0xc000,
    0x7f7f,
    0xff7f,
    0x3eab,
    0x4049,
    0x8001,
    0x3c00,
    0x4780,
    0x1234,
    0xbf00,
};
static const float bf16_values[16] = {
    0.0f,
    -0.0f,
    0x1p-133f,
    0x7fp-133f,
    0x1p-126f,
    1.0f,
    -2.0f,
    0x1.fep+127f,
    -0x1.fep+127f,
    0x1.56p-2f,
    0x1.92p+1f,
    -0x1p-133f,
    0x1p-7f,
    0x1p+16f,
    0x1.68p-91f,
    -0.5f,
};

static void
check_exact (const AdatoskModel *model, const char *name, const float *expected)
{
  const AdatoskTensor *tensor = adatosk_model_find_tensor (model, name);
  g_assert_cmpint (tensor->numel, ==, 16);
  /* Bitwise, so that -0.0 and 0.0 differ. */
  g_assert_cmpmem (tensor->data, 16 * sizeof (float), expected,
      16 * sizeof (float));
}

static void
test_valid_f16_bf16 (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_tensor_set_u16 (st_model_find (st, "blocks.0.norm1.weight"), "F16",
      f16_bits, 16);
  st_tensor_set_u16 (st_model_find (st, "fc_norm.bias"), "BF16", bf16_bits, 16);
  /* Mixed dtypes with odd offsets: an F16 tensor of 3 elements (6 bytes)
   * leaves every later tensor unaligned in the file. */
  st_tensor_set_u16 (st_model_find (st, "head.bias"), "F16",
      (uint16_t[]){0x3c00, 0xbc00, 0x3800}, 3);
  st_model_remove (st, "head.weight");
  st_model_add_f32 (st, "head.weight", 2, (int64_t[]){3, 16}, NULL);
  AdatoskModel *model = load_valid (st);
  check_exact (model, "blocks.0.norm1.weight", f16_values);
  check_exact (model, "fc_norm.bias", bf16_values);
  const float *head_bias = adatosk_model_find_tensor (model, "head.bias")->data;
  g_assert_cmpfloat (head_bias[0], ==, 1.0f);
  g_assert_cmpfloat (head_bias[1], ==, -1.0f);
  g_assert_cmpfloat (head_bias[2], ==, 0.5f);
  const AdatoskTensor *head = adatosk_model_find_tensor (model, "head.weight");
  g_assert_cmpmem (head->data, 48 * sizeof (float),
      st_model_find (st, "head.weight")->data->data, 48 * sizeof (float));
  adatosk_model_free (model);
  st_model_free (st);
}

/* ---- the container ---- */

static void
test_reject_empty (void)
{
  REJECT_BYTES (g_byte_array_new (), "empty");
}

static void
test_reject_shorter_than_8 (void)
{
  GByteArray *file = g_byte_array_new ();
  g_byte_array_append (file, (const guint8 *) "\x02\0\0\0", 4);
  REJECT_BYTES (file, "4 bytes", "shorter than the 8-byte header length");
}

static GByteArray *
tiny_file (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  GByteArray *file = st_model_serialize (st);
  st_model_free (st);
  return file;
}

static void
test_reject_header_beyond_file (void)
{
  GByteArray *file = tiny_file ();
  st_set_header_length (file, file->len - 8 + 1);
  REJECT_BYTES (file, "header length", "beyond the end of the file");
}

static void
test_reject_huge_header_length (void)
{
  GByteArray *file = tiny_file ();
  st_set_header_length (file, (uint64_t) 1 << 63);
  REJECT_BYTES (file, "9223372036854775808", "100 MB");

  file = tiny_file ();
  st_set_header_length (file, UINT64_MAX);
  REJECT_BYTES (file, "18446744073709551615", "100 MB");
}

static void
test_reject_header_over_100mb (void)
{
  GByteArray *file = tiny_file ();
  st_set_header_length (file, 100000001);
  REJECT_BYTES (file, "header length 100000001", "100 MB limit");
}

static void
test_reject_invalid_json (void)
{
  REJECT_BYTES (st_raw_file ("{\"a\": [1, 2}", 0), "header", "not valid JSON");
  REJECT_BYTES (st_raw_file ("", 0), "header", "empty");
  REJECT_BYTES (st_raw_file ("{\"\xff\": 1}", 0), "not valid JSON");
  /* json-glib would accept these (and leak); the loader must not. */
  REJECT_BYTES (st_raw_file ("{} {\"x\": 1}", 0), "not valid JSON",
      "more text follows", "byte 3");
  REJECT_BYTES (st_raw_file ("{}\n ]", 0), "more text follows");
  char *deep = g_strnfill (200000, '[');
  REJECT_BYTES (st_raw_file (deep, 0), "levels deep");
  g_free (deep);
}

static void
test_reject_json_not_object (void)
{
  REJECT_BYTES (st_raw_file ("[1, 2, 3]", 0), "header", "not a JSON object");
  REJECT_BYTES (st_raw_file ("\"text\"", 0), "not a JSON object");
  REJECT_BYTES (st_raw_file ("5 {}", 0), "not a JSON object");
}

static void
test_reject_bad_entries (void)
{
  REJECT_BYTES (st_raw_file ("{\"x\": 5}", 0), "tensor 'x'", "not an object");
  REJECT_BYTES (st_raw_file ("{\"__metadata__\": [1]}", 0), "__metadata__",
      "not an object");
  REJECT_BYTES (st_raw_file ("{\"x\": {\"shape\": [1], "
                             "\"data_offsets\": [0, 4]}}",
                    4),
      "tensor 'x'", "no \"dtype\"");
  REJECT_BYTES (st_raw_file ("{\"x\": {\"dtype\": \"F32\", "
                             "\"data_offsets\": [0, 4]}}",
                    4),
      "tensor 'x'", "no \"shape\"");
  REJECT_BYTES (st_raw_file ("{\"x\": {\"dtype\": \"F32\", "
                             "\"shape\": [1]}}",
                    4),
      "tensor 'x'", "no \"data_offsets\"");
  StModel *st = st_model_new_tiny (FALSE);
  json_object_set_int_member (st->metadata, "adatosk.name", 5);
  REJECT_MODEL (st, "__metadata__", "adatosk.name", "not a string");
}

static void
test_reject_truncated (void)
{
  GByteArray *file = tiny_file ();
  g_byte_array_set_size (file, file->len - 10);
  REJECT_BYTES (file, "head.bias", "beyond the data region", "truncated");
}

static void
test_reject_overlap (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  int64_t begin, end;
  st_model_data_range (st, "fc_norm.weight", &begin, &end);
  char *offsets =
      g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
          begin + 32, end + 32);
  st_model_find (st, "fc_norm.bias")->offsets_json = offsets;
  REJECT_MODEL (st, "fc_norm.weight", "fc_norm.bias", "overlap");
}

static void
test_reject_out_of_range (void)
{
  REJECT_MODEL (tiny_with_offsets ("head.bias", "[0, 1000000000]"), "head.bias",
      "beyond the data region");
  REJECT_MODEL (tiny_with_offsets ("head.bias", "[-4, 8]"), "head.bias",
      "negative");
  REJECT_MODEL (tiny_with_offsets ("head.bias", "[0, 99999999999999999999]"),
      "head.bias");
}

static void
test_reject_begin_after_end (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  int64_t begin, end;
  st_model_data_range (st, "atsm.norm.bias", &begin, &end);
  st_model_find (st, "atsm.norm.bias")->offsets_json =
      g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", end,
          begin);
  REJECT_MODEL (st, "atsm.norm.bias", "begin after");
}

static void
test_reject_bad_offsets_form (void)
{
  REJECT_MODEL (tiny_with_offsets ("head.bias", "[0]"), "head.bias",
      "two integers");
  REJECT_MODEL (tiny_with_offsets ("head.bias", "[0.0, 12]"), "head.bias",
      "two integers");
  REJECT_MODEL (tiny_with_offsets ("head.bias", "\"0-12\""), "head.bias",
      "two integers");
}

static void
test_reject_gap (void)
{
  /* fc_norm.weight keeps its offsets but 4 more bytes follow its data. */
  StModel *st = st_model_new_tiny (FALSE);
  int64_t begin, end;
  st_model_data_range (st, "fc_norm.weight", &begin, &end);
  StTensor *tensor = st_model_find (st, "fc_norm.weight");
  tensor->offsets_json =
      g_strdup_printf ("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]", begin,
          end);
  g_byte_array_append (tensor->data, (const guint8 *) "\0\0\0\0", 4);
  REJECT_MODEL (st, "gap of 4 bytes", "fc_norm.weight", "fc_norm.bias");
}

static void
test_reject_trailing_bytes (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st->trailing_bytes = 8;
  REJECT_MODEL (st, "8 trailing bytes", "head.bias");

  REJECT_BYTES (st_raw_file ("{}", 16), "16 bytes", "no tensor");
}

static void
test_reject_leading_gap (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  StTensor *first = g_ptr_array_index (st->tensors, 0);
  first->offsets_json = g_strdup ("[4, 98308]");
  g_byte_array_prepend (first->data, (const guint8 *) "\0\0\0\0", 4);
  REJECT_MODEL (st, "starts with 4 bytes", "patch_embed.proj.weight");
}

static void
test_reject_size_mismatch (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  StTensor *tensor = st_model_find (st, "blocks.0.norm2.bias");
  tensor->shape[0] = 15; /* the data still holds 16 floats */
  REJECT_MODEL (st, "blocks.0.norm2.bias", "64 bytes", "[15]", "F32");

  st = st_model_new_tiny (FALSE);
  st_tensor_set_dtype (st_model_find (st, "blocks.0.norm2.bias"), "F16");
  REJECT_MODEL (st, "blocks.0.norm2.bias", "64 bytes", "F16");
}

static void
test_reject_unknown_dtype (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_tensor_set_dtype (st_model_find (st, "head.bias"), "float32");
  REJECT_MODEL (st, "unknown dtype", "float32", "head.bias");
}

static void
test_reject_unsupported_dtype (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_tensor_set_dtype (st_model_find (st, "head.bias"), "I64");
  REJECT_MODEL (st, "unsupported dtype I64", "head.bias");

  st = st_model_new_tiny (FALSE);
  st_tensor_set_dtype (st_model_find (st, "atsm.beta"), "F64");
  REJECT_MODEL (st, "unsupported dtype F64", "atsm.beta");
}

static void
test_reject_non_integer_shape (void)
{
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias", "[16.0]"), "fc_norm.bias",
      "shape entry 0", "not an integer");
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias", "[\"16\"]"),
      "fc_norm.bias", "a string", "not an integer");
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias", "[true]"), "fc_norm.bias",
      "not an integer");
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias", "16"), "fc_norm.bias",
      "not a list");
}

static void
test_reject_negative_shape (void)
{
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias", "[-16]"), "fc_norm.bias",
      "negative", "-16");
  REJECT_MODEL (tiny_with_shape_json ("head.weight", "[3, -16]"), "head.weight",
      "shape entry 1", "negative");
}

static void
test_reject_shape_limits (void)
{
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias", "[1, 1, 1, 1, 1, 16]"),
      "fc_norm.bias", "6 dimensions");
  REJECT_MODEL (tiny_with_shape_json ("fc_norm.bias",
                    "[4294967296, 4294967296, 4294967296]"),
      "fc_norm.bias", "overflows");
}

/* ---- the model's tensor set ---- */

static void
test_reject_wrong_shape (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_tensor_reshape (st_model_find (st, "blocks.1.attn.qkv.weight"), 2,
      (int64_t[]){48, 15});
  REJECT_MODEL (st,
      "tensor 'blocks.1.attn.qkv.weight' has shape [48, 15], "
      "expected [48, 16] (embed_dim 16 in adatosk.config)");

  st = st_model_new_tiny (FALSE);
  st_tensor_reshape (st_model_find (st, "atsm.beta"), 0, NULL);
  REJECT_MODEL (st, "'atsm.beta' has shape [], expected [1]");

  st = st_model_new_tiny (FALSE);
  st_tensor_reshape (st_model_find (st, "blocks.0.mlp.fc1.weight"), 2,
      (int64_t[]){48, 16});
  REJECT_MODEL (st, "blocks.0.mlp.fc1.weight", "expected [64, 16]",
      "mlp_ratio 4");
}

static void
test_reject_missing_tensor (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_remove (st, "blocks.1.mlp.fc2.bias");
  REJECT_MODEL (st, "missing tensor 'blocks.1.mlp.fc2.bias'", "[16]");

  st = st_model_new_tiny (FALSE);
  st_model_remove (st, "atsm.alpha_sem");
  REJECT_MODEL (st, "missing tensor 'atsm.alpha_sem'");
}

static void
test_reject_unknown_tensor (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_add_f32 (st, "foo", 1, (int64_t[]){4}, NULL);
  REJECT_MODEL (st, "unknown tensor 'foo'");

  st = st_model_new_tiny (FALSE); /* depth is 2 */
  st_model_add_f32 (st, "blocks.2.norm1.weight", 1, (int64_t[]){16}, NULL);
  REJECT_MODEL (st, "unknown tensor 'blocks.2.norm1.weight'");

  st = st_model_new_tiny (FALSE);
  st_model_add_f32 (st, "mask_token", 3, (int64_t[]){1, 1, 8}, NULL);
  REJECT_MODEL (st, "'mask_token'", "decoder", "decoder_embed_dim");
}

static void
test_reject_partial_decoder (void)
{
  StModel *st = st_model_new_tiny (TRUE);
  st_model_remove (st, "decoder.head.bias");
  REJECT_MODEL (st, "missing tensor 'decoder.head.bias'",
      "other decoder tensors");

  st = st_model_new_tiny (TRUE);
  st_model_remove (st, "mask_token");
  REJECT_MODEL (st, "missing tensor 'mask_token'");

  st = st_model_new_tiny (TRUE);
  st_tensor_reshape (st_model_find (st, "decoder.blocks.0.mlp.fc1.weight"), 2,
      (int64_t[]){16, 8});
  REJECT_MODEL (st, "decoder.blocks.0.mlp.fc1.weight", "expected [32, 8]",
      "decoder_embed_dim 8");
}

static void
test_reject_nonfinite_weight (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_tensor_set_f32 (st_model_find (st, "blocks.0.attn.proj.weight"), 5, NAN);
  REJECT_MODEL (st, "blocks.0.attn.proj.weight", "a NaN at element 5");

  st = st_model_new_tiny (FALSE);
  st_tensor_set_f32 (st_model_find (st, "atsm.beta"), 0, -INFINITY);
  REJECT_MODEL (st, "atsm.beta", "infinite");

  st = st_model_new_tiny (FALSE);
  st_tensor_set_u16 (st_model_find (st, "fc_norm.weight"), "F16",
      (uint16_t[]){0x3c00, 0x7c00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      16);
  REJECT_MODEL (st, "fc_norm.weight", "infinite value at element 1");
}

/* ---- the metadata ---- */

static void
test_reject_missing_config (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  json_object_unref (st->config);
  st->config = NULL;
  REJECT_MODEL (st, "no \"adatosk.config\"", "__metadata__");
}

static StModel *
tiny_with_raw_config (const char *text)
{
  StModel *st = st_model_new_tiny (FALSE);
  json_object_unref (st->config);
  st->config = NULL;
  st_model_set_metadata (st, "adatosk.config", text);
  return st;
}

static void
test_reject_config_not_json (void)
{
  REJECT_MODEL (tiny_with_raw_config ("{num_frames: 4"), "adatosk.config",
      "not valid JSON");
  REJECT_MODEL (tiny_with_raw_config ("[4, 32]"), "adatosk.config",
      "not a JSON object");
  REJECT_MODEL (tiny_with_raw_config (""), "adatosk.config", "empty");
}

/* For values json-glib cannot write (it writes 1e400 as "inf"): the config
 * text with `key`'s value replaced by `raw_value`. */
static StModel *
tiny_with_config_text (const char *key, const char *raw_value)
{
  StModel *st = tiny_with_config (key, "123456789");
  JsonNode *node = json_node_init_object (json_node_alloc (), st->config);
  char *serialized = json_to_string (node, FALSE);
  GString *text = g_string_new (serialized);
  g_free (serialized);
  g_assert_cmpuint (g_string_replace (text, "123456789", raw_value, 0), ==, 1);
  json_node_unref (node);
  json_object_unref (st->config);
  st->config = NULL;
  st_model_set_metadata (st, "adatosk.config", text->str);
  g_string_free (text, TRUE);
  return st;
}

static void
test_reject_config_bad_values (void)
{
  REJECT_MODEL (tiny_with_config ("num_heads", "3"),
      "embed_dim 16 is not a multiple of num_heads 3");
  REJECT_MODEL (tiny_with_config ("keep_ratio", "0"), "\"keep_ratio\" is 0",
      "(0, 1]");
  REJECT_MODEL (tiny_with_config ("keep_ratio", "1.5"), "keep_ratio");
  REJECT_MODEL (tiny_with_config ("img_size", "40"),
      "img_size height 40 is not a multiple of patch_size 16");
  REJECT_MODEL (tiny_with_config ("img_size", "[32, 40]"),
      "img_size width 40 is not a multiple of patch_size 16");
  REJECT_MODEL (tiny_with_config ("img_size", "[32]"), "img_size");
  REJECT_MODEL (tiny_with_config ("num_frames", "5"),
      "num_frames 5 is not a multiple of tubelet_size 2");
  REJECT_MODEL (tiny_with_config ("atsm_layer", "3"), "atsm_layer 3",
      "depth 2");
  REJECT_MODEL (tiny_with_config ("num_classes", "1"), "\"num_classes\" is 1");
  REJECT_MODEL (tiny_with_config ("norm_eps", "0"), "norm_eps");
  REJECT_MODEL (tiny_with_config_text ("norm_eps", "1e400"), "norm_eps",
      "not a finite number");
  REJECT_MODEL (tiny_with_config ("std", "[0.2, 0, 0.2]"), "\"std\"[1]",
      "positive");
  REJECT_MODEL (tiny_with_config ("mean", "[0.5, 0.5]"), "\"mean\"",
      "3 numbers");
  REJECT_MODEL (tiny_with_config ("mlp_ratio", "0.01"), "mlp_ratio",
      "MLP width");
  REJECT_MODEL (tiny_with_config ("embed_dim", "-16"), "\"embed_dim\" is -16");
  REJECT_MODEL (tiny_with_config ("frame_step", "0"), "frame_step");
  REJECT_MODEL (tiny_with_config ("mask_ratio", "1"), "mask_ratio");
  REJECT_MODEL (tiny_with_config ("crop_margin", "-0.1"), "crop_margin",
      "in [0, 2]");
  REJECT_MODEL (tiny_with_config ("decoder_depth", "1"), "decoder_depth",
      "all three or none");
}

static void
test_reject_config_wrong_types (void)
{
  REJECT_MODEL (tiny_with_config ("embed_dim", "\"16\""), "\"embed_dim\"",
      "a string", "expected an integer");
  REJECT_MODEL (tiny_with_config ("embed_dim", "16.0"), "\"embed_dim\"",
      "expected an integer");
  REJECT_MODEL (tiny_with_config ("keep_ratio", "true"), "\"keep_ratio\"",
      "a boolean", "expected a number");
  REJECT_MODEL (tiny_with_config ("depth", NULL), "no \"depth\"");
  REJECT_MODEL (tiny_with_config ("embed_dim", "9223372036854775808"),
      "embed_dim");
}

static void
test_reject_config_too_large (void)
{
  /* Every value is in range; the products are not. */
  StModel *st = tiny_with_config ("img_size", "1048576");
  st_model_set_config (st, "patch_size", "1");
  st_model_set_config (st, "num_frames", "1048576");
  st_model_set_config (st, "tubelet_size", "1");
  REJECT_MODEL (st, "2^31");
  REJECT_MODEL (tiny_with_config ("depth", "100000"), "\"depth\"");
}

static void
test_reject_config_shape_mismatch (void)
{
  REJECT_MODEL (tiny_with_config ("embed_dim", "32"),
      "tensor 'patch_embed.proj.weight' has shape [16, 3, 2, 16, 16], "
      "expected [32, 3, 2, 16, 16] (embed_dim 32, tubelet_size 2 and "
      "patch_size 16 in adatosk.config)");
  REJECT_MODEL (tiny_with_config ("depth", "3"),
      "missing tensor 'blocks.2.norm1.weight'");
  REJECT_MODEL (tiny_with_config ("depth", "1"),
      "unknown tensor 'blocks.1.norm1.weight'");
  StModel *st = tiny_with_config ("num_classes", "4");
  st_model_set_metadata (st, "adatosk.labels", "[\"a\", \"b\", \"c\", \"d\"]");
  REJECT_MODEL (st, "'atsm.prototypes' has shape [3, 16], expected [4, 16]",
      "num_classes 4");
}

/* The valid tiny file with `from` replaced by `to` (same length, so every
 * offset stays right) once in its header: for bytes that no JSON writer
 * would put there. */
static GByteArray *
tiny_file_edited (const char *from, const char *to)
{
  g_assert_cmpuint (strlen (from), ==, strlen (to));
  GByteArray *file = tiny_file ();
  char *at = memmem (file->data, file->len, from, strlen (from));
  g_assert_nonnull (at);
  memcpy (at, to, strlen (to));
  return file;
}

/* What a strict (RFC 8259) reader rejects and json-glib alone would take:
 * the loader rejects it too, saying what it found and where. */
static void
test_reject_lenient_json (void)
{
  /* The three cases mutation testing found accepted. */
  StModel *st = st_model_new_tiny (FALSE);
  JsonNode *node = json_node_init_object (json_node_alloc (), st->config);
  char *config = g_strdelimit (json_to_string (node, FALSE), "\"", '\'');
  json_node_unref (node);
  st_model_free (st);
  REJECT_MODEL (tiny_with_raw_config (config), "adatosk.config",
      "not valid JSON", "a string in single quotes", "byte 1");
  g_free (config);
  REJECT_BYTES (tiny_file_edited ("happy", "ha\001py"),
      "the safetensors header", "not valid JSON",
      "a raw control character (0x01) inside a string");
  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels",
      "[\"neutral\", \"ha\tppy\", \"surprise\"]");
  REJECT_MODEL (st, "adatosk.labels is not valid JSON",
      "a raw control character (0x09) inside a string", "byte 15");
  /* "x\u0000y" would be the tensor "x" to a C reader. */
  REJECT_BYTES (st_raw_file ("{\"x\\u0000y\": {\"dtype\": \"F32\", "
                             "\"shape\": [1], \"data_offsets\": [0, 4]}}",
                    4),
      "not valid JSON", "an escaped NUL (\\u0000)", "byte 3");

  /* The rest of the grammar. */
  REJECT_BYTES (st_raw_file ("{'x': 1}", 0), "single quotes");
  REJECT_BYTES (st_raw_file ("{\"a\": [1, 2,]}", 0), "a trailing comma", "']'");
  REJECT_BYTES (st_raw_file ("{\"a\": 1,}", 0), "a trailing comma", "'}'");
  REJECT_BYTES (st_raw_file ("{\"a\": 01}", 0), "leading zero");
  REJECT_BYTES (st_raw_file ("{\"a\": +1}", 0), "'+' sign");
  REJECT_BYTES (st_raw_file ("{\"a\": 1.}", 0), "no digits after its '.'");
  REJECT_BYTES (st_raw_file ("{\"a\": 1e}", 0), "exponent");
  REJECT_BYTES (st_raw_file ("{\"a\": NaN}", 0), "unexpected 'N'");
  REJECT_BYTES (st_raw_file ("{\"a\": -Infinity}", 0), "'-' without digits");
  REJECT_BYTES (st_raw_file ("{\"a\": True}", 0), "unexpected 'T'");
  REJECT_BYTES (st_raw_file ("{\"a\": nul}", 0), "unknown word");
  REJECT_BYTES (st_raw_file ("{a: 1}", 0), "not a double-quoted string");
  REJECT_BYTES (st_raw_file ("{\"a\" 1}", 0), "without ':'");
  REJECT_BYTES (st_raw_file ("{\"a\": 1 \"b\": 2}", 0), "neither ',' nor '}'");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\\x41\"}", 0), "invalid escape '\\x'");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\\u12g4\"}", 0), "four hex digits");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\\ud800\"}", 0),
      "unpaired UTF-16 surrogate \\ud800");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\\udc00\\ud800\"}", 0),
      "unpaired UTF-16 surrogate \\udc00");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\xc0\xaf\"}", 0), "not UTF-8");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\xed\xa0\x80\"}", 0), "not UTF-8");
  REJECT_BYTES (st_raw_file ("{\"a\": \"\xf4\x90\x80\x80\"}", 0), "not UTF-8");
  REJECT_BYTES (st_raw_file ("{\"a\": \"abc", 0), "closing double quote");
  REJECT_BYTES (st_raw_file ("{\"a\": [1, 2", 0), "closing ']'");
  REJECT_BYTES (st_raw_file ("{\"a\": \x01}", 0), "unexpected byte 0x01");
}

/* What strict JSON allows must still load: escapes of every kind, a
 * surrogate pair and raw UTF-8 in labels, numbers with exponents. */
static void
test_valid_strict_json_variants (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels",
      "[\"neu\\u0074ral\", \"h\\\"a\\/p\\\\py\", \"\xc3\xa9\\ud83d\\ude00\"]");
  st_model_set_config (st, "norm_eps", "1E-6");
  AdatoskModel *model = load_valid (st);
  g_assert_cmpstr (adatosk_model_get_label (model, 0), ==, "neutral");
  g_assert_cmpstr (adatosk_model_get_label (model, 1), ==, "h\"a/p\\py");
  g_assert_cmpstr (adatosk_model_get_label (model, 2), ==,
      "\xc3\xa9\xf0\x9f\x98\x80");
  adatosk_model_free (model);
  st_model_free (st);
}

static void
test_reject_labels (void)
{
  StModel *st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels", "[\"happy\", \"sad\"]");
  REJECT_MODEL (st, "adatosk.labels has 2 class names", "num_classes", "is 3");

  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels", NULL);
  REJECT_MODEL (st, "no \"adatosk.labels\"");

  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels", "[\"a\", \"\", \"c\"]");
  REJECT_MODEL (st, "adatosk.labels entry 1", "empty");

  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels", "[\"a\", 2, \"c\"]");
  REJECT_MODEL (st, "adatosk.labels entry 1", "not a string");

  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels", "neutral,happy,surprise");
  REJECT_MODEL (st, "adatosk.labels", "not a JSON object or list");

  st = st_model_new_tiny (FALSE);
  st_model_set_metadata (st, "adatosk.labels", "[\"a\", \"b\" \"c\"]");
  REJECT_MODEL (st, "adatosk.labels", "not valid JSON");
}

/* ---- the file path ---- */

static void
check_load_path_fails (const char *path, AdatoskStatus expected,
    const char *const *words)
{
  AdatoskModel *model = (AdatoskModel *) 0x1; /* must be reset */
  AdatoskError error = {0};
  g_assert_cmpint (adatosk_model_load (path, &model, &error), ==, expected);
  g_assert_null (model);
  check_message (&error, expected, words);
}

static void
test_reject_files (void)
{
  char *dir = g_dir_make_tmp ("adatosk-model-XXXXXX", NULL);
  char *missing = g_build_filename (dir, "missing.safetensors", NULL);
  check_load_path_fails (missing, ADATOSK_ERROR_IO,
      (const char *const[]){missing, "No such file or directory", NULL});
  check_load_path_fails (dir, ADATOSK_ERROR_IO,
      (const char *const[]){dir, "not a regular file", NULL});

  char *empty = g_build_filename (dir, "empty.safetensors", NULL);
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  check_load_path_fails (empty, ADATOSK_ERROR_FORMAT,
      (const char *const[]){empty, "empty", NULL});

  char *cut = g_build_filename (dir, "cut.safetensors", NULL);
  GByteArray *file = tiny_file ();
  g_assert_true (g_file_set_contents (cut, (const char *) file->data,
      file->len - 100, NULL));
  check_load_path_fails (cut, ADATOSK_ERROR_FORMAT,
      (const char *const[]){cut, "truncated", NULL});
  g_byte_array_unref (file);

  g_unlink (empty);
  g_unlink (cut);
  g_rmdir (dir);
  g_free (cut);
  g_free (empty);
  g_free (missing);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/valid/from-memory", test_valid_from_memory);
  g_test_add_func ("/model/valid/from-file", test_valid_from_file);
  g_test_add_func ("/model/valid/with-decoder", test_valid_with_decoder);
  g_test_add_func ("/model/valid/decoder-config-without-tensors",
      test_valid_decoder_config_without_tensors);
  g_test_add_func ("/model/valid/config-variants", test_valid_config_variants);
  g_test_add_func ("/model/valid/f16-bf16", test_valid_f16_bf16);

  g_test_add_func ("/model/reject/empty", test_reject_empty);
  g_test_add_func ("/model/reject/shorter-than-8", test_reject_shorter_than_8);
  g_test_add_func ("/model/reject/header-beyond-file",
      test_reject_header_beyond_file);
  g_test_add_func ("/model/reject/huge-header-length",
      test_reject_huge_header_length);
  g_test_add_func ("/model/reject/header-over-100mb",
      test_reject_header_over_100mb);
  g_test_add_func ("/model/reject/invalid-json", test_reject_invalid_json);
  g_test_add_func ("/model/reject/lenient-json", test_reject_lenient_json);
  g_test_add_func ("/model/valid/strict-json-variants",
      test_valid_strict_json_variants);
  g_test_add_func ("/model/reject/json-not-object",
      test_reject_json_not_object);
  g_test_add_func ("/model/reject/bad-entries", test_reject_bad_entries);
  g_test_add_func ("/model/reject/truncated", test_reject_truncated);
  g_test_add_func ("/model/reject/overlap", test_reject_overlap);
  g_test_add_func ("/model/reject/out-of-range", test_reject_out_of_range);
  g_test_add_func ("/model/reject/begin-after-end",
      test_reject_begin_after_end);
  g_test_add_func ("/model/reject/bad-offsets-form",
      test_reject_bad_offsets_form);
  g_test_add_func ("/model/reject/gap", test_reject_gap);
  g_test_add_func ("/model/reject/trailing-bytes", test_reject_trailing_bytes);
  g_test_add_func ("/model/reject/leading-gap", test_reject_leading_gap);
  g_test_add_func ("/model/reject/size-mismatch", test_reject_size_mismatch);
  g_test_add_func ("/model/reject/unknown-dtype", test_reject_unknown_dtype);
  g_test_add_func ("/model/reject/unsupported-dtype",
      test_reject_unsupported_dtype);
  g_test_add_func ("/model/reject/non-integer-shape",
      test_reject_non_integer_shape);
  g_test_add_func ("/model/reject/negative-shape", test_reject_negative_shape);
  g_test_add_func ("/model/reject/shape-limits", test_reject_shape_limits);
  g_test_add_func ("/model/reject/wrong-shape", test_reject_wrong_shape);
  g_test_add_func ("/model/reject/missing-tensor", test_reject_missing_tensor);
  g_test_add_func ("/model/reject/unknown-tensor", test_reject_unknown_tensor);
  g_test_add_func ("/model/reject/partial-decoder",
      test_reject_partial_decoder);
  g_test_add_func ("/model/reject/nonfinite-weight",
      test_reject_nonfinite_weight);
  g_test_add_func ("/model/reject/missing-config", test_reject_missing_config);
  g_test_add_func ("/model/reject/config-not-json",
      test_reject_config_not_json);
  g_test_add_func ("/model/reject/config-bad-values",
      test_reject_config_bad_values);
  g_test_add_func ("/model/reject/config-wrong-types",
      test_reject_config_wrong_types);
  g_test_add_func ("/model/reject/config-too-large",
      test_reject_config_too_large);
  g_test_add_func ("/model/reject/config-shape-mismatch",
      test_reject_config_shape_mismatch);
  g_test_add_func ("/model/reject/labels", test_reject_labels);
  g_test_add_func ("/model/reject/files", test_reject_files);
  return g_test_run ();
}
