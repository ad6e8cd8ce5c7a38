#!/usr/bin/python3
"""face-api's FaceExpressionNet ported to PyTorch: the teacher that gives face crops soft labels.

Weights: npm @vladmandic/face-api@1.7.15, model/face_expression_model-weights_manifest.json +
face_expression_model.bin (tfjs weights manifest; tensors concatenated in manifest order; uint8
quantised tensors are value = q * scale + min, float32 ones as is). Fetch them with
train/teacher/fetch_faceapi.sh DEST; DEST (or DEST/model) is the model directory here.

Preprocessing is the original's (NetInput.toBatchTensor(112, true) + FaceFeatureExtractor):
pad to square with zeros (the larger half of the padding after the image: round(diff / 2) appended,
the rest prepended), bilinear resize to 112 x 112 with tfjs's legacy sampling (align_corners=False,
half_pixel_centers=False: source = dst * in / out), subtract mean RGB [122.782, 117.001, 104.298],
divide by 255. Network: 4 dense blocks (32, 64, 128, 256 channels, each halving the resolution with
TF "same" padding, i.e. the extra pad row/column at the bottom/right), 7x7 average pool, FC 256 -> 7,
softmax. Labels: neutral, happy, sad, angry, fearful, disgusted, surprised.

  faceapi.py MODEL_DIR CROP.(npy|png)...   prints each crop's probabilities

The labels it gives are a teacher's guesses, not ground truth.
"""

import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 112
FEATURE_DIM = 256          # channels of the last dense block: the pooled feature and the map cells
MANIFEST = "face_expression_model-weights_manifest.json"


def cached_package_dir(env_var, name):
    """$env_var, else the folder NAME of the cache the fetch scripts are pointed at by the tools."""
    env = os.environ.get(env_var)
    if env:
        return env
    cache = os.environ.get("ADATOSK_MEDIA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "adatoskdfer")
    return os.path.join(cache, name)


def default_model_dir():
    """$ADATOSK_FACEAPI_DIR, else the cache fetch_faceapi.sh is pointed at by the tools."""
    return cached_package_dir("ADATOSK_FACEAPI_DIR", "face-api")


def _resolve_model_dir(path, manifest=MANIFEST):
    for cand in (path, os.path.join(path, "model")):
        if os.path.isfile(os.path.join(cand, manifest)):
            return cand
    raise FileNotFoundError(f"no {manifest} in {path} or {path}/model "
                            "(fetch it: train/teacher/fetch_faceapi.sh DIR)")


def read_tfjs_weights(model_dir, manifest_name=MANIFEST):
    """-> dict name -> float32 numpy array in TF layout, in manifest order."""
    model_dir = _resolve_model_dir(model_dir, manifest_name)
    with open(os.path.join(model_dir, manifest_name)) as f:
        manifest = json.load(f)
    return decode_tfjs_weights(manifest, model_dir)


def decode_tfjs_weights(manifest, model_dir):
    """A tfjs weights manifest (its groups' files in model_dir) -> dict name -> float32 numpy array
    in TF layout (int32 tensors, e.g. a graph's reduction axes, as int32)."""
    blob = b"".join(open(os.path.join(model_dir, p), "rb").read()
                    for group in manifest for p in group["paths"])
    out, off = {}, 0
    for group in manifest:
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape, dtype=np.int64))
            q = w.get("quantization")
            if q:
                if q["dtype"] != "uint8":
                    raise ValueError(f"{w['name']}: unsupported quantization {q['dtype']}")
                raw = np.frombuffer(blob, dtype=np.uint8, count=n, offset=off)
                off += n
                # tfjs: Float32Array of q * scale + min (the product and sum in double).
                vals = (raw.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
            else:
                if w["dtype"] not in ("float32", "int32"):
                    raise ValueError(f"{w['name']}: unsupported dtype {w['dtype']}")
                dtype = np.float32 if w["dtype"] == "float32" else np.int32
                vals = np.frombuffer(blob, dtype=np.dtype(dtype).newbyteorder("<"), count=n,
                                     offset=off).astype(dtype)
                off += 4 * n
            out[w["name"]] = vals.reshape(shape)
    if off != len(blob):
        raise ValueError(f"weights use {off} of {len(blob)} bytes")
    return out


def _same_pad(x, stride):
    """TF "same" padding for a 3x3 kernel: total max(0, (ceil(n/s) - 1) * s + 3 - n), floor half
    before, the rest after."""
    pads = []
    for n in (x.shape[3], x.shape[2]):            # W then H (F.pad order)
        out = -(-n // stride)
        total = max(0, (out - 1) * stride + 3 - n)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SeparableConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.depthwise = nn.Parameter(torch.zeros(cin, 1, 3, 3))
        self.pointwise = nn.Parameter(torch.zeros(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x, stride):
        x = F.conv2d(_same_pad(x, stride), self.depthwise, stride=stride, groups=x.shape[1])
        return F.conv2d(x, self.pointwise, self.bias)


class DenseBlock4(nn.Module):
    def __init__(self, cin, cout, first):
        super().__init__()
        self.first = first
        if first:
            self.conv0_w = nn.Parameter(torch.zeros(cout, cin, 3, 3))
            self.conv0_b = nn.Parameter(torch.zeros(cout))
        else:
            self.conv0 = SeparableConv(cin, cout)
        self.conv1 = SeparableConv(cout, cout)
        self.conv2 = SeparableConv(cout, cout)
        self.conv3 = SeparableConv(cout, cout)

    def forward(self, x):
        if self.first:
            out1 = F.relu(F.conv2d(_same_pad(x, 2), self.conv0_w, self.conv0_b, stride=2))
        else:
            out1 = F.relu(self.conv0(x, 2))
        out2 = self.conv1(out1, 1)
        out3 = self.conv2(F.relu(out1 + out2), 1)
        out4 = self.conv3(F.relu(out1 + (out2 + out3)), 1)
        return F.relu(out1 + (out2 + (out3 + out4)))


class FaceExpressionNet(nn.Module):
    """Input: [B, 3, 112, 112] already normalised (see preprocess); output: logits [B, 7].
    face-api's 68-point landmark net is the same feature extractor with a 136-wide FC
    (num_outputs=136, teacher/landmarks.py)."""

    def __init__(self, num_outputs=len(LABELS)):
        super().__init__()
        chans = [3, 32, 64, 128, FEATURE_DIM]
        self.dense = nn.ModuleList([DenseBlock4(chans[i], chans[i + 1], i == 0) for i in range(4)])
        self.fc = nn.Linear(FEATURE_DIM, num_outputs)

    def feature_map(self, x):
        """The last dense block's output [B, 256, 7, 7] (stride 16: one cell per 16 x 16 pixels)."""
        for blk in self.dense:
            x = blk(x)
        return x

    def features(self, x):
        """The 256-wide pooled feature the FC reads (the teacher's penultimate embedding)."""
        return F.avg_pool2d(self.feature_map(x), 7, stride=2).flatten(1)  # 7x7 -> 1x1 ("valid")

    def forward(self, x):
        return self.fc(self.features(x))

    def load_tfjs(self, weights):
        """weights: read_tfjs_weights() output (TF layouts) -> this module's parameters."""
        used = set()

        def take(name):
            used.add(name)
            return torch.from_numpy(np.ascontiguousarray(weights[name]))

        with torch.no_grad():
            for i, blk in enumerate(self.dense):
                pre = f"dense{i}"
                if blk.first:
                    blk.conv0_w.copy_(take(f"{pre}/conv0/filters").permute(3, 2, 0, 1))   # HWIO -> OIHW
                    blk.conv0_b.copy_(take(f"{pre}/conv0/bias"))
                convs = [(0, None if blk.first else blk.conv0), (1, blk.conv1), (2, blk.conv2),
                         (3, blk.conv3)]
                for j, conv in convs:
                    if conv is None:
                        continue
                    name = f"{pre}/conv{j}"
                    conv.depthwise.copy_(take(f"{name}/depthwise_filter").permute(2, 3, 0, 1))  # [3,3,C,1] -> [C,1,3,3]
                    conv.pointwise.copy_(take(f"{name}/pointwise_filter").permute(3, 2, 0, 1))  # [1,1,I,O] -> [O,I,1,1]
                    conv.bias.copy_(take(f"{name}/bias"))
            self.fc.weight.copy_(take("fc/weights").t())
            self.fc.bias.copy_(take("fc/bias"))
        unused = set(weights) - used
        if unused:
            raise ValueError(f"unused tensors in the manifest: {sorted(unused)}")
        return self


def resize_bilinear_legacy(img, size):
    """tfjs resizeBilinear(alignCorners=false, halfPixelCenters=false) of [H][W][3] float64:
    src = dst * in / out, floor/ceil neighbours clamped to the image, lerp in double."""
    H, W = img.shape[:2]

    def axis(n_in):
        src = np.arange(size, dtype=np.float64) * (n_in / size)
        lo = np.maximum(0, np.floor(src)).astype(np.int64)
        hi = np.minimum(n_in - 1, np.ceil(src)).astype(np.int64)
        return lo, hi, src - lo

    r0, r1, fr = axis(H)
    c0, c1, fc = axis(W)
    tl, tr = img[r0][:, c0], img[r0][:, c1]
    bl, br = img[r1][:, c0], img[r1][:, c1]
    fc = fc[None, :, None]
    top = tl + (tr - tl) * fc
    bottom = bl + (br - bl) * fc
    return top + (bottom - top) * fr[:, None, None]


def preprocess_one(crop):
    """uint8 (or float 0..255) [H][W][3] RGB -> float32 [3][112][112], the original's input."""
    a = np.asarray(crop)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"want an [H][W][3] RGB crop, got shape {a.shape}")
    a = a.astype(np.float32)
    H, W = a.shape[:2]
    if H != W:
        diff = abs(H - W)
        after = int(np.floor(diff * 0.5 + 0.5))          # JS Math.round(diff * 0.5)
        before = diff - after
        if H > W:
            a = np.pad(a, ((0, 0), (before, after), (0, 0)))
        else:
            a = np.pad(a, ((before, after), (0, 0), (0, 0)))
    if a.shape[0] != INPUT_SIZE:
        a = resize_bilinear_legacy(a.astype(np.float64), INPUT_SIZE).astype(np.float32)
    a = (a - np.asarray(MEAN_RGB, dtype=np.float32)) / np.float32(255.0)
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def preprocess(crops):
    return torch.from_numpy(np.stack([preprocess_one(c) for c in crops]))


class FaceApiTeacher:
    """FaceApiTeacher(model_dir).probs(list of uint8 [H][W][3]) -> float64 numpy [B, 7]."""

    labels = LABELS

    def __init__(self, model_dir=None, dtype=torch.float32):
        self.net = FaceExpressionNet().load_tfjs(read_tfjs_weights(model_dir or default_model_dir()))
        self.net.eval().to(dtype)
        self.dtype = dtype

    @torch.no_grad()
    def probs(self, crops, batch=64):
        return self.probs_and_features(crops, batch)[0]

    @torch.no_grad()
    def probs_and_features(self, crops, batch=64):
        """-> (probabilities float64 [B, 7], penultimate features float32 [B, 256])."""
        probs, feats = [], []
        for i in range(0, len(crops), batch):
            f = self.net.features(preprocess(crops[i:i + batch]).to(self.dtype))
            probs.append(torch.softmax(self.net.fc(f), -1).double().numpy())
            feats.append(f.float().numpy())
        if not probs:
            return np.zeros((0, len(LABELS))), np.zeros((0, 256), np.float32)
        return np.concatenate(probs), np.concatenate(feats)


def load_crop(path):
    if path.endswith(".npy"):
        return np.load(path)
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    teacher = FaceApiTeacher(argv[0])
    probs = teacher.probs([load_crop(p) for p in argv[1:]])
    for path, p in zip(argv[1:], probs):
        print(f"{os.path.basename(path)}: " + " ".join(f"{l}={v:.4f}" for l, v in zip(LABELS, p))
              + f"  -> {LABELS[int(np.argmax(p))]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
