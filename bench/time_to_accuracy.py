"""Validation accuracy against wall time: the tutorial's CIFAR-10 recipe and the fast one, same data, same run.

  python bench/time_to_accuracy.py ../shared/datasets/cifar10_train_jpg --budget-minutes 15
  python bench/time_to_accuracy.py --smoke          a tiny generated CIFAR-style folder, one short epoch each

Each config trains on FOLDER (a folder per class) with a seeded validation split, starting cold:
the clock starts before the image files are listed and decoded, and a run still going when the
budget ends is stopped. After every epoch it prints the minutes since the start and the validation
accuracy; at the end, each config's accuracy at every 5 minutes of the budget (the last epoch
finished by then).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.config import load_config  # noqa: E402
from core.train.events import BudgetPlanned, EpochEnded, Event  # noqa: E402
from core.runs.recorder import create_run  # noqa: E402
from core.train.engine import fit  # noqa: E402

CONFIGS = ("configs/cifar10_tutorial.yaml", "configs/cifar10_fast.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="a CIFAR-10-style folder: <folder>/<class>/*.jpg")
    parser.add_argument("--budget-minutes", type=float, default=15.0)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), metavar="CONFIG")
    parser.add_argument("--val-split", type=float, default=0.1)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every config, e.g. train.device=cuda")
    parser.add_argument("--smoke", action="store_true", help="a tiny generated folder and one short epoch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder, overrides, budget = args.folder, list(args.overrides), args.budget_minutes * 60
        if args.smoke:
            folder = folder or make_folder(Path(scratch) / "cifar", per_class=8)
            overrides += ["train.epochs=1", "data.batch_size=16"]
        if folder is None:
            parser.error("give FOLDER, or --smoke")
        curves = {config: curve(config, folder, args.val_split, overrides, budget, Path(scratch) / "runs")
                  for config in args.configs}
    print_summary(curves, budget)


def curve(config_path: str, folder: Path, val_split: float, overrides: list[str], budget: float,
          runs: Path) -> list[tuple[float, int, float]]:
    """(seconds since the start, epoch, val_accuracy) after every epoch of one config."""
    started = time.perf_counter()
    config = load_config(REPO / config_path, [
        "data.source=folder", f"data.path={folder.resolve()}", "data.download=false", f"data.val_split={val_split}",
        "data.cache_dir=null", *overrides])
    points: list[tuple[float, int, float]] = []

    def record(event: Event) -> None:
        if isinstance(event, EpochEnded):
            seconds = time.perf_counter() - started
            points.append((seconds, event.epoch, event.val_accuracy))
            print(f"{config.name:18} epoch {event.epoch:3d}  {seconds / 60:6.2f} min  "
                  f"val_accuracy {event.val_accuracy:.2%}", flush=True)
        elif isinstance(event, BudgetPlanned):  # when each plan expects to end: which part of a late run ran over
            seconds = time.perf_counter() - started + event.ends_at - time.time()
            print(f"{config.name:18} plan {event.epochs:6.2f} epochs ({event.steps} steps), ending at "
                  f"{seconds / 60:6.2f} min{'  (re-planned)' if event.replanned else ''}", flush=True)

    fit(config, create_run(runs, config.name, config), emit=record,
        should_stop=lambda: time.perf_counter() - started > budget)
    return points


def accuracy_by(points: list[tuple[float, int, float]], seconds: float) -> float | None:
    """The validation accuracy of the last epoch finished within `seconds`."""
    reached = [accuracy for at, _, accuracy in points if at <= seconds]
    return reached[-1] if reached else None


def print_summary(curves: dict[str, list[tuple[float, int, float]]], budget: float) -> None:
    marks = [minutes for minutes in range(5, int(budget // 60) + 1, 5)] or [budget / 60]
    print("\naccuracy at " + ", ".join(f"{m:g} min" for m in marks))
    for config, points in curves.items():
        cells = [accuracy_by(points, m * 60) for m in marks]
        print(f"{Path(config).name:28} " + "  ".join("-" if c is None else f"{c:.2%}" for c in cells)
              + f"  ({len(points)} epochs)")


def make_folder(root: Path, per_class: int) -> Path:
    """A CIFAR-10-style folder of random 32x32 JPEGs, `per_class` in each of 10 classes."""
    rng = np.random.default_rng(0)
    for label in range(10):
        (root / f"class{label}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / f"class{label}" / f"{i}.jpg")
    return root


if __name__ == "__main__":
    main()
