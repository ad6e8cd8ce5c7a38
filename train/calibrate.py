#!/usr/bin/python3
"""Temperature scaling (Guo et al., 2017) folded into the model's head.

  calibrate.py MODEL.safetensors VAL/clips.csv --out CALIBRATED.safetensors [--json OUT.json]

Finds the temperature T > 0 that minimises the negative log-likelihood of the clip labels (the
argmax of each clip's label) under softmax(logits / T) on the validation clips, and writes the model
with the head's weight and bias divided by T: the same file format and spec, the same decisions
(argmax is unchanged), probabilities that say how often the decision is right. Prints the
expected calibration error before and after. The other tensors are copied exactly; the file keeps
its dtype per tensor only when written F32 (export.py makes the shipped F16 file from it). The clips
are cropped as the element crops them for the model (dataset.crop_scale_for).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402


def fit_temperature(logits, y):
    """-> T minimising the mean NLL of labels y under softmax(logits / T): a golden-section search
    on log T in [1/20, 20] (the NLL is unimodal in T for fixed logits)."""
    logits = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.int64)

    def nll(log_t):
        return float(torch.nn.functional.cross_entropy(logits / np.exp(log_t), y))

    a, b = np.log(1 / 20), np.log(20)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(80):
        if nll(c) < nll(d):
            b, d = d, c
            c = b - g * (b - a)
        else:
            a, c = c, d
            d = a + g * (b - a)
    return float(np.exp((a + b) / 2))


def scale_head_(model, temperature):
    """logits / T == (W / T) x + b / T: the head absorbs the temperature."""
    with torch.no_grad():
        model.head.weight.div_(temperature)
        model.head.bias.div_(temperature)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("clips", help="validation clip list CSV (teacher or hard labels)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from adatosk.safetensors_io import load_model, save_model
    from dataset import ClipDataset, crop_scale_for
    from evaluate import expected_calibration_error, predict

    model, config, labels, meta = load_model(args.model)
    model.eval()
    ds = ClipDataset(args.clips, config, labels, train=False, cache=False,
                     crop_scale=crop_scale_for(config, args.clips))
    logits = predict(model, ds, output="logits")
    y = ds.hard_labels()
    t = fit_temperature(logits, y)

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    before = expected_calibration_error(softmax(logits), y)
    after = expected_calibration_error(softmax(logits / t), y)
    scale_head_(model, t)
    trained_on = meta.get("adatosk.trained_on", "") + f"; temperature {t:.4f} folded into the head ({args.clips})"
    save_model(args.out, model, config, labels, dtype="f32", name=meta.get("adatosk.name", "adatosk"),
               license=meta.get("adatosk.license", "LGPL-2.1-or-later"), trained_on=trained_on,
               include_decoder=model.with_decoder)
    report = dict(temperature=t, ece_before=before, ece_after=after, clips=len(y), validation=args.clips)
    print(f"calibrate: T = {t:.4f} on {len(y)} clips; expected calibration error {before:.3f} -> {after:.3f}; "
          f"wrote {args.out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
