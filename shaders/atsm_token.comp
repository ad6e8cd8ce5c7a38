#version 450
// Per-token ATSM quantities (one workgroup per token n = t S + s):
//   d[n] = ||E[t][s] - E[t-1][s]|| / sqrt(D) from the patch embeddings E
//          before the position table (slot 0 takes slot 1's value; 0 when
//          there is one slot),
//   q[n] = softmax of the prototype logits (already divided by sqrt(D)),
//   c[n] = 1 - H(q[n]) / ln C, with 0 ln 0 = 0.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer EBuf { float emb[]; };
layout(std430, binding = 1) readonly buffer LogitBuf { float logits[]; };
layout(std430, binding = 2) writeonly buffer DBuf { float dist[]; };
layout(std430, binding = 3) writeonly buffer QBuf { float q[]; };
layout(std430, binding = 4) writeonly buffer ConfBuf { float conf[]; };

layout(push_constant) uniform Push { ADATOSK_ATSM_TOKEN_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint n = gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  float part = 0.0;
  if (pc.slots > 1u) {
    uint t = n / pc.spatial, s = n % pc.spatial;
    uint ta = t == 0u ? 1u : t;
    uint cur = (ta * pc.spatial + s) * pc.dim;
    uint prev = ((ta - 1u) * pc.spatial + s) * pc.dim;
    for (uint i = tid; i < pc.dim; i += WG) {
      float diff = emb[cur + i] - emb[prev + i];
      part += diff * diff;
    }
  }
  const float sum = adatosk_workgroup_sum(part);
  if (tid != 0u)
    return;
  dist[n] = sqrt(sum) / sqrt(float(pc.dim));

  const uint lo = n * pc.classes;
  float top = logits[lo];
  for (uint k = 1; k < pc.classes; k++)
    top = max(top, logits[lo + k]);
  float total = 0.0;
  for (uint k = 0; k < pc.classes; k++)
    total += exp(logits[lo + k] - top);
  float entropy = 0.0;
  for (uint k = 0; k < pc.classes; k++) {
    float p = exp(logits[lo + k] - top) / total;
    q[lo + k] = p;
    if (p > 0.0)
      entropy -= p * log(p);
  }
  conf[n] = 1.0 - entropy / log(float(pc.classes));
}
