"""Training clips: a clip list (CSV) and clips stored as arrays.

clips.csv (a header row, then one row per clip; further columns are ignored):
    path,label
    clips/cap12_edit_t1_0000.npy,0.91 0.01 0.02 0.01 0.01 0.00 0.04     (soft label: C probabilities)
    clips/other.npy,surprised                                         (hard label: a class name)
    clips/third.npy,6                                                 (hard label: a class index)
path is relative to the CSV's folder (or absolute). A `video` column (make_dataset.py writes it)
names the clip's source video, which stands for the person in it (identity balancing, the identity
adversary); without it every CSV is one identity. Beside a clip, X.teacher.npz (make_dataset.py
with --teacher) holds the teacher's per-frame probabilities and features (per-frame targets).
A clip file is a .npy uint8 array
[T][H][W][3] (RGB crops as the element makes them, before normalisation); the model's own
normalize() (its config's mean/std) is applied inside the model's forward_train, and by
`normalized()` here for inference.
"""

import csv
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F


def parse_label(text, labels):
    """-> int class index or float64 vector of len(labels)."""
    text = text.strip()
    parts = text.split()
    if len(parts) > 1:
        v = np.array([float(p) for p in parts], dtype=np.float64)
        if len(v) != len(labels):
            raise ValueError(f"soft label with {len(v)} values for {len(labels)} classes")
        if np.any(v < 0) or abs(v.sum() - 1.0) > 1e-3:
            raise ValueError(f"soft label {text!r} is not a probability vector")
        return v / v.sum()
    if text.lstrip("-").isdigit():
        i = int(text)
        if not 0 <= i < len(labels):
            raise ValueError(f"class index {i} out of range")
        return i
    if text in labels:
        return labels.index(text)
    raise ValueError(f"unknown label {text!r} (classes: {labels})")


def read_clip_list(csv_path, labels):
    """-> list of (absolute clip path, label (int or vector), row dict). csv_path: one CSV or a list
    of them (their clips in order)."""
    if not isinstance(csv_path, (str, os.PathLike)):
        return [item for p in csv_path for item in read_clip_list(p, labels)]
    base = os.path.dirname(os.path.abspath(csv_path))
    out = []
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            path = row["path"]
            if not os.path.isabs(path):
                path = os.path.join(base, path)
            row.setdefault("video", os.path.abspath(csv_path))
            out.append((path, parse_label(row["label"], labels), row))
    if not out:
        raise ValueError(f"{csv_path}: no clips")
    return out


def frame_targets_path(clip_path):
    """clips/X.npy -> clips/X.teacher.npz (make_dataset.py writes it beside the clip)."""
    return clip_path[:-len(".npy")] + ".teacher.npz"


def target_distribution(label, num_classes):
    if isinstance(label, (int, np.integer)):
        v = np.zeros(num_classes)
        v[int(label)] = 1.0
        return v
    return np.asarray(label, dtype=np.float64)


def hard_label(label):
    return int(label) if isinstance(label, (int, np.integer)) else int(np.argmax(label))


def load_clip(path, T, H, W, mmap=False):
    """mmap: the file mapped, not read: pages come in when the clip is used (and the OS may drop
    them again), so a dataset larger than memory can be trained from."""
    a = np.load(path, mmap_mode="r" if mmap else None)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] != 3:
        raise ValueError(f"{path}: want uint8 [T][H][W][3], got {a.dtype} {a.shape}")
    if a.shape[0] != T or a.shape[1] != H or a.shape[2] != W:
        raise ValueError(f"{path}: clip {a.shape[:3]} but the model wants [{T}][{H}][{W}]")
    return a


def to_x01(clip_u8):
    """uint8 [T][H][W][3] -> float32 tensor [3][T][H][W] in [0, 1]."""
    if not clip_u8.flags.writeable:      # memory-mapped: read it now (torch wants writable memory)
        clip_u8 = np.array(clip_u8)
    return torch.from_numpy(np.ascontiguousarray(clip_u8)).permute(3, 0, 1, 2).float() / 255.0


def normalized(x01, mean, std):
    """[..., 3, T, H, W] in [0, 1] -> the model input (per-channel mean/std)."""
    m = torch.tensor(mean, dtype=x01.dtype).view(3, 1, 1, 1)
    s = torch.tensor(std, dtype=x01.dtype).view(3, 1, 1, 1)
    return (x01 - m) / s


def augment(x01, generator, scale=(0.8, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5, jitter=2, color=False,
            zoom_out=None, with_index=False):
    """One clip [3][T][H][W]: random resized crop (same box for every frame, area fraction in
    `scale`, aspect in `ratio`, resized back bilinearly), horizontal flip, temporal jitter (the
    clip shifted by up to `jitter` frames, edge frames repeated), and with `color` a colour
    change of the whole clip (color_jitter), and with `zoom_out` = z < 1 half of the clips shrunk
    by a factor in [z, 1] around the centre, the border continued from the edge (zoom_out_clip).
    with_index: also return the source frame of every output frame (per-frame targets move with
    the frames)."""
    C, T, H, W = x01.shape
    params = draw_augment(generator, T, H, W, scale, ratio, flip, jitter, color, zoom_out)
    x, idx = apply_augment(x01, params)
    return (x, idx) if with_index else x


def draw_augment(generator, T, H, W, scale=(0.8, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5, jitter=2,
                 color=False, zoom_out=None):
    """The random choices of augment() for one clip, drawn from `generator` in augment's order and
    without touching pixels: the training loop draws them for the whole global batch on every rank
    (cheap), so that a clip gets the same augmentation whichever process or DataLoader worker
    applies it (apply_augment)."""
    def rand():
        return float(torch.rand((), generator=generator))

    area = H * W
    for _ in range(10):
        target = area * (scale[0] + (scale[1] - scale[0]) * rand())
        logr = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * rand()
        ar = math.exp(logr)
        w = int(round(math.sqrt(target * ar)))
        h = int(round(math.sqrt(target / ar)))
        if 0 < w <= W and 0 < h <= H:
            break
    else:
        w, h = W, H
    y0 = int(rand() * (H - h + 1))
    x0 = int(rand() * (W - w + 1))
    p = dict(T=T, box=(y0, x0, h, w), flip=rand() < flip, shift=0, color=None, zoom=None)
    if jitter > 0:
        p["shift"] = int(torch.randint(-jitter, jitter + 1, (), generator=generator))
    if color:
        p["color"] = draw_color(generator)
    if zoom_out is not None and rand() < 0.5:
        p["zoom"] = zoom_out + (1.0 - zoom_out) * rand()
    return p


def apply_augment(x01, p):
    """augment() with choices from draw_augment: -> (clip, source frame of every output frame)."""
    C, T, H, W = x01.shape
    y0, x0, h, w = p["box"]
    x = x01[:, :, y0:y0 + h, x0:x0 + w]
    if (h, w) != (H, W):
        x = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)
    if p["flip"]:
        x = x.flip(-1)
    idx = torch.arange(T)
    if p["shift"]:
        idx = torch.clamp(idx + p["shift"], 0, T - 1)
        x = x[:, idx]
    if p["color"] is not None:
        x = apply_color(x, p["color"])
    if p["zoom"] is not None:
        x = zoom_out_clip(x, p["zoom"])
    return x.contiguous(), idx


def zoom_out_clip(x01, factor):
    """The clip shrunk by `factor` about its centre, the border replicated from the edge: the face
    smaller in the crop, as when a detector's box is loose (facedetect's boxes on franck.webm hold
    head and shoulders; on the stills and cap12 mostly the face)."""
    C, T, H, W = x01.shape
    h, w = max(1, int(round(H * factor))), max(1, int(round(W * factor)))
    if (h, w) == (H, W):
        return x01
    small = F.interpolate(x01, size=(h, w), mode="bilinear", align_corners=False)
    top, left = (H - h) // 2, (W - w) // 2
    return F.pad(small, (left, W - w - left, top, H - h - top), mode="replicate")

# The element's crop margin where neither a model nor a dataset says otherwise.
DEFAULT_CROP_MARGIN = 0.25


def cut_crop_margin(csv_path):
    """The crop margin the clip list's set was cut with (its dataset.json beside it). A list with no
    dataset.json (made by hand, not by make_dataset.py) counts as cut at the element's default."""
    path = os.path.join(os.path.dirname(os.path.abspath(csv_path)), "dataset.json")
    if not os.path.exists(path):
        return DEFAULT_CROP_MARGIN
    with open(path) as f:
        return float(json.load(f).get("crop_margin", DEFAULT_CROP_MARGIN))


def crop_scale_for(config, csv_path):
    """The centre share of the set's clips that is the crop the element makes for the model `config`:
    (1 + 2 m_model) / (1 + 2 m_set). A model wanting a looser crop than the set's is refused: it
    would need pixels the clips do not hold."""
    model_margin = config.crop_margin if config.crop_margin is not None else DEFAULT_CROP_MARGIN
    set_margin = cut_crop_margin(csv_path)
    scale = (1.0 + 2.0 * model_margin) / (1.0 + 2.0 * set_margin)
    if scale > 1.0 + 1e-6:
        raise SystemExit(f"{csv_path}: cut with crop margin {set_margin:g}, the model wants {model_margin:g}: "
                         f"cut the set again with make_dataset.py --crop-margin {model_margin:g}")
    return min(scale, 1.0)


def center_crop_clip(x01, scale):
    """The centre `scale` of every frame, resized back: the crop the element makes with a smaller
    crop-margin (a clip cut at margin m, centre-cropped to (1 + 2 m') / (1 + 2 m), is the clip cut at
    m'), so a dataset cut once serves a model trained for a tighter crop (less hair, shoulders and
    background: less identity and less scene in the input)."""
    if scale >= 1.0:
        return x01
    C, T, H, W = x01.shape
    h, w = max(1, int(round(H * scale))), max(1, int(round(W * scale)))
    top, left = (H - h) // 2, (W - w) // 2
    return F.interpolate(x01[:, :, top:top + h, left:left + w].contiguous(), size=(H, W),
                         mode="bilinear", align_corners=False)


def color_jitter(x01, generator, grey=0.25, brightness=0.25, contrast=0.25, saturation=0.4):
    """Skin tone, lighting and camera colour say who and where, not which expression: one random
    change for the whole clip (grey with probability `grey`, else saturation scaled), brightness and
    contrast scaled, all within the given fractions."""
    return apply_color(x01, draw_color(generator, grey, brightness, contrast, saturation))


def draw_color(generator, grey=0.25, brightness=0.25, contrast=0.25, saturation=0.4):
    """color_jitter's random choices: (grey?, saturation, contrast, brightness factors)."""
    def uniform(a):
        return 1.0 + a * (2.0 * float(torch.rand((), generator=generator)) - 1.0)

    is_grey = float(torch.rand((), generator=generator)) < grey
    sat = None if is_grey else uniform(saturation)
    con = uniform(contrast)
    return (is_grey, sat, con, uniform(brightness))


def apply_color(x01, c):
    is_grey, sat, con, bri = c
    lum = (0.299 * x01[0] + 0.587 * x01[1] + 0.114 * x01[2])[None]
    x = lum.expand_as(x01) if is_grey else lum + (x01 - lum) * sat
    mean = x.mean()
    x = (x - mean) * con + mean
    return (x * bri).clamp(0.0, 1.0)


class ClipDataset(torch.utils.data.Dataset):
    """Items: (x01 [3][T][H][W] float32 in [0, 1], target distribution [C] float32, hard label).
    Clips are cached in memory as uint8 (a 16x112x112 clip is 0.6 MB); with mmap=True nothing is
    cached and every clip is a memory-mapped .npy read when used (datasets larger than memory,
    DataLoader workers: a worker's cache would be a private copy)."""

    def __init__(self, csv_path, config, labels, train=False, seed=0, cache=True, color=False,
                 zoom_out=None, crop_scale=1.0, mmap=False, zoom_in=None):
        self.items = read_clip_list(csv_path, labels)
        self.color, self.zoom_out, self.crop_scale = color, zoom_out, crop_scale
        # The random resized crop's area fraction: [0.8, 1] by default; --zoom-in z takes its side
        # down to z (area z^2), so a head-and-shoulders video clip can look like a close-up still.
        self.crop_area = (0.8, 1.0) if zoom_in is None else (zoom_in * zoom_in, 1.0)
        self.config, self.labels, self.train = config, list(labels), train
        self.T = config.num_frames
        self.H, self.W = config.img_hw
        self.C = config.num_classes
        self.generator = torch.Generator().manual_seed(seed)
        self.mmap = mmap
        self.cache = {} if cache and not mmap else None

    def __len__(self):
        return len(self.items)

    def clip(self, i):
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        a = load_clip(self.items[i][0], self.T, self.H, self.W, mmap=self.mmap)
        if self.cache is not None:
            self.cache[i] = a
        return a

    def model_input(self, i):
        """Clip i in [0, 1] as the model sees it before augmentation: centre-cropped to the model's
        crop (what the element would feed it). Training and every evaluation read clips here."""
        return center_crop_clip(to_x01(self.clip(i)), self.crop_scale)

    def __getitem__(self, i):
        x = self.model_input(i)
        if self.train:
            x = augment(x, self.generator)
        label = self.items[i][1]
        return (x, torch.from_numpy(target_distribution(label, self.C)).float(),
                hard_label(label))

    def draw_augment(self):
        """The random choices of the next training item's augmentation (dataset.draw_augment, from
        self.generator), or None without augmentation: sample(i, choices) applies them."""
        if not self.train:
            return None
        return draw_augment(self.generator, self.T, self.H, self.W, scale=self.crop_area, color=self.color,
                            zoom_out=self.zoom_out)

    def sample(self, i, choices=None):
        """A training item with everything the objectives may use: dict of x (augmented as in
        __getitem__), target, hard, identity (index into self.identities()), and where the clip
        has them the teacher's per-frame probabilities [T][C] and features [T][F] (moved with the
        frames by the temporal jitter). choices: the augmentation drawn beforehand by draw_augment()
        (None: drawn now)."""
        x = self.model_input(i)
        idx = torch.arange(self.T)
        if self.train:
            x, idx = apply_augment(x, choices if choices is not None else self.draw_augment())
        label = self.items[i][1]
        out = dict(x=x, target=torch.from_numpy(target_distribution(label, self.C)).float(),
                   hard=hard_label(label), identity=self.identity_index()[i])
        frames = self.frame_targets(i)
        if frames is not None:
            out["frame_probs"] = frames[0][idx]
            out["frame_features"] = frames[1][idx]
        return out

    def frame_targets(self, i):
        """(probabilities [T][C], features [T][F]) float32 tensors, or None without a .teacher.npz."""
        key = ("frames", i)
        if self.cache is not None and key in self.cache:
            return self.cache[key]
        path = frame_targets_path(self.items[i][0])
        got = None
        if os.path.exists(path):
            with np.load(path) as z:
                p, f = z["probs"].astype(np.float32), z["features"].astype(np.float32)
            if p.shape != (self.T, self.C) or f.ndim != 2 or f.shape[0] != self.T:
                raise ValueError(f"{path}: per-frame targets {p.shape} / {f.shape} do not fit "
                                 f"a {self.T}-frame clip of {self.C} classes")
            got = (torch.from_numpy(p), torch.from_numpy(f))
        if self.cache is not None:
            self.cache[key] = got
        return got

    def identities(self):
        """The distinct identities (source videos), in order of first appearance."""
        return list(dict.fromkeys(it[2]["video"] for it in self.items))

    def identity_index(self):
        if not hasattr(self, "_identity_index"):
            ids = {v: k for k, v in enumerate(self.identities())}
            self._identity_index = [ids[it[2]["video"]] for it in self.items]
        return self._identity_index

    def hard_labels(self):
        return np.array([hard_label(it[1]) for it in self.items])

    def soft_targets(self):
        return np.stack([target_distribution(it[1], self.C) for it in self.items])

    def balanced_weights(self, power=0.0, identity_power=None):
        """Per-clip sampling weights: a (hard) class with n clips is drawn in proportion to n**power
        (0: every class present equally often; 0.5: square-root balancing; 1: uniform).
        identity_power q: within a class, an identity with m clips of it is drawn in proportion to
        m**q (0: every identity equally often), so that no person's many clips make them a cue."""
        y = self.hard_labels()
        counts = np.bincount(y, minlength=self.C).astype(np.float64)
        if identity_power is None:
            return counts[y] ** (power - 1.0)
        ident = np.asarray(self.identity_index())
        pair = y * (ident.max() + 1) + ident
        m = np.bincount(pair)[pair].astype(np.float64)              # clips of this identity and class
        w = m ** (identity_power - 1.0)
        class_total = np.bincount(y, weights=w, minlength=self.C)
        return w / class_total[y] * counts[y] ** power
