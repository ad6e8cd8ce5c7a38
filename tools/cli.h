/* Shared between the `adatosk` subcommands.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CLI_H
#define ADATOSK_CLI_H

#include "adatosk.h"

/* Loads a model; on failure prints the error and returns 0. */
int cli_load_model (const char *path, AdatoskModel **model);
int cli_bench (int argc, char **argv);

#endif
