"""Decoding many image files with every core: chunks of files decoded in worker processes.

On small images (CIFAR's 32x32 JPEGs) most of each file's time is Python around Pillow (opening,
EXIF, conversion), which holds the GIL, so threads decode no faster than one; processes do. On
Linux the workers are forked, as DataLoader's are: they start at once and run nothing but Pillow
and numpy (a spawned worker would run the caller's script again, which a script without a
`__main__` guard or a notebook cannot take); elsewhere they are spawned. Each chunk comes back as
one uint8 array, the same pixels as `loading.sample_tensor`'s.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from core.data.images import UnreadableImage, fit_size, open_image

PROCESS_MIN_FILES = 4096  # fewer files: threads, as starting the workers would cost more than they save
CHUNK_FILES = 512  # files per task

Chunk = tuple[int, np.ndarray, list[tuple[int, str]]]  # first index, uint8 N x C x H x W, (index in it, reason)


def worker_count() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def decode_files(paths: Sequence[Path], image_size: tuple[int, int], channels: int,
                 resize: int | tuple[int, int] | None) -> Iterator[Chunk]:
    """Every file decoded and fitted to image_size, a chunk at a time in order, with its unreadable files."""
    starts = range(0, len(paths), CHUNK_FILES)
    start_method = "fork" if sys.platform == "linux" else "spawn"
    pool = ProcessPoolExecutor(min(worker_count(), len(starts)), mp_context=multiprocessing.get_context(start_method))
    try:
        chunks = [pool.submit(decode_chunk, list(paths[start:start + CHUNK_FILES]), image_size, channels, resize)
                  for start in starts]
        for start, chunk in zip(starts, chunks):
            pixels, unreadable = chunk.result()
            yield start, pixels, unreadable
    finally:
        pool.shutdown(cancel_futures=True)  # a caller that stops early (on_error: fail) waits for no more


def decode_chunk(paths: list[Path], image_size: tuple[int, int], channels: int,
                 resize: int | tuple[int, int] | None) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """In a worker: the files as uint8 N x C x H x W (zeros where unreadable), and (index, reason) of those."""
    height, width = image_size
    images = np.zeros((len(paths), channels, height, width), dtype=np.uint8)
    unreadable = []
    for index, path in enumerate(paths):
        try:
            pixels = np.asarray(fit_size(open_image(path, channels), image_size, resize))
        except UnreadableImage as exc:
            unreadable.append((index, exc.reason))
            continue
        images[index] = pixels.reshape(height, width, channels).transpose(2, 0, 1)
    return images, unreadable
