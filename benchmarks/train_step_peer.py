#!/usr/bin/python3
"""Seconds per training step of train.py on CUDA, beside the same machine's CPU in the same run.

  train_step_peer.py [--out RESULTS.md] [--dir /tmp/adatosk-train-bench] [--cpu-threads N]

Runs train.py itself (both branches, AdamW, augmentation, the device's precision: bf16 autocast on
a GPU that has it) for a few steps on random uint8 clips of each config's geometry
(bench_data.write_clips), with the input pipeline in the training process and in --workers
DataLoader processes over memory-mapped clips (--mmap), and prints (and appends to --out) a table of the median seconds per step
after the first three (warm-up: cuDNN/cuBLAS selection, the allocator filling). The CPU row uses
--cpu-threads (default: every core) and fewer steps; adatosk-b has no CPU row (minutes a step).
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.join(HERE, "..", "train")
sys.path.insert(0, TRAIN)

import torch  # noqa: E402

import train as train_mod  # noqa: E402
from adatosk.config import named_config  # noqa: E402
from bench_data import write_clips  # noqa: E402
from devices import choose_precision  # noqa: E402

# (config, batch, device, input workers, steps)
RUNS = [("adatosk-tiny", 32, "cuda", 0, 20), ("adatosk-tiny", 32, "cuda", 8, 30),
        ("adatosk-tiny", 32, "cpu", 0, 6), ("adatosk-b", 16, "cuda", 0, 15),
        ("adatosk-b", 16, "cuda", 8, 25)]


def seconds_per_step(csv_path, config, batch, device, workers, steps, threads, out_dir):
    run = os.path.join(out_dir, f"{config}-{device}-b{batch}-w{workers}")
    args = ["--train", csv_path, "--out", run, "--config", config, "--batch", str(batch),
            "--steps", str(steps), "--warmup", "2", "--device", device, "--threads", str(threads),
            "--balanced", "--color-aug", "--eval-every", "0", "--ckpt-every", str(steps + 1),
            "--quiet"] + (["--workers", str(workers), "--mmap"] if workers else [])
    t0 = time.perf_counter()
    if train_mod.main(args) != 0:
        raise RuntimeError(f"train.py failed: {' '.join(args)}")
    wall = time.perf_counter() - t0
    with open(os.path.join(run, "history.json")) as f:
        history = json.load(f)
    secs = [h["sec"] for h in history["train"]][3:]
    return statistics.median(secs), choose_precision(torch.device(device)).name, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--dir", default="/tmp/adatosk-train-bench")
    ap.add_argument("--cpu-threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    lines = ["", "## train.py seconds per step (benchmarks/train_step_peer.py)", "",
             f"torch {torch.__version__}; "
             f"{torch.cuda.get_device_name(0) if cuda else 'no CUDA device'}; CPU rows with "
             f"{args.cpu_threads} threads. Median of the steps after the third; random clips.", "",
             "| config | batch | device | precision | input workers | s/step | clips/s | wall s (incl. start) |",
             "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for config, batch, device, workers, steps in RUNS:
        if device == "cuda" and not cuda:
            continue
        workers = min(workers, max(1, (os.cpu_count() or 2) - 2)) if workers else 0
        csv_path = write_clips(os.path.join(args.dir, config), 4 * batch, named_config(config))
        threads = args.cpu_threads if device == "cpu" else 1
        try:
            sec, precision, wall = seconds_per_step(csv_path, config, batch, device, workers, steps,
                                                    threads, args.dir)
            row = (f"| {config} | {batch} | {device} | {precision} | {workers} | {sec:.4f} | "
                   f"{batch / sec:.1f} | {wall:.1f} |")
        except Exception as e:  # a failed row is a result too; the next rows still run
            row = (f"| {config} | {batch} | {device} | - | {workers} | "
                   f"failed: {type(e).__name__}: {e} | - | - |")
        lines.append(row)
        print(row, flush=True)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
