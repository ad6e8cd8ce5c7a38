#!/usr/bin/python3
"""Clips per second of train.py's input pipeline: clip list -> loaded, augmented clips of a step.

  bench_data.py [--clips 96] [--config adatosk-tiny] [--batch 8] [--steps 24] [--workers 0 1 2]
               [--dir /tmp/bench-data]

Writes --clips random uint8 clips of the config's geometry (adatosk-tiny: 16x112x112, 0.6 MB each)
as .npy under --dir (kept and reused), then times what train.py does before the forward
(batch_plan.RankBatches: plan the global batch, load, centre crop, augment with colour and
zoom-out) for --steps steps of --batch clips, and prints a table: the in-memory cache (its first
pass reads every file; later passes are served from memory), and memory-mapped clips read by 0 and
--workers DataLoader processes. The files are in the page cache after the first row (as on any
machine with memory to spare); a dataset larger than memory reads from the disk as well.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from adatosk.config import DEFAULT_LABELS, NAMED_CONFIGS, named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from batch_plan import BatchPlanner, RankBatches  # noqa: E402
from dataset import ClipDataset  # noqa: E402
from train import BatchSampler  # noqa: E402


def write_clips(folder, n, config):
    T, (H, W) = config.num_frames, config.img_hw
    csv_path = os.path.join(folder, f"clips-{n}-{T}x{H}x{W}.csv")
    if os.path.exists(csv_path):
        return csv_path
    os.makedirs(os.path.join(folder, "clips"), exist_ok=True)
    g = np.random.default_rng(0)
    rows = ["path,label"]
    for i in range(n):
        rel = os.path.join("clips", f"c{T}x{H}x{W}_{i:05d}.npy")
        np.save(os.path.join(folder, rel), g.integers(0, 256, (T, H, W, 3), dtype=np.uint8))
        rows.append(f"{rel},{i % config.num_classes}")
    with open(csv_path, "w") as f:
        f.write("\n".join(rows) + "\n")
    return csv_path


def clips_per_second(csv_path, config, batch, steps, mmap, workers, warm=False):
    labels = DEFAULT_LABELS[:config.num_classes]
    ds = ClipDataset(csv_path, config, labels, train=True, seed=1, color=True, zoom_out=0.8, mmap=mmap)
    if warm:
        for i in range(len(ds)):
            ds.clip(i)
    tube_mask = AdaTosk(config, with_decoder=False).tube_mask
    planner = BatchPlanner(BatchSampler(len(ds), batch, seed=2), ds, tube_mask, torch.Generator().manual_seed(3))
    batches = RankBatches(planner, slice(0, batch), workers)
    batches.next()                   # workers started and the first batch made: not timed
    t0 = time.perf_counter()
    for _ in range(steps):
        items = batches.next()
        torch.stack([it["x"] for it in items])
    return batch * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=96)
    ap.add_argument("--config", default="adatosk-tiny", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--dir", default="/tmp/adatosk-bench-data")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = named_config(args.config)
    csv_path = write_clips(args.dir, args.clips, config)
    T, (H, W) = config.num_frames, config.img_hw
    print(f"{args.clips} clips {T}x{H}x{W}, batch {args.batch}, {args.steps} steps, colour + zoom-out "
          f"augmentation, torch threads 1, {os.cpu_count()} CPUs")
    print(f"{'clips':<28} {'workers':>7} {'clips/s':>8}")
    rows = [("in memory, first pass", False, 0, False), ("in memory, cached", False, 0, True)]
    rows += [("memory-mapped", True, w, False) for w in args.workers]
    for name, mmap, workers, warm in rows:
        steps = min(args.steps, args.clips // args.batch - 1) if name.endswith("first pass") else args.steps
        rate = clips_per_second(csv_path, config, args.batch, steps, mmap, workers, warm)
        print(f"{name:<28} {workers:>7} {rate:>8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
