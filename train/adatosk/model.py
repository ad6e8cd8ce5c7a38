"""The AdaTosk reference model: the executable form of docs/model.md.

One readable module, shapes in the comments, state-dict names exactly those of spec section 6.
It runs in float32 (the performance peer of the C runtime) and in float64 (model.double(): the
parity reference). Notation: B batch, T' slots, S spatial positions, N = T' * S tokens, D width,
C classes, P = 3 * tau * p * p values per tube.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import AdatoskConfig, kept_tokens

MASK_EPS = 1e-6      # ADATOSK_MASK_EPS of src/spec_constants.h (C, GLSL): ln(m + eps), M + eps
TUBE_EPS = 1e-6      # per-tube target normalisation
SEM_EPS = 1e-8       # ln(qbar + 1e-8) in L_sem


# ---------------------------------------------------------------------------------------------
# Fixed pieces: position table, tube layout, token selection

def sinusoid_pe(index, dim, dtype=torch.float32):
    """PE[n][2i] = sin(n / 10000^(2i/D)), PE[n][2i+1] = cos(n / 10000^(2i/D)) for the token
    indices `index` (any shape); returns index.shape + [dim]. Computed in float64."""
    index = torch.as_tensor(index)
    j = torch.arange(dim, dtype=torch.float64, device=index.device)
    two_i = j - torch.remainder(j, 2)
    angle = index.to(torch.float64)[..., None] / torch.pow(10000.0, two_i / dim)
    pe = torch.where(torch.remainder(j, 2) == 0, torch.sin(angle), torch.cos(angle))
    return pe.to(dtype)


def tubes(x, tau, p, order="cthw"):
    """[B, 3, T, H, W] -> [B, N, P], token n = t * S + row * (W/p) + col.
    order "cthw": values in (c, dt, dy, dx) order, the Conv3d weight layout (patch embedding).
    order "thwc": values in (dt, dy, dx, c) order, the reconstruction target."""
    B, C, T, H, W = x.shape
    x = x.reshape(B, C, T // tau, tau, H // p, p, W // p, p)
    #              0  1  2       3    4       5  6       7
    if order == "cthw":
        x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)
    else:
        x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)
    return x.reshape(B, (T // tau) * (H // p) * (W // p), C * tau * p * p)


def select_tokens(m, k):
    """Indices of the k largest values of m [B, N] (ties: lower index first), ascending."""
    order = torch.sort(m, dim=-1, descending=True, stable=True).indices[:, :k]
    return torch.sort(order, dim=-1).values


def gather_tokens(x, idx):
    """x [B, N, ...], idx [B, K] -> [B, K, ...]."""
    if x.dim() == 2:
        return torch.gather(x, 1, idx)
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))


# ---------------------------------------------------------------------------------------------
# Transformer block (timm names)

class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)   # rows [q; k; v], heads contiguous in each
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, key_bias=None):
        B, N, D = x.shape
        h = self.num_heads
        # [B*h, N, hd] each; 3-d bmm (torch 1.13's 4-d matmul on a transposed operand is ~15x slower).
        q, k, v = self.qkv(x).reshape(B, N, 3, h, D // h).permute(2, 0, 3, 1, 4).reshape(3, B * h, N, D // h)
        att = torch.bmm(q * (1.0 / math.sqrt(D // h)), k.transpose(1, 2))      # [B*h, N, N]
        if key_bias is not None:                                               # [B, N] over keys
            att.view(B, h, N, N).add_(key_bias[:, None, None, :])
        att = torch.softmax(att, dim=-1)
        y = torch.bmm(att, v).view(B, h, N, D // h).transpose(1, 2).reshape(B, N, D)
        return self.proj(y)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))   # exact (erf) GELU


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_hidden, eps):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_hidden)

    def forward(self, x, key_bias=None):
        x = x + self.attn(self.norm1(x), key_bias)
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """Conv3d with kernel = stride = (tau, p, p), run as one matrix product over the tubes."""

    def __init__(self, dim, tau, p):
        super().__init__()
        self.tau, self.p = tau, p
        self.proj = nn.Conv3d(3, dim, kernel_size=(tau, p, p), stride=(tau, p, p))

    def forward(self, x, idx=None, num_slots=None):
        """x [B, 3, T, H, W] -> E [B, n, D] for the tokens idx [B, n] (all N when None), and
        dE [B, T'-1, n/T', D] = E[t] - E[t-1] on the token grid (None when T' = 1).

        dE is computed as W (X[t] - X[t-1]): the same value by linearity, but exactly 0 where
        frames repeat. Subtracting two separately rounded float32 rows of E would leave ~1e-7
        noise, which the scale-free dynamic mask (d / mean d) would blow up into O(1) values."""
        X = tubes(x, self.tau, self.p, "cthw")                   # [B, N, P]
        if idx is not None:
            X = gather_tokens(X, idx)
        w = self.proj.weight.reshape(self.proj.weight.shape[0], -1)
        E = F.linear(X, w, self.proj.bias)
        B, n, P = X.shape
        T = num_slots
        dE = None
        if T > 1:
            Xg = X.view(B, T, n // T, P)
            dE = F.linear(Xg[:, 1:] - Xg[:, :-1], w)
        return E, dE


# ---------------------------------------------------------------------------------------------
# ATSM (spec section 3)

class ATSM(nn.Module):
    def __init__(self, dim, num_classes, eps):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.prototypes = nn.Parameter(torch.empty(num_classes, dim))
        self.alpha_dyn = nn.Parameter(torch.full((1,), 2.0))
        self.alpha_sem = nn.Parameter(torch.full((1,), 2.0))
        self.beta = nn.Parameter(torch.full((1,), 1.0))

    @staticmethod
    def dynamic_mask(dE, T, S):
        """dE [B, T'-1, S, D]: E[t] - E[t-1] of the patch embeddings (no PE), None if T' = 1
        -> d, dn, u [B, T', S], g [B, T']."""
        if T > 1:
            d = torch.linalg.vector_norm(dE, dim=-1) / math.sqrt(dE.shape[-1])  # [B, T'-1, S]
            d = torch.cat([d[:, :1], d], dim=1)                                 # d[0] = d[1]
        else:
            d = torch.zeros(1, T, S)
        M = d.mean(dim=(1, 2), keepdim=True)
        dn = d / (M + MASK_EPS)
        g = dn.mean(dim=2)
        u = (dn + g[:, :, None]) / 2 - 1
        return d, dn, g, u

    def semantic_mask(self, Z):
        """Z [B, T', S, D] tokens after block L1 -> q [B, T', S, C], c, r, rc [B, T', S]."""
        B, T, S, D = Z.shape
        C = self.prototypes.shape[0]
        q = torch.softmax(torch.matmul(self.norm(Z), self.prototypes.t()) / math.sqrt(D), dim=-1)
        c = 1 + torch.special.xlogy(q, q).sum(-1) / math.log(C)             # 1 - H(q) / ln C
        if T > 1:
            sq = q.sqrt().transpose(1, 2)                                    # [B, S, T', C]
            bc = torch.matmul(sq, sq.transpose(-2, -1))                      # [B, S, T', T']
            eye = torch.eye(T, dtype=torch.bool, device=Z.device)
            r = bc.masked_fill(eye, -1.0).amax(dim=-1).transpose(1, 2)       # max over t' != t
        else:
            r = Z.new_zeros(B, T, S)
        rc = r - r.mean(dim=(1, 2), keepdim=True)
        return q, c, r, rc

    def forward(self, dE, Z):
        """dE [B, T'-1, S, D] (E[t] - E[t-1], None if T' = 1), Z [B, T', S, D] -> dict with
        d, dn, g, u, q, c, r, rc and the soft mask m [B, T', S]."""
        B, T, S, D = Z.shape
        d, dn, g, u = self.dynamic_mask(dE, T, S)
        d, dn, g, u = [v.to(Z).expand(B, *v.shape[1:]) for v in (d, dn, g, u)]
        q, c, r, rc = self.semantic_mask(Z)
        m = torch.sigmoid(self.alpha_dyn * u + self.alpha_sem * (c - rc) + self.beta)
        return dict(d=d, dn=dn, g=g, u=u, q=q, c=c, r=r, rc=rc, m=m)


# ---------------------------------------------------------------------------------------------
# Reconstruction decoder (training only)

class Decoder(nn.Module):
    def __init__(self, dim, depth, num_heads, mlp_hidden, out_dim, eps):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim, num_heads, mlp_hidden, eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, out_dim)


# ---------------------------------------------------------------------------------------------
# The model

class AdaTosk(nn.Module):
    def __init__(self, config: AdatoskConfig, with_decoder=None):
        super().__init__()
        cfg = config.validate()
        self.config = cfg
        D, C = cfg.embed_dim, cfg.num_classes
        self.patch_embed = PatchEmbed(D, cfg.tubelet_size, cfg.patch_size)
        self.blocks = nn.ModuleList(
            [Block(D, cfg.num_heads, cfg.mlp_hidden, cfg.norm_eps) for _ in range(cfg.depth)])
        self.atsm = ATSM(D, C, cfg.norm_eps)
        self.fc_norm = nn.LayerNorm(D, eps=cfg.norm_eps)
        self.head = nn.Linear(D, C)
        if with_decoder is None:
            with_decoder = cfg.has_decoder
        self.with_decoder = bool(with_decoder)
        if self.with_decoder:
            if not cfg.has_decoder:
                raise ValueError("the config has no decoder_embed_dim/decoder_depth/decoder_num_heads")
            Dd = cfg.decoder_embed_dim
            self.encoder_to_decoder = nn.Linear(D, Dd, bias=False)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, Dd))
            self.decoder = Decoder(Dd, cfg.decoder_depth, cfg.decoder_num_heads,
                                   cfg.decoder_mlp_hidden, cfg.patch_dim, cfg.norm_eps)
        self.init_weights()

    def init_weights(self):
        """timm/VideoMAE style: truncated normal 0.02 for matrices, zero biases, LayerNorm 1/0,
        ATSM scalars at their spec values."""
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Conv3d)):
                nn.init.trunc_normal_(mod.weight, std=0.02, a=-0.04, b=0.04)
                if mod.bias is not None:
                    nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.LayerNorm):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
        nn.init.trunc_normal_(self.atsm.prototypes, std=0.02, a=-0.04, b=0.04)
        with torch.no_grad():
            self.atsm.alpha_dyn.fill_(2.0)
            self.atsm.alpha_sem.fill_(2.0)
            self.atsm.beta.fill_(1.0)
        if self.with_decoder:
            nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.04, b=0.04)

    def normalize(self, x01):
        """Pixels in [0, 1] -> the model's input (per-channel mean/std)."""
        mean = torch.tensor(self.config.mean, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.config.std, dtype=x01.dtype, device=x01.device).view(1, 3, 1, 1, 1)
        return (x01 - mean) / std

    def _classify(self, dE, h, keep_ratio):
        """From block L1 on (both forwards): dE [B, T'-1, S_v, D], h [B, T', S_v, D] -> ATSM, top-K, blocks L1+1..L
        with the key bias, mask-weighted pooling, head."""
        B, T, Sv, D = h.shape
        a = self.atsm(dE, h)
        m = a["m"].reshape(B, T * Sv)
        k = kept_tokens(T * Sv, keep_ratio)
        kept = select_tokens(m.detach(), k)                       # [B, K] ascending
        x = gather_tokens(h.reshape(B, T * Sv, D), kept)
        mk = gather_tokens(m, kept)                               # [B, K]
        bias = torch.log(mk + MASK_EPS)
        for blk in self.blocks[self.config.atsm_layer:]:
            x = blk(x, bias)
        pooled = (mk[:, :, None] * x).sum(1) / mk.sum(1, keepdim=True)
        logits = self.head(self.fc_norm(pooled))
        slot = torch.div(kept, Sv, rounding_mode="floor")
        kept_fraction = F.one_hot(slot, T).sum(1).to(h.dtype) / Sv   # [B, T']
        return dict(logits=logits, probs=torch.softmax(logits, -1), g=a["g"], m=m, kept=kept,
                    kept_fraction=kept_fraction, atsm=a, pooled=pooled)

    def forward(self, x, keep_ratio=None):
        """Inference (spec sections 1-4). x [B, 3, T, H, W], already normalised.
        Returns a dict: logits, probs [B, C]; g, kept_fraction [B, T']; m [B, N] (every token);
        kept [B, K] (ascending token indices); atsm (the ATSM's intermediate values)."""
        cfg = self.config
        if keep_ratio is None:
            keep_ratio = cfg.keep_ratio
        if not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f"keep_ratio {keep_ratio} must be in (0, 1]")
        B = x.shape[0]
        T, S, D = cfg.num_slots, cfg.num_spatial, cfg.embed_dim
        E, dE = self.patch_embed(x, num_slots=T)                  # [B, N, D]
        h = E + sinusoid_pe(torch.arange(T * S, device=x.device), D, x.dtype)
        for blk in self.blocks[:cfg.atsm_layer]:
            h = blk(h)
        return self._classify(dE, h.view(B, T, S, D), keep_ratio)

    # -----------------------------------------------------------------------------------------
    # Training (spec section 5)

    def tube_mask(self, batch, mask_ratio=None, generator=None, device=None):
        """Random hard tube mask: floor(mask_ratio * S + 0.5) spatial positions per clip, masked in
        every slot. Returns (visible, masked) spatial positions, each [B, n] ascending."""
        cfg = self.config
        if mask_ratio is None:
            mask_ratio = cfg.mask_ratio if cfg.mask_ratio is not None else 0.5
        S = cfg.num_spatial
        n_mask = int(math.floor(float(mask_ratio) * S + 0.5))
        if not 0 <= n_mask < S:
            raise ValueError(f"mask_ratio {mask_ratio} masks {n_mask} of {S} positions; "
                             "at least one must stay visible")
        perm = torch.argsort(torch.rand(batch, S, generator=generator), dim=1).to(device)
        masked = torch.sort(perm[:, :n_mask], dim=1).values
        visible = torch.sort(perm[:, n_mask:], dim=1).values
        return visible, masked

    def reconstruction_target(self, x01, masked_tokens):
        """Each masked tube's [0, 1] pixels in (dt, dy, dx, c) order, normalised per tube."""
        cfg = self.config
        t = gather_tokens(tubes(x01, cfg.tubelet_size, cfg.patch_size, "thwc"), masked_tokens)
        mean = t.mean(-1, keepdim=True)
        var = t.var(-1, unbiased=False, keepdim=True)
        return (t - mean) / torch.sqrt(var + TUBE_EPS)

    def forward_train(self, x01, target, mask_ratio=None, keep_ratio=None, generator=None,
                      lambda_rec=1.0, lambda_sem=0.1, label_smoothing=0.1, visible=None):
        """One training forward on clips x01 [B, 3, T, H, W] with pixels in [0, 1].
        target: class indices [B] (cross-entropy with label smoothing) or probabilities [B, C]
        (a teacher's soft targets). visible: optional [B, S_v] spatial positions to use instead of
        a random tube mask (tests). Returns the losses separately and the branches' outputs."""
        cfg = self.config
        if not self.with_decoder:
            raise ValueError("training needs the reconstruction decoder (build the model with it)")
        if keep_ratio is None:
            keep_ratio = cfg.keep_ratio
        B = x01.shape[0]
        T, S, D = cfg.num_slots, cfg.num_spatial, cfg.embed_dim
        dev = x01.device
        if visible is None:
            visible, masked = self.tube_mask(B, mask_ratio, generator, dev)
        else:
            is_masked = torch.ones(B, S, dtype=torch.bool, device=dev)
            is_masked.scatter_(1, visible, False)
            masked = torch.nonzero(is_masked)[:, 1].reshape(B, -1)
        Sv, Sm = visible.shape[1], masked.shape[1]
        slot_base = (torch.arange(T, device=dev) * S)[None, :, None]
        vis_tok = (slot_base + visible[:, None, :]).reshape(B, T * Sv)   # token indices, t-major
        msk_tok = (slot_base + masked[:, None, :]).reshape(B, T * Sm)

        # Shared: embed the visible tokens, blocks 1..L1.
        E, dE = self.patch_embed(self.normalize(x01), vis_tok, T)         # [B, T*Sv, D]
        h = E + sinusoid_pe(vis_tok, D, x01.dtype)
        for blk in self.blocks[:cfg.atsm_layer]:
            h = blk(h)

        # Reconstruction branch: the rest of the encoder without mask bias, then the decoder.
        if Sm > 0:
            z = h
            for blk in self.blocks[cfg.atsm_layer:]:
                z = blk(z)
            encoder_tokens = z
            z = self.encoder_to_decoder(z)
            Dd = z.shape[-1]
            z = torch.cat([z, self.mask_token.expand(B, T * Sm, Dd)], dim=1)
            z = z + sinusoid_pe(torch.cat([vis_tok, msk_tok], 1), Dd, z.dtype)
            for blk in self.decoder.blocks:
                z = blk(z)
            pred = self.decoder.head(self.decoder.norm(z[:, T * Sv:]))      # [B, T*Sm, P]
            rec_target = self.reconstruction_target(x01, msk_tok)
            loss_rec = F.mse_loss(pred, rec_target)
        else:
            pred = rec_target = encoder_tokens = None
            loss_rec = x01.new_zeros(())

        # Classification branch: ATSM on the visible grid, top-K, masked blocks, head.
        out = self._classify(dE, h.view(B, T, Sv, D), keep_ratio)
        C = cfg.num_classes
        if target.dtype in (torch.int64, torch.int32):
            tdist = F.one_hot(target.long(), C).to(x01.dtype)
            tdist = tdist * (1 - label_smoothing) + label_smoothing / C
        else:
            tdist = target.to(x01.dtype)
        loss_cls = -(tdist * F.log_softmax(out["logits"], -1)).sum(-1).mean()
        qbar = out["atsm"]["q"].mean(dim=(1, 2))                             # [B, C]
        loss_sem = -(tdist * F.log_softmax(torch.log(qbar + SEM_EPS), -1)).sum(-1).mean()
        loss = loss_cls + lambda_rec * loss_rec + lambda_sem * loss_sem
        out.update(loss=loss, loss_cls=loss_cls, loss_rec=loss_rec, loss_sem=loss_sem,
                   pred=pred, rec_target=rec_target, visible=visible, masked=masked,
                   encoder_tokens=encoder_tokens,
                   visible_tokens=vis_tok, masked_tokens=msk_tok)
        return out


def perturb_for_tests_(model, generator):
    """Moves every parameter away from its init so that a parity test exercises it: LayerNorm
    weights around 1, non-zero biases, matrices at 1/sqrt(fan_in) scale (non-uniform attention),
    non-trivial prototypes (q far from uniform), ATSM scalars near their init."""
    def randn(shape):
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("atsm.") and name.split(".")[-1] in ("alpha_dyn", "alpha_sem", "beta"):
                p.copy_(p + 0.3 * randn(p.shape))
            elif name == "atsm.prototypes":
                p.copy_(1.5 * randn(p.shape))
            elif name == "mask_token":
                p.copy_(0.5 * randn(p.shape))
            elif p.dim() == 1 and "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * randn(p.shape))
            elif p.dim() == 1:
                p.copy_(0.1 * randn(p.shape))
            else:
                fan_in = p[0].numel()
                p.copy_(randn(p.shape) / math.sqrt(fan_in))
    return model
