/* `adatosk`: the command-line face of libadatosk, for scripts and users.
 *   adatosk info MODEL
 *   adatosk run MODEL CLIP [--keep R] [--backend auto|cpu|vulkan] [--threads N]
 *                          [--device INDEX] [--fp16] [--json]
 *   adatosk bench [options]     (see bench.c)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "adatosk.h"
#include "cli.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
usage (FILE *to)
{
  fprintf (to,
      "usage: adatosk info MODEL\n"
      "       adatosk run MODEL CLIP [--keep R] [--backend auto|cpu|vulkan] "
      "[--threads N]\n"
      "                              [--device INDEX] [--fp16] [--json]\n"
      "       adatosk bench [--configs a,b] [--keeps 1.0,0.5] [--threads N] "
      "[--repeat N]\n"
      "                     [--python PATH] [--reference PATH]\n"
      "CLIP is raw little-endian float32 [3][T][H][W], normalised with the "
      "model's mean/std.\n"
      "--json prints every output of the forward as one JSON object "
      "instead of the table.\n");
  return to == stderr ? 2 : 0;
}

int
cli_load_model (const char *path, AdatoskModel **model)
{
  AdatoskError error;
  if (adatosk_model_load (path, model, &error) != ADATOSK_OK) {
    fprintf (stderr, "adatosk: %s\n", error.message);
    return 0;
  }
  return 1;
}

static int
cmd_info (int argc, char **argv)
{
  if (argc != 1)
    return usage (stderr);
  AdatoskModel *model;
  if (!cli_load_model (argv[0], &model))
    return 1;
  const AdatoskConfig *c = adatosk_model_get_config (model);
  printf ("model:        %s\n", argv[0]);
  printf ("name:         %s\n", adatosk_model_get_name (model));
  printf ("license:      %s\n", adatosk_model_get_license (model));
  printf ("trained on:   %s\n", adatosk_model_get_trained_on (model));
  printf ("input:        %d frames of %dx%d (W x H), mean %.3f %.3f %.3f, std "
          "%.3f %.3f %.3f\n",
      c->num_frames, c->img_width, c->img_height, c->mean[0], c->mean[1],
      c->mean[2], c->std[0], c->std[1], c->std[2]);
  printf ("tokens:       %d = %d slots x %d positions (tubes %dx%dx%d)\n",
      c->num_tokens, c->num_slots, c->num_spatial, c->tubelet_size,
      c->patch_size, c->patch_size);
  printf ("encoder:      width %d, %d blocks, %d heads, MLP %d, ATSM after "
          "block %d\n",
      c->embed_dim, c->depth, c->num_heads, c->mlp_hidden, c->atsm_layer);
  printf ("keep ratio:   %g (%d of %d tokens after the ATSM)\n", c->keep_ratio,
      adatosk_kept_tokens (c->num_tokens, c->keep_ratio), c->num_tokens);
  if (c->decoder_depth > 0)
    printf ("decoder:      width %d, %d blocks, %d heads (training only)\n",
        c->decoder_embed_dim, c->decoder_depth, c->decoder_num_heads);
  printf ("frame step:   %d\n", c->frame_step);
  printf ("labels:      ");
  for (int i = 0; i < c->num_classes; i++)
    printf (" %s%s", adatosk_model_get_label (model, i),
        i + 1 < c->num_classes ? "," : "\n");
  printf ("tensors:      %d\n", adatosk_model_get_tensor_count (model));
  printf ("parameters:   %lld (%lld used for inference)\n",
      (long long) adatosk_model_get_param_count (model),
      (long long) adatosk_model_get_inference_param_count (model));
  printf ("cost:         %.2f GFLOPs per clip at keep %g, %.2f at keep 1\n",
      adatosk_config_gflops (c, c->keep_ratio), c->keep_ratio,
      adatosk_config_gflops (c, 1.0));
  adatosk_model_free (model);
  return 0;
}

static float *
read_clip (const char *path, size_t expected_floats)
{
  FILE *f = fopen (path, "rb");
  if (!f) {
    perror (path);
    return NULL;
  }
  float *clip = malloc (expected_floats * sizeof (float) + 1);
  size_t got =
      clip ? fread (clip, 1, expected_floats * sizeof (float) + 1, f) : 0;
  fclose (f);
  if (got != expected_floats * sizeof (float)) {
    fprintf (stderr,
        "adatosk: %s has %zu bytes; the model needs exactly %zu "
        "(float32 [3][T][H][W])\n",
        path, got, expected_floats * sizeof (float));
    free (clip);
    return NULL;
  }
  return clip;
}

static int
parse_backend_kind (const char *s, AdatoskBackendKind *kind)
{
  if (!strcmp (s, "auto"))
    *kind = ADATOSK_BACKEND_AUTO;
  else if (!strcmp (s, "cpu"))
    *kind = ADATOSK_BACKEND_CPU;
  else if (!strcmp (s, "vulkan"))
    *kind = ADATOSK_BACKEND_VULKAN;
  else
    return 0;
  return 1;
}

static int
cmd_run (int argc, char **argv)
{
  if (argc < 2)
    return usage (stderr);
  AdatoskBackendOptions options = ADATOSK_BACKEND_OPTIONS_DEFAULT;
  double keep = 0.0;
  int json = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp (argv[i], "--fp16")) {
      options.weights_fp16 = 1;
      continue;
    }
    if (!strcmp (argv[i], "--json")) {
      json = 1;
      continue;
    }
    if (i + 1 >= argc)
      return usage (stderr);
    const char *value = argv[++i];
    char *end;
    if (!strcmp (argv[i - 1], "--keep")) {
      keep = strtod (value, &end);
      if (*end || !(keep > 0.0 && keep <= 1.0)) {
        fprintf (stderr, "adatosk: --keep %s: must be a number in (0, 1]\n",
            value);
        return 2;
      }
    } else if (!strcmp (argv[i - 1], "--threads")) {
      options.threads = (int) strtol (value, &end, 10);
      if (*end || options.threads < 0) {
        fprintf (stderr,
            "adatosk: --threads %s: must be 0 (all cores) or more\n", value);
        return 2;
      }
    } else if (!strcmp (argv[i - 1], "--device")) {
      options.device_index = (int) strtol (value, &end, 10);
      if (*end || options.device_index < -1) {
        fprintf (stderr,
            "adatosk: --device %s: a Vulkan device index, or -1 for the best\n",
            value);
        return 2;
      }
    } else if (!strcmp (argv[i - 1], "--backend")) {
      if (!parse_backend_kind (value, &options.kind)) {
        fprintf (stderr, "adatosk: --backend %s: use auto, cpu or vulkan\n",
            value);
        return 2;
      }
    } else {
      return usage (stderr);
    }
  }

  AdatoskModel *model;
  if (!cli_load_model (argv[0], &model))
    return 1;
  const AdatoskConfig *c = adatosk_model_get_config (model);
  int status = 1;
  AdatoskBackend *backend = NULL;
  AdatoskOutput *out = adatosk_output_new (model);
  float *clip = read_clip (argv[1],
      (size_t) 3 * c->num_frames * c->img_height * c->img_width);
  AdatoskError error;
  if (!clip || !out)
    goto done;
  if (adatosk_backend_new (model, &options, &backend, &error) != ADATOSK_OK
      || adatosk_backend_forward (backend, clip, keep, out, &error)
          != ADATOSK_OK) {
    fprintf (stderr, "adatosk: %s\n", error.message);
    goto done;
  }
  if (json) {
    char *text = cli_run_to_json (model, backend,
        keep > 0.0 ? keep : c->keep_ratio, out);
    printf ("%s\n", text);
    g_free (text);
    status = 0;
    goto done;
  }
  printf ("backend: %s (%s)\n", adatosk_backend_get_name (backend),
      adatosk_backend_get_device (backend));
  if (*adatosk_backend_get_choice_reason (backend))
    printf ("chosen because: %s\n",
        adatosk_backend_get_choice_reason (backend));
  int best = 0;
  for (int i = 0; i < c->num_classes; i++) {
    if (out->probs[i] > out->probs[best])
      best = i;
    printf ("%-12s %.6f\n", adatosk_model_get_label (model, i), out->probs[i]);
  }
  printf ("label: %s\n", adatosk_model_get_label (model, best));
  printf ("kept tokens: %d of %d\n", out->num_kept, out->num_tokens);
  printf ("slot  frames    significance  kept\n");
  for (int t = 0; t < c->num_slots; t++)
    printf ("%4d  %3d-%-3d   %12.6f  %.3f\n", t, t * c->tubelet_size,
        (t + 1) * c->tubelet_size - 1, out->significance[t],
        out->kept_fraction[t]);
  status = 0;
done:
  free (clip);
  adatosk_output_free (out);
  adatosk_backend_free (backend);
  adatosk_model_free (model);
  return status;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    return usage (stderr);
  if (!strcmp (argv[1], "info"))
    return cmd_info (argc - 2, argv + 2);
  if (!strcmp (argv[1], "run"))
    return cmd_run (argc - 2, argv + 2);
  if (!strcmp (argv[1], "bench"))
    return cli_bench (argc - 2, argv + 2);
  if (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h"))
    return usage (stdout);
  return usage (stderr);
}
