"""Fixtures shared by the Python tests."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

from teacher.faceapi import default_model_dir  # noqa: E402


@pytest.fixture(scope="session")
def model_dir():
    """face-api's model folder (npm @vladmandic/face-api@1.7.15, pinned, through
    train/teacher/fetch_faceapi.sh); skips only when the package cannot be fetched."""
    dest = default_model_dir()
    script = os.path.join(ROOT, "train", "teacher", "fetch_faceapi.sh")
    r = subprocess.run(["sh", script, dest], capture_output=True, text=True)
    if r.returncode == 77:
        pytest.skip(f"npm package @vladmandic/face-api@1.7.15 cannot be fetched: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return dest


@pytest.fixture(scope="session")
def human_dir():
    """@vladmandic/human's package folder (npm @vladmandic/human@3.3.6, pinned, through
    train/teacher/fetch_human.sh): the second teacher; skips only when it cannot be fetched."""
    from teacher.human_emotion import default_package_dir
    dest = default_package_dir()
    script = os.path.join(ROOT, "train", "teacher", "fetch_human.sh")
    r = subprocess.run(["sh", script, dest], capture_output=True, text=True)
    if r.returncode == 77:
        pytest.skip(f"npm package @vladmandic/human@3.3.6 cannot be fetched: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return dest
