/* adatoskdfer: a classified clip in the three forms that go downstream (the
 * ROI param, the custom meta, the bus message). adatoskmeta.h documents the
 * fields and is what applications read them with.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_RESULTS_H
#define ADATOSK_RESULTS_H

#include <gst/video/video.h>

#include "adatoskmeta.h"
#include "inference.h"

G_BEGIN_DECLS

/* Registers the custom meta once per process (no tags: transformations such
 * as videoconvert and videoscale keep it). */
const GstMetaInfo *adatosk_dfer_meta_register (void);

/* The result of `clip` with every field of the custom meta. */
GstStructure *adatosk_dfer_result_new (const AdatoskClip *clip, gchar **labels,
    guint num_classes, guint num_frames, const gchar *model_name);

/* Adds `result` to `buffer` as a custom meta and, when `roi` is given, as an
 * "expression" param of the ROI. */
void adatosk_dfer_result_attach (const GstStructure *result, GstBuffer *buffer,
    GstVideoRegionOfInterestMeta *roi);

/* The element message's structure for `result` of the face `box`. */
GstStructure *adatosk_dfer_result_to_message (const GstStructure *result,
    const AdatoskBox *box);

G_END_DECLS

#endif /* ADATOSK_RESULTS_H */
