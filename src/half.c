/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "half.h"

#include <math.h>
#include <string.h>

static float
float_from_bits (uint32_t bits)
{
  float value;
  memcpy (&value, &bits, sizeof value);
  return value;
}

static uint32_t
bits_from_float (float value)
{
  uint32_t bits;
  memcpy (&bits, &value, sizeof bits);
  return bits;
}

float
adatosk_half_to_float (uint16_t half)
{
  uint32_t sign = (uint32_t) (half & 0x8000) << 16;
  uint32_t exponent = (half >> 10) & 0x1f;
  uint32_t mantissa = half & 0x3ff;

  if (exponent == 0) {
    /* Zero or subnormal: mantissa * 2^-24 is exact in float (normal there). */
    float magnitude = ldexpf ((float) mantissa, -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f) /* infinity, or NaN with its payload kept */
    return float_from_bits (sign | 0x7f800000 | (mantissa << 13));
  return float_from_bits (
      sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

float
adatosk_bfloat16_to_float (uint16_t bfloat16)
{
  /* bfloat16 is the upper half of a float32. */
  return float_from_bits ((uint32_t) bfloat16 << 16);
}

/* Shifts `value` right by `shift` (1..31) bits, rounding to nearest even. */
static uint32_t
shift_right_nearest_even (uint32_t value, unsigned shift)
{
  uint32_t kept = value >> shift;
  uint32_t dropped = value & ((1u << shift) - 1);
  uint32_t halfway = 1u << (shift - 1);
  if (dropped > halfway || (dropped == halfway && (kept & 1)))
    kept++;
  return kept;
}

uint16_t
adatosk_float_to_half (float value)
{
  uint32_t bits = bits_from_float (value);
  uint16_t sign = (uint16_t) ((bits >> 16) & 0x8000);
  uint32_t magnitude = bits & 0x7fffffff;
  uint32_t exponent = magnitude >> 23; /* biased by 127 */

  if (magnitude > 0x7f800000) /* NaN: keep the top payload bits, force quiet */
    return sign | 0x7e00 | (uint16_t) ((magnitude >> 13) & 0x3ff);
  /* 65520 is halfway between the largest half (65504) and 2^16; ties go to
   * the even neighbour, 2^16, which overflows. */
  if (magnitude >= 0x477ff000)
    return sign | 0x7c00;
  if (exponent >= 127 - 14) {
    /* Normal half: rebias the exponent, round the 23-bit mantissa to 10 bits.
     * A carry out of the mantissa correctly bumps the exponent. */
    uint32_t rebased = magnitude - ((uint32_t) (127 - 15) << 23);
    return sign | (uint16_t) shift_right_nearest_even (rebased, 13);
  }
  /* Subnormal half (or zero): value = significand * 2^(exponent - 150), and
   * the half's mantissa counts units of 2^-24, so shift by 126 - exponent.
   * Below 2^-25 everything rounds to zero (a shift of 25 or more). */
  unsigned shift = 126 - exponent;
  if (shift > 24)
    return sign;
  uint32_t significand = (magnitude & 0x7fffff) | 0x800000;
  /* A result of 0x400 is the smallest normal half, correctly encoded. */
  return sign | (uint16_t) shift_right_nearest_even (significand, shift);
}
