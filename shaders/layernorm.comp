#version 450
// LayerNorm of each row (one workgroup per row), two passes over the row:
// the mean, then the mean of squared deviations (not E[x^2] - E[x]^2, which
// cancels badly when the mean is large).
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer GammaBuf { float gamma[]; };
layout(std430, binding = 2) readonly buffer BetaBuf { float beta[]; };
layout(std430, binding = 3) writeonly buffer YBuf { float y[]; };

layout(push_constant) uniform Push { ADATOSK_LAYERNORM_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint row = gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint xo = row * pc.ldx;
  float part = 0.0;
  for (uint i = tid; i < pc.cols; i += WG)
    part += x[xo + i];
  const float mean = adatosk_workgroup_sum(part) / float(pc.cols);
  part = 0.0;
  for (uint i = tid; i < pc.cols; i += WG) {
    float dev = x[xo + i] - mean;
    part += dev * dev;
  }
  const float var = adatosk_workgroup_sum(part) / float(pc.cols);
  const float inv = 1.0 / sqrt(var + pc.eps);
  const uint yo = row * pc.ldy;
  for (uint i = tid; i < pc.cols; i += WG)
    y[yo + i] = (x[xo + i] - mean) * inv * gamma[i] + beta[i];
}
