/* The model adatoskdfer uses when its `model` property is unset: a model
 * file from models/ embedded in the plugin at build time (see meson.build),
 * so that an uninstalled build works exactly like an installed one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef __ADATOSK_DFER_DEFAULT_MODEL_H__
#define __ADATOSK_DFER_DEFAULT_MODEL_H__

#include <glib.h>

G_BEGIN_DECLS

/* Where errors about the built-in model say it came from. */
#define ADATOSK_DFER_DEFAULT_MODEL_ORIGIN \
  "the built-in model " ADATOSK_DFER_DEFAULT_MODEL_FILE

/* The built-in model's bytes; FALSE when this build has none. */
gboolean adatosk_dfer_default_model (const guint8 **data, gsize *size);
gboolean adatosk_dfer_has_default_model (void);

G_END_DECLS

#endif
