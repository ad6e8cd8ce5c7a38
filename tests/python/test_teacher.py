"""The teacher (train/teacher/faceapi.py, face-api's FaceExpressionNet in PyTorch) against the
original: probabilities that the npm package's own FaceExpressionNet (dist/face-api.esm.js, the tfjs
4.22 it bundles, CPU backend, run offline in Node 20 by train/teacher/reference_outputs.mjs) gave on
the face crops in fixtures/teacher/. Measured when the fixture was made: max abs difference 9.5e-7
(float32 port), 6.9e-7 (float64 port); the bound here is 1e-4.

The weights come from npm @vladmandic/face-api@1.7.15 (pinned, sha256-checked) through
train/teacher/fetch_faceapi.sh, into $ADATOSK_FACEAPI_DIR or the user's cache; the test skips only
when the package cannot be fetched.
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

from teacher.faceapi import (FaceApiTeacher, LABELS, preprocess_one,  # noqa: E402
                             read_tfjs_weights)

FIXTURE = os.path.join(HERE, "fixtures", "teacher")


@pytest.fixture(scope="module")
def reference():
    with open(os.path.join(FIXTURE, "reference_probs.json")) as f:
        ref = json.load(f)
    assert ref["labels"] == LABELS
    return ref


def test_weights_layout(model_dir):
    w = read_tfjs_weights(model_dir)
    assert list(w)[0] == "dense0/conv0/filters" and w["dense0/conv0/filters"].shape == (3, 3, 3, 32)
    assert w["fc/weights"].shape == (256, 7)
    assert len(w) == 49
    assert all(np.isfinite(v).all() for v in w.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_port_matches_original(model_dir, reference, dtype):
    teacher = FaceApiTeacher(model_dir, dtype=dtype)
    crops = [np.load(os.path.join(FIXTURE, r["crop"])) for r in reference["results"]]
    got = teacher.probs(crops)
    want = np.array([r["probs"] for r in reference["results"]])
    diff = np.abs(got - want).max()
    print(f"teacher port ({dtype}) vs original: max abs probability difference {diff:.2e}")
    assert diff <= 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()
    # The fixture covers both labels that matter on the face videos, and a smile.
    assert {LABELS[i] for i in want.argmax(1)} >= {"neutral", "surprised", "happy"}


def test_preprocess_padding_and_size():
    # 3 x 8 image: 5 rows of padding, round(2.5) = 3 after, 2 before (JS Math.round), then resize.
    a = np.full((3, 8, 3), 200, np.uint8)
    x = preprocess_one(a)
    assert x.shape == (3, 112, 112)
    zero = (0 - 122.782) / 255.0
    assert abs(x[0, 0, 0] - zero) < 1e-6                    # padding row on top
    assert abs(x[0, 40, 50] - (200 - 122.782) / 255.0) < 1e-6
