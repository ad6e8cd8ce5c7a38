/* Recording one command buffer: each dispatch gets its descriptor set (from
 * pools reset at every recording), its push constants, and a barrier so the
 * next dispatch sees its writes. The first error sticks: later calls do
 * nothing and adatosk_vk_recorder_end() returns it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_RECORDER_H
#define ADATOSK_VK_RECORDER_H

#include "allocator.h"
#include "pipelines.h"

#include <stdio.h>

typedef struct AdatoskVkRecorder AdatoskVkRecorder;

AdatoskStatus adatosk_vk_recorder_new (AdatoskVkContext *context,
    AdatoskVkPipelines *pipelines, AdatoskVkRecorder **recorder_out,
    AdatoskError *error);
void adatosk_vk_recorder_free (AdatoskVkRecorder *recorder);

AdatoskVkContext *adatosk_vk_recorder_context (AdatoskVkRecorder *recorder);

/* Starts a new recording (the previous one must have finished executing). */
AdatoskStatus adatosk_vk_recorder_begin (AdatoskVkRecorder *recorder,
    AdatoskError *error);
AdatoskStatus adatosk_vk_recorder_end (AdatoskVkRecorder *recorder,
    AdatoskError *error);
/* Submits the recorded command buffer and waits (can be repeated). */
AdatoskStatus adatosk_vk_recorder_submit (AdatoskVkRecorder *recorder,
    AdatoskError *error);

/* One dispatch of `kernel` with `spec`; `bindings` has kernel->num_bindings
 * ranges, `push` kernel->push_size bytes. Returns the sticky status. */
AdatoskStatus adatosk_vk_recorder_dispatch (AdatoskVkRecorder *recorder,
    const AdatoskVkKernel *kernel, const uint32_t *spec,
    const AdatoskVkRange *bindings, const void *push, uint32_t groups_x,
    uint32_t groups_y, uint32_t groups_z);
/* A buffer copy, made visible to the host afterwards. */
AdatoskStatus adatosk_vk_recorder_copy (AdatoskVkRecorder *recorder,
    const AdatoskVkRange *src, const AdatoskVkRange *dst, VkDeviceSize size);
/* Records an error found while planning dispatches (e.g. a tile that does
 * not fit); it sticks like the others. */
AdatoskStatus adatosk_vk_recorder_fail (AdatoskVkRecorder *recorder,
    const AdatoskError *error);

int adatosk_vk_recorder_dispatch_count (const AdatoskVkRecorder *recorder);

/* Per-kernel GPU time. With profiling on (context->profile, i.e.
 * ADATOSK_VULKAN_PROFILE=1, or adatosk_vk_recorder_set_profile()), every
 * dispatch is followed by a timestamp, and each submit adds the times to a
 * table keyed by the kernel's shader and the label set before it (e.g.
 * "qkv 800x2304x768"). A recording made with profiling off is not timed. */
void adatosk_vk_recorder_set_profile (AdatoskVkRecorder *recorder, bool on);
void adatosk_vk_recorder_set_label (AdatoskVkRecorder *recorder,
    const char *label);
/* Prints the table (Markdown; per submit, sorted by time) under `title`,
 * nothing when no timed submit happened or `out` is NULL; then optionally
 * clears it. */
void adatosk_vk_recorder_print_profile (AdatoskVkRecorder *recorder, FILE *out,
    const char *title, bool reset);

#endif
