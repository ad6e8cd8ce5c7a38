/* adatoskdfer: plugin registration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "gstadatoskdfer.h"
#include "gstadatoskoverlay.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER (adatoskdfer, plugin);

  ok &= GST_ELEMENT_REGISTER (adatoskoverlay, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, adatoskdfer,
    "Dynamic facial expression recognition with the AdaTosk video "
    "transformer, and an overlay that draws its results",
    plugin_init, VERSION, "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
