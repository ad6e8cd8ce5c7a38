/* adatoskdfer: face crops for the model.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "crop.h"

#include "debug.h"

#include <math.h>
#include <string.h>

/* A GstVideoConverter fixes its source and destination rectangles when it is
 * made, so each distinct crop geometry needs its own. Detector boxes repeat
 * often (a still face), so the converters are cached by geometry; the cache
 * is simply emptied when it grows past this. */
#define MAX_CACHED_CONVERTERS 32

#define GST_CAT_DEFAULT adatosk_dfer_crop_debug

typedef struct
{
  gint src_x, src_y, src_w, src_h;
  gint dst_x, dst_y, dst_w, dst_h;
} Geometry;

struct AdatoskCropper
{
  GstVideoInfo in_info;
  GstVideoInfo out_info; /* RGB at the model size */
  gint width, height;
  gdouble margin;
  guint32 border_argb;    /* the mean colour */
  gfloat lut[3][256];     /* byte -> normalised value, per channel */
  GstBuffer *rgb;         /* the converter's output */
  GHashTable *converters; /* Geometry -> GstVideoConverter */
};

static guint
geometry_hash (gconstpointer key)
{
  const gint *v = key;
  guint h = 17;

  for (guint i = 0; i < sizeof (Geometry) / sizeof (gint); i++)
    h = h * 31 + (guint) v[i];
  return h;
}

static gboolean
geometry_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (Geometry)) == 0;
}

static guint8
to_byte (gfloat v)
{
  return (guint8) CLAMP (lrintf (v * 255.0f), 0, 255);
}

AdatoskCropper *
adatosk_cropper_new (const GstVideoInfo *in_info, gint width, gint height,
    const gfloat mean[3], const gfloat std[3], gdouble margin)
{
  AdatoskCropper *cropper;

  g_return_val_if_fail (width > 0 && height > 0, NULL);
  cropper = g_new0 (AdatoskCropper, 1);
  cropper->in_info = *in_info;
  gst_video_info_set_format (&cropper->out_info, GST_VIDEO_FORMAT_RGB, width,
      height);
  /* GstVideoConverter converts pixels, not rates or field layouts. */
  GST_VIDEO_INFO_FPS_N (&cropper->out_info) = GST_VIDEO_INFO_FPS_N (in_info);
  GST_VIDEO_INFO_FPS_D (&cropper->out_info) = GST_VIDEO_INFO_FPS_D (in_info);
  GST_VIDEO_INFO_INTERLACE_MODE (&cropper->out_info) =
      GST_VIDEO_INFO_INTERLACE_MODE (in_info);
  cropper->width = width;
  cropper->height = height;
  cropper->margin = margin;
  cropper->border_argb = 0xff000000u | ((guint32) to_byte (mean[0]) << 16)
      | ((guint32) to_byte (mean[1]) << 8) | to_byte (mean[2]);
  for (guint c = 0; c < 3; c++)
    for (guint v = 0; v < 256; v++)
      cropper->lut[c][v] = (v / 255.0f - mean[c]) / std[c];
  cropper->rgb = gst_buffer_new_allocate (NULL, cropper->out_info.size, NULL);
  cropper->converters = g_hash_table_new_full (geometry_hash, geometry_equal,
      g_free, (GDestroyNotify) gst_video_converter_free);
  return cropper;
}

void
adatosk_cropper_free (AdatoskCropper *cropper)
{
  if (cropper == NULL)
    return;
  g_hash_table_unref (cropper->converters);
  gst_buffer_unref (cropper->rgb);
  g_free (cropper);
}

void
adatosk_cropper_region (const AdatoskCropper *cropper, const AdatoskBox *box,
    AdatoskBox *region)
{
  gdouble aspect = (gdouble) cropper->width / cropper->height;
  gdouble w = box->w * (1.0 + 2.0 * cropper->margin);
  gdouble h = box->h * (1.0 + 2.0 * cropper->margin);
  gdouble cx = box->x + box->w / 2.0, cy = box->y + box->h / 2.0;

  /* Grow the short side to the model's aspect ratio: the face is never
   * squashed. */
  if (w < h * aspect)
    w = h * aspect;
  else
    h = w / aspect;
  /* Boxes come from upstream: keep the arithmetic in range whatever they say. */
  w = MIN (w, (gdouble) (1 << 24));
  h = MIN (h, (gdouble) (1 << 24));
  region->w = MAX (1, (gint) lrint (w));
  region->h = MAX (1, (gint) lrint (h));
  region->x = (gint) lrint (cx - region->w / 2.0);
  region->y = (gint) lrint (cy - region->h / 2.0);
}

/* Scales a span [a, b) of the region (length `len`) onto `size` pixels. */
static void
map_span (gint a, gint b, gint len, gint size, gint *out_start, gint *out_len)
{
  gint s = (gint) lrint ((gdouble) a * size / len);
  gint e = (gint) lrint ((gdouble) b * size / len);

  s = CLAMP (s, 0, size - 1);
  e = CLAMP (e, s + 1, size);
  *out_start = s;
  *out_len = e - s;
}

static GstVideoConverter *
get_converter (AdatoskCropper *cropper, const Geometry *g)
{
  GstVideoConverter *convert = g_hash_table_lookup (cropper->converters, g);
  GstStructure *config;

  if (convert != NULL)
    return convert;
  if (g_hash_table_size (cropper->converters) >= MAX_CACHED_CONVERTERS) {
    GST_DEBUG ("%u crop geometries cached: emptying the cache",
        g_hash_table_size (cropper->converters));
    g_hash_table_remove_all (cropper->converters);
  }
  GST_LOG ("new converter: %d,%d %dx%d of the frame -> %d,%d %dx%d of %dx%d",
      g->src_x, g->src_y, g->src_w, g->src_h, g->dst_x, g->dst_y, g->dst_w,
      g->dst_h, cropper->width, cropper->height);
  config = gst_structure_new ("adatosk-crop", GST_VIDEO_CONVERTER_OPT_SRC_X,
      G_TYPE_INT, g->src_x, GST_VIDEO_CONVERTER_OPT_SRC_Y, G_TYPE_INT, g->src_y,
      GST_VIDEO_CONVERTER_OPT_SRC_WIDTH, G_TYPE_INT, g->src_w,
      GST_VIDEO_CONVERTER_OPT_SRC_HEIGHT, G_TYPE_INT, g->src_h,
      GST_VIDEO_CONVERTER_OPT_DEST_X, G_TYPE_INT, g->dst_x,
      GST_VIDEO_CONVERTER_OPT_DEST_Y, G_TYPE_INT, g->dst_y,
      GST_VIDEO_CONVERTER_OPT_DEST_WIDTH, G_TYPE_INT, g->dst_w,
      GST_VIDEO_CONVERTER_OPT_DEST_HEIGHT, G_TYPE_INT, g->dst_h,
      GST_VIDEO_CONVERTER_OPT_FILL_BORDER, G_TYPE_BOOLEAN, TRUE,
      GST_VIDEO_CONVERTER_OPT_BORDER_ARGB, G_TYPE_UINT, cropper->border_argb,
      /* The streaming thread is ours; the model's threads do the heavy work. */
      GST_VIDEO_CONVERTER_OPT_THREADS, G_TYPE_UINT, 1, NULL);
  convert =
      gst_video_converter_new (&cropper->in_info, &cropper->out_info, config);
  if (convert == NULL)
    GST_WARNING ("GstVideoConverter cannot convert %s to RGB",
        gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&cropper->in_info)));
  else
    g_hash_table_insert (cropper->converters, g_memdup2 (g, sizeof (*g)),
        convert);
  return convert;
}

gboolean
adatosk_cropper_run (AdatoskCropper *cropper, const GstVideoFrame *frame,
    const AdatoskBox *box, gfloat *out)
{
  gint fw = GST_VIDEO_INFO_WIDTH (&cropper->in_info);
  gint fh = GST_VIDEO_INFO_HEIGHT (&cropper->in_info);
  AdatoskBox r;
  gint x0, y0, x1, y1;
  Geometry g;
  GstVideoConverter *convert;
  GstVideoFrame rgb;
  gsize plane = (gsize) cropper->width * cropper->height;

  adatosk_cropper_region (cropper, box, &r);
  /* Only the part of the region inside the frame is read. */
  x0 = MAX (r.x, 0);
  y0 = MAX (r.y, 0);
  x1 = (gint) MIN ((gint64) r.x + r.w, fw);
  y1 = (gint) MIN ((gint64) r.y + r.h, fh);
  if (x1 <= x0 || y1 <= y0)
    return FALSE;

  memset (&g, 0, sizeof (g));
  g.src_x = x0;
  g.src_y = y0;
  g.src_w = x1 - x0;
  g.src_h = y1 - y0;
  map_span (x0 - r.x, x1 - r.x, r.w, cropper->width, &g.dst_x, &g.dst_w);
  map_span (y0 - r.y, y1 - r.y, r.h, cropper->height, &g.dst_y, &g.dst_h);

  convert = get_converter (cropper, &g);
  if (convert == NULL)
    return FALSE;
  if (!gst_video_frame_map (&rgb, &cropper->out_info, cropper->rgb,
          GST_MAP_READWRITE))
    return FALSE;
  gst_video_converter_frame (convert, frame, &rgb);

  for (gint y = 0; y < cropper->height; y++) {
    const guint8 *p = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&rgb, 0)
        + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&rgb, 0);
    gfloat *r_out = out + (gsize) y * cropper->width;
    gfloat *g_out = r_out + plane, *b_out = g_out + plane;

    for (gint x = 0; x < cropper->width; x++, p += 3) {
      r_out[x] = cropper->lut[0][p[0]];
      g_out[x] = cropper->lut[1][p[1]];
      b_out[x] = cropper->lut[2][p[2]];
    }
  }
  gst_video_frame_unmap (&rgb);
  return TRUE;
}
