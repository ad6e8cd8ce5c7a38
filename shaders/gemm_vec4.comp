#version 450
// The GPU variant of gemm.comp (same contract: C = alpha A W^T (+ bias)
// (GELU) (+ the old C), the same push constants), for shapes whose K, row
// strides and offsets are multiples of 4 floats (ops.c checks; gemm.comp
// takes the others):
// - global loads of A and W are vec4 (four halves, one uvec2, with
//   -DWEIGHT_F16), so a warp reads whole 16-byte words;
// - the tiles are kept k-major in shared memory as vec4, so an invocation
//   reads four rows of A and four columns of W with one 16-byte load each;
// - the next k-tile is loaded into registers while the current one is
//   multiplied (register prefetch: one shared buffer, the global latency
//   hidden behind BM BN BK / WG multiply-adds);
// - each invocation owns TM x TN outputs as groups of 4 rows and 4 columns
//   strided across the tile, so the invocations of a warp read neighbouring
//   16-byte words (no bank conflicts) and reuse each load TN (TM) times.
// SPDX-License-Identifier: LGPL-2.1-or-later
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const uint BM = 128;
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;   // a multiple of 4
layout(constant_id = 4) const uint TM = 8;    // a multiple of 4
layout(constant_id = 5) const uint TN = 4;    // a multiple of 4

layout(std430, binding = 0) readonly buffer ABuf { vec4 a4[]; };
#ifdef WEIGHT_F16
layout(std430, binding = 1) readonly buffer WBuf { uvec2 w4[]; };   // 4 halves
#else
layout(std430, binding = 1) readonly buffer WBuf { vec4 w4[]; };
#endif
layout(std430, binding = 2) readonly buffer BiasBuf { float bias[]; };
layout(std430, binding = 3) buffer CBuf { float c[]; };

layout(push_constant) uniform Push { ADATOSK_GEMM_PUSH(ADATOSK_PUSH_FIELD) } pc;   // see kernel_interface.h

const uint FLAG_BIAS = 1u, FLAG_GELU = 2u, FLAG_ACCUMULATE = 4u;

// Rows of BM/4 (BN/4) vec4 per k, padded by one vec4: the transposing
// stores of neighbouring invocations then fall in different banks.
const uint AS_STRIDE = BM / 4u + 1u;
const uint WS_STRIDE = BN / 4u + 1u;
shared vec4 As[ADATOSK_GEMM_VEC4_AS_VEC4S(BM, BN, BK)];
shared vec4 Ws[ADATOSK_GEMM_VEC4_WS_VEC4S(BM, BN, BK)];

const uint KQ = BK / 4u;   // vec4s per tile row
const uint A_LOADS = (BM * KQ + WG - 1u) / WG;
const uint W_LOADS = (BN * KQ + WG - 1u) / WG;

vec4 load_w4(uint e)   // e: the first of four weights, a multiple of 4
{
#ifdef WEIGHT_F16
  uvec2 h = w4[e >> 2];
  return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
#else
  return w4[e >> 2];
#endif
}

vec4 a_next[A_LOADS];
vec4 w_next[W_LOADS];

void load_tile(uint m0, uint n0, uint k0)
{
  [[unroll]] for (uint l = 0; l < A_LOADS; l++) {
    uint e = gl_LocalInvocationID.x + l * WG;
    uint r = e / KQ, gk = k0 + (e % KQ) * 4u, gm = m0 + r;
    a_next[l] = (e < BM * KQ && gm < pc.M && gk < pc.K)
        ? a4[(pc.a_off + gm * pc.lda + gk) >> 2] : vec4(0.0);
  }
  [[unroll]] for (uint l = 0; l < W_LOADS; l++) {
    uint e = gl_LocalInvocationID.x + l * WG;
    uint r = e / KQ, gk = k0 + (e % KQ) * 4u, gn = n0 + r;
    w_next[l] = (e < BN * KQ && gn < pc.N && gk < pc.K)
        ? load_w4(pc.w_off + gn * pc.K + gk) : vec4(0.0);
  }
}

// The registers into shared memory, transposed to k-major.
void store_tile()
{
  [[unroll]] for (uint l = 0; l < A_LOADS; l++) {
    uint e = gl_LocalInvocationID.x + l * WG;
    if (e < BM * KQ) {
      uint r = e / KQ, k = (e % KQ) * 4u;
      [[unroll]] for (uint i = 0; i < 4u; i++)
        As[(k + i) * AS_STRIDE + r / 4u][r % 4u] = a_next[l][i];
    }
  }
  [[unroll]] for (uint l = 0; l < W_LOADS; l++) {
    uint e = gl_LocalInvocationID.x + l * WG;
    if (e < BN * KQ) {
      uint r = e / KQ, k = (e % KQ) * 4u;
      [[unroll]] for (uint i = 0; i < 4u; i++)
        Ws[(k + i) * WS_STRIDE + r / 4u][r % 4u] = w_next[l][i];
    }
  }
}

void main()
{
  const uint TX = BN / TN;   // invocations across the tile's columns
  const uint TY = BM / TM;
  const uint tid = gl_LocalInvocationID.x;
  const uint tx = tid % TX;
  const uint ty = tid / TX;
  const uint m0 = gl_WorkGroupID.y * BM;
  const uint n0 = gl_WorkGroupID.x * BN;

  float acc[TM * TN];
  [[unroll]] for (uint i = 0; i < TM * TN; i++)
    acc[i] = 0.0;

  load_tile(m0, n0, 0u);
  store_tile();
  barrier();
  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    bool more = k0 + BK < pc.K;
    if (more)
      load_tile(m0, n0, k0 + BK);   // in flight during the products below
    [[unroll]] for (uint k = 0; k < BK; k++) {
      vec4 av[TM / 4u];
      vec4 wv[TN / 4u];
      [[unroll]] for (uint i = 0; i < TM / 4u; i++)
        av[i] = As[k * AS_STRIDE + i * TY + ty];
      [[unroll]] for (uint j = 0; j < TN / 4u; j++)
        wv[j] = Ws[k * WS_STRIDE + j * TX + tx];
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++)
          acc[i * TN + j] = fma(av[i / 4u][i % 4u], wv[j / 4u][j % 4u], acc[i * TN + j]);
    }
    barrier();
    if (more) {
      store_tile();
      barrier();
    }
  }

  [[unroll]] for (uint i = 0; i < TM; i++) {
    uint gm = m0 + ((i / 4u) * TY + ty) * 4u + i % 4u;
    if (gm >= pc.M)
      continue;
    [[unroll]] for (uint j = 0; j < TN; j++) {
      uint gn = n0 + ((j / 4u) * TX + tx) * 4u + j % 4u;
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
