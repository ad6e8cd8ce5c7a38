/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model.h"

#include <stdlib.h>

AdatoskOutput *
adatosk_output_new (const AdatoskModel *model)
{
  if (!model)
    return NULL;
  const AdatoskConfig *c = adatosk_model_get_config (model);
  AdatoskOutput *out = calloc (1, sizeof *out);
  if (!out)
    return NULL;
  out->num_classes = c->num_classes;
  out->num_slots = c->num_slots;
  out->num_tokens = c->num_tokens;
  out->logits = calloc (c->num_classes, sizeof (float));
  out->probs = calloc (c->num_classes, sizeof (float));
  out->significance = calloc (c->num_slots, sizeof (float));
  out->kept_fraction = calloc (c->num_slots, sizeof (float));
  out->token_mask = calloc (c->num_tokens, sizeof (float));
  out->kept_tokens = calloc (c->num_tokens, sizeof (int32_t));
  if (!out->logits || !out->probs || !out->significance || !out->kept_fraction
      || !out->token_mask || !out->kept_tokens) {
    adatosk_output_free (out);
    return NULL;
  }
  return out;
}

void
adatosk_output_free (AdatoskOutput *out)
{
  if (!out)
    return;
  free (out->logits);
  free (out->probs);
  free (out->significance);
  free (out->kept_fraction);
  free (out->token_mask);
  free (out->kept_tokens);
  free (out);
}
