#version 450
// Token selection in one workgroup: token i is kept when fewer than K tokens
// rank before it (larger m, or equal m and a lower index: the spec's tie
// rule). Each invocation takes a contiguous run of tokens, so a prefix sum of
// the per-invocation counts writes the kept indices in ascending order.
// Also the fraction of each slot's tokens that was kept.
// SPDX-License-Identifier: LGPL-2.1-or-later

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 256;

layout(std430, binding = 0) readonly buffer MBuf { float m[]; };
layout(std430, binding = 1) coherent buffer KeepBuf { uint keep[]; };
layout(std430, binding = 2) writeonly buffer IdxBuf { int kept[]; };
layout(std430, binding = 3) writeonly buffer FracBuf { float kept_fraction[]; };

layout(push_constant) uniform Push {
  uint tokens;    // N
  uint k;         // K
  uint spatial;   // S
  uint slots;     // T'
} pc;

shared uint counts[WG];

void main()
{
  const uint tid = gl_LocalInvocationID.x;
  const uint run = (pc.tokens + WG - 1) / WG;
  const uint lo = min(pc.tokens, tid * run);
  const uint hi = min(pc.tokens, lo + run);
  uint count = 0;
  for (uint i = lo; i < hi; i++) {
    float mi = m[i];
    uint rank = 0;
    for (uint j = 0; j < pc.tokens; j++) {
      float mj = m[j];
      rank += (mj > mi || (mj == mi && j < i)) ? 1u : 0u;
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
    if (keep[i] != 0u)
      kept[pos++] = int(i);
  for (uint t = tid; t < pc.slots; t += WG) {
    uint n = 0;
    for (uint s = 0; s < pc.spatial; s++)
      n += keep[t * pc.spatial + s];
    kept_fraction[t] = float(n) / float(pc.spatial);
  }
}
