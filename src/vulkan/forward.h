/* The whole AdaTosk forward on the device for a batch of clips: activations
 * for `capacity` clips allocated once (from the forward's own allocator, so
 * a larger batch replaces the whole forward), one command buffer recorded per
 * kept-token count K and batch size (kept while neither changes), one submit
 * per batch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_FORWARD_H
#define ADATOSK_VK_FORWARD_H

#include "ops.h"
#include "weights.h"

typedef struct AdatoskVkForward AdatoskVkForward;

/* `weights` must outlive the forward. */
AdatoskStatus adatosk_vk_forward_new (AdatoskVkContext *context,
    AdatoskVkPipelines *pipelines, const AdatoskVkTuning *tuning,
    const AdatoskModel *model, const AdatoskVkWeights *weights, int capacity,
    AdatoskVkForward **forward_out, AdatoskError *error);
void adatosk_vk_forward_free (AdatoskVkForward *forward);

/* clips[b] -> outputs[b] for 1 <= batch <= capacity. */
AdatoskStatus adatosk_vk_forward_run (AdatoskVkForward *forward,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs, AdatoskError *error);
int adatosk_vk_forward_capacity (const AdatoskVkForward *forward);

/* Its recorder (the per-kernel profile lives there). */
AdatoskVkRecorder *adatosk_vk_forward_recorder (AdatoskVkForward *forward);
/* The next forward records its command buffer again. */
void adatosk_vk_forward_invalidate (AdatoskVkForward *forward);

/* Dispatches in the current recording (0 before the first forward). */
int adatosk_vk_forward_dispatch_count (const AdatoskVkForward *forward);

#endif
