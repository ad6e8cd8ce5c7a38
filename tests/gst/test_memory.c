/* adatoskdfer memory: many frames through the element do not grow the
 * process (ADATOSK_MEMTEST_FRAMES, default 10,000), in sync and async mode,
 * with tracks coming and going. The valgrind test runs this with fewer
 * frames and a leak check.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "adatoskmeta.h"

static guint
n_frames (void)
{
  const gchar *env = g_getenv ("ADATOSK_MEMTEST_FRAMES");

  return env ? (guint) atoi (env) : 10000;
}

/* Resident set size in KiB. */
static glong
rss_kib (void)
{
  glong pages = 0, resident = 0;
  FILE *f = fopen ("/proc/self/statm", "r");

  fail_unless (f != NULL);
  fail_unless (fscanf (f, "%ld %ld", &pages, &resident) == 2);
  fclose (f);
  return resident * (sysconf (_SC_PAGESIZE) / 1024);
}

static void
run_frames (const gchar *mode)
{
  GstElement *e = gst_element_factory_make ("adatoskdfer", NULL);
  GstHarness *h;
  GstBus *bus = gst_bus_new ();
  GstVideoInfo info;
  guint total = n_frames (), warm = total / 5;
  glong rss_warm = 0, rss_end;
  guint64 classified = 0, dropped = 0;

  fail_unless (e != NULL);
  gst_util_set_object_arg (G_OBJECT (e), "inference-mode", mode);
  gst_util_set_object_arg (G_OBJECT (e), "backend", "cpu");
  g_object_set (e, "model", g_getenv ("ADATOSK_TEST_MODEL"), "threads", 1,
      "frame-step", 1, "clip-stride", 1, "roi-mode", 1 /* roi */,
      "track-timeout", 2, "max-tracks", 3, NULL);
  gst_element_set_bus (e, bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_I420, 64, 48);
  gst_harness_set_src_caps_str (h,
      "video/x-raw,format=I420,width=64,height=48,framerate=25/1");

  for (guint f = 0; f < total; f++) {
    GstBuffer *buf = gst_harness_create_buffer (h, info.size);
    GstMessage *msg;

    gst_buffer_memset (buf, 0, (guint8) (f * 7), info.size);
    GST_BUFFER_PTS (buf) = f * GST_MSECOND * 40;
    GST_BUFFER_DURATION (buf) = GST_MSECOND * 40;
    /* A face that stays, and one that comes and goes (new tracks, dropped
     * tracks, results attached and freed). */
    gst_buffer_add_video_region_of_interest_meta (buf, "face", 4, 4, 24, 24);
    if ((f / 9) % 2 == 0)
      gst_buffer_add_video_region_of_interest_meta (buf, "face", 36, 10, 24,
          30);
    gst_buffer_unref (gst_harness_push_and_pull (h, buf));
    while ((msg = gst_bus_pop (bus)) != NULL)
      gst_message_unref (msg);
    if (f + 1 == warm)
      rss_warm = rss_kib ();
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  rss_end = rss_kib ();
  g_object_get (h->element, "clips-classified", &classified, "clips-dropped",
      &dropped, NULL);
  GST_INFO ("%s: %u frames, %" G_GUINT64_FORMAT
            " clips classified, %" G_GUINT64_FORMAT
            " dropped; RSS %ld KiB after %u frames, %ld KiB at "
            "the end",
      mode, total, classified, dropped, rss_warm, warm, rss_end);
  g_print ("%s: %u frames, %" G_GUINT64_FORMAT " clips; RSS %ld KiB after "
           "%u frames, %ld KiB after %u\n",
      mode, total, classified, rss_warm, warm, rss_end, total);
  fail_unless (classified + dropped > total / 2);
  /* No growth after warm-up beyond allocator noise (meaningless under
   * valgrind, whose leak check replaces it there). */
  if (g_getenv ("ADATOSK_MEMTEST_NO_RSS") == NULL)
    fail_unless (rss_end - rss_warm < 1024, "RSS grew by %ld KiB",
        rss_end - rss_warm);
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

GST_START_TEST (test_frames_sync)
  {
    run_frames ("sync");
  }

GST_END_TEST;

GST_START_TEST (test_frames_async)
  {
    run_frames ("async");
  }

GST_END_TEST;

static Suite *
memory_suite (void)
{
  Suite *s = suite_create ("adatoskdfer-memory");
  TCase *tc = tcase_create ("memory");

  tcase_set_timeout (tc, 1200);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_frames_sync);
  tcase_add_test (tc, test_frames_async);
  return s;
}

GST_CHECK_MAIN (memory);
