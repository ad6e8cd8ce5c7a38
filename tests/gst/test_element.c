/* adatoskdfer element tests: GstHarness and small real pipelines.
 *
 * The model is a tiny random-weight file the build makes with
 * train/make_model.py (ADATOSK_TEST_MODEL: 4 frames of 32x32, frame_step 1),
 * so the labels mean nothing; what is tested is the element: caps, crops,
 * tracks, counting, events, the three forms of results, errors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <string.h>
#include <glib/gstdio.h>

#include <json-glib/json-glib.h>

#include "adatosk.h"
#include "adatoskmeta.h"

#define T 4 /* num_frames of the test model */
#define DUR (GST_SECOND / 25)

static const gchar *
model_path (void)
{
  const gchar *path = g_getenv ("ADATOSK_TEST_MODEL");

  fail_unless (path != NULL,
      "ADATOSK_TEST_MODEL is not set (run through "
      "meson test)");
  return path;
}

/* An element with `model` and `props` ("name=value ..."), on a bus of its
 * own, in a harness with `caps`. */
static GstHarness *
harness_new_model (const gchar *model, const gchar *props, const gchar *caps,
    GstBus **bus)
{
  GstElement *e = gst_element_factory_make ("adatoskdfer", NULL);
  gchar **kv = g_strsplit (props ? props : "", " ", -1);
  GstHarness *h;

  fail_unless (e != NULL, "adatoskdfer not found: GST_PLUGIN_PATH?");
  /* The CPU backend: these tests are about the element, and valgrind runs
   * them. The pipelines below keep the default (auto). */
  gst_util_set_object_arg (G_OBJECT (e), "backend", "cpu");
  g_object_set (e, "model", model, "threads", 1, NULL);
  for (guint i = 0; kv[i] != NULL; i++) {
    gchar **pair;

    if (kv[i][0] == '\0')
      continue;
    pair = g_strsplit (kv[i], "=", 2);
    gst_util_set_object_arg (G_OBJECT (e), pair[0], pair[1]);
    g_strfreev (pair);
  }
  g_strfreev (kv);
  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, caps);
  return h;
}

static GstHarness *
harness_new (const gchar *props, const gchar *caps, GstBus **bus)
{
  return harness_new_model (model_path (), props, caps, bus);
}

static void
harness_free (GstHarness *h, GstBus *bus)
{
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

static GstBuffer *
make_frame (GstHarness *h, gsize size, guint index, guint8 fill)
{
  GstBuffer *buf = gst_harness_create_buffer (h, size);

  gst_buffer_memset (buf, 0, fill, size);
  GST_BUFFER_PTS (buf) = index * DUR;
  GST_BUFFER_DURATION (buf) = DUR;
  return buf;
}

static gsize
frame_size (const gchar *format, gint w, gint h)
{
  GstVideoInfo info;

  gst_video_info_set_format (&info, gst_video_format_from_string (format), w,
      h);
  return info.size;
}

/* The element messages posted so far, in order. */
static GList *
pop_results (GstBus *bus)
{
  GList *list = NULL;
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL) {
    if (gst_structure_has_name (gst_message_get_structure (msg),
            ADATOSK_DFER_MESSAGE_NAME))
      list = g_list_append (list, msg);
    else
      gst_message_unref (msg);
  }
  return list;
}

static guint64
get_u64 (const GstStructure *s, const gchar *field)
{
  guint64 v = 0;

  fail_unless (gst_structure_get_uint64 (s, field, &v), "no %s", field);
  return v;
}

static GstVideoRegionOfInterestMeta *
nth_roi (GstBuffer *buf, guint n)
{
  gpointer state = NULL;
  GstMeta *meta;
  guint i = 0;

  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
      != NULL)
    if (i++ == n)
      return (GstVideoRegionOfInterestMeta *) meta;
  return NULL;
}

/* The ROI param and the custom meta of a result agree on every shared field. */
static void
check_forms_agree (GstVideoRegionOfInterestMeta *roi,
    const AdatoskDferResult *r)
{
  GstStructure *p = gst_video_region_of_interest_meta_get_param (roi,
      ADATOSK_DFER_ROI_PARAM_NAME);
  const gchar *fields[] = {ADATOSK_DFER_FIELD_LABEL,
      ADATOSK_DFER_FIELD_LABEL_ID, ADATOSK_DFER_FIELD_CONFIDENCE,
      ADATOSK_DFER_FIELD_MODEL_NAME, ADATOSK_DFER_FIELD_TRACK_ID,
      ADATOSK_DFER_FIELD_CLIP_START, ADATOSK_DFER_FIELD_CLIP_END, NULL};

  fail_unless (p != NULL, "the ROI has no expression param");
  for (guint i = 0; fields[i]; i++)
    fail_unless (gst_value_compare (gst_structure_get_value (p, fields[i]),
                     gst_structure_get_value (r->structure, fields[i]))
            == GST_VALUE_EQUAL,
        "ROI and custom meta differ on %s", fields[i]);
  fail_unless_equals_string (r->label,
      adatosk_dfer_result_get_class_label (r, r->label_id));
  fail_unless_equals_int (r->num_classes, 7);
  fail_unless_equals_int (r->num_frames, T);
  fail_unless (r->confidence > 0.0 && r->confidence <= 1.0);
  fail_unless (fabs (adatosk_dfer_result_get_probability (r, r->label_id)
                   - r->confidence)
      < 1e-6);
}

/* ------------------------------------------------------------------------ */

/* Every listed format negotiates, odd sizes included; buffers come out with
 * the same data; the frame completing the first clip carries its result. */
GST_START_TEST (test_formats)
  {
    const gchar *all_formats[] = {"RGB", "RGBx", "BGRx", "RGBA", "BGRA", "I420",
        "NV12", "YUY2", "GRAY8", NULL};
    /* Under valgrind: one format per kind of layout. */
    const gchar *quick_formats[] = {"RGB", "I420", "NV12", "YUY2", NULL};
    const gint sizes[][2] = {{161, 97}, {7, 3}, {1, 1}, {64, 48}};
    gboolean quick = g_getenv ("ADATOSK_TEST_QUICK") != NULL;
    const gchar **formats = quick ? quick_formats : all_formats;

    for (guint f = 0; formats[f]; f++) {
      for (guint z = 0; z < (quick ? 2 : G_N_ELEMENTS (sizes)); z++) {
        gint w = sizes[z][0], hgt = sizes[z][1];
        gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,"
                                       "height=%d,framerate=25/1",
            formats[f], w, hgt);
        GstBus *bus;
        GstHarness *h = harness_new ("roi-mode=full-frame frame-step=1 "
                                     "clip-stride=1",
            caps, &bus);
        gsize size = frame_size (formats[f], w, hgt);

        for (guint i = 0; i < T; i++) {
          GstBuffer *in = make_frame (h, size, i, (guint8) (40 * i + 7));
          GstBuffer *out;
          GstMapInfo map;
          AdatoskDferResult r;

          out = gst_harness_push_and_pull (h, in);
          fail_unless (out != NULL);
          fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
          for (gsize b = 0; b < map.size; b++)
            fail_unless (map.data[b] == (guint8) (40 * i + 7),
                "%s %dx%d: byte %" G_GSIZE_FORMAT " changed", formats[f], w,
                hgt, b);
          gst_buffer_unmap (out, &map);
          /* Full-frame mode: one face ROI covering the frame, always. */
          fail_unless (nth_roi (out, 0) != NULL);
          fail_unless_equals_int (nth_roi (out, 0)->w, w);
          fail_unless_equals_int (nth_roi (out, 0)->h, hgt);
          if (i < T - 1) {
            fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 0);
          } else {
            fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 1);
            fail_unless (adatosk_dfer_buffer_get_result (out, 0, &r));
            check_forms_agree (nth_roi (out, 0), &r);
          }
          gst_buffer_unref (out);
        }
        harness_free (h, bus);
        g_free (caps);
      }
    }
  }

GST_END_TEST;

/* Face ROIs reaching beyond the frame, or absurdly large, are cropped from
 * the part inside the frame (valgrind/ASan check the reads); a ROI entirely
 * outside the frame is ignored. */
GST_START_TEST (test_roi_beyond_frame)
  {
    const gchar *formats[] = {"I420", "NV12", "RGB", NULL};

    for (guint f = 0; formats[f]; f++) {
      gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=63,height=47,"
                                     "framerate=25/1",
          formats[f]);
      GstBus *bus;
      GstHarness *h =
          harness_new ("roi-mode=roi frame-step=1 clip-stride=1", caps, &bus);
      gsize size = frame_size (formats[f], 63, 47);

      for (guint i = 0; i < T; i++) {
        GstBuffer *in = make_frame (h, size, i, (guint8) (i * 50));
        GstBuffer *out;

        gst_buffer_add_video_region_of_interest_meta (in, "face", 50, 40, 30,
            30);
        gst_buffer_add_video_region_of_interest_meta (in, "face", 1, 2,
            G_MAXUINT, G_MAXUINT);
        gst_buffer_add_video_region_of_interest_meta (in, "face", 63, 0, 5, 5);
        gst_buffer_add_video_region_of_interest_meta (in, "face", 0, 47, 5, 5);
        gst_buffer_add_video_region_of_interest_meta (in, "face", 10, 10, 0, 9);
        out = gst_harness_push_and_pull (h, in);
        if (i == T - 1) {
          fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 2);
          fail_unless (
              gst_video_region_of_interest_meta_get_param (nth_roi (out, 0),
                  ADATOSK_DFER_ROI_PARAM_NAME)
              != NULL);
          fail_unless (
              gst_video_region_of_interest_meta_get_param (nth_roi (out, 1),
                  ADATOSK_DFER_ROI_PARAM_NAME)
              != NULL);
          for (guint k = 2; k < 5; k++)
            fail_unless (
                gst_video_region_of_interest_meta_get_param (nth_roi (out, k),
                    ADATOSK_DFER_ROI_PARAM_NAME)
                == NULL);
        }
        gst_buffer_unref (out);
      }
      harness_free (h, bus);
      g_free (caps);
    }
  }

GST_END_TEST;

/* A model with a non-square input: crops keep the face's aspect ratio. */
GST_START_TEST (test_non_square_model)
  {
    const gchar *path = g_getenv ("ADATOSK_TEST_MODEL_WIDE");
    GstHarness *h;
    GstBus *bus;
    gsize size = frame_size ("BGRx", 80, 60);

    fail_unless (path != NULL, "ADATOSK_TEST_MODEL_WIDE is not set");
    h = harness_new_model (path, "roi-mode=roi frame-step=1 clip-stride=1",
        "video/x-raw,format=BGRx,width=80,height=60,framerate=25/1", &bus);
    for (guint i = 0; i < T; i++) {
      GstBuffer *in = make_frame (h, size, i, (guint8) (i * 60));
      GstBuffer *out;

      gst_buffer_add_video_region_of_interest_meta (in, "face", 5, 5, 20, 50);
      out = gst_harness_push_and_pull (h, in);
      fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
          i == T - 1 ? 1 : 0);
      gst_buffer_unref (out);
    }
    harness_free (h, bus);
  }

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Counting: frame-step k and clip-stride s over N frames. */

typedef struct
{
  guint n_frames, step, stride;
} Counting;

/* The frame (index) whose arrival completes sample m's clip, or -1. */
static gboolean
completes_clip (guint m, guint stride)
{
  return m + 1 >= T && (m + 1 - T) % stride == 0;
}

static void
run_counting (const Counting *c, const gchar *mode)
{
  gchar *props = g_strdup_printf ("roi-mode=full-frame frame-step=%u "
                                  "clip-stride=%u inference-mode=%s",
      c->step, c->stride, mode);
  GstBus *bus;
  GstHarness *h = harness_new (props,
      "video/x-raw,format=I420,width=48,height=32,framerate=25/1", &bus);
  gsize size = frame_size ("I420", 48, 32);
  GstClockTime want_start = GST_CLOCK_TIME_NONE, want_end = 0;
  guint expected = 0;
  GList *msgs, *l;
  guint64 classified = 0, dropped = 0;
  gboolean sync = g_str_equal (mode, "sync");

  for (guint f = 0; f < c->n_frames; f++) {
    GstBuffer *out = gst_harness_push_and_pull (h,
        make_frame (h, size, f, (guint8) (f * 13)));
    AdatoskDferResult r;

    if (f % c->step == 0 && completes_clip (f / c->step, c->stride)) {
      guint m = f / c->step;

      expected++;
      want_start = (m + 1 - T) * c->step * DUR;
      want_end = f * DUR + DUR;
    }
    /* Sync: the completing frame carries its clip's result, and the result
     * stays on the following frames until the next one. */
    if (sync) {
      if (!GST_CLOCK_TIME_IS_VALID (want_start)) {
        fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 0);
      } else {
        fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 1);
        fail_unless (adatosk_dfer_buffer_get_result (out, 0, &r));
        fail_unless_equals_uint64 (r.clip_start, want_start);
        fail_unless_equals_uint64 (r.clip_end, want_end);
        fail_unless_equals_int (r.track_id, 1);
        check_forms_agree (nth_roi (out, 0), &r);
      }
    }
    gst_buffer_unref (out);
  }
  gst_harness_push_event (h, gst_event_new_eos ());

  /* The messages: one per clip, in order, with the clip's pts range. EOS
   * drained the async worker before it went downstream. */
  g_object_get (h->element, "clips-classified", &classified, "clips-dropped",
      &dropped, NULL);
  fail_unless_equals_uint64 (classified + dropped, expected);
  if (sync)
    fail_unless_equals_uint64 (dropped, 0);
  msgs = pop_results (bus);
  fail_unless_equals_int (g_list_length (msgs), classified);
  if (sync) {
    guint m = 0;

    for (l = msgs; l; l = l->next, m++) {
      const GstStructure *s = gst_message_get_structure (l->data);

      while (!(completes_clip (m, c->stride)))
        m++;
      fail_unless_equals_uint64 (get_u64 (s, ADATOSK_DFER_FIELD_CLIP_START),
          (m + 1 - T) * c->step * DUR);
      fail_unless_equals_uint64 (get_u64 (s, ADATOSK_DFER_FIELD_CLIP_END),
          m * c->step * DUR + DUR);
    }
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  harness_free (h, bus);
  g_free (props);
}

static const Counting countings[] = {
    {23, 2, 3},
    {10, 1, 1},
    {16, 3, 5},
    {4, 1, 1},
    {3, 1, 1},
    {40, 1, 4},
    {30, 4, 1},
    {12, 1, 100},
};

GST_START_TEST (test_counting_sync)
  {
    run_counting (&countings[__i__], "sync");
  }

GST_END_TEST;

GST_START_TEST (test_counting_async)
  {
    run_counting (&countings[__i__], "async");
  }

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Tracks */

static void
fill_box (GstBuffer *buf, gint stride, gint x, gint y, gint w, gint h,
    guint8 value, guint seed)
{
  GstMapInfo map;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  for (gint r = y; r < y + h; r++)
    for (gint c = x; c < x + w; c++)
      for (gint k = 0; k < 3; k++)
        map.data[r * stride + c * 3 + k] =
            (guint8) (value + ((r * 7 + c * 3 + k * 11 + seed * 5) % 40));
  gst_buffer_unmap (buf, &map);
}

/* Two faces moving apart: two tracks with their own ids and results; frames
 * without faces pass untouched; faces gone for track-timeout frames come back
 * as new tracks. */
GST_START_TEST (test_two_faces)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=roi frame-step=1 clip-stride=2 "
                                 "track-timeout=3",
        "video/x-raw,format=RGB,width=200,height=80,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 200, 80);
    gint stride = GST_ROUND_UP_4 (200 * 3);
    guint ids_seen[2] = {0, 0};
    GList *msgs, *l;
    guint n_a = 0, n_b = 0;

    for (guint f = 0; f < 16; f++) {
      GstBuffer *in = make_frame (h, size, f, 0);
      GstBuffer *out;
      gboolean faces = !(f >= 8 && f < 12); /* a gap of 4 frames */
      gint ax = 60 - 3 * (gint) f, bx = 100 + 3 * (gint) f;

      if (faces) {
        ax = MAX (ax, 0);
        bx = MIN (bx, 200 - 40);
        fill_box (in, stride, ax, 20, 40, 40, 180, f);
        fill_box (in, stride, bx, 20, 40, 40, 20, f * 3);
        gst_buffer_add_video_region_of_interest_meta (in, "face", ax, 20, 40,
            40);
        gst_buffer_add_video_region_of_interest_meta (in, "face", bx, 20, 40,
            40);
        /* Other ROI types are not faces. */
        gst_buffer_add_video_region_of_interest_meta (in, "text", 0, 0, 20, 20);
      }
      out = gst_harness_push_and_pull (h, in);
      if (!faces) {
        /* Untouched: no metas at all. */
        fail_unless (nth_roi (out, 0) == NULL);
        fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 0);
      } else if (f >= T - 1) {
        AdatoskDferResult r0, r1;
        guint n = adatosk_dfer_buffer_get_n_results (out);

        if (f < 8) {
          fail_unless_equals_int (n, 2);
          fail_unless (adatosk_dfer_buffer_get_result (out, 0, &r0));
          fail_unless (adatosk_dfer_buffer_get_result (out, 1, &r1));
          check_forms_agree (nth_roi (out, 0), &r0);
          check_forms_agree (nth_roi (out, 1), &r1);
          fail_unless (r0.track_id != r1.track_id);
          ids_seen[0] = r0.track_id;
          ids_seen[1] = r1.track_id;
          /* Different faces, different outputs. */
          fail_unless (adatosk_dfer_result_get_probability (&r0, 0)
              != adatosk_dfer_result_get_probability (&r1, 0));
          fail_unless (
              gst_video_region_of_interest_meta_get_param (nth_roi (out, 2),
                  ADATOSK_DFER_ROI_PARAM_NAME)
              == NULL);
        } else {
          /* Back after the timeout: new tracks, no result yet. */
          fail_unless_equals_int (n, f >= 12 + T - 1 ? 2 : 0);
        }
      }
      gst_buffer_unref (out);
    }
    fail_unless (ids_seen[0] == 1 || ids_seen[0] == 2);
    fail_unless (ids_seen[1] == 1 || ids_seen[1] == 2);

    msgs = pop_results (bus);
    for (l = msgs; l; l = l->next) {
      const GstStructure *s = gst_message_get_structure (l->data);
      guint id = 0;
      gint x = 0;

      fail_unless (
          gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID, &id));
      fail_unless (gst_structure_get_int (s, ADATOSK_DFER_FIELD_X, &x));
      if (id == ids_seen[0] || id == ids_seen[1]) {
        if (x < 100)
          n_a++;
        else
          n_b++;
      } else {
        fail_unless (id == 3 || id == 4, "unexpected track %u", id);
      }
    }
    /* Frames 0..7 with faces, coasting on their last boxes through 8 and 9
   * (dropped at the third frame without a box): 10 samples per face, clips
   * complete at samples 3, 5, 7 and 9 (stride 2). */
    fail_unless_equals_int (n_a, 4);
    fail_unless_equals_int (n_b, 4);
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    harness_free (h, bus);
  }

GST_END_TEST;

/* max-tracks bounds the tracks: a third face gets no result. */
GST_START_TEST (test_max_tracks)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=roi frame-step=1 max-tracks=2",
        "video/x-raw,format=RGB,width=120,height=40,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 120, 40);

    for (guint f = 0; f < T; f++) {
      GstBuffer *in = make_frame (h, size, f, (guint8) f);
      GstBuffer *out;

      for (guint k = 0; k < 3; k++)
        gst_buffer_add_video_region_of_interest_meta (in, "face", k * 40, 0, 40,
            40);
      out = gst_harness_push_and_pull (h, in);
      if (f == T - 1) {
        fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 2);
        fail_unless (
            gst_video_region_of_interest_meta_get_param (nth_roi (out, 2),
                ADATOSK_DFER_ROI_PARAM_NAME)
            == NULL);
      }
      gst_buffer_unref (out);
    }
    harness_free (h, bus);
  }

GST_END_TEST;

/* auto mode: the whole frame until face ROIs arrive, then only those. */
GST_START_TEST (test_auto_mode)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("frame-step=1 clip-stride=1",
        "video/x-raw,format=RGB,width=64,height=48,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 64, 48);

    for (guint f = 0; f < 2 * T + 2; f++) {
      GstBuffer *in = make_frame (h, size, f, (guint8) f);
      GstBuffer *out;
      gboolean faces = f >= T;

      if (faces && f != T + 1)
        gst_buffer_add_video_region_of_interest_meta (in, "face", 8, 8, 30, 30);
      out = gst_harness_push_and_pull (h, in);
      if (!faces) {
        /* Full frame: the element's own ROI, a result once a clip is full. */
        fail_unless (nth_roi (out, 0) != NULL);
        fail_unless_equals_int (nth_roi (out, 0)->w, 64);
        fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
            f == T - 1 ? 1 : 0);
      } else if (f == T + 1) {
        /* ROI mode now: a frame without faces stays untouched. */
        fail_unless (nth_roi (out, 0) == NULL);
      } else {
        fail_unless_equals_int (nth_roi (out, 0)->w, 30);
        fail_unless (nth_roi (out, 1) == NULL);
        fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
            f >= 2 * T - 1 ? 1 : 0);
      }
      gst_buffer_unref (out);
    }
    harness_free (h, bus);
  }

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Events */

static void
push_segment (GstHarness *h)
{
  GstSegment segment;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
}

static void
run_flush (const gchar *mode)
{
  gchar *props = g_strdup_printf ("roi-mode=full-frame frame-step=1 "
                                  "clip-stride=1 inference-mode=%s",
      mode);
  GstBus *bus;
  GstHarness *h = harness_new (props,
      "video/x-raw,format=RGBx,width=32,height=32,framerate=25/1", &bus);
  gsize size = frame_size ("RGBx", 32, 32);
  GList *msgs;
  guint f = 0;

  for (; f < T - 1; f++)
    gst_buffer_unref (
        gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  push_segment (h);
  /* The ring restarted: T - 1 more frames do not make a clip... */
  for (guint i = 0; i < T - 1; i++, f++) {
    GstBuffer *out =
        gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f));

    fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 0);
    gst_buffer_unref (out);
  }
  /* ...the T-th does, starting after the flush. */
  gst_buffer_unref (
      gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
  gst_harness_push_event (h, gst_event_new_eos ());
  msgs = pop_results (bus);
  fail_unless_equals_int (g_list_length (msgs), 1);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (msgs->data),
                                 ADATOSK_DFER_FIELD_CLIP_START),
      (T - 1) * DUR);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  harness_free (h, bus);
  g_free (props);
}

GST_START_TEST (test_flush_resets_sync)
  {
    run_flush ("sync");
  }

GST_END_TEST;

GST_START_TEST (test_flush_resets_async)
  {
    run_flush ("async");
  }

GST_END_TEST;

/* A flush while the worker has clips waiting drops them: no result of the
 * flushed data arrives after the flush. */
GST_START_TEST (test_flush_drops_pending)
  {
    GstBus *bus;
    GstHarness *h =
        harness_new ("roi-mode=full-frame frame-step=1 "
                     "clip-stride=1 inference-mode=async max-tracks=64",
            "video/x-raw,format=RGBx,width=32,height=32,framerate=25/1", &bus);
    gsize size = frame_size ("RGBx", 32, 32);
    GList *msgs;

    for (guint f = 0; f < 40; f++)
      gst_buffer_unref (
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
    fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
    fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
    push_segment (h);
    g_list_free_full (pop_results (bus), (GDestroyNotify) gst_message_unref);
    /* Nothing that was pending before the flush is delivered after it. */
    gst_buffer_unref (
        gst_harness_push_and_pull (h, make_frame (h, size, 100, 0)));
    gst_harness_push_event (h, gst_event_new_eos ());
    msgs = pop_results (bus);
    fail_unless_equals_int (g_list_length (msgs), 0);
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    harness_free (h, bus);
  }

GST_END_TEST;

/* classify-partial: at EOS a face with at least half a clip is classified by
 * repeating its last frame; with less, or without the property, it is not. */
GST_START_TEST (test_eos_partial)
  {
    const struct
    {
      guint frames;
      gboolean partial;
      guint expected;
    } cases[] = {
        {T / 2, TRUE, 1},
        {T / 2 - 1, TRUE, 0},
        {T / 2, FALSE, 0},
        {T - 1, TRUE, 1},
        {T, TRUE, 1},
    };

    for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
      gchar *props = g_strdup_printf ("roi-mode=full-frame frame-step=1 "
                                      "clip-stride=100 classify-partial=%s",
          cases[c].partial ? "true" : "false");
      GstBus *bus;
      GstHarness *h = harness_new (props,
          "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
      gsize size = frame_size ("RGB", 32, 32);
      GList *msgs;

      for (guint f = 0; f < cases[c].frames; f++)
        gst_buffer_unref (
            gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
      gst_harness_push_event (h, gst_event_new_eos ());
      msgs = pop_results (bus);
      fail_unless_equals_int (g_list_length (msgs), cases[c].expected);
      if (msgs) {
        const GstStructure *s = gst_message_get_structure (msgs->data);

        fail_unless_equals_uint64 (get_u64 (s, ADATOSK_DFER_FIELD_CLIP_START),
            0);
        fail_unless_equals_uint64 (get_u64 (s, ADATOSK_DFER_FIELD_CLIP_END),
            cases[c].frames * DUR);
      }
      g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
      harness_free (h, bus);
      g_free (props);
    }
  }

GST_END_TEST;

/* New caps mid-stream: converters rebuilt, tracks reset. */
GST_START_TEST (test_caps_change_resets)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=full-frame frame-step=1 "
                                 "clip-stride=1",
        "video/x-raw,format=I420,width=64,height=48,framerate=25/1", &bus);
    gsize size = frame_size ("I420", 64, 48);
    gsize size2 = frame_size ("BGRA", 81, 33);
    guint f = 0;
    GList *msgs;

    for (; f < T; f++)
      gst_buffer_unref (
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
    gst_harness_set_src_caps_str (h,
        "video/x-raw,format=BGRA,width=81,height=33,framerate=25/1");
    for (guint i = 0; i < T; i++, f++) {
      GstBuffer *out =
          gst_harness_push_and_pull (h, make_frame (h, size2, f, (guint8) f));

      /* The old track's result does not leak onto the new stream's frames. */
      fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
          i == T - 1 ? 1 : 0);
      fail_unless_equals_int (nth_roi (out, 0)->w, 81);
      gst_buffer_unref (out);
    }
    msgs = pop_results (bus);
    fail_unless_equals_int (g_list_length (msgs), 2);
    fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (
                                            g_list_last (msgs)->data),
                                   ADATOSK_DFER_FIELD_CLIP_START),
        T * DUR);
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    harness_free (h, bus);
  }

GST_END_TEST;

/* Where the frame history breaks (`breaker` pushes the event after T - 1
 * frames of a first track), the tracks start again: the first clip after the
 * event holds only frames from after it (it starts at `resume`, the first
 * new frame, and is the only clip), and the old track never gets a result. */
typedef void (*HistoryBreaker) (GstHarness *h);

static void
check_history_breaks (HistoryBreaker breaker, GstClockTime resume)
{
  GstBus *bus;
  GstHarness *h = harness_new ("roi-mode=full-frame frame-step=1 "
                               "clip-stride=1",
      "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
  gsize size = frame_size ("RGB", 32, 32);
  GList *msgs;
  guint f;

  for (f = 0; f < T - 1; f++)
    gst_buffer_unref (gst_harness_push_and_pull (h,
        make_frame (h, size, f, (guint8) (10 * f))));
  breaker (h);
  for (guint i = 0; i < T; i++) {
    GstBuffer *in = make_frame (h, size, 0, (guint8) (100 + 10 * i));
    GstBuffer *out;

    GST_BUFFER_PTS (in) = resume + i * DUR;
    out = gst_harness_push_and_pull (h, in);
    fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
        i == T - 1 ? 1 : 0);
    gst_buffer_unref (out);
  }
  msgs = pop_results (bus);
  fail_unless_equals_int (g_list_length (msgs), 1);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (msgs->data),
                                 ADATOSK_DFER_FIELD_CLIP_START),
      resume);
  fail_unless_equals_uint64 (get_u64 (gst_message_get_structure (msgs->data),
                                 ADATOSK_DFER_FIELD_CLIP_END),
      resume + T * DUR);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  harness_free (h, bus);
}

/* A non-flushing seek: a new segment without a flush before it. */
static void
push_seek_segment (GstHarness *h)
{
  GstSegment segment;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = 10 * GST_SECOND;
  segment.time = 10 * GST_SECOND;
  segment.position = 10 * GST_SECOND;
  segment.base = (T - 1) * DUR;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
}

static void
push_stream_start (GstHarness *h)
{
  fail_unless (
      gst_harness_push_event (h, gst_event_new_stream_start ("the-next-file")));
  push_segment (h);
}

static void
push_gap (GstHarness *h)
{
  fail_unless (
      gst_harness_push_event (h, gst_event_new_gap ((T - 1) * DUR, 5 * DUR)));
}

GST_START_TEST (test_segment_resets)
  {
    check_history_breaks (push_seek_segment, 10 * GST_SECOND);
  }

GST_END_TEST;

GST_START_TEST (test_stream_start_resets)
  {
    check_history_breaks (push_stream_start, 0);
  }

GST_END_TEST;

GST_START_TEST (test_gap_resets)
  {
    check_history_breaks (push_gap, (T + 4) * DUR);
  }

GST_END_TEST;

/* auto mode after a stream with face ROIs: the next stream (another file,
 * without a detector's metas) falls back to the whole frame. */
GST_START_TEST (test_auto_mode_per_stream)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("frame-step=1 clip-stride=1",
        "video/x-raw,format=RGB,width=64,height=48,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 64, 48);

    for (guint f = 0; f < T; f++) {
      GstBuffer *in = make_frame (h, size, f, (guint8) f);

      gst_buffer_add_video_region_of_interest_meta (in, "face", 8, 8, 30, 30);
      gst_buffer_unref (gst_harness_push_and_pull (h, in));
    }
    push_stream_start (h);
    for (guint f = 0; f < T; f++) {
      GstBuffer *out =
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f));

      fail_unless (nth_roi (out, 0) != NULL);
      fail_unless_equals_int (nth_roi (out, 0)->w, 64);
      fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
          f == T - 1 ? 1 : 0);
      gst_buffer_unref (out);
    }
    harness_free (h, bus);
  }

GST_END_TEST;

/* The same segment again (some elements repeat it) is no jump: the track and
 * its frames stay. */
GST_START_TEST (test_same_segment_keeps_tracks)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=full-frame frame-step=1 "
                                 "clip-stride=1",
        "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 32, 32);
    GstBuffer *out;

    for (guint f = 0; f < T - 1; f++)
      gst_buffer_unref (
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
    push_segment (h);
    out = gst_harness_push_and_pull (h, make_frame (h, size, T - 1, 0));
    fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out), 1);
    gst_buffer_unref (out);
    harness_free (h, bus);
  }

GST_END_TEST;

/* QoS in sync mode: while downstream says frames come too late, a clip due
 * on such a frame is dropped (counted, with a QoS message), the frames still
 * pass; once frames are in time again clips are classified. Async mode
 * ignores QoS (it never stalls the stream). */
GST_START_TEST (test_qos_drops_late_clips)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=full-frame frame-step=1 "
                                 "clip-stride=1 inference-mode=sync",
        "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 32, 32);
    guint64 dropped = 0, classified = 0, processed = 0, qos_dropped = 0;
    GstMessage *qos;
    GstFormat format;
    guint f;

    for (f = 0; f < T - 1; f++)
      gst_buffer_unref (
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
    /* Frame T - 2 reached the sink one frame late: downstream can use nothing
   * before (T - 2) + 2 * 1 = frame T. */
    fail_unless (gst_harness_push_upstream_event (h,
        gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 0.8, DUR, (T - 2) * DUR)));
    for (; f < T + 3; f++) {
      GstBuffer *out =
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f));

      fail_unless (out != NULL, "frame %u did not pass", f);
      /* Frames T - 1 and T are late: their clips are dropped. */
      fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
          f <= T ? 0 : 1);
      gst_buffer_unref (out);
    }
    g_object_get (h->element, "clips-dropped", &dropped, "clips-classified",
        &classified, NULL);
    fail_unless_equals_uint64 (dropped, 2);
    fail_unless_equals_uint64 (classified, 2);
    qos = gst_bus_pop_filtered (bus, GST_MESSAGE_QOS);
    fail_unless (qos != NULL, "no QoS message");
    gst_message_parse_qos_stats (qos, &format, &processed, &qos_dropped);
    fail_unless_equals_int (format, GST_FORMAT_DEFAULT);
    fail_unless_equals_uint64 (qos_dropped, 1);
    gst_message_unref (qos);
    qos = gst_bus_pop_filtered (bus, GST_MESSAGE_QOS);
    fail_unless (qos != NULL, "no second QoS message");
    gst_message_unref (qos);
    fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_QOS) == NULL);
    harness_free (h, bus);

    /* Async mode: the same QoS changes nothing. */
    h = harness_new ("roi-mode=full-frame frame-step=1 clip-stride=1 "
                     "inference-mode=async",
        "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
    fail_unless (gst_harness_push_upstream_event (h,
        gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 0.8, DUR, (T - 2) * DUR)));
    for (f = 0; f < T + 3; f++)
      gst_buffer_unref (
          gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f)));
    gst_harness_push_event (h, gst_event_new_eos ());
    g_object_get (h->element, "clips-dropped", &dropped, NULL);
    fail_unless_equals_uint64 (dropped, 0);
    fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_QOS) == NULL);
    harness_free (h, bus);
  }

GST_END_TEST;

/* The LATENCY query: sync mode adds about one forward, async nothing. */
GST_START_TEST (test_latency)
  {
    GstBus *bus;
    GstHarness *h;

    h = harness_new ("roi-mode=full-frame inference-mode=sync",
        "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
    fail_unless (gst_harness_query_latency (h) > 0);
    fail_unless (gst_harness_query_latency (h) < 10 * GST_SECOND);
    harness_free (h, bus);

    h = harness_new ("roi-mode=full-frame inference-mode=async",
        "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
    fail_unless_equals_uint64 (gst_harness_query_latency (h), 0);
    harness_free (h, bus);
  }

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* Pipelines: sync and async agree on a (non-live) file-like source; errors. */

static GList *
run_pipeline (const gchar *description, GstMessage **error)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (description, &err);
  GstBus *bus;
  GList *results = NULL;
  GstMessage *msg;

  fail_unless (pipeline != NULL, "%s: %s", description,
      err ? err->message : "?");
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  *error = NULL;
  while ((msg = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
              GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR))) {
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT
        && gst_structure_has_name (gst_message_get_structure (msg),
            ADATOSK_DFER_MESSAGE_NAME)) {
      results = g_list_append (results, msg);
      continue;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      *error = msg;
      break;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    gst_message_unref (msg);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return results;
}

GST_START_TEST (test_sync_async_same)
  {
    const gchar *fmt =
        "videotestsrc pattern=ball num-buffers=60 ! "
        "video/x-raw,width=96,height=72 ! adatoskdfer model=%s threads=1 "
        "roi-mode=full-frame frame-step=2 clip-stride=1 inference-mode=%s ! "
        "fakesink";
    gchar *d_sync = g_strdup_printf (fmt, model_path (), "sync");
    gchar *d_async = g_strdup_printf (fmt, model_path (), "async");
    GstMessage *error = NULL;
    GList *a = run_pipeline (d_sync, &error), *b, *la, *lb;

    fail_unless (error == NULL);
    b = run_pipeline (d_async, &error);
    fail_unless (error == NULL);
    /* 30 samples, clips of 4, stride 1. */
    fail_unless_equals_int (g_list_length (a), 27);
    fail_unless_equals_int (g_list_length (b), 27);
    for (la = a, lb = b; la && lb; la = la->next, lb = lb->next) {
      const GstStructure *sa = gst_message_get_structure (la->data);
      const GstStructure *sb = gst_message_get_structure (lb->data);
      const gchar *same[] = {ADATOSK_DFER_FIELD_LABEL,
          ADATOSK_DFER_FIELD_LABEL_ID, ADATOSK_DFER_FIELD_TRACK_ID,
          ADATOSK_DFER_FIELD_CLIP_START, ADATOSK_DFER_FIELD_CLIP_END,
          ADATOSK_DFER_FIELD_PROBABILITIES, NULL};

      for (guint i = 0; same[i]; i++)
        fail_unless (gst_value_compare (gst_structure_get_value (sa, same[i]),
                         gst_structure_get_value (sb, same[i]))
                == GST_VALUE_EQUAL,
            "sync and async differ on %s", same[i]);
    }
    g_list_free_full (a, (GDestroyNotify) gst_message_unref);
    g_list_free_full (b, (GDestroyNotify) gst_message_unref);
    g_free (d_sync);
    g_free (d_async);
  }

GST_END_TEST;

/* Live source, async: the stream never waits for the model. */
GST_START_TEST (test_async_live)
  {
    gchar *d = g_strdup_printf (
        "videotestsrc is-live=true num-buffers=30 ! "
        "video/x-raw,width=64,height=48,framerate=100/1 ! adatoskdfer "
        "name=dfer model=%s threads=1 roi-mode=full-frame frame-step=1 "
        "clip-stride=1 inference-mode=async ! fakesink sync=true",
        model_path ());
    GstMessage *error = NULL;
    GList *r = run_pipeline (d, &error);

    fail_unless (error == NULL);
    fail_unless (g_list_length (r) > 0);
    g_list_free_full (r, (GDestroyNotify) gst_message_unref);
    g_free (d);
  }

GST_END_TEST;

static void
expect_error (const gchar *element_args, const gchar *const *needles)
{
  gchar *d = g_strdup_printf ("videotestsrc num-buffers=5 ! adatoskdfer %s ! "
                              "fakesink",
      element_args);
  GstMessage *msg = NULL;
  GList *r = run_pipeline (d, &msg);
  GError *err = NULL;
  gchar *debug = NULL, *all;

  fail_unless (msg != NULL, "%s: no error", d);
  fail_unless (r == NULL);
  gst_message_parse_error (msg, &err, &debug);
  all = g_strdup_printf ("%s\n%s", err->message, debug ? debug : "");
  for (guint i = 0; needles[i]; i++)
    fail_unless (strstr (all, needles[i]) != NULL,
        "error for '%s' lacks \"%s\": %s", element_args, needles[i], all);
  GST_INFO ("'%s' -> %s", element_args, all);
  g_free (all);
  g_free (debug);
  g_error_free (err);
  gst_message_unref (msg);
  g_free (d);
}

/* Without a `model`, the element runs the model built into the plugin, or,
 * in a build without one, says how to get a model. */
GST_START_TEST (test_missing_model)
  {
    const gchar *const n1[] = {"No model", "make_model.py", NULL};
    const gchar *const n2[] = {"Cannot read the model file",
        "/nonexistent/model.safetensors", "make_model.py", NULL};

    if (g_strcmp0 (g_getenv ("ADATOSK_TEST_BUILT_IN_MODEL"), "yes") == 0) {
      GstMessage *error = NULL;
      GList *r = run_pipeline ("videotestsrc num-buffers=40 ! "
                               "video/x-raw,width=64,height=64 ! adatoskdfer "
                               "roi-mode=full-frame "
                               "backend=cpu threads=1 ! fakesink",
          &error);

      fail_unless (error == NULL, "the built-in model did not run");
      fail_unless (g_list_length (r) > 0,
          "the built-in model classified nothing");
      g_list_free_full (r, (GDestroyNotify) gst_message_unref);
    } else {
      expect_error ("", n1);
    }
    expect_error ("model=/nonexistent/model.safetensors", n2);
  }

GST_END_TEST;

GST_START_TEST (test_bad_model)
  {
    const gchar *const needles[] = {"is not a valid AdaTosk model", NULL};
    gchar *dir = g_dir_make_tmp ("adatoskdfer-XXXXXX", NULL);
    gchar *garbage = g_build_filename (dir, "garbage.safetensors", NULL);
    gchar *truncated = g_build_filename (dir, "truncated.safetensors", NULL);
    gchar *contents, *args;
    gsize len;

    fail_unless (
        g_file_set_contents (garbage, "this is not a model", -1, NULL));
    fail_unless (g_file_get_contents (model_path (), &contents, &len, NULL));
    fail_unless (g_file_set_contents (truncated, contents, len / 2, NULL));

    args = g_strdup_printf ("model=%s", garbage);
    expect_error (args, needles);
    g_free (args);
    args = g_strdup_printf ("model=%s", truncated);
    expect_error (args, needles);
    g_free (args);

    g_unlink (garbage);
    g_unlink (truncated);
    g_rmdir (dir);
    g_free (contents);
    g_free (garbage);
    g_free (truncated);
    g_free (dir);
  }

GST_END_TEST;

GST_START_TEST (test_invalid_properties)
  {
    GstElement *e = gst_element_factory_make ("adatoskdfer", NULL);
    guint u;
    gdouble d;
    gint mode = -1, backend = -1;
    gchar *args;
    const gchar *const labels[] = {"'labels' property has 2 names", "7 classes",
        NULL};
    const gchar *const empty_labels[] = {"'labels' property has an empty",
        NULL};
    const gchar *const roi_type[] = {"roi-type", NULL};

    /* Out of range: GLib refuses with a warning, the value stays. */
    ASSERT_WARNING (g_object_set (e, "max-tracks", 0, NULL));
    ASSERT_WARNING (g_object_set (e, "crop-margin", 5.0, NULL));
    ASSERT_WARNING (g_object_set (e, "keep-ratio", 1.5, NULL));
    ASSERT_WARNING (g_object_set (e, "track-timeout", 0, NULL));
    ASSERT_WARNING (g_object_set (e, "iou-threshold", 0.0, NULL));
    g_object_get (e, "max-tracks", &u, "crop-margin", &d, NULL);
    fail_unless_equals_int (u, 4);
    fail_unless_equals_float (d, -1.0);
    /* Unknown enum nicks are refused, the value stays. */
    gst_util_set_object_arg (G_OBJECT (e), "roi-mode", "sideways");
    gst_util_set_object_arg (G_OBJECT (e), "backend", "cuda");
    g_object_get (e, "roi-mode", &mode, "backend", &backend, NULL);
    fail_unless_equals_int (mode, 0);
    fail_unless_equals_int (backend, 0);
    gst_object_unref (e);

    /* Values in range that cannot work with this model: an element error. */
    args = g_strdup_printf ("model=%s labels=a,b", model_path ());
    expect_error (args, labels);
    g_free (args);
    args = g_strdup_printf ("model=%s labels=a,,c,d,e,f,g", model_path ());
    expect_error (args, empty_labels);
    g_free (args);
    args = g_strdup_printf ("model=%s roi-type=\"\"", model_path ());
    expect_error (args, roi_type);
    g_free (args);
  }

GST_END_TEST;

/* The labels override names the classes in all forms. */
GST_START_TEST (test_labels_override)
  {
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=full-frame frame-step=1 "
                                 "labels=a,b,c,d,e,f,g",
        "video/x-raw,format=RGB,width=32,height=32,framerate=25/1", &bus);
    gsize size = frame_size ("RGB", 32, 32);
    GstBuffer *out = NULL;
    AdatoskDferResult r;
    const gchar *names = "abcdefg";

    for (guint f = 0; f < T; f++) {
      if (out)
        gst_buffer_unref (out);
      out = gst_harness_push_and_pull (h, make_frame (h, size, f, (guint8) f));
    }
    fail_unless (adatosk_dfer_buffer_get_result (out, 0, &r));
    fail_unless_equals_int (strlen (r.label), 1);
    fail_unless_equals_int (r.label[0], names[r.label_id]);
    fail_unless_equals_string (adatosk_dfer_result_get_class_label (&r, 6),
        "g");
    gst_buffer_unref (out);
    harness_free (h, bus);
  }

GST_END_TEST;

/* ------------------------------------------------------------------------ */
/* dump-location */

static JsonObject *
read_index_line (gchar **lines, guint i, JsonParser *parser)
{
  GError *error = NULL;

  fail_unless (json_parser_load_from_data (parser, lines[i], -1, &error),
      "index line %u is not JSON: %s", i, error ? error->message : "");
  fail_unless (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

/* 12 RGB 96x64 frames with a face ROI moving right 4 pixels a frame. */
static void
push_moving_face (GstHarness *h)
{
  gsize size = frame_size ("RGB", 96, 64);

  for (guint f = 0; f < 12; f++) {
    GstBuffer *in = make_frame (h, size, f, 30);
    gint x = 10 + 4 * (gint) f;

    fill_box (in, GST_ROUND_UP_4 (96 * 3), x, 12, 36, 36, 120, f);
    gst_buffer_add_video_region_of_interest_meta (in, "face", x, 12, 36, 36);
    gst_buffer_unref (gst_harness_push_and_pull (h, in));
  }
}

/* Every classified clip is written, in order, as exactly the input the model
 * got: libadatosk run on a dumped file gives the probabilities the element
 * posted for that clip; the index has the clip's track, times and frames. */
GST_START_TEST (test_dump_location)
  {
    gchar *dir = g_dir_make_tmp ("adatoskdfer-dump-XXXXXX", NULL);
    gchar *props = g_strdup_printf ("roi-mode=roi frame-step=1 clip-stride=2 "
                                    "dump-location=%s",
        dir);
    gchar *index_path = g_build_filename (dir, "clips.jsonl", NULL);
    GstBus *bus;
    GstHarness *h = harness_new (props,
        "video/x-raw,format=RGB,width=96,height=64,framerate=25/1", &bus);
    const gsize floats = 3 * T * 32 * 32;
    const gchar *expected_header = "{'descr': '<f4', 'fortran_order': False, "
                                   "'shape': (3, 4, 32, 32), }";
    JsonParser *parser = json_parser_new ();
    AdatoskModel *model = NULL;
    AdatoskBackend *backend = NULL;
    AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
    AdatoskOutput *output;
    AdatoskError aerr;
    gchar *index, **lines;
    GList *msgs, *l;
    guint64 classified = 0;
    guint i = 0;

    push_moving_face (h);
    g_object_get (h->element, "clips-classified", &classified, NULL);
    fail_unless_equals_int (classified, 5); /* samples 4, 6, 8, 10, 12 */

    fail_unless (g_file_get_contents (index_path, &index, NULL, NULL));
    lines = g_strsplit (g_strchomp (index), "\n", -1);
    fail_unless_equals_int (g_strv_length (lines), 5);

    options.kind = ADATOSK_BACKEND_CPU;
    options.threads = 1;
    fail_unless (adatosk_model_load (model_path (), &model, &aerr)
            == ADATOSK_OK,
        "%s", aerr.message);
    fail_unless (adatosk_backend_new (model, &options, &backend, &aerr)
            == ADATOSK_OK,
        "%s", aerr.message);
    output = adatosk_output_new (model);

    msgs = pop_results (bus);
    fail_unless_equals_int (g_list_length (msgs), 5);
    for (l = msgs; l; l = l->next, i++) {
      const GstStructure *s = gst_message_get_structure (l->data);
      const GValue *probs =
          gst_structure_get_value (s, ADATOSK_DFER_FIELD_PROBABILITIES);
      JsonObject *entry = read_index_line (lines, i, parser);
      JsonArray *pts = json_object_get_array_member (entry, "pts");
      gchar *name = g_strdup_printf ("clip-%06u.npy", i);
      gchar *path = g_build_filename (dir, name, NULL);
      gchar *data;
      gsize len, header_len;
      guint id = 0;

      fail_unless_equals_string (json_object_get_string_member (entry, "file"),
          name);
      fail_unless (
          gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID, &id));
      fail_unless_equals_int (json_object_get_int_member (entry, "track"), id);
      fail_unless_equals_uint64 (json_object_get_int_member (entry, "start"),
          get_u64 (s, ADATOSK_DFER_FIELD_CLIP_START));
      fail_unless_equals_uint64 (json_object_get_int_member (entry, "end"),
          get_u64 (s, ADATOSK_DFER_FIELD_CLIP_END));
      fail_unless_equals_int (json_array_get_length (pts), T);
      for (guint t = 0; t < T; t++)
        fail_unless_equals_uint64 (json_array_get_int_element (pts, t),
            get_u64 (s, ADATOSK_DFER_FIELD_CLIP_START) + t * DUR);

      /* A NumPy 1.0 file: magic, header length, the dict, then the floats. */
      fail_unless (g_file_get_contents (path, &data, &len, NULL));
      fail_unless (len > 10 && memcmp (data, "\x93NUMPY\x01\x00", 8) == 0);
      header_len = (guint8) data[8] | ((gsize) (guint8) data[9] << 8);
      fail_unless_equals_int ((10 + header_len) % 64, 0);
      fail_unless (
          strncmp (data + 10, expected_header, strlen (expected_header)) == 0);
      fail_unless_equals_int (len, 10 + header_len + floats * sizeof (gfloat));

      fail_unless (adatosk_backend_forward (backend,
                       (const float *) (data + 10 + header_len), 0.0, output,
                       &aerr)
              == ADATOSK_OK,
          "%s", aerr.message);
      fail_unless_equals_int (gst_value_array_get_size (probs), 7);
      for (guint c = 0; c < 7; c++)
        fail_unless (fabsf (output->probs[c]
                         - g_value_get_float (
                             gst_value_array_get_value (probs, c)))
                <= 1e-6f,
            "clip %u class %u: dumped %g, element %g", i, c, output->probs[c],
            g_value_get_float (gst_value_array_get_value (probs, c)));
      g_unlink (path);
      g_free (path);
      g_free (name);
      g_free (data);
    }
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
    adatosk_output_free (output);
    adatosk_backend_free (backend);
    adatosk_model_free (model);
    g_strfreev (lines);
    g_free (index);
    g_object_unref (parser);
    harness_free (h, bus);
    g_unlink (index_path);
    g_rmdir (dir);
    g_free (index_path);
    g_free (props);
    g_free (dir);
  }

GST_END_TEST;

/* The first clip the element dumps for a face moving over 12 frames, with
 * `model` and `props`. */
static GBytes *
first_dumped_clip (const gchar *model, const gchar *props)
{
  gchar *dir = g_dir_make_tmp ("adatoskdfer-crop-XXXXXX", NULL);
  gchar *all = g_strdup_printf ("roi-mode=roi frame-step=1 clip-stride=2 "
                                "dump-location=%s %s",
      dir, props);
  GstBus *bus;
  GstHarness *h = harness_new_model (model, all,
      "video/x-raw,format=RGB,width=96,height=64,framerate=25/1", &bus);
  gchar *path, *data;
  gsize len;
  GDir *listing;
  const gchar *name;

  push_moving_face (h);
  harness_free (h, bus);
  path = g_build_filename (dir, "clip-000000.npy", NULL);
  fail_unless (g_file_get_contents (path, &data, &len, NULL), "no %s", path);
  listing = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (listing)) != NULL) {
    gchar *file = g_build_filename (dir, name, NULL);
    g_unlink (file);
    g_free (file);
  }
  g_dir_close (listing);
  g_rmdir (dir);
  g_free (path);
  g_free (all);
  g_free (dir);
  return g_bytes_new_take (data, len);
}

/* The default crop-margin (-1) is the model's: a model trained on margin 0.1
 * crops as crop-margin=0.1 does; a file without one crops at 0.25. */
GST_START_TEST (test_crop_margin_from_model)
  {
    const gchar *tight = g_getenv ("ADATOSK_TEST_MODEL_TIGHT");
    GBytes *model_default, *explicit_tight, *plain_default, *explicit_loose;

    fail_unless (tight != NULL, "ADATOSK_TEST_MODEL_TIGHT is not set");
    model_default = first_dumped_clip (tight, "");
    explicit_tight = first_dumped_clip (model_path (), "crop-margin=0.1");
    plain_default = first_dumped_clip (model_path (), "");
    explicit_loose = first_dumped_clip (tight, "crop-margin=0.25");
    fail_unless (g_bytes_equal (model_default, explicit_tight));
    fail_unless (g_bytes_equal (plain_default, explicit_loose));
    fail_if (g_bytes_equal (model_default, plain_default),
        "margins 0.1 and 0.25 gave the same crop");
    g_bytes_unref (model_default);
    g_bytes_unref (explicit_tight);
    g_bytes_unref (plain_default);
    g_bytes_unref (explicit_loose);
  }

GST_END_TEST;

/* A dump-location that cannot be a directory stops the start with a clear
 * error. */
GST_START_TEST (test_dump_location_unwritable)
  {
    const gchar *const needles[] = {"Cannot write clips to dump-location",
        "writable directory", NULL};
    gchar *dir = g_dir_make_tmp ("adatoskdfer-XXXXXX", NULL);
    gchar *file = g_build_filename (dir, "a-file", NULL);
    gchar *args =
        g_strdup_printf ("model=%s dump-location=%s/sub", model_path (), file);

    fail_unless (g_file_set_contents (file, "", 0, NULL));
    expect_error (args, needles);
    g_unlink (file);
    g_rmdir (dir);
    g_free (args);
    g_free (file);
    g_free (dir);
  }

GST_END_TEST;

/* A results-location that cannot be created stops the start and says so. */
GST_START_TEST (test_results_location_unwritable)
  {
    const gchar *const needles[] = {"Cannot write results to results-location",
        "no-such-dir", "writable directory", NULL};
    gchar *dir = g_dir_make_tmp ("adatoskdfer-XXXXXX", NULL);
    gchar *args =
        g_strdup_printf ("model=%s results-location=%s/no-such-dir/r.jsonl",
            model_path (), dir);

    expect_error (args, needles);
    g_rmdir (dir);
    g_free (args);
    g_free (dir);
  }

GST_END_TEST;

/* Results survive videoconvert and videoscale (the custom meta has no tags). */
GST_START_TEST (test_meta_survives_converters)
  {
    gchar *d = g_strdup_printf (
        "videotestsrc num-buffers=%d ! "
        "video/x-raw,format=I420,width=64,height=48 ! adatoskdfer model=%s "
        "roi-mode=full-frame frame-step=1 ! videoconvert ! videoscale ! "
        "video/x-raw,format=RGBA,width=32,height=24 ! fakesink name=sink",
        T, model_path ());
    GstElement *pipeline = gst_parse_launch (d, NULL);
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
    GstSample *sample = NULL;
    GstBus *bus = gst_element_get_bus (pipeline);
    GstMessage *msg;
    GstBuffer *last = NULL;

    g_object_set (sink, "enable-last-sample", TRUE, NULL);
    gst_element_set_state (pipeline, GST_STATE_PLAYING);
    msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    fail_unless (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
    gst_message_unref (msg);
    g_object_get (sink, "last-sample", &sample, NULL);
    fail_unless (sample != NULL);
    last = gst_sample_get_buffer (sample);
    fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (last), 1);
    gst_sample_unref (sample);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (bus);
    gst_object_unref (sink);
    gst_object_unref (pipeline);
    g_free (d);
  }

GST_END_TEST;

/* gst-inspect documents every property: nick, blurb, and a default that is
 * inside the range. */
GST_START_TEST (test_properties_documented)
  {
    GstElementFactory *factory = gst_element_factory_find ("adatoskdfer");
    GstElement *e = gst_element_factory_create (factory, NULL);
    guint n = 0;
    GParamSpec **specs =
        g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
    const gchar *expected[] = {"model", "labels", "keep-ratio", "frame-step",
        "clip-stride", "crop-margin", "roi-mode", "roi-type", "max-faces",
        "max-tracks", "track-timeout", "inference-mode", "post-messages",
        "backend", "threads", "classify-partial", "iou-threshold", "device",
        "clips-classified", "clips-dropped", "batch-size", "model-instance-id",
        "forwards", NULL};

    fail_unless_equals_string (gst_element_factory_get_metadata (factory,
                                   GST_ELEMENT_METADATA_KLASS),
        "Filter/Analyzer/Video");
    for (guint i = 0; expected[i]; i++)
      fail_unless (g_object_class_find_property (G_OBJECT_GET_CLASS (e),
                       expected[i])
              != NULL,
          "no property %s", expected[i]);
    for (guint i = 0; i < n; i++) {
      GValue v = G_VALUE_INIT;

      if (specs[i]->owner_type != G_OBJECT_TYPE (e))
        continue;
      fail_unless (strlen (g_param_spec_get_nick (specs[i])) > 2);
      fail_unless (strlen (g_param_spec_get_blurb (specs[i])) > 20,
          "%s has no real description", specs[i]->name);
      g_value_init (&v, specs[i]->value_type);
      g_param_value_set_default (specs[i], &v);
      fail_if (g_param_value_validate (specs[i], &v),
          "%s's default is out of "
          "range",
          specs[i]->name);
      g_value_unset (&v);
    }
    g_free (specs);
    gst_object_unref (e);
    gst_object_unref (factory);
  }

GST_END_TEST;

/* The debug categories, one per module, exist once the element does. */
GST_START_TEST (test_debug_categories)
  {
    const gchar *names[] = {"adatoskdfer", "adatoskdfer-faces",
        "adatoskdfer-track", "adatoskdfer-crop", "adatoskdfer-worker",
        "adatoskdfer-inference", "adatoskdfer-engine", "adatoskdfer-dump",
        NULL};
    GstElement *e = gst_element_factory_make ("adatoskdfer", NULL);

    fail_unless (e != NULL);
    for (guint i = 0; names[i]; i++)
      fail_unless (_gst_debug_get_category (names[i]) != NULL,
          "no debug category %s", names[i]);
    gst_object_unref (e);
  }

GST_END_TEST;

static Suite *
adatoskdfer_suite (void)
{
  Suite *s = suite_create ("adatoskdfer");
  TCase *tc = tcase_create ("element");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_properties_documented);
  tcase_add_test (tc, test_debug_categories);
  tcase_add_test (tc, test_formats);
  tcase_add_test (tc, test_roi_beyond_frame);
  tcase_add_test (tc, test_non_square_model);
  tcase_add_loop_test (tc, test_counting_sync, 0, G_N_ELEMENTS (countings));
  tcase_add_loop_test (tc, test_counting_async, 0, G_N_ELEMENTS (countings));
  tcase_add_test (tc, test_two_faces);
  tcase_add_test (tc, test_max_tracks);
  tcase_add_test (tc, test_auto_mode);
  tcase_add_test (tc, test_auto_mode_per_stream);
  tcase_add_test (tc, test_flush_resets_sync);
  tcase_add_test (tc, test_flush_resets_async);
  tcase_add_test (tc, test_flush_drops_pending);
  tcase_add_test (tc, test_eos_partial);
  tcase_add_test (tc, test_caps_change_resets);
  tcase_add_test (tc, test_segment_resets);
  tcase_add_test (tc, test_stream_start_resets);
  tcase_add_test (tc, test_gap_resets);
  tcase_add_test (tc, test_same_segment_keeps_tracks);
  tcase_add_test (tc, test_qos_drops_late_clips);
  tcase_add_test (tc, test_latency);
  tcase_add_test (tc, test_sync_async_same);
  tcase_add_test (tc, test_async_live);
  tcase_add_test (tc, test_missing_model);
  tcase_add_test (tc, test_bad_model);
  tcase_add_test (tc, test_invalid_properties);
  tcase_add_test (tc, test_labels_override);
  tcase_add_test (tc, test_meta_survives_converters);
  tcase_add_test (tc, test_dump_location);
  tcase_add_test (tc, test_dump_location_unwritable);
  tcase_add_test (tc, test_crop_margin_from_model);
  tcase_add_test (tc, test_results_location_unwritable);
  return s;
}

GST_CHECK_MAIN (adatoskdfer);
