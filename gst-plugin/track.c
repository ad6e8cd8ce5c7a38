/* adatoskdfer: face tracks and their rings of frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "track.h"

#include "debug.h"

#include <string.h>

#define GST_CAT_DEFAULT adatosk_dfer_track_debug

static AdatoskTrack *
track_new (guint id, const AdatoskBox *box, guint capacity, gsize frame_floats)
{
  AdatoskTrack *track = g_new0 (AdatoskTrack, 1);

  track->id = id;
  track->box = *box;
  track->capacity = capacity;
  track->frame_floats = frame_floats;
  track->frames = g_new0 (gfloat *, capacity);
  track->pts = g_new0 (GstClockTime, capacity);
  track->duration = g_new0 (GstClockTime, capacity);
  return track;
}

static void
track_free (gpointer data)
{
  AdatoskTrack *track = data;

  for (guint i = 0; i < track->capacity; i++)
    g_free (track->frames[i]);
  g_free (track->frames);
  g_free (track->pts);
  g_free (track->duration);
  if (track->result)
    gst_structure_free (track->result);
  g_free (track);
}

AdatoskTracker *
adatosk_tracker_new (GstObject *owner, guint max_tracks, guint timeout,
    gdouble iou_threshold, guint ring_frames, gsize frame_floats)
{
  AdatoskTracker *tracker;

  g_return_val_if_fail (max_tracks > 0 && timeout > 0 && ring_frames > 0
          && frame_floats > 0,
      NULL);
  tracker = g_new0 (AdatoskTracker, 1);
  tracker->owner = owner;
  tracker->track_used = g_new0 (gboolean, max_tracks);
  tracker->tracks = g_ptr_array_new_with_free_func (track_free);
  tracker->next_id = 1;
  tracker->max_tracks = max_tracks;
  tracker->timeout = timeout;
  tracker->iou_threshold = iou_threshold;
  tracker->ring_frames = ring_frames;
  tracker->frame_floats = frame_floats;
  return tracker;
}

void
adatosk_tracker_free (AdatoskTracker *tracker)
{
  if (tracker == NULL)
    return;
  g_ptr_array_unref (tracker->tracks);
  g_free (tracker->track_used);
  g_free (tracker);
}

void
adatosk_tracker_reset (AdatoskTracker *tracker, const gchar *why)
{
  if (tracker->tracks->len > 0)
    GST_DEBUG_OBJECT (tracker->owner, "%s: dropping %u tracks", why,
        tracker->tracks->len);
  for (guint t = 0; t < tracker->tracks->len; t++) {
    AdatoskTrack *track = g_ptr_array_index (tracker->tracks, t);

    GST_DEBUG_OBJECT (tracker->owner,
        "track %u ends (%s) after %" G_GUINT64_FORMAT " frames", track->id, why,
        track->age + 1);
  }
  g_ptr_array_set_size (tracker->tracks, 0);
}

gdouble
adatosk_box_iou (const AdatoskBox *a, const AdatoskBox *b)
{
  gint64 x0 = MAX (a->x, b->x), y0 = MAX (a->y, b->y);
  gint64 x1 = MIN ((gint64) a->x + a->w, (gint64) b->x + b->w);
  gint64 y1 = MIN ((gint64) a->y + a->h, (gint64) b->y + b->h);
  gdouble inter, uni;

  if (a->w <= 0 || a->h <= 0 || b->w <= 0 || b->h <= 0 || x1 <= x0 || y1 <= y0)
    return 0.0;
  inter = (gdouble) (x1 - x0) * (gdouble) (y1 - y0);
  uni = (gdouble) a->w * a->h + (gdouble) b->w * b->h - inter;
  return inter / uni;
}

void
adatosk_tracker_update (AdatoskTracker *tracker, const AdatoskBox *boxes,
    guint n_boxes, AdatoskTrack **matches)
{
  guint n_tracks = tracker->tracks->len;
  gboolean *track_used = tracker->track_used;

  memset (track_used, 0, sizeof (gboolean) * tracker->max_tracks);
  for (guint i = 0; i < n_boxes; i++)
    matches[i] = NULL;

  /* Greedy: the best remaining (box, track) pair first. Few faces per frame,
   * so the quadratic scan per pick is cheaper than anything cleverer. */
  for (;;) {
    gdouble best = 0.0;
    gint best_box = -1, best_track = -1;

    for (guint i = 0; i < n_boxes; i++) {
      if (matches[i] != NULL)
        continue;
      for (guint t = 0; t < n_tracks; t++) {
        AdatoskTrack *track;
        gdouble iou;

        if (track_used[t])
          continue;
        track = g_ptr_array_index (tracker->tracks, t);
        iou = adatosk_box_iou (&boxes[i], &track->box);
        if (iou > best && iou >= tracker->iou_threshold) {
          best = iou;
          best_box = i;
          best_track = t;
        }
      }
    }
    if (best_box < 0)
      break;
    matches[best_box] = g_ptr_array_index (tracker->tracks, best_track);
    track_used[best_track] = TRUE;
  }

  /* Age the existing tracks; drop those unseen for too long. */
  for (guint t = n_tracks; t-- > 0;) {
    AdatoskTrack *track = g_ptr_array_index (tracker->tracks, t);

    track->age++;
    if (track_used[t]) {
      track->missed = 0;
    } else if (++track->missed >= tracker->timeout) {
      GST_DEBUG_OBJECT (tracker->owner,
          "track %u ends: no face for %u "
          "frames (after %" G_GUINT64_FORMAT " frames, %s)",
          track->id, track->missed, track->age,
          track->classified ? "classified" : "never classified");
      g_ptr_array_remove_index (tracker->tracks, t);
    } else {
      GST_LOG_OBJECT (tracker->owner,
          "track %u: no face in this frame (%u "
          "missed), keeps its last box",
          track->id, track->missed);
    }
  }
  for (guint i = 0; i < n_boxes; i++) {
    if (matches[i] != NULL) {
      matches[i]->box = boxes[i];
    } else if (tracker->tracks->len < tracker->max_tracks) {
      AdatoskTrack *track = track_new (tracker->next_id++, &boxes[i],
          tracker->ring_frames, tracker->frame_floats);

      GST_DEBUG_OBJECT (tracker->owner, "track %u starts at %d,%d %dx%d",
          track->id, boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h);
      g_ptr_array_add (tracker->tracks, track);
      matches[i] = track;
    } else {
      GST_LOG_OBJECT (tracker->owner,
          "face at %d,%d %dx%d ignored: "
          "max-tracks (%u) tracks alive",
          boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h, tracker->max_tracks);
    }
  }
}

AdatoskTrack *
adatosk_tracker_find (AdatoskTracker *tracker, guint id)
{
  for (guint t = 0; t < tracker->tracks->len; t++) {
    AdatoskTrack *track = g_ptr_array_index (tracker->tracks, t);

    if (track->id == id)
      return track;
  }
  return NULL;
}

gfloat *
adatosk_track_push (AdatoskTrack *track, GstClockTime pts,
    GstClockTime duration)
{
  guint slot;

  if (track->count < track->capacity) {
    slot = (track->head + track->count) % track->capacity;
    track->count++;
  } else {
    slot = track->head;
    track->head = (track->head + 1) % track->capacity;
  }
  if (track->frames[slot] == NULL)
    track->frames[slot] = g_new (gfloat, track->frame_floats);
  track->pts[slot] = pts;
  track->duration[slot] = duration;
  track->since_last++;
  return track->frames[slot];
}

gboolean
adatosk_track_clip_ready (const AdatoskTrack *track, guint stride)
{
  if (track->count < track->capacity)
    return FALSE;
  return !track->taken || track->since_last >= stride;
}

void
adatosk_track_take_clip (AdatoskTrack *track, gfloat *clip,
    GstClockTime *frame_pts, GstClockTime *start, GstClockTime *end)
{
  gsize plane = track->frame_floats / 3;
  guint T = track->capacity;
  guint first = track->head, last;

  g_return_if_fail (track->count > 0);
  last = (track->head + track->count - 1) % T;
  for (guint t = 0; t < T; t++) {
    guint slot = t < track->count ? (first + t) % T : last;

    for (guint c = 0; c < 3; c++)
      memcpy (clip + ((gsize) c * T + t) * plane,
          track->frames[slot] + c * plane, plane * sizeof (gfloat));
    if (frame_pts != NULL)
      frame_pts[t] = track->pts[slot];
  }
  *start = track->pts[first];
  *end = track->pts[last];
  if (GST_CLOCK_TIME_IS_VALID (*end)
      && GST_CLOCK_TIME_IS_VALID (track->duration[last]))
    *end += track->duration[last];
  track->since_last = 0;
  track->taken = TRUE;
  track->classified = TRUE;
}

void
adatosk_track_skip_clip (AdatoskTrack *track)
{
  track->since_last = 0;
  track->taken = TRUE;
}

void
adatosk_track_set_result (AdatoskTrack *track, GstStructure *result)
{
  if (track->result)
    gst_structure_free (track->result);
  track->result = result;
}
