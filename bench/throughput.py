"""Training samples/s: the tutorial's loop (seed_loop.py) against workbench's engine, same data, same run.

  python bench/throughput.py memory        CIFAR-shaped uint8 images in memory (seed_loop --data fake)
  python bench/throughput.py folder        a generated folder of 10,000 32x32 PNG (or --format jpg) files

Both run the tutorial's CIFAR-10 model with SGD(lr=0.01), batch 64. The engine is timed after its
first epoch (decoding happens once, before training); the seed loop over --steps steps after warm-up.
Prints `seed_loop=`, `workbench=` and `ratio=` lines.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.config import parse_config  # noqa: E402
from core.train.events import EpochEnded  # noqa: E402
from core.runs.recorder import create_run  # noqa: E402
from core.train.engine import fit  # noqa: E402

DEFAULT_SEED_LOOP = REPO.parent / "shared" / "bench" / "seed_loop.py"  # the team's shared/ beside the repository
MODEL = """
model:
  layers:
    - conv2d: {out_channels: 32, kernel_size: 5, padding: 2}
    - maxpool2d: {kernel_size: 2}
    - conv2d: {out_channels: 32, kernel_size: 5, padding: 2}
    - maxpool2d: {kernel_size: 2}
    - conv2d: {out_channels: 64, kernel_size: 5, padding: 2}
    - maxpool2d: {kernel_size: 2}
    - flatten
    - linear: {out_features: 64}
    - linear: {out_features: auto}
train: {optimizer: {name: sgd, lr: 0.01}}
"""


def make_folder(root: Path, count: int, suffix: str) -> Path:
    """`count` random 32x32 images (`suffix`: png or jpg) in 10 class folders (kept between runs)."""
    marker = root / f".complete-{count}"
    if marker.exists():
        return root
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:05d}.{suffix}")
    marker.write_text("")
    return root


def make_cifar_layout(root: Path, count: int = 50000) -> Path:
    """Random data like seed_loop's `fake` (50,000 images by default), as CIFAR-10 python batches."""
    import pickle

    folder = root / "cifar-10-batches-py"
    if (folder / "test_batch").exists():
        return root
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8).transpose(0, 3, 1, 2).reshape(count, -1)
    labels = rng.integers(0, 10, count).tolist()
    for i in range(5):
        part = slice(i * count // 5, (i + 1) * count // 5)
        (folder / f"data_batch_{i + 1}").write_bytes(pickle.dumps({"data": data[part], "labels": labels[part]}))
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data[:1000], "labels": labels[:1000]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return root


def seed_loop(script: Path, data: str, steps: int, device: str) -> float:
    out = subprocess.run([sys.executable, str(script), "--data", data, "--steps", str(steps), "--device", device, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def workbench(data_yaml: str, epochs: int, device: str, runs: Path) -> float:
    config = parse_config(f"name: bench\nseed: 0\ndata: {data_yaml}\n{MODEL}",
                          [f"train.epochs={epochs}", f"train.device={device}"])
    speeds: list[float] = []

    def emit(event) -> None:
        if isinstance(event, EpochEnded):
            speeds.append(event.samples_per_second)
            print(f"  workbench epoch {event.epoch}: {event.samples_per_second:,.0f} samples/s", flush=True)

    fit(config, create_run(runs, "bench", config), emit=emit, should_stop=lambda: False)
    return float(np.median(speeds[1:] if len(speeds) > 1 else speeds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=["memory", "folder"])
    parser.add_argument("--seed-loop", type=Path, default=DEFAULT_SEED_LOOP)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "workbench-bench")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--format", choices=["png", "jpg"], default="png", help="image files of the folder case")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if not args.seed_loop.is_file():
        parser.error(f"the tutorial's loop is not at {args.seed_loop}: pass --seed-loop PATH")
    started = time.perf_counter()
    if args.case == "memory":
        root = make_cifar_layout(args.work / "cifar10")
        tutorial = seed_loop(args.seed_loop, "fake", args.steps, args.device)
        ours = workbench(f"{{source: cifar10, path: {root}, val_split: 0.02}}", args.epochs, args.device, args.work / "runs")
    else:
        root = make_folder(args.work / f"folder{args.files}-{args.format}", args.files, args.format)
        tutorial = seed_loop(args.seed_loop, str(root), args.steps, args.device)
        ours = workbench(f"{{source: folder, path: {root}, val_split: 0.02}}", args.epochs, args.device, args.work / "runs")
    print(f"seed_loop={tutorial:.1f} samples/s")
    print(f"workbench={ours:.1f} samples/s (median after the first epoch)")
    print(f"ratio={ours / tutorial:.2f} case={args.case} device={args.device} threads={torch.get_num_threads()} "
          f"total={time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
