/* adatoskoverlay: draws what adatoskdfer attached to the frames.
 *
 * For each face ROI with an "expression" param (adatoskmeta.h): its box,
 * "#track label confidence", and from the AdatoskDferMeta of the same track
 * one bar per class and the clip's per-frame significance as a strip (the
 * frames the ATSM weighted most). Drawing is in overlay_draw.c.
 *
 * Like textoverlay, the drawing is a GstVideoOverlayComposition: attached to
 * the buffer as GstVideoOverlayCompositionMeta when downstream says in the
 * allocation query that it renders that meta (a compositor or a sink can
 * draw it at display resolution), blended into the frame otherwise. Every
 * raw format adatoskdfer accepts is accepted; those the blender does not
 * handle go through ARGB or AYUV and back on the frames that have something
 * to draw (frames without results are never touched).
 *
 *   gst-launch-1.0 filesrc location=talk.webm ! decodebin ! videoconvert ! \
 *     facedetect display=false ! adatoskdfer ! adatoskoverlay ! \
 *     videoconvert ! autovideosink
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstadatoskoverlay.h"

#include <pango/pangocairo.h>

#include "adatoskmeta.h"

GST_DEBUG_CATEGORY_STATIC (gst_adatosk_overlay_debug);
#define GST_CAT_DEFAULT gst_adatosk_overlay_debug

#define DEFAULT_FONT_DESC "Sans 10"
#define DEFAULT_LINE_WIDTH 2.0
#define DEFAULT_BOX_COLOR 0xff00ff00
#define DEFAULT_TEXT_COLOR 0xffffffff
#define DEFAULT_BACKGROUND_COLOR 0xa0000000
#define DEFAULT_BAR_COLOR 0xff00a0ff
#define DEFAULT_SIGNIFICANCE_COLOR 0xffffb000

enum
{
  PROP_0,
  PROP_DRAW_BOXES,
  PROP_DRAW_LABELS,
  PROP_DRAW_BARS,
  PROP_DRAW_SIGNIFICANCE,
  PROP_FONT_DESC,
  PROP_LINE_WIDTH,
  PROP_BOX_COLOR,
  PROP_TEXT_COLOR,
  PROP_BACKGROUND_COLOR,
  PROP_BAR_COLOR,
  PROP_SIGNIFICANCE_COLOR,
};

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE (GST_VIDEO_FORMATS_ALL)
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));
/* What gst_video_overlay_composition_blend() draws onto directly. */
static GstStaticCaps blend_caps = GST_STATIC_CAPS (
    GST_VIDEO_CAPS_MAKE (GST_VIDEO_OVERLAY_COMPOSITION_BLEND_FORMATS));

G_DEFINE_TYPE (GstAdatoskOverlay, gst_adatosk_overlay, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (adatoskoverlay, "adatoskoverlay",
    GST_RANK_NONE, GST_TYPE_ADATOSK_OVERLAY,
    GST_DEBUG_CATEGORY_INIT (gst_adatosk_overlay_debug, "adatoskoverlay", 0,
        "adatoskoverlay: drawing adatoskdfer's results"));

static void
gst_adatosk_overlay_set_property (GObject *object, guint prop_id,
    const GValue *value, GParamSpec *pspec)
{
  GstAdatoskOverlay *self = GST_ADATOSK_OVERLAY (object);
  AdatoskOverlayStyle *style = &self->style;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DRAW_BOXES:
      style->draw_boxes = g_value_get_boolean (value);
      break;
    case PROP_DRAW_LABELS:
      style->draw_labels = g_value_get_boolean (value);
      break;
    case PROP_DRAW_BARS:
      style->draw_bars = g_value_get_boolean (value);
      break;
    case PROP_DRAW_SIGNIFICANCE:
      style->draw_significance = g_value_get_boolean (value);
      break;
    case PROP_FONT_DESC:
      g_free (self->font_desc);
      self->font_desc = g_value_dup_string (value);
      if (self->font_desc == NULL)
        self->font_desc = g_strdup (DEFAULT_FONT_DESC);
      pango_font_description_free (style->font);
      style->font = pango_font_description_from_string (self->font_desc);
      break;
    case PROP_LINE_WIDTH:
      style->line_width = g_value_get_double (value);
      break;
    case PROP_BOX_COLOR:
      style->box_color = g_value_get_uint (value);
      break;
    case PROP_TEXT_COLOR:
      style->text_color = g_value_get_uint (value);
      break;
    case PROP_BACKGROUND_COLOR:
      style->background_color = g_value_get_uint (value);
      break;
    case PROP_BAR_COLOR:
      style->bar_color = g_value_get_uint (value);
      break;
    case PROP_SIGNIFICANCE_COLOR:
      style->significance_color = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_adatosk_overlay_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  GstAdatoskOverlay *self = GST_ADATOSK_OVERLAY (object);
  AdatoskOverlayStyle *style = &self->style;

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DRAW_BOXES:
      g_value_set_boolean (value, style->draw_boxes);
      break;
    case PROP_DRAW_LABELS:
      g_value_set_boolean (value, style->draw_labels);
      break;
    case PROP_DRAW_BARS:
      g_value_set_boolean (value, style->draw_bars);
      break;
    case PROP_DRAW_SIGNIFICANCE:
      g_value_set_boolean (value, style->draw_significance);
      break;
    case PROP_FONT_DESC:
      g_value_set_string (value, self->font_desc);
      break;
    case PROP_LINE_WIDTH:
      g_value_set_double (value, style->line_width);
      break;
    case PROP_BOX_COLOR:
      g_value_set_uint (value, style->box_color);
      break;
    case PROP_TEXT_COLOR:
      g_value_set_uint (value, style->text_color);
      break;
    case PROP_BACKGROUND_COLOR:
      g_value_set_uint (value, style->background_color);
      break;
    case PROP_BAR_COLOR:
      g_value_set_uint (value, style->bar_color);
      break;
    case PROP_SIGNIFICANCE_COLOR:
      g_value_set_uint (value, style->significance_color);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
clear_blend (GstAdatoskOverlay *self)
{
  g_clear_pointer (&self->to_blend, gst_video_converter_free);
  g_clear_pointer (&self->from_blend, gst_video_converter_free);
  gst_clear_buffer (&self->blend_buffer);
}

static gboolean
gst_adatosk_overlay_start (GstBaseTransform *trans)
{
  GstAdatoskOverlay *self = GST_ADATOSK_OVERLAY (trans);

  /* A font map of its own: Pango's default one is not for use from several
   * streaming threads at once. */
  self->font_map = pango_cairo_font_map_new ();
  self->context = pango_font_map_create_context (self->font_map);
  self->attach_meta = FALSE;
  self->need_query = TRUE;
  return TRUE;
}

/* What start() made for drawing: the blend converters and the font map. */
static void
release_drawing (GstAdatoskOverlay *self)
{
  clear_blend (self);
  g_clear_object (&self->context);
  g_clear_object (&self->font_map);
}

static gboolean
gst_adatosk_overlay_stop (GstBaseTransform *trans)
{
  release_drawing (GST_ADATOSK_OVERLAY (trans));
  return TRUE;
}

/* Whether downstream renders GstVideoOverlayCompositionMeta, asked the way
 * textoverlay asks: an ALLOCATION query with the current caps. Base transform
 * runs no allocation query of its own for an in-place element, so the
 * element asks, once per caps, at the first frame (downstream has the caps
 * by then). */
static void
query_downstream (GstAdatoskOverlay *self)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstCaps *caps = gst_pad_get_current_caps (trans->srcpad);
  GstQuery *query;

  self->attach_meta = FALSE;
  self->need_query = FALSE;
  if (caps == NULL)
    return;
  query = gst_query_new_allocation (caps, FALSE);
  if (gst_pad_peer_query (trans->srcpad, query))
    self->attach_meta = gst_query_find_allocation_meta (query,
        GST_VIDEO_OVERLAY_COMPOSITION_META_API_TYPE, NULL);
  gst_query_unref (query);
  gst_caps_unref (caps);
  GST_DEBUG_OBJECT (self, "downstream %s the overlay composition meta: %s",
      self->attach_meta ? "renders" : "does not render",
      self->attach_meta ? "attaching it" : "blending");
}

static gboolean
gst_adatosk_overlay_set_info (GstVideoFilter *filter, GstCaps *incaps,
    GstVideoInfo *in_info, GstCaps *outcaps, GstVideoInfo *out_info)
{
  GstAdatoskOverlay *self = GST_ADATOSK_OVERLAY (filter);
  GstCaps *blendable = gst_static_caps_get (&blend_caps);
  gboolean direct = gst_caps_can_intersect (incaps, blendable);
  GstVideoFormat via;

  /* In place: the output is the input. */
  (void) outcaps;
  (void) out_info;
  gst_caps_unref (blendable);
  clear_blend (self);
  self->need_query = TRUE;
  if (direct)
    return TRUE;

  via = GST_VIDEO_INFO_IS_RGB (in_info) ? GST_VIDEO_FORMAT_ARGB
                                        : GST_VIDEO_FORMAT_AYUV;
  gst_video_info_set_format (&self->blend_info, via,
      GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info));
  self->blend_info.colorimetry = in_info->colorimetry;
  self->blend_info.chroma_site = in_info->chroma_site;
  self->to_blend = gst_video_converter_new (in_info, &self->blend_info, NULL);
  self->from_blend = gst_video_converter_new (&self->blend_info, in_info, NULL);
  if (self->to_blend == NULL || self->from_blend == NULL) {
    clear_blend (self);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Cannot draw onto %s frames.",
            gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info))),
        ("No conversion to %s and back; put videoconvert before "
         "adatoskoverlay.",
            gst_video_format_to_string (via)));
    return FALSE;
  }
  self->blend_buffer =
      gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (&self->blend_info));
  GST_INFO_OBJECT (self, "%s cannot be blended onto directly: through %s",
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)),
      gst_video_format_to_string (via));
  return TRUE;
}

/* Reads the arrays of the track's AdatoskDferMeta into `face` (owned by the
 * caller: free face->class_labels and face->probs, face->significance). */
static void
read_custom_meta (GstBuffer *buf, AdatoskOverlayFace *face)
{
  AdatoskDferResult r;

  for (guint i = 0; adatosk_dfer_buffer_get_result (buf, i, &r); i++) {
    const gchar **labels;
    gfloat *probs, *significance;

    if (r.track_id != face->track_id)
      continue;
    labels = g_new0 (const gchar *, r.num_classes + 1);
    probs = g_new0 (gfloat, r.num_classes + 1);
    significance = g_new0 (gfloat, r.num_frames + 1);
    for (guint c = 0; c < r.num_classes; c++) {
      const gchar *name = adatosk_dfer_result_get_class_label (&r, c);

      labels[c] = name != NULL ? name : "?";
      probs[c] = (gfloat) adatosk_dfer_result_get_probability (&r, c);
    }
    for (guint f = 0; f < r.num_frames; f++)
      significance[f] = (gfloat) adatosk_dfer_result_get_significance (&r, f);
    face->num_classes = r.num_classes;
    face->class_labels = labels;
    face->probs = probs;
    face->num_frames = r.num_frames;
    face->significance = significance;
    return;
  }
}

/* The face of one ROI, if adatoskdfer classified it; FALSE otherwise. */
static gboolean
read_face (GstVideoRegionOfInterestMeta *roi, const GstVideoInfo *info,
    AdatoskOverlayFace *face)
{
  GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
      ADATOSK_DFER_ROI_PARAM_NAME);
  gint width = GST_VIDEO_INFO_WIDTH (info),
       height = GST_VIDEO_INFO_HEIGHT (info);

  memset (face, 0, sizeof *face);
  if (s == NULL || roi->x >= (guint) width || roi->y >= (guint) height
      || roi->w == 0 || roi->h == 0)
    return FALSE;
  face->label = gst_structure_get_string (s, ADATOSK_DFER_FIELD_LABEL);
  if (face->label == NULL
      || !gst_structure_get_uint (s, ADATOSK_DFER_FIELD_TRACK_ID,
          &face->track_id)
      || !gst_structure_get_double (s, ADATOSK_DFER_FIELD_CONFIDENCE,
          &face->confidence))
    return FALSE;
  face->x = (gint) roi->x;
  face->y = (gint) roi->y;
  face->w = (gint) MIN ((guint64) roi->w, (guint64) (width - face->x));
  face->h = (gint) MIN ((guint64) roi->h, (guint64) (height - face->y));
  return TRUE;
}

static GstVideoOverlayComposition *
compose (GstAdatoskOverlay *self, GstBuffer *buf, const GstVideoInfo *info,
    const AdatoskOverlayStyle *style)
{
  GstVideoOverlayComposition *composition = NULL;
  gpointer state = NULL;
  GstMeta *meta;

  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    AdatoskOverlayFace face;
    GstVideoOverlayRectangle *rect;

    if (!read_face ((GstVideoRegionOfInterestMeta *) meta, info, &face))
      continue;
    read_custom_meta (buf, &face);
    rect = adatosk_overlay_draw_face (self->context, style, &face,
        GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info));
    g_free ((gpointer) face.class_labels);
    g_free ((gpointer) face.probs);
    g_free ((gpointer) face.significance);
    if (rect == NULL)
      continue;
    if (composition == NULL)
      composition = gst_video_overlay_composition_new (rect);
    else
      gst_video_overlay_composition_add_rectangle (composition, rect);
    gst_video_overlay_rectangle_unref (rect);
  }
  return composition;
}

/* Adds ours to a composition already on the buffer (e.g. textoverlay's). */
static void
attach (GstBuffer *buf, GstVideoOverlayComposition *composition)
{
  GstVideoOverlayCompositionMeta *existing =
      gst_buffer_get_video_overlay_composition_meta (buf);

  if (existing != NULL) {
    GstVideoOverlayComposition *merged =
        gst_video_overlay_composition_copy (existing->overlay);

    for (guint i = 0;
         i < gst_video_overlay_composition_n_rectangles (composition); i++)
      gst_video_overlay_composition_add_rectangle (merged,
          gst_video_overlay_composition_get_rectangle (composition, i));
    gst_buffer_remove_video_overlay_composition_meta (buf, existing);
    gst_buffer_add_video_overlay_composition_meta (buf, merged);
    gst_video_overlay_composition_unref (merged);
  } else {
    gst_buffer_add_video_overlay_composition_meta (buf, composition);
  }
}

static GstFlowReturn
blend_converted (GstAdatoskOverlay *self, GstVideoFrame *frame,
    GstVideoOverlayComposition *composition)
{
  GstVideoFrame blend;

  if (!gst_video_frame_map (&blend, &self->blend_info, self->blend_buffer,
          GST_MAP_READWRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Out of memory?"),
        ("Cannot map the frame to blend onto."));
    return GST_FLOW_ERROR;
  }
  gst_video_converter_frame (self->to_blend, frame, &blend);
  gst_video_overlay_composition_blend (composition, &blend);
  gst_video_converter_frame (self->from_blend, &blend, frame);
  gst_video_frame_unmap (&blend);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_adatosk_overlay_transform_frame_ip (GstVideoFilter *filter,
    GstVideoFrame *frame)
{
  GstAdatoskOverlay *self = GST_ADATOSK_OVERLAY (filter);
  AdatoskOverlayStyle style;
  GstVideoOverlayComposition *composition;
  GstFlowReturn ret = GST_FLOW_OK;

  GST_OBJECT_LOCK (self);
  style = self->style;
  style.font = pango_font_description_copy (self->style.font);
  GST_OBJECT_UNLOCK (self);

  composition = compose (self, frame->buffer, &frame->info, &style);
  pango_font_description_free (style.font);
  if (composition == NULL)
    return GST_FLOW_OK;
  if (self->need_query || gst_pad_check_reconfigure (filter->element.srcpad))
    query_downstream (self);

  GST_LOG_OBJECT (self, "%u rectangles on %" GST_TIME_FORMAT,
      gst_video_overlay_composition_n_rectangles (composition),
      GST_TIME_ARGS (GST_BUFFER_PTS (frame->buffer)));
  if (self->attach_meta)
    attach (frame->buffer, composition);
  else if (self->to_blend != NULL)
    ret = blend_converted (self, frame, composition);
  else
    gst_video_overlay_composition_blend (composition, frame);
  gst_video_overlay_composition_unref (composition);
  return ret;
}

static void
gst_adatosk_overlay_finalize (GObject *object)
{
  GstAdatoskOverlay *self = GST_ADATOSK_OVERLAY (object);

  release_drawing (self);
  pango_font_description_free (self->style.font);
  g_free (self->font_desc);
  G_OBJECT_CLASS (gst_adatosk_overlay_parent_class)->finalize (object);
}

static void
install_color (GObjectClass *gobject_class, guint prop_id, const gchar *name,
    const gchar *nick, const gchar *blurb, guint32 default_value)
{
  g_object_class_install_property (gobject_class, prop_id,
      g_param_spec_uint (name, nick, blurb, 0, G_MAXUINT32, default_value,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
              | GST_PARAM_MUTABLE_PLAYING));
}

static void
gst_adatosk_overlay_class_init (GstAdatoskOverlayClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  const GParamFlags flags =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING;

  gobject_class->set_property = gst_adatosk_overlay_set_property;
  gobject_class->get_property = gst_adatosk_overlay_get_property;
  gobject_class->finalize = gst_adatosk_overlay_finalize;

  g_object_class_install_property (gobject_class, PROP_DRAW_BOXES,
      g_param_spec_boolean ("draw-boxes", "Draw boxes",
          "Draw each classified face's box (its ROI), stroked inside it", TRUE,
          flags));
  g_object_class_install_property (gobject_class, PROP_DRAW_LABELS,
      g_param_spec_boolean ("draw-labels", "Draw labels",
          "Draw \"#track-id label confidence%\" above each classified face",
          TRUE, flags));
  g_object_class_install_property (gobject_class, PROP_DRAW_BARS,
      g_param_spec_boolean ("draw-bars", "Draw bars",
          "Draw one bar per class below the face, as long as its probability "
          "(from the AdatoskDferMeta of the face's track)",
          TRUE, flags));
  g_object_class_install_property (gobject_class, PROP_DRAW_SIGNIFICANCE,
      g_param_spec_boolean ("draw-significance", "Draw significance",
          "Draw the clip's per-frame significance below the face: one bar per "
          "frame, relative to the clip's most significant frame (the frames "
          "the model's temporal mask weighted most)",
          TRUE, flags));
  g_object_class_install_property (gobject_class, PROP_FONT_DESC,
      g_param_spec_string ("font-desc", "Font description",
          "Pango font description of the text, e.g. \"Sans Bold 14\"",
          DEFAULT_FONT_DESC, flags));
  g_object_class_install_property (gobject_class, PROP_LINE_WIDTH,
      g_param_spec_double ("line-width", "Line width",
          "Width of the box lines in pixels (at most half the box)", 0.0, 100.0,
          DEFAULT_LINE_WIDTH, flags));
  /* Colours as textoverlay's "color": 0xAARRGGBB, alpha first. */
  install_color (gobject_class, PROP_BOX_COLOR, "box-color", "Box colour",
      "Colour of the face boxes, 0xAARRGGBB (0xff...... is opaque)",
      DEFAULT_BOX_COLOR);
  install_color (gobject_class, PROP_TEXT_COLOR, "text-color", "Text colour",
      "Colour of the text, 0xAARRGGBB", DEFAULT_TEXT_COLOR);
  install_color (gobject_class, PROP_BACKGROUND_COLOR, "background-color",
      "Background colour",
      "Colour of the panels behind the text, bars and strip, 0xAARRGGBB "
      "(0 for none)",
      DEFAULT_BACKGROUND_COLOR);
  install_color (gobject_class, PROP_BAR_COLOR, "bar-color", "Bar colour",
      "Colour of the class probability bars, 0xAARRGGBB", DEFAULT_BAR_COLOR);
  install_color (gobject_class, PROP_SIGNIFICANCE_COLOR, "significance-color",
      "Significance colour",
      "Colour of the per-frame significance strip, 0xAARRGGBB",
      DEFAULT_SIGNIFICANCE_COLOR);

  gst_element_class_set_static_metadata (element_class,
      "AdaTosk expression overlay", "Filter/Effect/Video/Overlay",
      "Draws the faces adatoskdfer classified: box, track id, label and "
      "confidence, a bar per class and the clip's per-frame significance",
      "The adatoskdfer authors");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_adatosk_overlay_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_adatosk_overlay_stop);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_adatosk_overlay_set_info);
  filter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_adatosk_overlay_transform_frame_ip);
}

static void
gst_adatosk_overlay_init (GstAdatoskOverlay *self)
{
  self->style.draw_boxes = TRUE;
  self->style.draw_labels = TRUE;
  self->style.draw_bars = TRUE;
  self->style.draw_significance = TRUE;
  self->font_desc = g_strdup (DEFAULT_FONT_DESC);
  self->style.font = pango_font_description_from_string (DEFAULT_FONT_DESC);
  self->style.line_width = DEFAULT_LINE_WIDTH;
  self->style.box_color = DEFAULT_BOX_COLOR;
  self->style.text_color = DEFAULT_TEXT_COLOR;
  self->style.background_color = DEFAULT_BACKGROUND_COLOR;
  self->style.bar_color = DEFAULT_BAR_COLOR;
  self->style.significance_color = DEFAULT_SIGNIFICANCE_COLOR;
}
