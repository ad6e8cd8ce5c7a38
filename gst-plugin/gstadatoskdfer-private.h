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

G_END_DECLS

#endif /* GST_ADATOSK_DFER_PRIVATE_H */
