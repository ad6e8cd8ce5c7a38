"""Distillation by function matching (issue 9; Beyer et al., "Knowledge distillation: a good teacher
is patient and consistent", 2022): the teacher labels the very frames the student is trained on,
after every augmentation, instead of the un-augmented crops it labelled when the dataset was cut.

Why: with stored labels, a zoomed-out, recoloured or cropped clip keeps the label of the original, so
the student is taught something the teacher never said about that input. And only with the teacher
in the loop can the student see inputs no dataset holds: two clips of different people mixed
(mixup) are a face nobody has, and the teacher's answer on it is a target that no identity explains.

- OnlineTeacher: face-api's FaceExpressionNet on the first frame of every tubelet of the model's
  input -> per-slot probabilities and penultimate features, the clip target their mean (the dataset's
  own definition of a clip label: the mean of its frames' teacher probabilities).
- mix_clips: mixup of a batch with a permutation of itself, the first clip always the larger part.
"""

import numpy as np
import torch
import torch.nn.functional as F

from teacher.faceapi import INPUT_SIZE, LABELS, MEAN_RGB, FaceExpressionNet, read_tfjs_weights


class OnlineTeacher:
    def __init__(self, model_dir, config, labels, device=torch.device("cpu")):
        if list(labels) != LABELS:
            raise SystemExit(f"--online-teacher: the model's labels {list(labels)} are not face-api's {LABELS}")
        self.net = FaceExpressionNet().load_tfjs(read_tfjs_weights(model_dir)).eval().to(device)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.stride = config.tubelet_size
        # The teacher's normalisation is (v * 255 - mean_rgb) / 255 of pixels v in [0, 1].
        self.teacher_mean = (torch.tensor(MEAN_RGB, device=device) / 255.0).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, x01):
        """x01: the training batch [B, 3, T, H, W] in [0, 1] (forward_train normalises it) ->
        (probabilities [B, T / tubelet, 7], features [B, T / tubelet, 256]), float32."""
        B, _, T, H, W = x01.shape
        frames = x01[:, :, ::self.stride].float()                                # [B, 3, T', H, W]
        slots = frames.shape[2]
        inp = frames.permute(0, 2, 1, 3, 4).reshape(B * slots, 3, H, W)
        if (H, W) != (INPUT_SIZE, INPUT_SIZE):
            inp = F.interpolate(inp, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        features = self.net.features(inp - self.teacher_mean)
        probs = torch.softmax(self.net.fc(features), -1)
        return probs.view(B, slots, -1), features.view(B, slots, -1)


def mix_clips(x, rng, alpha):
    """Mixup of a batch [B, ...] with a random permutation of itself: clip i becomes
    lam_i x_i + (1 - lam_i) x_perm(i), lam_i ~ Beta(alpha, alpha) folded to [0.5, 1] so that clip i
    stays the larger part (its identity is the one the identity adversary is told).
    rng: a numpy Generator (its state goes into the checkpoint). -> (mixed x, lam [B], perm [B])."""
    B = x.shape[0]
    perm = torch.from_numpy(rng.permutation(B))
    lam = rng.beta(alpha, alpha, size=B)
    lam = torch.from_numpy(np.maximum(lam, 1.0 - lam)).to(x.dtype)
    lam_x = lam.to(x.device).view((B,) + (1,) * (x.dim() - 1))
    return lam_x * x + (1.0 - lam_x) * x[perm.to(x.device)], lam, perm
