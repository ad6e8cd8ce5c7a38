"""Distillation by function matching (train/function_matching.py, train.py --online-teacher, --mixup):

- OnlineTeacher on a training batch (pixels in [0, 1], as forward_train takes them) gives the
  first frame of every tubelet the probabilities the original face-api gives those crops (the
  fixture's reference, run in Node), and so the clip target the dataset would store;
- a model input of another size is resized to the teacher's 112 px: a valid distribution per slot;
- OnlineTeacher refuses a model whose labels are not face-api's;
- mix_clips: every clip is lam x_i + (1 - lam) x_perm(i) with lam in [0.5, 1], the same draws from the
  same seed, a permutation of the batch;
- train.py with --online-teacher --mixup: four steps straight == two, interrupted, resumed for two
  (the mixing generator is in the checkpoint), and the targets are the teacher's, not the stored ones;
  the options that cannot go with it are refused; --teacher-crop cut shows the teacher the whole
  clip and the student its centre;
- teacher_framing.py agrees with the stored labels at the cut framing;
- OnlineTeacher.maps (train.py --token-targets): the teacher's last feature map in the model's token
  order (slot-major, row-major; its cells average to the pooled features), resampled to another
  patch grid; the maps are made from exactly the pixels the student gets, with or without the
  online teacher's labels; a run with --token-targets resumes exactly and learns the cells.
"""

import json
import os
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))
sys.path.insert(0, HERE)

from adatosk.config import named_config  # noqa: E402
from dataset import to_x01  # noqa: E402
from function_matching import OnlineTeacher, mix_clips  # noqa: E402
from teacher.faceapi import LABELS  # noqa: E402
from test_training import TINY, make_clip_set  # noqa: E402

torch.set_num_threads(1)

FIXTURE = os.path.join(HERE, "fixtures", "teacher")


def reference_crops():
    with open(os.path.join(FIXTURE, "reference_probs.json")) as f:
        ref = json.load(f)
    named = {r["crop"]: r for r in ref["results"]}
    names = ["cap12_element_crop_surprised.npy", "cap13_element_crop_neutral.npy"]
    return [np.load(os.path.join(FIXTURE, n)) for n in names], np.array([named[n]["probs"] for n in names])


def test_online_teacher_matches_the_original_on_the_model_input(model_dir):
    crops, want = reference_crops()
    # Frames 0 and 2 are the tubelets' first frames; 1 and 3 are noise the teacher must not see.
    noise = np.random.default_rng(0).integers(0, 256, crops[0].shape, dtype=np.uint8)
    clip = np.stack([crops[0], noise, crops[1], noise])
    config = named_config("adatosk-tiny", num_frames=4)
    x = to_x01(clip)[None]
    probs, features = OnlineTeacher(model_dir, config, LABELS)(x)
    assert probs.shape == (1, 2, 7) and features.shape == (1, 2, 256)
    diff = float(np.abs(probs[0].double().numpy() - want).max())
    print(f"online teacher vs the original face-api: max probability difference {diff:.2e}")
    assert diff <= 1e-4
    assert [LABELS[i] for i in probs[0].argmax(-1)] == ["surprised", "neutral"]


def test_online_teacher_resizes_other_input_sizes(model_dir):
    config = named_config("adatosk-tiny", **TINY)            # 32 x 32, 4 frames
    x = torch.randn(3, 3, config.num_frames, *config.img_hw)
    probs, features = OnlineTeacher(model_dir, config, LABELS)(x)
    assert probs.shape == (3, config.num_frames // config.tubelet_size, 7)
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:2]), atol=1e-5)
    assert torch.isfinite(features).all()


def test_teacher_maps_in_token_order(model_dir):
    crops, _ = reference_crops()
    config = named_config("adatosk-tiny", num_frames=4)
    clip = np.stack([crops[0], crops[0], crops[1], crops[1]])
    teacher = OnlineTeacher(model_dir, config)                   # no labels: maps only
    maps = teacher.maps(to_x01(clip)[None])
    assert maps.shape == (1, 2, 49, 256)
    _, features = teacher(to_x01(clip)[None])
    assert float((maps.mean(2) - features).abs().max()) < 1e-5
    for slot, crop in enumerate(crops):
        inp = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0 - teacher.teacher_mean
        fmap = teacher.net.feature_map(inp)[0].detach()          # [256, 7, 7]
        for row, col in [(0, 0), (1, 5), (6, 2)]:
            assert torch.allclose(maps[0, slot, row * 7 + col], fmap[:, row, col], atol=1e-5)
    # Slots are different frames: their maps differ.
    assert float((maps[0, 0] - maps[0, 1]).abs().max()) > 0.1


def test_teacher_maps_on_another_grid(model_dir):
    config = named_config("adatosk-tiny", **TINY)              # 32 x 32, patch 16: a 2 x 2 grid
    maps = OnlineTeacher(model_dir, config).maps(torch.rand(3, 3, config.num_frames, *config.img_hw))
    assert maps.shape == (3, config.num_frames // config.tubelet_size, 4, 256)
    assert torch.isfinite(maps).all() and float(maps.min()) >= 0.0  # area averages of ReLU sums


def test_online_teacher_refuses_other_labels(model_dir):
    config = named_config("adatosk-tiny", **TINY)
    with pytest.raises(SystemExit, match="not face-api's"):
        OnlineTeacher(model_dir, config, ["a", "b", "c", "d", "e", "f", "g"])


def test_mix_clips():
    x = torch.randn(6, 3, 2, 4, 4)
    mixed, lam, perm = mix_clips(x, np.random.default_rng(7), 0.4)
    assert sorted(perm.tolist()) == list(range(6))
    assert ((lam >= 0.5) & (lam <= 1.0)).all()
    for i in range(6):
        assert torch.allclose(mixed[i], lam[i] * x[i] + (1 - lam[i]) * x[perm[i]], atol=1e-6)
    again, lam2, perm2 = mix_clips(x, np.random.default_rng(7), 0.4)
    assert torch.equal(again, mixed) and torch.equal(lam2, lam) and torch.equal(perm2, perm)
    # Beta(0.4, 0.4) folded: mostly near 1 or near 0.5, not a constant.
    assert float(lam.std()) > 0


def test_training_with_online_teacher_and_mixup(tmp_path, model_dir):
    import train as train_mod
    csv_path = make_clip_set(str(tmp_path / "ds"), seed=5)
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]

    def common(run, *more):
        return ["--train", csv_path, "--out", run, "--batch", "2", "--warmup", "1", "--threads", "1",
                "--eval-every", "0", "--ckpt-every", "2", "--steps", "4", "--quiet", *more] + sets
    online = ["--online-teacher", model_dir, "--mixup", "0.4"]
    a, b, stored = str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "stored")
    assert train_mod.main(common(a, *online)) == 0
    train_mod.main(common(b, *online, "--stop-after", "2"))
    train_mod.main(common(b, *online, "--resume"))
    ha = json.load(open(os.path.join(a, "history.json")))["train"]
    hb = json.load(open(os.path.join(b, "history.json")))["train"]
    assert [h["step"] for h in hb] == [1, 2, 3, 4]
    for x, y in zip(ha, hb):
        for k in ("loss", "loss_cls", "loss_rec", "loss_sem"):
            assert x[k] == y[k], (x["step"], k, x[k], y[k])
    # The same run with the stored labels learns from other targets: another classification loss.
    train_mod.main(common(stored))
    hs = json.load(open(os.path.join(stored, "history.json")))["train"]
    assert hs[0]["loss_cls"] != ha[0]["loss_cls"]
    with open(os.path.join(a, "train.log")) as f:
        assert "targets from the teacher online (cut framing), mixup Beta(0.4)" in f.read()


def test_training_with_token_targets(tmp_path, model_dir):
    import train as train_mod
    csv_path = make_clip_set(str(tmp_path / "ds"), seed=6)
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]

    def common(run, steps, *more):
        return ["--train", csv_path, "--out", run, "--batch", "2", "--warmup", "1", "--threads", "1",
                "--eval-every", "0", "--ckpt-every", "2", "--steps", str(steps), "--quiet", "--no-augment",
                "--token-targets", "1", "--online-teacher", model_dir, *more] + sets
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert train_mod.main(common(a, 4)) == 0
    train_mod.main(common(b, 4, "--stop-after", "2"))
    train_mod.main(common(b, 4, "--resume"))
    ha = json.load(open(os.path.join(a, "history.json")))["train"]
    hb = json.load(open(os.path.join(b, "history.json")))["train"]
    for x, y in zip(ha, hb):
        for k in ("loss", "loss_cls", "loss_tokens"):
            assert x[k] == y[k], (x["step"], k, x[k], y[k])
    # Learnt: 40 steps on the 4 clips at lr 2e-3 take the token loss well below its start.
    c = str(tmp_path / "c")
    train_mod.main(common(c, 40, "--lr", "2e-3", "--lambda-rec", "0", "--lambda-sem", "0", "--cls-weight", "0"))
    hc = [h["loss_tokens"] for h in json.load(open(os.path.join(c, "history.json")))["train"]]
    print(f"token loss: first 4 steps {np.mean(hc[:4]):.3f}, last 4 {np.mean(hc[-4:]):.3f}")
    assert np.mean(hc[-4:]) < 0.7 * np.mean(hc[:4])
    with open(os.path.join(a, "train.log")) as f:
        assert "per-token teacher maps x1" in f.read()


@pytest.mark.parametrize("bad", [["--mixup", "0.4"],
                                 ["--token-targets", "1", "--mask-ratio", "0"],
                                 ["--online-teacher", "--hard-labels"],
                                 ["--online-teacher", "--within-identity", "1"],
                                 ["--online-teacher", "--mixup", "-1"]])
def test_refused_combinations(tmp_path, bad):
    import train as train_mod
    with pytest.raises(SystemExit):
        train_mod.parse_args(["--train", "x.csv", "--out", str(tmp_path)] + bad)


def framed_clip_set(folder, n=4, T=4, H=32, W=32):
    """Clips whose every frame is white outside the centre 0.8 and black inside it."""
    os.makedirs(os.path.join(folder, "clips"), exist_ok=True)
    clip = np.full((T, H, W, 3), 255, np.uint8)
    clip[:, 3:H - 3, 3:W - 3] = 0
    rows = ["path,label"]
    for i in range(n):
        np.save(os.path.join(folder, "clips", f"c{i}.npy"), clip)
        rows.append(f"clips/c{i}.npy,{LABELS[i % 2]}")
    with open(os.path.join(folder, "clips.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return os.path.join(folder, "clips.csv")


@pytest.mark.parametrize("framing", ["cut", "student", "maps only"])
def test_teacher_framing(tmp_path, model_dir, monkeypatch, framing):
    """--teacher-crop cut: the teacher sees the whole clip (its white frame), the student only the
    centre --crop-scale (black); student: both see the student's crop. The maps of --token-targets
    are always made from the student's pixels (maps only: stored labels, no online teacher)."""
    import train as train_mod
    seen = {}
    teacher_call, maps_call = OnlineTeacher.__call__, OnlineTeacher.maps
    objective_call = train_mod.TrainingObjective.forward

    def teacher_spy(self, x):
        seen["teacher"] = x.clone()
        return teacher_call(self, x)

    def maps_spy(self, x):
        seen["maps"] = x.clone()
        return maps_call(self, x)

    def objective_spy(self, x, *rest):
        seen["student"] = x.clone()
        return objective_call(self, x, *rest)
    monkeypatch.setattr(OnlineTeacher, "__call__", teacher_spy)
    monkeypatch.setattr(OnlineTeacher, "maps", maps_spy)
    monkeypatch.setattr(train_mod.TrainingObjective, "forward", objective_spy)
    csv_path = framed_clip_set(str(tmp_path / "ds"))
    sets = [f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]
    online = [] if framing == "maps only" else ["--online-teacher", model_dir, "--teacher-crop", framing]
    args = train_mod.parse_args(["--train", csv_path, "--out", str(tmp_path / "run"), "--batch", "2",
                                 "--no-augment", "--crop-scale", "0.8", "--token-targets", "1"]
                                + online + sets)
    os.makedirs(args.out)
    run = train_mod.Run(args)
    run.train_step()
    corner = lambda x: float(x[:, :, :, 0, 0].min())                 # noqa: E731
    assert corner(seen["student"]) == 0.0                            # black: the centre only
    assert torch.equal(seen["maps"], seen["student"])
    if framing == "maps only":
        assert "teacher" not in seen
    elif framing == "cut":
        assert corner(seen["teacher"]) == 1.0                        # the white frame
    else:
        assert torch.equal(seen["teacher"], seen["student"])


def test_teacher_framing_tool(tmp_path, model_dir, capsys):
    """teacher_framing.py on two 16-frame clips of the fixture's element crops, labelled as the
    original face-api labels them: at the cut framing the teacher agrees on both."""
    import teacher_framing
    crops, want = reference_crops()
    os.makedirs(tmp_path / "clips")
    rows = ["path,label"]
    for i, (crop, probs) in enumerate(zip(crops, want)):
        np.save(tmp_path / "clips" / f"c{i}.npy", np.stack([crop] * 16))
        rows.append(f"clips/c{i}.npy,{' '.join(f'{p:.6f}' for p in probs)}")
    (tmp_path / "clips.csv").write_text("\n".join(rows) + "\n")
    assert teacher_framing.main([str(tmp_path / "clips.csv"), "--teacher", model_dir]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "at the centre 0.8" in out[1]
    assert "agrees with the stored label on 1.000 of 2 clips" in out[0]
