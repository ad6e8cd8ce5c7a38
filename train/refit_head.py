#!/usr/bin/python3
"""Refit only the classification head of a trained model on other clips (last-layer retraining).

  refit_head.py MODEL.safetensors --train CLIPS.csv [--train ...] --out REFIT.safetensors
                [--l2 1e-3] [--balance-power 0.5] [--balance-identity 0.5] [--json OUT.json]

A model can rank new people's clips well and still put its decision boundary in the wrong place,
because the clips it was fine-tuned on had another mix of labels (Kirichenko et al., "Last layer
re-training is sufficient for robustness to spurious correlations", 2023). Everything before the
head stays as it is: the pooled, normalised feature of every clip (the element's crop, no
augmentation) is computed once, and the head (weight and bias) is fitted to the teacher's soft
labels by weighted cross-entropy (full batch, L-BFGS) with an L2 penalty on the weight. The clips
are weighted like train.py's sampling (--balance-power, --balance-identity), so the fit sees the
same class and identity balance as training did. The file keeps everything else exactly.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402


@torch.no_grad()
def head_features(model, dataset, batch=8):
    """-> [N, D] float64: the input of the head (fc_norm of the mask-weighted pooled tokens)."""
    from evaluate import predict
    pooled = torch.from_numpy(predict(model, dataset, batch=batch, output="pooled"))
    return model.fc_norm(pooled.to(model.head.weight.dtype)).double()


def clip_features(model, config, labels, csv_paths, balance_power=0.5, balance_identity=None):
    """The head's input for every clip of the lists (the element's crop for this model, no
    augmentation) -> (features [N, D], soft targets [N, C], weights [N], identities [N]). Clips are
    weighted like train.py's sampling; each list is weighted as its own set, then weighs as many
    clips as it has."""
    from dataset import ClipDataset, crop_scale_for
    feats, targets, weights, ids = [], [], [], []
    for csv_path in csv_paths:
        ds = ClipDataset(csv_path, config, labels, train=False, cache=False,
                         crop_scale=crop_scale_for(config, csv_path))
        feats.append(head_features(model, ds))
        targets.append(ds.soft_targets())
        w = ds.balanced_weights(balance_power, balance_identity)
        weights.append(w / w.sum() * len(ds))
        ids += [it[2]["video"] for it in ds.items]
        print(f"{len(ds)} clips from {csv_path}", flush=True)
    return torch.cat(feats), np.concatenate(targets), np.concatenate(weights), np.array(ids)


def fit_head(features, targets, weights, l2, init=None, iterations=200):
    """-> (weight [C, D], bias [C]) minimising sum_i w_i CE(targets_i, softmax(W f_i + b)) / sum w
    + l2 / 2 ||W||^2. Convex, so L-BFGS from the old head (or zeros) finds the one minimum."""
    f = torch.as_tensor(features, dtype=torch.float64)
    t = torch.as_tensor(targets, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64)
    w = w / w.sum()
    C, D = t.shape[1], f.shape[1]
    W = torch.zeros(C, D, dtype=torch.float64) if init is None else init[0].detach().double().clone()
    b = torch.zeros(C, dtype=torch.float64) if init is None else init[1].detach().double().clone()
    W.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=iterations, tolerance_grad=1e-9,
                            tolerance_change=1e-12, history_size=20, line_search_fn="strong_wolfe")

    def loss_fn():
        opt.zero_grad()
        logp = torch.log_softmax(f @ W.T + b, dim=1)
        loss = -(w * (t * logp).sum(1)).sum() + 0.5 * l2 * (W * W).sum()
        loss.backward()
        return loss

    opt.step(loss_fn)
    return W.detach(), b.detach(), float(loss_fn())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--train", required=True, action="append", help="clip list CSV (repeatable)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--l2", type=float, default=1e-3, help="L2 penalty on the head's weight")
    ap.add_argument("--balance-power", type=float, default=0.5,
                    help="a class with n clips weighs n**power in all (train.py's --balance-power)")
    ap.add_argument("--balance-identity", type=float, default=None, metavar="Q",
                    help="within a class, an identity with m clips weighs m**Q (train.py's option)")
    ap.add_argument("--json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.l2 >= 0:
        ap.error("--l2 must be >= 0")
    if args.balance_identity is not None and args.balance_identity < 0:
        ap.error("--balance-identity must be >= 0")
    torch.set_num_threads(args.threads)
    from adatosk.safetensors_io import load_model, save_model

    model, config, labels, meta = load_model(args.model)
    model.eval()
    f, t, w, _ = clip_features(model, config, labels, args.train, args.balance_power, args.balance_identity)
    old = (model.head.weight, model.head.bias)
    W, b, loss = fit_head(f, t, w, args.l2, init=old)
    with torch.no_grad():
        before = torch.log_softmax(f @ old[0].double().T + old[1].double(), 1)
        after = torch.log_softmax(f @ W.T + b, 1)
        moved = float((before.argmax(1) != after.argmax(1)).double().mean())
        model.head.weight.copy_(W.to(model.head.weight.dtype))
        model.head.bias.copy_(b.to(model.head.bias.dtype))
    trained_on = (meta.get("adatosk.trained_on", "") + f"; head refitted (L2 {args.l2:g}, balance power "
                  f"{args.balance_power:g}, identity {args.balance_identity}) on {', '.join(args.train)}")
    save_model(args.out, model, config, labels, dtype="f32", name=meta.get("adatosk.name", "adatosk"),
               license=meta.get("adatosk.license", "LGPL-2.1-or-later"), trained_on=trained_on,
               include_decoder=model.with_decoder)
    report = dict(model=args.model, train=args.train, clips=len(t), l2=args.l2, loss=loss,
                  decisions_changed=moved, out=args.out)
    print(f"refit_head: {len(t)} clips, loss {loss:.4f}, {moved:.1%} of their decisions changed; wrote {args.out}")
    if args.json:
        with open(args.json, "w") as fj:
            json.dump(report, fj, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
