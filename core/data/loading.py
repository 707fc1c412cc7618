"""Loading a dataset into memory once: uint8 tensors plus the normalisation to apply per batch."""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.config import DataConfig
from core.data.cache import cache_file, cache_key, load_cached, save_cached
from core.data.decode_pool import PROCESS_MIN_FILES, decode_files, worker_count
from core.data.images import UnreadableImage, fit_size, image_from_array, open_image
from core.data.samples import Listing, Sample, SkippedFile
from core.data.sources import list_data, root_of
from core.errors import DataError

_CHUNK = 1024  # images per step when computing statistics
_DECODE_CHUNK = 256  # files decoded at a time for statistics when streaming
STATS_LIMIT = 10_000  # normalize: auto reads at most this many training images (a seeded choice)


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


Progress = Callable[[int, int], None]  # (done, total), called as files are decoded


def load_data(config: DataConfig, seed: int, listing: Listing | None = None,
              progress: Progress | None = None) -> ImageData:
    """Decode the dataset named by `config` (relative paths: from the working directory).

    With data.cache_dir the decoded tensors are saved there and reused while the files are unchanged.
    `progress(done, total)` follows the decoding, training and validation images together.
    """
    listing = listing or list_data(config, seed)
    train, val, skipped = _decode_listing(listing, config, progress)
    _check_training_images(listing, train, skipped)
    mean, std = _normalization(config, train, seed)
    return ImageData(listing.classes, train, val, mean, std, listing.ignored + skipped, data_root(config))


def data_root(config: DataConfig) -> Path:
    """The folder (or file) of the config's first source, for messages."""
    return root_of(config.sources[0] if config.sources else config)


def _decode_listing(listing: Listing, config: DataConfig,
                    progress: Progress | None = None) -> tuple[TensorSplit, TensorSplit, list[SkippedFile]]:
    in_memory = any(s.array is not None for s in listing.train)
    cached_at = _cache_place(config, listing) if not in_memory else None
    saved = load_cached(*cached_at) if cached_at else None
    if saved is not None:
        return (TensorSplit(saved["train_images"], saved["train_labels"]),
                TensorSplit(saved["val_images"], saved["val_labels"]), saved["skipped"])
    decode = partial(decode_samples, image_size=config.image_size, channels=config.channels, resize=config.resize,
                     on_error=config.on_error)
    total = len(listing.train) + len(listing.val)
    train, train_skipped = decode(listing.train, progress=_offset(progress, 0, total))
    val, val_skipped = decode(listing.val, progress=_offset(progress, len(listing.train), total))
    if cached_at:
        save_cached(*cached_at, {"train_images": train.images, "train_labels": train.labels,
                                 "val_images": val.images, "val_labels": val.labels}, train_skipped + val_skipped)
    return train, val, train_skipped + val_skipped


def _cache_place(config: DataConfig, listing: Listing) -> tuple[Path, str] | None:
    """(file, key) of the decoded set on disk; None when the config does not cache or a file cannot be stat'ed."""
    if not config.cache_dir:
        return None
    key = cache_key(config, listing)
    return (cache_file(Path(config.cache_dir).expanduser().absolute(), key), key) if key else None


def _offset(progress: Progress | None, before: int, total: int) -> Progress | None:
    """`progress` for one part of a larger job: `before` items done ahead of it, `total` in all."""
    return None if progress is None else (lambda done, _: progress(before + done, total))


def decode_samples(
    samples: Sequence[Sample], image_size: tuple[int, int], channels: int,
    resize: int | tuple[int, int] | None = None, on_error: str = "skip", progress: Progress | None = None,
) -> tuple[TensorSplit, list[SkippedFile]]:
    """Decode and resize every sample once (see sample_tensor); skip unreadable files.

    With on_error="fail" the first unreadable file raises UnreadableImage instead. `progress(done,
    total)` is called from this thread after each file (the caller throttles what it shows).
    """
    height, width = image_size
    images = torch.empty((len(samples), channels, height, width), dtype=torch.uint8)

    def decode(index: int) -> SkippedFile | None:
        try:
            images[index] = sample_tensor(samples[index], image_size, channels, resize)
        except UnreadableImage as exc:
            if on_error == "fail":
                raise
            return SkippedFile(exc.path, exc.reason)
        return None

    if progress is not None and samples:
        progress(0, len(samples))
    if all(s.array is not None for s in samples):  # in memory: nothing to wait for
        results = _counted(map(decode, range(len(samples))), len(samples), progress)
    elif len(samples) >= PROCESS_MIN_FILES and worker_count() > 1 and all(s.array is None for s in samples):
        results = _decode_in_processes(samples, images, image_size, channels, resize, on_error, progress)
    else:
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
            results = _counted(pool.map(decode, range(len(samples))), len(samples), progress)
    kept = [i for i, skipped in enumerate(results) if skipped is None]
    labels = torch.tensor([samples[i].label for i in kept], dtype=torch.int64)
    split = TensorSplit(images[kept] if len(kept) < len(samples) else images, labels)
    return split, [s for s in results if s is not None]


def _decode_in_processes(samples: Sequence[Sample], images: torch.Tensor, image_size: tuple[int, int], channels: int,
                         resize: int | tuple[int, int] | None, on_error: str,
                         progress: Progress | None) -> list[SkippedFile | None]:
    """decode_samples' work for many files, with every core (core/data/decode_pool.py), into `images`."""
    results: list[SkippedFile | None] = [None] * len(samples)
    paths = [sample_file(sample) for sample in samples]
    for start, pixels, unreadable in decode_files(paths, image_size, channels, resize):
        images[start:start + len(pixels)] = torch.from_numpy(pixels)
        for index, reason in unreadable:
            if on_error == "fail":
                raise UnreadableImage(paths[start + index], reason)
            results[start + index] = SkippedFile(paths[start + index], reason)
        if progress is not None:
            progress(start + len(pixels), len(samples))
    return results


def _counted(results: Iterable[SkippedFile | None], total: int, progress: Progress | None) -> list[SkippedFile | None]:
    """The results as a list, reporting each one to `progress` as it arrives."""
    if progress is None:
        return list(results)
    done = []
    for result in results:
        done.append(result)
        progress(len(done), total)
    return done


def image_tensor(path: Path, image_size: tuple[int, int], channels: int,
                 resize: int | tuple[int, int] | None = None) -> torch.Tensor:
    """One image file as the model sees it before normalising: uint8 C x H x W.

    Training and classifying both go through here, so a model always sees the same pixels.
    Raises UnreadableImage.
    """
    return pil_to_tensor(fit_size(open_image(path, channels), image_size, resize))


def sample_image(sample: Sample, channels: int) -> Image.Image:
    """A sample's image at its original size, decoded by the one decoder (UnreadableImage)."""
    if sample.array is not None:
        return image_from_array(sample.array, channels)
    return open_image(sample_file(sample), channels)


def sample_file(sample: Sample) -> Path:
    """The file a sample without an in-memory array is read from."""
    assert sample.path is not None, "a sample holds its pixels or names its file"
    return sample.path


def sample_tensor(sample: Sample, image_size: tuple[int, int], channels: int,
                  resize: int | tuple[int, int] | None = None) -> torch.Tensor:
    """A sample as uint8 C x H x W at image_size; arrays already the right shape skip PIL."""
    array = sample.array
    if array is not None and resize is None and array.shape[:2] == tuple(image_size):
        pixels = array if array.ndim == 3 else array[:, :, None]
        if pixels.shape[2] == channels:
            return torch.from_numpy(np.array(pixels)).permute(2, 0, 1)
        if pixels.shape[2] == 1 and channels == 3:
            return torch.from_numpy(np.array(pixels)).permute(2, 0, 1).expand(3, -1, -1)
    return pil_to_tensor(fit_size(sample_image(sample, channels), image_size, resize))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """A decoded "RGB"/"L" image as uint8 C x H x W."""
    pixels = np.asarray(img)
    pixels = pixels[:, :, None] if pixels.ndim == 2 else pixels
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def normalize_batch(images: torch.Tensor, mean: Sequence[float] | torch.Tensor,
                    std: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """(x / 255 - mean) / std per channel, as float32 on the images' device (C x H x W or N x C x H x W)."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    return (images.float() / 255.0 - m) / s


def _channel_stats(chunks: Iterable[torch.Tensor]) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std of uint8 N x C x H x W chunks, in [0, 1] units.

    Exact, from a 256-bin histogram per channel: memory stays at one chunk, with no float copies.
    """
    histogram: torch.Tensor | None = None
    for chunk in chunks:
        counts = torch.stack([torch.bincount(chunk[:, c].reshape(-1), minlength=256) for c in range(chunk.shape[1])])
        histogram = counts if histogram is None else histogram + counts
    if histogram is None or histogram.sum() == 0:
        raise DataError("normalize: auto found no readable training images to compute mean and std from")
    levels = torch.arange(256, dtype=torch.float64) / 255.0
    counts = histogram.double()
    pixels = counts.sum(dim=1)
    mean = counts @ levels / pixels
    std = (counts @ (levels * levels) / pixels - mean * mean).clamp(min=0).sqrt()
    return mean.tolist(), [s if s > 0 else 1.0 for s in std.tolist()]


def auto_stats(train: Sequence[Sample], config: DataConfig, seed: int,
               progress: Progress | None = None) -> tuple[list[float], list[float]]:
    """normalize: auto's mean/std, from the training samples (a seeded STATS_LIMIT of them when more),
    decoded a chunk at a time."""
    chosen = [train[i] for i in stats_indices(len(train), seed)]
    chunks = (decode_samples(chosen[start:start + _DECODE_CHUNK], config.image_size, config.channels,
                             config.resize, progress=_offset(progress, start, len(chosen)))[0].images
              for start in range(0, len(chosen), _DECODE_CHUNK))
    return _channel_stats(chunks)


def stats_indices(count: int, seed: int) -> list[int]:
    """Which training images auto statistics read: all, or a seeded sorted choice of STATS_LIMIT."""
    if count <= STATS_LIMIT:
        return list(range(count))
    return sorted(torch.randperm(count, generator=torch.Generator().manual_seed(seed))[:STATS_LIMIT].tolist())


def _normalization(config: DataConfig, train: TensorSplit, seed: int) -> tuple[list[float], list[float]]:
    def auto() -> tuple[list[float], list[float]]:
        if len(train) <= STATS_LIMIT:
            return _channel_stats(train.images.split(_CHUNK))
        indices = torch.tensor(stats_indices(len(train), seed))
        return _channel_stats(train.images[chunk] for chunk in indices.split(_CHUNK))

    return normalization(config, auto)


def normalization(config: DataConfig, auto: Callable[[], tuple[list[float], list[float]]]) -> tuple[list[float], list[float]]:
    """The per-channel (mean, std) that data.normalize asks for; `auto()` computes them from the data."""
    if config.normalize == "auto":
        return auto()
    if config.normalize == "none":
        return [0.0] * config.channels, [1.0] * config.channels
    stats = config.normalize
    broadcast = config.channels if len(stats.mean) == 1 else 1
    return list(stats.mean) * broadcast, list(stats.std) * broadcast


def _check_training_images(listing: Listing, train: TensorSplit, skipped: list[SkippedFile]) -> None:
    counts = torch.bincount(train.labels, minlength=len(listing.classes)).tolist()
    listed = {s.label for s in listing.train}
    empty = {label for label, count in enumerate(counts) if count == 0 and label in listed}
    if not empty:
        return
    names = ", ".join(f"'{listing.classes[label]}'" for label in sorted(empty))
    lost_paths = {s.path for s in listing.train if s.label in empty}
    lost = [f"{s.path} ({s.reason})" for s in skipped if s.path in lost_paths]
    shown = "\n      ".join(lost[:5]) + (f"\n      ... and {len(lost) - 5} more" if len(lost) > 5 else "")
    raise DataError(f"no usable training images for class {names}; every one was skipped:\n      {shown}\n"
                    f"    hint: replace or remove the unreadable files")
