"""Planted faults found by `workbench cv` + `workbench clean`: flipped labels, copies within train and across the split.

  python bench/label_issues.py                        the shared CIFAR-10 JPEGs (skipped when absent)
  python bench/label_issues.py FOLDER --subset 500 --flip 0.05 --copies 20 --folds 3

From a CIFAR-10-style folder (<folder>/<class>/*.jpg) it builds a train/ + val/ layout of SUBSET
training and SUBSET/10 validation images per class (symlinks, first files by name), moves FLIP of
the training images into a wrong class folder (a flipped label), and plants COPIES resized,
re-encoded JPEG copies: half of training images into another training folder of the same class,
half into val/ (leaks). Then, as a user would: `workbench cv` (configs/cifar10_fast.yaml on the
folder, batch 128) and `workbench clean --json`. It prints the precision and recall of the flips among the
label issues and of the copies among the duplicate groups, and the minutes each command took.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "configs" / "cifar10_fast.yaml"
SHARED = REPO.parent / "shared" / "datasets" / "cifar10_train_jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=SHARED, help="a CIFAR-10-style folder")
    parser.add_argument("--subset", type=int, default=500, help="training images per class (default: 500)")
    parser.add_argument("--flip", type=float, default=0.05, help="share of training labels flipped (default: 0.05)")
    parser.add_argument("--copies", type=int, default=20, help="copies planted, half of them leaks (default: 20)")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12, help="each fold's epochs (default: 12, the config's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if not args.folder.is_dir():
        print(f"skipped: no folder at {args.folder}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        data = work / "data"
        flipped = layout(args.folder, data, args.subset, args.flip)
        copies = plant_copies(data, args.copies)
        config = write_config(work / "bench-clean.yaml", data, args.epochs, args.device)
        cv_minutes = timed([sys.executable, "-m", "workbench", "cv", str(config), "--folds", str(args.folds),
                            "--runs-dir", str(work / "runs")])
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "workbench", "clean", str(config), "--json",
                                 "--runs-dir", str(work / "runs")], env=ENV, check=True, capture_output=True, text=True)
        clean_minutes = (time.perf_counter() - started) / 60
        findings = json.loads(result.stdout)
        pairs = {frozenset(str(Path(p).relative_to(data)) for p in group["paths"]) for group in findings["duplicates"]}
    found = {Path(issue["path"]).name for issue in findings["label_issues"]}
    planted = {path.name for path in flipped}
    caught = [pair for pair in copies if any(pair <= group for group in pairs)]
    leaks = sum(group["across_splits"] for group in findings["duplicates"])
    print(f"\n{args.subset} training images per class, {len(planted)} flipped labels, {len(copies)} planted copies "
          f"({len(copies) - len(copies) // 2} across the split), {args.folds} folds of {args.epochs} epochs")
    print(f"  label issues: {len(found)} flagged, precision {ratio(len(found & planted), len(found))}, "
          f"recall {ratio(len(found & planted), len(planted))}")
    print(f"  duplicates: {len(pairs)} groups ({leaks} across the split), copies found {len(caught)} of {len(copies)} "
          f"(recall {ratio(len(caught), len(copies))}), precision {ratio(len(caught), len(pairs))}")
    print(f"  outliers: {len(findings['outliers'])}")
    print(f"  minutes: cv {cv_minutes:.1f}, clean {clean_minutes:.1f}")


ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def layout(source: Path, data: Path, per_class: int, flip: float) -> list[Path]:
    """train/ and val/ folders of symlinks; `flip` of the training images moved to another class: their new paths."""
    classes = sorted(path.name for path in source.iterdir() if path.is_dir())
    train: list[Path] = []
    for name in classes:
        images = sorted((source / name).iterdir())
        for split, chosen in (("train", images[:per_class]), ("val", images[per_class:per_class + per_class // 10])):
            (data / split / name).mkdir(parents=True)
            for image in chosen:
                (data / split / name / image.name).symlink_to(image.resolve())
                if split == "train":
                    train.append(data / split / name / image.name)
    moved = []
    generator = random.Random(0)
    for link in generator.sample(train, round(flip * len(train))):
        other = generator.choice([name for name in classes if name != link.parent.name])
        target = data / "train" / other / f"flipped-{link.parent.name}-{link.name}"
        link.rename(target)
        moved.append(target)
    return moved


def plant_copies(data: Path, count: int) -> list[frozenset[str]]:
    """Resized, re-encoded copies of training images (not flipped ones): (original, copy) pairs, relative to data."""
    originals = sorted(path for path in (data / "train").glob("*/*") if not path.name.startswith("flipped-"))
    pairs = []
    for number, original in enumerate(random.Random(1).sample(originals, count)):
        split = "val" if number % 2 else "train"
        target = data / split / original.parent.name / f"copy{number}-{original.stem}.jpg"
        with Image.open(original) as image:
            resized = image.convert("RGB").resize((40, 40), Image.Resampling.BILINEAR)
        buffer = io.BytesIO()
        resized.save(buffer, "JPEG", quality=75)
        target.write_bytes(buffer.getvalue())
        pairs.append(frozenset({str(original.relative_to(data)), str(target.relative_to(data))}))
    return pairs


def write_config(path: Path, data: Path, epochs: int, device: str) -> Path:
    raw = yaml.safe_load(BASE.read_text())
    raw["name"] = "bench-clean"
    raw["data"].update(source="folder", path=str(data), download=False, batch_size=128)  # 512 leaves a fold few steps
    raw["train"].update(epochs=epochs, device=device)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=ENV, check=True)
    return (time.perf_counter() - started) / 60


def ratio(part: int, whole: int) -> str:
    return f"{part / whole:.2f}" if whole else "-"


if __name__ == "__main__":
    main()
