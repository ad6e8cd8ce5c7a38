#version 450
#extension GL_GOOGLE_include_directive : require
// out = a + b elementwise (the position table added to the patch
// embeddings E, which the ATSM still reads without it).
// SPDX-License-Identifier: LGPL-2.1-or-later

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
layout(std430, binding = 1) readonly buffer BBuf { float b[]; };
layout(std430, binding = 2) writeonly buffer OutBuf { float o[]; };

layout(push_constant) uniform Push { ADATOSK_ADD_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint stride = gl_NumWorkGroups.x * WG;
  for (uint e = gl_GlobalInvocationID.x; e < pc.total; e += stride)
    o[e] = a[e] + b[e];
}
