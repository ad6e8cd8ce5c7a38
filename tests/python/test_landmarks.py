"""face-api's 68-point landmark net in PyTorch (train/teacher/landmarks.py) against the ORIGINAL,
and the teacher's per-frame features (train/teacher/faceapi.py probs_and_features).

The reference is fixtures/teacher/reference_landmarks.json: what the npm package's own
FaceLandmark68Net (@vladmandic/face-api@1.7.15 dist/face-api.esm.js, the tfjs 4.22 it bundles, CPU
backend, run offline in Node 20 by `train/teacher/reference_outputs.mjs --landmarks`) gives on the
fixture crops, in three forms: `net` (the FC's 136 outputs, relative to the padded 112 x 112
input, before FaceLandmark68NetBase.postProcess), `relative` (after postProcess: relative to the
unpadded crop) and `positions` (detectLandmarks' pixels). Measured when the fixture was made
(float32 port): max abs difference 6.0e-8 in the net's relative units (6.7e-6 of a 112-pixel input)
on all six crops, square or not; points() vs positions on the three square crops 1.9e-5 pixels.
The bounds here: 1e-5 relative (about 1e-3 of a pixel at 112), 5e-3 pixels.

The weights come from npm @vladmandic/face-api@1.7.15 through train/teacher/fetch_faceapi.sh (the
user's cache or $ADATOSK_FACEAPI_DIR); the tests skip only when the package cannot be fetched.
"""

import json
import os
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

from teacher.faceapi import FaceApiTeacher, LABELS, preprocess  # noqa: E402
from teacher.landmarks import FaceLandmarks68  # noqa: E402

torch.set_num_threads(1)
FIXTURE = os.path.join(HERE, "fixtures", "teacher")


@pytest.fixture(scope="module")
def reference():
    with open(os.path.join(FIXTURE, "reference_landmarks.json")) as f:
        ref = json.load(f)
    assert len(ref["results"]) == 6
    for r in ref["results"]:
        for k in ("net", "relative", "positions"):
            assert np.asarray(r[k]).shape == (68, 2)
    return ref


@pytest.fixture(scope="module")
def landmarks(model_dir):
    return FaceLandmarks68(model_dir)


def crop(r):
    return np.load(os.path.join(FIXTURE, r["crop"]))


def test_reference_is_postprocess_of_net(reference):
    """The fixture's three forms agree with face-api's postProcess (a check of the fixture and of
    what landmarks.py assumes): net * 112 minus the centring pad, over the scaled crop size."""
    for r in reference["results"]:
        H, W = r["shape"][:2]
        s = 112.0 / max(H, W)
        w, h = W * s, H * s
        pad = np.array([(112 - w) / 2, (112 - h) / 2])
        rel = (np.asarray(r["net"]) * 112 - pad) / [w, h]
        assert np.abs(rel - r["relative"]).max() < 1e-5
        assert np.abs(np.asarray(r["relative"]) * [W, H] - r["positions"]).max() < 1e-3
        if H == W:
            assert np.abs(np.asarray(r["net"]) - r["relative"]).max() < 1e-6      # float32 * 112 / 112


def test_net_matches_original(landmarks, reference):
    """The 136 outputs of the port's network on the original's preprocessing (padding to square,
    legacy bilinear resize) are the original's, on square and non-square crops alike."""
    worst = 0.0
    for r in reference["results"]:
        with torch.no_grad():
            got = landmarks.net(preprocess([crop(r)])).double().numpy().reshape(68, 2)
        worst = max(worst, float(np.abs(got - np.asarray(r["net"])).max()))
    print(f"landmark net vs original: max abs difference {worst:.2e} (relative to the 112 input)")
    assert worst <= 1e-5


def test_points_match_original_pixels(landmarks, reference):
    square = [r for r in reference["results"] if r["shape"][0] == r["shape"][1]]
    assert len(square) == 3
    got = landmarks.points([crop(r) for r in square], batch=2)          # two batches
    assert got.shape == (3, 68, 2) and got.dtype == np.float64
    want = np.array([r["positions"] for r in square])
    diff = float(np.abs(got - want).max())
    print(f"landmark points vs original detectLandmarks positions: max abs difference {diff:.2e} px")
    assert diff <= 5e-3


def test_points_refuse_non_square(landmarks, reference):
    tall = [crop(r) for r in reference["results"] if r["shape"][0] != r["shape"][1]][0]
    with pytest.raises(ValueError, match="square"):
        landmarks.points([tall])
    assert landmarks.points([]).shape == (0, 68, 2)


def test_points_are_a_face(landmarks, reference):
    """Not only equal to the original: the original's points lie where a face's parts are (eyes above
    the nose tip, above the mouth, above the chin; left eye left of the right one)."""
    for r in reference["results"]:
        p = np.asarray(r["positions"])
        eyes_y = p[36:48, 1].mean()
        assert eyes_y < p[30, 1] < p[51, 1] < p[57, 1] < p[8, 1]
        assert p[36:42, 0].mean() < p[42:48, 0].mean()
        assert p[48, 0] < p[54, 0]
        H, W = r["shape"][:2]
        assert (p[:, 0] > -0.1 * W).all() and (p[:, 0] < 1.1 * W).all()


@pytest.fixture(scope="module")
def teacher(model_dir):
    return FaceApiTeacher(model_dir)


def test_probs_and_features(teacher):
    with open(os.path.join(FIXTURE, "reference_probs.json")) as f:
        ref = json.load(f)
    crops = [np.load(os.path.join(FIXTURE, r["crop"])) for r in ref["results"]]
    probs, feats = teacher.probs_and_features(crops, batch=4)           # two batches
    assert probs.shape == (6, len(LABELS)) and probs.dtype == np.float64
    assert feats.shape == (6, 256) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and np.abs(feats).max() > 0
    # The same probabilities as before the split (and as the original), whatever the batch.
    assert np.array_equal(probs, teacher.probs(crops))
    assert np.abs(probs - np.array([r["probs"] for r in ref["results"]])).max() <= 1e-4
    p1, f1 = teacher.probs_and_features(crops[2:3])
    assert np.allclose(p1, probs[2:3], atol=1e-6) and np.allclose(f1, feats[2:3], atol=1e-5)
    # The features are what the FC reads: softmax(fc(features)) is the probability.
    W = teacher.net.fc.weight.detach().double().numpy()
    b = teacher.net.fc.bias.detach().double().numpy()
    z = feats.astype(np.float64) @ W.T + b
    sm = np.exp(z - z.max(1, keepdims=True))
    sm /= sm.sum(1, keepdims=True)
    assert np.abs(sm - probs).max() < 1e-5
    # Crops of different faces/expressions have different features.
    assert np.abs(feats[3] - feats[4]).max() > 1e-2
    p0, f0 = teacher.probs_and_features([])
    assert p0.shape == (0, 7) and f0.shape == (0, 256)
