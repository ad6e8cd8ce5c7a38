"""Training in several processes: torch.distributed as started by torchrun.

  torchrun --nproc_per_node=N train/train.py ...                       (one machine, N processes)
  torchrun --nnodes=M --nproc_per_node=N --rdzv_id=RUN --rdzv_backend=c10d \
      --rdzv_endpoint=HOST:29400 train/train.py ...       (M machines: the same command on each)

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; this module reads nothing
else, so any torchrun rendezvous works unchanged. The backend is gloo on the CPU and NCCL on CUDA.

How N processes give the run of one (train.py): every process draws the whole global batch
(--batch clips: indices, augmentation choices, tube masks) from the same seeded generators
(batch_plan.py) and takes its own slice of batch/N clips; each process's loss is the mean over its
slice, and DistributedDataParallel averages the gradients, which is the gradient of the mean over the
global batch. The model and its training-only heads are wrapped together, so the heads' gradients are
averaged too. Only rank 0 keeps the EMA, evaluates, writes logs, checkpoints and model files; a
checkpoint holds nothing that depends on N, so a run resumes with any number of processes.
"""

import os
import sys
import threading
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.size > 1


def world_from_env(environ=os.environ):
    """This process's place, from torchrun's variables (one process when they are absent)."""
    return World(rank=int(environ.get("RANK", 0)), size=int(environ.get("WORLD_SIZE", 1)),
                 local_rank=int(environ.get("LOCAL_RANK", 0)))


def start(world, device):
    """Joins the process group (a no-op for one process)."""
    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, init_method="env://", rank=world.rank, world_size=world.size)


# How long the process group's teardown may take before the process leaves without it.
DESTROY_TIMEOUT_S = 60


def stop(world):
    """Leaves the process group once every process has finished (the barrier: rank 0's files are
    written). destroy_process_group() now and then never returns (pytorch/pytorch#75097; seen here
    with gloo on torch 1.13, once in a few dozen runs: torchrun then waits for that worker forever),
    so it runs on a thread of its own, and a process it keeps past DESTROY_TIMEOUT_S exits without
    it: nothing is left to communicate and the run's files are complete."""
    if not (world.distributed and dist.is_initialized()):
        return
    dist.barrier()
    teardown = threading.Thread(target=dist.destroy_process_group, daemon=True)
    teardown.start()
    teardown.join(DESTROY_TIMEOUT_S)
    if teardown.is_alive():
        print(f"rank {world.rank}: the process group's teardown did not end in {DESTROY_TIMEOUT_S} s "
              "(a known torch.distributed hang); the run is complete, leaving without it", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(0)


def wrap(module, world, device, find_unused=False):
    """module wrapped for gradient averaging across the processes (itself for one process).
    find_unused: some parameters may take no part in a step's loss (DDP then looks for them every
    step instead of waiting for their gradients forever)."""
    if not world.distributed:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        module, device_ids=ids, output_device=ids[0] if ids else None, find_unused_parameters=find_unused)


def rank_slice(global_batch, world):
    """The clips of the global batch this process trains on: equal consecutive slices, so the mean
    of the per-process mean losses is the mean over the global batch."""
    if global_batch % world.size:
        raise SystemExit(f"--batch {global_batch} is the global batch: it must be a multiple of the "
                         f"{world.size} processes")
    share = global_batch // world.size
    return slice(world.rank * share, (world.rank + 1) * share)


def mean_over_ranks(values, world, device):
    """{name: float} averaged over the processes (each a mean over an equal slice: the global
    batch's mean), for the log."""
    if not world.distributed or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= world.size
    return dict(zip(keys, t.tolist()))
