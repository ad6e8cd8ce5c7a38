#version 450
// The classification head in one workgroup: h = sum_k w_k x_k / sum_k w_k
// (mask-weighted pooling of the kept tokens), LayerNorm (fc_norm), the
// Linear head, softmax. Invocation i owns the columns i, i + WG, ... of h, so
// it only reads back what it wrote itself.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer XBuf { float x[]; };
layout(std430, binding = 1) readonly buffer WeightBuf { float weight[]; };
layout(std430, binding = 2) readonly buffer GammaBuf { float gamma[]; };
layout(std430, binding = 3) readonly buffer BetaBuf { float beta[]; };
layout(std430, binding = 4) readonly buffer HeadWBuf { float head_w[]; };
layout(std430, binding = 5) readonly buffer HeadBBuf { float head_b[]; };
layout(std430, binding = 6) buffer HBuf { float h[]; };
layout(std430, binding = 7) buffer OutBuf { float result[]; };  // logits [C], probs [C]

layout(push_constant) uniform Push { ADATOSK_HEAD_PUSH(ADATOSK_PUSH_FIELD) } pc;

void main()
{
  const uint tid = gl_LocalInvocationID.x;
  float part = 0.0;
  for (uint k = tid; k < pc.rows; k += WG)
    part += weight[k];
  const float total_weight = adatosk_workgroup_sum(part);

  part = 0.0;
  for (uint d = tid; d < pc.dim; d += WG) {
    float acc = 0.0;
    for (uint k = 0; k < pc.rows; k++)
      acc = fma(weight[k], x[k * pc.dim + d], acc);
    float v = acc / total_weight;
    h[d] = v;
    part += v;
  }
  const float mean = adatosk_workgroup_sum(part) / float(pc.dim);
  part = 0.0;
  for (uint d = tid; d < pc.dim; d += WG) {
    float dev = h[d] - mean;
    part += dev * dev;
  }
  const float inv = 1.0 / sqrt(adatosk_workgroup_sum(part) / float(pc.dim) + pc.eps);
  for (uint d = tid; d < pc.dim; d += WG)
    h[d] = (h[d] - mean) * inv * gamma[d] + beta[d];

  for (uint c = 0; c < pc.classes; c++) {
    part = 0.0;
    for (uint d = tid; d < pc.dim; d += WG)
      part = fma(h[d], head_w[c * pc.dim + d], part);
    float logit = adatosk_workgroup_sum(part) + head_b[c];
    if (tid == 0u)
      result[c] = logit;
  }
  if (tid != 0u)
    return;
  float top = result[0];
  for (uint c = 1; c < pc.classes; c++)
    top = max(top, result[c]);
  float total = 0.0;
  for (uint c = 0; c < pc.classes; c++)
    total += exp(result[c] - top);
  for (uint c = 0; c < pc.classes; c++)
    result[pc.classes + c] = exp(result[c] - top) / total;
}
