// A workgroup-wide sum through shared memory, in a fixed order (so results
// do not depend on timing) and without subgroup operations (so nothing
// depends on the subgroup size). Include after declaring WG, a power of two,
// and including kernel_interface.h.
// SPDX-License-Identifier: LGPL-2.1-or-later

shared float adatosk_partial[ADATOSK_REDUCE_FLOATS(WG)];

// Every invocation of the workgroup must call it (it has barriers); every
// invocation gets the sum.
float adatosk_workgroup_sum(float value)
{
  uint tid = gl_LocalInvocationID.x;
  adatosk_partial[tid] = value;
  barrier();
  for (uint stride = WG / 2; stride > 0; stride >>= 1) {
    if (tid < stride)
      adatosk_partial[tid] += adatosk_partial[tid + stride];
    barrier();
  }
  float sum = adatosk_partial[0];
  barrier();
  return sum;
}
