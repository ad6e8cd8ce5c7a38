/* adatoskdfer: results on buffers and on the bus.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "results.h"

/* The fields the ROI param carries (DL Streamer's names, then ours). */
static const gchar *const roi_fields[] = {ADATOSK_DFER_FIELD_LABEL,
    ADATOSK_DFER_FIELD_LABEL_ID, ADATOSK_DFER_FIELD_CONFIDENCE,
    ADATOSK_DFER_FIELD_MODEL_NAME, ADATOSK_DFER_FIELD_TRACK_ID,
    ADATOSK_DFER_FIELD_CLIP_START, ADATOSK_DFER_FIELD_CLIP_END, NULL};

const GstMetaInfo *
adatosk_dfer_meta_register (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    const gchar *tags[] = {NULL};
    const GstMetaInfo *registered =
        gst_meta_register_custom (ADATOSK_DFER_META_NAME, tags, NULL, NULL,
            NULL);

    g_once_init_leave (&info, registered);
  }
  return info;
}

static void
take_float_array (GstStructure *s, const gchar *field, const gfloat *v, guint n)
{
  GValue array = G_VALUE_INIT;

  gst_value_array_init (&array, n);
  for (guint i = 0; i < n; i++) {
    GValue item = G_VALUE_INIT;

    g_value_init (&item, G_TYPE_FLOAT);
    g_value_set_float (&item, v[i]);
    gst_value_array_append_and_take_value (&array, &item);
  }
  gst_structure_take_value (s, field, &array);
}

GstStructure *
adatosk_dfer_result_new (const AdatoskClip *clip, gchar **labels,
    guint num_classes, guint num_frames, const gchar *model_name)
{
  GstStructure *s;
  GValue names = G_VALUE_INIT;

  s = gst_structure_new (ADATOSK_DFER_META_NAME, ADATOSK_DFER_FIELD_LABEL,
      G_TYPE_STRING, labels[clip->label_id], ADATOSK_DFER_FIELD_LABEL_ID,
      G_TYPE_INT, clip->label_id, ADATOSK_DFER_FIELD_CONFIDENCE, G_TYPE_DOUBLE,
      (gdouble) clip->confidence, ADATOSK_DFER_FIELD_MODEL_NAME, G_TYPE_STRING,
      model_name, ADATOSK_DFER_FIELD_TRACK_ID, G_TYPE_UINT, clip->track_id,
      ADATOSK_DFER_FIELD_CLIP_START, G_TYPE_UINT64, (guint64) clip->start,
      ADATOSK_DFER_FIELD_CLIP_END, G_TYPE_UINT64, (guint64) clip->end,
      ADATOSK_DFER_FIELD_KEPT_FRACTION, G_TYPE_DOUBLE, clip->kept_fraction,
      NULL);
  take_float_array (s, ADATOSK_DFER_FIELD_PROBABILITIES, clip->probs,
      num_classes);
  take_float_array (s, ADATOSK_DFER_FIELD_SIGNIFICANCE, clip->significance,
      num_frames);
  gst_value_array_init (&names, num_classes);
  for (guint i = 0; i < num_classes; i++) {
    GValue item = G_VALUE_INIT;

    g_value_init (&item, G_TYPE_STRING);
    g_value_set_string (&item, labels[i]);
    gst_value_array_append_and_take_value (&names, &item);
  }
  gst_structure_take_value (s, ADATOSK_DFER_FIELD_LABELS, &names);
  return s;
}

static gboolean
copy_field (GQuark field, const GValue *value, gpointer user_data)
{
  gst_structure_id_set_value (user_data, field, value);
  return TRUE;
}

void
adatosk_dfer_result_attach (const GstStructure *result, GstBuffer *buffer,
    GstVideoRegionOfInterestMeta *roi)
{
  GstCustomMeta *meta;

  meta = gst_buffer_add_custom_meta (buffer, ADATOSK_DFER_META_NAME);
  if (meta != NULL)
    gst_structure_foreach (result, copy_field,
        gst_custom_meta_get_structure (meta));

  if (roi != NULL) {
    GstStructure *param = gst_structure_new_empty (ADATOSK_DFER_ROI_PARAM_NAME);

    for (guint i = 0; roi_fields[i] != NULL; i++)
      gst_structure_set_value (param, roi_fields[i],
          gst_structure_get_value (result, roi_fields[i]));
    /* The ROI takes ownership. */
    gst_video_region_of_interest_meta_add_param (roi, param);
  }
}

GstStructure *
adatosk_dfer_result_to_message (const GstStructure *result,
    const AdatoskBox *box)
{
  GstStructure *s = gst_structure_copy (result);

  gst_structure_set_name (s, ADATOSK_DFER_MESSAGE_NAME);
  gst_structure_set (s, ADATOSK_DFER_FIELD_X, G_TYPE_INT, box->x,
      ADATOSK_DFER_FIELD_Y, G_TYPE_INT, box->y, ADATOSK_DFER_FIELD_WIDTH,
      G_TYPE_INT, box->w, ADATOSK_DFER_FIELD_HEIGHT, G_TYPE_INT, box->h, NULL);
  return s;
}
