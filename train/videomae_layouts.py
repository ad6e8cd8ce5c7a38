"""VideoMAE-style ViT checkpoints in their three published layouts, read into one canonical form.

Layouts (key names as their authors' code writes them):
  "mcg-finetune"  MCG-NJU VideoMAE fine-tuning (modeling_finetune.VisionTransformer):
                  patch_embed.proj, blocks.N.{norm1, attn.qkv (+ attn.q_bias, attn.v_bias: no key
                  bias), attn.proj, norm2, mlp.fc1, mlp.fc2, gamma_1/gamma_2 (layer scale, folded
                  into attn.proj and mlp.fc2)}, norm or fc_norm, head
  "mcg-pretrain"  MCG-NJU VideoMAE pre-training (modeling_pretrain.PretrainVisionTransformer):
                  the same encoder under encoder., decoder.blocks.N.*, decoder.norm, decoder.head,
                  encoder_to_decoder, mask_token
  "hf"            Hugging Face transformers VideoMAEModel / VideoMAEForVideoClassification /
                  VideoMAEForPreTraining: [videomae.]embeddings.patch_embeddings.projection,
                  [videomae.]encoder.layer.N.{layernorm_before, attention.attention.{query, key,
                  value, q_bias, v_bias}, attention.output.dense, layernorm_after,
                  intermediate.dense, output.dense}, [videomae.]layernorm, fc_norm, classifier,
                  decoder.decoder_layers.N.*, decoder.norm, decoder.head, encoder_to_decoder,
                  mask_token
A checkpoint may be wrapped ({"model": ...}, {"module": ...}, {"state_dict": ...}) and its keys
prefixed with "module." (DistributedDataParallel).

Canonical form: {canonical name: Entry(tensor, source keys)} with the MCG fine-tuning names for the
encoder (patch_embed.proj.*, blocks.N.*, norm.*, fc_norm.*, head.*, pos_embed) and AdaTosk's names
for the decoder (encoder_to_decoder.weight, mask_token, decoder.blocks.N.*, decoder.norm.*,
decoder.head.*, decoder.pos_embed). blocks.N.attn.qkv.bias is always whole: [q_bias, 0, v_bias]
where the source has separate biases (VideoMAE's key bias is the constant 0), zeros where it has
none. Each entry remembers the source keys it was made from, so that the importer can list every
source key it did not use.
"""

import os
import re
from dataclasses import dataclass, field
from typing import List

import torch

WRAPPERS = ("model", "module", "state_dict", "model_state", "model_ema")


@dataclass
class Entry:
    tensor: torch.Tensor
    sources: List[str] = field(default_factory=list)
    used: bool = False


def load_state_dict(path):
    """A checkpoint file (.pth/.pt/.bin via torch.load, .safetensors) or a Hugging Face model folder
    (pytorch_model.bin or model.safetensors) -> (flat {key: float32 tensor}, how it was unwrapped)."""
    if os.path.isdir(path):
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.exists(os.path.join(path, name)):
                return load_state_dict(os.path.join(path, name))
        raise SystemExit(f"{path}: a folder without model.safetensors or pytorch_model.bin")
    if path.endswith(".safetensors"):
        from adatosk.safetensors_io import read_safetensors
        try:
            tensors, _, _ = read_safetensors(path)
        except ValueError as e:
            raise SystemExit(f"{path}: {e}")
        return {k: torch.from_numpy(v) for k, v in tensors.items()}, "safetensors"
    obj = torch.load(path, map_location="cpu")
    how = "plain state_dict"
    for _ in range(3):                    # {"model": {"module": ...}} happens
        if isinstance(obj, dict):
            inner = [w for w in WRAPPERS if isinstance(obj.get(w), dict)]
            if inner and not any(torch.is_tensor(v) for v in obj.values()):
                how = f"wrapped in {{{inner[0]!r}: ...}}"
                obj = obj[inner[0]]
                continue
        break
    if not isinstance(obj, dict) or not any(torch.is_tensor(v) for v in obj.values()):
        raise SystemExit(f"{path}: no state_dict found (top-level keys: {list(obj)[:10] if isinstance(obj, dict) else type(obj)})")
    sd = {k: v for k, v in obj.items() if torch.is_tensor(v)}
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
        how += ", 'module.' prefix removed"
    return {k: v.float() for k, v in sd.items()}, how


def detect_layout(sd):
    keys = list(sd)
    if any(re.match(r"^(videomae\.)?(embeddings\.patch_embeddings|encoder\.layer\.)", k) for k in keys):
        return "hf"
    if any(k.startswith("encoder.patch_embed.") or k.startswith("encoder.blocks.") for k in keys):
        return "mcg-pretrain"
    if any(k.startswith("patch_embed.proj.") or k.startswith("blocks.") for k in keys):
        return "mcg-finetune"
    raise SystemExit("import_encoder: not a VideoMAE-style checkpoint: no patch_embed.proj, blocks.N, "
                     "encoder.blocks.N or (videomae.)encoder.layer.N keys (first keys: "
                     f"{keys[:8]})")


class _Builder:
    def __init__(self, sd):
        self.sd, self.out = sd, {}

    def take(self, canon, *src):
        if all(s in self.sd for s in src):
            self.out[canon] = Entry(self.sd[src[0]], list(src))
            return True
        return False


def _qkv_bias(b, prefix, q_key, v_key, k_key=None, has_bias_key=None, D=None):
    """Canonical attn.qkv.bias from separate biases; the key bias is 0 in VideoMAE."""
    sd = b.sd
    if has_bias_key and has_bias_key in sd:
        b.out[prefix + "attn.qkv.bias"] = Entry(sd[has_bias_key], [has_bias_key])
        return
    if q_key in sd and v_key in sd:
        q, v = sd[q_key], sd[v_key]
        srcs = [q_key, v_key]
        if k_key and k_key in sd:
            k = sd[k_key]
            srcs.insert(1, k_key)
        else:
            k = torch.zeros_like(q)
        b.out[prefix + "attn.qkv.bias"] = Entry(torch.cat([q, k, v]), srcs)
    elif D is not None:                   # qkv_bias=False models: every projection unbiased
        b.out[prefix + "attn.qkv.bias"] = Entry(torch.zeros(3 * D), [])


def _mcg_block(b, src, dst):
    """MCG block names (blocks.N. under `src`) -> canonical names under `dst`."""
    for name in ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.proj.weight", "attn.proj.bias",
                 "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
                 "mlp.fc2.bias"):
        b.take(dst + name, src + name)
    D = b.sd[src + "attn.qkv.weight"].shape[1] if src + "attn.qkv.weight" in b.sd else None
    _qkv_bias(b, dst, src + "attn.q_bias", src + "attn.v_bias", has_bias_key=src + "attn.qkv.bias", D=D)
    # Layer scale (init_values > 0): x + gamma_1 * attn(..), x + gamma_2 * mlp(..). A per-channel
    # scale of a branch's output is a scale of its last linear layer's rows: folded in exactly.
    for gamma, layer in (("gamma_1", "attn.proj"), ("gamma_2", "mlp.fc2")):
        g = src + gamma
        if g in b.sd and dst + layer + ".weight" in b.out:
            for wb in ("weight", "bias"):
                e = b.out.get(f"{dst}{layer}.{wb}")
                if e is not None:
                    scale = b.sd[g][:, None] if wb == "weight" else b.sd[g]
                    b.out[f"{dst}{layer}.{wb}"] = Entry(e.tensor * scale, e.sources + [g])
    if any(k.startswith(src + "first_attn") for k in b.sd):
        raise SystemExit(f"import_encoder: {src}first_attn...: a local-global block (MAE-DFER's LGI-Former: "
                         "attention inside regions, messenger tokens, cross-attention), not a plain ViT block; "
                         "AdaTosk's blocks attend over all tokens, so these weights would not compute the same "
                         "function and are not converted")


def _hf_block(b, src, dst):
    """HF VideoMAELayer names under `src` -> canonical MCG names under `dst`."""
    att = src + "attention.attention."
    q, k, v = att + "query.weight", att + "key.weight", att + "value.weight"
    if all(x in b.sd for x in (q, k, v)):
        b.out[dst + "attn.qkv.weight"] = Entry(torch.cat([b.sd[q], b.sd[k], b.sd[v]]), [q, k, v])
        D = b.sd[q].shape[1]
        if att + "q_bias" in b.sd:
            _qkv_bias(b, dst, att + "q_bias", att + "v_bias", D=D)
        else:                             # qkv_bias=False: query/key/value.bias where present
            _qkv_bias(b, dst, att + "query.bias", att + "value.bias", k_key=att + "key.bias", D=D)
    pairs = {"norm1": "layernorm_before", "attn.proj": "attention.output.dense", "norm2": "layernorm_after",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    for canon, hf in pairs.items():
        for wb in ("weight", "bias"):
            b.take(f"{dst}{canon}.{wb}", f"{src}{hf}.{wb}")


def _block_indices(sd, pattern):
    return sorted({int(m.group(1)) for k in sd for m in [re.match(pattern, k)] if m})


def canonicalize(sd, layout=None):
    """-> (layout, {canonical name: Entry}) for a flat state_dict of any of the three layouts."""
    layout = layout or detect_layout(sd)
    b = _Builder(sd)
    if layout in ("mcg-finetune", "mcg-pretrain"):
        enc = "encoder." if layout == "mcg-pretrain" else ""
        for wb in ("weight", "bias"):
            b.take(f"patch_embed.proj.{wb}", f"{enc}patch_embed.proj.{wb}")
            b.take(f"norm.{wb}", f"{enc}norm.{wb}")
            b.take(f"fc_norm.{wb}", f"{enc}fc_norm.{wb}")
            b.take(f"head.{wb}", f"{enc}head.{wb}")
        b.take("pos_embed", f"{enc}pos_embed")
        for i in _block_indices(sd, rf"^{re.escape(enc)}blocks\.(\d+)\."):
            _mcg_block(b, f"{enc}blocks.{i}.", f"blocks.{i}.")
        for i in _block_indices(sd, r"^decoder\.blocks\.(\d+)\."):
            _mcg_block(b, f"decoder.blocks.{i}.", f"decoder.blocks.{i}.")
        dec_pairs = {"decoder.norm": "decoder.norm", "decoder.head": "decoder.head"}
        b.take("decoder.pos_embed", "decoder.pos_embed")
    else:
        vm = "videomae." if any(k.startswith("videomae.") for k in sd) else ""
        for wb in ("weight", "bias"):
            b.take(f"patch_embed.proj.{wb}", f"{vm}embeddings.patch_embeddings.projection.{wb}")
            b.take(f"norm.{wb}", f"{vm}layernorm.{wb}")
            b.take(f"fc_norm.{wb}", f"fc_norm.{wb}")
            b.take(f"head.{wb}", f"classifier.{wb}")
        b.take("pos_embed", f"{vm}embeddings.position_embeddings")
        for i in _block_indices(sd, rf"^{re.escape(vm)}encoder\.layer\.(\d+)\."):
            _hf_block(b, f"{vm}encoder.layer.{i}.", f"blocks.{i}.")
        for i in _block_indices(sd, r"^decoder\.decoder_layers\.(\d+)\."):
            _hf_block(b, f"decoder.decoder_layers.{i}.", f"decoder.blocks.{i}.")
        dec_pairs = {"decoder.norm": "decoder.norm", "decoder.head": "decoder.head"}
    for canon, src in dec_pairs.items():
        for wb in ("weight", "bias"):
            b.take(f"{canon}.{wb}", f"{src}.{wb}")
    b.take("encoder_to_decoder.weight", "encoder_to_decoder.weight")
    b.take("mask_token", "mask_token")
    if "patch_embed.proj.weight" not in b.out:
        raise SystemExit(f"import_encoder: layout {layout}: no patch embedding weight found")
    return layout, b.out

