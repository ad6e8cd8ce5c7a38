/* adatoskdfer: the debug categories.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "debug.h"

GST_DEBUG_CATEGORY (gst_adatosk_dfer_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_faces_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_track_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_crop_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_worker_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_inference_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_engine_debug);
GST_DEBUG_CATEGORY (adatosk_dfer_dump_debug);

void
adatosk_dfer_debug_init (void)
{
  static gsize done = 0;

  if (!g_once_init_enter (&done))
    return;
  GST_DEBUG_CATEGORY_INIT (gst_adatosk_dfer_debug, "adatoskdfer", 0,
      "AdaTosk dynamic facial expression recognition: the element");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_faces_debug, "adatoskdfer-faces", 0,
      "adatoskdfer: faces taken from upstream ROI metas");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_track_debug, "adatoskdfer-track", 0,
      "adatoskdfer: face tracks and clip scheduling");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_crop_debug, "adatoskdfer-crop", 0,
      "adatoskdfer: face crops for the model");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_worker_debug, "adatoskdfer-worker", 0,
      "adatoskdfer: the async inference worker");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_inference_debug,
      "adatoskdfer-inference", 0, "adatoskdfer: the model and its backend");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_engine_debug, "adatoskdfer-engine", 0,
      "adatoskdfer: shared models (model-instance-id) and batches");
  GST_DEBUG_CATEGORY_INIT (adatosk_dfer_dump_debug, "adatoskdfer-dump", 0,
      "adatoskdfer: clips written to dump-location");
  g_once_init_leave (&done, 1);
}
