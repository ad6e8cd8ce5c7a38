#version 450
// C = alpha * A W^T (+ bias) (then GELU) (+ the old C): the model's Linear
// layers. A is [M][K] activations (row stride lda), W is [N][K] in PyTorch
// layout, C is [M][N] (row stride ldc). Each workgroup computes a BM x BN
// tile of C, each invocation a TM x TN micro-tile strided across the tile so
// that neighbouring invocations read neighbouring shared-memory words.
// Compiled twice: fp32 weights, and fp16 weights (-DWEIGHT_F16) stored two
// per 32-bit word and widened with unpackHalf2x16, which needs no device
// feature.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint BM = 64;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TM = 4;
layout(constant_id = 5) const uint TN = 4;

layout(std430, binding = 0) readonly buffer ABuf { float a[]; };
#ifdef WEIGHT_F16
layout(std430, binding = 1) readonly buffer WBuf { uint w[]; };
#else
layout(std430, binding = 1) readonly buffer WBuf { float w[]; };
#endif
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) buffer CBuf { float c[]; };

layout(push_constant) uniform Push { ADATOSK_GEMM_PUSH(ADATOSK_PUSH_FIELD) } pc;   // see kernel_interface.h

const uint FLAG_BIAS = 1u, FLAG_GELU = 2u, FLAG_ACCUMULATE = 4u;

// Padded by one word so that the transposing stores do not collide in banks.
const uint AS_STRIDE = BM + 1;
const uint WS_STRIDE = BN + 1;
shared float As[ADATOSK_GEMM_AS_FLOATS(BM, BN, BK)];
shared float Ws[ADATOSK_GEMM_WS_FLOATS(BM, BN, BK)];

float load_w(uint e)
{
#ifdef WEIGHT_F16
  vec2 pair = unpackHalf2x16(w[e >> 1]);
  return (e & 1u) == 0u ? pair.x : pair.y;
#else
  return w[e];
#endif
}

void main()
{
  const uint TX = BN / TN;
  const uint TY = BM / TM;
  const uint tid = gl_LocalInvocationID.x;
  const uint tx = tid % TX;
  const uint ty = tid / TX;
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;

  float acc[TM * TN];
  for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;

  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    for (uint e = tid; e < BM * BK; e += WG) {
      uint r = e / BK, k = e % BK;
      uint gm = m0 + r, gk = k0 + k;
      As[k * AS_STRIDE + r] = (gm < pc.M && gk < pc.K) ? a[pc.a_off + gm * pc.lda + gk] : 0.0;
    }
    for (uint e = tid; e < BN * BK; e += WG) {
      uint r = e / BK, k = e % BK;
      uint gn = n0 + r, gk = k0 + k;
      Ws[k * WS_STRIDE + r] = (gn < pc.N && gk < pc.K) ? load_w(pc.w_off + gn * pc.K + gk) : 0.0;
    }
    barrier();
    for (uint k = 0; k < BK; k++) {
      float av[TM];
      float wv[TN];
      for (uint i = 0; i < TM; i++)
        av[i] = As[k * AS_STRIDE + ty + i * TY];
      for (uint j = 0; j < TN; j++)
        wv[j] = Ws[k * WS_STRIDE + tx + j * TX];
      for (uint i = 0; i < TM; i++)
        for (uint j = 0; j < TN; j++)
          acc[i * TN + j] = fma(av[i], wv[j], acc[i * TN + j]);
    }
    barrier();
  }

  for (uint i = 0; i < TM; i++) {
    uint gm = m0 + ty + i * TY;
    if (gm >= pc.M)
      continue;
    for (uint j = 0; j < TN; j++) {
      uint gn = n0 + tx + j * TX;
      if (gn >= pc.N)
        continue;
      float v = pc.alpha * acc[i * TN + j];
      if ((pc.flags & FLAG_BIAS) != 0u)
        v += bias[pc.bias_off + gn];
      if ((pc.flags & FLAG_GELU) != 0u)
        v = adatosk_gelu(v);
      uint ci = pc.c_off + gm * pc.ldc + gn;
      if ((pc.flags & FLAG_ACCUMULATE) != 0u)
        v += c[ci];
      c[ci] = v;
    }
  }
}
