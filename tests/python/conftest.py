"""Fixtures shared by the Python tests."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

from teacher.faceapi import default_model_dir  # noqa: E402
from teacher.human_emotion import default_package_dir  # noqa: E402


def fetched(script, dest, package):
    """Runs a fetch script (exit 77: the package cannot be fetched here) -> dest, or skips."""
    r = subprocess.run(["sh", os.path.join(ROOT, "train", "teacher", script), dest], capture_output=True, text=True)
    if r.returncode == 77:
        pytest.skip(f"npm package {package} cannot be fetched: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    return dest


@pytest.fixture(scope="session")
def model_dir():
    """face-api's model folder (npm @vladmandic/face-api@1.7.15, pinned, through
    train/teacher/fetch_faceapi.sh); skips only when the package cannot be fetched."""
    return fetched("fetch_faceapi.sh", default_model_dir(), "@vladmandic/face-api@1.7.15")


@pytest.fixture(scope="session")
def human_dir():
    """@vladmandic/human's package folder (npm @vladmandic/human@3.3.6, pinned, through
    train/teacher/fetch_human.sh): the second teacher; skips only when it cannot be fetched."""
    return fetched("fetch_human.sh", default_package_dir(), "@vladmandic/human@3.3.6")
