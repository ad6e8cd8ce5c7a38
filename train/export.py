#!/usr/bin/python3
"""Trained model -> the .safetensors file the C runtime loads, checked against the C tool first.

  export.py RUN/checkpoint.pt|RUN/model.safetensors --out models/NAME.safetensors \
      [--dtype f16] [--clips VAL/clips.csv] [--n-clips 4] [--tool build/tools/adatosk] \
      [--name NAME] [--trained-on TEXT] [--license SPDX]

Writes an inference file (no decoder) with weights in --dtype (F16 for the shipped model), into a
temporary file; then, on --n-clips clips (from --clips, else random inputs), runs the C tool
(`adatosk run FILE CLIP --keep R --backend cpu --threads 1`, CLIP raw float32 [3][T][H][W]
normalised) and the PyTorch reference in float64 on the very weights of the file, and compares the
probabilities (spec section 9: <= 1e-6; the tool prints 6 decimals, so the bound here is 1e-6 plus
the printing's 5e-7) and the number of kept tokens. Only if every clip agrees is the file moved to
--out. The C side is the built command-line tool (found through --tool, $ADATOSK_BUILD_DIR/tools,
build/tools); --no-check writes without it (not for shipped files).
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from adatosk.config import AdatoskConfig  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import load_model, save_model  # noqa: E402

TOL = 1e-6 + 5e-7


def load_trained(path):
    """-> (model float32, config, labels, metadata dict)."""
    if path.endswith(".pt"):
        ck = torch.load(path, map_location="cpu")
        config = AdatoskConfig.from_dict(ck["config"])
        model = AdaTosk(config, with_decoder=True)
        model.load_state_dict(ck["model"])
        return model, config, ck["labels"], {"steps": ck["step"]}
    model, config, labels, meta = load_model(path)
    return model, config, labels, meta


def find_tool(explicit):
    cands = [explicit] if explicit else []
    if os.environ.get("ADATOSK_BUILD_DIR"):
        cands.append(os.path.join(os.environ["ADATOSK_BUILD_DIR"], "tools", "adatosk"))
    cands.append(os.path.join(os.path.dirname(HERE), "build", "tools", "adatosk"))
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def run_tool(tool, model_path, clip_path, keep):
    r = subprocess.run([tool, "run", model_path, clip_path, "--keep", repr(keep), "--backend", "cpu",
                        "--threads", "1"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{tool} run failed ({r.returncode}): {r.stderr.strip()}")
    probs = {}
    kept = None
    for line in r.stdout.splitlines():
        m = re.match(r"^(\S+)\s+([-+0-9.eE]+)$", line.strip())
        if m:
            probs[m.group(1)] = float(m.group(2))
        m = re.match(r"^kept tokens:\s+(\d+) of (\d+)", line.strip())
        if m:
            kept = int(m.group(1))
    return probs, kept, r.stdout


def check_against_c(tool, path, clips_u8, config, keep, log=print):
    """Compares the C tool with the float64 reference on the file's exact weights."""
    ref, _, labels, _ = load_model(path)
    ref = ref.double().eval()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, x in enumerate(clips_u8):
            clip = x if x.dtype != np.uint8 else None
            if clip is None:
                x01 = torch.from_numpy(x).permute(3, 0, 1, 2).float() / 255.0
                clip = ref.normalize(x01[None].double()).float()[0].numpy()
            clip = np.ascontiguousarray(clip, dtype="<f4")
            cpath = os.path.join(tmp, f"clip{i}.f32")
            clip.tofile(cpath)
            with torch.no_grad():
                out = ref(torch.from_numpy(clip.astype(np.float64))[None], keep_ratio=keep)
            p_ref = out["probs"][0].numpy()
            p_c, kept, text = run_tool(tool, path, cpath, keep)
            if set(p_c) != set(labels):
                raise RuntimeError(f"the tool printed labels {sorted(p_c)}, the file has {labels}:\n{text}")
            diff = max(abs(p_c[l] - p_ref[j]) for j, l in enumerate(labels))
            worst = max(worst, diff)
            k_ref = out["kept"].shape[1]
            log(f"export check clip {i}: max |p_C - p_torch64| = {diff:.2e}, kept {kept} (reference {k_ref}), "
                f"label {labels[int(np.argmax(p_ref))]}")
            if kept != k_ref or not diff <= TOL:
                raise RuntimeError(f"clip {i}: C and PyTorch disagree (diff {diff:.3e}, kept {kept} vs {k_ref})")
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="train.py's checkpoint.pt or model.safetensors")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="f16", choices=["f32", "f16", "bf16"])
    ap.add_argument("--clips", help="clip list CSV whose first clips are the check inputs")
    ap.add_argument("--n-clips", type=int, default=4)
    ap.add_argument("--keep", type=float, default=None, help="keep ratio of the check (default: the model's)")
    ap.add_argument("--tool")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--name", default=None)
    ap.add_argument("--license", default="LGPL-2.1-or-later")
    ap.add_argument("--trained-on", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crop-margin", type=float, default=None,
                    help="record this element crop margin in the model (default: the training's)")
    args = ap.parse_args(argv)

    model, config, labels, meta = load_trained(args.source)
    if args.crop_margin is not None:
        config = config.replace(crop_margin=args.crop_margin)
    name = args.name or os.path.splitext(os.path.basename(args.out))[0]
    trained_on = args.trained_on or meta.get("adatosk.trained_on", "unknown")
    keep = args.keep if args.keep is not None else config.keep_ratio
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".safetensors", dir=out_dir)
    os.close(fd)
    try:
        save_model(tmp, model, config, labels, dtype=args.dtype, name=name, license=args.license,
                   trained_on=trained_on, include_decoder=False)
        if not args.no_check:
            tool = find_tool(args.tool)
            if tool is None:
                raise SystemExit("export: no adatosk tool (give --tool, set ADATOSK_BUILD_DIR, or build/); "
                                 "--no-check skips the C comparison")
            if args.clips:
                from dataset import read_clip_list, load_clip
                items = read_clip_list(args.clips, labels)[:args.n_clips]
                H, W = config.img_hw
                clips = [load_clip(p, config.num_frames, H, W) for p, _, _ in items]
            else:
                g = np.random.default_rng(args.seed)
                H, W = config.img_hw
                clips = [g.integers(0, 256, (config.num_frames, H, W, 3), dtype=np.uint8)
                         for _ in range(args.n_clips)]
            worst = check_against_c(tool, tmp, clips, config, keep)
            print(f"export: C ({tool}) vs PyTorch float64 on {len(clips)} clips: max abs probability "
                  f"difference {worst:.2e} (bound {TOL:.1e})")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)              # mkstemp made it 0600
        os.replace(tmp, args.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"export: {args.out} ({args.dtype.upper()}, {os.path.getsize(args.out)} bytes, no decoder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
