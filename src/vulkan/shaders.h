/* The SPIR-V modules compiled from the GLSL in shaders/ at build time and
 * embedded in the library (the generated shaders.c; see src/vulkan/embed_spirv.py).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_SHADERS_H
#define ADATOSK_VK_SHADERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct
{
  const char *name; /* e.g. "gemm", "gemm_f16" */
  const uint32_t *code;
  size_t size; /* bytes */
} AdatoskVkShaderCode;

/* The module called `name`, or NULL. */
const AdatoskVkShaderCode *adatosk_vk_shader_find (const char *name);

#endif
