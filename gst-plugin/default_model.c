/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "default_model.h"

#ifdef ADATOSK_DFER_HAVE_DEFAULT_MODEL
/* Defined by the assembly that embed_model.py generates. */
extern const guint8 adatosk_dfer_default_model_start[];
extern const guint8 adatosk_dfer_default_model_end[];

gboolean
adatosk_dfer_default_model (const guint8 **data, gsize *size)
{
  *data = adatosk_dfer_default_model_start;
  *size = (gsize) (adatosk_dfer_default_model_end
      - adatosk_dfer_default_model_start);
  return TRUE;
}
#else
gboolean
adatosk_dfer_default_model (const guint8 **data, gsize *size)
{
  *data = NULL;
  *size = 0;
  return FALSE;
}
#endif

gboolean
adatosk_dfer_has_default_model (void)
{
  const guint8 *data;
  gsize size;

  return adatosk_dfer_default_model (&data, &size);
}
