#!/usr/bin/python3
"""The split lists of the dynamic facial expression datasets, read into one form: folds of
(video id, class name) for training and testing, class names in the model's vocabulary.

  DFEW     EmoLabel_DataSplit/train(single-labeled)/set_K.csv and test(single-labeled)/set_K.csv,
           K = 1..5: CSV with a header, columns video_name (the clip number, 1..16372; the frame
           folders are zero-padded: 00001) and label 1..7 in DFEW's order
           1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise, 6 Disgust, 7 Fear.
  FERV39k  4_setups/All_scenes/train_All.csv and test_All.csv: one split, no header, space-separated
           "relative/path/of/clip Label", Label one of Happy Sad Neutral Angry Surprise Disgust Fear.
  MAFW     split/single/no_caption/set_K/train.txt and test.txt (the dataset's "Train & Test Set"
           folder), K = 1..5: no header, space-separated "00025.mp4 happiness", 11 classes: anger
           disgust fear happiness neutral sadness surprise contempt anxiety helplessness
           disappointment.
The model's classes: face-api's seven (neutral happy sad angry fearful disgusted surprised) for DFEW
and FERV39k; for MAFW the same seven followed by contempt anxiety helplessness disappointment.

A video id is compared through video_key(): its file name without folders and extension, leading
zeros dropped from a number ("00025.mp4", "25" and "00025/" are one video), which is also how
make_dataset.py names a video in its clips.csv (`video` column).

  dfer_lists.py label-csv --dataset dfew --splits DFEW/EmoLabel_DataSplit --videos DFEW/Clip/jpg_256 \
      --out labels.csv
writes make_dataset.py's --label-csv ("name,label" for every video or frame folder in --videos that
the lists name), so that the dataset is cut once for all folds (MAFW's extra classes are names only
an 11-class model knows: cut MAFW with make_dataset.py --model of such a model, e.g. the one
import_encoder.py writes with --labels and --set num_classes=11).
"""

import argparse
import csv
import os
import sys
from dataclasses import dataclass
from typing import List, Tuple

MODEL_LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
# DFEW's label k is DFEW_CLASSES[k - 1].
DFEW_CLASSES = ["happy", "sad", "neutral", "angry", "surprised", "disgusted", "fearful"]
FERV39K_NAMES = {"Happy": "happy", "Sad": "sad", "Neutral": "neutral", "Angry": "angry",
                 "Surprise": "surprised", "Disgust": "disgusted", "Fear": "fearful"}
MAFW_NAMES = {"anger": "angry", "disgust": "disgusted", "fear": "fearful", "happiness": "happy",
              "neutral": "neutral", "sadness": "sad", "surprise": "surprised", "contempt": "contempt",
              "anxiety": "anxiety", "helplessness": "helplessness", "disappointment": "disappointment"}
MAFW_LABELS = MODEL_LABELS + ["contempt", "anxiety", "helplessness", "disappointment"]


@dataclass
class Fold:
    name: str
    train: List[Tuple[str, str]]      # (video id as listed, model class name)
    test: List[Tuple[str, str]]


def video_key(name):
    base = os.path.basename(str(name).strip().rstrip("/"))
    stem, ext = os.path.splitext(base)
    if ext and ext[1:].isalnum() and not ext[1:].isdigit():        # "00025.mp4", not "clip.001"
        base = stem
    return str(int(base)) if base.isdigit() else base


def _find(root, *candidates):
    """The first existing path among root/candidate (the user may give the dataset's root or the
    split folder itself)."""
    for c in candidates:
        p = os.path.join(root, c)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{root}: none of {list(candidates)} found (give the dataset's split folder)")


def read_dfew(root, folds=range(1, 6)):
    out = []
    for k in folds:
        lists = []
        for part in ("train", "test"):
            path = _find(root, f"{part}(single-labeled)/set_{k}.csv",
                         f"EmoLabel_DataSplit/{part}(single-labeled)/set_{k}.csv")
            rows = []
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    lab = int(row["label"])
                    if not 1 <= lab <= 7:
                        raise SystemExit(f"{path}: label {lab} outside DFEW's 1..7 (video {row['video_name']})")
                    rows.append((row["video_name"].strip(), DFEW_CLASSES[lab - 1]))
            lists.append(rows)
        out.append(Fold(f"set_{k}", *lists))
    return out


def _read_space_list(path, names):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in names:
                raise SystemExit(f"{path}:{n}: want 'video label' with a label in {sorted(names)}: {line.strip()!r}")
            rows.append((parts[0], names[parts[1]]))
    return rows


def read_ferv39k(root):
    train = _read_space_list(_find(root, "train_All.csv", "4_setups/All_scenes/train_All.csv"), FERV39K_NAMES)
    test = _read_space_list(_find(root, "test_All.csv", "4_setups/All_scenes/test_All.csv"), FERV39K_NAMES)
    return [Fold("all_scenes", train, test)]


def read_mafw(root, folds=range(1, 6)):
    out = []
    for k in folds:
        lists = [_read_space_list(_find(root, f"set_{k}/{part}.txt", f"single/no_caption/set_{k}/{part}.txt",
                                        f"split/single/no_caption/set_{k}/{part}.txt"), MAFW_NAMES)
                 for part in ("train", "test")]
        out.append(Fold(f"set_{k}", *lists))
    return out


DATASETS = {"dfew": (read_dfew, MODEL_LABELS), "ferv39k": (read_ferv39k, MODEL_LABELS),
            "mafw": (read_mafw, MAFW_LABELS)}


def read_folds(dataset, root, folds=None):
    reader, _ = DATASETS[dataset]
    if dataset == "ferv39k":
        if folds and list(folds) != [1]:
            raise SystemExit("FERV39k has one split (train_All/test_All): --folds 1")
        got = reader(root)
    else:
        got = reader(root, folds or range(1, 6))
    for fold in got:
        for part in (fold.train, fold.test):
            check_unique(part, f"{dataset} {fold.name}")
    return got


def check_unique(rows, what):
    """Videos are matched by video_key(): two listed videos with one key cannot be told apart."""
    seen = {}
    for vid, lab in rows:
        k = video_key(vid)
        if k in seen and seen[k] != (vid, lab):
            raise SystemExit(f"{what}: {seen[k][0]!r} and {vid!r} have the same name {k!r}: clips cut from "
                             "them could not be told apart (cut them with distinct file names)")
        seen[k] = (vid, lab)


def all_labels(folds):
    """{video key: class name} over every list; a video labelled differently in two lists is refused."""
    out = {}
    for fold in folds:
        for vid, lab in fold.train + fold.test:
            k = video_key(vid)
            if out.setdefault(k, lab) != lab:
                raise SystemExit(f"video {vid!r} is {out[k]} in one list and {lab} in another")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lc = sub.add_parser("label-csv", help="make_dataset.py's --label-csv for the videos the lists name")
    lc.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    lc.add_argument("--splits", required=True, help="the dataset's split folder")
    lc.add_argument("--videos", required=True, help="folder of the videos (files or frame folders)")
    lc.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    labels = all_labels(read_folds(args.dataset, args.splits))
    names = sorted(os.listdir(args.videos))
    rows = [(n, labels[video_key(n)]) for n in names if video_key(n) in labels]
    with open(args.out, "w", newline="") as f:
        f.write(f"# name,label: {args.dataset} videos in the model's class names (dfer_lists.py)\n")
        csv.writer(f).writerows(rows)
    print(f"dfer_lists: {len(rows)} of {len(names)} entries of {args.videos} are in the {args.dataset} lists "
          f"({len(labels)} videos listed) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
