/* adatoskoverlay: draws what adatoskdfer attached to the frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_ADATOSK_OVERLAY_H
#define GST_ADATOSK_OVERLAY_H

#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>
#include <pango/pango.h>

#include "overlay_draw.h"

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (adatoskoverlay);

#define GST_TYPE_ADATOSK_OVERLAY (gst_adatosk_overlay_get_type ())
G_DECLARE_FINAL_TYPE (GstAdatoskOverlay, gst_adatosk_overlay, GST,
    ADATOSK_OVERLAY, GstVideoFilter)

struct _GstAdatoskOverlay
{
  GstVideoFilter parent;

  /* The properties: under the object lock (the font description is
   * replaced, never changed in place). */
  AdatoskOverlayStyle style;
  gchar *font_desc;

  /* Streaming thread only. */
  PangoFontMap *font_map;
  PangoContext *context;
  gboolean attach_meta; /* downstream renders GstVideoOverlayCompositionMeta */
  gboolean need_query;  /* ask downstream again (new caps, reconfigure) */
  /* For formats the composition cannot blend onto: the frame goes through
   * `blend_info` (ARGB or AYUV) and back. NULL for the formats it can. */
  GstVideoConverter *to_blend;
  GstVideoConverter *from_blend;
  GstVideoInfo blend_info;
  GstBuffer *blend_buffer;
};

G_END_DECLS

#endif /* GST_ADATOSK_OVERLAY_H */
