/* libadatosk: the AdaTosk model runtime (model file, CPU and Vulkan forward).
 *
 * Plain C11, no GStreamer. The model definition this runtime follows is
 * docs/model.md.
 *
 * Errors: every fallible call returns an AdatoskStatus and, when `error` is
 * not NULL, fills it with a message a user can act on (it names the file,
 * tensor or value that is wrong).
 *
 * Threads: a loaded AdatoskModel is immutable and may be shared by any number
 * of backends. One backend runs one forward at a time. The CPU backend runs
 * its forward on `threads` threads of its own, with OpenBLAS single-threaded
 * inside them: it sets OpenBLAS's process-wide thread count to 1 when created
 * and at every forward, so a program that also calls OpenBLAS with more
 * threads sets its count again before its own products.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef ADATOSK_H
#define ADATOSK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  ADATOSK_OK = 0,
  ADATOSK_ERROR_IO,     /* the file cannot be opened, mapped or read */
  ADATOSK_ERROR_FORMAT, /* the model file is malformed or inconsistent */
  ADATOSK_ERROR_INVALID_ARGUMENT, /* a caller-supplied value is out of range */
  ADATOSK_ERROR_OUT_OF_MEMORY,
  ADATOSK_ERROR_BACKEND, /* the backend cannot run (no device, driver failure) */
} AdatoskStatus;

typedef struct
{
  AdatoskStatus status;
  char message[512];
} AdatoskError;

/* The model's configuration: the "adatosk.config" JSON of the model file,
 * checked, plus the sizes derived from it. */
typedef struct
{
  int num_frames;   /* T */
  int img_height;   /* H */
  int img_width;    /* W */
  int tubelet_size; /* tau */
  int patch_size;   /* p */
  int embed_dim;    /* D */
  int depth;        /* L */
  int num_heads;    /* h */
  double mlp_ratio;
  int atsm_layer;    /* L1: blocks before the ATSM, 0..depth */
  double keep_ratio; /* in (0, 1] */
  int num_classes;   /* C >= 2 */
  double norm_eps;
  float mean[3];
  float std[3];
  /* Optional (0 when the file does not give them). */
  int decoder_embed_dim;
  int decoder_depth;
  int decoder_num_heads;
  double mask_ratio; /* 0.5 when absent */
  int frame_step;    /* 1 when absent */
  /* The element's crop margin the model was trained for: 0.25 when absent. */
  double crop_margin;

  /* Derived. */
  int mlp_hidden;  /* round(mlp_ratio * D) */
  int num_slots;   /* T' = T / tau */
  int grid_height; /* H / p */
  int grid_width;  /* W / p */
  int num_spatial; /* S */
  int num_tokens;  /* N = T' * S */
  int patch_dim;   /* 3 * tau * p * p */
} AdatoskConfig;

typedef struct AdatoskModel AdatoskModel;

/* Loads and validates a .safetensors model file (mmap; F32, F16 and BF16
 * tensors are converted to float32 once). */
AdatoskStatus adatosk_model_load (const char *path, AdatoskModel **model_out,
    AdatoskError *error);
/* The same from a buffer (e.g. a model embedded in a binary). The weights
 * are converted during the call and no reference to `data` is kept.
 * `origin` names the buffer in error messages. */
AdatoskStatus adatosk_model_load_from_memory (const void *data, size_t size,
    const char *origin, AdatoskModel **model_out, AdatoskError *error);
void adatosk_model_free (AdatoskModel *model);

const AdatoskConfig *adatosk_model_get_config (const AdatoskModel *model);
/* Class name of `class_index` (0..num_classes-1), NULL when out of range. */
const char *adatosk_model_get_label (const AdatoskModel *model,
    int class_index);
/* "adatosk.name", "adatosk.license", "adatosk.trained_on"; "" when absent. */
const char *adatosk_model_get_name (const AdatoskModel *model);
const char *adatosk_model_get_license (const AdatoskModel *model);
const char *adatosk_model_get_trained_on (const AdatoskModel *model);
int adatosk_model_get_tensor_count (const AdatoskModel *model);
/* Parameters in the file, and those the inference forward uses (no decoder). */
int64_t adatosk_model_get_param_count (const AdatoskModel *model);
int64_t adatosk_model_get_inference_param_count (const AdatoskModel *model);

/* K = min(N_in, max(1, floor(keep_ratio * N_in + 0.5))), in double precision. */
int adatosk_kept_tokens (int num_tokens, double keep_ratio);
/* Forward FLOPs of one clip (spec section 8) at `keep_ratio`, in units of 1e9. */
double adatosk_config_gflops (const AdatoskConfig *config, double keep_ratio);

/* What one forward returns. Allocate with adatosk_output_new() for a model. */
typedef struct
{
  int num_classes;
  int num_slots;
  int num_tokens;
  int num_kept;         /* K of the last forward */
  float *logits;        /* [num_classes] */
  float *probs;         /* [num_classes] softmax of logits */
  float *significance;  /* [num_slots] g[t], the frame significance */
  float *kept_fraction; /* [num_slots] fraction of slot t's tokens kept */
  float *token_mask;    /* [num_tokens] m, the final soft mask of every token */
  int32_t *kept_tokens; /* [num_tokens] capacity; the first num_kept are the
                              kept token indices in ascending order */
} AdatoskOutput;

AdatoskOutput *adatosk_output_new (const AdatoskModel *model);
void adatosk_output_free (AdatoskOutput *output);

typedef enum
{
  ADATOSK_BACKEND_AUTO =
      0, /* a real GPU through Vulkan when present, else CPU */
  ADATOSK_BACKEND_CPU,
  ADATOSK_BACKEND_VULKAN,
} AdatoskBackendKind;

typedef struct
{
  AdatoskBackendKind kind;
  int threads;      /* CPU threads; 0 = all cores */
  int device_index; /* Vulkan physical device; -1 = best available */
  int weights_fp16; /* Vulkan: store the large weight matrices as fp16 */
} AdatoskBackendOptions;

#define ADATOSK_BACKEND_OPTIONS_DEFAULT \
  { \
    ADATOSK_BACKEND_AUTO, 0, -1, 0 \
  }

typedef struct AdatoskBackend AdatoskBackend;

/* The model must outlive the backend. */
AdatoskStatus adatosk_backend_new (const AdatoskModel *model,
    const AdatoskBackendOptions *options, AdatoskBackend **backend_out,
    AdatoskError *error);
void adatosk_backend_free (AdatoskBackend *backend);
/* "cpu" or "vulkan". */
const char *adatosk_backend_get_name (const AdatoskBackend *backend);
/* Human-readable device, e.g. "OpenBLAS 0.3.21 Haswell, 2 threads". */
const char *adatosk_backend_get_device (const AdatoskBackend *backend);
/* Why `auto` chose this backend (e.g. why Vulkan was not used); "" if not auto. */
const char *adatosk_backend_get_choice_reason (const AdatoskBackend *backend);

/* Classifies one clip. `clip` is float32 [3][T][H][W], already normalised
 * with the config's mean and std. `keep_ratio` in (0, 1], or <= 0 to use the
 * model's. Every backend refuses a clip with a NaN or an infinity
 * (ADATOSK_ERROR_INVALID_ARGUMENT, the message names the first one) and
 * fails rather than return non-finite results (ADATOSK_ERROR_BACKEND). */
AdatoskStatus adatosk_backend_forward (AdatoskBackend *backend,
    const float *clip, double keep_ratio, AdatoskOutput *output,
    AdatoskError *error);

/* Classifies `batch` clips (>= 1) in one call: clips[i] -> outputs[i], each
 * exactly as adatosk_backend_forward() would classify it alone (its own ATSM
 * mask and its own K kept tokens), within the spec's tolerances. The
 * token-wise products (patch embedding, qkv, projection, MLP) run over the
 * rows of all clips at once, which is what makes small models fast: B clips
 * cost far less than B forwards. adatosk_backend_forward() is this call with
 * a batch of one. Clips and outputs must be distinct. The checks are those of
 * adatosk_backend_forward(), on every clip before any runs; a message about
 * one clip of a larger batch starts with "clip I of B: ". The backend keeps
 * the scratch of the largest batch it has run (about 60 MB per clip for
 * adatosk-b, 5 MB for adatosk-tiny); Vulkan re-records its command buffer
 * when the batch size changes. */
AdatoskStatus adatosk_backend_forward_batch (AdatoskBackend *backend,
    const float *const *clips, int batch, double keep_ratio,
    AdatoskOutput *const *outputs, AdatoskError *error);

const char *adatosk_status_name (AdatoskStatus status);

#ifdef __cplusplus
}
#endif
#endif /* ADATOSK_H */
