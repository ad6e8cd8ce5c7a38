#version 450
#extension GL_GOOGLE_include_directive : require
// The patch embedding's input: each token's tube of tau x p x p pixels of the
// clip [3][T][H][W], flattened in (c, dt, dy, dx) order to match the Conv3d
// weight [D][3][tau][p][p], so the embedding is one GEMM.
// SPDX-License-Identifier: LGPL-2.1-or-later

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer ClipBuf { float clip[]; };
layout(std430, binding = 1) writeonly buffer PatchBuf { float patches[]; };

layout(push_constant) uniform Push { ADATOSK_IM2COL_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint stride = gl_NumWorkGroups.x * WG;
  for (uint e = gl_GlobalInvocationID.x; e < pc.total; e += stride) {
    uint n = e / pc.patch_dim, j = e % pc.patch_dim;
    uint t = n / pc.spatial, s = n % pc.spatial;
    uint row = s / pc.grid_width, col = s % pc.grid_width;
    uint dx = j % pc.p;
    j /= pc.p;
    uint dy = j % pc.p;
    j /= pc.p;
    uint dt = j % pc.tau;
    uint c = j / pc.tau;
    uint frame = t * pc.tau + dt;
    patches[e] = clip[((c * pc.frames + frame) * pc.height + row * pc.p + dy) * pc.width +
        col * pc.p + dx];
  }
}
