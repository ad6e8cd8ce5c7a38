#!/usr/bin/python3
"""New identities from pairs of training stills -> expression videos, like render_stills.py's.

  render_blends.py STILLS_DIR --out DIR [--count 150] [--seed 0] [--weight 0.35 0.65]

Reads STILLS_DIR/identities.json (render_stills.py's), takes `--count` seeded pairs of distinct
identities of its split "train" only (never "holdout", never "excluded": a blend of a held-out or
validation person would leak them into training), blends each pair's faces (identity_blend.py; the
second face's share drawn from --weight) in the first one's scene, and renders the blend through
the same actions and camera path as a still. Labels come later, from the teacher through
make_dataset.py, as for the stills.

Writes DIR/train/blend-<a>+<b>/00001.jpg ... and DIR/identities.json (identity -> parents, weight,
actions, frames).
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from identity_blend import blend  # noqa: E402
from expression_warp import face_frame  # noqa: E402
from render_stills import action_order, crop_padded, face_points, face_scene, render_scene  # noqa: E402


def training_faces(index):
    """The identities a blend may use, sorted (the draws do not depend on the file's order)."""
    return sorted(k for k, v in index.items() if v["split"] == "train")


def draw_pairs(names, rng):
    """Distinct unordered pairs of distinct names, in a seeded order, until every pair is drawn; the
    first of a pair gives the scene."""
    if len(names) < 2:
        raise ValueError("render_blends: fewer than two training identities")
    seen = set()
    while len(seen) < len(names) * (len(names) - 1) // 2:
        a, b = rng.choice(len(names), 2, replace=False)
        if (min(a, b), max(a, b)) not in seen:
            seen.add((min(a, b), max(a, b)))
            yield names[a], names[b]


def shape_error(lm, scene, points):
    """Mean distance, in inter-ocular distances, between the landmarks face-api's net finds on a
    blend and the shape the blend was made to have. A pair whose faces do not line up (a turned
    head, a landmark fit gone wrong) gives a ghosted face, with two sets of eyes, and a large error."""
    centre = points.mean(0)
    side = int(round(1.6 * np.ptp(points, 0).max()))
    x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    found = lm.points([crop_padded(scene, x0, y0, side)])[0] + [x0, y0]
    return float(np.linalg.norm(found - points, axis=1).mean() / face_frame(points)[3])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stills", help="render_stills.py's output folder (identities.json)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weight", type=float, nargs=2, default=(0.35, 0.65), metavar=("LO", "HI"),
                    help="the second face's share, uniform in [LO, HI]")
    ap.add_argument("--max-shape-error", type=float, default=0.12,
                    help="skip a blend whose landmarks, found again, are further than this (in "
                    "inter-ocular distances, on average) from the shape it was made to have")
    ap.add_argument("--frames-per-action", type=int, default=40)
    ap.add_argument("--faceapi", default=None, help="face-api model dir (landmarks)")
    args = ap.parse_args()
    if not 0.0 <= args.weight[0] <= args.weight[1] <= 1.0:
        raise SystemExit(f"render_blends: --weight {args.weight} must be 0 <= LO <= HI <= 1")
    import cv2
    from teacher.landmarks import FaceLandmarks68
    cv2.setNumThreads(1)
    with open(os.path.join(args.stills, "identities.json")) as f:
        index = json.load(f)
    lm = FaceLandmarks68(args.faceapi)
    rng = np.random.default_rng(args.seed)
    names = training_faces(index)
    scenes = {}

    def scene_of(name):
        if name not in scenes:
            entry = index[name]
            bgr = cv2.imread(entry["image"])
            if bgr is None:
                raise SystemExit(f"render_blends: cannot read {entry['image']} ({name})")
            image = np.ascontiguousarray(bgr[:, :, ::-1])
            pts = face_points(lm, image, entry["box"])
            if pts is None:
                raise SystemExit(f"render_blends: {name}: no face's landmarks in its box {entry['box']}")
            scenes[name] = face_scene(cv2, image, (*entry["box"], pts))
        return scenes[name]

    out_index, skipped = {}, 0
    for a, b in draw_pairs(names, rng):
        if len(out_index) == args.count:
            break
        weight = float(rng.uniform(*args.weight))
        actions = action_order(rng)
        scene, pts = blend(cv2, *scene_of(a), *scene_of(b), weight)
        ident = f"blend-{a}+{b}"
        error = shape_error(lm, scene, pts)
        if error > args.max_shape_error:
            skipped += 1
            print(f"render_blends: {ident} skipped: its landmarks are {error:.3f} IOD off the blend's shape",
                  flush=True)
            continue
        n = render_scene(cv2, scene, pts, actions, args.frames_per_action, rng,
                         os.path.join(args.out, "train", ident))
        out_index[ident] = dict(parents=[a, b], weight=round(weight, 4), split="train",
                                actions=[str(x) for x in actions], frames=n, shape_error=round(error, 4))
        print(f"render_blends: {ident} ({weight:.2f} of the second, shape error {error:.3f})", flush=True)
    if len(out_index) < args.count:
        raise SystemExit(f"render_blends: only {len(out_index)} of {args.count} blends pass "
                         f"--max-shape-error {args.max_shape_error} ({skipped} skipped)")
    with open(os.path.join(args.out, "identities.json"), "w") as f:
        json.dump(out_index, f, indent=1)
    print(f"render_blends: {len(out_index)} blended identities of {len(names)} ({skipped} pairs skipped) "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
