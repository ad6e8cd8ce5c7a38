/* adatoskdfer: face tracks (IoU matching across frames) and each track's
 * ring of preprocessed frames.
 *
 * Upstream detectors such as facedetect give every face the id 0, so the
 * element gives faces identities itself: each frame's boxes are matched to
 * the live tracks greedily by intersection over union. A track that has no
 * box in a frame keeps its last box ("coasts"), so its ring keeps sampling at
 * a regular pace through a missed detection; after `timeout` frames without
 * a box it is dropped.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_TRACK_H
#define ADATOSK_TRACK_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* A box in frame pixels; it may reach beyond the frame. */
typedef struct
{
  gint x, y, w, h;
} AdatoskBox;

typedef struct
{
  guint id;       /* 1, 2, ... in order of appearance */
  AdatoskBox box; /* the last matched box */
  guint64 age;    /* frames since the track appeared (0 first) */
  guint missed;   /* consecutive frames without a box */

  /* The ring: `capacity` frames of `frame_floats` floats each, oldest first
   * starting at `head`. */
  guint capacity;
  gsize frame_floats;
  gfloat **frames;
  GstClockTime *pts;
  GstClockTime *duration;
  guint head;
  guint count;
  guint since_last;    /* frames pushed since the last clip */
  gboolean taken;      /* a clip was taken (or skipped) */
  gboolean classified; /* a clip of this track was taken */

  /* The latest result (custom meta fields), NULL before the first. */
  GstStructure *result;
} AdatoskTrack;

typedef struct
{
  GstObject *owner;  /* for the log only; not a reference */
  GPtrArray *tracks; /* AdatoskTrack*, in order of appearance */
  guint next_id;
  guint max_tracks;
  guint timeout;
  gdouble iou_threshold;
  guint ring_frames;
  gsize frame_floats;
  gboolean *track_used; /* max_tracks flags, scratch of update() */
} AdatoskTracker;

/* `owner` (may be NULL) names the element in the log (adatoskdfer-track). */
AdatoskTracker *adatosk_tracker_new (GstObject *owner, guint max_tracks,
    guint timeout, gdouble iou_threshold, guint ring_frames,
    gsize frame_floats);
void adatosk_tracker_free (AdatoskTracker *tracker);
/* Drops every track (`why` is logged); ids keep counting up so that an
 * application never sees one id for two faces. */
void adatosk_tracker_reset (AdatoskTracker *tracker, const gchar *why);

/* Intersection over union; 0 when either box is empty. */
gdouble adatosk_box_iou (const AdatoskBox *a, const AdatoskBox *b);

/* One frame: matches `boxes` to the tracks (matches[i] is the track of
 * boxes[i], or NULL when max-tracks are alive already), starts tracks for new
 * faces, ages every track and drops the ones unseen for `timeout` frames. */
void adatosk_tracker_update (AdatoskTracker *tracker, const AdatoskBox *boxes,
    guint n_boxes, AdatoskTrack **matches);

AdatoskTrack *adatosk_tracker_find (AdatoskTracker *tracker, guint id);

/* The slot for the track's next frame (overwriting the oldest when the ring
 * is full), to be filled with `frame_floats` floats. */
gfloat *adatosk_track_push (AdatoskTrack *track, GstClockTime pts,
    GstClockTime duration);

/* Whether the ring holds a full clip and `stride` frames arrived since the
 * last one taken or skipped (or none was yet). */
gboolean adatosk_track_clip_ready (const AdatoskTrack *track, guint stride);

/* Copies the ring into `clip` [3][capacity][plane] (plane = frame_floats / 3),
 * oldest frame first; when the ring is not full the newest frame is repeated.
 * Marks the track classified. `frame_pts` (capacity entries, or NULL) gets
 * each clip frame's PTS, `start` the first frame's PTS, `end` the end of the
 * last frame (PTS + duration when known). */
void adatosk_track_take_clip (AdatoskTrack *track, gfloat *clip,
    GstClockTime *frame_pts, GstClockTime *start, GstClockTime *end);

/* Skips the clip that is due (the element dropped it): the next one is due
 * `stride` frames later. */
void adatosk_track_skip_clip (AdatoskTrack *track);

void adatosk_track_set_result (AdatoskTrack *track, GstStructure *result);

G_END_DECLS

#endif /* ADATOSK_TRACK_H */
