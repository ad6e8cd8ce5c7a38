#!/usr/bin/python3
"""Weighted average of models fine-tuned from one starting point (WiSE-FT, model soups).

  average_weights.py --out AVERAGE.safetensors MODEL.safetensors[:WEIGHT] ...

Models fine-tuned from the same weights stay in one basin of the loss, where the average of their
weights is itself a good model, and often one that holds up better on data unlike the training data
(Wortsman et al., "Robust fine-tuning of zero-shot models", and "Model soups", 2022): the start
weights interpolated with a fine-tuned model keep what the start knew, several fine-tuned models
averaged keep what they share. WEIGHT defaults to 1; the weights are normalised to sum to 1.

Every model must have the same config, labels and tensors (names and shapes); the decoder is kept
only when every model has it. The one exception is the framing the model expects (crop_margin: a
stage trained on a tighter crop): where it differs, --framing-from MODEL says whose the average keeps. The average is written in F32 (export.py makes the shipped F16 file).
Averaging weights that never shared a starting point gives nonsense, and this tool cannot tell: the
metadata records which files went in, so the card can.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402


# The one config key that does not shape a tensor and may differ between stages of one lineage.
FRAMING = "crop_margin"


def architecture(config):
    """-> the config without its framing: what must match for weights to be averaged."""
    d = config.to_dict()
    d.pop(FRAMING, None)
    return d


def parse_ingredient(text):
    """'path[:weight]' -> (path, weight); a weight must be a finite number >= 0."""
    path, sep, weight = text.rpartition(":")
    if not sep or not path:
        return text, 1.0
    try:
        w = float(weight)
    except ValueError:
        return text, 1.0  # a ':' inside the path, no weight
    if not w >= 0 or w == float("inf"):
        raise ValueError(f"{text}: the weight must be a finite number >= 0")
    return path, w


def average_state(states, weights):
    """-> {name: tensor}: the weighted mean of the state dicts (weights summing to 1). Every state
    must have the same names and shapes. Computed in float64 so the order of the inputs does not
    change the result beyond float32 rounding."""
    names = list(states[0])
    for i, s in enumerate(states[1:], 1):
        if list(s) != names:
            diff = sorted(set(s) ^ set(names))
            raise ValueError(f"model {i} has other tensors than model 0: {diff[:5]}")
    out = {}
    for name in names:
        shapes = {tuple(s[name].shape) for s in states}
        if len(shapes) != 1:
            raise ValueError(f"tensor {name}: shapes differ between models: {sorted(shapes)}")
        acc = torch.zeros(states[0][name].shape, dtype=torch.float64)
        for s, w in zip(states, weights):
            acc += w * s[name].to(torch.float64)
        out[name] = acc.to(torch.float32)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", metavar="MODEL[:WEIGHT]")
    ap.add_argument("--out", required=True)
    ap.add_argument("--framing-from", metavar="MODEL",
                    help="where the models' crop_margin differs: the one whose framing the average keeps")
    ap.add_argument("--name", default=None, help="adatosk.name in the metadata (default: the first model's)")
    args = ap.parse_args(argv)
    from adatosk.safetensors_io import TRAINING_ONLY, load_model, save_model

    try:
        ingredients = [parse_ingredient(m) for m in args.models]
    except ValueError as e:
        ap.error(str(e))
    total = sum(w for _, w in ingredients)
    if total <= 0:
        ap.error("the weights sum to 0")
    loaded = [load_model(path) for path, _ in ingredients]
    model0, config0, labels0, meta0 = loaded[0]
    paths = [path for path, _ in ingredients]
    if args.framing_from is not None:
        if args.framing_from not in paths:
            ap.error(f"--framing-from {args.framing_from} is not one of the models")
        config0 = loaded[paths.index(args.framing_from)][1]
    framings = {getattr(c, FRAMING) for _, c, _, _ in loaded}
    if len(framings) > 1 and args.framing_from is None:
        ap.error(f"the models expect different framings ({FRAMING} {sorted(framings, key=str)}): "
                 "name the one to keep with --framing-from")
    for path, (_, config, labels, _) in zip(paths, loaded):
        if architecture(config) != architecture(config0):
            ap.error(f"{path}: its config differs from {paths[0]}'s beyond the framing")
        if labels != labels0:
            ap.error(f"{path}: its labels {labels} differ from {labels0}")
    with_decoder = all(m.with_decoder for m, _, _, _ in loaded)
    states = [{k: v for k, v in m.state_dict().items() if with_decoder or not k.startswith(TRAINING_ONLY)}
              for m, _, _, _ in loaded]
    weights = [w / total for _, w in ingredients]
    try:
        average = average_state(states, weights)
    except ValueError as e:
        ap.error(str(e))

    from adatosk.model import AdaTosk
    model = AdaTosk(config0, with_decoder=with_decoder)
    model.load_state_dict(average, strict=True)
    recipe = ", ".join(f"{path} x {w:.4g}" for (path, _), w in zip(ingredients, weights))
    save_model(args.out, model, config0, labels0, dtype="f32", name=args.name or meta0.get("adatosk.name", "adatosk"),
               license=meta0.get("adatosk.license", "LGPL-2.1-or-later"),
               trained_on=f"weight average of {recipe}", include_decoder=with_decoder)
    print(json.dumps(dict(out=args.out, models=[p for p, _ in ingredients], weights=weights,
                          decoder=with_decoder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
