#!/usr/bin/python3
"""The PyTorch peer of benchmarks/vulkan_bench.c, measured in the same run.

  vulkan_bench_peer.py --model FILE --keeps 1.00,0.50 --repeat 20 --warmup-ms 1000 \
      --shapes 800x2304x768,800x768x768,...

Loads the weights the C benchmark made (the same .safetensors file) into the reference model
(train/adatosk) and, when CUDA is available, times its inference forward on the GPU in fp32 with
TF32 off and in fp16 (model and clip in half precision), and F.linear (A W^T, TF32 off) on the
given M x N x K shapes: the Vulkan GEMM shader's peer on the same products. Like the Vulkan side,
each timed forward uploads the clip from host memory and reads the logits back; each series
first warms up for --warmup-ms (clock ramp). Prints one JSON line: {"cuda", "device", "torch",
"fp32": {keep: ms}, "fp16": {keep: ms}, "matmul_ms": {"MxNxK": ms}} (medians; null without
CUDA, and then the model file is not even read). Exits 0 whenever it could print that line.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))


def cuda_ms(torch, fn, repeat, warmup_ms):
    """Median wall time of fn() in ms after warm-up, synchronising around each run."""
    start = time.perf_counter()
    while True:
        fn()
        torch.cuda.synchronize()
        if (time.perf_counter() - start) * 1000.0 >= warmup_ms:
            break
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--keeps", default="1.00,0.50")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup-ms", type=float, default=1000.0)
    ap.add_argument("--shapes", default="")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    keeps = [k for k in args.keeps.split(",") if k]
    shapes = [s for s in args.shapes.split(",") if s]
    result = {"cuda": False, "device": None, "torch": "not installed", "fp32": None,
              "fp16": None, "matmul_ms": None}
    try:
        import torch
    except ImportError:
        print(json.dumps(result))
        return
    result["torch"] = torch.__version__
    result["cuda"] = torch.cuda.is_available()
    if not result["cuda"]:
        print(json.dumps(result))
        return

    from adatosk.safetensors_io import load_model

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    result["device"] = torch.cuda.get_device_name(0)
    model, config, _, _ = load_model(args.model)
    model = model.eval().cuda()
    h, w = config.img_hw
    clip = torch.randn(1, 3, config.num_frames, h, w,
                       generator=torch.Generator().manual_seed(args.seed)).pin_memory()
    with torch.inference_mode():
        def forward(net, dtype, keep):
            out = net(clip.to("cuda", dtype=dtype, non_blocking=True), float(keep))
            return out["logits"].float().cpu()
        result["fp32"] = {k: cuda_ms(torch, lambda: forward(model, torch.float32, k),
                                     args.repeat, args.warmup_ms) for k in keeps}
        half = model.half()
        result["fp16"] = {k: cuda_ms(torch, lambda: forward(half, torch.float16, k),
                                     args.repeat, args.warmup_ms) for k in keeps}
        matmul = {}
        for shape in shapes:
            m, n, k = (int(v) for v in shape.split("x"))
            a = torch.randn(m, k, device="cuda")
            wt = torch.randn(n, k, device="cuda")
            per_call = 10
            ms = cuda_ms(torch, lambda: [torch.nn.functional.linear(a, wt)
                                         for _ in range(per_call)],
                         args.repeat, args.warmup_ms / 4)
            matmul[shape] = ms / per_call
        result["matmul_ms"] = matmul
    print(json.dumps(result))


if __name__ == "__main__":
    main()
