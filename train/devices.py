"""Where training runs and in which precision (train.py --device, --precision).

The CPU trains in float32 exactly as before these options existed. On CUDA, automatic mixed precision
(torch.autocast) runs the matrix products in bfloat16 where the card has it (Ampere and later: the
same range as float32, no loss scaling needed) and otherwise in float16, whose narrow range needs a
loss scaler (torch.cuda.amp.GradScaler) so that small gradients do not flush to zero. The weights,
the optimiser and the EMA stay float32 in every case.

NOT YET RUN ON A GPU: the CUDA paths here are written and reviewed; the machine they were written on
has no GPU (tests/python/test_distributed.py runs them when one is present, and skips otherwise).
"""

import contextlib
from dataclasses import dataclass

import torch


def resolve_device(requested, local_rank=0, world_size=1):
    """--device text -> torch.device. "cuda" under torchrun is this process's card (LOCAL_RANK);
    an explicit "cuda:N" is for one process only (several processes on one card would each hold
    the whole model and fight for it)."""
    dev = torch.device(requested)
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise SystemExit(f"--device {requested}: only cpu and cuda[:N] are supported")
    if not torch.cuda.is_available():
        raise SystemExit(f"--device {requested}: this torch sees no CUDA device")
    if world_size > 1:
        if dev.index is not None:
            raise SystemExit(f"--device {requested}: with {world_size} processes give plain --device cuda "
                             "(each process takes the card of its LOCAL_RANK)")
        dev = torch.device("cuda", local_rank)
    elif dev.index is None:
        dev = torch.device("cuda", 0)
    if dev.index >= torch.cuda.device_count():
        raise SystemExit(f"--device {dev}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev


@dataclass(frozen=True)
class Precision:
    """name: fp32 | bf16 | fp16; dtype: the autocast dtype (None: no autocast); loss_scaling: the
    loss is scaled before backward and the gradients unscaled before clipping (fp16)."""
    name: str
    device_type: str
    dtype: object = None
    loss_scaling: bool = False

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self):
        return torch.cuda.amp.GradScaler() if self.loss_scaling else None


def choose_precision(device, requested="auto", bf16_supported=None):
    """--precision auto|fp32|bf16|fp16 on `device` -> Precision. auto: fp32 on the CPU; on CUDA bf16
    where the card supports it, else fp16 with loss scaling. bf16_supported: for tests (None: ask
    torch.cuda.is_bf16_supported())."""
    device = torch.device(device)
    if device.type == "cpu":
        if requested not in ("auto", "fp32"):
            raise SystemExit(f"--precision {requested}: the CPU trains in fp32 (mixed precision is for CUDA)")
        return Precision("fp32", "cpu")
    if requested == "fp32":
        return Precision("fp32", "cuda")
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if requested == "auto":
        requested = "bf16" if bf16_supported else "fp16"
    if requested == "bf16":
        if not bf16_supported:
            raise SystemExit("--precision bf16: this card has no bfloat16 (use fp16 or auto)")
        return Precision("bf16", "cuda", torch.bfloat16)
    if requested == "fp16":
        return Precision("fp16", "cuda", torch.float16, loss_scaling=True)
    raise SystemExit(f"--precision {requested}: want auto, fp32, bf16 or fp16")


def backward_and_step(loss, opt, params, max_norm, scaler=None):
    """loss.backward(), gradient clipping to max_norm, opt.step(); with a loss scaler the loss is
    scaled, the gradients unscaled before the norm is taken (so clipping sees true gradients), and
    a step whose gradients overflowed is skipped by the scaler. -> the gradient norm."""
    if scaler is None:
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        opt.step()
        return gnorm
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    gnorm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    scaler.step(opt)
    scaler.update()
    return gnorm
