"""Looking at a dataset without training: counts, single samples, the transform preview, a health report.

`DatasetView.open` only lists files (decoding nothing), so the Data screen opens at once;
`health` and `mean_std` read every file and belong in a worker thread.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.config import DataConfig
from core.data.augment import Augmenter
from core.data.images import UnreadableImage, fit_size, open_image
from core.data.loading import auto_stats, pil_to_tensor, sample_file, sample_image
from core.data.samples import Sample, SkippedFile
from core.data.sources import list_data

IMBALANCE_RATIO = 3.0


@dataclass(frozen=True)
class ClassCount:
    name: str
    train: int
    val: int


@dataclass(frozen=True)
class SampleInfo:
    index: int
    label: str
    split: str  # "train" or "val"
    path: Path | None  # None for in-memory sets such as CIFAR
    size: tuple[int, int]  # (width, height) of the original
    mode: str  # the original PIL mode


@dataclass(frozen=True)
class HealthReport:
    classes: list[ClassCount]
    imbalance: str | None  # a warning when the largest class is more than 3x the smallest
    sizes: dict[tuple[int, int], int]  # original (width, height) -> images
    modes: dict[str, int]
    unreadable: list[SkippedFile]  # files left out, and why (unreadable images, non-image files)
    duplicates: list[list[Path]]  # groups of byte-identical files
    total: int
    skipped_folders: list[SkippedFile] = field(default_factory=list)  # hidden and system folders, never classes

    @property
    def without_val(self) -> list[str]:
        """Classes with no validation images: training never measures their accuracy."""
        return [count.name for count in self.classes if count.val == 0]


class DatasetView:
    """One dataset as the data config gives it: samples are numbered train first, then val."""

    def __init__(self, data: DataConfig, seed: int) -> None:
        listing = list_data(data, seed)
        self.data, self.seed = data, seed
        self.classes: list[str] = listing.classes
        self._samples: list[Sample] = listing.train + listing.val
        self._train_count = len(listing.train)
        self._ignored = listing.ignored
        self._skipped_folders = listing.skipped_folders
        self._augmenter = Augmenter(data.augment, seed)

    @classmethod
    def open(cls, data: DataConfig, seed: int) -> "DatasetView":
        """List the dataset (generating shapes if needed); raise DataError when it cannot be used."""
        return cls(data, seed)

    def __len__(self) -> int:
        return len(self._samples)

    def counts(self) -> list[ClassCount]:
        train = Counter(s.label for s in self._samples[:self._train_count])
        val = Counter(s.label for s in self._samples[self._train_count:])
        return [ClassCount(name, train[i], val[i]) for i, name in enumerate(self.classes)]

    def indices_of(self, label: str | None) -> list[int]:
        """Sample indices of class `label` (all samples for None); ValueError for an unknown class."""
        if label is None:
            return list(range(len(self._samples)))
        wanted = self.classes.index(label)
        return [i for i, s in enumerate(self._samples) if s.label == wanted]

    def sample(self, index: int) -> tuple[Image.Image, SampleInfo]:
        """The decoded image at its original size, and what it is; UnreadableImage for a bad file."""
        sample = self._samples[index]
        img = sample_image(sample, self.data.channels)
        return img, SampleInfo(index, self.classes[sample.label], "train" if index < self._train_count else "val",
                               sample.path, *self._original(sample, img))

    def preview(self, index: int, *, augment: bool = False) -> tuple[Image.Image, Image.Image]:
        """(before, after): the decoded original and what the model sees, un-normalised.

        With augment=True the training augmentation is applied (different on every call).
        """
        before, _ = self.sample(index)
        pixels = pil_to_tensor(fit_size(before, self.data.image_size, self.data.resize))
        if augment and self._augmenter.enabled:
            pixels = self._augmenter(pixels[None])[0].round().clamp(0, 255).to(torch.uint8)
        array = pixels.permute(1, 2, 0).numpy()
        return before, Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)

    def health(self, progress: Callable[[int, int], None] | None = None) -> HealthReport:
        """Read every file once: sizes, modes, unreadable files, byte-identical duplicates."""
        total = len(self._samples)
        results: list[tuple[tuple[int, int], str, str | None] | SkippedFile] = []
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
            for done, result in enumerate(pool.map(self._check, self._samples), start=1):
                results.append(result)
                if progress is not None:
                    progress(done, total)
        good = [r for r in results if not isinstance(r, SkippedFile)]
        by_hash: dict[str, list[Path]] = {}
        for sample, result in zip(self._samples, results):
            if not isinstance(result, SkippedFile) and result[2] is not None:  # a file's content hash
                by_hash.setdefault(result[2], []).append(sample_file(sample))
        counts = self.counts()
        return HealthReport(
            classes=counts, imbalance=_imbalance(counts),
            sizes=dict(Counter(r[0] for r in good).most_common()), modes=dict(Counter(r[1] for r in good).most_common()),
            unreadable=self._ignored + [r for r in results if isinstance(r, SkippedFile)],
            duplicates=[paths for paths in by_hash.values() if len(paths) > 1], total=total,
            skipped_folders=list(self._skipped_folders))

    def mean_std(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training images at image_size: what normalize: auto uses."""
        return auto_stats(self._samples[:self._train_count], self.data, self.seed)

    def _original(self, sample: Sample, decoded: Image.Image) -> tuple[tuple[int, int], str]:
        if sample.array is not None:
            return _array_original(sample.array)
        try:
            with Image.open(sample_file(sample)) as img:
                return img.size, img.mode
        except Exception:  # the decoder read it, so this is only the header's view
            return decoded.size, decoded.mode

    def _check(self, sample: Sample) -> tuple[tuple[int, int], str, str | None] | SkippedFile:
        """(original size, mode, content hash) of a sample, or why it cannot be read."""
        if sample.array is not None:
            return *_array_original(sample.array), None
        path = sample_file(sample)
        try:
            open_image(path, self.data.channels)
            content = path.read_bytes()
            with Image.open(io.BytesIO(content)) as header:
                size, mode = header.size, header.mode
        except UnreadableImage as exc:
            return SkippedFile(exc.path, exc.reason)
        except OSError as exc:  # changed on disk since it was decoded
            return SkippedFile(path, exc.strerror or "unreadable")
        return size, mode, content_digest(content)


def content_digest(content: bytes) -> str:
    """The hash byte-identical files are found by: the health report's and `workbench clean`'s, so their counts agree."""
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def _array_original(array: np.ndarray) -> tuple[tuple[int, int], str]:
    """The size and mode of an in-memory image, H x W (x C)."""
    return (array.shape[1], array.shape[0]), "L" if array.ndim == 2 or array.shape[2] == 1 else "RGB"


def _imbalance(counts: list[ClassCount]) -> str | None:
    totals = {c.name: c.train + c.val for c in counts}
    largest = max(totals, key=totals.__getitem__)
    smallest = min(totals, key=totals.__getitem__)
    if totals[largest] > IMBALANCE_RATIO * totals[smallest]:
        ratio = totals[largest] / max(totals[smallest], 1)
        return (f"class '{largest}' has {totals[largest]} images, {ratio:.1f}x as many as '{smallest}' "
                f"({totals[smallest]}); the model may favour '{largest}'")
    return None
