/* Frames per second of the whole adatoskdfer pipeline on a real video, with
 * and without facedetect, beside decoding alone (the peer measured in the
 * same run), and the real-time factor (video duration / wall time; above 1
 * keeps up with a live source of that video).
 *
 *   pipeline-fps VIDEO MODEL [REPEATS]
 *
 * Each pipeline runs REPEATS times (default 1); the table shows the fastest.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  const gchar *name;
  const gchar *tail;            /* after "filesrc ! decodebin ! videoconvert" */
} Row;

static const Row rows[] = {
  {"decode only (peer)", "fakesink"},
  {"+ facedetect", "facedetect display=false ! fakesink"},
  {"+ facedetect + adatoskdfer sync",
      "facedetect display=false ! adatoskdfer name=dfer inference-mode=sync "
        "! fakesink"},
  {"+ facedetect + adatoskdfer async",
      "facedetect display=false ! adatoskdfer name=dfer inference-mode=async "
        "! fakesink"},
  {"+ adatoskdfer full-frame sync",
      "adatoskdfer name=dfer roi-mode=full-frame inference-mode=sync ! "
        "fakesink"},
  {"+ adatoskdfer full-frame async",
      "adatoskdfer name=dfer roi-mode=full-frame inference-mode=async ! "
        "fakesink"},
};

typedef struct
{
  guint frames;
  GstClockTime end;             /* end of the last frame: the video's length */
} Count;

static GstPadProbeReturn
count_frame (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  Count *count = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

  (void) pad;
  count->frames++;
  if (GST_BUFFER_PTS_IS_VALID (buf)) {
    GstClockTime end = GST_BUFFER_PTS (buf);

    if (GST_BUFFER_DURATION_IS_VALID (buf))
      end += GST_BUFFER_DURATION (buf);
    count->end = MAX (count->end, end);
  }
  return GST_PAD_PROBE_OK;
}

/* Runs one pipeline to the end; wall seconds, or a negative value on error. */
static gdouble
run_once (const gchar * video, const gchar * model, const Row * row,
    Count * count, guint64 * clips, gchar ** device)
{
  gchar *d = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
      "videoconvert ! %s", video, row->tail);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (d, &error), *dfer, *sink;
  GstIterator *it;
  GValue item = G_VALUE_INIT;
  GstPad *pad;
  GstBus *bus;
  GstMessage *msg;
  gint64 t0;
  gdouble wall = -1.0;

  g_free (d);
  if (pipeline == NULL) {
    g_printerr ("%s: %s\n", row->name, error->message);
    g_error_free (error);
    return -1.0;
  }
  dfer = gst_bin_get_by_name (GST_BIN (pipeline), "dfer");
  if (dfer)
    g_object_set (dfer, "model", model, NULL);
  it = gst_bin_iterate_sinks (GST_BIN (pipeline));
  if (gst_iterator_next (it, &item) != GST_ITERATOR_OK) {
    gst_iterator_free (it);
    gst_object_unref (pipeline);
    return -1.0;
  }
  sink = g_value_dup_object (&item);
  g_value_unset (&item);
  gst_iterator_free (it);
  pad = gst_element_get_static_pad (sink, "sink");
  memset (count, 0, sizeof (*count));
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_frame, count,
      NULL);
  gst_object_unref (pad);

  bus = gst_element_get_bus (pipeline);
  t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    wall = (g_get_monotonic_time () - t0) / 1e6;
  } else {
    gchar *debug = NULL;

    gst_message_parse_error (msg, &error, &debug);
    g_printerr ("%s: %s\n%s\n", row->name, error->message, debug);
    g_error_free (error);
    g_free (debug);
  }
  gst_message_unref (msg);
  *clips = 0;
  if (dfer) {
    g_free (*device);
    g_object_get (dfer, "clips-classified", clips, "device", device, NULL);
    gst_object_unref (dfer);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return wall;
}

int
main (int argc, char **argv)
{
  guint repeats;
  gchar *device = NULL;

  gst_init (&argc, &argv);
  if (argc < 3 || argc > 4) {
    g_printerr ("usage: %s VIDEO MODEL [REPEATS]\n", argv[0]);
    return 2;
  }
  repeats = argc == 4 ? (guint) MAX (atoi (argv[3]), 1) : 1;

  g_print ("video %s, model %s, %u CPUs, best of %u\n\n", argv[1], argv[2],
      g_get_num_processors (), repeats);
  g_print ("| %-36s | %6s | %5s | %7s | %7s | %9s |\n", "pipeline",
      "frames", "clips", "wall s", "fps", "real-time");
  g_print ("|%.38s|%.8s|%.7s|%.9s|%.9s|%.11s|\n",
      "--------------------------------------", "--------", "-------",
      "---------", "---------", "-----------");
  for (guint r = 0; r < G_N_ELEMENTS (rows); r++) {
    gdouble best = -1.0;
    Count count = { 0 };
    guint64 clips = 0;

    for (guint i = 0; i < repeats; i++) {
      gdouble wall = run_once (argv[1], argv[2], &rows[r], &count, &clips,
          &device);

      if (wall < 0)
        return 1;
      if (best < 0 || wall < best)
        best = wall;
    }
    g_print ("| %-36s | %6u | %5" G_GUINT64_FORMAT " | %7.2f | %7.1f | "
        "%8.2fx |\n", rows[r].name, count.frames, clips, best,
        count.frames / best, (count.end / 1e9) / best);
  }
  g_print ("\nadatoskdfer ran on %s. Real-time: video duration / wall "
      "time.\n", device ? device : "?");
  g_free (device);
  return 0;
}
