// Helpers shared by the compute shaders.
// SPDX-License-Identifier: LGPL-2.1-or-later

// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7, below
// float's own rounding of GELU's result); GLSL has no erf.
float adatosk_erf(float x)
{
  float t = 1.0 / (1.0 + 0.3275911 * abs(x));
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 +
      t * (-1.453152027 + t * 1.061405429))));
  float y = 1.0 - poly * exp(-x * x);
  return x < 0.0 ? -y : y;
}

// The exact (erf) GELU the model uses, not the tanh approximation.
float adatosk_gelu(float x)
{
  return 0.5 * x * (1.0 + adatosk_erf(x * 0.70710678118654752));
}

// A large negative number used as "minus infinity" so that exp() of a
// difference is exactly 0 without inf - inf.
const float ADATOSK_NEG_BIG = -1.0e30;
