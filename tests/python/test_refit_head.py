"""train/refit_head.py (last-layer retraining) on a tiny model and a real clip list.

- fit_head reaches the minimum of its convex loss (gradient ~0 there) and, on separable features,
  decides every training point right;
- end to end: only the head's tensors change in the written file, the refitted head fits the clips'
  teacher labels better than the old one, and the clip weights follow the classes' balance.
"""

import os
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, HERE)

import refit_head  # noqa: E402
from adatosk.config import named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import load_model, read_safetensors, save_model  # noqa: E402
from dataset import ClipDataset  # noqa: E402
from test_training import TINY, make_clip_set  # noqa: E402

torch.set_num_threads(1)


def test_fit_head_finds_the_minimum():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g, dtype=torch.float64) * 3
    y = torch.arange(60) % 3
    f = centres[y] + torch.randn(60, 8, generator=g, dtype=torch.float64)
    t = torch.nn.functional.one_hot(y, 3).double() * 0.9 + 0.1 / 3
    w = torch.rand(60, generator=g, dtype=torch.float64) + 0.5
    W, b, loss = refit_head.fit_head(f, t, w, l2=1e-2)
    assert ((f @ W.T + b).argmax(1) == y).all()
    # the gradient of the objective vanishes at what fit_head returns
    W, b = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    wn = w / w.sum()
    obj = -(wn * (t * torch.log_softmax(f @ W.T + b, 1)).sum(1)).sum() + 0.5e-2 * (W * W).sum()
    obj.backward()
    assert float(obj) == pytest.approx(loss, abs=1e-9)
    assert W.grad.abs().max() < 1e-5 and b.grad.abs().max() < 1e-5


def weighted_ce(model, ds, weights):
    f = refit_head.head_features(model, ds)
    logp = torch.log_softmax(f @ model.head.weight.double().T + model.head.bias.double(), 1)
    t = torch.from_numpy(ds.soft_targets()).double()
    w = torch.from_numpy(weights) / weights.sum()
    return float(-(w * (t * logp).sum(1)).sum())


def test_refit_changes_only_the_head(tmp_path):
    csv_path = make_clip_set(str(tmp_path / "ds"), n=9)
    torch.manual_seed(0)
    config = named_config("adatosk-tiny", **TINY)
    src = str(tmp_path / "model.safetensors")
    save_model(src, AdaTosk(config, with_decoder=True), config)
    out = str(tmp_path / "refit.safetensors")
    assert refit_head.main([src, "--train", csv_path, "--out", out, "--l2", "1e-4"]) == 0

    before, _, _ = read_safetensors(src)
    after, _, meta = read_safetensors(out)
    assert set(before) == set(after)
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    assert changed == {"head.weight", "head.bias"}
    assert "head refitted" in meta["adatosk.trained_on"]

    old, _, labels, _ = load_model(src)
    new, _, _, _ = load_model(out)
    ds = ClipDataset(csv_path, config, labels, cache=False)
    weights = ds.balanced_weights(0.5)
    assert weighted_ce(new, ds, weights) < weighted_ce(old, ds, weights) - 0.05


def test_refuses_bad_options(tmp_path):
    with pytest.raises(SystemExit):
        refit_head.main(["m.safetensors", "--train", "c.csv", "--out", str(tmp_path / "o"), "--l2", "-1"])
