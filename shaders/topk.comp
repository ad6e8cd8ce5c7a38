#version 450
#extension GL_GOOGLE_include_directive : require
// Token selection in one workgroup: token i is kept when fewer than K tokens
// rank before it (larger m, or equal m and a lower index: the spec's tie
// rule). m is compared through an order key, an integer whose order is the
// float order (-0 equal to +0) with NaN below every number, so the ranks are
// a strict total order whatever m holds: exactly K tokens are kept, also for
// a NaN or infinite mask (the host then reports the non-finite values), and
// no index past K is ever written. Each invocation takes a contiguous run of
// tokens, so a prefix sum of the per-invocation counts writes the kept
// indices in ascending order. Also the fraction of each slot's tokens kept.
// SPDX-License-Identifier: LGPL-2.1-or-later

#include "kernel_interface.h"
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer MBuf { float m[]; };
layout(std430, binding = 1) coherent buffer KeepBuf { uint keep[]; };
layout(std430, binding = 2) writeonly buffer IdxBuf { int kept[]; };
layout(std430, binding = 3) writeonly buffer FracBuf { float kept_fraction[]; };

layout(push_constant) uniform Push { ADATOSK_TOPK_PUSH(ADATOSK_PUSH_FIELD) } pc;

shared uint counts[ADATOSK_REDUCE_FLOATS(WG)];

// Bits, not isnan(): a driver may compile isnan() away under fast math.
uint order_key(float v)
{
  uint b = floatBitsToUint(v);
  if ((b & 0x7fffffffu) > 0x7f800000u)
    return 0u;                                   // NaN: below -inf
  if ((b & 0x7fffffffu) == 0u)
    b = 0u;                                      // -0 as +0
  return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

void main()
{
  const uint tid = gl_LocalInvocationID.x;
  const uint run = (pc.tokens + WG - 1) / WG;
  const uint lo = min(pc.tokens, tid * run);
  const uint hi = min(pc.tokens, lo + run);
  uint count = 0;
  for (uint i = lo; i < hi; i++) {
    uint ki = order_key(m[i]);
    uint rank = 0;
    for (uint j = 0; j < pc.tokens; j++) {
      uint kj = order_key(m[j]);
      rank += (kj > ki || (kj == ki && j < i)) ? 1u : 0u;
    }
    uint flag = rank < pc.k ? 1u : 0u;
    keep[i] = flag;
    count += flag;
  }
  counts[tid] = count;
  memoryBarrierBuffer();
  barrier();
  uint pos = 0;
  for (uint t = 0; t < tid; t++)
    pos += counts[t];
  for (uint i = lo; i < hi; i++)
    if (keep[i] != 0u && pos < pc.k)
      kept[pos++] = int(i);
  for (uint t = tid; t < pc.slots; t += WG) {
    uint n = 0;
    for (uint s = 0; s < pc.spatial; s++)
      n += keep[t * pc.spatial + s];
    kept_fraction[t] = float(n) / float(pc.spatial);
  }
}
