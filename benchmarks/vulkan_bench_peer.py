#!/usr/bin/python3
"""The PyTorch peer of benchmarks/vulkan_bench.c, measured in the same run.

  vulkan_bench_peer.py --config adatosk-b --keeps 1.0,0.5 --repeat 10 --seed 0 \
      --model-out /tmp/b.safetensors

Builds the named configuration with random weights (seeded) through the reference model
(train/adatosk), writes them as F32 without decoder so that the C benchmark loads the very
same weights, and, when CUDA is available, times the reference's inference forward on the GPU
in fp32 with TF32 off and in fp16 (model and clip in half precision), plus the fp32 rate
(TF32 off) of a large square torch.matmul: the peer of the Vulkan GEMM shader. Prints one JSON
line: {"config", "cuda", "device", "torch", "fp32": {keep: ms}, "fp16": {keep: ms},
"matmul_size", "matmul_gflops"} (times are medians; null without CUDA).
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

import torch  # noqa: E402

from adatosk.config import NAMED_CONFIGS, named_config  # noqa: E402
from adatosk.model import AdaTosk  # noqa: E402
from adatosk.safetensors_io import save_model  # noqa: E402


def cuda_ms(fn, repeat):
    """Median wall time of fn() in ms, synchronising the GPU around each run."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="adatosk-b", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--keeps", default="1.0,0.5")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--matmul-size", type=int, default=8192)
    ap.add_argument("--model-out", required=True)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    config = named_config(args.config)
    model = AdaTosk(config, with_decoder=False).eval()
    save_model(args.model_out, model, config, dtype="f32", name=args.config, include_decoder=False)
    keeps = [float(k) for k in args.keeps.split(",")]
    result = {"config": args.config, "cuda": torch.cuda.is_available(), "device": None,
              "torch": torch.__version__, "fp32": None, "fp16": None,
              "matmul_size": args.matmul_size, "matmul_gflops": None}
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        result["device"] = torch.cuda.get_device_name(0)
        h, w = config.img_hw
        clip = torch.randn(1, 3, config.num_frames, h, w,
                           generator=torch.Generator().manual_seed(args.seed + 1)).cuda()
        model = model.cuda()
        with torch.inference_mode():
            result["fp32"] = {str(k): cuda_ms(lambda: model(clip, k), args.repeat) for k in keeps}
            half, clip_h = model.half(), clip.half()
            result["fp16"] = {str(k): cuda_ms(lambda: half(clip_h, k), args.repeat) for k in keeps}
            n = args.matmul_size
            a = torch.randn(n, n, device="cuda")
            b = torch.randn(n, n, device="cuda")
            ms = cuda_ms(lambda: a @ b, args.repeat)
            result["matmul_gflops"] = 2.0 * n ** 3 / (ms * 1e6)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
