/* Many faces and many streams through adatoskdfer: one configuration per
 * run, one Markdown table row on stdout (benchmarks/many_faces.sh runs the
 * table, one process per row, so that each row's max RSS is its own).
 *
 *   many-faces boxes VIDEO BOXES.txt
 *       facedetect once over VIDEO: one line per frame, "x y w h" of the
 *       largest face or "-"; the measured runs read it, so the face
 *       detector's time is not in them.
 *   many-faces run TILED VIDEO BOXES.txt MODEL LAYOUT FACES MODE BATCH
 *       SOURCE SECONDS
 *       LAYOUT tiled: one stream of TILED (VIDEO in a grid of GRID x GRID
 *       tiles, made by many_faces.sh), FACES upstream face ROIs on the
 *       first FACES tiles (the detected box scaled into each tile).
 *       LAYOUT streams: FACES streams of VIDEO in one pipeline, one face
 *       ROI each, all elements on one model-instance-id.
 *       MODE async|sync, BATCH the elements' batch-size; SOURCE file
 *       (as fast as it goes: the real-time factor says how many times the
 *       video's speed the pipeline ran) or live (tiled only: the decoded
 *       frames pushed into appsrc is-live=true at 25 fps; async then drops
 *       the clips the model cannot keep up with); the first SECONDS of
 *       the video.
 * Every face: frame-step 1, clip-stride 8 (a clip every 8 frames, 3.1 a
 * second at 25 fps), threads 2.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define GRID 5         /* tiles per row and column of TILED */
#define TILE_SCALE 0.4 /* tile size / VIDEO size */
#define MAX_FRAMES 100000
#define FPS 25

typedef struct
{
  gint x, y, w, h; /* w == 0: no face on that frame */
} Box;

typedef struct
{
  Box *boxes;
  guint n_boxes;
  guint faces; /* ROIs per buffer (tiled) */
  gboolean tiled;
  guint frames; /* seen by this stream's ROI probe */
  Box last;     /* the last detected box, for frames without */
} RoiSource;

/* ---- facedetect pass ---- */

static GstPadProbeReturn
record_box (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  FILE *out = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gpointer state = NULL;
  GstMeta *meta;
  guint best = 0;
  Box box = {0, 0, 0, 0};

  (void) pad;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
      != NULL) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;

    if (roi->w * roi->h > best) {
      best = roi->w * roi->h;
      box = (Box){(gint) roi->x, (gint) roi->y, (gint) roi->w, (gint) roi->h};
    }
  }
  if (box.w > 0)
    fprintf (out, "%d %d %d %d\n", box.x, box.y, box.w, box.h);
  else
    fprintf (out, "-\n");
  return GST_PAD_PROBE_OK;
}

/* Runs `pipeline` to EOS; FALSE on error. */
static gboolean
run_to_eos (GstElement *pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;
  gboolean ok;

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  ok = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;
  if (!ok) {
    GError *error = NULL;

    gst_message_parse_error (msg, &error, NULL);
    g_printerr ("many-faces: %s\n", error->message);
    g_error_free (error);
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  return ok;
}

static int
detect_boxes (const gchar *video, const gchar *path)
{
  gchar *d = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
                              "videoconvert ! facedetect display=false ! "
                              "fakesink name=sink "
                              "sync=false",
      video);
  GstElement *pipeline = gst_parse_launch (d, NULL), *sink;
  GstPad *pad;
  FILE *out = fopen (path, "w");
  gboolean ok;

  g_free (d);
  if (!pipeline || !out) {
    g_printerr ("many-faces: cannot run facedetect or write %s\n", path);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, record_box, out, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
  ok = run_to_eos (pipeline);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  fclose (out);
  return ok ? 0 : 1;
}

static Box *
read_boxes (const gchar *path, guint *n)
{
  FILE *in = fopen (path, "r");
  Box *boxes = g_new0 (Box, MAX_FRAMES);
  char line[128];

  *n = 0;
  if (!in) {
    g_free (boxes);
    return NULL;
  }
  while (*n < MAX_FRAMES && fgets (line, sizeof line, in)) {
    Box *b = &boxes[(*n)++];

    if (sscanf (line, "%d %d %d %d", &b->x, &b->y, &b->w, &b->h) != 4)
      b->w = 0;
  }
  fclose (in);
  return boxes;
}

/* ---- upstream face ROIs ---- */

/* Adds this frame's face ROIs: the detected box (or the last one while the
 * detector misses), in every tile used or as it is. */
static GstPadProbeReturn
add_rois (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  RoiSource *src = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint frame = src->frames++;

  (void) pad;
  if (frame < src->n_boxes && src->boxes[frame].w > 0)
    src->last = src->boxes[frame];
  if (src->last.w == 0)
    return GST_PAD_PROBE_OK;
  buf = gst_buffer_make_writable (buf);
  GST_PAD_PROBE_INFO_DATA (info) = buf;
  for (guint f = 0; f < src->faces; f++) {
    Box b = src->last;

    if (src->tiled) {
      gint tile_w = 0, tile_h = 0;
      GstCaps *caps = gst_pad_get_current_caps (pad);
      GstVideoInfo vinfo;

      if (caps && gst_video_info_from_caps (&vinfo, caps)) {
        tile_w = GST_VIDEO_INFO_WIDTH (&vinfo) / GRID;
        tile_h = GST_VIDEO_INFO_HEIGHT (&vinfo) / GRID;
      }
      if (caps)
        gst_caps_unref (caps);
      b.x = (gint) (b.x * TILE_SCALE) + (gint) (f % GRID) * tile_w;
      b.y = (gint) (b.y * TILE_SCALE) + (gint) (f / GRID) * tile_h;
      b.w = (gint) (b.w * TILE_SCALE);
      b.h = (gint) (b.h * TILE_SCALE);
    }
    gst_buffer_add_video_region_of_interest_meta (buf, "face", b.x, b.y, b.w,
        b.h);
  }
  return GST_PAD_PROBE_OK;
}

/* ---- the measured run ---- */

typedef struct
{
  guint frames;
  GstClockTime end;
} Count;

static GstPadProbeReturn
count_frame (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Count *count = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

  (void) pad;
  count->frames++;
  if (GST_BUFFER_PTS_IS_VALID (buf) && GST_BUFFER_DURATION_IS_VALID (buf))
    count->end =
        MAX (count->end, GST_BUFFER_PTS (buf) + GST_BUFFER_DURATION (buf));
  return GST_PAD_PROBE_OK;
}

typedef struct
{
  const gchar *tiled_video, *video, *model, *layout, *mode, *source;
  guint faces, batch;
  gdouble seconds;
} Config;

/* max-tracks is the faces an element sees (one per stream in the streams
 * layout): in async mode it is also how many clips may wait per element,
 * each 2.4 MB for adatosk-tiny, so a larger one only costs memory. */
static gchar *
element_settings (const Config *c, guint i, guint faces)
{
  return g_strdup_printf ("adatoskdfer name=dfer%u roi-mode=roi "
                          "frame-step=1 clip-stride=8 max-tracks=%u "
                          "max-faces=%u threads=2 inference-mode=%s "
                          "batch-size=%u model-instance-id=many-faces",
      i, MIN (faces, 64), MAX (faces, 16), c->mode, c->batch);
}

static gchar *
describe_pipeline (const Config *c, gboolean live, guint streams)
{
  GString *d = g_string_new (NULL);

  for (guint i = 0; i < streams; i++) {
    gchar *dfer = element_settings (c, i, c->layout[0] == 't' ? c->faces : 1);

    if (live)
      g_string_append_printf (d,
          "appsrc name=src%u is-live=true "
          "format=time do-timestamp=true ! ",
          i);
    else
      g_string_append_printf (d,
          "filesrc location=\"%s\" ! decodebin ! "
          "videoconvert ! ",
          c->layout[0] == 't' ? c->tiled_video : c->video);
    g_string_append_printf (d,
        "identity name=roi%u ! %s ! fakesink "
        "name=sink%u sync=false ",
        i, dfer, i);
    g_free (dfer);
  }
  return g_string_free (d, FALSE);
}

/* Pushes the decoded frames of `video` into `src` at 25 fps, stamped on
 * arrival like a camera's; returns the frames pushed. */
static guint
feed_live (const gchar *video, GstElement *src, guint frames)
{
  gchar *d = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
                              "videoconvert ! appsink name=out sync=false "
                              "max-buffers=8",
      video);
  GstElement *decode = gst_parse_launch (d, NULL), *sink;
  gint64 t0;
  guint n = 0;

  g_free (d);
  sink = gst_bin_get_by_name (GST_BIN (decode), "out");
  gst_element_set_state (decode, GST_STATE_PLAYING);
  t0 = g_get_monotonic_time ();
  while (n < frames) {
    GstSample *sample = gst_app_sink_pull_sample (GST_APP_SINK (sink));
    GstBuffer *buf;
    gint64 due;

    if (!sample)
      break;
    if (n == 0)
      gst_app_src_set_caps (GST_APP_SRC (src), gst_sample_get_caps (sample));
    buf = gst_buffer_copy (gst_sample_get_buffer (sample));
    GST_BUFFER_PTS (buf) = GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
    gst_app_src_push_buffer (GST_APP_SRC (src), buf);
    gst_sample_unref (sample);
    n++;
    due = t0 + (gint64) n * G_USEC_PER_SEC / FPS;
    if (due > g_get_monotonic_time ())
      g_usleep (due - g_get_monotonic_time ());
  }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  gst_element_set_state (decode, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (decode);
  return n;
}

static int
run_config (const Config *c, Box *boxes, guint n_boxes)
{
  gboolean tiled = c->layout[0] == 't', live = !strcmp (c->source, "live");
  guint streams = tiled ? 1 : c->faces;
  gchar *d = describe_pipeline (c, live, streams);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (d, &error);
  RoiSource *rois = g_new0 (RoiSource, streams);
  Count count = {0, 0};
  guint64 classified = 0, dropped = 0, forwards = 0;
  gchar *device = NULL;
  gint64 t0;
  gdouble wall, video_s;
  gboolean ok = TRUE;
  struct rusage usage;

  g_free (d);
  if (!pipeline) {
    g_printerr ("many-faces: %s\n", error->message);
    return 1;
  }
  for (guint i = 0; i < streams; i++) {
    gchar *name = g_strdup_printf ("roi%u", i);
    GstElement *identity = gst_bin_get_by_name (GST_BIN (pipeline), name);
    GstElement *dfer;
    GstPad *pad = gst_element_get_static_pad (identity, "src");

    rois[i] = (RoiSource){boxes, n_boxes, tiled ? c->faces : 1, tiled, 0,
        {0, 0, 0, 0}};
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, add_rois, &rois[i],
        NULL);
    gst_object_unref (pad);
    gst_object_unref (identity);
    g_free (name);
    name = g_strdup_printf ("dfer%u", i);
    dfer = gst_bin_get_by_name (GST_BIN (pipeline), name);
    g_object_set (dfer, "model", c->model, NULL);
    gst_object_unref (dfer);
    g_free (name);
  }
  {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink0");
    GstPad *pad = gst_element_get_static_pad (sink, "sink");

    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_frame, &count,
        NULL);
    gst_object_unref (pad);
    gst_object_unref (sink);
  }

  t0 = g_get_monotonic_time ();
  if (live) {
    GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src0");

    gst_element_set_state (pipeline, GST_STATE_PLAYING);
    feed_live (c->tiled_video, src, (guint) (c->seconds * FPS));
    gst_object_unref (src);
    ok = run_to_eos (pipeline);
  } else {
    /* The first SECONDS only: a seek with a stop position before playing. */
    gst_element_set_state (pipeline, GST_STATE_PAUSED);
    gst_element_get_state (pipeline, NULL, NULL, GST_CLOCK_TIME_NONE);
    t0 = g_get_monotonic_time ();
    gst_element_seek (pipeline, 1.0, GST_FORMAT_TIME,
        GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, GST_SEEK_TYPE_SET, 0,
        GST_SEEK_TYPE_SET, (gint64) (c->seconds * GST_SECOND));
    ok = run_to_eos (pipeline);
  }
  wall = (g_get_monotonic_time () - t0) / 1e6;
  for (guint i = 0; i < streams; i++) {
    gchar *name = g_strdup_printf ("dfer%u", i);
    GstElement *dfer = gst_bin_get_by_name (GST_BIN (pipeline), name);
    guint64 a, b, f;

    g_object_get (dfer, "clips-classified", &a, "clips-dropped", &b, "forwards",
        &f, NULL);
    if (i == 0)
      g_object_get (dfer, "device", &device, NULL);
    classified += a;
    dropped += b;
    forwards = f; /* one engine: every element counts all */
    gst_object_unref (dfer);
    g_free (name);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  getrusage (RUSAGE_SELF, &usage);

  video_s = live ? count.frames / (gdouble) FPS : count.end / 1e9;
  /* Faces per second: face-frames the element handled per wall second. */
  g_print ("| %s | %u | %s | %u | %s | %u | %" G_GUINT64_FORMAT
           " | %" G_GUINT64_FORMAT " | %" G_GUINT64_FORMAT
           " | %.1f | %.2fx | %.0f | "
           "%.1f | %.0f |\n",
      c->layout, c->faces, c->mode, c->batch, c->source, count.frames,
      classified, dropped, forwards, wall, video_s / wall,
      c->faces * count.frames / wall, classified / wall,
      usage.ru_maxrss / 1024.0);
  g_printerr ("many-faces: adatoskdfer on %s\n", device ? device : "?");
  g_free (device);
  g_free (rois);
  return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc == 4 && !strcmp (argv[1], "boxes"))
    return detect_boxes (argv[2], argv[3]);
  if (argc == 12 && !strcmp (argv[1], "run")) {
    Config c = {argv[2], argv[3], argv[5], argv[6], argv[8], argv[10],
        (guint) atoi (argv[7]), (guint) atoi (argv[9]),
        g_ascii_strtod (argv[11], NULL)};
    guint n_boxes;
    Box *boxes = read_boxes (argv[4], &n_boxes);
    gboolean tiled = !strcmp (c.layout, "tiled");
    int status;

    if (!boxes || (!tiled && strcmp (c.layout, "streams")) || c.faces < 1
        || (tiled && c.faces > GRID * GRID)
        || (strcmp (c.mode, "async") && strcmp (c.mode, "sync"))
        || (strcmp (c.source, "file") && strcmp (c.source, "live"))
        || (!tiled && !strcmp (c.source, "live")) || c.batch < 1
        || !(c.seconds > 0)) {
      g_printerr ("many-faces: bad arguments (see benchmarks/many_faces.c)\n");
      g_free (boxes);
      return 2;
    }
    status = run_config (&c, boxes, n_boxes);
    g_free (boxes);
    return status;
  }
  g_printerr (
      "usage: many-faces boxes VIDEO BOXES.txt\n"
      "       many-faces run TILED VIDEO BOXES.txt MODEL tiled|streams FACES "
      "async|sync BATCH file|live SECONDS\n");
  return 2;
}
