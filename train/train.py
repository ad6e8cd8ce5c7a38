#!/usr/bin/python3
"""Joint training of AdaTosk (spec section 5): both branches on one shared encoder.

  train.py --train DS/clips.csv [--val VAL/clips.csv] --out RUN [--config adatosk-tiny]
           [--steps 1400] [--batch 8] [--lr 5e-4] [--balanced] [--threads 1] [--resume]

Each step: a batch of clips (class-balanced sampling with --balanced: every hard class -- the
argmax of a soft label -- drawn equally often; uniform otherwise), augmented (random resized crop
scale 0.8-1.0, horizontal flip, temporal jitter), through the reference model's forward_train: hard
tube masking (mask_ratio of the spatial positions in every slot), reconstruction branch (decoder,
per-tube normalised MSE on masked tubes), classification branch (ATSM, top-K, key bias, pooling,
head), the prototypes' semantic loss; L = L_cls + lambda_rec L_rec + lambda_sem L_sem, soft-target
cross-entropy with the teacher's probabilities (--hard-labels: argmax with label smoothing 0.1).
AdamW (weight decay 0.05 on matrices, none on biases/LayerNorm/ATSM scalars), linear warm-up then
cosine decay to --min-lr.

RUN/ gets: train.log (one line per step with every loss), checkpoint.pt (model, optimiser, schedule,
RNG states: --resume continues bit for bit), history.json, loss_curves.png, model.safetensors
(F32, decoder included: the training file; export.py makes the shipped one).

Against the identity shortcut of issue 9: training-only heads (objectives.py: --frame-targets,
--token-targets, --adversary, --within-identity) and the teacher itself in the loop
(function_matching.py: --online-teacher labels every clip as the student sees it, --mixup mixes
clips of two people, --token-targets reads its feature maps of the student's own input).

At scale: --device cuda (mixed precision, devices.py), several processes with
`torchrun --nproc_per_node=N train/train.py ...` (--batch stays the global batch; distributed.py),
clips memory-mapped instead of cached (--mmap) and loaded by --workers DataLoader processes
(batch_plan.py). On the CPU in one process these change no number.
"""

import argparse
import json
import math
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from adatosk.config import DEFAULT_LABELS, NAMED_CONFIGS, named_config, parse_overrides  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import save_model, load_model  # noqa: E402
import distributed  # noqa: E402
from batch_plan import BatchPlanner, RankBatches  # noqa: E402
from curves import plot_curves  # noqa: E402
from dataset import ClipDataset, center_crop_clip  # noqa: E402
from function_matching import OnlineTeacher, mix_clips  # noqa: E402
from teacher.faceapi import default_model_dir  # noqa: E402
from devices import backward_and_step, choose_precision, resolve_device  # noqa: E402


def param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() < 2 or name.startswith("atsm.alpha") or name == "atsm.beta" or name == "mask_token":
            no_decay.append(p)
        else:
            decay.append(p)          # matrices, conv kernel, prototypes
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def lr_lambda_factory(steps, warmup, lr, min_lr):
    def f(step):                      # multiplier of the base lr at optimiser step `step` (0-based)
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        t = min(max(t, 0.0), 1.0)
        return (min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * t))) / lr
    return f


class BatchSampler:
    """Endless batches of clip indices: uniform or class-balanced, from its own generator."""

    def __init__(self, n, batch, weights=None, seed=0):
        self.n, self.batch = n, batch
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.g = torch.Generator().manual_seed(seed)
        self.perm, self.pos = None, 0

    def next(self):
        if self.weights is not None:
            return torch.multinomial(self.weights, self.batch, replacement=True, generator=self.g).tolist()
        out = []
        while len(out) < self.batch:
            if self.perm is None or self.pos >= self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.g).tolist(), 0
            take = min(self.batch - len(out), self.n - self.pos)
            out += self.perm[self.pos:self.pos + take]
            self.pos += take
        return out

    def state(self):
        return {"g": self.g.get_state(), "perm": self.perm, "pos": self.pos}

    def load(self, s):
        self.g.set_state(s["g"])
        self.perm, self.pos = s["perm"], s["pos"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True, action="append",
                    help="clip list CSV (several: --train A --train B)")
    ap.add_argument("--val", help="validation clip list CSV (teacher soft labels or hard labels)")
    ap.add_argument("--out", required=True, help="run directory")
    ap.add_argument("--config", default="adatosk-tiny", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="config override")
    ap.add_argument("--init", help="start from this model file (.safetensors with the decoder)")
    ap.add_argument("--labels", help="JSON list of class names (default: face-api order)")
    ap.add_argument("--steps", type=int, default=1400)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--clip-grad", type=float, default=1.0, help="max grad norm (0: off)")
    ap.add_argument("--lambda-rec", type=float, default=1.0)
    ap.add_argument("--lambda-sem", type=float, default=0.1)
    ap.add_argument("--mask-ratio", type=float, default=None, help="default: the config's (0.5)")
    ap.add_argument("--hard-labels", action="store_true",
                    help="argmax of the soft labels with label smoothing instead of soft targets")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--balanced", action="store_true", help="class-balanced clip sampling")
    ap.add_argument("--balance-power", type=float, default=0.0,
                    help="with --balanced: a class with n clips is drawn in proportion to n**power "
                         "(0: all classes equally often, 0.5: square-root balancing)")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--color-aug", action="store_true",
                    help="also change the colour of each clip (grey, saturation, brightness, contrast)")
    ap.add_argument("--zoom-out", type=float, default=None, metavar="Z",
                    help="also shrink half of the clips by a factor in [Z, 1] (a looser face box)")
    ap.add_argument("--zoom-in", type=float, default=None, metavar="Z",
                    help="the random crop's side down to Z of the clip (default: area 0.8 to 1), so that "
                         "sources framed loosely (video) also appear as close-ups (stills)")
    ap.add_argument("--crop-scale", type=float, default=1.0, metavar="S",
                    help="train and validate on the centre S of every clip (resized back): the crop of "
                         "a tighter crop-margin m' = (S (1 + 2 m) - 1) / 2 for clips cut at margin m")
    ap.add_argument("--balance-identity", type=float, default=None, metavar="Q",
                    help="with --balanced: within a class, an identity (source video) with m clips is "
                         "drawn in proportion to m**Q (0: every identity equally often)")
    ap.add_argument("--frame-targets", type=float, default=0.0, metavar="W",
                    help="weight of the per-frame teacher targets (objectives.FrameDistillation; "
                         "needs the clips' .teacher.npz)")
    ap.add_argument("--token-targets", type=float, default=0.0, metavar="W",
                    help="weight of the teacher's feature maps as per-token targets "
                         "(objectives.TokenDistillation): every visible token predicts face-api's last "
                         "feature map at its place, the teacher run on the student's own input during "
                         "training (weights from --online-teacher's DIR, else the user's cache)")
    ap.add_argument("--within-identity", type=float, default=0.0, metavar="W",
                    help="weight of the within-person distillation (objectives.WithinIdentityDistillation: "
                         "only the teacher's changes within an identity are distilled)")
    ap.add_argument("--cls-weight", type=float, default=1.0, metavar="W",
                    help="weight of the spec's classification loss L_cls in the total (1: the spec's)")
    ap.add_argument("--adversary", type=float, default=0.0, metavar="W",
                    help="weight of the identity adversary through gradient reversal "
                         "(objectives.IdentityAdversary)")
    ap.add_argument("--online-teacher", metavar="DIR", nargs="?", const=default_model_dir(), default=None,
                    help="label every training clip as the student sees it, after augmentation, with "
                         "face-api's expression net from DIR (default: the user's cache, "
                         "teacher.faceapi.default_model_dir()) "
                         "instead of the stored labels (function_matching.OnlineTeacher)")
    ap.add_argument("--teacher-crop", choices=["cut", "student"], default="cut",
                    help="with --online-teacher and --crop-scale: the teacher sees the clip at the framing it "
                         "was cut at (cut: that of the stored and validation labels) and the student its "
                         "centre afterwards, or the teacher sees the student's crop (student)")
    ap.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                    help="with --online-teacher: mix every clip with another of the batch, weights from "
                         "Beta(ALPHA, ALPHA), and let the teacher label the mix (function_matching.mix_clips)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="keep an exponential moving average of the weights with this decay (e.g. "
                         "0.998); evaluated beside the raw weights, and written as model.safetensors "
                         "(the raw weights as model_raw.safetensors)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 measured fastest on the 2-core build machine)")
    ap.add_argument("--device", default="cpu",
                    help="cpu, cuda or cuda:N (under torchrun, cuda is each process's LOCAL_RANK card)")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                    help="auto: fp32 on the CPU; on CUDA bf16 where the card has it, else fp16 with "
                         "loss scaling (devices.py)")
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader worker processes loading and augmenting clips (0: in the training "
                         "process); with --mmap, else every worker caches its own copy of the clips")
    ap.add_argument("--mmap", action="store_true",
                    help="read training clips memory-mapped when used instead of caching them all in "
                         "memory (datasets larger than memory)")
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    ap.add_argument("--quiet", action="store_true", help="no per-step line on stdout (still in train.log)")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="stop (with a checkpoint) after this step, as if interrupted; --resume goes on")
    args = ap.parse_args(argv)
    if args.mixup < 0:
        ap.error(f"--mixup {args.mixup:g}: ALPHA must be > 0 (0: off)")
    if args.mixup and not args.online_teacher:
        ap.error("--mixup needs --online-teacher: a mixed clip has no stored label")
    if args.online_teacher and args.hard_labels:
        ap.error("--online-teacher gives soft targets: drop --hard-labels")
    if args.online_teacher and args.within_identity:
        ap.error("--within-identity compares stored labels per person: not with --online-teacher")
    if args.mask_ratio == 0 and (args.frame_targets or args.token_targets):
        ap.error("--frame-targets and --token-targets read the reconstruction branch's encoder tokens: "
                 "not with --mask-ratio 0")
    for name in ("zoom_in", "zoom_out"):
        value = getattr(args, name)
        if value is not None and not 0.0 < value <= 1.0:
            ap.error(f"--{name.replace('_', '-')} {value:g}: a factor in (0, 1]")
    return args


def build_model(args):
    """-> (model with its decoder, config, labels): from --init, else a new --config."""
    if args.init:
        model, config, labels, _ = load_model(args.init)
        if not model.with_decoder:
            raise SystemExit(f"{args.init} has no decoder: training needs it")
    else:
        config = named_config(args.config, **parse_overrides(args.set))
        labels = json.loads(args.labels) if args.labels else list(DEFAULT_LABELS[:config.num_classes])
        model = AdaTosk(config, with_decoder=True)
    if args.crop_scale < 1.0:
        config = config.replace(crop_margin=trained_crop_margin(args.train, args.crop_scale))
    model.train()
    return model, config, labels


def trained_crop_margin(csv_paths, crop_scale):
    """The element's crop margin that --crop-scale turns the training sets' crops into (recorded in
    the model, so the element crops as the model was trained): a crop of (1 + 2 m) box sizes
    centre-cropped to S is one of S (1 + 2 m) = 1 + 2 m'."""
    from dataset import cut_crop_margin
    margins = {cut_crop_margin(path) for path in csv_paths}
    if len(margins) != 1:
        raise SystemExit(f"--crop-scale needs training sets cut with one crop margin, got {sorted(margins)}")
    margin = (crop_scale * (1.0 + 2.0 * margins.pop()) - 1.0) / 2.0
    if margin < 0:
        raise SystemExit(f"--crop-scale {crop_scale:g} crops inside the face box (margin {margin:.3f} < 0)")
    return round(margin, 4)


class Run:
    """One training run: the model, its training-only heads, data, optimiser, schedule, random
    generators, EMA and history; a checkpoint holds all of them, so --resume continues bit for bit."""

    def __init__(self, args, world=distributed.World(), device=torch.device("cpu")):
        self.args, self.world, self.device = args, world, device
        self.precision = choose_precision(device, args.precision)
        self.scaler = self.precision.make_scaler()
        self.model, self.config, self.labels = build_model(args)
        # face-api's answer depends on the framing (on the held-out stills its top class at the centre
        # 0.8 of the cut agrees with the one at the cut's own framing on 55% of clips, and says
        # "happy" twice as often), so by default the online teacher looks at whole augmented clips,
        # as the stored and validation labels were made, and the student's centre crop comes after.
        self.student_crop = args.crop_scale if args.online_teacher and args.teacher_crop == "cut" else 1.0
        self.train_ds = ClipDataset(args.train, self.config, self.labels, train=not args.no_augment,
                                    seed=args.seed + 1, color=args.color_aug, zoom_out=args.zoom_out,
                                    crop_scale=args.crop_scale if self.student_crop == 1.0 else 1.0,
                                    mmap=args.mmap, zoom_in=args.zoom_in)
        weights = (self.train_ds.balanced_weights(args.balance_power, args.balance_identity)
                   if args.balanced else None)
        self.sampler = BatchSampler(len(self.train_ds), args.batch, weights, seed=args.seed + 2)
        self.val_ds = (ClipDataset(args.val, self.config, self.labels, train=False, crop_scale=args.crop_scale)
                       if args.val and world.is_main else None)
        self.heads = extra_heads(args, self.model, self.config, self.train_ds)
        self.teacher = OnlineTeacher(args.online_teacher, self.config, self.labels, device) if args.online_teacher else None
        self.map_teacher = None
        if args.token_targets > 0:
            self.map_teacher = self.teacher or OnlineTeacher(default_model_dir(), self.config, device=device)
        self.mix_rng = np.random.default_rng(args.seed + 4 + 1000 * world.rank)
        self.model.to(device)
        self.heads.to(device)
        groups = [g for g in param_groups(self.model, args.weight_decay) + param_groups(self.heads, args.weight_decay)
                  if g["params"]]
        self.opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lr_lambda_factory(args.steps, args.warmup, args.lr, args.min_lr))
        self.mask_gen = torch.Generator().manual_seed(args.seed + 3)
        self.planner = BatchPlanner(self.sampler, self.train_ds, self.model.tube_mask, self.mask_gen,
                                    args.mask_ratio)
        self.batches = RankBatches(self.planner, distributed.rank_slice(args.batch, world), args.workers)
        # Without masked tubes (mask ratio 0) the decoder takes no part in the loss.
        ratio = args.mask_ratio if args.mask_ratio is not None else self.config.mask_ratio
        self.objective = distributed.wrap(TrainingObjective(self.model, self.heads, args, self.config),
                                          world, device, find_unused=ratio == 0)
        self.ema = ({k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    if args.ema > 0 and world.is_main else None)
        self.history = {"args": vars(args), "labels": self.labels, "train": [], "val": []}
        self.step = 0
        self.ckpt_path = os.path.join(args.out, "checkpoint.pt")
        self.log = open(os.path.join(args.out, "train.log"), "a") if world.is_main else None

    def say(self, line):
        if self.log is None:             # not rank 0: rank 0 speaks for the run
            return
        self.log.write(line + "\n")
        self.log.flush()
        if not self.args.quiet:
            print(line, flush=True)

    def describe(self):
        args, ds = self.args, self.train_ds
        dist = np.bincount(ds.hard_labels(), minlength=self.config.num_classes)
        self.say(f"train: {len(ds)} clips, hard-label counts {dict(zip(self.labels, dist.tolist()))}, "
                 f"{f'balanced (power {args.balance_power:g})' if args.balanced else 'uniform'} sampling, "
                 f"batch {args.batch}, {args.steps} steps, "
                 f"lr {args.lr} (warm-up {args.warmup}, cosine to {args.min_lr}), wd {args.weight_decay}, "
                 f"{'hard labels + smoothing ' + str(args.label_smoothing) if args.hard_labels else 'soft teacher targets'}, "
                 f"threads {torch.get_num_threads()}, seed {args.seed}; {len(ds.identities())} identities"
                 f"{f'; {self.world.size} processes' if self.world.distributed else ''}"
                 f"{f'; {self.device} {self.precision.name}' if self.device.type != 'cpu' else ''}"
                 f"{'; clips memory-mapped' if args.mmap else ''}"
                 f"{f'; {args.workers} loader workers' if args.workers else ''}"
                 f"{', colour augmentation' if args.color_aug else ''}"
                 f"{f', zoom-out to {args.zoom_out:g}' if args.zoom_out else ''}"
                 f"{f', zoom-in to {args.zoom_in:g}' if args.zoom_in else ''}"
                 f"{f', centre crop {args.crop_scale:g}' if args.crop_scale < 1 else ''}"
                 f"{f', identity balancing {args.balance_identity:g}' if args.balance_identity is not None else ''}"
                 f"{f', per-frame targets x{args.frame_targets:g}' if args.frame_targets else ''}"
                 f"{f', per-token teacher maps x{args.token_targets:g}' if args.token_targets else ''}"
                 f"{f', identity adversary x{args.adversary:g}' if args.adversary else ''}"
                 f"{f', within-identity distillation x{args.within_identity:g}' if args.within_identity else ''}"
                 f"{f', L_cls x{args.cls_weight:g}' if args.cls_weight != 1.0 else ''}"
                 f"{f'; targets from the teacher online ({args.teacher_crop} framing)' if args.online_teacher else ''}"
                 f"{f', mixup Beta({args.mixup:g})' if args.mixup else ''}")

    def resume(self):
        if not os.path.exists(self.ckpt_path):
            return
        # Every process reads the whole checkpoint: it holds the global run, whatever the number of
        # processes that wrote it.
        ck = torch.load(self.ckpt_path, map_location="cpu")
        self.model.load_state_dict(ck["model"])
        self.heads.load_state_dict(ck.get("heads", {}))
        self.opt.load_state_dict(ck["opt"])
        self.sched.load_state_dict(ck["sched"])
        self.planner.load(ck, ck["step"])
        torch.set_rng_state(ck["torch_rng"])
        self.history = ck["history"]
        self.step = ck["step"]
        if self.ema is not None and ck.get("ema") is not None:
            self.ema = {k: v.to(self.device) for k, v in ck["ema"].items()}
        if ck.get("mix_rng") is not None:
            self.mix_rng.bit_generator.state = ck["mix_rng"]
        if self.scaler is not None and ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        if self.world.is_main:
            print(f"train: resumed at step {self.step} from {self.ckpt_path}", flush=True)

    def save_checkpoint(self):
        if not self.world.is_main:
            return
        torch.save({"model": self.model.state_dict(), "heads": self.heads.state_dict(),
                    "opt": self.opt.state_dict(), "sched": self.sched.state_dict(),
                    **self.planner.state_at(self.step), "torch_rng": torch.get_rng_state(),
                    "history": self.history, "step": self.step, "config": self.config.to_dict(),
                    "labels": self.labels, "ema": self.ema, "mix_rng": self.mix_rng.bit_generator.state,
                    "scaler": self.scaler.state_dict() if self.scaler is not None else None},
                   self.ckpt_path + ".tmp")
        os.replace(self.ckpt_path + ".tmp", self.ckpt_path)
        with open(os.path.join(self.args.out, "history.json"), "w") as f:
            json.dump(self.history, f)
        plot_curves(self.history, os.path.join(self.args.out, "loss_curves.png"))

    def ema_model(self):
        m = AdaTosk(self.config, with_decoder=True)
        m.load_state_dict(self.ema)
        return m

    def cpu_model(self):
        """The model on the CPU, where evaluation and the model file want it (a copy off a GPU)."""
        if self.device.type == "cpu":
            return self.model
        m = AdaTosk(self.config, with_decoder=True)
        m.load_state_dict(self.model.state_dict())
        return m.train()

    def evaluate(self):
        from evaluate import predict, metrics
        nets = [("raw", self.cpu_model())] + ([("ema", self.ema_model())] if self.ema is not None else [])
        for tag, net in nets:
            net.eval()
            probs = predict(net, self.val_ds)
            net.train()
            m = metrics(probs, self.val_ds.soft_targets(), self.labels)
            self.history.setdefault("val" if tag == "raw" else "val_ema", []).append(
                dict(step=self.step, recall=m["recall"], auc=m["auc"], auc_surprised=m["auc_surprised"],
                     accuracy=m["accuracy"], confusion=m["confusion"]))
            rec = " ".join(f"{k}={v:.2f}" for k, v in m["recall"].items())
            aucs = " ".join(f"{k}={v:.3f}" for k, v in m["auc"].items())
            self.say(f"eval step {self.step} ({tag}): recall {rec} | AUC {aucs} | "
                     f"accuracy {m['accuracy']:.3f} | predicted {m['predicted_counts']}")

    def train_step(self):
        """One optimiser step on one batch (this process's slice of it); -> the step's record for
        the history (losses: means over the global batch)."""
        args = self.args
        self.planner.forget_before(self.step)
        items = self.batches.next()
        x = torch.stack([it["x"] for it in items]).to(self.device)
        visible = torch.stack([it["visible"] for it in items]).to(self.device)
        if args.mixup:
            x, _, _ = mix_clips(x, self.mix_rng, args.mixup)
        if self.teacher is not None:
            target, items = self.label_online(x, items)
            # [B, 3, T, H, W] as [B * 3, T, H, W]: one resize for the whole batch.
            x = center_crop_clip(x.flatten(0, 1), self.student_crop).view_as(x)
        elif args.hard_labels:
            target = torch.tensor([it["hard"] for it in items], dtype=torch.int64)
        else:
            target = torch.stack([it["target"] for it in items])
        if self.map_teacher is not None:           # on exactly the pixels the student gets
            items = [dict(it, token_maps=m) for it, m in zip(items, self.map_teacher.maps(x))]
        with self.precision.autocast():
            loss, losses = self.objective(x, target.to(self.device), visible, items, self.step)
        self.opt.zero_grad(set_to_none=True)
        lr = self.opt.param_groups[0]["lr"]
        gnorm = backward_and_step(loss, self.opt, list(self.model.parameters()) + list(self.heads.parameters()),
                                  args.clip_grad if args.clip_grad > 0 else float("inf"), self.scaler)
        self.sched.step()
        self.update_ema()
        self.step += 1
        rec = distributed.mean_over_ranks({k: float(v) for k, v in losses.items()}, self.world, self.device)
        rec.update(step=self.step, lr=lr, grad_norm=float(gnorm))
        return rec

    def label_online(self, x, items):
        """The teacher's targets for the batch as the student sees it: the clip target (mean of
        the slots) and the per-slot targets the frame head reads, in place of the stored ones."""
        probs, features = self.teacher(x)
        items = [dict(it, frame_probs=p, frame_features=f) for it, p, f in zip(items, probs, features)]
        return probs.mean(1), items

    def update_ema(self):
        if self.ema is None:
            return
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                if v.dtype.is_floating_point:
                    self.ema[k].mul_(self.args.ema).add_(v.detach(), alpha=1 - self.args.ema)
                else:
                    self.ema[k].copy_(v)

    def save_models(self):
        if not self.world.is_main:
            return
        args, ds = self.args, self.train_ds
        trained_on = f"{', '.join(args.train)} ({len(ds)} clips)"
        common = dict(dtype="f32", name=config_name(args), include_decoder=True)
        if self.ema is not None:
            save_model(os.path.join(args.out, "model_raw.safetensors"), self.cpu_model(), self.config, self.labels,
                       trained_on=trained_on, **common)
            save_model(os.path.join(args.out, "model.safetensors"), self.ema_model(), self.config, self.labels,
                       trained_on=trained_on + f", EMA {args.ema}", **common)
        else:
            save_model(os.path.join(args.out, "model.safetensors"), self.cpu_model(), self.config, self.labels,
                       trained_on=trained_on, **common)


def main(argv=None):
    args = parse_args(argv)
    world = distributed.world_from_env()
    device = resolve_device(args.device, world.local_rank, world.size)
    distributed.start(world, device)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    run = Run(args, world, device)
    if args.resume:
        run.resume()
    run.describe()

    t_start, t_seen, steps_this_run = time.time(), 0.0, 0
    while run.step < args.steps and (args.stop_after is None or run.step < args.stop_after):
        t0 = time.time()
        rec = run.train_step()
        dt = time.time() - t0
        t_seen += dt
        steps_this_run += 1
        rec["sec"] = dt
        if not world.is_main:
            continue
        run.history["train"].append(rec)
        more = "".join(f" {k.replace('loss_', '')} {v:.4f}" for k, v in rec.items()
                       if k not in ("loss", "loss_cls", "loss_rec", "loss_sem", "step", "lr", "grad_norm", "sec"))
        run.say(f"step {run.step}/{args.steps} lr {rec['lr']:.2e} loss {rec['loss']:.4f} cls {rec['loss_cls']:.4f} "
                f"rec {rec['loss_rec']:.4f} sem {rec['loss_sem']:.4f}{more} |g| {rec['grad_norm']:.2f} "
                f"{args.batch / dt:.1f} clips/s")
        if run.val_ds is not None and args.eval_every > 0 and (run.step % args.eval_every == 0 or run.step == args.steps):
            run.evaluate()
        if run.step % args.ckpt_every == 0 or run.step == args.steps:
            run.save_checkpoint()
    run.history["train_seconds"] = run.history.get("train_seconds", 0.0) + (time.time() - t_start)
    run.save_checkpoint()
    run.save_models()
    run.say(f"train: done, {run.step} steps, {run.history['train_seconds']:.0f} s this run "
            f"({args.batch * steps_this_run / max(t_seen, 1e-9):.1f} clips/s in the steps); "
            f"{args.out}/model.safetensors")
    if run.log is not None:
        run.log.close()
    distributed.stop(world)
    return 0


class TrainingObjective(torch.nn.Module):
    """The model and its training-only heads as one module, the one DistributedDataParallel wraps
    (it averages the gradients of what its forward() computes): forward -> (total loss, {name:
    value} of every loss and metric), each a mean over the clips given."""

    def __init__(self, model, heads, args, config):
        super().__init__()
        self.model, self.heads, self.args, self.config = model, heads, args, config

    def forward(self, x, target, visible, items, step):
        args = self.args
        out = self.model.forward_train(x, target, visible=visible, lambda_rec=args.lambda_rec,
                                       lambda_sem=args.lambda_sem, label_smoothing=args.label_smoothing)
        # The spec's total with L_cls weighted (--cls-weight; 1 leaves the spec's sum untouched).
        loss = out["loss"] if args.cls_weight == 1.0 else out["loss"] + (args.cls_weight - 1.0) * out["loss_cls"]
        extra = extra_losses(args, self.heads, out, items, self.config, step)
        for k, v in extra.items():
            if k.startswith("loss_"):
                loss = loss + v["weight"] * v["value"]
        values = {k: out[k].detach() for k in ("loss_cls", "loss_rec", "loss_sem")}
        values["loss"] = loss.detach()
        values.update({k: v["value"].detach() for k, v in extra.items()})
        return loss, values


def extra_heads(args, model, config, train_ds):
    """The training-only heads the options ask for (objectives.py), in one ModuleDict."""
    from objectives import (FrameDistillation, IdentityAdversary, TokenDistillation, WithinIdentityDistillation,
                            identity_means)
    from teacher.faceapi import FEATURE_DIM
    heads = torch.nn.ModuleDict()
    D = config.embed_dim
    if args.frame_targets > 0:
        feats = [train_ds.frame_targets(i) for i in range(len(train_ds))]
        missing = sum(f is None for f in feats)
        if missing:
            raise SystemExit(f"--frame-targets: {missing} of {len(feats)} training clips have no "
                             ".teacher.npz (cut them with make_dataset.py --teacher)")
        mean = torch.cat([f[1] for f in feats]).mean(0)
        heads["frames"] = FrameDistillation(D, config.num_classes, mean.shape[0], mean)
    if args.token_targets > 0:
        heads["tokens"] = TokenDistillation(D, FEATURE_DIM)
    if args.adversary > 0:
        heads["identity"] = IdentityAdversary(D, len(train_ds.identities()))
    if args.within_identity > 0:
        heads["within"] = WithinIdentityDistillation(identity_means(
            train_ds.soft_targets(), train_ds.identity_index(), len(train_ds.identities())))
    return heads


def extra_losses(args, heads, out, items, config, step):
    """-> {name: {"value": tensor, "weight": float}}; names starting with loss_ join the total."""
    from objectives import adversary_ramp
    extra = {}
    dev = out["loss"].device
    if "within" in heads or "identity" in heads:      # the batch's identities, once for both heads
        ident = torch.tensor([it["identity"] for it in items], dtype=torch.int64, device=dev)
    if "frames" in heads:
        fp = torch.stack([it["frame_probs"] for it in items]).to(dev)
        ff = torch.stack([it["frame_features"] for it in items]).to(dev)
        extra["loss_frames"] = dict(value=heads["frames"](out["encoder_tokens"], config.num_slots, fp, ff),
                                    weight=args.frame_targets)
    if "tokens" in heads:
        maps = torch.stack([it["token_maps"] for it in items]).to(dev)
        extra["loss_tokens"] = dict(value=heads["tokens"](out["encoder_tokens"], out["visible_tokens"], maps),
                                    weight=args.token_targets)
    if "within" in heads:
        target = torch.stack([it["target"] for it in items]).to(dev)
        extra["loss_within"] = dict(value=heads["within"](out["logits"], target, ident),
                                    weight=args.within_identity)
    if "identity" in heads:
        scale = adversary_ramp(step / max(1, args.steps))
        loss, acc = heads["identity"](out["pooled"], ident, scale * args.adversary)
        # The head itself learns at full rate; only the encoder's gradient is reversed and scaled.
        extra["loss_identity"] = dict(value=loss, weight=1.0)
        extra["identity_accuracy"] = dict(value=acc, weight=0.0)
    return extra


def config_name(args):
    return args.config if not args.init else os.path.basename(args.init)


if __name__ == "__main__":
    sys.exit(main())
