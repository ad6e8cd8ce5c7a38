#!/usr/bin/python3
"""A dataset's protocol end to end: for every fold, train on its training videos and report UAR and
WAR on its test videos; then the mean over the folds (the numbers papers report for DFEW's five
folds, FERV39k's one split, MAFW's five folds).

  run_folds.py --dataset dfew --splits DFEW/EmoLabel_DataSplit --clips ds/clips.csv --out runs/dfew \
      [--folds 1,2,3,4,5] [--launcher "torchrun --nproc_per_node=2"] [--skip-trained] \
      -- --init init.safetensors --steps 20000 --batch 32 --hard-labels ...   (train.py's options)

--clips: a clip list cut by make_dataset.py from the dataset's videos (the element's own crops; see
dfer_lists.py label-csv for its --label-csv). A clip belongs to the video named in its `video`
column; its label comes from the fold's list, not from the clip list, so one cut serves every fold.
Per fold, OUT/<fold>/ gets train.csv and test.csv (the clips of the fold's videos, labels in the
model's class names), run/ (train.py --train train.csv --out run plus the options after --) and
eval.json; the test is per video (evaluate.py --per-video: the mean of the probabilities of a
video's clips). Listed videos without clips (no face found, not cut) are counted and named in
eval.json; they are not scored. OUT/summary.json and the table on stdout hold UAR/WAR per fold and
their mean and standard deviation.
"""

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from dfer_lists import DATASETS, read_folds, video_key  # noqa: E402


def read_clips(clips_csv):
    """make_dataset.py's clips.csv -> {video key: [absolute clip paths]}."""
    base = os.path.dirname(os.path.abspath(clips_csv))
    by_video = {}
    with open(clips_csv, newline="") as f:
        for row in csv.DictReader(f):
            if "video" not in row:
                raise SystemExit(f"{clips_csv}: no `video` column (a clip list of make_dataset.py has one)")
            path = row["path"] if os.path.isabs(row["path"]) else os.path.join(base, row["path"])
            by_video.setdefault(video_key(row["video"]), []).append(path)
    return by_video


def write_fold_list(path, rows, by_video):
    """The clips of the listed videos with the list's labels -> (clips written, videos without clips)."""
    n, missing = 0, []
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "video"])
        for vid, label in rows:
            clips = by_video.get(video_key(vid), [])
            if not clips:
                missing.append(vid)
            for c in clips:
                w.writerow([c, label, video_key(vid)])
                n += 1
    return n, missing


def train_fold(args, fold_dir, labels, train_args):
    run = os.path.join(fold_dir, "run")
    model_path = os.path.join(run, "model.safetensors")
    if args.skip_trained and os.path.exists(model_path):
        print(f"run_folds: {run}: trained already (--skip-trained)", flush=True)
        return model_path
    cmd = shlex.split(args.launcher) if args.launcher else [sys.executable]
    cmd += [os.path.join(HERE, "train.py"), "--train", os.path.join(fold_dir, "train.csv"), "--out", run,
            "--labels", json.dumps(labels)]
    if not any(a.startswith("--init") for a in train_args):      # an --init file has its own classes
        cmd.append(f"--set=num_classes={len(labels)}")
    cmd += train_args
    print("run_folds: " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)
    return model_path


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = []
    if "--" in argv:
        i = argv.index("--")
        argv, train_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    ap.add_argument("--splits", required=True, help="the dataset's split folder (see dfer_lists.py)")
    ap.add_argument("--clips", required=True, help="clips.csv of make_dataset.py over the dataset's videos")
    ap.add_argument("--out", required=True)
    ap.add_argument("--folds", help="comma-separated fold numbers (default: all)")
    ap.add_argument("--launcher", help='how to start train.py instead of this python, e.g. '
                                       '"torchrun --nproc_per_node=4"')
    ap.add_argument("--keep", type=float, default=None, help="keep ratio at test (default: the model's)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the evaluation")
    ap.add_argument("--skip-trained", action="store_true", help="reuse a fold's run/model.safetensors")
    args = ap.parse_args(argv)

    import torch
    from adatosk.safetensors_io import load_model
    from evaluate import evaluate_model
    torch.set_num_threads(args.threads)
    folds_wanted = [int(k) for k in args.folds.split(",")] if args.folds else None
    folds = read_folds(args.dataset, args.splits, folds_wanted)
    labels = DATASETS[args.dataset][1]
    by_video = read_clips(args.clips)
    os.makedirs(args.out, exist_ok=True)
    results = []
    for fold in folds:
        t0 = time.time()
        fold_dir = os.path.join(args.out, fold.name)
        os.makedirs(fold_dir, exist_ok=True)
        n_train, miss_train = write_fold_list(os.path.join(fold_dir, "train.csv"), fold.train, by_video)
        n_test, miss_test = write_fold_list(os.path.join(fold_dir, "test.csv"), fold.test, by_video)
        print(f"run_folds: {fold.name}: train {len(fold.train) - len(miss_train)} of {len(fold.train)} listed "
              f"videos ({n_train} clips), test {len(fold.test) - len(miss_test)} of {len(fold.test)} "
              f"({n_test} clips)", flush=True)
        if n_train == 0 or n_test == 0:
            raise SystemExit(f"run_folds: {fold.name}: no clips of its {'training' if n_train == 0 else 'test'} "
                             f"videos in {args.clips} (video names are compared as {video_key('00025.mp4')!r} "
                             "for 00025.mp4)")
        model_path = train_fold(args, fold_dir, labels, train_args)
        model, _, model_labels, _ = load_model(model_path)
        if list(model_labels) != list(labels):
            raise SystemExit(f"run_folds: {model_path} has classes {model_labels}, {args.dataset} needs {labels} "
                             "(an --init file must have them: import_encoder.py --labels)")
        model.eval()
        m = evaluate_model(model, labels, os.path.join(fold_dir, "test.csv"), args.keep, per_video=True)
        m.update(fold=fold.name, test_videos_listed=len(fold.test), test_videos_without_clips=miss_test,
                 train_videos_without_clips=len(miss_train), seconds=time.time() - t0)
        with open(os.path.join(fold_dir, "eval.json"), "w") as f:
            json.dump(m, f, indent=1)
        results.append(m)
        print(f"run_folds: {fold.name}: UAR {m['uar']:.4f} WAR {m['war']:.4f} on {m['clips']} test videos; "
              "recall " + ", ".join(f"{k} {v:.3f}" for k, v in m["recall_all"].items()), flush=True)

    uar = np.array([m["uar"] for m in results])
    war = np.array([m["war"] for m in results])
    print(f"\n{args.dataset}: {len(results)} fold(s)")
    print(f"{'fold':>12} {'UAR':>8} {'WAR':>8} {'videos':>7}")
    for m in results:
        print(f"{m['fold']:>12} {m['uar']:8.4f} {m['war']:8.4f} {m['clips']:7d}")
    print(f"{'mean':>12} {uar.mean():8.4f} {war.mean():8.4f}")
    if len(results) > 1:
        print(f"{'std':>12} {uar.std(ddof=1):8.4f} {war.std(ddof=1):8.4f}")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"dataset": args.dataset, "labels": labels, "train_args": train_args,
                   "folds": [{k: m[k] for k in ("fold", "uar", "war", "recall_all", "clips", "clips_scored",
                                                "test_videos_listed")} for m in results],
                   "mean_uar": float(uar.mean()), "mean_war": float(war.mean())}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
