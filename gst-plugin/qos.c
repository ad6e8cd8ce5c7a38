/* adatoskdfer: QoS in sync mode. Downstream's QoS events say which running
 * time it can still use; a clip that falls due on an earlier frame is
 * dropped instead of classified, so that the stream catches up (the frame
 * itself still passes and still enters the clips).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstadatoskdfer-private.h"

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

/* Remembers the earliest running time downstream can still use, from its
 * QoS `event`. */
void
gst_adatosk_dfer_qos_update (GstAdatoskDfer *self, GstEvent *event)
{
  GstQOSType type;
  gdouble proportion;
  GstClockTimeDiff diff;
  GstClockTime timestamp, earliest;

  gst_event_parse_qos (event, &type, &proportion, &diff, &timestamp);
  /* Like GstVideoDecoder: when late, aim a little further ahead than the
   * lateness, so the next frames can catch up. */
  if (diff > 0)
    earliest = timestamp + 2 * diff;
  else
    earliest = (GstClockTimeDiff) timestamp + diff > 0
        ? (GstClockTime) ((GstClockTimeDiff) timestamp + diff)
        : 0;
  GST_OBJECT_LOCK (self);
  self->earliest_time = earliest;
  self->proportion = proportion;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self,
      "QoS: proportion %g, diff %" GST_STIME_FORMAT
      ", earliest %" GST_TIME_FORMAT,
      proportion, GST_STIME_ARGS (diff), GST_TIME_ARGS (earliest));
}

void
gst_adatosk_dfer_reset_qos (GstAdatoskDfer *self)
{
  GST_OBJECT_LOCK (self);
  self->earliest_time = GST_CLOCK_TIME_NONE;
  self->proportion = 1.0;
  GST_OBJECT_UNLOCK (self);
}

/* Sync mode QoS: whether `buf` is already later than downstream can use
 * (like GstBaseTransform's own check, which would drop the frame; here only
 * the clip is dropped). */
gboolean
gst_adatosk_dfer_too_late (GstAdatoskDfer *self, GstBuffer *buf,
    GstClockTime *running_time)
{
  GstSegment *segment = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime earliest;

  if (segment->format != GST_FORMAT_TIME || !GST_BUFFER_PTS_IS_VALID (buf))
    return FALSE;
  *running_time = gst_segment_to_running_time (segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS (buf));
  GST_OBJECT_LOCK (self);
  earliest = self->earliest_time;
  GST_OBJECT_UNLOCK (self);
  GST_LOG_OBJECT (self,
      "clip due at running time %" GST_TIME_FORMAT
      ", QoS earliest %" GST_TIME_FORMAT,
      GST_TIME_ARGS (*running_time), GST_TIME_ARGS (earliest));
  return GST_CLOCK_TIME_IS_VALID (*running_time)
      && GST_CLOCK_TIME_IS_VALID (earliest) && *running_time <= earliest;
}

/* Drops the track's due clip because `buf` is late, and says so with a QoS
 * message (processed and dropped counted in clips). */
void
gst_adatosk_dfer_drop_late_clip (GstAdatoskDfer *self, AdatoskTrack *track,
    GstBuffer *buf, GstClockTime running_time)
{
  GstSegment *segment = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime earliest;
  guint64 processed, dropped;
  gdouble proportion;
  GstMessage *msg;

  adatosk_track_skip_clip (track);
  GST_OBJECT_LOCK (self);
  dropped = ++self->clips_dropped;
  processed = self->clips_classified;
  earliest = self->earliest_time;
  proportion = self->proportion;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self,
      "track %u: clip due at %" GST_TIME_FORMAT
      " dropped: QoS says running time %" GST_TIME_FORMAT " is too late "
      "(earliest %" GST_TIME_FORMAT ")",
      track->id, GST_TIME_ARGS (GST_BUFFER_PTS (buf)),
      GST_TIME_ARGS (running_time), GST_TIME_ARGS (earliest));
  msg = gst_message_new_qos (GST_OBJECT (self),
      gst_adatosk_dfer_upstream_is_live (self), running_time,
      gst_segment_to_stream_time (segment, GST_FORMAT_TIME,
          GST_BUFFER_PTS (buf)),
      GST_BUFFER_PTS (buf), GST_BUFFER_DURATION (buf));
  gst_message_set_qos_values (msg, GST_CLOCK_DIFF (running_time, earliest),
      proportion, 1000000);
  gst_message_set_qos_stats (msg, GST_FORMAT_DEFAULT, processed, dropped);
  gst_element_post_message (GST_ELEMENT (self), msg);
}
