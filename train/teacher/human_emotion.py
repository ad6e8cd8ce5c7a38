#!/usr/bin/python3
"""@vladmandic/human's emotion net in PyTorch: a second teacher, trained on other data (FER2013,
oarriaga's mini-Xception) than face-api's expression net, to tell where face-api's labels are in
doubt (issue 9).

Model: npm @vladmandic/human@3.3.6, models/emotion.json (a tfjs graph model: the graph and its weights
manifest) + models/emotion.bin (float32). Fetch them with train/teacher/fetch_human.sh DEST. The graph
is run node by node as the file gives it (convolutions with fused bias and ReLU, depthwise
convolutions, max pools, residual sums, global mean, softmax), so nothing of it is re-typed here.

Preprocessing is human's (src/gear/emotion.ts, its grey-input path): the face crop as 0..1, bilinear
resize to 64 x 64 (tfjs resizeBilinear, alignCorners false: legacy sampling), grey = R 0.2989 +
G 0.5870 + B 0.1140, then (grey - 0.5) * 2. Human shows it its own tight face box; `centre` shows the
middle fraction of a looser crop (as human's optional emotion `crop` setting does).
Labels, in the net's order: angry, disgust, fear, happy, sad, surprise, neutral (`LABELS`);
`HumanEmotionTeacher.probs` returns them in face-api's order (`faceapi.LABELS`).

  human_emotion.py PACKAGE_DIR CROP.(npy|png)...   prints each crop's probabilities

Its labels are a second teacher's guesses, not ground truth.
"""

import base64
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from teacher.faceapi import LABELS as FACEAPI_LABELS  # noqa: E402
from teacher.faceapi import cached_package_dir, decode_tfjs_weights, resize_bilinear_legacy  # noqa: E402

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
# Each face-api label's index in LABELS.
TO_FACEAPI = [LABELS.index(n) for n in
              ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")]
GREY = (0.2989, 0.5870, 0.1140)
MODEL_FILE = "emotion.json"


def default_package_dir():
    """$ADATOSK_HUMAN_DIR, else the cache fetch_human.sh is pointed at by the tools."""
    return cached_package_dir("ADATOSK_HUMAN_DIR", "human")


def _model_dir(path):
    for cand in (path, os.path.join(path, "models")):
        if os.path.isfile(os.path.join(cand, MODEL_FILE)):
            return cand
    raise FileNotFoundError(f"no {MODEL_FILE} in {path} or {path}/models "
                            "(fetch it: train/teacher/fetch_human.sh DIR)")


def _attr_str(node, key):
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _same_pad(x, kernel, stride, value=0.0):
    """TF "SAME": total max(0, (ceil(n/s) - 1) * s + k - n) per axis, floor half before."""
    pads = []
    for n in (x.shape[3], x.shape[2]):
        total = max(0, (-(-n // stride) - 1) * stride + kernel - n)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class GraphNet(torch.nn.Module):
    """A tfjs graph model of the ops this net uses, run in NCHW. Refuses any other op."""

    OPS = {"Const", "Placeholder", "_FusedConv2D", "DepthwiseConv2dNative", "MaxPool", "AddV2",
           "Relu", "Mean", "Softmax", "Identity"}

    def __init__(self, model_dir):
        super().__init__()
        with open(os.path.join(model_dir, MODEL_FILE)) as f:
            model = json.load(f)
        self.nodes = model["modelTopology"]["node"]
        unknown = {n["op"] for n in self.nodes} - self.OPS
        if unknown:
            raise ValueError(f"{MODEL_FILE}: ops this port does not run: {sorted(unknown)}")
        weights = decode_tfjs_weights(model["weightsManifest"], model_dir)
        self.consts = {}
        for name, w in weights.items():
            if w.dtype == np.float32 and w.ndim == 4:           # HWIO or depthwise HWC1 -> OIHW
                w = w.transpose(3, 2, 0, 1)
            self.consts[name] = torch.from_numpy(np.ascontiguousarray(w))
        inline = [n["name"] for n in self.nodes if n["op"] == "Const" and n["name"] not in self.consts]
        if inline:
            raise ValueError(f"{MODEL_FILE}: constants not in the weights manifest: {inline}")
        inputs = [n for n in self.nodes if n["op"] == "Placeholder"]
        if len(inputs) != 1:
            raise ValueError(f"{MODEL_FILE}: want one input, found {len(inputs)}")
        dims = inputs[0]["attr"]["shape"]["shape"]["dim"]
        self.input_size, self.input_channels = int(dims[1]["size"]), int(dims[3]["size"])

    def forward(self, x):
        """x: [B][C][H][W] as the graph's input (already preprocessed) -> its output, the last node's
        (the converter lists the nodes in an order where inputs come first, the output last)."""
        values = {}
        for node in self.nodes:
            op, name = node["op"], node["name"]
            args = [values[i] if i in values else self.consts[i] for i in node.get("input", [])]
            if op == "Const":
                continue
            if op == "Placeholder":
                values[name] = x
            elif op in ("_FusedConv2D", "DepthwiseConv2dNative"):
                values[name] = self._conv(node, op, args)
            elif op == "MaxPool":
                k = int(node["attr"]["ksize"]["list"]["i"][1])
                s = int(node["attr"]["strides"]["list"]["i"][1])
                a = args[0]
                if _attr_str(node, "padding") == "SAME":
                    a = _same_pad(a, k, s, float("-inf"))
                values[name] = F.max_pool2d(a, k, s)
            elif op == "AddV2":
                values[name] = args[0] + args[1]
            elif op == "Relu":
                values[name] = F.relu(args[0])
            elif op == "Mean":
                nhwc_to_nchw = {1: 2, 2: 3, 3: 1}
                dims = [nhwc_to_nchw[int(d)] for d in args[1].tolist()]
                values[name] = args[0].mean(dim=dims, keepdim=node["attr"].get("keep_dims", {}).get("b", False))
            elif op == "Softmax":
                values[name] = torch.softmax(args[0], -1)
            elif op == "Identity":
                values[name] = args[0]
        return values[self.nodes[-1]["name"]]

    def _conv(self, node, op, args):
        x, w = args[0], args[1]
        stride = int(node["attr"]["strides"]["list"]["i"][1])
        dil = [int(d) for d in node["attr"].get("dilations", {}).get("list", {}).get("i", ["1"] * 4)]
        if any(d != 1 for d in dil):
            raise ValueError(f"{node['name']}: dilated convolutions are not ported")
        if _attr_str(node, "padding") == "SAME":
            x = _same_pad(x, w.shape[2], stride)
        elif _attr_str(node, "padding") != "VALID":
            raise ValueError(f"{node['name']}: padding {_attr_str(node, 'padding')} is not ported")
        if op == "DepthwiseConv2dNative":
            # HWC1 became 1CHW: a channel multiplier of one, one filter per channel.
            return F.conv2d(x, w.transpose(0, 1), stride=stride, groups=x.shape[1])
        fused = [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"]["s"]]
        if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
            raise ValueError(f"{node['name']}: fused ops {fused} are not ported")
        y = F.conv2d(x, w, bias=args[2], stride=stride)
        return F.relu(y) if fused[-1] == "Relu" else y


def preprocess_one(crop, size, centre=1.0):
    """uint8 [H][W][3] RGB -> float32 [1][size][size], human's grey input; `centre` < 1 keeps the
    middle fraction of the crop first."""
    a = np.asarray(crop)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"want an [H][W][3] RGB crop, got shape {a.shape}")
    if not 0.2 <= centre <= 1.0:
        raise ValueError(f"centre {centre} is outside [0.2, 1]")
    if centre < 1.0:
        H, W = a.shape[:2]
        h, w = max(1, int(round(H * centre))), max(1, int(round(W * centre)))
        a = a[(H - h) // 2:(H - h) // 2 + h, (W - w) // 2:(W - w) // 2 + w]
    a = resize_bilinear_legacy(a.astype(np.float64) / 255.0, size)
    grey = (a * np.asarray(GREY)).sum(-1, keepdims=True)
    return ((grey - 0.5) * 2.0).astype(np.float32).transpose(2, 0, 1)


class HumanEmotionTeacher:
    """HumanEmotionTeacher(package_dir).probs(list of uint8 [H][W][3]) -> float64 [B, 7] in
    face-api's label order."""

    labels = FACEAPI_LABELS

    def __init__(self, package_dir=None, centre=1.0):
        self.net = GraphNet(_model_dir(package_dir or default_package_dir())).eval()
        if self.net.input_channels != 1:
            raise ValueError(f"{MODEL_FILE}: a {self.net.input_channels}-channel input; this port "
                             "preprocesses for the grey (FER2013) model")
        self.centre = centre

    @torch.no_grad()
    def probs_own_order(self, crops, batch=256):
        out = []
        for i in range(0, len(crops), batch):
            x = np.stack([preprocess_one(c, self.net.input_size, self.centre) for c in crops[i:i + batch]])
            out.append(self.net(torch.from_numpy(x)).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(LABELS)))

    def probs(self, crops, batch=256):
        return self.probs_own_order(crops, batch)[:, TO_FACEAPI]


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    from teacher.faceapi import load_crop
    teacher = HumanEmotionTeacher(argv[1])
    for path, p in zip(argv[2:], teacher.probs([load_crop(a) for a in argv[2:]])):
        print(path, " ".join(f"{n}={v:.4f}" for n, v in zip(FACEAPI_LABELS, p)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
