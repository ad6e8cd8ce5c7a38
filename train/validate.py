#!/usr/bin/python3
"""One model (or several) on several validation sets: the table a recipe is chosen by.

  validate.py --set franck=FRANCK/clips.csv --set cap13=DS13/clips.csv --set stills=HOLD/clips.csv \
      MODEL.safetensors [MODEL2.safetensors ...] [--json OUT.json] [--markdown OUT.md]

Each model sees each set's clips as the element would crop them for it (dataset.crop_scale_for): a
model trained with a tighter crop margin (its file's crop_margin) than the set was cut with gets the
centre of every clip; a looser one is refused, it would need pixels the clips do not hold.

For every model and set: per-class recall and AUC (classes with at least 3 clips) with a 95% interval
for each AUC (a block bootstrap over runs of 8 consecutive clips of a track: one person's video is a
few dozen independent moments, not hundreds; an interval holding 0.5 is chance), expected
calibration error, the share of the most predicted class, and the confusion matrix (evaluate.py's
metrics; labels are the teacher's, so "recall" is agreement with the teacher).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from evaluate import auc_interval, format_report, metrics, predict, write_reports  # noqa: E402


def markdown(results):
    lines = ["| model | set | clips | recall per class | AUC per class [95% interval] | ECE | top class share |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["metrics"]
        rec = ", ".join(f"{k} {v:.2f}" for k, v in m["recall"].items())
        auc = ", ".join(f"{k} {v:.3f} [{m['auc_95'][k][0]:.2f}, {m['auc_95'][k][1]:.2f}]"
                        for k, v in m["auc"].items())
        lines.append(f"| {r['model']} | {r['set']} | {m['clips']} | {rec} | {auc} | {m['ece']:.3f} | "
                     f"{100 * m['single_class_share']:.0f}% |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--set", action="append", required=True, metavar="NAME=CSV")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from adatosk.safetensors_io import load_model
    from dataset import ClipDataset, crop_scale_for
    sets = [s.split("=", 1) for s in args.set]
    results = []
    for path in args.models:
        model, config, labels, _ = load_model(path)
        model.eval()
        for name, csv_path in sets:
            ds = ClipDataset(csv_path, config, labels, train=False, cache=False,
                             crop_scale=crop_scale_for(config, csv_path))
            probs, targets = predict(model, ds), ds.soft_targets()
            m = metrics(probs, targets, labels)
            tracks = [(it[2].get("video"), it[2].get("track")) for it in ds.items]
            m["auc_95"] = {k: auc_interval(probs[:, labels.index(k)], targets.argmax(1) == labels.index(k), tracks)
                           for k in m["auc"]}
            print(f"== {os.path.basename(path)} on {name}\n{format_report(m)}", flush=True)
            results.append(dict(model=path, set=name, metrics=m))
    table = markdown(results)
    print(table)
    write_reports(args.json, results, args.markdown, table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
