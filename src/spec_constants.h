/* The spec's named constants (docs/model.md), one definition for every
 * implementation: C (src/cpu, src/vulkan) includes this header, the GLSL
 * shaders include it through glslc (-I src), and the PyTorch reference
 * (train/adatosk/model.py) names the same value; tests/vulkan checks that
 * they agree. Plain literals only, so that both languages read it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_SPEC_CONSTANTS_H
#define ADATOSK_SPEC_CONSTANTS_H

/* The mask epsilon: the key bias ln(m + eps) of the blocks after the ATSM,
 * and the normalised dynamics d / (M + eps) (model.py: MASK_EPS). */
#define ADATOSK_MASK_EPS 1e-6

#endif
