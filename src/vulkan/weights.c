/* Uploading the model: ranges for every tensor, then the bytes, straight
 * into mapped memory or through a staging buffer flushed every 64 MiB.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "weights.h"

#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGING_SIZE ((VkDeviceSize) 64 << 20)

bool
adatosk_vk_float_to_half (float value, uint16_t *half)
{
  uint32_t x;
  memcpy (&x, &value, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u)
    return false;         /* inf, NaN */
  if (abs >= 0x477ff000u) /* rounds to >= 65520: overflow */
    return false;
  if (abs < 0x38800000u) {   /* below 2^-14: subnormal half */
    if (abs < 0x33000000u) { /* below 2^-25: rounds to zero */
      *half = (uint16_t) sign;
      return true;
    }
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - (abs >> 23); /* 14..24 */
    uint32_t h = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (h & 1u)))
      h++;
    *half = (uint16_t) (sign | h);
    return true;
  }
  uint32_t h = ((abs >> 13) - (112u << 10)); /* rebias 127 -> 15 */
  uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    h++; /* may carry into the exponent */
  *half = (uint16_t) (sign | h);
  return true;
}

/* Writes tensors into device ranges: mapped ones directly, the others
 * through a staging buffer, copied by one command buffer per 64 MiB. */
typedef struct
{
  AdatoskVkContext *ctx;
  AdatoskVkAllocator *staging;
  AdatoskVkRange stage;
  VkDeviceSize used;
  VkCommandBuffer cmd;
  bool recording;
} Uploader;

static AdatoskStatus
uploader_flush (Uploader *u, AdatoskError *error)
{
  if (!u->recording)
    return ADATOSK_OK;
  VkMemoryBarrier barrier = {
      .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
      .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
      .dstAccessMask = VK_ACCESS_SHADER_READ_BIT,
  };
  vkCmdPipelineBarrier (u->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, NULL, 0, NULL);
  u->recording = false;
  u->used = 0;
  VkResult result = vkEndCommandBuffer (u->cmd);
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot record the weight upload (%s)",
        adatosk_vk_result_name (result));
  return adatosk_vk_submit_and_wait (u->ctx, u->cmd, error);
}

static AdatoskStatus
uploader_begin (Uploader *u, AdatoskError *error)
{
  VkResult result = VK_SUCCESS;
  if (!u->staging) {
    AdatoskStatus status =
        adatosk_vk_allocator_new (u->ctx, STAGING_SIZE, &u->staging, error);
    if (status == ADATOSK_OK)
      status = adatosk_vk_alloc (u->staging, ADATOSK_VK_MEMORY_HOST,
          STAGING_SIZE, &u->stage, error);
    if (status != ADATOSK_OK)
      return status;
    VkCommandBufferAllocateInfo info = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = u->ctx->command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    result = vkAllocateCommandBuffers (u->ctx->device, &info, &u->cmd);
  }
  if (!u->recording && result == VK_SUCCESS) {
    VkCommandBufferBeginInfo begin = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    result = vkResetCommandBuffer (u->cmd, 0);
    if (result == VK_SUCCESS)
      result = vkBeginCommandBuffer (u->cmd, &begin);
    u->recording = result == VK_SUCCESS;
  }
  if (result != VK_SUCCESS)
    return adatosk_fail (error, ADATOSK_ERROR_BACKEND,
        "cannot record the weight upload (%s)",
        adatosk_vk_result_name (result));
  return ADATOSK_OK;
}

static void
uploader_free (Uploader *u)
{
  adatosk_vk_context_settle (u->ctx);
  if (u->cmd)
    vkFreeCommandBuffers (u->ctx->device, u->ctx->command_pool, 1, &u->cmd);
  adatosk_vk_allocator_free (u->staging);
}

/* Converts `count` values into `dst` (floats, or halves when `f16`). */
static bool
convert (void *dst, const float *src, size_t count, bool f16, size_t *bad)
{
  if (!f16) {
    memcpy (dst, src, count * sizeof *src);
    return true;
  }
  uint16_t *h = dst;
  for (size_t i = 0; i < count; i++)
    if (!adatosk_vk_float_to_half (src[i], &h[i])) {
      *bad = i;
      return false;
    }
  return true;
}

static AdatoskStatus
put (Uploader *u, const AdatoskVkRange *dst, const float *src, size_t count,
    bool f16, const char *name, AdatoskError *error)
{
  const VkDeviceSize elem = f16 ? 2 : 4;
  size_t bad = 0;
  bool ok = true;
  if (dst->mapped) {
    ok = convert (dst->mapped, src, count, f16, &bad);
  } else {
    size_t done = 0;
    while (ok && done < count) {
      AdatoskStatus status = uploader_begin (u, error);
      if (status != ADATOSK_OK)
        return status;
      size_t room = (size_t) ((STAGING_SIZE - u->used) / elem);
      if (room == 0) {
        if ((status = uploader_flush (u, error)) != ADATOSK_OK)
          return status;
        continue;
      }
      size_t n = count - done < room ? count - done : room;
      ok = convert ((char *) u->stage.mapped + u->used, src + done, n, f16,
          &bad);
      bad += done;
      VkBufferCopy region = {
          .srcOffset = u->stage.offset + u->used,
          .dstOffset = dst->offset + done * elem,
          .size = n * elem,
      };
      vkCmdCopyBuffer (u->cmd, u->stage.buffer, dst->buffer, 1, &region);
      u->used += (n * elem + 3) / 4 * 4;
      done += n;
    }
  }
  if (!ok)
    return adatosk_fail (error, ADATOSK_ERROR_INVALID_ARGUMENT,
        "%s[%zu] = %g does not fit in fp16 weight storage; use fp32 weights",
        name, bad, (double) src[bad]);
  return ADATOSK_OK;
}

typedef struct
{
  AdatoskVkRange *range;
  const float *data;
  size_t count;
  bool f16;
  char name[64];
} Tensor;

typedef struct
{
  Tensor *items;
  int count, capacity;
} TensorList;

static bool
add (TensorList *list, AdatoskVkRange *range, const float *data, size_t count,
    bool f16, const char *name, int index)
{
  if (list->count == list->capacity) {
    int capacity = list->capacity ? 2 * list->capacity : 64;
    Tensor *items = realloc (list->items, (size_t) capacity * sizeof *items);
    if (!items)
      return false;
    list->items = items;
    list->capacity = capacity;
  }
  Tensor *t = &list->items[list->count++];
  t->range = range;
  t->data = data;
  t->count = count;
  t->f16 = f16;
  if (index >= 0)
    snprintf (t->name, sizeof t->name, "blocks.%d.%s", index, name);
  else
    snprintf (t->name, sizeof t->name, "%s", name);
  return true;
}

static float *
position_table (const AdatoskConfig *c)
{
  int n = c->num_tokens, dim = c->embed_dim;
  float *table = malloc ((size_t) n * dim * sizeof *table);
  if (!table)
    return NULL;
  for (int t = 0; t < n; t++)
    for (int i = 0; i < dim; i += 2) {
      double angle = t / pow (10000.0, (double) i / dim);
      table[(size_t) t * dim + i] = (float) sin (angle);
      if (i + 1 < dim)
        table[(size_t) t * dim + i + 1] = (float) cos (angle);
    }
  return table;
}

AdatoskStatus
adatosk_vk_weights_upload (AdatoskVkContext *ctx, AdatoskVkAllocator *alloc,
    const AdatoskModel *model, bool f16, AdatoskVkWeights *w,
    AdatoskError *error)
{
  const AdatoskConfig *c = &model->config;
  const size_t dim = (size_t) c->embed_dim, hidden = (size_t) c->mlp_hidden;
  const size_t classes = (size_t) c->num_classes;
  memset (w, 0, sizeof *w);
  w->f16 = f16;
  w->blocks = calloc ((size_t) c->depth, sizeof *w->blocks);
  float *table = position_table (c);
  TensorList list = {0};
  bool ok = w->blocks && table;
  ok = ok
      && add (&list, &w->patch_w, model->patch_weight, dim * c->patch_dim, f16,
          "patch_embed.proj.weight", -1);
  ok = ok
      && add (&list, &w->patch_b, model->patch_bias, dim, false,
          "patch_embed.proj.bias", -1);
  ok = ok
      && add (&list, &w->pos_table, table, (size_t) c->num_tokens * dim, false,
          "position table", -1);
  for (int i = 0; ok && i < c->depth; i++) {
    const AdatoskBlockWeights *src = &model->blocks[i];
    AdatoskVkBlockWeights *b = &w->blocks[i];
    ok = add (&list, &b->norm1_w, src->norm1_weight, dim, false, "norm1.weight",
             i)
        && add (&list, &b->norm1_b, src->norm1_bias, dim, false, "norm1.bias",
            i)
        && add (&list, &b->qkv_w, src->qkv_weight, 3 * dim * dim, f16,
            "attn.qkv.weight", i)
        && add (&list, &b->qkv_b, src->qkv_bias, 3 * dim, false,
            "attn.qkv.bias", i)
        && add (&list, &b->proj_w, src->proj_weight, dim * dim, f16,
            "attn.proj.weight", i)
        && add (&list, &b->proj_b, src->proj_bias, dim, false, "attn.proj.bias",
            i)
        && add (&list, &b->norm2_w, src->norm2_weight, dim, false,
            "norm2.weight", i)
        && add (&list, &b->norm2_b, src->norm2_bias, dim, false, "norm2.bias",
            i)
        && add (&list, &b->fc1_w, src->fc1_weight, hidden * dim, f16,
            "mlp.fc1.weight", i)
        && add (&list, &b->fc1_b, src->fc1_bias, hidden, false, "mlp.fc1.bias",
            i)
        && add (&list, &b->fc2_w, src->fc2_weight, dim * hidden, f16,
            "mlp.fc2.weight", i)
        && add (&list, &b->fc2_b, src->fc2_bias, dim, false, "mlp.fc2.bias", i);
  }
  ok = ok
      && add (&list, &w->atsm_norm_w, model->atsm_norm_weight, dim, false,
          "atsm.norm.weight", -1)
      && add (&list, &w->atsm_norm_b, model->atsm_norm_bias, dim, false,
          "atsm.norm.bias", -1)
      && add (&list, &w->prototypes, model->prototypes, classes * dim, false,
          "atsm.prototypes", -1)
      && add (&list, &w->fc_norm_w, model->fc_norm_weight, dim, false,
          "fc_norm.weight", -1)
      && add (&list, &w->fc_norm_b, model->fc_norm_bias, dim, false,
          "fc_norm.bias", -1)
      && add (&list, &w->head_w, model->head_weight, classes * dim, false,
          "head.weight", -1)
      && add (&list, &w->head_b, model->head_bias, classes, false, "head.bias",
          -1);
  AdatoskStatus status = ok
      ? ADATOSK_OK
      : adatosk_fail (error, ADATOSK_ERROR_OUT_OF_MEMORY, "out of memory");

  /* Halves are bound as 32-bit words: round their ranges up to whole words. */
  for (int i = 0; status == ADATOSK_OK && i < list.count; i++) {
    Tensor *t = &list.items[i];
    VkDeviceSize bytes = t->f16 ? (t->count * 2 + 3) / 4 * 4 : t->count * 4;
    status = adatosk_vk_alloc (alloc, ADATOSK_VK_MEMORY_DEVICE, bytes, t->range,
        error);
  }
  Uploader u = {.ctx = ctx};
  for (int i = 0; status == ADATOSK_OK && i < list.count; i++) {
    Tensor *t = &list.items[i];
    status = put (&u, t->range, t->data, t->count, t->f16, t->name, error);
  }
  if (status == ADATOSK_OK)
    status = uploader_flush (&u, error);
  uploader_free (&u);
  free (list.items);
  free (table);
  if (status != ADATOSK_OK)
    adatosk_vk_weights_clear (w);
  return status;
}

void
adatosk_vk_weights_clear (AdatoskVkWeights *w)
{
  free (w->blocks);
  w->blocks = NULL;
}
