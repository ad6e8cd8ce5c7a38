/* adatoskdfer: dynamic facial expression recognition with AdaTosk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_ADATOSK_DFER_H
#define GST_ADATOSK_DFER_H

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include "crop.h"
#include "debug.h"
#include "dump.h"
#include "faces.h"
#include "inference.h"
#include "results_jsonl.h"
#include "track.h"
#include "swap.h"
#include "worker.h"

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (adatoskdfer);

#define GST_TYPE_ADATOSK_DFER (gst_adatosk_dfer_get_type ())
G_DECLARE_FINAL_TYPE (GstAdatoskDfer, gst_adatosk_dfer, GST, ADATOSK_DFER,
    GstBaseTransform)

typedef enum
{
  GST_ADATOSK_DFER_ROI_MODE_AUTO,
  GST_ADATOSK_DFER_ROI_MODE_ROI,
  GST_ADATOSK_DFER_ROI_MODE_FULL_FRAME,
} GstAdatoskDferRoiMode;

typedef enum
{
  GST_ADATOSK_DFER_INFERENCE_SYNC,
  GST_ADATOSK_DFER_INFERENCE_ASYNC,
} GstAdatoskDferInferenceMode;

typedef enum
{
  GST_ADATOSK_DFER_BACKEND_AUTO,
  GST_ADATOSK_DFER_BACKEND_CPU,
  GST_ADATOSK_DFER_BACKEND_VULKAN,
} GstAdatoskDferBackend;

/* The property values; read under the object lock, copied at start(). */
typedef struct
{
  gchar *model;
  gchar *labels;
  gdouble keep_ratio;
  guint frame_step;
  guint clip_stride;
  gdouble crop_margin;
  GstAdatoskDferRoiMode roi_mode;
  gchar *roi_type;
  guint max_faces;
  guint max_tracks;
  guint track_timeout;
  gdouble iou_threshold;
  GstAdatoskDferInferenceMode inference_mode;
  gboolean post_messages;
  gboolean classify_partial;
  GstAdatoskDferBackend backend;
  guint threads;
  gchar *dump_location;
  gchar *results_location;
  guint batch_size;
  gchar *model_instance_id;
} GstAdatoskDferSettings;

/* Locking. Three kinds of state, each with one rule:
 *
 *  - "object lock": read and written only with GST_OBJECT_LOCK held, from any
 *    thread (the application's property calls, the streaming thread, the
 *    upstream thread of QoS events);
 *  - "streaming": made by start() and freed by stop(), used in between only
 *    by the streaming thread (buffers and serialised events). Base transform
 *    calls start() and stop() with the streaming thread not running (pads
 *    deactivated), so these need no lock; nothing else may touch them;
 *  - the worker's and the tracker's own state is theirs (worker.c locks its
 *    queues; the tracker is streaming state).
 *
 * The one exception is `worker`: FLUSH_START arrives on the flushing thread
 * (not serialised) and must wake a streaming thread blocked in the worker.
 * So start() and stop() set `worker` under the object lock as well, and
 * FLUSH_START flushes it with the object lock held (lock order: object lock,
 * then the worker's; the worker never takes the object lock), so stop()
 * cannot free it meanwhile. */
struct _GstAdatoskDfer
{
  GstBaseTransform parent;

  GstAdatoskDferSettings settings; /* object lock */
  gboolean running;                /* object lock: between start() and stop() */

  /* Streaming (see above). */
  GstAdatoskDferSettings run;   /* the settings this run uses */
  AdatoskEngine *engine;        /* the model, maybe shared (engine.c) */
  AdatoskInference *inference;  /* the engine's */
  AdatoskSwap *swap;            /* a model loading beside it, or NULL */
  gboolean swap_wanted;         /* object lock: 'model' set while running */
  AdatoskWorker *worker;        /* async mode only; set under the lock */
  AdatoskDump *dump;            /* dump-location set only */
  AdatoskResultsJsonl *results; /* results-location set only */
  const AdatoskConfig *config;
  gchar **class_labels; /* num_classes names */
  gchar *model_name;
  GQuark roi_quark;
  guint frame_step;       /* resolved (the model's when 0) */
  guint clip_stride;      /* resolved (half a clip when 0) */
  AdatoskFaces *faces;    /* this frame's faces, at most max-faces */
  AdatoskBox *boxes;      /* max-faces: the tracker's input */
  AdatoskTrack **matches; /* max-faces: the tracker's output */
  gboolean warned_faces;  /* the max-faces warning was posted */

  /* Streaming, per stream (reset by caps, flushes, segments, gaps). */
  gboolean have_info;
  GstVideoInfo info;
  AdatoskCropper *cropper;
  AdatoskTracker *tracker;
  gboolean roi_seen;  /* auto mode: face ROIs came from upstream */
  gint upstream_live; /* -1 unknown, else from a LATENCY query */

  /* Object lock. Readable as properties: */
  gchar *device;
  guint64 clips_classified;
  guint64 clips_dropped;
  /* and the QoS and latency state: */
  GstClockTime latency;       /* what the element adds (sync mode) */
  GstClockTime earliest_time; /* QoS: running time downstream can use */
  gdouble proportion;         /* QoS: of the last QoS event */
};

G_END_DECLS

#endif /* GST_ADATOSK_DFER_H */
