#!/usr/bin/python3
"""Where does a model's ranking of new people come from: differences between people, or changes
within one person?

  person_split.py MODEL.safetensors --train CLIPS.csv [--train ...] --set NAME=CSV [--set ...]
                  [--l2 1e-3] [--balance-power 0.5] [--json OUT.json] [--markdown OUT.md]

The still identities are warped through expressions so that one person shows several (the
contrast within a person that issue 9 asks for), but half of them already smile in their photo,
so their clips also differ by who is in them. This tool takes the model's frozen head input (as
refit_head.py) and fits three new heads on the training clips, each on one part of that variation:

- clips:   every clip as it is (refit_head.py's fit): both parts;
- between: one point per person, the mean feature of their clips and their mean teacher label:
           only what tells people apart;
- within:  every clip minus its person's mean feature (plus the mean over the training people):
           only what changes within a person.

Every head, and the model's own, is scored on every set by AUC over all clip pairs and by AUC over
pairs of the same person only (evaluate.within_group_auc; a set of one person, like franck, has
only those). The within head sees each set's clips centred the same way, on their own person's mean;
so does the model's own head in a fifth row ("model, person-centred"): what an element would answer
if it took each tracked person's average face as their baseline (per-person normalisation). That
shifts each person's logits by one vector: it moves their decisions, and their ranking only a little
(a class's softmax also depends on the other classes' logits).

A head that ranks a new person's clips must have learnt something that changes within a person;
which of the heads does it tells which part of the training signal carries over.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from calibrate import softmax  # noqa: E402
from evaluate import group_mean, metrics, within_group_auc, write_reports  # noqa: E402
from refit_head import clip_features, fit_head  # noqa: E402

# each head, and whether it sees the clips centred on their person's mean
HEADS = {"model": False, "model, person-centred": True, "clips": False, "between": False, "within": True}


def person_centred(features, ids, reference=None):
    """Each clip's feature minus its person's mean, plus `reference` (default: the mean over these
    people), so the centred features sit where the training people do and a head's bias still fits.
    -> (centred features, the mean over these people)."""
    f = np.asarray(features, dtype=np.float64)
    means, _, names = group_mean(f, f[:, :1], list(ids))
    index = {n: i for i, n in enumerate(names)}
    which = np.array([index[i] for i in ids])
    centre = means.mean(0)
    return f - means[which] + (centre if reference is None else reference), centre


def fit_heads(features, targets, weights, ids, l2):
    """-> {name: (weight [C, D], bias [C])} for the clips, between and within heads (module doc)."""
    f = np.asarray(features, dtype=np.float64)
    fm, tm, _ = group_mean(f, targets, list(ids))
    heads = {}
    heads["clips"] = fit_head(f, targets, weights, l2)[:2]
    heads["between"] = fit_head(fm, tm, np.ones(len(fm)), l2)[:2]
    heads["within"] = fit_head(person_centred(f, ids)[0], targets, weights, l2)[:2]
    return {k: (W.numpy(), b.numpy()) for k, (W, b) in heads.items()}


def score(probs, targets, ids, labels):
    """evaluate.metrics plus, for each class it gives an AUC, the AUC within a person."""
    m = metrics(probs, targets, labels)
    y = targets.argmax(1)
    m["auc_within_person"] = {k: within_group_auc(probs[:, labels.index(k)], y == labels.index(k), ids)
                              for k in m["auc"]}
    return m


def markdown(rows, classes=("neutral", "happy")):
    out = ["| set | head | recall " + " / ".join(classes) + " | AUC " + " / ".join(classes)
           + " | within-person AUC " + " / ".join(classes) + " | top class |", "|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        cell = lambda d: " / ".join(f"{d[c]:.3f}" if c in d else "-" for c in classes)  # noqa: E731
        rec = " / ".join(f"{m['recall'][c]:.2f}" if c in m["recall"] else "-" for c in classes)
        top = max(m["predicted_counts"].values()) / m["clips"]
        out.append(f"| {r['set']} | {r['head']} | {rec} | {cell(m['auc'])} | {cell(m['auc_within_person'])} "
                   f"| {top:.0%} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--train", required=True, action="append", help="clip list CSV (repeatable)")
    ap.add_argument("--set", required=True, action="append", metavar="NAME=CSV", help="a set to score on")
    ap.add_argument("--l2", type=float, default=1e-3, help="L2 penalty on each head's weight")
    ap.add_argument("--balance-power", type=float, default=0.5,
                    help="clip weights as train.py's sampling (refit_head.py's option)")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.l2 >= 0:
        ap.error("--l2 must be >= 0")
    sets = []
    for s in args.set:
        name, sep, csv_path = s.partition("=")
        if not sep or not name or not csv_path:
            ap.error(f"--set wants NAME=CSV, got {s!r}")
        sets.append((name, csv_path))
    torch.set_num_threads(args.threads)
    from adatosk.safetensors_io import load_model

    model, config, labels, _ = load_model(args.model)
    model.eval()
    f, t, w, ids = clip_features(model, config, labels, args.train, args.balance_power)
    if len(set(ids.tolist())) < 2:
        ap.error("the training lists hold one person (video column): nothing to split")
    own = (model.head.weight.detach().double().numpy(), model.head.bias.detach().double().numpy())
    heads = {"model": own, "model, person-centred": own}
    heads.update(fit_heads(f, t, w, ids, args.l2))
    reference = person_centred(f, ids)[1]
    rows = []
    for name, csv_path in sets:
        fs, ts, _, ids_s = clip_features(model, config, labels, [csv_path])
        centred = person_centred(fs, ids_s, reference)[0]
        for head, on_centred in HEADS.items():
            W, b = heads[head]
            x = centred if on_centred else fs.numpy()
            m = score(softmax(x @ W.T + b), ts, ids_s.tolist(), labels)
            rows.append(dict(set=name, head=head, metrics=m))
    table = markdown(rows)
    print(table)
    report = dict(model=args.model, train=args.train, l2=args.l2, people=len(set(ids.tolist())), results=rows)
    write_reports(args.json, report, args.markdown, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
