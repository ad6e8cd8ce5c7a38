/* adatoskdfer: one debug category per module, all under "adatoskdfer", so
 * GST_DEBUG=adatoskdfer*:6 shows everything and, e.g.,
 * GST_DEBUG=adatoskdfer-track:5 only track births and deaths:
 *
 *   adatoskdfer            the element: caps, events, QoS, latency, start/stop
 *   adatoskdfer-faces      faces taken from upstream ROI metas (and left out)
 *   adatoskdfer-track      track births, matches, deaths; clip scheduling
 *   adatoskdfer-crop       converters made for crop geometries
 *   adatoskdfer-worker     the async worker: queued, run, dropped, flushed clips
 *   adatoskdfer-inference  the model and backend chosen, each forward
 *   adatoskdfer-engine     shared models (model-instance-id), batches formed
 *   adatoskdfer-dump       clips written to dump-location
 *
 * The categories are initialised with the element's registration
 * (GST_ELEMENT_REGISTER_DEFINE_WITH_CODE), so they exist in any program that
 * registers the element, static builds included.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_DFER_DEBUG_H
#define ADATOSK_DFER_DEBUG_H

#include <gst/gst.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_adatosk_dfer_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_faces_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_track_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_crop_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_worker_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_inference_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_engine_debug);
GST_DEBUG_CATEGORY_EXTERN (adatosk_dfer_dump_debug);

/* Initialises every category; safe to call more than once. */
void adatosk_dfer_debug_init (void);

G_END_DECLS

#endif /* ADATOSK_DFER_DEBUG_H */
