"""train/make_dataset.py cuts training clips with the element itself (dump-location), on the real
face video (fetched by tests/media/fetch-media.sh; skipped when npm is unreachable).

- The clips of a dataset are exactly the inputs the element gives the model at inference: the same
  clips (track, start) with the same pixels as the element running that very model writes.
- DFEW-style input: a video file and a folder of numbered JPEG frames, labelled by a CSV, become
  clips with those labels; a label that is not a class is refused.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN = os.path.join(ROOT, "train")
sys.path.insert(0, TRAIN)

PY = sys.executable


@pytest.fixture(scope="module")
def video():
    script, media = os.environ.get("ADATOSK_FETCH_MEDIA"), os.environ.get("ADATOSK_MEDIA_DIR")
    if not script or not media:
        pytest.skip("ADATOSK_FETCH_MEDIA/ADATOSK_MEDIA_DIR not set (run through meson test)")
    r = subprocess.run(["bash", script, media])
    if r.returncode == 77:
        pytest.skip("the face video cannot be fetched (npm registry unreachable)")
    assert r.returncode == 0
    return os.path.join(media, "cap13_edit2.webm")


def run(*args):
    r = subprocess.run([PY, *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def gst(description):
    r = subprocess.run(["gst-launch-1.0", "-q", *description.split()], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_clips_are_the_elements_model_inputs(tmp_path, video):
    model = tmp_path / "m.safetensors"
    run(os.path.join(TRAIN, "make_model.py"), "--config", "adatosk-tiny", "--set", "num_frames=8",
        "--set", "img_size=[48,64]", "--set", "embed_dim=32", "--set", "depth=2", "--set", "num_heads=2",
        "--set", "atsm_layer=1", "--set", "frame_step=2", "--no-decoder", "--out", str(model))
    out = run(os.path.join(TRAIN, "make_dataset.py"), "--out", str(tmp_path / "ds"), "--model", str(model),
              "--crop-margin", "0.3", "--label-csv", str(write_labels(tmp_path, {"cap13_edit2.webm": "neutral"})),
              video)
    assert "make_dataset:" in out
    ds = rows(tmp_path / "ds" / "clips.csv")

    # The element with the real model, dumping what the model gets.
    dump = tmp_path / "dump"
    gst(f"filesrc location={video} ! decodebin ! videoconvert ! facedetect display=false ! "
        f"adatoskdfer model={model} roi-mode=roi crop-margin=0.3 backend=cpu threads=1 "
        f"dump-location={dump} ! fakesink")
    with open(dump / "clips.jsonl") as f:
        index = [json.loads(line) for line in f]
    assert len(index) == len(ds) > 20
    mean = np.array([0.485, 0.456, 0.406])[:, None, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None, None]
    for row, entry in zip(ds, index):
        assert (int(row["track"]), int(row["start_ns"]), int(row["end_ns"])) == \
            (entry["track"], entry["start"], entry["end"])
        clip = np.load(tmp_path / "ds" / row["path"])
        assert clip.shape == (8, 48, 64, 3) and clip.dtype == np.uint8
        x = np.load(dump / entry["file"])                       # [3][T][H][W], normalised
        # The dataset's bytes, normalised as the element does, are the model's input.
        assert np.abs((clip.transpose(3, 0, 1, 2) / 255.0 - mean) / std - x).max() < 1e-5
        assert row["label"] == "0" and row["teacher_top"] == "neutral"


def write_labels(tmp_path, labels):
    path = tmp_path / "labels.csv"
    with open(path, "w") as f:
        for name, label in labels.items():
            f.write(f"{name},{label}\n")
    return path


def test_dfew_style_folders_and_videos(tmp_path, video):
    extracted = tmp_path / "frames"
    extracted.mkdir()
    gst(f"filesrc location={video} ! decodebin ! videoconvert ! video/x-raw,format=I420 ! "
        f"jpegenc ! multifilesink location={extracted}/%05d.jpg")
    frames = tmp_path / "clip 0001"       # a space: paths are properties, not launch text
    extracted.rename(frames)
    for name in sorted(os.listdir(frames))[60:]:       # a short clip, as in DFEW
        os.remove(frames / name)
    labels = write_labels(tmp_path, {"clip 0001": "surprised", "cap13_edit2.webm": 1})
    run(os.path.join(TRAIN, "make_dataset.py"), "--out", str(tmp_path / "ds"), "--label-csv", str(labels),
        str(frames), video)
    ds = rows(tmp_path / "ds" / "clips.csv")
    by_video = {}
    for r in ds:
        by_video.setdefault(r["video"], set()).add((r["label"], r["teacher_top"]))
        assert np.load(tmp_path / "ds" / r["path"]).shape == (16, 112, 112, 3)
    assert by_video == {"clip 0001": {("6", "surprised")}, "cap13_edit2": {("1", "happy")}}

    bad = write_labels(tmp_path, {"clip 0001": "bored"})
    r = subprocess.run([PY, os.path.join(TRAIN, "make_dataset.py"), "--out", str(tmp_path / "bad"),
                        "--label-csv", str(bad), str(frames)], capture_output=True, text=True)
    assert r.returncode != 0 and "'bored' is not one of" in r.stderr
