/* adatoskdfer: the clips the model gets, written to a directory.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "dump.h"

#include "debug.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#define GST_CAT_DEFAULT adatosk_dfer_dump_debug

struct AdatoskDump
{
  gchar *dir;
  FILE *index;
  GString *header; /* the .npy header: the same for every clip */
  guint num_frames, height, width;
  guint64 written;
};

static gboolean
fail_errno (GError **error, const gchar *what, const gchar *path)
{
  int saved = errno;

  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
      "cannot %s %s: %s", what, path, g_strerror (saved));
  return FALSE;
}

/* The NumPy 1.0 header: magic, version, little-endian header length, then a
 * Python dict literal padded with spaces and a newline to a multiple of 64
 * bytes (what numpy itself writes). */
static GString *
npy_header (guint num_frames, guint height, guint width)
{
  GString *dict = g_string_new (NULL);
  GString *header = g_string_new_len ("\x93NUMPY\x01\x00", 8);
  gsize total;

  g_string_printf (dict,
      "{'descr': '<f4', 'fortran_order': False, "
      "'shape': (3, %u, %u, %u), }",
      num_frames, height, width);
  total = 10 + dict->len + 1;
  while (total % 64 != 0) {
    g_string_append_c (dict, ' ');
    total++;
  }
  g_string_append_c (dict, '\n');
  g_string_append_c (header, (gchar) (dict->len & 0xff));
  g_string_append_c (header, (gchar) (dict->len >> 8));
  g_string_append_len (header, dict->str, dict->len);
  g_string_free (dict, TRUE);
  return header;
}

AdatoskDump *
adatosk_dump_new (const gchar *dir, guint num_frames, guint height, guint width,
    GError **error)
{
  AdatoskDump *dump;
  gchar *path;
  FILE *index;

  if (g_mkdir_with_parents (dir, 0755) != 0) {
    fail_errno (error, "create the directory", dir);
    return NULL;
  }
  path = g_build_filename (dir, "clips.jsonl", NULL);
  index = g_fopen (path, "w");
  if (index == NULL) {
    fail_errno (error, "write", path);
    g_free (path);
    return NULL;
  }
  g_free (path);
  dump = g_new0 (AdatoskDump, 1);
  dump->dir = g_strdup (dir);
  dump->index = index;
  dump->header = npy_header (num_frames, height, width);
  dump->num_frames = num_frames;
  dump->height = height;
  dump->width = width;
  GST_INFO ("writing clips of %u frames of %ux%u and clips.jsonl to %s",
      num_frames, width, height, dir);
  return dump;
}

void
adatosk_dump_free (AdatoskDump *dump)
{
  if (dump == NULL)
    return;
  fclose (dump->index);
  g_string_free (dump->header, TRUE);
  g_free (dump->dir);
  g_free (dump);
}

static gint64
ns_or_minus_one (GstClockTime t)
{
  return GST_CLOCK_TIME_IS_VALID (t) ? (gint64) t : -1;
}

gboolean
adatosk_dump_write (AdatoskDump *dump, const gfloat *pixels, guint track_id,
    GstClockTime start, GstClockTime end, const GstClockTime *frame_pts,
    const AdatoskBox *box, GError **error)
{
  gsize floats = (gsize) 3 * dump->num_frames * dump->height * dump->width;
  gchar *name =
      g_strdup_printf ("clip-%06" G_GUINT64_FORMAT ".npy", dump->written);
  gchar *path = g_build_filename (dump->dir, name, NULL);
  GString *line = g_string_new (NULL);
  gboolean ok = FALSE;
  FILE *f;

  /* The data are written as the CPU holds them: the .npy says little-endian,
   * which every platform GStreamer runs this on is. */
  G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  f = g_fopen (path, "wb");
  if (f == NULL) {
    fail_errno (error, "write", path);
    goto out;
  }
  if (fwrite (dump->header->str, 1, dump->header->len, f) != dump->header->len
      || fwrite (pixels, sizeof (gfloat), floats, f) != floats) {
    fail_errno (error, "write", path);
    fclose (f);
    goto out;
  }
  if (fclose (f) != 0) {
    fail_errno (error, "write", path);
    goto out;
  }

  g_string_printf (line,
      "{\"file\": \"%s\", \"track\": %u, \"start\": %" G_GINT64_FORMAT
      ", \"end\": %" G_GINT64_FORMAT ", \"pts\": [",
      name, track_id, ns_or_minus_one (start), ns_or_minus_one (end));
  for (guint t = 0; t < dump->num_frames; t++)
    g_string_append_printf (line, "%s%" G_GINT64_FORMAT, t ? ", " : "",
        ns_or_minus_one (frame_pts[t]));
  g_string_append_printf (line,
      "], \"box\": [%d, %d, %d, %d], "
      "\"shape\": [3, %u, %u, %u]}\n",
      box->x, box->y, box->w, box->h, dump->num_frames, dump->height,
      dump->width);
  /* Flushed per clip: the index is complete whenever the pipeline stops. */
  if (fputs (line->str, dump->index) == EOF || fflush (dump->index) != 0) {
    fail_errno (error, "write the index in", dump->dir);
    goto out;
  }
  dump->written++;
  GST_DEBUG ("track %u: clip %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT
             " written to %s",
      track_id, GST_TIME_ARGS (start), GST_TIME_ARGS (end), path);
  ok = TRUE;

out:
  g_string_free (line, TRUE);
  g_free (path);
  g_free (name);
  return ok;
}
