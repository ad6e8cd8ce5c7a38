"""Identity blends (train/identity_blend.py, train/render_blends.py): two still faces warped to the
mean of their landmarks and cross-dissolved, checked with face-api's own landmark net on the result,
and the blend renderer's choice of parents (training identities only).

Faces: the fixture crops (fixtures/teacher/reference_landmarks.json: the astronaut and the cap13
man, with the original landmark net's points).
"""

import json
import os
import sys

import cv2
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

import identity_blend as ib  # noqa: E402
import render_blends as rb  # noqa: E402
from teacher.landmarks import FaceLandmarks68  # noqa: E402

FIXTURE = os.path.join(HERE, "fixtures", "teacher")
SIZE = 192


def scene(name):
    """(SIZE x SIZE RGB fixture crop, its 68 points in those pixels)."""
    with open(os.path.join(FIXTURE, "reference_landmarks.json")) as f:
        ref = {r["crop"]: r for r in json.load(f)["results"]}
    img = np.load(os.path.join(FIXTURE, name))
    H, W = img.shape[:2]
    pts = np.asarray(ref[name]["positions"], np.float64) * [SIZE / W, SIZE / H]
    return np.ascontiguousarray(cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)), pts


@pytest.fixture(scope="module")
def astronaut():
    return scene("astronaut_face_square.npy")


@pytest.fixture(scope="module")
def man():
    return scene("cap13_element_crop_neutral.npy")


@pytest.fixture(scope="module")
def landmarks(model_dir):
    return FaceLandmarks68(model_dir)


def test_similarity_recovers_a_known_transform(astronaut):
    _, pts = astronaut
    a = np.deg2rad(12.0)
    M = np.array([[1.3 * np.cos(a), -1.3 * np.sin(a), 7.0], [1.3 * np.sin(a), 1.3 * np.cos(a), -4.0]])
    assert np.abs(ib.similarity(pts, ib.apply(M, pts)) - M).max() < 1e-9


def test_tps_map_takes_each_control_point_to_its_source(astronaut, man):
    _, dst = astronaut
    _, src = man
    mx, my = ib.tps_backward_map(dst, src, (SIZE, SIZE))
    # At the (rounded) control points the map reads the source points; the frame's edge is fixed.
    for d, s in zip(dst, src):
        x, y = int(round(d[0])), int(round(d[1]))
        near = np.array([mx[y, x], my[y, x]]) - (np.array([x, y]) - d)   # first order
        assert np.abs(near - s).max() < 1.5
    assert abs(mx[0, 0]) < 0.05 and abs(my[0, 0]) < 0.05
    assert abs(mx[SIZE - 1, SIZE // 2] - SIZE // 2) < 0.05 and abs(my[SIZE - 1, SIZE // 2] - (SIZE - 1)) < 0.05


def test_blending_a_face_with_itself_changes_nothing(astronaut):
    img, pts = astronaut
    for w in (0.0, 0.5, 1.0):
        out, mean = ib.blend(cv2, img, pts, img, pts, w)
        assert np.abs(mean - pts).max() < 1e-6
        assert np.abs(out.astype(int) - img.astype(int)).max() <= 1


def test_blend_has_the_mean_shape_by_the_landmark_net(astronaut, man, landmarks):
    """face-api's landmark net finds the blend's features where the blend put them (the weighted
    mean shape), and finds each parent's shape at weights 0 and 1."""
    (a, pa), (b, pb) = astronaut, man
    pb_on_a = ib.apply(ib.similarity(pb, pa), pb)
    iod = np.linalg.norm(pa[36:42].mean(0) - pa[42:48].mean(0))

    def error(points, target):
        return float(np.linalg.norm(points - target, axis=1).mean() / iod)

    seen = {}
    for w in (0.0, 0.5, 1.0):
        out, mean = ib.blend(cv2, a, pa, b, pb, w)
        found = landmarks.points([out])[0]
        seen[w] = (error(found, mean), error(found, pa), error(found, pb_on_a))
    assert error(pa, pb_on_a) > 0.10                           # the two shapes do differ
    for w, (to_mean, to_a, to_b) in seen.items():
        assert to_mean < 0.06, (w, seen)
    assert seen[0.5][0] < min(seen[0.5][1], seen[0.5][2]), seen
    assert seen[1.0][2] < seen[1.0][1] and seen[0.0][1] < seen[0.0][2], seen


def test_blend_keeps_the_first_scene_outside_the_face(astronaut, man):
    (a, pa), (b, pb) = astronaut, man
    out, mean = ib.blend(cv2, a, pa, b, pb, 0.5)
    mask = ib.face_mask(cv2, mean, (SIZE, SIZE))
    assert 0.15 < mask.mean() < 0.6
    far = cv2.dilate((mask > 0.01).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0
    # Outside the face only a's own warp shows; inside, the face differs from a's.
    assert np.abs(out[far].astype(int) - a[far].astype(int)).mean() < 12
    inside = mask > 0.9
    assert np.abs(out[inside].astype(int) - a[inside].astype(int)).mean() > 3


def test_blend_refuses_bad_arguments(astronaut):
    img, pts = astronaut
    with pytest.raises(ValueError, match="weight_b"):
        ib.blend(cv2, img, pts, img, pts, 1.5)
    with pytest.raises(ValueError, match="differ in size"):
        ib.blend(cv2, img, pts, img[:100], pts, 0.5)


def test_pairs_come_from_training_identities_only():
    index = {"a": {"split": "train"}, "b": {"split": "holdout"}, "c": {"split": "train"},
             "d": {"split": "excluded"}, "e": {"split": "train"}}
    names = rb.training_faces(index)
    assert names == ["a", "c", "e"]
    pairs = list(rb.draw_pairs(names, np.random.default_rng(0)))
    assert len(pairs) == 3 and len({frozenset(p) for p in pairs}) == 3 and all(p[0] != p[1] for p in pairs)
    assert list(rb.draw_pairs(names, np.random.default_rng(0))) == pairs            # seeded
    with pytest.raises(ValueError, match="fewer than two"):
        next(rb.draw_pairs(["a"], np.random.default_rng(0)))


def test_shape_error_tells_a_ghosted_blend(astronaut, man, landmarks):
    """The blend's own shape is found again on it (a small error); a face claimed to have another
    face's shape (what a misaligned pair gives) is far off."""
    (a, pa), (b, pb) = astronaut, man
    out, mean = ib.blend(cv2, a, pa, b, pb, 0.5)
    assert rb.shape_error(landmarks, out, mean) < 0.06
    shifted = mean + [0.0, 0.35 * np.linalg.norm(pa[36:42].mean(0) - pa[42:48].mean(0))]
    assert rb.shape_error(landmarks, out, shifted) > 0.2


def test_render_blends_writes_a_video_of_two_training_faces(tmp_path, model_dir, astronaut, man):
    """End to end on two training stills and a held-out one: one blend, of the two training faces,
    rendered to frames; the held-out face is never a parent."""
    stills = tmp_path / "stills"
    stills.mkdir()
    index = {}
    for name, (img, pts), split in (("astro", astronaut, "train"), ("man", man, "train"),
                                    ("held", astronaut, "holdout")):
        big = np.pad(img, ((64, 64), (64, 64), (0, 0)), mode="edge")      # the face inside a photo
        path = str(stills / f"{name}.png")
        cv2.imwrite(path, big[:, :, ::-1])
        lo, hi = pts.min(0) + 64, pts.max(0) + 64
        w = int(max(hi - lo) * 1.0)
        index[name] = dict(image=path, box=[int(lo[0]), int(lo[1] - 0.15 * w), w, w], split=split)
    (stills / "identities.json").write_text(json.dumps(index))
    out = tmp_path / "blends"
    argv = sys.argv
    sys.argv = ["render_blends.py", str(stills), "--out", str(out), "--count", "1",
                "--frames-per-action", "12", "--faceapi", model_dir]
    try:
        assert rb.main() == 0
    finally:
        sys.argv = argv
    made = json.loads((out / "identities.json").read_text())
    (ident, entry), = made.items()
    assert sorted(entry["parents"]) == ["astro", "man"] and entry["split"] == "train"
    assert 0.35 <= entry["weight"] <= 0.65 and entry["frames"] == 72
    frames = sorted(os.listdir(out / "train" / ident))
    assert frames == [f"{k:05d}.jpg" for k in range(1, 73)]
