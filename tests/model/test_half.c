/* half.c against references that share no code with it: ldexp for the
 * decoding, and a search over all halves for the rounding.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "half.h"

#include <glib.h>
#include <math.h>
#include <string.h>

static uint32_t
float_bits (float value)
{
  uint32_t bits;
  memcpy (&bits, &value, sizeof bits);
  return bits;
}

/* The value of a finite half, from the IEEE 754 definition. */
static double
half_value (uint16_t half)
{
  int exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
  double magnitude = exponent == 0 ? ldexp (mantissa, -24)
                                   : ldexp (1024 + mantissa, exponent - 25);
  return (half & 0x8000) ? -magnitude : magnitude;
}

static void
test_half_to_float_all (void)
{
  for (uint32_t h = 0; h <= 0xffff; h++) {
    float value = adatosk_half_to_float ((uint16_t) h);
    uint32_t sign = (h & 0x8000) << 16;
    if ((h & 0x7c00) == 0x7c00) {
      /* Infinity, or NaN with its payload in the top mantissa bits. */
      g_assert_cmphex (float_bits (value), ==,
          sign | 0x7f800000 | ((h & 0x3ff) << 13));
    } else {
      float expected = (float) half_value ((uint16_t) h);
      g_assert_cmphex (float_bits (value), ==, float_bits (expected));
    }
  }
}

static void
test_bfloat16_to_float_all (void)
{
  for (uint32_t b = 0; b <= 0xffff; b++) {
    float value = adatosk_bfloat16_to_float ((uint16_t) b);
    int exponent = (b >> 7) & 0xff, mantissa = b & 0x7f;
    if (exponent == 0xff) {
      g_assert_true (mantissa ? isnan (value) : isinf (value));
      g_assert_cmpint (!!signbit (value), ==, !!(b & 0x8000));
      continue;
    }
    double magnitude = exponent == 0 ? ldexp (mantissa, -133)
                                     : ldexp (128 + mantissa, exponent - 134);
    float expected = (float) ((b & 0x8000) ? -magnitude : magnitude);
    g_assert_cmphex (float_bits (value), ==, float_bits (expected));
  }
}

static void
test_float_to_half_round_trip (void)
{
  for (uint32_t h = 0; h <= 0xffff; h++) {
    uint16_t back =
        adatosk_float_to_half (adatosk_half_to_float ((uint16_t) h));
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
      /* NaN stays a quiet NaN of the same sign. */
      g_assert_cmphex (back & 0xfe00, ==, (h & 0x8000) | 0x7e00);
    } else {
      g_assert_cmphex (back, ==, h);
    }
  }
}

/* The nearest half to a non-NaN float, ties to even, by binary search over
 * the positive halves (ordered like their bit patterns). */
static uint16_t
reference_float_to_half (float value)
{
  uint16_t sign = signbit (value) ? 0x8000 : 0;
  double magnitude = fabs ((double) value);
  if (magnitude >= 65520.0) /* at or past the midpoint to 2^16 */
    return sign | 0x7c00;
  uint16_t low = 0, high = 0x7bff;
  while (low < high) { /* the largest half <= magnitude */
    uint16_t middle = (uint16_t) ((low + high + 1) / 2);
    if (half_value (middle) <= magnitude)
      low = middle;
    else
      high = middle - 1;
  }
  if (low == 0x7bff)
    return sign | low;
  /* Exact in double: halves have 11 significant bits. */
  double midpoint = (half_value (low) + half_value (low + 1)) / 2;
  if (magnitude > midpoint || (magnitude == midpoint && (low & 1)))
    low++;
  return sign | low;
}

static void
test_float_to_half_midpoints (void)
{
  for (uint16_t h = 0; h < 0x7bff; h++) {
    float midpoint = (float) ((half_value (h) + half_value (h + 1)) / 2);
    uint16_t even = (h & 1) ? h + 1 : h;
    g_assert_cmphex (adatosk_float_to_half (midpoint), ==, even);
    g_assert_cmphex (adatosk_float_to_half (-midpoint), ==, even | 0x8000);
    g_assert_cmphex (adatosk_float_to_half (nextafterf (midpoint, 0)), ==, h);
    g_assert_cmphex (adatosk_float_to_half (nextafterf (midpoint, INFINITY)),
        ==, h + 1);
  }
  g_assert_cmphex (adatosk_float_to_half (65520.0f), ==, 0x7c00);
  g_assert_cmphex (adatosk_float_to_half (nextafterf (65520.0f, 0)), ==,
      0x7bff);
  g_assert_cmphex (adatosk_float_to_half (-1e30f), ==, 0xfc00);
  g_assert_cmphex (adatosk_float_to_half (INFINITY), ==, 0x7c00);
  g_assert_cmphex (adatosk_float_to_half (0x1p-25f), ==, 0x0000);
  g_assert_cmphex (adatosk_float_to_half (nextafterf (0x1p-25f, 1)), ==,
      0x0001);
  g_assert_cmphex (adatosk_float_to_half (0x1p-149f), ==, 0x0000);
  g_assert_cmphex (adatosk_float_to_half (-0x1p-149f), ==, 0x8000);
  g_assert_cmphex (adatosk_float_to_half (NAN) & 0x7e00, ==, 0x7e00);
}

/* A spread of float bit patterns (both signs, every exponent). */
static void
test_float_to_half_sweep (void)
{
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 997) {
    float value;
    uint32_t bits32 = (uint32_t) bits;
    memcpy (&value, &bits32, sizeof value);
    if (isnan (value))
      continue;
    uint16_t expected = reference_float_to_half (value);
    uint16_t got = adatosk_float_to_half (value);
    if (got != expected)
      g_error ("float %a (0x%08x): got half 0x%04x, expected 0x%04x",
          (double) value, bits32, got, expected);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/half/half-to-float/all", test_half_to_float_all);
  g_test_add_func ("/half/bfloat16-to-float/all", test_bfloat16_to_float_all);
  g_test_add_func ("/half/float-to-half/round-trip",
      test_float_to_half_round_trip);
  g_test_add_func ("/half/float-to-half/midpoints",
      test_float_to_half_midpoints);
  g_test_add_func ("/half/float-to-half/sweep", test_float_to_half_sweep);
  return g_test_run ();
}
