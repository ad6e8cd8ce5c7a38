"""Training-only objectives beside the spec's three losses (issue 9: expressions of people the model
was not trained on). The modules here are heads on the encoder's features; they are not part of the
model file, and inference never runs them.

- FrameDistillation: the teacher's view of every frame as a dense target. Per time slot, the mean
  of the encoder's tokens predicts the teacher's probabilities and (centred) penultimate features of
  that slot's frames: far more signal per clip than one averaged label, and signal that changes
  within a clip when the expression does.
- TokenDistillation: the teacher's last feature map as a target per token: every visible token
  of the encoder predicts the teacher's 256-wide cell at its own place in its slot's first frame
  (feature-map distillation, as in FitNets and MaskDistill). Where the clip label is one word per
  clip, these are 24 x 8 targets (the visible tokens) from a network trained on many people's
  expressions. The cells are not local (each sees the whole face: a 16 px patch inverted moves its
  own cell the most in only 11 of 98 trials on two faces), but they differ from cell to cell (mean
  cosine 0.03 between one frame's standardised cells), so each token has its own target, which the
  student's tokens, attending to the whole clip as well, can follow.
- WithinIdentityDistillation: only the teacher's changes within a person are distilled: the
  student's probabilities minus its running mean for that person should equal the teacher's minus
  the teacher's mean for that person. What a person looks like shifts both means alike and cancels,
  so the identity shortcut (this face -> its usual label) earns nothing; what changes the teacher's
  view of one face (a smile, an open mouth) is all that is left to learn.
- IdentityAdversary: an identity classifier on the pooled clip feature, trained through gradient
  reversal (Ganin and Lempitsky, 2015), so the feature the head reads stops carrying who it is.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from adatosk.model import gather_tokens


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


class TokenDistillation(nn.Module):
    def __init__(self, dim, feature_dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, feature_dim)

    def forward(self, encoder_tokens, token_index, maps):
        """encoder_tokens [B, N_v, D] (the visible tokens after the whole encoder); token_index
        [B, N_v] their places in the clip's T' * S grid; maps [B, T', S, F] the teacher's cells.
        -> mean over tokens of 1 - cos(prediction, the cell standardised over its F channels)."""
        B, T, S, Fd = maps.shape
        target = gather_tokens(maps.reshape(B, T * S, Fd), token_index)
        # The cells are sums of ReLUs (all >= 0): without centring, every cell is close in angle
        # to every other and the cosine is nearly satisfied by their mean.
        target = F.layer_norm(target.float(), (Fd,))
        pred = self.proj(self.norm(encoder_tokens))
        return (1.0 - F.cosine_similarity(pred.float(), target, dim=-1)).mean()


class WithinIdentityDistillation(nn.Module):
    def __init__(self, teacher_means, momentum=0.9):
        """teacher_means [I, C]: the teacher's mean clip probabilities of each identity."""
        super().__init__()
        self.momentum = momentum
        self.register_buffer("teacher_mean", torch.as_tensor(teacher_means, dtype=torch.float32))
        self.register_buffer("student_mean", torch.zeros_like(self.teacher_mean))
        self.register_buffer("seen", torch.zeros(self.teacher_mean.shape[0], dtype=torch.bool))

    def forward(self, logits, target, identity):
        """Squared error between the student's and the teacher's deviations from their means for
        the clip's identity (summed over classes, mean over clips). The student's mean is a running
        mean of its own outputs before this batch (no gradient): an identity's first clip only sets
        it."""
        p = torch.softmax(logits.float(), -1)
        with torch.no_grad():
            fresh = ~self.seen[identity]
            mean = self.student_mean[identity].clone()
            for i, ident in enumerate(identity.tolist()):
                if not self.seen[ident]:
                    self.student_mean[ident] = p[i]
                    self.seen[ident] = True
                else:
                    self.student_mean[ident].mul_(self.momentum).add_(p[i], alpha=1 - self.momentum)
        loss = ((p - mean) - (target.float() - self.teacher_mean[identity])).pow(2).sum(-1)
        return (loss * (~fresh).float()).mean()


def identity_means(targets, identity, num_identities):
    """[I, C] mean target of each identity's clips."""
    targets = torch.as_tensor(targets, dtype=torch.float64)
    identity = torch.as_tensor(identity, dtype=torch.int64)
    sums = torch.zeros(num_identities, targets.shape[1], dtype=torch.float64).index_add_(0, identity, targets)
    counts = torch.bincount(identity, minlength=num_identities).clamp_min(1).to(torch.float64)
    return (sums / counts[:, None]).float()


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
