#!/usr/bin/python3
"""Writes the parity fixtures of the C tests (spec section 9).

  gen_parity_fixtures.py --out DIR

For each case: DIR/<case>/model.safetensors, DIR/<case>/clip.f32 (little-endian float32
[3][T][H][W], already normalised) and DIR/<case>/expected.json (the reference run in float64 on the
file's exact weights and the float32 clip); DIR/cases.txt lists the cases. Clip seeds are searched
so that the K-th and (K+1)-th largest mask values are at least 1e-4 apart.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from adatosk.config import AdatoskConfig, named_config, kept_tokens  # noqa: E402
from adatosk.model import AdaTosk, perturb_for_tests_  # noqa: E402
from adatosk.safetensors_io import load_model, save_model  # noqa: E402

MIN_GAP = 1e-4


def small(**kw):
    d = dict(num_frames=8, img_size=48, tubelet_size=2, patch_size=16, embed_dim=64, depth=3,
             num_heads=2, mlp_ratio=4.0, atsm_layer=1, keep_ratio=0.5, num_classes=7,
             norm_eps=1e-6, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    d.update(kw)
    return AdatoskConfig.from_dict(d)


def mixed_dtypes(model):
    """Blocks in F16, ATSM and head in BF16, everything else F32."""
    out = {}
    for k in model.state_dict():
        if k.startswith("blocks."):
            out[k] = "f16"
        elif k.startswith(("atsm.", "head.")):
            out[k] = "bf16"
    return out


# name -> (config, file dtype, run-time keep ratio (None: the config's), clip kind, decoder)
CASES = {
    "tiny": (named_config("adatosk-tiny"), "f32", None, "moving", True),
    "odd": (small(embed_dim=96, depth=5, num_heads=4, atsm_layer=3, img_size=[48, 64],
                  keep_ratio=0.37, norm_eps=1e-5), "f32", None, "moving", False),
    "keep1": (small(num_frames=6, img_size=[32, 48], keep_ratio=1.0), "f32", None, "moving", False),
    "override": (small(depth=3, num_heads=4, atsm_layer=2, keep_ratio=0.6), "f32", 0.25, "moving", False),
    "frozen": (small(depth=4, atsm_layer=2), "f32", None, "frozen", False),
    "f16": (small(embed_dim=128, depth=4, num_heads=4, atsm_layer=2, img_size=64), "f16", None,
            "moving", False),
    "bf16": (small(embed_dim=128, depth=4, num_heads=4, atsm_layer=2, img_size=64), "bf16", None,
             "moving", False),
    "mixed": (small(embed_dim=128, depth=4, num_heads=4, atsm_layer=2, img_size=64), "mixed", None,
              "moving", False),
    "l1zero": (small(num_frames=4, img_size=[32, 64], atsm_layer=0), "f32", None, "noise", False),
    "l1full": (small(num_frames=4, img_size=[32, 64], atsm_layer=3), "f32", None, "noise", False),
    "oneslot": (small(num_frames=2, img_size=64, keep_ratio=0.4), "f32", None, "moving", False),
}


def make_clip(cfg, kind, seed):
    """float32 [3, T, H, W], already-normalised scale (about N(0, 1))."""
    rng = np.random.default_rng(seed)
    T, (H, W) = cfg.num_frames, cfg.img_hw
    if kind == "noise":
        return rng.standard_normal((3, T, H, W)).astype(np.float32)
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    clip = np.zeros((3, T, H, W))
    # A few smooth blobs and gratings moving at uneven speeds, so some moments move more.
    speed = rng.uniform(0.0, 3.0, size=T) if kind == "moving" else np.zeros(T)
    pos = np.cumsum(speed)
    for _ in range(4):
        cy, cx = rng.uniform(0, H), rng.uniform(0, W)
        vy, vx = rng.normal(size=2)
        sigma = rng.uniform(4, 12)
        amp = rng.normal(size=3)
        kx, ky, ph = rng.normal(0, 0.3, size=3)
        for t in range(T):
            by, bx = cy + vy * pos[t], cx + vx * pos[t]
            blob = np.exp(-((y - by) ** 2 + (x - bx) ** 2) / (2 * sigma ** 2))
            grating = 0.3 * np.sin(kx * x + ky * y + ph + 0.5 * pos[t])
            clip[:, t] += amp[:, None, None] * (blob + grating)
    noise = rng.standard_normal((3, 1 if kind == "frozen" else T, H, W))
    clip += 0.3 * noise
    clip = (clip - clip.mean()) / clip.std()
    return clip.astype(np.float32)


def boundary_gap(m, k):
    """Gap between the K-th and (K+1)-th largest mask values (inf when K == N)."""
    if k >= m.numel():
        return math.inf
    s = torch.sort(m, descending=True).values
    return float(s[k - 1] - s[k])


def nmse(a, b):
    return float(((a - b) ** 2).sum() / (b ** 2).sum())


def maxerr(a, b):
    return float((a.double() - b).abs().max())


def generate_case(out_dir, name, cfg, dtype, keep, kind, decoder, seed):
    t0 = time.time()
    case_dir = os.path.join(out_dir, name)
    os.makedirs(case_dir, exist_ok=True)
    torch.manual_seed(seed)
    model = AdaTosk(cfg, with_decoder=decoder)
    perturb_for_tests_(model, torch.Generator().manual_seed(seed))
    path = os.path.join(case_dir, "model.safetensors")
    if dtype == "mixed":
        save_model(path, model, cfg, dtype="f32", dtypes=mixed_dtypes(model), name=f"parity-{name}",
                   include_decoder=decoder)
    else:
        save_model(path, model, cfg, dtype=dtype, name=f"parity-{name}", include_decoder=decoder)
    # The reference runs on exactly what the file holds.
    model32, cfg, _, _ = load_model(path)
    model32.eval()
    model64 = load_model(path)[0].double().eval()
    keep_ratio = cfg.keep_ratio if keep is None else keep
    k = kept_tokens(cfg.num_tokens, keep_ratio)
    for clip_seed in range(seed * 1000, seed * 1000 + 200):
        clip = make_clip(cfg, kind, clip_seed)
        x = torch.from_numpy(clip)[None]
        with torch.no_grad():
            out = model64(x.double(), keep_ratio)
        gap = boundary_gap(out["m"][0], k)
        if gap >= MIN_GAP:
            break
    else:
        raise SystemExit(f"{name}: no clip seed gives a mask gap >= {MIN_GAP}")
    with torch.no_grad():
        out32 = model32(x, keep_ratio)
    if kind == "frozen":
        assert torch.all(out["g"] == 0), "frozen clip: g must be exactly 0"
    for key in ("logits", "probs", "g", "m", "kept_fraction"):
        assert torch.isfinite(out[key]).all(), f"{name}: non-finite {key}"

    clip.astype("<f4").tofile(os.path.join(case_dir, "clip.f32"))
    expected = {
        "keep_ratio": keep_ratio,
        "logits": out["logits"][0].tolist(),
        "probs": out["probs"][0].tolist(),
        "significance": out["g"][0].tolist(),
        "kept_fraction": out["kept_fraction"][0].tolist(),
        "token_mask": out["m"][0].tolist(),
        "kept_tokens": out["kept"][0].tolist(),
    }
    with open(os.path.join(case_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
    same_set = torch.equal(out32["kept"], out["kept"])
    print(f"{name:9s} N={cfg.num_tokens:4d} K={k:4d} dtype={dtype:5s} gap={gap:.2e} "
          f"clip_seed={clip_seed} f32-vs-f64: logits nmse={nmse(out32['logits'].double(), out['logits']):.1e} "
          f"g/m max err={max(maxerr(out32['g'], out['g']), maxerr(out32['m'], out['m'])):.1e} "
          f"kept {'same' if same_set else 'DIFFERENT'} ({time.time() - t0:.1f}s)", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cases", nargs="*", default=list(CASES), help="subset of: " + " ".join(CASES))
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    for name in args.cases:
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}")
        generate_case(args.out, name, *CASES[name], seed=list(CASES).index(name) + 1)
    with open(os.path.join(args.out, "cases.txt"), "w") as f:
        f.write("".join(n + "\n" for n in args.cases))
    print(f"{len(args.cases)} cases in {args.out} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
