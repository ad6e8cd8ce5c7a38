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
- OnlineTeacher.maps: the teacher's last feature map of the same frames, one 256-wide cell per
  patch of the model's grid: per-token targets (objectives.TokenDistillation).
"""

import numpy as np
import torch
import torch.nn.functional as F

from teacher.faceapi import INPUT_SIZE, LABELS, MEAN_RGB, FaceExpressionNet, read_tfjs_weights


class OnlineTeacher:
    def __init__(self, model_dir, config, labels=None, device=torch.device("cpu")):
        """labels: the student's classes, which must be face-api's when the teacher's probabilities
        are its targets; None when only its feature maps are used (any classes)."""
        if labels is not None and list(labels) != LABELS:
            raise SystemExit(f"--online-teacher: the model's labels {list(labels)} are not face-api's {LABELS}")
        self.net = FaceExpressionNet().load_tfjs(read_tfjs_weights(model_dir)).eval().to(device)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.stride = config.tubelet_size
        self.grid = (config.img_hw[0] // config.patch_size, config.img_hw[1] // config.patch_size)
        # The teacher's normalisation is (v * 255 - mean_rgb) / 255 of pixels v in [0, 1].
        self.teacher_mean = (torch.tensor(MEAN_RGB, device=device) / 255.0).view(1, 3, 1, 1)

    def _slot_frames(self, x01):
        """The first frame of every tubelet of [B, 3, T, H, W], as the teacher's normalised 112 px
        input [B * T', 3, 112, 112]; -> (that input, T')."""
        B, _, T, H, W = x01.shape
        frames = x01[:, :, ::self.stride].float()                                # [B, 3, T', H, W]
        slots = frames.shape[2]
        inp = frames.permute(0, 2, 1, 3, 4).reshape(B * slots, 3, H, W)
        if (H, W) != (INPUT_SIZE, INPUT_SIZE):
            inp = F.interpolate(inp, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return inp - self.teacher_mean, slots

    @torch.no_grad()
    def __call__(self, x01):
        """x01: the training batch [B, 3, T, H, W] in [0, 1] (forward_train normalises it) ->
        (probabilities [B, T / tubelet, 7], features [B, T / tubelet, 256]), float32."""
        inp, slots = self._slot_frames(x01)
        features = self.net.features(inp)
        probs = torch.softmax(self.net.fc(features), -1)
        return probs.view(x01.shape[0], slots, -1), features.view(x01.shape[0], slots, -1)

    @torch.no_grad()
    def maps(self, x01):
        """The teacher's last feature map of the same frames at the model's patch grid: [B, T',
        S, 256] in the model's token order (slot-major, then row-major), float32. At 112 px and
        patch 16 the teacher's 7 x 7 cells are the patches themselves (both have stride 16 on the
        same pixels); another grid gets the map resampled (area-weighted when smaller)."""
        inp, slots = self._slot_frames(x01)
        fmap = self.net.feature_map(inp)                                         # [B*T', 256, 7, 7]
        if tuple(fmap.shape[-2:]) != self.grid:
            fmap = F.interpolate(fmap, size=self.grid, mode="bilinear", align_corners=False, antialias=True)
        B = x01.shape[0]
        return fmap.flatten(2).transpose(1, 2).reshape(B, slots, -1, fmap.shape[1])


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
