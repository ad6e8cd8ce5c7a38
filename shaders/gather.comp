#version 450
#extension GL_GOOGLE_include_directive : require
// The kept tokens' rows (one workgroup per kept token), their attention key
// bias ln(m + eps) (ADATOSK_MASK_EPS) and their pooling weight m. Every index
// is clamped to the N rows, so that no kept[] content makes it read outside
// x or m (top-K writes exactly K valid indices; this is the second guard).
// SPDX-License-Identifier: LGPL-2.1-or-later

#include "kernel_interface.h"
#include "spec_constants.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer IdxBuf { int kept[]; };
layout(std430, binding = 2) readonly buffer MBuf { float m[]; };
layout(std430, binding = 3) writeonly buffer OutBuf { float xk[]; };
layout(std430, binding = 4) writeonly buffer BiasBuf { float key_bias[]; };
layout(std430, binding = 5) writeonly buffer WeightBuf { float weight[]; };

layout(push_constant) uniform Push { ADATOSK_GATHER_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint k = gl_WorkGroupID.x;
  const uint src = min(uint(kept[k]), pc.tokens - 1u);
  for (uint i = gl_LocalInvocationID.x; i < pc.dim; i += WG)
    xk[k * pc.dim + i] = x[src * pc.dim + i];
  if (gl_LocalInvocationID.x == 0u) {
    float mk = m[src];
    key_bias[k] = log(mk + ADATOSK_MASK_EPS);
    weight[k] = mk;
  }
}
