#!/usr/bin/python3
"""Evaluates a model against clip labels (hard: people's labels; soft: a teacher's probabilities).

  evaluate.py MODEL.safetensors VAL/clips.csv [--keep R] [--min-clips 3] [--per-video] [--json OUT.json]

Reports, against the argmax of each clip's label: the field's two numbers, UAR (unweighted average
recall: the mean of the per-class recalls over the classes present) and WAR (weighted average
recall: the accuracy), with the recall of every class present; separately for the clips with hard
labels and those with soft labels when the list mixes them. Then per-class recall for the classes
that have at least --min-clips clips, the confusion matrix (rows: label, columns: prediction), the
AUC of each such class's probability (that class vs the rest; Mann-Whitney, ties count half), the
expected calibration error of the confidence (the top probability), and the label distribution.
--per-video scores videos instead of clips (the DFEW/FERV39k/MAFW protocols: one sample per video):
the mean of the probabilities of a video's clips (the clip list's `video` column) against its label.
Inference exactly as in the element: no hard mask, ATSM, top-K.
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
def predict(model, dataset, batch=8, keep_ratio=None, output="probs"):
    """The model's `output` ("probs" or "logits") [N, C] on every clip of a ClipDataset (no
    augmentation)."""
    out = []
    for i in range(0, len(dataset), batch):
        x01 = torch.stack([dataset.model_input(j) for j in range(i, min(i + batch, len(dataset)))])
        x = model.normalize(x01.to(next(model.parameters()).dtype))
        out.append(model(x, keep_ratio=keep_ratio)[output].double().numpy())
    return np.concatenate(out)


def auc(scores, positive):
    """Area under the ROC curve of `scores` for the boolean `positive` (NaN if one class is empty)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    npos, nneg = positive.sum(), (~positive).sum()
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    # Average ranks over ties, in whole arrays (validate.py's bootstrap calls this thousands of
    # times): a run of equal scores from position i to j gets (i + j) / 2 + 1; NaN equals nothing.
    first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    counts = np.diff(np.r_[first, len(s)])
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(first + (counts - 1) / 2.0 + 1.0, counts)
    return float((ranks[positive].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def within_group_auc(scores, positive, groups):
    """AUC over the (positive, negative) pairs of the same group (person) only: how well `scores`
    rank one person's clips, whatever they say about who is who. auc() also counts pairs of two
    people, which a model can order by identity alone. Each group weighs as many pairs as it
    holds; NaN if no group has both classes."""
    scores, positive, groups = np.asarray(scores), np.asarray(positive, dtype=bool), np.asarray(groups)
    total, pairs = 0.0, 0
    for g in dict.fromkeys(groups.tolist()):
        sel = groups == g
        n = int(positive[sel].sum()) * int((~positive[sel]).sum())
        if n:
            total += auc(scores[sel], positive[sel]) * n
            pairs += n
    return total / pairs if pairs else float("nan")


def auc_interval(scores, positive, groups, block=8, n=1000, seed=0, level=0.95):
    """A `level` interval for auc(scores, positive) by a block bootstrap: clips of one video or track
    (`groups`, in time order) come in runs of `block` consecutive clips, and whole runs are drawn
    with replacement. Neighbouring clips overlap and look alike, so resampling single clips would
    make a few dozen independent moments look like hundreds. -> (low, high), NaN where a class is
    empty."""
    positive = np.asarray(positive, dtype=bool)
    runs, start = [], 0
    for i in range(1, len(groups) + 1):
        if i == len(groups) or groups[i] != groups[start] or i - start == block:
            runs.append(np.arange(start, i))
            start = i
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        take = np.concatenate([runs[j] for j in rng.integers(0, len(runs), len(runs))])
        v = auc(np.asarray(scores)[take], positive[take])
        if np.isfinite(v):
            values.append(v)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def expected_calibration_error(probs, y, bins=10):
    """ECE: the mean |accuracy - confidence| over equal-width confidence bins, weighted by the
    share of clips in each bin (confidence: the top probability; correct: it names the label)."""
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def uar_war(y, pred, labels):
    """UAR (mean recall over the classes present in y), WAR (accuracy) and each present class's
    recall, for class indices y (labels) and pred (predictions)."""
    y, pred = np.asarray(y), np.asarray(pred)
    if len(y) == 0:
        return {"clips": 0, "uar": float("nan"), "war": float("nan"), "recall": {}}
    recall = {labels[c]: float((pred[y == c] == c).mean()) for c in range(len(labels)) if (y == c).any()}
    return {"clips": int(len(y)), "uar": float(np.mean(list(recall.values()))), "war": float((y == pred).mean()),
            "recall": recall}


def group_mean(probs, targets, groups):
    """Clips -> videos: the mean probabilities and mean label distribution of each group, groups in
    order of first appearance. -> (probs [G, C], targets [G, C], group names)."""
    names = list(dict.fromkeys(groups))
    index = {g: i for i, g in enumerate(names)}
    which = np.array([index[g] for g in groups])
    count = np.bincount(which, minlength=len(names))[:, None]
    P = np.zeros((len(names), probs.shape[1]))
    T = np.zeros((len(names), targets.shape[1]))
    np.add.at(P, which, probs)
    np.add.at(T, which, targets)
    return P / count, T / count, names


def metrics(probs, targets, labels, min_clips=3, positive="surprised", hard=None):
    """probs [N, C] model probabilities; targets [N, C] label distributions (one-hot or soft);
    hard: optional boolean [N], True where the label is a person's hard label (default: one-hot)."""
    C = len(labels)
    y = np.argmax(targets, axis=1)
    pred = np.argmax(probs, axis=1)
    if hard is None:
        hard = np.isclose(targets.max(axis=1), 1.0)
    hard = np.asarray(hard, dtype=bool)
    overall = uar_war(y, pred, labels)
    conf = np.zeros((C, C), dtype=np.int64)
    for a, b in zip(y, pred):
        conf[a, b] += 1
    counts = np.bincount(y, minlength=C)
    recall = {labels[c]: float(conf[c, c] / counts[c]) for c in range(C) if counts[c] >= min_clips}
    pos = labels.index(positive) if positive in labels else None
    return {
        "clips": int(len(y)),
        "label_counts": {labels[c]: int(counts[c]) for c in range(C) if counts[c] > 0},
        "predicted_counts": {labels[c]: int(n) for c, n in enumerate(np.bincount(pred, minlength=C)) if n > 0},
        "recall": recall,
        "min_recall": min(recall.values()) if recall else float("nan"),
        "accuracy": float((y == pred).mean()),
        "auc_surprised": auc(probs[:, pos], y == pos) if pos is not None else float("nan"),
        "auc": {labels[c]: auc(probs[:, c], y == c) for c in range(C) if counts[c] >= min_clips},
        "ece": expected_calibration_error(probs, y),
        # Beside ECE: a model can score a low ECE by being wrong with low confidence.
        "mean_confidence": float(probs.max(1).mean()),
        "single_class_share": float(np.bincount(pred, minlength=C).max() / max(1, len(pred))),
        "confusion": conf.tolist(),
        "labels": list(labels),
        "uar": overall["uar"],
        "war": overall["war"],
        "recall_all": overall["recall"],
        "min_clips": int(min_clips),
        "label_kind": "hard" if hard.all() else "soft" if not hard.any() else "mixed",
        "hard_labels": uar_war(y[hard], pred[hard], labels),
        "soft_labels": uar_war(y[~hard], pred[~hard], labels),
    }


def format_report(m):
    labels = m["labels"]
    used = [i for i, l in enumerate(labels) if l in m["label_counts"] or l in m["predicted_counts"]]
    kind = {"hard": "hard labels", "soft": "the argmax of soft labels", "mixed": "all labels (argmax)"}
    lines = [f"UAR {m['uar']:.4f}  WAR {m['war']:.4f}  against {kind[m['label_kind']]} ({m['clips']} "
             f"{m.get('unit', 'clips')})",
             "recall of every class present: " + ", ".join(f"{k} {v:.3f}" for k, v in m["recall_all"].items())]
    if m["label_kind"] == "mixed":
        for key, name in (("hard_labels", "hard labels"), ("soft_labels", "argmax of soft labels")):
            s = m[key]
            lines.append(f"  against {name} ({s['clips']}): UAR {s['uar']:.4f} WAR {s['war']:.4f}; "
                         + ", ".join(f"{k} {v:.3f}" for k, v in s["recall"].items()))
    lines += [f"{m.get('unit', 'clips')}: {m['clips']}; label distribution: {m['label_counts']}",
              f"recall (classes with >= {m.get('min_clips', 3)} {m.get('unit', 'clips')}): "
              + ", ".join(f"{k} {v:.3f}" for k, v in m["recall"].items()),
              "AUC (class vs rest): " + ", ".join(f"{k} {v:.3f}" for k, v in m["auc"].items()),
              f"accuracy {m['accuracy']:.3f}, mean confidence {m['mean_confidence']:.3f}; "
              f"expected calibration error {m['ece']:.3f}; "
              f"the most predicted class on {100 * m['single_class_share']:.0f}% of clips",
              "confusion (rows: label, columns: prediction):",
              "            " + " ".join(f"{labels[j][:9]:>9}" for j in used)]
    for i in used:
        lines.append(f"  {labels[i][:9]:>9} " + " ".join(f"{m['confusion'][i][j]:9d}" for j in used))
    return "\n".join(lines)


def write_reports(json_path, report, markdown_path, table):
    """The JSON (`report`) and markdown (`table`) files a validation tool was asked for; a path
    that is None is skipped."""
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=1)
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(table + "\n")


def evaluate_model(model, labels, clips_csv, keep=None, min_clips=3, per_video=False):
    """A loaded model on a clip list -> metrics() (per video with per_video)."""
    from dataset import ClipDataset, crop_scale_for
    ds = ClipDataset(clips_csv, model.config, labels, train=False, cache=False,
                     crop_scale=crop_scale_for(model.config, clips_csv))
    probs = predict(model, ds, keep_ratio=keep)
    targets = ds.soft_targets()
    hard = np.array([isinstance(it[1], (int, np.integer)) for it in ds.items])
    if not per_video:
        return metrics(probs, targets, labels, min_clips, hard=hard)
    videos = [it[2]["video"] for it in ds.items]
    P, T, names = group_mean(probs, targets, videos)
    _, H, _ = group_mean(probs, hard[:, None].astype(np.float64), videos)
    m = metrics(P, T, labels, min_clips, hard=H[:, 0] == 1.0)
    m.update(unit="videos", clips_scored=int(len(ds)))
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("clips")
    ap.add_argument("--keep", type=float, default=None)
    ap.add_argument("--min-clips", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-video", action="store_true",
                    help="score videos (mean probabilities of their clips, the `video` column), not clips")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from adatosk.safetensors_io import load_model
    model, config, labels, _ = load_model(args.model)
    model.eval()
    m = evaluate_model(model, labels, args.clips, args.keep, args.min_clips, args.per_video)
    print(format_report(m))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(m, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
