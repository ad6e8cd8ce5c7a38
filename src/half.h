/* 16-bit float formats of model files: IEEE binary16 ("half", safetensors
 * F16) and bfloat16 (BF16). The conversions to float are exact for every
 * input, subnormals, infinities and NaN payloads included.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_HALF_H
#define ADATOSK_HALF_H

#include <stdint.h>

float adatosk_half_to_float (uint16_t half);
float adatosk_bfloat16_to_float (uint16_t bfloat16);
/* Rounds to nearest, ties to even; overflow gives infinity, NaN stays a
 * (quiet) NaN with the sign kept. Independent of the FPU rounding mode. */
uint16_t adatosk_float_to_half (float value);

#endif
