#!/usr/bin/python3
"""Times the PyTorch reference's float32 inference forward: the peer of the C benchmark.

  bench_reference.py --config adatosk-b --keep 0.5 --threads 2 --repeat 3 --seed 0 \
      --model-out /tmp/b.safetensors

Builds the named config with random weights (seeded), saves them (F32, no decoder) to
--model-out so the C benchmark loads the same weights, then prints one JSON line:
{"config", "keep", "threads", "ms_median", "ms_min", "torch", "malloc"}.

--malloc tuned (default) keeps glibc from handing every large tensor back to the kernel
(mmap threshold 32 MiB, no trimming): PyTorch has no caching allocator on the CPU, and with
glibc's defaults each fresh attention matrix costs thousands of page faults, which on this
machine doubled the adatosk-b time. "default" measures PyTorch as it runs out of the box.
"""

import argparse
import ctypes
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from adatosk.config import NAMED_CONFIGS, named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import save_model  # noqa: E402


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def tune_malloc():
    libc = ctypes.CDLL("libc.so.6")
    ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    return "tuned" if ok else "default"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="adatosk-b", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--keep", type=float, default=None, help="keep ratio (default: the config's)")
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-out", help="write the weights here (F32, no decoder)")
    ap.add_argument("--malloc", choices=["tuned", "default"], default="tuned",
                    help="glibc allocator settings (see above)")
    args = ap.parse_args()
    malloc = tune_malloc() if args.malloc == "tuned" else "default"

    threads = args.threads if args.threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    config = named_config(args.config)
    keep = config.keep_ratio if args.keep is None else args.keep
    model = AdaTosk(config, with_decoder=False).eval()
    if args.model_out:
        save_model(args.model_out, model, config, dtype="f32", name=args.config, include_decoder=False)
    h, w = config.img_hw
    clip = torch.randn(1, 3, config.num_frames, h, w, generator=torch.Generator().manual_seed(args.seed + 1))

    times = []
    with torch.inference_mode():
        model(clip, keep)                      # warm-up
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            model(clip, keep)
            times.append((time.perf_counter() - t0) * 1000.0)
    print(json.dumps({"config": args.config, "keep": keep, "threads": threads,
                      "ms_median": statistics.median(times), "ms_min": min(times),
                      "torch": torch.__version__, "malloc": malloc}))


if __name__ == "__main__":
    main()
