/* adatoskdfer: which clips fall due. On each frame: the faces (upstream
 * ROIs or the whole frame), then each track whose turn it is samples its
 * box into its ring, and a track whose ring holds a clip and clip-stride new
 * frames gives up that clip (or, in sync mode on a frame QoS says is late,
 * drops it: qos.c). At end of stream: the partial clips (classify-partial),
 * then every pending one. The clips go to classify.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstadatoskdfer-private.h"

#include <string.h>

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

/* The track's clip, written to dump-location first when that is set; NULL
 * (after an element error) when writing it failed. */
static AdatoskClip *
take_clip (GstAdatoskDfer *self, AdatoskTrack *track)
{
  AdatoskClip *clip = adatosk_clip_new (self->inference);
  GstClockTime *frame_pts = g_new (GstClockTime, track->capacity);
  GError *error = NULL;

  adatosk_track_take_clip (track, clip->pixels, frame_pts, &clip->start,
      &clip->end);
  clip->track_id = track->id;
  clip->box = track->box;
  if (self->dump != NULL
      && !adatosk_dump_write (self->dump, clip->pixels, clip->track_id,
          clip->start, clip->end, frame_pts, &clip->box, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Cannot write a clip to dump-location: %s", error->message),
        ("Free some space in %s, or unset dump-location.",
            self->run.dump_location));
    g_error_free (error);
    adatosk_clip_free (clip);
    clip = NULL;
  }
  g_free (frame_pts);
  return clip;
}

/* This frame's faces into self->faces: the upstream face ROIs (bounded by
 * max-faces), or one ROI for the whole frame that the element adds. */
void
gst_adatosk_dfer_gather_faces (GstAdatoskDfer *self, GstBuffer *buf)
{
  gint fw = GST_VIDEO_INFO_WIDTH (&self->info);
  gint fh = GST_VIDEO_INFO_HEIGHT (&self->info);
  gboolean use_roi;
  guint seen;

  switch (self->run.roi_mode) {
    case GST_ADATOSK_DFER_ROI_MODE_ROI:
      use_roi = TRUE;
      break;
    case GST_ADATOSK_DFER_ROI_MODE_FULL_FRAME:
      use_roi = FALSE;
      break;
    default:
      if (!self->roi_seen
          && adatosk_faces_buffer_has_roi (buf, self->roi_quark)) {
        GST_INFO_OBJECT (self, "face ROIs from upstream: roi mode from now");
        self->roi_seen = TRUE;
        adatosk_tracker_reset (self->tracker, "upstream face ROIs appeared");
      }
      use_roi = self->roi_seen;
      break;
  }

  if (!use_roi) {
    adatosk_faces_full_frame (self->faces, buf, self->roi_quark, fw, fh);
    return;
  }
  seen = adatosk_faces_gather (self->faces, buf, self->roi_quark, fw, fh);
  if (seen > self->run.max_faces && !self->warned_faces) {
    self->warned_faces = TRUE;
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("A frame carries %u face regions of interest: only the %u largest "
         "are used (max-faces)",
            seen, self->run.max_faces),
        ("Upstream adds more face ROI metas than the element takes per "
         "frame; raise max-faces if the video really shows that many "
         "faces. Warned once per run."));
  }
}

/* Samples the tracks whose turn it is on this frame and classifies (or, when
 * QoS says the frame is late, drops) the clips that became due. A track
 * without a box in this frame samples its last box. */
GstFlowReturn
gst_adatosk_dfer_sample_tracks (GstAdatoskDfer *self, GstBuffer *buf)
{
  GstVideoFrame frame;
  gboolean mapped = FALSE;
  GstFlowReturn ret = GST_FLOW_OK;
  /* The clips due on this frame, classified together (max-tracks <= 64). */
  AdatoskClip **due = g_newa (AdatoskClip *, self->tracker->tracks->len + 1);
  guint n_due = 0;

  for (guint t = 0; t < self->tracker->tracks->len; t++) {
    AdatoskTrack *track = g_ptr_array_index (self->tracker->tracks, t);
    GstClockTime running_time;
    gfloat *slot;

    if (track->age % self->frame_step != 0)
      continue;
    if (!mapped) {
      if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READ)) {
        GST_ELEMENT_ERROR (self, RESOURCE, READ,
            ("Cannot map a video frame for reading"), (NULL));
        ret = GST_FLOW_ERROR;
        break;
      }
      mapped = TRUE;
    }
    slot = adatosk_track_push (track, GST_BUFFER_PTS (buf),
        GST_BUFFER_DURATION (buf));
    if (!adatosk_cropper_run (self->cropper, &frame, &track->box, slot))
      memset (slot, 0, sizeof (gfloat) * track->frame_floats);
    if (!adatosk_track_clip_ready (track, self->clip_stride))
      continue;
    if (self->worker == NULL
        && gst_adatosk_dfer_too_late (self, buf, &running_time)) {
      gst_adatosk_dfer_drop_late_clip (self, track, buf, running_time);
    } else if ((due[n_due] = take_clip (self, track)) != NULL) {
      n_due++;
    } else {
      ret = GST_FLOW_ERROR;
      break;
    }
  }
  /* A mapped frame holds a reference: unmap before the buffer is written. */
  if (mapped)
    gst_video_frame_unmap (&frame);
  if (ret != GST_FLOW_OK) {
    for (guint i = 0; i < n_due; i++)
      adatosk_clip_free (due[i]);
    return ret;
  }
  return gst_adatosk_dfer_classify (self, due, n_due) ? GST_FLOW_OK
                                                      : GST_FLOW_ERROR;
}

/* End of stream: partial clips (optional), then every pending result. */
void
gst_adatosk_dfer_drain (GstAdatoskDfer *self)
{
  if (self->tracker == NULL)
    return;
  if (self->run.classify_partial) {
    guint half = (guint) (self->config->num_frames + 1) / 2;
    AdatoskClip **partial =
        g_newa (AdatoskClip *, self->tracker->tracks->len + 1);
    guint n = 0;
    gboolean failed = FALSE;

    for (guint t = 0; t < self->tracker->tracks->len; t++) {
      AdatoskTrack *track = g_ptr_array_index (self->tracker->tracks, t);

      if (!track->classified && track->count >= half) {
        GST_DEBUG_OBJECT (self, "track %u: partial clip of %u frames",
            track->id, track->count);
        if ((partial[n] = take_clip (self, track)) == NULL) {
          failed = TRUE;
          break;
        }
        n++;
      }
    }
    /* A partial clip that could not be taken or written (an element error
     * is posted) must not cost the results already queued: drain anyway. */
    if (!gst_adatosk_dfer_classify (self, partial, n) || failed)
      GST_DEBUG_OBJECT (self, "partial clips failed; draining the rest");
  }
  if (self->worker != NULL) {
    adatosk_worker_drain (self->worker);
    gst_adatosk_dfer_collect (self);
  }
}
