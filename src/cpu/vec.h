/* 16 floats as one GCC vector: one AVX-512 register, two AVX2 or four SSE
 * ones, whichever clone (simd.h) the code is compiled into. The loops of
 * cpu/ops.c that the compiler would not vectorise on its own (a max
 * reduction, passes whose tail needs other work) are written with it, so
 * that they run whole vectors in every clone.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_VEC_H
#define ADATOSK_CPU_VEC_H

#include "simd.h"

#include <stdint.h>
#include <string.h>

enum
{
  ADATOSK_VEC_LANES = 16
};

typedef float AdatoskVec __attribute__ ((vector_size (64)));
typedef int32_t AdatoskVecInt __attribute__ ((vector_size (64)));
typedef uint32_t AdatoskVecBits __attribute__ ((vector_size (64)));
/* Half a vector, as the doubles it widens to. */
typedef float AdatoskVecHalf __attribute__ ((vector_size (32)));
typedef double AdatoskVecDouble __attribute__ ((vector_size (64)));

/* Unaligned loads and stores (rows start anywhere). */
ADATOSK_INLINE AdatoskVec
vec_load (const float *p)
{
  AdatoskVec v;
  memcpy (&v, p, sizeof v);
  return v;
}

ADATOSK_INLINE void
vec_store (float *p, AdatoskVec v)
{
  memcpy (p, &v, sizeof v);
}

ADATOSK_INLINE AdatoskVec
vec_splat (float x)
{
  return (AdatoskVec){0} + x;
}

/* mask ? a : b lane by lane (C has no ?: on vectors, C++ does). */
ADATOSK_INLINE AdatoskVec
vec_select (AdatoskVecInt mask, AdatoskVec a, AdatoskVec b)
{
  AdatoskVecInt bits = (mask & (AdatoskVecInt) a) | (~mask & (AdatoskVecInt) b);
  return (AdatoskVec) bits;
}

/* a > b ? a : b: a NaN in a gives b, as the scalar comparison does. */
ADATOSK_INLINE AdatoskVec
vec_max (AdatoskVec a, AdatoskVec b)
{
  return vec_select (a > b, a, b);
}

/* Lanes 0..15 in order, the order the scalar code summed its partial sums. */
ADATOSK_INLINE float
vec_sum_lanes (AdatoskVec v)
{
  float sum = v[0];
  for (int l = 1; l < ADATOSK_VEC_LANES; l++)
    sum += v[l];
  return sum;
}

ADATOSK_INLINE float
vec_max_lanes (AdatoskVec v)
{
  float max = v[0];
  for (int l = 1; l < ADATOSK_VEC_LANES; l++)
    max = v[l] > max ? v[l] : max;
  return max;
}

/* exp(x) = 2^k * exp(r), r = x - k ln2 in [-ln2/2, ln2/2] (Cody-Waite split
 * of ln2), exp(r) by a degree-6 polynomial; 2^k built in the exponent bits.
 * k is x log2(e) rounded to nearest by adding 1.5 * 2^23, whose float's low
 * mantissa bits then hold k: no float-to-int conversion, so a NaN (from a
 * forward that overflowed; the caller reports its non-finite result) stays
 * NaN through p without undefined behaviour. Max relative error ~2 ulp. */
ADATOSK_INLINE AdatoskVec
vec_exp (AdatoskVec x)
{
  const float round = 12582912.0f; /* 1.5 * 2^23 */
  /* Clamps written so that a NaN passes them. */
  x = vec_select (x > 88.3762626647949f, vec_splat (88.3762626647949f), x);
  x = vec_select (x < -87.3365478515625f, vec_splat (-87.3365478515625f), x);
  AdatoskVec shifted = x * 1.44269504088896341f + round;
  AdatoskVec k = shifted - round;
  AdatoskVec r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  AdatoskVec p = vec_splat (1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  /* k + 127 in the exponent field: the low bits of `shifted` are k plus the
   * 0x400000 of 1.5 * 2^23's mantissa. Unsigned: a NaN's bits would
   * overflow a signed subtraction and shift. */
  AdatoskVecBits bits = ((AdatoskVecBits) shifted - 0x4B400000u + 127u) << 23;
  return p * (AdatoskVec) bits;
}

#endif
