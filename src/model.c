/* Loading a model file: the safetensors container (safetensors.c), the
 * config (config.c), then the labels and every tensor checked against the
 * shapes the config implies (docs/model.md section 6), converted to float32
 * once.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model.h"

#include "config.h"
#include "error.h"
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every tensor starts on a 64-byte boundary, for aligned SIMD loads. */
#define TENSOR_ALIGNMENT_FLOATS 16

/* ---- labels and descriptions ---- */

static AdatoskStatus
check_labels (JsonNode *root, int num_classes, AdatoskError *error)
{
  if (!JSON_NODE_HOLDS_ARRAY (root))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.labels is %s, not a JSON list of class names",
        adatosk_json_describe (root));
  JsonArray *names = json_node_get_array (root);
  if (json_array_get_length (names) != (guint) num_classes)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "adatosk.labels has %u class names, but num_classes in "
        "adatosk.config is %d",
        json_array_get_length (names), num_classes);
  for (guint i = 0; i < (guint) num_classes; i++) {
    JsonNode *name = json_array_get_element (names, i);
    if (!JSON_NODE_HOLDS_VALUE (name)
        || json_node_get_value_type (name) != G_TYPE_STRING)
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "adatosk.labels entry %u is %s, not a string", i,
          adatosk_json_describe (name));
    if (json_node_get_string (name)[0] == '\0')
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "adatosk.labels entry %u is an empty name", i);
  }
  return ADATOSK_OK;
}

static AdatoskStatus
parse_labels (const AdatoskSafetensors *file, AdatoskModel *model,
    AdatoskError *error)
{
  const char *text = adatosk_safetensors_get_metadata (file, "adatosk.labels");
  if (!text)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "no \"adatosk.labels\" in the header's __metadata__ (the class "
        "names are required)");

  JsonNode *root;
  AdatoskStatus status = adatosk_json_parse_untrusted (text, strlen (text),
      "adatosk.labels", &root, error);
  if (status != ADATOSK_OK)
    return status;
  int num_classes = model->config.num_classes;
  status = check_labels (root, num_classes, error);
  if (status == ADATOSK_OK) {
    JsonArray *names = json_node_get_array (root);
    model->labels = g_new0 (char *, num_classes + 1);
    for (int i = 0; i < num_classes; i++)
      model->labels[i] =
          g_strdup (json_array_get_string_element (names, (guint) i));
  }
  json_node_unref (root);
  return status;
}

static char *
copy_description (const AdatoskSafetensors *file, const char *key)
{
  const char *text = adatosk_safetensors_get_metadata (file, key);
  return g_strdup (text ? text : "");
}

/* ---- the tensor set ---- */

/* The tensors only training uses; an inference file leaves them all out. */
static bool
is_decoder_tensor (const char *name)
{
  return g_str_has_prefix (name, "decoder.")
      || strcmp (name, "encoder_to_decoder.weight") == 0
      || strcmp (name, "mask_token") == 0;
}

/* Why each shape is what it is, for the messages: the config values it
 * comes from. */
typedef struct
{
  char embed[96];
  char mlp[160];
  char patch[160];
  char classes[128];
  char decoder[96];
  char decoder_mlp[160];
  char decoder_link[128];
  char decoder_patch[160];
} ShapeNotes;

static void
write_shape_notes (const AdatoskConfig *c, ShapeNotes *notes)
{
#define NOTE(field, ...) \
  snprintf (notes->field, sizeof notes->field, __VA_ARGS__)
  NOTE (embed, "(embed_dim %d in adatosk.config)", c->embed_dim);
  NOTE (mlp,
      "(embed_dim %d and mlp_ratio %g in adatosk.config: MLP width "
      "%d)",
      c->embed_dim, c->mlp_ratio, c->mlp_hidden);
  NOTE (patch,
      "(embed_dim %d, tubelet_size %d and patch_size %d in "
      "adatosk.config)",
      c->embed_dim, c->tubelet_size, c->patch_size);
  NOTE (classes, "(num_classes %d and embed_dim %d in adatosk.config)",
      c->num_classes, c->embed_dim);
  NOTE (decoder, "(decoder_embed_dim %d in adatosk.config)",
      c->decoder_embed_dim);
  NOTE (decoder_mlp,
      "(decoder_embed_dim %d and mlp_ratio %g in "
      "adatosk.config: MLP width %d)",
      c->decoder_embed_dim, c->mlp_ratio,
      adatosk_mlp_width (c->mlp_ratio, c->decoder_embed_dim));
  NOTE (decoder_link,
      "(decoder_embed_dim %d and embed_dim %d in "
      "adatosk.config)",
      c->decoder_embed_dim, c->embed_dim);
  NOTE (decoder_patch,
      "(decoder_embed_dim %d, tubelet_size %d and "
      "patch_size %d in adatosk.config)",
      c->decoder_embed_dim, c->tubelet_size, c->patch_size);
#undef NOTE
}

/* A tensor the config calls for. */
typedef struct
{
  char name[64];
  int ndim;
  int64_t shape[ADATOSK_SAFETENSORS_MAX_NDIM];
  const char *why;    /* a ShapeNotes entry */
  const float **slot; /* the model's named pointer, or NULL */
  bool decoder;
  const AdatoskSafetensorsEntry *entry; /* the file's tensor, once matched */
} PlannedTensor;

typedef struct
{
  GArray *tensors; /* PlannedTensor, in the spec's order */
  ShapeNotes notes;
} TensorPlan;

#define DIMS(...) \
  (int) (sizeof ((int64_t[]){__VA_ARGS__}) / sizeof (int64_t)), (int64_t[]) \
  { \
    __VA_ARGS__ \
  }

static void expect (TensorPlan *plan, const char *why, const float **slot,
    int ndim, const int64_t *shape, const char *name_format, ...)
    __attribute__ ((format (printf, 6, 7)));

static void
expect (TensorPlan *plan, const char *why, const float **slot, int ndim,
    const int64_t *shape, const char *name_format, ...)
{
  PlannedTensor planned = {.ndim = ndim, .why = why, .slot = slot};
  va_list args;
  va_start (args, name_format);
  vsnprintf (planned.name, sizeof planned.name, name_format, args);
  va_end (args);
  memcpy (planned.shape, shape, (size_t) ndim * sizeof *shape);
  planned.decoder = is_decoder_tensor (planned.name);
  g_array_append_val (plan->tensors, planned);
}

/* One block's tensors; `w` is NULL for decoder blocks (training only). */
static void
expect_block (TensorPlan *plan, const char *prefix, int64_t width,
    int64_t hidden, const char *why_width, const char *why_mlp,
    AdatoskBlockWeights *w)
{
#define SLOT(field) (w ? &w->field : NULL)
  expect (plan, why_width, SLOT (norm1_weight), DIMS (width), "%s.norm1.weight",
      prefix);
  expect (plan, why_width, SLOT (norm1_bias), DIMS (width), "%s.norm1.bias",
      prefix);
  expect (plan, why_width, SLOT (qkv_weight), DIMS (3 * width, width),
      "%s.attn.qkv.weight", prefix);
  expect (plan, why_width, SLOT (qkv_bias), DIMS (3 * width),
      "%s.attn.qkv.bias", prefix);
  expect (plan, why_width, SLOT (proj_weight), DIMS (width, width),
      "%s.attn.proj.weight", prefix);
  expect (plan, why_width, SLOT (proj_bias), DIMS (width), "%s.attn.proj.bias",
      prefix);
  expect (plan, why_width, SLOT (norm2_weight), DIMS (width), "%s.norm2.weight",
      prefix);
  expect (plan, why_width, SLOT (norm2_bias), DIMS (width), "%s.norm2.bias",
      prefix);
  expect (plan, why_mlp, SLOT (fc1_weight), DIMS (hidden, width),
      "%s.mlp.fc1.weight", prefix);
  expect (plan, why_mlp, SLOT (fc1_bias), DIMS (hidden), "%s.mlp.fc1.bias",
      prefix);
  expect (plan, why_mlp, SLOT (fc2_weight), DIMS (width, hidden),
      "%s.mlp.fc2.weight", prefix);
  expect (plan, why_width, SLOT (fc2_bias), DIMS (width), "%s.mlp.fc2.bias",
      prefix);
#undef SLOT
}

static void
expect_decoder (TensorPlan *plan, const AdatoskConfig *c)
{
  const ShapeNotes *notes = &plan->notes;
  int64_t dd = c->decoder_embed_dim;
  expect (plan, notes->decoder_link, NULL, DIMS (dd, c->embed_dim),
      "encoder_to_decoder.weight");
  expect (plan, notes->decoder, NULL, DIMS (1, 1, dd), "mask_token");
  for (int i = 0; i < c->decoder_depth; i++) {
    char prefix[32];
    snprintf (prefix, sizeof prefix, "decoder.blocks.%d", i);
    expect_block (plan, prefix, dd, adatosk_mlp_width (c->mlp_ratio, (int) dd),
        notes->decoder, notes->decoder_mlp, NULL);
  }
  expect (plan, notes->decoder, NULL, DIMS (dd), "decoder.norm.weight");
  expect (plan, notes->decoder, NULL, DIMS (dd), "decoder.norm.bias");
  expect (plan, notes->decoder_patch, NULL, DIMS (c->patch_dim, dd),
      "decoder.head.weight");
  expect (plan, notes->decoder_patch, NULL, DIMS (c->patch_dim),
      "decoder.head.bias");
}

/* Every tensor of spec section 6 with the shape `model->config` implies,
 * each pointing at the model field it fills. */
static void
plan_tensors (TensorPlan *plan, AdatoskModel *model)
{
  const AdatoskConfig *c = &model->config;
  const ShapeNotes *notes = &plan->notes;
  int64_t d = c->embed_dim, classes = c->num_classes;

  plan->tensors = g_array_new (FALSE, FALSE, sizeof (PlannedTensor));
  write_shape_notes (c, &plan->notes);
  expect (plan, notes->patch, &model->patch_weight,
      DIMS (d, 3, c->tubelet_size, c->patch_size, c->patch_size),
      "patch_embed.proj.weight");
  expect (plan, notes->embed, &model->patch_bias, DIMS (d),
      "patch_embed.proj.bias");
  model->blocks = g_new0 (AdatoskBlockWeights, c->depth);
  for (int i = 0; i < c->depth; i++) {
    char prefix[32];
    snprintf (prefix, sizeof prefix, "blocks.%d", i);
    expect_block (plan, prefix, d, c->mlp_hidden, notes->embed, notes->mlp,
        &model->blocks[i]);
  }
  expect (plan, notes->embed, &model->atsm_norm_weight, DIMS (d),
      "atsm.norm.weight");
  expect (plan, notes->embed, &model->atsm_norm_bias, DIMS (d),
      "atsm.norm.bias");
  expect (plan, notes->classes, &model->prototypes, DIMS (classes, d),
      "atsm.prototypes");
  /* The scalars are copied out after conversion (see copy_scalars). */
  expect (plan, "(a learned scalar)", NULL, DIMS (1), "atsm.alpha_dyn");
  expect (plan, "(a learned scalar)", NULL, DIMS (1), "atsm.alpha_sem");
  expect (plan, "(a learned scalar)", NULL, DIMS (1), "atsm.beta");
  expect (plan, notes->embed, &model->fc_norm_weight, DIMS (d),
      "fc_norm.weight");
  expect (plan, notes->embed, &model->fc_norm_bias, DIMS (d), "fc_norm.bias");
  expect (plan, notes->classes, &model->head_weight, DIMS (classes, d),
      "head.weight");
  expect (plan, notes->classes, &model->head_bias, DIMS (classes), "head.bias");
  if (adatosk_config_has_decoder (c))
    expect_decoder (plan, c);
}

static bool
same_shape (const PlannedTensor *planned, const AdatoskSafetensorsEntry *entry)
{
  return planned->ndim == entry->ndim
      && memcmp (planned->shape, entry->shape,
             (size_t) entry->ndim * sizeof *entry->shape)
      == 0;
}

static AdatoskStatus
check_file_tensor (const AdatoskSafetensorsEntry *entry, PlannedTensor *planned,
    const AdatoskConfig *config, AdatoskError *error)
{
  if (!planned && is_decoder_tensor (entry->name)
      && !adatosk_config_has_decoder (config))
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s' belongs to the decoder, but adatosk.config gives no "
        "decoder_embed_dim, decoder_depth and decoder_num_heads",
        entry->name);
  if (!planned)
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "unknown tensor '%s' (not a tensor of the AdaTosk model this "
        "adatosk.config describes)",
        entry->name);
  if (!same_shape (planned, entry)) {
    char found[128], expected[128];
    adatosk_format_shape (found, sizeof found, entry->ndim, entry->shape);
    adatosk_format_shape (expected, sizeof expected, planned->ndim,
        planned->shape);
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "tensor '%s' has shape %s, expected %s %s", entry->name, found,
        expected, planned->why);
  }
  return ADATOSK_OK;
}

/* Pairs each file tensor with its planned tensor; rejects the others. */
static AdatoskStatus
match_file_tensors (TensorPlan *plan, const AdatoskSafetensors *file,
    const AdatoskConfig *config, AdatoskError *error)
{
  GHashTable *by_name = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < plan->tensors->len; i++) {
    PlannedTensor *planned = &g_array_index (plan->tensors, PlannedTensor, i);
    g_hash_table_insert (by_name, planned->name, planned);
  }

  /* Names are unique: json-glib keeps one member per key, and the tiling
   * check has already rejected the hole a dropped duplicate leaves. */
  AdatoskStatus status = ADATOSK_OK;
  for (int i = 0; i < file->num_tensors && status == ADATOSK_OK; i++) {
    const AdatoskSafetensorsEntry *entry = &file->tensors[i];
    PlannedTensor *planned = g_hash_table_lookup (by_name, entry->name);
    status = check_file_tensor (entry, planned, config, error);
    if (status == ADATOSK_OK)
      planned->entry = entry;
  }
  g_hash_table_unref (by_name);
  return status;
}

/* Every planned tensor must be there, except that an inference file leaves
 * out the whole decoder. */
static AdatoskStatus
check_missing (const TensorPlan *plan, bool *has_decoder, AdatoskError *error)
{
  *has_decoder = false;
  for (guint i = 0; i < plan->tensors->len; i++) {
    const PlannedTensor *p = &g_array_index (plan->tensors, PlannedTensor, i);
    if (p->decoder && p->entry)
      *has_decoder = true;
  }
  for (guint i = 0; i < plan->tensors->len; i++) {
    const PlannedTensor *p = &g_array_index (plan->tensors, PlannedTensor, i);
    if (p->entry || (p->decoder && !*has_decoder))
      continue;
    char shape[128];
    adatosk_format_shape (shape, sizeof shape, p->ndim, p->shape);
    return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
        "missing tensor '%s' (shape %s)%s", p->name, shape,
        p->decoder
            ? ": the file has other decoder tensors, so it needs all of them "
              "(an inference file leaves out every decoder tensor)"
            : "");
  }
  return ADATOSK_OK;
}

/* ---- conversion to float32 ---- */

static int64_t
aligned_floats (int64_t count)
{
  return (count + TENSOR_ALIGNMENT_FLOATS - 1) / TENSOR_ALIGNMENT_FLOATS
      * TENSOR_ALIGNMENT_FLOATS;
}

/* NaN or infinite weights would make every output silently meaningless. */
static AdatoskStatus
check_finite (const AdatoskTensor *tensor, AdatoskError *error)
{
  for (int64_t i = 0; i < tensor->numel; i++) {
    if (!isfinite (tensor->data[i]))
      return adatosk_fail (error, ADATOSK_ERROR_FORMAT,
          "tensor '%s' has %s at element %" G_GINT64_FORMAT " (NaN or "
          "infinite weights give meaningless results; was training "
          "diverging?)",
          tensor->name, isnan (tensor->data[i]) ? "a NaN" : "an infinite value",
          i);
  }
  return ADATOSK_OK;
}

static AdatoskStatus
allocate_storage (AdatoskModel *model, const TensorPlan *plan,
    AdatoskError *error)
{
  int64_t total = 0;
  int count = 0;
  for (guint i = 0; i < plan->tensors->len; i++) {
    const PlannedTensor *p = &g_array_index (plan->tensors, PlannedTensor, i);
    if (p->entry) {
      total += aligned_floats (p->entry->numel);
      count++;
    }
  }
  /* The file holds every element in at least 2 bytes, so `total` cannot
   * overflow; on a 32-bit host the byte count still might. */
  if ((uint64_t) total > SIZE_MAX / sizeof (float))
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "the weights (%" G_GINT64_FORMAT " floats) do not fit in memory",
        total);
  size_t bytes =
      (size_t) (total > 0 ? total : TENSOR_ALIGNMENT_FLOATS) * sizeof (float);
  model->storage =
      aligned_alloc (TENSOR_ALIGNMENT_FLOATS * sizeof (float), bytes);
  if (!model->storage)
    return adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY,
        "cannot allocate %zu MiB for the weights", bytes >> 20);
  model->tensors = g_new0 (AdatoskTensor, count);
  return ADATOSK_OK;
}

static AdatoskStatus
convert_tensors (AdatoskModel *model, const TensorPlan *plan,
    const AdatoskSafetensors *file, AdatoskError *error)
{
  AdatoskStatus status = allocate_storage (model, plan, error);
  float *next = model->storage;
  for (guint i = 0; i < plan->tensors->len && status == ADATOSK_OK; i++) {
    const PlannedTensor *p = &g_array_index (plan->tensors, PlannedTensor, i);
    if (!p->entry)
      continue;
    AdatoskTensor *tensor = &model->tensors[model->num_tensors++];
    tensor->name = g_strdup (p->name);
    tensor->ndim = p->ndim;
    memcpy (tensor->shape, p->shape, sizeof tensor->shape);
    tensor->numel = p->entry->numel;
    tensor->data = next;
    adatosk_safetensors_read_floats (file, p->entry, next);
    next += aligned_floats (tensor->numel);
    if (p->slot)
      *p->slot = tensor->data;
    model->num_params += tensor->numel;
    status = check_finite (tensor, error);
  }
  return status;
}

static void
copy_scalars (AdatoskModel *model)
{
  model->alpha_dyn =
      adatosk_model_find_tensor (model, "atsm.alpha_dyn")->data[0];
  model->alpha_sem =
      adatosk_model_find_tensor (model, "atsm.alpha_sem")->data[0];
  model->beta = adatosk_model_find_tensor (model, "atsm.beta")->data[0];
}

static AdatoskStatus
load_tensors (AdatoskModel *model, const AdatoskSafetensors *file,
    AdatoskError *error)
{
  TensorPlan plan;
  plan_tensors (&plan, model);
  AdatoskStatus status =
      match_file_tensors (&plan, file, &model->config, error);
  if (status == ADATOSK_OK)
    status = check_missing (&plan, &model->has_decoder, error);
  if (status == ADATOSK_OK)
    status = convert_tensors (model, &plan, file, error);
  if (status == ADATOSK_OK)
    copy_scalars (model);
  g_array_unref (plan.tensors);
  return status;
}

/* ---- loading ---- */

static AdatoskStatus
build_model (AdatoskModel *model, const AdatoskSafetensors *file,
    AdatoskError *error)
{
  AdatoskStatus status = adatosk_config_parse (file, &model->config, error);
  if (status == ADATOSK_OK)
    status = parse_labels (file, model, error);
  if (status != ADATOSK_OK)
    return status;
  model->name = copy_description (file, "adatosk.name");
  model->license = copy_description (file, "adatosk.license");
  model->trained_on = copy_description (file, "adatosk.trained_on");
  return load_tensors (model, file, error);
}

/* Puts "origin: " in front of the message, so every error names the file. */
static void
prefix_origin (AdatoskError *error, const char *origin)
{
  if (!error)
    return;
  char *message = g_strdup_printf ("%s: %s", origin, error->message);
  g_strlcpy (error->message, message, sizeof error->message);
  g_free (message);
}

static AdatoskStatus
load_from_bytes (const uint8_t *bytes, size_t size, const char *origin,
    AdatoskModel **model_out, AdatoskError *error)
{
  AdatoskSafetensors file;
  AdatoskStatus status = adatosk_safetensors_parse (bytes, size, &file, error);
  if (status == ADATOSK_OK) {
    AdatoskModel *model = g_new0 (AdatoskModel, 1);
    status = build_model (model, &file, error);
    adatosk_safetensors_clear (&file);
    if (status == ADATOSK_OK)
      *model_out = model;
    else
      adatosk_model_free (model);
  }
  if (status != ADATOSK_OK)
    prefix_origin (error, origin);
  return status;
}

AdatoskStatus
adatosk_model_load (const char *path, AdatoskModel **model_out,
    AdatoskError *error)
{
  if (!path || !model_out)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "adatosk_model_load: path and model_out must not be NULL");
  *model_out = NULL;

  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return adatosk_fail (error, ADATOSK_ERROR_IO,
        "cannot open model file '%s': %s", path, g_strerror (errno));
  struct stat info;
  if (fstat (fd, &info) != 0) {
    int saved_errno = errno;
    close (fd);
    return adatosk_fail (error, ADATOSK_ERROR_IO,
        "cannot read model file '%s': %s", path, g_strerror (saved_errno));
  }
  if (!S_ISREG (info.st_mode)) {
    close (fd);
    return adatosk_fail (error, ADATOSK_ERROR_IO,
        "model file '%s' is not a regular file", path);
  }

  /* mmap cannot map 0 bytes; the parser explains an empty file. */
  size_t size = (size_t) info.st_size;
  static const uint8_t nothing[1];
  const void *bytes = nothing;
  if (size > 0) {
    bytes = mmap (NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (bytes == MAP_FAILED) {
      int saved_errno = errno;
      close (fd);
      return adatosk_fail (error, ADATOSK_ERROR_IO,
          "cannot map model file '%s': %s", path, g_strerror (saved_errno));
    }
  }
  close (fd);
  AdatoskStatus status = load_from_bytes (bytes, size, path, model_out, error);
  if (size > 0)
    munmap ((void *) bytes, size);
  return status;
}

AdatoskStatus
adatosk_model_load_from_memory (const void *data, size_t size,
    const char *origin, AdatoskModel **model_out, AdatoskError *error)
{
  if ((!data && size > 0) || !model_out)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "adatosk_model_load_from_memory: data and model_out must not be "
        "NULL");
  *model_out = NULL;
  static const uint8_t nothing[1];
  /* Nothing of `data` is kept: every tensor is converted into the model. */
  return load_from_bytes (data ? data : nothing, size,
      origin ? origin : "<memory>", model_out, error);
}

void
adatosk_model_free (AdatoskModel *model)
{
  if (!model)
    return;
  g_strfreev (model->labels);
  g_free (model->name);
  g_free (model->license);
  g_free (model->trained_on);
  for (int i = 0; i < model->num_tensors; i++)
    g_free (model->tensors[i].name);
  g_free (model->tensors);
  free (model->storage);
  g_free (model->blocks);
  g_free (model);
}

/* ---- getters ---- */

const AdatoskConfig *
adatosk_model_get_config (const AdatoskModel *model)
{
  return &model->config;
}

const char *
adatosk_model_get_label (const AdatoskModel *model, int class_index)
{
  if (class_index < 0 || class_index >= model->config.num_classes)
    return NULL;
  return model->labels[class_index];
}

const char *
adatosk_model_get_name (const AdatoskModel *model)
{
  return model->name;
}

const char *
adatosk_model_get_license (const AdatoskModel *model)
{
  return model->license;
}

const char *
adatosk_model_get_trained_on (const AdatoskModel *model)
{
  return model->trained_on;
}

int
adatosk_model_get_tensor_count (const AdatoskModel *model)
{
  return model->num_tensors;
}

int64_t
adatosk_model_get_param_count (const AdatoskModel *model)
{
  return model->num_params;
}

int64_t
adatosk_model_get_inference_param_count (const AdatoskModel *model)
{
  int64_t count = 0;
  for (int i = 0; i < model->num_tensors; i++)
    if (!is_decoder_tensor (model->tensors[i].name))
      count += model->tensors[i].numel;
  return count;
}

const AdatoskTensor *
adatosk_model_find_tensor (const AdatoskModel *model, const char *name)
{
  for (int i = 0; i < model->num_tensors; i++)
    if (strcmp (model->tensors[i].name, name) == 0)
      return &model->tensors[i];
  return NULL;
}
