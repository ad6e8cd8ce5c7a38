#version 450
// Multi-head attention softmax(Q K^T * scale + B) V with the additive key
// bias B of the ATSM, in one pass over the keys with an online softmax, so
// that no n x n score matrix is ever stored. One workgroup computes BR query
// rows of one head (gl_WorkGroupID.y); keys and values stream through shared
// memory BC at a time. qkv rows are [q; k; v], heads contiguous in each.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint BR = 32;   // query rows per workgroup
layout(constant_id = 2) const uint BC = 32;   // keys per step
layout(constant_id = 3) const uint DH = 64;   // head dimension

layout(std430, binding = 0) readonly buffer QkvBuf { float qkv[]; };
layout(std430, binding = 1) readonly buffer BiasBuf { float key_bias[]; };
layout(std430, binding = 2) writeonly buffer OutBuf { float o[]; };

layout(push_constant) uniform Push { ADATOSK_ATTENTION_PUSH(ADATOSK_PUSH_FIELD) } pc;

const uint KS_STRIDE = DH + 1;   // padded: score invocations read K rows across banks
shared float Qs[ADATOSK_ATTENTION_QS_FLOATS(BR, BC, DH)];
shared float Ks[ADATOSK_ATTENTION_KS_FLOATS(BR, BC, DH)];   // rows of KS_STRIDE
shared float Vs[ADATOSK_ATTENTION_VS_FLOATS(BR, BC, DH)];
shared float Ss[ADATOSK_ATTENTION_SS_FLOATS(BR, BC, DH)];
shared float row_max[ADATOSK_ATTENTION_ROW_FLOATS(BR, BC, DH)];
shared float row_sum[ADATOSK_ATTENTION_ROW_FLOATS(BR, BC, DH)];
shared float row_rescale[ADATOSK_ATTENTION_ROW_FLOATS(BR, BC, DH)];

// Each invocation owns OPT elements of the BR x DH output tile.
const uint OPT = (BR * DH + WG - 1) / WG;

void main()
{
  const uint tid = gl_LocalInvocationID.x;
  const uint head = gl_WorkGroupID.y;
  const uint q0 = gl_WorkGroupID.x * BR;
  const uint qcol = head * DH;
  const uint kcol = pc.dim + head * DH;
  const uint vcol = 2u * pc.dim + head * DH;

  for (uint e = tid; e < BR * DH; e += WG) {
    uint r = e / DH, d = e % DH;
    Qs[e] = q0 + r < pc.n ? qkv[(q0 + r) * pc.ld_qkv + qcol + d] : 0.0;
  }
  for (uint r = tid; r < BR; r += WG) {
    row_max[r] = ADATOSK_NEG_BIG;
    row_sum[r] = 0.0;
  }
  float acc[OPT];
  for (uint i = 0; i < OPT; i++)
    acc[i] = 0.0;

  for (uint j0 = 0; j0 < pc.n; j0 += BC) {
    for (uint e = tid; e < BC * DH; e += WG) {
      uint r = e / DH, d = e % DH;
      bool valid = j0 + r < pc.n;
      uint row = (j0 + r) * pc.ld_qkv;
      Ks[r * KS_STRIDE + d] = valid ? qkv[row + kcol + d] : 0.0;
      Vs[e] = valid ? qkv[row + vcol + d] : 0.0;
    }
    barrier();
    for (uint e = tid; e < BR * BC; e += WG) {
      uint r = e / BC, c = e % BC;
      float s = ADATOSK_NEG_BIG;
      if (j0 + c < pc.n) {
        float dot = 0.0;
        [[dont_unroll]] for (uint d = 0; d < DH; d++)
          dot = fma(Qs[r * DH + d], Ks[c * KS_STRIDE + d], dot);
        s = dot * pc.scale;
        if ((pc.flags & 1u) != 0u)
          s += key_bias[j0 + c];
      }
      Ss[e] = s;
    }
    barrier();
    for (uint r = tid; r < BR; r += WG) {
      float old_max = row_max[r];
      float new_max = old_max;
      for (uint c = 0; c < BC; c++)
        new_max = max(new_max, Ss[r * BC + c]);
      float sum = 0.0;
      for (uint c = 0; c < BC; c++) {
        float p = exp(Ss[r * BC + c] - new_max);
        Ss[r * BC + c] = p;
        sum += p;
      }
      float rescale = exp(old_max - new_max);
      row_sum[r] = row_sum[r] * rescale + sum;
      row_max[r] = new_max;
      row_rescale[r] = rescale;
    }
    barrier();
    // Keys outermost and not unrolled: the body stays OPT multiply-adds, so
    // that a JIT (lavapipe's LLVM) compiles it in reasonable time.
    for (uint i = 0; i < OPT; i++) {
      uint e = min(tid + i * WG, BR * DH - 1u);
      acc[i] *= row_rescale[e / DH];
    }
    [[dont_unroll]] for (uint c = 0; c < BC; c++) {
      for (uint i = 0; i < OPT; i++) {
        uint e = min(tid + i * WG, BR * DH - 1u);
        acc[i] = fma(Ss[(e / DH) * BC + c], Vs[c * DH + e % DH], acc[i]);
      }
    }
    barrier();
  }

  for (uint i = 0; i < OPT; i++) {
    uint e = tid + i * WG;
    if (e < BR * DH) {
      uint r = e / DH, d = e % DH;
      if (q0 + r < pc.n)
        o[(q0 + r) * pc.ld_out + qcol + d] = acc[i] / row_sum[r];
    }
  }
}
