/* adatoskoverlay: the drawing of one face.
 *
 * Layout, in frame pixels (the box is the face's ROI):
 *
 *   [#3 happy 87%]          label, above the box (inside it at the top edge)
 *   +-----------+           box, stroked inside the ROI so the line never
 *   |           |           covers the pixels of a neighbouring region
 *   +-----------+
 *   |||..||||...            significance strip: one bar per frame of the clip
 *   neutral ====            one bar per class, the width its probability
 *   happy   ==========
 *
 * The panel of strip and bars goes below the box, or where it fits: above
 * the label, right or left of the box. Everything is drawn into one surface covering the
 * union of these, clipped to the frame, so blending touches no other pixel.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "overlay_draw.h"

#include <cairo.h>
#include <string.h>
#include <pango/pangocairo.h>

#define PAD 2
#define STRIP_HEIGHT 16
#define BAR_MIN_WIDTH 60
/* The class names beside the bars, relative to the label's font: the panel
 * has one row per class and must fit beside faces in small frames. */
#define SMALL_FONT_SCALE 0.8

typedef struct
{
  gint x, y, w, h;
} Rect;

static Rect
rect_union (Rect a, Rect b)
{
  Rect r;

  if (a.w <= 0 || a.h <= 0)
    return b;
  if (b.w <= 0 || b.h <= 0)
    return a;
  r.x = MIN (a.x, b.x);
  r.y = MIN (a.y, b.y);
  r.w = MAX (a.x + a.w, b.x + b.w) - r.x;
  r.h = MAX (a.y + a.h, b.y + b.h) - r.y;
  return r;
}

static Rect
rect_clip (Rect a, gint width, gint height)
{
  Rect r;

  r.x = CLAMP (a.x, 0, width);
  r.y = CLAMP (a.y, 0, height);
  r.w = CLAMP (a.x + a.w, 0, width) - r.x;
  r.h = CLAMP (a.y + a.h, 0, height) - r.y;
  return r;
}

static void
set_color (cairo_t *cr, guint32 argb)
{
  cairo_set_source_rgba (cr, ((argb >> 16) & 0xff) / 255.0,
      ((argb >> 8) & 0xff) / 255.0, (argb & 0xff) / 255.0,
      ((argb >> 24) & 0xff) / 255.0);
}

static PangoLayout *
make_layout (PangoContext *context, const PangoFontDescription *font,
    const gchar *text, gint *width, gint *height)
{
  PangoLayout *layout = pango_layout_new (context);

  pango_layout_set_font_description (layout, font);
  pango_layout_set_text (layout, text, -1);
  pango_layout_get_pixel_size (layout, width, height);
  return layout;
}

/* Where everything goes; computed before any surface exists. */
typedef struct
{
  Rect box, label, panel;
  PangoLayout *label_layout;
  gint label_w, label_h;
  gint row_h;   /* one class bar */
  gint name_w;  /* the widest class name */
  gint strip_h; /* 0 without a strip */
  PangoFontDescription *small_font;
  guint bar_count; /* 0 without bars */
} Layout;

static void
plan (PangoContext *context, const AdatoskOverlayStyle *style,
    const AdatoskOverlayFace *face, gint frame_width, gint frame_height,
    Layout *l)
{
  memset (l, 0, sizeof *l);
  if (style->draw_boxes)
    l->box = (Rect){face->x, face->y, face->w, face->h};

  if (style->draw_labels) {
    gchar *text = g_strdup_printf ("#%u %s %.0f%%", face->track_id, face->label,
        100.0 * face->confidence);

    l->label_layout =
        make_layout (context, style->font, text, &l->label_w, &l->label_h);
    g_free (text);
    l->label.w = l->label_w + 2 * PAD;
    l->label.h = l->label_h + 2 * PAD;
    l->label.x = face->x;
    /* Above the box; inside it at the top when the frame ends first. */
    l->label.y = face->y >= l->label.h ? face->y - l->label.h : face->y;
  }

  if (style->draw_bars && face->num_classes > 0) {
    gint size = pango_font_description_get_size (style->font);

    l->small_font = pango_font_description_copy (style->font);
    if (size > 0)
      pango_font_description_set_size (l->small_font,
          (gint) (size * SMALL_FONT_SCALE));
    l->bar_count = face->num_classes;
    for (guint i = 0; i < face->num_classes; i++) {
      gint w, h;
      PangoLayout *layout =
          make_layout (context, l->small_font, face->class_labels[i], &w, &h);

      l->name_w = MAX (l->name_w, w);
      l->row_h = MAX (l->row_h, h);
      g_object_unref (layout);
    }
  }
  if (style->draw_significance && face->num_frames > 0)
    l->strip_h = STRIP_HEIGHT;

  if (l->bar_count > 0 || l->strip_h > 0) {
    gint top =
        face->y - (l->label.h > 0 && l->label.y < face->y ? l->label.h : 0);

    /* As wide as the box below or above it, as narrow as it can be beside
     * it. */
    gint narrow = l->name_w + 2 * PAD + BAR_MIN_WIDTH;
    gint wide = MAX (face->w, narrow);
    gint h = l->strip_h + (gint) l->bar_count * l->row_h + 2 * PAD
        + (l->strip_h > 0 && l->bar_count > 0 ? PAD : 0);
    /* Below the box, above the label, right of the box, left of it: the
     * first place where it fits in the frame; below (clipped) if none. */
    Rect places[] = {
        {face->x, face->y + face->h, wide, h},
        {face->x, top - h, wide, h},
        {face->x + face->w, face->y, narrow, h},
        {face->x - narrow, face->y, narrow, h},
    };

    l->panel = places[0];
    for (guint i = 0; i < G_N_ELEMENTS (places); i++) {
      Rect p = places[i];

      if (p.x >= 0 && p.y >= 0 && p.x + p.w <= frame_width
          && p.y + p.h <= frame_height) {
        l->panel = p;
        break;
      }
    }
  }
}

static void
draw_box (cairo_t *cr, const AdatoskOverlayStyle *style, Rect box)
{
  /* Stroked inside the ROI: half the line width in from each edge. */
  gdouble lw = MIN (style->line_width, MIN (box.w, box.h) / 2.0);
  gdouble half = lw / 2.0;

  if (lw <= 0.0)
    return;
  set_color (cr, style->box_color);
  cairo_set_line_width (cr, lw);
  cairo_rectangle (cr, box.x + half, box.y + half, box.w - lw, box.h - lw);
  cairo_stroke (cr);
}

static void
draw_label (cairo_t *cr, const AdatoskOverlayStyle *style, const Layout *l)
{
  set_color (cr, style->background_color);
  cairo_rectangle (cr, l->label.x, l->label.y, l->label.w, l->label.h);
  cairo_fill (cr);
  set_color (cr, style->text_color);
  cairo_move_to (cr, l->label.x + PAD, l->label.y + PAD);
  pango_cairo_show_layout (cr, l->label_layout);
}

/* One bar per frame, its height the frame's significance relative to the
 * clip's largest (the ATSM's g is not bounded; what matters is which frames
 * it weighted most). */
static void
draw_strip (cairo_t *cr, const AdatoskOverlayStyle *style,
    const AdatoskOverlayFace *face, Rect area)
{
  gdouble top = 0.0, cell = (gdouble) area.w / face->num_frames;

  for (guint i = 0; i < face->num_frames; i++)
    top = MAX (top, face->significance[i]);
  for (guint i = 0; i < face->num_frames; i++) {
    gdouble v = top > 0.0 ? MAX (face->significance[i], 0.0) / top : 0.0;
    gdouble h = MAX (1.0, v * area.h);

    set_color (cr, style->significance_color);
    cairo_rectangle (cr, area.x + i * cell, area.y + area.h - h,
        MAX (1.0, cell - 1.0), h);
    cairo_fill (cr);
  }
}

static void
draw_bars (cairo_t *cr, PangoContext *context, const AdatoskOverlayStyle *style,
    const AdatoskOverlayFace *face, const Layout *l, gint y)
{
  gint bar_x = l->panel.x + PAD + l->name_w + PAD;
  gint bar_w = l->panel.x + l->panel.w - PAD - bar_x;

  for (guint i = 0; i < face->num_classes; i++, y += l->row_h) {
    gint w, h;
    PangoLayout *layout =
        make_layout (context, l->small_font, face->class_labels[i], &w, &h);
    gdouble p = CLAMP (face->probs[i], 0.0f, 1.0f);

    set_color (cr, style->text_color);
    cairo_move_to (cr, l->panel.x + PAD, y);
    pango_cairo_show_layout (cr, layout);
    g_object_unref (layout);
    set_color (cr, style->bar_color);
    cairo_rectangle (cr, bar_x, y + 1, MAX (1.0, p * bar_w), l->row_h - 2);
    cairo_fill (cr);
  }
}

static void
draw_panel (cairo_t *cr, PangoContext *context,
    const AdatoskOverlayStyle *style, const AdatoskOverlayFace *face,
    const Layout *l)
{
  gint y = l->panel.y + PAD;

  set_color (cr, style->background_color);
  cairo_rectangle (cr, l->panel.x, l->panel.y, l->panel.w, l->panel.h);
  cairo_fill (cr);
  if (l->strip_h > 0) {
    draw_strip (cr, style, face,
        (Rect){l->panel.x + PAD, y, l->panel.w - 2 * PAD, l->strip_h});
    y += l->strip_h + (l->bar_count > 0 ? PAD : 0);
  }
  if (l->bar_count > 0)
    draw_bars (cr, context, style, face, l, y);
}

GstVideoOverlayRectangle *
adatosk_overlay_draw_face (PangoContext *context,
    const AdatoskOverlayStyle *style, const AdatoskOverlayFace *face,
    gint frame_width, gint frame_height)
{
  Layout l;
  Rect area;
  GstBuffer *buffer;
  GstMapInfo map;
  cairo_surface_t *surface;
  cairo_t *cr;
  GstVideoOverlayRectangle *rect;

  plan (context, style, face, frame_width, frame_height, &l);
  area = rect_clip (rect_union (rect_union (l.box, l.label), l.panel),
      frame_width, frame_height);
  if (area.w <= 0 || area.h <= 0) {
    g_clear_object (&l.label_layout);
    g_clear_pointer (&l.small_font, pango_font_description_free);
    return NULL;
  }

  /* Cairo's ARGB32 is premultiplied and native-endian: the composition's
   * own format (GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB). */
  buffer = gst_buffer_new_and_alloc ((gsize) area.w * area.h * 4);
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  memset (map.data, 0, map.size);
  surface = cairo_image_surface_create_for_data (map.data, CAIRO_FORMAT_ARGB32,
      area.w, area.h, area.w * 4);
  cr = cairo_create (surface);
  cairo_translate (cr, -area.x, -area.y);
  if (l.box.w > 0)
    draw_box (cr, style, l.box);
  if (l.panel.w > 0)
    draw_panel (cr, context, style, face, &l);
  if (l.label_layout != NULL)
    draw_label (cr, style, &l);
  cairo_destroy (cr);
  cairo_surface_destroy (surface);
  gst_buffer_unmap (buffer, &map);
  g_clear_object (&l.label_layout);
  g_clear_pointer (&l.small_font, pango_font_description_free);

  gst_buffer_add_video_meta (buffer, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_OVERLAY_COMPOSITION_FORMAT_RGB, area.w, area.h);
  rect = gst_video_overlay_rectangle_new_raw (buffer, area.x, area.y, area.w,
      area.h, GST_VIDEO_OVERLAY_FORMAT_FLAG_PREMULTIPLIED_ALPHA);
  gst_buffer_unref (buffer);
  return rect;
}
