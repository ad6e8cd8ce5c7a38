/* adatoskdfer: dynamic facial expression recognition with AdaTosk.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_ADATOSK_DFER_H
#define GST_ADATOSK_DFER_H

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include "crop.h"
#include "dump.h"
#include "inference.h"
#include "track.h"
#include "worker.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_adatosk_dfer_debug);
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
  guint max_tracks;
  guint track_timeout;
  gdouble iou_threshold;
  GstAdatoskDferInferenceMode inference_mode;
  gboolean post_messages;
  gboolean classify_partial;
  GstAdatoskDferBackend backend;
  guint threads;
  gchar *dump_location;
} GstAdatoskDferSettings;

struct _GstAdatoskDfer
{
  GstBaseTransform parent;

  GstAdatoskDferSettings settings;      /* object lock */

  /* Between start() and stop(); used by the streaming thread. */
  GstAdatoskDferSettings run;   /* the settings this run uses */
  AdatoskInference *inference;
  AdatoskWorker *worker;        /* async mode only */
  AdatoskDump *dump;            /* dump-location set only */
  const AdatoskConfig *config;
  gchar **class_labels;         /* num_classes names */
  gchar *model_name;
  GQuark roi_quark;
  guint frame_step;             /* resolved (the model's when 0) */
  guint clip_stride;            /* resolved (half a clip when 0) */

  /* Per stream (reset by caps and flushes). */
  gboolean have_info;
  GstVideoInfo info;
  AdatoskCropper *cropper;
  AdatoskTracker *tracker;
  gboolean roi_seen;            /* auto mode: face ROIs came from upstream */
  gint upstream_live;           /* -1 unknown, else from a LATENCY query */

  /* Readable as properties (object lock). */
  gchar *device;
  guint64 clips_classified;
  guint64 clips_dropped;
  GstClockTime latency;         /* what the element adds (sync mode) */
};

G_END_DECLS

#endif /* GST_ADATOSK_DFER_H */
