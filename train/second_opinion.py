#!/usr/bin/python3
"""A second teacher's opinion of a dataset's clip labels: where face-api and @vladmandic/human's
emotion net (FER2013) disagree.

  second_opinion.py SET/clips.csv [--out SET/clips_agreed.csv] [--json REPORT.json] [--centre 0.8]

Every clip's frames (the element's crops, as make_dataset.py stored them) go through the second
teacher (teacher/human_emotion.py); its clip label is the mean of its frame probabilities, as
face-api's is. Prints how often the two teachers' top classes agree, and the cross table (face-api's
top class by row, the second's by column). --out writes the clips both call the same, in the same
CSV form, so train.py trains on labels two teachers trained on different data share: a still whose
smile face-api reads into every frame of a person (an identity-bound label) and the second does not
is left out. The labels kept are still face-api's.
"""

import argparse
import csv
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from dataset import read_clip_list, target_distribution  # noqa: E402
from teacher.faceapi import LABELS  # noqa: E402


def second_probs(teacher, clips):
    """clips: dataset.read_clip_list's -> float64 [clips, 7] in face-api's order: the second
    teacher's mean over each clip's frames."""
    out = np.zeros((len(clips), len(LABELS)))
    for i, (path, _, _) in enumerate(clips):
        frames = np.load(path)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{path}: want uint8 [T][H][W][3] frames, got {frames.dtype} {frames.shape}")
        out[i] = teacher.probs(list(frames)).mean(0)
    return out


def agreement(first, second):
    """-> (share of clips whose top classes agree, cross table [7][7]: first's top by row)."""
    a, b = first.argmax(1), second.argmax(1)
    table = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(table, (a, b), 1)
    return float((a == b).mean()) if len(a) else float("nan"), table


def format_table(table):
    head = "face-api \\ second | " + " | ".join(LABELS)
    lines = [head, "|".join(["---"] * (len(LABELS) + 1))]
    for name, row in zip(LABELS, table):
        lines.append(f"{name} | " + " | ".join(str(int(v)) for v in row))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", help="a make_dataset.py clips.csv")
    ap.add_argument("--out", help="write the clips both teachers agree on here (the same CSV form)")
    ap.add_argument("--json", help="write the agreement and the cross table here")
    ap.add_argument("--centre", type=float, default=1.0,
                    help="the middle fraction of each crop the second teacher sees (1: all of it)")
    ap.add_argument("--human", default=None, help="@vladmandic/human package dir (fetch_human.sh)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch
    from teacher.human_emotion import HumanEmotionTeacher
    torch.set_num_threads(args.threads)
    teacher = HumanEmotionTeacher(args.human, centre=args.centre)
    clips = read_clip_list(args.clips, LABELS)
    first = np.stack([target_distribution(label, len(LABELS)) for _, label, _ in clips])
    second = second_probs(teacher, clips)
    share, table = agreement(first, second)
    print(f"second_opinion: {args.clips}: {len(clips)} clips, top classes agree on {share:.3f}")
    print(format_table(table))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(clips=args.clips, n=len(clips), centre=args.centre, agree=share,
                           labels=LABELS, table=table.tolist(),
                           second_top=[LABELS[k] for k in second.argmax(1)]), f, indent=1)
    if args.out:
        keep = first.argmax(1) == second.argmax(1)
        with open(args.clips, newline="") as f:
            fields = csv.DictReader(f).fieldnames
        base_out = os.path.dirname(os.path.abspath(args.out))
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            for (path, _, row), k in zip(clips, keep):
                if k:
                    # Clip paths are relative to their CSV: keep them pointing at the same files.
                    w.writerow(dict(row, path=os.path.relpath(path, base_out)))
        print(f"second_opinion: {int(keep.sum())} agreed clips -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
