/* adatoskoverlay: drawing one classified face (Cairo shapes, Pango text)
 * into an overlay rectangle. No element state here: the element gathers the
 * faces from the buffer's metas and composes the rectangles.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_OVERLAY_DRAW_H
#define ADATOSK_OVERLAY_DRAW_H

#include <gst/video/video.h>
#include <pango/pango.h>

G_BEGIN_DECLS

/* What to draw and how; colours are 0xAARRGGBB like textoverlay's. */
typedef struct
{
  gboolean draw_boxes;
  gboolean draw_labels;
  gboolean draw_bars;
  gboolean draw_significance;
  PangoFontDescription *font; /* owned by the caller */
  gdouble line_width;         /* pixels */
  guint32 box_color;
  guint32 text_color;
  guint32 background_color;
  guint32 bar_color;
  guint32 significance_color;
} AdatoskOverlayStyle;

/* One classified face, as read from the buffer's metas; the strings and
 * arrays belong to the metas. probs/labels and significance may be absent
 * (num_classes 0, num_frames 0) when only the ROI param is there. */
typedef struct
{
  gint x, y, w, h; /* the face box in frame pixels, inside the frame */
  guint track_id;
  const gchar *label;
  gdouble confidence;
  guint num_classes;
  const gchar *const *class_labels; /* [num_classes] */
  const gfloat *probs;              /* [num_classes] */
  guint num_frames;
  const gfloat *significance; /* [num_frames] */
} AdatoskOverlayFace;

/* Draws `face` for a frame of `frame_width` x `frame_height`: the box, a
 * label "#track label 87%" above it, and below it a strip of the clip's
 * per-frame significance and one bar per class. Returns a rectangle holding
 * all of it clipped to the frame (premultiplied ARGB), or NULL when nothing
 * is to be drawn. `context` is used by one thread at a time. */
GstVideoOverlayRectangle *adatosk_overlay_draw_face (PangoContext *context,
    const AdatoskOverlayStyle *style, const AdatoskOverlayFace *face,
    gint frame_width, gint frame_height);

G_END_DECLS

#endif /* ADATOSK_OVERLAY_DRAW_H */
