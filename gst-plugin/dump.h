/* adatoskdfer: the clips the model gets, written to a directory
 * (the dump-location property).
 *
 * Training data must be cut exactly the way the element cuts it at inference
 * (same detector boxes, tracker, margin, scaler, normalisation), so the
 * dataset tool (train/make_dataset.py) runs the element itself and reads
 * what this writes:
 *
 *   DIR/clip-<n>.npy   float32 [3][T][H][W], normalised with the model's
 *                      mean/std: the model's input, byte for byte (NumPy
 *                      format 1.0, little-endian)
 *   DIR/clips.jsonl    one JSON object per clip, in the order they were
 *                      taken: {"file", "track", "start", "end", "pts": [T],
 *                      "box": [x, y, w, h], "shape": [3, T, H, W]}; times in
 *                      nanoseconds, -1 when unknown; "box" is the face in
 *                      the last frame.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_DUMP_H
#define ADATOSK_DUMP_H

#include <gst/gst.h>

#include "track.h"

G_BEGIN_DECLS

typedef struct AdatoskDump AdatoskDump;

/* Creates `dir` when missing and starts a new index there (an earlier
 * clips.jsonl is replaced). */
AdatoskDump *adatosk_dump_new (const gchar *dir, guint num_frames, guint height,
    guint width, GError **error);
void adatosk_dump_free (AdatoskDump *dump);

/* Writes one clip ([3][T][H][W] floats) and its index line. */
gboolean adatosk_dump_write (AdatoskDump *dump, const gfloat *pixels,
    guint track_id, GstClockTime start, GstClockTime end,
    const GstClockTime *frame_pts, const AdatoskBox *box, GError **error);

G_END_DECLS

#endif /* ADATOSK_DUMP_H */
