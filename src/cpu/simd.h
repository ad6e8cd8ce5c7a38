/* Hot element-wise loops are compiled for AVX-512, for AVX2+FMA and for the
 * baseline, and the loader picks one at run time by CPU feature level:
 * distributions build for baseline x86-64, where the loops would run 4 floats
 * wide without FMA.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CPU_SIMD_H
#define ADATOSK_CPU_SIMD_H

#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones) && !defined(__SANITIZE_ADDRESS__)
#define ADATOSK_SIMD_CLONES \
  __attribute__ (( \
      target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef ADATOSK_SIMD_CLONES
#define ADATOSK_SIMD_CLONES
#endif

#define ADATOSK_INLINE static inline __attribute__ ((always_inline))

#endif
