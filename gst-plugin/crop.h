/* adatoskdfer: from a face box in a video frame to the model's input frame.
 *
 * The region around the face (the box grown by the margin on every side, then
 * to the model's aspect ratio, centred on the box) is converted and scaled to
 * the model size by GstVideoConverter (any format it reads, its colour
 * matrices, its resampler), then normalised with the model's mean and std
 * into planar float [3][H][W]. Parts of the region outside the frame are
 * filled with the model's mean colour, which normalises to zero, so a face at
 * the frame's edge keeps its place and scale in the crop.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_CROP_H
#define ADATOSK_CROP_H

#include <gst/video/video.h>

#include "track.h"

G_BEGIN_DECLS

typedef struct AdatoskCropper AdatoskCropper;

AdatoskCropper *adatosk_cropper_new (const GstVideoInfo *in_info, gint width,
    gint height, const gfloat mean[3], const gfloat std[3], gdouble margin);
void adatosk_cropper_free (AdatoskCropper *cropper);

/* The region of the frame the model sees for `box`. */
void adatosk_cropper_region (const AdatoskCropper *cropper,
    const AdatoskBox *box, AdatoskBox *region);

/* Writes the face `box` of `frame` into `out` (3 * height * width floats).
 * FALSE (and `out` untouched) when the region does not overlap the frame. */
gboolean adatosk_cropper_run (AdatoskCropper *cropper,
    const GstVideoFrame *frame, const AdatoskBox *box, gfloat *out);

G_END_DECLS

#endif /* ADATOSK_CROP_H */
