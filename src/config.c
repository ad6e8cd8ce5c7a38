/* The "adatosk.config" metadata of a model file: every key read with its
 * type and range checked, then the sizes checked against each other and the
 * derived sizes of AdatoskConfig filled in (docs/model.md section 6).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include "error.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Bounds that keep every size product of the forward inside int arithmetic
 * (the backends index with int). Far above any real model. */
#define MAX_SIZE (1 << 20)        /* any one size in the config */
#define MAX_DEPTH 1024            /* blocks */
#define MAX_ELEMENTS 2147483647.0 /* any one activation or weight matrix */

/* ---- adatosk.config ---- */

typedef struct
{
  const char *key;
  size_t offset; /* of the int in AdatoskConfig */
  int min, max;
  bool required;
  int fallback; /* when absent and not required */
} IntField;

static const IntField int_fields[] = {
    {"num_frames", offsetof (AdatoskConfig, num_frames), 1, MAX_SIZE, true, 0},
    {"tubelet_size", offsetof (AdatoskConfig, tubelet_size), 1, MAX_SIZE, true,
        0},
    {"patch_size", offsetof (AdatoskConfig, patch_size), 1, MAX_SIZE, true, 0},
    {"embed_dim", offsetof (AdatoskConfig, embed_dim), 1, MAX_SIZE, true, 0},
    {"depth", offsetof (AdatoskConfig, depth), 1, MAX_DEPTH, true, 0},
    {"num_heads", offsetof (AdatoskConfig, num_heads), 1, MAX_SIZE, true, 0},
    {"atsm_layer", offsetof (AdatoskConfig, atsm_layer), 0, MAX_DEPTH, true, 0},
    {"num_classes", offsetof (AdatoskConfig, num_classes), 2, MAX_SIZE, true,
        0},
    {"decoder_embed_dim", offsetof (AdatoskConfig, decoder_embed_dim), 1,
        MAX_SIZE, false, 0},
    {"decoder_depth", offsetof (AdatoskConfig, decoder_depth), 1, MAX_DEPTH,
        false, 0},
    {"decoder_num_heads", offsetof (AdatoskConfig, decoder_num_heads), 1,
        MAX_SIZE, false, 0},
    {"frame_step", offsetof (AdatoskConfig, frame_step), 1, MAX_SIZE, false, 1},
};

static bool
is_positive (double v)
{
  return v > 0;
}
static bool
is_keep_ratio (double v)
{
  return v > 0 && v <= 1;
}
static bool
is_mask_ratio (double v)
{
  return v >= 0 && v < 1;
}
static bool
is_crop_margin (double v)
{
  return v >= 0 && v <= 2; /* the element's crop-margin range */
}

typedef struct
{
  const char *key;
  size_t offset; /* of the double in AdatoskConfig */
  bool (*valid) (double value);
  const char *valid_range;
  bool required;
  double fallback;
} NumberField;

static const NumberField number_fields[] = {
    {"mlp_ratio", offsetof (AdatoskConfig, mlp_ratio), is_positive, "> 0", true,
        0},
    {"keep_ratio", offsetof (AdatoskConfig, keep_ratio), is_keep_ratio,
        "in (0, 1]", true, 0},
    {"norm_eps", offsetof (AdatoskConfig, norm_eps), is_positive, "> 0", true,
        0},
    {"mask_ratio", offsetof (AdatoskConfig, mask_ratio), is_mask_ratio,
        "in [0, 1)", false, 0.5},
    {"crop_margin", offsetof (AdatoskConfig, crop_margin), is_crop_margin,
        "in [0, 2]", false, 0.25},
};

static AdatoskStatus
fail_missing_key (AdatoskError *error, const char *key)
{
  return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
      "adatosk.config has no \"%s\"", key);
}

/* A JSON integer in [min, max] as an int. */
static AdatoskStatus
read_int (JsonNode *node, const char *what, int min, int max, int *out,
    AdatoskError *error)
{
  int64_t value;
  if (!adatosk_json_get_integer (node, &value))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: %s is %s, expected an integer", what,
        adatosk_json_describe (node));
  if (value < min || value > max)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: %s is %" G_GINT64_FORMAT ", expected %d to %d", what,
        value, min, max);
  *out = (int) value;
  return ADATOSK_OK;
}

/* A finite JSON number, integer or not. */
static AdatoskStatus
read_number (JsonNode *node, const char *what, double *out, AdatoskError *error)
{
  GType type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node)
                                            : G_TYPE_INVALID;
  if (type == G_TYPE_INT64)
    *out = (double) json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: %s is %s, expected a number", what,
        adatosk_json_describe (node));
  if (!isfinite (*out))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: %s is not a finite number", what);
  return ADATOSK_OK;
}

static AdatoskStatus
read_int_fields (JsonObject *object, AdatoskConfig *config, AdatoskError *error)
{
  for (size_t i = 0; i < G_N_ELEMENTS (int_fields); i++) {
    const IntField *field = &int_fields[i];
    int *out = (int *) ((char *) config + field->offset);
    JsonNode *node = json_object_get_member (object, field->key);
    if (!node && field->required)
      return fail_missing_key (error, field->key);
    *out = field->fallback;
    if (node) {
      char what[64];
      snprintf (what, sizeof what, "\"%s\"", field->key);
      AdatoskStatus status =
          read_int (node, what, field->min, field->max, out, error);
      if (status != ADATOSK_OK)
        return status;
    }
  }
  return ADATOSK_OK;
}

static AdatoskStatus
read_number_fields (JsonObject *object, AdatoskConfig *config,
    AdatoskError *error)
{
  for (size_t i = 0; i < G_N_ELEMENTS (number_fields); i++) {
    const NumberField *field = &number_fields[i];
    double *out = (double *) ((char *) config + field->offset);
    JsonNode *node = json_object_get_member (object, field->key);
    if (!node && field->required)
      return fail_missing_key (error, field->key);
    *out = field->fallback;
    if (!node)
      continue;
    char what[64];
    snprintf (what, sizeof what, "\"%s\"", field->key);
    AdatoskStatus status = read_number (node, what, out, error);
    if (status != ADATOSK_OK)
      return status;
    if (!field->valid (*out))
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "adatosk.config: \"%s\" is %g, expected a number %s", field->key,
          *out, field->valid_range);
  }
  return ADATOSK_OK;
}

/* "img_size": 112 for square frames, or [H, W]. */
static AdatoskStatus
read_img_size (JsonObject *object, AdatoskConfig *config, AdatoskError *error)
{
  JsonNode *node = json_object_get_member (object, "img_size");
  if (!node)
    return fail_missing_key (error, "img_size");
  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    AdatoskStatus status = read_int (node, "\"img_size\"", 1, MAX_SIZE,
        &config->img_height, error);
    config->img_width = config->img_height;
    return status;
  }
  JsonArray *sizes = json_node_get_array (node);
  if (json_array_get_length (sizes) != 2)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: \"img_size\" is a list of %u numbers, expected an "
        "integer or [height, width]",
        json_array_get_length (sizes));
  AdatoskStatus status = read_int (json_array_get_element (sizes, 0),
      "\"img_size\" height", 1, MAX_SIZE, &config->img_height, error);
  if (status == ADATOSK_OK)
    status = read_int (json_array_get_element (sizes, 1), "\"img_size\" width",
        1, MAX_SIZE, &config->img_width, error);
  return status;
}

/* "mean" and "std": three finite numbers (std: positive, as floats too). */
static AdatoskStatus
read_channel_values (JsonObject *object, const char *key, bool positive,
    float out[3], AdatoskError *error)
{
  JsonNode *node = json_object_get_member (object, key);
  if (!node)
    return fail_missing_key (error, key);
  if (!JSON_NODE_HOLDS_ARRAY (node)
      || json_array_get_length (json_node_get_array (node)) != 3)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: \"%s\" must be a list of 3 numbers (R, G, B)", key);

  JsonArray *values = json_node_get_array (node);
  for (guint c = 0; c < 3; c++) {
    char what[64];
    double value;
    snprintf (what, sizeof what, "\"%s\"[%u]", key, c);
    AdatoskStatus status =
        read_number (json_array_get_element (values, c), what, &value, error);
    if (status != ADATOSK_OK)
      return status;
    out[c] = (float) value;
    if (!isfinite (out[c]) || (positive && !(out[c] > 0)))
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "adatosk.config: %s is %g, expected a %s float", what, value,
          positive ? "positive" : "finite");
  }
  return ADATOSK_OK;
}

static AdatoskStatus
check_multiple (int value, const char *value_name, int divisor,
    const char *divisor_name, AdatoskError *error)
{
  if (value % divisor == 0)
    return ADATOSK_OK;
  return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
      "adatosk.config: %s %d is not a multiple of %s %d", value_name, value,
      divisor_name, divisor);
}

static AdatoskStatus
check_element_count (double count, const char *what, AdatoskError *error)
{
  if (count <= MAX_ELEMENTS)
    return ADATOSK_OK;
  return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
      "adatosk.config is too large: %s = %.0f, more than the 2^31 - 1 "
      "elements this runtime supports",
      what, count);
}

/* round(mlp_ratio * width), the MLP's hidden width, or 0 when out of range. */
int
adatosk_mlp_width (double mlp_ratio, int width)
{
  double hidden = round (mlp_ratio * width);
  return hidden >= 1 && hidden <= MAX_SIZE ? (int) hidden : 0;
}

bool
adatosk_config_has_decoder (const AdatoskConfig *config)
{
  return config->decoder_embed_dim > 0;
}

static AdatoskStatus
check_decoder_config (const AdatoskConfig *c, AdatoskError *error)
{
  int given = (c->decoder_embed_dim > 0) + (c->decoder_depth > 0)
      + (c->decoder_num_heads > 0);
  if (given == 0)
    return ADATOSK_OK;
  if (given != 3)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config gives only some of decoder_embed_dim, decoder_depth "
        "and decoder_num_heads (all three or none)");
  if (c->decoder_embed_dim % c->decoder_num_heads != 0)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: decoder_embed_dim %d is not divisible by "
        "decoder_num_heads %d",
        c->decoder_embed_dim, c->decoder_num_heads);
  if (!adatosk_mlp_width (c->mlp_ratio, c->decoder_embed_dim))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: mlp_ratio %g x decoder_embed_dim %d gives no usable "
        "MLP width",
        c->mlp_ratio, c->decoder_embed_dim);

  double n = c->num_tokens, dd = c->decoder_embed_dim;
  double hidden = adatosk_mlp_width (c->mlp_ratio, c->decoder_embed_dim);
  AdatoskStatus status = check_element_count (n * 3 * dd,
      "decoder qkv activations (tokens x 3 x decoder_embed_dim)", error);
  if (status == ADATOSK_OK)
    status = check_element_count (n * hidden,
        "decoder MLP activations (tokens x MLP width)", error);
  if (status == ADATOSK_OK)
    status = check_element_count (c->decoder_num_heads * n * n,
        "decoder attention scores (decoder_num_heads x tokens x tokens)",
        error);
  if (status == ADATOSK_OK)
    status =
        check_element_count (dd * c->patch_dim, "decoder.head.weight", error);
  if (status == ADATOSK_OK)
    status = check_element_count (dd * c->embed_dim,
        "encoder_to_decoder.weight", error);
  return status;
}

/* Every buffer the forward allocates stays below 2^31 elements. */
static AdatoskStatus
check_sizes (const AdatoskConfig *c, AdatoskError *error)
{
  double n = c->num_tokens, d = c->embed_dim;
  const struct
  {
    double count;
    const char *what;
  } sizes[] = {
      {3.0 * c->num_frames * c->img_height * c->img_width,
          "the input clip (3 x num_frames x height x width)"},
      {n * c->patch_dim, "the patch matrix (tokens x patch)"},
      {n * 3 * d, "qkv activations (tokens x 3 x embed_dim)"},
      {n * c->mlp_hidden, "MLP activations (tokens x MLP width)"},
      {c->num_heads * n * n, "attention scores (num_heads x tokens x tokens)"},
      {d * c->patch_dim, "patch_embed.proj.weight"},
      {3 * d * d, "attn.qkv.weight"},
      {d * c->mlp_hidden, "mlp.fc1.weight"},
      {d * c->num_classes, "head.weight"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS (sizes); i++) {
    AdatoskStatus status =
        check_element_count (sizes[i].count, sizes[i].what, error);
    if (status != ADATOSK_OK)
      return status;
  }
  return ADATOSK_OK;
}

/* The relations between the values, and the derived sizes. */
static AdatoskStatus
derive_config (AdatoskConfig *c, AdatoskError *error)
{
  AdatoskStatus status = check_multiple (c->num_frames, "num_frames",
      c->tubelet_size, "tubelet_size", error);
  if (status == ADATOSK_OK)
    status = check_multiple (c->img_height, "img_size height", c->patch_size,
        "patch_size", error);
  if (status == ADATOSK_OK)
    status = check_multiple (c->img_width, "img_size width", c->patch_size,
        "patch_size", error);
  if (status == ADATOSK_OK)
    status = check_multiple (c->embed_dim, "embed_dim", c->num_heads,
        "num_heads", error);
  if (status != ADATOSK_OK)
    return status;
  if (c->atsm_layer > c->depth)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: atsm_layer %d is beyond depth %d", c->atsm_layer,
        c->depth);
  c->mlp_hidden = adatosk_mlp_width (c->mlp_ratio, c->embed_dim);
  if (!c->mlp_hidden)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config: mlp_ratio %g x embed_dim %d gives no usable MLP "
        "width",
        c->mlp_ratio, c->embed_dim);

  c->num_slots = c->num_frames / c->tubelet_size;
  c->grid_height = c->img_height / c->patch_size;
  c->grid_width = c->img_width / c->patch_size;
  /* Each factor is <= 2^20, so check in double before the int products. */
  double tokens = (double) c->num_slots * c->grid_height * c->grid_width;
  status = check_element_count (tokens, "the number of tokens", error);
  if (status == ADATOSK_OK)
    status = check_element_count (3.0 * c->tubelet_size * c->patch_size
            * c->patch_size,
        "one patch (3 x tubelet_size x patch_size x patch_size)", error);
  if (status != ADATOSK_OK)
    return status;
  c->num_spatial = c->grid_height * c->grid_width;
  c->num_tokens = c->num_slots * c->num_spatial;
  c->patch_dim = 3 * c->tubelet_size * c->patch_size * c->patch_size;

  status = check_sizes (c, error);
  if (status == ADATOSK_OK)
    status = check_decoder_config (c, error);
  return status;
}

AdatoskStatus
adatosk_config_parse (const AdatoskSafetensors *file, AdatoskConfig *config,
    AdatoskError *error)
{
  const char *text = adatosk_safetensors_get_metadata (file, "adatosk.config");
  if (!text)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "no \"adatosk.config\" in the header's __metadata__ (is this an "
        "AdaTosk model file?)");

  JsonNode *root;
  AdatoskStatus status = adatosk_json_parse_untrusted (text, strlen (text),
      "adatosk.config", &root, error);
  if (status != ADATOSK_OK)
    return status;
  if (!JSON_NODE_HOLDS_OBJECT (root)) {
    status = adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.config is %s, not a JSON object",
        adatosk_json_describe (root));
    json_node_unref (root);
    return status;
  }

  /* Keys this runtime does not know are ignored: newer exporters may add
   * some, and every key it needs is required or defaulted above. */
  JsonObject *object = json_node_get_object (root);
  status = read_int_fields (object, config, error);
  if (status == ADATOSK_OK)
    status = read_number_fields (object, config, error);
  if (status == ADATOSK_OK)
    status = read_img_size (object, config, error);
  if (status == ADATOSK_OK)
    status = read_channel_values (object, "mean", false, config->mean, error);
  if (status == ADATOSK_OK)
    status = read_channel_values (object, "std", true, config->std, error);
  json_node_unref (root);
  if (status == ADATOSK_OK)
    status = derive_config (config, error);
  return status;
}
