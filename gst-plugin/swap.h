/* adatoskdfer: a model loaded beside the running one, for `model` set while
 * the element plays: a thread of its own loads it (through the engine, so
 * model-instance-id applies) and runs one warm-up forward, while the stream
 * goes on with the old model; the streaming thread polls for the outcome
 * and switches between two frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_SWAP_H
#define ADATOSK_SWAP_H

#include "engine.h"

G_BEGIN_DECLS

typedef struct AdatoskSwap AdatoskSwap;

/* Starts loading `settings` (copied) under `instance_id` (may be NULL).
 * `owner` names the element in the log; it must outlive the swap. NULL
 * (and `error`) when no thread can be started. */
AdatoskSwap *adatosk_swap_start (GstObject *owner, const gchar *instance_id,
    const AdatoskEngineSettings *settings, GError **error);

/* FALSE while loading. Then TRUE once, with the loaded and warmed-up engine
 * (a reference for the caller) in *engine, or NULL and the reason in
 * *error. */
gboolean adatosk_swap_poll (AdatoskSwap *swap, AdatoskEngine **engine,
    GError **error);

/* The model path asked for (NULL: the built-in model). */
const gchar *adatosk_swap_get_path (const AdatoskSwap *swap);

/* Waits for the thread; an engine not taken is released. */
void adatosk_swap_free (AdatoskSwap *swap);

G_END_DECLS

#endif /* ADATOSK_SWAP_H */
