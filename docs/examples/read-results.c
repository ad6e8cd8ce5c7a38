/* Reading adatoskdfer's results in an application.
 *
 *   read-results VIDEO MODEL [sync|async]     (MODEL "": the default model)
 *
 * runs  filesrc ! decodebin ! videoconvert ! facedetect display=false !
 *       adatoskdfer ! fakesink
 * and prints one line per classified clip, read from the buffers by a pad
 * probe through the header-only API of gst-plugin/adatoskmeta.h:
 *
 *   0:01.200 - 0:01.840  face 1  surprised  0.412  (neutral 0.101 ...)
 *
 * A result stays on a face's buffers until the face's next clip, so the
 * probe prints a result the first time it sees its (track-id, clip-start).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdlib.h>

#include "adatoskmeta.h"

typedef struct
{
  GHashTable *seen; /* "track:clip-start" of the printed results */
  guint frames;
  guint frames_with_results;
} Reader;

/* m:ss.mmm */
static void
append_time (GString *line, GstClockTime t)
{
  guint64 ms = GST_CLOCK_TIME_IS_VALID (t) ? t / GST_MSECOND : 0;

  g_string_append_printf (line, "%u:%02u.%03u", (guint) (ms / 60000),
      (guint) (ms / 1000 % 60), (guint) (ms % 1000));
}

static GstPadProbeReturn
on_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Reader *reader = user_data;
  GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
  guint n = adatosk_dfer_buffer_get_n_results (buffer);
  AdatoskDferResult r;

  (void) pad;
  reader->frames++;
  if (n > 0)
    reader->frames_with_results++;
  for (guint i = 0; i < n; i++) {
    gchar *key;
    GString *line;

    if (!adatosk_dfer_buffer_get_result (buffer, i, &r))
      continue;
    key = g_strdup_printf ("%u:%" G_GUINT64_FORMAT, r.track_id,
        (guint64) r.clip_start);
    if (!g_hash_table_add (reader->seen, key))
      continue; /* printed on an earlier frame */

    line = g_string_new (NULL);
    append_time (line, r.clip_start);
    g_string_append (line, " - ");
    append_time (line, r.clip_end);
    g_string_append_printf (line, "  face %u  %-10s %.3f  (", r.track_id,
        r.label, r.confidence);
    for (guint k = 0; k < r.num_classes; k++)
      g_string_append_printf (line, "%s%s %.3f", k ? " " : "",
          adatosk_dfer_result_get_class_label (&r, k),
          adatosk_dfer_result_get_probability (&r, k));
    g_string_append (line, ")");
    g_print ("%s\n", line->str);
    g_string_free (line, TRUE);
  }
  return GST_PAD_PROBE_OK;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *dfer;
  GstPad *pad;
  GstBus *bus;
  GstMessage *msg;
  GError *error = NULL;
  gchar *description, *location;
  Reader reader = {0};
  int status = 0;

  gst_init (&argc, &argv);
  if (argc < 3 || argc > 4) {
    g_printerr ("usage: %s VIDEO MODEL [sync|async]\n", argv[0]);
    return 2;
  }
  location = g_strescape (argv[1], NULL);
  description =
      g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
                       "videoconvert ! facedetect display=false ! adatoskdfer "
                       "name=dfer "
                       "post-messages=false inference-mode=%s ! fakesink",
          location, argc == 4 ? argv[3] : "sync");
  pipeline = gst_parse_launch (description, &error);
  g_free (description);
  g_free (location);
  if (pipeline == NULL || error != NULL) {
    /* gst_parse_launch() may return a pipeline with an element missing. */
    g_printerr ("cannot build the pipeline: %s (is gstreamer1.0-opencv "
                "installed, and GST_PLUGIN_PATH set to the build's "
                "gst-plugin/?)\n",
        error ? error->message : "unknown error");
    g_clear_error (&error);
    if (pipeline)
      gst_object_unref (pipeline);
    return 1;
  }
  dfer = gst_bin_get_by_name (GST_BIN (pipeline), "dfer");
  /* An empty MODEL keeps the element's default model. */
  if (argv[2][0] != '\0')
    g_object_set (dfer, "model", argv[2], NULL);

  reader.seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  pad = gst_element_get_static_pad (dfer, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, &reader, NULL);
  gst_object_unref (pad);

  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gchar *debug = NULL;

    gst_message_parse_error (msg, &error, &debug);
    g_printerr ("error: %s\n%s\n", error->message, debug ? debug : "");
    g_error_free (error);
    g_free (debug);
    status = 1;
  } else {
    guint64 classified = 0;
    gchar *device = NULL;

    g_object_get (dfer, "clips-classified", &classified, "device", &device,
        NULL);
    g_print ("%u clips of %u frames classified on %s; %u frames carried "
             "results\n",
        g_hash_table_size (reader.seen), reader.frames, device ? device : "?",
        reader.frames_with_results);
    if (classified != g_hash_table_size (reader.seen))
      g_print ("(%" G_GUINT64_FORMAT " classified in all: the others "
               "completed while their face was no longer detected, so no frame "
               "carried them; post-messages=true reports every clip)\n",
          classified);
    g_free (device);
  }
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (dfer);
  gst_object_unref (pipeline);
  g_hash_table_unref (reader.seen);
  return status;
}
