/* adatoskdfer: the expression results on buffers, and how an application
 * reads them.
 *
 * Every classification of a tracked face is carried downstream in three forms
 * (all with the same field names):
 *
 *  1. a param GstStructure named "expression" on the face's
 *     GstVideoRegionOfInterestMeta (DL Streamer's field names):
 *       label (string), label_id (int), confidence (double),
 *       model_name (string), track-id (uint), clip-start, clip-end (uint64,
 *       GstClockTime: the PTS of the clip's first frame, and the end of its
 *       last frame, PTS + duration);
 *  2. a GstCustomMeta named ADATOSK_DFER_META_NAME, one per classified face on
 *     the buffer, holding the same fields plus
 *       probabilities (GstValueArray of float, one per class),
 *       labels (GstValueArray of string, the class names),
 *       significance (GstValueArray of float, one per frame of the clip: the
 *         model's frame significance g of the temporal slot holding the frame),
 *       kept-fraction (double, the fraction of tokens the model kept);
 *  3. with post-messages=true, an element message named "adatoskdfer" with
 *     the fields of 2. plus the face box (x, y, width, height) at the clip's
 *     last frame.
 *
 * The latest result of a track stays attached to that track's frames until
 * the next one, so an application that wants one line per clip keys on
 * (track-id, clip-start).
 *
 * This header is self-contained (static inline functions on top of
 * GStreamer's public API): an application includes it and does not link
 * against the plugin. Python reaches the same data through
 * Gst.Buffer.get_custom_meta (ADATOSK_DFER_META_NAME).get_structure().
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_META_H
#define ADATOSK_META_H

#include <string.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define ADATOSK_DFER_META_NAME "AdatoskDferMeta"
#define ADATOSK_DFER_ROI_PARAM_NAME "expression"
#define ADATOSK_DFER_MESSAGE_NAME "adatoskdfer"

/* The field names, defined once here: the element writes them with these,
 * applications and the tests read them with these. */
/* In all three forms (DL Streamer's names first): */
#define ADATOSK_DFER_FIELD_LABEL "label"
#define ADATOSK_DFER_FIELD_LABEL_ID "label_id"
#define ADATOSK_DFER_FIELD_CONFIDENCE "confidence"
#define ADATOSK_DFER_FIELD_MODEL_NAME "model_name"
#define ADATOSK_DFER_FIELD_TRACK_ID "track-id"
#define ADATOSK_DFER_FIELD_CLIP_START "clip-start"
#define ADATOSK_DFER_FIELD_CLIP_END "clip-end"
/* In the custom meta and the message only: */
#define ADATOSK_DFER_FIELD_PROBABILITIES "probabilities"
#define ADATOSK_DFER_FIELD_LABELS "labels"
#define ADATOSK_DFER_FIELD_SIGNIFICANCE "significance"
#define ADATOSK_DFER_FIELD_KEPT_FRACTION "kept-fraction"
/* In the message only (the face box at the clip's last frame): */
#define ADATOSK_DFER_FIELD_X "x"
#define ADATOSK_DFER_FIELD_Y "y"
#define ADATOSK_DFER_FIELD_WIDTH "width"
#define ADATOSK_DFER_FIELD_HEIGHT "height"

/* One classification, as read from a buffer. The pointers point into the
 * meta's structure: valid as long as the buffer (and the meta) is. */
typedef struct
{
  guint track_id;
  const gchar *label;
  gint label_id;
  gdouble confidence;
  const gchar *model_name;
  GstClockTime clip_start;
  GstClockTime clip_end;
  guint num_classes;
  guint num_frames;
  gdouble kept_fraction;
  const GstStructure *structure;
} AdatoskDferResult;

/* The registered meta, or NULL while no adatoskdfer element has been created
 * in this process (then no buffer can carry one). */
static inline const GstMetaInfo *
adatosk_dfer_meta_get_info (void)
{
  return gst_meta_get_info (ADATOSK_DFER_META_NAME);
}

static inline GstCustomMeta *
adatosk_dfer_buffer_get_meta (GstBuffer *buffer, guint index)
{
  const GstMetaInfo *info = adatosk_dfer_meta_get_info ();
  gpointer state = NULL;
  GstMeta *meta;
  guint i = 0;

  if (info == NULL)
    return NULL;
  while ((meta = gst_buffer_iterate_meta_filtered (buffer, &state, info->api))
      != NULL) {
    if (i++ == index)
      return (GstCustomMeta *) meta;
  }
  return NULL;
}

/* How many classified faces the buffer carries. */
static inline guint
adatosk_dfer_buffer_get_n_results (GstBuffer *buffer)
{
  guint n = 0;

  while (adatosk_dfer_buffer_get_meta (buffer, n) != NULL)
    n++;
  return n;
}

/* Fills `result` with the `index`-th classified face of the buffer; FALSE
 * when there is no such result. */
static inline gboolean
adatosk_dfer_buffer_get_result (GstBuffer *buffer, guint index,
    AdatoskDferResult *result)
{
  GstCustomMeta *meta = adatosk_dfer_buffer_get_meta (buffer, index);
  const GstStructure *s;
  const GValue *v;
  guint64 start = GST_CLOCK_TIME_NONE, end = GST_CLOCK_TIME_NONE;

  if (meta == NULL)
    return FALSE;
  s = gst_custom_meta_get_structure (meta);
  memset (result, 0, sizeof (*result));
  result->structure = s;
  result->label = gst_structure_get_string (s, ADATOSK_DFER_FIELD_LABEL);
  result->model_name =
      gst_structure_get_string (s, ADATOSK_DFER_FIELD_MODEL_NAME);
  if (!gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID,
          &result->track_id)
      || !gst_structure_get_int (s, ADATOSK_DFER_FIELD_LABEL_ID,
          &result->label_id)
      || !gst_structure_get_double (s, ADATOSK_DFER_FIELD_CONFIDENCE,
          &result->confidence)
      || !gst_structure_get_uint64 (s, ADATOSK_DFER_FIELD_CLIP_START, &start)
      || !gst_structure_get_uint64 (s, ADATOSK_DFER_FIELD_CLIP_END, &end)
      || !gst_structure_get_double (s, ADATOSK_DFER_FIELD_KEPT_FRACTION,
          &result->kept_fraction)
      || result->label == NULL)
    return FALSE;
  result->clip_start = start;
  result->clip_end = end;
  v = gst_structure_get_value (s, ADATOSK_DFER_FIELD_PROBABILITIES);
  result->num_classes = v ? gst_value_array_get_size (v) : 0;
  v = gst_structure_get_value (s, ADATOSK_DFER_FIELD_SIGNIFICANCE);
  result->num_frames = v ? gst_value_array_get_size (v) : 0;
  return TRUE;
}

/* Probability of class `class_id`, or -1 when out of range. */
static inline gdouble
adatosk_dfer_result_get_probability (const AdatoskDferResult *result,
    guint class_id)
{
  const GValue *v = gst_structure_get_value (result->structure,
      ADATOSK_DFER_FIELD_PROBABILITIES);

  if (v == NULL || class_id >= gst_value_array_get_size (v))
    return -1.0;
  return g_value_get_float (gst_value_array_get_value (v, class_id));
}

/* Name of class `class_id`, or NULL when out of range. */
static inline const gchar *
adatosk_dfer_result_get_class_label (const AdatoskDferResult *result,
    guint class_id)
{
  const GValue *v =
      gst_structure_get_value (result->structure, ADATOSK_DFER_FIELD_LABELS);

  if (v == NULL || class_id >= gst_value_array_get_size (v))
    return NULL;
  return g_value_get_string (gst_value_array_get_value (v, class_id));
}

/* Significance of the clip's `frame`-th frame, or -1 when out of range. */
static inline gdouble
adatosk_dfer_result_get_significance (const AdatoskDferResult *result,
    guint frame)
{
  const GValue *v = gst_structure_get_value (result->structure,
      ADATOSK_DFER_FIELD_SIGNIFICANCE);

  if (v == NULL || frame >= gst_value_array_get_size (v))
    return -1.0;
  return g_value_get_float (gst_value_array_get_value (v, frame));
}

G_END_DECLS

#endif /* ADATOSK_META_H */
