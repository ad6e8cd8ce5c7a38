/* adatoskdfer: the faces of one frame, taken from upstream region-of-interest
 * metas.
 *
 * Upstream metadata is untrusted input: a detector gone wrong, or a hostile
 * element in a media server, can put any number of ROI metas of any size on a
 * buffer. So the faces taken per frame are bounded (`max_faces`, the largest
 * by the area they show inside the frame, ties to the earlier meta), boxes
 * are clamped to a few frame sizes, metas of another type, empty boxes and
 * boxes that start outside the frame are skipped, and the memory used is
 * `max_faces` entries whatever the number of metas (no allocation sized by
 * upstream).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_FACES_H
#define ADATOSK_FACES_H

#include <gst/video/video.h>

#include "track.h"

G_BEGIN_DECLS

/* One face of the frame: its box (clamped) and the ROI meta it came from. */
typedef struct
{
  AdatoskBox box;
  GstVideoRegionOfInterestMeta *roi;
} AdatoskFace;

typedef struct AdatoskFaces AdatoskFaces;

AdatoskFaces *adatosk_faces_new (guint max_faces);
void adatosk_faces_free (AdatoskFaces *faces);

/* Whether `buf` carries at least one ROI meta of type `roi_type`. */
gboolean adatosk_faces_buffer_has_roi (GstBuffer *buf, GQuark roi_type);

/* Takes the faces of `buf` (ROI metas of type `roi_type` in a frame of
 * `width` x `height`), at most `max_faces` of them, in the order of their
 * metas. Returns how many usable faces the buffer had: more than the count
 * taken when some were left out. */
guint adatosk_faces_gather (AdatoskFaces *faces, GstBuffer *buf,
    GQuark roi_type, gint width, gint height);

/* The whole frame as the one face, with a ROI meta of type `roi_type` added
 * to `buf` for its results. */
void adatosk_faces_full_frame (AdatoskFaces *faces, GstBuffer *buf,
    GQuark roi_type, gint width, gint height);

/* The faces taken by the last call: `n` entries, valid until the next. */
const AdatoskFace *adatosk_faces_get (const AdatoskFaces *faces, guint *n);

G_END_DECLS

#endif /* ADATOSK_FACES_H */
