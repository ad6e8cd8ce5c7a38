/* adatoskdfer: what the element's own files share beyond the GObject shell
 * (gstadatoskdfer.c). Not for applications: adatoskmeta.h is their header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_ADATOSK_DFER_PRIVATE_H
#define GST_ADATOSK_DFER_PRIVATE_H

#include "engine.h"
#include "gstadatoskdfer.h"
#include "swap.h"

G_BEGIN_DECLS

/* What a user is told when there is no usable model. */
#define HOW_TO_MAKE_A_MODEL \
  "Set the 'model' property to an AdaTosk .safetensors file: the project's " \
  "models/ folder has a trained one, train/train.py and train/export.py " \
  "make your own, and /usr/bin/python3 train/make_model.py --config " \
  "adatosk-tiny --out adatosk-tiny.safetensors makes a random-weight one " \
  "for trying the element (its labels mean nothing)"

/* gstadatoskdfer.c */

/* roi-type's default; also the type of the full-frame ROI when roi-type is
 * unset. */
#define DEFAULT_ROI_TYPE "face"

/* run_setup.c */

/* Frees the strings of `s`. */
void gst_adatosk_dfer_settings_clear (GstAdatoskDferSettings *s);
/* `dst` (cleared first) becomes a copy of `src`. */
void gst_adatosk_dfer_settings_copy (GstAdatoskDferSettings *dst,
    const GstAdatoskDferSettings *src);
/* The model file to load (NULL: the built-in one), after checking that the
 * settings can work at all; FALSE after an element error. */
gboolean gst_adatosk_dfer_check_settings (GstAdatoskDfer *self,
    const gchar **path);
/* The crop margin for the model `c`: the property, or the model's where the
 * property is negative. */
gdouble gst_adatosk_dfer_crop_margin (GstAdatoskDfer *self,
    const AdatoskConfig *c);
/* frame-step and clip-stride, the model's where the properties are 0. */
void gst_adatosk_dfer_make_tracker_sampling (GstAdatoskDfer *self);
/* The sampling and a new tracker, for the model's clips. */
void gst_adatosk_dfer_make_tracker (GstAdatoskDfer *self);
/* The tracker and the bounded face and match arrays (after the model). */
void gst_adatosk_dfer_make_streaming_state (GstAdatoskDfer *self);
/* dump-location, results-location and (async mode) the worker, each when
 * set; FALSE after an element error. */
gboolean gst_adatosk_dfer_open_dump (GstAdatoskDfer *self);
gboolean gst_adatosk_dfer_open_results (GstAdatoskDfer *self);
gboolean gst_adatosk_dfer_start_worker (GstAdatoskDfer *self);

/* model_load.c */

/* The engine settings of the running configuration, for the model `path`
 * (NULL: the built-in one). */
AdatoskEngineSettings gst_adatosk_dfer_engine_settings (GstAdatoskDfer *self,
    const gchar *path);
/* `engine` (a reference) becomes the element's: names the model, the device
 * and the classes. */
gboolean gst_adatosk_dfer_adopt_engine (GstAdatoskDfer *self,
    AdatoskEngine *engine, const gchar *path);
/* Loads the model on its backend (or shares it: model-instance-id), adopts
 * it; FALSE after an element error. */
gboolean gst_adatosk_dfer_load_model (GstAdatoskDfer *self, const gchar *path);
/* One forward on a neutral clip: proves the backend runs and measures the
 * latency sync mode adds; FALSE after an element error. */
gboolean gst_adatosk_dfer_warm_up (GstAdatoskDfer *self);

/* model_switch.c */

/* 'model' set while playing: starts loading it beside the running model, or
 * switches to it once loaded (between two frames: the streaming thread
 * calls this before each buffer). */
void gst_adatosk_dfer_swap_model (GstAdatoskDfer *self);

/* clip_schedule.c */

/* This frame's faces into self->faces: the upstream face ROIs (at most
 * max-faces) or the whole frame, as roi-mode says. */
void gst_adatosk_dfer_gather_faces (GstAdatoskDfer *self, GstBuffer *buf);
/* Samples the tracks whose turn it is on this frame and classifies (or drops,
 * when QoS says the frame is late) the clips that fell due. */
GstFlowReturn gst_adatosk_dfer_sample_tracks (GstAdatoskDfer *self,
    GstBuffer *buf);
/* End of stream: partial clips (classify-partial), then every pending
 * result. */
void gst_adatosk_dfer_drain (GstAdatoskDfer *self);

/* qos.c */

/* Remembers what downstream's QoS `event` says it can still use. */
void gst_adatosk_dfer_qos_update (GstAdatoskDfer *self, GstEvent *event);
/* Forgets it: nothing is late (after a break in the stream). */
void gst_adatosk_dfer_reset_qos (GstAdatoskDfer *self);
/* Sync mode: whether `buf` is later than downstream can use; sets
 * `running_time` (buf's) when it says TRUE. */
gboolean gst_adatosk_dfer_too_late (GstAdatoskDfer *self, GstBuffer *buf,
    GstClockTime *running_time);
/* Drops the track's due clip because `buf` is late; posts a QoS message. */
void gst_adatosk_dfer_drop_late_clip (GstAdatoskDfer *self, AdatoskTrack *track,
    GstBuffer *buf, GstClockTime running_time);

/* classify.c */

/* Classifies the clips that fell due together: now (sync mode) or through
 * the worker (async mode). Takes the clips; FALSE after an element error. */
gboolean gst_adatosk_dfer_classify (GstAdatoskDfer *self, AdatoskClip **clips,
    guint n);
/* Async mode: attaches the results that finished since the last buffer. */
gboolean gst_adatosk_dfer_collect (GstAdatoskDfer *self);
/* Whether upstream is live (asked once per run): then async mode drops clips
 * rather than wait. */
gboolean gst_adatosk_dfer_upstream_is_live (GstAdatoskDfer *self);

G_END_DECLS

#endif /* GST_ADATOSK_DFER_PRIVATE_H */
