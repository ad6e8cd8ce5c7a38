/* `adatosk run --json`: every output of one forward as one JSON object, for
 * scripts (the table is for people). Field names follow AdatoskOutput and
 * the parity fixtures (train/gen_parity_fixtures.py), plus the DL Streamer
 * names the element uses for the decision (label, label_id, confidence).
 * json-glib writes numbers with 17 significant digits: every float32 result
 * reads back bit for bit.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"

#include <json-glib/json-glib.h>

static void
add_floats (JsonBuilder *b, const char *name, const float *values, int count)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (int i = 0; i < count; i++)
    json_builder_add_double_value (b, values[i]);
  json_builder_end_array (b);
}

static void
add_string (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

char *
cli_run_to_json (const AdatoskModel *model, const AdatoskBackend *backend,
    double keep_ratio, const AdatoskOutput *out)
{
  const AdatoskConfig *c = adatosk_model_get_config (model);
  int best = 0;
  for (int i = 1; i < out->num_classes; i++)
    if (out->probs[i] > out->probs[best])
      best = i;

  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  add_string (b, "model_name", adatosk_model_get_name (model));
  add_string (b, "backend", adatosk_backend_get_name (backend));
  add_string (b, "device", adatosk_backend_get_device (backend));
  add_string (b, "label", adatosk_model_get_label (model, best));
  add_int (b, "label_id", best);
  json_builder_set_member_name (b, "confidence");
  json_builder_add_double_value (b, out->probs[best]);
  json_builder_set_member_name (b, "labels");
  json_builder_begin_array (b);
  for (int i = 0; i < out->num_classes; i++)
    json_builder_add_string_value (b, adatosk_model_get_label (model, i));
  json_builder_end_array (b);
  add_floats (b, "logits", out->logits, out->num_classes);
  add_floats (b, "probs", out->probs, out->num_classes);

  /* Slot t holds frames [t * tubelet_size, (t + 1) * tubelet_size). */
  add_int (b, "num_slots", out->num_slots);
  add_int (b, "tubelet_size", c->tubelet_size);
  add_floats (b, "significance", out->significance, out->num_slots);
  add_floats (b, "kept_fraction", out->kept_fraction, out->num_slots);

  json_builder_set_member_name (b, "keep_ratio");
  json_builder_add_double_value (b, keep_ratio);
  add_int (b, "num_tokens", out->num_tokens);
  add_int (b, "num_kept", out->num_kept);
  json_builder_set_member_name (b, "kept_tokens");
  json_builder_begin_array (b);
  for (int i = 0; i < out->num_kept; i++)
    json_builder_add_int_value (b, out->kept_tokens[i]);
  json_builder_end_array (b);
  add_floats (b, "token_mask", out->token_mask, out->num_tokens);
  json_builder_end_object (b);

  JsonNode *root = json_builder_get_root (b);
  char *text = json_to_string (root, FALSE);
  json_node_unref (root);
  g_object_unref (b);
  return text;
}
