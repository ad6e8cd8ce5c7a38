#!/usr/bin/python3
"""Writes a randomly initialised AdaTosk model file (for tests and benchmarks).

  make_model.py --config adatosk-tiny --set img_size=[48,64] --set keep_ratio=0.37 \
      --seed 1 --dtype f16 --no-decoder --out model.safetensors
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from adatosk.config import NAMED_CONFIGS, named_config, parse_overrides  # noqa: E402
from adatosk.model import AdaTosk, perturb_for_tests_  # noqa: E402
from adatosk.safetensors_io import save_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="adatosk-tiny", choices=sorted(NAMED_CONFIGS))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="override a config key, e.g. --set img_size=[48,64]")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--no-decoder", action="store_true", help="inference file: no decoder tensors")
    ap.add_argument("--test-weights", action="store_true",
                    help="spread the weights (LayerNorm around 1, 1/sqrt(fan_in) matrices, "
                         "non-trivial prototypes) so outputs vary with the input")
    ap.add_argument("--labels", help="JSON list of class names (default: face-api order)")
    ap.add_argument("--name", default=None, help="adatosk.name (default: the config name)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    try:
        config = named_config(args.config, **parse_overrides(args.set))
    except (ValueError, TypeError) as e:
        raise SystemExit(str(e))
    torch.manual_seed(args.seed)
    model = AdaTosk(config, with_decoder=config.has_decoder and not args.no_decoder)
    if args.test_weights:
        perturb_for_tests_(model, torch.Generator().manual_seed(args.seed))
    labels = json.loads(args.labels) if args.labels else None
    save_model(args.out, model, config, labels, dtype=args.dtype, name=args.name or args.config,
               include_decoder=not args.no_decoder)


if __name__ == "__main__":
    main()
