/* adatoskdfer: the model, its backend, and one clip's classification.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_INFERENCE_H
#define ADATOSK_INFERENCE_H

#include <gst/gst.h>

#include "adatosk.h"
#include "track.h"

G_BEGIN_DECLS

#define ADATOSK_DFER_ERROR (adatosk_dfer_error_quark ())
GQuark adatosk_dfer_error_quark (void);

/* The codes are libadatosk's AdatoskStatus values. */

/* One clip of one track: what goes into the model and what comes out. */
typedef struct
{
  guint track_id;
  GstClockTime start; /* PTS of the first frame */
  GstClockTime end;   /* end of the last frame */
  AdatoskBox box;     /* the face in the clip's last frame */
  gfloat *pixels;     /* [3][T][H][W] normalised; NULL once run */

  gint label_id;
  gfloat confidence;
  gfloat *probs;         /* [num_classes] */
  gfloat *significance;  /* [T]: g of the temporal slot of each frame */
  gdouble kept_fraction; /* kept tokens / tokens */
  gint64 forward_us;     /* wall time of the forward (of its whole batch) */
} AdatoskClip;

typedef struct AdatoskInference AdatoskInference;

/* `model_path` NULL: the built-in model (default_model.h). `owner` (may be
 * NULL) names the element in the log (adatoskdfer-inference). */
AdatoskInference *adatosk_inference_new (GstObject *owner,
    const gchar *model_path, AdatoskBackendKind kind, gint threads,
    gdouble keep_ratio, GError **error);
void adatosk_inference_free (AdatoskInference *inference);

const AdatoskConfig *adatosk_inference_get_config (
    const AdatoskInference *inference);
const AdatoskModel *adatosk_inference_get_model (
    const AdatoskInference *inference);
/* E.g. "cpu: OpenBLAS 0.3.21 Haswell, 2 threads". */
const gchar *adatosk_inference_get_device (const AdatoskInference *inference);
/* Why `auto` chose the backend; "" when not auto. */
const gchar *adatosk_inference_get_choice_reason (
    const AdatoskInference *inference);

/* A clip with room for the pixels and the results of this model. */
AdatoskClip *adatosk_clip_new (const AdatoskInference *inference);
void adatosk_clip_free (AdatoskClip *clip);

/* Classifies `clip` (one forward at a time per inference: the caller
 * serialises) and frees its pixels. */
gboolean adatosk_inference_run (AdatoskInference *inference, AdatoskClip *clip,
    GError **error);
/* Classifies `n` clips in one batched forward (each as it would be alone)
 * and frees their pixels; on failure no clip is touched. */
gboolean adatosk_inference_run_batch (AdatoskInference *inference,
    AdatoskClip **clips, guint n, GError **error);

G_END_DECLS

#endif /* ADATOSK_INFERENCE_H */
