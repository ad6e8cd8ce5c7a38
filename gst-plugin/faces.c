/* adatoskdfer: the faces of one frame, bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "faces.h"

#include "debug.h"

#include <stdlib.h>

#define GST_CAT_DEFAULT adatosk_dfer_faces_debug

/* Upstream boxes beyond this many frame sizes are clamped: a face can stick
 * out of the frame, but not by arbitrary amounts. */
#define BOX_LIMIT 4

typedef struct
{
  AdatoskFace face;
  gint64 area; /* of the part inside the frame */
  guint seq;   /* the meta's place on the buffer */
} Candidate;

struct AdatoskFaces
{
  guint max_faces;
  /* A min-heap on (area, later meta first) while gathering, so the smallest
   * face taken so far is the one a larger face replaces: O(log max_faces)
   * per meta, however many metas there are. Sorted by `seq` afterwards. */
  Candidate *heap;
  guint n;
  AdatoskFace *taken;
};

AdatoskFaces *
adatosk_faces_new (guint max_faces)
{
  AdatoskFaces *faces;

  g_return_val_if_fail (max_faces > 0, NULL);
  faces = g_new0 (AdatoskFaces, 1);
  faces->max_faces = max_faces;
  faces->heap = g_new (Candidate, max_faces);
  faces->taken = g_new (AdatoskFace, max_faces);
  return faces;
}

void
adatosk_faces_free (AdatoskFaces *faces)
{
  if (faces == NULL)
    return;
  g_free (faces->heap);
  g_free (faces->taken);
  g_free (faces);
}

gboolean
adatosk_faces_buffer_has_roi (GstBuffer *buf, GQuark roi_type)
{
  gpointer state = NULL;
  GstMeta *meta;

  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
      != NULL) {
    if (((GstVideoRegionOfInterestMeta *) meta)->roi_type == roi_type)
      return TRUE;
  }
  return FALSE;
}

/* Whether `a` should leave the heap before `b`: the smaller face, and of two
 * as large the later one (so ties keep the earlier meta). */
static inline gboolean
goes_first (const Candidate *a, const Candidate *b)
{
  return a->area < b->area || (a->area == b->area && a->seq > b->seq);
}

static void
sift_down (Candidate *heap, guint n, guint i)
{
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;
    Candidate tmp;

    if (l < n && goes_first (&heap[l], &heap[m]))
      m = l;
    if (r < n && goes_first (&heap[r], &heap[m]))
      m = r;
    if (m == i)
      return;
    tmp = heap[i];
    heap[i] = heap[m];
    heap[m] = tmp;
    i = m;
  }
}

static void
sift_up (Candidate *heap, guint i)
{
  while (i > 0) {
    guint parent = (i - 1) / 2;
    Candidate tmp;

    if (!goes_first (&heap[i], &heap[parent]))
      return;
    tmp = heap[i];
    heap[i] = heap[parent];
    heap[parent] = tmp;
    i = parent;
  }
}

static gint
by_seq (gconstpointer a, gconstpointer b)
{
  guint sa = ((const Candidate *) a)->seq, sb = ((const Candidate *) b)->seq;

  return sa < sb ? -1 : sa > sb;
}

guint
adatosk_faces_gather (AdatoskFaces *faces, GstBuffer *buf, GQuark roi_type,
    gint width, gint height)
{
  gint64 limit_w = MIN ((gint64) BOX_LIMIT * width, G_MAXINT / 2);
  gint64 limit_h = MIN ((gint64) BOX_LIMIT * height, G_MAXINT / 2);
  gpointer state = NULL;
  GstMeta *meta;
  guint seen = 0;

  faces->n = 0;
  while ((meta = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
      != NULL) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) meta;
    Candidate c;

    /* Unsigned fields: a "negative" x or y is huge and lands here too. */
    if (roi->roi_type != roi_type || roi->x >= (guint) width
        || roi->y >= (guint) height || roi->w == 0 || roi->h == 0)
      continue;
    c.face.roi = roi;
    c.face.box.x = (gint) roi->x;
    c.face.box.y = (gint) roi->y;
    c.face.box.w = (gint) MIN ((gint64) roi->w, limit_w);
    c.face.box.h = (gint) MIN ((gint64) roi->h, limit_h);
    c.area = MIN ((gint64) c.face.box.w, width - c.face.box.x)
        * MIN ((gint64) c.face.box.h, height - c.face.box.y);
    c.seq = seen++;
    if (faces->n < faces->max_faces) {
      faces->heap[faces->n] = c;
      sift_up (faces->heap, faces->n++);
    } else if (goes_first (&faces->heap[0], &c)) {
      faces->heap[0] = c;
      sift_down (faces->heap, faces->n, 0);
    }
  }
  qsort (faces->heap, faces->n, sizeof (Candidate), by_seq);
  for (guint i = 0; i < faces->n; i++)
    faces->taken[i] = faces->heap[i].face;
  if (seen > faces->n)
    GST_LOG ("%u faces on the buffer, took the %u largest", seen, faces->n);
  return seen;
}

void
adatosk_faces_full_frame (AdatoskFaces *faces, GstBuffer *buf, GQuark roi_type,
    gint width, gint height)
{
  AdatoskFace *face = &faces->taken[0];

  face->box.x = 0;
  face->box.y = 0;
  face->box.w = width;
  face->box.h = height;
  face->roi = gst_buffer_add_video_region_of_interest_meta_id (buf, roi_type, 0,
      0, (guint) width, (guint) height);
  faces->n = 1;
}

const AdatoskFace *
adatosk_faces_get (const AdatoskFaces *faces, guint *n)
{
  *n = faces->n;
  return faces->taken;
}
