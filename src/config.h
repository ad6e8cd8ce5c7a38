/* Parsing and checking a model file's "adatosk.config".
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CONFIG_H
#define ADATOSK_CONFIG_H

#include "adatosk.h"
#include "safetensors.h"

#include <stdbool.h>

/* Reads the config from the file's __metadata__, checks every value and
 * their consistency, and fills the derived sizes. */
AdatoskStatus adatosk_config_parse (const AdatoskSafetensors *file,
    AdatoskConfig *config, AdatoskError *error);

/* round(mlp_ratio * width), or 0 when out of the supported range. */
int adatosk_mlp_width (double mlp_ratio, int width);

bool adatosk_config_has_decoder (const AdatoskConfig *config);

#endif
