/* Random AdaTosk models for the forward tests, written as a .safetensors
 * file in memory and loaded through the public loader (so the tests see
 * exactly what an application sees), and clips with real motion in them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_TEST_MODEL_H
#define ADATOSK_VK_TEST_MODEL_H

#include "adatosk.h"

typedef struct
{
  const char *name;
  int frames, height, width, tubelet, patch;
  int dim, depth, heads, atsm_layer, classes;
  double keep_ratio;
} TestModelSpec;

/* NULL (and a message on stderr) when the loader refuses the file. */
AdatoskModel *test_model_new (const TestModelSpec *spec, uint64_t seed);
/* The .safetensors bytes of that model (malloc'd; *size set): the benchmark
 * writes them for its PyTorch peer, so both load the very same weights. */
unsigned char *test_model_bytes (const TestModelSpec *spec, uint64_t seed,
    size_t *size);

/* A normalised clip [3][T][H][W]: a smooth pattern that moves more in some
 * slots and regions than in others, plus noise. `frozen`: every frame equal. */
float *test_clip_new (const AdatoskConfig *config, uint64_t seed, int frozen);

#endif
