"""Small image sets with known faults for the cleaning tests: coloured textures, planted flips, copies and leaks.

Each class is a colour; each image a random texture in it, so a tiny model tells the classes
apart almost perfectly and every image has a perceptual hash of its own.
"""
from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import numpy as np
from PIL import Image

GRID = 8  # texture cells a side: enough detail for a perceptual hash to tell images apart
COLOURS = {"blue": (40, 60, 200), "green": (40, 170, 60), "red": (200, 40, 40), "yellow": (210, 200, 40)}
MODEL = """\
model:
  layers:
    - flatten
    - linear: {out_features: auto}
train:
  epochs: 3
  device: cpu
  optimizer: {name: adam, lr: 0.05}
"""


def textured(rng: np.random.Generator, colour: tuple[int, int, int], side: int = 16) -> Image.Image:
    """A random GRID x GRID texture, smoothly enlarged, in shades of `colour`."""
    texture = Image.fromarray(rng.integers(0, 256, (GRID, GRID), dtype=np.uint8)).resize((side, side), Image.BICUBIC)
    shade = 0.25 + np.asarray(texture, dtype=np.float32)[:, :, None] / 340
    return Image.fromarray((np.array(colour, dtype=np.float32) * shade).clip(0, 255).astype(np.uint8))


def colour_folder(root: Path, per_class: int = 40, seed: int = 0, side: int = 32) -> Path:
    """root/<colour>/<n>.png for every colour; returns root."""
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            textured(rng, colour, side).save(root / name / f"{n:03d}.png")
    return root


def flip_labels(root: Path, rate: float, seed: int = 1) -> set[Path]:
    """Move `rate` of the images into another class's folder (a wrong label); return where they are now."""
    files = sorted(root.glob("*/*.png"))
    moved = set()
    for path in random.Random(seed).sample(files, round(rate * len(files))):
        other = sorted(set(COLOURS) - {path.parent.name})[len(moved) % 3]
        target = root / other / f"flipped-{path.parent.name}-{path.name}"
        path.rename(target)
        moved.add(target)
    return moved


def near_copy(source: Path, target: Path, scale: float = 1.5, quality: int = 70) -> Path:
    """A resized, re-encoded JPEG copy of an image."""
    with Image.open(source) as image:
        side = round(image.width * scale)
        resized = image.convert("RGB").resize((side, side), Image.BILINEAR)
    buffer = io.BytesIO()
    resized.save(buffer, "JPEG", quality=quality)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    return target


def checksums(root: Path) -> dict[str, str]:
    """Every file under root by relative path: its SHA-256, size and modification time."""
    return {str(path.relative_to(root)): f"{hashlib.sha256(path.read_bytes()).hexdigest()} {path.stat().st_size} "
            f"{path.stat().st_mtime_ns}" for path in sorted(root.rglob("*")) if path.is_file()}


def stranger(path: Path, seed: int = 0) -> Path:
    """An image of no class: grey stripes, like a screenshot in a folder of photos."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(rng.choice([20, 235], size=(8, 1)), 4, axis=0) * np.ones((1, 32))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rows.astype(np.uint8)).convert("RGB").save(path)
    return path
