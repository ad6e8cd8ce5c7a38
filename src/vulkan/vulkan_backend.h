/* The Vulkan backend's state behind the vtable; tests and the benchmark call
 * it directly to compare fp32 and fp16 weight storage in one process.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_BACKEND_H
#define ADATOSK_VK_BACKEND_H

#include "adatosk.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct AdatoskVkBackend AdatoskVkBackend;

/* The vtable's create() calls this with options->weights_fp16. */
AdatoskVkBackend *adatosk_vk_backend_new (const AdatoskModel *model,
    int device_index, bool weights_f16, AdatoskError *error);
void adatosk_vk_backend_free (AdatoskVkBackend *backend);
const char *adatosk_vk_backend_device (const AdatoskVkBackend *backend);
AdatoskStatus adatosk_vk_backend_forward (AdatoskVkBackend *backend,
    const float *clip, double keep_ratio, AdatoskOutput *output,
    AdatoskError *error);
/* The batch of adatosk_backend_forward_batch(): one command buffer, one
 * submit. A batch larger than any before reallocates the activations. */
AdatoskStatus adatosk_vk_backend_forward_batch (AdatoskVkBackend *backend,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs, AdatoskError *error);

/* Per-kernel GPU times of the forwards (see recorder.h): on from the start
 * with ADATOSK_VULKAN_PROFILE=1 (the table is then printed on stderr when
 * the backend is freed), or from the next recording with set_profile(). */
void adatosk_vk_backend_set_profile (AdatoskVkBackend *backend, bool on);
void adatosk_vk_backend_print_profile (AdatoskVkBackend *backend, FILE *out,
    const char *title, bool reset);
/* The name of its device ("NVIDIA H200 (discrete GPU), Vulkan 1.3.277"). */
const char *adatosk_vk_backend_device_name (const AdatoskVkBackend *backend);
bool adatosk_vk_backend_is_cpu_device (const AdatoskVkBackend *backend);

#endif
