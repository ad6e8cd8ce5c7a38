/* adatoskdfer: results-location, one JSON object per classified clip.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_RESULTS_JSONL_H
#define ADATOSK_RESULTS_JSONL_H

#include <gst/gst.h>

#include "track.h"

G_BEGIN_DECLS

typedef struct AdatoskResultsJsonl AdatoskResultsJsonl;

/* Creates (truncates) `path`; NULL and `error` when it cannot. */
AdatoskResultsJsonl *adatosk_results_jsonl_new (const gchar *path,
    GError **error);
void adatosk_results_jsonl_free (AdatoskResultsJsonl *writer);

/* Writes `result` (the custom meta's structure, adatoskmeta.h) of the face
 * `box` as one line and flushes it, so a reader can follow the file while the
 * pipeline runs. `segment` turns the clip's PTS into stream time. */
gboolean adatosk_results_jsonl_write (AdatoskResultsJsonl *writer,
    const GstStructure *result, const AdatoskBox *box,
    const GstSegment *segment, GError **error);

G_END_DECLS

#endif /* ADATOSK_RESULTS_JSONL_H */
