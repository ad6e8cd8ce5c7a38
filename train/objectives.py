"""Training-only objectives beside the spec's three losses (issue 9: expressions of people the model
was not trained on). The modules here are heads on the encoder's features; they are not part of the
model file, and inference never runs them.

- FrameDistillation: the teacher's view of every frame as a dense target. Per time slot, the mean
  of the encoder's tokens predicts the teacher's probabilities and (centred) penultimate features of
  that slot's frames: far more signal per clip than one averaged label, and signal that changes
  within a clip when the expression does.
- IdentityAdversary: an identity classifier on the pooled clip feature, trained through gradient
  reversal (Ganin and Lempitsky, 2015), so the feature the head reads stops carrying who it is.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class FrameDistillation(nn.Module):
    def __init__(self, dim, num_classes, feature_dim, feature_mean):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.probs = nn.Linear(dim, num_classes)
        self.features = nn.Linear(dim, feature_dim)
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))

    def forward(self, encoder_tokens, num_slots, frame_probs, frame_features):
        """encoder_tokens [B, T'*S_v, D] (the visible tokens after the whole encoder, slot-major);
        frame_probs [B, T, C], frame_features [B, T, F] with T = T' * tubelet."""
        B, N, D = encoder_tokens.shape
        slot = self.norm(encoder_tokens.view(B, num_slots, N // num_slots, D).mean(2))   # [B, T', D]
        tau = frame_probs.shape[1] // num_slots
        p = frame_probs.view(B, num_slots, tau, -1).mean(2)
        f = frame_features.view(B, num_slots, tau, -1).mean(2) - self.feature_mean
        loss_probs = -(p * F.log_softmax(self.probs(slot), -1)).sum(-1).mean()
        loss_features = (1.0 - F.cosine_similarity(self.features(slot), f, dim=-1)).mean()
        return loss_probs + loss_features


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


class IdentityAdversary(nn.Module):
    def __init__(self, dim, num_identities):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(),
                                 nn.Linear(dim, num_identities))

    def forward(self, pooled, identity, scale):
        """Cross-entropy of the identity; the encoder below gets its gradient times -scale."""
        logits = self.net(_ReverseGradient.apply(pooled, scale))
        loss = F.cross_entropy(logits, identity)
        accuracy = (logits.argmax(-1) == identity).float().mean()
        return loss, accuracy


def adversary_ramp(progress):
    """DANN's schedule: the reversal grows from 0 to 1 over training, so the features exist
    before they are pushed away from identity."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0
