/* adatoskdfer's inference engine (gst-plugin/engine.c) in GstHarness:
 * batch-size (clips due on one frame run as one forward, with the results
 * of unbatched forwards, sync and async), model-instance-id (elements share
 * one model: one load, one forward counter, memory of one; different
 * settings under one id fail with a message naming them; clips of several
 * streams pushed at once share forwards), `model` set while playing, and
 * overload (async drops and counts, memory flat; sync loses nothing).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adatoskmeta.h"

#define T 4 /* num_frames of the test model */
#define DUR (GST_SECOND / 25)
#define W 240
#define H 80
#define FACES 3
#define CAPS "video/x-raw,format=RGB,width=240,height=80,framerate=25/1"

static GstElement *
element_new (const gchar *props)
{
  GstElement *e = gst_element_factory_make ("adatoskdfer", NULL);
  const gchar *model = g_getenv ("ADATOSK_TEST_MODEL");

  fail_unless (e != NULL, "adatoskdfer not found: GST_PLUGIN_PATH?");
  fail_unless (model != NULL, "ADATOSK_TEST_MODEL is not set");
  gst_util_set_object_arg (G_OBJECT (e), "backend", "cpu");
  g_object_set (e, "model", model, "threads", 1, NULL);
  if (props) {
    gchar **kv = g_strsplit (props, " ", -1);

    for (guint i = 0; kv[i]; i++) {
      gchar **pair = g_strsplit (kv[i], "=", 2);

      if (pair[0] && pair[0][0] && pair[1])
        gst_util_set_object_arg (G_OBJECT (e), pair[0], pair[1]);
      g_strfreev (pair);
    }
    g_strfreev (kv);
  }
  return e;
}

static GstHarness *
harness_new (GstElement *e, GstBus **bus)
{
  GstHarness *h;

  *bus = gst_bus_new ();
  gst_element_set_bus (e, *bus);
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static void
harness_free (GstHarness *h, GstBus *bus)
{
  gst_harness_teardown (h);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

/* Frame `f` with FACES textured faces moving right, each with a face ROI
 * (face i of `seed`'s stream differs from face i of another seed). */
static GstBuffer *
make_frame (GstHarness *h, guint f, guint seed)
{
  gsize size = (gsize) GST_ROUND_UP_4 (W * 3) * H;
  GstBuffer *buf = gst_harness_create_buffer (h, size);
  GstMapInfo map;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_WRITE));
  memset (map.data, 0, size);
  for (guint i = 0; i < FACES; i++) {
    gint x0 = 10 + 80 * (gint) i + (gint) (f % 8);

    for (gint r = 20; r < 60; r++)
      for (gint c = x0; c < x0 + 40; c++)
        for (gint k = 0; k < 3; k++)
          map.data[r * GST_ROUND_UP_4 (W * 3) + c * 3 + k] = (guint8) (40 * i
              + ((r * 7 + c * 3 + k * 11 + f * 5 + seed * 13) % 60));
  }
  gst_buffer_unmap (buf, &map);
  for (guint i = 0; i < FACES; i++)
    gst_buffer_add_video_region_of_interest_meta (buf, "face",
        10 + 80 * i + (f % 8), 20, 40, 40);
  GST_BUFFER_PTS (buf) = f * DUR;
  GST_BUFFER_DURATION (buf) = DUR;
  return buf;
}

/* "track-id/clip-start" -> probabilities (a gdouble array), from the bus. */
static GHashTable *
collect_results (GstBus *bus, guint *count)
{
  GHashTable *results =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GstMessage *msg;

  *count = 0;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT)) != NULL) {
    const GstStructure *s = gst_message_get_structure (msg);
    const GValue *v;
    guint track = 0;
    guint64 start = 0;
    gdouble *probs;

    if (gst_structure_has_name (s, ADATOSK_DFER_MESSAGE_NAME)) {
      fail_unless (
          gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID, &track));
      fail_unless (
          gst_structure_get_uint64 (s, ADATOSK_DFER_FIELD_CLIP_START, &start));
      v = gst_structure_get_value (s, ADATOSK_DFER_FIELD_PROBABILITIES);
      fail_unless (v != NULL && gst_value_array_get_size (v) == 7);
      probs = g_new (gdouble, 7);
      for (guint k = 0; k < 7; k++)
        probs[k] = g_value_get_float (gst_value_array_get_value (v, k));
      g_hash_table_insert (results,
          g_strdup_printf ("%u/%" G_GUINT64_FORMAT, track, start), probs);
      (*count)++;
    }
    gst_message_unref (msg);
  }
  return results;
}

/* Pushes `frames` frames of FACES faces, then EOS; the results and the
 * element's forwards. */
static GHashTable *
run_stream (const gchar *props, guint frames, guint *count, guint64 *forwards,
    guint64 *dropped)
{
  GstElement *e = element_new (props);
  GstBus *bus;
  GstHarness *h = harness_new (e, &bus);
  GHashTable *results;

  for (guint f = 0; f < frames; f++)
    gst_buffer_unref (gst_harness_push_and_pull (h, make_frame (h, f, 0)));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  g_object_get (e, "forwards", forwards, "clips-dropped", dropped, NULL);
  gst_object_unref (e);
  results = collect_results (bus, count);
  harness_free (h, bus);
  return results;
}

/* Every result of `a` is in `b`, with the same probabilities. */
static void
check_same_results (GHashTable *a, GHashTable *b)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, a);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    const gdouble *pa = value, *pb = g_hash_table_lookup (b, key);

    fail_unless (pb != NULL, "no result for %s", (const gchar *) key);
    for (guint k = 0; k < 7; k++)
      fail_unless (fabs (pa[k] - pb[k]) <= 1e-6, "%s class %u: %g vs %g",
          (const gchar *) key, k, pa[k], pb[k]);
  }
}

/* Three faces due on the same frames: with batch-size 3 one forward per
 * frame (plus the warm-up), with batch-size 1 one per clip; the same
 * probabilities either way, and from the async worker's batches too. */
GST_START_TEST (test_batch_size)
  {
    guint n1, n3, na;
    guint64 f1, f3, fa, d1, d3, da;
    GHashTable *one = run_stream ("roi-mode=roi frame-step=1 clip-stride=2 "
                                  "batch-size=1",
        16, &n1, &f1, &d1);
    GHashTable *three = run_stream ("roi-mode=roi frame-step=1 clip-stride=2 "
                                    "batch-size=3",
        16, &n3, &f3, &d3);
    GHashTable *async = run_stream ("roi-mode=roi frame-step=1 clip-stride=2 "
                                    "batch-size=3 inference-mode=async",
        16, &na, &fa, &da);

    /* Clips at samples 4, 6, ... 16: 7 per face. */
    fail_unless_equals_int (n1, 7 * FACES);
    fail_unless_equals_int (n3, 7 * FACES);
    fail_unless_equals_int ((gint) (d1 + d3), 0);
    fail_unless_equals_int ((gint) f1, 1 + 7 * FACES);
    fail_unless_equals_int ((gint) f3, 1 + 7);
    /* The harness is live: the worker may drop what it cannot keep up with;
     * what it runs, it runs up to three at a time. */
    fail_unless_equals_int (na + (guint) da, 7 * FACES);
    fail_unless (na > 0);
    fail_unless (
        (gint) fa >= 1 + (gint) (na + 2) / 3 && (gint) fa <= 1 + (gint) na);
    check_same_results (three, one);
    check_same_results (one, three);
    check_same_results (async, one);
    g_hash_table_unref (one);
    g_hash_table_unref (three);
    g_hash_table_unref (async);
  }

GST_END_TEST;

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

/* Eight elements with one model-instance-id: one model (each element's
 * warm-up counts on the same forward counter) and, with the built-in model
 * (adatosk-tiny, 22 MB of weights), the memory of one instance within 1.2x
 * (not under valgrind, whose RSS means nothing). */
GST_START_TEST (test_shared_instance)
  {
    gboolean built_in =
        g_strcmp0 (g_getenv ("ADATOSK_TEST_BUILT_IN_MODEL"), "yes") == 0;
    gboolean measure = built_in && !g_getenv ("ADATOSK_MEMTEST_NO_RSS");
    GstElement *e[8];
    GstHarness *h[8];
    GstBus *bus[8];
    glong rss0 = 0, rss1 = 0, rss8;
    guint64 forwards;

    for (guint i = 0; i < 8; i++) {
      e[i] = element_new ("roi-mode=roi model-instance-id=shared-test");
      if (measure)
        g_object_set (e[i], "model", NULL, NULL);
      if (i == 0)
        rss0 = rss_kib ();
      /* Started (model loaded, warmed up) by the harness; no frames, so
       * that only the model's memory is measured, not the tracks'. */
      h[i] = harness_new (e[i], &bus[i]);
      if (i == 0)
        rss1 = rss_kib ();
    }
    rss8 = rss_kib ();
    /* One warm-up forward per element, all on the same model. */
    for (guint i = 0; i < 8; i++) {
      g_object_get (e[i], "forwards", &forwards, NULL);
      fail_unless_equals_int ((gint) forwards, 8);
    }
    if (measure) {
      GST_INFO ("RSS: %ld KiB before, +%ld KiB with one element, +%ld KiB "
                "with eight",
          rss0, rss1 - rss0, rss8 - rss0);
      fail_unless (rss1 - rss0 > 20 * 1024, "one instance took only %ld KiB",
          rss1 - rss0);
      fail_unless ((gdouble) (rss8 - rss0) <= 1.2 * (gdouble) (rss1 - rss0),
          "eight instances took %ld KiB, one %ld KiB", rss8 - rss0,
          rss1 - rss0);
    }
    for (guint i = 0; i < 8; i++) {
      gst_object_unref (e[i]);
      harness_free (h[i], bus[i]);
    }
  }

GST_END_TEST;

/* A second element under the same id with another setting does not start;
 * its error names the id and the setting. The first one runs on. */
GST_START_TEST (test_instance_mismatch)
  {
    GstElement *a = element_new ("model-instance-id=mismatch-test");
    GstElement *b = element_new ("model-instance-id=mismatch-test");
    GstBus *bus_a, *bus_b;
    GstHarness *ha = harness_new (a, &bus_a);
    GstMessage *msg;
    GError *error = NULL;
    gchar *debug = NULL;

    g_object_set (b, "threads", 2, NULL);
    bus_b = gst_bus_new ();
    gst_element_set_bus (b, bus_b);
    fail_unless_equals_int (gst_element_set_state (b, GST_STATE_PAUSED),
        GST_STATE_CHANGE_FAILURE);
    msg = gst_bus_pop_filtered (bus_b, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL);
    gst_message_parse_error (msg, &error, &debug);
    fail_unless (strstr (error->message, "\"mismatch-test\"") != NULL, "%s",
        error->message);
    fail_unless (strstr (error->message,
                     "threads 1, this element asks "
                     "for 2")
            != NULL,
        "%s", error->message);
    g_error_free (error);
    g_free (debug);
    gst_message_unref (msg);
    gst_element_set_state (b, GST_STATE_NULL);
    gst_bus_set_flushing (bus_b, TRUE);
    gst_object_unref (bus_b);
    gst_object_unref (b);

    gst_buffer_unref (gst_harness_push_and_pull (ha, make_frame (ha, 0, 0)));
    gst_object_unref (a);
    harness_free (ha, bus_a);
  }

GST_END_TEST;

#define STREAMS 3

typedef struct
{
  GstHarness *h;
  guint seed;
  guint frames;
  GMutex *lock;
  GCond *cond;
  guint *ready;
} Stream;

static gpointer
push_stream (gpointer data)
{
  Stream *s = data;

  /* Both streams start together. */
  g_mutex_lock (s->lock);
  (*s->ready)++;
  g_cond_broadcast (s->cond);
  while (*s->ready < STREAMS)
    g_cond_wait (s->cond, s->lock);
  g_mutex_unlock (s->lock);
  for (guint f = 0; f < s->frames; f++)
    gst_buffer_unref (
        gst_harness_push_and_pull (s->h, make_frame (s->h, f, s->seed)));
  return NULL;
}

/* Three streams on one model-instance-id, pushed from three threads at once
 * in sync mode: every clip classified, in fewer forwards than the streams
 * would run apart (while one stream's forward runs, the others' clips queue
 * and then share the next one), and a stream's results equal those it gets
 * alone. The built-in model (adatosk-tiny, tens of ms a forward) makes the
 * streams meet. */
GST_START_TEST (test_streams_batch_together)
  {
    /* Not under valgrind (ADATOSK_TEST_QUICK): far too slow there. */
    gboolean built_in =
        g_strcmp0 (g_getenv ("ADATOSK_TEST_BUILT_IN_MODEL"), "yes") == 0
        && !g_getenv ("ADATOSK_TEST_QUICK");
    const gchar *props = built_in
        ? "model= roi-mode=roi frame-step=1 clip-stride=1 batch-size=8 "
          "model-instance-id=streams-test"
        : "roi-mode=roi frame-step=1 clip-stride=1 batch-size=8 "
          "model-instance-id=streams-test";
    /* The built-in model's clips are 16 frames. */
    const guint frames = built_in ? 20 : 40,
                per_face = frames - (built_in ? 16 : T) + 1;
    GstElement *e[STREAMS];
    GstBus *bus[STREAMS];
    Stream s[STREAMS];
    GThread *threads[STREAMS];
    GMutex lock;
    GCond cond;
    guint ready = 0, counts[STREAMS], alone_count, total = 0;
    guint64 forwards, alone_forwards, alone_dropped;
    GHashTable *results[STREAMS], *alone;

    g_mutex_init (&lock);
    g_cond_init (&cond);
    for (guint i = 0; i < STREAMS; i++) {
      e[i] = element_new (props);
      s[i] = (Stream){harness_new (e[i], &bus[i]), i, frames, &lock, &cond,
          &ready};
      /* Start (and warm up) before the race. */
      gst_harness_play (s[i].h);
    }
    for (guint i = 0; i < STREAMS; i++)
      threads[i] = g_thread_new ("stream", push_stream, &s[i]);
    for (guint i = 0; i < STREAMS; i++)
      g_thread_join (threads[i]);
    g_object_get (e[0], "forwards", &forwards, NULL);
    for (guint i = 0; i < STREAMS; i++) {
      fail_unless (gst_harness_push_event (s[i].h, gst_event_new_eos ()));
      results[i] = collect_results (bus[i], &counts[i]);
      /* Clips from sample T on, every sample. */
      fail_unless_equals_int (counts[i], per_face * FACES);
      total += counts[i];
    }
    GST_INFO ("%u clips in %" G_GUINT64_FORMAT " forwards (%d warm-ups)", total,
        forwards, STREAMS);
    /* Three clips per frame and stream: one forward each without sharing;
     * shared batches hold up to 8. */
    if (built_in)
      fail_unless (forwards - STREAMS < total / FACES,
          "%" G_GUINT64_FORMAT " forwards for %u clips: the streams never "
          "shared one",
          forwards, total);

    alone = run_stream (built_in ? "model= roi-mode=roi frame-step=1 "
                                   "clip-stride=1 batch-size=8"
                                 : "roi-mode=roi frame-step=1 clip-stride=1 "
                                   "batch-size=8",
        frames, &alone_count, &alone_forwards, &alone_dropped);
    fail_unless_equals_int (alone_count, per_face * FACES);
    check_same_results (results[0], alone);
    for (guint i = 0; i < STREAMS; i++) {
      gst_object_unref (e[i]);
      harness_free (s[i].h, bus[i]);
      g_hash_table_unref (results[i]);
    }
    g_hash_table_unref (alone);
    g_mutex_clear (&lock);
    g_cond_clear (&cond);
  }

GST_END_TEST;

/* The model name of the result on `buf` ("" when none). */
static gchar *
result_model (GstBuffer *buf)
{
  AdatoskDferResult r;

  if (adatosk_dfer_buffer_get_n_results (buf) == 0
      || !adatosk_dfer_buffer_get_result (buf, 0, &r))
    return g_strdup ("");
  return g_strdup (r.model_name);
}

/* Pushes frames (every one must come out: none is lost) until one carries a
 * result of `want`; results before it are of `before` (or none). Gives the
 * loading thread time between frames; fails after `limit` frames. */
static void
push_until_model (GstHarness *h, guint *f, const gchar *before,
    const gchar *want, guint limit)
{
  for (guint i = 0; i < limit; i++, (*f)++) {
    GstBuffer *out = gst_harness_push_and_pull (h, make_frame (h, *f, 0));
    gchar *name;

    fail_unless (out != NULL, "frame %u did not come out", *f);
    name = result_model (out);
    gst_buffer_unref (out);
    if (g_str_equal (name, want)) {
      g_free (name);
      (*f)++;
      return;
    }
    fail_unless (name[0] == '\0' || g_str_equal (name, before),
        "frame %u: a result of %s", *f, name);
    g_free (name);
    g_usleep (2000);
  }
  fail ("no result of %s within %u frames", want, limit);
}

/* `model` set while playing, in sync and async mode: the new model loads
 * beside the old one, which classifies until the switch; the clips after it carry the new model's
 * name; with the same clips the tracks go on (the very next frame has a
 * result), with others they start again; a file that cannot be loaded
 * leaves the running model and posts a warning naming the problem. */
GST_START_TEST (test_model_swap)
  {
    const gchar *named = g_getenv ("ADATOSK_TEST_MODEL_NAMED");
    const gchar *wide = g_getenv ("ADATOSK_TEST_MODEL_WIDE");
    GstElement *e = element_new (__i__ ? "roi-mode=full-frame frame-step=1 "
                                         "clip-stride=1 inference-mode=async"
                                       : "roi-mode=full-frame frame-step=1 "
                                         "clip-stride=1");
    GstBus *bus;
    GstHarness *h = harness_new (e, &bus);
    GstMessage *msg = NULL;
    GstBuffer *out;
    gchar *name;
    guint f = 0;

    fail_unless (named != NULL && wide != NULL);
    push_until_model (h, &f, "", "adatosk-tiny", 500);
    g_object_set (e, "model", named, NULL);
    push_until_model (h, &f, "adatosk-tiny", "swapped-model", 500);
    /* Same clips: the tracks went on; every frame has a result (async: the
     * latest stays on the track's frames) of the new model. */
    out = gst_harness_push_and_pull (h, make_frame (h, f++, 0));
    name = result_model (out);
    fail_unless_equals_string (name, "swapped-model");
    g_free (name);
    gst_buffer_unref (out);

    /* Other clips (32x48): new tracks, a result T frames on. */
    g_object_set (e, "model", wide, NULL);
    push_until_model (h, &f, "swapped-model", "adatosk-tiny", 500);

    g_object_set (e, "model", "/nonexistent/model.safetensors", NULL);
    for (guint i = 0; i < 500 && msg == NULL; i++) {
      out = gst_harness_push_and_pull (h, make_frame (h, f++, 0));
      fail_unless (out != NULL);
      name = result_model (out);
      fail_unless_equals_string (name, "adatosk-tiny");
      g_free (name);
      gst_buffer_unref (out);
      msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
      g_usleep (2000);
    }
    fail_unless (msg != NULL, "no warning for a model that cannot load");
    {
      GError *error = NULL;
      gchar *debug = NULL;

      gst_message_parse_warning (msg, &error, &debug);
      fail_unless (strstr (error->message, "/nonexistent/model.safetensors")
              != NULL,
          "%s", error->message);
      fail_unless (strstr (debug, "keeps running") != NULL, "%s", debug);
      g_error_free (error);
      g_free (debug);
      gst_message_unref (msg);
    }
    /* The old model runs on. */
    out = gst_harness_push_and_pull (h, make_frame (h, f++, 0));
    name = result_model (out);
    fail_unless_equals_string (name, "adatosk-tiny");
    g_free (name);
    gst_buffer_unref (out);
    gst_object_unref (e);
    harness_free (h, bus);
  }

GST_END_TEST;

/* Overload, async: three faces with a clip due every frame, on the built-in
 * model, pushed as fast as the harness goes (a live source: the harness
 * answers the latency query as live): far more clips than two cores
 * classify. Late clips are dropped and counted, every clip is accounted for
 * (classified or dropped), every frame comes out, and memory stays flat (a
 * queue that grew would keep 2.4 MB per waiting clip). Under valgrind
 * (ADATOSK_TEST_QUICK) the test model, and only the accounting. */
GST_START_TEST (test_overload_async)
  {
    gboolean built_in =
        g_strcmp0 (g_getenv ("ADATOSK_TEST_BUILT_IN_MODEL"), "yes") == 0
        && !g_getenv ("ADATOSK_TEST_QUICK");
    GstElement *e = element_new (built_in
            ? "model= roi-mode=roi frame-step=1 clip-stride=1 "
              "inference-mode=async"
            : "roi-mode=roi frame-step=1 clip-stride=1 inference-mode=async");
    const guint frames = built_in ? 240 : 60, t = built_in ? 16 : T;
    GstBus *bus;
    GstHarness *h = harness_new (e, &bus);
    guint64 classified = 0, dropped = 0;
    glong rss_half = 0, rss_end;

    for (guint f = 0; f < frames; f++) {
      GstBuffer *out = gst_harness_push_and_pull (h, make_frame (h, f, 0));

      fail_unless (out != NULL, "frame %u did not come out", f);
      gst_buffer_unref (out);
      if (f == frames / 2)
        rss_half = rss_kib ();
    }
    rss_end = rss_kib ();
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    g_object_get (e, "clips-classified", &classified, "clips-dropped", &dropped,
        NULL);
    GST_INFO ("%" G_GUINT64_FORMAT " clips classified, %" G_GUINT64_FORMAT
              " dropped; RSS %ld KiB at half, %+ld KiB at the end",
        classified, dropped, rss_half, rss_end - rss_half);
    fail_unless_equals_int ((gint) (classified + dropped),
        (gint) ((frames - t + 1) * FACES));
    if (built_in) {
      fail_unless (dropped > 0, "no clip dropped: not an overload");
      fail_unless (classified > 0);
      fail_unless (rss_end - rss_half < 30 * 1024,
          "RSS grew by %ld KiB over the second half", rss_end - rss_half);
    }
    gst_object_unref (e);
    harness_free (h, bus);
  }

GST_END_TEST;

/* The same in sync mode: the stream waits for every forward and nothing is
 * lost (no QoS events here). */
GST_START_TEST (test_overload_sync)
  {
    GstElement *e =
        element_new ("roi-mode=roi frame-step=1 clip-stride=1 batch-size=2");
    GstBus *bus;
    GstHarness *h = harness_new (e, &bus);
    guint64 classified = 0, dropped = 0;

    for (guint f = 0; f < 40; f++)
      gst_buffer_unref (gst_harness_push_and_pull (h, make_frame (h, f, 0)));
    g_object_get (e, "clips-classified", &classified, "clips-dropped", &dropped,
        NULL);
    fail_unless_equals_int ((gint) dropped, 0);
    fail_unless_equals_int ((gint) classified, (40 - T + 1) * FACES);
    gst_object_unref (e);
    harness_free (h, bus);
  }

GST_END_TEST;

static Suite *
engine_suite (void)
{
  Suite *s = suite_create ("adatoskdfer-engine");
  TCase *tc = tcase_create ("engine");

  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_batch_size);
  tcase_add_test (tc, test_shared_instance);
  tcase_add_test (tc, test_instance_mismatch);
  tcase_add_test (tc, test_streams_batch_together);
  tcase_add_loop_test (tc, test_model_swap, 0, 2); /* sync, async */
  tcase_add_test (tc, test_overload_async);
  tcase_add_test (tc, test_overload_sync);
  return s;
}

GST_CHECK_MAIN (engine);
