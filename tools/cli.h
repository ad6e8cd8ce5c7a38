/* Shared between the `adatosk` subcommands.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef ADATOSK_CLI_H
#define ADATOSK_CLI_H

#include "adatosk.h"

/* Loads a model; on failure prints the error and returns 0. */
int cli_load_model (const char *path, AdatoskModel **model);
int cli_bench (int argc, char **argv);
/* The forward's outputs as one JSON object on one line (run_json.c); free
 * with g_free. `keep_ratio` is the ratio the forward used. */
char *cli_run_to_json (const AdatoskModel *model, const AdatoskBackend *backend,
    double keep_ratio, const AdatoskOutput *out);

#endif
