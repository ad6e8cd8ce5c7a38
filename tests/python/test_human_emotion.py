"""The second teacher, @vladmandic/human's emotion net in PyTorch (train/teacher/human_emotion.py),
against the ORIGINAL graph model run by tfjs (fixtures/teacher/reference_emotion.json, made by
train/teacher/reference_emotion.mjs in Node; see fixtures/teacher/README.md).

The model comes from npm @vladmandic/human@3.3.6 through train/teacher/fetch_human.sh (the user's
cache or $ADATOSK_HUMAN_DIR); the tests skip only when the package cannot be fetched.
"""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import torch

from teacher import faceapi
from teacher import human_emotion as he

HERE = os.path.dirname(os.path.abspath(__file__))

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


def write_set(folder, clips):
    """A make_dataset.py-style set in folder: clips/NAME.npy frames and clips.csv with face-api's
    soft labels."""
    (folder / "clips").mkdir(parents=True)
    lines = ["path,label,video,track,start_ns,end_ns,teacher_top"]
    for k, (frames, label) in enumerate(clips):
        np.save(folder / "clips" / f"c{k}.npy", frames)
        soft = " ".join(f"{v:.6f}" for v in label)
        lines.append(f"clips/c{k}.npy,{soft},v{k},1,0,1,{faceapi.LABELS[int(np.argmax(label))]}")
    (folder / "clips.csv").write_text("\n".join(lines) + "\n")
    return folder / "clips.csv"


def onehot(name):
    p = np.full(7, 0.01)
    p[faceapi.LABELS.index(name)] = 0.94
    return p


def test_second_opinion_keeps_the_clips_both_teachers_agree_on(tmp_path, human_dir):
    """Clips of the smiling astronaut and the neutral cap13 man, labelled once as face-api would and
    once against it: only the agreeing ones are written, with paths that still reach their frames,
    and the cross table counts each case where it belongs."""
    import second_opinion as so
    astro = np.stack([cv_resize(crop("astronaut_face_square.npy"))] * 4)
    man = np.stack([crop("cap13_element_crop_neutral.npy")] * 4)
    src = write_set(tmp_path / "in",
                    [(astro, onehot("happy")), (man, onehot("neutral")), (astro, onehot("neutral")),
                     (man, onehot("surprised"))])
    out = tmp_path / "out" / "agreed.csv"
    out.parent.mkdir()
    report = tmp_path / "report.json"
    assert so.main([str(src), "--out", str(out), "--json", str(report), "--human", human_dir]) == 0
    rep = json.loads(report.read_text())
    assert rep["n"] == 4 and rep["agree"] == 0.5
    assert rep["second_top"] == ["happy", "neutral", "happy", "neutral"]
    table = np.array(rep["table"])
    L = faceapi.LABELS.index
    assert table[L("happy"), L("happy")] == 1 and table[L("neutral"), L("neutral")] == 1
    assert table[L("neutral"), L("happy")] == 1 and table[L("surprised"), L("neutral")] == 1
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["video"] for r in rows] == ["v0", "v1"]
    for r in rows:                                   # the frames are reached from the new CSV's folder
        assert np.load(out.parent / r["path"]).shape == (4, 112, 112, 3)


def cv_resize(img):
    import cv2
    return cv2.resize(img, (112, 112), interpolation=cv2.INTER_AREA)
