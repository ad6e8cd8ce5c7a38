#version 450
// The ATSM's final soft mask, in one workgroup (it needs clip-wide means):
//   r[n]  = max over other slots t' of BC(q[t][s], q[t'][s]) (0 with one slot)
//   M     = mean of d,  rbar = mean of r
//   g[t]  = mean over s of dn[t][s],  dn = d / (M + eps)  (ADATOSK_MASK_EPS)
//   m[n]  = sigmoid(alpha_dyn u + alpha_sem (c - (r - rbar)) + beta),
//           u = (dn + g[t]) / 2 - 1.
// Each invocation reads back only the r[n] it wrote itself; g is shared
// through `coherent` memory and a barrier.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require

#include "kernel_interface.h"
#include "spec_constants.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer DBuf { float dist[]; };
layout(std430, binding = 1) readonly buffer QBuf { float q[]; };
layout(std430, binding = 2) readonly buffer ConfBuf { float conf[]; };
layout(std430, binding = 3) buffer RBuf { float r[]; };
layout(std430, binding = 4) coherent buffer GBuf { float g[]; };
layout(std430, binding = 5) writeonly buffer MBuf { float m[]; };

layout(push_constant) uniform Push { ADATOSK_ATSM_MASK_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint tid = gl_LocalInvocationID.x;
  const uint C = pc.classes, S = pc.spatial;
  float sum_d = 0.0, sum_r = 0.0;
  for (uint n = tid; n < pc.tokens; n += WG) {
    uint t = n / S, s = n % S;
    float best = 0.0;
    for (uint t2 = 0; t2 < pc.slots; t2++) {
      if (t2 == t)
        continue;
      uint other = (t2 * S + s) * C;
      float bc = 0.0;
      for (uint k = 0; k < C; k++)
        bc += sqrt(q[n * C + k] * q[other + k]);
      best = max(best, bc);
    }
    r[n] = best;
    sum_d += dist[n];
    sum_r += best;
  }
  const float mean_d = adatosk_workgroup_sum(sum_d) / float(pc.tokens);
  const float mean_r = adatosk_workgroup_sum(sum_r) / float(pc.tokens);
  const float norm = 1.0 / (mean_d + ADATOSK_MASK_EPS);
  for (uint t = tid; t < pc.slots; t += WG) {
    float sum = 0.0;
    for (uint s = 0; s < S; s++)
      sum += dist[t * S + s] * norm;
    g[t] = sum / float(S);
  }
  memoryBarrierBuffer();
  barrier();
  for (uint n = tid; n < pc.tokens; n += WG) {
    float dn = dist[n] * norm;
    float u = 0.5 * (dn + g[n / S]) - 1.0;
    float z = pc.alpha_dyn * u + pc.alpha_sem * (conf[n] - (r[n] - mean_r)) + pc.beta;
    m[n] = 1.0 / (1.0 + exp(-z));
  }
}
