"""train/average_weights.py (WiSE-FT and model soups) on tiny models written as real model files.

- every tensor of the written file is the weighted mean of the inputs' (weights normalised);
- a model averaged with itself, or given all the weight, comes back with the same logits;
- the file keeps config, labels and decoder, and the C loader accepts it (`adatosk info`; skipped
  when ADATOSK_BUILD_DIR does not point at a build);
- models of another architecture, other labels, a negative weight, or another framing without
  --framing-from are refused with a message; --framing-from picks whose crop_margin is kept.
"""

import os
import subprocess
import sys

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, HERE)

import average_weights  # noqa: E402
from adatosk.config import named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import load_model, read_safetensors, save_model  # noqa: E402
from test_training import TINY  # noqa: E402

torch.set_num_threads(1)


def write_model(path, seed, labels=None, **overrides):
    torch.manual_seed(seed)
    config = named_config("adatosk-tiny", **dict(TINY, **overrides))
    model = AdaTosk(config, with_decoder=True)
    save_model(str(path), model, config, labels, trained_on=f"seed {seed}")
    return str(path)


def logits(path, clip):
    model, _, _, _ = load_model(path)
    model.eval()
    with torch.no_grad():
        return model(clip)["logits"]


def run(args):
    return average_weights.main([str(a) for a in args])


@pytest.fixture
def clip():
    torch.manual_seed(7)
    return torch.rand(2, 3, 4, 32, 32)


def test_weighted_mean_of_every_tensor(tmp_path):
    a, b, c = (write_model(tmp_path / f"{n}.safetensors", seed) for n, seed in (("a", 1), ("b", 2), ("c", 3)))
    out = tmp_path / "soup.safetensors"
    assert run([f"{a}:2", f"{b}:1", c, "--out", out]) == 0
    ta, tb, tc, to = (read_safetensors(p)[0] for p in (a, b, c, out))
    assert set(to) == set(ta)
    for name in ta:
        want = (2 * ta[name] + tb[name] + tc[name]) / 4
        assert abs(to[name] - want).max() < 1e-6, name
    meta = read_safetensors(str(out))[2]
    assert meta["adatosk.config"] == read_safetensors(a)[2]["adatosk.config"]
    assert "weight average of" in meta["adatosk.trained_on"] and "x 0.5" in meta["adatosk.trained_on"]


def test_endpoints_and_self_average_keep_the_model(tmp_path, clip):
    a = write_model(tmp_path / "a.safetensors", 1)
    b = write_model(tmp_path / "b.safetensors", 2)
    run([a, a, a, "--out", tmp_path / "self.safetensors"])
    run([f"{a}:1", f"{b}:0", "--out", tmp_path / "end.safetensors"])
    want = logits(a, clip)
    assert torch.allclose(logits(str(tmp_path / "self.safetensors"), clip), want, atol=1e-5)
    assert torch.allclose(logits(str(tmp_path / "end.safetensors"), clip), want, atol=1e-5)
    # and the midpoint is a different model (the weights really were mixed)
    run([a, b, "--out", tmp_path / "mid.safetensors"])
    assert not torch.allclose(logits(str(tmp_path / "mid.safetensors"), clip), want, atol=1e-3)


def test_refuses_what_cannot_be_averaged(tmp_path, capsys):
    a = write_model(tmp_path / "a.safetensors", 1)
    deeper = write_model(tmp_path / "deeper.safetensors", 2, depth=3)
    relabelled = write_model(tmp_path / "relabelled.safetensors", 3,
                             labels=["n", "h", "s", "a", "f", "d", "u"])
    out = tmp_path / "out.safetensors"
    for args, message in (([a, deeper], "differs"), ([a, relabelled], "labels"),
                          ([a, f"{a}:-1"], ">= 0"), ([f"{a}:0"], "sum to 0")):
        with pytest.raises(SystemExit):
            run(args + ["--out", out])
        assert message in capsys.readouterr().err
    assert not out.exists()


def test_framing_must_be_chosen(tmp_path, capsys):
    wide = write_model(tmp_path / "wide.safetensors", 1)
    tight = write_model(tmp_path / "tight.safetensors", 2, crop_margin=0.1)
    out = tmp_path / "out.safetensors"
    with pytest.raises(SystemExit):
        run([wide, tight, "--out", out])
    assert "--framing-from" in capsys.readouterr().err
    run([wide, tight, "--out", out, "--framing-from", tight])
    assert load_model(str(out))[1].crop_margin == 0.1
    run([wide, tight, "--out", out, "--framing-from", wide])
    assert load_model(str(out))[1].crop_margin is None


def test_c_loader_accepts_the_average(tmp_path):
    build = os.environ.get("ADATOSK_BUILD_DIR")
    tool = os.path.join(build, "tools", "adatosk") if build else None
    if not tool or not os.path.exists(tool):
        pytest.skip("ADATOSK_BUILD_DIR does not point at a build with tools/adatosk")
    a = write_model(tmp_path / "a.safetensors", 1)
    b = write_model(tmp_path / "b.safetensors", 2)
    out = tmp_path / "soup.safetensors"
    run([a, b, "--out", out])
    info = subprocess.run([tool, "info", str(out)], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
