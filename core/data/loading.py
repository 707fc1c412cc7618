"""Loading a dataset into memory once: uint8 tensors plus the normalisation to apply per batch."""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.config import DataConfig
from core.data.folder import FolderListing, Sample, SkippedFile, scan_folder
from core.data.images import UnreadableImage, open_image
from core.data.shapes import ensure_shapes
from core.errors import DataError

_CHUNK = 1024  # images per step when computing statistics


@dataclass(frozen=True)
class TensorSplit:
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor  # int64, N

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class ImageData:
    classes: list[str]
    train: TensorSplit
    val: TensorSplit
    mean: list[float]
    std: list[float]
    skipped: list[SkippedFile]  # files not used: non-image files and unreadable images
    root: Path


def load_data(config: DataConfig, seed: int) -> ImageData:
    """Decode the dataset named by `config` (relative paths: from the working directory)."""
    root = Path(config.path).expanduser().absolute()
    if config.source == "shapes":
        ensure_shapes(root, config.shapes)
    elif not root.exists():
        raise DataError(f"data folder {root} does not exist\n"
                        f"    hint: set data.path to a folder of class folders ({root}/<class>/*.jpg), "
                        f"or use data.source: shapes for the built-in dataset")
    listing = scan_folder(root, config.val_split, seed)
    train, train_skipped = decode_samples(listing.train, config.image_size, config.channels)
    val, val_skipped = decode_samples(listing.val, config.image_size, config.channels)
    _check_training_images(listing, train, train_skipped)
    mean, std = _normalization(config, train)
    return ImageData(listing.classes, train, val, mean, std, listing.ignored + train_skipped + val_skipped, root)


def decode_samples(
    samples: Sequence[Sample], image_size: tuple[int, int], channels: int
) -> tuple[TensorSplit, list[SkippedFile]]:
    """Decode and resize every sample once (see image_tensor); skip unreadable files."""
    height, width = image_size
    images = torch.empty((len(samples), channels, height, width), dtype=torch.uint8)

    def decode(index: int) -> SkippedFile | None:
        try:
            images[index] = image_tensor(samples[index].path, image_size, channels)
        except UnreadableImage as exc:
            return SkippedFile(exc.path, exc.reason)
        return None

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        results = list(pool.map(decode, range(len(samples))))
    kept = [i for i, skipped in enumerate(results) if skipped is None]
    labels = torch.tensor([samples[i].label for i in kept], dtype=torch.int64)
    split = TensorSplit(images[kept] if len(kept) < len(samples) else images, labels)
    return split, [s for s in results if s is not None]


def image_tensor(path: Path, image_size: tuple[int, int], channels: int) -> torch.Tensor:
    """One image file as the model sees it before normalising: uint8 C x H x W, resized BILINEAR.

    Training and classifying both go through here, so a model always sees the same pixels.
    Raises UnreadableImage.
    """
    height, width = image_size
    img = open_image(path, channels)
    if img.size != (width, height):
        img = img.resize((width, height), Image.BILINEAR)
    pixels = np.asarray(img).reshape(height, width, channels)
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def normalize_batch(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
                    std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """(x / 255 - mean) / std per channel, as float32 on the images' device (C x H x W or N x C x H x W)."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    return (images.float() / 255.0 - m) / s


def _channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std of uint8 N x C x H x W images, in [0, 1] units."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for chunk in images.split(_CHUNK):
        x = chunk.to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
    count = images.numel() / channels
    mean = total / count
    std = (squares / count - mean * mean).clamp(min=0).sqrt()
    return mean.tolist(), [s if s > 0 else 1.0 for s in std.tolist()]


def _normalization(config: DataConfig, train: TensorSplit) -> tuple[list[float], list[float]]:
    if config.normalize == "auto":
        return _channel_stats(train.images)
    if config.normalize == "none":
        return [0.0] * config.channels, [1.0] * config.channels
    stats = config.normalize
    broadcast = config.channels if len(stats.mean) == 1 else 1
    return list(stats.mean) * broadcast, list(stats.std) * broadcast


def _check_training_images(listing: FolderListing, train: TensorSplit, skipped: list[SkippedFile]) -> None:
    counts = torch.bincount(train.labels, minlength=len(listing.classes)).tolist()
    empty = [name for name, count in zip(listing.classes, counts) if count == 0]
    if not empty:
        return
    names = ", ".join(f"'{name}'" for name in empty)
    lost = [f"{s.path} ({s.reason})" for s in skipped if s.path.parent.name in empty]
    shown = "\n      ".join(lost[:5]) + (f"\n      ... and {len(lost) - 5} more" if len(lost) > 5 else "")
    raise DataError(f"no usable training images for class {names}; every one was skipped:\n      {shown}\n"
                    f"    hint: replace or remove the unreadable files")
