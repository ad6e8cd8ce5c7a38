/* adatoskdfer and untrusted upstream metadata: region-of-interest metas in
 * absurd numbers and with absurd values go through the element in
 * GstHarness without a crash, with a bounded number of faces taken and a
 * warning. meson runs this on the normal build and under valgrind (with
 * fewer metas: ADATOSK_FUZZ_MAX_METAS, ADATOSK_FUZZ_BUFFERS).
 *
 * The fuzz rounds are seeded (ADATOSK_FUZZ_SEED, default 13; the seed is
 * printed) so that a failure can be replayed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <stdlib.h>

#include "adatoskmeta.h"

#define T 4 /* num_frames of the test model */
#define DUR (GST_SECOND / 25)

static guint
env_uint (const gchar *name, guint fallback)
{
  const gchar *v = g_getenv (name);

  return v && *v ? (guint) g_ascii_strtoull (v, NULL, 10) : fallback;
}

static GstHarness *
harness_new (const gchar *props, const gchar *caps, GstBus **bus)
{
  GstElement *e = gst_element_factory_make ("adatoskdfer", NULL);
  gchar **kv = g_strsplit (props, " ", -1);
  GstHarness *h;

  fail_unless (e != NULL, "adatoskdfer not found: GST_PLUGIN_PATH?");
  fail_unless (g_getenv ("ADATOSK_TEST_MODEL") != NULL);
  gst_util_set_object_arg (G_OBJECT (e), "backend", "cpu");
  g_object_set (e, "model", g_getenv ("ADATOSK_TEST_MODEL"), "threads", 1,
      NULL);
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

static void
harness_free (GstHarness *h, GstBus *bus)
{
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

/* Warnings the element posted so far. */
static guint
count_warnings (GstBus *bus)
{
  GstMessage *msg;
  guint n = 0;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING)) != NULL) {
    GError *err = NULL;

    gst_message_parse_warning (msg, &err, NULL);
    GST_INFO ("warning: %s", err->message);
    fail_unless (strstr (err->message, "max-faces") != NULL, "%s",
        err->message);
    g_error_free (err);
    gst_message_unref (msg);
    n++;
  }
  return n;
}

static gboolean
has_result (GstVideoRegionOfInterestMeta *roi)
{
  return gst_video_region_of_interest_meta_get_param (roi,
             ADATOSK_DFER_ROI_PARAM_NAME)
      != NULL;
}

/* 1,000,000 face ROIs on one buffer (ADATOSK_FUZZ_MAX_METAS): no crash, the
 * `max-faces` largest taken (their tracks classified, every other ROI left
 * alone), one warning however many such buffers come. */
GST_START_TEST (test_million_rois)
  {
    const guint max_faces = 8;
    guint n_metas = env_uint ("ADATOSK_FUZZ_MAX_METAS", 1000000);
    GstBus *bus;
    GstHarness *h = harness_new ("roi-mode=roi frame-step=1 clip-stride=1 "
                                 "max-faces=8 max-tracks=64",
        "video/x-raw,format=GRAY8,width=640,height=480,framerate=25/1", &bus);
    GRand *rand = g_rand_new_with_seed (1);
    guint big_at[8];

    /* Where the eight big faces (60x60, on a grid) hide among the small ones
   * (at most 40x40, anywhere). */
    for (guint k = 0; k < max_faces; k++)
      big_at[k] = g_rand_int_range (rand, 0, n_metas);
    for (guint f = 0; f < T; f++) {
      GstBuffer *in = gst_harness_create_buffer (h, 640 * 480);
      GstBuffer *out;
      gpointer state = NULL;
      GstMeta *meta;
      guint with_result = 0, big_with_result = 0;
      gint64 t0 = g_get_monotonic_time ();

      gst_buffer_memset (in, 0, (guint8) (f * 60), 640 * 480);
      GST_BUFFER_PTS (in) = f * DUR;
      GST_BUFFER_DURATION (in) = DUR;
      for (guint i = 0; i < n_metas; i++) {
        guint k;

        for (k = 0; k < max_faces && big_at[k] != i; k++)
          ;
        if (k < max_faces)
          gst_buffer_add_video_region_of_interest_meta (in, "face",
              10 + 150 * (k % 4), 10 + 200 * (k / 4), 60, 60);
        else
          gst_buffer_add_video_region_of_interest_meta (in, "face",
              g_rand_int_range (rand, 0, 640), g_rand_int_range (rand, 0, 480),
              g_rand_int_range (rand, 1, 41), g_rand_int_range (rand, 1, 41));
      }
      out = gst_harness_push_and_pull (h, in);
      fail_unless (out != NULL);
      GST_INFO ("frame %u: %u metas through the element in %.2f s", f, n_metas,
          (g_get_monotonic_time () - t0) / 1e6);
      while ((meta = gst_buffer_iterate_meta_filtered (out, &state,
                  GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
          != NULL) {
        GstVideoRegionOfInterestMeta *roi =
            (GstVideoRegionOfInterestMeta *) meta;

        if (has_result (roi)) {
          with_result++;
          big_with_result += roi->w == 60;
        }
      }
      /* The clip is full on the T-th frame: the eight big faces' tracks, and
     * only those, carry results. */
      fail_unless_equals_int (with_result, f == T - 1 ? max_faces : 0);
      fail_unless_equals_int (big_with_result, with_result);
      fail_unless_equals_int (adatosk_dfer_buffer_get_n_results (out),
          with_result);
      gst_buffer_unref (out);
    }
    fail_unless_equals_int (count_warnings (bus), 1);
    g_rand_free (rand);
    harness_free (h, bus);
  }

GST_END_TEST;

/* Values that break careless arithmetic: zero, one, the frame's edges, the
 * signed/unsigned boundaries ("negative" numbers as guint), the maximum. */
static guint
interesting (GRand *rand, guint frame_size)
{
  const guint values[] = {0, 1, 2, frame_size - 1, frame_size, frame_size + 1,
      2 * frame_size, G_MAXINT / 2, G_MAXINT, (guint) G_MAXINT + 1,
      G_MAXUINT - 1, G_MAXUINT, (guint) -5};

  switch (g_rand_int_range (rand, 0, 3)) {
    case 0:
      return values[g_rand_int_range (rand, 0, G_N_ELEMENTS (values))];
    case 1:
      return g_rand_int_range (rand, 0, (gint) frame_size + 2);
    default:
      return g_rand_int (rand);
  }
}

static guint
random_count (GRand *rand, guint max_metas)
{
  switch (g_rand_int_range (rand, 0, 10)) {
    case 0:
      return 0;
    case 1:
    case 2:
    case 3:
      return g_rand_int_range (rand, 1, 4);
    case 4:
    case 5:
    case 6:
      return g_rand_int_range (rand, 4, 40);
    case 7:
    case 8:
      return g_rand_int_range (rand, 40, 2000);
    default:
      return g_rand_int_range (rand, 1, (gint) max_metas + 1);
  }
}

typedef struct
{
  const gchar *format;
  gint width, height;
} Layout;

/* Random buffers of random ROI metas (counts from none to
 * ADATOSK_FUZZ_MAX_METAS, other types, zero, huge and "negative" values,
 * boxes outside the frame) through elements with random settings. Every
 * buffer comes out with its pixels unchanged; results sit only on face ROIs
 * that start inside the frame and are not empty, on at most min(max-faces,
 * max-tracks) of them; one warning per element iff some buffer had more
 * usable faces than max-faces. */
GST_START_TEST (test_fuzz_rois)
  {
    const Layout layouts[] = {
        {"GRAY8", 1, 1},
        {"I420", 7, 3},
        {"RGB", 64, 48},
        {"NV12", 32, 32},
    };
    const gchar *types[] = {"face", "Face", "person", "", "face "};
    guint seed = env_uint ("ADATOSK_FUZZ_SEED", 13);
    guint n_buffers = env_uint ("ADATOSK_FUZZ_BUFFERS", 400);
    guint max_metas = env_uint ("ADATOSK_FUZZ_MAX_METAS", 1000000);
    GRand *rand = g_rand_new_with_seed (seed);
    guint done = 0, round = 0;
    guint64 metas_total = 0;

    g_print ("ROI fuzz: seed %u, %u buffers, up to %u metas per buffer\n", seed,
        n_buffers, max_metas);
    while (done < n_buffers) {
      const Layout *l =
          &layouts[g_rand_int_range (rand, 0, G_N_ELEMENTS (layouts))];
      guint max_faces = g_rand_int_range (rand, 1, 20);
      guint max_tracks = g_rand_int_range (rand, 1, 9);
      guint stride = g_rand_int_range (rand, 1, 4);
      gboolean auto_mode = g_rand_boolean (rand);
      gchar *props =
          g_strdup_printf ("roi-mode=%s frame-step=1 clip-stride=%u "
                           "max-faces=%u max-tracks=%u track-timeout=%u",
              auto_mode ? "auto" : "roi", stride, max_faces, max_tracks,
              g_rand_int_range (rand, 1, 4));
      gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
                                     "framerate=25/1",
          l->format, l->width, l->height);
      GstVideoInfo info;
      GstBus *bus;
      GstHarness *h = harness_new (props, caps, &bus);
      guint len = g_rand_int_range (rand, 1, 3 * T);
      gboolean expect_warning = FALSE;
      GQuark face = g_quark_from_static_string ("face");

      GST_INFO ("round %u: %s, %s, %u buffers", round, caps, props, len);
      gst_video_info_set_format (&info,
          gst_video_format_from_string (l->format), l->width, l->height);
      for (guint f = 0; f < len && done < n_buffers; f++, done++) {
        GstBuffer *in = gst_harness_create_buffer (h, info.size);
        GstBuffer *out;
        guint count = random_count (rand, max_metas);
        guint usable = 0, with_result = 0, results;
        guint8 fill = (guint8) g_rand_int (rand);
        gpointer state = NULL;
        GstMeta *meta;
        GstMapInfo map;

        gst_buffer_memset (in, 0, fill, info.size);
        GST_BUFFER_PTS (in) = f * DUR;
        GST_BUFFER_DURATION (in) = DUR;
        for (guint i = 0; i < count; i++) {
          const gchar *type = types[g_rand_int_range (rand, 0, 5) < 4
                  ? 0
                  : g_rand_int_range (rand, 1, G_N_ELEMENTS (types))];
          guint x = interesting (rand, l->width);
          guint y = interesting (rand, l->height);
          guint w = interesting (rand, l->width);
          guint hh = interesting (rand, l->height);

          gst_buffer_add_video_region_of_interest_meta (in, type, x, y, w, hh);
          usable += g_str_equal (type, "face") && x < (guint) l->width
              && y < (guint) l->height && w > 0 && hh > 0;
        }
        metas_total += count;
        /* In auto mode the first buffer without face ROIs uses the whole
       * frame, which counts as one face. */
        if (usable > max_faces)
          expect_warning = TRUE;

        out = gst_harness_push_and_pull (h, in);
        fail_unless (out != NULL, "round %u buffer %u: no output", round, f);
        fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
        for (gsize i = 0; i < map.size; i++)
          fail_unless (map.data[i] == fill, "round %u: pixels changed", round);
        gst_buffer_unmap (out, &map);
        while ((meta = gst_buffer_iterate_meta_filtered (out, &state,
                    GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
            != NULL) {
          GstVideoRegionOfInterestMeta *roi =
              (GstVideoRegionOfInterestMeta *) meta;

          if (!has_result (roi))
            continue;
          with_result++;
          fail_unless (roi->roi_type == face, "round %u: a result on a %s ROI",
              round, g_quark_to_string (roi->roi_type));
          fail_unless (roi->x < (guint) l->width && roi->y < (guint) l->height
                  && roi->w > 0 && roi->h > 0,
              "round %u: a result on the ROI "
              "%u,%u %ux%u of a %dx%d frame",
              round, roi->x, roi->y, roi->w, roi->h, l->width, l->height);
        }
        results = adatosk_dfer_buffer_get_n_results (out);
        fail_unless_equals_int (results, with_result);
        fail_unless (results <= MIN (max_faces, max_tracks),
            "round %u: %u "
            "results, max-faces %u, max-tracks %u",
            round, results, max_faces, max_tracks);
        gst_buffer_unref (out);
      }
      fail_unless_equals_int (count_warnings (bus), expect_warning ? 1 : 0);
      harness_free (h, bus);
      g_free (props);
      g_free (caps);
      round++;
    }
    g_print ("ROI fuzz: %u elements, %u buffers, %" G_GUINT64_FORMAT
             " ROI metas\n",
        round, done, metas_total);
    g_rand_free (rand);
  }

GST_END_TEST;

static Suite *
adatoskdfer_fuzz_suite (void)
{
  Suite *s = suite_create ("adatoskdfer-roi-fuzz");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_million_rois);
  tcase_add_test (tc, test_fuzz_rois);
  return s;
}

GST_CHECK_MAIN (adatoskdfer_fuzz);
