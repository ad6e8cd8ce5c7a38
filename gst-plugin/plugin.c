/* adatoskdfer: plugin registration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "gstadatoskdfer.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER (adatoskdfer, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, adatoskdfer,
    "Dynamic facial expression recognition with the AdaTosk video transformer",
    plugin_init, VERSION, "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
