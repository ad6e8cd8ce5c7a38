/* The interface of every compute kernel, written once for both languages:
 * src/vulkan/ops.c includes it as C, the shaders in shaders/ include it as
 * GLSL (glslc -I src/vulkan). A push-constant block is a list of
 * F(type, name) entries that each side expands with its own F, so that the
 * C struct and the GLSL block cannot drift apart; each shared-memory array a
 * kernel declares is sized by a macro here, and the C function that tells
 * the pipeline registry a kernel's shared memory sums the same macros.
 * Types are `uint` and `float` only (4 bytes each: std430 offsets are then
 * 4 i in both languages; ops.c asserts it). Plain preprocessor only.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_KERNEL_INTERFACE_H
#define ADATOSK_VK_KERNEL_INTERFACE_H

/* One entry per line, with its comment: clang-format would pack them. */
/* clang-format off */

/* How a push-constant entry expands: a GLSL block member, or a C struct
 * member of the same size. */
#ifdef GL_core_profile
#define ADATOSK_PUSH_FIELD(type, name) type name;
#else
#define ADATOSK_PUSH_C_uint uint32_t
#define ADATOSK_PUSH_C_float float
#define ADATOSK_PUSH_FIELD(type, name) ADATOSK_PUSH_C_##type name;
#define ADATOSK_PUSH_COUNT(type, name) + 1
#endif

/* gemm.comp: C = alpha A W^T (+ bias) (GELU) (+ C) */
#define ADATOSK_GEMM_PUSH(F) \
  F(uint, M) F(uint, N) F(uint, K) \
  F(uint, lda)      /* A[m][k] = a[a_off + m lda + k] */ \
  F(uint, a_off) \
  F(uint, w_off)    /* W[n][k] = w[w_off + n K + k] (in weights, not words) */ \
  F(uint, ldc)      /* C[m][n] = c[c_off + m ldc + n] */ \
  F(uint, c_off) \
  F(uint, bias_off) /* bias[n] = bias[bias_off + n] */ \
  F(uint, flags)    /* 1: add bias, 2: GELU, 4: accumulate into C */ \
  F(float, alpha)
/* A tile BK x (BM + 1) and W tile BK x (BN + 1): padded by one word so that
 * the transposing stores do not collide in banks. */
#define ADATOSK_GEMM_AS_FLOATS(BM, BN, BK) ((BK) * ((BM) + 1u))
#define ADATOSK_GEMM_WS_FLOATS(BM, BN, BK) ((BK) * ((BN) + 1u))
/* gemm_vec4.comp (same push constants): k-major tiles of vec4, each k row
 * padded by one vec4 (BM and BN are multiples of 4). */
#define ADATOSK_GEMM_VEC4_AS_VEC4S(BM, BN, BK) ((BK) * ((BM) / 4u + 1u))
#define ADATOSK_GEMM_VEC4_WS_VEC4S(BM, BN, BK) ((BK) * ((BN) / 4u + 1u))

/* layernorm.comp */
#define ADATOSK_LAYERNORM_PUSH(F) \
  F(uint, rows) F(uint, cols) F(uint, ldx) F(uint, ldy) F(float, eps)

/* attention.comp */
#define ADATOSK_ATTENTION_PUSH(F) \
  F(uint, n)        /* tokens */ \
  F(uint, dim)      /* D = heads DH */ \
  F(uint, ld_qkv)   /* row stride of qkv (3 D) */ \
  F(uint, ld_out)   /* row stride of the output (D) */ \
  F(uint, flags)    /* 1: add key_bias[j] */ \
  F(float, scale)   /* 1 / sqrt(DH) */
#define ADATOSK_ATTENTION_QS_FLOATS(BR, BC, DH) ((BR) * (DH))
#define ADATOSK_ATTENTION_KS_FLOATS(BR, BC, DH) ((BC) * ((DH) + 1u))
#define ADATOSK_ATTENTION_VS_FLOATS(BR, BC, DH) ((BC) * (DH))
#define ADATOSK_ATTENTION_SS_FLOATS(BR, BC, DH) ((BR) * (BC))
#define ADATOSK_ATTENTION_ROW_FLOATS(BR, BC, DH) (BR)   /* each of 3 row arrays */
/* attention_gpu.comp (same push constants): WG / BR lanes per query row */
#define ADATOSK_ATTENTION_GPU_QS_FLOATS(WG, BR, BC, DH) ((BR) * ((DH) + 1u))
#define ADATOSK_ATTENTION_GPU_KS_FLOATS(WG, BR, BC, DH) ((BC) * ((DH) + 1u))
#define ADATOSK_ATTENTION_GPU_VS_FLOATS(WG, BR, BC, DH) ((BC) * (DH))
#define ADATOSK_ATTENTION_GPU_PS_FLOATS(WG, BR, BC, DH) ((BR) * ((BC) + 1u))
#define ADATOSK_ATTENTION_GPU_LANE_FLOATS(WG, BR, BC, DH) (WG)

/* im2col.comp */
#define ADATOSK_IM2COL_PUSH(F) \
  F(uint, frames) F(uint, height) F(uint, width)   /* T, H, W */ \
  F(uint, tau) F(uint, p) \
  F(uint, grid_width)   /* W / p */ \
  F(uint, spatial)      /* S */ \
  F(uint, patch_dim)    /* 3 tau p p */ \
  F(uint, total)        /* N patch_dim */

/* add.comp */
#define ADATOSK_ADD_PUSH(F) F(uint, total)

/* atsm_token.comp */
#define ADATOSK_ATSM_TOKEN_PUSH(F) \
  F(uint, dim) F(uint, classes) F(uint, spatial) F(uint, slots)

/* atsm_mask.comp */
#define ADATOSK_ATSM_MASK_PUSH(F) \
  F(uint, tokens)   /* N = T' S */ \
  F(uint, classes) F(uint, spatial) F(uint, slots) \
  F(float, alpha_dyn) F(float, alpha_sem) F(float, beta)

/* topk.comp */
#define ADATOSK_TOPK_PUSH(F) \
  F(uint, tokens)   /* N */ \
  F(uint, k)        /* K, 1..N */ \
  F(uint, spatial) F(uint, slots)

/* gather.comp */
#define ADATOSK_GATHER_PUSH(F) \
  F(uint, dim) \
  F(uint, tokens)   /* N: rows of x and m, the bound of every index read */

/* head.comp */
#define ADATOSK_HEAD_PUSH(F) \
  F(uint, rows)     /* K kept tokens */ \
  F(uint, dim) F(uint, classes) F(float, eps)

/* reduce.glsl (layernorm, atsm_token, atsm_mask, head) and topk.comp: one
 * word per invocation. */
#define ADATOSK_REDUCE_FLOATS(WG) (WG)

/* clang-format on */

#endif
