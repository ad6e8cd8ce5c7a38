#!/usr/bin/python3
"""How much the teacher's answer depends on the framing: face-api's expression net on the first
frame of every tubelet of each clip, at the framing the set was cut at and at its centre S (the
crop of a model trained with --crop-scale S), against the set's stored clip labels.

  teacher_framing.py SET/clips.csv [--scale 0.8] [--teacher DIR]

Prints, per framing: agreement of the top class with the stored labels, AUC of the teacher's
p(happy) and p(neutral) for the stored top class, and the count of clips per top class. Why it
matters: an online teacher (train.py --online-teacher) that sees another framing than the one the
labels were made at teaches another function (train.py --teacher-crop).
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adatosk.config import named_config  # noqa: E402
from dataset import ClipDataset  # noqa: E402
from evaluate import auc  # noqa: E402
from function_matching import OnlineTeacher  # noqa: E402
from teacher.faceapi import LABELS, default_model_dir  # noqa: E402


def teacher_clip_probs(ds, teacher, batch=16):
    out = []
    for i in range(0, len(ds), batch):
        x01 = torch.stack([ds.model_input(j) for j in range(i, min(i + batch, len(ds)))])
        out.append(teacher(x01)[0].mean(1))
    return torch.cat(out).double().numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--scale", type=float, default=0.8, help="the centre share to compare with (default 0.8)")
    ap.add_argument("--teacher", default=None, help="face-api's model folder (default: the user's cache)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    config = named_config("adatosk-tiny")
    teacher = OnlineTeacher(args.teacher or default_model_dir(), config, LABELS)
    for scale in (1.0, args.scale):
        ds = ClipDataset(args.csv, config, LABELS, crop_scale=scale)
        probs = teacher_clip_probs(ds, teacher)
        stored = ds.soft_targets().argmax(1)
        top = probs.argmax(1)
        counts = dict(zip(LABELS, np.bincount(top, minlength=len(LABELS)).tolist()))
        print(f"{args.csv} at {'the cut framing' if scale == 1.0 else f'the centre {scale:g}'}: top class "
              f"agrees with the stored label on {(top == stored).mean():.3f} of {len(ds)} clips; "
              f"AUC(happy) {auc(probs[:, 1], stored == 1):.3f}, AUC(neutral) {auc(probs[:, 0], stored == 0):.3f}; "
              f"top classes {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
