/* adatoskdfer: results-location, one JSON object per classified clip, one
 * line each (JSON lines), flushed per line.
 *
 * The names follow DL Streamer's gvametaconvert where they overlap: the
 * object's "id" (its track), "x", "y", "w", "h" and "roi_type", the
 * classification's "label", "label_id", "confidence" and "model": {"name"},
 * "timestamp" in nanoseconds. gvametaconvert writes one object per frame
 * with a list of objects; a clip is the unit here, so a line is one clip of
 * one face, and "timestamp" is the stream time of the clip's first frame
 * ("timestamp_end": the end of its last). Then what only this element has:
 * "labels" and "probabilities" (every class, in the model's order),
 * "significance" (per frame of the clip), "kept_fraction", and the clip's
 * buffer times "pts_start" and "pts_end" (the messages' clip-start and
 * clip-end). Numbers are written with 17 significant digits, so every
 * float reads back exactly as the element had it.
 *
 *   {"timestamp":480000000,"timestamp_end":1120000000,"id":1,"roi_type":"face",
 *    "x":138,"y":95,"w":140,"h":140,"label":"surprised","label_id":6,
 *    "confidence":0.88,"model":{"name":"adatosk-tiny-faceapi"},
 *    "labels":["neutral",...],"probabilities":[0.03,...],
 *    "significance":[0.9,...],"kept_fraction":0.5,
 *    "pts_start":480000000,"pts_end":1120000000}
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "results_jsonl.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "adatoskmeta.h"

struct AdatoskResultsJsonl
{
  FILE *file;
  gchar *path;
};

AdatoskResultsJsonl *
adatosk_results_jsonl_new (const gchar *path, GError **error)
{
  FILE *file = g_fopen (path, "w");
  AdatoskResultsJsonl *writer;

  if (file == NULL) {
    int saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
        "cannot create %s: %s", path, g_strerror (saved));
    return NULL;
  }
  writer = g_new0 (AdatoskResultsJsonl, 1);
  writer->file = file;
  writer->path = g_strdup (path);
  return writer;
}

void
adatosk_results_jsonl_free (AdatoskResultsJsonl *writer)
{
  if (writer == NULL)
    return;
  fclose (writer->file);
  g_free (writer->path);
  g_free (writer);
}

static void
add_time (JsonBuilder *b, const gchar *name, GstClockTime time)
{
  json_builder_set_member_name (b, name);
  if (GST_CLOCK_TIME_IS_VALID (time))
    json_builder_add_int_value (b, (gint64) time);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const gchar *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

/* A GstValueArray of floats or strings as a JSON list. */
static void
add_array (JsonBuilder *b, const gchar *name, const GstStructure *result,
    const gchar *field)
{
  const GValue *array = gst_structure_get_value (result, field);
  guint n = array != NULL ? gst_value_array_get_size (array) : 0;

  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++) {
    const GValue *v = gst_value_array_get_value (array, i);

    if (G_VALUE_HOLDS_FLOAT (v))
      json_builder_add_double_value (b, g_value_get_float (v));
    else if (G_VALUE_HOLDS_STRING (v))
      json_builder_add_string_value (b, g_value_get_string (v));
  }
  json_builder_end_array (b);
}

static gchar *
to_line (const GstStructure *result, const AdatoskBox *box,
    const GstSegment *segment)
{
  JsonBuilder *b = json_builder_new ();
  guint64 start = GST_CLOCK_TIME_NONE, end = GST_CLOCK_TIME_NONE;
  guint track_id = 0;
  gint label_id = -1;
  gdouble confidence = 0.0, kept_fraction = 0.0;
  JsonNode *root;
  gchar *line;

  gst_structure_get_uint64 (result, ADATOSK_DFER_FIELD_CLIP_START, &start);
  gst_structure_get_uint64 (result, ADATOSK_DFER_FIELD_CLIP_END, &end);
  gst_structure_get_uint (result, ADATOSK_DFER_FIELD_TRACK_ID, &track_id);
  gst_structure_get_int (result, ADATOSK_DFER_FIELD_LABEL_ID, &label_id);
  gst_structure_get_double (result, ADATOSK_DFER_FIELD_CONFIDENCE, &confidence);
  gst_structure_get_double (result, ADATOSK_DFER_FIELD_KEPT_FRACTION,
      &kept_fraction);

  json_builder_begin_object (b);
  add_time (b, "timestamp",
      gst_segment_to_stream_time (segment, GST_FORMAT_TIME, start));
  add_time (b, "timestamp_end",
      gst_segment_to_stream_time (segment, GST_FORMAT_TIME, end));
  add_int (b, "id", track_id);
  json_builder_set_member_name (b, "roi_type");
  json_builder_add_string_value (b, "face");
  add_int (b, "x", box->x);
  add_int (b, "y", box->y);
  add_int (b, "w", box->w);
  add_int (b, "h", box->h);
  json_builder_set_member_name (b, "label");
  json_builder_add_string_value (b,
      gst_structure_get_string (result, ADATOSK_DFER_FIELD_LABEL));
  add_int (b, "label_id", label_id);
  json_builder_set_member_name (b, "confidence");
  json_builder_add_double_value (b, confidence);
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b,
      gst_structure_get_string (result, ADATOSK_DFER_FIELD_MODEL_NAME));
  json_builder_end_object (b);
  add_array (b, "labels", result, ADATOSK_DFER_FIELD_LABELS);
  add_array (b, "probabilities", result, ADATOSK_DFER_FIELD_PROBABILITIES);
  add_array (b, "significance", result, ADATOSK_DFER_FIELD_SIGNIFICANCE);
  json_builder_set_member_name (b, "kept_fraction");
  json_builder_add_double_value (b, kept_fraction);
  add_time (b, "pts_start", start);
  add_time (b, "pts_end", end);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  line = json_to_string (root, FALSE);
  json_node_unref (root);
  g_object_unref (b);
  return line;
}

gboolean
adatosk_results_jsonl_write (AdatoskResultsJsonl *writer,
    const GstStructure *result, const AdatoskBox *box,
    const GstSegment *segment, GError **error)
{
  gchar *line = to_line (result, box, segment);
  gboolean ok = fputs (line, writer->file) >= 0
      && fputc ('\n', writer->file) != EOF && fflush (writer->file) == 0;

  g_free (line);
  if (!ok) {
    int saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
        "cannot write to %s: %s", writer->path, g_strerror (saved));
  }
  return ok;
}
