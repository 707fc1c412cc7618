"""The embedded default dataset: small pictures of five drawn shapes, generated on first use.

Each image is drawn at 4x its size and downsampled (LANCZOS) for anti-aliasing, with a
random shape colour on a clearly brighter background colour, size, position, rotation
(up to 30 degrees either way) and mild pixel noise. Generation is deterministic: every image has its own
generator seeded from (options.seed, split, class, index), so the same options always give
byte-identical files.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from core.errors import DataError
from core.files import write_problem

if TYPE_CHECKING:  # the config builds its data section from core.data.sources, which imports this module
    from core.config import ShapesOptions

SHAPE_CLASSES = ["circle", "square", "triangle", "star", "cross"]
GENERATOR_VERSION = 1
MARKER = ".shapes.json"

_SCALE = 4  # drawn at 4x, then downsampled
_NOISE_STD = 4.0  # pixel noise, in 0-255 units
_MAX_TILT = math.radians(30)  # rotation range, either way
_MIN_CONTRAST = 70  # least brightness difference between shape and background (0-255), so greyscale works too
_STALE_PARTIAL_S = 3600  # unfinished generations older than this are removed


def ensure_shapes(root: Path, options: ShapesOptions) -> Path:
    """Make sure `root` holds the shapes dataset for `options`; return `root`.

    A complete dataset made with the same options is reused at once. Otherwise the dataset
    is generated in a hidden sibling folder and renamed into place, so an interrupted run
    never leaves half a dataset. A stale shapes dataset is replaced; a folder that is not a
    shapes dataset is never touched (DataError).
    """
    root = Path(root)
    marker = _marker(options)
    if _is_complete(root, marker):
        return root
    if root.exists() and not _is_replaceable(root):
        raise DataError(
            f"{root} exists but is not a generated shapes dataset (no {MARKER} in it)\n"
            f"    hint: point data.path at another folder for source 'shapes', or use source 'folder' for your own images"
        )
    partial = root.parent / f".{root.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(root)
        _generate(partial, options)
        (partial / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        _swap_into_place(partial, root)
    except OSError as exc:
        raise DataError(f"cannot generate the shapes demo data in {root}: "
                        f"{write_problem(exc)}\n"
                        "    hint: point data.path at a folder you can write to, e.g. --set data.path=/tmp/shapes") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root


def _draw_shape(name: str, rng: random.Random, size: int) -> Image.Image:
    """One size x size RGB picture of shape `name`, everything varied by `rng`."""
    big = size * _SCALE
    background, colour = _colours(rng)
    radius = rng.uniform(0.32, 0.44) * big  # the shape spans ~45-88% of the side
    cx = rng.uniform(radius, big - radius)
    cy = rng.uniform(radius, big - radius)
    angle = rng.uniform(-_MAX_TILT, _MAX_TILT)
    canvas = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(canvas)
    if name == "circle":
        r = radius * 0.9
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    else:
        points = [(cx + x * radius * math.cos(angle) - y * radius * math.sin(angle),
                   cy + x * radius * math.sin(angle) + y * radius * math.cos(angle)) for x, y in _OUTLINES[name]]
        draw.polygon(points, fill=colour)
    small = np.asarray(canvas.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    noise = np.random.default_rng(rng.getrandbits(64)).normal(0.0, _NOISE_STD, small.shape)
    return Image.fromarray(np.clip(small + noise, 0, 255).round().astype(np.uint8))


def _polygon(radii: list[float], start: float = -math.pi / 2) -> list[tuple[float, float]]:
    """Unit-scale vertices at evenly spaced angles with the given radii."""
    step = 2 * math.pi / len(radii)
    return [(r * math.cos(start + i * step), r * math.sin(start + i * step)) for i, r in enumerate(radii)]


_ARM = 0.32  # half-width of the cross's arms
_OUTLINES = {
    "square": _polygon([1.0] * 4, start=math.pi / 4),
    "triangle": _polygon([1.0] * 3),
    "star": _polygon([1.0, 0.42] * 5),
    "cross": [(-_ARM, -1), (_ARM, -1), (_ARM, -_ARM), (1, -_ARM), (1, _ARM), (_ARM, _ARM),
              (_ARM, 1), (-_ARM, 1), (-_ARM, _ARM), (-1, _ARM), (-1, -_ARM), (-_ARM, -_ARM)],
}


def _colours(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(background, shape) colours with a clear brightness difference."""
    while True:
        a, b = _random_rgb(rng), _random_rgb(rng)
        if abs(_luma(a) - _luma(b)) >= _MIN_CONTRAST:
            return (a, b) if _luma(a) > _luma(b) else (b, a)


def _random_rgb(rng: random.Random) -> tuple[int, int, int]:
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def _luma(rgb: tuple[int, ...]) -> float:
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def _generate(folder: Path, options: ShapesOptions) -> None:
    for split, count in (("train", options.train_per_class), ("val", options.val_per_class)):
        for name in SHAPE_CLASSES:
            out = folder / split / name
            out.mkdir(parents=True)
            for i in range(count):
                rng = random.Random(f"shapes/{options.seed}/{split}/{name}/{i}")
                _draw_shape(name, rng, options.size).save(out / f"{i}.png", format="PNG")


def _marker(options: ShapesOptions) -> dict:
    return {"generator": GENERATOR_VERSION, "options": options.model_dump(mode="json")}


def _read_marker(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(root: Path, marker: dict) -> bool:
    if _read_marker(root) != marker:
        return False
    options = marker["options"]
    for split, count in (("train", options["train_per_class"]), ("val", options["val_per_class"])):
        for name in SHAPE_CLASSES:
            try:
                if len(os.listdir(root / split / name)) != count:
                    return False
            except OSError:
                return False
    return True


def _is_replaceable(root: Path) -> bool:
    """An older shapes dataset or an empty folder may be replaced; anything else is the user's."""
    return root.is_dir() and ((root / MARKER).is_file() or not any(root.iterdir()))


def _swap_into_place(partial: Path, root: Path) -> None:
    old = root.parent / f".{root.name}.old-{uuid.uuid4().hex[:8]}"
    if root.exists():
        os.replace(root, old)
    os.replace(partial, root)
    shutil.rmtree(old, ignore_errors=True)


def _remove_stale_partials(root: Path) -> None:
    """Clear leftovers of interrupted runs (partials only once too old to be another run's work)."""
    for leftover in root.parent.glob(f".{root.name}.old-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in root.parent.glob(f".{root.name}.partial-*"):
        try:
            if time.time() - leftover.stat().st_mtime > _STALE_PARTIAL_S:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass
