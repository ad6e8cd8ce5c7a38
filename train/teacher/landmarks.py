#!/usr/bin/python3
"""face-api's 68-point face landmark net (FaceLandmark68Net) in PyTorch.

Weights: npm @vladmandic/face-api@1.7.15, model/face_landmark_68_model-weights_manifest.json + .bin
(train/teacher/fetch_faceapi.sh fetches them beside the expression net). The network is the
expression net's feature extractor with a 136-wide FC; its outputs are the 68 points (x, y
interleaved) relative to the padded square input, which for a square crop is the crop itself.
Points follow the iBUG 300-W numbering: 0-16 jaw, 17-26 brows, 27-35 nose, 36-47 eyes,
48-59 outer lips (48 and 54 the mouth corners), 60-67 inner lips.

  landmarks.py MODEL_DIR CROP.(npy|png)...   prints each crop's points in pixels
"""

import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from teacher.faceapi import (FaceExpressionNet, default_model_dir, load_crop, preprocess,  # noqa: E402
                             read_tfjs_weights)

MANIFEST = "face_landmark_68_model-weights_manifest.json"


class FaceLandmarks68:
    """FaceLandmarks68(model_dir).points(list of square uint8 [S][S][3]) -> float64 [B, 68, 2]
    in the crop's pixels (x, y)."""

    def __init__(self, model_dir=None):
        self.net = FaceExpressionNet(num_outputs=136)
        self.net.load_tfjs(read_tfjs_weights(model_dir or default_model_dir(), MANIFEST))
        self.net.eval()

    @torch.no_grad()
    def points(self, crops, batch=32):
        out = []
        for i in range(0, len(crops), batch):
            part = crops[i:i + batch]
            for c in part:
                if c.shape[0] != c.shape[1]:
                    raise ValueError(f"landmarks want square crops, got {c.shape[:2]}")
            rel = self.net(preprocess(part)).double().numpy().reshape(-1, 68, 2)
            out.append(rel * np.array([[[c.shape[1], c.shape[0]]] for c in part]))
        return np.concatenate(out) if out else np.zeros((0, 68, 2))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    net = FaceLandmarks68(argv[0])
    for path, pts in zip(argv[1:], net.points([load_crop(p) for p in argv[1:]])):
        print(f"{os.path.basename(path)}: " + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
