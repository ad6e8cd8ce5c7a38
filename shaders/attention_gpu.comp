#version 450
// The GPU variant of attention.comp (same contract: softmax(Q K^T scale + B) V
// with the ATSM key bias, an online softmax over key tiles in shared memory,
// no n x n matrix), laid out as FlashAttention-2 and ggml-vulkan's scalar
// flash_attn.comp lay out their work:
// - the workgroup is BR query rows x LANES invocations per row
//   (LANES = WG / BR); every invocation takes part in every step, the
//   softmax included (attention.comp runs it on BR invocations);
// - an invocation scores COLS keys of its row at once (COLS independent
//   multiply-add chains over the head dimension instead of one), keeps its
//   row's running maximum in a register, and owns DPT of the row's output
//   columns as accumulators;
// - the lanes of a row agree on its maximum through a small shared array
//   (in a fixed order, so results do not depend on timing), and add their
//   partial sums once at the end;
// - loops over the head dimension and the key tile are unrolled (constant
//   trip counts from the specialization constants): a GPU compiler turns
//   them into independent FMAs; lavapipe's JIT would take far longer, which
//   is why the CPU device keeps attention.comp.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 128;
layout(constant_id = 1) const uint BR = 32;   // query rows per workgroup, divides WG
layout(constant_id = 2) const uint BC = 32;   // keys per step
layout(constant_id = 3) const uint DH = 64;   // head dimension

layout(std430, binding = 0) readonly buffer QkvBuf { float qkv[]; };
layout(std430, binding = 1) readonly buffer BiasBuf { float key_bias[]; };
layout(std430, binding = 2) writeonly buffer OutBuf { float o[]; };

layout(push_constant) uniform Push { ADATOSK_ATTENTION_PUSH(ADATOSK_PUSH_FIELD) } pc;

const uint LANES = WG / BR;
const uint COLS = (BC + LANES - 1u) / LANES;   // keys scored per invocation
const uint DPT = (DH + LANES - 1u) / LANES;    // output columns per invocation
// Padded strides: the rows of a warp read Q and P rows at the same column,
// the lanes of a row read K rows at the same column.
const uint QS_STRIDE = DH + 1u;
const uint KS_STRIDE = DH + 1u;
const uint SS_STRIDE = BC + 1u;
shared float Qs[ADATOSK_ATTENTION_GPU_QS_FLOATS(WG, BR, BC, DH)];
shared float Ks[ADATOSK_ATTENTION_GPU_KS_FLOATS(WG, BR, BC, DH)];
shared float Vs[ADATOSK_ATTENTION_GPU_VS_FLOATS(WG, BR, BC, DH)];
shared float Ps[ADATOSK_ATTENTION_GPU_PS_FLOATS(WG, BR, BC, DH)];
shared float lane_values[ADATOSK_ATTENTION_GPU_LANE_FLOATS(WG, BR, BC, DH)];

void main()
{
  const uint tid = gl_LocalInvocationID.x;
  const uint row = tid / LANES;
  const uint lane = tid % LANES;
  const uint head = gl_WorkGroupID.y;
  const uint q0 = gl_WorkGroupID.x * BR;
  const uint qcol = head * DH;
  const uint kcol = pc.dim + head * DH;
  const uint vcol = 2u * pc.dim + head * DH;

  for (uint e = tid; e < BR * DH; e += WG) {
    uint r = e / DH, d = e % DH;
    Qs[r * QS_STRIDE + d] = q0 + r < pc.n ? qkv[(q0 + r) * pc.ld_qkv + qcol + d] : 0.0;
  }
  float row_max = ADATOSK_NEG_BIG;
  float lane_sum = 0.0;   // this lane's share of the row's sum, at row_max
  float acc[DPT];
  [[unroll]] for (uint j = 0; j < DPT; j++)
    acc[j] = 0.0;

  for (uint j0 = 0; j0 < pc.n; j0 += BC) {
    [[unroll]] for (uint e0 = 0; e0 < BC * DH; e0 += WG) {
      uint e = e0 + tid;
      uint r = e / DH, d = e % DH;
      if (e < BC * DH) {
        bool valid = j0 + r < pc.n;
        uint base = (j0 + r) * pc.ld_qkv;
        Ks[r * KS_STRIDE + d] = valid ? qkv[base + kcol + d] : 0.0;
        Vs[r * DH + d] = valid ? qkv[base + vcol + d] : 0.0;
      }
    }
    barrier();

    float s[COLS];
    [[unroll]] for (uint j = 0; j < COLS; j++)
      s[j] = 0.0;
    [[unroll]] for (uint d = 0; d < DH; d++) {
      float q = Qs[row * QS_STRIDE + d];
      [[unroll]] for (uint j = 0; j < COLS; j++)
        s[j] = fma(q, Ks[min(lane + j * LANES, BC - 1u) * KS_STRIDE + d], s[j]);
    }
    float tile_max = ADATOSK_NEG_BIG;
    [[unroll]] for (uint j = 0; j < COLS; j++) {
      uint c = lane + j * LANES;
      if (c < BC && j0 + c < pc.n) {
        s[j] *= pc.scale;
        if ((pc.flags & 1u) != 0u)
          s[j] += key_bias[j0 + c];
      } else {
        s[j] = ADATOSK_NEG_BIG;
      }
      tile_max = max(tile_max, s[j]);
    }
    lane_values[row * LANES + lane] = tile_max;
    barrier();
    float new_max = row_max;
    [[unroll]] for (uint l = 0; l < LANES; l++)
      new_max = max(new_max, lane_values[row * LANES + l]);
    float rescale = exp(row_max - new_max);
    row_max = new_max;
    lane_sum *= rescale;
    [[unroll]] for (uint j = 0; j < COLS; j++) {
      uint c = lane + j * LANES;
      float p = exp(s[j] - new_max);   // 0 for the keys past n
      lane_sum += p;
      if (c < BC)
        Ps[row * SS_STRIDE + c] = p;
    }
    [[unroll]] for (uint j = 0; j < DPT; j++)
      acc[j] *= rescale;
    barrier();
    [[unroll]] for (uint c = 0; c < BC; c++) {
      float p = Ps[row * SS_STRIDE + c];
      [[unroll]] for (uint j = 0; j < DPT; j++)
        acc[j] = fma(p, Vs[c * DH + min(lane + j * LANES, DH - 1u)], acc[j]);
    }
    barrier();   // before the next tile overwrites Ks, Vs, Ps, lane_values
  }

  lane_values[row * LANES + lane] = lane_sum;
  barrier();
  float row_sum = 0.0;
  [[unroll]] for (uint l = 0; l < LANES; l++)
    row_sum += lane_values[row * LANES + l];
  if (q0 + row < pc.n) {
    [[unroll]] for (uint j = 0; j < DPT; j++) {
      uint d = lane + j * LANES;
      if (d < DH)
        o[(q0 + row) * pc.ld_out + qcol + d] = acc[j] / row_sum;
    }
  }
}
