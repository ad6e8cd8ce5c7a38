"""train/make_dataset.py --jobs N: videos cut in parallel processes, each through the element as
in the sequential cut, merged into the one index the sequential cut writes (the real face videos of
tests/media/fetch-media.sh and face-api's teacher; skipped when npm cannot be reached)."""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRAIN = os.path.join(ROOT, "train")
sys.path.insert(0, TRAIN)
sys.path.insert(0, HERE)

from test_dataset import faceapi_dir, rows, video  # noqa: E402,F401  (fixtures)


def test_parallel_cut_writes_the_sequential_index(tmp_path, video, faceapi_dir):  # noqa: F811
    """--jobs 2 on two videos writes what --jobs 1 writes: the same clips.csv (rows in the order of
    the videos given, not of their finishing), dataset.json, frames.npz and clip files."""
    videos = [os.path.join(os.path.dirname(video), "cap12_edit.webm"), video]
    out = {}
    for jobs in (1, 2):
        out[jobs] = tmp_path / f"jobs{jobs}"
        r = subprocess.run([sys.executable, os.path.join(TRAIN, "make_dataset.py"), "--out", str(out[jobs]),
                            "--teacher", faceapi_dir, "--max-seconds", "2", "--jobs", str(jobs), *videos],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("labelled by the teacher") == 2
    seq, par = out[1], out[2]
    assert (par / "clips.csv").read_bytes() == (seq / "clips.csv").read_bytes()
    assert (par / "dataset.json").read_bytes() == (seq / "dataset.json").read_bytes()
    order = [r["video"] for r in rows(seq / "clips.csv")]
    assert order[0] == "cap12_edit" and order[-1] == "cap13_edit2" and len(order) >= 8
    with np.load(seq / "frames.npz") as a, np.load(par / "frames.npz") as b:
        assert sorted(a.files) == sorted(b.files) and len(a["pts"]) > 0
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    names = sorted(os.listdir(seq / "clips"))
    assert names == sorted(os.listdir(par / "clips")) and any(n.endswith(".teacher.npz") for n in names)
    for name in names:
        assert (par / "clips" / name).read_bytes() == (seq / "clips" / name).read_bytes(), name
