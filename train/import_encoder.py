#!/usr/bin/python3
"""A pre-trained VideoMAE-style ViT -> an initial AdaTosk model file for `train.py --init`.

  import_encoder.py CHECKPOINT --out init.safetensors [--config adatosk-b] [--set KEY=JSON]...
      [--heads H] [--decoder-heads H] [--labels JSON] [--head-labels NAMES] [--report R.json]

CHECKPOINT: an MCG-NJU VideoMAE fine-tuning or pre-training checkpoint (.pth; {"model": ...} and
{"module": ...} wrappers and "module." prefixes are undone), a Hugging Face VideoMAEModel /
VideoMAEForVideoClassification / VideoMAEForPreTraining (.bin, .safetensors or its folder); see
videomae_layouts.py for the key names of each.

From the tensors' shapes: width D, depth L, tubelet, patch, MLP ratio, and with a decoder its width
and depth. Not in the shapes: the number of heads (--heads; else a Hugging Face config.json beside the
checkpoint; else the --config's), frames and frame size (the --config's, or --set num_frames=...,
img_size=...), atsm_layer and keep_ratio (the --config's). --config defaults to the named
configuration of the same width. A --set that contradicts the checkpoint is refused.

Mapped: patch embedding, every encoder block (qkv bias = [q_bias, 0, v_bias]: VideoMAE has no key
bias), the final norm as fc_norm (fc_norm when the source has one; a per-token `norm` otherwise,
see the report), and with a pre-training checkpoint encoder_to_decoder, mask_token and the decoder
(blocks, norm, head: VideoMAE's target tube is (dt, dy, dx, c) like AdaTosk's). The classification
head only with --head-labels (the source head's class names in its row order, comma-separated; the
rows are reordered to --labels). Left at their initial values, and listed: the ATSM (norm,
prototypes, alpha_dyn, alpha_sem, beta), the head without --head-labels, the decoder without one in
the source. Every source key not used is listed too. Position embeddings: VideoMAE's is the fixed
sinusoid table over token indices, which AdaTosk computes itself; a stored table is compared with it
(a learned one cannot be carried over: refused unless --ignore-pos-embed).
"""

import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from adatosk.config import DEFAULT_LABELS, NAMED_CONFIGS, named_config, parse_overrides  # noqa: E402
from adatosk.model import AdaTosk, sinusoid_pe  # noqa: E402
from adatosk.safetensors_io import load_model, save_model  # noqa: E402
from videomae_layouts import canonicalize, load_state_dict  # noqa: E402

BLOCK_PARAMS = ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
                "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                "mlp.fc2.weight", "mlp.fc2.bias")
PE_TOLERANCE = 1e-4


def refuse(msg):
    raise SystemExit(f"import_encoder: {msg}")


def count_blocks(canon, prefix):
    idx = sorted({int(k[len(prefix):].split(".")[0]) for k in canon if k.startswith(prefix)})
    if idx != list(range(len(idx))):
        refuse(f"{prefix}N: block indices {idx} are not 0..{len(idx) - 1}")
    return len(idx)


def hf_config_near(path):
    """A Hugging Face config.json in the checkpoint's folder (or the folder given), else {}."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    cfg = os.path.join(folder, "config.json")
    if os.path.exists(cfg):
        with open(cfg) as f:
            d = json.load(f)
        if d.get("model_type") == "videomae":
            return d
    return {}


def infer_shapes(canon):
    """What the tensors' shapes say -> dict of config values (and the source's decoder head width)."""
    w = canon["patch_embed.proj.weight"].tensor
    if w.dim() != 5 or w.shape[1] != 3 or w.shape[3] != w.shape[4]:
        refuse(f"patch embedding weight {list(w.shape)} is not a Conv3d [D, 3, tubelet, p, p] "
               "(2-d image ViTs need inflating first)")
    D, tau, p = int(w.shape[0]), int(w.shape[2]), int(w.shape[3])
    L = count_blocks(canon, "blocks.")
    if L == 0:
        refuse("no encoder blocks")
    hidden = int(canon["blocks.0.mlp.fc1.weight"].tensor.shape[0])
    found = dict(embed_dim=D, tubelet_size=tau, patch_size=p, depth=L, mlp_ratio=hidden / D)
    if "decoder.blocks.0.norm1.weight" in canon:
        Dd = int(canon["decoder.blocks.0.norm1.weight"].tensor.shape[0])
        found.update(decoder_embed_dim=Dd, decoder_depth=count_blocks(canon, "decoder.blocks."))
        dh = int(canon["decoder.blocks.0.mlp.fc1.weight"].tensor.shape[0])
        if dh != int(math.floor(found["mlp_ratio"] * Dd + 0.5)):
            refuse(f"the decoder's MLP is {dh} wide for width {Dd}, the encoder's ratio is {hidden / D:g}: "
                   "AdaTosk uses one mlp_ratio for both")
    return found


def build_config(args, found, hf):
    """The AdaTosk config: --config (default: the named one of the checkpoint's width), the shapes'
    values, --set, heads from --heads / config.json / --set / --config; contradictions refused."""
    same_width = [n for n, c in NAMED_CONFIGS.items() if c["embed_dim"] == found["embed_dim"]]
    name = args.config or (same_width[0] if same_width else "adatosk-b")
    notes = [f"config: {name}" + ("" if args.config else " (the named configuration of this width)" if same_width
                                  else " (no named configuration has this width: check --config/--set)")]
    overrides = parse_overrides(args.set)
    for k, v in found.items():
        if k in overrides and overrides[k] != v:
            refuse(f"--set {k}={overrides[k]} but the checkpoint has {k} = {v}")
    d = dict(NAMED_CONFIGS[name], **found)
    d.update(overrides)
    for key, flag, hf_key, option in (("num_heads", args.heads, "num_attention_heads", "--heads"),
                                      ("decoder_num_heads", args.decoder_heads, "decoder_num_attention_heads",
                                       "--decoder-heads")):
        chosen, why = d.get(key), ("--set" if key in overrides else f"--config {name}")
        for value, source in ((hf.get(hf_key), "config.json"), (flag, option)):
            if value:
                if key in overrides and overrides[key] != value:
                    refuse(f"--set {key}={overrides[key]} but {source} says {value}")
                if source == option and hf.get(hf_key) and hf[hf_key] != value:
                    refuse(f"{option} {value} but config.json says {hf[hf_key]}")
                chosen, why = value, source
        width = d["embed_dim"] if key == "num_heads" else d.get("decoder_embed_dim")
        if width and (not chosen or width % chosen):
            refuse(f"{key} {chosen} (from {why}) does not divide the width {width}: give {option}")
        d[key] = chosen
        notes.append(f"{key} {chosen}: from {why} (heads are not in the tensors' shapes)")
    if "layer_norm_eps" in hf and "norm_eps" not in overrides:
        d["norm_eps"] = float(hf["layer_norm_eps"])
        notes.append(f"norm_eps {d['norm_eps']:g} from config.json")
    if args.norm_eps is not None:
        d["norm_eps"] = args.norm_eps
    d["atsm_layer"] = min(d["atsm_layer"], d["depth"])
    try:
        return named_config(name, **d), notes
    except ValueError as e:
        refuse(f"the config does not hold: {e}")


def check_pos_embed(canon, key, dim, n_target, args, notes, what):
    if key not in canon:
        if what == "encoder":
            notes.append(f"position table: not stored (VideoMAE's fixed sinusoid over token indices); AdaTosk "
                         f"computes it for its {n_target} tokens. An encoder pre-trained on another grid "
                         "(VideoMAE's 16x224x224: 1568 tokens; MAE-DFER's 16x160x160: 800) keeps each index's "
                         "embedding, not each place's: fine-tuning has to adapt")
        return
    pe = canon[key].tensor.reshape(-1, canon[key].tensor.shape[-1])
    if pe.shape[1] != dim:
        refuse(f"{what} position table is {list(pe.shape)} for width {dim}")
    ref = sinusoid_pe(torch.arange(pe.shape[0]), dim, torch.float64)
    diff = float((pe.double() - ref).abs().max())
    if diff <= PE_TOLERANCE:
        notes.append(f"{what} position table: the fixed sinusoid over {pe.shape[0]} tokens (max diff {diff:.1e}); "
                     f"AdaTosk computes the same table for its {n_target} tokens" +
                     ("" if pe.shape[0] == n_target else
                      " -- a different token grid: the table is over token indices (t-major), so a token "
                      "keeps its index's embedding, not its place's; fine-tuning has to adapt"))
        canon[key].used = True
        return
    if not args.ignore_pos_embed:
        refuse(f"{what} position table {list(pe.shape)} is learned (max diff {diff:.2f} from the sinusoid "
               "table), and AdaTosk's is the fixed sinusoid (spec section 1): it cannot be carried over. "
               "--ignore-pos-embed imports the rest and leaves it out")
    notes.append(f"{what} position table: learned, left out (--ignore-pos-embed)")


def map_tensors(canon, model, config, args, notes):
    """-> {AdaTosk name: tensor} for everything the checkpoint provides, shapes checked."""
    state = model.state_dict()
    mapped = {}

    def put(dst, src):
        t = canon[src].tensor
        if tuple(t.shape) != tuple(state[dst].shape):
            refuse(f"{src} {list(t.shape)} does not fit AdaTosk's {dst} {list(state[dst].shape)}")
        mapped[dst] = (t, src)

    put("patch_embed.proj.weight", "patch_embed.proj.weight")
    if "patch_embed.proj.bias" in canon:
        put("patch_embed.proj.bias", "patch_embed.proj.bias")
    for i in range(config.depth):
        for n in BLOCK_PARAMS:
            if f"blocks.{i}.{n}" not in canon:
                refuse(f"encoder block {i} has no {n}")
            put(f"blocks.{i}.{n}", f"blocks.{i}.{n}")
    for wb in ("weight", "bias"):
        if f"fc_norm.{wb}" in canon:
            put(f"fc_norm.{wb}", f"fc_norm.{wb}")
        elif f"norm.{wb}" in canon:
            put(f"fc_norm.{wb}", f"norm.{wb}")
    if "fc_norm.weight" not in canon and "norm.weight" in canon:
        notes.append("fc_norm <- the source's per-token final norm: AdaTosk normalises the pooled "
                     "feature instead (LN of the mean, not the mean of LNs), and its reconstruction "
                     "branch has no norm before encoder_to_decoder; both are close, not equal")
    if args.head_labels:
        names = [s.strip() for s in args.head_labels.split(",")]
        if "head.weight" not in canon:
            refuse("--head-labels but the checkpoint has no classification head")
        w, b = canon["head.weight"].tensor, canon["head.bias"].tensor
        if w.shape[0] != len(names):
            refuse(f"--head-labels names {len(names)} classes, the source head has {w.shape[0]}")
        missing = [l for l in model_labels(args, config) if l not in names]
        if missing:
            refuse(f"--head-labels lacks the model's classes {missing}")
        order = [names.index(l) for l in model_labels(args, config)]
        if w.shape[1] != config.embed_dim:
            refuse(f"head.weight {list(w.shape)} for width {config.embed_dim}")
        mapped["head.weight"] = (w[order], "head.weight")
        mapped["head.bias"] = (b[order], "head.bias")
        notes.append(f"head rows reordered from {names} to {model_labels(args, config)}")
    if model.with_decoder and "decoder.blocks.0.norm1.weight" in canon:
        put("encoder_to_decoder.weight", "encoder_to_decoder.weight")
        if "mask_token" in canon:
            put("mask_token", "mask_token")
        for i in range(config.decoder_depth):
            for n in BLOCK_PARAMS:
                put(f"decoder.blocks.{i}.{n}", f"decoder.blocks.{i}.{n}")
        for n in ("norm.weight", "norm.bias", "head.weight", "head.bias"):
            put(f"decoder.{n}", f"decoder.{n}")
        notes.append("decoder: VideoMAE normalises each tube's target per channel, AdaTosk over the "
                     "whole tube (spec section 5): the head's outputs are close, not the same target")
    return mapped


def model_labels(args, config):
    return json.loads(args.labels) if args.labels else list(DEFAULT_LABELS[:config.num_classes])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True, help="the initial model file (.safetensors with the decoder)")
    ap.add_argument("--config", choices=sorted(NAMED_CONFIGS),
                    help="named configuration to start from (default: the one of the checkpoint's width)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="config override")
    ap.add_argument("--heads", type=int, help="attention heads of the encoder (not in the shapes)")
    ap.add_argument("--decoder-heads", type=int, help="attention heads of the decoder")
    ap.add_argument("--norm-eps", type=float, help="LayerNorm eps (MCG-NJU: 1e-6; Hugging Face: 1e-12)")
    ap.add_argument("--labels", help="JSON list of the model's class names (default: face-api order)")
    ap.add_argument("--head-labels", help="the source head's class names in its row order (comma-separated): "
                                          "map the head, reordered to --labels")
    ap.add_argument("--ignore-pos-embed", action="store_true",
                    help="import a checkpoint with a learned position table, leaving the table out")
    ap.add_argument("--seed", type=int, default=0, help="seed of the tensors left at their initial values")
    ap.add_argument("--report", help="also write the report as JSON")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sd, how = load_state_dict(args.checkpoint)
    layout, canon = canonicalize(sd)
    hf = hf_config_near(args.checkpoint) if layout == "hf" else {}
    if layout == "hf" and not hf and args.norm_eps is None and not any(s.startswith("norm_eps=") for s in args.set):
        args.norm_eps = 1e-12            # transformers' VideoMAEConfig default
    found = infer_shapes(canon)
    config, notes = build_config(args, found, hf)
    labels = model_labels(args, config)
    if len(labels) != config.num_classes:
        refuse(f"{len(labels)} labels for {config.num_classes} classes")
    check_pos_embed(canon, "pos_embed", config.embed_dim, config.num_tokens, args, notes, "encoder")
    if config.has_decoder:
        check_pos_embed(canon, "decoder.pos_embed", config.decoder_embed_dim, config.num_tokens, args, notes,
                        "decoder")

    torch.manual_seed(args.seed)
    model = AdaTosk(config, with_decoder=True)
    mapped = map_tensors(canon, model, config, args, notes)
    with torch.no_grad():
        state = model.state_dict()
        for dst, (t, src) in mapped.items():
            state[dst].copy_(t)
            canon[src].used = True
    left = [k for k in model.state_dict() if k not in mapped]
    used_src = {s for e in canon.values() if e.used for s in e.sources}
    unused = sorted(k for k in sd if k not in used_src)

    save_model(args.out, model, config, labels, dtype="f32", name=os.path.splitext(os.path.basename(args.out))[0],
               trained_on=f"initialised from {os.path.basename(args.checkpoint)} ({layout} layout); "
                          "not fine-tuned", include_decoder=True)
    # The file must hold exactly what was mapped: read it back as train.py --init will.
    back, _, _, _ = load_model(args.out)
    bstate = back.state_dict()
    for dst, (t, src) in mapped.items():
        if not torch.equal(bstate[dst], t.float()):
            refuse(f"{args.out}: {dst} differs from {src} after writing")

    n_src = sum(1 for e in canon.values() if e.used for _ in e.sources)
    print(f"import_encoder: {args.checkpoint}: {layout} layout ({how}), {len(sd)} tensors")
    print(f"  shapes: width {config.embed_dim}, depth {config.depth}, tubelet {config.tubelet_size}, "
          f"patch {config.patch_size}, MLP ratio {config.mlp_ratio:g}"
          + (f", decoder width {found['decoder_embed_dim']} depth {found['decoder_depth']}"
             if "decoder_embed_dim" in found else ", no decoder"))
    print(f"  AdaTosk: {config.num_frames} frames of {config.img_hw[0]}x{config.img_hw[1]}, {config.num_tokens} "
          f"tokens, {config.num_heads} heads, ATSM after block {config.atsm_layer}, keep {config.keep_ratio}, "
          f"{config.num_classes} classes {labels}")
    for n in notes:
        print(f"  note: {n}")
    print(f"  mapped {len(mapped)} AdaTosk tensors from {n_src} source tensors")
    print(f"  source keys not used ({len(unused)}):" + ("".join(f"\n    {k} {list(sd[k].shape)}" for k in unused)
                                                      if unused else " none"))
    print(f"  AdaTosk tensors left at their initial values ({len(left)}):" +
          ("".join(f"\n    {k} {list(model.state_dict()[k].shape)}" for k in left) if left else " none"))
    print(f"import_encoder: wrote {args.out}; next: train.py --init {args.out} --train ...")
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"layout": layout, "unwrapped": how, "config": config.to_dict(), "labels": labels,
                       "mapped": {d: s for d, (_, s) in mapped.items()}, "unused_source_keys": unused,
                       "left_at_init": left, "notes": notes}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
