"""Expression change on still faces (train/expression_warp.py) and stills rendered as face videos
(train/render_stills.py), on the landmarks the ORIGINAL face-api FaceLandmark68Net gave on the
fixture crops (fixtures/teacher/reference_landmarks.json; no weights needed here).

- intensity 0 is the identity (image and points), and so is a field with no moved point;
- a smile moves the mouth corners up and outward IN THE IMAGE (a bright dot drawn at a corner is
  found higher after the warp), surprise moves the chin and the lower lip down and the brows up;
  the moves follow the face's own frame (an upside-down face smiles downwards in the image);
- the field is finite and local: pixels further than 3.2 inter-ocular distances from the eyes'
  centre are exactly unchanged (measured: nothing changes beyond 2.96 IOD);
- render_stills: the intensity envelopes and camera path have the documented shapes and bounds,
  plausible() accepts the original's landmarks and rejects scattered or shuffled points, render()
  writes the frames of a short video in which the smile changes the face.
"""

import json
import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

cv2 = pytest.importorskip("cv2")
cv2.setNumThreads(1)

import expression_warp as ew  # noqa: E402
import render_stills as rs  # noqa: E402

FIXTURE = os.path.join(HERE, "fixtures", "teacher")


@pytest.fixture(scope="module")
def faces():
    """[(crop uint8 [H][W][3], the original's 68 points in its pixels)] for the fixture crops."""
    with open(os.path.join(FIXTURE, "reference_landmarks.json")) as f:
        ref = json.load(f)
    return [(np.load(os.path.join(FIXTURE, r["crop"])), np.asarray(r["positions"], np.float64))
            for r in ref["results"]]


@pytest.fixture(scope="module")
def face(faces):
    return faces[0]                   # astronaut 160 x 160, IOD about 46 px


def dot(shape, at, sigma=2.0):
    """A bright Gaussian dot on black, RGB uint8."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    g = 255.0 * np.exp(-((xs - at[0]) ** 2 + (ys - at[1]) ** 2) / (2 * sigma ** 2))
    return np.repeat(g.astype(np.uint8)[..., None], 3, 2)


def centroid(img):
    a = img[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    return np.array([(a * xs).sum() / a.sum(), (a * ys).sum() / a.sum()])


def where_it_goes(shape, points, action, i, intensity=1.0):
    """Where a dot drawn at landmark i is after the warp's geometric part (warp_face's remap;
    its mouth filling would paint over the dot), in image pixels."""
    mx, my = ew.displacement_field(points, ew.moved_points(points, action, intensity), shape)
    out = cv2.remap(dot(shape, points[i]), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return centroid(out)


def test_warp_face_is_the_field_plus_a_mouth(face):
    """warp_face = cv2.remap with displacement_field, and only inside the parted lips something
    else (the mouth's inside) is painted."""
    img, pts = face
    for action in ("smile", "frown"):
        out, dst = ew.warp_face(img, pts, action, 1.0, cv2)
        assert np.array_equal(dst, ew.moved_points(pts, action, 1.0))
        mx, my = ew.displacement_field(pts, dst, img.shape[:2])
        geo = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lips = np.zeros(img.shape[:2], np.uint8)
        cv2.fillPoly(lips, [np.round(dst[48:60]).astype(np.int32)], 1)
        lips = cv2.dilate(lips, np.ones((5, 5), np.uint8)).astype(bool)
        assert np.abs(out.astype(int) - geo)[~lips].max() <= 1          # rounding of the blend
        if action == "frown":                                          # no inside for a frown
            assert np.array_equal(out, geo)


def test_intensity_zero_is_identity(face):
    img, pts = face
    out, moved = ew.warp_face(img, pts, "smile", 0.0, cv2)
    assert np.array_equal(out, img) and np.array_equal(moved, pts)
    for action in ew.ACTIONS:
        assert np.array_equal(ew.moved_points(pts, action, 0.0), pts)
    # No moved point: the backward map is exactly the pixel grid.
    mx, my = ew.displacement_field(pts, pts.copy(), img.shape[:2])
    ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    assert np.array_equal(mx, xs.astype(np.float32)) and np.array_equal(my, ys.astype(np.float32))


def test_smile_lifts_the_mouth_corners_in_the_image(faces):
    for img, pts in faces:
        iod = ew.face_frame(pts)[3]
        for i, outward in ((48, -1.0), (54, 1.0)):           # 48: the corner on the image's left
            moved = where_it_goes(img.shape[:2], pts, "smile", i) - pts[i]
            assert moved[1] < -0.05 * iod, (i, moved / iod)  # up (measured about -0.10 IOD)
            assert outward * moved[0] > 0.03 * iod, (i, moved / iod)
        # More intensity, more lift.
        half = where_it_goes(img.shape[:2], pts, "smile", 54, 0.5)[1] - pts[54, 1]
        full = where_it_goes(img.shape[:2], pts, "smile", 54, 1.0)[1] - pts[54, 1]
        assert full < half < 0


def test_surprise_drops_the_chin_and_raises_the_brows(face):
    img, pts = face
    iod = ew.face_frame(pts)[3]
    for i in (8, 57):                                        # chin, lower lip
        moved = where_it_goes(img.shape[:2], pts, "surprise", i) - pts[i]
        assert moved[1] > 0.2 * iod, (i, moved / iod)        # down (measured 0.28-0.30 IOD)
        assert abs(moved[0]) < 0.05 * iod
    brow = where_it_goes(img.shape[:2], pts, "surprise", 19) - pts[19]
    assert brow[1] < -0.05 * iod
    # The warp also gives the parted lips an inside: darker between them than before.
    out, dst = ew.warp_face(img, pts, "surprise", 1.0, cv2)
    mid = np.round((dst[62] + dst[66]) / 2).astype(int)
    assert out[mid[1], mid[0]].mean() < 80 < img[mid[1], mid[0]].mean() + 80


def test_moves_follow_the_face_frame(face):
    """Rotating the face rotates its moves: upside down, a smile lifts the corners towards the
    image's bottom; moved_points commutes with a rotation."""
    img, pts = face
    c = np.array([80.0, 80.0])
    for deg in (30.0, 180.0):
        a = np.radians(deg)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        rot = (pts - c) @ R.T + c
        got = ew.moved_points(rot, "smile", 1.0)
        want = (ew.moved_points(pts, "smile", 1.0) - c) @ R.T + c
        assert np.abs(got - want).max() < 1e-6
    flipped = (pts - c) * -1 + c                            # 180 degrees
    assert (ew.moved_points(flipped, "smile", 1.0)[[48, 54], 1] > flipped[[48, 54], 1]).all()


def test_field_is_finite_and_local(face):
    _, pts = face
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (400, 400, 3), dtype=np.uint8)
    P = pts + 120.0                                          # the face in the middle of a larger image
    centre, _, _, iod = ew.face_frame(P)
    ys, xs = np.mgrid[0:400, 0:400]
    far = np.hypot(xs - centre[0], ys - centre[1]) > 3.2 * iod
    assert far.mean() > 0.2
    for action in ew.ACTIONS:
        mx, my = ew.displacement_field(P, ew.moved_points(P, action, 1.3), big.shape[:2])
        assert np.isfinite(mx).all() and np.isfinite(my).all()
        # Far from the face the sampling point moves by less than 1/100 of a pixel (cv2.remap's
        # bilinear weights have 1/32-pixel steps; measured at most 2.3e-3 px, surprise at 1.3).
        assert np.abs(mx[far] - xs[far]).max() < 1e-2 and np.abs(my[far] - ys[far]).max() < 1e-2
        # No pixel samples from further than the largest move in the table (a convex blend).
        largest = 1.3 * iod * max(np.hypot(*d) for d in ew.ACTIONS[action].values())
        assert np.hypot(mx - xs, my - ys).max() <= largest + 1e-3
    out, _ = ew.warp_face(big, P, "surprise", 1.0, cv2)
    assert np.array_equal(out[far], big[far])
    assert (out[~far] != big[~far]).any()


def test_plausible_accepts_faces_rejects_scatter(faces):
    for img, pts in faces:
        assert rs.plausible(pts, max(img.shape[:2]))
    img, pts = faces[0]
    size = img.shape[0]
    rng = np.random.default_rng(1)
    for _ in range(200):
        assert not rs.plausible(rng.uniform(0, size, (68, 2)), size)
        assert not rs.plausible(pts[rng.permutation(68)], size)
    assert not rs.plausible(pts * [1, -1] + [0, size], size)        # upside down
    assert not rs.plausible(pts, 4 * size)                          # a face far too small for its box
    assert rs.plausible(pts + rng.normal(0, 1.0, pts.shape), size)  # small noise stays a face


def test_envelope_shapes():
    rng = np.random.default_rng(0)
    for n in (40, 120):
        assert np.array_equal(rs.envelope("neutral", n, rng), np.zeros(n))
        for action in ("smile", "surprise", "frown", "sad"):
            for _ in range(20):
                e = rs.envelope(action, n, rng)
                assert e.shape == (n,) and np.isfinite(e).all()
                assert (e[:2] == 0).all() and 0.7 - 1e-9 <= e.max() <= 1.3 + 1e-9 and e.min() >= 0
                top = int(np.argmax(e))
                assert (np.diff(e[:top + 1]) >= 0).all()                 # onset, then
                assert (np.diff(e[top:]) <= 1e-12).all()                 # hold and release
                assert (e >= e.max() - 1e-9).sum() >= n // 4             # a hold at the peak
                if n == 120:
                    assert e[-1] == 0                                    # released within the clip
        for _ in range(20):
            e = rs.envelope("talk", n, rng)
            assert e.shape == (n,) and e.min() >= 0 and e.max() <= 1.2 * 1.2 + 1e-9
            assert ((e[1:-1] < e[:-2]) & (e[1:-1] < e[2:])).any() or n < 40   # opens and closes


def test_camera_path_is_smooth_and_bounded():
    rng = np.random.default_rng(2)
    n = 200
    for _ in range(10):
        dx, dy, scale, angle = rs.camera(n, rng)
        for v, amp, centre in ((dx, 0.05, 0), (dy, 0.05, 0), (scale, 0.07, 1), (angle, 4.0, 0)):
            assert v.shape == (n,) and np.isfinite(v).all()
            assert np.abs(v - centre).max() <= amp + 1e-12
            # At most 2 periods over the clip: a step is at most amp * 2 pi * 2 / n.
            assert np.abs(np.diff(v)).max() <= amp * 4 * np.pi / n + 1e-12
            assert np.abs(v - centre).max() > 0.1 * amp               # it does move


def test_render_writes_a_video_whose_face_changes(tmp_path, face):
    img, pts = face
    out = tmp_path / "ident"
    n = rs.render(cv2, img, (40, 30, 80, 100, pts), ["neutral", "smile"], 12, np.random.default_rng(3), str(out))
    names = sorted(os.listdir(out))
    assert n == 24 and names == [f"{k:05d}.jpg" for k in range(1, 25)]
    frames = [cv2.imread(str(out / name)) for name in names]
    assert all(f.shape == (rs.FRAME, rs.FRAME, 3) for f in frames)
    assert len({f.tobytes() for f in frames}) == 24                    # the camera moves
