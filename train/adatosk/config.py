"""The model configuration: the "adatosk.config" JSON of a model file (spec section 6)
and the named configurations (spec section 7)."""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import List, Optional, Union

# face-api.js's expression order; the named configurations use it by default.
DEFAULT_LABELS = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

REQUIRED_KEYS = ("num_frames", "img_size", "tubelet_size", "patch_size", "embed_dim", "depth",
                 "num_heads", "mlp_ratio", "atsm_layer", "keep_ratio", "num_classes", "norm_eps",
                 "mean", "std")
OPTIONAL_KEYS = ("decoder_embed_dim", "decoder_depth", "decoder_num_heads", "mask_ratio",
                 "frame_step", "crop_margin")


def kept_tokens(n: int, keep_ratio: float) -> int:
    """K = min(N, max(1, floor(keep_ratio * N + 0.5))), product and rounding in double."""
    return min(n, max(1, int(math.floor(float(keep_ratio) * n + 0.5))))


@dataclass
class AdatoskConfig:
    num_frames: int = 16
    img_size: Union[int, List[int]] = 160
    tubelet_size: int = 2
    patch_size: int = 16
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    atsm_layer: int = 4
    keep_ratio: float = 0.5
    num_classes: int = 7
    norm_eps: float = 1e-6
    mean: List[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: List[float] = field(default_factory=lambda: list(IMAGENET_STD))
    # Optional: the reconstruction decoder (training) and the element's frame sampling.
    decoder_embed_dim: Optional[int] = None
    decoder_depth: Optional[int] = None
    decoder_num_heads: Optional[int] = None
    mask_ratio: Optional[float] = None
    frame_step: Optional[int] = None
    crop_margin: Optional[float] = None  # the element's crop-margin it was trained for (0.25)

    # -- derived sizes -------------------------------------------------------------------
    @property
    def img_hw(self):
        if isinstance(self.img_size, int):
            return self.img_size, self.img_size
        return int(self.img_size[0]), int(self.img_size[1])

    @property
    def num_slots(self):          # T'
        return self.num_frames // self.tubelet_size

    @property
    def grid_hw(self):
        h, w = self.img_hw
        return h // self.patch_size, w // self.patch_size

    @property
    def num_spatial(self):        # S
        gh, gw = self.grid_hw
        return gh * gw

    @property
    def num_tokens(self):         # N
        return self.num_slots * self.num_spatial

    @property
    def patch_dim(self):          # 3 * tau * p * p
        return 3 * self.tubelet_size * self.patch_size ** 2

    @property
    def mlp_hidden(self):
        return int(math.floor(self.mlp_ratio * self.embed_dim + 0.5))

    @property
    def decoder_mlp_hidden(self):
        return int(math.floor(self.mlp_ratio * self.decoder_embed_dim + 0.5))

    @property
    def has_decoder(self):
        return bool(self.decoder_embed_dim) and bool(self.decoder_depth)

    # -- checks and (de)serialisation ----------------------------------------------------
    def validate(self):
        def need(cond, what):
            if not cond:
                raise ValueError(f"adatosk config: {what}")
        h, w = self.img_hw
        need(self.num_frames > 0 and self.tubelet_size > 0 and self.num_frames % self.tubelet_size == 0,
             f"num_frames {self.num_frames} must be a positive multiple of tubelet_size {self.tubelet_size}")
        need(self.patch_size > 0 and h > 0 and w > 0 and h % self.patch_size == 0 and w % self.patch_size == 0,
             f"img_size {self.img_size} must be a positive multiple of patch_size {self.patch_size}")
        need(self.embed_dim > 0 and self.num_heads > 0 and self.embed_dim % self.num_heads == 0,
             f"embed_dim {self.embed_dim} must be a multiple of num_heads {self.num_heads}")
        need(self.depth >= 0 and 0 <= self.atsm_layer <= self.depth,
             f"atsm_layer {self.atsm_layer} must be in 0..depth ({self.depth})")
        need(0.0 < self.keep_ratio <= 1.0, f"keep_ratio {self.keep_ratio} must be in (0, 1]")
        need(self.num_classes >= 2, f"num_classes {self.num_classes} must be >= 2")
        need(self.mlp_ratio > 0 and self.mlp_hidden > 0, f"mlp_ratio {self.mlp_ratio} must be > 0")
        need(self.norm_eps > 0, f"norm_eps {self.norm_eps} must be > 0")
        need(len(self.mean) == 3 and len(self.std) == 3 and all(s > 0 for s in self.std),
             "mean and std need 3 values, std > 0")
        if self.decoder_embed_dim:
            need(self.decoder_depth is not None and self.decoder_depth >= 1 and self.decoder_num_heads
                 and self.decoder_embed_dim % self.decoder_num_heads == 0,
                 "decoder_embed_dim needs decoder_depth >= 1 and decoder_num_heads dividing it")
        if self.mask_ratio is not None:
            need(0.0 <= self.mask_ratio < 1.0, f"mask_ratio {self.mask_ratio} must be in [0, 1)")
        if self.frame_step is not None:
            need(self.frame_step >= 1, f"frame_step {self.frame_step} must be >= 1")
        if self.crop_margin is not None:
            need(0.0 <= self.crop_margin <= 2.0, f"crop_margin {self.crop_margin} must be in [0, 2]")
        return self

    def to_dict(self):
        d = {k: getattr(self, k) for k in REQUIRED_KEYS}
        for k in OPTIONAL_KEYS:
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        d["mean"] = [float(v) for v in self.mean]
        d["std"] = [float(v) for v in self.std]
        d["mlp_ratio"] = float(self.mlp_ratio)
        d["keep_ratio"] = float(self.keep_ratio)
        d["norm_eps"] = float(self.norm_eps)
        return d

    @classmethod
    def from_dict(cls, d):
        unknown = set(d) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)
        if unknown:
            raise ValueError(f"adatosk config: unknown keys {sorted(unknown)}")
        missing = [k for k in REQUIRED_KEYS if k not in d]
        if missing:
            raise ValueError(f"adatosk config: missing keys {missing}")
        d = dict(d)
        if isinstance(d["img_size"], (list, tuple)):
            d["img_size"] = [int(v) for v in d["img_size"]]
        return cls(**d).validate()

    def replace(self, **changes):
        return dataclasses.replace(self, **changes).validate()


_COMMON = dict(num_frames=16, tubelet_size=2, patch_size=16, mlp_ratio=4.0, atsm_layer=4,
               keep_ratio=0.5, num_classes=7, norm_eps=1e-6, mask_ratio=0.5, frame_step=1)

NAMED_CONFIGS = {
    # paper scale, MAE-DFER input
    "adatosk-b": dict(_COMMON, img_size=160, embed_dim=768, depth=12, num_heads=12,
                      decoder_embed_dim=384, decoder_depth=4, decoder_num_heads=6),
    "adatosk-s": dict(_COMMON, img_size=160, embed_dim=384, depth=12, num_heads=6,
                      decoder_embed_dim=192, decoder_depth=4, decoder_num_heads=3),
    # the default demo model
    "adatosk-tiny": dict(_COMMON, img_size=112, embed_dim=192, depth=6, num_heads=3, atsm_layer=2,
                         decoder_embed_dim=96, decoder_depth=2, decoder_num_heads=3),
}


def named_config(name: str, **overrides) -> AdatoskConfig:
    if name not in NAMED_CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(NAMED_CONFIGS)}")
    d = dict(NAMED_CONFIGS[name], mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
    d.update(overrides)
    return AdatoskConfig.from_dict(d)


def parse_overrides(items):
    """Command-line `--set key=value` items (JSON values) -> a dict of config overrides."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got {item!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError as e:
            raise SystemExit(f"--set {key}: {value!r} is not a JSON value ({e})")
    return overrides
