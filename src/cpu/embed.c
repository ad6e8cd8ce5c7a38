/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "embed.h"
#include "ops.h"

typedef struct
{
  AdatoskCpuWorkspace *ws;
  const float *const *clips;
  int slots_per_task;
  int groups; /* tasks per clip */
} EmbedStep;

/* Tubes of tau x p x p pixels of slot t as rows in (c, dt, dy, dx) order,
 * the layout of the Conv3d weight, so the embedding is one matrix product;
 * for t >= 1 minus slot t - 1's tubes (x_t - x_{t-1}) in the same pass (was:
 * copied, then a second pass subtracted the previous slot's, extracted
 * again for a task's first slot: 0.73 -> 0.62 ms per adatosk-tiny clip; the
 * rest is reading the clip from memory). The clip is read in its own order,
 * a pixel row at a time; the tubes it goes to are in L2. */
static void
extract_slot (const AdatoskConfig *c, const float *clip, int t, float *tubes)
{
  int tau = c->tubelet_size, p = c->patch_size, width = c->grid_width;
  size_t frame = (size_t) c->img_height * c->img_width;
  size_t channel = frame * c->num_frames;
  size_t slot = tau * frame; /* from a pixel to the same one a slot before */
  for (int ch = 0; ch < 3; ch++)
    for (int dt = 0; dt < tau; dt++)
      for (int dy = 0; dy < p; dy++)
        for (int row = 0; row < c->grid_height; row++) {
          const float *src = clip + ch * channel
              + (size_t) (t * tau + dt) * frame
              + (size_t) (row * p + dy) * c->img_width;
          float *out = tubes + (size_t) row * width * c->patch_dim
              + (size_t) ((ch * tau + dt) * p + dy) * p;
          for (int col = 0; col < width; col++, src += p) {
            float *tube = out + (size_t) col * c->patch_dim;
            if (t == 0)
              for (int dx = 0; dx < p; dx++)
                tube[dx] = src[dx];
            else
              for (int dx = 0; dx < p; dx++)
                tube[dx] = src[dx] - src[dx - slot];
          }
        }
}

/* Slot 0's tubes and, for t >= 1, x_t - x_{t-1}, of the task's slots, then
 * their product with the embedding weight (no bias) into the clip's motion
 * rows. */
static void
motion_task (void *data, int task, int thread)
{
  EmbedStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  int S = c->num_spatial, clip = task / step->groups;
  int first = (task % step->groups) * step->slots_per_task;
  int end = first + step->slots_per_task;
  end = end > c->num_slots ? c->num_slots : end;
  size_t slot = (size_t) S * c->patch_dim;
  size_t row = (size_t) clip * c->num_tokens + (size_t) first * S;
  float *rows = ws->patches + row * c->patch_dim;

  adatosk_cpu_profile_start (&ws->profile, thread);
  for (int t = first; t < end; t++)
    extract_slot (c, step->clips[clip], t, rows + (t - first) * slot);
  adatosk_linear (rows, (end - first) * S, c->patch_dim,
      ws->model->patch_weight, NULL, c->embed_dim,
      ws->motion + row * c->embed_dim, 0);
  adatosk_cpu_profile_stop (&ws->profile, thread, ADATOSK_OP_PATCH_EMBED);
}

/* E[0] = b + W x_0, E[t] = E[t-1] + W (x_t - x_{t-1}); tokens = E + PE. */
static void
sum_task (void *data, int clip, int thread)
{
  EmbedStep *step = data;
  AdatoskCpuWorkspace *ws = step->ws;
  const AdatoskConfig *c = &ws->model->config;
  size_t D = c->embed_dim, slot = (size_t) c->num_spatial * D;
  size_t first = (size_t) clip * c->num_tokens * D;
  const float *motion = ws->motion + first, *bias = ws->model->patch_bias;
  float *x = ws->x + first;

  adatosk_cpu_profile_start (&ws->profile, thread);
  for (size_t i = 0; i < slot; i++)
    x[i] = bias[i % D] + motion[i];
  for (int t = 1; t < c->num_slots; t++)
    for (size_t i = t * slot; i < (t + 1) * slot; i++)
      x[i] = x[i - slot] + motion[i];
  size_t count = (size_t) c->num_tokens * D;
  for (size_t i = 0; i < count; i++)
    x[i] += ws->position[i];
  adatosk_cpu_profile_stop (&ws->profile, thread, ADATOSK_OP_PATCH_EMBED);
}

void
adatosk_cpu_embed (AdatoskCpuWorkspace *ws, const float *const *clips,
    int batch)
{
  const AdatoskConfig *c = &ws->model->config;
  /* Two slots (98 rows in adatosk-tiny) per task when there are few clips,
   * so that one clip still gives two threads several tasks; more with more
   * clips, so that the weight is packed fewer times. */
  int per_task = batch >= 2 * ws->threads ? 4 : 2;
  EmbedStep step = {ws, clips, per_task,
      (c->num_slots + per_task - 1) / per_task};
  adatosk_thread_pool_run (ws->pool, batch * step.groups, motion_task, &step);
  adatosk_thread_pool_run (ws->pool, batch, sum_task, &step);
}
