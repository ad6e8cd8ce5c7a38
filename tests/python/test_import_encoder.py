"""train/import_encoder.py on made-up VideoMAE checkpoints in each published layout.

No checkpoint can be downloaded here, so the test writes tiny ones (seeded random weights) in the
key names of the MCG-NJU fine-tuning and pre-training code and of Hugging Face transformers, converts
them, and checks that
- every tensor the layout carries is mapped where it should be, the unused keys are listed, and the
  tensors left at their initial values (ATSM, head, ...) are listed;
- the converted model computes what VideoMAE computes: a small VideoMAE written here from its
  published definition (Conv3d tube embedding + fixed sinusoid table; pre-norm blocks
  x + attn(norm1(x)), x + mlp(norm2(x)); qkv bias cat(q_bias, 0, v_bias); scale head_dim**-0.5;
  exact GELU; the pre-training decoder with mask tokens) against AdaTosk's blocks, its encoder path
  in forward_train and its decoder, within 1e-5;
- shape mismatches and learned position tables are refused with a message;
- the converted file starts `train.py --init` for a couple of steps, and the C runtime agrees with
  the reference on the result (export.py's check; where ADATOSK_BUILD_DIR points at a build).
"""

import json
import math
import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "train"))

import import_encoder  # noqa: E402
from adatosk.safetensors_io import load_model  # noqa: E402

torch.set_num_threads(1)

# Tiny VideoMAE: width 32, 2 heads, 3 blocks, tubes 2x8x8; decoder width 16, 1 block, 2 heads.
D, HEADS, DEPTH, TAU, P = 32, 2, 3, 2, 8
DD, DDEPTH, DHEADS = 16, 1, 2
FRAMES, SIZE = 4, 32
SETS = [f"--set=num_frames={FRAMES}", f"--set=img_size={SIZE}", "--set=atsm_layer=1"]
DFEW_ORDER = ["happy", "sad", "neutral", "angry", "surprised", "disgusted", "fearful"]
TOL = 1e-5


# ---------------------------------------------------------------------------------------------
# Weights in a neutral structure, then written out in each layout's key names

def rand_block(g, dim, layer_scale=False):
    def r(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale
    extra = dict(gamma_1=0.5 + r(dim, scale=0.2), gamma_2=0.5 + r(dim, scale=0.2)) if layer_scale else {}
    return dict(extra, ln1_w=1 + r(dim, scale=0.2), ln1_b=r(dim, scale=0.1), qkv_w=r(3 * dim, dim, scale=dim ** -0.5),
                q_bias=r(dim, scale=0.1), v_bias=r(dim, scale=0.1), proj_w=r(dim, dim, scale=dim ** -0.5),
                proj_b=r(dim, scale=0.1), ln2_w=1 + r(dim, scale=0.2), ln2_b=r(dim, scale=0.1),
                fc1_w=r(4 * dim, dim, scale=dim ** -0.5), fc1_b=r(4 * dim, scale=0.1),
                fc2_w=r(dim, 4 * dim, scale=(4 * dim) ** -0.5), fc2_b=r(dim, scale=0.1))


def rand_videomae(seed, decoder=True, classes=7, layer_scale=False):
    g = torch.Generator().manual_seed(seed)
    w = dict(patch_w=torch.randn(D, 3, TAU, P, P, generator=g) * (3 * TAU * P * P) ** -0.5,
             patch_b=torch.randn(D, generator=g) * 0.1,
             blocks=[rand_block(g, D, layer_scale) for _ in range(DEPTH)],
             norm_w=1 + 0.2 * torch.randn(D, generator=g), norm_b=0.1 * torch.randn(D, generator=g),
             head_w=torch.randn(classes, D, generator=g) * D ** -0.5, head_b=0.1 * torch.randn(classes, generator=g))
    if decoder:
        w.update(e2d=torch.randn(DD, D, generator=g) * D ** -0.5, mask_token=0.5 * torch.randn(1, 1, DD, generator=g),
                 dblocks=[rand_block(g, DD) for _ in range(DDEPTH)],
                 dnorm_w=1 + 0.2 * torch.randn(DD, generator=g), dnorm_b=0.1 * torch.randn(DD, generator=g),
                 dhead_w=torch.randn(3 * TAU * P * P, DD, generator=g) * DD ** -0.5,
                 dhead_b=0.1 * torch.randn(3 * TAU * P * P, generator=g))
    return w


def mcg_block(prefix, b):
    extra = {prefix + k: b[k] for k in ("gamma_1", "gamma_2") if k in b}
    return {**extra, prefix + "norm1.weight": b["ln1_w"], prefix + "norm1.bias": b["ln1_b"],
            prefix + "attn.qkv.weight": b["qkv_w"], prefix + "attn.q_bias": b["q_bias"],
            prefix + "attn.v_bias": b["v_bias"], prefix + "attn.proj.weight": b["proj_w"],
            prefix + "attn.proj.bias": b["proj_b"], prefix + "norm2.weight": b["ln2_w"],
            prefix + "norm2.bias": b["ln2_b"], prefix + "mlp.fc1.weight": b["fc1_w"],
            prefix + "mlp.fc1.bias": b["fc1_b"], prefix + "mlp.fc2.weight": b["fc2_w"],
            prefix + "mlp.fc2.bias": b["fc2_b"]}


def hf_block(prefix, b):
    dim = b["ln1_w"].shape[0]
    q, k, v = b["qkv_w"][:dim], b["qkv_w"][dim:2 * dim], b["qkv_w"][2 * dim:]
    a = prefix + "attention.attention."
    return {prefix + "layernorm_before.weight": b["ln1_w"], prefix + "layernorm_before.bias": b["ln1_b"],
            a + "query.weight": q, a + "key.weight": k, a + "value.weight": v,
            a + "q_bias": b["q_bias"], a + "v_bias": b["v_bias"],
            prefix + "attention.output.dense.weight": b["proj_w"], prefix + "attention.output.dense.bias": b["proj_b"],
            prefix + "layernorm_after.weight": b["ln2_w"], prefix + "layernorm_after.bias": b["ln2_b"],
            prefix + "intermediate.dense.weight": b["fc1_w"], prefix + "intermediate.dense.bias": b["fc1_b"],
            prefix + "output.dense.weight": b["fc2_w"], prefix + "output.dense.bias": b["fc2_b"]}


def mcg_finetune_sd(w):
    sd = {"patch_embed.proj.weight": w["patch_w"], "patch_embed.proj.bias": w["patch_b"],
          "fc_norm.weight": w["norm_w"], "fc_norm.bias": w["norm_b"], "head.weight": w["head_w"],
          "head.bias": w["head_b"]}
    for i, b in enumerate(w["blocks"]):
        sd.update(mcg_block(f"blocks.{i}.", b))
    return sd


def mcg_pretrain_sd(w):
    sd = {"encoder.patch_embed.proj.weight": w["patch_w"], "encoder.patch_embed.proj.bias": w["patch_b"],
          "encoder.norm.weight": w["norm_w"], "encoder.norm.bias": w["norm_b"],
          "encoder_to_decoder.weight": w["e2d"], "mask_token": w["mask_token"],
          "decoder.norm.weight": w["dnorm_w"], "decoder.norm.bias": w["dnorm_b"],
          "decoder.head.weight": w["dhead_w"], "decoder.head.bias": w["dhead_b"]}
    for i, b in enumerate(w["blocks"]):
        sd.update(mcg_block(f"encoder.blocks.{i}.", b))
    for i, b in enumerate(w["dblocks"]):
        sd.update(mcg_block(f"decoder.blocks.{i}.", b))
    return sd


def hf_sd(w, pretraining):
    sd = {"videomae.embeddings.patch_embeddings.projection.weight": w["patch_w"],
          "videomae.embeddings.patch_embeddings.projection.bias": w["patch_b"]}
    for i, b in enumerate(w["blocks"]):
        sd.update(hf_block(f"videomae.encoder.layer.{i}.", b))
    if pretraining:     # converted pre-training models have use_mean_pooling False: a per-token layernorm
        sd.update({"videomae.layernorm.weight": w["norm_w"], "videomae.layernorm.bias": w["norm_b"],
                   "encoder_to_decoder.weight": w["e2d"], "mask_token": w["mask_token"],
                   "decoder.norm.weight": w["dnorm_w"], "decoder.norm.bias": w["dnorm_b"],
                   "decoder.head.weight": w["dhead_w"], "decoder.head.bias": w["dhead_b"]})
        for i, b in enumerate(w["dblocks"]):
            sd.update(hf_block(f"decoder.decoder_layers.{i}.", b))
    else:
        sd.update({"fc_norm.weight": w["norm_w"], "fc_norm.bias": w["norm_b"],
                   "classifier.weight": w["head_w"], "classifier.bias": w["head_b"]})
    return sd


# ---------------------------------------------------------------------------------------------
# VideoMAE from its published definition (independent of train/adatosk)

def sinusoid_table(n, dim):
    """VideoMAE's get_sinusoid_encoding_table: pos / 10000^(2 (j // 2) / dim), sin even, cos odd."""
    table = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n)])
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.tensor(table, dtype=torch.float32)[None]


def ref_block(x, b, heads, eps):
    B, N, C = x.shape
    h = F.layer_norm(x, (C,), b["ln1_w"], b["ln1_b"], eps)
    qkv_bias = torch.cat([b["q_bias"], torch.zeros_like(b["v_bias"]), b["v_bias"]])
    qkv = F.linear(h, b["qkv_w"], qkv_bias).reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (C // heads) ** -0.5, qkv[1], qkv[2]
    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    h = (attn @ v).transpose(1, 2).reshape(B, N, C)
    g1, g2 = b.get("gamma_1", 1.0), b.get("gamma_2", 1.0)          # layer scale (init_values > 0)
    x = x + g1 * F.linear(h, b["proj_w"], b["proj_b"])
    h = F.layer_norm(x, (C,), b["ln2_w"], b["ln2_b"], eps)
    return x + g2 * F.linear(F.gelu(F.linear(h, b["fc1_w"], b["fc1_b"])), b["fc2_w"], b["fc2_b"])


def ref_encoder(x, w, visible_tokens, eps):
    """VideoMAE's pre-training encoder on the visible tokens (the final norm left out: AdaTosk has
    none before encoder_to_decoder). x normalised [B, 3, T, H, W]."""
    t = F.conv3d(x, w["patch_w"], w["patch_b"], stride=(TAU, P, P)).flatten(2).transpose(1, 2)
    t = t + sinusoid_table(t.shape[1], D)
    t = torch.gather(t, 1, visible_tokens[..., None].expand(-1, -1, D))
    for b in w["blocks"]:
        t = ref_block(t, b, HEADS, eps)
    return t


def ref_decoder(tokens, w, visible_tokens, masked_tokens, eps):
    """VideoMAE's decoder: [x_vis + pos[vis], mask_token + pos[mask]], blocks, head(norm(masked))."""
    n = visible_tokens.shape[1] + masked_tokens.shape[1]
    pos = sinusoid_table(n, DD).expand(tokens.shape[0], -1, -1)
    x = F.linear(tokens, w["e2d"])
    vis = torch.gather(pos, 1, visible_tokens[..., None].expand(-1, -1, DD))
    msk = torch.gather(pos, 1, masked_tokens[..., None].expand(-1, -1, DD))
    x = torch.cat([x + vis, w["mask_token"] + msk], dim=1)
    for b in w["dblocks"]:
        x = ref_block(x, b, DHEADS, eps)
    x = F.layer_norm(x[:, -masked_tokens.shape[1]:], (DD,), w["dnorm_w"], w["dnorm_b"], eps)
    return F.linear(x, w["dhead_w"], w["dhead_b"])


# ---------------------------------------------------------------------------------------------

def convert(tmp_path, checkpoint, *extra):
    out, report = str(tmp_path / "init.safetensors"), str(tmp_path / "report.json")
    assert import_encoder.main([checkpoint, "--out", out, "--report", report, "--heads", str(HEADS),
                                "--decoder-heads", str(DHEADS)] + SETS + list(extra)) == 0
    model, config, labels, _ = load_model(out)
    return model.eval(), config, json.load(open(report))


def clip(seed=7, B=2):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 3, FRAMES, SIZE, SIZE, generator=g)


def assert_computes_like_videomae(model, config, w, eps, with_decoder):
    """Every block, then the whole encoder path of forward_train (and its decoder) vs VideoMAE."""
    g = torch.Generator().manual_seed(11)
    worst = 0.0
    with torch.no_grad():
        for i, b in enumerate(w["blocks"]):
            x = torch.randn(2, 9, D, generator=g)
            diff = float((model.blocks[i](x) - ref_block(x, b, HEADS, eps)).abs().max())
            assert diff <= TOL, f"block {i}: {diff:.2e}"
            worst = max(worst, diff)
        x01 = clip()
        visible = torch.tensor([[0, 2, 3, 5, 8, 9, 12, 15], [1, 4, 6, 7, 10, 11, 13, 14]])
        out = model.forward_train(x01, torch.tensor([0, 1]), visible=visible)
        ref = ref_encoder(model.normalize(x01), w, out["visible_tokens"], eps)
        diff = float((out["encoder_tokens"] - ref).abs().max())
        assert diff <= TOL, f"encoder: {diff:.2e}"
        worst = max(worst, diff)
        assert float(ref.abs().max()) > 0.5          # not a comparison of near-zero tensors
        if with_decoder:
            pred = ref_decoder(ref, w, out["visible_tokens"], out["masked_tokens"], eps)
            diff = float((out["pred"] - pred).abs().max())
            assert diff <= TOL, f"decoder: {diff:.2e}"
            worst = max(worst, diff)
    print(f"max |AdaTosk - VideoMAE| over blocks, encoder{' and decoder' if with_decoder else ''}: {worst:.2e}")
    return worst


ATSM = ["atsm.norm.weight", "atsm.norm.bias", "atsm.prototypes", "atsm.alpha_dyn", "atsm.alpha_sem", "atsm.beta"]


def test_mcg_finetune_checkpoint(tmp_path, capsys):
    w = rand_videomae(1, decoder=False, layer_scale=True)
    sd = {"module." + k: v for k, v in mcg_finetune_sd(w).items()}
    sd["module.lgi.region_tokens"] = torch.zeros(1, 4, D)          # a key VideoMAE does not have
    path = str(tmp_path / "videomae_finetune.pth")
    torch.save({"module": sd, "epoch": 3}, path)
    model, config, rep = convert(tmp_path, path)
    assert (config.embed_dim, config.depth, config.num_heads, config.tubelet_size, config.patch_size) == \
        (D, DEPTH, HEADS, TAU, P)
    assert rep["layout"] == "mcg-finetune"
    assert rep["unused_source_keys"] == ["head.bias", "head.weight", "lgi.region_tokens"]
    assert sorted(rep["left_at_init"]) == sorted(ATSM + ["head.weight", "head.bias"] + [
        k for k in model.state_dict() if k.startswith(("decoder.", "encoder_to_decoder", "mask_token"))])
    expect = {"patch_embed.proj.weight", "patch_embed.proj.bias", "fc_norm.weight", "fc_norm.bias"} | {
        f"blocks.{i}.{n}" for i in range(DEPTH) for n in import_encoder.BLOCK_PARAMS}
    assert set(rep["mapped"]) == expect
    st = model.state_dict()
    assert torch.equal(st["blocks.1.attn.qkv.bias"], torch.cat([w["blocks"][1]["q_bias"], torch.zeros(D),
                                                                w["blocks"][1]["v_bias"]]))
    assert torch.equal(st["fc_norm.weight"], w["norm_w"])
    assert_computes_like_videomae(model, config, w, 1e-6, with_decoder=False)
    text = capsys.readouterr().out
    assert "source keys not used (3)" in text and "lgi.region_tokens" in text
    assert "left at their initial values" in text and "atsm.prototypes" in text


def test_mcg_finetune_head_is_reordered_by_head_labels(tmp_path):
    w = rand_videomae(2, decoder=False)
    path = str(tmp_path / "dfew_finetuned.pth")
    torch.save({"model": mcg_finetune_sd(w)}, path)
    model, _, rep = convert(tmp_path, path, "--head-labels", ",".join(DFEW_ORDER))
    labels = json.loads(json.dumps(rep["labels"]))
    head = model.state_dict()["head.weight"]
    for j, name in enumerate(labels):
        assert torch.equal(head[j], w["head_w"][DFEW_ORDER.index(name)])
    assert "head.weight" not in rep["left_at_init"] and rep["unused_source_keys"] == []


def test_mcg_pretrain_checkpoint_with_decoder(tmp_path):
    w = rand_videomae(3)
    path = str(tmp_path / "videomae_pretrain.pth")
    torch.save({"model": mcg_pretrain_sd(w)}, path)
    model, config, rep = convert(tmp_path, path)
    assert rep["layout"] == "mcg-pretrain"
    assert (config.decoder_embed_dim, config.decoder_depth, config.decoder_num_heads) == (DD, DDEPTH, DHEADS)
    assert rep["unused_source_keys"] == []
    assert sorted(rep["left_at_init"]) == sorted(ATSM + ["head.weight", "head.bias"])
    assert rep["mapped"]["fc_norm.weight"] == "norm.weight"
    assert any("LN of the mean" in n for n in rep["notes"])
    assert_computes_like_videomae(model, config, w, 1e-6, with_decoder=True)


@pytest.mark.parametrize("pretraining", [False, True])
def test_hugging_face_checkpoint(tmp_path, pretraining):
    w = rand_videomae(4)
    folder = tmp_path / "hf"
    folder.mkdir()
    torch.save(hf_sd(w, pretraining), str(folder / "pytorch_model.bin"))
    (folder / "config.json").write_text(json.dumps({
        "model_type": "videomae", "hidden_size": D, "num_attention_heads": HEADS, "layer_norm_eps": 1e-12,
        "decoder_num_attention_heads": DHEADS}))
    model, config, rep = convert(tmp_path, str(folder))
    assert rep["layout"] == "hf" and config.norm_eps == 1e-12
    assert rep["unused_source_keys"] == ([] if pretraining else ["classifier.bias", "classifier.weight"])
    left = ATSM + ["head.weight", "head.bias"]
    if not pretraining:
        left += [k for k in model.state_dict() if k.startswith(("decoder.", "encoder_to_decoder", "mask_token"))]
    assert sorted(rep["left_at_init"]) == sorted(left)
    assert_computes_like_videomae(model, config, w, 1e-12, with_decoder=pretraining)


def test_refusals(tmp_path):
    w = rand_videomae(5)
    path = str(tmp_path / "pre.pth")
    sd = mcg_pretrain_sd(w)
    torch.save(sd, path)
    out = str(tmp_path / "x.safetensors")
    with pytest.raises(SystemExit, match="embed_dim"):            # --set contradicting the checkpoint
        import_encoder.main([path, "--out", out, "--set=embed_dim=64"] + SETS)
    with pytest.raises(SystemExit, match="does not divide"):
        import_encoder.main([path, "--out", out, "--heads", "5"] + SETS)
    with pytest.raises(SystemExit, match="tubelet"):             # a 2-d patch embedding
        bad = dict(sd, **{"encoder.patch_embed.proj.weight": torch.zeros(D, 3, P, P)})
        torch.save(bad, path)
        import_encoder.main([path, "--out", out, "--heads", "2", "--decoder-heads", "2"] + SETS)
    with pytest.raises(SystemExit, match="does not fit"):        # decoder head of another tube size
        bad = dict(sd, **{"decoder.head.weight": torch.zeros(100, DD), "decoder.head.bias": torch.zeros(100)})
        torch.save(bad, path)
        import_encoder.main([path, "--out", out, "--heads", "2", "--decoder-heads", "2"] + SETS)
    g = torch.Generator().manual_seed(0)
    torch.save(dict(sd, **{"encoder.pos_embed": torch.randn(1, 32, D, generator=g)}), path)
    with pytest.raises(SystemExit, match="learned"):
        import_encoder.main([path, "--out", out, "--heads", "2", "--decoder-heads", "2"] + SETS)
    torch.save(dict(sd, **{"encoder.blocks.0.first_attn.q.weight": torch.zeros(D, D)}), path)
    with pytest.raises(SystemExit, match="LGI-Former"):       # MAE-DFER's local-global blocks
        import_encoder.main([path, "--out", out, "--heads", "2", "--decoder-heads", "2"] + SETS)
    assert not os.path.exists(out)
    # The fixed table (as VideoMAE's learnable-pos-emb=False code would store it) is accepted and used.
    torch.save(dict(sd, **{"encoder.pos_embed": sinusoid_table(32, D)}), path)
    import_encoder.main([path, "--out", out, "--heads", "2", "--decoder-heads", "2",
                         "--report", str(tmp_path / "r.json")] + SETS)
    assert json.load(open(tmp_path / "r.json"))["unused_source_keys"] == []


def test_converted_file_starts_training(tmp_path):
    import train as train_mod
    w = rand_videomae(6)
    path = str(tmp_path / "pre.pth")
    torch.save({"model": mcg_pretrain_sd(w)}, path)
    out = str(tmp_path / "init.safetensors")
    import_encoder.main([path, "--out", out, "--heads", "2", "--decoder-heads", "2"] + SETS)
    g = np.random.default_rng(0)
    os.makedirs(tmp_path / "clips")
    rows = ["path,label"]
    for i in range(4):
        np.save(tmp_path / "clips" / f"c{i}.npy", g.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8))
        rows.append(f"clips/c{i}.npy,{['happy', 'sad'][i % 2]}")
    (tmp_path / "clips.csv").write_text("\n".join(rows) + "\n")
    run = str(tmp_path / "run")
    assert train_mod.main(["--init", out, "--train", str(tmp_path / "clips.csv"), "--out", run, "--steps", "2",
                           "--batch", "2", "--warmup", "1", "--threads", "1", "--eval-every", "0",
                           "--hard-labels", "--quiet"]) == 0
    hist = json.load(open(os.path.join(run, "history.json")))["train"]
    assert len(hist) == 2 and all(math.isfinite(h["loss"]) for h in hist)
    # The run started from the imported weights: after 2 small steps they are still close to them.
    trained, _, _, _ = load_model(os.path.join(run, "model.safetensors"))
    p = trained.state_dict()["blocks.0.attn.qkv.weight"]
    assert float((p - w["blocks"][0]["qkv_w"]).abs().max()) < 0.05
    # And the C runtime computes what the reference computes on it (export's parity check), where
    # a build is at hand.
    tool = os.path.join(os.environ.get("ADATOSK_BUILD_DIR", ""), "tools", "adatosk")
    if os.environ.get("ADATOSK_BUILD_DIR") and os.path.exists(tool):
        import export as export_mod
        assert export_mod.main([os.path.join(run, "model.safetensors"), "--out", str(tmp_path / "exported.safetensors"),
                                "--dtype", "f32", "--n-clips", "2", "--tool", tool]) == 0
