/* Strict JSON syntax (RFC 8259) for untrusted text.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_JSON_STRICT_H
#define ADATOSK_JSON_STRICT_H

#include "adatosk.h"

#include <stddef.h>

/* Checks that `text` is one JSON object or list, RFC 8259 to the letter, then
 * only white space: double-quoted strings of UTF-8 with every control
 * character escaped and no surrogate halves, decimal numbers without leading
 * zeros or '+', no trailing commas, nesting at most 32 deep. One rule goes
 * beyond the RFC: \u0000 is refused, since every string read from a model
 * header becomes a C string. The message names the problem, its byte offset
 * and `what` (e.g. "the safetensors header"). */
AdatoskStatus adatosk_json_check_strict (const char *text, size_t length,
    const char *what, AdatoskError *error);

#endif
