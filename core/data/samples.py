"""What every source lists: samples (a file or an in-memory array, with a label), skipped files, the split."""
from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import DataError


@dataclass(frozen=True)
class Sample:
    path: Path | None  # None for in-memory sets (CIFAR, MNIST)
    label: int
    array: np.ndarray | None = field(default=None, compare=False, repr=False)  # H x W (x C) uint8


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    reason: str


@dataclass
class Listing:
    """A dataset before decoding: class names, samples per split, files left out and why."""

    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    layout: str  # "split": the source brought its own validation set; "classes": split by val_split
    ignored: list[SkippedFile] = field(default_factory=list)
    skipped_folders: list[SkippedFile] = field(default_factory=list)  # hidden and system folders, never classes


def split_by_class(groups: Mapping[str, Sequence[Path | np.ndarray]], val_split: float, seed: int) -> Listing:
    """Label and split items grouped by class name: seeded and stratified, classes sorted.

    A `val_split` fraction of every class (at least one item when it has two or more) goes to
    validation; the same seed always picks the same items.
    """
    classes = sorted(groups)
    train: list[Sample] = []
    val: list[Sample] = []
    for label, name in enumerate(classes):
        items = groups[name]
        n_val = min(len(items) - 1, max(1, round(len(items) * val_split)))
        held = set(random.Random(f"{seed}/{name}").sample(range(len(items)), n_val))
        for i, item in enumerate(items):
            sample = Sample(item, label) if isinstance(item, Path) else Sample(None, label, item)
            (val if i in held else train).append(sample)
    return Listing(classes, train, val, "classes")


def combine(listings: list[Listing]) -> Listing:
    """One listing from several (the tutorial's `ants + bees`): classes merged by name and sorted."""
    if len(listings) == 1:
        return listings[0]
    classes = sorted({name for listing in listings for name in listing.classes})
    index = {name: i for i, name in enumerate(classes)}

    def relabel(listing: Listing, samples: list[Sample]) -> list[Sample]:
        return [Sample(s.path, index[listing.classes[s.label]], s.array) for s in samples]

    return Listing(classes,
                   [s for listing in listings for s in relabel(listing, listing.train)],
                   [s for listing in listings for s in relabel(listing, listing.val)],
                   "combined", [f for listing in listings for f in listing.ignored],
                   [f for listing in listings for f in listing.skipped_folders])


def check_classes(classes: list[str], where: str, hint: str) -> None:
    """At least two classes, or a DataError saying what was found."""
    if not classes:
        raise DataError(f"no classes in {where}\n    hint: {hint}")
    if len(classes) < 2:
        raise DataError(f"only one class ('{classes[0]}') in {where}; a classifier needs at least 2\n    hint: {hint}")
