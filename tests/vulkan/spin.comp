#version 450
#extension GL_EXT_control_flow_attributes : require
// A test-only kernel that keeps one invocation busy for a chosen number of
// rounds of 256 steps of a dependent integer chain (no compiler folds
// xorshift into a closed form), so that a test can make a submission outlive
// the fence timeout on any device and still end by itself. The steps of a
// round are unrolled because lavapipe stops an invocation's loops after
// 65535 iterations in all; a longer spin is several dispatches.
// SPDX-License-Identifier: LGPL-2.1-or-later

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 1;

layout(std430, binding = 0) buffer OutBuf { uint result[]; };

layout(push_constant) uniform Push {
  uint rounds;
  uint seed;
} pc;

void main()
{
  uint h = pc.seed | 1u;
  for (uint r = 0; r < pc.rounds; r++) {
    [[unroll]] for (uint i = 0; i < 256u; i++) {
      h ^= h << 13;
      h ^= h >> 17;
      h ^= h << 5;
    }
  }
  if (gl_LocalInvocationID.x == 0u)
    result[0] = h;
}
