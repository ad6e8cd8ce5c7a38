/* adatoskoverlay tests, by pixels: GstHarness frames of every kind of
 * layout (packed and planar RGB and YUV, grey, 10 and 16 bits, odd sizes)
 * with the metas adatoskdfer attaches, read back through GstVideoConverter as
 * ARGB and compared with the input:
 *
 *  - the box lands on the ROI's edges and nowhere else is anything drawn
 *    outside the region of box, label and panel; the inside of the box is
 *    untouched; the label is just above the ROI;
 *  - a frame without results (no ROI, or a ROI without the "expression"
 *    param) leaves the element byte for byte as it came;
 *  - the significance strip and the bars follow the values in the meta;
 *  - properties: nothing drawn with every part off, colours, line width;
 *  - downstream that renders GstVideoOverlayCompositionMeta gets the meta
 *    (merged with one already there) and untouched pixels;
 *  - behind a real adatoskdfer: no drawing before the first clip, a box
 *    after it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <string.h>

#include "adatoskmeta.h"

#define GREY 0xff404040u
/* A channel differs by more than this: drawn (conversions round by a few). */
#define DRAWN 24

typedef struct
{
  gint x, y, w, h;
} Box;

static const gchar *const class_labels[] = {"neutral", "happy", "surprised"};
static const gfloat probs[] = {0.1f, 0.875f, 0.025f};

static GstHarness *
overlay_harness (const gchar *format, gint w, gint h, const gchar *props)
{
  gchar *desc = g_strdup_printf ("adatoskoverlay %s", props ? props : "");
  GstHarness *harness = gst_harness_new_parse (desc);
  gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
                                 "framerate=25/1",
      format, w, h);

  gst_harness_set_caps_str (harness, caps, caps);
  g_free (caps);
  g_free (desc);
  return harness;
}

static void
info_for (GstVideoInfo *info, const gchar *format, gint w, gint h)
{
  gst_video_info_set_format (info, gst_video_format_from_string (format), w, h);
}

/* Converts between `buffer` of `info` and a packed ARGB copy. */
static void
convert (const GstVideoInfo *from_info, GstBuffer *from,
    const GstVideoInfo *to_info, GstBuffer *to)
{
  GstVideoConverter *c = gst_video_converter_new ((GstVideoInfo *) from_info,
      (GstVideoInfo *) to_info, NULL);
  GstVideoFrame a, b;

  fail_unless (c != NULL);
  fail_unless (gst_video_frame_map (&a, from_info, from, GST_MAP_READ));
  fail_unless (gst_video_frame_map (&b, to_info, to, GST_MAP_WRITE));
  gst_video_converter_frame (c, &a, &b);
  gst_video_frame_unmap (&b);
  gst_video_frame_unmap (&a);
  gst_video_converter_free (c);
}

static guint32 *
to_argb (GstBuffer *buffer, const GstVideoInfo *info)
{
  GstVideoInfo argb;
  GstBuffer *out;
  guint32 *pixels;
  gsize n = (gsize) GST_VIDEO_INFO_WIDTH (info) * GST_VIDEO_INFO_HEIGHT (info);

  gst_video_info_set_format (&argb, GST_VIDEO_FORMAT_BGRA,
      GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
  argb.colorimetry = info->colorimetry;
  out = gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (&argb));
  convert (info, buffer, &argb, out);
  pixels = g_new (guint32, n);
  /* BGRA in memory is 0xAARRGGBB as a little-endian word. */
  fail_unless_equals_int (GST_VIDEO_INFO_PLANE_STRIDE (&argb, 0),
      GST_VIDEO_INFO_WIDTH (info) * 4);
  gst_buffer_extract (out, 0, pixels, n * 4);
  gst_buffer_unref (out);
  return pixels;
}

/* A frame of `info` filled with one ARGB colour. */
static GstBuffer *
flat_frame (const GstVideoInfo *info, guint32 color)
{
  GstVideoInfo argb;
  gsize n = (gsize) GST_VIDEO_INFO_WIDTH (info) * GST_VIDEO_INFO_HEIGHT (info);
  guint32 *pixels = g_new (guint32, n);
  GstBuffer *src, *frame;

  for (gsize i = 0; i < n; i++)
    pixels[i] = color;
  gst_video_info_set_format (&argb, GST_VIDEO_FORMAT_BGRA,
      GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
  argb.colorimetry = info->colorimetry;
  src = gst_buffer_new_wrapped (pixels, n * 4);
  frame = gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (info));
  convert (&argb, src, info, frame);
  gst_buffer_unref (src);
  GST_BUFFER_PTS (frame) = 0;
  GST_BUFFER_DURATION (frame) = GST_SECOND / 25;
  return frame;
}

static void
take_floats (GstStructure *s, const gchar *field, const gfloat *v, guint n)
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

/* What adatoskdfer attaches for one classified face (adatoskmeta.h): the
 * ROI with its "expression" param and the custom meta of the track. */
static void
add_result (GstBuffer *buf, Box box, guint track_id, const gfloat *significance,
    guint num_frames)
{
  GstVideoRegionOfInterestMeta *roi =
      gst_buffer_add_video_region_of_interest_meta (buf, "face", box.x, box.y,
          box.w, box.h);
  GstStructure *param = gst_structure_new (ADATOSK_DFER_ROI_PARAM_NAME,
      ADATOSK_DFER_FIELD_LABEL, G_TYPE_STRING, "happy",
      ADATOSK_DFER_FIELD_LABEL_ID, G_TYPE_INT, 1, ADATOSK_DFER_FIELD_CONFIDENCE,
      G_TYPE_DOUBLE, 0.875, ADATOSK_DFER_FIELD_MODEL_NAME, G_TYPE_STRING,
      "test", ADATOSK_DFER_FIELD_TRACK_ID, G_TYPE_UINT, track_id,
      ADATOSK_DFER_FIELD_CLIP_START, G_TYPE_UINT64, (guint64) 0,
      ADATOSK_DFER_FIELD_CLIP_END, G_TYPE_UINT64, (guint64) GST_SECOND, NULL);
  GstCustomMeta *meta =
      gst_buffer_add_custom_meta (buf, ADATOSK_DFER_META_NAME);
  GstStructure *s;
  GValue names = G_VALUE_INIT;

  gst_video_region_of_interest_meta_add_param (roi, param);
  fail_unless (meta != NULL, "AdatoskDferMeta is not registered");
  s = gst_custom_meta_get_structure (meta);
  gst_structure_set (s, ADATOSK_DFER_FIELD_LABEL, G_TYPE_STRING, "happy",
      ADATOSK_DFER_FIELD_LABEL_ID, G_TYPE_INT, 1, ADATOSK_DFER_FIELD_CONFIDENCE,
      G_TYPE_DOUBLE, 0.875, ADATOSK_DFER_FIELD_TRACK_ID, G_TYPE_UINT, track_id,
      ADATOSK_DFER_FIELD_KEPT_FRACTION, G_TYPE_DOUBLE, 0.5,
      ADATOSK_DFER_FIELD_MODEL_NAME, G_TYPE_STRING, "test",
      ADATOSK_DFER_FIELD_CLIP_START, G_TYPE_UINT64, (guint64) 0,
      ADATOSK_DFER_FIELD_CLIP_END, G_TYPE_UINT64, (guint64) GST_SECOND, NULL);
  take_floats (s, ADATOSK_DFER_FIELD_PROBABILITIES, probs, 3);
  take_floats (s, ADATOSK_DFER_FIELD_SIGNIFICANCE, significance, num_frames);
  gst_value_array_init (&names, 3);
  for (guint i = 0; i < 3; i++) {
    GValue item = G_VALUE_INIT;

    g_value_init (&item, G_TYPE_STRING);
    g_value_set_string (&item, class_labels[i]);
    gst_value_array_append_and_take_value (&names, &item);
  }
  gst_structure_take_value (s, ADATOSK_DFER_FIELD_LABELS, &names);
}

static const gfloat flat_significance[] = {1.0f, 1.0f, 1.0f, 1.0f};

static gboolean
differs (guint32 a, guint32 b)
{
  for (int shift = 0; shift < 24; shift += 8) {
    gint ca = (a >> shift) & 0xff, cb = (b >> shift) & 0xff;

    if (ABS (ca - cb) > DRAWN)
      return TRUE;
  }
  return FALSE;
}

static gboolean
greenish (guint32 p)
{
  gint r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;

  return g > r + 60 && g > b + 60;
}

/* The bounding box of the pixels that differ; FALSE when none does. */
static gboolean
changed_region (const guint32 *a, const guint32 *b, gint w, gint h, Box *out)
{
  gint x0 = w, y0 = h, x1 = -1, y1 = -1;

  for (gint y = 0; y < h; y++)
    for (gint x = 0; x < w; x++)
      if (differs (a[y * w + x], b[y * w + x])) {
        x0 = MIN (x0, x);
        y0 = MIN (y0, y);
        x1 = MAX (x1, x);
        y1 = MAX (y1, y);
      }
  *out = (Box){x0, y0, x1 - x0 + 1, y1 - y0 + 1};
  return x1 >= 0;
}

/* Pushes `in` (consumed), returns the output and the ARGB of both. */
static GstBuffer *
run (GstHarness *h, GstBuffer *in, const GstVideoInfo *info, guint32 **before,
    guint32 **after)
{
  GstBuffer *out;

  *before = to_argb (in, info);
  out = gst_harness_push_and_pull (h, in);
  fail_unless (out != NULL);
  *after = to_argb (out, info);
  return out;
}

/* One face in a frame of `format` and size: where things land. */
static void
check_box_lands (const gchar *format, gint w, gint h, Box roi)
{
  GstHarness *harness = overlay_harness (format, w, h, NULL);
  GstVideoInfo info;
  GstBuffer *in, *out;
  guint32 *before, *after;
  Box changed;
  gint cy = roi.y + roi.h / 2, cx = roi.x + roi.w / 2;
  gboolean grey = g_str_has_prefix (format, "GRAY");

  info_for (&info, format, w, h);
  in = flat_frame (&info, GREY);
  add_result (in, roi, 7, flat_significance, 4);
  out = run (harness, in, &info, &before, &after);

  fail_unless (changed_region (before, after, w, h, &changed),
      "%s %dx%d: nothing drawn", format, w, h);
  GST_INFO ("%s %dx%d: ROI %d,%d %dx%d, drawn in %d,%d %dx%d", format, w, h,
      roi.x, roi.y, roi.w, roi.h, changed.x, changed.y, changed.w, changed.h);
  /* The box's left edge, inside the ROI. */
  fail_unless (differs (after[cy * w + roi.x], before[cy * w + roi.x]),
      "%s %dx%d: no box at the ROI's left edge", format, w, h);
  if (!grey)
    fail_unless (greenish (after[cy * w + roi.x]),
        "%s: box pixel 0x%08x is not the box colour", format,
        after[cy * w + roi.x]);
  /* Inside the box (away from the panel, which goes below): untouched. */
  fail_if (differs (after[cy * w + cx], before[cy * w + cx]),
      "%s %dx%d: the inside of the box changed", format, w, h);
  /* Nothing left of the ROI (one pixel of chroma smear allowed) and
   * nothing above its label (a line of text, a few pixels of padding). */
  fail_unless (changed.x >= roi.x - 1, "%s %dx%d: drawn left of the ROI (x %d)",
      format, w, h, changed.x);
  fail_unless (changed.y >= MAX (0, roi.y - 40),
      "%s %dx%d: drawn far above the ROI (y %d)", format, w, h, changed.y);
  if (roi.y >= 24)
    fail_unless (changed.y < roi.y - 8, "%s %dx%d: no label above the ROI",
        format, w, h);

  g_free (before);
  g_free (after);
  gst_buffer_unref (out);
  gst_harness_teardown (harness);
}

GST_START_TEST (test_boxes_land_on_rois)
  {
    const gchar *formats[] = {"RGBx", "BGRA", "RGB", "ARGB", "I420", "YV12",
        "NV12", "NV21", "YUY2", "UYVY", "Y444", "AYUV", "GRAY8",
        /* Not blended onto directly: through ARGB or AYUV and back. */
        "I420_10LE", "P010_10LE", "Y444_16LE", "GRAY16_LE", "RGBA64_LE", "NV16",
        "v210", NULL};

    for (guint f = 0; formats[f] != NULL; f++) {
      check_box_lands (formats[f], 320, 240, (Box){40, 60, 80, 60});
      /* Odd sizes, an odd ROI. */
      check_box_lands (formats[f], 161, 97, (Box){30, 30, 51, 41});
    }
  }

GST_END_TEST;

/* A ROI larger than the frame (upstream metadata is not trusted): clipped. */
GST_START_TEST (test_roi_beyond_frame)
  {
    const gchar *formats[] = {"I420", "RGBx", "I420_10LE", NULL};

    for (guint f = 0; formats[f] != NULL; f++) {
      GstHarness *h = overlay_harness (formats[f], 17, 13, NULL);
      GstVideoInfo info;
      GstBuffer *in, *out;
      guint32 *before, *after;
      Box changed;

      info_for (&info, formats[f], 17, 13);
      in = flat_frame (&info, GREY);
      add_result (in, (Box){4, 2, 1000, 1000}, 1, flat_significance, 4);
      /* And one wholly outside: skipped. */
      add_result (in, (Box){5000, 5000, 10, 10}, 2, flat_significance, 4);
      out = run (h, in, &info, &before, &after);
      fail_unless (changed_region (before, after, 17, 13, &changed));
      fail_unless (changed.x >= 3, "%s: drawn left of the ROI", formats[f]);
      g_free (before);
      g_free (after);
      gst_buffer_unref (out);
      gst_harness_teardown (h);
    }
  }

GST_END_TEST;

/* The pixels of `in` come out unchanged; returns the output buffer. */
static GstBuffer *
check_same_pixels (GstHarness *h, GstBuffer *in)
{
  GstBuffer *copy = gst_buffer_copy_deep (in);
  GstBuffer *out = gst_harness_push_and_pull (h, in);
  GstMapInfo a, b;

  fail_unless (out != NULL);
  fail_unless (gst_buffer_map (copy, &a, GST_MAP_READ));
  fail_unless (gst_buffer_map (out, &b, GST_MAP_READ));
  fail_unless_equals_int (a.size, b.size);
  fail_unless (memcmp (a.data, b.data, a.size) == 0,
      "a frame without anything to draw was changed");
  gst_buffer_unmap (out, &b);
  gst_buffer_unmap (copy, &a);
  gst_buffer_unref (copy);
  return out;
}

/* ...and nothing to draw is attached either. */
static void
check_untouched (GstHarness *h, GstBuffer *in)
{
  GstBuffer *out = check_same_pixels (h, in);

  fail_unless (gst_buffer_get_video_overlay_composition_meta (out) == NULL);
  gst_buffer_unref (out);
}

GST_START_TEST (test_nothing_without_results)
  {
    const gchar *formats[] = {"I420", "RGBx", "I420_10LE", NULL};

    for (guint f = 0; formats[f] != NULL; f++) {
      GstHarness *h = overlay_harness (formats[f], 64, 48, NULL);
      GstHarness *off = overlay_harness (formats[f], 64, 48,
          "draw-boxes=false draw-labels=false draw-bars=false "
          "draw-significance=false");
      GstVideoInfo info;
      GstBuffer *in;

      info_for (&info, formats[f], 64, 48);
      /* No metas. */
      check_untouched (h, flat_frame (&info, GREY));
      /* A face ROI that adatoskdfer has not classified (yet). */
      in = flat_frame (&info, GREY);
      gst_buffer_add_video_region_of_interest_meta (in, "face", 8, 8, 20, 20);
      check_untouched (h, in);
      /* A result, with every part switched off. */
      in = flat_frame (&info, GREY);
      add_result (in, (Box){8, 8, 20, 20}, 1, flat_significance, 4);
      check_untouched (off, in);
      gst_harness_teardown (off);
      gst_harness_teardown (h);
    }
  }

GST_END_TEST;

GST_START_TEST (test_colour_and_line_width)
  {
    GstHarness *h = overlay_harness ("RGBx", 160, 120,
        "box-color=0xffff0000 line-width=6 draw-labels=false draw-bars=false "
        "draw-significance=false");
    GstVideoInfo info;
    GstBuffer *in, *out;
    guint32 *before, *after;
    Box roi = {20, 30, 60, 50}, changed;
    gint cy = roi.y + roi.h / 2;

    info_for (&info, "RGBx", 160, 120);
    in = flat_frame (&info, GREY);
    add_result (in, roi, 3, flat_significance, 4);
    out = run (h, in, &info, &before, &after);
    /* Red, 6 pixels wide, inside the ROI: exactly the ROI changed. */
    fail_unless_equals_int (after[cy * 160 + roi.x + 5] & 0xffffff, 0xff0000);
    fail_if (
        differs (after[cy * 160 + roi.x + 6], before[cy * 160 + roi.x + 6]));
    fail_unless (changed_region (before, after, 160, 120, &changed));
    fail_unless (changed.x == roi.x && changed.y == roi.y && changed.w == roi.w
            && changed.h == roi.h,
        "box drawn at %d,%d %dx%d, ROI %d,%d %dx%d", changed.x, changed.y,
        changed.w, changed.h, roi.x, roi.y, roi.w, roi.h);
    g_free (before);
    g_free (after);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }

GST_END_TEST;

/* The strip below the box: one bar per frame, the tallest for the most
 * significant frame; the bars: the most probable class's is the longest. */
GST_START_TEST (test_strip_and_bars)
  {
    const gfloat significance[] = {0.1f, 2.0f, 0.1f, 0.1f};
    GstHarness *h = overlay_harness ("RGBx", 320, 240,
        "draw-bars=false "
        "draw-labels=false");
    GstHarness *bars = overlay_harness ("RGBx", 320, 240,
        "draw-significance=false draw-labels=false background-color=0");
    GstVideoInfo info;
    GstBuffer *in, *out;
    guint32 *before, *after;
    Box roi = {40, 40, 120, 60};
    gint strip_top = roi.y + roi.h + 2; /* PAD */
    gint cell = (120 - 4) / 4;
    gint longest[3] = {0, 0, 0}, row = -1, prev_bar = 0;

    info_for (&info, "RGBx", 320, 240);
    in = flat_frame (&info, GREY);
    add_result (in, roi, 1, significance, 4);
    out = run (h, in, &info, &before, &after);
    /* Near the top of the strip: only frame 1's bar reaches it. */
    for (gint f = 0; f < 4; f++) {
      guint32 p =
          after[(strip_top + 2) * 320 + roi.x + 2 + f * cell + cell / 2];
      gboolean orange = ((p >> 16) & 0xff) > 200 && ((p >> 8) & 0xff) > 120
          && (p & 0xff) < 60;

      fail_unless (orange == (f == 1), "frame %d: pixel 0x%08x", f, p);
    }
    g_free (before);
    g_free (after);
    gst_buffer_unref (out);

    /* Bars without a background: count bar-coloured pixels per row band. */
    in = flat_frame (&info, GREY);
    add_result (in, roi, 1, significance, 4);
    out = run (bars, in, &info, &before, &after);
    for (gint y = roi.y + roi.h; y < 240; y++) {
      gint n = 0;

      for (gint x = 0; x < 320; x++) {
        guint32 p = after[y * 320 + x];

        n += ((p >> 16) & 0xff) < 40 && (p & 0xff) > 200;
      }
      if (n > 0 && prev_bar == 0)
        row++;
      if (n > 0 && row >= 0 && row < 3)
        longest[row] = MAX (longest[row], n);
      prev_bar = n;
    }
    fail_unless_equals_int (row, 2);
    fail_unless (longest[1] > 4 * longest[0] && longest[0] > longest[2],
        "bar lengths %d %d %d for probabilities 0.1 0.875 0.025", longest[0],
        longest[1], longest[2]);
    g_free (before);
    g_free (after);
    gst_buffer_unref (out);
    gst_harness_teardown (bars);
    gst_harness_teardown (h);
  }

GST_END_TEST;

/* Downstream renders the composition meta: the pixels stay, the meta holds
 * the drawing at the ROI, added to one already on the buffer. */
GST_START_TEST (test_meta_when_downstream_renders_it)
  {
    GstHarness *h = overlay_harness ("I420", 320, 240, NULL);
    GstVideoInfo info;
    GstBuffer *in, *out, *pixels;
    GstVideoOverlayCompositionMeta *meta;
    GstVideoOverlayRectangle *rect;
    gint x, y;
    guint w, hh;

    gst_harness_add_propose_allocation_meta (h,
        GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
    info_for (&info, "I420", 320, 240);

    in = flat_frame (&info, GREY);
    add_result (in, (Box){100, 80, 60, 50}, 1, flat_significance, 4);
    /* Someone else's overlay, already there. */
    pixels = gst_buffer_new_and_alloc (8 * 8 * 4);
    gst_buffer_memset (pixels, 0, 0xff, 8 * 8 * 4);
    gst_buffer_add_video_meta (pixels, GST_VIDEO_FRAME_FLAG_NONE,
        GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, 8, 8);
    rect = gst_video_overlay_rectangle_new_raw (pixels, 0, 0, 8, 8,
        GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
    {
      GstVideoOverlayComposition *c = gst_video_overlay_composition_new (rect);

      gst_buffer_add_video_overlay_composition_meta (in, c);
      gst_video_overlay_composition_unref (c);
    }
    gst_video_overlay_rectangle_unref (rect);
    gst_buffer_unref (pixels);

    out = gst_harness_push_and_pull (h, in);
    meta = gst_buffer_get_video_overlay_composition_meta (out);
    fail_unless (meta != NULL);
    fail_unless_equals_int (gst_video_overlay_composition_n_rectangles (
                                meta->overlay),
        2);
    rect = gst_video_overlay_composition_get_rectangle (meta->overlay, 1);
    gst_video_overlay_rectangle_get_render_rectangle (rect, &x, &y, &w, &hh);
    /* From the ROI's left edge, from above it (the label) to below it. */
    fail_unless_equals_int (x, 100);
    fail_unless (y < 80 && y > 80 - 40 && y + (gint) hh > 80 + 50,
        "rectangle %d,%d %ux%u", x, y, w, hh);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }

GST_END_TEST;

/* Behind a real adatoskdfer (full-frame faces, the 4-frame test model):
 * frames before the first classification pass untouched, later ones carry
 * the box on the frame's edge. */
GST_START_TEST (test_behind_adatoskdfer)
  {
    const gchar *model = g_getenv ("ADATOSK_TEST_MODEL");
    gchar *desc;
    GstHarness *h;
    GstVideoInfo info;

    fail_unless (model != NULL, "ADATOSK_TEST_MODEL is not set (meson test)");
    desc = g_strdup_printf ("adatoskdfer model=%s backend=cpu threads=1 "
                            "roi-mode=full-frame frame-step=1 clip-stride=1 ! "
                            "adatoskoverlay",
        model);
    h = gst_harness_new_parse (desc);
    g_free (desc);
    gst_harness_set_caps_str (h,
        "video/x-raw,format=I420,width=96,height=64,framerate=25/1",
        "video/x-raw,format=I420,width=96,height=64,framerate=25/1");
    info_for (&info, "I420", 96, 64);
    for (guint i = 0; i < 6; i++) {
      GstBuffer *in = flat_frame (&info, GREY);
      guint32 *before, *after;
      GstBuffer *out;

      GST_BUFFER_PTS (in) = i * GST_SECOND / 25;
      out = run (h, in, &info, &before, &after);
      if (i < 3) {
        Box changed;

        fail_if (changed_region (before, after, 96, 64, &changed),
            "frame %u, before the first clip, was drawn on", i);
      } else {
        fail_unless (differs (after[32 * 96], before[32 * 96]),
            "frame %u: no box on the frame's left edge", i);
      }
      g_free (before);
      g_free (after);
      gst_buffer_unref (out);
    }
    gst_harness_teardown (h);
  }

GST_END_TEST;

GST_START_TEST (test_properties_documented)
  {
    GstElement *e = gst_element_factory_make ("adatoskoverlay", NULL);
    guint n;
    GParamSpec **specs;

    fail_unless (e != NULL, "adatoskoverlay not found: GST_PLUGIN_PATH?");
    specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
    for (guint i = 0; i < n; i++) {
      const gchar *blurb = g_param_spec_get_blurb (specs[i]);

      fail_unless (blurb != NULL && strlen (blurb) > 10, "%s is undocumented",
          specs[i]->name);
    }
    g_free (specs);
    gst_object_unref (e);
  }

GST_END_TEST;

static Suite *
adatosk_overlay_suite (void)
{
  Suite *s = suite_create ("adatoskoverlay");
  TCase *tc = tcase_create ("general");

  /* adatoskdfer registers the custom meta; the tests attach it by hand. */
  gst_object_unref (gst_element_factory_make ("adatoskdfer", NULL));
  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_properties_documented);
  tcase_add_test (tc, test_boxes_land_on_rois);
  tcase_add_test (tc, test_roi_beyond_frame);
  tcase_add_test (tc, test_nothing_without_results);
  tcase_add_test (tc, test_colour_and_line_width);
  tcase_add_test (tc, test_strip_and_bars);
  tcase_add_test (tc, test_meta_when_downstream_renders_it);
  tcase_add_test (tc, test_behind_adatoskdfer);
  return s;
}

GST_CHECK_MAIN (adatosk_overlay);
