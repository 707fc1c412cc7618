"""A sweep with pruning against the same sweep without it, and the best trial against the untuned config.

  python bench/sweep.py ../shared/datasets/cifar10_train_jpg --minutes 20 --subset 500
  python bench/sweep.py --smoke          a tiny generated CIFAR-style folder and a 2-minute budget

On SUBSET training images per class of a CIFAR-10-style folder (symlinked, first files by name,
a seeded 10% validation split), the tutorial's CIFAR-10 net is swept for MINUTES with the median
pruner and then for MINUTES without pruning (same space, same TPE seed, one worker: the CPU's
threads all go to it), each with `workbench sweep` as a user runs it. Then the untuned config
trains once for the same epochs. It prints, for each sweep: trials finished (complete or pruned)
per hour, how many were pruned, and the best val_accuracy; and the untuned run's val_accuracy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "configs" / "cifar10_tutorial.yaml"
SPACE = {
    "train.optimizer.lr": {"log_uniform": [1.0e-3, 0.3]},
    "train.optimizer.momentum": {"uniform": [0.0, 0.95]},
    "train.loss.label_smoothing": {"uniform": [0.0, 0.2]},
    "data.batch_size": {"choice": [32, 64, 128]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="a CIFAR-10-style folder: <folder>/<class>/*.jpg")
    parser.add_argument("--minutes", type=float, default=20.0, help="each sweep's budget (default: 20)")
    parser.add_argument("--subset", type=int, default=500, help="training images per class (default: 500)")
    parser.add_argument("--epochs", type=int, default=6, help="each trial's epochs (default: 6)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="a tiny generated folder, 2 epochs per trial")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if args.smoke:
            folder, args.epochs = make_folder(work / "generated", per_class=12), 2
        elif args.folder is None:
            parser.error("give FOLDER, or --smoke")
        else:
            folder = subset(args.folder, work / "subset", args.subset)
        results = {pruner: sweep(write_config(work / f"sweep-{pruner}.yaml", folder, args.epochs, args.device, pruner),
                                 work / "runs", pruner, args.minutes) for pruner in ("median", "none")}
        untuned = train_untuned(work / "sweep-none.yaml", work / "runs")
    print(f"\n{args.minutes:g}-minute sweeps, {args.epochs} epochs per trial, {args.subset} images per class")
    for pruner, result in results.items():
        print(f"  pruner {pruner:6}  {result['per_hour']:6.1f} trials/hour  {result['finished']:3d} finished "
              f"({result['pruned']} pruned)  best val_accuracy {fmt(result['best'])}")
    print(f"  untuned config   val_accuracy {fmt(untuned)}")


def subset(source: Path, target: Path, per_class: int) -> Path:
    """The first `per_class` images of every class folder, as symlinks."""
    for class_dir in sorted(path for path in source.iterdir() if path.is_dir()):
        (target / class_dir.name).mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:per_class]:
            (target / class_dir.name / image.name).symlink_to(image.resolve())
    return target


def make_folder(target: Path, per_class: int) -> Path:
    import numpy as np
    from PIL import Image

    generator = np.random.default_rng(0)
    for label in range(10):
        (target / f"class{label}").mkdir(parents=True)
        for index in range(per_class):
            pixels = generator.integers(0, 60, (32, 32, 3), dtype=np.uint8) + label * 19
            Image.fromarray(pixels).save(target / f"class{label}" / f"{index:03d}.jpg")
    return target


def write_config(path: Path, folder: Path, epochs: int, device: str, pruner: str) -> Path:
    raw = yaml.safe_load(BASE.read_text())
    raw["name"] = "bench-sweep"
    raw["data"].update(source="folder", path=str(folder.resolve()), download=False, val_split=0.1)
    raw["train"].update(epochs=epochs, device=device, optimizer={"name": "sgd", "lr": 0.01, "momentum": 0.0})
    raw["sweep"] = {"metric": "val_accuracy", "sampler": "tpe", "pruner": pruner, "seed": 0, "space": SPACE}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def sweep(config: Path, runs: Path, pruner: str, minutes: float) -> dict:
    """One `workbench sweep --timeout` with the given pruner; its summary in numbers."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", "sweep", str(config), "--timeout", f"{minutes * 60:.0f}",
                    "--study", f"bench-{pruner}", "--runs-dir", str(runs)],
                   env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    hours = (time.perf_counter() - started) / 3600
    trials = json.loads((runs / ".sweeps" / f"bench-{pruner}" / "trials.json").read_text())["trials"]
    finished = [trial for trial in trials if trial["state"] in ("finished", "pruned")]
    values = [trial["value"] for trial in trials if trial["state"] == "finished" and trial["value"] is not None]
    return {"finished": len(finished), "pruned": sum(trial["state"] == "pruned" for trial in trials),
            "per_hour": len(finished) / hours, "best": max(values, default=None)}


def train_untuned(config: Path, runs: Path) -> float | None:
    """The config as written (no sweep values), trained once: its best val_accuracy."""
    before = set(runs.iterdir())
    subprocess.run([sys.executable, "-m", "workbench", "--run", str(config), "--runs-dir", str(runs)],
                   env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, stdout=subprocess.DEVNULL)
    [run] = set(runs.iterdir()) - before
    return json.loads((run / "status.json").read_text()).get("best_val_accuracy")


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


if __name__ == "__main__":
    main()
