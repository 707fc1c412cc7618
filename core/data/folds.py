"""Stratified K-fold over the training pool: which fold each training sample is held out in.

`data.fold: {index: i, folds: K}` (set by `workbench cv` on each fold's run) makes a run train on
the pool without fold i and validate on fold i; the source's own validation set sits that run
out. Folds are seeded and stratified: every class is shuffled on its own and dealt round the
folds, each class starting where the previous one stopped, so fold sizes differ by at most one.
"""
from __future__ import annotations

import random
from collections import defaultdict

from pydantic import Field, model_validator

from core.data.samples import Listing, Sample
from core.errors import DataError
from core.schema import StrictModel

MAX_FOLDS = 20


class HeldOutFold(StrictModel):
    """Which fold a run validates on."""

    index: int = Field(ge=1, description="the fold held out for validation, from 1")
    folds: int = Field(ge=2, le=MAX_FOLDS, description="how many folds the training pool is split into")

    @model_validator(mode="after")
    def _index_in_range(self) -> HeldOutFold:
        if self.index > self.folds:
            raise ValueError(f"fold index {self.index} is beyond the {self.folds} folds")
        return self


def assign_folds(samples: list[Sample], folds: int, seed: int) -> list[int]:
    """The fold (0 to folds - 1) of each sample, stratified by label and seeded."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        by_label[sample.label].append(i)
    assigned = [0] * len(samples)
    start = 0
    for label in sorted(by_label):
        members = by_label[label]
        random.Random(f"{seed}/fold/{label}").shuffle(members)
        for offset, i in enumerate(members):
            assigned[i] = (start + offset) % folds
        start = (start + len(members)) % folds
    return assigned


def hold_out(listing: Listing, fold: HeldOutFold, seed: int) -> Listing:
    """The training pool split for one fold: train on the other folds, validate on this one."""
    pool = listing.train
    if len(pool) < fold.folds:
        raise DataError(f"{len(pool)} training images cannot be split into {fold.folds} folds\n"
                        f"    hint: use fewer folds (at least 2)")
    assigned = assign_folds(pool, fold.folds, seed)
    held = fold.index - 1
    return Listing(listing.classes, [s for s, f in zip(pool, assigned) if f != held],
                   [s for s, f in zip(pool, assigned) if f == held], "fold", listing.ignored, listing.skipped_folders)
