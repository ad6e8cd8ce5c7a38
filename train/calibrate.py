#!/usr/bin/python3
"""Temperature scaling (Guo et al., 2017) folded into the model's head.

  calibrate.py MODEL.safetensors VAL/clips.csv --out CALIBRATED.safetensors [--json OUT.json]
               [--bias] [--folds K]

Finds the temperature T > 0 that minimises the negative log-likelihood of the clip labels (the
argmax of each clip's label) under softmax(logits / T) on the validation clips, and writes the model
with the head's weight and bias divided by T: the same file format and spec, the same decisions
(argmax is unchanged), probabilities that say how often the decision is right. Prints the
expected calibration error before and after. The other tensors are copied exactly; the file keeps
its dtype per tensor only when written F32 (export.py makes the shipped F16 file from it). The clips
are cropped as the element crops them for the model (dataset.crop_scale_for).

--bias also fits one bias per class (every class with at least --min-clips clips; the others keep
theirs), jointly with the temperature: the bias half of Guo et al.'s vector scaling. Unlike the
temperature it moves the decisions: a model that ranks new people's clips well but puts the
boundary between two classes in the wrong place for them gets it put back where these clips say.
Because the decisions on the fitting clips then depend on their own labels, --folds K also reports
them honestly: the clips' identities (the `video` column) are dealt into K folds, each fold is
scored under the fit on the other folds, and the pooled scores are reported as "crossfit".
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


def fit_temperature_and_bias(logits, y, fitted, l2=1e-2):
    """-> (T, b [C]) minimising the mean NLL of y under softmax(logits / T + b) + l2 / 2 |b|^2, with
    b = 0 where `fitted` [C] is False (classes too rare here to place). The L2 keeps a class that
    the clips barely tell apart from running off; convex in (1/T, b), so L-BFGS finds the minimum."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.int64)
    mask = torch.as_tensor(np.asarray(fitted, dtype=np.float64))
    inv_t = torch.tensor(1.0 / fit_temperature(z, y), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([inv_t, b], lr=1.0, max_iter=500, tolerance_grad=1e-10,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")

    def loss_fn():
        opt.zero_grad()
        bm = b * mask
        loss = torch.nn.functional.cross_entropy(z * inv_t + bm, y) + 0.5 * l2 * (bm * bm).sum()
        loss.backward()
        return loss

    opt.step(loss_fn)
    if not float(inv_t) > 0:
        raise ValueError("the fitted temperature is not positive: the clips' labels go against the model")
    return 1.0 / float(inv_t), (b * mask).detach().numpy()


def classes_to_fit(y, num_classes, min_clips):
    return np.bincount(y, minlength=num_classes) >= min_clips


def identity_folds(identities, k, seed=0):
    """-> fold index per clip: the distinct identities, shuffled (seeded), dealt round-robin into k
    folds, so that no person is in two folds."""
    names = sorted(set(identities))
    if len(names) < k:
        raise ValueError(f"{len(names)} identities cannot fill {k} folds")
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of = {names[i]: n % k for n, i in enumerate(order)}
    return np.array([fold_of[v] for v in identities])


def crossfit_probs(logits, y, folds, fit):
    """-> probabilities [N, C] where each fold's clips are calibrated by fit(logits, y) (-> T, b)
    on the other folds' clips only."""
    out = np.zeros_like(logits, dtype=np.float64)
    for f in np.unique(folds):
        held = folds == f
        t, b = fit(logits[~held], y[~held])
        out[held] = softmax(logits[held] / t + b)
    return out


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def scale_head_(model, temperature, bias=None):
    """logits / T + c == (W / T) x + (b / T + c): the head absorbs the temperature (and bias c)."""
    with torch.no_grad():
        model.head.weight.div_(temperature)
        model.head.bias.div_(temperature)
        if bias is not None:
            model.head.bias.add_(torch.as_tensor(bias, dtype=model.head.bias.dtype))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("clips", help="validation clip list CSV (teacher or hard labels)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--json")
    ap.add_argument("--bias", action="store_true",
                    help="fit one bias per class as well (moves decisions; see above)")
    ap.add_argument("--min-clips", type=int, default=10,
                    help="--bias: fit a class's bias only if it labels at least this many clips")
    ap.add_argument("--folds", type=int, default=0, metavar="K",
                    help="also report the clips scored under fits on the other K-1 folds of identities")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.folds == 1 or args.folds < 0:
        ap.error("--folds must be 0 (off) or at least 2")
    torch.set_num_threads(args.threads)
    from adatosk.safetensors_io import load_model, save_model
    from dataset import ClipDataset, crop_scale_for
    from evaluate import expected_calibration_error, metrics, predict

    model, config, labels, meta = load_model(args.model)
    model.eval()
    ds = ClipDataset(args.clips, config, labels, train=False, cache=False,
                     crop_scale=crop_scale_for(config, args.clips))
    logits = predict(model, ds, output="logits")
    y = ds.hard_labels()
    C = config.num_classes
    if args.folds > len(ds.identities()):
        ap.error(f"{args.clips}: {len(ds.identities())} identities cannot fill {args.folds} folds")

    def fit(z, yy):
        if args.bias:
            return fit_temperature_and_bias(z, yy, classes_to_fit(yy, C, args.min_clips))
        return fit_temperature(z, yy), np.zeros(C)

    try:
        t, b = fit(logits, y)
    except ValueError as e:
        ap.error(f"{args.clips}: {e}")
    before = expected_calibration_error(softmax(logits), y)
    after = expected_calibration_error(softmax(logits / t + b), y)
    scale_head_(model, t, b if args.bias else None)
    what = f"temperature {t:.4f}" + (" and class biases " + " ".join(f"{v:+.3f}" for v in b) if args.bias else "")
    trained_on = meta.get("adatosk.trained_on", "") + f"; {what} folded into the head ({args.clips})"
    save_model(args.out, model, config, labels, dtype="f32", name=meta.get("adatosk.name", "adatosk"),
               license=meta.get("adatosk.license", "LGPL-2.1-or-later"), trained_on=trained_on,
               include_decoder=model.with_decoder)
    report = dict(temperature=t, ece_before=before, ece_after=after, clips=len(y), validation=args.clips)
    if args.bias:
        report["bias"] = dict(zip(labels, b.tolist()))
    print(f"calibrate: {what} on {len(y)} clips; expected calibration error {before:.3f} -> {after:.3f}; "
          f"wrote {args.out}")
    if args.folds:
        folds = identity_folds([it[2]["video"] for it in ds.items], args.folds)
        try:
            m = metrics(crossfit_probs(logits, y, folds, fit), ds.soft_targets(), labels)
        except ValueError as e:
            ap.error(f"{args.clips}: a fold's fit: {e}")
        report["crossfit"] = dict(folds=args.folds, **m)
        print(f"calibrate: cross-fitted over {args.folds} folds of identities: recall "
              + ", ".join(f"{k} {v:.3f}" for k, v in m["recall"].items())
              + "; AUC " + ", ".join(f"{k} {v:.3f}" for k, v in m["auc"].items())
              + f"; ECE {m['ece']:.3f}; the most predicted class on {m['single_class_share']:.0%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
