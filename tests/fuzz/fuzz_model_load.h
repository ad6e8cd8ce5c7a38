/* The model loader's fuzz target (libFuzzer's entry point).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef FUZZ_MODEL_LOAD_H
#define FUZZ_MODEL_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

/* Loads `data` as a model file and checks the loader's contract; aborts
 * when it is broken. True when the loader accepted the file. */
bool fuzz_model_load (const uint8_t *data, size_t size);

/* The same for libFuzzer (always returns 0). */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#endif
