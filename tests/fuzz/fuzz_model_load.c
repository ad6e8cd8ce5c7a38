/* The model loader's fuzz target, in libFuzzer's form so that the same code
 * runs under the mutation driver in the test suite (mutate_main.c) and under
 * clang's coverage-guided libFuzzer (scripts/fuzz-libfuzzer.sh).
 *
 * The oracle is the loader's contract (src/adatosk.h): a rejection is a
 * FORMAT error whose message names the buffer and says something; an
 * accepted file has a consistent config, a label per class, and its model
 * runs a forward on the CPU without reading or writing out of bounds (the
 * sanitizers or valgrind see that). A broken contract aborts.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz_model_load.h"

#include "adatosk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN "fuzz"

static void
broken (const char *what, const char *detail)
{
  fprintf (stderr, "fuzz-model-load: contract broken: %s (%s)\n", what, detail);
  abort ();
}

static void
check_rejection (AdatoskStatus status, const AdatoskError *error)
{
  if (status != ADATOSK_ERROR_FORMAT && status != ADATOSK_ERROR_OUT_OF_MEMORY)
    broken ("a rejection that is not a format error", error->message);
  if (strncmp (error->message, ORIGIN ": ", strlen (ORIGIN ": ")) != 0
      || strlen (error->message) < strlen (ORIGIN ": ") + 10)
    broken ("a rejection whose message does not name the buffer and the "
            "problem",
        error->message);
}

/* A forward on zeros, one thread: what the element would do with the file. */
static void
run_forward (const AdatoskModel *model)
{
  const AdatoskConfig *c = adatosk_model_get_config (model);
  size_t values =
      (size_t) 3 * c->num_frames * c->img_height * (size_t) c->img_width;
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  options.kind = ADATOSK_BACKEND_CPU;
  options.threads = 1;
  AdatoskBackend *backend = NULL;
  AdatoskError error = {0};
  if (adatosk_backend_new (model, &options, &backend, &error) != ADATOSK_OK)
    broken ("an accepted model that the CPU backend refuses", error.message);
  float *clip = calloc (values, sizeof *clip);
  AdatoskOutput *output = adatosk_output_new (model);
  AdatoskStatus status =
      adatosk_backend_forward (backend, clip, 0.0, output, &error);
  /* Weights are finite but may be large: results beyond float32 are the
   * documented BACKEND error, anything else is not. */
  if (status != ADATOSK_OK && status != ADATOSK_ERROR_BACKEND)
    broken ("a forward that fails other than by overflow", error.message);
  if (status == ADATOSK_OK
      && (output->num_kept < 1 || output->num_kept > output->num_tokens))
    broken ("a forward that keeps no tokens or more than all", "");
  adatosk_output_free (output);
  free (clip);
  adatosk_backend_free (backend);
}

static void
check_model (const AdatoskModel *model)
{
  const AdatoskConfig *c = adatosk_model_get_config (model);
  if (c->num_classes < 2 || c->num_tokens != c->num_slots * c->num_spatial
      || c->num_slots * c->tubelet_size != c->num_frames)
    broken ("an accepted config that does not add up", "");
  for (int i = 0; i < c->num_classes; i++) {
    const char *label = adatosk_model_get_label (model, i);
    if (!label || !*label)
      broken ("an accepted model without a label for a class", "");
  }
  if (adatosk_model_get_label (model, c->num_classes))
    broken ("a label beyond the last class", "");
  if (adatosk_model_get_tensor_count (model) < 1)
    broken ("an accepted model without tensors", "");
  run_forward (model);
}

bool
fuzz_model_load (const uint8_t *data, size_t size)
{
  AdatoskModel *model = NULL;
  AdatoskError error = {0};
  AdatoskStatus status =
      adatosk_model_load_from_memory (data, size, ORIGIN, &model, &error);
  if ((status == ADATOSK_OK) != (model != NULL))
    broken ("the status and the model disagree", error.message);
  if (status != ADATOSK_OK) {
    check_rejection (status, &error);
    return false;
  }
  check_model (model);
  adatosk_model_free (model);
  return true;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_model_load (data, size);
  return 0;
}
