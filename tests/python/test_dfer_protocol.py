"""The DFEW protocol: evaluate.py's UAR/WAR, the split-list readers (dfer_lists.py) and the fold
runner (run_folds.py) end to end on a small synthetic DFEW-shaped set.

- UAR/WAR and per-class recall on a hand-made example (against hard labels, against the argmax of
  soft labels, a list mixing both), and clips grouped into videos;
- DFEW's, FERV39k's and MAFW's list formats, DFEW's class order 1 Happy .. 7 Fear mapped to the
  model's classes, video names compared with and without zero padding and extension;
- five folds: 35 videos (5 per class), 1-2 clips each, DFEW's split files, train.py a few steps on
  a tiny config per fold, then per-video UAR/WAR per fold and their mean.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

from dfer_lists import DFEW_CLASSES, MAFW_LABELS, MODEL_LABELS, read_folds, video_key  # noqa: E402
from evaluate import group_mean, metrics, uar_war  # noqa: E402

TINY = dict(num_frames=4, img_size=32, embed_dim=32, depth=2, num_heads=2, atsm_layer=1,
            decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, keep_ratio=0.5, mask_ratio=0.5)


def one_hot(y, C=3):
    return np.eye(C)[y]


def test_uar_war_by_hand():
    labels = ["a", "b", "c"]
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    s = uar_war(y, pred, labels)
    assert s["recall"] == {"a": 0.75, "b": 0.5, "c": 0.0}
    assert s["uar"] == pytest.approx(1.25 / 3) and s["war"] == pytest.approx(4 / 8)
    # A class nobody is labelled with does not enter the UAR, even when predicted.
    s = uar_war(np.array([0, 0, 1]), np.array([0, 2, 1]), labels)
    assert set(s["recall"]) == {"a", "b"} and s["uar"] == pytest.approx(0.75)


def test_metrics_hard_soft_and_mixed():
    labels = ["a", "b", "c"]
    probs = one_hot(np.array([0, 1, 1, 2]))
    hard = one_hot(np.array([0, 1, 0, 2]))
    m = metrics(probs, hard, labels)
    assert m["label_kind"] == "hard" and m["war"] == 0.75 and m["uar"] == pytest.approx((0.5 + 1 + 1) / 3)
    soft = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    m = metrics(probs, soft, labels)
    assert m["label_kind"] == "soft" and m["war"] == 0.75 and m["soft_labels"]["clips"] == 4
    mixed = np.concatenate([hard[:2], soft[2:]])
    m = metrics(probs, mixed, labels, hard=np.array([True, True, False, False]))
    assert m["label_kind"] == "mixed"
    assert m["hard_labels"]["war"] == 1.0 and m["soft_labels"]["war"] == 0.5
    assert m["soft_labels"]["recall"] == {"a": 0.0, "c": 1.0}


def test_group_mean_scores_videos():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    targets = one_hot(np.array([0, 0, 1, 1]), 2)
    P, T, names = group_mean(probs, targets, ["v1", "v1", "v2", "v2"])
    assert names == ["v1", "v2"]
    assert np.allclose(P, [[0.55, 0.45], [0.45, 0.55]]) and np.allclose(T, [[1, 0], [0, 1]])


def test_video_key():
    assert video_key("00025.mp4") == video_key("25") == video_key("00025/") == video_key("a/b/00025") == "25"
    assert video_key("clip_007.avi") == "clip_007"


def write_dfew_splits(root, n_per_class=5, folds=5):
    """DFEW's layout: train(single-labeled)/set_K.csv, test(...)/set_K.csv, header video_name,label;
    videos 1..35, label k = DFEW_CLASSES[k - 1]; video v is in the test set of fold v % 5 + 1."""
    videos = [(v, (v - 1) % 7 + 1) for v in range(1, 7 * n_per_class + 1)]
    for part in ("train", "test"):
        os.makedirs(os.path.join(root, f"{part}(single-labeled)"), exist_ok=True)
    for k in range(1, folds + 1):
        test = [(v, l) for v, l in videos if v % folds + 1 == k]
        train = [(v, l) for v, l in videos if v % folds + 1 != k]
        for part, rows in (("train", train), ("test", test)):
            with open(os.path.join(root, f"{part}(single-labeled)", f"set_{k}.csv"), "w") as f:
                f.write("video_name,label\n" + "".join(f"{v},{l}\n" for v, l in rows))
    return videos


def test_dfew_lists_and_class_order(tmp_path):
    videos = write_dfew_splits(str(tmp_path / "EmoLabel_DataSplit"))
    folds = read_folds("dfew", str(tmp_path))                   # the dataset root works too
    assert [f.name for f in folds] == [f"set_{k}" for k in range(1, 6)]
    assert DFEW_CLASSES == ["happy", "sad", "neutral", "angry", "surprised", "disgusted", "fearful"]
    f1 = dict(folds[0].train + folds[0].test)
    assert f1["1"] == "happy" and f1["3"] == "neutral" and f1["5"] == "surprised" and f1["7"] == "fearful"
    tested = sorted(v for f in folds for v, _ in f.test)
    assert tested == sorted(str(v) for v, _ in videos)         # every video tested exactly once
    for f in folds:
        assert not {v for v, _ in f.train} & {v for v, _ in f.test}


def test_ferv39k_and_mafw_lists(tmp_path):
    d = tmp_path / "4_setups" / "All_scenes"
    d.mkdir(parents=True)
    (d / "train_All.csv").write_text("Action/Happy/0001 Happy\nAction/Fear/0002 Fear\n")
    (d / "test_All.csv").write_text("Daily/Surprise/0003 Surprise\n")
    (f,) = read_folds("ferv39k", str(tmp_path))
    assert f.train == [("Action/Happy/0001", "happy"), ("Action/Fear/0002", "fearful")]
    assert f.test == [("Daily/Surprise/0003", "surprised")]
    (d / "test_All.csv").write_text("Daily/Surprise/0001 Surprise\nOther/Sad/0001 Sad\n")
    with pytest.raises(SystemExit, match="same name"):          # one file name in two scenes
        read_folds("ferv39k", str(tmp_path))
    m = tmp_path / "mafw" / "split" / "single" / "no_caption"
    for k in range(1, 6):
        (m / f"set_{k}").mkdir(parents=True)
        (m / f"set_{k}" / "train.txt").write_text("00025.mp4 happiness\n00026.mp4 helplessness\n")
        (m / f"set_{k}" / "test.txt").write_text("00027.mp4 anger\n")
    folds = read_folds("mafw", str(tmp_path / "mafw"))
    assert folds[2].train == [("00025.mp4", "happy"), ("00026.mp4", "helplessness")]
    assert len(MAFW_LABELS) == 11 and MAFW_LABELS[:7] == MODEL_LABELS
    (m / "set_1" / "test.txt").write_text("00027.mp4 rage\n")
    with pytest.raises(SystemExit, match="set_1/test.txt:1"):
        read_folds("mafw", str(tmp_path / "mafw"))


def make_clip_set(root, videos, seed=0):
    """Clips as make_dataset.py writes them: clips/NAME_t0_000i.npy, clips.csv with a `video` column
    (the zero-padded folder name) and a label column the runner must ignore. A class tints its
    clips so that a model could learn it; one video of each fold has no clip (no face found)."""
    g = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "clips"))
    rows = ["path,label,video,track,start_ns,end_ns,teacher_top"]
    tint = np.linspace(0, 255, 7)
    for v, lab in videos:
        if v in (35, 34, 33, 32, 31):
            continue
        for i in range(1 + v % 2):
            x = g.integers(0, 64, (4, 32, 32, 3)) + np.array([tint[lab - 1], 128 - tint[lab - 1] / 2, 64])
            rel = f"clips/{v:05d}_t0_{i:04d}.npy"
            np.save(os.path.join(root, rel), np.clip(x, 0, 255).astype(np.uint8))
            rows.append(f"{rel},neutral,{v:05d},0,0,0,neutral")
    with open(os.path.join(root, "clips.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return os.path.join(root, "clips.csv")


def test_five_folds_end_to_end(tmp_path):
    videos = write_dfew_splits(str(tmp_path / "EmoLabel_DataSplit"))
    clips = make_clip_set(str(tmp_path / "ds"), videos)
    out = str(tmp_path / "runs")
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "train", "run_folds.py"), "--dataset", "dfew",
                        "--splits", str(tmp_path / "EmoLabel_DataSplit"), "--clips", clips, "--out", out, "--",
                        "--steps", "3", "--batch", "4", "--warmup", "1", "--threads", "1", "--eval-every", "0",
                        "--hard-labels", "--balanced", "--quiet"] + sets,
                       capture_output=True, text=True, env=env, timeout=600)
    print(r.stdout[-3000:])
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert [f["fold"] for f in summary["folds"]] == [f"set_{k}" for k in range(1, 6)]
    for k, f in enumerate(summary["folds"], 1):
        assert f["test_videos_listed"] == 7 and f["clips"] == 6          # one video per fold has no clip
        assert 0.0 <= f["uar"] <= 1.0 and 0.0 <= f["war"] <= 1.0
        ev = json.load(open(os.path.join(out, f"set_{k}", "eval.json")))
        assert ev["unit"] == "videos" and len(ev["test_videos_without_clips"]) == 1
        assert ev["label_kind"] == "hard"
    assert summary["mean_uar"] == pytest.approx(np.mean([f["uar"] for f in summary["folds"]]))
    assert summary["mean_war"] == pytest.approx(np.mean([f["war"] for f in summary["folds"]]))
    # The fold lists carry the split file's labels in the model's names, not the clip list's.
    with open(os.path.join(out, "set_1", "test.csv")) as fh:
        rows = [line.strip().split(",") for line in fh][1:]
    by_video = {r[2]: r[1] for r in rows}
    assert by_video["5"] == "surprised" and by_video["10"] == "neutral"  # DFEW 5 Surprise, 3 Neutral
    assert "mean" in r.stdout and r.stdout.count("UAR") >= 6
