"""The second teacher, @vladmandic/human's emotion net in PyTorch (train/teacher/human_emotion.py),
against the ORIGINAL graph model run by tfjs (fixtures/teacher/reference_emotion.json, made by
train/teacher/reference_emotion.mjs in Node; see fixtures/teacher/README.md).

The model comes from npm @vladmandic/human@3.3.6 through train/teacher/fetch_human.sh (the user's
cache or $ADATOSK_HUMAN_DIR); the tests skip only when the package cannot be fetched.
"""

import json
import os
import shutil
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

from teacher import faceapi  # noqa: E402
from teacher import human_emotion as he  # noqa: E402

torch.set_num_threads(1)
FIXTURE = os.path.join(HERE, "fixtures", "teacher")


@pytest.fixture(scope="module")
def reference():
    with open(os.path.join(FIXTURE, "reference_emotion.json")) as f:
        ref = json.load(f)
    assert ref["labels"] == he.LABELS and len(ref["results"]) == 6
    return ref


@pytest.fixture(scope="module")
def teacher(human_dir):
    return he.HumanEmotionTeacher(human_dir)


def crop(name):
    return np.load(os.path.join(FIXTURE, name))


def test_port_matches_the_original(teacher, reference):
    """Human's preprocessing and the graph, node by node, give the original's probabilities on
    square, tall, wide, small and element-made crops."""
    worst = 0.0
    for r in reference["results"]:
        got = teacher.probs_own_order([crop(r["crop"])])[0]
        worst = max(worst, float(np.abs(got - r["probs"]).max()))
    assert worst < 1e-5, worst
    # And the answers are faces' answers: the smiling astronaut happy, the cap13 man neutral.
    top = {r["crop"]: he.LABELS[int(np.argmax(r["probs"]))] for r in reference["results"]}
    assert top["astronaut_face_square.npy"] == "happy" and top["cap13_element_crop_neutral.npy"] == "neutral"


def test_probs_come_in_faceapis_order(teacher, reference):
    crops = [crop(r["crop"]) for r in reference["results"]]
    own, mapped = teacher.probs_own_order(crops), teacher.probs(crops)
    renamed = {"fear": "fearful", "disgust": "disgusted", "surprise": "surprised"}
    for j, name in enumerate(faceapi.LABELS):
        k = [renamed.get(n, n) for n in he.LABELS].index(name)
        assert np.array_equal(mapped[:, j], own[:, k]), name
    assert np.allclose(mapped.sum(1), 1.0, atol=1e-5)


def test_centre_shows_the_middle_of_the_crop(human_dir):
    img = crop("astronaut_face_square.npy")                      # 160 x 160
    centred = he.HumanEmotionTeacher(human_dir, centre=0.5).probs_own_order([img])
    middle = he.HumanEmotionTeacher(human_dir).probs_own_order([np.ascontiguousarray(img[40:120, 40:120])])
    assert np.abs(centred - middle).max() < 1e-12
    with pytest.raises(ValueError, match="centre"):
        he.preprocess_one(img, 64, centre=0.1)
    with pytest.raises(ValueError, match="RGB crop"):
        he.preprocess_one(img[..., 0], 64)


def test_an_op_it_does_not_run_is_refused(human_dir, tmp_path):
    """A graph with an op the port does not know is refused with its name, never run wrongly."""
    src = he._model_dir(human_dir)
    with open(os.path.join(src, he.MODEL_FILE)) as f:
        model = json.load(f)
    model["modelTopology"]["node"][-2]["op"] = "LogSoftmax"
    (tmp_path / he.MODEL_FILE).write_text(json.dumps(model))
    shutil.copy(os.path.join(src, "emotion.bin"), tmp_path / "emotion.bin")
    with pytest.raises(ValueError, match="LogSoftmax"):
        he.GraphNet(str(tmp_path))
