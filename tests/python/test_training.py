"""Training (train/train.py with the reference model's forward_train), kept under a minute.

- one optimisation step on a fixed batch lowers every loss (L, L_cls, L_rec, L_sem);
- gradients reach the ATSM parameters (prototypes, alpha_dyn, alpha_sem, beta, norm), the decoder and
  the patch embedding;
- the hard tube mask hides exactly round(mask_ratio * S) positions in every slot;
- class-balanced sampling draws a class with n clips in proportion to n**power (0, 0.5, 1);
- a few steps of train.py on a tiny config end to end (clip list, .npy clips, checkpoint, resume,
  loss curves, model file), then export.py, and the file is accepted by the C loader
  (`adatosk info`; skipped when ADATOSK_BUILD_DIR does not point at a build).
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

from adatosk.config import named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402

torch.set_num_threads(1)

TINY = dict(num_frames=4, img_size=32, embed_dim=32, depth=2, num_heads=2, atsm_layer=1,
            decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, keep_ratio=0.5, mask_ratio=0.5)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return AdaTosk(named_config("adatosk-tiny", **TINY), with_decoder=True)


def fixed_batch(B=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    cfg = named_config("adatosk-tiny", **TINY)
    H, W = cfg.img_hw
    # Smooth moving blobs: the reconstruction target has structure to learn.
    t = torch.arange(cfg.num_frames).view(1, 1, -1, 1, 1).float()
    y = torch.arange(H).view(1, 1, 1, -1, 1).float()
    x = torch.arange(W).view(1, 1, 1, 1, -1).float()
    cx = torch.rand(B, 3, 1, 1, 1, generator=g) * W + t
    x01 = torch.sigmoid(torch.sin((x - cx) / 5) + torch.cos(y / 7) + torch.randn(B, 3, 1, 1, 1, generator=g))
    target = torch.softmax(torch.randn(B, 7, generator=g) * 2, -1)
    return x01, target


def losses(model, x01, target, seed=5):
    g = torch.Generator().manual_seed(seed)
    return model.forward_train(x01, target, generator=g)


def test_one_step_lowers_every_loss():
    model = tiny_model()
    x01, target = fixed_batch()
    before = losses(model, x01, target)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    opt.zero_grad()
    before["loss"].backward()
    opt.step()
    with torch.no_grad():
        after = losses(model, x01, target)       # same tube mask (same generator seed)
    for k in ("loss", "loss_cls", "loss_rec", "loss_sem"):
        assert float(after[k]) < float(before[k]), f"{k}: {float(before[k]):.6f} -> {float(after[k]):.6f}"


def test_one_step_lowers_every_loss_hard_labels():
    model = tiny_model(3)
    x01, _ = fixed_batch(seed=4)
    y = torch.tensor([0, 6, 6, 2])
    before = losses(model, x01, y)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    before["loss"].backward()
    opt.step()
    with torch.no_grad():
        after = losses(model, x01, y)
    for k in ("loss", "loss_cls", "loss_rec", "loss_sem"):
        assert float(after[k]) < float(before[k]), k


def test_gradients_reach_atsm_prototypes_decoder():
    model = tiny_model()
    x01, target = fixed_batch()
    out = losses(model, x01, target)
    out["loss"].backward()
    named = dict(model.named_parameters())
    must = ["atsm.prototypes", "atsm.alpha_dyn", "atsm.alpha_sem", "atsm.beta", "atsm.norm.weight",
            "mask_token", "encoder_to_decoder.weight", "decoder.head.weight", "decoder.norm.weight",
            "decoder.blocks.0.attn.qkv.weight", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight",
            "blocks.1.mlp.fc2.weight", "head.weight", "fc_norm.weight"]
    for name in must:
        gr = named[name].grad
        assert gr is not None and torch.isfinite(gr).all() and float(gr.abs().sum()) > 0, name
    # The prototypes learn from both L_cls (through the mask) and L_sem.
    model.zero_grad()
    out = losses(model, x01, target)
    out["loss_sem"].backward()
    assert float(named["atsm.prototypes"].grad.abs().sum()) > 0


@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75, 0.9])
def test_hard_mask_hides_round_ratio_S_per_slot(ratio):
    torch.manual_seed(0)
    model = AdaTosk(named_config("adatosk-tiny", **dict(TINY, img_size=[48, 64])), with_decoder=True)
    cfg = model.config
    S, T = cfg.num_spatial, cfg.num_slots                     # S = 3 * 4 = 12
    x01 = torch.rand(3, 3, cfg.num_frames, 48, 64, generator=torch.Generator().manual_seed(1))
    target = torch.softmax(torch.randn(3, 7), -1)
    out = model.forward_train(x01, target, mask_ratio=ratio, generator=torch.Generator().manual_seed(2))
    n_mask = int(math.floor(ratio * S + 0.5))
    assert out["masked"].shape == (3, n_mask)
    msk = out["masked_tokens"].view(3, T, n_mask)
    vis = out["visible_tokens"].view(3, T, S - n_mask)
    for b in range(3):
        for t in range(T):
            m = set((msk[b, t] - t * S).tolist())
            v = set((vis[b, t] - t * S).tolist())
            assert len(m) == n_mask and not (m & v) and (m | v) == set(range(S))
            assert m == set(out["masked"][b].tolist())          # the same positions in every slot


def make_clip_set(dirpath, n=6, T=4, H=32, W=32, seed=0):
    g = np.random.default_rng(seed)
    os.makedirs(os.path.join(dirpath, "clips"), exist_ok=True)
    rows = ["path,label"]
    for i in range(n):
        clip = g.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
        np.save(os.path.join(dirpath, "clips", f"c{i}.npy"), clip)
        if i % 3 == 0:
            label = "surprised"
        elif i % 3 == 1:
            p = np.full(7, 0.01)
            p[0] = 1 - 0.06
            label = " ".join(f"{v:.6f}" for v in p)
        else:
            label = "0"
        rows.append(f"clips/c{i}.npy,{label}")
    with open(os.path.join(dirpath, "clips.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return os.path.join(dirpath, "clips.csv")


def test_short_training_run_end_to_end(tmp_path):
    import train as train_mod
    csv_path = make_clip_set(str(tmp_path / "ds"))
    run = str(tmp_path / "run")
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]
    common = ["--train", csv_path, "--val", csv_path, "--out", run, "--batch", "2", "--warmup", "1",
              "--threads", "1", "--balanced", "--eval-every", "2", "--ckpt-every", "2", "--ema", "0.9",
              "--quiet"] + sets
    assert train_mod.main(common + ["--steps", "2"]) == 0
    assert train_mod.main(common + ["--steps", "4", "--resume"]) == 0       # continues from step 2
    hist = json.load(open(os.path.join(run, "history.json")))
    assert [h["step"] for h in hist["train"]] == [1, 2, 3, 4]
    assert all(all(math.isfinite(h[k]) for k in ("loss", "loss_cls", "loss_rec", "loss_sem"))
               for h in hist["train"])
    assert len(hist["val"]) == 2 and len(hist["val_ema"]) == 2
    assert os.path.exists(os.path.join(run, "model_raw.safetensors"))
    assert os.path.getsize(os.path.join(run, "loss_curves.png")) > 1000
    with open(os.path.join(run, "train.log")) as f:
        log = f.read()
    assert "step 4/4" in log and " cls " in log and " rec " in log and " sem " in log

    from adatosk.safetensors_io import load_model
    model, cfg, labels, _ = load_model(os.path.join(run, "model.safetensors"))
    assert model.with_decoder and cfg.num_frames == 4

    build = os.environ.get("ADATOSK_BUILD_DIR")
    tool = os.path.join(build, "tools", "adatosk") if build else None
    import export as export_mod
    out = str(tmp_path / "exported.safetensors")
    if not tool or not os.path.exists(tool):
        export_mod.main([os.path.join(run, "checkpoint.pt"), "--out", out, "--no-check"])
        assert os.path.exists(out)
        pytest.skip("ADATOSK_BUILD_DIR not set (or no tools/adatosk in it): the C loader was not asked")
    export_mod.main([os.path.join(run, "checkpoint.pt"), "--out", out, "--clips", csv_path,
                     "--n-clips", "2", "--tool", tool])
    r = subprocess.run([tool, "info", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "16 frames" not in r.stdout and "4 frames" in r.stdout


def test_resume_is_exact(tmp_path):
    """Four steps straight == two steps, interrupted, resumed for two more (same losses)."""
    import train as train_mod
    csv_path = make_clip_set(str(tmp_path / "ds"), seed=3)
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]

    def common(run):
        return ["--train", csv_path, "--out", run, "--batch", "2", "--warmup", "1", "--threads", "1",
                "--eval-every", "0", "--ckpt-every", "2", "--steps", "4", "--quiet"] + sets
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    train_mod.main(common(a))
    train_mod.main(common(b) + ["--stop-after", "2"])
    train_mod.main(common(b) + ["--resume"])
    ha = json.load(open(os.path.join(a, "history.json")))["train"]
    hb = json.load(open(os.path.join(b, "history.json")))["train"]
    assert [h["step"] for h in hb] == [1, 2, 3, 4]
    for x, y in zip(ha, hb):
        for k in ("loss", "loss_cls", "loss_rec", "loss_sem", "lr"):
            assert x[k] == y[k], (x["step"], k, x[k], y[k])


@pytest.mark.parametrize("power", [0.0, 0.5, 1.0])
def test_balanced_sampling_draws_each_class_by_its_count_to_the_power(tmp_path, power):
    from dataset import ClipDataset
    # 9 clips: 1 surprised, 8 neutral (hard labels); a class with n clips is drawn ~ n**power.
    os.makedirs(tmp_path / "clips")
    rows = ["path,label"]
    for i in range(9):
        np.save(tmp_path / "clips" / f"c{i}.npy", np.zeros((4, 32, 32, 3), np.uint8))
        rows.append(f"clips/c{i}.npy,{'surprised' if i == 0 else 'neutral'}")
    (tmp_path / "clips.csv").write_text("\n".join(rows) + "\n")
    config = named_config("adatosk-tiny", **TINY)
    ds = ClipDataset(str(tmp_path / "clips.csv"), config, ["neutral", "happy", "sad", "angry", "fearful",
                                                           "disgusted", "surprised"])
    w = ds.balanced_weights(power)
    share = w[0] / w.sum()
    assert math.isclose(share, 1.0 / (1.0 + 8.0 ** power), rel_tol=1e-12)
    assert np.allclose(w[1:], w[1])                       # equal within a class


def test_evaluation_sees_the_models_crop(tmp_path):
    """A model trained on tighter crops (config crop_margin 0.1, clips cut at the default 0.25) is
    evaluated on the centre of each clip, as the element would feed it, by every path that scores a
    model: predict() on a ClipDataset (train.py's evaluation, validate.py, calibrate.py) and
    evaluate_model(). (All of them once scored the uncropped clip.)"""
    from dataset import ClipDataset, center_crop_clip, crop_scale_for, to_x01
    from evaluate import evaluate_model, predict
    csv_path = make_clip_set(str(tmp_path / "ds"))
    torch.manual_seed(0)
    cfg = named_config("adatosk-tiny", **TINY).replace(crop_margin=0.1)
    model = AdaTosk(cfg, with_decoder=False).eval()
    labels = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
    scale = crop_scale_for(cfg, csv_path)
    assert scale == pytest.approx(1.2 / 1.5)
    ds = ClipDataset(csv_path, cfg, labels, train=False, cache=False, crop_scale=scale)
    with torch.no_grad():
        cropped = torch.stack([center_crop_clip(to_x01(ds.clip(i)), scale) for i in range(len(ds))])
        uncropped = torch.stack([to_x01(ds.clip(i)) for i in range(len(ds))])
        want = model(model.normalize(cropped))["probs"].double().numpy()
        wide = model(model.normalize(uncropped))["probs"].double().numpy()
    got = predict(model, ds)
    assert np.abs(got - want).max() < 1e-6
    assert np.abs(wide - want).max() > 1e-3       # the crop changes the answer: the check has teeth
    m = evaluate_model(model, labels, csv_path)
    assert m["accuracy"] == pytest.approx(float(np.mean(want.argmax(1) == ds.hard_labels())))


def test_zoom_in_draws_closer_crops(tmp_path):
    """--zoom-in z: the random crop's side goes down to z of the clip (area z^2), where the default
    keeps 0.8 to 1 of the area; a crop is never smaller than that."""
    from dataset import ClipDataset
    csv_path = make_clip_set(str(tmp_path / "ds"))
    cfg = named_config("adatosk-tiny", **TINY)
    labels = ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]

    def areas(**kw):
        ds = ClipDataset(csv_path, cfg, labels, train=True, seed=3, **kw)
        H, W = cfg.img_hw
        boxes = [ds.draw_augment()["box"] for _ in range(300)]
        return np.array([h * w / (H * W) for _, _, h, w in boxes])

    default, closer = areas(), areas(zoom_in=0.5)
    rounding = 2.5 / cfg.img_hw[0]      # boxes are whole pixels of a 32 px clip
    assert default.min() > 0.8 - rounding
    assert closer.min() > 0.25 - rounding and closer.min() < 0.4
    assert np.median(closer) < np.median(default)


def test_auc_interval_block_bootstrap():
    """validate.py's AUC interval, on 40 moments of 8 alike clips each (a video's overlapping clips):
    a perfect score is [1, 1]; a score that follows the label through noise is above 0.5 with its
    whole interval; the interval holds the plain AUC, and resampling single clips (block 1) makes it
    far narrower than the truth of 40 moments."""
    from evaluate import auc, auc_interval
    rng = np.random.default_rng(0)
    y = np.repeat(rng.random(40) < 0.3, 8)
    groups = ["v"] * len(y)
    assert auc_interval(y.astype(float), y, groups) == (1.0, 1.0)
    informative = y + np.repeat(rng.normal(0, 0.6, 40), 8)
    lo, hi = auc_interval(informative, y, groups)
    assert 0.5 < lo < auc(informative, y) < hi
    noise = np.repeat(rng.random(40), 8) + rng.normal(0, 0.01, len(y))
    lo, hi = auc_interval(noise, y, groups)
    lo1, hi1 = auc_interval(noise, y, groups, block=1)
    assert lo < auc(noise, y) < hi and hi1 - lo1 < 0.6 * (hi - lo)
