"""The .safetensors model file (spec section 6), written and read with numpy.

Layout: 8-byte little-endian header length n, n bytes of JSON (padded with spaces so the data
starts 8-byte aligned), then the tensors' bytes, contiguous in header order; each tensor's
data_offsets [begin, end) are relative to the start of the data region.
"""

import json
import struct

import numpy as np
import torch

from .config import AdatoskConfig

MAX_HEADER = 100 * 1000 * 1000
ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2}
DTYPE_NAMES = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
# Tensors an inference file may leave out.
TRAINING_ONLY = ("decoder.", "encoder_to_decoder.", "mask_token")


def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even; NaN stays NaN."""
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(a, dtype=np.float32))
    rounded = np.where(nan, (bits >> 16) | 0x40, rounded)
    return rounded.astype("<u2")


def bf16_bits_to_f32(bits):
    return (np.asarray(bits, dtype="<u2").astype("<u4") << 16).view("<f4")


def encode(a, dtype):
    """float array -> little-endian bytes of dtype "F32" | "F16" | "BF16" (via float32)."""
    a32 = np.ascontiguousarray(a, dtype="<f4")
    if dtype == "F32":
        return a32.tobytes()
    if dtype == "F16":
        with np.errstate(over="ignore"):          # beyond 65504 becomes inf, as it should
            return a32.astype("<f2").tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(a32).tobytes()
    raise ValueError(f"unsupported dtype {dtype!r} (F32, F16, BF16)")


def decode(buf, dtype, shape):
    """bytes -> float32 array."""
    if dtype == "F32":
        a = np.frombuffer(buf, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        a = bf16_bits_to_f32(np.frombuffer(buf, dtype="<u2"))
    else:
        raise ValueError(f"unsupported dtype {dtype!r}")
    return a.reshape(shape).astype(np.float32)


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, float array, dtype) in file order; metadata: dict of strings."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, array, dtype in tensors:
        blob = encode(array, dtype)
        header[name] = {"dtype": dtype, "shape": [int(s) for s in np.shape(array)],
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """-> (dict name -> float32 array in file order, dict name -> dtype, metadata dict).
    Checks the layout: offsets contiguous from 0, covering the data region exactly."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} beyond the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    tensors, dtypes, expect = {}, {}, 0
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in ITEMSIZE:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dtype}")
        if begin != expect or end - begin != ITEMSIZE[dtype] * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: data_offsets {begin, end} do not match "
                             f"its shape {shape} at offset {expect}")
        tensors[name] = decode(bytes(body[begin:end]), dtype, shape)
        dtypes[name] = dtype
        expect = end
    if expect != len(body):
        raise ValueError(f"{path}: tensors cover {expect} of {len(body)} data bytes")
    return tensors, dtypes, metadata


def save_model(path, model, config=None, labels=None, dtype="f32", name="adatosk",
               license="LGPL-2.1-or-later", trained_on="random initialisation (not trained)",
               include_decoder=True, dtypes=None):
    """Writes the model's state dict (spec names) and metadata. dtype: "f32" | "f16" | "bf16"
    for every tensor; dtypes: optional {tensor name: dtype} overrides (files may mix dtypes)."""
    from .config import DEFAULT_LABELS
    config = config or model.config
    labels = list(labels) if labels is not None else list(DEFAULT_LABELS[:config.num_classes])
    if len(labels) != config.num_classes:
        raise ValueError(f"{len(labels)} labels for {config.num_classes} classes")
    default = DTYPE_NAMES.get(dtype, dtype)
    tensors = []
    for key, value in model.state_dict().items():
        if not include_decoder and key.startswith(TRAINING_ONLY):
            continue
        dt = DTYPE_NAMES.get((dtypes or {}).get(key, default), (dtypes or {}).get(key, default))
        tensors.append((key, value.detach().cpu().to(torch.float32).numpy(), dt))
    metadata = {
        "adatosk.config": json.dumps(config.to_dict()),
        "adatosk.labels": json.dumps(labels),
        "adatosk.name": name,
        "adatosk.license": license,
        "adatosk.trained_on": trained_on,
    }
    write_safetensors(path, tensors, metadata)


def load_model(path):
    """-> (model in float32 with the file's exact values, config, labels, metadata)."""
    from .model import AdaTosk
    tensors, _, meta = read_safetensors(path)
    if "adatosk.config" not in meta:
        raise ValueError(f"{path}: no adatosk.config in __metadata__")
    config = AdatoskConfig.from_dict(json.loads(meta["adatosk.config"]))
    labels = json.loads(meta.get("adatosk.labels", "null")) or []
    if len(labels) != config.num_classes:
        raise ValueError(f"{path}: {len(labels)} labels for {config.num_classes} classes")
    with_decoder = any(k.startswith(TRAINING_ONLY) for k in tensors)
    model = AdaTosk(config, with_decoder=with_decoder)
    state = {k: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: missing tensors {missing}, unknown tensors {unexpected}")
    return model, config, labels, meta
