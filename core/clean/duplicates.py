"""Duplicates: the same picture more than once, within a class, across classes, or across train and val.

Exact duplicates are byte-identical files, found by the health report's own content hash
(`core.data.inspect.content_digest`), so both count the same groups. Near duplicates (a resized or
re-encoded copy) have perceptual hashes (imagehash's pHash, 64 bits) at most `near_bits` apart and,
to confirm it, 16 x 16 colour thumbnails that differ by at most `MAX_PIXEL_DIFFERENCE` on average
(simple drawings such as the shapes demo share hashes without being copies); when a model is given,
also penultimate-layer features with a cosine similarity of at least `SIMILAR_FEATURES`. A group that spans train and val is leakage: validation sees what training saw.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.data.decisions import sample_name
from core.data.images import UnreadableImage
from core.data.inspect import content_digest
from core.data.loading import sample_file, sample_image
from core.data.samples import Listing, Sample

NEAR_BITS = 6  # of pHash's 64: a resized, re-encoded JPEG copy stays within a few bits
THUMBNAIL = 16  # side of the colour thumbnails that confirm a near pair
MAX_PIXEL_DIFFERENCE = 8.0  # their mean absolute difference, of 255: copies measure about 3, look-alikes over 25
SIMILAR_FEATURES = 0.97  # cosine similarity of penultimate-layer features
CHUNK = 1024  # rows of the pairwise comparison at a time: memory stays at CHUNK x images


@dataclass(frozen=True)
class Listed:
    """One image of the listing: its name, split and class."""

    name: str
    sample: Sample
    split: Literal["train", "val"]
    label: str


@dataclass(frozen=True)
class DuplicateGroup:
    paths: list[str]
    classes: list[str]  # each path's class
    kind: Literal["exact", "near"]
    across_splits: bool  # in train and val: leakage

    @property
    def across_classes(self) -> bool:
        """The same picture under two labels: at least one is wrong."""
        return len(set(self.classes)) > 1


def listed_images(listing: Listing) -> list[Listed]:
    """Every image of a listing, train first, named as findings and decisions name them."""
    return [Listed(sample_name(sample, split, i), sample, split, listing.classes[sample.label])  # type: ignore[arg-type]
            for split, samples in (("train", listing.train), ("val", listing.val)) for i, sample in enumerate(samples)]


def find_duplicates(images: list[Listed], *, near_bits: int = NEAR_BITS, features: np.ndarray | None = None,
                    progress: Callable[[int, int], None] | None = None) -> list[DuplicateGroup]:
    """Exact and near-duplicate groups: leaks first, then groups across classes, then the largest."""
    prints = _fingerprints(images, progress)
    groups = [_group(images, members, "exact") for members in _same(prints.digests).values() if len(members) > 1]
    near = [(i, j) for i, j in _near_pairs(prints.hashes, prints.readable, near_bits)
            if np.abs(prints.thumbnails[i] - prints.thumbnails[j]).mean() <= MAX_PIXEL_DIFFERENCE]
    if features is not None:
        near += _similar_pairs(features)
    for members in _components(len(images), near):
        if len({prints.digests[i] for i in members}) > 1 or prints.digests[members[0]] is None:  # not exact again
            groups.append(_group(images, members, "near"))
    return sorted(groups, key=lambda g: (not g.across_splits, not g.across_classes, -len(g.paths), g.kind, g.paths))


@dataclass(frozen=True)
class Fingerprints:
    digests: list[str | None]  # content hashes; None for an image without a file, or unreadable
    hashes: np.ndarray  # pHash as uint64
    thumbnails: np.ndarray  # N x THUMBNAIL x THUMBNAIL x 3, float32
    readable: np.ndarray  # bool


def _fingerprints(images: list[Listed], progress: Callable[[int, int], None] | None) -> Fingerprints:
    import imagehash
    from PIL import Image

    blank = np.zeros((THUMBNAIL, THUMBNAIL, 3), dtype=np.float32)

    def one(image: Listed) -> tuple[str | None, int | None, np.ndarray]:
        try:
            digest = content_digest(sample_file(image.sample).read_bytes()) if image.sample.path else None
            decoded = sample_image(image.sample, 3)
        except (UnreadableImage, OSError):
            return None, None, blank
        thumbnail = np.asarray(decoded.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR), dtype=np.float32)
        return digest, int(str(imagehash.phash(decoded)), 16), thumbnail

    results = []
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        for done, result in enumerate(pool.map(one, images), start=1):
            results.append(result)
            if progress is not None:
                progress(done, len(images))
    return Fingerprints([digest for digest, _, _ in results],
                        np.array([phash or 0 for _, phash, _ in results], dtype=np.uint64),
                        np.stack([thumbnail for _, _, thumbnail in results]) if results else np.zeros((0, *blank.shape)),
                        np.array([phash is not None for _, phash, _ in results], dtype=bool))


def _same(digests: list[str | None]) -> dict[str, list[int]]:
    by_digest: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        if digest is not None:
            by_digest.setdefault(digest, []).append(i)
    return by_digest


def _near_pairs(hashes: np.ndarray, readable: np.ndarray, near_bits: int) -> list[tuple[int, int]]:
    """Pairs (i < j) of readable images whose hashes differ in at most `near_bits` bits."""
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(hashes), CHUNK):
        distance = np.bitwise_count(hashes[start:start + CHUNK, None] ^ hashes[None, :])
        close = (distance <= near_bits) & readable[start:start + CHUNK, None] & readable[None, :]
        rows, columns = np.nonzero(close)
        pairs += [(start + i, j) for i, j in zip(rows.tolist(), columns.tolist()) if start + i < j]
    return pairs


def _similar_pairs(features: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i < j) whose feature vectors have a cosine similarity of at least SIMILAR_FEATURES."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True).clip(min=1e-12)
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(unit), CHUNK):
        rows, columns = np.nonzero(unit[start:start + CHUNK] @ unit.T >= SIMILAR_FEATURES)
        pairs += [(start + i, j) for i, j in zip(rows.tolist(), columns.tolist()) if start + i < j]
    return pairs


def _components(count: int, pairs: list[tuple[int, int]]) -> list[list[int]]:
    """The connected groups (two or more) of a graph given by its edges (union-find)."""
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in {i for pair in pairs for i in pair}:
        groups.setdefault(root(i), []).append(i)
    return [sorted(members) for members in groups.values() if len(members) > 1]


def _group(images: list[Listed], members: list[int], kind: Literal["exact", "near"]) -> DuplicateGroup:
    chosen = [images[i] for i in members]
    return DuplicateGroup([image.name for image in chosen], [image.label for image in chosen], kind,
                          len({image.split for image in chosen}) > 1)
