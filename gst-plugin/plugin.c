/* adatoskdfer: plugin registration.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "gstadatoskdfer.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  GST_DEBUG_CATEGORY_INIT (gst_adatosk_dfer_debug, "adatoskdfer", 0,
      "AdaTosk dynamic facial expression recognition");
  return GST_ELEMENT_REGISTER (adatoskdfer, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, adatoskdfer,
    "Dynamic facial expression recognition with the AdaTosk video transformer",
    plugin_init, VERSION, "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
