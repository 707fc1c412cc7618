"""How long re-checking a layer stack takes after one edit (the Model screen does it per key).

  python bench/shape_check.py [--layers 50] [--repeat 20]

Prints the median milliseconds of check_stack on a conv/relu/batchnorm stack of about --layers
layers on a 3x32x32 input, and the same stack's real forward pass on CPU for comparison.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from core.model.registry import parse_stack
from core.model.stack import build_model, check_stack


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    block = [{"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}}, "relu", "batchnorm2d"]
    specs = parse_stack(block * (args.layers // 3) + ["flatten", {"linear": {"out_features": "auto"}}])
    shape = (3, 32, 32)
    check_stack(specs, shape, 10)
    check = median_ms(lambda: check_stack(specs, shape, 10), args.repeat)
    model, _ = build_model(specs, shape, 10)
    x = torch.randn(1, *shape)
    with torch.inference_mode():
        forward = median_ms(lambda: model(x), args.repeat)
    print(f"layers={len(specs)} check_ms={check:.1f} real_forward_ms={forward:.1f} target_check_ms=50")


if __name__ == "__main__":
    main()
