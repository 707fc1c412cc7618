"""Feeding the engine: normalised (and, for training, augmented) batches on the training device.

Two paths, one interface. Cached (the default whenever the decoded set fits data.memory_budget_mb):
the whole set is one uint8 tensor on the device and a batch is an index into it. Streaming (cache
off, or too large): a DataLoader decodes with `sample_tensor` in worker processes and yields uint8
batches. Either way augmentation and normalisation run per batch on the device.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from core.config import DataConfig
from core.data.augment import Augmenter
from core.data.images import UnreadableImage
from core.data.loading import (Progress, TensorSplit, auto_stats, data_root, decode_samples, load_data,
                               normalization, sample_tensor)
from core.data.samples import Listing, Sample, SkippedFile
from core.data.sources import list_data
from core.train.distributed import World
from core.errors import DataError

WORKER_TIMEOUT_SECONDS = 600  # a worker that delivers no batch for this long is taken as hung
Batch = tuple[torch.Tensor, torch.Tensor]  # (float N x C x H x W normalised, int64 labels), on the device
StageProgress = Callable[[str, int, int], None]  # (stage, done, total) while the data is prepared


def cache_bytes(listing: Listing, config: DataConfig) -> int:
    """Bytes the decoded uint8 cache of `listing` takes."""
    height, width = config.image_size
    return (len(listing.train) + len(listing.val)) * config.channels * height * width


def use_cache(listing: Listing, config: DataConfig) -> bool:
    if config.cache == "auto":
        return cache_bytes(listing, config) <= config.memory_budget_mb * 2**20
    return config.cache == "on"


class Feed:
    """The training and validation batches of one run; `skipped` grows as streaming finds bad files."""

    def __init__(self, config: DataConfig, seed: int, device: torch.device, world: World = World(),
                 progress: StageProgress | None = None) -> None:
        """`progress(stage, done, total)` follows the preparation: decoding, or measuring mean and std."""
        listing = list_data(config, seed)
        self.config, self.device, self.world = config, device, world
        self.classes = listing.classes
        self.root = data_root(config)
        self.cached = use_cache(listing, config)
        self.generator = torch.Generator().manual_seed(seed)
        self.memory_format = torch.preserve_format
        self._new_skipped: list[SkippedFile] = []
        if self.cached:
            data = load_data(config, seed, listing, progress=_stage(progress, "decoding images"))
            self.mean, self.std, self.skipped = data.mean, data.std, list(data.skipped)
            self._train = TensorSplit(data.train.images.to(device), data.train.labels.to(device))
            self._val = TensorSplit(data.val.images.to(device), data.val.labels.to(device))
            self.train_count, self.val_count = len(data.train), len(data.val)
            labels, val_labels = data.train.labels, data.val.labels
        else:
            self.mean, self.std = _stream_stats(listing, config, seed, _stage(progress, "measuring mean and std"))
            self.skipped = list(listing.ignored)
            self._train_samples, self._val_samples = listing.train, listing.val
            self.train_count, self.val_count = len(listing.train), len(listing.val)
            labels = torch.tensor([sample.label for sample in listing.train], dtype=torch.int64)
            val_labels = torch.tensor([sample.label for sample in listing.val], dtype=torch.int64)
            self._train_loader = self._loader(listing.train, self._train_order(len(listing.train)))
            self._val_loader = self._loader(listing.val, self._val_order(len(listing.val)))
        _check_labels(labels, val_labels, self.classes)
        self.augmenter = Augmenter(config.augment, seed, self.train_count)
        self.train_class_counts = torch.bincount(labels, minlength=len(self.classes)).tolist()
        self.val_class_counts = torch.bincount(val_labels, minlength=len(self.classes)).tolist()
        self.epoch_rng_state = self.generator.get_state()  # the data order's RNG at the current epoch's start
        std = torch.tensor(self.std, device=device).view(-1, 1, 1)
        self._scale = 1.0 / (255.0 * std)
        self._shift = -torch.tensor(self.mean, device=device).view(-1, 1, 1) / std

    @property
    def batches_per_epoch(self) -> int:
        return len(self._train_order(self.train_count))

    @property
    def train_left_out(self) -> int:
        """Training images each epoch leaves out as a last batch too small to train on (one image per process,
        which batch norm cannot normalise); a partial batch dropped by data.loader.drop_last is not counted."""
        order = self._train_order(self.train_count)
        return 0 if order.drop_last else self.train_count - order.kept

    def _train_order(self, count: int) -> "EpochOrder":
        loader = self.config.loader
        return EpochOrder(count, self.config.planned_batch_size, self.world, self.generator if loader.shuffle else None,
                          loader.drop_last, smallest_last=2)

    def _val_order(self, count: int) -> "EpochOrder":
        return EpochOrder(count, 2 * self.config.planned_batch_size, self.world, None, drop_last=False)

    def describe(self) -> str:
        return "decoded once, on the device" if self.cached else "streamed from files"

    def train_batches(self, epoch: int = 0, skip: int = 0) -> Iterator[Batch]:
        """One epoch of shuffled (data.loader.shuffle), augmented, normalised training batches.

        `epoch`'s parity turns each image over under horizontal_flip: alternate. `skip` leaves out
        the epoch's first batches (resuming mid-epoch): the order is the same, and the skipped
        batches draw no augmentation (streaming still decodes them).
        """
        self.epoch_rng_state = self.generator.get_state()
        if not self.cached:
            yield from self._stream(self._train_loader, epoch, skip=skip)
            return
        for number, indices in enumerate(self._train_order(len(self._train))):
            if number >= skip:
                rows = torch.tensor(indices, device=self.device)
                yield self._finish(self._train.images[rows], self._train.labels[rows], rows, epoch)

    def val_batches(self) -> Iterator[Batch]:
        """The validation set in order, normalised, without augmentation."""
        if not self.cached:
            yield from self._stream(self._val_loader)
            return
        for indices in self._val_order(len(self._val)):
            rows = torch.tensor(indices, device=self.device)
            yield self._finish(self._val.images[rows], self._val.labels[rows])

    def take_skipped(self) -> list[SkippedFile]:
        """Bad files found while streaming since the last call."""
        found, self._new_skipped = self._new_skipped, []
        return found

    def sample_images(self, count: int = 32) -> torch.Tensor:
        """The first training images, uint8 on the CPU (for a preview grid)."""
        if self.cached:
            return self._train.images[:count].cpu()
        c = self.config
        return decode_samples(self._train_samples[:count], c.image_size, c.channels, c.resize)[0].images

    def normalised_sample(self, count: int) -> torch.Tensor:
        """`count` training images spread evenly over the training set (so a listing sorted by class gives
        every class), normalised as training sees them but not augmented, on the device."""
        rows = torch.linspace(0, self.train_count - 1, min(count, self.train_count)).long()
        if self.cached:
            images = self._train.images[rows.to(self.device)]
        else:
            c = self.config
            samples = [self._train_samples[row] for row in rows.tolist()]
            images = decode_samples(samples, c.image_size, c.channels, c.resize)[0].images
        return torch.addcmul(self._shift, images.to(self.device).float(), self._scale)

    def _finish(self, images: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor | None = None,
                epoch: int | None = None) -> Batch:
        """A batch normalised; a training batch (its `epoch` given) augmented, `ids` its training-set indices."""
        images = images.to(self.device, non_blocking=True)
        x = self.augmenter(images, ids, epoch) if epoch is not None and self.augmenter.enabled else images.float()
        x = torch.addcmul(self._shift, x, self._scale)
        return x.contiguous(memory_format=self.memory_format), labels.to(self.device, non_blocking=True)

    def _stream(self, loader: DataLoader, epoch: int | None = None, skip: int = 0) -> Iterator[Batch]:
        """The loader's batches; training ones when `epoch` is given."""
        try:
            for index, (images, labels, ids, skipped) in enumerate(loader):
                if skipped:
                    self._record(skipped)
                if len(labels) and index >= skip:
                    yield self._finish(images, labels, ids, epoch)
        except RuntimeError as exc:  # a worker killed (by the OOM killer, say) or stuck past the timeout
            if "DataLoader" not in str(exc):
                raise
            raise DataError(f"a data-loading worker failed: {exc}\n    hint: the machine may be out of memory "
                            "(see dmesg); try data.loader.num_workers: 0 or a smaller data.batch_size") from exc

    def _record(self, skipped: list[tuple[str, str]]) -> None:
        files = [SkippedFile(Path(path), reason) for path, reason in skipped]
        if self.config.on_error == "fail":
            raise UnreadableImage(files[0].path, files[0].reason)
        known = {s.path for s in self.skipped}
        fresh = [f for f in files if f.path not in known]
        self.skipped += fresh
        self._new_skipped += fresh

    def _loader(self, samples: list[Sample], order: "EpochOrder") -> DataLoader:
        options = self.config.loader
        workers = min(8, os.cpu_count() or 1) if options.num_workers == "auto" else options.num_workers
        pin = self.device.type == "cuda" if options.pin_memory == "auto" else options.pin_memory
        c = self.config
        return DataLoader(_Decoded(samples, c.image_size, c.channels, c.resize), batch_sampler=order,
                          num_workers=workers, pin_memory=pin, collate_fn=_collate, worker_init_fn=_seed_worker,
                          persistent_workers=options.persistent_workers and workers > 0,
                          timeout=WORKER_TIMEOUT_SECONDS if workers else 0)


@dataclass
class EpochOrder:
    """One epoch's batches as index lists, the same for the cached and the streaming path.

    The order is a permutation from `generator` (None: in order). Each global batch of
    batch_size x world.size indices is dealt out to the ranks (rank r takes every size-th from
    r), so n ranks together see what one process sees with an n-times larger batch.
    """

    count: int
    batch_size: int
    world: World
    generator: torch.Generator | None
    drop_last: bool
    smallest_last: int = 1  # the fewest images a rank's last batch may hold (training: 2, for batch norm)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.count, generator=self.generator) if self.generator else torch.arange(self.count)
        for start in range(0, self.kept, self._global):
            yield order[start + self.world.rank:start + self._global:self.world.size].tolist()

    def __len__(self) -> int:
        return -(-self.kept // self._global)

    @property
    def _global(self) -> int:
        return self.batch_size * self.world.size

    @property
    def kept(self) -> int:
        """Indices in batches: a last partial batch is dropped with drop_last, when a rank would get none, or when
        one would get fewer than smallest_last while a full batch is left to train on."""
        partial = self.count % self._global
        too_small = partial < self.smallest_last * self.world.size
        if partial and ((self.drop_last or too_small) and self.count >= self._global or partial < self.world.size):
            return self.count - partial
        return self.count


@dataclass
class _Decoded(Dataset):
    """Samples decoded on demand as (image, label, index, None); an unreadable one as (None, label, index, (path,
    reason))."""

    samples: list[Sample]
    image_size: tuple[int, int]
    channels: int
    resize: int | tuple[int, int] | None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        sample = self.samples[index]
        try:
            return sample_tensor(sample, self.image_size, self.channels, self.resize), sample.label, index, None
        except UnreadableImage as exc:
            return None, sample.label, index, (str(exc.path), exc.reason)


def _check_labels(train: torch.Tensor, val: torch.Tensor, classes: list[str]) -> None:
    """Every label must index a class: caught here, before a step, not as an index error mid-run."""
    for split, labels in (("training", train), ("validation", val)):
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
            raise DataError(f"{split} labels range over {int(labels.min())}..{int(labels.max())} "
                            f"but there are {len(classes)} classes ({', '.join(classes[:10])})")


def _seed_worker(worker_id: int) -> None:
    """Seed Python's and numpy's RNGs in a worker from torch's per-worker seed (itself from the run's seed)."""
    import random

    import numpy

    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    numpy.random.seed(seed)


def _collate(items):
    """(images, labels, indices, skipped files) of one batch, the unreadable images left out."""
    good = [item for item in items if item[0] is not None]
    skipped = [bad for *_, bad in items if bad is not None]
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.int64), torch.empty(0, dtype=torch.int64), skipped
    return (torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good]), torch.tensor([g[2] for g in good]),
            skipped)


def _stream_stats(listing: Listing, config: DataConfig, seed: int,
                  progress: Progress | None = None) -> tuple[list[float], list[float]]:
    return normalization(config, lambda: auto_stats(listing.train, config, seed, progress))


def _stage(progress: StageProgress | None, stage: str) -> Progress | None:
    return None if progress is None else (lambda done, total: progress(stage, done, total))
