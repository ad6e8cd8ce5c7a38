#!/usr/bin/python3
"""Still photos of faces -> short face videos in which each person changes expression.

  render_stills.py --out DIR [--frames-per-action 40] [--holdout 24] [--seed 0] [--exclude LIST] IMAGE...

Every face the OpenCV Haar cascade finds (the one `facedetect` uses) and face-api's 68-point
landmark net confirms becomes one identity and one video: the scene around the face, with a slow
camera path (pan, zoom, small rotation), going through facial actions in a random order (a
neutral stretch, smile, surprise, frown, sad, talking), each with an onset, a hold and a release
(expression_warp.py). The same person is thus seen neutral and expressive: contrast within an
identity, which a still cannot give. Labels come later, from the teacher on every frame the element
crops (make_dataset.py on the folders), so a warp that does not read as an expression is labelled
as what it is.

Writes DIR/<split>/<identity>/00001.jpg ... (numbered frames; make_dataset.py reads such folders),
split "train" or "holdout" (--holdout identities chosen by a seeded shuffle, never by clip) or
"excluded" (--exclude: photos of the validation person, never cut into a dataset), and
DIR/identities.json (identity -> image, box, split, actions in order).
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from expression_warp import ACTIONS, displacement_field, face_frame, fill_mouth, moved_points  # noqa: E402

CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
FRAME = 256             # output frames are FRAME x FRAME; the face box is about 45% of it
SCENE = 2.2             # the scene around a face, in face-box widths


def plausible(points, size):
    """A face-like landmark layout (the landmark net scatters its points on a non-face): eyes
    level-ish and apart, nose below the eyes, mouth below the nose, chin below the mouth."""
    centre, ex, ey, iod = face_frame(points)
    if not 0.22 * size < iod < 0.6 * size:
        return False
    down = lambda i: float((points[i] - centre) @ ey) / iod           # noqa: E731
    return abs(ex[1]) < 0.5 and 0.3 < down(30) < down(51) < down(57) < down(8) and down(8) < 2.2


def find_faces(cv2, lm, image, min_size=40):
    """-> list of (x, y, w, h, points in image pixels) for the faces of one RGB image."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes = cv2.CascadeClassifier(CASCADE).detectMultiScale(gray, 1.1, 6, minSize=(min_size, min_size))
    found = []
    for (x, y, w, h) in boxes:
        pts = face_points(lm, image, (x, y, w, h))
        if pts is not None:
            found.append((int(x), int(y), int(w), int(h), pts))
    return found


def face_points(lm, image, box):
    """-> the 68 landmarks (image pixels) of the face in the detector's box, or None when their
    layout is not a face's."""
    x, y, w, _ = box
    m = int(0.25 * w)
    s = w + 2 * m
    pts = lm.points([crop_padded(image, x - m, y - m, s)])[0]
    return pts + [x - m, y - m] if plausible(pts, s) else None


def crop_padded(image, x0, y0, size):
    """A size x size square at (x0, y0), edges replicated where it leaves the image."""
    H, W = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + size - W, y0 + size - H)
    if pad:
        image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        x0, y0 = x0 + pad, y0 + pad
    return np.ascontiguousarray(image[y0:y0 + size, x0:x0 + size])


def envelope(action, n, rng):
    """Per-frame intensity of one action over n frames: rest, onset, hold, release (or, for
    talking, an irregular open-close rhythm)."""
    t = np.arange(n, dtype=np.float64)
    if action == "neutral":
        return np.zeros(n)
    if action == "talk":
        f = rng.uniform(0.10, 0.20)                       # 2.5-5 openings a second at 25 fps
        a = 0.5 * (1 - np.cos(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)))
        return a * rng.uniform(0.5, 1.2) * (rng.random(n) * 0.4 + 0.8)
    start = rng.integers(2, n // 3)
    rise = rng.integers(3, 9)
    hold = rng.integers(n // 4, n // 2)
    peak = rng.uniform(0.7, 1.3)
    up = np.clip((t - start) / rise, 0, 1)
    down = np.clip(1 - (t - (start + rise + hold)) / 6.0, 0, 1)
    return peak * np.minimum(up, down) ** 1.5              # eased onset


def action_order(rng):
    """A neutral stretch first (the person's rest face), then every action in a random order."""
    return ["neutral"] + list(rng.permutation(["smile", "surprise", "frown", "sad", "talk"]))


def camera(n, rng):
    """A smooth rigid camera path: per frame (dx, dy in frame fractions, scale, angle degrees)."""
    t = np.arange(n, dtype=np.float64) / n
    path = []
    for amp in (0.05, 0.05, 0.07, 4.0):
        k = rng.uniform(0.5, 2.0)
        path.append(amp * rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * k * t + rng.uniform(0, 2 * np.pi)))
    dx, dy, ds, ang = path
    return dx, dy, 1.0 + ds, ang


def face_scene(cv2, image, face):
    """-> (FRAME x FRAME scene around the face, its landmarks in the scene's pixels)."""
    x, y, w, h, pts = face
    side = int(round(SCENE * w))
    x0, y0 = int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2))
    scene = crop_padded(image, x0, y0, side)
    scene = cv2.resize(scene, (FRAME, FRAME), interpolation=cv2.INTER_AREA)
    return scene, (pts - [x0, y0]) * (FRAME / side)


def render(cv2, image, face, actions, n_per_action, rng, out_dir):
    """-> frames written: the face's scene through `actions` (render_scene)."""
    scene, pts = face_scene(cv2, image, face)
    return render_scene(cv2, scene, pts, actions, n_per_action, rng, out_dir)


def render_scene(cv2, scene, pts, actions, n_per_action, rng, out_dir):
    """Writes out_dir/00001.jpg ...: the scene (FRAME x FRAME, landmarks pts) going through each
    action's envelope under a smooth camera path; -> the number of frames."""
    # The field of each action at full intensity, scaled per frame: the moves are small beside
    # the kernel's width, so the field is close to linear in the intensity (and 10x cheaper).
    base_y, base_x = np.mgrid[0:FRAME, 0:FRAME].astype(np.float32)
    fields = {}
    for a in actions:
        if a in ACTIONS:
            mx, my = displacement_field(pts, moved_points(pts, a, 1.0), scene.shape[:2])
            fields[a] = (mx - base_x, my - base_y)
    n = n_per_action * len(actions)
    dx, dy, ds, ang = camera(n, rng)
    os.makedirs(out_dir, exist_ok=True)
    frame_no = 0
    for a in actions:
        for k, level in enumerate(envelope(a, n_per_action, rng)):
            img = scene
            if a in fields and level > 1e-3:
                fx, fy = fields[a]
                img = cv2.remap(scene, base_x + level * fx, base_y + level * fy, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT)
                img = fill_mouth(cv2, img, moved_points(pts, a, level), a)
            i = frame_no
            M = cv2.getRotationMatrix2D((FRAME / 2, FRAME / 2), ang[i], ds[i])
            M[:, 2] += [dx[i] * FRAME, dy[i] * FRAME]
            img = cv2.warpAffine(img, M, (FRAME, FRAME), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            frame_no += 1
            cv2.imwrite(os.path.join(out_dir, f"{frame_no:05d}.jpg"), img[:, :, ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 92])
    return frame_no


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames-per-action", type=int, default=40)
    ap.add_argument("--holdout", type=int, default=24, help="identities kept out of training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", help="file naming images (one path a line) whose faces must never "
                    "reach a dataset: rendered into the split 'excluded', so every other identity "
                    "keeps its seeded draws")
    ap.add_argument("--faceapi", default=None, help="face-api model dir (landmarks)")
    args = ap.parse_args()
    import cv2
    from teacher.landmarks import FaceLandmarks68
    cv2.setNumThreads(1)
    lm = FaceLandmarks68(args.faceapi)
    faces = []
    for path in args.images:
        bgr = cv2.imread(path)
        if bgr is None:
            raise SystemExit(f"render_stills: cannot read {path}")
        image = np.ascontiguousarray(bgr[:, :, ::-1])
        stem = os.path.splitext(os.path.basename(path))[0]
        for k, f in enumerate(find_faces(cv2, lm, image)):
            faces.append((f"{stem}-f{k}", path, image, f))
        print(f"render_stills: {path}: {sum(1 for x in faces if x[1] == path)} faces", flush=True)
    excluded = set()
    if args.exclude:
        with open(args.exclude) as f:
            excluded = {os.path.abspath(line.strip()) for line in f if line.strip()}
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(faces))
    holdout = {faces[i][0] for i in order[:args.holdout]}
    index = {}
    for ident, path, image, face in faces:
        split = ("excluded" if os.path.abspath(path) in excluded
                 else "holdout" if ident in holdout else "train")
        actions = action_order(rng)
        n = render(cv2, image, face, actions, args.frames_per_action, rng,
                   os.path.join(args.out, split, ident))
        index[ident] = dict(image=os.path.abspath(path), box=[int(v) for v in face[:4]], split=split,
                            actions=actions, frames=n)
    with open(os.path.join(args.out, "identities.json"), "w") as f:
        json.dump(index, f, indent=1)
    print(f"render_stills: {len(faces)} identities ({len(holdout)} held out) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
