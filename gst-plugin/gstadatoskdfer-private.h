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

/* gstadatoskdfer.c */

/* The engine settings of the running configuration, for the model `path`
 * (NULL: the built-in one). */
AdatoskEngineSettings gst_adatosk_dfer_engine_settings (GstAdatoskDfer *self,
    const gchar *path);
/* `engine` (a reference) becomes the element's: names the model, the device
 * and the classes. */
gboolean gst_adatosk_dfer_adopt_engine (GstAdatoskDfer *self,
    AdatoskEngine *engine, const gchar *path);
/* The crop margin for the model `c`: the property, or the model's where the
 * property is negative. */
gdouble gst_adatosk_dfer_crop_margin (GstAdatoskDfer *self,
    const AdatoskConfig *c);
/* frame-step and clip-stride, the model's where the properties are 0. */
void gst_adatosk_dfer_make_tracker_sampling (GstAdatoskDfer *self);
/* The sampling and a new tracker, for the model's clips. */
void gst_adatosk_dfer_make_tracker (GstAdatoskDfer *self);
/* Async mode: attaches the results that finished since the last buffer. */
gboolean gst_adatosk_dfer_collect (GstAdatoskDfer *self);

/* model_switch.c */

/* 'model' set while playing: starts loading it beside the running model, or
 * switches to it once loaded (between two frames: the streaming thread
 * calls this before each buffer). */
void gst_adatosk_dfer_swap_model (GstAdatoskDfer *self);

G_END_DECLS

#endif /* GST_ADATOSK_DFER_PRIVATE_H */
