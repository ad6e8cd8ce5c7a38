/* The whole AdaTosk forward on the device: activations allocated once,
 * one command buffer recorded per kept-token count K (and kept while K does
 * not change), one submit per clip.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_VK_FORWARD_H
#define ADATOSK_VK_FORWARD_H

#include "ops.h"
#include "weights.h"

typedef struct AdatoskVkForward AdatoskVkForward;

/* `weights` must outlive the forward. */
AdatoskStatus adatosk_vk_forward_new (AdatoskVkContext *context,
    AdatoskVkAllocator *allocator, AdatoskVkPipelines *pipelines,
    const AdatoskVkTuning *tuning, const AdatoskModel *model,
    const AdatoskVkWeights *weights, AdatoskVkForward **forward_out,
    AdatoskError *error);
void adatosk_vk_forward_free (AdatoskVkForward *forward);

AdatoskStatus adatosk_vk_forward_run (AdatoskVkForward *forward,
    const float *clip, double keep_ratio, AdatoskOutput *output,
    AdatoskError *error);

/* Its recorder (the per-kernel profile lives there). */
AdatoskVkRecorder *adatosk_vk_forward_recorder (AdatoskVkForward *forward);
/* The next forward records its command buffer again. */
void adatosk_vk_forward_invalidate (AdatoskVkForward *forward);

/* Dispatches in the current recording (0 before the first forward). */
int adatosk_vk_forward_dispatch_count (const AdatoskVkForward *forward);

#endif
