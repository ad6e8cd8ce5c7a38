"""Tests of the PyTorch reference (train/adatosk) against the spec (docs/model.md): each piece
against a naive, loop-by-loop transcription of the spec's formulas."""

import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN)

from adatosk import (AdaTosk, AdatoskConfig, kept_tokens, load_model, named_config,  # noqa: E402
                     read_safetensors, save_model, select_tokens, sinusoid_pe, write_safetensors)
from adatosk.model import ATSM, perturb_for_tests_, tubes  # noqa: E402


def small_config(**kw):
    d = dict(num_frames=8, img_size=[32, 48], tubelet_size=2, patch_size=16, embed_dim=32, depth=3,
             num_heads=2, mlp_ratio=4.0, atsm_layer=1, keep_ratio=0.5, num_classes=5, norm_eps=1e-6,
             mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225], decoder_embed_dim=16,
             decoder_depth=1, decoder_num_heads=2, mask_ratio=0.5)
    d.update(kw)
    return AdatoskConfig.from_dict(d)


def test_model(seed=0, **kw):
    torch.manual_seed(seed)
    model = AdaTosk(small_config(**kw))
    perturb_for_tests_(model, torch.Generator().manual_seed(seed))
    return model.double()


test_model.__test__ = False  # a helper, not a test


# ---------------------------------------------------------------------------------------------
# Configuration

def test_kept_tokens_formula():
    assert kept_tokens(800, 0.5) == 400
    assert kept_tokens(800, 1.0) == 800
    assert kept_tokens(48, 0.37) == 18          # 17.76 -> 18
    assert kept_tokens(392, 0.37) == 145        # 145.04 + 0.5 -> 145
    assert kept_tokens(5, 0.5) == 3             # 2.5 + 0.5 = 3: halves round up
    assert kept_tokens(5, 0.1) == 1             # 0.5 + 0.5 = 1
    assert kept_tokens(10, 0.35) == 4           # 0.35 * 10 rounds to 3.5 in double
    assert kept_tokens(10, 0.04) == 1           # floor(0.9) = 0 -> clamped to 1
    assert kept_tokens(1, 1e-9) == 1
    assert kept_tokens(7, 1.0) == 7
    assert kept_tokens(3, 0.999999) == 3
    # double, not float32: 0.7 * 5 = 3.5 in double (-> 4); in float32 0.7f * 5 = 3.4999998 (-> 3)
    assert kept_tokens(5, 0.7) == 4


def test_named_configs_sizes_and_parameter_counts():
    def formula(c, decoder):
        D, C, P = c.embed_dim, c.num_classes, c.patch_dim
        n = P * D + D + c.depth * (12 * D * D + 13 * D) + (2 * D + C * D + 3) + 2 * D + (C * D + C)
        if decoder:
            Dd = c.decoder_embed_dim
            n += D * Dd + Dd + c.decoder_depth * (12 * Dd * Dd + 13 * Dd) + 2 * Dd + (Dd * P + P)
        return n

    expected = {  # name: (N, S, T', inference params, all params)
        "adatosk-b": (800, 100, 8, 86_248_714, 94_233_994),
        "adatosk-s": (800, 100, 8, 21_890_698, 24_040_906),
        "adatosk-tiny": (392, 49, 8, 2_967_754, 3_359_146),
    }
    for name, (n, s, t, n_inf, n_all) in expected.items():
        c = named_config(name)
        assert (c.num_tokens, c.num_spatial, c.num_slots, c.num_classes) == (n, s, t, 7)
        assert formula(c, False) == n_inf and formula(c, True) == n_all
        if name == "adatosk-tiny":
            m = AdaTosk(c)
            assert sum(p.numel() for p in m.parameters()) == n_all
            assert not list(m.buffers())                      # the position table is computed
            assert list(m.state_dict()) == [k for k, _ in m.named_parameters()]


def test_config_rejects_bad_values():
    for bad in (dict(atsm_layer=4), dict(keep_ratio=0.0), dict(keep_ratio=1.5), dict(num_classes=1),
                dict(img_size=[30, 48]), dict(num_heads=5), dict(num_frames=7)):
        with pytest.raises(ValueError):
            small_config(**bad)
    with pytest.raises(ValueError):
        AdatoskConfig.from_dict(dict(small_config().to_dict(), bogus=1))


# ---------------------------------------------------------------------------------------------
# Fixed pieces

def test_position_table_matches_formula():
    for D in (8, 12, 96):
        pe = sinusoid_pe(torch.arange(50), D, torch.float64)
        for n in range(50):
            for i in range(D // 2):
                angle = n / 10000 ** (2 * i / D)
                assert abs(pe[n, 2 * i].item() - math.sin(angle)) < 1e-12
                assert abs(pe[n, 2 * i + 1].item() - math.cos(angle)) < 1e-12


def test_patch_embedding_is_the_conv3d():
    m = test_model()
    x = torch.randn(2, 3, 8, 32, 48, dtype=torch.float64)
    E, dE = m.patch_embed(x, num_slots=4)
    conv = m.patch_embed.proj(x)                                   # [B, D, T', H/p, W/p]
    ref = conv.flatten(2).transpose(1, 2)                          # t-major, row-major tokens
    assert torch.allclose(E, ref, atol=1e-12)
    Eg = E.view(2, 4, 6, -1)
    assert torch.allclose(dE, Eg[:, 1:] - Eg[:, :-1], atol=1e-12)


def test_attention_matches_naive_heads_with_key_bias():
    torch.manual_seed(1)
    D, h, N = 12, 3, 5
    blk = test_model(embed_dim=D, num_heads=h).blocks[0]
    x = torch.randn(1, N, D, dtype=torch.float64)
    bias = torch.log(torch.rand(1, N, dtype=torch.float64) + 1e-6)
    y = blk.attn(x, bias)
    W, b = blk.attn.qkv.weight, blk.attn.qkv.bias
    hd = D // h
    outs = []
    for head in range(h):  # rows [q; k; v], heads contiguous in each
        sl = lambda part: slice(part * D + head * hd, part * D + (head + 1) * hd)  # noqa: E731
        q, k, v = (x[0] @ W[sl(i)].T + b[sl(i)] for i in range(3))
        a = torch.softmax(q @ k.T / math.sqrt(hd) + bias[0][None, :], -1)
        outs.append(a @ v)
    ref = blk.attn.proj(torch.cat(outs, -1))
    assert torch.allclose(y[0], ref, atol=1e-12)


def test_top_k_ties_lower_index_first_kept_in_order():
    m = torch.tensor([[0.5, 0.9, 0.5, 0.5, 0.1, 0.5]], dtype=torch.float64)
    assert select_tokens(m, 3).tolist() == [[0, 1, 2]]
    assert select_tokens(m, 5).tolist() == [[0, 1, 2, 3, 5]]
    m = torch.tensor([[0.2, 0.3, 0.3, 0.8]])
    assert select_tokens(m, 2).tolist() == [[1, 3]]


# ---------------------------------------------------------------------------------------------
# ATSM against a loop-by-loop transcription of spec section 3

def naive_atsm(E, Z, atsm, eps):
    T, S, D = len(Z), len(Z[0]), len(Z[0][0])
    P = atsm.prototypes.tolist()
    C = len(P)
    a_dyn, a_sem, beta = atsm.alpha_dyn.item(), atsm.alpha_sem.item(), atsm.beta.item()
    lw, lb = atsm.norm.weight.tolist(), atsm.norm.bias.tolist()
    d = [[0.0] * S for _ in range(T)]
    for t in range(1, T):
        for s in range(S):
            d[t][s] = math.sqrt(sum((E[t][s][i] - E[t - 1][s][i]) ** 2 for i in range(D))) / math.sqrt(D)
    if T > 1:
        d[0] = list(d[1])
    M = sum(map(sum, d)) / (T * S)
    dn = [[d[t][s] / (M + 1e-6) for s in range(S)] for t in range(T)]
    g = [sum(dn[t]) / S for t in range(T)]
    u = [[(dn[t][s] + g[t]) / 2 - 1 for s in range(S)] for t in range(T)]
    q = [[None] * S for _ in range(T)]
    c = [[0.0] * S for _ in range(T)]
    for t in range(T):
        for s in range(S):
            z = Z[t][s]
            mu = sum(z) / D
            var = sum((v - mu) ** 2 for v in z) / D
            zh = [(z[i] - mu) / math.sqrt(var + eps) * lw[i] + lb[i] for i in range(D)]
            logit = [sum(zh[i] * P[k][i] for i in range(D)) / math.sqrt(D) for k in range(C)]
            mx = max(logit)
            e = [math.exp(v - mx) for v in logit]
            q[t][s] = [v / sum(e) for v in e]
            H = -sum(p * math.log(p) for p in q[t][s] if p > 0)    # 0 ln 0 = 0
            c[t][s] = 1 - H / math.log(C)
    r = [[0.0] * S for _ in range(T)]
    for t in range(T):
        for s in range(S):
            bcs = [sum(math.sqrt(q[t][s][k] * q[t2][s][k]) for k in range(C)) for t2 in range(T) if t2 != t]
            r[t][s] = max(bcs) if bcs else 0.0
    rmean = sum(map(sum, r)) / (T * S)
    rc = [[r[t][s] - rmean for s in range(S)] for t in range(T)]
    m = [[1 / (1 + math.exp(-(a_dyn * u[t][s] + a_sem * (c[t][s] - rc[t][s]) + beta)))
          for s in range(S)] for t in range(T)]
    return dict(d=d, dn=dn, g=g, u=u, q=q, c=c, r=r, rc=rc, m=m)


def run_atsm(atsm, E, Z):
    dE = E[:, 1:] - E[:, :-1] if E.shape[1] > 1 else None
    return atsm(dE, Z)


@pytest.mark.parametrize("T", [1, 2, 4])
def test_atsm_matches_naive_loops(T):
    g = torch.Generator().manual_seed(T)
    S, D, C = 5, 8, 4
    atsm = ATSM(D, C, 1e-6).double()
    with torch.no_grad():
        atsm.prototypes.copy_(2.0 * torch.randn(C, D, generator=g))
        atsm.norm.weight.copy_(1 + 0.3 * torch.randn(D, generator=g))
        atsm.norm.bias.copy_(0.2 * torch.randn(D, generator=g))
        atsm.alpha_dyn.fill_(1.7)
        atsm.alpha_sem.fill_(2.3)
        atsm.beta.fill_(0.4)
    E = torch.randn(1, T, S, D, generator=g, dtype=torch.float64)
    Z = torch.randn(1, T, S, D, generator=g, dtype=torch.float64)
    out = run_atsm(atsm, E, Z)
    ref = naive_atsm(E[0].tolist(), Z[0].tolist(), atsm, 1e-6)
    for key in ("d", "dn", "g", "u", "q", "c", "r", "rc", "m"):
        got, want = out[key][0], torch.tensor(ref[key], dtype=torch.float64)
        assert got.shape == want.shape, key
        assert torch.allclose(got, want, atol=1e-12, rtol=0), key
    if T > 1:
        assert abs(out["g"].mean().item() - 1) < 1e-5     # mean 1 unless frozen


def test_atsm_zero_probabilities_are_finite():
    """Posteriors with exact zeros: 0 ln 0 = 0, so c stays finite and equals the naive value."""
    g = torch.Generator().manual_seed(3)
    T, S, D, C = 3, 2, 6, 3
    atsm = ATSM(D, C, 1e-6).double()
    with torch.no_grad():
        atsm.prototypes.copy_(1e4 * torch.randn(C, D, generator=g))
    E = torch.randn(1, T, S, D, generator=g, dtype=torch.float64)
    Z = torch.randn(1, T, S, D, generator=g, dtype=torch.float64)
    out = run_atsm(atsm, E, Z)
    assert (out["q"] == 0).any()
    assert torch.isfinite(out["c"]).all() and torch.isfinite(out["m"]).all()
    ref = naive_atsm(E[0].tolist(), Z[0].tolist(), atsm, 1e-6)
    assert torch.allclose(out["c"][0], torch.tensor(ref["c"], dtype=torch.float64), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The inference forward

def test_frozen_clip_has_no_dynamics_and_finite_output():
    for dtype in (torch.float64, torch.float32):
        m = test_model(seed=2).to(dtype)
        frame = torch.randn(1, 3, 1, 32, 48, dtype=dtype)
        x = frame.expand(1, 3, 8, 32, 48).contiguous()
        out = m(x)
        assert torch.all(out["atsm"]["d"] == 0) and torch.all(out["g"] == 0), dtype
        assert torch.all(out["atsm"]["u"] == -1)
        for key in ("logits", "probs", "m", "kept_fraction"):
            assert torch.isfinite(out[key]).all(), key


def test_single_slot_clip():
    m = test_model(seed=3, num_frames=2)
    out = m(torch.randn(1, 3, 2, 32, 48, dtype=torch.float64))
    assert torch.all(out["g"] == 0) and torch.all(out["atsm"]["r"] == 0)
    assert out["kept"].shape == (1, 3) and torch.isfinite(out["logits"]).all()


def test_keep_ratio_one_keeps_every_token_and_override_changes_k():
    m = test_model(seed=4)
    x = torch.randn(2, 3, 8, 32, 48, dtype=torch.float64)
    out = m(x, keep_ratio=1.0)
    N = m.config.num_tokens
    assert out["kept"].tolist() == [list(range(N))] * 2
    assert torch.all(out["kept_fraction"] == 1)
    # pooling is mask-weighted over all tokens; recompute it from the outside
    for k in (0.3, 0.5):
        out = m(x, keep_ratio=k)
        K = kept_tokens(N, k)
        assert out["kept"].shape == (2, K)
        assert (out["kept"].diff(dim=1) > 0).all()
        top = torch.sort(out["m"], dim=1, descending=True).values[:, K - 1]
        assert torch.all(torch.gather(out["m"], 1, out["kept"]) >= top[:, None])
        frac = torch.stack([(out["kept"] // 6 == t).sum(1) for t in range(4)], 1).double() / 6
        assert torch.equal(out["kept_fraction"], frac)
    with pytest.raises(ValueError):
        m(x, keep_ratio=0.0)


@pytest.mark.parametrize("l1", [0, 3])
def test_atsm_layer_extremes_match_float32(l1):
    m = test_model(seed=5, atsm_layer=l1)
    x = torch.randn(1, 3, 8, 32, 48, dtype=torch.float64)
    o64 = m(x)
    o32 = m.float()(x.float())
    assert torch.equal(o32["kept"], o64["kept"])
    err = ((o32["logits"].double() - o64["logits"]) ** 2).sum() / (o64["logits"] ** 2).sum()
    assert err < 1e-10


def test_batch_rows_are_independent():
    m = test_model(seed=6)
    x = torch.randn(3, 3, 8, 32, 48, dtype=torch.float64)
    out = m(x)
    one = m(x[1:2])
    assert torch.allclose(out["logits"][1:2], one["logits"], atol=1e-12)
    assert torch.equal(out["kept"][1:2], one["kept"])


# ---------------------------------------------------------------------------------------------
# Training (spec section 5)

def test_tube_mask_hides_the_same_positions_in_every_slot():
    m = test_model()
    S, T = m.config.num_spatial, m.config.num_slots
    gen = torch.Generator().manual_seed(0)
    for ratio in (0.0, 0.25, 0.5, 0.75, 0.9):
        vis, msk = m.tube_mask(4, ratio, gen)
        n = math.floor(ratio * S + 0.5)
        assert msk.shape == (4, n) and vis.shape == (4, S - n)
        for b in range(4):
            assert sorted(vis[b].tolist() + msk[b].tolist()) == list(range(S))
    x01 = torch.rand(2, 3, 8, 32, 48, dtype=torch.float64)
    out = m.forward_train(x01, torch.tensor([0, 1]), mask_ratio=0.5, generator=gen)
    Sv = out["visible"].shape[1]
    assert Sv == S - math.floor(0.5 * S + 0.5)
    vt = out["visible_tokens"].view(2, T, Sv)
    mt = out["masked_tokens"].view(2, T, S - Sv)
    for t in range(T):
        assert torch.equal(vt[:, t] - t * S, out["visible"])
        assert torch.equal(mt[:, t] - t * S, out["masked"])
    with pytest.raises(ValueError):
        m.tube_mask(1, 0.99)          # nothing visible


def test_reconstruction_target_order_and_normalisation():
    cfg = small_config(num_frames=4, img_size=[4, 6], patch_size=2, embed_dim=8, num_heads=2,
                       decoder_embed_dim=8, decoder_depth=1, decoder_num_heads=2)
    m = AdaTosk(cfg).double()
    C, T, H, W = 3, 4, 4, 6
    x01 = torch.zeros(1, C, T, H, W, dtype=torch.float64)
    for c in range(C):
        for t in range(T):
            for y in range(H):
                for x in range(W):
                    x01[0, c, t, y, x] = (c + 10 * t + 100 * y + 1000 * x) / 10000 + (0.3 if c == 1 else 0)
    S, gw = 6, 3
    tokens = torch.tensor([[0, 4, 7, 11]])                      # slots 0 and 1
    target = m.reconstruction_target(x01, tokens)
    assert target.shape == (1, 4, 3 * 2 * 2 * 2)
    for j, n in enumerate(tokens[0].tolist()):
        t, s = divmod(n, S)
        row, col = divmod(s, gw)
        v = [x01[0, c, 2 * t + dt, 2 * row + dy, 2 * col + dx].item()
             for dt in range(2) for dy in range(2) for dx in range(2) for c in range(C)]
        mu = sum(v) / len(v)
        var = sum((a - mu) ** 2 for a in v) / len(v)
        want = [(a - mu) / math.sqrt(var + 1e-6) for a in v]
        assert torch.allclose(target[0, j], torch.tensor(want, dtype=torch.float64), atol=1e-12)
    # the order is (dt, dy, dx, c); the patch embedding's is (c, dt, dy, dx)
    assert torch.equal(tubes(x01, 2, 2, "thwc")[0, 0, :3], x01[0, :, 0, 0, 0])
    assert torch.equal(tubes(x01, 2, 2, "cthw")[0, 0, :2], x01[0, 0, 0, 0, :2])


def test_training_forward_losses_and_gradients():
    m = test_model(seed=7)
    gen = torch.Generator().manual_seed(1)
    x01 = torch.rand(2, 3, 8, 32, 48, dtype=torch.float64)
    out = m.forward_train(x01, torch.tensor([1, 3]), generator=gen)
    for key in ("loss", "loss_cls", "loss_rec", "loss_sem"):
        assert torch.isfinite(out[key]) and out[key].item() > 0, key
    assert torch.allclose(out["loss"], out["loss_cls"] + 1.0 * out["loss_rec"] + 0.1 * out["loss_sem"])
    # L_sem from the mean token posterior, label smoothing 0.1 (same targets as L_cls)
    qbar = out["atsm"]["q"].mean(dim=(1, 2))
    t = torch.full((2, 5), 0.1 / 5, dtype=torch.float64)
    t[0, 1] += 0.9
    t[1, 3] += 0.9
    sem = -(t * F.log_softmax(torch.log(qbar + 1e-8), -1)).sum(-1).mean()
    assert torch.allclose(out["loss_sem"], sem)
    cls = F.cross_entropy(out["logits"], torch.tensor([1, 3]), label_smoothing=0.1)
    assert torch.allclose(out["loss_cls"], cls)
    out["loss"].backward()
    for name in ("atsm.alpha_dyn", "atsm.alpha_sem", "atsm.beta", "atsm.prototypes", "atsm.norm.weight",
                 "mask_token", "encoder_to_decoder.weight", "decoder.blocks.0.attn.qkv.weight",
                 "decoder.head.weight", "decoder.norm.weight", "head.weight", "fc_norm.weight",
                 "blocks.0.mlp.fc1.weight", "blocks.2.attn.qkv.weight", "patch_embed.proj.weight"):
        grad = dict(m.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    # soft targets (a teacher's probabilities)
    m.zero_grad()
    soft = torch.softmax(torch.randn(2, 5, dtype=torch.float64), -1)
    out = m.forward_train(x01, soft, generator=gen)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()


def test_training_without_mask_is_the_inference_forward():
    m = test_model(seed=8)
    x01 = torch.rand(1, 3, 8, 32, 48, dtype=torch.float64)
    out = m.forward_train(x01, torch.tensor([2]), mask_ratio=0.0)
    ref = m(m.normalize(x01))
    assert out["loss_rec"].item() == 0
    assert torch.allclose(out["logits"], ref["logits"], atol=1e-12)
    assert torch.equal(out["kept"], ref["kept"])


# ---------------------------------------------------------------------------------------------
# Model file

def test_safetensors_bits_and_layout(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5)).astype(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, 65504.0, 70000.0, 1e-8, 3.1415927],
                       dtype=np.float32)
    halfway = np.array([0x3F808000, 0x3F818000, 0x3F80C000, 0x3F807FFF, 0x7F7FFFFF],
                       dtype=np.uint32).view(np.float32)
    b = np.concatenate([special, halfway, rng.standard_normal(50).astype(np.float32) * 1e3])
    path = tmp_path / "t.safetensors"
    write_safetensors(path, [("a", a, "F32"), ("b16", b, "F16"), ("bbf", b, "BF16"),
                             ("s", np.array([2.5], np.float32), "F32")], {"k": "v"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"k": "v"}
    data = raw[8 + n:]
    spans = [header[k]["data_offsets"] for k in ("a", "b16", "bbf", "s")]
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(3))
    assert header["b16"] == {"dtype": "F16", "shape": [len(b)], "data_offsets": spans[1]}
    assert data[spans[0][0]:spans[0][1]] == a.astype("<f4").tobytes()
    with np.errstate(over="ignore"):
        b16 = b.astype("<f2")
    assert data[spans[1][0]:spans[1][1]] == b16.tobytes()
    bf = torch.from_numpy(b).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    assert data[spans[2][0]:spans[2][1]] == bf
    assert np.frombuffer(data[spans[2][0]:spans[2][1]], "<u2")[9:12].tolist() == [0x3F80, 0x3F82, 0x3F81]
    tensors, dtypes, meta = read_safetensors(path)
    assert dtypes == {"a": "F32", "b16": "F16", "bbf": "BF16", "s": "F32"} and meta == {"k": "v"}
    assert tensors["a"].tobytes() == a.tobytes()
    assert tensors["b16"].tobytes() == b16.astype(np.float32).tobytes()
    assert tensors["bbf"].tobytes() == torch.from_numpy(b).to(torch.bfloat16).float().numpy().tobytes()
    nan = np.array([np.nan], np.float32)
    write_safetensors(path, [("n", nan, "BF16")])
    assert np.isnan(read_safetensors(path)[0]["n"]).all()


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_model_file_roundtrip(tmp_path, dtype):
    torch.manual_seed(0)
    cfg = small_config(img_size=[48, 64], keep_ratio=0.37)
    m = AdaTosk(cfg)
    perturb_for_tests_(m, torch.Generator().manual_seed(0))
    path = tmp_path / "m.safetensors"
    save_model(path, m, cfg, labels=list("abcde"), dtype=dtype, name="unit", include_decoder=(dtype == "f32"))
    m2, cfg2, labels, meta = load_model(path)
    assert cfg2 == cfg and labels == list("abcde")
    assert meta["adatosk.name"] == "unit" and "adatosk.license" in meta and "adatosk.trained_on" in meta
    assert json.loads(meta["adatosk.config"])["img_size"] == [48, 64]
    sd, sd2 = m.state_dict(), m2.state_dict()
    if dtype == "f32":
        assert list(sd) == list(sd2)
    else:
        assert not [k for k in sd2 if k.startswith(("decoder.", "encoder_to_decoder", "mask_token"))]
    to = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    for k, v in sd2.items():
        assert torch.equal(v, sd[k].to(to).float()), k
    assert sd2["atsm.beta"].shape == (1,)
    if dtype == "f32":
        assert sd2["mask_token"].shape == (1, 1, 16)


def test_model_file_rejects_unknown_tensor_and_bad_layout(tmp_path):
    m = AdaTosk(small_config())
    path = tmp_path / "m.safetensors"
    save_model(path, m, include_decoder=False)
    tensors, dtypes, meta = read_safetensors(path)
    write_safetensors(path, [(k, v, dtypes[k]) for k, v in tensors.items()] + [("extra", np.zeros(1), "F32")], meta)
    with pytest.raises(ValueError, match="extra"):
        load_model(path)
    raw = bytearray((tmp_path / "m.safetensors").read_bytes())
    (tmp_path / "cut.safetensors").write_bytes(bytes(raw[:-4]))
    with pytest.raises(ValueError):
        read_safetensors(tmp_path / "cut.safetensors")


def test_make_model_cli(tmp_path):
    out = tmp_path / "m.safetensors"
    subprocess.run([sys.executable, os.path.join(TRAIN, "make_model.py"), "--config", "adatosk-tiny",
                    "--set", "img_size=[48,64]", "--set", "keep_ratio=0.37", "--set", "depth=2",
                    "--seed", "3", "--dtype", "f16", "--no-decoder", "--out", str(out)], check=True)
    m, cfg, labels, meta = load_model(out)
    assert cfg.img_hw == (48, 64) and cfg.keep_ratio == 0.37 and cfg.depth == 2
    assert labels == ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"]
    assert not m.with_decoder
    _, dtypes, _ = read_safetensors(out)
    assert set(dtypes.values()) == {"F16"}


def test_parity_fixture_generator(tmp_path):
    subprocess.run([sys.executable, os.path.join(TRAIN, "gen_parity_fixtures.py"), "--out", str(tmp_path),
                    "--cases", "keep1", "frozen"], check=True, capture_output=True)
    assert (tmp_path / "cases.txt").read_text().split() == ["keep1", "frozen"]
    for case in ("keep1", "frozen"):
        m, cfg, _, _ = load_model(tmp_path / case / "model.safetensors")
        exp = json.loads((tmp_path / case / "expected.json").read_text())
        h, w = cfg.img_hw
        clip = np.fromfile(tmp_path / case / "clip.f32", dtype="<f4")
        assert clip.size == 3 * cfg.num_frames * h * w
        out = m.double()(torch.from_numpy(clip).double().view(1, 3, cfg.num_frames, h, w), exp["keep_ratio"])
        assert np.allclose(out["logits"][0].tolist(), exp["logits"], atol=1e-12)
        assert out["kept"][0].tolist() == exp["kept_tokens"]
        assert len(exp["token_mask"]) == cfg.num_tokens and len(exp["significance"]) == cfg.num_slots
        if case == "frozen":
            assert exp["significance"] == [0.0] * cfg.num_slots
        if case == "keep1":
            assert exp["kept_tokens"] == list(range(cfg.num_tokens))


# ---------------------------------------------------------------------------------------------
# The whole inference forward against a naive one written from the spec

def naive_block(blk, x, bias, eps):
    """x [n, D] float64, bias [n] or None; every op spelled out."""
    def ln(v, mod):
        mu = v.mean(-1, keepdim=True)
        var = ((v - mu) ** 2).mean(-1, keepdim=True)
        return (v - mu) / torch.sqrt(var + eps) * mod.weight + mod.bias

    n, D = x.shape
    h = blk.attn.num_heads
    hd = D // h
    y = ln(x, blk.norm1)
    qkv = y @ blk.attn.qkv.weight.T + blk.attn.qkv.bias
    heads = []
    for i in range(h):
        q, k, v = (qkv[:, j * D + i * hd: j * D + (i + 1) * hd] for j in range(3))
        logits = q @ k.T / math.sqrt(hd) + (bias[None, :] if bias is not None else 0)
        heads.append(torch.softmax(logits, -1) @ v)
    x = x + torch.cat(heads, -1) @ blk.attn.proj.weight.T + blk.attn.proj.bias
    y = ln(x, blk.norm2) @ blk.mlp.fc1.weight.T + blk.mlp.fc1.bias
    y = 0.5 * y * (1 + torch.erf(y / math.sqrt(2)))          # exact GELU
    return x + y @ blk.mlp.fc2.weight.T + blk.mlp.fc2.bias


def test_forward_matches_naive_spec_forward():
    cfg = small_config(num_frames=6, img_size=[32, 48], embed_dim=12, num_heads=3, depth=3,
                       atsm_layer=1, keep_ratio=0.45, norm_eps=1e-3)
    torch.manual_seed(9)
    m = AdaTosk(cfg)
    perturb_for_tests_(m, torch.Generator().manual_seed(9))
    m = m.double()
    assert all(mod.eps == 1e-3 for mod in m.modules() if isinstance(mod, torch.nn.LayerNorm))
    x = torch.randn(1, 3, 6, 32, 48, dtype=torch.float64)
    out = m(x)

    T, S, D, N = 3, 6, 12, 18
    with torch.no_grad():
        conv = F.conv3d(x, m.patch_embed.proj.weight, m.patch_embed.proj.bias, stride=(2, 16, 16))
        E = conv[0].reshape(D, N).T                                   # token n = t*S + row*3 + col
        pe = torch.tensor([[math.sin(n / 10000 ** (j / D)) if j % 2 == 0 else
                            math.cos(n / 10000 ** ((j - 1) / D)) for j in range(D)] for n in range(N)],
                          dtype=torch.float64)
        z = E + pe
        z = naive_block(m.blocks[0], z, None, 1e-3)
        ref = naive_atsm(E.view(T, S, D).tolist(), z.view(T, S, D).tolist(), m.atsm, 1e-3)
        mask = [v for row in ref["m"] for v in row]
        K = kept_tokens(N, 0.45)
        kept = sorted(sorted(range(N), key=lambda n: (-mask[n], n))[:K])
        mk = torch.tensor([mask[n] for n in kept], dtype=torch.float64)
        z = z[kept]
        for blk in m.blocks[1:]:
            z = naive_block(blk, z, torch.log(mk + 1e-6), 1e-3)
        pooled = (mk[:, None] * z).sum(0) / mk.sum()
        mu = pooled.mean()
        pooled = (pooled - mu) / torch.sqrt(((pooled - mu) ** 2).mean() + 1e-3) * m.fc_norm.weight + m.fc_norm.bias
        logits = pooled @ m.head.weight.T + m.head.bias
    assert out["kept"][0].tolist() == kept
    assert torch.allclose(out["m"][0], torch.tensor(mask, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(out["g"][0], torch.tensor(ref["g"], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(out["logits"][0], logits, atol=1e-11)
    assert torch.allclose(out["probs"][0], torch.softmax(logits, -1), atol=1e-12)
