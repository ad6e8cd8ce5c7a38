/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

AdatoskStatus
adatosk_fail (AdatoskError *error, AdatoskStatus status, const char *format,
    ...)
{
  if (error) {
    va_list args;
    va_start (args, format);
    error->status = status;
    vsnprintf (error->message, sizeof error->message, format, args);
    va_end (args);
  }
  return status;
}

const char *
adatosk_status_name (AdatoskStatus status)
{
  switch (status) {
    case ADATOSK_OK:
      return "ok";
    case ADATOSK_ERROR_IO:
      return "i/o error";
    case ADATOSK_ERROR_FORMAT:
      return "invalid model file";
    case ADATOSK_ERROR_INVALID_ARGUMENT:
      return "invalid argument";
    case ADATOSK_ERROR_OUT_OF_MEMORY:
      return "out of memory";
    case ADATOSK_ERROR_BACKEND:
      return "backend error";
  }
  return "unknown status";
}
