/* adatoskdfer: the due clips classified and their results delivered. Sync
 * mode runs them now (batched, on the engine: engine.c) and reports the
 * latency that adds; async mode hands them to the worker (worker.c) and
 * collects what finished before each buffer. A result goes to its track
 * (which attaches it to the track's frames: results.c), to the bus
 * (post-messages) and to results-location.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "gstadatoskdfer-private.h"
#include "results.h"

#define GST_CAT_DEFAULT gst_adatosk_dfer_debug

/* A failed write (a full disk) stops the writing with a warning; the
 * stream and the other forms of results go on. */
static void
write_result (GstAdatoskDfer *self, const GstStructure *result,
    const AdatoskBox *box)
{
  GError *error = NULL;

  if (adatosk_results_jsonl_write (self->results, result, box,
          &GST_BASE_TRANSFORM (self)->segment, &error))
    return;
  GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
      ("Cannot write results to results-location: %s", error->message),
      ("No more results are written there; the stream goes on."));
  g_error_free (error);
  g_clear_pointer (&self->results, adatosk_results_jsonl_free);
}

static void
deliver (GstAdatoskDfer *self, AdatoskClip *clip)
{
  const AdatoskConfig *c = self->config;
  GstStructure *result;
  AdatoskTrack *track;
  gboolean post;

  result = adatosk_dfer_result_new (clip, self->class_labels,
      (guint) c->num_classes, (guint) c->num_frames, self->model_name);
  GST_DEBUG_OBJECT (self,
      "track %u clip %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT
      ": %s (%.3f) in %" G_GINT64_FORMAT " us",
      clip->track_id, GST_TIME_ARGS (clip->start), GST_TIME_ARGS (clip->end),
      self->class_labels[clip->label_id], clip->confidence, clip->forward_us);

  GST_OBJECT_LOCK (self);
  self->clips_classified++;
  post = self->settings.post_messages;
  GST_OBJECT_UNLOCK (self);
  if (post)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            adatosk_dfer_result_to_message (result, &clip->box)));
  if (self->results != NULL)
    write_result (self, result, &clip->box);

  track = adatosk_tracker_find (self->tracker, clip->track_id);
  if (track != NULL)
    adatosk_track_set_result (track, result);
  else
    gst_structure_free (result);
  adatosk_clip_free (clip);
}

/* Sync mode: a forward longer than the latency reported so far makes the
 * pipeline recompute its latency. */
static void
update_latency (GstAdatoskDfer *self, gint64 forward_us)
{
  GstClockTime t = (GstClockTime) forward_us * GST_USECOND;
  gboolean grew = FALSE;

  GST_OBJECT_LOCK (self);
  if (t > self->latency + self->latency / 4) {
    self->latency = t;
    grew = TRUE;
  }
  GST_OBJECT_UNLOCK (self);
  if (grew) {
    GST_INFO_OBJECT (self, "latency now %" GST_TIME_FORMAT, GST_TIME_ARGS (t));
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
}

/* Whether upstream is live: then async mode drops clips rather than wait. */
gboolean
gst_adatosk_dfer_upstream_is_live (GstAdatoskDfer *self)
{
  if (self->upstream_live < 0) {
    GstQuery *query = gst_query_new_latency ();
    gboolean live = FALSE;

    if (gst_pad_peer_query (GST_BASE_TRANSFORM_SINK_PAD (self), query))
      gst_query_parse_latency (query, &live, NULL, NULL);
    gst_query_unref (query);
    self->upstream_live = live ? 1 : 0;
    GST_INFO_OBJECT (self, "upstream is %slive: the worker %s when behind",
        live ? "" : "not ", live ? "drops clips" : "makes the stream wait");
  }
  return self->upstream_live > 0;
}

/* Classifies the clips from take_clip() that fell due together (on one
 * frame, or at EOS): in sync mode now, in batches of up to batch-size (with
 * whatever other elements sharing the model have waiting); in async mode
 * through the worker, which batches what waits. Takes the clips. */
gboolean
gst_adatosk_dfer_classify (GstAdatoskDfer *self, AdatoskClip **clips, guint n)
{
  GError *error = NULL;
  gboolean ok;

  for (guint i = 0; i < n; i++)
    GST_DEBUG_OBJECT (self,
        "track %u: clip %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT " %s",
        clips[i]->track_id, GST_TIME_ARGS (clips[i]->start),
        GST_TIME_ARGS (clips[i]->end),
        self->worker ? "goes to the worker" : "is classified now");
  if (self->worker != NULL) {
    for (guint i = 0; i < n; i++) {
      guint dropped = adatosk_worker_push (self->worker, clips[i],
          !gst_adatosk_dfer_upstream_is_live (self));

      if (dropped) {
        GST_OBJECT_LOCK (self);
        self->clips_dropped += dropped;
        GST_OBJECT_UNLOCK (self);
        GST_INFO_OBJECT (self, "the worker is behind: dropped a waiting clip");
      }
    }
    return TRUE;
  }
  if (n == 0)
    return TRUE;
  ok = adatosk_engine_run (self->engine, clips, n, &error);
  for (guint i = 0; i < n; i++) {
    if (clips[i]->pixels != NULL) {
      adatosk_clip_free (clips[i]); /* this one failed */
      continue;
    }
    update_latency (self, clips[i]->forward_us);
    deliver (self, clips[i]);
  }
  if (!ok) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("Classifying a clip failed: %s", error->message), (NULL));
    g_error_free (error);
  }
  return ok;
}

/* Async mode: results that finished since the last buffer. */
gboolean
gst_adatosk_dfer_collect (GstAdatoskDfer *self)
{
  AdatoskClip *clip;
  GError *error;

  if (self->worker == NULL)
    return TRUE;
  error = adatosk_worker_take_error (self->worker);
  if (error != NULL) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("Classifying a clip failed: %s", error->message), (NULL));
    g_error_free (error);
    return FALSE;
  }
  while ((clip = adatosk_worker_pop (self->worker)) != NULL)
    deliver (self, clip);
  return TRUE;
}
