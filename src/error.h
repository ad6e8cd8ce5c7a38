/* Filling an AdatoskError: one helper so every message has the same shape.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_ERROR_H
#define ADATOSK_ERROR_H

#include "adatosk.h"

/* Formats the message into `error` (when not NULL) and returns `status`, so
 * callers can write `return adatosk_fail (error, ADATOSK_ERROR_FORMAT, ...)`. */
AdatoskStatus adatosk_fail (AdatoskError *error, AdatoskStatus status,
    const char *format, ...) __attribute__ ((format (printf, 3, 4)));

#endif
